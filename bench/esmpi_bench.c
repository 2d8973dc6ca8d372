/* SPDX-License-Identifier: Apache-2.0 */
/*
 * esmpi benchmark: ping-pong latency and streaming bandwidth, plain and
 * encrypted alternating in one run. Run it under libesmpi (esmpirun):
 * MPI_* calls go through esmpi (encrypted), PMPI_* calls straight to
 * Open MPI (plain), so both are measured in the same processes, on the
 * same link, interleaved round by round. Each suite is selected by tag
 * through the bench policy (bench/bench-policy.yaml).
 *
 * Also measures, in the same rounds, on each AEAD engine (OpenSSL,
 * ipsec-mb) through the record layer: one seal + one open of each size
 * (the cost the library cannot avoid) and the one-core AEAD rate at
 * 16 KiB; the best engine's are the baselines (seal+open, B_aead), and
 * encrypted bandwidth is reported against L = 1 / (1/B_plain + 1/B_aead).
 *
 * A third ping-pong, plain with messages as large as esmpi's records
 * (size + header + tag), tells what the larger message costs Open MPI
 * itself (its thresholds, such as ob1's 256-byte inline send), apart
 * from sealing and opening.
 *
 * Output: a table on stdout, CSV to --csv FILE.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aead_cost.h"
#include "esmpi_record.h"

#define MAX_SIZE	(4 << 20)
#define ROUNDS		7	/* alternations of plain and encrypted */
#define WINDOW		16	/* messages in flight when streaming */
#define STREAM_BYTES	(128 << 20)

struct suite {
	const char *name;
	int tag;		/* the bench policy maps this tag to the suite */
	int id;			/* enum esmpi_suite_id */
};

static const struct suite suites[] = {
	{ "aes-256-gcm", 10, ESMPI_SUITE_AES_256_GCM },
	{ "aes-128-gcm", 11, ESMPI_SUITE_AES_128_GCM },
	{ "chacha20-poly1305", 12, ESMPI_SUITE_CHACHA20_POLY1305 },
};
#define NSUITES (int)(sizeof(suites) / sizeof(suites[0]))

typedef int (*send_fn)(const void *, int, MPI_Datatype, int, int, MPI_Comm);
typedef int (*recv_fn)(void *, int, MPI_Datatype, int, int, MPI_Comm,
    MPI_Status *);
typedef int (*isend_fn)(const void *, int, MPI_Datatype, int, int, MPI_Comm,
    MPI_Request *);
typedef int (*waitall_fn)(int, MPI_Request *, MPI_Status *);

struct api {
	send_fn send;
	recv_fn recv;
	isend_fn isend;
	int (*irecv)(void *, int, MPI_Datatype, int, int, MPI_Comm,
	    MPI_Request *);
	waitall_fn waitall;
};

static const struct api plain = { PMPI_Send, PMPI_Recv, PMPI_Isend,
	PMPI_Irecv, PMPI_Waitall };
static const struct api secure = { MPI_Send, MPI_Recv, MPI_Isend,
	MPI_Irecv, MPI_Waitall };

static int rank;

static int
iters_for(int size)
{
	int it = (int)(50000000LL / (size + 20000));

	return it < 20 ? 20 : it > 2000 ? 2000 : it;
}

static double
pingpong(const struct api *a, int size, int tag, int iters)
{
	double t0;
	int i;

	PMPI_Barrier(MPI_COMM_WORLD);
	t0 = now();
	for (i = 0; i < iters; i++) {
		if (rank == 0) {
			a->send(buf, size, MPI_BYTE, 1, tag, MPI_COMM_WORLD);
			a->recv(buf2, size, MPI_BYTE, 1, tag, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
		} else {
			a->recv(buf2, size, MPI_BYTE, 0, tag, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
			a->send(buf, size, MPI_BYTE, 0, tag, MPI_COMM_WORLD);
		}
	}
	return (now() - t0) / iters / 2;	/* one-way seconds */
}

/*
 * One seal plus one open, averaged over the two ranks' cores, measured
 * one after the other: a ping-pong round trip seals and opens once on
 * each, so this is the AEAD cost of one average one-way message. (The
 * cores of a VM need not be equally fast.) Rank 0 gets the result.
 */
static double
both_cores(int engine, int suite, int size, int iters)
{
	double t[2] = { 0, 0 };
	int r;

	for (r = 0; r < 2; r++) {
		PMPI_Barrier(MPI_COMM_WORLD);
		if (rank == r)
			t[r] = seal_open_cost(engine, suite, size, iters);
	}
	if (rank == 1)
		PMPI_Send(&t[1], 1, MPI_DOUBLE, 0, 998, MPI_COMM_WORLD);
	else
		PMPI_Recv(&t[1], 1, MPI_DOUBLE, 1, 998, MPI_COMM_WORLD,
		    MPI_STATUS_IGNORE);
	return t[0] < 0 || t[1] < 0 ? -1 : (t[0] + t[1]) / 2;
}

static double
stream(const struct api *a, int size, int tag, int iters)
{
	MPI_Request req[WINDOW];
	double t0;
	int i, j, ack = 0;

	PMPI_Barrier(MPI_COMM_WORLD);
	t0 = now();
	for (i = 0; i < iters; i++) {
		for (j = 0; j < WINDOW; j++) {
			if (rank == 0)
				a->isend(buf, size, MPI_BYTE, 1, tag,
				    MPI_COMM_WORLD, &req[j]);
			else
				a->irecv(buf2, size, MPI_BYTE, 0, tag,
				    MPI_COMM_WORLD, &req[j]);
		}
		a->waitall(WINDOW, req, MPI_STATUSES_IGNORE);
	}
	/* The last message arrived when the receiver says so. */
	if (rank == 0)
		PMPI_Recv(&ack, 1, MPI_INT, 1, 999, MPI_COMM_WORLD,
		    MPI_STATUS_IGNORE);
	else
		PMPI_Send(&ack, 1, MPI_INT, 0, 999, MPI_COMM_WORLD);
	return (double)size * WINDOW * iters / (now() - t0);
}

int
main(int argc, char **argv)
{
	static const int sizes[] = { 1, 16, 64, 256, 1024, 4096, 16384, 65536,
		262144, 1 << 20, 4 << 20 };
	const int nsizes = (int)(sizeof(sizes) / sizeof(sizes[0]));
	const char *csv_path = NULL, *label = "shm", *suite = NULL;
	FILE *csv = NULL;
	int size, i, s, r, quick = 0, only = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
			csv_path = argv[++i];
		else if (strcmp(argv[i], "--label") == 0 && i + 1 < argc)
			label = argv[++i];
		else if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
			only = atoi(argv[++i]);
		else if (strcmp(argv[i], "--suite") == 0 && i + 1 < argc)
			suite = argv[++i];
	}
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	PMPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size != 2) {
		if (rank == 0)
			fprintf(stderr, "esmpi_bench: run with exactly 2 ranks\n");
		MPI_Finalize();
		return 2;
	}
	buf = aligned_alloc(64, MAX_SIZE + 64);
	buf2 = aligned_alloc(64, MAX_SIZE + 64);
	memset(buf, 0x5a, MAX_SIZE + 64);
	memset(buf2, 0, MAX_SIZE + 64);
	if (rank == 0 && csv_path != NULL && (csv = fopen(csv_path, "a")) ==
	    NULL) {
		perror(csv_path);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	if (rank == 0) {
		printf("# esmpi_bench (%s): one-way latency (us) and streaming "
		    "bandwidth (MB/s), plain vs esmpi, best of %d alternating "
		    "rounds; libesmpi's AEAD engine: %s\n", label, ROUNDS,
		    esmpi_aead_engine_name());
		printf("# seal+open, B_aead: the best engine's; so.ossl, so.imb, "
		    "B.ossl, B.imb: each engine's (\"-\": not in this build)\n");
		printf("%-18s %8s %9s %9s %9s %6s %9s %7s %7s %7s %7s %9s %9s "
		    "%6s %9s %6s %7s %7s\n", "suite", "bytes", "lat.plain",
		    "lat.rec", "lat.esmpi", "ratio", "seal+open", "ovh/so",
		    "rec/so", "so.ossl", "so.imb", "bw.plain", "bw.esmpi",
		    "ratio", "L", "bw/L", "B.ossl", "B.imb");
	}
	for (s = 0; s < NSUITES; s++) {
		if (suite != NULL && strcmp(suite, suites[s].name) != 0)
			continue;
		double b_eng[NENGINES] = { 0 };

		for (i = 0; i < nsizes; i++) {
			int n = sizes[i], it = iters_for(n) / (quick ? 10 : 1), e;

			if (only != 0 && n != only)
				continue;
			/* Streams of at least STREAM_BYTES: a few windows of
			 * large messages are too short to time. */
			int sit = it / WINDOW, big = STREAM_BYTES / (n * WINDOW);

			big = big < 64 ? big : 64;
			sit = sit > big ? sit : big;
			sit = sit > 2 ? sit : 2;
			double lp = 1e9, lr = 1e9, le = 1e9, bp = 0, be = 0,
			    so_eng[NENGINES] = { -1, -1 }, so = -1, b_aead = 0;

			if (it < 5)
				it = 5;
			for (r = 0; r < ROUNDS; r++) {
				double x;

				x = pingpong(&plain, n, suites[s].tag, it);
				lp = x < lp ? x : lp;
				x = pingpong(&secure, n, suites[s].tag, it);
				le = x < le ? x : le;
				x = pingpong(&plain, n + ESMPI_REC_OVERHEAD,
				    suites[s].tag, it);
				lr = x < lr ? x : lr;
				x = stream(&plain, n, suites[s].tag, sit);
				bp = x > bp ? x : bp;
				x = stream(&secure, n, suites[s].tag, sit);
				be = x > be ? x : be;
				/* The baselines alternate with the rest too,
				 * every engine in every round. */
				for (e = 0; e < NENGINES; e++) {
					x = both_cores(engines[e], suites[s].id,
					    n, it);
					if (x > 0 && (so_eng[e] < 0 ||
					    x < so_eng[e]))
						so_eng[e] = x;
					if (rank != 0)
						continue;
					x = aead_rate(engines[e], suites[s].id,
					    0.05);
					b_eng[e] = x > b_eng[e] ? x : b_eng[e];
				}
			}
			if (rank != 0)
				continue;
			for (e = 0; e < NENGINES; e++) {
				if (so_eng[e] > 0 && (so < 0 || so_eng[e] < so))
					so = so_eng[e];
				b_aead = b_eng[e] > b_aead ? b_eng[e] : b_aead;
			}
			{
				double L = 1.0 / (1.0 / bp + 1.0 / b_aead);
				char c[4][16];

				for (e = 0; e < NENGINES; e++) {
					snprintf(c[e], sizeof(c[e]), so_eng[e] > 0 ?
					    "%.2f" : "-", so_eng[e] * 1e6);
					snprintf(c[2 + e], sizeof(c[2 + e]),
					    b_eng[e] > 0 ? "%.0f" : "-",
					    b_eng[e] / 1e6);
				}
				printf("%-18s %8d %9.2f %9.2f %9.2f %6.2f %9.2f "
				    "%7.2f %7.2f %7s %7s %9.0f %9.0f %6.2f "
				    "%9.0f %6.2f %7s %7s\n", suites[s].name, n,
				    lp * 1e6, lr * 1e6, le * 1e6, le / lp,
				    so * 1e6, (le - lp) / so, (le - lr) / so,
				    c[0], c[1], bp / 1e6, be / 1e6, be / bp,
				    L / 1e6, be / L, c[2], c[3]);
				if (csv)
					fprintf(csv, "%s,%s,%d,%.4f,%.4f,%.4f,"
					    "%.1f,%.1f,%.1f,%.1f,%.4f,%s,%s,%s,"
					    "%s,%s\n", label, suites[s].name, n,
					    lp * 1e6, le * 1e6, so * 1e6,
					    bp / 1e6, be / 1e6, b_aead / 1e6,
					    L / 1e6, lr * 1e6,
					    so_eng[0] > 0 ? c[0] : "",
					    so_eng[1] > 0 ? c[1] : "",
					    b_eng[0] > 0 ? c[2] : "",
					    b_eng[1] > 0 ? c[3] : "",
					    esmpi_aead_engine_name());
			}
			fflush(stdout);
		}
	}
	if (csv)
		fclose(csv);
	free(buf);
	free(buf2);
	MPI_Finalize();
	return 0;
}
