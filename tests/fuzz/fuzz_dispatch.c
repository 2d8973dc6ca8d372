/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's request path: frame decoding, protobuf decoding and the
 * dispatcher (daemon/dispatch.c), run in process against a real node
 * identity (made once in a temporary state directory) and the embedded
 * default policy.
 *
 * Input: one control byte, then the rest (R).
 *   bit 0    the connection is an admin one (else a client one)
 *   bits 1-2 session state for pass 1: new, open, shared (an ephemeral
 *            key issued), keyed
 *   bit 3    pass 1 session is rank 1 of 2 (else rank 0 of 2)
 *   bit 4    pass 1 session has already wrapped (rank 0)
 * Pass 1 hands R to esmpid_dispatch() as one frame body, on a connection
 * in the chosen state. Pass 2 writes R into a socketpair and reads it back
 * with esmpi_frame_rx_read()/esmpi_frame_rx_next() as server.c's
 * conn_readable() does, dispatching frame after frame on a new connection
 * until an error or the connection closes, so R may be a whole session
 * (Hello, KeyShare, Wrap, ...).
 *
 * A keyed client session of another job-mate (job id 11 22 .. ff 10)
 * stays on the daemon's list throughout, over a socketpair, so Status
 * lists it and Rotate pushes a RekeyEvent to it.
 *
 * Pass-1 sessions in the shared state hold a fixed ephemeral key (private
 * scalar 1, so the public point is the P-256 base point G): a seed can
 * then carry this session's own share and get a Wrap past the first check.
 *
 * Audit records and log lines go to stderr; they are discarded unless
 * ESMPI_FUZZ_VERBOSE is set (sanitizer and libFuzzer reports are not).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "esmpi_bytes.h"
#include "esmpi_err.h"
#include "esmpi_frame.h"
#include "esmpi_mem.h"
#include "esmpi_pki.h"
#include "esmpi_policy.h"
#include "esmpid.h"
#include "jobkey.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CTL_ADMIN	0x01
#define CTL_STATE(b)	(((b) >> 1) & 3)
#define CTL_RANK1	0x08
#define CTL_WRAPPED	0x10

/* Frames one connection may carry in pass 2 before we stop. */
#define MAX_FRAMES	64

static struct esmpid dmn;
static char statedir[PATH_MAX];
static char user[256];
static EVP_PKEY *eph;			/* shared by pass-1 sessions */

/* The P-256 base point, uncompressed (SEC 2 §2.4.2). */
static const uint8_t eph_pub[ESMPI_ECDH_PUB_LEN] = {
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
static FILE *msgs;			/* the real stderr */
static struct esmpid_conn *bystander;
static int bystander_peer = -1;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(msgs, "fuzz_dispatch: %s:%d: check failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
cleanup(void)
{
	if (statedir[0] != '\0')
		(void)nftw(statedir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The ephemeral key with private scalar 1 and public point eph_pub. */
static EVP_PKEY *
fixed_ephemeral(void)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;
	BIGNUM *one = BN_new();

	if (bld == NULL || one == NULL || BN_set_word(one, 1) != 1 ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, one) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    eph_pub, sizeof(eph_pub)) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_KEYPAIR, params) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(one);
	return k;
}

static void
load_default_policy(void)
{
	esmpi_pol_free(dmn.policy);
	dmn.policy = NULL;
	free(dmn.policy_file);
	dmn.policy_file = NULL;
	dmn.policy_loads = 0;
	CHECK(esmpi_pol_default(user, &dmn.policy) == 0);
}

static struct esmpid_conn *conn_new(enum esmpid_conn_kind kind);
static void conn_set_state(struct esmpid_conn *c, uint8_t ctl);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	struct passwd *pw;
	char err[512];
	int created = 0, sv[2];
	FILE *null;

	msgs = stderr;
	if (getenv("ESMPI_FUZZ_VERBOSE") == NULL &&
	    (null = fopen("/dev/null", "w")) != NULL)
		stderr = null;	/* audit.c and esmpi_log write here */

	snprintf(statedir, sizeof(statedir), "%s/esmpi-fuzz-state.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(statedir) == NULL) {
		fprintf(msgs, "fuzz_dispatch: mkdtemp: %s\n", strerror(errno));
		abort();
	}
	atexit(cleanup);
	if (esmpi_pki_ensure_default(statedir, "fuzz-node", &created, err,
	    sizeof(err)) != 0 ||
	    esmpi_pki_load_identity(statedir, &dmn.id, err,
	    sizeof(err)) != 0) {
		fprintf(msgs, "fuzz_dispatch: identity: %s\n", err);
		abort();
	}
	pw = getpwuid(getuid());
	snprintf(user, sizeof(user), "%s", pw != NULL ? pw->pw_name : "root");
	load_default_policy();
	dmn.opt.state_dir = statedir;
	dmn.opt.max_clients = ESMPID_MAX_CLIENTS;
	dmn.admin_gid = (gid_t)-1;
	dmn.epfd = dmn.client_lfd = dmn.admin_lfd = -1;
	dmn.sigfd = dmn.timerfd = -1;
	dmn.started = esmpid_now();
	dmn.running = 1;
	CHECK((eph = fixed_ephemeral()) != NULL);

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, sv) == 0);
	bystander = conn_new(CONN_CLIENT);
	bystander->fd = sv[0];
	bystander_peer = sv[1];
	conn_set_state(bystander, SESS_KEYED << 1);
	return 0;
}

/* Read what the daemon sent the bystander; it must still be there. */
static void
bystander_drain(void)
{
	uint8_t buf[4096];

	CHECK(dmn.conns == bystander && bystander->next == NULL &&
	    bystander->prev == NULL);
	CHECK(dmn.nclients == 1 && dmn.nadmins == 0);
	while (read(bystander_peer, buf, sizeof(buf)) > 0)
		;
	esmpi_freezero(bystander->tx, bystander->tx_cap);
	bystander->tx = NULL;
	bystander->tx_len = bystander->tx_off = bystander->tx_cap = 0;
}

static struct esmpid_conn *
conn_new(enum esmpid_conn_kind kind)
{
	struct esmpid_conn *c;

	CHECK((c = calloc(1, sizeof(*c))) != NULL);
	c->fd = -1;
	c->kind = kind;
	c->uid = getuid();
	c->gid = getgid();
	c->pid = getpid();
	c->opened = esmpid_now();
	esmpi_frame_rx_init(&c->rx);
	/* On the daemon's list, so Status reports it. */
	c->next = dmn.conns;
	if (dmn.conns != NULL)
		dmn.conns->prev = c;
	dmn.conns = c;
	if (kind == CONN_CLIENT)
		dmn.nclients++;
	else
		dmn.nadmins++;
	return c;
}

/* server.c conn_close() without the socket and the audit. */
static void
conn_free(struct esmpid_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		dmn.conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->kind == CONN_CLIENT)
		dmn.nclients--;
	else
		dmn.nadmins--;
	CHECK(c->tx_off <= c->tx_len && c->tx_len <= ESMPID_TX_MAX);
	esmpid_conn_release(c);
	esmpi_freezero(c, sizeof(*c));
}

/* A client session as if Hello (and KeyShare) had been done. */
static void
conn_set_state(struct esmpid_conn *c, uint8_t ctl)
{
	int i;

	c->state = (enum esmpid_conn_state)CTL_STATE(ctl);
	if (c->state == SESS_NEW)
		return;
	for (i = 0; i < ESMPI_JOB_ID_LEN; i++)
		c->job_id[i] = (uint8_t)(0x11 * (i + 1));
	esmpi_hex(c->job_id, ESMPI_JOB_ID_LEN, c->job_hex);
	c->rank = ctl & CTL_RANK1 ? 1 : 0;
	c->size = 2;
	c->session_id = ++dmn.next_session;
	c->suite = dmn.policy->defaults.suite;
	snprintf(c->host, sizeof(c->host), "fuzzhost");
	if (c->state == SESS_SHARED) {
		CHECK(EVP_PKEY_up_ref(eph) == 1);
		c->eph = eph;
		memcpy(c->eph_pub, eph_pub, sizeof(eph_pub));
		c->wrapped = (ctl & CTL_WRAPPED) != 0;
	}
}

/*
 * Requests not worth running here. LoadPolicy makes the daemon open the
 * named file: keep it away from devices and kernel files (a FIFO or a
 * regular file is harmless). Rotate{node_key} re-issues the node identity
 * on disk, ~10 ms a time whatever the input says; the integration tests
 * cover it.
 */
static int
skip_request(const uint8_t *body, size_t len)
{
	static const char *const bad[] = { "/dev", "/proc", "/sys", "/run" };
	Esmpi__Request *req = NULL;
	char *real;
	size_t i, n;
	int skip = 0;

	if (esmpi_frame_decode_request(body, len, &req) != 0)
		return 0;
	if (req->body_case == ESMPI__REQUEST__BODY_ROTATE &&
	    req->rotate->node_key)
		skip = 1;
	if (req->body_case == ESMPI__REQUEST__BODY_LOAD_POLICY &&
	    req->load_policy->path != NULL &&
	    (real = realpath(req->load_policy->path, NULL)) != NULL) {
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			n = strlen(bad[i]);
			if (strncmp(real, bad[i], n) == 0 &&
			    (real[n] == '/' || real[n] == '\0'))
				skip = 1;
		}
		free(real);
	}
	esmpi__request__free_unpacked(req, NULL);
	return skip;
}

static int
dispatch(struct esmpid_conn *c, const uint8_t *body, size_t len)
{
	int r;

	if (skip_request(body, len)) {
		c->closing = 1;	/* as the daemon would after an error */
		return ESMPI_ERR_PROTOCOL;
	}
	r = esmpid_dispatch(&dmn, c, body, len);
	CHECK(r <= 0);
	if (r != 0) {
		/* server.c frame_error() */
		dmn.frames_rejected++;
		(void)esmpid_reply_error(c, r, "%s; closing connection",
		    esmpi_strerror(r));
		c->closing = 1;
	}
	return r;
}

/* Pass 2: the bytes as a stream of frames over a socket. */
static void
stream(enum esmpid_conn_kind kind, const uint8_t *data, size_t size)
{
	struct esmpid_conn *c;
	const uint8_t *body;
	size_t off = 0, len;
	ssize_t n;
	int sv[2], r, got, frames = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) != 0)
		return;
	c = conn_new(kind);
	c->fd = sv[0];
	if (size == 0)
		(void)shutdown(sv[1], SHUT_WR);
	for (;;) {
		/* Feed what the socket takes; EOF once all is in. */
		if (off < size) {
			n = write(sv[1], data + off, size - off);
			if (n > 0)
				off += (size_t)n;
			if (off == size)
				(void)shutdown(sv[1], SHUT_WR);
		}
		/* server.c conn_readable() */
		r = esmpi_frame_rx_read(&c->rx, c->fd);
		for (;;) {
			if (r == ESMPI_ERR_TOO_LARGE) {
				c->closing = 1;
				break;
			}
			got = esmpi_frame_rx_next(&c->rx, &body, &len);
			if (got < 0) {
				c->closing = 1;
				break;
			}
			if (got == 0)
				break;
			CHECK(len <= ESMPI_FRAME_MAX &&
			    body + len <= c->rx.buf + c->rx.len);
			if (dispatch(c, body, len) != 0)
				break;
			esmpi_frame_rx_consume(&c->rx);
			if (c->closing || ++frames >= MAX_FRAMES)
				break;
			r = esmpi_frame_rx_read(&c->rx, c->fd);
		}
		if (c->closing || frames >= MAX_FRAMES ||
		    r == ESMPI_ERR_EOF || r == ESMPI_ERR_SYSTEM)
			break;
		/* Replies are not read back; drop them as a flush would. */
		esmpi_freezero(c->tx, c->tx_len);
		c->tx = NULL;
		c->tx_len = c->tx_off = 0;
	}
	conn_free(c);
	close(sv[0]);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum esmpid_conn_kind kind;
	struct esmpid_conn *c;
	uint8_t ctl;

	if (size < 1)
		return 0;
	ctl = data[0];
	data++;
	size--;
	kind = ctl & CTL_ADMIN ? CONN_ADMIN : CONN_CLIENT;

	/* Pass 1: one frame body, on a session in the chosen state. */
	c = conn_new(kind);
	if (kind == CONN_CLIENT)
		conn_set_state(c, ctl);
	(void)dispatch(c, data, size);
	conn_free(c);

	/* Pass 2: a stream of frames from a new connection. */
	stream(kind, data, size);

	/* A LoadPolicy that worked must not carry over to the next input. */
	if (dmn.policy_loads != 0)
		load_default_policy();
	bystander_drain();
	return 0;
}
