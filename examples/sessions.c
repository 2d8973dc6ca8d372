/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MPI-4 sessions model (MPICH 4), no MPI_Init anywhere: a session,
 * the group of its mpi://WORLD pset and a communicator made from it;
 * on that communicator point to point (a ring carrying the wire marker,
 * nonblocking, a probe, a message of many chunks) and collectives; an
 * intercommunicator made from two groups (even and odd ranks) with
 * traffic across; a second session held at the same time, whose
 * mpi://SELF communicator is used and which ends first. Rank 0 prints
 * one line, "sessions: OK checksum N", the same with and without esmpi.
 * With "init-first" (or "init-later") the program also runs the world
 * model, MPI_Init before (after) the first session, an allreduce on
 * MPI_COMM_WORLD, and MPI_Finalize while the session is still open.
 */
#include "example_util.h"

#define MARKER "ESMPI-SECRET-MARKER"
#define BIG (3 * 1024 * 1024 + 7)	/* many chunks under esmpi */

static MPI_Comm comm = MPI_COMM_NULL;

/* Point to point on comm: what it received, hashed. */
static uint64_t
p2p(int rank, int size)
{
	char msg[64], got[64];
	int next = (rank + 1) % size, prev = (rank + size - 1) % size;
	int i, n, flag = 0;
	unsigned char *big;
	uint64_t h = FNV_INIT;
	MPI_Request rq[2];
	MPI_Status st;

	snprintf(msg, sizeof(msg), "%s from %d", MARKER, rank);
	MPI_OK(MPI_Sendrecv(msg, (int)sizeof(msg), MPI_CHAR, next, 1, got,
	    (int)sizeof(got), MPI_CHAR, prev, 1, comm, &st));
	snprintf(msg, sizeof(msg), "%s from %d", MARKER, prev);
	CHECK(strcmp(got, msg) == 0, "ring: got '%.63s'", got);
	h = fnv(h, got, strlen(got));

	/* Nonblocking, the other way round. */
	MPI_OK(MPI_Irecv(&n, 1, MPI_INT, next, 2, comm, &rq[0]));
	MPI_OK(MPI_Isend(&rank, 1, MPI_INT, prev, 2, comm, &rq[1]));
	MPI_OK(MPI_Waitall(2, rq, MPI_STATUSES_IGNORE));
	CHECK(n == next, "isend: got %d", n);
	h = fnv_u64(h, (uint64_t)n);

	/* A probe sees the application's count, not the record's. */
	MPI_OK(MPI_Send(msg, 11, MPI_CHAR, next, 3, comm));
	while (!flag)
		MPI_OK(MPI_Iprobe(prev, 3, comm, &flag, &st));
	MPI_OK(MPI_Get_count(&st, MPI_CHAR, &n));
	CHECK(n == 11, "probe: count %d", n);
	MPI_OK(MPI_Recv(got, 11, MPI_CHAR, prev, 3, comm, MPI_STATUS_IGNORE));
	h = fnv_u64(h, (uint64_t)n);

	/* Rank 0 to the last rank: one message of many chunks. */
	if ((big = malloc(BIG)) == NULL)
		MPI_Abort(comm, 2);
	if (rank == 0) {
		for (i = 0; i < BIG; i++)
			big[i] = (unsigned char)(i * 7 + 3);
		MPI_OK(MPI_Send(big, BIG, MPI_BYTE, size - 1, 4, comm));
	} else if (rank == size - 1) {
		memset(big, 0, BIG);
		MPI_OK(MPI_Recv(big, BIG, MPI_BYTE, 0, 4, comm, &st));
		MPI_OK(MPI_Get_count(&st, MPI_BYTE, &n));
		CHECK(n == BIG, "big: count %d", n);
		for (i = 0; i < BIG && big[i] == (unsigned char)(i * 7 + 3);
		    i++)
			;
		CHECK(i == BIG, "big: byte %d wrong", i);
		h = fnv(h, big, BIG);
	}
	free(big);
	return h;
}

/* Collectives on comm. */
static uint64_t
coll(int rank, int size)
{
	int *in = calloc((size_t)size, sizeof(int));
	int *out = calloc((size_t)size, sizeof(int));
	int i, sum = 0, root = size - 1;
	char bc[32] = "";
	uint64_t h = FNV_INIT;

	if (in == NULL || out == NULL)
		MPI_Abort(comm, 2);
	if (rank == root)
		snprintf(bc, sizeof(bc), "%s bcast", MARKER);
	MPI_OK(MPI_Bcast(bc, (int)sizeof(bc), MPI_CHAR, root, comm));
	CHECK(strncmp(bc, MARKER, strlen(MARKER)) == 0, "bcast: '%.31s'", bc);
	h = fnv(h, bc, strlen(bc));
	i = rank + 1;
	MPI_OK(MPI_Allreduce(&i, &sum, 1, MPI_INT, MPI_SUM, comm));
	CHECK(sum == size * (size + 1) / 2, "allreduce: %d", sum);
	h = fnv_u64(h, (uint64_t)sum);
	for (i = 0; i < size; i++)
		in[i] = rank * 100 + i;
	MPI_OK(MPI_Alltoall(in, 1, MPI_INT, out, 1, MPI_INT, comm));
	for (i = 0; i < size; i++) {
		CHECK(out[i] == i * 100 + rank, "alltoall[%d]: %d", i, out[i]);
		h = fnv_u64(h, (uint64_t)out[i]);
	}
	MPI_OK(MPI_Allgather(&rank, 1, MPI_INT, out, 1, MPI_INT, comm));
	for (i = 0; i < size; i++)
		CHECK(out[i] == i, "allgather[%d]: %d", i, out[i]);
	MPI_OK(MPI_Barrier(comm));
	free(in);
	free(out);
	return h;
}

/* Even ranks against odd ones: an intercommunicator from two groups. */
static uint64_t
inter(MPI_Group world, int rank, int size)
{
	int *even = malloc((size_t)size * sizeof(int)), ne = 0, i, x, sum = 0;
	MPI_Group mine, other;
	MPI_Comm ic;
	uint64_t h = FNV_INIT;

	if (even == NULL)
		MPI_Abort(comm, 2);
	for (i = 0; i < size; i += 2)
		even[ne++] = i;
	MPI_OK(MPI_Group_incl(world, ne, even, rank % 2 ? &other : &mine));
	MPI_OK(MPI_Group_excl(world, ne, even, rank % 2 ? &mine : &other));
	MPI_OK(MPI_Intercomm_create_from_groups(mine, 0, other, 0,
	    "esmpi.example.inter", MPI_INFO_NULL, MPI_ERRORS_RETURN, &ic));
	/* Each side's sum of the other's ranks (+1). */
	x = rank + 1;
	MPI_OK(MPI_Allreduce(&x, &sum, 1, MPI_INT, MPI_SUM, ic));
	for (x = 0, i = rank % 2 ? 0 : 1; i < size; i += 2)
		x += i + 1;
	CHECK(sum == x, "intercomm allreduce: %d, not %d", sum, x);
	h = fnv_u64(h, (uint64_t)sum);
	/* Local rank 0 of each side: a marker across. */
	MPI_Comm_rank(ic, &i);
	if (i == 0) {
		char msg[32] = MARKER " across", got[32] = "";

		MPI_OK(MPI_Sendrecv(msg, 32, MPI_CHAR, 0, 5, got, 32,
		    MPI_CHAR, 0, 5, ic, MPI_STATUS_IGNORE));
		CHECK(strcmp(got, msg) == 0, "intercomm: '%.31s'", got);
	}
	MPI_OK(MPI_Comm_free(&ic));
	MPI_Group_free(&mine);
	MPI_Group_free(&other);
	free(even);
	return h;
}

/* A second session: its mpi://SELF communicator, then its end. */
static uint64_t
second(int rank)
{
	MPI_Session s2;
	MPI_Group g;
	MPI_Comm self;
	int n = 0, got = -1;

	MPI_OK(MPI_Session_init(MPI_INFO_NULL, MPI_ERRORS_RETURN, &s2));
	MPI_OK(MPI_Session_get_num_psets(s2, MPI_INFO_NULL, &n));
	CHECK(n >= 2, "psets: %d", n);
	MPI_OK(MPI_Group_from_session_pset(s2, "mpi://SELF", &g));
	MPI_OK(MPI_Comm_create_from_group(g, "esmpi.example.self",
	    MPI_INFO_NULL, MPI_ERRORS_RETURN, &self));
	MPI_OK(MPI_Sendrecv(&rank, 1, MPI_INT, 0, 6, &got, 1, MPI_INT, 0, 6,
	    self, MPI_STATUS_IGNORE));
	CHECK(got == rank, "self: %d", got);
	MPI_OK(MPI_Comm_free(&self));
	MPI_Group_free(&g);
	MPI_OK(MPI_Session_finalize(&s2));
	return fnv_u64(FNV_INIT, (uint64_t)got);
}

int
main(int argc, char **argv)
{
	MPI_Session s;
	MPI_Group world;
	MPI_Info info;
	int rank, size, i, errs, wsum = 0;
	int init_first = argc > 1 && strcmp(argv[1], "init-first") == 0;
	int init_later = argc > 1 && strcmp(argv[1], "init-later") == 0;
	uint64_t sum[4], *all = NULL;

	if (init_first)
		MPI_Init(NULL, NULL);
	MPI_Info_create(&info);
	MPI_Info_set(info, "thread_level", "MPI_THREAD_SINGLE");
	if (MPI_Session_init(info, MPI_ERRORS_RETURN, &s) != MPI_SUCCESS) {
		printf("sessions: MPI_Session_init failed\n");
		return 1;
	}
	MPI_Info_free(&info);
	if (init_later)
		MPI_OK(MPI_Init(NULL, NULL));
	MPI_OK(MPI_Group_from_session_pset(s, "mpi://WORLD", &world));
	MPI_OK(MPI_Comm_create_from_group(world, "esmpi.example.world",
	    MPI_INFO_NULL, MPI_ERRORS_RETURN, &comm));
	if (comm == MPI_COMM_NULL)
		return 1;
	MPI_Comm_rank(comm, &rank);
	MPI_Comm_size(comm, &size);
	ex_rank = rank;
	sum[1] = second(rank);
	sum[0] = p2p(rank, size);
	sum[2] = coll(rank, size);
	sum[3] = size >= 2 ? inter(world, rank, size) : 0;
	if (init_first || init_later) {
		i = rank + 1;
		MPI_OK(MPI_Allreduce(&i, &wsum, 1, MPI_INT, MPI_SUM,
		    MPI_COMM_WORLD));
		CHECK(wsum == size * (size + 1) / 2, "world allreduce: %d",
		    wsum);
		sum[3] = fnv_u64(sum[3], (uint64_t)wsum);
	}

	/* Rank 0: every rank's error count and hashes. */
	sum[1] = fnv_u64(sum[1], (uint64_t)ex_errs);
	if (rank == 0 && (all = malloc((size_t)size * sizeof(sum))) == NULL)
		MPI_Abort(comm, 2);
	MPI_OK(MPI_Gather(sum, 4, MPI_UINT64_T, all, 4, MPI_UINT64_T, 0,
	    comm));
	i = ex_errs;
	MPI_OK(MPI_Reduce(&i, &errs, 1, MPI_INT, MPI_SUM, 0, comm));
	if (rank == 0) {
		uint64_t h = fnv(FNV_INIT, all, (size_t)size * sizeof(sum));

		if (errs == 0)
			printf("sessions: OK checksum %llu\n",
			    (unsigned long long)h);
		else
			printf("sessions: FAILED: %d check(s) failed\n", errs);
		free(all);
	}
	fflush(stdout);
	MPI_Comm_free(&comm);
	MPI_Group_free(&world);
	if (init_first || init_later)
		MPI_OK(MPI_Finalize());
	MPI_OK(MPI_Session_finalize(&s));
	return ex_errs ? 1 : 0;
}
