/* SPDX-License-Identifier: Apache-2.0 */
/* esmpictl ca init --dir DIR [--name CN]
 * esmpictl node enroll --ca DIR --name NAME --out DIR */
#include <stdio.h>
#include <string.h>

#include "esmpi_err.h"
#include "esmpi_pki.h"
#include "esmpictl.h"

/* --key VALUE pairs after the verb; returns 0 or EXIT_USAGE. */
static int
take_opts(int argc, char **argv, const char *const *keys, const char **vals,
    int n)
{
	int a, k;

	for (a = 2; a < argc; a += 2) {
		for (k = 0; k < n; k++)
			if (strcmp(argv[a], keys[k]) == 0)
				break;
		if (k == n || a + 1 >= argc) {
			fprintf(stderr, "esmpictl: %s: unknown option or "
			    "missing value\n", argv[a]);
			return EXIT_USAGE;
		}
		vals[k] = argv[a + 1];
	}
	return 0;
}

int
cmd_ca_main(const struct ctl *ctl, int argc, char **argv)
{
	static const char *const keys[] = { "--dir", "--name" };
	const char *vals[2] = { NULL, "esmpi cluster CA" };
	char err[1024];

	if (argc < 2 || strcmp(argv[1], "init") != 0 ||
	    take_opts(argc, argv, keys, vals, 2) != 0 || vals[0] == NULL) {
		fprintf(stderr, "usage: esmpictl ca init --dir DIR "
		    "[--name CN]\n");
		return EXIT_USAGE;
	}
	if (esmpi_pki_ca_init(vals[0], vals[1], err, sizeof(err)) != 0) {
		fprintf(stderr, "esmpictl: %s\n", err);
		return EXIT_INVALID;
	}
	printf("created CA '%s': %s/%s (private, mode 0600) and %s/%s\n",
	    vals[1], vals[0], ESMPI_PKI_CA_KEY, vals[0], ESMPI_PKI_CA_CERT);
	return EXIT_OK;
}

int
cmd_node_main(const struct ctl *ctl, int argc, char **argv)
{
	static const char *const keys[] = { "--ca", "--name", "--out" };
	const char *vals[3] = { NULL, NULL, NULL };
	char err[1024];

	if (argc >= 2 && strcmp(argv[1], "guard") == 0)
		return cmd_guard_main(argc - 1, argv + 1);
	if (argc < 2 || strcmp(argv[1], "enroll") != 0 ||
	    take_opts(argc, argv, keys, vals, 3) != 0 || vals[0] == NULL ||
	    vals[1] == NULL || vals[2] == NULL) {
		fprintf(stderr, "usage: esmpictl node enroll --ca DIR "
		    "--name NAME --out DIR\n"
		    "       esmpictl node guard on|off|status [--lib PATH] "
		    "[--preload-file PATH]\n");
		return EXIT_USAGE;
	}
	if (esmpi_pki_node_enroll(vals[0], vals[1], vals[2], err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "esmpictl: %s\n", err);
		return EXIT_INVALID;
	}
	printf("enrolled node '%s' in %s (use: esmpid --state-dir %s)\n",
	    vals[1], vals[2], vals[2]);
	return EXIT_OK;
}
