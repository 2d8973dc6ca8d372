/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blocking collectives, checked against values computed locally from
 * deterministic inputs: Bcast, Gather(v), Scatter(v), Allgather(v),
 * Alltoall(v), Reduce, Allreduce, Reduce_scatter(_block), Scan, Exscan;
 * block sizes 0, 1, 1000 and 300000 elements; MPI_INT and a strided
 * vector type (holes must stay untouched); MPI_IN_PLACE variants; a
 * user-defined non-commutative operation (2x2 matrix product) so rank
 * order matters; a split communicator; Alltoallw with mixed types;
 * neighbourhood collectives on a periodic ring, a 2-D grid with edges
 * and a dist-graph multigraph; an intercommunicator (MPI_ROOT roots,
 * Reduce_scatter(_block) with a sum and the matrix product);
 * 4 MiB per rank for Bcast, Allreduce and Reduce_scatter_block. Then
 * all of it again through the nonblocking forms (Ibcast, ...), each
 * completed by another Wait/Test call (Waitall mixing point-to-point),
 * and nonblocking collectives overlapping on two communicators. Rank 0 prints "<family>: ok" lines
 * and "coll_check: OK checksum N". With an argument, only broadcasts and
 * allgathers that string (a marker for wire captures).
 */
#include "example_util.h"

#define HOLE (-7777)
#define UNSET (-1)

static int rank, size;
static uint64_t sum = FNV_INIT;
static const int sizes[] = { 0, 1, 1000, 300000 };
#define NSIZES ((int)(sizeof(sizes) / sizeof(sizes[0])))

static MPI_Datatype vec;	/* 2 ints, stride 3: ints 0 and 3 of 4 */
static MPI_Datatype mat;	/* 2x2 matrix of ints */
static MPI_Op matmul;

/* Input element i of rank r (salt tells calls apart). */
static int
val(int r, long i, int salt)
{
	return (int)((r * 7919L + i * 13L + salt * 101L) % 1000L);
}

static int *
ints(size_t n, int fill)
{
	int *p = malloc((n ? n : 1) * sizeof(int));
	size_t i;

	if (p == NULL) {
		fprintf(stderr, "out of memory\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	for (i = 0; i < n; i++)
		p[i] = fill;
	return p;
}

static void
absorb(const void *p, size_t n)
{
	sum = fnv(sum, p, n);
}

/*
 * The second pass runs every collective through its nonblocking form,
 * completed by the next member of the Wait/Test family in turn; the
 * Waitall turn completes it together with a point-to-point exchange.
 */
static int nb, turn;
static MPI_Request nbreq;

#define COLL(name, iname, ...) (nb ?					\
	nb_done(MPI_##iname(__VA_ARGS__, &nbreq)) : MPI_##name(__VA_ARGS__))

static int
nb_done(int rc)
{
	MPI_Request rs[3];
	MPI_Status st[3];
	int flag = 0, idx, out, in = -1, msg = 4242 + rank;

	if (rc != MPI_SUCCESS)
		return rc;
	switch (turn++ % 9) {
	case 0:
		return MPI_Wait(&nbreq, MPI_STATUS_IGNORE);
	case 1:
		while (rc == MPI_SUCCESS && !flag)
			rc = MPI_Test(&nbreq, &flag, MPI_STATUS_IGNORE);
		return rc;
	case 2:
		/* Collective and point-to-point requests in one Waitall. */
		rs[0] = nbreq;
		MPI_Irecv(&in, 1, MPI_INT, (rank + size - 1) % size, 77,
		    MPI_COMM_WORLD, &rs[1]);
		MPI_Isend(&msg, 1, MPI_INT, (rank + 1) % size, 77,
		    MPI_COMM_WORLD, &rs[2]);
		rc = MPI_Waitall(3, rs, st);
		CHECK(in == 4242 + (rank + size - 1) % size,
		    "p2p beside a collective in Waitall: got %d", in);
		return rc;
	case 3:
		return MPI_Waitany(1, &nbreq, &idx, MPI_STATUS_IGNORE);
	case 4:
		return MPI_Waitsome(1, &nbreq, &out, &idx,
		    MPI_STATUSES_IGNORE);
	case 5:
		while (rc == MPI_SUCCESS && !flag)
			rc = MPI_Testall(1, &nbreq, &flag,
			    MPI_STATUSES_IGNORE);
		return rc;
	case 6:
		while (rc == MPI_SUCCESS && !flag)
			rc = MPI_Testany(1, &nbreq, &idx, &flag,
			    MPI_STATUS_IGNORE);
		return rc;
	case 7:
		for (out = 0; rc == MPI_SUCCESS && out == 0;)
			rc = MPI_Testsome(1, &nbreq, &out, &idx,
			    MPI_STATUSES_IGNORE);
		return rc;
	default:
		/* Complete but not freed: the data must be there already. */
		while (rc == MPI_SUCCESS && !flag)
			rc = MPI_Request_get_status(nbreq, &flag,
			    MPI_STATUS_IGNORE);
		return rc != MPI_SUCCESS ? rc : MPI_Wait(&nbreq,
		    MPI_STATUS_IGNORE);
	}
}

/* Report a family: every rank's failures counted (an Allreduce too). */
static void
family(const char *name, int errs_before)
{
	int mine = ex_errs - errs_before, all = 0;

	MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (rank == 0) {
		printf("%s%s: %s\n", nb ? "i" : "", name, all ? "FAILED" :
		    "ok");
		fflush(stdout);
	}
}

/* ---- vec: element k covers ints 4k and 4k+3; 4k+1, 4k+2 are holes */

static int *
vec_buf(long n, int r, int salt, int set)
{
	int *p = ints((size_t)n * 4, HOLE);
	long k;

	if (set)
		for (k = 0; k < n; k++) {
			p[4 * k] = val(r, 2 * k, salt);
			p[4 * k + 3] = val(r, 2 * k + 1, salt);
		}
	return p;
}

static void
vec_check(const char *what, const int *p, long n, int r, int salt)
{
	long k;
	int bad = 0;

	for (k = 0; k < n && bad < 3; k++) {
		if (p[4 * k] != val(r, 2 * k, salt) ||
		    p[4 * k + 3] != val(r, 2 * k + 1, salt) ||
		    p[4 * k + 1] != HOLE || p[4 * k + 2] != HOLE) {
			CHECK(0, "%s: vec element %ld from rank %d wrong", what,
			    k, r);
			bad++;
		}
	}
}

static void
int_check(const char *what, const int *p, long n, int r, int salt)
{
	long i;

	for (i = 0; i < n; i++)
		if (p[i] != val(r, i, salt)) {
			CHECK(0, "%s: element %ld from rank %d is %d, want %d",
			    what, i, r, p[i], val(r, i, salt));
			return;
		}
}

/* ---- the matrix product, non-commutative; unsigned wrap-around */

static void
mat_mul(const int *a, const int *b, int *out)
{
	unsigned x[4], y[4];
	int i;

	for (i = 0; i < 4; i++) {
		x[i] = (unsigned)a[i];
		y[i] = (unsigned)b[i];
	}
	out[0] = (int)(x[0] * y[0] + x[1] * y[2]);
	out[1] = (int)(x[0] * y[1] + x[1] * y[3]);
	out[2] = (int)(x[2] * y[0] + x[3] * y[2]);
	out[3] = (int)(x[2] * y[1] + x[3] * y[3]);
}

/* An operation that leaves inout as it is. */
static void
keep_fn(void *in, void *inout, int *len, MPI_Datatype *dt)
{
	(void)in, (void)inout, (void)len, (void)dt;
}

/* inout[k] = in[k] * inout[k] */
static void
matmul_fn(void *in, void *inout, int *len, MPI_Datatype *dt)
{
	int k, t[4];

	(void)dt;
	for (k = 0; k < *len; k++) {
		mat_mul((int *)in + 4 * k, (int *)inout + 4 * k, t);
		memcpy((int *)inout + 4 * k, t, sizeof(t));
	}
}

static void
mat_val(int r, long k, int salt, int *m)
{
	m[0] = 1 + (int)((r + k + salt) % 3);
	m[1] = r + 1;
	m[2] = (int)(k % 5);
	m[3] = 1 + (int)((k + salt) % 2);
}

static int *
mat_buf(long n, int r, int salt)
{
	int *p = ints((size_t)n * 4, 0);
	long k;

	for (k = 0; k < n; k++)
		mat_val(r, k, salt, p + 4 * k);
	return p;
}

/* Element k of a[lo] * ... * a[hi] over ranks, local computation. */
static void
mat_expect(int lo, int hi, long k, int salt, int *out)
{
	int m[4], t[4], r;

	out[0] = 1, out[1] = 0, out[2] = 0, out[3] = 1;
	for (r = lo; r <= hi; r++) {
		mat_val(r, k, salt, m);
		mat_mul(out, m, t);
		memcpy(out, t, sizeof(t));
	}
}

static void
mat_check(const char *what, const int *p, long n, int lo, int hi, int salt)
{
	int e[4];
	long k;

	for (k = 0; k < n; k++) {
		mat_expect(lo, hi, k, salt, e);
		if (memcmp(e, p + 4 * k, sizeof(e)) != 0) {
			CHECK(0, "%s: matrix %ld of ranks %d..%d wrong", what,
			    k, lo, hi);
			return;
		}
	}
}

/* Sum over ranks lo..hi of val(r, i, salt). */
static int
sum_expect(int lo, int hi, long i, int salt)
{
	int r, s = 0;

	for (r = lo; r <= hi; r++)
		s += val(r, i, salt);
	return s;
}

static void
sum_check(const char *what, const int *p, long n, int lo, int hi, int salt)
{
	long i;

	for (i = 0; i < n; i++)
		if (p[i] != sum_expect(lo, hi, i, salt)) {
			CHECK(0, "%s: element %ld is %d, want %d", what, i,
			    p[i], sum_expect(lo, hi, i, salt));
			return;
		}
}

/* ------------------------------------------------------------------ */

static void
test_bcast(void)
{
	int e0 = ex_errs, s, n, root, *b;

	for (s = 0; s < NSIZES; s++) {
		n = sizes[s];
		root = s % size;
		b = ints((size_t)n, UNSET);
		if (rank == root)
			for (int i = 0; i < n; i++)
				b[i] = val(root, i, s);
		MPI_OK(COLL(Bcast, Ibcast, b, n, MPI_INT, root, MPI_COMM_WORLD));
		int_check("bcast", b, n, root, s);
		absorb(b, (size_t)n * sizeof(int));
		free(b);

		b = vec_buf(n, root, 10 + s, rank == root);
		MPI_OK(COLL(Bcast, Ibcast, b, n, vec, root, MPI_COMM_WORLD));
		vec_check("bcast vec", b, n, root, 10 + s);
		absorb(b, (size_t)n * 4 * sizeof(int));
		free(b);
	}
	family("bcast", e0);
}

static void
test_gather(void)
{
	int e0 = ex_errs, s, n, r, root, *sb, *rb;

	for (s = 0; s < NSIZES; s++) {
		n = sizes[s];
		root = (s + 1) % size;
		sb = ints((size_t)n, 0);
		for (int i = 0; i < n; i++)
			sb[i] = val(rank, i, s);
		rb = ints((size_t)n * size, UNSET);
		MPI_OK(COLL(Gather, Igather, sb, n, MPI_INT, rb, n, MPI_INT, root,
		    MPI_COMM_WORLD));
		if (rank == root) {
			for (r = 0; r < size; r++)
				int_check("gather", rb + (size_t)r * n, n, r, s);
			absorb(rb, (size_t)n * size * sizeof(int));
		}
		/* In place at root. */
		for (int i = 0; rank == root && i < n * size; i++)
			rb[i] = i / (n ? n : 1) == root ?
			    val(root, i % n, s) : UNSET;
		MPI_OK(COLL(Gather, Igather, rank == root ? MPI_IN_PLACE : sb, n,
		    MPI_INT, rb, n, MPI_INT, root, MPI_COMM_WORLD));
		for (r = 0; rank == root && r < size; r++)
			int_check("gather in place", rb + (size_t)r * n, n, r,
			    s);
		free(rb);
		free(sb);

		/* Vector type on the receiving side, ints sent. */
		if (n <= 1000) {
			sb = ints((size_t)n * 2, 0);
			for (int i = 0; i < 2 * n; i++)
				sb[i] = val(rank, i, 20 + s);
			rb = ints((size_t)n * 4 * size, HOLE);
			MPI_OK(COLL(Gather, Igather, sb, 2 * n, MPI_INT, rb, n, vec,
			    root, MPI_COMM_WORLD));
			for (r = 0; rank == root && r < size; r++)
				vec_check("gather vec", rb + (size_t)r * n * 4,
				    n, r, 20 + s);
			free(rb);
			free(sb);
		}

		/* Gatherv: rank r sends n + r ints, placed in reverse order
		 * with a gap of 3 between blocks. */
		int *cnt = ints((size_t)size, 0), *dsp = ints((size_t)size, 0);
		int tot = 0;
		for (r = size - 1; r >= 0; r--) {
			cnt[r] = n ? n + r : 0;
			dsp[r] = tot;
			tot += cnt[r] + 3;
		}
		sb = ints((size_t)cnt[rank], 0);
		for (int i = 0; i < cnt[rank]; i++)
			sb[i] = val(rank, i, 30 + s);
		rb = ints((size_t)tot, HOLE);
		MPI_OK(COLL(Gatherv, Igatherv, sb, cnt[rank], MPI_INT, rb, cnt, dsp,
		    MPI_INT, root, MPI_COMM_WORLD));
		if (rank == root) {
			for (r = 0; r < size; r++) {
				int_check("gatherv", rb + dsp[r], cnt[r], r,
				    30 + s);
				CHECK(rb[dsp[r] + cnt[r]] == HOLE,
				    "gatherv: gap after block %d", r);
			}
			absorb(rb, (size_t)tot * sizeof(int));
		}
		/* In place at root. */
		if (rank == root) {
			for (int i = 0; i < tot; i++)
				rb[i] = HOLE;
			memcpy(rb + dsp[root], sb, cnt[root] * sizeof(int));
		}
		/* (counts and displacements matter at the root only: the
		 * others pass NULL, as mpi4py does) */
		MPI_OK(COLL(Gatherv, Igatherv, rank == root ? MPI_IN_PLACE : sb,
		    cnt[rank], MPI_INT, rb, rank == root ? cnt : NULL,
		    rank == root ? dsp : NULL, MPI_INT, root, MPI_COMM_WORLD));
		for (r = 0; rank == root && r < size; r++)
			int_check("gatherv in place", rb + dsp[r], cnt[r], r,
			    30 + s);
		free(rb);
		free(sb);
		free(cnt);
		free(dsp);
	}
	family("gather", e0);
}

static void
test_scatter(void)
{
	int e0 = ex_errs, s, n, r, root, *sb = NULL, *rb;

	for (s = 0; s < NSIZES; s++) {
		n = sizes[s];
		root = (s + 2) % size;
		sb = ints((size_t)n * size, 0);
		for (r = 0; rank == root && r < size; r++)
			for (int i = 0; i < n; i++)
				sb[(size_t)r * n + i] = val(r, i, 40 + s);
		rb = ints((size_t)n, UNSET);
		MPI_OK(COLL(Scatter, Iscatter, sb, n, MPI_INT, rb, n, MPI_INT, root,
		    MPI_COMM_WORLD));
		int_check("scatter", rb, n, rank, 40 + s);
		absorb(rb, (size_t)n * sizeof(int));
		/* In place at root: root's block stays in sendbuf. */
		for (int i = 0; i < n; i++)
			rb[i] = UNSET;
		MPI_OK(COLL(Scatter, Iscatter, sb, n, MPI_INT,
		    rank == root ? MPI_IN_PLACE : rb, n, MPI_INT, root,
		    MPI_COMM_WORLD));
		int_check("scatter in place",
		    rank == root ? sb + (size_t)root * n : rb, n, rank,
		    40 + s);
		free(rb);
		free(sb);

		/* Vector type on the sending side. */
		if (n <= 1000) {
			sb = ints((size_t)n * 4 * size, HOLE);
			for (r = 0; rank == root && r < size; r++)
				for (long k = 0; k < n; k++) {
					sb[((size_t)r * n + k) * 4] =
					    val(r, 2 * k, 50 + s);
					sb[((size_t)r * n + k) * 4 + 3] =
					    val(r, 2 * k + 1, 50 + s);
				}
			rb = ints((size_t)n * 2, UNSET);
			MPI_OK(COLL(Scatter, Iscatter, sb, n, vec, rb, 2 * n, MPI_INT,
			    root, MPI_COMM_WORLD));
			int_check("scatter vec", rb, 2 * n, rank, 50 + s);
			free(rb);
			free(sb);
		}

		/* Scatterv: rank r gets n + 2r ints from reversed blocks. */
		int *cnt = ints((size_t)size, 0), *dsp = ints((size_t)size, 0);
		int tot = 0;
		for (r = size - 1; r >= 0; r--) {
			cnt[r] = n ? n + 2 * r : 0;
			dsp[r] = tot;
			tot += cnt[r] + 1;
		}
		sb = ints((size_t)tot, HOLE);
		for (r = 0; rank == root && r < size; r++)
			for (int i = 0; i < cnt[r]; i++)
				sb[dsp[r] + i] = val(r, i, 60 + s);
		rb = ints((size_t)cnt[rank] + 1, HOLE);
		MPI_OK(COLL(Scatterv, Iscatterv, sb, cnt, dsp, MPI_INT, rb, cnt[rank],
		    MPI_INT, root, MPI_COMM_WORLD));
		int_check("scatterv", rb, cnt[rank], rank, 60 + s);
		CHECK(rb[cnt[rank]] == HOLE, "scatterv: wrote past block");
		absorb(rb, (size_t)cnt[rank] * sizeof(int));
		MPI_OK(COLL(Scatterv, Iscatterv, sb, rank == root ? cnt : NULL,
		    rank == root ? dsp : NULL, MPI_INT,
		    rank == root ? MPI_IN_PLACE : rb, cnt[rank], MPI_INT,
		    root, MPI_COMM_WORLD));
		int_check("scatterv in place", rank == root ? sb + dsp[root] :
		    rb, cnt[rank], rank, 60 + s);
		free(rb);
		free(sb);
		free(cnt);
		free(dsp);
	}
	family("scatter", e0);
}

static void
test_allgather(void)
{
	int e0 = ex_errs, s, n, r, *sb, *rb;

	for (s = 0; s < NSIZES; s++) {
		n = sizes[s];
		sb = ints((size_t)n, 0);
		for (int i = 0; i < n; i++)
			sb[i] = val(rank, i, 70 + s);
		rb = ints((size_t)n * size, UNSET);
		MPI_OK(COLL(Allgather, Iallgather, sb, n, MPI_INT, rb, n, MPI_INT,
		    MPI_COMM_WORLD));
		for (r = 0; r < size; r++)
			int_check("allgather", rb + (size_t)r * n, n, r, 70 + s);
		absorb(rb, (size_t)n * size * sizeof(int));
		for (int i = 0; i < n * size; i++)
			rb[i] = i / (n ? n : 1) == rank ? sb[i % n] : UNSET;
		MPI_OK(COLL(Allgather, Iallgather, MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, rb, n,
		    MPI_INT, MPI_COMM_WORLD));
		for (r = 0; r < size; r++)
			int_check("allgather in place", rb + (size_t)r * n, n,
			    r, 70 + s);
		free(rb);
		free(sb);

		/* Vector type on both sides. */
		if (n <= 1000) {
			sb = vec_buf(n, rank, 80 + s, 1);
			rb = ints((size_t)n * 4 * size, HOLE);
			MPI_OK(COLL(Allgather, Iallgather, sb, n, vec, rb, n, vec,
			    MPI_COMM_WORLD));
			for (r = 0; r < size; r++)
				vec_check("allgather vec", rb + (size_t)r * n *
				    4, n, r, 80 + s);
			absorb(rb, (size_t)n * 4 * size * sizeof(int));
			free(rb);
			free(sb);
		}

		/* Allgatherv, rank r contributes n + r ints (0 if n == 0). */
		int *cnt = ints((size_t)size, 0), *dsp = ints((size_t)size, 0);
		int tot = 0;
		for (r = 0; r < size; r++) {
			cnt[r] = n ? n + r : 0;
			dsp[r] = tot;
			tot += cnt[r] + 2;
		}
		sb = ints((size_t)cnt[rank], 0);
		for (int i = 0; i < cnt[rank]; i++)
			sb[i] = val(rank, i, 90 + s);
		rb = ints((size_t)tot, HOLE);
		MPI_OK(COLL(Allgatherv, Iallgatherv, sb, cnt[rank], MPI_INT, rb, cnt, dsp,
		    MPI_INT, MPI_COMM_WORLD));
		for (r = 0; r < size; r++) {
			int_check("allgatherv", rb + dsp[r], cnt[r], r, 90 + s);
			CHECK(rb[dsp[r] + cnt[r]] == HOLE,
			    "allgatherv: gap after block %d", r);
		}
		absorb(rb, (size_t)tot * sizeof(int));
		for (int i = 0; i < tot; i++)
			rb[i] = HOLE;
		memcpy(rb + dsp[rank], sb, cnt[rank] * sizeof(int));
		MPI_OK(COLL(Allgatherv, Iallgatherv, MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, rb,
		    cnt, dsp, MPI_INT, MPI_COMM_WORLD));
		for (r = 0; r < size; r++)
			int_check("allgatherv in place", rb + dsp[r], cnt[r], r,
			    90 + s);
		free(rb);
		free(sb);
		free(cnt);
		free(dsp);
	}
	family("allgather", e0);
}

/* Element i of the block rank `from` sends to rank `to`. */
static int
a2a_val(int from, int to, long i, int salt)
{
	return val(from, i + to * 17L, salt);
}

static void
a2a_check(const char *what, const int *p, long n, int from, int salt)
{
	long i;

	for (i = 0; i < n; i++)
		if (p[i] != a2a_val(from, rank, i, salt)) {
			CHECK(0, "%s: element %ld from rank %d wrong", what, i,
			    from);
			return;
		}
}

static void
test_alltoall(void)
{
	int e0 = ex_errs, s, n, r, *sb, *rb;

	for (s = 0; s < NSIZES; s++) {
		/* 300000 per block would be 2.4M ints per rank at 8 ranks. */
		n = sizes[s] > 1000 ? sizes[s] / size : sizes[s];
		sb = ints((size_t)n * size, 0);
		for (r = 0; r < size; r++)
			for (int i = 0; i < n; i++)
				sb[(size_t)r * n + i] = a2a_val(rank, r, i,
				    100 + s);
		rb = ints((size_t)n * size, UNSET);
		MPI_OK(COLL(Alltoall, Ialltoall, sb, n, MPI_INT, rb, n, MPI_INT,
		    MPI_COMM_WORLD));
		for (r = 0; r < size; r++)
			a2a_check("alltoall", rb + (size_t)r * n, n, r, 100 + s);
		absorb(rb, (size_t)n * size * sizeof(int));
		MPI_OK(COLL(Alltoall, Ialltoall, MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, sb, n,
		    MPI_INT, MPI_COMM_WORLD));
		for (r = 0; r < size; r++)
			a2a_check("alltoall in place", sb + (size_t)r * n, n,
			    r, 100 + s);
		free(rb);
		free(sb);

		/* Vector type received, ints sent. */
		if (n <= 1000) {
			sb = ints((size_t)n * 2 * size, 0);
			for (r = 0; r < size; r++)
				for (int i = 0; i < 2 * n; i++)
					sb[(size_t)r * 2 * n + i] =
					    a2a_val(rank, r, i, 110 + s);
			rb = ints((size_t)n * 4 * size, HOLE);
			MPI_OK(COLL(Alltoall, Ialltoall, sb, 2 * n, MPI_INT, rb, n, vec,
			    MPI_COMM_WORLD));
			for (r = 0; r < size; r++)
				for (long k = 0; k < n; k++) {
					int *e = rb + ((size_t)r * n + k) * 4;

					CHECK(e[0] == a2a_val(r, rank, 2 * k,
					    110 + s) && e[3] == a2a_val(r,
					    rank, 2 * k + 1, 110 + s) &&
					    e[1] == HOLE && e[2] == HOLE,
					    "alltoall vec: rank %d elem %ld",
					    r, k);
				}
			free(rb);
			free(sb);
		}

		/* Alltoallv: rank a sends n + a + 2b ints to rank b, blocks
		 * stored in reverse order with gaps. */
		int *sc = ints((size_t)size, 0), *sd = ints((size_t)size, 0);
		int *rc = ints((size_t)size, 0), *rd = ints((size_t)size, 0);
		int stot = 0, rtot = 0;
		for (r = size - 1; r >= 0; r--) {
			sc[r] = n ? n + rank + 2 * r : 0;
			sd[r] = stot;
			stot += sc[r] + 1;
			rc[r] = n ? n + r + 2 * rank : 0;
			rd[r] = rtot;
			rtot += rc[r] + 2;
		}
		sb = ints((size_t)stot, HOLE);
		for (r = 0; r < size; r++)
			for (int i = 0; i < sc[r]; i++)
				sb[sd[r] + i] = a2a_val(rank, r, i, 120 + s);
		rb = ints((size_t)rtot, HOLE);
		MPI_OK(COLL(Alltoallv, Ialltoallv, sb, sc, sd, MPI_INT, rb, rc, rd, MPI_INT,
		    MPI_COMM_WORLD));
		for (r = 0; r < size; r++) {
			a2a_check("alltoallv", rb + rd[r], rc[r], r, 120 + s);
			CHECK(rb[rd[r] + rc[r]] == HOLE,
			    "alltoallv: gap after block %d", r);
		}
		absorb(rb, (size_t)rtot * sizeof(int));
		free(sb);
		/* In place: the send layout is the receive layout; the
		 * blocks must be symmetric (rank a sends b what b sends a):
		 * n + a + b ints. */
		for (r = 0, rtot = 0; r < size; r++) {
			rc[r] = n ? n + r + rank : 0;
			rd[r] = rtot;
			rtot += rc[r] + 1;
		}
		free(rb);
		rb = ints((size_t)rtot, HOLE);
		for (r = 0; r < size; r++)
			for (int i = 0; i < rc[r]; i++)
				rb[rd[r] + i] = a2a_val(rank, r, i, 130 + s);
		MPI_OK(COLL(Alltoallv, Ialltoallv, MPI_IN_PLACE, NULL, NULL,
		    MPI_DATATYPE_NULL, rb, rc, rd, MPI_INT, MPI_COMM_WORLD));
		for (r = 0; r < size; r++)
			a2a_check("alltoallv in place", rb + rd[r], rc[r], r,
			    130 + s);
		free(rb);
		free(sc);
		free(sd);
		free(rc);
		free(rd);
	}
	family("alltoall", e0);
}

static void
test_reduce(void)
{
	int e0 = ex_errs, s, n, root, *sb, *rb;

	for (s = 0; s < NSIZES; s++) {
		n = sizes[s];
		root = (s + 3) % size;
		sb = ints((size_t)n, 0);
		for (int i = 0; i < n; i++)
			sb[i] = val(rank, i, 140 + s);
		rb = ints((size_t)n, UNSET);
		MPI_OK(COLL(Reduce, Ireduce, sb, rb, n, MPI_INT, MPI_SUM, root,
		    MPI_COMM_WORLD));
		if (rank == root) {
			sum_check("reduce sum", rb, n, 0, size - 1, 140 + s);
			absorb(rb, (size_t)n * sizeof(int));
			memcpy(rb, sb, (size_t)n * sizeof(int));
		}
		MPI_OK(COLL(Reduce, Ireduce, rank == root ? MPI_IN_PLACE : sb, rb, n,
		    MPI_INT, MPI_SUM, root, MPI_COMM_WORLD));
		if (rank == root)
			sum_check("reduce in place", rb, n, 0, size - 1,
			    140 + s);
		free(rb);
		free(sb);

		/* Non-commutative user op; matrices are 4 ints each. */
		long m = n > 1000 ? n / 4 : n;
		sb = mat_buf(m, rank, s);
		rb = ints((size_t)m * 4, UNSET);
		MPI_OK(COLL(Reduce, Ireduce, sb, rb, (int)m, mat, matmul, root,
		    MPI_COMM_WORLD));
		if (rank == root) {
			mat_check("reduce matmul", rb, m, 0, size - 1, s);
			absorb(rb, (size_t)m * 4 * sizeof(int));
		}
		free(rb);
		free(sb);
	}
	family("reduce", e0);
}

static void
test_allreduce(void)
{
	int e0 = ex_errs, s, n, *sb, *rb;

	for (s = 0; s < NSIZES; s++) {
		n = sizes[s];
		sb = ints((size_t)n, 0);
		for (int i = 0; i < n; i++)
			sb[i] = val(rank, i, 150 + s);
		rb = ints((size_t)n, UNSET);
		MPI_OK(COLL(Allreduce, Iallreduce, sb, rb, n, MPI_INT, MPI_SUM,
		    MPI_COMM_WORLD));
		sum_check("allreduce sum", rb, n, 0, size - 1, 150 + s);
		absorb(rb, (size_t)n * sizeof(int));
		memcpy(rb, sb, (size_t)n * sizeof(int));
		MPI_OK(COLL(Allreduce, Iallreduce, MPI_IN_PLACE, rb, n, MPI_INT, MPI_MAX,
		    MPI_COMM_WORLD));
		for (int i = 0; i < n; i++) {
			int mx = val(0, i, 150 + s);
			for (int r = 1; r < size; r++)
				if (val(r, i, 150 + s) > mx)
					mx = val(r, i, 150 + s);
			if (rb[i] != mx) {
				CHECK(0, "allreduce max in place: element %d",
				    i);
				break;
			}
		}
		free(rb);
		free(sb);

		long m = n > 1000 ? n / 4 : n;
		sb = mat_buf(m, rank, 1 + s);
		rb = ints((size_t)m * 4, UNSET);
		MPI_OK(COLL(Allreduce, Iallreduce, sb, rb, (int)m, mat, matmul,
		    MPI_COMM_WORLD));
		mat_check("allreduce matmul", rb, m, 0, size - 1, 1 + s);
		absorb(rb, (size_t)m * 4 * sizeof(int));
		MPI_OK(COLL(Allreduce, Iallreduce, MPI_IN_PLACE, sb, (int)m, mat, matmul,
		    MPI_COMM_WORLD));
		mat_check("allreduce matmul in place", sb, m, 0, size - 1,
		    1 + s);
		free(rb);
		free(sb);
	}
	family("allreduce", e0);
}

static void
test_reduce_scatter(void)
{
	int e0 = ex_errs, s, n, r, *sb, *rb, *cnt;
	long off;

	for (s = 0; s < NSIZES; s++) {
		n = sizes[s] > 1000 ? sizes[s] / size : sizes[s];
		/* Block: rank r gets n ints of the n * size vector. */
		sb = ints((size_t)n * size, 0);
		for (int i = 0; i < n * size; i++)
			sb[i] = val(rank, i, 160 + s);
		rb = ints((size_t)n, UNSET);
		MPI_OK(COLL(Reduce_scatter_block, Ireduce_scatter_block, sb, rb, n, MPI_INT, MPI_SUM,
		    MPI_COMM_WORLD));
		for (int i = 0; i < n; i++)
			if (rb[i] != sum_expect(0, size - 1,
			    (long)rank * n + i, 160 + s)) {
				CHECK(0, "reduce_scatter_block: element %d", i);
				break;
			}
		absorb(rb, (size_t)n * sizeof(int));
		MPI_OK(COLL(Reduce_scatter_block, Ireduce_scatter_block, MPI_IN_PLACE, sb, n, MPI_INT,
		    MPI_SUM, MPI_COMM_WORLD));
		for (int i = 0; i < n; i++)
			if (sb[i] != sum_expect(0, size - 1,
			    (long)rank * n + i, 160 + s)) {
				CHECK(0, "reduce_scatter_block in place: "
				    "element %d", i);
				break;
			}
		free(rb);
		free(sb);

		/* Varying counts, matrices: rank r gets (n ? n + r : 0). */
		long m = n > 1000 ? n / 4 : n, tot = 0;
		cnt = ints((size_t)size, 0);
		for (r = 0; r < size; r++) {
			cnt[r] = m ? (int)m + r : 0;
			tot += cnt[r];
		}
		sb = mat_buf(tot, rank, 2 + s);
		rb = ints((size_t)cnt[rank] * 4, UNSET);
		MPI_OK(COLL(Reduce_scatter, Ireduce_scatter, sb, rb, cnt, mat, matmul,
		    MPI_COMM_WORLD));
		for (r = 0, off = 0; r < rank; r++)
			off += cnt[r];
		for (long k = 0; k < cnt[rank]; k++) {
			int e[4];

			mat_expect(0, size - 1, off + k, 2 + s, e);
			if (memcmp(e, rb + 4 * k, sizeof(e))) {
				CHECK(0, "reduce_scatter matmul: matrix %ld",
				    k);
				break;
			}
		}
		absorb(rb, (size_t)cnt[rank] * 4 * sizeof(int));
		MPI_OK(COLL(Reduce_scatter, Ireduce_scatter, MPI_IN_PLACE, sb, cnt, mat, matmul,
		    MPI_COMM_WORLD));
		for (long k = 0; k < cnt[rank]; k++) {
			int e[4];

			mat_expect(0, size - 1, off + k, 2 + s, e);
			if (memcmp(e, sb + 4 * k, sizeof(e))) {
				CHECK(0, "reduce_scatter in place: matrix %ld",
				    k);
				break;
			}
		}
		free(rb);
		free(sb);
		free(cnt);
	}
	family("reduce_scatter", e0);
}

static void
test_scan(void)
{
	int e0 = ex_errs, s, n, *sb, *rb;

	for (s = 0; s < NSIZES; s++) {
		n = sizes[s];
		sb = ints((size_t)n, 0);
		for (int i = 0; i < n; i++)
			sb[i] = val(rank, i, 170 + s);
		rb = ints((size_t)n, UNSET);
		MPI_OK(COLL(Scan, Iscan, sb, rb, n, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
		sum_check("scan sum", rb, n, 0, rank, 170 + s);
		absorb(rb, (size_t)n * sizeof(int));
		MPI_OK(COLL(Exscan, Iexscan, sb, rb, n, MPI_INT, MPI_SUM,
		    MPI_COMM_WORLD));
		/* Rank 0's result is undefined. */
		if (rank > 0) {
			sum_check("exscan sum", rb, n, 0, rank - 1, 170 + s);
			absorb(rb, (size_t)n * sizeof(int));
		}
		memcpy(rb, sb, (size_t)n * sizeof(int));
		MPI_OK(COLL(Scan, Iscan, MPI_IN_PLACE, rb, n, MPI_INT, MPI_SUM,
		    MPI_COMM_WORLD));
		sum_check("scan in place", rb, n, 0, rank, 170 + s);
		free(rb);
		free(sb);

		long m = n > 1000 ? n / 4 : n;
		sb = mat_buf(m, rank, 3 + s);
		rb = ints((size_t)m * 4, UNSET);
		MPI_OK(COLL(Scan, Iscan, sb, rb, (int)m, mat, matmul, MPI_COMM_WORLD));
		mat_check("scan matmul", rb, m, 0, rank, 3 + s);
		absorb(rb, (size_t)m * 4 * sizeof(int));
		MPI_OK(COLL(Exscan, Iexscan, MPI_IN_PLACE, sb, (int)m, mat, matmul,
		    MPI_COMM_WORLD));
		if (rank > 0) {
			mat_check("exscan matmul in place", sb, m, 0, rank - 1,
			    3 + s);
			absorb(sb, (size_t)m * 4 * sizeof(int));
		}
		free(rb);
		free(sb);
	}
	family("scan", e0);
}

/*
 * Wire check (coll_check MARKER): rank 0 broadcasts MARKER repeated, every
 * rank allgathers it back; with esmpi the marker never crosses in clear.
 */
static int
marker_mode(const char *marker)
{
	size_t ml = strlen(marker), i;
	int reps = 64, n = (int)(ml * reps);
	char *b = calloc((size_t)n + 1, 1), *all;

	all = calloc((size_t)n * size + 1, 1);
	if (b == NULL || all == NULL)
		MPI_Abort(MPI_COMM_WORLD, 2);
	if (rank == 0)
		for (i = 0; i < (size_t)reps; i++)
			memcpy(b + i * ml, marker, ml);
	/* Blocking, then nonblocking forms: the marker must never cross in
	 * clear under esmpi. */
	for (nb = 0; nb < 2; nb++) {
		char *red = calloc((size_t)n + 1, 1);

		if (red == NULL)
			MPI_Abort(MPI_COMM_WORLD, 2);
		MPI_OK(COLL(Bcast, Ibcast, b, n, MPI_CHAR, 0, MPI_COMM_WORLD));
		CHECK(strncmp(b, marker, ml) == 0 && strncmp(b + n - ml,
		    marker, ml) == 0, "marker bcast");
		MPI_OK(COLL(Allgather, Iallgather, b, n, MPI_CHAR, all, n,
		    MPI_CHAR, MPI_COMM_WORLD));
		CHECK(memcmp(all + (size_t)n * (size - 1), b, (size_t)n) == 0,
		    "marker allgather");
		MPI_OK(COLL(Allreduce, Iallreduce, b, red, n, MPI_CHAR,
		    MPI_MAX, MPI_COMM_WORLD));
		CHECK(memcmp(red, b, (size_t)n) == 0, "marker allreduce");
		free(red);
	}
	nb = 0;
	if (rank == 0) {
		printf("coll_check: broadcast %.*s\n", (int)ml, b);
		fflush(stdout);
	}
	absorb(all, (size_t)n * size);
	free(b);
	free(all);
	return ex_finish("coll_check", sum);
}

/* Collectives on a split communicator (its own keys and sequence). */
static void
test_split(void)
{
	int e0 = ex_errs, sub, subsize, i, color = rank % 2;
	int b[64], sumv[64];
	MPI_Comm half;

	MPI_Comm_split(MPI_COMM_WORLD, color, -rank, &half);
	MPI_Comm_rank(half, &sub);
	MPI_Comm_size(half, &subsize);
	for (i = 0; i < 64; i++)
		b[i] = sub == 0 ? val(rank, i, 180) : UNSET;
	/* Sub rank 0 is the highest world rank of this color. */
	MPI_OK(COLL(Bcast, Ibcast, b, 64, MPI_INT, 0, half));
	{
		int top = size - 1;

		while (top % 2 != color)
			top--;
		int_check("split bcast", b, 64, top, 180);
	}
	for (i = 0; i < 64; i++)
		b[i] = val(rank, i, 181);
	MPI_OK(COLL(Allreduce, Iallreduce, b, sumv, 64, MPI_INT, MPI_SUM, half));
	for (i = 0; i < 64; i++) {
		int want = 0;

		for (int r = color; r < size; r += 2)
			want += val(r, i, 181);
		if (sumv[i] != want) {
			CHECK(0, "split allreduce: element %d", i);
			break;
		}
	}
	absorb(sumv, sizeof(sumv));
	MPI_Comm_free(&half);
	(void)subsize;
	family("split", e0);
}

/*
 * Alltoallw: to rank r, 2m ints; received as m vec elements when the
 * pair's sum is odd, else as 2m ints; byte displacements, blocks in
 * reverse rank order in the receive buffer.
 */
static void
test_alltoallw(void)
{
	int e0 = ex_errs, m, r, k;
	int *sc, *sd, *rc, *rd, *sb, *rb;
	MPI_Datatype *st, *rt;

	for (m = 0; m <= 2000; m += 1000) {
		sc = ints((size_t)size * 4, 0);
		sd = sc + size;
		rc = sc + 2 * size;
		rd = sc + 3 * size;
		st = malloc((size_t)size * 2 * sizeof(*st));
		rt = st + size;
		sb = ints((size_t)size * 2 * m, 0);
		rb = ints((size_t)size * 4 * m, HOLE);
		for (r = 0; r < size; r++) {
			int odd = (r + rank) % 2;

			sc[r] = 2 * m;
			sd[r] = (int)(r * 2 * m * sizeof(int));
			st[r] = MPI_INT;
			rc[r] = odd ? m : 2 * m;
			rt[r] = odd ? vec : MPI_INT;
			rd[r] = (int)((size - 1 - r) * 4 * m * sizeof(int));
			for (k = 0; k < 2 * m; k++)
				sb[(size_t)r * 2 * m + k] = a2a_val(rank, r, k,
				    190 + m);
		}
		MPI_OK(COLL(Alltoallw, Ialltoallw, sb, sc, sd, st, rb, rc, rd,
		    rt, MPI_COMM_WORLD));
		for (r = 0; r < size; r++) {
			int *p = rb + (size_t)(size - 1 - r) * 4 * m;

			for (k = 0; k < 2 * m; k++) {
				int got = (r + rank) % 2 ? p[(k / 2) * 4 +
				    (k % 2) * 3] : p[k];

				if (got != a2a_val(r, rank, k, 190 + m)) {
					CHECK(0, "alltoallw: rank %d elem %d",
					    r, k);
					break;
				}
			}
		}
		absorb(rb, (size_t)size * 4 * m * sizeof(int));
		free(rb);
		free(sb);
		free(st);
		free(sc);
	}
	family("alltoallw", e0);
}


/* Element i of the block rank r sends as its k-th neighbour block. */
static int
nbr_val(int r, int k, int i)
{
	return r * 1000000 + k * 1000 + i % 1000;
}

/*
 * Neighbourhood collectives on a topology: in-neighbour slot j must hold
 * data from src[j] (PROC_NULL slots untouched); the checksum, compared
 * with a run without esmpi, covers which block landed where.
 */
static void
nbr_round(MPI_Comm t, int nin, const int *src, int nout, int m)
{
	int *sb = ints((size_t)(nout + 1) * m, 0);
	int *rb = ints((size_t)(nin + 1) * m, UNSET);
	int *cnt = ints((size_t)(nin + nout + 2) * 2, 0), *dsp = cnt + nin +
	    nout + 2;
	int j, i;

	for (j = 0; j < nout; j++)
		for (i = 0; i < m; i++)
			sb[j * m + i] = nbr_val(rank, j, i);
	MPI_OK(COLL(Neighbor_alltoall, Ineighbor_alltoall, sb, m, MPI_INT,
	    rb, m, MPI_INT, t));
	for (j = 0; j < nin; j++)
		CHECK(src[j] == MPI_PROC_NULL ? rb[j * m] == UNSET || m == 0 :
		    m == 0 || rb[j * m] / 1000000 == src[j],
		    "neighbor alltoall: slot %d", j);
	absorb(rb, (size_t)nin * m * sizeof(int));
	/* v: reversed slots; allgather(v): the first block to all. */
	for (j = 0; j < nin; j++) {
		cnt[j] = m;
		dsp[j] = (nin - 1 - j) * m;
	}
	for (i = 0; i < nin * m; i++)
		rb[i] = UNSET;
	MPI_OK(COLL(Neighbor_alltoallv, Ineighbor_alltoallv, sb, cnt, dsp,
	    MPI_INT, rb, cnt, dsp, MPI_INT, t));
	absorb(rb, (size_t)nin * m * sizeof(int));
	MPI_OK(COLL(Neighbor_allgather, Ineighbor_allgather, sb, m, MPI_INT,
	    rb, m, MPI_INT, t));
	for (j = 0; j < nin; j++)
		if (src[j] != MPI_PROC_NULL && m > 0)
			CHECK(rb[j * m + m - 1] == nbr_val(src[j], 0, m - 1),
			    "neighbor allgather: slot %d", j);
	absorb(rb, (size_t)nin * m * sizeof(int));
	MPI_OK(COLL(Neighbor_allgatherv, Ineighbor_allgatherv, sb, m, MPI_INT,
	    rb, cnt, dsp, MPI_INT, t));
	absorb(rb, (size_t)nin * m * sizeof(int));
	{
		MPI_Aint *ad = malloc((size_t)(nin + nout + 1) * 2 *
		    sizeof(*ad));
		MPI_Datatype *ty = malloc((size_t)(nin + nout + 1) *
		    sizeof(*ty));

		for (j = 0; j < nin + nout; j++) {
			ad[j] = (MPI_Aint)j % (nin > 0 ? nin : 1) * m *
			    (MPI_Aint)sizeof(int);
			ty[j] = MPI_INT;
		}
		for (j = 0; j < nout; j++)
			ad[nin + nout + j] = (MPI_Aint)j * m * sizeof(int);
		MPI_OK(COLL(Neighbor_alltoallw, Ineighbor_alltoallw, sb, cnt,
		    ad + nin + nout, ty, rb, cnt, ad, ty, t));
		absorb(rb, (size_t)nin * m * sizeof(int));
		free(ad);
		free(ty);
	}
	free(sb);
	free(rb);
	free(cnt);
}

static void
test_neighbor(void)
{
	int e0 = ex_errs, dims[2] = { 0, 0 }, per[2] = { 0, 0 }, ring = size;
	int src[4], one = 1, m, d, dst[3], nd[3], w[3] = { 1, 1, 1 };
	MPI_Comm t;

	for (m = 0; m <= 5000; m += 5000) {
		/* A periodic ring: at 2 ranks both neighbours are one rank. */
		MPI_Cart_create(MPI_COMM_WORLD, 1, &ring, &one, 0, &t);
		MPI_Cart_shift(t, 0, 1, &src[0], &src[1]);
		nbr_round(t, 2, src, 2, m);
		MPI_Comm_free(&t);
		/* A 2-D grid with edges (MPI_PROC_NULL neighbours). */
		MPI_Dims_create(size, 2, dims);
		MPI_Cart_create(MPI_COMM_WORLD, 2, dims, per, 0, &t);
		for (d = 0; d < 2; d++)
			MPI_Cart_shift(t, d, 1, &src[2 * d], &src[2 * d + 1]);
		nbr_round(t, 4, src, 4, m);
		MPI_Comm_free(&t);
		/* A multigraph: rank+1 twice and rank+2 as destinations. */
		dst[0] = dst[1] = (rank + 1) % size;
		dst[2] = (rank + 2) % size;
		nd[0] = nd[1] = (rank + size - 1) % size;
		nd[2] = (rank + size - 2) % size;
		MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 3, nd, w, 3,
		    dst, w, MPI_INFO_NULL, 0, &t);
		nbr_round(t, 3, nd, 3, m);
		MPI_Comm_free(&t);
	}
	family("neighbor", e0);
}

/*
 * Reduce_scatter(_block) on the intercommunicator: the other group's
 * vectors (the same element count in both groups) reduced in its rank
 * order, scattered over this group; a sum, then the matrix product over
 * uneven counts. MPI_IN_PLACE is not allowed on an intercommunicator.
 */
static void
intercomm_reduce_scatter(MPI_Comm inter, int low, int lr, int ln, int rn)
{
	/* The other group's first world rank; 7 matrices in all. */
	int base = low ? size / 2 : 0, k = 5, bc = rn * k, t = 7, at = 0;
	int *sb = ints((size_t)ln * bc, 0), *rb = ints((size_t)bc, UNSET);
	int *cnt = ints((size_t)ln, 2), e[4], i, *ms, *mr;

	for (i = 0; i < ln * bc; i++)
		sb[i] = val(rank, i, 215);
	MPI_OK(COLL(Reduce_scatter_block, Ireduce_scatter_block, sb, rb, bc,
	    MPI_INT, MPI_SUM, inter));
	for (i = 0; i < bc; i++)
		if (rb[i] != sum_expect(base, base + rn - 1,
		    (long)lr * bc + i, 215)) {
			CHECK(0, "intercomm reduce_scatter_block: element %d",
			    i);
			break;
		}
	absorb(rb, (size_t)bc * sizeof(int));
	cnt[0] = t - (ln - 1) * 2;
	for (i = 0; i < lr; i++)
		at += cnt[i];
	ms = mat_buf(t, rank, 216);
	mr = ints((size_t)cnt[lr] * 4, UNSET);
	MPI_OK(COLL(Reduce_scatter, Ireduce_scatter, ms, mr, cnt, mat, matmul,
	    inter));
	for (i = 0; i < cnt[lr]; i++) {
		mat_expect(base, base + rn - 1, at + i, 216, e);
		if (memcmp(e, mr + 4 * i, sizeof(e)) != 0) {
			CHECK(0, "intercomm reduce_scatter matmul: matrix %d",
			    at + i);
			break;
		}
	}
	absorb(mr, (size_t)cnt[lr] * 4 * sizeof(int));
	free(sb);
	free(rb);
	free(cnt);
	free(ms);
	free(mr);
}

/*
 * An intercommunicator between the lower and upper half of the ranks:
 * rooted collectives with MPI_ROOT / MPI_PROC_NULL, and the all-to-all
 * ones (each group receives the other group's data).
 */
static void
test_intercomm(void)
{
	int e0 = ex_errs, low = rank < size / 2, lr, ln, rn, i, r, m = 3000;
	int *b, *g, *a, *x, root;
	MPI_Comm half, inter;

	MPI_Comm_split(MPI_COMM_WORLD, low, rank, &half);
	MPI_Intercomm_create(half, 0, MPI_COMM_WORLD, low ? size / 2 : 0, 5,
	    &inter);
	MPI_Comm_rank(half, &lr);
	MPI_Comm_size(half, &ln);
	MPI_Comm_remote_size(inter, &rn);
	b = ints((size_t)m, UNSET);
	g = ints((size_t)m * rn, UNSET);
	a = ints((size_t)m * (ln > rn ? ln : rn), 0);
	x = ints((size_t)m * rn, UNSET);
	/* Rank 0 of the lower group is the root for the upper group. */
	root = low ? (lr == 0 ? MPI_ROOT : MPI_PROC_NULL) : 0;
	for (i = 0; i < m; i++)
		b[i] = low && lr == 0 ? val(0, i, 210) : UNSET;
	MPI_OK(COLL(Bcast, Ibcast, b, m, MPI_INT, root, inter));
	if (!low)
		int_check("intercomm bcast", b, m, 0, 210);
	for (i = 0; i < m; i++)
		a[i] = val(rank, i, 211);
	MPI_OK(COLL(Allgather, Iallgather, a, m, MPI_INT, g, m, MPI_INT,
	    inter));
	for (r = 0; r < rn; r++)
		int_check("intercomm allgather", g + (size_t)r * m, m,
		    low ? size / 2 + r : r, 211);
	absorb(g, (size_t)m * rn * sizeof(int));
	MPI_OK(COLL(Allreduce, Iallreduce, a, x, m, MPI_INT, MPI_SUM, inter));
	sum_check("intercomm allreduce", x, m, low ? size / 2 : 0,
	    low ? size - 1 : size / 2 - 1, 211);
	for (r = 0; r < rn; r++)
		for (i = 0; i < m; i++)
			a[(size_t)r * m + i] = a2a_val(rank, r, i, 212);
	MPI_OK(COLL(Alltoall, Ialltoall, a, m, MPI_INT, g, m, MPI_INT,
	    inter));
	absorb(g, (size_t)m * rn * sizeof(int));
	/* The upper group's rank 0 gathers, reduces and scatters. */
	root = low ? 0 : (lr == 0 ? MPI_ROOT : MPI_PROC_NULL);
	for (i = 0; i < m; i++)
		a[i] = val(rank, i, 213);
	MPI_OK(COLL(Gather, Igather, a, m, MPI_INT, g, m, MPI_INT, root,
	    inter));
	if (root == MPI_ROOT)
		for (r = 0; r < rn; r++)
			int_check("intercomm gather", g + (size_t)r * m, m, r,
			    213);
	MPI_OK(COLL(Reduce, Ireduce, a, x, m, MPI_INT, MPI_SUM, root, inter));
	if (root == MPI_ROOT)
		sum_check("intercomm reduce", x, m, 0, size / 2 - 1, 213);
	for (r = 0; r < rn; r++)
		for (i = 0; i < m; i++)
			g[(size_t)r * m + i] = val(r, i, 214);
	MPI_OK(COLL(Scatter, Iscatter, g, m, MPI_INT, b, m, MPI_INT, root,
	    inter));
	if (low)
		int_check("intercomm scatter", b, m, lr, 214);
	absorb(b, (size_t)m * sizeof(int));
	intercomm_reduce_scatter(inter, low, lr, ln, rn);
	MPI_OK(MPI_Barrier(inter));
	free(b);
	free(g);
	free(a);
	free(x);
	MPI_Comm_free(&inter);
	MPI_Comm_free(&half);
	family("intercomm", e0);
}

/* 4 MiB per rank: Bcast, Allreduce (the reduce-scatter path, in place
 * too, and the non-commutative matrix product), Reduce_scatter_block. */
static void
test_large(void)
{
	int e0 = ex_errs, n = 1 << 20, i, root = size - 1;
	int *a = ints((size_t)n, 0), *b = ints((size_t)n, UNSET);
	long m = n / 4;

	for (i = 0; i < n; i++)
		a[i] = rank == root ? val(root, i, 220) : UNSET;
	MPI_OK(COLL(Bcast, Ibcast, a, n, MPI_INT, root, MPI_COMM_WORLD));
	int_check("large bcast", a, n, root, 220);
	for (i = 0; i < n; i++)
		a[i] = val(rank, i, 221);
	MPI_OK(COLL(Allreduce, Iallreduce, a, b, n, MPI_INT, MPI_SUM,
	    MPI_COMM_WORLD));
	sum_check("large allreduce", b, n, 0, size - 1, 221);
	absorb(b, (size_t)n * sizeof(int));
	MPI_OK(COLL(Allreduce, Iallreduce, MPI_IN_PLACE, a, n, MPI_INT,
	    MPI_SUM, MPI_COMM_WORLD));
	sum_check("large allreduce in place", a, n, 0, size - 1, 221);
	free(a);
	a = mat_buf(m, rank, 222);
	MPI_OK(COLL(Allreduce, Iallreduce, a, b, (int)m, mat, matmul,
	    MPI_COMM_WORLD));
	mat_check("large allreduce matmul", b, m, 0, size - 1, 222);
	absorb(b, (size_t)n * sizeof(int));
	free(a);
	a = ints((size_t)n, 0);
	for (i = 0; i < n; i++)
		a[i] = val(rank, i, 223);
	MPI_OK(COLL(Reduce_scatter_block, Ireduce_scatter_block, a, b,
	    n / size, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
	for (i = 0; i < n / size; i++)
		if (b[i] != sum_expect(0, size - 1, (long)rank * (n / size) + i,
		    223)) {
			CHECK(0, "large reduce_scatter_block: element %d", i);
			break;
		}
	absorb(b, (size_t)(n / size) * sizeof(int));
	free(a);
	free(b);
	family("large", e0);
}

/* Several nonblocking collectives in flight at once, on two
 * communicators, completed in reverse order of starting. */
static void
test_overlap(void)
{
	int e0 = ex_errs, i, n = 5000, root = size - 1;
	int *b, *a, *s, *g;
	MPI_Request rq[4];
	MPI_Comm dup;

	MPI_Comm_dup(MPI_COMM_WORLD, &dup);
	b = ints((size_t)n, UNSET);
	a = ints((size_t)n, 0);
	s = ints((size_t)n, UNSET);
	g = ints((size_t)size, UNSET);
	for (i = 0; i < n; i++) {
		if (rank == root)
			b[i] = val(root, i, 200);
		a[i] = val(rank, i, 201);
	}
	MPI_OK(MPI_Ibcast(b, n, MPI_INT, root, MPI_COMM_WORLD, &rq[0]));
	MPI_OK(MPI_Iallreduce(a, s, n, MPI_INT, MPI_SUM, dup, &rq[1]));
	MPI_OK(MPI_Iallgather(&rank, 1, MPI_INT, g, 1, MPI_INT,
	    MPI_COMM_WORLD, &rq[2]));
	MPI_OK(MPI_Ibarrier(dup, &rq[3]));
	/* A datatype freed while its collective is pending (MPI allows it). */
	{
		MPI_Datatype v2;
		int *h = vec_buf(100, root, 202, rank == root);
		MPI_Request q;

		MPI_Type_dup(vec, &v2);
		MPI_OK(MPI_Ibcast(h, 100, v2, root, MPI_COMM_WORLD, &q));
		MPI_Type_free(&v2);
		MPI_OK(MPI_Wait(&q, MPI_STATUS_IGNORE));
		vec_check("overlap ibcast freed type", h, 100, root, 202);
		free(h);
	}
	/* A user-defined operation freed while its reduction is pending
	 * (MPI allows it); a new operation may take its place. */
	{
		MPI_Op mm, other;
		int *x = mat_buf(50, rank, 203), *y = ints(200, UNSET);
		MPI_Request q;

		MPI_Op_create(matmul_fn, 0, &mm);
		MPI_OK(MPI_Iallreduce(x, y, 50, mat, mm, MPI_COMM_WORLD, &q));
		MPI_OK(MPI_Op_free(&mm));
		CHECK(mm == MPI_OP_NULL, "overlap: freed op handle not null");
		MPI_Op_create(keep_fn, 1, &other);
		MPI_OK(MPI_Wait(&q, MPI_STATUS_IGNORE));
		MPI_Op_free(&other);
		mat_check("overlap iallreduce freed op", y, 50, 0, size - 1,
		    203);
		free(x);
		free(y);
	}
	for (i = 3; i >= 0; i--)
		MPI_OK(MPI_Wait(&rq[i], MPI_STATUS_IGNORE));
	int_check("overlap ibcast", b, n, root, 200);
	sum_check("overlap iallreduce", s, n, 0, size - 1, 201);
	for (i = 0; i < size; i++)
		CHECK(g[i] == i, "overlap iallgather: slot %d is %d", i, g[i]);
	absorb(s, (size_t)n * sizeof(int));
	free(b);
	free(a);
	free(s);
	free(g);
	MPI_Comm_free(&dup);
	family("overlap", e0);
}

int
main(int argc, char **argv)
{
	int rc;

	rank = ex_init(&argc, &argv, &size);
	MPI_Type_vector(2, 1, 3, MPI_INT, &vec);
	MPI_Type_commit(&vec);
	MPI_Type_contiguous(4, MPI_INT, &mat);
	MPI_Type_commit(&mat);
	MPI_Op_create(matmul_fn, 0, &matmul);
	if (argc > 1) {
		rc = marker_mode(argv[1]);
		MPI_Finalize();
		return rc;
	}

	/* Blocking, then again with each collective's nonblocking form. */
	for (nb = 0; nb < 2; nb++) {
		test_bcast();
		test_gather();
		test_scatter();
		test_allgather();
		test_alltoall();
		test_reduce();
		test_allreduce();
		test_reduce_scatter();
		test_scan();
		test_split();
		test_alltoallw();
		test_neighbor();
		test_intercomm();
		test_large();
	}
	nb = 0;
	test_overlap();

	MPI_Op_free(&matmul);
	MPI_Type_free(&mat);
	MPI_Type_free(&vec);
	rc = ex_finish("coll_check", sum);
	MPI_Finalize();
	return rc;
}
