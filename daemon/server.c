/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event loop: two listening Unix sockets (clients, admins), signals via
 * signalfd and a housekeeping timerfd, all on one epoll set. Accepting
 * (slots per user, descriptors), reading requests (bytes buffered per
 * user) and serving them through the dispatcher while their replies are
 * read (backpressure); any framing error closes that connection only.
 * Connections themselves are conn.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "esmpi_err.h"
#include "esmpi_log.h"
#include "esmpi_mem.h"
#include "esmpid.h"

/* epoll user data for the non-connection fds */
static int tag_client, tag_admin, tag_signal, tag_timer;

static int
make_parent_dir(const char *path)
{
	char dir[PATH_MAX], *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -1;
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) == 0) {
		/* Our umask is 077; clients must be able to reach the socket. */
		return chmod(dir, 0755);
	}
	return errno == EEXIST ? 0 : -1;
}

static int
listen_unix(const char *path, mode_t mode, gid_t group)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		esmpi_error("%s: socket path too long", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	if (make_parent_dir(path) != 0) {
		esmpi_error("%s: cannot create parent directory: %s", path,
		    strerror(errno));
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0)
		return -1;
	(void)unlink(path);
	old = umask(0177);	/* no window in which others may connect */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		umask(old);
		esmpi_error("%s: bind: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if ((group != (gid_t)-1 && chown(path, (uid_t)-1, group) != 0) ||
	    chmod(path, mode) != 0 || listen(fd, 128) != 0) {
		esmpi_error("%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
ep_add(struct esmpid *d, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Take sockets from systemd: named "admin" is the admin socket; any
 * other (or an unnamed single one) is the client socket. */
static void
take_activated(struct esmpid *d)
{
	char **names = NULL;
	int n, i;

	n = sd_listen_fds_with_names(1, &names);
	for (i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *nm = names != NULL ? names[i] : NULL;

		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
			esmpi_warn("activated fd %d is not a listening Unix "
			    "stream socket; ignored", fd);
			continue;
		}
		(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		if (nm != NULL && strcmp(nm, "admin") == 0)
			d->admin_lfd = fd;
		else if (d->client_lfd < 0)
			d->client_lfd = fd;
		d->activated = 1;
	}
	if (names != NULL) {
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
}

int
esmpid_server_open(struct esmpid *d)
{
	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	sigset_t mask;

	d->client_lfd = d->admin_lfd = -1;
	take_activated(d);
	if (d->client_lfd < 0 &&
	    (d->client_lfd = listen_unix(d->opt.socket_path, 0666,
	    (gid_t)-1)) < 0)
		return ESMPI_ERR_SYSTEM;
	if (d->admin_lfd < 0 &&
	    (d->admin_lfd = listen_unix(d->opt.admin_path,
	    d->admin_gid != (gid_t)-1 ? 0660 : 0600, d->admin_gid)) < 0)
		return ESMPI_ERR_SYSTEM;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (d->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		return ESMPI_ERR_SYSTEM;
	signal(SIGPIPE, SIG_IGN);
	if ((d->timerfd = timerfd_create(CLOCK_MONOTONIC,
	    TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
	    timerfd_settime(d->timerfd, 0, &its, NULL) != 0)
		return ESMPI_ERR_SYSTEM;
	d->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if ((d->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    ep_add(d, d->client_lfd, EPOLLIN, &tag_client) != 0 ||
	    ep_add(d, d->admin_lfd, EPOLLIN, &tag_admin) != 0 ||
	    ep_add(d, d->sigfd, EPOLLIN, &tag_signal) != 0 ||
	    ep_add(d, d->timerfd, EPOLLIN, &tag_timer) != 0)
		return ESMPI_ERR_SYSTEM;
	d->running = 1;
	return 0;
}

/* Whether uid may administer: root, or a member of the admin group. */
static int
admin_allowed(const struct esmpid *d, uid_t uid, gid_t gid)
{
	struct passwd pw, *pwp = NULL;
	char buf[4096];
	gid_t groups[256];
	int ng = 256, i;

	if (uid == 0)
		return 1;
	if (d->admin_gid == (gid_t)-1)
		return 0;
	if (gid == d->admin_gid)
		return 1;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) != 0 || pwp == NULL)
		return 0;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &ng) < 0)
		return 0;
	for (i = 0; i < ng; i++)
		if (groups[i] == d->admin_gid)
			return 1;
	return 0;
}

/* Live client connections of uid. */
static int
user_conns(const struct esmpid *d, uid_t uid)
{
	const struct esmpid_conn *x;
	int n = 0;

	for (x = d->conns; x != NULL; x = x->next)
		if (!x->dead && x->kind == CONN_CLIENT && x->uid == uid)
			n++;
	return n;
}

static int
fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur > INT_MAX)
		return INT_MAX;
	return (int)rl.rlim_cur;
}

/*
 * Out of file descriptors, a pending connection would wake epoll forever:
 * give up the spare descriptor to accept it, refuse it, take the spare
 * back.
 */
static void
refuse_no_fds(struct esmpid *d, int lfd)
{
	static uint64_t warned;
	int fd;

	if (d->spare_fd >= 0)
		close(d->spare_fd);
	d->spare_fd = -1;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		esmpid_refuse_fd(fd, ESMPI_ERR_BUSY, "esmpid is out of file "
		    "descriptors (%d connections open); try again later, or "
		    "raise its LimitNOFILE", d->nclients + d->nadmins);
	d->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (esmpid_now() != warned) {
		warned = esmpid_now();
		esmpi_warn("out of file descriptors: refusing connections "
		    "(%d open)", d->nclients + d->nadmins);
	}
}

static void
accept_conn(struct esmpid *d, int lfd, enum esmpid_conn_kind kind)
{
	struct esmpid_conn *c;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	int fd, mine;

	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				refuse_no_fds(d, lfd);
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
			close(fd);
			continue;
		}
		/* Keep descriptors for the work a connection needs (user and
		 * group lookups, policy files): without them an admitted
		 * user would be told it is not admitted. */
		if (fd >= fd_limit() - ESMPID_FD_RESERVE) {
			esmpid_refuse_fd(fd, ESMPI_ERR_BUSY, "esmpid is out of file "
			    "descriptors (%d connections open); try again "
			    "later, or raise its LimitNOFILE",
			    d->nclients + d->nadmins);
			continue;
		}
		if (kind == CONN_CLIENT && d->nclients >= d->opt.max_clients) {
			esmpi_warn("client connection limit (%d) reached; "
			    "refusing pid %d uid %u", d->opt.max_clients,
			    (int)cred.pid, (unsigned)cred.uid);
			esmpid_refuse_fd(fd, ESMPI_ERR_BUSY, "esmpid is full: %d client "
			    "connections (its --max-clients); try again later",
			    d->nclients);
			continue;
		}
		if (kind == CONN_CLIENT && (mine = user_conns(d, cred.uid)) >=
		    d->opt.max_clients_per_user) {
			esmpi_warn("uid %u holds %d client connections (limit "
			    "per user); refusing pid %d", (unsigned)cred.uid,
			    mine, (int)cred.pid);
			esmpid_refuse_fd(fd, ESMPI_ERR_BUSY, "esmpid: uid %u already "
			    "has %d connections, the most one user may hold "
			    "(--max-clients-per-user)", (unsigned)cred.uid, mine);
			continue;
		}
		if (kind == CONN_ADMIN && d->nadmins >= ESMPID_MAX_ADMINS) {
			esmpid_refuse_fd(fd, ESMPI_ERR_BUSY, "esmpid is full: %d admin "
			    "connections", d->nadmins);
			continue;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			esmpid_refuse_fd(fd, ESMPI_ERR_NOMEM, "esmpid is out of memory");
			continue;
		}
		c->fd = fd;
		c->kind = kind;
		c->uid = cred.uid;
		c->gid = cred.gid;
		c->pid = cred.pid;
		c->opened = esmpid_now();
		esmpi_frame_rx_init(&c->rx);
		c->next = d->conns;
		if (d->conns)
			d->conns->prev = c;
		d->conns = c;
		if (kind == CONN_CLIENT)
			d->nclients++;
		else
			d->nadmins++;
		if (ep_add(d, fd, EPOLLIN, c) != 0) {
			esmpid_conn_close(d, c, "epoll");
			continue;
		}
		/* Access is decided on every connection, before any frame. */
		if ((kind == CONN_CLIENT &&
		    !esmpi_pol_allows(d->policy, cred.uid, cred.gid)) ||
		    (kind == CONN_ADMIN &&
		    !admin_allowed(d, cred.uid, cred.gid))) {
			const char *extra[] = { kind == CONN_ADMIN ?
			    "ESMPI_SOCKET=admin" : "ESMPI_SOCKET=client", NULL };

			esmpid_audit(ESMPI_AUDIT_WARNING, "access_denied", c,
			    extra, "access denied for uid %u pid %d on the %s "
			    "socket", (unsigned)cred.uid, (int)cred.pid,
			    kind == CONN_ADMIN ? "admin" : "client");
			(void)esmpid_reply_error(c, ESMPI_ERR_DENIED,
			    "access denied: uid %u is not allowed by %s",
			    (unsigned)cred.uid, kind == CONN_ADMIN ?
			    "the admin socket (root or the admin group only)" :
			    "the policy's access list");
			c->closing = 1;
			c->close_why = "access denied";
			/* Send the refusal now; this closes once it is out. */
			(void)esmpid_conn_flush(d, c);
		}
	}
}

static void
frame_error(struct esmpid *d, struct esmpid_conn *c, int r)
{
	char reason[128];
	const char *extra[] = { reason, NULL };

	d->frames_rejected++;
	snprintf(reason, sizeof(reason), "ESMPI_REASON=%s", esmpi_strerror(r));
	esmpid_audit(ESMPI_AUDIT_WARNING, "protocol_error", c, extra,
	    "closing connection of pid %d uid %u: %s", (int)c->pid,
	    (unsigned)c->uid, esmpi_strerror(r));
	(void)esmpid_reply_error(c, r, "%s; closing connection",
	    esmpi_strerror(r));
	c->closing = 1;
	c->close_why = "protocol error";
}

/* Request bytes uid has buffered over all its connections. */
static size_t
user_rx(const struct esmpid *d, uid_t uid)
{
	const struct esmpid_conn *x;
	size_t n = 0;

	for (x = d->conns; x != NULL; x = x->next)
		if (!x->dead && x->uid == uid)
			n += x->rx_charged;
	return n;
}

/* Account c's receive buffer; refuse when its user or the daemon holds
 * too much. */
static int
rx_charge(struct esmpid *d, struct esmpid_conn *c)
{
	size_t mine;

	d->rx_total = d->rx_total - c->rx_charged + c->rx.cap;
	c->rx_charged = c->rx.cap;
	if (c->rx.cap <= ESMPI_FRAME_RX_STEP)
		return 0;
	mine = user_rx(d, c->uid);
	if (mine <= ESMPID_RX_PER_USER && d->rx_total <= ESMPID_RX_TOTAL)
		return 0;
	esmpid_audit(ESMPI_AUDIT_WARNING, "protocol_error", c, NULL,
	    "closing connection of pid %d uid %u: %zu request bytes buffered "
	    "for this user, %zu in all (limits %u and %u)", (int)c->pid,
	    (unsigned)c->uid, mine, d->rx_total, ESMPID_RX_PER_USER,
	    ESMPID_RX_TOTAL);
	(void)esmpid_reply_error(c, ESMPI_ERR_BUSY, "esmpid: too many request "
	    "bytes in flight for uid %u (%zu buffered; at most %u per user)",
	    (unsigned)c->uid, mine, ESMPID_RX_PER_USER);
	c->closing = 1;
	c->close_why = "memory limit";
	return -1;
}

/* Serve the whole requests c has sent, while its replies are read. */
static void
conn_serve(struct esmpid *d, struct esmpid_conn *c)
{
	const uint8_t *body;
	size_t len;
	int got, r;

	while (!c->dead && !c->closing && esmpid_conn_pending(c) < ESMPID_TX_HIGH) {
		if ((got = esmpi_frame_rx_next(&c->rx, &body, &len)) < 0) {
			frame_error(d, c, got);
			break;
		}
		if (got == 0)
			break;
		r = esmpid_dispatch(d, c, body, len);
		/* A large request's memory goes back to the system, not
		 * to the allocator's free lists for good. */
		if (len > ESMPI_FRAME_RX_STEP)
			(void)malloc_trim(0);
		if (r != 0) {
			frame_error(d, c, r);
			break;
		}
		esmpi_frame_rx_consume(&c->rx);
	}
}

static void
conn_readable(struct esmpid *d, struct esmpid_conn *c)
{
	const uint8_t *body;
	size_t len;
	int r = 0;

	if (c->closing) {
		/* Drain and ignore whatever a refused client still sends. */
		char junk[4096];

		while (read(c->fd, junk, sizeof(junk)) > 0)
			;
		if (c->tx_len == 0)
			esmpid_conn_close(d, c, c->close_why ? c->close_why :
			    "closed by daemon");
		else
			(void)esmpid_conn_flush(d, c);
		return;
	}
	/* One whole request at a time in the buffer: read only when none
	 * waits (backpressure keeps one unserved). */
	for (;;) {
		if (esmpi_frame_rx_next(&c->rx, &body, &len) != 0)
			break;
		r = esmpi_frame_rx_read(&c->rx, c->fd);
		if (r == ESMPI_ERR_TOO_LARGE) {
			frame_error(d, c, r);
			break;
		}
		if (rx_charge(d, c) != 0)
			break;
		if (esmpi_frame_rx_next(&c->rx, &body, &len) == 0)
			break;	/* incomplete: wait for more */
		conn_serve(d, c);
		if (c->dead || c->closing || r != 0)
			break;
	}
	conn_serve(d, c);
	if (c->dead)
		return;
	if ((r == ESMPI_ERR_EOF || r == ESMPI_ERR_SYSTEM) && !c->closing) {
		if (c->rx.len != 0 && r == ESMPI_ERR_EOF) {
			d->frames_rejected++;
			esmpid_audit(ESMPI_AUDIT_WARNING, "protocol_error", c,
			    NULL, "connection of pid %d closed mid-frame "
			    "(truncated frame)", (int)c->pid);
		}
		esmpid_conn_close(d, c, "disconnected");
		return;
	}
	if (r == ESMPI_ERR_EOF || r == ESMPI_ERR_SYSTEM) {
		esmpid_conn_close(d, c, c->close_why ? c->close_why : "disconnected");
		return;
	}
	(void)esmpid_conn_flush(d, c);
}

/* The client reads again: send, then serve what backpressure held. */
static void
conn_writable(struct esmpid *d, struct esmpid_conn *c)
{
	if (esmpid_conn_flush(d, c) != 0)
		return;
	if (esmpid_conn_pending(c) < ESMPID_TX_HIGH) {
		conn_serve(d, c);
		(void)esmpid_conn_flush(d, c);
	}
}

static void
handle_signal(struct esmpid *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			esmpid_policy_reload(d);
		else
			d->running = 0;
	}
}

static void
handle_timer(struct esmpid *d)
{
	struct esmpid_conn *c;
	uint64_t ticks, now = esmpid_now();

	while (read(d->timerfd, &ticks, sizeof(ticks)) == sizeof(ticks))
		;
	for (c = d->conns; c != NULL; c = c->next) {
		if (c->dead)
			continue;
		if (c->closing &&
		    now - c->opened > (uint64_t)d->opt.hello_timeout) {
			/* A refused peer that never reads its refusal. */
			esmpid_conn_close(d, c, "refused, reply not read");
			continue;
		}
		if (c->kind != CONN_CLIENT || c->closing)
			continue;
		if (c->state == SESS_NEW &&
		    now - c->opened > (uint64_t)d->opt.hello_timeout) {
			esmpid_audit(ESMPI_AUDIT_NOTICE, "protocol_error", c,
			    NULL, "pid %d sent no Hello within %d s; closing",
			    (int)c->pid, d->opt.hello_timeout);
			esmpid_conn_close(d, c, "handshake timeout");
		} else if ((c->state == SESS_OPEN || c->state == SESS_SHARED) &&
		    now - c->hello_at > (uint64_t)d->opt.keyx_timeout) {
			/* A slot held without finishing key establishment. */
			esmpid_audit(ESMPI_AUDIT_NOTICE, "protocol_error", c,
			    NULL, "pid %d did not finish job key establishment "
			    "within %d s; closing", (int)c->pid,
			    d->opt.keyx_timeout);
			(void)esmpid_reply_error(c, ESMPI_ERR_PROTOCOL, "job key "
			    "establishment not finished within %d s; closing",
			    d->opt.keyx_timeout);
			(void)esmpid_conn_flush(d, c);
			esmpid_conn_close(d, c, "key establishment timeout");
		}
	}
}

int
esmpid_server_run(struct esmpid *d)
{
	struct epoll_event evs[64];
	int n, i;

	while (d->running) {
		n = epoll_wait(d->epfd, evs, 64, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			esmpi_error("epoll_wait: %s", strerror(errno));
			return ESMPI_ERR_SYSTEM;
		}
		for (i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &tag_client)
				accept_conn(d, d->client_lfd, CONN_CLIENT);
			else if (p == &tag_admin)
				accept_conn(d, d->admin_lfd, CONN_ADMIN);
			else if (p == &tag_signal)
				handle_signal(d);
			else if (p == &tag_timer)
				handle_timer(d);
			else {
				struct esmpid_conn *c = p;

				/* Closed earlier in this batch (timer, a
				 * rekey push, ...): still in memory, dead. */
				if (c->dead)
					continue;
				if (evs[i].events & EPOLLOUT)
					conn_writable(d, c);
				if (!c->dead && (evs[i].events & (EPOLLIN |
				    EPOLLHUP | EPOLLERR)))
					conn_readable(d, c);
			}
		}
		esmpid_conn_reap(d);
	}
	return 0;
}

void
esmpid_server_close(struct esmpid *d)
{
	struct esmpid_conn *c;

	for (c = d->conns; c != NULL; c = c->next)
		esmpid_conn_close(d, c, "daemon shutdown");
	esmpid_conn_reap(d);
	if (d->spare_fd >= 0)
		close(d->spare_fd);
	if (d->client_lfd >= 0)
		close(d->client_lfd);
	if (d->admin_lfd >= 0)
		close(d->admin_lfd);
	if (!d->activated) {
		(void)unlink(d->opt.socket_path);
		(void)unlink(d->opt.admin_path);
	}
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->sigfd >= 0)
		close(d->sigfd);
	if (d->timerfd >= 0)
		close(d->timerfd);
}
