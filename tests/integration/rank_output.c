/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For test_launcher_clear.py: every rank joins one sealed allreduce, then
 * the last rank (on a remote host) prints its result with a marker, as a
 * program printing secret results would. Its arguments are ignored (the
 * test puts a marker there too).
 */
#include <mpi.h>
#include <stdio.h>

int
main(int argc, char **argv)
{
	int rank, size, sum = 0;

	(void)argc;
	(void)argv;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (rank == size - 1)
		printf("rank %d result: ESMPI-OUTPUT-MARKER %d\n", rank, sum);
	MPI_Finalize();
	return 0;
}
