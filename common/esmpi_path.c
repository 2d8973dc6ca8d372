/* SPDX-License-Identifier: Apache-2.0 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "esmpi_path.h"

/* One object: owner and who may write it (lstat: a link is itself). */
static int
unsafe_object(const char *p, const struct stat *st, char *why, size_t whylen)
{
	uid_t me = geteuid();
	int sticky_dir = S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX);

	if (st->st_uid != 0 && st->st_uid != me) {
		snprintf(why, whylen, "'%s' is owned by uid %u, not by root: "
		    "refused (it must be root's alone)", p,
		    (unsigned)st->st_uid);
		return 1;
	}
	/* A symbolic link's own mode means nothing. */
	if (S_ISLNK(st->st_mode) || sticky_dir)
		return 0;
	if ((st->st_mode & S_IWOTH) ||
	    ((st->st_mode & S_IWGRP) && st->st_gid != 0)) {
		snprintf(why, whylen, "'%s' is writable by %s: refused (chmod "
		    "go-w)", p, (st->st_mode & S_IWOTH) ? "others" :
		    "its group");
		return 1;
	}
	return 0;
}

/* "/" and every longer prefix of the absolute path p, lstat'ed. */
static int
unsafe_walk(const char *p, char *why, size_t whylen)
{
	char prefix[PATH_MAX];
	struct stat st;
	size_t i, n = strlen(p);

	if (n == 0 || n >= sizeof(prefix) || p[0] != '/')
		return 0;
	if (lstat("/", &st) == 0 && unsafe_object("/", &st, why, whylen))
		return 1;
	for (i = 2; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		memcpy(prefix, p, i);
		prefix[i] = '\0';
		if (lstat(prefix, &st) != 0)
			return 0;	/* the open says what is wrong */
		if (unsafe_object(prefix, &st, why, whylen))
			return 1;
	}
	return 0;
}

int
esmpi_path_unsafe(const char *path, char *why, size_t whylen)
{
	char real[PATH_MAX], abs[PATH_MAX];

	if (path[0] != '/') {
		if (getcwd(abs, sizeof(abs)) == NULL ||
		    snprintf(abs + strlen(abs), sizeof(abs) - strlen(abs),
		    "/%s", path) >= (int)(sizeof(abs) - strlen(abs)))
			return 0;
		path = abs;
	}
	/* The way as given (links included), then where it leads. */
	if (unsafe_walk(path, why, whylen))
		return 1;
	if (realpath(path, real) == NULL)
		return 0;
	return unsafe_walk(real, why, whylen);
}
