/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Record seal/open, framing, tampering, binding, replay, wire vectors;
 * the record tests run through each AEAD engine, and records sealed on
 * one engine are opened (or refused) on the other.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"
#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_limits.h"
#include "esmpi_record.h"

static const int suite_ids[] = { ESMPI_SUITE_AES_128_GCM,
    ESMPI_SUITE_AES_256_GCM, ESMPI_SUITE_CHACHA20_POLY1305 };
#define NSUITES	(sizeof(suite_ids) / sizeof(suite_ids[0]))

static int engine;	/* the engine keys are made on (key_for) */

static void
fill(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + seed);
}

static struct esmpi_aead *
key_for(int suite, uint8_t seed)
{
	const struct esmpi_suite_info *s = esmpi_suite_by_id(suite);
	struct esmpi_aead *k = NULL;
	uint8_t key[ESMPI_AEAD_MAX_KEY_LEN];

	memset(key, seed, sizeof(key));
	if (s == NULL || esmpi_aead_new_engine(&k, engine, suite, key,
	    s->key_len) != 0)
		return NULL;
	return k;
}

static void
default_hdr(struct esmpi_rec_hdr *h, int suite, size_t len)
{
	memset(h, 0, sizeof(*h));
	h->version = ESMPI_REC_VERSION;
	h->suite = (uint8_t)suite;
	h->epoch = 3;
	h->seq = 1000;
	h->length = len;
}

static void
default_aad(struct esmpi_rec_aad *a)
{
	memset(a, 0, sizeof(*a));
	memset(a->job, 0x5a, sizeof(a->job));
	a->src = 1;
	a->dst = 2;
	a->comm = 0x100000002ULL;
	a->tag = 17;
	a->coll_seq = 0;
}

static void
test_constants(void)
{
	CHECK_INT_EQ(ESMPI_REC_HDR_LEN, 24);
	CHECK_INT_EQ(ESMPI_REC_OVERHEAD, 40);
	CHECK_INT_EQ(ESMPI_REC_AAD_LEN, 68);
	CHECK_INT_EQ(ESMPI_REPLAY_WINDOW, 1984);
	CHECK(ESMPI_REKEY_AFTER_MESSAGES <= ESMPI_REKEY_MAX_MESSAGES);
	CHECK(ESMPI_REKEY_AFTER_BYTES <= ESMPI_REKEY_MAX_BYTES);
	CHECK(ESMPI_REKEY_MAX_MESSAGES < ESMPI_REJECT_AFTER_MESSAGES);
	/* A record fits one GCM and one ChaCha20-Poly1305 invocation. */
	CHECK(ESMPI_REC_MAX_LEN <= (1ULL << 36) - 32);
}

static void
test_roundtrip(void)
{
	static const size_t sizes[] = { 0, 1, 255, 4096, 1 << 20 };
	size_t big = (1 << 20) + ESMPI_REC_OVERHEAD;
	uint8_t *pt = malloc(1 << 20), *rec = malloc(big), *out = malloc(big);
	uint8_t hdr[ESMPI_REC_HDR_LEN], tag[ESMPI_AEAD_TAG_LEN];
	uint8_t *ct = malloc(1 << 20);
	struct esmpi_rec_hdr h, got;
	struct esmpi_rec_aad a;
	struct esmpi_aead *k;
	size_t si, zi, len;

	CHECK(pt != NULL && rec != NULL && out != NULL && ct != NULL);
	if (pt == NULL || rec == NULL || out == NULL || ct == NULL)
		goto out;
	default_aad(&a);
	for (si = 0; si < NSUITES; si++) {
		if ((k = key_for(suite_ids[si], 0x42)) == NULL) {
			CHECK(k != NULL);
			continue;
		}
		for (zi = 0; zi < sizeof(sizes) / sizeof(sizes[0]); zi++) {
			len = sizes[zi];
			fill(pt, len, (unsigned int)(si + zi));
			default_hdr(&h, suite_ids[si], len);
			h.seq = zi;
			CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, len, rec),
			    0);
			/* Ciphertext is not the plaintext. */
			if (len >= 16)
				CHECK(memcmp(rec + ESMPI_REC_HDR_LEN, pt,
				    16) != 0);

			memset(&got, 0, sizeof(got));
			memset(out, 0xaa, len + 1);
			CHECK_INT_EQ(esmpi_rec_open(k, &a, rec,
			    len + ESMPI_REC_OVERHEAD, out, len + 1, &got), 0);
			CHECK(memcmp(out, pt, len) == 0);
			CHECK_INT_EQ(out[len], 0xaa);
			CHECK_INT_EQ(got.version, ESMPI_REC_VERSION);
			CHECK_INT_EQ(got.suite, suite_ids[si]);
			CHECK_INT_EQ(got.flags, 0);
			CHECK_INT_EQ(got.epoch, 3);
			CHECK_INT_EQ(got.seq, zi);
			CHECK_INT_EQ(got.length, len);

			CHECK_INT_EQ(esmpi_rec_parse_hdr(rec,
			    len + ESMPI_REC_OVERHEAD, &got), 0);
			CHECK_INT_EQ(got.length, len);

			/* Split: header, ciphertext and tag apart. */
			CHECK_INT_EQ(esmpi_rec_seal_parts(k, &h, &a, pt, len,
			    hdr, ct, tag), 0);
			CHECK(memcmp(hdr, rec, sizeof(hdr)) == 0);
			CHECK(memcmp(ct, rec + ESMPI_REC_HDR_LEN, len) == 0);
			CHECK(memcmp(tag, rec + ESMPI_REC_HDR_LEN + len,
			    sizeof(tag)) == 0);
			/* Opened where it lies, as into a user buffer. */
			CHECK_INT_EQ(esmpi_rec_open_parts(k, &a, hdr, ct, len,
			    tag, ct, len, NULL), 0);
			CHECK(memcmp(ct, pt, len) == 0);

			/* In place in a contiguous record, both ways. */
			memcpy(out + ESMPI_REC_HDR_LEN, pt, len);
			CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a,
			    out + ESMPI_REC_HDR_LEN, len, out), 0);
			CHECK(memcmp(out, rec, len + ESMPI_REC_OVERHEAD) == 0);
			CHECK_INT_EQ(esmpi_rec_open(k, &a, out,
			    len + ESMPI_REC_OVERHEAD, out + ESMPI_REC_HDR_LEN,
			    len, NULL), 0);
			CHECK(memcmp(out + ESMPI_REC_HDR_LEN, pt, len) == 0);
		}
		esmpi_aead_free(k);
	}
out:
	free(pt);
	free(rec);
	free(out);
	free(ct);
}

#define SMALL	33

/* Seal a SMALL-byte record with suite; returns 0 on success. */
static int
small_record(struct esmpi_aead *k, int suite, const struct esmpi_rec_aad *a,
    uint8_t rec[SMALL + ESMPI_REC_OVERHEAD], uint8_t pt[SMALL])
{
	struct esmpi_rec_hdr h;

	fill(pt, SMALL, 9);
	default_hdr(&h, suite, SMALL);
	return esmpi_rec_seal(k, &h, a, pt, SMALL, rec);
}

/*
 * esmpi_rec_prepare: a record sealed on a context prepared for it is the
 * same record; one prepared for its neighbour (next seq, other length,
 * other tag, other flags) too, since the guess only saves work. An open
 * prepared for the record it gets opens it; prepared for another record
 * (the guess the receiver made) it still opens the one it gets, and
 * still refuses a record redirected to another tag.
 */
static void
test_prepared(void)
{
	uint8_t pt[SMALL], want[SMALL + ESMPI_REC_OVERHEAD];
	uint8_t rec[SMALL + ESMPI_REC_OVERHEAD], out[SMALL];
	struct esmpi_rec_hdr h, g;
	struct esmpi_rec_aad a, ga;
	size_t i;
	int v;

	for (i = 0; i < sizeof(suite_ids) / sizeof(suite_ids[0]); i++) {
		struct esmpi_aead *k = key_for(suite_ids[i], 7);

		CHECK(k != NULL);
		if (k == NULL)
			continue;
		default_aad(&a);
		CHECK_INT_EQ(small_record(k, suite_ids[i], &a, want, pt), 0);
		default_hdr(&h, suite_ids[i], SMALL);
		for (v = 0; v < 5; v++) {
			g = h;
			ga = a;
			g.seq += v == 1;
			g.length -= v == 2;
			ga.tag += v == 3;
			g.flags |= v == 4 ? ESMPI_REC_F_UNORDERED : 0;
			CHECK_INT_EQ(esmpi_rec_prepare(k, 1, &g, &ga), 0);
			CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, SMALL, rec),
			    0);
			CHECK(memcmp(rec, want, sizeof(want)) == 0);
			CHECK_INT_EQ(esmpi_rec_prepare(k, 0, &g, &ga), 0);
			memset(out, 0xaa, sizeof(out));
			CHECK_INT_EQ(esmpi_rec_open(k, &a, want, sizeof(want),
			    out, sizeof(out), NULL), 0);
			CHECK(memcmp(out, pt, SMALL) == 0);
		}
		CHECK_INT_EQ(esmpi_rec_prepare(k, 0, &h, &a), 0);
		ga = a;
		ga.tag++;
		memset(out, 0xaa, sizeof(out));
		CHECK_INT_EQ(esmpi_rec_open(k, &ga, want, sizeof(want), out,
		    sizeof(out), NULL), ESMPI_ERR_AUTH);
		for (v = 0; v < SMALL && out[v] == 0; v++)
			;
		CHECK_INT_EQ(v, SMALL);
		esmpi_aead_free(k);
	}
}

static void
test_tamper(void)
{
	uint8_t rec[SMALL + ESMPI_REC_OVERHEAD], pt[SMALL], out[SMALL + 8];
	const size_t rl = sizeof(rec);
	struct esmpi_rec_hdr h;
	struct esmpi_rec_aad a;
	struct esmpi_aead *k;
	size_t si, i, bi;
	int r, accepted, dirty, wrongcode;

	default_aad(&a);
	for (si = 0; si < NSUITES; si++) {
		if ((k = key_for(suite_ids[si], 0x24)) == NULL) {
			CHECK(k != NULL);
			continue;
		}
		CHECK_INT_EQ(small_record(k, suite_ids[si], &a, rec, pt), 0);

		/* Each byte, low and high bit: fails, output wiped. */
		accepted = dirty = wrongcode = 0;
		for (i = 0; i < rl; i++) {
			for (bi = 0; bi < 2; bi++) {
				uint8_t m = bi ? 0x80 : 0x01;

				rec[i] ^= m;
				memset(out, 0xaa, sizeof(out));
				r = esmpi_rec_open(k, &a, rec, rl, out,
				    sizeof(out), NULL);
				if (r == 0)
					accepted++;
				if (!all_zero(out, sizeof(out)))
					dirty++;
				/* Past the framing fields only AUTH fits. */
				if (i >= ESMPI_REC_HDR_LEN &&
				    r != ESMPI_ERR_AUTH)
					wrongcode++;
				if (i == 0 && r != ESMPI_ERR_VERSION)
					wrongcode++;
				rec[i] ^= m;
			}
		}
		CHECK_INT_EQ(accepted, 0);
		CHECK_INT_EQ(dirty, 0);
		CHECK_INT_EQ(wrongcode, 0);

		/* Truncated by 1..rl bytes. */
		accepted = dirty = wrongcode = 0;
		for (i = 1; i <= rl; i++) {
			memset(out, 0xaa, sizeof(out));
			r = esmpi_rec_open(k, &a, rec, rl - i, out,
			    sizeof(out), NULL);
			if (r == 0)
				accepted++;
			if (r != ESMPI_ERR_TRUNCATED)
				wrongcode++;
			if (!all_zero(out, sizeof(out)))
				dirty++;
		}
		CHECK_INT_EQ(accepted, 0);
		CHECK_INT_EQ(dirty, 0);
		CHECK_INT_EQ(wrongcode, 0);

		/* One byte too many. */
		{
			uint8_t longer[sizeof(rec) + 1];

			memcpy(longer, rec, rl);
			longer[rl] = 0;
			memset(out, 0xaa, sizeof(out));
			CHECK_INT_EQ(esmpi_rec_open(k, &a, longer, rl + 1,
			    out, sizeof(out), NULL), ESMPI_ERR_PROTOCOL);
			CHECK(all_zero(out, sizeof(out)));
			CHECK_INT_EQ(esmpi_rec_parse_hdr(longer, rl + 1, &h),
			    ESMPI_ERR_PROTOCOL);
		}

		/* Plaintext buffer too small. */
		memset(out, 0xaa, sizeof(out));
		CHECK_INT_EQ(esmpi_rec_open(k, &a, rec, rl, out, SMALL - 1,
		    NULL), ESMPI_ERR_TOO_LARGE);
		CHECK(all_zero(out, SMALL - 1));
		CHECK_INT_EQ(out[SMALL - 1], 0xaa);

		/* Version byte: any other value is refused as a version. */
		for (i = 0; i < 256; i++) {
			if (i == ESMPI_REC_VERSION)
				continue;
			rec[0] = (uint8_t)i;
			memset(out, 0xaa, sizeof(out));
			r = esmpi_rec_open(k, &a, rec, rl, out, sizeof(out),
			    NULL);
			if (r != ESMPI_ERR_VERSION || !all_zero(out,
			    sizeof(out)))
				break;
		}
		CHECK_INT_EQ(i, 256);
		rec[0] = ESMPI_REC_VERSION;

		/* Still opens after all that. */
		CHECK_INT_EQ(esmpi_rec_open(k, &a, rec, rl, out, sizeof(out),
		    NULL), 0);
		CHECK(memcmp(out, pt, SMALL) == 0);
		esmpi_aead_free(k);
	}
}

/* Same bytes, different key for the same suite, or different suite. */
static void
test_wrong_key(void)
{
	uint8_t rec[SMALL + ESMPI_REC_OVERHEAD], pt[SMALL], out[SMALL];
	uint8_t k0[32], k1[32];
	struct esmpi_aead *e0 = NULL, *e1 = NULL, *other = NULL;
	struct esmpi_rec_aad a;

	default_aad(&a);
	/* The rekey ratchet step of DESIGN §3 gives the next epoch's key. */
	memset(k0, 0x77, sizeof(k0));
	CHECK_INT_EQ(esmpi_hkdf_sha256(k1, sizeof(k1), NULL, 0, k0,
	    sizeof(k0), (const uint8_t *)"esmpi rekey", 11), 0);
	CHECK_INT_EQ(esmpi_aead_new_engine(&e0, engine,
	    ESMPI_SUITE_AES_256_GCM, k0, 32), 0);
	CHECK_INT_EQ(esmpi_aead_new_engine(&e1, engine,
	    ESMPI_SUITE_AES_256_GCM, k1, 32), 0);
	CHECK_INT_EQ(esmpi_aead_new_engine(&other, engine,
	    ESMPI_SUITE_CHACHA20_POLY1305, k0, 32), 0);
	if (e0 == NULL || e1 == NULL || other == NULL)
		goto out;
	CHECK_INT_EQ(small_record(e0, ESMPI_SUITE_AES_256_GCM, &a, rec, pt),
	    0);
	memset(out, 0xaa, sizeof(out));
	CHECK_INT_EQ(esmpi_rec_open(e1, &a, rec, sizeof(rec), out,
	    sizeof(out), NULL), ESMPI_ERR_AUTH);
	CHECK(all_zero(out, sizeof(out)));
	memset(out, 0xaa, sizeof(out));
	CHECK_INT_EQ(esmpi_rec_open(other, &a, rec, sizeof(rec), out,
	    sizeof(out), NULL), ESMPI_ERR_AUTH);
	CHECK(all_zero(out, sizeof(out)));
	CHECK_INT_EQ(esmpi_rec_open(e0, &a, rec, sizeof(rec), out,
	    sizeof(out), NULL), 0);
	CHECK(memcmp(out, pt, sizeof(pt)) == 0);
out:
	esmpi_aead_free(e0);
	esmpi_aead_free(e1);
	esmpi_aead_free(other);
}

/* Each AAD field the receiver supplies must match the sender's. */
static void
test_binding(void)
{
	uint8_t rec[SMALL + ESMPI_REC_OVERHEAD], pt[SMALL], out[SMALL];
	struct esmpi_rec_aad a, b;
	struct esmpi_aead *k;
	size_t si;
	int f, i;

	default_aad(&a);
	for (si = 0; si < NSUITES; si++) {
		if ((k = key_for(suite_ids[si], 0x33)) == NULL) {
			CHECK(k != NULL);
			continue;
		}
		CHECK_INT_EQ(small_record(k, suite_ids[si], &a, rec, pt), 0);
		for (f = 0; f < 6 + 16; f++) {
			b = a;
			switch (f) {
			case 0: b.src ^= 1; break;
			case 1: b.dst = ESMPI_REC_DST_ALL; break;
			case 2: b.comm ^= 1ULL << 63; break;
			case 3: b.tag = -b.tag; break;
			case 4: b.coll_seq = 1; break;
			case 5: b.comm = 0; break;
			default: b.job[f - 6] ^= 0x10; break;
			}
			memset(out, 0xaa, sizeof(out));
			CHECK_INT_EQ(esmpi_rec_open(k, &b, rec, sizeof(rec),
			    out, sizeof(out), NULL), ESMPI_ERR_AUTH);
			CHECK(all_zero(out, sizeof(out)));
		}
		/* Split open binds the same way. */
		b = a;
		b.tag++;
		memset(out, 0xaa, sizeof(out));
		CHECK_INT_EQ(esmpi_rec_open_parts(k, &b, rec,
		    rec + ESMPI_REC_HDR_LEN, SMALL,
		    rec + ESMPI_REC_HDR_LEN + SMALL, out, sizeof(out), NULL),
		    ESMPI_ERR_AUTH);
		CHECK(all_zero(out, sizeof(out)));
		/* And each header field, honestly re-sealed, moves the tag. */
		for (i = 0; i < 4; i++) {
			struct esmpi_rec_hdr h;
			uint8_t r2[sizeof(rec)];

			default_hdr(&h, suite_ids[si], SMALL);
			if (i == 0)
				h.flags = ESMPI_REC_F_COLL;
			else if (i == 1)
				h.epoch++;
			else if (i == 2)
				h.seq++;
			else
				h.flags = ESMPI_REC_F_SIGNED;
			CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, SMALL, r2),
			    0);
			CHECK(memcmp(r2 + ESMPI_REC_HDR_LEN + SMALL,
			    rec + ESMPI_REC_HDR_LEN + SMALL,
			    ESMPI_AEAD_TAG_LEN) != 0);
			/* Splice the honest ciphertext under the new header. */
			memcpy(r2 + ESMPI_REC_HDR_LEN, rec + ESMPI_REC_HDR_LEN,
			    SMALL + ESMPI_AEAD_TAG_LEN);
			CHECK_INT_EQ(esmpi_rec_open(k, &a, r2, sizeof(r2),
			    out, sizeof(out), NULL), ESMPI_ERR_AUTH);
		}
		esmpi_aead_free(k);
	}
}

static void
test_seal_errors(void)
{
	uint8_t buf[64 + ESMPI_REC_OVERHEAD], pt[64], out[64];
	uint8_t hdr[ESMPI_REC_HDR_LEN], tag[ESMPI_AEAD_TAG_LEN];
	struct esmpi_rec_hdr h, got;
	struct esmpi_rec_aad a;
	struct esmpi_aead *k = key_for(ESMPI_SUITE_AES_128_GCM, 1);

	CHECK(k != NULL);
	if (k == NULL)
		return;
	default_aad(&a);
	fill(pt, sizeof(pt), 3);

	default_hdr(&h, ESMPI_SUITE_AES_128_GCM, 63);
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, 64, buf),
	    ESMPI_ERR_INVALID);
	default_hdr(&h, ESMPI_SUITE_AES_128_GCM, 64);
	h.version = 2;
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, 64, buf),
	    ESMPI_ERR_VERSION);
	default_hdr(&h, ESMPI_SUITE_NONE, 64);
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, 64, buf), ESMPI_ERR_SUITE);
	default_hdr(&h, 9, 64);
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, 64, buf), ESMPI_ERR_SUITE);
	default_hdr(&h, ESMPI_SUITE_AES_128_GCM, 64);
	h.flags = 0x0040;	/* unknown flag */
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, 64, buf),
	    ESMPI_ERR_INVALID);
	h.flags = ESMPI_REC_F_HEAD;	/* a head has no body */
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, 64, buf),
	    ESMPI_ERR_INVALID);
	default_hdr(&h, ESMPI_SUITE_AES_128_GCM, 64);
	h.seq = ESMPI_REJECT_AFTER_MESSAGES;
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, 64, buf), ESMPI_ERR_LIMIT);
	h.seq = UINT64_MAX;
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, 64, buf), ESMPI_ERR_LIMIT);
	h.seq = ESMPI_REJECT_AFTER_MESSAGES - 1;
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, 64, buf), 0);
	CHECK_INT_EQ(esmpi_rec_open(k, &a, buf, sizeof(buf), out,
	    sizeof(out), &got), 0);
	CHECK(got.seq == ESMPI_REJECT_AFTER_MESSAGES - 1);
	default_hdr(&h, ESMPI_SUITE_AES_128_GCM, ESMPI_REC_MAX_LEN + 1);
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, ESMPI_REC_MAX_LEN + 1,
	    buf), ESMPI_ERR_TOO_LARGE);

	/* Plaintext overlapping the header or tag slots is refused. */
	default_hdr(&h, ESMPI_SUITE_AES_128_GCM, 32);
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, buf, 32, buf),
	    ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, buf + 8, 32, buf),
	    ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, buf + ESMPI_REC_HDR_LEN + 1,
	    32, buf), ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_rec_seal_parts(k, &h, &a, pt, 32, hdr, pt, pt + 30),
	    ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_rec_seal_parts(k, &h, &a, pt, 32, pt + 20, pt, tag),
	    ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_rec_seal(NULL, &h, &a, pt, 32, buf),
	    ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, NULL, 32, buf),
	    ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, 32, NULL),
	    ESMPI_ERR_INVALID);

	/* Header-only decode, as a receiver does before the body. */
	default_hdr(&h, ESMPI_SUITE_AES_128_GCM, 32);
	h.flags = ESMPI_REC_F_COLL;
	CHECK_INT_EQ(esmpi_rec_seal(k, &h, &a, pt, 32, buf), 0);
	memset(&got, 0, sizeof(got));
	CHECK_INT_EQ(esmpi_rec_hdr_decode(buf, &got), 0);
	CHECK_INT_EQ(got.flags, ESMPI_REC_F_COLL);
	CHECK_INT_EQ(got.length, 32);
	CHECK_INT_EQ(esmpi_rec_parse_hdr(buf, ESMPI_REC_HDR_LEN, &got),
	    ESMPI_ERR_TRUNCATED);
	buf[3] |= 0x80;			/* unknown flag */
	CHECK_INT_EQ(esmpi_rec_hdr_decode(buf, &got), ESMPI_ERR_PROTOCOL);
	buf[3] &= 0x7f;
	buf[1] = ESMPI_SUITE_NONE;
	CHECK_INT_EQ(esmpi_rec_hdr_decode(buf, &got), ESMPI_ERR_SUITE);
	buf[1] = ESMPI_SUITE_AES_128_GCM;
	buf[16] = 0x01;			/* length 2^56 + 32 */
	CHECK_INT_EQ(esmpi_rec_hdr_decode(buf, &got), ESMPI_ERR_TOO_LARGE);
	memset(out, 0xaa, sizeof(out));
	CHECK_INT_EQ(esmpi_rec_open(k, &a, buf, 32 + ESMPI_REC_OVERHEAD, out,
	    sizeof(out), NULL), ESMPI_ERR_TOO_LARGE);
	CHECK(all_zero(out, sizeof(out)));
	buf[16] = 0;
	/* Split open with a ciphertext length that disagrees. */
	memset(out, 0xaa, sizeof(out));
	CHECK_INT_EQ(esmpi_rec_open_parts(k, &a, buf, buf + ESMPI_REC_HDR_LEN,
	    31, buf + ESMPI_REC_HDR_LEN + 32, out, sizeof(out), NULL),
	    ESMPI_ERR_TRUNCATED);
	CHECK(all_zero(out, sizeof(out)));
	CHECK_INT_EQ(esmpi_rec_open_parts(k, &a, buf, buf + ESMPI_REC_HDR_LEN,
	    33, buf + ESMPI_REC_HDR_LEN + 32, out, sizeof(out), NULL),
	    ESMPI_ERR_PROTOCOL);
	CHECK_INT_EQ(esmpi_rec_open_parts(k, &a, buf, buf + ESMPI_REC_HDR_LEN,
	    32, buf + ESMPI_REC_HDR_LEN + 32, out, sizeof(out), &got), 0);
	CHECK(memcmp(out, pt, 32) == 0);
	esmpi_aead_free(k);
}

/*
 * Replay window boundaries, after WireGuard's counter.c self-test: the
 * sequence runs against one window and each step says whether the seq is
 * accepted (check passes, then accept).
 */
#define T_LIM	(ESMPI_REPLAY_WINDOW + 1)
#define REJ	ESMPI_REJECT_AFTER_MESSAGES

static const struct {
	uint64_t seq;
	int ok;
} replay_table[] = {
	{ 0, 1 },			/* first message */
	{ 1, 1 },			/* in order */
	{ 1, 0 },			/* duplicate */
	{ 9, 1 },			/* gap ahead */
	{ 8, 1 },			/* out of order within the window */
	{ 7, 1 },
	{ 7, 0 },
	{ T_LIM, 1 },			/* slides by a whole window */
	{ T_LIM - 1, 1 },
	{ T_LIM - 1, 0 },
	{ T_LIM - 2, 1 },
	{ 2, 1 },			/* top - 2 = WINDOW - 1: still inside */
	{ 2, 0 },
	{ T_LIM + 16, 1 },
	{ 3, 0 },			/* fell out of the window */
	{ T_LIM + 16, 0 },
	{ T_LIM * 4, 1 },		/* jump: all words cleared */
	{ T_LIM * 4 - (T_LIM - 1), 1 },	/* exactly WINDOW below top */
	{ 10, 0 },
	{ T_LIM * 4 - T_LIM, 0 },	/* WINDOW + 1 below: past the edge */
	{ T_LIM * 4 - (T_LIM + 1), 0 },
	{ T_LIM * 4 - (T_LIM - 2), 1 },
	{ T_LIM * 4 + 1 - T_LIM, 0 },	/* the edge one, now a duplicate */
	{ 0, 0 },
	{ REJ, 0 },			/* reject-after limit */
	{ REJ - 1, 1 },			/* huge jump to the last valid seq */
	{ REJ, 0 },
	{ REJ - 1, 0 },
	{ REJ - 2, 1 },
	{ REJ + 1, 0 },
	{ REJ + 2, 0 },
	{ REJ - 2, 0 },
	{ REJ - 3, 1 },
	{ UINT64_MAX, 0 },
	{ 0, 0 },
};

static void
test_replay_table(void)
{
	struct esmpi_replay w;
	size_t i;
	int ok;

	esmpi_replay_init(&w);
	for (i = 0; i < sizeof(replay_table) / sizeof(replay_table[0]); i++) {
		ok = esmpi_replay_check(&w, replay_table[i].seq) == 0;
		if (ok != replay_table[i].ok)
			fprintf(stderr, "replay step %zu: seq %llu %s\n", i + 1,
			    (unsigned long long)replay_table[i].seq,
			    ok ? "accepted" : "refused");
		CHECK_INT_EQ(ok, replay_table[i].ok);
		if (ok)
			esmpi_replay_accept(&w, replay_table[i].seq);
	}
}

/* Posting order: (ticket, seq, accepted?), applied in turn. */
static const struct {
	uint64_t ticket, seq;
	int ok;
} order_table[] = {
	{ 0, 50, 1 },			/* order unknown: never checked */
	{ 5, 10, 1 },			/* first known */
	{ 6, 12, 1 },			/* later receive, later record */
	{ 7, 11, 0 },			/* later receive, earlier record: swap */
	{ 7, 12, 0 },			/* same record again */
	{ 4, 11, 1 },			/* earlier receive completed late */
	{ 4, 13, 0 },			/* earlier receive, later record */
	{ 0, 1, 1 },
	{ 8, 20, 1 },
	{ 8, 15, 1 },			/* one Startall: unordered */
	{ 9, 19, 0 },			/* must pass every record of ticket 8 */
	{ 9, 21, 1 },
};

static void
test_order_table(void)
{
	struct esmpi_order o;
	size_t i;
	int ok;

	memset(&o, 0, sizeof(o));
	for (i = 0; i < sizeof(order_table) / sizeof(order_table[0]); i++) {
		ok = esmpi_order_check(&o, order_table[i].ticket,
		    order_table[i].seq) == 0;
		if (ok != order_table[i].ok)
			fprintf(stderr, "order step %zu: %s\n", i + 1,
			    ok ? "accepted" : "refused");
		CHECK_INT_EQ(ok, order_table[i].ok);
		if (ok)
			esmpi_order_accept(&o, order_table[i].ticket,
			    order_table[i].seq);
	}
}

static void
test_replay_edges(void)
{
	struct esmpi_replay w;
	uint64_t top = 100000, s;

	/* The first record may have any seq; older ones inside still fit. */
	memset(&w, 0, sizeof(w));
	CHECK_INT_EQ(esmpi_replay_check(&w, top), 0);
	/* check never changes the window. */
	CHECK_INT_EQ(esmpi_replay_check(&w, top), 0);
	esmpi_replay_accept(&w, top);
	CHECK_INT_EQ(esmpi_replay_check(&w, top), ESMPI_ERR_REPLAY);
	CHECK_INT_EQ(esmpi_replay_check(&w, top - ESMPI_REPLAY_WINDOW), 0);
	CHECK_INT_EQ(esmpi_replay_check(&w, top - ESMPI_REPLAY_WINDOW - 1),
	    ESMPI_ERR_REPLAY);

	/*
	 * Accepting a refused seq must not set the bit it would alias
	 * (2048 apart share a bit): top - 10 stays acceptable.
	 */
	s = top - 10;
	esmpi_replay_accept(&w, s - ESMPI_REPLAY_BITS);
	CHECK_INT_EQ(esmpi_replay_check(&w, s), 0);
	esmpi_replay_accept(&w, top);	/* duplicate: no effect */
	CHECK_INT_EQ(esmpi_replay_check(&w, s), 0);

	/* A seq 2048 above an accepted one reuses its bit, cleared first. */
	esmpi_replay_accept(&w, s);
	CHECK_INT_EQ(esmpi_replay_check(&w, s + ESMPI_REPLAY_BITS), 0);
	esmpi_replay_accept(&w, s + ESMPI_REPLAY_BITS);
	CHECK_INT_EQ(esmpi_replay_check(&w, s), ESMPI_ERR_REPLAY);
	CHECK_INT_EQ(esmpi_replay_check(&w, s + ESMPI_REPLAY_BITS),
	    ESMPI_ERR_REPLAY);
	CHECK_INT_EQ(esmpi_replay_check(&w, s + ESMPI_REPLAY_BITS - 1), 0);

	/* Huge jump, then everything below the new window is gone. */
	top = s + ESMPI_REPLAY_BITS + (1ULL << 40);
	esmpi_replay_accept(&w, top);
	CHECK_INT_EQ(esmpi_replay_check(&w, s + ESMPI_REPLAY_BITS),
	    ESMPI_ERR_REPLAY);
	CHECK_INT_EQ(esmpi_replay_check(&w, top - 1), 0);
	CHECK_INT_EQ(esmpi_replay_check(&w, top - ESMPI_REPLAY_WINDOW), 0);

	/* Window top at each offset inside a word: the edge holds. */
	for (s = 0; s < 64; s++) {
		top = 64 * 100 + s;
		esmpi_replay_init(&w);
		esmpi_replay_accept(&w, top - ESMPI_REPLAY_WINDOW - 5);
		esmpi_replay_accept(&w, top);
		CHECK_INT_EQ(esmpi_replay_check(&w, top - ESMPI_REPLAY_WINDOW),
		    0);
		CHECK_INT_EQ(esmpi_replay_check(&w,
		    top - ESMPI_REPLAY_WINDOW - 1), ESMPI_ERR_REPLAY);
	}
}

/*
 * Against a reference that remembers every seq: random walks with
 * reordering, duplicates and jumps must get the same verdicts.
 */
#define REF_MAX	(1U << 20)

static void
test_replay_model(void)
{
	static uint8_t seen[REF_MAX];
	struct esmpi_replay w;
	uint64_t top = 0, seq, state = 0x9e3779b97f4a7c15ULL;
	int any = 0, want, got, mismatches = 0, run;
	unsigned long accepts = 0, refusals = 0;
	unsigned int i;

	for (run = 0; run < 8; run++) {
		memset(seen, 0, sizeof(seen));
		esmpi_replay_init(&w);
		any = 0;
		top = 0;
		for (i = 0; i < 200000; i++) {
			/* xorshift64 */
			state ^= state << 13;
			state ^= state >> 7;
			state ^= state << 17;
			if (state % 1000 == 0)
				seq = top + 1 + state % 5000;	/* jump */
			else if (any)
				seq = top + 8 - (state >> 8) % 2100;
			else
				seq = state % 3000;
			if (seq >= REF_MAX)
				continue;
			want = !seen[seq] &&
			    (!any || seq > top || top - seq <=
			    ESMPI_REPLAY_WINDOW);
			got = esmpi_replay_check(&w, seq) == 0;
			if (want != got)
				mismatches++;
			if (got)
				accepts++;
			else
				refusals++;
			if (got) {
				esmpi_replay_accept(&w, seq);
				seen[seq] = 1;
				if (!any || seq > top)
					top = seq;
				any = 1;
			}
		}
	}
	CHECK_INT_EQ(mismatches, 0);
	CHECK(accepts > 10000 && refusals > 10000);
}

/* A record flowing through check, open and accept, as a receiver would. */
static void
test_replay_with_open(void)
{
	uint8_t rec[SMALL + ESMPI_REC_OVERHEAD], pt[SMALL], out[SMALL];
	struct esmpi_rec_hdr h;
	struct esmpi_rec_aad a;
	struct esmpi_replay w;
	struct esmpi_aead *k = key_for(ESMPI_SUITE_AES_256_GCM, 5);

	CHECK(k != NULL);
	if (k == NULL)
		return;
	default_aad(&a);
	esmpi_replay_init(&w);
	CHECK_INT_EQ(small_record(k, ESMPI_SUITE_AES_256_GCM, &a, rec, pt), 0);
	CHECK_INT_EQ(esmpi_rec_hdr_decode(rec, &h), 0);
	CHECK_INT_EQ(esmpi_replay_check(&w, h.seq), 0);

	/* A forgery with a far higher seq fails; h keeps the real one. */
	rec[8] ^= 0x01;
	CHECK_INT_EQ(esmpi_rec_open(k, &a, rec, sizeof(rec), out, sizeof(out),
	    &h), ESMPI_ERR_AUTH);
	CHECK(h.seq == 1000);
	rec[8] ^= 0x01;

	CHECK_INT_EQ(esmpi_rec_open(k, &a, rec, sizeof(rec), out, sizeof(out),
	    &h), 0);
	esmpi_replay_accept(&w, h.seq);
	/* The replayed copy still authenticates but the window refuses it. */
	CHECK_INT_EQ(esmpi_rec_open(k, &a, rec, sizeof(rec), out, sizeof(out),
	    &h), 0);
	CHECK_INT_EQ(esmpi_replay_check(&w, h.seq), ESMPI_ERR_REPLAY);
	esmpi_aead_free(k);
}

/*
 * Records frozen for wire version 1. Produced independently (Python
 * "cryptography") from DESIGN §4; a change here is a wire format change.
 */
static const struct {
	int suite;
	const char *key;
	struct esmpi_rec_hdr hdr;
	struct esmpi_rec_aad aad;
	const char *pt;
	const char *rec;
} frozen[] = {
	{ ESMPI_SUITE_AES_256_GCM,
	    "000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f",
	    { 1, ESMPI_SUITE_AES_256_GCM, ESMPI_REC_F_COLL, 7,
	    0x0102030405060708ULL, 16 },
	    { { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	    0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf },
	    3, 5, 0x1122334455667788ULL, 100, 9 },
	    "esmpi record v1!",
	    "010200010000000701020304050607080000000000000010"
	    "54599751b54cd76cc32ceb3c034b971a"
	    "8be94ba24fa6fdc8461928c0abe14921" },
	{ ESMPI_SUITE_CHACHA20_POLY1305,
	    "000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f",
	    { 1, ESMPI_SUITE_CHACHA20_POLY1305, 0, 0, 1, 16 },
	    { { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	    0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf },
	    0, 1, 0, -7, 0 },
	    "esmpi record v1!",
	    "010300000000000000000000000000010000000000000010"
	    "0c2f11a9582aca1f4e1e0c4b93622633"
	    "3eef93f48b4346d51edee3ad710ee2ce" },
};

static void
test_frozen(void)
{
	uint8_t key[32], want[16 + ESMPI_REC_OVERHEAD];
	uint8_t rec[16 + ESMPI_REC_OVERHEAD], out[16];
	struct esmpi_aead *k;
	size_t i;
	int n;

	for (i = 0; i < sizeof(frozen) / sizeof(frozen[0]); i++) {
		CHECK_INT_EQ(unhex(frozen[i].key, key, sizeof(key)), 32);
		n = unhex(frozen[i].rec, want, sizeof(want));
		CHECK_INT_EQ(n, sizeof(want));
		CHECK_INT_EQ(strlen(frozen[i].pt), 16);
		k = NULL;
		CHECK_INT_EQ(esmpi_aead_new_engine(&k, engine, frozen[i].suite,
		    key, 32), 0);
		if (k == NULL)
			continue;
		CHECK_INT_EQ(esmpi_rec_seal(k, &frozen[i].hdr, &frozen[i].aad,
		    frozen[i].pt, 16, rec), 0);
		CHECK(memcmp(rec, want, sizeof(want)) == 0);
		if (memcmp(rec, want, sizeof(want)) != 0)
			fprintf(stderr, "frozen record %zu differs\n", i);
		CHECK_INT_EQ(esmpi_rec_open(k, &frozen[i].aad, want,
		    sizeof(want), out, sizeof(out), NULL), 0);
		CHECK(memcmp(out, frozen[i].pt, 16) == 0);
		esmpi_aead_free(k);
	}
}

/*
 * Heads (chunked messages): a round trip, then every byte flipped, every
 * AAD field changed, a wrong length, flags or key: all refused. A head is
 * shorter than any record.
 */
static void
test_head(void)
{
	uint8_t head[ESMPI_REC_HEAD_LEN], bad[ESMPI_REC_HEAD_LEN + 1];
	struct esmpi_rec_hdr h, got;
	struct esmpi_rec_aad a, b;
	size_t i, j;
	int f;

	CHECK(ESMPI_REC_HEAD_LEN < ESMPI_REC_OVERHEAD);
	for (i = 0; i < NSUITES; i++) {
		struct esmpi_aead *k = key_for(suite_ids[i], 9);
		struct esmpi_aead *other = key_for(suite_ids[i], 10);

		CHECK(k != NULL && other != NULL);
		if (k == NULL || other == NULL)
			continue;
		default_hdr(&h, suite_ids[i], 3u << 20);
		h.flags = ESMPI_REC_F_HEAD;
		default_aad(&a);
		CHECK_INT_EQ(esmpi_rec_seal_head(k, &h, &a, head), 0);
		memset(&got, 0, sizeof(got));
		CHECK_INT_EQ(esmpi_rec_open_head(k, &a, head, sizeof(head),
		    &got), 0);
		CHECK(got.length == h.length && got.seq == h.seq &&
		    got.epoch == h.epoch && got.flags == h.flags);
		for (j = 0; j < sizeof(head) * 8; j++) {
			memcpy(bad, head, sizeof(head));
			bad[j / 8] ^= (uint8_t)(1u << (j % 8));
			CHECK(esmpi_rec_open_head(k, &a, bad, sizeof(head),
			    &got) != 0);
		}
		for (f = 0; f < 5; f++) {
			b = a;
			b.src += f == 0;
			b.dst += f == 1;
			b.comm += f == 2;
			b.tag += f == 3;
			b.job[5] ^= f == 4;
			CHECK_INT_EQ(esmpi_rec_open_head(k, &b, head,
			    sizeof(head), &got), ESMPI_ERR_AUTH);
		}
		CHECK_INT_EQ(esmpi_rec_open_head(other, &a, head, sizeof(head),
		    &got), ESMPI_ERR_AUTH);
		CHECK_INT_EQ(esmpi_rec_open_head(k, &a, head, sizeof(head) - 1,
		    &got), ESMPI_ERR_TRUNCATED);
		memcpy(bad, head, sizeof(head));
		bad[sizeof(head)] = 0;
		CHECK_INT_EQ(esmpi_rec_open_head(k, &a, bad, sizeof(bad),
		    &got), ESMPI_ERR_PROTOCOL);
		/* Only HEAD may be sealed as a head; a chunk or plain
		 * header is refused before any key is used. */
		h.flags = ESMPI_REC_F_CHUNK;
		CHECK_INT_EQ(esmpi_rec_seal_head(k, &h, &a, head),
		    ESMPI_ERR_INVALID);
		h.flags = ESMPI_REC_F_HEAD | ESMPI_REC_F_CHUNK;
		CHECK_INT_EQ(esmpi_rec_seal_head(k, &h, &a, head), 0);
		CHECK_INT_EQ(esmpi_rec_open_head(k, &a, head, sizeof(head),
		    &got), ESMPI_ERR_PROTOCOL);
		esmpi_aead_free(k);
		esmpi_aead_free(other);
	}
}

/* Plain records (scope inter-node): framing only, every field checked. */
static void
test_plain(void)
{
	static const uint8_t pt[] = "same node, no seal";
	uint8_t rec[sizeof(pt) + ESMPI_REC_OVERHEAD], bad[sizeof(rec)];
	uint8_t out[sizeof(pt)];
	size_t n = sizeof(pt), got = 0, i;
	struct esmpi_rec_hdr h;

	esmpi_rec_plain_put(ESMPI_SUITE_AES_256_GCM, 77, pt, n, rec);
	CHECK(esmpi_rec_plain_is(rec, sizeof(rec)));
	CHECK(!esmpi_rec_plain_is(rec, ESMPI_REC_HDR_LEN - 1));
	CHECK_INT_EQ(esmpi_rec_plain_take(rec, sizeof(rec),
	    ESMPI_SUITE_AES_256_GCM, out, sizeof(out), &got), 0);
	CHECK(got == n && memcmp(out, pt, n) == 0);
	for (i = ESMPI_REC_HDR_LEN + n; i < sizeof(rec); i++)
		CHECK(rec[i] == 0);
	/* The record layer never opens one as a sealed record. */
	CHECK(esmpi_rec_hdr_decode(rec, &h) != 0);
	/* Another suite than the receiver's: refused as a downgrade. */
	CHECK_INT_EQ(esmpi_rec_plain_take(rec, sizeof(rec),
	    ESMPI_SUITE_AES_128_GCM, out, sizeof(out), &got), ESMPI_ERR_AUTH);
	memcpy(bad, rec, sizeof(rec));
	bad[0] ^= 1;
	CHECK_INT_EQ(esmpi_rec_plain_take(bad, sizeof(bad),
	    ESMPI_SUITE_AES_256_GCM, out, sizeof(out), &got),
	    ESMPI_ERR_VERSION);
	/* Every length but the right one, and a short buffer. */
	for (i = 0; i < sizeof(rec); i++)
		CHECK(esmpi_rec_plain_take(rec, i, ESMPI_SUITE_AES_256_GCM,
		    out, sizeof(out), &got) != 0);
	memcpy(bad, rec, sizeof(rec));
	bad[23] ^= 1;
	CHECK_INT_EQ(esmpi_rec_plain_take(bad, sizeof(bad),
	    ESMPI_SUITE_AES_256_GCM, out, sizeof(out), &got),
	    ESMPI_ERR_PROTOCOL);
	CHECK_INT_EQ(esmpi_rec_plain_take(rec, sizeof(rec),
	    ESMPI_SUITE_AES_256_GCM, out, n - 1, &got), ESMPI_ERR_TOO_LARGE);
}

/*
 * Across engines: a record sealed on either engine, with every byte
 * flipped in turn, fails on both and leaves the output zeroed, opened
 * into a buffer, in place and in parts; unflipped, it opens on both.
 * 300 bytes: past ipsec-mb's 256-byte switch to its wide GCM code.
 */
static void
test_tamper_engines(void)
{
	enum { LEN = 300, RL = LEN + ESMPI_REC_OVERHEAD };
	uint8_t rec[RL], pt[LEN], out[RL], in[RL];
	struct esmpi_aead *k[2];
	struct esmpi_rec_hdr h;
	struct esmpi_rec_aad a;
	size_t si, i;
	int s, o, r, accepted = 0, dirty = 0, opened = 0;

	default_aad(&a);
	fill(pt, LEN, 4);
	for (si = 0; si < NSUITES; si++) {
		for (o = 0; o < 2; o++) {
			engine = o ? ESMPI_ENGINE_IPSEC_MB : ESMPI_ENGINE_OPENSSL;
			k[o] = key_for(suite_ids[si], 0x61);
		}
		CHECK(k[0] != NULL && k[1] != NULL);
		if (k[0] == NULL || k[1] == NULL)
			goto next;
		CHECK_INT_EQ(esmpi_aead_engine(k[1]), ESMPI_ENGINE_IPSEC_MB);
		default_hdr(&h, suite_ids[si], LEN);
		for (s = 0; s < 2; s++) {
			CHECK_INT_EQ(esmpi_rec_seal(k[s], &h, &a, pt, LEN, rec),
			    0);
			for (o = 0; o < 2; o++) {
				opened += esmpi_rec_open(k[o], &a, rec, RL, out,
				    LEN, NULL) == 0 && memcmp(out, pt, LEN) == 0;
				for (i = 0; i < RL; i++) {
					rec[i] ^= (uint8_t)(1u << (i % 8));
					memset(out, 0xaa, sizeof(out));
					r = esmpi_rec_open(k[o], &a, rec, RL, out,
					    sizeof(out), NULL);
					accepted += r == 0;
					dirty += !all_zero(out, sizeof(out));
					memcpy(in, rec, RL);
					r = esmpi_rec_open(k[o], &a, in, RL,
					    in + ESMPI_REC_HDR_LEN, LEN, NULL);
					accepted += r == 0;
					dirty += !all_zero(in + ESMPI_REC_HDR_LEN,
					    LEN);
					memset(out, 0xaa, sizeof(out));
					r = esmpi_rec_open_parts(k[o], &a, rec,
					    rec + ESMPI_REC_HDR_LEN, LEN,
					    rec + ESMPI_REC_HDR_LEN + LEN, out,
					    LEN, NULL);
					accepted += r == 0;
					dirty += !all_zero(out, LEN);
					rec[i] ^= (uint8_t)(1u << (i % 8));
				}
			}
		}
next:
		esmpi_aead_free(k[0]);
		esmpi_aead_free(k[1]);
	}
	CHECK_INT_EQ(opened, (int)NSUITES * 4);
	CHECK_INT_EQ(accepted, 0);
	CHECK_INT_EQ(dirty, 0);
}

int
main(void)
{
	test_constants();
	test_plain();
	for (engine = ESMPI_ENGINE_OPENSSL; engine <= ESMPI_ENGINE_IPSEC_MB;
	    engine++) {
		/* crypto_test fails if ipsec-mb is built in and unusable. */
		if (esmpi_engine_check(engine, NULL, 0) != 0)
			continue;
		printf("engine %s\n", esmpi_engine_name(engine));
		test_roundtrip();
		test_tamper();
		test_prepared();
		test_head();
		test_wrong_key();
		test_binding();
		test_seal_errors();
		test_replay_with_open();
		test_frozen();
	}
	if (esmpi_engine_check(ESMPI_ENGINE_IPSEC_MB, NULL, 0) == 0)
		test_tamper_engines();
	engine = ESMPI_ENGINE_AUTO;
	test_replay_table();
	test_order_table();
	test_replay_edges();
	test_replay_model();
	return check_report("record_test");
}
