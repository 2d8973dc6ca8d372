/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_IMPL_OPENMPI_H
#define ESMPI_IMPL_OPENMPI_H

/* Open MPI 4.1 (Debian 12's 4.1.4; OMPI_MAJOR_VERSION >= 3). */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define ESMPI_IMPL_NAME	"Open MPI"

/*
 * The byte count of a status, as MPI_Get_elements_x and
 * MPI_Status_set_elements_x see it for MPI_BYTE. Open MPI keeps it in
 * bytes in the public status (_ucount): the per-message path reads and
 * writes it there instead of calling into the library twice.
 */
static inline size_t
esmpi_status_bytes(const MPI_Status *st)
{
	return st->_ucount;
}

static inline void
esmpi_status_set_bytes(MPI_Status *st, size_t n)
{
	st->_ucount = n;
}

/*
 * A completed send's status: Open MPI reports the send's tag and byte
 * count there, so esmpi puts the application's (not its record's, nor a
 * chunked send's last chunk's with the chunks' tag).
 */
static inline void
esmpi_status_of_send(MPI_Status *st, int tag, size_t bytes)
{
	st->MPI_TAG = tag;
	esmpi_status_set_bytes(st, bytes);
}

/* Open MPI returns predefined error classes as the codes themselves. */
static inline int
esmpi_impl_err_class(int code)
{
	int cls = code;

	if (code > MPI_ERR_LASTCODE)
		PMPI_Error_class(code, &cls);
	return cls;
}

/* Request handles are pointers to 16-byte aligned objects. */
static inline size_t
esmpi_handle_hash(MPI_Request h)
{
	return (size_t)(((uintptr_t)h >> 4) * 0x9e3779b97f4a7c15ull);
}

/* MPI_STATUS_SIZE of Open MPI 4.1's mpif-config.h (not in mpi.h). */
#define ESMPI_F_STATUS_SIZE 6

/*
 * Open MPI's Fortran sentinels (common blocks, mpif-sentinels.h). Declared
 * here, defined by libmpi: the dynamic linker binds every library's
 * reference to the same copy, the one the Fortran program passes.
 */
extern int mpi_fortran_bottom_, mpi_fortran_in_place_;
extern int mpi_fortran_status_ignore_, mpi_fortran_statuses_ignore_;
extern int mpi_fortran_unweighted_, mpi_fortran_weights_empty_;
extern char mpi_fortran_argv_null_, mpi_fortran_argvs_null_;
extern int mpi_fortran_errcodes_ignore_;
#define ESMPI_F_BOTTOM		(&mpi_fortran_bottom_)
#define ESMPI_F_IN_PLACE	(&mpi_fortran_in_place_)
#define ESMPI_F_STATUS_IGNORE	(&mpi_fortran_status_ignore_)
#define ESMPI_F_STATUSES_IGNORE	(&mpi_fortran_statuses_ignore_)
#define ESMPI_F_UNWEIGHTED	(&mpi_fortran_unweighted_)
#define ESMPI_F_WEIGHTS_EMPTY	(&mpi_fortran_weights_empty_)
#define ESMPI_F_ARGV_NULL	(&mpi_fortran_argv_null_)
#define ESMPI_F_ARGVS_NULL	(&mpi_fortran_argvs_null_)
#define ESMPI_F_ERRCODES_IGNORE	(&mpi_fortran_errcodes_ignore_)

/* `use mpi_f08` passes the same ones. */
#define ESMPI_F08_BOTTOM		ESMPI_F_BOTTOM
#define ESMPI_F08_IN_PLACE		ESMPI_F_IN_PLACE
#define ESMPI_F08_STATUS_IGNORE		ESMPI_F_STATUS_IGNORE
#define ESMPI_F08_STATUSES_IGNORE	ESMPI_F_STATUSES_IGNORE
#define ESMPI_F08_UNWEIGHTED		ESMPI_F_UNWEIGHTED
#define ESMPI_F08_WEIGHTS_EMPTY		ESMPI_F_WEIGHTS_EMPTY
#define ESMPI_F08_ARGV_NULL		ESMPI_F_ARGV_NULL
#define ESMPI_F08_ARGVS_NULL		ESMPI_F_ARGVS_NULL
#define ESMPI_F08_ERRCODES_IGNORE	ESMPI_F_ERRCODES_IGNORE

/*
 * Open MPI's progress loop gives up the core when it finds nothing to do
 * (what mpi_yield_when_idle sets at start), switched on in a running
 * process: rma.c does it when its applier thread starts, so only ranks
 * with windows pay for it. A rank spinning in MPI otherwise keeps the
 * applier off a core for a whole time slice per request when the node
 * has no spare core. The user's own mpi_yield_when_idle wins. The setter
 * is libopen-pal's, looked up at run time.
 */
static inline void
esmpi_impl_yield_when_idle(void)
{
	void (*set)(bool);

	if (getenv("OMPI_MCA_mpi_yield_when_idle") != NULL)
		return;
	*(void **)&set = dlsym(RTLD_DEFAULT,
	    "opal_progress_set_yield_when_idle");
	if (set != NULL)
		set(true);
}

/*
 * One-sided requests served by whatever thread of the rank is in Open
 * MPI's progress loop (waiting in MPI_Barrier, MPI_Wait, a flush of its
 * own...), as osc/pt2pt serves them, instead of only by rma.c's applier
 * thread, which on a node with no spare core waits for one. fn runs as
 * a low-priority progress callback (every 8th pass of opal_progress);
 * libopen-pal's registration, looked up at run time. 0 once registered.
 */
static inline int
esmpi_impl_progress_hook(int (*fn)(void))
{
	int (*reg)(int (*)(void));

	*(void **)&reg = dlsym(RTLD_DEFAULT, "opal_progress_register_lp");
	return reg != NULL && reg(fn) == 0 ? 0 : -1;
}

static inline void
esmpi_impl_progress_unhook(int (*fn)(void))
{
	int (*unreg)(int (*)(void));

	*(void **)&unreg = dlsym(RTLD_DEFAULT, "opal_progress_unregister");
	if (unreg != NULL)
		unreg(fn);
}

/*
 * Persistent collectives: Open MPI 4.1 has them as the extension
 * MPIX_X_init (mpi-ext.h), MPI-4's MPI_X_init. No MPI-4 nonblocking
 * Sendrecv or Comm_idup_with_info (ESMPI_HAVE_MPI4_NB unset).
 */
#include <mpi-ext.h>
#define ESMPI_PCOLL(x)		MPIX_##x##_init
#define ESMPI_PCOLL_NAME(x)	"MPIX_" #x "_init"

#endif
