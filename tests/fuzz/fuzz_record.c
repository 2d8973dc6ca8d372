/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Record layer: the input is a received record. Opening it must never
 * crash, must fail closed (every byte of the output buffer zero, whether
 * the record is opened into a separate buffer, in place or in parts), and
 * when it does open, sealing the plaintext again must give back the input
 * byte for byte. The same bytes also drive the replay window, checked
 * against a plain model of "accepted exactly once, within the window".
 * Every record goes through each AEAD engine (OpenSSL, ipsec-mb where
 * built in), which must agree on whether it opens.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_limits.h"
#include "esmpi_record.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One fixed key per engine and suite; the header's suite byte picks it.
 * The seed generator (gen_seeds.c) seals with the same keys and AAD. */
#define FUZZ_KEY_BYTE	0x42
static const int engines[] = { ESMPI_ENGINE_OPENSSL, ESMPI_ENGINE_IPSEC_MB };
#define NENGINES	(int)(sizeof(engines) / sizeof(engines[0]))
static struct esmpi_aead *keys[NENGINES][4];
static int nengines;		/* built in and usable */

static const struct esmpi_rec_aad fuzz_aad = {
	.job = { 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	    0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a },
	.src = 1,
	.dst = 2,
	.comm = 0x100000002ULL,
	.tag = 17,
	.coll_seq = 0,
};

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_record: %s:%d: check failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t key[ESMPI_AEAD_MAX_KEY_LEN];
	int id;

	char err[256];
	int e;

	memset(key, FUZZ_KEY_BYTE, sizeof(key));
	for (e = 0; e < NENGINES; e++) {
		if (esmpi_engine_check(engines[e], err, sizeof(err)) != 0) {
#ifndef ESMPI_HAVE_IPSEC_MB
			if (engines[e] == ESMPI_ENGINE_IPSEC_MB)
				break;	/* OpenSSL alone in this build */
#endif
			fprintf(stderr, "fuzz_record: %s\n", err);
			abort();
		}
		for (id = ESMPI_SUITE_AES_128_GCM;
		    id <= ESMPI_SUITE_CHACHA20_POLY1305; id++) {
			const struct esmpi_suite_info *s = esmpi_suite_by_id(id);

			if (s == NULL || esmpi_aead_new_engine(&keys[e][id],
			    engines[e], id, key, s->key_len) != 0) {
				fprintf(stderr, "fuzz_record: cannot create "
				    "key %d on %s\n", id,
				    esmpi_engine_name(engines[e]));
				abort();
			}
		}
		nengines = e + 1;
	}
	return 0;
}

static int
all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static struct esmpi_aead *
key_for(int e, const uint8_t *data, size_t size)
{
	if (size >= 2 && data[1] >= ESMPI_SUITE_AES_128_GCM &&
	    data[1] <= ESMPI_SUITE_CHACHA20_POLY1305)
		return keys[e][data[1]];
	return keys[e][ESMPI_SUITE_AES_256_GCM];
}

/* Open data three ways on engine e; all must agree and fail closed.
 * Returns what the first way returned. */
static int
fuzz_open(int e, const uint8_t *data, size_t size)
{
	struct esmpi_aead *k = key_for(e, data, size);
	struct esmpi_rec_hdr h, h2, hp;
	uint8_t *pt, *inplace, *resealed;
	size_t ptcap;
	int r, r2, r3, rp, rd;

	rp = esmpi_rec_parse_hdr(data, size, &hp);
	if (size >= ESMPI_REC_HDR_LEN) {
		rd = esmpi_rec_hdr_decode(data, &h2);
		/* parse_hdr is decode plus the length check. */
		if (rd != 0)
			CHECK(rp == rd);
		if (rp == 0)
			CHECK(rd == 0 && memcmp(&h2, &hp, sizeof(hp)) == 0);
	} else
		CHECK(rp == ESMPI_ERR_TRUNCATED);

	/* Separate output, one byte larger than any plaintext could be. */
	ptcap = size + 1;
	if ((pt = malloc(ptcap)) == NULL)
		abort();
	memset(pt, 0xa5, ptcap);
	memset(&h, 0, sizeof(h));
	r = esmpi_rec_open(k, &fuzz_aad, data, size, pt, ptcap, &h);
	if (r != 0)
		CHECK(all_zero(pt, ptcap));
	else {
		CHECK(rp == 0 && memcmp(&h, &hp, sizeof(h)) == 0);
		/* What opened must seal back to the very same bytes (seal
		 * refuses counters past the reject limit; open leaves that
		 * to the replay window). */
		if (h.seq < ESMPI_REJECT_AFTER_MESSAGES) {
			CHECK((resealed = malloc(size)) != NULL);
			CHECK(esmpi_rec_seal(k, &h, &fuzz_aad, pt, h.length,
			    resealed) == 0);
			CHECK(memcmp(resealed, data, size) == 0);
			free(resealed);
		}
	}

	/* In place: the plaintext lands where the ciphertext was. */
	if (size >= ESMPI_REC_HDR_LEN && (inplace = malloc(size)) != NULL) {
		memcpy(inplace, data, size);
		r2 = esmpi_rec_open(k, &fuzz_aad, inplace, size,
		    inplace + ESMPI_REC_HDR_LEN, size - ESMPI_REC_HDR_LEN, NULL);
		CHECK((r2 == 0) == (r == 0));
		if (r2 != 0)
			CHECK(all_zero(inplace + ESMPI_REC_HDR_LEN,
			    size - ESMPI_REC_HDR_LEN));
		else
			CHECK(memcmp(inplace + ESMPI_REC_HDR_LEN, pt,
			    (size_t)h.length) == 0);
		free(inplace);
	}

	/* In parts: header, ciphertext, tag as three buffers. */
	if (size >= ESMPI_REC_OVERHEAD) {
		size_t ctlen = size - ESMPI_REC_OVERHEAD;

		memset(pt, 0xa5, ptcap);
		r3 = esmpi_rec_open_parts(k, &fuzz_aad, data,
		    data + ESMPI_REC_HDR_LEN, ctlen,
		    data + ESMPI_REC_HDR_LEN + ctlen, pt, ptcap, &h2);
		CHECK(r3 == r);
		if (r3 != 0)
			CHECK(all_zero(pt, ptcap));
		else
			CHECK(memcmp(&h2, &h, sizeof(h)) == 0);
	}

	/* A buffer too small by one byte for the plaintext. */
	if (rp == 0 && hp.length > 0) {
		memset(pt, 0xa5, ptcap);
		r2 = esmpi_rec_open(k, &fuzz_aad, data, size, pt,
		    (size_t)hp.length - 1, NULL);
		CHECK(r2 != 0 && all_zero(pt, (size_t)hp.length - 1));
		CHECK(pt[hp.length - 1] == 0xa5);
	}

	free(pt);
	return r;
}

/* --- replay window against a model --- */

#define MAX_OPS		512

static uint64_t
rd64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int
seen_before(const uint64_t *acc, size_t nacc, uint64_t seq)
{
	size_t i;

	for (i = 0; i < nacc; i++)
		if (acc[i] == seq)
			return 1;
	return 0;
}

/*
 * Each op is a control byte and operands: bit 0..1 pick how the seq is
 * made (near the top, near the window edge, absolute, near the reject
 * limit), bit 2 whether it is only checked or also accepted.
 */
static void
fuzz_replay(const uint8_t *data, size_t size)
{
	static uint64_t acc[MAX_OPS];
	struct esmpi_replay w;
	uint64_t top = 0, seq;
	size_t off = 0, nacc = 0, ops = 0;
	int any = 0, expect, got;

	esmpi_replay_init(&w);
	while (off < size && ops++ < MAX_OPS) {
		uint8_t op = data[off++];
		int16_t delta = 0;

		if ((op & 3) != 2) {
			if (off + 2 > size)
				break;
			delta = (int16_t)(data[off] << 8 | data[off + 1]);
			off += 2;
		}
		switch (op & 3) {
		case 0:		/* around the top */
			seq = top + (uint64_t)(int64_t)delta;
			break;
		case 1:		/* around the bottom of the window */
			seq = top - ESMPI_REPLAY_WINDOW +
			    (uint64_t)(int64_t)(delta % 128);
			break;
		case 2:		/* anywhere */
			if (off + 8 > size)
				return;
			seq = rd64(data + off);
			off += 8;
			break;
		default:	/* around the reject limit */
			seq = ESMPI_REJECT_AFTER_MESSAGES +
			    (uint64_t)(int64_t)(delta % 64);
			break;
		}
		expect = seq < ESMPI_REJECT_AFTER_MESSAGES &&
		    (!any || seq > top ||
		    (top - seq <= ESMPI_REPLAY_WINDOW &&
		    !seen_before(acc, nacc, seq)));
		got = esmpi_replay_check(&w, seq) == 0;
		CHECK(got == expect);
		if ((op & 4) == 0)
			continue;
		esmpi_replay_accept(&w, seq);
		CHECK(esmpi_replay_check(&w, seq) == ESMPI_ERR_REPLAY);
		if (!expect)
			continue;
		acc[nacc++] = seq;
		if (!any || seq > top)
			top = seq;
		any = 1;
		CHECK(w.any && w.top == top);
	}
}

/* A plain record (scope inter-node): taken only when every field agrees,
 * and then exactly the bytes between header and tag. */
static void
fuzz_plain(const uint8_t *data, size_t size)
{
	uint8_t *out;
	size_t len = 0;
	int suite = size >= 2 ? data[1] : 0;

	if ((out = malloc(size + 1)) == NULL)
		return;
	if (esmpi_rec_plain_take(data, size, suite, out, size, &len) == 0) {
		CHECK(esmpi_rec_plain_is(data, size));
		CHECK(size >= ESMPI_REC_OVERHEAD &&
		    len == size - ESMPI_REC_OVERHEAD);
		CHECK(memcmp(out, data + ESMPI_REC_HDR_LEN, len) == 0);
	}
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int e, r0 = 0;

	/* An opened record reseals to its bytes on each engine, so the
	 * engines agree on it; they must also agree on failures. */
	for (e = 0; e < nengines; e++) {
		int r = fuzz_open(e, data, size);

		if (e == 0)
			r0 = r;
		CHECK(r == r0);
	}
	fuzz_plain(data, size);
	fuzz_replay(data, size);
	return 0;
}
