/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading a policy: the esmpi_pol_load_* calls, the main file's folder
 * as the base of relative project paths, and the project files, each
 * read (policy_files.c), built into a tree (policy_yaml.c) and checked
 * (policy_schema.c) under the main policy, whose floor and defaults it
 * inherits.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esmpi_err.h"
#include "esmpi_policy.h"
#include "policy_files.h"
#include "policy_internal.h"

/* --- projects --- */

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
		r = pol_nomem(c);
		goto out;
	}
	if (proj->path[0] == '/')
		memcpy(resolved, proj->path, rlen);
	else
		snprintf(resolved, rlen, "%s/%s", basedir, proj->path);
	pol_quote(qp, sizeof(qp), resolved, 120);
	Q(qn, proj->name);
	if ((r = esmpi_pol_get_file(c->files, resolved, &buf, &len, &size,
	    why, sizeof(why))) != 0) {
		if (r == ESMPI_ERR_NOMEM)
			r = pol_nomem(c);
		else if (r == ESMPI_ERR_DENIED)
			r = pol_perr(c, v, "project '%s' file: %s", qn, why);
		else if (r == ESMPI_ERR_TOO_LARGE)
			r = pol_perr(c, v, "project '%s' file '%s' is too "
			    "large (%lld bytes, at most %d)", qn, qp, size,
			    ESMPI_POL_MAX_FILE);
		else if (r == ESMPI_ERR_INVALID)
			r = pol_perr(c, v, "project '%s' file '%s' is not a "
			    "regular file", qn, qp);
		else
			/* Loads run single-threaded (startup, SIGHUP). */
			r = pol_perr(c, v, "cannot read project '%s' file "
			    "'%s': %s", qn, qp, strerror(errno));
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

	if ((r = pol_want_map(c, n, "'projects'")) != 0)
		return r;
	count = n->nkids / 2;
	if (count > ESMPI_POL_MAX_NAMES)
		return pol_perr(c, n, "too many projects (%zu, at most %d)",
		    count, ESMPI_POL_MAX_NAMES);
	if (count == 0)
		return 0;
	if ((p->projects = calloc(count, sizeof(*p->projects))) == NULL)
		return pol_nomem(c);
	p->nprojects = count;
	for (i = 0; i < count; i++) {
		k = n->kids[2 * i];
		v = n->kids[2 * i + 1];
		proj = &p->projects[i];
		if ((r = pol_parse_string(c, k, "project name",
		    &proj->name)) != 0)
			return r;
		if (!valid_project_name(proj->name))
			return pol_perr(c, k, "project name '%s' may only use "
			    "letters, digits, '.', '_' and '-'",
			    Q(q, proj->name));
		for (j = 0; j < i; j++) {
			if (strcmp(p->projects[j].name, proj->name) == 0)
				return pol_perr(c, k, "duplicate project '%s' "
				    "(first defined at line %d)",
				    Q(q, proj->name), n->kids[2 * j]->line);
		}
		snprintf(what, sizeof(what), "project '%s'", Q(q, proj->name));
		if ((r = pol_parse_string(c, v, what, &proj->path)) != 0 ||
		    (r = load_project(c, v, basedir, p, proj)) != 0)
			return r;
	}
	return 0;
}

/* --- a file --- */

/*
 * Parse c->buf as a main policy (parent NULL) or as a project file under
 * parent, whose floor and defaults it inherits.
 */
static int
pol_parse(struct pctx *c, const char *basedir,
    const struct esmpi_policy *parent, struct esmpi_policy **out)
{
	struct esmpi_policy *p = NULL;
	const struct pnode *v;
	struct pnode *root = NULL;
	int r;

	if ((r = pol_tree_build(c, &root)) != 0 ||
	    (r = pol_schema(c, root, parent, &p)) != 0)
		goto out;
	if (parent == NULL && (v = pol_map_get_set(root, "projects")) != NULL &&
	    (r = parse_projects(c, v, basedir != NULL ? basedir : ".",
	    p)) != 0)
		goto out;

	*out = p;
	p = NULL;
	r = 0;
 out:
	pol_tree_free(root);
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
		pol_err_at(&c, 0, 0, "invalid argument");
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
		pol_err_at(&c, 0, 0, "invalid argument");
		return ESMPI_ERR_INVALID;
	}
	if ((r = esmpi_pol_get_file(files, path, &buf, &len, &size, why,
	    sizeof(why))) != 0) {
		if (r == ESMPI_ERR_NOMEM)
			r = pol_nomem(&c);
		else if (r == ESMPI_ERR_DENIED)
			r = pol_err_at(&c, 0, 0, "%s", why);
		else if (r == ESMPI_ERR_TOO_LARGE)
			r = pol_err_at(&c, 0, 0, "policy file is too large "
			    "(%lld bytes, at most %d)", size,
			    ESMPI_POL_MAX_FILE);
		else if (r == ESMPI_ERR_INVALID)
			r = pol_err_at(&c, 0, 0, "not a regular file");
		else {
			pol_err_at(&c, 0, 0, "cannot read policy file: %s",
			    strerror(errno));
			r = ESMPI_ERR_SYSTEM;
		}
		goto out;
	}
	if ((dir = strdup(path)) == NULL) {
		r = pol_nomem(&c);
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
		r = pol_nomem(&c);
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
