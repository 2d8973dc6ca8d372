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

#include "esmpi_client.h"
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
	esmpi_stash_clear(c);
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

static int
translate(MPI_Comm comm, int remote, int n, uint32_t *out)
{
	MPI_Group g, wg;
	int *in, *ranks, i, rc;

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
	for (i = 0; i < n; i++)
		out[i] = (uint32_t)ranks[i];
	PMPI_Group_free(&g);
	PMPI_Group_free(&wg);
	free(in);
	free(ranks);
	return rc == MPI_SUCCESS ? 0 : ESMPI_ERR_INTERNAL;
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
	if ((r = translate(comm, c->is_inter, npeers, c->peer_world)) != 0 ||
	    (r = comm_match_rules(c)) != 0)
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

static uint64_t
hash_ctx(const void *data, size_t len)
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
	return hash_ctx(&in, sizeof(in));
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

/* ---- communicator constructors ---- */

/* Attach the derived state, or fail closed: a communicator we hold no key
 * for would have to run in plaintext. */
int
esmpi_comm_adopt(MPI_Comm parent, MPI_Comm made, uint64_t ctx)
{
	int r;

	if (made == MPI_COMM_NULL)
		return MPI_SUCCESS;
	if ((r = esmpi_comm_attach(made, ctx)) != 0)
		return esmpi_fail(parent, esmpi.err_internal,
		    "cannot key a new communicator: %s", esmpi_strerror(r));
	return MPI_SUCCESS;
}

static int
adopt(MPI_Comm parent, MPI_Comm *newcomm, uint64_t ctx, int rc)
{
	if (rc != MPI_SUCCESS || newcomm == NULL)
		return rc;
	return esmpi_comm_adopt(parent, *newcomm, ctx);
}

/* Derive before calling MPI: members that get MPI_COMM_NULL still count
 * the creation, so every member's counter stays in step. */
#define DERIVED(parent, kind, call) do {				\
	struct esmpi_comm *p_ = esmpi.active ? esmpi_comm_get(parent) : NULL; \
	uint64_t ctx_ = 0;						\
	int rc_;							\
	if (esmpi.failed)						\
		return esmpi.err_init;					\
	if (p_ != NULL)							\
		ctx_ = esmpi_comm_child_ctx(p_, kind);			\
	rc_ = (call);							\
	if (p_ == NULL)							\
		return rc_;						\
	return adopt(parent, newcomm, ctx_, rc_);			\
} while (0)

ESMPI_EXPORT int
MPI_Comm_dup(MPI_Comm comm, MPI_Comm *newcomm)
{
	DERIVED(comm, "dup", PMPI_Comm_dup(comm, newcomm));
}

/*
 * The context is derived when the duplication starts (nonblocking
 * collectives start in the same order on every rank, so the parent's
 * counter stays in step); the keys are attached when it completes, to
 * the handle Open MPI hands out at the start, which the application may
 * not use before.
 */
ESMPI_EXPORT int
MPI_Comm_idup(MPI_Comm comm, MPI_Comm *newcomm, MPI_Request *req)
{
	struct esmpi_comm *p = esmpi.active ? esmpi_comm_get(comm) : NULL;
	struct esmpi_req *r;
	int rc, flag = 0;

	if (esmpi.failed)
		return esmpi.err_init;
	if (p == NULL)
		return PMPI_Comm_idup(comm, newcomm, req);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	r->kind = REQ_IDUP;
	r->comm = comm;
	r->made_ctx = esmpi_comm_child_ctx(p, "dup");
	if ((rc = PMPI_Comm_idup(comm, newcomm, req)) != MPI_SUCCESS) {
		free(r);
		return rc;
	}
	r->made = *newcomm;
	r->handle = *req;
	r->active = 1;
	if (PMPI_Request_get_status(*req, &flag, MPI_STATUS_IGNORE) ==
	    MPI_SUCCESS && flag)
		goto now;	/* complete already: nothing to track */
	if (esmpi_req_add(r) == 0)
		return MPI_SUCCESS;
	/* Cannot track it: complete it here rather than leave the new
	 * communicator without keys. */
	PMPI_Wait(req, MPI_STATUS_IGNORE);
now:
	rc = esmpi_comm_adopt(comm, r->made, r->made_ctx);
	free(r);
	return rc;
}

ESMPI_EXPORT int
MPI_Comm_dup_with_info(MPI_Comm comm, MPI_Info info, MPI_Comm *newcomm)
{
	DERIVED(comm, "dup", PMPI_Comm_dup_with_info(comm, info, newcomm));
}

ESMPI_EXPORT int
MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm *newcomm)
{
	DERIVED(comm, "split", PMPI_Comm_split(comm, color, key, newcomm));
}

ESMPI_EXPORT int
MPI_Comm_split_type(MPI_Comm comm, int type, int key, MPI_Info info,
    MPI_Comm *newcomm)
{
	DERIVED(comm, "split_type",
	    PMPI_Comm_split_type(comm, type, key, info, newcomm));
}

ESMPI_EXPORT int
MPI_Comm_create(MPI_Comm comm, MPI_Group group, MPI_Comm *newcomm)
{
	DERIVED(comm, "create", PMPI_Comm_create(comm, group, newcomm));
}

ESMPI_EXPORT int
MPI_Intercomm_merge(MPI_Comm intercomm, int high, MPI_Comm *newcomm)
{
	DERIVED(intercomm, "merge",
	    PMPI_Intercomm_merge(intercomm, high, newcomm));
}

ESMPI_EXPORT int
MPI_Cart_create(MPI_Comm comm, int ndims, const int dims[],
    const int periods[], int reorder, MPI_Comm *newcomm)
{
	DERIVED(comm, "cart",
	    PMPI_Cart_create(comm, ndims, dims, periods, reorder, newcomm));
}

ESMPI_EXPORT int
MPI_Cart_sub(MPI_Comm comm, const int remain_dims[], MPI_Comm *newcomm)
{
	DERIVED(comm, "cart_sub", PMPI_Cart_sub(comm, remain_dims, newcomm));
}

ESMPI_EXPORT int
MPI_Graph_create(MPI_Comm comm, int nnodes, const int index[],
    const int edges[], int reorder, MPI_Comm *newcomm)
{
	DERIVED(comm, "graph",
	    PMPI_Graph_create(comm, nnodes, index, edges, reorder, newcomm));
}

ESMPI_EXPORT int
MPI_Dist_graph_create(MPI_Comm comm, int n, const int sources[],
    const int degrees[], const int destinations[], const int weights[],
    MPI_Info info, int reorder, MPI_Comm *newcomm)
{
	DERIVED(comm, "dist_graph", PMPI_Dist_graph_create(comm, n, sources,
	    degrees, destinations, weights, info, reorder, newcomm));
}

ESMPI_EXPORT int
MPI_Dist_graph_create_adjacent(MPI_Comm comm, int indegree,
    const int sources[], const int sourceweights[], int outdegree,
    const int destinations[], const int destweights[], MPI_Info info,
    int reorder, MPI_Comm *newcomm)
{
	DERIVED(comm, "dist_graph", PMPI_Dist_graph_create_adjacent(comm,
	    indegree, sources, sourceweights, outdegree, destinations,
	    destweights, info, reorder, newcomm));
}

/* A fresh context id shared over the new communicator itself. */
static int
adopt_shared_nonce(MPI_Comm parent, MPI_Comm *newcomm, int rc,
    const char *kind)
{
	struct { uint64_t parent, nonce; char kind[16]; } in;
	struct esmpi_comm *p = esmpi_comm_get(parent);

	if (rc != MPI_SUCCESS || *newcomm == MPI_COMM_NULL || p == NULL)
		return rc;
	memset(&in, 0, sizeof(in));
	in.parent = p->ctx;
	strncpy(in.kind, kind, sizeof(in.kind) - 1);
	if (esmpi_random(&in.nonce, sizeof(in.nonce)) != 0)
		return esmpi_fail(parent, esmpi.err_internal, "no randomness");
	PMPI_Bcast(&in.nonce, 1, MPI_UINT64_T, 0, *newcomm);
	return adopt(parent, newcomm, hash_ctx(&in, sizeof(in)), rc);
}

ESMPI_EXPORT int
MPI_Comm_create_group(MPI_Comm comm, MPI_Group group, int tag,
    MPI_Comm *newcomm)
{
	int rc;

	if (esmpi.failed)
		return esmpi.err_init;
	rc = PMPI_Comm_create_group(comm, group, tag, newcomm);
	if (!esmpi.active)
		return rc;
	return adopt_shared_nonce(comm, newcomm, rc, "group");
}

ESMPI_EXPORT int
MPI_Intercomm_create(MPI_Comm local_comm, int local_leader,
    MPI_Comm peer_comm, int remote_leader, int tag, MPI_Comm *newintercomm)
{
	struct { uint64_t lo, hi; char kind[16]; } in;
	uint64_t mine = 0, theirs = 0;
	int rc, lrank;

	if (esmpi.failed)
		return esmpi.err_init;
	rc = PMPI_Intercomm_create(local_comm, local_leader, peer_comm,
	    remote_leader, tag, newintercomm);
	if (!esmpi.active || rc != MPI_SUCCESS)
		return rc;
	/* Each group's leader draws a nonce; an intercommunicator allreduce
	 * gives each group the other's, a bcast its own. */
	PMPI_Comm_rank(local_comm, &lrank);
	if (lrank == local_leader && esmpi_random(&mine, sizeof(mine)) != 0)
		return esmpi_fail(local_comm, esmpi.err_internal,
		    "no randomness");
	PMPI_Bcast(&mine, 1, MPI_UINT64_T, local_leader, local_comm);
	{
		uint64_t contrib = lrank == local_leader ? mine : 0;

		PMPI_Allreduce(&contrib, &theirs, 1, MPI_UINT64_T, MPI_MAX,
		    *newintercomm);
	}
	memset(&in, 0, sizeof(in));
	in.lo = mine < theirs ? mine : theirs;
	in.hi = mine < theirs ? theirs : mine;
	strcpy(in.kind, "intercomm");
	return adopt(local_comm, newintercomm, hash_ctx(&in, sizeof(in)), rc);
}

ESMPI_EXPORT int
MPI_Comm_free(MPI_Comm *comm)
{
	/* The attribute's delete callback wipes our state. */
	return PMPI_Comm_free(comm);
}

ESMPI_EXPORT int
MPI_Comm_disconnect(MPI_Comm *comm)
{
	return PMPI_Comm_disconnect(comm);
}

ESMPI_EXPORT int
MPI_Comm_set_name(MPI_Comm comm, const char *name)
{
	struct esmpi_comm *c;
	int rc = PMPI_Comm_set_name(comm, name);

	if (rc != MPI_SUCCESS || !esmpi.active ||
	    (c = esmpi_comm_get(comm)) == NULL)
		return rc;
	/* The name picks the policy rules: both sides must rename alike,
	 * as MPI requires names to be set collectively for this to work. */
	pthread_mutex_lock(&c->lock);
	snprintf(c->name, sizeof(c->name), "%s", name);
	(void)comm_match_rules(c);
	pthread_mutex_unlock(&c->lock);
	return rc;
}
