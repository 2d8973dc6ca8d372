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
#include "esmpi_policy.h"
#include "esmpi_record.h"

#define ESMPI_EXPORT __attribute__((visibility("default")))
#define ESMPI_NSUITES 4		/* suite ids 0..3 */
#define ESMPI_DEFAULT_SOCKET "/run/esmpi/esmpid.sock"

/* Per-(peer, tag) replay state; MPI only orders messages of one tag. */
struct esmpi_replay_slot {
	int used;
	int peer;
	int tag;
	struct esmpi_replay w;
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
	uint8_t steps[ESMPI_EPOCH_WINDOW][32];	/* forward chain keys */
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
	struct esmpi_peerkey *peerkeys;
	size_t npeerkeys, cappeerkeys;
	struct esmpi_replay_slot *replay;
	size_t nreplay, capreplay;
};

struct esmpi_state {
	int initialized;		/* our Init ran */
	int active;			/* keys established: protect traffic */
	int failed;			/* init failed: refuse everything */
	int world_rank, world_size;
	uint8_t job_id[16];
	uint8_t *job_key;		/* 32 bytes, protected memory */
	int dfd;			/* daemon connection */
	pthread_mutex_t dlock;
	struct esmpi_pol_settings defaults;
	struct esmpi_pol_rule *rules;
	size_t nrules;
	int keyval;
	int err_class;
	int err_auth, err_replay, err_denied, err_init, err_internal;
	struct esmpi_comm *comms;
	pthread_mutex_t comms_lock;
	atomic_uint rekey_gen;		/* RekeyEvents pushed by esmpid */
};

extern struct esmpi_state esmpi;

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
/* Print one clear message and raise code through comm's error handler. */
int esmpi_fail(MPI_Comm comm, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* pool.c: reusable record buffers (ciphertext only). len is what was
 * asked for; put takes the same len. */
void *esmpi_pool_get(size_t len);
void esmpi_pool_put(void *p, size_t len);
void esmpi_pool_drain(void);

/* comm.c */
int esmpi_comm_attach(MPI_Comm comm, uint64_t ctx);
struct esmpi_comm *esmpi_comm_get(MPI_Comm comm);
uint64_t esmpi_comm_child_ctx(struct esmpi_comm *parent, const char *kind);
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
void esmpi_key_drop(struct esmpi_keytry *t);
void esmpi_chain_clear(struct esmpi_chain *k);
void esmpi_keys_free(struct esmpi_comm *c);
struct esmpi_replay *esmpi_comm_replay(struct esmpi_comm *c, int peer,
    int tag);

/* p2p.c: sealing and opening of one message */
struct esmpi_msg {
	uint8_t *rec;			/* record buffer (header+ct+tag) */
	size_t len;			/* plaintext bytes */
};
int esmpi_seal(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, int dest, int tag, struct esmpi_msg *m);
int esmpi_open(struct esmpi_comm *c, const uint8_t *rec, size_t reclen,
    void *buf, int count, MPI_Datatype dt, MPI_Status *st);
int esmpi_recv_capacity(int count, MPI_Datatype dt, int *reclen);
/* Whether count elements of dt are one run of *bytes bytes at buf+*lb. */
int esmpi_contig(int count, MPI_Datatype dt, size_t *bytes, MPI_Aint *lb);
/* Plaintext bytes of (count, dt); ESMPI_ERR_TOO_LARGE past int records. */
int esmpi_msg_bytes(int count, MPI_Datatype dt, size_t *n);
/* Seal into out (bytes + ESMPI_REC_OVERHEAD) for dst_world; coll_seq is
 * nonzero for collective records (tag ESMPI_COLL_TAG). */
int esmpi_seal_into(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, uint32_t dst_world, int tag, uint64_t coll_seq,
    uint8_t *out);
/* Open a record from comm rank src meant for dst_world; 0 or ESMPI_ERR_*
 * (buffer wiped); *len = plaintext bytes. No error handler called. */
int esmpi_open_from(struct esmpi_comm *c, int src, uint32_t dst_world,
    int tag, uint64_t coll_seq, const uint8_t *rec, size_t reclen,
    void *buf, int count, MPI_Datatype dt, size_t *len);
/* Audit, print and raise an integrity/replay error for a record. */
int esmpi_refuse(struct esmpi_comm *c, int src, int tag, int r);
/* Collectives use this tag for policy matching and in their AAD. */
#define ESMPI_COLL_TAG (-1)
/* The state to protect comm with, or NULL to pass the call through (not
 * initialised yet, or peer MPI_PROC_NULL); *rc set when the call must fail
 * instead (init failed, or no keys for comm: never plaintext). */
struct esmpi_comm *esmpi_protect(MPI_Comm comm, int peer, int *rc);
/* Report plaintext sizes in a status that describes a record. */
void esmpi_status_fix(MPI_Status *st);

/* coll.c: a collective in flight (nonblocking: completed by requests.c) */
struct esmpi_coll;
/* Open (or combine) what the collective moved; 0 or an MPI error raised
 * through the communicator's handler. Does not free. */
int esmpi_coll_finish(struct esmpi_coll *o);
void esmpi_coll_free(struct esmpi_coll *o);

/* requests.c */
enum esmpi_req_kind { REQ_SEND, REQ_RECV, REQ_COLL };
struct esmpi_req {
	MPI_Request handle;
	enum esmpi_req_kind kind;
	int persistent;
	int done;			/* opened already (Request_get_status) */
	int active;			/* started, not yet completed */
	uint8_t *rec;
	int reclen;
	void *buf;			/* user buffer (receives, persistent sends) */
	int count;
	MPI_Datatype dt;
	int peer, tag;			/* persistent sends: where to */
	MPI_Comm comm;
	struct esmpi_comm *c;
	struct esmpi_coll *coll;	/* REQ_COLL: the plan to complete */
};
int esmpi_req_add(struct esmpi_req *r);
struct esmpi_req *esmpi_req_take(MPI_Request h, int keep);
int esmpi_req_complete(struct esmpi_req *r, MPI_Status *st);

#endif
