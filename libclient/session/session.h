/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_SESSION_H
#define ESMPI_SESSION_H

/*
 * Layer 2, the session with esmpid: the daemon connection and its
 * protocol (daemon.c), the job key (establish.c), the policy rules the
 * daemon resolved (rules.c), audit reports. Owns esmpi.job_id, job_key,
 * node_id, the connection fields and the rules. May call: core/ and
 * below, proto/, common/.
 */
#include "core/core.h"
#include "esmpi.pb-c.h"

/* daemon.c */
/* Connect to esmpid (ESMPI_SOCKET or the default) and say Hello. */
int esmpi_daemon_connect(Esmpi__Reply **hello, char *err, size_t len);
/* One request/reply with esmpid under its lock. */
int esmpi_daemon_request(Esmpi__Request *req, Esmpi__Reply **rep, char *err,
    size_t len);
/* Take events esmpid pushed (rekey requests) without blocking. */
void esmpi_poll_daemon(void);
/* Report an event to the daemon's audit log (best effort; queued while
 * the daemon is away). comm: the communicator's name, or NULL. */
void esmpi_audit(const char *event, const char *comm, int peer, int tag,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void esmpi_audit_rekey(const char *comm, int tag, int suite, uint32_t epoch,
    const char *why);
/* Without a session (a failed join): one report, recorded or an error. */
int esmpi_daemon_audit_now(Esmpi__AuditReport *a, char *err, size_t len);
/* Queued events, Goodbye, close. */
void esmpi_daemon_close(void);

/* establish.c */
/* Collective over WORLD: connect, take the policy, agree on the job key
 * (esmpi.job_key) and learn our node (esmpi.node_id). */
int esmpi_session_open(char *err, size_t len);
/* Wipe the job key, say Goodbye, drop the rules. */
void esmpi_session_close(void);
/* Whether every rank succeeded so far (collective over WORLD). */
int esmpi_all_ok(int ok);
/* A link to another job (comm/link.c, PROTOCOL.md §7): our esmpid's link
 * share (packed KeyShare, malloc'ed), then, with the other side's, the
 * link secret: drawn and wrapped (wrap = 1, our point is the lower) or
 * unwrapped from what the other side's esmpid wrapped. */
#define ESMPI_LINK_WRAPPED_LEN	48
int esmpi_link_share(uint8_t **out, size_t *outlen, char *err, size_t len);
int esmpi_link_key(int wrap, const uint8_t *peer, size_t peerlen,
    uint8_t wrapped[ESMPI_LINK_WRAPPED_LEN], uint8_t secret[32],
    char *err, size_t len);

/* rules.c */
int esmpi_rules_take(const Esmpi__HelloReply *h);
/* SHA-256 of what decides records: defaults and each rule. */
int esmpi_rules_digest(uint64_t d[4]);
void esmpi_rules_free(void);

#endif
