/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A long exchange with every byte checked: ranks 0 and 1 send each other
 * numbered 1 KiB messages (pattern derived from the number) for a given
 * number of rounds. Used to rekey a job while it runs.
 * usage: stream [ROUNDS]   (default 20000)
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define LEN 1024

static void
fill(unsigned char *b, long n, int from)
{
	int i;

	for (i = 0; i < LEN; i++)
		b[i] = (unsigned char)(n * 31 + i * 7 + from);
}

int
main(int argc, char **argv)
{
	unsigned char out[LEN], in[LEN], want[LEN];
	long rounds = argc > 1 ? atol(argv[1]) : 20000, n, bad = 0;
	int rank, size, peer, i;
	unsigned long sum = 0;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size != 2) {
		if (rank == 0)
			fprintf(stderr, "stream: run with 2 ranks\n");
		MPI_Finalize();
		return 2;
	}
	peer = 1 - rank;
	for (n = 0; n < rounds; n++) {
		fill(out, n, rank);
		MPI_Sendrecv(out, LEN, MPI_BYTE, peer, (int)(n % 7), in, LEN,
		    MPI_BYTE, peer, (int)(n % 7), MPI_COMM_WORLD,
		    MPI_STATUS_IGNORE);
		fill(want, n, peer);
		for (i = 0; i < LEN; i++) {
			bad += in[i] != want[i];
			sum = sum * 131 + in[i];
		}
	}
	if (rank == 0)
		printf("stream: %ld rounds, %s, checksum %lu\n", rounds,
		    bad ? "CORRUPTED" : "OK", sum);
	MPI_Finalize();
	return bad ? 1 : 0;
}
