/* SPDX-License-Identifier: Apache-2.0 */
/* Starts MPI with PMPI_Init, past any MPI_Init wrapper (as a tool or a
 * library that calls the profiling interface directly might), then rank 0
 * sends a marker string to rank 1. Plain MPI delivers it; under esmpi the
 * session never started, so the send and the receive must be refused,
 * never run in plaintext; so must the marker's broadcast and its Put into
 * rank 1's window that follow. Errors return (MPI_ERRORS_RETURN) unless the
 * argument is "fatal". Each rank prints what happened; exit 1 if a call
 * failed. */
#include <time.h>

#include "example_util.h"

#define MARKER "PMPI-INIT-MARKER-7f3a9c"

static const char *
what(int rc, char *s)
{
	int len = 0;

	if (rc == MPI_SUCCESS)
		return "MPI_SUCCESS";
	MPI_Error_string(rc, s, &len);
	return s;
}

int
main(int argc, char **argv)
{
	char buf[64], err[MPI_MAX_ERROR_STRING];
	int rank, size, rc = MPI_SUCCESS, rc2, flag = 0;
	MPI_Request req = MPI_REQUEST_NULL;
	time_t until;

	PMPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (argc < 2 || strcmp(argv[1], "fatal") != 0)
		MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	if (size >= 2 && rank == 0) {
		rc = MPI_Send(MARKER, (int)sizeof(MARKER), MPI_CHAR, 1, 7,
		    MPI_COMM_WORLD);
		printf("pmpi_init: rank 0: MPI_Send: %s\n", what(rc, err));
	} else if (size >= 2 && rank == 1) {
		/* A receive that cannot hang: what arrives within 3 s. */
		memset(buf, 0, sizeof(buf));
		rc = MPI_Irecv(buf, (int)sizeof(buf) - 1, MPI_CHAR, 0, 7,
		    MPI_COMM_WORLD, &req);
		for (until = time(NULL) + 3; rc == MPI_SUCCESS && !flag &&
		    time(NULL) < until;)
			rc = MPI_Test(&req, &flag, MPI_STATUS_IGNORE);
		if (rc == MPI_SUCCESS && !flag) {
			MPI_Cancel(&req);
			MPI_Wait(&req, MPI_STATUS_IGNORE);
		}
		printf("pmpi_init: rank 1: MPI_Irecv: %s, received '%s'\n",
		    what(rc, err), buf);
	}
	fflush(stdout);
	MPI_Barrier(MPI_COMM_WORLD);

	/* The marker through a collective, then one-sided into rank 1. */
	memset(buf, 0, sizeof(buf));
	if (rank == 0)
		strcpy(buf, MARKER);
	rc2 = MPI_Bcast(buf, (int)sizeof(buf), MPI_CHAR, 0, MPI_COMM_WORLD);
	printf("pmpi_init: rank %d: MPI_Bcast: %s, has '%s'\n", rank,
	    what(rc2, err), rank == 0 ? "" : buf);
	rc = rc == MPI_SUCCESS ? rc2 : rc;
	rc2 = ex_put_marker(MPI_COMM_WORLD, MARKER, buf, (int)sizeof(buf));
	printf("pmpi_init: rank %d: MPI_Win_create, MPI_Put: %s, has '%s'\n",
	    rank, what(rc2, err), buf);
	rc = rc == MPI_SUCCESS ? rc2 : rc;
	fflush(stdout);
	PMPI_Finalize();
	return rc == MPI_SUCCESS ? 0 : 1;
}
