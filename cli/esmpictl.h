/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPICTL_H
#define ESMPICTL_H

#include "esmpi_frame.h"
#include "esmpi_paths.h"

/* Exit codes shared by every subcommand (and esmpid). */
#define EXIT_OK		0
#define EXIT_INVALID	1	/* bad policy, bad key file, refused input */
#define EXIT_USAGE	2
#define EXIT_DAEMON	3	/* daemon unreachable or access denied */


struct ctl {
	const char *admin_socket;
};

/* One admin exchange. Prints the daemon's error and returns an exit code
 * on failure; on success *rep holds the reply (caller frees). */
int ctl_call(const struct ctl *ctl, Esmpi__Request *req, Esmpi__Reply **rep);

int cmd_policy_main(const struct ctl *ctl, int argc, char **argv);
int cmd_status_main(const struct ctl *ctl, int argc, char **argv);
int cmd_ca_main(const struct ctl *ctl, int argc, char **argv);
int cmd_node_main(const struct ctl *ctl, int argc, char **argv);
int cmd_guard_main(int argc, char **argv);
int cmd_rotate_main(const struct ctl *ctl, int argc, char **argv);
int cmd_audit_main(const struct ctl *ctl, int argc, char **argv);

#endif
