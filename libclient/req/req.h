/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_REQ_H
#define ESMPI_REQ_H

/*
 * Layer 5, the request table. The application holds MPI's real request
 * handles (so Cancel, Test_cancelled and mixing with other requests work
 * unchanged); the table maps each handle to an entry whose operations,
 * set by whoever started the request (point-to-point, a collective, a
 * communicator duplication), say what its completion must do. Owns the
 * table, the requests the application freed while active (orphans) and
 * the count of served persistent receives. May call: record/ and below;
 * knows no kind of request.
 */
#include "record/record.h"

struct esmpi_req;
struct esmpi_stash;

struct esmpi_req_ops {
	/* MPI completed the request with status st: deliver (open a record,
	 * finish a collective, key a communicator). r->active still says
	 * whether it was started (an inactive persistent request completes
	 * with MPI's empty status). An MPI code, never written into
	 * st->MPI_ERROR (single completions leave it alone); NULL: nothing
	 * to do. */
	int (*complete)(struct esmpi_req *r, MPI_Status *st);
	/* MPI failed the request with err: fix st (NULL: nothing). */
	void (*failed)(struct esmpi_req *r, int err, MPI_Status *st);
	/* Free what the creator attached (NULL: nothing). */
	void (*free)(struct esmpi_req *r);
	/* A persistent request esmpi runs itself (persistent collectives):
	 * MPI_Start starts it, putting what it started into *req (NULL:
	 * MPI starts it). */
	int (*start)(struct esmpi_req *r, MPI_Request *req);
};

struct esmpi_req {
	MPI_Request handle;
	const struct esmpi_req_ops *ops;
	struct esmpi_comm *c;		/* held until the entry goes */
	int persistent;
	int active;			/* started, not yet completed */
	int done;			/* completed already (Request_get_status) */
	MPI_Status done_st;		/* ... with this status */
	int served;			/* persistent receive that Start matched
					 * in the stash: complete, MPI-inactive */
	/* Point-to-point (mpi/nb.c) */
	int receive;			/* a receive (else a send) */
	uint8_t *rec;
	size_t reclen;
	void *buf;			/* user buffer (receives, persistent sends) */
	int count;
	MPI_Datatype dt;		/* our duplicate when dt_held */
	int dt_held;
	int buffered;			/* Bsend_init: each Start a bsend_start */
	int peer, tag;			/* persistent: where to, from where;
					 * sends: the application's tag */
	size_t sent;			/* sends: plaintext bytes, for the
					 * status */
	uint64_t ticket;		/* receives: posting order */
	MPI_Comm comm;
	void *flight;			/* a chunked send's (record/chunk.c) */
	struct esmpi_stash *stashed;	/* a receive the stash serves when it
					 * completes (Irecv, Imrecv) */
	void *priv;			/* other creators' state */
	/* One run of a persistent collective: the application gets its
	 * inactive persistent request back when this completes. */
	int anchored;
	MPI_Request anchor;
	/* Freed by the application while active */
	struct esmpi_req *next_orphan;
	MPI_Status orphan_st;		/* how it completed */
	int orphan_ok;
};

/* A new entry on c (held) with ops; NULL without memory. */
struct esmpi_req *esmpi_req_new(struct esmpi_comm *c,
    const struct esmpi_req_ops *ops);
/* Free an entry not (or no longer) in the table. */
void esmpi_req_free(struct esmpi_req *r);
int esmpi_req_add(struct esmpi_req *r);
/* Track r for the persistent request MPI just made at *req: MPI_SUCCESS,
 * or (both freed) the out-of-memory error raised on comm. */
int esmpi_req_add_persistent(struct esmpi_req *r, MPI_Request *req,
    MPI_Comm comm);
/* Find the (newest) entry for h; unless keep, remove it from the table. */
struct esmpi_req *esmpi_req_take(MPI_Request h, int keep);
/* The completion step, once per completion. */
int esmpi_req_complete(struct esmpi_req *r, MPI_Status *st);
/* Entry r (looked up before the completion call; NULL: none) after
 * completion with status st; removed unless persistent. */
int esmpi_req_finish(struct esmpi_req *r, MPI_Status *st);
/* r's request failed with err; now: the handle MPI left. */
void esmpi_req_drop(struct esmpi_req *r, MPI_Request now, MPI_Status *st,
    int err);
/* After a multiple-completion call that returned rc; a failure of the
 * completion step goes into st->MPI_ERROR. */
int esmpi_req_settle(struct esmpi_req *r, MPI_Request now, MPI_Status *st,
    int rc);
/* The return code of a multiple-completion call whose own steps gave prc. */
int esmpi_req_multi_rc(int prc);
/* The application freed r's active request: finished in the background. */
void esmpi_req_orphan(struct esmpi_req *r, MPI_Request h);
/* Complete what MPI_Request_free left running, as far as it has. */
void esmpi_req_reap(void);
/* Served persistent receives (complete for esmpi, inactive for MPI). */
void esmpi_req_mark_served(struct esmpi_req *r);
/* Complete up to max served receives among the n entries h; their
 * indices to idx, statuses to st (multi: a call that completes several,
 * failures into MPI_ERROR); how many. */
int esmpi_req_take_served(int n, struct esmpi_req **h, int max, int *idx,
    MPI_Status *st, int multi, int *prc);
int esmpi_req_any_served(void);
/* A request MPI sees complete at once, reporting status st. */
int esmpi_req_completed(const MPI_Status *st, MPI_Request *req);

#endif
