/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key chains: one per (communicator, suite, sender). Every sender has its
 * own chain, so usage limits count one key's real use and nonces
 * (sender || seq) never collide:
 *
 *   base      = HKDF(job key, job id, "esmpi comm" || ctx || suite)
 *   chain_0   = HKDF(base, -, "esmpi sender" || sender world rank)
 *   chain_e+1 = HKDF(chain_e, -, "esmpi rekey")        one-way ratchet
 *   aead_e    = HKDF(chain_e, -, "esmpi aead")         key_len bytes
 *
 * The epoch travels in the record header, so a receiver follows a sender
 * forward on its own: no stop-the-world. A receiver keeps the chain keys
 * of a sender's last ESMPI_EPOCH_WINDOW epochs (MPI may complete a
 * message after later ones of other tags); older ones are wiped and their
 * records refused. A forward step is tried on a copy and kept only once a
 * record authenticates under it, so a forged epoch cannot push a receiver
 * off its peer's chain. Chain keys live in esmpi_secure_calloc memory
 * (secmem.c: not in core dumps).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "esmpi_bytes.h"
#include "comm/comm.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"


static int
base_key(struct esmpi_comm *c, int suite, uint8_t out[32])
{
	uint8_t info[10 + 8 + 1];
	int i;

	memcpy(info, "esmpi comm", 10);
	for (i = 0; i < 8; i++)
		info[10 + i] = (uint8_t)(c->ctx >> (56 - 8 * i));
	info[18] = (uint8_t)suite;
	/* A communicator with another job's processes: the link's key. */
	if (c->link != NULL)
		return esmpi_hkdf_sha256(out, 32, c->link->id,
		    sizeof(c->link->id), c->link->key, 32, info, sizeof(info));
	return esmpi_hkdf_sha256(out, 32, esmpi.job_id, sizeof(esmpi.job_id),
	    esmpi.job_key, 32, info, sizeof(info));
}

static int
chain_start(struct esmpi_comm *c, int suite, uint32_t sender, uint8_t out[32])
{
	uint8_t base[32], info[12 + 4];
	int r;

	if ((r = base_key(c, suite, base)) != 0)
		return r;
	memcpy(info, "esmpi sender", 12);
	esmpi_put_be32(info + 12, c->link ? esmpi_link_id(c->link, sender) :
	    sender);
	r = esmpi_hkdf_sha256(out, 32, NULL, 0, base, 32, info, sizeof(info));
	esmpi_memzero(base, sizeof(base));
	return r;
}

int
esmpi_chain_next(uint8_t chain[32])
{
	uint8_t next[32];
	int r;

	r = esmpi_hkdf_sha256(next, 32, NULL, 0, chain, 32,
	    (const uint8_t *)"esmpi rekey", 11);
	memcpy(chain, next, 32);
	esmpi_memzero(next, sizeof(next));
	return r;
}

int
esmpi_chain_aead(const uint8_t chain[32], int suite, struct esmpi_aead **out)
{
	const struct esmpi_suite_info *si = esmpi_suite_by_id(suite);
	uint8_t key[ESMPI_AEAD_MAX_KEY_LEN];
	int r;

	if (si == NULL || si->key_len == 0)
		return ESMPI_ERR_SUITE;
	if ((r = esmpi_hkdf_sha256(key, si->key_len, NULL, 0, chain, 32,
	    (const uint8_t *)"esmpi aead", 10)) == 0)
		r = esmpi_aead_new(out, suite, key, si->key_len);
	esmpi_memzero(key, sizeof(key));
	return r;
}

void
esmpi_chain_clear(struct esmpi_chain *k)
{
	esmpi_aead_free(k->aead);
	esmpi_secure_free(k->ring, ESMPI_EPOCH_WINDOW * 32);
	esmpi_memzero(k, sizeof(*k));
}

/* Whether the sender's key must move on before sealing len more bytes. */
static int
limit_reached(const struct esmpi_chain *k, const struct esmpi_pol_settings *s,
    size_t len, uint64_t now, const char **why)
{
	if (k->gen != (unsigned)atomic_load(&esmpi.rekey_gen)) {
		*why = "requested by esmpictl rotate";
		return 1;
	}
	if (s->rekey.messages && k->msgs + 1 > s->rekey.messages) {
		*why = "message limit";
		return 1;
	}
	if (s->rekey.bytes && k->bytes + len > s->rekey.bytes && k->msgs > 0) {
		*why = "byte limit";
		return 1;
	}
	if (s->rekey.seconds && now - k->since >= s->rekey.seconds) {
		*why = "time limit";
		return 1;
	}
	return 0;
}

struct esmpi_aead *
esmpi_key_send(struct esmpi_comm *c, const struct esmpi_pol_settings *s,
    size_t len, uint32_t *epoch, const char **rekeyed)
{
	struct esmpi_chain *k;
	uint64_t now = esmpi_now_coarse();
	const char *why = NULL;

	*rekeyed = NULL;
	if (s->suite <= 0 || s->suite >= ESMPI_NSUITES)
		return NULL;
	k = &c->send[s->suite];
	if (k->aead == NULL) {
		if (chain_start(c, s->suite, c->my_world, k->chain) != 0 ||
		    esmpi_chain_aead(k->chain, s->suite, &k->aead) != 0)
			return NULL;
		k->since = now;
		k->gen = (unsigned)atomic_load(&esmpi.rekey_gen);
	} else if (limit_reached(k, s, len, now, &why)) {
		struct esmpi_aead *n = NULL;

		if (k->epoch == UINT32_MAX || esmpi_chain_next(k->chain) != 0 ||
		    esmpi_chain_aead(k->chain, s->suite, &n) != 0)
			return NULL;
		esmpi_aead_free(k->aead);	/* wipes the old schedule */
		k->aead = n;
		k->epoch++;
		k->msgs = k->bytes = 0;
		k->since = now;
		k->gen = (unsigned)atomic_load(&esmpi.rekey_gen);
		*rekeyed = why;
	}
	k->msgs++;
	k->bytes += len;
	*epoch = k->epoch;
	return k->aead;
}

/* The slot of (peer, suite) in the open-addressed table: its own, or the
 * free one it would take. */
static size_t
slot_of(const struct esmpi_comm *c, int peer, int suite)
{
	size_t h = ((size_t)peer * 7u + (size_t)suite) % c->cappeerkeys;

	while (c->peerkeys[h].used && (c->peerkeys[h].peer != peer ||
	    c->peerkeys[h].suite != suite))
		h = (h + 1) % c->cappeerkeys;
	return h;
}

struct esmpi_chain *
esmpi_key_recv_chain(struct esmpi_comm *c, int peer, int suite)
{
	size_t h;

	if (c->cappeerkeys == 0)
		return NULL;
	h = slot_of(c, peer, suite);
	return c->peerkeys[h].used ? &c->peerkeys[h].k : NULL;
}

/* The receive chain of (peer, suite), created at epoch 0 on first use. */
static struct esmpi_chain *
recv_chain(struct esmpi_comm *c, int peer, int suite)
{
	size_t i, h;

	if (c->npeerkeys * 2 >= c->cappeerkeys) {
		size_t ncap = c->cappeerkeys ? c->cappeerkeys * 2 : 16;
		struct esmpi_peerkey *n = esmpi_secure_calloc(ncap *
		    sizeof(*n));

		if (n == NULL)
			return NULL;
		for (i = 0; i < c->cappeerkeys; i++) {
			if (!c->peerkeys[i].used)
				continue;
			h = ((size_t)c->peerkeys[i].peer * 7u +
			    (size_t)c->peerkeys[i].suite) % ncap;
			while (n[h].used)
				h = (h + 1) % ncap;
			n[h] = c->peerkeys[i];
		}
		esmpi_secure_free(c->peerkeys, c->cappeerkeys * sizeof(*n));
		c->peerkeys = n;
		c->cappeerkeys = ncap;
	}
	h = slot_of(c, peer, suite);
	if (c->peerkeys[h].used)
		return &c->peerkeys[h].k;
	if ((c->peerkeys[h].k.ring = esmpi_secure_calloc(ESMPI_EPOCH_WINDOW *
	    32)) == NULL ||
	    chain_start(c, suite, c->peer_world[peer],
	    c->peerkeys[h].k.chain) != 0 ||
	    esmpi_chain_aead(c->peerkeys[h].k.chain, suite,
	    &c->peerkeys[h].k.aead) != 0) {
		esmpi_chain_clear(&c->peerkeys[h].k);
		return NULL;
	}
	memcpy(c->peerkeys[h].k.ring[0], c->peerkeys[h].k.chain, 32);
	c->peerkeys[h].used = 1;
	c->peerkeys[h].peer = peer;
	c->peerkeys[h].suite = suite;
	c->npeerkeys++;
	return &c->peerkeys[h].k;
}

int
esmpi_key_recv(struct esmpi_comm *c, int peer, int suite, uint32_t epoch,
    struct esmpi_keytry *t)
{
	struct esmpi_chain *k;
	uint32_t i;

	t->aead = t->fresh = NULL;
	t->steps = NULL;
	t->nsteps = 0;
	if (suite <= 0 || suite >= ESMPI_NSUITES)
		return ESMPI_ERR_SUITE;
	if ((k = recv_chain(c, peer, suite)) == NULL)
		return ESMPI_ERR_NOMEM;
	t->k = k;
	if (epoch == k->epoch) {
		t->aead = k->aead;
		return 0;
	}
	if (epoch < k->epoch) {
		/* A straggler: its chain key is in the window, or wiped. */
		if (k->epoch - epoch >= ESMPI_EPOCH_WINDOW)
			return ESMPI_ERR_REPLAY;
		if (esmpi_chain_aead(k->ring[epoch % ESMPI_EPOCH_WINDOW], suite,
		    &t->fresh) != 0)
			return ESMPI_ERR_CRYPTO;
		t->aead = t->fresh;
		return 0;
	}
	if (epoch - k->epoch >= ESMPI_EPOCH_WINDOW)
		return ESMPI_ERR_AUTH;
	/* Forward: derive on the side; esmpi_key_commit() keeps it. */
	if ((t->steps = esmpi_secure_calloc((size_t)(epoch - k->epoch) *
	    32)) == NULL)
		return ESMPI_ERR_NOMEM;
	t->nsteps = epoch - k->epoch;
	memcpy(t->steps[0], k->chain, 32);
	if (esmpi_chain_next(t->steps[0]) != 0)
		goto fail;
	for (i = 1; i < t->nsteps; i++) {
		memcpy(t->steps[i], t->steps[i - 1], 32);
		if (esmpi_chain_next(t->steps[i]) != 0)
			goto fail;
	}
	if (esmpi_chain_aead(t->steps[t->nsteps - 1], suite, &t->fresh) != 0)
		goto fail;
	t->aead = t->fresh;
	return 0;
fail:
	esmpi_key_drop(t);
	return ESMPI_ERR_CRYPTO;
}

void
esmpi_key_commit(struct esmpi_keytry *t)
{
	struct esmpi_chain *k = t->k;
	uint32_t i;

	if (t->nsteps == 0) {
		if (t->fresh != NULL)
			esmpi_key_drop(t);	/* a straggler's key: used once */
		return;
	}
	for (i = 0; i < t->nsteps; i++)
		memcpy(k->ring[(k->epoch + 1 + i) % ESMPI_EPOCH_WINDOW],
		    t->steps[i], 32);
	k->epoch += t->nsteps;
	memcpy(k->chain, t->steps[t->nsteps - 1], 32);
	esmpi_aead_free(k->aead);
	k->aead = t->fresh;
	t->fresh = NULL;
	esmpi_secure_free(t->steps, (size_t)t->nsteps * 32);
	t->steps = NULL;
	t->nsteps = 0;
}

void
esmpi_key_drop(struct esmpi_keytry *t)
{
	esmpi_aead_free(t->fresh);
	t->fresh = NULL;
	esmpi_secure_free(t->steps, (size_t)t->nsteps * 32);
	t->steps = NULL;
	t->nsteps = 0;
}

void
esmpi_keys_free(struct esmpi_comm *c)
{
	size_t i;
	int s;

	for (s = 0; s < ESMPI_NSUITES; s++)
		esmpi_chain_clear(&c->send[s]);
	for (i = 0; i < c->cappeerkeys; i++)
		if (c->peerkeys[i].used)
			esmpi_chain_clear(&c->peerkeys[i].k);
	esmpi_secure_free(c->peerkeys, c->cappeerkeys * sizeof(*c->peerkeys));
	c->peerkeys = NULL;
	c->cappeerkeys = c->npeerkeys = 0;
}

/* ESMPI_TEST_KEYMEM=1, at MPI_Finalize: where c's chains are. */
void
esmpi_keys_report(const struct esmpi_comm *c)
{
	size_t i;

	if (c == NULL)
		return;
	esmpi_secure_report("send chains (communicator state)", c->send);
	esmpi_secure_report("receive chains", c->peerkeys);
	for (i = 0; i < c->cappeerkeys; i++)
		if (c->peerkeys[i].used) {
			esmpi_secure_report("receive chain ring",
			    c->peerkeys[i].k.ring);
			break;
		}
}
