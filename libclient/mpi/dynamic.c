/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dynamic processes: spawn, accept/connect and join make an
 * intercommunicator to another job, which shares no job key with ours.
 * Each call is followed by the link key exchange (comm/link.c) over the
 * new intercommunicator, collective over both groups; a spawned child does
 * its side in MPI_Init (esmpi_link_parent). A side without libesmpi, or a
 * link its esmpid refuses, fails the call and the application gets
 * MPI_COMM_NULL: nothing is ever sent to it in plaintext.
 */
#include <stdio.h>

#include "mpi/mpi_layer.h"
#include "esmpi_err.h"

static int
link_new(MPI_Comm *ic, MPI_Comm local, MPI_Comm errcomm, const char *call)
{
	char err[1024];
	int timeout, r;

	if (*ic == MPI_COMM_NULL)
		return MPI_SUCCESS;
	if (esmpi_join_timeout(&timeout, err, sizeof(err)) == 0 &&
	    (r = esmpi_link_establish(*ic, local, timeout, call, err,
	    sizeof(err))) == 0)
		return MPI_SUCCESS;
	esmpi_audit("link_refused", NULL, -1, -1, "%s", err);
	/* The handle stays with us: disconnecting would wait for a side that
	 * may never answer, and the application must not talk to it. */
	*ic = MPI_COMM_NULL;
	return esmpi_fail(errcomm, esmpi.err_denied, "%s", err);
}

int
esmpi_link_parent(char *err, size_t len)
{
	MPI_Comm parent = MPI_COMM_NULL;
	int timeout, r;

	PMPI_Comm_get_parent(&parent);
	if (parent == MPI_COMM_NULL)
		return 0;
	if ((r = esmpi_join_timeout(&timeout, err, len)) != 0)
		return r;
	return esmpi_link_establish(parent, MPI_COMM_WORLD, timeout,
	    "MPI_Init (link to the parent job of MPI_Comm_spawn)", err, len);
}

#define DYNAMIC(call, local, ic, pcall) do {				\
	int rc_;							\
	if (esmpi.failed)						\
		return esmpi.err_init;					\
	rc_ = (pcall);							\
	if (rc_ != MPI_SUCCESS || !esmpi.active)			\
		return rc_;						\
	return link_new(ic, local, local, call);			\
} while (0)

ESMPI_EXPORT int
MPI_Comm_spawn(const char *command, char *argv[], int maxprocs,
    MPI_Info info, int root, MPI_Comm comm, MPI_Comm *intercomm,
    int array_of_errcodes[])
{
	DYNAMIC("MPI_Comm_spawn", comm, intercomm, PMPI_Comm_spawn(command,
	    argv, maxprocs, info, root, comm, intercomm, array_of_errcodes));
}

ESMPI_EXPORT int
MPI_Comm_spawn_multiple(int count, char *array_of_commands[],
    char **array_of_argv[], const int array_of_maxprocs[],
    const MPI_Info array_of_info[], int root, MPI_Comm comm,
    MPI_Comm *intercomm, int array_of_errcodes[])
{
	DYNAMIC("MPI_Comm_spawn_multiple", comm, intercomm,
	    PMPI_Comm_spawn_multiple(count, array_of_commands, array_of_argv,
	    array_of_maxprocs, array_of_info, root, comm, intercomm,
	    array_of_errcodes));
}

ESMPI_EXPORT int
MPI_Comm_accept(const char *port_name, MPI_Info info, int root,
    MPI_Comm comm, MPI_Comm *newcomm)
{
	DYNAMIC("MPI_Comm_accept", comm, newcomm,
	    PMPI_Comm_accept(port_name, info, root, comm, newcomm));
}

ESMPI_EXPORT int
MPI_Comm_connect(const char *port_name, MPI_Info info, int root,
    MPI_Comm comm, MPI_Comm *newcomm)
{
	DYNAMIC("MPI_Comm_connect", comm, newcomm,
	    PMPI_Comm_connect(port_name, info, root, comm, newcomm));
}

ESMPI_EXPORT int
MPI_Comm_join(int fd, MPI_Comm *intercomm)
{
	DYNAMIC("MPI_Comm_join", MPI_COMM_SELF, intercomm,
	    PMPI_Comm_join(fd, intercomm));
}
