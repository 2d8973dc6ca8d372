/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The signed suite: one-way latency and streaming bandwidth of plain
 * (PMPI_*), aead (MPI_* on tag 10: aes-256-gcm) and aead+ecdsa (MPI_* on
 * tag 13: aes-256-gcm, sign: ecdsa-p256) alternating round by round in
 * the same two processes, under bench/bench-sign-policy.yaml. Also
 * measures, in the same run, one ECDSA P-256 sign + one verify over what
 * a record signature covers (84 + size + 40 bytes) with OpenSSL EVP, the
 * cost signing cannot avoid. Both are also given as thread CPU time
 * (CLOCK_THREAD_CPUTIME_ID) spent inside MPI_Send and inside MPI_Recv
 * once MPI_Iprobe saw the message (eager sizes), which the other
 * processes of a busy machine do not inflate.
 * Output: a table on stdout, CSV to --csv FILE.
 */
#include <mpi.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SIZE	(1 << 20)
#define ROUNDS		5
#define WINDOW		16
#define TAG_AEAD	10
#define TAG_SIGN	13

enum { PLAIN, AEAD, SIGN, NKIND };

static int rank;
static unsigned char *buf, *buf2;
static double cpu_send[NKIND], cpu_recv[NKIND];	/* seconds, summed */

static double
cpu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int
xsend(int k, int size, int peer, int tag)
{
	double t = cpu_now();
	int rc = k == PLAIN ? PMPI_Send(buf, size, MPI_BYTE, peer, tag,
	    MPI_COMM_WORLD) : MPI_Send(buf, size, MPI_BYTE, peer, tag,
	    MPI_COMM_WORLD);

	cpu_send[k] += cpu_now() - t;
	return rc;
}

static int
xrecv(int k, int size, int peer, int tag)
{
	int rc, flag = 0;
	double t;

	/* Wait outside the measured part: CPU of the receive itself. */
	while (!flag)
		PMPI_Iprobe(peer, tag, MPI_COMM_WORLD, &flag,
		    MPI_STATUS_IGNORE);
	t = cpu_now();
	rc = k == PLAIN ? PMPI_Recv(buf2, size, MPI_BYTE, peer, tag,
	    MPI_COMM_WORLD, MPI_STATUS_IGNORE) : MPI_Recv(buf2, size,
	    MPI_BYTE, peer, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	cpu_recv[k] += cpu_now() - t;
	return rc;
}

static double
pingpong(int k, int size, int iters)
{
	int tag = k == SIGN ? TAG_SIGN : TAG_AEAD, i;
	double t0;

	PMPI_Barrier(MPI_COMM_WORLD);
	t0 = MPI_Wtime();
	for (i = 0; i < iters; i++) {
		if (rank == 0) {
			xsend(k, size, 1, tag);
			xrecv(k, size, 1, tag);
		} else {
			xrecv(k, size, 0, tag);
			xsend(k, size, 0, tag);
		}
	}
	return (MPI_Wtime() - t0) / iters / 2;
}

static double
stream(int k, int size, int iters)
{
	int tag = k == SIGN ? TAG_SIGN : TAG_AEAD, i, j, ack = 0;
	MPI_Request req[WINDOW];
	double t0;

	PMPI_Barrier(MPI_COMM_WORLD);
	t0 = MPI_Wtime();
	for (i = 0; i < iters; i++) {
		for (j = 0; j < WINDOW; j++) {
			if (rank == 0 && k == PLAIN)
				PMPI_Isend(buf, size, MPI_BYTE, 1, tag,
				    MPI_COMM_WORLD, &req[j]);
			else if (rank == 0)
				MPI_Isend(buf, size, MPI_BYTE, 1, tag,
				    MPI_COMM_WORLD, &req[j]);
			else if (k == PLAIN)
				PMPI_Irecv(buf2, size, MPI_BYTE, 0, tag,
				    MPI_COMM_WORLD, &req[j]);
			else
				MPI_Irecv(buf2, size, MPI_BYTE, 0, tag,
				    MPI_COMM_WORLD, &req[j]);
		}
		if (k == PLAIN)
			PMPI_Waitall(WINDOW, req, MPI_STATUSES_IGNORE);
		else
			MPI_Waitall(WINDOW, req, MPI_STATUSES_IGNORE);
	}
	if (rank == 0)
		PMPI_Recv(&ack, 1, MPI_INT, 1, 999, MPI_COMM_WORLD,
		    MPI_STATUS_IGNORE);
	else
		PMPI_Send(&ack, 1, MPI_INT, 0, 999, MPI_COMM_WORLD);
	return (double)size * WINDOW * iters / (MPI_Wtime() - t0);
}

/* CPU microseconds for one sign and one verify of 84 + size + 40 bytes. */
static void
sign_verify_cost(int size, int iters, double *sign_us, double *verify_us)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	EVP_MD_CTX *st = EVP_MD_CTX_new(), *vt = EVP_MD_CTX_new();
	EVP_MD_CTX *w = EVP_MD_CTX_new();
	unsigned char sig[80];
	size_t slen = 0, n = 84 + (size_t)size + 40;
	double t0;
	int i;

	EVP_DigestSignInit_ex(st, NULL, "SHA256", NULL, NULL, k, NULL);
	EVP_DigestVerifyInit_ex(vt, NULL, "SHA256", NULL, NULL, k, NULL);
	t0 = cpu_now();
	for (i = 0; i < iters; i++) {
		slen = sizeof(sig);
		EVP_MD_CTX_copy_ex(w, st);
		EVP_DigestSignUpdate(w, buf, n);
		EVP_DigestSignFinal(w, sig, &slen);
	}
	*sign_us = (cpu_now() - t0) / iters * 1e6;
	t0 = cpu_now();
	for (i = 0; i < iters; i++) {
		EVP_MD_CTX_copy_ex(w, vt);
		EVP_DigestVerifyUpdate(w, buf, n);
		if (EVP_DigestVerifyFinal(w, sig, slen) != 1)
			fprintf(stderr, "sign_bench: verify failed\n");
	}
	*verify_us = (cpu_now() - t0) / iters * 1e6;
	EVP_MD_CTX_free(w);
	EVP_MD_CTX_free(st);
	EVP_MD_CTX_free(vt);
	EVP_PKEY_free(k);
}

int
main(int argc, char **argv)
{
	static const int sizes[] = { 1, 256, 4096, 65536, 1 << 20 };
	const char *csv_path = NULL;
	FILE *csv = NULL;
	int i, r, k, size, quick = 0;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
			csv_path = argv[++i];
		else if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
	}
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	PMPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size != 2) {
		if (rank == 0)
			fprintf(stderr, "sign_bench: run with exactly 2 ranks\n");
		MPI_Finalize();
		return 2;
	}
	buf = aligned_alloc(64, MAX_SIZE + 256);
	buf2 = aligned_alloc(64, MAX_SIZE + 256);
	memset(buf, 0x5a, MAX_SIZE + 256);
	memset(buf2, 0, MAX_SIZE + 256);
	if (rank == 0 && csv_path && (csv = fopen(csv_path, "w")) == NULL) {
		perror(csv_path);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	if (rank == 0) {
		printf("# sign_bench: one-way latency (us), streaming bandwidth "
		    "(MB/s), best of %d alternating rounds; sign/verify: one "
		    "each with OpenSSL, same run\n", ROUNDS);
		printf("%8s %8s %8s %8s %7s %7s %8s %8s %8s %8s %8s %8s %8s\n",
		    "bytes", "lat.pl", "lat.aead", "lat.sig", "sign", "verify",
		    "bw.pl", "bw.aead", "bw.sig", "snd.aead", "snd.sig",
		    "rcv.aead", "rcv.sig");
		if (csv)
			fprintf(csv, "bytes,lat_plain_us,lat_aead_us,"
			    "lat_sign_us,sign_us,verify_us,bw_plain_MBs,"
			    "bw_aead_MBs,bw_sign_MBs,send_cpu_aead_us,"
			    "send_cpu_sign_us,recv_cpu_aead_us,"
			    "recv_cpu_sign_us\n");
	}
	for (i = 0; i < (int)(sizeof(sizes) / sizeof(sizes[0])); i++) {
		int n = sizes[i];
		int it = (int)(20000000LL / (n + 20000));
		double lat[NKIND], bw[NKIND], su = 0, vu = 0;

		it = it < 20 ? 20 : it > 1000 ? 1000 : it;
		if (quick)
			it = it / 10 < 5 ? 5 : it / 10;
		for (k = 0; k < NKIND; k++) {
			lat[k] = 1e9;
			bw[k] = 0;
			cpu_send[k] = cpu_recv[k] = 0;
		}
		for (r = 0; r < ROUNDS; r++)
			for (k = 0; k < NKIND; k++) {
				double x = pingpong(k, n, it);
				int sit = it / WINDOW > 2 ? it / WINDOW : 2;

				lat[k] = x < lat[k] ? x : lat[k];
				x = stream(k, n, sit);
				bw[k] = x > bw[k] ? x : bw[k];
			}
		if (rank != 0)
			continue;
		sign_verify_cost(n, it < 200 ? it : 200, &su, &vu);
		/* Per message: each round sent and received it times. */
		for (k = 0; k < NKIND; k++) {
			cpu_send[k] = cpu_send[k] / (ROUNDS * it) * 1e6;
			cpu_recv[k] = cpu_recv[k] / (ROUNDS * it) * 1e6;
		}
		printf("%8d %8.2f %8.2f %8.2f %7.1f %7.1f %8.0f %8.0f %8.0f "
		    "%8.1f %8.1f %8.1f %8.1f\n",
		    n, lat[PLAIN] * 1e6, lat[AEAD] * 1e6, lat[SIGN] * 1e6, su,
		    vu, bw[PLAIN] / 1e6, bw[AEAD] / 1e6, bw[SIGN] / 1e6,
		    cpu_send[AEAD], cpu_send[SIGN], cpu_recv[AEAD],
		    cpu_recv[SIGN]);
		if (csv)
			fprintf(csv, "%d,%.3f,%.3f,%.3f,%.2f,%.2f,%.1f,%.1f,"
			    "%.1f,%.2f,%.2f,%.2f,%.2f\n", n, lat[PLAIN] * 1e6,
			    lat[AEAD] * 1e6, lat[SIGN] * 1e6, su, vu,
			    bw[PLAIN] / 1e6, bw[AEAD] / 1e6, bw[SIGN] / 1e6,
			    cpu_send[AEAD], cpu_send[SIGN], cpu_recv[AEAD],
			    cpu_recv[SIGN]);
		fflush(stdout);
	}
	if (csv)
		fclose(csv);
	free(buf);
	free(buf2);
	MPI_Finalize();
	return 0;
}
