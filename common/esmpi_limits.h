/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_LIMITS_H
#define ESMPI_LIMITS_H

/*
 * Every wire and key-usage limit in one place (cf. WireGuard messages.h),
 * each with where its number comes from. Macros rather than an enum:
 * most values do not fit in an int.
 *
 * "Per key" means per AEAD key. A key that several ranks seal under carries
 * the sum of their traffic, so these bounds only hold if each sender counts
 * everything sealed under the key, i.e. keys are per sender (or per pair).
 */

/*
 * AES-GCM usage per key. RFC 8446 §5.5 allows 2^24.5 full-size (2^14 byte)
 * records per AES-GCM key, i.e. about 2^34.5 16-byte blocks, which keeps
 * the confidentiality advantage (sigma + q)^2 / 2^129 of AEBounds
 * (Luykx, Paterson 2017) near 2^-60. The policy may not go above these
 * ceilings: 2^38 bytes (2^34 blocks) plus 2^32 records gives about 2^-60.
 * ChaCha20-Poly1305 has far larger margins; one ceiling keeps it simple.
 */
#define ESMPI_REKEY_MAX_BYTES		(1ULL << 38)
#define ESMPI_REKEY_MAX_MESSAGES	(1ULL << 32)

/*
 * Policy defaults (DESIGN §6, "rekey:"): 64 GiB is 2^32 blocks and, with
 * 2^30 records, leaves an advantage of about 2^-64, far below the RFC 8446
 * margin. Rekeying is a local one-way HKDF step, so being cautious costs
 * almost nothing.
 */
#define ESMPI_REKEY_AFTER_BYTES		(64ULL << 30)
#define ESMPI_REKEY_AFTER_MESSAGES	(1ULL << 30)
#define ESMPI_REKEY_AFTER_SECONDS	3600

/*
 * Hard stop for the 64-bit record counter (WireGuard: REJECT_AFTER_MESSAGES).
 * Far above any rekey limit, so only a sender that never rekeys reaches
 * it; far enough below 2^64 that seq + window arithmetic cannot wrap.
 * Senders refuse to seal at or above it, receivers refuse to accept it.
 */
#define ESMPI_REJECT_AFTER_MESSAGES	(1ULL << 60)

/*
 * Replay window: a 2048-bit ring of 64-bit words as in WireGuard
 * counter.c. One word is given up so that sliding by whole words never
 * drops a counter still inside the window: a record at most
 * ESMPI_REPLAY_WINDOW below the highest accepted one is still checked.
 */
#define ESMPI_REPLAY_BITS		2048
#define ESMPI_REPLAY_WINDOW		(ESMPI_REPLAY_BITS - 64)

/*
 * Largest plaintext in one record: 32 GiB. GCM cannot encrypt more than
 * 2^36 - 32 bytes under one nonce (SP 800-38D §5.2.1.1) and RFC 8439
 * ChaCha20-Poly1305 not more than 2^38 - 64; large messages travel as
 * chunks of a few hundred KiB anyway (DESIGN §4).
 */
#define ESMPI_REC_MAX_LEN		(1ULL << 35)

#endif
