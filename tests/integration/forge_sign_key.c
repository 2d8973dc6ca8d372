/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test-only LD_PRELOAD shim (placed before libesmpi.so) that makes a rank
 * sign with a key that is not the one its esmpid certified: every
 * EVP_DigestSignInit_ex on a key gets a fresh P-256 key of the shim's
 * instead. The certificate still holds the genuine public key, so peers
 * must refuse this rank's signed records.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

typedef int (*init_fn)(EVP_MD_CTX *, EVP_PKEY_CTX **, const char *,
    OSSL_LIB_CTX *, const char *, EVP_PKEY *, const OSSL_PARAM *);

int
EVP_DigestSignInit_ex(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const char *md,
    OSSL_LIB_CTX *lib, const char *props, EVP_PKEY *pkey,
    const OSSL_PARAM *params)
{
	static EVP_PKEY *forged;
	init_fn real = (init_fn)dlsym(RTLD_NEXT, "EVP_DigestSignInit_ex");

	if (forged == NULL && (forged = EVP_EC_gen("P-256")) != NULL)
		fprintf(stderr, "forge_sign_key: signing with an uncertified "
		    "key\n");
	return real(ctx, pctx, md, lib, props, pkey && forged ? forged : pkey,
	    params);
}
