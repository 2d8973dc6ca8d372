/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collectives on intra- and intercommunicators, blocking and nonblocking
 * (DESIGN.md §5).
 *
 * Every collective is one plan (struct esmpi_coll): the blocks this rank
 * sends are sealed at the start (once, for the one rank each is meant
 * for, or for ESMPI_REC_DST_ALL when every rank opens it), Open MPI's own
 * collective moves the records in units of UNIT bytes (counts and
 * displacements in units; v and w variants become v), and what arrives is opened,
 * or combined, when the movement completes: at once for a blocking call,
 * in the Wait/Test call that completes the request of a nonblocking one
 * (mpi/wait.c, through the request's operations). A rank's block for itself is copied locally, never sealed.
 *
 * Reductions: ciphertext cannot be combined, so sealed contributions are
 * moved with a data-movement collective and combined with
 * PMPI_Reduce_local in rank order (a0 op a1 op ... op aN-1), which makes
 * user-defined, non-commutative operations and every datatype work:
 *   Reduce                  Gather to root, root combines
 *   Allreduce, Scan, Exscan Allgather, every rank combines what it needs
 *   Reduce_scatter(_block)  Alltoall(v) of blocks, every rank combines its
 *                           own block
 *   Allreduce, large        Reduce_scatter of count/N blocks, then an
 *                           Allgatherv of the sealed results: every rank
 *                           seals and opens about 2 x count, not N x count
 *
 * Every record binds the communicator's collective sequence number
 * (c->coll_seq, taken when the call starts; MPI requires every rank to
 * start collectives on a communicator in the same order) and tag
 * ESMPI_COLL_TAG; a record moved to another collective, rank or
 * communicator does not open. A record that does not open is refused
 * (audit, one message, error handler); nothing unauthenticated reaches
 * the application's buffers.
 *
 * Intercommunicators: the same plans with blocks indexed by remote rank
 * and no own slot (a rank's data goes to the other group only); roots
 * are MPI_ROOT / MPI_PROC_NULL in the root's group. Reduce_scatter(_block)
 * there is the Allreduce plan (every rank receives the other group's
 * whole vectors) combining only this rank's slice of them; Scan and
 * Exscan are not defined there.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/mpi_layer.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"

#define CTAG ESMPI_COLL_TAG

/* Allreduce switches to reduce-scatter + allgather from this many bytes. */
#define ALLREDUCE_RSAG_MIN	(64 * 1024)

/*
 * Records move as elements of UNIT bytes (unit_type), each record padded
 * with zeros to a whole number of them: Open MPI's collectives count in
 * int, so bytes would stop at 2 GiB per block and per call, units at
 * INT_MAX x 64 bytes (128 GiB). Every rank pads alike (the length of a
 * record follows from its block), so both ends of every transfer agree.
 */
#define UNIT		64
static MPI_Datatype unit_type = MPI_DATATYPE_NULL;
static pthread_once_t unit_once = PTHREAD_ONCE_INIT;

static void
unit_init(void)
{
	MPI_Datatype t;

	if (PMPI_Type_contiguous(UNIT, MPI_BYTE, &t) == MPI_SUCCESS &&
	    PMPI_Type_commit(&t) == MPI_SUCCESS)
		unit_type = t;
}

/* MPI_Finalize: MPI counts a type still committed as a leak (MPICH
 * says so at exit). */
void
esmpi_coll_fini(void)
{
	if (unit_type != MPI_DATATYPE_NULL)
		PMPI_Type_free(&unit_type);
}

static size_t
units(size_t len)
{
	return (len + UNIT - 1) / UNIT;
}

enum { C_PASS, C_PROT, C_FAIL };

/*
 * The (count, datatype) pairs of a collective's arguments that MPI checks
 * before anything moves (esmpi_check_data; a pair unused: MPI_IN_PLACE,
 * or a v form's counts). Reductions check the operation first, as Open
 * MPI does (a null datatype is MPI_ERR_OP there).
 */
struct coll_args {
	int use[2];
	int count[2];
	MPI_Datatype dt[2];
	int reduce;
	MPI_Op op;
	/* A v or w form's count arrays (NULL: none), one count per remote
	 * rank (local: per local rank); at the root only when root_only
	 * (Gatherv, Scatterv: MPI_ROOT on an intercommunicator). */
	const int *vc[2];
	int local, root_only, root;
};
#define ARGS(u0, c0, t0, u1, c1, t1)					\
	ARGS_V((u0), (c0), (t0), (u1), (c1), (t1), NULL, NULL, 0, 0, 0)
#define ARGS_RED(c, t, o)						\
	(&(const struct coll_args){ { 1, 0 }, { (c), 0 },		\
	    { (t), MPI_DATATYPE_NULL }, 1, (o), { NULL, NULL }, 0, 0, 0 })
/* ARGS and count arrays v0, v1 (local: per local rank; root_only, root:
 * used at root only). */
#define ARGS_V(u0, c0, t0, u1, c1, t1, v0, v1, loc, ronly, rt)		\
	(&(const struct coll_args){ { (u0), (u1) }, { (c0), (c1) },	\
	    { (t0), (t1) }, 0, MPI_OP_NULL, { (v0), (v1) }, (loc),	\
	    (ronly), (rt) })

static int
args_check(const struct esmpi_comm *c, const struct coll_args *a)
{
	int i, rc;

	if (a->reduce && (a->op == MPI_OP_NULL ||
	    a->dt[0] == MPI_DATATYPE_NULL)) {
		PMPI_Comm_call_errhandler(esmpi_comm_handle(c), MPI_ERR_OP);
		return MPI_ERR_OP;
	}
	for (i = 0; i < 2; i++)
		if (a->use[i] && (rc = esmpi_check_data(c, NULL, a->count[i],
		    a->dt[i])) != MPI_SUCCESS)
			return rc;
	/* Open MPI refuses negative counts with MPI_ERR_COUNT; as records
	 * they would be no block at all. */
	if (a->root_only && !(c->is_inter ? a->root == MPI_ROOT :
	    a->root == c->rank))
		return MPI_SUCCESS;
	for (i = 0; i < 2; i++) {
		int r, n = a->local ? c->size : c->remote_size;

		for (r = 0; a->vc[i] != NULL && r < n; r++)
			if (a->vc[i][r] < 0)
				return esmpi_fail(esmpi_comm_handle(c),
				    MPI_ERR_COUNT, "collective: %s count "
				    "for rank %d is %d (negative)", i == 0 ?
				    "the first" : "the second", r,
				    a->vc[i][r]);
	}
	return MPI_SUCCESS;
}

/*
 * Prologue of every wrapper: C_PASS (call PMPI: not initialised, or an
 * intercommunicator the policy lets through for a collective esmpi does
 * not protect there), C_FAIL (*rc says why) or C_PROT with the state and
 * this call's collective sequence number (both groups of an
 * intercommunicator count its collectives alike).
 */
static int
enter(MPI_Comm comm, const char *inter_fn, int intra_only,
    const struct coll_args *a, struct esmpi_comm **cp, uint64_t *seq,
    int *rc)
{
	struct esmpi_comm *c;

	*rc = MPI_SUCCESS;
	if (esmpi.failed) {
		*rc = esmpi.err_init;
		return C_FAIL;
	}
	if (!esmpi.active)
		return (*rc = esmpi_check_started()) == MPI_SUCCESS ? C_PASS :
		    C_FAIL;
	/* MPI_COMM_NULL: Open MPI raises MPI_ERR_COMM, nothing moves. */
	if (comm == MPI_COMM_NULL)
		return C_PASS;
	if ((c = esmpi_comm_get(comm)) == NULL)
		return (*rc = esmpi_unkeyed(comm)) == MPI_SUCCESS ? C_PASS :
		    C_FAIL;
	if (c->is_inter && intra_only) {
		*rc = esmpi_unprotected_call(inter_fn);
		return *rc == MPI_SUCCESS ? C_PASS : C_FAIL;
	}
	/* Before the sequence number: an invalid call is no collective. */
	if (a != NULL && (*rc = args_check(c, a)) != MPI_SUCCESS)
		return C_FAIL;
	pthread_mutex_lock(&c->lock);
	*seq = ++c->coll_seq;
	pthread_mutex_unlock(&c->lock);
	*cp = c;
	return C_PROT;
}

/* The wrapper's name and its intercommunicator label (audited by
 * pointer: both must be literals). */
#define FN(name) name, name " (intercommunicator)"

#define PROLOGUE_IF(comm, intra_only, args, pmpi_call) do {		\
	int rc_;							\
	switch (enter((comm), inter_fn, (intra_only), (args), &c, &seq,	\
	    &rc_)) {							\
	case C_PASS:							\
		return pmpi_call;					\
	case C_FAIL:							\
		return rc_;						\
	}								\
} while (0)
#define PROLOGUE(comm, pmpi_call) PROLOGUE_IF(comm, 0, NULL, pmpi_call)
/* With the argument checks of args (ARGS, ARGS_RED). */
#define PROLOGUE_ARGS(comm, args, pmpi_call) \
	PROLOGUE_IF(comm, 0, args, pmpi_call)
/* Collectives esmpi does not protect on intercommunicators. */
#define PROLOGUE_INTRA(comm, args, pmpi_call) \
	PROLOGUE_IF(comm, 1, args, pmpi_call)

/* Blocking (req NULL) or nonblocking form of a PMPI collective. */
#define BOTH(iname, name, req, ...)					\
	((req) != NULL ? PMPI_##iname(__VA_ARGS__, (req)) :		\
	    PMPI_##name(__VA_ARGS__))


static MPI_Aint
extent_of(MPI_Datatype dt)
{
	MPI_Aint lb = 0, ext = 0;

	PMPI_Type_get_extent(dt, &lb, &ext);
	return ext;
}

/* Record bytes besides the plaintext: header and tag, and the sealing
 * rank's signature where the policy signs c's collectives. */
static size_t
ovh(const struct esmpi_comm *c)
{
	return ESMPI_REC_OVERHEAD + esmpi_sign_extra(c, CTAG);
}

/* Record bytes of a block of (count, dt). */
static int
rec_len(const struct esmpi_comm *c, int count, MPI_Datatype dt, size_t *len)
{
	size_t n;
	int r;

	if ((r = esmpi_msg_bytes(count, dt, &n)) != 0)
		return r;
	*len = n + ovh(c);
	return 0;
}

static int
seal_fail(struct esmpi_comm *c, const char *fn, int r)
{
	return esmpi_fail(esmpi_comm_handle(c), r == ESMPI_ERR_TOO_LARGE ? MPI_ERR_COUNT :
	    r == ESMPI_ERR_NOMEM ? MPI_ERR_NO_MEM : esmpi.err_internal,
	    "%s: cannot seal block: %s", fn, esmpi_strerror(r));
}

/* A valid root: a rank, or on an intercommunicator MPI_ROOT (this rank
 * is the root) or MPI_PROC_NULL (another rank of its group is). */
static int
root_ok(const struct esmpi_comm *c, int root)
{
	if (c->is_inter)
		return root == MPI_ROOT || root == MPI_PROC_NULL ||
		    (root >= 0 && root < c->remote_size);
	return root >= 0 && root < c->size;
}

/* Whether this rank is the root (and its own block's index there). */
static int
at_root(const struct esmpi_comm *c, int root)
{
	return c->is_inter ? root == MPI_ROOT : c->rank == root;
}

static int
root_fail(struct esmpi_comm *c, const char *fn, int root)
{
	return esmpi_fail(esmpi_comm_handle(c), MPI_ERR_ROOT, "%s: invalid root %d", fn,
	    root);
}

static int
nomem(struct esmpi_comm *c, const char *fn)
{
	return esmpi_fail(esmpi_comm_handle(c), MPI_ERR_NO_MEM, "%s: out of memory", fn);
}

static int
open_block(struct esmpi_comm *c, int src, uint32_t dst, uint64_t seq,
    const uint8_t *rec, size_t reclen, void *buf, int count, MPI_Datatype dt)
{
	size_t len;
	int r;

	r = esmpi_open_from(c, src, dst, CTAG, seq, rec, reclen, buf, count,
	    dt, &len);
	return r != 0 ? esmpi_refuse(c, src, CTAG, r) : MPI_SUCCESS;
}

/*
 * Copy (scount, stype) at sbuf to (rcount, rtype) at rbuf, as a message
 * to oneself would (matching type signatures; gaps of rbuf untouched).
 */
static int
local_copy(struct esmpi_comm *c, const void *sbuf, int scount,
    MPI_Datatype stype, void *rbuf, int rcount, MPI_Datatype rtype)
{
	MPI_Comm comm = esmpi_comm_handle(c);
	int rtsz = 0, rc = MPI_SUCCESS;
	size_t sbytes;
	MPI_Aint lb;
	uint8_t *tmp;

	if (scount <= 0 || rcount <= 0)
		return MPI_SUCCESS;
	if (sbuf == rbuf && scount == rcount && stype == rtype)
		return MPI_SUCCESS;
	if (scount == rcount && stype == rtype &&
	    esmpi_contig(scount, stype, &sbytes, &lb)) {
		memmove((char *)rbuf + lb, (const char *)sbuf + lb, sbytes);
		return MPI_SUCCESS;
	}
	if (esmpi_msg_bytes(scount, stype, &sbytes) != 0)
		return esmpi_fail(comm, MPI_ERR_COUNT, "collective: own block "
		    "too large");
	PMPI_Type_size(rtype, &rtsz);
	if (rtsz > 0 && sbytes > (size_t)rtsz * (size_t)rcount)
		return esmpi_fail(comm, MPI_ERR_TRUNCATE,
		    "collective: own block larger than its slot");
	/* Packed in pieces (any size), from the pool: no int limit. */
	if ((tmp = esmpi_pool_get(sbytes + 1)) == NULL)
		return nomem(c, "local copy");
	if (esmpi_pack(sbuf, scount, stype, tmp, comm) != 0)
		rc = esmpi_fail(comm, MPI_ERR_TYPE, "collective: cannot pack "
		    "the own block");
	else
		esmpi_unpack_into(tmp, sbytes, rbuf, rcount, rtype, comm);
	esmpi_memzero(tmp, sbytes);
	esmpi_pool_put(tmp, sbytes + 1);
	return rc;
}


static int
layout_fail(struct esmpi_comm *c, const char *fn, int r)
{
	return r == ESMPI_ERR_NOMEM ? nomem(c, fn) : esmpi_fail(esmpi_comm_handle(c),
	    MPI_ERR_COUNT, "%s: sealed blocks exceed what one collective can "
	    "move (%s)", fn, esmpi_strerror(r));
}

/* A typed temporary of count elements of dt (plaintext: wiped on free). */
struct tbuf {
	void *mem;
	size_t len;
	void *p;			/* where element 0 is, as for MPI */
};

/* The bytes count elements of dt touch: [buf + *lo, buf + *hi). */
static void
span_of(int count, MPI_Datatype dt, MPI_Aint *lo, MPI_Aint *hi)
{
	MPI_Aint tlb, text, lb, ext, span;

	PMPI_Type_get_true_extent(dt, &tlb, &text);
	PMPI_Type_get_extent(dt, &lb, &ext);
	span = count > 0 ? (MPI_Aint)(count - 1) * ext : 0;
	*lo = tlb + (span < 0 ? span : 0);
	*hi = tlb + text + (span > 0 ? span : 0);
}

static int
tbuf_alloc(struct tbuf *t, int count, MPI_Datatype dt)
{
	MPI_Aint lo, hi;

	span_of(count, dt, &lo, &hi);
	t->len = hi > lo ? (size_t)(hi - lo) : 1;
	if ((t->mem = malloc(t->len)) == NULL)
		return -1;
	t->p = (char *)t->mem - lo;
	return 0;
}

static void
tbuf_free(struct tbuf *t)
{
	if (t->mem != NULL)
		esmpi_freezero(t->mem, t->len);
	t->mem = NULL;
}


/* ------------------------------------------------------------ plans */

/* A block of user data; count < 0: no block. p NULL: a contribution to
 * a reduction (opened into a temporary, never into the user's buffer). */
struct blk {
	char *p;
	int count;
	MPI_Datatype dt;
};

/* Which PMPI collective moves the records. */
enum mv { MV_BCAST, MV_GATHER, MV_SCATTER, MV_ALLGATHER, MV_ALLTOALL,
	MV_NALLGATHER, MV_NALLTOALL };

/*
 * One protected collective: sb[i] is what this rank sends to rank i,
 * rb[i] what it receives from rank i. Record byte counts, displacements
 * and buffers live here because a nonblocking collective may use them
 * until it completes.
 *
 * Neighbourhood collectives index blocks by neighbour instead: speer[i]
 * and rpeer[i] are the comm ranks (or MPI_PROC_NULL), me is -1 (a rank
 * may be its own neighbour, through the records like any other), and a
 * block also binds socc[i]/rocc[i], which occurrence of that peer in the
 * list it is (see open_neighbour). Intercommunicators index blocks by
 * remote rank, me is -1 (no own slot), a reduction's own is NULL (only
 * the other group's data counts), and root may be MPI_ROOT (one record,
 * block 0) or MPI_PROC_NULL (nothing).
 */
struct esmpi_coll {
	struct esmpi_comm *c;
	const char *fn;
	uint64_t seq;
	enum mv mv;
	int v;				/* the v form of the PMPI call */
	int all;			/* one record, sealed for every rank */
	int inplace;			/* own record sealed into rrecs */
	int n, me, root;
	struct blk *sb, *rb;
	int *sbc, *sbd, *rbc, *rbd;	/* record units and displacements */
	int *speer, *rpeer, *socc, *rocc;	/* neighbourhood only */
	size_t *soff, *roff;		/* record offsets in srecs, rrecs */
	size_t *slen, *rlen;		/* record bytes (before padding) */
	uint8_t *srecs, *rrecs;
	size_t stotal, rtotal;
	/* Reductions: out = a[lo] op ... op a[hi], a[me] = own, a[i] the
	 * record from rank i. */
	int reduce;
	const void *own;
	void *out;
	int count, lo, hi;
	/* Intercommunicator Reduce_scatter: out is elements [skip, skip +
	 * part) of the result only (sliced). */
	int sliced, skip, part;
	MPI_Datatype dt;
	MPI_Op op;
	MPI_Datatype *held;		/* nonblocking: our duplicates */
	int nheld;
	int op_held;			/* nonblocking: esmpi_op_hold(op) taken */
	int failed;			/* sealing failed (ESMPI_ERR_*): moved
					 * records that cannot open */
};

static void coll_free(struct esmpi_coll *o);

/*
 * MPI lets the application free a user-defined operation while a
 * nonblocking reduction still needs it, and an MPI_Op cannot be
 * duplicated: a pending plan holds the operation here, MPI_Op_free of a
 * held one only nulls the application's handle, and the last plan to
 * let go frees it in Open MPI.
 */
struct op_hold {
	MPI_Op op;
	int plans;		/* pending plans holding op */
	int freed;		/* the application called MPI_Op_free */
};
static struct op_hold *op_holds;
static size_t op_nholds, op_cap;
static pthread_mutex_t op_lock = PTHREAD_MUTEX_INITIALIZER;

static int
op_predefined(MPI_Op op)
{
	static const MPI_Op ops[] = { MPI_MAX, MPI_MIN, MPI_SUM, MPI_PROD,
		MPI_LAND, MPI_BAND, MPI_LOR, MPI_BOR, MPI_LXOR, MPI_BXOR,
		MPI_MAXLOC, MPI_MINLOC, MPI_REPLACE, MPI_NO_OP };
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (op == ops[i])
			return 1;
	return op == MPI_OP_NULL;
}

/* 0 once op is held (nothing to hold for a predefined one: -1). */
int
esmpi_op_hold(MPI_Op op)
{
	struct op_hold *h;
	size_t i;
	int r = -1;

	if (op_predefined(op))
		return -1;
	pthread_mutex_lock(&op_lock);
	for (i = 0; i < op_nholds && op_holds[i].op != op; i++)
		;
	if (i == op_nholds && op_nholds == op_cap &&
	    (h = realloc(op_holds, (op_cap * 2 + 4) * sizeof(*h))) != NULL) {
		op_holds = h;
		op_cap = op_cap * 2 + 4;
	}
	if (i < op_nholds || op_nholds < op_cap) {
		if (i == op_nholds)
			op_holds[op_nholds++] = (struct op_hold){ op, 0, 0 };
		op_holds[i].plans++;
		r = 0;
	}
	pthread_mutex_unlock(&op_lock);
	return r;
}

void
esmpi_op_release(MPI_Op op)
{
	size_t i;
	int free_now = 0;

	pthread_mutex_lock(&op_lock);
	for (i = 0; i < op_nholds && op_holds[i].op != op; i++)
		;
	if (i < op_nholds && --op_holds[i].plans == 0) {
		free_now = op_holds[i].freed;
		op_holds[i] = op_holds[--op_nholds];
	}
	pthread_mutex_unlock(&op_lock);
	if (free_now)
		PMPI_Op_free(&op);
}

ESMPI_EXPORT int
MPI_Op_free(MPI_Op *op)
{
	size_t i;

	if (op != NULL) {
		pthread_mutex_lock(&op_lock);
		for (i = 0; i < op_nholds; i++)
			if (op_holds[i].op == *op && !op_holds[i].freed) {
				op_holds[i].freed = 1;
				pthread_mutex_unlock(&op_lock);
				*op = MPI_OP_NULL;
				return MPI_SUCCESS;
			}
		pthread_mutex_unlock(&op_lock);
	}
	return PMPI_Op_free(op);
}

static struct esmpi_coll *
plan_new(struct esmpi_comm *c, const char *fn, uint64_t seq, enum mv mv,
    int v, int nblocks)
{
	struct esmpi_coll *o;
	size_t n = (size_t)(nblocks > 0 ? nblocks : 1), i;

	if ((o = calloc(1, sizeof(*o))) == NULL)
		return NULL;
	o->sb = calloc(2 * n, sizeof(*o->sb));
	o->sbc = calloc(8 * n, sizeof(*o->sbc));
	o->soff = calloc(4 * n, sizeof(*o->soff));
	if (o->sb == NULL || o->sbc == NULL || o->soff == NULL) {
		coll_free(o);
		return NULL;
	}
	o->rb = o->sb + n;
	o->sbd = o->sbc + n;
	o->rbc = o->sbc + 2 * n;
	o->rbd = o->sbc + 3 * n;
	o->roff = o->soff + n;
	o->slen = o->soff + 2 * n;
	o->rlen = o->soff + 3 * n;
	if (mv == MV_NALLGATHER || mv == MV_NALLTOALL) {
		o->speer = o->sbc + 4 * n;
		o->rpeer = o->sbc + 5 * n;
		o->socc = o->sbc + 6 * n;
		o->rocc = o->sbc + 7 * n;
	}
	for (i = 0; i < 2 * n; i++)
		o->sb[i].count = -1;
	o->c = c;
	o->fn = fn;
	o->seq = seq;
	o->mv = mv;
	o->v = v;
	o->n = nblocks;
	o->me = o->speer != NULL || c->is_inter ? -1 : c->rank;
	return o;
}

static void
coll_free(struct esmpi_coll *o)
{
	if (o == NULL)
		return;
	esmpi_pool_put(o->srecs, o->stotal);
	esmpi_pool_put(o->rrecs, o->rtotal);
	while (o->nheld > 0)
		PMPI_Type_free(&o->held[--o->nheld]);
	if (o->op_held)
		esmpi_op_release(o->op);
	free(o->held);
	free(o->sb);
	free(o->sbc);
	free(o->soff);
	free(o);
}

static void
one(struct blk *b, const void *p, int count, MPI_Datatype dt)
{
	b->p = (char *)p;
	b->count = count;
	b->dt = dt;
}

/* Blocks 0..n-1 of base: counts[i] (or count) elements of dt at displs[i]
 * (or i * count) extents. */
static void
blocks(struct blk *b, int n, const void *base, int count, const int *counts,
    const int *displs, MPI_Datatype dt)
{
	MPI_Aint ext = extent_of(dt);
	int i;

	for (i = 0; i < n; i++)
		one(&b[i], (const char *)base + ext * (displs != NULL ?
		    (MPI_Aint)displs[i] : (MPI_Aint)i * count), counts != NULL ?
		    counts[i] : count, dt);
}

/* Record bytes, units and offsets of n blocks; int displacements (in
 * units) when v. */
static int
layout(const struct esmpi_comm *c, const struct blk *b, int n, int v,
    int *bc, int *bd, size_t *off, size_t *lens, size_t *total)
{
	size_t at = 0, len;
	int i, r;

	for (i = 0; i < n; i++) {
		off[i] = at;
		lens[i] = 0;
		bc[i] = bd[i] = 0;
		if (b[i].count < 0)
			continue;
		if ((r = rec_len(c, b[i].count, b[i].dt, &len)) != 0)
			return r;
		if (units(len) > INT_MAX || (v && at / UNIT > INT_MAX))
			return ESMPI_ERR_TOO_LARGE;
		lens[i] = len;
		bc[i] = (int)units(len);
		bd[i] = (int)(at / UNIT);
		at += units(len) * UNIT;
	}
	*total = at + 1;
	return 0;
}

/* The sequence number block i binds: the call's, and for a neighbour's
 * second, third, ... block in one collective, which one it is. */
static uint64_t
block_seq(const struct esmpi_coll *o, const int *occ, int i)
{
	return o->seq ^ (occ != NULL ? (uint64_t)occ[i] << 48 : 0);
}

/* Seal what leaves this rank: one record for all, or one per peer. The
 * own slot of a per-peer exchange goes to ourselves: zeroed, not sealed.
 * 0 or the first ESMPI_ERR_* (reported by the caller). */
static int
seal_blocks(struct esmpi_coll *o)
{
	struct esmpi_comm *c = o->c;
	int i, r;

	for (i = 0; i < o->n; i++) {
		const struct blk *b = &o->sb[i];
		int peer = o->speer != NULL ? o->speer[i] : i;

		uint8_t *at = o->inplace ? o->rrecs + o->roff[i] :
		    o->srecs + o->soff[i];

		if (b->count < 0)
			continue;
		if (o->all ? i != o->me && o->me >= 0 : i == o->me ||
		    peer == MPI_PROC_NULL) {
			memset(o->srecs + o->soff[i], 0,
			    (size_t)o->sbc[i] * UNIT);
			continue;
		}
		/* The padding moves too: zeros, not what the pool held. */
		memset(at + o->slen[i], 0, (size_t)o->sbc[i] * UNIT -
		    o->slen[i]);
		if ((r = esmpi_seal_into(c, b->p, b->count, b->dt, o->all ?
		    ESMPI_REC_DST_ALL : c->peer_world[peer], CTAG,
		    block_seq(o, o->socc, i), at)) != 0)
			return r;
	}
	return 0;
}

/* Run the PMPI collective on the records (nonblocking when req). */
static int
move(struct esmpi_coll *o, MPI_Request *req)
{
	MPI_Comm comm = o->c->comm;
	uint8_t *s = o->srecs, *r = o->rrecs;
	/* Intercommunicator roots: MPI_ROOT's one record is block 0;
	 * MPI_PROC_NULL moves nothing. */
	int me = o->me, root = o->root >= 0 ? o->root : 0;
	int at_root = o->root == MPI_ROOT || (me >= 0 && me == o->root);
	/* An intercommunicator's root sends or receives, never both. */
	void *ip = o->c->is_inter ? NULL : MPI_IN_PLACE;
	void *sp = at_root ? ip : s + o->soff[root];
	void *rp = at_root ? ip : r + o->roff[root];
	int sn = at_root ? 0 : o->sbc[root], rn = at_root ? 0 : o->rbc[root];
	MPI_Datatype U = unit_type;

	if (me < 0)
		me = 0;		/* no own slot: neighbours, intercomm */

	switch (o->mv) {
	case MV_BCAST:
		/* MPI_PROC_NULL moves nothing, but Open MPI's Ibcast counts a
		 * zero-byte call differently: no zero counts. */
		return BOTH(Ibcast, Bcast, req, at_root ? s + o->soff[root] :
		    rp, at_root ? o->sbc[root] : o->root == MPI_PROC_NULL ?
		    1 : rn, U, o->root, comm);
	case MV_GATHER:
		return o->v ? BOTH(Igatherv, Gatherv, req, sp, sn, U, r,
		    o->rbc, o->rbd, U, o->root, comm) :
		    BOTH(Igather, Gather, req, sp, sn, U, r,
		    o->rbc[me], U, o->root, comm);
	case MV_SCATTER:
		return o->v ? BOTH(Iscatterv, Scatterv, req, s, o->sbc,
		    o->sbd, U, rp, rn, U, o->root, comm) :
		    BOTH(Iscatter, Scatter, req, s, o->sbc[me], U, rp,
		    rn, U, o->root, comm);
	case MV_ALLGATHER:
		sp = o->inplace ? MPI_IN_PLACE : s + o->soff[me];
		return o->v ? BOTH(Iallgatherv, Allgatherv, req, sp,
		    o->sbc[me], U, r, o->rbc, o->rbd, U, comm) :
		    BOTH(Iallgather, Allgather, req, sp, o->sbc[me], U,
		    r, o->rbc[me], U, comm);
	case MV_ALLTOALL:
		return o->v ? BOTH(Ialltoallv, Alltoallv, req, s, o->sbc,
		    o->sbd, U, r, o->rbc, o->rbd, U, comm) :
		    BOTH(Ialltoall, Alltoall, req, s, o->sbc[me], U, r,
		    o->rbc[me], U, comm);
	case MV_NALLGATHER:
		return BOTH(Ineighbor_allgatherv, Neighbor_allgatherv, req, s,
		    o->sbc[0], U, r, o->rbc, o->rbd, U, comm);
	case MV_NALLTOALL:
		return BOTH(Ineighbor_alltoallv, Neighbor_alltoallv, req, s,
		    o->sbc, o->sbd, U, r, o->rbc, o->rbd, U,
		    comm);
	}
	return MPI_ERR_INTERN;
}

/*
 * out = a[lo] op a[lo+1] op ... op a[hi], where a[me] is own and a[i] the
 * record from rank i. Combined from the right, so non-commutative ops see
 * rank order.
 */
static int
combine(struct esmpi_coll *o)
{
	struct esmpi_comm *c = o->c;
	struct tbuf acc = { 0 }, tmp = { 0 };
	uint32_t dst = o->all ? ESMPI_REC_DST_ALL : c->my_world;
	int i, rc = MPI_SUCCESS, count = o->count, hi = o->hi, direct;
	MPI_Datatype dt = o->dt;
	/* The elements combined: all, or the slice out gets. */
	int n = o->sliced ? o->part : count;
	MPI_Aint lo, end, at = o->sliced ? o->skip * extent_of(dt) : 0;
	void *into;

	if (hi < o->lo)
		return MPI_SUCCESS;
	/* Accumulate in out itself unless own must stay intact there (or
	 * out holds only a slice of what a record opens to). */
	span_of(count, dt, &lo, &end);
	direct = o->sliced ? 0 : o->own == NULL ||
	    (const char *)o->own + end <= (char *)o->out + lo ||
	    (char *)o->out + end <= (const char *)o->own + lo ||
	    (o->own == o->out && o->me == hi);
	if (direct)
		acc.p = o->out;
	else if (tbuf_alloc(&acc, count, dt) != 0)
		goto nomem;
	if (hi > o->lo && tbuf_alloc(&tmp, count, dt) != 0)
		goto nomem;
	for (i = hi; i >= o->lo && rc == MPI_SUCCESS; i--) {
		into = i == hi ? acc.p : tmp.p;
		if (i != o->me)
			rc = open_block(c, i, dst, o->seq, o->rrecs +
			    o->roff[i], o->rlen[i], into, count, dt);
		else if (i == hi)
			rc = local_copy(c, o->own, count, dt, into, count, dt);
		if (rc == MPI_SUCCESS && i != hi)
			rc = PMPI_Reduce_local(i == o->me ? o->own :
			    (char *)tmp.p + at, (char *)acc.p + at, n, dt,
			    o->op);
	}
	if (rc == MPI_SUCCESS && !direct)
		rc = local_copy(c, (char *)acc.p + at, n, dt, o->out, n, dt);
	goto out;
nomem:
	rc = nomem(c, o->fn);
out:
	if (!direct)
		tbuf_free(&acc);
	tbuf_free(&tmp);
	return rc;
}

/*
 * Block i from a neighbour. When one peer sends this rank several blocks
 * in one collective (a periodic dimension of size 2, multigraph edges),
 * which of them lands in which slot is Open MPI's choice (its blocking
 * and nonblocking forms differ; MPI-3.1 left it open): the record may
 * carry any of that peer's occurrence numbers, this slot's first. It is
 * still bound to peer, destination, communicator and this collective.
 */
static int
open_neighbour(struct esmpi_coll *o, int i, uint32_t dst)
{
	int peer = o->rpeer[i], dups = 0, k, r = ESMPI_ERR_AUTH;
	size_t len;

	for (k = 0; k < o->n; k++)
		dups += o->rpeer[k] == peer;
	for (k = 0; k < dups && r != 0; k++)
		r = esmpi_open_from(o->c, peer, dst, CTAG, o->seq ^
		    ((uint64_t)((o->rocc[i] + k) % dups) << 48), o->rrecs +
		    o->roff[i], o->rlen[i], o->rb[i].p, o->rb[i].count,
		    o->rb[i].dt, &len);
	return r != 0 ? esmpi_refuse(o->c, peer, CTAG, r) : MPI_SUCCESS;
}

/* The completion step: open what arrived, or combine it. */
static int
coll_finish(struct esmpi_coll *o)
{
	uint32_t dst = o->all ? ESMPI_REC_DST_ALL : o->c->my_world;
	int i, rc = MPI_SUCCESS;

	if (o->failed)
		return seal_fail(o->c, o->fn, o->failed);
	if (o->reduce)
		return combine(o);
	for (i = 0; i < o->n && rc == MPI_SUCCESS; i++) {
		int peer = o->rpeer != NULL ? o->rpeer[i] : i;

		if (i == o->me || o->rb[i].count < 0 || peer == MPI_PROC_NULL)
			continue;
		if (o->rpeer != NULL && !o->all)
			rc = open_neighbour(o, i, dst);
		else
			rc = open_block(o->c, peer, dst, o->seq, o->rrecs +
			    o->roff[i], o->rlen[i], o->rb[i].p,
			    o->rb[i].count, o->rb[i].dt);
	}
	return rc;
}

/*
 * MPI lets the application free a datatype while a nonblocking operation
 * still uses it: a pending plan opens with its own duplicates of the
 * derived types it has yet to use (best effort: without memory, the
 * application's), and holds its reduction's operation (op_hold).
 */
static void
hold_types(struct esmpi_coll *o)
{
	MPI_Datatype last = MPI_DATATYPE_NULL, mine = MPI_DATATYPE_NULL, *t;
	int i, ni, na, nd, comb;

	for (i = -1; i < o->n; i++) {
		t = i < 0 ? (o->reduce ? &o->dt : NULL) :
		    (o->rb[i].count >= 0 ? &o->rb[i].dt : NULL);
		if (t == NULL || *t == MPI_DATATYPE_NULL)
			continue;
		if (*t == last) {
			*t = mine;
			continue;
		}
		if (PMPI_Type_get_envelope(*t, &ni, &na, &nd, &comb) !=
		    MPI_SUCCESS || comb == MPI_COMBINER_NAMED)
			continue;
		if (o->held == NULL && (o->held = calloc((size_t)o->n + 1,
		    sizeof(*o->held))) == NULL)
			return;
		if (PMPI_Type_dup(*t, &o->held[o->nheld]) != MPI_SUCCESS)
			continue;
		last = *t;
		*t = mine = o->held[o->nheld++];
	}
}

/* The operations of a nonblocking collective's request: its completion
 * opens or combines what moved. */
static int
req_complete(struct esmpi_req *r, MPI_Status *st)
{
	(void)st;
	return coll_finish(r->priv);
}

static void
req_free(struct esmpi_req *r)
{
	coll_free(r->priv);
}

static const struct esmpi_req_ops coll_ops = {
	.complete = req_complete,
	.free = req_free,
};

/* A started nonblocking collective: its request completes the plan. */
static int
track(struct esmpi_coll *o, MPI_Request *req)
{
	struct esmpi_req *r;
	int flag = 0, rc;

	/*
	 * Complete already (a communicator of one, say): Open MPI may hand
	 * out a shared, complete request that names no single operation,
	 * so it must not key an entry. Open now; Wait has nothing to do.
	 */
	if (PMPI_Request_get_status(*req, &flag, MPI_STATUS_IGNORE) ==
	    MPI_SUCCESS && flag)
		goto now;
	/* Completes on c even after MPI_Comm_free (the entry holds it). */
	if ((r = esmpi_req_new(o->c, &coll_ops)) == NULL)
		goto wait;
	hold_types(o);
	if (o->reduce)
		o->op_held = esmpi_op_hold(o->op) == 0;
	r->priv = o;
	r->comm = o->c->comm;
	r->handle = *req;
	r->active = 1;
	if (esmpi_req_add(r) == 0)
		return MPI_SUCCESS;
	r->priv = NULL;		/* o is completed below */
	esmpi_req_free(r);
wait:
	/* Cannot track it: complete it here rather than never open it. */
	PMPI_Wait(req, MPI_STATUS_IGNORE);
now:
	rc = coll_finish(o);
	coll_free(o);
	return rc;
}

/*
 * Seal, move, and open now (blocking) or at completion (req): the one
 * path of every protected collective. Consumes o.
 */
static int
run(struct esmpi_coll *o, MPI_Request *req)
{
	struct esmpi_comm *c = o->c;
	int r, rc;

	pthread_once(&unit_once, unit_init);
	if (unit_type == MPI_DATATYPE_NULL) {
		rc = esmpi_fail(esmpi_comm_handle(c), esmpi.err_internal,
		    "%s: cannot create the records' datatype", o->fn);
		goto out;
	}
	if ((r = layout(c, o->sb, o->n, o->v, o->sbc, o->sbd, o->soff,
	    o->slen, &o->stotal)) != 0 || (r = layout(c, o->rb, o->n, o->v,
	    o->rbc, o->rbd, o->roff, o->rlen, &o->rtotal)) != 0) {
		rc = layout_fail(c, o->fn, r);
		goto out;
	}
	/* A v exchange sends the own block nowhere: no bytes to ourselves. */
	if (o->v && o->mv == MV_ALLTOALL && o->me >= 0)
		o->sbc[o->me] = o->rbc[o->me] = 0;
	/* An allgather's own record is sealed where it is gathered: Open
	 * MPI need not copy it there (matching sizes only: an erroneous
	 * call keeps its own slot). */
	o->inplace = o->mv == MV_ALLGATHER && o->me >= 0 &&
	    o->sb[o->me].count >= 0 && o->slen[o->me] == o->rlen[o->me];
	if ((o->srecs = esmpi_pool_get(o->stotal)) == NULL ||
	    (o->rrecs = esmpi_pool_get(o->rtotal)) == NULL) {
		rc = nomem(c, o->fn);
		goto out;
	}
	if ((r = seal_blocks(o)) != 0) {
		/*
		 * The other ranks are in this collective already: take part
		 * with records that cannot open, so that they stop with an
		 * integrity failure rather than wait for ours. This rank says
		 * why once the records have moved (at completion when
		 * nonblocking: returning now could deadlock a valid program).
		 */
		memset(o->srecs, 0, o->stotal);
		memset(o->rrecs, 0, o->rtotal);
		o->failed = r;
	}
	/* The own block (not in place): copied now, never sealed. */
	if (!o->reduce && o->me >= 0 && o->sb[o->me].count >= 0 &&
	    o->rb[o->me].count >= 0 && (rc = local_copy(c, o->sb[o->me].p,
	    o->sb[o->me].count, o->sb[o->me].dt, o->rb[o->me].p,
	    o->rb[o->me].count, o->rb[o->me].dt)) != MPI_SUCCESS)
		goto out;
	if ((rc = move(o, req)) != MPI_SUCCESS)
		goto out;
	if (req != NULL)
		return track(o, req);
	rc = coll_finish(o);
out:
	coll_free(o);
	return rc;
}

/* plan_new over the communicator's ranks, or return MPI_ERR_NO_MEM. */
#define PLAN(o, mv, v) do {						\
	if (((o) = plan_new(c, fn, seq, (mv), (v), c->remote_size)) == NULL) \
		return nomem(c, fn);					\
} while (0)

/* ---------------------------------------------------- data movement */

static int
bcast(const char *fn, const char *inter_fn, void *buffer, int count,
    MPI_Datatype dt, int root, MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	struct esmpi_coll *o;
	uint64_t seq;

	PROLOGUE_ARGS(comm, ARGS(1, count, dt, 0, 0, MPI_BYTE),
	    BOTH(Ibcast, Bcast, req, buffer, count, dt, root,
	    comm));
	if (!root_ok(c, root))
		return root_fail(c, fn, root);
	PLAN(o, MV_BCAST, 0);
	o->all = 1;
	o->root = root;
	if (root >= 0)
		one(&o->rb[root], buffer, count, dt);
	if (at_root(c, root))
		one(&o->sb[root >= 0 ? root : 0], buffer, count, dt);
	return run(o, req);
}

/*
 * The v forms' counts and displacements matter at the root only; other
 * ranks may pass NULL. They still call the v form, which must reach Open
 * MPI as a v form too (Gatherv at the root, Gather elsewhere would never
 * match): V_COUNTS stands in for such NULLs, so counts != NULL means "v".
 */
static const int v_counts_unused[1];
#define V_COUNTS(p)	((p) != NULL ? (p) : v_counts_unused)

/* Gather(v): counts/displs NULL for the plain form. */
static int
gather(const char *fn, const char *inter_fn, const void *sendbuf,
    int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
    const int *counts, const int *displs, MPI_Datatype recvtype, int root,
    MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	struct esmpi_coll *o;
	uint64_t seq;
	int v = counts != NULL;

	PROLOGUE_ARGS(comm, ARGS_V(sendbuf != MPI_IN_PLACE, sendcount,
	    sendtype, 0, 0, MPI_BYTE, counts, NULL, 0, 1, root), v ?
	    BOTH(Igatherv, Gatherv, req, sendbuf,
	    sendcount,
	    sendtype, recvbuf, counts, displs, recvtype, root, comm) :
	    BOTH(Igather, Gather, req, sendbuf, sendcount, sendtype, recvbuf,
	    recvcount, recvtype, root, comm));
	if (!root_ok(c, root))
		return root_fail(c, fn, root);
	PLAN(o, MV_GATHER, v);
	o->root = root;
	if (at_root(c, root))
		blocks(o->rb, o->n, recvbuf, recvcount, counts, displs,
		    recvtype);
	if (root >= 0 && sendbuf == MPI_IN_PLACE)
		o->sb[root] = o->rb[root];
	else if (root >= 0)
		one(&o->sb[root], sendbuf, sendcount, sendtype);
	return run(o, req);
}

static int
scatter(const char *fn, const char *inter_fn, const void *sendbuf,
    int sendcount, const int *counts, const int *displs,
    MPI_Datatype sendtype, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	struct esmpi_coll *o;
	uint64_t seq;
	int v = counts != NULL;

	PROLOGUE_ARGS(comm, ARGS_V(recvbuf != MPI_IN_PLACE, recvcount,
	    recvtype, 0, 0, MPI_BYTE, counts, NULL, 0, 1, root), v ?
	    BOTH(Iscatterv, Scatterv, req, sendbuf,
	    counts,
	    displs, sendtype, recvbuf, recvcount, recvtype, root, comm) :
	    BOTH(Iscatter, Scatter, req, sendbuf, sendcount, sendtype,
	    recvbuf, recvcount, recvtype, root, comm));
	if (!root_ok(c, root))
		return root_fail(c, fn, root);
	PLAN(o, MV_SCATTER, v);
	o->root = root;
	if (at_root(c, root))
		blocks(o->sb, o->n, sendbuf, sendcount, counts, displs,
		    sendtype);
	if (root >= 0 && (recvbuf != MPI_IN_PLACE || !at_root(c, root)))
		one(&o->rb[root], recvbuf, recvcount, recvtype);
	return run(o, req);
}

static int
allgather(const char *fn, const char *inter_fn, const void *sendbuf,
    int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
    const int *counts, const int *displs, MPI_Datatype recvtype,
    MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	struct esmpi_coll *o;
	uint64_t seq;
	int v = counts != NULL;

	PROLOGUE_ARGS(comm, ARGS_V(sendbuf != MPI_IN_PLACE, sendcount,
	    sendtype, !v, recvcount, recvtype, counts, NULL, 0, 0, 0), v ?
	    BOTH(Iallgatherv, Allgatherv, req,
	    sendbuf,
	    sendcount, sendtype, recvbuf, counts, displs, recvtype, comm) :
	    BOTH(Iallgather, Allgather, req, sendbuf, sendcount, sendtype,
	    recvbuf, recvcount, recvtype, comm));
	PLAN(o, MV_ALLGATHER, v);
	o->all = 1;
	blocks(o->rb, o->n, recvbuf, recvcount, counts, displs, recvtype);
	/* Intercommunicator: no own slot, the one record is block 0. */
	if (sendbuf == MPI_IN_PLACE)
		o->sb[o->me] = o->rb[o->me];
	else
		one(&o->sb[o->me >= 0 ? o->me : 0], sendbuf, sendcount,
		    sendtype);
	return run(o, req);
}

/*
 * Alltoall, Alltoallv and Alltoallw: blocks described per rank (w: types
 * per rank, displacements in bytes). In place, what is sent is in
 * recvbuf, sealed before anything arrives there.
 */
struct a2a_side {
	const void *buf;
	int count;			/* plain form */
	const int *counts, *displs;	/* v and w forms */
	MPI_Datatype dt;
	const MPI_Datatype *dts;	/* w form */
	const MPI_Aint *adispls;	/* Neighbor_alltoallw: bytes */
};

static void
a2a_blocks(struct blk *b, int n, const struct a2a_side *s)
{
	int i;

	if (s->dts == NULL) {
		blocks(b, n, s->buf, s->count, s->counts, s->displs, s->dt);
		return;
	}
	for (i = 0; i < n; i++)
		one(&b[i], (const char *)s->buf + (s->adispls != NULL ?
		    s->adispls[i] : s->displs[i]), s->counts[i], s->dts[i]);
}

static int
alltoall_run(struct esmpi_comm *c, const char *fn, uint64_t seq,
    const struct a2a_side *snd, const struct a2a_side *rcv, int v,
    MPI_Request *req)
{
	struct esmpi_coll *o;

	PLAN(o, MV_ALLTOALL, v);
	a2a_blocks(o->rb, o->n, rcv);
	if (snd->buf == MPI_IN_PLACE)
		memcpy(o->sb, o->rb, (size_t)o->n * sizeof(*o->sb));
	else
		a2a_blocks(o->sb, o->n, snd);
	return run(o, req);
}

static int
alltoall(const char *fn, const char *inter_fn, const void *sendbuf,
    int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	uint64_t seq;
	struct a2a_side s = { sendbuf, sendcount, NULL, NULL, sendtype, NULL,
	    NULL };
	struct a2a_side r = { recvbuf, recvcount, NULL, NULL, recvtype, NULL,
	    NULL };

	PROLOGUE_ARGS(comm, ARGS(sendbuf != MPI_IN_PLACE, sendcount, sendtype,
	    1, recvcount, recvtype), BOTH(Ialltoall, Alltoall, req, sendbuf,
	    sendcount,
	    sendtype, recvbuf, recvcount, recvtype, comm));
	return alltoall_run(c, fn, seq, &s, &r, 0, req);
}

static int
alltoallv(const char *fn, const char *inter_fn, const void *sendbuf,
    const int *sendcounts, const int *sdispls, MPI_Datatype sendtype,
    void *recvbuf, const int *recvcounts, const int *rdispls,
    MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	uint64_t seq;
	struct a2a_side s = { sendbuf, 0, sendcounts, sdispls, sendtype, NULL,
	    NULL };
	struct a2a_side r = { recvbuf, 0, recvcounts, rdispls, recvtype, NULL,
	    NULL };

	PROLOGUE_ARGS(comm, ARGS_V(0, 0, MPI_BYTE, 0, 0, MPI_BYTE,
	    sendbuf != MPI_IN_PLACE ? sendcounts : NULL, recvcounts, 0, 0, 0),
	    BOTH(Ialltoallv, Alltoallv, req, sendbuf, sendcounts,
	    sdispls, sendtype, recvbuf, recvcounts, rdispls, recvtype, comm));
	return alltoall_run(c, fn, seq, &s, &r, 1, req);
}

static int
alltoallw(const char *fn, const char *inter_fn, const void *sendbuf,
    const int *sendcounts, const int *sdispls, const MPI_Datatype *sendtypes,
    void *recvbuf, const int *recvcounts, const int *rdispls,
    const MPI_Datatype *recvtypes, MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	uint64_t seq;
	struct a2a_side s = { sendbuf, 0, sendcounts, sdispls,
	    MPI_DATATYPE_NULL, sendtypes, NULL };
	struct a2a_side r = { recvbuf, 0, recvcounts, rdispls,
	    MPI_DATATYPE_NULL, recvtypes, NULL };

	PROLOGUE_ARGS(comm, ARGS_V(0, 0, MPI_BYTE, 0, 0, MPI_BYTE,
	    sendbuf != MPI_IN_PLACE ? sendcounts : NULL, recvcounts, 0, 0, 0),
	    BOTH(Ialltoallw, Alltoallw, req, sendbuf, sendcounts,
	    sdispls, sendtypes, recvbuf, recvcounts, rdispls, recvtypes,
	    comm));
	return alltoall_run(c, fn, seq, &s, &r, 1, req);
}

/* ------------------------------------------------------- reductions */

/* The reduction part of a plan: rank i contributes count elements. */
static void
reduction(struct esmpi_coll *o, const void *own, void *out, int count,
    MPI_Datatype dt, MPI_Op op, int hi)
{
	int i;

	o->reduce = 1;
	o->own = own;
	o->out = out;
	o->count = count;
	o->dt = dt;
	o->op = op;
	o->lo = 0;
	o->hi = hi;
	for (i = 0; i < o->n; i++)
		one(&o->rb[i], NULL, count, dt);
}

static int
reduce(const char *fn, const char *inter_fn, const void *sendbuf,
    void *recvbuf, int count, MPI_Datatype dt, MPI_Op op, int root,
    MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	struct esmpi_coll *o;
	uint64_t seq;
	const void *own = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;

	PROLOGUE_ARGS(comm, ARGS_RED(count, dt, op), BOTH(Ireduce, Reduce,
	    req, sendbuf, recvbuf, count,
	    dt, op, root, comm));
	if (!root_ok(c, root))
		return root_fail(c, fn, root);
	PLAN(o, MV_GATHER, 0);
	o->root = root;
	/* An intercommunicator's root combines the other group's data. */
	if (at_root(c, root))
		reduction(o, c->is_inter ? NULL : own, recvbuf, count, dt, op,
		    o->n - 1);
	else if (root >= 0)
		one(&o->sb[root], own, count, dt);
	return run(o, req);
}

/*
 * Allreduce, Scan and Exscan: every rank's contribution sealed for all,
 * allgathered; each rank combines a[0..hi] (hi: last rank, own rank, or
 * own rank - 1; Exscan leaves rank 0's recvbuf as it is).
 */
enum { RED_ALL, RED_SCAN, RED_EXSCAN };

static int
reduce_allgather(struct esmpi_comm *c, const char *fn, uint64_t seq,
    int kind, const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype dt, MPI_Op op, MPI_Request *req)
{
	struct esmpi_coll *o;
	const void *own = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;

	PLAN(o, MV_ALLGATHER, 0);
	o->all = 1;
	/* Intercommunicator (Allreduce only): the other group's data. */
	reduction(o, c->is_inter ? NULL : own, recvbuf, count, dt, op,
	    kind == RED_ALL ? o->n - 1 : kind == RED_SCAN ? o->me :
	    o->me - 1);
	one(&o->sb[o->me >= 0 ? o->me : 0], own, count, dt);
	return run(o, req);
}

/*
 * Reduce_scatter(_block): block j of every rank's input (counts[j]
 * elements, consecutive from in) is sealed for rank j and moved with one
 * Alltoall(v); each rank combines the blocks it received with its own
 * into out.
 */
static int
reduce_scatter_run(struct esmpi_comm *c, const char *fn, uint64_t seq,
    const void *in, void *out, const int counts[], MPI_Datatype dt,
    MPI_Op op, int v, MPI_Request *req)
{
	struct esmpi_coll *o;
	MPI_Aint ext = extent_of(dt), off = 0;
	int i;

	PLAN(o, MV_ALLTOALL, v);
	for (i = 0; i < o->n; i++) {
		one(&o->sb[i], (const char *)in + off * ext, counts[i], dt);
		off += counts[i];
	}
	reduction(o, o->sb[o->me].p, out, counts[o->me], dt, op, o->n - 1);
	return run(o, req);
}

/* Counts of n blocks: all count (Reduce_scatter_block), or count
 * elements split as evenly as possible (large Allreduce); NULL: no
 * memory. displs (optional) gets element displacements. */
static int *
split_counts(int n, int count, int even, int **displs)
{
	int *a = calloc((size_t)n * 2, sizeof(int)), i, at = 0;

	if (a == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		a[i] = even ? count / n + (i < count % n) : count;
		a[n + i] = at;
		at += a[i];
	}
	if (displs != NULL)
		*displs = a + n;
	return a;
}

/*
 * Intercommunicator Reduce_scatter(_block): each group's vectors (count
 * = the sum of this group's counts, the same in both groups) are
 * reduced, in remote rank order, and scattered over the other group.
 * The Allreduce plan moves them: every rank receives the other group's
 * whole vectors, opens each and combines only its own slice. No own
 * contribution, so no MPI_IN_PLACE (MPI does not allow it there).
 */
static int
reduce_scatter_inter(struct esmpi_comm *c, const char *fn, uint64_t seq,
    const void *sendbuf, void *recvbuf, const int *counts, int blockcount,
    MPI_Datatype dt, MPI_Op op, MPI_Request *req)
{
	struct esmpi_coll *o;
	long long total = 0, skip = 0;
	int i;

	if (sendbuf == MPI_IN_PLACE)
		return esmpi_fail(esmpi_comm_handle(c), MPI_ERR_BUFFER, "%s: MPI_IN_PLACE "
		    "on an intercommunicator", fn);
	for (i = 0; i < c->size; i++) {
		if (i == c->rank)
			skip = total;
		total += counts != NULL ? counts[i] : blockcount;
	}
	if (total > INT_MAX)
		return esmpi_fail(esmpi_comm_handle(c), MPI_ERR_COUNT, "%s: counts add up "
		    "to more than INT_MAX elements", fn);
	PLAN(o, MV_ALLGATHER, 0);
	o->all = 1;
	reduction(o, NULL, recvbuf, (int)total, dt, op, o->n - 1);
	o->sliced = 1;
	o->skip = (int)skip;
	o->part = counts != NULL ? counts[c->rank] : blockcount;
	one(&o->sb[0], sendbuf, (int)total, dt);
	return run(o, req);
}

static int
reduce_scatter(const char *fn, const char *inter_fn, const void *sendbuf,
    void *recvbuf, const int *counts, int blockcount, MPI_Datatype dt,
    MPI_Op op, MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	uint64_t seq;
	const void *in = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
	int *bc = NULL, rc;

	PROLOGUE_ARGS(comm, ARGS_V(0, 0, MPI_BYTE, 0, 0, MPI_BYTE, counts,
	    NULL, 1, 0, 0), counts != NULL ? BOTH(Ireduce_scatter,
	    Reduce_scatter, req, sendbuf, recvbuf, counts, dt, op, comm) :
	    BOTH(Ireduce_scatter_block, Reduce_scatter_block, req, sendbuf,
	    recvbuf, blockcount, dt, op, comm));
	if (c->is_inter)
		return reduce_scatter_inter(c, fn, seq, sendbuf, recvbuf,
		    counts, blockcount, dt, op, req);
	if (counts == NULL &&
	    (counts = bc = split_counts(c->size, blockcount, 0, NULL)) == NULL)
		return nomem(c, fn);
	rc = reduce_scatter_run(c, fn, seq, in, recvbuf, counts, dt, op,
	    bc == NULL, req);
	free(bc);
	return rc;
}

/*
 * Large blocking Allreduce: a Reduce_scatter of count/N-element blocks
 * (every rank combines one block, in rank order) then an Allgatherv of
 * the sealed results. Each rank seals and opens about 2 x count elements
 * and moves as much as a ring would, instead of N x count. The second
 * step takes its own collective sequence number, as every rank does.
 */
static int
allreduce_large(struct esmpi_comm *c, const char *fn, uint64_t seq,
    const void *sendbuf, void *recvbuf, int count, MPI_Datatype dt,
    MPI_Op op)
{
	struct esmpi_coll *o;
	const void *in = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
	MPI_Aint ext = extent_of(dt);
	int *counts, *displs, me = c->rank, rc;

	if ((counts = split_counts(c->size, count, 1, &displs)) == NULL)
		return nomem(c, fn);
	rc = reduce_scatter_run(c, fn, seq, in, (char *)recvbuf +
	    (MPI_Aint)displs[me] * ext, counts, dt, op, 1, NULL);
	if (rc != MPI_SUCCESS)
		goto out;
	pthread_mutex_lock(&c->lock);
	seq = ++c->coll_seq;
	pthread_mutex_unlock(&c->lock);
	if ((o = plan_new(c, fn, seq, MV_ALLGATHER, 1, c->size)) == NULL) {
		rc = nomem(c, fn);
		goto out;
	}
	o->all = 1;
	blocks(o->rb, o->n, recvbuf, 0, counts, displs, dt);
	o->sb[me] = o->rb[me];
	rc = run(o, NULL);
out:
	free(counts);
	return rc;
}

static int
allreduce(const char *fn, const char *inter_fn, const void *sendbuf,
    void *recvbuf, int count, MPI_Datatype dt, MPI_Op op, MPI_Comm comm,
    MPI_Request *req)
{
	struct esmpi_comm *c;
	uint64_t seq;
	size_t bytes = 0;

	PROLOGUE_ARGS(comm, ARGS_RED(count, dt, op), BOTH(Iallreduce,
	    Allreduce, req, sendbuf, recvbuf,
	    count, dt, op, comm));
	/* Same choice on every rank: count, type size and N agree. */
	if (req == NULL && !c->is_inter && c->size > 1 && count >= c->size &&
	    esmpi_msg_bytes(count, dt, &bytes) == 0 &&
	    bytes >= ALLREDUCE_RSAG_MIN)
		return allreduce_large(c, fn, seq, sendbuf, recvbuf, count,
		    dt, op);
	return reduce_allgather(c, fn, seq, RED_ALL, sendbuf, recvbuf, count,
	    dt, op, req);
}

static int
scan(const char *fn, const char *inter_fn, int kind, const void *sendbuf,
    void *recvbuf, int count, MPI_Datatype dt, MPI_Op op, MPI_Comm comm,
    MPI_Request *req)
{
	struct esmpi_comm *c;
	uint64_t seq;

	PROLOGUE_INTRA(comm, ARGS_RED(count, dt, op), kind == RED_SCAN ?
	    BOTH(Iscan, Scan, req, sendbuf,
	    recvbuf, count, dt, op, comm) : BOTH(Iexscan, Exscan, req,
	    sendbuf, recvbuf, count, dt, op, comm));
	return reduce_allgather(c, fn, seq, kind, sendbuf, recvbuf, count,
	    dt, op, req);
}

/* ---------------------------------------------------- neighbourhoods */

/*
 * Sources and destinations of comm's topology in the order neighbourhood
 * collectives use (Cartesian: per dimension the -1 then the +1
 * neighbour; MPI_PROC_NULL at a non-periodic edge), and which occurrence
 * of its peer each is. One allocation: *src (free it); MPI error or 0.
 */
static int
neighbours(struct esmpi_comm *c, const char *fn, int *nin, int **src,
    int **socc, int *nout, int **dst, int **docc)
{
	int kind = MPI_UNDEFINED, nd = 0, weighted = 0, d, i, j, *a;

	PMPI_Topo_test(c->comm, &kind);
	if (kind == MPI_CART)
		PMPI_Cartdim_get(c->comm, &nd), *nin = *nout = 2 * nd;
	else if (kind == MPI_GRAPH)
		PMPI_Graph_neighbors_count(c->comm, c->rank, nin), *nout = *nin;
	else if (kind == MPI_DIST_GRAPH)
		PMPI_Dist_graph_neighbors_count(c->comm, nin, nout, &weighted);
	else
		return esmpi_fail(esmpi_comm_handle(c), MPI_ERR_TOPOLOGY, "%s: the "
		    "communicator has no topology", fn);
	/* src, dst, their occurrences, and weights for dist graphs. */
	if ((a = calloc((size_t)(*nin + *nout + 1) * 3, sizeof(int))) == NULL)
		return nomem(c, fn);
	*src = a;
	*dst = a + *nin;
	*socc = *dst + *nout;
	*docc = *socc + *nin;
	if (kind == MPI_CART)
		for (d = 0; d < nd; d++)
			PMPI_Cart_shift(c->comm, d, 1, &(*src)[2 * d],
			    &(*src)[2 * d + 1]);
	if (kind == MPI_GRAPH)
		PMPI_Graph_neighbors(c->comm, c->rank, *nin, *src);
	if (kind != MPI_DIST_GRAPH)
		memcpy(*dst, *src, (size_t)*nout * sizeof(int));
	else
		PMPI_Dist_graph_neighbors(c->comm, *nin, *src, *docc + *nout,
		    *nout, *dst, *docc + *nout);
	for (i = 0; i < *nin; i++)
		for (j = 0; j < i; j++)
			(*socc)[i] += (*src)[j] == (*src)[i];
	for (i = 0; i < *nout; i++)
		for (j = 0; j < i; j++)
			(*docc)[i] += (*dst)[j] == (*dst)[i];
	return MPI_SUCCESS;
}

/* A plan over comm's neighbours: blocks max(in, out), peers set. */
static int
neighbour_plan(struct esmpi_comm *c, const char *fn, uint64_t seq,
    enum mv mv, struct esmpi_coll **op, int *nin, int *nout)
{
	struct esmpi_coll *o;
	int *src = NULL, *socc = NULL, *dst = NULL, *docc = NULL, rc, i;

	if ((rc = neighbours(c, fn, nin, &src, &socc, nout, &dst, &docc)) !=
	    MPI_SUCCESS)
		return rc;
	if ((o = plan_new(c, fn, seq, mv, 1, *nin > *nout ? *nin :
	    *nout)) == NULL) {
		free(src);
		return nomem(c, fn);
	}
	for (i = 0; i < o->n; i++) {
		o->rpeer[i] = i < *nin ? src[i] : MPI_PROC_NULL;
		o->rocc[i] = i < *nin ? socc[i] : 0;
		o->speer[i] = i < *nout ? dst[i] : MPI_PROC_NULL;
		o->socc[i] = i < *nout ? docc[i] : 0;
	}
	free(src);
	*op = o;
	return MPI_SUCCESS;
}

/* Neighbor_allgather(v): one record sealed for all out-neighbours. */
static int
neighbor_allgather(const char *fn, const char *inter_fn, const void *sendbuf,
    int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
    const int *counts, const int *displs, MPI_Datatype recvtype,
    MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	struct esmpi_coll *o;
	uint64_t seq;
	int nin, nout, rc;

	PROLOGUE(comm, counts != NULL ? BOTH(Ineighbor_allgatherv,
	    Neighbor_allgatherv, req, sendbuf, sendcount, sendtype, recvbuf,
	    counts, displs, recvtype, comm) : BOTH(Ineighbor_allgather,
	    Neighbor_allgather, req, sendbuf, sendcount, sendtype, recvbuf,
	    recvcount, recvtype, comm));
	if ((rc = neighbour_plan(c, fn, seq, MV_NALLGATHER, &o, &nin,
	    &nout)) != MPI_SUCCESS)
		return rc;
	o->all = 1;
	blocks(o->rb, nin, recvbuf, recvcount, counts, displs, recvtype);
	one(&o->sb[0], sendbuf, sendcount, sendtype);
	return run(o, req);
}

static int
neighbor_a2a_run(struct esmpi_comm *c, const char *fn, uint64_t seq,
    const struct a2a_side *snd, const struct a2a_side *rcv,
    MPI_Request *req)
{
	struct esmpi_coll *o;
	int nin, nout, rc;

	if ((rc = neighbour_plan(c, fn, seq, MV_NALLTOALL, &o, &nin,
	    &nout)) != MPI_SUCCESS)
		return rc;
	a2a_blocks(o->rb, nin, rcv);
	a2a_blocks(o->sb, nout, snd);
	return run(o, req);
}

static int
neighbor_alltoall(const char *fn, const char *inter_fn, const void *sendbuf,
    int sendcount, MPI_Datatype sendtype, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	uint64_t seq;
	struct a2a_side s = { sendbuf, sendcount, NULL, NULL, sendtype, NULL,
	    NULL };
	struct a2a_side r = { recvbuf, recvcount, NULL, NULL, recvtype, NULL,
	    NULL };

	PROLOGUE(comm, BOTH(Ineighbor_alltoall, Neighbor_alltoall, req,
	    sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm));
	return neighbor_a2a_run(c, fn, seq, &s, &r, req);
}

static int
neighbor_alltoallv(const char *fn, const char *inter_fn, const void *sendbuf,
    const int *sendcounts, const int *sdispls, MPI_Datatype sendtype,
    void *recvbuf, const int *recvcounts, const int *rdispls,
    MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *req)
{
	struct esmpi_comm *c;
	uint64_t seq;
	struct a2a_side s = { sendbuf, 0, sendcounts, sdispls, sendtype, NULL,
	    NULL };
	struct a2a_side r = { recvbuf, 0, recvcounts, rdispls, recvtype, NULL,
	    NULL };

	PROLOGUE(comm, BOTH(Ineighbor_alltoallv, Neighbor_alltoallv, req,
	    sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts,
	    rdispls, recvtype, comm));
	return neighbor_a2a_run(c, fn, seq, &s, &r, req);
}

static int
neighbor_alltoallw(const char *fn, const char *inter_fn, const void *sendbuf,
    const int *sendcounts, const MPI_Aint *sdispls,
    const MPI_Datatype *sendtypes, void *recvbuf, const int *recvcounts,
    const MPI_Aint *rdispls, const MPI_Datatype *recvtypes, MPI_Comm comm,
    MPI_Request *req)
{
	struct esmpi_comm *c;
	uint64_t seq;
	struct a2a_side s = { sendbuf, 0, sendcounts, NULL, MPI_DATATYPE_NULL,
	    sendtypes, sdispls };
	struct a2a_side r = { recvbuf, 0, recvcounts, NULL, MPI_DATATYPE_NULL,
	    recvtypes, rdispls };

	PROLOGUE(comm, BOTH(Ineighbor_alltoallw, Neighbor_alltoallw, req,
	    sendbuf, sendcounts, sdispls, sendtypes, recvbuf, recvcounts,
	    rdispls, recvtypes, comm));
	return neighbor_a2a_run(c, fn, seq, &s, &r, req);
}

/* -------------------------------------------------- MPI entry points */

ESMPI_EXPORT int
MPI_Bcast(void *buffer, int count, MPI_Datatype datatype, int root,
    MPI_Comm comm)
{
	return bcast(FN("MPI_Bcast"), buffer, count, datatype, root, comm,
	    NULL);
}

ESMPI_EXPORT int
MPI_Ibcast(void *buffer, int count, MPI_Datatype datatype, int root,
    MPI_Comm comm, MPI_Request *request)
{
	return bcast(FN("MPI_Ibcast"), buffer, count, datatype, root, comm,
	    request);
}

ESMPI_EXPORT int
MPI_Gather(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, int root,
    MPI_Comm comm)
{
	return gather(FN("MPI_Gather"), sendbuf, sendcount, sendtype, recvbuf,
	    recvcount, NULL, NULL, recvtype, root, comm, NULL);
}

ESMPI_EXPORT int
MPI_Igather(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, int root,
    MPI_Comm comm, MPI_Request *request)
{
	return gather(FN("MPI_Igather"), sendbuf, sendcount, sendtype,
	    recvbuf, recvcount, NULL, NULL, recvtype, root, comm, request);
}

ESMPI_EXPORT int
MPI_Gatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, const int recvcounts[], const int displs[],
    MPI_Datatype recvtype, int root, MPI_Comm comm)
{
	return gather(FN("MPI_Gatherv"), sendbuf, sendcount, sendtype,
	    recvbuf, 0, V_COUNTS(recvcounts), displs, recvtype, root, comm,
	    NULL);
}

ESMPI_EXPORT int
MPI_Igatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, const int recvcounts[], const int displs[],
    MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Request *request)
{
	return gather(FN("MPI_Igatherv"), sendbuf, sendcount, sendtype,
	    recvbuf, 0, V_COUNTS(recvcounts), displs, recvtype, root, comm,
	    request);
}

ESMPI_EXPORT int
MPI_Scatter(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, int root,
    MPI_Comm comm)
{
	return scatter(FN("MPI_Scatter"), sendbuf, sendcount, NULL, NULL,
	    sendtype, recvbuf, recvcount, recvtype, root, comm, NULL);
}

ESMPI_EXPORT int
MPI_Iscatter(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, int root,
    MPI_Comm comm, MPI_Request *request)
{
	return scatter(FN("MPI_Iscatter"), sendbuf, sendcount, NULL, NULL,
	    sendtype, recvbuf, recvcount, recvtype, root, comm, request);
}

ESMPI_EXPORT int
MPI_Scatterv(const void *sendbuf, const int sendcounts[], const int displs[],
    MPI_Datatype sendtype, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, int root, MPI_Comm comm)
{
	return scatter(FN("MPI_Scatterv"), sendbuf, 0, V_COUNTS(sendcounts),
	    displs, sendtype, recvbuf, recvcount, recvtype, root, comm, NULL);
}

ESMPI_EXPORT int
MPI_Iscatterv(const void *sendbuf, const int sendcounts[],
    const int displs[], MPI_Datatype sendtype, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, int root, MPI_Comm comm, MPI_Request *request)
{
	return scatter(FN("MPI_Iscatterv"), sendbuf, 0, V_COUNTS(sendcounts),
	    displs, sendtype, recvbuf, recvcount, recvtype, root, comm,
	    request);
}

ESMPI_EXPORT int
MPI_Allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm)
{
	return allgather(FN("MPI_Allgather"), sendbuf, sendcount, sendtype,
	    recvbuf, recvcount, NULL, NULL, recvtype, comm, NULL);
}

ESMPI_EXPORT int
MPI_Iallgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm,
    MPI_Request *request)
{
	return allgather(FN("MPI_Iallgather"), sendbuf, sendcount, sendtype,
	    recvbuf, recvcount, NULL, NULL, recvtype, comm, request);
}

ESMPI_EXPORT int
MPI_Allgatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, const int recvcounts[], const int displs[],
    MPI_Datatype recvtype, MPI_Comm comm)
{
	return allgather(FN("MPI_Allgatherv"), sendbuf, sendcount, sendtype,
	    recvbuf, 0, recvcounts, displs, recvtype, comm, NULL);
}

ESMPI_EXPORT int
MPI_Iallgatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, const int recvcounts[], const int displs[],
    MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request)
{
	return allgather(FN("MPI_Iallgatherv"), sendbuf, sendcount, sendtype,
	    recvbuf, 0, recvcounts, displs, recvtype, comm, request);
}

ESMPI_EXPORT int
MPI_Alltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm)
{
	return alltoall(FN("MPI_Alltoall"), sendbuf, sendcount, sendtype,
	    recvbuf, recvcount, recvtype, comm, NULL);
}

ESMPI_EXPORT int
MPI_Ialltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm,
    MPI_Request *request)
{
	return alltoall(FN("MPI_Ialltoall"), sendbuf, sendcount, sendtype,
	    recvbuf, recvcount, recvtype, comm, request);
}

ESMPI_EXPORT int
MPI_Alltoallv(const void *sendbuf, const int sendcounts[],
    const int sdispls[], MPI_Datatype sendtype, void *recvbuf,
    const int recvcounts[], const int rdispls[], MPI_Datatype recvtype,
    MPI_Comm comm)
{
	return alltoallv(FN("MPI_Alltoallv"), sendbuf, sendcounts, sdispls,
	    sendtype, recvbuf, recvcounts, rdispls, recvtype, comm, NULL);
}

ESMPI_EXPORT int
MPI_Ialltoallv(const void *sendbuf, const int sendcounts[],
    const int sdispls[], MPI_Datatype sendtype, void *recvbuf,
    const int recvcounts[], const int rdispls[], MPI_Datatype recvtype,
    MPI_Comm comm, MPI_Request *request)
{
	return alltoallv(FN("MPI_Ialltoallv"), sendbuf, sendcounts, sdispls,
	    sendtype, recvbuf, recvcounts, rdispls, recvtype, comm, request);
}

ESMPI_EXPORT int
MPI_Alltoallw(const void *sendbuf, const int sendcounts[],
    const int sdispls[], const MPI_Datatype sendtypes[], void *recvbuf,
    const int recvcounts[], const int rdispls[],
    const MPI_Datatype recvtypes[], MPI_Comm comm)
{
	return alltoallw(FN("MPI_Alltoallw"), sendbuf, sendcounts, sdispls,
	    sendtypes, recvbuf, recvcounts, rdispls, recvtypes, comm, NULL);
}

ESMPI_EXPORT int
MPI_Ialltoallw(const void *sendbuf, const int sendcounts[],
    const int sdispls[], const MPI_Datatype sendtypes[], void *recvbuf,
    const int recvcounts[], const int rdispls[],
    const MPI_Datatype recvtypes[], MPI_Comm comm, MPI_Request *request)
{
	return alltoallw(FN("MPI_Ialltoallw"), sendbuf, sendcounts, sdispls,
	    sendtypes, recvbuf, recvcounts, rdispls, recvtypes, comm,
	    request);
}

ESMPI_EXPORT int
MPI_Reduce(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, int root, MPI_Comm comm)
{
	return reduce(FN("MPI_Reduce"), sendbuf, recvbuf, count, datatype,
	    op, root, comm, NULL);
}

ESMPI_EXPORT int
MPI_Ireduce(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, int root, MPI_Comm comm,
    MPI_Request *request)
{
	return reduce(FN("MPI_Ireduce"), sendbuf, recvbuf, count, datatype,
	    op, root, comm, request);
}

ESMPI_EXPORT int
MPI_Allreduce(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, MPI_Comm comm)
{
	return allreduce(FN("MPI_Allreduce"), sendbuf, recvbuf, count,
	    datatype, op, comm, NULL);
}

ESMPI_EXPORT int
MPI_Iallreduce(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, MPI_Comm comm, MPI_Request *request)
{
	return allreduce(FN("MPI_Iallreduce"), sendbuf, recvbuf, count,
	    datatype, op, comm, request);
}

ESMPI_EXPORT int
MPI_Scan(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, MPI_Comm comm)
{
	return scan(FN("MPI_Scan"), RED_SCAN, sendbuf, recvbuf, count,
	    datatype, op, comm, NULL);
}

ESMPI_EXPORT int
MPI_Iscan(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, MPI_Comm comm, MPI_Request *request)
{
	return scan(FN("MPI_Iscan"), RED_SCAN, sendbuf, recvbuf, count,
	    datatype, op, comm, request);
}

ESMPI_EXPORT int
MPI_Exscan(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, MPI_Comm comm)
{
	return scan(FN("MPI_Exscan"), RED_EXSCAN, sendbuf, recvbuf, count,
	    datatype, op, comm, NULL);
}

ESMPI_EXPORT int
MPI_Iexscan(const void *sendbuf, void *recvbuf, int count,
    MPI_Datatype datatype, MPI_Op op, MPI_Comm comm, MPI_Request *request)
{
	return scan(FN("MPI_Iexscan"), RED_EXSCAN, sendbuf, recvbuf, count,
	    datatype, op, comm, request);
}

ESMPI_EXPORT int
MPI_Reduce_scatter(const void *sendbuf, void *recvbuf,
    const int recvcounts[], MPI_Datatype datatype, MPI_Op op, MPI_Comm comm)
{
	return reduce_scatter(FN("MPI_Reduce_scatter"), sendbuf, recvbuf,
	    recvcounts, 0, datatype, op, comm, NULL);
}

ESMPI_EXPORT int
MPI_Ireduce_scatter(const void *sendbuf, void *recvbuf,
    const int recvcounts[], MPI_Datatype datatype, MPI_Op op, MPI_Comm comm,
    MPI_Request *request)
{
	return reduce_scatter(FN("MPI_Ireduce_scatter"), sendbuf, recvbuf,
	    recvcounts, 0, datatype, op, comm, request);
}

ESMPI_EXPORT int
MPI_Reduce_scatter_block(const void *sendbuf, void *recvbuf, int recvcount,
    MPI_Datatype datatype, MPI_Op op, MPI_Comm comm)
{
	return reduce_scatter(FN("MPI_Reduce_scatter_block"), sendbuf,
	    recvbuf, NULL, recvcount, datatype, op, comm, NULL);
}

ESMPI_EXPORT int
MPI_Ireduce_scatter_block(const void *sendbuf, void *recvbuf,
    int recvcount, MPI_Datatype datatype, MPI_Op op, MPI_Comm comm,
    MPI_Request *request)
{
	return reduce_scatter(FN("MPI_Ireduce_scatter_block"), sendbuf,
	    recvbuf, NULL, recvcount, datatype, op, comm, request);
}

ESMPI_EXPORT int
MPI_Neighbor_allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm)
{
	return neighbor_allgather(FN("MPI_Neighbor_allgather"), sendbuf,
	    sendcount, sendtype, recvbuf, recvcount, NULL, NULL, recvtype, comm,
	    NULL);
}

ESMPI_EXPORT int
MPI_Neighbor_allgatherv(const void *sendbuf, int sendcount,
    MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
    const int displs[], MPI_Datatype recvtype, MPI_Comm comm)
{
	return neighbor_allgather(FN("MPI_Neighbor_allgatherv"), sendbuf,
	    sendcount, sendtype, recvbuf, 0, recvcounts, displs, recvtype,
	    comm, NULL);
}

ESMPI_EXPORT int
MPI_Neighbor_alltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm)
{
	return neighbor_alltoall(FN("MPI_Neighbor_alltoall"), sendbuf,
	    sendcount, sendtype, recvbuf, recvcount, recvtype, comm, NULL);
}

ESMPI_EXPORT int
MPI_Neighbor_alltoallv(const void *sendbuf, const int sendcounts[],
    const int sdispls[], MPI_Datatype sendtype, void *recvbuf,
    const int recvcounts[], const int rdispls[], MPI_Datatype recvtype,
    MPI_Comm comm)
{
	return neighbor_alltoallv(FN("MPI_Neighbor_alltoallv"), sendbuf,
	    sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls,
	    recvtype, comm, NULL);
}

ESMPI_EXPORT int
MPI_Neighbor_alltoallw(const void *sendbuf, const int sendcounts[],
    const MPI_Aint sdispls[], const MPI_Datatype sendtypes[], void *recvbuf,
    const int recvcounts[], const MPI_Aint rdispls[],
    const MPI_Datatype recvtypes[], MPI_Comm comm)
{
	return neighbor_alltoallw(FN("MPI_Neighbor_alltoallw"), sendbuf,
	    sendcounts, sdispls, sendtypes, recvbuf, recvcounts, rdispls,
	    recvtypes, comm, NULL);
}

ESMPI_EXPORT int
MPI_Ineighbor_allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request)
{
	return neighbor_allgather(FN("MPI_Ineighbor_allgather"), sendbuf,
	    sendcount, sendtype, recvbuf, recvcount, NULL, NULL, recvtype, comm,
	    request);
}

ESMPI_EXPORT int
MPI_Ineighbor_allgatherv(const void *sendbuf, int sendcount,
    MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
    const int displs[], MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request)
{
	return neighbor_allgather(FN("MPI_Ineighbor_allgatherv"), sendbuf,
	    sendcount, sendtype, recvbuf, 0, recvcounts, displs, recvtype,
	    comm, request);
}

ESMPI_EXPORT int
MPI_Ineighbor_alltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    void *recvbuf, int recvcount, MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request)
{
	return neighbor_alltoall(FN("MPI_Ineighbor_alltoall"), sendbuf,
	    sendcount, sendtype, recvbuf, recvcount, recvtype, comm, request);
}

ESMPI_EXPORT int
MPI_Ineighbor_alltoallv(const void *sendbuf, const int sendcounts[],
    const int sdispls[], MPI_Datatype sendtype, void *recvbuf,
    const int recvcounts[], const int rdispls[], MPI_Datatype recvtype,
    MPI_Comm comm, MPI_Request *request)
{
	return neighbor_alltoallv(FN("MPI_Ineighbor_alltoallv"), sendbuf,
	    sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls,
	    recvtype, comm, request);
}

ESMPI_EXPORT int
MPI_Ineighbor_alltoallw(const void *sendbuf, const int sendcounts[],
    const MPI_Aint sdispls[], const MPI_Datatype sendtypes[], void *recvbuf,
    const int recvcounts[], const MPI_Aint rdispls[],
    const MPI_Datatype recvtypes[], MPI_Comm comm, MPI_Request *request)
{
	return neighbor_alltoallw(FN("MPI_Ineighbor_alltoallw"), sendbuf,
	    sendcounts, sdispls, sendtypes, recvbuf, recvcounts, rdispls,
	    recvtypes, comm, request);
}
