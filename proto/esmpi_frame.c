/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "esmpi_bytes.h"
#include "esmpi_err.h"
#include "esmpi_frame.h"
#include "esmpi_mem.h"

void
esmpi_frame_rx_init(struct esmpi_frame_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
}

void
esmpi_frame_rx_free(struct esmpi_frame_rx *rx)
{
	/* Frames carry job keys: wipe what was buffered. */
	esmpi_freezero(rx->buf, rx->cap);
	memset(rx, 0, sizeof(*rx));
}

static int
rx_reserve(struct esmpi_frame_rx *rx, size_t need)
{
	uint8_t *n;
	size_t cap;

	if (need <= rx->cap)
		return 0;
	cap = rx->cap ? rx->cap : 4096;
	while (cap < need)
		cap *= 2;
	if (cap > ESMPI_FRAME_MAX + ESMPI_FRAME_HDR_LEN)
		cap = ESMPI_FRAME_MAX + ESMPI_FRAME_HDR_LEN;
	if (cap < need)
		return ESMPI_ERR_TOO_LARGE;
	if ((n = malloc(cap)) == NULL)
		return ESMPI_ERR_NOMEM;
	if (rx->len)
		memcpy(n, rx->buf, rx->len);
	esmpi_freezero(rx->buf, rx->cap);
	rx->buf = n;
	rx->cap = cap;
	return 0;
}

int
esmpi_frame_rx_next(struct esmpi_frame_rx *rx, const uint8_t **body,
    size_t *len)
{
	uint32_t flen;

	if (rx->len < ESMPI_FRAME_HDR_LEN)
		return 0;
	flen = esmpi_get_be32(rx->buf);
	if (flen > ESMPI_FRAME_MAX)
		return ESMPI_ERR_TOO_LARGE;
	if (rx->len < ESMPI_FRAME_HDR_LEN + (size_t)flen)
		return 0;
	*body = rx->buf + ESMPI_FRAME_HDR_LEN;
	*len = flen;
	return 1;
}

void
esmpi_frame_rx_consume(struct esmpi_frame_rx *rx)
{
	size_t used;

	if (rx->len < ESMPI_FRAME_HDR_LEN)
		return;
	used = ESMPI_FRAME_HDR_LEN + (size_t)esmpi_get_be32(rx->buf);
	if (used > rx->len)
		return;
	memmove(rx->buf, rx->buf + used, rx->len - used);
	esmpi_memzero(rx->buf + rx->len - used, used);
	rx->len -= used;
}

int
esmpi_frame_rx_read(struct esmpi_frame_rx *rx, int fd)
{
	size_t want;
	ssize_t n;
	int r;

	for (;;) {
		/* Read the header first, then exactly the announced frame. */
		want = ESMPI_FRAME_HDR_LEN;
		if (rx->len >= ESMPI_FRAME_HDR_LEN) {
			uint32_t flen = esmpi_get_be32(rx->buf);

			if (flen > ESMPI_FRAME_MAX)
				return ESMPI_ERR_TOO_LARGE;
			want = ESMPI_FRAME_HDR_LEN + (size_t)flen;
			if (rx->len >= want)
				return 0;	/* a whole frame is waiting */
		}
		/* Grow with what arrives, not with what the header
		 * announces: a peer pays in bytes sent for memory held. */
		if (want > rx->len + ESMPI_FRAME_RX_STEP)
			want = rx->len + ESMPI_FRAME_RX_STEP;
		if ((r = rx_reserve(rx, want)) != 0)
			return r;
		n = read(fd, rx->buf + rx->len, want - rx->len);
		if (n == 0)
			return ESMPI_ERR_EOF;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return ESMPI_ERR_SYSTEM;
		}
		rx->len += (size_t)n;
	}
}

int
esmpi_frame_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf;

	if (len > ESMPI_FRAME_MAX)
		return ESMPI_ERR_TOO_LARGE;
	if ((buf = malloc(ESMPI_FRAME_HDR_LEN + len)) == NULL)
		return ESMPI_ERR_NOMEM;
	esmpi_put_be32(buf, (uint32_t)len);
	protobuf_c_message_pack(msg, buf + ESMPI_FRAME_HDR_LEN);
	*out = buf;
	*out_len = ESMPI_FRAME_HDR_LEN + len;
	return 0;
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };

				(void)poll(&pfd, 1, 1000);
				continue;
			}
			return errno == EPIPE || errno == ECONNRESET ?
			    ESMPI_ERR_EOF : ESMPI_ERR_SYSTEM;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
esmpi_frame_send(int fd, const ProtobufCMessage *msg)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = esmpi_frame_pack(msg, &buf, &len)) != 0)
		return r;
	r = write_all(fd, buf, len);
	esmpi_freezero(buf, len);
	return r;
}

static int
read_exact(int fd, uint8_t *p, size_t len, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int pr;

	while (len > 0) {
		pr = poll(&pfd, 1, timeout_ms);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			return ESMPI_ERR_SYSTEM;
		}
		if (pr == 0) {
			errno = ETIMEDOUT;
			return ESMPI_ERR_SYSTEM;
		}
		n = read(fd, p, len);
		if (n == 0)
			return ESMPI_ERR_EOF;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == ECONNRESET ? ESMPI_ERR_EOF :
			    ESMPI_ERR_SYSTEM;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
esmpi_frame_recv(int fd, int timeout_ms, uint8_t **body, size_t *len)
{
	uint8_t hdr[ESMPI_FRAME_HDR_LEN], *buf;
	uint32_t flen;
	int r;

	if ((r = read_exact(fd, hdr, sizeof(hdr), timeout_ms)) != 0)
		return r;
	flen = esmpi_get_be32(hdr);
	if (flen > ESMPI_FRAME_MAX)
		return ESMPI_ERR_TOO_LARGE;
	if ((buf = malloc(flen ? flen : 1)) == NULL)
		return ESMPI_ERR_NOMEM;
	if ((r = read_exact(fd, buf, flen, timeout_ms)) != 0) {
		esmpi_freezero(buf, flen);
		return r;
	}
	*body = buf;
	*len = flen;
	return 0;
}

/*
 * Decoding may allocate far more than the frame holds (a repeated message
 * of empty elements costs ~130 bytes of structure per 2 bytes of wire):
 * a request's decoding gets a budget of a few times its size. Legitimate
 * requests stay near 1x (their bytes fields are copied once). The
 * memory comes from malloc, so free_unpacked with the default allocator
 * frees it.
 */
#define DECODE_BUDGET(len)	(4 * (len) + 64 * 1024)

struct decode_budget {
	size_t left;
};

static void *
budget_alloc(void *data, size_t size)
{
	struct decode_budget *b = data;

	if (size > b->left) {
		b->left = 0;
		return NULL;
	}
	b->left -= size;
	return malloc(size);
}

static void
budget_free(void *data, void *p)
{
	(void)data;
	free(p);
}

int
esmpi_frame_decode_request(const uint8_t *body, size_t len,
    Esmpi__Request **out)
{
	struct decode_budget b = { DECODE_BUDGET(len) };
	ProtobufCAllocator alloc = { budget_alloc, budget_free, &b };
	Esmpi__Request *m;

	m = esmpi__request__unpack(&alloc, len, body);
	if (m == NULL)
		return b.left == 0 ? ESMPI_ERR_TOO_LARGE : ESMPI_ERR_PROTOCOL;
	if (m->version != ESMPI_PROTO_VERSION) {
		esmpi__request__free_unpacked(m, NULL);
		return ESMPI_ERR_VERSION;
	}
	*out = m;
	return 0;
}

int
esmpi_frame_decode_reply(const uint8_t *body, size_t len, Esmpi__Reply **out)
{
	Esmpi__Reply *m;

	m = esmpi__reply__unpack(NULL, len, body);
	if (m == NULL)
		return ESMPI_ERR_PROTOCOL;
	if (m->version != ESMPI_PROTO_VERSION) {
		esmpi__reply__free_unpacked(m, NULL);
		return ESMPI_ERR_VERSION;
	}
	*out = m;
	return 0;
}

int
esmpi_unix_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd, saved;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return ESMPI_ERR_INVALID;
	}
	strcpy(sa.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return ESMPI_ERR_SYSTEM;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return ESMPI_ERR_UNREACHABLE;
	}
	return fd;
}

int
esmpi_frame_call(int fd, Esmpi__Request *req, int timeout_ms,
    Esmpi__Reply **rep)
{
	uint8_t *body = NULL;
	size_t len = 0;
	int r, sr;

	req->version = ESMPI_PROTO_VERSION;
	sr = esmpi_frame_send(fd, &req->base);
	r = esmpi_frame_recv(fd, timeout_ms, &body, &len);
	if (r != 0)
		return sr != 0 ? sr : r;
	r = esmpi_frame_decode_reply(body, len, rep);
	esmpi_freezero(body, len);
	return r;
}
