/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A conformance pass over the MPI standard's chapters (issue 20), run
 * plain and under libesmpi at 1 to 4 ranks and compared line by line:
 *
 *   p2p      zero counts, MPI_PROC_NULL, Sendrecv_replace of a derived
 *            type, Bsend/Ibsend with Buffer_attach (and one too large),
 *            Cancel of a receive, Request_get_status, Waitany, Testany,
 *            Waitsome, Testall with null and inactive requests
 *   coll     MPI_IN_PLACE in every collective that allows it, zero
 *            counts, negative displacements, and the v/w forms' count
 *            arrays (negative counts) with their error classes
 *   comm     compare, split, create, create_group, idup, names, groups
 *   attr     keyvals with copy and delete callbacks across Comm_dup,
 *            Comm_free, Comm_delete_attr, Type_dup; predefined attributes
 *   errh     MPI_ERRORS_RETURN and user error handlers: classes of
 *            invalid ranks, tags, counts, types, roots, ops, truncation
 *   topo     cart, graph and dist_graph queries and neighbourhood
 *            collectives (allgather, alltoall, v, w)
 *   inter    intercommunicator collectives (MPI_ROOT / MPI_PROC_NULL),
 *            Intercomm_merge
 *
 * Every rank logs what it sees ("conform: r<rank>: <section>: ..."); at
 * the end rank 0 prints all ranks' logs in rank order (point to point),
 * so the output does not depend on how mpirun interleaves ranks. Error
 * checks run on communicators of one rank (dups of MPI_COMM_SELF), so an
 * erroneous call never leaves a message or a collective half done.
 */
#include <stdarg.h>

#include "example_util.h"

static int rank, size, left, right;
static char log_[1 << 17];
static size_t loglen;

static void
say(const char *fmt, ...)
{
	va_list ap;

	if (loglen + 256 >= sizeof(log_))
		return;
	loglen += (size_t)snprintf(log_ + loglen, sizeof(log_) - loglen,
	    "conform: r%d: ", rank);
	va_start(ap, fmt);
	loglen += (size_t)vsnprintf(log_ + loglen, sizeof(log_) - loglen, fmt,
	    ap);
	va_end(ap);
	log_[loglen++] = '\n';
	log_[loglen] = '\0';
}

static int
cls(int rc)
{
	int c = -1;

	if (rc == MPI_SUCCESS)
		return 0;
	MPI_Error_class(rc, &c);
	return c;
}

static void
fresh(MPI_Status *st)
{
	st->MPI_SOURCE = -77;
	st->MPI_TAG = -77;
	st->MPI_ERROR = 4242;
}

static void
show(const char *what, int rc, const MPI_Status *st, MPI_Datatype dt)
{
	int count = -1, cancelled = -1;

	MPI_Get_count(st, dt, &count);
	MPI_Test_cancelled(st, &cancelled);
	say("%s: class %d source %d tag %d error %d count %d cancelled %d",
	    what, cls(rc), st->MPI_SOURCE, st->MPI_TAG, st->MPI_ERROR, count,
	    cancelled);
}

static void
ints(const char *what, const int *v, int n)
{
	char b[512];
	size_t at = 0;
	int i;

	b[0] = '\0';
	for (i = 0; i < n && at + 16 < sizeof(b); i++)
		at += (size_t)snprintf(b + at, sizeof(b) - at, " %d", v[i]);
	say("%s:%s", what, b);
}

/* ---------------------------------------------------------- p2p */

static void
p2p(void)
{
	MPI_Comm w = MPI_COMM_WORLD;
	MPI_Request rq[3];
	MPI_Status st, sts[3];
	MPI_Datatype vec;
	int a[8], b[8], i, rc, idx, flag, out, idxs[3];
	void *bb;
	int bsz, psz;

	/* Zero counts and MPI_PROC_NULL. */
	fresh(&st);
	rc = MPI_Sendrecv(a, 0, MPI_INT, right, 1, b, 0, MPI_INT, left, 1, w,
	    &st);
	show("p2p zero-count sendrecv", rc, &st, MPI_INT);
	fresh(&st);
	rc = MPI_Recv(b, 4, MPI_INT, MPI_PROC_NULL, 2, w, &st);
	show("p2p recv proc_null", rc, &st, MPI_INT);
	rc = MPI_Send(a, 4, MPI_INT, MPI_PROC_NULL, 2, w);
	say("p2p send proc_null: class %d", cls(rc));
	fresh(&st);
	MPI_Irecv(b, 4, MPI_INT, MPI_PROC_NULL, 3, w, &rq[0]);
	rc = MPI_Wait(&rq[0], &st);
	show("p2p irecv proc_null wait", rc, &st, MPI_INT);
	fresh(&st);
	rc = MPI_Sendrecv(a, 4, MPI_INT, MPI_PROC_NULL, 4, b, 4, MPI_INT,
	    MPI_PROC_NULL, 4, w, &st);
	show("p2p sendrecv proc_null", rc, &st, MPI_INT);

	/* Sendrecv_replace of every other int. */
	MPI_Type_vector(4, 1, 2, MPI_INT, &vec);
	MPI_Type_commit(&vec);
	for (i = 0; i < 8; i++)
		a[i] = rank * 100 + i;
	fresh(&st);
	rc = MPI_Sendrecv_replace(a, 1, vec, right, 5, left, 5, w, &st);
	show("p2p sendrecv_replace", rc, &st, vec);
	ints("p2p sendrecv_replace data", a, 8);
	fresh(&st);
	rc = MPI_Sendrecv_replace(a, 8, MPI_INT, MPI_PROC_NULL, 6,
	    MPI_PROC_NULL, 6, w, &st);
	show("p2p sendrecv_replace proc_null", rc, &st, MPI_INT);
	MPI_Type_free(&vec);

	/* Buffered sends. */
	MPI_Pack_size(8, MPI_INT, w, &psz);
	bsz = 2 * (psz + MPI_BSEND_OVERHEAD);
	bb = malloc((size_t)bsz);
	rc = MPI_Buffer_attach(bb, bsz);
	say("p2p buffer_attach: class %d", cls(rc));
	for (i = 0; i < 8; i++)
		a[i] = rank + i;
	rc = MPI_Bsend(a, 8, MPI_INT, right, 7, w);
	say("p2p bsend: class %d", cls(rc));
	rc = MPI_Ibsend(a, 8, MPI_INT, right, 8, w, &rq[0]);
	say("p2p ibsend: class %d", cls(rc));
	for (i = 7; i <= 8; i++) {
		fresh(&st);
		rc = MPI_Recv(b, 8, MPI_INT, left, i, w, &st);
		show(i == 7 ? "p2p recv of bsend" : "p2p recv of ibsend", rc,
		    &st, MPI_INT);
		ints("p2p buffered data", b, 8);
	}
	fresh(&st);
	rc = MPI_Wait(&rq[0], &st);
	say("p2p ibsend wait: class %d error %d", cls(rc), st.MPI_ERROR);
	{
		int big[4096];

		memset(big, 0, sizeof(big));
		rc = MPI_Bsend(big, 4096, MPI_INT, 0, 9, MPI_COMM_SELF);
		say("p2p bsend larger than the buffer: class %d", cls(rc));
	}
	{
		void *got = NULL;
		int gsz = -1;

		rc = MPI_Buffer_detach(&got, &gsz);
		say("p2p buffer_detach: class %d same %d size ok %d", cls(rc),
		    got == bb, gsz == bsz);
	}
	free(bb);

	/* Cancel of a receive that nothing matches. */
	MPI_Irecv(b, 4, MPI_INT, MPI_ANY_SOURCE, 999, w, &rq[0]);
	rc = MPI_Cancel(&rq[0]);
	say("p2p cancel: class %d", cls(rc));
	fresh(&st);
	rc = MPI_Wait(&rq[0], &st);
	MPI_Test_cancelled(&st, &flag);
	say("p2p cancelled receive: class %d cancelled %d null %d", cls(rc),
	    flag, rq[0] == MPI_REQUEST_NULL);

	/* Request_get_status: null request, then a pending and a done one. */
	rq[0] = MPI_REQUEST_NULL;
	fresh(&st);
	flag = -1;
	rc = MPI_Request_get_status(rq[0], &flag, &st);
	say("p2p get_status null: class %d flag %d", cls(rc), flag);
	show("p2p get_status null status", rc, &st, MPI_INT);
	MPI_Irecv(b, 4, MPI_INT, rank, 10, w, &rq[0]);
	flag = -1;
	MPI_Request_get_status(rq[0], &flag, MPI_STATUS_IGNORE);
	say("p2p get_status pending: flag %d", flag);
	a[0] = 31;
	MPI_Send(a, 3, MPI_INT, rank, 10, w);
	do {
		fresh(&st);
		rc = MPI_Request_get_status(rq[0], &flag, &st);
	} while (!flag && rc == MPI_SUCCESS);
	show("p2p get_status done", rc, &st, MPI_INT);
	say("p2p get_status keeps the request: %d",
	    rq[0] != MPI_REQUEST_NULL);
	fresh(&st);
	rc = MPI_Wait(&rq[0], &st);
	show("p2p wait after get_status", rc, &st, MPI_INT);

	/* Waitany/Testany/Waitsome/Testall over null and inactive ones. */
	rq[0] = rq[1] = rq[2] = MPI_REQUEST_NULL;
	fresh(&st);
	idx = -5;
	rc = MPI_Waitany(3, rq, &idx, &st);
	say("p2p waitany all null: class %d index %d", cls(rc), idx);
	show("p2p waitany all null status", rc, &st, MPI_INT);
	fresh(&st);
	idx = -5;
	flag = -1;
	rc = MPI_Testany(3, rq, &idx, &flag, &st);
	say("p2p testany all null: class %d index %d flag %d", cls(rc), idx,
	    flag);
	show("p2p testany all null status", rc, &st, MPI_INT);
	MPI_Recv_init(b, 4, MPI_INT, rank, 11, w, &rq[1]);
	fresh(&st);
	idx = -5;
	rc = MPI_Waitany(3, rq, &idx, &st);
	say("p2p waitany inactive: class %d index %d", cls(rc), idx);
	show("p2p waitany inactive status", rc, &st, MPI_INT);
	out = -5;
	rc = MPI_Waitsome(3, rq, &out, idxs, sts);
	say("p2p waitsome inactive: class %d outcount %d", cls(rc), out);
	flag = -1;
	rc = MPI_Testall(3, rq, &flag, sts);
	say("p2p testall inactive: class %d flag %d", cls(rc), flag);
	MPI_Irecv(a, 4, MPI_INT, rank, 12, w, &rq[2]);
	MPI_Send(a + 4, 2, MPI_INT, rank, 12, w);
	fresh(&st);
	idx = -5;
	rc = MPI_Waitany(3, rq, &idx, &st);
	say("p2p waitany one active: class %d index %d", cls(rc), idx);
	show("p2p waitany one active status", rc, &st, MPI_INT);
	MPI_Start(&rq[1]);
	MPI_Send(a, 1, MPI_INT, rank, 11, w);
	do {
		fresh(&st);
		flag = 0;
		rc = MPI_Testany(3, rq, &idx, &flag, &st);
	} while (!flag && rc == MPI_SUCCESS);
	say("p2p testany started persistent: class %d index %d inactive "
	    "again %d", cls(rc), idx, rq[1] != MPI_REQUEST_NULL);
	show("p2p testany started persistent status", rc, &st, MPI_INT);
	MPI_Request_free(&rq[1]);
}

/* ---------------------------------------------------- collectives */

static void
coll_inplace(void)
{
	MPI_Comm w = MPI_COMM_WORLD;
	int v[16], cnt[4], dsp[4], i, rc, n = size;
	MPI_Datatype types[4];

	for (i = 0; i < 16; i++)
		v[i] = rank * 10 + i;
	rc = MPI_Allreduce(MPI_IN_PLACE, v, 4, MPI_INT, MPI_SUM, w);
	say("coll allreduce in place: class %d", cls(rc));
	ints("coll allreduce in place", v, 4);

	for (i = 0; i < 16; i++)
		v[i] = rank * 10 + i;
	rc = MPI_Reduce(rank == 0 ? MPI_IN_PLACE : v, v, 4, MPI_INT, MPI_MAX,
	    0, w);
	say("coll reduce in place: class %d", cls(rc));
	if (rank == 0)
		ints("coll reduce in place", v, 4);

	for (i = 0; i < 16; i++)
		v[i] = rank == 0 ? -1 : rank * 10 + i;
	v[0] = 0;
	rc = MPI_Gather(rank == 0 ? MPI_IN_PLACE : v + rank, 1, MPI_INT, v, 1,
	    MPI_INT, 0, w);
	say("coll gather in place: class %d", cls(rc));
	if (rank == 0)
		ints("coll gather in place", v, n);

	for (i = 0; i < n; i++) {
		cnt[i] = 1;
		dsp[i] = n - 1 - i;	/* reversed */
	}
	for (i = 0; i < 16; i++)
		v[i] = rank * 10 + i;
	rc = MPI_Gatherv(rank == 0 ? MPI_IN_PLACE : v, 1, MPI_INT, v, cnt,
	    dsp, MPI_INT, 0, w);
	say("coll gatherv in place reversed: class %d", cls(rc));
	if (rank == 0)
		ints("coll gatherv in place reversed", v, n);

	for (i = 0; i < 16; i++)
		v[i] = rank == 0 ? 100 + i : -1;
	rc = MPI_Scatter(v, 2, MPI_INT, rank == 0 ? MPI_IN_PLACE : v, 2,
	    MPI_INT, 0, w);
	say("coll scatter in place: class %d", cls(rc));
	ints("coll scatter in place", v, 2);

	for (i = 0; i < 16; i++)
		v[i] = rank == 0 ? 200 + i : -1;
	rc = MPI_Scatterv(v, cnt, dsp, MPI_INT, rank == 0 ? MPI_IN_PLACE :
	    v, 1, MPI_INT, 0, w);
	say("coll scatterv in place: class %d", cls(rc));
	ints("coll scatterv in place", v, 1);

	for (i = 0; i < 16; i++)
		v[i] = i == rank ? rank + 300 : -1;
	rc = MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, v, 1, MPI_INT,
	    w);
	say("coll allgather in place: class %d", cls(rc));
	ints("coll allgather in place", v, n);

	for (i = 0; i < 16; i++)
		v[i] = -1;
	v[n - 1 - rank] = rank + 400;
	rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, v, cnt, dsp,
	    MPI_INT, w);
	say("coll allgatherv in place reversed: class %d", cls(rc));
	ints("coll allgatherv in place reversed", v, n);

	for (i = 0; i < 16; i++)
		v[i] = rank * 10 + i;
	rc = MPI_Alltoall(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, v, 1, MPI_INT,
	    w);
	say("coll alltoall in place: class %d", cls(rc));
	ints("coll alltoall in place", v, n);

	for (i = 0; i < n; i++) {
		cnt[i] = 1;
		dsp[i] = 2 * i;
		types[i] = MPI_INT;
	}
	for (i = 0; i < 16; i++)
		v[i] = rank * 10 + i;
	rc = MPI_Alltoallv(MPI_IN_PLACE, NULL, NULL, MPI_DATATYPE_NULL, v,
	    cnt, dsp, MPI_INT, w);
	say("coll alltoallv in place: class %d", cls(rc));
	ints("coll alltoallv in place", v, 2 * n);

	for (i = 0; i < n; i++)
		dsp[i] = (int)sizeof(int) * 3 * i;
	for (i = 0; i < 16; i++)
		v[i] = rank * 10 + i;
	rc = MPI_Alltoallw(MPI_IN_PLACE, NULL, NULL, NULL, v, cnt, dsp, types,
	    w);
	say("coll alltoallw in place: class %d", cls(rc));
	ints("coll alltoallw in place", v, 3 * n);

	for (i = 0; i < 16; i++)
		v[i] = rank + i;
	rc = MPI_Reduce_scatter_block(MPI_IN_PLACE, v, 2, MPI_INT, MPI_SUM,
	    w);
	say("coll reduce_scatter_block in place: class %d", cls(rc));
	ints("coll reduce_scatter_block in place", v, 2);

	for (i = 0; i < n; i++)
		cnt[i] = i % 2 + 1;
	for (i = 0; i < 16; i++)
		v[i] = rank + i;
	rc = MPI_Reduce_scatter(MPI_IN_PLACE, v, cnt, MPI_INT, MPI_SUM, w);
	say("coll reduce_scatter in place: class %d", cls(rc));
	ints("coll reduce_scatter in place", v, cnt[rank]);

	for (i = 0; i < 16; i++)
		v[i] = rank + 1 + i;
	rc = MPI_Scan(MPI_IN_PLACE, v, 3, MPI_INT, MPI_PROD, w);
	say("coll scan in place: class %d", cls(rc));
	ints("coll scan in place", v, 3);

	for (i = 0; i < 16; i++)
		v[i] = rank + 1 + i;
	rc = MPI_Exscan(MPI_IN_PLACE, v, 3, MPI_INT, MPI_SUM, w);
	say("coll exscan in place: class %d", cls(rc));
	if (rank > 0)		/* rank 0's is undefined */
		ints("coll exscan in place", v, 3);
}

static void
coll_zero(void)
{
	MPI_Comm w = MPI_COMM_WORLD;
	int v[8], cnt[4], dsp[4], i, rc;

	for (i = 0; i < 8; i++)
		v[i] = 7;
	rc = MPI_Bcast(v, 0, MPI_INT, 0, w);
	say("coll bcast zero: class %d", cls(rc));
	rc = MPI_Allreduce(v, v + 4, 0, MPI_INT, MPI_SUM, w);
	say("coll allreduce zero: class %d", cls(rc));
	rc = MPI_Gather(v, 0, MPI_INT, v, 0, MPI_INT, 0, w);
	say("coll gather zero: class %d", cls(rc));
	/* Every other rank sends nothing. */
	for (i = 0; i < size; i++) {
		cnt[i] = i % 2;
		dsp[i] = i;
	}
	v[0] = rank + 50;
	for (i = 1; i < 8; i++)
		v[i] = -1;
	rc = MPI_Allgatherv(v, rank % 2, MPI_INT, v + 4, cnt, dsp, MPI_INT,
	    w);
	say("coll allgatherv some zero: class %d", cls(rc));
	ints("coll allgatherv some zero", v + 4, size);
	rc = MPI_Barrier(w);
	say("coll barrier: class %d", cls(rc));
	/* A negative displacement: blocks before the buffer's address. */
	for (i = 0; i < 8; i++)
		v[i] = -1;
	for (i = 0; i < size; i++) {
		cnt[i] = 1;
		dsp[i] = -i;
	}
	{
		int me = rank + 60;

		rc = MPI_Allgatherv(&me, 1, MPI_INT, v + 4, cnt, dsp, MPI_INT,
		    w);
	}
	say("coll allgatherv negative displacements: class %d", cls(rc));
	ints("coll allgatherv negative displacements", v, 8);
}

/* Erroneous counts on a communicator of one: nothing is left half done. */
static void
coll_errors(void)
{
	MPI_Comm s;
	MPI_Datatype types[1] = { MPI_INT };
	int v[4] = { 1, 2, 3, 4 }, r[4], neg[1] = { -1 }, one[1] = { 1 };
	int z[1] = { 0 }, rc;

	MPI_Comm_dup(MPI_COMM_SELF, &s);
	MPI_Comm_set_errhandler(s, MPI_ERRORS_RETURN);
	rc = MPI_Gatherv(v, 1, MPI_INT, r, neg, z, MPI_INT, 0, s);
	say("coll gatherv negative recvcount: class %d", cls(rc));
	rc = MPI_Scatterv(v, neg, z, MPI_INT, r, 1, MPI_INT, 0, s);
	say("coll scatterv negative sendcount: class %d", cls(rc));
	/* Not Allgatherv with a negative count: Open MPI 4.1.4 does not
	 * check it there and crashes in a memcpy (docs/CONFORMANCE.md). */
	rc = MPI_Alltoallv(v, neg, z, MPI_INT, r, one, z, MPI_INT, s);
	say("coll alltoallv negative sendcount: class %d", cls(rc));
	rc = MPI_Alltoallv(v, one, z, MPI_INT, r, neg, z, MPI_INT, s);
	say("coll alltoallv negative recvcount: class %d", cls(rc));
	rc = MPI_Alltoallw(v, neg, z, types, r, one, z, types, s);
	say("coll alltoallw negative sendcount: class %d", cls(rc));
	rc = MPI_Reduce_scatter(v, r, neg, MPI_INT, MPI_SUM, s);
	say("coll reduce_scatter negative count: class %d", cls(rc));
	rc = MPI_Gather(v, -1, MPI_INT, r, 1, MPI_INT, 0, s);
	say("coll gather negative count: class %d", cls(rc));
	rc = MPI_Bcast(v, 1, MPI_INT, 1, s);
	say("coll bcast invalid root: class %d", cls(rc));
	rc = MPI_Allreduce(v, r, 1, MPI_INT, MPI_OP_NULL, s);
	say("coll allreduce null op: class %d", cls(rc));
	rc = MPI_Allreduce(v, r, 1, MPI_DATATYPE_NULL, MPI_SUM, s);
	say("coll allreduce null type: class %d", cls(rc));
	rc = MPI_Allgatherv(v, 2, MPI_INT, r, one, z, MPI_INT, s);
	say("coll allgatherv own block too large: class %d", cls(rc));
	/* The communicator still works. */
	r[0] = 0;
	rc = MPI_Allreduce(v, r, 1, MPI_INT, MPI_SUM, s);
	say("coll after errors: class %d value %d", cls(rc), r[0]);
	MPI_Comm_free(&s);
}

/* ---------------------------------------------- communicators, groups */

static void
comms(void)
{
	MPI_Comm d, sp, cr, cg, id;
	MPI_Group wg, eg, g2, g3;
	MPI_Request rq;
	int res, r, n, i, ranks[4], tr[4], evens[4], ne = 0, range[1][3];
	char name[MPI_MAX_OBJECT_NAME];

	MPI_Comm_dup(MPI_COMM_WORLD, &d);
	MPI_Comm_compare(MPI_COMM_WORLD, d, &res);
	say("comm compare world dup: %d (congruent %d)", res,
	    res == MPI_CONGRUENT);
	MPI_Comm_compare(MPI_COMM_WORLD, MPI_COMM_WORLD, &res);
	say("comm compare world world: ident %d", res == MPI_IDENT);
	MPI_Comm_set_name(d, "conform-dup");
	MPI_Comm_get_name(d, name, &n);
	say("comm name: %s (%d)", name, n);
	MPI_Comm_get_name(MPI_COMM_WORLD, name, &n);
	say("comm world name: %s", name);

	MPI_Comm_split(MPI_COMM_WORLD, rank % 2, -rank, &sp);
	MPI_Comm_rank(sp, &r);
	MPI_Comm_size(sp, &n);
	i = rank;
	MPI_Allreduce(MPI_IN_PLACE, &i, 1, MPI_INT, MPI_MAX, sp);
	say("comm split: rank %d size %d max %d", r, n, i);
	MPI_Comm_compare(MPI_COMM_WORLD, sp, &res);
	say("comm compare world split: %d", res);

	MPI_Comm_group(MPI_COMM_WORLD, &wg);
	for (i = 0; i < size; i += 2)
		evens[ne++] = i;
	MPI_Group_incl(wg, ne, evens, &eg);
	MPI_Group_size(eg, &n);
	MPI_Group_rank(eg, &r);
	say("group incl evens: size %d rank %d", n, r);
	for (i = 0; i < size; i++)
		ranks[i] = i;
	MPI_Group_translate_ranks(wg, size, ranks, eg, tr);
	ints("group translate to evens", tr, size);
	MPI_Group_compare(wg, eg, &res);
	say("group compare world evens: %d", res);
	MPI_Group_excl(wg, ne, evens, &g2);
	MPI_Group_size(g2, &n);
	say("group excl evens: size %d", n);
	MPI_Group_union(eg, g2, &g3);
	MPI_Group_compare(wg, g3, &res);
	say("group union: compare with world %d", res);
	MPI_Group_free(&g3);
	MPI_Group_intersection(eg, g2, &g3);
	MPI_Group_size(g3, &n);
	say("group intersection: size %d empty %d", n,
	    g3 == MPI_GROUP_EMPTY);
	MPI_Group_free(&g3);
	MPI_Group_difference(wg, g2, &g3);
	MPI_Group_compare(eg, g3, &res);
	say("group difference: compare with evens %d", res);
	MPI_Group_free(&g3);
	range[0][0] = size - 1;
	range[0][1] = 0;
	range[0][2] = -1;
	MPI_Group_range_incl(wg, 1, range, &g3);
	MPI_Group_rank(g3, &r);
	say("group range_incl reversed: rank %d", r);

	MPI_Comm_create(MPI_COMM_WORLD, eg, &cr);
	say("comm create evens: null %d", cr == MPI_COMM_NULL);
	if (cr != MPI_COMM_NULL) {
		i = rank;
		MPI_Allreduce(MPI_IN_PLACE, &i, 1, MPI_INT, MPI_SUM, cr);
		say("comm create evens: sum %d", i);
		MPI_Comm_free(&cr);
	}
	cg = MPI_COMM_NULL;
	MPI_Comm_create_group(MPI_COMM_WORLD, g3, 7, &cg);
	MPI_Comm_rank(cg, &r);
	i = rank;
	MPI_Bcast(&i, 1, MPI_INT, 0, cg);
	say("comm create_group reversed: rank %d root's %d", r, i);
	MPI_Comm_free(&cg);
	MPI_Group_free(&g3);
	MPI_Group_free(&g2);
	MPI_Group_free(&eg);
	MPI_Group_free(&wg);

	MPI_Comm_idup(d, &id, &rq);
	MPI_Wait(&rq, MPI_STATUS_IGNORE);
	i = 1;
	MPI_Allreduce(MPI_IN_PLACE, &i, 1, MPI_INT, MPI_SUM, id);
	say("comm idup: sum %d", i);
	MPI_Comm_test_inter(id, &res);
	say("comm idup: inter %d", res);
	MPI_Comm_free(&id);
	MPI_Comm_free(&sp);
	MPI_Comm_free(&d);
}

/* ---------------------------------------------------------- attributes */

static int
copy_cb(MPI_Comm old, int key, void *extra, void *in, void *out, int *flag)
{
	(void)old;
	(void)key;
	say("attr copy: extra %d value %d", *(int *)extra,
	    (int)(intptr_t)in);
	*(void **)out = (void *)((intptr_t)in + 1);
	*flag = 1;
	return MPI_SUCCESS;
}

static int
delete_cb(MPI_Comm comm, int key, void *val, void *extra)
{
	(void)comm;
	(void)key;
	say("attr delete: extra %d value %d", *(int *)extra,
	    (int)(intptr_t)val);
	return MPI_SUCCESS;
}

static int
type_copy_cb(MPI_Datatype old, int key, void *extra, void *in, void *out,
    int *flag)
{
	(void)old;
	(void)key;
	(void)extra;
	say("attr type copy: value %d", (int)(intptr_t)in);
	*(void **)out = in;
	*flag = 1;
	return MPI_SUCCESS;
}

static void
attrs(void)
{
	static int extra = 17;
	MPI_Comm a, b, c;
	MPI_Datatype t, t2;
	int key, nkey, tkey, flag, *ub, *wtg;
	void *val;

	MPI_Comm_create_keyval(copy_cb, delete_cb, &key, &extra);
	MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, delete_cb, &nkey,
	    &extra);
	MPI_Comm_dup(MPI_COMM_WORLD, &a);
	MPI_Comm_set_attr(a, key, (void *)(intptr_t)5);
	MPI_Comm_set_attr(a, nkey, (void *)(intptr_t)50);
	MPI_Comm_dup(a, &b);
	val = NULL;
	MPI_Comm_get_attr(b, key, &val, &flag);
	say("attr after dup: flag %d value %d", flag, (int)(intptr_t)val);
	MPI_Comm_get_attr(b, nkey, &val, &flag);
	say("attr null copy after dup: flag %d", flag);
	MPI_Comm_dup(b, &c);
	MPI_Comm_get_attr(c, key, &val, &flag);
	say("attr after second dup: flag %d value %d", flag,
	    (int)(intptr_t)val);
	MPI_Comm_set_attr(c, key, (void *)(intptr_t)9);	/* deletes 7 */
	MPI_Comm_free(&c);
	say("attr freed c: null %d", c == MPI_COMM_NULL);
	MPI_Comm_delete_attr(a, key);
	MPI_Comm_get_attr(a, key, &val, &flag);
	say("attr after delete: flag %d", flag);
	MPI_Comm_free(&b);
	MPI_Comm_free(&a);
	MPI_Comm_free_keyval(&key);
	MPI_Comm_free_keyval(&nkey);
	say("attr keyval freed: invalid %d", key == MPI_KEYVAL_INVALID);

	MPI_Type_create_keyval(type_copy_cb, MPI_TYPE_NULL_DELETE_FN, &tkey,
	    NULL);
	MPI_Type_contiguous(2, MPI_INT, &t);
	MPI_Type_set_attr(t, tkey, (void *)(intptr_t)3);
	MPI_Type_dup(t, &t2);
	MPI_Type_get_attr(t2, tkey, &val, &flag);
	say("attr type dup: flag %d value %d", flag, (int)(intptr_t)val);
	MPI_Type_free(&t2);
	MPI_Type_free(&t);
	MPI_Type_free_keyval(&tkey);

	MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ub, &flag);
	say("attr tag_ub: flag %d at least 32767 %d", flag,
	    flag && *ub >= 32767);
	MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_WTIME_IS_GLOBAL, &wtg, &flag);
	say("attr wtime_is_global: flag %d", flag);
	MPI_Comm_get_attr(MPI_COMM_SELF, MPI_TAG_UB, &ub, &flag);
	say("attr self tag_ub: flag %d", flag);
}

/* ------------------------------------------------------ error handlers */

static int handled, handled_class;

static void
handler(MPI_Comm *comm, int *code, ...)
{
	(void)comm;
	handled++;
	handled_class = cls(*code);
}

static void
errhandlers(void)
{
	MPI_Comm s, d, d2;
	MPI_Errhandler eh, got;
	MPI_Request rq;
	MPI_Status st;
	int v[16] = { 0 }, rc, n;
	int big[160 * 1024];

	MPI_Comm_dup(MPI_COMM_SELF, &s);
	MPI_Comm_set_errhandler(s, MPI_ERRORS_RETURN);
	rc = MPI_Send(v, 1, MPI_INT, 5, 1, s);
	say("errh send invalid rank: class %d", cls(rc));
	rc = MPI_Send(v, 1, MPI_INT, 0, -5, s);
	say("errh send invalid tag: class %d", cls(rc));
	rc = MPI_Recv(v, 1, MPI_INT, 0, -5, s, MPI_STATUS_IGNORE);
	say("errh recv invalid tag: class %d", cls(rc));
	rc = MPI_Send(v, -1, MPI_INT, 0, 1, s);
	say("errh send negative count: class %d", cls(rc));
	rc = MPI_Send(v, 1, MPI_DATATYPE_NULL, 0, 1, s);
	say("errh send null type: class %d", cls(rc));
	rc = MPI_Isend(v, 1, MPI_INT, 0, 1, MPI_COMM_NULL, &rq);
	say("errh isend null comm: class %d", cls(rc));
	/* Truncation, a small and a chunked message. */
	MPI_Isend(v, 10, MPI_INT, 0, 2, s, &rq);
	fresh(&st);
	rc = MPI_Recv(v, 5, MPI_INT, 0, 2, s, &st);
	say("errh truncated recv: class %d source %d tag %d error class %d",
	    cls(rc), st.MPI_SOURCE, st.MPI_TAG, cls(st.MPI_ERROR));
	MPI_Wait(&rq, MPI_STATUS_IGNORE);
	memset(big, 0, sizeof(big));
	/* Chunked under esmpi (640 KB): a truncated single record of 4 KiB
	 * to 512 KiB overruns in Open MPI 4.1.4 (docs/SECURITY.md). */
	MPI_Isend(big, 160 * 1024, MPI_INT, 0, 3, s, &rq);
	rc = MPI_Recv(big, 1000, MPI_INT, 0, 3, s, MPI_STATUS_IGNORE);
	say("errh truncated large recv: class %d", cls(rc));
	MPI_Wait(&rq, MPI_STATUS_IGNORE);

	/* A user handler, inherited by Comm_dup. */
	MPI_Comm_create_errhandler(handler, &eh);
	MPI_Comm_set_errhandler(s, eh);
	MPI_Comm_dup(s, &d);
	MPI_Comm_get_errhandler(d, &got);
	say("errh inherited by dup: %d", got == eh);
	MPI_Errhandler_free(&got);
	handled = 0;
	rc = MPI_Send(v, 1, MPI_INT, 3, 1, d);
	say("errh user handler invalid rank: class %d handled %d class %d",
	    cls(rc), handled, handled_class);
	handled = 0;
	MPI_Isend(v, 10, MPI_INT, 0, 4, d, &rq);
	rc = MPI_Recv(v, 5, MPI_INT, 0, 4, d, MPI_STATUS_IGNORE);
	say("errh user handler truncation: class %d handled %d class %d",
	    cls(rc), handled, handled_class);
	MPI_Wait(&rq, MPI_STATUS_IGNORE);
	handled = 0;
	rc = MPI_Bcast(v, 1, MPI_INT, 2, d);
	say("errh user handler invalid root: class %d handled %d class %d",
	    cls(rc), handled, handled_class);
	handled = 0;
	rc = MPI_Comm_call_errhandler(d, MPI_ERR_OTHER);
	say("errh call_errhandler: rc %d handled %d class %d", cls(rc),
	    handled, handled_class);
	MPI_Comm_dup(d, &d2);
	handled = 0;
	rc = MPI_Recv(v, 1, MPI_INT, 0, -9, d2, MPI_STATUS_IGNORE);
	say("errh dup of dup invalid tag: class %d handled %d", cls(rc),
	    handled);
	MPI_Comm_free(&d2);
	MPI_Comm_free(&d);
	MPI_Errhandler_free(&eh);
	MPI_Comm_get_errhandler(s, &got);
	say("errh still set after free: %d", got != MPI_ERRORS_RETURN);
	MPI_Errhandler_free(&got);
	MPI_Comm_free(&s);
	MPI_Comm_get_errhandler(MPI_COMM_WORLD, &got);
	say("errh world: return %d", got == MPI_ERRORS_RETURN);
	MPI_Errhandler_free(&got);
	n = 0;
	MPI_Error_class(MPI_ERR_TRUNCATE, &n);
	say("errh class of truncate: %d", n == MPI_ERR_TRUNCATE);
}

/* ---------------------------------------------------------- topologies */

static void
neighbours(MPI_Comm t, const char *what, int indeg, int outdeg)
{
	int s[8], r[8], sc[8], sd[8], rc_[8], rd[8], i, rc;
	MPI_Aint sw[8], rw[8];
	MPI_Datatype ty[8];
	char lbl[64];

	for (i = 0; i < 8; i++) {
		s[i] = rank * 10 + i;
		r[i] = -1;
	}
	rc = MPI_Neighbor_allgather(s, 1, MPI_INT, r, 1, MPI_INT, t);
	snprintf(lbl, sizeof(lbl), "topo %s neighbor_allgather (class %d)",
	    what, cls(rc));
	ints(lbl, r, indeg);
	for (i = 0; i < 8; i++)
		r[i] = -1;
	rc = MPI_Neighbor_alltoall(s, 1, MPI_INT, r, 1, MPI_INT, t);
	snprintf(lbl, sizeof(lbl), "topo %s neighbor_alltoall (class %d)",
	    what, cls(rc));
	ints(lbl, r, indeg);
	for (i = 0; i < 8; i++) {
		sc[i] = rc_[i] = 1;
		sd[i] = 2 * i;
		rd[i] = 2 * (indeg - 1 - i);
		sw[i] = (MPI_Aint)(sd[i] * (int)sizeof(int));
		rw[i] = (MPI_Aint)(rd[i] * (int)sizeof(int));
		ty[i] = MPI_INT;
		r[i] = -1;
	}
	rc = MPI_Neighbor_alltoallv(s, sc, sd, MPI_INT, r, rc_, rd, MPI_INT,
	    t);
	snprintf(lbl, sizeof(lbl), "topo %s neighbor_alltoallv (class %d)",
	    what, cls(rc));
	ints(lbl, r, 2 * indeg);
	for (i = 0; i < 8; i++)
		r[i] = -1;
	rc = MPI_Neighbor_alltoallw(s, sc, sw, ty, r, rc_, rw, ty, t);
	snprintf(lbl, sizeof(lbl), "topo %s neighbor_alltoallw (class %d)",
	    what, cls(rc));
	ints(lbl, r, 2 * indeg);
	(void)outdeg;
}

static void
topo(void)
{
	MPI_Comm cart, sub, graph, dg;
	int dims[2] = { 0, 0 }, periods[2] = { 1, 0 }, coords[2], src, dst;
	int remain[2] = { 1, 0 }, status, nd, r, i, idx[4], edges[8], n;
	int in[2], out[2], win[2] = { 3, 4 }, wout[2] = { 5, 6 }, ni, no, w;
	int nbr[8];

	MPI_Dims_create(size, 2, dims);
	say("topo dims_create: %d %d", dims[0], dims[1]);
	MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, 0, &cart);
	MPI_Topo_test(cart, &status);
	MPI_Cartdim_get(cart, &nd);
	MPI_Cart_coords(cart, rank, 2, coords);
	MPI_Cart_rank(cart, coords, &r);
	say("topo cart: cart %d ndims %d coords %d %d rank %d",
	    status == MPI_CART, nd, coords[0], coords[1], r);
	MPI_Cart_shift(cart, 0, 1, &src, &dst);
	say("topo cart shift 0: %d %d", src, dst);
	MPI_Cart_shift(cart, 1, 1, &src, &dst);
	say("topo cart shift 1: %d %d", src, dst);
	neighbours(cart, "cart", 4, 4);
	MPI_Cart_sub(cart, remain, &sub);
	MPI_Comm_size(sub, &n);
	MPI_Comm_rank(sub, &r);
	i = rank;
	MPI_Allreduce(MPI_IN_PLACE, &i, 1, MPI_INT, MPI_SUM, sub);
	say("topo cart_sub: size %d rank %d sum %d", n, r, i);
	MPI_Comm_free(&sub);
	MPI_Comm_free(&cart);

	/* A ring graph (both directions). */
	for (i = 0; i < size; i++) {
		idx[i] = 2 * (i + 1);
		edges[2 * i] = (i + 1) % size;
		edges[2 * i + 1] = (i - 1 + size) % size;
	}
	MPI_Graph_create(MPI_COMM_WORLD, size, idx, edges, 0, &graph);
	MPI_Topo_test(graph, &status);
	MPI_Graph_neighbors_count(graph, rank, &n);
	MPI_Graph_neighbors(graph, rank, 8, nbr);
	say("topo graph: graph %d neighbours %d", status == MPI_GRAPH, n);
	ints("topo graph neighbours", nbr, n);
	neighbours(graph, "graph", 2, 2);
	MPI_Comm_free(&graph);

	/* Dist graph: in from left and right, out to right and left. */
	in[0] = left;
	in[1] = right;
	out[0] = right;
	out[1] = left;
	MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 2, in, win, 2, out,
	    wout, MPI_INFO_NULL, 0, &dg);
	MPI_Topo_test(dg, &status);
	MPI_Dist_graph_neighbors_count(dg, &ni, &no, &w);
	say("topo dist_graph: dist %d in %d out %d weighted %d",
	    status == MPI_DIST_GRAPH, ni, no, w);
	neighbours(dg, "dist_graph", 2, 2);
	MPI_Comm_free(&dg);
}

/* --------------------------------------------------- intercommunicators */

static void
inter(void)
{
	MPI_Comm local, ic, merged;
	int low = rank < (size + 1) / 2, lr, rs, v[8], r[8], i, rc, root;

	if (size < 2)
		return;
	MPI_Comm_split(MPI_COMM_WORLD, low, rank, &local);
	MPI_Comm_rank(local, &lr);
	MPI_Intercomm_create(local, 0, MPI_COMM_WORLD, low ? (size + 1) / 2 :
	    0, 77, &ic);
	MPI_Comm_remote_size(ic, &rs);
	MPI_Comm_test_inter(ic, &i);
	say("inter: low %d local rank %d remote size %d inter %d", low, lr,
	    rs, i);
	/* Bcast from the low group's rank 0. */
	root = low ? (lr == 0 ? MPI_ROOT : MPI_PROC_NULL) : 0;
	v[0] = low ? 500 + rank : -1;
	rc = MPI_Bcast(v, 1, MPI_INT, root, ic);
	say("inter bcast: class %d value %d", cls(rc), v[0]);
	for (i = 0; i < 8; i++) {
		v[i] = rank * 10 + i;
		r[i] = -1;
	}
	rc = MPI_Allreduce(v, r, 2, MPI_INT, MPI_SUM, ic);
	say("inter allreduce: class %d", cls(rc));
	ints("inter allreduce", r, 2);
	rc = MPI_Allgather(v, 1, MPI_INT, r, 1, MPI_INT, ic);
	say("inter allgather: class %d", cls(rc));
	ints("inter allgather", r, rs);
	for (i = 0; i < 8; i++)
		r[i] = -1;
	rc = MPI_Alltoall(v, 1, MPI_INT, r, 1, MPI_INT, ic);
	say("inter alltoall: class %d", cls(rc));
	ints("inter alltoall", r, rs);
	for (i = 0; i < 8; i++)
		r[i] = -1;
	rc = MPI_Gather(v, 1, MPI_INT, r, 1, MPI_INT, low ? (lr == 0 ?
	    MPI_ROOT : MPI_PROC_NULL) : 0, ic);
	say("inter gather: class %d", cls(rc));
	if (low && lr == 0)
		ints("inter gather", r, rs);
	for (i = 0; i < 8; i++)
		r[i] = -1;
	rc = MPI_Reduce(v, r, 2, MPI_INT, MPI_MAX, low ? 0 : (lr == 0 ?
	    MPI_ROOT : MPI_PROC_NULL), ic);
	say("inter reduce: class %d", cls(rc));
	if (!low && lr == 0)
		ints("inter reduce", r, 2);
	/* Both groups scatter the same total: equal groups only. */
	if (size % 2 == 0) {
		rc = MPI_Reduce_scatter_block(v, r, 1, MPI_INT, MPI_SUM, ic);
		say("inter reduce_scatter_block: class %d", cls(rc));
		ints("inter reduce_scatter_block", r, 1);
	}
	rc = MPI_Barrier(ic);
	say("inter barrier: class %d", cls(rc));
	MPI_Intercomm_merge(ic, !low, &merged);
	MPI_Comm_rank(merged, &i);
	v[0] = rank;
	MPI_Allreduce(MPI_IN_PLACE, v, 1, MPI_INT, MPI_SUM, merged);
	say("inter merge: rank %d sum %d", i, v[0]);
	MPI_Comm_free(&merged);
	MPI_Comm_free(&ic);
	MPI_Comm_free(&local);
}

/* ----------------------------------------------------------- datatypes */

static void
types(void)
{
	MPI_Datatype sub, st_, res;
	int sizes[2] = { 4, 5 }, subs[2] = { 2, 3 }, starts[2] = { 1, 1 };
	int m[20], r[20], i, tsz, ni, na, nd, comb, pos, count;
	MPI_Aint lb, ext, tlb, text;
	char packed[256];
	MPI_Status st;

	MPI_Type_create_subarray(2, sizes, subs, starts, MPI_ORDER_C, MPI_INT,
	    &sub);
	MPI_Type_commit(&sub);
	MPI_Type_size(sub, &tsz);
	MPI_Type_get_extent(sub, &lb, &ext);
	MPI_Type_get_true_extent(sub, &tlb, &text);
	MPI_Type_get_envelope(sub, &ni, &na, &nd, &comb);
	say("type subarray: size %d lb %ld extent %ld true %ld %ld envelope "
	    "%d %d %d subarray %d", tsz, (long)lb, (long)ext, (long)tlb,
	    (long)text, ni, na, nd, comb == MPI_COMBINER_SUBARRAY);
	for (i = 0; i < 20; i++) {
		m[i] = rank * 100 + i;
		r[i] = -1;
	}
	fresh(&st);
	MPI_Sendrecv(m, 1, sub, right, 20, r, 1, sub, left, 20,
	    MPI_COMM_WORLD, &st);
	MPI_Get_count(&st, sub, &count);
	say("type subarray sendrecv: count %d", count);
	ints("type subarray data", r, 20);
	pos = 0;
	MPI_Pack(m, 1, sub, packed, sizeof(packed), &pos, MPI_COMM_WORLD);
	say("type pack: position %d", pos);
	MPI_Pack_size(3, sub, MPI_COMM_WORLD, &pos);
	say("type pack_size: ok %d", pos >= 3 * tsz);
	/* A struct received partially: elements of a (int, double). */
	{
		struct { int i; double d; } sv[3] = { { 1, 1.5 }, { 2, 2.5 },
		    { 3, 3.5 } }, rv[3];
		int bl[2] = { 1, 1 };
		MPI_Aint dsp[2] = { 0, sizeof(double) };
		MPI_Datatype tt[2] = { MPI_INT, MPI_DOUBLE };
		MPI_Count el = -1;

		MPI_Type_create_struct(2, bl, dsp, tt, &st_);
		MPI_Type_create_resized(st_, 0, sizeof(sv[0]), &res);
		MPI_Type_commit(&res);
		memset(rv, 0, sizeof(rv));
		fresh(&st);
		MPI_Sendrecv(sv, 2, res, rank, 21, rv, 3, res, rank, 21,
		    MPI_COMM_WORLD, &st);
		MPI_Get_count(&st, res, &count);
		MPI_Get_elements_x(&st, res, &el);
		say("type struct partial: count %d elements %lld", count,
		    (long long)el);
		MPI_Type_free(&res);
		MPI_Type_free(&st_);
	}
	MPI_Type_free(&sub);
}

int
main(int argc, char **argv)
{
	uint64_t sum = FNV_INIT;
	int rc, i;

	rank = ex_init(&argc, &argv, &size);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
	right = (rank + 1) % size;
	left = (rank - 1 + size) % size;
	p2p();
	coll_inplace();
	coll_zero();
	coll_errors();
	comms();
	attrs();
	errhandlers();
	topo();
	inter();
	types();
	sum = fnv(sum, log_, loglen);
	/* Every rank's log, in rank order. */
	if (rank == 0) {
		fputs(log_, stdout);
		for (i = 1; i < size; i++) {
			MPI_Status st;
			int n = 0;

			MPI_Probe(i, 31000, MPI_COMM_WORLD, &st);
			MPI_Get_count(&st, MPI_CHAR, &n);
			loglen = 0;
			MPI_Recv(log_, n, MPI_CHAR, i, 31000, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
			log_[n] = '\0';
			fputs(log_, stdout);
		}
		fflush(stdout);
	} else
		MPI_Send(log_, (int)loglen, MPI_CHAR, 0, 31000,
		    MPI_COMM_WORLD);
	rc = ex_finish("conform", sum);
	MPI_Finalize();
	return rc;
}
