/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MPI-IO, every form, checked against values computed locally: open,
 * info, atomicity, set_size, preallocate, get_size, get_amode,
 * get_group, get_byte_offset, get_type_extent, set_view/get_view; then
 * on a contiguous view read/write, _at, _all, _at_all, their
 * nonblocking forms (completed by Wait, Waitall, Test) and split
 * collectives, seek/get_position, the shared file pointer (_shared,
 * iread/iwrite_shared, seek_shared, get_position_shared) and _ordered
 * (plain and split) with a different count on every rank; then an
 * interleaved view (a resized contiguous filetype, each rank's blocks
 * between the others') written collectively from a strided memory
 * type and read back by every form; sync, close, delete. Rank 0 prints
 * "io_check: <form> ok" lines, the file's size and checksum, and
 * "io_check: OK checksum N".
 *
 * io_check FILE [MARKERFILE]: with MARKERFILE, only an interleaved
 * collective write and read of blocks that repeat the marker it holds
 * (for wire captures).
 */
#include "example_util.h"

#define N 1024			/* ints per rank per region */
#define B 64			/* ints per interleaved block */

static int rank, size;
static uint64_t sum = FNV_INIT;
static MPI_File fh;

static int
val(int r, long i, int salt)
{
	return (int)((r * 7919L + i * 13L + salt * 101L) % 100000L) + 1;
}

static void
fill(int *p, long n, int r, int salt)
{
	long i;

	for (i = 0; i < n; i++)
		p[i] = val(r, i, salt);
}

static void
expect(const int *p, long n, int r, int salt, const char *what)
{
	long i, bad = 0, first = -1;

	for (i = 0; i < n; i++)
		if (p[i] != val(r, i, salt) && bad++ == 0)
			first = i;
	CHECK(bad == 0, "%s: %ld of %ld ints wrong, first at %ld (%d, want "
	    "%d)", what, bad, n, first, first >= 0 ? p[first] : 0,
	    first >= 0 ? val(r, first, salt) : 0);
	sum = fnv(sum, p, n * sizeof(int));
}

static void
count_is(MPI_Status *st, MPI_Datatype dt, int want, const char *what)
{
	int got = -1;

	MPI_Get_count(st, dt, &got);
	CHECK(got == want, "%s: status count %d, want %d", what, got, want);
}

static void
ok(const char *form)
{
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0)
		printf("io_check: %s ok\n", form);
	fflush(stdout);
}

/* Region k of the contiguous view: N ints per rank, ranks in order. */
static MPI_Offset
at(int k)
{
	return ((MPI_Offset)k * size + rank) * N;
}

static void
setup(const char *path)
{
	MPI_Info info, used;
	MPI_Offset sz = -1, byte = -1;
	MPI_Group g;
	MPI_Aint ext = 0;
	int flag = -1, amode = 0, gsize = 0;

	MPI_Info_create(&info);
	MPI_Info_set(info, "access_style", "read_mostly,write_mostly");
	MPI_OK(MPI_File_open(MPI_COMM_WORLD, path,
	    MPI_MODE_CREATE | MPI_MODE_RDWR, info, &fh));
	MPI_Info_free(&info);
	MPI_OK(MPI_File_get_info(fh, &used));
	MPI_OK(MPI_File_set_info(fh, used));
	MPI_Info_free(&used);
	MPI_OK(MPI_File_set_atomicity(fh, 1));
	MPI_OK(MPI_File_get_atomicity(fh, &flag));
	CHECK(flag == 1, "atomicity %d", flag);
	MPI_OK(MPI_File_set_atomicity(fh, 0));
	MPI_OK(MPI_File_set_size(fh, 0));
	MPI_OK(MPI_File_preallocate(fh, 4096));
	MPI_OK(MPI_File_get_size(fh, &sz));
	/* OMPIO preallocates on rank 0; others may see it late. */
	CHECK(rank != 0 || sz >= 4096, "size %lld after preallocate",
	    (long long)sz);
	MPI_OK(MPI_File_set_size(fh, 0));
	MPI_OK(MPI_File_get_size(fh, &sz));
	CHECK(sz == 0, "size %lld after set_size 0", (long long)sz);
	MPI_OK(MPI_File_get_amode(fh, &amode));
	CHECK(amode == (MPI_MODE_CREATE | MPI_MODE_RDWR), "amode %d", amode);
	MPI_OK(MPI_File_get_group(fh, &g));
	MPI_Group_size(g, &gsize);
	CHECK(gsize == size, "group size %d", gsize);
	MPI_Group_free(&g);
	MPI_OK(MPI_File_set_view(fh, 0, MPI_INT, MPI_INT, "native",
	    MPI_INFO_NULL));
	MPI_OK(MPI_File_get_byte_offset(fh, 10, &byte));
	CHECK(byte == 10 * (MPI_Offset)sizeof(int), "byte offset %lld",
	    (long long)byte);
	MPI_OK(MPI_File_get_type_extent(fh, MPI_INT, &ext));
	CHECK(ext == sizeof(int), "type extent %ld", (long)ext);
	ok("open, info, atomicity, size, amode, group, view");
}

static void
contiguous(void)
{
	int *w = malloc(N * sizeof(int)), *r = malloc(N * sizeof(int));
	MPI_Request rq[2];
	MPI_Status st;
	MPI_Offset pos = -1;
	int flag = 0;

	fill(w, N, rank, 1);
	MPI_OK(MPI_File_write_at(fh, at(0), w, N, MPI_INT, &st));
	count_is(&st, MPI_INT, N, "write_at");
	MPI_Barrier(MPI_COMM_WORLD);
	MPI_OK(MPI_File_read_at(fh, at(0), r, N, MPI_INT, &st));
	count_is(&st, MPI_INT, N, "read_at");
	expect(r, N, rank, 1, "read_at");
	ok("write_at, read_at");

	fill(w, N, rank, 2);
	MPI_OK(MPI_File_write_at_all(fh, at(1), w, N, MPI_INT, &st));
	count_is(&st, MPI_INT, N, "write_at_all");
	MPI_OK(MPI_File_read_at_all(fh, at(1), r, N, MPI_INT, &st));
	count_is(&st, MPI_INT, N, "read_at_all");
	expect(r, N, rank, 2, "read_at_all");
	ok("write_at_all, read_at_all");

	fill(w, N, rank, 3);
	MPI_OK(MPI_File_seek(fh, at(2), MPI_SEEK_SET));
	MPI_OK(MPI_File_write(fh, w, N / 2, MPI_INT, &st));
	MPI_OK(MPI_File_write(fh, w + N / 2, N / 2, MPI_INT, MPI_STATUS_IGNORE));
	MPI_OK(MPI_File_get_position(fh, &pos));
	CHECK(pos == at(2) + N, "position %lld after write", (long long)pos);
	MPI_OK(MPI_File_seek(fh, -N, MPI_SEEK_CUR));
	MPI_OK(MPI_File_read(fh, r, N, MPI_INT, &st));
	count_is(&st, MPI_INT, N, "read");
	expect(r, N, rank, 3, "read");
	ok("seek, write, get_position, read");

	fill(w, N, rank, 4);
	MPI_OK(MPI_File_seek(fh, at(3), MPI_SEEK_SET));
	MPI_OK(MPI_File_write_all(fh, w, N, MPI_INT, &st));
	count_is(&st, MPI_INT, N, "write_all");
	MPI_OK(MPI_File_seek(fh, at(3), MPI_SEEK_SET));
	MPI_OK(MPI_File_read_all(fh, r, N, MPI_INT, &st));
	expect(r, N, rank, 4, "read_all");
	MPI_OK(MPI_File_get_position(fh, &pos));
	CHECK(pos == at(3) + N, "position %lld after read_all",
	    (long long)pos);
	ok("write_all, read_all");

	fill(w, N, rank, 5);
	MPI_OK(MPI_File_iwrite_at(fh, at(4), w, N, MPI_INT, &rq[0]));
	MPI_OK(MPI_Wait(&rq[0], &st));
	count_is(&st, MPI_INT, N, "iwrite_at");
	MPI_Barrier(MPI_COMM_WORLD);
	MPI_OK(MPI_File_iread_at(fh, at(4), r, N, MPI_INT, &rq[0]));
	do
		MPI_OK(MPI_Test(&rq[0], &flag, &st));
	while (!flag);
	expect(r, N, rank, 5, "iread_at");
	fill(w, N, rank, 6);
	MPI_OK(MPI_File_iwrite_at_all(fh, at(5), w, N, MPI_INT, &rq[0]));
	MPI_OK(MPI_Waitall(1, rq, MPI_STATUSES_IGNORE));
	MPI_OK(MPI_File_iread_at_all(fh, at(5), r, N, MPI_INT, &rq[0]));
	MPI_OK(MPI_Wait(&rq[0], &st));
	count_is(&st, MPI_INT, N, "iread_at_all");
	expect(r, N, rank, 6, "iread_at_all");
	fill(w, N, rank, 7);
	MPI_OK(MPI_File_seek(fh, at(6), MPI_SEEK_SET));
	MPI_OK(MPI_File_iwrite(fh, w, N / 2, MPI_INT, &rq[0]));
	MPI_OK(MPI_Wait(&rq[0], MPI_STATUS_IGNORE));
	MPI_OK(MPI_File_iwrite_all(fh, w + N / 2, N / 2, MPI_INT, &rq[1]));
	MPI_OK(MPI_Wait(&rq[1], MPI_STATUS_IGNORE));
	MPI_OK(MPI_File_seek(fh, at(6), MPI_SEEK_SET));
	MPI_OK(MPI_File_iread(fh, r, N / 2, MPI_INT, &rq[0]));
	MPI_OK(MPI_Wait(&rq[0], MPI_STATUS_IGNORE));
	MPI_OK(MPI_File_iread_all(fh, r + N / 2, N / 2, MPI_INT, &rq[1]));
	MPI_OK(MPI_Waitall(1, &rq[1], &st));
	expect(r, N, rank, 7, "iread, iread_all");
	ok("iwrite_at, iread_at, iwrite_at_all, iread_at_all, iwrite, "
	    "iwrite_all, iread, iread_all");

	fill(w, N, rank, 8);
	MPI_OK(MPI_File_write_at_all_begin(fh, at(7), w, N, MPI_INT));
	MPI_OK(MPI_File_write_at_all_end(fh, w, &st));
	count_is(&st, MPI_INT, N, "write_at_all_end");
	MPI_OK(MPI_File_read_at_all_begin(fh, at(7), r, N, MPI_INT));
	MPI_OK(MPI_File_read_at_all_end(fh, r, &st));
	count_is(&st, MPI_INT, N, "read_at_all_end");
	expect(r, N, rank, 8, "read_at_all_begin/end");
	fill(w, N, rank, 9);
	MPI_OK(MPI_File_seek(fh, at(8), MPI_SEEK_SET));
	MPI_OK(MPI_File_write_all_begin(fh, w, N, MPI_INT));
	MPI_OK(MPI_File_write_all_end(fh, w, MPI_STATUS_IGNORE));
	MPI_OK(MPI_File_seek(fh, at(8), MPI_SEEK_SET));
	MPI_OK(MPI_File_read_all_begin(fh, r, N, MPI_INT));
	MPI_OK(MPI_File_read_all_end(fh, r, &st));
	count_is(&st, MPI_INT, N, "read_all_end");
	expect(r, N, rank, 9, "read_all_begin/end");
	ok("split collectives _all, _at_all");
	free(w);
	free(r);
}

/* The shared pointer, from region 9 on (ints, same view everywhere). */
static void
shared(void)
{
	MPI_Offset base = (MPI_Offset)9 * size * N, pos = -1, mine, end;
	int n = 16 * (rank + 1), i, k, salt;
	int *w = malloc(n * sizeof(int)), *r = malloc(n * sizeof(int));
	MPI_Request rq;
	MPI_Status st;

	/* Independent shared access, one rank after another. */
	MPI_OK(MPI_File_seek_shared(fh, base, MPI_SEEK_SET));
	for (k = 0; k < 2; k++) {
		fill(w, n, rank, 10 + k);
		for (i = 0; i < size; i++) {
			if (i == rank && k == 0)
				MPI_OK(MPI_File_write_shared(fh, w, n, MPI_INT,
				    &st));
			if (i == rank && k == 1) {
				MPI_OK(MPI_File_iwrite_shared(fh, w, n,
				    MPI_INT, &rq));
				MPI_OK(MPI_Wait(&rq, &st));
			}
			MPI_Barrier(MPI_COMM_WORLD);
		}
	}
	/* Ranks before me wrote 16 * (1 + ... + rank) ints per round. */
	mine = base + 16L * rank * (rank + 1) / 2;
	end = base + 16L * size * (size + 1) / 2;
	/* (Open MPI's sharedfp/sm shows other ranks' moves of the pointer
	 * late to get_position_shared: not checked here.) */
	MPI_OK(MPI_File_read_at(fh, mine, r, n, MPI_INT, &st));
	expect(r, n, rank, 10, "write_shared");
	MPI_OK(MPI_File_read_at(fh, mine + end - base, r, n, MPI_INT, &st));
	expect(r, n, rank, 11, "iwrite_shared");
	MPI_OK(MPI_File_seek_shared(fh, base, MPI_SEEK_SET));
	for (k = 0; k < 2; k++)
		for (i = 0; i < size; i++) {
			if (i == rank && k == 0) {
				MPI_OK(MPI_File_read_shared(fh, r, n, MPI_INT,
				    &st));
				expect(r, n, rank, 10, "read_shared");
			}
			if (i == rank && k == 1) {
				MPI_OK(MPI_File_iread_shared(fh, r, n,
				    MPI_INT, &rq));
				MPI_OK(MPI_Wait(&rq, &st));
				expect(r, n, rank, 11, "iread_shared");
			}
			MPI_Barrier(MPI_COMM_WORLD);
		}
	ok("write_shared, iwrite_shared, read_shared, iread_shared, "
	    "seek_shared, get_position_shared");

	/* Ordered: rank order, each rank its own count. */
	base = 2 * end - base;
	MPI_OK(MPI_File_seek_shared(fh, base, MPI_SEEK_SET));
	for (k = 0; k < 2; k++) {
		salt = 12 + k;
		fill(w, n, rank, salt);
		if (k == 0) {
			MPI_OK(MPI_File_write_ordered(fh, w, n, MPI_INT, &st));
		} else {
			MPI_OK(MPI_File_write_ordered_begin(fh, w, n, MPI_INT));
			MPI_OK(MPI_File_write_ordered_end(fh, w, &st));
		}
		count_is(&st, MPI_INT, n, "write_ordered");
	}
	end = base + 16L * size * (size + 1) / 2;
	MPI_OK(MPI_File_get_position_shared(fh, &pos));
	CHECK(pos == 2 * end - base, "shared position %lld after ordered",
	    (long long)pos);
	MPI_Barrier(MPI_COMM_WORLD);
	MPI_OK(MPI_File_read_at(fh, base + 16L * rank * (rank + 1) / 2, r, n,
	    MPI_INT, &st));
	expect(r, n, rank, 12, "write_ordered (at)");
	MPI_OK(MPI_File_seek_shared(fh, base, MPI_SEEK_SET));
	MPI_OK(MPI_File_read_ordered(fh, r, n, MPI_INT, &st));
	count_is(&st, MPI_INT, n, "read_ordered");
	expect(r, n, rank, 12, "read_ordered");
	MPI_OK(MPI_File_read_ordered_begin(fh, r, n, MPI_INT));
	MPI_OK(MPI_File_read_ordered_end(fh, r, &st));
	expect(r, n, rank, 13, "read_ordered_begin/end");
	MPI_OK(MPI_File_get_position_shared(fh, &pos));
	CHECK(pos == 2 * end - base, "shared position %lld after "
	    "read_ordered", (long long)pos);
	ok("write_ordered, read_ordered, split ordered");
	free(w);
	free(r);
}

/*
 * Interleaved view from byte `disp`: rank r's blocks of B ints sit at
 * block r, r + size, ... (a contiguous filetype resized to size blocks).
 */
static void
interleaved_view(MPI_Offset disp, MPI_Datatype *ft)
{
	MPI_Datatype blk;

	MPI_Type_contiguous(B, MPI_INT, &blk);
	MPI_Type_create_resized(blk, 0, (MPI_Aint)size * B * sizeof(int), ft);
	MPI_Type_commit(ft);
	MPI_Type_free(&blk);
	MPI_OK(MPI_File_set_view(fh, disp + (MPI_Offset)rank * B * sizeof(int),
	    MPI_INT, *ft, "native", MPI_INFO_NULL));
}

static void
derived(MPI_Offset disp)
{
	const int nb = 8, n = nb * B;
	int *w = malloc(2 * n * sizeof(int)), *r = malloc(n * sizeof(int));
	int *p = malloc(n * sizeof(int)), i;
	char rep[MPI_MAX_DATAREP_STRING];
	MPI_Datatype ft, gft, get, every2nd;
	MPI_Offset gd = -1;
	MPI_Request rq;
	MPI_Status st;

	interleaved_view(disp, &ft);
	MPI_OK(MPI_File_get_view(fh, &gd, &get, &gft, rep));
	CHECK(gd == disp + (MPI_Offset)rank * B * (MPI_Offset)sizeof(int),
	    "view displacement %lld", (long long)gd);
	CHECK(get == MPI_INT && strcmp(rep, "native") == 0, "view etype, "
	    "datarep %s", rep);
	MPI_Type_free(&gft);
	/* Memory: every second int of w. */
	MPI_Type_vector(n, 1, 2, MPI_INT, &every2nd);
	MPI_Type_commit(&every2nd);
	for (i = 0; i < n; i++) {
		w[2 * i] = val(rank, i, 20);
		w[2 * i + 1] = -1;
	}
	MPI_OK(MPI_File_write_at_all(fh, 0, w, 1, every2nd, &st));
	count_is(&st, every2nd, 1, "write_at_all (strided)");
	MPI_OK(MPI_File_read_at_all(fh, 0, r, n, MPI_INT, &st));
	expect(r, n, rank, 20, "interleaved read_at_all");
	MPI_OK(MPI_File_read_at(fh, B, r, n - B, MPI_INT, &st));
	for (i = 0; i < n - B; i++)
		CHECK(r[i] == val(rank, i + B, 20), "read_at in view at %d", i);
	MPI_OK(MPI_File_seek(fh, 0, MPI_SEEK_SET));
	MPI_OK(MPI_File_read_all(fh, p, n, MPI_INT, &st));
	expect(p, n, rank, 20, "interleaved read_all");
	for (i = 0; i < n; i++)
		w[2 * i] = val(rank, i, 21);
	MPI_OK(MPI_File_seek(fh, 0, MPI_SEEK_SET));
	MPI_OK(MPI_File_iwrite_all(fh, w, 1, every2nd, &rq));
	MPI_OK(MPI_Wait(&rq, MPI_STATUS_IGNORE));
	MPI_OK(MPI_File_seek(fh, 0, MPI_SEEK_SET));
	MPI_OK(MPI_File_read_all_begin(fh, r, n, MPI_INT));
	MPI_OK(MPI_File_read_all_end(fh, r, &st));
	expect(r, n, rank, 21, "interleaved split read_all");
	MPI_OK(MPI_File_sync(fh));
	ok("interleaved view, strided memory type, get_view, sync");
	MPI_Type_free(&every2nd);
	MPI_Type_free(&ft);
	free(w);
	free(r);
	free(p);
}

/* Wire capture: blocks repeating marker, written and read collectively
 * through an interleaved view (what aggregators would gather). */
static int
marker_run(const char *marker)
{
	const int nb = 4, n = nb * B;
	size_t ml = strlen(marker), i;
	char *w = malloc(n * sizeof(int)), *r = malloc(n * sizeof(int));
	MPI_Datatype ft;

	for (i = 0; i < n * sizeof(int); i++)
		w[i] = marker[i % ml];
	interleaved_view(0, &ft);
	MPI_OK(MPI_File_write_all(fh, w, n, MPI_INT, MPI_STATUS_IGNORE));
	MPI_OK(MPI_File_seek(fh, 0, MPI_SEEK_SET));
	MPI_OK(MPI_File_read_all(fh, r, n, MPI_INT, MPI_STATUS_IGNORE));
	CHECK(memcmp(w, r, n * sizeof(int)) == 0, "marker read back");
	sum = fnv(sum, r, n * sizeof(int));
	MPI_Type_free(&ft);
	free(w);
	free(r);
	MPI_OK(MPI_File_close(&fh));
	return ex_finish("io_check", sum);
}

/* Rank 0: the file's size and checksum, read without MPI. */
static void
file_sum(const char *path)
{
	unsigned char buf[65536];
	uint64_t h = FNV_INIT;
	size_t got, total = 0;
	FILE *f;

	if (rank != 0)
		return;
	f = fopen(path, "rb");
	CHECK(f != NULL, "cannot reopen %s", path);
	if (f == NULL)
		return;
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
		h = fnv(h, buf, got);
		total += got;
	}
	fclose(f);
	printf("io_check: file %zu bytes, checksum %llu\n", total,
	    (unsigned long long)h);
	sum = fnv_u64(sum, h);
}

int
main(int argc, char **argv)
{
	char scratch[4096];
	MPI_File tmp;
	int i;

	rank = ex_init(&argc, &argv, &size);
	if (argc < 2) {
		if (rank == 0)
			fprintf(stderr, "usage: io_check FILE [MARKERFILE]\n");
		MPI_Finalize();
		return 2;
	}
	if (rank == 0)
		MPI_File_delete(argv[1], MPI_INFO_NULL);
	MPI_Barrier(MPI_COMM_WORLD);
	setup(argv[1]);
	if (argc > 2) {
		int rc = marker_run(ex_marker(argv[2]));

		MPI_Finalize();
		return rc;
	}
	contiguous();
	shared();
	derived((MPI_Offset)16 * size * N * sizeof(int));
	MPI_OK(MPI_File_close(&fh));
	MPI_Barrier(MPI_COMM_WORLD);
	file_sum(argv[1]);

	snprintf(scratch, sizeof(scratch), "%s.scratch", argv[1]);
	MPI_OK(MPI_File_open(MPI_COMM_WORLD, scratch,
	    MPI_MODE_CREATE | MPI_MODE_WRONLY | MPI_MODE_DELETE_ON_CLOSE,
	    MPI_INFO_NULL, &tmp));
	MPI_OK(MPI_File_close(&tmp));
	MPI_OK(MPI_File_open(MPI_COMM_WORLD, scratch,
	    MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &tmp));
	MPI_OK(MPI_File_close(&tmp));
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0)
		MPI_OK(MPI_File_delete(scratch, MPI_INFO_NULL));
	ok("close, delete");
	i = ex_finish("io_check", sum);
	MPI_Finalize();
	return i;
}
