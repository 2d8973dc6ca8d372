/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AEAD engine choice (esmpi_crypto_select), made once per process
 * from ESMPI_CRYPTO: each case runs in a fresh child process of this
 * program (--child), which prints what it got. Built with its own copy
 * of common/esmpi_crypto.c compiled with ESMPI_TEST_FAULTS, where
 * ESMPI_TEST_BREAK=<engine> makes that engine fail its self-test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "esmpi_crypto.h"
#include "esmpi_err.h"

/* Child: select, make a key, print "r=.. name=.. key=.. msg=..". */
static int
child(void)
{
	uint8_t key[32] = { 1 };
	struct esmpi_aead *a = NULL;
	char msg[256];
	int r, k;

	r = esmpi_crypto_select(msg, sizeof(msg));
	k = esmpi_aead_new(&a, ESMPI_SUITE_AES_256_GCM, key, sizeof(key));
	if (k == 0)
		k = esmpi_aead_engine(a);
	esmpi_aead_free(a);
	printf("r=%d name=%s key=%d msg=%s\n", r, esmpi_aead_engine_name(), k,
	    msg);
	return 0;
}

/* Run the child with ESMPI_CRYPTO and ESMPI_TEST_BREAK (NULL: unset). */
static void
run(const char *crypto, const char *brk, char *line, size_t len)
{
	int fd[2], st;
	pid_t pid;
	ssize_t n;
	size_t got = 0;

	line[0] = '\0';
	fflush(stdout);
	if (pipe(fd) != 0 || (pid = fork()) < 0) {
		CHECK(0);
		return;
	}
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		if (crypto != NULL)
			setenv("ESMPI_CRYPTO", crypto, 1);
		else
			unsetenv("ESMPI_CRYPTO");
		if (brk != NULL)
			setenv("ESMPI_TEST_BREAK", brk, 1);
		else
			unsetenv("ESMPI_TEST_BREAK");
		execl("/proc/self/exe", "engine_test", "--child", (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	while (got + 1 < len &&
	    (n = read(fd[0], line + got, len - 1 - got)) > 0)
		got += (size_t)n;
	line[got] = '\0';
	close(fd[0]);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0);
	printf("ESMPI_CRYPTO=%s%s%s: %s", crypto ? crypto : "(unset)",
	    brk ? ", broken " : "", brk ? brk : "", line);
}

/* The child's line for ESMPI_CRYPTO=crypto must hold every piece. */
static void
expect(const char *crypto, const char *brk, const char *a, const char *b,
    const char *c)
{
	char line[512];

	run(crypto, brk, line, sizeof(line));
	CHECK_STR_CONTAINS(line, a);
	if (b != NULL)
		CHECK_STR_CONTAINS(line, b);
	if (c != NULL)
		CHECK_STR_CONTAINS(line, c);
	/* Key bytes of the self-test vectors never reach a message. */
	CHECK(strstr(line, "feffe992") == NULL &&
	    strstr(line, "80818283") == NULL);
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--child") == 0)
		return child();

	expect("openssl", NULL, "r=0 name=openssl key=1 msg=\n", NULL, NULL);
	expect("bogus", NULL, "r=-5 name=none key=-5 ",
	    "msg=ESMPI_CRYPTO=bogus: unknown AEAD engine (openssl or "
	    "ipsec-mb)", NULL);
	/* OpenSSL failing its self-test: never used, even when forced. */
	expect("openssl", "openssl", "r=-5 name=none key=-5 ",
	    "msg=ESMPI_CRYPTO=openssl: openssl failed its self-test: "
	    "GCM test case 4, seal", NULL);
#ifdef ESMPI_HAVE_IPSEC_MB
	/* Unset or empty: ipsec-mb, the faster one. */
	expect(NULL, NULL, "r=0 name=ipsec-mb/", " key=2 msg=\n", NULL);
	expect("", NULL, "r=0 name=ipsec-mb/", " key=2 msg=\n", NULL);
	expect("ipsec-mb", NULL, "r=0 name=ipsec-mb/", " key=2 msg=\n",
	    NULL);
	/* ipsec-mb failing: OpenSSL instead, saying why; forced, an
	 * error. */
	expect(NULL, "ipsec-mb", "r=0 name=openssl key=1 ",
	    "failed its self-test: GCM test case 4, seal", "; using openssl");
	expect("ipsec-mb", "ipsec-mb", "r=-5 name=none key=-5 ",
	    "msg=ESMPI_CRYPTO=ipsec-mb: ipsec-mb/",
	    "failed its self-test: GCM test case 4, seal");
	/* OpenSSL failing does not stop ipsec-mb (its comparison with
	 * OpenSSL is then left out). */
	expect(NULL, "openssl", "r=0 name=ipsec-mb/", " key=2 msg=\n", NULL);
#else
	expect(NULL, NULL, "r=0 name=openssl key=1 msg=\n", NULL, NULL);
	expect("ipsec-mb", NULL, "r=-5 name=none key=-5 ",
	    "msg=ESMPI_CRYPTO=ipsec-mb: ipsec-mb: not in this build", NULL);
	expect(NULL, "openssl", "r=-5 name=none key=-5 ",
	    "msg=no AEAD engine usable: openssl failed its self-test", NULL);
#endif
	return check_report("engine_test");
}
