/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blocking collectives on intracommunicators (DESIGN.md §5).
 *
 * Data movement: every block is sealed once where it originates (for the
 * one rank it is meant for, or for ESMPI_REC_DST_ALL when every rank opens
 * it), Open MPI's own collective moves the records as MPI_BYTE (block size
 * plaintext + ESMPI_REC_OVERHEAD), and each destination opens what it
 * receives. A rank's block for itself is copied locally, never sealed.
 *
 * Reductions: ciphertext cannot be combined, so sealed contributions are
 * moved with a data-movement collective and combined with
 * PMPI_Reduce_local in rank order (a0 op a1 op ... op aN-1), which makes
 * user-defined, non-commutative operations and every datatype work:
 *   Reduce                 Gather to root, root combines
 *   Allreduce, Scan, Exscan Allgather, every rank combines what it needs
 *   Reduce_scatter(_block) Alltoall(v) of blocks, every rank combines its
 *                          own block
 *
 * Every record binds the communicator's collective sequence number
 * (c->coll_seq, advanced by every rank in the same order as MPI requires
 * collectives to be called) and tag ESMPI_COLL_TAG; a record moved to
 * another collective, rank or communicator does not open. A record that
 * does not open is refused (audit, one message, error handler); nothing
 * unauthenticated reaches the application's buffers.
 *
 * Intercommunicators take the unprotected-call path (policy decides).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "esmpi_client.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"

#define OVH ESMPI_REC_OVERHEAD
#define CTAG ESMPI_COLL_TAG

enum { C_PASS, C_PROT, C_FAIL };

/*
 * Prologue of every wrapper: C_PASS (call PMPI: not initialised, or an
 * intercommunicator the policy lets through), C_FAIL (*rc says why) or
 * C_PROT with the state and this call's collective sequence number.
 */
static int
enter(MPI_Comm comm, const char *inter_fn, struct esmpi_comm **cp,
    uint64_t *seq, int *rc)
{
	struct esmpi_comm *c;

	*rc = MPI_SUCCESS;
	if (esmpi.failed) {
		*rc = esmpi.err_init;
		return C_FAIL;
	}
	/* MPI_COMM_NULL: Open MPI raises MPI_ERR_COMM, nothing moves. */
	if (!esmpi.active || comm == MPI_COMM_NULL)
		return C_PASS;
	if ((c = esmpi_comm_get(comm)) == NULL) {
		*rc = esmpi_fail(comm, esmpi.err_internal, "communicator has "
		    "no esmpi keys; refusing to run a collective in plaintext");
		return C_FAIL;
	}
	if (c->is_inter) {
		*rc = esmpi_unprotected_call(inter_fn);
		return *rc == MPI_SUCCESS ? C_PASS : C_FAIL;
	}
	pthread_mutex_lock(&c->lock);
	*seq = ++c->coll_seq;
	pthread_mutex_unlock(&c->lock);
	*cp = c;
	return C_PROT;
}

#define PROLOGUE(comm, inter_fn, pmpi_call) do {			\
	int rc_;							\
	switch (enter((comm), (inter_fn), &c, &seq, &rc_)) {		\
	case C_PASS:							\
		return pmpi_call;					\
	case C_FAIL:							\
		return rc_;						\
	}								\
} while (0)

static MPI_Aint
extent_of(MPI_Datatype dt)
{
	MPI_Aint lb = 0, ext = 0;

	PMPI_Type_get_extent(dt, &lb, &ext);
	return ext;
}

/* Record bytes of a block of (count, dt). */
static int
rec_len(int count, MPI_Datatype dt, size_t *len)
{
	size_t n;
	int r;

	if ((r = esmpi_msg_bytes(count, dt, &n)) != 0)
		return r;
	*len = n + OVH;
	return 0;
}

static int
seal_fail(struct esmpi_comm *c, const char *fn, int r)
{
	return esmpi_fail(c->comm, r == ESMPI_ERR_TOO_LARGE ? MPI_ERR_COUNT :
	    r == ESMPI_ERR_NOMEM ? MPI_ERR_NO_MEM : esmpi.err_internal,
	    "%s: cannot seal block: %s", fn, esmpi_strerror(r));
}

static int
root_fail(struct esmpi_comm *c, const char *fn, int root)
{
	return esmpi_fail(c->comm, MPI_ERR_ROOT, "%s: invalid root %d", fn,
	    root);
}

static int
nomem(struct esmpi_comm *c, const char *fn)
{
	return esmpi_fail(c->comm, MPI_ERR_NO_MEM, "%s: out of memory", fn);
}

static int
open_block(struct esmpi_comm *c, int src, uint32_t dst, uint64_t seq,
    const uint8_t *rec, size_t reclen, void *buf, int count, MPI_Datatype dt)
{
	size_t len;
	int r;

	r = esmpi_open_from(c, src, dst, CTAG, seq, rec, reclen, buf, count,
	    dt, &len);
	return r != 0 ? esmpi_refuse(c, src, CTAG, r) : MPI_SUCCESS;
}

/*
 * Copy (scount, stype) at sbuf to (rcount, rtype) at rbuf, as a message
 * to oneself would (matching type signatures; gaps of rbuf untouched).
 */
static int
local_copy(struct esmpi_comm *c, const void *sbuf, int scount,
    MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype)
{
	int psz = 0, pos = 0, rtsz = 0, rc;
	size_t sbytes;
	void *tmp;

	if (scount <= 0 || rcount <= 0)
		return MPI_SUCCESS;
	if (sbuf == rbuf && scount == rcount && stype == rtype)
		return MPI_SUCCESS;
	if ((rc = PMPI_Pack_size(scount, stype, c->comm, &psz)) !=
	    MPI_SUCCESS)
		return rc;
	if ((tmp = malloc(psz > 0 ? (size_t)psz : 1)) == NULL)
		return nomem(c, "local copy");
	rc = PMPI_Pack(sbuf, scount, stype, tmp, psz, &pos, c->comm);
	if (rc == MPI_SUCCESS) {
		(void)esmpi_msg_bytes(scount, stype, &sbytes);
		PMPI_Type_size(rtype, &rtsz);
		if (rtsz > 0 && sbytes / (size_t)rtsz < (size_t)rcount)
			rcount = (int)(sbytes / (size_t)rtsz);
		if (rtsz > 0 && sbytes > (size_t)rtsz * (size_t)rcount)
			rc = esmpi_fail(c->comm, MPI_ERR_TRUNCATE,
			    "collective: own block larger than its slot");
		else {
			pos = 0;
			rc = PMPI_Unpack(tmp, pos + psz, &pos, rbuf, rcount,
			    rtype, c->comm);
		}
	}
	esmpi_freezero(tmp, psz > 0 ? (size_t)psz : 1);
	return rc;
}

/* A typed temporary of count elements of dt (plaintext: wiped on free). */
struct tbuf {
	void *mem;
	size_t len;
	void *p;			/* where element 0 is, as for MPI */
};

static int
tbuf_alloc(struct tbuf *t, int count, MPI_Datatype dt)
{
	MPI_Aint tlb, text, lb, ext, lo, hi, span;

	PMPI_Type_get_true_extent(dt, &tlb, &text);
	PMPI_Type_get_extent(dt, &lb, &ext);
	span = count > 0 ? (MPI_Aint)(count - 1) * ext : 0;
	lo = tlb + (span < 0 ? span : 0);
	hi = tlb + text + (span > 0 ? span : 0);
	t->len = hi > lo ? (size_t)(hi - lo) : 1;
	if ((t->mem = calloc(1, t->len)) == NULL)
		return -1;
	t->p = (char *)t->mem - lo;
	return 0;
}

static void
tbuf_free(struct tbuf *t)
{
	if (t->mem != NULL)
		esmpi_freezero(t->mem, t->len);
	t->mem = NULL;
}

/*
 * out = a[lo] op a[lo+1] op ... op a[hi], where a[rank] is own and a[i]
 * is the record at recs + i * stride (stride bytes, sealed by rank i for
 * dst). Combined from the right, so non-commutative ops see rank order.
 */
static int
combine(struct esmpi_comm *c, uint64_t seq, uint32_t dst,
    const uint8_t *recs, size_t stride, const void *own, int lo, int hi,
    int count, MPI_Datatype dt, MPI_Op op, void *out)
{
	struct tbuf acc = { 0 }, tmp = { 0 };
	int i, rc = MPI_SUCCESS;

	if (hi < lo)
		return MPI_SUCCESS;
	if (tbuf_alloc(&acc, count, dt) != 0 ||
	    (hi > lo && tbuf_alloc(&tmp, count, dt) != 0)) {
		rc = nomem(c, "reduction");
		goto out;
	}
	for (i = hi; i >= lo; i--) {
		const void *a;

		if (i == c->rank) {
			if (i == hi) {
				rc = local_copy(c, own, count, dt, acc.p,
				    count, dt);
				if (rc != MPI_SUCCESS)
					goto out;
				continue;
			}
			a = own;
		} else {
			rc = open_block(c, i, dst, seq, recs + i * stride,
			    stride, i == hi ? acc.p : tmp.p, count, dt);
			if (rc != MPI_SUCCESS || i == hi)
				goto next;
			a = tmp.p;
		}
		rc = PMPI_Reduce_local(a, acc.p, count, dt, op);
next:
		if (rc != MPI_SUCCESS)
			goto out;
	}
	rc = local_copy(c, acc.p, count, dt, out, count, dt);
out:
	tbuf_free(&acc);
	tbuf_free(&tmp);
	return rc;
}

/*
 * Byte counts and packed displacements of records for per-rank element
 * counts (v variants). ESMPI_ERR_TOO_LARGE past int.
 */
static int
rec_layout(int n, const int counts[], MPI_Datatype dt, int *bc, int *bd)
{
	long long off = 0;
	size_t len;
	int i, r;

	for (i = 0; i < n; i++) {
		if ((r = rec_len(counts[i], dt, &len)) != 0)
			return r;
		bc[i] = (int)len;
		bd[i] = (int)off;
		off += (long long)len;
		if (off > INT_MAX)
			return ESMPI_ERR_TOO_LARGE;
	}
	return 0;
}

static int
layout_fail(struct esmpi_comm *c, const char *fn, int r)
{
	return r == ESMPI_ERR_NOMEM ? nomem(c, fn) : esmpi_fail(c->comm,
	    MPI_ERR_COUNT, "%s: sealed blocks exceed what one collective can "
	    "move (%s)", fn, esmpi_strerror(r));
}

/* Two int arrays of n (v variants); NULL when out of memory. */
static int *
int_arrays(int n, int **second)
{
	int *a = calloc((size_t)(n > 0 ? n : 1) * 2, sizeof(int));

	*second = a != NULL ? a + (n > 0 ? n : 1) : NULL;
	return a;
}

/* ------------------------------------------------------------ Bcast */

ESMPI_EXPORT int
MPI_Bcast(void *buffer, int count, MPI_Datatype datatype, int root,
    MPI_Comm comm)
{
	static const char fn[] = "MPI_Bcast";
	struct esmpi_comm *c;
	uint64_t seq;
	uint8_t *rec;
	size_t rl;
	int r, rc;

	PROLOGUE(comm, "MPI_Bcast (intercommunicator)",
	    PMPI_Bcast(buffer, count, datatype, root, comm));
	if (root < 0 || root >= c->size)
		return root_fail(c, fn, root);
	if ((r = rec_len(count, datatype, &rl)) != 0)
		return seal_fail(c, fn, r);
	if ((rec = esmpi_pool_get(rl)) == NULL)
		return nomem(c, fn);
	if (c->rank == root && (r = esmpi_seal_into(c, buffer, count,
	    datatype, ESMPI_REC_DST_ALL, CTAG, seq, rec)) != 0) {
		esmpi_pool_put(rec, rl);
		return seal_fail(c, fn, r);
	}
	rc = PMPI_Bcast(rec, (int)rl, MPI_BYTE, root, comm);
	if (rc == MPI_SUCCESS && c->rank != root)
		rc = open_block(c, root, ESMPI_REC_DST_ALL, seq, rec, rl,
		    buffer, count, datatype);
	esmpi_pool_put(rec, rl);
	return rc;
}

/* ----------------------------------------------------------- Gather */

/* Non-root side of Gather(v) and Reduce: one block for root. */
static int
gather_send(struct esmpi_comm *c, const char *fn, uint64_t seq,
    const void *sbuf, int scount, MPI_Datatype stype, int root, int is_v)
{
	uint8_t *rec;
	size_t rl;
	int r, rc;

	if ((r = rec_len(scount, stype, &rl)) != 0)
		return seal_fail(c, fn, r);
	if ((rec = esmpi_pool_get(rl)) == NULL)
		return nomem(c, fn);
	if ((r = esmpi_seal_into(c, sbuf, scount, stype, c->peer_world[root],
	    CTAG, seq, rec)) != 0)
		rc = seal_fail(c, fn, r);
	else if (is_v)
		rc = PMPI_Gatherv(rec, (int)rl, MPI_BYTE, NULL, NULL, NULL,
		    MPI_BYTE, root, c->comm);
	else
		rc = PMPI_Gather(rec, (int)rl, MPI_BYTE, NULL, 0, MPI_BYTE,
		    root, c->comm);
	esmpi_pool_put(rec, rl);
	return rc;
}

ESMPI_EXPORT int
MPI_Gather(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, int root,
    MPI_Comm comm)
{
	static const char fn[] = "MPI_Gather";
	struct esmpi_comm *c;
	uint64_t seq;
	uint8_t *recs;
	size_t rl, total;
	MPI_Aint rext;
	int i, r, rc;

	PROLOGUE(comm, "MPI_Gather (intercommunicator)",
	    PMPI_Gather(sendbuf, sendcount, sendtype, recvbuf, recvcount,
	    recvtype, root, comm));
	if (root < 0 || root >= c->size)
		return root_fail(c, fn, root);
	if (c->rank != root)
		return gather_send(c, fn, seq, sendbuf, sendcount, sendtype,
		    root, 0);
	if ((r = rec_len(recvcount, recvtype, &rl)) != 0)
		return seal_fail(c, fn, r);
	total = rl * (size_t)c->size;
	if ((recs = esmpi_pool_get(total)) == NULL)
		return nomem(c, fn);
	rext = extent_of(recvtype);
	rc = PMPI_Gather(MPI_IN_PLACE, 0, MPI_BYTE, recs, (int)rl, MPI_BYTE,
	    root, comm);
	for (i = 0; rc == MPI_SUCCESS && i < c->size; i++) {
		char *slot = (char *)recvbuf + (MPI_Aint)i * recvcount * rext;

		if (i == root)
			rc = sendbuf == MPI_IN_PLACE ? MPI_SUCCESS :
			    local_copy(c, sendbuf, sendcount, sendtype, slot,
			    recvcount, recvtype);
		else
			rc = open_block(c, i, c->my_world, seq, recs +
			    (size_t)i * rl, rl, slot, recvcount, recvtype);
	}
	esmpi_pool_put(recs, total);
	return rc;
}

ESMPI_EXPORT int
MPI_Gatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, const int recvcounts[], const int displs[],
    MPI_Datatype recvtype, int root, MPI_Comm comm)
{
	static const char fn[] = "MPI_Gatherv";
	struct esmpi_comm *c;
	uint64_t seq;
	uint8_t *recs = NULL;
	size_t total = 0;
	MPI_Aint rext;
	int *bc, *bd, i, r, rc;

	PROLOGUE(comm, "MPI_Gatherv (intercommunicator)",
	    PMPI_Gatherv(sendbuf, sendcount, sendtype, recvbuf, recvcounts,
	    displs, recvtype, root, comm));
	if (root < 0 || root >= c->size)
		return root_fail(c, fn, root);
	if (c->rank != root)
		return gather_send(c, fn, seq, sendbuf, sendcount, sendtype,
		    root, 1);
	if ((bc = int_arrays(c->size, &bd)) == NULL)
		return nomem(c, fn);
	if ((r = rec_layout(c->size, recvcounts, recvtype, bc, bd)) != 0) {
		free(bc);
		return layout_fail(c, fn, r);
	}
	total = (size_t)bd[c->size - 1] + (size_t)bc[c->size - 1];
	if ((recs = esmpi_pool_get(total)) == NULL) {
		free(bc);
		return nomem(c, fn);
	}
	rext = extent_of(recvtype);
	rc = PMPI_Gatherv(MPI_IN_PLACE, 0, MPI_BYTE, recs, bc, bd, MPI_BYTE,
	    root, comm);
	for (i = 0; rc == MPI_SUCCESS && i < c->size; i++) {
		char *slot = (char *)recvbuf + (MPI_Aint)displs[i] * rext;

		if (i == root)
			rc = sendbuf == MPI_IN_PLACE ? MPI_SUCCESS :
			    local_copy(c, sendbuf, sendcount, sendtype, slot,
			    recvcounts[i], recvtype);
		else
			rc = open_block(c, i, c->my_world, seq, recs + bd[i],
			    (size_t)bc[i], slot, recvcounts[i], recvtype);
	}
	esmpi_pool_put(recs, total);
	free(bc);
	return rc;
}

/* ---------------------------------------------------------- Scatter */

/* Non-root side of Scatter(v): open the block root sealed for us. */
static int
scatter_recv(struct esmpi_comm *c, const char *fn, uint64_t seq,
    void *rbuf, int rcount, MPI_Datatype rtype, int root, int is_v)
{
	uint8_t *rec;
	size_t rl;
	int r, rc;

	if ((r = rec_len(rcount, rtype, &rl)) != 0)
		return seal_fail(c, fn, r);
	if ((rec = esmpi_pool_get(rl)) == NULL)
		return nomem(c, fn);
	if (is_v)
		rc = PMPI_Scatterv(NULL, NULL, NULL, MPI_BYTE, rec, (int)rl,
		    MPI_BYTE, root, c->comm);
	else
		rc = PMPI_Scatter(NULL, 0, MPI_BYTE, rec, (int)rl, MPI_BYTE,
		    root, c->comm);
	if (rc == MPI_SUCCESS)
		rc = open_block(c, root, c->my_world, seq, rec, rl, rbuf,
		    rcount, rtype);
	esmpi_pool_put(rec, rl);
	return rc;
}

ESMPI_EXPORT int
MPI_Scatter(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, int root,
    MPI_Comm comm)
{
	static const char fn[] = "MPI_Scatter";
	struct esmpi_comm *c;
	uint64_t seq;
	uint8_t *recs;
	size_t rl, total;
	MPI_Aint sext;
	int i, r, rc = MPI_SUCCESS;

	PROLOGUE(comm, "MPI_Scatter (intercommunicator)",
	    PMPI_Scatter(sendbuf, sendcount, sendtype, recvbuf, recvcount,
	    recvtype, root, comm));
	if (root < 0 || root >= c->size)
		return root_fail(c, fn, root);
	if (c->rank != root)
		return scatter_recv(c, fn, seq, recvbuf, recvcount, recvtype,
		    root, 0);
	if ((r = rec_len(sendcount, sendtype, &rl)) != 0)
		return seal_fail(c, fn, r);
	total = rl * (size_t)c->size;
	if ((recs = esmpi_pool_get(total)) == NULL)
		return nomem(c, fn);
	sext = extent_of(sendtype);
	for (i = 0; i < c->size; i++) {
		const char *blk = (const char *)sendbuf +
		    (MPI_Aint)i * sendcount * sext;

		if (i == root)
			continue;
		if ((r = esmpi_seal_into(c, blk, sendcount, sendtype,
		    c->peer_world[i], CTAG, seq, recs + (size_t)i * rl)) != 0) {
			rc = seal_fail(c, fn, r);
			break;
		}
	}
	if (rc == MPI_SUCCESS)
		rc = PMPI_Scatter(recs, (int)rl, MPI_BYTE, MPI_IN_PLACE, 0,
		    MPI_BYTE, root, comm);
	if (rc == MPI_SUCCESS && recvbuf != MPI_IN_PLACE)
		rc = local_copy(c, (const char *)sendbuf +
		    (MPI_Aint)root * sendcount * sext, sendcount, sendtype,
		    recvbuf, recvcount, recvtype);
	esmpi_pool_put(recs, total);
	return rc;
}

ESMPI_EXPORT int
MPI_Scatterv(const void *sendbuf, const int sendcounts[], const int displs[],
    MPI_Datatype sendtype, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, int root, MPI_Comm comm)
{
	static const char fn[] = "MPI_Scatterv";
	struct esmpi_comm *c;
	uint64_t seq;
	uint8_t *recs;
	size_t total;
	MPI_Aint sext;
	int *bc, *bd, i, r, rc = MPI_SUCCESS;

	PROLOGUE(comm, "MPI_Scatterv (intercommunicator)",
	    PMPI_Scatterv(sendbuf, sendcounts, displs, sendtype, recvbuf,
	    recvcount, recvtype, root, comm));
	if (root < 0 || root >= c->size)
		return root_fail(c, fn, root);
	if (c->rank != root)
		return scatter_recv(c, fn, seq, recvbuf, recvcount, recvtype,
		    root, 1);
	if ((bc = int_arrays(c->size, &bd)) == NULL)
		return nomem(c, fn);
	if ((r = rec_layout(c->size, sendcounts, sendtype, bc, bd)) != 0) {
		free(bc);
		return layout_fail(c, fn, r);
	}
	total = (size_t)bd[c->size - 1] + (size_t)bc[c->size - 1];
	if ((recs = esmpi_pool_get(total)) == NULL) {
		free(bc);
		return nomem(c, fn);
	}
	sext = extent_of(sendtype);
	for (i = 0; i < c->size; i++) {
		if (i == root)
			continue;
		if ((r = esmpi_seal_into(c, (const char *)sendbuf +
		    (MPI_Aint)displs[i] * sext, sendcounts[i], sendtype,
		    c->peer_world[i], CTAG, seq, recs + bd[i])) != 0) {
			rc = seal_fail(c, fn, r);
			break;
		}
	}
	if (rc == MPI_SUCCESS)
		rc = PMPI_Scatterv(recs, bc, bd, MPI_BYTE, MPI_IN_PLACE, 0,
		    MPI_BYTE, root, comm);
	if (rc == MPI_SUCCESS && recvbuf != MPI_IN_PLACE)
		rc = local_copy(c, (const char *)sendbuf +
		    (MPI_Aint)displs[root] * sext, sendcounts[root], sendtype,
		    recvbuf, recvcount, recvtype);
	esmpi_pool_put(recs, total);
	free(bc);
	return rc;
}

/* -------------------------------------------------------- Allgather */

ESMPI_EXPORT int
MPI_Allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm)
{
	static const char fn[] = "MPI_Allgather";
	struct esmpi_comm *c;
	uint64_t seq;
	uint8_t *recs;
	size_t rl, total;
	MPI_Aint rext;
	char *mine;
	int i, r, rc = MPI_SUCCESS;

	PROLOGUE(comm, "MPI_Allgather (intercommunicator)",
	    PMPI_Allgather(sendbuf, sendcount, sendtype, recvbuf, recvcount,
	    recvtype, comm));
	if ((r = rec_len(recvcount, recvtype, &rl)) != 0)
		return seal_fail(c, fn, r);
	total = rl * (size_t)c->size;
	if ((recs = esmpi_pool_get(total)) == NULL)
		return nomem(c, fn);
	rext = extent_of(recvtype);
	mine = (char *)recvbuf + (MPI_Aint)c->rank * recvcount * rext;
	if (sendbuf == MPI_IN_PLACE)
		r = esmpi_seal_into(c, mine, recvcount, recvtype,
		    ESMPI_REC_DST_ALL, CTAG, seq, recs + (size_t)c->rank * rl);
	else {
		size_t sl;

		if ((r = rec_len(sendcount, sendtype, &sl)) == 0 && sl != rl)
			r = ESMPI_ERR_INVALID;
		if (r == 0)
			r = esmpi_seal_into(c, sendbuf, sendcount, sendtype,
			    ESMPI_REC_DST_ALL, CTAG, seq,
			    recs + (size_t)c->rank * rl);
	}
	if (r != 0)
		rc = seal_fail(c, fn, r);
	if (rc == MPI_SUCCESS)
		rc = PMPI_Allgather(MPI_IN_PLACE, 0, MPI_BYTE, recs, (int)rl,
		    MPI_BYTE, comm);
	for (i = 0; rc == MPI_SUCCESS && i < c->size; i++) {
		char *slot = (char *)recvbuf + (MPI_Aint)i * recvcount * rext;

		if (i == c->rank)
			rc = sendbuf == MPI_IN_PLACE ? MPI_SUCCESS :
			    local_copy(c, sendbuf, sendcount, sendtype, slot,
			    recvcount, recvtype);
		else
			rc = open_block(c, i, ESMPI_REC_DST_ALL, seq, recs +
			    (size_t)i * rl, rl, slot, recvcount, recvtype);
	}
	esmpi_pool_put(recs, total);
	return rc;
}

ESMPI_EXPORT int
MPI_Allgatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, const int recvcounts[], const int displs[],
    MPI_Datatype recvtype, MPI_Comm comm)
{
	static const char fn[] = "MPI_Allgatherv";
	struct esmpi_comm *c;
	uint64_t seq;
	uint8_t *recs;
	size_t total;
	MPI_Aint rext;
	int *bc, *bd, me, i, r, rc = MPI_SUCCESS;

	PROLOGUE(comm, "MPI_Allgatherv (intercommunicator)",
	    PMPI_Allgatherv(sendbuf, sendcount, sendtype, recvbuf,
	    recvcounts, displs, recvtype, comm));
	me = c->rank;
	if ((bc = int_arrays(c->size, &bd)) == NULL)
		return nomem(c, fn);
	if ((r = rec_layout(c->size, recvcounts, recvtype, bc, bd)) != 0) {
		free(bc);
		return layout_fail(c, fn, r);
	}
	total = (size_t)bd[c->size - 1] + (size_t)bc[c->size - 1];
	if ((recs = esmpi_pool_get(total)) == NULL) {
		free(bc);
		return nomem(c, fn);
	}
	rext = extent_of(recvtype);
	if (sendbuf == MPI_IN_PLACE)
		r = esmpi_seal_into(c, (char *)recvbuf +
		    (MPI_Aint)displs[me] * rext, recvcounts[me], recvtype,
		    ESMPI_REC_DST_ALL, CTAG, seq, recs + bd[me]);
	else {
		size_t sl;

		if ((r = rec_len(sendcount, sendtype, &sl)) == 0 &&
		    sl != (size_t)bc[me])
			r = ESMPI_ERR_INVALID;
		if (r == 0)
			r = esmpi_seal_into(c, sendbuf, sendcount, sendtype,
			    ESMPI_REC_DST_ALL, CTAG, seq, recs + bd[me]);
	}
	if (r != 0)
		rc = seal_fail(c, fn, r);
	if (rc == MPI_SUCCESS)
		rc = PMPI_Allgatherv(MPI_IN_PLACE, 0, MPI_BYTE, recs, bc, bd,
		    MPI_BYTE, comm);
	for (i = 0; rc == MPI_SUCCESS && i < c->size; i++) {
		char *slot = (char *)recvbuf + (MPI_Aint)displs[i] * rext;

		if (i == me)
			rc = sendbuf == MPI_IN_PLACE ? MPI_SUCCESS :
			    local_copy(c, sendbuf, sendcount, sendtype, slot,
			    recvcounts[i], recvtype);
		else
			rc = open_block(c, i, ESMPI_REC_DST_ALL, seq, recs +
			    bd[i], (size_t)bc[i], slot, recvcounts[i],
			    recvtype);
	}
	esmpi_pool_put(recs, total);
	free(bc);
	return rc;
}

/* --------------------------------------------------------- Alltoall */

ESMPI_EXPORT int
MPI_Alltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm)
{
	static const char fn[] = "MPI_Alltoall";
	struct esmpi_comm *c;
	uint64_t seq;
	uint8_t *srecs = NULL, *rrecs = NULL;
	size_t rl, total;
	MPI_Aint sext, rext;
	int i, r, rc = MPI_SUCCESS, in_place = sendbuf == MPI_IN_PLACE;

	PROLOGUE(comm, "MPI_Alltoall (intercommunicator)",
	    PMPI_Alltoall(sendbuf, sendcount, sendtype, recvbuf, recvcount,
	    recvtype, comm));
	/* In place: what we send is in recvbuf, sealed before it changes. */
	if (in_place) {
		sendbuf = recvbuf;
		sendcount = recvcount;
		sendtype = recvtype;
	}
	if ((r = rec_len(recvcount, recvtype, &rl)) != 0)
		return seal_fail(c, fn, r);
	total = rl * (size_t)c->size;
	if ((srecs = esmpi_pool_get(total)) == NULL ||
	    (rrecs = esmpi_pool_get(total)) == NULL) {
		esmpi_pool_put(srecs, total);
		return nomem(c, fn);
	}
	sext = extent_of(sendtype);
	rext = extent_of(recvtype);
	for (i = 0; i < c->size; i++) {
		size_t sl;

		if (i == c->rank) {
			/* Never sent: the own slot goes to ourselves. */
			memset(srecs + (size_t)i * rl, 0, rl);
			continue;
		}
		if ((r = rec_len(sendcount, sendtype, &sl)) == 0 && sl != rl)
			r = ESMPI_ERR_INVALID;
		if (r == 0)
			r = esmpi_seal_into(c, (const char *)sendbuf +
			    (MPI_Aint)i * sendcount * sext, sendcount,
			    sendtype, c->peer_world[i], CTAG, seq,
			    srecs + (size_t)i * rl);
		if (r != 0) {
			rc = seal_fail(c, fn, r);
			break;
		}
	}
	if (rc == MPI_SUCCESS)
		rc = PMPI_Alltoall(srecs, (int)rl, MPI_BYTE, rrecs, (int)rl,
		    MPI_BYTE, comm);
	if (rc == MPI_SUCCESS && !in_place)
		rc = local_copy(c, (const char *)sendbuf +
		    (MPI_Aint)c->rank * sendcount * sext, sendcount, sendtype,
		    (char *)recvbuf + (MPI_Aint)c->rank * recvcount * rext,
		    recvcount, recvtype);
	for (i = 0; rc == MPI_SUCCESS && i < c->size; i++)
		if (i != c->rank)
			rc = open_block(c, i, c->my_world, seq,
			    rrecs + (size_t)i * rl, rl, (char *)recvbuf +
			    (MPI_Aint)i * recvcount * rext, recvcount,
			    recvtype);
	esmpi_pool_put(srecs, total);
	esmpi_pool_put(rrecs, total);
	return rc;
}

ESMPI_EXPORT int
MPI_Alltoallv(const void *sendbuf, const int sendcounts[],
    const int sdispls[], MPI_Datatype sendtype, void *recvbuf,
    const int recvcounts[], const int rdispls[], MPI_Datatype recvtype,
    MPI_Comm comm)
{
	static const char fn[] = "MPI_Alltoallv";
	struct esmpi_comm *c;
	uint64_t seq;
	uint8_t *srecs = NULL, *rrecs = NULL;
	size_t stotal = 0, rtotal = 0;
	MPI_Aint sext, rext;
	int *sbc = NULL, *sbd, *rbc = NULL, *rbd, me, n, i, r;
	int rc = MPI_SUCCESS, in_place = sendbuf == MPI_IN_PLACE;

	PROLOGUE(comm, "MPI_Alltoallv (intercommunicator)",
	    PMPI_Alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf,
	    recvcounts, rdispls, recvtype, comm));
	me = c->rank;
	n = c->size;
	if (in_place) {
		sendbuf = recvbuf;
		sendcounts = recvcounts;
		sdispls = rdispls;
		sendtype = recvtype;
	}
	if ((sbc = int_arrays(n, &sbd)) == NULL ||
	    (rbc = int_arrays(n, &rbd)) == NULL) {
		rc = nomem(c, fn);
		goto out;
	}
	if ((r = rec_layout(n, sendcounts, sendtype, sbc, sbd)) != 0 ||
	    (r = rec_layout(n, recvcounts, recvtype, rbc, rbd)) != 0) {
		rc = layout_fail(c, fn, r);
		goto out;
	}
	/* The own block is copied locally: send no record to ourselves. */
	sbc[me] = rbc[me] = 0;
	stotal = (size_t)sbd[n - 1] + (size_t)sbc[n - 1] + 1;
	rtotal = (size_t)rbd[n - 1] + (size_t)rbc[n - 1] + 1;
	if ((srecs = esmpi_pool_get(stotal)) == NULL ||
	    (rrecs = esmpi_pool_get(rtotal)) == NULL) {
		rc = nomem(c, fn);
		goto out;
	}
	sext = extent_of(sendtype);
	rext = extent_of(recvtype);
	for (i = 0; i < n; i++) {
		if (i == me)
			continue;
		if ((r = esmpi_seal_into(c, (const char *)sendbuf +
		    (MPI_Aint)sdispls[i] * sext, sendcounts[i], sendtype,
		    c->peer_world[i], CTAG, seq, srecs + sbd[i])) != 0) {
			rc = seal_fail(c, fn, r);
			goto out;
		}
	}
	rc = PMPI_Alltoallv(srecs, sbc, sbd, MPI_BYTE, rrecs, rbc, rbd,
	    MPI_BYTE, comm);
	if (rc == MPI_SUCCESS && !in_place)
		rc = local_copy(c, (const char *)sendbuf +
		    (MPI_Aint)sdispls[me] * sext, sendcounts[me], sendtype,
		    (char *)recvbuf + (MPI_Aint)rdispls[me] * rext,
		    recvcounts[me], recvtype);
	for (i = 0; rc == MPI_SUCCESS && i < n; i++)
		if (i != me)
			rc = open_block(c, i, c->my_world, seq, rrecs + rbd[i],
			    (size_t)rbc[i], (char *)recvbuf +
			    (MPI_Aint)rdispls[i] * rext, recvcounts[i],
			    recvtype);
out:
	if (srecs != NULL)
		esmpi_pool_put(srecs, stotal);
	if (rrecs != NULL)
		esmpi_pool_put(rrecs, rtotal);
	free(sbc);
	free(rbc);
	return rc;
}

/* ------------------------------------------------------- Reductions */

ESMPI_EXPORT int
MPI_Reduce(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, int root, MPI_Comm comm)
{
	static const char fn[] = "MPI_Reduce";
	struct esmpi_comm *c;
	uint64_t seq;
	uint8_t *recs;
	size_t rl, total;
	const void *own;
	int r, rc;

	PROLOGUE(comm, "MPI_Reduce (intercommunicator)",
	    PMPI_Reduce(sendbuf, recvbuf, count, datatype, op, root, comm));
	if (root < 0 || root >= c->size)
		return root_fail(c, fn, root);
	if (c->rank != root)
		return gather_send(c, fn, seq, sendbuf, count, datatype, root,
		    0);
	own = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
	if ((r = rec_len(count, datatype, &rl)) != 0)
		return seal_fail(c, fn, r);
	total = rl * (size_t)c->size;
	if ((recs = esmpi_pool_get(total)) == NULL)
		return nomem(c, fn);
	rc = PMPI_Gather(MPI_IN_PLACE, 0, MPI_BYTE, recs, (int)rl, MPI_BYTE,
	    root, comm);
	if (rc == MPI_SUCCESS)
		rc = combine(c, seq, c->my_world, recs, rl, own, 0,
		    c->size - 1, count, datatype, op, recvbuf);
	esmpi_pool_put(recs, total);
	return rc;
}

/*
 * Allreduce, Scan and Exscan: every rank's contribution sealed for all,
 * allgathered; each rank combines a[0..hi] (hi: last rank, own rank, or
 * own rank - 1).
 */
enum { RED_ALL, RED_SCAN, RED_EXSCAN };

static int
reduce_allgather(const char *fn, int kind, const void *sendbuf,
    void *recvbuf, int count, MPI_Datatype dt, MPI_Op op,
    struct esmpi_comm *c, uint64_t seq)
{
	uint8_t *recs;
	size_t rl, total;
	const void *own = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
	int r, rc = MPI_SUCCESS, hi;

	if ((r = rec_len(count, dt, &rl)) != 0)
		return seal_fail(c, fn, r);
	total = rl * (size_t)c->size;
	if ((recs = esmpi_pool_get(total)) == NULL)
		return nomem(c, fn);
	if ((r = esmpi_seal_into(c, own, count, dt, ESMPI_REC_DST_ALL, CTAG,
	    seq, recs + (size_t)c->rank * rl)) != 0)
		rc = seal_fail(c, fn, r);
	if (rc == MPI_SUCCESS)
		rc = PMPI_Allgather(MPI_IN_PLACE, 0, MPI_BYTE, recs, (int)rl,
		    MPI_BYTE, c->comm);
	hi = kind == RED_ALL ? c->size - 1 : kind == RED_SCAN ? c->rank :
	    c->rank - 1;
	/* Exscan: rank 0's recvbuf is left as it is. */
	if (rc == MPI_SUCCESS)
		rc = combine(c, seq, ESMPI_REC_DST_ALL, recs, rl, own, 0, hi,
		    count, dt, op, recvbuf);
	esmpi_pool_put(recs, total);
	return rc;
}

ESMPI_EXPORT int
MPI_Allreduce(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, MPI_Comm comm)
{
	struct esmpi_comm *c;
	uint64_t seq;

	PROLOGUE(comm, "MPI_Allreduce (intercommunicator)",
	    PMPI_Allreduce(sendbuf, recvbuf, count, datatype, op, comm));
	return reduce_allgather("MPI_Allreduce", RED_ALL, sendbuf, recvbuf,
	    count, datatype, op, c, seq);
}

ESMPI_EXPORT int
MPI_Scan(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, MPI_Comm comm)
{
	struct esmpi_comm *c;
	uint64_t seq;

	PROLOGUE(comm, "MPI_Scan (intercommunicator)",
	    PMPI_Scan(sendbuf, recvbuf, count, datatype, op, comm));
	return reduce_allgather("MPI_Scan", RED_SCAN, sendbuf, recvbuf,
	    count, datatype, op, c, seq);
}

ESMPI_EXPORT int
MPI_Exscan(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, MPI_Comm comm)
{
	struct esmpi_comm *c;
	uint64_t seq;

	PROLOGUE(comm, "MPI_Exscan (intercommunicator)",
	    PMPI_Exscan(sendbuf, recvbuf, count, datatype, op, comm));
	return reduce_allgather("MPI_Exscan", RED_EXSCAN, sendbuf, recvbuf,
	    count, datatype, op, c, seq);
}

/*
 * Reduce_scatter(_block): block j of every rank's input (counts[j]
 * elements) is sealed for rank j and moved with one Alltoallv; each rank
 * combines the blocks it received with its own.
 */
static int
reduce_scatter(const char *fn, const void *sendbuf, void *recvbuf,
    const int counts[], MPI_Datatype dt, MPI_Op op, struct esmpi_comm *c,
    uint64_t seq)
{
	uint8_t *srecs = NULL, *rrecs = NULL;
	size_t stotal = 0, rtotal = 0, rl;
	const char *in = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
	const char *own = NULL;
	MPI_Aint ext = extent_of(dt), off = 0;
	int *sbc = NULL, *sbd, *rbc = NULL, *rbd, me = c->rank, n = c->size;
	int i, r, rc = MPI_SUCCESS;

	if ((sbc = int_arrays(n, &sbd)) == NULL ||
	    (rbc = int_arrays(n, &rbd)) == NULL) {
		rc = nomem(c, fn);
		goto out;
	}
	if ((r = rec_layout(n, counts, dt, sbc, sbd)) != 0 ||
	    (r = rec_len(counts[me], dt, &rl)) != 0 ||
	    (long long)rl * n > INT_MAX) {
		rc = layout_fail(c, fn, r ? r : ESMPI_ERR_TOO_LARGE);
		goto out;
	}
	for (i = 0; i < n; i++) {
		rbc[i] = (int)rl;
		rbd[i] = (int)rl * i;
	}
	sbc[me] = rbc[me] = 0;
	stotal = (size_t)sbd[n - 1] + (size_t)sbc[n - 1] + 1;
	rtotal = rl * (size_t)n;
	if ((srecs = esmpi_pool_get(stotal)) == NULL ||
	    (rrecs = esmpi_pool_get(rtotal)) == NULL) {
		rc = nomem(c, fn);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const char *blk = in + off * ext;

		off += counts[i];
		if (i == me) {
			own = blk;
			continue;
		}
		if ((r = esmpi_seal_into(c, blk, counts[i], dt,
		    c->peer_world[i], CTAG, seq, srecs + sbd[i])) != 0) {
			rc = seal_fail(c, fn, r);
			goto out;
		}
	}
	rc = PMPI_Alltoallv(srecs, sbc, sbd, MPI_BYTE, rrecs, rbc, rbd,
	    MPI_BYTE, c->comm);
	if (rc == MPI_SUCCESS)
		rc = combine(c, seq, c->my_world, rrecs, rl, own, 0, n - 1,
		    counts[me], dt, op, recvbuf);
out:
	if (srecs != NULL)
		esmpi_pool_put(srecs, stotal);
	if (rrecs != NULL)
		esmpi_pool_put(rrecs, rtotal);
	free(sbc);
	free(rbc);
	return rc;
}

ESMPI_EXPORT int
MPI_Reduce_scatter(const void *sendbuf, void *recvbuf,
    const int recvcounts[], MPI_Datatype datatype, MPI_Op op, MPI_Comm comm)
{
	struct esmpi_comm *c;
	uint64_t seq;

	PROLOGUE(comm, "MPI_Reduce_scatter (intercommunicator)",
	    PMPI_Reduce_scatter(sendbuf, recvbuf, recvcounts, datatype, op,
	    comm));
	return reduce_scatter("MPI_Reduce_scatter", sendbuf, recvbuf,
	    recvcounts, datatype, op, c, seq);
}

ESMPI_EXPORT int
MPI_Reduce_scatter_block(const void *sendbuf, void *recvbuf, int recvcount,
    MPI_Datatype datatype, MPI_Op op, MPI_Comm comm)
{
	static const char fn[] = "MPI_Reduce_scatter_block";
	struct esmpi_comm *c;
	uint64_t seq;
	int *counts, *unused, i, rc;

	PROLOGUE(comm, "MPI_Reduce_scatter_block (intercommunicator)",
	    PMPI_Reduce_scatter_block(sendbuf, recvbuf, recvcount, datatype,
	    op, comm));
	if ((counts = int_arrays(c->size, &unused)) == NULL)
		return nomem(c, fn);
	for (i = 0; i < c->size; i++)
		counts[i] = recvcount;
	rc = reduce_scatter(fn, sendbuf, recvbuf, counts, datatype, op, c,
	    seq);
	free(counts);
	return rc;
}
