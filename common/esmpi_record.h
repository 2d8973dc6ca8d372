/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_RECORD_H
#define ESMPI_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "esmpi_crypto.h"
#include "esmpi_limits.h"

/*
 * The encrypted record (DESIGN §4), all integers big-endian:
 *
 *   | version u8 | suite u8 | flags u16 | epoch u32 | seq u64 | length u64 |
 *   | ciphertext (length bytes) | tag (16) |
 *
 * length is the plaintext length; the ciphertext has the same length.
 * AAD = header || job || src || dst || comm || tag || coll_seq (68 bytes,
 * see struct esmpi_rec_aad), nonce = src u32 || seq u64. Pure functions of
 * their arguments: no MPI, no I/O, no allocation.
 */

#define ESMPI_REC_VERSION	1
#define ESMPI_REC_HDR_LEN	24
#define ESMPI_REC_OVERHEAD	(ESMPI_REC_HDR_LEN + ESMPI_AEAD_TAG_LEN)
#define ESMPI_REC_AAD_LEN	(ESMPI_REC_HDR_LEN + 16 + 4 + 4 + 8 + 4 + 8)

#define ESMPI_REC_F_COLL	0x0001	/* part of a collective */
#define ESMPI_REC_F_SIGNED	0x0002	/* an ECDSA signature follows the tag */
#define ESMPI_REC_F_UNORDERED	0x0004	/* sender is multithreaded: no order
					 * among its records of one tag */
#define ESMPI_REC_F_HEAD	0x0008	/* announces a message sent in chunks */
#define ESMPI_REC_F_CHUNK	0x0010	/* one chunk of such a message */
#define ESMPI_REC_F_KNOWN	(ESMPI_REC_F_COLL | ESMPI_REC_F_SIGNED | \
				 ESMPI_REC_F_UNORDERED | ESMPI_REC_F_HEAD | \
				 ESMPI_REC_F_CHUNK)

/*
 * A head: the header alone of a message whose payload follows as chunk
 * records, its tag cut to 12 bytes, so that a head is shorter than any
 * record (ESMPI_REC_HEAD_LEN < ESMPI_REC_OVERHEAD) and a probe tells the
 * two apart by size.
 */
#define ESMPI_REC_HEAD_TAG_LEN	12
#define ESMPI_REC_HEAD_LEN	(ESMPI_REC_HDR_LEN + ESMPI_REC_HEAD_TAG_LEN)

/* dst of a record sealed once for several receivers (collectives). */
#define ESMPI_REC_DST_ALL	UINT32_MAX

struct esmpi_rec_hdr {
	uint8_t version;	/* ESMPI_REC_VERSION */
	uint8_t suite;		/* enum esmpi_suite_id, not NONE */
	uint16_t flags;		/* ESMPI_REC_F_* */
	uint32_t epoch;		/* key epoch (rekey ratchet step) */
	uint64_t seq;		/* sender's counter under this key */
	uint64_t length;	/* plaintext bytes */
};

/* What the record is bound to besides its header; never sent. */
struct esmpi_rec_aad {
	uint8_t job[16];	/* job id */
	uint32_t src, dst;	/* world ranks; src is also in the nonce */
	uint64_t comm;		/* communicator context id */
	int32_t tag;		/* MPI tag */
	uint64_t coll_seq;	/* collective sequence number, 0 for p2p */
};

/*
 * Seal len bytes of pt into out, which must hold len + ESMPI_REC_OVERHEAD
 * bytes: header, ciphertext, tag. h->version must be ESMPI_REC_VERSION and
 * h->length must equal len. pt may be out + ESMPI_REC_HDR_LEN (in place),
 * but must not otherwise overlap out. The caller owns the uniqueness of
 * (key, src, seq); seq at or above ESMPI_REJECT_AFTER_MESSAGES is refused
 * with ESMPI_ERR_LIMIT. On failure out holds no useful data.
 */
int esmpi_rec_seal(struct esmpi_aead *k, const struct esmpi_rec_hdr *h,
    const struct esmpi_rec_aad *a, const void *pt, size_t len, uint8_t *out)
    __attribute__((warn_unused_result));

/*
 * Like esmpi_rec_seal, but the header, the ciphertext (len bytes, may
 * equal pt) and the tag go to three separate buffers, e.g. for a send
 * that gathers them with a derived datatype.
 */
int esmpi_rec_seal_parts(struct esmpi_aead *k, const struct esmpi_rec_hdr *h,
    const struct esmpi_rec_aad *a, const void *pt, size_t len,
    uint8_t hdr[ESMPI_REC_HDR_LEN], uint8_t *ct,
    uint8_t tag[ESMPI_AEAD_TAG_LEN])
    __attribute__((warn_unused_result));

/*
 * Seal a head (h->flags has ESMPI_REC_F_HEAD; h->length is the whole
 * message's plaintext length): the tag covers the header and the AAD, over
 * no plaintext, with the nonce of h->seq.
 */
int esmpi_rec_seal_head(struct esmpi_aead *k, const struct esmpi_rec_hdr *h,
    const struct esmpi_rec_aad *a, uint8_t out[ESMPI_REC_HEAD_LEN])
    __attribute__((warn_unused_result));

/*
 * Check a head of reclen bytes: framing (ESMPI_ERR_TRUNCATED,
 * ESMPI_ERR_PROTOCOL, ...), then the tag (ESMPI_ERR_AUTH). On success *h
 * gets its header. Replay is the caller's check, as for records.
 */
int esmpi_rec_open_head(struct esmpi_aead *k, const struct esmpi_rec_aad *a,
    const uint8_t *rec, size_t reclen, struct esmpi_rec_hdr *h)
    __attribute__((warn_unused_result));

/*
 * Prepare k for the record that is expected next (esmpi_aead_prepare):
 * seal 1 for one this side will seal, 0 for one it will open. Used while
 * a rank waits anyway; the seal or open of any other record starts
 * afresh.
 */
int esmpi_rec_prepare(struct esmpi_aead *k, int seal,
    const struct esmpi_rec_hdr *h, const struct esmpi_rec_aad *a);

/* The AAD bytes of a record with header bytes hdr (what signatures of
 * `sign` rules cover besides ciphertext and tag). */
void esmpi_rec_aad_encode(uint8_t aad[ESMPI_REC_AAD_LEN],
    const uint8_t hdr[ESMPI_REC_HDR_LEN], const struct esmpi_rec_aad *a);

/*
 * Decode a header alone, e.g. to learn the plaintext length before the
 * body arrives. Checks version (ESMPI_ERR_VERSION), suite (ESMPI_ERR_SUITE),
 * flags (ESMPI_ERR_PROTOCOL) and length <= ESMPI_REC_MAX_LEN
 * (ESMPI_ERR_TOO_LARGE). Nothing here is authenticated yet.
 */
int esmpi_rec_hdr_decode(const uint8_t hdr[ESMPI_REC_HDR_LEN],
    struct esmpi_rec_hdr *h) __attribute__((warn_unused_result));

/*
 * esmpi_rec_hdr_decode of a whole record of reclen bytes, which must be
 * exactly h->length + ESMPI_REC_OVERHEAD: shorter is ESMPI_ERR_TRUNCATED,
 * longer is ESMPI_ERR_PROTOCOL.
 */
int esmpi_rec_parse_hdr(const uint8_t *rec, size_t reclen,
    struct esmpi_rec_hdr *h) __attribute__((warn_unused_result));

/*
 * Parse, check and decrypt the record rec (reclen bytes) into pt (ptcap
 * bytes, at least the plaintext length, else ESMPI_ERR_TOO_LARGE). pt may
 * be rec + ESMPI_REC_HDR_LEN (in place). On success *h_out (may be NULL)
 * gets the header. On any failure all ptcap bytes at pt are wiped: framing
 * errors as for esmpi_rec_parse_hdr, ESMPI_ERR_AUTH when the tag does not
 * verify (wrong key, epoch, AAD or tampering). Replay is the caller's
 * check: esmpi_replay_check before (the header's seq may be read with
 * esmpi_rec_hdr_decode), esmpi_replay_accept after a success.
 */
int esmpi_rec_open(struct esmpi_aead *k, const struct esmpi_rec_aad *a,
    const uint8_t *rec, size_t reclen, void *pt, size_t ptcap,
    struct esmpi_rec_hdr *h_out) __attribute__((warn_unused_result));

/* The same for a record whose header esmpi_rec_parse_hdr() already took
 * into h (framing checked): no second parse on the per-message path. */
int esmpi_rec_open_hdr(struct esmpi_aead *k, const struct esmpi_rec_aad *a,
    const uint8_t *rec, const struct esmpi_rec_hdr *h, void *pt,
    size_t ptcap) __attribute__((warn_unused_result));

/*
 * The same for a record received in three pieces: header, ctlen bytes of
 * ciphertext and the tag. pt may equal ct, so a message received straight
 * into the user buffer is opened where it lies; ctlen other than the
 * header's length is ESMPI_ERR_TRUNCATED or ESMPI_ERR_PROTOCOL as above.
 */
int esmpi_rec_open_parts(struct esmpi_aead *k, const struct esmpi_rec_aad *a,
    const uint8_t hdr[ESMPI_REC_HDR_LEN], const uint8_t *ct, size_t ctlen,
    const uint8_t tag[ESMPI_AEAD_TAG_LEN], void *pt, size_t ptcap,
    struct esmpi_rec_hdr *h_out) __attribute__((warn_unused_result));

/*
 * Sliding replay window (WireGuard counter.c), one per (key, peer).
 * Zero-initialise (or esmpi_replay_init) before use. A seq is accepted if
 * it was not seen, is below ESMPI_REJECT_AFTER_MESSAGES, and is at most
 * ESMPI_REPLAY_WINDOW below the highest accepted seq; anything newer
 * slides the window.
 */
#define ESMPI_REPLAY_WORDS	(ESMPI_REPLAY_BITS / 64)

struct esmpi_replay {
	uint64_t top;				/* highest accepted seq */
	uint64_t bits[ESMPI_REPLAY_WORDS];	/* ring, word = seq / 64 */
	int any;				/* top is valid */
};

void esmpi_replay_init(struct esmpi_replay *w);

/* 0 if seq may be accepted, else ESMPI_ERR_REPLAY; w is not changed. */
int esmpi_replay_check(const struct esmpi_replay *w, uint64_t seq)
    __attribute__((warn_unused_result));

/*
 * Record seq as seen. Call only after the record authenticated, so a
 * forged seq cannot move the window. A seq that esmpi_replay_check would
 * refuse is ignored.
 */
void esmpi_replay_accept(struct esmpi_replay *w, uint64_t seq);

/*
 * Order of one (communicator, peer, tag): MPI matches its messages to
 * receives in the order the receives were posted, so a receive posted
 * later (higher ticket) must get a higher seq, an earlier one a lower seq.
 * A record is compared with the one of the latest-posted receive opened
 * so far; ticket 0 means "order unknown" (never checked). Zero-initialise.
 */
struct esmpi_order {
	uint64_t ticket;	/* highest ticket opened, 0: none */
	uint64_t seq;		/* highest seq among records of that ticket */
};

/* 0 if seq fits the posting order, else ESMPI_ERR_REPLAY (reordered). */
int esmpi_order_check(const struct esmpi_order *o, uint64_t ticket,
    uint64_t seq) __attribute__((warn_unused_result));

/* Record an authenticated record's (ticket, seq). */
void esmpi_order_accept(struct esmpi_order *o, uint64_t ticket, uint64_t seq);

/*
 * Plain records (policy `scope: inter-node`, ranks of one node): the
 * sealed record's framing (header with ESMPI_REC_F_PLAIN, payload, 16
 * zero bytes where the tag goes), never sealed or opened by the record
 * layer above, which refuses the flag. Nothing in them is authenticated.
 */
#define ESMPI_REC_F_PLAIN	0x0100
/* Frame n bytes of pt into out (n + ESMPI_REC_OVERHEAD bytes); pt may be
 * out + ESMPI_REC_HDR_LEN (in place). */
void esmpi_rec_plain_put(int suite, uint64_t seq, const void *pt, size_t n,
    uint8_t *out);
/* Whether the reclen bytes at rec claim to be a plain record. */
int esmpi_rec_plain_is(const uint8_t *rec, size_t reclen);
/* Take a plain record's payload (at most cap bytes) into out: the
 * version, the suite the receiver expects and the length must match.
 * ESMPI_ERR_VERSION, _AUTH (other suite), _PROTOCOL, _TOO_LARGE. */
int esmpi_rec_plain_take(const uint8_t *rec, size_t reclen, int suite,
    uint8_t *out, size_t cap, size_t *len)
    __attribute__((warn_unused_result));

#endif
