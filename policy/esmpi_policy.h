/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_POLICY_H
#define ESMPI_POLICY_H

#include <stddef.h>
#include <stdint.h>

/*
 * The esmpi policy (docs/ARCHITECTURE.md, "Policy"): who may open sessions
 * and which cipher suite protects which (communicator, tag). Parsing
 * (libyaml; policy_load.c and the files under it, policy_internal.h) runs
 * only in the daemon and the CLI; matching (policy_match.c) has no YAML
 * dependency so the client library can link it to apply the rules the
 * daemon resolved for it.
 */

#define ESMPI_POL_VERSION	1
#define ESMPI_POL_MAX_FILE	(1024 * 1024)	/* bytes per policy file */
#define ESMPI_POL_MAX_DEPTH	8		/* YAML nesting */
#define ESMPI_POL_MAX_RULES	1024
#define ESMPI_POL_MAX_TAGS	256		/* tag items per rule */
#define ESMPI_POL_MAX_NAMES	1024		/* users, groups, projects */

enum esmpi_pol_sign {
	ESMPI_SIGN_NONE = 0,
	ESMPI_SIGN_ECDSA_P256 = 1,
};

enum esmpi_pol_unprotected {
	ESMPI_UNPROT_DENY = 0,		/* refuse calls esmpi cannot protect */
	ESMPI_UNPROT_AUDIT = 1,		/* allow, audit each session that uses them */
	ESMPI_UNPROT_ALLOW = 2,		/* allow (still audited once per session) */
};

enum esmpi_pol_scope {
	ESMPI_SCOPE_ALL = 0,		/* encrypt every message */
	ESMPI_SCOPE_INTER_NODE = 1,	/* same-node traffic stays plain */
};

struct esmpi_pol_rekey {
	uint64_t messages;	/* per key; 0 = no limit */
	uint64_t bytes;
	uint64_t seconds;
};

/* What applies to one message: defaults, or a rule with defaults filled in. */
struct esmpi_pol_settings {
	int suite;		/* enum esmpi_suite_id (esmpi_crypto.h) */
	int sign;		/* enum esmpi_pol_sign */
	struct esmpi_pol_rekey rekey;
	int unprotected;	/* enum esmpi_pol_unprotected */
	int scope;		/* enum esmpi_pol_scope */
};

struct esmpi_pol_tags {
	int lo, hi;		/* inclusive */
};

struct esmpi_pol_rule {
	char *name;
	char *comm;		/* fnmatch(3) glob; NULL matches any */
	struct esmpi_pol_tags *tags;	/* NULL/ntags 0 matches any tag */
	size_t ntags;
	struct esmpi_pol_settings set;	/* fully resolved at load */
	int line;		/* where the rule starts, for messages */
};

struct esmpi_pol_project;

struct esmpi_policy {
	int version;
	char *source;		/* file name or "<embedded>" */
	char **users;
	size_t nusers;
	char **groups;
	size_t ngroups;
	int floor;		/* weakest suite allowed (suite id) */
	struct esmpi_pol_settings defaults;
	struct esmpi_pol_rule *rules;
	size_t nrules;
	struct esmpi_pol_project *projects;
	size_t nprojects;
};

/* A project file: its own defaults and rules, under the main floor/access. */
struct esmpi_pol_project {
	char *name;
	char *path;		/* as resolved (relative to the main file) */
	struct esmpi_policy *policy;	/* access/projects unused */
};

/* Where and why a policy was refused. */
struct esmpi_pol_error {
	char file[512];
	int line;		/* 1-based; 0 when not tied to a line */
	int column;		/* 1-based */
	char msg[256];
};

/* "file:line:column: msg" into buf (or "file: msg" without a line). */
void esmpi_pol_error_format(const struct esmpi_pol_error *e, char *buf,
    size_t len);

/*
 * Parse and validate a policy file. Relative project paths resolve against
 * the file's directory. On failure returns ESMPI_ERR_POLICY (or
 * ESMPI_ERR_SYSTEM for an unreadable file) and fills *err.
 */
int esmpi_pol_load_file(const char *path, struct esmpi_policy **out,
    struct esmpi_pol_error *err) __attribute__((warn_unused_result));

/*
 * Where the files of a policy come from (policy_files.c). NULL in the
 * calls below: the filesystem, as the caller's rights allow.
 */
struct esmpi_pol_file {
	char *path;		/* as the parser resolves it */
	char *text;
	size_t len;
};

struct esmpi_pol_files {
	int strict;		/* refuse files or folders that anyone but
				 * root may write (sshd's StrictModes) */
	int record;		/* keep a copy of every file read in v */
	int serve_only;		/* read nothing: only the files in v */
	struct esmpi_pol_file *v;
	size_t n;
};

int esmpi_pol_files_add(struct esmpi_pol_files *f, const char *path,
    const char *buf, size_t len) __attribute__((warn_unused_result));
void esmpi_pol_files_free(struct esmpi_pol_files *f);

/* esmpi_pol_load_file with its files (and project files) taken from f. */
int esmpi_pol_load_files(const char *path, struct esmpi_pol_files *f,
    struct esmpi_policy **out, struct esmpi_pol_error *err)
    __attribute__((warn_unused_result));

/* Same from memory; name is used in messages, basedir for project paths. */
int esmpi_pol_load_buf(const char *name, const char *buf, size_t len,
    const char *basedir, struct esmpi_policy **out,
    struct esmpi_pol_error *err) __attribute__((warn_unused_result));

/*
 * The embedded default: version 1, access for user only, floor
 * aes-128-gcm, aes-256-gcm for everything, no rules.
 */
int esmpi_pol_default(const char *user, struct esmpi_policy **out)
    __attribute__((warn_unused_result));

/* Canonical YAML for `esmpictl policy show`; it parses back to an equal
 * policy. *out is malloc'd. */
int esmpi_pol_format(const struct esmpi_policy *p, char **out)
    __attribute__((warn_unused_result));

void esmpi_pol_free(struct esmpi_policy *p);

/* --- matching (policy_match.c, no YAML) --- */

/*
 * First rule whose comm glob and tag set both match wins; otherwise the
 * defaults. Returns the rule index or -1 for defaults, and fills *out.
 */
int esmpi_pol_match_rules(const struct esmpi_pol_rule *rules, size_t nrules,
    const struct esmpi_pol_settings *defaults, const char *comm, int tag,
    struct esmpi_pol_settings *out);

/* The project's rules (project NULL or "" = the main policy). Returns
 * ESMPI_ERR_INVALID for an unknown project. *rule_name (if rule_name is
 * not NULL) is the matching rule's name, or NULL when the defaults apply;
 * it points into p. */
int esmpi_pol_resolve(const struct esmpi_policy *p, const char *project,
    const char *comm, int tag, struct esmpi_pol_settings *out,
    const char **rule_name) __attribute__((warn_unused_result));

/*
 * Whether uid/its groups may open sessions under p: 1 when the user name,
 * the name of gid, or of the user's passwd or supplementary groups is
 * listed; 0 otherwise, including when a look-up fails.
 */
int esmpi_pol_allows(const struct esmpi_policy *p, unsigned int uid,
    unsigned int gid);

#endif
