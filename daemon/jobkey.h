/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPID_JOBKEY_H
#define ESMPID_JOBKEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "esmpi_pki.h"

/*
 * Job key establishment (docs/ARCHITECTURE.md "Keys"): each rank's daemon
 * makes an ephemeral P-256 ECDH key for the session and signs its public
 * half with the node key; rank 0's daemon verifies every share, draws the
 * job key and wraps it for each rank under HKDF(ECDH(root, rank)); each
 * rank's daemon verifies rank 0's share and unwraps.
 */

#define ESMPI_JOB_ID_LEN	16
#define ESMPI_JOB_KEY_LEN	32
#define ESMPI_ECDH_PUB_LEN	65	/* uncompressed P-256 point */
#define ESMPI_WRAPPED_LEN	(ESMPI_JOB_KEY_LEN + 16)

/* Longest user name a share carries (Linux allows 32). */
#define ESMPI_USER_MAX		64
/* Longest project name (ESMPI_PROJECT) a session may have. */
#define ESMPI_PROJECT_MAX	63

struct esmpi_share {
	uint8_t job_id[ESMPI_JOB_ID_LEN];
	uint32_t rank;
	/* Who asked for it: the job's owner, as the issuing node saw it. */
	uint32_t uid;
	char user[ESMPI_USER_MAX + 1];
	/* The policy project its session runs under ("" = the main one). */
	char project[ESMPI_PROJECT_MAX + 1];
	uint8_t pub[ESMPI_ECDH_PUB_LEN];
	const uint8_t *cert;	/* DER, borrowed */
	size_t cert_len;
	const uint8_t *sig;	/* borrowed */
	size_t sig_len;
	/* A link share (dynamic processes), signed under its own label. */
	int link;
};

/* A fresh ephemeral key and its encoded public point. */
int esmpid_jobkey_ephemeral(EVP_PKEY **eph, uint8_t pub[ESMPI_ECDH_PUB_LEN]);

/* Sign share s (job id, rank, owner, project, pub) with the node key. */
int esmpid_jobkey_sign_share(const struct esmpi_identity *id,
    const struct esmpi_share *s, uint8_t **sig, size_t *sig_len);

/* Verify the share's certificate against our CA and its signature. cn
 * receives the peer node's name; err a sentence on failure. */
int esmpid_jobkey_verify_share(const struct esmpi_identity *id,
    const struct esmpi_share *s, int chain_known, char *cn, size_t cnlen,
    char *err, size_t errlen) __attribute__((warn_unused_result));

/* Wrap job_key for the rank whose share is peer, using our ephemeral key
 * (root_pub is its public point). out gets ESMPI_WRAPPED_LEN bytes. */
int esmpid_jobkey_wrap(EVP_PKEY *eph, const uint8_t root_pub[ESMPI_ECDH_PUB_LEN],
    const struct esmpi_share *peer, const uint8_t job_key[ESMPI_JOB_KEY_LEN],
    uint8_t out[ESMPI_WRAPPED_LEN]) __attribute__((warn_unused_result));

/* Unwrap with our ephemeral key (our share is self, the root's is root). */
int esmpid_jobkey_unwrap(EVP_PKEY *eph, const struct esmpi_share *self,
    const struct esmpi_share *root, const uint8_t in[ESMPI_WRAPPED_LEN],
    uint8_t job_key[ESMPI_JOB_KEY_LEN]) __attribute__((warn_unused_result));

/*
 * Links between two jobs (dynamic processes): w is the wrapping side's
 * share (ours in link_wrap, the peer's in link_unwrap), u the other's.
 * The key-encryption key binds both shares (jobs, ranks, points) and the
 * direction w -> u.
 */
int esmpid_link_wrap(EVP_PKEY *eph, const struct esmpi_share *w,
    const struct esmpi_share *u, const uint8_t secret[ESMPI_JOB_KEY_LEN],
    uint8_t out[ESMPI_WRAPPED_LEN]) __attribute__((warn_unused_result));
int esmpid_link_unwrap(EVP_PKEY *eph, const struct esmpi_share *w,
    const struct esmpi_share *u, const uint8_t in[ESMPI_WRAPPED_LEN],
    uint8_t secret[ESMPI_JOB_KEY_LEN]) __attribute__((warn_unused_result));

#endif
