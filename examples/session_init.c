/* SPDX-License-Identifier: Apache-2.0 */
/* MPI-4 sessions, past MPI_Init (MPICH 4): a communicator from a session's
 * mpi://WORLD, then rank 0 sends a marker string to rank 1 and Puts it
 * into rank 1's window. With no argument the session comes from
 * MPI_Session_init and MPI_Comm_create_from_group, which esmpi protects;
 * with "pmpi" from their PMPI_ forms, past any wrapper (as a tool
 * might). Plain MPICH delivers the marker; under esmpi the first runs
 * sealed, and the second's send, receive and Put must be refused, never
 * run in plaintext. Each rank prints what happened; exit 1 if a call
 * failed. */
#include <time.h>

#include "example_util.h"

#define MARKER "SESSION-MARKER-4c1e"

static int use_pmpi;

static const char *
what(int rc)
{
	static char s[MPI_MAX_ERROR_STRING];
	int len = 0;

	if (rc == MPI_SUCCESS)
		return "MPI_SUCCESS";
	if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS)
		snprintf(s, sizeof(s), "error %d", rc);
	return s;
}

static int
start(MPI_Session *s, MPI_Comm *comm)
{
	MPI_Group g;
	int rc;

	rc = (use_pmpi ? PMPI_Session_init : MPI_Session_init)(MPI_INFO_NULL,
	    MPI_ERRORS_RETURN, s);
	if (rc != MPI_SUCCESS) {
		printf("session_init: MPI_Session_init: %s\n", what(rc));
		return rc;
	}
	rc = (use_pmpi ? PMPI_Group_from_session_pset :
	    MPI_Group_from_session_pset)(*s, "mpi://WORLD", &g);
	if (rc == MPI_SUCCESS)
		rc = (use_pmpi ? PMPI_Comm_create_from_group :
		    MPI_Comm_create_from_group)(g, "esmpi.session_init",
		    MPI_INFO_NULL, MPI_ERRORS_RETURN, comm);
	if (rc != MPI_SUCCESS)
		printf("session_init: communicator: %s\n", what(rc));
	return rc;
}

int
main(int argc, char **argv)
{
	char buf[64];
	int rank = -1, size = 0, rc, rc2, flag = 0;
	MPI_Request req = MPI_REQUEST_NULL;
	MPI_Session s = MPI_SESSION_NULL;
	MPI_Comm comm = MPI_COMM_NULL;
	time_t until;

	use_pmpi = argc > 1 && strcmp(argv[1], "pmpi") == 0;
	if ((rc = start(&s, &comm)) != MPI_SUCCESS) {
		fflush(stdout);
		if (s != MPI_SESSION_NULL)
			PMPI_Session_finalize(&s);
		return 1;
	}
	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &size);
	if (size >= 2 && rank == 0) {
		rc = MPI_Send(MARKER, (int)sizeof(MARKER), MPI_CHAR, 1, 7, comm);
		printf("session_init: rank 0: MPI_Send: %s\n", what(rc));
	} else if (size >= 2 && rank == 1) {
		/* A receive that cannot hang: what arrives within 3 s. */
		memset(buf, 0, sizeof(buf));
		rc = MPI_Irecv(buf, (int)sizeof(buf) - 1, MPI_CHAR, 0, 7, comm,
		    &req);
		for (until = time(NULL) + 3; rc == MPI_SUCCESS && !flag &&
		    time(NULL) < until;)
			rc = MPI_Test(&req, &flag, MPI_STATUS_IGNORE);
		if (rc == MPI_SUCCESS && !flag) {
			MPI_Cancel(&req);
			MPI_Wait(&req, MPI_STATUS_IGNORE);
		}
		printf("session_init: rank 1: MPI_Irecv: %s, received '%s'\n",
		    what(rc), buf);
	}
	/* One-sided into rank 1. */
	rc2 = ex_put_marker(comm, MARKER, buf, (int)sizeof(buf));
	printf("session_init: rank %d: MPI_Win_create, MPI_Put: %s, has "
	    "'%s'\n", rank, what(rc2), buf);
	rc = rc == MPI_SUCCESS ? rc2 : rc;
	fflush(stdout);
	(use_pmpi ? PMPI_Comm_free : MPI_Comm_free)(&comm);
	(use_pmpi ? PMPI_Session_finalize : MPI_Session_finalize)(&s);
	return rc == MPI_SUCCESS ? 0 : 1;
}
