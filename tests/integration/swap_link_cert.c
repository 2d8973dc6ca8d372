/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only LD_PRELOAD shim (placed before libesmpi.so) for a parent that
 * spawns twice: it keeps the first rank's {rank cert, node cert} bundle
 * of the first CERTS link message it receives (mpi/dynamic.c,
 * proto/PROTOCOL.md §7: the first child job's) and sends it as its own
 * in its second CERTS: a genuine certificate of the cluster CA, but of
 * another job. The second child job must refuse this rank's signed
 * records: a rank of one job cannot pass as a rank of another.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#define LINK_TAG	32766
#define HDR		(8 + 32 + 4)	/* magic, policy digest, count */

typedef int (*recv_fn)(void *, int, MPI_Datatype, int, int, MPI_Comm,
    MPI_Status *);
typedef int (*isend_fn)(const void *, int, MPI_Datatype, int, int,
    MPI_Comm, MPI_Request *);

static uint8_t *stolen;
static uint32_t stolen_len;
static int sent;

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* Whether m (len bytes) has the layout of a CERTS message with n >= 1. */
static int
is_certs(const uint8_t *m, int len, uint32_t *n)
{
	uint64_t total;
	uint32_t i;

	if (len < HDR || memcmp(m, "esmpilk1", 8) != 0)
		return 0;
	*n = be32(m + 40);
	total = HDR + 4 * (uint64_t)*n;
	if (*n == 0 || total > (uint64_t)len)
		return 0;
	for (i = 0; i < *n; i++)
		total += be32(m + HDR + 4 * i);
	return total == (uint64_t)len;
}

int
PMPI_Recv(void *buf, int count, MPI_Datatype dt, int src, int tag,
    MPI_Comm comm, MPI_Status *st)
{
	recv_fn real = (recv_fn)dlsym(RTLD_NEXT, "PMPI_Recv");
	int r = real(buf, count, dt, src, tag, comm, st);
	uint32_t n;

	if (r == MPI_SUCCESS && stolen == NULL && tag == LINK_TAG &&
	    dt == MPI_BYTE && is_certs(buf, count, &n) &&
	    (stolen_len = be32((uint8_t *)buf + HDR)) > 0 &&
	    (stolen = malloc(stolen_len)) != NULL)
		memcpy(stolen, (uint8_t *)buf + HDR + 4 * n, stolen_len);
	return r;
}

int
PMPI_Isend(const void *buf, int count, MPI_Datatype dt, int dst, int tag,
    MPI_Comm comm, MPI_Request *req)
{
	isend_fn real = (isend_fn)dlsym(RTLD_NEXT, "PMPI_Isend");
	const uint8_t *m = buf;
	uint8_t *x;
	uint32_t n, mine;
	size_t len;

	if (tag != LINK_TAG || dt != MPI_BYTE || !is_certs(m, count, &n) ||
	    ++sent < 2 || stolen == NULL)
		return real(buf, count, dt, dst, tag, comm, req);
	/* The same message with bundle 0 replaced (kept until exit). */
	mine = be32(m + HDR);
	len = (size_t)count - mine + stolen_len;
	if ((x = malloc(len)) == NULL)
		return real(buf, count, dt, dst, tag, comm, req);
	memcpy(x, m, HDR + 4 * n);
	put32(x + HDR, stolen_len);
	memcpy(x + HDR + 4 * n, stolen, stolen_len);
	memcpy(x + HDR + 4 * n + stolen_len, m + HDR + 4 * n + mine,
	    (size_t)count - HDR - 4 * n - mine);
	fprintf(stderr, "swap_link_cert: sending another job's rank "
	    "certificate as this rank's\n");
	return real(x, (int)len, dt, dst, tag, comm, req);
}
