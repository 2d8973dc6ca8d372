/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The schema: a YAML tree (policy_yaml.c) checked into a struct
 * esmpi_policy, key by key: the allowed keys of each mapping, the value
 * types, suites and the floor, sizes and durations, rekey limits, tags,
 * rules, access lists and the defaults rules start from. Each refusal
 * names the place and what was expected.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_limits.h"
#include "esmpi_policy.h"
#include "policy_internal.h"

#define POL_MAX_TAG	2147483647L
#define POL_SUITES	"aes-256-gcm, aes-128-gcm, chacha20-poly1305, none"

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

/* --- keys and types --- */

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
			return pol_perr(c, key, "unknown key '%s' %s (expected "
			    "one of: %s)", Q(q, key->str), where, list);
		}
		if (first[j] != NULL)
			return pol_perr(c, key, "duplicate key '%s' %s (first "
			    "at line %d)", key->str, where, first[j]->line);
		first[j] = key;
	}
	return 0;
}

int
pol_want_map(struct pctx *c, const struct pnode *n, const char *what)
{
	if (n->kind != PN_MAP)
		return pol_perr(c, n, "%s must be a mapping, not %s", what,
		    pol_kind_name(n));
	return 0;
}

static int
want_seq(struct pctx *c, const struct pnode *n, const char *what)
{
	if (n->kind != PN_SEQ)
		return pol_perr(c, n, "%s must be a list, not %s", what,
		    pol_kind_name(n));
	return 0;
}

static int
want_scalar(struct pctx *c, const struct pnode *n, const char *what)
{
	if (n->kind != PN_SCALAR)
		return pol_perr(c, n, "%s must be a scalar, not %s", what,
		    pol_kind_name(n));
	if (pol_is_null(n))
		return pol_perr(c, n, "%s has no value", what);
	return 0;
}

int
pol_parse_string(struct pctx *c, const struct pnode *n, const char *what,
    char **out)
{
	char *s;
	int r;

	if ((r = want_scalar(c, n, what)) != 0)
		return r;
	if (n->len == 0)
		return pol_perr(c, n, "%s is empty", what);
	if (n->len > POL_MAX_STR)
		return pol_perr(c, n, "%s is too long (%zu bytes, at most %d)",
		    what, n->len, POL_MAX_STR);
	if ((s = strdup(n->str)) == NULL)
		return pol_nomem(c);
	*out = s;
	return 0;
}

/* --- values --- */

enum num_kind {
	NUM_INT,
	NUM_SIZE,
	NUM_SECONDS,
};

static const struct pol_suffix time_suffixes[] = {
	{ "", 1 },
	{ "s", 1 },
	{ "m", 60 },
	{ "h", 3600 },
};

static int
parse_num(struct pctx *c, const struct pnode *n, const char *what,
    enum num_kind kind, uint64_t *out)
{
	const struct pol_suffix *sfx;
	const char *s, *expect;
	char q[64];
	uint64_t v = 0, d;
	size_t i, nsfx;
	int r;

	if ((r = want_scalar(c, n, what)) != 0)
		return r;
	switch (kind) {
	case NUM_SIZE:
		sfx = pol_size_suffixes;
		nsfx = NELEM(pol_size_suffixes);
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
		sfx = pol_size_suffixes;
		nsfx = 1;
		expect = "an integer";
		break;
	}
	s = n->str;
	if (s[0] == '-' && s[1] >= '0' && s[1] <= '9')
		return pol_perr(c, n, "%s must not be negative", what);
	if (*s < '0' || *s > '9')
		return pol_perr(c, n, "%s must be %s, not '%s'", what, expect,
		    Q(q, n->str));
	for (; *s >= '0' && *s <= '9'; s++) {
		d = (uint64_t)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return pol_perr(c, n, "%s is too large", what);
		v = v * 10 + d;
	}
	for (i = 0; i < nsfx; i++) {
		if (strcmp(s, sfx[i].s) == 0)
			break;
	}
	if (i == nsfx)
		return pol_perr(c, n, "%s must be %s, not '%s'", what, expect,
		    Q(q, n->str));
	if (v > UINT64_MAX / sfx[i].mult)
		return pol_perr(c, n, "%s is too large", what);
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
		return pol_perr(c, n, "suite '%s' is not supported (64-bit "
		    "block cipher, Sweet32)", Q(q, n->str));
	if ((si = esmpi_suite_by_name(n->str)) == NULL)
		return pol_perr(c, n, "unknown suite '%s' (expected one of: "
		    POL_SUITES ")", Q(q, n->str));
	if (floor != NULL && si->strength < floor->strength)
		return pol_perr(c, n, "suite '%s' is below the floor '%s'",
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
	return pol_perr(c, n, "unknown value '%s' for %s (expected one of: %s)",
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
	if ((r = pol_want_map(c, n, what)) != 0)
		return r;
	/* "in defaults" becomes "in rekey of defaults". */
	snprintf(where, sizeof(where), "in rekey of %s",
	    strncmp(owner, "in ", 3) == 0 ? owner + 3 : owner);
	if ((r = check_keys(c, n, rekey_keys, NELEM(rekey_keys), where)) != 0)
		return r;
	/* Keys must be retired within the AEAD usage bounds (limits.h). */
	if ((v = pol_map_get(n, "messages")) != NULL) {
		snprintf(what, sizeof(what), "'messages' %s", where);
		if ((r = parse_num(c, v, what, NUM_INT, &rk->messages)) != 0)
			return r;
		if (rk->messages == 0 ||
		    rk->messages > ESMPI_REKEY_MAX_MESSAGES)
			return pol_perr(c, v, "%s must be from 1 to %llu "
			    "(2^32): a key may not seal more records", what,
			    (unsigned long long)ESMPI_REKEY_MAX_MESSAGES);
	}
	if ((v = pol_map_get(n, "bytes")) != NULL) {
		snprintf(what, sizeof(what), "'bytes' %s", where);
		if ((r = parse_num(c, v, what, NUM_SIZE, &rk->bytes)) != 0)
			return r;
		if (rk->bytes == 0 || rk->bytes > ESMPI_REKEY_MAX_BYTES)
			return pol_perr(c, v, "%s must be from 1 to 256GiB "
			    "(2^38): a key may not seal more bytes", what);
	}
	if ((v = pol_map_get(n, "seconds")) != NULL) {
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

	if ((v = pol_map_get(map, "suite")) != NULL) {
		snprintf(what, sizeof(what), "'suite' %s", where);
		if ((r = parse_suite(c, v, what, floor, &set->suite)) != 0)
			return r;
	}
	if ((v = pol_map_get(map, "sign")) != NULL) {
		snprintf(what, sizeof(what), "'sign' %s", where);
		if ((r = parse_enum(c, v, what, pol_sign_names,
		    NELEM(pol_sign_names), &set->sign)) != 0)
			return r;
	}
	if ((v = pol_map_get(map, "rekey")) != NULL &&
	    (r = parse_rekey(c, v, where, &set->rekey)) != 0)
		return r;
	if ((v = pol_map_get(map, "unprotected")) != NULL) {
		snprintf(what, sizeof(what), "'unprotected' %s", where);
		if ((r = parse_enum(c, v, what, pol_unprot_names,
		    NELEM(pol_unprot_names), &set->unprotected)) != 0)
			return r;
	}
	if ((v = pol_map_get(map, "scope")) != NULL) {
		snprintf(what, sizeof(what), "'scope' %s", where);
		if ((r = parse_enum(c, v, what, pol_scope_names,
		    NELEM(pol_scope_names), &set->scope)) != 0)
			return r;
	}
	return 0;
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
			return pol_perr(c, n, "tag %s is out of range "
			    "(0-2147483647)", Q(q, n->str));
		if (r != 0)
			return pol_perr(c, n, "invalid tag '%s' (expected an "
			    "integer or a 'lo-hi' range)", Q(q, n->str));
		t->lo = t->hi = lo;
		return 0;
	}
	rl = tag_num(n->str, (size_t)(dash - n->str), &lo);
	rh = tag_num(dash + 1, n->len - (size_t)(dash - n->str) - 1, &hi);
	if (rl == -1 || rh == -1)
		return pol_perr(c, n, "invalid tag range '%s' (expected "
		    "'lo-hi' with integers)", Q(q, n->str));
	if (rl != 0 || rh != 0)
		return pol_perr(c, n, "tag range %s is out of range "
		    "(0-2147483647)", Q(q, n->str));
	if (lo > hi)
		return pol_perr(c, n, "tag range %d-%d is reversed (lo > hi)",
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
			return pol_perr(c, n, "'tags' %s is an empty list",
			    where);
		if (n->nkids > ESMPI_POL_MAX_TAGS)
			return pol_perr(c, n, "too many tags %s (%zu, at most "
			    "%d)", where, n->nkids, ESMPI_POL_MAX_TAGS);
		items = (const struct pnode *const *)n->kids;
		nitems = n->nkids;
	} else {
		one[0] = n;
		items = one;
		nitems = 1;
	}
	if ((rule->tags = calloc(nitems, sizeof(*rule->tags))) == NULL)
		return pol_nomem(c);
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
			return pol_perr(c, items[i], "tag range %s overlaps %s",
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
		return pol_perr(c, n, "rule %zu must be a mapping, not %s",
		    idx + 1, pol_kind_name(n));
	rule->line = n->line;
	name = pol_map_get(n, "name");
	if (name != NULL && name->kind == PN_SCALAR && !pol_is_null(name))
		snprintf(where, sizeof(where), "in rule '%s'",
		    Q(q, name->str));
	else
		snprintf(where, sizeof(where), "in rule %zu", idx + 1);
	if ((r = check_keys(c, n, rule_keys, NELEM(rule_keys), where)) != 0)
		return r;
	if (name == NULL)
		return pol_perr(c, n, "rule %zu has no 'name'", idx + 1);
	snprintf(what, sizeof(what), "'name' %s", where);
	if ((r = pol_parse_string(c, name, what, &rule->name)) != 0)
		return r;
	for (j = 0; j < idx; j++) {
		if (strcmp(rules[j].name, rule->name) == 0)
			return pol_perr(c, name, "duplicate rule name '%s' "
			    "(first defined at line %d)", Q(q, rule->name),
			    rules[j].line);
	}

	if ((match = pol_map_get(n, "match")) == NULL)
		return pol_perr(c, n, "rule '%s' has no 'match'",
		    Q(q, rule->name));
	snprintf(what, sizeof(what), "'match' %s", where);
	if ((r = pol_want_map(c, match, what)) != 0)
		return r;
	snprintf(mwhere, sizeof(mwhere), "in match of rule '%s'",
	    Q(q, rule->name));
	if ((r = check_keys(c, match, match_keys, NELEM(match_keys),
	    mwhere)) != 0)
		return r;
	if ((v = pol_map_get(match, "comm")) != NULL) {
		snprintf(what, sizeof(what), "'comm' %s", mwhere);
		if ((r = pol_parse_string(c, v, what, &rule->comm)) != 0)
			return r;
	}
	if ((v = pol_map_get(match, "tags")) != NULL &&
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
		return pol_perr(c, n, "too many rules (%zu, at most %d)",
		    n->nkids, ESMPI_POL_MAX_RULES);
	if (n->nkids == 0)
		return 0;
	if ((p->rules = calloc(n->nkids, sizeof(*p->rules))) == NULL)
		return pol_nomem(c);
	/* Counted up front so esmpi_pol_free sees partly filled rules. */
	p->nrules = n->nkids;
	for (i = 0; i < n->nkids; i++) {
		if ((r = parse_rule(c, n->kids[i], i, &p->defaults, floor,
		    p->rules)) != 0)
			return r;
	}
	return 0;
}

/* --- access lists --- */

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
		return pol_perr(c, n, "too many entries in %s (%zu, at most "
		    "%d)", what, n->nkids, ESMPI_POL_MAX_NAMES);
	if (n->nkids == 0)
		return 0;
	if ((names = calloc(n->nkids, sizeof(*names))) == NULL)
		return pol_nomem(c);
	*out = names;
	*nout = n->nkids;
	for (i = 0; i < n->nkids; i++) {
		if ((r = pol_parse_string(c, n->kids[i], what, &names[i])) != 0)
			return r;
	}
	return 0;
}

static int
parse_access(struct pctx *c, const struct pnode *root, struct esmpi_policy *p)
{
	const struct pnode *n, *v;
	int r;

	if ((n = pol_map_get_set(root, "access")) == NULL)
		return pol_perr(c, root, "missing 'access' (the users and "
		    "groups who may open sessions)");
	if ((r = pol_want_map(c, n, "'access'")) != 0 ||
	    (r = check_keys(c, n, access_keys, NELEM(access_keys),
	    "in access")) != 0)
		return r;
	if ((v = pol_map_get_set(n, "users")) != NULL &&
	    (r = parse_names(c, v, "'users' in access", &p->users,
	    &p->nusers)) != 0)
		return r;
	if ((v = pol_map_get_set(n, "groups")) != NULL &&
	    (r = parse_names(c, v, "'groups' in access", &p->groups,
	    &p->ngroups)) != 0)
		return r;
	if (p->nusers + p->ngroups == 0)
		return pol_perr(c, n, "'access' lists no users or groups");
	return 0;
}

/* --- the policy --- */

/*
 * Check root as a main policy (parent NULL) or as a project file under
 * parent, whose floor and defaults it inherits. Sections are checked in
 * a fixed order, so the first error reported does not depend on key
 * order in the file; the projects come last, from the caller.
 */
int
pol_schema(struct pctx *c, const struct pnode *root,
    const struct esmpi_policy *parent, struct esmpi_policy **out)
{
	struct esmpi_policy *p = NULL;
	const struct esmpi_suite_info *floor;
	const struct pnode *v;
	uint64_t version;
	size_t i;
	char q[64];
	int r;

	if (pol_is_null(root)) {
		r = pol_perr(c, root, "empty policy");
		goto out;
	}
	if (root->kind != PN_MAP) {
		r = pol_perr(c, root, "a policy must be a mapping, not %s",
		    pol_kind_name(root));
		goto out;
	}
	if (parent != NULL) {
		/* Access and floor belong to the parent policy alone. */
		for (i = 0; i + 1 < root->nkids; i += 2) {
			v = root->kids[i];
			if (strcmp(v->str, "access") == 0 ||
			    strcmp(v->str, "floor") == 0 ||
			    strcmp(v->str, "projects") == 0) {
				r = pol_perr(c, v, "'%s' is not allowed in a "
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
		r = pol_nomem(c);
		goto out;
	}

	if ((v = pol_map_get(root, "version")) == NULL) {
		r = pol_perr(c, root, "missing 'version' (expected "
		    "'version: %d')", ESMPI_POL_VERSION);
		goto out;
	}
	if ((r = parse_num(c, v, "'version'", NUM_INT, &version)) != 0)
		goto out;
	if (version != ESMPI_POL_VERSION) {
		r = pol_perr(c, v, "unsupported policy version %s (expected "
		    "%d)", Q(q, v->str), ESMPI_POL_VERSION);
		goto out;
	}
	p->version = ESMPI_POL_VERSION;

	if (parent != NULL) {
		p->floor = parent->floor;
		p->defaults = parent->defaults;
	} else {
		p->floor = ESMPI_SUITE_AES_128_GCM;
		if ((v = pol_map_get(root, "floor")) != NULL &&
		    (r = parse_suite(c, v, "'floor'", NULL, &p->floor)) != 0)
			goto out;
		if ((r = parse_access(c, root, p)) != 0)
			goto out;
		pol_settings_builtin(&p->defaults);
	}
	if ((floor = esmpi_suite_by_id(p->floor)) == NULL) {
		r = pol_err_at(c, 0, 0, "suite table is missing suite %d",
		    p->floor);
		goto out;
	}

	if ((v = pol_map_get_set(root, "defaults")) != NULL) {
		if ((r = pol_want_map(c, v, "'defaults'")) != 0 ||
		    (r = check_keys(c, v, set_keys, NELEM(set_keys),
		    "in defaults")) != 0 ||
		    (r = parse_settings(c, v, "in defaults", floor,
		    &p->defaults)) != 0)
			goto out;
	}
	if ((v = pol_map_get_set(root, "rules")) != NULL &&
	    (r = parse_rules(c, v, p, floor)) != 0)
		goto out;

	*out = p;
	p = NULL;
	r = 0;
 out:
	esmpi_pol_free(p);
	return r;
}
