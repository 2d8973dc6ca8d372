/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One connection of esmpid: its reply queue (grown by doubling, wiped when
 * sent: replies carry job keys), sending it, the epoll events it waits for
 * (backpressure), closing and freeing. A closed connection stays in memory,
 * marked dead, until the event batch that closed it is over
 * (esmpid_conn_reap), so nothing in that batch can point to freed memory.
 * Below the dispatcher and the event loop; calls only the audit.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "esmpi_err.h"
#include "esmpi_mem.h"
#include "esmpid.h"

static int reply_verror(struct esmpid_conn *c, int code, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

static void conn_set_events(struct esmpid *d, struct esmpid_conn *c);

/* The client learns why it gets no slot instead of seeing a bare close;
 * a new socket's buffer is empty, so the one frame goes out at once. */
void
esmpid_refuse_fd(int fd, int code, const char *fmt, ...)
{
	struct esmpid_conn once = { .fd = fd };
	va_list ap;

	va_start(ap, fmt);
	if (reply_verror(&once, code, fmt, ap) == 0)
		(void)send(fd, once.tx, once.tx_len, MSG_NOSIGNAL |
		    MSG_DONTWAIT);
	va_end(ap);
	esmpi_freezero(once.tx, once.tx_cap);
	close(fd);
}

/*
 * Close c: audit, drop its fd and its counts, mark it dead. It stays on
 * the list (walks skip dead ones) and in memory until esmpid_conn_reap()
 * runs after the event batch, so events of this batch and list walks
 * that reach it see a dead connection, never freed memory.
 */
void
esmpid_conn_close(struct esmpid *d, struct esmpid_conn *c, const char *why)
{
	if (c->dead)
		return;
	if (c->kind == CONN_CLIENT && c->state != SESS_NEW) {
		const char *extra[] = { NULL, NULL };
		char reason[96];

		snprintf(reason, sizeof(reason), "ESMPI_REASON=%s", why);
		extra[0] = reason;
		esmpid_audit(ESMPI_AUDIT_INFO, "session_close", c, extra,
		    "session %llu closed (%s)",
		    (unsigned long long)c->session_id, why);
	}
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->dead = 1;
	if (c->kind == CONN_CLIENT)
		d->nclients--;
	else
		d->nadmins--;
	d->rx_total -= c->rx_charged;
	c->rx_charged = 0;
	esmpid_conn_release(c);
}

void
esmpid_conn_release(struct esmpid_conn *c)
{
	EVP_PKEY_free(c->eph);
	c->eph = NULL;
	EVP_PKEY_free(c->link_eph);
	c->link_eph = NULL;
	esmpi_frame_rx_free(&c->rx);
	esmpi_freezero(c->tx, c->tx_cap);
	c->tx = NULL;
	c->tx_len = c->tx_off = c->tx_cap = 0;
}

/* Free the connections closed during the last batch. */
void
esmpid_conn_reap(struct esmpid *d)
{
	struct esmpid_conn *c, *next;

	for (c = d->conns; c != NULL; c = next) {
		next = c->next;
		if (!c->dead)
			continue;
		if (c->prev)
			c->prev->next = c->next;
		else
			d->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		esmpi_freezero(c, sizeof(*c));
	}
}

struct esmpid_conn *
esmpid_find_session(struct esmpid *d, const struct esmpid_conn *self,
    const uint8_t *job_id, int64_t rank)
{
	struct esmpid_conn *x;

	for (x = d->conns; x != NULL; x = x->next)
		if (x != self && !x->dead && x->kind == CONN_CLIENT &&
		    x->state != SESS_NEW && memcmp(x->job_id, job_id,
		    ESMPI_JOB_ID_LEN) == 0 && (rank < 0 || x->rank == rank))
			return x;
	return NULL;
}

/* Read while the connection's replies are being read by its client and
 * no whole request waits for them (backpressure). */
static void
conn_set_events(struct esmpid *d, struct esmpid_conn *c)
{
	struct epoll_event ev = { .data.ptr = c };
	const uint8_t *body;
	size_t len;
	int held = esmpid_conn_pending(c) >= ESMPID_TX_HIGH &&
	    esmpi_frame_rx_next(&c->rx, &body, &len) == 1;

	ev.events = (held ? 0 : EPOLLIN) | (esmpid_conn_pending(c) ? EPOLLOUT : 0);
	epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Try to send buffered output; close when drained and closing. */
int
esmpid_conn_flush(struct esmpid *d, struct esmpid_conn *c)
{
	ssize_t n;

	if (c->dead)
		return -1;
	while (c->tx_off < c->tx_len) {
		n = send(c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off,
		    MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			esmpid_conn_close(d, c, "write error");
			return -1;
		}
		c->tx_off += (size_t)n;
	}
	if (c->tx_off == c->tx_len) {
		/* Replies may carry a job key: wiped once sent. */
		esmpi_freezero(c->tx, c->tx_cap);
		c->tx = NULL;
		c->tx_len = c->tx_off = c->tx_cap = 0;
		if (c->closing) {
			esmpid_conn_close(d, c, c->close_why ? c->close_why :
			    "closed by daemon");
			return -1;
		}
	}
	conn_set_events(d, c);
	return 0;
}

int
esmpid_reply(struct esmpid_conn *c, Esmpi__Reply *rep)
{
	uint8_t *buf = NULL, *n;
	size_t len = 0, cap;
	int r;

	if (c->dead)
		return ESMPI_ERR_EOF;
	rep->version = ESMPI_PROTO_VERSION;
	if ((r = esmpi_frame_pack(&rep->base, &buf, &len)) != 0)
		return r;
	if (esmpid_conn_pending(c) + len > ESMPID_TX_MAX) {
		esmpi_freezero(buf, len);
		return ESMPI_ERR_TOO_LARGE;
	}
	if (c->tx_len + len > c->tx_cap) {
		/* Grow by doubling (appends cost their own size, not the
		 * queue's); the old buffer is wiped, never realloc'd. */
		for (cap = c->tx_cap ? c->tx_cap : 4096;
		    cap < esmpid_conn_pending(c) + len; cap *= 2)
			;
		if ((n = malloc(cap)) == NULL) {
			esmpi_freezero(buf, len);
			return ESMPI_ERR_NOMEM;
		}
		/* Nothing queued means c->tx is NULL: memcpy(n, NULL, 0)
		 * is UB. */
		if (esmpid_conn_pending(c) != 0)
			memcpy(n, c->tx + c->tx_off, esmpid_conn_pending(c));
		esmpi_freezero(c->tx, c->tx_cap);
		c->tx_len = esmpid_conn_pending(c);
		c->tx_off = 0;
		c->tx = n;
		c->tx_cap = cap;
	}
	memcpy(c->tx + c->tx_len, buf, len);
	c->tx_len += len;
	esmpi_freezero(buf, len);
	return 0;
}

static int
reply_verror(struct esmpid_conn *c, int code, const char *fmt, va_list ap)
{
	Esmpi__Reply rep = ESMPI__REPLY__INIT;
	Esmpi__Error e = ESMPI__ERROR__INIT;
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	e.code = code;
	e.message = msg;
	rep.body_case = ESMPI__REPLY__BODY_ERROR;
	rep.error = &e;
	return esmpid_reply(c, &rep);
}

int
esmpid_reply_error(struct esmpid_conn *c, int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = reply_verror(c, code, fmt, ap);
	va_end(ap);
	return r;
}
