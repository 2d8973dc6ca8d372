/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dynamic processes: spawn, accept/connect and join make an
 * intercommunicator to another job, which shares no job key with ours
 * (docs/ARCHITECTURE.md "Dynamic processes", proto/PROTOCOL.md §7). After
 * the MPI call, collective over both groups, the link key exchange:
 *
 * 1. Each side's root (local rank 0 of the intercommunicator) gets a link
 *    share from its esmpid (a fresh ephemeral P-256 key signed by the
 *    node key) and sends it to the other root with the world ranks of its
 *    group (HELLO). Both receive with MPI_ANY_TAG and a deadline: a side
 *    without libesmpi is seen sending application data, or nothing, and
 *    refused; nothing but public shares ever goes to it.
 * 2. The side whose point is the lower has its esmpid verify the other
 *    share (same CA, same user and project), draw a 32-byte secret and
 *    wrap it for that share; the other side's esmpid verifies and unwraps
 *    (WRAPPED). Both esmpids audit it.
 * 3. link id = SHA-256 over both HELLOs; link key = HKDF(secret, link id).
 *    The unwrapping side proves it holds the link key (CONFIRM), the
 *    wrapping side says whether it matched (DONE).
 * 4. CERTS: each root sends its group's signing certificates (empty when
 *    its job signs nothing) and its policy digest, the wrapping side first
 *    (the message may be too large for both to send at once). They are
 *    public, verified by the ranks that need them against the CA, and
 *    bind the job id of the other side's authenticated link share.
 * 5. Each root seals the link key for its own group under a key derived
 *    from its job key and broadcasts it (with the certificates, if this
 *    job signs); every member keeps the link (comm/link.c) and attaches
 *    the intercommunicator's state.
 *
 * A spawned child does its side in MPI_Init (esmpi_link_parent). A call
 * that fails gives the application MPI_COMM_NULL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "mpi/mpi_layer.h"
#include "esmpi_bytes.h"
#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"

#define LINK_TAG	32766	/* MPI guarantees MPI_TAG_UB >= 32767 */
#define MAGIC		"esmpilk1"
#define MAGIC_LEN	8
#define HELLO_MAX	(1 << 24)
#define SHARE_MAX	8192
#define CERTS_MAX	(1 << 26)
#define BUNDLE_MAX	(1 << 16)	/* one rank's rank + node certificate */
#define CERTS_HDR	(MAGIC_LEN + 32 + 4)

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
nap(void)
{
	struct timespec ts = { 0, 200000 };

	nanosleep(&ts, NULL);
}

/* Send to the other root, waiting at most until deadline. */
static int
link_send(MPI_Comm ic, const void *buf, int len, double deadline,
    const char *call, char *err, size_t elen)
{
	MPI_Request req;
	int flag = 0;

	if (PMPI_Isend(buf, len, MPI_BYTE, 0, LINK_TAG, ic, &req) !=
	    MPI_SUCCESS)
		goto fail;
	while (!flag) {
		if (PMPI_Test(&req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS)
			goto fail;
		if (flag)
			break;
		if (now() >= deadline) {
			PMPI_Cancel(&req);
			PMPI_Request_free(&req);
			snprintf(err, elen, "%s: the other side took no esmpi "
			    "link message within the deadline "
			    "(ESMPI_JOIN_TIMEOUT): it does not run libesmpi",
			    call);
			return ESMPI_ERR_DENIED;
		}
		nap();
	}
	return 0;
fail:
	snprintf(err, elen, "%s: cannot send to the other side", call);
	return ESMPI_ERR_PROTOCOL;
}

/*
 * Receive the other root's next link message (at most max bytes, *len
 * gets its size; exactly max when want_exact). Probes with MPI_ANY_TAG so
 * that application data from a side without libesmpi is seen (and left
 * alone), not waited past.
 */
static int
link_recv(MPI_Comm ic, uint8_t **buf, int max, int want_exact, int *len,
    double deadline, const char *call, char *err, size_t elen)
{
	MPI_Status st;
	int flag = 0, n = 0;

	*buf = NULL;
	for (;;) {
		if (PMPI_Iprobe(0, MPI_ANY_TAG, ic, &flag, &st) !=
		    MPI_SUCCESS) {
			snprintf(err, elen, "%s: cannot receive from the other "
			    "side", call);
			return ESMPI_ERR_PROTOCOL;
		}
		if (flag)
			break;
		if (now() >= deadline) {
			snprintf(err, elen, "%s: no esmpi link message from "
			    "the other side within the deadline "
			    "(ESMPI_JOIN_TIMEOUT): it does not run libesmpi "
			    "(or its esmpid is not answering); refused", call);
			return ESMPI_ERR_DENIED;
		}
		nap();
	}
	PMPI_Get_count(&st, MPI_BYTE, &n);
	if (st.MPI_TAG != LINK_TAG || n < MAGIC_LEN || n > max ||
	    (want_exact && n != max)) {
		snprintf(err, elen, "%s: the other side sent application "
		    "data (tag %d, %d bytes) where libesmpi sends its link "
		    "key exchange: it does not run libesmpi; refused, nothing "
		    "sent to it in plaintext", call, st.MPI_TAG, n);
		return ESMPI_ERR_DENIED;
	}
	if ((*buf = malloc(n)) == NULL)
		return ESMPI_ERR_NOMEM;
	if (PMPI_Recv(*buf, n, MPI_BYTE, 0, LINK_TAG, ic, MPI_STATUS_IGNORE) !=
	    MPI_SUCCESS || memcmp(*buf, MAGIC, MAGIC_LEN) != 0) {
		free(*buf);
		*buf = NULL;
		snprintf(err, elen, "%s: the other side's link message is "
		    "not libesmpi's", call);
		return ESMPI_ERR_DENIED;
	}
	*len = n;
	return 0;
}

/* Our group's world ranks, in intercommunicator local rank order. */
static int
local_worlds(MPI_Comm ic, uint32_t **out, int *n)
{
	MPI_Group g, wg;
	int *in, *r, i, rc;

	PMPI_Comm_size(ic, n);
	in = calloc(*n, sizeof(int));
	r = calloc(*n, sizeof(int));
	*out = calloc(*n, sizeof(uint32_t));
	if (in == NULL || r == NULL || *out == NULL) {
		free(in);
		free(r);
		free(*out);
		return ESMPI_ERR_NOMEM;
	}
	for (i = 0; i < *n; i++)
		in[i] = i;
	PMPI_Comm_group(ic, &g);
	PMPI_Comm_group(MPI_COMM_WORLD, &wg);
	rc = PMPI_Group_translate_ranks(g, *n, in, wg, r);
	for (i = 0; i < *n; i++)
		(*out)[i] = (uint32_t)r[i];
	PMPI_Group_free(&g);
	PMPI_Group_free(&wg);
	free(in);
	free(r);
	return rc == MPI_SUCCESS ? 0 : ESMPI_ERR_INTERNAL;
}

/*
 * HELLO: magic || share length (4) || world count (4) || share || world
 * ranks (4 each, big-endian).
 */
static uint8_t *
hello_make(const uint8_t *share, size_t slen, const uint32_t *w, int n,
    int *len)
{
	size_t total = MAGIC_LEN + 8 + slen + 4 * (size_t)n;
	uint8_t *h, *p;
	int i;

	if (total > HELLO_MAX || (h = malloc(total)) == NULL)
		return NULL;
	memcpy(h, MAGIC, MAGIC_LEN);
	esmpi_put_be32(h + MAGIC_LEN, (uint32_t)slen);
	esmpi_put_be32(h + MAGIC_LEN + 4, (uint32_t)n);
	memcpy(h + MAGIC_LEN + 8, share, slen);
	p = h + MAGIC_LEN + 8 + slen;
	for (i = 0; i < n; i++)
		esmpi_put_be32(p + 4 * i, w[i]);
	*len = (int)total;
	return h;
}

/* The share and world ranks of a HELLO of len bytes; 0 when well formed
 * for a remote group of nremote processes. */
static int
hello_parse(const uint8_t *h, int len, int nremote, const uint8_t **share,
    size_t *slen, uint32_t *w)
{
	uint32_t s, n;
	int i;

	if (len < MAGIC_LEN + 8)
		return -1;
	s = esmpi_get_be32(h + MAGIC_LEN);
	n = esmpi_get_be32(h + MAGIC_LEN + 4);
	if (s == 0 || s > SHARE_MAX || n != (uint32_t)nremote ||
	    (size_t)len != MAGIC_LEN + 8 + s + 4 * (size_t)n)
		return -1;
	*share = h + MAGIC_LEN + 8;
	*slen = s;
	for (i = 0; i < nremote; i++)
		w[i] = esmpi_get_be32(h + MAGIC_LEN + 8 + s + 4 * i);
	return 0;
}

/* The shares' points, to decide who wraps: the lower one; and (job not
 * NULL) the job id a share names, which its esmpid signed. */
static int
share_point(const uint8_t *share, size_t len, uint8_t pt[65], uint8_t *job)
{
	Esmpi__KeyShare *ks = esmpi__key_share__unpack(NULL, len, share);
	int r = -1;

	if (ks != NULL && ks->ecdh_public.len == 65 &&
	    (job == NULL || ks->job_id.len == 16)) {
		memcpy(pt, ks->ecdh_public.data, 65);
		if (job != NULL)
			memcpy(job, ks->job_id.data, 16);
		r = 0;
	}
	if (ks != NULL)
		esmpi__key_share__free_unpacked(ks, NULL);
	return r;
}

/*
 * CERTS: magic || policy digest (32) || count (4) || count lengths (4
 * each) || count bundles {rank cert, node cert} (comm/sign.c), of our
 * group's ranks in local rank order.
 */
static uint8_t *
certs_make(const uint32_t *w, int n, int *len)
{
	const uint8_t *b;
	uint64_t dg[4];
	size_t total = CERTS_HDR + 4 * (size_t)n;
	uint8_t *m, *p;
	int i, bl;

	for (i = 0; i < n; i++) {
		esmpi_sign_bundle(w[i], &b, &bl);
		total += (size_t)bl;
	}
	if (total > CERTS_MAX || esmpi_rules_digest(dg) != 0 ||
	    (m = malloc(total)) == NULL)
		return NULL;
	memcpy(m, MAGIC, MAGIC_LEN);
	for (i = 0; i < 4; i++) {
		esmpi_put_be32(m + MAGIC_LEN + 8 * i, (uint32_t)(dg[i] >> 32));
		esmpi_put_be32(m + MAGIC_LEN + 8 * i + 4, (uint32_t)dg[i]);
	}
	esmpi_put_be32(m + MAGIC_LEN + 32, (uint32_t)n);
	p = m + CERTS_HDR + 4 * (size_t)n;
	for (i = 0; i < n; i++) {
		esmpi_sign_bundle(w[i], &b, &bl);
		esmpi_put_be32(m + CERTS_HDR + 4 * i, (uint32_t)bl);
		if (bl > 0)
			memcpy(p, b, bl);
		p += bl;
	}
	*len = (int)total;
	return m;
}

/* 0 when the CERTS message m of len bytes is well formed for nremote
 * processes; lens (if not NULL) gets each bundle's length. */
static int
certs_parse(const uint8_t *m, int len, int nremote, int *lens)
{
	size_t total = CERTS_HDR + 4 * (size_t)nremote;
	uint32_t bl;
	int i;

	if (len < CERTS_HDR || esmpi_get_be32(m + MAGIC_LEN + 32) !=
	    (uint32_t)nremote || (size_t)len < total)
		return -1;
	for (i = 0; i < nremote; i++) {
		if ((bl = esmpi_get_be32(m + CERTS_HDR + 4 * i)) > BUNDLE_MAX)
			return -1;
		if (lens != NULL)
			lens[i] = (int)bl;
		total += bl;
	}
	return total == (size_t)len ? 0 : -1;
}

/*
 * The other job's policy digest against ours: a difference is warned
 * about (and audited) as between ranks of one job at MPI_Init; records
 * whose settings differ are refused anyway. 1 when they differ.
 */
static int
certs_policy(const uint8_t *m, const char *call)
{
	uint8_t mine[32];
	uint64_t dg[4];
	int i;

	if (esmpi_rules_digest(dg) != 0)
		return 0;
	for (i = 0; i < 4; i++) {
		esmpi_put_be32(mine + 8 * i, (uint32_t)(dg[i] >> 32));
		esmpi_put_be32(mine + 8 * i + 4, (uint32_t)dg[i]);
	}
	if (memcmp(mine, m + MAGIC_LEN, 32) == 0)
		return 0;
	fprintf(stderr, "esmpi: rank %d: warning: %s: the other job's policy "
	    "(digest %016llx) differs from this job's (%016llx): records "
	    "whose settings differ between the two jobs (suite, sign, scope) "
	    "will not be accepted; load the same policy on every node\n",
	    esmpi.world_rank, call, (unsigned long long)
	    esmpi_get_be32(m + MAGIC_LEN) << 32 | esmpi_get_be32(m +
	    MAGIC_LEN + 4), (unsigned long long)dg[0]);
	esmpi_audit("policy_mismatch", NULL, -1, -1, "%s: the other job's "
	    "policy differs from this job's (digest %016llx)", call,
	    (unsigned long long)dg[0]);
	return 1;
}

/*
 * The roots' part: HELLO both ways, WRAPPED, CONFIRM, DONE, CERTS. On
 * success key (32), id, *side, rw (the remote group's world ranks), rjob
 * (the other job's id, as its esmpid signed it) and *certs (the other
 * root's CERTS, *clen bytes, checked with certs_parse) are set.
 */
static int
root_exchange(MPI_Comm ic, int nremote, int timeout, const char *call,
    uint8_t key[32], uint8_t id[ESMPI_LINK_ID_LEN], int *side, uint32_t *rw,
    uint8_t rjob[16], uint8_t **certs, int *clen, char *err, size_t elen)
{
	uint8_t *share = NULL, *mine = NULL, *theirs = NULL, *msg = NULL;
	uint8_t ptm[65], ptt[65], secret[32], md[SHA256_DIGEST_LENGTH];
	uint8_t out[MAGIC_LEN + 4 + ESMPI_LINK_WRAPPED_LEN], conf[32];
	const uint8_t *tshare;
	uint32_t *lw = NULL;
	size_t slen = 0, tslen = 0;
	int mlen = 0, tlen = 0, n = 0, nlw = 0, r, wrap, ok;
	double deadline = now() + timeout;
	uint8_t *both;

	if ((r = local_worlds(ic, &lw, &nlw)) != 0 ||
	    (r = esmpi_link_share(&share, &slen, err, elen)) != 0)
		goto out;
	r = ESMPI_ERR_NOMEM;
	if ((mine = hello_make(share, slen, lw, nlw, &mlen)) == NULL)
		goto out;
	/* Both send first: the HELLOs are small and public. */
	if ((r = link_send(ic, mine, mlen, deadline, call, err, elen)) != 0 ||
	    (r = link_recv(ic, &theirs, HELLO_MAX, 0, &tlen, deadline, call,
	    err, elen)) != 0)
		goto out;
	r = ESMPI_ERR_PROTOCOL;
	if (hello_parse(theirs, tlen, nremote, &tshare, &tslen, rw) != 0 ||
	    share_point(share, slen, ptm, NULL) != 0 ||
	    share_point(tshare, tslen, ptt, rjob) != 0) {
		snprintf(err, elen, "%s: the other side's link hello is "
		    "malformed", call);
		goto out;
	}
	wrap = memcmp(ptm, ptt, sizeof(ptm)) < 0;
	*side = wrap ? 0 : 1;
	/* link id: both HELLOs, the wrapping side's first. */
	r = ESMPI_ERR_NOMEM;
	if ((both = malloc(13 + (size_t)mlen + tlen)) == NULL)
		goto out;
	memcpy(both, "esmpi link id", 13);
	memcpy(both + 13, wrap ? mine : theirs, wrap ? mlen : tlen);
	memcpy(both + 13 + (wrap ? mlen : tlen), wrap ? theirs : mine,
	    wrap ? tlen : mlen);
	SHA256(both, 13 + (size_t)mlen + tlen, md);
	free(both);
	memcpy(id, md, ESMPI_LINK_ID_LEN);

	memcpy(out, MAGIC, MAGIC_LEN);
	if (wrap) {
		/* WRAPPED: ok || wrapped secret; ok 0 tells the other side
		 * our esmpid refused (the message is ours to print). */
		r = esmpi_link_key(1, tshare, tslen, out + MAGIC_LEN + 4,
		    secret, err, elen);
		esmpi_put_be32(out + MAGIC_LEN, r == 0);
		if (r != 0)
			memset(out + MAGIC_LEN + 4, 0, ESMPI_LINK_WRAPPED_LEN);
		ok = link_send(ic, out, sizeof(out), deadline, call, err,
		    r == 0 ? elen : 0);
		if (r != 0 || (r = ok) != 0)
			goto out;
	} else {
		if ((r = link_recv(ic, &msg, sizeof(out), 1, &n, deadline,
		    call, err, elen)) != 0)
			goto out;
		if (esmpi_get_be32(msg + MAGIC_LEN) != 1) {
			snprintf(err, elen, "%s: the other side's esmpid "
			    "refused the link (see its message)", call);
			r = ESMPI_ERR_DENIED;
			goto out;
		}
		if ((r = esmpi_link_key(0, tshare, tslen, msg + MAGIC_LEN + 4,
		    secret, err, elen)) != 0)
			goto out;
		free(msg);
		msg = NULL;
	}
	if ((r = esmpi_hkdf_sha256(key, 32, id, ESMPI_LINK_ID_LEN, secret, 32,
	    (const uint8_t *)"esmpi link", 10)) != 0 ||
	    (r = esmpi_hkdf_sha256(conf, 32, NULL, 0, key, 32,
	    (const uint8_t *)"esmpi link confirm", 18)) != 0)
		goto out;
	/* CONFIRM (unwrapping side: ok || conf) and DONE (ok). */
	{
		uint8_t c[MAGIC_LEN + 4 + 32], d[MAGIC_LEN + 4];

		memcpy(c, MAGIC, MAGIC_LEN);
		memcpy(d, MAGIC, MAGIC_LEN);
		if (!wrap) {
			esmpi_put_be32(c + MAGIC_LEN, 1);
			memcpy(c + MAGIC_LEN + 4, conf, 32);
			if ((r = link_send(ic, c, sizeof(c), deadline, call,
			    err, elen)) != 0 ||
			    (r = link_recv(ic, &msg, sizeof(d), 1, &n,
			    deadline, call, err, elen)) != 0)
				goto out;
			ok = esmpi_get_be32(msg + MAGIC_LEN) == 1;
		} else {
			if ((r = link_recv(ic, &msg, sizeof(c), 1, &n,
			    deadline, call, err, elen)) != 0)
				goto out;
			ok = esmpi_get_be32(msg + MAGIC_LEN) == 1 &&
			    CRYPTO_memcmp(msg + MAGIC_LEN + 4, conf, 32) == 0;
			esmpi_put_be32(d + MAGIC_LEN, ok);
			if ((r = link_send(ic, d, sizeof(d), deadline, call,
			    err, elen)) != 0)
				goto out;
		}
		if (!ok) {
			snprintf(err, elen, "%s: the two sides do not hold the "
			    "same link key (tampered exchange); refused", call);
			r = ESMPI_ERR_AUTH;
			goto out;
		}
	}
	/* CERTS: one side sends first, the other receives first. */
	free(msg);
	msg = NULL;
	r = ESMPI_ERR_NOMEM;
	if ((msg = certs_make(lw, nlw, &n)) == NULL)
		goto out;
	if ((wrap && (r = link_send(ic, msg, n, deadline, call, err,
	    elen)) != 0) ||
	    (r = link_recv(ic, certs, CERTS_MAX, 0, clen, deadline, call,
	    err, elen)) != 0 ||
	    (!wrap && (r = link_send(ic, msg, n, deadline, call, err,
	    elen)) != 0))
		goto out;
	if (certs_parse(*certs, *clen, nremote, NULL) != 0) {
		snprintf(err, elen, "%s: the other side's signing certificates "
		    "are malformed", call);
		r = ESMPI_ERR_PROTOCOL;
		goto out;
	}
	r = 0;
out:
	if (r != 0) {
		esmpi_memzero(key, 32);
		free(*certs);
		*certs = NULL;
	}
	esmpi_memzero(secret, sizeof(secret));
	esmpi_memzero(conf, sizeof(conf));
	free(share);
	free(mine);
	free(theirs);
	free(msg);
	free(lw);
	return r;
}

/* The key that seals the link key for our own group: from our job key. */
static int
group_aead(struct esmpi_aead **a)
{
	uint8_t k[32];
	int r;

	if ((r = esmpi_hkdf_sha256(k, 32, esmpi.job_id, sizeof(esmpi.job_id),
	    esmpi.job_key, 32, (const uint8_t *)"esmpi link group", 16)) == 0)
		r = esmpi_aead_new(a, ESMPI_SUITE_AES_256_GCM, k, 32);
	esmpi_memzero(k, sizeof(k));
	return r;
}

/* What the root broadcasts to its group, after the remote world ranks. */
struct dist {
	int32_t ok, side, policy_differs, clen;
	uint8_t id[ESMPI_LINK_ID_LEN];
	uint8_t rjob[16];		/* the other job's id */
	uint8_t nonce[ESMPI_AEAD_NONCE_LEN];
	uint8_t ct[32], tag[ESMPI_AEAD_TAG_LEN];
};

/*
 * Both sides in our own job (ranks of one job joined or connected to each
 * other): the job key covers them; only a context id is agreed, from a
 * nonce of each root exchanged over ic.
 */
static int
same_job(MPI_Comm ic, MPI_Comm local, const char *call, char *err,
    size_t elen)
{
	struct { uint64_t lo, hi; char kind[16]; } in;
	uint64_t mine = 0, theirs = 0;
	int rank, r;

	PMPI_Comm_rank(ic, &rank);
	if (rank == 0 && (esmpi_random(&mine, sizeof(mine)) != 0 ||
	    PMPI_Sendrecv(&mine, 1, MPI_UINT64_T, 0, LINK_TAG, &theirs, 1,
	    MPI_UINT64_T, 0, LINK_TAG, ic, MPI_STATUS_IGNORE) != MPI_SUCCESS))
		mine = theirs = 0;
	PMPI_Bcast(&mine, 1, MPI_UINT64_T, 0, local);
	PMPI_Bcast(&theirs, 1, MPI_UINT64_T, 0, local);
	memset(&in, 0, sizeof(in));
	in.lo = mine < theirs ? mine : theirs;
	in.hi = mine < theirs ? theirs : mine;
	strcpy(in.kind, "same job");
	if ((in.lo == 0 && in.hi == 0) ||
	    (r = esmpi_comm_attach(ic, esmpi_comm_ctx_hash(&in,
	    sizeof(in)))) != 0) {
		snprintf(err, elen, "%s: cannot key the new intercommunicator",
		    call);
		return ESMPI_ERR_INTERNAL;
	}
	return 0;
}

/* Broadcast len bytes from the root; a rank without buf (out of
 * memory) takes part all the same, into a sink (public bytes only). */
static void
bcast_pieces(uint8_t *buf, int len, MPI_Comm local)
{
	static uint8_t sink[65536];
	int o, k;

	for (o = 0; o < len; o += k) {
		k = len - o < (int)sizeof(sink) ? len - o : (int)sizeof(sink);
		PMPI_Bcast(buf != NULL ? buf + o : sink, k, MPI_BYTE, 0, local);
	}
}

/*
 * The other job's signing certificates, from the root's CERTS (*certs,
 * clen bytes, broadcast here) to a table (*tab) bound to the other job's
 * id rjob and world ranks rw. r: this rank's state so far (the
 * broadcast happens anyway: the group stays in step); returns the new.
 */
static int
link_certs(MPI_Comm local, int rank, uint8_t **certs, int clen,
    const uint8_t rjob[16], const uint32_t *rw, int nremote,
    struct esmpi_sign_tab **tab, int r, const char *call, char *err,
    size_t elen)
{
	uint8_t *b;
	int *lens, off = CERTS_HDR + 4 * nremote;

	if (rank != 0 && (*certs = malloc(clen)) == NULL)
		r = r ? r : ESMPI_ERR_NOMEM;
	bcast_pieces(*certs, clen, local);
	if (r != 0)
		return r;
	lens = calloc(nremote ? nremote : 1, sizeof(int));
	b = malloc(clen - off > 0 ? (size_t)(clen - off) : 1);
	if (lens == NULL || b == NULL ||
	    certs_parse(*certs, clen, nremote, lens) != 0) {
		free(lens);
		free(b);
		snprintf(err, elen, "%s: cannot keep the other job's signing "
		    "certificates", call);
		return ESMPI_ERR_NOMEM;
	}
	memcpy(b, *certs + off, clen - off);
	if ((*tab = esmpi_sign_tab_new(rjob, rw, nremote, b, lens)) == NULL) {
		snprintf(err, elen, "%s: cannot keep the other job's signing "
		    "certificates", call);
		return ESMPI_ERR_NOMEM;
	}
	return 0;
}

static int
link_establish(MPI_Comm ic, MPI_Comm local, int timeout,
    const char *call, char *err, size_t elen)
{
	struct esmpi_aead *a = NULL;
	struct esmpi_sign_tab *tab = NULL;
	struct dist d;
	uint8_t key[32], *certs = NULL;
	uint32_t *rw = NULL;
	int rank = 0, nremote = 0, r = 0, lr = 0;

	if (!esmpi_comm_foreign(ic))
		return same_job(ic, local, call, err, elen);
	PMPI_Comm_rank(ic, &rank);
	PMPI_Comm_remote_size(ic, &nremote);
	memset(&d, 0, sizeof(d));
	if ((rw = calloc(nremote, sizeof(uint32_t))) == NULL)
		r = ESMPI_ERR_NOMEM;
	if (rank == 0) {
		if (r == 0)
			r = root_exchange(ic, nremote, timeout, call, key,
			    d.id, &d.side, rw, d.rjob, &certs, &d.clen, err,
			    elen);
		if (r == 0)
			d.policy_differs = certs_policy(certs, call);
		if (r == 0 && ((r = group_aead(&a)) != 0 ||
		    (r = esmpi_random(d.nonce, sizeof(d.nonce))) != 0 ||
		    (r = esmpi_aead_seal(a, d.ct, d.tag, key, 32, d.nonce,
		    d.id, sizeof(d.id))) != 0))
			snprintf(err, elen, "%s: cannot seal the link key for "
			    "this group", call);
		d.ok = r == 0;
	}
	/* Roots answer only after the exchange; the group waits here. */
	PMPI_Bcast(&d, sizeof(d), MPI_BYTE, 0, local);
	if (!d.ok) {
		if (rank != 0)
			snprintf(err, elen, "%s: the link to the other job "
			    "failed at this group's root (see its message)",
			    call);
		r = r ? r : ESMPI_ERR_DENIED;
		goto out;
	}
	PMPI_Bcast(rw, nremote * 4, MPI_BYTE, 0, local);
	if (d.policy_differs)
		esmpi.policy_differs = 1;
	if (rank != 0 && ((r = group_aead(&a)) != 0 ||
	    (r = esmpi_aead_open(a, key, d.ct, 32, d.tag, d.nonce, d.id,
	    sizeof(d.id))) != 0))
		snprintf(err, elen, "%s: the link key from this group's root "
		    "does not authenticate", call);
	/* A job that signs verifies the other job's signers (comm/sign.c);
	 * every rank of a job agrees whether it signs. */
	if (esmpi_sign_on())
		r = link_certs(local, rank, &certs, d.clen, d.rjob, rw,
		    nremote, &tab, r, call, err, elen);
	/* Everyone attaches, or nobody: keys on one side only would hang. */
	if (r == 0) {
		MPI_Group g;

		PMPI_Comm_remote_group(ic, &g);
		if (esmpi_link_add(key, d.id, d.side, rw, nremote, g, tab) ==
		    NULL) {
			PMPI_Group_free(&g);
			esmpi_sign_tab_free(tab);
			r = ESMPI_ERR_NOMEM;
			snprintf(err, elen, "%s: no locked memory for the link "
			    "key", call);
		} else
			rw = NULL;
		tab = NULL;
	}
	if (r == 0) {
		lr = esmpi_comm_attach(ic, esmpi_comm_ctx_hash(d.id,
		    sizeof(d.id)));
		if (lr != 0)
			snprintf(err, elen, "%s: cannot key the new "
			    "intercommunicator: %s", call, esmpi_strerror(lr));
	}
	{
		int mine = r == 0 && lr == 0, all = 0;

		PMPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, local);
		if (!all && r == 0 && lr == 0) {
			snprintf(err, elen, "%s: the link failed on another "
			    "rank of this group (see its message)", call);
			r = ESMPI_ERR_DENIED;
		}
		if (lr != 0)
			r = lr;
		if (!all && r != 0)
			PMPI_Comm_delete_attr(ic, esmpi.keyval);
	}
out:
	esmpi_sign_tab_free(tab);
	free(certs);
	esmpi_aead_free(a);
	esmpi_memzero(key, sizeof(key));
	esmpi_memzero(&d, sizeof(d));
	free(rw);
	return r;
}

static int
link_new(MPI_Comm *ic, MPI_Comm local, MPI_Comm errcomm, const char *call)
{
	char err[1024];
	int timeout, r;

	if (*ic == MPI_COMM_NULL)
		return MPI_SUCCESS;
	if (esmpi_join_timeout(&timeout, err, sizeof(err)) == 0 &&
	    (r = link_establish(*ic, local, timeout, call, err,
	    sizeof(err))) == 0)
		return MPI_SUCCESS;
	esmpi_audit("link_refused", NULL, -1, -1, "%s", err);
	/* The handle stays with us: disconnecting would wait for a side that
	 * may never answer, and the application must not talk to it. */
	*ic = MPI_COMM_NULL;
	return esmpi_fail(errcomm, esmpi.err_denied, "%s", err);
}

int
esmpi_link_parent(char *err, size_t len)
{
	MPI_Comm parent = MPI_COMM_NULL;
	int timeout, r;

	PMPI_Comm_get_parent(&parent);
	if (parent == MPI_COMM_NULL)
		return 0;
	if ((r = esmpi_join_timeout(&timeout, err, len)) != 0)
		return r;
	return link_establish(parent, MPI_COMM_WORLD, timeout,
	    "MPI_Init (link to the parent job of MPI_Comm_spawn)", err, len);
}

#define DYNAMIC(call, local, ic, pcall) do {				\
	int rc_;							\
	if (esmpi.failed)						\
		return esmpi.err_init;					\
	rc_ = (pcall);							\
	if (rc_ != MPI_SUCCESS || !esmpi.active)			\
		return rc_;						\
	return link_new(ic, local, local, call);			\
} while (0)

ESMPI_EXPORT int
MPI_Comm_spawn(const char *command, char *argv[], int maxprocs,
    MPI_Info info, int root, MPI_Comm comm, MPI_Comm *intercomm,
    int array_of_errcodes[])
{
	DYNAMIC("MPI_Comm_spawn", comm, intercomm, PMPI_Comm_spawn(command,
	    argv, maxprocs, info, root, comm, intercomm, array_of_errcodes));
}

ESMPI_EXPORT int
MPI_Comm_spawn_multiple(int count, char *array_of_commands[],
    char **array_of_argv[], const int array_of_maxprocs[],
    const MPI_Info array_of_info[], int root, MPI_Comm comm,
    MPI_Comm *intercomm, int array_of_errcodes[])
{
	DYNAMIC("MPI_Comm_spawn_multiple", comm, intercomm,
	    PMPI_Comm_spawn_multiple(count, array_of_commands, array_of_argv,
	    array_of_maxprocs, array_of_info, root, comm, intercomm,
	    array_of_errcodes));
}

ESMPI_EXPORT int
MPI_Comm_accept(const char *port_name, MPI_Info info, int root,
    MPI_Comm comm, MPI_Comm *newcomm)
{
	DYNAMIC("MPI_Comm_accept", comm, newcomm,
	    PMPI_Comm_accept(port_name, info, root, comm, newcomm));
}

ESMPI_EXPORT int
MPI_Comm_connect(const char *port_name, MPI_Info info, int root,
    MPI_Comm comm, MPI_Comm *newcomm)
{
	DYNAMIC("MPI_Comm_connect", comm, newcomm,
	    PMPI_Comm_connect(port_name, info, root, comm, newcomm));
}

ESMPI_EXPORT int
MPI_Comm_join(int fd, MPI_Comm *intercomm)
{
	DYNAMIC("MPI_Comm_join", MPI_COMM_SELF, intercomm,
	    PMPI_Comm_join(fd, intercomm));
}
