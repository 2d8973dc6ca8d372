/* SPDX-License-Identifier: Apache-2.0 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"

/* EVP_*Update takes an int length; larger buffers go through in pieces. */
#define AEAD_CHUNK	(1U << 30)

struct suite {
	struct esmpi_suite_info info;
	const char *evp_name;		/* NULL for none */
};

static const struct suite suites[] = {
	{ { ESMPI_SUITE_NONE, "none", 0, 0 }, NULL },
	{ { ESMPI_SUITE_AES_128_GCM, "aes-128-gcm", 16, 2 }, "AES-128-GCM" },
	{ { ESMPI_SUITE_AES_256_GCM, "aes-256-gcm", 32, 3 }, "AES-256-GCM" },
	{ { ESMPI_SUITE_CHACHA20_POLY1305, "chacha20-poly1305", 32, 3 },
	    "ChaCha20-Poly1305" },
};

/* Nonce and AAD a context was prepared with (esmpi_aead_prepare). */
struct prepared {
	int valid;
	size_t aad_len;
	uint8_t nonce[ESMPI_AEAD_NONCE_LEN];
	uint8_t aad[ESMPI_AEAD_PREPARE_MAX_AAD];
};

struct esmpi_aead {
	int suite;
	EVP_CIPHER *cipher;
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
	struct prepared ready[2];	/* [0] dec, [1] enc */
};

static const struct suite *
suite_lookup(int id)
{
	size_t i;

	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i].info.id == id)
			return &suites[i];
	return NULL;
}

const struct esmpi_suite_info *
esmpi_suite_by_id(int id)
{
	const struct suite *s = suite_lookup(id);

	return s == NULL ? NULL : &s->info;
}

const char *
esmpi_suite_name(int id)
{
	const struct suite *s = suite_lookup(id);

	return s == NULL ? "?" : s->info.name;
}

const struct esmpi_suite_info *
esmpi_suite_by_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (strcmp(suites[i].info.name, name) == 0)
			return &suites[i].info;
	return NULL;
}

int
esmpi_hkdf_sha256(uint8_t *out, size_t out_len,
    const uint8_t *salt, size_t salt_len,
    const uint8_t *ikm, size_t ikm_len,
    const uint8_t *info, size_t info_len)
{
	static const uint8_t empty[1];
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5], *p = params;
	int r = ESMPI_ERR_CRYPTO;

	/* RFC 5869 §2.3: at most 255 blocks of output. */
	if (out == NULL || out_len == 0 || out_len > 255 * 32 ||
	    (salt == NULL && salt_len > 0) || (ikm == NULL && ikm_len > 0) ||
	    (info == NULL && info_len > 0))
		return ESMPI_ERR_INVALID;

	/*
	 * OSSL_PARAM takes void * but HKDF only copies from it. OpenSSL wants
	 * a non-NULL key pointer even for empty input.
	 */
	if (ikm_len == 0)
		ikm = empty;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)ikm, ikm_len);
	/* An absent salt is HashLen zeros, the same as an empty one. */
	if (salt_len > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
		    (void *)salt, salt_len);
	if (info_len > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
		    (void *)info, info_len);
	*p = OSSL_PARAM_construct_end();

	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL ||
	    (kctx = EVP_KDF_CTX_new(kdf)) == NULL)
		goto out;
	if (EVP_KDF_derive(kctx, out, out_len, params) != 1)
		goto out;
	r = 0;
out:
	if (r != 0)
		esmpi_memzero(out, out_len);
	EVP_KDF_CTX_free(kctx);		/* clears the PRK and key copy */
	EVP_KDF_free(kdf);
	return r;
}

/* True if [a, a+len) and [b, b+len) overlap without being the same. */
static int
partial_overlap(const void *a, const void *b, size_t len)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	if (len == 0 || x == y)
		return 0;
	return x < y ? y - x < len : x - y < len;
}

int
esmpi_aead_new(struct esmpi_aead **out, int suite,
    const uint8_t *key, size_t key_len)
{
	const struct suite *s;
	struct esmpi_aead *a = NULL;
	int r = ESMPI_ERR_CRYPTO;

	if (out == NULL || key == NULL)
		return ESMPI_ERR_INVALID;
	if ((s = suite_lookup(suite)) == NULL || s->evp_name == NULL)
		return ESMPI_ERR_SUITE;
	if (key_len != s->info.key_len)
		return ESMPI_ERR_INVALID;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return ESMPI_ERR_NOMEM;
	a->suite = suite;
	if ((a->cipher = EVP_CIPHER_fetch(NULL, s->evp_name, NULL)) == NULL) {
		r = ESMPI_ERR_SUITE;
		goto out;
	}
	if ((a->enc = EVP_CIPHER_CTX_new()) == NULL ||
	    (a->dec = EVP_CIPHER_CTX_new()) == NULL) {
		r = ESMPI_ERR_NOMEM;
		goto out;
	}
	/*
	 * The key schedule is set up here once; seal and open re-init with
	 * only the nonce. The default IV length is 12 for all three suites.
	 */
	if (EVP_EncryptInit_ex2(a->enc, a->cipher, key, NULL, NULL) != 1 ||
	    EVP_DecryptInit_ex2(a->dec, a->cipher, key, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_get_iv_length(a->enc) != ESMPI_AEAD_NONCE_LEN)
		goto out;

	*out = a;
	a = NULL;
	r = 0;
out:
	esmpi_aead_free(a);
	return r;
}

void
esmpi_aead_free(struct esmpi_aead *a)
{
	if (a == NULL)
		return;
	/* The providers free their key schedules with OPENSSL_clear_free. */
	EVP_CIPHER_CTX_free(a->enc);
	EVP_CIPHER_CTX_free(a->dec);
	EVP_CIPHER_free(a->cipher);
	esmpi_freezero(a, sizeof(*a));
}

/*
 * Ciphertext from 4 KiB is sealed piece by piece into a buffer that stays
 * in this core's cache and streamed to its destination with non-temporal
 * stores. A record above Open MPI's shared-memory eager limit (4 KiB) is
 * read in place by the peer's core (single copy), so its buffer's lines
 * sit in that core's cache when a later record is sealed into it; plain
 * stores would pull each one back first, which cost a 16 KiB ping-pong
 * a third of its time (docs/PERFORMANCE.md). Smaller records are copied
 * out by this core itself and stay in its cache.
 */
#define STREAM_MIN	(4u << 10)
#define STREAM_PIECE	(16u << 10)

static void
stream_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
#if defined(__SSE2__)
	size_t head = (16 - ((uintptr_t)dst & 15)) & 15;

	head = head < n ? head : n;
	memcpy(dst, src, head);
	dst += head;
	src += head;
	n -= head;
	for (; n >= 16; n -= 16, dst += 16, src += 16)
		_mm_stream_si128((__m128i *)(void *)dst,
		    _mm_loadu_si128((const __m128i *)(const void *)src));
#endif
	memcpy(dst, src, n);
}

/* One step of an AEAD on a keyed context: AAD (out NULL), text, or the
 * final step (in NULL). */
static int
aead_step(EVP_CIPHER_CTX *ctx, int enc, uint8_t *out, const uint8_t *in,
    int len)
{
	uint8_t fin[ESMPI_AEAD_TAG_LEN];
	int outl = 0, ok;

	if (in == NULL)
		ok = enc ? EVP_EncryptFinal_ex(ctx, fin, &outl) :
		    EVP_DecryptFinal_ex(ctx, fin, &outl);
	else if (enc)
		ok = EVP_EncryptUpdate(ctx, out, &outl, in, len);
	else
		ok = EVP_DecryptUpdate(ctx, out, &outl, in, len);
	/* Stream modes: output as long as the input, none at the end. */
	return ok == 1 && outl == (in == NULL ? 0 : out == NULL ? outl : len);
}

static int
seal_streamed(const struct esmpi_aead *a, uint8_t *out, const uint8_t *in,
    size_t len)
{
	uint8_t piece[STREAM_PIECE] __attribute__((uninitialized));
	size_t done, n;

	for (done = 0; done < len; done += n) {
		n = len - done > STREAM_PIECE ? STREAM_PIECE : len - done;
		if (!aead_step(a->enc, 1, piece, in + done, (int)n))
			return ESMPI_ERR_CRYPTO;
		stream_copy(out + done, piece, n);
	}
#if defined(__SSE2__)
	_mm_sfence();	/* streamed stores complete before MPI sends */
#endif
	return 0;
}

/* Run len bytes of text through a keyed context; out may equal in. */
static int
aead_update(const struct esmpi_aead *a, int enc, uint8_t *out,
    const uint8_t *in, size_t len)
{
	size_t done, n;

	if (enc && len >= STREAM_MIN && out != in)
		return seal_streamed(a, out, in, len);
	for (done = 0; done < len; done += n) {
		n = len - done > AEAD_CHUNK ? AEAD_CHUNK : len - done;
		if (!aead_step(enc ? a->enc : a->dec, enc, out + done,
		    in + done, (int)n))
			return ESMPI_ERR_CRYPTO;
	}
	return 0;
}

/*
 * After sealing, the tag with one parameter: the same as
 * EVP_CIPHER_CTX_ctrl(EVP_CTRL_AEAD_GET_TAG) without its translation
 * layer, which costs as much as sealing a small message.
 */
static int
aead_get_tag(EVP_CIPHER_CTX *ctx, uint8_t tag[ESMPI_AEAD_TAG_LEN])
{
	OSSL_PARAM p[2] = {
		OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag,
		    ESMPI_AEAD_TAG_LEN),
		OSSL_PARAM_END
	};

	return EVP_CIPHER_CTX_get_params(ctx, p) == 1;
}

/*
 * A new nonce on a keyed context and, to open, the tag to expect (nonce
 * NULL: only the tag, on a prepared context).
 * EVP_CipherInit_ex2 with only an IV queries the IV length through the
 * provider on every call (OpenSSL 3.0), a third of a small message's AEAD
 * cost; the GCM provider takes a whole IV as one parameter instead
 * (AEAD_TLS1_IV_FIXED with length -1: "restore the whole IV", no
 * generation), and the tag in the same call. ChaCha20-Poly1305 has no
 * such parameter and goes through the init.
 */
static int
aead_begin(const struct esmpi_aead *a, EVP_CIPHER_CTX *ctx, int enc,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN],
    uint8_t expect[ESMPI_AEAD_TAG_LEN])
{
	OSSL_PARAM p[3] = {
		OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED,
		    (void *)nonce, (size_t)-1),
		OSSL_PARAM_END,
		OSSL_PARAM_END
	};
	const OSSL_PARAM tag = OSSL_PARAM_octet_string(
	    OSSL_CIPHER_PARAM_AEAD_TAG, expect, ESMPI_AEAD_TAG_LEN);

	if (nonce == NULL ||
	    a->suite == ESMPI_SUITE_CHACHA20_POLY1305) {
		if (nonce != NULL &&
		    EVP_CipherInit_ex2(ctx, NULL, NULL, nonce, enc, NULL) != 1)
			return 0;
		p[0] = expect != NULL ? tag : p[1];
	} else if (expect != NULL)
		p[1] = tag;
	return p[0].key == NULL || EVP_CIPHER_CTX_set_params(ctx, p) == 1;
}

static int
prepared_same(const struct prepared *p,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN], const uint8_t *aad,
    size_t aad_len)
{
	return p->valid && p->aad_len == aad_len &&
	    memcmp(p->nonce, nonce, ESMPI_AEAD_NONCE_LEN) == 0 &&
	    memcmp(p->aad, aad, aad_len) == 0;
}

int
esmpi_aead_prepare(struct esmpi_aead *a, int enc,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN], const uint8_t *aad,
    size_t aad_len)
{
	struct prepared *p;
	EVP_CIPHER_CTX *ctx;

	if (a == NULL || nonce == NULL || aad == NULL || aad_len == 0 ||
	    aad_len > ESMPI_AEAD_PREPARE_MAX_AAD)
		return ESMPI_ERR_INVALID;
	p = &a->ready[enc != 0];
	ctx = enc ? a->enc : a->dec;
	/* Already prepared for it (several receives posted for one peer). */
	if (prepared_same(p, nonce, aad, aad_len))
		return 0;
	p->valid = 0;
	if (!aead_begin(a, ctx, enc != 0, nonce, NULL) ||
	    !aead_step(ctx, enc != 0, NULL, aad, (int)aad_len))
		return ESMPI_ERR_CRYPTO;
	memcpy(p->nonce, nonce, ESMPI_AEAD_NONCE_LEN);
	memcpy(p->aad, aad, aad_len);
	p->aad_len = aad_len;
	p->valid = 1;
	return 0;
}

/*
 * Whether the context was prepared for exactly this nonce and AAD; either
 * way it is not prepared any more (every use starts a new message).
 */
static int
prepared_for(struct esmpi_aead *a, int enc,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN], const uint8_t *aad,
    size_t aad_len)
{
	struct prepared *p = &a->ready[enc];
	int hit = prepared_same(p, nonce, aad, aad_len);

	p->valid = 0;
	return hit;
}

int
esmpi_aead_seal(struct esmpi_aead *a, uint8_t *ct,
    uint8_t tag[ESMPI_AEAD_TAG_LEN], const uint8_t *pt, size_t len,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN],
    const uint8_t *aad, size_t aad_len)
{
	if (a == NULL || tag == NULL || nonce == NULL ||
	    (len > 0 && (ct == NULL || pt == NULL)) ||
	    (aad == NULL && aad_len > 0) || aad_len > INT_MAX ||
	    partial_overlap(ct, pt, len))
		return ESMPI_ERR_INVALID;

	if ((!prepared_for(a, 1, nonce, aad, aad_len) &&
	    (!aead_begin(a, a->enc, 1, nonce, NULL) ||
	    (aad_len > 0 && !aead_step(a->enc, 1, NULL, aad,
	    (int)aad_len)))) ||
	    aead_update(a, 1, ct, pt, len) != 0 ||
	    !aead_step(a->enc, 1, NULL, NULL, 0) ||
	    !aead_get_tag(a->enc, tag))
		return ESMPI_ERR_CRYPTO;
	return 0;
}

int
esmpi_aead_open(struct esmpi_aead *a, uint8_t *pt,
    const uint8_t *ct, size_t len,
    const uint8_t tag[ESMPI_AEAD_TAG_LEN],
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN],
    const uint8_t *aad, size_t aad_len)
{
	uint8_t t[ESMPI_AEAD_TAG_LEN];
	int r = ESMPI_ERR_INVALID;

	if (a == NULL || tag == NULL || nonce == NULL ||
	    (len > 0 && (ct == NULL || pt == NULL)) ||
	    (aad == NULL && aad_len > 0) || aad_len > INT_MAX ||
	    partial_overlap(ct, pt, len))
		goto out;

	/* Copy first: the tag may sit in a buffer the plaintext overwrites. */
	memcpy(t, tag, sizeof(t));
	r = ESMPI_ERR_AUTH;
	/* The final step compares the tags (in constant time). */
	if ((prepared_for(a, 0, nonce, aad, aad_len) ?
	    aead_begin(a, a->dec, 0, NULL, t) :
	    aead_begin(a, a->dec, 0, nonce, t) && (aad_len == 0 ||
	    aead_step(a->dec, 0, NULL, aad, (int)aad_len))) &&
	    aead_update(a, 0, pt, ct, len) == 0 &&
	    aead_step(a->dec, 0, NULL, NULL, 0))
		r = 0;
out:
	if (r != 0 && pt != NULL)
		esmpi_memzero(pt, len);
	return r;
}

int
esmpi_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t n;

	if (buf == NULL && len > 0)
		return ESMPI_ERR_INVALID;
	for (; len > 0; p += n, len -= n) {
		n = len > AEAD_CHUNK ? AEAD_CHUNK : len;
		if (RAND_bytes(p, (int)n) != 1)
			return ESMPI_ERR_CRYPTO;
	}
	return 0;
}
