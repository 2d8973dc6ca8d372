/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Persistent and inactive requests, to and from ourselves (issue 20).
 * Every rank on its own (MPI_COMM_WORLD ranks talk to themselves only):
 *
 *   - MPI_Send_init to itself; Test, Wait, Request_get_status, Testall,
 *     Waitall, Testany, Waitany, Testsome, Waitsome on the inactive
 *     request (flag true or MPI_UNDEFINED, empty status);
 *   - Irecvs from every rank posted, Start and Wait of the persistent
 *     send, Test on it again (inactive);
 *   - MPI_Recv_init from itself, from MPI_ANY_SOURCE and from
 *     MPI_PROC_NULL: each waited while inactive, started, waited,
 *     waited again; the same with Startall and Waitall;
 *   - a persistent send to MPI_PROC_NULL, started and waited.
 *
 * Each status is printed field by field (source, tag, error as the call
 * left it, count, cancelled), so the output is compared with plain MPI's.
 */
#include "example_util.h"

#define MARK 4242	/* MPI_ERROR as the caller set it */

static int rank, size;
static uint64_t sum = FNV_INIT;

static void
fresh(MPI_Status *st)
{
	st->MPI_SOURCE = -77;
	st->MPI_TAG = -77;
	st->MPI_ERROR = MARK;
}

static void
show(const char *what, int rc, int flag, const MPI_Status *st)
{
	int count = -1, cancelled = -1;

	MPI_Get_count(st, MPI_INT, &count);
	MPI_Test_cancelled(st, &cancelled);
	if (rank == 0)
		printf("persist_self: %s: rc %d flag %d source %d tag %d "
		    "error %d count %d cancelled %d\n", what, rc, flag,
		    st->MPI_SOURCE, st->MPI_TAG, st->MPI_ERROR, count,
		    cancelled);
	sum = fnv_u64(sum, (uint64_t)(rc * 7 + flag));
}

/* Every completion call on one inactive request. */
static void
inactive(const char *name, MPI_Request *req)
{
	MPI_Status st, sts[1];
	char what[96];
	int rc, flag = -1, idx = -5, out = -5;

	fresh(&st);
	rc = MPI_Test(req, &flag, &st);
	snprintf(what, sizeof(what), "%s inactive Test", name);
	show(what, rc, flag, &st);
	fresh(&st);
	rc = MPI_Wait(req, &st);
	snprintf(what, sizeof(what), "%s inactive Wait", name);
	show(what, rc, 1, &st);
	fresh(&st);
	rc = MPI_Request_get_status(*req, &flag, &st);
	snprintf(what, sizeof(what), "%s inactive Request_get_status", name);
	show(what, rc, flag, &st);
	fresh(&sts[0]);
	rc = MPI_Testall(1, req, &flag, sts);
	snprintf(what, sizeof(what), "%s inactive Testall", name);
	show(what, rc, flag, &sts[0]);
	fresh(&sts[0]);
	rc = MPI_Waitall(1, req, sts);
	snprintf(what, sizeof(what), "%s inactive Waitall", name);
	show(what, rc, 1, &sts[0]);
	fresh(&st);
	rc = MPI_Testany(1, req, &idx, &flag, &st);
	snprintf(what, sizeof(what), "%s inactive Testany idx %d", name, idx);
	show(what, rc, flag, &st);
	fresh(&st);
	rc = MPI_Waitany(1, req, &idx, &st);
	snprintf(what, sizeof(what), "%s inactive Waitany idx %d", name, idx);
	show(what, rc, 1, &st);
	rc = MPI_Testsome(1, req, &out, &idx, sts);
	snprintf(what, sizeof(what), "%s inactive Testsome out %d", name, out);
	show(what, rc, 1, &st);
	rc = MPI_Waitsome(1, req, &out, &idx, sts);
	snprintf(what, sizeof(what), "%s inactive Waitsome out %d", name, out);
	show(what, rc, 1, &st);
	CHECK(*req != MPI_REQUEST_NULL, "%s: inactive request freed", name);
}

static void
recv_init(const char *name, int src, int tag, int stag)
{
	int in = -1, out = 1000 + rank, rc, flag;
	MPI_Request req, sreq = MPI_REQUEST_NULL;
	MPI_Status st;
	char what[96];

	MPI_OK(MPI_Recv_init(&in, 1, MPI_INT, src, tag, MPI_COMM_WORLD, &req));
	inactive(name, &req);
	if (src != MPI_PROC_NULL)
		MPI_OK(MPI_Isend(&out, 1, MPI_INT, rank, stag, MPI_COMM_WORLD,
		    &sreq));
	/* Asked about while inactive, right before it starts. */
	fresh(&st);
	rc = MPI_Request_get_status(req, &flag, &st);
	snprintf(what, sizeof(what), "%s inactive Request_get_status before "
	    "Start", name);
	show(what, rc, flag, &st);
	MPI_OK(MPI_Start(&req));
	fresh(&st);
	rc = MPI_Wait(&req, &st);
	snprintf(what, sizeof(what), "%s started Wait", name);
	show(what, rc, 1, &st);
	CHECK(in == (src == MPI_PROC_NULL ? -1 : out), "%s: got %d", name, in);
	MPI_OK(MPI_Wait(&sreq, MPI_STATUS_IGNORE));
	inactive(name, &req);
	/* Once more through Startall and Waitall. */
	in = -1;
	if (src != MPI_PROC_NULL)
		MPI_OK(MPI_Isend(&out, 1, MPI_INT, rank, stag, MPI_COMM_WORLD,
		    &sreq));
	MPI_OK(MPI_Startall(1, &req));
	fresh(&st);
	rc = MPI_Waitall(1, &req, &st);
	snprintf(what, sizeof(what), "%s Startall Waitall", name);
	show(what, rc, 1, &st);
	CHECK(in == (src == MPI_PROC_NULL ? -1 : out), "%s: got %d", name, in);
	MPI_OK(MPI_Wait(&sreq, MPI_STATUS_IGNORE));
	MPI_OK(MPI_Request_free(&req));
	sum = fnv_u64(sum, (uint64_t)in);
}

int
main(int argc, char **argv)
{
	MPI_Request sreq, *rq;
	MPI_Status st;
	int v = 7, *got, i, rc, flag = -1;

	rank = ex_init(&argc, &argv, &size);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	got = calloc(size, sizeof(*got));
	rq = calloc(size, sizeof(*rq));

	MPI_OK(MPI_Send_init(&v, 1, MPI_INT, rank, 1, MPI_COMM_WORLD, &sreq));
	inactive("Send_init to self", &sreq);
	/* Irecvs from every rank; only our own message comes. */
	for (i = 0; i < size; i++)
		MPI_OK(MPI_Irecv(&got[i], 1, MPI_INT, i, 1, MPI_COMM_WORLD,
		    &rq[i]));
	MPI_OK(MPI_Start(&sreq));
	fresh(&st);
	rc = MPI_Wait(&sreq, &st);
	show("Send_init to self started Wait", rc, 1, &st);
	fresh(&st);
	rc = MPI_Test(&sreq, &flag, &st);
	show("Send_init to self Test after Wait", rc, flag, &st);
	fresh(&st);
	rc = MPI_Wait(&rq[rank], &st);
	show("Irecv from self Wait", rc, 1, &st);
	CHECK(got[rank] == v, "got %d from myself", got[rank]);
	for (i = 0; i < size; i++)
		if (i != rank) {
			MPI_OK(MPI_Cancel(&rq[i]));
			MPI_OK(MPI_Wait(&rq[i], &st));
		}
	MPI_OK(MPI_Request_free(&sreq));

	recv_init("Recv_init from self", rank, 2, 2);
	recv_init("Recv_init from ANY_SOURCE", MPI_ANY_SOURCE, 3, 3);
	recv_init("Recv_init from PROC_NULL", MPI_PROC_NULL, 4, 4);
	recv_init("Recv_init ANY_TAG from self", rank, MPI_ANY_TAG, 6);

	MPI_OK(MPI_Send_init(&v, 1, MPI_INT, MPI_PROC_NULL, 5, MPI_COMM_WORLD,
	    &sreq));
	inactive("Send_init to PROC_NULL", &sreq);
	MPI_OK(MPI_Start(&sreq));
	fresh(&st);
	rc = MPI_Wait(&sreq, &st);
	show("Send_init to PROC_NULL started Wait", rc, 1, &st);
	MPI_OK(MPI_Request_free(&sreq));

	free(got);
	free(rq);
	rc = ex_finish("persist_self", sum);
	MPI_Finalize();
	return rc;
}
