/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Large point-to-point messages in chunks (DESIGN §4). A contiguous
 * standard-mode send of esmpi.chunk_min bytes or more travels as
 *
 *   - a head (esmpi_rec_seal_head: the header alone, 36 bytes) on the
 *     application's communicator and tag, which is what MPI matches;
 *   - the payload as chunk records of ESMPI_CHUNK_REC bytes, sealed one
 *     after the other and sent as each is ready, on a private duplicate
 *     of MPI_COMM_WORLD with a tag derived from (context, head seq).
 *
 * So sealing chunk i+1 overlaps the peer copying and opening chunk i, and
 * a chunk stays in the cache between the copy and the open. Chunk i has
 * seq head+i under the head's key and its AAD names the head's seq: a
 * chunk of another message, or a reordered one, does not open.
 *
 * Probes cannot tell a head's message size by its size: mpi/stash.c
 * receives heads that probes find.
 */
#include <stdlib.h>
#include <string.h>

#include "record/record.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"

#define CHUNK_PT	ESMPI_CHUNK_PT
#define CHUNK_AHEAD	2	/* receives posted ahead of the one opened */

size_t
esmpi_chunk_count(size_t n)
{
	return (n + CHUNK_PT - 1) / CHUNK_PT;
}

size_t
esmpi_chunk_len(size_t n, size_t i)
{
	return i + 1 < esmpi_chunk_count(n) ? CHUNK_PT : n - i * CHUNK_PT;
}

/* The chunks' tag: both sides know (context, head seq). */
int
esmpi_chunk_tag(uint64_t ctx, uint64_t seq)
{
	uint64_t x = ctx ^ (seq * 0x9e3779b97f4a7c15ull);

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return (int)(x % ((uint64_t)esmpi.chunk_tag_ub + 1));
}

int
esmpi_chunk_init(void)
{
	const char *v = getenv("ESMPI_CHUNK_MIN");
	int *ub, flag = 0;

	esmpi.chunk_comm = MPI_COMM_NULL;
	esmpi.chunk_min = ESMPI_CHUNK_MIN_DEFAULT;
	if (v != NULL && *v != '\0')
		esmpi.chunk_min = strtoull(v, NULL, 10);
	if (esmpi.chunk_min != 0 && esmpi.chunk_min < ESMPI_CHUNK_REC)
		esmpi.chunk_min = ESMPI_CHUNK_REC;
	esmpi.chunk_tag_ub = 32767;	/* the least MPI promises */
	if (PMPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ub, &flag) ==
	    MPI_SUCCESS && flag && *ub > 0)
		esmpi.chunk_tag_ub = *ub;
	/* Local operations: no communication beyond MPI's own context id. */
	if (PMPI_Comm_dup(MPI_COMM_WORLD, &esmpi.chunk_comm) != MPI_SUCCESS)
		return ESMPI_ERR_INTERNAL;
	PMPI_Comm_set_errhandler(esmpi.chunk_comm, MPI_ERRORS_RETURN);
	return 0;
}

void
esmpi_chunk_fini(void)
{
	esmpi_chunk_reap(1);
	if (esmpi.chunk_comm != MPI_COMM_NULL)
		PMPI_Comm_free(&esmpi.chunk_comm);
	esmpi.chunk_min = 0;
}

/* Whether a send of count dt may be large enough for chunks: a small send
 * of a predefined type pays for no more than this. */
int
esmpi_chunk_worth(int count, MPI_Datatype dt)
{
	int tsz;

	if (esmpi.chunk_min == 0 || count <= 0)
		return 0;
	tsz = esmpi_predefined_size(dt);
	return tsz < 0 || (size_t)tsz * (size_t)count >= esmpi.chunk_min;
}

/* ---- sending ---- */

/*
 * One chunked send: its head, its chunk records in one buffer, and the
 * requests moving them. A nonblocking send's last chunk is the request
 * the application holds; the rest fly on until they complete, and the
 * buffer goes when both are done (esmpi_chunk_reap).
 */
struct flight {
	struct flight *next;
	uint32_t dst;
	int tag;
	int nreq;
	int app_pending;		/* the application's request is live */
	MPI_Request *reqs;
	uint8_t *blk;
	size_t blklen;
	uint8_t head[ESMPI_REC_HEAD_LEN];
};
static struct flight *flights;

static void
flight_free(struct flight *f)
{
	esmpi_pool_put(f->blk, f->blklen);
	free(f->reqs);
	free(f);
}

void
esmpi_chunk_reap(int wait)
{
	struct flight **pp, *f;
	int done;

	for (pp = &flights; (f = *pp) != NULL;) {
		done = 0;
		if (wait)
			PMPI_Waitall(f->nreq, f->reqs, MPI_STATUSES_IGNORE),
			    done = 1;
		else
			PMPI_Testall(f->nreq, f->reqs, &done,
			    MPI_STATUSES_IGNORE);
		if (done && !f->app_pending) {
			*pp = f->next;
			flight_free(f);
		} else
			pp = &f->next;
	}
}

void
esmpi_chunk_app_done(void *flight)
{
	((struct flight *)flight)->app_pending = 0;
}

/* A tag still in use towards dst: its chunks could meet the wrong
 * receives. */
static int
tag_busy(uint32_t dst, int tag)
{
	struct flight *f;

	for (f = flights; f != NULL; f = f->next)
		if (f->dst == dst && f->tag == tag)
			return 1;
	return 0;
}

/* Seal chunk i of the message head announces into out. */
static int
seal_chunk(struct esmpi_aead *k, const struct esmpi_rec_hdr *head,
    const struct esmpi_rec_aad *a, const uint8_t *pt, size_t i,
    uint8_t *out)
{
	struct esmpi_rec_hdr h = *head;

	h.flags = ESMPI_REC_F_CHUNK;
	h.seq = head->seq + 1 + i;
	h.length = esmpi_chunk_len(head->length, i);
	return esmpi_rec_seal(k, &h, a, pt + i * CHUNK_PT, h.length, out);
}

int
esmpi_chunk_send(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, int dest, int tag, MPI_Request *req, void **flight,
    int *rc)
{
	const struct esmpi_pol_settings *set;
	struct esmpi_rec_hdr h;
	struct esmpi_rec_aad a, ca;
	struct esmpi_aead *k;
	struct flight *f;
	const char *rekeyed = NULL;
	const uint8_t *pt;
	uint8_t *rec;
	size_t n, i, nch;
	MPI_Aint lb;
	uint32_t dst;
	int ctag, e = 0;

	if (esmpi.chunk_min == 0 || esmpi.threads_multi || dest < 0 ||
	    dest >= c->remote_size ||
	    !esmpi_contig(count, dt, &n, &lb) || n < esmpi.chunk_min ||
	    n > ESMPI_REC_MAX_LEN || esmpi_sign_extra(c, tag) != 0 ||
	    (dst = c->peer_world[dest]) >= (uint32_t)esmpi.world_size)
		return 0;
	set = esmpi_comm_settings(c, tag);
	if (esmpi_scope_plain(set, dst, 0))
		return 0;
	esmpi_chunk_reap(0);
	ctag = esmpi_chunk_tag(c->ctx, atomic_load_explicit(&c->send_seq,
	    memory_order_relaxed));
	if (tag_busy(dst, ctag))
		return 0;
	*rc = MPI_SUCCESS;
	nch = esmpi_chunk_count(n);
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->reqs = calloc(nch + 1, sizeof(*f->reqs))) == NULL ||
	    (f->blk = esmpi_pool_get(f->blklen = n + nch *
	    ESMPI_REC_OVERHEAD)) == NULL) {
		e = ESMPI_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i <= nch; i++)
		f->reqs[i] = MPI_REQUEST_NULL;
	memset(&h, 0, sizeof(h));
	h.version = ESMPI_REC_VERSION;
	h.flags = ESMPI_REC_F_HEAD;
	h.suite = (uint8_t)set->suite;
	h.length = n;
	/* One key for the whole message; seqs head .. head + chunks. */
	if ((k = esmpi_key_send(c, set, n, &h.epoch, &rekeyed)) == NULL) {
		e = ESMPI_ERR_SUITE;
		goto out;
	}
	h.seq = atomic_fetch_add_explicit(&c->send_seq, nch + 1,
	    memory_order_relaxed);
	esmpi_rec_aad_fill(&a, c, c->my_world, dst, tag, 0);
	ca = a;
	ca.coll_seq = h.seq;
	pt = (const uint8_t *)buf + lb;
	if ((e = esmpi_rec_seal_head(k, &h, &a, f->head)) != 0 ||
	    (e = seal_chunk(k, &h, &ca, pt, 0, f->blk)) != 0)
		goto out;
	esmpi_count(&esmpi.stat_sealed);
	esmpi_count(&esmpi.stat_chunked);
	if (esmpi_scope_same_node(dst))
		esmpi_count(&esmpi.stat_sealed_local);
	if (rekeyed != NULL)
		esmpi_audit_rekey(c->name, tag, h.suite, h.epoch, rekeyed);
	esmpi_poll_daemon();
	if ((*rc = PMPI_Isend(f->head, ESMPI_REC_HEAD_LEN, MPI_BYTE, dest,
	    tag, c->comm, &f->reqs[0])) != MPI_SUCCESS)
		goto out;
	/* Synchronous chunks: complete means matched, so the tag is free
	 * again once they all are. */
	for (i = 0, rec = f->blk; i < nch && *rc == MPI_SUCCESS; i++) {
		size_t len = esmpi_chunk_len(n, i) + ESMPI_REC_OVERHEAD;

		if (i > 0 && e == 0)
			e = seal_chunk(k, &h, &ca, pt, i, rec);
		/* After a failed seal the peer still waits for every chunk:
		 * zeros fail its check. */
		if (e != 0)
			memset(rec, 0, len);
		*rc = PMPI_Issend(rec, (int)len, MPI_BYTE, (int)dst, ctag,
		    esmpi.chunk_comm, &f->reqs[i + 1]);
		rec += len;
	}
	if (req == NULL || e != 0 || *rc != MPI_SUCCESS) {
		PMPI_Waitall((int)nch + 1, f->reqs, MPI_STATUSES_IGNORE);
		if (req != NULL)
			*req = MPI_REQUEST_NULL;
		goto out;
	}
	*req = f->reqs[nch];
	*flight = f;
	f->nreq = (int)nch;
	f->app_pending = 1;
	f->dst = dst;
	f->tag = ctag;
	f->next = flights;
	flights = f;
	return 1;
out:
	if (f != NULL)
		flight_free(f);
	if (e != 0)
		*rc = esmpi_fail(c->comm, esmpi.err_internal,
		    "cannot seal message to rank %d tag %d: %s", dest, tag,
		    esmpi_strerror(e));
	return 1;
}

/* ---- receiving ---- */

/* Whether a status describes a head (a chunked message) on c. */
int
esmpi_is_head(const struct esmpi_comm *c, const MPI_Status *st)
{
	return esmpi_status_bytes(st) == ESMPI_REC_HEAD_LEN &&
	    esmpi_sign_extra(c, st->MPI_TAG) == 0;
}


/* Check a head from comm rank src on tag, as any record: suite, replay
 * window, posting order, key, tag. */
int
esmpi_head_open(struct esmpi_comm *c, int src, int tag, const uint8_t *rec,
    size_t reclen, uint64_t ticket, struct esmpi_rec_hdr *h)
{
	struct esmpi_replay_slot *w;
	struct esmpi_keytry kt;
	struct esmpi_rec_aad a;
	struct esmpi_rec_hdr t;
	int r;

	if (src < 0 || src >= c->remote_size)
		return ESMPI_ERR_PROTOCOL;
	if ((r = esmpi_rec_hdr_decode(rec, &t)) != 0)
		return r;
	if (t.flags & ESMPI_REC_F_UNORDERED)
		ticket = 0;
	esmpi_rec_aad_fill(&a, c, c->peer_world[src], c->my_world, tag, 0);
	esmpi_comm_lock(c);
	if (t.suite != esmpi_comm_settings(c, tag)->suite ||
	    esmpi_scope_plain(esmpi_comm_settings(c, tag),
	    c->peer_world[src], 0))
		r = ESMPI_ERR_AUTH;
	else if ((w = esmpi_comm_replay(c, src, tag)) == NULL)
		r = ESMPI_ERR_NOMEM;
	else if ((r = esmpi_replay_check(&w->w, t.seq)) == 0 &&
	    (r = esmpi_order_check(&w->o, ticket, t.seq)) == 0 &&
	    (r = esmpi_key_recv(c, src, t.suite, t.epoch, &kt)) == 0) {
		if ((r = esmpi_rec_open_head(kt.aead, &a, rec, reclen, h)) ==
		    0) {
			esmpi_key_commit(&kt);
			esmpi_replay_accept(&w->w, h->seq);
			esmpi_order_accept(&w->o, ticket, h->seq);
		} else
			esmpi_key_drop(&kt);
	}
	esmpi_comm_unlock(c);
	return r;
}

static int
open_chunk(struct esmpi_comm *c, int src, int tag,
    const struct esmpi_rec_hdr *head, size_t i, const uint8_t *rec,
    size_t reclen, uint8_t *out)
{
	struct esmpi_rec_hdr h;
	struct esmpi_rec_aad a;
	struct esmpi_keytry kt;
	int r;

	if ((r = esmpi_rec_parse_hdr(rec, reclen, &h)) != 0)
		return r;
	if (h.flags != ESMPI_REC_F_CHUNK || h.suite != head->suite ||
	    h.seq != head->seq + 1 + i ||
	    h.length != esmpi_chunk_len(head->length, i))
		return ESMPI_ERR_AUTH;
	esmpi_rec_aad_fill(&a, c, c->peer_world[src], c->my_world, tag,
	    head->seq);
	esmpi_comm_lock(c);
	if ((r = esmpi_key_recv(c, src, h.suite, h.epoch, &kt)) == 0) {
		if ((r = esmpi_rec_open_hdr(kt.aead, &a, rec, &h, out,
		    h.length)) == 0)
			esmpi_key_commit(&kt);
		else
			esmpi_key_drop(&kt);
	}
	esmpi_comm_unlock(c);
	return r;
}

/*
 * Receive and open the chunks of the message head announced (checked
 * already) into (buf, count, dt). Every chunk is received whatever
 * happens, so the sender completes. ESMPI_ERR_TOO_LARGE with *len set:
 * an authentic message larger than the receive (truncation).
 */
/*
 * Where chunks go when no buffer could be had: they must still be
 * received (the sender waits for each), never into less than a chunk's
 * size (Open MPI 4.1.4 writes a truncated single-copy message whole,
 * docs/SECURITY.md), and are never opened. Shared by all threads: its
 * contents are thrown away.
 */
static uint8_t discard[ESMPI_CHUNK_REC];

/*
 * A non-contiguous receive takes the chunks as they open: each opens into
 * stage after what is left of the one before (less than an element) and
 * the whole elements go to their places, so the memory is a chunk and an
 * element, not the message. An element larger than a chunk is staged
 * whole instead (MPI_Unpack takes whole elements).
 */
struct unstream {
	uint8_t *stage;
	size_t cap, have;	/* stage's size, bytes in it */
	size_t done;		/* elements unpacked */
	size_t tsz;
	MPI_Aint ext;
	char *buf;
	MPI_Datatype dt;
	MPI_Comm comm;
};

static int
unstream_start(struct unstream *u, size_t n, void *buf, MPI_Datatype dt,
    MPI_Comm comm)
{
	MPI_Aint lb;
	int tsz = 0;

	PMPI_Type_size(dt, &tsz);
	PMPI_Type_get_extent(dt, &lb, &u->ext);
	u->tsz = (size_t)tsz;
	u->cap = u->tsz <= CHUNK_PT ? CHUNK_PT + u->tsz : n;
	u->buf = buf;
	u->dt = dt;
	u->comm = comm;
	return (u->stage = esmpi_pool_get(u->cap)) == NULL ? -1 : 0;
}

/* len more bytes are in stage; unpack whole elements (all at the end). */
static void
unstream_chunk(struct unstream *u, size_t len, int last)
{
	size_t whole;

	u->have += len;
	if (u->cap != CHUNK_PT + u->tsz && !last)
		return;
	whole = last || u->tsz == 0 ? u->have : u->have / u->tsz * u->tsz;
	if (whole == 0)
		return;
	esmpi_unpack_into(u->stage, whole, u->buf + (MPI_Aint)u->done *
	    u->ext, 0, u->dt, u->comm);
	u->done += whole / u->tsz;
	memmove(u->stage, u->stage + whole, u->have - whole);
	esmpi_memzero(u->stage + u->have - whole, whole);
	u->have -= whole;
}

/* Release stage; failed: overwrite what was unpacked with zeros, as the
 * contiguous case does (nothing of a refused message stays). */
static void
unstream_end(struct unstream *u, int failed)
{
	size_t per, k;

	if (u->stage == NULL)
		return;
	esmpi_memzero(u->stage, u->cap);
	per = u->tsz ? u->cap / u->tsz : 0;
	for (; failed && per && u->done > 0; u->done -= k) {
		k = u->done < per ? u->done : per;
		esmpi_unpack_into(u->stage, k * u->tsz, u->buf +
		    (MPI_Aint)(u->done - k) * u->ext, 0, u->dt, u->comm);
	}
	esmpi_pool_put(u->stage, u->cap);
	u->stage = NULL;
}

int
esmpi_chunks_take(struct esmpi_comm *c, int src, int tag,
    const struct esmpi_rec_hdr *head, void *buf, int count, MPI_Datatype dt,
    size_t *len)
{
	size_t n = head->length, k = esmpi_chunk_count(n), i, cap;
	MPI_Request reqs[CHUNK_AHEAD];
	uint8_t *recs[CHUNK_AHEAD], *out = NULL;
	int ctag = esmpi_chunk_tag(c->ctx, head->seq), r = 0, contig, trunc;
	int peer = (int)c->peer_world[src];
	struct unstream u = { 0 };
	MPI_Status st;
	MPI_Aint lb;

	*len = 0;
	contig = esmpi_contig(count, dt, &cap, &lb);
	trunc = n > cap;
	if (!trunc && contig)
		out = (uint8_t *)buf + lb;
	else if (!trunc && unstream_start(&u, n, buf, dt,
	    esmpi_comm_handle(c)) != 0)
		r = ESMPI_ERR_NOMEM;
	/*
	 * A few receives ahead, in a few buffers in turn: each chunk is
	 * opened while it is still in the cache it was copied into, and
	 * the next ones are on their way meanwhile. Every chunk is
	 * received whatever happens, so the sender completes.
	 */
	for (i = 0; i < CHUNK_AHEAD; i++) {
		reqs[i] = MPI_REQUEST_NULL;
		if ((recs[i] = esmpi_pool_get(ESMPI_CHUNK_REC)) == NULL) {
			recs[i] = discard;
			r = ESMPI_ERR_NOMEM;
		}
	}
	for (i = 0; i < k + CHUNK_AHEAD; i++) {
		size_t j = i % CHUNK_AHEAD;

		if (i >= CHUNK_AHEAD) {
			/* chunk i - CHUNK_AHEAD is in buffer j */
			if (PMPI_Wait(&reqs[j], &st) != MPI_SUCCESS && r == 0)
				r = ESMPI_ERR_PROTOCOL;
			if (r == 0 && !trunc)
				r = open_chunk(c, src, tag, head,
				    i - CHUNK_AHEAD, recs[j],
				    esmpi_status_bytes(&st), contig ?
				    out + (i - CHUNK_AHEAD) * CHUNK_PT :
				    u.stage + u.have);
			if (r == 0 && !trunc && !contig)
				unstream_chunk(&u, esmpi_chunk_len(n,
				    i - CHUNK_AHEAD), i + 1 == k + CHUNK_AHEAD);
		}
		if (i < k && PMPI_Irecv(recs[j], ESMPI_CHUNK_REC, MPI_BYTE,
		    peer, ctag, esmpi.chunk_comm, &reqs[j]) != MPI_SUCCESS &&
		    r == 0)
			r = ESMPI_ERR_PROTOCOL;
	}
	for (i = 0; i < CHUNK_AHEAD; i++)
		if (recs[i] != discard)
			esmpi_pool_put(recs[i], ESMPI_CHUNK_REC);
	if (r == 0 && trunc) {
		*len = n;
		return ESMPI_ERR_TOO_LARGE;
	}
	if (r != 0) {
		/* Nothing unauthenticated reaches the application. */
		if (contig && !trunc)
			esmpi_memzero(out, cap);
		unstream_end(&u, 1);
		return r;
	}
	unstream_end(&u, 0);
	*len = n;
	return 0;
}
