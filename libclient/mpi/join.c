/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The join: the first thing a rank does after PMPI_Init, before any
 * collective. Key establishment is collective; a rank that runs without
 * libesmpi (LD_PRELOAD lost or altered in the launch message, a program
 * not started through esmpirun) never joins it, and the ranks that do
 * would wait in a collective for ever while it goes on in plaintext.
 *
 * So every rank but 0 first sends rank 0 a JOIN (point-to-point, world,
 * tag JOIN_TAG) and rank 0 answers each with a VERDICT carrying the job
 * id (which replaces the job id broadcast). Both sides receive with
 * MPI_ANY_TAG: a rank without libesmpi whose first message to the other
 * is application data is seen doing so, in plaintext. Nobody waits past
 * ESMPI_JOIN_TIMEOUT seconds. The cost on the normal path is one small
 * message each way per rank.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi/mpi_layer.h"
#include "esmpi_crypto.h"
#include "esmpi_err.h"

#define JOIN_TAG	32767	/* MPI guarantees MPI_TAG_UB >= 32767 */
#define JOIN_BUF	64	/* a larger message is not a join */
#define VERDICT_BUF	512
#define MAGIC_LEN	16
#define JOB_ID_LEN	16
/* JOIN: magic, world rank (big-endian). VERDICT: magic, ok (0 or 1), job
 * id, the first rank named (big-endian, -1: none), why not (text,
 * NUL-terminated, empty when ok). */
#define JOIN_LEN	(MAGIC_LEN + 4)
#define VERDICT_ID	(MAGIC_LEN + 1)
#define VERDICT_WHO	(VERDICT_ID + JOB_ID_LEN)
#define VERDICT_HEAD	(VERDICT_WHO + 4)
#define JOIN_TIMEOUT_DEFAULT 120
#define JOIN_TIMEOUT_MAX 86400
#define LIST_MAX	16	/* ranks named in a message */
#define DETAIL_MAX	4	/* plaintext messages described */

static const char join_magic[MAGIC_LEN] = "ESMPI-JOIN v1";
static const char verdict_magic[MAGIC_LEN] = "ESMPI-VERDICT v1";

static const char cause[] = "without libesmpi (LD_PRELOAD lost or altered "
    "on the way to %s node, or a program started without esmpirun)";

/* What was heard from a peer. */
enum peer_state { P_WAITING, P_JOINED, P_PLAIN, P_ERROR };

struct peer {
	enum peer_state state;
	int tag, bytes;		/* P_PLAIN: the message; bytes -1: > buf */
	int error;		/* P_ERROR: the MPI error code */
};

struct text {
	char *s;
	size_t len, at;
};

static void
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->at >= t->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->s + t->at, t->len - t->at, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->at += (size_t)n < t->len - t->at ? (size_t)n :
		    t->len - t->at - 1;
}

/* "rank 3" or "ranks 1, 3" or "ranks 1, 2, ... and 7 more". */
static void
put_ranks(struct text *t, const struct peer *p, int n, enum peer_state s,
    int count)
{
	int i, listed = 0;

	put(t, count == 1 ? "rank" : "ranks");
	for (i = 0; i < n && listed < LIST_MAX; i++)
		if (p[i].state == s)
			put(t, "%s %d", listed++ ? "," : "", i);
	if (count > listed)
		put(t, " and %d more", count - listed);
}

int
esmpi_join_timeout(int *seconds, char *err, size_t len)
{
	const char *v = getenv("ESMPI_JOIN_TIMEOUT");
	char *end;
	long s;

	*seconds = JOIN_TIMEOUT_DEFAULT;
	if (v == NULL)
		return 0;
	errno = 0;
	s = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || s < 1 ||
	    s > JOIN_TIMEOUT_MAX) {
		snprintf(err, len, "ESMPI_JOIN_TIMEOUT='%.40s' is not a number "
		    "of seconds from 1 to %d (how long ranks wait for each "
		    "other at MPI_Init)", v, JOIN_TIMEOUT_MAX);
		return ESMPI_ERR_INVALID;
	}
	*seconds = (int)s;
	return 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Between polls: short at first (the normal case is quick), then up to
 * a millisecond so that waiting ranks leave the cores to the others. */
static void
pause_poll(long *ns)
{
	struct timespec ts = { 0, *ns };

	nanosleep(&ts, NULL);
	if (*ns < 1000000)
		*ns *= 2;
}

/*
 * Test *req (a receive into buf from peer) once. Returns 1 when it is
 * over, and then p says what came: JOINED when check(buf, count) accepts
 * a message with tag JOIN_TAG, PLAIN for anything else, ERROR when MPI
 * failed the receive (a truncation is PLAIN: larger than any join).
 */
static int
test_recv(MPI_Request *req, struct peer *p, const uint8_t *buf,
    int (*check)(const uint8_t *, int, int), int peer)
{
	MPI_Status st;
	int flag = 0, rc, cls = MPI_ERR_OTHER, count = 0;

	memset(&st, 0, sizeof(st));
	rc = PMPI_Test(req, &flag, &st);
	if (rc == MPI_SUCCESS && !flag)
		return 0;
	if (rc != MPI_SUCCESS) {
		if (*req != MPI_REQUEST_NULL)
			PMPI_Request_free(req);
		PMPI_Error_class(rc, &cls);
		if (cls == MPI_ERR_TRUNCATE) {
			p->state = P_PLAIN;
			p->tag = st.MPI_TAG;
			p->bytes = -1;
		} else {
			p->state = P_ERROR;
			p->error = rc;
		}
		return 1;
	}
	PMPI_Get_count(&st, MPI_BYTE, &count);
	if (st.MPI_TAG == JOIN_TAG && check(buf, count, peer)) {
		p->state = P_JOINED;
	} else {
		p->state = P_PLAIN;
		p->tag = st.MPI_TAG;
		p->bytes = count;
	}
	return 1;
}

static int
is_join(const uint8_t *b, int count, int peer)
{
	uint32_t r;

	if (count != JOIN_LEN || memcmp(b, join_magic, MAGIC_LEN) != 0)
		return 0;
	memcpy(&r, b + MAGIC_LEN, 4);
	return (int)ntohl(r) == peer;
}

static int
is_verdict(const uint8_t *b, int count, int peer)
{
	(void)peer;
	return count > VERDICT_HEAD && count <= VERDICT_BUF &&
	    memcmp(b, verdict_magic, MAGIC_LEN) == 0 &&
	    b[count - 1] == '\0' && b[MAGIC_LEN] <= 1;
}

/* Cancel what is still posted; a send that never left is freed. */
static void
drop(MPI_Request *req, int is_send)
{
	if (*req == MPI_REQUEST_NULL)
		return;
	PMPI_Cancel(req);
	if (is_send)
		PMPI_Request_free(req);
	else
		PMPI_Wait(req, MPI_STATUS_IGNORE);
}

/* Describe what rank 0 saw in err (not empty: the join failed). */
static void
describe(struct text *t, const struct peer *p, int n, int timeout)
{
	int i, plain = 0, missing = 0, broken = 0, told = 0;

	for (i = 0; i < n; i++) {
		plain += p[i].state == P_PLAIN;
		missing += p[i].state == P_WAITING;
		broken += p[i].state == P_ERROR;
	}
	if (plain) {
		put_ranks(t, p, n, P_PLAIN, plain);
		put(t, " sent %s in plaintext instead of joining job key "
		    "establishment (", plain == 1 ? "an application message" :
		    "application messages");
		for (i = 0; i < n && told < DETAIL_MAX; i++) {
			if (p[i].state != P_PLAIN)
				continue;
			if (plain > 1)
				put(t, "%srank %d: ", told ? "; " : "", i);
			if (p[i].bytes < 0)
				put(t, "tag %d, more than %d bytes", p[i].tag,
				    JOIN_BUF);
			else
				put(t, "tag %d, %d bytes", p[i].tag,
				    p[i].bytes);
			told++;
		}
		put(t, "%s)", plain > told ? "; ..." : "");
	}
	if (missing) {
		put(t, "%s", plain ? "; " : "");
		put_ranks(t, p, n, P_WAITING, missing);
		put(t, " did not join job key establishment within %d s "
		    "(ESMPI_JOIN_TIMEOUT)", timeout);
	}
	if (plain || missing) {
		put(t, ": %s ", plain + missing == 1 ? "it runs" :
		    "they run");
		put(t, cause, plain + missing == 1 ? "its" : "their");
		put(t, "%s", missing ? " or never reached MPI_Init" : "");
	}
	if (broken) {
		char msg[MPI_MAX_ERROR_STRING];
		int mlen = 0;

		for (i = 0; i < n && p[i].state != P_ERROR; i++)
			;
		if (PMPI_Error_string(p[i].error, msg, &mlen) != MPI_SUCCESS)
			snprintf(msg, sizeof(msg), "error %d", p[i].error);
		put(t, "%s", plain || missing ? "; " : "");
		put_ranks(t, p, n, P_ERROR, broken);
		put(t, ": receiving %s join failed (%s)", broken == 1 ? "its" :
		    "their", msg);
	}
}

/* Rank 0: hear every rank, then answer those that joined. */
static int
join_root(int timeout, struct esmpi_join *j, char *err, size_t len)
{
	int n = esmpi.world_size, i, pending = 0, ok, vlen, first = -1;
	struct peer *p = calloc((size_t)n, sizeof(*p));
	MPI_Request *req = calloc((size_t)n, sizeof(*req));
	uint8_t *bufs = malloc((size_t)n * JOIN_BUF);
	uint8_t verdict[VERDICT_BUF];
	struct text t = { err, len, 0 };
	uint32_t who;
	double deadline = now() + timeout;
	long ns = 10000;
	int r = ESMPI_ERR_NOMEM;

	err[0] = '\0';
	if (p == NULL || req == NULL || bufs == NULL) {
		snprintf(err, len, "no memory for the join of %d ranks", n);
		goto out;
	}
	for (i = 0; i < n; i++)
		req[i] = MPI_REQUEST_NULL;
	p[0].state = P_JOINED;
	for (i = 1; i < n; i++) {
		int rc = PMPI_Irecv(bufs + (size_t)i * JOIN_BUF, JOIN_BUF,
		    MPI_BYTE, i, MPI_ANY_TAG, MPI_COMM_WORLD, &req[i]);

		if (rc != MPI_SUCCESS) {
			p[i].state = P_ERROR;
			p[i].error = rc;
			req[i] = MPI_REQUEST_NULL;
		} else
			pending++;
	}
	/* The id is drawn while the others are on their way. */
	if (esmpi_random(j->job_id, sizeof(j->job_id)) != 0)
		put(&t, "no randomness for the job id");
	while (pending > 0) {
		for (i = 1; i < n; i++)
			if (req[i] != MPI_REQUEST_NULL &&
			    test_recv(&req[i], &p[i], bufs + (size_t)i *
			    JOIN_BUF, is_join, i))
				pending--;
		if (pending == 0 || now() >= deadline)
			break;
		pause_poll(&ns);
	}
	for (i = 1; i < n; i++)
		drop(&req[i], 0);
	if (t.at == 0)
		describe(&t, p, n, timeout);
	ok = t.at == 0;
	for (i = 1; i < n && first < 0; i++)
		if (p[i].state != P_JOINED)
			first = i;
	j->offender = first;

	/* The verdict goes to the ranks that joined: the others would
	 * take it for application data. */
	memcpy(verdict, verdict_magic, MAGIC_LEN);
	verdict[MAGIC_LEN] = (uint8_t)ok;
	memcpy(verdict + VERDICT_ID, j->job_id, sizeof(j->job_id));
	who = htonl((uint32_t)j->offender);
	memcpy(verdict + VERDICT_WHO, &who, 4);
	vlen = VERDICT_HEAD + snprintf((char *)verdict + VERDICT_HEAD,
	    VERDICT_BUF - VERDICT_HEAD, "%s", err) + 1;
	if (vlen > VERDICT_BUF)
		vlen = VERDICT_BUF;
	verdict[vlen - 1] = '\0';
	pending = 0;
	for (i = 1; i < n; i++)
		if (p[i].state == P_JOINED &&
		    PMPI_Isend(verdict, vlen, MPI_BYTE, i, JOIN_TAG,
		    MPI_COMM_WORLD, &req[i]) == MPI_SUCCESS)
			pending++;
		else
			req[i] = MPI_REQUEST_NULL;
	/* Small: they leave at once; the deadline only guards a rank that
	 * joined and died. */
	deadline = now() + timeout;
	ns = 10000;
	while (pending > 0) {
		for (i = 1; i < n; i++) {
			int flag = 0;

			if (req[i] == MPI_REQUEST_NULL)
				continue;
			if (PMPI_Test(&req[i], &flag, MPI_STATUS_IGNORE) !=
			    MPI_SUCCESS) {
				if (req[i] != MPI_REQUEST_NULL)
					PMPI_Request_free(&req[i]);
				flag = 1;
			}
			pending -= flag != 0;
		}
		if (pending == 0 || now() >= deadline)
			break;
		pause_poll(&ns);
	}
	for (i = 1; i < n; i++)
		if (req[i] != MPI_REQUEST_NULL) {
			drop(&req[i], 1);
			if (ok) {
				put(&t, "rank %d joined but did not take rank "
				    "0's answer within %d s", i, timeout);
				j->offender = i;
			}
			ok = 0;
		}
	r = ok ? 0 : ESMPI_ERR_PROTOCOL;
out:
	free(p);
	free(req);
	free(bufs);
	return r;
}

/* Any other rank: join, then wait for rank 0's verdict. */
static int
join_peer(int timeout, struct esmpi_join *j, char *err, size_t len)
{
	uint8_t msg[JOIN_LEN], verdict[VERDICT_BUF];
	MPI_Request sreq = MPI_REQUEST_NULL, rreq = MPI_REQUEST_NULL;
	struct peer p0 = { P_WAITING, 0, 0, 0 };
	struct text t = { err, len, 0 };
	uint32_t me = htonl((uint32_t)esmpi.world_rank), who;
	/* Rank 0 answers only after its own deadline when someone is
	 * missing: wait longer, to hear why rather than guess. */
	int wait_s = timeout + (timeout < 10 ? timeout : 10);
	double deadline = now() + wait_s;
	long ns = 10000;
	int rc, done = 0, sent = 0, flag;

	err[0] = '\0';
	j->offender = 0;
	memcpy(msg, join_magic, MAGIC_LEN);
	memcpy(msg + MAGIC_LEN, &me, 4);
	if ((rc = PMPI_Irecv(verdict, VERDICT_BUF, MPI_BYTE, 0, MPI_ANY_TAG,
	    MPI_COMM_WORLD, &rreq)) != MPI_SUCCESS ||
	    (rc = PMPI_Isend(msg, JOIN_LEN, MPI_BYTE, 0, JOIN_TAG,
	    MPI_COMM_WORLD, &sreq)) != MPI_SUCCESS) {
		p0.state = P_ERROR;
		p0.error = rc;
		done = sent = 1;
	}
	while (!done || !sent) {
		if (!done)
			done = test_recv(&rreq, &p0, verdict, is_verdict, 0);
		if (!sent) {
			flag = 0;
			if (PMPI_Test(&sreq, &flag, MPI_STATUS_IGNORE) !=
			    MPI_SUCCESS) {
				if (sreq != MPI_REQUEST_NULL)
					PMPI_Request_free(&sreq);
				flag = 1;
			}
			sent = flag;
		}
		if ((done && sent) || now() >= deadline)
			break;
		/* Rank 0 has answered with something else than a verdict:
		 * our join will not be read, no need to wait for it. */
		if (done && p0.state != P_JOINED)
			break;
		pause_poll(&ns);
	}
	drop(&rreq, 0);
	drop(&sreq, 1);
	switch (p0.state) {
	case P_JOINED:
		memcpy(j->job_id, verdict + VERDICT_ID, sizeof(j->job_id));
		j->have_id = 1;
		if (verdict[MAGIC_LEN] == 1 && sent)
			return 0;
		if (verdict[MAGIC_LEN] == 0) {
			memcpy(&who, verdict + VERDICT_WHO, 4);
			j->offender = (int32_t)ntohl(who);
		}
		if (verdict[MAGIC_LEN] == 1)
			put(&t, "rank 0 did not take this rank's join within "
			    "%d s", wait_s);
		else
			put(&t, "rank 0 stopped the job: %s",
			    (const char *)verdict + VERDICT_HEAD);
		break;
	case P_PLAIN:
		if (p0.bytes < 0)
			put(&t, "rank 0 sent an application message (tag %d, "
			    "more than %d bytes) in plaintext", p0.tag,
			    VERDICT_BUF);
		else
			put(&t, "rank 0 sent an application message (tag %d, "
			    "%d bytes) in plaintext", p0.tag, p0.bytes);
		put(&t, " instead of answering this rank's join of job key "
		    "establishment: it runs ");
		put(&t, cause, "its");
		break;
	case P_WAITING:
		put(&t, "rank 0 did not answer this rank's join of job key "
		    "establishment within %d s (ESMPI_JOIN_TIMEOUT %d s, "
		    "and more for rank 0 to answer): it runs ", wait_s,
		    timeout);
		put(&t, cause, "its");
		put(&t, " or never reached MPI_Init");
		break;
	case P_ERROR: {
		char m[MPI_MAX_ERROR_STRING];
		int mlen = 0;

		if (PMPI_Error_string(p0.error, m, &mlen) != MPI_SUCCESS)
			snprintf(m, sizeof(m), "error %d", p0.error);
		put(&t, "the join of job key establishment with rank 0 "
		    "failed (%s)", m);
		break;
	}
	}
	return ESMPI_ERR_PROTOCOL;
}

int
esmpi_join(int timeout, struct esmpi_join *j, char *err, size_t len)
{
	MPI_Errhandler prev = MPI_ERRHANDLER_NULL;
	int r;

	memset(j, 0, sizeof(*j));
	j->offender = -1;
	if (esmpi.world_size == 1) {
		j->have_id = 1;
		if (esmpi_random(j->job_id, sizeof(j->job_id)) != 0) {
			snprintf(err, len, "no randomness for the job id");
			return ESMPI_ERR_CRYPTO;
		}
		return 0;
	}
	/* Errors of the join (a plain rank's larger message truncated)
	 * come back to us; the caller raises what it decides. */
	PMPI_Comm_get_errhandler(MPI_COMM_WORLD, &prev);
	PMPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	if (esmpi.world_rank == 0) {
		j->have_id = 1;
		r = join_root(timeout, j, err, len);
	} else
		r = join_peer(timeout, j, err, len);
	if (prev != MPI_ERRHANDLER_NULL) {
		PMPI_Comm_set_errhandler(MPI_COMM_WORLD, prev);
		PMPI_Errhandler_free(&prev);
	}
	return r;
}
