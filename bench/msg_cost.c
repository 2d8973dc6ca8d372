/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-message CPU cost, independent of scheduling noise: one rank sends
 * to itself on MPI_COMM_SELF (blocking Send then Recv, no waiting for a
 * peer). bench/run.sh --instr runs it under valgrind at two iteration
 * counts and divides the difference of executed instructions, so start-up
 * cancels out. Modes: plain (PMPI_*), esmpi (MPI_*), aead (one seal plus
 * one open of its record on the engine libesmpi selects, the cost esmpi
 * cannot avoid; under valgrind ipsec-mb runs its AVX2 code, valgrind
 * having no AVX-512).
 * Usage: esmpi_msg_cost plain|esmpi|aead BYTES ITERS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "aead_cost.h"

int
main(int argc, char **argv)
{
	int size, iters, i;
	const char *mode;

	if (argc != 4) {
		fprintf(stderr, "usage: esmpi_msg_cost plain|esmpi|aead "
		    "BYTES ITERS\n");
		return 2;
	}
	mode = argv[1];
	size = atoi(argv[2]);
	iters = atoi(argv[3]);
	MPI_Init(&argc, &argv);
	buf = calloc(1, (size_t)size + ESMPI_REC_OVERHEAD + 64);
	buf2 = calloc(1, (size_t)size + ESMPI_REC_OVERHEAD + 64);
	if (strcmp(mode, "aead") == 0) {
		if (seal_open_cost(ESMPI_ENGINE_AUTO, ESMPI_SUITE_AES_256_GCM,
		    size, iters) < 0) {
			fprintf(stderr, "esmpi_msg_cost: no AEAD engine: %s\n",
			    esmpi_aead_engine_name());
			return 1;
		}
	} else {
		int enc = strcmp(mode, "esmpi") == 0;

		for (i = 0; i < iters; i++) {
			(enc ? MPI_Send : PMPI_Send)(buf, size, MPI_BYTE, 0,
			    10, MPI_COMM_SELF);
			(enc ? MPI_Recv : PMPI_Recv)(buf2, size, MPI_BYTE, 0,
			    10, MPI_COMM_SELF, MPI_STATUS_IGNORE);
		}
	}
	free(buf);
	free(buf2);
	MPI_Finalize();
	return 0;
}
