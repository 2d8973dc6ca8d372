/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "esmpi_mem.h"

void
esmpi_memzero(void *p, size_t len)
{
	if (p != NULL && len > 0)
		OPENSSL_cleanse(p, len);
}

void
esmpi_freezero(void *p, size_t len)
{
	if (p == NULL)
		return;
	esmpi_memzero(p, len);
	free(p);
}

void
esmpi_mem_protect(void *p, size_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t start, end;

	if (p == NULL || len == 0 || pg <= 0)
		return;
	start = (uintptr_t)p & ~((uintptr_t)pg - 1);
	end = ((uintptr_t)p + len + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
	/* Best effort: see header. */
	(void)madvise((void *)start, end - start, MADV_DONTDUMP);
	(void)mlock(p, len);
}
