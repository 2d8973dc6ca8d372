/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_SIG_H
#define ESMPI_SIG_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * ECDSA P-256 / SHA-256 signatures for policy rules with
 * `sign: ecdsa-p256` (proto/PROTOCOL.md §6), and the short rank
 * certificate by which a node key vouches for a rank's signing key.
 * Signatures are fixed-size raw r || s (32 + 32 bytes, big-endian), so a
 * signed record has a known length. OpenSSL EVP only.
 */

#define ESMPI_SIG_LEN		64	/* r || s */
#define ESMPI_SIG_PUB_LEN	65	/* uncompressed P-256 point */
#define ESMPI_RCERT_NODE_MAX	64	/* node name bytes */
/* Rank certificates: valid from 5 min before issue (clock skew between
 * nodes) to 30 days after (longer than any batch job's wall time). */
#define ESMPI_RCERT_SKEW	300
#define ESMPI_RCERT_LIFETIME	(30 * 86400)
#define ESMPI_RCERT_MAX		(16 + 4 + 8 + 8 + 1 + ESMPI_RCERT_NODE_MAX + \
	ESMPI_SIG_PUB_LEN + ESMPI_SIG_LEN)

/*
 * A key with its prepared digest context, reused for every message (no
 * per-message set-up). Not thread-safe: callers serialise use of one key.
 * A signing key's private half is freed (and cleared by OpenSSL) by
 * esmpi_sig_free; it is never exported.
 */
struct esmpi_sig_key;

/* A fresh P-256 signing key and its public point. */
int esmpi_sig_keygen(struct esmpi_sig_key **k,
    uint8_t pub[ESMPI_SIG_PUB_LEN]) __attribute__((warn_unused_result));
/* A verifying key from a public point (ESMPI_ERR_INVALID if not on P-256). */
int esmpi_sig_from_point(struct esmpi_sig_key **k,
    const uint8_t pub[ESMPI_SIG_PUB_LEN]) __attribute__((warn_unused_result));
/* Wrap an existing P-256 key (a reference is taken); sign needs a private
 * key. */
int esmpi_sig_from_pkey(struct esmpi_sig_key **k, EVP_PKEY *pkey,
    int sign) __attribute__((warn_unused_result));
void esmpi_sig_free(struct esmpi_sig_key *k);

/* Sign / verify the concatenation a || b (either may be empty). */
int esmpi_sig_sign(struct esmpi_sig_key *k, const uint8_t *a, size_t alen,
    const uint8_t *b, size_t blen, uint8_t sig[ESMPI_SIG_LEN])
    __attribute__((warn_unused_result));
/* 0, or ESMPI_ERR_SIGNATURE. */
int esmpi_sig_verify(struct esmpi_sig_key *k, const uint8_t *a, size_t alen,
    const uint8_t *b, size_t blen, const uint8_t sig[ESMPI_SIG_LEN])
    __attribute__((warn_unused_result));

/*
 * Rank certificate, issued by a node's esmpid for one session:
 *
 *   job_id(16) | world rank u32 | not_before u64 | not_after u64 (Unix
 *   seconds) | node name length u8 | node name | public point(65) |
 *   signature(64) by the node key over "esmpi rank cert v1\0" || all
 *   the preceding fields
 */
struct esmpi_rcert {
	uint8_t job[16];
	uint32_t rank;
	uint64_t not_before, not_after;
	char node[ESMPI_RCERT_NODE_MAX + 1];
	uint8_t pub[ESMPI_SIG_PUB_LEN];
};

/* Encode c and sign it with node_key; out holds ESMPI_RCERT_MAX bytes. */
int esmpi_rcert_issue(EVP_PKEY *node_key, const struct esmpi_rcert *c,
    uint8_t *out, size_t *outlen) __attribute__((warn_unused_result));

/*
 * Verify a rank certificate: node_der (DER X.509) must chain to ca (skip
 * with chain_known for bytes verified moments ago), its CN must be the
 * certificate's node name, its key must have signed the rank
 * certificate, which must be for job and rank and valid at now. On
 * success *pub gets a verifying key for the rank's signatures. err gets
 * a sentence on failure (ESMPI_ERR_CERT).
 */
int esmpi_rcert_verify(X509 *ca, const uint8_t *node_der, size_t node_len,
    int chain_known, const uint8_t *rc, size_t rclen, const uint8_t job[16],
    uint32_t rank, uint64_t now, struct esmpi_sig_key **pub, char *err,
    size_t errlen) __attribute__((warn_unused_result));

/* Decode without verifying (ESMPI_ERR_INVALID when malformed). */
int esmpi_rcert_parse(const uint8_t *in, size_t len, struct esmpi_rcert *c)
    __attribute__((warn_unused_result));

#endif
