/* SPDX-License-Identifier: Apache-2.0 */
/* esmpictl: administer esmpid. One function per subcommand (cmd_*.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "esmpi_err.h"
#include "esmpictl.h"

static const struct {
	const char *name;
	int (*fn)(const struct ctl *, int, char **);
	const char *help;
} subcommands[] = {
	{ "policy", cmd_policy_main, "check FILE | load FILE | show" },
	{ "status", cmd_status_main, "[--json]" },
	{ "ca", cmd_ca_main, "init --dir DIR [--name CN]" },
	{ "node", cmd_node_main, "enroll --ca DIR --name NAME --out DIR | "
	    "guard on|off|status" },
	{ "rotate", cmd_rotate_main, "--job ID | --all | --node-key" },
	{ "audit", cmd_audit_main, "[--job ID] [--event NAME] [--json]" },
};

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: esmpictl [--admin-socket PATH] COMMAND ...\n");
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  esmpictl %s %s\n", subcommands[i].name,
		    subcommands[i].help);
	fprintf(f, "exit codes: 0 ok, 1 invalid input, 2 usage, "
	    "3 daemon unreachable or access denied\n");
}

int
ctl_call(const struct ctl *ctl, Esmpi__Request *req, Esmpi__Reply **rep)
{
	Esmpi__Reply *r = NULL;
	int fd, e;

	if ((fd = esmpi_unix_connect(ctl->admin_socket)) < 0) {
		fprintf(stderr, "esmpictl: cannot reach esmpid at %s: %s\n",
		    ctl->admin_socket, strerror(errno));
		return EXIT_DAEMON;
	}
	e = esmpi_frame_call(fd, req, 30000, &r);
	close(fd);
	if (e != 0) {
		fprintf(stderr, "esmpictl: %s: %s\n", ctl->admin_socket,
		    e == ESMPI_ERR_SYSTEM ? strerror(errno) :
		    esmpi_strerror(e));
		return EXIT_DAEMON;
	}
	if (r->body_case == ESMPI__REPLY__BODY_ERROR) {
		int code = r->error->code;

		fprintf(stderr, "esmpictl: %s\n", r->error->message);
		esmpi__reply__free_unpacked(r, NULL);
		return code == ESMPI_ERR_DENIED ? EXIT_DAEMON : EXIT_INVALID;
	}
	*rep = r;
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct ctl ctl;
	size_t i;
	int a = 1;

	ctl.admin_socket = getenv("ESMPI_ADMIN_SOCKET");
	if (ctl.admin_socket == NULL)
		ctl.admin_socket = ESMPI_DEFAULT_ADMIN_SOCKET;
	while (a < argc && argv[a][0] == '-') {
		if (strcmp(argv[a], "--admin-socket") == 0 && a + 1 < argc) {
			ctl.admin_socket = argv[a + 1];
			a += 2;
		} else if (strcmp(argv[a], "-h") == 0 ||
		    strcmp(argv[a], "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else {
			fprintf(stderr, "esmpictl: unknown option '%s'\n",
			    argv[a]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (a >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[a], subcommands[i].name) == 0)
			return subcommands[i].fn(&ctl, argc - a, argv + a);
	fprintf(stderr, "esmpictl: unknown command '%s'\n", argv[a]);
	usage(stderr);
	return EXIT_USAGE;
}
