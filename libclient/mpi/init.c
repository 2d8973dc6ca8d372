/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MPI_Init and MPI_Finalize, and MPI-4's MPI_Session_init and
 * MPI_Session_finalize (MPICH), which hold MPI and esmpi alike: the
 * modules' init steps in order (the join, the session with esmpid and
 * the job key, the policy comparison, signing keys, communicator state,
 * chunks, stash, scope), their fini steps in reverse. Failures never exit the process: they go through
 * MPI_COMM_WORLD's error handler (fatal by default), and a rank whose
 * set-up failed refuses every call that would move data.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mpi/mpi_layer.h"
#include "esmpi_err.h"


/*
 * Every rank's esmpid should resolve the same rules. Where a node runs
 * another policy, its ranks refuse the records their rules do not expect
 * (record/open.c), and that refusal alone cannot say why. So the ranks compare a
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

	if (esmpi_rules_digest(d) != 0) {
		snprintf(err, len, "cannot digest the policy");
		return ESMPI_ERR_CRYPTO;
	}
	for (i = 0; i < 4; i++)
		d[4 + i] = ~d[i];
	/* One reduction: the maxima of d and of ~d are equal everywhere
	 * only when every rank has the same d (in either order: MPICH
	 * 4.0.2's MPI_MAX compares MPI_UINT64_T as signed; ~ reverses
	 * both). */
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
	char err[256];

	if (j->have_id)
		memcpy(esmpi.job_id, j->job_id, sizeof(esmpi.job_id));
	else if (esmpi_random(esmpi.job_id, sizeof(esmpi.job_id)) != 0)
		memset(esmpi.job_id, 0, sizeof(esmpi.job_id));
	a.event = "join_failed";
	a.comm = "MPI_COMM_WORLD";
	a.peer = j->offender;
	a.tag = -1;
	a.detail = (char *)why;
	if (esmpi_daemon_audit_now(&a, err, sizeof(err)) != 0)
		fprintf(stderr, "esmpi: rank %d: could not audit join_failed: "
		    "%s\n", esmpi.world_rank, err);
}

static int
add_code(const char *msg)
{
	int code = MPI_ERR_OTHER;

	if (PMPI_Add_error_code(esmpi.err_class, &code) == MPI_SUCCESS)
		PMPI_Add_error_string(code, (char *)msg);
	return code;
}


/* Who shares our node: the node ids our daemons vouch for, gathered
 * through our own (sealed) MPI_Allgather so nobody on the wire can
 * change the table (comm/scope.c). */
static int
scope_init(void)
{
	uint8_t (*ids)[32] = calloc((size_t)esmpi.world_size, sizeof(*ids));
	int r;

	if (ids == NULL)
		return ESMPI_ERR_NOMEM;
	r = MPI_Allgather(esmpi.node_id, 32, MPI_BYTE, ids, 32, MPI_BYTE,
	    MPI_COMM_WORLD) == MPI_SUCCESS ? esmpi_scope_learn(ids) :
	    ESMPI_ERR_INTERNAL;
	free(ids);
	return r;
}

/* ESMPI_STATS=1: one line of record counters on stderr at Finalize. */
static char rma_why[160];	/* why one-sided is on or off here */

static void
stats_report(void)
{
	const char *s = getenv("ESMPI_STATS");
	unsigned long hook, applier;

	if (s == NULL || *s == '\0' || strcmp(s, "0") == 0)
		return;
	esmpi_rma_served(&hook, &applier);
	fprintf(stderr, "esmpi: rank %d: stats: sealed %llu (same node "
	    "%llu), plain %llu, same-node peers %d, in chunks %llu, "
	    "probed early %llu, engine %s, one-sided %s (%s), one-sided "
	    "requests served %lu in MPI's progress loop, %lu by the "
	    "applier\n",
	    esmpi.world_rank,
	    (unsigned long long)atomic_load(&esmpi.stat_sealed),
	    (unsigned long long)atomic_load(&esmpi.stat_sealed_local),
	    (unsigned long long)atomic_load(&esmpi.stat_plain),
	    esmpi_scope_local_peers(),
	    (unsigned long long)atomic_load(&esmpi.stat_chunked),
	    (unsigned long long)atomic_load(&esmpi.stat_stashed),
	    esmpi_aead_engine_name(), esmpi_rma_enabled() ? "on" : "off",
	    rma_why, hook, applier);
}

/* The record AEAD engine (common/esmpi_crypto.c), chosen on every rank
 * before any key exists: a forced engine that cannot run here stops the
 * job with the reason, on every rank (collective over WORLD). */
static int
engine_select(char *err, size_t len)
{
	char why[256] = "";
	int ok = esmpi_crypto_select(why, sizeof(why)) == 0;

	if (ok && why[0] != '\0')
		fprintf(stderr, "esmpi: rank %d: warning: record AEAD on %s: "
		    "%s\n", esmpi.world_rank, esmpi_aead_engine_name(), why);
	if (!ok)
		snprintf(err, len, "no usable AEAD engine: %s", why);
	if (!esmpi_all_ok(ok)) {
		if (ok)
			snprintf(err, len, "another rank has no usable AEAD "
			    "engine (see its message)");
		return ESMPI_ERR_CRYPTO;
	}
	return 0;
}

static int app_level = MPI_THREAD_SINGLE;	/* what the application has */

static int
session_start(void)
{
	struct esmpi_join j;
	char err[1024];
	int r, timeout;
	const char *v;

	esmpi.initialized = 1;
	esmpi.threads_multi = app_level == MPI_THREAD_MULTIPLE;
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

	if ((v = getenv("ESMPI_RMA")) != NULL && strcmp(v, "on") != 0 &&
	    strcmp(v, "off") != 0 && strcmp(v, "auto") != 0) {
		esmpi.failed = 1;
		return esmpi_fail(MPI_COMM_WORLD, esmpi.err_init, "ESMPI_RMA="
		    "'%.40s' is none of auto (the default: one-sided "
		    "communication protected if the program imports a window "
		    "function), on (always: MPI at MPI_THREAD_MULTIPLE) and "
		    "off (MPI at the application's thread level, windows "
		    "refused)", v);
	}
	/* Before any collective: every rank is here, with libesmpi, or we
	 * stop (join.c). It brings the job id. */
	if (esmpi_join_timeout(&timeout, err, sizeof(err)) != 0) {
		esmpi.failed = 1;
		return esmpi_fail(MPI_COMM_WORLD, esmpi.err_init, "%s", err);
	}
	if (esmpi_join(timeout, &j, err, sizeof(err)) != 0) {
		esmpi.failed = 1;
		/* Said before the audit's round trip to esmpid: rank 0 has
		 * told the ranks that joined, and the first of them to abort
		 * the job may end this process too. */
		fprintf(stderr, "esmpi: rank %d: %s; refusing to run "
		    "unprotected\n", esmpi.world_rank, err);
		fflush(stderr);
		audit_join_failed(&j, err);
		PMPI_Comm_call_errhandler(MPI_COMM_WORLD, esmpi.err_init);
		return esmpi.err_init;
	}
	memcpy(esmpi.job_id, j.job_id, sizeof(esmpi.job_id));
	if (esmpi_chunk_init() != 0)
		esmpi.chunk_min = 0;
	if ((r = esmpi_stash_init()) != 0) {
		snprintf(err, sizeof(err), "cannot set up the probes' stash");
		goto fail;
	}
	if ((r = engine_select(err, sizeof(err))) != 0 ||
	    (r = esmpi_session_open(err, sizeof(err))) != 0 ||
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
	if ((r = scope_init()) != 0) {
		esmpi.active = 0;
		snprintf(err, sizeof(err), "cannot tell which ranks share "
		    "this node: %s", esmpi_strerror(r));
		goto fail;
	}
	/* Spawned by another job: key the link to it before the
	 * application can use it (mpi/dynamic.c). */
	if ((r = esmpi_link_parent(err, sizeof(err))) != 0) {
		esmpi.active = 0;
		esmpi_audit("link_refused", NULL, -1, -1, "%s", err);
		goto fail;
	}
	return MPI_SUCCESS;
fail:
	esmpi.failed = 1;
	return esmpi_fail(MPI_COMM_WORLD, esmpi.err_init,
	    "cannot establish job keys, refusing to run unprotected: %s", err);
}

/* What libesmpi-guard.so (guard.c) looks for: this library is here. */
ESMPI_EXPORT const char esmpi_guard_marker[] = "esmpi";

/*
 * MPI runs at MPI_THREAD_MULTIPLE, whatever the application asks, when
 * the one-sided applier thread (rma.c) may call MPI beside it: the
 * program (or a library loaded with it) imports a window creation
 * function, or ESMPI_RMA=on. The application is told, and MPI_Query_thread
 * reports, the level it asked for (MPI_Init: the level plain MPI_Init
 * gives), and libesmpi's own per-message path runs at that level
 * (docs/ARCHITECTURE.md, "One-sided communication"). Other jobs keep MPI
 * at their own level: MULTIPLE costs every message.
 */
static int
init_multiple(int *argc, char ***argv, int required, int plain_init)
{
	int got = MPI_THREAD_SINGLE, rc, on;
	const char *v = getenv("ESMPI_RMA");

	if (v != NULL && strcmp(v, "on") == 0) {
		on = 1;
		snprintf(rma_why, sizeof(rma_why), "ESMPI_RMA=on");
	} else if (v != NULL && strcmp(v, "off") == 0) {
		on = 0;
		snprintf(rma_why, sizeof(rma_why), "ESMPI_RMA=off");
	} else if (!(on = esmpi_rma_wanted(rma_why, sizeof(rma_why)))) {
		snprintf(rma_why, sizeof(rma_why), "no window function "
		    "imported");
	}
	/* Off: MPI as the application asked, no applier, windows refused
	 * (rma.c); MPI's one-sided component left alone. */
	if (!on) {
		esmpi_rma_disable(v == NULL || strcmp(v, "off") != 0);
		rc = plain_init ? PMPI_Init(argc, argv) :
		    PMPI_Init_thread(argc, argv, required, &got);
		if (rc == MPI_SUCCESS)
			PMPI_Query_thread(&app_level);
		return rc;
	}
	/* MPI's one-sided component makes only windows of MPI_COMM_SELF
	 * (handles) and shared-memory ones: osc/sm, whatever the command
	 * line asked for (rma.c moves every other window's data). */
	setenv("OMPI_MCA_osc", "sm", 1);
	rc = PMPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &got);
	if (rc != MPI_SUCCESS)
		return rc;
	app_level = required < got ? required : got;
	return MPI_SUCCESS;
}

/*
 * Who holds MPI and esmpi's session with esmpid: the application's
 * world model (MPI_Init .. MPI_Finalize) and each of its MPI-4 sessions
 * (MPI_Session_init .. MPI_Session_finalize, MPICH). The first of them
 * starts MPI's world model underneath (a session's, through
 * PMPI_Init_thread) and the esmpi session on MPI_COMM_WORLD; the last to
 * end stops both (docs/ARCHITECTURE.md, "MPI-4 sessions").
 */
static int started;	/* MPI's world model and esmpi's session are up */
static int world_app;	/* the application's MPI_Init is in effect */
static int sessions;	/* the application's open sessions */
/* MPI-4 lets threads start and end sessions concurrently. */
static pthread_mutex_t holders_lock = PTHREAD_MUTEX_INITIALIZER;

static int
world_start(int *argc, char ***argv, int required, int plain_init)
{
	int rc = init_multiple(argc, argv, required, plain_init);

	if (rc != MPI_SUCCESS)
		return rc;
	started = 1;
	return session_start();
}

static int
world_stop(void)
{
	if (esmpi.initialized) {
		stats_report();
		if (getenv("ESMPI_TEST_KEYMEM") != NULL) {
			esmpi_secure_report("job key", esmpi.job_key);
			esmpi_keys_report(esmpi_comm_get(MPI_COMM_WORLD));
			esmpi_secure_openssl_report();
		}
		/* What is still in flight completes before the states go. */
		esmpi_req_reap();
		esmpi_rma_fini();
		esmpi_bsend_finish();
		esmpi_coll_fini();
		esmpi_chunk_fini();
		esmpi.active = 0;
		esmpi_scope_fini();
		esmpi_comm_free_all();
		esmpi_link_free_all();
		esmpi_sign_free();
		esmpi_session_close();
		esmpi_stash_fini();
		esmpi_pool_drain();
	}
	started = 0;
	return PMPI_Finalize();
}

/* MPI_Init(_thread) where a session started MPI already: the world
 * model is the application's too (a second MPI_Init is MPI's error). */
static int
world_join(int *argc, char ***argv)
{
	if (world_app || !started)
		return PMPI_Init(argc, argv);
	world_app = 1;
	return esmpi.failed ? esmpi.err_init : MPI_SUCCESS;
}

ESMPI_EXPORT int
MPI_Init(int *argc, char ***argv)
{
	int rc;

	pthread_mutex_lock(&holders_lock);
	if (started)
		rc = world_join(argc, argv);
	else if ((rc = world_start(argc, argv, MPI_THREAD_SINGLE, 1)) ==
	    MPI_SUCCESS)
		world_app = 1;
	pthread_mutex_unlock(&holders_lock);
	return rc;
}

ESMPI_EXPORT int
MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
	int rc;

	pthread_mutex_lock(&holders_lock);
	if (started)
		rc = world_join(argc, argv);
	else if ((rc = world_start(argc, argv, required, 0)) == MPI_SUCCESS)
		world_app = 1;
	*provided = app_level;
	pthread_mutex_unlock(&holders_lock);
	return rc;
}

ESMPI_EXPORT int
MPI_Query_thread(int *provided)
{
	if (!esmpi.initialized)
		return PMPI_Query_thread(provided);
	*provided = app_level;
	return MPI_SUCCESS;
}

ESMPI_EXPORT int
MPI_Finalize(void)
{
	int rc = MPI_SUCCESS;

	pthread_mutex_lock(&holders_lock);
	/* Sessions still open keep MPI and esmpi running for them. */
	if (sessions == 0)
		rc = world_stop();
	world_app = 0;
	pthread_mutex_unlock(&holders_lock);
	return rc;
}

#ifdef ESMPI_HAVE_SESSIONS
/* The thread level a session asks for (info "thread_level", MPI-4
 * 11.3.1); MPI_THREAD_SINGLE without one, as MPI_Init. */
static int
session_thread_level(MPI_Info info)
{
	static const struct { const char *name; int level; } lv[] = {
		{ "MPI_THREAD_SINGLE", MPI_THREAD_SINGLE },
		{ "MPI_THREAD_FUNNELED", MPI_THREAD_FUNNELED },
		{ "MPI_THREAD_SERIALIZED", MPI_THREAD_SERIALIZED },
		{ "MPI_THREAD_MULTIPLE", MPI_THREAD_MULTIPLE },
	};
	char v[32];
	int flag = 0, i;

	if (info == MPI_INFO_NULL || PMPI_Info_get(info, "thread_level",
	    (int)sizeof(v) - 1, v, &flag) != MPI_SUCCESS || !flag)
		return MPI_THREAD_SINGLE;
	for (i = 0; i < 4; i++)
		if (strcasecmp(v, lv[i].name) == 0)
			return lv[i].level;
	return MPI_THREAD_SINGLE;
}

/*
 * A session of the application: the first holder starts MPI's world
 * model and esmpi's session (join, job key, policy) on MPI_COMM_WORLD
 * before MPI makes the session, so the session's communicators get keys
 * like any other (comm_new.c) and nothing runs before the job is keyed.
 */
ESMPI_EXPORT int
MPI_Session_init(MPI_Info info, MPI_Errhandler errhandler,
    MPI_Session *session)
{
	int rc = MPI_SUCCESS;

	pthread_mutex_lock(&holders_lock);
	if (!started)
		rc = world_start(NULL, NULL, session_thread_level(info), 0);
	if (rc == MPI_SUCCESS && esmpi.failed)
		rc = esmpi.err_init;
	if (rc == MPI_SUCCESS && (rc = PMPI_Session_init(info, errhandler,
	    session)) == MPI_SUCCESS)
		sessions++;
	pthread_mutex_unlock(&holders_lock);
	return rc;
}

ESMPI_EXPORT int
MPI_Session_finalize(MPI_Session *session)
{
	int rc = PMPI_Session_finalize(session);

	/* Only the sessions our MPI_Session_init counted (not one from
	 * PMPI_Session_init, which esmpi never protected). */
	pthread_mutex_lock(&holders_lock);
	if (rc == MPI_SUCCESS && sessions > 0 && --sessions == 0 &&
	    !world_app)
		rc = world_stop();
	pthread_mutex_unlock(&holders_lock);
	return rc;
}
#endif
