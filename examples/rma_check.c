/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One-sided communication, every operation and synchronisation mode:
 * fence, post-start-complete-wait (and Win_test), lock/unlock shared and
 * exclusive, lock_all with the request forms and flushes, dynamic and
 * shared windows, contiguous and derived datatypes. Checks its results
 * and prints one line per part and a digest of all window contents,
 * which must not depend on the MPI (plain or under esmpi).
 *   rma_check [--marker]  also Put ESMPI-SECRET-MARKER into every window
 *                         (made at run time: the launcher's traffic
 *                         never carries it)
 *   rma_check --errors    only the error checks (errors return)
 *   rma_check --stream STOP  rounds of fence Put, Get and Fetch_and_op
 *                         between neighbours, each checked, until the
 *                         file STOP exists (for key rotation mid-run)
 *   rma_check --tamper    2 ranks, for the tamper bridge: rank 0 Puts 16
 *                         KiB into rank 1's window, then Gets 16 KiB from
 *                         another (errors return); prints what each
 *                         operation returned (the call or the unlock
 *                         that completes it) and whether rank 1's window
 *                         and rank 0's result buffer kept their contents
 *                         (or, the result buffer, was wiped)
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "example_util.h"

#define N 64
static int rank, size, bad;
static uint64_t digest = 1469598103934665603ULL;

static void
mix(const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		digest = (digest ^ *b++) * 1099511628211ULL;
}

static void
check(const char *part, int ok)
{
	int all;

	MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
	if (rank == 0)
		printf("%s: %s\n", part, all ? "ok" : "FAIL");
	if (!all)
		bad = 1;
}

/* Fence: contiguous Put to the right, Get from the left, Accumulate
 * into everyone; derived target (vector) and origin (indexed) types. */
static void
fence_part(const char *marker)
{
	int *buf, i, ok = 1, right = (rank + 1) % size;
	int left = (rank + size - 1) % size, src[N], got[N];
	MPI_Win win;
	MPI_Datatype vec, idx;
	int bl[2] = { 2, 3 }, dp[2] = { 0, 5 };

	MPI_Alloc_mem(4 * N * sizeof(int), MPI_INFO_NULL, &buf);
	for (i = 0; i < 4 * N; i++)
		buf[i] = rank * 1000 + i;
	MPI_Win_create(buf, 4 * N * sizeof(int), sizeof(int), MPI_INFO_NULL,
	    MPI_COMM_WORLD, &win);
	MPI_Win_fence(0, win);
	if (marker != NULL)
		MPI_Put(marker, (int)strlen(marker), MPI_CHAR, right, 3 * N,
		    (int)strlen(marker), MPI_CHAR, win);
	for (i = 0; i < N; i++)
		src[i] = rank * 7 + i;
	MPI_Put(src, N / 2, MPI_INT, right, 0, N / 2, MPI_INT, win);
	MPI_Win_fence(0, win);
	ok &= buf[0] == left * 7 && buf[N / 2 - 1] == left * 7 + N / 2 - 1;
	MPI_Get(got, N / 2, MPI_INT, left, N / 2, N / 2, MPI_INT, win);
	MPI_Win_fence(0, win);
	for (i = 0; i < N / 2; i++)
		ok &= got[i] == left * 1000 + N / 2 + i;
	for (i = 0; i < N; i++)
		src[i] = rank + 1;
	for (i = 0; i < size; i++)
		MPI_Accumulate(src, 8, MPI_INT, i, N, 8, MPI_INT, MPI_SUM, win);
	MPI_Win_fence(0, win);
	for (i = 0; i < 8; i++)
		ok &= buf[N + i] == rank * 1000 + N + i + size * (size + 1) / 2;
	check("fence put/get/accumulate", ok);

	/* every 3rd int of the target from 8 ints of an indexed origin */
	MPI_Type_vector(5, 1, 3, MPI_INT, &vec);
	MPI_Type_commit(&vec);
	MPI_Type_indexed(2, bl, dp, MPI_INT, &idx);
	MPI_Type_commit(&idx);
	for (i = 0; i < N; i++)
		src[i] = -(rank * 100 + i);
	MPI_Put(src, 1, idx, right, 2 * N, 1, vec, win);
	MPI_Win_fence(0, win);
	ok = buf[2 * N] == -(left * 100) && buf[2 * N + 3] == -(left * 100 +
	    1) && buf[2 * N + 6] == -(left * 100 + 5) && buf[2 * N + 12] ==
	    -(left * 100 + 7) && buf[2 * N + 1] == rank * 1000 + 2 * N + 1;
	memset(got, 0, sizeof(got));
	MPI_Get(got, 1, idx, left, 2 * N, 1, vec, win);
	MPI_Accumulate(src, 5, MPI_INT, right, 2 * N + 1, 1, vec, MPI_MAX,
	    win);
	/* freed before the fence completes the Get that uses it: allowed */
	MPI_Type_free(&idx);
	MPI_Win_fence(MPI_MODE_NOSUCCEED, win);
	i = (left + size - 1) % size;
	ok &= got[0] == -(i * 100) && got[1] == -(i * 100 + 1) && got[5] ==
	    -(i * 100 + 5) && got[7] == -(i * 100 + 7) && got[2] == 0;
	ok &= buf[2 * N + 1] == rank * 1000 + 2 * N + 1;
	check("fence derived datatypes", ok);
	mix(buf, 4 * N * sizeof(int));
	MPI_Type_free(&vec);
	MPI_Win_free(&win);
	MPI_Free_mem(buf);
}

/* Exclusive and shared locks: atomic counters by Fetch_and_op, a
 * Compare_and_swap ticket, Get_accumulate, a lock held across a barrier
 * the target is in. */
static void
lock_part(void)
{
	long *mem, one = 1, old, v, cmp, i;
	int ok = 1, r;
	MPI_Win win;

	MPI_Win_allocate(8 * sizeof(long), sizeof(long), MPI_INFO_NULL,
	    MPI_COMM_WORLD, &mem, &win);
	MPI_Win_lock(MPI_LOCK_EXCLUSIVE, rank, 0, win);
	memset(mem, 0, 8 * sizeof(long));
	MPI_Win_unlock(rank, win);
	MPI_Barrier(MPI_COMM_WORLD);
	for (i = 0; i < 10; i++) {
		MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
		MPI_Fetch_and_op(&one, &old, MPI_LONG, 0, 0, MPI_SUM, win);
		MPI_Win_unlock(0, win);
		ok &= old >= 0 && old < 10 * size;
	}
	/* CAS: each rank claims one slot of 1..size in turn */
	for (;;) {
		MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win);
		MPI_Fetch_and_op(NULL, &cmp, MPI_LONG, 0, 1, MPI_NO_OP, win);
		MPI_Win_flush(0, win);	/* the result is ours from here */
		v = cmp + 1;
		MPI_Compare_and_swap(&v, &cmp, &old, MPI_LONG, 0, 1, win);
		MPI_Win_unlock(0, win);
		if (old == cmp)
			break;
	}
	MPI_Win_lock(MPI_LOCK_EXCLUSIVE, size - 1, 0, win);
	v = rank + 1;
	MPI_Get_accumulate(&v, 1, MPI_LONG, &old, 1, MPI_LONG, size - 1, 2,
	    1, MPI_LONG, MPI_SUM, win);
	MPI_Win_unlock(size - 1, win);
	/* passive target while the target waits in a barrier */
	if (rank == 1 % size) {
		v = 4242;
		MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win);
		MPI_Put(&v, 1, MPI_LONG, 0, 3, 1, MPI_LONG, win);
		MPI_Win_unlock(0, win);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	MPI_Win_lock(MPI_LOCK_SHARED, rank, 0, win);
	if (rank == 0)
		ok &= mem[0] == 10 * size && mem[1] == size && mem[3] == 4242;
	if (rank == size - 1)
		ok &= mem[2] == (long)size * (size + 1) / 2;
	r = (int)mem[0];
	MPI_Win_unlock(rank, win);
	(void)r;
	check("lock fetch_and_op/compare_and_swap/get_accumulate", ok);
	MPI_Barrier(MPI_COMM_WORLD);
	mix(mem, 8 * sizeof(long));
	MPI_Win_free(&win);
}

/* Lock_all with the request forms and flushes. */
static void
lockall_part(void)
{
	double *mem, x[4], y[4], z[4];
	int ok = 1, i, right = (rank + 1) % size;
	MPI_Request rq[4];
	MPI_Win win;

	MPI_Win_allocate(16 * sizeof(double), sizeof(double), MPI_INFO_NULL,
	    MPI_COMM_WORLD, &mem, &win);
	for (i = 0; i < 16; i++)
		mem[i] = rank + i / 100.0;
	MPI_Barrier(MPI_COMM_WORLD);
	MPI_Win_lock_all(0, win);
	for (i = 0; i < 4; i++)
		x[i] = rank * 10 + i;
	MPI_Rput(x, 4, MPI_DOUBLE, right, 0, 4, MPI_DOUBLE, win, &rq[0]);
	MPI_Win_flush_local(right, win);
	MPI_Raccumulate(x, 4, MPI_DOUBLE, right, 4, 4, MPI_DOUBLE, MPI_SUM,
	    win, &rq[1]);
	MPI_Win_flush(right, win);
	MPI_Rget(y, 4, MPI_DOUBLE, right, 0, 4, MPI_DOUBLE, win, &rq[2]);
	MPI_Rget_accumulate(x, 4, MPI_DOUBLE, z, 4, MPI_DOUBLE, right, 8, 4,
	    MPI_DOUBLE, MPI_MAX, win, &rq[3]);
	MPI_Waitall(4, rq, MPI_STATUSES_IGNORE);
	MPI_Win_flush_all(win);
	MPI_Win_flush_local_all(win);
	for (i = 0; i < 4; i++)
		ok &= y[i] == x[i] && z[i] == right + (8 + i) / 100.0;
	MPI_Win_sync(win);
	MPI_Win_unlock_all(win);
	MPI_Barrier(MPI_COMM_WORLD);
	check("lock_all rput/rget/raccumulate/rget_accumulate/flush", ok);
	mix(mem, 16 * sizeof(double));
	MPI_Win_free(&win);
}

/* Post-start-complete-wait between neighbours, Win_test on one side. */
static void
pscw_part(void)
{
	int mem[4] = { 0 }, ok = 1, right = (rank + 1) % size, flag = 0;
	int left = (rank + size - 1) % size, v;
	MPI_Group world, to, from;
	MPI_Win win;

	MPI_Win_create(mem, sizeof(mem), sizeof(int), MPI_INFO_NULL,
	    MPI_COMM_WORLD, &win);
	MPI_Comm_group(MPI_COMM_WORLD, &world);
	MPI_Group_incl(world, 1, &right, &to);
	MPI_Group_incl(world, 1, &left, &from);
	MPI_Win_post(from, 0, win);
	MPI_Win_start(to, 0, win);
	v = rank + 100;
	MPI_Put(&v, 1, MPI_INT, right, 1, 1, MPI_INT, win);
	MPI_Win_complete(win);
	if (rank % 2)
		MPI_Win_wait(win);
	else
		while (!flag)
			MPI_Win_test(win, &flag);
	ok = mem[1] == left + 100;
	check("post/start/complete/wait/test", ok);
	mix(mem, sizeof(mem));
	MPI_Group_free(&to);
	MPI_Group_free(&from);
	MPI_Group_free(&world);
	MPI_Win_free(&win);
}

/* Dynamic window: attach, addresses by Allgather, Put/Get, detach. */
static void
dynamic_part(void)
{
	int mem[8], ok = 1, i, right = (rank + 1) % size, v[2], w[2];
	MPI_Aint addr, *all = malloc(size * sizeof(MPI_Aint));
	MPI_Win win;

	for (i = 0; i < 8; i++)
		mem[i] = rank * 10 + i;
	MPI_Win_create_dynamic(MPI_INFO_NULL, MPI_COMM_WORLD, &win);
	MPI_Win_attach(win, mem, sizeof(mem));
	MPI_Get_address(mem, &addr);
	MPI_Allgather(&addr, 1, MPI_AINT, all, 1, MPI_AINT, MPI_COMM_WORLD);
	MPI_Win_fence(0, win);
	v[0] = -rank;
	v[1] = -rank - 1;
	MPI_Put(v, 2, MPI_INT, right, all[right] + 2 * sizeof(int), 2,
	    MPI_INT, win);
	MPI_Win_fence(0, win);
	MPI_Get(w, 2, MPI_INT, right, all[right] + 6 * sizeof(int), 2,
	    MPI_INT, win);
	MPI_Win_fence(0, win);
	ok = mem[2] == -((rank + size - 1) % size) && w[0] == right * 10 + 6
	    && w[1] == right * 10 + 7;
	MPI_Win_detach(win, mem);
	check("dynamic attach/put/get/detach", ok);
	mix(mem, sizeof(mem));
	MPI_Win_free(&win);
	free(all);
}

/* A shared-memory window among the ranks of this node. */
static void
shared_part(void)
{
	MPI_Comm node;
	MPI_Win win;
	int *mine, *first, nr, nsz, ok = 1, du;
	MPI_Aint sz;

	MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
	    MPI_INFO_NULL, &node);
	MPI_Comm_rank(node, &nr);
	MPI_Comm_size(node, &nsz);
	MPI_Win_allocate_shared(sizeof(int), sizeof(int), MPI_INFO_NULL, node,
	    &mine, &win);
	MPI_Win_shared_query(win, 0, &sz, &du, &first);
	MPI_Win_lock_all(0, win);
	*mine = nr + 5;
	MPI_Win_sync(win);
	MPI_Barrier(node);
	MPI_Win_sync(win);
	ok = first[nsz - 1] == nsz - 1 + 5 && sz == sizeof(int) && du ==
	    sizeof(int);
	MPI_Win_unlock_all(win);
	check("allocate_shared/shared_query", ok);
	MPI_Win_free(&win);
	MPI_Comm_free(&node);
}

/* Window attributes, name, group. */
static void
attr_part(void)
{
	int mem[3], ok, flag, *unit, gs, len, *flavor;
	MPI_Aint *wsize;
	void *base;
	char name[MPI_MAX_OBJECT_NAME];
	MPI_Group g;
	MPI_Win win;

	MPI_Win_create(mem, sizeof(mem), 4, MPI_INFO_NULL, MPI_COMM_WORLD,
	    &win);
	MPI_Win_get_attr(win, MPI_WIN_BASE, &base, &flag);
	ok = flag && base == mem;
	MPI_Win_get_attr(win, MPI_WIN_SIZE, &wsize, &flag);
	ok &= flag && *wsize == sizeof(mem);
	MPI_Win_get_attr(win, MPI_WIN_DISP_UNIT, &unit, &flag);
	ok &= flag && *unit == 4;
	MPI_Win_get_attr(win, MPI_WIN_CREATE_FLAVOR, &flavor, &flag);
	ok &= flag && *flavor == MPI_WIN_FLAVOR_CREATE;
	MPI_Win_set_name(win, "rma-check");
	MPI_Win_get_name(win, name, &len);
	ok &= strcmp(name, "rma-check") == 0;
	MPI_Win_get_group(win, &g);
	MPI_Group_size(g, &gs);
	ok &= gs == size;
	MPI_Group_free(&g);
	check("attributes/name/group", ok);
	MPI_Win_free(&win);
}

/* Errors return (MPI_ERRORS_RETURN on the window): their classes. */
static void
error_part(void)
{
	int mem[4] = { 0 }, v = 1, rc, cls;
	MPI_Win win;

	MPI_Win_create(mem, sizeof(mem), sizeof(int), MPI_INFO_NULL,
	    MPI_COMM_WORLD, &win);
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	MPI_Win_fence(0, win);
	rc = MPI_Put(&v, 1, MPI_INT, size + 3, 0, 1, MPI_INT, win);
	MPI_Error_class(rc, &cls);
	if (rank == 0)
		printf("target out of range: %s\n", cls == MPI_ERR_RANK ?
		    "MPI_ERR_RANK" : "other");
	rc = MPI_Put(&v, 1, MPI_INT, 0, 4, 1, MPI_INT, win);
	MPI_Error_class(rc, &cls);
	if (rank == 0)
		printf("displacement outside the window: %s\n",
		    cls == MPI_ERR_RMA_RANGE ? "MPI_ERR_RMA_RANGE" : "other");
	MPI_Win_fence(0, win);
	MPI_Win_free(&win);
}

/* Only the big messages (16 KiB: one TCP segment past 1000 bytes carries
 * nothing else) are for the bridge to alter. */
#define BIG 4096
static void
tamper_part(void)
{
	int *mem, *src, i, rc, same, zero, len;
	char es[MPI_MAX_ERROR_STRING];
	MPI_Win win;

	MPI_Win_allocate(BIG * sizeof(int), sizeof(int), MPI_INFO_NULL,
	    MPI_COMM_WORLD, &mem, &win);
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	src = malloc(BIG * sizeof(int));
	for (i = 0; i < BIG; i++)
		mem[i] = 7 * i + rank, src[i] = -i;
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0) {
		MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 1, 0, win);
		rc = MPI_Put(src, BIG, MPI_INT, 1, 0, BIG, MPI_INT, win);
		if (rc == MPI_SUCCESS)
			rc = MPI_Win_unlock(1, win);
		MPI_Error_string(rc, es, &len);
		printf("put: %s\n", rc == MPI_SUCCESS ? "ok" : es);
		fflush(stdout);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 1) {
		for (i = 0, same = 1; i < BIG; i++)
			same &= mem[i] == 7 * i + 1;
		printf("put target window: %s\n", same ? "unchanged" :
		    "written");
		fflush(stdout);
	}
	MPI_Win_free(&win);

	MPI_Win_allocate(BIG * sizeof(int), sizeof(int), MPI_INFO_NULL,
	    MPI_COMM_WORLD, &mem, &win);
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	for (i = 0; i < BIG; i++)
		mem[i] = 5 * i + rank, src[i] = -1;
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0) {
		MPI_Win_lock(MPI_LOCK_SHARED, 1, 0, win);
		rc = MPI_Get(src, BIG, MPI_INT, 1, 0, BIG, MPI_INT, win);
		/* the unlock completes the Get (and may be where it fails) */
		same = MPI_Win_unlock(1, win);
		if (rc == MPI_SUCCESS)
			rc = same;
		MPI_Error_string(rc, es, &len);
		printf("get: %s\n", rc == MPI_SUCCESS ? "ok" : es);
		for (i = 0, same = 1, zero = 1; i < BIG; i++) {
			same &= src[i] == -1;
			zero &= src[i] == 0;
		}
		/* a refused answer opened into the buffer is wiped there,
		 * as a refused receive's buffer is */
		printf("get result buffer: %s\n", same ? "unchanged" :
		    zero ? "wiped" : "written");
		fflush(stdout);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	MPI_Win_free(&win);
	free(src);
	if (rank == 0)
		printf("rma_check --tamper: done\n");
}

/* Rounds until stop exists (rank 0 looks, tells the others). */
static void
stream_part(const char *stop)
{
	int *mem, v, got, old, one = 1, go = 1, ok = 1;
	long n = 0;
	MPI_Win win;
	int right = (rank + 1) % size, left = (rank + size - 1) % size;

	MPI_Win_allocate(2 * sizeof(int), sizeof(int), MPI_INFO_NULL,
	    MPI_COMM_WORLD, &mem, &win);
	mem[0] = mem[1] = 0;
	MPI_Win_fence(0, win);
	while (go && ok && n < 1000000) {
		v = (int)(n * size + rank);
		MPI_Put(&v, 1, MPI_INT, right, 0, 1, MPI_INT, win);
		MPI_Win_fence(0, win);
		MPI_Get(&got, 1, MPI_INT, left, 0, 1, MPI_INT, win);
		MPI_Fetch_and_op(&one, &old, MPI_INT, right, 1, MPI_SUM, win);
		MPI_Win_fence(0, win);
		ok = mem[0] == (int)(n * size + left) && got == (int)(n *
		    size + (left + size - 1) % size) && old == (int)n &&
		    mem[1] == (int)n + 1;
		n++;
		if (rank == 0)
			go = access(stop, F_OK) != 0;
		MPI_Allreduce(MPI_IN_PLACE, &go, 1, MPI_INT, MPI_MIN,
		    MPI_COMM_WORLD);
		MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN,
		    MPI_COMM_WORLD);
	}
	MPI_Win_free(&win);
	if (rank == 0)
		printf("rma_check --stream: %ld rounds, %s\n", n,
		    ok ? "all ok" : "FAILED");
	bad |= !ok;
}

int
main(int argc, char **argv)
{
	char mk[32];
	const char *marker = NULL;
	uint64_t all;

	if (argc > 1 && strcmp(argv[1], "--marker") == 0) {
		snprintf(mk, sizeof(mk), "ESMPI-SECRET-%s", "MARKER");
		marker = mk;
	}

	rank = ex_init(&argc, &argv, &size);
	if (argc > 1 && strcmp(argv[1], "--tamper") == 0) {
		tamper_part();
		MPI_Finalize();
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--errors") == 0) {
		error_part();
		MPI_Finalize();
		return 0;
	}
	if (argc > 2 && strcmp(argv[1], "--stream") == 0) {
		stream_part(argv[2]);
		MPI_Finalize();
		return bad;
	}
	fence_part(marker);
	lock_part();
	lockall_part();
	pscw_part();
	dynamic_part();
	shared_part();
	attr_part();
	MPI_Reduce(&digest, &all, 1, MPI_UINT64_T, MPI_BXOR, 0,
	    MPI_COMM_WORLD);
	if (rank == 0)
		printf("rma_check: %d ranks, %s, digest %016llx\n", size,
		    bad ? "FAILED" : "all ok", (unsigned long long)all);
	MPI_Finalize();
	return bad;
}
