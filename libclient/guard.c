/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libesmpi-guard.so: the node-local guarantee that no MPI process on this
 * node runs without esmpi (docs/SECURITY.md, "Launch").
 *
 * Listed in /etc/ld.so.preload (esmpictl node guard on), it is mapped
 * into every process of the node; that list is read by the dynamic
 * linker from this node's disk, so nothing a launcher sends over the
 * network (Open MPI's launch message carries LD_PRELOAD) can remove it.
 * It defines only the MPI initialization entry points and no constructor:
 * a process that never starts MPI never runs any of it.
 *
 * Every way into MPI goes through one of them (MPI_Init[_thread] from C,
 * C++ and mpi4py; the Fortran bindings call PMPI_Init[_thread]; MPI-4
 * sessions start MPI without MPI_Init through MPI_Session_init, and
 * MPICH's mpi_f08 routine through PMPI_Session_init). Each
 * checks that libesmpi is loaded and that its MPI_Send is the one this
 * process calls (interposition in effect), then forwards to the next
 * definition; otherwise it says why and exits before MPI can send a byte.
 * No libmpi, OpenSSL or libesmpi dependency: only libc.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#define GUARD_EXPORT __attribute__((visibility("default")))

/* Exit status of a process the guard stopped. */
#define GUARD_EXIT 78

/* Exported by libesmpi only (libesmpi.map). */
#define ESMPI_MARKER "esmpi_guard_marker"

static const char *
object_of(void *sym)
{
	Dl_info info;

	if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL)
		return NULL;
	return info.dli_fname;
}

/* NULL when libesmpi protects this process; else why not. */
static const char *
unprotected_because(void)
{
	void *marker = dlsym(RTLD_DEFAULT, ESMPI_MARKER);
	const char *lib, *send;

	if (marker == NULL)
		return "libesmpi is not loaded (LD_PRELOAD missing or altered "
		    "on its way to this node, or a program started without "
		    "esmpirun)";
	lib = object_of(marker);
	send = object_of(dlsym(RTLD_DEFAULT, "MPI_Send"));
	if (lib == NULL || send == NULL || strcmp(lib, send) != 0)
		return "libesmpi is loaded after the MPI library, so MPI "
		    "calls bypass it (link it before libmpi, or preload it)";
	return NULL;
}

static void
refuse(const char *entry, const char *why)
{
	char host[256] = "?";

	(void)gethostname(host, sizeof(host) - 1);
	fprintf(stderr, "esmpi-guard: %s: pid %d: %s refused: this node "
	    "runs MPI only with esmpi, and %s; stopping before any message "
	    "is sent\n", host, (int)getpid(), entry, why);
	openlog("esmpi-guard", LOG_PID, LOG_AUTHPRIV);
	syslog(LOG_ERR, "%s refused: %s", entry, why);
	closelog();
	_exit(GUARD_EXIT);
}

/* The next definition of name after this object's, once checked. */
static void *
next_checked(const char *name)
{
	const char *why = unprotected_because();
	void *next;

	if (why != NULL)
		refuse(name, why);
	if ((next = dlsym(RTLD_NEXT, name)) == NULL)
		refuse(name, "no MPI library defines it after the guard");
	return next;
}

typedef int (*init_fn)(int *, char ***);
typedef int (*init_thread_fn)(int *, char ***, int, int *);
/*
 * MPI_Session_init(MPI_Info, MPI_Errhandler, MPI_Session *): the handles
 * are int in MPICH's ABI and pointers in Open MPI 5's and the MPI-5
 * standard ABI; on the ABIs we build for (x86-64, AArch64) each is one
 * integer register either way, so a register-wide type passes the
 * caller's value on untouched whichever the implementation is. Open MPI
 * 4.1 has no sessions: nothing calls these there.
 */
typedef int (*session_init_fn)(uintptr_t, uintptr_t, void *);

/* The MPI standard's prototypes, without including any MPI's mpi.h. */
int MPI_Init(int *argc, char ***argv);
int MPI_Init_thread(int *argc, char ***argv, int required, int *provided);
int PMPI_Init(int *argc, char ***argv);
int PMPI_Init_thread(int *argc, char ***argv, int required, int *provided);
int MPI_Session_init(uintptr_t info, uintptr_t errhandler, void *session);
int PMPI_Session_init(uintptr_t info, uintptr_t errhandler, void *session);

GUARD_EXPORT int
MPI_Init(int *argc, char ***argv)
{
	return ((init_fn)next_checked("MPI_Init"))(argc, argv);
}

GUARD_EXPORT int
MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
	return ((init_thread_fn)next_checked("MPI_Init_thread"))(argc, argv,
	    required, provided);
}

GUARD_EXPORT int
PMPI_Init(int *argc, char ***argv)
{
	return ((init_fn)next_checked("PMPI_Init"))(argc, argv);
}

GUARD_EXPORT int
PMPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
	return ((init_thread_fn)next_checked("PMPI_Init_thread"))(argc, argv,
	    required, provided);
}

GUARD_EXPORT int
MPI_Session_init(uintptr_t info, uintptr_t errhandler, void *session)
{
	return ((session_init_fn)next_checked("MPI_Session_init"))(info,
	    errhandler, session);
}

GUARD_EXPORT int
PMPI_Session_init(uintptr_t info, uintptr_t errhandler, void *session)
{
	return ((session_init_fn)next_checked("PMPI_Session_init"))(info,
	    errhandler, session);
}
