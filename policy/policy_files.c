/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where a policy's files come from: the filesystem (optionally under
 * StrictModes-like ownership checks), recorded for sending, or only from
 * what a request carried (esmpid never reads a file for an admin who
 * could not read it).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "esmpi_err.h"
#include "esmpi_mem.h"
#include "esmpi_path.h"
#include "esmpi_policy.h"
#include "policy_files.h"

/*
 * Read a whole regular file of at most ESMPI_POL_MAX_FILE bytes.
 * Returns ESMPI_ERR_SYSTEM (errno set), ESMPI_ERR_INVALID (not a regular
 * file) or ESMPI_ERR_TOO_LARGE (*size set).
 */
static int
read_file(const char *path, char **out, size_t *len, long long *size)
{
	struct stat st;
	char *buf = NULL;
	size_t cap, got = 0;
	ssize_t n;
	int fd, r, saved;

	/* O_NONBLOCK so a FIFO cannot hang the daemon; fstat refuses it. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1)
		return ESMPI_ERR_SYSTEM;
	if (fstat(fd, &st) == -1) {
		r = ESMPI_ERR_SYSTEM;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		r = ESMPI_ERR_SYSTEM;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = ESMPI_ERR_INVALID;
		goto out;
	}
	if (st.st_size > ESMPI_POL_MAX_FILE) {
		*size = (long long)st.st_size;
		r = ESMPI_ERR_TOO_LARGE;
		goto out;
	}
	cap = (size_t)st.st_size;
	if ((buf = malloc(cap + 1)) == NULL) {
		r = ESMPI_ERR_NOMEM;
		goto out;
	}
	while (got < cap) {
		n = read(fd, buf + got, cap - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = ESMPI_ERR_SYSTEM;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	r = 0;
 out:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return r;
}

static int
record(struct esmpi_pol_files *f, const char *path, const char *buf,
    size_t len)
{
	struct esmpi_pol_file *v, *e;

	if ((v = realloc(f->v, (f->n + 1) * sizeof(*v))) == NULL)
		return ESMPI_ERR_NOMEM;
	f->v = v;
	e = &v[f->n];
	if ((e->path = strdup(path)) == NULL ||
	    (e->text = malloc(len + 1)) == NULL) {
		free(e->path);
		return ESMPI_ERR_NOMEM;
	}
	memcpy(e->text, buf, len);
	e->text[len] = '\0';
	e->len = len;
	f->n++;
	return 0;
}

int
esmpi_pol_get_file(struct esmpi_pol_files *f, const char *path, char **out,
    size_t *len, long long *size, char *why, size_t whylen)
{
	size_t i;
	int r;

	if (f != NULL && f->serve_only) {
		for (i = 0; i < f->n; i++) {
			if (strcmp(f->v[i].path, path) != 0)
				continue;
			if (f->v[i].len > ESMPI_POL_MAX_FILE) {
				*size = (long long)f->v[i].len;
				return ESMPI_ERR_TOO_LARGE;
			}
			if ((*out = malloc(f->v[i].len + 1)) == NULL)
				return ESMPI_ERR_NOMEM;
			memcpy(*out, f->v[i].text, f->v[i].len);
			(*out)[f->v[i].len] = '\0';
			*len = f->v[i].len;
			return 0;
		}
		snprintf(why, whylen, "'%s' was not sent with the request "
		    "(esmpictl policy load sends every file it reads)", path);
		return ESMPI_ERR_DENIED;
	}
	if (f != NULL && f->strict && esmpi_path_unsafe(path, why, whylen))
		return ESMPI_ERR_DENIED;
	if ((r = read_file(path, out, len, size)) != 0)
		return r;
	if (f != NULL && f->record && (r = record(f, path, *out, *len)) != 0) {
		free(*out);
		*out = NULL;
		return r;
	}
	return 0;
}

int
esmpi_pol_files_add(struct esmpi_pol_files *f, const char *path,
    const char *buf, size_t len)
{
	return record(f, path, buf, len);
}

void
esmpi_pol_files_free(struct esmpi_pol_files *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->n; i++) {
		free(f->v[i].path);
		free(f->v[i].text);
	}
	free(f->v);
	f->v = NULL;
	f->n = 0;
}
