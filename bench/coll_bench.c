/* SPDX-License-Identifier: Apache-2.0 */
/*
 * esmpi collective benchmark: Bcast, Allreduce, Allgather and Alltoall,
 * plain (PMPI_*) and encrypted (MPI_*, through libesmpi) alternating round
 * by round in the same processes. Run it under esmpirun with any number
 * of ranks.
 *
 * "bytes" is each rank's data: the Bcast message, the Allreduce vector
 * (MPI_INT, MPI_SUM), the Allgather contribution, the Alltoall send
 * buffer (bytes / N to each rank). The ideal is the plain time plus the
 * AEAD work a rank cannot avoid at the one-core rate B_aead measured in
 * this run (aes-256-gcm through the record layer, the faster engine's): sealing its own data and opening what it receives (Bcast and
 * Allreduce: one seal and one open of bytes; Allgather: bytes sealed,
 * (N-1) x bytes opened; Alltoall: (N-1)/N x bytes each way).
 * The column aead/plain is that AEAD work alone over the plain time: no
 * algorithm can bring esmpi/plain below it on these cores. (For
 * Allreduce it is a bound for any algorithm: every element of a rank's
 * vector reaches the others sealed, alone or combined, and every element
 * of its result that it did not combine itself arrives to be opened.)
 *
 * Output: a table on stdout, CSV rows to --csv FILE (appended).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aead_cost.h"

#define MAX_SIZE	(4 << 20)
#define ROUNDS		5

enum { BCAST, ALLREDUCE, ALLGATHER, ALLTOALL, NCOLL };
static const char *names[NCOLL] = { "bcast", "allreduce", "allgather",
	"alltoall" };

static int rank, nranks;
static char *big;		/* N x MAX_SIZE: Allgather's receive buffer */

/* One call of collective k on bytes of data, plain or through esmpi. */
static void
call(int k, int enc, int bytes)
{
	int per = bytes / nranks;

	switch (k) {
	case BCAST:
		(enc ? MPI_Bcast : PMPI_Bcast)(buf, bytes, MPI_BYTE, 0,
		    MPI_COMM_WORLD);
		break;
	case ALLREDUCE:
		(enc ? MPI_Allreduce : PMPI_Allreduce)(buf, buf2,
		    bytes / (int)sizeof(int), MPI_INT, MPI_SUM, MPI_COMM_WORLD);
		break;
	case ALLGATHER:
		(enc ? MPI_Allgather : PMPI_Allgather)(buf, bytes, MPI_BYTE,
		    big, bytes, MPI_BYTE, MPI_COMM_WORLD);
		break;
	case ALLTOALL:
		(enc ? MPI_Alltoall : PMPI_Alltoall)(buf, per, MPI_BYTE, buf2,
		    per, MPI_BYTE, MPI_COMM_WORLD);
		break;
	}
}

/* Seconds per call, the slowest rank's. */
static double
timed(int k, int enc, int bytes, int iters)
{
	double t0, t, worst;
	int i;

	PMPI_Barrier(MPI_COMM_WORLD);
	t0 = now();
	for (i = 0; i < iters; i++)
		call(k, enc, bytes);
	t = (now() - t0) / iters;
	PMPI_Allreduce(&t, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
	return worst;
}

/*
 * The one-core AEAD rate, taken by every rank at once (as a collective
 * runs: with more ranks than cores they share them) and the slowest
 * rank's kept, since the slowest rank ends a collective; the best of
 * that over rounds, as for the times.
 */
static double
best_aead_rate(double best)
{
	double x = 0, y, slowest;
	int e;

	for (e = 0; e < NENGINES; e++) {
		y = aead_rate(engines[e], ESMPI_SUITE_AES_256_GCM, 0.05);
		x = y > x ? y : x;
	}

	PMPI_Allreduce(&x, &slowest, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
	return slowest > best ? slowest : best;
}

/* Bytes a rank must seal plus open, at the least, for one call. */
static double
aead_bytes(int k, int bytes)
{
	switch (k) {
	case ALLGATHER:
		return (double)bytes * nranks;
	case ALLTOALL:
		return 2.0 * bytes * (nranks - 1) / nranks;
	default:
		return 2.0 * bytes;
	}
}

int
main(int argc, char **argv)
{
	static const int sizes[] = { 8, 64, 512, 4096, 32768, 262144,
		1 << 20, 4 << 20 };
	const int nsizes = (int)(sizeof(sizes) / sizeof(sizes[0]));
	const char *csv_path = NULL, *label = "shm";
	FILE *csv = NULL;
	double b_aead;
	int i, k, r, quick = 0, only = 0;
	const char *only_coll = NULL;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
			csv_path = argv[++i];
		else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc)
			label = argv[++i];
		else if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
			only = atoi(argv[++i]);
		else if (strcmp(argv[i], "--coll") == 0 && i + 1 < argc)
			only_coll = argv[++i];
	}
	MPI_Init(&argc, &argv);
	PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
	PMPI_Comm_size(MPI_COMM_WORLD, &nranks);
	buf = aligned_alloc(64, MAX_SIZE + 64);
	buf2 = aligned_alloc(64, MAX_SIZE + 64);
	big = malloc((size_t)MAX_SIZE * nranks);
	if (buf == NULL || buf2 == NULL || big == NULL)
		MPI_Abort(MPI_COMM_WORLD, 2);
	memset(buf, 1, MAX_SIZE + 64);
	memset(buf2, 0, MAX_SIZE + 64);
	if (rank == 0 && csv_path != NULL && (csv = fopen(csv_path, "a")) ==
	    NULL) {
		perror(csv_path);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	b_aead = best_aead_rate(0);
	if (rank == 0) {
		printf("# coll_bench (%s, %d ranks): us per call, best of %d "
		    "alternating rounds; B_aead (aes-256-gcm, the faster of "
		    "the engines): the best of every round so far; libesmpi's "
		    "AEAD engine: %s\n", label, nranks, ROUNDS,
		    esmpi_aead_engine_name());
		printf("%-10s %8s %10s %10s %10s %7s %7s %10s %8s\n",
		    "coll", "bytes", "plain", "esmpi", "ideal", "ratio",
		    "/ideal", "aead/plain", "B_aead");
	}
	for (k = 0; k < NCOLL; k++) {
		for (i = 0; i < nsizes; i++) {
			int n = sizes[i], it;
			double tp = 1e9, te = 1e9, ideal, x;

			if ((k == ALLTOALL && n < nranks) || (only && n != only) ||
			    (only_coll && strcmp(only_coll, names[k]) != 0))
				continue;
			it = (int)(20000000LL / (n + 20000) / nranks);
			it = it / (quick ? 10 : 1);
			if (it < 3)
				it = 3;
			call(k, 1, n);		/* warm up: pools, keys */
			for (r = 0; r < ROUNDS; r++) {
				x = timed(k, 0, n, it);
				tp = x < tp ? x : tp;
				x = timed(k, 1, n, it);
				te = x < te ? x : te;
				b_aead = best_aead_rate(b_aead);
			}
			ideal = tp + aead_bytes(k, n) / b_aead;
			if (rank != 0)
				continue;
			printf("%-10s %8d %10.2f %10.2f %10.2f %7.2f %7.2f "
			    "%10.2f %8.0f\n", names[k], n, tp * 1e6,
			    te * 1e6, ideal * 1e6, te / tp, te / ideal,
			    (ideal - tp) / tp, b_aead / 1e6);
			if (csv)
				fprintf(csv, "%s,%d,%s,%d,%.3f,%.3f,%.3f,%.1f\n",
				    label, nranks, names[k], n, tp * 1e6,
				    te * 1e6, ideal * 1e6, b_aead / 1e6);
			fflush(stdout);
		}
	}
	if (csv)
		fclose(csv);
	free(big);
	free(buf);
	free(buf2);
	MPI_Finalize();
	return 0;
}
