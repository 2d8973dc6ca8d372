/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AEAD cost the library cannot avoid, measured with OpenSSL in the
 * benchmark's own run: one seal plus one open, and the one-core rate.
 * Shared by esmpi_bench.c and coll_bench.c; uses their buf and buf2
 * (at least size + 16 bytes each).
 */
#ifndef ESMPI_BENCH_AEAD_H
#define ESMPI_BENCH_AEAD_H

#include <mpi.h>
#include <openssl/evp.h>

static char *buf, *buf2;

/* Seconds for one seal plus one open of size bytes with OpenSSL. */
static __attribute__((unused)) double
seal_open_cost(const char *cipher, int size, int iters)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, cipher, NULL);
	EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new(), *d = EVP_CIPHER_CTX_new();
	unsigned char key[32] = { 1 }, iv[12] = { 2 }, tag[16], aad[68] = { 3 };
	double t0, t;
	int i, n;

	EVP_EncryptInit_ex2(e, c, key, iv, NULL);
	EVP_DecryptInit_ex2(d, c, key, iv, NULL);
	t0 = MPI_Wtime();
	for (i = 0; i < iters; i++) {
		iv[0] = (unsigned char)i;
		EVP_EncryptInit_ex2(e, NULL, NULL, iv, NULL);
		EVP_EncryptUpdate(e, NULL, &n, aad, sizeof(aad));
		EVP_EncryptUpdate(e, (unsigned char *)buf2,
		    &n, (unsigned char *)buf, size);
		EVP_EncryptFinal_ex(e, (unsigned char *)buf2 + size, &n);
		EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_AEAD_GET_TAG, 16, tag);
		EVP_DecryptInit_ex2(d, NULL, NULL, iv, NULL);
		EVP_DecryptUpdate(d, NULL, &n, aad, sizeof(aad));
		EVP_DecryptUpdate(d, (unsigned char *)buf, &n,
		    (unsigned char *)buf2, size);
		EVP_CIPHER_CTX_ctrl(d, EVP_CTRL_AEAD_SET_TAG, 16, tag);
		EVP_DecryptFinal_ex(d, (unsigned char *)buf + size, &n);
	}
	t = (MPI_Wtime() - t0) / iters;
	EVP_CIPHER_CTX_free(e);
	EVP_CIPHER_CTX_free(d);
	EVP_CIPHER_free(c);
	return t;
}

/*
 * One-core AEAD rate at 16 KiB, bytes per second, measured the way
 * `openssl speed -evp CIPHER -bytes 16384` does: one context, encrypt
 * updates of 16 KiB back to back for a fixed time. The benchmarks take
 * it in every round, like everything else, and keep the best.
 */
static __attribute__((unused)) double
aead_rate(const char *cipher, double seconds)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, cipher, NULL);
	EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
	unsigned char key[32] = { 1 }, iv[12] = { 2 };
	double t0, t;
	long done = 0;
	int n;

	EVP_EncryptInit_ex2(e, c, key, iv, NULL);
	t0 = MPI_Wtime();
	do {
		for (int i = 0; i < 64; i++, done++)
			EVP_EncryptUpdate(e, (unsigned char *)buf2, &n,
			    (unsigned char *)buf, 16384);
		t = MPI_Wtime() - t0;
	} while (t < seconds);
	EVP_CIPHER_CTX_free(e);
	EVP_CIPHER_free(c);
	return 16384.0 * (double)done / t;
}

#endif
