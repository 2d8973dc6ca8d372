/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_CORE_H
#define ESMPI_CORE_H

/*
 * Layer 1, the ground of libesmpi: the process-wide state, error
 * reporting, key memory (secmem.c), record buffers (pool.c) and datatype
 * helpers (dtype.c). May call: layer 0 (impl/) and common/.
 *
 * libesmpi lives inside arbitrary MPI applications: everything is hidden
 * (-fvisibility=hidden plus a version script); only MPI_* entry points
 * are exported (ESMPI_EXPORT).
 *
 * The layers, each a folder with one header that includes the one below:
 *   impl/ -> core/ -> session/ -> comm/ -> record/ -> req/ -> mpi/ ->
 *   fortran/ (and the generated wrappers). scripts/check-layers.py fails
 *   the build's tests when a file calls or includes a higher layer.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "impl/impl.h"

#include "esmpi_crypto.h"
#include "esmpi_paths.h"
#include "esmpi_policy.h"

#define ESMPI_EXPORT __attribute__((visibility("default")))

struct esmpi_comm;

/*
 * The process-wide state. Each group of fields names its owner, the one
 * module that sets it up and frees it (its init and fini functions).
 */
struct esmpi_state {
	/* mpi/init.c */
	int initialized;		/* our Init ran */
	int active;			/* keys established: protect traffic */
	int failed;			/* init failed: refuse everything */
	int world_rank, world_size;
	int threads_multi;		/* MPI_THREAD_MULTIPLE provided */
	int err_class;
	int err_auth, err_replay, err_denied, err_init, err_internal;
	/* session/: the session with esmpid */
	uint8_t job_id[16];
	uint8_t *job_key;		/* 32 bytes, protected memory */
	int dfd;			/* daemon connection, -1: lost */
	pthread_mutex_t dlock;		/* dfd, reconnection, audit queue */
	char dpath[108];		/* daemon socket (sun_path) */
	uint64_t reconnect_at;		/* coarse seconds: next attempt */
	unsigned backoff;		/* seconds between attempts */
	uint32_t max_epoch;		/* highest sender epoch reached */
	atomic_uint rekey_gen;		/* RekeyEvents pushed by esmpid */
	uint8_t node_id[32];		/* SHA-256 of our esmpid's node cert */
	/* session/rules.c */
	struct esmpi_pol_settings defaults;
	struct esmpi_pol_rule *rules;
	size_t nrules;
	int policy_differs;		/* some rank's rules differ from rank 0's */
	/* comm/comm.c */
	int keyval;
	struct esmpi_comm *comms;
	pthread_mutex_t comms_lock;
	atomic_uint_fast64_t recv_ticket;	/* receives posted so far */
	/* record/chunk.c */
	size_t chunk_min;		/* sends this large go in chunks; 0: never */
	int chunk_tag_ub;
	MPI_Comm chunk_comm;		/* WORLD's duplicate: chunk records */
	/* counters for ESMPI_STATS (record/ and mpi/stash.c count them) */
	atomic_uint_fast64_t stat_sealed, stat_sealed_local, stat_plain;
	atomic_uint_fast64_t stat_chunked, stat_stashed;
};

extern struct esmpi_state esmpi;

/* v++, returning the old value (no locked instruction below
 * MPI_THREAD_MULTIPLE: one thread at a time is inside MPI then, and
 * libesmpi runs no thread of its own). */
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

/* state.c */
/* Print one clear message and raise code through comm's error handler. */
int esmpi_fail(MPI_Comm comm, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Seconds of CLOCK_MONOTONIC_COARSE. */
uint64_t esmpi_now_coarse(void);

/* core/imports.c: 1 if an object loaded in this process (not one whose
 * basename starts with a string of skip) imports a function whose name
 * starts with one of prefixes (any case); found names the first. */
int esmpi_imports_any(const char *const *prefixes, const char *const *skip,
    char *found, size_t len);

/* secmem.c: memory for key material, zeroed, out of core dumps
 * (MADV_DONTDUMP) and locked where allowed; free wipes it. NULL if no
 * such memory can be had. */
void *esmpi_secure_calloc(size_t n);
void esmpi_secure_free(void *p, size_t n);
/* ESMPI_TEST_KEYMEM: where an OpenSSL allocation (key schedules) lands. */
void esmpi_secure_openssl_report(void);
/* ESMPI_TEST_KEYMEM: print the VmFlags of the mapping holding p. */
void esmpi_secure_report(const char *what, const void *p);

/* pool.c: reusable record buffers (no plaintext when put back: wipe
 * scratch first). len is what was
 * asked for; put takes the same len. */
void *esmpi_pool_get(size_t len);
void esmpi_pool_put(void *p, size_t len);
void esmpi_pool_drain(void);

/* dtype.c */
/* Size of a predefined type esmpi knows by heart, or -1. */
int esmpi_predefined_size(MPI_Datatype dt);
/* MPI_Type_size, without a call for the predefined types. */
int esmpi_type_size(MPI_Datatype dt);
/* Whether count elements of dt are one run of *bytes bytes at buf+*lb. */
int esmpi_contig(int count, MPI_Datatype dt, size_t *bytes, MPI_Aint *lb);
/* dt, or for a derived type our duplicate (*held = 1; PMPI_Type_free it):
 * the application may free its type while a request still needs it. */
MPI_Datatype esmpi_type_hold(MPI_Datatype dt, int *held);
/* MPI_Pack of (buf, count, dt) into packed, in pieces of at most INT_MAX
 * bytes (MPI's sizes are int, a message of more than 2 GiB is not); 0 or
 * -1. */
int esmpi_pack(const void *buf, int count, MPI_Datatype dt, uint8_t *packed,
    MPI_Comm comm);
/*
 * How a record of len bytes is handed to MPI: (len, MPI_BYTE) up to
 * INT_MAX, else one element of a type of exactly len bytes (MPI counts
 * are int; messages of more than 2 GiB are not). esmpi_wire_done() after
 * the call that posted it (MPI keeps what it needs of the type). 0, or -1
 * (no type could be made: w is (len, MPI_BYTE) still, unusable).
 */
struct esmpi_wire {
	int count;
	MPI_Datatype dt;
};
int esmpi_wire_type(size_t len, struct esmpi_wire *w);

/* Inline: every message passes here, almost all of them short. */
static inline int
esmpi_wire(size_t len, struct esmpi_wire *w)
{
	w->count = (int)len;
	w->dt = MPI_BYTE;
	return len <= INT_MAX ? 0 : esmpi_wire_type(len, w);
}

static inline void
esmpi_wire_done(struct esmpi_wire *w)
{
	if (w->dt != MPI_BYTE)
		PMPI_Type_free(&w->dt);
}
/* Deliver len packed plaintext bytes into (buf, count, dt), in pieces as
 * esmpi_pack; comm: whose Unpack (and error handler). */
void esmpi_unpack_into(const uint8_t *packed, size_t len, void *buf,
    int count, MPI_Datatype dt, MPI_Comm comm);

#endif
