/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPID_H
#define ESMPID_H

#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "esmpi_frame.h"
#include "esmpi_paths.h"
#include "esmpi_pki.h"
#include "esmpi_policy.h"
#include "jobkey.h"

#define ESMPID_MAX_CLIENTS		1024
#define ESMPID_MAX_ADMINS		16
/* Descriptors kept free for the daemon's own files and lookups. */
#define ESMPID_FD_RESERVE		16
#define ESMPID_HANDSHAKE_TIMEOUT	30	/* seconds to send Hello */
/* Seconds from Hello to a keyed session: the ranks of a job reach
 * MPI_Init at different times, so this is generous. */
#define ESMPID_KEYX_TIMEOUT		600
#define ESMPID_TX_MAX			(2u * ESMPI_FRAME_MAX)
/* Replies queued beyond this stop the connection's requests from being
 * served until the client reads (backpressure). */
#define ESMPID_TX_HIGH			(256u * 1024)
/* Request bytes buffered for one user, and for everybody: a user pays
 * with its own budget for frames it does not finish. */
#define ESMPID_RX_PER_USER		(64u * 1024 * 1024)
#define ESMPID_RX_TOTAL			(512u * 1024 * 1024)

enum esmpid_conn_kind { CONN_CLIENT, CONN_ADMIN };

/* Where a client session is in the protocol; frames out of order close it. */
enum esmpid_conn_state {
	SESS_NEW,	/* expecting Hello */
	SESS_OPEN,	/* Hello done: KeyShare next */
	SESS_SHARED,	/* share issued: Wrap (rank 0) or Unwrap */
	SESS_KEYED,	/* job key delivered */
	SESS_RESUMED,	/* re-registered after a daemon restart: audits and
			 * rekeys only, no proof of the key establishment */
};

struct esmpid_conn {
	struct esmpid_conn *next, *prev;
	int fd;
	enum esmpid_conn_kind kind;
	enum esmpid_conn_state state;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	uint64_t session_id;
	uint64_t opened;		/* monotonic seconds */
	uint64_t hello_at;		/* when Hello came */
	struct esmpi_frame_rx rx;
	size_t rx_charged;		/* rx.cap counted in esmpid.rx_total */
	uint8_t *tx;
	size_t tx_len, tx_off, tx_cap;
	int closing;			/* close once tx drained */
	const char *close_why;		/* audited reason for closing */
	/* Closed: fd gone, no more events or replies. The memory stays
	 * until the current event batch is over (server.c reap), so any
	 * pointer to it taken in this batch is still safe to test. */
	int dead;

	/* from Hello */
	uint8_t job_id[ESMPI_JOB_ID_LEN];
	char job_hex[2 * ESMPI_JOB_ID_LEN + 1];
	uint32_t rank, size;
	char project[ESMPI_PROJECT_MAX + 1];
	char host[64];
	char engine[48];		/* the rank's AEAD engine (as it says) */
	int suite;			/* default suite resolved for the session */
	uint64_t rekeys, audits;	/* events the rank reported */
	uint32_t epoch;			/* highest key epoch reported */
	uint64_t last_rekey;		/* monotonic seconds, 0: never */

	/* job key establishment */
	EVP_PKEY *eph;			/* freed after unwrap: forward secrecy */
	uint8_t eph_pub[ESMPI_ECDH_PUB_LEN];
	int wrapped;			/* rank 0 wrapped the job key */
	int certified;			/* issued its rank certificate */

	/* a link to another job (dynamic processes): freed at wrap or
	 * unwrap, or replaced by the next LinkShare */
	EVP_PKEY *link_eph;
	uint8_t link_pub[ESMPI_ECDH_PUB_LEN];
};

struct esmpid_opts {
	const char *state_dir;
	const char *policy_path;	/* NULL: embedded default */
	const char *socket_path;
	const char *admin_path;
	const char *admin_group;	/* may use the admin socket besides root */
	int foreground;
	int max_clients;
	int max_clients_per_user;
	int hello_timeout;		/* seconds from connect to Hello */
	int keyx_timeout;		/* seconds from Hello to keyed */
};

/*
 * Rotations of running jobs are also kept for a while: a rank that was
 * not connected when one was pushed (daemon restarted, rank not yet back)
 * gets it when it re-registers (Hello resume).
 */
#define ESMPID_PENDING_ROTATIONS	32
#define ESMPID_PENDING_SECONDS		600

struct esmpid_rotation {
	uint8_t job_id[ESMPI_JOB_ID_LEN];
	int all;
	uint64_t at;			/* monotonic seconds, 0: unused */
};

struct esmpid {
	struct esmpid_opts opt;
	struct esmpi_identity *id;
	struct esmpi_policy *policy;
	char *policy_file;		/* file to re-read on SIGHUP, or NULL */
	gid_t admin_gid;		/* (gid_t)-1 when none */
	int epfd, client_lfd, admin_lfd, sigfd, timerfd;
	int activated;			/* sockets came from systemd */
	struct esmpid_conn *conns;	/* live and dead (until reaped) */
	int nclients, nadmins;		/* live only */
	size_t rx_total;		/* request bytes buffered, all users */
	int spare_fd;			/* given up to refuse when out of fds */
	uint64_t next_session;
	uint64_t started;
	uint64_t policy_loads, frames_rejected;
	struct esmpid_rotation rotations[ESMPID_PENDING_ROTATIONS];
	unsigned next_rotation;
	int running;
};

/*
 * Layers, each calling only those below it:
 *   main.c -> server.c (event loop: sockets, accept, read, limits, timer,
 *   signals) -> dispatch.c (one handler per request, from one table)
 *   -> conn.c (a connection's replies, flushing, closing), policy.c (the
 *   policy in force), jobkey.c (key shares, wrap), audit.c (journald).
 */

/* server.c */
int esmpid_server_open(struct esmpid *d);
int esmpid_server_run(struct esmpid *d);
void esmpid_server_close(struct esmpid *d);

/* Seconds of CLOCK_MONOTONIC: timeouts and ages. */
static inline uint64_t
esmpid_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* dispatch.c: decode a request, check it against the table (socket,
 * session state), run its handler. 0, or a protocol violation. */
int esmpid_dispatch(struct esmpid *d, struct esmpid_conn *c,
    const uint8_t *body, size_t len);

/* policy.c: load the policy at path (its files from files, NULL: the
 * filesystem), then swap it in; on any error the policy in force stays
 * and err says why. reloadable: SIGHUP re-reads path from now on. */
int esmpid_policy_swap(struct esmpid *d, const char *path,
    struct esmpi_pol_files *files, int reloadable, char *err,
    size_t errlen);
/* SIGHUP: re-read the reloadable policy file, audited either way. */
void esmpid_policy_reload(struct esmpid *d);

/* conn.c: queue a reply (or an Error) for c. */
int esmpid_reply(struct esmpid_conn *c, Esmpi__Reply *rep);
int esmpid_reply_error(struct esmpid_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Send what is queued for c now; close c when drained and closing. May
 * close c (then marked dead, freed by esmpid_conn_reap after the event
 * batch); returns -1 then. */
int esmpid_conn_flush(struct esmpid *d, struct esmpid_conn *c);
/* Close c: audit, drop its descriptor and counts, mark it dead. */
void esmpid_conn_close(struct esmpid *d, struct esmpid_conn *c,
    const char *why);
/* Free the connections closed since the last call. */
void esmpid_conn_reap(struct esmpid *d);
/* What a connection holds besides its socket: its ephemeral keys (job key
 * and link), frame buffers; freed and wiped (esmpid_conn_close does it). */
void esmpid_conn_release(struct esmpid_conn *c);
/* One Error frame on a connection that gets no slot, then close fd. */
void esmpid_refuse_fd(int fd, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Live client sessions of a job (rank < 0: any rank) other than self. */
struct esmpid_conn *esmpid_find_session(struct esmpid *d,
    const struct esmpid_conn *self, const uint8_t *job_id, int64_t rank);

/* Replies queued and not yet sent. */
static inline size_t
esmpid_conn_pending(const struct esmpid_conn *c)
{
	return c->tx_len - c->tx_off;
}

/* Audit priorities: syslog's levels, journald's PRIORITY field. */
enum esmpid_audit_prio {
	ESMPI_AUDIT_CRIT = 2,
	ESMPI_AUDIT_ERR = 3,
	ESMPI_AUDIT_WARNING = 4,
	ESMPI_AUDIT_NOTICE = 5,
	ESMPI_AUDIT_INFO = 6,
};

/* audit.c: structured events (docs/ARCHITECTURE.md "Audit"). extra is a
 * NULL-terminated list of "FIELD=value" strings or NULL. */
void esmpid_audit_init(int force_stderr);
void esmpid_audit(enum esmpid_audit_prio prio, const char *event, const struct esmpid_conn *c,
    const char *const *extra, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
