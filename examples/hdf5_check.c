/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parallel HDF5 (Debian's libhdf5-openmpi): every rank writes its rows of
 * one 2-D dataset collectively (H5FD_MPIO_COLLECTIVE, a hyperslab each),
 * closes the file, reopens it and reads the whole dataset back
 * collectively on every rank, checking every value. Rank 0 prints
 * "hdf5_check: OK checksum N".
 *
 * hdf5_check FILE [MARKERFILE]: with MARKERFILE, the values are the bytes
 * of the marker it holds, repeated (for wire captures).
 */
#include <hdf5.h>

#include "example_util.h"

#define ROWS 64			/* per rank */
#define COLS 256		/* chars per row */

static char
cell(const char *marker, long row, long col)
{
	if (marker != NULL)
		return marker[(row * COLS + col) % (long)strlen(marker)];
	return (char)('A' + (row * 31 + col * 7) % 26);
}

static hid_t
fapl(void)
{
	hid_t p = H5Pcreate(H5P_FILE_ACCESS);

	H5Pset_fapl_mpio(p, MPI_COMM_WORLD, MPI_INFO_NULL);
	return p;
}

static hid_t
dxpl(void)
{
	hid_t p = H5Pcreate(H5P_DATASET_XFER);

	H5Pset_dxpl_mpio(p, H5FD_MPIO_COLLECTIVE);
	return p;
}

int
main(int argc, char **argv)
{
	const char *marker;
	hsize_t dims[2], start[2], count[2];
	hid_t f, fs, ms, ds, xp, ap, dcpl;
	uint64_t sum = FNV_INIT;
	char *mine, *all;
	int rank, size;
	long r, c, bad = 0;

	rank = ex_init(&argc, &argv, &size);
	if (argc < 2) {
		if (rank == 0)
			fprintf(stderr, "usage: hdf5_check FILE [MARKERFILE]\n");
		MPI_Finalize();
		return 2;
	}
	marker = argc > 2 ? ex_marker(argv[2]) : NULL;
	dims[0] = (hsize_t)ROWS * size;
	dims[1] = COLS;
	mine = malloc((size_t)ROWS * COLS);
	all = malloc((size_t)ROWS * COLS * size);
	for (r = 0; r < ROWS; r++)
		for (c = 0; c < COLS; c++)
			mine[r * COLS + c] = cell(marker, rank * ROWS + r, c);

	ap = fapl();
	f = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, ap);
	CHECK(f >= 0, "H5Fcreate %s", argv[1]);
	fs = H5Screate_simple(2, dims, NULL);
	/* No modification times: files of two runs compare byte for byte. */
	dcpl = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_obj_track_times(dcpl, 0);
	ds = H5Dcreate2(f, "rows", H5T_NATIVE_CHAR, fs, H5P_DEFAULT, dcpl,
	    H5P_DEFAULT);
	H5Pclose(dcpl);
	start[0] = (hsize_t)rank * ROWS;
	start[1] = 0;
	count[0] = ROWS;
	count[1] = COLS;
	H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
	ms = H5Screate_simple(2, count, NULL);
	xp = dxpl();
	CHECK(H5Dwrite(ds, H5T_NATIVE_CHAR, ms, fs, xp, mine) >= 0,
	    "H5Dwrite");
	H5Sclose(ms);
	H5Sclose(fs);
	H5Dclose(ds);
	H5Fclose(f);

	f = H5Fopen(argv[1], H5F_ACC_RDONLY, ap);
	CHECK(f >= 0, "H5Fopen %s", argv[1]);
	ds = H5Dopen2(f, "rows", H5P_DEFAULT);
	CHECK(H5Dread(ds, H5T_NATIVE_CHAR, H5S_ALL, H5S_ALL, xp, all) >= 0,
	    "H5Dread");
	for (r = 0; r < ROWS * size; r++)
		for (c = 0; c < COLS; c++)
			bad += all[r * COLS + c] != cell(marker, r, c);
	CHECK(bad == 0, "%ld values differ after reading back", bad);
	sum = fnv(sum, all, (size_t)ROWS * COLS * size);
	H5Dclose(ds);
	H5Fclose(f);
	H5Pclose(xp);
	H5Pclose(ap);
	free(mine);
	free(all);
	r = ex_finish("hdf5_check", sum);
	MPI_Finalize();
	return (int)r;
}
