/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_COMM_H
#define ESMPI_COMM_H

/*
 * Layer 3, communicator state: context ids, the policy rules matching a
 * communicator's name, key chains and epochs (keys.c), replay windows,
 * the scope decision (scope.c: which peers share our node), signing keys
 * (sign.c). Owns every struct esmpi_comm and esmpi.comms/keyval. May
 * call: session/ and below.
 */
#include "session/session.h"
#include "esmpi_record.h"

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

/*
 * A link to another job (link.c): the key its communicators use instead
 * of the job key, and how to name the other job's processes. In
 * peer_world a process of the other job is its world rank there with
 * ESMPI_LINK_FOREIGN set; records and key chains name a process
 * esmpi_link_id(): world rank << 1 | side (0: the side that wrapped).
 */
#define ESMPI_LINK_ID_LEN	16
#define ESMPI_LINK_FOREIGN	0x80000000u
struct esmpi_sign_tab;
struct esmpi_link {
	struct esmpi_link *next;
	uint8_t key[32];
	uint8_t id[ESMPI_LINK_ID_LEN];	/* in place of the job id */
	int side;
	MPI_Group remote;		/* the other job's processes */
	uint32_t *remote_world;		/* their world ranks, by remote rank */
	int nremote;
	struct esmpi_sign_tab *sign;	/* their signing certificates, or NULL
					 * (comm/sign.c's, until Finalize) */
};

struct esmpi_comm {
	struct esmpi_comm *next, *prev;	/* all live states, for Finalize */
	struct esmpi_link *link;	/* with another job's processes */
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
	/* Messages probes received early: mpi/stash.c's, which sets
	 * stash_clear to free them when the state goes. */
	struct esmpi_stash *stash;
	void (*stash_clear)(struct esmpi_comm *c);
};

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

/* For messages: the communicator's name, or "(unnamed)". */
static inline const char *
esmpi_comm_label(const struct esmpi_comm *c)
{
	return c->name[0] ? c->name : "(unnamed)";
}

/* comm.c */
int esmpi_comm_keyval_init(void);
/* Wipe every state (MPI_Finalize). */
void esmpi_comm_free_all(void);
int esmpi_comm_attach(MPI_Comm comm, uint64_t ctx);
/* Whether comm (its remote group, for an intercommunicator) holds
 * processes outside our MPI_COMM_WORLD: another job's, joined by dynamic
 * processes (spawn, accept/connect, join), which share no job key. */
int esmpi_comm_foreign(MPI_Comm comm);
struct esmpi_comm *esmpi_comm_get(MPI_Comm comm);
/* A request that completes on c after a possible MPI_Comm_free. */
void esmpi_comm_hold(struct esmpi_comm *c);
void esmpi_comm_release(struct esmpi_comm *c);
/* The context of the next communicator derived from parent by a call
 * collective over it (every member counts alike). */
uint64_t esmpi_comm_child_ctx(struct esmpi_comm *parent, const char *kind);
/* A context id from bytes all members share (0 and 1 are WORLD, SELF). */
uint64_t esmpi_comm_ctx_hash(const void *data, size_t len);
/* The name changed (MPI_Comm_set_name): take it and its rules. */
void esmpi_comm_rename(struct esmpi_comm *c, const char *name);
const struct esmpi_pol_settings *esmpi_comm_settings(
    const struct esmpi_comm *c, int tag);
/* Caller holds c->lock. The window of (peer, tag), created on first use. */
struct esmpi_replay_slot *esmpi_comm_replay(struct esmpi_comm *c, int peer,
    int tag);
/* A ticket for a receive being posted (matched probes: just matched), or
 * 0 when posting order says nothing (MPI_THREAD_MULTIPLE). */
uint64_t esmpi_recv_ticket(void);
/* The AAD of a record on c. */
void esmpi_rec_aad_fill(struct esmpi_rec_aad *a, const struct esmpi_comm *c,
    uint32_t src, uint32_t dst, int tag, uint64_t coll_seq);

/* link.c */
/* Keep a link (mpi/dynamic.c established it): takes remote_world and
 * remote, points to sign (may be NULL); NULL when out of locked memory. */
struct esmpi_link *esmpi_link_add(const uint8_t key[32],
    const uint8_t id[ESMPI_LINK_ID_LEN], int side, uint32_t *remote_world,
    int nremote, MPI_Group remote, struct esmpi_sign_tab *sign);
/* The newest link whose other job holds every process in[i] >= 0 of g;
 * out[i] its rank in the link's remote group. */
struct esmpi_link *esmpi_link_find(MPI_Group g, int n, const int *in,
    int *out);
/* The name of a process in records and chains (peer_world value w). */
uint32_t esmpi_link_id(const struct esmpi_link *l, uint32_t w);
void esmpi_link_free_all(void);

/* keys.c; callers hold c->lock */
/* The sender's key for a message of len bytes under settings s, moved to
 * the next epoch first when a limit is reached (*rekeyed says why). */
struct esmpi_aead *esmpi_key_send(struct esmpi_comm *c,
    const struct esmpi_pol_settings *s, size_t len, uint32_t *epoch,
    const char **rekeyed);
int esmpi_key_recv(struct esmpi_comm *c, int peer, int suite, uint32_t epoch,
    struct esmpi_keytry *t);
void esmpi_key_commit(struct esmpi_keytry *t);
/* The receive chain of (peer, suite) if there is one yet, else NULL. */
struct esmpi_chain *esmpi_key_recv_chain(struct esmpi_comm *c, int peer,
    int suite);
void esmpi_key_drop(struct esmpi_keytry *t);
void esmpi_chain_clear(struct esmpi_chain *k);
/* A chain key's successor (rekey), in place; the AEAD of a chain key for
 * suite. Also the one-sided window keys' (mpi/rma.c). */
int esmpi_chain_next(uint8_t chain[32]);
int esmpi_chain_aead(const uint8_t chain[32], int suite,
    struct esmpi_aead **out);
void esmpi_keys_free(struct esmpi_comm *c);
/* ESMPI_TEST_KEYMEM: where c's chains are. */
void esmpi_keys_report(const struct esmpi_comm *c);

/* scope.c: policy `scope: inter-node` */
/* ids[w]: the node id world rank w reported (gathered sealed by the
 * caller, mpi/init.c); who shares our node. */
int esmpi_scope_learn(const uint8_t (*ids)[32]);
void esmpi_scope_fini(void);
/* Whether a record between us and peer_world under the settings set
 * (esmpi_comm_settings, c->lock held) travels plain. */
int esmpi_scope_plain(const struct esmpi_pol_settings *set,
    uint32_t peer_world, uint64_t coll_seq);
/* Whether world rank w is on our node (both witnesses agree). */
int esmpi_scope_same_node(uint32_t w);
int esmpi_scope_local_peers(void);

/* sign.c: ECDSA signatures for `sign: ecdsa-p256` rules */
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
 * from a->src on c: 0, ESMPI_ERR_SIGNATURE (missing or bad, or c reaches
 * another job) or ESMPI_ERR_CERT (sender's certificate refused);
 * esmpi_sign_why() says more. */
int esmpi_sign_check(const struct esmpi_comm *c, const struct esmpi_rec_aad *a,
    const uint8_t *rec, size_t reclen);
const char *esmpi_sign_why(void);
/* Links (mpi/dynamic.c): whether this job signs (then it needs the other
 * job's certificates); our world rank w's {rank cert, node cert} bundle
 * as the job allgathered it (*len 0: none); the other job's certificates
 * for a link, bundles[i] of lens[i] bytes (concatenated, taken) for its
 * world rank world[i] (not taken), to verify as signers of job rjob. */
int esmpi_sign_on(void);
void esmpi_sign_bundle(uint32_t w, const uint8_t **b, int *len);
struct esmpi_sign_tab *esmpi_sign_tab_new(const uint8_t rjob[16],
    const uint32_t *world, int n, uint8_t *bundles, int *lens);
void esmpi_sign_tab_free(struct esmpi_sign_tab *t);

#endif
