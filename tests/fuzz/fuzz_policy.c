/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy YAML: the input is a main policy file ("fuzz.yaml") whose project
 * paths resolve against a temporary directory holding a few project files.
 * A policy that loads must format to YAML that loads again, and formatting
 * that must give the same text (the canonical form is a fixed point).
 * A policy that does not load must say why.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "esmpi_err.h"
#include "esmpi_policy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char basedir[4096];

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_policy: %s:%d: check failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* Project files the fuzzed policy may name (seeds do). */
static const struct {
	const char *path;
	const char *text;
} project_files[] = {
	{ "proj.yaml", "version: 1\n" },
	{ "policy.d/climate.yaml",
	    "version: 1\n"
	    "defaults: { suite: chacha20-poly1305, unprotected: allow }\n"
	    "rules:\n"
	    "  - name: io\n"
	    "    match: { comm: \"io_*\", tags: [1, \"10-19\"] }\n"
	    "    suite: aes-256-gcm\n"
	    "    rekey: { messages: 1000, bytes: 1GiB, seconds: 10m }\n" },
	/* as in tests/unit/policy/bad/policy.d */
	{ "policy.d/weak.yaml",
	    "version: 1\n"
	    "rules:\n"
	    "  - name: fast\n"
	    "    match: { comm: \"fast*\" }\n"
	    "    suite: aes-128-gcm\n" },
	{ "policy.d/with_access.yaml",
	    "version: 1\n"
	    "defaults: { suite: aes-256-gcm }\n"
	    "access: { users: [mallory] }\n" },
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
cleanup(void)
{
	if (basedir[0] != '\0')
		(void)nftw(basedir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	char path[4200];
	size_t i;
	FILE *f;

	snprintf(basedir, sizeof(basedir), "%s/esmpi-fuzz-policy.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(basedir) == NULL) {
		perror("fuzz_policy: mkdtemp");
		abort();
	}
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/policy.d", basedir);
	CHECK(mkdir(path, 0700) == 0);
	for (i = 0; i < sizeof(project_files) / sizeof(project_files[0]);
	    i++) {
		snprintf(path, sizeof(path), "%s/%s", basedir,
		    project_files[i].path);
		CHECK((f = fopen(path, "w")) != NULL);
		CHECK(fputs(project_files[i].text, f) >= 0);
		CHECK(fclose(f) == 0);
	}
	return 0;
}

/* Exercise matching on a loaded policy: every project, a few names. */
static void
resolve_some(const struct esmpi_policy *p)
{
	static const char *const comms[] = { "", "MPI_COMM_WORLD", "halo_x",
	    "io_1" };
	static const int tags[] = { 0, 7, 150, 1500, 2147483647, -1 };
	struct esmpi_pol_settings s;
	const char *rule;
	size_t i, j, k;

	for (k = 0; k <= p->nprojects; k++) {
		const char *proj = k == 0 ? NULL : p->projects[k - 1].name;

		for (i = 0; i < sizeof(comms) / sizeof(comms[0]); i++)
			for (j = 0; j < sizeof(tags) / sizeof(tags[0]); j++)
				CHECK(esmpi_pol_resolve(p, proj, comms[i],
				    tags[j], &s, &rule) == 0);
	}
	CHECK(esmpi_pol_resolve(p, "no such project!", "x", 0, &s,
	    &rule) == ESMPI_ERR_INVALID);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct esmpi_policy *p = NULL, *q = NULL;
	struct esmpi_pol_error err;
	char *yaml = NULL, *yaml2 = NULL, msg[1024];
	int r;

	r = esmpi_pol_load_buf("fuzz.yaml", (const char *)data, size,
	    basedir, &p, &err);
	if (r != 0) {
		CHECK(p == NULL);
		CHECK(r == ESMPI_ERR_POLICY || r == ESMPI_ERR_NOMEM ||
		    r == ESMPI_ERR_SYSTEM);
		CHECK(err.msg[0] != '\0');
		esmpi_pol_error_format(&err, msg, sizeof(msg));
		return 0;
	}
	CHECK(p != NULL);
	resolve_some(p);
	CHECK(esmpi_pol_format(p, &yaml) == 0 && yaml != NULL);
	r = esmpi_pol_load_buf("fuzz.yaml", yaml, strlen(yaml), basedir, &q,
	    &err);
	if (r != 0) {
		esmpi_pol_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "fuzz_policy: canonical form does not load: "
		    "%s\n--- canonical form:\n%s---\n", msg, yaml);
		abort();
	}
	CHECK(esmpi_pol_format(q, &yaml2) == 0 && yaml2 != NULL);
	if (strcmp(yaml, yaml2) != 0) {
		fprintf(stderr, "fuzz_policy: canonical form is not stable\n"
		    "--- first:\n%s--- second:\n%s---\n", yaml, yaml2);
		abort();
	}
	free(yaml);
	free(yaml2);
	esmpi_pol_free(p);
	esmpi_pol_free(q);
	return 0;
}
