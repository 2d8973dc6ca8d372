/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_FORTRAN_H
#define ESMPI_FORTRAN_H

/*
 * Layer 7, the entry points: the generated wrappers (pmpi/gen_wrappers.py
 * from the function tables: refused or passed-through calls, and every
 * Fortran entry point) and the conversions they use (fortran.c). May
 * call: mpi/ and below (the C MPI_* functions).
 */
#include "mpi/mpi_layer.h"

/* What the closed-world table says of each MPI function (generated). */
struct esmpi_fn_disposition {
	const char *name;
	const char *disposition;	/* special | passthrough | deny */
};
extern const struct esmpi_fn_disposition esmpi_fn_table[];
extern const size_t esmpi_fn_table_len;

/*
 * fortran.c: conversions for the generated Fortran entry points. The
 * f2c functions return MPI_SUCCESS or MPI_ERR_NO_MEM; arrays are freed by
 * the caller with free(). Fortran's MPI_STATUS(ES)_IGNORE, MPI_BOTTOM,
 * MPI_IN_PLACE, MPI_UNWEIGHTED, MPI_WEIGHTS_EMPTY, MPI_ARGV(S)_NULL and
 * MPI_ERRCODES_IGNORE are addresses of the
 * implementation's sentinel objects (impl/: mpif.h's and mpi_f08's),
 * mapped to the C constants here.
 */
void *esmpi_f2c_buf(void *buf);
int *esmpi_f2c_weights(MPI_Fint *w);
MPI_Status *esmpi_f2c_status(MPI_Fint *f, MPI_Status *c);
void esmpi_c2f_status(const MPI_Status *c, MPI_Fint *f);
int esmpi_f2c_statuses(MPI_Fint *f, int n, MPI_Status **c);
void esmpi_c2f_statuses(const MPI_Status *c, MPI_Fint *f, int n);
int esmpi_f2c_requests(const MPI_Fint *f, int n, MPI_Request **c);
int esmpi_f_types_len(MPI_Fint fcomm, int neighbor, int send);
int esmpi_f2c_types(const MPI_Fint *f, int n, MPI_Datatype **c);
void esmpi_c2f_requests(const MPI_Request *c, MPI_Fint *f, int n);
/* A blank-padded Fortran string as a C string (blanks around it cut). */
int esmpi_f2c_string(const char *f, size_t len, char **c);
/*
 * Spawn: the Fortran CHARACTER arrays (blank-padded entries of len bytes;
 * an argv list ends at its first blank entry; array_of_argv is
 * (count, *)) as C arrays, each one allocation for free(), and
 * MPI_ARGV(S)_NULL and MPI_ERRCODES_IGNORE mapped. Converted only at the
 * root (root != 0), where MPI reads them; elsewhere NULL.
 */
int esmpi_f_is_root(MPI_Fint fcomm, MPI_Fint root);
int esmpi_f2c_argv(const char *f, size_t len, int root, char ***c);
int esmpi_f2c_argvs(const char *f, size_t len, int count, int root,
    char ****c);
int esmpi_f2c_strings(const char *f, size_t len, int count, int root,
    char ***c);
int esmpi_f2c_infos(const MPI_Fint *f, int count, int root, MPI_Info **c);
int *esmpi_f2c_errcodes(MPI_Fint *f);
/* C's 0-based indices (MPI_UNDEFINED kept) as Fortran's 1-based ones. */
void esmpi_f_indices(MPI_Fint *idx, MPI_Fint n);
/* ierror is optional in mpi_f08. */
void esmpi_f_ret(MPI_Fint *ierr, int rc);

#endif
