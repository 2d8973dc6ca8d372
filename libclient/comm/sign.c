/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-message ECDSA P-256 signatures for policy rules with
 * `sign: ecdsa-p256` (proto/PROTOCOL.md §6). The AEAD key is shared by
 * the job, so it cannot tell which rank sealed a record; a signature by a
 * key only the sender holds can.
 *
 * At MPI_Init, if any rank's policy has a sign rule: every rank makes an
 * ephemeral signing key in process, its esmpid certifies the public half
 * for (job, world rank) with the node key, and the ranks allgather
 * {rank certificate, node certificate}. A peer's chain (node certificate
 * to the cluster CA the daemon gave us, then the rank certificate) is
 * verified the first time one of its records arrives. Point-to-point
 * records of sign rules carry 64 bytes r || s after the AEAD tag, over
 * label || AAD || ciphertext || tag, and are verified before opening.
 * On communicators of a link to another job (dynamic processes) the
 * other job's processes are verified against the certificates its root
 * sent at link set-up (mpi/dynamic.c), kept per link, which must name the
 * job id the link set-up authenticated.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "comm/comm.h"
#include "esmpi_err.h"
#include "esmpi_frame.h"
#include "esmpi_mem.h"
#include "esmpi_sig.h"

/* Domain separation: this key signs records only. */
static const char rec_label[16] = "esmpi rec sig v1";
#define PRE_LEN (sizeof(rec_label) + ESMPI_REC_AAD_LEN)

struct peer {
	int state;			/* 0 not yet verified, 1 ok, -1 refused */
	struct esmpi_sig_key *k;
	pthread_mutex_t lock;		/* use of k */
	char why[300];			/* why refused */
};

/* Signers' certificates: our job's (index = world rank) or the other
 * job's of a link (index = its rank in the link's remote group). */
struct esmpi_sign_tab {
	struct esmpi_sign_tab *next;	/* links' tables, freed at Finalize */
	uint8_t job[16];		/* the job id they must name */
	const uint32_t *world;		/* world rank by index; NULL: index */
	int foreign;			/* the other job's, for messages */
	uint8_t *blob;			/* every signer's {rank cert, node cert} */
	int *lens, *displs, n;
	struct peer *peers;
	struct node_seen { const uint8_t *der; size_t len; } *nodes;
	int nnodes;			/* node certificates verified */
};

static struct {
	int on;				/* the job signs some records */
	struct esmpi_sig_key *mine;	/* our private signing key */
	pthread_mutex_t lock;		/* use of mine */
	X509 *ca;			/* trust anchor from our esmpid */
	struct esmpi_sign_tab job;	/* our job's signers */
	struct esmpi_sign_tab *links;	/* the other jobs' of links */
	pthread_mutex_t plock;		/* set-up of peers, nodes; links */
} sg = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.plock = PTHREAD_MUTEX_INITIALIZER,
};

static __thread const char *last_why;

static int
policy_signs(void)
{
	size_t i;

	if (esmpi.defaults.sign == ESMPI_SIGN_ECDSA_P256)
		return 1;
	for (i = 0; i < esmpi.nrules; i++)
		if (esmpi.rules[i].set.sign == ESMPI_SIGN_ECDSA_P256)
			return 1;
	return 0;
}

size_t
esmpi_sign_extra(const struct esmpi_comm *c, int tag)
{
	if (!sg.on)
		return 0;
	return esmpi_comm_settings(c, tag)->sign == ESMPI_SIGN_ECDSA_P256 ?
	    ESMPI_SIG_LEN : 0;
}

size_t
esmpi_sign_slack(void)
{
	return sg.on ? ESMPI_SIG_LEN : 0;
}

/* Ask our esmpid to certify pub; *bundle = u16 len || rank cert || node
 * cert, as sent to the other ranks. */
static int
certify(const uint8_t pub[ESMPI_SIG_PUB_LEN], uint8_t **bundle, int *blen,
    char *err, size_t len)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__CertifyRequest cr = ESMPI__CERTIFY_REQUEST__INIT;
	Esmpi__Reply *rep = NULL;
	struct esmpi_sig_key *check = NULL;
	const unsigned char *p;
	const Esmpi__RankCert *rc;
	uint8_t *b;
	int r;

	cr.public_key.data = (uint8_t *)pub;
	cr.public_key.len = ESMPI_SIG_PUB_LEN;
	req.body_case = ESMPI__REQUEST__BODY_CERTIFY;
	req.certify = &cr;
	if ((r = esmpi_daemon_request(&req, &rep, err, len)) != 0)
		return r;
	r = ESMPI_ERR_PROTOCOL;
	if (rep->body_case != ESMPI__REPLY__BODY_RANK_CERT) {
		snprintf(err, len, "esmpid sent an unexpected reply to "
		    "CertifyRequest");
		goto out;
	}
	rc = rep->rank_cert;
	p = rc->ca_cert.data;
	if (rc->cert.len > ESMPI_RCERT_MAX || rc->node_cert.len == 0 ||
	    rc->node_cert.len > 16384 ||
	    (sg.ca = d2i_X509(NULL, &p, (long)rc->ca_cert.len)) == NULL) {
		snprintf(err, len, "esmpid sent a malformed rank certificate");
		goto out;
	}
	/* What the others will check, checked here first: a broken set-up
	 * fails at MPI_Init, naming this rank. */
	if ((r = esmpi_rcert_verify(sg.ca, rc->node_cert.data,
	    rc->node_cert.len, 0, rc->cert.data, rc->cert.len, esmpi.job_id,
	    (uint32_t)esmpi.world_rank, (uint64_t)time(NULL), &check, err,
	    len)) != 0)
		goto out;
	esmpi_sig_free(check);
	*blen = (int)(2 + rc->cert.len + rc->node_cert.len);
	if ((b = malloc((size_t)*blen)) == NULL) {
		r = ESMPI_ERR_NOMEM;
		goto out;
	}
	b[0] = (uint8_t)(rc->cert.len >> 8);
	b[1] = (uint8_t)rc->cert.len;
	memcpy(b + 2, rc->cert.data, rc->cert.len);
	memcpy(b + 2 + rc->cert.len, rc->node_cert.data, rc->node_cert.len);
	*bundle = b;
	r = 0;
out:
	esmpi__reply__free_unpacked(rep, NULL);
	return r;
}

int
esmpi_sign_setup(char *err, size_t len)
{
	uint8_t pub[ESMPI_SIG_PUB_LEN], *mine = NULL;
	int need = policy_signs(), any = 0, ok = 0, mylen = 0, i, n;
	long long total = 0;

	if (PMPI_Allreduce(&need, &any, 1, MPI_INT, MPI_MAX,
	    MPI_COMM_WORLD) != MPI_SUCCESS) {
		snprintf(err, len, "cannot agree on record signatures");
		return ESMPI_ERR_INTERNAL;
	}
	if (!any)
		return 0;
	/* Every rank takes part once any rank's policy signs. */
	sg.on = 1;
	n = sg.job.n = esmpi.world_size;
	memcpy(sg.job.job, esmpi.job_id, sizeof(sg.job.job));
	if (esmpi_sig_keygen(&sg.mine, pub) != 0)
		snprintf(err, len, "cannot create a signing key");
	else if (certify(pub, &mine, &mylen, err, len) == 0)
		ok = 1;
	if (ok && ((sg.job.lens = calloc(n, sizeof(int))) == NULL ||
	    (sg.job.displs = calloc(n, sizeof(int))) == NULL ||
	    (sg.job.peers = calloc(n, sizeof(*sg.job.peers))) == NULL ||
	    (sg.job.nodes = calloc(n, sizeof(*sg.job.nodes))) == NULL)) {
		snprintf(err, len, "out of memory");
		ok = 0;
	}
	if (!esmpi_all_ok(ok)) {
		if (ok)
			snprintf(err, len, "signing key certification failed "
			    "on another rank (see its message)");
		free(mine);
		return ESMPI_ERR_CERT;
	}
	PMPI_Allgather(&mylen, 1, MPI_INT, sg.job.lens, 1, MPI_INT,
	    MPI_COMM_WORLD);
	for (i = 0; i < n; i++) {
		sg.job.displs[i] = (int)total;
		total += sg.job.lens[i];
		pthread_mutex_init(&sg.job.peers[i].lock, NULL);
	}
	ok = total <= INT_MAX &&
	    (sg.job.blob = malloc(total ? total : 1)) != NULL;
	if (!esmpi_all_ok(ok)) {
		snprintf(err, len, "cannot hold the job's rank certificates");
		free(mine);
		return ESMPI_ERR_NOMEM;
	}
	PMPI_Allgatherv(mine, mylen, MPI_BYTE, sg.job.blob, sg.job.lens,
	    sg.job.displs, MPI_BYTE, MPI_COMM_WORLD);
	free(mine);
	return 0;
}

int
esmpi_sign_on(void)
{
	return sg.on;
}

void
esmpi_sign_bundle(uint32_t w, const uint8_t **b, int *len)
{
	*b = NULL;
	*len = 0;
	if (sg.job.blob != NULL && w < (uint32_t)sg.job.n) {
		*b = sg.job.blob + sg.job.displs[w];
		*len = sg.job.lens[w];
	}
}

struct esmpi_sign_tab *
esmpi_sign_tab_new(const uint8_t rjob[16], const uint32_t *world, int n,
    uint8_t *bundles, int *lens)
{
	struct esmpi_sign_tab *t = calloc(1, sizeof(*t));
	long long total = 0;
	int i;

	if (t == NULL || (t->displs = calloc(n ? n : 1, sizeof(int))) ==
	    NULL || (t->peers = calloc(n ? n : 1, sizeof(*t->peers))) ==
	    NULL || (t->nodes = calloc(n ? n : 1, sizeof(*t->nodes))) ==
	    NULL) {
		if (t != NULL) {
			free(t->displs);
			free(t->peers);
		}
		free(t);
		free(bundles);
		free(lens);
		return NULL;
	}
	memcpy(t->job, rjob, sizeof(t->job));
	t->world = world;
	t->foreign = 1;
	t->blob = bundles;
	t->lens = lens;
	t->n = n;
	for (i = 0; i < n; i++) {
		t->displs[i] = (int)total;
		total += lens[i];
		pthread_mutex_init(&t->peers[i].lock, NULL);
	}
	pthread_mutex_lock(&sg.plock);
	t->next = sg.links;
	sg.links = t;
	pthread_mutex_unlock(&sg.plock);
	return t;
}

/* The verifying key of signer w (world rank in t's job), its chain
 * checked on first use. */
static struct peer *
peer_get(struct esmpi_sign_tab *t, uint32_t w)
{
	struct peer *p;
	const uint8_t *b, *nd;
	const char *job = t->foreign ? " of the other job" : "";
	size_t rl, ndlen;
	int i, x = -1, known = 0;

	if (t->world == NULL)
		x = w < (uint32_t)t->n ? (int)w : -1;
	/* Links are small next to an ECDSA verify: a scan, once a peer. */
	for (i = 0; t->world != NULL && i < t->n && x < 0; i++)
		if (t->world[i] == w)
			x = i;
	if (t->peers == NULL || x < 0)
		return NULL;
	p = &t->peers[x];
	pthread_mutex_lock(&sg.plock);
	if (p->state != 0)
		goto out;
	p->state = -1;
	if (t->lens[x] == 0) {
		snprintf(p->why, sizeof(p->why), "world rank %u%s has no "
		    "signing key: its job's policy has no sign rule (a sign "
		    "rule must be in the policy of both jobs of a link)", w,
		    job);
		goto out;
	}
	b = t->blob + t->displs[x];
	rl = t->lens[x] >= 2 ? (size_t)(b[0] << 8 | b[1]) : SIZE_MAX;
	if (rl == SIZE_MAX || rl + 2 > (size_t)t->lens[x]) {
		snprintf(p->why, sizeof(p->why), "certificates of world rank "
		    "%u%s are malformed", w, job);
		goto out;
	}
	/* Ranks of one node share a node certificate: its chain once. */
	nd = b + 2 + rl;
	ndlen = (size_t)t->lens[x] - 2 - rl;
	for (i = 0; i < t->nnodes && !known; i++)
		known = t->nodes[i].len == ndlen &&
		    memcmp(t->nodes[i].der, nd, ndlen) == 0;
	if (esmpi_rcert_verify(sg.ca, nd, ndlen, known, b + 2, rl, t->job, w,
	    (uint64_t)time(NULL), &p->k, p->why, sizeof(p->why)) != 0) {
		if (t->foreign)
			snprintf(p->why + strlen(p->why), sizeof(p->why) -
			    strlen(p->why), ": 'this job' being the other job "
			    "of the link, as its link share named it");
		goto out;
	}
	p->state = 1;
	if (!known && t->nnodes < t->n) {
		t->nodes[t->nnodes].der = nd;
		t->nodes[t->nnodes++].len = ndlen;
	}
out:
	pthread_mutex_unlock(&sg.plock);
	return p;
}

static void
prefix(uint8_t pre[PRE_LEN], const uint8_t *rec, const struct esmpi_rec_aad *a)
{
	memcpy(pre, rec_label, sizeof(rec_label));
	esmpi_rec_aad_encode(pre + sizeof(rec_label), rec, a);
}

int
esmpi_sign_record(const struct esmpi_rec_aad *a, uint8_t *rec, size_t len)
{
	uint8_t pre[PRE_LEN];
	size_t body = ESMPI_REC_HDR_LEN + len + ESMPI_AEAD_TAG_LEN;
	int r;

	if (sg.mine == NULL)
		return ESMPI_ERR_INVALID;
	prefix(pre, rec, a);
	pthread_mutex_lock(&sg.lock);
	r = esmpi_sig_sign(sg.mine, pre, sizeof(pre), rec + ESMPI_REC_HDR_LEN,
	    body - ESMPI_REC_HDR_LEN, rec + body);
	pthread_mutex_unlock(&sg.lock);
	return r;
}

int
esmpi_sign_check(const struct esmpi_comm *c, const struct esmpi_rec_aad *a,
    const uint8_t *rec, size_t reclen)
{
	struct esmpi_sign_tab *t = &sg.job;
	struct esmpi_rec_hdr h;
	struct peer *p;
	uint8_t pre[PRE_LEN];
	uint32_t w = a->src;
	int r;

	/*
	 * On a link's communicator a process is named world rank << 1 |
	 * side: ours verify against our job's certificates, the other job's
	 * against those its root sent when the link was made.
	 */
	if (c->link != NULL) {
		w = a->src >> 1;
		if ((a->src & 1) != (uint32_t)c->link->side)
			t = c->link->sign;
	}
	if (t == NULL) {
		last_why = "a sign rule applies, but no signing certificates "
		    "of the other job were exchanged when the link was made";
		return ESMPI_ERR_SIGNATURE;
	}
	last_why = "no signature on a record of a sign rule";
	if (reclen < ESMPI_REC_OVERHEAD + ESMPI_SIG_LEN)
		return ESMPI_ERR_SIGNATURE;
	if ((r = esmpi_rec_hdr_decode(rec, &h)) != 0)
		return r;
	if (!(h.flags & ESMPI_REC_F_SIGNED))
		return ESMPI_ERR_SIGNATURE;
	if ((p = peer_get(t, w)) == NULL) {
		last_why = "sender unknown";
		return ESMPI_ERR_SIGNATURE;
	}
	if (p->state != 1) {
		last_why = p->why;
		return ESMPI_ERR_CERT;
	}
	prefix(pre, rec, a);
	pthread_mutex_lock(&p->lock);
	r = esmpi_sig_verify(p->k, pre, sizeof(pre), rec + ESMPI_REC_HDR_LEN,
	    reclen - ESMPI_REC_HDR_LEN - ESMPI_SIG_LEN,
	    rec + reclen - ESMPI_SIG_LEN);
	pthread_mutex_unlock(&p->lock);
	last_why = "signature does not verify under the sender's certified "
	    "key";
	return r;
}

const char *
esmpi_sign_why(void)
{
	return last_why != NULL ? last_why : "signature refused";
}

/* The peers' keys and certificates of t (not t itself, not world). */
static void
tab_clear(struct esmpi_sign_tab *t)
{
	int i;

	if (t->peers != NULL)
		for (i = 0; i < t->n; i++) {
			esmpi_sig_free(t->peers[i].k);
			pthread_mutex_destroy(&t->peers[i].lock);
		}
	free(t->peers);
	free(t->blob);
	free(t->lens);
	free(t->displs);
	free(t->nodes);
	memset(t, 0, sizeof(*t));
}

void
esmpi_sign_tab_free(struct esmpi_sign_tab *t)
{
	struct esmpi_sign_tab **pp;

	if (t == NULL)
		return;
	pthread_mutex_lock(&sg.plock);
	for (pp = &sg.links; *pp != NULL && *pp != t; pp = &(*pp)->next)
		;
	if (*pp == t)
		*pp = t->next;
	pthread_mutex_unlock(&sg.plock);
	tab_clear(t);
	free(t);
}

void
esmpi_sign_free(void)
{
	tab_clear(&sg.job);
	while (sg.links != NULL)
		esmpi_sign_tab_free(sg.links);
	/* Frees (and OpenSSL clears) the private signing key. */
	esmpi_sig_free(sg.mine);
	X509_free(sg.ca);
	sg.mine = NULL;
	sg.ca = NULL;
	sg.on = 0;
}
