/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy parser and matcher tests. Run from tests/unit/ (ctest sets the
 * working directory) so the files under policy/ resolve.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_policy.h"

#define BAD	"policy/bad/"
#define GOOD	"policy/good/"
#define GiB	(1ULL << 30)

/* Every invalid file: where the error must point and what it must say. */
struct bad_case {
	const char *file;
	int line, col;
	const char *msg;
	const char *errfile;	/* file named by the error, if not file */
};

static const struct bad_case bad_cases[] = {
	{ "unknown_key_top.yaml", 4, 1,
	    "unknown key 'suite' at top level (expected one of: version, "
	    "access, floor, defaults, rules, projects)", NULL },
	{ "unknown_key_defaults.yaml", 6, 3,
	    "unknown key 'sgin' in defaults (expected one of: suite, sign, "
	    "rekey, unprotected, scope)", NULL },
	{ "unknown_key_rule.yaml", 7, 5,
	    "unknown key 'suit' in rule 'halo' (expected one of: name, "
	    "match, suite, sign, rekey, unprotected, scope)", NULL },
	{ "unknown_key_match.yaml", 6, 29,
	    "unknown key 'tag' in match of rule 'halo' (expected one of: "
	    "comm, tags)", NULL },
	{ "unknown_key_access.yaml", 3, 27,
	    "unknown key 'hosts' in access (expected one of: users, groups)",
	    NULL },
	{ "unknown_key_rekey.yaml", 5, 26,
	    "unknown key 'minutes' in rekey of defaults", NULL },
	{ "type_list_for_map.yaml", 5, 3,
	    "'defaults' must be a mapping, not a list", NULL },
	{ "type_string_for_int.yaml", 5, 22,
	    "'messages' in rekey of defaults must be an integer, not 'lots'",
	    NULL },
	{ "type_map_for_rules.yaml", 5, 3,
	    "'rules' must be a list, not a mapping", NULL },
	{ "type_scalar_for_users.yaml", 3, 18,
	    "'users' in access must be a list, not a scalar", NULL },
	{ "tag_reversed.yaml", 6, 20,
	    "tag range 200-100 is reversed (lo > hi)", NULL },
	{ "tag_negative.yaml", 6, 24,
	    "tag -5 is out of range (0-2147483647)", NULL },
	{ "tag_word.yaml", 6, 20,
	    "invalid tag 'abc' (expected an integer or a 'lo-hi' range)",
	    NULL },
	{ "tag_too_large.yaml", 6, 20,
	    "tag range 0-2147483648 is out of range", NULL },
	{ "tag_overlap.yaml", 10, 11,
	    "tag range 100-199 overlaps 150-160", NULL },
	{ "tags_empty.yaml", 6, 20,
	    "'tags' in match of rule 'halo' is an empty list", NULL },
	{ "suite_unknown.yaml", 5, 10,
	    "unknown suite 'aes-512-gcm' (expected one of: aes-256-gcm, "
	    "aes-128-gcm, chacha20-poly1305, none)", NULL },
	{ "suite_3des.yaml", 7, 12,
	    "suite '3des-cbc-hmac-sha256' is not supported (64-bit block "
	    "cipher, Sweet32)", NULL },
	{ "floor_3des.yaml", 4, 8,
	    "suite '3des-cbc-hmac-sha256' is not supported", NULL },
	{ "floor_defaults.yaml", 5, 10,
	    "suite 'none' is below the floor 'aes-128-gcm'", NULL },
	{ "floor_rule.yaml", 8, 12,
	    "suite 'aes-128-gcm' is below the floor 'aes-256-gcm'", NULL },
	{ "bad_sign.yaml", 5, 9,
	    "unknown value 'rsa-1024' for 'sign' in defaults (expected one "
	    "of: none, ecdsa-p256)", NULL },
	{ "dup_rule.yaml", 9, 11,
	    "duplicate rule name 'halo' (first defined at line 5)", NULL },
	{ "dup_key.yaml", 5, 1,
	    "duplicate key 'defaults' at top level (first at line 4)", NULL },
	{ "no_version.yaml", 2, 1,
	    "missing 'version' (expected 'version: 1')", NULL },
	{ "version_2.yaml", 2, 10,
	    "unsupported policy version 2 (expected 1)", NULL },
	{ "empty.yaml", 1, 1, "empty policy", NULL },
	{ "no_access.yaml", 2, 1, "missing 'access'", NULL },
	{ "access_empty.yaml", 3, 9, "'access' lists no users or groups",
	    NULL },
	{ "garbage.bin", 3, 9,
	    "invalid YAML input: invalid leading UTF-8 octet (byte 0x89)",
	    NULL },
	{ "syntax.yaml", 3, 25,
	    "YAML syntax error: did not find expected ',' or ']'", NULL },
	{ "deep.yaml", 4, 37, "nesting deeper than 8 levels", NULL },
	{ "alias_bomb.yaml", 4, 4, "anchors and aliases are not allowed",
	    NULL },
	{ "alias_only.yaml", 4, 20, "anchors and aliases are not allowed",
	    NULL },
	{ "multi_doc.yaml", 4, 1, "multiple YAML documents are not allowed",
	    NULL },
	{ "root_list.yaml", 2, 1, "a policy must be a mapping, not a list",
	    NULL },
	{ "control_char.yaml", 3, 19,
	    "control characters are not allowed in values", NULL },
	{ "long_value.yaml", 5, 10,
	    "unknown suite 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' "
	    "(expected", NULL },
	{ "project_missing.yaml", 5, 12,
	    "cannot read project 'climate' file "
	    "'policy/bad/policy.d/does-not-exist.yaml': No such file or "
	    "directory", NULL },
	{ "project_dir.yaml", 5, 12,
	    "cannot read project 'climate' file 'policy/bad/policy.d': "
	    "Is a directory", NULL },
	{ "project_access.yaml", 4, 1,
	    "'access' is not allowed in a project file",
	    BAD "policy.d/with_access.yaml" },
	{ "project_floor.yaml", 6, 12,
	    "suite 'aes-128-gcm' is below the floor 'aes-256-gcm'",
	    BAD "policy.d/weak.yaml" },
	{ "project_name.yaml", 5, 3,
	    "project name '../etc' may only use letters, digits", NULL },
	{ "size_suffix.yaml", 5, 19,
	    "'bytes' in rekey of defaults must be a size (an integer with "
	    "an optional KiB, MiB, GiB or TiB suffix), not '64GB'", NULL },
	{ "seconds_suffix.yaml", 5, 21,
	    "must be a duration (an integer with an optional s, m or h "
	    "suffix), not '2d'", NULL },
	{ "rekey_negative.yaml", 7, 24,
	    "'messages' in rekey of rule 'halo' must not be negative", NULL },
	{ "rekey_over_bound.yaml", 5, 19,
	    "'bytes' in rekey of defaults must be from 1 to 256GiB", NULL },
	{ "rule_no_name.yaml", 7, 5, "rule 2 has no 'name'", NULL },
	{ "rule_no_match.yaml", 5, 5, "rule 'halo' has no 'match'", NULL },
};

static void
test_bad_files(void)
{
	struct esmpi_policy *p;
	struct esmpi_pol_error e;
	char path[256];
	size_t i;
	int r;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];

		snprintf(path, sizeof(path), BAD "%s", bc->file);
		p = NULL;
		r = esmpi_pol_load_file(path, &p, &e);
		if (r != ESMPI_ERR_POLICY || e.line != bc->line ||
		    e.column != bc->col)
			fprintf(stderr, "  %s -> %d %s:%d:%d: %s\n", bc->file,
			    r, e.file, e.line, e.column, e.msg);
		CHECK_INT_EQ(r, ESMPI_ERR_POLICY);
		CHECK(p == NULL);
		CHECK_INT_EQ(e.line, bc->line);
		CHECK_INT_EQ(e.column, bc->col);
		CHECK_STR_CONTAINS(e.msg, bc->msg);
		CHECK(strcmp(e.file, bc->errfile ? bc->errfile : path) == 0);
		/* Messages stay short whatever the input. */
		CHECK(strlen(e.msg) < 200);
		esmpi_pol_free(p);
	}
}

static void
test_limits(void)
{
	struct esmpi_policy *p = NULL;
	struct esmpi_pol_error e;
	char tmpl[] = "/tmp/esmpi-policy-XXXXXX";
	char *big, fmt[600];
	size_t len = ESMPI_POL_MAX_FILE + 1;
	FILE *f;
	int fd, r;

	/* A file one byte above the limit: valid YAML, refused by size. */
	big = malloc(len);
	CHECK(big != NULL);
	if (big == NULL)
		return;
	memset(big, '#', len);
	memcpy(big, "version: 1\naccess: {users: [a]}\n", 32);
	big[len - 1] = '\n';
	fd = mkstemp(tmpl);
	CHECK(fd != -1);
	if (fd != -1) {
		f = fdopen(fd, "w");
		CHECK(f != NULL);
		if (f != NULL) {
			CHECK_INT_EQ(fwrite(big, 1, len, f), len);
			fclose(f);
		}
		r = esmpi_pol_load_file(tmpl, &p, &e);
		CHECK_INT_EQ(r, ESMPI_ERR_POLICY);
		CHECK(p == NULL);
		CHECK_INT_EQ(e.line, 0);
		CHECK_INT_EQ(e.column, 0);
		CHECK_STR_CONTAINS(e.msg, "policy file is too large "
		    "(1048577 bytes, at most 1048576)");
		CHECK(strcmp(e.file, tmpl) == 0);
		esmpi_pol_error_format(&e, fmt, sizeof(fmt));
		CHECK(strncmp(fmt, tmpl, strlen(tmpl)) == 0);
		CHECK_STR_CONTAINS(fmt, ": policy file is too large");
		unlink(tmpl);
	}
	r = esmpi_pol_load_buf("big", big, len, NULL, &p, &e);
	CHECK_INT_EQ(r, ESMPI_ERR_POLICY);
	CHECK_STR_CONTAINS(e.msg, "1048577 bytes");
	free(big);

	/* Zero bytes. */
	r = esmpi_pol_load_buf("nothing", "", 0, NULL, &p, &e);
	CHECK_INT_EQ(r, ESMPI_ERR_POLICY);
	CHECK_INT_EQ(e.line, 1);
	CHECK_STR_CONTAINS(e.msg, "empty policy");

	/* The main file itself missing is a system error, not a policy one. */
	r = esmpi_pol_load_file(BAD "no-such-file.yaml", &p, &e);
	CHECK_INT_EQ(r, ESMPI_ERR_SYSTEM);
	CHECK(p == NULL);
	CHECK_INT_EQ(e.line, 0);
	CHECK_STR_CONTAINS(e.msg, "No such file or directory");
	esmpi_pol_error_format(&e, fmt, sizeof(fmt));
	CHECK(strcmp(fmt, BAD "no-such-file.yaml: cannot read policy file: "
	    "No such file or directory") == 0);

	/* More rules than allowed. */
	{
		size_t cap = 64 + (ESMPI_POL_MAX_RULES + 1) * 40, off;
		char *buf = malloc(cap);
		int i;

		CHECK(buf != NULL);
		if (buf == NULL)
			return;
		off = (size_t)snprintf(buf, cap,
		    "version: 1\naccess: {users: [a]}\nrules:\n");
		for (i = 0; i <= ESMPI_POL_MAX_RULES; i++)
			off += (size_t)snprintf(buf + off, cap - off,
			    "- {name: r%d, match: {tags: %d}}\n", i, i);
		r = esmpi_pol_load_buf("many", buf, off, NULL, &p, &e);
		CHECK_INT_EQ(r, ESMPI_ERR_POLICY);
		CHECK_INT_EQ(e.line, 4);
		CHECK_STR_CONTAINS(e.msg,
		    "too many rules (1025, at most 1024)");
		free(buf);
	}
}

static void
check_settings(const struct esmpi_pol_settings *s, int suite, int sign,
    uint64_t msgs, uint64_t bytes, uint64_t secs, int unprot, int scope)
{
	CHECK_INT_EQ(s->suite, suite);
	CHECK_INT_EQ(s->sign, sign);
	CHECK(s->rekey.messages == msgs);
	CHECK(s->rekey.bytes == bytes);
	CHECK(s->rekey.seconds == secs);
	CHECK_INT_EQ(s->unprotected, unprot);
	CHECK_INT_EQ(s->scope, scope);
}

static void
test_full(void)
{
	struct esmpi_policy *p = NULL;
	struct esmpi_pol_error e;
	struct esmpi_pol_settings s;
	const struct esmpi_policy *cl;
	const char *name;
	int r;

	r = esmpi_pol_load_file(GOOD "full.yaml", &p, &e);
	if (r != 0)
		fprintf(stderr, "  full.yaml: %s:%d:%d: %s\n", e.file, e.line,
		    e.column, e.msg);
	CHECK_INT_EQ(r, 0);
	if (p == NULL)
		return;
	CHECK_INT_EQ(p->version, 1);
	CHECK(strcmp(p->source, GOOD "full.yaml") == 0);
	CHECK_INT_EQ(p->nusers, 2);
	CHECK(strcmp(p->users[0], "alice") == 0);
	CHECK(strcmp(p->users[1], "root") == 0);
	CHECK_INT_EQ(p->ngroups, 1);
	CHECK(strcmp(p->groups[0], "hpc") == 0);
	CHECK_INT_EQ(p->floor, ESMPI_SUITE_AES_128_GCM);
	check_settings(&p->defaults, ESMPI_SUITE_AES_256_GCM, ESMPI_SIGN_NONE,
	    1000000000, 64 * GiB, 3600, ESMPI_UNPROT_AUDIT, ESMPI_SCOPE_ALL);
	CHECK_INT_EQ(p->nrules, 5);
	CHECK(strcmp(p->rules[0].name, "halo") == 0);
	CHECK(strcmp(p->rules[0].comm, "halo*") == 0);
	CHECK_INT_EQ(p->rules[0].ntags, 1);
	CHECK_INT_EQ(p->rules[0].tags[0].lo, 100);
	CHECK_INT_EQ(p->rules[0].tags[0].hi, 199);
	CHECK_INT_EQ(p->rules[0].line, 13);
	CHECK(p->rules[1].comm == NULL);
	CHECK_INT_EQ(p->rules[1].ntags, 3);
	CHECK_INT_EQ(p->rules[1].tags[2].lo, 20);
	CHECK_INT_EQ(p->rules[1].tags[2].hi, 29);
	CHECK(p->rules[4].tags == NULL);
	/* A rule inherits every default it does not set. */
	check_settings(&p->rules[0].set, ESMPI_SUITE_AES_128_GCM,
	    ESMPI_SIGN_NONE, 1000000000, 64 * GiB, 3600, ESMPI_UNPROT_AUDIT,
	    ESMPI_SCOPE_ALL);
	check_settings(&p->rules[3].set, ESMPI_SUITE_AES_256_GCM,
	    ESMPI_SIGN_NONE, 1000000000, 512ULL << 20, 5400,
	    ESMPI_UNPROT_AUDIT, ESMPI_SCOPE_INTER_NODE);

	/* First match wins: "halo_x" also matches the later exact rule. */
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    "halo_x", 150, &s), 0);
	CHECK_INT_EQ(s.suite, ESMPI_SUITE_AES_128_GCM);
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    "halo_x", 5, &s), 4);
	CHECK_INT_EQ(s.suite, ESMPI_SUITE_CHACHA20_POLY1305);
	/* Range edges. */
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    "halo1", 100, NULL), 0);
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    "halo1", 199, NULL), 0);
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    "halo1", 200, NULL), -1);
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    "halo1", 99, NULL), -1);
	/* Exact glob: no prefix match. */
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    "halo_xy", 5, NULL), -1);
	/* Tag lists, any communicator. */
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    "anything", 7, &s), 1);
	CHECK_INT_EQ(s.sign, ESMPI_SIGN_ECDSA_P256);
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    NULL, 9, NULL), 1);
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    "anything", 25, NULL), 1);
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    "anything", 8, NULL), -1);
	/* Exact name; partial rekey override. */
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    "MPI_COMM_WORLD", 8, &s), 2);
	check_settings(&s, ESMPI_SUITE_CHACHA20_POLY1305, ESMPI_SIGN_NONE,
	    1000, 64 * GiB, 3600, ESMPI_UNPROT_AUDIT, ESMPI_SCOPE_ALL);
	/* "*" matches any name, even none. */
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    "foo", 1500, &s), 3);
	CHECK_INT_EQ(s.scope, ESMPI_SCOPE_INTER_NODE);
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    NULL, 1500, NULL), 3);
	/* Nothing matches: the defaults. */
	memset(&s, 0xff, sizeof(s));
	CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules, &p->defaults,
	    "foo", 3, &s), -1);
	CHECK(memcmp(&s, &p->defaults, sizeof(s)) == 0);
	CHECK_INT_EQ(esmpi_pol_match_rules(NULL, 0, &p->defaults, "foo", 7,
	    &s), -1);

	/* Resolution through the main policy and the project. */
	name = "unset";
	CHECK_INT_EQ(esmpi_pol_resolve(p, NULL, "halo2", 120, &s, &name), 0);
	CHECK(name != NULL && strcmp(name, "halo") == 0);
	CHECK_INT_EQ(esmpi_pol_resolve(p, "", "foo", 3, &s, &name), 0);
	CHECK(name == NULL);
	CHECK_INT_EQ(s.suite, ESMPI_SUITE_AES_256_GCM);
	CHECK_INT_EQ(p->nprojects, 1);
	CHECK(strcmp(p->projects[0].name, "climate") == 0);
	CHECK(p->projects[0].path[0] == '/');
	CHECK_STR_CONTAINS(p->projects[0].path,
	    "/tests/unit/policy/good/policy.d/climate.yaml");
	cl = p->projects[0].policy;
	CHECK(cl != NULL);
	if (cl != NULL) {
		/* Main floor and defaults flow into the project. */
		CHECK_INT_EQ(cl->floor, ESMPI_SUITE_AES_128_GCM);
		check_settings(&cl->defaults, ESMPI_SUITE_CHACHA20_POLY1305,
		    ESMPI_SIGN_NONE, 1000000000, 64 * GiB, 3600,
		    ESMPI_UNPROT_AUDIT, ESMPI_SCOPE_ALL);
		CHECK_INT_EQ(cl->nrules, 1);
	}
	CHECK_INT_EQ(esmpi_pol_resolve(p, "climate", "ocean3", 1, &s, &name),
	    0);
	CHECK(name != NULL && strcmp(name, "ocean") == 0);
	check_settings(&s, ESMPI_SUITE_CHACHA20_POLY1305, ESMPI_SIGN_NONE,
	    1000000000, GiB, 3600, ESMPI_UNPROT_AUDIT, ESMPI_SCOPE_ALL);
	/* The project's rules replace the main rules. */
	CHECK_INT_EQ(esmpi_pol_resolve(p, "climate", "halo1", 150, &s, &name),
	    0);
	CHECK(name == NULL);
	CHECK_INT_EQ(s.suite, ESMPI_SUITE_CHACHA20_POLY1305);
	name = "unchanged";
	CHECK_INT_EQ(esmpi_pol_resolve(p, "nope", "halo1", 150, &s, &name),
	    ESMPI_ERR_INVALID);
	CHECK(strcmp(name, "unchanged") == 0);
	CHECK_INT_EQ(esmpi_pol_resolve(NULL, NULL, "x", 1, &s, NULL),
	    ESMPI_ERR_INVALID);

	/* Project content is shown as comments; the path is absolute. */
	{
		char *y = NULL;

		CHECK_INT_EQ(esmpi_pol_format(p, &y), 0);
		CHECK_STR_CONTAINS(y, "\nprojects:\n  \"climate\": \"/");
		CHECK_STR_CONTAINS(y, "\n# project \"climate\" as loaded");
		CHECK_STR_CONTAINS(y, "\n#     - name: \"ocean\"\n");
		free(y);
	}

	/* Access by user name: root (uid 0) is listed in users. */
	CHECK_INT_EQ(esmpi_pol_allows(p, 0, 0), 1);
	CHECK_INT_EQ(esmpi_pol_allows(p, 4000001, 4000001), 0);
	esmpi_pol_free(p);
}

static int
settings_equal(const struct esmpi_pol_settings *a,
    const struct esmpi_pol_settings *b)
{
	return a->suite == b->suite && a->sign == b->sign &&
	    a->rekey.messages == b->rekey.messages &&
	    a->rekey.bytes == b->rekey.bytes &&
	    a->rekey.seconds == b->rekey.seconds &&
	    a->unprotected == b->unprotected && a->scope == b->scope;
}

static int
str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Equal in meaning: source names and line numbers may differ. */
static int
policy_equal(const struct esmpi_policy *a, const struct esmpi_policy *b)
{
	size_t i, j;

	if (a == NULL || b == NULL)
		return a == b;
	if (a->version != b->version || a->floor != b->floor ||
	    a->nusers != b->nusers || a->ngroups != b->ngroups ||
	    a->nrules != b->nrules || a->nprojects != b->nprojects ||
	    !settings_equal(&a->defaults, &b->defaults))
		return 0;
	for (i = 0; i < a->nusers; i++)
		if (!str_equal(a->users[i], b->users[i]))
			return 0;
	for (i = 0; i < a->ngroups; i++)
		if (!str_equal(a->groups[i], b->groups[i]))
			return 0;
	for (i = 0; i < a->nrules; i++) {
		const struct esmpi_pol_rule *ra = &a->rules[i];
		const struct esmpi_pol_rule *rb = &b->rules[i];

		if (!str_equal(ra->name, rb->name) ||
		    !str_equal(ra->comm, rb->comm) ||
		    ra->ntags != rb->ntags ||
		    !settings_equal(&ra->set, &rb->set))
			return 0;
		for (j = 0; j < ra->ntags; j++)
			if (ra->tags[j].lo != rb->tags[j].lo ||
			    ra->tags[j].hi != rb->tags[j].hi)
				return 0;
	}
	for (i = 0; i < a->nprojects; i++) {
		if (!str_equal(a->projects[i].name, b->projects[i].name) ||
		    !str_equal(a->projects[i].path, b->projects[i].path) ||
		    !policy_equal(a->projects[i].policy,
		    b->projects[i].policy))
			return 0;
	}
	return 1;
}

static void
round_trip(const struct esmpi_policy *p)
{
	struct esmpi_policy *q = NULL;
	struct esmpi_pol_error e;
	char *y1 = NULL, *y2 = NULL;
	int r;

	CHECK_INT_EQ(esmpi_pol_format(p, &y1), 0);
	if (y1 == NULL)
		return;
	/* No basedir: project paths in the canonical form are absolute. */
	r = esmpi_pol_load_buf("<formatted>", y1, strlen(y1), NULL, &q, &e);
	if (r != 0)
		fprintf(stderr, "  round trip: %d:%d: %s\n%s", e.line,
		    e.column, e.msg, y1);
	CHECK_INT_EQ(r, 0);
	CHECK(policy_equal(p, q));
	/* Canonical: formatting again changes only the source comment. */
	if (q != NULL) {
		CHECK_INT_EQ(esmpi_pol_format(q, &y2), 0);
		CHECK(y2 != NULL && strcmp(strchr(y1, '\n'),
		    strchr(y2, '\n')) == 0);
	}
	free(y1);
	free(y2);
	esmpi_pol_free(q);
}

static void
test_round_trip(void)
{
	static const char *const files[] = {
		GOOD "full.yaml", GOOD "minimal.yaml",
	};
	struct esmpi_policy *p = NULL;
	struct esmpi_pol_error e;
	char *y = NULL;
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		CHECK_INT_EQ(esmpi_pol_load_file(files[i], &p, &e), 0);
		if (p == NULL)
			continue;
		round_trip(p);
		esmpi_pol_free(p);
		p = NULL;
	}

	/* The embedded default. */
	CHECK_INT_EQ(esmpi_pol_default("alice", &p), 0);
	if (p != NULL) {
		CHECK_INT_EQ(p->version, 1);
		CHECK(strcmp(p->source, "<embedded>") == 0);
		CHECK_INT_EQ(p->nusers, 1);
		CHECK(strcmp(p->users[0], "alice") == 0);
		CHECK_INT_EQ(p->ngroups, 0);
		CHECK_INT_EQ(p->nrules, 0);
		CHECK_INT_EQ(p->nprojects, 0);
		CHECK_INT_EQ(p->floor, ESMPI_SUITE_AES_128_GCM);
		check_settings(&p->defaults, ESMPI_SUITE_AES_256_GCM,
		    ESMPI_SIGN_NONE, 1ULL << 30, 64 * GiB, 3600,
		    ESMPI_UNPROT_DENY, ESMPI_SCOPE_ALL);
		CHECK_INT_EQ(esmpi_pol_format(p, &y), 0);
		CHECK_STR_CONTAINS(y, "\nfloor: aes-128-gcm\n");
		CHECK_STR_CONTAINS(y, "  suite: aes-256-gcm\n");
		CHECK_STR_CONTAINS(y, "  users: [\"alice\"]\n");
		free(y);
		round_trip(p);
		/* Only alice; root is neither user nor in a listed group. */
		CHECK_INT_EQ(esmpi_pol_allows(p, 0, 0), 0);
		esmpi_pol_free(p);
		p = NULL;
	}
	CHECK_INT_EQ(esmpi_pol_default(NULL, &p), ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_pol_default("", &p), ESMPI_ERR_INVALID);
	CHECK_INT_EQ(esmpi_pol_default("a\nb", &p), ESMPI_ERR_INVALID);
	CHECK(p == NULL);

	/* Names that need quoting survive the trip. */
	{
		static const char yaml[] =
		    "version: 1\n"
		    "access: {users: [\"o'brien\", \"quo\\\"te\", "
		    "\"back\\\\slash\", \"caf\xc3\xa9\"]}\n"
		    "rules:\n"
		    "- {name: \"#hash: colon\", match: {comm: \"[ab]*\"}}\n"
		    "- {name: empty-match, match: {}}\n";

		CHECK_INT_EQ(esmpi_pol_load_buf("quoting", yaml,
		    sizeof(yaml) - 1, NULL, &p, &e), 0);
		if (p != NULL) {
			CHECK(strcmp(p->users[1], "quo\"te") == 0);
			CHECK(strcmp(p->users[2], "back\\slash") == 0);
			CHECK(strcmp(p->rules[0].name, "#hash: colon") == 0);
			CHECK(p->rules[1].comm == NULL);
			CHECK_INT_EQ(p->rules[1].ntags, 0);
			CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules,
			    &p->defaults, "b1", 0, NULL), 0);
			CHECK_INT_EQ(esmpi_pol_match_rules(p->rules, p->nrules,
			    &p->defaults, "c1", 0, NULL), 1);
			round_trip(p);
			esmpi_pol_free(p);
			p = NULL;
		}
	}
}

static void
test_access(void)
{
	struct esmpi_policy *p = NULL;
	struct esmpi_pol_error e;
	static const char nogroup[] =
	    "version: 1\naccess: {groups: [nogroup]}\n";
	int r;

	/* Group only: root's primary group. */
	CHECK_INT_EQ(esmpi_pol_load_file(GOOD "minimal.yaml", &p, &e), 0);
	if (p != NULL) {
		CHECK_INT_EQ(p->nusers, 0);
		CHECK_INT_EQ(p->nrules, 0);
		CHECK_INT_EQ(esmpi_pol_allows(p, 0, 0), 1);
		/* gid 0 names "root" even for a uid with no passwd entry. */
		CHECK_INT_EQ(esmpi_pol_allows(p, 4000001, 0), 1);
		/* uid 0's passwd group is root, whatever gid the peer has. */
		CHECK_INT_EQ(esmpi_pol_allows(p, 0, 65534), 1);
		CHECK_INT_EQ(esmpi_pol_allows(p, 4000001, 65534), 0);
		CHECK_INT_EQ(esmpi_pol_allows(NULL, 0, 0), 0);
		esmpi_pol_free(p);
		p = NULL;
	}
	r = esmpi_pol_load_buf("nogroup", nogroup, sizeof(nogroup) - 1, NULL,
	    &p, &e);
	CHECK_INT_EQ(r, 0);
	if (p != NULL) {
		CHECK_INT_EQ(esmpi_pol_allows(p, 0, 65534), 1);
		CHECK_INT_EQ(esmpi_pol_allows(p, 0, 0), 0);
		esmpi_pol_free(p);
		p = NULL;
	}
}

static void
test_buf_projects(void)
{
	struct esmpi_policy *p = NULL;
	struct esmpi_pol_error e;
	const char *name = NULL;
	struct esmpi_pol_settings s;
	static const char yaml[] =
	    "version: 1\n"
	    "access: {users: [alice]}\n"
	    "floor: none\n"
	    "defaults: {suite: none, unprotected: allow}\n"
	    "projects: {climate: policy.d/climate.yaml}\n";

	/* basedir anchors relative project paths for in-memory policies. */
	CHECK_INT_EQ(esmpi_pol_load_buf("mem", yaml, sizeof(yaml) - 1,
	    GOOD, &p, &e), 0);
	if (p == NULL)
		return;
	CHECK_INT_EQ(p->floor, ESMPI_SUITE_NONE);
	CHECK_INT_EQ(esmpi_pol_resolve(p, "climate", "x", 1, &s, &name), 0);
	CHECK_INT_EQ(s.suite, ESMPI_SUITE_CHACHA20_POLY1305);
	CHECK_INT_EQ(s.unprotected, ESMPI_UNPROT_ALLOW);
	CHECK_INT_EQ(esmpi_pol_resolve(p, NULL, "x", 1, &s, &name), 0);
	CHECK_INT_EQ(s.suite, ESMPI_SUITE_NONE);
	round_trip(p);
	esmpi_pol_free(p);
	p = NULL;

	/* Without basedir the same path is looked up from the cwd. */
	CHECK_INT_EQ(esmpi_pol_load_buf("mem", yaml, sizeof(yaml) - 1,
	    NULL, &p, &e), ESMPI_ERR_POLICY);
	CHECK_INT_EQ(e.line, 5);
	CHECK_INT_EQ(e.column, 21);
	CHECK_STR_CONTAINS(e.msg, "'./policy.d/climate.yaml'");
	CHECK(p == NULL);
}

int
main(void)
{
	char buf[64];
	struct esmpi_pol_error e;

	/* The suite table must know the floor names the policy uses. */
	CHECK(esmpi_suite_by_name("aes-128-gcm") != NULL);

	test_bad_files();
	test_limits();
	test_full();
	test_round_trip();
	test_access();
	test_buf_projects();

	memset(&e, 0, sizeof(e));
	snprintf(e.file, sizeof(e.file), "p.yaml");
	e.line = 3;
	e.column = 7;
	snprintf(e.msg, sizeof(e.msg), "bad");
	esmpi_pol_error_format(&e, buf, sizeof(buf));
	CHECK(strcmp(buf, "p.yaml:3:7: bad") == 0);
	e.line = 0;
	esmpi_pol_error_format(&e, buf, sizeof(buf));
	CHECK(strcmp(buf, "p.yaml: bad") == 0);

	printf("policy_test: %zu bad files\n",
	    sizeof(bad_cases) / sizeof(bad_cases[0]));
	return check_report("policy_test");
}
