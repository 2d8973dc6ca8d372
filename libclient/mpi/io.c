/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MPI-IO without data between ranks. Collective file access is the
 * independent access plus collectivity (MPI-3.1 13.6), so every
 * collective data access here becomes the independent one on the same
 * file view: no MPI-IO component (OMPIO's fcoll, ROMIO's two-phase
 * buffering) ever gathers data at aggregators, whatever MCA parameters
 * or hints the application passes. What reaches the file system is
 * outside esmpi (SECURITY.md). The ordered forms work out each rank's
 * offset with one sealed Allgather on a duplicate of the file's
 * communicator, access at that explicit offset, and move the shared
 * pointer with Seek_shared. Split collectives do their access in
 * _begin (allowed: the buffer is the application's until _end) and
 * keep the status for _end. Independent access, views, sizes, hints
 * and the rest are passthrough (pmpi/mpi_functions.tbl).
 */
#include <stdio.h>
#include <stdlib.h>

#include "mpi/mpi_layer.h"

enum split { SPLIT_NONE, SPLIT_READ_ALL, SPLIT_WRITE_ALL, SPLIT_READ_AT_ALL,
	SPLIT_WRITE_AT_ALL, SPLIT_READ_ORDERED, SPLIT_WRITE_ORDERED };

static const char *const split_name[] = {
	[SPLIT_READ_ALL] = "MPI_File_read_all",
	[SPLIT_WRITE_ALL] = "MPI_File_write_all",
	[SPLIT_READ_AT_ALL] = "MPI_File_read_at_all",
	[SPLIT_WRITE_AT_ALL] = "MPI_File_write_at_all",
	[SPLIT_READ_ORDERED] = "MPI_File_read_ordered",
	[SPLIT_WRITE_ORDERED] = "MPI_File_write_ordered",
};

/* An open file: its communicator's duplicate (for the ordered forms'
 * sealed offsets) and the split collective under way. */
struct io_file {
	MPI_File fh;
	MPI_Comm comm;
	enum split split;
	int split_rc;
	MPI_Status split_st;
	struct io_file *next;
};

static struct io_file *files;
static pthread_mutex_t files_lock = PTHREAD_MUTEX_INITIALIZER;

static struct io_file *
file_find(MPI_File fh)
{
	struct io_file *f;

	pthread_mutex_lock(&files_lock);
	for (f = files; f != NULL && f->fh != fh; f = f->next)
		;
	pthread_mutex_unlock(&files_lock);
	return f;
}

/* A refusal of a misused file, through the file's error handler. */
static int
io_fail(MPI_File fh, const char *fn, int cls, const char *why)
{
	fprintf(stderr, "esmpi: rank %d: %s: %s\n", esmpi.world_rank, fn, why);
	fflush(stderr);
	PMPI_File_call_errhandler(fh, cls);
	return cls;
}

ESMPI_EXPORT int
MPI_File_open(MPI_Comm comm, const char *filename, int amode, MPI_Info info,
    MPI_File *fh)
{
	struct io_file *f;
	int rc;

	rc = PMPI_File_open(comm, filename, amode, info, fh);
	if (rc != MPI_SUCCESS || !esmpi.active)
		return rc;
	/* Collective over comm like the open, so every rank derives the
	 * duplicate alike (mpi/comm_new.c). */
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		PMPI_File_close(fh);
		return esmpi_fail(comm, MPI_ERR_NO_MEM,
		    "MPI_File_open: out of memory");
	}
	if ((rc = MPI_Comm_dup(comm, &f->comm)) != MPI_SUCCESS) {
		free(f);
		PMPI_File_close(fh);
		return rc;
	}
	f->fh = *fh;
	pthread_mutex_lock(&files_lock);
	f->next = files;
	files = f;
	pthread_mutex_unlock(&files_lock);
	return MPI_SUCCESS;
}

ESMPI_EXPORT int
MPI_File_close(MPI_File *fh)
{
	struct io_file **p, *f = NULL;
	MPI_File h = *fh;
	int rc;

	rc = PMPI_File_close(fh);
	if (rc != MPI_SUCCESS)
		return rc;
	pthread_mutex_lock(&files_lock);
	for (p = &files; *p != NULL; p = &(*p)->next)
		if ((*p)->fh == h) {
			f = *p;
			*p = f->next;
			break;
		}
	pthread_mutex_unlock(&files_lock);
	if (f != NULL) {
		MPI_Comm_free(&f->comm);
		free(f);
	}
	return rc;
}

/* ------------------------------------------- collective -> independent */

ESMPI_EXPORT int
MPI_File_read_all(MPI_File fh, void *buf, int count, MPI_Datatype dt,
    MPI_Status *st)
{
	return PMPI_File_read(fh, buf, count, dt, st);
}

ESMPI_EXPORT int
MPI_File_write_all(MPI_File fh, const void *buf, int count, MPI_Datatype dt,
    MPI_Status *st)
{
	return PMPI_File_write(fh, buf, count, dt, st);
}

ESMPI_EXPORT int
MPI_File_read_at_all(MPI_File fh, MPI_Offset off, void *buf, int count,
    MPI_Datatype dt, MPI_Status *st)
{
	return PMPI_File_read_at(fh, off, buf, count, dt, st);
}

ESMPI_EXPORT int
MPI_File_write_at_all(MPI_File fh, MPI_Offset off, const void *buf, int count,
    MPI_Datatype dt, MPI_Status *st)
{
	return PMPI_File_write_at(fh, off, buf, count, dt, st);
}

/* The request is Open MPI's own: esmpi's Wait/Test pass it through. */
ESMPI_EXPORT int
MPI_File_iread_all(MPI_File fh, void *buf, int count, MPI_Datatype dt,
    MPI_Request *req)
{
	return PMPI_File_iread(fh, buf, count, dt, req);
}

ESMPI_EXPORT int
MPI_File_iwrite_all(MPI_File fh, const void *buf, int count, MPI_Datatype dt,
    MPI_Request *req)
{
	return PMPI_File_iwrite(fh, buf, count, dt, req);
}

ESMPI_EXPORT int
MPI_File_iread_at_all(MPI_File fh, MPI_Offset off, void *buf, int count,
    MPI_Datatype dt, MPI_Request *req)
{
	return PMPI_File_iread_at(fh, off, buf, count, dt, req);
}

ESMPI_EXPORT int
MPI_File_iwrite_at_all(MPI_File fh, MPI_Offset off, const void *buf,
    int count, MPI_Datatype dt, MPI_Request *req)
{
	return PMPI_File_iwrite_at(fh, off, buf, count, dt, req);
}

/* ------------------------------------------------------------ ordered */

/* The etype's size under fh's view. */
static int
etype_size(MPI_File fh, int *size)
{
	char rep[MPI_MAX_DATAREP_STRING];
	MPI_Datatype et, ft;
	MPI_Offset disp;
	int rc, ni, na, nd, comb;

	if ((rc = PMPI_File_get_view(fh, &disp, &et, &ft, rep)) != MPI_SUCCESS)
		return rc;
	rc = PMPI_Type_size(et, size);
	/* get_view hands out derived types as new handles. */
	PMPI_Type_get_envelope(et, &ni, &na, &nd, &comb);
	if (comb != MPI_COMBINER_NAMED)
		PMPI_Type_free(&et);
	PMPI_Type_get_envelope(ft, &ni, &na, &nd, &comb);
	if (comb != MPI_COMBINER_NAMED)
		PMPI_Type_free(&ft);
	return rc;
}

/*
 * Rank i accesses at the shared pointer (rank 0's reading of it) plus
 * what ranks 0..i-1 access, in etypes; then every rank moves the pointer
 * past all of it. One sealed Allgather of (this rank's etypes, rank 0's
 * pointer) on the file's duplicate communicator.
 */
static int
ordered(const char *fn, MPI_File fh, void *buf, int count, MPI_Datatype dt,
    MPI_Status *st, int write)
{
	struct io_file *f = file_find(fh);
	MPI_Offset mine[2] = { 0, 0 }, *all, before = 0, total = 0;
	int rc, n, me, i, tsz, esz;

	if (f == NULL)
		return io_fail(fh, fn, MPI_ERR_FILE,
		    "not a file esmpi saw opened (MPI_File_open before "
		    "esmpi's MPI_Init?)");
	if (count < 0)
		return io_fail(fh, fn, MPI_ERR_COUNT, "negative count");
	if ((rc = PMPI_Type_size(dt, &tsz)) != MPI_SUCCESS ||
	    (rc = etype_size(fh, &esz)) != MPI_SUCCESS)
		return rc;
	if (esz <= 0 || ((MPI_Offset)count * tsz) % esz != 0)
		return io_fail(fh, fn, MPI_ERR_TYPE, "the data is not a whole "
		    "number of the view's etypes");
	mine[0] = (MPI_Offset)count * tsz / esz;
	PMPI_Comm_size(f->comm, &n);
	PMPI_Comm_rank(f->comm, &me);
	if (me == 0 && (rc = PMPI_File_get_position_shared(fh, &mine[1])) !=
	    MPI_SUCCESS)
		return rc;
	if ((all = malloc(2 * sizeof(*all) * n)) == NULL)
		return io_fail(fh, fn, MPI_ERR_NO_MEM, "out of memory");
	rc = MPI_Allgather(mine, 2, MPI_OFFSET, all, 2, MPI_OFFSET, f->comm);
	if (rc == MPI_SUCCESS) {
		for (i = 0; i < n; i++) {
			if (i < me)
				before += all[2 * i];
			total += all[2 * i];
		}
		before += all[1];
		total += all[1];
	}
	free(all);
	if (rc != MPI_SUCCESS)
		return rc;
	rc = write ? PMPI_File_write_at(fh, before, buf, count, dt, st) :
	    PMPI_File_read_at(fh, before, buf, count, dt, st);
	/* Collective: every rank moves the pointer, even after a failure
	 * of its own access, so no rank waits forever. */
	i = PMPI_File_seek_shared(fh, total, MPI_SEEK_SET);
	return rc != MPI_SUCCESS ? rc : i;
}

ESMPI_EXPORT int
MPI_File_read_ordered(MPI_File fh, void *buf, int count, MPI_Datatype dt,
    MPI_Status *st)
{
	return ordered("MPI_File_read_ordered", fh, buf, count, dt, st, 0);
}

ESMPI_EXPORT int
MPI_File_write_ordered(MPI_File fh, const void *buf, int count,
    MPI_Datatype dt, MPI_Status *st)
{
	return ordered("MPI_File_write_ordered", fh, (void *)buf, count, dt,
	    st, 1);
}

/* ------------------------------------------------- split collectives */

/* _begin: at most one split collective per file (MPI-3.1 13.4.5). */
static int
split_begin(const char *fn, MPI_File fh, enum split kind, MPI_Offset off,
    void *buf, int count, MPI_Datatype dt)
{
	struct io_file *f = file_find(fh);
	MPI_Status *st;

	if (f == NULL)
		return io_fail(fh, fn, MPI_ERR_FILE,
		    "not a file esmpi saw opened (MPI_File_open before "
		    "esmpi's MPI_Init?)");
	if (f->split != SPLIT_NONE)
		return io_fail(fh, fn, MPI_ERR_OTHER, "a split collective "
		    "is already active on this file");
	st = &f->split_st;
	switch (kind) {
	case SPLIT_READ_ALL:
		f->split_rc = PMPI_File_read(fh, buf, count, dt, st);
		break;
	case SPLIT_WRITE_ALL:
		f->split_rc = PMPI_File_write(fh, buf, count, dt, st);
		break;
	case SPLIT_READ_AT_ALL:
		f->split_rc = PMPI_File_read_at(fh, off, buf, count, dt, st);
		break;
	case SPLIT_WRITE_AT_ALL:
		f->split_rc = PMPI_File_write_at(fh, off, buf, count, dt, st);
		break;
	case SPLIT_READ_ORDERED:
	case SPLIT_WRITE_ORDERED:
		f->split_rc = ordered(fn, fh, buf, count, dt, st,
		    kind == SPLIT_WRITE_ORDERED);
		break;
	default:
		break;
	}
	f->split = kind;
	return MPI_SUCCESS;
}

static int
split_end(const char *fn, MPI_File fh, enum split kind, MPI_Status *st)
{
	struct io_file *f = file_find(fh);
	char why[128];

	if (f == NULL)
		return io_fail(fh, fn, MPI_ERR_FILE,
		    "not a file esmpi saw opened (MPI_File_open before "
		    "esmpi's MPI_Init?)");
	if (f->split != kind) {
		snprintf(why, sizeof(why), "no %s_begin active on this file",
		    split_name[kind]);
		return io_fail(fh, fn, MPI_ERR_OTHER, why);
	}
	f->split = SPLIT_NONE;
	if (st != MPI_STATUS_IGNORE)
		*st = f->split_st;
	return f->split_rc;
}

ESMPI_EXPORT int
MPI_File_read_all_begin(MPI_File fh, void *buf, int count, MPI_Datatype dt)
{
	return split_begin("MPI_File_read_all_begin", fh, SPLIT_READ_ALL, 0,
	    buf, count, dt);
}

ESMPI_EXPORT int
MPI_File_read_all_end(MPI_File fh, void *buf, MPI_Status *st)
{
	(void)buf;
	return split_end("MPI_File_read_all_end", fh, SPLIT_READ_ALL, st);
}

ESMPI_EXPORT int
MPI_File_write_all_begin(MPI_File fh, const void *buf, int count,
    MPI_Datatype dt)
{
	return split_begin("MPI_File_write_all_begin", fh, SPLIT_WRITE_ALL, 0,
	    (void *)buf, count, dt);
}

ESMPI_EXPORT int
MPI_File_write_all_end(MPI_File fh, const void *buf, MPI_Status *st)
{
	(void)buf;
	return split_end("MPI_File_write_all_end", fh, SPLIT_WRITE_ALL, st);
}

ESMPI_EXPORT int
MPI_File_read_at_all_begin(MPI_File fh, MPI_Offset off, void *buf, int count,
    MPI_Datatype dt)
{
	return split_begin("MPI_File_read_at_all_begin", fh,
	    SPLIT_READ_AT_ALL, off, buf, count, dt);
}

ESMPI_EXPORT int
MPI_File_read_at_all_end(MPI_File fh, void *buf, MPI_Status *st)
{
	(void)buf;
	return split_end("MPI_File_read_at_all_end", fh, SPLIT_READ_AT_ALL,
	    st);
}

ESMPI_EXPORT int
MPI_File_write_at_all_begin(MPI_File fh, MPI_Offset off, const void *buf,
    int count, MPI_Datatype dt)
{
	return split_begin("MPI_File_write_at_all_begin", fh,
	    SPLIT_WRITE_AT_ALL, off, (void *)buf, count, dt);
}

ESMPI_EXPORT int
MPI_File_write_at_all_end(MPI_File fh, const void *buf, MPI_Status *st)
{
	(void)buf;
	return split_end("MPI_File_write_at_all_end", fh, SPLIT_WRITE_AT_ALL,
	    st);
}

ESMPI_EXPORT int
MPI_File_read_ordered_begin(MPI_File fh, void *buf, int count,
    MPI_Datatype dt)
{
	return split_begin("MPI_File_read_ordered_begin", fh,
	    SPLIT_READ_ORDERED, 0, buf, count, dt);
}

ESMPI_EXPORT int
MPI_File_read_ordered_end(MPI_File fh, void *buf, MPI_Status *st)
{
	(void)buf;
	return split_end("MPI_File_read_ordered_end", fh, SPLIT_READ_ORDERED,
	    st);
}

ESMPI_EXPORT int
MPI_File_write_ordered_begin(MPI_File fh, const void *buf, int count,
    MPI_Datatype dt)
{
	return split_begin("MPI_File_write_ordered_begin", fh,
	    SPLIT_WRITE_ORDERED, 0, (void *)buf, count, dt);
}

ESMPI_EXPORT int
MPI_File_write_ordered_end(MPI_File fh, const void *buf, MPI_Status *st)
{
	(void)buf;
	return split_end("MPI_File_write_ordered_end", fh,
	    SPLIT_WRITE_ORDERED, st);
}
