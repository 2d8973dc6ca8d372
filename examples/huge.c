/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Messages over 2 GiB (issue 20): rank 0 sends n MPI_LONG_LONG_INT
 * (default 270,000,000: 2.16 GB) to rank 1 once per receive path, and
 * rank 1 receives with
 *
 *   1. MPI_Recv                  (sent with MPI_Send)
 *   2. MPI_Probe, then MPI_Recv  (MPI_Isend)
 *   3. MPI_Mprobe, MPI_Mrecv     (MPI_Send)
 *   4. MPI_Irecv, MPI_Wait       (MPI_Ssend)
 *   5. MPI_Recv_init, MPI_Start, MPI_Wait (MPI_Send_init, MPI_Start)
 *
 * and checks MPI_Get_count, MPI_Get_elements_x and the data: the first
 * and last element carry the path's number, and one element per 4 KiB
 * page, cleared before each receive, must hold its index again.
 *
 * Arguments: [n [paths]], paths a string of path numbers ("12345").
 * Memory: the buffer on each rank, and whatever the library needs.
 */
#include <sys/mman.h>

#include "example_util.h"

static long long *buf;
static long long n;
#define STEP 512	/* long longs: one per 4 KiB page */

static void
mark(int path)
{
	buf[0] = path;
	buf[n - 1] = path * 1000;
}

static void
clear(void)
{
	long long i;

	for (i = 0; i < n; i += STEP)
		buf[i] = -1;
	buf[n - 1] = -1;
}

static uint64_t
check(uint64_t sum, int path, const char *how, const MPI_Status *st)
{
	long long i;
	MPI_Count el = -1;
	int count = -1;

	MPI_Get_count(st, MPI_LONG_LONG_INT, &count);
	MPI_Get_elements_x(st, MPI_LONG_LONG_INT, &el);
	CHECK(count == n, "%s: MPI_Get_count %d, want %lld", how, count, n);
	CHECK(el == n, "%s: MPI_Get_elements_x %lld", how, (long long)el);
	CHECK(st->MPI_SOURCE == 0 && st->MPI_TAG == path, "%s: source %d "
	    "tag %d", how, st->MPI_SOURCE, st->MPI_TAG);
	CHECK(buf[0] == path && buf[n - 1] == path * 1000, "%s: ends %lld "
	    "%lld", how, buf[0], buf[n - 1]);
	for (i = STEP; i < n - 1; i += STEP)
		if (buf[i] != i) {
			CHECK(buf[i] == i, "%s: element %lld is %lld", how, i,
			    buf[i]);
			break;
		}
	if (ex_rank == 1)
		printf("huge: %s: %d elements, %lld bytes\n", how, count,
		    (long long)el * 8);
	return fnv_u64(sum, (uint64_t)count + (uint64_t)path);
}

static void
sender(const char *paths)
{
	MPI_Request rq;
	long long i;
	const char *p;

	for (i = 0; i < n; i++)
		buf[i] = i;
	for (p = paths; *p; p++) {
		int path = *p - '0';

		mark(path);
		switch (path) {
		case 1:
		case 3:
			MPI_OK(MPI_Send(buf, (int)n, MPI_LONG_LONG_INT, 1,
			    path, MPI_COMM_WORLD));
			break;
		case 2:
			MPI_OK(MPI_Isend(buf, (int)n, MPI_LONG_LONG_INT, 1,
			    path, MPI_COMM_WORLD, &rq));
			MPI_OK(MPI_Wait(&rq, MPI_STATUS_IGNORE));
			break;
		case 4:
			MPI_OK(MPI_Ssend(buf, (int)n, MPI_LONG_LONG_INT, 1,
			    path, MPI_COMM_WORLD));
			break;
		case 5:
			MPI_OK(MPI_Send_init(buf, (int)n, MPI_LONG_LONG_INT,
			    1, path, MPI_COMM_WORLD, &rq));
			MPI_OK(MPI_Start(&rq));
			MPI_OK(MPI_Wait(&rq, MPI_STATUS_IGNORE));
			MPI_OK(MPI_Request_free(&rq));
			break;
		}
	}
}

static uint64_t
receiver(const char *paths, uint64_t sum)
{
	MPI_Request rq;
	MPI_Message msg;
	MPI_Status st;
	const char *p;

	for (p = paths; *p; p++) {
		int path = *p - '0', count = -1;

		clear();
		switch (path) {
		case 1:
			MPI_OK(MPI_Recv(buf, (int)n, MPI_LONG_LONG_INT, 0,
			    path, MPI_COMM_WORLD, &st));
			sum = check(sum, path, "Recv", &st);
			break;
		case 2:
			MPI_OK(MPI_Probe(0, path, MPI_COMM_WORLD, &st));
			MPI_Get_count(&st, MPI_LONG_LONG_INT, &count);
			CHECK(count == n, "Probe: count %d", count);
			MPI_OK(MPI_Recv(buf, (int)n, MPI_LONG_LONG_INT, 0,
			    path, MPI_COMM_WORLD, &st));
			sum = check(sum, path, "Probe+Recv", &st);
			break;
		case 3:
			MPI_OK(MPI_Mprobe(0, path, MPI_COMM_WORLD, &msg,
			    &st));
			MPI_Get_count(&st, MPI_LONG_LONG_INT, &count);
			CHECK(count == n, "Mprobe: count %d", count);
			MPI_OK(MPI_Mrecv(buf, (int)n, MPI_LONG_LONG_INT, &msg,
			    &st));
			sum = check(sum, path, "Mprobe+Mrecv", &st);
			break;
		case 4:
			MPI_OK(MPI_Irecv(buf, (int)n, MPI_LONG_LONG_INT, 0,
			    path, MPI_COMM_WORLD, &rq));
			MPI_OK(MPI_Wait(&rq, &st));
			sum = check(sum, path, "Irecv+Wait (Ssend)", &st);
			break;
		case 5:
			MPI_OK(MPI_Recv_init(buf, (int)n, MPI_LONG_LONG_INT,
			    0, path, MPI_COMM_WORLD, &rq));
			MPI_OK(MPI_Start(&rq));
			MPI_OK(MPI_Wait(&rq, &st));
			MPI_OK(MPI_Request_free(&rq));
			sum = check(sum, path,
			    "Recv_init+Start+Wait (Send_init)", &st);
			break;
		}
	}
	return sum;
}

int
main(int argc, char **argv)
{
	const char *paths = argc > 2 ? argv[2] : "12345";
	uint64_t sum = FNV_INIT;
	int rank, size, rc;

	n = argc > 1 ? atoll(argv[1]) : 270000000LL;
	rank = ex_init(&argc, &argv, &size);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	if (rank < 2 && size >= 2) {
		/* Huge pages where the kernel offers them on request: a
		 * VM pays dearly for half a million page faults. */
		buf = aligned_alloc(2 << 20, ((size_t)n * sizeof(*buf) +
		    (2 << 20) - 1) & ~(size_t)((2 << 20) - 1));
		if (buf != NULL)
			(void)madvise(buf, (size_t)n * sizeof(*buf),
			    MADV_HUGEPAGE);
		CHECK(buf != NULL, "no memory for %lld elements", n);
		if (buf != NULL && rank == 0)
			sender(paths);
		else if (buf != NULL)
			sum = receiver(paths, sum);
		free(buf);
	}
	rc = ex_finish("huge", sum);
	MPI_Finalize();
	return rc;
}
