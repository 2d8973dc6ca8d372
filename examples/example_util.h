/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared scaffolding of the esmpi example programs: checks that count
 * failures, an FNV-1a checksum, and the final report. Every example ends
 * with rank 0 printing "<name>: OK checksum <n>" (or "<name>: FAILED ...")
 * and exits non-zero if any rank's checks failed.
 *
 * Collectives that move data are refused under esmpi's default policy, so
 * the results are gathered with point-to-point messages only.
 */
#ifndef ESMPI_EXAMPLE_UTIL_H
#define ESMPI_EXAMPLE_UTIL_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ex_rank = -1;
static int ex_errs;

#define FNV_INIT 14695981039346656037ull

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		if (ex_errs++ < 20) {					\
			fprintf(stderr, "rank %d: %s:%d: check failed: "\
			    "%s: ", ex_rank, __FILE__, __LINE__, #cond);\
			fprintf(stderr, __VA_ARGS__);			\
			fputc('\n', stderr);				\
			fflush(stderr);					\
		}							\
	}								\
} while (0)

/* The call must return MPI_SUCCESS (meaningful under MPI_ERRORS_RETURN). */
#define MPI_OK(call) do {						\
	int rc_ = (call);						\
	if (rc_ != MPI_SUCCESS) {					\
		char s_[MPI_MAX_ERROR_STRING];				\
		int l_ = 0;						\
		MPI_Error_string(rc_, s_, &l_);				\
		CHECK(rc_ == MPI_SUCCESS, "%s returned %d (%s)", #call,	\
		    rc_, s_);						\
	}								\
} while (0)

static inline uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ull;
	}
	return h;
}

static inline uint64_t
fnv_u64(uint64_t h, uint64_t v)
{
	return fnv(h, &v, sizeof(v));
}

static inline int
ex_init(int *argc, char ***argv, int *size)
{
	int rank;

	MPI_Init(argc, argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, size);
	ex_rank = rank;
	return rank;
}

/*
 * A wire-capture marker read from a file (first line), never from argv:
 * Open MPI's launcher carries the command line between hosts in clear.
 */
static inline const char *
ex_marker(const char *path)
{
	static char m[256];
	FILE *f = fopen(path, "r");

	if (f == NULL || fgets(m, sizeof(m), f) == NULL) {
		fprintf(stderr, "cannot read a marker from %s\n", path);
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	fclose(f);
	m[strcspn(m, "\n")] = '\0';
	return m;
}

/*
 * Rank 0 Puts marker (with its NUL) into rank 1's window over buf (len
 * bytes, zeroed first) on comm, between two fences. Returns MPI's code:
 * the window's creation's or the Put's. For the fail-closed examples
 * (pmpi_init.c, session_init.c), whose windows esmpi must refuse.
 */
static inline int
ex_put_marker(MPI_Comm comm, const char *marker, char *buf, int len)
{
	int rank, size, n = (int)strlen(marker) + 1, rc;
	MPI_Win win;

	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &size);
	memset(buf, 0, (size_t)len);
	rc = MPI_Win_create(buf, (MPI_Aint)len, 1, MPI_INFO_NULL, comm, &win);
	if (rc != MPI_SUCCESS)
		return rc;
	MPI_Win_fence(0, win);
	if (rank == 0 && size >= 2)
		rc = MPI_Put(marker, n, MPI_CHAR, 1, 0, n, MPI_CHAR, win);
	MPI_Win_fence(0, win);
	MPI_Win_free(&win);
	return rc;
}

#define EX_REPORT_TAG 32000

/*
 * Rank 0 collects every rank's error count and checksum (point-to-point),
 * prints the final line, and returns the exit status for main.
 */
static inline int
ex_finish(const char *name, uint64_t sum)
{
	uint64_t mine[2] = { (uint64_t)ex_errs, sum }, theirs[2], total;
	int rank, size, i, failed_ranks = 0;
	long long errs;

	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (rank != 0) {
		MPI_Send(mine, 2, MPI_UINT64_T, 0, EX_REPORT_TAG,
		    MPI_COMM_WORLD);
		return ex_errs ? 1 : 0;
	}
	total = fnv_u64(FNV_INIT, sum);
	errs = ex_errs;
	failed_ranks = ex_errs != 0;
	for (i = 1; i < size; i++) {
		MPI_Recv(theirs, 2, MPI_UINT64_T, i, EX_REPORT_TAG,
		    MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		errs += (long long)theirs[0];
		failed_ranks += theirs[0] != 0;
		total = fnv_u64(total, theirs[1]);
	}
	if (errs == 0)
		printf("%s: OK checksum %llu\n", name,
		    (unsigned long long)total);
	else
		printf("%s: FAILED: %lld check(s) failed on %d rank(s), "
		    "checksum %llu\n", name, errs, failed_ranks,
		    (unsigned long long)total);
	fflush(stdout);
	return errs ? 1 : 0;
}

#endif
