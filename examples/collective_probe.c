/* SPDX-License-Identifier: Apache-2.0 */
/* One MPI_Reduce_scatter_block on an intercommunicator: a collective
 * esmpi does not protect (every other collective is sealed). Under the
 * default policy (unprotected: deny) the library refuses it; with
 * `unprotected: allow` it runs and prints the sum of the ranks (own rank
 * plus the other group's). Run with 2 ranks. */
#include <mpi.h>
#include <stdio.h>

int
main(int argc, char **argv)
{
	int rank, size, other = -1, sum;
	MPI_Comm self, inter;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Comm_split(MPI_COMM_WORLD, rank, 0, &self);
	MPI_Intercomm_create(self, 0, MPI_COMM_WORLD, 1 - rank, 7, &inter);
	MPI_Reduce_scatter_block(&rank, &other, 1, MPI_INT, MPI_SUM, inter);
	sum = rank + other;
	if (rank == 0)
		printf("collective_probe: %d ranks, sum of ranks %d\n", size,
		    sum);
	MPI_Comm_free(&inter);
	MPI_Comm_free(&self);
	MPI_Finalize();
	return sum == size * (size - 1) / 2 ? 0 : 1;
}
