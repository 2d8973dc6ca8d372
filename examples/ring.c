/* SPDX-License-Identifier: Apache-2.0 */
/* Pass a token (and a text payload) around the ring of all ranks,
 * printing a checksum: identical with and without esmpi. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	char msg[64];
	int rank, size, token, laps = 3, i;
	unsigned sum = 0;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	for (i = 0; i < laps; i++) {
		if (rank == 0) {
			token = i * 1000;
			snprintf(msg, sizeof(msg), "ESMPI-SECRET-MARKER lap %d", i);
			MPI_Send(&token, 1, MPI_INT, 1 % size, 0, MPI_COMM_WORLD);
			MPI_Send(msg, sizeof(msg), MPI_CHAR, 1 % size, 1,
			    MPI_COMM_WORLD);
			MPI_Recv(&token, 1, MPI_INT, size - 1, 0, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
			MPI_Recv(msg, sizeof(msg), MPI_CHAR, size - 1, 1,
			    MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		} else {
			MPI_Recv(&token, 1, MPI_INT, rank - 1, 0, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
			MPI_Recv(msg, sizeof(msg), MPI_CHAR, rank - 1, 1,
			    MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			token += rank;
			MPI_Send(&token, 1, MPI_INT, (rank + 1) % size, 0,
			    MPI_COMM_WORLD);
			MPI_Send(msg, sizeof(msg), MPI_CHAR, (rank + 1) % size,
			    1, MPI_COMM_WORLD);
		}
		sum = sum * 31 + (unsigned)token;
	}
	if (rank == 0)
		printf("ring: %d ranks, %d laps, token %d, last message '%s', "
		    "checksum %u\n", size, laps, token, msg, sum);
	MPI_Finalize();
	return 0;
}
