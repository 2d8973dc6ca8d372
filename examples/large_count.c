/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MPI-4's large-count (_c) forms (MPICH only; issue 17): libesmpi's
 * generated wrappers narrow their MPI_Count/MPI_Aint arguments to its int
 * forms, which seal. On any number of ranks (3 in the test):
 *
 *   - a ring by MPI_Send_c/MPI_Recv_c, then MPI_Isend_c/MPI_Irecv_c, then
 *     MPI_Sendrecv_c, each status read by MPI_Get_count_c and
 *     MPI_Get_elements_c;
 *   - MPI_Bcast_c, MPI_Allreduce_c, MPI_Allgatherv_c (MPI_Count counts,
 *     MPI_Aint displacements), MPI_Alltoallv_c, MPI_Reduce_scatter_c;
 *   - MPI_Win_allocate_c, MPI_Put_c and MPI_Get_c between fences;
 *   - MPI_File_write_at_all_c, MPI_File_read_at_c and
 *     MPI_File_get_type_extent_c on the file argv[1] (deleted on close);
 *   - a count beyond INT_MAX of a zero-size datatype (no memory: the
 *     derived-datatype path of a count that does not fit in an int).
 *
 * With a second argument "refuse" (run under libesmpi only: plain MPICH would
 * read gigabytes past the buffers), counts esmpi cannot carry come back
 * as MPI_ERR_COUNT: an Allgatherv_c recvcounts entry and an Allreduce_c
 * count beyond INT_MAX.
 */
#include <limits.h>

#include "example_util.h"

#define N	1000

static int rank, size;
static uint64_t sum = FNV_INIT;

static void
counted(const char *what, const MPI_Status *st, MPI_Datatype dt,
    MPI_Count want)
{
	MPI_Count n = -1, e = -1;

	MPI_OK(MPI_Get_count_c(st, dt, &n));
	MPI_OK(MPI_Get_elements_c(st, dt, &e));
	CHECK(n == want && e == want, "%s: count %lld elements %lld, want "
	    "%lld", what, (long long)n, (long long)e, (long long)want);
	sum = fnv_u64(sum, (uint64_t)n);
}

static void
p2p(void)
{
	int right = (rank + 1) % size, left = (rank + size - 1) % size, i;
	int *s = malloc(N * sizeof(int)), *r = malloc(N * sizeof(int));
	MPI_Request rq[2];
	MPI_Status st[2];

	for (i = 0; i < N; i++)
		s[i] = rank * N + i;
	if (rank % 2 == 0) {
		MPI_OK(MPI_Send_c(s, N, MPI_INT, right, 1, MPI_COMM_WORLD));
		MPI_OK(MPI_Recv_c(r, N, MPI_INT, left, 1, MPI_COMM_WORLD,
		    &st[0]));
	} else {
		MPI_OK(MPI_Recv_c(r, N, MPI_INT, left, 1, MPI_COMM_WORLD,
		    &st[0]));
		MPI_OK(MPI_Send_c(s, N, MPI_INT, right, 1, MPI_COMM_WORLD));
	}
	counted("Recv_c", &st[0], MPI_INT, N);
	CHECK(r[0] == left * N && r[N - 1] == left * N + N - 1,
	    "Recv_c: got %d..%d", r[0], r[N - 1]);
	sum = fnv(sum, r, N * sizeof(int));

	memset(r, 0, N * sizeof(int));
	MPI_OK(MPI_Irecv_c(r, N / 2, MPI_INT, right, 2, MPI_COMM_WORLD,
	    &rq[0]));
	MPI_OK(MPI_Isend_c(s, N / 2, MPI_INT, left, 2, MPI_COMM_WORLD,
	    &rq[1]));
	MPI_OK(MPI_Waitall(2, rq, st));
	counted("Irecv_c", &st[0], MPI_INT, N / 2);
	CHECK(r[1] == right * N + 1, "Irecv_c: got %d", r[1]);
	sum = fnv(sum, r, N * sizeof(int));

	MPI_OK(MPI_Sendrecv_c(s, N, MPI_INT, right, 3, r, N, MPI_INT, left, 3,
	    MPI_COMM_WORLD, &st[0]));
	counted("Sendrecv_c", &st[0], MPI_INT, N);
	CHECK(r[7] == left * N + 7, "Sendrecv_c: got %d", r[7]);
	sum = fnv(sum, r, N * sizeof(int));
	free(s);
	free(r);
}

static void
coll(void)
{
	MPI_Count *cnt = malloc(size * sizeof(MPI_Count));
	MPI_Aint *dsp = malloc(size * sizeof(MPI_Aint));
	MPI_Count *scnt = malloc(size * sizeof(MPI_Count));
	MPI_Aint *sdsp = malloc(size * sizeof(MPI_Aint));
	double d[N];
	long long v[64], tot[64];
	int *all, *mine, i, j, total = 0;

	for (i = 0; i < N; i++)
		d[i] = rank == 1 % size ? i * 0.5 : -1;
	MPI_OK(MPI_Bcast_c(d, N, MPI_DOUBLE, 1 % size, MPI_COMM_WORLD));
	CHECK(d[N - 1] == (N - 1) * 0.5, "Bcast_c: got %g", d[N - 1]);
	sum = fnv(sum, d, sizeof(d));

	for (i = 0; i < 64; i++)
		v[i] = (long long)rank * 1000 + i;
	MPI_OK(MPI_Allreduce_c(v, tot, 64, MPI_LONG_LONG, MPI_SUM,
	    MPI_COMM_WORLD));
	CHECK(tot[3] == 1000LL * size * (size - 1) / 2 + 3LL * size,
	    "Allreduce_c: got %lld", tot[3]);
	sum = fnv(sum, tot, sizeof(tot));

	/* Rank i gives i + 1 ints; blocks packed in rank order. */
	for (i = 0; i < size; i++) {
		cnt[i] = i + 1;
		dsp[i] = total;
		total += i + 1;
	}
	all = calloc((size_t)total * 2, sizeof(int));
	mine = malloc((size_t)(rank + 1) * sizeof(int));
	for (i = 0; i <= rank; i++)
		mine[i] = rank * 100 + i;
	MPI_OK(MPI_Allgatherv_c(mine, rank + 1, MPI_INT, all, cnt, dsp,
	    MPI_INT, MPI_COMM_WORLD));
	for (i = 0; i < size; i++)
		for (j = 0; j <= i; j++)
			CHECK(all[dsp[i] + j] == i * 100 + j, "Allgatherv_c: "
			    "[%d][%d] = %d", i, j, all[dsp[i] + j]);
	sum = fnv(sum, all, (size_t)total * sizeof(int));

	/* Alltoallv_c: rank r sends j + 1 ints to rank j, all r * 10 + j. */
	{
		int *sb = malloc((size_t)total * sizeof(int));
		int *rb = calloc((size_t)size * (rank + 1), sizeof(int));

		for (i = 0, j = 0; i < size; i++) {
			scnt[i] = i + 1;
			sdsp[i] = j;
			for (int k = 0; k <= i; k++)
				sb[j++] = rank * 10 + i;
			cnt[i] = rank + 1;
			dsp[i] = (MPI_Aint)i * (rank + 1);
		}
		MPI_OK(MPI_Alltoallv_c(sb, scnt, sdsp, MPI_INT, rb, cnt, dsp,
		    MPI_INT, MPI_COMM_WORLD));
		for (i = 0; i < size; i++)
			CHECK(rb[dsp[i] + rank] == i * 10 + rank,
			    "Alltoallv_c: from %d got %d", i,
			    rb[dsp[i] + rank]);
		sum = fnv(sum, rb, (size_t)size * (rank + 1) * sizeof(int));
		free(sb);
		free(rb);
	}

	/* Reduce_scatter_c: rank i gets i + 1 sums. */
	for (i = 0; i < size; i++)
		cnt[i] = i + 1;
	{
		int *in = malloc((size_t)total * sizeof(int));
		int out[64];

		for (i = 0; i < total; i++)
			in[i] = i + rank;
		MPI_OK(MPI_Reduce_scatter_c(in, out, cnt, MPI_INT, MPI_SUM,
		    MPI_COMM_WORLD));
		j = rank * (rank + 1) / 2;	/* my first element */
		CHECK(out[0] == j * size + size * (size - 1) / 2,
		    "Reduce_scatter_c: got %d", out[0]);
		sum = fnv(sum, out, (size_t)(rank + 1) * sizeof(int));
		free(in);
	}
	free(all);
	free(mine);
	free(cnt);
	free(dsp);
	free(scnt);
	free(sdsp);
}

static void
rma(void)
{
	int right = (rank + 1) % size, left = (rank + size - 1) % size;
	int *base = NULL, got[4] = { 0 }, put[4], i;
	MPI_Win win;

	MPI_OK(MPI_Win_allocate_c(8 * sizeof(int), sizeof(int), MPI_INFO_NULL,
	    MPI_COMM_WORLD, &base, &win));
	for (i = 0; i < 8; i++)
		base[i] = -1;
	for (i = 0; i < 4; i++)
		put[i] = rank * 10 + i;
	MPI_OK(MPI_Win_fence(0, win));
	MPI_OK(MPI_Put_c(put, 4, MPI_INT, right, 2, 4, MPI_INT, win));
	MPI_OK(MPI_Win_fence(0, win));
	MPI_OK(MPI_Get_c(got, 4, MPI_INT, left, 2, 4, MPI_INT, win));
	MPI_OK(MPI_Win_fence(0, win));
	CHECK(base[2] == left * 10 && base[5] == left * 10 + 3 &&
	    base[0] == -1, "Put_c: window %d %d %d", base[0], base[2],
	    base[5]);
	/* left's window holds what left's left put there */
	CHECK(got[0] == ((left + size - 1) % size) * 10, "Get_c: got %d",
	    got[0]);
	sum = fnv(sum, base, 8 * sizeof(int));
	sum = fnv(sum, got, sizeof(got));
	MPI_OK(MPI_Win_free(&win));
}

static void
file(const char *path)
{
	int peer = (rank + 1) % size, w[N], r[N], i;
	MPI_Count ext = -1;
	MPI_Status st;
	MPI_File fh;

	for (i = 0; i < N; i++)
		w[i] = rank * 7 + i;
	MPI_OK(MPI_File_open(MPI_COMM_WORLD, path, MPI_MODE_CREATE |
	    MPI_MODE_RDWR | MPI_MODE_DELETE_ON_CLOSE, MPI_INFO_NULL, &fh));
	MPI_OK(MPI_File_write_at_all_c(fh, (MPI_Offset)rank * sizeof(w), w, N,
	    MPI_INT, &st));
	counted("File_write_at_all_c", &st, MPI_INT, N);
	MPI_OK(MPI_File_sync(fh));
	MPI_OK(MPI_Barrier(MPI_COMM_WORLD));
	MPI_OK(MPI_File_sync(fh));
	MPI_OK(MPI_File_read_at_c(fh, (MPI_Offset)peer * sizeof(r), r, N,
	    MPI_INT, &st));
	counted("File_read_at_c", &st, MPI_INT, N);
	CHECK(r[5] == peer * 7 + 5, "File_read_at_c: got %d", r[5]);
	sum = fnv(sum, r, sizeof(r));
	MPI_OK(MPI_File_get_type_extent_c(fh, MPI_INT, &ext));
	CHECK(ext == (MPI_Count)sizeof(int), "File_get_type_extent_c: %lld",
	    (long long)ext);
	MPI_OK(MPI_File_close(&fh));
}

/* A count beyond INT_MAX that costs no memory: a zero-size datatype. */
static void
beyond_int(void)
{
	MPI_Count huge = (MPI_Count)INT_MAX + 12345;
	MPI_Datatype empty;
	MPI_Status st;
	char b = 0;

	MPI_OK(MPI_Type_contiguous(0, MPI_INT, &empty));
	MPI_OK(MPI_Type_commit(&empty));
	if (rank == 0 && size > 1)
		MPI_OK(MPI_Send_c(&b, huge, empty, 1, 4, MPI_COMM_WORLD));
	if (rank == 1) {
		MPI_OK(MPI_Recv_c(&b, huge, empty, 0, 4, MPI_COMM_WORLD, &st));
		counted("Recv_c beyond INT_MAX", &st, MPI_BYTE, 0);
	}
	MPI_OK(MPI_Bcast_c(&b, huge, empty, 0, MPI_COMM_WORLD));
	MPI_Type_free(&empty);
}

static void
refuse(void)
{
	MPI_Count *cnt = malloc(size * sizeof(MPI_Count));
	MPI_Aint *dsp = calloc(size, sizeof(MPI_Aint));
	int x[4] = { 0 }, y[4], rc, cls = -1, i;

	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	for (i = 0; i < size; i++)
		cnt[i] = 1;
	cnt[size - 1] = (MPI_Count)INT_MAX + 5;
	rc = MPI_Allgatherv_c(x, 1, MPI_INT, y, cnt, dsp, MPI_INT,
	    MPI_COMM_WORLD);
	MPI_Error_class(rc, &cls);
	CHECK(cls == MPI_ERR_COUNT, "Allgatherv_c beyond INT_MAX: rc %d "
	    "class %d", rc, cls);
	rc = MPI_Allreduce_c(x, y, (MPI_Count)3 << 30, MPI_INT, MPI_SUM,
	    MPI_COMM_WORLD);
	MPI_Error_class(rc, &cls);
	CHECK(cls == MPI_ERR_COUNT, "Allreduce_c beyond INT_MAX: rc %d "
	    "class %d", rc, cls);
	/* still usable afterwards */
	MPI_OK(MPI_Allreduce_c(x, y, 4, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
	if (rank == 0)
		printf("large_count: refused as MPI_ERR_COUNT\n");
	free(cnt);
	free(dsp);
}

int
main(int argc, char **argv)
{
	uint64_t all;
	int errs = 0;

	rank = ex_init(&argc, &argv, &size);
	if (size > 64 || argc < 2) {
		fprintf(stderr, "usage: large_count FILE [refuse] (at most 64 "
		    "ranks)\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	p2p();
	coll();
	rma();
	file(argv[1]);
	beyond_int();
	if (argc > 2 && strcmp(argv[2], "refuse") == 0)
		refuse();
	MPI_OK(MPI_Reduce(&sum, &all, 1, MPI_UINT64_T, MPI_BXOR, 0,
	    MPI_COMM_WORLD));
	MPI_OK(MPI_Allreduce(&ex_errs, &errs, 1, MPI_INT, MPI_SUM,
	    MPI_COMM_WORLD));
	if (rank == 0 && errs)
		printf("large_count: FAILED %d checks\n", errs);
	else if (rank == 0)
		printf("large_count: OK checksum %llu\n",
		    (unsigned long long)all);
	MPI_Finalize();
	return errs != 0;
}
