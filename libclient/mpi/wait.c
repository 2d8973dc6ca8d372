/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Completion: the Wait and Test families, Request_get_status and
 * Request_free. MPI completes the requests; each completed request's
 * entry in the request table (req/) then does what its creator set.
 */
#include <stdlib.h>

#include "mpi/mpi_layer.h"

/*
 * A persistent collective's run (mpi/pcoll.c): once it completes, the
 * application holds its inactive persistent request again. Read before
 * the completion step, which frees the run's entry.
 */
struct anchor {
	int set;
	MPI_Request h;
};

static struct anchor
anchor_of(const struct esmpi_req *r)
{
	struct anchor a = { 0, MPI_REQUEST_NULL };

	if (r != NULL && r->anchored) {
		a.set = 1;
		a.h = r->anchor;
	}
	return a;
}

static void
reanchor(struct anchor a, MPI_Request *slot)
{
	if (a.set && *slot == MPI_REQUEST_NULL)
		*slot = a.h;
}

/* esmpi_req_finish, _drop and _settle of the request in *slot. */
static int
finish_at(struct esmpi_req *r, MPI_Request *slot, MPI_Status *st)
{
	struct anchor a = anchor_of(r);
	int rc = esmpi_req_finish(r, st);

	reanchor(a, slot);
	return rc;
}

static void
drop_at(struct esmpi_req *r, MPI_Request *slot, MPI_Status *st, int err)
{
	struct anchor a = anchor_of(r);

	esmpi_req_drop(r, *slot, st, err);
	reanchor(a, slot);
}

static int
settle_at(struct esmpi_req *r, MPI_Request *slot, MPI_Status *st, int rc)
{
	struct anchor a = anchor_of(r);
	int prc = esmpi_req_settle(r, *slot, st, rc);

	reanchor(a, slot);
	return prc;
}

ESMPI_EXPORT int
MPI_Request_free(MPI_Request *req)
{
	struct esmpi_req *r = esmpi_req_take(*req, 0), *p;
	struct anchor a = anchor_of(r);

	/* A persistent collective's run: the persistent request goes too. */
	if (a.set) {
		if ((p = esmpi_req_take(a.h, 0)) != NULL)
			esmpi_req_free(p);
		PMPI_Request_free(&a.h);
	}
	if (r != NULL && r->active) {
		/* Still running: esmpi_req_reap() finishes it. */
		esmpi_req_orphan(r, *req);
		*req = MPI_REQUEST_NULL;
		return MPI_SUCCESS;
	}
	if (r != NULL)
		esmpi_req_free(r);
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
		drop_at(r, req, status, rc);
		return rc;
	}
	prc = finish_at(r, req, status);
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
		drop_at(r, req, status, rc);
		return rc;
	}
	if (!*flag)
		return rc;
	return finish_at(r, req, status);
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
	for (i = 0; esmpi_req_any_served() && i < n; i++)
		if (esmpi_req_take_served(1, &h[i], 1, NULL, sts != MPI_STATUSES_IGNORE ?
		    &sts[i] : NULL, 1, &prc) && prc != MPI_SUCCESS)
			in_status = 1;
	/*
	 * Complete requests as they finish, not all at the end: opening one
	 * received record then overlaps the transfer of the others.
	 */
	for (;;) {
		rc = PMPI_Waitsome(n, reqs, &out, ix, scratch);
		/* MPI_ERR_IN_STATUS: some of these failed (truncation, say);
		 * the others still complete, and Waitall waits for the rest. */
		if ((rc != MPI_SUCCESS &&
		    !esmpi_err_is(rc, MPI_ERR_IN_STATUS)) || out == MPI_UNDEFINED)
			break;
		if (esmpi_err_is(rc, MPI_ERR_IN_STATUS))
			in_status = 1;
		for (i = 0; i < out; i++) {
			int r;

			if (rc == MPI_SUCCESS)
				scratch[i].MPI_ERROR = MPI_SUCCESS;
			r = settle_at(h[ix[i]], &reqs[ix[i]], &scratch[i], rc);
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
	return rc != MPI_SUCCESS ? rc : esmpi_req_multi_rc(prc);
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
	if ((rc == MPI_SUCCESS || esmpi_err_is(rc, MPI_ERR_IN_STATUS)) &&
	    *flag) {
		for (i = 0; i < n; i++) {
			int r = settle_at(h[i], &reqs[i], &st[i], rc);

			if (r != MPI_SUCCESS && prc == MPI_SUCCESS)
				prc = r;
		}
	}
	release(h, hs, NULL);
	if (st != sts)
		release(st, ss, NULL);
	return rc != MPI_SUCCESS ? rc : esmpi_req_multi_rc(prc);
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
	if (esmpi_req_take_served(n, h, 1, index, status, 0, &prc)) {
		release(h, hs, NULL);
		return prc;
	}
	rc = PMPI_Waitany(n, reqs, index, status);
	if (rc != MPI_SUCCESS && *index >= 0 && *index < n)
		drop_at(h[*index], &reqs[*index], status, rc);
	else if (rc == MPI_SUCCESS && *index != MPI_UNDEFINED)
		prc = finish_at(h[*index], &reqs[*index], status);
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
	if (esmpi_req_take_served(n, h, 1, index, status, 0, &prc)) {
		*flag = 1;
		release(h, hs, NULL);
		return prc;
	}
	rc = PMPI_Testany(n, reqs, index, flag, status);
	if (rc != MPI_SUCCESS && *index >= 0 && *index < n)
		drop_at(h[*index], &reqs[*index], status, rc);
	else if (rc == MPI_SUCCESS && *flag && *index != MPI_UNDEFINED)
		prc = finish_at(h[*index], &reqs[*index], status);
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
	if ((*outcount = esmpi_req_take_served(n, h, n, indices, st, 1,
	    &prc)) > 0)
		rc = MPI_SUCCESS;
	else if (esmpi_err_is(rc = fn(n, reqs, outcount, indices, st),
	    MPI_ERR_IN_STATUS) || (rc == MPI_SUCCESS &&
	    *outcount != MPI_UNDEFINED)) {
		for (i = 0; i < *outcount; i++) {
			int r = settle_at(h[indices[i]], &reqs[indices[i]],
			    &st[i], rc);

			if (r != MPI_SUCCESS && prc == MPI_SUCCESS)
				prc = r;
		}
	}
	release(h, hs, NULL);
	if (st != sts)
		release(st, ss, NULL);
	return rc != MPI_SUCCESS ? rc : esmpi_req_multi_rc(prc);
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
	 * promises; the later Wait must not open again. An inactive
	 * persistent request has nothing to open: marked done, it would
	 * make the Wait after its next Start skip its record. */
	if (!r->done && r->ops->complete != NULL && (r->active ||
	    r->served)) {
		rc = esmpi_req_complete(r, status);
		r->done = 1;
		r->done_st = *status;
	} else if (r->done) {
		*status = r->done_st;
	}
	return rc;
}
