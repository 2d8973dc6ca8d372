/* SPDX-License-Identifier: Apache-2.0 */
/*
 * esmpictl node guard on|off|status [--lib PATH] [--preload-file PATH]
 *
 * Lists libesmpi-guard.so in the dynamic linker's node-wide preload list
 * (/etc/ld.so.preload), or takes it out: with it, an MPI process on this
 * node runs with libesmpi or not at all, whatever its launcher sent
 * (libclient/guard.c). Other entries of the list are kept; the list is
 * replaced atomically (a half-written list would break every program).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "esmpi_path.h"
#include "esmpictl.h"

#define PRELOAD_FILE	"/etc/ld.so.preload"
#define PRELOAD_MAX	(64 * 1024)

/* The whole list (NUL-terminated), or an empty one when there is none. */
static int
read_list(const char *path, char **out)
{
	char *buf;
	size_t got = 0;
	ssize_t n;
	int fd;

	if ((buf = calloc(1, PRELOAD_MAX + 1)) == NULL)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT) {
			*out = buf;
			return 0;
		}
		free(buf);
		return -1;
	}
	while ((n = read(fd, buf + got, PRELOAD_MAX - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (n < 0 || got == PRELOAD_MAX) {
		errno = n < 0 ? errno : EFBIG;
		free(buf);
		return -1;
	}
	*out = buf;
	return 0;
}

/* ld.so.preload separates entries by white space. */
static int
listed(const char *list, const char *lib)
{
	const char *p = list;
	size_t len = strlen(lib);

	while ((p = strstr(p, lib)) != NULL) {
		if ((p == list || strchr(" \t\n:", p[-1]) != NULL) &&
		    strchr(" \t\n:", p[len]) != NULL)
			return 1;
		p += len;
	}
	return 0;
}

/* Write text as the new list: a temporary file beside it, then rename.
 * An empty list removes the file. */
static int
write_list(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	size_t len = strlen(text), off = 0;
	ssize_t n;
	int fd;

	if (len == 0)
		return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
	if (snprintf(tmp, sizeof(tmp), "%s.esmpi-XXXXXX", path) >=
	    (int)sizeof(tmp) || (fd = mkstemp(tmp)) < 0)
		return -1;
	while (off < len && (n = write(fd, text + off, len - off)) > 0)
		off += (size_t)n;
	if (off != len || fchmod(fd, 0644) != 0 || fsync(fd) != 0 ||
	    close(fd) != 0 || rename(tmp, path) != 0) {
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

/* Every process of the node, setuid ones included, will map lib: it, and
 * every folder and link on the way to it, must be root's alone. */
static int
lib_ok(const char *lib)
{
	char why[PATH_MAX + 128];
	struct stat st;

	if (lib[0] != '/') {
		fprintf(stderr, "esmpictl: %s: the guard's path must be "
		    "absolute\n", lib);
		return 0;
	}
	if (stat(lib, &st) != 0) {
		fprintf(stderr, "esmpictl: %s: %s\n", lib, strerror(errno));
		return 0;
	}
	if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != getuid()) ||
	    (st.st_mode & 022)) {
		fprintf(stderr, "esmpictl: %s: refused: it must be a file "
		    "owned by root that nobody else may write\n", lib);
		return 0;
	}
	if (esmpi_path_unsafe(lib, why, sizeof(why))) {
		fprintf(stderr, "esmpictl: %s: refused: %s\n", lib, why);
		return 0;
	}
	return 1;
}

/* list without every entry equal to lib, one entry per line. */
static char *
without(const char *list, const char *lib)
{
	char *copy = strdup(list), *out, *tok, *save = NULL;

	if (copy == NULL || (out = calloc(1, strlen(list) + 2)) == NULL) {
		free(copy);
		return NULL;
	}
	for (tok = strtok_r(copy, " \t\n:", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t\n:", &save)) {
		if (strcmp(tok, lib) == 0)
			continue;
		strcat(out, tok);
		strcat(out, "\n");
	}
	free(copy);
	return out;
}

int
cmd_guard_main(int argc, char **argv)
{
	const char *lib = ESMPI_GUARD_PATH, *file = PRELOAD_FILE, *verb;
	char *list = NULL, *next = NULL;
	int a, r = EXIT_INVALID;

	if (argc < 2)
		goto usage;
	verb = argv[1];
	for (a = 2; a < argc; a += 2) {
		if (a + 1 >= argc)
			goto usage;
		if (strcmp(argv[a], "--lib") == 0)
			lib = argv[a + 1];
		else if (strcmp(argv[a], "--preload-file") == 0)
			file = argv[a + 1];
		else
			goto usage;
	}
	if (read_list(file, &list) != 0) {
		fprintf(stderr, "esmpictl: %s: %s\n", file, strerror(errno));
		return EXIT_INVALID;
	}
	if (strcmp(verb, "status") == 0) {
		printf("guard %s: %s %s %s\n", listed(list, lib) ? "on" : "off",
		    lib, listed(list, lib) ? "is listed in" : "is not in", file);
		r = EXIT_OK;
	} else if (strcmp(verb, "on") == 0) {
		if (!lib_ok(lib))
			goto out;
		if (listed(list, lib)) {
			printf("guard on: %s already lists %s\n", file, lib);
			r = EXIT_OK;
			goto out;
		}
		if ((next = without(list, lib)) == NULL ||
		    (next = realloc(next, strlen(next) + strlen(lib) + 2)) ==
		    NULL)
			goto nomem;
		strcat(strcat(next, lib), "\n");
		if (write_list(file, next) != 0) {
			fprintf(stderr, "esmpictl: %s: %s\n", file,
			    strerror(errno));
			goto out;
		}
		printf("guard on: MPI programs on this node now run only with "
		    "libesmpi (%s lists %s)\n", file, lib);
		r = EXIT_OK;
	} else if (strcmp(verb, "off") == 0) {
		if ((next = without(list, lib)) == NULL)
			goto nomem;
		if (write_list(file, next) != 0) {
			fprintf(stderr, "esmpictl: %s: %s\n", file,
			    strerror(errno));
			goto out;
		}
		printf("guard off: %s no longer lists %s\n", file, lib);
		r = EXIT_OK;
	} else
		goto usage;
out:
	free(list);
	free(next);
	return r;
nomem:
	fprintf(stderr, "esmpictl: out of memory\n");
	goto out;
usage:
	free(list);
	fprintf(stderr, "usage: esmpictl node guard on|off|status [--lib PATH] "
	    "[--preload-file PATH]\n");
	return EXIT_USAGE;
}
