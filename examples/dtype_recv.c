/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Derived-datatype receives (issue 20): n MPI_INT values (default 65530)
 * laid out by derived datatypes of the usual shapes (contiguous, vector,
 * hvector, indexed, block-indexed, struct, resized, nested) are sent many
 * times in a row with MPI_Send over several communicators (world, a dup,
 * a split, one in reversed rank order); the receiver posts MPI_Recv with
 * twice the count (a partial fill) and checks every value, the holes and
 * the untouched second half, and MPI_Get_count/MPI_Get_elements. With one
 * rank, each message goes to itself (Isend, Recv, Wait). Last, a partial
 * element: n MPI_INTs sent, received as one element of a vector of 2n.
 *
 * Arguments: [n [reps]]. Rank 0 prints one line per shape and the
 * checksum; each rank's time and minor page faults (fresh memory touched)
 * in the loop go to stderr ("dtype_recv: rank R seconds S faults F"), so
 * the output is the same plain and under esmpi.
 */
#include <stddef.h>
#include <sys/resource.h>

#include "example_util.h"

#define HOLE (-1)
#define NSHAPES 9

struct shape {
	const char *name;
	MPI_Datatype t;
	int per;		/* ints per element */
	MPI_Aint ext;		/* extent of one element, in ints */
};

static void
make(struct shape *s, const char *name, MPI_Datatype t, int per)
{
	MPI_Aint lb, ext;

	MPI_Type_commit(&t);
	MPI_Type_get_extent(t, &lb, &ext);
	s->name = name;
	s->t = t;
	s->per = per;
	s->ext = ext / (MPI_Aint)sizeof(int);
}

static int
shapes(struct shape *s)
{
	MPI_Datatype t, u;
	int bl[3] = { 2, 1, 3 }, dp[3] = { 0, 3, 5 };
	int bl2[2] = { 1, 2 };
	MPI_Aint ad[3] = { 0, 2 * sizeof(int), 6 * sizeof(int) };
	MPI_Datatype ty[3] = { MPI_INT, MPI_INT, MPI_INT };
	int k = 0;

	MPI_Type_contiguous(4, MPI_INT, &t);
	make(&s[k++], "contiguous", t, 4);
	MPI_Type_vector(3, 2, 3, MPI_INT, &t);		/* xx.xx.xx */
	make(&s[k++], "vector", t, 6);
	MPI_Type_create_hvector(2, 3, 4 * sizeof(int), MPI_INT, &t);
	make(&s[k++], "hvector", t, 6);
	MPI_Type_indexed(3, bl, dp, MPI_INT, &t);	/* xx.x.xxx */
	make(&s[k++], "indexed", t, 6);
	MPI_Type_create_indexed_block(3, 2, dp, MPI_INT, &t);
	make(&s[k++], "block-indexed", t, 6);
	MPI_Type_create_struct(2, bl2, ad, ty, &t);	/* x.xx */
	make(&s[k++], "struct", t, 3);
	/* Two ints, extent three: a hole after every element. */
	MPI_Type_contiguous(2, MPI_INT, &u);
	MPI_Type_create_resized(u, 0, 3 * sizeof(int), &t);
	MPI_Type_free(&u);
	make(&s[k++], "resized", t, 2);
	/* A vector of the indexed type above, blocks of two. */
	MPI_Type_indexed(3, bl, dp, MPI_INT, &u);
	MPI_Type_create_hvector(2, 2, 20 * sizeof(int), u, &t);
	MPI_Type_free(&u);
	make(&s[k++], "nested", t, 24);
	/* A struct of a vector and a single int. */
	MPI_Type_vector(2, 1, 2, MPI_INT, &u);
	ty[0] = u;
	ad[1] = 4 * sizeof(int);
	MPI_Type_create_struct(2, bl2, ad, ty, &t);
	MPI_Type_free(&u);
	make(&s[k++], "struct-of-vector", t, 4);
	return k;
}

/* Which int of the buffer element e, within-element index j lands at, for
 * the shape: found by packing an element of its own offsets. */
static int *
offsets(const struct shape *s)
{
	int *e = malloc(s->ext * sizeof(int)), *o = malloc(s->per *
	    sizeof(int)), i, pos = 0;

	for (i = 0; i < s->ext; i++)
		e[i] = i;
	MPI_Pack(e, 1, s->t, o, s->per * (int)sizeof(int), &pos,
	    MPI_COMM_WORLD);
	free(e);
	return o;
}

static uint64_t
one_shape(const struct shape *s, MPI_Comm comm, int peer, int sends,
    int n, int reps, uint64_t sum)
{
	int count = n / s->per, rcount = 2 * count, i, r, got, *off;
	size_t len = (size_t)rcount * s->ext;
	int *sb = malloc(len * sizeof(int)), *rb = malloc(len * sizeof(int));
	MPI_Request rq;
	MPI_Status st;
	MPI_Count el;

	off = offsets(s);
	for (i = 0; i < (int)len; i++)
		sb[i] = i * 7 + 1;
	for (r = 0; r < reps; r++) {
		if (sends && peer != MPI_PROC_NULL) {
			MPI_Send(sb, count, s->t, peer, r, comm);
			continue;
		}
		for (i = 0; i < (int)len; i++)
			rb[i] = HOLE;
		if (peer == MPI_PROC_NULL) {	/* to myself */
			MPI_Isend(sb, count, s->t, 0, r, comm, &rq);
			MPI_Recv(rb, rcount, s->t, 0, r, comm, &st);
			MPI_Wait(&rq, MPI_STATUS_IGNORE);
		} else
			MPI_Recv(rb, rcount, s->t, MPI_ANY_SOURCE, r, comm,
			    &st);
		MPI_Get_count(&st, s->t, &got);
		CHECK(got == count, "%s: count %d, want %d", s->name, got,
		    count);
		MPI_Get_elements_x(&st, MPI_INT, &el);
		CHECK(el == (MPI_Count)count * s->per, "%s: %lld elements",
		    s->name, (long long)el);
		/* Every element's ints where the type puts them, the holes
		 * and the second half untouched. */
		for (i = 0; i < (int)len; i++) {
			size_t e = i / s->ext;
			int j, want = HOLE;

			for (j = 0; e < (size_t)count && j < s->per; j++)
				if (off[j] == i % s->ext)
					want = sb[i];
			if (rb[i] != want) {
				CHECK(rb[i] == want, "%s rep %d: int %d is %d, "
				    "want %d", s->name, r, i, rb[i], want);
				break;
			}
		}
		sum = fnv(sum, rb, len * sizeof(int));
	}
	free(off);
	free(sb);
	free(rb);
	return sum;
}

/* n ints into one element of a vector of 2n (every other int). */
static uint64_t
partial_element(MPI_Comm comm, int peer, int sends, int n, int reps,
    uint64_t sum)
{
	int *sb = malloc(n * sizeof(int)), *rb = malloc(4 * n * sizeof(int));
	int i, r, got;
	MPI_Datatype v;
	MPI_Request rq;
	MPI_Status st;

	MPI_Type_vector(2 * n, 1, 2, MPI_INT, &v);
	MPI_Type_commit(&v);
	for (i = 0; i < n; i++)
		sb[i] = i * 5 + 3;
	for (r = 0; r < reps; r++) {
		if (sends && peer != MPI_PROC_NULL) {
			MPI_Send(sb, n, MPI_INT, peer, r, comm);
			continue;
		}
		for (i = 0; i < 4 * n; i++)
			rb[i] = HOLE;
		if (peer == MPI_PROC_NULL) {
			MPI_Isend(sb, n, MPI_INT, 0, r, comm, &rq);
			MPI_Recv(rb, 1, v, 0, r, comm, &st);
			MPI_Wait(&rq, MPI_STATUS_IGNORE);
		} else
			MPI_Recv(rb, 1, v, peer, r, comm, &st);
		MPI_Get_count(&st, MPI_INT, &got);
		CHECK(got == n, "partial element: %d ints", got);
		MPI_Get_count(&st, v, &got);
		CHECK(got == MPI_UNDEFINED, "partial element: count %d", got);
		for (i = 0; i < 4 * n; i++) {
			int want = i % 2 == 0 && i / 2 < n ? sb[i / 2] : HOLE;

			if (rb[i] != want) {
				CHECK(rb[i] == want, "partial element rep %d: "
				    "int %d is %d, want %d", r, i, rb[i], want);
				break;
			}
		}
		sum = fnv(sum, rb, 4 * n * sizeof(int));
	}
	MPI_Type_free(&v);
	free(sb);
	free(rb);
	return sum;
}

static long
faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

int
main(int argc, char **argv)
{
	struct shape s[NSHAPES];
	MPI_Comm comms[4];
	int rank, size, n = argc > 1 ? atoi(argv[1]) : 65530;
	int reps = argc > 2 ? atoi(argv[2]) : 10, k, i, j, ncomm = 4;
	uint64_t sum = FNV_INIT;
	double t0;
	long f0;

	rank = ex_init(&argc, &argv, &size);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	k = shapes(s);
	comms[0] = MPI_COMM_WORLD;
	MPI_Comm_dup(MPI_COMM_WORLD, &comms[1]);
	MPI_Comm_split(MPI_COMM_WORLD, rank % 2 == 0 || rank < 2 ? 0 : 1,
	    rank, &comms[2]);
	MPI_Comm_split(MPI_COMM_WORLD, 0, size - rank, &comms[3]);
	t0 = MPI_Wtime();
	f0 = faults();
	for (j = 0; j < ncomm; j++) {
		int crank, csize, peer, sends;

		MPI_Comm_rank(comms[j], &crank);
		MPI_Comm_size(comms[j], &csize);
		/* Pairs of the communicator's ranks; alone: to myself. */
		if (csize == 1) {
			peer = MPI_PROC_NULL;
			sends = 0;
		} else {
			peer = crank ^ 1;
			sends = crank % 2 == 0;
			if (peer >= csize)
				continue;
		}
		for (i = 0; i < k; i++)
			sum = one_shape(&s[i], comms[j], peer, sends, n, reps,
			    sum);
		sum = partial_element(comms[j], peer, sends, n, reps, sum);
	}
	fprintf(stderr, "dtype_recv: rank %d seconds %.3f faults %ld\n", rank,
	    MPI_Wtime() - t0, faults() - f0);
	if (rank == 0)
		for (i = 0; i < k; i++)
			printf("dtype_recv: %s: %d ints per element, extent "
			    "%ld\n", s[i].name, s[i].per, (long)s[i].ext);
	for (i = 0; i < k; i++)
		MPI_Type_free(&s[i].t);
	for (j = 1; j < ncomm; j++)
		MPI_Comm_free(&comms[j]);
	k = ex_finish("dtype_recv", sum);
	MPI_Finalize();
	return k;
}
