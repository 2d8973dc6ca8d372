/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mpi/large.c, the conversions of the large-count _c wrappers, in a
 * singleton MPI process (no mpirun): a count beyond INT_MAX becomes a
 * derived type whose size, extent and lower bound are those of n
 * elements of the datatype (which no affordable message can check:
 * it would be gigabytes), counts that fit pass unchanged, and what
 * does not fit is refused as MPI_ERR_COUNT.
 */
#include <limits.h>
#include <stdlib.h>

#include "mpi/mpi_layer.h"

#include "check.h"

struct esmpi_state esmpi;

static void
check_large(MPI_Datatype dt, MPI_Count n)
{
	MPI_Datatype t = MPI_DATATYPE_NULL;
	MPI_Count size = -1, tsize = -1, lb = -1, ext = -1, tlb = -2, text = -2;
	int c = -1;

	PMPI_Type_size_x(dt, &size);
	PMPI_Type_get_extent_x(dt, &lb, &ext);
	CHECK_INT_EQ(esmpi_large_count("test", "count", n, dt, &c, &t),
	    MPI_SUCCESS);
	if (n <= INT_MAX) {
		CHECK(t == dt);
		CHECK_INT_EQ(c, n);
		return;
	}
	CHECK(t != dt);
	CHECK_INT_EQ(c, 1);
	PMPI_Type_size_x(t, &tsize);
	PMPI_Type_get_extent_x(t, &tlb, &text);
	CHECK_INT_EQ(tsize, n * size);
	CHECK_INT_EQ(text, n * ext);
	CHECK_INT_EQ(tlb, lb);
	esmpi_large_type_done(&t, dt);
	CHECK(t == MPI_DATATYPE_NULL);
}

int
main(void)
{
	MPI_Count big = (MPI_Count)INT_MAX + 7, even = (MPI_Count)3 << 30;
	MPI_Count counts[2] = { 5, (MPI_Count)INT_MAX + 1 };
	MPI_Aint displs[1] = { -12 };
	MPI_Datatype vec, odd;
	int v = 0, *a = NULL;

	PMPI_Init(NULL, NULL);
	PMPI_Type_vector(2, 1, 3, MPI_DOUBLE, &vec);
	PMPI_Type_commit(&vec);
	/* lower bound -4, extent 10: not a multiple of its alignment */
	PMPI_Type_create_resized(MPI_SHORT, -4, 10, &odd);
	PMPI_Type_commit(&odd);

	check_large(MPI_INT, 5);
	check_large(MPI_INT, INT_MAX);
	check_large(MPI_INT, big);
	check_large(MPI_CHAR, even);		/* no remainder */
	check_large(vec, big);
	check_large(odd, big);

	CHECK_INT_EQ(esmpi_large_int("test", "v", INT_MAX, &v), MPI_SUCCESS);
	CHECK_INT_EQ(v, INT_MAX);
	CHECK_INT_EQ(esmpi_large_int("test", "v", -3, &v), MPI_SUCCESS);
	CHECK_INT_EQ(v, -3);
	CHECK_INT_EQ(esmpi_large_int("test", "v", (long long)INT_MAX + 1, &v),
	    MPI_ERR_COUNT);
	CHECK_INT_EQ(esmpi_large_int("test", "v", (long long)INT_MIN - 1, &v),
	    MPI_ERR_COUNT);

	/* MPI_COMM_SELF: one entry */
	CHECK_INT_EQ(esmpi_large_array("test", "counts", counts, 0,
	    MPI_COMM_SELF, ESMPI_LARGE_PEERS, &a), MPI_SUCCESS);
	CHECK(a != NULL && a[0] == 5);
	free(a);
	CHECK_INT_EQ(esmpi_large_array("test", "displs", displs, 1,
	    MPI_COMM_SELF, ESMPI_LARGE_LOCAL, &a), MPI_SUCCESS);
	CHECK(a != NULL && a[0] == -12);
	free(a);
	CHECK_INT_EQ(esmpi_large_array("test", "counts", counts + 1, 0,
	    MPI_COMM_SELF, ESMPI_LARGE_PEERS, &a), MPI_ERR_COUNT);
	CHECK(a == NULL);
	CHECK_INT_EQ(esmpi_large_array("test", "counts", NULL, 0,
	    MPI_COMM_SELF, ESMPI_LARGE_PEERS, &a), MPI_SUCCESS);
	CHECK(a == NULL);
	CHECK(esmpi_large_at_root(MPI_COMM_SELF, 0));
	CHECK(!esmpi_large_at_root(MPI_COMM_SELF, 1));

	PMPI_Type_free(&vec);
	PMPI_Type_free(&odd);
	PMPI_Finalize();
	return check_report("large_test");
}
