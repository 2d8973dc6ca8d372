/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Persistent collectives: every MPI-4 MPI_X_init (Open MPI 4.1:
 * MPIX_X_init, mpi-ext.h) started ITERS times, the buffers refilled
 * before each Start, so that a run that used the values of an earlier
 * one shows; Wait, Test and Request_get_status on them; the handle the
 * same after each completion; Startall of several; a derived datatype, a
 * user-defined operation; Wait on an inactive request; Request_free of
 * inactive ones. With MPI-4 (MPICH): MPI_Comm_idup_with_info.
 * Rank 0 prints one line per family and the checksum (example_util.h);
 * the output is the same with and without esmpi.
 */
#include "example_util.h"

#if MPI_VERSION >= 4
#define PC(x) MPI_##x##_init
#else
#include <mpi-ext.h>
#define PC(x) MPIX_##x##_init
#endif

#define ITERS 3
#define N 3		/* ints per block */

static int rank, size;
static uint64_t sum = FNV_INIT;

/* Start (or Test until done, or poll Request_get_status first), wait,
 * and check the handle came back unchanged. */
static void
run(MPI_Request *req, int how)
{
	MPI_Request saved = *req;
	MPI_Status st;
	int flag = 0;

	MPI_OK(MPI_Start(req));
	if (how == 1) {
		while (!flag)
			MPI_OK(MPI_Test(req, &flag, &st));
	} else if (how == 2) {
		while (!flag)
			MPI_OK(MPI_Request_get_status(*req, &flag, &st));
		MPI_OK(MPI_Wait(req, &st));
	} else {
		MPI_OK(MPI_Wait(req, &st));
	}
	CHECK(*req == saved, "handle changed by a run");
	/* Inactive now: completes at once. */
	MPI_OK(MPI_Wait(req, MPI_STATUS_IGNORE));
	CHECK(*req == saved, "handle changed by Wait on an inactive request");
}

static void
fold(const int *v, int n)
{
	sum = fnv(sum, v, (size_t)n * sizeof(int));
}

static void
done(const char *name)
{
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0)
		printf("%s: ok\n", name);
}

static void
t_bcast(void)
{
	int buf[N], i, it;
	MPI_Request r;

	MPI_OK(PC(Bcast)(buf, N, MPI_INT, size - 1, MPI_COMM_WORLD,
	    MPI_INFO_NULL, &r));
	for (it = 0; it < ITERS; it++) {
		for (i = 0; i < N; i++)
			buf[i] = rank == size - 1 ? 100 * it + i : -1;
		run(&r, it);
		for (i = 0; i < N; i++)
			CHECK(buf[i] == 100 * it + i, "bcast it %d [%d] = %d",
			    it, i, buf[i]);
		fold(buf, N);
	}
	MPI_OK(MPI_Request_free(&r));
	CHECK(r == MPI_REQUEST_NULL, "freed request not null");
	/* A bad communicator is an error of its class (errors return). */
	i = PC(Bcast)(buf, N, MPI_INT, 0, MPI_COMM_NULL, MPI_INFO_NULL, &r);
	MPI_Error_class(i, &it);
	CHECK(it == MPI_ERR_COMM, "init on MPI_COMM_NULL: class %d", it);
	done("bcast");
}

static void
t_gather_scatter(void)
{
	int *all = calloc((size_t)size * size, sizeof(int));
	int *cnt = malloc(size * sizeof(int)), *dsp = malloc(size * sizeof(int));
	int mine[64], i, j, it;
	MPI_Request r[4];

	for (i = 0; i < size; i++) {
		cnt[i] = i + 1;
		dsp[i] = i * size;
	}
	MPI_OK(PC(Gather)(mine, 1, MPI_INT, all, 1, MPI_INT, 0,
	    MPI_COMM_WORLD, MPI_INFO_NULL, &r[0]));
	MPI_OK(PC(Gatherv)(mine, rank + 1, MPI_INT, all, cnt, dsp, MPI_INT,
	    size - 1, MPI_COMM_WORLD, MPI_INFO_NULL, &r[1]));
	MPI_OK(PC(Scatter)(all, 1, MPI_INT, mine, 1, MPI_INT, 0,
	    MPI_COMM_WORLD, MPI_INFO_NULL, &r[2]));
	MPI_OK(PC(Scatterv)(all, cnt, dsp, MPI_INT, mine, rank + 1, MPI_INT,
	    size - 1, MPI_COMM_WORLD, MPI_INFO_NULL, &r[3]));
	for (it = 0; it < ITERS; it++) {
		for (i = 0; i <= rank; i++)
			mine[i] = 1000 * it + 10 * rank + i;
		run(&r[0], 0);
		if (rank == 0)
			for (j = 0; j < size; j++)
				CHECK(all[j] == 1000 * it + 10 * j,
				    "gather it %d from %d: %d", it, j, all[j]);
		run(&r[1], it);
		if (rank == size - 1)
			for (j = 0; j < size; j++)
				for (i = 0; i <= j; i++)
					CHECK(all[j * size + i] == 1000 * it +
					    10 * j + i, "gatherv it %d", it);
		if (rank == size - 1)
			fold(all, size * size);
		for (j = 0; j < size * size; j++)
			all[j] = 7 * it + j;
		run(&r[2], 0);
		CHECK(mine[0] == 7 * it + rank, "scatter it %d: %d", it,
		    mine[0]);
		run(&r[3], 0);
		for (i = 0; i <= rank; i++)
			CHECK(mine[i] == 7 * it + rank * size + i,
			    "scatterv it %d [%d]: %d", it, i, mine[i]);
		fold(mine, rank + 1);
	}
	for (i = 0; i < 4; i++)
		MPI_OK(MPI_Request_free(&r[i]));
	free(all);
	free(cnt);
	free(dsp);
	done("gather_scatter");
}

/* Allgather with a derived send type (every other int of 2N);
 * Allgatherv. */
static void
t_allgather(void)
{
	int src[2 * N], *all = calloc((size_t)size * N, sizeof(int));
	int *cnt = malloc(size * sizeof(int)), *dsp = malloc(size * sizeof(int));
	int i, j, it;
	MPI_Datatype every2;
	MPI_Request r[2];

	MPI_Type_vector(N, 1, 2, MPI_INT, &every2);
	MPI_Type_commit(&every2);
	MPI_OK(PC(Allgather)(src, 1, every2, all, N, MPI_INT, MPI_COMM_WORLD,
	    MPI_INFO_NULL, &r[0]));
	for (i = 0; i < size; i++) {
		cnt[i] = 1 + i % 2;
		dsp[i] = i * N;
	}
	MPI_OK(PC(Allgatherv)(src, 1 + rank % 2, MPI_INT, all, cnt, dsp,
	    MPI_INT, MPI_COMM_WORLD, MPI_INFO_NULL, &r[1]));
	for (it = 0; it < ITERS; it++) {
		for (i = 0; i < 2 * N; i++)
			src[i] = i % 2 ? -1 : 100 * rank + 10 * it + i / 2;
		run(&r[0], it);
		for (j = 0; j < size; j++)
			for (i = 0; i < N; i++)
				CHECK(all[j * N + i] == 100 * j + 10 * it + i,
				    "allgather it %d", it);
		fold(all, size * N);
		for (i = 0; i < 2; i++)
			src[i] = 50 * rank + it + i;
		run(&r[1], 0);
		for (j = 0; j < size; j++)
			for (i = 0; i < cnt[j]; i++)
				CHECK(all[j * N + i] == 50 * j + it + i,
				    "allgatherv it %d", it);
		fold(all, size * N);
	}
	MPI_OK(MPI_Request_free(&r[0]));
	MPI_OK(MPI_Request_free(&r[1]));
	/* Not before: plain Open MPI 4.1's MPIX requests do not keep it. */
	MPI_Type_free(&every2);
	free(all);
	free(cnt);
	free(dsp);
	done("allgather");
}

static void
t_alltoall(void)
{
	int n = size * size, i, j, it;
	int *s = calloc((size_t)n, sizeof(int)), *d = calloc((size_t)n,
	    sizeof(int));
	int *sc = malloc(size * sizeof(int)), *sd = malloc(size * sizeof(int));
	int *rc = malloc(size * sizeof(int)), *rd = malloc(size * sizeof(int));
	int *sb = malloc(size * sizeof(int)), *rb = malloc(size * sizeof(int));
	MPI_Datatype *ty = malloc(size * sizeof(MPI_Datatype));
	MPI_Request r[3];

	for (i = 0; i < size; i++) {
		sc[i] = i + 1;		/* to rank i: i + 1 ints */
		sd[i] = i * size;
		rc[i] = rank + 1;	/* from each: rank + 1 ints */
		rd[i] = i * size;
		sb[i] = i * size * (int)sizeof(int);
		rb[i] = i * size * (int)sizeof(int);
		ty[i] = MPI_INT;
	}
	MPI_OK(PC(Alltoall)(s, 1, MPI_INT, d, 1, MPI_INT, MPI_COMM_WORLD,
	    MPI_INFO_NULL, &r[0]));
	MPI_OK(PC(Alltoallv)(s, sc, sd, MPI_INT, d, rc, rd, MPI_INT,
	    MPI_COMM_WORLD, MPI_INFO_NULL, &r[1]));
	MPI_OK(PC(Alltoallw)(s, sc, sb, ty, d, rc, rb, ty, MPI_COMM_WORLD,
	    MPI_INFO_NULL, &r[2]));
	for (it = 0; it < ITERS; it++) {
		for (i = 0; i < n; i++)
			s[i] = 1000 * rank + 10 * it + i;
		run(&r[0], 0);
		for (j = 0; j < size; j++)
			CHECK(d[j] == 1000 * j + 10 * it + rank,
			    "alltoall it %d from %d: %d", it, j, d[j]);
		fold(d, size);
		for (j = 0; j < 2; j++) {
			run(&r[1 + j], it);
			for (i = 0; i < size; i++)
				CHECK(d[i * size + rank] == 1000 * i + 10 * it +
				    rank * size + rank, "alltoall%s it %d",
				    j ? "w" : "v", it);
			fold(d, n);
		}
	}
	for (i = 0; i < 3; i++)
		MPI_OK(MPI_Request_free(&r[i]));
	free(s); free(d); free(sc); free(sd); free(rc); free(rd);
	free(sb); free(rb); free(ty);
	done("alltoall");
}

/* A user-defined sum. */
static void
add(void *in, void *inout, int *len, MPI_Datatype *dt)
{
	int *a = in, *b = inout, i;

	(void)dt;
	for (i = 0; i < *len; i++)
		b[i] += a[i];
}

static void
t_reduce(void)
{
	int v[N], out[N], *rs = calloc((size_t)size, sizeof(int));
	int *cnt = malloc(size * sizeof(int)), *big = NULL;
	int i, it, tot = 0;
	MPI_Op op;
	MPI_Request r[6];

	for (i = 0; i < size; i++)
		tot += cnt[i] = 1 + i % 2;
	big = calloc((size_t)tot, sizeof(int));
	MPI_Op_create(add, 1, &op);
	MPI_OK(PC(Reduce)(v, out, N, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD,
	    MPI_INFO_NULL, &r[0]));
	MPI_OK(PC(Allreduce)(v, out, N, MPI_INT, op, MPI_COMM_WORLD,
	    MPI_INFO_NULL, &r[1]));
	MPI_OK(PC(Reduce_scatter_block)(rs, out, 1, MPI_INT, MPI_SUM,
	    MPI_COMM_WORLD, MPI_INFO_NULL, &r[2]));
	MPI_OK(PC(Reduce_scatter)(big, out, cnt, MPI_INT, MPI_MAX,
	    MPI_COMM_WORLD, MPI_INFO_NULL, &r[3]));
	MPI_OK(PC(Scan)(v, out, N, MPI_INT, MPI_SUM, MPI_COMM_WORLD,
	    MPI_INFO_NULL, &r[4]));
	MPI_OK(PC(Exscan)(v, out, N, MPI_INT, MPI_SUM, MPI_COMM_WORLD,
	    MPI_INFO_NULL, &r[5]));
	for (it = 0; it < ITERS; it++) {
		for (i = 0; i < N; i++)
			v[i] = rank + it + i;
		run(&r[0], it);
		if (rank == 0)
			for (i = 0; i < N; i++)
				CHECK(out[i] == size * (size - 1) / 2 +
				    size * (it + i), "reduce it %d", it);
		run(&r[1], 0);
		for (i = 0; i < N; i++)
			CHECK(out[i] == size * (size - 1) / 2 + size * (it + i),
			    "allreduce (user op) it %d", it);
		fold(out, N);
		for (i = 0; i < size; i++)
			rs[i] = rank * i + it;
		run(&r[2], 0);
		CHECK(out[0] == rank * size * (size - 1) / 2 + size * it,
		    "reduce_scatter_block it %d: %d", it, out[0]);
		for (i = 0; i < tot; i++)
			big[i] = (rank + i + it) % 5;
		run(&r[3], 0);
		fold(out, cnt[rank]);
		run(&r[4], 0);
		for (i = 0; i < N; i++)
			CHECK(out[i] == rank * (rank + 1) / 2 + (rank + 1) *
			    (it + i), "scan it %d", it);
		run(&r[5], 0);
		for (i = 0; rank > 0 && i < N; i++)
			CHECK(out[i] == rank * (rank - 1) / 2 + rank * (it + i),
			    "exscan it %d", it);
		fold(out, rank > 0 ? N : 0);
	}
	for (i = 0; i < 6; i++)
		MPI_OK(MPI_Request_free(&r[i]));
	MPI_Op_free(&op);
	free(rs);
	free(cnt);
	free(big);
	done("reduce");
}

/* On a periodic ring: at 2 ranks both neighbours are one rank, so every
 * block a rank sends carries the same values (the slot is MPI's choice). */
static void
t_neighbor(void)
{
	MPI_Comm ring;
	int dims[1] = { 0 }, per[1] = { 1 }, left, right, i, it;
	int s[2 * N], d[2 * N], c2[2] = { N, N }, d2[2] = { 0, N };
	MPI_Aint a2[2] = { 0, N * sizeof(int) };
	MPI_Datatype t2[2] = { MPI_INT, MPI_INT };
	MPI_Request r[5];

	dims[0] = size;
	MPI_Cart_create(MPI_COMM_WORLD, 1, dims, per, 0, &ring);
	MPI_Cart_shift(ring, 0, 1, &left, &right);
	MPI_OK(PC(Neighbor_allgather)(s, N, MPI_INT, d, N, MPI_INT, ring,
	    MPI_INFO_NULL, &r[0]));
	MPI_OK(PC(Neighbor_allgatherv)(s, N, MPI_INT, d, c2, d2, MPI_INT,
	    ring, MPI_INFO_NULL, &r[1]));
	MPI_OK(PC(Neighbor_alltoall)(s, N, MPI_INT, d, N, MPI_INT, ring,
	    MPI_INFO_NULL, &r[2]));
	MPI_OK(PC(Neighbor_alltoallv)(s, c2, d2, MPI_INT, d, c2, d2, MPI_INT,
	    ring, MPI_INFO_NULL, &r[3]));
	MPI_OK(PC(Neighbor_alltoallw)(s, c2, a2, t2, d, c2, a2, t2, ring,
	    MPI_INFO_NULL, &r[4]));
	for (it = 0; it < ITERS; it++) {
		for (i = 0; i < 5; i++) {
			int k;

			for (k = 0; k < 2 * N; k++)
				s[k] = 100 * rank + 10 * it + k % N + i;
			memset(d, 0xff, sizeof(d));
			run(&r[i], i == 0 ? it : 0);
			for (k = 0; k < N; k++) {
				CHECK(d[k] == 100 * left + 10 * it + k + i,
				    "neighbour %d it %d from left", i, it);
				CHECK(d[N + k] == 100 * right + 10 * it + k + i,
				    "neighbour %d it %d from right", i, it);
			}
			fold(d, 2 * N);
		}
	}
	for (i = 0; i < 5; i++)
		MPI_OK(MPI_Request_free(&r[i]));
	MPI_Comm_free(&ring);
	done("neighbor");
}

/* Startall of several, Waitall; then Testall, Waitany, Waitsome. */
static void
t_startall(void)
{
	int b[N], x[N], y[N], *a2 = calloc((size_t)size, sizeof(int));
	int *one = malloc(size * sizeof(int)), i, it, idx, n, done_n, out[3];
	MPI_Request r[3], saved[3];
	MPI_Status st[3];

	MPI_OK(PC(Bcast)(b, N, MPI_INT, 0, MPI_COMM_WORLD, MPI_INFO_NULL,
	    &r[0]));
	MPI_OK(PC(Allreduce)(x, y, N, MPI_INT, MPI_MAX, MPI_COMM_WORLD,
	    MPI_INFO_NULL, &r[1]));
	MPI_OK(PC(Alltoall)(one, 1, MPI_INT, a2, 1, MPI_INT, MPI_COMM_WORLD,
	    MPI_INFO_NULL, &r[2]));
	memcpy(saved, r, sizeof(r));
	for (it = 0; it < 4; it++) {
		for (i = 0; i < N; i++) {
			b[i] = rank == 0 ? 9 * it + i : -1;
			x[i] = rank * it + i;
		}
		for (i = 0; i < size; i++)
			one[i] = 10 * rank + i + it;
		MPI_OK(MPI_Startall(3, r));
		if (it == 0) {
			MPI_OK(MPI_Waitall(3, r, st));
		} else if (it == 1) {
			int flag = 0;

			while (!flag)
				MPI_OK(MPI_Testall(3, r, &flag, st));
		} else if (it == 2) {
			for (n = 0; n < 3; n++) {
				MPI_OK(MPI_Waitany(3, r, &idx, st));
				CHECK(idx >= 0 && idx < 3, "waitany index %d",
				    idx);
			}
			MPI_OK(MPI_Waitany(3, r, &idx, st));
			CHECK(idx == MPI_UNDEFINED, "waitany of inactive: %d",
			    idx);
		} else {
			for (n = 0; n < 3; n += done_n)
				MPI_OK(MPI_Waitsome(3, r, &done_n, out, st));
		}
		CHECK(memcmp(r, saved, sizeof(r)) == 0,
		    "handles changed by Startall it %d", it);
		for (i = 0; i < N; i++) {
			CHECK(b[i] == 9 * it + i, "startall bcast it %d", it);
			CHECK(y[i] == (size - 1) * it + i, "startall max it %d",
			    it);
		}
		for (i = 0; i < size; i++)
			CHECK(a2[i] == 10 * i + rank + it, "startall a2a it %d",
			    it);
		fold(b, N);
		fold(y, N);
		fold(a2, size);
	}
	MPI_OK(MPI_Request_free(&r[0]));
	MPI_OK(MPI_Request_free(&r[1]));
	MPI_OK(MPI_Request_free(&r[2]));
	free(a2);
	free(one);
	done("startall");
}

#if MPI_VERSION >= 4
/* MPI-4's Comm_idup_with_info (MPICH): a communicator with keys. */
static void
t_idup_with_info(void)
{
	int tot = -1;
	MPI_Comm dup;
	MPI_Info info;
	MPI_Request r;

	MPI_Info_create(&info);
	MPI_Info_set(info, "mpi_assert_no_any_tag", "true");
	MPI_OK(MPI_Comm_idup_with_info(MPI_COMM_WORLD, info, &dup, &r));
	MPI_Info_free(&info);
	MPI_OK(MPI_Wait(&r, MPI_STATUS_IGNORE));
	MPI_OK(MPI_Allreduce(&rank, &tot, 1, MPI_INT, MPI_SUM, dup));
	CHECK(tot == size * (size - 1) / 2, "allreduce on idup: %d", tot);
	fold(&tot, 1);
	MPI_Comm_free(&dup);
	done("idup_with_info");
}
#endif

int
main(int argc, char **argv)
{
	int rc;

	rank = ex_init(&argc, &argv, &size);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	t_bcast();
	t_gather_scatter();
	t_allgather();
	t_alltoall();
	t_reduce();
	t_neighbor();
	t_startall();
#if MPI_VERSION >= 4
	t_idup_with_info();
#endif
	rc = ex_finish("pcoll_check", sum);
	MPI_Finalize();
	return rc;
}
