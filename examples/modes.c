/* SPDX-License-Identifier: Apache-2.0 */
/* Send modes and completion calls between pairs (0,1), (2,3), ...:
 * Ssend, Rsend after a barrier-ordered Irecv, Bsend with Buffer_attach/
 * detach, Ibsend, Issend; request sets completed by Waitany, Waitsome,
 * Testall, Testany and Testsome loops; both ranks of a pair Ibsend or
 * Start a Bsend_init of 1 MiB and Wait before they receive (buffered
 * mode completes locally: no deadlock). */
#include "example_util.h"

#define N 48
#define NR 6

static int rank, size, peer, active;

static int
v(int src, int tag, int i)
{
	return src * 100000 + tag * 100 + i;
}

static void
fill(int *b, int n, int src, int tag)
{
	int i;

	for (i = 0; i < n; i++)
		b[i] = v(src, tag, i);
}

static uint64_t
check(uint64_t sum, const int *b, int n, int src, int tag, const char *how)
{
	int i;

	for (i = 0; i < n; i++)
		if (b[i] != v(src, tag, i))
			break;
	CHECK(i == n, "%s: tag %d int %d is %d", how, tag, i,
	    i < n ? b[i] : 0);
	return fnv(sum, b, (size_t)n * sizeof(int));
}

static int
is_sender(void)
{
	return rank % 2 == 0;
}

static uint64_t
single_modes(uint64_t sum)
{
	int b[N], r[N], i, flag, polls, bufsize, dsize;
	char *attached, *detached;
	MPI_Request req;
	MPI_Status st;

	/* Ssend both ways. */
	if (is_sender()) {
		fill(b, N, rank, 1);
		MPI_Ssend(b, N, MPI_INT, peer, 1, MPI_COMM_WORLD);
		MPI_Recv(r, N, MPI_INT, peer, 1, MPI_COMM_WORLD, &st);
	} else {
		MPI_Recv(r, N, MPI_INT, peer, 1, MPI_COMM_WORLD, &st);
		fill(b, N, rank, 1);
		MPI_Ssend(b, N, MPI_INT, peer, 1, MPI_COMM_WORLD);
	}
	sum = check(sum, r, N, peer, 1, "Ssend");

	/* Rsend: legal only with the receive posted; a barrier orders it. */
	if (!is_sender())
		MPI_Irecv(r, N, MPI_INT, peer, 2, MPI_COMM_WORLD, &req);
	MPI_Barrier(MPI_COMM_WORLD);
	if (is_sender()) {
		fill(b, N, rank, 2);
		MPI_Rsend(b, N, MPI_INT, peer, 2, MPI_COMM_WORLD);
	} else {
		MPI_Wait(&req, &st);
		sum = check(sum, r, N, peer, 2, "Rsend");
	}

	/* Bsend x3 and Ibsend through an attached buffer. */
	bufsize = 4 * (N * (int)sizeof(int) + MPI_BSEND_OVERHEAD);
	if (is_sender()) {
		int bb[4][N];

		attached = malloc(bufsize);
		MPI_Buffer_attach(attached, bufsize);
		for (i = 0; i < 3; i++) {
			fill(bb[i], N, rank, 3 + i);
			MPI_Bsend(bb[i], N, MPI_INT, peer, 3 + i,
			    MPI_COMM_WORLD);
			/* Buffered: the buffer is ours again at once. */
			memset(bb[i], 0, sizeof(bb[i]));
		}
		fill(bb[3], N, rank, 6);
		MPI_Ibsend(bb[3], N, MPI_INT, peer, 6, MPI_COMM_WORLD, &req);
		MPI_Wait(&req, MPI_STATUS_IGNORE);
		MPI_Buffer_detach(&detached, &dsize);
		CHECK(detached == attached && dsize == bufsize, "detached %p "
		    "size %d", (void *)detached, dsize);
		free(attached);
	} else {
		/* In reverse: the buffered messages wait for us. */
		for (i = 6; i >= 3; i--) {
			MPI_Recv(r, N, MPI_INT, peer, i, MPI_COMM_WORLD, &st);
			sum = check(sum, r, N, peer, i, "Bsend/Ibsend");
		}
	}

	/* Issend completed by a Test loop. */
	if (is_sender()) {
		fill(b, N, rank, 7);
		MPI_Issend(b, N, MPI_INT, peer, 7, MPI_COMM_WORLD, &req);
		for (flag = 0, polls = 0; !flag; polls++)
			MPI_Test(&req, &flag, &st);
		CHECK(req == MPI_REQUEST_NULL, "Test left the request");
	} else {
		MPI_Recv(r, N, MPI_INT, peer, 7, MPI_COMM_WORLD, &st);
		sum = check(sum, r, N, peer, 7, "Issend");
	}
	return sum;
}

enum how { WAITANY, WAITSOME, TESTALL, TESTANY, TESTSOME, NHOW };
static const char *const hows[NHOW] = { "Waitany", "Waitsome", "Testall",
	"Testany", "Testsome" };

/* NR messages on tags base..base+NR-1, sent in a scrambled order and
 * received into separate buffers; both sides complete with `how`. */
static uint64_t
request_set(uint64_t sum, enum how how, int base)
{
	static const int order[NR] = { 5, 2, 0, 4, 1, 3 };
	int bufs[NR][N], done[NR], idx[NR], ndone = 0, i, k, flag, out;
	MPI_Request req[NR];
	MPI_Status sts[NR], st;
	uint64_t hk[NR];	/* by tag: completion order varies */

	memset(done, 0, sizeof(done));
	memset(hk, 0, sizeof(hk));
	for (i = 0; i < NR; i++) {
		int tag = base + (is_sender() ? order[i] : i);

		if (is_sender()) {
			fill(bufs[i], N - i, rank, tag);
			MPI_Isend(bufs[i], N - i, MPI_INT, peer, tag,
			    MPI_COMM_WORLD, &req[i]);
		} else {
			memset(bufs[i], 0, sizeof(bufs[i]));
			MPI_Irecv(bufs[i], N, MPI_INT, peer, tag,
			    MPI_COMM_WORLD, &req[i]);
		}
	}

	while (ndone < NR) {
		int got[NR], n = 0;

		switch (how) {
		case WAITANY:
			MPI_Waitany(NR, req, &k, &st);
			got[n] = k;
			sts[n++] = st;
			break;
		case WAITSOME:
			MPI_Waitsome(NR, req, &out, idx, sts);
			for (i = 0; i < out; i++)
				got[n++] = idx[i];
			break;
		case TESTALL:
			MPI_Testall(NR, req, &flag, sts);
			if (flag)
				for (i = 0; i < NR; i++)
					got[n++] = i;
			break;
		case TESTANY:
			MPI_Testany(NR, req, &k, &flag, &st);
			if (flag && k != MPI_UNDEFINED) {
				got[n] = k;
				sts[n++] = st;
			}
			break;
		case TESTSOME:
			MPI_Testsome(NR, req, &out, idx, sts);
			for (i = 0; i < out; i++)
				got[n++] = idx[i];
			break;
		default:
			break;
		}
		for (i = 0; i < n; i++) {
			k = got[i];
			CHECK(k >= 0 && k < NR && !done[k], "%s: index %d",
			    hows[how], k);
			if (k < 0 || k >= NR || done[k])
				continue;
			CHECK(req[k] == MPI_REQUEST_NULL, "%s: request %d "
			    "not freed", hows[how], k);
			done[k] = 1;
			ndone++;
			if (!is_sender()) {
				int cnt, want = 0, j;

				/* tag base+k went out from bufs[j] with
				 * order[j] == k, N - j ints long */
				for (j = 0; j < NR; j++)
					if (order[j] == k)
						want = N - j;
				/* Testall fills statuses by position. */
				MPI_Get_count(&sts[how == TESTALL ? k : i],
				    MPI_INT, &cnt);
				CHECK(cnt == want && sts[how == TESTALL ? k :
				    i].MPI_TAG == base + k, "%s: request %d "
				    "count %d (want %d) tag %d", hows[how], k,
				    cnt, want, sts[how == TESTALL ? k :
				    i].MPI_TAG);
				hk[k] = check(FNV_INIT, bufs[k], want, peer,
				    base + k, hows[how]);
			}
		}
	}
	sum = fnv(sum, hk, sizeof(hk));
	/* Everything is complete: the calls say so. */
	switch (how) {
	case WAITANY:
		MPI_Waitany(NR, req, &k, &st);
		CHECK(k == MPI_UNDEFINED, "Waitany on nulls: %d", k);
		break;
	case WAITSOME:
		MPI_Waitsome(NR, req, &out, idx, sts);
		CHECK(out == MPI_UNDEFINED, "Waitsome on nulls: %d", out);
		break;
	case TESTANY:
		MPI_Testany(NR, req, &k, &flag, &st);
		CHECK(flag && k == MPI_UNDEFINED, "Testany on nulls: %d %d",
		    flag, k);
		break;
	case TESTSOME:
		MPI_Testsome(NR, req, &out, idx, sts);
		CHECK(out == MPI_UNDEFINED, "Testsome on nulls: %d", out);
		break;
	default:
		MPI_Testall(NR, req, &flag, sts);
		CHECK(flag, "Testall on nulls: %d", flag);
		break;
	}
	return sum;
}

/* Resident memory, kB (Linux): 0 where unknown. */
static long
rss_kb(void)
{
	char line[256];
	long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kb;
}

/*
 * Fire and forget: Isend then MPI_Request_free, many times, large enough
 * to be in flight when freed. The receiver gets every message intact,
 * and the sender's memory does not grow with the count (a library that
 * kept each freed request's buffer would hold FF_COUNT x FF_BYTES).
 */
#define FF_COUNT	400
#define BX_INTS		(256 * 1024)	/* 1 MiB: beyond any eager limit */
#define BX_ROUNDS	3

/* Buffered sends complete locally: each rank of a pair sends first
 * (round 0 Ibsend, then a Bsend_init each round), Waits, and only then
 * receives. (Each Bsend_init is started once: Open MPI 4.1.4 itself
 * sends stale bytes when a persistent buffered send of this size is
 * started again.) */
static uint64_t
buffered_exchange(uint64_t sum)
{
	int *s = malloc(BX_INTS * sizeof(int)), *r = malloc(BX_INTS *
	    sizeof(int)), k, size1, dsize;
	char *attached, *detached;
	MPI_Request req;

	CHECK(s != NULL && r != NULL, "buffered exchange: no memory");
	/* Room for two messages: ours of the round before may still wait
	 * for the peer's receive. */
	MPI_Pack_size(BX_INTS, MPI_INT, MPI_COMM_WORLD, &size1);
	size1 += MPI_BSEND_OVERHEAD;
	attached = malloc(2 * (size_t)size1);
	MPI_Buffer_attach(attached, 2 * size1);
	for (k = 0; k < BX_ROUNDS; k++) {
		fill(s, BX_INTS, rank, 60 + k);
		if (k == 0)
			MPI_Ibsend(s, BX_INTS, MPI_INT, peer, 50,
			    MPI_COMM_WORLD, &req);
		else {
			MPI_Bsend_init(s, BX_INTS, MPI_INT, peer, 50,
			    MPI_COMM_WORLD, &req);
			MPI_Start(&req);
		}
		MPI_Wait(&req, MPI_STATUS_IGNORE);
		if (k > 0)
			MPI_Request_free(&req);
		/* Buffered: the send buffer is ours again. */
		memset(s, 0, BX_INTS * sizeof(int));
		MPI_Recv(r, BX_INTS, MPI_INT, peer, 50, MPI_COMM_WORLD,
		    MPI_STATUS_IGNORE);
		sum = check(sum, r, BX_INTS, peer, 60 + k,
		    k == 0 ? "Ibsend exchange" : "Bsend_init exchange");
	}
	MPI_Buffer_detach(&detached, &dsize);
	free(attached);
	free(s);
	free(r);
	return sum;
}

#define FF_INTS		(64 * 1024)	/* 256 KiB */

static uint64_t
fire_and_forget(uint64_t sum)
{
	int *b = malloc(FF_INTS * sizeof(int)), i, k;
	long before = 0, grown;
	MPI_Request req;

	CHECK(b != NULL, "fire and forget: no memory");
	for (k = 0; k < FF_COUNT; k++) {
		if (k == FF_COUNT / 4)
			before = rss_kb();
		if (is_sender()) {
			for (i = 0; i < FF_INTS; i++)
				b[i] = v(rank, k, i);
			MPI_Isend(b, FF_INTS, MPI_INT, peer, 40, MPI_COMM_WORLD,
			    &req);
			MPI_Request_free(&req);
			CHECK(req == MPI_REQUEST_NULL, "Request_free left %s",
			    "a handle");
			/* The buffer is the sender's again only once the
			 * receiver has it: wait for the word. */
			MPI_Recv(&i, 1, MPI_INT, peer, 41, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
		} else {
			MPI_Recv(b, FF_INTS, MPI_INT, peer, 40, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
			for (i = 0; i < FF_INTS && b[i] == v(peer, k, i); i++)
				;
			CHECK(i == FF_INTS, "fire and forget: message %d int "
			    "%d is %d", k, i, i < FF_INTS ? b[i] : 0);
			MPI_Send(&k, 1, MPI_INT, peer, 41, MPI_COMM_WORLD);
		}
	}
	grown = rss_kb() - before;
	CHECK(grown < 16 * 1024, "fire and forget: %ld kB more resident "
	    "after %d freed sends of %zu kB", grown, FF_COUNT * 3 / 4,
	    FF_INTS * sizeof(int) / 1024);
	free(b);
	return fnv(sum, &k, sizeof(k));
}

/* A Bsend still in flight at MPI_Finalize (attached buffer, no detach):
 * Finalize delivers it, as it does Buffer_detach's (esmpi keeps the record
 * on its list until then). Odd ranks send 1 MiB, even ranks receive and
 * check it. */
static void
bsend_at_finalize(void)
{
	static int big[1 << 18];
	int i, n = 1 << 18, bufsize = (int)sizeof(big) + MPI_BSEND_OVERHEAD;

	if (!active)
		return;
	if (rank & 1) {
		void *att = malloc((size_t)bufsize);	/* MPI's until exit */

		CHECK(att != NULL, "bsend at finalize: no memory");
		MPI_Buffer_attach(att, bufsize);
		for (i = 0; i < n; i++)
			big[i] = v(rank, 50, i);
		MPI_Bsend(big, n, MPI_INT, peer, 50, MPI_COMM_WORLD);
		return;
	}
	MPI_Recv(big, n, MPI_INT, peer, 50, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	for (i = 0; i < n && big[i] == v(peer, 50, i); i++)
		;
	CHECK(i == n, "bsend at finalize: int %d is %d", i, i < n ? big[i] : 0);
}

int
main(int argc, char **argv)
{
	uint64_t sum = FNV_INIT;
	int r, h;

	rank = ex_init(&argc, &argv, &size);
	peer = (rank ^ 1) < size ? (rank ^ 1) : MPI_PROC_NULL;
	active = peer != MPI_PROC_NULL;
	if (active) {
		sum = single_modes(sum);
		for (h = 0; h < NHOW; h++)
			sum = request_set(sum, (enum how)h, 100 + 10 * h);
		sum = buffered_exchange(sum);
		sum = fire_and_forget(sum);
	} else {
		MPI_Barrier(MPI_COMM_WORLD);	/* the Rsend barrier */
	}
	if (rank == 0)
		printf("modes: Ssend, Rsend, Bsend, Ibsend, Issend; Waitany, "
		    "Waitsome, Testall, Testany, Testsome; Ibsend and "
		    "Bsend_init exchanges; Isend + Request_free over %d "
		    "pair(s)\n",
		    size / 2);
	bsend_at_finalize();
	r = ex_finish("modes", sum);
	MPI_Finalize();
	return r;
}
