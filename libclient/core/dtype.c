/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Datatype helpers of the per-message path: sizes of predefined types
 * without a call into MPI, contiguity, holding a derived type for a
 * request, and unpacking a received message (partial elements included).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "esmpi_mem.h"

/*
 * Predefined datatypes never change, so their sizes are looked up once;
 * the per-message path then makes no datatype calls for them. (Derived
 * handles may be freed and reused for another layout: always asked.)
 */
static const MPI_Datatype predefined[] = {
	MPI_BYTE, MPI_CHAR, MPI_INT, MPI_DOUBLE, MPI_FLOAT, MPI_LONG,
	MPI_UNSIGNED_CHAR, MPI_SIGNED_CHAR, MPI_SHORT, MPI_UNSIGNED_SHORT,
	MPI_UNSIGNED, MPI_UNSIGNED_LONG, MPI_LONG_LONG, MPI_UNSIGNED_LONG_LONG,
	MPI_INT8_T, MPI_INT16_T, MPI_INT32_T, MPI_INT64_T, MPI_UINT8_T,
	MPI_UINT16_T, MPI_UINT32_T, MPI_UINT64_T, MPI_C_BOOL, MPI_AINT,
	MPI_OFFSET, MPI_COUNT, MPI_WCHAR,
};
#define NPREDEFINED (sizeof(predefined) / sizeof(predefined[0]))
static int predefined_size[NPREDEFINED];
static pthread_once_t predefined_once = PTHREAD_ONCE_INIT;
static atomic_int predefined_ready;

static void
predefined_init(void)
{
	size_t i;

	for (i = 0; i < NPREDEFINED; i++)
		if (PMPI_Type_size(predefined[i], &predefined_size[i]) !=
		    MPI_SUCCESS)
			predefined_size[i] = -1;
	atomic_store_explicit(&predefined_ready, 1, memory_order_release);
}

/* Size of a predefined, contiguous type, or -1. */
static int
predefined_type_size(MPI_Datatype dt)
{
	size_t i;

	if (!atomic_load_explicit(&predefined_ready, memory_order_acquire))
		pthread_once(&predefined_once, predefined_init);
	for (i = 0; i < NPREDEFINED; i++)
		if (predefined[i] == dt)
			return predefined_size[i];
	return -1;
}

int
esmpi_predefined_size(MPI_Datatype dt)
{
	return predefined_type_size(dt);
}

int
esmpi_type_size(MPI_Datatype dt)
{
	int tsz = predefined_type_size(dt);

	if (tsz < 0)
		PMPI_Type_size(dt, &tsz);
	return tsz;
}

/* Contiguous layout of count elements: the bytes start at buf+lb. */
int
esmpi_contig(int count, MPI_Datatype dt, size_t *bytes, MPI_Aint *lb)
{
	MPI_Aint tlb, text, elb, eext;
	int tsz = predefined_type_size(dt);

	if (tsz >= 0) {
		*bytes = (size_t)tsz * (size_t)(count > 0 ? count : 0);
		*lb = 0;
		return 1;
	}
	PMPI_Type_size(dt, &tsz);
	*bytes = (size_t)tsz * (size_t)(count > 0 ? count : 0);
	PMPI_Type_get_true_extent(dt, &tlb, &text);
	PMPI_Type_get_extent(dt, &elb, &eext);
	*lb = tlb;
	return text == tsz && (count <= 1 || eext == tsz);
}


MPI_Datatype
esmpi_type_hold(MPI_Datatype dt, int *held)
{
	MPI_Datatype dup;
	int ni, na, nd, comb;

	*held = 0;
	if (predefined_type_size(dt) >= 0 ||
	    PMPI_Type_get_envelope(dt, &ni, &na, &nd, &comb) != MPI_SUCCESS ||
	    comb == MPI_COMBINER_NAMED ||
	    PMPI_Type_dup(dt, &dup) != MPI_SUCCESS)
		return dt;
	*held = 1;
	return dup;
}


#define WIRE_BLOCK	((size_t)1 << 30)

/* The type of a record of more than INT_MAX bytes (esmpi_wire). */
int
esmpi_wire_type(size_t len, struct esmpi_wire *w)
{
	MPI_Datatype block, types[2];
	int lens[2];
	MPI_Aint at[2] = { 0, 0 };

	/* len / 1 GiB blocks of 1 GiB, then the rest: len bytes exactly,
	 * so MPI truncates as it would for len MPI_BYTEs. */
	if (PMPI_Type_contiguous((int)WIRE_BLOCK, MPI_BYTE, &block) !=
	    MPI_SUCCESS)
		return -1;
	lens[0] = (int)(len / WIRE_BLOCK);
	lens[1] = (int)(len % WIRE_BLOCK);
	at[1] = (MPI_Aint)(len / WIRE_BLOCK * WIRE_BLOCK);
	types[0] = block;
	types[1] = MPI_BYTE;
	if (PMPI_Type_create_struct(2, lens, at, types, &w->dt) !=
	    MPI_SUCCESS || PMPI_Type_commit(&w->dt) != MPI_SUCCESS) {
		PMPI_Type_free(&block);
		w->dt = MPI_BYTE;
		return -1;
	}
	PMPI_Type_free(&block);
	w->count = 1;
	return 0;
}

/*
 * MPI_Pack (or, unpack, MPI_Unpack) of count elements of dt between buf
 * and packed, in pieces of at most INT_MAX bytes.
 */
static int
pack_pieces(int unpack, void *buf, int count, MPI_Datatype dt,
    uint8_t *packed, MPI_Comm comm)
{
	MPI_Aint lb, ext;
	int tsz, per, done, k, pos, rc;

	PMPI_Type_size(dt, &tsz);
	PMPI_Type_get_extent(dt, &lb, &ext);
	per = tsz > 0 ? INT_MAX / tsz : count;
	for (done = 0; done < count; done += k) {
		k = count - done < per ? count - done : per;
		pos = 0;
		rc = unpack ? PMPI_Unpack(packed + (size_t)done * (size_t)tsz,
		    k * tsz, &pos, (char *)buf + (MPI_Aint)done * ext, k, dt,
		    comm) : PMPI_Pack((char *)buf + (MPI_Aint)done * ext, k,
		    dt, packed + (size_t)done * (size_t)tsz, k * tsz, &pos,
		    comm);
		if (rc != MPI_SUCCESS)
			return -1;
	}
	return 0;
}

int
esmpi_pack(const void *buf, int count, MPI_Datatype dt, uint8_t *packed,
    MPI_Comm comm)
{
	return pack_pieces(0, (void *)buf, count, dt, packed, comm);
}

/*
 * Whole elements by MPI_Unpack. The last len % size bytes (a receive
 * with room for more than arrived may end inside an element, which plain
 * MPI fills up to there, but MPI_Unpack takes whole elements only) go
 * into that element by packing it as it is, overwriting the packed copy's
 * first bytes and unpacking it again: its other places get back what
 * they held. One element's worth of work, whatever its size.
 */
void
esmpi_unpack_into(const uint8_t *packed, size_t len, void *buf, int count,
    MPI_Datatype dt, MPI_Comm comm)
{
	int pos = 0, tsz, full, rest;
	MPI_Aint elb, eext;
	uint8_t *elem, *tmp;

	(void)count;
	PMPI_Type_size(dt, &tsz);
	full = tsz ? (int)(len / (size_t)tsz) : 0;
	(void)pack_pieces(1, buf, full, dt, (uint8_t *)packed, comm);
	if (!tsz || (rest = (int)(len % (size_t)tsz)) == 0)
		return;
	PMPI_Type_get_extent(dt, &elb, &eext);
	elem = (uint8_t *)buf + (MPI_Aint)full * eext;
	if ((tmp = esmpi_pool_get((size_t)tsz)) == NULL)
		return;
	pos = 0;
	if (PMPI_Pack(elem, 1, dt, tmp, tsz, &pos, comm) == MPI_SUCCESS) {
		memcpy(tmp, packed + (size_t)full * (size_t)tsz, rest);
		pos = 0;
		PMPI_Unpack(tmp, tsz, &pos, elem, 1, dt, comm);
	}
	esmpi_memzero(tmp, (size_t)tsz);
	esmpi_pool_put(tmp, (size_t)tsz);
}
