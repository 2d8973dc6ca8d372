/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Persistent collectives (MPI-4's MPI_X_init; Open MPI 4.1's MPIX_X_init,
 * impl/ names them): each Start runs esmpi's nonblocking collective
 * (coll.c) with the arguments the init call recorded, so every run is
 * sealed like MPI_IX, with its own collective sequence number.
 *
 * The init call returns an inactive persistent request of MPI's own (a
 * receive from MPI_PROC_NULL, never started: MPI completes Wait, Test and
 * Request_get_status on it at once with an empty status, and frees it),
 * keyed in the request table with this file's operations. MPI_Start
 * (nb.c) hands the application the request of the run instead; when that
 * completes, the completion calls (wait.c) put the persistent request back
 * (esmpi_req.anchor), inactive and ready for the next Start. Freeing the
 * run's request frees both. A run that completes at once (a communicator
 * of one, a root whose sends left) is a generalized request, complete.
 *
 * The count, displacement and datatype arrays are copied at init (MPI
 * lets the application reuse them); derived datatypes and a user-defined
 * operation are held until the request is freed (the application may
 * free them earlier). The info hints are not used.
 */
#include <stdlib.h>
#include <string.h>

#include "mpi/mpi_layer.h"

enum kind {
	K_ALLGATHER, K_ALLGATHERV, K_ALLREDUCE, K_ALLTOALL, K_ALLTOALLV,
	K_ALLTOALLW, K_BCAST, K_EXSCAN, K_GATHER, K_GATHERV, K_NALLGATHER,
	K_NALLGATHERV, K_NALLTOALL, K_NALLTOALLV, K_NALLTOALLW, K_REDUCE,
	K_RSBLOCK, K_RS, K_SCAN, K_SCATTER, K_SCATTERV,
};

struct pcoll {
	enum kind kind;
	const char *fn;
	MPI_Comm comm;
	const void *sbuf;
	void *rbuf;
	int scount, rcount, root;
	MPI_Datatype stype, rtype;
	MPI_Op op;
	int op_held;
	/* Copies (NULL where the application passed none or they are not
	 * significant at this rank) */
	int *scounts, *sdispls, *rcounts, *rdispls;
	MPI_Aint *sdispls_a, *rdispls_a;
	MPI_Datatype *stypes, *rtypes;
	/* Our duplicates of derived datatypes, freed with the request */
	MPI_Datatype *held;
	int nheld, held_cap;
};

static int
reduces(enum kind k)
{
	return k == K_ALLREDUCE || k == K_EXSCAN || k == K_REDUCE ||
	    k == K_RSBLOCK || k == K_RS || k == K_SCAN;
}

static void
pc_free(struct pcoll *p)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nheld; i++)
		PMPI_Type_free(&p->held[i]);
	if (p->op_held)
		esmpi_op_release(p->op);
	free(p->held);
	free(p->scounts);
	free(p->sdispls);
	free(p->rcounts);
	free(p->rdispls);
	free(p->sdispls_a);
	free(p->rdispls_a);
	free(p->stypes);
	free(p->rtypes);
	free(p);
}

/* A copy of n elements of size sz at a (NULL: none); -1 without memory. */
static int
dup_array(void **out, const void *a, int n, size_t sz)
{
	*out = NULL;
	if (a == NULL || n <= 0)
		return 0;
	if ((*out = malloc((size_t)n * sz)) == NULL)
		return -1;
	memcpy(*out, a, (size_t)n * sz);
	return 0;
}

/* dt, or our duplicate of it when derived (held until pc_free). */
static int
hold(struct pcoll *p, MPI_Datatype *dt)
{
	MPI_Datatype *n;
	int held;

	if (*dt == MPI_DATATYPE_NULL)
		return 0;
	if (p->nheld == p->held_cap) {
		int cap = p->held_cap ? 2 * p->held_cap : 4;

		if ((n = realloc(p->held, cap * sizeof(*n))) == NULL)
			return -1;
		p->held = n;
		p->held_cap = cap;
	}
	*dt = esmpi_type_hold(*dt, &held);
	if (held)
		p->held[p->nheld++] = *dt;
	return 0;
}

/* The sizes of comm's arrays: ranks it sends to and receives from (the
 * remote group of an intercommunicator; neighbours on a topology), the
 * local group, and whether this rank is root (rooted collectives). */
struct sizes {
	int nsend, nrecv, local, at_root, inter;
};

static int
sizes_of(const struct pcoll *p, struct sizes *z)
{
	int rank = 0, n = 0, topo = MPI_UNDEFINED, nd = 0, w, rc;

	memset(z, 0, sizeof(*z));
	if ((rc = PMPI_Comm_test_inter(p->comm, &z->inter)) != MPI_SUCCESS ||
	    (rc = PMPI_Comm_size(p->comm, &z->local)) != MPI_SUCCESS ||
	    (rc = PMPI_Comm_rank(p->comm, &rank)) != MPI_SUCCESS)
		return rc;
	n = z->local;
	if (z->inter && (rc = PMPI_Comm_remote_size(p->comm, &n)) !=
	    MPI_SUCCESS)
		return rc;
	z->nsend = z->nrecv = n;
	z->at_root = z->inter ? p->root == MPI_ROOT : p->root == rank;
	if (p->kind < K_NALLGATHER || p->kind > K_NALLTOALLW)
		return MPI_SUCCESS;
	/* Neighbourhood collectives: the topology's degrees */
	if (z->inter || (rc = PMPI_Topo_test(p->comm, &topo)) != MPI_SUCCESS)
		return rc;
	switch (topo) {
	case MPI_CART:
		if ((rc = PMPI_Cartdim_get(p->comm, &nd)) != MPI_SUCCESS)
			return rc;
		z->nsend = z->nrecv = 2 * nd;
		break;
	case MPI_GRAPH:
		if ((rc = PMPI_Graph_neighbors_count(p->comm, rank, &n)) !=
		    MPI_SUCCESS)
			return rc;
		z->nsend = z->nrecv = n;
		break;
	case MPI_DIST_GRAPH:
		if ((rc = PMPI_Dist_graph_neighbors_count(p->comm, &z->nrecv,
		    &z->nsend, &w)) != MPI_SUCCESS)
			return rc;
		break;
	default:
		/* No topology: the nonblocking call raises MPI_ERR_TOPOLOGY
		 * at Start, as Open MPI's init would at init. */
		z->nsend = z->nrecv = 0;
	}
	return MPI_SUCCESS;
}

/*
 * Copy the arrays the application passed and hold the datatypes that are
 * significant at this rank (others may be anything: a non-root's receive
 * type of a gather, say). -1 without memory.
 */
static int
record_args(struct pcoll *p, const struct sizes *z)
{
	int sig_s = 1, sig_r = 1, i, ns = z->nsend, nr = z->nrecv;
	const int *scounts = p->scounts, *sdispls = p->sdispls;
	const int *rcounts = p->rcounts, *rdispls = p->rdispls;
	const MPI_Aint *sda = p->sdispls_a, *rda = p->rdispls_a;
	const MPI_Datatype *stypes = p->stypes, *rtypes = p->rtypes;

	switch (p->kind) {
	case K_GATHER:
	case K_GATHERV:
		sig_r = z->at_root;
		sig_s = z->inter ? p->root != MPI_ROOT &&
		    p->root != MPI_PROC_NULL : 1;
		break;
	case K_SCATTER:
	case K_SCATTERV:
		sig_s = z->at_root;
		sig_r = z->inter ? p->root != MPI_ROOT &&
		    p->root != MPI_PROC_NULL : 1;
		break;
	case K_RS:
		nr = z->local;	/* recvcounts: one per local rank */
		break;
	default:
		break;
	}
	if (p->sbuf == MPI_IN_PLACE)
		sig_s = 0;
	/* The application's arrays are replaced by copies (or NULL). */
	p->scounts = p->sdispls = p->rcounts = p->rdispls = NULL;
	p->sdispls_a = p->rdispls_a = NULL;
	p->stypes = p->rtypes = NULL;
	if (!sig_s)
		ns = 0;
	if (!sig_r)
		nr = 0;
	if (dup_array((void **)&p->scounts, scounts, ns, sizeof(int)) ||
	    dup_array((void **)&p->sdispls, sdispls, ns, sizeof(int)) ||
	    dup_array((void **)&p->rcounts, rcounts, nr, sizeof(int)) ||
	    dup_array((void **)&p->rdispls, rdispls, nr, sizeof(int)) ||
	    dup_array((void **)&p->sdispls_a, sda, ns, sizeof(MPI_Aint)) ||
	    dup_array((void **)&p->rdispls_a, rda, nr, sizeof(MPI_Aint)) ||
	    dup_array((void **)&p->stypes, stypes, ns, sizeof(MPI_Datatype)) ||
	    dup_array((void **)&p->rtypes, rtypes, nr, sizeof(MPI_Datatype)))
		return -1;
	if ((sig_s && hold(p, &p->stype)) || (sig_r && hold(p, &p->rtype)))
		return -1;
	for (i = 0; p->stypes != NULL && i < ns; i++)
		if (hold(p, &p->stypes[i]))
			return -1;
	for (i = 0; p->rtypes != NULL && i < nr; i++)
		if (hold(p, &p->rtypes[i]))
			return -1;
	if (p->op != MPI_OP_NULL)
		p->op_held = esmpi_op_hold(p->op) == 0;
	return 0;
}

/* One run: esmpi's nonblocking collective with the recorded arguments. */
static int
run(const struct pcoll *p, MPI_Request *m)
{
	const void *s = p->sbuf;
	void *r = p->rbuf;
	MPI_Comm c = p->comm;

	switch (p->kind) {
	case K_ALLGATHER:
		return MPI_Iallgather(s, p->scount, p->stype, r, p->rcount,
		    p->rtype, c, m);
	case K_ALLGATHERV:
		return MPI_Iallgatherv(s, p->scount, p->stype, r, p->rcounts,
		    p->rdispls, p->rtype, c, m);
	case K_ALLREDUCE:
		return MPI_Iallreduce(s, r, p->rcount, p->rtype, p->op, c, m);
	case K_ALLTOALL:
		return MPI_Ialltoall(s, p->scount, p->stype, r, p->rcount,
		    p->rtype, c, m);
	case K_ALLTOALLV:
		return MPI_Ialltoallv(s, p->scounts, p->sdispls, p->stype, r,
		    p->rcounts, p->rdispls, p->rtype, c, m);
	case K_ALLTOALLW:
		return MPI_Ialltoallw(s, p->scounts, p->sdispls, p->stypes, r,
		    p->rcounts, p->rdispls, p->rtypes, c, m);
	case K_BCAST:
		return MPI_Ibcast(r, p->rcount, p->rtype, p->root, c, m);
	case K_EXSCAN:
		return MPI_Iexscan(s, r, p->rcount, p->rtype, p->op, c, m);
	case K_GATHER:
		return MPI_Igather(s, p->scount, p->stype, r, p->rcount,
		    p->rtype, p->root, c, m);
	case K_GATHERV:
		return MPI_Igatherv(s, p->scount, p->stype, r, p->rcounts,
		    p->rdispls, p->rtype, p->root, c, m);
	case K_NALLGATHER:
		return MPI_Ineighbor_allgather(s, p->scount, p->stype, r,
		    p->rcount, p->rtype, c, m);
	case K_NALLGATHERV:
		return MPI_Ineighbor_allgatherv(s, p->scount, p->stype, r,
		    p->rcounts, p->rdispls, p->rtype, c, m);
	case K_NALLTOALL:
		return MPI_Ineighbor_alltoall(s, p->scount, p->stype, r,
		    p->rcount, p->rtype, c, m);
	case K_NALLTOALLV:
		return MPI_Ineighbor_alltoallv(s, p->scounts, p->sdispls,
		    p->stype, r, p->rcounts, p->rdispls, p->rtype, c, m);
	case K_NALLTOALLW:
		return MPI_Ineighbor_alltoallw(s, p->scounts, p->sdispls_a,
		    p->stypes, r, p->rcounts, p->rdispls_a, p->rtypes, c, m);
	case K_REDUCE:
		return MPI_Ireduce(s, r, p->rcount, p->rtype, p->op, p->root,
		    c, m);
	case K_RSBLOCK:
		return MPI_Ireduce_scatter_block(s, r, p->rcount, p->rtype,
		    p->op, c, m);
	case K_RS:
		return MPI_Ireduce_scatter(s, r, p->rcounts, p->rtype, p->op,
		    c, m);
	case K_SCAN:
		return MPI_Iscan(s, r, p->rcount, p->rtype, p->op, c, m);
	case K_SCATTER:
		return MPI_Iscatter(s, p->scount, p->stype, r, p->rcount,
		    p->rtype, p->root, c, m);
	case K_SCATTERV:
		return MPI_Iscatterv(s, p->scounts, p->sdispls, p->stype, r,
		    p->rcount, p->rtype, p->root, c, m);
	}
	return MPI_ERR_INTERN;
}

/* A run's request that coll.c did not key (passed through to MPI): an
 * entry of its own, only to give the persistent request back. */
static const struct esmpi_req_ops bare_ops = { 0 };

static int
pc_start(struct esmpi_req *a, MPI_Request *req)
{
	struct pcoll *p = a->priv;
	struct esmpi_req *r;
	MPI_Request m = MPI_REQUEST_NULL;
	int rc, flag = 0;

	if ((rc = run(p, &m)) != MPI_SUCCESS)
		return rc;
	if ((r = esmpi_req_take(m, 1)) == NULL) {
		/*
		 * Complete already (coll.c opened it; Open MPI may hand out
		 * a shared request): the run is a request complete at once,
		 * which Waitany and Waitsome report as the persistent
		 * request's completion.
		 */
		if (m == MPI_REQUEST_NULL || (PMPI_Request_get_status(m,
		    &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag)) {
			MPI_Status st;

			if (m != MPI_REQUEST_NULL &&
			    (rc = PMPI_Wait(&m, MPI_STATUS_IGNORE)) !=
			    MPI_SUCCESS)
				return rc;
			memset(&st, 0, sizeof(st));
			st.MPI_SOURCE = MPI_ANY_SOURCE;
			st.MPI_TAG = MPI_ANY_TAG;
			esmpi_status_set_bytes(&st, 0);
			if (esmpi_req_completed(&st, &m) != MPI_SUCCESS)
				return MPI_SUCCESS;	/* stays inactive */
		}
		if ((r = esmpi_req_new(a->c, &bare_ops)) == NULL)
			goto sync;
		r->handle = m;
		r->comm = p->comm;
		r->active = 1;
		if (esmpi_req_add(r) != 0) {
			esmpi_req_free(r);
			goto sync;
		}
	}
	r->anchored = 1;
	r->anchor = a->handle;
	*req = m;
	return MPI_SUCCESS;
sync:
	/* Cannot key it: complete the run here. */
	return PMPI_Wait(&m, MPI_STATUS_IGNORE);
}

static void
pc_entry_free(struct esmpi_req *a)
{
	pc_free(a->priv);
}

static const struct esmpi_req_ops pcoll_ops = {
	.start = pc_start,
	.free = pc_entry_free,
};

/* The init call: record the arguments (copied from *a), hand out the
 * inactive persistent request. */
static int
create(const struct pcoll *a, MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c = NULL;
	struct esmpi_req *r = NULL;
	struct pcoll *p;
	struct sizes z;
	MPI_Request anchor = MPI_REQUEST_NULL;
	int rc;

	if (esmpi.failed)
		return esmpi.err_init;
	if (!esmpi.active && (rc = esmpi_check_started()) != MPI_SUCCESS)
		return rc;
	/* Named here: MPI's own error would name the call below. */
	if (comm == MPI_COMM_NULL)
		return esmpi_fail(MPI_COMM_WORLD, MPI_ERR_COMM,
		    "%s: the communicator is MPI_COMM_NULL", a->fn);
	if (req == NULL)
		return esmpi_fail(comm, MPI_ERR_REQUEST,
		    "%s: no request to return (NULL)", a->fn);
	/* MPI's check of comm (MPI_ERR_COMM) otherwise. */
	if ((rc = PMPI_Recv_init(NULL, 0, MPI_BYTE, MPI_PROC_NULL, 0, comm,
	    &anchor)) != MPI_SUCCESS)
		return rc;
	if ((p = malloc(sizeof(*p))) == NULL)
		goto nomem;
	*p = *a;
	p->comm = comm;
	/* The handles a form has not: null (zero is no null handle). */
	if (!reduces(p->kind))
		p->op = MPI_OP_NULL;
	if (p->kind == K_BCAST || reduces(p->kind) || p->kind == K_ALLTOALLW ||
	    p->kind == K_NALLTOALLW)
		p->stype = MPI_DATATYPE_NULL;
	if (p->kind == K_ALLTOALLW || p->kind == K_NALLTOALLW)
		p->rtype = MPI_DATATYPE_NULL;
	p->op_held = 0;
	p->held = NULL;
	p->nheld = p->held_cap = 0;
	if ((rc = sizes_of(p, &z)) != MPI_SUCCESS) {
		/* record_args did not run: the arrays are the caller's. */
		p->scounts = p->sdispls = p->rcounts = p->rdispls = NULL;
		p->sdispls_a = p->rdispls_a = NULL;
		p->stypes = p->rtypes = NULL;
		pc_free(p);
		PMPI_Request_free(&anchor);
		return rc;
	}
	if (record_args(p, &z) != 0) {
		pc_free(p);
		goto nomem;
	}
	if (esmpi.active)
		c = esmpi_comm_get(comm);
	if ((r = esmpi_req_new(c, &pcoll_ops)) == NULL) {
		pc_free(p);
		goto nomem;
	}
	r->priv = p;
	r->persistent = 1;
	r->comm = comm;
	r->handle = anchor;
	if (esmpi_req_add(r) != 0) {
		esmpi_req_free(r);
		goto nomem;
	}
	*req = anchor;
	return MPI_SUCCESS;
nomem:
	PMPI_Request_free(&anchor);
	return esmpi_fail(comm, MPI_ERR_NO_MEM, "%s: out of memory", a->fn);
}

#define INIT(name, ...)							\
	struct pcoll a = { .fn = ESMPI_PCOLL_NAME(name), __VA_ARGS__ };	\
	(void)info;							\
	return create(&a, comm, request)

ESMPI_EXPORT int
ESMPI_PCOLL(Allgather)(const void *sendbuf, int sendcount,
    MPI_Datatype sendtype, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, MPI_Comm comm, MPI_Info info,
    MPI_Request *request)
{
	INIT(Allgather, .kind = K_ALLGATHER, .sbuf = sendbuf,
	    .scount = sendcount, .stype = sendtype, .rbuf = recvbuf,
	    .rcount = recvcount, .rtype = recvtype);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Allgatherv)(const void *sendbuf, int sendcount,
    MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
    const int displs[], MPI_Datatype recvtype, MPI_Comm comm, MPI_Info info,
    MPI_Request *request)
{
	INIT(Allgatherv, .kind = K_ALLGATHERV, .sbuf = sendbuf,
	    .scount = sendcount, .stype = sendtype, .rbuf = recvbuf,
	    .rcounts = (int *)recvcounts, .rdispls = (int *)displs,
	    .rtype = recvtype);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Allreduce)(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, MPI_Comm comm, MPI_Info info,
    MPI_Request *request)
{
	INIT(Allreduce, .kind = K_ALLREDUCE, .sbuf = sendbuf, .rbuf = recvbuf,
	    .rcount = count, .rtype = datatype, .op = op);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Alltoall)(const void *sendbuf, int sendcount,
    MPI_Datatype sendtype, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, MPI_Comm comm, MPI_Info info,
    MPI_Request *request)
{
	INIT(Alltoall, .kind = K_ALLTOALL, .sbuf = sendbuf,
	    .scount = sendcount, .stype = sendtype, .rbuf = recvbuf,
	    .rcount = recvcount, .rtype = recvtype);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Alltoallv)(const void *sendbuf, const int sendcounts[],
    const int sdispls[], MPI_Datatype sendtype, void *recvbuf,
    const int recvcounts[], const int rdispls[], MPI_Datatype recvtype,
    MPI_Comm comm, MPI_Info info, MPI_Request *request)
{
	INIT(Alltoallv, .kind = K_ALLTOALLV, .sbuf = sendbuf,
	    .scounts = (int *)sendcounts, .sdispls = (int *)sdispls,
	    .stype = sendtype, .rbuf = recvbuf, .rcounts = (int *)recvcounts,
	    .rdispls = (int *)rdispls, .rtype = recvtype);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Alltoallw)(const void *sendbuf, const int sendcounts[],
    const int sdispls[], const MPI_Datatype sendtypes[], void *recvbuf,
    const int recvcounts[], const int rdispls[],
    const MPI_Datatype recvtypes[], MPI_Comm comm, MPI_Info info,
    MPI_Request *request)
{
	INIT(Alltoallw, .kind = K_ALLTOALLW, .sbuf = sendbuf,
	    .scounts = (int *)sendcounts, .sdispls = (int *)sdispls,
	    .stypes = (MPI_Datatype *)sendtypes, .rbuf = recvbuf,
	    .rcounts = (int *)recvcounts, .rdispls = (int *)rdispls,
	    .rtypes = (MPI_Datatype *)recvtypes);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Bcast)(void *buffer, int count, MPI_Datatype datatype, int root,
    MPI_Comm comm, MPI_Info info, MPI_Request *request)
{
	INIT(Bcast, .kind = K_BCAST, .rbuf = buffer, .rcount = count,
	    .rtype = datatype, .root = root);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Exscan)(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, MPI_Comm comm, MPI_Info info,
    MPI_Request *request)
{
	INIT(Exscan, .kind = K_EXSCAN, .sbuf = sendbuf, .rbuf = recvbuf,
	    .rcount = count, .rtype = datatype, .op = op);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Gather)(const void *sendbuf, int sendcount,
    MPI_Datatype sendtype, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Info info,
    MPI_Request *request)
{
	INIT(Gather, .kind = K_GATHER, .sbuf = sendbuf, .scount = sendcount,
	    .stype = sendtype, .rbuf = recvbuf, .rcount = recvcount,
	    .rtype = recvtype, .root = root);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Gatherv)(const void *sendbuf, int sendcount,
    MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
    const int displs[], MPI_Datatype recvtype, int root, MPI_Comm comm,
    MPI_Info info, MPI_Request *request)
{
	INIT(Gatherv, .kind = K_GATHERV, .sbuf = sendbuf, .scount = sendcount,
	    .stype = sendtype, .rbuf = recvbuf, .rcounts = (int *)recvcounts,
	    .rdispls = (int *)displs, .rtype = recvtype, .root = root);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Neighbor_allgather)(const void *sendbuf, int sendcount,
    MPI_Datatype sendtype, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, MPI_Comm comm, MPI_Info info,
    MPI_Request *request)
{
	INIT(Neighbor_allgather, .kind = K_NALLGATHER, .sbuf = sendbuf,
	    .scount = sendcount, .stype = sendtype, .rbuf = recvbuf,
	    .rcount = recvcount, .rtype = recvtype);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Neighbor_allgatherv)(const void *sendbuf, int sendcount,
    MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
    const int displs[], MPI_Datatype recvtype, MPI_Comm comm, MPI_Info info,
    MPI_Request *request)
{
	INIT(Neighbor_allgatherv, .kind = K_NALLGATHERV, .sbuf = sendbuf,
	    .scount = sendcount, .stype = sendtype, .rbuf = recvbuf,
	    .rcounts = (int *)recvcounts, .rdispls = (int *)displs,
	    .rtype = recvtype);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Neighbor_alltoall)(const void *sendbuf, int sendcount,
    MPI_Datatype sendtype, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, MPI_Comm comm, MPI_Info info,
    MPI_Request *request)
{
	INIT(Neighbor_alltoall, .kind = K_NALLTOALL, .sbuf = sendbuf,
	    .scount = sendcount, .stype = sendtype, .rbuf = recvbuf,
	    .rcount = recvcount, .rtype = recvtype);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Neighbor_alltoallv)(const void *sendbuf, const int sendcounts[],
    const int sdispls[], MPI_Datatype sendtype, void *recvbuf,
    const int recvcounts[], const int rdispls[], MPI_Datatype recvtype,
    MPI_Comm comm, MPI_Info info, MPI_Request *request)
{
	INIT(Neighbor_alltoallv, .kind = K_NALLTOALLV, .sbuf = sendbuf,
	    .scounts = (int *)sendcounts, .sdispls = (int *)sdispls,
	    .stype = sendtype, .rbuf = recvbuf, .rcounts = (int *)recvcounts,
	    .rdispls = (int *)rdispls, .rtype = recvtype);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Neighbor_alltoallw)(const void *sendbuf, const int sendcounts[],
    const MPI_Aint sdispls[], const MPI_Datatype sendtypes[], void *recvbuf,
    const int recvcounts[], const MPI_Aint rdispls[],
    const MPI_Datatype recvtypes[], MPI_Comm comm, MPI_Info info,
    MPI_Request *request)
{
	INIT(Neighbor_alltoallw, .kind = K_NALLTOALLW, .sbuf = sendbuf,
	    .scounts = (int *)sendcounts, .sdispls_a = (MPI_Aint *)sdispls,
	    .stypes = (MPI_Datatype *)sendtypes, .rbuf = recvbuf,
	    .rcounts = (int *)recvcounts, .rdispls_a = (MPI_Aint *)rdispls,
	    .rtypes = (MPI_Datatype *)recvtypes);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Reduce)(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, int root, MPI_Comm comm,
    MPI_Info info, MPI_Request *request)
{
	INIT(Reduce, .kind = K_REDUCE, .sbuf = sendbuf, .rbuf = recvbuf,
	    .rcount = count, .rtype = datatype, .op = op, .root = root);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Reduce_scatter_block)(const void *sendbuf, void *recvbuf,
    int recvcount, MPI_Datatype datatype, MPI_Op op, MPI_Comm comm,
    MPI_Info info, MPI_Request *request)
{
	INIT(Reduce_scatter_block, .kind = K_RSBLOCK, .sbuf = sendbuf,
	    .rbuf = recvbuf, .rcount = recvcount, .rtype = datatype, .op = op);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Reduce_scatter)(const void *sendbuf, void *recvbuf,
    const int recvcounts[], MPI_Datatype datatype, MPI_Op op, MPI_Comm comm,
    MPI_Info info, MPI_Request *request)
{
	INIT(Reduce_scatter, .kind = K_RS, .sbuf = sendbuf, .rbuf = recvbuf,
	    .rcounts = (int *)recvcounts, .rtype = datatype, .op = op);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Scan)(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, MPI_Comm comm, MPI_Info info,
    MPI_Request *request)
{
	INIT(Scan, .kind = K_SCAN, .sbuf = sendbuf, .rbuf = recvbuf,
	    .rcount = count, .rtype = datatype, .op = op);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Scatter)(const void *sendbuf, int sendcount,
    MPI_Datatype sendtype, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Info info,
    MPI_Request *request)
{
	INIT(Scatter, .kind = K_SCATTER, .sbuf = sendbuf, .scount = sendcount,
	    .stype = sendtype, .rbuf = recvbuf, .rcount = recvcount,
	    .rtype = recvtype, .root = root);
}

ESMPI_EXPORT int
ESMPI_PCOLL(Scatterv)(const void *sendbuf, const int sendcounts[],
    const int displs[], MPI_Datatype sendtype, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Info info,
    MPI_Request *request)
{
	INIT(Scatterv, .kind = K_SCATTERV, .sbuf = sendbuf,
	    .scounts = (int *)sendcounts, .sdispls = (int *)displs,
	    .stype = sendtype, .rbuf = recvbuf, .rcount = recvcount,
	    .rtype = recvtype, .root = root);
}
