/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MPI-4 partitioned point-to-point (MPICH): Psend_init, Precv_init,
 * Pready(_range, _list), Parrived. The whole buffer travels as one
 * record through MPI's own partitioned request of one partition of
 * MPI_BYTE (the record): the send side seals the buffer when the
 * application has marked its last partition ready, then marks MPI's one
 * partition ready; the receive side opens the record once MPI says it
 * arrived, in Parrived or at completion, and only then reports any of
 * its partitions arrived. The two sides' partition counts may differ
 * (MPI-4 asks for equal total sizes): MPI sees one partition each. The
 * cost: no partition leaves before the last is ready, one seal and one
 * open of the whole buffer per Start.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/mpi_layer.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"

#ifdef ESMPI_HAVE_PARTITIONED
struct part {
	int parts;
	const char *fn;
	pthread_mutex_t lock;	/* Pready and Parrived may come from threads */
	int nready;		/* sends: partitions marked since Start */
	int opened;		/* receives: the record opened, status in st */
	int open_rc;
	MPI_Status st;
	unsigned char ready[];	/* sends: per partition */
};

static int
part_complete(struct esmpi_req *r, MPI_Status *st)
{
	struct part *p = r->priv;
	int rc;

	if (!r->active || !r->receive)
		return MPI_SUCCESS;
	pthread_mutex_lock(&p->lock);
	if (!p->opened) {
		p->open_rc = esmpi_open(r->c, r->rec, esmpi_status_bytes(st),
		    r->buf, r->count, r->dt, st, r->ticket);
		p->st = *st;
		p->opened = 1;
	} else {
		st->MPI_SOURCE = p->st.MPI_SOURCE;
		st->MPI_TAG = p->st.MPI_TAG;
		esmpi_status_set_bytes(st, esmpi_status_bytes(&p->st));
	}
	rc = p->open_rc;
	esmpi_memzero(r->rec, r->reclen);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static void
part_free(struct esmpi_req *r)
{
	struct part *p = r->priv;

	esmpi_pool_put(r->rec, r->reclen);
	if (r->dt_held)
		PMPI_Type_free(&r->dt);
	if (p != NULL) {
		pthread_mutex_destroy(&p->lock);
		free(p);
	}
}

/* Start: a new round of partitions; MPI starts its own request. */
static int
part_start(struct esmpi_req *r, MPI_Request *req)
{
	struct part *p = r->priv;

	pthread_mutex_lock(&p->lock);
	p->nready = p->opened = 0;
	p->open_rc = MPI_SUCCESS;
	memset(p->ready, 0, r->receive ? 0 : (size_t)p->parts);
	pthread_mutex_unlock(&p->lock);
	if (r->receive) {
		r->ticket = esmpi_recv_ticket();
		esmpi_prepare_recv(r->c, r->peer, r->tag);
	}
	r->active = 1;
	return PMPI_Start(req);
}

static const struct esmpi_req_ops part_ops = {
	.complete = part_complete,
	.free = part_free,
	.start = part_start,
};

static int
part_init(const char *fn, void *buf, int partitions, MPI_Count count,
    MPI_Datatype dt, int peer, int tag, MPI_Comm comm, MPI_Info info,
    MPI_Request *req, int receive)
{
	struct esmpi_comm *c;
	struct esmpi_req *r;
	struct part *p;
	MPI_Count total;
	size_t n;
	int rc;

	if ((c = esmpi_protect(comm, peer, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc : receive ?
		    PMPI_Precv_init(buf, partitions, count, dt, peer, tag,
		    comm, info, req) : PMPI_Psend_init(buf, partitions, count,
		    dt, peer, tag, comm, info, req);
	if (partitions < 1 || count < 0)
		return esmpi_fail(comm, MPI_ERR_ARG, "%s: %d partitions of "
		    "%lld elements (want at least one partition and a count "
		    "of zero or more)", fn, partitions, (long long)count);
	total = (MPI_Count)partitions * count;
	if (total > INT_MAX || esmpi_msg_bytes((int)total, dt, &n) != 0)
		return esmpi_fail(comm, MPI_ERR_COUNT, "%s: %d partitions of "
		    "%lld elements: larger than esmpi carries in one "
		    "partitioned message (at most INT_MAX elements, %zu "
		    "bytes)", fn, partitions, (long long)count,
		    (size_t)ESMPI_REC_MAX_LEN);
	if ((rc = esmpi_check_p2p(c, receive ? ESMPI_CHK_RECV :
	    ESMPI_CHK_SEND, buf, (int)total, dt, peer, tag)) != MPI_SUCCESS)
		return rc;
	if ((r = esmpi_req_new(c, &part_ops)) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	p = calloc(1, sizeof(*p) + (receive ? 0 : (size_t)partitions));
	if (p != NULL) {
		p->parts = partitions;
		p->fn = fn;
		pthread_mutex_init(&p->lock, NULL);
	}
	r->priv = p;
	r->receive = receive;
	r->persistent = 1;
	r->buf = buf;
	r->count = (int)total;
	r->dt = esmpi_type_hold(dt, &r->dt_held);
	r->peer = peer;
	r->tag = tag;
	r->comm = comm;
	/* Both sides know the record's exact size (equal totals, one rule
	 * for the tag): MPI's partitioned requests need it exact. */
	r->reclen = n + ESMPI_REC_OVERHEAD + esmpi_sign_extra(c, tag);
	if (p == NULL || (r->rec = esmpi_pool_get(r->reclen)) == NULL) {
		esmpi_req_free(r);
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	}
	rc = receive ? PMPI_Precv_init(r->rec, 1, (MPI_Count)r->reclen,
	    MPI_BYTE, peer, tag, comm, info, req) : PMPI_Psend_init(r->rec, 1,
	    (MPI_Count)r->reclen, MPI_BYTE, peer, tag, comm, info, req);
	if (rc != MPI_SUCCESS) {
		esmpi_req_free(r);
		return rc;
	}
	return esmpi_req_add_persistent(r, req, comm);
}

ESMPI_EXPORT int
MPI_Psend_init(const void *buf, int partitions, MPI_Count count,
    MPI_Datatype dt, int dest, int tag, MPI_Comm comm, MPI_Info info,
    MPI_Request *req)
{
	return part_init("MPI_Psend_init", (void *)buf, partitions, count, dt,
	    dest, tag, comm, info, req, 0);
}

ESMPI_EXPORT int
MPI_Precv_init(void *buf, int partitions, MPI_Count count, MPI_Datatype dt,
    int source, int tag, MPI_Comm comm, MPI_Info info, MPI_Request *req)
{
	return part_init("MPI_Precv_init", buf, partitions, count, dt, source,
	    tag, comm, info, req, 1);
}

/* Our entry of a partitioned request h (NULL: MPI's own, unprotected). */
static struct esmpi_req *
part_of(MPI_Request h)
{
	struct esmpi_req *r = esmpi_req_take(h, 1);

	return r != NULL && r->ops == &part_ops ? r : NULL;
}

static int
bad_partition(struct esmpi_req *r, const char *fn, int i)
{
	struct part *p = r->priv;

	return esmpi_fail(r->comm, MPI_ERR_ARG, "%s: partition %d of a "
	    "request with partitions 0..%d", fn, i, p->parts - 1);
}

/*
 * Mark partitions [lo, hi] (list: the n of list) of send request r
 * ready; the last one seals the buffer and hands MPI the record.
 */
static int
mark(struct esmpi_req *r, const char *fn, int lo, int hi, const int *list,
    int n)
{
	struct part *p = r->priv;
	int i, k, all, e;

	if (r->receive || !r->active)
		return esmpi_fail(r->comm, MPI_ERR_REQUEST, "%s: not an "
		    "active partitioned send request (%s)", fn,
		    r->receive ? "a receive" : "not started");
	n = list != NULL ? n : hi - lo + 1;
	for (k = 0; k < n; k++) {
		i = list != NULL ? list[k] : lo + k;
		if (i < 0 || i >= p->parts)
			return bad_partition(r, fn, i);
	}
	pthread_mutex_lock(&p->lock);
	for (k = 0; k < n; k++) {
		i = list != NULL ? list[k] : lo + k;
		if (!p->ready[i]) {
			p->ready[i] = 1;
			p->nready++;
		}
	}
	all = p->nready == p->parts;
	if (all)
		p->nready++;	/* sealed once: later marks do nothing */
	pthread_mutex_unlock(&p->lock);
	if (!all)
		return MPI_SUCCESS;
	if ((e = esmpi_seal_into(r->c, r->buf, r->count, r->dt,
	    r->c->peer_world[r->peer], r->tag, 0, r->rec)) != 0)
		return esmpi_fail(r->comm, esmpi.err_internal, "%s: cannot "
		    "seal message: %s", fn, esmpi_strerror(e));
	e = PMPI_Pready(0, r->handle);
	if (e == MPI_SUCCESS)
		esmpi_prepare_send(r->c);
	return e;
}

ESMPI_EXPORT int
MPI_Pready(int partition, MPI_Request request)
{
	struct esmpi_req *r = part_of(request);

	if (r == NULL)
		return PMPI_Pready(partition, request);
	return mark(r, "MPI_Pready", partition, partition, NULL, 0);
}

ESMPI_EXPORT int
MPI_Pready_range(int partition_low, int partition_high, MPI_Request request)
{
	struct esmpi_req *r = part_of(request);

	if (r == NULL)
		return PMPI_Pready_range(partition_low, partition_high,
		    request);
	if (partition_low > partition_high)
		return esmpi_fail(r->comm, MPI_ERR_ARG, "MPI_Pready_range: "
		    "partition_low %d above partition_high %d", partition_low,
		    partition_high);
	return mark(r, "MPI_Pready_range", partition_low, partition_high,
	    NULL, 0);
}

ESMPI_EXPORT int
MPI_Pready_list(int length, int array_of_partitions[], MPI_Request request)
{
	struct esmpi_req *r = part_of(request);

	if (r == NULL)
		return PMPI_Pready_list(length, array_of_partitions, request);
	if (length < 0 || (length > 0 && array_of_partitions == NULL))
		return esmpi_fail(r->comm, MPI_ERR_ARG, "MPI_Pready_list: "
		    "length %d with %s array", length,
		    array_of_partitions == NULL ? "no" : "an");
	return mark(r, "MPI_Pready_list", 0, 0, array_of_partitions, length);
}

/*
 * A partition arrived once the whole record did and opened: nothing
 * unauthenticated is reported arrived. A record that does not open is
 * refused here (and again at completion).
 */
ESMPI_EXPORT int
MPI_Parrived(MPI_Request request, int partition, int *flag)
{
	struct esmpi_req *r = part_of(request);
	struct part *p;
	MPI_Status st;
	int f = 0, rc = MPI_SUCCESS;

	if (r == NULL)
		return PMPI_Parrived(request, partition, flag);
	p = r->priv;
	if (!r->receive)
		return esmpi_fail(r->comm, MPI_ERR_REQUEST, "MPI_Parrived: "
		    "a partitioned send request, not a receive");
	if (partition < 0 || partition >= p->parts)
		return bad_partition(r, "MPI_Parrived", partition);
	if (flag == NULL)
		return esmpi_fail(r->comm, MPI_ERR_ARG, "MPI_Parrived: no "
		    "flag to return (NULL)");
	if (!r->active) {
		/* Inactive (completed, or never started): nothing pending. */
		*flag = 1;
		return MPI_SUCCESS;
	}
	pthread_mutex_lock(&p->lock);
	if (!p->opened) {
		if ((rc = PMPI_Parrived(request, 0, &f)) == MPI_SUCCESS && f) {
			/* MPI's partitioned receives have one source and tag. */
			memset(&st, 0, sizeof(st));
			st.MPI_SOURCE = r->peer;
			st.MPI_TAG = r->tag;
			esmpi_status_set_bytes(&st, r->reclen);
			p->open_rc = esmpi_open(r->c, r->rec, r->reclen,
			    r->buf, r->count, r->dt, &st, r->ticket);
			p->st = st;
			p->opened = 1;
			rc = p->open_rc;
		}
	} else
		rc = p->open_rc;
	*flag = p->opened && p->open_rc == MPI_SUCCESS;
	pthread_mutex_unlock(&p->lock);
	return rc;
}
#endif
