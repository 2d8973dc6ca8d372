/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fortran. Open MPI's Fortran bindings (mpif.h, use mpi, use mpi_f08)
 * call PMPI_* directly, so none of the C wrappers see Fortran traffic.
 * Until the Fortran entry points are wrapped, a Fortran program must not
 * run silently in plaintext: its MPI_Init establishes the job keys as in
 * C (so all ranks agree) and then applies the policy for unprotected
 * calls: refused by default, run and audited with `unprotected: allow`.
 */
#include <stddef.h>

#include "esmpi_client.h"

static int
fortran_init(int thread, int required, int *provided)
{
	int rc;

	rc = thread ? PMPI_Init_thread(NULL, NULL, required, provided) :
	    PMPI_Init(NULL, NULL);
	if (rc != MPI_SUCCESS)
		return rc;
	if ((rc = esmpi_session_start()) != MPI_SUCCESS)
		return rc;
	return esmpi_unprotected_call("the Fortran MPI bindings");
}

static void
set(int *ierr, int rc)
{
	if (ierr != NULL)	/* optional in mpi_f08 */
		*ierr = rc;
}

#define FORTRAN_INIT(name)						\
	ESMPI_EXPORT void name(int *ierr);				\
	ESMPI_EXPORT void name(int *ierr)				\
	{								\
		set(ierr, fortran_init(0, 0, NULL));			\
	}
#define FORTRAN_INIT_THREAD(name)					\
	ESMPI_EXPORT void name(int *req, int *prov, int *ierr);		\
	ESMPI_EXPORT void name(int *req, int *prov, int *ierr)		\
	{								\
		set(ierr, fortran_init(1, *req, prov));			\
	}
#define FORTRAN_FINALIZE(name)						\
	ESMPI_EXPORT void name(int *ierr);				\
	ESMPI_EXPORT void name(int *ierr)				\
	{								\
		set(ierr, MPI_Finalize());				\
	}

/* Every spelling Open MPI 4.1 exports (mpif.h/use mpi, and mpi_f08). */
FORTRAN_INIT(mpi_init)
FORTRAN_INIT(mpi_init_)
FORTRAN_INIT(mpi_init__)
FORTRAN_INIT(MPI_INIT)
FORTRAN_INIT(mpi_init_f08_)
FORTRAN_INIT_THREAD(mpi_init_thread)
FORTRAN_INIT_THREAD(mpi_init_thread_)
FORTRAN_INIT_THREAD(mpi_init_thread__)
FORTRAN_INIT_THREAD(MPI_INIT_THREAD)
FORTRAN_INIT_THREAD(mpi_init_thread_f08_)
FORTRAN_FINALIZE(mpi_finalize)
FORTRAN_FINALIZE(mpi_finalize_)
FORTRAN_FINALIZE(mpi_finalize__)
FORTRAN_FINALIZE(MPI_FINALIZE)
FORTRAN_FINALIZE(mpi_finalize_f08_)
