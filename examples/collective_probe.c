/* SPDX-License-Identifier: Apache-2.0 */
/* One collective esmpi does not protect (every other collective is
 * sealed): MPI_Reduce_scatter_block on an intercommunicator or, with the
 * argument "persistent", Open MPI's persistent MPIX_Allreduce_init. Under
 * the default policy (unprotected: deny) the library refuses it; with
 * `unprotected: allow` it runs and prints the sum of the ranks. Run with
 * 2 ranks. */
#include <mpi.h>
#include <mpi-ext.h>
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	int rank, size, other = -1, sum;
	MPI_Comm self, inter;
	MPI_Request req;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (argc > 1 && strcmp(argv[1], "persistent") == 0) {
		MPIX_Allreduce_init(&rank, &sum, 1, MPI_INT, MPI_SUM,
		    MPI_COMM_WORLD, MPI_INFO_NULL, &req);
		MPI_Start(&req);
		MPI_Wait(&req, MPI_STATUS_IGNORE);
		MPI_Request_free(&req);
	} else {
		/* Own rank plus the other group's. */
		MPI_Comm_split(MPI_COMM_WORLD, rank, 0, &self);
		MPI_Intercomm_create(self, 0, MPI_COMM_WORLD, 1 - rank, 7,
		    &inter);
		MPI_Reduce_scatter_block(&rank, &other, 1, MPI_INT, MPI_SUM,
		    inter);
		sum = rank + other;
		MPI_Comm_free(&inter);
		MPI_Comm_free(&self);
	}
	if (rank == 0)
		printf("collective_probe: %d ranks, sum of ranks %d\n", size,
		    sum);
	MPI_Finalize();
	return sum == size * (size - 1) / 2 ? 0 : 1;
}
