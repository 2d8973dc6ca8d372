/* SPDX-License-Identifier: Apache-2.0 */
/* Ping-pong between rank pairs (0,1), (2,3), ... at 0 B .. 4 MiB, as bytes
 * and as doubles; every byte that comes back is checked. */
#include "example_util.h"

static const int sizes[] = { 0, 1, 1000, 1 << 20, 4 << 20 };
#define NSIZES ((int)(sizeof(sizes) / sizeof(sizes[0])))
#define ROUNDS 2
#define MAXSZ (4 << 20)

static unsigned char
pat(int i, int seed)
{
	return (unsigned char)(i * 7 + seed * 13 + (i >> 9));
}

static void
fill(unsigned char *b, int n, int seed)
{
	int i;

	for (i = 0; i < n; i++)
		b[i] = pat(i, seed);
}

/* Index of the first wrong byte, or -1. */
static int
bad_byte(const unsigned char *b, int n, int seed)
{
	int i;

	for (i = 0; i < n; i++)
		if (b[i] != pat(i, seed))
			return i;
	return -1;
}

int
main(int argc, char **argv)
{
	unsigned char *buf;
	double *dbuf;
	uint64_t sum = FNV_INIT;
	int rank, size, peer, s, r, i, n, seed, bad, count, ndbl;
	MPI_Status st;

	rank = ex_init(&argc, &argv, &size);
	CHECK(size >= 2, "needs at least 2 ranks, got %d", size);
	peer = (rank ^ 1) < size ? (rank ^ 1) : MPI_PROC_NULL;
	buf = malloc(MAXSZ + 64);
	dbuf = malloc(MAXSZ);
	if (buf == NULL || dbuf == NULL)
		MPI_Abort(MPI_COMM_WORLD, 2);

	for (s = 0; s < NSIZES && peer != MPI_PROC_NULL; s++) {
		n = sizes[s];
		for (r = 0; r < ROUNDS; r++) {
			seed = s * 10 + r + rank / 2;
			if (rank % 2 == 0) {
				fill(buf, n, seed);
				MPI_Send(buf, n, MPI_BYTE, peer, s,
				    MPI_COMM_WORLD);
				memset(buf, 0xEE, n + 64);
				/* room to spare: the count must say n */
				MPI_Recv(buf, n + 64, MPI_BYTE, peer, s,
				    MPI_COMM_WORLD, &st);
				MPI_Get_count(&st, MPI_BYTE, &count);
				CHECK(count == n, "size %d: pong count %d", n,
				    count);
				CHECK(st.MPI_SOURCE == peer && st.MPI_TAG == s,
				    "pong status source %d tag %d",
				    st.MPI_SOURCE, st.MPI_TAG);
				bad = bad_byte(buf, n, seed + 100);
				CHECK(bad < 0, "size %d: pong byte %d wrong", n,
				    bad);
				CHECK(buf[n] == 0xEE, "size %d: byte past the "
				    "message overwritten", n);
			} else {
				memset(buf, 0xEE, n + 64);
				MPI_Recv(buf, MAXSZ, MPI_BYTE, peer, s,
				    MPI_COMM_WORLD, &st);
				MPI_Get_count(&st, MPI_BYTE, &count);
				CHECK(count == n, "size %d: ping count %d", n,
				    count);
				bad = bad_byte(buf, n, seed);
				CHECK(bad < 0, "size %d: ping byte %d wrong", n,
				    bad);
				CHECK(buf[n] == 0xEE, "size %d: byte past the "
				    "message overwritten", n);
				fill(buf, n, seed + 100);
				MPI_Send(buf, n, MPI_BYTE, peer, s,
				    MPI_COMM_WORLD);
			}
			sum = fnv(sum, buf, n);
		}

		/* The same size as doubles: typed data, element counts. */
		ndbl = n / (int)sizeof(double);
		if (rank % 2 == 0) {
			for (i = 0; i < ndbl; i++)
				dbuf[i] = i * 0.5 + s;
			MPI_Send(dbuf, ndbl, MPI_DOUBLE, peer, 100 + s,
			    MPI_COMM_WORLD);
			MPI_Recv(dbuf, ndbl, MPI_DOUBLE, peer, 100 + s,
			    MPI_COMM_WORLD, &st);
			MPI_Get_count(&st, MPI_DOUBLE, &count);
			CHECK(count == ndbl, "doubles: count %d of %d", count,
			    ndbl);
			for (i = 0, bad = -1; i < ndbl && bad < 0; i++)
				if (dbuf[i] != -(i * 0.5 + s))
					bad = i;
			CHECK(bad < 0, "doubles: element %d wrong", bad);
		} else {
			MPI_Recv(dbuf, ndbl, MPI_DOUBLE, peer, 100 + s,
			    MPI_COMM_WORLD, &st);
			MPI_Get_count(&st, MPI_DOUBLE, &count);
			CHECK(count == ndbl, "doubles: count %d of %d", count,
			    ndbl);
			for (i = 0, bad = -1; i < ndbl; i++) {
				if (dbuf[i] != i * 0.5 + s && bad < 0)
					bad = i;
				dbuf[i] = -dbuf[i];
			}
			CHECK(bad < 0, "doubles: element %d wrong", bad);
			MPI_Send(dbuf, ndbl, MPI_DOUBLE, peer, 100 + s,
			    MPI_COMM_WORLD);
		}
		sum = fnv(sum, dbuf, (size_t)ndbl * sizeof(double));
	}

	if (rank == 0) {
		printf("pingpong: %d pair(s), sizes", size / 2);
		for (s = 0; s < NSIZES; s++)
			printf(" %d", sizes[s]);
		printf(", %d round trips each as MPI_BYTE + 1 as MPI_DOUBLE\n",
		    ROUNDS);
	}
	free(buf);
	free(dbuf);
	r = ex_finish("pingpong", sum);
	MPI_Finalize();
	return r;
}
