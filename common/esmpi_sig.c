/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "esmpi_bytes.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"
#include "esmpi_pki.h"
#include "esmpi_sig.h"

static const char rcert_label[] = "esmpi rank cert v1";

struct esmpi_sig_key {
	EVP_PKEY *pkey;
	EVP_MD_CTX *tmpl;	/* DigestSign/VerifyInit done once */
	EVP_MD_CTX *work;	/* copied from tmpl per message */
	int sign;
};

static int
is_p256(EVP_PKEY *k)
{
	char group[64];
	size_t glen = 0;

	return EVP_PKEY_is_a(k, "EC") &&
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), &glen) == 1 &&
	    strcmp(group, "prime256v1") == 0;
}

int
esmpi_sig_from_pkey(struct esmpi_sig_key **out, EVP_PKEY *pkey, int sign)
{
	struct esmpi_sig_key *k;
	int ok;

	if (pkey == NULL || !is_p256(pkey))
		return ESMPI_ERR_INVALID;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return ESMPI_ERR_NOMEM;
	if (EVP_PKEY_up_ref(pkey) != 1) {
		free(k);
		return ESMPI_ERR_CRYPTO;
	}
	k->pkey = pkey;
	k->sign = sign;
	k->tmpl = EVP_MD_CTX_new();
	k->work = EVP_MD_CTX_new();
	ok = k->tmpl != NULL && k->work != NULL;
	if (ok && sign)
		ok = EVP_DigestSignInit_ex(k->tmpl, NULL, "SHA256", NULL,
		    NULL, pkey, NULL) == 1;
	else if (ok)
		ok = EVP_DigestVerifyInit_ex(k->tmpl, NULL, "SHA256", NULL,
		    NULL, pkey, NULL) == 1;
	if (!ok) {
		esmpi_sig_free(k);
		ERR_clear_error();
		return ESMPI_ERR_CRYPTO;
	}
	*out = k;
	return 0;
}

void
esmpi_sig_free(struct esmpi_sig_key *k)
{
	if (k == NULL)
		return;
	EVP_MD_CTX_free(k->work);
	EVP_MD_CTX_free(k->tmpl);
	/* EC private keys are cleared by OpenSSL when freed. */
	EVP_PKEY_free(k->pkey);
	free(k);
}

static int
get_point(EVP_PKEY *k, uint8_t pub[ESMPI_SIG_PUB_LEN])
{
	size_t len = 0;

	return EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY,
	    pub, ESMPI_SIG_PUB_LEN, &len) == 1 && len == ESMPI_SIG_PUB_LEN;
}

int
esmpi_sig_keygen(struct esmpi_sig_key **out, uint8_t pub[ESMPI_SIG_PUB_LEN])
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	int r;

	if (pkey == NULL)
		return ESMPI_ERR_CRYPTO;
	if (!get_point(pkey, pub))
		r = ESMPI_ERR_CRYPTO;
	else
		r = esmpi_sig_from_pkey(out, pkey, 1);
	EVP_PKEY_free(pkey);
	return r;
}

int
esmpi_sig_from_point(struct esmpi_sig_key **out,
    const uint8_t pub[ESMPI_SIG_PUB_LEN])
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;
	int r = ESMPI_ERR_INVALID;

	/* fromdata checks that the point is on the curve. */
	if (bld != NULL &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    "prime256v1", 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pub, ESMPI_SIG_PUB_LEN) &&
	    (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) != NULL &&
	    EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) == 1)
		r = esmpi_sig_from_pkey(out, k, 0);
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	ERR_clear_error();
	return r;
}

int
esmpi_sig_sign(struct esmpi_sig_key *k, const uint8_t *a, size_t alen,
    const uint8_t *b, size_t blen, uint8_t sig[ESMPI_SIG_LEN])
{
	uint8_t der[80];
	const unsigned char *p = der;
	size_t dlen = sizeof(der);
	ECDSA_SIG *s = NULL;
	int r = ESMPI_ERR_CRYPTO;

	if (k == NULL || !k->sign)
		return ESMPI_ERR_INVALID;
	if (EVP_MD_CTX_copy_ex(k->work, k->tmpl) != 1 ||
	    (alen && EVP_DigestSignUpdate(k->work, a, alen) != 1) ||
	    (blen && EVP_DigestSignUpdate(k->work, b, blen) != 1) ||
	    EVP_DigestSignFinal(k->work, der, &dlen) != 1)
		goto out;
	/* DER to fixed-size r || s. */
	if ((s = d2i_ECDSA_SIG(NULL, &p, (long)dlen)) == NULL ||
	    BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 32, 32) != 32)
		goto out;
	r = 0;
out:
	ECDSA_SIG_free(s);
	ERR_clear_error();
	return r;
}

int
esmpi_sig_verify(struct esmpi_sig_key *k, const uint8_t *a, size_t alen,
    const uint8_t *b, size_t blen, const uint8_t sig[ESMPI_SIG_LEN])
{
	uint8_t der[80], *p = der;
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *br = BN_bin2bn(sig, 32, NULL), *bs = BN_bin2bn(sig + 32, 32,
	    NULL);
	int r = ESMPI_ERR_SIGNATURE, dlen;

	if (k == NULL || s == NULL || br == NULL || bs == NULL ||
	    ECDSA_SIG_set0(s, br, bs) != 1)
		goto out;
	br = bs = NULL;		/* owned by s */
	if ((dlen = i2d_ECDSA_SIG(s, NULL)) <= 0 || dlen > (int)sizeof(der) ||
	    i2d_ECDSA_SIG(s, &p) != dlen)
		goto out;
	if (EVP_MD_CTX_copy_ex(k->work, k->tmpl) == 1 &&
	    (!alen || EVP_DigestVerifyUpdate(k->work, a, alen) == 1) &&
	    (!blen || EVP_DigestVerifyUpdate(k->work, b, blen) == 1) &&
	    EVP_DigestVerifyFinal(k->work, der, (size_t)dlen) == 1)
		r = 0;
out:
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(s);
	ERR_clear_error();
	return r;
}

/* Bytes before the signature; 0 if c cannot be encoded. */
static size_t
rcert_tbs(const struct esmpi_rcert *c, uint8_t *out)
{
	size_t nl = strnlen(c->node, sizeof(c->node));
	uint8_t *p = out;

	if (nl == 0 || nl > ESMPI_RCERT_NODE_MAX)
		return 0;
	memcpy(p, c->job, 16);
	p += 16;
	esmpi_put_be32(p, c->rank);
	esmpi_put_be64(p + 4, c->not_before);
	esmpi_put_be64(p + 12, c->not_after);
	p[20] = (uint8_t)nl;
	p += 21;
	memcpy(p, c->node, nl);
	p += nl;
	memcpy(p, c->pub, ESMPI_SIG_PUB_LEN);
	p += ESMPI_SIG_PUB_LEN;
	return (size_t)(p - out);
}

int
esmpi_rcert_issue(EVP_PKEY *node_key, const struct esmpi_rcert *c,
    uint8_t *out, size_t *outlen)
{
	struct esmpi_sig_key *k = NULL;
	size_t n;
	int r;

	if ((n = rcert_tbs(c, out)) == 0)
		return ESMPI_ERR_INVALID;
	if ((r = esmpi_sig_from_pkey(&k, node_key, 1)) != 0)
		return r;
	r = esmpi_sig_sign(k, (const uint8_t *)rcert_label,
	    sizeof(rcert_label), out, n, out + n);
	esmpi_sig_free(k);
	if (r == 0)
		*outlen = n + ESMPI_SIG_LEN;
	return r;
}

int
esmpi_rcert_parse(const uint8_t *in, size_t len, struct esmpi_rcert *c)
{
	size_t nl;

	if (in == NULL || len < 37)
		return ESMPI_ERR_INVALID;
	nl = in[36];
	if (nl == 0 || nl > ESMPI_RCERT_NODE_MAX ||
	    len != 37 + nl + ESMPI_SIG_PUB_LEN + ESMPI_SIG_LEN ||
	    memchr(in + 37, '\0', nl) != NULL)
		return ESMPI_ERR_INVALID;
	memset(c, 0, sizeof(*c));
	memcpy(c->job, in, 16);
	c->rank = esmpi_get_be32(in + 16);
	c->not_before = esmpi_get_be64(in + 20);
	c->not_after = esmpi_get_be64(in + 28);
	memcpy(c->node, in + 37, nl);
	memcpy(c->pub, in + 37 + nl, ESMPI_SIG_PUB_LEN);
	return 0;
}

int
esmpi_rcert_verify(X509 *ca, const uint8_t *node_der, size_t node_len,
    int chain_known, const uint8_t *rc, size_t rclen, const uint8_t job[16],
    uint32_t rank, uint64_t now, struct esmpi_sig_key **pub, char *err,
    size_t errlen)
{
	struct esmpi_identity trust;
	struct esmpi_rcert c;
	struct esmpi_sig_key *nk = NULL;
	EVP_PKEY *npub = NULL;
	char cn[256];
	int r;

	if (esmpi_rcert_parse(rc, rclen, &c) != 0) {
		snprintf(err, errlen, "rank certificate of rank %u is "
		    "malformed", rank);
		return ESMPI_ERR_CERT;
	}
	memset(&trust, 0, sizeof(trust));
	trust.ca = ca;
	if ((r = esmpi_pki_verify_peer(&trust, node_der, node_len,
	    chain_known, &npub, cn, sizeof(cn), err, errlen)) != 0)
		return ESMPI_ERR_CERT;
	r = ESMPI_ERR_CERT;
	if (strcmp(cn, c.node) != 0) {
		snprintf(err, errlen, "rank certificate of rank %u names node "
		    "'%s' but comes with the certificate of node '%s'", rank,
		    c.node, cn);
		goto out;
	}
	if (esmpi_sig_from_pkey(&nk, npub, 0) != 0 ||
	    esmpi_sig_verify(nk, (const uint8_t *)rcert_label,
	    sizeof(rcert_label), rc, rclen - ESMPI_SIG_LEN,
	    rc + rclen - ESMPI_SIG_LEN) != 0) {
		snprintf(err, errlen, "rank certificate of rank %u: signature "
		    "by node '%s' does not verify", rank, cn);
		goto out;
	}
	if (memcmp(c.job, job, 16) != 0 || c.rank != rank) {
		snprintf(err, errlen, "rank certificate from node '%s' is for "
		    "rank %u of another job or another rank, not rank %u of "
		    "this job", cn, c.rank, rank);
		goto out;
	}
	if (now < c.not_before || now > c.not_after) {
		snprintf(err, errlen, "rank certificate of rank %u from node "
		    "'%s' is not valid now", rank, cn);
		goto out;
	}
	if (esmpi_sig_from_point(pub, c.pub) != 0) {
		snprintf(err, errlen, "rank certificate of rank %u: public key "
		    "is not a P-256 point", rank);
		goto out;
	}
	r = 0;
out:
	esmpi_sig_free(nk);
	EVP_PKEY_free(npub);
	return r;
}
