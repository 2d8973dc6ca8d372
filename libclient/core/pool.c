/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Record buffers, reused. Large buffers from malloc are fresh mmaps: every
 * message would pay for mmap, page faults and munmap. Buffers here hold
 * ciphertext only when they come back (a user that held plaintext in one,
 * scratch for unpacking or a record packed in place, wipes it first), so
 * they are not wiped on reuse.
 *
 * Small buffers (the latency path) come from a per-thread cache first, so
 * a small message takes no lock; the shared pool behind it is bounded.
 *
 * The shared pool hands out the buffer that came back longest ago
 * (FIFO), and keeps at least two in rotation per large class: Open MPI's
 * single-copy transfer reads a large record in place from the peer's
 * core, and sealing the next record into the buffer that core read last
 * pulls every cache line back from it.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "core/core.h"

#define POOL_MIN_SHIFT	8		/* 256 B */
#define POOL_MAX_SHIFT	26		/* 64 MiB; larger: plain malloc */
#define POOL_PER_CLASS	64		/* small classes; see class_cap() */
#define POOL_CLASS_BYTES (128u << 20)	/* what one class may keep */
#define POOL_CLASSES	(POOL_MAX_SHIFT - POOL_MIN_SHIFT + 1)
#define CACHE_CLASSES	5		/* 256 B .. 4 KiB per thread */
#define CACHE_DEPTH	16

static void *pool[POOL_CLASSES][POOL_PER_CLASS];	/* rings */
static int pool_head[POOL_CLASSES], pool_n[POOL_CLASSES];
static int pool_made[POOL_CLASSES];	/* alive, in use or in the ring */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

struct thread_cache {
	void *buf[CACHE_CLASSES][CACHE_DEPTH];
	int n[CACHE_CLASSES];
	int registered;
};
static __thread struct thread_cache tcache;
static pthread_key_t tcache_key;
static pthread_once_t tcache_once = PTHREAD_ONCE_INIT;

/* The class whose buffers (2^(class + MIN_SHIFT) bytes) hold len. */
static int
class_of(size_t len)
{
	int k;

	if (len <= ((size_t)1 << POOL_MIN_SHIFT))
		return 0;
	k = 64 - __builtin_clzll((unsigned long long)len - 1);
	return k > POOL_MAX_SHIFT ? POOL_CLASSES : k - POOL_MIN_SHIFT;
}

/* Enough buffers for a window of messages in flight, bounded in bytes. */
static int
class_cap(int c)
{
	size_t n = POOL_CLASS_BYTES >> (c + POOL_MIN_SHIFT);

	return n < 2 ? 2 : n > POOL_PER_CLASS ? POOL_PER_CLASS : (int)n;
}

#define HUGE_BYTES	((size_t)2 << 20)

/*
 * Buffers of 2 MiB and more are backed by transparent huge pages where
 * the kernel offers them: Open MPI's single-copy transfer pins and walks
 * the sender's pages one by one, and the AEAD streams through them.
 */
static void *
pool_alloc(size_t len)
{
	size_t n = (len + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1);
	void *p;

	if (len < HUGE_BYTES)
		return malloc(len);
	/* aligned_alloc wants a multiple of the alignment (C11). */
	if ((p = aligned_alloc(HUGE_BYTES, n)) != NULL)
		(void)madvise(p, n, MADV_HUGEPAGE);
	return p;
}

static void *
shared_get(int c)
{
	void *p = NULL;
	/* A large class's only free buffer is the one last read by a
	 * peer: start a second one instead. */
	int rotate = c >= CACHE_CLASSES;

	pthread_mutex_lock(&pool_lock);
	if (pool_n[c] > 0 && !(rotate && pool_n[c] == 1 && pool_made[c] < 2)) {
		p = pool[c][pool_head[c]];
		pool_head[c] = (pool_head[c] + 1) % POOL_PER_CLASS;
		pool_n[c]--;
	}
	pthread_mutex_unlock(&pool_lock);
	if (p != NULL)
		return p;
	if ((p = pool_alloc((size_t)1 << (c + POOL_MIN_SHIFT))) != NULL) {
		pthread_mutex_lock(&pool_lock);
		pool_made[c]++;
		pthread_mutex_unlock(&pool_lock);
	}
	return p;
}

static void
shared_put(void *p, int c)
{
	pthread_mutex_lock(&pool_lock);
	if (pool_n[c] < class_cap(c)) {
		pool[c][(pool_head[c] + pool_n[c]) % POOL_PER_CLASS] = p;
		pool_n[c]++;
		p = NULL;
	} else
		pool_made[c]--;
	pthread_mutex_unlock(&pool_lock);
	free(p);
}

/* A thread that ends hands its cached buffers back to the shared pool. */
static void
tcache_flush(void *arg)
{
	struct thread_cache *t = arg;
	int c;

	for (c = 0; c < CACHE_CLASSES; c++)
		while (t->n[c] > 0)
			shared_put(t->buf[c][--t->n[c]], c);
}

static void
tcache_key_init(void)
{
	(void)pthread_key_create(&tcache_key, tcache_flush);
}

void *
esmpi_pool_get(size_t len)
{
	int c = class_of(len);

	if (c >= POOL_CLASSES)
		return pool_alloc(len);	/* not kept: huge pages still */
	if (c < CACHE_CLASSES && tcache.n[c] > 0)
		return tcache.buf[c][--tcache.n[c]];
	return shared_get(c);
}

void
esmpi_pool_put(void *p, size_t len)
{
	int c = class_of(len);

	if (p == NULL)
		return;
	if (c >= POOL_CLASSES) {
		free(p);
		return;
	}
	if (c < CACHE_CLASSES && tcache.n[c] < CACHE_DEPTH) {
		if (!tcache.registered) {
			pthread_once(&tcache_once, tcache_key_init);
			tcache.registered = 1;
			(void)pthread_setspecific(tcache_key, &tcache);
		}
		tcache.buf[c][tcache.n[c]++] = p;
		return;
	}
	shared_put(p, c);
}

void
esmpi_pool_drain(void)
{
	int c;

	tcache_flush(&tcache);	/* this thread's; others flush as they end */
	pthread_mutex_lock(&pool_lock);
	for (c = 0; c < POOL_CLASSES; c++) {
		for (; pool_n[c] > 0; pool_n[c]--, pool_made[c]--) {
			free(pool[c][pool_head[c]]);
			pool_head[c] = (pool_head[c] + 1) % POOL_PER_CLASS;
		}
	}
	pthread_mutex_unlock(&pool_lock);
}
