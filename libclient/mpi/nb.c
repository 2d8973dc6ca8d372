/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Nonblocking and persistent point-to-point: Isend and friends, buffered
 * sends, Irecv, the persistent Send_init/Recv_init family and Start. Each
 * request MPI hands out gets an entry in the request table (req/) whose
 * operations (p2p_ops) free a sent record, or open a received one into
 * the application's buffer at completion.
 */
#include <stdlib.h>
#include <string.h>

#include "mpi/mpi_layer.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"

/* ---- the operations of a point-to-point request ---- */

/* Open a received record; statuses show plaintext. */
static int
p2p_complete(struct esmpi_req *r, MPI_Status *st)
{
	int cancelled = 0, rc;

	/* An inactive persistent request (never started, or completed
	 * already) completes at once with MPI's empty status: nothing was
	 * sent, nothing arrived, there is no record to open. */
	if (!r->active && r->stashed == NULL)
		return MPI_SUCCESS;
	if (!r->receive) {
		/* What the application sent, as the implementation reports
		 * it for a plain send. */
		if (!r->buffered)
			esmpi_status_of_send(st, r->tag, r->sent);
		return MPI_SUCCESS;
	}
	if (r->stashed != NULL) {
		struct esmpi_stash *e = r->stashed;

		r->stashed = NULL;
		return esmpi_stash_serve(r->c, e, r->buf, r->count, r->dt,
		    st);
	}
	PMPI_Test_cancelled(st, &cancelled);
	if (cancelled)
		return MPI_SUCCESS;
	if (st->MPI_SOURCE == MPI_PROC_NULL)
		return MPI_SUCCESS;
	rc = esmpi_open(r->c, r->rec, esmpi_status_bytes(st), r->buf, r->count,
	    r->dt, st, r->ticket);
	if (r->persistent)
		esmpi_memzero(r->rec, r->reclen);
	return rc;
}

static void
p2p_failed(struct esmpi_req *r, int err, MPI_Status *st)
{
	if (r->receive)
		esmpi_status_truncated(r->c, err, st);
}

static void
p2p_free(struct esmpi_req *r)
{
	if (r->flight != NULL)
		esmpi_chunk_app_done(r->flight);
	esmpi_stash_drop(r->stashed);
	esmpi_pool_put(r->rec, r->reclen);
	if (r->dt_held)
		PMPI_Type_free(&r->dt);
}

static const struct esmpi_req_ops p2p_ops = {
	.complete = p2p_complete,
	.failed = p2p_failed,
	.free = p2p_free,
};

/* The request of a nonblocking chunked send of sent bytes on tag: its
 * completion lets the chunks' buffer go. */
static int
track_chunked(struct esmpi_comm *c, void *flight, int tag, size_t sent,
    MPI_Request *req)
{
	struct esmpi_req *r = esmpi_req_new(c, &p2p_ops);

	if (r != NULL) {
		r->flight = flight;
		r->tag = tag;
		r->sent = sent;
		r->handle = *req;
		r->active = 1;
		if (esmpi_req_add(r) == 0)
			return MPI_SUCCESS;
		r->flight = NULL;
		esmpi_req_free(r);
	}
	/* Cannot track it: complete it here. */
	PMPI_Wait(req, MPI_STATUS_IGNORE);
	esmpi_chunk_app_done(flight);
	return MPI_SUCCESS;
}

typedef int (*isend_fn)(const void *, int, MPI_Datatype, int, int, MPI_Comm,
    MPI_Request *);

static int
nb_send(isend_fn fn, const void *buf, int count, MPI_Datatype dt, int dest,
    int tag, MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	struct esmpi_req *r;
	struct esmpi_msg m;
	struct esmpi_wire w;
	void *flight = NULL;
	int rc, e, flag = 0;

	if ((c = esmpi_protect(comm, dest, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    fn(buf, count, dt, dest, tag, comm, req);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_SEND, buf, count, dt, dest,
	    tag)) != MPI_SUCCESS)
		return rc;
	if (fn == PMPI_Isend && esmpi_chunk_worth(count, dt) &&
	    esmpi_chunk_send(c, buf, count, dt, dest, tag, req, &flight, &rc))
		return rc != MPI_SUCCESS || flight == NULL ? rc :
		    track_chunked(c, flight, tag, (size_t)esmpi_type_size(dt) *
		    (size_t)count, req);
	if ((e = esmpi_seal(c, buf, count, dt, dest, tag, &m)) != 0)
		return esmpi_fail(comm, e == ESMPI_ERR_INVALID ? MPI_ERR_RANK :
		    esmpi.err_internal, "cannot seal message: %s",
		    esmpi_strerror(e));
	if ((r = esmpi_req_new(c, &p2p_ops)) == NULL) {
		esmpi_pool_put(m.rec, m.len + ESMPI_REC_OVERHEAD);
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	}
	r->rec = m.rec;
	r->reclen = m.len + ESMPI_REC_OVERHEAD;
	r->tag = tag;
	r->sent = m.len - esmpi_sign_extra(c, tag);
	if (esmpi_wire(r->reclen, &w) != 0)
		rc = esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	else
		rc = fn(m.rec, w.count, w.dt, dest, tag, comm, req);
	esmpi_wire_done(&w);
	if (rc != MPI_SUCCESS) {
		esmpi_req_free(r);
		return rc;
	}
	esmpi_prepare_send(c);
	/*
	 * Open MPI completes small sends inline and hands every one of them
	 * the same static, already complete request: that handle names no
	 * single send, so it must not key an entry (another thread's Wait on
	 * it would complete ours). A complete send no longer needs its
	 * record; nothing is left to do at completion.
	 */
	if (PMPI_Request_get_status(*req, &flag, MPI_STATUS_IGNORE) ==
	    MPI_SUCCESS && flag) {
		esmpi_req_free(r);
		return MPI_SUCCESS;
	}
	r->handle = *req;
	r->active = 1;
	if (esmpi_req_add(r) != 0) {
		/* Cannot track it: wait here rather than leak or free early. */
		PMPI_Wait(req, MPI_STATUS_IGNORE);
		esmpi_req_free(r);
	}
	return MPI_SUCCESS;
}

ESMPI_EXPORT int
MPI_Isend(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
    MPI_Comm comm, MPI_Request *req)
{
	return nb_send(PMPI_Isend, buf, count, dt, dest, tag, comm, req);
}

ESMPI_EXPORT int
MPI_Issend(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
    MPI_Comm comm, MPI_Request *req)
{
	return nb_send(PMPI_Issend, buf, count, dt, dest, tag, comm, req);
}

ESMPI_EXPORT int
MPI_Irsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
    MPI_Comm comm, MPI_Request *req)
{
	return nb_send(PMPI_Irsend, buf, count, dt, dest, tag, comm, req);
}

/*
 * Buffered sends: the sealed record is our own copy, so the send is local
 * as buffered mode requires; it goes out as a standard-mode Isend and the
 * attached buffer is not used, but its space is counted as plain MPI
 * would use it (MPI_Pack_size + MPI_BSEND_OVERHEAD per message in
 * flight): a message that would not fit is refused with MPI_ERR_BUFFER,
 * as plain MPI refuses it. Records still in flight are kept here and
 * reaped as they complete (and all of them at Buffer_detach/Finalize).
 * An Ibsend's or a Bsend_init's request completes locally too: the
 * application holds a send to MPI_PROC_NULL, complete once started.
 */
static struct esmpi_req *bsend_list;
static pthread_mutex_t bsend_lock = PTHREAD_MUTEX_INITIALIZER;
/* The attached buffer's size (-1: none) and what messages in flight take
 * of it (each entry's count). */
static int bsend_size = -1, bsend_used;

static void
bsend_reap(int wait)
{
	/* Called at MPI_Finalize too: nothing to do is the usual case. */
	if (bsend_list == NULL)
		return;

	struct esmpi_req **pp, *r;
	int flag;

	pthread_mutex_lock(&bsend_lock);
	for (pp = &bsend_list; (r = *pp) != NULL;) {
		flag = 0;
		if (wait)
			PMPI_Wait(&r->handle, MPI_STATUS_IGNORE), flag = 1;
		else
			PMPI_Test(&r->handle, &flag, MPI_STATUS_IGNORE);
		if (flag) {
			*pp = (struct esmpi_req *)r->buf;
			bsend_used -= r->count;
			esmpi_req_free(r);
		} else
			pp = (struct esmpi_req **)&r->buf;
	}
	pthread_mutex_unlock(&bsend_lock);
}

static void
bsend_unuse(int need)
{
	pthread_mutex_lock(&bsend_lock);
	bsend_used -= need;
	pthread_mutex_unlock(&bsend_lock);
}

/* Seal a buffered message and send it in the background. */
static int
bsend_start(struct esmpi_comm *c, const void *buf, int count, MPI_Datatype dt,
    int dest, int tag, MPI_Comm comm)
{
	struct esmpi_req *r;
	struct esmpi_msg m;
	struct esmpi_wire w;
	int rc, e, need = 0, size, used;

	bsend_reap(0);
	/* The room plain MPI would take in the attached buffer. */
	rc = PMPI_Pack_size(count, dt, comm, &need);
	pthread_mutex_lock(&bsend_lock);
	size = bsend_size;
	used = bsend_used;
	if (rc == MPI_SUCCESS && need <= INT_MAX - MPI_BSEND_OVERHEAD &&
	    size >= 0 && need + MPI_BSEND_OVERHEAD <= size - used)
		bsend_used += (need += MPI_BSEND_OVERHEAD);
	else
		rc = MPI_ERR_BUFFER;
	pthread_mutex_unlock(&bsend_lock);
	if (rc != MPI_SUCCESS)
		return size < 0 ? esmpi_fail(comm, MPI_ERR_BUFFER, "buffered "
		    "send to rank %d tag %d: no buffer attached "
		    "(MPI_Buffer_attach)", dest, tag) : esmpi_fail(comm,
		    MPI_ERR_BUFFER, "buffered send to rank %d tag %d: the "
		    "message needs %d bytes of the attached buffer (with "
		    "MPI_BSEND_OVERHEAD), %d of its %d bytes are free", dest,
		    tag, need + MPI_BSEND_OVERHEAD, size - used, size);
	if ((e = esmpi_seal(c, buf, count, dt, dest, tag, &m)) != 0) {
		bsend_unuse(need);
		return esmpi_fail(comm, e == ESMPI_ERR_INVALID ? MPI_ERR_RANK :
		    esmpi.err_internal, "cannot seal message: %s",
		    esmpi_strerror(e));
	}
	if ((r = esmpi_req_new(c, &p2p_ops)) == NULL) {
		bsend_unuse(need);
		esmpi_pool_put(m.rec, m.len + ESMPI_REC_OVERHEAD);
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	}
	r->count = need;
	r->rec = m.rec;
	r->reclen = m.len + ESMPI_REC_OVERHEAD;
	if (esmpi_wire(r->reclen, &w) != 0)
		rc = esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	else
		rc = PMPI_Isend(m.rec, w.count, w.dt, dest, tag, comm,
		    &r->handle);
	esmpi_wire_done(&w);
	if (rc != MPI_SUCCESS) {
		bsend_unuse(need);
		esmpi_req_free(r);
		return rc;
	}
	pthread_mutex_lock(&bsend_lock);
	r->buf = bsend_list;	/* list link */
	bsend_list = r;
	pthread_mutex_unlock(&bsend_lock);
	return MPI_SUCCESS;
}

ESMPI_EXPORT int
MPI_Bsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
    MPI_Comm comm)
{
	struct esmpi_comm *c;
	int rc;

	if ((c = esmpi_protect(comm, dest, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Bsend(buf, count, dt, dest, tag, comm);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_SEND, buf, count, dt, dest,
	    tag)) != MPI_SUCCESS)
		return rc;
	return bsend_start(c, buf, count, dt, dest, tag, comm);
}

/* The application's request of a buffered send: complete once started. */
static int
bsend_handle(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
    MPI_Comm comm, MPI_Request *req)
{
	(void)buf, (void)count, (void)dt, (void)dest;
	return PMPI_Send_init(NULL, 0, MPI_BYTE, MPI_PROC_NULL, tag, comm,
	    req);
}

ESMPI_EXPORT int
MPI_Ibsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
    MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	int rc;

	if ((c = esmpi_protect(comm, dest, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Ibsend(buf, count, dt, dest, tag, comm, req);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_SEND, buf, count, dt, dest,
	    tag)) != MPI_SUCCESS)
		return rc;
	if ((rc = bsend_start(c, buf, count, dt, dest, tag, comm)) !=
	    MPI_SUCCESS)
		return rc;
	return PMPI_Isend(NULL, 0, MPI_BYTE, MPI_PROC_NULL, tag, comm, req);
}

/* MPI_Finalize delivers what buffered sends left in flight, as
 * Buffer_detach does, before the communicators' states go. */
void
esmpi_bsend_finish(void)
{
	bsend_reap(1);
}

ESMPI_EXPORT int
MPI_Buffer_attach(void *buffer, int size)
{
	int rc = PMPI_Buffer_attach(buffer, size);

	if (rc == MPI_SUCCESS) {
		pthread_mutex_lock(&bsend_lock);
		bsend_size = size;
		pthread_mutex_unlock(&bsend_lock);
	}
	return rc;
}

ESMPI_EXPORT int
MPI_Buffer_detach(void *buffer_addr, int *size)
{
	int rc;

	/* Detach waits for buffered messages: ours included. */
	bsend_reap(1);
	if ((rc = PMPI_Buffer_detach(buffer_addr, size)) == MPI_SUCCESS) {
		pthread_mutex_lock(&bsend_lock);
		bsend_size = -1;
		pthread_mutex_unlock(&bsend_lock);
	}
	return rc;
}

/* A receive request; with_rec: and the record buffer MPI receives into. */
struct esmpi_req *
esmpi_new_recv(struct esmpi_comm *c, void *buf, int count, MPI_Datatype dt,
    MPI_Comm comm, int persistent, int with_rec)
{
	struct esmpi_req *r = esmpi_req_new(c, &p2p_ops);

	if (r == NULL)
		return NULL;
	r->receive = 1;
	r->persistent = persistent;
	r->buf = buf;
	r->count = count;
	r->dt = esmpi_type_hold(dt, &r->dt_held);
	r->comm = comm;
	if (with_rec && (r->rec = esmpi_pool_get(r->reclen =
	    esmpi_recv_capacity(count, dt))) == NULL) {
		esmpi_req_free(r);
		return NULL;
	}
	return r;
}

/* A nonblocking receive MPI holds as *req: tracked until it completes, or
 * (no memory to track it) completed now. */
int
esmpi_track_recv(struct esmpi_req *r, MPI_Request *req)
{
	MPI_Status st;
	int rc;

	r->handle = *req;
	r->active = 1;
	if (esmpi_req_add(r) == 0)
		return MPI_SUCCESS;
	PMPI_Wait(req, &st);
	rc = esmpi_req_complete(r, &st);
	esmpi_req_free(r);
	return rc;
}

/*
 * A nonblocking receive of what a probe received already: matched now,
 * delivered when the request completes (so errors come at the Wait, as
 * MPI reports them), behind a request that is complete.
 */
int
esmpi_serve_later(struct esmpi_comm *c, struct esmpi_stash *e, void *buf,
    int count, MPI_Datatype dt, MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_req *r = esmpi_new_recv(c, buf, count, dt, comm, 0, 0);
	MPI_Status st;

	*req = MPI_REQUEST_NULL;
	esmpi_stash_status(c, e, &st);
	if (r == NULL || esmpi_req_completed(&st, req) != MPI_SUCCESS) {
		if (r != NULL)
			esmpi_req_free(r);
		esmpi_stash_drop(e);
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	}
	r->stashed = e;
	return esmpi_track_recv(r, req);
}

ESMPI_EXPORT int
MPI_Irecv(void *buf, int count, MPI_Datatype dt, int source, int tag,
    MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	struct esmpi_stash *e;
	struct esmpi_req *r;
	struct esmpi_wire w;
	int rc;

	if ((c = esmpi_protect(comm, source, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Irecv(buf, count, dt, source, tag, comm, req);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_RECV, buf, count, dt, source,
	    tag)) != MPI_SUCCESS)
		return rc;
	if (c->stash != NULL && (e = esmpi_stash_take(c, source, tag)) != NULL)
		return esmpi_serve_later(c, e, buf, count, dt, comm, req);
	if ((r = esmpi_new_recv(c, buf, count, dt, comm, 0, 1)) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	r->ticket = esmpi_recv_ticket();
	if (esmpi_wire(r->reclen, &w) != 0)
		rc = esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	else
		rc = PMPI_Irecv(r->rec, w.count, w.dt, source, tag, comm,
		    req);
	esmpi_wire_done(&w);
	if (rc != MPI_SUCCESS) {
		esmpi_req_free(r);
		return rc;
	}
	esmpi_prepare_recv(c, source, tag);
	return esmpi_track_recv(r, req);
}

#ifdef ESMPI_HAVE_MPI4_NB
/*
 * MPI-4's Isendrecv(_replace): esmpi's own Isend and Irecv (sealed,
 * opened, chunked, served from the probes' stash like any), joined into
 * one request for the application: an MPICH extended generalized request
 * whose poll function tests both halves (MPI's progress calls it from
 * Wait and Test) and completes it when both have, reporting the receive
 * half's status in plaintext sizes. _replace sends a packed copy of the
 * buffer, which lives until the request completes, so the reply may
 * land in the buffer while the send is still in flight. (MPICH 4.0.2's
 * own Isendrecv leaves the status empty: esmpi's is the receive's.)
 */
struct isr {
	MPI_Request greq;
	MPI_Request half[2];		/* send, receive */
	MPI_Status st;			/* the receive's */
	int rc;				/* the first failure of a half */
	int done;
	void *tmp;			/* _replace: the packed copy sent */
};

static int
isr_poll(void *extra, MPI_Status *status)
{
	struct isr *s = extra;
	MPI_Status st;
	int i, flag, rc;

	(void)status;
	if (s->done)
		return MPI_SUCCESS;
	for (i = 0; i < 2; i++) {
		if (s->half[i] == MPI_REQUEST_NULL)
			continue;
		flag = 0;
		rc = MPI_Test(&s->half[i], &flag, &st);
		if (rc != MPI_SUCCESS) {
			/* Completed in error (a refused record, say). */
			if (s->rc == MPI_SUCCESS)
				s->rc = rc;
			flag = 1;
			s->half[i] = MPI_REQUEST_NULL;
		}
		if (flag && i == 1)
			s->st = st;
	}
	if (s->half[0] != MPI_REQUEST_NULL || s->half[1] != MPI_REQUEST_NULL)
		return MPI_SUCCESS;
	s->done = 1;
	return PMPI_Grequest_complete(s->greq);
}

static int
isr_wait(int count, void **states, double timeout, MPI_Status *status)
{
	int i, rc = MPI_SUCCESS;

	(void)timeout;
	for (i = 0; i < count && rc == MPI_SUCCESS; i++)
		while (!((struct isr *)states[i])->done && rc == MPI_SUCCESS)
			rc = isr_poll(states[i], status);
	return rc;
}

static int
isr_query(void *extra, MPI_Status *status)
{
	struct isr *s = extra;

	*status = s->st;
	status->MPI_ERROR = s->rc;
	return s->rc;
}

static int
isr_cancel(void *extra, int complete)
{
	struct isr *s = extra;

	/* Only the receive half can be taken back (MPI-4: a send's cancel
	 * is deprecated). */
	if (!complete && s->half[1] != MPI_REQUEST_NULL)
		return MPI_Cancel(&s->half[1]);
	return MPI_SUCCESS;
}

static int
isr_free(void *extra)
{
	struct isr *s = extra;
	int i, busy = 0;

	/* Freed before it completed: the halves finish in the background
	 * (a send may still read tmp, which then stays). */
	for (i = 0; i < 2; i++)
		if (s->half[i] != MPI_REQUEST_NULL) {
			busy |= i == 0;
			MPI_Request_free(&s->half[i]);
		}
	if (!busy)
		free(s->tmp);
	free(s);
	return MPI_SUCCESS;
}

static int
isendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    int dest, int sendtag, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm,
    MPI_Request *req, int replace)
{
	struct esmpi_comm *c;
	struct isr *s;
	int rc, n = 0, pos = 0;

	if ((c = esmpi_protect(comm, MPI_ANY_SOURCE, &rc)) == NULL) {
		if (rc != MPI_SUCCESS)
			return rc;
		return replace ? PMPI_Isendrecv_replace(recvbuf, recvcount,
		    recvtype, dest, sendtag, source, recvtag, comm, req) :
		    PMPI_Isendrecv(sendbuf, sendcount, sendtype, dest,
		    sendtag, recvbuf, recvcount, recvtype, source, recvtag,
		    comm, req);
	}
	if (req == NULL)
		return esmpi_fail(comm, MPI_ERR_REQUEST, "%s: no request to "
		    "return (NULL)", replace ? "MPI_Isendrecv_replace" :
		    "MPI_Isendrecv");
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_RECV, recvbuf, recvcount,
	    recvtype, source, recvtag)) != MPI_SUCCESS ||
	    (rc = esmpi_check_p2p(c, ESMPI_CHK_SEND, sendbuf, sendcount,
	    sendtype, dest, sendtag)) != MPI_SUCCESS)
		return rc;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	s->half[0] = s->half[1] = MPI_REQUEST_NULL;
	if (replace && dest != MPI_PROC_NULL) {
		if ((rc = PMPI_Pack_size(sendcount, sendtype, comm, &n)) !=
		    MPI_SUCCESS)
			goto out;
		if ((s->tmp = malloc(n > 0 ? (size_t)n : 1)) == NULL) {
			rc = esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
			goto out;
		}
		if ((rc = PMPI_Pack(sendbuf, sendcount, sendtype, s->tmp, n,
		    &pos, comm)) != MPI_SUCCESS)
			goto out;
		sendbuf = s->tmp;
		sendcount = pos;
		sendtype = MPI_PACKED;
	}
	if ((rc = MPI_Irecv(recvbuf, recvcount, recvtype, source, recvtag,
	    comm, &s->half[1])) != MPI_SUCCESS)
		goto out;
	if ((rc = MPI_Isend(sendbuf, sendcount, sendtype, dest, sendtag, comm,
	    &s->half[0])) != MPI_SUCCESS) {
		MPI_Cancel(&s->half[1]);
		MPI_Wait(&s->half[1], MPI_STATUS_IGNORE);
		goto out;
	}
	if ((rc = PMPIX_Grequest_start(isr_query, isr_free, isr_cancel,
	    isr_poll, isr_wait, s, req)) != MPI_SUCCESS) {
		/* Cannot join them: complete both here. */
		MPI_Waitall(2, s->half, MPI_STATUSES_IGNORE);
		goto out;
	}
	s->greq = *req;
	return MPI_SUCCESS;
out:
	free(s->tmp);
	free(s);
	return rc;
}

ESMPI_EXPORT int
MPI_Isendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    int dest, int sendtag, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm,
    MPI_Request *req)
{
	return isendrecv(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf,
	    recvcount, recvtype, source, recvtag, comm, req, 0);
}

ESMPI_EXPORT int
MPI_Isendrecv_replace(void *buf, int count, MPI_Datatype dt, int dest,
    int sendtag, int source, int recvtag, MPI_Comm comm, MPI_Request *req)
{
	return isendrecv(buf, count, dt, dest, sendtag, buf, count, dt,
	    source, recvtag, comm, req, 1);
}
#endif

typedef int (*sinit_fn)(const void *, int, MPI_Datatype, int, int, MPI_Comm,
    MPI_Request *);

static int
send_init(sinit_fn fn, const void *buf, int count, MPI_Datatype dt,
    int dest, int tag, MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	struct esmpi_req *r;
	struct esmpi_wire w;
	int rc;

	if ((c = esmpi_protect(comm, dest, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc : fn == bsend_handle ?
		    PMPI_Bsend_init(buf, count, dt, dest, tag, comm, req) :
		    fn(buf, count, dt, dest, tag, comm, req);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_SEND, buf, count, dt, dest,
	    tag)) != MPI_SUCCESS)
		return rc;
	if ((r = esmpi_req_new(c, &p2p_ops)) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	r->persistent = 1;
	r->buf = (void *)buf;
	r->count = count;
	r->dt = esmpi_type_hold(dt, &r->dt_held);
	r->peer = dest;
	r->tag = tag;
	r->sent = (size_t)esmpi_type_size(dt) * (size_t)(count > 0 ? count :
	    0);
	r->comm = comm;
	/* Buffered: each Start seals a copy of its own (bsend_start). */
	if ((r->buffered = fn == bsend_handle))
		r->reclen = 0;
	/* Exactly one record: a signature only where the rule signs. */
	else
		r->reclen = r->sent + ESMPI_REC_OVERHEAD +
		    esmpi_sign_extra(c, tag);
	if (r->sent > ESMPI_REC_MAX_LEN || (!r->buffered &&
	    (r->rec = esmpi_pool_get(r->reclen)) == NULL)) {
		esmpi_req_free(r);
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	}
	/* The record buffer is fixed; MPI_Start reseals into it. */
	if (esmpi_wire(r->reclen, &w) != 0)
		rc = esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	else
		rc = fn(r->rec, w.count, w.dt, dest, tag, comm, req);
	esmpi_wire_done(&w);
	if (rc != MPI_SUCCESS) {
		esmpi_req_free(r);
		return rc;
	}
	return esmpi_req_add_persistent(r, req, comm);
}

ESMPI_EXPORT int
MPI_Send_init(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
    MPI_Comm comm, MPI_Request *req)
{
	return send_init(PMPI_Send_init, buf, count, dt, dest, tag, comm, req);
}

ESMPI_EXPORT int
MPI_Ssend_init(const void *buf, int count, MPI_Datatype dt, int dest,
    int tag, MPI_Comm comm, MPI_Request *req)
{
	return send_init(PMPI_Ssend_init, buf, count, dt, dest, tag, comm,
	    req);
}

ESMPI_EXPORT int
MPI_Rsend_init(const void *buf, int count, MPI_Datatype dt, int dest,
    int tag, MPI_Comm comm, MPI_Request *req)
{
	return send_init(PMPI_Rsend_init, buf, count, dt, dest, tag, comm,
	    req);
}

ESMPI_EXPORT int
MPI_Bsend_init(const void *buf, int count, MPI_Datatype dt, int dest,
    int tag, MPI_Comm comm, MPI_Request *req)
{
	return send_init(bsend_handle, buf, count, dt, dest, tag, comm, req);
}

ESMPI_EXPORT int
MPI_Recv_init(void *buf, int count, MPI_Datatype dt, int source, int tag,
    MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	struct esmpi_req *r;
	struct esmpi_wire w;
	int rc;

	if ((c = esmpi_protect(comm, source, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Recv_init(buf, count, dt, source, tag, comm, req);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_RECV, buf, count, dt, source,
	    tag)) != MPI_SUCCESS)
		return rc;
	if ((r = esmpi_new_recv(c, buf, count, dt, comm, 1, 1)) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	r->peer = source;
	r->tag = tag;
	if (esmpi_wire(r->reclen, &w) != 0)
		rc = esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	else
		rc = PMPI_Recv_init(r->rec, w.count, w.dt, source, tag, comm,
		    req);
	esmpi_wire_done(&w);
	if (rc != MPI_SUCCESS) {
		esmpi_req_free(r);
		return rc;
	}
	return esmpi_req_add_persistent(r, req, comm);
}

/*
 * Seal the current contents of a persistent send's buffer, straight into
 * its record (inactive, so no transfer reads it now); *sent: its state,
 * to prepare the next seal once MPI has the send. A receive gets its
 * ticket and the AEAD preparation of the record it expects; *served: it
 * was found in the probes' stash and must not be started in MPI. Returns
 * an MPI error code.
 */
static int
reseal(MPI_Request h, uint64_t ticket, struct esmpi_comm **sent,
    int *served)
{
	struct esmpi_req *r = esmpi_req_take(h, 1);
	struct esmpi_stash *e;
	int rc;

	if (r == NULL)
		return MPI_SUCCESS;
	r->active = 1;
	if (r->receive && r->c->stash != NULL &&
	    (e = esmpi_stash_take(r->c, r->peer, r->tag)) != NULL) {
		/* A probe received it already: the request is inactive in
		 * MPI, complete for esmpi; its completion delivers. */
		r->stashed = e;
		esmpi_req_mark_served(r);
		*served = 1;
		return MPI_SUCCESS;
	}
	if (r->receive) {
		r->ticket = ticket;
		esmpi_prepare_recv(r->c, r->peer, r->tag);
		return MPI_SUCCESS;
	}
	if (r->buffered)
		return bsend_start(r->c, r->buf, r->count, r->dt, r->peer,
		    r->tag, r->comm);
	if ((rc = esmpi_seal_into(r->c, r->buf, r->count, r->dt,
	    r->c->peer_world[r->peer], r->tag, 0, r->rec)) != 0)
		return esmpi_fail(r->comm, esmpi.err_internal,
		    "cannot seal message: %s", esmpi_strerror(rc));
	*sent = r->c;
	return MPI_SUCCESS;
}

ESMPI_EXPORT int
MPI_Start(MPI_Request *req)
{
	struct esmpi_comm *sent = NULL;
	struct esmpi_req *r;
	int rc, served = 0;

	if (esmpi.failed)
		return esmpi.err_init;
	if (!esmpi.active && (rc = esmpi_check_started()) != MPI_SUCCESS)
		return rc;
	if ((r = esmpi_req_take(*req, 1)) != NULL && r->ops->start != NULL)
		return r->ops->start(r, req);
	if (esmpi.active && ((rc = reseal(*req, esmpi_recv_ticket(), &sent,
	    &served)) != MPI_SUCCESS || served))
		return rc;
	rc = PMPI_Start(req);
	if (rc == MPI_SUCCESS && sent != NULL)
		esmpi_prepare_send(sent);
	return rc;
}

ESMPI_EXPORT int
MPI_Startall(int count, MPI_Request reqs[])
{
	struct esmpi_comm *sent = NULL;
	uint64_t ticket;
	int i, rc, served = 0;

	if (esmpi.failed)
		return esmpi.err_init;
	if (!esmpi.active && (rc = esmpi_check_started()) != MPI_SUCCESS)
		return rc;
	/* Persistent collectives among them: started one by one, in the
	 * array's order (every rank starts collectives in the same order). */
	for (i = 0; i < count; i++) {
		struct esmpi_req *r = esmpi_req_take(reqs[i], 1);

		if (r != NULL && r->ops->start != NULL)
			break;
	}
	if (i < count) {
		for (i = 0, rc = MPI_SUCCESS; i < count && rc == MPI_SUCCESS;
		    i++)
			rc = MPI_Start(&reqs[i]);
		return rc;
	}
	/* MPI starts them in any order: one ticket, unordered among them. */
	ticket = esmpi.active ? esmpi_recv_ticket() : 0;
	for (i = 0; esmpi.active && i < count; i++)
		if ((rc = reseal(reqs[i], ticket, &sent, &served)) !=
		    MPI_SUCCESS)
			return rc;
	/* Served ones stay inactive in MPI: start the others one by one. */
	for (i = 0, rc = MPI_SUCCESS; served && i < count && rc ==
	    MPI_SUCCESS; i++) {
		struct esmpi_req *r = esmpi_req_take(reqs[i], 1);

		if (r == NULL || !r->served)
			rc = PMPI_Start(&reqs[i]);
	}
	if (!served)
		rc = PMPI_Startall(count, reqs);
	if (rc == MPI_SUCCESS && sent != NULL)
		esmpi_prepare_send(sent);
	return rc;
}
