/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AEAD known-answer vectors, hex. AES-GCM: McGrew and Viega, "The
 * Galois/Counter Mode of Operation (GCM)", appendix B test cases 1-4 and
 * 13-16 (the 96-bit IV ones), as in NIST's GCM submission.
 * ChaCha20-Poly1305: RFC 8439 §2.8.2.
 */
#ifndef ESMPI_AEAD_VECTORS_H
#define ESMPI_AEAD_VECTORS_H

#include "esmpi_crypto.h"

struct aead_kat {
	const char *name;
	int suite;
	const char *key, *nonce, *aad, *pt, *ct, *tag;
};

#define GCM_K128	"feffe9928665731c6d6a8f9467308308"
#define GCM_K256	GCM_K128 GCM_K128
#define GCM_IV		"cafebabefacedbaddecaf888"
#define GCM_AAD		"feedfacedeadbeeffeedfacedeadbeefabaddad2"
#define GCM_P60							\
	"d9313225f88406e5a55909c5aff5269a"			\
	"86a7a9531534f7da2e4c303d8a318a72"			\
	"1c3c0c95956809532fcf0e2449a6b525"			\
	"b16aedf5aa0de657ba637b39"
#define GCM_P64		GCM_P60 "1aafd255"
#define ZERO16		"00000000000000000000000000000000"
#define ZERO12		"000000000000000000000000"

static const struct aead_kat aead_kats[] = {
	{ "gcm tc1", ESMPI_SUITE_AES_128_GCM, ZERO16, ZERO12, "", "", "",
	    "58e2fccefa7e3061367f1d57a4e7455a" },
	{ "gcm tc2", ESMPI_SUITE_AES_128_GCM, ZERO16, ZERO12, "", ZERO16,
	    "0388dace60b6a392f328c2b971b2fe78",
	    "ab6e47d42cec13bdf53a67b21257bddf" },
	{ "gcm tc3", ESMPI_SUITE_AES_128_GCM, GCM_K128, GCM_IV, "", GCM_P64,
	    "42831ec2217774244b7221b784d0d49c"
	    "e3aa212f2c02a4e035c17e2329aca12e"
	    "21d514b25466931c7d8f6a5aac84aa05"
	    "1ba30b396a0aac973d58e091473f5985",
	    "4d5c2af327cd64a62cf35abd2ba6fab4" },
	{ "gcm tc4", ESMPI_SUITE_AES_128_GCM, GCM_K128, GCM_IV, GCM_AAD,
	    GCM_P60,
	    "42831ec2217774244b7221b784d0d49c"
	    "e3aa212f2c02a4e035c17e2329aca12e"
	    "21d514b25466931c7d8f6a5aac84aa05"
	    "1ba30b396a0aac973d58e091",
	    "5bc94fbc3221a5db94fae95ae7121a47" },
	{ "gcm tc13", ESMPI_SUITE_AES_256_GCM, ZERO16 ZERO16, ZERO12, "", "",
	    "", "530f8afbc74536b9a963b4f1c4cb738b" },
	{ "gcm tc14", ESMPI_SUITE_AES_256_GCM, ZERO16 ZERO16, ZERO12, "",
	    ZERO16, "cea7403d4d606b6e074ec5d3baf39d18",
	    "d0d1c8a799996bf0265b98b5d48ab919" },
	{ "gcm tc15", ESMPI_SUITE_AES_256_GCM, GCM_K256, GCM_IV, "", GCM_P64,
	    "522dc1f099567d07f47f37a32a84427d"
	    "643a8cdcbfe5c0c97598a2bd2555d1aa"
	    "8cb08e48590dbb3da7b08b1056828838"
	    "c5f61e6393ba7a0abcc9f662898015ad",
	    "b094dac5d93471bdec1a502270e3cc6c" },
	{ "gcm tc16", ESMPI_SUITE_AES_256_GCM, GCM_K256, GCM_IV, GCM_AAD,
	    GCM_P60,
	    "522dc1f099567d07f47f37a32a84427d"
	    "643a8cdcbfe5c0c97598a2bd2555d1aa"
	    "8cb08e48590dbb3da7b08b1056828838"
	    "c5f61e6393ba7a0abcc9f662",
	    "76fc6ece0f4e1768cddf8853bb2d551b" },
	/* "Ladies and Gentlemen of the class of '99: ... sunscreen ..." */
	{ "rfc8439 2.8.2", ESMPI_SUITE_CHACHA20_POLY1305,
	    "808182838485868788898a8b8c8d8e8f"
	    "909192939495969798999a9b9c9d9e9f",
	    "070000004041424344454647",
	    "50515253c0c1c2c3c4c5c6c7",
	    "4c616469657320616e642047656e746c"
	    "656d656e206f662074686520636c6173"
	    "73206f66202739393a20496620492063"
	    "6f756c64206f6666657220796f75206f"
	    "6e6c79206f6e652074697020666f7220"
	    "746865206675747572652c2073756e73"
	    "637265656e20776f756c642062652069"
	    "742e",
	    "d31a8d34648e60db7b86afbc53ef7ec2"
	    "a4aded51296e08fea9e2b5a736ee62d6"
	    "3dbea45e8ca9671282fafb69da92728b"
	    "1a71de0a9e060b2905d6a5b67ecd3b36"
	    "92ddbd7f2d778b8c9803aee328091b58"
	    "fab324e4fad675945585808b4831d7bc"
	    "3ff4def08e4b7a9de576d26586cec64b"
	    "6116",
	    "1ae10b594f09e26a7e902ecbd0600691" },
};

#endif
