/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_BYTES_H
#define ESMPI_BYTES_H

/*
 * Big-endian (network order) stores and loads of fixed-width integers at
 * unaligned addresses: every wire and record layout of esmpi is
 * big-endian. The caller guarantees the bytes are there.
 */

#include <stddef.h>
#include <stdint.h>

static inline void
esmpi_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
esmpi_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
esmpi_put_be64(uint8_t *p, uint64_t v)
{
	esmpi_put_be32(p, (uint32_t)(v >> 32));
	esmpi_put_be32(p + 4, (uint32_t)v);
}

static inline uint16_t
esmpi_get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
esmpi_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
esmpi_get_be64(const uint8_t *p)
{
	return (uint64_t)esmpi_get_be32(p) << 32 | esmpi_get_be32(p + 4);
}

/* n bytes as 2n lower-case hex digits and a NUL (out holds 2n + 1). */
static inline void
esmpi_hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

#endif
