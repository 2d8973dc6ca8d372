/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_PKI_H
#define ESMPI_PKI_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * Cluster CA and node identities (ECDSA P-256, X.509). A state directory
 * holds a node's identity:
 *   node.key  private key, mode 0600, owned by the daemon's user
 *   node.pem  certificate signed by the cluster CA
 *   ca.pem    the cluster CA certificate (the trust anchor)
 * and, for the embedded default only, ca/ca.key + ca/ca.pem: a local CA.
 *
 * Functions that can fail because of a file write a sentence naming the
 * file into err (errlen bytes) and return a negative ESMPI_ERR_*.
 */

#define ESMPI_PKI_NODE_KEY	"node.key"
#define ESMPI_PKI_NODE_CERT	"node.pem"
#define ESMPI_PKI_CA_CERT	"ca.pem"
#define ESMPI_PKI_CA_KEY	"ca.key"
#define ESMPI_PKI_LOCAL_CA_DIR	"ca"

struct esmpi_identity {
	EVP_PKEY *key;		/* node private key: never leaves the daemon */
	X509 *cert;
	X509 *ca;
	uint8_t *cert_der;	/* cert in DER, as sent in key shares */
	size_t cert_der_len;
	char name[256];		/* subject CN */
	char not_after[64];
};

/* Create a CA key and self-signed certificate in dir (created 0700). */
int esmpi_pki_ca_init(const char *dir, const char *cn, char *err,
    size_t errlen);

/* Create outdir (0700) with a node key, a certificate for name signed by
 * the CA in cadir, and a copy of the CA certificate. */
int esmpi_pki_node_enroll(const char *cadir, const char *name,
    const char *outdir, char *err, size_t errlen);

/* Embedded default: when statedir has no node key, make a local CA under
 * statedir/ca and enroll name into statedir. *created tells which. */
int esmpi_pki_ensure_default(const char *statedir, const char *name,
    int *created, char *err, size_t errlen);

/* Load and check a node identity (key file permissions, certificate chain,
 * key matches certificate). */
int esmpi_pki_load_identity(const char *statedir,
    struct esmpi_identity **out, char *err, size_t errlen);
void esmpi_pki_identity_free(struct esmpi_identity *id);

/* Refuse a private key file readable or writable by group/others or not
 * owned by us. */
int esmpi_pki_check_keyfile(const char *path, char *err, size_t errlen);

/* Verify a peer node certificate (DER) against id's CA; on success return
 * its public key and CN. chain_known skips the chain check for a
 * certificate the caller verified moments ago (same bytes). */
int esmpi_pki_verify_peer(const struct esmpi_identity *id,
    const uint8_t *der, size_t der_len, int chain_known, EVP_PKEY **pub,
    char *cn,
    size_t cnlen, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* ECDSA-SHA256 signature (DER) by key; *sig is malloc'd. */
int esmpi_pki_sign(EVP_PKEY *key, const uint8_t *msg, size_t len,
    uint8_t **sig, size_t *sig_len) __attribute__((warn_unused_result));
int esmpi_pki_verify(EVP_PKEY *pub, const uint8_t *msg, size_t len,
    const uint8_t *sig, size_t sig_len) __attribute__((warn_unused_result));

#endif
