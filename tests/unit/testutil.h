/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the crypto and record tests. */
#ifndef ESMPI_TESTUTIL_H
#define ESMPI_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Decode hex into out (cap bytes); returns the length or -1. */
static inline int
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t i, n = strlen(hex);
	unsigned int v;

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

static inline int
all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

#endif
