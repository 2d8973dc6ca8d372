/* SPDX-License-Identifier: Apache-2.0 */
/*
 * esmpictl audit [--job ID] [--event NAME] [--json]
 *
 * esmpid writes its audit events to journald with ESMPI_* fields; this is
 * the documented journalctl filter, run for the caller:
 *   journalctl SYSLOG_IDENTIFIER=esmpid [ESMPI_JOB=ID] [ESMPI_EVENT=NAME]
 *       --no-pager [-o json]
 * It needs no daemon, only read access to the journal (root, or the adm /
 * systemd-journal groups). Arguments are checked so that nothing but those
 * matches reaches journalctl.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "esmpictl.h"

#define JOURNALCTL "journalctl"

static int
is_job(const char *s)
{
	size_t i;

	if (strlen(s) != 32)
		return 0;
	for (i = 0; i < 32; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
is_event(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 32)
		return 0;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

int
cmd_audit_main(const struct ctl *ctl, int argc, char **argv)
{
	char job[sizeof("ESMPI_JOB=") + 32], event[sizeof("ESMPI_EVENT=") + 32];
	char prog[] = JOURNALCTL, ident[] = "SYSLOG_IDENTIFIER=esmpid";
	char nopager[] = "--no-pager", o[] = "-o", fmt[] = "json";
	char *args[8];
	int a, n = 0, json = 0;
	size_t i;

	(void)ctl;
	job[0] = event[0] = '\0';
	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--json") == 0)
			json = 1;
		else if (strcmp(argv[a], "--job") == 0 && a + 1 < argc) {
			if (!is_job(argv[++a])) {
				fprintf(stderr, "esmpictl: --job: '%.40s' is "
				    "not a job id (32 hex digits, see esmpictl "
				    "status)\n", argv[a]);
				return EXIT_INVALID;
			}
			snprintf(job, sizeof(job), "ESMPI_JOB=%s", argv[a]);
			/* esmpid logs job ids in lower case. */
			for (i = strlen("ESMPI_JOB="); job[i] != '\0'; i++)
				job[i] = (char)tolower((unsigned char)job[i]);
		} else if (strcmp(argv[a], "--event") == 0 && a + 1 < argc) {
			if (!is_event(argv[++a])) {
				fprintf(stderr, "esmpictl: --event: '%.40s' is "
				    "not an event name (session_open, rekey, "
				    "...)\n", argv[a]);
				return EXIT_INVALID;
			}
			snprintf(event, sizeof(event), "ESMPI_EVENT=%s",
			    argv[a]);
		} else {
			fprintf(stderr, "usage: esmpictl audit [--job ID] "
			    "[--event NAME] [--json]\n");
			return EXIT_USAGE;
		}
	}
	args[n++] = prog;
	args[n++] = ident;
	if (job[0] != '\0')
		args[n++] = job;
	if (event[0] != '\0')
		args[n++] = event;
	args[n++] = nopager;
	if (json) {
		args[n++] = o;
		args[n++] = fmt;
	}
	args[n] = NULL;
	fflush(stdout);
	execvp(JOURNALCTL, args);
	perror("esmpictl: cannot run " JOURNALCTL);
	return EXIT_INVALID;
}
