/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libclient's layers below the MPI entry points, without mpirun: key
 * chains and epochs (comm/keys.c), the per-(peer, tag) replay windows
 * (comm/comm.c), the record pool (core/pool.c), chunk geometry and heads
 * (record/chunk.c). Two communicator states stand for two ranks of one
 * job: A (world rank 0) sends, B (world rank 1) receives. No MPI call is
 * made at run time.
 */
#include <stdlib.h>
#include <string.h>

#include "record/record.h"
#include "esmpi_err.h"

#include "check.h"

#define CTX 7

static uint32_t worlds[2] = { 0, 1 };

static struct esmpi_comm *
comm_new(int me)
{
	struct esmpi_comm *c = calloc(1, sizeof(*c));

	pthread_mutex_init(&c->lock, NULL);
	c->ctx = CTX;
	c->rank = me;
	c->size = c->remote_size = 2;
	c->my_world = (uint32_t)me;
	c->peer_world = worlds;
	return c;
}

static void
comm_free(struct esmpi_comm *c)
{
	esmpi_keys_free(c);
	free(c->replay);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* A record of n bytes from A to B on tag, sealed with A's sender key. */
struct rec {
	struct esmpi_rec_hdr h;
	uint8_t buf[ESMPI_REC_OVERHEAD + 64];
	const char *rekeyed;
};

static int
seal_one(struct esmpi_comm *a, const struct esmpi_pol_settings *s, int tag,
    uint64_t seq, struct rec *r)
{
	struct esmpi_rec_aad aad;
	struct esmpi_aead *k;
	uint8_t pt[64];

	memset(&r->h, 0, sizeof(r->h));
	memset(pt, (int)seq, sizeof(pt));
	r->h.version = ESMPI_REC_VERSION;
	r->h.suite = (uint8_t)s->suite;
	r->h.seq = seq;
	r->h.length = sizeof(pt);
	if ((k = esmpi_key_send(a, s, sizeof(pt), &r->h.epoch,
	    &r->rekeyed)) == NULL)
		return -1;
	esmpi_rec_aad_fill(&aad, a, 0, 1, tag, 0);
	return esmpi_rec_seal(k, &r->h, &aad, pt, sizeof(pt), r->buf);
}

/* B opens r as esmpi's record path does: key by epoch, commit on success. */
static int
open_one(struct esmpi_comm *b, int tag, const struct rec *r)
{
	struct esmpi_rec_aad aad;
	struct esmpi_rec_hdr h;
	struct esmpi_keytry kt;
	uint8_t out[64];
	int e;

	if ((e = esmpi_rec_parse_hdr(r->buf, sizeof(r->buf), &h)) != 0)
		return e;
	if ((e = esmpi_key_recv(b, 0, h.suite, h.epoch, &kt)) != 0)
		return e;
	esmpi_rec_aad_fill(&aad, b, 0, 1, tag, 0);
	e = esmpi_rec_open_hdr(kt.aead, &aad, r->buf, &h, out, sizeof(out));
	if (e == 0)
		esmpi_key_commit(&kt);
	else
		esmpi_key_drop(&kt);
	return e;
}

static void
test_chain_roundtrip(void)
{
	struct esmpi_comm *a = comm_new(0), *b = comm_new(1), *self = comm_new(1);
	struct esmpi_pol_settings s = { .suite = ESMPI_SUITE_AES_256_GCM };
	struct rec r;

	CHECK_INT_EQ(seal_one(a, &s, 5, 0, &r), 0);
	CHECK_INT_EQ(r.h.epoch, 0);
	CHECK(r.rekeyed == NULL);
	CHECK_INT_EQ(open_one(b, 5, &r), 0);
	/* Another tag is another AAD; B's own chain (sender 1) is not A's. */
	CHECK_INT_EQ(open_one(b, 6, &r), ESMPI_ERR_AUTH);
	r.buf[ESMPI_REC_HDR_LEN + 3] ^= 1;
	CHECK_INT_EQ(open_one(b, 5, &r), ESMPI_ERR_AUTH);
	/* A communicator of another context derives other keys. */
	self->ctx = CTX + 1;
	CHECK_INT_EQ(seal_one(a, &s, 5, 1, &r), 0);
	CHECK_INT_EQ(open_one(self, 5, &r), ESMPI_ERR_AUTH);
	comm_free(a);
	comm_free(b);
	comm_free(self);
}

/* A message limit moves the sender on; the receiver follows, and still
 * opens stragglers of the window's epochs. */
static void
test_epochs(void)
{
	struct esmpi_comm *a = comm_new(0), *b = comm_new(1);
	struct esmpi_pol_settings s = { .suite = ESMPI_SUITE_CHACHA20_POLY1305,
	    .rekey.messages = 3 };
	struct rec r, old;
	int i, rekeys = 0;

	for (i = 0; i < 12; i++) {
		CHECK_INT_EQ(seal_one(a, &s, 1, (uint64_t)i, &r), 0);
		CHECK_INT_EQ(r.h.epoch, i / 3);
		if (r.rekeyed != NULL) {
			rekeys++;
			CHECK_STR_CONTAINS(r.rekeyed, "message limit");
		}
		if (i == 1) {
			old = r;	/* held back: arrives late */
			continue;
		}
		CHECK_INT_EQ(open_one(b, 1, &r), 0);
	}
	CHECK_INT_EQ(rekeys, 3);
	CHECK_INT_EQ(esmpi_key_recv_chain(b, 0, s.suite)->epoch, 3);
	CHECK_INT_EQ(open_one(b, 1, &old), 0);
	CHECK_INT_EQ(esmpi_key_recv_chain(b, 0, s.suite)->epoch, 3);
	comm_free(a);
	comm_free(b);
}

/* Forward jumps are kept only once a record authenticates; epochs past
 * the window are refused either way. */
static void
test_forward_and_window(void)
{
	struct esmpi_comm *a = comm_new(0), *b = comm_new(1);
	struct esmpi_comm *fresh = comm_new(1);
	struct esmpi_pol_settings s = { .suite = ESMPI_SUITE_AES_128_GCM,
	    .rekey.messages = 1 };
	struct rec first, r, forged;
	uint32_t i;

	CHECK_INT_EQ(seal_one(a, &s, 2, 0, &first), 0);
	for (i = 1; i <= 5; i++)
		CHECK_INT_EQ(seal_one(a, &s, 2, i, &r), 0);
	CHECK_INT_EQ(r.h.epoch, 5);
	/* Tampered record of epoch 5: nothing moves. */
	forged = r;
	forged.buf[ESMPI_REC_HDR_LEN] ^= 0x80;
	CHECK_INT_EQ(open_one(b, 2, &forged), ESMPI_ERR_AUTH);
	CHECK(esmpi_key_recv_chain(b, 0, s.suite)->epoch == 0);
	CHECK_INT_EQ(open_one(b, 2, &r), 0);
	CHECK(esmpi_key_recv_chain(b, 0, s.suite)->epoch == 5);
	/* Followed step by step, the receiver leaves epoch 0 behind: a
	 * record of it is past the window. */
	for (i = 6; i < 6 + ESMPI_EPOCH_WINDOW; i++) {
		CHECK_INT_EQ(seal_one(a, &s, 2, i, &r), 0);
		CHECK_INT_EQ(open_one(b, 2, &r), 0);
	}
	CHECK_INT_EQ(open_one(b, 2, &first), ESMPI_ERR_REPLAY);
	/* A receiver a window or more behind does not even try. */
	CHECK(r.h.epoch >= ESMPI_EPOCH_WINDOW);
	CHECK_INT_EQ(open_one(fresh, 2, &r), ESMPI_ERR_AUTH);
	CHECK(esmpi_key_recv_chain(fresh, 0, s.suite)->epoch == 0);
	comm_free(a);
	comm_free(b);
	comm_free(fresh);
}

/* Windows per (peer, tag), kept through the table's growth. */
static void
test_replay_slots(void)
{
	struct esmpi_comm *c = comm_new(1);
	struct esmpi_replay_slot *w;
	int peer, tag;

	for (peer = 0; peer < 20; peer++)
		for (tag = 0; tag < 50; tag++) {
			w = esmpi_comm_replay(c, peer, tag);
			CHECK(w != NULL && w->peer == peer && w->tag == tag);
			esmpi_replay_accept(&w->w, (uint64_t)(peer * 100 + tag));
		}
	CHECK_INT_EQ(c->nreplay, 1000);
	for (peer = 0; peer < 20; peer++)
		for (tag = 0; tag < 50; tag++) {
			w = esmpi_comm_replay(c, peer, tag);
			CHECK_INT_EQ(esmpi_replay_check(&w->w,
			    (uint64_t)(peer * 100 + tag)), ESMPI_ERR_REPLAY);
			CHECK_INT_EQ(esmpi_replay_check(&w->w,
			    (uint64_t)(peer * 100 + tag + 1)), 0);
		}
	CHECK_INT_EQ(c->nreplay, 1000);
	comm_free(c);
}

static void
test_pool(void)
{
	static const size_t sizes[] = { 1, 200, 256, 257, 4096, 70000,
	    1u << 20, (64u << 20) + 1 };
	void *p[8], *q;
	size_t i;

	for (i = 0; i < 8; i++) {
		p[i] = esmpi_pool_get(sizes[i]);
		CHECK(p[i] != NULL);
		if (p[i] != NULL)
			memset(p[i], 0xa5, sizes[i]);
	}
	for (i = 0; i < 8; i++)
		esmpi_pool_put(p[i], sizes[i]);
	/* A small class is served again from this thread's cache, last
	 * in first out (1, 200 and 256 bytes share the 256-byte class). */
	q = esmpi_pool_get(200);
	CHECK(q == p[2]);
	esmpi_pool_put(q, 200);
	q = esmpi_pool_get(4000);
	CHECK(q == p[4]);
	esmpi_pool_put(q, 4000);
	esmpi_pool_put(NULL, 10);
	esmpi_pool_drain();
}

static void
test_chunk_geometry(void)
{
	static const size_t sizes[] = { 1, ESMPI_CHUNK_PT - 1, ESMPI_CHUNK_PT,
	    ESMPI_CHUNK_PT + 1, 5 * ESMPI_CHUNK_PT, (3u << 20) + 17 };
	size_t i, j, sum;
	int t;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], k = esmpi_chunk_count(n);

		CHECK(k == (n + ESMPI_CHUNK_PT - 1) / ESMPI_CHUNK_PT);
		for (j = 0, sum = 0; j < k; j++) {
			size_t l = esmpi_chunk_len(n, j);

			CHECK(l > 0 && l <= ESMPI_CHUNK_PT);
			CHECK(j + 1 == k || l == ESMPI_CHUNK_PT);
			sum += l;
		}
		CHECK(sum == n);
	}
	CHECK(ESMPI_CHUNK_REC <= (256u << 10));
	esmpi.chunk_tag_ub = 32767;
	for (i = 0; i < 1000; i++) {
		t = esmpi_chunk_tag(CTX, i);
		CHECK(t >= 0 && t <= 32767);
		CHECK(t == esmpi_chunk_tag(CTX, i));
	}
	CHECK(esmpi_chunk_tag(CTX, 1) != esmpi_chunk_tag(CTX, 2) ||
	    esmpi_chunk_tag(CTX, 2) != esmpi_chunk_tag(CTX, 3));
}

/* A head is checked as any record: key, replay window, tag. */
static void
test_head_open(void)
{
	struct esmpi_comm *a = comm_new(0), *b = comm_new(1);
	const struct esmpi_pol_settings *s = &esmpi.defaults;
	uint8_t head[ESMPI_REC_HEAD_LEN], bad[ESMPI_REC_HEAD_LEN];
	struct esmpi_rec_hdr h, got;
	struct esmpi_rec_aad aad;
	struct esmpi_aead *k;
	const char *why;
	size_t i;

	memset(&h, 0, sizeof(h));
	h.version = ESMPI_REC_VERSION;
	h.flags = ESMPI_REC_F_HEAD;
	h.suite = (uint8_t)s->suite;
	h.length = 3u << 20;
	h.seq = 40;
	CHECK((k = esmpi_key_send(a, s, h.length, &h.epoch, &why)) != NULL);
	esmpi_rec_aad_fill(&aad, a, 0, 1, 9, 0);
	CHECK_INT_EQ(esmpi_rec_seal_head(k, &h, &aad, head), 0);
	CHECK_INT_EQ(esmpi_head_open(b, 0, 8, head, sizeof(head), 0, &got),
	    ESMPI_ERR_AUTH);
	for (i = 0; i < sizeof(head); i++) {
		memcpy(bad, head, sizeof(head));
		bad[i] ^= 0x10;
		CHECK(esmpi_head_open(b, 0, 9, bad, sizeof(head), 0, &got) !=
		    0);
	}
	CHECK_INT_EQ(esmpi_head_open(b, 0, 9, head, sizeof(head), 0, &got), 0);
	CHECK(got.length == h.length && got.seq == 40);
	CHECK_INT_EQ(esmpi_head_open(b, 0, 9, head, sizeof(head), 0, &got),
	    ESMPI_ERR_REPLAY);
	CHECK_INT_EQ(esmpi_head_open(b, 2, 9, head, sizeof(head), 0, &got),
	    ESMPI_ERR_PROTOCOL);
	comm_free(a);
	comm_free(b);
}

int
main(void)
{
	static uint8_t job_key[32];

	esmpi.job_key = job_key;
	if (esmpi_random(job_key, sizeof(job_key)) != 0 ||
	    esmpi_random(esmpi.job_id, sizeof(esmpi.job_id)) != 0)
		return 1;
	esmpi.world_size = 2;
	esmpi.defaults.suite = ESMPI_SUITE_AES_256_GCM;
	test_chain_roundtrip();
	test_epochs();
	test_forward_and_window();
	test_replay_slots();
	test_pool();
	test_chunk_geometry();
	test_head_open();
	printf("client_test: %d checks, %d failed\n", check_count,
	    check_failures);
	return check_failures != 0;
}
