/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client library's side of the daemon protocol: the input is a reply
 * frame body as esmpi_frame_call() hands it to libclient/session/daemon.c. It is
 * decoded, and each body is used the way session.c (and comm.c, for the
 * rules) uses it. The logic is copied, minimally, rather than linked:
 * libesmpi needs MPI, and this must stay a pure function of the bytes.
 */
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_frame.h"
#include "esmpi_mem.h"
#include "esmpi_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* session.c */
#define JOB_KEY_LEN	32
#define WRAPPED_LEN	48

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_reply: %s:%d: check failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* What take_policy() keeps in the global esmpi state. */
struct policy {
	struct esmpi_pol_settings defaults;
	struct esmpi_pol_rule *rules;
	size_t nrules;
};

/* session.c settings_from_pb() */
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

static void
policy_free(struct policy *p)
{
	size_t i;

	if (p->rules == NULL)
		return;
	/* Unlike session.c, also the rule a failure left half built. */
	for (i = 0; i <= p->nrules; i++) {
		free(p->rules[i].name);
		free(p->rules[i].comm);
		free(p->rules[i].tags);
	}
	free(p->rules);
	memset(p, 0, sizeof(*p));
}

/* session.c take_policy() */
static int
take_policy(const Esmpi__HelloReply *h, struct policy *p)
{
	size_t i, j;

	settings_from_pb(h->defaults, &p->defaults);
	if (esmpi_suite_by_id(p->defaults.suite) == NULL)
		return ESMPI_ERR_SUITE;
	if ((p->rules = calloc(h->n_rules + 1, sizeof(*p->rules))) == NULL)
		return ESMPI_ERR_NOMEM;
	for (i = 0; i < h->n_rules; i++) {
		const Esmpi__Rule *pr = h->rules[i];
		struct esmpi_pol_rule *r = &p->rules[i];

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
		if (esmpi_suite_by_id(r->set.suite) == NULL)
			return ESMPI_ERR_SUITE;
		p->nrules++;
	}
	return 0;
}

/* comm.c comm_match_rules() then esmpi_comm_suite(), for one name. */
static int
comm_suite(const struct policy *p, const char *name, int tag)
{
	size_t i, j;

	for (i = 0; i < p->nrules; i++) {
		const struct esmpi_pol_rule *r = &p->rules[i];

		if (r->comm != NULL && fnmatch(r->comm, name, 0) != 0)
			continue;
		if (r->ntags == 0)
			return r->set.suite;
		for (j = 0; j < r->ntags; j++)
			if (tag >= r->tags[j].lo && tag <= r->tags[j].hi)
				return r->set.suite;
	}
	return p->defaults.suite;
}

static void
use_hello(const Esmpi__HelloReply *h)
{
	static const char *const comms[] = { "MPI_COMM_WORLD", "halo_x", "" };
	static const int tags[] = { 0, 17, 150, 2147483647, -2147483647 - 1 };
	struct esmpi_pol_settings s;
	struct policy p;
	size_t i, j;
	int suite, idx;

	memset(&p, 0, sizeof(p));
	if (take_policy(h, &p) == 0) {
		for (i = 0; i < sizeof(comms) / sizeof(comms[0]); i++) {
			for (j = 0; j < sizeof(tags) / sizeof(tags[0]); j++) {
				suite = comm_suite(&p, comms[i], tags[j]);
				/* Only suites take_policy() checked. */
				CHECK(esmpi_suite_by_id(suite) != NULL);
				idx = esmpi_pol_match_rules(p.rules, p.nrules,
				    &p.defaults, comms[i], tags[j], &s);
				CHECK(idx >= -1 && idx < (int)p.nrules);
				CHECK(esmpi_suite_by_id(s.suite) != NULL);
			}
		}
	}
	policy_free(&p);
	(void)strlen(h->policy_source);
}

/*
 * establish(): the share is packed, gathered and unpacked on rank 0.
 * That unpack may fail even though the reply decoded: protobuf-c takes a
 * tag for field 0 written in two bytes (85 00) as an unknown field, packs
 * it back as one byte (05) and refuses that. session.c then reports the
 * share as malformed, which is what it must do.
 */
static void
use_key_share(const Esmpi__KeyShare *ks)
{
	Esmpi__KeyShare *back;
	uint8_t *buf;
	size_t len, len2;

	len = esmpi__key_share__get_packed_size(ks);
	if ((buf = malloc(len ? len : 1)) == NULL)
		return;
	CHECK(esmpi__key_share__pack(ks, buf) == len);
	if ((back = esmpi__key_share__unpack(NULL, len, buf)) == NULL) {
		free(buf);
		return;
	}
	len2 = esmpi__key_share__get_packed_size(back);
	CHECK(len2 == len);
	CHECK(back->job_id.len == ks->job_id.len &&
	    back->ecdh_public.len == ks->ecdh_public.len &&
	    back->node_cert.len == ks->node_cert.len &&
	    back->signature.len == ks->signature.len);
	esmpi__key_share__free_unpacked(back, NULL);
	free(buf);
}

/* establish() on rank 0: one wrapped key per rank, in order. */
static void
use_wrap(const Esmpi__WrapJobKeyReply *w)
{
	uint8_t *wrapbuf;
	size_t i, n = w->n_keys;

	if ((wrapbuf = malloc(n * WRAPPED_LEN + 1)) == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (w->keys[i]->ciphertext.len != WRAPPED_LEN)
			break;
		memcpy(wrapbuf + i * WRAPPED_LEN, w->keys[i]->ciphertext.data,
		    WRAPPED_LEN);
	}
	esmpi_freezero(wrapbuf, n * WRAPPED_LEN + 1);
}

static void
use_unwrap(Esmpi__UnwrapJobKeyReply *u)
{
	uint8_t job_key[JOB_KEY_LEN];

	if (u->job_key.len != JOB_KEY_LEN)
		return;
	memcpy(job_key, u->job_key.data, JOB_KEY_LEN);
	esmpi_memzero(u->job_key.data, JOB_KEY_LEN);
	esmpi_memzero(job_key, sizeof(job_key));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Esmpi__Reply *rep = NULL;
	char err[256];
	size_t i;

	if (esmpi_frame_decode_reply(data, size, &rep) != 0)
		return 0;
	CHECK(rep != NULL && rep->version == ESMPI_PROTO_VERSION);
	switch (rep->body_case) {
	case ESMPI__REPLY__BODY_HELLO:
		use_hello(rep->hello);
		break;
	case ESMPI__REPLY__BODY_KEY_SHARE:
		use_key_share(rep->key_share);
		break;
	case ESMPI__REPLY__BODY_WRAP:
		use_wrap(rep->wrap);
		break;
	case ESMPI__REPLY__BODY_UNWRAP:
		use_unwrap(rep->unwrap);
		break;
	case ESMPI__REPLY__BODY_ERROR:
		/* daemon_call() */
		snprintf(err, sizeof(err), "esmpid: %s", rep->error->message);
		break;
	case ESMPI__REPLY__BODY_OK:
		(void)strlen(rep->ok->message);
		break;
	case ESMPI__REPLY__BODY_POLICY:
		/* esmpictl policy show */
		(void)strlen(rep->policy->source);
		(void)strlen(rep->policy->yaml);
		break;
	case ESMPI__REPLY__BODY_STATUS:
		/* esmpictl status */
		for (i = 0; i < rep->status->n_sessions; i++)
			(void)strlen(rep->status->sessions[i]->project);
		break;
	default:
		break;
	}
	esmpi__reply__free_unpacked(rep, NULL);
	return 0;
}
