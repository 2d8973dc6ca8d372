/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every payload-carrying wrapper checks before it seals, posts or
 * moves anything:
 *
 * - esmpi_protect(): whether esmpi's session protects this call at all,
 *   and fail closed where it cannot (init failed, MPI started past
 *   esmpi's MPI_Init, a communicator without keys);
 * - esmpi_check_p2p() / esmpi_check_data(): MPI's own argument checks.
 *   esmpi hands Open MPI records of MPI_BYTE, never the application's
 *   (count, datatype, rank, tag), so Open MPI cannot check those itself:
 *   they are checked here as Open MPI 4.1's MPI_PARAM_CHECK code does
 *   (same classes, same order), raised through the communicator's error
 *   handler, and nothing is sent or received.
 */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "mpi/mpi_layer.h"

/* ---- MPI started without esmpi ---- */

static int bypass_code = MPI_ERR_OTHER;
static pthread_once_t bypass_once = PTHREAD_ONCE_INIT;

static void
bypass_code_init(void)
{
	int cls;

	if (PMPI_Add_error_class(&cls) == MPI_SUCCESS &&
	    PMPI_Add_error_code(cls, &bypass_code) == MPI_SUCCESS)
		PMPI_Add_error_string(bypass_code, "esmpi: MPI was initialized "
		    "with PMPI_Init, bypassing esmpi; call refused");
}

/*
 * MPI-4 (MPICH 4): a session from PMPI_Session_init runs MPI with
 * MPI_Initialized still false and past esmpi's MPI_Session_init, which
 * would have started esmpi's session (init.c): no keys. Refuse every
 * payload call; a call before any initialization, which MPI would
 * refuse, is refused here saying why. Open MPI 4.1 has no sessions: MPI
 * refuses such calls.
 */
static int
check_session(void)
{
#if MPI_VERSION >= 4
	fprintf(stderr, "esmpi: pid %ld: MPI is used without esmpi's start "
	    "(a session from PMPI_Session_init, or a call before MPI_Init or "
	    "MPI_Session_init): esmpi protects MPI started with MPI_Init, "
	    "MPI_Init_thread or MPI_Session_init; refusing to send "
	    "unprotected data (or receive it)\n", (long)getpid());
	fflush(stderr);
	return MPI_ERR_OTHER;
#else
	return MPI_SUCCESS;
#endif
}

int
esmpi_check_started(void)
{
	int up = 0, down = 0, rank = -1;

	if (esmpi.initialized)
		return MPI_SUCCESS;
	/* Before MPI_Init (or after MPI_Finalize) Open MPI refuses the call
	 * itself. Otherwise MPI runs and our MPI_Init never did: the
	 * application called PMPI_Init(_thread) directly, and there are no
	 * keys. Never fall back to plaintext. */
	if (PMPI_Finalized(&down) != MPI_SUCCESS || down)
		return MPI_SUCCESS;
	if (PMPI_Initialized(&up) != MPI_SUCCESS || !up)
		return check_session();
	pthread_once(&bypass_once, bypass_code_init);
	PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
	fprintf(stderr, "esmpi: rank %d: MPI was initialized with PMPI_Init, "
	    "bypassing esmpi; refusing to send unprotected data (or receive "
	    "it): start MPI with MPI_Init or MPI_Init_thread\n", rank);
	fflush(stderr);
	PMPI_Comm_call_errhandler(MPI_COMM_WORLD, bypass_code);
	return bypass_code;
}

struct esmpi_comm *
esmpi_protect(MPI_Comm comm, int peer, int *rc)
{
	struct esmpi_comm *c;

	*rc = MPI_SUCCESS;
	if (esmpi.failed) {
		*rc = esmpi.err_init;
		return NULL;
	}
	if (!esmpi.active) {
		*rc = esmpi_check_started();
		return NULL;
	}
	/* MPI_PROC_NULL moves nothing; on MPI_COMM_NULL Open MPI raises
	 * MPI_ERR_COMM (on the handler it chooses per call) and moves
	 * nothing. */
	if (peer == MPI_PROC_NULL || comm == MPI_COMM_NULL)
		return NULL;
	if ((c = esmpi_comm_get(comm)) == NULL)
		*rc = esmpi_unkeyed(comm);
	return c;
}

/*
 * A communicator without esmpi state: one with another job's processes
 * (dynamic processes: no job key in common), one MPI_Comm_join made, or
 * one derived from such a communicator. Its traffic is an unprotected call: refused under
 * `unprotected: deny`, plaintext and audited once under audit.
 */
int
esmpi_unkeyed(MPI_Comm comm)
{
	if (esmpi_comm_foreign(comm))
		return esmpi_unprotected_call("Traffic with another MPI job's "
		    "processes (dynamic processes, no keys in common)");
	return esmpi_unprotected_call("Traffic on a communicator esmpi "
	    "holds no keys for (made by a dynamic-process call, or derived "
	    "from such a communicator)");
}

/* ---- argument checks ---- */

/* OMPI_CHECK_DATATYPE_FOR_SEND/RECV and OMPI_CHECK_USER_BUFFER. */
static int
data_class(const void *buf, int count, MPI_Datatype dt, int buffer)
{
	MPI_Aint tlb, text;
	int tsz, pos = 0;
	char out;

	if (dt == MPI_DATATYPE_NULL)
		return MPI_ERR_TYPE;
	if (count < 0)
		return MPI_ERR_COUNT;
	if ((tsz = esmpi_predefined_size(dt)) >= 0)
		return buffer && buf == NULL && count > 0 ? MPI_ERR_BUFFER :
		    MPI_SUCCESS;
	/* No MPI call tells whether a type is committed, but packing
	 * nothing of it checks that (as any send would), on our own
	 * MPI_ERRORS_RETURN communicator. */
	if (esmpi.chunk_comm != MPI_COMM_NULL &&
	    PMPI_Pack(NULL, 0, dt, &out, 0, &pos, esmpi.chunk_comm) !=
	    MPI_SUCCESS)
		return MPI_ERR_TYPE;
	if (buffer && buf == NULL && count > 0 &&
	    PMPI_Type_size(dt, &tsz) == MPI_SUCCESS &&
	    PMPI_Type_get_true_extent(dt, &tlb, &text) == MPI_SUCCESS &&
	    tsz > 0 && tlb == 0)
		return MPI_ERR_BUFFER;	/* not an absolute (MPI_BOTTOM) type */
	return MPI_SUCCESS;
}

static int
tag_bad(int tag, int any_ok)
{
	return (tag < 0 && !(any_ok && tag == MPI_ANY_TAG)) ||
	    tag > esmpi.chunk_tag_ub;
}

static int
rank_bad(const struct esmpi_comm *c, int rank, int any_ok)
{
	return rank != MPI_PROC_NULL && !(any_ok && rank == MPI_ANY_SOURCE) &&
	    (rank < 0 || rank >= c->remote_size);
}

static int
check_raise(const struct esmpi_comm *c, int cls)
{
	if (cls != MPI_SUCCESS)
		PMPI_Comm_call_errhandler(esmpi_comm_handle(c), cls);
	return cls;
}

int
esmpi_check_p2p(const struct esmpi_comm *c, enum esmpi_chk kind,
    const void *buf, int count, MPI_Datatype dt, int peer, int tag)
{
	int cls;

	switch (kind) {
	case ESMPI_CHK_SEND:	/* send.c: count, tag, rank, type, buffer */
		if (count < 0)
			cls = MPI_ERR_COUNT;
		else if (tag_bad(tag, 0))
			cls = MPI_ERR_TAG;
		else if (rank_bad(c, peer, 0))
			cls = MPI_ERR_RANK;
		else
			cls = data_class(buf, count, dt, 1);
		break;
	case ESMPI_CHK_RECV:	/* recv.c: tag, rank, then type, buffer */
		if (tag_bad(tag, 1))
			cls = MPI_ERR_TAG;
		else if (rank_bad(c, peer, 1))
			cls = MPI_ERR_RANK;
		else
			cls = data_class(buf, count, dt, 1);
		break;
	default:		/* probe.c: tag, rank */
		cls = tag_bad(tag, 1) ? MPI_ERR_TAG :
		    rank_bad(c, peer, 1) ? MPI_ERR_RANK : MPI_SUCCESS;
		break;
	}
	return check_raise(c, cls);
}

int
esmpi_check_data(const struct esmpi_comm *c, const void *buf, int count,
    MPI_Datatype dt)
{
	return check_raise(c, data_class(buf, count, dt, 0));
}

/* ---- calls esmpi cannot protect ---- */

/* Names already reported, so each refused/allowed call is audited once. */
static const char *reported[64];
static int nreported;
static pthread_mutex_t reported_lock = PTHREAD_MUTEX_INITIALIZER;

int
esmpi_unprotected_call(const char *fn)
{
	int first = 1, i;

	if (esmpi.failed)
		return esmpi.err_init;
	if (!esmpi.active)
		return esmpi_check_started();
	pthread_mutex_lock(&reported_lock);
	for (i = 0; i < nreported; i++)
		if (reported[i] == fn)
			first = 0;
	if (first && nreported < 64)
		reported[nreported++] = fn;
	pthread_mutex_unlock(&reported_lock);
	if (esmpi.defaults.unprotected == ESMPI_UNPROT_DENY) {
		if (first)
			esmpi_audit("unprotected_call", NULL, -1, -1,
			    "%s refused: esmpi cannot protect its payload", fn);
		return esmpi_fail(MPI_COMM_WORLD, esmpi.err_denied,
		    "%s refused: esmpi cannot protect the data it moves "
		    "(policy: unprotected: deny)", fn);
	}
	if (first)
		esmpi_audit("unprotected_call", NULL, -1, -1,
		    "%s allowed unprotected by policy", fn);
	return MPI_SUCCESS;
}
