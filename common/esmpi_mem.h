/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_MEM_H
#define ESMPI_MEM_H

#include <stddef.h>

/* Wipe len bytes at p in a way the compiler cannot elide (OPENSSL_cleanse). */
void esmpi_memzero(void *p, size_t len);

/* Wipe then free; p may be NULL. */
void esmpi_freezero(void *p, size_t len);

/*
 * Keep a region holding secrets out of core dumps and swap where the
 * kernel allows it (MADV_DONTDUMP + mlock, best effort; failures ignored
 * because an unprivileged rank may have RLIMIT_MEMLOCK 0).
 */
void esmpi_mem_protect(void *p, size_t len);

#endif
