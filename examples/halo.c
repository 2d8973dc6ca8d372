/* SPDX-License-Identifier: Apache-2.0 */
/* 1-D halo exchange on Cartesian communicators (periodic and not) with
 * Isend/Irecv/Waitall; every rank checks its cells against a serial
 * computation of the whole domain after every iteration. */
#include "example_util.h"

#define N 8			/* cells per rank */
#define ITERS 6
#define MOD 1000003LL
#define TAG_RIGHTWARD 100	/* a cell travelling to the right neighbour */
#define TAG_LEFTWARD 101

static long long
initial(long long g)
{
	return (g * g * 7 + 3) % MOD;
}

/* Asymmetric stencil: a swapped left/right ghost shows. */
static long long
stencil(long long l, long long c, long long r, int it)
{
	return (l + 2 * c + 3 * r + it) % MOD;
}

/* The whole domain, serially: ref[] holds cells 0..ncells-1. */
static void
serial_step(long long *ref, long long *tmp, int ncells, int periodic, int it)
{
	int g;

	for (g = 0; g < ncells; g++) {
		long long l = g > 0 ? ref[g - 1] :
		    (periodic ? ref[ncells - 1] : 0);
		long long r = g < ncells - 1 ? ref[g + 1] :
		    (periodic ? ref[0] : 0);

		tmp[g] = stencil(l, ref[g], r, it);
	}
	memcpy(ref, tmp, ncells * sizeof(*ref));
}

static uint64_t
run(int periodic, const char *name)
{
	MPI_Comm cart;
	MPI_Request req[4];
	MPI_Status st[4];
	long long u[N + 2], nu[N + 2], *ref, *tmp;
	int dims[1] = { 0 }, periods[1], coords[1], size, rank, left, right;
	int it, i, g0, count;
	uint64_t sum = FNV_INIT;
	char got[MPI_MAX_OBJECT_NAME];
	int len;

	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Dims_create(size, 1, dims);
	periods[0] = periodic;
	MPI_Cart_create(MPI_COMM_WORLD, 1, dims, periods, 0, &cart);
	MPI_Comm_set_name(cart, name);
	MPI_Comm_get_name(cart, got, &len);
	CHECK(strcmp(got, name) == 0, "name '%s'", got);
	MPI_Comm_rank(cart, &rank);
	MPI_Cart_coords(cart, rank, 1, coords);
	MPI_Cart_shift(cart, 0, 1, &left, &right);
	if (!periodic) {
		CHECK((coords[0] == 0) == (left == MPI_PROC_NULL),
		    "left neighbour %d at coordinate %d", left, coords[0]);
		CHECK((coords[0] == dims[0] - 1) == (right == MPI_PROC_NULL),
		    "right neighbour %d at coordinate %d", right, coords[0]);
	}

	ref = malloc(sizeof(*ref) * N * size);
	tmp = malloc(sizeof(*tmp) * N * size);
	if (ref == NULL || tmp == NULL)
		MPI_Abort(MPI_COMM_WORLD, 2);
	for (i = 0; i < N * size; i++)
		ref[i] = initial(i);
	g0 = coords[0] * N;
	for (i = 1; i <= N; i++)
		u[i] = initial(g0 + i - 1);

	for (it = 0; it < ITERS; it++) {
		/* MPI_PROC_NULL receives leave the ghost alone: zero it. */
		u[0] = u[N + 1] = 0;
		MPI_Irecv(&u[0], 1, MPI_LONG_LONG, left, TAG_RIGHTWARD, cart,
		    &req[0]);
		MPI_Irecv(&u[N + 1], 1, MPI_LONG_LONG, right, TAG_LEFTWARD,
		    cart, &req[1]);
		MPI_Isend(&u[1], 1, MPI_LONG_LONG, left, TAG_LEFTWARD, cart,
		    &req[2]);
		MPI_Isend(&u[N], 1, MPI_LONG_LONG, right, TAG_RIGHTWARD, cart,
		    &req[3]);
		MPI_Waitall(4, req, st);
		for (i = 0; i < 4; i++)
			CHECK(req[i] == MPI_REQUEST_NULL, "request %d not "
			    "freed", i);
		CHECK(st[0].MPI_SOURCE == left, "ghost from %d, not %d",
		    st[0].MPI_SOURCE, left);
		CHECK(st[1].MPI_SOURCE == right, "ghost from %d, not %d",
		    st[1].MPI_SOURCE, right);
		MPI_Get_count(&st[0], MPI_LONG_LONG, &count);
		CHECK(count == (left == MPI_PROC_NULL ? 0 : 1), "count %d",
		    count);
		for (i = 1; i <= N; i++)
			nu[i] = stencil(u[i - 1], u[i], u[i + 1], it);
		memcpy(&u[1], &nu[1], N * sizeof(*u));

		serial_step(ref, tmp, N * size, periodic, it);
		for (i = 1; i <= N; i++)
			CHECK(u[i] == ref[g0 + i - 1], "%s iteration %d cell "
			    "%d: %lld, expected %lld", name, it, g0 + i - 1,
			    u[i], ref[g0 + i - 1]);
	}
	sum = fnv(sum, &u[1], N * sizeof(*u));
	free(ref);
	free(tmp);
	MPI_Comm_free(&cart);
	CHECK(cart == MPI_COMM_NULL, "Comm_free left a handle");
	return sum;
}

int
main(int argc, char **argv)
{
	uint64_t sum;
	int rank, size, r;

	rank = ex_init(&argc, &argv, &size);
	sum = run(1, "halo-periodic");
	sum = fnv_u64(sum, run(0, "halo-open"));
	if (rank == 0)
		printf("halo: %d ranks x %d cells, %d iterations, periodic "
		    "and open boundaries\n", size, N, ITERS);
	r = ex_finish("halo", sum);
	MPI_Finalize();
	return r;
}
