/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_CRYPTO_H
#define ESMPI_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Cipher suites and the small set of primitives esmpi builds on, all done
 * by OpenSSL EVP. This module and the record layer are the only callers of
 * EVP's AEAD functions.
 */

enum esmpi_suite_id {
	ESMPI_SUITE_NONE = 0,		/* no protection; only if the floor allows */
	ESMPI_SUITE_AES_128_GCM = 1,
	ESMPI_SUITE_AES_256_GCM = 2,
	ESMPI_SUITE_CHACHA20_POLY1305 = 3,
};

#define ESMPI_AEAD_NONCE_LEN	12
#define ESMPI_AEAD_TAG_LEN	16
#define ESMPI_AEAD_MAX_KEY_LEN	32

struct esmpi_suite_info {
	int id;			/* enum esmpi_suite_id */
	const char *name;	/* policy spelling, e.g. "aes-256-gcm" */
	size_t key_len;		/* 0 for none */
	int strength;		/* order for the policy floor: higher is stronger */
};

/* Look-ups in the static suite table; NULL when unknown. */
const struct esmpi_suite_info *esmpi_suite_by_name(const char *name);
const struct esmpi_suite_info *esmpi_suite_by_id(int id);
/* The suite's name, "?" when unknown (for messages). */
const char *esmpi_suite_name(int id);

/* HKDF-SHA256 (RFC 5869), extract then expand. salt may be NULL. */
int esmpi_hkdf_sha256(uint8_t *out, size_t out_len,
    const uint8_t *salt, size_t salt_len,
    const uint8_t *ikm, size_t ikm_len,
    const uint8_t *info, size_t info_len)
    __attribute__((warn_unused_result));

/*
 * An AEAD key: the cipher is fetched once and the EVP contexts are reused
 * for every seal and open. Not safe for concurrent use: callers that share
 * one between threads serialise access.
 */
struct esmpi_aead;

/* Create a key context for suite (not NONE) from key_len bytes of key. */
int esmpi_aead_new(struct esmpi_aead **out, int suite,
    const uint8_t *key, size_t key_len)
    __attribute__((warn_unused_result));

/* Wipes the key schedule and frees; NULL is fine. */
void esmpi_aead_free(struct esmpi_aead *a);

/*
 * Encrypt len bytes of pt into ct (ct may equal pt: in place) and write the
 * 16-byte tag.
 */
int esmpi_aead_seal(struct esmpi_aead *a, uint8_t *ct,
    uint8_t tag[ESMPI_AEAD_TAG_LEN], const uint8_t *pt, size_t len,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN],
    const uint8_t *aad, size_t aad_len)
    __attribute__((warn_unused_result));

/*
 * Decrypt and verify. On any failure the len bytes at pt are wiped, so
 * unauthenticated plaintext is never left behind; returns ESMPI_ERR_AUTH.
 * pt may equal ct (in place).
 */
int esmpi_aead_open(struct esmpi_aead *a, uint8_t *pt,
    const uint8_t *ct, size_t len,
    const uint8_t tag[ESMPI_AEAD_TAG_LEN],
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN],
    const uint8_t *aad, size_t aad_len)
    __attribute__((warn_unused_result));

/*
 * Start the next seal (enc 1) or open (enc 0) ahead of time: set the
 * nonce and absorb the AAD (1 to ESMPI_AEAD_PREPARE_MAX_AAD bytes), so
 * that a caller that expects a message can do this while it waits. The
 * next esmpi_aead_seal/open on that side skips both when it is given
 * exactly this nonce and AAD, and starts afresh otherwise: a wrong guess
 * costs time, never a nonce (nothing is encrypted here).
 */
#define ESMPI_AEAD_PREPARE_MAX_AAD	96
int esmpi_aead_prepare(struct esmpi_aead *a, int enc,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN], const uint8_t *aad,
    size_t aad_len);

/* Fill buf with len bytes from the OpenSSL CSPRNG. */
int esmpi_random(void *buf, size_t len) __attribute__((warn_unused_result));

#endif
