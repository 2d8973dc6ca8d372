/* SPDX-License-Identifier: Apache-2.0 */
/* ECDSA record signatures and rank certificates (common/esmpi_sig.c):
 * sign/verify, wrong key, every flipped byte, certificates for another
 * rank, job, node or CA, expiry. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "esmpi_err.h"
#include "esmpi_pki.h"
#include "esmpi_sig.h"

static void
test_sign_verify(void)
{
	struct esmpi_sig_key *k = NULL, *k2 = NULL, *v = NULL, *v2 = NULL;
	uint8_t pub[ESMPI_SIG_PUB_LEN], pub2[ESMPI_SIG_PUB_LEN];
	uint8_t a[68], b[300], sig[ESMPI_SIG_LEN], sig2[ESMPI_SIG_LEN];
	size_t i;
	int bad;

	for (i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)i;
	for (i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i * 7);
	CHECK(esmpi_sig_keygen(&k, pub) == 0);
	CHECK(esmpi_sig_keygen(&k2, pub2) == 0);
	CHECK(memcmp(pub, pub2, sizeof(pub)) != 0);
	CHECK(esmpi_sig_from_point(&v, pub) == 0);
	CHECK(esmpi_sig_from_point(&v2, pub2) == 0);
	if (k == NULL || k2 == NULL || v == NULL || v2 == NULL)
		goto out;
	CHECK(esmpi_sig_sign(k, a, sizeof(a), b, sizeof(b), sig) == 0);
	CHECK(esmpi_sig_verify(v, a, sizeof(a), b, sizeof(b), sig) == 0);
	/* The context is reused: a second message signs and verifies too. */
	CHECK(esmpi_sig_sign(k, a, sizeof(a), b, 10, sig2) == 0);
	CHECK(esmpi_sig_verify(v, a, sizeof(a), b, 10, sig2) == 0);
	CHECK(esmpi_sig_verify(v, a, sizeof(a), b, sizeof(b), sig) == 0);
	/* Empty parts. */
	CHECK(esmpi_sig_sign(k, NULL, 0, b, 5, sig2) == 0);
	CHECK(esmpi_sig_verify(v, NULL, 0, b, 5, sig2) == 0);
	CHECK(esmpi_sig_verify(v, b, 5, NULL, 0, sig2) == 0);
	CHECK_INT_EQ(esmpi_sig_verify(v, NULL, 0, b, 4, sig2),
	    ESMPI_ERR_SIGNATURE);
	/* Wrong key; a verifying key cannot sign. */
	CHECK_INT_EQ(esmpi_sig_verify(v2, a, sizeof(a), b, sizeof(b), sig),
	    ESMPI_ERR_SIGNATURE);
	CHECK_INT_EQ(esmpi_sig_sign(v, a, sizeof(a), b, sizeof(b), sig2),
	    ESMPI_ERR_INVALID);
	/* Every flipped bit position of signature and message is refused. */
	bad = 0;
	for (i = 0; i < ESMPI_SIG_LEN; i++) {
		sig[i] ^= 0x01;
		bad += esmpi_sig_verify(v, a, sizeof(a), b, sizeof(b), sig) ==
		    ESMPI_ERR_SIGNATURE;
		sig[i] ^= 0x01;
	}
	CHECK_INT_EQ(bad, ESMPI_SIG_LEN);
	bad = 0;
	for (i = 0; i < sizeof(a); i++) {
		a[i] ^= 0x80;
		bad += esmpi_sig_verify(v, a, sizeof(a), b, sizeof(b), sig) ==
		    ESMPI_ERR_SIGNATURE;
		a[i] ^= 0x80;
	}
	CHECK_INT_EQ(bad, (int)sizeof(a));
	bad = 0;
	for (i = 0; i < sizeof(b); i++) {
		b[i] ^= 0x01;
		bad += esmpi_sig_verify(v, a, sizeof(a), b, sizeof(b), sig) ==
		    ESMPI_ERR_SIGNATURE;
		b[i] ^= 0x01;
	}
	CHECK_INT_EQ(bad, (int)sizeof(b));
	/* Moving bytes between the parts keeps the concatenation. */
	CHECK(esmpi_sig_verify(v, a, sizeof(a), b, sizeof(b), sig) == 0);
	/* r or s zero, or all ones (>= n): refused, no crash. */
	memset(sig2, 0, sizeof(sig2));
	CHECK_INT_EQ(esmpi_sig_verify(v, a, 1, b, 1, sig2),
	    ESMPI_ERR_SIGNATURE);
	memset(sig2, 0xff, sizeof(sig2));
	CHECK_INT_EQ(esmpi_sig_verify(v, a, 1, b, 1, sig2),
	    ESMPI_ERR_SIGNATURE);
	/* Not a curve point. */
	pub2[10] ^= 0x01;
	{
		struct esmpi_sig_key *x = NULL;

		CHECK_INT_EQ(esmpi_sig_from_point(&x, pub2),
		    ESMPI_ERR_INVALID);
		esmpi_sig_free(x);
	}
out:
	esmpi_sig_free(k);
	esmpi_sig_free(k2);
	esmpi_sig_free(v);
	esmpi_sig_free(v2);
}

struct pki {
	char dir[64];
	struct esmpi_identity *node, *other_ca_node;
};

static int
pki_make(struct pki *p)
{
	char err[512], a[128], b[128];

	snprintf(p->dir, sizeof(p->dir), "/tmp/esmpi-sigtest.XXXXXX");
	if (mkdtemp(p->dir) == NULL)
		return -1;
	snprintf(a, sizeof(a), "%s/ca", p->dir);
	snprintf(b, sizeof(b), "%s/node", p->dir);
	if (esmpi_pki_ca_init(a, "test CA", err, sizeof(err)) != 0 ||
	    esmpi_pki_node_enroll(a, "nodeA", b, err, sizeof(err)) != 0 ||
	    esmpi_pki_load_identity(b, &p->node, err, sizeof(err)) != 0)
		return -1;
	snprintf(a, sizeof(a), "%s/ca2", p->dir);
	snprintf(b, sizeof(b), "%s/node2", p->dir);
	if (esmpi_pki_ca_init(a, "other CA", err, sizeof(err)) != 0 ||
	    esmpi_pki_node_enroll(a, "nodeA", b, err, sizeof(err)) != 0 ||
	    esmpi_pki_load_identity(b, &p->other_ca_node, err,
	    sizeof(err)) != 0)
		return -1;
	return 0;
}

static void
pki_free(struct pki *p)
{
	char cmd[128];

	esmpi_pki_identity_free(p->node);
	esmpi_pki_identity_free(p->other_ca_node);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", p->dir);
}

static void
test_rcert(void)
{
	struct pki p;
	struct esmpi_rcert c, d;
	struct esmpi_sig_key *k = NULL, *v = NULL;
	uint8_t rc[ESMPI_RCERT_MAX], rc2[ESMPI_RCERT_MAX], sig[ESMPI_SIG_LEN];
	uint8_t job[16], other_job[16];
	size_t rclen = 0, rc2len = 0, i;
	uint64_t now = (uint64_t)time(NULL);
	char err[512];
	int bad;

	memset(&p, 0, sizeof(p));
	CHECK(pki_make(&p) == 0);
	if (p.node == NULL || p.other_ca_node == NULL)
		goto out;
	memset(job, 0x42, sizeof(job));
	memset(other_job, 0x43, sizeof(other_job));
	memset(&c, 0, sizeof(c));
	memcpy(c.job, job, 16);
	c.rank = 3;
	c.not_before = now - 60;
	c.not_after = now + 3600;
	snprintf(c.node, sizeof(c.node), "%.64s", p.node->name);
	CHECK(esmpi_sig_keygen(&k, c.pub) == 0);
	CHECK(esmpi_rcert_issue(p.node->key, &c, rc, &rclen) == 0);
	CHECK(rclen <= ESMPI_RCERT_MAX);
	CHECK(esmpi_rcert_parse(rc, rclen, &d) == 0);
	CHECK(d.rank == 3 && d.not_after == c.not_after &&
	    strcmp(d.node, "nodeA") == 0 &&
	    memcmp(d.pub, c.pub, sizeof(c.pub)) == 0);

	/* Good: the certified key verifies what the rank signs. */
	CHECK(esmpi_rcert_verify(p.node->ca, p.node->cert_der,
	    p.node->cert_der_len, 0, rc, rclen, job, 3, now, &v, err,
	    sizeof(err)) == 0);
	if (v != NULL && k != NULL) {
		CHECK(esmpi_sig_sign(k, job, 16, rc, 10, sig) == 0);
		CHECK(esmpi_sig_verify(v, job, 16, rc, 10, sig) == 0);
	}
	esmpi_sig_free(v);
	v = NULL;

	/* Another rank, another job, expired, not yet valid. */
	CHECK_INT_EQ(esmpi_rcert_verify(p.node->ca, p.node->cert_der,
	    p.node->cert_der_len, 0, rc, rclen, job, 4, now, &v, err,
	    sizeof(err)), ESMPI_ERR_CERT);
	CHECK_STR_CONTAINS(err, "not rank 4 of this job");
	CHECK_INT_EQ(esmpi_rcert_verify(p.node->ca, p.node->cert_der,
	    p.node->cert_der_len, 0, rc, rclen, other_job, 3, now, &v, err,
	    sizeof(err)), ESMPI_ERR_CERT);
	CHECK_INT_EQ(esmpi_rcert_verify(p.node->ca, p.node->cert_der,
	    p.node->cert_der_len, 0, rc, rclen, job, 3, now + 7200, &v, err,
	    sizeof(err)), ESMPI_ERR_CERT);
	CHECK_STR_CONTAINS(err, "not valid now");
	CHECK_INT_EQ(esmpi_rcert_verify(p.node->ca, p.node->cert_der,
	    p.node->cert_der_len, 0, rc, rclen, job, 3, now - 3600, &v, err,
	    sizeof(err)), ESMPI_ERR_CERT);

	/* Node certificate from another CA (same name): chain refused. */
	CHECK_INT_EQ(esmpi_rcert_verify(p.node->ca, p.other_ca_node->cert_der,
	    p.other_ca_node->cert_der_len, 0, rc, rclen, job, 3, now, &v, err,
	    sizeof(err)), ESMPI_ERR_CERT);
	CHECK_STR_CONTAINS(err, "does not verify");
	/* Issued by a node of another CA, checked against that node's own
	 * (valid for the other CA) certificate but our CA: refused. */
	CHECK(esmpi_rcert_issue(p.other_ca_node->key, &c, rc2, &rc2len) == 0);
	CHECK_INT_EQ(esmpi_rcert_verify(p.node->ca, p.other_ca_node->cert_der,
	    p.other_ca_node->cert_der_len, 0, rc2, rc2len, job, 3, now, &v,
	    err, sizeof(err)), ESMPI_ERR_CERT);
	/* Signed by another node key but presented with our node's
	 * certificate (chain valid): the node signature does not verify. */
	CHECK_INT_EQ(esmpi_rcert_verify(p.node->ca, p.node->cert_der,
	    p.node->cert_der_len, 0, rc2, rc2len, job, 3, now, &v, err,
	    sizeof(err)), ESMPI_ERR_CERT);
	CHECK_STR_CONTAINS(err, "signature by node 'nodeA' does not verify");

	/* Every flipped byte of the rank certificate is refused. */
	bad = 0;
	for (i = 0; i < rclen; i++) {
		rc[i] ^= 0x01;
		bad += esmpi_rcert_verify(p.node->ca, p.node->cert_der,
		    p.node->cert_der_len, 1, rc, rclen, job, 3, now, &v, err,
		    sizeof(err)) == ESMPI_ERR_CERT;
		rc[i] ^= 0x01;
	}
	CHECK_INT_EQ(bad, (int)rclen);
	/* Truncated or extended. */
	CHECK_INT_EQ(esmpi_rcert_verify(p.node->ca, p.node->cert_der,
	    p.node->cert_der_len, 1, rc, rclen - 1, job, 3, now, &v, err,
	    sizeof(err)), ESMPI_ERR_CERT);
	CHECK_INT_EQ(esmpi_rcert_parse(rc, rclen + 1, &d), ESMPI_ERR_INVALID);
	CHECK(v == NULL);
	/* A node name that does not fit is refused at issue. */
	memset(c.node, 'x', sizeof(c.node));
	CHECK_INT_EQ(esmpi_rcert_issue(p.node->key, &c, rc, &rclen),
	    ESMPI_ERR_INVALID);
out:
	esmpi_sig_free(k);
	esmpi_sig_free(v);
	pki_free(&p);
}

int
main(void)
{
	test_sign_verify();
	test_rcert();
	return check_report("sig_test");
}
