/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The probes' stash. A probe sees only the size of the first message,
 * and a head (record/chunk.c: shorter than any record) cannot say how
 * large its message is by its size. A probe that finds a head therefore
 * receives it, after everything the same source sent before it on that
 * communicator (their order must survive), into the communicator's
 * stash. Every receive and probe serves from the stash first; entries
 * there precede everything MPI still holds from the same source.
 */
#include <stdlib.h>
#include <string.h>

#include "mpi/mpi_layer.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"

/* SELF's duplicate: the message handles of stash entries. */
static MPI_Comm stash_comm = MPI_COMM_NULL;

int
esmpi_stash_init(void)
{
	/* A local operation: no communication beyond MPI's context id. */
	if (PMPI_Comm_dup(MPI_COMM_SELF, &stash_comm) != MPI_SUCCESS)
		return ESMPI_ERR_INTERNAL;
	PMPI_Comm_set_errhandler(stash_comm, MPI_ERRORS_RETURN);
	return 0;
}

void
esmpi_stash_fini(void)
{
	if (stash_comm != MPI_COMM_NULL)
		PMPI_Comm_free(&stash_comm);
}


struct esmpi_stash {
	struct esmpi_stash *next;
	int src, tag;
	uint64_t ticket;
	uint8_t *rec;			/* an ordinary record as received */
	size_t reclen;
	int is_head;
	struct esmpi_rec_hdr head;	/* a head, checked */
	MPI_Request self_send;		/* behind its message handle
					 * (esmpi_stash_message), or NULL */
};

static int
matches(const struct esmpi_stash *e, int src, int tag)
{
	return (src == MPI_ANY_SOURCE || e->src == src) &&
	    (tag == MPI_ANY_TAG || e->tag == tag);
}

static struct esmpi_stash *
stash_new(void)
{
	struct esmpi_stash *e = calloc(1, sizeof(*e));

	if (e != NULL)
		e->self_send = MPI_REQUEST_NULL;
	return e;
}

static void
stash_free(struct esmpi_stash *e)
{
	if (e == NULL)
		return;
	/* Its message handle was received (Mrecv, Imrecv): the send to
	 * ourselves behind it is complete or about to be. */
	if (e->self_send != MPI_REQUEST_NULL)
		PMPI_Wait(&e->self_send, MPI_STATUS_IGNORE);
	esmpi_pool_put(e->rec, e->reclen ? e->reclen : 1);
	free(e);
}

void
esmpi_stash_drop(struct esmpi_stash *e)
{
	stash_free(e);
}

void
esmpi_stash_clear(struct esmpi_comm *c)
{
	struct esmpi_stash *e;

	while ((e = c->stash) != NULL) {
		c->stash = e->next;
		stash_free(e);
	}
}

/* The first entry matching (src, tag), taken out of the stash if take. */
static struct esmpi_stash *
stash_find(struct esmpi_comm *c, int src, int tag, int take)
{
	struct esmpi_stash **pp, *e;

	esmpi_comm_lock(c);
	for (pp = &c->stash; (e = *pp) != NULL; pp = &e->next)
		if (matches(e, src, tag)) {
			if (take)
				*pp = e->next;
			break;
		}
	esmpi_comm_unlock(c);
	return e;
}

struct esmpi_stash *
esmpi_stash_take(struct esmpi_comm *c, int src, int tag)
{
	return c->stash == NULL ? NULL : stash_find(c, src, tag, 1);
}

void
esmpi_stash_status(const struct esmpi_comm *c, const struct esmpi_stash *e,
    MPI_Status *st)
{
	size_t ovh = ESMPI_REC_OVERHEAD + esmpi_sign_extra(c, e->tag);

	/* MPI_ERROR is the caller's: single completions leave it alone. */
	st->MPI_SOURCE = e->src;
	st->MPI_TAG = e->tag;
	PMPI_Status_set_cancelled(st, 0);
	esmpi_status_set_bytes(st, e->is_head ? e->head.length :
	    e->reclen >= ovh ? e->reclen - ovh : e->reclen);
}

/*
 * Receive a head found by a probe (src, tag: its status), with all that
 * src sent before it on c, into the stash in order; MPI's matching
 * guarantees those come first from src. A forged head fails here, as its
 * receive would.
 */
static int
stash_drain(struct esmpi_comm *c, int src, int tag)
{
	struct esmpi_stash *e, **pp;
	struct esmpi_wire w;
	MPI_Message msg;
	MPI_Status st;
	int flag, r;

	for (;;) {
		if (PMPI_Improbe(src, MPI_ANY_TAG, c->comm, &flag, &msg, &st) !=
		    MPI_SUCCESS || !flag)
			return MPI_SUCCESS;	/* another thread took it */
		if ((e = stash_new()) == NULL ||
		    (e->reclen = esmpi_status_bytes(&st),
		    (e->rec = esmpi_pool_get(e->reclen ? e->reclen : 1)) ==
		    NULL)) {
			free(e);
			PMPI_Mrecv(NULL, 0, MPI_BYTE, &msg, &st);
			return esmpi_fail(c->comm, MPI_ERR_NO_MEM,
			    "out of memory for a probed message");
		}
		if (esmpi_wire(e->reclen, &w) != 0) {
			PMPI_Mrecv(NULL, 0, MPI_BYTE, &msg, &st);
			stash_free(e);
			return esmpi_fail(c->comm, MPI_ERR_NO_MEM,
			    "out of memory for a probed message");
		}
		r = PMPI_Mrecv(e->rec, w.count, w.dt, &msg, &st);
		esmpi_wire_done(&w);
		if (r != MPI_SUCCESS) {
			stash_free(e);
			return r;
		}
		e->src = st.MPI_SOURCE;
		e->tag = st.MPI_TAG;
		e->ticket = esmpi_recv_ticket();
		if (esmpi_is_head(c, &st)) {
			if ((r = esmpi_head_open(c, e->src, e->tag, e->rec,
			    e->reclen, e->ticket, &e->head)) != 0) {
				stash_free(e);
				return esmpi_refuse(c, st.MPI_SOURCE,
				    st.MPI_TAG, r);
			}
			e->is_head = 1;
		}
		esmpi_comm_lock(c);
		for (pp = &c->stash; *pp != NULL; pp = &(*pp)->next)
			;
		*pp = e;
		c->stash_clear = esmpi_stash_clear;
		esmpi_comm_unlock(c);
		esmpi_count(&esmpi.stat_stashed);
		if (st.MPI_TAG == tag)
			return MPI_SUCCESS;
	}
}

/*
 * Probe through the stash: blocking (flag NULL) or not. A head found in
 * MPI's queue is drained into the stash, then reported from there.
 */
int
esmpi_stash_probe(struct esmpi_comm *c, int src, int tag, int *flag,
    MPI_Status *st)
{
	struct esmpi_stash *e;
	int rc, f = 1;

	for (;;) {
		if (c->stash != NULL &&
		    (e = stash_find(c, src, tag, 0)) != NULL) {
			esmpi_stash_status(c, e, st);
			if (flag != NULL)
				*flag = 1;
			return MPI_SUCCESS;
		}
		rc = flag == NULL ? PMPI_Probe(src, tag, c->comm, st) :
		    PMPI_Iprobe(src, tag, c->comm, &f, st);
		if (flag != NULL)
			*flag = f;
		if (rc != MPI_SUCCESS || !f)
			return rc;
		if (!esmpi_is_head(c, st)) {
			esmpi_status_fix(c, st);
			return MPI_SUCCESS;
		}
		if ((rc = stash_drain(c, st->MPI_SOURCE, st->MPI_TAG)) !=
		    MPI_SUCCESS)
			return rc;
	}
}

/* Receive a head a matched probe found: it becomes a stash entry that
 * the message handle stands for. */
struct esmpi_stash *
esmpi_stash_from_message(struct esmpi_comm *c, MPI_Message *msg,
    MPI_Status *st, int *rc)
{
	struct esmpi_stash *e = stash_new();
	int r;

	*rc = MPI_SUCCESS;
	if (e == NULL || (e->rec = esmpi_pool_get(ESMPI_REC_HEAD_LEN)) ==
	    NULL) {
		free(e);
		PMPI_Mrecv(NULL, 0, MPI_BYTE, msg, st);
		*rc = esmpi_fail(c->comm, MPI_ERR_NO_MEM, "out of memory");
		return NULL;
	}
	e->reclen = ESMPI_REC_HEAD_LEN;
	if ((*rc = PMPI_Mrecv(e->rec, ESMPI_REC_HEAD_LEN, MPI_BYTE, msg,
	    st)) != MPI_SUCCESS) {
		stash_free(e);
		return NULL;
	}
	e->src = st->MPI_SOURCE;
	e->tag = st->MPI_TAG;
	e->ticket = esmpi_recv_ticket();
	e->is_head = 1;
	if ((r = esmpi_head_open(c, e->src, e->tag, e->rec, e->reclen,
	    e->ticket, &e->head)) != 0) {
		stash_free(e);
		*rc = esmpi_refuse(c, st->MPI_SOURCE, st->MPI_TAG, r);
		return NULL;
	}
	return e;
}

/*
 * A message handle for entry e (matched probes): a message of no bytes
 * sent to ourselves on a private communicator, which MPI_Mrecv consumes
 * while e is delivered. The send is nonblocking (a blocking send to
 * ourselves relies on MPI buffering it, which MPICH does not) and ends
 * with e (stash_free), after the handle was received: MPICH 4.0.2 crashes
 * in Mrecv if the send's request was freed before.
 */
int
esmpi_stash_message(struct esmpi_comm *c, struct esmpi_stash *e,
    MPI_Message *msg, MPI_Status *st)
{
	static atomic_int next_id;
	MPI_Status local;
	int id = atomic_fetch_add(&next_id, 1) & 0x7fff, rc;

	if ((rc = PMPI_Isend(NULL, 0, MPI_BYTE, 0, id, stash_comm,
	    &e->self_send)) != MPI_SUCCESS || (rc = PMPI_Mprobe(0, id,
	    stash_comm, msg, &local)) != MPI_SUCCESS) {
		if (e->self_send != MPI_REQUEST_NULL) {
			PMPI_Cancel(&e->self_send);
			PMPI_Wait(&e->self_send, MPI_STATUS_IGNORE);
		}
		stash_free(e);
		return esmpi_fail(c->comm, esmpi.err_internal,
		    "cannot hand out a message handle");
	}
	esmpi_stash_status(c, e, st);
	return MPI_SUCCESS;
}

/* Deliver e into (buf, count, dt) as a receive would; frees e. */
int
esmpi_stash_serve(struct esmpi_comm *c, struct esmpi_stash *e, void *buf,
    int count, MPI_Datatype dt, MPI_Status *st)
{
	MPI_Comm comm = esmpi_comm_handle(c);
	size_t len = 0;
	int r, rc;

	esmpi_stash_status(c, e, st);
	if (e->is_head) {
		r = esmpi_chunks_take(c, e->src, e->tag, &e->head, buf, count,
		    dt, &len);
		if (r == ESMPI_ERR_TOO_LARGE && len != 0) {
			rc = MPI_ERR_TRUNCATE;
			PMPI_Comm_call_errhandler(comm, rc);
		} else if (r != 0)
			rc = esmpi_refuse(c, e->src, e->tag, r);
		else {
			esmpi_status_set_bytes(st, len);
			rc = MPI_SUCCESS;
		}
	} else if (e->reclen > esmpi_recv_capacity(count, dt)) {
		rc = MPI_ERR_TRUNCATE;	/* as MPI finds it */
		PMPI_Comm_call_errhandler(comm, rc);
	} else
		rc = esmpi_open(c, e->rec, e->reclen, buf, count, dt, st,
		    e->ticket);
	stash_free(e);
	return rc;
}
