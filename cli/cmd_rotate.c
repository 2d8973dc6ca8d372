/* SPDX-License-Identifier: Apache-2.0 */
/* esmpictl rotate --job ID | --all | --node-key */
#include <stdio.h>
#include <string.h>

#include "esmpictl.h"

static int
parse_job(const char *hex, uint8_t job[16])
{
	unsigned v;
	int i;

	if (strlen(hex) != 32)
		return -1;
	for (i = 0; i < 16; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		job[i] = (uint8_t)v;
	}
	return 0;
}

int
cmd_rotate_main(const struct ctl *ctl, int argc, char **argv)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__Rotate rot = ESMPI__ROTATE__INIT;
	Esmpi__Reply *rep = NULL;
	uint8_t job[16];
	int r;

	if (argc == 2 && strcmp(argv[1], "--all") == 0)
		rot.all = 1;
	else if (argc == 2 && strcmp(argv[1], "--node-key") == 0)
		rot.node_key = 1;
	else if (argc == 3 && strcmp(argv[1], "--job") == 0) {
		if (parse_job(argv[2], job) != 0) {
			fprintf(stderr, "esmpictl: --job: '%.40s' is not a job "
			    "id (32 hex digits, see esmpictl status)\n",
			    argv[2]);
			return EXIT_INVALID;
		}
		rot.job_id.data = job;
		rot.job_id.len = sizeof(job);
	} else {
		fprintf(stderr, "usage: esmpictl rotate --job ID | --all | "
		    "--node-key\n");
		return EXIT_USAGE;
	}
	req.body_case = ESMPI__REQUEST__BODY_ROTATE;
	req.rotate = &rot;
	if ((r = ctl_call(ctl, &req, &rep)) != EXIT_OK)
		return r;
	printf("%s\n", rep->ok ? rep->ok->message : "done");
	esmpi__reply__free_unpacked(rep, NULL);
	return EXIT_OK;
}
