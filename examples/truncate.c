/* SPDX-License-Identifier: Apache-2.0 */
/* Truncation under MPI_ERRORS_RETURN: rank 1 sends 10 ints where rank 0
 * has room for 5. Recv, Irecv+Wait, Waitall and a Testall loop (one good,
 * one truncated receive each) must report MPI_ERR_TRUNCATE; the good
 * receives must still deliver, and later messages must flow normally. */
#include "example_util.h"

#define BIG 10
#define SMALL 5

static const char *
class_name(int cls)
{
	switch (cls) {
	case MPI_SUCCESS:
		return "MPI_SUCCESS";
	case MPI_ERR_TRUNCATE:
		return "MPI_ERR_TRUNCATE";
	case MPI_ERR_IN_STATUS:
		return "MPI_ERR_IN_STATUS";
	case MPI_ERR_PENDING:
		return "MPI_ERR_PENDING";
	default:
		return "another error class";
	}
}

static int
errclass(int rc)
{
	int cls = rc;

	if (rc != MPI_SUCCESS)
		MPI_Error_class(rc, &cls);
	return cls;
}

static void
send_ints(int n, int tag)
{
	int b[BIG], i;

	for (i = 0; i < n; i++)
		b[i] = tag * 100 + i;
	MPI_OK(MPI_Send(b, n, MPI_INT, 0, tag, MPI_COMM_WORLD));
}

static uint64_t
check_ints(uint64_t sum, const int *b, int n, int tag, const char *how)
{
	int i;

	for (i = 0; i < n; i++)
		if (b[i] != tag * 100 + i)
			break;
	CHECK(i == n, "%s: int %d is %d", how, i, i < n ? b[i] : 0);
	return fnv(sum, b, (size_t)n * sizeof(int));
}

static uint64_t
receiver(void)
{
	int small[SMALL], big[BIG], rc, cls, c0, c1, i, flag;
	MPI_Request req, reqs[2];
	MPI_Status st, sts[2];
	uint64_t sum = FNV_INIT;

	/* Recv */
	rc = MPI_Recv(small, SMALL, MPI_INT, 1, 1, MPI_COMM_WORLD, &st);
	cls = errclass(rc);
	printf("truncate: Recv of %d ints into %d: %s\n", BIG, SMALL,
	    class_name(cls));
	CHECK(cls == MPI_ERR_TRUNCATE, "Recv: class %d", cls);

	/* Irecv + Wait */
	rc = MPI_Irecv(small, SMALL, MPI_INT, 1, 2, MPI_COMM_WORLD, &req);
	CHECK(rc == MPI_SUCCESS, "Irecv: %d", rc);
	rc = MPI_Wait(&req, &st);
	cls = errclass(rc);
	printf("truncate: Irecv+Wait of %d ints into %d: %s\n", BIG, SMALL,
	    class_name(cls));
	CHECK(cls == MPI_ERR_TRUNCATE, "Wait: class %d", cls);
	if (req != MPI_REQUEST_NULL)
		MPI_Request_free(&req);

	/* Waitall: a good receive and a truncated one. */
	for (i = 0; i < BIG; i++)
		big[i] = -1;
	MPI_Irecv(big, BIG, MPI_INT, 1, 3, MPI_COMM_WORLD, &reqs[0]);
	MPI_Irecv(small, SMALL, MPI_INT, 1, 4, MPI_COMM_WORLD, &reqs[1]);
	rc = MPI_Waitall(2, reqs, sts);
	cls = errclass(rc);
	c0 = errclass(sts[0].MPI_ERROR);
	c1 = errclass(sts[1].MPI_ERROR);
	printf("truncate: Waitall of a fitting and a truncated receive: %s "
	    "(%s, %s)\n", class_name(cls), class_name(c0), class_name(c1));
	CHECK(cls == MPI_ERR_IN_STATUS && c0 == MPI_SUCCESS &&
	    c1 == MPI_ERR_TRUNCATE, "Waitall: %d (%d, %d)", cls, c0, c1);
	sum = check_ints(sum, big, BIG, 3, "Waitall's fitting receive");
	for (i = 0; i < 2; i++)
		if (reqs[i] != MPI_REQUEST_NULL)
			MPI_Request_free(&reqs[i]);

	/* The same with a Testall loop, the truncated receive first. */
	for (i = 0; i < BIG; i++)
		big[i] = -1;
	MPI_Irecv(small, SMALL, MPI_INT, 1, 5, MPI_COMM_WORLD, &reqs[0]);
	MPI_Irecv(big, BIG, MPI_INT, 1, 6, MPI_COMM_WORLD, &reqs[1]);
	do {
		flag = 0;
		rc = MPI_Testall(2, reqs, &flag, sts);
	} while (rc == MPI_SUCCESS && !flag);
	cls = errclass(rc);
	c0 = errclass(sts[0].MPI_ERROR);
	c1 = errclass(sts[1].MPI_ERROR);
	printf("truncate: Testall of a truncated and a fitting receive: %s "
	    "(%s, %s)\n", class_name(cls), class_name(c0), class_name(c1));
	CHECK(cls == MPI_ERR_IN_STATUS && c0 == MPI_ERR_TRUNCATE &&
	    c1 == MPI_SUCCESS, "Testall: %d (%d, %d)", cls, c0, c1);
	sum = check_ints(sum, big, BIG, 6, "Testall's fitting receive");
	for (i = 0; i < 2; i++)
		if (reqs[i] != MPI_REQUEST_NULL)
			MPI_Request_free(&reqs[i]);

	/* Later messages, blocking and nonblocking, are unaffected. */
	rc = MPI_Recv(big, BIG, MPI_INT, 1, 7, MPI_COMM_WORLD, &st);
	CHECK(rc == MPI_SUCCESS, "Recv after truncation: %d", rc);
	sum = check_ints(sum, big, BIG, 7, "Recv after truncation");
	for (i = 0; i < 3; i++) {
		int fresh[BIG];

		memset(fresh, 0, sizeof(fresh));
		MPI_OK(MPI_Irecv(fresh, BIG, MPI_INT, 1, 8 + i,
		    MPI_COMM_WORLD, &req));
		MPI_OK(MPI_Wait(&req, &st));
		sum = check_ints(sum, fresh, BIG, 8 + i, "Irecv after "
		    "truncation");
	}
	printf("truncate: messages after the errors arrive intact\n");
	return sum;
}

int
main(int argc, char **argv)
{
	uint64_t sum = FNV_INIT;
	int rank, size, r, i;

	rank = ex_init(&argc, &argv, &size);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	CHECK(size >= 2, "needs 2 ranks");
	if (rank == 0 && size >= 2) {
		sum = receiver();
	} else if (rank == 1) {
		for (i = 1; i <= 10; i++)
			send_ints(BIG, i);
	}
	r = ex_finish("truncate", sum);
	MPI_Finalize();
	return r;
}
