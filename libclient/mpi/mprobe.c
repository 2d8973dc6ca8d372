/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Matched probes: MPI_Mprobe/Improbe hand out message handles that
 * MPI_Mrecv/Imrecv receive. A handle remembers its communicator (Mrecv
 * names none) and the posting order at the probe; a head (a chunked
 * message) becomes a stash entry behind a handle of our own.
 */
#include <stdlib.h>

#include "mpi/mpi_layer.h"
#include "esmpi_err.h"

struct mprobe {
	MPI_Message msg;
	MPI_Comm comm;
	uint64_t ticket;		/* matched at the probe */
	struct esmpi_stash *e;		/* or what the handle stands for */
	struct mprobe *next;
};
static struct mprobe *mprobes;
static pthread_mutex_t mprobe_lock = PTHREAD_MUTEX_INITIALIZER;

static void
mprobe_put(MPI_Message msg, MPI_Comm comm, struct esmpi_stash *e)
{
	struct mprobe *m = malloc(sizeof(*m));

	if (m == NULL)
		return;
	m->msg = msg;
	m->comm = comm;
	m->e = e;
	m->ticket = esmpi_recv_ticket();
	pthread_mutex_lock(&mprobe_lock);
	m->next = mprobes;
	mprobes = m;
	pthread_mutex_unlock(&mprobe_lock);
}

static int
mprobe_take(MPI_Message msg, MPI_Comm *comm, uint64_t *ticket,
    struct esmpi_stash **e)
{
	struct mprobe **pp, *m;
	int found = 0;

	pthread_mutex_lock(&mprobe_lock);
	for (pp = &mprobes; (m = *pp) != NULL; pp = &m->next) {
		if (m->msg == msg) {
			*pp = m->next;
			*comm = m->comm;
			*ticket = m->ticket;
			*e = m->e;
			free(m);
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&mprobe_lock);
	return found;
}

static int mprobe_stashed(struct esmpi_comm *c, MPI_Comm comm,
    struct esmpi_stash *e, MPI_Message *msg, MPI_Status *st);

/*
 * After a matched probe found msg (status st): a head becomes a stash
 * entry behind a handle of our own; a record is opened at MPI_Mrecv.
 */
static int
mprobe_found(struct esmpi_comm *c, MPI_Comm comm, MPI_Message *msg,
    MPI_Status *st)
{
	struct esmpi_stash *e;
	int rc;

	if (!esmpi_is_head(c, st)) {
		esmpi_status_fix(c, st);
		mprobe_put(*msg, comm, NULL);
		return MPI_SUCCESS;
	}
	if ((e = esmpi_stash_from_message(c, msg, st, &rc)) == NULL)
		return rc;
	return mprobe_stashed(c, comm, e, msg, st);
}

static int
mprobe_stashed(struct esmpi_comm *c, MPI_Comm comm, struct esmpi_stash *e,
    MPI_Message *msg, MPI_Status *st)
{
	int rc;

	if ((rc = esmpi_stash_message(c, e, msg, st)) == MPI_SUCCESS)
		mprobe_put(*msg, comm, e);
	return rc;
}

ESMPI_EXPORT int
MPI_Mprobe(int source, int tag, MPI_Comm comm, MPI_Message *message,
    MPI_Status *status)
{
	struct esmpi_comm *c;
	struct esmpi_stash *e;
	MPI_Status local;
	int rc;

	if ((c = esmpi_protect(comm, source, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Mprobe(source, tag, comm, message, status);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_PROBE, NULL, 0, MPI_BYTE,
	    source, tag)) != MPI_SUCCESS)
		return rc;
	if (status == MPI_STATUS_IGNORE)
		status = &local;
	if (c->stash != NULL && (e = esmpi_stash_take(c, source, tag)) != NULL)
		return mprobe_stashed(c, comm, e, message, status);
	rc = PMPI_Mprobe(source, tag, comm, message, status);
	if (rc == MPI_SUCCESS && *message != MPI_MESSAGE_NO_PROC)
		rc = mprobe_found(c, comm, message, status);
	return rc;
}

ESMPI_EXPORT int
MPI_Improbe(int source, int tag, MPI_Comm comm, int *flag,
    MPI_Message *message, MPI_Status *status)
{
	struct esmpi_comm *c;
	struct esmpi_stash *e;
	MPI_Status local;
	int rc;

	if ((c = esmpi_protect(comm, source, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Improbe(source, tag, comm, flag, message, status);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_PROBE, NULL, 0, MPI_BYTE,
	    source, tag)) != MPI_SUCCESS)
		return rc;
	if (status == MPI_STATUS_IGNORE)
		status = &local;
	if (c->stash != NULL &&
	    (e = esmpi_stash_take(c, source, tag)) != NULL) {
		*flag = 1;
		return mprobe_stashed(c, comm, e, message, status);
	}
	rc = PMPI_Improbe(source, tag, comm, flag, message, status);
	if (rc == MPI_SUCCESS && *flag && *message != MPI_MESSAGE_NO_PROC)
		rc = mprobe_found(c, comm, message, status);
	return rc;
}

/*
 * The common start of Mrecv and Imrecv: 1 with the state, communicator,
 * ticket and stash entry of a handle a protected probe gave, 0 to pass
 * the call through (*rc set when it must fail instead).
 */
static int
mrecv_start(void *buf, int count, MPI_Datatype dt, MPI_Message *message,
    struct esmpi_comm **c, MPI_Comm *comm, uint64_t *ticket,
    struct esmpi_stash **e, int *rc)
{
	*rc = MPI_SUCCESS;
	*ticket = 0;
	if (esmpi.failed) {
		*rc = esmpi.err_init;
		return 0;
	}
	if (!esmpi.active && (*rc = esmpi_check_started()) != MPI_SUCCESS)
		return 0;
	if (!esmpi.active || *message == MPI_MESSAGE_NO_PROC ||
	    !mprobe_take(*message, comm, ticket, e))
		return 0;
	if ((*c = esmpi_comm_get(*comm)) == NULL)
		*rc = esmpi_fail(*comm, esmpi.err_internal, "no keys");
	else
		*rc = esmpi_check_p2p(*c, ESMPI_CHK_RECV, buf, count, dt,
		    MPI_ANY_SOURCE, MPI_ANY_TAG);
	return 1;
}

ESMPI_EXPORT int
MPI_Mrecv(void *buf, int count, MPI_Datatype dt, MPI_Message *message,
    MPI_Status *status)
{
	struct esmpi_comm *c;
	struct esmpi_stash *e;
	MPI_Status local;
	MPI_Comm comm;
	uint64_t ticket;
	struct esmpi_wire w;
	uint8_t *rec;
	size_t reclen;
	int rc;

	if (!mrecv_start(buf, count, dt, message, &c, &comm, &ticket, &e,
	    &rc))
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Mrecv(buf, count, dt, message, status);
	if (rc != MPI_SUCCESS)
		return rc;
	if (status == MPI_STATUS_IGNORE)
		status = &local;
	if (e != NULL) {
		PMPI_Mrecv(NULL, 0, MPI_BYTE, message, MPI_STATUS_IGNORE);
		return esmpi_stash_serve(c, e, buf, count, dt, status);
	}
	if ((rec = esmpi_pool_get(reclen = esmpi_recv_capacity(count,
	    dt))) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	if (esmpi_wire(reclen, &w) != 0) {
		esmpi_pool_put(rec, reclen);
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	}
	rc = PMPI_Mrecv(rec, w.count, w.dt, message, status);
	esmpi_wire_done(&w);
	if (rc == MPI_SUCCESS) {
		rc = esmpi_open(c, rec,
		    esmpi_status_bytes(status), buf, count, dt, status,
		    ticket);
	} else
		esmpi_status_truncated(c, rc, status);
	esmpi_pool_put(rec, reclen);
	return rc;
}

ESMPI_EXPORT int
MPI_Imrecv(void *buf, int count, MPI_Datatype dt, MPI_Message *message,
    MPI_Request *req)
{
	struct esmpi_comm *c;
	struct esmpi_stash *e;
	struct esmpi_req *r;
	struct esmpi_wire w;
	MPI_Comm comm;
	uint64_t ticket;
	int rc;

	if (!mrecv_start(buf, count, dt, message, &c, &comm, &ticket, &e,
	    &rc))
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Imrecv(buf, count, dt, message, req);
	if (rc != MPI_SUCCESS)
		return rc;
	if (e != NULL) {
		PMPI_Mrecv(NULL, 0, MPI_BYTE, message, MPI_STATUS_IGNORE);
		return esmpi_serve_later(c, e, buf, count, dt, comm, req);
	}
	if ((r = esmpi_new_recv(c, buf, count, dt, comm, 0, 1)) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	r->ticket = ticket;
	if (esmpi_wire(r->reclen, &w) != 0)
		rc = esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	else
		rc = PMPI_Imrecv(r->rec, w.count, w.dt, message, req);
	esmpi_wire_done(&w);
	if (rc != MPI_SUCCESS) {
		esmpi_req_free(r);
		return rc;
	}
	return esmpi_track_recv(r, req);
}
