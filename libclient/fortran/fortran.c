/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fortran. Open MPI's Fortran bindings (mpif.h, use mpi, use mpi_f08), and
 * part of MPICH's mpi_f08, call PMPI_* directly, so libesmpi defines their
 * entry points itself: the generated code (gen_wrappers.py, from the
 * tables) converts the Fortran arguments with the helpers below and calls
 * our C MPI_* functions.
 */
#include <stdlib.h>
#include <string.h>

#include "fortran/fortran.h"

/* Fortran INTEGER handles, counts and statuses are used in place as ints. */
_Static_assert(sizeof(MPI_Fint) == sizeof(int), "MPI_Fint is not an int");
_Static_assert(sizeof(MPI_Status) == ESMPI_F_STATUS_SIZE * sizeof(MPI_Fint),
    "Fortran and C statuses differ in size");

/* A sentinel of mpif.h / `use mpi` or of `use mpi_f08` (the same ones in
 * Open MPI, their own in MPICH). */
#define IS(p, what)	((p) == ESMPI_F_##what || (p) == ESMPI_F08_##what)

/*
 * A blank-padded Fortran string without its blanks: leading ones too, as
 * Open MPI's own Fortran bindings do (a blank string is empty).
 */
static const char *
fstr_trim(const char *f, size_t *len)
{
	while (*len > 0 && *f == ' ') {
		f++;
		(*len)--;
	}
	while (*len > 0 && f[*len - 1] == ' ')
		(*len)--;
	return f;
}

/* Copy a Fortran string into s as a C string; the byte after it. */
static char *
fstr_copy(char *s, const char *f, size_t len)
{
	f = fstr_trim(f, &len);
	memcpy(s, f, len);
	s[len] = '\0';
	return s + len + 1;
}

static size_t
fstr_len(const char *f, size_t len)
{
	fstr_trim(f, &len);
	return len;
}

void *
esmpi_f2c_buf(void *buf)
{
	if (IS(buf, BOTTOM))
		return MPI_BOTTOM;
	if (IS(buf, IN_PLACE))
		return MPI_IN_PLACE;
	return buf;
}

int *
esmpi_f2c_weights(MPI_Fint *w)
{
	if (IS(w, UNWEIGHTED))
		return MPI_UNWEIGHTED;
	if (IS(w, WEIGHTS_EMPTY))
		return MPI_WEIGHTS_EMPTY;
	return w;
}

MPI_Status *
esmpi_f2c_status(MPI_Fint *f, MPI_Status *c)
{
	return IS(f, STATUS_IGNORE) ? MPI_STATUS_IGNORE : c;
}

void
esmpi_c2f_status(const MPI_Status *c, MPI_Fint *f)
{
	if (!IS(f, STATUS_IGNORE))
		PMPI_Status_c2f(c, f);
}

int
esmpi_f2c_statuses(MPI_Fint *f, int n, MPI_Status **c)
{
	if (IS(f, STATUSES_IGNORE)) {
		*c = MPI_STATUSES_IGNORE;
		return MPI_SUCCESS;
	}
	*c = calloc(n > 0 ? (size_t)n : 1, sizeof(**c));
	return *c != NULL ? MPI_SUCCESS : MPI_ERR_NO_MEM;
}

void
esmpi_c2f_statuses(const MPI_Status *c, MPI_Fint *f, int n)
{
	int i;

	if (IS(f, STATUSES_IGNORE))
		return;
	for (i = 0; i < n; i++)
		PMPI_Status_c2f(&c[i], f + (size_t)i * ESMPI_F_STATUS_SIZE);
}

/*
 * How many datatypes an Alltoallw-family call reads from each array: one
 * per rank of the (remote) group, or one per neighbour (in-neighbours for
 * receives, out-neighbours for sends). 0 for a bad communicator: the C
 * call then reports it.
 */
int
esmpi_f_types_len(MPI_Fint fcomm, int neighbor, int send)
{
	MPI_Comm comm = PMPI_Comm_f2c(fcomm);
	int n = 0, in = 0, out = 0, kind = MPI_UNDEFINED, inter = 0, w;

	if (comm == MPI_COMM_NULL)
		return 0;
	if (!neighbor) {
		PMPI_Comm_test_inter(comm, &inter);
		(inter ? PMPI_Comm_remote_size : PMPI_Comm_size)(comm, &n);
		return n;
	}
	PMPI_Topo_test(comm, &kind);
	if (kind == MPI_CART) {
		PMPI_Cartdim_get(comm, &n);
		return 2 * n;
	}
	if (kind == MPI_GRAPH) {
		PMPI_Comm_rank(comm, &w);
		PMPI_Graph_neighbors_count(comm, w, &n);
		return n;
	}
	if (kind == MPI_DIST_GRAPH)
		PMPI_Dist_graph_neighbors_count(comm, &in, &out, &w);
	return send ? out : in;
}

int
esmpi_f2c_types(const MPI_Fint *f, int n, MPI_Datatype **c)
{
	int i;

	if ((*c = calloc(n > 0 ? (size_t)n : 1, sizeof(**c))) == NULL)
		return MPI_ERR_NO_MEM;
	for (i = 0; i < n; i++)
		(*c)[i] = PMPI_Type_f2c(f[i]);
	return MPI_SUCCESS;
}

int
esmpi_f2c_requests(const MPI_Fint *f, int n, MPI_Request **c)
{
	int i;

	if ((*c = calloc(n > 0 ? (size_t)n : 1, sizeof(**c))) == NULL)
		return MPI_ERR_NO_MEM;
	for (i = 0; i < n; i++)
		(*c)[i] = PMPI_Request_f2c(f[i]);
	return MPI_SUCCESS;
}

void
esmpi_c2f_requests(const MPI_Request *c, MPI_Fint *f, int n)
{
	int i;

	for (i = 0; i < n; i++)
		f[i] = PMPI_Request_c2f(c[i]);
}

int
esmpi_f2c_string(const char *f, size_t len, char **c)
{
	if ((*c = malloc(fstr_len(f, len) + 1)) == NULL)
		return MPI_ERR_NO_MEM;
	fstr_copy(*c, f, len);
	return MPI_SUCCESS;
}

int
esmpi_f_is_root(MPI_Fint fcomm, MPI_Fint root)
{
	MPI_Comm comm = PMPI_Comm_f2c(fcomm);
	int rank = -1;

	if (comm != MPI_COMM_NULL)
		PMPI_Comm_rank(comm, &rank);
	return rank == root;
}

/*
 * Spawn's string arrays, each as one allocation (a single free()): the
 * pointers first, then the strings. An argv list is the column of a
 * CHARACTER array from f, stride entries apart, up to its first blank
 * entry (the Fortran terminator).
 */
static size_t
argv_count(const char *f, size_t len, size_t stride, size_t *bytes)
{
	size_t n = 0;

	while (fstr_len(f + n * stride * len, len) > 0) {
		*bytes += fstr_len(f + n * stride * len, len) + 1;
		n++;
	}
	return n;
}

static char *
argv_fill(const char *f, size_t len, size_t stride, char **v, char *s)
{
	size_t i;

	for (i = 0; fstr_len(f + i * stride * len, len) > 0; i++) {
		v[i] = s;
		s = fstr_copy(s, f + i * stride * len, len);
	}
	v[i] = NULL;
	return s;
}

int
esmpi_f2c_argv(const char *f, size_t len, int root, char ***c)
{
	size_t bytes = 0, n;

	*c = MPI_ARGV_NULL;
	if (!root || IS(f, ARGV_NULL) || len == 0)
		return MPI_SUCCESS;
	n = argv_count(f, len, 1, &bytes);
	if ((*c = malloc((n + 1) * sizeof(char *) + bytes)) == NULL)
		return MPI_ERR_NO_MEM;
	argv_fill(f, len, 1, *c, (char *)(*c + n + 1));
	return MPI_SUCCESS;
}

/* array_of_argv(count, *): command i's list is row i of the array. */
int
esmpi_f2c_argvs(const char *f, size_t len, int count, int root, char ****c)
{
	size_t bytes = 0, ptrs = 0, i;
	char **v, *s;

	*c = MPI_ARGVS_NULL;
	if (!root || IS(f, ARGVS_NULL) || len == 0 || count <= 0)
		return MPI_SUCCESS;
	for (i = 0; i < (size_t)count; i++)
		ptrs += argv_count(f + i * len, len, (size_t)count, &bytes) + 1;
	*c = malloc(((size_t)count + ptrs) * sizeof(char *) + bytes);
	if (*c == NULL)
		return MPI_ERR_NO_MEM;
	v = (char **)(*c + count);
	s = (char *)(v + ptrs);
	for (i = 0; i < (size_t)count; i++) {
		(*c)[i] = v;
		s = argv_fill(f + i * len, len, (size_t)count, v, s);
		while (*v != NULL)
			v++;
		v++;
	}
	return MPI_SUCCESS;
}

int
esmpi_f2c_strings(const char *f, size_t len, int count, int root, char ***c)
{
	size_t bytes = 0, i;
	char *s;

	*c = NULL;
	if (!root || count <= 0)
		return MPI_SUCCESS;
	for (i = 0; i < (size_t)count; i++)
		bytes += fstr_len(f + i * len, len) + 1;
	if ((*c = malloc((size_t)count * sizeof(char *) + bytes)) == NULL)
		return MPI_ERR_NO_MEM;
	s = (char *)(*c + count);
	for (i = 0; i < (size_t)count; i++) {
		(*c)[i] = s;
		s = fstr_copy(s, f + i * len, len);
	}
	return MPI_SUCCESS;
}

int
esmpi_f2c_infos(const MPI_Fint *f, int count, int root, MPI_Info **c)
{
	int i;

	*c = NULL;
	if (!root || count <= 0)
		return MPI_SUCCESS;
	if ((*c = calloc((size_t)count, sizeof(**c))) == NULL)
		return MPI_ERR_NO_MEM;
	for (i = 0; i < count; i++)
		(*c)[i] = PMPI_Info_f2c(f[i]);
	return MPI_SUCCESS;
}

int *
esmpi_f2c_errcodes(MPI_Fint *f)
{
	return IS(f, ERRCODES_IGNORE) ? MPI_ERRCODES_IGNORE : f;
}

void
esmpi_f_indices(MPI_Fint *idx, MPI_Fint n)
{
	MPI_Fint i;

	for (i = 0; i < n && n != MPI_UNDEFINED; i++)
		if (idx[i] != MPI_UNDEFINED)
			idx[i]++;
}

void
esmpi_f_ret(MPI_Fint *ierr, int rc)
{
	if (ierr != NULL)
		*ierr = rc;
}
