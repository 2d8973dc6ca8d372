/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Derived-datatype messages, plain (PMPI_*) against esmpi (MPI_*, through
 * libesmpi), alternating round by round in the same two processes: the
 * shapes of examples/dtype_recv.c (contiguous, vector, hvector, indexed,
 * block-indexed, struct, resized, nested), n ints per message (default
 * 65,530 as in issue 20) laid out by the shape, and plain MPI_INT for
 * reference. A round trip: rank 0 sends, rank 1 receives with room for
 * twice the elements (a partial fill, as the receiver did), and
 * back. Reported: the one-way time of each (best round's mean), and
 * esmpi/plain.
 *
 * Usage: esmpirun -np 2 esmpi_dtype_bench [--quick] [--ints n] [--csv F]
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSHAPE	9

struct shape {
	const char *name;
	MPI_Datatype t;
	int per;		/* ints per element */
};

static void
make(struct shape *s, const char *name, MPI_Datatype t, int per)
{
	MPI_Type_commit(&t);
	s->name = name;
	s->t = t;
	s->per = per;
}

static int
shapes(struct shape *s)
{
	MPI_Datatype t, u;
	int bl[3] = { 2, 1, 3 }, dp[3] = { 0, 3, 5 }, bl2[2] = { 1, 2 };
	MPI_Aint ad[2] = { 0, 2 * sizeof(int) };
	MPI_Datatype ty[2] = { MPI_INT, MPI_INT };
	int k = 0;

	make(&s[k++], "MPI_INT", MPI_INT, 1);
	MPI_Type_contiguous(4, MPI_INT, &t);
	make(&s[k++], "contiguous", t, 4);
	MPI_Type_vector(3, 2, 3, MPI_INT, &t);
	make(&s[k++], "vector", t, 6);
	MPI_Type_create_hvector(2, 3, 4 * sizeof(int), MPI_INT, &t);
	make(&s[k++], "hvector", t, 6);
	MPI_Type_indexed(3, bl, dp, MPI_INT, &t);
	make(&s[k++], "indexed", t, 6);
	MPI_Type_create_indexed_block(3, 2, dp, MPI_INT, &t);
	make(&s[k++], "block-indexed", t, 6);
	MPI_Type_create_struct(2, bl2, ad, ty, &t);
	make(&s[k++], "struct", t, 3);
	MPI_Type_contiguous(2, MPI_INT, &u);
	MPI_Type_create_resized(u, 0, 3 * sizeof(int), &t);
	MPI_Type_free(&u);
	make(&s[k++], "resized", t, 2);
	MPI_Type_indexed(3, bl, dp, MPI_INT, &u);
	MPI_Type_create_hvector(2, 2, 20 * sizeof(int), u, &t);
	MPI_Type_free(&u);
	make(&s[k++], "nested", t, 24);
	return k;
}

typedef int (*send_fn)(const void *, int, MPI_Datatype, int, int, MPI_Comm);
typedef int (*recv_fn)(void *, int, MPI_Datatype, int, int, MPI_Comm,
    MPI_Status *);

/* Mean one-way seconds of iters round trips of (count, t). */
static double
trips(int rank, int enc, char *buf, int count, MPI_Datatype t, int iters)
{
	send_fn snd = enc ? MPI_Send : PMPI_Send;
	recv_fn rcv = enc ? MPI_Recv : PMPI_Recv;
	int peer = 1 - rank, i;
	double t0;

	PMPI_Barrier(MPI_COMM_WORLD);
	t0 = MPI_Wtime();
	for (i = 0; i < iters; i++) {
		if (rank == 0) {
			snd(buf, count, t, peer, 1, MPI_COMM_WORLD);
			rcv(buf, 2 * count, t, peer, 1, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
		} else {
			rcv(buf, 2 * count, t, peer, 1, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
			snd(buf, count, t, peer, 1, MPI_COMM_WORLD);
		}
	}
	return (MPI_Wtime() - t0) / (2.0 * iters);
}

int
main(int argc, char **argv)
{
	struct shape s[NSHAPE];
	const char *csv = NULL;
	int rank, size, n = 65530, rounds = 7, iters = 40, k, i, r;
	FILE *f = NULL;
	char *buf;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			rounds = 3;
			iters = 10;
		} else if (strcmp(argv[i], "--ints") == 0 && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
			csv = argv[++i];
	}
	if (size != 2) {
		if (rank == 0)
			fprintf(stderr, "dtype_bench: run with 2 ranks\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	k = shapes(s);
	if (rank == 0 && csv != NULL && (f = fopen(csv, "w")) != NULL)
		fprintf(f, "shape,bytes,plain_us,esmpi_us,ratio\n");
	if (rank == 0)
		printf("%-14s %9s %10s %10s %8s\n", "shape", "bytes",
		    "plain_us", "esmpi_us", "ratio");
	for (i = 0; i < k; i++) {
		MPI_Aint lb, ext;
		int count = n / s[i].per;
		double best[2] = { 1e30, 1e30 }, d;

		MPI_Type_get_extent(s[i].t, &lb, &ext);
		/* Room for the partial fill: 2 x count elements. */
		buf = calloc(2 * (size_t)count, (size_t)ext);
		if (buf == NULL)
			MPI_Abort(MPI_COMM_WORLD, 1);
		trips(rank, 0, buf, count, s[i].t, 2);	/* warm up both */
		trips(rank, 1, buf, count, s[i].t, 2);
		for (r = 0; r < rounds; r++) {
			int enc = r % 2;

			d = trips(rank, enc, buf, count, s[i].t, iters);
			if (d < best[enc])
				best[enc] = d;
			d = trips(rank, !enc, buf, count, s[i].t, iters);
			if (d < best[!enc])
				best[!enc] = d;
		}
		if (rank == 0) {
			printf("%-14s %9zu %10.1f %10.1f %8.2f\n", s[i].name,
			    (size_t)count * (size_t)s[i].per * sizeof(int),
			    best[0] * 1e6, best[1] * 1e6, best[1] / best[0]);
			if (f != NULL)
				fprintf(f, "%s,%zu,%.2f,%.2f,%.3f\n",
				    s[i].name, (size_t)count *
				    (size_t)s[i].per * sizeof(int),
				    best[0] * 1e6, best[1] * 1e6,
				    best[1] / best[0]);
		}
		free(buf);
		if (s[i].t != MPI_INT)
			MPI_Type_free(&s[i].t);
	}
	if (f != NULL)
		fclose(f);
	MPI_Finalize();
	return 0;
}
