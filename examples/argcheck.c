/* SPDX-License-Identifier: Apache-2.0 */
/* Argument errors under MPI_ERRORS_RETURN: every call with an invalid
 * count, datatype (null, uncommitted), communicator, rank, tag or buffer
 * must return the class plain MPI returns and move nothing; a truncated
 * receive reports what plain MPI reports. Rank 0 prints each class; the
 * test compares the output with and without esmpi. Rank 1 sends invalid
 * messages between valid ones: rank 0 must receive exactly the valid
 * ones, in order. */
#include "example_util.h"

#define N 4
#define BIG 100		/* ints sent where 25 fit: 400 bytes into 100 */
#define SMALL 25

static const struct {
	int cls;
	const char *name;
} classes[] = {
	{ MPI_SUCCESS, "MPI_SUCCESS" }, { MPI_ERR_COUNT, "MPI_ERR_COUNT" },
	{ MPI_ERR_TYPE, "MPI_ERR_TYPE" }, { MPI_ERR_COMM, "MPI_ERR_COMM" },
	{ MPI_ERR_RANK, "MPI_ERR_RANK" }, { MPI_ERR_TAG, "MPI_ERR_TAG" },
	{ MPI_ERR_BUFFER, "MPI_ERR_BUFFER" }, { MPI_ERR_ROOT, "MPI_ERR_ROOT" },
	{ MPI_ERR_TRUNCATE, "MPI_ERR_TRUNCATE" }, { MPI_ERR_OP, "MPI_ERR_OP" },
	{ MPI_ERR_ARG, "MPI_ERR_ARG" },
};

static const char *
class_name(int rc)
{
	int cls = rc;
	size_t i;

	if (rc != MPI_SUCCESS)
		MPI_Error_class(rc, &cls);
	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (classes[i].cls == cls)
			return classes[i].name;
	return "another error class";
}

static int rank, size;

/* Print (rank 0) and check one call's class. */
static void
expect(const char *what, int rc, int want)
{
	if (rank == 0)
		printf("argcheck: %s: %s\n", what, class_name(rc));
	CHECK(strcmp(class_name(rc), class_name(want)) == 0, "%s: %s, want "
	    "%s", what, class_name(rc), class_name(want));
}

/* A request a failed call may still have set: leave nothing behind. */
static void
drop(MPI_Request *req)
{
	if (*req != MPI_REQUEST_NULL)
		MPI_Request_free(req);
	*req = MPI_REQUEST_NULL;
}

/* Calls that fail on their arguments alone (no peer involved). */
static void
local_errors(MPI_Datatype uncommitted, int tag_ub)
{
	int b[N] = { 0 }, r[N], peer = rank == 0 ? 1 : 0;
	MPI_Request req = MPI_REQUEST_NULL;
	MPI_Message msg;
	MPI_Status st;
	int flag;

	expect("Send count -1", MPI_Send(b, -1, MPI_INT, peer, 9,
	    MPI_COMM_WORLD), MPI_ERR_COUNT);
	expect("Send uncommitted type", MPI_Send(b, 1, uncommitted, peer, 9,
	    MPI_COMM_WORLD), MPI_ERR_TYPE);
	expect("Send MPI_DATATYPE_NULL", MPI_Send(b, N, MPI_DATATYPE_NULL,
	    peer, 9, MPI_COMM_WORLD), MPI_ERR_TYPE);
	expect("Send MPI_COMM_NULL", MPI_Send(b, N, MPI_INT, 0, 9,
	    MPI_COMM_NULL), MPI_ERR_COMM);
	expect("Send rank = size", MPI_Send(b, N, MPI_INT, size, 9,
	    MPI_COMM_WORLD), MPI_ERR_RANK);
	expect("Send rank -7", MPI_Send(b, N, MPI_INT, -7, 9,
	    MPI_COMM_WORLD), MPI_ERR_RANK);
	expect("Send tag -5", MPI_Send(b, N, MPI_INT, peer, -5,
	    MPI_COMM_WORLD), MPI_ERR_TAG);
	expect("Send tag MPI_ANY_TAG", MPI_Send(b, N, MPI_INT, peer,
	    MPI_ANY_TAG, MPI_COMM_WORLD), MPI_ERR_TAG);
	expect("Send tag TAG_UB + 1", MPI_Send(b, N, MPI_INT, peer,
	    tag_ub + 1, MPI_COMM_WORLD), MPI_ERR_TAG);
	expect("Send NULL buffer", MPI_Send(NULL, N, MPI_INT, peer, 9,
	    MPI_COMM_WORLD), MPI_ERR_BUFFER);
	expect("Ssend count -1", MPI_Ssend(b, -1, MPI_INT, peer, 9,
	    MPI_COMM_WORLD), MPI_ERR_COUNT);
	expect("Rsend MPI_DATATYPE_NULL", MPI_Rsend(b, N, MPI_DATATYPE_NULL,
	    peer, 9, MPI_COMM_WORLD), MPI_ERR_TYPE);
	expect("Bsend count -1", MPI_Bsend(b, -1, MPI_INT, peer, 9,
	    MPI_COMM_WORLD), MPI_ERR_COUNT);
	expect("Isend count -1", MPI_Isend(b, -1, MPI_INT, peer, 9,
	    MPI_COMM_WORLD, &req), MPI_ERR_COUNT);
	drop(&req);
	expect("Isend uncommitted type", MPI_Isend(b, 1, uncommitted, peer, 9,
	    MPI_COMM_WORLD, &req), MPI_ERR_TYPE);
	drop(&req);
	expect("Issend MPI_COMM_NULL", MPI_Issend(b, N, MPI_INT, 0, 9,
	    MPI_COMM_NULL, &req), MPI_ERR_COMM);
	drop(&req);
	expect("Ibsend tag -5", MPI_Ibsend(b, N, MPI_INT, peer, -5,
	    MPI_COMM_WORLD, &req), MPI_ERR_TAG);
	drop(&req);
	expect("Send_init count -1", MPI_Send_init(b, -1, MPI_INT, peer, 9,
	    MPI_COMM_WORLD, &req), MPI_ERR_COUNT);
	drop(&req);
	expect("Send_init uncommitted type", MPI_Send_init(b, 1, uncommitted,
	    peer, 9, MPI_COMM_WORLD, &req), MPI_ERR_TYPE);
	drop(&req);
	expect("Bsend_init rank = size", MPI_Bsend_init(b, N, MPI_INT, size,
	    9, MPI_COMM_WORLD, &req), MPI_ERR_RANK);
	drop(&req);

	expect("Recv count -1", MPI_Recv(r, -1, MPI_INT, peer, 9,
	    MPI_COMM_WORLD, &st), MPI_ERR_COUNT);
	expect("Recv uncommitted type", MPI_Recv(r, 1, uncommitted, peer, 9,
	    MPI_COMM_WORLD, &st), MPI_ERR_TYPE);
	expect("Recv MPI_DATATYPE_NULL", MPI_Recv(r, N, MPI_DATATYPE_NULL,
	    peer, 9, MPI_COMM_WORLD, &st), MPI_ERR_TYPE);
	expect("Recv MPI_COMM_NULL", MPI_Recv(r, N, MPI_INT, 0, 9,
	    MPI_COMM_NULL, &st), MPI_ERR_COMM);
	expect("Recv rank = size", MPI_Recv(r, N, MPI_INT, size, 9,
	    MPI_COMM_WORLD, &st), MPI_ERR_RANK);
	expect("Recv tag -5", MPI_Recv(r, N, MPI_INT, peer, -5,
	    MPI_COMM_WORLD, &st), MPI_ERR_TAG);
	expect("Recv NULL buffer", MPI_Recv(NULL, N, MPI_INT, peer, 9,
	    MPI_COMM_WORLD, &st), MPI_ERR_BUFFER);
	expect("Irecv count -1", MPI_Irecv(r, -1, MPI_INT, peer, 9,
	    MPI_COMM_WORLD, &req), MPI_ERR_COUNT);
	drop(&req);
	expect("Irecv MPI_COMM_NULL", MPI_Irecv(r, N, MPI_INT, 0, 9,
	    MPI_COMM_NULL, &req), MPI_ERR_COMM);
	drop(&req);
	expect("Recv_init uncommitted type", MPI_Recv_init(r, 1, uncommitted,
	    peer, 9, MPI_COMM_WORLD, &req), MPI_ERR_TYPE);
	drop(&req);
	expect("Recv_init tag TAG_UB + 1", MPI_Recv_init(r, N, MPI_INT, peer,
	    tag_ub + 1, MPI_COMM_WORLD, &req), MPI_ERR_TAG);
	drop(&req);
	expect("Probe rank = size", MPI_Probe(size, 9, MPI_COMM_WORLD, &st),
	    MPI_ERR_RANK);
	expect("Iprobe tag -5", MPI_Iprobe(peer, -5, MPI_COMM_WORLD, &flag,
	    &st), MPI_ERR_TAG);
	expect("Mprobe tag -5", MPI_Mprobe(peer, -5, MPI_COMM_WORLD, &msg,
	    &st), MPI_ERR_TAG);
	expect("Sendrecv send count -1", MPI_Sendrecv(b, -1, MPI_INT, peer, 9,
	    r, N, MPI_INT, peer, 9, MPI_COMM_WORLD, &st), MPI_ERR_COUNT);
	expect("Sendrecv recv MPI_DATATYPE_NULL", MPI_Sendrecv(b, N, MPI_INT,
	    peer, 9, r, N, MPI_DATATYPE_NULL, peer, 9, MPI_COMM_WORLD, &st),
	    MPI_ERR_TYPE);
	expect("Sendrecv recv rank = size", MPI_Sendrecv(b, N, MPI_INT,
	    peer, 9, r, N, MPI_INT, size, 9, MPI_COMM_WORLD, &st),
	    MPI_ERR_RANK);
	expect("Sendrecv_replace uncommitted type", MPI_Sendrecv_replace(b, 1,
	    uncommitted, peer, 9, peer, 9, MPI_COMM_WORLD, &st),
	    MPI_ERR_TYPE);

	/* Collectives: every rank makes the same invalid call. */
	expect("Bcast count -1", MPI_Bcast(b, -1, MPI_INT, 0, MPI_COMM_WORLD),
	    MPI_ERR_COUNT);
	expect("Bcast MPI_DATATYPE_NULL", MPI_Bcast(b, N, MPI_DATATYPE_NULL,
	    0, MPI_COMM_WORLD), MPI_ERR_TYPE);
	expect("Bcast uncommitted type", MPI_Bcast(b, 1, uncommitted, 0,
	    MPI_COMM_WORLD), MPI_ERR_TYPE);
	expect("Bcast MPI_COMM_NULL", MPI_Bcast(b, N, MPI_INT, 0,
	    MPI_COMM_NULL), MPI_ERR_COMM);
	expect("Allreduce count -1", MPI_Allreduce(b, r, -1, MPI_INT, MPI_SUM,
	    MPI_COMM_WORLD), MPI_ERR_COUNT);
	expect("Reduce count -1", MPI_Reduce(b, r, -1, MPI_INT, MPI_SUM, 0,
	    MPI_COMM_WORLD), MPI_ERR_COUNT);
	expect("Allgather send count -1", MPI_Allgather(b, -1, MPI_INT, r, 1,
	    MPI_INT, MPI_COMM_WORLD), MPI_ERR_COUNT);
	expect("Alltoall MPI_DATATYPE_NULL", MPI_Alltoall(b, 1,
	    MPI_DATATYPE_NULL, r, 1, MPI_INT, MPI_COMM_WORLD), MPI_ERR_TYPE);
}

static void
fill(int *b, int n, int tag)
{
	int i;

	for (i = 0; i < n; i++)
		b[i] = tag * 1000 + i;
}

/* Rank 1: invalid sends (nothing may leave) between valid ones. */
static void
sender(MPI_Datatype uncommitted)
{
	int b[BIG];
	MPI_Request req = MPI_REQUEST_NULL;

	fill(b, BIG, 1);
	CHECK(MPI_Send(b, -1, MPI_INT, 0, 1, MPI_COMM_WORLD) ==
	    MPI_ERR_COUNT, "Send count -1 did not fail");
	CHECK(MPI_Send(b, 1, uncommitted, 0, 1, MPI_COMM_WORLD) != MPI_SUCCESS,
	    "Send of an uncommitted type did not fail");
	CHECK(MPI_Isend(b, -1, MPI_INT, 0, 1, MPI_COMM_WORLD, &req) !=
	    MPI_SUCCESS, "Isend count -1 did not fail");
	drop(&req);
	MPI_OK(MPI_Send(b, N, MPI_INT, 0, 1, MPI_COMM_WORLD));
	fill(b, BIG, 2);
	MPI_OK(MPI_Send(b, BIG, MPI_INT, 0, 2, MPI_COMM_WORLD));
	fill(b, BIG, 3);
	MPI_OK(MPI_Send(b, BIG, MPI_INT, 0, 3, MPI_COMM_WORLD));
	fill(b, BIG, 4);
	MPI_OK(MPI_Send(b, BIG, MPI_INT, 0, 4, MPI_COMM_WORLD));
	fill(b, BIG, 5);
	MPI_OK(MPI_Send(b, N, MPI_INT, 0, 5, MPI_COMM_WORLD));
}

static void
counts(const char *what, int rc, const MPI_Status *st)
{
	int nb = -1, ni = -1;

	MPI_Get_count(st, MPI_BYTE, &nb);
	MPI_Get_count(st, MPI_INT, &ni);
	printf("argcheck: %s: %s, count %d bytes, %d ints, source %d, tag "
	    "%d\n", what, class_name(rc), nb, ni, st->MPI_SOURCE, st->MPI_TAG);
}

/* Rank 0: exactly the valid messages arrive; truncations report counts. */
static uint64_t
receiver(void)
{
	int b[BIG], rc, i, n;
	MPI_Request req;
	MPI_Status st;
	uint64_t sum = FNV_INIT;

	for (i = 0; i < BIG; i++)
		b[i] = -1;
	rc = MPI_Recv(b, BIG, MPI_INT, 1, 1, MPI_COMM_WORLD, &st);
	counts("Recv after invalid sends", rc, &st);
	MPI_Get_count(&st, MPI_INT, &n);
	CHECK(rc == MPI_SUCCESS && n == N && b[0] == 1000 && b[N - 1] ==
	    1000 + N - 1, "first valid message: rc %d, %d ints, %d", rc, n,
	    b[0]);
	sum = fnv(sum, b, sizeof(b));

	rc = MPI_Recv(b, SMALL, MPI_INT, 1, 2, MPI_COMM_WORLD, &st);
	counts("Recv of 400 bytes into 100", rc, &st);
	CHECK(rc != MPI_SUCCESS, "truncated Recv succeeded");

	rc = MPI_Irecv(b, SMALL, MPI_INT, 1, 3, MPI_COMM_WORLD, &req);
	CHECK(rc == MPI_SUCCESS, "Irecv: %d", rc);
	rc = MPI_Wait(&req, &st);
	counts("Irecv+Wait of 400 bytes into 100", rc, &st);
	if (req != MPI_REQUEST_NULL)
		MPI_Request_free(&req);

	rc = MPI_Sendrecv(NULL, 0, MPI_INT, MPI_PROC_NULL, 0, b, SMALL,
	    MPI_INT, 1, 4, MPI_COMM_WORLD, &st);
	counts("Sendrecv of 400 bytes into 100", rc, &st);

	for (i = 0; i < BIG; i++)
		b[i] = -1;
	rc = MPI_Recv(b, BIG, MPI_INT, 1, 5, MPI_COMM_WORLD, &st);
	counts("Recv after truncations", rc, &st);
	CHECK(rc == MPI_SUCCESS && b[0] == 5000, "last message: %d", b[0]);
	sum = fnv(sum, b, sizeof(b));
	return sum;
}

int
main(int argc, char **argv)
{
	MPI_Datatype uncommitted;
	uint64_t sum = FNV_INIT;
	int *ub, flag = 0, r;

	rank = ex_init(&argc, &argv, &size);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	CHECK(size >= 2, "needs 2 ranks");
	MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ub, &flag);
	MPI_Type_vector(2, 1, 2, MPI_INT, &uncommitted);	/* no commit */
	local_errors(uncommitted, flag ? *ub : 32767);
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0 && size >= 2)
		sum = receiver();
	else if (rank == 1)
		sender(uncommitted);
	MPI_Type_free(&uncommitted);
	r = ex_finish("argcheck", sum);
	MPI_Finalize();
	return r;
}
