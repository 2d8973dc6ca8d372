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
 *   6. MPI_Recv into a non-contiguous type (MPI_Send): 511 of every 512
 *      elements, the last one a hole left as it was
 *
 * and checks MPI_Get_count, MPI_Get_elements_x and the data: the first
 * and last element carry the path's number, and one element per 4 KiB
 * page, cleared before each receive, must hold its index again. Then
 * collectives (both ranks):
 *
 *   7. MPI_Bcast of the n elements from rank 0 (one block of n * 8 bytes)
 *   8. MPI_Gatherv to rank 0 (in place there) of n/4 and n - n/4
 *
 * checked the same way (a collective gives no status).
 *
 * Arguments: [n [paths]], paths a string of path numbers ("12345").
 * Memory: the buffer on each rank, and whatever the library needs.
 */
#include <sys/mman.h>

#include "example_util.h"

static long long *buf;
static long long n;
#define STEP 512	/* long longs: one per 4 KiB page */
#define PAGED 511	/* path 6: elements of a page it fills */
static MPI_Datatype paged;	/* PAGED long longs, extent STEP */

/* Where path 6 puts element i. */
static long long
at6(long long i)
{
	return i / PAGED * STEP + i % PAGED;
}

static size_t
cap_of(long long n_)
{
	return (size_t)(n_ / PAGED + 1) * STEP;
}

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

/* The data: both ends carry the path, one element per page its index. */
static void
check_data(int path, const char *how)
{
	long long i, last = path == 6 ? at6(n - 1) : n - 1;

	CHECK(buf[0] == path && buf[last] == path * 1000, "%s: ends %lld "
	    "%lld", how, buf[0], buf[last]);
	for (i = STEP; i < n - 1; i += STEP) {
		long long at = path == 6 ? at6(i) : i;

		if (buf[at] != i) {
			CHECK(buf[at] == i, "%s: element %lld is %lld", how, i,
			    buf[at]);
			break;
		}
	}
	/* Path 6's holes keep what they held. */
	for (i = PAGED; path == 6 && i < at6(n - 1); i += STEP)
		if (buf[i] != -7) {
			CHECK(buf[i] == -7, "%s: hole %lld is %lld", how, i,
			    buf[i]);
			break;
		}
}

static uint64_t
check(uint64_t sum, int path, const char *how, const MPI_Status *st)
{
	MPI_Datatype dt = path == 6 ? paged : MPI_LONG_LONG_INT;
	MPI_Count el = -1;
	int count = -1;
	long long want = path == 6 ? (n % PAGED ? MPI_UNDEFINED : n / PAGED)
	    : n;

	MPI_Get_count(st, dt, &count);
	MPI_Get_elements_x(st, dt, &el);
	CHECK(count == want, "%s: MPI_Get_count %d, want %lld", how, count,
	    want);
	CHECK(el == n, "%s: MPI_Get_elements_x %lld", how, (long long)el);
	CHECK(st->MPI_SOURCE == 0 && st->MPI_TAG == path, "%s: source %d "
	    "tag %d", how, st->MPI_SOURCE, st->MPI_TAG);
	check_data(path, how);
	if (ex_rank == 1)
		printf("huge: %s: %lld elements, %lld bytes\n", how,
		    (long long)el, (long long)el * 8);
	return fnv_u64(sum, (uint64_t)el + (uint64_t)path);
}

/* Paths 7 and 8, on both ranks. */
static uint64_t
collective(int path, uint64_t sum)
{
	int counts[2] = { (int)(n / 4), (int)(n - n / 4) };
	int displs[2] = { 0, (int)(n / 4) };
	long long i;
	const char *how = path == 7 ? "Bcast" : "Gatherv";

	if (ex_rank == 0) {
		for (i = 0; i < n; i++)
			buf[i] = i;
		mark(path);
	} else
		clear();
	if (path == 7) {
		MPI_OK(MPI_Bcast(buf, (int)n, MPI_LONG_LONG_INT, 0,
		    MPI_COMM_WORLD));
		check_data(path, how);
	} else if (ex_rank == 0) {
		for (i = n / 4; i < n; i += STEP)
			buf[i] = -1;
		buf[n - 1] = -1;
		MPI_OK(MPI_Gatherv(MPI_IN_PLACE, counts[0], MPI_LONG_LONG_INT,
		    buf, counts, displs, MPI_LONG_LONG_INT, 0,
		    MPI_COMM_WORLD));
		check_data(path, how);
	} else {
		for (i = n / 4; i < n; i++)
			buf[i] = i;
		buf[n - 1] = path * 1000;
		MPI_OK(MPI_Gatherv(buf + n / 4, counts[1], MPI_LONG_LONG_INT,
		    NULL, NULL, NULL, MPI_LONG_LONG_INT, 0, MPI_COMM_WORLD));
	}
	if (ex_rank == 0)
		printf("huge: %s: %lld elements, %lld bytes\n", how, n,
		    n * 8);
	return fnv_u64(sum, (uint64_t)n + (uint64_t)path);
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

		if (path > 6)
			break;
		mark(path);
		switch (path) {
		case 1:
		case 3:
		case 6:
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

		if (path > 6)
			break;
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
		case 6:
			for (count = 0; count < (int)(n / PAGED); count++)
				buf[(size_t)count * STEP + PAGED] = -7;
			buf[at6(n - 1)] = -1;
			for (long long i = 0; i < n; i += STEP)
				buf[at6(i)] = -1;
			MPI_OK(MPI_Recv(buf, (int)(n / PAGED + 1), paged, 0,
			    path, MPI_COMM_WORLD, &st));
			sum = check(sum, path, "Recv (non-contiguous)", &st);
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
		buf = aligned_alloc(2 << 20, (cap_of(n) * sizeof(*buf) +
		    (2 << 20) - 1) & ~(size_t)((2 << 20) - 1));
		if (buf != NULL)
			(void)madvise(buf, cap_of(n) * sizeof(*buf),
			    MADV_HUGEPAGE);
		CHECK(buf != NULL, "no memory for %lld elements", n);
		MPI_Datatype page;

		MPI_Type_contiguous(PAGED, MPI_LONG_LONG_INT, &page);
		MPI_Type_create_resized(page, 0, STEP * sizeof(*buf), &paged);
		MPI_Type_commit(&paged);
		MPI_Type_free(&page);
		if (buf != NULL && rank == 0)
			sender(paths);
		else if (buf != NULL)
			sum = receiver(paths, sum);
		/* Collectives over MPI_COMM_WORLD: two ranks only. */
		for (const char *p = paths; buf != NULL && size == 2 && *p;
		    p++)
			if (*p > '6')
				sum = collective(*p - '0', sum);
		MPI_Type_free(&paged);
		free(buf);
	}
	rc = ex_finish("huge", sum);
	MPI_Finalize();
	return rc;
}
