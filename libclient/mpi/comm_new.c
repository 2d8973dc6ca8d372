/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Communicator constructors: every communicator made from a protected
 * one gets its state (comm/) with a context id every member derives
 * alike, or the call fails closed. Context ids need no communication
 * where MPI already orders the call: creation calls are collective over
 * the parent, so every member derives the child from (parent id, parent's
 * creation count). Comm_create_group and Intercomm_create are not
 * collective over one parent: they draw a nonce and share it on the new
 * communicator.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/mpi_layer.h"
#include "esmpi_err.h"

/* Attach the derived state, or fail closed: a communicator we hold no key
 * for would have to run in plaintext. */
static int
comm_adopt(MPI_Comm parent, MPI_Comm made, uint64_t ctx)
{
	int r;

	if (made == MPI_COMM_NULL)
		return MPI_SUCCESS;
	/* With another job's processes (dynamic processes) the link to that
	 * job keys it (comm/link.c); with processes no link knows, no
	 * state: traffic on it is up to the policy (esmpi_unkeyed). */
	if ((r = esmpi_comm_attach(made, ctx)) == ESMPI_ERR_DENIED)
		return MPI_SUCCESS;
	if (r != 0)
		return esmpi_fail(parent, esmpi.err_internal,
		    "cannot key a new communicator: %s", esmpi_strerror(r));
	return MPI_SUCCESS;
}

static int
adopt(MPI_Comm parent, MPI_Comm *newcomm, uint64_t ctx, int rc)
{
	if (rc != MPI_SUCCESS || newcomm == NULL)
		return rc;
	return comm_adopt(parent, *newcomm, ctx);
}

/* Derive before calling MPI: members that get MPI_COMM_NULL still count
 * the creation, so every member's counter stays in step. */
#define DERIVED(parent, kind, call) do {				\
	struct esmpi_comm *p_ = esmpi.active ? esmpi_comm_get(parent) : NULL; \
	uint64_t ctx_ = 0;						\
	int rc_;							\
	if (esmpi.failed)						\
		return esmpi.err_init;					\
	if (p_ != NULL)							\
		ctx_ = esmpi_comm_child_ctx(p_, kind);			\
	rc_ = (call);							\
	if (p_ == NULL)							\
		return rc_;						\
	return adopt(parent, newcomm, ctx_, rc_);			\
} while (0)

ESMPI_EXPORT int
MPI_Comm_dup(MPI_Comm comm, MPI_Comm *newcomm)
{
	DERIVED(comm, "dup", PMPI_Comm_dup(comm, newcomm));
}

/*
 * The context is derived when the duplication starts (nonblocking
 * collectives start in the same order on every rank, so the parent's
 * counter stays in step); the keys are attached when it completes, to
 * the handle Open MPI hands out at the start, which the application may
 * not use before.
 */
/* A duplication in flight: its completion keys the new communicator. */
struct idup {
	MPI_Comm parent, made;
	uint64_t ctx;
};

static int
idup_complete(struct esmpi_req *r, MPI_Status *st)
{
	struct idup *d = r->priv;

	(void)st;
	return comm_adopt(d->parent, d->made, d->ctx);
}

static void
idup_free(struct esmpi_req *r)
{
	free(r->priv);
}

static const struct esmpi_req_ops idup_ops = {
	.complete = idup_complete,
	.free = idup_free,
};

/* PMPI_Comm_idup, or with info PMPI_Comm_idup_with_info (MPI-4). */
static int
pmpi_idup(MPI_Comm comm, const MPI_Info *info, MPI_Comm *newcomm,
    MPI_Request *req)
{
#ifdef ESMPI_HAVE_MPI4_NB
	if (info != NULL)
		return PMPI_Comm_idup_with_info(comm, *info, newcomm, req);
#endif
	return PMPI_Comm_idup(comm, newcomm, req);
}

/* Comm_idup (info NULL) and Comm_idup_with_info: the same keys. */
static int
idup(MPI_Comm comm, const MPI_Info *info, MPI_Comm *newcomm, MPI_Request *req)
{
	struct esmpi_comm *p = esmpi.active ? esmpi_comm_get(comm) : NULL;
	struct esmpi_req *r;
	struct idup d;
	int rc, flag = 0;

	if (esmpi.failed)
		return esmpi.err_init;
	if (p == NULL)
		return pmpi_idup(comm, info, newcomm, req);
	d.parent = comm;
	d.ctx = esmpi_comm_child_ctx(p, "dup");
	if ((rc = pmpi_idup(comm, info, newcomm, req)) != MPI_SUCCESS)
		return rc;
	d.made = *newcomm;
	if (PMPI_Request_get_status(*req, &flag, MPI_STATUS_IGNORE) ==
	    MPI_SUCCESS && flag)
		goto now;	/* complete already: nothing to track */
	if ((r = esmpi_req_new(p, &idup_ops)) != NULL &&
	    (r->priv = malloc(sizeof(d))) != NULL) {
		memcpy(r->priv, &d, sizeof(d));
		r->comm = comm;
		r->handle = *req;
		r->active = 1;
		if (esmpi_req_add(r) == 0)
			return MPI_SUCCESS;
	}
	if (r != NULL)
		esmpi_req_free(r);
	/* Cannot track it: complete it here rather than leave the new
	 * communicator without keys. */
	PMPI_Wait(req, MPI_STATUS_IGNORE);
now:
	return comm_adopt(comm, d.made, d.ctx);
}

ESMPI_EXPORT int
MPI_Comm_idup(MPI_Comm comm, MPI_Comm *newcomm, MPI_Request *req)
{
	return idup(comm, NULL, newcomm, req);
}

#ifdef ESMPI_HAVE_MPI4_NB
ESMPI_EXPORT int
MPI_Comm_idup_with_info(MPI_Comm comm, MPI_Info info, MPI_Comm *newcomm,
    MPI_Request *req)
{
	return idup(comm, &info, newcomm, req);
}
#endif

ESMPI_EXPORT int
MPI_Comm_dup_with_info(MPI_Comm comm, MPI_Info info, MPI_Comm *newcomm)
{
	DERIVED(comm, "dup", PMPI_Comm_dup_with_info(comm, info, newcomm));
}

ESMPI_EXPORT int
MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm *newcomm)
{
	DERIVED(comm, "split", PMPI_Comm_split(comm, color, key, newcomm));
}

ESMPI_EXPORT int
MPI_Comm_split_type(MPI_Comm comm, int type, int key, MPI_Info info,
    MPI_Comm *newcomm)
{
	DERIVED(comm, "split_type",
	    PMPI_Comm_split_type(comm, type, key, info, newcomm));
}

ESMPI_EXPORT int
MPI_Comm_create(MPI_Comm comm, MPI_Group group, MPI_Comm *newcomm)
{
	DERIVED(comm, "create", PMPI_Comm_create(comm, group, newcomm));
}

ESMPI_EXPORT int
MPI_Intercomm_merge(MPI_Comm intercomm, int high, MPI_Comm *newcomm)
{
	DERIVED(intercomm, "merge",
	    PMPI_Intercomm_merge(intercomm, high, newcomm));
}

ESMPI_EXPORT int
MPI_Cart_create(MPI_Comm comm, int ndims, const int dims[],
    const int periods[], int reorder, MPI_Comm *newcomm)
{
	DERIVED(comm, "cart",
	    PMPI_Cart_create(comm, ndims, dims, periods, reorder, newcomm));
}

ESMPI_EXPORT int
MPI_Cart_sub(MPI_Comm comm, const int remain_dims[], MPI_Comm *newcomm)
{
	DERIVED(comm, "cart_sub", PMPI_Cart_sub(comm, remain_dims, newcomm));
}

ESMPI_EXPORT int
MPI_Graph_create(MPI_Comm comm, int nnodes, const int index[],
    const int edges[], int reorder, MPI_Comm *newcomm)
{
	DERIVED(comm, "graph",
	    PMPI_Graph_create(comm, nnodes, index, edges, reorder, newcomm));
}

ESMPI_EXPORT int
MPI_Dist_graph_create(MPI_Comm comm, int n, const int sources[],
    const int degrees[], const int destinations[], const int weights[],
    MPI_Info info, int reorder, MPI_Comm *newcomm)
{
	DERIVED(comm, "dist_graph", PMPI_Dist_graph_create(comm, n, sources,
	    degrees, destinations, weights, info, reorder, newcomm));
}

ESMPI_EXPORT int
MPI_Dist_graph_create_adjacent(MPI_Comm comm, int indegree,
    const int sources[], const int sourceweights[], int outdegree,
    const int destinations[], const int destweights[], MPI_Info info,
    int reorder, MPI_Comm *newcomm)
{
	DERIVED(comm, "dist_graph", PMPI_Dist_graph_create_adjacent(comm,
	    indegree, sources, sourceweights, outdegree, destinations,
	    destweights, info, reorder, newcomm));
}

/* A fresh context id shared over the new communicator itself. */
static int
adopt_shared_nonce(MPI_Comm parent, MPI_Comm *newcomm, int rc,
    const char *kind)
{
	struct { uint64_t parent, nonce; char kind[16]; } in;
	struct esmpi_comm *p = esmpi_comm_get(parent);

	if (rc != MPI_SUCCESS || *newcomm == MPI_COMM_NULL || p == NULL)
		return rc;
	memset(&in, 0, sizeof(in));
	in.parent = p->ctx;
	strncpy(in.kind, kind, sizeof(in.kind) - 1);
	if (esmpi_random(&in.nonce, sizeof(in.nonce)) != 0)
		return esmpi_fail(parent, esmpi.err_internal, "no randomness");
	PMPI_Bcast(&in.nonce, 1, MPI_UINT64_T, 0, *newcomm);
	return adopt(parent, newcomm, esmpi_comm_ctx_hash(&in, sizeof(in)), rc);
}

ESMPI_EXPORT int
MPI_Comm_create_group(MPI_Comm comm, MPI_Group group, int tag,
    MPI_Comm *newcomm)
{
	int rc;

	if (esmpi.failed)
		return esmpi.err_init;
	rc = PMPI_Comm_create_group(comm, group, tag, newcomm);
	if (!esmpi.active)
		return rc;
	return adopt_shared_nonce(comm, newcomm, rc, "group");
}

ESMPI_EXPORT int
MPI_Intercomm_create(MPI_Comm local_comm, int local_leader,
    MPI_Comm peer_comm, int remote_leader, int tag, MPI_Comm *newintercomm)
{
	struct { uint64_t lo, hi; char kind[16]; } in;
	uint64_t mine = 0, theirs = 0;
	int rc, lrank;

	if (esmpi.failed)
		return esmpi.err_init;
	rc = PMPI_Intercomm_create(local_comm, local_leader, peer_comm,
	    remote_leader, tag, newintercomm);
	if (!esmpi.active || rc != MPI_SUCCESS)
		return rc;
	/* Each group's leader draws a nonce; an intercommunicator allreduce
	 * gives each group the other's, a bcast its own. The other leader's
	 * is the only nonzero contribution: OR it out (MPICH 4.0.2's MPI_MAX
	 * compares MPI_UINT64_T as signed). */
	PMPI_Comm_rank(local_comm, &lrank);
	if (lrank == local_leader && esmpi_random(&mine, sizeof(mine)) != 0)
		return esmpi_fail(local_comm, esmpi.err_internal,
		    "no randomness");
	PMPI_Bcast(&mine, 1, MPI_UINT64_T, local_leader, local_comm);
	{
		uint64_t contrib = lrank == local_leader ? mine : 0;

		PMPI_Allreduce(&contrib, &theirs, 1, MPI_UINT64_T, MPI_BOR,
		    *newintercomm);
	}
	memset(&in, 0, sizeof(in));
	in.lo = mine < theirs ? mine : theirs;
	in.hi = mine < theirs ? theirs : mine;
	strcpy(in.kind, "intercomm");
	return adopt(local_comm, newintercomm, esmpi_comm_ctx_hash(&in, sizeof(in)), rc);
}

#ifdef ESMPI_HAVE_SESSIONS
/*
 * MPI-4 sessions: communicators made from a group have no parent
 * communicator. As for Comm_create_group, a nonce shared on the new
 * communicator gives every member the same context id (rank 0 draws it;
 * for the intercommunicator each group's leader, as Intercomm_create);
 * the job key, which MPI_Session_init established, keys them.
 */
ESMPI_EXPORT int
MPI_Comm_create_from_group(MPI_Group group, const char *stringtag,
    MPI_Info info, MPI_Errhandler errhandler, MPI_Comm *newcomm)
{
	struct { uint64_t nonce; char kind[16]; } in;
	int rc;

	if (esmpi.failed)
		return esmpi.err_init;
	rc = PMPI_Comm_create_from_group(group, stringtag, info, errhandler,
	    newcomm);
	if (!esmpi.active || rc != MPI_SUCCESS || *newcomm == MPI_COMM_NULL)
		return rc;
	memset(&in, 0, sizeof(in));
	strcpy(in.kind, "from_group");
	if (esmpi_random(&in.nonce, sizeof(in.nonce)) != 0)
		return esmpi_fail(*newcomm, esmpi.err_internal,
		    "no randomness");
	PMPI_Bcast(&in.nonce, 1, MPI_UINT64_T, 0, *newcomm);
	return comm_adopt(*newcomm, *newcomm,
	    esmpi_comm_ctx_hash(&in, sizeof(in)));
}

ESMPI_EXPORT int
MPI_Intercomm_create_from_groups(MPI_Group local_group, int local_leader,
    MPI_Group remote_group, int remote_leader, const char *stringtag,
    MPI_Info info, MPI_Errhandler errhandler, MPI_Comm *newintercomm)
{
	struct { uint64_t lo, hi; char kind[16]; } in;
	uint64_t mine = 0, theirs = 0, contrib;
	int rc, lrank;

	if (esmpi.failed)
		return esmpi.err_init;
	rc = PMPI_Intercomm_create_from_groups(local_group, local_leader,
	    remote_group, remote_leader, stringtag, info, errhandler,
	    newintercomm);
	if (!esmpi.active || rc != MPI_SUCCESS)
		return rc;
	/* No local communicator to spread our leader's nonce on: the first
	 * allreduce gives each group the other leader's (the only nonzero
	 * contribution), the second hands each group back its own. */
	PMPI_Comm_rank(*newintercomm, &lrank);
	if (lrank == local_leader && esmpi_random(&mine, sizeof(mine)) != 0)
		return esmpi_fail(*newintercomm, esmpi.err_internal,
		    "no randomness");
	contrib = mine;
	PMPI_Allreduce(&contrib, &theirs, 1, MPI_UINT64_T, MPI_BOR,
	    *newintercomm);
	PMPI_Allreduce(&theirs, &mine, 1, MPI_UINT64_T, MPI_BOR,
	    *newintercomm);
	memset(&in, 0, sizeof(in));
	in.lo = mine < theirs ? mine : theirs;
	in.hi = mine < theirs ? theirs : mine;
	strcpy(in.kind, "icomm_groups");
	return comm_adopt(*newintercomm, *newintercomm,
	    esmpi_comm_ctx_hash(&in, sizeof(in)));
}
#endif

ESMPI_EXPORT int
MPI_Comm_free(MPI_Comm *comm)
{
	/* The attribute's delete callback wipes our state. */
	return PMPI_Comm_free(comm);
}

ESMPI_EXPORT int
MPI_Comm_disconnect(MPI_Comm *comm)
{
	return PMPI_Comm_disconnect(comm);
}

ESMPI_EXPORT int
MPI_Comm_set_name(MPI_Comm comm, const char *name)
{
	struct esmpi_comm *c;
	int rc = PMPI_Comm_set_name(comm, name);

	if (rc != MPI_SUCCESS || !esmpi.active ||
	    (c = esmpi_comm_get(comm)) == NULL)
		return rc;
	/* The name picks the policy rules: both sides must rename alike,
	 * as MPI requires names to be set collectively for this to work. */
	esmpi_comm_rename(c, name);
	return rc;
}
