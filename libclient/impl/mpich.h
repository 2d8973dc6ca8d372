/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_IMPL_MPICH_H
#define ESMPI_IMPL_MPICH_H

/*
 * MPICH 4 (Debian 12's 4.0.2) and, through the MPICH ABI, the
 * implementations that keep it (Intel MPI, Cray MPICH, MVAPICH): int
 * handles, a 20-byte status, error codes carrying their class in the
 * low bits.
 */
#include <stdint.h>

#define ESMPI_IMPL_NAME	"MPICH"

/*
 * The byte count of a status, as MPI_Get_elements_x and
 * MPI_Status_set_elements_x see it for MPI_BYTE: count_lo holds its low
 * 32 bits, count_hi_and_cancelled the high ones above the cancelled bit
 * (bit 0, kept on write).
 */
static inline size_t
esmpi_status_bytes(const MPI_Status *st)
{
	return (size_t)(uint32_t)st->count_lo |
	    (size_t)((uint32_t)st->count_hi_and_cancelled >> 1) << 32;
}

static inline void
esmpi_status_set_bytes(MPI_Status *st, size_t n)
{
	st->count_lo = (int)(uint32_t)n;
	st->count_hi_and_cancelled = (int)(((uint32_t)st->count_hi_and_cancelled
	    & 1u) | (uint32_t)((uint64_t)n >> 32) << 1);
}

/* A completed send's status: MPICH reports nothing of the send there
 * (the caller's tag stays, the count is 0), records or not. */
static inline void
esmpi_status_of_send(MPI_Status *st, int tag, size_t bytes)
{
	(void)st, (void)tag, (void)bytes;
}

/*
 * MPICH returns codes that carry details above the class (a truncated
 * receive gave 0x2402200e, class 14): only a bare predefined class is
 * its own class.
 */
static inline int
esmpi_impl_err_class(int code)
{
	int cls = code;

	if (code < 0 || code > MPICH_ERR_LAST_MPIX)
		PMPI_Error_class(code, &cls);
	return cls;
}

/* Request handles are ints: kind bits above an index that counts up. */
static inline size_t
esmpi_handle_hash(MPI_Request h)
{
	uint32_t x = (uint32_t)h;

	return (size_t)((x ^ x >> 16) * 0x9e3779b97f4a7c15ull);
}

/* MPI_STATUS_SIZE of MPICH's mpif.h. */
#define ESMPI_F_STATUS_SIZE 5

/*
 * MPICH's Fortran sentinels, the common blocks of mpif.h (also used by
 * `use mpi`): /MPIPRIV1/ MPI_BOTTOM, MPI_IN_PLACE, MPI_STATUS_IGNORE;
 * /MPIPRIV2/ MPI_STATUSES_IGNORE; /MPIFCMB5/ MPI_UNWEIGHTED; /MPIFCMB9/
 * MPI_WEIGHTS_EMPTY. libmpichfort defines them, not libmpich: weak, so a
 * C program that never loads the Fortran library still links (and never
 * reaches a Fortran entry point).
 */
extern struct esmpi_mpich_priv1 {
	MPI_Fint bottom, in_place, status_ignore[ESMPI_F_STATUS_SIZE];
} mpipriv1_ __attribute__((weak));
extern MPI_Fint mpipriv2_[ESMPI_F_STATUS_SIZE] __attribute__((weak));
extern MPI_Fint mpifcmb5_ __attribute__((weak));
extern MPI_Fint mpifcmb9_ __attribute__((weak));
#define ESMPI_F_BOTTOM		((void *)&mpipriv1_.bottom)
#define ESMPI_F_IN_PLACE	((void *)&mpipriv1_.in_place)
#define ESMPI_F_STATUS_IGNORE	(mpipriv1_.status_ignore)
#define ESMPI_F_STATUSES_IGNORE	(mpipriv2_)
#define ESMPI_F_UNWEIGHTED	(&mpifcmb5_)
#define ESMPI_F_WEIGHTS_EMPTY	(&mpifcmb9_)

/*
 * `use mpi_f08` has sentinels of its own (libmpichfort's mpi_f08
 * modules), passed to the f08 entry points libesmpi defines
 * (gen_wrappers.py: the routines that call PMPI_* directly).
 */
extern int MPIR_F08_MPI_BOTTOM __attribute__((weak));	/* as in mpi.h */
extern int MPIR_F08_MPI_IN_PLACE __attribute__((weak));
extern MPI_F08_status MPIR_F08_MPI_STATUS_IGNORE_OBJ __attribute__((weak));
extern MPI_F08_status MPIR_F08_MPI_STATUSES_IGNORE_OBJ[1]
    __attribute__((weak));
extern MPI_Fint __mpi_f08_link_constants_MOD_mpi_unweighted
    __attribute__((weak));
extern MPI_Fint __mpi_f08_link_constants_MOD_mpi_weights_empty
    __attribute__((weak));
#define ESMPI_F08_BOTTOM		((void *)&MPIR_F08_MPI_BOTTOM)
#define ESMPI_F08_IN_PLACE		((void *)&MPIR_F08_MPI_IN_PLACE)
#define ESMPI_F08_STATUS_IGNORE	((MPI_Fint *)&MPIR_F08_MPI_STATUS_IGNORE_OBJ)
#define ESMPI_F08_STATUSES_IGNORE	((MPI_Fint *)MPIR_F08_MPI_STATUSES_IGNORE_OBJ)
#define ESMPI_F08_UNWEIGHTED	(&__mpi_f08_link_constants_MOD_mpi_unweighted)
#define ESMPI_F08_WEIGHTS_EMPTY	\
	(&__mpi_f08_link_constants_MOD_mpi_weights_empty)

/*
 * Spawn's sentinels. MPICH's mpif.h and `use mpi` spawn routines convert
 * their strings themselves and call the C functions: theirs are never
 * compared here. mpi_f08's call PMPI_Comm_spawn(_multiple) themselves,
 * so libesmpi defines their entry points (gen_wrappers.py), which see
 * mpi_f08's own objects (libmpichfort's mpi_f08_link_constants module,
 * the addresses its routines compare with).
 */
extern char __mpi_f08_link_constants_MOD_mpi_argv_null __attribute__((weak));
extern char __mpi_f08_link_constants_MOD_mpi_argvs_null __attribute__((weak));
extern MPI_Fint __mpi_f08_link_constants_MOD_mpi_errcodes_ignore
    __attribute__((weak));
#define ESMPI_F_ARGV_NULL		NULL
#define ESMPI_F_ARGVS_NULL		NULL
#define ESMPI_F_ERRCODES_IGNORE		NULL
#define ESMPI_F08_ARGV_NULL	(&__mpi_f08_link_constants_MOD_mpi_argv_null)
#define ESMPI_F08_ARGVS_NULL	(&__mpi_f08_link_constants_MOD_mpi_argvs_null)
#define ESMPI_F08_ERRCODES_IGNORE \
	(&__mpi_f08_link_constants_MOD_mpi_errcodes_ignore)

/* MPICH's progress loop has no such switch (impl/openmpi.h). */
static inline void
esmpi_impl_yield_when_idle(void)
{
}

/* MPICH exports no progress hook: the applier thread alone serves
 * one-sided requests. */
static inline int
esmpi_impl_progress_hook(int (*fn)(void))
{
	(void)fn;
	return -1;
}

static inline void
esmpi_impl_progress_unhook(int (*fn)(void))
{
	(void)fn;
}

/*
 * MPI-4: persistent collectives under their standard names MPI_X_init,
 * MPI_Isendrecv(_replace) and MPI_Comm_idup_with_info (ESMPI_HAVE_MPI4_NB).
 */
#define ESMPI_PCOLL(x)		MPI_##x##_init
#define ESMPI_PCOLL_NAME(x)	"MPI_" #x "_init"
#define ESMPI_HAVE_MPI4_NB	1
/* MPI-4 partitioned point-to-point (mpi/part.c). */
#define ESMPI_HAVE_PARTITIONED	1

/*
 * MPI-4 sessions: MPI_Session_init/finalize hold MPI and esmpi like
 * MPI_Init (mpi/init.c); communicators made from groups get keys
 * (mpi/comm_new.c). Open MPI 4.1 has none.
 */
#define ESMPI_HAVE_SESSIONS	1

#endif
