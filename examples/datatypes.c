/* SPDX-License-Identifier: Apache-2.0 */
/* Non-contiguous data around the ring: MPI_Type_vector (a matrix column,
 * strided blocks), MPI_Type_create_struct (an array of structs with
 * padding), MPI_Type_indexed; sent and received with derived types on
 * either or both sides, checked element by element, holes included. */
#include <stddef.h>

#include "example_util.h"

#define ROWS 8
#define COLS 6
#define HOLE (-7777)

struct particle {
	int id;
	double pos[3];
	char label[5];
};
#define NP 5

static int rank, size, left, right;

/* Irecv from the left, Send to the right, Wait: no deadlock. */
static void
shift(const void *sbuf, int scount, MPI_Datatype stype, void *rbuf,
    int rcount, MPI_Datatype rtype, int tag, MPI_Status *st)
{
	MPI_Request req;

	MPI_Irecv(rbuf, rcount, rtype, left, tag, MPI_COMM_WORLD, &req);
	MPI_Send(sbuf, scount, stype, right, tag, MPI_COMM_WORLD);
	MPI_Wait(&req, st);
}

static double
mval(int who, int r, int c)
{
	return who * 1000.0 + r * 10.0 + c + 0.5;
}

static uint64_t
test_vector(uint64_t sum)
{
	double a[ROWS][COLS], col[ROWS], b[ROWS][COLS];
	int s[40], d[40], i, r, c, count;
	MPI_Datatype column, blocks;
	MPI_Status st;

	for (r = 0; r < ROWS; r++)
		for (c = 0; c < COLS; c++)
			a[r][c] = mval(rank, r, c);
	MPI_Type_vector(ROWS, 1, COLS, MPI_DOUBLE, &column);
	MPI_Type_commit(&column);

	/* A column into a contiguous array. */
	memset(col, 0, sizeof(col));
	shift(&a[0][2], 1, column, col, ROWS, MPI_DOUBLE, 10, &st);
	MPI_Get_count(&st, MPI_DOUBLE, &count);
	CHECK(count == ROWS, "column: count %d", count);
	for (r = 0; r < ROWS; r++)
		CHECK(col[r] == mval(left, r, 2), "column row %d: %g", r,
		    col[r]);
	sum = fnv(sum, col, sizeof(col));

	/* A contiguous array into a column (of another matrix). */
	for (r = 0; r < ROWS; r++)
		for (c = 0; c < COLS; c++)
			b[r][c] = HOLE;
	shift(&a[3][0], ROWS, MPI_DOUBLE, &b[0][4], 1, column, 11, &st);
	MPI_Get_count(&st, column, &count);
	CHECK(count == 1, "into column: count %d", count);
	for (r = 0; r < ROWS; r++)
		for (c = 0; c < COLS; c++) {
			/* a[3][0..7] runs over rows 3 and 4 of the sender */
			double want = c != 4 ? HOLE :
			    mval(left, 3 + (r / COLS), r % COLS);

			CHECK(b[r][c] == want, "into column [%d][%d]: %g, "
			    "expected %g", r, c, b[r][c], want);
		}
	sum = fnv(sum, b, sizeof(b));

	/* Strided blocks both sides: 2 x (4 blocks of 2, stride 5). */
	MPI_Type_vector(4, 2, 5, MPI_INT, &blocks);
	MPI_Type_commit(&blocks);
	for (i = 0; i < 40; i++) {
		s[i] = rank * 1000 + i;
		d[i] = HOLE;
	}
	shift(s, 2, blocks, d, 2, blocks, 12, &st);
	MPI_Get_count(&st, blocks, &count);
	CHECK(count == 2, "blocks: count %d", count);
	MPI_Get_elements(&st, blocks, &count);
	CHECK(count == 16, "blocks: %d elements", count);
	{
		MPI_Aint lb, extent;
		int per;

		MPI_Type_get_extent(blocks, &lb, &extent);
		per = (int)(extent / (MPI_Aint)sizeof(int));	/* 17 */
		for (i = 0; i < 40; i++) {
			int k = i % per, in = i < 2 * per && k % 5 < 2 &&
			    k / 5 < 4;

			CHECK(d[i] == (in ? left * 1000 + i : HOLE),
			    "blocks: int %d is %d", i, d[i]);
		}
	}
	sum = fnv(sum, d, sizeof(d));
	MPI_Type_free(&blocks);
	MPI_Type_free(&column);
	return sum;
}

/* "p<rank digit>.<i>" */
static void
make_label(char *l, int who, int i)
{
	l[0] = 'p';
	l[1] = (char)('0' + who % 10);
	l[2] = '.';
	l[3] = (char)('0' + i % 10);
	l[4] = '\0';
}

static uint64_t
test_struct(uint64_t sum)
{
	struct particle out[NP], in[NP];
	int bl[3] = { 1, 3, 5 }, i, j, count;
	MPI_Aint disp[3] = { offsetof(struct particle, id),
	    offsetof(struct particle, pos), offsetof(struct particle, label) };
	MPI_Datatype types[3] = { MPI_INT, MPI_DOUBLE, MPI_CHAR }, t0, pt;
	MPI_Status st;

	MPI_Type_create_struct(3, bl, disp, types, &t0);
	MPI_Type_create_resized(t0, 0, sizeof(struct particle), &pt);
	MPI_Type_commit(&pt);
	MPI_Type_free(&t0);
	memset(out, 0, sizeof(out));
	for (i = 0; i < NP; i++) {
		out[i].id = rank * 100 + i;
		for (j = 0; j < 3; j++)
			out[i].pos[j] = rank + i * 0.125 + j * 100;
		make_label(out[i].label, rank, i);
	}
	/* Poison the receive side, padding included. */
	memset(in, 0xA5, sizeof(in));
	shift(out, NP, pt, in, NP, pt, 20, &st);
	MPI_Get_count(&st, pt, &count);
	CHECK(count == NP, "struct: count %d", count);
	MPI_Get_elements(&st, pt, &count);
	CHECK(count == NP * 9, "struct: %d elements", count);
	for (i = 0; i < NP; i++) {
		char want[5];

		make_label(want, left, i);
		CHECK(in[i].id == left * 100 + i, "struct %d: id %d", i,
		    in[i].id);
		for (j = 0; j < 3; j++)
			CHECK(in[i].pos[j] == left + i * 0.125 + j * 100,
			    "struct %d: pos[%d] %g", i, j, in[i].pos[j]);
		CHECK(memcmp(in[i].label, want, 5) == 0, "struct %d: label "
		    "'%.5s'", i, in[i].label);
		sum = fnv(sum, &in[i].id, sizeof(int));
		sum = fnv(sum, in[i].pos, sizeof(in[i].pos));
		sum = fnv(sum, in[i].label, sizeof(in[i].label));
	}
	/* The padding after id is not part of the type: untouched. */
	if (offsetof(struct particle, pos) > sizeof(int)) {
		unsigned char *p = (unsigned char *)&in[1] + sizeof(int);

		CHECK(*p == 0xA5, "struct padding written");
	}
	MPI_Type_free(&pt);
	return sum;
}

static uint64_t
test_indexed(uint64_t sum)
{
	int bl[3] = { 1, 3, 2 }, dp[3] = { 0, 4, 10 }, s[12], d[12], c6[6];
	int i, count;
	static const int picked[6] = { 0, 4, 5, 6, 10, 11 };
	MPI_Datatype idx;
	MPI_Status st;

	MPI_Type_indexed(3, bl, dp, MPI_INT, &idx);
	MPI_Type_commit(&idx);
	for (i = 0; i < 12; i++) {
		s[i] = rank * 50 + i;
		d[i] = HOLE;
	}
	/* indexed -> contiguous */
	shift(s, 1, idx, c6, 6, MPI_INT, 30, &st);
	MPI_Get_count(&st, MPI_INT, &count);
	CHECK(count == 6, "indexed: count %d", count);
	for (i = 0; i < 6; i++)
		CHECK(c6[i] == left * 50 + picked[i], "indexed -> contig %d: "
		    "%d", i, c6[i]);
	/* indexed -> indexed */
	shift(s, 1, idx, d, 1, idx, 31, &st);
	for (i = 0; i < 12; i++) {
		int in = i == 0 || (i >= 4 && i <= 6) || i >= 10;

		CHECK(d[i] == (in ? left * 50 + i : HOLE), "indexed -> "
		    "indexed %d: %d", i, d[i]);
	}
	/* contiguous -> indexed */
	for (i = 0; i < 12; i++)
		d[i] = HOLE;
	for (i = 0; i < 6; i++)
		c6[i] = rank * 50 + 40 + i;
	shift(c6, 6, MPI_INT, d, 1, idx, 32, &st);
	for (i = 0; i < 6; i++)
		CHECK(d[picked[i]] == left * 50 + 40 + i, "contig -> indexed "
		    "%d: %d", i, d[picked[i]]);
	CHECK(d[1] == HOLE && d[2] == HOLE && d[3] == HOLE && d[7] == HOLE &&
	    d[8] == HOLE && d[9] == HOLE, "indexed holes written");
	sum = fnv(sum, c6, sizeof(c6));
	sum = fnv(sum, d, sizeof(d));
	MPI_Type_free(&idx);
	return sum;
}

/*
 * MPI_Type_free with operations pending: they complete with the type as
 * it was (MPI-3.1 4.1.9). A strided receive and a persistent strided
 * send are set up, the types freed, then the requests run.
 */
static uint64_t
test_freed_type(uint64_t sum)
{
	double src[2 * ROWS], dst[2 * ROWS];
	MPI_Datatype every2, every2s;
	MPI_Request rq[2];
	int i;

	for (i = 0; i < 2 * ROWS; i++) {
		src[i] = rank * 100.0 + i;
		dst[i] = -1.0;
	}
	MPI_Type_vector(ROWS, 1, 2, MPI_DOUBLE, &every2);
	MPI_Type_commit(&every2);
	MPI_Type_dup(every2, &every2s);
	MPI_Irecv(dst, 1, every2, left, 31, MPI_COMM_WORLD, &rq[0]);
	MPI_Send_init(src, 1, every2s, right, 31, MPI_COMM_WORLD, &rq[1]);
	MPI_Type_free(&every2);
	MPI_Type_free(&every2s);
	MPI_Start(&rq[1]);
	MPI_Waitall(2, rq, MPI_STATUSES_IGNORE);
	MPI_Request_free(&rq[1]);
	for (i = 0; i < 2 * ROWS; i++) {
		double want = i % 2 ? -1.0 : left * 100.0 + i;

		CHECK(dst[i] == want, "freed type: element %d is %g, not %g",
		    i, dst[i], want);
		sum = fnv_u64(sum, (uint64_t)(int64_t)dst[i]);
	}
	return sum;
}

int
main(int argc, char **argv)
{
	uint64_t sum = FNV_INIT;
	int r;

	rank = ex_init(&argc, &argv, &size);
	right = (rank + 1) % size;
	left = (rank - 1 + size) % size;
	sum = test_vector(sum);
	sum = test_struct(sum);
	sum = test_indexed(sum);
	sum = test_freed_type(sum);
	if (rank == 0)
		printf("datatypes: vector, struct, indexed around a ring of "
		    "%d\n", size);
	r = ex_finish("datatypes", sum);
	MPI_Finalize();
	return r;
}
