/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "esmpi_bytes.h"
#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"
#include "jobkey.h"

/* v3: the share names the user it was issued to (its owner) and the
 * policy project its session runs under. */
static const char share_label[] = "esmpi key share v3";
static const char wrap_label[] = "esmpi wrap v1";
/* Same length as share_label: the transcript has one size. */
static const char link_share_label[] = "esmpi linkshare v1";
static const char link_wrap_label[] = "esmpi link wrap v1";

/* What a share's signature covers: label || job id || rank || uid ||
 * user length (1 byte) || user || project length (1 byte) || project ||
 * pub. */
#define TRANSCRIPT_MAX (sizeof(share_label) + ESMPI_JOB_ID_LEN + 4 + 4 + \
	1 + ESMPI_USER_MAX + 1 + ESMPI_PROJECT_MAX + ESMPI_ECDH_PUB_LEN)

static size_t
share_transcript(const struct esmpi_share *s, uint8_t t[TRANSCRIPT_MAX])
{
	size_t ulen = strnlen(s->user, ESMPI_USER_MAX);
	size_t plen = strnlen(s->project, ESMPI_PROJECT_MAX);
	uint8_t *p = t;

	_Static_assert(sizeof(link_share_label) == sizeof(share_label),
	    "share labels differ in length");
	memcpy(p, s->link ? link_share_label : share_label,
	    sizeof(share_label));
	p += sizeof(share_label);
	memcpy(p, s->job_id, ESMPI_JOB_ID_LEN);
	p += ESMPI_JOB_ID_LEN;
	esmpi_put_be32(p, s->rank);
	p += 4;
	esmpi_put_be32(p, s->uid);
	p += 4;
	*p++ = (uint8_t)ulen;
	memcpy(p, s->user, ulen);
	p += ulen;
	*p++ = (uint8_t)plen;
	memcpy(p, s->project, plen);
	p += plen;
	memcpy(p, s->pub, ESMPI_ECDH_PUB_LEN);
	p += ESMPI_ECDH_PUB_LEN;
	return (size_t)(p - t);
}

int
esmpid_jobkey_ephemeral(EVP_PKEY **eph, uint8_t pub[ESMPI_ECDH_PUB_LEN])
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	size_t len = 0;

	if (k == NULL)
		return ESMPI_ERR_CRYPTO;
	if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub,
	    ESMPI_ECDH_PUB_LEN, &len) != 1 || len != ESMPI_ECDH_PUB_LEN) {
		EVP_PKEY_free(k);
		return ESMPI_ERR_CRYPTO;
	}
	*eph = k;
	return 0;
}

int
esmpid_jobkey_sign_share(const struct esmpi_identity *id,
    const struct esmpi_share *s, uint8_t **sig, size_t *sig_len)
{
	uint8_t t[TRANSCRIPT_MAX];
	size_t n = share_transcript(s, t);

	return esmpi_pki_sign(id->key, t, n, sig, sig_len);
}

int
esmpid_jobkey_verify_share(const struct esmpi_identity *id,
    const struct esmpi_share *s, int chain_known, char *cn, size_t cnlen,
    char *err, size_t errlen)
{
	uint8_t t[TRANSCRIPT_MAX];
	EVP_PKEY *pub = NULL;
	size_t n;
	int r;

	if ((r = esmpi_pki_verify_peer(id, s->cert, s->cert_len, chain_known, &pub, cn,
	    cnlen, err, errlen)) != 0)
		return r;
	n = share_transcript(s, t);
	if ((r = esmpi_pki_verify(pub, t, n, s->sig, s->sig_len)) != 0)
		snprintf(err, errlen, "key share of rank %u: signature by "
		    "node '%s' does not verify", s->rank, cn);
	EVP_PKEY_free(pub);
	return r;
}

static EVP_PKEY *
pub_from_point(const uint8_t pub[ESMPI_ECDH_PUB_LEN])
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;

	if (bld == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pub, ESMPI_ECDH_PUB_LEN) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return k;
}

/* The ECDH secret of our ephemeral key and the other side's point. */
static int
ecdh(EVP_PKEY *eph, const uint8_t *peer_point, uint8_t shared[32])
{
	EVP_PKEY *peer;
	EVP_PKEY_CTX *ctx = NULL;
	size_t slen = 32;
	int r = ESMPI_ERR_CRYPTO;

	if ((peer = pub_from_point(peer_point)) == NULL)
		r = ESMPI_ERR_INVALID;
	else if ((ctx = EVP_PKEY_CTX_new(eph, NULL)) != NULL &&
	    EVP_PKEY_derive_init(ctx) == 1 &&
	    EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
	    EVP_PKEY_derive(ctx, shared, &slen) == 1 && slen == 32)
		r = 0;
	if (r != 0)
		esmpi_memzero(shared, 32);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	ERR_clear_error();
	return r;
}

/*
 * Wrap (seal) or unwrap a 32-byte key under a key-encryption key with
 * AES-256-GCM: out is ciphertext || tag (ESMPI_WRAPPED_LEN) when
 * sealing, the key when opening. Every kek is used once, so a zero
 * nonce is safe. The kek is wiped.
 */
static int
kek_aead(int seal, uint8_t kek[32], const uint8_t *aad, size_t aad_len,
    const uint8_t *in, uint8_t *out)
{
	static const uint8_t nonce[ESMPI_AEAD_NONCE_LEN];
	struct esmpi_aead *a = NULL;
	int r;

	if ((r = esmpi_aead_new(&a, ESMPI_SUITE_AES_256_GCM, kek, 32)) == 0)
		r = seal ? esmpi_aead_seal(a, out, out + ESMPI_JOB_KEY_LEN, in,
		    ESMPI_JOB_KEY_LEN, nonce, aad, aad_len) :
		    esmpi_aead_open(a, out, in, ESMPI_JOB_KEY_LEN,
		    in + ESMPI_JOB_KEY_LEN, nonce, aad, aad_len);
	esmpi_aead_free(a);
	esmpi_memzero(kek, 32);
	return r;
}

/*
 * The key-encryption key for one rank: HKDF(salt = job id, ikm = ECDH,
 * info = label || root pub || rank pub || rank). Both sides compute the
 * same ECDH secret (ours with their point).
 */
static int
derive_kek(EVP_PKEY *eph, const uint8_t *peer_point,
    const uint8_t root_pub[ESMPI_ECDH_PUB_LEN],
    const struct esmpi_share *rank_share, uint8_t kek[32])
{
	uint8_t shared[32], info[sizeof(wrap_label) + 2 * ESMPI_ECDH_PUB_LEN + 4];
	int r;

	if ((r = ecdh(eph, peer_point, shared)) != 0)
		return r;
	memcpy(info, wrap_label, sizeof(wrap_label));
	memcpy(info + sizeof(wrap_label), root_pub, ESMPI_ECDH_PUB_LEN);
	memcpy(info + sizeof(wrap_label) + ESMPI_ECDH_PUB_LEN, rank_share->pub,
	    ESMPI_ECDH_PUB_LEN);
	esmpi_put_be32(info + sizeof(wrap_label) + 2 * ESMPI_ECDH_PUB_LEN,
	    rank_share->rank);
	r = esmpi_hkdf_sha256(kek, 32, rank_share->job_id, ESMPI_JOB_ID_LEN,
	    shared, sizeof(shared), info, sizeof(info));
	esmpi_memzero(shared, sizeof(shared));
	if (r != 0)
		esmpi_memzero(kek, 32);
	return r;
}

static void
wrap_aad(const struct esmpi_share *s, uint8_t aad[ESMPI_JOB_ID_LEN + 4])
{
	memcpy(aad, s->job_id, ESMPI_JOB_ID_LEN);
	esmpi_put_be32(aad + ESMPI_JOB_ID_LEN, s->rank);
}

int
esmpid_jobkey_wrap(EVP_PKEY *eph, const uint8_t root_pub[ESMPI_ECDH_PUB_LEN],
    const struct esmpi_share *peer, const uint8_t job_key[ESMPI_JOB_KEY_LEN],
    uint8_t out[ESMPI_WRAPPED_LEN])
{
	uint8_t kek[32], aad[ESMPI_JOB_ID_LEN + 4];
	int r;

	if ((r = derive_kek(eph, peer->pub, root_pub, peer, kek)) != 0)
		return r;
	wrap_aad(peer, aad);
	return kek_aead(1, kek, aad, sizeof(aad), job_key, out);
}

int
esmpid_jobkey_unwrap(EVP_PKEY *eph, const struct esmpi_share *self,
    const struct esmpi_share *root, const uint8_t in[ESMPI_WRAPPED_LEN],
    uint8_t job_key[ESMPI_JOB_KEY_LEN])
{
	uint8_t kek[32], aad[ESMPI_JOB_ID_LEN + 4];
	int r;

	if ((r = derive_kek(eph, root->pub, root->pub, self, kek)) != 0)
		return r;
	wrap_aad(self, aad);
	return kek_aead(0, kek, aad, sizeof(aad), in, job_key);
}

/*
 * A link's key-encryption key: HKDF(salt = w job || u job, ikm = ECDH,
 * info = label || w point || u point || w rank || u rank). The two points
 * are fresh on each side (one link, one ephemeral key each), so a wrapped
 * secret opens for this pair and direction only.
 */
static int
link_kek(EVP_PKEY *eph, const uint8_t *peer_point, const struct esmpi_share *w,
    const struct esmpi_share *u, uint8_t kek[32])
{
	uint8_t shared[32], salt[2 * ESMPI_JOB_ID_LEN];
	uint8_t info[sizeof(link_wrap_label) + 2 * ESMPI_ECDH_PUB_LEN + 8];
	uint8_t *p = info;
	int r;

	if ((r = ecdh(eph, peer_point, shared)) != 0)
		return r;
	memcpy(salt, w->job_id, ESMPI_JOB_ID_LEN);
	memcpy(salt + ESMPI_JOB_ID_LEN, u->job_id, ESMPI_JOB_ID_LEN);
	memcpy(p, link_wrap_label, sizeof(link_wrap_label));
	p += sizeof(link_wrap_label);
	memcpy(p, w->pub, ESMPI_ECDH_PUB_LEN);
	p += ESMPI_ECDH_PUB_LEN;
	memcpy(p, u->pub, ESMPI_ECDH_PUB_LEN);
	p += ESMPI_ECDH_PUB_LEN;
	esmpi_put_be32(p, w->rank);
	esmpi_put_be32(p + 4, u->rank);
	r = esmpi_hkdf_sha256(kek, 32, salt, sizeof(salt), shared,
	    sizeof(shared), info, sizeof(info));
	esmpi_memzero(shared, sizeof(shared));
	if (r != 0)
		esmpi_memzero(kek, 32);
	return r;
}

static void
link_aad(const struct esmpi_share *w, const struct esmpi_share *u,
    uint8_t aad[2 * ESMPI_JOB_ID_LEN + 8])
{
	memcpy(aad, w->job_id, ESMPI_JOB_ID_LEN);
	memcpy(aad + ESMPI_JOB_ID_LEN, u->job_id, ESMPI_JOB_ID_LEN);
	esmpi_put_be32(aad + 2 * ESMPI_JOB_ID_LEN, w->rank);
	esmpi_put_be32(aad + 2 * ESMPI_JOB_ID_LEN + 4, u->rank);
}

int
esmpid_link_wrap(EVP_PKEY *eph, const struct esmpi_share *w,
    const struct esmpi_share *u, const uint8_t secret[ESMPI_JOB_KEY_LEN],
    uint8_t out[ESMPI_WRAPPED_LEN])
{
	uint8_t kek[32], aad[2 * ESMPI_JOB_ID_LEN + 8];
	int r;

	if ((r = link_kek(eph, u->pub, w, u, kek)) != 0)
		return r;
	link_aad(w, u, aad);
	return kek_aead(1, kek, aad, sizeof(aad), secret, out);
}

int
esmpid_link_unwrap(EVP_PKEY *eph, const struct esmpi_share *w,
    const struct esmpi_share *u, const uint8_t in[ESMPI_WRAPPED_LEN],
    uint8_t secret[ESMPI_JOB_KEY_LEN])
{
	uint8_t kek[32], aad[2 * ESMPI_JOB_ID_LEN + 8];
	int r;

	if ((r = link_kek(eph, w->pub, w, u, kek)) != 0)
		return r;
	link_aad(w, u, aad);
	return kek_aead(0, kek, aad, sizeof(aad), in, secret);
}
