/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The job key (docs/ARCHITECTURE.md "Keys"): every rank sends its esmpid
 * a KeyShare; rank 0 gathers the shares, has its daemon verify them and
 * wrap a fresh job key per rank; the wrapped keys are scattered, rank 0's
 * share broadcast, and each rank's daemon verifies it and unwraps. Plain
 * PMPI collectives carry only public shares and wrapped keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "session/session.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"

#define JOB_KEY_LEN	32
#define WRAPPED_LEN	48

/* Connect, Hello, KeyShare: this rank's part before the exchange. */
static int
local_open(Esmpi__Reply **share, char *err, size_t len)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__KeyShareRequest ks = ESMPI__KEY_SHARE_REQUEST__INIT;
	Esmpi__Reply *rep = NULL;
	int r;

	if ((r = esmpi_daemon_connect(&rep, err, len)) != 0)
		return r;
	r = esmpi_rules_take(rep->hello);
	esmpi__reply__free_unpacked(rep, NULL);
	if (r != 0) {
		snprintf(err, len, "policy from esmpid unusable: %s",
		    esmpi_strerror(r));
		return r;
	}
	req.body_case = ESMPI__REQUEST__BODY_KEY_SHARE;
	req.key_share = &ks;
	if ((r = esmpi_daemon_request(&req, share, err, len)) != 0)
		return r;
	if ((*share)->body_case != ESMPI__REPLY__BODY_KEY_SHARE) {
		esmpi__reply__free_unpacked(*share, NULL);
		*share = NULL;
		snprintf(err, len, "esmpid sent an unexpected reply to KeyShare");
		return ESMPI_ERR_PROTOCOL;
	}
	return 0;
}

/* Whether every rank succeeded so far (collective). */
int
esmpi_all_ok(int ok)
{
	int all = 0;

	if (PMPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) !=
	    MPI_SUCCESS)
		return 0;
	return all;
}

/*
 * Rank 0 gathers every share, has its daemon verify them and wrap a fresh
 * job key per rank; wrapped keys are scattered, rank 0's share broadcast,
 * and each rank's daemon verifies it and unwraps.
 */
static int
establish(char *err, size_t len)
{
	Esmpi__Reply *share = NULL, *wrapped = NULL, *rep = NULL;
	Esmpi__KeyShare **shares = NULL, *root_share = NULL;
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	uint8_t *mine = NULL, *all = NULL, *rootbuf = NULL;
	uint8_t *wrapbuf = NULL, wrapped_mine[WRAPPED_LEN];
	int *lens = NULL, *displs = NULL, mylen = 0, rootlen = 0, total = 0;
	int ok, r = ESMPI_ERR_INTERNAL, i, n = esmpi.world_size;
	int root = esmpi.world_rank == 0;

	ok = local_open(&share, err, len) == 0;
	if (!esmpi_all_ok(ok)) {
		if (ok)
			snprintf(err, len, "job key establishment failed on "
			    "another rank (see its message)");
		r = ESMPI_ERR_PROTOCOL;
		goto out;
	}
	/* Our node, as our own esmpid identifies it (comm/scope.c). */
	SHA256(share->key_share->node_cert.data,
	    share->key_share->node_cert.len, esmpi.node_id);
	mylen = (int)esmpi__key_share__get_packed_size(share->key_share);
	if ((mine = malloc(mylen)) == NULL)
		goto out;
	esmpi__key_share__pack(share->key_share, mine);
	if (root && ((lens = calloc(n, sizeof(int))) == NULL ||
	    (displs = calloc(n, sizeof(int))) == NULL))
		goto out;
	PMPI_Gather(&mylen, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (root) {
		for (i = 0; i < n; i++) {
			displs[i] = total;
			total += lens[i];
		}
		if ((all = malloc(total)) == NULL ||
		    (shares = calloc(n, sizeof(*shares))) == NULL ||
		    (wrapbuf = malloc((size_t)n * WRAPPED_LEN)) == NULL)
			goto out;
	}
	PMPI_Gatherv(mine, mylen, MPI_BYTE, all, lens, displs, MPI_BYTE, 0,
	    MPI_COMM_WORLD);

	ok = 1;
	if (root) {
		Esmpi__WrapJobKeyRequest w = ESMPI__WRAP_JOB_KEY_REQUEST__INIT;

		for (i = 0; i < n && ok; i++) {
			shares[i] = esmpi__key_share__unpack(NULL, lens[i],
			    all + displs[i]);
			if (shares[i] == NULL) {
				snprintf(err, len, "key share of rank %d is "
				    "malformed", i);
				ok = 0;
			}
		}
		w.shares = shares;
		w.n_shares = (size_t)n;
		req.body_case = ESMPI__REQUEST__BODY_WRAP;
		req.wrap = &w;
		if (ok && esmpi_daemon_request(&req, &wrapped, err, len) != 0)
			ok = 0;
		if (ok && (wrapped->body_case != ESMPI__REPLY__BODY_WRAP ||
		    wrapped->wrap->n_keys != (size_t)n)) {
			snprintf(err, len, "esmpid returned a bad wrap reply");
			ok = 0;
		}
		for (i = 0; ok && i < n; i++) {
			if (wrapped->wrap->keys[i]->ciphertext.len !=
			    WRAPPED_LEN) {
				ok = 0;
				break;
			}
			memcpy(wrapbuf + (size_t)i * WRAPPED_LEN,
			    wrapped->wrap->keys[i]->ciphertext.data,
			    WRAPPED_LEN);
		}
		rootlen = mylen;
		rootbuf = mine;
	}
	PMPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (!ok) {
		if (!root)
			snprintf(err, len, "rank 0's esmpid refused the job "
			    "(see rank 0's message)");
		r = ESMPI_ERR_CERT;
		goto out;
	}
	PMPI_Scatter(wrapbuf, WRAPPED_LEN, MPI_BYTE, wrapped_mine,
	    WRAPPED_LEN, MPI_BYTE, 0, MPI_COMM_WORLD);
	PMPI_Bcast(&rootlen, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (!root && (rootbuf = malloc(rootlen)) == NULL)
		goto out;
	PMPI_Bcast(rootbuf, rootlen, MPI_BYTE, 0, MPI_COMM_WORLD);

	ok = 0;
	root_share = esmpi__key_share__unpack(NULL, rootlen, rootbuf);
	if (root_share == NULL) {
		snprintf(err, len, "rank 0's key share is malformed");
	} else {
		Esmpi__UnwrapJobKeyRequest u =
		    ESMPI__UNWRAP_JOB_KEY_REQUEST__INIT;
		Esmpi__WrappedKey wk = ESMPI__WRAPPED_KEY__INIT;

		wk.rank = (uint32_t)esmpi.world_rank;
		wk.ciphertext.data = wrapped_mine;
		wk.ciphertext.len = WRAPPED_LEN;
		u.root_share = root_share;
		u.key = &wk;
		req.body_case = ESMPI__REQUEST__BODY_UNWRAP;
		req.unwrap = &u;
		if (esmpi_daemon_request(&req, &rep, err, len) == 0) {
			if (rep->body_case == ESMPI__REPLY__BODY_UNWRAP &&
			    rep->unwrap->job_key.len == JOB_KEY_LEN) {
				memcpy(esmpi.job_key, rep->unwrap->job_key.data,
				    JOB_KEY_LEN);
				esmpi_memzero(rep->unwrap->job_key.data,
				    JOB_KEY_LEN);
				ok = 1;
			} else
				snprintf(err, len, "esmpid returned a bad "
				    "unwrap reply");
		}
	}
	if (!esmpi_all_ok(ok)) {
		if (ok)
			snprintf(err, len, "job key establishment failed on "
			    "another rank (see its message)");
		r = ESMPI_ERR_AUTH;
		goto out;
	}
	r = 0;
out:
	if (shares != NULL)
		for (i = 0; i < n; i++)
			if (shares[i] != NULL)
				esmpi__key_share__free_unpacked(shares[i],
				    NULL);
	if (root_share != NULL)
		esmpi__key_share__free_unpacked(root_share, NULL);
	if (share != NULL)
		esmpi__reply__free_unpacked(share, NULL);
	if (wrapped != NULL) {
		esmpi__reply__free_unpacked(wrapped, NULL);
	}
	if (rep != NULL)
		esmpi__reply__free_unpacked(rep, NULL);
	if (rootbuf != mine)
		free(rootbuf);
	free(mine);
	free(all);
	free(shares);
	esmpi_freezero(wrapbuf, wrapbuf ? (size_t)n * WRAPPED_LEN : 0);
	esmpi_memzero(wrapped_mine, sizeof(wrapped_mine));
	free(lens);
	free(displs);
	return r;
}

int
esmpi_session_open(char *err, size_t len)
{
	int r;

	/* Secrets live in locked, undumpable memory (core/secmem.c). */
	if ((esmpi.job_key = esmpi_secure_calloc(JOB_KEY_LEN)) == NULL) {
		snprintf(err, len, "no memory kept out of core dumps for keys");
		return ESMPI_ERR_NOMEM;
	}
	if ((r = establish(err, len)) != 0)
		esmpi_memzero(esmpi.job_key, JOB_KEY_LEN);
	return r;
}

void
esmpi_session_close(void)
{
	esmpi_secure_free(esmpi.job_key, JOB_KEY_LEN);
	esmpi.job_key = NULL;
	esmpi_daemon_close();
	esmpi_rules_free();
}

/*
 * Links to another job (dynamic processes, comm/link.c). Our esmpid's
 * link share for this rank: a fresh ephemeral key signed by the node key,
 * packed as a KeyShare (*out malloc'ed, public).
 */
int
esmpi_link_share(uint8_t **out, size_t *outlen, char *err, size_t len)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__LinkShareRequest ls = ESMPI__LINK_SHARE_REQUEST__INIT;
	Esmpi__Reply *rep = NULL;
	int r;

	req.body_case = ESMPI__REQUEST__BODY_LINK_SHARE;
	req.link_share = &ls;
	if ((r = esmpi_daemon_request(&req, &rep, err, len)) != 0)
		return r;
	r = ESMPI_ERR_PROTOCOL;
	if (rep->body_case != ESMPI__REPLY__BODY_LINK_SHARE)
		snprintf(err, len, "esmpid sent an unexpected reply to "
		    "LinkShare");
	else if ((*out = malloc(*outlen = esmpi__key_share__get_packed_size(
	    rep->link_share))) == NULL)
		r = ESMPI_ERR_NOMEM;
	else {
		esmpi__key_share__pack(rep->link_share, *out);
		r = 0;
	}
	esmpi__reply__free_unpacked(rep, NULL);
	return r;
}

/*
 * The other side's link share (packed, as it sent it) to our esmpid:
 * wrap (our point is the lower: wrapped gets what goes to the other side)
 * or unwrap (wrapped is what came from it). secret: 32 bytes.
 */
int
esmpi_link_key(int wrap, const uint8_t *peer, size_t peerlen,
    uint8_t wrapped[ESMPI_LINK_WRAPPED_LEN], uint8_t secret[JOB_KEY_LEN],
    char *err, size_t len)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__LinkWrapRequest w = ESMPI__LINK_WRAP_REQUEST__INIT;
	Esmpi__LinkUnwrapRequest u = ESMPI__LINK_UNWRAP_REQUEST__INIT;
	Esmpi__KeyShare *ps;
	Esmpi__Reply *rep = NULL;
	ProtobufCBinaryData *sec = NULL;
	int r;

	if ((ps = esmpi__key_share__unpack(NULL, peerlen, peer)) == NULL) {
		snprintf(err, len, "the other side's link share is malformed");
		return ESMPI_ERR_PROTOCOL;
	}
	if (wrap) {
		w.peer = ps;
		req.body_case = ESMPI__REQUEST__BODY_LINK_WRAP;
		req.link_wrap = &w;
	} else {
		u.peer = ps;
		u.wrapped.data = wrapped;
		u.wrapped.len = ESMPI_LINK_WRAPPED_LEN;
		req.body_case = ESMPI__REQUEST__BODY_LINK_UNWRAP;
		req.link_unwrap = &u;
	}
	r = esmpi_daemon_request(&req, &rep, err, len);
	esmpi__key_share__free_unpacked(ps, NULL);
	if (r != 0)
		return r;
	if (wrap && rep->body_case == ESMPI__REPLY__BODY_LINK_WRAP &&
	    rep->link_wrap->wrapped.len == ESMPI_LINK_WRAPPED_LEN) {
		memcpy(wrapped, rep->link_wrap->wrapped.data,
		    ESMPI_LINK_WRAPPED_LEN);
		sec = &rep->link_wrap->secret;
	} else if (!wrap && rep->body_case == ESMPI__REPLY__BODY_LINK_UNWRAP)
		sec = &rep->link_unwrap->secret;
	r = ESMPI_ERR_PROTOCOL;
	if (sec != NULL && sec->len == JOB_KEY_LEN) {
		memcpy(secret, sec->data, JOB_KEY_LEN);
		r = 0;
	} else
		snprintf(err, len, "esmpid sent a bad reply to a link request");
	if (sec != NULL)
		esmpi_memzero(sec->data, sec->len);
	esmpi__reply__free_unpacked(rep, NULL);
	return r;
}
