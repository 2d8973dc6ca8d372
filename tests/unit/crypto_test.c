/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Suite table, AEAD and HKDF against published vectors, tamper checks.
 * The AEAD tests run through each engine (OpenSSL, ipsec-mb), and the
 * engines must agree byte for byte.
 */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"
#include "esmpi_crypto.h"
#include "esmpi_err.h"

#include "../vectors/aead_vectors.h"
#include "../vectors/hkdf_vectors.h"

#define MAXBUF	256
/* A record's AAD length (esmpi_record.h), what the library passes. */
#define ESMPI_REC_AAD_LEN_T	68

/* libclient's ESMPI_CHUNK_PT (libclient/esmpi_client.h needs MPI): the
 * plaintext of one chunk of a large message. */
#define CHUNK_PT	((256u << 10) - 1024)

static int engine;	/* the engine the AEAD tests run on */

/* A key on the engine under test. */
static int
new_key(struct esmpi_aead **a, int suite, const uint8_t *key, size_t len)
{
	int r = esmpi_aead_new_engine(a, engine, suite, key, len);

	if (r == 0)
		CHECK_INT_EQ(esmpi_aead_engine(*a), engine);
	return r;
}

static void
test_suites(void)
{
	static const char *names[] = { "none", "aes-128-gcm", "aes-256-gcm",
	    "chacha20-poly1305" };
	const struct esmpi_suite_info *s, *a128, *a256, *cc, *none;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		s = esmpi_suite_by_name(names[i]);
		CHECK(s != NULL);
		if (s == NULL)
			continue;
		CHECK(strcmp(s->name, names[i]) == 0);
		CHECK(esmpi_suite_by_id(s->id) == s);
	}
	none = esmpi_suite_by_id(ESMPI_SUITE_NONE);
	a128 = esmpi_suite_by_id(ESMPI_SUITE_AES_128_GCM);
	a256 = esmpi_suite_by_id(ESMPI_SUITE_AES_256_GCM);
	cc = esmpi_suite_by_id(ESMPI_SUITE_CHACHA20_POLY1305);
	CHECK(none != NULL && a128 != NULL && a256 != NULL && cc != NULL);
	if (none == NULL || a128 == NULL || a256 == NULL || cc == NULL)
		return;
	CHECK_INT_EQ(none->key_len, 0);
	CHECK_INT_EQ(a128->key_len, 16);
	CHECK_INT_EQ(a256->key_len, 32);
	CHECK_INT_EQ(cc->key_len, 32);
	CHECK(none->strength < a128->strength);
	CHECK(a128->strength < a256->strength);
	CHECK(a128->strength < cc->strength);

	CHECK(esmpi_suite_by_name(NULL) == NULL);
	CHECK(esmpi_suite_by_name("") == NULL);
	CHECK(esmpi_suite_by_name("AES-256-GCM") == NULL);
	CHECK(esmpi_suite_by_name("aes-256-gcm ") == NULL);
	CHECK(esmpi_suite_by_name("3des-cbc-hmac-sha256") == NULL);
	CHECK(esmpi_suite_by_id(4) == NULL);
	CHECK(esmpi_suite_by_id(-1) == NULL);
	CHECK(esmpi_suite_by_id(255) == NULL);
}

static void
test_aead_new(void)
{
	uint8_t key[32] = { 1 };
	struct esmpi_aead *a = (struct esmpi_aead *)&a;

	CHECK_INT_EQ(esmpi_aead_new(&a, ESMPI_SUITE_NONE, key, 0),
	    ESMPI_ERR_SUITE);
	CHECK_INT_EQ(esmpi_aead_new(&a, 42, key, 32), ESMPI_ERR_SUITE);
	CHECK_INT_EQ(esmpi_aead_new(&a, ESMPI_SUITE_AES_128_GCM, key, 32),
	    ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_aead_new(&a, ESMPI_SUITE_AES_256_GCM, key, 16),
	    ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_aead_new(&a, ESMPI_SUITE_CHACHA20_POLY1305, key,
	    31), ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_aead_new(&a, ESMPI_SUITE_AES_256_GCM, NULL, 32),
	    ESMPI_ERR_INVALID);
	/* Out-parameter untouched on failure. */
	CHECK(a == (struct esmpi_aead *)&a);
	esmpi_aead_free(NULL);
}

/*
 * Open with one byte of buf (ct, tag, aad or nonce) flipped at a time:
 * every attempt must fail and leave the output all zero.
 */
static void
tamper_each(struct esmpi_aead *a, uint8_t *buf, size_t buflen,
    const uint8_t *ct, const uint8_t *tag, const uint8_t *nonce,
    const uint8_t *aad, size_t aad_len, size_t len, const char *what)
{
	uint8_t out[MAXBUF];
	size_t i;
	int r, bad = 0, dirty = 0;

	for (i = 0; i < buflen; i++) {
		buf[i] ^= 0x01;
		memset(out, 0xaa, sizeof(out));
		r = esmpi_aead_open(a, out, ct, len, tag, nonce, aad, aad_len);
		if (r != ESMPI_ERR_AUTH)
			bad++;
		if (!all_zero(out, len))
			dirty++;
		buf[i] ^= 0x01;
	}
	if (bad || dirty)
		fprintf(stderr, "tamper %s: %d accepted, %d not wiped\n",
		    what, bad, dirty);
	CHECK_INT_EQ(bad, 0);
	CHECK_INT_EQ(dirty, 0);
}

/*
 * A context prepared ahead (esmpi_aead_prepare) seals and opens exactly
 * like a fresh one when the guess was right, starts afresh when the
 * nonce or the AAD differ, and a prepared open still refuses tampering.
 */
static void
test_prepared(struct esmpi_aead *a, const char *name, const uint8_t *pt,
    size_t plen, const uint8_t *want_ct, const uint8_t *want_tag,
    const uint8_t *nonce, const uint8_t *aad, size_t alen)
{
	uint8_t ct[MAXBUF], out[MAXBUF], tag[ESMPI_AEAD_TAG_LEN];
	uint8_t n2[ESMPI_AEAD_NONCE_LEN], a2[MAXBUF];
	int enc, bad = 0;

	if (alen == 0) {
		CHECK_INT_EQ(esmpi_aead_prepare(a, 1, nonce, aad, 0),
		    ESMPI_ERR_INVALID);
		return;
	}
	memcpy(n2, nonce, sizeof(n2));
	n2[ESMPI_AEAD_NONCE_LEN - 1] ^= 1;
	memcpy(a2, aad, alen);
	a2[alen - 1] ^= 1;
	for (enc = 0; enc < 2; enc++) {
		/* The right guess, a wrong nonce, a wrong AAD, a shorter
		 * AAD: the vector comes out every time. */
		const uint8_t *gn[4] = { nonce, n2, nonce, nonce };
		const uint8_t *ga[4] = { aad, aad, a2, aad };
		size_t gl[4] = { alen, alen, alen, alen - 1 };

		for (int g = 0; g < 4; g++) {
			if (gl[g] == 0)
				continue;
			CHECK_INT_EQ(esmpi_aead_prepare(a, enc, gn[g], ga[g],
			    gl[g]), 0);
			memset(ct, 0, sizeof(ct));
			memset(out, 0xaa, sizeof(out));
			if (enc) {
				CHECK_INT_EQ(esmpi_aead_seal(a, ct, tag, pt,
				    plen, nonce, aad, alen), 0);
				bad += memcmp(ct, want_ct, plen) != 0 ||
				    memcmp(tag, want_tag, sizeof(tag)) != 0;
			} else {
				CHECK_INT_EQ(esmpi_aead_open(a, out, want_ct,
				    plen, want_tag, nonce, aad, alen), 0);
				bad += memcmp(out, pt, plen) != 0;
			}
		}
	}
	if (bad)
		fprintf(stderr, "%s: %d prepared seals/opens differ\n", name,
		    bad);
	CHECK_INT_EQ(bad, 0);
	/* Prepared for the right record, given a tampered one. */
	memcpy(ct, want_ct, plen);
	memcpy(tag, want_tag, sizeof(tag));
	tag[0] ^= 0x01;
	CHECK_INT_EQ(esmpi_aead_prepare(a, 0, nonce, aad, alen), 0);
	memset(out, 0xaa, sizeof(out));
	CHECK_INT_EQ(esmpi_aead_open(a, out, ct, plen, tag, nonce, aad, alen),
	    ESMPI_ERR_AUTH);
	CHECK(all_zero(out, plen));
	/* Prepared for one AAD, opened with another (the sender's). */
	CHECK_INT_EQ(esmpi_aead_prepare(a, 0, nonce, aad, alen), 0);
	CHECK_INT_EQ(esmpi_aead_open(a, out, want_ct, plen, want_tag, nonce,
	    a2, alen), ESMPI_ERR_AUTH);
	/* A preparation is used once: the same seal twice, same result. */
	CHECK_INT_EQ(esmpi_aead_prepare(a, 1, nonce, aad, alen), 0);
	CHECK_INT_EQ(esmpi_aead_seal(a, ct, tag, pt, plen, nonce, aad, alen), 0);
	CHECK_INT_EQ(esmpi_aead_seal(a, ct, tag, pt, plen, nonce, aad, alen), 0);
	CHECK(memcmp(ct, want_ct, plen) == 0 &&
	    memcmp(tag, want_tag, sizeof(tag)) == 0);
	CHECK_INT_EQ(esmpi_aead_prepare(a, 1, nonce, aad,
	    ESMPI_AEAD_PREPARE_MAX_AAD + 1), ESMPI_ERR_INVALID);
}

static void
test_kat(const struct aead_kat *v)
{
	uint8_t key[32], nonce[ESMPI_AEAD_NONCE_LEN], aad[MAXBUF];
	uint8_t pt[MAXBUF], ct[MAXBUF], tag[ESMPI_AEAD_TAG_LEN];
	uint8_t want_ct[MAXBUF], want_tag[ESMPI_AEAD_TAG_LEN];
	uint8_t out[MAXBUF], buf[MAXBUF], t2[ESMPI_AEAD_TAG_LEN];
	struct esmpi_aead *a = NULL;
	int klen, nlen, alen, plen, clen, tlen, r;

	klen = unhex(v->key, key, sizeof(key));
	nlen = unhex(v->nonce, nonce, sizeof(nonce));
	alen = unhex(v->aad, aad, sizeof(aad));
	plen = unhex(v->pt, pt, sizeof(pt));
	clen = unhex(v->ct, want_ct, sizeof(want_ct));
	tlen = unhex(v->tag, want_tag, sizeof(want_tag));
	CHECK(klen > 0 && nlen == ESMPI_AEAD_NONCE_LEN && alen >= 0 &&
	    plen >= 0 && clen == plen && tlen == ESMPI_AEAD_TAG_LEN);
	if (!(klen > 0 && nlen == ESMPI_AEAD_NONCE_LEN && alen >= 0 &&
	    plen >= 0 && clen == plen && tlen == ESMPI_AEAD_TAG_LEN)) {
		fprintf(stderr, "%s: bad vector\n", v->name);
		return;
	}

	r = new_key(&a, v->suite, key, (size_t)klen);
	CHECK_INT_EQ(r, 0);
	if (r != 0)
		return;

	/* Seal twice: the reused context must give the same answer. */
	for (int round = 0; round < 2; round++) {
		memset(ct, 0, sizeof(ct));
		CHECK_INT_EQ(esmpi_aead_seal(a, ct, tag, pt, (size_t)plen,
		    nonce, aad, (size_t)alen), 0);
		CHECK(memcmp(ct, want_ct, (size_t)plen) == 0);
		CHECK(memcmp(tag, want_tag, sizeof(tag)) == 0);
	}
	if (memcmp(ct, want_ct, (size_t)plen) != 0 ||
	    memcmp(tag, want_tag, sizeof(tag)) != 0)
		fprintf(stderr, "%s: seal differs from vector\n", v->name);

	memset(out, 0xaa, sizeof(out));
	CHECK_INT_EQ(esmpi_aead_open(a, out, want_ct, (size_t)plen, want_tag,
	    nonce, aad, (size_t)alen), 0);
	CHECK(memcmp(out, pt, (size_t)plen) == 0);

	/* In place, both directions. */
	memcpy(buf, pt, (size_t)plen);
	CHECK_INT_EQ(esmpi_aead_seal(a, buf, t2, buf, (size_t)plen, nonce,
	    aad, (size_t)alen), 0);
	CHECK(memcmp(buf, want_ct, (size_t)plen) == 0);
	CHECK(memcmp(t2, want_tag, sizeof(t2)) == 0);
	CHECK_INT_EQ(esmpi_aead_open(a, buf, buf, (size_t)plen, t2, nonce,
	    aad, (size_t)alen), 0);
	CHECK(memcmp(buf, pt, (size_t)plen) == 0);

	/* Every single-byte change fails and wipes. */
	memcpy(ct, want_ct, (size_t)plen);
	memcpy(tag, want_tag, sizeof(tag));
	tamper_each(a, ct, (size_t)plen, ct, tag, nonce, aad, (size_t)alen,
	    (size_t)plen, "ct");
	tamper_each(a, tag, sizeof(tag), ct, tag, nonce, aad, (size_t)alen,
	    (size_t)plen, "tag");
	tamper_each(a, aad, (size_t)alen, ct, tag, nonce, aad, (size_t)alen,
	    (size_t)plen, "aad");
	tamper_each(a, nonce, sizeof(nonce), ct, tag, nonce, aad,
	    (size_t)alen, (size_t)plen, "nonce");

	/* Extra or missing AAD byte. */
	memset(out, 0xaa, sizeof(out));
	CHECK_INT_EQ(esmpi_aead_open(a, out, ct, (size_t)plen, tag, nonce,
	    aad, (size_t)alen + 1), ESMPI_ERR_AUTH);
	CHECK(all_zero(out, (size_t)plen));
	if (alen > 0) {
		CHECK_INT_EQ(esmpi_aead_open(a, out, ct, (size_t)plen, tag,
		    nonce, aad, (size_t)alen - 1), ESMPI_ERR_AUTH);
		CHECK(all_zero(out, (size_t)plen));
	}
	/* A shorter ciphertext with the same tag. */
	if (plen > 0) {
		memset(out, 0xaa, sizeof(out));
		CHECK_INT_EQ(esmpi_aead_open(a, out, ct, (size_t)plen - 1,
		    tag, nonce, aad, (size_t)alen), ESMPI_ERR_AUTH);
		CHECK(all_zero(out, (size_t)plen - 1));
	}
	/* In place failure wipes the buffer that held the ciphertext. */
	if (plen > 0) {
		memcpy(buf, ct, (size_t)plen);
		buf[0] ^= 0x80;
		CHECK_INT_EQ(esmpi_aead_open(a, buf, buf, (size_t)plen, tag,
		    nonce, aad, (size_t)alen), ESMPI_ERR_AUTH);
		CHECK(all_zero(buf, (size_t)plen));
	}

	/* The context still works after all those failures. */
	memset(out, 0xaa, sizeof(out));
	CHECK_INT_EQ(esmpi_aead_open(a, out, ct, (size_t)plen, tag, nonce,
	    aad, (size_t)alen), 0);
	CHECK(memcmp(out, pt, (size_t)plen) == 0);

	test_prepared(a, v->name, pt, (size_t)plen, want_ct, want_tag, nonce,
	    aad, (size_t)alen);

	/* Partially overlapping buffers are refused. */
	if (plen > 1) {
		memcpy(buf, pt, (size_t)plen);
		CHECK_INT_EQ(esmpi_aead_seal(a, buf + 1, t2, buf,
		    (size_t)plen - 1, nonce, aad, (size_t)alen),
		    ESMPI_ERR_INVALID);
		CHECK_INT_EQ(esmpi_aead_open(a, buf, buf + 1,
		    (size_t)plen - 1, t2, nonce, aad, (size_t)alen),
		    ESMPI_ERR_INVALID);
	}
	esmpi_aead_free(a);
}

/* Different keys under the same nonce must not open each other's data. */
static void
test_cross_key(void)
{
	uint8_t k1[32], k2[32], nonce[ESMPI_AEAD_NONCE_LEN] = { 0 };
	uint8_t pt[40], ct[40], out[40], tag[ESMPI_AEAD_TAG_LEN];
	struct esmpi_aead *a = NULL, *b = NULL;

	memset(k1, 0x11, sizeof(k1));
	memset(k2, 0x11, sizeof(k2));
	k2[31] ^= 1;
	memset(pt, 'p', sizeof(pt));
	CHECK_INT_EQ(new_key(&a, ESMPI_SUITE_AES_256_GCM, k1, 32), 0);
	CHECK_INT_EQ(new_key(&b, ESMPI_SUITE_AES_256_GCM, k2, 32), 0);
	if (a == NULL || b == NULL)
		goto out;
	CHECK_INT_EQ(esmpi_aead_seal(a, ct, tag, pt, sizeof(pt), nonce,
	    NULL, 0), 0);
	memset(out, 0xaa, sizeof(out));
	CHECK_INT_EQ(esmpi_aead_open(b, out, ct, sizeof(ct), tag, nonce,
	    NULL, 0), ESMPI_ERR_AUTH);
	CHECK(all_zero(out, sizeof(out)));
	CHECK_INT_EQ(esmpi_aead_open(a, out, ct, sizeof(ct), tag, nonce,
	    NULL, 0), 0);
	CHECK(memcmp(out, pt, sizeof(pt)) == 0);
out:
	esmpi_aead_free(a);
	esmpi_aead_free(b);
}

/*
 * From 4 KiB a seal goes through a cache-resident piece buffer and
 * streaming stores: same ciphertext and tag as the in-place seal (which
 * does not stream), at any destination alignment, for one piece, several
 * and a part of one, and it opens. (4095 bytes: below, not streamed.)
 */
static void
test_streamed(void)
{
	static const size_t lens[] = { 4095, 4096, 16u << 10,
		(16u << 10) + 1, 256u << 10, (1u << 20) + 7 };
	static const int suites[] = { ESMPI_SUITE_AES_128_GCM,
		ESMPI_SUITE_AES_256_GCM, ESMPI_SUITE_CHACHA20_POLY1305 };
	uint8_t key[32] = { 3 }, nonce[ESMPI_AEAD_NONCE_LEN] = { 5 };
	uint8_t aad[20] = { 1 }, t1[ESMPI_AEAD_TAG_LEN], t2[ESMPI_AEAD_TAG_LEN];
	size_t maxl = (1u << 20) + 64, i, l, off;
	uint8_t *pt = malloc(maxl), *ref = malloc(maxl), *ct = malloc(maxl);
	uint8_t *back = malloc(maxl);
	int si;

	CHECK(pt != NULL && ref != NULL && ct != NULL && back != NULL);
	if (pt == NULL || ref == NULL || ct == NULL || back == NULL)
		goto out;
	for (i = 0; i < maxl; i++)
		pt[i] = (uint8_t)(i * 7 + 1);
	for (si = 0; si < 3; si++) {
		const struct esmpi_suite_info *info =
		    esmpi_suite_by_id(suites[si]);
		struct esmpi_aead *a = NULL;

		CHECK_INT_EQ(new_key(&a, suites[si], key, info->key_len), 0);
		for (l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			size_t len = lens[l];

			memcpy(ref, pt, len);
			CHECK_INT_EQ(esmpi_aead_seal(a, ref, t1, ref, len, nonce,
			    aad, sizeof(aad)), 0);
			for (off = 0; off < 4; off++) {
				CHECK_INT_EQ(esmpi_aead_seal(a, ct + off * 9, t2, pt,
				    len, nonce, aad, sizeof(aad)), 0);
				CHECK(memcmp(ct + off * 9, ref, len) == 0);
				CHECK(memcmp(t1, t2, sizeof(t1)) == 0);
				CHECK_INT_EQ(esmpi_aead_open(a, back, ct + off * 9,
				    len, t2, nonce, aad, sizeof(aad)), 0);
				CHECK(memcmp(back, pt, len) == 0);
			}
		}
		esmpi_aead_free(a);
	}
out:
	free(pt);
	free(ref);
	free(ct);
	free(back);
}

/* Above 1 GiB the EVP calls are chunked; slow, so only on request. */
static void
test_large(void)
{
	size_t len = (1UL << 30) + 4099;
	uint8_t key[32] = { 7 }, nonce[ESMPI_AEAD_NONCE_LEN] = { 9 };
	uint8_t tag[ESMPI_AEAD_TAG_LEN];
	struct esmpi_aead *a = NULL;
	uint8_t *buf;
	size_t i;
	int ok = 1;

	if (getenv("ESMPI_TEST_LARGE") == NULL)
		return;
	if ((buf = malloc(len)) == NULL)
		return;
	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 31);
	CHECK_INT_EQ(new_key(&a, ESMPI_SUITE_AES_128_GCM, key, 16), 0);
	CHECK_INT_EQ(esmpi_aead_seal(a, buf, tag, buf, len, nonce, NULL, 0),
	    0);
	CHECK_INT_EQ(esmpi_aead_open(a, buf, buf, len, tag, nonce, NULL, 0),
	    0);
	for (i = 0; i < len; i++)
		if (buf[i] != (uint8_t)(i * 31))
			ok = 0;
	CHECK(ok);
	buf[len - 1] ^= 1;
	CHECK_INT_EQ(esmpi_aead_open(a, buf, buf, len, tag, nonce, NULL, 0),
	    ESMPI_ERR_AUTH);
	CHECK(all_zero(buf, len));
	esmpi_aead_free(a);
	free(buf);
}

/*
 * The engine API: the key of esmpi_aead_new is on the selected engine,
 * named by esmpi_aead_engine_name; unknown engines are refused; ipsec-mb
 * is usable wherever it is built in (this test fails rather than skip
 * it), and says why not where it is not.
 */
static void
test_engine_api(void)
{
	uint8_t key[32] = { 1 };
	struct esmpi_aead *a = NULL;
	char err[256];
	int sel;

	CHECK_INT_EQ(esmpi_crypto_select(err, sizeof(err)), 0);
	CHECK_INT_EQ(err[0], '\0');
	CHECK_INT_EQ(esmpi_aead_new(&a, ESMPI_SUITE_AES_256_GCM, key, 32), 0);
	sel = esmpi_aead_engine(a);
	CHECK(sel == ESMPI_ENGINE_OPENSSL || sel == ESMPI_ENGINE_IPSEC_MB);
	CHECK(strcmp(esmpi_aead_engine_name(), esmpi_engine_name(sel)) == 0);
	esmpi_aead_free(a);
	printf("selected AEAD engine: %s\n", esmpi_aead_engine_name());

	CHECK_INT_EQ(esmpi_engine_check(ESMPI_ENGINE_OPENSSL, err,
	    sizeof(err)), 0);
	CHECK(strcmp(esmpi_engine_name(ESMPI_ENGINE_OPENSSL), "openssl") == 0);
	CHECK_INT_EQ(esmpi_engine_check(ESMPI_ENGINE_AUTO, err, sizeof(err)),
	    ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_engine_check(7, NULL, 0), ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_aead_new_engine(&a, 7, ESMPI_SUITE_AES_256_GCM,
	    key, 32), ESMPI_ERR_INVALID);
	CHECK(strcmp(esmpi_engine_name(-1), "?") == 0);
#ifdef ESMPI_HAVE_IPSEC_MB
	CHECK_INT_EQ(esmpi_engine_check(ESMPI_ENGINE_IPSEC_MB, err,
	    sizeof(err)), 0);
	if (err[0] != '\0')
		fprintf(stderr, "ipsec-mb is built in but unusable: %s\n", err);
	CHECK(strncmp(esmpi_engine_name(ESMPI_ENGINE_IPSEC_MB), "ipsec-mb/",
	    9) == 0);
	/* Chosen over OpenSSL when nothing forces one. */
	if (getenv("ESMPI_CRYPTO") == NULL)
		CHECK_INT_EQ(sel, ESMPI_ENGINE_IPSEC_MB);
#else
	CHECK_INT_EQ(esmpi_engine_check(ESMPI_ENGINE_IPSEC_MB, err,
	    sizeof(err)), ESMPI_ERR_CRYPTO);
	CHECK_STR_CONTAINS(err, "not in this build");
	CHECK_INT_EQ(esmpi_aead_new_engine(&a, ESMPI_ENGINE_IPSEC_MB,
	    ESMPI_SUITE_AES_256_GCM, key, 32), ESMPI_ERR_CRYPTO);
	printf("ipsec-mb is not in this build: OpenSSL alone tested\n");
#endif
}

static void
fill(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + seed);
}

/*
 * The wire does not depend on the engine: for every length from 0 to
 * 4096 and a chunk's, each suite, a seal on one engine gives the other's
 * bytes and opens on the other, separate and in place (4 KiB and more
 * also through the streamed seal).
 */
static void
test_engines_agree(void)
{
	const size_t maxl = CHUNK_PT;
	uint8_t key[32], nonce[ESMPI_AEAD_NONCE_LEN], aad[68];
	uint8_t t[2][ESMPI_AEAD_TAG_LEN];
	uint8_t *pt = malloc(maxl), *ct[2], *out = malloc(maxl);
	struct esmpi_aead *k[2];
	size_t len;
	int si, e, diff, bad;

	ct[0] = malloc(maxl);
	ct[1] = malloc(maxl);
	CHECK(pt != NULL && out != NULL && ct[0] != NULL && ct[1] != NULL);
	if (pt == NULL || out == NULL || ct[0] == NULL || ct[1] == NULL)
		goto out;
	fill(pt, maxl, 3);
	fill(key, sizeof(key), 9);
	fill(aad, sizeof(aad), 5);
	for (si = ESMPI_SUITE_AES_128_GCM; si <= ESMPI_SUITE_CHACHA20_POLY1305;
	    si++) {
		size_t kl = esmpi_suite_by_id(si)->key_len;

		CHECK_INT_EQ(esmpi_aead_new_engine(&k[0], ESMPI_ENGINE_OPENSSL,
		    si, key, kl), 0);
		CHECK_INT_EQ(esmpi_aead_new_engine(&k[1],
		    ESMPI_ENGINE_IPSEC_MB, si, key, kl), 0);
		diff = bad = 0;
		for (len = 0; len <= 4097; len++) {
			size_t n = len == 4097 ? maxl : len;

			memcpy(nonce, &n, sizeof(n));
			memset(nonce + sizeof(n), si, sizeof(nonce) - sizeof(n));
			for (e = 0; e < 2; e++)
				bad += esmpi_aead_seal(k[e], ct[e], t[e], pt, n,
				    nonce, aad, sizeof(aad)) != 0;
			diff += memcmp(ct[0], ct[1], n) != 0 ||
			    memcmp(t[0], t[1], sizeof(t[0])) != 0;
			/* Each opens the other's: into out, then in place. */
			for (e = 0; e < 2; e++) {
				memset(out, 0xaa, n);
				bad += esmpi_aead_open(k[e], out, ct[!e], n,
				    t[!e], nonce, aad, sizeof(aad)) != 0 ||
				    memcmp(out, pt, n) != 0;
			}
			bad += esmpi_aead_open(k[1], ct[0], ct[0], n, t[0],
			    nonce, aad, sizeof(aad)) != 0 ||
			    memcmp(ct[0], pt, n) != 0;
			memcpy(ct[0], pt, n);
			bad += esmpi_aead_seal(k[1], ct[0], t[1], ct[0], n,
			    nonce, aad, sizeof(aad)) != 0 ||
			    esmpi_aead_open(k[0], ct[0], ct[0], n, t[1],
			    nonce, aad, sizeof(aad)) != 0 ||
			    memcmp(ct[0], pt, n) != 0;
		}
		if (diff || bad)
			fprintf(stderr, "%s: engines differ at %d lengths, "
			    "%d failures\n", esmpi_suite_name(si), diff, bad);
		CHECK_INT_EQ(diff, 0);
		CHECK_INT_EQ(bad, 0);
		esmpi_aead_free(k[0]);
		esmpi_aead_free(k[1]);
	}
out:
	free(pt);
	free(out);
	free(ct[0]);
	free(ct[1]);
}

/*
 * A message sealed in parts is the message sealed whole, byte for byte
 * and tag, for splits at every offset of small messages and at block
 * and non-block offsets of a large one (the streamed seal from 4 KiB);
 * opened in parts (split elsewhere) it is the text again; a flipped byte
 * in any part or the tag is refused with every part's output wiped.
 */
static void
test_parts(void)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 63, 200, 70001 };
	const size_t max = 70001;
	uint8_t key[32], nonce[ESMPI_AEAD_NONCE_LEN], aad[17];
	uint8_t tag[ESMPI_AEAD_TAG_LEN], tag2[ESMPI_AEAD_TAG_LEN];
	uint8_t *pt = malloc(max), *ct = malloc(max), *ct2 = malloc(max);
	uint8_t *out = malloc(max);
	struct esmpi_aead_part pp[ESMPI_AEAD_MAX_PARTS];
	size_t li, len, a, b, step;
	int si, bad = 0;

	CHECK(pt && ct && ct2 && out);
	if (!(pt && ct && ct2 && out))
		goto done;
	fill(key, sizeof(key), 3);
	fill(nonce, sizeof(nonce), 4);
	fill(aad, sizeof(aad), 5);
	fill(pt, max, 6);
	for (si = ESMPI_SUITE_AES_128_GCM; si <= ESMPI_SUITE_CHACHA20_POLY1305;
	    si++) {
		struct esmpi_aead *k = NULL;

		if (new_key(&k, si, key, esmpi_suite_by_id(si)->key_len)) {
			CHECK(0);
			continue;
		}
		for (li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
			len = lens[li];
			bad += esmpi_aead_seal(k, ct, tag, pt, len, nonce, aad,
			    sizeof(aad)) != 0;
			step = len > 300 ? 4099 : 1;
			for (a = 0; a <= len; a += step) {
				b = a + (len - a) / 3;
				/* head, middle, tail: out of place */
				pp[0] = (struct esmpi_aead_part){ ct2, pt, a };
				pp[1] = (struct esmpi_aead_part){ ct2 + a,
				    pt + a, b - a };
				pp[2] = (struct esmpi_aead_part){ ct2 + b,
				    pt + b, len - b };
				bad += esmpi_aead_seal_parts(k, pp, 3, tag2,
				    nonce, aad, sizeof(aad)) != 0 ||
				    memcmp(ct, ct2, len) != 0 ||
				    memcmp(tag, tag2, sizeof(tag)) != 0;
				/* open in two parts split at b, the first in
				 * place */
				memcpy(ct2, ct, len);
				pp[0] = (struct esmpi_aead_part){ ct2, ct2, b };
				pp[1] = (struct esmpi_aead_part){ out + b,
				    ct2 + b, len - b };
				bad += esmpi_aead_open_parts(k, pp, 2, tag,
				    nonce, aad, sizeof(aad)) != 0 ||
				    memcmp(ct2, pt, b) != 0 ||
				    memcmp(out + b, pt + b, len - b) != 0;
				/* a byte of either part or the tag flipped */
				memcpy(ct2, ct, len);
				memcpy(tag2, tag, sizeof(tag));
				if (len > 0)
					ct2[(a + len / 2) % len] ^= 0x40;
				else
					tag2[0] ^= 1;
				pp[0] = (struct esmpi_aead_part){ out, ct2, b };
				pp[1] = (struct esmpi_aead_part){ out + b,
				    ct2 + b, len - b };
				bad += esmpi_aead_open_parts(k, pp, 2, tag2,
				    nonce, aad, sizeof(aad)) != ESMPI_ERR_AUTH
				    || !all_zero(out, len);
			}
		}
		/* Too many parts, or none: refused, outputs wiped. */
		memset(out, 1, 8);
		pp[0] = (struct esmpi_aead_part){ out, ct, 8 };
		bad += esmpi_aead_open_parts(k, pp, 0, tag, nonce, aad,
		    sizeof(aad)) != ESMPI_ERR_INVALID;
		bad += esmpi_aead_seal_parts(k, pp, ESMPI_AEAD_MAX_PARTS + 1,
		    tag, nonce, aad, sizeof(aad)) != ESMPI_ERR_INVALID;
		bad += esmpi_aead_open_parts(k, pp, 1, NULL, nonce, aad,
		    sizeof(aad)) != ESMPI_ERR_INVALID || !all_zero(out, 8);
		esmpi_aead_free(k);
	}
	if (bad)
		fprintf(stderr, "parts: %d failures\n", bad);
	CHECK_INT_EQ(bad, 0);
done:
	free(pt);
	free(ct);
	free(ct2);
	free(out);
}

/* len usable bytes between two inaccessible pages (page-rounded). */
static uint8_t *
guarded(size_t len, size_t *usable)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), u = (len + pg - 1) / pg * pg;
	uint8_t *p = mmap(NULL, u + 2 * pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p, pg, PROT_NONE) != 0 ||
	    mprotect(p + pg + u, pg, PROT_NONE) != 0) {
		munmap(p, u + 2 * pg);
		return NULL;
	}
	*usable = u;
	return p + pg;
}

static void
unguard(uint8_t *p, size_t usable)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	if (p != NULL)
		munmap(p - pg, usable + 2 * pg);
}

/*
 * ASan does not see into ipsec-mb (uninstrumented assembly) or OpenSSL:
 * here every buffer an engine reads or writes (text, tag, nonce, AAD)
 * ends at, or starts after, an inaccessible page, so a single byte out
 * of bounds is a SIGSEGV. Lengths 0 to 320 (every tail and block-count
 * branch of the small-message code) and around a page.
 */
static void
test_guard_pages(void)
{
	static const size_t big[] = { 4095, 4096, 4097, 8192 };
	uint8_t *b[5];
	size_t u[5], i, len;
	int si, bad = 0;

	for (i = 0; i < 5; i++)
		b[i] = guarded(8192, &u[i]);
	CHECK(b[0] && b[1] && b[2] && b[3] && b[4]);
	if (!(b[0] && b[1] && b[2] && b[3] && b[4]))
		goto out;
	fill(b[4], u[4], 1);	/* key, nonce and AAD come from here */
	for (si = ESMPI_SUITE_AES_128_GCM; si <= ESMPI_SUITE_CHACHA20_POLY1305;
	    si++) {
		size_t kl = esmpi_suite_by_id(si)->key_len;
		struct esmpi_aead *a = NULL;
		const uint8_t *nonce = b[4] + u[4] - ESMPI_AEAD_NONCE_LEN;
		const uint8_t *aad = b[4] + u[4] - ESMPI_REC_AAD_LEN_T;
		uint8_t *tag_end = b[3] + u[3] - ESMPI_AEAD_TAG_LEN;

		if (new_key(&a, si, b[4] + u[4] - kl, kl) != 0) {
			CHECK(0);
			continue;
		}
		for (len = 0; len <= 320 + 4; len++) {
			size_t n = len <= 320 ? len : big[len - 321];
			uint8_t *pt_end = b[0] + u[0] - n, *ct_end = b[1] + u[1] - n;
			uint8_t *out_start = b[2];

			fill(pt_end, n, (unsigned int)len);
			/* Ends at a page: text, ciphertext, tag, nonce. */
			bad += esmpi_aead_seal(a, ct_end, tag_end, pt_end, n,
			    nonce, aad, ESMPI_REC_AAD_LEN_T) != 0;
			/* Starts after one: the output of the open. */
			bad += esmpi_aead_open(a, out_start, ct_end, n,
			    tag_end, nonce, aad, ESMPI_REC_AAD_LEN_T) != 0 ||
			    memcmp(out_start, pt_end, n) != 0;
			/* In place at the end of a page, then a forgery
			 * (wiped, in bounds). */
			bad += esmpi_aead_open(a, ct_end, ct_end, n, tag_end,
			    nonce, aad, ESMPI_REC_AAD_LEN_T) != 0 ||
			    memcmp(ct_end, pt_end, n) != 0;
			tag_end[0] ^= 1;
			bad += esmpi_aead_open(a, out_start, pt_end, n, tag_end,
			    nonce, aad, ESMPI_REC_AAD_LEN_T) != ESMPI_ERR_AUTH ||
			    !all_zero(out_start, n);
			/* The AAD's length alone, at a page's end. */
			bad += esmpi_aead_seal(a, ct_end, tag_end, pt_end, n,
			    nonce, b[4] + u[4] - (len % 97),
			    len % 97) != 0;
		}
		esmpi_aead_free(a);
	}
	if (bad)
		fprintf(stderr, "guard pages: %d failures\n", bad);
	CHECK_INT_EQ(bad, 0);
out:
	for (i = 0; i < 5; i++)
		unguard(b[i], u[i]);
}

static void
test_hkdf(void)
{
	uint8_t ikm[MAXBUF], salt[MAXBUF], info[MAXBUF], want[MAXBUF];
	uint8_t out[MAXBUF], out2[MAXBUF];
	size_t i;
	int il, sl, nl, ol;

	for (i = 0; i < sizeof(hkdf_kats) / sizeof(hkdf_kats[0]); i++) {
		const struct hkdf_kat *v = &hkdf_kats[i];

		il = unhex(v->ikm, ikm, sizeof(ikm));
		sl = unhex(v->salt, salt, sizeof(salt));
		nl = unhex(v->info, info, sizeof(info));
		ol = unhex(v->okm, want, sizeof(want));
		CHECK(il > 0 && sl >= 0 && nl >= 0 && ol > 0);
		if (il <= 0 || sl < 0 || nl < 0 || ol <= 0)
			continue;
		memset(out, 0, sizeof(out));
		CHECK_INT_EQ(esmpi_hkdf_sha256(out, (size_t)ol,
		    sl ? salt : NULL, (size_t)sl, ikm, (size_t)il,
		    nl ? info : NULL, (size_t)nl), 0);
		CHECK(memcmp(out, want, (size_t)ol) == 0);
		if (memcmp(out, want, (size_t)ol) != 0)
			fprintf(stderr, "%s: okm differs\n", v->name);
		/* A shorter output is a prefix of the longer one. */
		memset(out2, 0, sizeof(out2));
		CHECK_INT_EQ(esmpi_hkdf_sha256(out2, 7, salt, (size_t)sl,
		    ikm, (size_t)il, info, (size_t)nl), 0);
		CHECK(memcmp(out2, want, 7) == 0);
	}

	/* A.3 again with a non-NULL empty salt: the same output. */
	il = unhex(hkdf_kats[2].ikm, ikm, sizeof(ikm));
	ol = unhex(hkdf_kats[2].okm, want, sizeof(want));
	CHECK_INT_EQ(esmpi_hkdf_sha256(out, (size_t)ol, salt, 0, ikm,
	    (size_t)il, info, 0), 0);
	CHECK(memcmp(out, want, (size_t)ol) == 0);
	/* Info changes the output. */
	CHECK_INT_EQ(esmpi_hkdf_sha256(out, (size_t)ol, NULL, 0, ikm,
	    (size_t)il, (const uint8_t *)"x", 1), 0);
	CHECK(memcmp(out, want, (size_t)ol) != 0);
	/* Empty IKM is allowed by RFC 5869. */
	CHECK_INT_EQ(esmpi_hkdf_sha256(out, 32, NULL, 0, NULL, 0, NULL, 0), 0);

	/* At most 255 * 32 bytes; invalid arguments. */
	{
		uint8_t *big = malloc(255 * 32 + 1);

		CHECK(big != NULL);
		if (big != NULL) {
			CHECK_INT_EQ(esmpi_hkdf_sha256(big, 255 * 32, NULL, 0,
			    ikm, 22, NULL, 0), 0);
			memset(big, 0xaa, 255 * 32 + 1);
			CHECK_INT_EQ(esmpi_hkdf_sha256(big, 255 * 32 + 1,
			    NULL, 0, ikm, 22, NULL, 0), ESMPI_ERR_INVALID);
			free(big);
		}
	}
	CHECK_INT_EQ(esmpi_hkdf_sha256(NULL, 32, NULL, 0, ikm, 22, NULL, 0),
	    ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_hkdf_sha256(out, 0, NULL, 0, ikm, 22, NULL, 0),
	    ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_hkdf_sha256(out, 32, NULL, 3, ikm, 22, NULL, 0),
	    ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_hkdf_sha256(out, 32, NULL, 0, ikm, 22, NULL, 3),
	    ESMPI_ERR_INVALID);
}

static void
test_random(void)
{
	uint8_t a[32], b[32];

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	CHECK_INT_EQ(esmpi_random(a, sizeof(a)), 0);
	CHECK_INT_EQ(esmpi_random(b, sizeof(b)), 0);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	CHECK(!all_zero(a, sizeof(a)));
	CHECK_INT_EQ(esmpi_random(a, 0), 0);
	CHECK_INT_EQ(esmpi_random(NULL, 0), 0);
	CHECK_INT_EQ(esmpi_random(NULL, 1), ESMPI_ERR_INVALID);
}

int
main(void)
{
	size_t i;

	test_suites();
	test_aead_new();
	test_engine_api();
	for (engine = ESMPI_ENGINE_OPENSSL; engine <= ESMPI_ENGINE_IPSEC_MB;
	    engine++) {
		if (esmpi_engine_check(engine, NULL, 0) != 0)
			continue;	/* test_engine_api says why */
		printf("engine %s\n", esmpi_engine_name(engine));
		for (i = 0; i < sizeof(aead_kats) / sizeof(aead_kats[0]); i++)
			test_kat(&aead_kats[i]);
		test_cross_key();
		test_streamed();
		test_parts();
		test_guard_pages();
		test_large();
	}
	if (esmpi_engine_check(ESMPI_ENGINE_IPSEC_MB, NULL, 0) == 0)
		test_engines_agree();
	test_hkdf();
	test_random();
	return check_report("crypto_test");
}
