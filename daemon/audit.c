/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "esmpid.h"

#define AUDIT_MAX_FIELDS 24

static int audit_journal;

void
esmpid_audit_init(int force_stderr)
{
	/* sd_journal_send() needs journald's socket; without it, stderr. */
	audit_journal = !force_stderr &&
	    access("/run/systemd/journal/socket", W_OK) == 0;
}

void
esmpid_audit(int prio, const char *event, const struct esmpid_conn *c,
    const char *const *extra, const char *fmt, ...)
{
	char fields[AUDIT_MAX_FIELDS][160], msg[512];
	struct iovec iov[AUDIT_MAX_FIELDS + 1];
	int n = 0, i;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

#define FIELD(...) do {							\
	if (n < AUDIT_MAX_FIELDS)					\
		snprintf(fields[n++], sizeof(fields[0]), __VA_ARGS__);	\
} while (0)
	FIELD("ESMPI_EVENT=%s", event);
	FIELD("PRIORITY=%d", prio);
	FIELD("SYSLOG_IDENTIFIER=esmpid");
	if (c != NULL) {
		FIELD("ESMPI_UID=%u", (unsigned)c->uid);
		FIELD("ESMPI_PID=%d", (int)c->pid);
		if (c->session_id != 0)
			FIELD("ESMPI_SESSION=%llu",
			    (unsigned long long)c->session_id);
		if (c->state != SESS_NEW && c->kind == CONN_CLIENT) {
			FIELD("ESMPI_JOB=%s", c->job_hex);
			FIELD("ESMPI_RANK=%u", c->rank);
		}
	}
	for (i = 0; extra != NULL && extra[i] != NULL; i++)
		FIELD("%s", extra[i]);
#undef FIELD

	if (audit_journal) {
		for (i = 0; i < n; i++) {
			iov[i].iov_base = fields[i];
			iov[i].iov_len = strlen(fields[i]);
		}
		/* MESSAGE is built separately: it may be longer. */
		char m[sizeof(msg) + 8];

		snprintf(m, sizeof(m), "MESSAGE=%s", msg);
		iov[n].iov_base = m;
		iov[n].iov_len = strlen(m);
		if (sd_journal_sendv(iov, n + 1) == 0)
			return;
	}
	fprintf(stderr, "esmpid: audit");
	for (i = 0; i < n; i++)
		fprintf(stderr, " %s", fields[i]);
	fprintf(stderr, " MESSAGE=\"%s\"\n", msg);
}
