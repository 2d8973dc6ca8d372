/* SPDX-License-Identifier: Apache-2.0 */
/* MPI_THREAD_MULTIPLE: pairs of ranks (0,1), (2,3), ... each run NT
 * threads; thread t exchanges with the same thread of the peer on its own
 * tag: first Irecv/Isend completed by Waitall or by two Waits, so that
 * nonblocking requests of concurrent threads are created and completed
 * side by side (Open MPI reuses a freed request's handle at once, and gives
 * all small Isends one shared, already complete request); then blocking
 * Send/Recv (even threads) or Sendrecv (odd threads). */
#include <pthread.h>

#include "example_util.h"

#define NT 4
#define ITERS 300		/* nonblocking exchanges per thread */
#define BLOCKING 20		/* then blocking ones */
#define N 16

static int rank, size, peer;
static int terrs[NT];
static uint64_t tsum[NT];

static int
v(int src, int t, int it, int i)
{
	return src * 1000000 + t * 100000 + it * 1000 + i;
}

static void *
worker(void *arg)
{
	int t = (int)(intptr_t)arg, out[N], in[N], it, i, bad, count;
	int tag = 10 + t;
	uint64_t sum = FNV_INIT;
	MPI_Request req[2];
	MPI_Status st;

	for (it = 0; it < ITERS + BLOCKING; it++) {
		for (i = 0; i < N; i++)
			out[i] = v(rank, t, it, i);
		memset(in, 0, sizeof(in));
		switch (it < ITERS ? 1 : t % 2 ? 2 : 0) {
		case 0:	/* blocking, ordered by parity */
			if (rank % 2 == 0) {
				MPI_Send(out, N, MPI_INT, peer, tag,
				    MPI_COMM_WORLD);
				MPI_Recv(in, N, MPI_INT, peer, tag,
				    MPI_COMM_WORLD, &st);
			} else {
				MPI_Recv(in, N, MPI_INT, peer, tag,
				    MPI_COMM_WORLD, &st);
				MPI_Send(out, N, MPI_INT, peer, tag,
				    MPI_COMM_WORLD);
			}
			break;
		case 1:
			MPI_Irecv(in, N, MPI_INT, peer, tag, MPI_COMM_WORLD,
			    &req[0]);
			MPI_Isend(out, N, MPI_INT, peer, tag, MPI_COMM_WORLD,
			    &req[1]);
			if (it % 2) {
				MPI_Waitall(2, req, MPI_STATUSES_IGNORE);
			} else {
				MPI_Wait(&req[0], MPI_STATUS_IGNORE);
				MPI_Wait(&req[1], MPI_STATUS_IGNORE);
			}
			st.MPI_SOURCE = peer;
			st.MPI_TAG = tag;
			break;
		default:
			MPI_Sendrecv(out, N, MPI_INT, peer, tag, in, N,
			    MPI_INT, peer, tag, MPI_COMM_WORLD, &st);
			break;
		}
		if (it >= ITERS) {
			MPI_Get_count(&st, MPI_INT, &count);
			if (count != N)
				terrs[t]++;
		}
		if (st.MPI_SOURCE != peer || st.MPI_TAG != tag)
			terrs[t]++;
		for (i = 0, bad = -1; i < N; i++)
			if (in[i] != v(peer, t, it, i) && bad < 0)
				bad = i;
		if (bad >= 0) {
			if (terrs[t]++ < 5)
				fprintf(stderr, "rank %d thread %d iteration "
				    "%d: int %d is %d, expected %d\n", rank,
				    t, it, bad, in[bad], v(peer, t, it, bad));
		}
		sum = fnv(sum, in, sizeof(in));
	}
	tsum[t] = sum;
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t th[NT];
	uint64_t sum = FNV_INIT;
	int provided, t, r;

	MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	ex_rank = rank;
	CHECK(provided == MPI_THREAD_MULTIPLE, "provided thread level %d",
	    provided);
	peer = (rank ^ 1) < size ? (rank ^ 1) : MPI_PROC_NULL;
	if (provided == MPI_THREAD_MULTIPLE && peer != MPI_PROC_NULL) {
		for (t = 0; t < NT; t++)
			if (pthread_create(&th[t], NULL, worker,
			    (void *)(intptr_t)t) != 0)
				MPI_Abort(MPI_COMM_WORLD, 2);
		for (t = 0; t < NT; t++) {
			pthread_join(th[t], NULL);
			CHECK(terrs[t] == 0, "thread %d: %d error(s)", t,
			    terrs[t]);
			sum = fnv_u64(sum, tsum[t]);
		}
	}
	if (rank == 0)
		printf("threads: MPI_THREAD_MULTIPLE, %d threads x %d "
		    "exchanges per rank pair, %d pair(s)\n", NT,
		    ITERS + BLOCKING, size / 2);
	r = ex_finish("threads", sum);
	MPI_Finalize();
	return r;
}
