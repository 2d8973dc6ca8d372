/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The request table: MPI request handle -> what its completion must do
 * (struct esmpi_req_ops, set by the request's creator). Every Wait/Test
 * call (mpi/wait.c) completes through here.
 */
#include <stdlib.h>
#include <string.h>

#include "req/req.h"
#include "esmpi_err.h"

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
	return esmpi_handle_hash(h) & (cap - 1);
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

int
esmpi_req_add_persistent(struct esmpi_req *r, MPI_Request *req,
    MPI_Comm comm)
{
	r->handle = *req;
	if (esmpi_req_add(r) == 0)
		return MPI_SUCCESS;
	PMPI_Request_free(req);
	esmpi_req_free(r);
	return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
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

/* Persistent receives that Start served from the stash, not yet waited
 * for: MPI sees them inactive, so Waitany and Waitsome skip them. */
static atomic_int nserved;

struct esmpi_req *
esmpi_req_new(struct esmpi_comm *c, const struct esmpi_req_ops *ops)
{
	struct esmpi_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->ops = ops;
	/* The entry keeps c alive: it may complete after MPI_Comm_free. */
	r->c = c;
	if (c != NULL)
		esmpi_comm_hold(c);
	return r;
}

void
esmpi_req_free(struct esmpi_req *r)
{
	if (r->served)
		atomic_fetch_sub(&nserved, 1);
	if (r->ops->free != NULL)
		r->ops->free(r);
	esmpi_comm_release(r->c);
	free(r);
}

int
esmpi_req_complete(struct esmpi_req *r, MPI_Status *st)
{
	int rc = MPI_SUCCESS;

	if (r->done) {
		/* Completed by Request_get_status already. */
		r->active = 0;
		*st = r->done_st;
		return MPI_SUCCESS;
	}
	/* complete sees whether the request was started (active). */
	if (r->ops->complete != NULL)
		rc = r->ops->complete(r, st);
	r->active = 0;
	return rc;
}

int
esmpi_req_finish(struct esmpi_req *r, MPI_Status *st)
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
		esmpi_req_free(r);
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
void
esmpi_req_drop(struct esmpi_req *r, MPI_Request now, MPI_Status *st, int err)
{
	if (r != NULL && r->ops->failed != NULL)
		r->ops->failed(r, err, st);
	if (r == NULL || r->persistent || now != MPI_REQUEST_NULL)
		return;		/* persistent: MPI may still use its record */
	req_remove(r);
	esmpi_req_free(r);
}

/* A truncation esmpi found (a receive with room for a signature the
 * record lacks) is in its status, as MPI reports it for several requests. */
int
esmpi_req_multi_rc(int prc)
{
	return esmpi_err_is(prc, MPI_ERR_TRUNCATE) ? MPI_ERR_IN_STATUS : prc;
}

/* After a multiple-completion call that returned rc: open what completed
 * well, drop what failed; MPI_ERR_PENDING ones are still active. */
int
esmpi_req_settle(struct esmpi_req *r, MPI_Request now, MPI_Status *st, int rc)
{
	if (esmpi_err_is(rc, MPI_ERR_IN_STATUS) &&
	    st->MPI_ERROR != MPI_SUCCESS) {
		if (!esmpi_err_is(st->MPI_ERROR, MPI_ERR_PENDING))
			esmpi_req_drop(r, now, st, st->MPI_ERROR);
		return MPI_SUCCESS;
	}
	/* A failure esmpi found (a truncation, say) goes into the status,
	 * as MPI reports it for several requests. */
	if ((rc = esmpi_req_finish(r, st)) != MPI_SUCCESS)
		st->MPI_ERROR = rc;
	return rc;
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
esmpi_req_completed(const MPI_Status *st, MPI_Request *req)
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
		esmpi_req_free(r);
	}
}

/*
 * Served persistent receives among the requests (h: their entries): MPI
 * skips them as inactive, so they are completed here, at most max of
 * them; their indices go to idx, statuses to st (and, for a call that
 * completes several (multi), a failure into its status's MPI_ERROR). How
 * many there were.
 */
int
esmpi_req_take_served(int n, struct esmpi_req **h, int max, int *idx,
    MPI_Status *st, int multi, int *prc)
{
	MPI_Status tmp;
	int i, k = 0, r;

	if (atomic_load(&nserved) == 0)
		return 0;
	for (i = 0; i < n && k < max; i++) {
		if (h[i] == NULL || !h[i]->served)
			continue;
		r = esmpi_req_finish(h[i], st != NULL ? &st[k] : &tmp);
		if (r != MPI_SUCCESS && multi && st != NULL)
			st[k].MPI_ERROR = r;
		if (r != MPI_SUCCESS && *prc == MPI_SUCCESS)
			*prc = r;
		if (idx != NULL)
			idx[k] = i;
		k++;
	}
	return k;
}

void
esmpi_req_orphan(struct esmpi_req *r, MPI_Request h)
{
	r->handle = h;
	pthread_mutex_lock(&table_lock);
	r->next_orphan = orphans;
	orphans = r;
	atomic_fetch_add(&norphans, 1);
	pthread_mutex_unlock(&table_lock);
}

void
esmpi_req_mark_served(struct esmpi_req *r)
{
	r->served = 1;
	r->active = 0;
	atomic_fetch_add(&nserved, 1);
}

int
esmpi_req_any_served(void)
{
	return atomic_load(&nserved) > 0;
}
