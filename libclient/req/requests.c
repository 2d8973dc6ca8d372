/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Nonblocking and persistent point-to-point. The application holds Open
 * MPI's real request handles (so Cancel, Test_cancelled and mixing with
 * other requests work unchanged); a table maps each handle to what must
 * happen at completion: free a sent record, open a received one into
 * the user's buffer, or open/combine what a nonblocking collective moved
 * (coll.c). Every Wait/Test call completes through here.
 */
#include <stdlib.h>
#include <string.h>

#include "esmpi_client.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"

/*
 * Open addressing keyed by the handle value. Open MPI hands out a freed
 * request's address again at once, so with several threads one value can
 * briefly have two entries: a request just completed (its thread about to
 * finish it) and a new one. Each entry carries a generation; a lookup by
 * handle gets the newest, and completion works on the entry it looked up
 * while the handle was still live, removing that entry itself.
 */
struct slot {
	struct esmpi_req *r;
	uint64_t gen;
};
static struct slot *table;
static size_t table_cap, table_len;
static uint64_t table_gen;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t
slot_of(MPI_Request h, size_t cap)
{
	uintptr_t v = (uintptr_t)h;

	return (size_t)((v >> 4) * 0x9e3779b97f4a7c15ull) & (cap - 1);
}

/* Caller holds table_lock. */
static void
table_put(struct slot *t, size_t cap, struct slot e)
{
	size_t s;

	for (s = slot_of(e.r->handle, cap); t[s].r != NULL;
	    s = (s + 1) & (cap - 1))
		;
	t[s] = e;
}

static int
table_grow(void)
{
	size_t ncap = table_cap ? table_cap * 2 : 256, i;
	struct slot *n = calloc(ncap, sizeof(*n));

	if (n == NULL)
		return ESMPI_ERR_NOMEM;
	for (i = 0; i < table_cap; i++)
		if (table[i].r != NULL)
			table_put(n, ncap, table[i]);
	free(table);
	table = n;
	table_cap = ncap;
	return 0;
}

int
esmpi_req_add(struct esmpi_req *r)
{
	struct slot e;
	int rc = 0;

	esmpi_req_reap();
	pthread_mutex_lock(&table_lock);
	if ((table_len + 1) * 2 > table_cap && (rc = table_grow()) != 0)
		goto out;
	e.r = r;
	e.gen = ++table_gen;
	table_put(table, table_cap, e);
	table_len++;
out:
	pthread_mutex_unlock(&table_lock);
	return rc;
}

/* Caller holds table_lock: empty slot s, re-insert the rest of its
 * cluster. */
static void
table_remove_slot(size_t s)
{
	size_t j;

	table[s].r = NULL;
	table_len--;
	for (j = (s + 1) & (table_cap - 1); table[j].r != NULL;
	    j = (j + 1) & (table_cap - 1)) {
		struct slot m = table[j];

		table[j].r = NULL;
		table_put(table, table_cap, m);
	}
}

/* Find the (newest) entry for h; unless keep, remove it from the table. */
struct esmpi_req *
esmpi_req_take(MPI_Request h, int keep)
{
	struct esmpi_req *r = NULL;
	size_t s, best = 0;
	uint64_t gen = 0;

	if (h == MPI_REQUEST_NULL)
		return NULL;
	pthread_mutex_lock(&table_lock);
	if (table_cap == 0)
		goto out;
	for (s = slot_of(h, table_cap); table[s].r != NULL;
	    s = (s + 1) & (table_cap - 1))
		if (table[s].r->handle == h && table[s].gen > gen) {
			gen = table[s].gen;
			best = s;
		}
	if (gen == 0)
		goto out;
	r = table[best].r;
	if (!keep)
		table_remove_slot(best);
out:
	pthread_mutex_unlock(&table_lock);
	return r;
}

/* Remove r itself, not whichever entry now has its handle value. */
static void
req_remove(struct esmpi_req *r)
{
	size_t s;

	pthread_mutex_lock(&table_lock);
	if (table_cap != 0)
		for (s = slot_of(r->handle, table_cap); table[s].r != NULL;
		    s = (s + 1) & (table_cap - 1))
			if (table[s].r == r) {
				table_remove_slot(s);
				break;
			}
	pthread_mutex_unlock(&table_lock);
}

/* The entry keeps c alive: it may complete after MPI_Comm_free. */
static void
req_bind(struct esmpi_req *r, struct esmpi_comm *c)
{
	r->c = c;
	esmpi_comm_hold(c);
}

/* Persistent receives that Start served from the stash, not yet waited
 * for: MPI sees them inactive, so Waitany and Waitsome skip them. */
static atomic_int nserved;

static void
req_free(struct esmpi_req *r)
{
	if (r->served)
		atomic_fetch_sub(&nserved, 1);
	if (r->flight != NULL)
		esmpi_chunk_app_done(r->flight);
	esmpi_stash_drop(r->stashed);
	esmpi_pool_put(r->rec, (size_t)r->reclen);
	esmpi_coll_free(r->coll);
	esmpi_comm_release(r->c);
	if (r->dt_held)
		PMPI_Type_free(&r->dt);
	free(r);
}

/* The completion step: open a received record; statuses show plaintext. */
int
esmpi_req_complete(struct esmpi_req *r, MPI_Status *st)
{
	int cancelled = 0, rc = MPI_SUCCESS;

	r->active = 0;
	if (r->kind == REQ_COLL)
		return r->done ? MPI_SUCCESS : esmpi_coll_finish(r->coll);
	if (r->kind == REQ_IDUP)
		return r->done ? MPI_SUCCESS : esmpi_comm_adopt(r->comm,
		    r->made, r->made_ctx);
	if (r->kind != REQ_RECV)
		return MPI_SUCCESS;
	if (r->stashed != NULL) {
		struct esmpi_stash *e = r->stashed;

		r->stashed = NULL;
		return esmpi_stash_serve(r->c, e, r->buf, r->count, r->dt,
		    st);
	}
	if (r->done) {
		/* Opened by Request_get_status already. */
		*st = r->done_st;
		return MPI_SUCCESS;
	}
	PMPI_Test_cancelled(st, &cancelled);
	if (cancelled)
		return MPI_SUCCESS;
	if (st->MPI_SOURCE == MPI_PROC_NULL)
		return MPI_SUCCESS;
	rc = esmpi_open(r->c, r->rec, esmpi_status_bytes(st), r->buf, r->count,
	    r->dt, st, r->ticket);
	if (r->persistent)
		esmpi_memzero(r->rec, (size_t)r->reclen);
	return rc;
}

/* Entry r (looked up before the completion call) after completion with
 * status st; removed unless the request is persistent. */
static int
finish(struct esmpi_req *r, MPI_Status *st)
{
	int rc;

	if (r == NULL)
		return MPI_SUCCESS;
	rc = esmpi_req_complete(r, st);
	r->done = 0;
	if (r->served) {
		r->served = 0;
		atomic_fetch_sub(&nserved, 1);
	}
	if (!r->persistent) {
		req_remove(r);
		req_free(r);
	}
	return rc;
}

/*
 * r's request completed with an error (a truncated receive, say): MPI
 * freed a nonblocking request (now is MPI_REQUEST_NULL), so its entry must
 * go too. A stale entry would shadow the next request Open MPI hands out
 * at the same address, whose record would then be opened with this one's
 * buffer and size.
 */
static void
drop(struct esmpi_req *r, MPI_Request now, MPI_Status *st, int err)
{
	if (r != NULL && r->kind == REQ_RECV)
		esmpi_status_truncated(r->c, err, st);
	if (r == NULL || r->persistent || now != MPI_REQUEST_NULL)
		return;		/* persistent: MPI may still use its record */
	req_remove(r);
	req_free(r);
}

/* A truncation esmpi found (a receive with room for a signature the
 * record lacks) is in its status, as MPI reports it for several requests. */
static int
multi_rc(int prc)
{
	return prc == MPI_ERR_TRUNCATE ? MPI_ERR_IN_STATUS : prc;
}

/* After a multiple-completion call that returned rc: open what completed
 * well, drop what failed; MPI_ERR_PENDING ones are still active. */
static int
settle(struct esmpi_req *r, MPI_Request now, MPI_Status *st, int rc)
{
	if (rc == MPI_ERR_IN_STATUS && st->MPI_ERROR != MPI_SUCCESS) {
		if (st->MPI_ERROR != MPI_ERR_PENDING)
			drop(r, now, st, st->MPI_ERROR);
		return MPI_SUCCESS;
	}
	return finish(r, st);
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
	int rc, e, flag = 0;

	if ((c = esmpi_protect(comm, dest, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    fn(buf, count, dt, dest, tag, comm, req);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_SEND, buf, count, dt, dest,
	    tag)) != MPI_SUCCESS)
		return rc;
	if (fn == PMPI_Isend && esmpi_chunk_worth(count, dt) &&
	    esmpi_chunk_send(c, buf, count, dt, dest, tag, req, &rc))
		return rc;
	if ((e = esmpi_seal(c, buf, count, dt, dest, tag, &m)) != 0)
		return esmpi_fail(comm, e == ESMPI_ERR_INVALID ? MPI_ERR_RANK :
		    esmpi.err_internal, "cannot seal message: %s",
		    esmpi_strerror(e));
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		esmpi_pool_put(m.rec, m.len + ESMPI_REC_OVERHEAD);
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	}
	r->kind = REQ_SEND;
	r->rec = m.rec;
	r->reclen = (int)(m.len + ESMPI_REC_OVERHEAD);
	req_bind(r, c);
	rc = fn(m.rec, r->reclen, MPI_BYTE, dest, tag, comm, req);
	if (rc != MPI_SUCCESS) {
		req_free(r);
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
		req_free(r);
		return MPI_SUCCESS;
	}
	r->handle = *req;
	r->active = 1;
	if (esmpi_req_add(r) != 0) {
		/* Cannot track it: wait here rather than leak or free early. */
		PMPI_Wait(req, MPI_STATUS_IGNORE);
		req_free(r);
	}
	return MPI_SUCCESS;
}

int
esmpi_req_track_send(struct esmpi_comm *c, void *flight, MPI_Request handle)
{
	struct esmpi_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return esmpi_fail(c->comm, MPI_ERR_NO_MEM, "out of memory");
	r->kind = REQ_SEND;
	r->flight = flight;
	req_bind(r, c);
	r->handle = handle;
	r->active = 1;
	if (esmpi_req_add(r) != 0) {
		r->flight = NULL;	/* the caller still owns it */
		req_free(r);
		return esmpi_fail(c->comm, MPI_ERR_NO_MEM, "out of memory");
	}
	return MPI_SUCCESS;
}

/* A generalized request, complete at once, reporting a saved status. */
static int
served_query(void *extra, MPI_Status *st)
{
	const MPI_Status *s = extra;

	st->MPI_SOURCE = s->MPI_SOURCE;
	st->MPI_TAG = s->MPI_TAG;
	PMPI_Status_set_elements_x(st, MPI_BYTE,
	    (MPI_Count)esmpi_status_bytes(s));
	PMPI_Status_set_cancelled(st, 0);
	return MPI_SUCCESS;
}

static int
served_free(void *extra)
{
	free(extra);
	return MPI_SUCCESS;
}

static int
served_cancel(void *extra, int complete)
{
	(void)extra, (void)complete;
	return MPI_SUCCESS;
}

int
esmpi_req_served(const MPI_Status *st, MPI_Request *req)
{
	MPI_Status *s = malloc(sizeof(*s));
	int rc;

	if (s == NULL)
		return MPI_ERR_NO_MEM;
	*s = *st;
	if ((rc = PMPI_Grequest_start(served_query, served_free,
	    served_cancel, s, req)) != MPI_SUCCESS) {
		free(s);
		return rc;
	}
	return PMPI_Grequest_complete(*req);
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
 * attached buffer is not used. Records still in flight are kept here and
 * reaped as they complete (and all of them at Buffer_detach/Finalize).
 * An Ibsend's or a Bsend_init's request completes locally too: the
 * application holds a send to MPI_PROC_NULL, complete once started.
 */
static struct esmpi_req *bsend_list;
static pthread_mutex_t bsend_lock = PTHREAD_MUTEX_INITIALIZER;

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
			req_free(r);
		} else
			pp = (struct esmpi_req **)&r->buf;
	}
	pthread_mutex_unlock(&bsend_lock);
}

/* Seal a buffered message and send it in the background. */
static int
bsend_start(struct esmpi_comm *c, const void *buf, int count, MPI_Datatype dt,
    int dest, int tag, MPI_Comm comm)
{
	struct esmpi_req *r;
	struct esmpi_msg m;
	int rc, e;

	bsend_reap(0);
	if ((e = esmpi_seal(c, buf, count, dt, dest, tag, &m)) != 0)
		return esmpi_fail(comm, e == ESMPI_ERR_INVALID ? MPI_ERR_RANK :
		    esmpi.err_internal, "cannot seal message: %s",
		    esmpi_strerror(e));
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		esmpi_pool_put(m.rec, m.len + ESMPI_REC_OVERHEAD);
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	}
	r->rec = m.rec;
	r->reclen = (int)(m.len + ESMPI_REC_OVERHEAD);
	rc = PMPI_Isend(m.rec, r->reclen, MPI_BYTE, dest, tag, comm,
	    &r->handle);
	if (rc != MPI_SUCCESS) {
		req_free(r);
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
	return PMPI_Buffer_attach(buffer, size);
}

ESMPI_EXPORT int
MPI_Buffer_detach(void *buffer_addr, int *size)
{
	/* Detach waits for buffered messages: ours included. */
	bsend_reap(1);
	return PMPI_Buffer_detach(buffer_addr, size);
}

/* A receive request; with_rec: and the record buffer MPI receives into. */
static struct esmpi_req *
new_recv(struct esmpi_comm *c, void *buf, int count, MPI_Datatype dt,
    MPI_Comm comm, int persistent, int with_rec)
{
	struct esmpi_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->kind = REQ_RECV;
	r->persistent = persistent;
	r->buf = buf;
	r->count = count;
	r->dt = esmpi_type_hold(dt, &r->dt_held);
	r->comm = comm;
	req_bind(r, c);
	if (with_rec && (esmpi_recv_capacity(count, dt, &r->reclen) != 0 ||
	    (r->rec = esmpi_pool_get(r->reclen)) == NULL)) {
		req_free(r);
		return NULL;
	}
	return r;
}

/* A nonblocking receive MPI holds as *req: tracked until it completes, or
 * (no memory to track it) completed now. */
static int
track_recv(struct esmpi_req *r, MPI_Request *req)
{
	MPI_Status st;
	int rc;

	r->handle = *req;
	r->active = 1;
	if (esmpi_req_add(r) == 0)
		return MPI_SUCCESS;
	PMPI_Wait(req, &st);
	rc = esmpi_req_complete(r, &st);
	req_free(r);
	return rc;
}

/*
 * A nonblocking receive of what a probe received already: matched now,
 * delivered when the request completes (so errors come at the Wait, as
 * MPI reports them), behind a request that is complete.
 */
static int
serve_later(struct esmpi_comm *c, struct esmpi_stash *e, void *buf,
    int count, MPI_Datatype dt, MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_req *r = new_recv(c, buf, count, dt, comm, 0, 0);
	MPI_Status st;

	*req = MPI_REQUEST_NULL;
	esmpi_stash_status(c, e, &st);
	if (r == NULL || esmpi_req_served(&st, req) != MPI_SUCCESS) {
		if (r != NULL)
			req_free(r);
		esmpi_stash_drop(e);
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	}
	r->stashed = e;
	return track_recv(r, req);
}

ESMPI_EXPORT int
MPI_Irecv(void *buf, int count, MPI_Datatype dt, int source, int tag,
    MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	struct esmpi_stash *e;
	struct esmpi_req *r;
	int rc;

	if ((c = esmpi_protect(comm, source, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Irecv(buf, count, dt, source, tag, comm, req);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_RECV, buf, count, dt, source,
	    tag)) != MPI_SUCCESS)
		return rc;
	if (c->stash != NULL && (e = esmpi_stash_take(c, source, tag)) != NULL)
		return serve_later(c, e, buf, count, dt, comm, req);
	if ((r = new_recv(c, buf, count, dt, comm, 0, 1)) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	r->ticket = esmpi_recv_ticket();
	rc = PMPI_Irecv(r->rec, r->reclen, MPI_BYTE, source, tag, comm, req);
	if (rc != MPI_SUCCESS) {
		req_free(r);
		return rc;
	}
	esmpi_prepare_recv(c, source, tag);
	return track_recv(r, req);
}

/* ---- matched probes ---- */

/* Message handles from Mprobe/Improbe: the communicator to open with. */
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

ESMPI_EXPORT int
MPI_Mrecv(void *buf, int count, MPI_Datatype dt, MPI_Message *message,
    MPI_Status *status)
{
	struct esmpi_comm *c;
	struct esmpi_stash *e;
	MPI_Status local;
	MPI_Comm comm;
	uint64_t ticket = 0;
	uint8_t *rec;
	int rc, reclen;

	if (esmpi.failed)
		return esmpi.err_init;
	if (!esmpi.active && (rc = esmpi_check_started()) != MPI_SUCCESS)
		return rc;
	if (!esmpi.active || *message == MPI_MESSAGE_NO_PROC ||
	    !mprobe_take(*message, &comm, &ticket, &e))
		return PMPI_Mrecv(buf, count, dt, message, status);
	if ((c = esmpi_comm_get(comm)) == NULL)
		return esmpi_fail(comm, esmpi.err_internal, "no keys");
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_RECV, buf, count, dt,
	    MPI_ANY_SOURCE, MPI_ANY_TAG)) != MPI_SUCCESS)
		return rc;
	if (status == MPI_STATUS_IGNORE)
		status = &local;
	if (e != NULL) {
		PMPI_Mrecv(NULL, 0, MPI_BYTE, message, MPI_STATUS_IGNORE);
		return esmpi_stash_serve(c, e, buf, count, dt, status);
	}
	if (esmpi_recv_capacity(count, dt, &reclen) != 0 ||
	    (rec = esmpi_pool_get(reclen)) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	rc = PMPI_Mrecv(rec, reclen, MPI_BYTE, message, status);
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
	MPI_Comm comm;
	uint64_t ticket = 0;
	int rc;

	if (esmpi.failed)
		return esmpi.err_init;
	if (!esmpi.active && (rc = esmpi_check_started()) != MPI_SUCCESS)
		return rc;
	if (!esmpi.active || *message == MPI_MESSAGE_NO_PROC ||
	    !mprobe_take(*message, &comm, &ticket, &e))
		return PMPI_Imrecv(buf, count, dt, message, req);
	if ((c = esmpi_comm_get(comm)) == NULL)
		return esmpi_fail(comm, esmpi.err_internal, "no keys");
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_RECV, buf, count, dt,
	    MPI_ANY_SOURCE, MPI_ANY_TAG)) != MPI_SUCCESS)
		return rc;
	if (e != NULL) {
		PMPI_Mrecv(NULL, 0, MPI_BYTE, message, MPI_STATUS_IGNORE);
		return serve_later(c, e, buf, count, dt, comm, req);
	}
	if ((r = new_recv(c, buf, count, dt, comm, 0, 1)) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	r->ticket = ticket;
	rc = PMPI_Imrecv(r->rec, r->reclen, MPI_BYTE, message, req);
	if (rc != MPI_SUCCESS) {
		req_free(r);
		return rc;
	}
	return track_recv(r, req);
}

/* ---- persistent requests ---- */

typedef int (*sinit_fn)(const void *, int, MPI_Datatype, int, int, MPI_Comm,
    MPI_Request *);

static int
send_init(sinit_fn fn, const void *buf, int count, MPI_Datatype dt,
    int dest, int tag, MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	struct esmpi_req *r;
	int rc, tsz;

	if ((c = esmpi_protect(comm, dest, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc : fn == bsend_handle ?
		    PMPI_Bsend_init(buf, count, dt, dest, tag, comm, req) :
		    fn(buf, count, dt, dest, tag, comm, req);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_SEND, buf, count, dt, dest,
	    tag)) != MPI_SUCCESS)
		return rc;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	PMPI_Type_size(dt, &tsz);
	r->kind = REQ_SEND;
	r->persistent = 1;
	r->buf = (void *)buf;
	r->count = count;
	r->dt = esmpi_type_hold(dt, &r->dt_held);
	r->peer = dest;
	r->tag = tag;
	r->comm = comm;
	req_bind(r, c);
	/* Buffered: each Start seals a copy of its own (bsend_start). */
	if ((r->buffered = fn == bsend_handle))
		r->reclen = 0;
	else if (esmpi_recv_capacity(count, dt, &r->reclen) != 0)
		r->reclen = -1;
	/* Exactly one record: a signature only where the rule signs. */
	else
		r->reclen += (int)esmpi_sign_extra(c, tag) -
		    (int)esmpi_sign_slack();
	if (r->reclen < 0 || (!r->buffered &&
	    (r->rec = esmpi_pool_get(r->reclen)) == NULL)) {
		req_free(r);
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	}
	/* The record buffer is fixed; MPI_Start reseals into it. */
	rc = fn(r->rec, r->reclen, MPI_BYTE, dest, tag, comm, req);
	if (rc != MPI_SUCCESS) {
		req_free(r);
		return rc;
	}
	r->handle = *req;
	if (esmpi_req_add(r) != 0) {
		PMPI_Request_free(req);
		req_free(r);
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	}
	return MPI_SUCCESS;
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
	int rc;

	if ((c = esmpi_protect(comm, source, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Recv_init(buf, count, dt, source, tag, comm, req);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_RECV, buf, count, dt, source,
	    tag)) != MPI_SUCCESS)
		return rc;
	if ((r = new_recv(c, buf, count, dt, comm, 1, 1)) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	r->peer = source;
	r->tag = tag;
	rc = PMPI_Recv_init(r->rec, r->reclen, MPI_BYTE, source, tag, comm,
	    req);
	if (rc != MPI_SUCCESS) {
		req_free(r);
		return rc;
	}
	r->handle = *req;
	if (esmpi_req_add(r) != 0) {
		PMPI_Request_free(req);
		req_free(r);
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	}
	return MPI_SUCCESS;
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
	if (r->kind == REQ_RECV && r->c->stash != NULL &&
	    (e = esmpi_stash_take(r->c, r->peer, r->tag)) != NULL) {
		/* A probe received it already: the request is inactive in
		 * MPI, complete for esmpi; its completion delivers. */
		r->stashed = e;
		r->served = 1;
		r->active = 0;
		atomic_fetch_add(&nserved, 1);
		*served = 1;
		return MPI_SUCCESS;
	}
	if (r->kind != REQ_SEND) {
		r->ticket = ticket;
		if (r->kind == REQ_RECV)
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
	int rc, served = 0;

	if (esmpi.failed)
		return esmpi.err_init;
	if (!esmpi.active && (rc = esmpi_check_started()) != MPI_SUCCESS)
		return rc;
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

/*
 * Requests the application freed while active: MPI lets the operation
 * finish in the background (Isend then MPI_Request_free is a common
 * fire-and-forget). Their record is in use until then, and a receive's
 * must still be opened into the application's buffer, so esmpi keeps
 * their MPI request and tests them whenever a new request is started
 * and at MPI_Finalize. Guarded by table_lock; norphans is the unlocked
 * fast check.
 */
static struct esmpi_req *orphans;
static atomic_int norphans;

void
esmpi_req_reap(void)
{
	struct esmpi_req **p, *r, *done = NULL;
	int flag, rc;

	if (atomic_load_explicit(&norphans, memory_order_relaxed) == 0)
		return;
	pthread_mutex_lock(&table_lock);
	for (p = &orphans; (r = *p) != NULL;) {
		flag = 0;
		rc = PMPI_Test(&r->handle, &flag, &r->orphan_st);
		if (rc == MPI_SUCCESS && !flag) {
			p = &r->next_orphan;
			continue;
		}
		r->orphan_ok = rc == MPI_SUCCESS;
		*p = r->next_orphan;
		r->next_orphan = done;
		done = r;
		atomic_fetch_sub(&norphans, 1);
	}
	pthread_mutex_unlock(&table_lock);
	/* Outside the lock: opening may call an error handler. */
	while ((r = done) != NULL) {
		done = r->next_orphan;
		if (r->orphan_ok)
			(void)esmpi_req_complete(r, &r->orphan_st);
		if (r->persistent && r->handle != MPI_REQUEST_NULL)
			PMPI_Request_free(&r->handle);
		req_free(r);
	}
}

ESMPI_EXPORT int
MPI_Request_free(MPI_Request *req)
{
	struct esmpi_req *r = esmpi_req_take(*req, 0);

	if (r != NULL && r->active) {
		/* Still running: esmpi_req_reap() finishes it. */
		r->handle = *req;
		pthread_mutex_lock(&table_lock);
		r->next_orphan = orphans;
		orphans = r;
		atomic_fetch_add(&norphans, 1);
		pthread_mutex_unlock(&table_lock);
		*req = MPI_REQUEST_NULL;
		return MPI_SUCCESS;
	}
	if (r != NULL)
		req_free(r);
	return PMPI_Request_free(req);
}

/* ---- completion: the Wait and Test families ---- */

ESMPI_EXPORT int
MPI_Wait(MPI_Request *req, MPI_Status *status)
{
	struct esmpi_req *r = esmpi_req_take(*req, 1);
	MPI_Status local;
	int rc, prc;

	if (status == MPI_STATUS_IGNORE)
		status = &local;
	rc = PMPI_Wait(req, status);
	if (rc != MPI_SUCCESS) {
		drop(r, *req, status, rc);
		return rc;
	}
	prc = finish(r, status);
	return prc;
}

ESMPI_EXPORT int
MPI_Test(MPI_Request *req, int *flag, MPI_Status *status)
{
	struct esmpi_req *r = esmpi_req_take(*req, 1);
	MPI_Status local;
	int rc;

	if (status == MPI_STATUS_IGNORE)
		status = &local;
	rc = PMPI_Test(req, flag, status);
	if (rc != MPI_SUCCESS) {
		drop(r, *req, status, rc);
		return rc;
	}
	if (!*flag)
		return rc;
	return finish(r, status);
}

/* The entries of the requests, looked up before the call: completion
 * resets the handles (and frees them for reuse by other threads). */
static struct esmpi_req **
save_handles(int n, const MPI_Request *reqs, struct esmpi_req **small)
{
	struct esmpi_req **h = n <= 16 ? small : malloc(n * sizeof(*h));
	int i;

	if (h != NULL)
		for (i = 0; i < n; i++)
			h[i] = esmpi_req_take(reqs[i], 1);
	return h;
}

static MPI_Status *
statuses_or_local(int n, MPI_Status *sts, MPI_Status *small)
{
	if (sts != MPI_STATUSES_IGNORE)
		return sts;
	return n <= 16 ? small : malloc(n * sizeof(MPI_Status));
}

static void
release(void *p, void *small1, void *small2)
{
	if (p != small1 && p != small2)
		free(p);
}

/* What MPI_Waitall reports for a null or inactive request. */
static void
empty_status(MPI_Status *st)
{
	st->MPI_SOURCE = MPI_ANY_SOURCE;
	st->MPI_TAG = MPI_ANY_TAG;
	st->MPI_ERROR = MPI_SUCCESS;
	PMPI_Status_set_elements(st, MPI_BYTE, 0);
	PMPI_Status_set_cancelled(st, 0);
}

/*
 * Served persistent receives among the requests (h: their entries): MPI
 * skips them as inactive, so they are completed here, at most max of
 * them; their indices go to idx, statuses to st. How many there were.
 */
static int
take_served(int n, struct esmpi_req **h, int max, int *idx, MPI_Status *st,
    int *prc)
{
	MPI_Status tmp;
	int i, k = 0, r;

	if (atomic_load(&nserved) == 0)
		return 0;
	for (i = 0; i < n && k < max; i++) {
		if (h[i] == NULL || !h[i]->served)
			continue;
		r = finish(h[i], st != NULL ? &st[k] : &tmp);
		if (r != MPI_SUCCESS && *prc == MPI_SUCCESS)
			*prc = r;
		if (idx != NULL)
			idx[k] = i;
		k++;
	}
	return k;
}

ESMPI_EXPORT int
MPI_Waitall(int n, MPI_Request reqs[], MPI_Status sts[])
{
	struct esmpi_req *hs[16], **h;
	MPI_Status ss[16], *scratch;
	int idx[16], *ix = idx, rc = MPI_SUCCESS, prc = MPI_SUCCESS, i, out;
	int in_status = 0;

	if ((h = save_handles(n, reqs, hs)) == NULL ||
	    (scratch = n <= 16 ? ss : malloc(n * sizeof(MPI_Status))) ==
	    NULL || (n > 16 && (ix = malloc(n * sizeof(int))) == NULL))
		return PMPI_Waitall(n, reqs, sts);
	if (sts != MPI_STATUSES_IGNORE)
		for (i = 0; i < n; i++)
			empty_status(&sts[i]);
	for (i = 0; atomic_load(&nserved) > 0 && i < n; i++)
		if (take_served(1, &h[i], 1, NULL, sts != MPI_STATUSES_IGNORE ?
		    &sts[i] : NULL, &prc) && prc != MPI_SUCCESS)
			in_status = 1;
	/*
	 * Complete requests as they finish, not all at the end: opening one
	 * received record then overlaps the transfer of the others.
	 */
	for (;;) {
		rc = PMPI_Waitsome(n, reqs, &out, ix, scratch);
		/* MPI_ERR_IN_STATUS: some of these failed (truncation, say);
		 * the others still complete, and Waitall waits for the rest. */
		if ((rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS) ||
		    out == MPI_UNDEFINED)
			break;
		if (rc == MPI_ERR_IN_STATUS)
			in_status = 1;
		for (i = 0; i < out; i++) {
			int r;

			if (rc == MPI_SUCCESS)
				scratch[i].MPI_ERROR = MPI_SUCCESS;
			r = settle(h[ix[i]], reqs[ix[i]], &scratch[i], rc);
			if (sts != MPI_STATUSES_IGNORE)
				sts[ix[i]] = scratch[i];
			if (r != MPI_SUCCESS && prc == MPI_SUCCESS)
				prc = r;
		}
	}
	if (rc == MPI_SUCCESS && in_status)
		rc = MPI_ERR_IN_STATUS;
	release(h, hs, NULL);
	release(scratch, ss, NULL);
	if (ix != idx)
		free(ix);
	return rc != MPI_SUCCESS ? rc : multi_rc(prc);
}

ESMPI_EXPORT int
MPI_Testall(int n, MPI_Request reqs[], int *flag, MPI_Status sts[])
{
	struct esmpi_req *hs[16], **h;
	MPI_Status ss[16], *st;
	int rc, i, prc = MPI_SUCCESS;

	if ((h = save_handles(n, reqs, hs)) == NULL ||
	    (st = statuses_or_local(n, sts, ss)) == NULL)
		return PMPI_Testall(n, reqs, flag, sts);
	rc = PMPI_Testall(n, reqs, flag, st);
	if ((rc == MPI_SUCCESS || rc == MPI_ERR_IN_STATUS) && *flag) {
		for (i = 0; i < n; i++) {
			int r = settle(h[i], reqs[i], &st[i], rc);

			if (r != MPI_SUCCESS && prc == MPI_SUCCESS)
				prc = r;
		}
	}
	release(h, hs, NULL);
	if (st != sts)
		release(st, ss, NULL);
	return rc != MPI_SUCCESS ? rc : multi_rc(prc);
}

ESMPI_EXPORT int
MPI_Waitany(int n, MPI_Request reqs[], int *index, MPI_Status *status)
{
	struct esmpi_req *hs[16], **h;
	MPI_Status local;
	int rc, prc = MPI_SUCCESS;

	if (status == MPI_STATUS_IGNORE)
		status = &local;
	if ((h = save_handles(n, reqs, hs)) == NULL)
		return PMPI_Waitany(n, reqs, index, status);
	if (take_served(n, h, 1, index, status, &prc)) {
		release(h, hs, NULL);
		return prc;
	}
	rc = PMPI_Waitany(n, reqs, index, status);
	if (rc != MPI_SUCCESS && *index >= 0 && *index < n)
		drop(h[*index], reqs[*index], status, rc);
	else if (rc == MPI_SUCCESS && *index != MPI_UNDEFINED)
		prc = finish(h[*index], status);
	release(h, hs, NULL);
	return rc != MPI_SUCCESS ? rc : prc;
}

ESMPI_EXPORT int
MPI_Testany(int n, MPI_Request reqs[], int *index, int *flag,
    MPI_Status *status)
{
	struct esmpi_req *hs[16], **h;
	MPI_Status local;
	int rc, prc = MPI_SUCCESS;

	if (status == MPI_STATUS_IGNORE)
		status = &local;
	if ((h = save_handles(n, reqs, hs)) == NULL)
		return PMPI_Testany(n, reqs, index, flag, status);
	if (take_served(n, h, 1, index, status, &prc)) {
		*flag = 1;
		release(h, hs, NULL);
		return prc;
	}
	rc = PMPI_Testany(n, reqs, index, flag, status);
	if (rc != MPI_SUCCESS && *index >= 0 && *index < n)
		drop(h[*index], reqs[*index], status, rc);
	else if (rc == MPI_SUCCESS && *flag && *index != MPI_UNDEFINED)
		prc = finish(h[*index], status);
	release(h, hs, NULL);
	return rc != MPI_SUCCESS ? rc : prc;
}

typedef int (*some_fn)(int, MPI_Request[], int *, int[], MPI_Status[]);

static int
some(some_fn fn, int n, MPI_Request reqs[], int *outcount, int indices[],
    MPI_Status sts[])
{
	struct esmpi_req *hs[16], **h;
	MPI_Status ss[16], *st;
	int rc, i, prc = MPI_SUCCESS;

	if ((h = save_handles(n, reqs, hs)) == NULL ||
	    (st = statuses_or_local(n, sts, ss)) == NULL)
		return fn(n, reqs, outcount, indices, sts);
	if ((*outcount = take_served(n, h, n, indices, st, &prc)) > 0)
		rc = MPI_SUCCESS;
	else if ((rc = fn(n, reqs, outcount, indices, st)) ==
	    MPI_ERR_IN_STATUS || (rc == MPI_SUCCESS &&
	    *outcount != MPI_UNDEFINED)) {
		for (i = 0; i < *outcount; i++) {
			int r = settle(h[indices[i]], reqs[indices[i]], &st[i],
			    rc);

			if (r != MPI_SUCCESS && prc == MPI_SUCCESS)
				prc = r;
		}
	}
	release(h, hs, NULL);
	if (st != sts)
		release(st, ss, NULL);
	return rc != MPI_SUCCESS ? rc : multi_rc(prc);
}

ESMPI_EXPORT int
MPI_Waitsome(int n, MPI_Request reqs[], int *outcount, int indices[],
    MPI_Status sts[])
{
	return some(PMPI_Waitsome, n, reqs, outcount, indices, sts);
}

ESMPI_EXPORT int
MPI_Testsome(int n, MPI_Request reqs[], int *outcount, int indices[],
    MPI_Status sts[])
{
	return some(PMPI_Testsome, n, reqs, outcount, indices, sts);
}

ESMPI_EXPORT int
MPI_Request_get_status(MPI_Request req, int *flag, MPI_Status *status)
{
	struct esmpi_req *r;
	MPI_Status local;
	int rc;

	if (status == MPI_STATUS_IGNORE)
		status = &local;
	rc = PMPI_Request_get_status(req, flag, status);
	if (rc != MPI_SUCCESS || !*flag || (r = esmpi_req_take(req, 1)) == NULL)
		return rc;
	/* Complete but not freed: open now, so the data is there as MPI
	 * promises; the later Wait must not open again. */
	if (r->kind != REQ_SEND && !r->done) {
		rc = esmpi_req_complete(r, status);
		r->done = 1;
		r->done_st = *status;
	} else if (r->kind == REQ_RECV) {
		*status = r->done_st;
	}
	return rc;
}
