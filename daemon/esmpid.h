/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPID_H
#define ESMPID_H

#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>

#include "esmpi_frame.h"
#include "esmpi_pki.h"
#include "esmpi_policy.h"
#include "jobkey.h"

#define ESMPID_DEFAULT_STATE_DIR	"/var/lib/esmpi"
#define ESMPID_DEFAULT_SOCKET		"/run/esmpi/esmpid.sock"
#define ESMPID_DEFAULT_ADMIN_SOCKET	"/run/esmpi/admin.sock"
#define ESMPID_MAX_CLIENTS		1024
#define ESMPID_MAX_ADMINS		16
#define ESMPID_HANDSHAKE_TIMEOUT	30	/* seconds to send Hello */
#define ESMPID_TX_MAX			(2u * ESMPI_FRAME_MAX)

enum esmpid_conn_kind { CONN_CLIENT, CONN_ADMIN };

/* Where a client session is in the protocol; frames out of order close it. */
enum esmpid_conn_state {
	SESS_NEW,	/* expecting Hello */
	SESS_OPEN,	/* Hello done: KeyShare next */
	SESS_SHARED,	/* share issued: Wrap (rank 0) or Unwrap */
	SESS_KEYED,	/* job key delivered */
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
	struct esmpi_frame_rx rx;
	uint8_t *tx;
	size_t tx_len, tx_off;
	int closing;			/* close once tx drained */
	const char *close_why;		/* audited reason for closing */

	/* from Hello */
	uint8_t job_id[ESMPI_JOB_ID_LEN];
	char job_hex[2 * ESMPI_JOB_ID_LEN + 1];
	uint32_t rank, size;
	char project[64];
	char host[64];
	int suite;			/* default suite resolved for the session */
	uint64_t rekeys, audits;	/* events the rank reported */
	uint32_t epoch;			/* highest key epoch reported */
	uint64_t last_rekey;		/* monotonic seconds, 0: never */

	/* job key establishment */
	EVP_PKEY *eph;			/* freed after unwrap: forward secrecy */
	uint8_t eph_pub[ESMPI_ECDH_PUB_LEN];
	int wrapped;			/* rank 0 wrapped the job key */
	int certified;			/* issued its rank certificate */
};

struct esmpid_opts {
	const char *state_dir;
	const char *policy_path;	/* NULL: embedded default */
	const char *socket_path;
	const char *admin_path;
	const char *admin_group;	/* may use the admin socket besides root */
	int foreground;
	int max_clients;
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
	struct esmpid_conn *conns;
	int nclients, nadmins;
	uint64_t next_session;
	uint64_t started;
	uint64_t policy_loads, frames_rejected;
	struct esmpid_rotation rotations[ESMPID_PENDING_ROTATIONS];
	unsigned next_rotation;
	int running;
};

/* server.c */
int esmpid_server_open(struct esmpid *d);
int esmpid_server_run(struct esmpid *d);
void esmpid_server_close(struct esmpid *d);
uint64_t esmpid_now(void);

/* policy_reload.c-like helpers in server.c */
int esmpid_policy_swap_file(struct esmpid *d, const char *path, char *err,
    size_t errlen);

/* dispatch.c: one handler per request, chosen by one switch. */
int esmpid_dispatch(struct esmpid *d, struct esmpid_conn *c,
    const uint8_t *body, size_t len);
int esmpid_reply(struct esmpid_conn *c, Esmpi__Reply *rep);
/* Send what is queued for c now (a push outside its own request). May
 * close c; returns -1 then. */
int esmpid_conn_kick(struct esmpid *d, struct esmpid_conn *c);
int esmpid_reply_error(struct esmpid_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* audit.c: structured events (docs/ARCHITECTURE.md "Audit"). extra is a
 * NULL-terminated list of "FIELD=value" strings or NULL. */
void esmpid_audit_init(int force_stderr);
void esmpid_audit(int prio, const char *event, const struct esmpid_conn *c,
    const char *const *extra, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
