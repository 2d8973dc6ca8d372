/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_join.py: each rank's first message is 1000 bytes to its partner
 * (rank 1 to rank 0 with tag 7, rank 0 to rank 1 with tag 8): run plain,
 * it is larger than what a join or a verdict may be.
 */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	char b[1000];
	int rank;

	memset(b, 'x', sizeof(b));
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (rank == 1)
		MPI_Send(b, sizeof(b), MPI_CHAR, 0, 7, MPI_COMM_WORLD);
	else if (rank == 0)
		MPI_Send(b, sizeof(b), MPI_CHAR, 1, 8, MPI_COMM_WORLD);
	MPI_Finalize();
	printf("join_big: rank %d done\n", rank);
	return 0;
}
