/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy parser and validator. libyaml's event stream is turned into a
 * small tree first, refusing anchors, aliases, extra documents and deep
 * nesting as they arrive, so nothing a hostile file does can expand;
 * the tree is then checked against the schema in a fixed order so the
 * first error reported does not depend on key order in the file.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_limits.h"
#include "esmpi_policy.h"
#include "policy_files.h"

#define POL_MAX_STR	256	/* bytes in a name, glob or path */
#define POL_QUOTE_MAX	40	/* bytes of a value echoed in messages */
#define POL_MAX_TAG	2147483647L
#define POL_SUITES	"aes-256-gcm, aes-128-gcm, chacha20-poly1305, none"

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

struct pctx {
	struct esmpi_pol_files *files;	/* where files come from; NULL: fs */
	const char *file;	/* for messages */
	const char *buf;	/* to place libyaml reader errors */
	size_t len;
	struct esmpi_pol_error *err;
};

static const char *const top_keys[] = {
	"version", "access", "floor", "defaults", "rules", "projects",
};
static const char *const project_keys[] = { "version", "defaults", "rules" };
static const char *const access_keys[] = { "users", "groups" };
static const char *const set_keys[] = {
	"suite", "sign", "rekey", "unprotected", "scope",
};
static const char *const rule_keys[] = {
	"name", "match", "suite", "sign", "rekey", "unprotected", "scope",
};
static const char *const match_keys[] = { "comm", "tags" };
static const char *const rekey_keys[] = { "messages", "bytes", "seconds" };
static const char *const sign_names[] = { "none", "ecdsa-p256" };
static const char *const unprot_names[] = { "deny", "audit", "allow" };
static const char *const scope_names[] = { "all", "inter-node" };

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* --- errors --- */

static void
err_vset(struct esmpi_pol_error *e, const char *file, int line, int col,
    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void
err_vset(struct esmpi_pol_error *e, const char *file, int line, int col,
    const char *fmt, va_list ap)
{
	snprintf(e->file, sizeof(e->file), "%s", file != NULL ? file : "");
	e->line = line;
	e->column = line > 0 ? col : 0;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

static int
err_at(struct pctx *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
err_at(struct pctx *c, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(c->err, c->file, line, col, fmt, ap);
	va_end(ap);
	return ESMPI_ERR_POLICY;
}

static int
perr(struct pctx *c, const struct pnode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
perr(struct pctx *c, const struct pnode *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(c->err, c->file, n->line, n->col, fmt, ap);
	va_end(ap);
	return ESMPI_ERR_POLICY;
}

static int
nomem(struct pctx *c)
{
	err_at(c, 0, 0, "out of memory");
	return ESMPI_ERR_NOMEM;
}

/*
 * A short printable copy of an input value for a message: a policy file
 * may be large or hostile, so at most max bytes are echoed, cut on a UTF-8
 * boundary, with control bytes replaced.
 */
static const char *
quote(char *dst, size_t dstlen, const char *s, size_t max)
{
	size_t n, i;

	if (dstlen < 4) {
		if (dstlen > 0)
			dst[0] = '\0';
		return dst;
	}
	if (max > dstlen - 4)
		max = dstlen - 4;
	n = strlen(s);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		dst[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	if (s[n] != '\0') {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
	return dst;
}

#define Q(buf, s)	quote((buf), sizeof(buf), (s), POL_QUOTE_MAX)

/* --- the tree --- */

static void
tree_free(struct pnode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		tree_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

static int
tree_append(struct pnode *parent, struct pnode *kid)
{
	struct pnode **k;
	size_t ncap;

	if (parent->nkids == parent->cap) {
		ncap = parent->cap ? parent->cap * 2 : 8;
		if ((k = reallocarray(parent->kids, ncap, sizeof(*k))) == NULL)
			return ESMPI_ERR_NOMEM;
		parent->kids = k;
		parent->cap = ncap;
	}
	parent->kids[parent->nkids++] = kid;
	return 0;
}

/* Where a libyaml failure happened, as a message and 1-based position. */
static int
yaml_failure(struct pctx *c, const yaml_parser_t *yp)
{
	const char *problem = yp->problem ? yp->problem : "unknown error";
	size_t i, off;
	int line, col;

	switch (yp->error) {
	case YAML_MEMORY_ERROR:
		return nomem(c);
	case YAML_READER_ERROR:
		/* The reader sets only a byte offset, not a mark. */
		line = 1;
		col = 1;
		off = yp->problem_offset < c->len ? yp->problem_offset : c->len;
		for (i = 0; i < off; i++) {
			if (c->buf[i] == '\n') {
				line++;
				col = 1;
			} else
				col++;
		}
		if (yp->problem_value != -1)
			return err_at(c, line, col, "invalid YAML input: %s "
			    "(byte 0x%02x)", problem,
			    (unsigned int)yp->problem_value & 0xffU);
		return err_at(c, line, col, "invalid YAML input: %s", problem);
	default:
		line = (int)yp->problem_mark.line + 1;
		col = (int)yp->problem_mark.column + 1;
		if (yp->context != NULL)
			return err_at(c, line, col, "YAML syntax error: %s %s",
			    problem, yp->context);
		return err_at(c, line, col, "YAML syntax error: %s", problem);
	}
}

/*
 * Whether value byte i starts a character no value may hold: C0 controls
 * and DEL (names end up in logs and journald fields), and what an escape
 * ("\x85", "\N", "\P", "\uFFFE") can put in a value but a quoted scalar
 * cannot carry back: C1 controls and U+FFFE/U+FFFF, which libyaml's
 * reader refuses, and the line breaks NEL (a C1 control), U+2028 and
 * U+2029, around which a quoted scalar folds whitespace away. Refusing
 * them keeps esmpi_pol_format()'s output loadable as the same policy.
 * libyaml hands over valid UTF-8.
 */
static int
bad_char(const unsigned char *v, size_t len, size_t i)
{
	if (v[i] < 0x20 || v[i] == 0x7f)
		return 1;
	if (v[i] == 0xc2 && i + 1 < len && v[i + 1] <= 0x9f)
		return 1;
	if (v[i] == 0xe2 && i + 2 < len && v[i + 1] == 0x80 &&
	    (v[i + 2] == 0xa8 || v[i + 2] == 0xa9))
		return 1;
	return v[i] == 0xef && i + 2 < len && v[i + 1] == 0xbf &&
	    v[i + 2] >= 0xbe;
}

static int
node_new(struct pctx *c, enum pnode_kind kind, const yaml_event_t *ev,
    struct pnode **out)
{
	struct pnode *n;
	size_t i;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return nomem(c);
	n->kind = kind;
	/* Marks are 0-based; columns count characters. */
	n->line = (int)ev->start_mark.line + 1;
	n->col = (int)ev->start_mark.column + 1;
	if (kind == PN_SCALAR) {
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		n->len = ev->data.scalar.length;
		for (i = 0; i < n->len; i++) {
			if (bad_char(ev->data.scalar.value, n->len, i)) {
				free(n);
				return err_at(c, (int)ev->start_mark.line + 1,
				    (int)ev->start_mark.column + 1,
				    "control characters are not allowed "
				    "in values");
			}
		}
		if ((n->str = malloc(n->len + 1)) == NULL) {
			free(n);
			return nomem(c);
		}
		memcpy(n->str, ev->data.scalar.value, n->len);
		n->str[n->len] = '\0';
	}
	*out = n;
	return 0;
}

static int
tree_build(struct pctx *c, struct pnode **out)
{
	yaml_parser_t yp;
	yaml_event_t ev;
	struct pnode *stack[ESMPI_POL_MAX_DEPTH];
	struct pnode *root = NULL, *n = NULL, *parent;
	const unsigned char *anchor;
	size_t depth = 0;
	int ndocs = 0, done = 0, have_ev = 0, r;
	enum pnode_kind kind;

	if (!yaml_parser_initialize(&yp))
		return nomem(c);
	yaml_parser_set_input_string(&yp, (const unsigned char *)c->buf,
	    c->len);
	while (!done) {
		if (!yaml_parser_parse(&yp, &ev)) {
			r = yaml_failure(c, &yp);
			goto out;
		}
		have_ev = 1;
		anchor = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (ndocs++ > 0) {
				r = err_at(c, (int)ev.start_mark.line + 1,
				    (int)ev.start_mark.column + 1,
				    "multiple YAML documents are not allowed");
				goto out;
			}
			break;
		case YAML_ALIAS_EVENT:
			r = err_at(c, (int)ev.start_mark.line + 1,
			    (int)ev.start_mark.column + 1,
			    "anchors and aliases are not allowed");
			goto out;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (ev.type == YAML_SCALAR_EVENT) {
				kind = PN_SCALAR;
				anchor = ev.data.scalar.anchor;
			} else if (ev.type == YAML_SEQUENCE_START_EVENT) {
				kind = PN_SEQ;
				anchor = ev.data.sequence_start.anchor;
			} else {
				kind = PN_MAP;
				anchor = ev.data.mapping_start.anchor;
			}
			/* Refusing any anchor is what stops alias bombs. */
			if (anchor != NULL) {
				r = err_at(c, (int)ev.start_mark.line + 1,
				    (int)ev.start_mark.column + 1,
				    "anchors and aliases are not allowed");
				goto out;
			}
			if (kind != PN_SCALAR && depth == ESMPI_POL_MAX_DEPTH) {
				r = err_at(c, (int)ev.start_mark.line + 1,
				    (int)ev.start_mark.column + 1,
				    "nesting deeper than %d levels",
				    ESMPI_POL_MAX_DEPTH);
				goto out;
			}
			if ((r = node_new(c, kind, &ev, &n)) != 0)
				goto out;
			if (depth == 0)
				root = n;
			else {
				parent = stack[depth - 1];
				if (parent->kind == PN_MAP &&
				    parent->nkids % 2 == 0 &&
				    kind != PN_SCALAR) {
					r = perr(c, n, "mapping keys must be "
					    "plain strings");
					tree_free(n);
					n = NULL;
					goto out;
				}
				if (tree_append(parent, n) != 0) {
					tree_free(n);
					n = NULL;
					r = nomem(c);
					goto out;
				}
			}
			if (kind != PN_SCALAR)
				stack[depth++] = n;
			n = NULL;	/* owned by the tree */
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		have_ev = 0;
	}
	if (root == NULL) {
		r = err_at(c, 1, 1, "empty policy");
		goto out;
	}
	*out = root;
	root = NULL;
	r = 0;
 out:
	if (have_ev)
		yaml_event_delete(&ev);
	yaml_parser_delete(&yp);
	tree_free(root);
	return r;
}

/* --- tree helpers --- */

static int
is_null(const struct pnode *n)
{
	if (n->kind != PN_SCALAR || !n->plain)
		return 0;
	return n->len == 0 || strcmp(n->str, "~") == 0 ||
	    strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
	    strcmp(n->str, "NULL") == 0;
}

static const char *
kind_name(const struct pnode *n)
{
	switch (n->kind) {
	case PN_MAP:
		return "a mapping";
	case PN_SEQ:
		return "a list";
	default:
		return "a scalar";
	}
}

static const struct pnode *
map_get(const struct pnode *map, const char *key)
{
	size_t i;

	for (i = 0; i + 1 < map->nkids; i += 2) {
		if (strcmp(map->kids[i]->str, key) == 0)
			return map->kids[i + 1];
	}
	return NULL;
}

/* A present, non-null value; null means "not set" for optional sections. */
static const struct pnode *
map_get_set(const struct pnode *map, const char *key)
{
	const struct pnode *v = map_get(map, key);

	return (v == NULL || is_null(v)) ? NULL : v;
}

static void
join_names(char *buf, size_t len, const char *const *names, size_t n)
{
	size_t i, off = 0;
	int w;

	buf[0] = '\0';
	for (i = 0; i < n && off < len; i++) {
		w = snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
		    names[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/*
 * Keys of map must come from allowed (at most 16), each once. Duplicate
 * keys are legal YAML but would silently drop a setting.
 */
static int
check_keys(struct pctx *c, const struct pnode *map,
    const char *const *allowed, size_t nallowed, const char *where)
{
	const struct pnode *first[16] = { NULL };
	const struct pnode *key;
	char q[64], list[160];
	size_t i, j;

	if (nallowed > NELEM(first))
		return ESMPI_ERR_INTERNAL;
	for (i = 0; i + 1 < map->nkids; i += 2) {
		key = map->kids[i];
		for (j = 0; j < nallowed; j++) {
			if (strcmp(key->str, allowed[j]) == 0)
				break;
		}
		if (j == nallowed) {
			join_names(list, sizeof(list), allowed, nallowed);
			return perr(c, key, "unknown key '%s' %s (expected "
			    "one of: %s)", Q(q, key->str), where, list);
		}
		if (first[j] != NULL)
			return perr(c, key, "duplicate key '%s' %s (first "
			    "at line %d)", key->str, where, first[j]->line);
		first[j] = key;
	}
	return 0;
}

static int
want_map(struct pctx *c, const struct pnode *n, const char *what)
{
	if (n->kind != PN_MAP)
		return perr(c, n, "%s must be a mapping, not %s", what,
		    kind_name(n));
	return 0;
}

static int
want_seq(struct pctx *c, const struct pnode *n, const char *what)
{
	if (n->kind != PN_SEQ)
		return perr(c, n, "%s must be a list, not %s", what,
		    kind_name(n));
	return 0;
}

static int
want_scalar(struct pctx *c, const struct pnode *n, const char *what)
{
	if (n->kind != PN_SCALAR)
		return perr(c, n, "%s must be a scalar, not %s", what,
		    kind_name(n));
	if (is_null(n))
		return perr(c, n, "%s has no value", what);
	return 0;
}

static int
parse_string(struct pctx *c, const struct pnode *n, const char *what,
    char **out)
{
	char *s;
	int r;

	if ((r = want_scalar(c, n, what)) != 0)
		return r;
	if (n->len == 0)
		return perr(c, n, "%s is empty", what);
	if (n->len > POL_MAX_STR)
		return perr(c, n, "%s is too long (%zu bytes, at most %d)",
		    what, n->len, POL_MAX_STR);
	if ((s = strdup(n->str)) == NULL)
		return nomem(c);
	*out = s;
	return 0;
}

/* --- values --- */

enum num_kind {
	NUM_INT,
	NUM_SIZE,
	NUM_SECONDS,
};

struct suffix {
	const char *s;
	uint64_t mult;
};

static const struct suffix size_suffixes[] = {
	{ "", 1 },
	{ "KiB", 1ULL << 10 },
	{ "MiB", 1ULL << 20 },
	{ "GiB", 1ULL << 30 },
	{ "TiB", 1ULL << 40 },
};

static const struct suffix time_suffixes[] = {
	{ "", 1 },
	{ "s", 1 },
	{ "m", 60 },
	{ "h", 3600 },
};

static int
parse_num(struct pctx *c, const struct pnode *n, const char *what,
    enum num_kind kind, uint64_t *out)
{
	const struct suffix *sfx;
	const char *s, *expect;
	char q[64];
	uint64_t v = 0, d;
	size_t i, nsfx;
	int r;

	if ((r = want_scalar(c, n, what)) != 0)
		return r;
	switch (kind) {
	case NUM_SIZE:
		sfx = size_suffixes;
		nsfx = NELEM(size_suffixes);
		expect = "a size (an integer with an optional KiB, MiB, GiB "
		    "or TiB suffix)";
		break;
	case NUM_SECONDS:
		sfx = time_suffixes;
		nsfx = NELEM(time_suffixes);
		expect = "a duration (an integer with an optional s, m or h "
		    "suffix)";
		break;
	default:
		sfx = size_suffixes;
		nsfx = 1;
		expect = "an integer";
		break;
	}
	s = n->str;
	if (s[0] == '-' && s[1] >= '0' && s[1] <= '9')
		return perr(c, n, "%s must not be negative", what);
	if (*s < '0' || *s > '9')
		return perr(c, n, "%s must be %s, not '%s'", what, expect,
		    Q(q, n->str));
	for (; *s >= '0' && *s <= '9'; s++) {
		d = (uint64_t)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return perr(c, n, "%s is too large", what);
		v = v * 10 + d;
	}
	for (i = 0; i < nsfx; i++) {
		if (strcmp(s, sfx[i].s) == 0)
			break;
	}
	if (i == nsfx)
		return perr(c, n, "%s must be %s, not '%s'", what, expect,
		    Q(q, n->str));
	if (v > UINT64_MAX / sfx[i].mult)
		return perr(c, n, "%s is too large", what);
	*out = v * sfx[i].mult;
	return 0;
}

/* The 3DES suite of the original ES-MPICH2 design is refused by name. */
static int
parse_suite(struct pctx *c, const struct pnode *n, const char *what,
    const struct esmpi_suite_info *floor, int *out)
{
	const struct esmpi_suite_info *si;
	char q[64];
	int r;

	if ((r = want_scalar(c, n, what)) != 0)
		return r;
	if (strncmp(n->str, "3des", 4) == 0)
		return perr(c, n, "suite '%s' is not supported (64-bit block "
		    "cipher, Sweet32)", Q(q, n->str));
	if ((si = esmpi_suite_by_name(n->str)) == NULL)
		return perr(c, n, "unknown suite '%s' (expected one of: "
		    POL_SUITES ")", Q(q, n->str));
	if (floor != NULL && si->strength < floor->strength)
		return perr(c, n, "suite '%s' is below the floor '%s'",
		    si->name, floor->name);
	*out = si->id;
	return 0;
}

static int
parse_enum(struct pctx *c, const struct pnode *n, const char *what,
    const char *const *names, size_t nnames, int *out)
{
	char q[64], list[96];
	size_t i;
	int r;

	if ((r = want_scalar(c, n, what)) != 0)
		return r;
	for (i = 0; i < nnames; i++) {
		if (strcmp(n->str, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	join_names(list, sizeof(list), names, nnames);
	return perr(c, n, "unknown value '%s' for %s (expected one of: %s)",
	    Q(q, n->str), what, list);
}

static int
parse_rekey(struct pctx *c, const struct pnode *n, const char *owner,
    struct esmpi_pol_rekey *rk)
{
	const struct pnode *v;
	char what[160], where[128];
	int r;

	snprintf(what, sizeof(what), "'rekey' %s", owner);
	if ((r = want_map(c, n, what)) != 0)
		return r;
	/* "in defaults" becomes "in rekey of defaults". */
	snprintf(where, sizeof(where), "in rekey of %s",
	    strncmp(owner, "in ", 3) == 0 ? owner + 3 : owner);
	if ((r = check_keys(c, n, rekey_keys, NELEM(rekey_keys), where)) != 0)
		return r;
	/* Keys must be retired within the AEAD usage bounds (limits.h). */
	if ((v = map_get(n, "messages")) != NULL) {
		snprintf(what, sizeof(what), "'messages' %s", where);
		if ((r = parse_num(c, v, what, NUM_INT, &rk->messages)) != 0)
			return r;
		if (rk->messages == 0 ||
		    rk->messages > ESMPI_REKEY_MAX_MESSAGES)
			return perr(c, v, "%s must be from 1 to %llu (2^32): "
			    "a key may not seal more records", what,
			    (unsigned long long)ESMPI_REKEY_MAX_MESSAGES);
	}
	if ((v = map_get(n, "bytes")) != NULL) {
		snprintf(what, sizeof(what), "'bytes' %s", where);
		if ((r = parse_num(c, v, what, NUM_SIZE, &rk->bytes)) != 0)
			return r;
		if (rk->bytes == 0 || rk->bytes > ESMPI_REKEY_MAX_BYTES)
			return perr(c, v, "%s must be from 1 to 256GiB (2^38): "
			    "a key may not seal more bytes", what);
	}
	if ((v = map_get(n, "seconds")) != NULL) {
		snprintf(what, sizeof(what), "'seconds' %s", where);
		if ((r = parse_num(c, v, what, NUM_SECONDS,
		    &rk->seconds)) != 0)
			return r;
	}
	return 0;
}

/* The settings keys present in map override *set (already the base). */
static int
parse_settings(struct pctx *c, const struct pnode *map, const char *where,
    const struct esmpi_suite_info *floor, struct esmpi_pol_settings *set)
{
	const struct pnode *v;
	char what[160];
	int r;

	if ((v = map_get(map, "suite")) != NULL) {
		snprintf(what, sizeof(what), "'suite' %s", where);
		if ((r = parse_suite(c, v, what, floor, &set->suite)) != 0)
			return r;
	}
	if ((v = map_get(map, "sign")) != NULL) {
		snprintf(what, sizeof(what), "'sign' %s", where);
		if ((r = parse_enum(c, v, what, sign_names, NELEM(sign_names),
		    &set->sign)) != 0)
			return r;
	}
	if ((v = map_get(map, "rekey")) != NULL &&
	    (r = parse_rekey(c, v, where, &set->rekey)) != 0)
		return r;
	if ((v = map_get(map, "unprotected")) != NULL) {
		snprintf(what, sizeof(what), "'unprotected' %s", where);
		if ((r = parse_enum(c, v, what, unprot_names,
		    NELEM(unprot_names), &set->unprotected)) != 0)
			return r;
	}
	if ((v = map_get(map, "scope")) != NULL) {
		snprintf(what, sizeof(what), "'scope' %s", where);
		if ((r = parse_enum(c, v, what, scope_names,
		    NELEM(scope_names), &set->scope)) != 0)
			return r;
	}
	return 0;
}

static void
settings_builtin(struct esmpi_pol_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->suite = ESMPI_SUITE_AES_256_GCM;
	s->sign = ESMPI_SIGN_NONE;
	s->rekey.messages = 1ULL << 30;
	s->rekey.bytes = 64ULL << 30;
	s->rekey.seconds = 3600;
	s->unprotected = ESMPI_UNPROT_DENY;
	s->scope = ESMPI_SCOPE_ALL;
}

/* --- tags --- */

/* 0 ok, -1 not a number, -2 out of range (negative or above INT_MAX). */
static int
tag_num(const char *s, size_t len, int *out)
{
	long v = 0;
	size_t i = 0;
	int neg = 0;

	if (len > 0 && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == len)
		return -1;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		/* Saturate: only "too large" matters past the limit. */
		if (v <= POL_MAX_TAG)
			v = v * 10 + (s[i] - '0');
	}
	if (neg || v > POL_MAX_TAG)
		return -2;
	*out = (int)v;
	return 0;
}

static void
tag_str(char *buf, size_t len, const struct esmpi_pol_tags *t)
{
	if (t->lo == t->hi)
		snprintf(buf, len, "%d", t->lo);
	else
		snprintf(buf, len, "%d-%d", t->lo, t->hi);
}

static int
parse_tag_item(struct pctx *c, const struct pnode *n, const char *where,
    struct esmpi_pol_tags *t)
{
	const char *dash;
	char q[64], what[160];
	int r, lo, hi, rl, rh;

	snprintf(what, sizeof(what), "tag %s", where);
	if ((r = want_scalar(c, n, what)) != 0)
		return r;
	/* A leading '-' is a sign, so "-5" is a negative tag, not a range. */
	dash = n->len > 1 ? strchr(n->str + 1, '-') : NULL;
	if (dash == NULL) {
		r = tag_num(n->str, n->len, &lo);
		if (r == -2)
			return perr(c, n, "tag %s is out of range "
			    "(0-2147483647)", Q(q, n->str));
		if (r != 0)
			return perr(c, n, "invalid tag '%s' (expected an "
			    "integer or a 'lo-hi' range)", Q(q, n->str));
		t->lo = t->hi = lo;
		return 0;
	}
	rl = tag_num(n->str, (size_t)(dash - n->str), &lo);
	rh = tag_num(dash + 1, n->len - (size_t)(dash - n->str) - 1, &hi);
	if (rl == -1 || rh == -1)
		return perr(c, n, "invalid tag range '%s' (expected 'lo-hi' "
		    "with integers)", Q(q, n->str));
	if (rl != 0 || rh != 0)
		return perr(c, n, "tag range %s is out of range "
		    "(0-2147483647)", Q(q, n->str));
	if (lo > hi)
		return perr(c, n, "tag range %d-%d is reversed (lo > hi)",
		    lo, hi);
	t->lo = lo;
	t->hi = hi;
	return 0;
}

static int
parse_tags(struct pctx *c, const struct pnode *n, const char *where,
    struct esmpi_pol_rule *rule)
{
	const struct pnode *const *items;
	const struct pnode *one[1];
	char a[32], b[32];
	size_t i, j, nitems;
	int r;

	if (n->kind == PN_SEQ) {
		if (n->nkids == 0)
			return perr(c, n, "'tags' %s is an empty list", where);
		if (n->nkids > ESMPI_POL_MAX_TAGS)
			return perr(c, n, "too many tags %s (%zu, at most %d)",
			    where, n->nkids, ESMPI_POL_MAX_TAGS);
		items = (const struct pnode *const *)n->kids;
		nitems = n->nkids;
	} else {
		one[0] = n;
		items = one;
		nitems = 1;
	}
	if ((rule->tags = calloc(nitems, sizeof(*rule->tags))) == NULL)
		return nomem(c);
	for (i = 0; i < nitems; i++) {
		if ((r = parse_tag_item(c, items[i], where,
		    &rule->tags[i])) != 0)
			return r;
		rule->ntags = i + 1;
		/* At most 256 items, so the quadratic check is cheap. */
		for (j = 0; j < i; j++) {
			if (rule->tags[i].lo > rule->tags[j].hi ||
			    rule->tags[i].hi < rule->tags[j].lo)
				continue;
			tag_str(a, sizeof(a), &rule->tags[j]);
			tag_str(b, sizeof(b), &rule->tags[i]);
			return perr(c, items[i], "tag range %s overlaps %s",
			    a, b);
		}
	}
	return 0;
}

/* --- rules --- */

static int
parse_rule(struct pctx *c, const struct pnode *n, size_t idx,
    const struct esmpi_pol_settings *defaults,
    const struct esmpi_suite_info *floor, struct esmpi_pol_rule *rules)
{
	struct esmpi_pol_rule *rule = &rules[idx];
	const struct pnode *name, *match, *v;
	char q[64], where[96], mwhere[128], what[160];
	size_t j;
	int r;

	if (n->kind != PN_MAP)
		return perr(c, n, "rule %zu must be a mapping, not %s",
		    idx + 1, kind_name(n));
	rule->line = n->line;
	name = map_get(n, "name");
	if (name != NULL && name->kind == PN_SCALAR && !is_null(name))
		snprintf(where, sizeof(where), "in rule '%s'",
		    Q(q, name->str));
	else
		snprintf(where, sizeof(where), "in rule %zu", idx + 1);
	if ((r = check_keys(c, n, rule_keys, NELEM(rule_keys), where)) != 0)
		return r;
	if (name == NULL)
		return perr(c, n, "rule %zu has no 'name'", idx + 1);
	snprintf(what, sizeof(what), "'name' %s", where);
	if ((r = parse_string(c, name, what, &rule->name)) != 0)
		return r;
	for (j = 0; j < idx; j++) {
		if (strcmp(rules[j].name, rule->name) == 0)
			return perr(c, name, "duplicate rule name '%s' (first "
			    "defined at line %d)", Q(q, rule->name),
			    rules[j].line);
	}

	if ((match = map_get(n, "match")) == NULL)
		return perr(c, n, "rule '%s' has no 'match'", Q(q, rule->name));
	snprintf(what, sizeof(what), "'match' %s", where);
	if ((r = want_map(c, match, what)) != 0)
		return r;
	snprintf(mwhere, sizeof(mwhere), "in match of rule '%s'",
	    Q(q, rule->name));
	if ((r = check_keys(c, match, match_keys, NELEM(match_keys),
	    mwhere)) != 0)
		return r;
	if ((v = map_get(match, "comm")) != NULL) {
		snprintf(what, sizeof(what), "'comm' %s", mwhere);
		if ((r = parse_string(c, v, what, &rule->comm)) != 0)
			return r;
	}
	if ((v = map_get(match, "tags")) != NULL &&
	    (r = parse_tags(c, v, mwhere, rule)) != 0)
		return r;

	rule->set = *defaults;
	return parse_settings(c, n, where, floor, &rule->set);
}

static int
parse_rules(struct pctx *c, const struct pnode *n, struct esmpi_policy *p,
    const struct esmpi_suite_info *floor)
{
	size_t i;
	int r;

	if ((r = want_seq(c, n, "'rules'")) != 0)
		return r;
	if (n->nkids > ESMPI_POL_MAX_RULES)
		return perr(c, n, "too many rules (%zu, at most %d)",
		    n->nkids, ESMPI_POL_MAX_RULES);
	if (n->nkids == 0)
		return 0;
	if ((p->rules = calloc(n->nkids, sizeof(*p->rules))) == NULL)
		return nomem(c);
	/* Counted up front so esmpi_pol_free sees partly filled rules. */
	p->nrules = n->nkids;
	for (i = 0; i < n->nkids; i++) {
		if ((r = parse_rule(c, n->kids[i], i, &p->defaults, floor,
		    p->rules)) != 0)
			return r;
	}
	return 0;
}

/* --- access --- */

static int
parse_names(struct pctx *c, const struct pnode *n, const char *what,
    char ***out, size_t *nout)
{
	char **names;
	size_t i;
	int r;

	if ((r = want_seq(c, n, what)) != 0)
		return r;
	if (n->nkids > ESMPI_POL_MAX_NAMES)
		return perr(c, n, "too many entries in %s (%zu, at most %d)",
		    what, n->nkids, ESMPI_POL_MAX_NAMES);
	if (n->nkids == 0)
		return 0;
	if ((names = calloc(n->nkids, sizeof(*names))) == NULL)
		return nomem(c);
	*out = names;
	*nout = n->nkids;
	for (i = 0; i < n->nkids; i++) {
		if ((r = parse_string(c, n->kids[i], what, &names[i])) != 0)
			return r;
	}
	return 0;
}

static int
parse_access(struct pctx *c, const struct pnode *root, struct esmpi_policy *p)
{
	const struct pnode *n, *v;
	int r;

	if ((n = map_get_set(root, "access")) == NULL)
		return perr(c, root, "missing 'access' (the users and groups "
		    "who may open sessions)");
	if ((r = want_map(c, n, "'access'")) != 0 ||
	    (r = check_keys(c, n, access_keys, NELEM(access_keys),
	    "in access")) != 0)
		return r;
	if ((v = map_get_set(n, "users")) != NULL &&
	    (r = parse_names(c, v, "'users' in access", &p->users,
	    &p->nusers)) != 0)
		return r;
	if ((v = map_get_set(n, "groups")) != NULL &&
	    (r = parse_names(c, v, "'groups' in access", &p->groups,
	    &p->ngroups)) != 0)
		return r;
	if (p->nusers + p->ngroups == 0)
		return perr(c, n, "'access' lists no users or groups");
	return 0;
}

/* --- files --- */

static int pol_parse(struct pctx *, const char *, const struct esmpi_policy *,
    struct esmpi_policy **);

static int
valid_project_name(const char *s)
{
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
		    *s == '-'))
			return 0;
	}
	return 1;
}

static int
load_project(struct pctx *c, const struct pnode *v, const char *basedir,
    const struct esmpi_policy *parent, struct esmpi_pol_project *proj)
{
	struct pctx sub;
	char *buf = NULL, *resolved = NULL, *real;
	char qn[64], qp[160], why[PATH_MAX + 128];
	size_t len = 0, rlen;
	long long size = 0;
	int r;

	if (proj->path[0] == '/')
		rlen = strlen(proj->path) + 1;
	else
		rlen = strlen(basedir) + 1 + strlen(proj->path) + 1;
	if ((resolved = malloc(rlen)) == NULL) {
		r = nomem(c);
		goto out;
	}
	if (proj->path[0] == '/')
		memcpy(resolved, proj->path, rlen);
	else
		snprintf(resolved, rlen, "%s/%s", basedir, proj->path);
	quote(qp, sizeof(qp), resolved, 120);
	Q(qn, proj->name);
	if ((r = esmpi_pol_get_file(c->files, resolved, &buf, &len, &size,
	    why, sizeof(why))) != 0) {
		if (r == ESMPI_ERR_NOMEM)
			r = nomem(c);
		else if (r == ESMPI_ERR_DENIED)
			r = perr(c, v, "project '%s' file: %s", qn, why);
		else if (r == ESMPI_ERR_TOO_LARGE)
			r = perr(c, v, "project '%s' file '%s' is too large "
			    "(%lld bytes, at most %d)", qn, qp, size,
			    ESMPI_POL_MAX_FILE);
		else if (r == ESMPI_ERR_INVALID)
			r = perr(c, v, "project '%s' file '%s' is not a "
			    "regular file", qn, qp);
		else
			/* Loads run single-threaded (startup, SIGHUP). */
			r = perr(c, v, "cannot read project '%s' file '%s': "
			    "%s", qn, qp, strerror(errno));
		goto out;
	}
	sub = *c;
	sub.file = resolved;
	sub.buf = buf;
	sub.len = len;
	if ((r = pol_parse(&sub, NULL, parent, &proj->policy)) != 0)
		goto out;
	/* Absolute, so the canonical form loads from any directory. */
	if ((real = realpath(resolved, NULL)) != NULL) {
		free(proj->path);
		proj->path = real;
	} else {
		free(proj->path);
		proj->path = resolved;
		resolved = NULL;
	}
	r = 0;
 out:
	free(buf);
	free(resolved);
	return r;
}

static int
parse_projects(struct pctx *c, const struct pnode *n, const char *basedir,
    struct esmpi_policy *p)
{
	const struct pnode *k, *v;
	struct esmpi_pol_project *proj;
	char q[64], what[160];
	size_t i, j, count;
	int r;

	if ((r = want_map(c, n, "'projects'")) != 0)
		return r;
	count = n->nkids / 2;
	if (count > ESMPI_POL_MAX_NAMES)
		return perr(c, n, "too many projects (%zu, at most %d)",
		    count, ESMPI_POL_MAX_NAMES);
	if (count == 0)
		return 0;
	if ((p->projects = calloc(count, sizeof(*p->projects))) == NULL)
		return nomem(c);
	p->nprojects = count;
	for (i = 0; i < count; i++) {
		k = n->kids[2 * i];
		v = n->kids[2 * i + 1];
		proj = &p->projects[i];
		if ((r = parse_string(c, k, "project name", &proj->name)) != 0)
			return r;
		if (!valid_project_name(proj->name))
			return perr(c, k, "project name '%s' may only use "
			    "letters, digits, '.', '_' and '-'",
			    Q(q, proj->name));
		for (j = 0; j < i; j++) {
			if (strcmp(p->projects[j].name, proj->name) == 0)
				return perr(c, k, "duplicate project '%s' "
				    "(first defined at line %d)",
				    Q(q, proj->name), n->kids[2 * j]->line);
		}
		snprintf(what, sizeof(what), "project '%s'", Q(q, proj->name));
		if ((r = parse_string(c, v, what, &proj->path)) != 0 ||
		    (r = load_project(c, v, basedir, p, proj)) != 0)
			return r;
	}
	return 0;
}

/* --- the policy --- */

/*
 * Parse c->buf as a main policy (parent NULL) or as a project file under
 * parent, whose floor and defaults it inherits.
 */
static int
pol_parse(struct pctx *c, const char *basedir,
    const struct esmpi_policy *parent, struct esmpi_policy **out)
{
	struct esmpi_policy *p = NULL;
	const struct esmpi_suite_info *floor;
	const struct pnode *v;
	struct pnode *root = NULL;
	uint64_t version;
	size_t i;
	char q[64];
	int r;

	if (c->len > ESMPI_POL_MAX_FILE) {
		r = err_at(c, 0, 0, "policy file is too large (%zu bytes, at "
		    "most %d)", c->len, ESMPI_POL_MAX_FILE);
		goto out;
	}
	if ((r = tree_build(c, &root)) != 0)
		goto out;
	if (is_null(root)) {
		r = perr(c, root, "empty policy");
		goto out;
	}
	if (root->kind != PN_MAP) {
		r = perr(c, root, "a policy must be a mapping, not %s",
		    kind_name(root));
		goto out;
	}
	if (parent != NULL) {
		/* Access and floor belong to the parent policy alone. */
		for (i = 0; i + 1 < root->nkids; i += 2) {
			v = root->kids[i];
			if (strcmp(v->str, "access") == 0 ||
			    strcmp(v->str, "floor") == 0 ||
			    strcmp(v->str, "projects") == 0) {
				r = perr(c, v, "'%s' is not allowed in a "
				    "project file (expected one of: version, "
				    "defaults, rules)", v->str);
				goto out;
			}
		}
		r = check_keys(c, root, project_keys, NELEM(project_keys),
		    "in project file");
	} else
		r = check_keys(c, root, top_keys, NELEM(top_keys),
		    "at top level");
	if (r != 0)
		goto out;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->source = strdup(c->file)) == NULL) {
		r = nomem(c);
		goto out;
	}

	if ((v = map_get(root, "version")) == NULL) {
		r = perr(c, root, "missing 'version' (expected 'version: %d')",
		    ESMPI_POL_VERSION);
		goto out;
	}
	if ((r = parse_num(c, v, "'version'", NUM_INT, &version)) != 0)
		goto out;
	if (version != ESMPI_POL_VERSION) {
		r = perr(c, v, "unsupported policy version %s (expected %d)",
		    Q(q, v->str), ESMPI_POL_VERSION);
		goto out;
	}
	p->version = ESMPI_POL_VERSION;

	if (parent != NULL) {
		p->floor = parent->floor;
		p->defaults = parent->defaults;
	} else {
		p->floor = ESMPI_SUITE_AES_128_GCM;
		if ((v = map_get(root, "floor")) != NULL &&
		    (r = parse_suite(c, v, "'floor'", NULL, &p->floor)) != 0)
			goto out;
		if ((r = parse_access(c, root, p)) != 0)
			goto out;
		settings_builtin(&p->defaults);
	}
	if ((floor = esmpi_suite_by_id(p->floor)) == NULL) {
		r = err_at(c, 0, 0, "suite table is missing suite %d",
		    p->floor);
		goto out;
	}

	if ((v = map_get_set(root, "defaults")) != NULL) {
		if ((r = want_map(c, v, "'defaults'")) != 0 ||
		    (r = check_keys(c, v, set_keys, NELEM(set_keys),
		    "in defaults")) != 0 ||
		    (r = parse_settings(c, v, "in defaults", floor,
		    &p->defaults)) != 0)
			goto out;
	}
	if ((v = map_get_set(root, "rules")) != NULL &&
	    (r = parse_rules(c, v, p, floor)) != 0)
		goto out;
	if (parent == NULL && (v = map_get_set(root, "projects")) != NULL &&
	    (r = parse_projects(c, v, basedir != NULL ? basedir : ".",
	    p)) != 0)
		goto out;

	*out = p;
	p = NULL;
	r = 0;
 out:
	tree_free(root);
	esmpi_pol_free(p);
	return r;
}

int
esmpi_pol_load_buf(const char *name, const char *buf, size_t len,
    const char *basedir, struct esmpi_policy **out,
    struct esmpi_pol_error *err)
{
	struct esmpi_pol_error dummy;
	struct pctx c;

	if (err == NULL)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	c.files = NULL;
	c.file = name != NULL ? name : "<buffer>";
	c.buf = buf;
	c.len = len;
	c.err = err;
	if (out == NULL || (buf == NULL && len != 0)) {
		err_at(&c, 0, 0, "invalid argument");
		return ESMPI_ERR_INVALID;
	}
	if (buf == NULL)
		c.buf = "";
	return pol_parse(&c, basedir, NULL, out);
}

int
esmpi_pol_load_file(const char *path, struct esmpi_policy **out,
    struct esmpi_pol_error *err)
{
	return esmpi_pol_load_files(path, NULL, out, err);
}

int
esmpi_pol_load_files(const char *path, struct esmpi_pol_files *files,
    struct esmpi_policy **out, struct esmpi_pol_error *err)
{
	struct esmpi_pol_error dummy;
	struct pctx c;
	char *buf = NULL, *dir = NULL, *slash, why[PATH_MAX + 128];
	size_t len = 0;
	long long size = 0;
	int r;

	if (err == NULL)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	c.files = files;
	c.file = path != NULL ? path : "";
	c.buf = "";
	c.len = 0;
	c.err = err;
	if (path == NULL || out == NULL) {
		err_at(&c, 0, 0, "invalid argument");
		return ESMPI_ERR_INVALID;
	}
	if ((r = esmpi_pol_get_file(files, path, &buf, &len, &size, why,
	    sizeof(why))) != 0) {
		if (r == ESMPI_ERR_NOMEM)
			r = nomem(&c);
		else if (r == ESMPI_ERR_DENIED)
			r = err_at(&c, 0, 0, "%s", why);
		else if (r == ESMPI_ERR_TOO_LARGE)
			r = err_at(&c, 0, 0, "policy file is too large "
			    "(%lld bytes, at most %d)", size,
			    ESMPI_POL_MAX_FILE);
		else if (r == ESMPI_ERR_INVALID)
			r = err_at(&c, 0, 0, "not a regular file");
		else {
			err_at(&c, 0, 0, "cannot read policy file: %s",
			    strerror(errno));
			r = ESMPI_ERR_SYSTEM;
		}
		goto out;
	}
	if ((dir = strdup(path)) == NULL) {
		r = nomem(&c);
		goto out;
	}
	if ((slash = strrchr(dir, '/')) == NULL) {
		free(dir);
		dir = strdup(".");
	} else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (dir == NULL) {
		r = nomem(&c);
		goto out;
	}
	c.buf = buf;
	c.len = len;
	r = pol_parse(&c, dir, NULL, out);
 out:
	free(buf);
	free(dir);
	return r;
}

int
esmpi_pol_default(const char *user, struct esmpi_policy **out)
{
	struct esmpi_policy *p = NULL;
	const char *s;
	int r;

	if (user == NULL || *user == '\0' || strlen(user) > POL_MAX_STR ||
	    out == NULL)
		return ESMPI_ERR_INVALID;
	for (s = user; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return ESMPI_ERR_INVALID;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->source = strdup("<embedded>")) == NULL ||
	    (p->users = calloc(1, sizeof(*p->users))) == NULL ||
	    (p->users[0] = strdup(user)) == NULL) {
		r = ESMPI_ERR_NOMEM;
		goto out;
	}
	p->nusers = 1;
	p->version = ESMPI_POL_VERSION;
	p->floor = ESMPI_SUITE_AES_128_GCM;
	settings_builtin(&p->defaults);
	*out = p;
	p = NULL;
	r = 0;
 out:
	esmpi_pol_free(p);
	return r;
}

void
esmpi_pol_free(struct esmpi_policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	free(p->source);
	for (i = 0; i < p->nusers; i++)
		free(p->users[i]);
	free(p->users);
	for (i = 0; i < p->ngroups; i++)
		free(p->groups[i]);
	free(p->groups);
	for (i = 0; i < p->nrules; i++) {
		free(p->rules[i].name);
		free(p->rules[i].comm);
		free(p->rules[i].tags);
	}
	free(p->rules);
	for (i = 0; i < p->nprojects; i++) {
		free(p->projects[i].name);
		free(p->projects[i].path);
		esmpi_pol_free(p->projects[i].policy);
	}
	free(p->projects);
	free(p);
}

void
esmpi_pol_error_format(const struct esmpi_pol_error *e, char *buf,
    size_t len)
{
	if (buf == NULL || len == 0)
		return;
	if (e == NULL)
		snprintf(buf, len, "(no error)");
	else if (e->line > 0)
		snprintf(buf, len, "%s:%d:%d: %s", e->file, e->line,
		    e->column, e->msg);
	else
		snprintf(buf, len, "%s: %s", e->file, e->msg);
}

/* --- canonical output --- */

struct sbuf {
	char *d;
	size_t len, cap;
	int failed;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t ncap;
	char *d;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->d != NULL ? b->d + b->len : NULL,
		    b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		ncap = b->cap ? b->cap * 2 : 1024;
		while (ncap - b->len <= (size_t)n)
			ncap *= 2;
		if ((d = realloc(b->d, ncap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->d = d;
		b->cap = ncap;
	}
}

/* A YAML double-quoted scalar; \xNN for the bytes the parser refuses. */
static void
sb_quoted(struct sbuf *b, const char *s)
{
	sb_printf(b, "\"");
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			sb_printf(b, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			sb_printf(b, "\\x%02x", ch);
		else
			sb_printf(b, "%c", ch);
	}
	sb_printf(b, "\"");
}

static void
sb_size(struct sbuf *b, uint64_t v)
{
	size_t i;

	for (i = NELEM(size_suffixes) - 1; i > 0; i--) {
		if (v != 0 && v % size_suffixes[i].mult == 0) {
			sb_printf(b, "%" PRIu64 "%s", v / size_suffixes[i].mult,
			    size_suffixes[i].s);
			return;
		}
	}
	sb_printf(b, "%" PRIu64, v);
}

static int
fmt_settings(struct sbuf *b, const char *ind,
    const struct esmpi_pol_settings *s)
{
	const struct esmpi_suite_info *si;

	if ((si = esmpi_suite_by_id(s->suite)) == NULL ||
	    s->sign < 0 || (size_t)s->sign >= NELEM(sign_names) ||
	    s->unprotected < 0 ||
	    (size_t)s->unprotected >= NELEM(unprot_names) ||
	    s->scope < 0 || (size_t)s->scope >= NELEM(scope_names))
		return ESMPI_ERR_INVALID;
	sb_printf(b, "%ssuite: %s\n", ind, si->name);
	sb_printf(b, "%ssign: %s\n", ind, sign_names[s->sign]);
	sb_printf(b, "%srekey: {messages: %" PRIu64 ", bytes: ", ind,
	    s->rekey.messages);
	sb_size(b, s->rekey.bytes);
	sb_printf(b, ", seconds: %" PRIu64 "}\n", s->rekey.seconds);
	sb_printf(b, "%sunprotected: %s\n", ind,
	    unprot_names[s->unprotected]);
	sb_printf(b, "%sscope: %s\n", ind, scope_names[s->scope]);
	return 0;
}

static void
fmt_names(struct sbuf *b, const char *key, char *const *names, size_t n)
{
	size_t i;

	sb_printf(b, "  %s: [", key);
	for (i = 0; i < n; i++) {
		if (i > 0)
			sb_printf(b, ", ");
		sb_quoted(b, names[i]);
	}
	sb_printf(b, "]\n");
}

static int
fmt_rule(struct sbuf *b, const struct esmpi_pol_rule *rule)
{
	size_t i;

	sb_printf(b, "  - name: ");
	sb_quoted(b, rule->name);
	sb_printf(b, "\n    match: {");
	if (rule->comm != NULL) {
		sb_printf(b, "comm: ");
		sb_quoted(b, rule->comm);
	}
	if (rule->ntags > 0) {
		sb_printf(b, "%stags: [", rule->comm != NULL ? ", " : "");
		for (i = 0; i < rule->ntags; i++) {
			if (i > 0)
				sb_printf(b, ", ");
			if (rule->tags[i].lo == rule->tags[i].hi)
				sb_printf(b, "%d", rule->tags[i].lo);
			else
				sb_printf(b, "\"%d-%d\"", rule->tags[i].lo,
				    rule->tags[i].hi);
		}
		sb_printf(b, "]");
	}
	sb_printf(b, "}\n");
	return fmt_settings(b, "    ", &rule->set);
}

/* Defaults and rules, each line behind prefix ("" or "# "). */
static int
fmt_body(struct sbuf *b, const char *prefix, const struct esmpi_policy *p)
{
	struct sbuf t = { NULL, 0, 0, 0 };
	const char *line, *nl;
	size_t i;
	int r;

	sb_printf(&t, "defaults:\n");
	if ((r = fmt_settings(&t, "  ", &p->defaults)) != 0)
		goto out;
	sb_printf(&t, "rules:%s\n", p->nrules == 0 ? " []" : "");
	for (i = 0; i < p->nrules; i++) {
		if ((r = fmt_rule(&t, &p->rules[i])) != 0)
			goto out;
	}
	if (t.failed) {
		r = ESMPI_ERR_NOMEM;
		goto out;
	}
	for (line = t.d; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			break;
		sb_printf(b, "%s%.*s\n", prefix, (int)(nl - line), line);
	}
	r = 0;
 out:
	free(t.d);
	return r;
}

/*
 * Project files cannot be inlined (a project's value is its path), so
 * their resolved content follows as comments for `esmpictl policy show`.
 */
int
esmpi_pol_format(const struct esmpi_policy *p, char **out)
{
	const struct esmpi_suite_info *floor;
	const struct esmpi_pol_project *proj;
	struct sbuf b = { NULL, 0, 0, 0 };
	char src[256];
	size_t i;
	int r;

	if (p == NULL || out == NULL ||
	    (floor = esmpi_suite_by_id(p->floor)) == NULL)
		return ESMPI_ERR_INVALID;
	/* quote() keeps a newline in a file name from ending the comment. */
	sb_printf(&b, "# esmpi policy (canonical form of %s)\n",
	    quote(src, sizeof(src), p->source != NULL ? p->source :
	    "<unknown>", 200));
	sb_printf(&b, "version: %d\naccess:\n", p->version);
	fmt_names(&b, "users", p->users, p->nusers);
	fmt_names(&b, "groups", p->groups, p->ngroups);
	sb_printf(&b, "floor: %s\n", floor->name);
	if ((r = fmt_body(&b, "", p)) != 0)
		goto out;
	if (p->nprojects > 0)
		sb_printf(&b, "projects:\n");
	for (i = 0; i < p->nprojects; i++) {
		sb_printf(&b, "  ");
		sb_quoted(&b, p->projects[i].name);
		sb_printf(&b, ": ");
		sb_quoted(&b, p->projects[i].path);
		sb_printf(&b, "\n");
	}
	for (i = 0; i < p->nprojects; i++) {
		proj = &p->projects[i];
		if (proj->policy == NULL)
			continue;
		sb_printf(&b, "#\n# project ");
		sb_quoted(&b, proj->name);
		sb_printf(&b, " as loaded (floor and defaults inherited):\n");
		if ((r = fmt_body(&b, "#   ", proj->policy)) != 0)
			goto out;
	}
	if (b.failed) {
		r = ESMPI_ERR_NOMEM;
		goto out;
	}
	*out = b.d;
	b.d = NULL;
	r = 0;
 out:
	free(b.d);
	return r;
}

/* --- access --- */

static int
name_listed(char *const *names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(names[i], name) == 0)
			return 1;
	}
	return 0;
}

static int
group_listed(const struct esmpi_policy *p, gid_t gid)
{
	struct group gr, *grp = NULL;
	char *buf = NULL, *nbuf;
	size_t len = 1024;
	int e, listed = 0;

	for (;;) {
		if ((nbuf = realloc(buf, len)) == NULL)
			goto out;
		buf = nbuf;
		e = getgrgid_r(gid, &gr, buf, len, &grp);
		if (e != ERANGE || len >= (1U << 20))
			break;
		len *= 2;
	}
	if (e == 0 && grp != NULL && grp->gr_name != NULL)
		listed = name_listed(p->groups, p->ngroups, grp->gr_name);
 out:
	free(buf);
	return listed;
}

/*
 * Allowed when the user's name is listed, or the name of gid (the peer's
 * group), of the user's passwd group or of one of its supplementary groups.
 * Any failure to look them up denies: this gates session creation.
 */
int
esmpi_pol_allows(const struct esmpi_policy *p, unsigned int uid,
    unsigned int gid)
{
	struct passwd pw, *pwp = NULL;
	char *buf = NULL, *nbuf;
	gid_t *groups = NULL, *ng;
	size_t len = 1024;
	int e, i, n, prev, allowed = 0;

	if (p == NULL)
		return 0;
	for (;;) {
		if ((nbuf = realloc(buf, len)) == NULL)
			goto out;
		buf = nbuf;
		e = getpwuid_r((uid_t)uid, &pw, buf, len, &pwp);
		if (e != ERANGE || len >= (1U << 20))
			break;
		len *= 2;
	}
	if (e != 0)
		pwp = NULL;
	if (pwp != NULL && pwp->pw_name != NULL &&
	    name_listed(p->users, p->nusers, pwp->pw_name)) {
		allowed = 1;
		goto out;
	}
	if (p->ngroups == 0)
		goto out;
	if (group_listed(p, (gid_t)gid)) {
		allowed = 1;
		goto out;
	}
	if (pwp == NULL)
		goto out;
	n = 32;
	for (;;) {
		if ((ng = reallocarray(groups, (size_t)n,
		    sizeof(*groups))) == NULL)
			goto out;
		groups = ng;
		prev = n;
		if (getgrouplist(pwp->pw_name, pwp->pw_gid, groups, &n) != -1)
			break;
		/* glibc reports the size it needs; stop if it does not grow. */
		if (n <= prev) {
			if (prev >= 65536)
				goto out;
			n = prev * 2;
		}
	}
	for (i = 0; i < n; i++) {
		if (group_listed(p, groups[i])) {
			allowed = 1;
			goto out;
		}
	}
 out:
	free(groups);
	free(buf);
	return allowed;
}
