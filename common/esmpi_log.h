/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_LOG_H
#define ESMPI_LOG_H

#include <stdarg.h>

/*
 * Diagnostics for the daemon and the tools (not audit: that is the
 * daemon's audit.c). Priorities are syslog's. The default sink is stderr
 * prefixed with the program name; the daemon installs a journald sink.
 * Never pass secrets here.
 */
enum {
	ESMPI_LOG_ERR = 3,
	ESMPI_LOG_WARNING = 4,
	ESMPI_LOG_NOTICE = 5,
	ESMPI_LOG_INFO = 6,
	ESMPI_LOG_DEBUG = 7,
};

typedef void esmpi_log_sink_fn(int prio, const char *msg);

void esmpi_log_init(const char *progname, int max_prio);
void esmpi_log_set_sink(esmpi_log_sink_fn *sink);
void esmpi_log(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void esmpi_vlog(int prio, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#define esmpi_error(...)	esmpi_log(ESMPI_LOG_ERR, __VA_ARGS__)
#define esmpi_warn(...)		esmpi_log(ESMPI_LOG_WARNING, __VA_ARGS__)
#define esmpi_notice(...)	esmpi_log(ESMPI_LOG_NOTICE, __VA_ARGS__)
#define esmpi_info(...)		esmpi_log(ESMPI_LOG_INFO, __VA_ARGS__)
#define esmpi_debug(...)	esmpi_log(ESMPI_LOG_DEBUG, __VA_ARGS__)

#endif
