/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Large messages (which esmpi sends in chunks) through every way of
 * receiving them: Recv, Isend/Irecv, Probe then Recv with an earlier
 * message of another tag still pending (its order must hold), Iprobe then
 * Irecv, Mprobe/Mrecv, Improbe/Imrecv, a persistent receive started after
 * a probe and completed by Waitany, a strided datatype, ANY_SOURCE,
 * Sendrecv_replace while a probed message waits, a receive too small
 * (MPI_ERR_TRUNCATE, then the next message still arrives; after a probe,
 * at the Wait), and Request_get_status before the Wait. Pairs (0,1), (2,3), ...: the even rank
 * sends. With the argument "no-truncate" the receive too small is left
 * out: Open MPI 4.1.4's single-copy transfer writes a truncated message's
 * whole length into the receive buffer, past its end.
 */
#include "example_util.h"

#define BIG	(600 * 1024)		/* bytes; a chunked message */
#define HUGE	(2 * 1024 * 1024 + 4093)

static int truncate_too = 1;

static unsigned char *
fill(size_t n, int tag, int src)
{
	unsigned char *b = malloc(n);
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)(i * 7 + tag * 13 + src * 31 + (i >> 12));
	return b;
}

static uint64_t
check(uint64_t sum, const unsigned char *b, size_t n, int tag, int src,
    const char *how)
{
	unsigned char *want = fill(n, tag, src);
	size_t i;

	for (i = 0; i < n && b[i] == want[i]; i++)
		;
	CHECK(i == n, "%s: byte %zu of %zu differs", how, i, n);
	free(want);
	return fnv(sum, b, n);
}

static void
send_big(size_t n, int dest, int tag, int rank)
{
	unsigned char *b = fill(n, tag, rank);

	MPI_Send(b, (int)n, MPI_BYTE, dest, tag, MPI_COMM_WORLD);
	free(b);
}

static void
sender(int peer, int rank)
{
	MPI_Request rq[2];
	unsigned char *a, *b, *c;

	send_big(BIG, peer, 1, rank);			/* Recv */
	a = fill(HUGE, 2, rank);			/* Isend/Irecv */
	b = fill(BIG, 3, rank);
	MPI_Isend(a, HUGE, MPI_BYTE, peer, 2, MPI_COMM_WORLD, &rq[0]);
	MPI_Isend(b, BIG, MPI_BYTE, peer, 3, MPI_COMM_WORLD, &rq[1]);
	MPI_Waitall(2, rq, MPI_STATUSES_IGNORE);
	free(a);
	free(b);
	send_big(100, peer, 4, rank);			/* pending, earlier */
	send_big(BIG, peer, 5, rank);			/* probed first */
	send_big(HUGE, peer, 6, rank);			/* Iprobe, Irecv */
	send_big(BIG, peer, 7, rank);			/* Mprobe */
	send_big(BIG + 1, peer, 8, rank);		/* Improbe */
	send_big(BIG, peer, 9, rank);			/* persistent */
	send_big(BIG, peer, 10, rank);			/* strided */
	send_big(BIG, peer, 11, rank);			/* ANY_SOURCE */
	c = fill(BIG, 16, rank);			/* probed, held */
	MPI_Isend(c, BIG, MPI_BYTE, peer, 16, MPI_COMM_WORLD, &rq[0]);
	a = fill(BIG, 12, rank);			/* Sendrecv_replace */
	MPI_Sendrecv_replace(a, BIG, MPI_BYTE, peer, 12, peer, 13,
	    MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	b = fill(BIG, 13, peer);
	CHECK(memcmp(a, b, BIG) == 0, "Sendrecv_replace: data differs");
	MPI_Wait(&rq[0], MPI_STATUS_IGNORE);
	free(a);
	free(b);
	free(c);
	if (truncate_too)
		send_big(HUGE, peer, 14, rank);		/* too small */
	send_big(BIG, peer, 15, rank);			/* after truncation */
	if (truncate_too)
		send_big(BIG, peer, 17, rank);		/* probed, too small */
	send_big(BIG, peer, 18, rank);			/* Request_get_status */
}

static uint64_t
receiver(int peer, int rank)
{
	uint64_t sum = FNV_INIT;
	unsigned char *b = malloc(HUGE), *c = malloc(HUGE);
	MPI_Request rq[2], pr;
	MPI_Message msg;
	MPI_Datatype vec;
	MPI_Status st;
	int n, flag, idx, rc, i;

	MPI_Recv(b, BIG, MPI_BYTE, peer, 1, MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, MPI_BYTE, &n);
	CHECK(n == BIG, "Recv: count %d", n);
	sum = check(sum, b, BIG, 1, peer, "Recv");

	MPI_Irecv(b, HUGE, MPI_BYTE, peer, 2, MPI_COMM_WORLD, &rq[0]);
	MPI_Irecv(c, HUGE, MPI_BYTE, peer, 3, MPI_COMM_WORLD, &rq[1]);
	MPI_Waitall(2, rq, MPI_STATUSES_IGNORE);
	sum = check(sum, b, HUGE, 2, peer, "Irecv");
	sum = check(sum, c, BIG, 3, peer, "Irecv 2");

	/* Probe tag 5 while tag 4, sent before it, is pending: a receive of
	 * any tag must still get tag 4 first. */
	MPI_Probe(peer, 5, MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, MPI_BYTE, &n);
	CHECK(n == BIG && st.MPI_TAG == 5, "Probe: count %d tag %d", n,
	    st.MPI_TAG);
	MPI_Recv(b, HUGE, MPI_BYTE, peer, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, MPI_BYTE, &n);
	CHECK(st.MPI_TAG == 4 && n == 100, "order: tag %d count %d first",
	    st.MPI_TAG, n);
	sum = check(sum, b, 100, 4, peer, "earlier message");
	MPI_Probe(peer, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
	CHECK(st.MPI_TAG == 5, "Probe again: tag %d", st.MPI_TAG);
	MPI_Recv(b, HUGE, MPI_BYTE, peer, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, MPI_BYTE, &n);
	CHECK(st.MPI_TAG == 5 && n == BIG, "then: tag %d count %d",
	    st.MPI_TAG, n);
	sum = check(sum, b, BIG, 5, peer, "probed message");

	for (flag = 0; !flag;)
		MPI_Iprobe(MPI_ANY_SOURCE, 6, MPI_COMM_WORLD, &flag, &st);
	MPI_Get_count(&st, MPI_BYTE, &n);
	CHECK(n == HUGE, "Iprobe: count %d", n);
	MPI_Irecv(b, n, MPI_BYTE, st.MPI_SOURCE, 6, MPI_COMM_WORLD, &rq[0]);
	MPI_Wait(&rq[0], &st);
	MPI_Get_count(&st, MPI_BYTE, &n);
	CHECK(n == HUGE && st.MPI_SOURCE == peer && st.MPI_TAG == 6,
	    "Irecv after Iprobe: count %d from %d tag %d", n, st.MPI_SOURCE,
	    st.MPI_TAG);
	sum = check(sum, b, HUGE, 6, peer, "Irecv after Iprobe");

	MPI_Mprobe(peer, 7, MPI_COMM_WORLD, &msg, &st);
	MPI_Get_count(&st, MPI_BYTE, &n);
	CHECK(n == BIG, "Mprobe: count %d", n);
	MPI_Mrecv(b, n, MPI_BYTE, &msg, &st);
	CHECK(msg == MPI_MESSAGE_NULL, "Mrecv left the handle");
	MPI_Get_count(&st, MPI_BYTE, &n);
	CHECK(n == BIG && st.MPI_TAG == 7, "Mrecv: count %d tag %d", n,
	    st.MPI_TAG);
	sum = check(sum, b, BIG, 7, peer, "Mrecv");

	for (flag = 0; !flag;)
		MPI_Improbe(peer, 8, MPI_COMM_WORLD, &flag, &msg, &st);
	MPI_Get_count(&st, MPI_BYTE, &n);
	CHECK(n == BIG + 1, "Improbe: count %d", n);
	MPI_Imrecv(b, n, MPI_BYTE, &msg, &rq[0]);
	MPI_Wait(&rq[0], &st);
	MPI_Get_count(&st, MPI_BYTE, &n);
	CHECK(n == BIG + 1, "Imrecv: count %d", n);
	sum = check(sum, b, BIG + 1, 8, peer, "Imrecv");

	/* A persistent receive started after a probe took its message. */
	MPI_Recv_init(b, HUGE, MPI_BYTE, peer, 9, MPI_COMM_WORLD, &pr);
	MPI_Probe(peer, 9, MPI_COMM_WORLD, &st);
	MPI_Start(&pr);
	MPI_Irecv(c, HUGE, MPI_BYTE, peer, 10, MPI_COMM_WORLD, &rq[1]);
	rq[0] = pr;
	MPI_Waitany(2, rq, &idx, &st);
	CHECK(idx == 0 && st.MPI_TAG == 9, "Waitany: index %d tag %d", idx,
	    st.MPI_TAG);
	MPI_Get_count(&st, MPI_BYTE, &n);
	CHECK(n == BIG, "persistent: count %d", n);
	sum = check(sum, b, BIG, 9, peer, "persistent");
	MPI_Wait(&rq[1], MPI_STATUS_IGNORE);
	sum = check(sum, c, BIG, 10, peer, "Irecv beside it");
	MPI_Request_free(&pr);

	/* Every other byte of a buffer twice as large. */
	MPI_Type_vector(BIG, 1, 2, MPI_BYTE, &vec);
	MPI_Type_commit(&vec);
	{
		unsigned char *s = calloc(2, BIG), *want = fill(BIG, 11, peer);

		MPI_Recv(s, 1, vec, MPI_ANY_SOURCE, 11, MPI_COMM_WORLD, &st);
		CHECK(st.MPI_SOURCE == peer, "ANY_SOURCE: %d", st.MPI_SOURCE);
		for (i = 0; i < BIG && s[2 * i] == want[i] &&
		    s[2 * i + 1] == 0; i++)
			;
		CHECK(i == BIG, "strided: byte %d differs", i);
		sum = fnv(sum, s, 2 * (size_t)BIG);
		free(s);
		free(want);
	}
	MPI_Type_free(&vec);

	{
		unsigned char *a = fill(BIG, 13, rank);

		/* Tag 16, probed, waits while Sendrecv_replace goes on. */
		MPI_Probe(peer, 16, MPI_COMM_WORLD, &st);
		MPI_Sendrecv_replace(a, BIG, MPI_BYTE, peer, 13, peer, 12,
		    MPI_COMM_WORLD, &st);
		sum = check(sum, a, BIG, 12, peer, "Sendrecv_replace");
		free(a);
		MPI_Recv(b, BIG, MPI_BYTE, peer, 16, MPI_COMM_WORLD, &st);
		sum = check(sum, b, BIG, 16, peer, "after Sendrecv_replace");
	}

	if (truncate_too) {
		MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
		rc = MPI_Recv(b, BIG, MPI_BYTE, peer, 14, MPI_COMM_WORLD, &st);
		MPI_Error_class(rc, &rc);
		CHECK(rc == MPI_ERR_TRUNCATE, "too small: error class %d", rc);
		MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
	}
	MPI_Recv(b, BIG, MPI_BYTE, peer, 15, MPI_COMM_WORLD, &st);
	sum = check(sum, b, BIG, 15, peer, "after truncation");
	if (truncate_too) {
		/* Probed, then received too small: the error comes at the
		 * Wait, as MPI reports it. */
		MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
		MPI_Probe(peer, 17, MPI_COMM_WORLD, &st);
		rc = MPI_Irecv(b, BIG / 2, MPI_BYTE, peer, 17, MPI_COMM_WORLD,
		    &pr);
		CHECK(rc == MPI_SUCCESS, "Irecv too small after Probe: %d", rc);
		rc = MPI_Wait(&pr, &st);
		MPI_Error_class(rc, &rc);
		CHECK(rc == MPI_ERR_TRUNCATE, "Wait too small: error class %d",
		    rc);
		MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
	}
	/* Complete by Request_get_status, then Wait: both report it all. */
	MPI_Irecv(b, BIG, MPI_BYTE, peer, 18, MPI_COMM_WORLD, &pr);
	for (flag = 0; !flag;)
		MPI_Request_get_status(pr, &flag, &st);
	MPI_Get_count(&st, MPI_BYTE, &n);
	CHECK(n == BIG, "Request_get_status: count %d", n);
	MPI_Wait(&pr, &st);
	MPI_Get_count(&st, MPI_BYTE, &n);
	CHECK(n == BIG && st.MPI_TAG == 18, "Wait after Request_get_status: "
	    "count %d tag %d", n, st.MPI_TAG);
	sum = check(sum, b, BIG, 18, peer, "Request_get_status");
	free(b);
	free(c);
	return sum;
}

int
main(int argc, char **argv)
{
	uint64_t sum = FNV_INIT;
	int rank, size, peer, r;

	rank = ex_init(&argc, &argv, &size);
	truncate_too = !(argc > 1 && strcmp(argv[1], "no-truncate") == 0);
	peer = (rank ^ 1) < size ? (rank ^ 1) : MPI_PROC_NULL;
	if (peer != MPI_PROC_NULL) {
		if (rank % 2 == 0)
			sender(peer, rank);
		else
			sum = receiver(peer, rank);
	}
	if (rank == 0)
		printf("large: %d and %d byte messages through every receive "
		    "on %d pair(s)\n", BIG, HUGE, size / 2);
	r = ex_finish("large", sum);
	MPI_Finalize();
	return r;
}
