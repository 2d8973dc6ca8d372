/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spank_esmpi.so: `srun --esmpi[=PROJECT]` runs a step's tasks under esmpi.
 *
 * On every node of the step, slurmstepd (remote context) checks that the
 * node's esmpid answers on its socket and then puts LD_PRELOAD=libesmpi,
 * ESMPI_SOCKET and ESMPI_PROJECT into the environment of the tasks only:
 * srun, the shell and slurmstepd never load the library. A node whose
 * esmpid is unreachable starts none of its tasks and says so, naming the
 * node; the step fails instead of running in plaintext.
 *
 * plugstack.conf line (arguments optional):
 *   required PATH/spank_esmpi.so [lib=LIBESMPI] [socket=ESMPID_SOCKET]
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <slurm/spank.h>

#include "esmpi_paths.h"

SPANK_PLUGIN(esmpi, 1);

/* Longest project name esmpid accepts (daemon/jobkey.h). */
#define PROJECT_MAX	63

static int enabled;
static char project[PROJECT_MAX + 1];
static char lib[PATH_MAX] = ESMPI_SPANK_LIB;
static char sock[PATH_MAX] = ESMPI_DEFAULT_SOCKET;

/* Letters, digits, '.', '_' and '-', as policy project names. */
static int
valid_project(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PROJECT_MAX)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == n;
}

static int
esmpi_opt(int val, const char *arg, int remote)
{
	(void)val;
	(void)remote;
	if (arg != NULL && !valid_project(arg)) {
		slurm_error("--esmpi=%s: a project name has 1 to %d letters, "
		    "digits, '.', '_' or '-'", arg, PROJECT_MAX);
		return -1;
	}
	snprintf(project, sizeof(project), "%s", arg != NULL ? arg : "");
	enabled = 1;
	return 0;
}

struct spank_option spank_options[] = {
	{ "esmpi", "[PROJECT]",
	  "Run the tasks under esmpi: every MPI message encrypted and "
	  "authenticated (libesmpi preloaded in the tasks only); PROJECT "
	  "selects the esmpi policy project.", 2, 0, esmpi_opt },
	SPANK_OPTIONS_TABLE_END
};

static int
set_path(char *dst, const char *arg, const char *key)
{
	const char *v = arg + strlen(key);

	if (v[0] != '/' || strlen(v) >= PATH_MAX) {
		slurm_error("spank_esmpi: plugstack.conf argument %s: an "
		    "absolute path shorter than %d bytes is needed", arg,
		    PATH_MAX);
		return -1;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

int
slurm_spank_init(spank_t sp, int ac, char **av)
{
	int i;

	(void)sp;
	for (i = 0; i < ac; i++) {
		if (strncmp(av[i], "lib=", 4) == 0) {
			if (set_path(lib, av[i], "lib=") != 0)
				return -1;
		} else if (strncmp(av[i], "socket=", 7) == 0) {
			if (set_path(sock, av[i], "socket=") != 0)
				return -1;
		} else {
			slurm_error("spank_esmpi: unknown plugstack.conf "
			    "argument '%s' (known: lib=PATH socket=PATH)",
			    av[i]);
			return -1;
		}
	}
	return 0;
}

/* 0 if an esmpid listens on path; else errno of the failed connect. */
static int
esmpid_answers(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		err = errno;
	close(fd);
	return err;
}

static void
node_name(spank_t sp, char *buf, int len)
{
	/* Slurm's name for the node (slurmd -N), else the host name. */
	if (spank_getenv(sp, "SLURMD_NODENAME", buf, len) == ESPANK_SUCCESS &&
	    buf[0] != '\0')
		return;
	if (gethostname(buf, len) != 0)
		snprintf(buf, len, "?");
	buf[len - 1] = '\0';
}

/* One message per node, not one per task. */
static int
first_task(spank_t sp)
{
	int id;

	return spank_get_item(sp, S_TASK_ID, &id) != ESPANK_SUCCESS || id == 0;
}

/*
 * In each task (remote context), after slurmstepd forked it and became
 * the job's user, before exec: the socket check is made with the user's
 * own rights, as libesmpi's will be, and the environment set is the
 * task's own. A failure here ends the task before exec; srun reports
 * the message and exits non-zero.
 */
int
slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	char node[256], user_sock[PATH_MAX], cur[PATH_MAX];
	char preload[2 * PATH_MAX + 2];
	const char *path = sock;
	spank_err_t rc;
	int err, n;

	(void)ac;
	(void)av;
	if (!enabled || spank_remote(sp) != 1)
		return 0;
	node_name(sp, node, sizeof(node));
	/* A user's own ESMPI_SOCKET wins, as it does under esmpirun. */
	if (spank_getenv(sp, "ESMPI_SOCKET", user_sock, sizeof(user_sock)) ==
	    ESPANK_SUCCESS && user_sock[0] != '\0')
		path = user_sock;
	if (access(lib, R_OK) != 0) {
		if (first_task(sp))
			slurm_error("esmpi: node %s: %s: %s; tasks not "
			    "started", node, lib, strerror(errno));
		return -1;
	}
	if ((err = esmpid_answers(path)) != 0) {
		if (first_task(sp))
			slurm_error("esmpi: node %s: esmpid unreachable at "
			    "%s: %s; tasks not started (start esmpid there, "
			    "or run without --esmpi)", node, path,
			    strerror(err));
		return -1;
	}
	/* Ahead of any LD_PRELOAD the user set, so MPI calls reach it. */
	rc = spank_getenv(sp, "LD_PRELOAD", cur, sizeof(cur));
	if (rc == ESPANK_NOSPACE) {
		slurm_error("esmpi: node %s: the tasks' LD_PRELOAD is longer "
		    "than %zu bytes", node, sizeof(cur) - 1);
		return -1;
	}
	if (rc != ESPANK_SUCCESS)
		cur[0] = '\0';
	if (cur[0] != '\0' && strstr(cur, lib) != NULL)
		n = snprintf(preload, sizeof(preload), "%s", cur);
	else if (cur[0] != '\0')
		n = snprintf(preload, sizeof(preload), "%s:%s", lib, cur);
	else
		n = snprintf(preload, sizeof(preload), "%s", lib);
	if (n < 0 || n >= (int)sizeof(preload)) {
		slurm_error("esmpi: node %s: LD_PRELOAD too long (%d bytes)",
		    node, n);
		return -1;
	}
	if (spank_setenv(sp, "LD_PRELOAD", preload, 1) != ESPANK_SUCCESS ||
	    spank_setenv(sp, "ESMPI_SOCKET", path, 1) != ESPANK_SUCCESS ||
	    (project[0] != '\0' &&
	     spank_setenv(sp, "ESMPI_PROJECT", project, 1) != ESPANK_SUCCESS)) {
		slurm_error("esmpi: node %s: cannot set the tasks' "
		    "environment", node);
		return -1;
	}
	return 0;
}
