/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy esmpid resolved for this rank (its Hello reply): the default
 * settings and the rules, each a communicator glob and tag ranges. The
 * communicator layer matches them (comm/comm.c); MPI_Init compares their
 * digest between ranks (mpi/init.c).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "session/session.h"
#include "esmpi_err.h"

static void
settings_from_pb(const Esmpi__SuiteSettings *pb, struct esmpi_pol_settings *s)
{
	memset(s, 0, sizeof(*s));
	if (pb == NULL)
		return;
	s->suite = (int)pb->suite;
	s->sign = (int)pb->sign;
	s->rekey.messages = pb->rekey_messages;
	s->rekey.bytes = pb->rekey_bytes;
	s->rekey.seconds = pb->rekey_seconds;
	s->unprotected = (int)pb->unprotected;
	s->scope = (int)pb->scope;
}

/* Keep the rules the daemon resolved for us. */
int
esmpi_rules_take(const Esmpi__HelloReply *h)
{
	size_t i, j;

	settings_from_pb(h->defaults, &esmpi.defaults);
	/* Only AEAD suites: a reply naming none (or nothing) is refused. */
	if (h->defaults == NULL || esmpi.defaults.suite <= ESMPI_SUITE_NONE ||
	    esmpi_suite_by_id(esmpi.defaults.suite) == NULL)
		return ESMPI_ERR_SUITE;
	if ((esmpi.rules = calloc(h->n_rules + 1, sizeof(*esmpi.rules))) ==
	    NULL)
		return ESMPI_ERR_NOMEM;
	for (i = 0; i < h->n_rules; i++) {
		const Esmpi__Rule *pr = h->rules[i];
		struct esmpi_pol_rule *r = &esmpi.rules[i];

		esmpi.nrules++;		/* counted now: freed at Finalize */
		r->name = strdup(pr->name);
		r->comm = *pr->comm ? strdup(pr->comm) : NULL;
		r->ntags = pr->n_tags;
		r->tags = calloc(pr->n_tags + 1, sizeof(*r->tags));
		if (r->name == NULL || r->tags == NULL ||
		    (*pr->comm && r->comm == NULL))
			return ESMPI_ERR_NOMEM;
		for (j = 0; j < pr->n_tags; j++) {
			r->tags[j].lo = pr->tags[j]->lo;
			r->tags[j].hi = pr->tags[j]->hi;
		}
		settings_from_pb(pr->settings, &r->set);
		if (r->set.suite <= ESMPI_SUITE_NONE ||
		    esmpi_suite_by_id(r->set.suite) == NULL)
			return ESMPI_ERR_SUITE;
	}
	return 0;
}

/* Hash what decides records: settings, then each rule's match. */
static void
digest_settings(EVP_MD_CTX *md, const struct esmpi_pol_settings *s)
{
	const int32_t v[3] = { s->suite, s->sign, s->scope };

	EVP_DigestUpdate(md, v, sizeof(v));
}

int
esmpi_rules_digest(uint64_t d[4])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char out[32];
	size_t i, j;
	int ok;

	ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
	if (ok) {
		digest_settings(md, &esmpi.defaults);
		for (i = 0; i < esmpi.nrules; i++) {
			const struct esmpi_pol_rule *r = &esmpi.rules[i];
			const char *g = r->comm != NULL ? r->comm : "";
			const uint64_t n[2] = { strlen(g), r->ntags };

			EVP_DigestUpdate(md, n, sizeof(n));
			EVP_DigestUpdate(md, g, n[0]);
			for (j = 0; j < r->ntags; j++)
				EVP_DigestUpdate(md, &r->tags[j],
				    sizeof(r->tags[j]));
			digest_settings(md, &r->set);
		}
		ok = EVP_DigestFinal_ex(md, out, NULL) == 1;
	}
	EVP_MD_CTX_free(md);
	memcpy(d, out, sizeof(out));
	return ok ? 0 : ESMPI_ERR_CRYPTO;
}

void
esmpi_rules_free(void)
{
	size_t i;

	for (i = 0; i < esmpi.nrules; i++) {
		free(esmpi.rules[i].name);
		free(esmpi.rules[i].comm);
		free(esmpi.rules[i].tags);
	}
	free(esmpi.rules);
	esmpi.rules = NULL;
	esmpi.nrules = 0;
}
