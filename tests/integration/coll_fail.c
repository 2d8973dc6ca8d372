/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Under MPI_ERRORS_RETURN, with rank 1's first two seals failing
 * (fail_seal.c): a Bcast rooted at rank 1 and an Iallgather return an
 * error on every rank instead of leaving the others waiting, and the
 * Allreduce after them works everywhere.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
	int rank, size, rc, i, b[1000], g[64], sum = 0;
	MPI_Request q;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	setenv("FAIL_SEAL_NOW", "2", 1);	/* fail_seal.c: from here */
	for (i = 0; i < 1000; i++)
		b[i] = rank == 1 ? i : -1;
	rc = MPI_Bcast(b, 1000, MPI_INT, 1, MPI_COMM_WORLD);
	printf("rank %d: bcast %s\n", rank, rc == MPI_SUCCESS ? "ok" :
	    "error");
	rc = MPI_Iallgather(&rank, 1, MPI_INT, g, 1, MPI_INT, MPI_COMM_WORLD,
	    &q);
	if (rc == MPI_SUCCESS)
		rc = MPI_Wait(&q, MPI_STATUS_IGNORE);
	printf("rank %d: iallgather %s\n", rank, rc == MPI_SUCCESS ? "ok" :
	    "error");
	rc = MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	printf("rank %d: allreduce %s %d\n", rank, rc == MPI_SUCCESS ? "ok" :
	    "error", sum);
	MPI_Finalize();
	return 0;
}
