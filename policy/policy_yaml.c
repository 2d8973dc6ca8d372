/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The YAML tree, the only file that sees libyaml. Its event stream is
 * turned into a small tree of scalars, lists and mappings with their
 * line and column, refusing anchors, aliases, extra documents, deep
 * nesting and control characters as they arrive, so nothing a hostile
 * file does can expand. Also the parse errors, which are placed by the
 * tree's positions.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "esmpi_err.h"
#include "esmpi_policy.h"
#include "policy_internal.h"

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

int
pol_err_at(struct pctx *c, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(c->err, c->file, line, col, fmt, ap);
	va_end(ap);
	return ESMPI_ERR_POLICY;
}

int
pol_perr(struct pctx *c, const struct pnode *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(c->err, c->file, n->line, n->col, fmt, ap);
	va_end(ap);
	return ESMPI_ERR_POLICY;
}

int
pol_nomem(struct pctx *c)
{
	pol_err_at(c, 0, 0, "out of memory");
	return ESMPI_ERR_NOMEM;
}

/* --- the tree --- */

void
pol_tree_free(struct pnode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		pol_tree_free(n->kids[i]);
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
		return pol_nomem(c);
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
			return pol_err_at(c, line, col, "invalid YAML input: "
			    "%s (byte 0x%02x)", problem,
			    (unsigned int)yp->problem_value & 0xffU);
		return pol_err_at(c, line, col, "invalid YAML input: %s",
		    problem);
	default:
		line = (int)yp->problem_mark.line + 1;
		col = (int)yp->problem_mark.column + 1;
		if (yp->context != NULL)
			return pol_err_at(c, line, col, "YAML syntax error: "
			    "%s %s", problem, yp->context);
		return pol_err_at(c, line, col, "YAML syntax error: %s",
		    problem);
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
		return pol_nomem(c);
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
				return pol_err_at(c,
				    (int)ev->start_mark.line + 1,
				    (int)ev->start_mark.column + 1,
				    "control characters are not allowed "
				    "in values");
			}
		}
		if ((n->str = malloc(n->len + 1)) == NULL) {
			free(n);
			return pol_nomem(c);
		}
		memcpy(n->str, ev->data.scalar.value, n->len);
		n->str[n->len] = '\0';
	}
	*out = n;
	return 0;
}

int
pol_tree_build(struct pctx *c, struct pnode **out)
{
	yaml_parser_t yp;
	yaml_event_t ev;
	struct pnode *stack[ESMPI_POL_MAX_DEPTH];
	struct pnode *root = NULL, *n = NULL, *parent;
	const unsigned char *anchor;
	size_t depth = 0;
	int ndocs = 0, done = 0, have_ev = 0, r;
	enum pnode_kind kind;

	if (c->len > ESMPI_POL_MAX_FILE)
		return pol_err_at(c, 0, 0, "policy file is too large (%zu "
		    "bytes, at most %d)", c->len, ESMPI_POL_MAX_FILE);
	if (!yaml_parser_initialize(&yp))
		return pol_nomem(c);
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
				r = pol_err_at(c, (int)ev.start_mark.line + 1,
				    (int)ev.start_mark.column + 1,
				    "multiple YAML documents are not allowed");
				goto out;
			}
			break;
		case YAML_ALIAS_EVENT:
			r = pol_err_at(c, (int)ev.start_mark.line + 1,
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
				r = pol_err_at(c, (int)ev.start_mark.line + 1,
				    (int)ev.start_mark.column + 1,
				    "anchors and aliases are not allowed");
				goto out;
			}
			if (kind != PN_SCALAR && depth == ESMPI_POL_MAX_DEPTH) {
				r = pol_err_at(c, (int)ev.start_mark.line + 1,
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
					r = pol_perr(c, n, "mapping keys must "
					    "be plain strings");
					pol_tree_free(n);
					n = NULL;
					goto out;
				}
				if (tree_append(parent, n) != 0) {
					pol_tree_free(n);
					n = NULL;
					r = pol_nomem(c);
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
		r = pol_err_at(c, 1, 1, "empty policy");
		goto out;
	}
	*out = root;
	root = NULL;
	r = 0;
 out:
	if (have_ev)
		yaml_event_delete(&ev);
	yaml_parser_delete(&yp);
	pol_tree_free(root);
	return r;
}

/* --- tree helpers --- */

int
pol_is_null(const struct pnode *n)
{
	if (n->kind != PN_SCALAR || !n->plain)
		return 0;
	return n->len == 0 || strcmp(n->str, "~") == 0 ||
	    strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
	    strcmp(n->str, "NULL") == 0;
}

const char *
pol_kind_name(const struct pnode *n)
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

const struct pnode *
pol_map_get(const struct pnode *map, const char *key)
{
	size_t i;

	for (i = 0; i + 1 < map->nkids; i += 2) {
		if (strcmp(map->kids[i]->str, key) == 0)
			return map->kids[i + 1];
	}
	return NULL;
}

/* A present, non-null value; null means "not set" for optional sections. */
const struct pnode *
pol_map_get_set(const struct pnode *map, const char *key)
{
	const struct pnode *v = pol_map_get(map, key);

	return (v == NULL || pol_is_null(v)) ? NULL : v;
}
