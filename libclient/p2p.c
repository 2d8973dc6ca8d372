/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Point-to-point: every payload travels as one record (header, ciphertext,
 * tag) of plaintext+ESMPI_REC_OVERHEAD bytes sent as MPI_BYTE on the same
 * communicator with the same tag, so MPI's matching, ordering, truncation
 * and wildcard semantics apply unchanged. The receiver takes source and
 * tag from the status: a record redirected to another rank, tag or
 * communicator does not open.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "esmpi_client.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"
#include "esmpi_sig.h"

/*
 * Predefined datatypes never change, so their sizes are looked up once;
 * the per-message path then makes no datatype calls for them. (Derived
 * handles may be freed and reused for another layout: always asked.)
 */
static const MPI_Datatype predefined[] = {
	MPI_BYTE, MPI_CHAR, MPI_INT, MPI_DOUBLE, MPI_FLOAT, MPI_LONG,
	MPI_UNSIGNED_CHAR, MPI_SIGNED_CHAR, MPI_SHORT, MPI_UNSIGNED_SHORT,
	MPI_UNSIGNED, MPI_UNSIGNED_LONG, MPI_LONG_LONG, MPI_UNSIGNED_LONG_LONG,
	MPI_INT8_T, MPI_INT16_T, MPI_INT32_T, MPI_INT64_T, MPI_UINT8_T,
	MPI_UINT16_T, MPI_UINT32_T, MPI_UINT64_T, MPI_C_BOOL, MPI_AINT,
	MPI_OFFSET, MPI_COUNT, MPI_WCHAR,
};
#define NPREDEFINED (sizeof(predefined) / sizeof(predefined[0]))
static int predefined_size[NPREDEFINED];
static pthread_once_t predefined_once = PTHREAD_ONCE_INIT;
static atomic_int predefined_ready;

static void
predefined_init(void)
{
	size_t i;

	for (i = 0; i < NPREDEFINED; i++)
		if (PMPI_Type_size(predefined[i], &predefined_size[i]) !=
		    MPI_SUCCESS)
			predefined_size[i] = -1;
	atomic_store_explicit(&predefined_ready, 1, memory_order_release);
}

/* Size of a predefined, contiguous type, or -1. */
static int
predefined_type_size(MPI_Datatype dt)
{
	size_t i;

	if (!atomic_load_explicit(&predefined_ready, memory_order_acquire))
		pthread_once(&predefined_once, predefined_init);
	for (i = 0; i < NPREDEFINED; i++)
		if (predefined[i] == dt)
			return predefined_size[i];
	return -1;
}

int
esmpi_predefined_size(MPI_Datatype dt)
{
	return predefined_type_size(dt);
}

static int
type_size(MPI_Datatype dt)
{
	int tsz = predefined_type_size(dt);

	if (tsz < 0)
		PMPI_Type_size(dt, &tsz);
	return tsz;
}

/* Contiguous layout of count elements: the bytes start at buf+lb. */
int
esmpi_contig(int count, MPI_Datatype dt, size_t *bytes, MPI_Aint *lb)
{
	MPI_Aint tlb, text, elb, eext;
	int tsz = predefined_type_size(dt);

	if (tsz >= 0) {
		*bytes = (size_t)tsz * (size_t)(count > 0 ? count : 0);
		*lb = 0;
		return 1;
	}
	PMPI_Type_size(dt, &tsz);
	*bytes = (size_t)tsz * (size_t)(count > 0 ? count : 0);
	PMPI_Type_get_true_extent(dt, &tlb, &text);
	PMPI_Type_get_extent(dt, &elb, &eext);
	*lb = tlb;
	return text == tsz && (count <= 1 || eext == tsz);
}

/* Whether a send of count dt may be large enough for chunks: a small send
 * of a predefined type pays for no more than this. */
int
esmpi_chunk_worth(int count, MPI_Datatype dt)
{
	int tsz;

	if (esmpi.chunk_min == 0 || count <= 0)
		return 0;
	tsz = predefined_type_size(dt);
	return tsz < 0 || (size_t)tsz * (size_t)count >= esmpi.chunk_min;
}

MPI_Datatype
esmpi_type_hold(MPI_Datatype dt, int *held)
{
	MPI_Datatype dup;
	int ni, na, nd, comb;

	*held = 0;
	if (predefined_type_size(dt) >= 0 ||
	    PMPI_Type_get_envelope(dt, &ni, &na, &nd, &comb) != MPI_SUCCESS ||
	    comb == MPI_COMBINER_NAMED ||
	    PMPI_Type_dup(dt, &dup) != MPI_SUCCESS)
		return dt;
	*held = 1;
	return dup;
}

int
esmpi_recv_capacity(int count, MPI_Datatype dt, int *reclen)
{
	long long n;

	n = (long long)type_size(dt) * (count > 0 ? count : 0) +
	    ESMPI_REC_OVERHEAD + (long long)esmpi_sign_slack();
	if (n > INT_MAX)
		return ESMPI_ERR_TOO_LARGE;
	*reclen = (int)n;
	return 0;
}

void
esmpi_status_fix(const struct esmpi_comm *c, MPI_Status *st)
{
	size_t n = esmpi_status_bytes(st), ovh = ESMPI_REC_OVERHEAD +
	    esmpi_sign_extra(c, st->MPI_TAG);

	if (n >= ovh)
		esmpi_status_set_bytes(st, n - ovh);
}

void
esmpi_status_truncated(const struct esmpi_comm *c, int rc, MPI_Status *st)
{
	if (c != NULL && rc == MPI_ERR_TRUNCATE && st != MPI_STATUS_IGNORE)
		esmpi_status_fix(c, st);
}

void
esmpi_rec_aad_fill(struct esmpi_rec_aad *a, const struct esmpi_comm *c,
    uint32_t src, uint32_t dst, int tag, uint64_t coll_seq)
{
	memcpy(a->job, esmpi.job_id, sizeof(a->job));
	a->src = src;
	a->dst = dst;
	a->comm = c->ctx;
	a->tag = tag;
	a->coll_seq = coll_seq;
}

/*
 * Latency: a rank that has just sent, or is about to wait for a message,
 * has time to spare, so it prepares the AEAD context (nonce and AAD) of
 * the record it expects next: the successor of the last one on that key
 * chain (same peer, tag and length, next seq), if the last record was
 * such a successor too. The seal or open of that record then skips those
 * steps; any other record starts afresh (esmpi_aead_prepare). Below
 * MPI_THREAD_MULTIPLE only: the guess needs one thread's order.
 *
 * expect_next: record h (to or from peer, on tag) just went through
 * chain k; was it the guess, and what comes next.
 */
static void
expect_next(struct esmpi_chain *k, const struct esmpi_rec_hdr *h,
    uint32_t peer, int tag)
{
	k->next_right = k->next_valid && k->next.seq == h->seq &&
	    k->next.length == h->length && k->next.epoch == h->epoch &&
	    k->next.flags == h->flags && k->next_peer == peer &&
	    k->next_tag == tag;
	k->next = *h;
	k->next.seq++;
	k->next_peer = peer;
	k->next_tag = tag;
	k->next_valid = 1;
}

void
esmpi_prepare_send(struct esmpi_comm *c)
{
	struct esmpi_chain *k = &c->send[c->last_send_suite];
	struct esmpi_rec_aad a;

	if (esmpi.threads_multi || !k->next_right || k->aead == NULL ||
	    k->next.epoch != k->epoch ||
	    k->next.seq != atomic_load_explicit(&c->send_seq,
	    memory_order_relaxed))
		return;
	esmpi_rec_aad_fill(&a, c, c->my_world, k->next_peer, k->next_tag, 0);
	esmpi_rec_prepare(k->aead, 1, &k->next, &a);
}

void
esmpi_prepare_recv(struct esmpi_comm *c, int src, int tag)
{
	struct esmpi_chain *k;
	struct esmpi_rec_aad a;

	if (esmpi.threads_multi || src < 0 || src >= c->remote_size ||
	    tag < 0 || (k = esmpi_key_recv_chain(c, src,
	    esmpi_comm_settings(c, tag)->suite)) == NULL ||
	    !k->next_right || k->next_tag != tag || k->aead == NULL ||
	    k->next.epoch != k->epoch)
		return;
	esmpi_rec_aad_fill(&a, c, c->peer_world[src], c->my_world, tag, 0);
	esmpi_rec_prepare(k->aead, 0, &k->next, &a);
}

int
esmpi_msg_bytes(int count, MPI_Datatype dt, size_t *n)
{
	MPI_Aint lb;

	(void)esmpi_contig(count, dt, n, &lb);
	return *n + ESMPI_REC_OVERHEAD > INT_MAX ? ESMPI_ERR_TOO_LARGE : 0;
}

/* Seal the n contiguous plaintext bytes at pt into out. */
static int
seal_bytes(struct esmpi_comm *c, const void *pt, size_t n,
    uint32_t dst_world, int tag, uint64_t coll_seq, uint8_t *out)
{
	struct esmpi_rec_hdr h;
	struct esmpi_rec_aad a;
	const struct esmpi_pol_settings *set;
	struct esmpi_aead *k;
	const char *rekeyed = NULL;
	int r, sgn = esmpi_sign_extra(c, tag) != 0;

	memset(&h, 0, sizeof(h));
	h.version = ESMPI_REC_VERSION;
	h.flags = coll_seq ? ESMPI_REC_F_COLL : 0;
	if (esmpi.threads_multi)
		h.flags |= ESMPI_REC_F_UNORDERED;
	if (sgn)
		h.flags |= ESMPI_REC_F_SIGNED;
	h.seq = esmpi_count(&c->send_seq);
	h.length = n;
	esmpi_rec_aad_fill(&a, c, c->my_world, dst_world, tag, coll_seq);
	esmpi_comm_lock(c);
	set = esmpi_comm_settings(c, tag);
	h.suite = (uint8_t)set->suite;
	if (esmpi_scope_plain(set, dst_world, coll_seq)) {
		esmpi_rec_plain_put(h.suite, h.seq, pt, n, out);
		esmpi_count(&esmpi.stat_plain);
		r = 0;
	} else if ((k = esmpi_key_send(c, set, n, &h.epoch, &rekeyed)) ==
	    NULL)
		r = ESMPI_ERR_SUITE;
	else if ((r = esmpi_rec_seal(k, &h, &a, pt, n, out)) == 0) {
		if (!coll_seq && !esmpi.threads_multi) {
			expect_next(&c->send[set->suite], &h, dst_world, tag);
			c->last_send_suite = set->suite;
		}
		esmpi_count(&esmpi.stat_sealed);
		if (!coll_seq && dst_world < (uint32_t)esmpi.world_size &&
		    esmpi.node_local != NULL && esmpi.node_local[dst_world])
			esmpi_count(&esmpi.stat_sealed_local);
	}
	esmpi_comm_unlock(c);
	if (r == 0 && sgn)
		r = esmpi_sign_record(&a, out, n);
	if (rekeyed != NULL)
		esmpi_audit_rekey(c, tag, h.suite, h.epoch, rekeyed);
	/* Now and then, look for rekey requests esmpid pushed. */
	if ((h.seq & 255) == 0)
		esmpi_poll_daemon();
	return r;
}

int
esmpi_seal_into(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, uint32_t dst_world, int tag, uint64_t coll_seq,
    uint8_t *out)
{
	void *packed;
	size_t n;
	MPI_Aint lb;
	int r, pos = 0;

	if (esmpi_contig(count, dt, &n, &lb))
		return seal_bytes(c, (const char *)buf + lb, n, dst_world, tag,
		    coll_seq, out);
	if ((packed = malloc(n ? n : 1)) == NULL)
		return ESMPI_ERR_NOMEM;
	if (PMPI_Pack(buf, count, dt, packed, (int)n, &pos, c->comm) !=
	    MPI_SUCCESS) {
		free(packed);
		return ESMPI_ERR_INVALID;
	}
	r = seal_bytes(c, packed, n, dst_world, tag, coll_seq, out);
	esmpi_freezero(packed, n);
	return r;
}

int
esmpi_seal(struct esmpi_comm *c, const void *buf, int count, MPI_Datatype dt,
    int dest, int tag, struct esmpi_msg *m)
{
	size_t n, sig = esmpi_sign_extra(c, tag);
	MPI_Aint lb;
	int r, contig;

	if (dest < 0 || dest >= c->remote_size)
		return ESMPI_ERR_INVALID;
	contig = esmpi_contig(count, dt, &n, &lb);
	if (n + sig + ESMPI_REC_OVERHEAD > INT_MAX)
		return ESMPI_ERR_TOO_LARGE;
	if ((m->rec = esmpi_pool_get(n + sig + ESMPI_REC_OVERHEAD)) == NULL)
		return ESMPI_ERR_NOMEM;
	m->len = n + sig;
	r = contig ? seal_bytes(c, (const char *)buf + lb, n,
	    c->peer_world[dest], tag, 0, m->rec) : esmpi_seal_into(c, buf,
	    count, dt, c->peer_world[dest], tag, 0, m->rec);
	if (r != 0) {
		esmpi_pool_put(m->rec, n + sig + ESMPI_REC_OVERHEAD);
		m->rec = NULL;
	}
	return r;
}

static const char *
comm_label(const struct esmpi_comm *c)
{
	return c->name[0] ? c->name : "(unnamed)";
}

/* Fail closed: audit, one message naming who/what, the error handler. */
static int
refuse(struct esmpi_comm *c, int src, int tag, int r)
{
	int replay = r == ESMPI_ERR_REPLAY;
	int sig = r == ESMPI_ERR_SIGNATURE || r == ESMPI_ERR_CERT;
	const char *why = sig ? esmpi_sign_why() : esmpi_strerror(r);

	esmpi_audit(replay ? "replay_detected" : sig ? "signature_invalid" :
	    "integrity_failure", c, (int)c->peer_world[src], tag,
	    "record from world rank %u to world rank %u on communicator '%s' "
	    "tag %d refused: %s", c->peer_world[src], c->my_world,
	    comm_label(c), tag, why);
	return esmpi_fail(esmpi_comm_handle(c), replay ? esmpi.err_replay :
	    esmpi.err_auth,
	    "%s: message from rank %d (world %u) to rank %d (world %u) on "
	    "communicator '%s' tag %d refused (%s); no data delivered%s",
	    replay ? "replay detected" : sig ? "signature invalid" :
	    "integrity failure", src, c->peer_world[src], c->rank,
	    c->my_world, comm_label(c), tag, why, esmpi.policy_differs ?
	    " (ranks of this job run different policies: see the warnings "
	    "at MPI_Init)" : "");
}

/*
 * The last rest (< type size) packed bytes belong to a partial element,
 * which MPI_Unpack cannot take (it unpacks whole elements only), but a
 * plain receive delivers: place them where that element's first basic
 * elements go. Where each packed byte comes from within one element is
 * found by packing an element whose bytes hold their own offset (one
 * pass per offset byte).
 */
static void
unpack_tail(const uint8_t *in, size_t rest, uint8_t *elem, MPI_Datatype dt,
    int tsz, MPI_Comm comm)
{
	MPI_Aint tlb, text, j;
	uint8_t *e, *p;
	size_t *off, i;
	int pos, b;

	PMPI_Type_get_true_extent(dt, &tlb, &text);
	e = malloc(text > 0 ? (size_t)text : 1);
	p = malloc((size_t)tsz);
	off = calloc(rest, sizeof(*off));
	if (e == NULL || p == NULL || off == NULL)
		goto out;
	for (b = 0; b < (int)sizeof(MPI_Aint) && (b == 0 || text >> (8 * b));
	    b++) {
		for (j = 0; j < text; j++)
			e[j] = (uint8_t)(j >> (8 * b));
		pos = 0;
		if (PMPI_Pack(e - tlb, 1, dt, p, tsz, &pos, comm) !=
		    MPI_SUCCESS)
			goto out;
		for (i = 0; i < rest; i++)
			off[i] |= (size_t)p[i] << (8 * b);
	}
	for (i = 0; i < rest; i++)
		elem[tlb + (MPI_Aint)off[i]] = in[i];
out:
	free(e);
	free(p);
	free(off);
}

/* Deliver len packed plaintext bytes into (buf, count, dt). */
void
esmpi_unpack_into(const struct esmpi_comm *c, const uint8_t *packed,
    size_t len, void *buf, int count, MPI_Datatype dt)
{
	int pos = 0, tsz, full;
	MPI_Aint elb, eext;

	(void)count;
	PMPI_Type_size(dt, &tsz);
	full = tsz ? (int)(len / (size_t)tsz) : 0;
	PMPI_Unpack(packed, (int)len, &pos, buf, full, dt,
	    esmpi_comm_handle(c));
	if (tsz && len % (size_t)tsz) {
		PMPI_Type_get_extent(dt, &elb, &eext);
		unpack_tail(packed + (size_t)full * (size_t)tsz,
		    len % (size_t)tsz, (uint8_t *)buf + (MPI_Aint)full * eext,
		    dt, tsz, esmpi_comm_handle(c));
	}
}

/* ticket: posting order of a point-to-point receive, 0 if unknown. */
static int
open_rec(struct esmpi_comm *c, int src, uint32_t dst_world, int tag,
    uint64_t coll_seq, const uint8_t *rec, size_t reclen, void *buf,
    int count, MPI_Datatype dt, size_t *len, uint64_t ticket)
{
	struct esmpi_rec_hdr h;
	struct esmpi_rec_aad a;
	struct esmpi_replay_slot *w = NULL;
	struct esmpi_keytry kt;
	uint8_t *out, *tmp = NULL;
	size_t cap, tcap;
	MPI_Aint lb;
	int r, is_contig, trunc = 0, plain = 0;

	is_contig = esmpi_contig(count, dt, &cap, &lb);
	if (src < 0 || src >= c->remote_size)
		return ESMPI_ERR_PROTOCOL;
	esmpi_rec_aad_fill(&a, c, c->peer_world[src], dst_world, tag, coll_seq);
	/* A sign rule's record is verified before anything else of it is
	 * used; a missing signature is refused alike. */
	if (esmpi_sign_extra(c, tag)) {
		if ((r = esmpi_sign_check(&a, rec, reclen)) != 0)
			goto fail;
		reclen -= ESMPI_SIG_LEN;
	}
	if (esmpi_rec_plain_is(rec, reclen)) {
		plain = 1;
		memset(&h, 0, sizeof(h));
	} else if ((r = esmpi_rec_parse_hdr(rec, reclen, &h)) != 0)
		goto fail;
	else if (h.flags & (ESMPI_REC_F_HEAD | ESMPI_REC_F_CHUNK)) {
		r = ESMPI_ERR_PROTOCOL;	/* those travel apart */
		goto fail;
	}
	/*
	 * Larger than the receive: only a receive with room for a signature
	 * this record lacks gets one (MPI truncates anything longer). It is
	 * opened in scratch memory, so only an authentic record is reported
	 * as a truncation, with nothing delivered.
	 */
	if (h.length > cap) {
		r = ESMPI_ERR_TOO_LARGE;
		if (coll_seq || h.length > cap + esmpi_sign_slack())
			goto fail;
		trunc = 1;
	}
	tcap = trunc ? h.length : cap;
	if (is_contig && !trunc)
		out = (uint8_t *)buf + lb;
	else if ((out = tmp = malloc(tcap ? tcap : 1)) == NULL)
		return ESMPI_ERR_NOMEM;
	/* A multithreaded sender's records of one tag have no order (the
	 * flag is authenticated with the header). */
	if (h.flags & ESMPI_REC_F_UNORDERED)
		ticket = 0;
	esmpi_comm_lock(c);
	/*
	 * The suite must be the one policy sets: no downgrade by a sender.
	 * Point-to-point records pass a replay window and the posting order
	 * of their tag; collective ones are bound to the collective's
	 * sequence number instead. A plain record (scope inter-node) is
	 * taken only where we would send plain ourselves.
	 */
	if (plain) {
		size_t n = 0;

		/* "access denied": a plain record here is a policy
		 * mismatch between nodes or a downgrade attempt. */
		if (!esmpi_scope_plain(esmpi_comm_settings(c, tag),
		    c->peer_world[src], coll_seq))
			r = ESMPI_ERR_DENIED;
		else
			r = esmpi_rec_plain_take(rec, reclen,
			    esmpi_comm_settings(c, tag)->suite, out, cap, &n);
		h.length = n;
	} else if (h.suite != esmpi_comm_settings(c, tag)->suite)
		r = ESMPI_ERR_AUTH;
	else if (!coll_seq && (w = esmpi_comm_replay(c, src, tag)) == NULL)
		r = ESMPI_ERR_NOMEM;
	else if ((w == NULL || ((r = esmpi_replay_check(&w->w, h.seq)) == 0 &&
	    (r = esmpi_order_check(&w->o, ticket, h.seq)) == 0)) &&
	    (r = esmpi_key_recv(c, src, h.suite, h.epoch, &kt)) == 0) {
		r = esmpi_rec_open_hdr(kt.aead, &a, rec, &h, out, tcap);
		if (r == 0) {
			esmpi_key_commit(&kt);
			if (w != NULL) {
				esmpi_replay_accept(&w->w, h.seq);
				esmpi_order_accept(&w->o, ticket, h.seq);
			}
			if (w != NULL && h.epoch == kt.k->epoch)
				expect_next(kt.k, &h, c->peer_world[src], tag);
		} else
			esmpi_key_drop(&kt);
	}
	esmpi_comm_unlock(c);
	if (r != 0)
		goto fail;
	if (trunc) {
		*len = h.length;	/* tells esmpi_open it was authentic */
		r = ESMPI_ERR_TOO_LARGE;
		goto fail;
	}
	if (!is_contig) {
		esmpi_unpack_into(c, tmp, h.length, buf, count, dt);
		esmpi_freezero(tmp, cap);
	}
	*len = h.length;
	return 0;
fail:
	/* Nothing unauthenticated reaches the application's buffer. */
	if (is_contig)
		esmpi_memzero((uint8_t *)buf + lb, cap);
	esmpi_freezero(tmp, trunc ? h.length : cap);
	return r;
}

int
esmpi_open_from(struct esmpi_comm *c, int src, uint32_t dst_world, int tag,
    uint64_t coll_seq, const uint8_t *rec, size_t reclen, void *buf,
    int count, MPI_Datatype dt, size_t *len)
{
	return open_rec(c, src, dst_world, tag, coll_seq, rec, reclen, buf,
	    count, dt, len, 0);
}

int
esmpi_open(struct esmpi_comm *c, const uint8_t *rec, size_t reclen,
    void *buf, int count, MPI_Datatype dt, MPI_Status *st, uint64_t ticket)
{
	int r, src = st->MPI_SOURCE, tag = st->MPI_TAG;
	size_t len = 0;

	if (src < 0 || src >= c->remote_size)
		return refuse(c, 0, tag, ESMPI_ERR_PROTOCOL);
	if (esmpi_is_head(c, st)) {
		struct esmpi_rec_hdr h;

		if ((r = esmpi_head_open(c, src, tag, rec, reclen, ticket,
		    &h)) == 0)
			r = esmpi_chunks_take(c, src, tag, &h, buf, count, dt,
			    &len);
	} else
		r = open_rec(c, src, c->my_world, tag, 0, rec, reclen, buf,
		    count, dt, &len, ticket);
	if (r == ESMPI_ERR_TOO_LARGE && len != 0) {
		esmpi_status_set_bytes(st, len);
		st->MPI_ERROR = MPI_ERR_TRUNCATE;
		PMPI_Comm_call_errhandler(esmpi_comm_handle(c),
		    MPI_ERR_TRUNCATE);
		return MPI_ERR_TRUNCATE;
	}
	if (r != 0)
		return refuse(c, src, tag, r);
	esmpi_status_set_bytes(st, len);
	return MPI_SUCCESS;
}

int
esmpi_refuse(struct esmpi_comm *c, int src, int tag, int r)
{
	return refuse(c, src, tag, r);
}

/* ---- wrappers ---- */

static int
seal_or_fail(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, int dest, int tag, struct esmpi_msg *m)
{
	int r = esmpi_seal(c, buf, count, dt, dest, tag, m);

	if (r != 0)
		return esmpi_fail(c->comm, r == ESMPI_ERR_INVALID ?
		    MPI_ERR_RANK : esmpi.err_internal,
		    "cannot seal message to rank %d tag %d: %s", dest, tag,
		    esmpi_strerror(r));
	return MPI_SUCCESS;
}

typedef int (*send_fn)(const void *, int, MPI_Datatype, int, int, MPI_Comm);

static int
blocking_send(send_fn fn, const void *buf, int count, MPI_Datatype dt,
    int dest, int tag, MPI_Comm comm)
{
	struct esmpi_comm *c;
	struct esmpi_msg m;
	int rc;

	if ((c = esmpi_protect(comm, dest, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    fn(buf, count, dt, dest, tag, comm);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_SEND, buf, count, dt, dest,
	    tag)) != MPI_SUCCESS)
		return rc;
	if (fn == PMPI_Send && esmpi_chunk_worth(count, dt) &&
	    esmpi_chunk_send(c, buf, count, dt, dest, tag, NULL, &rc))
		return rc;
	if ((rc = seal_or_fail(c, buf, count, dt, dest, tag, &m)) !=
	    MPI_SUCCESS)
		return rc;
	rc = fn(m.rec, (int)(m.len + ESMPI_REC_OVERHEAD), MPI_BYTE, dest,
	    tag, comm);
	esmpi_pool_put(m.rec, m.len + ESMPI_REC_OVERHEAD);
	esmpi_prepare_send(c);
	return rc;
}

ESMPI_EXPORT int
MPI_Send(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
    MPI_Comm comm)
{
	return blocking_send(PMPI_Send, buf, count, dt, dest, tag, comm);
}

ESMPI_EXPORT int
MPI_Ssend(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
    MPI_Comm comm)
{
	return blocking_send(PMPI_Ssend, buf, count, dt, dest, tag, comm);
}

ESMPI_EXPORT int
MPI_Rsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag,
    MPI_Comm comm)
{
	return blocking_send(PMPI_Rsend, buf, count, dt, dest, tag, comm);
}

ESMPI_EXPORT int
MPI_Recv(void *buf, int count, MPI_Datatype dt, int source, int tag,
    MPI_Comm comm, MPI_Status *status)
{
	struct esmpi_comm *c;
	struct esmpi_stash *e;
	MPI_Status local;
	uint8_t *rec;
	uint64_t ticket;
	int rc, reclen;

	if ((c = esmpi_protect(comm, source, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Recv(buf, count, dt, source, tag, comm, status);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_RECV, buf, count, dt, source,
	    tag)) != MPI_SUCCESS)
		return rc;
	if (status == MPI_STATUS_IGNORE)
		status = &local;
	if (c->stash != NULL && (e = esmpi_stash_take(c, source, tag)) != NULL)
		return esmpi_stash_serve(c, e, buf, count, dt, status);
	if (esmpi_recv_capacity(count, dt, &reclen) != 0)
		return esmpi_fail(comm, MPI_ERR_COUNT, "receive too large");
	if ((rec = esmpi_pool_get(reclen)) == NULL)
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "out of memory");
	ticket = esmpi_recv_ticket();
	esmpi_prepare_recv(c, source, tag);
	rc = PMPI_Recv(rec, reclen, MPI_BYTE, source, tag, comm, status);
	if (rc == MPI_SUCCESS) {
		rc = esmpi_open(c, rec,
		    esmpi_status_bytes(status), buf, count, dt, status,
		    ticket);
	} else
		esmpi_status_truncated(c, rc, status);
	esmpi_pool_put(rec, reclen);
	return rc;
}

ESMPI_EXPORT int
MPI_Sendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype,
    int dest, int sendtag, void *recvbuf, int recvcount,
    MPI_Datatype recvtype, int source, int recvtag, MPI_Comm comm,
    MPI_Status *status)
{
	struct esmpi_comm *c;
	struct esmpi_msg m = { NULL, 0 };
	MPI_Status local;
	uint8_t *rec = NULL;
	const void *sb = sendbuf;
	uint64_t ticket;
	int rc, reclen = 0, sc = sendcount;
	MPI_Datatype st = sendtype;

	if ((c = esmpi_protect(comm, MPI_ANY_SOURCE, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc : PMPI_Sendrecv(sendbuf,
		    sendcount, sendtype, dest, sendtag, recvbuf, recvcount,
		    recvtype, source, recvtag, comm, status);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_RECV, recvbuf, recvcount,
	    recvtype, source, recvtag)) != MPI_SUCCESS ||
	    (rc = esmpi_check_p2p(c, ESMPI_CHK_SEND, sendbuf, sendcount,
	    sendtype, dest, sendtag)) != MPI_SUCCESS)
		return rc;
	if (status == MPI_STATUS_IGNORE)
		status = &local;
	/* While probes hold messages in the stash: the standard's Isend +
	 * Recv + Wait, whose Recv serves the stash. The send seals all it
	 * sends before it returns (the buffers may be one:
	 * Sendrecv_replace) and finishes last (the peer may be in the same
	 * call). */
	if (source != MPI_PROC_NULL && c->stash != NULL) {
		MPI_Request sreq;
		int src;

		if ((rc = MPI_Isend(sendbuf, sendcount, sendtype, dest,
		    sendtag, comm, &sreq)) != MPI_SUCCESS)
			return rc;
		rc = MPI_Recv(recvbuf, recvcount, recvtype, source, recvtag,
		    comm, status);
		src = MPI_Wait(&sreq, MPI_STATUS_IGNORE);
		return rc != MPI_SUCCESS ? rc : src;
	}
	if (dest != MPI_PROC_NULL) {
		if ((rc = seal_or_fail(c, sendbuf, sendcount, sendtype, dest,
		    sendtag, &m)) != MPI_SUCCESS)
			return rc;
		sb = m.rec;
		sc = (int)(m.len + ESMPI_REC_OVERHEAD);
		st = MPI_BYTE;
	}
	if (source != MPI_PROC_NULL) {
		if (esmpi_recv_capacity(recvcount, recvtype, &reclen) != 0 ||
		    (rec = esmpi_pool_get(reclen)) == NULL) {
			esmpi_pool_put(m.rec, m.len + ESMPI_REC_OVERHEAD);
			return esmpi_fail(comm, MPI_ERR_NO_MEM,
			    "cannot allocate receive record");
		}
		ticket = esmpi_recv_ticket();
		rc = PMPI_Sendrecv(sb, sc, st, dest, sendtag, rec, reclen,
		    MPI_BYTE, source, recvtag, comm, status);
		if (rc == MPI_SUCCESS) {
			rc = esmpi_open(c, rec,
			    esmpi_status_bytes(status), recvbuf,
			    recvcount, recvtype, status, ticket);
		} else
			esmpi_status_truncated(c, rc, status);
	} else
		rc = PMPI_Sendrecv(sb, sc, st, dest, sendtag, recvbuf,
		    recvcount, recvtype, source, recvtag, comm, status);
	if (m.rec != NULL)
		esmpi_pool_put(m.rec, m.len + ESMPI_REC_OVERHEAD);
	esmpi_pool_put(rec, reclen);
	return rc;
}

ESMPI_EXPORT int
MPI_Sendrecv_replace(void *buf, int count, MPI_Datatype dt, int dest,
    int sendtag, int source, int recvtag, MPI_Comm comm, MPI_Status *status)
{
	/* The outgoing record is sealed before anything is received, so the
	 * same user buffer can take the reply. */
	return MPI_Sendrecv(buf, count, dt, dest, sendtag, buf, count, dt,
	    source, recvtag, comm, status);
}

/* Probes report what the application will receive: plaintext sizes. */
ESMPI_EXPORT int
MPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status *status)
{
	struct esmpi_comm *c;
	MPI_Status local;
	int rc;

	if ((c = esmpi_protect(comm, source, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Probe(source, tag, comm, status);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_PROBE, NULL, 0, MPI_BYTE,
	    source, tag)) != MPI_SUCCESS)
		return rc;
	if (status == MPI_STATUS_IGNORE)
		status = &local;
	return esmpi_stash_probe(c, source, tag, NULL, status);
}

ESMPI_EXPORT int
MPI_Iprobe(int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status)
{
	struct esmpi_comm *c;
	MPI_Status local;
	int rc;

	if ((c = esmpi_protect(comm, source, &rc)) == NULL)
		return rc != MPI_SUCCESS ? rc :
		    PMPI_Iprobe(source, tag, comm, flag, status);
	if ((rc = esmpi_check_p2p(c, ESMPI_CHK_PROBE, NULL, 0, MPI_BYTE,
	    source, tag)) != MPI_SUCCESS)
		return rc;
	if (status == MPI_STATUS_IGNORE)
		status = &local;
	return esmpi_stash_probe(c, source, tag, flag, status);
}
