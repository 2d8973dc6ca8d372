/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test client for esmpid: simulates the ranks of a job, one connection
 * each, and runs the job key establishment exactly as libesmpi does.
 *
 *   esmpi-testclient keyx [--project P] SOCKET...   one rank per SOCKET
 *   esmpi-testclient hello SOCKET                   print the resolved policy
 *
 * keyx prints "OK <n> ranks agree on job key <8-hex fingerprint>" and exits
 * 0, or prints the daemon's error for the failing rank and exits 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_frame.h"

struct rank {
	int fd;
	Esmpi__Reply *share;	/* KeyShare reply */
	uint8_t key[32];
};

static int
call(int fd, Esmpi__Request *req, Esmpi__Reply__BodyCase want,
    Esmpi__Reply **out, const char *what, unsigned rank)
{
	Esmpi__Reply *rep = NULL;
	int r;

	if ((r = esmpi_frame_call(fd, req, 60000, &rep)) != 0) {
		printf("FAIL rank %u %s: %s\n", rank, what, esmpi_strerror(r));
		return -1;
	}
	if (rep->body_case == ESMPI__REPLY__BODY_ERROR) {
		printf("FAIL rank %u %s: %s (code %d)\n", rank, what,
		    rep->error->message, rep->error->code);
		esmpi__reply__free_unpacked(rep, NULL);
		return -1;
	}
	if (rep->body_case != want) {
		printf("FAIL rank %u %s: unexpected reply %d\n", rank, what,
		    rep->body_case);
		esmpi__reply__free_unpacked(rep, NULL);
		return -1;
	}
	*out = rep;
	return 0;
}

static int
hello(int fd, const uint8_t job[16], unsigned rank, unsigned size,
    const char *project, Esmpi__Reply **out)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__Hello h = ESMPI__HELLO__INIT;

	h.version = ESMPI_PROTO_VERSION;
	h.project = (char *)project;
	h.job_id.data = (uint8_t *)job;
	h.job_id.len = 16;
	h.rank = rank;
	h.size = size;
	h.host = "testclient";
	req.body_case = ESMPI__REQUEST__BODY_HELLO;
	req.hello = &h;
	return call(fd, &req, ESMPI__REPLY__BODY_HELLO, out, "hello", rank);
}

static int
connect_or_fail(const char *path, unsigned rank)
{
	int fd = esmpi_unix_connect(path);

	if (fd < 0)
		printf("FAIL rank %u connect %s: %s\n", rank, path,
		    strerror(errno));
	return fd;
}

static int
cmd_keyx(int argc, char **argv)
{
	Esmpi__Request req = ESMPI__REQUEST__INIT;
	Esmpi__KeyShareRequest ksr = ESMPI__KEY_SHARE_REQUEST__INIT;
	Esmpi__WrapJobKeyRequest wr = ESMPI__WRAP_JOB_KEY_REQUEST__INIT;
	Esmpi__UnwrapJobKeyRequest ur = ESMPI__UNWRAP_JOB_KEY_REQUEST__INIT;
	Esmpi__Reply *rep = NULL, *wrapped = NULL;
	Esmpi__KeyShare **shares;
	const char *project = "";
	struct rank *rk;
	uint8_t job[16], fp[SHA256_DIGEST_LENGTH];
	unsigned n, i;
	int a = 0, ret = 1;

	if (argc > 1 && strcmp(argv[0], "--project") == 0) {
		project = argv[1];
		a = 2;
	}
	n = (unsigned)(argc - a);
	if (n == 0)
		return 2;
	rk = calloc(n, sizeof(*rk));
	shares = calloc(n, sizeof(*shares));
	if (rk == NULL || shares == NULL || esmpi_random(job, 16) != 0)
		return 1;

	/* All connections open at once, as the ranks of a job would be. */
	for (i = 0; i < n; i++)
		if ((rk[i].fd = connect_or_fail(argv[a + i], i)) < 0)
			goto out;
	for (i = 0; i < n; i++) {
		if (hello(rk[i].fd, job, i, n, project, &rep) != 0)
			goto out;
		esmpi__reply__free_unpacked(rep, NULL);
	}
	req.body_case = ESMPI__REQUEST__BODY_KEY_SHARE;
	req.key_share = &ksr;
	for (i = 0; i < n; i++) {
		if (call(rk[i].fd, &req, ESMPI__REPLY__BODY_KEY_SHARE,
		    &rk[i].share, "key share", i) != 0)
			goto out;
		shares[i] = rk[i].share->key_share;
	}
	/* Rank 0 gathers the shares and has its daemon wrap the job key. */
	wr.shares = shares;
	wr.n_shares = n;
	req.body_case = ESMPI__REQUEST__BODY_WRAP;
	req.wrap = &wr;
	if (call(rk[0].fd, &req, ESMPI__REPLY__BODY_WRAP, &wrapped, "wrap",
	    0) != 0)
		goto out;
	if (wrapped->wrap->n_keys != n) {
		printf("FAIL wrap returned %zu keys for %u ranks\n",
		    wrapped->wrap->n_keys, n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		ur.root_share = shares[0];
		ur.key = wrapped->wrap->keys[i];
		req.body_case = ESMPI__REQUEST__BODY_UNWRAP;
		req.unwrap = &ur;
		if (call(rk[i].fd, &req, ESMPI__REPLY__BODY_UNWRAP, &rep,
		    "unwrap", i) != 0)
			goto out;
		if (rep->unwrap->job_key.len != 32) {
			printf("FAIL rank %u: job key of %zu bytes\n", i,
			    rep->unwrap->job_key.len);
			esmpi__reply__free_unpacked(rep, NULL);
			goto out;
		}
		memcpy(rk[i].key, rep->unwrap->job_key.data, 32);
		esmpi__reply__free_unpacked(rep, NULL);
	}
	for (i = 1; i < n; i++) {
		if (memcmp(rk[i].key, rk[0].key, 32) != 0) {
			printf("FAIL rank %u holds a different job key\n", i);
			goto out;
		}
	}
	/* A fingerprint only, unless a test asks for the key itself (to
	 * look for it in logs). */
	SHA256(rk[0].key, 32, fp);
	printf("OK %u ranks agree on job key %02x%02x%02x%02x\n", n, fp[0],
	    fp[1], fp[2], fp[3]);
	if (getenv("ESMPI_TEST_SHOW_KEY") != NULL) {
		printf("KEY ");
		for (i = 0; i < 32; i++)
			printf("%02x", rk[0].key[i]);
		printf("\n");
	}
	ret = 0;
out:
	for (i = 0; i < n; i++) {
		if (rk[i].share)
			esmpi__reply__free_unpacked(rk[i].share, NULL);
		if (rk[i].fd > 0)
			close(rk[i].fd);
	}
	if (wrapped)
		esmpi__reply__free_unpacked(wrapped, NULL);
	free(rk);
	free(shares);
	return ret;
}

static int
cmd_hello(int argc, char **argv)
{
	Esmpi__Reply *rep = NULL;
	uint8_t job[16] = { 0 };
	size_t i, j;
	int fd;

	if (argc < 1)
		return 2;
	if ((fd = connect_or_fail(argv[0], 0)) < 0)
		return 1;
	if (hello(fd, job, 0, 1, argc > 1 ? argv[1] : "", &rep) != 0)
		return 1;
	printf("session %llu policy %s default suite %u sign %u rules %zu\n",
	    (unsigned long long)rep->hello->session_id,
	    rep->hello->policy_source, rep->hello->defaults->suite,
	    rep->hello->defaults->sign, rep->hello->n_rules);
	for (i = 0; i < rep->hello->n_rules; i++) {
		Esmpi__Rule *r = rep->hello->rules[i];

		printf("rule %s comm '%s' suite %u tags", r->name, r->comm,
		    r->settings->suite);
		for (j = 0; j < r->n_tags; j++)
			printf(" %d-%d", r->tags[j]->lo, r->tags[j]->hi);
		printf("\n");
	}
	esmpi__reply__free_unpacked(rep, NULL);
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "keyx") == 0)
		return cmd_keyx(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "hello") == 0)
		return cmd_hello(argc - 2, argv + 2);
	fprintf(stderr, "usage: esmpi-testclient keyx [--project P] SOCKET...\n"
	    "       esmpi-testclient hello SOCKET [PROJECT]\n");
	return 2;
}
