/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only LD_PRELOAD shim (placed before libesmpi.so): on the rank
 * named by FAIL_SEAL_RANK, once the program has set FAIL_SEAL_NOW=N in
 * its environment, the next N reads of an AEAD tag (one per record
 * sealed) fail, as a seal that hits an OpenSSL error would. esmpi must
 * not leave the other ranks of a collective waiting.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

typedef int (*get_fn)(EVP_CIPHER_CTX *, OSSL_PARAM *);

int
EVP_CIPHER_CTX_get_params(EVP_CIPHER_CTX *ctx, OSSL_PARAM params[])
{
	static int failed;
	get_fn real = (get_fn)dlsym(RTLD_NEXT, "EVP_CIPHER_CTX_get_params");
	const char *who = getenv("FAIL_SEAL_RANK");
	const char *me = getenv("OMPI_COMM_WORLD_RANK");
	const char *count = getenv("FAIL_SEAL_NOW");

	if (who != NULL && me != NULL && strcmp(who, me) == 0 &&
	    count != NULL && failed < atoi(count)) {
		fprintf(stderr, "fail_seal: rank %s: seal %d fails\n", me,
		    ++failed);
		return 0;
	}
	return real(ctx, params);
}
