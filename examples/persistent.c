/* SPDX-License-Identifier: Apache-2.0 */
/* Persistent requests around the ring: Send_init/Recv_init started with
 * Startall, Ssend_init/Recv_init started one by one, and a 1 MiB pair
 * (a record Open MPI moves by single copy), the buffers changing every
 * iteration; completion by Waitall, Wait and a Test loop; the requests
 * are freed with Request_free at the end. */
#include "example_util.h"

#define M 64
#define BIG (1 << 18)	/* ints: 1 MiB */
#define ITERS 8

static int
v(int src, int it, int i, int which)
{
	return src * 100000 + it * 1000 + i * 7 + which;
}

int
main(int argc, char **argv)
{
	MPI_Request ra[2], rb[2], rc[2];
	MPI_Status st[2];
	int a_out[M], a_in[M], rank, size, left, right, it, i, flag, count;
	int r, bad;
	double b_out[M / 2], b_in[M / 2];
	int *c_out = malloc(BIG * sizeof(int)), *c_in = malloc(BIG *
	    sizeof(int));
	uint64_t sum = FNV_INIT;

	rank = ex_init(&argc, &argv, &size);
	CHECK(c_out != NULL && c_in != NULL, "out of memory");
	right = (rank + 1) % size;
	left = (rank - 1 + size) % size;

	MPI_Recv_init(a_in, M, MPI_INT, left, 5, MPI_COMM_WORLD, &ra[0]);
	MPI_Send_init(a_out, M, MPI_INT, right, 5, MPI_COMM_WORLD, &ra[1]);
	MPI_Recv_init(b_in, M / 2, MPI_DOUBLE, right, 6, MPI_COMM_WORLD,
	    &rb[0]);
	MPI_Ssend_init(b_out, M / 2, MPI_DOUBLE, left, 6, MPI_COMM_WORLD,
	    &rb[1]);
	MPI_Recv_init(c_in, BIG, MPI_INT, left, 7, MPI_COMM_WORLD, &rc[0]);
	MPI_Send_init(c_out, BIG, MPI_INT, right, 7, MPI_COMM_WORLD, &rc[1]);

	for (it = 0; it < ITERS; it++) {
		/* New contents every time: the request must send them. */
		for (i = 0; i < M; i++)
			a_out[i] = v(rank, it, i, 1);
		for (i = 0; i < M / 2; i++)
			b_out[i] = v(rank, it, i, 2) + 0.25;
		for (i = 0; i < BIG; i++)
			c_out[i] = v(rank, it, i, 3);
		memset(a_in, 0, sizeof(a_in));
		memset(b_in, 0, sizeof(b_in));
		memset(c_in, 0, BIG * sizeof(int));

		MPI_Startall(2, rc);
		MPI_Startall(2, ra);
		MPI_Start(&rb[0]);
		MPI_Start(&rb[1]);

		MPI_Waitall(2, ra, st);
		CHECK(ra[0] != MPI_REQUEST_NULL && ra[1] != MPI_REQUEST_NULL,
		    "Waitall freed a persistent request");
		CHECK(st[0].MPI_SOURCE == left && st[0].MPI_TAG == 5,
		    "status %d/%d", st[0].MPI_SOURCE, st[0].MPI_TAG);
		MPI_Get_count(&st[0], MPI_INT, &count);
		CHECK(count == M, "count %d", count);
		for (i = 0, bad = -1; i < M; i++)
			if (a_in[i] != v(left, it, i, 1) && bad < 0)
				bad = i;
		CHECK(bad < 0, "iteration %d: int %d from %d wrong", it, bad,
		    left);

		if (it % 2 == 0) {
			MPI_Wait(&rb[1], MPI_STATUS_IGNORE);
			MPI_Wait(&rb[0], &st[0]);
		} else {
			for (flag = 0; !flag;)
				MPI_Test(&rb[0], &flag, &st[0]);
			for (flag = 0; !flag;)
				MPI_Test(&rb[1], &flag, MPI_STATUS_IGNORE);
		}
		MPI_Get_count(&st[0], MPI_DOUBLE, &count);
		CHECK(count == M / 2, "count %d", count);
		for (i = 0, bad = -1; i < M / 2; i++)
			if (b_in[i] != v(right, it, i, 2) + 0.25 && bad < 0)
				bad = i;
		CHECK(bad < 0, "iteration %d: double %d from %d wrong", it,
		    bad, right);
		MPI_Waitall(2, rc, MPI_STATUSES_IGNORE);
		for (i = 0, bad = -1; i < BIG; i++)
			if (c_in[i] != v(left, it, i, 3) && bad < 0)
				bad = i;
		CHECK(bad < 0, "iteration %d: large int %d from %d wrong", it,
		    bad, left);
		sum = fnv(sum, a_in, sizeof(a_in));
		sum = fnv(sum, b_in, sizeof(b_in));
		sum = fnv(sum, c_in, BIG * sizeof(int));
	}
	for (i = 0; i < 2; i++) {
		MPI_Request_free(&ra[i]);
		MPI_Request_free(&rb[i]);
		MPI_Request_free(&rc[i]);
		CHECK(ra[i] == MPI_REQUEST_NULL && rb[i] == MPI_REQUEST_NULL &&
		    rc[i] == MPI_REQUEST_NULL, "Request_free left a handle");
	}
	free(c_out);
	free(c_in);
	if (rank == 0)
		printf("persistent: %d ranks, %d iterations of Startall + "
		    "Start/Start, Waitall, Wait and Test, 1 MiB pair\n", size,
		    ITERS);
	r = ex_finish("persistent", sum);
	MPI_Finalize();
	return r;
}
