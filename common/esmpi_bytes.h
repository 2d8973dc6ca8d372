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
#include <string.h>

/* One byte swap and one unaligned move each (the byte-by-byte form was
 * not always merged by the compiler: ~100 instructions per record). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ESMPI_BE16(v) __builtin_bswap16(v)
#define ESMPI_BE32(v) __builtin_bswap32(v)
#define ESMPI_BE64(v) __builtin_bswap64(v)
#else
#define ESMPI_BE16(v) (v)
#define ESMPI_BE32(v) (v)
#define ESMPI_BE64(v) (v)
#endif

static inline void
esmpi_put_be16(uint8_t *p, uint16_t v)
{
	v = ESMPI_BE16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
esmpi_put_be32(uint8_t *p, uint32_t v)
{
	v = ESMPI_BE32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
esmpi_put_be64(uint8_t *p, uint64_t v)
{
	v = ESMPI_BE64(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint16_t
esmpi_get_be16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return ESMPI_BE16(v);
}

static inline uint32_t
esmpi_get_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return ESMPI_BE32(v);
}

static inline uint64_t
esmpi_get_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return ESMPI_BE64(v);
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
