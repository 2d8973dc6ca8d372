/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_RECORD_PATH_H
#define ESMPI_RECORD_PATH_H

/*
 * Layer 4, the record path: seal and open one message for a
 * (communicator, peer, tag) (seal.c, open.c), the AEAD preparation while
 * a rank waits, refusals, and large messages in chunks (chunk.c). Owns
 * esmpi.chunk_*. May call: comm/ and below; never MPI requests or
 * wrappers (the caller tracks what it starts).
 */
#include "comm/comm.h"

/* Collectives use this tag for policy matching and in their AAD. */
#define ESMPI_COLL_TAG (-1)

/* seal.c */
struct esmpi_msg {
	uint8_t *rec;			/* record buffer (header+ct+tag[+sig]) */
	size_t len;			/* plaintext bytes, + ESMPI_SIG_LEN if
					 * signed: the record is len +
					 * ESMPI_REC_OVERHEAD bytes */
};
/* A record from the pool for (buf, count, dt) to comm rank dest. */
int esmpi_seal(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, int dest, int tag, struct esmpi_msg *m);
/* The same, into space (spacelen bytes, the caller's stack: a blocking
 * call's small record) when the record fits, else a pool buffer. */
int esmpi_seal_on(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, int dest, int tag, struct esmpi_msg *m, uint8_t *space,
    size_t spacelen);
/* Back to the pool, unless it is space. */
static inline void
esmpi_msg_release(const struct esmpi_msg *m, const uint8_t *space)
{
	if (m->rec != NULL && m->rec != space)
		esmpi_pool_put(m->rec, m->len + ESMPI_REC_OVERHEAD);
}
/* Seal into out (bytes + ESMPI_REC_OVERHEAD, + esmpi_sign_extra for
 * point-to-point) for dst_world; coll_seq is nonzero for collective
 * records (tag ESMPI_COLL_TAG), which are never signed. */
int esmpi_seal_into(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, uint32_t dst_world, int tag, uint64_t coll_seq,
    uint8_t *out);
/* Plaintext bytes of (count, dt); ESMPI_ERR_TOO_LARGE past the largest
 * record (ESMPI_REC_MAX_LEN). */
int esmpi_msg_bytes(int count, MPI_Datatype dt, size_t *n);
/* Prepare the AEAD context of the record expected next, sent or received
 * (src, tag: the receive's, wildcards prepare nothing). Never inlined:
 * bench/run.sh --instr counts them apart by name. */
__attribute__((noinline)) void esmpi_prepare_send(struct esmpi_comm *c);
__attribute__((noinline)) void esmpi_prepare_recv(struct esmpi_comm *c,
    int src, int tag);
/* Record h (to or from peer, on tag) just went through chain k: was it
 * the guess, and what comes next. */
void esmpi_expect_next(struct esmpi_chain *k, const struct esmpi_rec_hdr *h,
    uint32_t peer, int tag);

/* open.c */
/* Open a whole message (a record, or a head and its chunks) that MPI
 * received into rec with status st; ticket: from esmpi_recv_ticket() when
 * the receive was posted. An MPI code, refusals raised. */
int esmpi_open(struct esmpi_comm *c, const uint8_t *rec, size_t reclen,
    void *buf, int count, MPI_Datatype dt, MPI_Status *st, uint64_t ticket);
/* Open a record from comm rank src meant for dst_world; 0 or ESMPI_ERR_*
 * (buffer wiped); *len = plaintext bytes, also set with
 * ESMPI_ERR_TOO_LARGE for an authentic record larger than the receive
 * (truncation). No error handler called. */
int esmpi_open_from(struct esmpi_comm *c, int src, uint32_t dst_world,
    int tag, uint64_t coll_seq, const uint8_t *rec, size_t reclen,
    void *buf, int count, MPI_Datatype dt, size_t *len);
/* Audit, print and raise an integrity/replay error for a record. */
int esmpi_refuse(struct esmpi_comm *c, int src, int tag, int r);
/* The record size a receive of (count, dt) posts: what it can take,
 * never more than the longest record. */
size_t esmpi_recv_capacity(int count, MPI_Datatype dt);
/* Report plaintext sizes in a status that describes a record on c. */
void esmpi_status_fix(const struct esmpi_comm *c, MPI_Status *st);
/* A receive on c that MPI failed with rc: a truncation's status reports
 * the message's plaintext size, as plain MPI's reports the message's. */
void esmpi_status_truncated(const struct esmpi_comm *c, int rc,
    MPI_Status *st);

/* chunk.c: large messages in chunks */
/* A chunk's plaintext: 255 KiB, a multiple of 8 Poly1305 blocks (with
 * AVX-512 OpenSSL's 8-way Poly1305 ran only on those: 256 KiB - 64 opened
 * at 3/4 the speed, measured), and its record within the pool's 256 KiB
 * class. */
#define ESMPI_CHUNK_PT		((256u << 10) - 1024)
#define ESMPI_CHUNK_REC		(ESMPI_CHUNK_PT + ESMPI_REC_OVERHEAD)
#define ESMPI_CHUNK_MIN_DEFAULT	(512u << 10)
/* How many chunks carry n bytes, how long chunk i is, and the tag the
 * chunks of head seq on context ctx travel with. */
size_t esmpi_chunk_count(size_t n);
size_t esmpi_chunk_len(size_t n, size_t i);
int esmpi_chunk_tag(uint64_t ctx, uint64_t seq);
int esmpi_chunk_init(void);
/* Wait for chunks in flight, free the chunk communicator. */
void esmpi_chunk_fini(void);
/* 0 if a send of count dt is surely too small for chunks. */
int esmpi_chunk_worth(int count, MPI_Datatype dt);
/*
 * 1 if the send went in chunks (*rc its result), 0 if it is not one for
 * chunks. req NULL: blocking. Nonblocking: *req is the application's
 * request and *flight what its completion must report to
 * esmpi_chunk_app_done (which the caller must call, also if it cannot
 * track the request).
 */
int esmpi_chunk_send(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, int dest, int tag, MPI_Request *req, void **flight,
    int *rc);
/* Complete what nonblocking chunked sends left running (wait: all). */
void esmpi_chunk_reap(int wait);
/* The application's request of a chunked send completed or was freed. */
void esmpi_chunk_app_done(void *flight);
/* Whether a status describes a head (a chunked message) on c. */
int esmpi_is_head(const struct esmpi_comm *c, const MPI_Status *st);
/* Check a head from comm rank src on tag, as any record. */
int esmpi_head_open(struct esmpi_comm *c, int src, int tag,
    const uint8_t *rec, size_t reclen, uint64_t ticket,
    struct esmpi_rec_hdr *h);
/* Receive and open the chunks a checked head announced. */
int esmpi_chunks_take(struct esmpi_comm *c, int src, int tag,
    const struct esmpi_rec_hdr *head, void *buf, int count, MPI_Datatype dt,
    size_t *len);

#endif
