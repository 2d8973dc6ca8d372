/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_CRYPTO_H
#define ESMPI_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Cipher suites and the small set of primitives esmpi builds on. HKDF and
 * randomness are OpenSSL's; the record AEAD runs on one of two engines,
 * OpenSSL 3 EVP or Intel's ipsec-mb, which give the same bytes (the wire
 * does not depend on the engine). This module is the only caller of
 * either library's AEAD functions.
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
/* Longest text one seal or open takes: GCM's limit (SP 800-38D). */
#define ESMPI_AEAD_MAX_LEN	((1ULL << 36) - 32)

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
 * AEAD engines. ipsec-mb picks its own code for the CPU (SSE, AVX, AVX2,
 * AVX-512, VAES); it exists on x86-64 builds only.
 */
enum esmpi_engine {
	ESMPI_ENGINE_AUTO = 0,		/* the one esmpi_crypto_select chose */
	ESMPI_ENGINE_OPENSSL = 1,
	ESMPI_ENGINE_IPSEC_MB = 2,
};

/*
 * Choose the process's AEAD engine, once: ESMPI_CRYPTO=openssl|ipsec-mb
 * forces one; unset or empty, ipsec-mb if it runs here and passes its
 * self-test, else OpenSSL. An engine is used only after its self-test
 * (known-answer vectors, and for ipsec-mb the same bytes as OpenSSL)
 * passed. Returns 0, or ESMPI_ERR_CRYPTO when no engine can be used (a
 * forced engine that is unavailable or failed, an unknown ESMPI_CRYPTO,
 * OpenSSL failing its self-test); then err gets the reason. On success
 * err gets "" or, when ipsec-mb is built in but was passed over, why:
 * worth a warning. Every call gives the same answer; the first
 * esmpi_aead_new makes it if nobody called this before. err may be NULL.
 */
int esmpi_crypto_select(char *err, size_t len)
    __attribute__((warn_unused_result));

/* The selected engine's name ("openssl", "ipsec-mb/avx512+vaes", ...),
 * "none" if selection failed. Selects if that was not done yet. */
const char *esmpi_aead_engine_name(void);

/*
 * Whether engine (not AUTO) can be used in this process: built in, runs
 * on this CPU and passed its self-test (run on the first call). 0, or
 * ESMPI_ERR_CRYPTO with the reason in err (may be NULL). For tests and
 * benchmarks; the library goes through esmpi_crypto_select.
 */
int esmpi_engine_check(int engine, char *err, size_t len);

/* An engine's name, with ipsec-mb's code path once checked. */
const char *esmpi_engine_name(int engine);

/*
 * An AEAD key: the key schedule is made once and reused for every seal
 * and open. Not safe for concurrent use: callers that share one between
 * threads serialise access.
 */
struct esmpi_aead;

/*
 * Create a key context for suite (not NONE) from key_len bytes of key, on
 * the selected engine: ESMPI_ERR_CRYPTO if selection failed.
 */
int esmpi_aead_new(struct esmpi_aead **out, int suite,
    const uint8_t *key, size_t key_len)
    __attribute__((warn_unused_result));

/* The same on a given engine (AUTO: the selected one); ESMPI_ERR_CRYPTO
 * if that engine cannot be used (esmpi_engine_check). */
int esmpi_aead_new_engine(struct esmpi_aead **out, int engine, int suite,
    const uint8_t *key, size_t key_len)
    __attribute__((warn_unused_result));

/* The engine a key context runs on (enum esmpi_engine). */
int esmpi_aead_engine(const struct esmpi_aead *a);

/* Wipes the key schedule and frees; NULL is fine. */
void esmpi_aead_free(struct esmpi_aead *a);

/*
 * Encrypt len bytes (at most ESMPI_AEAD_MAX_LEN) of pt into ct (ct may
 * equal pt: in place) and write the 16-byte tag.
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
 * One message whose text is in several places: part i's len bytes of
 * in go to out (out may equal in). The message is the parts' text in
 * order, the same on the wire as one seal of it gathered, so a sender
 * seals its header in place and its data straight from where the
 * application keeps it, and a receiver opens the data straight to
 * where it belongs. At most ESMPI_AEAD_MAX_PARTS parts; an open that
 * fails wipes every part's out. Not prepared ahead.
 */
#define ESMPI_AEAD_MAX_PARTS	4
struct esmpi_aead_part {
	uint8_t *out;
	const uint8_t *in;
	size_t len;
};
int esmpi_aead_seal_parts(struct esmpi_aead *a,
    const struct esmpi_aead_part *parts, int n,
    uint8_t tag[ESMPI_AEAD_TAG_LEN],
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN],
    const uint8_t *aad, size_t aad_len)
    __attribute__((warn_unused_result));
int esmpi_aead_open_parts(struct esmpi_aead *a,
    const struct esmpi_aead_part *parts, int n,
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
 * costs time, never a nonce (nothing is encrypted here). Both engines:
 * it takes an eighth (ipsec-mb) to a third (OpenSSL) of a small
 * message's seal or open off its path (docs/PERFORMANCE.md).
 */
#define ESMPI_AEAD_PREPARE_MAX_AAD	96
int esmpi_aead_prepare(struct esmpi_aead *a, int enc,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN], const uint8_t *aad,
    size_t aad_len);

/* Fill buf with len bytes from the OpenSSL CSPRNG. */
int esmpi_random(void *buf, size_t len) __attribute__((warn_unused_result));

#endif
