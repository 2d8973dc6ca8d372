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

/* Append s to line (of size cap, used *len) with control characters,
 * quotes and backslashes escaped, and spaces too in a field's value (the
 * fields are separated by spaces): text that came from a client (details,
 * names) cannot start another line, add a field or end the quoted
 * message. */
static void
put_escaped(char *line, size_t cap, size_t *len, const char *s, int value)
{
	for (; *s != '\0' && *len + 5 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if (value && ch == ' ')
			*len += (size_t)snprintf(line + *len, cap - *len,
			    "\\x20");
		else if (ch == '\\' || ch == '"')
			*len += (size_t)snprintf(line + *len, cap - *len,
			    "\\%c", ch);
		else if (ch == '\n')
			*len += (size_t)snprintf(line + *len, cap - *len,
			    "\\n");
		else if (ch < 0x20 || ch == 0x7f)
			*len += (size_t)snprintf(line + *len, cap - *len,
			    "\\x%02x", ch);
		else
			line[(*len)++] = (char)ch;
	}
	line[*len] = '\0';
}

void
esmpid_audit(enum esmpid_audit_prio prio, const char *event, const struct esmpid_conn *c,
    const char *const *extra, const char *fmt, ...)
{
	char fields[AUDIT_MAX_FIELDS][160], msg[512];
	char line[AUDIT_MAX_FIELDS * 170 + 4 * sizeof(msg) + 32];
	size_t len;
	/* What a line may fill before its closing quote and newline. */
#define LINE_ROOM	(sizeof(line) - 3)
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
	/* One write per event: readers of the log never see half a line. */
	len = (size_t)snprintf(line, sizeof(line), "esmpid: audit");
	for (i = 0; i < n; i++) {
		const char *eq = strchr(fields[i], '=');

		len += (size_t)snprintf(line + len, sizeof(line) - len,
		    " %.*s", eq != NULL ? (int)(eq - fields[i] + 1) : 0,
		    fields[i]);
		len = len < LINE_ROOM ? len : LINE_ROOM;
		put_escaped(line, LINE_ROOM, &len, eq != NULL ? eq + 1 :
		    fields[i], 1);
	}
	len += (size_t)snprintf(line + len, sizeof(line) - len,
	    " MESSAGE=\"");
	len = len < LINE_ROOM ? len : LINE_ROOM;
	put_escaped(line, LINE_ROOM, &len, msg, 0);
	line[len++] = '"';
	line[len++] = '\n';
	(void)!write(STDERR_FILENO, line, len);
}
