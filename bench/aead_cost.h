/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AEAD cost the library cannot avoid, measured in the benchmark's own
 * run through what the library runs: the record layer (esmpi_rec_seal and
 * esmpi_rec_open of a record with a real header and 68-byte AAD), on each
 * AEAD engine (OpenSSL; ipsec-mb where built in). One seal plus one open,
 * and the one-core rate at 16 KiB. Nothing is prepared ahead
 * (esmpi_aead_prepare): this is the whole cost.
 * Shared by esmpi_bench.c, coll_bench.c, msg_cost.c and aead_bench.c;
 * uses their buf and buf2 (at least size + ESMPI_REC_OVERHEAD bytes each).
 */
#ifndef ESMPI_BENCH_AEAD_H
#define ESMPI_BENCH_AEAD_H

#include <string.h>
#include <time.h>

#include "esmpi_crypto.h"
#include "esmpi_record.h"

static char *buf, *buf2;

/* The engines compared, in columns. */
#define NENGINES	2
static const int engines[NENGINES] = { ESMPI_ENGINE_OPENSSL,
	ESMPI_ENGINE_IPSEC_MB };

static __attribute__((unused)) double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A key of suite on engine (AUTO: the one libesmpi selects, from the same
 * ESMPI_CRYPTO); NULL where the engine cannot run. Made once. */
static struct esmpi_aead *
bench_key(int engine, int suite)
{
	static struct esmpi_aead *keys[3][4];
	static int tried[3][4];
	const struct esmpi_suite_info *s = esmpi_suite_by_id(suite);
	uint8_t key[ESMPI_AEAD_MAX_KEY_LEN];

	if (s == NULL || engine < 0 || engine > 2 || suite < 1 || suite > 3)
		return NULL;
	if (!tried[engine][suite]) {
		tried[engine][suite] = 1;
		memset(key, 0x42, sizeof(key));
		if (esmpi_aead_new_engine(&keys[engine][suite], engine, suite,
		    key, s->key_len) != 0)
			keys[engine][suite] = NULL;
	}
	return keys[engine][suite];
}

static void
bench_record(struct esmpi_rec_hdr *h, struct esmpi_rec_aad *a, int suite,
    size_t size)
{
	memset(h, 0, sizeof(*h));
	h->version = ESMPI_REC_VERSION;
	h->suite = (uint8_t)suite;
	h->epoch = 1;
	h->length = size;
	memset(a, 0, sizeof(*a));
	memset(a->job, 0x5a, sizeof(a->job));
	a->src = 0;
	a->dst = 1;
	a->comm = 0x100000000ULL;
	a->tag = 10;
}

/*
 * Seconds for one seal plus one open of a size-byte message: sealed from
 * buf into a record in buf2, opened back into buf, as a message's way
 * through the library. Negative where the engine cannot run.
 */
static __attribute__((unused)) double
seal_open_cost(int engine, int suite, int size, int iters)
{
	struct esmpi_aead *k = bench_key(engine, suite);
	struct esmpi_rec_hdr h;
	struct esmpi_rec_aad a;
	double t0;
	int i, bad = 0;

	if (k == NULL)
		return -1;
	bench_record(&h, &a, suite, (size_t)size);
	t0 = now();
	for (i = 0; i < iters; i++) {
		h.seq = (uint64_t)i;
		bad |= esmpi_rec_seal(k, &h, &a, buf, (size_t)size,
		    (uint8_t *)buf2);
		bad |= esmpi_rec_open(k, &a, (uint8_t *)buf2,
		    (size_t)size + ESMPI_REC_OVERHEAD, buf, (size_t)size, NULL);
	}
	return bad ? -1 : (now() - t0) / iters;
}

/* Seconds per seal (enc) or open of a size-byte record, records back to
 * back for about seconds. */
static __attribute__((unused)) double
one_op_cost(int engine, int suite, int enc, int size, double seconds)
{
	struct esmpi_aead *k = bench_key(engine, suite);
	struct esmpi_rec_hdr h;
	struct esmpi_rec_aad a;
	double t0, t;
	long done = 0;
	int bad = 0;

	if (k == NULL)
		return -1;
	bench_record(&h, &a, suite, (size_t)size);
	bad |= esmpi_rec_seal(k, &h, &a, buf, (size_t)size, (uint8_t *)buf2);
	t0 = now();
	do {
		for (int i = 0; i < 32; i++, done++) {
			if (enc) {
				h.seq = (uint64_t)done;
				bad |= esmpi_rec_seal(k, &h, &a, buf,
				    (size_t)size, (uint8_t *)buf2);
			} else
				bad |= esmpi_rec_open(k, &a, (uint8_t *)buf2,
				    (size_t)size + ESMPI_REC_OVERHEAD, buf,
				    (size_t)size, NULL);
		}
		t = now() - t0;
	} while (t < seconds);
	return bad ? -1 : t / (double)done;
}

/*
 * The one-core AEAD rate at 16 KiB, bytes per second: 16 KiB records
 * sealed back to back, then opened back to back; the slower of the two,
 * since a stream needs both (one on each side). 0 where the engine
 * cannot run. The benchmarks take it in every round, like everything
 * else, and keep the best.
 */
static __attribute__((unused)) double
aead_rate(int engine, int suite, double seconds)
{
	double s = one_op_cost(engine, suite, 1, 16384, seconds / 2);
	double o = one_op_cost(engine, suite, 0, 16384, seconds / 2);

	if (s <= 0 || o <= 0)
		return 0;
	return 16384.0 / (s > o ? s : o);
}

#endif
