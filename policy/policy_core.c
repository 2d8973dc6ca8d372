/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy structure itself, below every other file of policy/: the
 * names its values take in files (read by the schema, written by the
 * format), the built-in settings, the embedded default policy, freeing,
 * and the printable quoting and error text that messages use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_policy.h"
#include "policy_internal.h"

const char *const pol_sign_names[] = { "none", "ecdsa-p256" };
const char *const pol_unprot_names[] = { "deny", "audit", "allow" };
const char *const pol_scope_names[] = { "all", "inter-node" };

const struct pol_suffix pol_size_suffixes[] = {
	{ "", 1 },
	{ "KiB", 1ULL << 10 },
	{ "MiB", 1ULL << 20 },
	{ "GiB", 1ULL << 30 },
	{ "TiB", 1ULL << 40 },
};

/*
 * A short printable copy of an input value for a message: a policy file
 * may be large or hostile, so at most max bytes are echoed, cut on a UTF-8
 * boundary, with control bytes replaced.
 */
const char *
pol_quote(char *dst, size_t dstlen, const char *s, size_t max)
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

void
pol_settings_builtin(struct esmpi_pol_settings *s)
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
	pol_settings_builtin(&p->defaults);
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
