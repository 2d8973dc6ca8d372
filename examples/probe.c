/* SPDX-License-Identifier: Apache-2.0 */
/* Receiving messages of unknown size: Probe, an Iprobe loop, Mprobe/Mrecv,
 * Improbe/Imrecv, each followed by Get_count; Get_count after a Recv into a
 * larger buffer; Get_elements with a derived type and a partial element.
 * Pairs (0,1), (2,3), ...: the even rank sends, the odd one probes. */
#include "example_util.h"

static int
val(int i, int tag, int src)
{
	return i * 3 + tag * 1000 + src * 100000;
}

static void
send_ints(int n, int dest, int tag, int rank)
{
	int *b = malloc(sizeof(int) * (n ? n : 1)), i;

	for (i = 0; i < n; i++)
		b[i] = val(i, tag, rank);
	MPI_Send(b, n, MPI_INT, dest, tag, MPI_COMM_WORLD);
	free(b);
}

/* Check n received ints; fold them into the checksum. */
static uint64_t
check_ints(uint64_t sum, const int *b, int n, int tag, int src,
    const char *how)
{
	int i, bad = -1;

	for (i = 0; i < n; i++)
		if (b[i] != val(i, tag, src) && bad < 0)
			bad = i;
	CHECK(bad < 0, "%s: element %d is %d, expected %d", how, bad,
	    bad >= 0 ? b[bad] : 0, bad >= 0 ? val(bad, tag, src) : 0);
	return fnv(sum, b, (size_t)n * sizeof(int));
}

static const int lens[] = { 37, 1000, 5000, 123, 0, 10, 7, 6, 77 };

static void
sender(int peer, int rank)
{
	char *c;
	int i;

	send_ints(lens[0] + rank, peer, 1, rank);	/* Probe */
	send_ints(lens[1], peer, 2, rank);		/* Iprobe loop */
	c = malloc(lens[2]);				/* Mprobe (chars) */
	for (i = 0; i < lens[2]; i++)
		c[i] = (char)('a' + i % 26);
	MPI_Send(c, lens[2], MPI_CHAR, peer, 3, MPI_COMM_WORLD);
	free(c);
	send_ints(lens[3], peer, 4, rank);		/* Improbe loop */
	send_ints(lens[4], peer, 5, rank);		/* empty; ANY_TAG */
	send_ints(lens[5], peer, 6, rank);		/* large buffer */
	send_ints(lens[6], peer, 7, rank);		/* partial element */
	send_ints(lens[7], peer, 8, rank);		/* Probe, derived */
	send_ints(lens[8], peer, 9, rank);		/* Mprobe wildcards */
}

static uint64_t
receiver(int peer)
{
	MPI_Status st;
	MPI_Message msg;
	MPI_Request req;
	MPI_Datatype vec;
	uint64_t sum = FNV_INIT;
	int *b, count, flag, polls, i, n;
	char *c;

	/* Probe + Get_count, then a Recv of exactly that size. */
	MPI_Probe(peer, 1, MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, MPI_INT, &n);
	CHECK(n == lens[0] + peer, "Probe: count %d, expected %d", n,
	    lens[0] + peer);
	CHECK(st.MPI_SOURCE == peer && st.MPI_TAG == 1, "Probe status "
	    "%d/%d", st.MPI_SOURCE, st.MPI_TAG);
	b = malloc(sizeof(int) * (n > 0 ? n : 1));
	MPI_Recv(b, n, MPI_INT, peer, 1, MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, MPI_INT, &count);
	CHECK(count == n, "Recv after Probe: count %d", count);
	sum = check_ints(sum, b, n, 1, peer, "Probe");
	free(b);

	/* Iprobe loop, any source. */
	for (polls = 0, flag = 0; !flag; polls++)
		MPI_Iprobe(MPI_ANY_SOURCE, 2, MPI_COMM_WORLD, &flag, &st);
	CHECK(st.MPI_SOURCE == peer, "Iprobe source %d", st.MPI_SOURCE);
	MPI_Get_count(&st, MPI_INT, &n);
	CHECK(n == lens[1], "Iprobe: count %d", n);
	b = malloc(sizeof(int) * n);
	MPI_Recv(b, n, MPI_INT, st.MPI_SOURCE, 2, MPI_COMM_WORLD, &st);
	sum = check_ints(sum, b, n, 2, peer, "Iprobe");
	free(b);

	/* Mprobe + Mrecv. */
	MPI_Mprobe(peer, 3, MPI_COMM_WORLD, &msg, &st);
	MPI_Get_count(&st, MPI_CHAR, &n);
	CHECK(n == lens[2], "Mprobe: count %d", n);
	c = malloc(n);
	MPI_Mrecv(c, n, MPI_CHAR, &msg, &st);
	CHECK(msg == MPI_MESSAGE_NULL, "Mrecv left the message handle");
	MPI_Get_count(&st, MPI_CHAR, &count);
	CHECK(count == n, "Mrecv: count %d", count);
	for (i = 0; i < n; i++)
		if (c[i] != (char)('a' + i % 26))
			break;
	CHECK(i == n, "Mrecv: char %d wrong", i);
	sum = fnv(sum, c, n);
	free(c);

	/* Improbe loop + Imrecv + Wait. */
	for (flag = 0; !flag;)
		MPI_Improbe(peer, 4, MPI_COMM_WORLD, &flag, &msg, &st);
	MPI_Get_count(&st, MPI_INT, &n);
	CHECK(n == lens[3], "Improbe: count %d", n);
	b = malloc(sizeof(int) * n);
	MPI_Imrecv(b, n, MPI_INT, &msg, &req);
	MPI_Wait(&req, &st);
	MPI_Get_count(&st, MPI_INT, &count);
	CHECK(count == n && st.MPI_TAG == 4, "Imrecv: count %d tag %d",
	    count, st.MPI_TAG);
	sum = check_ints(sum, b, n, 4, peer, "Imrecv");
	free(b);

	/* An empty message, probed with MPI_ANY_TAG. */
	MPI_Probe(peer, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, MPI_INT, &n);
	CHECK(n == 0 && st.MPI_TAG == 5, "empty: count %d tag %d", n,
	    st.MPI_TAG);
	MPI_Recv(NULL, 0, MPI_INT, peer, st.MPI_TAG, MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, MPI_INT, &count);
	CHECK(count == 0, "empty Recv: count %d", count);

	/* A buffer larger than the message: the status tells the size. */
	b = calloc(100, sizeof(int));
	MPI_Recv(b, 100, MPI_INT, peer, 6, MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, MPI_INT, &count);
	CHECK(count == lens[5], "Recv into 100: count %d", count);
	MPI_Get_count(&st, MPI_BYTE, &count);
	CHECK(count == lens[5] * (int)sizeof(int), "bytes %d", count);
	MPI_Get_elements(&st, MPI_INT, &count);
	CHECK(count == lens[5], "elements %d", count);
	sum = check_ints(sum, b, lens[5], 6, peer, "Recv into 100");
	for (i = lens[5]; i < 100; i++)
		if (b[i] != 0)
			break;
	CHECK(i == 100, "int %d past the message written", i);
	free(b);

	/* Derived type with holes: 2 ints out of every 3. Seven ints fill
	 * three elements and one int of a fourth. */
	MPI_Type_vector(2, 1, 2, MPI_INT, &vec);
	MPI_Type_commit(&vec);
	b = malloc(sizeof(int) * 12);
	for (i = 0; i < 12; i++)
		b[i] = -1;
	MPI_Recv(b, 4, vec, peer, 7, MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, vec, &count);
	CHECK(count == MPI_UNDEFINED, "partial element: count %d", count);
	MPI_Get_elements(&st, vec, &count);
	CHECK(count == lens[6], "partial element: %d elements", count);
	{
		/* element k (extent 3 ints) holds ints at 3k and 3k+2 */
		static const int at[7] = { 0, 2, 3, 5, 6, 8, 9 };

		for (i = 0; i < 7; i++)
			CHECK(b[at[i]] == val(i, 7, peer), "partial element: "
			    "int %d at %d is %d", i, at[i], b[at[i]]);
		CHECK(b[1] == -1 && b[4] == -1 && b[7] == -1 && b[10] == -1 &&
		    b[11] == -1, "holes written");
	}
	sum = fnv(sum, b, 12 * sizeof(int));
	free(b);

	/* Probe reports counts in the derived type, too. */
	MPI_Probe(peer, 8, MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, vec, &count);
	CHECK(count == 3, "Probe: %d vectors", count);
	MPI_Get_elements(&st, vec, &count);
	CHECK(count == 6, "Probe: %d elements", count);
	b = malloc(sizeof(int) * 9);
	MPI_Recv(b, 3, vec, peer, 8, MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, vec, &count);
	CHECK(count == 3, "Recv: %d vectors", count);
	for (i = 0; i < 3; i++)
		CHECK(b[3 * i] == val(2 * i, 8, peer) &&
		    b[3 * i + 2] == val(2 * i + 1, 8, peer),
		    "vector %d wrong", i);
	sum = fnv_u64(sum, (uint64_t)b[0] + b[8]);
	free(b);
	MPI_Type_free(&vec);

	/* Mprobe with both wildcards. */
	MPI_Mprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &msg, &st);
	CHECK(st.MPI_SOURCE == peer && st.MPI_TAG == 9, "Mprobe any: %d/%d",
	    st.MPI_SOURCE, st.MPI_TAG);
	MPI_Get_count(&st, MPI_INT, &n);
	CHECK(n == lens[8], "Mprobe any: count %d", n);
	b = malloc(sizeof(int) * n);
	MPI_Mrecv(b, n, MPI_INT, &msg, MPI_STATUS_IGNORE);
	sum = check_ints(sum, b, n, 9, peer, "Mprobe any");
	free(b);
	return sum;
}

int
main(int argc, char **argv)
{
	uint64_t sum = FNV_INIT;
	int rank, size, peer, r;

	rank = ex_init(&argc, &argv, &size);
	peer = (rank ^ 1) < size ? (rank ^ 1) : MPI_PROC_NULL;
	if (peer != MPI_PROC_NULL) {
		if (rank % 2 == 0)
			sender(peer, rank);
		else
			sum = receiver(peer);
	}
	if (rank == 0)
		printf("probe: Probe, Iprobe, Mprobe/Mrecv, Improbe/Imrecv, "
		    "Get_count, Get_elements on %d pair(s)\n", size / 2);
	r = ex_finish("probe", sum);
	MPI_Finalize();
	return r;
}
