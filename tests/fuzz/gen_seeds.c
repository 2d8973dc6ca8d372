/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes the seed corpora of fuzz_dispatch, fuzz_reply and fuzz_record
 * (fuzz_policy's seeds are policy files, copied by hand). Run from the
 * fuzz build when the protocol or the record format changes:
 *   cmake --build build-fuzz --target fuzz_gen_seeds
 *   build-fuzz/tests/fuzz/fuzz_gen_seeds tests/fuzz/corpus
 * Certificates come from a throwaway CA, so every run writes different
 * bytes for the seeds that carry one; commit only what changed on purpose.
 */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_frame.h"
#include "esmpi_limits.h"
#include "esmpi_pki.h"
#include "esmpi_record.h"

static const char *outdir;

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_gen_seeds: %s\n", what);
	exit(1);
}

static void
write_seed(const char *target, const char *name, const uint8_t *p,
    size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    (len > 0 && fwrite(p, 1, len, f) != len) || fclose(f) != 0)
		die(path);
}

/* --- a growing byte string --- */

struct bytes {
	uint8_t d[16384];
	size_t len;
};

static void
put(struct bytes *b, const void *p, size_t len)
{
	if (b->len + len > sizeof(b->d))
		die("seed too large");
	memcpy(b->d + b->len, p, len);
	b->len += len;
}

static void
put_u8(struct bytes *b, uint8_t v)
{
	put(b, &v, 1);
}

/* A message as a frame body (pass 1) or a whole frame (pass 2). */
static void
put_msg(struct bytes *b, const ProtobufCMessage *m, int framed)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	if (esmpi_frame_pack(m, &buf, &len) != 0)
		die("pack");
	if (framed)
		put(b, buf, len);
	else
		put(b, buf + ESMPI_FRAME_HDR_LEN, len - ESMPI_FRAME_HDR_LEN);
	free(buf);
}

/* --- daemon requests --- */

/* fuzz_dispatch.c's control byte and pass-1 session */
#define CTL_ADMIN	0x01
#define CTL_OPEN	0x02
#define CTL_SHARED	0x04
#define CTL_KEYED	0x06
#define CTL_RANK1	0x08
#define CTL_WRAPPED	0x10

static uint8_t job_id[16];
static uint8_t g_point[65] = {	/* fuzz_dispatch.c's session share */
	0x04,
	0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47,
	0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
	0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0,
	0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
	0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b,
	0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
	0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce,
	0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
};

static struct esmpi_identity *foreign;	/* signs shares; not the daemon's CA */
static char tmpdir[] = "/tmp/esmpi-gen-seeds.XXXXXX";

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
make_foreign_identity(void)
{
	char dir[256], err[512];
	int created;

	if (mkdtemp(tmpdir) == NULL)
		die("mkdtemp");
	snprintf(dir, sizeof(dir), "%s/state", tmpdir);
	if (esmpi_pki_ensure_default(dir, "other-node", &created, err,
	    sizeof(err)) != 0 ||
	    esmpi_pki_load_identity(dir, &foreign, err, sizeof(err)) != 0)
		die(err);
}

/* A share as a rank's daemon signs it (jobkey.c share_transcript). */
struct share {
	Esmpi__KeyShare pb;
	uint8_t *sig;
};

static void
make_share(struct share *s, uint32_t rank, const uint8_t pub[65])
{
	static const char label[] = "esmpi key share v1";
	uint8_t t[sizeof(label) + 16 + 4 + 65], *p = t;
	size_t sig_len = 0;

	memcpy(p, label, sizeof(label));
	p += sizeof(label);
	memcpy(p, job_id, 16);
	p += 16;
	p[0] = (uint8_t)(rank >> 24);
	p[1] = (uint8_t)(rank >> 16);
	p[2] = (uint8_t)(rank >> 8);
	p[3] = (uint8_t)rank;
	p += 4;
	memcpy(p, pub, 65);
	if (esmpi_pki_sign(foreign->key, t, sizeof(t), &s->sig,
	    &sig_len) != 0)
		die("sign");
	esmpi__key_share__init(&s->pb);
	s->pb.job_id.data = job_id;
	s->pb.job_id.len = sizeof(job_id);
	s->pb.rank = rank;
	s->pb.ecdh_public.data = (uint8_t *)pub;
	s->pb.ecdh_public.len = 65;
	s->pb.node_cert.data = foreign->cert_der;
	s->pb.node_cert.len = foreign->cert_der_len;
	s->pb.signature.data = s->sig;
	s->pb.signature.len = sig_len;
}

static struct share share0, share1;
static uint8_t pub1[65];

static void
req_hello(Esmpi__Request *req, Esmpi__Hello *h, uint32_t rank,
    const char *project)
{
	esmpi__request__init(req);
	esmpi__hello__init(h);
	req->version = ESMPI_PROTO_VERSION;
	h->version = ESMPI_PROTO_VERSION;
	h->project = (char *)project;
	h->job_id.data = job_id;
	h->job_id.len = sizeof(job_id);
	h->rank = rank;
	h->size = 2;
	h->host = "node1";
	req->body_case = ESMPI__REQUEST__BODY_HELLO;
	req->hello = h;
}

/* Append one request of the given kind to b. */
static void
put_request(struct bytes *b, int framed, const char *what, uint32_t rank)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__Hello h;
	Esmpi__KeyShareRequest ks = ESMPI__KEY_SHARE_REQUEST__INIT;
	Esmpi__WrapJobKeyRequest w = ESMPI__WRAP_JOB_KEY_REQUEST__INIT;
	Esmpi__UnwrapJobKeyRequest u = ESMPI__UNWRAP_JOB_KEY_REQUEST__INIT;
	Esmpi__WrappedKey wk = ESMPI__WRAPPED_KEY__INIT;
	Esmpi__Goodbye bye = ESMPI__GOODBYE__INIT;
	Esmpi__AuditReport a = ESMPI__AUDIT_REPORT__INIT;
	Esmpi__LoadPolicy lp = ESMPI__LOAD_POLICY__INIT;
	Esmpi__ShowPolicy sp = ESMPI__SHOW_POLICY__INIT;
	Esmpi__StatusRequest st = ESMPI__STATUS_REQUEST__INIT;
	Esmpi__Rotate rot = ESMPI__ROTATE__INIT;
	Esmpi__KeyShare *shares[2] = { &share0.pb, &share1.pb };
	static uint8_t wrapped[48];

	req.version = ESMPI_PROTO_VERSION;
	if (strcmp(what, "hello") == 0)
		req_hello(&req, &h, rank, "");
	else if (strcmp(what, "hello-project") == 0)
		req_hello(&req, &h, rank, "climate");
	else if (strcmp(what, "hello-v2") == 0) {
		req_hello(&req, &h, rank, "");
		h.version = 2;
	} else if (strcmp(what, "key-share") == 0) {
		req.body_case = ESMPI__REQUEST__BODY_KEY_SHARE;
		req.key_share = &ks;
	} else if (strcmp(what, "wrap") == 0) {
		w.shares = shares;
		w.n_shares = 2;
		req.body_case = ESMPI__REQUEST__BODY_WRAP;
		req.wrap = &w;
	} else if (strcmp(what, "unwrap") == 0) {
		memset(wrapped, 0x77, sizeof(wrapped));
		wk.rank = rank;
		wk.ciphertext.data = wrapped;
		wk.ciphertext.len = sizeof(wrapped);
		u.root_share = &share0.pb;
		u.key = &wk;
		req.body_case = ESMPI__REQUEST__BODY_UNWRAP;
		req.unwrap = &u;
	} else if (strcmp(what, "goodbye") == 0) {
		req.body_case = ESMPI__REQUEST__BODY_GOODBYE;
		req.goodbye = &bye;
	} else if (strcmp(what, "audit") == 0) {
		a.event = "integrity_failure";
		a.comm = "MPI_COMM_WORLD";
		a.peer = 1;
		a.tag = 7;
		a.detail = "record from rank 1 did not authenticate";
		req.body_case = ESMPI__REQUEST__BODY_AUDIT;
		req.audit = &a;
	} else if (strcmp(what, "load-policy") == 0) {
		lp.path = "/nonexistent/esmpi/policy.yaml";
		req.body_case = ESMPI__REQUEST__BODY_LOAD_POLICY;
		req.load_policy = &lp;
	} else if (strcmp(what, "load-policy-relative") == 0) {
		lp.path = "policy.yaml";
		req.body_case = ESMPI__REQUEST__BODY_LOAD_POLICY;
		req.load_policy = &lp;
	} else if (strcmp(what, "show-policy") == 0) {
		req.body_case = ESMPI__REQUEST__BODY_SHOW_POLICY;
		req.show_policy = &sp;
	} else if (strcmp(what, "status") == 0) {
		req.body_case = ESMPI__REQUEST__BODY_STATUS;
		req.status = &st;
	} else if (strncmp(what, "rotate", 6) == 0) {
		if (strcmp(what, "rotate-job") == 0) {
			rot.job_id.data = job_id;
			rot.job_id.len = sizeof(job_id);
		} else
			rot.all = 1;
		req.body_case = ESMPI__REQUEST__BODY_ROTATE;
		req.rotate = &rot;
	} else
		die(what);
	put_msg(b, &req.base, framed);
}

static void
dispatch_body(const char *name, uint8_t ctl, const char *what)
{
	struct bytes b = { .len = 0 };

	put_u8(&b, ctl);
	put_request(&b, 0, what, ctl & CTL_RANK1 ? 1 : 0);
	write_seed("fuzz_dispatch", name, b.d, b.len);
}

/* A stream of frames: a NULL-terminated list of requests. */
static void
dispatch_stream(const char *name, uint8_t ctl, uint32_t rank, ...)
{
	struct bytes b = { .len = 0 };
	const char *what;
	va_list ap;

	put_u8(&b, ctl);
	va_start(ap, rank);
	while ((what = va_arg(ap, const char *)) != NULL)
		put_request(&b, 1, what, rank);
	va_end(ap);
	write_seed("fuzz_dispatch", name, b.d, b.len);
}

static void
dispatch_seeds(void)
{
	struct bytes b = { .len = 0 };
	static const uint8_t huge[] = { 0x00, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t max[] = { 0x00, 0x00, 0x80, 0x00, 0x01 };

	dispatch_body("body-hello", 0, "hello");
	dispatch_body("body-hello-project", 0, "hello-project");
	dispatch_body("body-hello-v2", 0, "hello-v2");
	dispatch_body("body-key-share", CTL_OPEN, "key-share");
	dispatch_body("body-wrap", CTL_SHARED, "wrap");
	dispatch_body("body-wrap-again", CTL_SHARED | CTL_WRAPPED, "wrap");
	dispatch_body("body-unwrap", CTL_SHARED | CTL_RANK1, "unwrap");
	dispatch_body("body-unwrap-root", CTL_SHARED | CTL_WRAPPED, "unwrap");
	dispatch_body("body-audit", CTL_OPEN, "audit");
	dispatch_body("body-goodbye", CTL_KEYED, "goodbye");
	dispatch_body("body-status", CTL_ADMIN, "status");
	dispatch_body("body-show-policy", CTL_ADMIN, "show-policy");
	dispatch_body("body-load-policy", CTL_ADMIN, "load-policy");
	dispatch_body("body-load-relative", CTL_ADMIN,
	    "load-policy-relative");
	dispatch_body("body-rotate", CTL_ADMIN, "rotate");
	dispatch_body("body-rotate-job", CTL_ADMIN, "rotate-job");
	dispatch_body("body-status-on-client", 0, "status");

	dispatch_stream("stream-rank0", 0, 0, "hello", "key-share", "wrap",
	    "goodbye", NULL);
	dispatch_stream("stream-rank1", 0, 1, "hello", "key-share", "unwrap",
	    "audit", "goodbye", NULL);
	dispatch_stream("stream-twice", 0, 0, "hello", "hello", NULL);
	dispatch_stream("stream-admin", CTL_ADMIN, 0, "status", "show-policy",
	    "load-policy", "rotate", "status", NULL);
	write_seed("fuzz_dispatch", "stream-huge-prefix", huge, sizeof(huge));
	write_seed("fuzz_dispatch", "stream-max-prefix", max, sizeof(max));

	/* A frame cut short. */
	put_u8(&b, 0);
	put_request(&b, 1, "hello", 0);
	b.len -= 3;
	write_seed("fuzz_dispatch", "stream-truncated", b.d, b.len);
}

/* --- daemon replies --- */

static void
reply_seed(const char *name, Esmpi__Reply *rep)
{
	struct bytes b = { .len = 0 };

	if (rep->version == 0)
		rep->version = ESMPI_PROTO_VERSION;
	put_msg(&b, &rep->base, 0);
	write_seed("fuzz_reply", name, b.d, b.len);
}

static void
settings(Esmpi__SuiteSettings *s, uint32_t suite)
{
	esmpi__suite_settings__init(s);
	s->suite = suite;
	s->rekey_messages = 1u << 30;
	s->rekey_bytes = 64ULL << 30;
	s->rekey_seconds = 3600;
}

static void
reply_seeds(void)
{
	Esmpi__Reply rep;
	Esmpi__HelloReply hr = ESMPI__HELLO_REPLY__INIT;
	Esmpi__SuiteSettings defs, set[4];
	Esmpi__Rule rules[4], *rulep[4];
	Esmpi__TagRange tr[3], *trp[3];
	Esmpi__WrapJobKeyReply wr = ESMPI__WRAP_JOB_KEY_REPLY__INIT;
	Esmpi__WrappedKey wk[2], *wkp[2];
	Esmpi__UnwrapJobKeyReply ur = ESMPI__UNWRAP_JOB_KEY_REPLY__INIT;
	Esmpi__Error e = ESMPI__ERROR__INIT;
	Esmpi__Ok ok = ESMPI__OK__INIT;
	Esmpi__PolicyText pt = ESMPI__POLICY_TEXT__INIT;
	Esmpi__Status st = ESMPI__STATUS__INIT;
	Esmpi__SessionInfo si[2], *sip[2];
	Esmpi__RekeyEvent rk = ESMPI__REKEY_EVENT__INIT;
	static uint8_t ct[2][48], key[32];
	static const char *const globs[] = { "halo*", "", "MPI_COMM_WORLD",
	    "[a-c]?*" };
	size_t i;

	settings(&defs, ESMPI_SUITE_AES_256_GCM);
	for (i = 0; i < 3; i++) {
		esmpi__tag_range__init(&tr[i]);
		tr[i].lo = (int32_t)(100 * i);
		tr[i].hi = (int32_t)(100 * i + 99);
		trp[i] = &tr[i];
	}
	for (i = 0; i < 4; i++) {
		esmpi__rule__init(&rules[i]);
		settings(&set[i], 1 + i % 3);
		rules[i].name = i == 0 ? "halo" : i == 1 ? "control" :
		    i == 2 ? "world" : "glob";
		rules[i].comm = (char *)globs[i];
		rules[i].tags = i == 1 ? trp : NULL;
		rules[i].n_tags = i == 1 ? 3 : 0;
		rules[i].settings = &set[i];
		rulep[i] = &rules[i];
	}
	hr.version = ESMPI_PROTO_VERSION;
	hr.session_id = 1;
	hr.defaults = &defs;
	hr.rules = rulep;
	hr.n_rules = 4;
	hr.policy_source = "/etc/esmpi/policy.yaml";
	esmpi__reply__init(&rep);
	rep.body_case = ESMPI__REPLY__BODY_HELLO;
	rep.hello = &hr;
	reply_seed("hello-rules", &rep);
	hr.n_rules = 0;
	reply_seed("hello-defaults", &rep);
	hr.n_rules = 4;
	set[2].suite = 9;
	reply_seed("hello-bad-suite", &rep);
	set[2].suite = 3;
	hr.defaults = NULL;
	reply_seed("hello-no-defaults", &rep);

	esmpi__reply__init(&rep);
	rep.body_case = ESMPI__REPLY__BODY_KEY_SHARE;
	rep.key_share = &share0.pb;
	reply_seed("key-share", &rep);

	for (i = 0; i < 2; i++) {
		esmpi__wrapped_key__init(&wk[i]);
		memset(ct[i], (int)(0x30 + i), sizeof(ct[i]));
		wk[i].rank = (uint32_t)i;
		wk[i].ciphertext.data = ct[i];
		wk[i].ciphertext.len = sizeof(ct[i]);
		wkp[i] = &wk[i];
	}
	wr.keys = wkp;
	wr.n_keys = 2;
	esmpi__reply__init(&rep);
	rep.body_case = ESMPI__REPLY__BODY_WRAP;
	rep.wrap = &wr;
	reply_seed("wrap", &rep);

	memset(key, 0x4b, sizeof(key));
	ur.job_key.data = key;
	ur.job_key.len = sizeof(key);
	esmpi__reply__init(&rep);
	rep.body_case = ESMPI__REPLY__BODY_UNWRAP;
	rep.unwrap = &ur;
	reply_seed("unwrap", &rep);

	e.code = ESMPI_ERR_DENIED;
	e.message = "access denied: uid 1000 is not allowed by the policy's "
	    "access list";
	esmpi__reply__init(&rep);
	rep.body_case = ESMPI__REPLY__BODY_ERROR;
	rep.error = &e;
	reply_seed("error", &rep);

	ok.message = "goodbye";
	esmpi__reply__init(&rep);
	rep.body_case = ESMPI__REPLY__BODY_OK;
	rep.ok = &ok;
	reply_seed("ok", &rep);

	pt.source = "<embedded>";
	pt.yaml = "version: 1\naccess:\n  users: [\"root\"]\n";
	esmpi__reply__init(&rep);
	rep.body_case = ESMPI__REPLY__BODY_POLICY;
	rep.policy = &pt;
	reply_seed("policy", &rep);

	for (i = 0; i < 2; i++) {
		esmpi__session_info__init(&si[i]);
		si[i].session_id = i + 1;
		si[i].uid = 1000;
		si[i].pid = (uint32_t)(4000 + i);
		si[i].job_id.data = job_id;
		si[i].job_id.len = sizeof(job_id);
		si[i].rank = (uint32_t)i;
		si[i].size = 2;
		si[i].project = "";
		si[i].state = "keyed";
		sip[i] = &si[i];
	}
	st.version = "0.1.0";
	st.node_name = "node1";
	st.policy_source = "<embedded>";
	st.uptime_seconds = 42;
	st.clients = 2;
	st.sessions = sip;
	st.n_sessions = 2;
	st.node_cert_subject = "node1";
	st.node_cert_not_after = "Jan  1 00:00:00 2030 GMT";
	esmpi__reply__init(&rep);
	rep.body_case = ESMPI__REPLY__BODY_STATUS;
	rep.status = &st;
	reply_seed("status", &rep);

	rk.reason = ESMPI_REKEY_ADMIN;
	rk.min_epoch = 2;
	esmpi__reply__init(&rep);
	rep.body_case = ESMPI__REPLY__BODY_REKEY;
	rep.rekey = &rk;
	reply_seed("rekey", &rep);

	esmpi__reply__init(&rep);
	rep.version = 2;
	rep.body_case = ESMPI__REPLY__BODY_OK;
	rep.ok = &ok;
	reply_seed("version-2", &rep);
}

/* --- records (fuzz_record.c's keys and AAD) --- */

static const struct esmpi_rec_aad rec_aad = {
	.job = { 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	    0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a },
	.src = 1,
	.dst = 2,
	.comm = 0x100000002ULL,
	.tag = 17,
	.coll_seq = 0,
};

static void
record_seed(const char *name, int suite, uint16_t flags, uint64_t seq,
    size_t len)
{
	const struct esmpi_suite_info *s = esmpi_suite_by_id(suite);
	struct esmpi_aead *k = NULL;
	struct esmpi_rec_hdr h;
	uint8_t key[ESMPI_AEAD_MAX_KEY_LEN], pt[256], out[256 + 40];
	size_t i;

	memset(key, 0x42, sizeof(key));
	if (s == NULL || len > sizeof(pt) ||
	    esmpi_aead_new(&k, suite, key, s->key_len) != 0)
		die("record key");
	for (i = 0; i < len; i++)
		pt[i] = (uint8_t)(i * 7 + 1);
	memset(&h, 0, sizeof(h));
	h.version = ESMPI_REC_VERSION;
	h.suite = (uint8_t)suite;
	h.flags = flags;
	h.epoch = 3;
	h.seq = seq;
	h.length = len;
	if (esmpi_rec_seal(k, &h, &rec_aad, pt, len, out) != 0)
		die("seal");
	esmpi_aead_free(k);
	write_seed("fuzz_record", name, out, len + ESMPI_REC_OVERHEAD);
}

static void
record_seeds(void)
{
	/* Replay-window programs: op byte, then operands (fuzz_replay). */
	static const uint8_t replay_slide[] = {
		0x06, 0x00, 0x00, 0x04, 0x00, 0x10, 0x04, 0x07, 0xc0,
		0x05, 0x00, 0x00, 0x05, 0x00, 0x01, 0x04, 0xff, 0xff,
		0x04, 0x00, 0x01, 0x00, 0x00, 0x01,
	};
	static const uint8_t replay_abs[] = {
		0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
		0x06, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x07, 0x00, 0x00, 0x07, 0xff, 0xff, 0x05, 0x00, 0x40,
	};
	static const uint8_t short_hdr[] = { 1, 2, 0, 0, 0, 0, 0, 3 };
	uint8_t bad[64];

	record_seed("aes128-empty", ESMPI_SUITE_AES_128_GCM, 0, 0, 0);
	record_seed("aes128-16", ESMPI_SUITE_AES_128_GCM, 0, 1, 16);
	record_seed("aes256-1", ESMPI_SUITE_AES_256_GCM, 0, 1000, 1);
	record_seed("aes256-200", ESMPI_SUITE_AES_256_GCM, 0, 7, 200);
	record_seed("aes256-coll", ESMPI_SUITE_AES_256_GCM,
	    ESMPI_REC_F_COLL, 2, 33);
	record_seed("chacha-64", ESMPI_SUITE_CHACHA20_POLY1305, 0, 5, 64);
	record_seed("chacha-last-seq", ESMPI_SUITE_CHACHA20_POLY1305, 0,
	    ESMPI_REJECT_AFTER_MESSAGES - 1, 8);
	write_seed("fuzz_record", "replay-slide", replay_slide,
	    sizeof(replay_slide));
	write_seed("fuzz_record", "replay-abs", replay_abs,
	    sizeof(replay_abs));
	write_seed("fuzz_record", "short-header", short_hdr,
	    sizeof(short_hdr));
	memset(bad, 0, sizeof(bad));
	bad[0] = 1;
	bad[1] = 2;
	bad[23] = 24;	/* length 24 + 40 = 64 bytes */
	write_seed("fuzz_record", "zero-tag", bad, sizeof(bad));
}

int
main(int argc, char **argv)
{
	EVP_PKEY *k;
	size_t len = 0;
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_gen_seeds CORPUS-DIR\n");
		return 2;
	}
	outdir = argv[1];
	for (i = 0; i < sizeof(job_id); i++)
		job_id[i] = (uint8_t)(0x11 * (i + 1));	/* fuzz_dispatch.c */
	make_foreign_identity();
	if ((k = EVP_EC_gen("P-256")) == NULL ||
	    EVP_PKEY_get_octet_string_param(k, "pub", pub1, sizeof(pub1),
	    &len) != 1 || len != sizeof(pub1))
		die("ecdh key");
	EVP_PKEY_free(k);
	make_share(&share0, 0, g_point);
	make_share(&share1, 1, pub1);

	dispatch_seeds();
	reply_seeds();
	record_seeds();

	free(share0.sig);
	free(share1.sig);
	esmpi_pki_identity_free(foreign);
	(void)nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
