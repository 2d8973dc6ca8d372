/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A long exchange with every byte checked: ranks 0 and 1 send each other
 * numbered 1 KiB messages (pattern derived from the number) for a given
 * number of rounds. Used to rekey a job while it runs.
 * usage: stream [ROUNDS [STOPFILE]]   (default 20000)
 * With STOPFILE, ROUNDS is a cap: rank 0 looks for STOPFILE every 256
 * rounds and, once it exists, makes that round the last (its message goes
 * with tag 7, which no other round uses), so a test can keep a job running
 * for exactly as long as it needs, however fast the machine.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define LEN 1024
#define LAST_TAG 7

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
	const char *stop = argc > 2 ? argv[2] : NULL;
	int rank, size, peer, i, tag, last = 0;
	unsigned long sum = 0;
	MPI_Status st;

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
	for (n = 0; n < rounds && !last; n++) {
		fill(out, n, rank);
		tag = (int)(n % 7);
		if (stop != NULL && rank == 0 && n % 256 == 255 &&
		    access(stop, F_OK) == 0) {
			tag = LAST_TAG;
			last = 1;
		}
		MPI_Sendrecv(out, LEN, MPI_BYTE, peer, tag, in, LEN,
		    MPI_BYTE, peer, stop != NULL ? MPI_ANY_TAG : tag,
		    MPI_COMM_WORLD, &st);
		if (st.MPI_TAG == LAST_TAG)
			last = 1;
		fill(want, n, peer);
		for (i = 0; i < LEN; i++) {
			bad += in[i] != want[i];
			sum = sum * 131 + in[i];
		}
	}
	rounds = n;
	if (rank == 0)
		printf("stream: %ld rounds, %s, checksum %lu\n", rounds,
		    bad ? "CORRUPTED" : "OK", sum);
	MPI_Finalize();
	return bad ? 1 : 0;
}
