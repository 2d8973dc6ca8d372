/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>

#include "esmpi_bytes.h"
#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_limits.h"
#include "esmpi_mem.h"
#include "esmpi_record.h"

/* True if the two byte ranges share a byte. */
static int
overlaps(const void *a, size_t alen, const void *b, size_t blen)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	if (a == NULL || b == NULL || alen == 0 || blen == 0)
		return 0;
	return x < y ? y - x < alen : x - y < blen;
}

static void
hdr_encode(uint8_t b[ESMPI_REC_HDR_LEN], const struct esmpi_rec_hdr *h)
{
	b[0] = h->version;
	b[1] = h->suite;
	esmpi_put_be16(b + 2, h->flags);
	esmpi_put_be32(b + 4, h->epoch);
	esmpi_put_be64(b + 8, h->seq);
	esmpi_put_be64(b + 16, h->length);
}

/* The AAD starts with the header bytes exactly as they travel. */
static void
aad_build(uint8_t aad[ESMPI_REC_AAD_LEN], const uint8_t hdr[ESMPI_REC_HDR_LEN],
    const struct esmpi_rec_aad *a)
{
	uint8_t *p = aad;

	memcpy(p, hdr, ESMPI_REC_HDR_LEN);
	p += ESMPI_REC_HDR_LEN;
	memcpy(p, a->job, sizeof(a->job));
	p += sizeof(a->job);
	esmpi_put_be32(p, a->src);
	esmpi_put_be32(p + 4, a->dst);
	esmpi_put_be64(p + 8, a->comm);
	esmpi_put_be32(p + 16, (uint32_t)a->tag);
	esmpi_put_be64(p + 20, a->coll_seq);
}

void
esmpi_rec_aad_encode(uint8_t aad[ESMPI_REC_AAD_LEN],
    const uint8_t hdr[ESMPI_REC_HDR_LEN], const struct esmpi_rec_aad *a)
{
	aad_build(aad, hdr, a);
}

static void
nonce_build(uint8_t n[ESMPI_AEAD_NONCE_LEN], uint32_t src, uint64_t seq)
{
	esmpi_put_be32(n, src);
	esmpi_put_be64(n + 4, seq);
}

static int
suite_ok(int id)
{
	const struct esmpi_suite_info *s = esmpi_suite_by_id(id);

	return s != NULL && s->id != ESMPI_SUITE_NONE;
}

int
esmpi_rec_seal_parts(struct esmpi_aead *k, const struct esmpi_rec_hdr *h,
    const struct esmpi_rec_aad *a, const void *pt, size_t len,
    uint8_t hdr[ESMPI_REC_HDR_LEN], uint8_t *ct,
    uint8_t tag[ESMPI_AEAD_TAG_LEN])
{
	uint8_t aad[ESMPI_REC_AAD_LEN], nonce[ESMPI_AEAD_NONCE_LEN];

	if (k == NULL || h == NULL || a == NULL || hdr == NULL ||
	    tag == NULL || (len > 0 && (pt == NULL || ct == NULL)))
		return ESMPI_ERR_INVALID;
	if (h->version != ESMPI_REC_VERSION)
		return ESMPI_ERR_VERSION;
	if (!suite_ok(h->suite))
		return ESMPI_ERR_SUITE;
	if (len > ESMPI_REC_MAX_LEN)
		return ESMPI_ERR_TOO_LARGE;
	if (h->length != len || (h->flags & ~ESMPI_REC_F_KNOWN) != 0 ||
	    (h->flags & ESMPI_REC_F_HEAD))
		return ESMPI_ERR_INVALID;
	/* Past this the 64-bit counter is too close to wrapping. */
	if (h->seq >= ESMPI_REJECT_AFTER_MESSAGES)
		return ESMPI_ERR_LIMIT;
	/* Header and tag are written around the encryption: keep them apart. */
	if (overlaps(hdr, ESMPI_REC_HDR_LEN, tag, ESMPI_AEAD_TAG_LEN) ||
	    overlaps(pt, len, hdr, ESMPI_REC_HDR_LEN) ||
	    overlaps(pt, len, tag, ESMPI_AEAD_TAG_LEN) ||
	    overlaps(ct, len, hdr, ESMPI_REC_HDR_LEN) ||
	    overlaps(ct, len, tag, ESMPI_AEAD_TAG_LEN))
		return ESMPI_ERR_INVALID;

	hdr_encode(hdr, h);
	aad_build(aad, hdr, a);
	nonce_build(nonce, a->src, h->seq);
	return esmpi_aead_seal(k, ct, tag, pt, len, nonce, aad, sizeof(aad));
}

int
esmpi_rec_prepare(struct esmpi_aead *k, int seal,
    const struct esmpi_rec_hdr *h, const struct esmpi_rec_aad *a)
{
	uint8_t hdr[ESMPI_REC_HDR_LEN], aad[ESMPI_REC_AAD_LEN];
	uint8_t nonce[ESMPI_AEAD_NONCE_LEN];

	if (k == NULL || h == NULL || a == NULL)
		return ESMPI_ERR_INVALID;
	hdr_encode(hdr, h);
	aad_build(aad, hdr, a);
	nonce_build(nonce, a->src, h->seq);
	return esmpi_aead_prepare(k, seal, nonce, aad, sizeof(aad));
}

int
esmpi_rec_seal(struct esmpi_aead *k, const struct esmpi_rec_hdr *h,
    const struct esmpi_rec_aad *a, const void *pt, size_t len, uint8_t *out)
{
	if (out == NULL)
		return ESMPI_ERR_INVALID;
	/* Checked here too: out + len must not be formed for a huge len. */
	if (len > ESMPI_REC_MAX_LEN)
		return ESMPI_ERR_TOO_LARGE;
	return esmpi_rec_seal_parts(k, h, a, pt, len, out,
	    out + ESMPI_REC_HDR_LEN, out + ESMPI_REC_HDR_LEN + len);
}

/* The full tag of a head: a seal of no plaintext. */
static int
head_tag(struct esmpi_aead *k, const uint8_t hdr[ESMPI_REC_HDR_LEN],
    const struct esmpi_rec_aad *a, uint64_t seq,
    uint8_t tag[ESMPI_AEAD_TAG_LEN])
{
	uint8_t aad[ESMPI_REC_AAD_LEN], nonce[ESMPI_AEAD_NONCE_LEN];

	aad_build(aad, hdr, a);
	nonce_build(nonce, a->src, seq);
	return esmpi_aead_seal(k, NULL, tag, NULL, 0, nonce, aad, sizeof(aad));
}

int
esmpi_rec_seal_head(struct esmpi_aead *k, const struct esmpi_rec_hdr *h,
    const struct esmpi_rec_aad *a, uint8_t out[ESMPI_REC_HEAD_LEN])
{
	uint8_t tag[ESMPI_AEAD_TAG_LEN];
	int r;

	if (k == NULL || h == NULL || a == NULL || out == NULL)
		return ESMPI_ERR_INVALID;
	if (h->version != ESMPI_REC_VERSION)
		return ESMPI_ERR_VERSION;
	if (!suite_ok(h->suite))
		return ESMPI_ERR_SUITE;
	if (h->length > ESMPI_REC_MAX_LEN)
		return ESMPI_ERR_TOO_LARGE;
	if (!(h->flags & ESMPI_REC_F_HEAD) ||
	    (h->flags & ~ESMPI_REC_F_KNOWN) != 0)
		return ESMPI_ERR_INVALID;
	if (h->seq >= ESMPI_REJECT_AFTER_MESSAGES)
		return ESMPI_ERR_LIMIT;
	hdr_encode(out, h);
	if ((r = head_tag(k, out, a, h->seq, tag)) == 0)
		memcpy(out + ESMPI_REC_HDR_LEN, tag, ESMPI_REC_HEAD_TAG_LEN);
	esmpi_memzero(tag, sizeof(tag));
	return r;
}

int
esmpi_rec_open_head(struct esmpi_aead *k, const struct esmpi_rec_aad *a,
    const uint8_t *rec, size_t reclen, struct esmpi_rec_hdr *h)
{
	struct esmpi_rec_hdr t;
	uint8_t tag[ESMPI_AEAD_TAG_LEN];
	int r;

	if (k == NULL || a == NULL || rec == NULL || h == NULL)
		return ESMPI_ERR_INVALID;
	if (reclen != ESMPI_REC_HEAD_LEN)
		return reclen < ESMPI_REC_HEAD_LEN ? ESMPI_ERR_TRUNCATED :
		    ESMPI_ERR_PROTOCOL;
	if ((r = esmpi_rec_hdr_decode(rec, &t)) != 0)
		return r;
	if ((t.flags & (ESMPI_REC_F_HEAD | ESMPI_REC_F_CHUNK |
	    ESMPI_REC_F_COLL | ESMPI_REC_F_SIGNED)) != ESMPI_REC_F_HEAD)
		return ESMPI_ERR_PROTOCOL;
	if ((r = head_tag(k, rec, a, t.seq, tag)) == 0 &&
	    CRYPTO_memcmp(tag, rec + ESMPI_REC_HDR_LEN,
	    ESMPI_REC_HEAD_TAG_LEN) != 0)
		r = ESMPI_ERR_AUTH;
	esmpi_memzero(tag, sizeof(tag));
	if (r == 0)
		*h = t;
	return r != 0 && r != ESMPI_ERR_AUTH ? ESMPI_ERR_AUTH : r;
}

int
esmpi_rec_hdr_decode(const uint8_t hdr[ESMPI_REC_HDR_LEN],
    struct esmpi_rec_hdr *h)
{
	struct esmpi_rec_hdr t;

	if (hdr == NULL || h == NULL)
		return ESMPI_ERR_INVALID;
	/* Version first: a later format may change everything after it. */
	if ((t.version = hdr[0]) != ESMPI_REC_VERSION)
		return ESMPI_ERR_VERSION;
	t.suite = hdr[1];
	t.flags = esmpi_get_be16(hdr + 2);
	t.epoch = esmpi_get_be32(hdr + 4);
	t.seq = esmpi_get_be64(hdr + 8);
	t.length = esmpi_get_be64(hdr + 16);
	if (!suite_ok(t.suite))
		return ESMPI_ERR_SUITE;
	if ((t.flags & ~ESMPI_REC_F_KNOWN) != 0)
		return ESMPI_ERR_PROTOCOL;
	if (t.length > ESMPI_REC_MAX_LEN)
		return ESMPI_ERR_TOO_LARGE;
	*h = t;
	return 0;
}

/* ESMPI_REC_MAX_LEN keeps the sums below from wrapping. */
static int
length_check(const struct esmpi_rec_hdr *h, size_t have, size_t extra)
{
	if (have < h->length + extra)
		return ESMPI_ERR_TRUNCATED;
	if (have > h->length + extra)
		return ESMPI_ERR_PROTOCOL;
	return 0;
}

int
esmpi_rec_parse_hdr(const uint8_t *rec, size_t reclen,
    struct esmpi_rec_hdr *h)
{
	struct esmpi_rec_hdr t;
	int r;

	if (rec == NULL || h == NULL)
		return ESMPI_ERR_INVALID;
	if (reclen < ESMPI_REC_HDR_LEN)
		return ESMPI_ERR_TRUNCATED;
	if ((r = esmpi_rec_hdr_decode(rec, &t)) != 0 ||
	    (r = length_check(&t, reclen, ESMPI_REC_OVERHEAD)) != 0)
		return r;
	*h = t;
	return 0;
}

/* Decrypt once the framing is known to be consistent. */
static int
open_body(struct esmpi_aead *k, const struct esmpi_rec_aad *a,
    const uint8_t *hdr, const struct esmpi_rec_hdr *h, const uint8_t *ct,
    const uint8_t *tag, void *pt, size_t ptcap)
{
	uint8_t aad[ESMPI_REC_AAD_LEN], nonce[ESMPI_AEAD_NONCE_LEN];

	if (k == NULL || a == NULL || tag == NULL ||
	    (h->length > 0 && (ct == NULL || pt == NULL)))
		return ESMPI_ERR_INVALID;
	if (ptcap < h->length)
		return ESMPI_ERR_TOO_LARGE;
	/* Both are copied before pt is written, so pt may cover hdr. */
	aad_build(aad, hdr, a);
	nonce_build(nonce, a->src, h->seq);
	return esmpi_aead_open(k, pt, ct, h->length, tag, nonce,
	    aad, sizeof(aad));
}

int
esmpi_rec_open_hdr(struct esmpi_aead *k, const struct esmpi_rec_aad *a,
    const uint8_t *rec, const struct esmpi_rec_hdr *h, void *pt,
    size_t ptcap)
{
	const uint8_t *ct = rec + ESMPI_REC_HDR_LEN;
	int r = open_body(k, a, rec, h, ct, ct + h->length, pt, ptcap);

	/* Never leave unauthenticated bytes behind, whatever failed. */
	if (r != 0 && pt != NULL)
		esmpi_memzero(pt, ptcap);
	return r;
}

int
esmpi_rec_open(struct esmpi_aead *k, const struct esmpi_rec_aad *a,
    const uint8_t *rec, size_t reclen, void *pt, size_t ptcap,
    struct esmpi_rec_hdr *h_out)
{
	struct esmpi_rec_hdr h;
	int r;

	if ((r = esmpi_rec_parse_hdr(rec, reclen, &h)) != 0) {
		if (pt != NULL)
			esmpi_memzero(pt, ptcap);
		return r;
	}
	if ((r = esmpi_rec_open_hdr(k, a, rec, &h, pt, ptcap)) == 0 &&
	    h_out != NULL)
		*h_out = h;
	return r;
}

int
esmpi_rec_open_parts(struct esmpi_aead *k, const struct esmpi_rec_aad *a,
    const uint8_t hdr[ESMPI_REC_HDR_LEN], const uint8_t *ct, size_t ctlen,
    const uint8_t tag[ESMPI_AEAD_TAG_LEN], void *pt, size_t ptcap,
    struct esmpi_rec_hdr *h_out)
{
	struct esmpi_rec_hdr h;
	int r;

	if ((r = esmpi_rec_hdr_decode(hdr, &h)) != 0 ||
	    (r = length_check(&h, ctlen, 0)) != 0 ||
	    (r = open_body(k, a, hdr, &h, ct, tag, pt, ptcap)) != 0)
		goto out;
	if (h_out != NULL)
		*h_out = h;
out:
	if (r != 0 && pt != NULL)
		esmpi_memzero(pt, ptcap);
	return r;
}

void
esmpi_replay_init(struct esmpi_replay *w)
{
	memset(w, 0, sizeof(*w));
}

int
esmpi_replay_check(const struct esmpi_replay *w, uint64_t seq)
{
	if (seq >= ESMPI_REJECT_AFTER_MESSAGES)
		return ESMPI_ERR_REPLAY;
	if (!w->any || seq > w->top)
		return 0;
	if (w->top - seq > ESMPI_REPLAY_WINDOW)
		return ESMPI_ERR_REPLAY;
	if (w->bits[(seq / 64) % ESMPI_REPLAY_WORDS] & (1ULL << (seq % 64)))
		return ESMPI_ERR_REPLAY;
	return 0;
}

void
esmpi_replay_accept(struct esmpi_replay *w, uint64_t seq)
{
	uint64_t cur, n, i;

	/* A refused seq could alias a live bit of a newer one. */
	if (esmpi_replay_check(w, seq) != 0)
		return;
	if (!w->any) {
		memset(w->bits, 0, sizeof(w->bits));
		w->top = seq;
		w->any = 1;
	} else if (seq > w->top) {
		/* Clear the words the window slides over, at most all. */
		cur = w->top / 64;
		n = seq / 64 - cur;
		if (n > ESMPI_REPLAY_WORDS)
			n = ESMPI_REPLAY_WORDS;
		for (i = 1; i <= n; i++)
			w->bits[(cur + i) % ESMPI_REPLAY_WORDS] = 0;
		w->top = seq;
	}
	w->bits[(seq / 64) % ESMPI_REPLAY_WORDS] |= 1ULL << (seq % 64);
}

int
esmpi_order_check(const struct esmpi_order *o, uint64_t ticket, uint64_t seq)
{
	if (ticket == 0 || o->ticket == 0 || ticket == o->ticket)
		return 0;
	if (ticket > o->ticket ? seq <= o->seq : seq >= o->seq)
		return ESMPI_ERR_REPLAY;
	return 0;
}

void
esmpi_order_accept(struct esmpi_order *o, uint64_t ticket, uint64_t seq)
{
	/* Equal tickets (one Startall) are unordered among themselves: keep
	 * the highest seq, which every later-posted receive must exceed. */
	if (ticket == 0 || ticket < o->ticket)
		return;
	if (ticket > o->ticket || seq > o->seq)
		o->seq = seq;
	o->ticket = ticket;
}

void
esmpi_rec_plain_put(int suite, uint64_t seq, const void *pt, size_t n,
    uint8_t *out)
{
	out[0] = ESMPI_REC_VERSION;
	out[1] = (uint8_t)suite;
	esmpi_put_be16(out + 2, ESMPI_REC_F_PLAIN);
	esmpi_put_be32(out + 4, 0);
	esmpi_put_be64(out + 8, seq);
	esmpi_put_be64(out + 16, n);
	/* pt may be the record's own payload (packed in place). */
	memmove(out + ESMPI_REC_HDR_LEN, pt, n);
	/* Where a sealed record has its tag: zeros, so sizes match. */
	memset(out + ESMPI_REC_HDR_LEN + n, 0, ESMPI_AEAD_TAG_LEN);
}

int
esmpi_rec_plain_is(const uint8_t *rec, size_t reclen)
{
	return reclen >= ESMPI_REC_HDR_LEN &&
	    esmpi_get_be16(rec + 2) == ESMPI_REC_F_PLAIN;
}

int
esmpi_rec_plain_take(const uint8_t *rec, size_t reclen, int suite,
    uint8_t *out, size_t cap, size_t *len)
{
	uint64_t n;

	if (reclen < ESMPI_REC_HDR_LEN || rec[0] != ESMPI_REC_VERSION)
		return ESMPI_ERR_VERSION;
	if (esmpi_get_be16(rec + 2) != ESMPI_REC_F_PLAIN)
		return ESMPI_ERR_PROTOCOL;
	if (rec[1] != suite)
		return ESMPI_ERR_AUTH;
	n = esmpi_get_be64(rec + 16);
	if (reclen < ESMPI_REC_OVERHEAD || n != reclen - ESMPI_REC_OVERHEAD)
		return ESMPI_ERR_PROTOCOL;
	if (n > cap)
		return ESMPI_ERR_TOO_LARGE;
	memcpy(out, rec + ESMPI_REC_HDR_LEN, n);
	*len = n;
	return 0;
}
