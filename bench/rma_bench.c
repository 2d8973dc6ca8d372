/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One-sided and thread-level benchmarks, 2 ranks; bench/run.sh --rma runs
 * it plain and under libesmpi in alternating jobs (the MPI thread level
 * and the one-sided component are fixed per job) and writes the ratios.
 *
 *   esmpi_rma_bench lat single|multiple|window   8-byte ping-pong
 *       (MPI_Send/MPI_Recv), MPI_Init_thread at that level (window:
 *       MPI_Init, with a window open, so under esmpi its applier and
 *       progress hook run beside the ping-pong): microseconds per half
 *       round trip, best of 5 repetitions
 *   esmpi_rma_bench rma   rank 0 the origin, rank 1 the passive target
 *       (in a barrier) of an MPI_Win_allocate window, in a lock_all
 *       epoch: Put and Get latency (8 bytes, each followed by
 *       MPI_Win_flush), Fetch_and_op latency, Put and Get bandwidth
 *       (1 MiB, 16 per flush), Accumulate rate (one double, MPI_SUM,
 *       256 per flush); and the Put bandwidth's bytes sent point to
 *       point (MPI_Send, an answer per 16: esmpi's sealed point-to-point
 *       in the same job); best of 3 repetitions
 *
 * Output: "name value" lines on rank 0 (us, MB/s, ops/s).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIG	(1 << 20)

static int rank;

static double
pingpong(int iters)
{
	char b[8] = { 0 };
	double t;
	int i;

	MPI_Barrier(MPI_COMM_WORLD);
	t = MPI_Wtime();
	for (i = 0; i < iters; i++) {
		if (rank == 0) {
			MPI_Send(b, 8, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
			MPI_Recv(b, 8, MPI_CHAR, 1, 1, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
		} else {
			MPI_Recv(b, 8, MPI_CHAR, 0, 1, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
			MPI_Send(b, 8, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
		}
	}
	return (MPI_Wtime() - t) * 1e6 / (2.0 * iters);
}

static double
best(double a, double b, int lower)
{
	return a == 0 || (lower ? b < a : b > a) ? b : a;
}

enum { PUT_LAT, GET_LAT, FOP_LAT, PUT_BW, GET_BW, ACC_RATE, P2P_BW, NM };
static const char *names[NM] = { "put_lat_us", "get_lat_us",
	"fetch_and_op_lat_us", "put_bw_MBs", "get_bw_MBs", "acc_rate_ops",
	"p2p_bw_MBs" };

/* The same bytes as the Put bandwidth, point to point: 16 MPI_Send of
 * 1 MiB, then a 1-byte answer (the flush's part), 8 times; both ranks. */
static double
p2p_round(char *buf)
{
	double t;
	char ack = 0;
	int i, n = 8;

	MPI_Barrier(MPI_COMM_WORLD);
	t = MPI_Wtime();
	for (i = 0; i < n * 16; i++) {
		if (rank == 0)
			MPI_Send(buf, BIG, MPI_BYTE, 1, 2, MPI_COMM_WORLD);
		else
			MPI_Recv(buf, BIG, MPI_BYTE, 0, 2, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
		if (i % 16 != 15)
			continue;
		if (rank == 0)
			MPI_Recv(&ack, 1, MPI_BYTE, 1, 3, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
		else
			MPI_Send(&ack, 1, MPI_BYTE, 0, 3, MPI_COMM_WORLD);
	}
	return (double)BIG * n * 16 / (MPI_Wtime() - t) / 1e6;
}

/* One repetition of every measurement, rank 0's results into v. */
static void
rma_round(MPI_Win win, char *src, double v[NM])
{
	double t, x = 1.0, y;
	int i, n;

	if (rank != 0)
		return;
	n = 2000;
	t = MPI_Wtime();
	for (i = 0; i < n; i++) {
		MPI_Put(src, 8, MPI_BYTE, 1, 0, 8, MPI_BYTE, win);
		MPI_Win_flush(1, win);
	}
	v[PUT_LAT] = (MPI_Wtime() - t) * 1e6 / n;
	t = MPI_Wtime();
	for (i = 0; i < n; i++) {
		MPI_Get(src, 8, MPI_BYTE, 1, 0, 8, MPI_BYTE, win);
		MPI_Win_flush(1, win);
	}
	v[GET_LAT] = (MPI_Wtime() - t) * 1e6 / n;
	t = MPI_Wtime();
	for (i = 0; i < n; i++) {
		MPI_Fetch_and_op(&x, &y, MPI_DOUBLE, 1, 8, MPI_SUM, win);
		MPI_Win_flush(1, win);
	}
	v[FOP_LAT] = (MPI_Wtime() - t) * 1e6 / n;
	n = 8;
	t = MPI_Wtime();
	for (i = 0; i < n * 16; i++) {
		MPI_Put(src, BIG, MPI_BYTE, 1, 0, BIG, MPI_BYTE, win);
		if (i % 16 == 15)
			MPI_Win_flush(1, win);
	}
	v[PUT_BW] = (double)BIG * n * 16 / (MPI_Wtime() - t) / 1e6;
	t = MPI_Wtime();
	for (i = 0; i < n * 16; i++) {
		MPI_Get(src, BIG, MPI_BYTE, 1, 0, BIG, MPI_BYTE, win);
		if (i % 16 == 15)
			MPI_Win_flush(1, win);
	}
	v[GET_BW] = (double)BIG * n * 16 / (MPI_Wtime() - t) / 1e6;
	n = 40;
	t = MPI_Wtime();
	for (i = 0; i < n * 256; i++) {
		MPI_Accumulate(&x, 1, MPI_DOUBLE, 1, 8, 1, MPI_DOUBLE,
		    MPI_SUM, win);
		if (i % 256 == 255)
			MPI_Win_flush(1, win);
	}
	v[ACC_RATE] = n * 256 / (MPI_Wtime() - t);
}

int
main(int argc, char **argv)
{
	int got, k, i, size;
	double v[NM], b[NM] = { 0 }, lat = 0;
	char *src, *mem;
	MPI_Win win;

	if (argc > 2 && strcmp(argv[1], "lat") == 0) {
		int window = strcmp(argv[2], "window") == 0;

		MPI_Init_thread(&argc, &argv, strcmp(argv[2], "multiple") ?
		    MPI_THREAD_SINGLE : MPI_THREAD_MULTIPLE, &got);
		MPI_Comm_rank(MPI_COMM_WORLD, &rank);
		if (window)
			MPI_Win_allocate(8, 1, MPI_INFO_NULL, MPI_COMM_WORLD,
			    &mem, &win);
		pingpong(2000);
		for (k = 0; k < 5; k++)
			lat = best(lat, pingpong(20000), 1);
		if (rank == 0)
			printf("lat_us %.3f\n", lat);
		if (window)
			MPI_Win_free(&win);
		MPI_Finalize();
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "rma") != 0) {
		fprintf(stderr, "usage: esmpi_rma_bench lat single|multiple|window | "
		    "rma\n");
		return 2;
	}
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size != 2) {
		if (rank == 0)
			fprintf(stderr, "esmpi_rma_bench: 2 ranks\n");
		MPI_Finalize();
		return 2;
	}
	src = malloc(BIG);
	memset(src, 1, BIG);
	MPI_Win_allocate(BIG, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &mem, &win);
	memset(mem, 0, BIG);
	MPI_Win_lock_all(0, win);
	for (k = 0; k < 3; k++) {
		rma_round(win, src, v);
		for (i = 0; i < P2P_BW && rank == 0; i++)
			b[i] = best(b[i], v[i], i < PUT_BW);
	}
	MPI_Win_unlock_all(win);
	MPI_Barrier(MPI_COMM_WORLD);
	for (k = 0; k < 3; k++)
		b[P2P_BW] = best(b[P2P_BW], p2p_round(src), 0);
	if (rank == 0)
		for (i = 0; i < NM; i++)
			printf("%s %.3f\n", names[i], b[i]);
	MPI_Win_free(&win);
	free(src);
	MPI_Finalize();
	return 0;
}
