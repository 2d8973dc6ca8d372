/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process-wide state and error reporting. Failures never exit the
 * process: they go through the communicator's error handler (fatal by
 * default).
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "core/core.h"

struct esmpi_state esmpi = {
	.dfd = -1,
	.dlock = PTHREAD_MUTEX_INITIALIZER,
	.comms_lock = PTHREAD_MUTEX_INITIALIZER,
	.chunk_comm = MPI_COMM_NULL,
};

int
esmpi_fail(MPI_Comm comm, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "esmpi: rank %d: %s\n", esmpi.world_rank, msg);
	fflush(stderr);
	/* MPI_ERRORS_ARE_FATAL aborts the job here; otherwise we return. */
	PMPI_Comm_call_errhandler(comm, code);
	return code;
}

uint64_t
esmpi_now_coarse(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec;
}
