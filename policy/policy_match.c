/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rule matching. Kept apart from the parser and free of libyaml because
 * the client library links it to apply the rules esmpid resolved.
 */
#include <fnmatch.h>
#include <stddef.h>
#include <string.h>

#include "esmpi_err.h"
#include "esmpi_policy.h"

static int
rule_matches(const struct esmpi_pol_rule *r, const char *comm, int tag)
{
	size_t i;

	/* An unnamed communicator only matches globs that accept "". */
	if (r->comm != NULL &&
	    fnmatch(r->comm, comm != NULL ? comm : "", 0) != 0)
		return 0;
	if (r->tags == NULL || r->ntags == 0)
		return 1;
	for (i = 0; i < r->ntags; i++) {
		if (tag >= r->tags[i].lo && tag <= r->tags[i].hi)
			return 1;
	}
	return 0;
}

int
esmpi_pol_match_rules(const struct esmpi_pol_rule *rules, size_t nrules,
    const struct esmpi_pol_settings *defaults, const char *comm, int tag,
    struct esmpi_pol_settings *out)
{
	size_t i;

	for (i = 0; i < nrules; i++) {
		if (rule_matches(&rules[i], comm, tag)) {
			if (out != NULL)
				*out = rules[i].set;
			/* Bounded by ESMPI_POL_MAX_RULES, so it fits. */
			return (int)i;
		}
	}
	if (out != NULL && defaults != NULL)
		*out = *defaults;
	return -1;
}

int
esmpi_pol_resolve(const struct esmpi_policy *p, const char *project,
    const char *comm, int tag, struct esmpi_pol_settings *out,
    const char **rule_name)
{
	const struct esmpi_policy *sel = NULL;
	struct esmpi_pol_settings set;
	size_t i;
	int idx;

	if (p == NULL)
		return ESMPI_ERR_INVALID;
	if (project == NULL || *project == '\0')
		sel = p;
	else {
		for (i = 0; i < p->nprojects; i++) {
			if (p->projects[i].name != NULL &&
			    strcmp(p->projects[i].name, project) == 0) {
				sel = p->projects[i].policy;
				break;
			}
		}
	}
	if (sel == NULL)
		return ESMPI_ERR_INVALID;

	idx = esmpi_pol_match_rules(sel->rules, sel->nrules, &sel->defaults,
	    comm, tag, &set);
	if (out != NULL)
		*out = set;
	if (rule_name != NULL)
		*rule_name = idx < 0 ? NULL : sel->rules[idx].name;
	return 0;
}
