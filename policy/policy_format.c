/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A policy formatted back to YAML (esmpi_pol_format) in a canonical form
 * that loads as the same policy: for `esmpictl policy show`.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_policy.h"
#include "policy_internal.h"

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

	for (i = NELEM(pol_size_suffixes) - 1; i > 0; i--) {
		if (v != 0 && v % pol_size_suffixes[i].mult == 0) {
			sb_printf(b, "%" PRIu64 "%s",
			    v / pol_size_suffixes[i].mult,
			    pol_size_suffixes[i].s);
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
	    s->sign < 0 || (size_t)s->sign >= NELEM(pol_sign_names) ||
	    s->unprotected < 0 ||
	    (size_t)s->unprotected >= NELEM(pol_unprot_names) ||
	    s->scope < 0 || (size_t)s->scope >= NELEM(pol_scope_names))
		return ESMPI_ERR_INVALID;
	sb_printf(b, "%ssuite: %s\n", ind, si->name);
	sb_printf(b, "%ssign: %s\n", ind, pol_sign_names[s->sign]);
	sb_printf(b, "%srekey: {messages: %" PRIu64 ", bytes: ", ind,
	    s->rekey.messages);
	sb_size(b, s->rekey.bytes);
	sb_printf(b, ", seconds: %" PRIu64 "}\n", s->rekey.seconds);
	sb_printf(b, "%sunprotected: %s\n", ind,
	    pol_unprot_names[s->unprotected]);
	sb_printf(b, "%sscope: %s\n", ind, pol_scope_names[s->scope]);
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
	/* pol_quote() keeps a newline in a file name from ending the
	 * comment. */
	sb_printf(&b, "# esmpi policy (canonical form of %s)\n",
	    pol_quote(src, sizeof(src), p->source != NULL ? p->source :
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
