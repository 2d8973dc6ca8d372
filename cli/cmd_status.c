/* SPDX-License-Identifier: Apache-2.0 */
/* esmpictl status [--json] */
#include <stdio.h>
#include <string.h>

#include "esmpi_bytes.h"
#include "esmpictl.h"

/* A job id from the daemon as hex (empty when it is not 16 bytes). */
static void
job_hex(const ProtobufCBinaryData *b, char out[33])
{
	out[0] = '\0';
	if (b->len == 16)
		esmpi_hex(b->data, b->len, out);
}

/* JSON string with the escapes RFC 8259 requires. */
static void
json_str(const char *s)
{
	putchar('"');
	for (; s != NULL && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void
print_json(const Esmpi__Status *st)
{
	char job[64];
	size_t i;

	printf("{\"version\":");
	json_str(st->version);
	printf(",\"node\":");
	json_str(st->node_name);
	printf(",\"cert_not_after\":");
	json_str(st->node_cert_not_after);
	printf(",\"policy\":");
	json_str(st->policy_source);
	printf(",\"uptime_seconds\":%llu,\"clients\":%u,\"admins\":%u,"
	    "\"policy_loads\":%llu,\"frames_rejected\":%llu,\"sessions\":[",
	    (unsigned long long)st->uptime_seconds, st->clients, st->admins,
	    (unsigned long long)st->policy_loads,
	    (unsigned long long)st->frames_rejected);
	for (i = 0; i < st->n_sessions; i++) {
		const Esmpi__SessionInfo *s = st->sessions[i];

		job_hex(&s->job_id, job);
		printf("%s{\"session\":%llu,\"uid\":%u,\"pid\":%u,\"job\":"
		    "\"%s\",\"rank\":%u,\"size\":%u,\"project\":", i ? "," : "",
		    (unsigned long long)s->session_id, s->uid, s->pid, job,
		    s->rank, s->size);
		json_str(s->project);
		printf(",\"state\":");
		json_str(s->state);
		printf(",\"suite\":");
		json_str(s->suite);
		printf(",\"engine\":");
		json_str(s->engine);
		printf(",\"rekeys\":%llu,\"epoch\":%u,\"last_rekey_age\":%llu,"
		    "\"audits\":%llu}", (unsigned long long)s->rekeys, s->epoch,
		    (unsigned long long)s->last_rekey_age,
		    (unsigned long long)s->audits);
	}
	printf("]}\n");
}

static void
print_table(const Esmpi__Status *st)
{
	char job[64];
	size_t i;

	printf("esmpid %s  node %s (certificate until %s)\n", st->version,
	    st->node_name, st->node_cert_not_after);
	printf("policy %s  loads %llu  uptime %llus\n", st->policy_source,
	    (unsigned long long)st->policy_loads,
	    (unsigned long long)st->uptime_seconds);
	printf("connections: %u clients, %u admins; frames rejected %llu\n",
	    st->clients, st->admins, (unsigned long long)st->frames_rejected);
	printf("\n%-8s %-6s %-8s %-33s %-9s %-12s %-18s %-22s %6s %6s %s\n",
	    "SESSION", "UID", "PID", "JOB", "RANK", "STATE", "SUITE", "ENGINE",
	    "EPOCH", "REKEYS", "PROJECT");
	for (i = 0; i < st->n_sessions; i++) {
		const Esmpi__SessionInfo *s = st->sessions[i];
		char rank[32];

		job_hex(&s->job_id, job);
		snprintf(rank, sizeof(rank), "%u/%u", s->rank, s->size);
		printf("%-8llu %-6u %-8u %-33s %-9s %-12s %-18s %-22s %6u %6llu "
		    "%s\n", (unsigned long long)s->session_id, s->uid, s->pid,
		    job, rank, s->state, s->suite, s->engine, s->epoch,
		    (unsigned long long)s->rekeys,
		    *s->project ? s->project : "-");
	}
	if (st->n_sessions == 0)
		printf("(no sessions)\n");
}

int
cmd_status_main(const struct ctl *ctl, int argc, char **argv)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__StatusRequest sr = ESMPI__STATUS_REQUEST__INIT;
	Esmpi__Reply *rep = NULL;
	int json = 0, r;

	if (argc == 2 && strcmp(argv[1], "--json") == 0)
		json = 1;
	else if (argc != 1) {
		fprintf(stderr, "usage: esmpictl status [--json]\n");
		return EXIT_USAGE;
	}
	req.body_case = ESMPI__REQUEST__BODY_STATUS;
	req.status = &sr;
	if ((r = ctl_call(ctl, &req, &rep)) != EXIT_OK)
		return r;
	if (rep->body_case != ESMPI__REPLY__BODY_STATUS) {
		fprintf(stderr, "esmpictl: unexpected reply from esmpid\n");
		esmpi__reply__free_unpacked(rep, NULL);
		return EXIT_DAEMON;
	}
	if (json)
		print_json(rep->status);
	else
		print_table(rep->status);
	esmpi__reply__free_unpacked(rep, NULL);
	return EXIT_OK;
}
