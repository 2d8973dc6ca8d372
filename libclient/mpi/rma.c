/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One-sided communication above MPI (docs/ARCHITECTURE.md, "One-sided
 * communication"). A window the application makes is a real MPI window
 * on MPI_COMM_SELF (handle, attributes, name, info, error handler keep
 * working) plus a private duplicate of its communicator made through
 * esmpi and a window key rank 0 draws and broadcasts sealed on it. MPI
 * never moves a window's data between processes: every operation is one
 * sealed message on the duplicate to the target, where one applier
 * thread per process applies what arrives, in arrival order, to the
 * window's memory and answers what needs an answer. Windows of
 * MPI_Win_allocate_shared pass through to MPI: their memory is shared
 * by ranks of one node only, which we check.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi/mpi_layer.h"
#include "esmpi_bytes.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"

/* Messages on a window's duplicate: one tag (and sequence) per stream */
enum { S_REQ = 1, S_REP, S_POST, S_DONE, S_NSTREAM };

enum {
	OP_PUT = 1, OP_GET, OP_ACC, OP_GACC, OP_CAS, OP_LOCK, OP_UNLOCK,
	OP_FLUSH, OP_POST, OP_DONE, OP_NACK, OP_BATCH,
};

/* Plaintext head of every message; the target's type description (int64
 * words) and the data follow. The whole is sealed. */
struct hdr {
	uint8_t op, lock;
	uint16_t pad;
	int32_t status;		/* replies: an MPI error class, 0: fine */
	int64_t disp;
	int32_t tcount;
	uint32_t tdesc;		/* words of type description */
	int32_t mop, basic;	/* accumulate: op and basic type indexes */
	uint64_t len;		/* data bytes */
};

/* Data of at least this many bytes is sealed from, or opened to, where
 * it belongs (esmpi_aead_seal_parts): below, a copy costs less. */
#define SEAL_FROM_SOURCE 1024

#define SEQ_LEN 8
#define TAG_LEN ESMPI_AEAD_TAG_LEN
#define WIRE_EXTRA (SEQ_LEN + TAG_LEN)

/*
 * Small requests to one target wait in its batch (head, description,
 * data, padded to 8 bytes, one after the other) until a request that
 * needs an answer (a flush, unlock, Get, ...), a large one or a full
 * batch: then the batch goes as one sealed OP_BATCH message, which the
 * applier applies item by item, in order, as if they came one by one.
 */
#define BATCH_ITEM_MAX 4096
#define BATCH_MAX (64 * 1024)

struct batch {
	uint8_t *buf;
	size_t len, cap;
};

/* An MPI_Get whose answer is taken at the next wait for its target. */
struct pget {
	void *buf;
	int count;
	MPI_Datatype type;	/* a dup unless predefined */
	struct pget *next;
};

/* OP_GET | DEFER: MPI_Get (not Rget) */
#define DEFER 0x80

/*
 * Keys: one chain per sender and direction (0: the origin side's
 * requests, posts and completes; 1: the applier's answers), stepped when
 * esmpid pushes a rotation (esmpictl rotate) or a rekey limit of the
 * window communicator's policy is reached: chain_0 = HKDF(window key,
 * "esmpi rma sender" || rank || direction), chain_e+1 = HKDF(chain_e,
 * "esmpi rekey"), epoch e's AEAD key HKDF(chain_e, "esmpi aead"). The
 * epoch rides in the sequence number's top 16 bits; a receiver steps a
 * sender's chain forward on its side and keeps the step only once a
 * message authenticates, and keeps the previous epoch's key for
 * messages still in flight on another stream.
 */
#define EPOCH_SHIFT 48
#define MAX_EPOCH 65535
#define EPOCH_AHEAD 64		/* steps a receiver tries at most */
#define SEQ_MASK ((UINT64_C(1) << EPOCH_SHIFT) - 1)

struct rx {
	uint8_t chain[32];	/* the sender's, at epoch */
	uint32_t epoch;
	struct esmpi_aead *cur, *prev;	/* epoch, epoch - 1 */
};

struct side {
	pthread_mutex_t lock;
	int dir;
	struct esmpi_aead *aead;	/* sending, at epoch */
	uint8_t chain[32];
	uint32_t epoch;
	unsigned gen;			/* rotations seen (esmpi.rekey_gen) */
	struct esmpi_pol_rekey lim;	/* the policy's limits per key */
	uint64_t msgs, bytes, since;	/* this epoch's use */
	struct rx *rx;			/* [2 * sender + direction] */
	int n;				/* senders */
	uint64_t seq[S_NSTREAM];	/* next to send per stream */
	uint64_t *last[S_NSTREAM];	/* per sender: highest opened + 1 */
};

struct pend {
	MPI_Request req;
	uint8_t *buf;
	size_t len;
	struct pend *next;
};

struct lockq {
	int origin, type;
	struct lockq *next;
};

struct range {
	uintptr_t base;
	size_t size;
};

struct rwin {
	MPI_Win win;		/* the application's handle (self window) */
	MPI_Comm comm;		/* private duplicate, through esmpi */
	int rank, size, dynamic, flavor;
	char *base;
	MPI_Aint my_size;
	int my_unit;
	MPI_Aint *sizes;	/* every rank's size and disp unit */
	int *units;
	uint8_t id[8];
	struct side org, tgt;	/* application side; applier side */
	/* origin side, under org.lock */
	struct pend *pend;
	unsigned char *dirty;	/* sent to this target since its flush */
	struct batch *batch;	/* per target: requests not sent yet */
	struct pget **pget;	/* per target: Gets not answered yet, FIFO */
	int32_t *broken;	/* per target: an answer failed, its error */
	MPI_Group start_grp, post_grp;
	int *post_left;
	int npost;
	/* applier side */
	int excl, shared;
	struct lockq *queue;
	int32_t *err_for;	/* per origin: error to report at its next reply */
	unsigned char *refused;	/* per origin: one of its messages failed */
	struct pend *tpend;
	/* attached regions of a dynamic window */
	pthread_mutex_t alock;
	struct range *ranges;
	int nranges;
	struct rwin *next;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rwin *wins;
static pthread_t applier;
static volatile int applier_on;
static volatile int applier_stop;
static int hooked;	/* progress_hook registered with MPI */
static unsigned long hook_passes;	/* the hook's runs: the rank is in MPI */
static unsigned long served_hook, served_applier;	/* under reg_lock */
static int tag_base = 0x4e00;
static int disabled;	/* MPI below THREAD_MULTIPLE: 1 ESMPI_RMA=off, 2 auto */

static struct rwin *
find(MPI_Win win)
{
	struct rwin *w;

	if (win == MPI_WIN_NULL)
		return NULL;
	pthread_mutex_lock(&reg_lock);
	for (w = wins; w != NULL && w->win != win; w = w->next)
		;
	pthread_mutex_unlock(&reg_lock);
	return w;
}

/* One clear message, then the window's error handler. */
static int
rma_fail(struct rwin *w, MPI_Win win, int code, const char *fn,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int
rma_fail(struct rwin *w, MPI_Win win, int code, const char *fn,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "esmpi: rank %d: %s: %s\n", esmpi.world_rank, fn, msg);
	fflush(stderr);
	if (w != NULL)
		win = w->win;
	if (win != MPI_WIN_NULL)
		PMPI_Win_call_errhandler(win, code);
	else
		PMPI_Comm_call_errhandler(MPI_COMM_WORLD, code);
	return code;
}

/* ---- sealing ---- */

static void
nonce_of(uint8_t n[ESMPI_AEAD_NONCE_LEN], int sender, int stream,
    uint64_t seq)
{
	uint32_t s = (uint32_t)sender;

	memcpy(n, &s, 4);
	n[4] = (uint8_t)stream;
	for (int i = 0; i < 7; i++)
		n[5 + i] = (uint8_t)(seq >> (8 * i));
}

static void
aad_of(uint8_t a[17], const struct rwin *w, int sender, int receiver,
    int stream)
{
	uint32_t s = (uint32_t)sender, r = (uint32_t)receiver;

	memcpy(a, w->id, 8);
	memcpy(a + 8, &s, 4);
	memcpy(a + 12, &r, 4);
	a[16] = (uint8_t)stream;
}

/* Message buffers come from the record pool (core/pool.c: no large
 * mmap and page faults per message); plaintext is wiped before they go
 * back. */
static void
msg_free(uint8_t *m, size_t len)
{
	if (m == NULL)
		return;
	memset(m, 0, len);
	esmpi_pool_put(m, len);
}

static int
stream_dir(int stream)
{
	return stream == S_REP;
}

static int
chain_first(const uint8_t key[32], int rank, int dir, uint8_t out[32])
{
	uint8_t info[16 + 5];

	memcpy(info, "esmpi rma sender", 16);
	esmpi_put_be32(info + 16, (uint32_t)rank);
	info[20] = (uint8_t)dir;
	return esmpi_hkdf_sha256(out, 32, NULL, 0, key, 32, info,
	    sizeof(info));
}

/* Why sd's key must move on before sealing len more bytes, or NULL. */
static const char *
rekey_due(const struct side *sd, size_t len, uint64_t now)
{
	if (sd->gen != (unsigned)atomic_load(&esmpi.rekey_gen))
		return "requested by esmpictl rotate";
	if (sd->lim.messages && sd->msgs + 1 > sd->lim.messages)
		return "message limit";
	if (sd->lim.bytes && sd->bytes + len > sd->lim.bytes && sd->msgs > 0)
		return "byte limit";
	if (sd->lim.seconds && now - sd->since >= sd->lim.seconds)
		return "time limit";
	return NULL;
}

/* Step sd's chain before sealing len bytes if a rotation was pushed or
 * a limit is reached, and count the use: 0, or -1 when the key may not
 * be used (no epoch left, or no new key: nothing is sealed). */
static int
rekey(struct side *sd, int stream, size_t len)
{
	struct esmpi_aead *n = NULL;
	uint8_t next[32];
	uint64_t now = esmpi_now_coarse();
	const char *why = rekey_due(sd, len, now);
	int r = 0;

	if (why != NULL) {
		memcpy(next, sd->chain, 32);
		if (sd->epoch >= MAX_EPOCH || esmpi_chain_next(next) != 0 ||
		    esmpi_chain_aead(next, ESMPI_SUITE_AES_256_GCM, &n) != 0)
			r = -1;
		else {
			esmpi_aead_free(sd->aead);	/* wipes the old one */
			sd->aead = n;
			memcpy(sd->chain, next, 32);
			sd->epoch++;
			sd->msgs = sd->bytes = 0;
			sd->since = now;
			sd->gen = (unsigned)atomic_load(&esmpi.rekey_gen);
			esmpi_audit_rekey("esmpi-rma", tag_base + stream,
			    ESMPI_SUITE_AES_256_GCM, sd->epoch, why);
		}
		esmpi_memzero(next, sizeof(next));
		if (r != 0)
			return r;
	}
	sd->msgs++;
	sd->bytes += len;
	return 0;
}

/* Seal head, description and data for dest on stream: a pooled
 * message of *len bytes. Caller holds sd->lock. */
static uint8_t *
seal_msg(struct rwin *w, struct side *sd, int dest, int stream,
    const struct hdr *h, const int64_t *tdesc, const void *data,
    size_t *len)
{
	size_t dl = (size_t)h->tdesc * 8, pl = sizeof(*h) + dl + h->len;
	uint8_t *m = esmpi_pool_get(pl + WIRE_EXTRA);
	uint8_t nonce[ESMPI_AEAD_NONCE_LEN];
	uint8_t aad[17];
	uint64_t seq, wire;
	struct esmpi_aead_part parts[2];

	if (m == NULL)
		return NULL;
	if (sd->seq[stream] > SEQ_MASK || rekey(sd, stream, pl) != 0) {
		esmpi_pool_put(m, pl + WIRE_EXTRA);
		return NULL;
	}
	seq = sd->seq[stream]++;
	/* Now and then, look for rotations esmpid pushed. */
	if ((seq & 255) == 255)
		esmpi_poll_daemon();
	wire = seq | (uint64_t)sd->epoch << EPOCH_SHIFT;
	memcpy(m, &wire, SEQ_LEN);
	memcpy(m + SEQ_LEN, h, sizeof(*h));
	if (dl)
		memcpy(m + SEQ_LEN + sizeof(*h), tdesc, dl);
	/* The head in place; large data sealed from where it is (the
	 * origin's buffer, the window) instead of copied first. */
	parts[0].out = m + SEQ_LEN;
	parts[0].in = m + SEQ_LEN;
	parts[0].len = pl;
	if (h->len >= SEAL_FROM_SOURCE) {
		parts[0].len = pl - h->len;
		parts[1].out = m + SEQ_LEN + parts[0].len;
		parts[1].in = data;
		parts[1].len = h->len;
	} else if (h->len)
		memcpy(m + SEQ_LEN + sizeof(*h) + dl, data, h->len);
	nonce_of(nonce, w->rank, stream, seq);
	aad_of(aad, w, w->rank, dest, stream);
	if (esmpi_aead_seal_parts(sd->aead, parts, 1 + (h->len >=
	    SEAL_FROM_SOURCE), m + SEQ_LEN + pl, nonce, aad,
	    sizeof(aad)) != 0) {
		msg_free(m, pl + WIRE_EXTRA);
		return NULL;
	}
	*len = pl + WIRE_EXTRA;
	return m;
}

/* Open a message from src in place: 0 and the head at *h (data follows
 * it), or ESMPI_ERR_AUTH / ESMPI_ERR_REPLAY with nothing usable. With
 * dst, an answer (no type description) of exactly dlen data bytes is
 * opened with its data into dst (*moved set); dst is wiped if it fails. */
static int
open_msg_into(struct rwin *w, struct side *sd, int src, int stream,
    uint8_t *m, size_t len, struct hdr **h, uint8_t *dst, size_t dlen,
    int *moved)
{
	struct esmpi_aead_part parts[2];
	int r, np = 1;
	uint8_t nonce[ESMPI_AEAD_NONCE_LEN], aad[17], chain[32];
	uint64_t seq;
	uint32_t e;
	size_t pl;
	struct hdr *x;
	struct rx *rx;
	struct esmpi_aead *a, *fresh = NULL;

	if (len < WIRE_EXTRA + sizeof(struct hdr) || src < 0 ||
	    src >= w->size)
		return ESMPI_ERR_AUTH;
	pl = len - WIRE_EXTRA;
	memcpy(&seq, m, SEQ_LEN);
	e = (uint32_t)(seq >> EPOCH_SHIFT);
	seq &= SEQ_MASK;
	rx = &sd->rx[2 * src + stream_dir(stream)];
	if (rx->cur == NULL && esmpi_chain_aead(rx->chain,
	    ESMPI_SUITE_AES_256_GCM, &rx->cur) != 0)
		return ESMPI_ERR_AUTH;
	if (e == rx->epoch)
		a = rx->cur;
	else if (e + 1 == rx->epoch && rx->prev != NULL)
		a = rx->prev;
	else if (e > rx->epoch && e - rx->epoch <= EPOCH_AHEAD) {
		memcpy(chain, rx->chain, 32);
		for (uint32_t i = rx->epoch; i < e; i++)
			if (esmpi_chain_next(chain) != 0)
				return esmpi_memzero(chain, 32), ESMPI_ERR_AUTH;
		if (esmpi_chain_aead(chain, ESMPI_SUITE_AES_256_GCM,
		    &fresh) != 0)
			return esmpi_memzero(chain, 32), ESMPI_ERR_AUTH;
		a = fresh;
	} else
		return ESMPI_ERR_AUTH;
	nonce_of(nonce, src, stream, seq);
	aad_of(aad, w, src, w->rank, stream);
	parts[0].out = m + SEQ_LEN;
	parts[0].in = m + SEQ_LEN;
	parts[0].len = pl;
	if (dst != NULL && dlen >= SEAL_FROM_SOURCE &&
	    pl == sizeof(struct hdr) + dlen) {
		parts[0].len = sizeof(struct hdr);
		parts[1].out = dst;
		parts[1].in = m + SEQ_LEN + sizeof(struct hdr);
		parts[1].len = dlen;
		np = 2;
	}
	if (esmpi_aead_open_parts(a, parts, np, m + SEQ_LEN + pl, nonce, aad,
	    sizeof(aad)) != 0) {
		esmpi_aead_free(fresh);
		esmpi_memzero(chain, 32);
		return ESMPI_ERR_AUTH;
	}
	if (fresh != NULL) {
		/* the sender stepped: keep its new key, and the one before
		 * for what it sent earlier on its other streams */
		esmpi_aead_free(rx->prev);
		if (e == rx->epoch + 1)
			rx->prev = rx->cur;
		else
			esmpi_aead_free(rx->cur), rx->prev = NULL;
		rx->cur = fresh;
		rx->epoch = e;
		memcpy(rx->chain, chain, 32);
		esmpi_memzero(chain, 32);
	}
	/* Messages of one stream from one sender arrive in order (MPI's
	 * non-overtaking rule); sequence numbers only grow. */
	x = (struct hdr *)(m + SEQ_LEN);
	if (seq < sd->last[stream][src])
		r = ESMPI_ERR_REPLAY;
	else if ((uint64_t)x->tdesc * 8 > pl - sizeof(*x) ||
	    x->len != pl - sizeof(*x) - (uint64_t)x->tdesc * 8)
		r = ESMPI_ERR_AUTH;
	else
		r = 0;
	if (r != 0) {
		memset(m, 0, len);
		if (np == 2)
			esmpi_memzero(dst, dlen);
		return r;
	}
	sd->last[stream][src] = seq + 1;
	if (moved != NULL)
		*moved = np == 2;
	*h = x;
	return 0;
}

static int
open_msg(struct rwin *w, struct side *sd, int src, int stream, uint8_t *m,
    size_t len, struct hdr **h)
{
	return open_msg_into(w, sd, src, stream, m, len, h, NULL, 0, NULL);
}

static void
refuse(struct rwin *w, int src, int stream, int r)
{
	int replay = r == ESMPI_ERR_REPLAY;

	esmpi_audit(replay ? "replay_detected" : "integrity_failure",
	    "esmpi-rma", src, tag_base + stream, "one-sided message from "
	    "window rank %d to window rank %d refused: %s", src, w->rank,
	    esmpi_strerror(r));
	fprintf(stderr, "esmpi: rank %d: %s: one-sided message from window "
	    "rank %d refused (%s); nothing applied to the window\n",
	    esmpi.world_rank, replay ? "replay detected" :
	    "integrity failure", src, esmpi_strerror(r));
	fflush(stderr);
}

/* Receive one message of stream from src (MPI_ANY_SOURCE: whoever);
 * blocking unless flag. Returns the buffer (caller frees) or NULL. */
static uint8_t *
recv_msg(struct rwin *w, int src, int stream, int *flag, int *from,
    size_t *len)
{
	MPI_Message msg;
	MPI_Status st;
	int n;
	uint8_t *m;

	if (flag != NULL) {
		if (PMPI_Improbe(src, tag_base + stream, w->comm, flag, &msg,
		    &st) != MPI_SUCCESS || !*flag)
			return NULL;
	} else if (PMPI_Mprobe(src, tag_base + stream, w->comm, &msg, &st) !=
	    MPI_SUCCESS)
		return NULL;
	PMPI_Get_count(&st, MPI_BYTE, &n);
	m = esmpi_pool_get(n > 0 ? (size_t)n : 1);
	if (m == NULL || PMPI_Mrecv(m, n, MPI_BYTE, &msg, &st) !=
	    MPI_SUCCESS) {
		if (m != NULL)
			esmpi_pool_put(m, n > 0 ? (size_t)n : 1);
		return NULL;
	}
	*from = st.MPI_SOURCE;
	*len = (size_t)n;
	return m;
}

static void
reap(struct pend **list, int all)
{
	struct pend **pp = list, *p;
	int done;

	while ((p = *pp) != NULL) {
		if (all)
			PMPI_Wait(&p->req, MPI_STATUS_IGNORE), done = 1;
		else
			PMPI_Test(&p->req, &done, MPI_STATUS_IGNORE);
		if (done) {
			*pp = p->next;
			esmpi_pool_put(p->buf, p->len);	/* ciphertext */
			free(p);
		} else
			pp = &p->next;
	}
}

/* Seal and send without waiting; the message is freed once sent. */
static int
send_msg(struct rwin *w, struct side *sd, struct pend **list, int dest,
    int stream, const struct hdr *h, const int64_t *tdesc,
    const void *data)
{
	size_t len;
	uint8_t *m = seal_msg(w, sd, dest, stream, h, tdesc, data, &len);
	struct pend *p = malloc(sizeof(*p));

	if (m == NULL || p == NULL || len > INT_MAX ||
	    PMPI_Isend(m, (int)len, MPI_BYTE, dest, tag_base + stream,
	    w->comm, &p->req) != MPI_SUCCESS) {
		if (m != NULL)
			msg_free(m, len);
		free(p);
		return MPI_ERR_OTHER;
	}
	p->buf = m;
	p->len = len;
	p->next = *list;
	*list = p;
	return MPI_SUCCESS;
}

/* ---- the applier ---- */

static int
in_window(struct rwin *w, char *addr, MPI_Aint lo, MPI_Aint hi)
{
	uintptr_t a = (uintptr_t)addr + (uintptr_t)lo;
	uintptr_t b = (uintptr_t)addr + (uintptr_t)hi;
	int i, ok = 0;

	if (hi < lo)
		return 0;
	if (!w->dynamic)
		return a >= (uintptr_t)w->base &&
		    b <= (uintptr_t)w->base + (uintptr_t)w->my_size;
	pthread_mutex_lock(&w->alock);
	for (i = 0; i < w->nranges && !ok; i++)
		ok = a >= w->ranges[i].base &&
		    b <= w->ranges[i].base + w->ranges[i].size;
	pthread_mutex_unlock(&w->alock);
	return ok;
}

static void
reply(struct rwin *w, int origin, int op, const void *data, size_t len)
{
	struct hdr h = { 0 };

	h.op = (uint8_t)op;
	h.status = w->err_for[origin];
	w->err_for[origin] = 0;
	h.len = len;
	pthread_mutex_lock(&w->tgt.lock);
	send_msg(w, &w->tgt, &w->tpend, origin, S_REP, &h, NULL, data);
	pthread_mutex_unlock(&w->tgt.lock);
}

static int
grantable(struct rwin *w, int type)
{
	return w->excl < 0 && (type == MPI_LOCK_SHARED || w->shared == 0);
}

static void
grant(struct rwin *w, int origin, int type)
{
	if (type == MPI_LOCK_EXCLUSIVE)
		w->excl = origin;
	else
		w->shared++;
	reply(w, origin, OP_LOCK, NULL, 0);
}

/*
 * apply() for a target of one predefined type without gaps (size ==
 * extent: not the pair types), at addr, checked in the window: the data
 * are the window's bytes, so no datatype is built and nothing packed.
 * 1 if it applied (rc set), 0 to take the general way.
 */
static int
apply_flat(const struct hdr *h, MPI_Datatype tt, char *addr,
    const uint8_t *data, size_t bytes, uint8_t **out, size_t *olen,
    int *borrowed, int *rc)
{
	MPI_Aint lb, ext;
	MPI_Op op;
	int sz;

	PMPI_Type_size(tt, &sz);
	PMPI_Type_get_extent(tt, &lb, &ext);
	if (sz <= 0 || lb != 0 || ext != sz)
		return 0;
	*rc = 0;
	if (h->op == OP_PUT) {
		if (h->len != bytes)
			*rc = MPI_ERR_SIZE;
		else
			memcpy(addr, data, bytes);
		return 1;
	}
	if (h->op == OP_GET) {
		/* sealed straight from the window by reply() */
		*out = (uint8_t *)addr;
		*olen = bytes;
		*borrowed = 1;
		return 1;
	}
	op = esmpi_rma_op(h->mop);
	if (esmpi_rma_named(h->basic) != tt || op == MPI_OP_NULL) {
		*rc = MPI_ERR_TYPE;
		return 1;
	}
	if (h->op == OP_CAS ? h->len != 2 * bytes || bytes != (size_t)sz :
	    h->op == OP_ACC || op != MPI_NO_OP ? h->len != bytes : 0) {
		*rc = MPI_ERR_SIZE;
		return 1;
	}
	/* MPI's reduction loops may assume the type's alignment */
	if (op != MPI_REPLACE && op != MPI_NO_OP && h->op != OP_CAS &&
	    (((uintptr_t)data | (uintptr_t)addr) % (sz < 16 ? sz : 16)))
		return 0;
	if (h->op != OP_ACC) {
		if ((*out = malloc(bytes + 1)) == NULL) {
			*rc = MPI_ERR_NO_MEM;
			return 1;
		}
		memcpy(*out, addr, bytes);
		*olen = bytes;
	}
	if (h->op == OP_CAS) {
		if (memcmp(addr, data + bytes, bytes) == 0)
			memcpy(addr, data, bytes);
	} else if (op == MPI_REPLACE)
		memcpy(addr, data, bytes);
	else if (op != MPI_NO_OP && bytes)
		*rc = PMPI_Reduce_local(data, addr, (int)(bytes / (size_t)sz),
		    tt, op);
	return 1;
}

/* Apply one data operation; MPI error class or 0. out/olen: what to
 * answer (Get, Get_accumulate, Fetch_and_op, Compare_and_swap); when
 * *borrowed, out is the window's memory (not to be freed). */
static int
apply(struct rwin *w, const struct hdr *h, const int64_t *tdesc,
    const uint8_t *data, uint8_t **out, size_t *olen, int *borrowed)
{
	MPI_Datatype tt, basic = MPI_DATATYPE_NULL;
	MPI_Aint lb, ext, tlb, text, bext, blb;
	char *addr;
	int sz, n = 0, pos, rc = 0, psz;
	uint8_t *cur = NULL, *pk = NULL, *org = NULL;
	size_t bytes;

	*out = NULL;
	*olen = 0;
	*borrowed = 0;
	if (esmpi_rma_build(tdesc, h->tdesc, &tt) != 0)
		return MPI_ERR_TYPE;
	addr = w->dynamic ? (char *)(uintptr_t)h->disp :
	    w->base + h->disp * (MPI_Aint)w->my_unit;
	PMPI_Type_get_extent(tt, &lb, &ext);
	PMPI_Type_get_true_extent(tt, &tlb, &text);
	PMPI_Type_size(tt, &sz);
	bytes = (size_t)sz * (size_t)h->tcount;
	if (h->tcount < 0 || (h->tcount > 0 && !in_window(w, addr, tlb,
	    tlb + (MPI_Aint)(h->tcount - 1) * ext + text))) {
		rc = MPI_ERR_RMA_RANGE;
		goto out;
	}
	if (h->tdesc == 2 && tdesc[0] == MPI_COMBINER_NAMED &&
	    apply_flat(h, tt, addr, data, bytes, out, olen, borrowed, &rc))
		goto out;
	if (h->op == OP_PUT) {
		pos = 0;
		if (h->len != bytes)
			rc = MPI_ERR_SIZE;
		else if (bytes)
			rc = PMPI_Unpack(data, (int)h->len, &pos, addr,
			    h->tcount, tt, MPI_COMM_SELF);
		goto out;
	}
	if (PMPI_Pack_size(h->tcount, tt, MPI_COMM_SELF, &psz) !=
	    MPI_SUCCESS || (pk = malloc((size_t)psz + 1)) == NULL) {
		rc = MPI_ERR_NO_MEM;
		goto out;
	}
	pos = 0;
	if (h->tcount)
		PMPI_Pack(addr, h->tcount, tt, pk, psz, &pos, MPI_COMM_SELF);
	if (h->op == OP_GET) {
		*out = pk;
		*olen = (size_t)pos;
		pk = NULL;
		goto out;
	}
	/* Accumulates: on an array of the basic type, packed form in and
	 * out (so pair types keep their layout) */
	basic = esmpi_rma_named(h->basic);
	if (basic == MPI_DATATYPE_NULL || esmpi_rma_op(h->mop) ==
	    MPI_OP_NULL || esmpi_rma_basic(tt) != basic) {
		rc = MPI_ERR_TYPE;
		goto out;
	}
	PMPI_Type_size(basic, &sz);
	PMPI_Type_get_extent(basic, &blb, &bext);
	n = sz ? (int)(bytes / (size_t)sz) : 0;
	if (h->op == OP_CAS ? h->len != 2 * bytes || n != 1 :
	    h->op == OP_ACC || h->mop != esmpi_rma_op_index(MPI_NO_OP) ?
	    h->len != bytes : 0) {
		rc = MPI_ERR_SIZE;
		goto out;
	}
	cur = malloc((size_t)n * (size_t)bext + 1);
	org = malloc((size_t)n * (size_t)bext + 1);
	if (cur == NULL || org == NULL) {
		rc = MPI_ERR_NO_MEM;
		goto out;
	}
	pos = 0;
	PMPI_Unpack(pk, psz, &pos, cur, n, basic, MPI_COMM_SELF);
	if (h->op != OP_ACC) {
		*out = malloc((size_t)psz + 1);
		if (*out == NULL) {
			rc = MPI_ERR_NO_MEM;
			goto out;
		}
		memcpy(*out, pk, (size_t)pos);
		*olen = (size_t)pos;
	}
	if (h->op == OP_CAS) {
		if (memcmp(pk, data + bytes, bytes) != 0)
			goto out;
		pos = 0;
		PMPI_Unpack(data, (int)bytes, &pos, cur, 1, basic,
		    MPI_COMM_SELF);
	} else if (esmpi_rma_op(h->mop) == MPI_NO_OP) {
		goto out;
	} else {
		pos = 0;
		if (n)
			PMPI_Unpack(data, (int)h->len, &pos, org, n, basic,
			    MPI_COMM_SELF);
		if (esmpi_rma_op(h->mop) == MPI_REPLACE)
			memcpy(cur, org, (size_t)n * (size_t)bext);
		else if (n && (rc = PMPI_Reduce_local(org, cur, n, basic,
		    esmpi_rma_op(h->mop))) != MPI_SUCCESS)
			goto out;
	}
	pos = 0;
	if (n) {
		PMPI_Pack(cur, n, basic, pk, psz, &pos, MPI_COMM_SELF);
		pos = 0;
		PMPI_Unpack(pk, psz, &pos, addr, h->tcount, tt,
		    MPI_COMM_SELF);
	}
out:
	if (rc && *out != NULL) {
		if (!*borrowed)
			free(*out);
		*out = NULL;
		*olen = 0;
		*borrowed = 0;
	}
	free(cur);
	free(org);
	free(pk);
	esmpi_rma_type_done(&tt);
	return rc;
}

/* src gives up its lock; grant the queue's head while it can be. */
static void
release(struct rwin *w, int src)
{
	struct lockq *q;

	if (w->excl == src)
		w->excl = -1;
	else if (w->shared > 0)
		w->shared--;
	while ((q = w->queue) != NULL && grantable(w, q->type)) {
		w->queue = q->next;
		grant(w, q->origin, q->type);
		free(q);
	}
}

/* One request from src, opened (alone or an item of a batch). */
static void
handle(struct rwin *w, int src, struct hdr *h)
{
	uint8_t *out;
	size_t olen;
	int r, borrowed;
	struct lockq *q, **pp;

	if (w->refused[src]) {
		if (h->op != OP_PUT && h->op != OP_ACC)
			reply(w, src, OP_NACK, NULL, 0);
		return;
	}
	switch (h->op) {
	case OP_PUT: case OP_GET: case OP_ACC: case OP_GACC: case OP_CAS:
		r = apply(w, h, (const int64_t *)(h + 1), (uint8_t *)(h + 1) +
		    (size_t)h->tdesc * 8, &out, &olen, &borrowed);
		if (r && !w->err_for[src])
			w->err_for[src] = r;
		if (h->op != OP_PUT && h->op != OP_ACC)
			reply(w, src, h->op, out, olen);
		if (!borrowed)
			free(out);
		break;
	case OP_FLUSH:
		reply(w, src, OP_FLUSH, NULL, 0);
		break;
	case OP_LOCK:
		if (w->queue == NULL && grantable(w, h->lock)) {
			grant(w, src, h->lock);
			break;
		}
		if ((q = malloc(sizeof(*q))) == NULL)
			break;
		q->origin = src;
		q->type = h->lock;
		q->next = NULL;
		for (pp = &w->queue; *pp != NULL; pp = &(*pp)->next)
			;
		*pp = q;
		break;
	case OP_UNLOCK:
		reply(w, src, OP_UNLOCK, NULL, 0);
		release(w, src);
		break;
	}
}

/* The items of a batch, in order; a malformed one ends it (recorded as
 * an error for src, answered at its next wait). */
static void
handle_batch(struct rwin *w, int src, struct hdr *b)
{
	uint8_t *p = (uint8_t *)(b + 1), *end = p + b->len;
	struct hdr *h;
	size_t n;

	while (p < end) {
		h = (struct hdr *)p;
		if ((size_t)(end - p) < sizeof(*h) || h->op == OP_BATCH ||
		    (uint64_t)h->tdesc * 8 > (size_t)(end - p) - sizeof(*h) ||
		    h->len > (size_t)(end - p) - sizeof(*h) -
		    (size_t)h->tdesc * 8) {
			if (!w->err_for[src])
				w->err_for[src] = MPI_ERR_OTHER;
			return;
		}
		n = sizeof(*h) + (size_t)h->tdesc * 8 + ((h->len + 7) & ~7ul);
		handle(w, src, h);
		p += n < (size_t)(end - p) ? n : (size_t)(end - p);
	}
}

static void
serve(struct rwin *w, int src, uint8_t *m, size_t len)
{
	struct hdr *h;
	int r;

	if ((r = open_msg(w, &w->tgt, src, S_REQ, m, len, &h)) != 0) {
		refuse(w, src, S_REQ, r);
		/* Nothing applied, from this one on: its stream from src has a
		 * hole. The origin learns at its next wait (the NACK answers
		 * it) and then sends us nothing more. An exclusive lock it
		 * held is released so the others go on. */
		w->err_for[src] = r == ESMPI_ERR_REPLAY ? esmpi.err_replay :
		    esmpi.err_auth;
		w->refused[src] = 1;
		reply(w, src, OP_NACK, NULL, 0);
		if (w->excl == src)
			release(w, src);
		return;
	}
	if (h->op == OP_BATCH && h->tdesc == 0)
		handle_batch(w, src, h);
	else
		handle(w, src, h);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	memset(m, 0, len);
}

/* Serve every window's waiting requests; the count. Caller holds
 * reg_lock: one server at a time, the applier or a progress pass. */
static int
serve_waiting(void)
{
	struct rwin *w;
	int flag, from, n = 0;
	size_t len;
	uint8_t *m;

	for (w = wins; w != NULL; w = w->next) {
		reap(&w->tpend, 0);
		while ((m = recv_msg(w, MPI_ANY_SOURCE, S_REQ, &flag, &from,
		    &len)) != NULL) {
			serve(w, from, m, len);
			esmpi_pool_put(m, len);	/* wiped */
			n++;
		}
	}
	return n;
}

#define HOOK_QUIET_NS 200000
#define HOOK_QUIET_EVERY 16

/*
 * MPI's progress loop (impl: Open MPI's) calls this from whatever
 * thread waits in MPI, so a rank waiting in MPI serves requests on the
 * thread already running. The lock is only tried: the applier may be
 * serving, and MPI calls made while serving come back here.
 */
static int
progress_hook(void)
{
	static unsigned skip;
	static uint64_t last_served;
	struct timespec ts;
	uint64_t now;
	unsigned k;
	int n;

	if (!applier_on || applier_stop)
		return 0;
	__atomic_add_fetch(&hook_passes, 1, __ATOMIC_RELAXED);
	/* A look costs a probe per window (~0.1-0.2 µs, on the path of
	 * whatever the thread waits for): after HOOK_QUIET_NS with nothing
	 * served, only every HOOK_QUIET_EVERY-th pass looks. */
	k = __atomic_load_n(&skip, __ATOMIC_RELAXED);
	if (k > 0) {
		__atomic_store_n(&skip, k - 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (pthread_mutex_trylock(&reg_lock))
		return 0;
	n = serve_waiting();
	served_hook += (unsigned long)n;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (n > 0)
		last_served = now;
	else if (now - last_served > HOOK_QUIET_NS)
		__atomic_store_n(&skip, HOOK_QUIET_EVERY - 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&reg_lock);
	return n;
}

/*
 * The applier serves while the rank's own threads are outside MPI: with
 * the progress hook, a rank in MPI serves for itself, and the applier
 * sleeps (0.5 ms steps) while the hook keeps running. Without the hook
 * (or while the rank computes), it spins after traffic (each pass
 * yields), then sleeps in 50 µs steps.
 */
static void *
applier_main(void *arg)
{
	unsigned idle = 0, spin = hooked ? 64 : 2000;
	unsigned long seen = 0, now;
	int busy;
	struct timespec ts = { 0, 50000 };
	/* Long: each wake-up takes a core from a rank spinning in MPI
	 * (50 µs steps cost a 2-rank ping-pong 0.3-0.9 µs on 2 cores). */
	const struct timespec in_mpi = { 0, 500000 };

	(void)arg;
	while (!applier_stop) {
		now = __atomic_load_n(&hook_passes, __ATOMIC_RELAXED);
		if (now != seen) {
			seen = now;
			nanosleep(&in_mpi, NULL);
			continue;
		}
		pthread_mutex_lock(&reg_lock);
		busy = serve_waiting();
		served_applier += (unsigned long)busy;
		pthread_mutex_unlock(&reg_lock);
		if (busy)
			idle = 0;
		else if (++idle < spin)
			sched_yield();
		else
			nanosleep(&ts, NULL);
	}
	return NULL;
}

/* ---- origin side ---- */

static int flat(int count, MPI_Datatype dt);
static int size_of(int count, MPI_Datatype dt, size_t *n);

/* Receive and open target t's next answer: 0 or its status (*m, *len:
 * the message for msg_free, *p and *n: its data), or the error that
 * breaks t. */
static int
answer1(struct rwin *w, int t, uint8_t **m, size_t *len, uint8_t **p,
    size_t *n, uint8_t *dst, size_t dlen, int *moved)
{
	struct hdr *h;
	int from, r;

	*len = 0;
	if ((*m = recv_msg(w, t, S_REP, NULL, &from, len)) == NULL)
		return MPI_ERR_OTHER;
	if ((r = open_msg_into(w, &w->org, from, S_REP, *m, *len, &h, dst,
	    dlen, moved)) != 0) {
		refuse(w, from, S_REP, r);
		w->broken[t] = r == ESMPI_ERR_REPLAY ? esmpi.err_replay :
		    esmpi.err_auth;
		return w->broken[t];
	}
	r = h->status;
	if (h->op == OP_NACK) {
		/* the target refused something of ours: its answers are out
		 * of step from here, so we stop talking to it */
		w->broken[t] = r ? r : esmpi.err_auth;
		return w->broken[t];
	}
	*p = (uint8_t *)(h + 1) + (size_t)h->tdesc * 8;
	*n = h->len;
	return r;
}

/* Copy an answer's n bytes at p into count elements of dt at buf. */
static int
unpack_result(const uint8_t *p, size_t n, void *buf, int count,
    MPI_Datatype dt)
{
	int pos = 0;
	size_t want;

	if (size_of(count, dt, &want) != 0 || want != n)
		return MPI_ERR_TYPE;
	if (flat(count, dt)) {
		memcpy(buf, p, n);
		return MPI_SUCCESS;
	}
	return n == 0 ? MPI_SUCCESS : PMPI_Unpack(p, (int)n, &pos, buf, count,
	    dt, MPI_COMM_SELF) == MPI_SUCCESS ? MPI_SUCCESS : MPI_ERR_TYPE;
}

static void
pget_drop(struct pget **pp)
{
	struct pget *g;

	while ((g = *pp) != NULL) {
		*pp = g->next;
		esmpi_rma_type_done(&g->type);
		free(g);
	}
}

/* Take the answers of t's Gets still out, in order, into their buffers;
 * the first error, after all of them (the stream stays in step). */
static int
take_gets(struct rwin *w, int t)
{
	struct pget *g;
	uint8_t *m, *p = NULL;
	size_t n = 0, ml, want;
	int r, rc = 0, moved = 0;

	while ((g = w->pget[t]) != NULL) {
		/* contiguous results are opened straight into the buffer */
		if (!flat(g->count, g->type) || size_of(g->count, g->type,
		    &want) != 0)
			want = 0;
		moved = 0;
		r = answer1(w, t, &m, &ml, &p, &n, want ? g->buf : NULL, want,
		    &moved);
		if (r == 0 && !moved)
			r = unpack_result(p, n, g->buf, g->count, g->type);
		msg_free(m, ml);
		w->pget[t] = g->next;
		esmpi_rma_type_done(&g->type);
		free(g);
		if (w->broken[t]) {
			pget_drop(&w->pget[t]);
			return w->broken[t];
		}
		if (r && !rc)
			rc = r;
	}
	return rc;
}

/* Wait for the answer of target t (after its Gets still out); 0 or an
 * MPI error class (a NACK or an error the target recorded for us),
 * raised by the caller. *data (msg_free with *mlen) holds the answer's
 * bytes from *payload on. */
static int
await(struct rwin *w, int t, uint8_t **data, size_t *mlen,
    uint8_t **payload, size_t *dlen)
{
	uint8_t *m, *p = NULL;
	size_t n = 0, ml;
	int r, rg = take_gets(w, t);

	if (data != NULL)
		*data = NULL;
	if (w->broken[t])
		return w->broken[t];
	r = answer1(w, t, &m, &ml, &p, &n, NULL, 0, NULL);
	if (data != NULL && !r && !rg) {
		*data = m;
		*mlen = ml;
		*payload = p;
		*dlen = n;
	} else
		msg_free(m, ml);
	return rg ? rg : r;
}

static size_t
item_len(const struct hdr *h)
{
	return sizeof(*h) + (size_t)h->tdesc * 8 + ((h->len + 7) & ~7ul);
}

static int
batch_add(struct batch *b, const struct hdr *h, const int64_t *tdesc,
    const void *data)
{
	size_t n = item_len(h), dl = (size_t)h->tdesc * 8;
	uint8_t *p;

	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n)
			cap *= 2;
		if ((p = realloc(b->buf, cap)) == NULL)
			return MPI_ERR_NO_MEM;
		b->buf = p;
		b->cap = cap;
	}
	p = b->buf + b->len;
	memcpy(p, h, sizeof(*h));
	if (dl)
		memcpy(p + sizeof(*h), tdesc, dl);
	if (h->len)
		memcpy(p + sizeof(*h) + dl, data, h->len);
	memset(p + sizeof(*h) + dl + h->len, 0, n - sizeof(*h) - dl - h->len);
	b->len += n;
	return MPI_SUCCESS;
}

/* Send t's batch, if any, as one message. */
static int
batch_send(struct rwin *w, int t)
{
	struct batch *b = &w->batch[t];
	struct hdr h = { 0 };
	int r;

	if (b->len == 0)
		return MPI_SUCCESS;
	h.op = OP_BATCH;
	h.len = b->len;
	r = send_msg(w, &w->org, &w->pend, t, S_REQ, &h, NULL, b->buf);
	memset(b->buf, 0, b->len);
	b->len = 0;
	return r;
}

/* Hand a request for t to MPI, or to t's batch: a small one that needs
 * no answer waits there (unless now); anything else goes at once, with
 * the batch before it (or as its last item). Caller holds org.lock. */
static int
post(struct rwin *w, int t, const struct hdr *h, const int64_t *tdesc,
    const void *data, int now)
{
	struct batch *b = &w->batch[t];
	size_t n = item_len(h);
	int r;

	if (n <= BATCH_ITEM_MAX && (b->len || !now)) {
		if (b->len + n > BATCH_MAX && (r = batch_send(w, t)))
			return r;
		if ((r = batch_add(b, h, tdesc, data)) != MPI_SUCCESS)
			return r;
		return now ? batch_send(w, t) : MPI_SUCCESS;
	}
	if ((r = batch_send(w, t)) != MPI_SUCCESS)
		return r;
	return send_msg(w, &w->org, &w->pend, t, S_REQ, h, tdesc, data);
}

/* Send a request to t and, for what answers, wait for it. */
static int
request(struct rwin *w, int t, struct hdr *h, const int64_t *tdesc,
    const void *data, int answer, uint8_t **res, size_t *rml,
    uint8_t **rp, size_t *rlen)
{
	int r;

	if (w->broken[t])
		return w->broken[t];
	r = post(w, t, h, tdesc, data, answer);
	if (r != MPI_SUCCESS)
		return r;
	if (!answer) {
		w->dirty[t] = 1;
		return MPI_SUCCESS;
	}
	r = await(w, t, res, rml, rp, rlen);
	reap(&w->pend, 0);
	return r;
}

static int
flush_one(struct rwin *w, int t, int op, int lock)
{
	struct hdr h = { 0 };

	h.op = (uint8_t)op;
	h.lock = (uint8_t)lock;
	w->dirty[t] = 0;
	return request(w, t, &h, NULL, NULL, 1, NULL, NULL, NULL, NULL);
}

/* Flush every target written since its last flush: requests to all,
 * then the answers. */
static int
flush_dirty(struct rwin *w)
{
	struct hdr h = { 0 };
	int t, r, rc = MPI_SUCCESS;
	unsigned char *sent = calloc((size_t)w->size, 1);

	if (sent == NULL)
		return MPI_ERR_NO_MEM;
	h.op = OP_FLUSH;
	for (t = 0; t < w->size; t++)
		if (w->dirty[t] && w->broken[t]) {
			w->dirty[t] = 0;
			w->batch[t].len = 0;
			pget_drop(&w->pget[t]);
			rc = rc ? rc : w->broken[t];
		} else if (w->dirty[t]) {
			w->dirty[t] = 0;
			sent[t] = 1;
			if ((r = post(w, t, &h, NULL, NULL, 1)) !=
			    MPI_SUCCESS)
				return free(sent), r;
		}
	for (t = 0; t < w->size; t++)
		if (sent[t] && (r = await(w, t, NULL, NULL, NULL, NULL)) &&
		    !rc)
			rc = r;
	free(sent);
	reap(&w->pend, 1);
	return rc;
}

static int
raise_rc(struct rwin *w, const char *fn, int rc, int target)
{
	if (rc == MPI_SUCCESS)
		return rc;
	if ((rc == esmpi.err_auth || rc == esmpi.err_replay) && target < 0)
		return rma_fail(w, MPI_WIN_NULL, rc, fn, "one-sided traffic "
		    "failed authentication (refused, audited); nothing "
		    "applied from the refused message on");
	if (rc == esmpi.err_auth || rc == esmpi.err_replay)
		return rma_fail(w, MPI_WIN_NULL, rc, fn, "one-sided traffic "
		    "with window rank %d failed authentication (refused, "
		    "audited); nothing applied from the refused message on, "
		    "no more operations with that rank on this window",
		    target);
	return rma_fail(w, MPI_WIN_NULL, rc, fn, "target rank %d refused "
	    "an operation: %s", target, rc == MPI_ERR_RMA_RANGE ?
	    "outside its window (or not in an attached region)" :
	    rc == MPI_ERR_TYPE ? "datatype it cannot apply" :
	    "operation failed there");
}

/* What every data call checks first; the window or NULL (rc set:
 * an error already raised, or pass through to MPI when *pass). */
static struct rwin *
op_start(MPI_Win win, const char *fn, int target, int *rc, int *pass)
{
	struct rwin *w;

	*rc = MPI_SUCCESS;
	*pass = 0;
	if ((w = find(win)) == NULL) {
		*pass = 1;
		return NULL;
	}
	if (target == MPI_PROC_NULL) {
		*rc = MPI_SUCCESS;
		return NULL;
	}
	if (target < 0 || target >= w->size) {
		*rc = rma_fail(w, win, MPI_ERR_RANK, fn, "target rank %d out "
		    "of range (window of %d ranks)", target, w->size);
		return NULL;
	}
	return w;
}

/* Target type description, basic type and bounds as the origin sees
 * them; MPI error class. */
static int
prepare(struct rwin *w, const char *fn, struct hdr *h, int target,
    MPI_Aint disp, int tcount, MPI_Datatype tt, int64_t **tdesc)
{
	MPI_Aint tlb, text, lb, ext;
	size_t n;

	if (tcount < 0)
		return rma_fail(w, 0, MPI_ERR_COUNT, fn, "negative target "
		    "count %d", tcount);
	if (tt == MPI_DATATYPE_NULL || esmpi_rma_describe(tt, tdesc, &n))
		return rma_fail(w, 0, MPI_ERR_TYPE, fn, "target datatype "
		    "not supported (predefined, contiguous, vector, hvector, "
		    "indexed, hindexed, indexed_block, struct, subarray, "
		    "resized and dup are)");
	h->disp = disp;
	h->tcount = tcount;
	h->tdesc = (uint32_t)n;
	if (!w->dynamic && tcount > 0) {
		PMPI_Type_get_extent(tt, &lb, &ext);
		PMPI_Type_get_true_extent(tt, &tlb, &text);
		if (disp < 0 || disp * w->units[target] + tlb < 0 ||
		    disp * w->units[target] + tlb + (MPI_Aint)(tcount - 1) *
		    ext + text > w->sizes[target]) {
			free(*tdesc);
			*tdesc = NULL;
			return rma_fail(w, 0, MPI_ERR_RMA_RANGE, fn, "target "
			    "displacement %ld, %d element(s) reach outside "
			    "rank %d's window of %ld bytes", (long)disp,
			    tcount, target, (long)w->sizes[target]);
		}
	}
	return MPI_SUCCESS;
}

static uint8_t *
pack(const void *buf, int count, MPI_Datatype dt, size_t *len, int *rc)
{
	int sz, pos = 0;
	uint8_t *p;

	*rc = MPI_SUCCESS;
	if (count < 0 || PMPI_Pack_size(count, dt, MPI_COMM_SELF, &sz) !=
	    MPI_SUCCESS) {
		*rc = MPI_ERR_TYPE;
		return NULL;
	}
	if ((p = malloc((size_t)sz + 1)) == NULL) {
		*rc = MPI_ERR_NO_MEM;
		return NULL;
	}
	if (count && PMPI_Pack(buf, count, dt, p, sz, &pos, MPI_COMM_SELF) !=
	    MPI_SUCCESS) {
		free(p);
		*rc = MPI_ERR_TYPE;
		return NULL;
	}
	*len = (size_t)pos;
	return p;
}

/* Whether count elements of dt are their packed form in memory (a
 * predefined type without gaps): then they are sealed from the buffer. */
static int
flat(int count, MPI_Datatype dt)
{
	int ni, na, nd, comb, sz;
	MPI_Aint lb, ext;

	return count > 0 && PMPI_Type_get_envelope(dt, &ni, &na, &nd,
	    &comb) == MPI_SUCCESS && comb == MPI_COMBINER_NAMED &&
	    PMPI_Type_size(dt, &sz) == MPI_SUCCESS &&
	    PMPI_Type_get_extent(dt, &lb, &ext) == MPI_SUCCESS &&
	    lb == 0 && ext == sz;
}

static int
size_of(int count, MPI_Datatype dt, size_t *n)
{
	int sz;

	if (dt == MPI_DATATYPE_NULL || count < 0 ||
	    PMPI_Type_size(dt, &sz) != MPI_SUCCESS)
		return -1;
	*n = (size_t)sz * (size_t)count;
	return 0;
}

/* MPI_Get: the request joins t's batch, the answer is taken into buf
 * at the next wait for t (a flush, unlock, fence, ... or an answer). */
static int
get_later(struct rwin *w, int t, struct hdr *h, const int64_t *tdesc,
    void *buf, int count, MPI_Datatype dt)
{
	struct pget *g, **pp;
	int r;

	if (w->broken[t])
		return w->broken[t];
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return MPI_ERR_NO_MEM;
	g->buf = buf;
	g->count = count;
	g->type = dt;
	if (esmpi_rma_named_index(dt) < 0 && (r = PMPI_Type_dup(dt,
	    &g->type)) != MPI_SUCCESS) {
		free(g);
		return r;
	}
	if ((r = post(w, t, h, tdesc, NULL, 0)) != MPI_SUCCESS) {
		esmpi_rma_type_done(&g->type);
		free(g);
		return r;
	}
	for (pp = &w->pget[t]; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = g;
	w->dirty[t] = 1;
	return MPI_SUCCESS;
}

/* Every data operation: kind, origin data (in), result buffer (out:
 * Get's origin, Get_accumulate's result, Fetch_and_op's, CAS's). */
static int
data_op(const char *fn, int kind, const void *oaddr, int ocount,
    MPI_Datatype otype, const void *cmp, void *raddr, int rcount,
    MPI_Datatype rtype, int target, MPI_Aint disp, int tcount,
    MPI_Datatype ttype, MPI_Op op, MPI_Win win)
{
	struct hdr h = { 0 };
	struct rwin *w;
	int rc, pass, defer = kind & DEFER, answer;
	int64_t *tdesc = NULL;
	uint8_t *data = NULL, *res = NULL, *rp = NULL;
	const void *src = NULL;
	size_t dlen = 0, rlen = 0, rml = 0, tb, ob;
	MPI_Datatype basic;

	if ((w = op_start(win, fn, target, &rc, &pass)) == NULL)
		return pass ? -1 : rc;
	kind &= ~DEFER;
	answer = kind != OP_PUT && kind != OP_ACC;
	h.op = (uint8_t)kind;
	if ((rc = prepare(w, fn, &h, target, disp, tcount, ttype, &tdesc)))
		return rc;
	if (size_of(tcount, ttype, &tb) != 0) {
		rc = rma_fail(w, 0, MPI_ERR_TYPE, fn, "invalid target type");
		goto out;
	}
	if (kind == OP_ACC || kind == OP_GACC || kind == OP_CAS) {
		basic = esmpi_rma_basic(ttype);
		h.basic = esmpi_rma_named_index(basic);
		h.mop = esmpi_rma_op_index(kind == OP_CAS ? MPI_REPLACE : op);
		if (h.basic < 0 || h.mop < 0 || (ocount > 0 &&
		    esmpi_rma_basic(otype) != basic)) {
			rc = rma_fail(w, 0, h.mop < 0 ? MPI_ERR_OP :
			    MPI_ERR_TYPE, fn, h.mop < 0 ? "not a predefined "
			    "reduction operation" : "origin and target "
			    "datatypes must be built of one same predefined "
			    "type");
			goto out;
		}
	}
	if (kind == OP_PUT || kind == OP_ACC || (kind == OP_GACC &&
	    op != MPI_NO_OP)) {
		if (size_of(ocount, otype, &ob) != 0 || ob != tb) {
			rc = rma_fail(w, 0, MPI_ERR_TYPE, fn, "origin (%d "
			    "element(s)) and target (%d) type signatures "
			    "differ in size", ocount, tcount);
			goto out;
		}
		if (flat(ocount, otype))
			src = oaddr, dlen = ob;
		else if ((data = pack(oaddr, ocount, otype, &dlen, &rc)) ==
		    NULL)
			goto fail;
	} else if (kind == OP_CAS) {
		size_t a, b;
		uint8_t *x = pack(oaddr, 1, otype, &a, &rc), *y;

		if (x == NULL)
			goto fail;
		if ((y = pack(cmp, 1, otype, &b, &rc)) == NULL) {
			free(x);
			goto fail;
		}
		if ((data = malloc(a + b)) == NULL) {
			free(x);
			free(y);
			rc = MPI_ERR_NO_MEM;
			goto fail;
		}
		memcpy(data, x, a);
		memcpy(data + a, y, b);
		dlen = a + b;
		free(x);
		free(y);
	}
	h.len = dlen;
	if (defer) {
		if (size_of(rcount, rtype, &ob) != 0 || ob != tb) {
			rc = rma_fail(w, 0, MPI_ERR_TYPE, fn, "origin (%d "
			    "element(s)) and target (%d) type signatures "
			    "differ in size", rcount, tcount);
			goto out;
		}
		pthread_mutex_lock(&w->org.lock);
		rc = get_later(w, target, &h, tdesc, raddr, rcount, rtype);
		pthread_mutex_unlock(&w->org.lock);
		if (rc != MPI_SUCCESS)
			rc = raise_rc(w, fn, rc, target);
		goto out;
	}
	pthread_mutex_lock(&w->org.lock);
	rc = request(w, target, &h, tdesc, src != NULL ? src : data, answer,
	    &res, &rml, &rp, &rlen);
	pthread_mutex_unlock(&w->org.lock);
	if (rc != MPI_SUCCESS) {
		rc = raise_rc(w, fn, rc, target);
		goto out;
	}
	if (answer && rcount > 0 &&
	    unpack_result(rp, rlen, raddr, rcount, rtype) != MPI_SUCCESS)
		rc = rma_fail(w, 0, MPI_ERR_TYPE, fn, "result buffer (%d "
		    "element(s)) does not match the target's %zu bytes",
		    rcount, rlen);
	goto out;
fail:
	rc = rma_fail(w, 0, rc, fn, "cannot pack the origin buffer");
out:
	free(tdesc);
	free(data);
	msg_free(res, rml);
	return rc;
}

/* A request-based operation completes (locally and, since answers are
 * awaited, remotely) within the call: its request is born complete. */
static int
grq_query(void *extra, MPI_Status *st)
{
	(void)extra;
	PMPI_Status_set_elements(st, MPI_BYTE, 0);
	PMPI_Status_set_cancelled(st, 0);
	st->MPI_SOURCE = MPI_UNDEFINED;
	st->MPI_TAG = MPI_UNDEFINED;
	return MPI_SUCCESS;
}

static int
grq_free(void *extra)
{
	(void)extra;
	return MPI_SUCCESS;
}

static int
grq_cancel(void *extra, int complete)
{
	(void)extra;
	(void)complete;
	return MPI_SUCCESS;
}

static int
complete_request(MPI_Request *req)
{
	int rc = PMPI_Grequest_start(grq_query, grq_free, grq_cancel, NULL,
	    req);

	return rc ? rc : PMPI_Grequest_complete(*req);
}

ESMPI_EXPORT int
MPI_Put(const void *oaddr, int ocount, MPI_Datatype otype, int target,
    MPI_Aint disp, int tcount, MPI_Datatype ttype, MPI_Win win)
{
	int rc = data_op("MPI_Put", OP_PUT, oaddr, ocount, otype, NULL, NULL,
	    0, MPI_DATATYPE_NULL, target, disp, tcount, ttype, MPI_OP_NULL,
	    win);

	return rc < 0 ? PMPI_Put(oaddr, ocount, otype, target, disp, tcount,
	    ttype, win) : rc;
}

ESMPI_EXPORT int
MPI_Get(void *oaddr, int ocount, MPI_Datatype otype, int target,
    MPI_Aint disp, int tcount, MPI_Datatype ttype, MPI_Win win)
{
	int rc = data_op("MPI_Get", OP_GET | DEFER, NULL, 0, MPI_DATATYPE_NULL, NULL,
	    oaddr, ocount, otype, target, disp, tcount, ttype, MPI_OP_NULL,
	    win);

	return rc < 0 ? PMPI_Get(oaddr, ocount, otype, target, disp, tcount,
	    ttype, win) : rc;
}

ESMPI_EXPORT int
MPI_Accumulate(const void *oaddr, int ocount, MPI_Datatype otype,
    int target, MPI_Aint disp, int tcount, MPI_Datatype ttype, MPI_Op op,
    MPI_Win win)
{
	int rc = data_op("MPI_Accumulate", OP_ACC, oaddr, ocount, otype, NULL,
	    NULL, 0, MPI_DATATYPE_NULL, target, disp, tcount, ttype, op, win);

	return rc < 0 ? PMPI_Accumulate(oaddr, ocount, otype, target, disp,
	    tcount, ttype, op, win) : rc;
}

ESMPI_EXPORT int
MPI_Get_accumulate(const void *oaddr, int ocount, MPI_Datatype otype,
    void *raddr, int rcount, MPI_Datatype rtype, int target, MPI_Aint disp,
    int tcount, MPI_Datatype ttype, MPI_Op op, MPI_Win win)
{
	int rc = data_op("MPI_Get_accumulate", OP_GACC, oaddr, ocount, otype,
	    NULL, raddr, rcount, rtype, target, disp, tcount, ttype, op, win);

	return rc < 0 ? PMPI_Get_accumulate(oaddr, ocount, otype, raddr,
	    rcount, rtype, target, disp, tcount, ttype, op, win) : rc;
}

ESMPI_EXPORT int
MPI_Fetch_and_op(const void *oaddr, void *raddr, MPI_Datatype dt,
    int target, MPI_Aint disp, MPI_Op op, MPI_Win win)
{
	int rc = data_op("MPI_Fetch_and_op", OP_GACC, oaddr,
	    op == MPI_NO_OP ? 0 : 1, dt, NULL, raddr, 1, dt, target, disp, 1,
	    dt, op, win);

	return rc < 0 ? PMPI_Fetch_and_op(oaddr, raddr, dt, target, disp, op,
	    win) : rc;
}

ESMPI_EXPORT int
MPI_Compare_and_swap(const void *oaddr, const void *caddr, void *raddr,
    MPI_Datatype dt, int target, MPI_Aint disp, MPI_Win win)
{
	int rc = data_op("MPI_Compare_and_swap", OP_CAS, oaddr, 1, dt, caddr,
	    raddr, 1, dt, target, disp, 1, dt, MPI_OP_NULL, win);

	return rc < 0 ? PMPI_Compare_and_swap(oaddr, caddr, raddr, dt,
	    target, disp, win) : rc;
}

ESMPI_EXPORT int
MPI_Rput(const void *oaddr, int ocount, MPI_Datatype otype, int target,
    MPI_Aint disp, int tcount, MPI_Datatype ttype, MPI_Win win,
    MPI_Request *req)
{
	int rc = data_op("MPI_Rput", OP_PUT, oaddr, ocount, otype, NULL, NULL,
	    0, MPI_DATATYPE_NULL, target, disp, tcount, ttype, MPI_OP_NULL,
	    win);

	if (rc < 0)
		return PMPI_Rput(oaddr, ocount, otype, target, disp, tcount,
		    ttype, win, req);
	return rc ? rc : complete_request(req);
}

ESMPI_EXPORT int
MPI_Rget(void *oaddr, int ocount, MPI_Datatype otype, int target,
    MPI_Aint disp, int tcount, MPI_Datatype ttype, MPI_Win win,
    MPI_Request *req)
{
	int rc = data_op("MPI_Rget", OP_GET, NULL, 0, MPI_DATATYPE_NULL, NULL,
	    oaddr, ocount, otype, target, disp, tcount, ttype, MPI_OP_NULL,
	    win);

	if (rc < 0)
		return PMPI_Rget(oaddr, ocount, otype, target, disp, tcount,
		    ttype, win, req);
	return rc ? rc : complete_request(req);
}

ESMPI_EXPORT int
MPI_Raccumulate(const void *oaddr, int ocount, MPI_Datatype otype,
    int target, MPI_Aint disp, int tcount, MPI_Datatype ttype, MPI_Op op,
    MPI_Win win, MPI_Request *req)
{
	int rc = data_op("MPI_Raccumulate", OP_ACC, oaddr, ocount, otype,
	    NULL, NULL, 0, MPI_DATATYPE_NULL, target, disp, tcount, ttype, op,
	    win);

	if (rc < 0)
		return PMPI_Raccumulate(oaddr, ocount, otype, target, disp,
		    tcount, ttype, op, win, req);
	return rc ? rc : complete_request(req);
}

ESMPI_EXPORT int
MPI_Rget_accumulate(const void *oaddr, int ocount, MPI_Datatype otype,
    void *raddr, int rcount, MPI_Datatype rtype, int target, MPI_Aint disp,
    int tcount, MPI_Datatype ttype, MPI_Op op, MPI_Win win,
    MPI_Request *req)
{
	int rc = data_op("MPI_Rget_accumulate", OP_GACC, oaddr, ocount,
	    otype, NULL, raddr, rcount, rtype, target, disp, tcount, ttype, op,
	    win);

	if (rc < 0)
		return PMPI_Rget_accumulate(oaddr, ocount, otype, raddr,
		    rcount, rtype, target, disp, tcount, ttype, op, win, req);
	return rc ? rc : complete_request(req);
}

/* ---- synchronisation ---- */

#define SYNC_START(fn) \
	struct rwin *w = find(win); \
	int rc = MPI_SUCCESS; \
	if (w == NULL)

ESMPI_EXPORT int
MPI_Win_fence(int assert, MPI_Win win)
{
	SYNC_START("MPI_Win_fence")
		return PMPI_Win_fence(assert, win);
	pthread_mutex_lock(&w->org.lock);
	rc = flush_dirty(w);
	pthread_mutex_unlock(&w->org.lock);
	if (rc)
		return raise_rc(w, "MPI_Win_fence", rc, -1);
	/* every rank's operations on us are applied once all passed */
	rc = PMPI_Barrier(w->comm);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return rc;
}

static int
lock_one(struct rwin *w, const char *fn, int type, int rank)
{
	int rc;

	if (type != MPI_LOCK_SHARED && type != MPI_LOCK_EXCLUSIVE)
		return rma_fail(w, 0, MPI_ERR_LOCKTYPE, fn, "lock type %d is "
		    "neither MPI_LOCK_SHARED nor MPI_LOCK_EXCLUSIVE", type);
	pthread_mutex_lock(&w->org.lock);
	rc = flush_one(w, rank, OP_LOCK, type);
	pthread_mutex_unlock(&w->org.lock);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return raise_rc(w, fn, rc, rank);
}

static int
unlock_one(struct rwin *w, const char *fn, int rank)
{
	int rc;

	pthread_mutex_lock(&w->org.lock);
	rc = flush_one(w, rank, OP_UNLOCK, 0);
	reap(&w->pend, 1);
	pthread_mutex_unlock(&w->org.lock);
	return raise_rc(w, fn, rc, rank);
}

ESMPI_EXPORT int
MPI_Win_lock(int type, int rank, int assert, MPI_Win win)
{
	int pass;
	struct rwin *w;
	int rc;

	if ((w = op_start(win, "MPI_Win_lock", rank, &rc, &pass)) == NULL)
		return pass ? PMPI_Win_lock(type, rank, assert, win) : rc;
	return lock_one(w, "MPI_Win_lock", type, rank);
}

ESMPI_EXPORT int
MPI_Win_unlock(int rank, MPI_Win win)
{
	int pass;
	struct rwin *w;
	int rc;

	if ((w = op_start(win, "MPI_Win_unlock", rank, &rc, &pass)) == NULL)
		return pass ? PMPI_Win_unlock(rank, win) : rc;
	return unlock_one(w, "MPI_Win_unlock", rank);
}

ESMPI_EXPORT int
MPI_Win_lock_all(int assert, MPI_Win win)
{
	int t;

	SYNC_START("MPI_Win_lock_all")
		return PMPI_Win_lock_all(assert, win);
	for (t = 0; t < w->size && !rc; t++)
		rc = lock_one(w, "MPI_Win_lock_all", MPI_LOCK_SHARED, t);
	return rc;
}

ESMPI_EXPORT int
MPI_Win_unlock_all(MPI_Win win)
{
	int t;

	SYNC_START("MPI_Win_unlock_all")
		return PMPI_Win_unlock_all(win);
	for (t = 0; t < w->size && !rc; t++)
		rc = unlock_one(w, "MPI_Win_unlock_all", t);
	return rc;
}

static int
flush(MPI_Win win, int rank, const char *fn, int (*pmpi)(int, MPI_Win))
{
	int pass, rc;
	struct rwin *w;

	if ((w = op_start(win, fn, rank, &rc, &pass)) == NULL)
		return pass ? pmpi(rank, win) : rc;
	pthread_mutex_lock(&w->org.lock);
	/* Nothing unanswered (no Put, Accumulate, Get since the last
	 * flush): every operation on rank is complete already. */
	if (w->dirty[rank] || w->broken[rank])
		rc = flush_one(w, rank, OP_FLUSH, 0);
	reap(&w->pend, 1);
	pthread_mutex_unlock(&w->org.lock);
	return raise_rc(w, fn, rc, rank);
}

static int
flush_all(MPI_Win win, const char *fn, int (*pmpi)(MPI_Win))
{
	SYNC_START(fn)
		return pmpi(win);
	pthread_mutex_lock(&w->org.lock);
	rc = flush_dirty(w);
	pthread_mutex_unlock(&w->org.lock);
	return raise_rc(w, fn, rc, -1);
}

ESMPI_EXPORT int
MPI_Win_flush(int rank, MPI_Win win)
{
	return flush(win, rank, "MPI_Win_flush", PMPI_Win_flush);
}

ESMPI_EXPORT int
MPI_Win_flush_local(int rank, MPI_Win win)
{
	return flush(win, rank, "MPI_Win_flush_local", PMPI_Win_flush_local);
}

ESMPI_EXPORT int
MPI_Win_flush_all(MPI_Win win)
{
	return flush_all(win, "MPI_Win_flush_all", PMPI_Win_flush_all);
}

ESMPI_EXPORT int
MPI_Win_flush_local_all(MPI_Win win)
{
	return flush_all(win, "MPI_Win_flush_local_all",
	    PMPI_Win_flush_local_all);
}

ESMPI_EXPORT int
MPI_Win_sync(MPI_Win win)
{
	SYNC_START("MPI_Win_sync")
		return PMPI_Win_sync(win);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return rc;
}

/* Ranks of group in the window's communicator; n set; NULL on error. */
static int *
group_ranks(struct rwin *w, MPI_Group g, int *n)
{
	MPI_Group wg;
	int *in, *out, i;

	if (PMPI_Group_size(g, n) != MPI_SUCCESS)
		return NULL;
	in = malloc(((size_t)*n + 1) * sizeof(int));
	out = malloc(((size_t)*n + 1) * sizeof(int));
	if (in == NULL || out == NULL)
		goto bad;
	for (i = 0; i < *n; i++)
		in[i] = i;
	PMPI_Comm_group(w->comm, &wg);
	i = PMPI_Group_translate_ranks(g, *n, in, wg, out);
	PMPI_Group_free(&wg);
	if (i != MPI_SUCCESS)
		goto bad;
	for (i = 0; i < *n; i++)
		if (out[i] == MPI_UNDEFINED)
			goto bad;
	free(in);
	return out;
bad:
	free(in);
	free(out);
	return NULL;
}

static int
sync_send(struct rwin *w, int dest, int stream, int op)
{
	struct hdr h = { 0 };

	h.op = (uint8_t)op;
	return send_msg(w, &w->org, &w->pend, dest, stream, &h, NULL, NULL);
}

/* Receive (blocking, or only if there when flag) stream's next message
 * from src; 0, or an error class. */
static int
sync_recv(struct rwin *w, int src, int stream, int *flag)
{
	uint8_t *m;
	struct hdr *h;
	size_t len;
	int from, r;

	m = recv_msg(w, src, stream, flag, &from, &len);
	if (m == NULL)
		return flag != NULL && !*flag ? 0 : MPI_ERR_OTHER;
	r = open_msg(w, &w->org, from, stream, m, len, &h);
	if (r)
		refuse(w, from, stream, r);
	msg_free(m, len);
	return r == 0 ? 0 : r == ESMPI_ERR_REPLAY ? esmpi.err_replay :
	    esmpi.err_auth;
}

ESMPI_EXPORT int
MPI_Win_post(MPI_Group group, int assert, MPI_Win win)
{
	int *r, n, i;

	SYNC_START("MPI_Win_post")
		return PMPI_Win_post(group, assert, win);
	if ((r = group_ranks(w, group, &n)) == NULL)
		return rma_fail(w, 0, MPI_ERR_GROUP, "MPI_Win_post", "group "
		    "holds ranks outside the window");
	pthread_mutex_lock(&w->org.lock);
	free(w->post_left);
	w->post_left = r;
	w->npost = n;
	for (i = 0; i < n && !rc; i++)
		rc = sync_send(w, r[i], S_POST, OP_POST);
	pthread_mutex_unlock(&w->org.lock);
	return rc;
}

ESMPI_EXPORT int
MPI_Win_start(MPI_Group group, int assert, MPI_Win win)
{
	int *r, n, i;

	SYNC_START("MPI_Win_start")
		return PMPI_Win_start(group, assert, win);
	if ((r = group_ranks(w, group, &n)) == NULL)
		return rma_fail(w, 0, MPI_ERR_GROUP, "MPI_Win_start", "group "
		    "holds ranks outside the window");
	if (w->start_grp != MPI_GROUP_NULL)
		PMPI_Group_free(&w->start_grp);
	{
		MPI_Group all;

		PMPI_Comm_group(w->comm, &all);
		PMPI_Group_incl(all, n, r, &w->start_grp);
		PMPI_Group_free(&all);
	}
	pthread_mutex_lock(&w->org.lock);
	for (i = 0; i < n && !rc; i++)
		rc = sync_recv(w, r[i], S_POST, NULL);
	pthread_mutex_unlock(&w->org.lock);
	free(r);
	return rc ? raise_rc(w, "MPI_Win_start", rc, -1) : rc;
}

ESMPI_EXPORT int
MPI_Win_complete(MPI_Win win)
{
	int *r, n = 0, i;

	SYNC_START("MPI_Win_complete")
		return PMPI_Win_complete(win);
	if (w->start_grp == MPI_GROUP_NULL)
		return rma_fail(w, 0, MPI_ERR_RMA_SYNC, "MPI_Win_complete",
		    "no access epoch started (MPI_Win_start)");
	r = group_ranks(w, w->start_grp, &n);
	pthread_mutex_lock(&w->org.lock);
	rc = flush_dirty(w);
	for (i = 0; r != NULL && i < n && !rc; i++)
		rc = sync_send(w, r[i], S_DONE, OP_DONE);
	pthread_mutex_unlock(&w->org.lock);
	free(r);
	PMPI_Group_free(&w->start_grp);
	w->start_grp = MPI_GROUP_NULL;
	return raise_rc(w, "MPI_Win_complete", rc, -1);
}

static int
wait_test(MPI_Win win, int *flag, const char *fn)
{
	int i, f;

	SYNC_START(fn)
		return flag ? PMPI_Win_test(win, flag) : PMPI_Win_wait(win);
	if (w->post_left == NULL)
		return rma_fail(w, 0, MPI_ERR_RMA_SYNC, fn, "no exposure "
		    "epoch (MPI_Win_post)");
	pthread_mutex_lock(&w->org.lock);
	for (i = 0; i < w->npost && !rc; i++) {
		if (w->post_left[i] < 0)
			continue;
		f = 1;
		rc = sync_recv(w, w->post_left[i], S_DONE, flag ? &f : NULL);
		if (!rc && f)
			w->post_left[i] = -1;
	}
	for (i = 0; i < w->npost && w->post_left[i] < 0; i++)
		;
	f = i == w->npost;
	if (f) {
		free(w->post_left);
		w->post_left = NULL;
	}
	pthread_mutex_unlock(&w->org.lock);
	if (flag != NULL)
		*flag = f;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return raise_rc(w, fn, rc, -1);
}

ESMPI_EXPORT int
MPI_Win_wait(MPI_Win win)
{
	return wait_test(win, NULL, "MPI_Win_wait");
}

ESMPI_EXPORT int
MPI_Win_test(MPI_Win win, int *flag)
{
	return wait_test(win, flag, "MPI_Win_test");
}

/* ---- windows ---- */

static int
applier_start(void)
{
	int lvl = MPI_THREAD_SINGLE;

	if (applier_on)
		return 0;
	PMPI_Query_thread(&lvl);
	if (lvl != MPI_THREAD_MULTIPLE)
		return -1;
	applier_stop = 0;
	/* A rank spinning in MPI serves in its progress loop (the hook
	 * does nothing until applier_on); only where MPI has no hook must
	 * a spinning rank give the core to its applier. */
	if (!hooked)
		hooked = esmpi_impl_progress_hook(progress_hook) == 0;
	if (pthread_create(&applier, NULL, applier_main, NULL) != 0)
		return -1;
	applier_on = 1;
	if (!hooked)
		esmpi_impl_yield_when_idle();
	return 0;
}

/* What a program that makes windows imports: C, C++, mpi4py and the
 * Fortran bindings (mpi_win_create_, mpi_win_allocate_cptr_,
 * mpi_win_create_dynamic_f08_, ...) alike; MPI's own libraries and
 * libesmpi import them for themselves. */
static const char *const win_creators[] = {
	"MPI_Win_create", "MPI_Win_allocate", "PMPI_Win_create",
	"PMPI_Win_allocate", NULL
};
static const char *const mpi_libraries[] = { "libmpi", "libesmpi", NULL };

int
esmpi_rma_wanted(char *why, size_t len)
{
	return esmpi_imports_any(win_creators, mpi_libraries, why, len);
}

void
esmpi_rma_disable(int automatic)
{
	disabled = automatic ? 2 : 1;
}

int
esmpi_rma_enabled(void)
{
	return !disabled;
}

void
esmpi_rma_served(unsigned long *in_progress, unsigned long *by_applier)
{
	pthread_mutex_lock(&reg_lock);
	*in_progress = served_hook;
	*by_applier = served_applier;
	pthread_mutex_unlock(&reg_lock);
}

void
esmpi_rma_fini(void)
{
	if (!applier_on)
		return;
	applier_stop = 1;
	pthread_join(applier, NULL);
	applier_on = 0;
	if (hooked)
		esmpi_impl_progress_unhook(progress_hook);
	hooked = 0;
}

static void
side_free(struct side *s)
{
	int i;

	esmpi_aead_free(s->aead);
	esmpi_memzero(s->chain, sizeof(s->chain));
	for (i = 0; s->rx != NULL && i < 2 * s->n; i++) {
		esmpi_aead_free(s->rx[i].cur);
		esmpi_aead_free(s->rx[i].prev);
	}
	if (s->rx != NULL)
		esmpi_memzero(s->rx, 2 * (size_t)s->n * sizeof(*s->rx));
	free(s->rx);
	for (i = 0; i < S_NSTREAM; i++)
		free(s->last[i]);
	pthread_mutex_destroy(&s->lock);
}

static int
side_init(struct side *s, const uint8_t *key, int n, int rank, int dir)
{
	int i;

	pthread_mutex_init(&s->lock, NULL);
	s->n = n;
	s->dir = dir;
	for (i = 0; i < S_NSTREAM; i++)
		if ((s->last[i] = calloc((size_t)n, sizeof(uint64_t))) == NULL)
			return -1;
	if ((s->rx = calloc(2 * (size_t)n, sizeof(*s->rx))) == NULL)
		return -1;
	for (i = 0; i < 2 * n; i++)
		if (chain_first(key, i / 2, i % 2, s->rx[i].chain) != 0)
			return -1;
	s->gen = (unsigned)atomic_load(&esmpi.rekey_gen);
	s->since = esmpi_now_coarse();
	if (chain_first(key, rank, dir, s->chain) != 0)
		return -1;
	return esmpi_chain_aead(s->chain, ESMPI_SUITE_AES_256_GCM, &s->aead);
}

static void
win_free(struct rwin *w)
{
	struct lockq *q;

	side_free(&w->org);
	side_free(&w->tgt);
	reap(&w->pend, 1);
	reap(&w->tpend, 1);
	while ((q = w->queue) != NULL) {
		w->queue = q->next;
		free(q);
	}
	free(w->sizes);
	free(w->units);
	free(w->dirty);
	for (int t = 0; w->batch != NULL && t < w->size; t++) {
		if (w->batch[t].buf != NULL)
			memset(w->batch[t].buf, 0, w->batch[t].cap);
		free(w->batch[t].buf);
	}
	free(w->batch);
	for (int t = 0; w->pget != NULL && t < w->size; t++)
		pget_drop(&w->pget[t]);
	free(w->pget);
	free(w->err_for);
	free(w->broken);
	free(w->refused);
	free(w->post_left);
	free(w->ranges);
	if (w->start_grp != MPI_GROUP_NULL)
		PMPI_Group_free(&w->start_grp);
	pthread_mutex_destroy(&w->alock);
	free(w);
}

/* Everything but the self window: the duplicate, the key, the sizes;
 * collective over comm. 0 or an MPI error class (printed). */
static int
win_setup(struct rwin *w, MPI_Comm comm, void *base, MPI_Aint size,
    int unit, const char *fn)
{
	uint8_t *key;
	struct { int64_t size; int64_t unit; } mine, *all = NULL;
	struct esmpi_comm *uc;
	int i, rc;

	if (disabled == 1)
		return esmpi_fail(comm, MPI_ERR_OTHER, "%s: one-sided "
		    "communication is off in this job (ESMPI_RMA=off: MPI "
		    "runs at the application's thread level and no applier "
		    "thread serves windows); run without ESMPI_RMA, or with "
		    "ESMPI_RMA=on, to use windows", fn);
	if (disabled == 2)
		return esmpi_fail(comm, MPI_ERR_OTHER, "%s: one-sided "
		    "communication is off in this process: nothing loaded "
		    "when MPI started imported a window function (a library "
		    "loaded later?), so MPI runs at the application's thread "
		    "level and no applier thread serves windows; run with "
		    "ESMPI_RMA=on to use windows", fn);
	if (applier_start() != 0)
		return esmpi_fail(comm, MPI_ERR_OTHER, "%s: one-sided "
		    "communication needs MPI_THREAD_MULTIPLE from MPI, which "
		    "did not provide it", fn);
	if ((rc = MPI_Comm_dup(comm, &w->comm)) != MPI_SUCCESS)
		return rc;
	PMPI_Comm_rank(w->comm, &w->rank);
	PMPI_Comm_size(w->comm, &w->size);
	w->base = base;
	w->my_size = size;
	w->my_unit = unit;
	w->excl = -1;
	w->start_grp = MPI_GROUP_NULL;
	pthread_mutex_init(&w->alock, NULL);
	key = esmpi_secure_calloc(40);
	w->sizes = calloc((size_t)w->size, sizeof(*w->sizes));
	w->units = calloc((size_t)w->size, sizeof(*w->units));
	w->dirty = calloc((size_t)w->size, 1);
	w->batch = calloc((size_t)w->size, sizeof(*w->batch));
	w->pget = calloc((size_t)w->size, sizeof(*w->pget));
	w->err_for = calloc((size_t)w->size, sizeof(*w->err_for));
	w->broken = calloc((size_t)w->size, sizeof(*w->broken));
	w->refused = calloc((size_t)w->size, 1);
	all = calloc((size_t)w->size, sizeof(*all));
	if (key == NULL || !w->sizes || !w->units || !w->dirty ||
	    !w->batch || !w->pget ||
	    !w->err_for || !w->broken || !w->refused || !all) {
		rc = esmpi_fail(comm, MPI_ERR_NO_MEM, "%s: out of memory", fn);
		goto out;
	}
	/* The window key and id: drawn by rank 0, broadcast sealed */
	if (w->rank == 0 && esmpi_random(key, 40) != 0)
		memset(key, 0, 40);	/* the check below refuses it */
	mine.size = size;
	mine.unit = unit;
	if ((rc = MPI_Bcast(key, 40, MPI_BYTE, 0, w->comm)) ||
	    (rc = MPI_Allgather(&mine, 16, MPI_BYTE, all, 16, MPI_BYTE,
	    w->comm)))
		goto out;
	for (i = 0; i < 40 && key[i] == 0; i++)
		;
	if (i == 40) {
		rc = esmpi_fail(comm, esmpi.err_internal, "%s: no window key "
		    "(random generator failed)", fn);
		goto out;
	}
	memcpy(w->id, key + 32, 8);
	for (i = 0; i < w->size; i++) {
		w->sizes[i] = (MPI_Aint)all[i].size;
		w->units[i] = (int)all[i].unit;
	}
	if (side_init(&w->org, key, w->size, w->rank, 0) ||
	    side_init(&w->tgt, key, w->size, w->rank, 1))
		rc = esmpi_fail(comm, esmpi.err_internal, "%s: cannot set up "
		    "the window key", fn);
	/* Window traffic counts against the rekey limits of the
	 * communicator's rule (its tag ranges aside; else the defaults). */
	uc = esmpi_comm_get(comm);
	w->org.lim = w->tgt.lim = (uc != NULL ? esmpi_comm_settings(uc, -1) :
	    &esmpi.defaults)->rekey;
out:
	esmpi_secure_free(key, 40);
	free(all);
	return rc;
}

static void
win_register(struct rwin *w)
{
	pthread_mutex_lock(&reg_lock);
	w->next = wins;
	wins = w;
	pthread_mutex_unlock(&reg_lock);
}

/* Common to every creation call: self window made by make_self. */
static int
create(const char *fn, MPI_Comm comm, void *base, MPI_Aint size, int unit,
    int flavor, MPI_Win *win, int self_rc)
{
	struct rwin *w;
	int rc;

	if (self_rc != MPI_SUCCESS)
		return self_rc;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		PMPI_Win_free(win);
		return esmpi_fail(comm, MPI_ERR_NO_MEM, "%s: out of memory",
		    fn);
	}
	w->win = *win;
	w->flavor = flavor;
	w->dynamic = flavor == MPI_WIN_FLAVOR_DYNAMIC;
	if ((rc = win_setup(w, comm, base, size, unit, fn)) != 0) {
		if (w->comm != MPI_COMM_NULL && w->comm != 0)
			MPI_Comm_free(&w->comm);
		win_free(w);
		PMPI_Win_free(win);
		return rc;
	}
	win_register(w);
	return MPI_SUCCESS;
}

/* What protects a communicator protects its windows; without esmpi's
 * session (not initialised) MPI's own window is made. */
static int
protected(MPI_Comm comm)
{
	return esmpi.active && comm != MPI_COMM_NULL &&
	    esmpi_comm_get(comm) != NULL;
}

/* A window MPI makes itself (not protected()): refused when esmpi's
 * initialization failed, or MPI runs past esmpi's MPI_Init (PMPI_Init,
 * MPI_Session_init: check.c says why), whose windows would move data in
 * plaintext; on a communicator esmpi holds no keys for, what the policy
 * says of unprotected calls (check.c); MPI_SUCCESS otherwise. */
static int
own_window_refused(MPI_Comm comm)
{
	if (esmpi.failed)
		return esmpi.err_init;
	if (!esmpi.active)
		return esmpi_check_started();
	return comm == MPI_COMM_NULL ? MPI_SUCCESS : esmpi_unkeyed(comm);
}

/* The application's handle: a window of MPI_COMM_SELF from osc/sm (the
 * only component MPI runs, init.c), of the real memory for Win_allocate
 * and of none otherwise; its base, size, unit and flavour attributes are
 * answered from ours (MPI_Win_get_attr). */
static int
self_window(MPI_Aint size, int unit, MPI_Info info, void *baseptr,
    MPI_Win *win)
{
	void *p;

	return PMPI_Win_allocate(size, unit, info, MPI_COMM_SELF,
	    baseptr != NULL ? baseptr : &p, win);
}

ESMPI_EXPORT int
MPI_Win_create(void *base, MPI_Aint size, int unit, MPI_Info info,
    MPI_Comm comm, MPI_Win *win)
{
	int rc;

	if (!protected(comm))
		return (rc = own_window_refused(comm)) != MPI_SUCCESS ? rc :
		    PMPI_Win_create(base, size, unit, info, comm, win);
	if (size < 0 || unit <= 0)
		return esmpi_fail(comm, size < 0 ? MPI_ERR_SIZE :
		    MPI_ERR_DISP, "MPI_Win_create: %s %ld", size < 0 ?
		    "negative size" : "displacement unit must be positive, "
		    "not", size < 0 ? (long)size : (long)unit);
	rc = self_window(0, 1, MPI_INFO_NULL, NULL, win);
	return create("MPI_Win_create", comm, base, size, unit,
	    MPI_WIN_FLAVOR_CREATE, win, rc);
}

ESMPI_EXPORT int
MPI_Win_allocate(MPI_Aint size, int unit, MPI_Info info, MPI_Comm comm,
    void *baseptr, MPI_Win *win)
{
	int rc;

	if (!protected(comm))
		return (rc = own_window_refused(comm)) != MPI_SUCCESS ? rc :
		    PMPI_Win_allocate(size, unit, info, comm, baseptr, win);
	rc = self_window(size, unit, info, baseptr, win);
	return create("MPI_Win_allocate", comm, rc ? NULL :
	    *(void **)baseptr, size, unit, MPI_WIN_FLAVOR_ALLOCATE, win, rc);
}

ESMPI_EXPORT int
MPI_Win_create_dynamic(MPI_Info info, MPI_Comm comm, MPI_Win *win)
{
	int rc;

	if (!protected(comm))
		return (rc = own_window_refused(comm)) != MPI_SUCCESS ? rc :
		    PMPI_Win_create_dynamic(info, comm, win);
	return create("MPI_Win_create_dynamic", comm, NULL, 0, 1,
	    MPI_WIN_FLAVOR_DYNAMIC, win, self_window(0, 1, MPI_INFO_NULL,
	    NULL, win));
}

ESMPI_EXPORT int
MPI_Win_get_attr(MPI_Win win, int key, void *val, int *flag)
{
	struct rwin *w = find(win);

	if (w == NULL || (key != MPI_WIN_BASE && key != MPI_WIN_SIZE &&
	    key != MPI_WIN_DISP_UNIT && key != MPI_WIN_CREATE_FLAVOR))
		return PMPI_Win_get_attr(win, key, val, flag);
	*flag = 1;
	if (key == MPI_WIN_BASE)
		*(void **)val = w->flavor == MPI_WIN_FLAVOR_DYNAMIC ?
		    MPI_BOTTOM : w->base;
	else if (key == MPI_WIN_SIZE)
		*(MPI_Aint **)val = &w->my_size;
	else if (key == MPI_WIN_DISP_UNIT)
		*(int **)val = &w->my_unit;
	else
		*(int **)val = &w->flavor;
	return MPI_SUCCESS;
}

/* Shared memory windows stay MPI's: only ranks of one node may share
 * one, which MPI_Comm_split_type confirms before MPI makes it. */
ESMPI_EXPORT int
MPI_Win_allocate_shared(MPI_Aint size, int unit, MPI_Info info,
    MPI_Comm comm, void *baseptr, MPI_Win *win)
{
	MPI_Comm node;
	int n = 0, m = 0, inter = 0;

	if (protected(comm)) {
		PMPI_Comm_test_inter(comm, &inter);
		if (inter)
			return esmpi_fail(comm, MPI_ERR_COMM,
			    "MPI_Win_allocate_shared: intercommunicator");
		PMPI_Comm_size(comm, &n);
		if (PMPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0,
		    MPI_INFO_NULL, &node) != MPI_SUCCESS)
			return esmpi_fail(comm, MPI_ERR_OTHER,
			    "MPI_Win_allocate_shared: cannot tell which ranks "
			    "share a node");
		PMPI_Comm_size(node, &m);
		PMPI_Comm_free(&node);
		if (m != n)
			return esmpi_fail(comm, MPI_ERR_COMM,
			    "MPI_Win_allocate_shared: the communicator spans "
			    "more than one node (%d of its %d ranks share "
			    "this one); shared memory cannot cross nodes", m,
			    n);
	} else if (esmpi.failed)
		return esmpi.err_init;
	return PMPI_Win_allocate_shared(size, unit, info, comm, baseptr, win);
}

ESMPI_EXPORT int
MPI_Win_shared_query(MPI_Win win, int rank, MPI_Aint *size, int *unit,
    void *baseptr)
{
	struct rwin *w = find(win);

	if (w != NULL)
		return rma_fail(w, win, MPI_ERR_RMA_FLAVOR,
		    "MPI_Win_shared_query", "not a window of "
		    "MPI_Win_allocate_shared");
	return PMPI_Win_shared_query(win, rank, size, unit, baseptr);
}

ESMPI_EXPORT int
MPI_Win_attach(MPI_Win win, void *base, MPI_Aint size)
{
	struct rwin *w = find(win);
	struct range *nr;

	if (w == NULL)
		return PMPI_Win_attach(win, base, size);
	if (!w->dynamic)
		return rma_fail(w, win, MPI_ERR_RMA_FLAVOR, "MPI_Win_attach",
		    "not a window of MPI_Win_create_dynamic");
	if (size < 0)
		return rma_fail(w, win, MPI_ERR_SIZE, "MPI_Win_attach",
		    "negative size %ld", (long)size);
	pthread_mutex_lock(&w->alock);
	nr = realloc(w->ranges, ((size_t)w->nranges + 1) * sizeof(*nr));
	if (nr != NULL) {
		w->ranges = nr;
		nr[w->nranges].base = (uintptr_t)base;
		nr[w->nranges].size = (size_t)size;
		w->nranges++;
	}
	pthread_mutex_unlock(&w->alock);
	return nr == NULL ? rma_fail(w, win, MPI_ERR_NO_MEM,
	    "MPI_Win_attach", "out of memory") : MPI_SUCCESS;
}

ESMPI_EXPORT int
MPI_Win_detach(MPI_Win win, const void *base)
{
	struct rwin *w = find(win);
	int i, found = 0;

	if (w == NULL)
		return PMPI_Win_detach(win, base);
	pthread_mutex_lock(&w->alock);
	for (i = 0; i < w->nranges; i++)
		if (w->ranges[i].base == (uintptr_t)base) {
			w->ranges[i] = w->ranges[--w->nranges];
			found = 1;
			break;
		}
	pthread_mutex_unlock(&w->alock);
	return found ? MPI_SUCCESS : rma_fail(w, win, MPI_ERR_ARG,
	    "MPI_Win_detach", "no region attached at %p", base);
}

ESMPI_EXPORT int
MPI_Win_get_group(MPI_Win win, MPI_Group *group)
{
	struct rwin *w = find(win);

	return w == NULL ? PMPI_Win_get_group(win, group) :
	    PMPI_Comm_group(w->comm, group);
}

ESMPI_EXPORT int
MPI_Win_free(MPI_Win *win)
{
	struct rwin *w, **pp;
	int rc;

	if (win == NULL || (w = find(*win)) == NULL)
		return PMPI_Win_free(win);
	pthread_mutex_lock(&w->org.lock);
	rc = flush_dirty(w);
	pthread_mutex_unlock(&w->org.lock);
	if (rc)
		raise_rc(w, "MPI_Win_free", rc, -1);
	/* nobody targets us any more once all are here */
	PMPI_Barrier(w->comm);
	pthread_mutex_lock(&reg_lock);
	for (pp = &wins; *pp != w; pp = &(*pp)->next)
		;
	*pp = w->next;
	pthread_mutex_unlock(&reg_lock);
	MPI_Comm_free(&w->comm);
	win_free(w);
	return PMPI_Win_free(win);
}
