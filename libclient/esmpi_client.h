/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_CLIENT_H
#define ESMPI_CLIENT_H

/*
 * libesmpi internals. The library lives inside arbitrary MPI applications:
 * everything here is hidden (-fvisibility=hidden plus a version script),
 * only MPI_* entry points are exported (ESMPI_EXPORT).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "esmpi_crypto.h"
#include "esmpi_paths.h"
#include "esmpi_policy.h"
#include "esmpi_record.h"

/*
 * The byte count of a status, as MPI_Get_elements_x and
 * MPI_Status_set_elements_x see it for MPI_BYTE. Open MPI keeps it in
 * bytes in the public status (_ucount): the per-message path reads and
 * writes it there instead of calling into the library twice.
 */
static inline size_t
esmpi_status_bytes(const MPI_Status *st)
{
#if defined(OPEN_MPI) && OMPI_MAJOR_VERSION >= 3
	return st->_ucount;
#else
	MPI_Count n = 0;

	PMPI_Get_elements_x(st, MPI_BYTE, &n);
	return (size_t)n;
#endif
}

static inline void
esmpi_status_set_bytes(MPI_Status *st, size_t n)
{
#if defined(OPEN_MPI) && OMPI_MAJOR_VERSION >= 3
	st->_ucount = n;
#else
	PMPI_Status_set_elements_x(st, MPI_BYTE, (MPI_Count)n);
#endif
}

#define ESMPI_EXPORT __attribute__((visibility("default")))
#define ESMPI_NSUITES 4		/* suite ids 0..3 */

/* Per-(peer, tag) replay state; MPI only orders messages of one tag. */
struct esmpi_replay_slot {
	int used;
	int peer;
	int tag;
	struct esmpi_replay w;
	struct esmpi_order o;		/* posting order vs seq */
};

/*
 * Epochs a receiver still opens behind a sender's newest: MPI completes
 * messages of different tags or requests in any order, so a record may
 * arrive after records of later epochs. Older ones are wiped, refused.
 */
#define ESMPI_EPOCH_WINDOW	64

/* One key chain (keys.c): a sender's, or what a receiver knows of one. */
struct esmpi_chain {
	uint8_t chain[32];		/* chain key of the current epoch */
	uint32_t epoch;
	struct esmpi_aead *aead;	/* current epoch */
	uint8_t (*ring)[32];		/* receivers: chain keys of the
					 * window, [epoch % WINDOW] */
	uint64_t msgs, bytes, since;	/* senders: use of this epoch */
	unsigned gen;			/* senders: rotate generation */
	/* The point-to-point record guessed to come next on this chain
	 * (the last one's successor), which a rank that waits anyway
	 * prepares the AEAD context for (esmpi_prepare_send/_recv), as
	 * long as the previous guess was right. */
	struct esmpi_rec_hdr next;
	uint32_t next_peer;		/* senders: destination world rank */
	int next_tag;
	int next_valid;
	int next_right;			/* the last record was the guess */
};

struct esmpi_peerkey {
	int used;
	int peer;
	int suite;
	struct esmpi_chain k;
};

/* A receive key to try: forward steps are kept only on success. */
struct esmpi_keytry {
	struct esmpi_chain *k;
	struct esmpi_aead *aead;	/* what to open with */
	struct esmpi_aead *fresh;	/* made for this record */
	uint8_t (*steps)[32];		/* forward chain keys (allocated
					 * only when moving forward: rare,
					 * and keeps this small on the
					 * per-message stack) */
	uint32_t nsteps;		/* epochs to move forward on commit */
};

struct esmpi_comm {
	struct esmpi_comm *next, *prev;	/* all live states, for Finalize */
	MPI_Comm comm;
	uint64_t ctx;			/* context id: part of every AAD */
	uint64_t child_seq;		/* communicators created from this one */
	int is_inter;
	int rank, size, remote_size;
	uint32_t my_world;
	uint32_t *peer_world;		/* world rank of each peer rank */
	char name[MPI_MAX_OBJECT_NAME];
	size_t *rules;			/* policy rules whose glob matches name */
	size_t nrules;
	atomic_uint_fast64_t send_seq;	/* nonce counter for our records */
	uint64_t coll_seq;		/* collectives called on this comm */
	pthread_mutex_t lock;		/* aead use, replay slots, child_seq */
	struct esmpi_chain send[ESMPI_NSUITES];
	int last_send_suite;		/* chain of the last record sealed */
	struct esmpi_peerkey *peerkeys;
	size_t npeerkeys, cappeerkeys;
	struct esmpi_replay_slot *replay;
	size_t nreplay, capreplay;
	/* The attribute holds one reference, each request that completes
	 * on this state after a possible MPI_Comm_free another. */
	atomic_int refs;
	int detached;			/* the communicator was freed */
	struct esmpi_stash *stash;	/* received early by probes (chunk.c) */
};

struct esmpi_state {
	int initialized;		/* our Init ran */
	int active;			/* keys established: protect traffic */
	int failed;			/* init failed: refuse everything */
	int world_rank, world_size;
	uint8_t job_id[16];
	uint8_t *job_key;		/* 32 bytes, protected memory */
	int dfd;			/* daemon connection, -1: lost */
	pthread_mutex_t dlock;		/* dfd, reconnection, audit queue */
	char dpath[108];		/* daemon socket (sun_path) */
	uint64_t reconnect_at;		/* coarse seconds: next attempt */
	unsigned backoff;		/* seconds between attempts */
	uint32_t max_epoch;		/* highest sender epoch reached */
	struct esmpi_pol_settings defaults;
	struct esmpi_pol_rule *rules;
	size_t nrules;
	int policy_differs;		/* some rank's rules differ from rank 0's */
	int keyval;
	int err_class;
	int err_auth, err_replay, err_denied, err_init, err_internal;
	struct esmpi_comm *comms;
	pthread_mutex_t comms_lock;
	atomic_uint rekey_gen;		/* RekeyEvents pushed by esmpid */
	int threads_multi;		/* MPI_THREAD_MULTIPLE provided */
	size_t chunk_min;		/* sends this large go in chunks; 0: never */
	int chunk_tag_ub;
	MPI_Comm chunk_comm;		/* WORLD's duplicate: chunk records */
	MPI_Comm stash_comm;		/* SELF's duplicate: message handles */
	atomic_uint_fast64_t recv_ticket;	/* receives posted so far */
	uint8_t node_id[32];		/* SHA-256 of our esmpid's node cert */
	uint8_t *node_local;		/* [world rank]: same node (scope.c) */
	atomic_uint_fast64_t stat_sealed, stat_sealed_local, stat_plain;
	atomic_uint_fast64_t stat_chunked, stat_stashed;
};

extern struct esmpi_state esmpi;

/*
 * Below MPI_THREAD_MULTIPLE one thread at a time is inside MPI (the
 * application orders them), and libesmpi runs no thread of its own: the
 * per-message path then takes no lock and no locked instruction, as Open
 * MPI does.
 */
static inline void
esmpi_comm_lock(struct esmpi_comm *c)
{
	if (esmpi.threads_multi)
		pthread_mutex_lock(&c->lock);
}

static inline void
esmpi_comm_unlock(struct esmpi_comm *c)
{
	if (esmpi.threads_multi)
		pthread_mutex_unlock(&c->lock);
}

/* Where errors go and what Pack/Unpack are given: a freed
 * communicator's requests still complete, on MPI_COMM_WORLD. */
static inline MPI_Comm
esmpi_comm_handle(const struct esmpi_comm *c)
{
	return c->detached ? MPI_COMM_WORLD : c->comm;
}

/* v++, returning the old value. */
static inline uint64_t
esmpi_count(atomic_uint_fast64_t *v)
{
	uint64_t x;

	if (esmpi.threads_multi)
		return atomic_fetch_add(v, 1);
	x = atomic_load_explicit(v, memory_order_relaxed);
	atomic_store_explicit(v, x + 1, memory_order_relaxed);
	return x;
}

/* What the closed-world table says of each MPI function (generated). */
struct esmpi_fn_disposition {
	const char *name;
	const char *disposition;	/* special | passthrough | deny */
};
extern const struct esmpi_fn_disposition esmpi_fn_table[];
extern const size_t esmpi_fn_table_len;

/* session.c */
/* After PMPI_Init: key establishment and communicator state. */
int esmpi_session_start(void);
int esmpi_unprotected_call(const char *fn);
/* Take events esmpid pushed (rekey requests) without blocking. */
void esmpi_poll_daemon(void);
/* Report an event to the daemon's audit log (best effort). */
void esmpi_audit(const char *event, const struct esmpi_comm *c, int peer,
    int tag, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void esmpi_audit_rekey(const struct esmpi_comm *c, int tag, int suite,
    uint32_t epoch, const char *why);
/* join.c: before any collective, every rank joins rank 0 point to point
 * and hears the job id, or learns within ESMPI_JOIN_TIMEOUT seconds which
 * ranks did not join (they run without libesmpi). err says why not. */
struct esmpi_join {
	uint8_t job_id[16];
	int have_id;		/* job_id is the job's (else: none heard) */
	int offender;		/* first rank named in err, -1: none */
};
int esmpi_join_timeout(int *seconds, char *err, size_t len);
int esmpi_join(int timeout, struct esmpi_join *j, char *err, size_t len);
/* Print one clear message and raise code through comm's error handler. */
int esmpi_fail(MPI_Comm comm, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* secmem.c: memory for key material, zeroed, out of core dumps
 * (MADV_DONTDUMP) and locked where allowed; free wipes it. NULL if no
 * such memory can be had. */
void *esmpi_secure_calloc(size_t n);
void esmpi_secure_free(void *p, size_t n);
/* ESMPI_TEST_KEYMEM: where an OpenSSL allocation (key schedules) lands. */
void esmpi_secure_openssl_report(void);
/* ESMPI_TEST_KEYMEM: print the VmFlags of the mapping holding p. */
void esmpi_secure_report(const char *what, const void *p);
/* keys.c: report where WORLD's chains are (ESMPI_TEST_KEYMEM). */
void esmpi_keys_report(void);

/* pool.c: reusable record buffers (ciphertext only). len is what was
 * asked for; put takes the same len. */
void *esmpi_pool_get(size_t len);
void esmpi_pool_put(void *p, size_t len);
void esmpi_pool_drain(void);

/* comm.c */
int esmpi_comm_attach(MPI_Comm comm, uint64_t ctx);
struct esmpi_comm *esmpi_comm_get(MPI_Comm comm);
/* A request that completes on c after a possible MPI_Comm_free. */
void esmpi_comm_hold(struct esmpi_comm *c);
void esmpi_comm_release(struct esmpi_comm *c);
uint64_t esmpi_comm_child_ctx(struct esmpi_comm *parent, const char *kind);
/* Key a communicator made from parent (context ctx), or fail closed. */
int esmpi_comm_adopt(MPI_Comm parent, MPI_Comm made, uint64_t ctx);
void esmpi_comm_free_all(void);
int esmpi_comm_keyval_init(void);
const struct esmpi_pol_settings *esmpi_comm_settings(
    const struct esmpi_comm *c, int tag);

/* keys.c; callers hold c->lock */
uint64_t esmpi_now_coarse(void);
/* The sender's key for a message of len bytes under settings s, moved to
 * the next epoch first when a limit is reached (*rekeyed says why). */
struct esmpi_aead *esmpi_key_send(struct esmpi_comm *c,
    const struct esmpi_pol_settings *s, size_t len, uint32_t *epoch,
    const char **rekeyed);
int esmpi_key_recv(struct esmpi_comm *c, int peer, int suite, uint32_t epoch,
    struct esmpi_keytry *t);
void esmpi_key_commit(struct esmpi_keytry *t);
/* p2p.c: prepare the AEAD context of the record expected next, sent or
 * received (src, tag: the receive's, wildcards prepare nothing). Never
 * inlined: bench/run.sh --instr counts them apart by name. */
__attribute__((noinline)) void esmpi_prepare_send(struct esmpi_comm *c);
__attribute__((noinline)) void esmpi_prepare_recv(struct esmpi_comm *c,
    int src, int tag);
/* The receive chain of (peer, suite) if there is one yet, else NULL. */
struct esmpi_chain *esmpi_key_recv_chain(struct esmpi_comm *c, int peer,
    int suite);
void esmpi_key_drop(struct esmpi_keytry *t);
void esmpi_chain_clear(struct esmpi_chain *k);
void esmpi_keys_free(struct esmpi_comm *c);
struct esmpi_replay_slot *esmpi_comm_replay(struct esmpi_comm *c, int peer,
    int tag);
/* A ticket for a receive being posted (matched probes: just matched), or
 * 0 when posting order says nothing (MPI_THREAD_MULTIPLE). */
uint64_t esmpi_recv_ticket(void);

/* p2p.c: sealing and opening of one message */
struct esmpi_msg {
	uint8_t *rec;			/* record buffer (header+ct+tag[+sig]) */
	size_t len;			/* plaintext bytes, + ESMPI_SIG_LEN if
					 * signed: the record is len +
					 * ESMPI_REC_OVERHEAD bytes */
};
int esmpi_seal(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, int dest, int tag, struct esmpi_msg *m);
/* ticket: from esmpi_recv_ticket() when the receive was posted. */
int esmpi_open(struct esmpi_comm *c, const uint8_t *rec, size_t reclen,
    void *buf, int count, MPI_Datatype dt, MPI_Status *st, uint64_t ticket);
int esmpi_recv_capacity(int count, MPI_Datatype dt, int *reclen);
/* Whether count elements of dt are one run of *bytes bytes at buf+*lb. */
int esmpi_contig(int count, MPI_Datatype dt, size_t *bytes, MPI_Aint *lb);
/* dt, or for a derived type our duplicate (*held = 1; PMPI_Type_free it):
 * the application may free its type while a request still needs it. */
MPI_Datatype esmpi_type_hold(MPI_Datatype dt, int *held);
/* Plaintext bytes of (count, dt); ESMPI_ERR_TOO_LARGE past int records. */
int esmpi_msg_bytes(int count, MPI_Datatype dt, size_t *n);
/* Seal into out (bytes + ESMPI_REC_OVERHEAD, + esmpi_sign_extra for
 * point-to-point) for dst_world; coll_seq is nonzero for collective
 * records (tag ESMPI_COLL_TAG), which are never signed. */
int esmpi_seal_into(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, uint32_t dst_world, int tag, uint64_t coll_seq,
    uint8_t *out);
/* Open a record from comm rank src meant for dst_world; 0 or ESMPI_ERR_*
 * (buffer wiped); *len = plaintext bytes, also set with
 * ESMPI_ERR_TOO_LARGE for an authentic record larger than the receive
 * (truncation). No error handler called. */
int esmpi_open_from(struct esmpi_comm *c, int src, uint32_t dst_world,
    int tag, uint64_t coll_seq, const uint8_t *rec, size_t reclen,
    void *buf, int count, MPI_Datatype dt, size_t *len);
/* Audit, print and raise an integrity/replay error for a record. */
int esmpi_refuse(struct esmpi_comm *c, int src, int tag, int r);
/* Collectives use this tag for policy matching and in their AAD. */
#define ESMPI_COLL_TAG (-1)
/* Size of a predefined type esmpi knows by heart, or -1. */
int esmpi_predefined_size(MPI_Datatype dt);

/* check.c: what every payload wrapper checks first */
/* The state to protect comm with, or NULL to pass the call through (not
 * initialised yet, peer MPI_PROC_NULL, comm MPI_COMM_NULL: Open MPI
 * raises that); *rc set when the call must fail instead (init failed, MPI
 * initialized past esmpi, no keys for comm: never plaintext). */
struct esmpi_comm *esmpi_protect(MPI_Comm comm, int peer, int *rc);
/* Without esmpi's session: MPI_SUCCESS where Open MPI refuses the call
 * itself (MPI not running), else the refusal, printed and raised, of a
 * call in an MPI that PMPI_Init started past esmpi. */
int esmpi_check_started(void);
/* MPI's argument checks of a point-to-point call (Open MPI 4.1's classes
 * and order), raised through c's error handler: MPI_SUCCESS or the
 * class. peer and tag may be wildcards for receives and probes. */
enum esmpi_chk { ESMPI_CHK_SEND, ESMPI_CHK_RECV, ESMPI_CHK_PROBE };
int esmpi_check_p2p(const struct esmpi_comm *c, enum esmpi_chk kind,
    const void *buf, int count, MPI_Datatype dt, int peer, int tag);
/* The same for a collective's (count, datatype). */
int esmpi_check_data(const struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt);
/* Report plaintext sizes in a status that describes a record on c. */
void esmpi_status_fix(const struct esmpi_comm *c, MPI_Status *st);
/* A receive on c that MPI failed with rc: a truncation's status reports
 * the message's plaintext size, as plain MPI's reports the message's. */
void esmpi_status_truncated(const struct esmpi_comm *c, int rc,
    MPI_Status *st);

/* sign.c: ECDSA signatures for `sign: ecdsa-p256` rules */
struct Esmpi__Request;
struct Esmpi__Reply;
/* session.c: one request/reply with esmpid under its lock. */
int esmpi_daemon_request(struct Esmpi__Request *req,
    struct Esmpi__Reply **rep, char *err, size_t len);
/* Collective, after the job key: signing keys and certificates, if any
 * rank's policy signs. */
int esmpi_sign_setup(char *err, size_t len);
void esmpi_sign_free(void);
/* Signature bytes of a point-to-point record on (c, tag): 0 or 64. */
size_t esmpi_sign_extra(const struct esmpi_comm *c, int tag);
/* Extra receive capacity: a receive may match a signed record. */
size_t esmpi_sign_slack(void);
/* Sign a sealed record (plaintext len) in place: the signature goes
 * after the tag. */
int esmpi_sign_record(const struct esmpi_rec_aad *a, uint8_t *rec,
    size_t len);
/* Verify the signature of a record of reclen bytes (signature included)
 * from a->src: 0, ESMPI_ERR_SIGNATURE (missing or bad) or ESMPI_ERR_CERT
 * (sender's certificate refused); esmpi_sign_why() says more. */
int esmpi_sign_check(const struct esmpi_rec_aad *a, const uint8_t *rec,
    size_t reclen);
const char *esmpi_sign_why(void);

/*
 * fortran.c: conversions for the generated Fortran entry points. The
 * f2c functions return MPI_SUCCESS or MPI_ERR_NO_MEM; arrays are freed by
 * the caller with free(). Fortran's MPI_STATUS(ES)_IGNORE, MPI_BOTTOM,
 * MPI_IN_PLACE, MPI_UNWEIGHTED and MPI_WEIGHTS_EMPTY are addresses of
 * Open MPI's sentinel common blocks, mapped to the C constants here.
 */
void *esmpi_f2c_buf(void *buf);
int *esmpi_f2c_weights(MPI_Fint *w);
MPI_Status *esmpi_f2c_status(MPI_Fint *f, MPI_Status *c);
void esmpi_c2f_status(const MPI_Status *c, MPI_Fint *f);
int esmpi_f2c_statuses(MPI_Fint *f, int n, MPI_Status **c);
void esmpi_c2f_statuses(const MPI_Status *c, MPI_Fint *f, int n);
int esmpi_f2c_requests(const MPI_Fint *f, int n, MPI_Request **c);
int esmpi_f_types_len(MPI_Fint fcomm, int neighbor, int send);
int esmpi_f2c_types(const MPI_Fint *f, int n, MPI_Datatype **c);
void esmpi_c2f_requests(const MPI_Request *c, MPI_Fint *f, int n);
/* A blank-padded Fortran string as a C string (trailing blanks cut). */
int esmpi_f2c_string(const char *f, size_t len, char **c);
/* C's 0-based indices (MPI_UNDEFINED kept) as Fortran's 1-based ones. */
void esmpi_f_indices(MPI_Fint *idx, MPI_Fint n);
/* ierror is optional in mpi_f08. */
void esmpi_f_ret(MPI_Fint *ierr, int rc);

/* scope.c: policy `scope: inter-node` */
void esmpi_scope_set_node(const uint8_t *cert, size_t len);
/* Collective over WORLD, after WORLD's keys: who is on our node. */
int esmpi_scope_init(void);
/* Whether a record between us and peer_world under the settings set
 * (esmpi_comm_settings, c->lock held) travels plain. */
int esmpi_scope_plain(const struct esmpi_pol_settings *set,
    uint32_t peer_world, uint64_t coll_seq);
int esmpi_scope_local_peers(void);
/* ESMPI_STATS=1: one line of record counters on stderr at Finalize. */
void esmpi_scope_report(void);

/* coll.c: a collective in flight (nonblocking: completed by requests.c) */
struct esmpi_coll;
/* Open (or combine) what the collective moved; 0 or an MPI error raised
 * through the communicator's handler. Does not free. */
int esmpi_coll_finish(struct esmpi_coll *o);
void esmpi_coll_free(struct esmpi_coll *o);

/* chunk.c: large messages in chunks, and the probes' stash */
/* A chunk's plaintext: 255 KiB, a multiple of 8 Poly1305 blocks (with
 * AVX-512 OpenSSL's 8-way Poly1305 ran only on those: 256 KiB - 64 opened
 * at 3/4 the speed, measured),
 * and its record within the pool's 256 KiB class. */
#define ESMPI_CHUNK_PT		((256u << 10) - 1024)
#define ESMPI_CHUNK_REC		(ESMPI_CHUNK_PT + ESMPI_REC_OVERHEAD)
#define ESMPI_CHUNK_MIN_DEFAULT	(512u << 10)
int esmpi_chunk_init(void);
/* p2p.c: 0 if a send of count dt is surely too small for chunks */
int esmpi_chunk_worth(int count, MPI_Datatype dt);
/* 1 if the send went in chunks (*rc its result), 0 if it is not one for
 * chunks. req NULL: blocking. */
int esmpi_chunk_send(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, int dest, int tag, MPI_Request *req, int *rc);
/* Complete what nonblocking chunked sends left running (wait: all). */
void esmpi_chunk_reap(int wait);
/* The application's request of a chunked send completed or was freed. */
void esmpi_chunk_app_done(void *flight);
int esmpi_head_open(struct esmpi_comm *c, int src, int tag,
    const uint8_t *rec, size_t reclen, uint64_t ticket,
    struct esmpi_rec_hdr *h);
int esmpi_chunks_take(struct esmpi_comm *c, int src, int tag,
    const struct esmpi_rec_hdr *head, void *buf, int count, MPI_Datatype dt,
    size_t *len);
/* Whether a status describes a head (a chunked message) on c. */
int esmpi_is_head(const struct esmpi_comm *c, const MPI_Status *st);
struct esmpi_stash;
struct esmpi_stash *esmpi_stash_take(struct esmpi_comm *c, int src,
    int tag);
int esmpi_stash_serve(struct esmpi_comm *c, struct esmpi_stash *e,
    void *buf, int count, MPI_Datatype dt, MPI_Status *st);
/* What a receive of e will report (source, tag, plaintext size). */
void esmpi_stash_status(const struct esmpi_comm *c,
    const struct esmpi_stash *e, MPI_Status *st);
void esmpi_stash_drop(struct esmpi_stash *e);
/* MPI_Probe (flag NULL) or MPI_Iprobe through the stash. */
int esmpi_stash_probe(struct esmpi_comm *c, int src, int tag, int *flag,
    MPI_Status *st);
struct esmpi_stash *esmpi_stash_from_message(struct esmpi_comm *c,
    MPI_Message *msg, MPI_Status *st, int *rc);
int esmpi_stash_message(struct esmpi_comm *c, struct esmpi_stash *e,
    MPI_Message *msg, MPI_Status *st);
void esmpi_stash_clear(struct esmpi_comm *c);
/* p2p.c helpers shared with chunk.c */
void esmpi_rec_aad_fill(struct esmpi_rec_aad *a, const struct esmpi_comm *c,
    uint32_t src, uint32_t dst, int tag, uint64_t coll_seq);
void esmpi_unpack_into(const struct esmpi_comm *c, const uint8_t *packed,
    size_t len, void *buf, int count, MPI_Datatype dt);

/* requests.c */
enum esmpi_req_kind { REQ_SEND, REQ_RECV, REQ_COLL, REQ_IDUP };
struct esmpi_req {
	MPI_Request handle;
	enum esmpi_req_kind kind;
	int persistent;
	int buffered;			/* Bsend_init: each Start a bsend_start */
	int done;			/* opened already (Request_get_status) */
	MPI_Status done_st;		/* ... with this status */
	int active;			/* started, not yet completed */
	uint8_t *rec;
	int reclen;
	void *buf;			/* user buffer (receives, persistent sends) */
	int count;
	MPI_Datatype dt;		/* our duplicate when dt_held */
	int dt_held;
	int peer, tag;			/* persistent: where to, from where */
	uint64_t ticket;		/* receives: posting order */
	MPI_Comm comm;
	struct esmpi_comm *c;
	struct esmpi_coll *coll;	/* REQ_COLL: the plan to complete */
	MPI_Comm made;			/* REQ_IDUP: the new communicator */
	uint64_t made_ctx;		/* REQ_IDUP: its context */
	void *flight;			/* a chunked send's (chunk.c) */
	struct esmpi_stash *stashed;	/* a receive the stash serves when it
					 * completes (Irecv, Imrecv) */
	int served;			/* persistent receive that Start matched
					 * in the stash: complete, MPI-inactive */
	struct esmpi_req *next_orphan;	/* freed by the application, active */
	MPI_Status orphan_st;		/* how it completed */
	int orphan_ok;
};
int esmpi_req_add(struct esmpi_req *r);
/* Complete what MPI_Request_free left running, as far as it has. */
void esmpi_req_reap(void);
/* requests.c: wait for buffered sends still in flight (MPI_Finalize). */
void esmpi_bsend_finish(void);
struct esmpi_req *esmpi_req_take(MPI_Request h, int keep);
int esmpi_req_complete(struct esmpi_req *r, MPI_Status *st);
/* The request of a nonblocking chunked send (chunk.c's flight). */
int esmpi_req_track_send(struct esmpi_comm *c, void *flight,
    MPI_Request handle);
/* A request already complete with status st (a receive served from the
 * stash). */
int esmpi_req_served(const MPI_Status *st, MPI_Request *req);

#endif
