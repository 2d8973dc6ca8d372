/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One-sided communication: a target datatype described by the origin
 * (MPI_Type_get_envelope/get_contents, recursively) and rebuilt at the
 * target, and the predefined datatypes and reduction operations by index
 * (their handles are addresses that differ between processes). The
 * description is an array of int64: a node is its combiner, then for a
 * named type its index, else its numbers of ints, addresses and types,
 * those ints and addresses, and its types as nodes.
 */
#include <stdlib.h>
#include <string.h>

#include "mpi/mpi_layer.h"

static const MPI_Datatype named[] = {
	MPI_CHAR, MPI_SIGNED_CHAR, MPI_UNSIGNED_CHAR, MPI_BYTE, MPI_SHORT,
	MPI_UNSIGNED_SHORT, MPI_INT, MPI_UNSIGNED, MPI_LONG, MPI_UNSIGNED_LONG,
	MPI_LONG_LONG, MPI_UNSIGNED_LONG_LONG, MPI_FLOAT, MPI_DOUBLE,
	MPI_LONG_DOUBLE, MPI_WCHAR, MPI_C_BOOL, MPI_INT8_T, MPI_INT16_T,
	MPI_INT32_T, MPI_INT64_T, MPI_UINT8_T, MPI_UINT16_T, MPI_UINT32_T,
	MPI_UINT64_T, MPI_AINT, MPI_OFFSET, MPI_COUNT, MPI_C_FLOAT_COMPLEX,
	MPI_C_DOUBLE_COMPLEX, MPI_C_LONG_DOUBLE_COMPLEX, MPI_FLOAT_INT,
	MPI_DOUBLE_INT, MPI_LONG_INT, MPI_2INT, MPI_SHORT_INT,
	MPI_LONG_DOUBLE_INT, MPI_PACKED, MPI_INTEGER, MPI_REAL,
	MPI_DOUBLE_PRECISION, MPI_COMPLEX, MPI_DOUBLE_COMPLEX, MPI_LOGICAL,
	MPI_CHARACTER, MPI_2REAL, MPI_2DOUBLE_PRECISION, MPI_2INTEGER,
	MPI_INTEGER1, MPI_INTEGER2, MPI_INTEGER4, MPI_INTEGER8, MPI_REAL4,
	MPI_REAL8, MPI_COMPLEX8, MPI_COMPLEX16,
};
#define NNAMED ((int)(sizeof(named) / sizeof(named[0])))

static const MPI_Op ops[] = {
	MPI_MAX, MPI_MIN, MPI_SUM, MPI_PROD, MPI_LAND, MPI_BAND, MPI_LOR,
	MPI_BOR, MPI_LXOR, MPI_BXOR, MPI_MAXLOC, MPI_MINLOC, MPI_REPLACE,
	MPI_NO_OP,
};
#define NOPS ((int)(sizeof(ops) / sizeof(ops[0])))

#define MAX_DEPTH 16
#define MAX_DESC (1 << 20)	/* int64 words */

int
esmpi_rma_op_index(MPI_Op op)
{
	int i;

	for (i = 0; i < NOPS; i++)
		if (ops[i] == op)
			return i;
	return -1;
}

MPI_Op
esmpi_rma_op(int i)
{
	return i >= 0 && i < NOPS ? ops[i] : MPI_OP_NULL;
}

int
esmpi_rma_named_index(MPI_Datatype dt)
{
	int i;

	for (i = 0; i < NNAMED; i++)
		if (named[i] == dt && dt != MPI_DATATYPE_NULL)
			return i;
	return -1;
}

MPI_Datatype
esmpi_rma_named(int i)
{
	return i >= 0 && i < NNAMED ? named[i] : MPI_DATATYPE_NULL;
}

struct desc {
	int64_t *v;
	size_t n, cap;
};

static int
put(struct desc *d, int64_t x)
{
	int64_t *nv;

	if (d->n == d->cap) {
		if (d->cap >= MAX_DESC)
			return -1;
		d->cap = d->cap ? d->cap * 2 : 64;
		if ((nv = realloc(d->v, d->cap * sizeof(*nv))) == NULL)
			return -1;
		d->v = nv;
	}
	d->v[d->n++] = x;
	return 0;
}

static int
describe(struct desc *d, MPI_Datatype dt, int depth)
{
	int ni, na, nd, comb, i, r = -1;
	int *iv = NULL;
	MPI_Aint *av = NULL;
	MPI_Datatype *tv = NULL;

	if (depth > MAX_DEPTH ||
	    PMPI_Type_get_envelope(dt, &ni, &na, &nd, &comb) != MPI_SUCCESS)
		return -1;
	if (put(d, comb) != 0)
		return -1;
	if (comb == MPI_COMBINER_NAMED) {
		i = esmpi_rma_named_index(dt);
		return i < 0 ? -1 : put(d, i);
	}
	switch (comb) {
	case MPI_COMBINER_DUP: case MPI_COMBINER_CONTIGUOUS:
	case MPI_COMBINER_VECTOR: case MPI_COMBINER_HVECTOR:
	case MPI_COMBINER_INDEXED: case MPI_COMBINER_HINDEXED:
	case MPI_COMBINER_INDEXED_BLOCK: case MPI_COMBINER_HINDEXED_BLOCK:
	case MPI_COMBINER_STRUCT: case MPI_COMBINER_SUBARRAY:
	case MPI_COMBINER_RESIZED:
		break;
	default:
		return -1;
	}
	iv = calloc((size_t)ni + 1, sizeof(*iv));
	av = calloc((size_t)na + 1, sizeof(*av));
	tv = calloc((size_t)nd + 1, sizeof(*tv));
	if (iv == NULL || av == NULL || tv == NULL ||
	    PMPI_Type_get_contents(dt, ni, na, nd, iv, av, tv) != MPI_SUCCESS)
		goto out;
	if (put(d, ni) || put(d, na) || put(d, nd))
		goto out;
	for (i = 0; i < ni; i++)
		if (put(d, iv[i]))
			goto out;
	for (i = 0; i < na; i++)
		if (put(d, av[i]))
			goto out;
	r = 0;
	for (i = 0; i < nd && r == 0; i++)
		r = describe(d, tv[i], depth + 1);
	for (i = 0; i < nd; i++) {
		int c2, x;

		/* get_contents returns derived types we must free */
		if (PMPI_Type_get_envelope(tv[i], &x, &x, &x, &c2) ==
		    MPI_SUCCESS && c2 != MPI_COMBINER_NAMED)
			PMPI_Type_free(&tv[i]);
	}
out:
	free(iv);
	free(av);
	free(tv);
	return r;
}

int
esmpi_rma_describe(MPI_Datatype dt, int64_t **out, size_t *n)
{
	struct desc d = { 0 };

	if (describe(&d, dt, 0) != 0) {
		free(d.v);
		return -1;
	}
	*out = d.v;
	*n = d.n;
	return 0;
}

struct rd {
	const int64_t *v;
	size_t n, at;
};

static int
get(struct rd *r, int64_t *x)
{
	if (r->at >= r->n)
		return -1;
	*x = r->v[r->at++];
	return 0;
}

static int
get_int(struct rd *r, int *x)
{
	int64_t v;

	if (get(r, &v) != 0 || v < INT_MIN || v > INT_MAX)
		return -1;
	*x = (int)v;
	return 0;
}

static void
free_derived(MPI_Datatype *t)
{
	int x, c;

	if (*t != MPI_DATATYPE_NULL &&
	    PMPI_Type_get_envelope(*t, &x, &x, &x, &c) == MPI_SUCCESS &&
	    c != MPI_COMBINER_NAMED)
		PMPI_Type_free(t);
}

/* Rebuild one node; the numbers are checked against the constructor's
 * shape (each needs exactly these many ints, addresses and types). */
static int
build(struct rd *r, MPI_Datatype *out, int depth)
{
	int comb, ni, na, nd, i, n, rc = -1;
	int *iv = NULL;
	MPI_Aint *av = NULL;
	MPI_Datatype *tv = NULL;
	int64_t x;

	*out = MPI_DATATYPE_NULL;
	if (depth > MAX_DEPTH || get_int(r, &comb) != 0)
		return -1;
	if (comb == MPI_COMBINER_NAMED) {
		if (get(r, &x) != 0 || x < 0 || x >= NNAMED)
			return -1;
		*out = named[x];
		return 0;
	}
	if (get_int(r, &ni) || get_int(r, &na) || get_int(r, &nd) ||
	    ni < 0 || na < 0 || nd < 0 || (size_t)ni + (size_t)na >
	    r->n - r->at || nd > 1 << 20)
		return -1;
	iv = calloc((size_t)ni + 1, sizeof(*iv));
	av = calloc((size_t)na + 1, sizeof(*av));
	tv = calloc((size_t)nd + 1, sizeof(*tv));
	if (iv == NULL || av == NULL || tv == NULL)
		goto out;
	for (i = 0; i < ni; i++)
		if (get_int(r, &iv[i]))
			goto out;
	for (i = 0; i < na; i++)
		if (get(r, &x))
			goto out;
		else
			av[i] = (MPI_Aint)x;
	for (i = 0; i < nd; i++)
		if (build(r, &tv[i], depth + 1) != 0)
			goto out;
	n = ni > 0 ? iv[0] : -1;
	switch (comb) {
	case MPI_COMBINER_DUP:
		if (ni || na || nd != 1)
			goto out;
		rc = PMPI_Type_dup(tv[0], out);
		break;
	case MPI_COMBINER_CONTIGUOUS:
		if (ni != 1 || na || nd != 1)
			goto out;
		rc = PMPI_Type_contiguous(n, tv[0], out);
		break;
	case MPI_COMBINER_VECTOR:
		if (ni != 3 || na || nd != 1)
			goto out;
		rc = PMPI_Type_vector(n, iv[1], iv[2], tv[0], out);
		break;
	case MPI_COMBINER_HVECTOR:
		if (ni != 2 || na != 1 || nd != 1)
			goto out;
		rc = PMPI_Type_create_hvector(n, iv[1], av[0], tv[0], out);
		break;
	case MPI_COMBINER_INDEXED:
		if (n < 0 || ni != 1 + 2 * n || na || nd != 1)
			goto out;
		rc = PMPI_Type_indexed(n, iv + 1, iv + 1 + n, tv[0], out);
		break;
	case MPI_COMBINER_HINDEXED:
		if (n < 0 || ni != 1 + n || na != n || nd != 1)
			goto out;
		rc = PMPI_Type_create_hindexed(n, iv + 1, av, tv[0], out);
		break;
	case MPI_COMBINER_INDEXED_BLOCK:
		if (n < 0 || ni != 2 + n || na || nd != 1)
			goto out;
		rc = PMPI_Type_create_indexed_block(n, iv[1], iv + 2, tv[0],
		    out);
		break;
	case MPI_COMBINER_HINDEXED_BLOCK:
		if (n < 0 || ni != 2 || na != n || nd != 1)
			goto out;
		rc = PMPI_Type_create_hindexed_block(n, iv[1], av, tv[0], out);
		break;
	case MPI_COMBINER_STRUCT:
		if (n < 0 || ni != 1 + n || na != n || nd != n)
			goto out;
		rc = PMPI_Type_create_struct(n, iv + 1, av, tv, out);
		break;
	case MPI_COMBINER_SUBARRAY:
		if (n < 0 || ni != 2 + 3 * n || na || nd != 1)
			goto out;
		rc = PMPI_Type_create_subarray(n, iv + 1, iv + 1 + n,
		    iv + 1 + 2 * n, iv[1 + 3 * n], tv[0], out);
		break;
	case MPI_COMBINER_RESIZED:
		if (ni || na != 2 || nd != 1)
			goto out;
		rc = PMPI_Type_create_resized(tv[0], av[0], av[1], out);
		break;
	default:
		goto out;
	}
	if (rc == MPI_SUCCESS && PMPI_Type_commit(out) != MPI_SUCCESS) {
		PMPI_Type_free(out);
		rc = -1;
	}
	if (rc != MPI_SUCCESS) {
		*out = MPI_DATATYPE_NULL;
		rc = -1;
	}
out:
	for (i = 0; tv != NULL && i < nd; i++)
		free_derived(&tv[i]);
	free(iv);
	free(av);
	free(tv);
	return rc;
}

int
esmpi_rma_build(const int64_t *v, size_t n, MPI_Datatype *out)
{
	struct rd r = { v, n, 0 };

	if (build(&r, out, 0) != 0)
		return -1;
	if (r.at != n) {
		free_derived(out);
		return -1;
	}
	return 0;
}

void
esmpi_rma_type_done(MPI_Datatype *t)
{
	free_derived(t);
}

/* The one predefined type dt is built of (what accumulate operates on),
 * or MPI_DATATYPE_NULL when there are several. */
MPI_Datatype
esmpi_rma_basic(MPI_Datatype dt)
{
	int ni, na, nd, comb, i;
	int *iv;
	MPI_Aint *av;
	MPI_Datatype *tv, b = MPI_DATATYPE_NULL, t;

	if (PMPI_Type_get_envelope(dt, &ni, &na, &nd, &comb) != MPI_SUCCESS)
		return MPI_DATATYPE_NULL;
	if (comb == MPI_COMBINER_NAMED)
		return dt;
	iv = calloc((size_t)ni + 1, sizeof(*iv));
	av = calloc((size_t)na + 1, sizeof(*av));
	tv = calloc((size_t)nd + 1, sizeof(*tv));
	if (iv != NULL && av != NULL && tv != NULL &&
	    PMPI_Type_get_contents(dt, ni, na, nd, iv, av, tv) ==
	    MPI_SUCCESS) {
		for (i = 0; i < nd; i++) {
			t = esmpi_rma_basic(tv[i]);
			if (i == 0)
				b = t;
			else if (t != b)
				b = MPI_DATATYPE_NULL;
			free_derived(&tv[i]);
		}
	}
	free(iv);
	free(av);
	free(tv);
	return b;
}
