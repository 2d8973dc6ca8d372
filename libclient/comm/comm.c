/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-communicator state: context id, keys, replay windows, the world rank
 * of every peer, the policy rules that apply to the communicator's name.
 * Kept as an MPI attribute so the lookup follows the handle; freed (and
 * wiped) by the attribute's delete callback when the communicator goes.
 *
 * Context ids need no communication where MPI already orders the call:
 * creation calls are collective over the parent, so every member derives
 * the child from (parent id, parent's creation count). Comm_create_group
 * and Intercomm_create are not collective over one parent: they draw a
 * nonce and share it on the new communicator.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "comm/comm.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"

/*
 * The last state each thread looked up, valid while no state was freed
 * since: a freed communicator's handle may come back for a new one.
 * Spares the attribute look-up on every message. Initial-exec: 24 bytes
 * of static TLS, reached without a __tls_get_addr call.
 */
static atomic_uint_fast64_t comm_gen = 1;
static __thread struct {
	MPI_Comm comm;
	struct esmpi_comm *c;
	uint64_t gen;
} last_comm __attribute__((tls_model("initial-exec")));

/* Off the list of live states; its handle may name another one next. */
static void
comm_state_detach(struct esmpi_comm *c)
{
	atomic_fetch_add(&comm_gen, 1);
	pthread_mutex_lock(&esmpi.comms_lock);
	if (c->prev)
		c->prev->next = c->next;
	else if (esmpi.comms == c)
		esmpi.comms = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	c->detached = 1;
	pthread_mutex_unlock(&esmpi.comms_lock);
}

static void
comm_state_wipe(struct esmpi_comm *c)
{
	if (c->stash_clear != NULL)
		c->stash_clear(c);
	esmpi_keys_free(c);
	free(c->peer_world);
	free(c->rules);
	esmpi_freezero(c->replay, c->capreplay * sizeof(*c->replay));
	pthread_mutex_destroy(&c->lock);
	esmpi_secure_free(c, sizeof(*c));
}

/*
 * MPI_Comm_free (or Finalize) drops the attribute's reference. Requests
 * started before it still complete on this state (MPI lets them), so
 * they hold their own: the keys are wiped when the last one goes.
 */
static void
comm_state_free(struct esmpi_comm *c)
{
	comm_state_detach(c);
	esmpi_comm_release(c);
}

/* refs += d, returning the new count (no locked instruction below
 * MPI_THREAD_MULTIPLE, as esmpi_count). */
static int
comm_refs_add(struct esmpi_comm *c, int d)
{
	int n;

	if (esmpi.threads_multi)
		return atomic_fetch_add(&c->refs, d) + d;
	n = atomic_load_explicit(&c->refs, memory_order_relaxed) + d;
	atomic_store_explicit(&c->refs, n, memory_order_relaxed);
	return n;
}

void
esmpi_comm_hold(struct esmpi_comm *c)
{
	(void)comm_refs_add(c, 1);
}

void
esmpi_comm_release(struct esmpi_comm *c)
{
	if (c != NULL && comm_refs_add(c, -1) == 0)
		comm_state_wipe(c);
}

static int
delete_attr(MPI_Comm comm, int keyval, void *val, void *extra)
{
	comm_state_free(val);
	return MPI_SUCCESS;
}

int
esmpi_comm_keyval_init(void)
{
	return PMPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, delete_attr,
	    &esmpi.keyval, NULL) == MPI_SUCCESS ? 0 : ESMPI_ERR_INTERNAL;
}

void
esmpi_comm_free_all(void)
{
	/* Detach from the predefined communicators; the rest is wiped too,
	 * since applications often never free theirs. */
	PMPI_Comm_delete_attr(MPI_COMM_WORLD, esmpi.keyval);
	PMPI_Comm_delete_attr(MPI_COMM_SELF, esmpi.keyval);
	while (esmpi.comms != NULL) {
		struct esmpi_comm *c = esmpi.comms;

		PMPI_Comm_delete_attr(c->comm, esmpi.keyval);
		if (esmpi.comms == c)	/* attribute already gone */
			comm_state_free(c);
	}
	PMPI_Comm_free_keyval(&esmpi.keyval);
}

/* Rules whose communicator glob matches the current name, in order. */
static int
comm_match_rules(struct esmpi_comm *c)
{
	size_t i, n = 0, *idx;

	if ((idx = calloc(esmpi.nrules + 1, sizeof(*idx))) == NULL)
		return ESMPI_ERR_NOMEM;
	for (i = 0; i < esmpi.nrules; i++)
		if (esmpi.rules[i].comm == NULL ||
		    fnmatch(esmpi.rules[i].comm, c->name, 0) == 0)
			idx[n++] = i;
	free(c->rules);
	c->rules = idx;
	c->nrules = n;
	return 0;
}

/*
 * World ranks of comm's members (remote group for an intercommunicator).
 * Another job's processes are named through a link (link.c): their world
 * rank there | ESMPI_LINK_FOREIGN, and *link is set; ESMPI_ERR_DENIED
 * when no link knows them all.
 */
static int
translate(MPI_Comm comm, int remote, int n, uint32_t *out,
    struct esmpi_link **link)
{
	MPI_Group g, wg;
	int *in, *ranks, *lr = NULL, i, rc, foreign = 0, r = 0;

	*link = NULL;
	if ((in = calloc(n, sizeof(int))) == NULL ||
	    (ranks = calloc(n, sizeof(int))) == NULL) {
		free(in);
		return ESMPI_ERR_NOMEM;
	}
	for (i = 0; i < n; i++)
		in[i] = i;
	rc = remote ? PMPI_Comm_remote_group(comm, &g) :
	    PMPI_Comm_group(comm, &g);
	PMPI_Comm_group(MPI_COMM_WORLD, &wg);
	if (rc == MPI_SUCCESS)
		rc = PMPI_Group_translate_ranks(g, n, in, wg, ranks);
	for (i = 0; i < n; i++) {
		out[i] = (uint32_t)ranks[i];
		if (ranks[i] == MPI_UNDEFINED) {
			foreign = 1;
		} else
			in[i] = -1;	/* ours: not looked up in links */
	}
	if (rc == MPI_SUCCESS && foreign) {
		if ((lr = calloc(n, sizeof(int))) == NULL)
			r = ESMPI_ERR_NOMEM;
		else if ((*link = esmpi_link_find(g, n, in, lr)) == NULL)
			r = ESMPI_ERR_DENIED;
		for (i = 0; r == 0 && i < n; i++)
			if (in[i] >= 0)
				out[i] = (*link)->remote_world[lr[i]] |
				    ESMPI_LINK_FOREIGN;
	}
	PMPI_Group_free(&g);
	PMPI_Group_free(&wg);
	free(in);
	free(ranks);
	free(lr);
	return rc != MPI_SUCCESS ? ESMPI_ERR_INTERNAL : r;
}

int
esmpi_comm_foreign(MPI_Comm comm)
{
	MPI_Group g, wg;
	int inter = 0, n = 0, i, *in, *out, foreign = 0;

	PMPI_Comm_test_inter(comm, &inter);
	if ((inter ? PMPI_Comm_remote_group(comm, &g) :
	    PMPI_Comm_group(comm, &g)) != MPI_SUCCESS)
		return 0;
	PMPI_Group_size(g, &n);
	PMPI_Comm_group(MPI_COMM_WORLD, &wg);
	in = calloc(n ? n : 1, sizeof(int));
	out = calloc(n ? n : 1, sizeof(int));
	if (in != NULL && out != NULL) {
		for (i = 0; i < n; i++)
			in[i] = i;
		if (PMPI_Group_translate_ranks(g, n, in, wg, out) ==
		    MPI_SUCCESS)
			for (i = 0; i < n; i++)
				foreign |= out[i] == MPI_UNDEFINED;
	}
	free(in);
	free(out);
	PMPI_Group_free(&g);
	PMPI_Group_free(&wg);
	return foreign;
}

int
esmpi_comm_attach(MPI_Comm comm, uint64_t ctx)
{
	struct esmpi_comm *c;
	int len = 0, npeers, r;

	/* It holds the send chains: key memory (secmem.c). */
	if ((c = esmpi_secure_calloc(sizeof(*c))) == NULL)
		return ESMPI_ERR_NOMEM;
	pthread_mutex_init(&c->lock, NULL);
	atomic_init(&c->refs, 1);
	c->comm = comm;
	c->ctx = ctx;
	c->my_world = (uint32_t)esmpi.world_rank;
	PMPI_Comm_test_inter(comm, &c->is_inter);
	PMPI_Comm_rank(comm, &c->rank);
	PMPI_Comm_size(comm, &c->size);
	c->remote_size = c->size;
	if (c->is_inter)
		PMPI_Comm_remote_size(comm, &c->remote_size);
	npeers = c->remote_size;
	PMPI_Comm_get_name(comm, c->name, &len);
	if ((c->peer_world = calloc(npeers, sizeof(uint32_t))) == NULL) {
		r = ESMPI_ERR_NOMEM;
		goto fail;
	}
	if ((r = translate(comm, c->is_inter, npeers, c->peer_world,
	    &c->link)) != 0 || (r = comm_match_rules(c)) != 0)
		goto fail;
	pthread_mutex_lock(&esmpi.comms_lock);
	c->next = esmpi.comms;
	if (esmpi.comms)
		esmpi.comms->prev = c;
	esmpi.comms = c;
	pthread_mutex_unlock(&esmpi.comms_lock);
	if (PMPI_Comm_set_attr(comm, esmpi.keyval, c) != MPI_SUCCESS) {
		comm_state_free(c);
		return ESMPI_ERR_INTERNAL;
	}
	return 0;
fail:
	free(c->peer_world);
	free(c->rules);
	pthread_mutex_destroy(&c->lock);
	esmpi_secure_free(c, sizeof(*c));
	return r;
}

static struct esmpi_comm *
comm_lookup(MPI_Comm comm, uint64_t gen)
{
	void *val = NULL;
	int flag = 0;

	if (comm == MPI_COMM_NULL ||
	    PMPI_Comm_get_attr(comm, esmpi.keyval, &val, &flag) !=
	    MPI_SUCCESS || !flag)
		return NULL;
	last_comm.comm = comm;
	last_comm.c = val;
	last_comm.gen = gen;
	return val;
}

struct esmpi_comm *
esmpi_comm_get(MPI_Comm comm)
{
	uint64_t gen = atomic_load(&comm_gen);

	if (last_comm.comm == comm && last_comm.gen == gen)
		return last_comm.c;
	return comm_lookup(comm, gen);
}

uint64_t
esmpi_comm_ctx_hash(const void *data, size_t len)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	uint64_t v = 0;
	int i;

	SHA256(data, len, md);
	for (i = 0; i < 8; i++)
		v = v << 8 | md[i];
	return v < 2 ? v + 2 : v;	/* 0 and 1 are WORLD and SELF */
}

uint64_t
esmpi_comm_child_ctx(struct esmpi_comm *parent, const char *kind)
{
	struct {
		uint64_t parent, seq;
		char kind[16];
	} in;

	memset(&in, 0, sizeof(in));
	in.parent = parent->ctx;
	pthread_mutex_lock(&parent->lock);
	in.seq = parent->child_seq++;
	pthread_mutex_unlock(&parent->lock);
	strncpy(in.kind, kind, sizeof(in.kind) - 1);
	return esmpi_comm_ctx_hash(&in, sizeof(in));
}

const struct esmpi_pol_settings *
esmpi_comm_settings(const struct esmpi_comm *c, int tag)
{
	size_t i, j;

	for (i = 0; i < c->nrules; i++) {
		const struct esmpi_pol_rule *r = &esmpi.rules[c->rules[i]];

		if (r->ntags == 0)
			return &r->set;
		for (j = 0; j < r->ntags; j++)
			if (tag >= r->tags[j].lo && tag <= r->tags[j].hi)
				return &r->set;
	}
	return &esmpi.defaults;
}

/* Caller holds c->lock. The window of (peer, tag), created on first use. */
struct esmpi_replay_slot *
esmpi_comm_replay(struct esmpi_comm *c, int peer, int tag)
{
	size_t i, h;

	if (c->nreplay * 2 >= c->capreplay) {
		size_t ncap = c->capreplay ? c->capreplay * 2 : 16;
		struct esmpi_replay_slot *n = calloc(ncap, sizeof(*n));

		if (n == NULL)
			return NULL;
		for (i = 0; i < c->capreplay; i++) {
			struct esmpi_replay_slot *s = &c->replay[i];

			if (!s->used)
				continue;
			h = ((size_t)s->peer * 31u + (size_t)s->tag) % ncap;
			while (n[h].used)
				h = (h + 1) % ncap;
			n[h] = *s;
		}
		esmpi_freezero(c->replay, c->capreplay * sizeof(*c->replay));
		c->replay = n;
		c->capreplay = ncap;
	}
	h = ((size_t)peer * 31u + (size_t)tag) % c->capreplay;
	while (c->replay[h].used) {
		if (c->replay[h].peer == peer && c->replay[h].tag == tag)
			return &c->replay[h];
		h = (h + 1) % c->capreplay;
	}
	memset(&c->replay[h], 0, sizeof(c->replay[h]));
	c->replay[h].used = 1;
	c->replay[h].peer = peer;
	c->replay[h].tag = tag;
	c->nreplay++;
	return &c->replay[h];
}

uint64_t
esmpi_recv_ticket(void)
{
	/* Threads may post in another order than they take tickets. */
	if (esmpi.threads_multi)
		return 0;
	return esmpi_count(&esmpi.recv_ticket) + 1;
}

void
esmpi_comm_rename(struct esmpi_comm *c, const char *name)
{
	pthread_mutex_lock(&c->lock);
	snprintf(c->name, sizeof(c->name), "%s", name);
	(void)comm_match_rules(c);
	pthread_mutex_unlock(&c->lock);
}

void
esmpi_rec_aad_fill(struct esmpi_rec_aad *a, const struct esmpi_comm *c,
    uint32_t src, uint32_t dst, int tag, uint64_t coll_seq)
{
	if (c->link != NULL) {
		memcpy(a->job, c->link->id, sizeof(a->job));
		src = esmpi_link_id(c->link, src);
		dst = esmpi_link_id(c->link, dst);
	} else
		memcpy(a->job, esmpi.job_id, sizeof(a->job));
	a->src = src;
	a->dst = dst;
	a->comm = c->ctx;
	a->tag = tag;
	a->coll_seq = coll_seq;
}
