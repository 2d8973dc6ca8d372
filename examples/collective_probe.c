/* SPDX-License-Identifier: Apache-2.0 */
/* A collective esmpi does not protect (every MPI-3.1 collective is
 * sealed): the persistent Reduce_scatter_block_init or, with the argument
 * "persistent", Allreduce_init (MPI-4's MPI_*_init; Open MPI 4's
 * extensions MPIX_*_init). Under the default policy (unprotected: deny)
 * the library refuses it; with `unprotected: allow` it runs and prints
 * the sum of the ranks. Run with 2 ranks. */
#include <mpi.h>
#if MPI_VERSION >= 4
#define ALLREDUCE_INIT MPI_Allreduce_init
#define REDUCE_SCATTER_BLOCK_INIT MPI_Reduce_scatter_block_init
#else
#include <mpi-ext.h>
#define ALLREDUCE_INIT MPIX_Allreduce_init
#define REDUCE_SCATTER_BLOCK_INIT MPIX_Reduce_scatter_block_init
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
	int rank, size, sum = -1, i, *all;
	MPI_Request req;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if ((all = malloc((size_t)size * sizeof(int))) == NULL)
		MPI_Abort(MPI_COMM_WORLD, 2);
	for (i = 0; i < size; i++)
		all[i] = rank;
	if (argc > 1 && strcmp(argv[1], "persistent") == 0)
		ALLREDUCE_INIT(&rank, &sum, 1, MPI_INT, MPI_SUM,
		    MPI_COMM_WORLD, MPI_INFO_NULL, &req);
	else
		/* Every rank's block of the sum of all ranks' vectors. */
		REDUCE_SCATTER_BLOCK_INIT(all, &sum, 1, MPI_INT, MPI_SUM,
		    MPI_COMM_WORLD, MPI_INFO_NULL, &req);
	MPI_Start(&req);
	MPI_Wait(&req, MPI_STATUS_IGNORE);
	MPI_Request_free(&req);
	free(all);
	if (rank == 0)
		printf("collective_probe: %d ranks, sum of ranks %d\n", size,
		    sum);
	MPI_Finalize();
	return sum == size * (size - 1) / 2 ? 0 : 1;
}
