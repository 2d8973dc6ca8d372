/* SPDX-License-Identifier: Apache-2.0 */
/*
 * esmpi_aead_bench: the record AEAD alone on one core, each engine
 * (OpenSSL; ipsec-mb where built in): seal and open of one record
 * (esmpi_rec_seal, esmpi_rec_open: real header, 68-byte AAD) from 16
 * bytes to 1 MiB, records back to back. The engines alternate within
 * every round, so both see the same machine; each time is the minimum
 * and the median over the rounds, and the ratio openssl / ipsec-mb is
 * the median of the rounds' own ratios. No MPI.
 *
 * Usage: esmpi_aead_bench [--rounds N] [--suite NAME] [--csv FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aead_cost.h"

#define MAX_ROUNDS	31
#define MAX_SIZE	(1 << 20)
#define SLICE		0.004	/* seconds per engine, op and size */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double
minimum(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

int
main(int argc, char **argv)
{
	static const int sizes[] = { 16, 64, 256, 1024, 4096, 16384, 65536,
		262144, 1 << 20 };
	static const int suites[] = { ESMPI_SUITE_AES_256_GCM,
		ESMPI_SUITE_AES_128_GCM, ESMPI_SUITE_CHACHA20_POLY1305 };
	const char *csv_path = NULL, *only = NULL;
	double t[NENGINES][MAX_ROUNDS], ratio[MAX_ROUNDS];
	int rounds = 9, si, zi, op, e, r, have[NENGINES];
	char err[256];
	FILE *csv = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--suite") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
			csv_path = argv[++i];
		else {
			fprintf(stderr, "usage: esmpi_aead_bench [--rounds N] "
			    "[--suite NAME] [--csv FILE]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "esmpi_aead_bench: --rounds 1 to %d\n",
		    MAX_ROUNDS);
		return 2;
	}
	buf = aligned_alloc(64, MAX_SIZE + 64 + ESMPI_REC_OVERHEAD);
	buf2 = aligned_alloc(64, MAX_SIZE + 64 + ESMPI_REC_OVERHEAD);
	if (buf == NULL || buf2 == NULL)
		return 1;
	memset(buf, 0x5a, MAX_SIZE + 64);
	memset(buf2, 0, MAX_SIZE + 64);
	if (csv_path != NULL && (csv = fopen(csv_path, "w")) == NULL) {
		perror(csv_path);
		return 1;
	}
	for (e = 0; e < NENGINES; e++) {
		have[e] = esmpi_engine_check(engines[e], err, sizeof(err)) == 0;
		if (!have[e])
			printf("# %s: %s\n", esmpi_engine_name(engines[e]), err);
	}
	printf("# esmpi_aead_bench: one core, a record sealed or opened "
	    "(68-byte AAD), us per call: min and median of %d rounds; GB/s "
	    "at the median; ratio: openssl / %s, the median of the rounds' "
	    "ratios\n", rounds, esmpi_engine_name(ESMPI_ENGINE_IPSEC_MB));
	printf("%-18s %4s %8s %9s %9s %9s %9s %7s %7s %7s\n", "suite", "op",
	    "bytes", "ossl.min", "ossl.med", "imb.min", "imb.med", "ratio",
	    "GB/s.o", "GB/s.i");
	if (csv)
		fprintf(csv, "suite,op,bytes,openssl_min_us,openssl_median_us,"
		    "ipsecmb_min_us,ipsecmb_median_us,ratio_median\n");
	for (si = 0; si < 3; si++) {
		const char *name = esmpi_suite_name(suites[si]);

		if (only != NULL && strcmp(only, name) != 0)
			continue;
		for (op = 1; op >= 0; op--)
			for (zi = 0; zi < (int)(sizeof(sizes) / sizeof(sizes[0]));
			    zi++) {
				int n = sizes[zi];
				double mn[NENGINES], md[NENGINES], rq = 0;

				for (r = 0; r < rounds; r++) {
					for (e = 0; e < NENGINES; e++)
						t[e][r] = have[e] ? one_op_cost(
						    engines[e], suites[si], op, n,
						    SLICE) : -1;
					ratio[r] = t[1][r] > 0 ?
					    t[0][r] / t[1][r] : 0;
				}
				for (e = 0; e < NENGINES; e++) {
					mn[e] = have[e] ? minimum(t[e], rounds) : -1;
					md[e] = have[e] ? median(t[e], rounds) : -1;
				}
				if (have[1])
					rq = median(ratio, rounds);
				printf("%-18s %4s %8d %9.3f %9.3f %9.3f %9.3f "
				    "%7.2f %7.2f %7.2f\n", name,
				    op ? "seal" : "open", n, mn[0] * 1e6,
				    md[0] * 1e6, mn[1] * 1e6, md[1] * 1e6, rq,
				    n / md[0] / 1e9,
				    have[1] ? n / md[1] / 1e9 : 0);
				if (csv)
					fprintf(csv, "%s,%s,%d,%.4f,%.4f,%.4f,"
					    "%.4f,%.3f\n", name, op ? "seal" :
					    "open", n, mn[0] * 1e6, md[0] * 1e6,
					    mn[1] * 1e6, md[1] * 1e6, rq);
				fflush(stdout);
			}
	}
	if (csv)
		fclose(csv);
	free(buf);
	free(buf2);
	return 0;
}
