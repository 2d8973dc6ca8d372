/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One handler per request (process_<msg>), found in one table
 * (request_kinds) with the socket and session states it needs. A handler
 * returns 0 after queueing a reply (an Error reply included), or a
 * negative ESMPI_ERR_* for a protocol violation, which closes the
 * connection (server.c audits it).
 */
#include <ctype.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "esmpi_bytes.h"
#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_log.h"
#include "esmpi_mem.h"
#include "esmpi_sig.h"
#include "esmpid.h"

#define ESMPID_VERSION_STRING "0.1.0"

static void
settings_to_pb(const struct esmpi_pol_settings *s, Esmpi__SuiteSettings *pb)
{
	esmpi__suite_settings__init(pb);
	pb->suite = (uint32_t)s->suite;
	pb->sign = (uint32_t)s->sign;
	pb->rekey_messages = s->rekey.messages;
	pb->rekey_bytes = s->rekey.bytes;
	pb->rekey_seconds = s->rekey.seconds;
	pb->unprotected = (uint32_t)s->unprotected;
	pb->scope = (uint32_t)s->scope;
}

/* The policy that applies to a project ("" = main). */
static const struct esmpi_policy *
project_policy(const struct esmpi_policy *p, const char *project)
{
	size_t i;

	if (project == NULL || *project == '\0')
		return p;
	for (i = 0; i < p->nprojects; i++)
		if (strcmp(p->projects[i].name, project) == 0)
			return p->projects[i].policy;
	return NULL;
}

/* A rotation of c's job (or all) that c may have missed while away. */
static int
push_pending_rotation(struct esmpid *d, struct esmpid_conn *c)
{
	Esmpi__Reply rep = ESMPI__REPLY__INIT;
	Esmpi__RekeyEvent ev = ESMPI__REKEY_EVENT__INIT;
	const struct esmpid_rotation *rot;
	uint64_t now = esmpid_now();
	char reason[64];
	const char *extra[] = { reason, NULL };	/* job, rank: from c */
	int i, r;

	for (i = 0; i < ESMPID_PENDING_ROTATIONS; i++) {
		rot = &d->rotations[i];
		if (rot->at != 0 && now - rot->at <= ESMPID_PENDING_SECONDS &&
		    (rot->all || memcmp(rot->job_id, c->job_id,
		    ESMPI_JOB_ID_LEN) == 0))
			break;
	}
	if (i == ESMPID_PENDING_ROTATIONS)
		return 0;
	/* One event is enough: a rekey moves every key of the rank. */
	ev.reason = ESMPI_REKEY_ADMIN;
	rep.body_case = ESMPI__REPLY__BODY_REKEY;
	rep.rekey = &ev;
	if ((r = esmpid_reply(c, &rep)) != 0)
		return r;
	snprintf(reason, sizeof(reason), "ESMPI_REASON=resumed");
	esmpid_audit(ESMPI_AUDIT_NOTICE, "key_rotated", c, extra, "rekey requested %llu s ago "
	    "pushed to rank %u of job %s, which reconnected since",
	    (unsigned long long)(now - rot->at), c->rank, c->job_hex);
	return 0;
}

/* The name of uid on this node, or "" when it has none. */
static void
user_name(uid_t uid, char out[ESMPI_USER_MAX + 1])
{
	struct passwd pw, *pwp = NULL;
	char buf[4096];

	out[0] = '\0';
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) == 0 && pwp != NULL)
		snprintf(out, ESMPI_USER_MAX + 1, "%s", pw.pw_name);
}

/* Audit a refusal that involves two identities: the requester (c) and
 * the owner the job or share belongs to. */
static void
audit_owner_refused(struct esmpid_conn *c, const char *event_why,
    uint32_t rank, uint32_t owner_uid, const char *owner_user,
    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void
audit_owner_refused(struct esmpid_conn *c, const char *event_why,
    uint32_t rank, uint32_t owner_uid, const char *owner_user,
    const char *fmt, ...)
{
	char peer[32], ouid[40], ouser[96], reason[96], me[96], msg[400];
	const char *extra[] = { peer, ouid, ouser, me, reason, NULL };
	char mine[ESMPI_USER_MAX + 1];
	va_list ap;

	user_name(c->uid, mine);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(peer, sizeof(peer), "ESMPI_PEER=%u", rank);
	snprintf(ouid, sizeof(ouid), "ESMPI_OWNER_UID=%u", owner_uid);
	snprintf(ouser, sizeof(ouser), "ESMPI_OWNER_USER=%s", owner_user);
	snprintf(me, sizeof(me), "ESMPI_USER=%s", mine);
	snprintf(reason, sizeof(reason), "ESMPI_REASON=%s", event_why);
	esmpid_audit(ESMPI_AUDIT_ERR, "access_denied", c, extra, "%s", msg);
}

/*
 * One session per (job, rank) on a node, and every session of a job on
 * a node belongs to one user: a second one is refused (and audited), so
 * nobody can stand in for a rank of somebody else's job here.
 */
static int
refuse_second_session(struct esmpid *d, struct esmpid_conn *c,
    const uint8_t *job_id, uint32_t rank)
{
	struct esmpid_conn *x;
	char owner[ESMPI_USER_MAX + 1];

	if ((x = esmpid_find_session(d, c, job_id, rank)) == NULL &&
	    ((x = esmpid_find_session(d, c, job_id, -1)) == NULL ||
	    x->uid == c->uid))
		return 0;
	memcpy(c->job_id, job_id, ESMPI_JOB_ID_LEN);
	esmpi_hex(c->job_id, ESMPI_JOB_ID_LEN, c->job_hex);
	user_name(x->uid, owner);
	if (x->uid != c->uid) {
		audit_owner_refused(c, "job of another user", rank, x->uid,
		    owner, "uid %u asked for a session of job %s rank %u, "
		    "which belongs to uid %u (%s) on this node",
		    (unsigned)c->uid, c->job_hex, rank, (unsigned)x->uid,
		    owner);
		(void)esmpid_reply_error(c, ESMPI_ERR_DENIED, "job %s belongs "
		    "to another user on this node", c->job_hex);
	} else {
		audit_owner_refused(c, "rank already has a session", rank,
		    x->uid, owner, "pid %d asked for a second session of job "
		    "%s rank %u (pid %d holds it)", (int)c->pid, c->job_hex,
		    rank, (int)x->pid);
		(void)esmpid_reply_error(c, ESMPI_ERR_DENIED, "job %s rank %u "
		    "already has a session on this node (pid %d)", c->job_hex,
		    rank, (int)x->pid);
	}
	c->closing = 1;
	c->close_why = "second session refused";
	return 1;
}

static int
process_hello(struct esmpid *d, struct esmpid_conn *c,
    const Esmpi__Request *req)
{
	const Esmpi__Hello *h = req->hello;
	Esmpi__Reply rep = ESMPI__REPLY__INIT;
	Esmpi__HelloReply hr = ESMPI__HELLO_REPLY__INIT;
	Esmpi__SuiteSettings defs, *sets = NULL;
	Esmpi__Rule *rules = NULL, **rulep = NULL;
	Esmpi__TagRange *tags = NULL, **tagp = NULL;
	const struct esmpi_policy *p;
	size_t i, j, ntags = 0, t = 0;
	int r = ESMPI_ERR_NOMEM;

	if (h->version != ESMPI_PROTO_VERSION) {
		(void)esmpid_reply_error(c, ESMPI_ERR_VERSION,
		    "protocol version %u not supported (daemon speaks %u)",
		    h->version, ESMPI_PROTO_VERSION);
		c->closing = 1;
		c->close_why = "protocol version";
		return 0;
	}
	if (h->job_id.len != ESMPI_JOB_ID_LEN || h->size == 0 ||
	    h->rank >= h->size)
		return ESMPI_ERR_PROTOCOL;
	if (strlen(h->project) > ESMPI_PROJECT_MAX) {
		(void)esmpid_reply_error(c, ESMPI_ERR_INVALID,
		    "project name (ESMPI_PROJECT) is %zu bytes long; at most "
		    "%d", strlen(h->project), ESMPI_PROJECT_MAX);
		c->closing = 1;
		c->close_why = "project name too long";
		return 0;
	}
	if (refuse_second_session(d, c, h->job_id.data, h->rank))
		return 0;
	if ((p = project_policy(d->policy, h->project)) == NULL) {
		(void)esmpid_reply_error(c, ESMPI_ERR_POLICY,
		    "unknown project '%.63s' (ESMPI_PROJECT): not in policy %s",
		    h->project, d->policy->source);
		c->closing = 1;
		c->close_why = "unknown project";
		return 0;
	}
	memcpy(c->job_id, h->job_id.data, ESMPI_JOB_ID_LEN);
	esmpi_hex(c->job_id, ESMPI_JOB_ID_LEN, c->job_hex);
	c->rank = h->rank;
	c->size = h->size;
	snprintf(c->project, sizeof(c->project), "%s", h->project);
	snprintf(c->host, sizeof(c->host), "%s", h->host);
	snprintf(c->engine, sizeof(c->engine), "%s",
	    *h->engine ? h->engine : "unknown");
	/* The rank's word, shown to admins: names only, nothing a terminal
	 * or a log reader would act on. */
	for (i = 0; c->engine[i] != '\0'; i++)
		if (!isalnum((unsigned char)c->engine[i]) &&
		    strchr("+-./_", c->engine[i]) == NULL)
			c->engine[i] = '?';
	c->session_id = ++d->next_session;
	c->hello_at = esmpid_now();
	c->suite = p->defaults.suite;

	/* The rank gets compiled rules; no YAML parser runs inside it. */
	for (i = 0; i < p->nrules; i++)
		ntags += p->rules[i].ntags;
	if ((sets = calloc(p->nrules + 1, sizeof(*sets))) == NULL ||
	    (rules = calloc(p->nrules + 1, sizeof(*rules))) == NULL ||
	    (rulep = calloc(p->nrules + 1, sizeof(*rulep))) == NULL ||
	    (tags = calloc(ntags + 1, sizeof(*tags))) == NULL ||
	    (tagp = calloc(ntags + 1, sizeof(*tagp))) == NULL)
		goto out;
	for (i = 0; i < p->nrules; i++) {
		const struct esmpi_pol_rule *pr = &p->rules[i];

		esmpi__rule__init(&rules[i]);
		rules[i].name = pr->name;
		rules[i].comm = pr->comm ? pr->comm : "";
		rules[i].tags = &tagp[t];
		for (j = 0; j < pr->ntags; j++, t++) {
			esmpi__tag_range__init(&tags[t]);
			tags[t].lo = pr->tags[j].lo;
			tags[t].hi = pr->tags[j].hi;
			tagp[t] = &tags[t];
		}
		rules[i].n_tags = pr->ntags;
		settings_to_pb(&pr->set, &sets[i]);
		rules[i].settings = &sets[i];
		rulep[i] = &rules[i];
	}
	settings_to_pb(&p->defaults, &defs);
	hr.version = ESMPI_PROTO_VERSION;
	hr.session_id = c->session_id;
	hr.defaults = &defs;
	hr.rules = rulep;
	hr.n_rules = p->nrules;
	hr.policy_source = d->policy->source;
	rep.body_case = ESMPI__REPLY__BODY_HELLO;
	rep.hello = &hr;
	if ((r = esmpid_reply(c, &rep)) != 0)
		goto out;
	/* A resuming rank has its keys: it only reports and takes rekeys.
	 * Nothing proves it is the process that did key establishment, so
	 * it gets nothing that needs that proof (a rank certificate). */
	c->state = h->resume ? SESS_RESUMED : SESS_OPEN;
	if (h->resume)
		c->epoch = h->epoch;
	{
		char suite[64], proj[96], host[96], size[32], scope[48];
		char engine[80];
		char why[32];
		const char *extra[] = { suite, proj, host, size, scope, why,
		    engine, NULL };
		const char *sc = p->defaults.scope == ESMPI_SCOPE_INTER_NODE ?
		    "inter-node" : "all";

		/* A rule that leaves same-node traffic plain is worth
		 * auditing even when the defaults encrypt everything. */
		for (i = 0; i < p->nrules; i++)
			if (p->rules[i].set.scope == ESMPI_SCOPE_INTER_NODE &&
			    p->defaults.scope != ESMPI_SCOPE_INTER_NODE)
				sc = "inter-node (some rules)";
		snprintf(scope, sizeof(scope), "ESMPI_SCOPE=%s", sc);

		snprintf(suite, sizeof(suite), "ESMPI_SUITE=%s",
		    esmpi_suite_name(c->suite));
		snprintf(proj, sizeof(proj), "ESMPI_PROJECT=%s", c->project);
		snprintf(host, sizeof(host), "ESMPI_HOST=%s", c->host);
		snprintf(engine, sizeof(engine), "ESMPI_ENGINE=%s", c->engine);
		snprintf(size, sizeof(size), "ESMPI_SIZE=%u", c->size);
		snprintf(why, sizeof(why), "ESMPI_REASON=%s",
		    h->resume ? "resumed" : "new");
		esmpid_audit(ESMPI_AUDIT_INFO, "session_open", c, extra,
		    "session %llu %s: job %s rank %u/%u uid %u, default "
		    "suite %s (engine %s), %zu rules, scope %s",
		    (unsigned long long)c->session_id, h->resume ?
		    "resumed (rank reconnected with its keys)" : "opened",
		    c->job_hex, c->rank,
		    c->size, (unsigned)c->uid, esmpi_suite_name(c->suite),
		    c->engine, p->nrules, sc);
	}
	if (h->resume)
		r = push_pending_rotation(d, c);
out:
	free(sets);
	free(rules);
	free(rulep);
	free(tags);
	free(tagp);
	return r;
}

/*
 * This session's share of the point pub (a job key share, or with link
 * a link share, signed under the link label) signed by the node key: s,
 * and ks its message (pointing into s, c, d and *sig, which the caller
 * frees).
 */
static int
own_share(struct esmpid *d, struct esmpid_conn *c, const uint8_t *pub,
    int link, struct esmpi_share *s, Esmpi__KeyShare *ks, uint8_t **sig)
{
	size_t sig_len = 0;
	int r;

	memset(s, 0, sizeof(*s));
	memcpy(s->job_id, c->job_id, ESMPI_JOB_ID_LEN);
	s->rank = c->rank;
	s->uid = (uint32_t)c->uid;
	user_name(c->uid, s->user);
	snprintf(s->project, sizeof(s->project), "%s", c->project);
	memcpy(s->pub, pub, ESMPI_ECDH_PUB_LEN);
	s->link = link;
	if ((r = esmpid_jobkey_sign_share(d->id, s, sig, &sig_len)) != 0)
		return r;
	ks->job_id.data = c->job_id;
	ks->job_id.len = ESMPI_JOB_ID_LEN;
	ks->rank = c->rank;
	ks->uid = s->uid;
	ks->user = s->user;
	ks->project = s->project;
	ks->ecdh_public.data = s->pub;
	ks->ecdh_public.len = ESMPI_ECDH_PUB_LEN;
	ks->node_cert.data = d->id->cert_der;
	ks->node_cert.len = d->id->cert_der_len;
	ks->signature.data = *sig;
	ks->signature.len = sig_len;
	return 0;
}

static int
process_key_share(struct esmpid *d, struct esmpid_conn *c,
    const Esmpi__Request *req)
{
	Esmpi__Reply rep = ESMPI__REPLY__INIT;
	Esmpi__KeyShare ks = ESMPI__KEY_SHARE__INIT;
	struct esmpi_share s;
	uint8_t *sig = NULL;
	int r;

	if ((r = esmpid_jobkey_ephemeral(&c->eph, c->eph_pub)) != 0)
		return esmpid_reply_error(c, r, "cannot create key share");
	if ((r = own_share(d, c, c->eph_pub, 0, &s, &ks, &sig)) != 0)
		return esmpid_reply_error(c, r, "cannot sign key share");
	rep.body_case = ESMPI__REPLY__BODY_KEY_SHARE;
	rep.key_share = &ks;
	r = esmpid_reply(c, &rep);
	free(sig);
	if (r == 0)
		c->state = SESS_SHARED;
	return r;
}

/* Fill s from a protobuf share; ESMPI_ERR_PROTOCOL when malformed. */
static int
share_from_pb(const Esmpi__KeyShare *pb, struct esmpi_share *s)
{
	if (pb == NULL || pb->job_id.len != ESMPI_JOB_ID_LEN ||
	    pb->ecdh_public.len != ESMPI_ECDH_PUB_LEN ||
	    pb->node_cert.len == 0 || pb->signature.len == 0 ||
	    strlen(pb->user) > ESMPI_USER_MAX ||
	    strlen(pb->project) > ESMPI_PROJECT_MAX)
		return ESMPI_ERR_PROTOCOL;
	memset(s, 0, sizeof(*s));
	memcpy(s->job_id, pb->job_id.data, ESMPI_JOB_ID_LEN);
	s->rank = pb->rank;
	s->uid = pb->uid;
	memcpy(s->user, pb->user, strlen(pb->user));
	memcpy(s->project, pb->project, strlen(pb->project));
	memcpy(s->pub, pb->ecdh_public.data, ESMPI_ECDH_PUB_LEN);
	s->cert = pb->node_cert.data;
	s->cert_len = pb->node_cert.len;
	s->sig = pb->signature.data;
	s->sig_len = pb->signature.len;
	return 0;
}

static void
audit_peer_refused(struct esmpid_conn *c, uint32_t rank, const char *why)
{
	char peer[32], reason[400];
	const char *extra[] = { peer, reason, NULL };

	snprintf(peer, sizeof(peer), "ESMPI_PEER=%u", rank);
	snprintf(reason, sizeof(reason), "ESMPI_REASON=%s", why);
	esmpid_audit(ESMPI_AUDIT_ERR, "access_denied", c, extra,
	    "job %s: key share of rank %u refused: %s", c->job_hex, rank, why);
}

/*
 * Verified certificates are remembered for the length of one request:
 * ranks on one node share a certificate, so a job of N ranks on M nodes
 * costs M chain verifications, not N.
 */
struct cert_seen {
	const uint8_t *der;
	size_t len;
};

/*
 * A verified share must belong to the user c runs as (same uid, same
 * name: uids and names are assumed to mean one person on every node of
 * the cluster) and to the same policy project. 0 when it does; otherwise
 * audited, and an Error queued.
 */
static int
refuse_foreign_share(struct esmpid_conn *c, const struct esmpi_share *s,
    const char *node, const char *what)
{
	char mine[ESMPI_USER_MAX + 1];

	user_name(c->uid, mine);
	if (s->uid == (uint32_t)c->uid && strcmp(s->user, mine) == 0) {
		if (strcmp(s->project, c->project) == 0)
			return 0;
		/* One job, one policy project: a rank moved to another
		 * project (ESMPI_PROJECT rewritten on its way) is refused. */
		audit_owner_refused(c, "share of another project", s->rank,
		    s->uid, s->user, "job %s: %s (rank %u, node '%s') runs "
		    "policy project '%s', this session '%s'", c->job_hex, what,
		    s->rank, node, s->project, c->project);
		(void)esmpid_reply_error(c, ESMPI_ERR_DENIED, "%s (rank %u) "
		    "runs policy project '%s' but this rank runs '%s' "
		    "(ESMPI_PROJECT): one job, one project; refused", what,
		    s->rank, s->project, c->project);
		return -1;
	}
	audit_owner_refused(c, "share of another user", s->rank, s->uid,
	    s->user, "job %s: %s (rank %u, node '%s') was issued to uid %u "
	    "(%s), not to this job's owner uid %u (%s)", c->job_hex, what,
	    s->rank, node, s->uid, s->user, (unsigned)c->uid, mine);
	(void)esmpid_reply_error(c, ESMPI_ERR_DENIED, "%s (rank %u) belongs "
	    "to uid %u (%s), not to uid %u (%s) who owns this job: refused",
	    what, s->rank, s->uid, s->user, (unsigned)c->uid, mine);
	return -1;
}

static int
process_wrap(struct esmpid *d, struct esmpid_conn *c,
    const Esmpi__Request *req)
{
	const Esmpi__WrapJobKeyRequest *w = req->wrap;
	Esmpi__Reply rep = ESMPI__REPLY__INIT;
	Esmpi__WrapJobKeyReply wr = ESMPI__WRAP_JOB_KEY_REPLY__INIT;
	Esmpi__WrappedKey *keys = NULL, **keyp = NULL;
	uint8_t job_key[ESMPI_JOB_KEY_LEN], *ct = NULL;
	struct cert_seen *seen = NULL;
	size_t nseen = 0, i, k;
	char cn[256], err[512];
	int r;

	if (c->rank != 0 || c->wrapped)
		return ESMPI_ERR_PROTOCOL;
	if (w->n_shares != c->size)
		return esmpid_reply_error(c, ESMPI_ERR_INVALID,
		    "wrap request carries %zu key shares for a job of %u "
		    "ranks", w->n_shares, c->size);
	r = ESMPI_ERR_NOMEM;
	if ((keys = calloc(w->n_shares, sizeof(*keys))) == NULL ||
	    (keyp = calloc(w->n_shares, sizeof(*keyp))) == NULL ||
	    (seen = calloc(w->n_shares, sizeof(*seen))) == NULL ||
	    (ct = malloc(w->n_shares * ESMPI_WRAPPED_LEN)) == NULL)
		goto out;
	if ((r = esmpi_random(job_key, sizeof(job_key))) != 0)
		goto out;
	for (i = 0; i < w->n_shares; i++) {
		struct esmpi_share s;
		int known = 0;

		if (share_from_pb(w->shares[i], &s) != 0 || s.rank != i ||
		    memcmp(s.job_id, c->job_id, ESMPI_JOB_ID_LEN) != 0) {
			r = esmpid_reply_error(c, ESMPI_ERR_INVALID,
			    "key share %zu is malformed or belongs to another "
			    "job or rank", i);
			goto out;
		}
		if (i == 0 && memcmp(s.pub, c->eph_pub, ESMPI_ECDH_PUB_LEN)) {
			r = esmpid_reply_error(c, ESMPI_ERR_INVALID,
			    "key share 0 is not this session's share");
			goto out;
		}
		for (k = 0; k < nseen; k++)
			if (seen[k].len == s.cert_len &&
			    memcmp(seen[k].der, s.cert, s.cert_len) == 0)
				known = 1;
		r = esmpid_jobkey_verify_share(d->id, &s, known, cn,
		    sizeof(cn), err, sizeof(err));
		if (r == 0 && !known) {
			seen[nseen].der = s.cert;
			seen[nseen++].len = s.cert_len;
		}
		if (r != 0) {
			audit_peer_refused(c, s.rank, err);
			r = esmpid_reply_error(c, r, "rank %u refused: %s",
			    s.rank, err);
			goto out;
		}
		/* Only the job's owner gets the job key. */
		if (refuse_foreign_share(c, &s, cn, "key share") != 0) {
			r = 0;
			goto out;
		}
		if ((r = esmpid_jobkey_wrap(c->eph, c->eph_pub, &s, job_key,
		    ct + i * ESMPI_WRAPPED_LEN)) != 0) {
			r = esmpid_reply_error(c, r, "cannot wrap the job key "
			    "for rank %zu", i);
			goto out;
		}
		esmpi__wrapped_key__init(&keys[i]);
		keys[i].rank = (uint32_t)i;
		keys[i].ciphertext.data = ct + i * ESMPI_WRAPPED_LEN;
		keys[i].ciphertext.len = ESMPI_WRAPPED_LEN;
		keyp[i] = &keys[i];
	}
	wr.keys = keyp;
	wr.n_keys = w->n_shares;
	rep.body_case = ESMPI__REPLY__BODY_WRAP;
	rep.wrap = &wr;
	if ((r = esmpid_reply(c, &rep)) == 0)
		c->wrapped = 1;
out:
	esmpi_memzero(job_key, sizeof(job_key));
	free(keys);
	free(keyp);
	free(seen);
	free(ct);
	return r;
}

static int
process_unwrap(struct esmpid *d, struct esmpid_conn *c,
    const Esmpi__Request *req)
{
	const Esmpi__UnwrapJobKeyRequest *u = req->unwrap;
	Esmpi__Reply rep = ESMPI__REPLY__INIT;
	Esmpi__UnwrapJobKeyReply ur = ESMPI__UNWRAP_JOB_KEY_REPLY__INIT;
	struct esmpi_share root, self;
	uint8_t job_key[ESMPI_JOB_KEY_LEN];
	char cn[256], err[512];
	int r;

	if (c->rank == 0 && !c->wrapped)
		return ESMPI_ERR_PROTOCOL;
	if (share_from_pb(u->root_share, &root) != 0 || u->key == NULL ||
	    u->key->ciphertext.len != ESMPI_WRAPPED_LEN ||
	    u->key->rank != c->rank)
		return ESMPI_ERR_PROTOCOL;
	if (root.rank != 0 ||
	    memcmp(root.job_id, c->job_id, ESMPI_JOB_ID_LEN) != 0)
		return esmpid_reply_error(c, ESMPI_ERR_INVALID,
		    "root key share is not rank 0's share of this job");
	if ((r = esmpid_jobkey_verify_share(d->id, &root, 0, cn, sizeof(cn), err,
	    sizeof(err))) != 0) {
		audit_peer_refused(c, 0, err);
		return esmpid_reply_error(c, r, "rank 0 refused: %s", err);
	}
	/* A job key chosen by somebody else's rank 0 is not this job's. */
	if (refuse_foreign_share(c, &root, cn, "rank 0's key share") != 0)
		return 0;
	memset(&self, 0, sizeof(self));
	memcpy(self.job_id, c->job_id, ESMPI_JOB_ID_LEN);
	self.rank = c->rank;
	self.uid = (uint32_t)c->uid;
	user_name(c->uid, self.user);
	memcpy(self.pub, c->eph_pub, ESMPI_ECDH_PUB_LEN);
	if ((r = esmpid_jobkey_unwrap(c->eph, &self, &root,
	    u->key->ciphertext.data, job_key)) != 0) {
		audit_peer_refused(c, 0, "wrapped job key does not "
		    "authenticate");
		return esmpid_reply_error(c, ESMPI_ERR_AUTH,
		    "the job key wrapped by rank 0 (node '%s') does not "
		    "authenticate", cn);
	}
	/* Forward secrecy: the ephemeral key is no longer needed. */
	EVP_PKEY_free(c->eph);
	c->eph = NULL;
	ur.job_key.data = job_key;
	ur.job_key.len = sizeof(job_key);
	ur.epoch = 0;
	rep.body_case = ESMPI__REPLY__BODY_UNWRAP;
	rep.unwrap = &ur;
	r = esmpid_reply(c, &rep);
	esmpi_memzero(job_key, sizeof(job_key));
	if (r == 0)
		c->state = SESS_KEYED;
	return r;
}

/*
 * Dynamic processes (PROTOCOL.md §7): a link between this job and another
 * one. Only a KEYED session: its (job, rank) is the one its job's rank 0
 * wrapped the job key for. The share is signed under the link label, so a
 * job key share and a link share never stand for each other.
 */
static int
process_link_share(struct esmpid *d, struct esmpid_conn *c,
    const Esmpi__Request *req)
{
	Esmpi__Reply rep = ESMPI__REPLY__INIT;
	Esmpi__KeyShare ks = ESMPI__KEY_SHARE__INIT;
	struct esmpi_share s;
	uint8_t *sig = NULL;
	int r;

	(void)req;
	EVP_PKEY_free(c->link_eph);
	c->link_eph = NULL;
	if ((r = esmpid_jobkey_ephemeral(&c->link_eph, c->link_pub)) != 0)
		return esmpid_reply_error(c, r, "cannot create link share");
	if ((r = own_share(d, c, c->link_pub, 1, &s, &ks, &sig)) != 0)
		return esmpid_reply_error(c, r, "cannot sign link share");
	rep.body_case = ESMPI__REPLY__BODY_LINK_SHARE;
	rep.link_share = &ks;
	r = esmpid_reply(c, &rep);
	free(sig);
	return r;
}

/* This session's own link share (what it signed), for the key schedule. */
static void
link_self(const struct esmpid_conn *c, struct esmpi_share *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->job_id, c->job_id, ESMPI_JOB_ID_LEN);
	s->rank = c->rank;
	memcpy(s->pub, c->link_pub, ESMPI_ECDH_PUB_LEN);
	s->link = 1;
}

/*
 * The other job's link share: well formed, of another job, its point not
 * ours, certified under our CA, issued to this session's user and project.
 * 0 when good; otherwise audited and an Error queued (*r its result).
 */
static int
link_peer(struct esmpid *d, struct esmpid_conn *c, const Esmpi__KeyShare *pb,
    struct esmpi_share *p, char *cn, size_t cnlen, int *r)
{
	char err[512];

	*r = ESMPI_ERR_PROTOCOL;
	if (c->link_eph == NULL || share_from_pb(pb, p) != 0)
		return -1;
	p->link = 1;
	if (memcmp(p->job_id, c->job_id, ESMPI_JOB_ID_LEN) == 0 ||
	    memcmp(p->pub, c->link_pub, ESMPI_ECDH_PUB_LEN) == 0) {
		*r = esmpid_reply_error(c, ESMPI_ERR_INVALID, "link share is "
		    "this job's own: a link joins two jobs");
		return -1;
	}
	if ((*r = esmpid_jobkey_verify_share(d->id, p, 0, cn, cnlen, err,
	    sizeof(err))) != 0) {
		audit_peer_refused(c, p->rank, err);
		*r = esmpid_reply_error(c, *r, "the other job's rank %u "
		    "refused: %s", p->rank, err);
		return -1;
	}
	if (refuse_foreign_share(c, p, cn, "the other job's link share")) {
		*r = 0;
		return -1;
	}
	return 0;
}

static void
audit_link(struct esmpid_conn *c, const struct esmpi_share *p,
    const char *cn, const char *role)
{
	char peer[32], pjob[64], node[300];
	const char *extra[] = { peer, pjob, node, NULL };
	char hex[2 * ESMPI_JOB_ID_LEN + 1];
	int i;

	for (i = 0; i < ESMPI_JOB_ID_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", p->job_id[i]);
	snprintf(peer, sizeof(peer), "ESMPI_PEER=%u", p->rank);
	snprintf(pjob, sizeof(pjob), "ESMPI_PEER_JOB=%s", hex);
	snprintf(node, sizeof(node), "ESMPI_PEER_NODE=%s", cn);
	esmpid_audit(ESMPI_AUDIT_INFO, "link_keyed", c, extra,
	    "job %s rank %u: link with job %s rank %u (node '%s') keyed, "
	    "this side %s the link secret", c->job_hex, c->rank, hex, p->rank,
	    cn, role);
}

/*
 * Both shares of a link, the other one checked (link_peer), and whether
 * this side has the role it asks for: the lower point wraps, so both
 * sides know who without a message. 0 when good; otherwise *r.
 */
static int
link_sides(struct esmpid *d, struct esmpid_conn *c, const Esmpi__KeyShare *pb,
    int wraps, struct esmpi_share *self, struct esmpi_share *p, char *cn,
    size_t cnlen, int *r)
{
	if (link_peer(d, c, pb, p, cn, cnlen, r))
		return -1;
	link_self(c, self);
	if ((memcmp(self->pub, p->pub, ESMPI_ECDH_PUB_LEN) < 0) != wraps) {
		*r = esmpid_reply_error(c, ESMPI_ERR_INVALID, wraps ?
		    "this side's link share has the higher point: the other "
		    "side wraps" : "this side's link share has the lower "
		    "point: this side wraps");
		return -1;
	}
	return 0;
}

/* Send the reply carrying the link secret, wipe it, audit the link. */
static int
link_done(struct esmpid_conn *c, Esmpi__Reply *rep, uint8_t *secret,
    const struct esmpi_share *p, const char *cn, const char *role)
{
	int r;

	EVP_PKEY_free(c->link_eph);
	c->link_eph = NULL;
	r = esmpid_reply(c, rep);
	esmpi_memzero(secret, ESMPI_JOB_KEY_LEN);
	if (r == 0)
		audit_link(c, p, cn, role);
	return r;
}

static int
process_link_wrap(struct esmpid *d, struct esmpid_conn *c,
    const Esmpi__Request *req)
{
	Esmpi__Reply rep = ESMPI__REPLY__INIT;
	Esmpi__LinkWrapReply lr = ESMPI__LINK_WRAP_REPLY__INIT;
	struct esmpi_share self, p;
	uint8_t secret[ESMPI_JOB_KEY_LEN], ct[ESMPI_WRAPPED_LEN];
	char cn[256];
	int r;

	if (link_sides(d, c, req->link_wrap->peer, 1, &self, &p, cn,
	    sizeof(cn), &r))
		return r;
	if ((r = esmpi_random(secret, sizeof(secret))) != 0 ||
	    (r = esmpid_link_wrap(c->link_eph, &self, &p, secret, ct)) != 0) {
		esmpi_memzero(secret, sizeof(secret));
		return esmpid_reply_error(c, r, "cannot wrap the link secret");
	}
	lr.secret.data = secret;
	lr.secret.len = sizeof(secret);
	lr.wrapped.data = ct;
	lr.wrapped.len = sizeof(ct);
	rep.body_case = ESMPI__REPLY__BODY_LINK_WRAP;
	rep.link_wrap = &lr;
	return link_done(c, &rep, secret, &p, cn, "drew and wrapped");
}

static int
process_link_unwrap(struct esmpid *d, struct esmpid_conn *c,
    const Esmpi__Request *req)
{
	const Esmpi__LinkUnwrapRequest *u = req->link_unwrap;
	Esmpi__Reply rep = ESMPI__REPLY__INIT;
	Esmpi__LinkUnwrapReply lr = ESMPI__LINK_UNWRAP_REPLY__INIT;
	struct esmpi_share self, p;
	uint8_t secret[ESMPI_JOB_KEY_LEN];
	char cn[256];
	int r;

	if (u->wrapped.len != ESMPI_WRAPPED_LEN)
		return ESMPI_ERR_PROTOCOL;
	if (link_sides(d, c, u->peer, 0, &self, &p, cn, sizeof(cn), &r))
		return r;
	if (esmpid_link_unwrap(c->link_eph, &p, &self, u->wrapped.data,
	    secret) != 0) {
		audit_peer_refused(c, p.rank, "wrapped link secret does not "
		    "authenticate");
		return esmpid_reply_error(c, ESMPI_ERR_AUTH, "the link secret "
		    "wrapped by the other job's rank %u (node '%s') does not "
		    "authenticate", p.rank, cn);
	}
	lr.secret.data = secret;
	lr.secret.len = sizeof(secret);
	rep.body_case = ESMPI__REPLY__BODY_LINK_UNWRAP;
	rep.link_unwrap = &lr;
	return link_done(c, &rep, secret, &p, cn, "unwrapped");
}

/*
 * Rank certificate for a `sign` rule (PROTOCOL.md §6). Only a KEYED
 * session: its key share is the one rank 0's daemon wrapped the job key
 * for at position `rank`, so the rank number is the one the job gave this
 * process, not merely what its Hello claimed. One certificate per session.
 */
static int
process_certify(struct esmpid *d, struct esmpid_conn *c,
    const Esmpi__Request *req)
{
	const Esmpi__CertifyRequest *cr = req->certify;
	Esmpi__Reply rep = ESMPI__REPLY__INIT;
	Esmpi__RankCert rc = ESMPI__RANK_CERT__INIT;
	struct esmpi_sig_key *k = NULL;
	struct esmpi_rcert cert;
	uint8_t out[ESMPI_RCERT_MAX], *ca = NULL;
	size_t outlen = 0;
	uint64_t now = (uint64_t)time(NULL);
	int r, calen;

	if (c->certified)
		return ESMPI_ERR_PROTOCOL;
	if (cr->public_key.len != ESMPI_SIG_PUB_LEN ||
	    esmpi_sig_from_point(&k, cr->public_key.data) != 0)
		return esmpid_reply_error(c, ESMPI_ERR_INVALID,
		    "signing key is not a P-256 point");
	esmpi_sig_free(k);
	memset(&cert, 0, sizeof(cert));
	memcpy(cert.job, c->job_id, ESMPI_JOB_ID_LEN);
	cert.rank = c->rank;
	/* Some slack for clocks of other nodes that run a little behind. */
	cert.not_before = now - ESMPI_RCERT_SKEW;
	cert.not_after = now + ESMPI_RCERT_LIFETIME;
	snprintf(cert.node, sizeof(cert.node), "%.64s", d->id->name);
	memcpy(cert.pub, cr->public_key.data, ESMPI_SIG_PUB_LEN);
	if ((r = esmpi_rcert_issue(d->id->key, &cert, out, &outlen)) != 0)
		return esmpid_reply_error(c, r, "cannot certify signing key");
	if ((calen = i2d_X509(d->id->ca, &ca)) <= 0)
		return esmpid_reply_error(c, ESMPI_ERR_CRYPTO,
		    "cannot encode the CA certificate");
	rc.cert.data = out;
	rc.cert.len = outlen;
	rc.node_cert.data = d->id->cert_der;
	rc.node_cert.len = d->id->cert_der_len;
	rc.ca_cert.data = ca;
	rc.ca_cert.len = (size_t)calen;
	rep.body_case = ESMPI__REPLY__BODY_RANK_CERT;
	rep.rank_cert = &rc;
	if ((r = esmpid_reply(c, &rep)) == 0)
		c->certified = 1;
	OPENSSL_free(ca);
	return r;
}

static int
reply_ok(struct esmpid_conn *c, const char *msg)
{
	Esmpi__Reply rep = ESMPI__REPLY__INIT;
	Esmpi__Ok ok = ESMPI__OK__INIT;

	ok.message = (char *)msg;
	rep.body_case = ESMPI__REPLY__BODY_OK;
	rep.ok = &ok;
	return esmpid_reply(c, &rep);
}

/* Events a rank may report; anything else is a protocol violation. */
static const char *const client_events[] = {
	"integrity_failure", "replay_detected", "signature_invalid",
	"unprotected_call", "rekey", "audit_dropped", "policy_mismatch",
	"join_failed", "link_refused",
	NULL,
};

static int
process_audit(struct esmpid *d, struct esmpid_conn *c,
    const Esmpi__Request *req)
{
	const Esmpi__AuditReport *a = req->audit;
	char comm[96], peer[32], tag[32], suite[64], epoch[32];
	const char *extra[] = { comm, peer, tag, NULL, NULL, NULL };
	enum esmpid_audit_prio prio;
	int i, known = 0;

	for (i = 0; client_events[i] != NULL; i++)
		if (strcmp(a->event, client_events[i]) == 0)
			known = 1;
	if (!known)
		return ESMPI_ERR_PROTOCOL;
	c->audits++;
	if (strcmp(a->event, "rekey") == 0) {
		c->rekeys++;
		c->last_rekey = esmpid_now();
		if (a->epoch > c->epoch)
			c->epoch = a->epoch;
		snprintf(suite, sizeof(suite), "ESMPI_SUITE=%.40s", a->suite);
		snprintf(epoch, sizeof(epoch), "ESMPI_EPOCH=%u", a->epoch);
		extra[3] = suite;
		extra[4] = epoch;
	}
	snprintf(comm, sizeof(comm), "ESMPI_COMM=%.80s", a->comm);
	snprintf(peer, sizeof(peer), "ESMPI_PEER=%d", a->peer);
	snprintf(tag, sizeof(tag), "ESMPI_TAG=%d", a->tag);
	prio = strcmp(a->event, "rekey") == 0 ||
	    strcmp(a->event, "unprotected_call") == 0 ? ESMPI_AUDIT_NOTICE :
	    strcmp(a->event, "audit_dropped") == 0 ? ESMPI_AUDIT_WARNING :
	    ESMPI_AUDIT_CRIT;
	esmpid_audit(prio, a->event, c, extra, "job %s rank %u: %.300s",
	    c->job_hex, c->rank, a->detail);
	return reply_ok(c, "audited");
}

/*
 * The daemon never reads a file with more rights than the admin who asks:
 * esmpictl sends the policy and every project file it read, and only
 * those are parsed. Root may also name a path for the daemon to read
 * (StrictModes checks). Only root's loads are re-read on SIGHUP.
 */
static int
process_load_policy(struct esmpid *d, struct esmpid_conn *c,
    const Esmpi__Request *req)
{
	const Esmpi__LoadPolicy *lp = req->load_policy;
	struct esmpi_pol_files files = { .strict = 1 };
	char err[768], src[600], msg[700];
	const char *extra[] = { src, NULL };
	size_t i;
	int r = 0;

	if (lp->path == NULL || *lp->path != '/')
		return esmpid_reply_error(c, ESMPI_ERR_INVALID,
		    "policy path must be absolute");
	if (lp->text.len == 0 && c->uid != 0)
		return esmpid_reply_error(c, ESMPI_ERR_DENIED, "esmpid reads "
		    "policy files only for root: send the policy's content "
		    "(esmpictl policy load does)");
	if (lp->text.len != 0) {
		files.strict = 0;
		files.serve_only = 1;
		r = esmpi_pol_files_add(&files, lp->path,
		    (const char *)lp->text.data, lp->text.len);
		for (i = 0; r == 0 && i < lp->n_files; i++)
			r = esmpi_pol_files_add(&files, lp->files[i]->path,
			    (const char *)lp->files[i]->text.data,
			    lp->files[i]->text.len);
		if (r != 0) {
			esmpi_pol_files_free(&files);
			return esmpid_reply_error(c, r, "cannot take the "
			    "policy's files");
		}
	}
	snprintf(src, sizeof(src), "ESMPI_POLICY=%s", lp->path);
	r = esmpid_policy_swap(d, lp->path, &files, c->uid == 0, err,
	    sizeof(err));
	esmpi_pol_files_free(&files);
	if (r != 0) {
		esmpid_audit(ESMPI_AUDIT_ERR, "policy_rejected", c, extra,
		    "policy load refused, keeping the current policy: %s",
		    err);
		return esmpid_reply_error(c, ESMPI_ERR_POLICY, "%s", err);
	}
	esmpid_audit(ESMPI_AUDIT_NOTICE, "policy_loaded", c, extra,
	    "policy loaded from %s by uid %u", lp->path, (unsigned)c->uid);
	snprintf(msg, sizeof(msg), "policy loaded from %s", lp->path);
	return reply_ok(c, msg);
}

static int
process_show_policy(struct esmpid *d, struct esmpid_conn *c,
    const Esmpi__Request *req)
{
	Esmpi__Reply rep = ESMPI__REPLY__INIT;
	Esmpi__PolicyText pt = ESMPI__POLICY_TEXT__INIT;
	char *yaml = NULL;
	int r;

	if ((r = esmpi_pol_format(d->policy, &yaml)) != 0)
		return esmpid_reply_error(c, r, "cannot format policy");
	pt.source = d->policy->source;
	pt.yaml = yaml;
	rep.body_case = ESMPI__REPLY__BODY_POLICY;
	rep.policy = &pt;
	r = esmpid_reply(c, &rep);
	free(yaml);
	return r;
}

static const char *
state_name(enum esmpid_conn_state s)
{
	switch (s) {
	case SESS_NEW:		return "connecting";
	case SESS_OPEN:		return "open";
	case SESS_SHARED:	return "key-exchange";
	case SESS_KEYED:	return "keyed";
	case SESS_RESUMED:	return "resumed";
	}
	return "?";
}

static int
process_status(struct esmpid *d, struct esmpid_conn *c,
    const Esmpi__Request *req)
{
	Esmpi__Reply rep = ESMPI__REPLY__INIT;
	Esmpi__Status st = ESMPI__STATUS__INIT;
	Esmpi__SessionInfo *si = NULL, **sip = NULL;
	struct esmpid_conn *x;
	size_t n = 0;
	int r;

	for (x = d->conns; x != NULL; x = x->next)
		if (!x->dead && x->kind == CONN_CLIENT && x->state != SESS_NEW)
			n++;
	if ((si = calloc(n + 1, sizeof(*si))) == NULL ||
	    (sip = calloc(n + 1, sizeof(*sip))) == NULL) {
		free(si);
		return ESMPI_ERR_NOMEM;
	}
	n = 0;
	for (x = d->conns; x != NULL; x = x->next) {
		if (x->dead || x->kind != CONN_CLIENT || x->state == SESS_NEW)
			continue;
		esmpi__session_info__init(&si[n]);
		si[n].session_id = x->session_id;
		si[n].uid = x->uid;
		si[n].pid = (uint32_t)x->pid;
		si[n].job_id.data = x->job_id;
		si[n].job_id.len = ESMPI_JOB_ID_LEN;
		si[n].rank = x->rank;
		si[n].size = x->size;
		si[n].project = x->project;
		si[n].state = (char *)state_name(x->state);
		si[n].suite = (char *)esmpi_suite_name(x->suite);
		si[n].engine = x->engine;
		si[n].rekeys = x->rekeys;
		si[n].epoch = x->epoch;
		si[n].audits = x->audits;
		si[n].last_rekey_age = x->last_rekey ?
		    esmpid_now() - x->last_rekey + 1 : 0;
		sip[n] = &si[n];
		n++;
	}
	st.version = ESMPID_VERSION_STRING;
	st.node_name = d->id->name;
	st.node_cert_subject = d->id->name;
	st.node_cert_not_after = d->id->not_after;
	st.policy_source = d->policy->source;
	st.uptime_seconds = esmpid_now() - d->started;
	st.clients = (uint32_t)d->nclients;
	st.admins = (uint32_t)d->nadmins;
	st.sessions = sip;
	st.n_sessions = n;
	st.policy_loads = d->policy_loads;
	st.frames_rejected = d->frames_rejected;
	rep.body_case = ESMPI__REPLY__BODY_STATUS;
	rep.status = &st;
	r = esmpid_reply(c, &rep);
	free(si);
	free(sip);
	return r;
}

/*
 * New node identity for jobs that start afterwards. With the embedded
 * default (a local CA in the state directory) the daemon issues it itself;
 * otherwise it reloads what the admin enrolled into the state directory.
 * Running jobs keep their job keys: they never depend on the node key
 * after MPI_Init.
 */
static int
rotate_node_key(struct esmpid *d, char *err, size_t errlen)
{
	struct esmpi_identity *id = NULL;
	char cadir[4096], cakey[4200];
	int r;

	snprintf(cadir, sizeof(cadir), "%s/%s", d->opt.state_dir,
	    ESMPI_PKI_LOCAL_CA_DIR);
	snprintf(cakey, sizeof(cakey), "%s/%s", cadir, ESMPI_PKI_CA_KEY);
	if (access(cakey, R_OK) == 0 &&
	    (r = esmpi_pki_node_enroll(cadir, d->id->name, d->opt.state_dir,
	    err, errlen)) != 0)
		return r;
	if ((r = esmpi_pki_load_identity(d->opt.state_dir, &id, err,
	    errlen)) != 0)
		return r;
	esmpi_pki_identity_free(d->id);
	d->id = id;
	return 0;
}

/* Ask the ranks of one job (or all) to ratchet their keys forward. */
static int
process_rotate(struct esmpid *d, struct esmpid_conn *c,
    const Esmpi__Request *req)
{
	const Esmpi__Rotate *rot = req->rotate;
	Esmpi__Reply rep = ESMPI__REPLY__INIT;
	Esmpi__RekeyEvent ev = ESMPI__REKEY_EVENT__INIT;
	struct esmpid_conn *x;
	char msg[256], err[768], hexjob[2 * ESMPI_JOB_ID_LEN + 1] = "";
	char reason[64], job[64];
	const char *extra[] = { reason, job, NULL };
	struct esmpid_rotation *pend;
	unsigned n = 0;

	if (rot->node_key) {
		snprintf(reason, sizeof(reason), "ESMPI_REASON=node-key");
		extra[1] = NULL;
		if (rotate_node_key(d, err, sizeof(err)) != 0) {
			esmpid_audit(ESMPI_AUDIT_ERR, "key_rotated", c, extra,
			    "node key rotation failed, keeping the current "
			    "identity: %s", err);
			return esmpid_reply_error(c, ESMPI_ERR_KEYFILE, "%s",
			    err);
		}
		esmpid_audit(ESMPI_AUDIT_NOTICE, "key_rotated", c, extra, "node identity '%s' "
		    "rotated (certificate until %s); running jobs continue",
		    d->id->name, d->id->not_after);
		snprintf(msg, sizeof(msg), "node key rotated; new certificate "
		    "valid until %s", d->id->not_after);
		return reply_ok(c, msg);
	}
	if (!rot->all && rot->job_id.len != ESMPI_JOB_ID_LEN)
		return esmpid_reply_error(c, ESMPI_ERR_INVALID,
		    "rotate needs a 16-byte job id or --all");
	if (!rot->all)
		esmpi_hex(rot->job_id.data, ESMPI_JOB_ID_LEN, hexjob);
	/* Kept for ranks that are away now (daemon restart): see Hello. */
	pend = &d->rotations[d->next_rotation++ % ESMPID_PENDING_ROTATIONS];
	pend->all = rot->all;
	if (!rot->all)
		memcpy(pend->job_id, rot->job_id.data, ESMPI_JOB_ID_LEN);
	pend->at = esmpid_now();
	if (pend->at == 0)
		pend->at = 1;
	ev.reason = ESMPI_REKEY_ADMIN;
	rep.body_case = ESMPI__REPLY__BODY_REKEY;
	rep.rekey = &ev;
	for (x = d->conns; x != NULL; x = x->next) {
		/* A push that fails closes x: it is marked dead and freed
		 * after this event batch, so the walk goes on safely. */
		if (x->dead || x->kind != CONN_CLIENT || x->closing ||
		    (x->state != SESS_KEYED && x->state != SESS_RESUMED) ||
		    (!rot->all && memcmp(x->job_id,
		    rot->job_id.data, ESMPI_JOB_ID_LEN) != 0))
			continue;
		if (esmpid_reply(x, &rep) == 0 && esmpid_conn_flush(d, x) == 0)
			n++;
	}
	snprintf(reason, sizeof(reason), "ESMPI_REASON=admin");
	snprintf(job, sizeof(job), "ESMPI_JOB=%s", rot->all ? "all" : hexjob);
	esmpid_audit(ESMPI_AUDIT_NOTICE, "key_rotated", c, extra, "rekey requested by uid %u "
	    "for %s: pushed to %u ranks", (unsigned)c->uid,
	    rot->all ? "all jobs" : hexjob, n);
	snprintf(msg, sizeof(msg), "rekey pushed to %u ranks", n);
	return reply_ok(c, msg);
}

static int
process_goodbye(struct esmpid *d, struct esmpid_conn *c,
    const Esmpi__Request *req)
{
	(void)d;
	(void)req;
	c->closing = 1;
	c->close_why = "finalize";
	return reply_ok(c, "goodbye");
}

#define ST(s)		(1u << (s))
#define AFTER_HELLO	(ST(SESS_OPEN) | ST(SESS_SHARED) | ST(SESS_KEYED) | \
			ST(SESS_RESUMED))

/*
 * Every request: the socket it may arrive on, the client session states
 * it needs (admin requests have no session), its handler. Anything else
 * is a protocol violation (proto/PROTOCOL.md §3, §4).
 */
static const struct request_kind {
	Esmpi__Request__BodyCase body;
	enum esmpid_conn_kind socket;
	unsigned states;
	int (*handler)(struct esmpid *, struct esmpid_conn *,
	    const Esmpi__Request *);
} request_kinds[] = {
	{ ESMPI__REQUEST__BODY_HELLO, CONN_CLIENT, ST(SESS_NEW),
	    process_hello },
	{ ESMPI__REQUEST__BODY_KEY_SHARE, CONN_CLIENT, ST(SESS_OPEN),
	    process_key_share },
	{ ESMPI__REQUEST__BODY_WRAP, CONN_CLIENT, ST(SESS_SHARED),
	    process_wrap },
	{ ESMPI__REQUEST__BODY_UNWRAP, CONN_CLIENT, ST(SESS_SHARED),
	    process_unwrap },
	{ ESMPI__REQUEST__BODY_CERTIFY, CONN_CLIENT, ST(SESS_KEYED),
	    process_certify },
	{ ESMPI__REQUEST__BODY_LINK_SHARE, CONN_CLIENT, ST(SESS_KEYED),
	    process_link_share },
	{ ESMPI__REQUEST__BODY_LINK_WRAP, CONN_CLIENT, ST(SESS_KEYED),
	    process_link_wrap },
	{ ESMPI__REQUEST__BODY_LINK_UNWRAP, CONN_CLIENT, ST(SESS_KEYED),
	    process_link_unwrap },
	{ ESMPI__REQUEST__BODY_AUDIT, CONN_CLIENT, AFTER_HELLO,
	    process_audit },
	{ ESMPI__REQUEST__BODY_GOODBYE, CONN_CLIENT, AFTER_HELLO,
	    process_goodbye },
	{ ESMPI__REQUEST__BODY_LOAD_POLICY, CONN_ADMIN, 0,
	    process_load_policy },
	{ ESMPI__REQUEST__BODY_SHOW_POLICY, CONN_ADMIN, 0,
	    process_show_policy },
	{ ESMPI__REQUEST__BODY_STATUS, CONN_ADMIN, 0, process_status },
	{ ESMPI__REQUEST__BODY_ROTATE, CONN_ADMIN, 0, process_rotate },
};

int
esmpid_dispatch(struct esmpid *d, struct esmpid_conn *c, const uint8_t *body,
    size_t len)
{
	const struct request_kind *k = NULL;
	Esmpi__Request *req = NULL;
	size_t i;
	int r;

	if ((r = esmpi_frame_decode_request(body, len, &req)) != 0)
		return r;
	for (i = 0; i < sizeof(request_kinds) / sizeof(request_kinds[0]); i++)
		if (request_kinds[i].body == req->body_case)
			k = &request_kinds[i];
	if (k == NULL || k->socket != c->kind ||
	    (k->socket == CONN_CLIENT && !(k->states & ST(c->state))))
		r = ESMPI_ERR_PROTOCOL;
	else
		r = k->handler(d, c, req);
	esmpi__request__free_unpacked(req, NULL);
	return r;
}
