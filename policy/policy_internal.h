/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_POLICY_INTERNAL_H
#define ESMPI_POLICY_INTERNAL_H

/*
 * What the files of policy/ share behind esmpi_policy.h; nothing outside
 * policy/ includes this. Each layer uses only those below it:
 *
 *   policy_load.c    files and projects, the esmpi_pol_load_* calls
 *   policy_schema.c  a tree checked into a struct esmpi_policy
 *   policy_yaml.c    libyaml's events into a tree; errors at a place
 *   policy_core.c    the structure: value names, built-in settings
 *
 * policy_format.c (YAML out) and policy_access.c (who may open sessions)
 * use only the structure.
 */

#include <stddef.h>
#include <stdint.h>

#include "esmpi_policy.h"

#define POL_MAX_STR	256	/* bytes in a name, glob or path */
#define POL_QUOTE_MAX	40	/* bytes of a value echoed in messages */

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* --- the structure (policy_core.c) --- */

struct pol_suffix {
	const char *s;
	uint64_t mult;
};

/* Names of the enum values of esmpi_policy.h, in the files and out. */
extern const char *const pol_sign_names[ESMPI_SIGN_ECDSA_P256 + 1];
extern const char *const pol_unprot_names[ESMPI_UNPROT_ALLOW + 1];
extern const char *const pol_scope_names[ESMPI_SCOPE_INTER_NODE + 1];
/* Sizes: bytes, then KiB to TiB. */
extern const struct pol_suffix pol_size_suffixes[5];

/* What applies when neither defaults nor a rule say otherwise. */
void pol_settings_builtin(struct esmpi_pol_settings *s);

/*
 * A short printable copy of s (at most max bytes) in dst, for messages.
 * Returns dst.
 */
const char *pol_quote(char *dst, size_t dstlen, const char *s, size_t max);

#define Q(buf, s)	pol_quote((buf), sizeof(buf), (s), POL_QUOTE_MAX)

/* --- the tree (policy_yaml.c) --- */

enum pnode_kind {
	PN_SCALAR,
	PN_SEQ,
	PN_MAP,
};

struct pnode {
	enum pnode_kind kind;
	int line, col;		/* 1-based */
	int plain;		/* scalar written without quotes */
	char *str;		/* scalar value, NUL-terminated */
	size_t len;
	struct pnode **kids;	/* list items; map keys, values alternate */
	size_t nkids, cap;
};

/* One file being parsed. */
struct pctx {
	struct esmpi_pol_files *files;	/* where files come from; NULL: fs */
	const char *file;	/* for messages */
	const char *buf;	/* to place libyaml reader errors */
	size_t len;
	struct esmpi_pol_error *err;
};

/* Fill c->err; these return ESMPI_ERR_POLICY (pol_nomem ESMPI_ERR_NOMEM). */
int pol_err_at(struct pctx *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int pol_perr(struct pctx *c, const struct pnode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int pol_nomem(struct pctx *c);

/*
 * c->buf (at most ESMPI_POL_MAX_FILE bytes) as a tree: one document, no
 * anchors or aliases, at most ESMPI_POL_MAX_DEPTH levels, scalar map keys
 * and no control characters in values.
 */
int pol_tree_build(struct pctx *c, struct pnode **out);
void pol_tree_free(struct pnode *n);

int pol_is_null(const struct pnode *n);
const char *pol_kind_name(const struct pnode *n);
const struct pnode *pol_map_get(const struct pnode *map, const char *key);
const struct pnode *pol_map_get_set(const struct pnode *map, const char *key);

/* --- the schema (policy_schema.c) --- */

int pol_want_map(struct pctx *c, const struct pnode *n, const char *what);
int pol_parse_string(struct pctx *c, const struct pnode *n, const char *what,
    char **out);

/*
 * root as a main policy (parent NULL) or as a project file under parent,
 * whose floor and defaults it inherits: everything but the projects,
 * which the caller loads after it (policy_load.c).
 */
int pol_schema(struct pctx *c, const struct pnode *root,
    const struct esmpi_policy *parent, struct esmpi_policy **out);

#endif
