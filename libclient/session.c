/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MPI_Init/MPI_Finalize and everything that talks to esmpid: the job key
 * establishment (docs/ARCHITECTURE.md "Keys"), audit reports, and the
 * refusal of calls esmpi cannot protect. Failures never exit the process:
 * they go through MPI_COMM_WORLD's error handler (fatal by default).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "esmpi_client.h"
#include "esmpi_err.h"
#include "esmpi_frame.h"
#include "esmpi_mem.h"

#define JOB_KEY_LEN	32
#define WRAPPED_LEN	48
#define DAEMON_TIMEOUT_MS 60000
#define RESUME_TIMEOUT_MS 2000	/* a reconnect must not stall the rank */
#define BACKOFF_MAX	16	/* seconds between reconnect attempts */
#define AUDIT_QUEUE	64	/* events kept while esmpid is away */

struct esmpi_state esmpi = {
	.dfd = -1,
	.dlock = PTHREAD_MUTEX_INITIALIZER,
	.comms_lock = PTHREAD_MUTEX_INITIALIZER,
};

int
esmpi_fail(MPI_Comm comm, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "esmpi: rank %d: %s\n", esmpi.world_rank, msg);
	fflush(stderr);
	/* MPI_ERRORS_ARE_FATAL aborts the job here; otherwise we return. */
	PMPI_Comm_call_errhandler(comm, code);
	return code;
}

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
esmpi_audit_rekey(const struct esmpi_comm *c, int tag, int suite,
    uint32_t epoch, const char *why)
{
	Esmpi__AuditReport a = ESMPI__AUDIT_REPORT__INIT;
	const char *sname = esmpi_suite_name(suite);
	char detail[256];

	snprintf(detail, sizeof(detail), "communicator '%s' suite %s: sender "
	    "key moved to epoch %u (%s)", c->name, sname, epoch, why);
	a.event = "rekey";
	a.comm = (char *)c->name;
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
esmpi_audit(const char *event, const struct esmpi_comm *c, int peer, int tag,
    const char *fmt, ...)
{
	Esmpi__AuditReport a = ESMPI__AUDIT_REPORT__INIT;
	char detail[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	a.event = (char *)event;
	a.comm = c != NULL ? (char *)c->name : "";
	a.peer = peer;
	a.tag = tag;
	a.detail = detail;
	audit_or_queue(&a);
}

static void
settings_from_pb(const Esmpi__SuiteSettings *pb, struct esmpi_pol_settings *s)
{
	memset(s, 0, sizeof(*s));
	if (pb == NULL)
		return;
	s->suite = (int)pb->suite;
	s->sign = (int)pb->sign;
	s->rekey.messages = pb->rekey_messages;
	s->rekey.bytes = pb->rekey_bytes;
	s->rekey.seconds = pb->rekey_seconds;
	s->unprotected = (int)pb->unprotected;
	s->scope = (int)pb->scope;
}

/* Keep the rules the daemon resolved for us. */
static int
take_policy(const Esmpi__HelloReply *h)
{
	size_t i, j;

	settings_from_pb(h->defaults, &esmpi.defaults);
	/* Only AEAD suites: a reply naming none (or nothing) is refused. */
	if (h->defaults == NULL || esmpi.defaults.suite <= ESMPI_SUITE_NONE ||
	    esmpi_suite_by_id(esmpi.defaults.suite) == NULL)
		return ESMPI_ERR_SUITE;
	if ((esmpi.rules = calloc(h->n_rules + 1, sizeof(*esmpi.rules))) ==
	    NULL)
		return ESMPI_ERR_NOMEM;
	for (i = 0; i < h->n_rules; i++) {
		const Esmpi__Rule *pr = h->rules[i];
		struct esmpi_pol_rule *r = &esmpi.rules[i];

		esmpi.nrules++;		/* counted now: freed at Finalize */
		r->name = strdup(pr->name);
		r->comm = *pr->comm ? strdup(pr->comm) : NULL;
		r->ntags = pr->n_tags;
		r->tags = calloc(pr->n_tags + 1, sizeof(*r->tags));
		if (r->name == NULL || r->tags == NULL ||
		    (*pr->comm && r->comm == NULL))
			return ESMPI_ERR_NOMEM;
		for (j = 0; j < pr->n_tags; j++) {
			r->tags[j].lo = pr->tags[j]->lo;
			r->tags[j].hi = pr->tags[j]->hi;
		}
		settings_from_pb(pr->settings, &r->set);
		if (r->set.suite <= ESMPI_SUITE_NONE ||
		    esmpi_suite_by_id(r->set.suite) == NULL)
			return ESMPI_ERR_SUITE;
	}
	return 0;
}

/* Hash what decides records: settings, then each rule's match. */
static void
digest_settings(EVP_MD_CTX *md, const struct esmpi_pol_settings *s)
{
	const int32_t v[3] = { s->suite, s->sign, s->scope };

	EVP_DigestUpdate(md, v, sizeof(v));
}

static int
policy_digest(uint64_t d[4])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char out[32];
	size_t i, j;
	int ok;

	ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
	if (ok) {
		digest_settings(md, &esmpi.defaults);
		for (i = 0; i < esmpi.nrules; i++) {
			const struct esmpi_pol_rule *r = &esmpi.rules[i];
			const char *g = r->comm != NULL ? r->comm : "";
			const uint64_t n[2] = { strlen(g), r->ntags };

			EVP_DigestUpdate(md, n, sizeof(n));
			EVP_DigestUpdate(md, g, n[0]);
			for (j = 0; j < r->ntags; j++)
				EVP_DigestUpdate(md, &r->tags[j],
				    sizeof(r->tags[j]));
			digest_settings(md, &r->set);
		}
		ok = EVP_DigestFinal_ex(md, out, NULL) == 1;
	}
	EVP_MD_CTX_free(md);
	memcpy(d, out, sizeof(out));
	return ok ? 0 : ESMPI_ERR_CRYPTO;
}

/*
 * Every rank's esmpid should resolve the same rules. Where a node runs
 * another policy, its ranks refuse the records their rules do not expect
 * (p2p.c), and that refusal alone cannot say why. So the ranks compare a
 * digest of what decides records (suite, sign and scope of the defaults
 * and of each rule, and what each rule matches) once at MPI_Init: each
 * rank whose rules differ from rank 0's says so and audits
 * policy_mismatch, rank 0 counts them. The job goes on: rules no message
 * uses may differ harmlessly; the others are refused as always.
 */
static int
policy_agree(char *err, size_t len)
{
	uint64_t d[8], top[8], root0;
	int differs, count = 0, i;

	if (policy_digest(d) != 0) {
		snprintf(err, len, "cannot digest the policy");
		return ESMPI_ERR_CRYPTO;
	}
	for (i = 0; i < 4; i++)
		d[4 + i] = ~d[i];
	/* One reduction: the maxima of d and of ~d are equal everywhere
	 * only when every rank has the same d. */
	if (PMPI_Allreduce(d, top, 8, MPI_UINT64_T, MPI_MAX,
	    MPI_COMM_WORLD) != MPI_SUCCESS) {
		snprintf(err, len, "cannot compare policies between ranks");
		return ESMPI_ERR_INTERNAL;
	}
	for (i = 0; i < 4 && top[i] == ~top[4 + i]; i++)
		;
	if (i == 4)
		return 0;
	esmpi.policy_differs = 1;
	root0 = d[0];
	PMPI_Bcast(&root0, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
	differs = root0 != d[0];
	PMPI_Reduce(&differs, &count, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
	if (differs) {
		fprintf(stderr, "esmpi: rank %d: warning: the policy esmpid "
		    "(%s) gives this rank differs from rank 0's (digest "
		    "%016llx, rank 0 %016llx): records whose settings differ "
		    "between ranks will be refused; load the same policy "
		    "on every node (esmpictl policy show)\n",
		    esmpi.world_rank, esmpi.dpath, (unsigned long long)d[0],
		    (unsigned long long)root0);
		esmpi_audit("policy_mismatch", NULL, 0, -1, "this rank's "
		    "policy (digest %016llx) differs from world rank 0's "
		    "(%016llx)", (unsigned long long)d[0],
		    (unsigned long long)root0);
	} else if (esmpi.world_rank == 0) {
		fprintf(stderr, "esmpi: rank 0: warning: %d rank(s) of this "
		    "job run a policy that differs from rank 0's (their "
		    "messages name them)\n", count);
		esmpi_audit("policy_mismatch", NULL, -1, -1, "%d rank(s) of "
		    "this job run a policy that differs from this rank's "
		    "(digest %016llx)", count, (unsigned long long)d[0]);
	}
	return 0;
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

/* Connect, Hello, KeyShare: this rank's part before the exchange. */
static int
local_open(Esmpi__Reply **share, char *err, size_t len)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__KeyShareRequest ks = ESMPI__KEY_SHARE_REQUEST__INIT;
	Esmpi__Reply *rep = NULL;
	int r;

	if ((r = daemon_path(err, len)) != 0)
		return r;
	if ((r = daemon_hello(0, DAEMON_TIMEOUT_MS, &rep, err, len)) != 0)
		return r;
	r = take_policy(rep->hello);
	esmpi__reply__free_unpacked(rep, NULL);
	if (r != 0) {
		snprintf(err, len, "policy from esmpid unusable: %s",
		    esmpi_strerror(r));
		return r;
	}
	req.body_case = ESMPI__REQUEST__BODY_KEY_SHARE;
	req.key_share = &ks;
	if ((r = daemon_call(&req, share, err, len)) != 0)
		return r;
	if ((*share)->body_case != ESMPI__REPLY__BODY_KEY_SHARE) {
		esmpi__reply__free_unpacked(*share, NULL);
		*share = NULL;
		snprintf(err, len, "esmpid sent an unexpected reply to KeyShare");
		return ESMPI_ERR_PROTOCOL;
	}
	return 0;
}

/* Whether every rank succeeded so far (collective). */
static int
all_ok(int ok)
{
	int all = 0;

	if (PMPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) !=
	    MPI_SUCCESS)
		return 0;
	return all;
}

/*
 * Rank 0 gathers every share, has its daemon verify them and wrap a fresh
 * job key per rank; wrapped keys are scattered, rank 0's share broadcast,
 * and each rank's daemon verifies it and unwraps.
 */
static int
establish(char *err, size_t len)
{
	Esmpi__Reply *share = NULL, *wrapped = NULL, *rep = NULL;
	Esmpi__KeyShare **shares = NULL, *root_share = NULL;
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	uint8_t *mine = NULL, *all = NULL, *rootbuf = NULL;
	uint8_t *wrapbuf = NULL, wrapped_mine[WRAPPED_LEN];
	int *lens = NULL, *displs = NULL, mylen = 0, rootlen = 0, total = 0;
	int ok, r = ESMPI_ERR_INTERNAL, i, n = esmpi.world_size;
	int root = esmpi.world_rank == 0;

	ok = local_open(&share, err, len) == 0;
	if (!all_ok(ok)) {
		if (ok)
			snprintf(err, len, "job key establishment failed on "
			    "another rank (see its message)");
		r = ESMPI_ERR_PROTOCOL;
		goto out;
	}
	/* Our node, as our own esmpid identifies it (scope.c). */
	esmpi_scope_set_node(share->key_share->node_cert.data,
	    share->key_share->node_cert.len);
	mylen = (int)esmpi__key_share__get_packed_size(share->key_share);
	if ((mine = malloc(mylen)) == NULL)
		goto out;
	esmpi__key_share__pack(share->key_share, mine);
	if (root && ((lens = calloc(n, sizeof(int))) == NULL ||
	    (displs = calloc(n, sizeof(int))) == NULL))
		goto out;
	PMPI_Gather(&mylen, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (root) {
		for (i = 0; i < n; i++) {
			displs[i] = total;
			total += lens[i];
		}
		if ((all = malloc(total)) == NULL ||
		    (shares = calloc(n, sizeof(*shares))) == NULL ||
		    (wrapbuf = malloc((size_t)n * WRAPPED_LEN)) == NULL)
			goto out;
	}
	PMPI_Gatherv(mine, mylen, MPI_BYTE, all, lens, displs, MPI_BYTE, 0,
	    MPI_COMM_WORLD);

	ok = 1;
	if (root) {
		Esmpi__WrapJobKeyRequest w = ESMPI__WRAP_JOB_KEY_REQUEST__INIT;

		for (i = 0; i < n && ok; i++) {
			shares[i] = esmpi__key_share__unpack(NULL, lens[i],
			    all + displs[i]);
			if (shares[i] == NULL) {
				snprintf(err, len, "key share of rank %d is "
				    "malformed", i);
				ok = 0;
			}
		}
		w.shares = shares;
		w.n_shares = (size_t)n;
		req.body_case = ESMPI__REQUEST__BODY_WRAP;
		req.wrap = &w;
		if (ok && daemon_call(&req, &wrapped, err, len) != 0)
			ok = 0;
		if (ok && (wrapped->body_case != ESMPI__REPLY__BODY_WRAP ||
		    wrapped->wrap->n_keys != (size_t)n)) {
			snprintf(err, len, "esmpid returned a bad wrap reply");
			ok = 0;
		}
		for (i = 0; ok && i < n; i++) {
			if (wrapped->wrap->keys[i]->ciphertext.len !=
			    WRAPPED_LEN) {
				ok = 0;
				break;
			}
			memcpy(wrapbuf + (size_t)i * WRAPPED_LEN,
			    wrapped->wrap->keys[i]->ciphertext.data,
			    WRAPPED_LEN);
		}
		rootlen = mylen;
		rootbuf = mine;
	}
	PMPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (!ok) {
		if (!root)
			snprintf(err, len, "rank 0's esmpid refused the job "
			    "(see rank 0's message)");
		r = ESMPI_ERR_CERT;
		goto out;
	}
	PMPI_Scatter(wrapbuf, WRAPPED_LEN, MPI_BYTE, wrapped_mine,
	    WRAPPED_LEN, MPI_BYTE, 0, MPI_COMM_WORLD);
	PMPI_Bcast(&rootlen, 1, MPI_INT, 0, MPI_COMM_WORLD);
	if (!root && (rootbuf = malloc(rootlen)) == NULL)
		goto out;
	PMPI_Bcast(rootbuf, rootlen, MPI_BYTE, 0, MPI_COMM_WORLD);

	ok = 0;
	root_share = esmpi__key_share__unpack(NULL, rootlen, rootbuf);
	if (root_share == NULL) {
		snprintf(err, len, "rank 0's key share is malformed");
	} else {
		Esmpi__UnwrapJobKeyRequest u =
		    ESMPI__UNWRAP_JOB_KEY_REQUEST__INIT;
		Esmpi__WrappedKey wk = ESMPI__WRAPPED_KEY__INIT;

		wk.rank = (uint32_t)esmpi.world_rank;
		wk.ciphertext.data = wrapped_mine;
		wk.ciphertext.len = WRAPPED_LEN;
		u.root_share = root_share;
		u.key = &wk;
		req.body_case = ESMPI__REQUEST__BODY_UNWRAP;
		req.unwrap = &u;
		if (daemon_call(&req, &rep, err, len) == 0) {
			if (rep->body_case == ESMPI__REPLY__BODY_UNWRAP &&
			    rep->unwrap->job_key.len == JOB_KEY_LEN) {
				memcpy(esmpi.job_key, rep->unwrap->job_key.data,
				    JOB_KEY_LEN);
				esmpi_memzero(rep->unwrap->job_key.data,
				    JOB_KEY_LEN);
				ok = 1;
			} else
				snprintf(err, len, "esmpid returned a bad "
				    "unwrap reply");
		}
	}
	if (!all_ok(ok)) {
		if (ok)
			snprintf(err, len, "job key establishment failed on "
			    "another rank (see its message)");
		r = ESMPI_ERR_AUTH;
		goto out;
	}
	r = 0;
out:
	if (shares != NULL)
		for (i = 0; i < n; i++)
			if (shares[i] != NULL)
				esmpi__key_share__free_unpacked(shares[i],
				    NULL);
	if (root_share != NULL)
		esmpi__key_share__free_unpacked(root_share, NULL);
	if (share != NULL)
		esmpi__reply__free_unpacked(share, NULL);
	if (wrapped != NULL) {
		esmpi__reply__free_unpacked(wrapped, NULL);
	}
	if (rep != NULL)
		esmpi__reply__free_unpacked(rep, NULL);
	if (rootbuf != mine)
		free(rootbuf);
	free(mine);
	free(all);
	free(shares);
	esmpi_freezero(wrapbuf, wrapbuf ? (size_t)n * WRAPPED_LEN : 0);
	esmpi_memzero(wrapped_mine, sizeof(wrapped_mine));
	free(lens);
	free(displs);
	return r;
}

/*
 * The join failed (join.c): have our esmpid record it before the job
 * stops. No session is open yet: open one (under the job id rank 0 gave,
 * or a fresh one when none was heard) and wait for the daemon's answer,
 * so the event is recorded, not queued, when the process goes.
 */
static void
audit_join_failed(const struct esmpi_join *j, const char *why)
{
	Esmpi__AuditReport a = ESMPI__AUDIT_REPORT__INIT;
	Esmpi__Reply *rep = NULL;
	char err[256];
	int r;

	if (j->have_id)
		memcpy(esmpi.job_id, j->job_id, sizeof(esmpi.job_id));
	else if (esmpi_random(esmpi.job_id, sizeof(esmpi.job_id)) != 0)
		memset(esmpi.job_id, 0, sizeof(esmpi.job_id));
	a.event = "join_failed";
	a.comm = "MPI_COMM_WORLD";
	a.peer = j->offender;
	a.tag = -1;
	a.detail = (char *)why;
	pthread_mutex_lock(&esmpi.dlock);
	if ((r = daemon_path(err, sizeof(err))) == 0 &&
	    (r = daemon_hello(0, DAEMON_TIMEOUT_MS, &rep, err,
	    sizeof(err))) == 0) {
		esmpi__reply__free_unpacked(rep, NULL);
		r = send_audit(&a, err, sizeof(err));
	}
	if (r != 0) {
		if (esmpi.dfd >= 0)
			close(esmpi.dfd);
		esmpi.dfd = -1;
		fprintf(stderr, "esmpi: rank %d: could not audit join_failed: "
		    "%s\n", esmpi.world_rank, err);
	}
	pthread_mutex_unlock(&esmpi.dlock);
}

static int
add_code(const char *msg)
{
	int code = MPI_ERR_OTHER;

	if (PMPI_Add_error_code(esmpi.err_class, &code) == MPI_SUCCESS)
		PMPI_Add_error_string(code, (char *)msg);
	return code;
}

int
esmpi_session_start(void)
{
	struct esmpi_join j;
	char err[1024];
	int r, provided = MPI_THREAD_SINGLE, timeout;

	esmpi.initialized = 1;
	esmpi.chunk_comm = esmpi.stash_comm = MPI_COMM_NULL;
	PMPI_Query_thread(&provided);
	esmpi.threads_multi = provided == MPI_THREAD_MULTIPLE;
	PMPI_Comm_rank(MPI_COMM_WORLD, &esmpi.world_rank);
	PMPI_Comm_size(MPI_COMM_WORLD, &esmpi.world_size);
	if (PMPI_Add_error_class(&esmpi.err_class) != MPI_SUCCESS)
		esmpi.err_class = MPI_ERR_OTHER;
	esmpi.err_auth = add_code("esmpi: message failed authentication "
	    "(tampered, misdirected or wrong key); data discarded");
	esmpi.err_replay = add_code("esmpi: replayed message refused");
	esmpi.err_denied = add_code("esmpi: call refused: esmpi cannot "
	    "protect its payload (policy unprotected: deny)");
	esmpi.err_init = add_code("esmpi: job key establishment failed");
	esmpi.err_internal = add_code("esmpi: internal error");

	/* Before any collective: every rank is here, with libesmpi, or we
	 * stop (join.c). It brings the job id. */
	if (esmpi_join_timeout(&timeout, err, sizeof(err)) != 0) {
		esmpi.failed = 1;
		return esmpi_fail(MPI_COMM_WORLD, esmpi.err_init, "%s", err);
	}
	if (esmpi_join(timeout, &j, err, sizeof(err)) != 0) {
		esmpi.failed = 1;
		audit_join_failed(&j, err);
		return esmpi_fail(MPI_COMM_WORLD, esmpi.err_init, "%s; "
		    "refusing to run unprotected", err);
	}
	memcpy(esmpi.job_id, j.job_id, sizeof(esmpi.job_id));
	if (esmpi_chunk_init() != 0)
		esmpi.chunk_min = 0;

	/* Secrets live in locked, undumpable memory (secmem.c). */
	if ((esmpi.job_key = esmpi_secure_calloc(JOB_KEY_LEN)) == NULL) {
		snprintf(err, sizeof(err), "no memory kept out of core dumps "
		    "for keys");
		goto fail;
	}
	if ((r = establish(err, sizeof(err))) != 0 ||
	    (r = policy_agree(err, sizeof(err))) != 0 ||
	    (r = esmpi_sign_setup(err, sizeof(err))) != 0)
		goto fail;
	if ((r = esmpi_comm_keyval_init()) != 0 ||
	    (r = esmpi_comm_attach(MPI_COMM_WORLD, 0)) != 0 ||
	    (r = esmpi_comm_attach(MPI_COMM_SELF, 1)) != 0) {
		snprintf(err, sizeof(err), "cannot set up communicator keys: "
		    "%s", esmpi_strerror(r));
		goto fail;
	}
	esmpi.active = 1;
	if ((r = esmpi_scope_init()) != 0) {
		esmpi.active = 0;
		snprintf(err, sizeof(err), "cannot tell which ranks share "
		    "this node: %s", esmpi_strerror(r));
		goto fail;
	}
	return MPI_SUCCESS;
fail:
	esmpi.failed = 1;
	if (esmpi.job_key != NULL)
		esmpi_memzero(esmpi.job_key, JOB_KEY_LEN);
	return esmpi_fail(MPI_COMM_WORLD, esmpi.err_init,
	    "cannot establish job keys, refusing to run unprotected: %s", err);
}

/* What libesmpi-guard.so (guard.c) looks for: this library is here. */
ESMPI_EXPORT const char esmpi_guard_marker[] = "esmpi";

ESMPI_EXPORT int
MPI_Init(int *argc, char ***argv)
{
	int rc = PMPI_Init(argc, argv);

	if (rc != MPI_SUCCESS)
		return rc;
	return esmpi_session_start();
}

ESMPI_EXPORT int
MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
	int rc = PMPI_Init_thread(argc, argv, required, provided);

	if (rc != MPI_SUCCESS)
		return rc;
	return esmpi_session_start();
}

ESMPI_EXPORT int
MPI_Finalize(void)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__Goodbye g = ESMPI__GOODBYE__INIT;
	Esmpi__Reply *rep = NULL;
	char err[256];
	size_t i;

	if (esmpi.initialized) {
		esmpi_scope_report();
		if (getenv("ESMPI_TEST_KEYMEM") != NULL) {
			esmpi_keys_report();
			esmpi_secure_openssl_report();
		}
		esmpi_req_reap();	/* before the states go */
		esmpi_bsend_finish();
		esmpi_chunk_reap(1);
		esmpi.active = 0;
		esmpi_comm_free_all();
		esmpi_sign_free();
		free(esmpi.node_local);
		esmpi.node_local = NULL;
		esmpi_pool_drain();
		esmpi_secure_free(esmpi.job_key, JOB_KEY_LEN);
		esmpi.job_key = NULL;
		req.body_case = ESMPI__REQUEST__BODY_GOODBYE;
		req.goodbye = &g;
		pthread_mutex_lock(&esmpi.dlock);
		/* Events that waited for esmpid get a last chance. */
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
		for (i = 0; i < esmpi.nrules; i++) {
			free(esmpi.rules[i].name);
			free(esmpi.rules[i].comm);
			free(esmpi.rules[i].tags);
		}
		free(esmpi.rules);
		esmpi.rules = NULL;
		esmpi.nrules = 0;
		if (esmpi.chunk_comm != MPI_COMM_NULL)
			PMPI_Comm_free(&esmpi.chunk_comm);
		if (esmpi.stash_comm != MPI_COMM_NULL)
			PMPI_Comm_free(&esmpi.stash_comm);
	}
	return PMPI_Finalize();
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

/* Names already reported, so each refused/allowed call is audited once. */
static const char *reported[64];
static int nreported;
static pthread_mutex_t reported_lock = PTHREAD_MUTEX_INITIALIZER;

int
esmpi_unprotected_call(const char *fn)
{
	int first = 1, i;

	if (esmpi.failed)
		return esmpi.err_init;
	if (!esmpi.active)
		return esmpi_check_started();
	pthread_mutex_lock(&reported_lock);
	for (i = 0; i < nreported; i++)
		if (reported[i] == fn)
			first = 0;
	if (first && nreported < 64)
		reported[nreported++] = fn;
	pthread_mutex_unlock(&reported_lock);
	if (esmpi.defaults.unprotected == ESMPI_UNPROT_DENY) {
		if (first)
			esmpi_audit("unprotected_call", NULL, -1, -1,
			    "%s refused: esmpi cannot protect its payload", fn);
		return esmpi_fail(MPI_COMM_WORLD, esmpi.err_denied,
		    "%s refused: esmpi cannot protect the data it moves "
		    "(policy: unprotected: deny)", fn);
	}
	if (first)
		esmpi_audit("unprotected_call", NULL, -1, -1,
		    "%s allowed unprotected by policy", fn);
	return MPI_SUCCESS;
}
