/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A call esmpi does not protect, for the tests of the policy's
 * `unprotected` setting: with MPI-4 (MPICH) MPICH's fault-tolerance
 * agreement MPIX_Comm_agree (ULFM), which esmpi refuses under the default
 * policy, unprotected: deny, and lets through unsealed with `unprotected:
 * allow` (where Debian's MPICH 4.0.2 itself fails on it: its ch4 device
 * asserts, built without fault tolerance). Open MPI 4.1 has no such call left: there the program runs a
 * persistent collective, which esmpi protects: the persistent
 * Reduce_scatter_block_init or, with the argument "persistent",
 * Allreduce_init (Open MPI 4's extensions MPIX_*_init). It prints the sum
 * of the ranks. Run with 2 ranks.
 */
#include <mpi.h>
#if MPI_VERSION < 4
#include <mpi-ext.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
	int rank, size, sum = -1, i, *all;
#if MPI_VERSION >= 4
	int flag;
#else
	MPI_Request req;
#endif

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if ((all = malloc((size_t)size * sizeof(int))) == NULL)
		MPI_Abort(MPI_COMM_WORLD, 2);
	for (i = 0; i < size; i++)
		all[i] = rank;
#if MPI_VERSION >= 4
	/* The agreement ANDs the flags: each rank clears its own bit. */
	(void)argv;
	flag = ~(1 << rank);
	MPIX_Comm_agree(MPI_COMM_WORLD, &flag);
	for (i = 0, sum = 0; i < size && i < 31; i++)
		if (!(flag & (1 << i)))
			sum += i;
#else
	if (argc > 1 && strcmp(argv[1], "persistent") == 0)
		MPIX_Allreduce_init(&rank, &sum, 1, MPI_INT, MPI_SUM,
		    MPI_COMM_WORLD, MPI_INFO_NULL, &req);
	else
		/* Every rank's block of the sum of all ranks' vectors. */
		MPIX_Reduce_scatter_block_init(all, &sum, 1, MPI_INT, MPI_SUM,
		    MPI_COMM_WORLD, MPI_INFO_NULL, &req);
	MPI_Start(&req);
	MPI_Wait(&req, MPI_STATUS_IGNORE);
	MPI_Request_free(&req);
#endif
	free(all);
	if (rank == 0)
		printf("collective_probe: %d ranks, sum of ranks %d\n", size,
		    sum);
	MPI_Finalize();
	return sum == size * (size - 1) / 2 ? 0 : 1;
}
