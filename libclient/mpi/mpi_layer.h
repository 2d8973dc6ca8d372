/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_MPI_LAYER_H
#define ESMPI_MPI_LAYER_H

/*
 * Layer 6, MPI semantics: the hand-written MPI_* entry points and what
 * they share. check.c (what every wrapper checks first, calls esmpi
 * cannot protect), stash.c (what probes received early), nb.c
 * (nonblocking and persistent point-to-point), mprobe.c (matched probes),
 * wait.c (Wait/Test), p2p.c (blocking point-to-point), coll.c
 * (collectives), pcoll.c (persistent collectives), comm_new.c
 * (communicator constructors), dynamic.c (spawn, accept/connect, join: links to other jobs), io.c (MPI-IO:
 * collective data access made independent), rma_type.c and rma.c
 * (one-sided communication), large.c (MPI-4's large-count _c forms,
 * narrowed to the int forms by generated wrappers), join.c and init.c (MPI_Init/MPI_Finalize
 * and MPI-4 sessions: every module's init and fini). Within the layer, files call only those
 * listed before them (init.c last).
 * May call: req/ and below.
 */
#include "req/req.h"

/* check.c */
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
/* A call esmpi cannot protect (generated wrappers): refused or allowed
 * by policy `unprotected`, audited once per function. */
int esmpi_unprotected_call(const char *fn);
/* Traffic on a communicator without esmpi state (another job's
 * processes): esmpi_unprotected_call() under its own name. */
int esmpi_unkeyed(MPI_Comm comm);

/* stash.c */
struct esmpi_stash;
int esmpi_stash_init(void);
void esmpi_stash_fini(void);
struct esmpi_stash *esmpi_stash_take(struct esmpi_comm *c, int src,
    int tag);
/* Deliver e into (buf, count, dt) as a receive would; frees e. */
int esmpi_stash_serve(struct esmpi_comm *c, struct esmpi_stash *e,
    void *buf, int count, MPI_Datatype dt, MPI_Status *st);
/* What a receive of e will report (source, tag, plaintext size). */
void esmpi_stash_status(const struct esmpi_comm *c,
    const struct esmpi_stash *e, MPI_Status *st);
void esmpi_stash_drop(struct esmpi_stash *e);
void esmpi_stash_clear(struct esmpi_comm *c);
/* MPI_Probe (flag NULL) or MPI_Iprobe through the stash. */
int esmpi_stash_probe(struct esmpi_comm *c, int src, int tag, int *flag,
    MPI_Status *st);
/* Receive a head a matched probe found: the entry its handle stands for. */
struct esmpi_stash *esmpi_stash_from_message(struct esmpi_comm *c,
    MPI_Message *msg, MPI_Status *st, int *rc);
/* A message handle for entry e. */
int esmpi_stash_message(struct esmpi_comm *c, struct esmpi_stash *e,
    MPI_Message *msg, MPI_Status *st);

/* nb.c */
/* A receive request; with_rec: and the record buffer MPI receives into. */
struct esmpi_req *esmpi_new_recv(struct esmpi_comm *c, void *buf, int count,
    MPI_Datatype dt, MPI_Comm comm, int persistent, int with_rec);
/* A nonblocking receive MPI holds as *req: tracked until it completes. */
int esmpi_track_recv(struct esmpi_req *r, MPI_Request *req);
/* A nonblocking receive of what a probe received already. */
int esmpi_serve_later(struct esmpi_comm *c, struct esmpi_stash *e,
    void *buf, int count, MPI_Datatype dt, MPI_Comm comm, MPI_Request *req);
/* Wait for buffered sends still in flight (MPI_Finalize). */
void esmpi_bsend_finish(void);

/* coll.c: hold a user-defined reduction operation for a request that
 * outlives the application's MPI_Op_free (0: held; -1: predefined or
 * no memory) and let go of it. */
int esmpi_op_hold(MPI_Op op);
void esmpi_op_release(MPI_Op op);
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

/* rma_type.c: predefined types and ops by index, target datatypes
 * described by the origin and rebuilt at the target */
int esmpi_rma_op_index(MPI_Op op);
MPI_Op esmpi_rma_op(int i);
int esmpi_rma_named_index(MPI_Datatype dt);
MPI_Datatype esmpi_rma_named(int i);
int esmpi_rma_describe(MPI_Datatype dt, int64_t **out, size_t *n);
int esmpi_rma_build(const int64_t *v, size_t n, MPI_Datatype *out);
void esmpi_rma_type_done(MPI_Datatype *t);
MPI_Datatype esmpi_rma_basic(MPI_Datatype dt);

/* rma.c: one-sided communication; stop the applier (MPI_Finalize);
 * refuse windows (ESMPI_RMA=off, before MPI_Init) */
void esmpi_rma_fini(void);
void esmpi_coll_fini(void);
/* Whether this process needs the applier (a loaded object imports a window
 * creation function; what in why), and switching windows off before MPI
 * starts (automatic: because nothing imported one, else ESMPI_RMA=off). */
int esmpi_rma_wanted(char *why, size_t len);
void esmpi_rma_disable(int automatic);
int esmpi_rma_enabled(void);
/* Requests served so far from MPI's progress loop and by the applier. */
void esmpi_rma_served(unsigned long *in_progress, unsigned long *applier);

/* large.c: the generated _c wrappers' conversions (MPI_ERR_COUNT, with a
 * message naming fn and arg, for what does not fit). A count of dt beyond
 * INT_MAX becomes *out of a derived *type of the same signature (give it
 * back to esmpi_large_type_done); arrays are narrowed into malloc'd int
 * arrays of the length kind says, only where significant. */
enum esmpi_large_len { ESMPI_LARGE_PEERS, ESMPI_LARGE_LOCAL, ESMPI_LARGE_IN,
    ESMPI_LARGE_OUT };
int esmpi_large_int(const char *fn, const char *arg, long long v, int *out);
int esmpi_large_count(const char *fn, const char *arg, MPI_Count n,
    MPI_Datatype dt, int *out, MPI_Datatype *type);
void esmpi_large_type_done(MPI_Datatype *type, MPI_Datatype dt);
int esmpi_large_at_root(MPI_Comm comm, int root);
int esmpi_large_array(const char *fn, const char *arg, const void *in,
    int aint, MPI_Comm comm, enum esmpi_large_len kind, int **out);

/* dynamic.c: a spawned child's link to its parent job, in MPI_Init. */
int esmpi_link_parent(char *err, size_t len);

#endif
