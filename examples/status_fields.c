/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Status fields through every single-completion path (issue 20): Probe,
 * Iprobe, Mprobe, Improbe, Mrecv, Imrecv, Recv, Irecv with Wait and Test,
 * persistent receives and sends; small messages (one record), large ones
 * (chunks under esmpi) and ones a probe received early (the stash); and a
 * truncated receive. The caller sets MPI_ERROR (and the other fields) to
 * marks first; every status is printed field by field (source, tag, error,
 * count via MPI_Get_count, cancelled via MPI_Test_cancelled), so the
 * output is compared with plain Open MPI's line by line.
 *
 * Pairs (0,1), (2,3), ...: the even rank sends, the odd one receives and
 * prints (rank 1 only, so the output does not depend on the rank count).
 */
#include "example_util.h"

#define MARK	4242
#define SMALL	10			/* ints */
#define LARGE	(300 * 1024)		/* ints: 1.2 MB, in chunks */

static int rank, size, peer;
static int *buf;

static void
fresh(MPI_Status *st)
{
	st->MPI_SOURCE = -77;
	st->MPI_TAG = -77;
	st->MPI_ERROR = MARK;
}

static void
show(const char *what, int n, int rc, int flag, const MPI_Status *st)
{
	int count = -1, cancelled = -1;

	MPI_Get_count(st, MPI_INT, &count);
	MPI_Test_cancelled(st, &cancelled);
	if (rank == 1)
		printf("status_fields: %s (%d ints): rc %d flag %d source %d "
		    "tag %d error %d count %d cancelled %d\n", what, n, rc,
		    flag, st->MPI_SOURCE == peer ? 0 : st->MPI_SOURCE,
		    st->MPI_TAG, st->MPI_ERROR, count, cancelled);
}

static void
check_data(const char *what, int n, int tag)
{
	int i;

	for (i = 0; i < n && buf[i] == i * 3 + tag; i++)
		;
	CHECK(i == n, "%s: int %d of %d wrong", what, i, n);
}

/* One message of n ints on tag, received by each path in turn. */
static void
receive_all(int n)
{
	MPI_Status st, st2;
	MPI_Message msg;
	MPI_Request req;
	int rc, flag, tag = 1;

#define STEP(what, body) do {						\
	fresh(&st);							\
	flag = -1;							\
	body;								\
} while (0)

	STEP("Recv", (rc = MPI_Recv(buf, n, MPI_INT, peer, tag,
	    MPI_COMM_WORLD, &st), show("Recv", n, rc, 1, &st),
	    check_data("Recv", n, tag)));
	tag++;
	STEP("Probe", (rc = MPI_Probe(peer, tag, MPI_COMM_WORLD, &st),
	    show("Probe", n, rc, 1, &st)));
	STEP("Recv after Probe", (rc = MPI_Recv(buf, n, MPI_INT, peer, tag,
	    MPI_COMM_WORLD, &st), show("Recv after Probe", n, rc, 1, &st),
	    check_data("Recv after Probe", n, tag)));
	tag++;
	do {
		fresh(&st);
		rc = MPI_Iprobe(peer, tag, MPI_COMM_WORLD, &flag, &st);
	} while (rc == MPI_SUCCESS && !flag);
	show("Iprobe", n, rc, flag, &st);
	STEP("Irecv+Wait after Iprobe", (rc = MPI_Irecv(buf, n, MPI_INT, peer,
	    tag, MPI_COMM_WORLD, &req), rc = MPI_Wait(&req, &st),
	    show("Irecv+Wait after Iprobe", n, rc, 1, &st),
	    check_data("Irecv after Iprobe", n, tag)));
	tag++;
	fresh(&st);
	fresh(&st2);
	rc = MPI_Mprobe(peer, tag, MPI_COMM_WORLD, &msg, &st);
	show("Mprobe", n, rc, 1, &st);
	rc = MPI_Mrecv(buf, n, MPI_INT, &msg, &st2);
	show("Mrecv", n, rc, 1, &st2);
	check_data("Mrecv", n, tag);
	tag++;
	do {
		fresh(&st);
		rc = MPI_Improbe(peer, tag, MPI_COMM_WORLD, &flag, &msg, &st);
	} while (rc == MPI_SUCCESS && !flag);
	show("Improbe", n, rc, flag, &st);
	fresh(&st2);
	rc = MPI_Imrecv(buf, n, MPI_INT, &msg, &req);
	if (rc == MPI_SUCCESS)
		rc = MPI_Wait(&req, &st2);
	show("Imrecv+Wait", n, rc, 1, &st2);
	check_data("Imrecv", n, tag);
	tag++;
	STEP("Irecv+Test", (rc = MPI_Irecv(buf, n, MPI_INT, peer, tag,
	    MPI_COMM_WORLD, &req), flag = 0));
	while (rc == MPI_SUCCESS && !flag) {
		fresh(&st);
		rc = MPI_Test(&req, &flag, &st);
	}
	show("Irecv+Test", n, rc, flag, &st);
	check_data("Irecv+Test", n, tag);
	tag++;
	STEP("Recv_init+Start+Wait", (rc = MPI_Recv_init(buf, n, MPI_INT,
	    peer, tag, MPI_COMM_WORLD, &req), MPI_Start(&req),
	    rc = MPI_Wait(&req, &st), show("Recv_init+Start+Wait", n, rc, 1,
	    &st), MPI_Request_free(&req), check_data("Recv_init", n, tag)));
	tag++;
	/* Probed (so a chunked one waits in the stash), then Recv_init. */
	fresh(&st);
	rc = MPI_Probe(peer, tag, MPI_COMM_WORLD, &st);
	show("Probe before Recv_init", n, rc, 1, &st);
	STEP("Recv_init+Start+Wait after Probe", (rc = MPI_Recv_init(buf, n,
	    MPI_INT, peer, tag, MPI_COMM_WORLD, &req), MPI_Start(&req),
	    rc = MPI_Wait(&req, &st), show("Recv_init+Start+Wait after Probe",
	    n, rc, 1, &st), MPI_Request_free(&req),
	    check_data("Recv_init after Probe", n, tag)));
	tag++;
	/* Probed, then Mprobe and Mrecv from the stash. */
	fresh(&st);
	rc = MPI_Probe(peer, tag, MPI_COMM_WORLD, &st);
	show("Probe before Mprobe", n, rc, 1, &st);
	fresh(&st);
	fresh(&st2);
	rc = MPI_Mprobe(peer, tag, MPI_COMM_WORLD, &msg, &st);
	show("Mprobe after Probe", n, rc, 1, &st);
	rc = MPI_Mrecv(buf, n, MPI_INT, &msg, &st2);
	show("Mrecv after Probe", n, rc, 1, &st2);
	check_data("Mrecv after Probe", n, tag);
	tag++;
	/* Truncated: room for half. */
	fresh(&st);
	rc = MPI_Recv(buf, n / 2, MPI_INT, peer, tag, MPI_COMM_WORLD, &st);
	show("Recv truncated", n, rc == MPI_SUCCESS ? 0 : 1, 1, &st);
	tag++;
#undef STEP
}

static void
send_all(int n)
{
	int tag, i, rc[2];
	MPI_Request req;
	MPI_Status st[2];

	for (tag = 1; tag <= 10; tag++) {
		for (i = 0; i < n; i++)
			buf[i] = i * 3 + tag;
		MPI_Send(buf, n, MPI_INT, peer, tag, MPI_COMM_WORLD);
	}
	/* The statuses of a persistent send and of an Isend (sender side:
	 * sent on to rank 1, which prints them). */
	MPI_Send_init(buf, n, MPI_INT, peer, 12, MPI_COMM_WORLD, &req);
	MPI_Start(&req);
	fresh(&st[0]);
	rc[0] = MPI_Wait(&req, &st[0]);
	MPI_Request_free(&req);
	MPI_Isend(buf, n, MPI_INT, peer, 12, MPI_COMM_WORLD, &req);
	fresh(&st[1]);
	rc[1] = MPI_Wait(&req, &st[1]);
	MPI_Send(rc, 2, MPI_INT, peer, 13, MPI_COMM_WORLD);
	MPI_Send(st, sizeof(st), MPI_BYTE, peer, 14, MPI_COMM_WORLD);
}

int
main(int argc, char **argv)
{
	MPI_Status st[2];
	int rc, rcs[2], n, round, i;

	rank = ex_init(&argc, &argv, &size);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	peer = rank ^ 1;
	buf = malloc(LARGE * sizeof(int));
	for (round = 0; round < 2 && peer < size; round++) {
		n = round == 0 ? SMALL : LARGE;
		if (rank % 2 == 0) {
			send_all(n);
			continue;
		}
		receive_all(n);
		for (i = 0; i < 2; i++)
			MPI_Recv(buf, n, MPI_INT, peer, 12, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
		MPI_Recv(rcs, 2, MPI_INT, peer, 13, MPI_COMM_WORLD,
		    MPI_STATUS_IGNORE);
		MPI_Recv(st, sizeof(st), MPI_BYTE, peer, 14, MPI_COMM_WORLD,
		    MPI_STATUS_IGNORE);
		show("Send_init+Start+Wait (sender's)", n, rcs[0], 1, &st[0]);
		show("Isend+Wait (sender's)", n, rcs[1], 1, &st[1]);
	}
	free(buf);
	rc = ex_finish("status_fields", 0);
	MPI_Finalize();
	return rc;
}
