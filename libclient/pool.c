/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Record buffers, reused. Large buffers from malloc are fresh mmaps: every
 * message would pay for mmap, page faults and munmap. Buffers here hold
 * ciphertext only (never plaintext), so they are not wiped on reuse.
 */
#include <stdlib.h>

#include "esmpi_client.h"

#define POOL_MIN_SHIFT	8		/* 256 B */
#define POOL_MAX_SHIFT	26		/* 64 MiB; larger: plain malloc */
#define POOL_PER_CLASS	64		/* small classes; see class_cap() */
#define POOL_CLASS_BYTES (128u << 20)	/* what one class may keep */
#define POOL_CLASSES	(POOL_MAX_SHIFT - POOL_MIN_SHIFT + 1)

static void *pool[POOL_CLASSES][POOL_PER_CLASS];
static int pool_n[POOL_CLASSES];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static int
class_of(size_t len)
{
	int k = POOL_MIN_SHIFT;

	while (k <= POOL_MAX_SHIFT && ((size_t)1 << k) < len)
		k++;
	return k - POOL_MIN_SHIFT;
}

/* Enough buffers for a window of messages in flight, bounded in bytes. */
static int
class_cap(int c)
{
	size_t n = POOL_CLASS_BYTES >> (c + POOL_MIN_SHIFT);

	return n < 2 ? 2 : n > POOL_PER_CLASS ? POOL_PER_CLASS : (int)n;
}

void *
esmpi_pool_get(size_t len)
{
	int c = class_of(len);
	void *p = NULL;

	if (c >= POOL_CLASSES)
		return malloc(len);
	pthread_mutex_lock(&pool_lock);
	if (pool_n[c] > 0)
		p = pool[c][--pool_n[c]];
	pthread_mutex_unlock(&pool_lock);
	return p != NULL ? p : malloc((size_t)1 << (c + POOL_MIN_SHIFT));
}

void
esmpi_pool_put(void *p, size_t len)
{
	int c = class_of(len);

	if (p == NULL)
		return;
	if (c < POOL_CLASSES) {
		pthread_mutex_lock(&pool_lock);
		if (pool_n[c] < class_cap(c)) {
			pool[c][pool_n[c]++] = p;
			p = NULL;
		}
		pthread_mutex_unlock(&pool_lock);
	}
	free(p);
}

void
esmpi_pool_drain(void)
{
	int c;

	pthread_mutex_lock(&pool_lock);
	for (c = 0; c < POOL_CLASSES; c++)
		while (pool_n[c] > 0)
			free(pool[c][--pool_n[c]]);
	pthread_mutex_unlock(&pool_lock);
}
