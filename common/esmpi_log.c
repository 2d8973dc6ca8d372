/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "esmpi_log.h"

static const char *log_prog = "esmpi";
static int log_max = ESMPI_LOG_INFO;
static esmpi_log_sink_fn *log_sink;

void
esmpi_log_init(const char *progname, int max_prio)
{
	log_prog = progname;
	log_max = max_prio;
}

void
esmpi_log_set_sink(esmpi_log_sink_fn *sink)
{
	log_sink = sink;
}

void
esmpi_vlog(int prio, const char *fmt, va_list ap)
{
	char msg[1024];

	if (prio > log_max)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_sink != NULL)
		log_sink(prio, msg);
	else
		fprintf(stderr, "%s: %s\n", log_prog, msg);
}

void
esmpi_log(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	esmpi_vlog(prio, fmt, ap);
	va_end(ap);
}
