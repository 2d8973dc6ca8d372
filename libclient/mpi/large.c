/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MPI-4's large-count _c forms (MPICH): the wrappers gen_wrappers.py
 * writes for them narrow their MPI_Count and MPI_Aint arguments to the
 * int form's and call it (MPI_Send_c -> MPI_Send, which seals). What
 * does not fit is a count of a derived type where that keeps the call's
 * meaning, else a clear refusal: MPI_ERR_COUNT naming the call and the
 * argument.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "mpi/mpi_layer.h"

/* Elements per block of a count beyond INT_MAX (as dtype.c's records). */
#define LARGE_BLOCK	((MPI_Count)1 << 30)

static int
refuse(const char *fn, const char *arg, long long v, const char *why)
{
	fprintf(stderr, "esmpi: rank %d: %s: %s = %lld %s (esmpi carries "
	    "at most INT_MAX = %d there)\n", esmpi.world_rank, fn, arg, v, why,
	    INT_MAX);
	fflush(stderr);
	return MPI_ERR_COUNT;
}

int
esmpi_large_int(const char *fn, const char *arg, long long v, int *out)
{
	if (v > INT_MAX || v < INT_MIN)
		return refuse(fn, arg, v, "does not fit in an int");
	*out = (int)v;
	return MPI_SUCCESS;
}

/*
 * n elements of dt: n fits, or q blocks of 2^30 elements then the rest in
 * one type resized to n extents of dt, so a collective's per-rank blocks
 * stay where n elements would put them. The type signature is n times
 * dt's: the peers may use any count and type of that signature.
 */
int
esmpi_large_count(const char *fn, const char *arg, MPI_Count n,
    MPI_Datatype dt, int *out, MPI_Datatype *type)
{
	MPI_Datatype blk, st, types[2];
	MPI_Aint lb, ext, at[2];
	MPI_Count q = n / LARGE_BLOCK, r = n % LARGE_BLOCK;
	int lens[2], rc;

	*type = dt;
	if (n <= INT_MAX)
		return esmpi_large_int(fn, arg, n, out);
	if (q > INT_MAX)
		return refuse(fn, arg, n, "is too large even in blocks");
	rc = PMPI_Type_get_extent(dt, &lb, &ext);
	if (rc == MPI_SUCCESS)
		rc = PMPI_Type_contiguous((int)LARGE_BLOCK, dt, &blk);
	if (rc != MPI_SUCCESS)
		return rc;
	lens[0] = (int)q;
	lens[1] = (int)r;
	at[0] = 0;
	at[1] = (MPI_Aint)(q * LARGE_BLOCK) * ext;
	types[0] = blk;
	types[1] = dt;
	rc = PMPI_Type_create_struct(r ? 2 : 1, lens, at, types, &st);
	PMPI_Type_free(&blk);
	if (rc != MPI_SUCCESS)
		return rc;
	rc = PMPI_Type_create_resized(st, lb, (MPI_Aint)n * ext, type);
	PMPI_Type_free(&st);
	if (rc == MPI_SUCCESS)
		rc = PMPI_Type_commit(type);
	if (rc != MPI_SUCCESS) {
		*type = dt;
		return rc;
	}
	*out = 1;
	return MPI_SUCCESS;
}

void
esmpi_large_type_done(MPI_Datatype *type, MPI_Datatype dt)
{
	/* Pending operations hold their own reference (MPI, and esmpi's
	 * requests through esmpi_type_hold). */
	if (*type != dt)
		PMPI_Type_free(type);
}

int
esmpi_large_at_root(MPI_Comm comm, int root)
{
	int inter = 0, me = -1;

	if (comm == MPI_COMM_NULL || PMPI_Comm_test_inter(comm, &inter) !=
	    MPI_SUCCESS)
		return 1;	/* let the int form raise it */
	if (inter)
		return root == MPI_ROOT;
	PMPI_Comm_rank(comm, &me);
	return me == root;
}

/* How many entries a v/w collective's array has on comm. */
static int
array_len(MPI_Comm comm, enum esmpi_large_len kind)
{
	int n = 0, in = 0, out = 0, topo = MPI_UNDEFINED, inter = 0, w;

	if (kind == ESMPI_LARGE_LOCAL) {
		PMPI_Comm_size(comm, &n);
		return n;
	}
	if (kind == ESMPI_LARGE_PEERS) {
		PMPI_Comm_test_inter(comm, &inter);
		(inter ? PMPI_Comm_remote_size : PMPI_Comm_size)(comm, &n);
		return n;
	}
	PMPI_Topo_test(comm, &topo);
	if (topo == MPI_CART) {
		PMPI_Cartdim_get(comm, &n);
		return 2 * n;
	}
	if (topo == MPI_GRAPH) {
		PMPI_Comm_rank(comm, &w);
		PMPI_Graph_neighbors_count(comm, w, &n);
		return n;
	}
	if (topo == MPI_DIST_GRAPH)
		PMPI_Dist_graph_neighbors_count(comm, &in, &out, &w);
	return kind == ESMPI_LARGE_OUT ? out : in;
}

/*
 * An MPI_Count (aint = 0) or MPI_Aint (aint = 1) array of comm's v/w
 * collective narrowed into *out (free it), or the refusal naming the
 * first entry that does not fit. NULL stays NULL (not significant here).
 */
int
esmpi_large_array(const char *fn, const char *arg, const void *in, int aint,
    MPI_Comm comm, enum esmpi_large_len kind, int **out)
{
	char what[96];
	long long v;
	int n, i, *a;

	*out = NULL;
	if (in == NULL || comm == MPI_COMM_NULL)
		return MPI_SUCCESS;
	n = array_len(comm, kind);
	a = malloc(((size_t)n + 1) * sizeof(int));
	if (a == NULL)
		return MPI_ERR_NO_MEM;
	for (i = 0; i < n; i++) {
		v = aint ? (long long)((const MPI_Aint *)in)[i] :
		    (long long)((const MPI_Count *)in)[i];
		if (v > INT_MAX || v < INT_MIN) {
			free(a);
			snprintf(what, sizeof(what), "%s[%d]", arg, i);
			return refuse(fn, what, v, "does not fit in an int");
		}
		a[i] = (int)v;
	}
	*out = a;
	return MPI_SUCCESS;
}
