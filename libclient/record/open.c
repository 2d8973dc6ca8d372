/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening: a received record is checked against everything the receiver
 * knows (source and tag from MPI's status, communicator, suite the policy
 * sets, replay window, posting order, key epoch, signature) before a byte
 * of it reaches the application; a record redirected to another rank,
 * tag or communicator does not open. A refusal is audited, printed and
 * raised through the communicator's error handler.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "record/record.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"
#include "esmpi_sig.h"

size_t
esmpi_recv_capacity(int count, MPI_Datatype dt)
{
	size_t n = (size_t)esmpi_type_size(dt) * (size_t)(count > 0 ? count :
	    0);

	/* A longer record does not parse: no need to make room for it. */
	if (n > ESMPI_REC_MAX_LEN)
		n = ESMPI_REC_MAX_LEN;
	return n + ESMPI_REC_OVERHEAD + esmpi_sign_slack();
}

void
esmpi_status_fix(const struct esmpi_comm *c, MPI_Status *st)
{
	size_t n = esmpi_status_bytes(st), ovh = ESMPI_REC_OVERHEAD +
	    esmpi_sign_extra(c, st->MPI_TAG);

	if (n >= ovh)
		esmpi_status_set_bytes(st, n - ovh);
}

void
esmpi_status_truncated(const struct esmpi_comm *c, int rc, MPI_Status *st)
{
	if (c != NULL && esmpi_err_is(rc, MPI_ERR_TRUNCATE) &&
	    st != MPI_STATUS_IGNORE)
		esmpi_status_fix(c, st);
}

/* Fail closed: audit, one message naming who/what, the error handler. */
int
esmpi_refuse(struct esmpi_comm *c, int src, int tag, int r)
{
	int replay = r == ESMPI_ERR_REPLAY;
	int sig = r == ESMPI_ERR_SIGNATURE || r == ESMPI_ERR_CERT;
	const char *why = sig ? esmpi_sign_why() : esmpi_strerror(r);
	/* A process of a linked job: its world rank there, said so. */
	uint32_t w = c->peer_world[src] & ~ESMPI_LINK_FOREIGN;
	const char *job = c->peer_world[src] & ESMPI_LINK_FOREIGN ?
	    " of the other job" : "";

	esmpi_audit(replay ? "replay_detected" : sig ? "signature_invalid" :
	    "integrity_failure", c->name, (int)w, tag,
	    "record from world rank %u%s to world rank %u on communicator "
	    "'%s' tag %d refused: %s", w, job, c->my_world,
	    esmpi_comm_label(c), tag, why);
	return esmpi_fail(esmpi_comm_handle(c), replay ? esmpi.err_replay :
	    esmpi.err_auth,
	    "%s: message from rank %d (world %u%s) to rank %d (world %u) on "
	    "communicator '%s' tag %d refused (%s); no data delivered%s",
	    replay ? "replay detected" : sig ? "signature invalid" :
	    "integrity failure", src, w, job, c->rank,
	    c->my_world, esmpi_comm_label(c), tag, why, esmpi.policy_differs ?
	    " (ranks of this job run different policies, or this job and "
	    "a linked job do: see esmpi's warnings)" : "");
}

static int
open_rec(struct esmpi_comm *c, int src, uint32_t dst_world, int tag,
    uint64_t coll_seq, const uint8_t *rec, size_t reclen, void *buf,
    int count, MPI_Datatype dt, size_t *len, uint64_t ticket)
{
	struct esmpi_rec_hdr h;
	struct esmpi_rec_aad a;
	struct esmpi_replay_slot *w = NULL;
	struct esmpi_keytry kt;
	uint8_t *out, *tmp = NULL;
	size_t cap, tcap = 0;
	MPI_Aint lb;
	int r, is_contig, trunc = 0, plain = 0;

	is_contig = esmpi_contig(count, dt, &cap, &lb);
	if (src < 0 || src >= c->remote_size)
		return ESMPI_ERR_PROTOCOL;
	esmpi_rec_aad_fill(&a, c, c->peer_world[src], dst_world, tag, coll_seq);
	/* A sign rule's record is verified before anything else of it is
	 * used; a missing signature is refused alike. */
	if (esmpi_sign_extra(c, tag)) {
		if ((r = esmpi_sign_check(c, &a, rec, reclen)) != 0)
			goto fail;
		reclen -= ESMPI_SIG_LEN;
	}
	if (esmpi_rec_plain_is(rec, reclen)) {
		plain = 1;
		memset(&h, 0, sizeof(h));
	} else if ((r = esmpi_rec_parse_hdr(rec, reclen, &h)) != 0)
		goto fail;
	else if (h.flags & (ESMPI_REC_F_HEAD | ESMPI_REC_F_CHUNK)) {
		r = ESMPI_ERR_PROTOCOL;	/* those travel apart */
		goto fail;
	}
	/*
	 * Larger than the receive: only a receive with room for a signature
	 * this record lacks gets one (MPI truncates anything longer). It is
	 * opened in scratch memory, so only an authentic record is reported
	 * as a truncation, with nothing delivered.
	 */
	if (h.length > cap) {
		r = ESMPI_ERR_TOO_LARGE;
		if (coll_seq || h.length > cap + esmpi_sign_slack())
			goto fail;
		trunc = 1;
	}
	/*
	 * Scratch for a truncation or for unpacking: what arrived, not what
	 * the receive could take (a partial fill would pay for the rest),
	 * from the pool (no fresh pages per message); wiped after use.
	 */
	tcap = trunc || !plain ? h.length : reclen > ESMPI_REC_OVERHEAD &&
	    reclen - ESMPI_REC_OVERHEAD < cap ? reclen - ESMPI_REC_OVERHEAD :
	    cap;
	if (is_contig && !trunc)
		out = (uint8_t *)buf + lb;
	else if ((out = tmp = esmpi_pool_get(tcap ? tcap : 1)) == NULL)
		return ESMPI_ERR_NOMEM;
	/* A multithreaded sender's records of one tag have no order (the
	 * flag is authenticated with the header). */
	if (h.flags & ESMPI_REC_F_UNORDERED)
		ticket = 0;
	esmpi_comm_lock(c);
	/*
	 * The suite must be the one policy sets: no downgrade by a sender.
	 * Point-to-point records pass a replay window and the posting order
	 * of their tag; collective ones are bound to the collective's
	 * sequence number instead. A plain record (scope inter-node) is
	 * taken only where we would send plain ourselves.
	 */
	if (plain) {
		size_t n = 0;

		/* "access denied": a plain record here is a policy
		 * mismatch between nodes or a downgrade attempt. */
		if (!esmpi_scope_plain(esmpi_comm_settings(c, tag),
		    c->peer_world[src], coll_seq))
			r = ESMPI_ERR_DENIED;
		else
			r = esmpi_rec_plain_take(rec, reclen,
			    esmpi_comm_settings(c, tag)->suite, out,
			    is_contig ? cap : tcap, &n);
		h.length = n;
	} else if (h.suite != esmpi_comm_settings(c, tag)->suite)
		r = ESMPI_ERR_AUTH;
	else if (!coll_seq && (w = esmpi_comm_replay(c, src, tag)) == NULL)
		r = ESMPI_ERR_NOMEM;
	else if ((w == NULL || ((r = esmpi_replay_check(&w->w, h.seq)) == 0 &&
	    (r = esmpi_order_check(&w->o, ticket, h.seq)) == 0)) &&
	    (r = esmpi_key_recv(c, src, h.suite, h.epoch, &kt)) == 0) {
		r = esmpi_rec_open_hdr(kt.aead, &a, rec, &h, out, tcap);
		if (r == 0) {
			esmpi_key_commit(&kt);
			if (w != NULL) {
				esmpi_replay_accept(&w->w, h.seq);
				esmpi_order_accept(&w->o, ticket, h.seq);
			}
			if (w != NULL && h.epoch == kt.k->epoch)
				esmpi_expect_next(kt.k, &h,
				    c->peer_world[src], tag);
		} else
			esmpi_key_drop(&kt);
	}
	esmpi_comm_unlock(c);
	if (r != 0)
		goto fail;
	if (trunc) {
		*len = h.length;	/* tells esmpi_open it was authentic */
		r = ESMPI_ERR_TOO_LARGE;
		goto fail;
	}
	if (!is_contig)
		esmpi_unpack_into(tmp, h.length, buf, count, dt,
		    esmpi_comm_handle(c));
	*len = h.length;
	r = 0;
	goto out;
fail:
	/* Nothing unauthenticated reaches the application's buffer. */
	if (is_contig)
		esmpi_memzero((uint8_t *)buf + lb, cap);
out:
	if (tmp != NULL) {
		esmpi_memzero(tmp, tcap);
		esmpi_pool_put(tmp, tcap ? tcap : 1);
	}
	return r;
}

int
esmpi_open_from(struct esmpi_comm *c, int src, uint32_t dst_world, int tag,
    uint64_t coll_seq, const uint8_t *rec, size_t reclen, void *buf,
    int count, MPI_Datatype dt, size_t *len)
{
	return open_rec(c, src, dst_world, tag, coll_seq, rec, reclen, buf,
	    count, dt, len, 0);
}

int
esmpi_open(struct esmpi_comm *c, const uint8_t *rec, size_t reclen,
    void *buf, int count, MPI_Datatype dt, MPI_Status *st, uint64_t ticket)
{
	int r, src = st->MPI_SOURCE, tag = st->MPI_TAG;
	size_t len = 0;

	if (src < 0 || src >= c->remote_size)
		return esmpi_refuse(c, 0, tag, ESMPI_ERR_PROTOCOL);
	if (esmpi_is_head(c, st)) {
		struct esmpi_rec_hdr h;

		if ((r = esmpi_head_open(c, src, tag, rec, reclen, ticket,
		    &h)) == 0)
			r = esmpi_chunks_take(c, src, tag, &h, buf, count, dt,
			    &len);
	} else
		r = open_rec(c, src, c->my_world, tag, 0, rec, reclen, buf,
		    count, dt, &len, ticket);
	if (r == ESMPI_ERR_TOO_LARGE && len != 0) {
		esmpi_status_set_bytes(st, len);
		PMPI_Comm_call_errhandler(esmpi_comm_handle(c),
		    MPI_ERR_TRUNCATE);
		return MPI_ERR_TRUNCATE;
	}
	if (r != 0)
		return esmpi_refuse(c, src, tag, r);
	esmpi_status_set_bytes(st, len);
	return MPI_SUCCESS;
}
