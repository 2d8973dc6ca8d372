/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MPI-4 calls of MPICH that libesmpi seals (issue 18), on 3 ranks:
 *
 *   - MPI_Isendrecv and MPI_Isendrecv_replace around a ring, and their
 *     _c forms, a strided receive type, one half to MPI_PROC_NULL
 *     (statuses not checked: MPICH 4.0.2's own Isendrecv leaves them
 *     empty, source 0, tag 0, count 0);
 *   - partitioned point-to-point, rank 0 to rank 1: 8 partitions of 100
 *     ints sent, 4 of 200 received, two Starts (Pready in reverse order;
 *     Pready_range and Pready_list); Parrived false before the sender
 *     marked anything, and data there once it says true;
 *   - the persistent v/w collectives' _init_c forms (Allgatherv,
 *     Alltoallv, Alltoallw, Gatherv, Scatterv, Reduce_scatter and the
 *     neighbourhood ones on a periodic ring), each started twice;
 *   - MPI_Register_datarep_c (passed through to MPICH).
 *
 * Then four lines that differ with and without libesmpi, for the test:
 * rank 1 receives rank 0's MPI_Isendrecv message by PMPI_Recv (under
 * libesmpi: what went on the wire) and reports whether a marker is in
 * it; rank 0 sends rank 1 bytes by PMPI_Send that rank 1 receives by
 * MPI_Isendrecv: under libesmpi a forged record, refused; and the same
 * two for a partitioned message (PMPI_Precv_init of the size on the wire,
 * 64 bytes plus what libesmpi added to the Isendrecv's; PMPI_Psend_init
 * of forged bytes that size, which MPI_Parrived must not report).
 */
#include <string.h>

#include "example_util.h"

#define N	64
#define PN	100	/* ints per send partition */

static int rank, size;
static uint64_t sum = FNV_INIT;

static void
isendrecv(void)
{
	int right = (rank + 1) % size, left = (rank + size - 1) % size, i;
	int s[N], r[2 * N], b[N], flag, idx;
	MPI_Datatype vec;
	MPI_Request rq;

	for (i = 0; i < N; i++)
		s[i] = rank * 1000 + i;
	memset(r, 0, sizeof(r));
	MPI_OK(MPI_Isendrecv(s, N, MPI_INT, right, 5, r, N, MPI_INT, left, 5,
	    MPI_COMM_WORLD, &rq));
	MPI_OK(MPI_Wait(&rq, MPI_STATUS_IGNORE));
	for (i = 0; i < N; i++)
		CHECK(r[i] == left * 1000 + i, "Isendrecv r[%d] = %d", i,
		    r[i]);
	sum = fnv(sum, r, N * sizeof(int));

	/* Strided receive: every other int. */
	MPI_OK(MPI_Type_vector(N, 1, 2, MPI_INT, &vec));
	MPI_OK(MPI_Type_commit(&vec));
	memset(r, 0, sizeof(r));
	MPI_OK(MPI_Isendrecv(s, N, MPI_INT, right, 6, r, 1, vec, left, 6,
	    MPI_COMM_WORLD, &rq));
	MPI_OK(MPI_Type_free(&vec));	/* still in use: MPI allows it */
	for (flag = 0; flag == 0;)	/* by Testsome */
		MPI_OK(MPI_Testsome(1, &rq, &flag, &idx, MPI_STATUSES_IGNORE));
	for (i = 0; i < N; i++)
		CHECK(r[2 * i] == left * 1000 + i && r[2 * i + 1] == 0,
		    "strided r[%d] = %d", 2 * i, r[2 * i]);

	/* Replace: the same buffer out and in, twice around. */
	memcpy(b, s, sizeof(b));
	MPI_OK(MPI_Isendrecv_replace(b, N, MPI_INT, right, 7, left, 7,
	    MPI_COMM_WORLD, &rq));
	/* Completed by a Test loop this time. */
	for (flag = 0; !flag;)
		MPI_OK(MPI_Test(&rq, &flag, MPI_STATUS_IGNORE));
	MPI_OK(MPI_Isendrecv_replace_c(b, N, MPI_INT, right, 8, left, 8,
	    MPI_COMM_WORLD, &rq));
	MPI_OK(MPI_Waitall(1, &rq, MPI_STATUSES_IGNORE));
	for (i = 0; i < N; i++)
		CHECK(b[i] == ((rank + 2 * size - 2) % size) * 1000 + i,
		    "replace b[%d] = %d", i, b[i]);
	sum = fnv(sum, b, sizeof(b));

	/* _c form; a send to MPI_PROC_NULL at the ring's end. */
	memset(r, 0, sizeof(r));
	MPI_OK(MPI_Isendrecv_c(s, N, MPI_INT, rank == size - 1 ?
	    MPI_PROC_NULL : right, 9, r, N, MPI_INT, rank == 0 ?
	    MPI_PROC_NULL : left, 9, MPI_COMM_WORLD, &rq));
	MPI_OK(MPI_Waitany(1, &rq, &idx, MPI_STATUS_IGNORE));
	for (i = 0; i < N; i++)
		CHECK(r[i] == (rank == 0 ? 0 : left * 1000 + i),
		    "Isendrecv_c r[%d] = %d", i, r[i]);
	sum = fnv(sum, r, N * sizeof(int));
}

static void
partitioned(void)
{
	int *buf = calloc(8 * PN, sizeof(int)), i, round, flag, list[4];
	MPI_Request rq;

	if (size < 2 || rank > 1) {
		free(buf);
		return;
	}
	if (rank == 0)
		MPI_OK(MPI_Psend_init(buf, 8, PN, MPI_INT, 1, 3,
		    MPI_COMM_WORLD, MPI_INFO_NULL, &rq));
	else
		MPI_OK(MPI_Precv_init(buf, 4, 2 * PN, MPI_INT, 0, 3,
		    MPI_COMM_WORLD, MPI_INFO_NULL, &rq));
	for (round = 0; round < 2; round++) {
		if (rank == 0)
			for (i = 0; i < 8 * PN; i++)
				buf[i] = round * 100000 + i;
		else
			memset(buf, 0, 8 * PN * sizeof(int));
		MPI_OK(MPI_Start(&rq));
		if (rank == 1) {
			flag = -1;
			MPI_OK(MPI_Parrived(rq, 0, &flag));
			CHECK(flag == 0, "Parrived %d before any Pready", flag);
		}
		/* Rank 0 marks after rank 1's first Parrived. */
		MPI_OK(MPI_Sendrecv(NULL, 0, MPI_INT, 1 - rank, 4, NULL, 0,
		    MPI_INT, 1 - rank, 4, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
		if (rank == 0 && round == 0) {
			for (i = 7; i >= 0; i--)
				MPI_OK(MPI_Pready(i, rq));
		} else if (rank == 0) {
			MPI_OK(MPI_Pready_range(0, 3, rq));
			for (i = 0; i < 4; i++)
				list[i] = 7 - i;
			MPI_OK(MPI_Pready_list(4, list, rq));
		} else {
			for (flag = 0; !flag;)
				MPI_OK(MPI_Parrived(rq, 3, &flag));
			for (i = 6 * PN; i < 8 * PN; i++)
				CHECK(buf[i] == round * 100000 + i,
				    "arrived partition 3: buf[%d] = %d", i,
				    buf[i]);
		}
		MPI_OK(MPI_Wait(&rq, MPI_STATUS_IGNORE));
		for (i = 0; i < 8 * PN; i++)
			CHECK(buf[i] == round * 100000 + i, "partitioned "
			    "round %d buf[%d] = %d", round, i, buf[i]);
		sum = fnv(sum, buf, 8 * PN * sizeof(int));
	}
	MPI_OK(MPI_Request_free(&rq));
	free(buf);
}

/* Start *rq twice (the buffers refilled by fill between runs). */
static void
twice(MPI_Request *rq, void (*fill)(int), void (*check)(int))
{
	int run;

	for (run = 0; run < 2; run++) {
		fill(run);
		MPI_OK(MPI_Start(rq));
		MPI_OK(MPI_Wait(rq, MPI_STATUS_IGNORE));
		check(run);
	}
	MPI_OK(MPI_Request_free(rq));
}

/* Rank j sends j + 1 ints (value v(j, k, run)) to each peer k. */
static int sb[64], rb[64];
static MPI_Count cnt[8], rcnt[8];
static MPI_Aint dsp[8], rdsp[8];
static MPI_Datatype types[8];

static int
val(int from, int to, int i, int run)
{
	return run * 1000000 + from * 10000 + to * 100 + i;
}

static void
fill_alltoall(int run)
{
	int k, i, at = 0;

	for (k = 0; k < size; k++)
		for (i = 0; i < rank + 1; i++)
			sb[at++] = val(rank, k, i, run);
	memset(rb, 0, sizeof(rb));
}

static void
check_alltoall(int run)
{
	int k, i;

	for (k = 0; k < size; k++)
		for (i = 0; i < k + 1; i++)
			CHECK(rb[rdsp[k] + i] == val(k, rank, i, run),
			    "alltoallv from %d [%d] = %d", k, i,
			    rb[rdsp[k] + i]);
	sum = fnv(sum, rb, sizeof(rb));
}

static void
fill_gather(int run)
{
	int i;

	for (i = 0; i < rank + 1; i++)
		sb[i] = val(rank, 0, i, run);
	memset(rb, 0, sizeof(rb));
}

static void
check_gather(int run)
{
	int k, i;

	for (k = 0; k < size; k++)
		for (i = 0; i < k + 1; i++)
			CHECK(rb[rdsp[k] + i] == val(k, 0, i, run),
			    "gathered from %d [%d] = %d", k, i,
			    rb[rdsp[k] + i]);
	sum = fnv(sum, rb, sizeof(rb));
}

static void
check_gatherv_root(int run)
{
	if (rank == 0)
		check_gather(run);
}

static void
fill_scatter(int run)
{
	int k, i;

	for (k = 0; k < size; k++)
		for (i = 0; i < k + 1; i++)
			sb[rdsp[k] + i] = val(0, k, i, run);
	memset(rb, 0, sizeof(rb));
}

static void
check_scatter(int run)
{
	int i;

	for (i = 0; i < rank + 1; i++)
		CHECK(rb[i] == val(0, rank, i, run), "scattered [%d] = %d", i,
		    rb[i]);
	sum = fnv(sum, rb, sizeof(rb));
}

static void
fill_rs(int run)
{
	int i;

	for (i = 0; i < 64; i++)
		sb[i] = run + rank + i;
	memset(rb, 0, sizeof(rb));
}

static void
check_rs(int run)
{
	int i, k, want;

	for (i = 0; i < rank + 1; i++) {
		for (k = 0, want = 0; k < size; k++)
			want += run + k + rdsp[rank] + i;
		CHECK(rb[i] == want, "reduce_scatter [%d] = %d want %d", i,
		    rb[i], want);
	}
	sum = fnv(sum, rb, sizeof(rb));
}

/* Periodic ring: neighbours left, right; each sends 2 ints to each. */
static MPI_Comm ring;

static void
fill_nb(int run)
{
	int i;

	for (i = 0; i < 4; i++)
		sb[i] = val(rank, i / 2, i % 2, run);
	memset(rb, 0, sizeof(rb));
}

static void
check_nb(int run)
{
	int left = (rank + size - 1) % size, right = (rank + 1) % size;

	/* From the left its "right" block (1), from the right its left (0). */
	CHECK(rb[0] == val(left, 1, 0, run) && rb[1] == val(left, 1, 1, run)
	    && rb[2] == val(right, 0, 0, run) && rb[3] == val(right, 0, 1,
	    run), "neighbor alltoall %d %d %d %d", rb[0], rb[1], rb[2],
	    rb[3]);
	sum = fnv(sum, rb, sizeof(rb));
}

static void
fill_nbg(int run)
{
	sb[0] = val(rank, 0, 0, run);
	sb[1] = val(rank, 0, 1, run);
	memset(rb, 0, sizeof(rb));
}

static void
check_nbg(int run)
{
	int left = (rank + size - 1) % size, right = (rank + 1) % size;

	CHECK(rb[0] == val(left, 0, 0, run) && rb[1] == val(left, 0, 1, run)
	    && rb[2] == val(right, 0, 0, run) && rb[3] == val(right, 0, 1,
	    run), "neighbor allgather %d %d %d %d", rb[0], rb[1], rb[2],
	    rb[3]);
	sum = fnv(sum, rb, sizeof(rb));
}

static void
pcoll(void)
{
	MPI_Count one = rank + 1, two[2] = { 2, 2 };
	MPI_Aint d2[2] = { 0, 2 }, b2[2] = { 0, 8 };
	MPI_Datatype t2[2] = { MPI_INT, MPI_INT };
	int k, at, dims = size, periods = 1;
	MPI_Request rq;

	for (k = 0, at = 0; k < size; k++) {
		rcnt[k] = k + 1;
		rdsp[k] = at;
		at += k + 1;
		cnt[k] = rank + 1;
		dsp[k] = (MPI_Aint)k * (rank + 1);
		types[k] = MPI_INT;
	}
	MPI_OK(MPI_Alltoallv_init_c(sb, cnt, dsp, MPI_INT, rb, rcnt, rdsp,
	    MPI_INT, MPI_COMM_WORLD, MPI_INFO_NULL, &rq));
	twice(&rq, fill_alltoall, check_alltoall);
	{
		MPI_Aint sbd[8], rbd[8];

		for (k = 0; k < size; k++) {
			sbd[k] = dsp[k] * (MPI_Aint)sizeof(int);
			rbd[k] = rdsp[k] * (MPI_Aint)sizeof(int);
		}
		MPI_OK(MPI_Alltoallw_init_c(sb, cnt, sbd, types, rb, rcnt,
		    rbd, types, MPI_COMM_WORLD, MPI_INFO_NULL, &rq));
		twice(&rq, fill_alltoall, check_alltoall);
	}
	MPI_OK(MPI_Allgatherv_init_c(sb, one, MPI_INT, rb, rcnt, rdsp,
	    MPI_INT, MPI_COMM_WORLD, MPI_INFO_NULL, &rq));
	twice(&rq, fill_gather, check_gather);
	MPI_OK(MPI_Gatherv_init_c(sb, one, MPI_INT, rb, rcnt, rdsp, MPI_INT,
	    0, MPI_COMM_WORLD, MPI_INFO_NULL, &rq));
	twice(&rq, fill_gather, check_gatherv_root);
	MPI_OK(MPI_Scatterv_init_c(sb, rcnt, rdsp, MPI_INT, rb, one, MPI_INT,
	    0, MPI_COMM_WORLD, MPI_INFO_NULL, &rq));
	twice(&rq, fill_scatter, check_scatter);
	MPI_OK(MPI_Reduce_scatter_init_c(sb, rb, rcnt, MPI_INT, MPI_SUM,
	    MPI_COMM_WORLD, MPI_INFO_NULL, &rq));
	twice(&rq, fill_rs, check_rs);

	MPI_OK(MPI_Cart_create(MPI_COMM_WORLD, 1, &dims, &periods, 0, &ring));
	MPI_OK(MPI_Neighbor_alltoallv_init_c(sb, two, d2, MPI_INT, rb, two,
	    d2, MPI_INT, ring, MPI_INFO_NULL, &rq));
	twice(&rq, fill_nb, check_nb);
	MPI_OK(MPI_Neighbor_alltoallw_init_c(sb, two, b2, t2, rb, two, b2,
	    t2, ring, MPI_INFO_NULL, &rq));
	twice(&rq, fill_nb, check_nb);
	MPI_OK(MPI_Neighbor_allgatherv_init_c(sb, 2, MPI_INT, rb, two, d2,
	    MPI_INT, ring, MPI_INFO_NULL, &rq));
	twice(&rq, fill_nbg, check_nbg);
	MPI_OK(MPI_Comm_free(&ring));
}

static int
extent_fn(MPI_Datatype dt, MPI_Aint *extent, void *state)
{
	MPI_Aint lb;

	(void)state;
	return MPI_Type_get_extent(dt, &lb, extent);
}

#define MARKER	"MPI4-WIRE-MARKER-5d2b"

/*
 * The two differing lines (rank 0 prints them): whether the marker rank
 * 0 sent by MPI_Isendrecv was in the bytes on the wire, and whether the
 * bytes rank 0 sent by PMPI_Send reached rank 1's MPI_Isendrecv buffer.
 */
static void
wire(void)
{
	char out[64] = MARKER, back[64], raw[1024], got[256];
	MPI_Comm c;
	MPI_Request rq;
	MPI_Status st;
	int seen = 0, n = 0, rc, delivered = 0, verdict[4], ovh = 0, flag;

	MPI_OK(MPI_Comm_dup(MPI_COMM_WORLD, &c));
	MPI_OK(MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN));
	if (rank == 0) {
		MPI_OK(MPI_Isendrecv(out, sizeof(out), MPI_CHAR, 1, 77, back,
		    sizeof(back), MPI_CHAR, 1, 78, c, &rq));
		MPI_OK(MPI_Wait(&rq, MPI_STATUS_IGNORE));
		CHECK(strcmp(back, "reply") == 0, "reply '%.8s'", back);
		/* Not a record: what a forger could put on the wire. */
		memset(raw, 'F', 200);
		MPI_OK(PMPI_Send(raw, 200, MPI_CHAR, 1, 79, c));
		/* Partitioned: the marker, then a forged record of the size
		 * rank 1 saw on the wire for 64 bytes. */
		MPI_OK(MPI_Psend_init(out, 1, sizeof(out), MPI_CHAR, 1, 81, c,
		    MPI_INFO_NULL, &rq));
		MPI_OK(MPI_Start(&rq));
		MPI_OK(MPI_Pready(0, rq));
		MPI_OK(MPI_Wait(&rq, MPI_STATUS_IGNORE));
		MPI_OK(MPI_Request_free(&rq));
		MPI_OK(MPI_Recv(&ovh, 1, MPI_INT, 1, 82, c, MPI_STATUS_IGNORE));
		memset(raw, 'F', sizeof(out) + ovh);
		MPI_OK(PMPI_Psend_init(raw, 1, sizeof(out) + ovh, MPI_BYTE, 1,
		    83, c, MPI_INFO_NULL, &rq));
		MPI_OK(PMPI_Start(&rq));
		MPI_OK(PMPI_Pready(0, rq));
		MPI_OK(PMPI_Wait(&rq, MPI_STATUS_IGNORE));
		MPI_OK(PMPI_Request_free(&rq));
		MPI_OK(MPI_Recv(verdict, 4, MPI_INT, 1, 80, c,
		    MPI_STATUS_IGNORE));
		printf("wire: marker %s\n", verdict[0] ? "in plaintext" :
		    "not on the wire");
		printf("forged: %s\n", verdict[1] ? "delivered" : "refused");
		printf("partitioned wire: marker %s\n", verdict[2] ?
		    "in plaintext" : "not on the wire");
		printf("partitioned forged: %s\n", verdict[3] ? "delivered" :
		    "refused");
	} else if (rank == 1) {
		MPI_OK(PMPI_Probe(0, 77, c, &st));
		MPI_OK(PMPI_Get_count(&st, MPI_BYTE, &n));
		CHECK(n > 0 && n <= (int)sizeof(raw), "wire bytes %d", n);
		MPI_OK(PMPI_Recv(raw, (int)sizeof(raw), MPI_BYTE, 0, 77, c,
		    MPI_STATUS_IGNORE));
		seen = memmem(raw, (size_t)n, MARKER, strlen(MARKER)) != NULL;
		strcpy(back, "reply");
		MPI_OK(MPI_Send(back, sizeof(back), MPI_CHAR, 0, 78, c));
		memset(got, 0, sizeof(got));
		MPI_OK(MPI_Isendrecv(NULL, 0, MPI_CHAR, MPI_PROC_NULL, 0, got,
		    sizeof(got), MPI_CHAR, 0, 79, c, &rq));
		/* MPICH raises a generalized request's errors (libesmpi's
		 * Isendrecv is one) on MPI_COMM_WORLD's handler. */
		MPI_OK(MPI_Comm_set_errhandler(MPI_COMM_WORLD,
		    MPI_ERRORS_RETURN));
		rc = MPI_Wait(&rq, MPI_STATUS_IGNORE);
		MPI_OK(MPI_Comm_set_errhandler(MPI_COMM_WORLD,
		    MPI_ERRORS_ARE_FATAL));
		delivered = rc == MPI_SUCCESS && got[0] == 'F';
		/* Refused: nothing of it in the buffer. */
		CHECK(delivered || got[0] == 0, "refused, yet got '%c'",
		    got[0]);
		verdict[0] = seen;
		verdict[1] = delivered;
		/* What esmpi adds to a message (0 without it). */
		ovh = n - (int)sizeof(out);
		MPI_OK(PMPI_Precv_init(raw, 1, sizeof(out) + ovh, MPI_BYTE, 0,
		    81, c, MPI_INFO_NULL, &rq));
		MPI_OK(PMPI_Start(&rq));
		MPI_OK(PMPI_Wait(&rq, MPI_STATUS_IGNORE));
		MPI_OK(PMPI_Request_free(&rq));
		verdict[2] = memmem(raw, sizeof(out) + ovh, MARKER,
		    strlen(MARKER)) != NULL;
		MPI_OK(MPI_Send(&ovh, 1, MPI_INT, 0, 82, c));
		memset(got, 0, sizeof(got));
		MPI_OK(MPI_Precv_init(got, 2, sizeof(out) / 2, MPI_CHAR, 0, 83,
		    c, MPI_INFO_NULL, &rq));
		MPI_OK(MPI_Start(&rq));
		do
			rc = MPI_Parrived(rq, 1, &flag);
		while (rc == MPI_SUCCESS && !flag);
		verdict[3] = rc == MPI_SUCCESS && flag;
		rc = MPI_Wait(&rq, MPI_STATUS_IGNORE);
		verdict[3] = verdict[3] && rc == MPI_SUCCESS && got[0] == 'F';
		CHECK(verdict[3] || got[0] == 0, "refused, yet got '%c'",
		    got[0]);
		MPI_OK(MPI_Request_free(&rq));
		MPI_OK(MPI_Send(verdict, 4, MPI_INT, 0, 80, c));
	}
	MPI_OK(MPI_Comm_free(&c));
}

int
main(int argc, char **argv)
{
	int rc;

	rank = ex_init(&argc, &argv, &size);
	isendrecv();
	partitioned();
	pcoll();
	MPI_OK(MPI_Register_datarep_c("esmpi_mpi4", MPI_CONVERSION_FN_NULL_C,
	    MPI_CONVERSION_FN_NULL_C, extent_fn, NULL));
	if (size >= 2)
		wire();
	rc = ex_finish("mpi4_p2p", sum);
	MPI_Finalize();
	return rc;
}
