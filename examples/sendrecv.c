/* SPDX-License-Identifier: Apache-2.0 */
/* MPI_Sendrecv and MPI_Sendrecv_replace: shifts around the ring, an open
 * line whose ends talk to MPI_PROC_NULL, zero-length messages, a derived
 * type on one or both sides, and a rank talking to itself on
 * MPI_COMM_SELF. */
#include "example_util.h"

#define N 32
#define LAPS 3

static int rank, size;

int
main(int argc, char **argv)
{
	int out[N], in[N], rep[N], left, right, lo, hi, lap, i, count, r;
	int sent[6], grid[9];
	MPI_Datatype pairs;
	MPI_Status st;
	uint64_t sum = FNV_INIT;

	rank = ex_init(&argc, &argv, &size);
	right = (rank + 1) % size;
	left = (rank - 1 + size) % size;

	/* Sendrecv: shift right; after LAPS shifts we hold rank-LAPS's. */
	for (i = 0; i < N; i++)
		out[i] = rank * 1000 + i;
	for (lap = 0; lap < LAPS; lap++) {
		MPI_Sendrecv(out, N, MPI_INT, right, 1, in, N, MPI_INT, left,
		    1, MPI_COMM_WORLD, &st);
		MPI_Get_count(&st, MPI_INT, &count);
		CHECK(count == N && st.MPI_SOURCE == left && st.MPI_TAG == 1,
		    "Sendrecv status: count %d source %d tag %d", count,
		    st.MPI_SOURCE, st.MPI_TAG);
		memcpy(out, in, sizeof(in));
	}
	for (i = 0; i < N; i++)
		CHECK(in[i] == ((rank - LAPS) % size + size) % size * 1000 + i,
		    "Sendrecv: int %d is %d", i, in[i]);
	sum = fnv(sum, in, sizeof(in));

	/* Sendrecv_replace: shift left, twice, in place. */
	for (i = 0; i < N; i++)
		rep[i] = rank * 7 + i * 3;
	for (lap = 0; lap < 2; lap++) {
		MPI_Sendrecv_replace(rep, N, MPI_INT, left, 2, right, 2,
		    MPI_COMM_WORLD, &st);
		MPI_Get_count(&st, MPI_INT, &count);
		CHECK(count == N && st.MPI_SOURCE == right, "replace status: "
		    "count %d source %d", count, st.MPI_SOURCE);
	}
	for (i = 0; i < N; i++)
		CHECK(rep[i] == (rank + 2) % size * 7 + i * 3,
		    "Sendrecv_replace: int %d is %d", i, rep[i]);
	sum = fnv(sum, rep, sizeof(rep));

	/* An open line: the ends send to / receive from MPI_PROC_NULL. */
	lo = rank > 0 ? rank - 1 : MPI_PROC_NULL;
	hi = rank < size - 1 ? rank + 1 : MPI_PROC_NULL;
	for (i = 0; i < N; i++) {
		out[i] = rank * 100 + i;
		in[i] = -1;
	}
	MPI_Sendrecv(out, N, MPI_INT, hi, 3, in, N, MPI_INT, lo, 3,
	    MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, MPI_INT, &count);
	if (lo == MPI_PROC_NULL) {
		CHECK(st.MPI_SOURCE == MPI_PROC_NULL &&
		    st.MPI_TAG == MPI_ANY_TAG && count == 0,
		    "PROC_NULL status: source %d tag %d count %d",
		    st.MPI_SOURCE, st.MPI_TAG, count);
		for (i = 0; i < N; i++)
			CHECK(in[i] == -1, "PROC_NULL receive wrote int %d", i);
	} else {
		CHECK(count == N && st.MPI_SOURCE == lo, "line: count %d "
		    "source %d", count, st.MPI_SOURCE);
		for (i = 0; i < N; i++)
			CHECK(in[i] == lo * 100 + i, "line: int %d is %d", i,
			    in[i]);
	}
	sum = fnv(sum, in, sizeof(in));
	/* ... and back down the line with replace. */
	for (i = 0; i < N; i++)
		rep[i] = rank * 100 + 50 + i;
	MPI_Sendrecv_replace(rep, N, MPI_INT, lo, 4, hi, 4, MPI_COMM_WORLD,
	    &st);
	for (i = 0; i < N; i++)
		CHECK(rep[i] == (hi == MPI_PROC_NULL ? rank : hi) * 100 + 50 + i,
		    "line replace: int %d is %d", i, rep[i]);
	sum = fnv(sum, rep, sizeof(rep));

	/* Zero-length messages, into an empty and a non-empty buffer. */
	for (i = 0; i < N; i++)
		in[i] = -2;
	MPI_Sendrecv(out, 0, MPI_INT, right, 5, in, 0, MPI_INT, left, 5,
	    MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, MPI_INT, &count);
	CHECK(count == 0 && st.MPI_SOURCE == left && st.MPI_TAG == 5,
	    "empty: count %d source %d tag %d", count, st.MPI_SOURCE,
	    st.MPI_TAG);
	MPI_Sendrecv(out, 0, MPI_INT, right, 6, in, N, MPI_INT, left, 6,
	    MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, MPI_INT, &count);
	CHECK(count == 0, "empty into %d: count %d", N, count);
	for (i = 0; i < N; i++)
		CHECK(in[i] == -2, "empty message wrote int %d", i);
	MPI_Sendrecv_replace(in, 0, MPI_INT, right, 7, left, 7,
	    MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, MPI_INT, &count);
	CHECK(count == 0, "empty replace: count %d", count);

	/* Derived types: 6 contiguous ints into 3 pairs of a 3x3 grid's
	 * first two columns, and replace with that type. */
	MPI_Type_vector(3, 2, 3, MPI_INT, &pairs);
	MPI_Type_commit(&pairs);
	for (i = 0; i < 6; i++)
		sent[i] = rank * 10 + i;
	for (i = 0; i < 9; i++)
		grid[i] = -3;
	MPI_Sendrecv(sent, 6, MPI_INT, right, 8, grid, 1, pairs, left, 8,
	    MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, pairs, &count);
	CHECK(count == 1, "pairs: count %d", count);
	for (i = 0; i < 9; i++)
		CHECK(grid[i] == (i % 3 == 2 ? -3 : left * 10 + i / 3 * 2 +
		    i % 3), "pairs: grid[%d] is %d", i, grid[i]);
	for (i = 0; i < 9; i++)
		grid[i] = rank * 10 + i;
	MPI_Sendrecv_replace(grid, 1, pairs, right, 9, left, 9,
	    MPI_COMM_WORLD, &st);
	for (i = 0; i < 9; i++)
		CHECK(grid[i] == (i % 3 == 2 ? rank : left) * 10 + i,
		    "pairs replace: grid[%d] is %d", i, grid[i]);
	sum = fnv(sum, grid, sizeof(grid));
	MPI_Type_free(&pairs);

	/* To oneself on MPI_COMM_SELF. */
	for (i = 0; i < N; i++)
		out[i] = rank * 3 + i;
	MPI_Sendrecv(out, N, MPI_INT, 0, 10, in, N, MPI_INT, 0, 10,
	    MPI_COMM_SELF, &st);
	CHECK(memcmp(in, out, sizeof(in)) == 0 && st.MPI_SOURCE == 0,
	    "COMM_SELF Sendrecv");
	MPI_Sendrecv_replace(out, N, MPI_INT, 0, 11, 0, 11, MPI_COMM_SELF,
	    &st);
	CHECK(memcmp(in, out, sizeof(in)) == 0, "COMM_SELF replace");
	sum = fnv(sum, in, sizeof(in));

	if (rank == 0)
		printf("sendrecv: ring of %d, %d laps, line with PROC_NULL "
		    "ends, empty, derived and COMM_SELF messages\n", size,
		    LAPS);
	r = ex_finish("sendrecv", sum);
	MPI_Finalize();
	return r;
}
