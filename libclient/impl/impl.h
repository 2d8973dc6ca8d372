/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_IMPL_H
#define ESMPI_IMPL_H

/*
 * Layer 0, the MPI implementation: everything libesmpi knows about one
 * MPI library beyond the standard's mpi.h. Owns: the status layout and
 * its count field, what a send's status reports, how a returned error
 * code maps to its class, how request handles hash, the Fortran status
 * size and sentinels. May call:
 * mpi.h only. Supporting another implementation means another file like
 * openmpi.h or mpich.h here (and its Fortran names in pmpi/gen_wrappers.py's
 * IMPL_FORTRAN table), not edits in the layers above.
 */
#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#if defined(OPEN_MPI)
#include "impl/openmpi.h"
#elif defined(MPICH)
#include "impl/mpich.h"
#else
#error "libesmpi is built for Open MPI or MPICH (impl/openmpi.h, impl/mpich.h)"
#endif

/* Whether an error code returned by MPI is of class cls. */
static inline int
esmpi_err_is(int code, int cls)
{
	return esmpi_impl_err_class(code) == cls;
}

#endif
