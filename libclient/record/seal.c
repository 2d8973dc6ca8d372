/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sealing: every point-to-point payload travels as one record (header,
 * ciphertext, tag) of plaintext+ESMPI_REC_OVERHEAD bytes, sent as
 * MPI_BYTE on the same communicator with the same tag, so MPI's matching,
 * ordering, truncation and wildcard semantics apply unchanged. Collective
 * records (mpi/coll.c) are sealed here too, bound to the collective's
 * sequence number.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "record/record.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"

/*
 * Latency: a rank that has just sent, or is about to wait for a message,
 * has time to spare, so it prepares the AEAD context (nonce and AAD) of
 * the record it expects next: the successor of the last one on that key
 * chain (same peer, tag and length, next seq), if the last record was
 * such a successor too. The seal or open of that record then skips those
 * steps; any other record starts afresh (esmpi_aead_prepare). Below
 * MPI_THREAD_MULTIPLE only: the guess needs one thread's order.
 *
 * esmpi_expect_next: record h (to or from peer, on tag) just went through
 * chain k; was it the guess, and what comes next.
 */
void
esmpi_expect_next(struct esmpi_chain *k, const struct esmpi_rec_hdr *h,
    uint32_t peer, int tag)
{
	k->next_right = k->next_valid && k->next.seq == h->seq &&
	    k->next.length == h->length && k->next.epoch == h->epoch &&
	    k->next.flags == h->flags && k->next_peer == peer &&
	    k->next_tag == tag;
	k->next = *h;
	k->next.seq++;
	k->next_peer = peer;
	k->next_tag = tag;
	k->next_valid = 1;
}

void
esmpi_prepare_send(struct esmpi_comm *c)
{
	struct esmpi_chain *k = &c->send[c->last_send_suite];
	struct esmpi_rec_aad a;

	if (esmpi.threads_multi || !k->next_right || k->aead == NULL ||
	    k->next.epoch != k->epoch ||
	    k->next.seq != atomic_load_explicit(&c->send_seq,
	    memory_order_relaxed))
		return;
	esmpi_rec_aad_fill(&a, c, c->my_world, k->next_peer, k->next_tag, 0);
	esmpi_rec_prepare(k->aead, 1, &k->next, &a);
}

void
esmpi_prepare_recv(struct esmpi_comm *c, int src, int tag)
{
	struct esmpi_chain *k;
	struct esmpi_rec_aad a;

	if (esmpi.threads_multi || src < 0 || src >= c->remote_size ||
	    tag < 0 || (k = esmpi_key_recv_chain(c, src,
	    esmpi_comm_settings(c, tag)->suite)) == NULL ||
	    !k->next_right || k->next_tag != tag || k->aead == NULL ||
	    k->next.epoch != k->epoch)
		return;
	esmpi_rec_aad_fill(&a, c, c->peer_world[src], c->my_world, tag, 0);
	esmpi_rec_prepare(k->aead, 0, &k->next, &a);
}

int
esmpi_msg_bytes(int count, MPI_Datatype dt, size_t *n)
{
	MPI_Aint lb;

	(void)esmpi_contig(count, dt, n, &lb);
	return *n > ESMPI_REC_MAX_LEN ? ESMPI_ERR_TOO_LARGE : 0;
}

/* Seal the n contiguous plaintext bytes at pt into out. */
static int
seal_bytes(struct esmpi_comm *c, const void *pt, size_t n,
    uint32_t dst_world, int tag, uint64_t coll_seq, uint8_t *out)
{
	struct esmpi_rec_hdr h;
	struct esmpi_rec_aad a;
	const struct esmpi_pol_settings *set;
	struct esmpi_aead *k;
	const char *rekeyed = NULL;
	int r, sgn = esmpi_sign_extra(c, tag) != 0;

	memset(&h, 0, sizeof(h));
	h.version = ESMPI_REC_VERSION;
	h.flags = coll_seq ? ESMPI_REC_F_COLL : 0;
	if (esmpi.threads_multi)
		h.flags |= ESMPI_REC_F_UNORDERED;
	if (sgn)
		h.flags |= ESMPI_REC_F_SIGNED;
	h.seq = esmpi_count(&c->send_seq);
	h.length = n;
	esmpi_rec_aad_fill(&a, c, c->my_world, dst_world, tag, coll_seq);
	esmpi_comm_lock(c);
	set = esmpi_comm_settings(c, tag);
	h.suite = (uint8_t)set->suite;
	if (esmpi_scope_plain(set, dst_world, coll_seq)) {
		esmpi_rec_plain_put(h.suite, h.seq, pt, n, out);
		esmpi_count(&esmpi.stat_plain);
		r = 0;
	} else if ((k = esmpi_key_send(c, set, n, &h.epoch, &rekeyed)) ==
	    NULL)
		r = ESMPI_ERR_SUITE;
	else if ((r = esmpi_rec_seal(k, &h, &a, pt, n, out)) == 0) {
		if (!coll_seq && !esmpi.threads_multi) {
			esmpi_expect_next(&c->send[set->suite], &h, dst_world,
			    tag);
			c->last_send_suite = set->suite;
		}
		esmpi_count(&esmpi.stat_sealed);
		if (!coll_seq && esmpi_scope_same_node(dst_world))
			esmpi_count(&esmpi.stat_sealed_local);
	}
	esmpi_comm_unlock(c);
	if (r == 0 && sgn)
		r = esmpi_sign_record(&a, out, n);
	if (rekeyed != NULL)
		esmpi_audit_rekey(c->name, tag, h.suite, h.epoch, rekeyed);
	/* Now and then, look for rekey requests esmpid pushed. */
	if ((h.seq & 255) == 0)
		esmpi_poll_daemon();
	return r;
}

int
esmpi_seal_into(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, uint32_t dst_world, int tag, uint64_t coll_seq,
    uint8_t *out)
{
	uint8_t *packed = out + ESMPI_REC_HDR_LEN;
	size_t n;
	MPI_Aint lb;
	int r;

	if (esmpi_contig(count, dt, &n, &lb))
		return seal_bytes(c, (const char *)buf + lb, n, dst_world, tag,
		    coll_seq, out);
	/* Packed where the ciphertext goes and sealed in place: no copy
	 * to allocate, one pass less. */
	if (esmpi_pack(buf, count, dt, packed, c->comm) != 0)
		r = ESMPI_ERR_INVALID;
	else
		r = seal_bytes(c, packed, n, dst_world, tag, coll_seq, out);
	if (r != 0)
		esmpi_memzero(packed, n);	/* record buffers hold no
						 * plaintext */
	return r;
}

int
esmpi_seal_on(struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt, int dest, int tag, struct esmpi_msg *m, uint8_t *space,
    size_t spacelen)
{
	size_t n, sig = esmpi_sign_extra(c, tag);
	MPI_Aint lb;
	int r, contig;

	if (dest < 0 || dest >= c->remote_size)
		return ESMPI_ERR_INVALID;
	contig = esmpi_contig(count, dt, &n, &lb);
	if (n > ESMPI_REC_MAX_LEN)
		return ESMPI_ERR_TOO_LARGE;
	if (n + sig + ESMPI_REC_OVERHEAD <= spacelen)
		m->rec = space;
	else if ((m->rec = esmpi_pool_get(n + sig + ESMPI_REC_OVERHEAD)) ==
	    NULL)
		return ESMPI_ERR_NOMEM;
	m->len = n + sig;
	r = contig ? seal_bytes(c, (const char *)buf + lb, n,
	    c->peer_world[dest], tag, 0, m->rec) : esmpi_seal_into(c, buf,
	    count, dt, c->peer_world[dest], tag, 0, m->rec);
	if (r != 0) {
		esmpi_msg_release(m, space);
		m->rec = NULL;
	}
	return r;
}

int
esmpi_seal(struct esmpi_comm *c, const void *buf, int count, MPI_Datatype dt,
    int dest, int tag, struct esmpi_msg *m)
{
	return esmpi_seal_on(c, buf, count, dt, dest, tag, m, NULL, 0);
}
