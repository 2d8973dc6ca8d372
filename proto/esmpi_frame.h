/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_FRAME_H
#define ESMPI_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "esmpi.pb-c.h"

/*
 * Framing of the daemon protocol: a 4-byte big-endian length, then that
 * many bytes of a protobuf-c encoded esmpi.Request or esmpi.Reply.
 */
#define ESMPI_PROTO_VERSION	1
/* RekeyEvent.reason */
enum esmpi_rekey_reason {
	ESMPI_REKEY_ADMIN = 1,		/* esmpictl rotate (or one pending) */
};
#define ESMPI_FRAME_HDR_LEN	4
/* Bounds a WrapJobKey request of ~12k ranks (~650 bytes a share). */
#define ESMPI_FRAME_MAX		(8u * 1024 * 1024)
/* A reader's buffer grows by at most this much per read. */
#define ESMPI_FRAME_RX_STEP	(64u * 1024)

/*
 * Incremental decoder for non-blocking readers: feed bytes, take whole
 * frames out. Owns a buffer that grows up to ESMPI_FRAME_MAX.
 */
struct esmpi_frame_rx {
	uint8_t *buf;
	size_t len;	/* bytes held */
	size_t cap;
};

void esmpi_frame_rx_init(struct esmpi_frame_rx *rx);
void esmpi_frame_rx_free(struct esmpi_frame_rx *rx);

/*
 * Read what fd has (non-blocking). Returns 0 when data (or nothing yet) was
 * read, ESMPI_ERR_EOF at end of file, ESMPI_ERR_SYSTEM on error,
 * ESMPI_ERR_TOO_LARGE when a length prefix exceeds ESMPI_FRAME_MAX.
 */
int esmpi_frame_rx_read(struct esmpi_frame_rx *rx, int fd);

/*
 * If a whole frame is buffered, point body and len at it and return 1; the
 * caller consumes it with esmpi_frame_rx_consume(). 0 when incomplete,
 * ESMPI_ERR_TOO_LARGE for an oversized prefix.
 */
int esmpi_frame_rx_next(struct esmpi_frame_rx *rx, const uint8_t **body,
    size_t *len);
void esmpi_frame_rx_consume(struct esmpi_frame_rx *rx);

/* Length-prefixed encoding of a message into a malloc'd buffer. */
int esmpi_frame_pack(const ProtobufCMessage *msg, uint8_t **out,
    size_t *out_len) __attribute__((warn_unused_result));

/* Blocking helpers for clients (CLI, client library, tests). timeout_ms <0
 * waits forever. */
int esmpi_frame_send(int fd, const ProtobufCMessage *msg)
    __attribute__((warn_unused_result));
int esmpi_frame_recv(int fd, int timeout_ms, uint8_t **body, size_t *len)
    __attribute__((warn_unused_result));

/* Decode helpers that also check the version field. */
int esmpi_frame_decode_request(const uint8_t *body, size_t len,
    Esmpi__Request **out) __attribute__((warn_unused_result));
int esmpi_frame_decode_reply(const uint8_t *body, size_t len,
    Esmpi__Reply **out) __attribute__((warn_unused_result));

/* Connect to a Unix stream socket; returns fd or a negative ESMPI_ERR_*
 * (errno kept). */
int esmpi_unix_connect(const char *path);

/*
 * One request/reply exchange: send req (version filled in), wait for the
 * reply. If sending fails because the daemon already refused us, the
 * refusal it queued is still read and returned. The caller frees *rep with
 * esmpi__reply__free_unpacked().
 */
int esmpi_frame_call(int fd, Esmpi__Request *req, int timeout_ms,
    Esmpi__Reply **rep) __attribute__((warn_unused_result));

#endif
