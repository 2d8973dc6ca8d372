/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cost of MPI_Init: run once plain and once under esmpi (esmpirun); the
 * difference is the job key establishment (key shares, wrap at rank 0's
 * daemon, unwrap). Prints the slowest rank's MPI_Init time in ms.
 */
#include <mpi.h>
#include <stdio.h>
#include <time.h>

int
main(int argc, char **argv)
{
	struct timespec a, b;
	double ms, worst;
	int rank, size;

	clock_gettime(CLOCK_MONOTONIC, &a);
	MPI_Init(&argc, &argv);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
	PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
	PMPI_Comm_size(MPI_COMM_WORLD, &size);
	PMPI_Reduce(&ms, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
	if (rank == 0)
		printf("init_cost: %d ranks, slowest MPI_Init %.1f ms\n", size,
		    worst);
	MPI_Finalize();
	return 0;
}
