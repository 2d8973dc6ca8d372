/* SPDX-License-Identifier: Apache-2.0 */
/* Wildcard receives on rank 0 from every other rank: MPI_ANY_SOURCE with a
 * given tag (tags received in another order than sent), MPI_ANY_TAG from a
 * given source, both wildcards (the non-overtaking order per sender is
 * checked), and Irecv(ANY_SOURCE, ANY_TAG) completed by Waitany. */
#include "example_util.h"

#define MAXR 64
#define MAXLEN 64

/* Message from src with tag: len ints, [src, tag, ...]. */
static int
mlen(int src, int tag)
{
	return 2 + (src * 7 + tag) % 23;
}

static void
fill(int *b, int src, int tag)
{
	int i, n = mlen(src, tag);

	b[0] = src;
	b[1] = tag;
	for (i = 2; i < n; i++)
		b[i] = src * 10000 + tag * 100 + i;
}

/* Check a received message against its status; return its hash. */
static uint64_t
check(const int *b, const MPI_Status *st, int want_tag)
{
	int i, n, src = st->MPI_SOURCE, tag = st->MPI_TAG;

	MPI_Get_count(st, MPI_INT, &n);
	if (want_tag >= 0)
		CHECK(tag == want_tag, "status tag %d, asked for %d", tag,
		    want_tag);
	CHECK(n == mlen(src, tag), "from %d tag %d: count %d, expected %d",
	    src, tag, n, mlen(src, tag));
	CHECK(b[0] == src && b[1] == tag, "message [%d, %d] but status "
	    "says source %d tag %d", b[0], b[1], src, tag);
	for (i = 2; i < n && i < MAXLEN; i++)
		if (b[i] != src * 10000 + tag * 100 + i)
			break;
	CHECK(i >= n, "from %d tag %d: int %d wrong", src, tag, i);
	return fnv(fnv_u64(FNV_INIT, (uint64_t)src << 32 | (unsigned)tag),
	    b, (size_t)n * sizeof(int));
}

static const int sent_order[3] = { 30, 10, 20 };
static const int recv_order[3] = { 20, 10, 30 };

static void
sender(int rank)
{
	int bufs[6][MAXLEN], i;
	MPI_Request req[3];

	/* Phase 1: three tags, sent 30, 10, 20. */
	for (i = 0; i < 3; i++) {
		fill(bufs[i], rank, sent_order[i]);
		MPI_Isend(bufs[i], mlen(rank, sent_order[i]), MPI_INT, 0,
		    sent_order[i], MPI_COMM_WORLD, &req[i]);
	}
	MPI_Waitall(3, req, MPI_STATUSES_IGNORE);
	/* Phase 2: two tags in order, to ANY_SOURCE/ANY_TAG receives. */
	fill(bufs[3], rank, 50 + rank);
	MPI_Send(bufs[3], mlen(rank, 50 + rank), MPI_INT, 0, 50 + rank,
	    MPI_COMM_WORLD);
	fill(bufs[4], rank, 49);
	MPI_Send(bufs[4], mlen(rank, 49), MPI_INT, 0, 49, MPI_COMM_WORLD);
	/* Nothing else may be in flight for rank 0's double wildcards. */
	MPI_Barrier(MPI_COMM_WORLD);
	/* Phase 3: one message each, specific source, ANY_TAG. */
	fill(bufs[5], rank, 70 + rank);
	MPI_Send(bufs[5], mlen(rank, 70 + rank), MPI_INT, 0, 70 + rank,
	    MPI_COMM_WORLD);
	/* Phase 4: to Irecv(ANY_SOURCE, ANY_TAG) + Waitany. */
	fill(bufs[0], rank, 90);
	MPI_Send(bufs[0], mlen(rank, 90), MPI_INT, 0, 90, MPI_COMM_WORLD);
}

static uint64_t
receiver(int size)
{
	int buf[MAXLEN], bufs[MAXR][MAXLEN], seen[MAXR], i, k, t, idx;
	uint64_t h[MAXR][8], sum = FNV_INIT;
	MPI_Request req[MAXR];
	MPI_Status st;

	memset(h, 0, sizeof(h));
	/* Phase 1: by tag, out of the order sent, from any source. */
	for (t = 0; t < 3; t++) {
		memset(seen, 0, sizeof(seen));
		for (k = 1; k < size; k++) {
			MPI_Recv(buf, MAXLEN, MPI_INT, MPI_ANY_SOURCE,
			    recv_order[t], MPI_COMM_WORLD, &st);
			CHECK(st.MPI_SOURCE > 0 && st.MPI_SOURCE < size &&
			    !seen[st.MPI_SOURCE], "tag %d: source %d",
			    recv_order[t], st.MPI_SOURCE);
			seen[st.MPI_SOURCE & (MAXR - 1)] = 1;
			h[st.MPI_SOURCE & (MAXR - 1)][t] =
			    check(buf, &st, recv_order[t]);
		}
	}
	/* Phase 2: both wildcards; per sender, 50+src comes before 49. */
	memset(seen, 0, sizeof(seen));
	for (k = 1; k < 2 * size - 1; k++) {
		MPI_Recv(buf, MAXLEN, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG,
		    MPI_COMM_WORLD, &st);
		i = st.MPI_SOURCE & (MAXR - 1);
		CHECK(st.MPI_TAG == (seen[i] == 0 ? 50 + i : 49),
		    "from %d: tag %d as message %d (overtaken?)", i,
		    st.MPI_TAG, seen[i] + 1);
		h[i][3 + seen[i]] = check(buf, &st, -1);
		seen[i]++;
	}
	MPI_Barrier(MPI_COMM_WORLD);
	/* Phase 3: each source in turn, any tag. */
	for (i = 1; i < size; i++) {
		MPI_Recv(buf, MAXLEN, MPI_INT, i, MPI_ANY_TAG, MPI_COMM_WORLD,
		    &st);
		CHECK(st.MPI_SOURCE == i && st.MPI_TAG == 70 + i,
		    "source %d: status %d/%d", i, st.MPI_SOURCE, st.MPI_TAG);
		h[i][5] = check(buf, &st, -1);
	}
	/* Phase 4: nonblocking wildcard receives, completed by Waitany. */
	for (k = 0; k < size - 1; k++)
		MPI_Irecv(bufs[k], MAXLEN, MPI_INT, MPI_ANY_SOURCE,
		    MPI_ANY_TAG, MPI_COMM_WORLD, &req[k]);
	memset(seen, 0, sizeof(seen));
	for (k = 0; k < size - 1; k++) {
		MPI_Waitany(size - 1, req, &idx, &st);
		CHECK(idx >= 0 && idx < size - 1, "Waitany index %d", idx);
		if (idx < 0 || idx >= size - 1)
			break;
		CHECK(req[idx] == MPI_REQUEST_NULL, "Waitany left request");
		i = st.MPI_SOURCE & (MAXR - 1);
		CHECK(!seen[i] && st.MPI_TAG == 90, "Waitany: source %d tag "
		    "%d", i, st.MPI_TAG);
		seen[i] = 1;
		h[i][6] = check(bufs[idx], &st, 90);
	}
	MPI_Waitany(size - 1, req, &idx, &st);
	CHECK(idx == MPI_UNDEFINED, "Waitany with nothing left: %d", idx);
	/* Fold in by source, whatever the arrival order was. */
	for (i = 1; i < size && i < MAXR; i++)
		sum = fnv(sum, h[i], sizeof(h[i]));
	return sum;
}

int
main(int argc, char **argv)
{
	uint64_t sum = FNV_INIT;
	int rank, size, r;

	rank = ex_init(&argc, &argv, &size);
	CHECK(size >= 2 && size <= MAXR, "needs 2..%d ranks", MAXR);
	if (rank == 0)
		sum = receiver(size);
	else
		sender(rank);
	/* The reports below must not meet phase 4's wildcard receives. */
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0)
		printf("wildcard: rank 0 received from %d sender(s) with "
		    "ANY_SOURCE, ANY_TAG and both\n", size - 1);
	r = ex_finish("wildcard", sum);
	MPI_Finalize();
	return r;
}
