/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blocking point-to-point: Send, Ssend, Rsend, Recv, Sendrecv(_replace),
 * Probe and Iprobe. Each seals or opens one message (record/) around the
 * PMPI call that moves it as MPI_BYTE.
 */
#include <stdlib.h>

#include "mpi/mpi_layer.h"
#include "esmpi_err.h"

/* A blocking call's record of at most this many bytes lives on its
 * stack: small messages skip the pool (and its thread-local look-up) on
 * their way. Records hold no plaintext once sealed or before opened.
 * Written before read (sealed, or received): exempt from the build's
 * zeroing of automatic variables, which would cost more than the pool. */
#define STACK_REC	1024
#define STACK_SPACE	__attribute__((uninitialized))

static int
seal_or_fail(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, int dest, int tag, struct esmpi_msg *m, uint8_t *space)
{
	int r = esmpi_seal_on(c, buf, count, dt, dest, tag, m, space,
	    STACK_REC);

	if (r != 0)
		return esmpi_fail(c->comm, r == ESMPI_ERR_INVALID ?
		    MPI_ERR_RANK : esmpi.err_internal,
		    "cannot seal message to rank %d tag %d: %s", dest, tag,
		    esmpi_strerror(r));
	return MPI_SUCCESS;
}

typedef int (*send_fn)(const void *, int, MPI_Datatype, int, int, MPI_Comm);

static int
blocking_send(send_fn fn, const void *buf, int count, MPI_Datatype dt,
    int dest, int tag, MPI_Comm comm)
{
	struct esmpi_comm *c;
	struct esmpi_msg m;
	struct esmpi_wire w;
	uint8_t space[STACK_REC] STACK_SPACE;
	int rc;

	if ((c = esmpi_protect(comm, dest, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    fn(buf, count, dt, dest, tag, comm);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_SEND, buf, count, dt, dest,
	    tag)) != MPI_SUCCESS)
		return rc;
	if (fn == PMPI_Send && esmpi_chunk_worth(count, dt) &&
	    esmpi_chunk_send(c, buf, count, dt, dest, tag, NULL, NULL, &rc))
		return rc;
	if ((rc = seal_or_fail(c, buf, count, dt, dest, tag, &m, space)) !=
	    MPI_SUCCESS)
		return rc;
	if (esmpi_wire(m.len + ESMPI_REC_OVERHEAD, &w) != 0)
		rc = esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	else
		rc = fn(m.rec, w.count, w.dt, dest, tag, comm);
	esmpi_wire_done(&w);
	esmpi_msg_release(&m, space);
	esmpi_prepare_send(c);
	return rc;
}

ESMPI_EXPORT int
MPI_Send(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
    MPI_Comm comm)
{
	return blocking_send(PMPI_Send, buf, count, dt, dest, tag, comm);
}

ESMPI_EXPORT int
MPI_Ssend(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
    MPI_Comm comm)
{
	return blocking_send(PMPI_Ssend, buf, count, dt, dest, tag, comm);
}

ESMPI_EXPORT int
MPI_Rsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
    MPI_Comm comm)
{
	return blocking_send(PMPI_Rsend, buf, count, dt, dest, tag, comm);
}

ESMPI_EXPORT int
MPI_Recv(void *buf, int count, MPI_Datatype dt, int source, int tag,
    MPI_Comm comm, MPI_Status *status)
{
	struct esmpi_comm *c;
	struct esmpi_stash *e;
	MPI_Status local;
	struct esmpi_wire w;
	uint8_t *rec, space[STACK_REC] STACK_SPACE;
	uint64_t ticket;
	size_t reclen;
	int rc;

	if ((c = esmpi_protect(comm, source, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Recv(buf, count, dt, source, tag, comm, status);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_RECV, buf, count, dt, source,
	    tag)) != MPI_SUCCESS)
		return rc;
	if (status == MPI_STATUS_IGNORE)
		status = &local;
	if (c->stash != NULL && (e = esmpi_stash_take(c, source, tag)) != NULL)
		return esmpi_stash_serve(c, e, buf, count, dt, status);
	if ((reclen = esmpi_recv_capacity(count, dt)) <= sizeof(space))
		rec = space;
	else if ((rec = esmpi_pool_get(reclen)) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	if (esmpi_wire(reclen, &w) != 0) {
		if (rec != space)
			esmpi_pool_put(rec, reclen);
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	}
	ticket = esmpi_recv_ticket();
	esmpi_prepare_recv(c, source, tag);
	rc = PMPI_Recv(rec, w.count, w.dt, source, tag, comm, status);
	esmpi_wire_done(&w);
	if (rc == MPI_SUCCESS) {
		rc = esmpi_open(c, rec,
		    esmpi_status_bytes(status), buf, count, dt, status,
		    ticket);
	} else
		esmpi_status_truncated(c, rc, status);
	if (rec != space)
		esmpi_pool_put(rec, reclen);
	return rc;
}

ESMPI_EXPORT int
MPI_Sendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    int dest, int sendtag, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm,
    MPI_Status *status)
{
	struct esmpi_comm *c;
	struct esmpi_msg m = { NULL, 0 };
	struct esmpi_wire sw = { 0, MPI_BYTE }, rw = { 0, MPI_BYTE };
	MPI_Status local;
	uint8_t *rec = NULL;
	uint8_t sspace[STACK_REC] STACK_SPACE, rspace[STACK_REC] STACK_SPACE;
	const void *sb = sendbuf;
	uint64_t ticket;
	size_t reclen = 0;
	int rc, sc = sendcount;
	MPI_Datatype st = sendtype;

	if ((c = esmpi_protect(comm, MPI_ANY_SOURCE, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc : PMPI_Sendrecv(sendbuf,
		    sendcount, sendtype, dest, sendtag, recvbuf, recvcount,
		    recvtype, source, recvtag, comm, status);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_RECV, recvbuf, recvcount,
	    recvtype, source, recvtag)) != MPI_SUCCESS ||
	    (rc = esmpi_check_p2p(c, ESMPI_CHK_SEND, sendbuf, sendcount,
	    sendtype, dest, sendtag)) != MPI_SUCCESS)
		return rc;
	if (status == MPI_STATUS_IGNORE)
		status = &local;
	/* While probes hold messages in the stash: the standard's Isend +
	 * Recv + Wait, whose Recv serves the stash. The send seals all it
	 * sends before it returns (the buffers may be one:
	 * Sendrecv_replace) and finishes last (the peer may be in the same
	 * call). */
	if (source != MPI_PROC_NULL && c->stash != NULL) {
		MPI_Request sreq;
		int src;

		if ((rc = MPI_Isend(sendbuf, sendcount, sendtype, dest,
		    sendtag, comm, &sreq)) != MPI_SUCCESS)
			return rc;
		rc = MPI_Recv(recvbuf, recvcount, recvtype, source, recvtag,
		    comm, status);
		src = MPI_Wait(&sreq, MPI_STATUS_IGNORE);
		return rc != MPI_SUCCESS ? rc : src;
	}
	if (dest != MPI_PROC_NULL) {
		if ((rc = seal_or_fail(c, sendbuf, sendcount, sendtype, dest,
		    sendtag, &m, sspace)) != MPI_SUCCESS)
			return rc;
		sb = m.rec;
		if (esmpi_wire(m.len + ESMPI_REC_OVERHEAD, &sw) != 0) {
			esmpi_msg_release(&m, sspace);
			return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
		}
		sc = sw.count;
		st = sw.dt;
	}
	if (source != MPI_PROC_NULL) {
		reclen = esmpi_recv_capacity(recvcount, recvtype);
		rec = reclen <= sizeof(rspace) ? rspace :
		    esmpi_pool_get(reclen);
		if (rec == NULL || esmpi_wire(reclen, &rw) != 0) {
			esmpi_wire_done(&sw);
			esmpi_msg_release(&m, sspace);
			if (rec != rspace)
				esmpi_pool_put(rec, reclen);
			return esmpi_fail(comm, MPI_ERR_NO_MEM,
			    "cannot allocate receive record");
		}
		ticket = esmpi_recv_ticket();
		rc = PMPI_Sendrecv(sb, sc, st, dest, sendtag, rec, rw.count,
		    rw.dt, source, recvtag, comm, status);
		esmpi_wire_done(&rw);
		if (rc == MPI_SUCCESS) {
			rc = esmpi_open(c, rec,
			    esmpi_status_bytes(status), recvbuf,
			    recvcount, recvtype, status, ticket);
		} else
			esmpi_status_truncated(c, rc, status);
	} else
		rc = PMPI_Sendrecv(sb, sc, st, dest, sendtag, recvbuf,
		    recvcount, recvtype, source, recvtag, comm, status);
	esmpi_wire_done(&sw);
	esmpi_msg_release(&m, sspace);
	if (rec != rspace)
		esmpi_pool_put(rec, reclen);
	return rc;
}

ESMPI_EXPORT int
MPI_Sendrecv_replace(void *buf, int count, MPI_Datatype dt, int dest,
    int sendtag, int source, int recvtag, MPI_Comm comm, MPI_Status *status)
{
	/* The outgoing record is sealed before anything is received, so the
	 * same user buffer can take the reply. */
	return MPI_Sendrecv(buf, count, dt, dest, sendtag, buf, count, dt,
	    source, recvtag, comm, status);
}

/* Probes report what the application will receive: plaintext sizes. */
ESMPI_EXPORT int
MPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status *status)
{
	struct esmpi_comm *c;
	MPI_Status local;
	int rc;

	if ((c = esmpi_protect(comm, source, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Probe(source, tag, comm, status);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_PROBE, NULL, 0, MPI_BYTE,
	    source, tag)) != MPI_SUCCESS)
		return rc;
	if (status == MPI_STATUS_IGNORE)
		status = &local;
	return esmpi_stash_probe(c, source, tag, NULL, status);
}

ESMPI_EXPORT int
MPI_Iprobe(int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status)
{
	struct esmpi_comm *c;
	MPI_Status local;
	int rc;

	if ((c = esmpi_protect(comm, source, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Iprobe(source, tag, comm, flag, status);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_PROBE, NULL, 0, MPI_BYTE,
	    source, tag)) != MPI_SUCCESS)
		return rc;
	if (status == MPI_STATUS_IGNORE)
		status = &local;
	return esmpi_stash_probe(c, source, tag, flag, status);
}
