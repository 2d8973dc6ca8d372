/* SPDX-License-Identifier: Apache-2.0 */
/* Traffic on derived communicators: Comm_dup (renamed with Comm_set_name),
 * Comm_idup (completed by Wait, and one by Test mixed with a receive),
 * Comm_split by parity (and a dup of it), Comm_split_type SHARED,
 * Comm_create with a group, Comm_create_group, Intercomm_create between
 * the parity halves and Intercomm_merge; every one is freed at the end. */
#include "example_util.h"

#define N 16

static int wrank, wsize;

/* Ring shift on an intracommunicator; each message carries the sender's
 * world rank, communicator rank and a label. Returns the hash of what came
 * in; world_of(r) gives the world rank expected at comm rank r. */
static uint64_t
ring(MPI_Comm comm, int label, int (*world_of)(int r, int n))
{
	int out[N], in[N], rank, n, left, right, i, count;
	MPI_Request req;
	MPI_Status st;

	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &n);
	right = (rank + 1) % n;
	left = (rank - 1 + n) % n;
	for (i = 0; i < N; i++)
		out[i] = wrank * 1000000 + rank * 1000 + label * 10 + i % 10;
	memset(in, 0, sizeof(in));
	MPI_Irecv(in, N, MPI_INT, left, label, comm, &req);
	MPI_Send(out, N, MPI_INT, right, label, comm);
	MPI_Wait(&req, &st);
	MPI_Get_count(&st, MPI_INT, &count);
	CHECK(count == N && st.MPI_SOURCE == left, "comm %d: count %d "
	    "source %d", label, count, st.MPI_SOURCE);
	for (i = 0; i < N; i++)
		CHECK(in[i] == world_of(left, n) * 1000000 + left * 1000 +
		    label * 10 + i % 10, "comm %d: int %d is %d", label, i,
		    in[i]);
	return fnv(fnv_u64(FNV_INIT, (uint64_t)label), in, sizeof(in));
}

static int
same(int r, int n)
{
	(void)n;
	return r;
}

/* The parity halves: rank r of half p is world rank 2r + p. */
static int
in_half(int r, int n)
{
	(void)n;
	return 2 * r + wrank % 2;
}

/* Low half [0, nlow) in world order. */
static int
low_half(int r, int n)
{
	(void)n;
	return r;
}

static int
high_half(int r, int n)
{
	(void)n;
	return wsize / 2 + r;
}

/* Merged: evens (low) first, then odds. */
static int
merged_order(int r, int n)
{
	int nev = (wsize + 1) / 2;

	(void)n;
	return r < nev ? 2 * r : 2 * (r - nev) + 1;
}

int
main(int argc, char **argv)
{
	MPI_Comm dup, parity, pdup, shm, low, high, inter, merged;
	MPI_Group wgroup, g;
	uint64_t sum = FNV_INIT;
	char name[MPI_MAX_OBJECT_NAME];
	int i, n, len, r, flag, rsize, nlow, ranks[64];
	int out[N], in[N];
	MPI_Status st;

	wrank = ex_init(&argc, &argv, &wsize);
	CHECK(wsize >= 2 && wsize <= 64, "needs 2..64 ranks");

	/* dup, then renamed: traffic before and after. */
	MPI_Comm_dup(MPI_COMM_WORLD, &dup);
	sum = fnv_u64(sum, ring(dup, 1, same));
	MPI_Comm_set_name(dup, "esmpi-example-dup");
	MPI_Comm_get_name(dup, name, &len);
	CHECK(strcmp(name, "esmpi-example-dup") == 0, "name '%s'", name);
	sum = fnv_u64(sum, ring(dup, 2, same));

	/* Comm_idup: usable once its request completes (Wait), and one of
	 * the renamed dup completed by a Test loop with a receive. */
	{
		MPI_Comm idup, idup2;
		MPI_Request q[2];
		int done = 0, k, w = -1;

		MPI_Comm_idup(MPI_COMM_WORLD, &idup, &q[0]);
		MPI_Wait(&q[0], MPI_STATUS_IGNORE);
		sum = fnv_u64(sum, ring(idup, 20, same));
		MPI_Comm_idup(dup, &idup2, &q[0]);
		MPI_Irecv(&w, 1, MPI_INT, (wrank + wsize - 1) % wsize, 21,
		    MPI_COMM_WORLD, &q[1]);
		MPI_Send(&wrank, 1, MPI_INT, (wrank + 1) % wsize, 21,
		    MPI_COMM_WORLD);
		while (!done)
			MPI_Testall(2, q, &done, MPI_STATUSES_IGNORE);
		CHECK(w == (wrank + wsize - 1) % wsize, "idup: got %d", w);
		sum = fnv_u64(sum, ring(idup2, 22, same));
		k = -1;
		MPI_Allreduce(&wrank, &k, 1, MPI_INT, MPI_SUM, idup2);
		CHECK(k == wsize * (wsize - 1) / 2, "idup allreduce %d", k);
		MPI_Comm_free(&idup);
		MPI_Comm_free(&idup2);
	}

	/* split by parity, and a dup of a split */
	MPI_Comm_split(MPI_COMM_WORLD, wrank % 2, wrank, &parity);
	MPI_Comm_size(parity, &n);
	CHECK(n == (wsize + 1 - wrank % 2) / 2, "parity size %d", n);
	sum = fnv_u64(sum, ring(parity, 3, in_half));
	MPI_Comm_dup(parity, &pdup);
	sum = fnv_u64(sum, ring(pdup, 4, in_half));

	/* split_type SHARED: all ranks on this node (one node here, but
	 * the check holds for any node layout only if world order is kept,
	 * so check the size instead of the ranks on multi-node runs). */
	MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, wrank,
	    MPI_INFO_NULL, &shm);
	MPI_Comm_size(shm, &n);
	CHECK(n >= 1 && n <= wsize, "shared size %d", n);
	if (n == wsize)
		sum = fnv_u64(sum, ring(shm, 5, same));

	/* Comm_create with the low half's group (collective over world). */
	nlow = (wsize + 1) / 2;
	for (i = 0; i < nlow; i++)
		ranks[i] = i;
	MPI_Comm_group(MPI_COMM_WORLD, &wgroup);
	MPI_Group_incl(wgroup, nlow, ranks, &g);
	MPI_Comm_create(MPI_COMM_WORLD, g, &low);
	MPI_Group_free(&g);
	CHECK((low != MPI_COMM_NULL) == (wrank < nlow), "Comm_create: %s",
	    low == MPI_COMM_NULL ? "NULL" : "a communicator");
	if (low != MPI_COMM_NULL)
		sum = fnv_u64(sum, ring(low, 6, low_half));

	/* Comm_create_group: only the high half calls it. */
	high = MPI_COMM_NULL;
	if (wrank >= wsize / 2) {
		for (i = 0; i < wsize - wsize / 2; i++)
			ranks[i] = wsize / 2 + i;
		MPI_Group_incl(wgroup, wsize - wsize / 2, ranks, &g);
		MPI_Comm_create_group(MPI_COMM_WORLD, g, 77, &high);
		MPI_Group_free(&g);
		CHECK(high != MPI_COMM_NULL, "Comm_create_group: NULL");
		if (high != MPI_COMM_NULL)
			sum = fnv_u64(sum, ring(high, 7, high_half));
	}
	MPI_Group_free(&wgroup);

	/* Intercommunicator between the parity halves; leaders are world
	 * ranks 0 (evens) and 1 (odds). Remote rank r is world 2r + other. */
	MPI_Intercomm_create(parity, 0, MPI_COMM_WORLD, wrank % 2 ? 0 : 1, 88,
	    &inter);
	MPI_Comm_test_inter(inter, &flag);
	MPI_Comm_remote_size(inter, &rsize);
	MPI_Comm_rank(inter, &r);
	CHECK(flag && rsize == (wsize + wrank % 2) / 2, "intercomm: inter %d "
	    "remote size %d", flag, rsize);
	if (r < rsize) {
		MPI_Request req;
		int want = 2 * r + 1 - wrank % 2;

		for (i = 0; i < N; i++)
			out[i] = wrank * 1000 + i;
		MPI_Irecv(in, N, MPI_INT, r, 8, inter, &req);
		MPI_Send(out, N, MPI_INT, r, 8, inter);
		MPI_Wait(&req, &st);
		CHECK(st.MPI_SOURCE == r, "intercomm: source %d",
		    st.MPI_SOURCE);
		for (i = 0; i < N; i++)
			CHECK(in[i] == want * 1000 + i, "intercomm: int %d is "
			    "%d", i, in[i]);
		sum = fnv(sum, in, sizeof(in));
	}
	/* merge: evens low, odds high */
	MPI_Intercomm_merge(inter, wrank % 2, &merged);
	MPI_Comm_size(merged, &n);
	CHECK(n == wsize, "merged size %d", n);
	sum = fnv_u64(sum, ring(merged, 9, merged_order));

	MPI_Comm_free(&merged);
	MPI_Comm_free(&inter);
	if (high != MPI_COMM_NULL)
		MPI_Comm_free(&high);
	if (low != MPI_COMM_NULL)
		MPI_Comm_free(&low);
	MPI_Comm_free(&shm);
	MPI_Comm_free(&pdup);
	MPI_Comm_free(&parity);
	MPI_Comm_free(&dup);
	CHECK(dup == MPI_COMM_NULL && merged == MPI_COMM_NULL,
	    "Comm_free left handles");
	/* World still works after all that. */
	sum = fnv_u64(sum, ring(MPI_COMM_WORLD, 10, same));

	/*
	 * MPI_Comm_free with operations pending: they complete as if the
	 * communicator were still there (MPI-3.1 6.4.3). A receive, a send
	 * and a nonblocking broadcast are started, the communicator freed,
	 * and only then the requests waited for (receives open there).
	 */
	{
		MPI_Comm tmp;
		MPI_Request rq[3];
		int got[N], mine[N], bc[N], k;
		int left = (wrank + wsize - 1) % wsize;

		MPI_Comm_dup(MPI_COMM_WORLD, &tmp);
		for (k = 0; k < N; k++) {
			mine[k] = wrank * 1000 + k;
			bc[k] = wrank == 0 ? 7000 + k : -1;
		}
		MPI_Irecv(got, N, MPI_INT, left, 11, tmp, &rq[0]);
		MPI_Isend(mine, N, MPI_INT, (wrank + 1) % wsize, 11, tmp, &rq[1]);
		MPI_Ibcast(bc, N, MPI_INT, 0, tmp, &rq[2]);
		MPI_Comm_free(&tmp);
		MPI_Barrier(MPI_COMM_WORLD);
		MPI_Waitall(3, rq, MPI_STATUSES_IGNORE);
		for (k = 0; k < N; k++) {
			CHECK(got[k] == left * 1000 + k, "freed comm: int %d "
			    "is %d", k, got[k]);
			CHECK(bc[k] == 7000 + k, "freed comm: bcast int %d is %d",
			    k, bc[k]);
		}
		sum = fnv_u64(sum, (uint64_t)got[N - 1]);
	}

	if (wrank == 0)
		printf("comms: dup, idup, split, split_type, create, "
		    "create_group, intercomm + merge over %d ranks\n", wsize);
	r = ex_finish("comms", sum);
	MPI_Finalize();
	return r;
}
