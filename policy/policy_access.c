/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Access decisions (esmpi_pol_allows): whether a peer's user may open
 * sessions under a policy, by the names of its user and groups as the
 * system's user and group databases give them.
 */
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "esmpi_policy.h"

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
