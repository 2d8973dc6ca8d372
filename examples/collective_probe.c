/* SPDX-License-Identifier: Apache-2.0 */
/* One MPI_Iallreduce: a collective esmpi does not protect (nonblocking
 * collectives are not sealed yet; blocking ones are). Under the
 * default policy (unprotected: deny) the library refuses it; with
 * `unprotected: allow` it runs and prints the sum of the ranks. */
#include <mpi.h>
#include <stdio.h>

int
main(int argc, char **argv)
{
	int rank, size, sum = -1;
	MPI_Request req;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Iallreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD, &req);
	MPI_Wait(&req, MPI_STATUS_IGNORE);
	if (rank == 0)
		printf("collective_probe: %d ranks, sum of ranks %d\n", size,
		    sum);
	MPI_Finalize();
	return sum == size * (size - 1) / 2 ? 0 : 1;
}
