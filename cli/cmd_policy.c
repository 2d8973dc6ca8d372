/* SPDX-License-Identifier: Apache-2.0 */
/* esmpictl policy check FILE | load FILE | show */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_policy.h"
#include "esmpictl.h"

static int
policy_check(const char *path)
{
	struct esmpi_policy *p = NULL;
	struct esmpi_pol_error e;
	char msg[1024];
	int r;

	if ((r = esmpi_pol_load_file(path, &p, &e)) != 0) {
		esmpi_pol_error_format(&e, msg, sizeof(msg));
		fprintf(stderr, "esmpictl: %s\n", msg);
		return EXIT_INVALID;
	}
	printf("%s: valid policy (version %d, %zu rules, %zu projects, "
	    "default suite %s)\n", path, p->version, p->nrules, p->nprojects,
	    esmpi_suite_name(p->defaults.suite));
	esmpi_pol_free(p);
	return EXIT_OK;
}

/*
 * Send the policy and every project file it names, as read with our own
 * rights: esmpid parses exactly these and reads nothing for us.
 */
static int
policy_load(const struct ctl *ctl, const char *path)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__LoadPolicy lp = ESMPI__LOAD_POLICY__INIT;
	Esmpi__PolicyFile *pf = NULL, **pfp = NULL;
	struct esmpi_pol_files files = { .record = 1 };
	struct esmpi_policy *p = NULL;
	struct esmpi_pol_error e;
	Esmpi__Reply *rep = NULL;
	char abs[PATH_MAX], msg[1024];
	size_t i;
	int r;

	if (realpath(path, abs) == NULL) {
		fprintf(stderr, "esmpictl: %s: %s\n", path, strerror(errno));
		return EXIT_INVALID;
	}
	/* Check locally first: the same parser, errors with our file name. */
	if (esmpi_pol_load_files(abs, &files, &p, &e) != 0) {
		esmpi_pol_error_format(&e, msg, sizeof(msg));
		fprintf(stderr, "esmpictl: %s\n", msg);
		esmpi_pol_files_free(&files);
		return EXIT_INVALID;
	}
	esmpi_pol_free(p);
	r = EXIT_INVALID;
	if (files.n == 0 ||
	    (pf = calloc(files.n, sizeof(*pf))) == NULL ||
	    (pfp = calloc(files.n, sizeof(*pfp))) == NULL) {
		fprintf(stderr, "esmpictl: out of memory\n");
		goto out;
	}
	/* files.v[0] is the policy itself, the rest its project files. */
	for (i = 1; i < files.n; i++) {
		esmpi__policy_file__init(&pf[i]);
		pf[i].path = files.v[i].path;
		pf[i].text.data = (uint8_t *)files.v[i].text;
		pf[i].text.len = files.v[i].len;
		pfp[i - 1] = &pf[i];
	}
	lp.path = abs;
	lp.text.data = (uint8_t *)files.v[0].text;
	lp.text.len = files.v[0].len;
	lp.files = pfp;
	lp.n_files = files.n - 1;
	req.body_case = ESMPI__REQUEST__BODY_LOAD_POLICY;
	req.load_policy = &lp;
	if ((r = ctl_call(ctl, &req, &rep)) == EXIT_OK) {
		printf("%s\n", rep->ok ? rep->ok->message : "loaded");
		esmpi__reply__free_unpacked(rep, NULL);
	}
out:
	free(pf);
	free(pfp);
	esmpi_pol_files_free(&files);
	return r;
}

static int
policy_show(const struct ctl *ctl)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__ShowPolicy sp = ESMPI__SHOW_POLICY__INIT;
	Esmpi__Reply *rep = NULL;
	int r;

	req.body_case = ESMPI__REQUEST__BODY_SHOW_POLICY;
	req.show_policy = &sp;
	if ((r = ctl_call(ctl, &req, &rep)) != EXIT_OK)
		return r;
	if (rep->body_case != ESMPI__REPLY__BODY_POLICY) {
		fprintf(stderr, "esmpictl: unexpected reply from esmpid\n");
		esmpi__reply__free_unpacked(rep, NULL);
		return EXIT_DAEMON;
	}
	printf("# source: %s\n%s", rep->policy->source, rep->policy->yaml);
	esmpi__reply__free_unpacked(rep, NULL);
	return EXIT_OK;
}

int
cmd_policy_main(const struct ctl *ctl, int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "check") == 0)
		return policy_check(argv[2]);
	if (argc == 3 && strcmp(argv[1], "load") == 0)
		return policy_load(ctl, argv[2]);
	if (argc == 2 && strcmp(argv[1], "show") == 0)
		return policy_show(ctl);
	fprintf(stderr, "usage: esmpictl policy check FILE | load FILE | "
	    "show\n");
	return EXIT_USAGE;
}
