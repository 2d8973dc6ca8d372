/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The connection to esmpid: Hello (and its resumption after the daemon
 * restarts), one request/reply at a time under esmpi.dlock, rekey events
 * the daemon pushes, and audit reports, queued while the daemon is away.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "session/session.h"
#include "esmpi_err.h"
#include "esmpi_frame.h"
#include "esmpi_mem.h"

#define DAEMON_TIMEOUT_MS 60000
#define RESUME_TIMEOUT_MS 2000	/* a reconnect must not stall the rank */
#define BACKOFF_MAX	16	/* seconds between reconnect attempts */
#define AUDIT_QUEUE	64	/* events kept while esmpid is away */

/* The connection broke: drop it and try again later, not at once. */
static void
daemon_lost(void)
{
	if (esmpi.dfd >= 0)
		close(esmpi.dfd);
	esmpi.dfd = -1;
	esmpi.backoff = esmpi.backoff ? esmpi.backoff : 1;
	esmpi.reconnect_at = esmpi_now_coarse() + esmpi.backoff;
}

/* One request/reply with the daemon; *rep on success. */
static int
daemon_call(Esmpi__Request *req, Esmpi__Reply **rep, char *err, size_t len)
{
	int r;

	if (esmpi.dfd < 0) {
		snprintf(err, len, "no daemon connection");
		return ESMPI_ERR_UNREACHABLE;
	}
	r = esmpi_frame_call(esmpi.dfd, req, DAEMON_TIMEOUT_MS, rep);
	/* Rekey events are pushed at any time: note them, read on. */
	while (r == 0 && (*rep)->body_case == ESMPI__REPLY__BODY_REKEY) {
		uint8_t *body = NULL;
		size_t blen = 0;

		atomic_fetch_add(&esmpi.rekey_gen, 1);
		esmpi__reply__free_unpacked(*rep, NULL);
		*rep = NULL;
		if ((r = esmpi_frame_recv(esmpi.dfd, DAEMON_TIMEOUT_MS, &body,
		    &blen)) == 0) {
			r = esmpi_frame_decode_reply(body, blen, rep);
			esmpi_freezero(body, blen);
		}
	}
	if (r != 0) {
		snprintf(err, len, "esmpid did not answer: %s",
		    r == ESMPI_ERR_SYSTEM ? strerror(errno) : esmpi_strerror(r));
		daemon_lost();		/* the stream is out of step now */
		return r;
	}
	if ((*rep)->body_case == ESMPI__REPLY__BODY_ERROR) {
		snprintf(err, len, "esmpid: %s", (*rep)->error->message);
		r = (*rep)->error->code ? (*rep)->error->code :
		    ESMPI_ERR_PROTOCOL;
		esmpi__reply__free_unpacked(*rep, NULL);
		*rep = NULL;
		return r;
	}
	return 0;
}

/*
 * Events the daemon could not take (it was down) wait here and go out
 * after the rank reconnects, in order; past AUDIT_QUEUE they are counted
 * and the count is audited itself. All under esmpi.dlock.
 */
struct queued_audit {
	char event[24];
	char comm[MPI_MAX_OBJECT_NAME];
	char detail[400];
	char suite[32];
	int peer, tag;
	uint32_t epoch;
};
static struct queued_audit audit_q[AUDIT_QUEUE];
static unsigned audit_q_head, audit_q_len;
static uint64_t audit_dropped;

static void
queue_audit(const Esmpi__AuditReport *a)
{
	struct queued_audit *q;

	if (audit_q_len == AUDIT_QUEUE) {
		audit_dropped++;
		return;
	}
	q = &audit_q[(audit_q_head + audit_q_len++) % AUDIT_QUEUE];
	snprintf(q->event, sizeof(q->event), "%s", a->event);
	snprintf(q->comm, sizeof(q->comm), "%s", a->comm);
	snprintf(q->detail, sizeof(q->detail), "%s", a->detail);
	snprintf(q->suite, sizeof(q->suite), "%s", a->suite ? a->suite : "");
	q->peer = a->peer;
	q->tag = a->tag;
	q->epoch = a->epoch;
}

/* One audit report; a broken connection is dropped (esmpi.dfd < 0). */
static int
send_audit(Esmpi__AuditReport *a, char *err, size_t len)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__Reply *rep = NULL;
	int r;

	req.body_case = ESMPI__REQUEST__BODY_AUDIT;
	req.audit = a;
	if ((r = daemon_call(&req, &rep, err, len)) == 0)
		esmpi__reply__free_unpacked(rep, NULL);
	return r;
}

/* Send what waited while esmpid was away; stops if it goes again. */
static void
flush_audits(void)
{
	Esmpi__AuditReport a = ESMPI__AUDIT_REPORT__INIT;
	struct queued_audit *q;
	char detail[128], err[256];

	if (esmpi.dfd < 0)
		return;
	if (audit_dropped) {
		snprintf(detail, sizeof(detail), "%llu audit event(s) lost "
		    "while esmpid was unreachable (queue of %d full)",
		    (unsigned long long)audit_dropped, AUDIT_QUEUE);
		a.event = "audit_dropped";
		a.comm = "";
		a.peer = -1;
		a.tag = -1;
		a.detail = detail;
		/* Refused by esmpid (not lost on the way): do not insist. */
		if (send_audit(&a, err, sizeof(err)) != 0 && esmpi.dfd < 0)
			return;
		audit_dropped = 0;
	}
	while (audit_q_len > 0 && esmpi.dfd >= 0) {
		q = &audit_q[audit_q_head];
		esmpi__audit_report__init(&a);
		a.event = q->event;
		a.comm = q->comm;
		a.peer = q->peer;
		a.tag = q->tag;
		a.detail = q->detail;
		a.epoch = q->epoch;
		a.suite = q->suite;
		if (send_audit(&a, err, sizeof(err)) != 0 && esmpi.dfd < 0)
			return;		/* still queued: next time */
		audit_q_head = (audit_q_head + 1) % AUDIT_QUEUE;
		audit_q_len--;
	}
}

/*
 * The daemon must be root's (the packages') or this user's own (the
 * embedded default): ESMPI_SOCKET comes from the environment, which the
 * launcher carries over the network, and a daemon run by another local
 * user would hand this job's keys to that user.
 */
static int
daemon_trusted(char *err, size_t len)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);

	if (getsockopt(esmpi.dfd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0) {
		snprintf(err, len, "cannot tell who runs esmpid at %s: %s",
		    esmpi.dpath, strerror(errno));
		return ESMPI_ERR_UNREACHABLE;
	}
	if (cred.uid != 0 && cred.uid != getuid()) {
		snprintf(err, len, "esmpid at %s (ESMPI_SOCKET) runs as uid %u, "
		    "neither root nor this user: refusing it (it could read "
		    "this job's keys)", esmpi.dpath, (unsigned)cred.uid);
		return ESMPI_ERR_DENIED;
	}
	return 0;
}

/* Connect and send Hello; resume says the rank has its keys already. */
static int
daemon_hello(int resume, int timeout_ms, Esmpi__Reply **rep, char *err,
    size_t len)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__Hello h = ESMPI__HELLO__INIT;
	const char *project = getenv("ESMPI_PROJECT");
	char host[64];
	int r;

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "?");
	host[sizeof(host) - 1] = '\0';
	/* Named: which node's esmpid is down is what the user must fix. */
	if ((esmpi.dfd = esmpi_unix_connect(esmpi.dpath)) < 0) {
		snprintf(err, len, "cannot reach esmpid on node %s at %s "
		    "(ESMPI_SOCKET): %s", host, esmpi.dpath, strerror(errno));
		esmpi.dfd = -1;
		return ESMPI_ERR_UNREACHABLE;
	}
	if ((r = daemon_trusted(err, len)) != 0) {
		close(esmpi.dfd);
		esmpi.dfd = -1;
		return r;
	}
	h.version = ESMPI_PROTO_VERSION;
	h.project = project != NULL ? (char *)project : "";
	h.job_id.data = esmpi.job_id;
	h.job_id.len = sizeof(esmpi.job_id);
	h.rank = (uint32_t)esmpi.world_rank;
	h.size = (uint32_t)esmpi.world_size;
	h.host = host;
	h.resume = resume;
	h.epoch = esmpi.max_epoch;
	h.engine = (char *)esmpi_aead_engine_name();
	req.body_case = ESMPI__REQUEST__BODY_HELLO;
	req.hello = &h;
	r = esmpi_frame_call(esmpi.dfd, &req, timeout_ms, rep);
	if (r == 0 && (*rep)->body_case != ESMPI__REPLY__BODY_HELLO) {
		if ((*rep)->body_case == ESMPI__REPLY__BODY_ERROR)
			snprintf(err, len, "esmpid: %s",
			    (*rep)->error->message);
		else
			snprintf(err, len, "esmpid sent an unexpected reply "
			    "to Hello");
		esmpi__reply__free_unpacked(*rep, NULL);
		*rep = NULL;
		r = ESMPI_ERR_PROTOCOL;
	} else if (r != 0)
		snprintf(err, len, "esmpid did not answer: %s",
		    r == ESMPI_ERR_SYSTEM ? strerror(errno) : esmpi_strerror(r));
	return r;
}

/*
 * Caller holds dlock. With no daemon connection and the backoff expired
 * (or force), reconnect and re-register this rank's session, then send
 * the queued events. Only a clock read when it is not time yet.
 */
static void
daemon_resume(int force)
{
	Esmpi__Reply *rep = NULL;
	uint64_t now;
	char err[256];

	if (esmpi.dfd >= 0 || !esmpi.initialized || esmpi.failed ||
	    esmpi.dpath[0] == '\0')
		return;
	now = esmpi_now_coarse();
	if (!force && now < esmpi.reconnect_at)
		return;
	if (daemon_hello(1, RESUME_TIMEOUT_MS, &rep, err, sizeof(err)) != 0) {
		if (esmpi.dfd >= 0)
			close(esmpi.dfd);
		esmpi.dfd = -1;
		esmpi.backoff = esmpi.backoff ? esmpi.backoff * 2 : 1;
		if (esmpi.backoff > BACKOFF_MAX)
			esmpi.backoff = BACKOFF_MAX;
		esmpi.reconnect_at = now + esmpi.backoff;
		return;
	}
	/* The policy in force stays: a running job keeps its settings. */
	esmpi__reply__free_unpacked(rep, NULL);
	esmpi.backoff = 0;
	fprintf(stderr, "esmpi: rank %d: reconnected to esmpid, session "
	    "re-registered (%u event(s) queued)\n", esmpi.world_rank,
	    audit_q_len);
	flush_audits();
}

void
esmpi_poll_daemon(void)
{
	struct pollfd pfd;
	Esmpi__Reply *rep;
	uint8_t *body;
	size_t len;

	/* Never wait: a rank busy in a daemon call will see events itself. */
	if (pthread_mutex_trylock(&esmpi.dlock) != 0)
		return;
	daemon_resume(0);
	while (esmpi.dfd >= 0) {
		pfd.fd = esmpi.dfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) != 1)
			break;
		body = NULL;
		rep = NULL;
		if (esmpi_frame_recv(esmpi.dfd, 1000, &body, &len) != 0) {
			/* The daemon went away: keys in hand keep working,
			 * and we come back when it does. */
			daemon_lost();
			break;
		}
		if (esmpi_frame_decode_reply(body, len, &rep) == 0) {
			if (rep->body_case == ESMPI__REPLY__BODY_REKEY)
				atomic_fetch_add(&esmpi.rekey_gen, 1);
			esmpi__reply__free_unpacked(rep, NULL);
		}
		esmpi_freezero(body, len);
	}
	pthread_mutex_unlock(&esmpi.dlock);
}

/* Report a to esmpid, or keep it until esmpid is back. */
static void
audit_or_queue(Esmpi__AuditReport *a)
{
	char err[256] = "";

	pthread_mutex_lock(&esmpi.dlock);
	daemon_resume(0);
	if (esmpi.dfd >= 0 && audit_q_len == 0 && audit_dropped == 0 &&
	    (send_audit(a, err, sizeof(err)) == 0 || esmpi.dfd >= 0)) {
		if (esmpi.dfd >= 0 && err[0] != '\0')
			fprintf(stderr, "esmpi: rank %d: could not audit %s: "
			    "%s\n", esmpi.world_rank, a->event, err);
		pthread_mutex_unlock(&esmpi.dlock);
		return;
	}
	/* esmpid is away, or older events wait before this one. */
	queue_audit(a);
	flush_audits();
	pthread_mutex_unlock(&esmpi.dlock);
}

void
esmpi_audit_rekey(const char *comm, int tag, int suite, uint32_t epoch,
    const char *why)
{
	Esmpi__AuditReport a = ESMPI__AUDIT_REPORT__INIT;
	const char *sname = esmpi_suite_name(suite);
	char detail[256];

	snprintf(detail, sizeof(detail), "communicator '%s' suite %s: sender "
	    "key moved to epoch %u (%s)", comm, sname, epoch, why);
	a.event = "rekey";
	a.comm = (char *)comm;
	a.peer = -1;
	a.tag = tag;
	a.detail = detail;
	a.epoch = epoch;
	a.suite = (char *)sname;
	pthread_mutex_lock(&esmpi.dlock);
	if (epoch > esmpi.max_epoch)
		esmpi.max_epoch = epoch;
	pthread_mutex_unlock(&esmpi.dlock);
	audit_or_queue(&a);
}

void
esmpi_audit(const char *event, const char *comm, int peer, int tag,
    const char *fmt, ...)
{
	Esmpi__AuditReport a = ESMPI__AUDIT_REPORT__INIT;
	char detail[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	a.event = (char *)event;
	a.comm = comm != NULL ? (char *)comm : "";
	a.peer = peer;
	a.tag = tag;
	a.detail = detail;
	audit_or_queue(&a);
}


/* Where esmpid listens: ESMPI_SOCKET or the default. */
static int
daemon_path(char *err, size_t len)
{
	const char *path = getenv("ESMPI_SOCKET");

	if (path == NULL || *path == '\0')
		path = ESMPI_DEFAULT_SOCKET;
	if (strlen(path) >= sizeof(esmpi.dpath)) {
		snprintf(err, len, "ESMPI_SOCKET path too long");
		return ESMPI_ERR_INVALID;
	}
	snprintf(esmpi.dpath, sizeof(esmpi.dpath), "%s", path);
	return 0;
}


int
esmpi_daemon_request(Esmpi__Request *req, Esmpi__Reply **rep, char *err,
    size_t len)
{
	int r;

	pthread_mutex_lock(&esmpi.dlock);
	r = daemon_call(req, rep, err, len);
	pthread_mutex_unlock(&esmpi.dlock);
	return r;
}

/* Where esmpid listens (ESMPI_SOCKET or the default), connect and Hello:
 * the reply carries the policy (session/rules.c). */
int
esmpi_daemon_connect(Esmpi__Reply **hello, char *err, size_t len)
{
	int r;

	if ((r = daemon_path(err, len)) != 0)
		return r;
	return daemon_hello(0, DAEMON_TIMEOUT_MS, hello, err, len);
}

/*
 * Before any session exists (the join failed, mpi/join.c): connect, say
 * Hello, send one audit report and wait for the daemon's answer, so the
 * event is recorded, not queued, when the process goes.
 */
int
esmpi_daemon_audit_now(Esmpi__AuditReport *a, char *err, size_t len)
{
	Esmpi__Reply *rep = NULL;
	int r;

	pthread_mutex_lock(&esmpi.dlock);
	if ((r = daemon_path(err, len)) == 0 &&
	    (r = daemon_hello(0, DAEMON_TIMEOUT_MS, &rep, err, len)) == 0) {
		esmpi__reply__free_unpacked(rep, NULL);
		r = send_audit(a, err, len);
	}
	if (r != 0 && esmpi.dfd >= 0) {
		close(esmpi.dfd);
		esmpi.dfd = -1;
	}
	pthread_mutex_unlock(&esmpi.dlock);
	return r;
}

/* MPI_Finalize: queued events get a last chance, then Goodbye. */
void
esmpi_daemon_close(void)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__Goodbye g = ESMPI__GOODBYE__INIT;
	Esmpi__Reply *rep = NULL;
	char err[256];

	req.body_case = ESMPI__REQUEST__BODY_GOODBYE;
	req.goodbye = &g;
	pthread_mutex_lock(&esmpi.dlock);
	if (esmpi.dfd < 0 || audit_q_len > 0 || audit_dropped > 0) {
		daemon_resume(1);
		flush_audits();
	}
	if (audit_q_len > 0 || audit_dropped > 0)
		fprintf(stderr, "esmpi: rank %d: esmpid unreachable: "
		    "%llu audit event(s) not recorded\n",
		    esmpi.world_rank, (unsigned long long)
		    (audit_q_len + audit_dropped));
	if (esmpi.dfd >= 0) {
		if (daemon_call(&req, &rep, err, sizeof(err)) == 0)
			esmpi__reply__free_unpacked(rep, NULL);
		close(esmpi.dfd);
		esmpi.dfd = -1;
	}
	pthread_mutex_unlock(&esmpi.dlock);
}
