/* SPDX-License-Identifier: Apache-2.0 */
/* Test-only look at the wire under libesmpi: rank 0 sends 100 bytes with
 * MPI_Send (sealed by esmpi) on tags 7 and 8; rank 1 takes them with
 * PMPI_Recv, which esmpi does not wrap, so it sees the records as they
 * travel, and prints each record's length and header flags. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	unsigned char buf[1024];
	MPI_Status st;
	int rank, tag, n;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	memset(buf, 0x5a, sizeof(buf));
	for (tag = 7; tag <= 8; tag++) {
		if (rank == 0)
			MPI_Send(buf, 100, MPI_BYTE, 1, tag, MPI_COMM_WORLD);
		else if (rank == 1) {
			PMPI_Recv(buf, sizeof(buf), MPI_BYTE, 0, tag,
			    MPI_COMM_WORLD, &st);
			PMPI_Get_count(&st, MPI_BYTE, &n);
			printf("sign_wire: tag %d record %d bytes flags 0x%04x\n",
			    tag, n, n >= 4 ? buf[2] << 8 | buf[3] : 0);
		}
	}
	MPI_Finalize();
	return 0;
}
