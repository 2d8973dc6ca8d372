/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Memory for key material: the job key, chain keys and their rings, and
 * the structures that hold chains (communicator states, receive-chain
 * tables). Heap pages end up in core dumps; these come from mmap'd arenas
 * marked MADV_DONTDUMP and mlocked where RLIMIT_MEMLOCK allows (out of
 * swap too). Freed blocks are wiped, then reused.
 *
 * Power-of-two classes of 64 B to 64 KiB carved from 256 KiB arenas, which
 * are kept (key memory is small and lives as long as its communicator);
 * larger blocks are mappings of their own. Never on the per-message path.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/core.h"
#include "esmpi_mem.h"

#define MIN_SHIFT	6
#define MAX_SHIFT	16
#define ARENA		(256u << 10)

struct freeblk {
	struct freeblk *next;
};

static struct freeblk *freelist[MAX_SHIFT - MIN_SHIFT + 1];
static uint8_t *arena;
static size_t arena_left;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* A zeroed mapping kept out of core dumps, or NULL: without
 * MADV_DONTDUMP no key goes there (fail closed). */
static void *
map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (madvise(p, len, MADV_DONTDUMP) != 0) {
		munmap(p, len);
		return NULL;
	}
	(void)mlock(p, len);	/* best effort: RLIMIT_MEMLOCK may be 0 */
	return p;
}

static int
shift_of(size_t n)
{
	int s = MIN_SHIFT;

	while (((size_t)1 << s) < n)
		s++;
	return s;
}

static size_t
pages(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (n + pg - 1) / pg * pg;
}

void *
esmpi_secure_calloc(size_t n)
{
	int s = shift_of(n ? n : 1);
	size_t sz = (size_t)1 << s;
	struct freeblk *b;

	if (s > MAX_SHIFT)
		return map(pages(n));
	pthread_mutex_lock(&lock);
	if ((b = freelist[s - MIN_SHIFT]) != NULL) {
		freelist[s - MIN_SHIFT] = b->next;
		b->next = NULL;		/* the rest was wiped at free */
	} else {
		/* A new arena when this one is short (its rest is left). */
		if (arena_left < sz && (arena = map(ARENA)) != NULL)
			arena_left = ARENA;
		if (arena != NULL && arena_left >= sz) {
			b = (struct freeblk *)arena;
			arena += sz;
			arena_left -= sz;
		}
	}
	pthread_mutex_unlock(&lock);
	return b;
}

void
esmpi_secure_free(void *p, size_t n)
{
	int s = shift_of(n ? n : 1);
	struct freeblk *b = p;

	if (p == NULL)
		return;
	if (s > MAX_SHIFT) {
		esmpi_memzero(p, n);
		munmap(p, pages(n));
		return;
	}
	esmpi_memzero(p, (size_t)1 << s);
	pthread_mutex_lock(&lock);
	b->next = freelist[s - MIN_SHIFT];
	freelist[s - MIN_SHIFT] = b;
	pthread_mutex_unlock(&lock);
}

/*
 * ESMPI_TEST_KEYMEM=1: the VmFlags of the mapping that holds p, from
 * /proc/self/smaps ("dd": not dumped, "lo": locked), so a test can see
 * where key material really is.
 */
void
esmpi_secure_report(const char *what, const void *p)
{
	char line[512], flags[256] = "(no mapping found)";
	unsigned long lo, hi;
	int in = 0;
	FILE *f;

	if (p == NULL || (f = fopen("/proc/self/smaps", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		/* A mapping's header: "lo-hi perms ..."; no field line
		 * starts with hex digits, a dash and hex digits. */
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(flags, sizeof(flags), "%s", line + 8);
			flags[strcspn(flags, "\n")] = '\0';
			break;
		}
	}
	fclose(f);
	fprintf(stderr, "esmpi: rank %d: key memory: %s: VmFlags:%s\n",
	    esmpi.world_rank, what, flags);
}

/*
 * OpenSSL's own allocations (the AEAD key schedules inside its cipher
 * contexts, signing keys) come from here too: libesmpi's constructor
 * gives OpenSSL these functions before anything in the process has used
 * it (OpenSSL takes them only then). Each block carries its size in a
 * 16-byte header, since OpenSSL frees without one.
 */
#define HDR 16

static int openssl_hooked;

static void *
ossl_malloc(size_t n, const char *file, int line)
{
	size_t *p;

	(void)file;
	(void)line;
	if (n > SIZE_MAX - HDR || (p = esmpi_secure_calloc(n + HDR)) == NULL)
		return NULL;
	p[0] = n;
	return (uint8_t *)p + HDR;
}

static void
ossl_free(void *q, const char *file, int line)
{
	size_t *p;

	(void)file;
	(void)line;
	if (q == NULL)
		return;
	p = (size_t *)((uint8_t *)q - HDR);
	esmpi_secure_free(p, p[0] + HDR);
}

static void *
ossl_realloc(void *q, size_t n, const char *file, int line)
{
	size_t old;
	void *r;

	if (q == NULL)
		return ossl_malloc(n, file, line);
	if (n == 0) {
		ossl_free(q, file, line);
		return NULL;
	}
	old = *(size_t *)((uint8_t *)q - HDR);
	if ((r = ossl_malloc(n, file, line)) == NULL)
		return NULL;
	memcpy(r, q, old < n ? old : n);
	ossl_free(q, file, line);
	return r;
}

__attribute__((constructor)) static void
hook_openssl(void)
{
	openssl_hooked = CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc,
	    ossl_free);
}

/* ESMPI_TEST_KEYMEM: where an OpenSSL allocation lands. */
void
esmpi_secure_openssl_report(void)
{
	void *p = OPENSSL_malloc(32);

	if (!openssl_hooked)
		fprintf(stderr, "esmpi: rank %d: key memory: OpenSSL was in "
		    "use before libesmpi loaded: its allocations stay on "
		    "the heap\n", esmpi.world_rank);
	esmpi_secure_report("openssl allocations", p);
	OPENSSL_free(p);
}
