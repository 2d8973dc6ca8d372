/* SPDX-License-Identifier: Apache-2.0 */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#ifdef ESMPI_HAVE_IPSEC_MB
#include <intel-ipsec-mb.h>
#endif

#include "esmpi_crypto.h"
#include "esmpi_err.h"
#include "esmpi_mem.h"

/* EVP_*Update takes an int length; larger buffers go through in pieces. */
#define AEAD_CHUNK	(1U << 30)

struct suite {
	struct esmpi_suite_info info;
	const char *evp_name;		/* NULL for none */
};

static const struct suite suites[] = {
	{ { ESMPI_SUITE_NONE, "none", 0, 0 }, NULL },
	{ { ESMPI_SUITE_AES_128_GCM, "aes-128-gcm", 16, 2 }, "AES-128-GCM" },
	{ { ESMPI_SUITE_AES_256_GCM, "aes-256-gcm", 32, 3 }, "AES-256-GCM" },
	{ { ESMPI_SUITE_CHACHA20_POLY1305, "chacha20-poly1305", 32, 3 },
	    "ChaCha20-Poly1305" },
};

/* Nonce and AAD a context was prepared with (esmpi_aead_prepare). */
struct prepared {
	int valid;
	size_t aad_len;
	uint8_t nonce[ESMPI_AEAD_NONCE_LEN];
	uint8_t aad[ESMPI_AEAD_PREPARE_MAX_AAD];
};

struct ossl_keys {
	EVP_CIPHER *cipher;
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
};

#ifdef ESMPI_HAVE_IPSEC_MB
/*
 * ipsec-mb's key schedule and message state are plain memory that it
 * leaves to the caller: they live here, so freeing the key wipes them.
 */
struct imb_keys {
	/* AES round keys, GHASH key powers. Its code loads them aligned;
	 * the header asks for 64 only when the includer defines LINUX. */
	struct gcm_key_data gcm __attribute__((aligned(64)));
	uint8_t chacha[32];		/* ChaCha20 works from the raw key */
	union {
		struct gcm_context_data gcm;
		struct chacha20_poly1305_context_data cp;
	} ctx[2];			/* [0] dec, [1] enc */
};
#endif

struct esmpi_aead {
	void *mem;			/* the allocation this lies in */
	int suite;
	int engine;			/* enum esmpi_engine, never AUTO */
	struct prepared ready[2];	/* [0] dec, [1] enc */
	union {
		struct ossl_keys ossl;
#ifdef ESMPI_HAVE_IPSEC_MB
		struct imb_keys imb;
#endif
	} k;
};

static const struct suite *
suite_lookup(int id)
{
	size_t i;

	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i].info.id == id)
			return &suites[i];
	return NULL;
}

const struct esmpi_suite_info *
esmpi_suite_by_id(int id)
{
	const struct suite *s = suite_lookup(id);

	return s == NULL ? NULL : &s->info;
}

const char *
esmpi_suite_name(int id)
{
	const struct suite *s = suite_lookup(id);

	return s == NULL ? "?" : s->info.name;
}

const struct esmpi_suite_info *
esmpi_suite_by_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (strcmp(suites[i].info.name, name) == 0)
			return &suites[i].info;
	return NULL;
}

int
esmpi_hkdf_sha256(uint8_t *out, size_t out_len,
    const uint8_t *salt, size_t salt_len,
    const uint8_t *ikm, size_t ikm_len,
    const uint8_t *info, size_t info_len)
{
	static const uint8_t empty[1];
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5], *p = params;
	int r = ESMPI_ERR_CRYPTO;

	/* RFC 5869 §2.3: at most 255 blocks of output. */
	if (out == NULL || out_len == 0 || out_len > 255 * 32 ||
	    (salt == NULL && salt_len > 0) || (ikm == NULL && ikm_len > 0) ||
	    (info == NULL && info_len > 0))
		return ESMPI_ERR_INVALID;

	/*
	 * OSSL_PARAM takes void * but HKDF only copies from it. OpenSSL wants
	 * a non-NULL key pointer even for empty input.
	 */
	if (ikm_len == 0)
		ikm = empty;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)ikm, ikm_len);
	/* An absent salt is HashLen zeros, the same as an empty one. */
	if (salt_len > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
		    (void *)salt, salt_len);
	if (info_len > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
		    (void *)info, info_len);
	*p = OSSL_PARAM_construct_end();

	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL ||
	    (kctx = EVP_KDF_CTX_new(kdf)) == NULL)
		goto out;
	if (EVP_KDF_derive(kctx, out, out_len, params) != 1)
		goto out;
	r = 0;
out:
	if (r != 0)
		esmpi_memzero(out, out_len);
	EVP_KDF_CTX_free(kctx);		/* clears the PRK and key copy */
	EVP_KDF_free(kdf);
	return r;
}

/* True if [a, a+len) and [b, b+len) overlap without being the same. */
static int
partial_overlap(const void *a, const void *b, size_t len)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	if (len == 0 || x == y)
		return 0;
	return x < y ? y - x < len : x - y < len;
}

/* --- engines: state, self-test, selection --- */

struct engine {
	const char *id;		/* ESMPI_CRYPTO spelling */
	int ok;			/* usable: passed its self-test */
	char name[32];		/* id, with ipsec-mb's code path */
	char why[192];		/* why not ok */
};

static struct engine engines[] = {
	[ESMPI_ENGINE_OPENSSL] = { "openssl", 0, "openssl", "" },
	[ESMPI_ENGINE_IPSEC_MB] = { "ipsec-mb", 0, "ipsec-mb", "" },
};
#define NENGINES	(int)(sizeof(engines) / sizeof(engines[0]))

#ifdef ESMPI_HAVE_IPSEC_MB
/*
 * One manager for the process. The direct API used here (GCM and
 * ChaCha20-Poly1305 init/update/finalize) takes keys and message state
 * from the caller and reads only function pointers from the manager,
 * which init_mb_mgr_auto sets once: shared read-only, it is safe from
 * any thread, and a 200 KB manager per key or per thread would buy
 * nothing.
 */
static IMB_MGR *imb;
#endif

static int aead_create(struct esmpi_aead **out, int engine,
    const struct suite *s, const uint8_t *key, size_t key_len);

/*
 * Known answers each engine must give before it is used: GCM test cases
 * 4, 13 and 16 (McGrew and Viega, as in NIST's GCM submission) and RFC
 * 8439 §2.8.2. tests/vectors/aead_vectors.h has more, for the unit tests.
 */
struct kat {
	const char *name;
	int suite;
	const char *key, *nonce, *aad, *pt, *ct, *tag;
};

#define K128	"feffe9928665731c6d6a8f9467308308"
#define IV	"cafebabefacedbaddecaf888"
#define AAD	"feedfacedeadbeeffeedfacedeadbeefabaddad2"
#define P60	"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da"	\
		"2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525"	\
		"b16aedf5aa0de657ba637b39"

static const struct kat kats[] = {
	{ "GCM test case 4", ESMPI_SUITE_AES_128_GCM, K128, IV, AAD, P60,
	    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e23"
	    "29aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac97"
	    "3d58e091", "5bc94fbc3221a5db94fae95ae7121a47" },
	{ "GCM test case 13", ESMPI_SUITE_AES_256_GCM,
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "000000000000000000000000", "", "", "",
	    "530f8afbc74536b9a963b4f1c4cb738b" },
	{ "GCM test case 16", ESMPI_SUITE_AES_256_GCM, K128 K128, IV, AAD, P60,
	    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd"
	    "2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0a"
	    "bcc9f662", "76fc6ece0f4e1768cddf8853bb2d551b" },
	{ "RFC 8439 2.8.2", ESMPI_SUITE_CHACHA20_POLY1305,
	    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
	    "070000004041424344454647", "50515253c0c1c2c3c4c5c6c7",
	    "4c616469657320616e642047656e746c656d656e206f662074686520"
	    "636c617373206f66202739393a204966204920636f756c64206f6666"
	    "657220796f75206f6e6c79206f6e652074697020666f722074686520"
	    "6675747572652c2073756e73637265656e20776f756c642062652069"
	    "742e",
	    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a7"
	    "36ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b29"
	    "05d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4"
	    "fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b"
	    "6116", "1ae10b594f09e26a7e902ecbd0600691" },
};

#undef K128
#undef IV
#undef AAD
#undef P60

#define KAT_MAX	128

/* Hex of a vector into out; its length (the table is ours: no errors). */
static size_t
kat_bytes(const char *hex, uint8_t *out)
{
	size_t i, n = strlen(hex) / 2;

	for (i = 0; i < n && i < KAT_MAX; i++) {
		char b[3] = { hex[2 * i], hex[2 * i + 1], 0 };

		out[i] = (uint8_t)strtoul(b, NULL, 16);
	}
	return i;
}

#ifdef ESMPI_TEST_FAULTS
/*
 * Only in tests/unit/engine_test's own build of this file:
 * ESMPI_TEST_BREAK=openssl|ipsec-mb makes that engine's self-test expect
 * a wrong tag, to show that a failing engine is never used.
 */
static int
kat_broken(int engine)
{
	const char *b = getenv("ESMPI_TEST_BREAK");

	return b != NULL && strcmp(b, engines[engine].id) == 0;
}
#else
#define kat_broken(engine)	0
#endif

/*
 * One vector on one engine: seal, seal again after a prepare, open, and
 * an open with a flipped tag bit, which must fail and wipe. 0 or a short
 * word saying which step went wrong.
 */
static const char *
kat_run(int engine, const struct kat *v)
{
	uint8_t key[KAT_MAX], nonce[KAT_MAX], aad[KAT_MAX], pt[KAT_MAX];
	uint8_t want[KAT_MAX], tag[KAT_MAX], ct[KAT_MAX], out[KAT_MAX];
	uint8_t t[ESMPI_AEAD_TAG_LEN];
	struct esmpi_aead *a = NULL;
	const char *bad = NULL;
	size_t kl, al, pl;
	int i;

	kl = kat_bytes(v->key, key);
	(void)kat_bytes(v->nonce, nonce);
	al = kat_bytes(v->aad, aad);
	pl = kat_bytes(v->pt, pt);
	(void)kat_bytes(v->ct, want);
	(void)kat_bytes(v->tag, tag);
	if (kat_broken(engine))
		tag[0] ^= 1;
	if (aead_create(&a, engine, suite_lookup(v->suite), key, kl) != 0)
		return "key set-up";
	for (i = 0; i < 2 && bad == NULL; i++) {
		if (i == 1 && al > 0 &&
		    esmpi_aead_prepare(a, 1, nonce, aad, al) != 0)
			bad = "prepare";
		else if (esmpi_aead_seal(a, ct, t, pt, pl, nonce, aad, al) != 0 ||
		    memcmp(ct, want, pl) != 0 || memcmp(t, tag, sizeof(t)) != 0)
			bad = "seal";
	}
	memset(out, 0xa5, sizeof(out));
	if (bad == NULL && (esmpi_aead_open(a, out, want, pl, tag, nonce, aad,
	    al) != 0 || memcmp(out, pt, pl) != 0))
		bad = "open";
	tag[ESMPI_AEAD_TAG_LEN - 1] ^= 0x80;
	memset(out, 0xa5, sizeof(out));
	if (bad == NULL && (esmpi_aead_open(a, out, want, pl, tag, nonce, aad,
	    al) != ESMPI_ERR_AUTH || (pl > 0 && (out[0] != 0 ||
	    memcmp(out, out + 1, pl - 1) != 0))))
		bad = "forged tag";
	esmpi_aead_free(a);
	return bad;
}

#ifdef ESMPI_HAVE_IPSEC_MB
/*
 * Beyond the short vectors: ipsec-mb's code differs by length (blocks of
 * 8, 16 or 48, the tail) and a streamed seal goes in pieces, so longer
 * texts of each suite must give OpenSSL's bytes, and open back.
 */
static const char *
cross_check(void)
{
	static const size_t lens[] = { 1, 255, 4096 + 17, 2 * 16384 + 100 };
	enum { MAXL = 2 * 16384 + 100 };
	uint8_t key[32], nonce[ESMPI_AEAD_NONCE_LEN], aad[68];
	uint8_t t1[ESMPI_AEAD_TAG_LEN], t2[ESMPI_AEAD_TAG_LEN];
	uint8_t *pt = malloc(MAXL), *c1 = malloc(MAXL), *c2 = malloc(MAXL);
	struct esmpi_aead *o = NULL, *m = NULL;
	const char *bad = NULL;
	size_t i, l;
	int id;

	if (pt == NULL || c1 == NULL || c2 == NULL) {
		bad = "memory";
		goto out;
	}
	for (i = 0; i < MAXL; i++)
		pt[i] = (uint8_t)(i * 131 + 7);
	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0xc0 + i);
	memset(nonce, 0x3c, sizeof(nonce));
	memset(aad, 0x5a, sizeof(aad));
	for (id = ESMPI_SUITE_AES_128_GCM; id <= ESMPI_SUITE_CHACHA20_POLY1305
	    && bad == NULL; id++) {
		const struct suite *s = suite_lookup(id);

		if (aead_create(&o, ESMPI_ENGINE_OPENSSL, s, key,
		    s->info.key_len) != 0 || aead_create(&m,
		    ESMPI_ENGINE_IPSEC_MB, s, key, s->info.key_len) != 0) {
			bad = "key set-up";
			break;
		}
		for (l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			if (esmpi_aead_seal(o, c1, t1, pt, lens[l], nonce, aad,
			    sizeof(aad)) != 0 || esmpi_aead_seal(m, c2, t2, pt,
			    lens[l], nonce, aad, sizeof(aad)) != 0 ||
			    memcmp(c1, c2, lens[l]) != 0 ||
			    memcmp(t1, t2, sizeof(t1)) != 0) {
				bad = "not OpenSSL's bytes";
				break;
			}
			if (esmpi_aead_open(m, c2, c2, lens[l], t2, nonce, aad,
			    sizeof(aad)) != 0 || memcmp(c2, pt, lens[l]) != 0) {
				bad = "open of a long text";
				break;
			}
		}
		esmpi_aead_free(o);
		esmpi_aead_free(m);
		o = m = NULL;
	}
out:
	esmpi_aead_free(o);
	esmpi_aead_free(m);
	free(pt);
	free(c1);
	free(c2);
	return bad;
}

static const char *
imb_arch_name(IMB_ARCH arch)
{
	switch (arch) {
	case IMB_ARCH_SSE:	return "sse";
	case IMB_ARCH_AVX:	return "avx";
	case IMB_ARCH_AVX2:	return "avx2";
	case IMB_ARCH_AVX512:	return "avx512";
	default:		return "?";
	}
}

/* ipsec-mb's manager for this CPU; 0, or why it cannot run here. */
static const char *
imb_setup(struct engine *e)
{
	const uint64_t vaes = IMB_FEATURE_VAES | IMB_FEATURE_VPCLMULQDQ;
	IMB_ARCH arch = IMB_ARCH_NONE;
	IMB_MGR *m;

	if ((m = alloc_mb_mgr(0)) == NULL)
		return "cannot allocate its manager";
	init_mb_mgr_auto(m, &arch);
	/* Below SSE it would emulate AES-NI in software: slower than
	 * OpenSSL, and not the code its vectors were checked on. */
	if (arch < IMB_ARCH_SSE || arch >= IMB_ARCH_NUM ||
	    imb_get_errno(m) != 0) {
		free_mb_mgr(m);
		return "this CPU lacks AES-NI, PCLMULQDQ or SSE4.2";
	}
	snprintf(e->name, sizeof(e->name), "ipsec-mb/%s%s",
	    imb_arch_name(arch), arch == IMB_ARCH_AVX512 &&
	    (m->features & vaes) == vaes ? "+vaes" : "");
	imb = m;
	return NULL;
}
#endif

/* Run an engine's self-test; fills its ok or why. Called once. */
static void
engine_test(int engine)
{
	struct engine *e = &engines[engine];
	const char *bad = NULL, *what = NULL;
	char name[sizeof(e->name)];
	size_t i;

#ifdef ESMPI_HAVE_IPSEC_MB
	if (engine == ESMPI_ENGINE_IPSEC_MB && (bad = imb_setup(e)) != NULL) {
		snprintf(e->why, sizeof(e->why), "ipsec-mb: %s", bad);
		return;
	}
#else
	if (engine == ESMPI_ENGINE_IPSEC_MB) {
		snprintf(e->why, sizeof(e->why), "ipsec-mb: not in this build "
		    "of esmpi (x86-64 only, with libipsec-mb-dev, "
		    "ESMPI_IPSEC_MB=ON)");
		return;
	}
#endif
	for (i = 0; i < sizeof(kats) / sizeof(kats[0]) && bad == NULL; i++)
		if ((bad = kat_run(engine, &kats[i])) != NULL)
			what = kats[i].name;
#ifdef ESMPI_HAVE_IPSEC_MB
	/* Compared with OpenSSL only where OpenSSL passed its own. */
	if (bad == NULL && engine == ESMPI_ENGINE_IPSEC_MB &&
	    esmpi_engine_check(ESMPI_ENGINE_OPENSSL, NULL, 0) == 0 &&
	    (bad = cross_check()) != NULL)
		what = "long texts against OpenSSL";
#endif
	if (bad != NULL) {
		memcpy(name, e->name, sizeof(name));
		snprintf(e->why, sizeof(e->why), "%s failed its self-test: "
		    "%s, %s", name, what, bad);
		return;
	}
	e->ok = 1;
}

static void openssl_once(void) { engine_test(ESMPI_ENGINE_OPENSSL); }
static void imb_once(void) { engine_test(ESMPI_ENGINE_IPSEC_MB); }

static pthread_once_t engine_once[] = {
	[ESMPI_ENGINE_OPENSSL] = PTHREAD_ONCE_INIT,
	[ESMPI_ENGINE_IPSEC_MB] = PTHREAD_ONCE_INIT,
};

int
esmpi_engine_check(int engine, char *err, size_t len)
{
	if (engine <= ESMPI_ENGINE_AUTO || engine >= NENGINES) {
		if (err != NULL && len > 0)
			snprintf(err, len, "unknown AEAD engine %d", engine);
		return ESMPI_ERR_INVALID;
	}
	pthread_once(&engine_once[engine], engine == ESMPI_ENGINE_OPENSSL ?
	    openssl_once : imb_once);
	if (err != NULL && len > 0)
		snprintf(err, len, "%s", engines[engine].ok ? "" :
		    engines[engine].why);
	return engines[engine].ok ? 0 : ESMPI_ERR_CRYPTO;
}

const char *
esmpi_engine_name(int engine)
{
	if (engine <= ESMPI_ENGINE_AUTO || engine >= NENGINES)
		return "?";
	return engines[engine].name;
}

static pthread_once_t select_once = PTHREAD_ONCE_INIT;
static int selected;		/* the engine, 0: none usable */
static char select_msg[256];	/* why none, or why ipsec-mb was passed over */

static void
select_run(void)
{
	const char *want = getenv("ESMPI_CRYPTO");
	char why[sizeof(engines[0].why)];
	int e;

	if (want != NULL && *want != '\0') {
		for (e = ESMPI_ENGINE_OPENSSL; e < NENGINES; e++)
			if (strcmp(want, engines[e].id) == 0)
				break;
		if (e == NENGINES)
			snprintf(select_msg, sizeof(select_msg),
			    "ESMPI_CRYPTO=%.32s: unknown AEAD engine (openssl "
			    "or ipsec-mb)", want);
		else if (esmpi_engine_check(e, why, sizeof(why)) != 0)
			snprintf(select_msg, sizeof(select_msg),
			    "ESMPI_CRYPTO=%s: %s", want, why);
		else
			selected = e;
		return;
	}
	if (esmpi_engine_check(ESMPI_ENGINE_IPSEC_MB, why, sizeof(why)) == 0) {
		selected = ESMPI_ENGINE_IPSEC_MB;
		return;
	}
#ifdef ESMPI_HAVE_IPSEC_MB
	/* Built in but not usable here: say why OpenSSL does the work. */
	snprintf(select_msg, sizeof(select_msg), "%s; using openssl", why);
#endif
	if (esmpi_engine_check(ESMPI_ENGINE_OPENSSL, why, sizeof(why)) == 0)
		selected = ESMPI_ENGINE_OPENSSL;
	else
		snprintf(select_msg, sizeof(select_msg), "no AEAD engine "
		    "usable: %s", why);
}

int
esmpi_crypto_select(char *err, size_t len)
{
	pthread_once(&select_once, select_run);
	if (err != NULL && len > 0)
		snprintf(err, len, "%s", select_msg);
	return selected != 0 ? 0 : ESMPI_ERR_CRYPTO;
}

const char *
esmpi_aead_engine_name(void)
{
	if (esmpi_crypto_select(NULL, 0) != 0)
		return "none";
	return engines[selected].name;
}

/* --- key contexts --- */

static int
ossl_keys_init(struct ossl_keys *k, const struct suite *s,
    const uint8_t *key)
{
	if ((k->cipher = EVP_CIPHER_fetch(NULL, s->evp_name, NULL)) == NULL)
		return ESMPI_ERR_SUITE;
	if ((k->enc = EVP_CIPHER_CTX_new()) == NULL ||
	    (k->dec = EVP_CIPHER_CTX_new()) == NULL)
		return ESMPI_ERR_NOMEM;
	/*
	 * The key schedule is set up here once; seal and open re-init with
	 * only the nonce. The default IV length is 12 for all three suites.
	 */
	if (EVP_EncryptInit_ex2(k->enc, k->cipher, key, NULL, NULL) != 1 ||
	    EVP_DecryptInit_ex2(k->dec, k->cipher, key, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_get_iv_length(k->enc) != ESMPI_AEAD_NONCE_LEN)
		return ESMPI_ERR_CRYPTO;
	return 0;
}

#ifdef ESMPI_HAVE_IPSEC_MB
static void
imb_keys_init(struct imb_keys *k, int suite, const uint8_t *key)
{
	if (suite == ESMPI_SUITE_AES_128_GCM)
		IMB_AES128_GCM_PRE(imb, key, &k->gcm);
	else if (suite == ESMPI_SUITE_AES_256_GCM)
		IMB_AES256_GCM_PRE(imb, key, &k->gcm);
	else
		memcpy(k->chacha, key, sizeof(k->chacha));
}
#endif

/* A key context on an engine known to run here (no check). */
static int
aead_create(struct esmpi_aead **out, int engine, const struct suite *s,
    const uint8_t *key, size_t key_len)
{
	const size_t align = _Alignof(struct esmpi_aead);
	struct esmpi_aead *a;
	void *mem;
	int r = 0;

	(void)key_len;
	/*
	 * From OpenSSL's allocator, as its own key schedules are (libesmpi
	 * gives it memory kept out of core dumps, libclient/secmem.c), and
	 * aligned here for ipsec-mb's (64 bytes): OpenSSL 3.0 has no aligned
	 * allocation that goes through that hook.
	 */
	if ((mem = OPENSSL_zalloc(sizeof(*a) + align - 1)) == NULL)
		return ESMPI_ERR_NOMEM;
	a = (struct esmpi_aead *)(((uintptr_t)mem + align - 1) &
	    ~(uintptr_t)(align - 1));
	a->mem = mem;
	a->suite = s->info.id;
	a->engine = engine;
#ifdef ESMPI_HAVE_IPSEC_MB
	if (engine == ESMPI_ENGINE_IPSEC_MB)
		imb_keys_init(&a->k.imb, a->suite, key);
	else
#endif
		r = ossl_keys_init(&a->k.ossl, s, key);
	if (r != 0) {
		esmpi_aead_free(a);
		return r;
	}
	*out = a;
	return 0;
}

int
esmpi_aead_new_engine(struct esmpi_aead **out, int engine, int suite,
    const uint8_t *key, size_t key_len)
{
	const struct suite *s;

	if (out == NULL || key == NULL)
		return ESMPI_ERR_INVALID;
	if ((s = suite_lookup(suite)) == NULL || s->evp_name == NULL)
		return ESMPI_ERR_SUITE;
	if (key_len != s->info.key_len)
		return ESMPI_ERR_INVALID;
	if (engine == ESMPI_ENGINE_AUTO) {
		if (esmpi_crypto_select(NULL, 0) != 0)
			return ESMPI_ERR_CRYPTO;
		engine = selected;
	} else if (esmpi_engine_check(engine, NULL, 0) != 0)
		return engine > 0 && engine < NENGINES ? ESMPI_ERR_CRYPTO :
		    ESMPI_ERR_INVALID;
	return aead_create(out, engine, s, key, key_len);
}

int
esmpi_aead_new(struct esmpi_aead **out, int suite,
    const uint8_t *key, size_t key_len)
{
	return esmpi_aead_new_engine(out, ESMPI_ENGINE_AUTO, suite, key,
	    key_len);
}

int
esmpi_aead_engine(const struct esmpi_aead *a)
{
	return a == NULL ? ESMPI_ENGINE_AUTO : a->engine;
}

void
esmpi_aead_free(struct esmpi_aead *a)
{
	if (a == NULL)
		return;
	/* The providers free their key schedules with OPENSSL_clear_free;
	 * ipsec-mb's are in *a, wiped with it. */
	if (a->engine == ESMPI_ENGINE_OPENSSL) {
		EVP_CIPHER_CTX_free(a->k.ossl.enc);
		EVP_CIPHER_CTX_free(a->k.ossl.dec);
		EVP_CIPHER_free(a->k.ossl.cipher);
	}
	OPENSSL_clear_free(a->mem, sizeof(*a) + _Alignof(struct esmpi_aead) -
	    1);
}

/*
 * Ciphertext from 4 KiB is sealed piece by piece into a buffer that stays
 * in this core's cache and streamed to its destination with non-temporal
 * stores. A record above Open MPI's shared-memory eager limit (4 KiB) is
 * read in place by the peer's core (single copy), so its buffer's lines
 * sit in that core's cache when a later record is sealed into it; plain
 * stores would pull each one back first, which cost a 16 KiB ping-pong
 * a third of its time (docs/PERFORMANCE.md). Smaller records are copied
 * out by this core itself and stay in its cache.
 */
#define STREAM_MIN	(4u << 10)
#define STREAM_PIECE	(16u << 10)

static void
stream_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
#if defined(__SSE2__)
	size_t head = (16 - ((uintptr_t)dst & 15)) & 15;

	head = head < n ? head : n;
	memcpy(dst, src, head);
	dst += head;
	src += head;
	n -= head;
	for (; n >= 16; n -= 16, dst += 16, src += 16)
		_mm_stream_si128((__m128i *)(void *)dst,
		    _mm_loadu_si128((const __m128i *)(const void *)src));
#endif
	memcpy(dst, src, n);
}

/* --- OpenSSL steps --- */

/* One step of an AEAD on a keyed context: AAD (out NULL), text, or the
 * final step (in NULL). */
static int
aead_step(EVP_CIPHER_CTX *ctx, int enc, uint8_t *out, const uint8_t *in,
    int len)
{
	uint8_t fin[ESMPI_AEAD_TAG_LEN];
	int outl = 0, ok;

	if (in == NULL)
		ok = enc ? EVP_EncryptFinal_ex(ctx, fin, &outl) :
		    EVP_DecryptFinal_ex(ctx, fin, &outl);
	else if (enc)
		ok = EVP_EncryptUpdate(ctx, out, &outl, in, len);
	else
		ok = EVP_DecryptUpdate(ctx, out, &outl, in, len);
	/* Stream modes: output as long as the input, none at the end. */
	return ok == 1 && outl == (in == NULL ? 0 : out == NULL ? outl : len);
}

/*
 * After sealing, the tag with one parameter: the same as
 * EVP_CIPHER_CTX_ctrl(EVP_CTRL_AEAD_GET_TAG) without its translation
 * layer, which costs as much as sealing a small message.
 */
static int
aead_get_tag(EVP_CIPHER_CTX *ctx, uint8_t tag[ESMPI_AEAD_TAG_LEN])
{
	OSSL_PARAM p[2] = {
		OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag,
		    ESMPI_AEAD_TAG_LEN),
		OSSL_PARAM_END
	};

	return EVP_CIPHER_CTX_get_params(ctx, p) == 1;
}

/*
 * A new nonce on a keyed context and, to open, the tag to expect (nonce
 * NULL: only the tag, on a prepared context).
 * EVP_CipherInit_ex2 with only an IV queries the IV length through the
 * provider on every call (OpenSSL 3.0), a third of a small message's AEAD
 * cost; the GCM provider takes a whole IV as one parameter instead
 * (AEAD_TLS1_IV_FIXED with length -1: "restore the whole IV", no
 * generation), and the tag in the same call. ChaCha20-Poly1305 has no
 * such parameter and goes through the init.
 */
static int
aead_begin(const struct esmpi_aead *a, EVP_CIPHER_CTX *ctx, int enc,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN],
    uint8_t expect[ESMPI_AEAD_TAG_LEN])
{
	OSSL_PARAM p[3] = {
		OSSL_PARAM_octet_string(OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED,
		    (void *)nonce, (size_t)-1),
		OSSL_PARAM_END,
		OSSL_PARAM_END
	};
	const OSSL_PARAM tag = OSSL_PARAM_octet_string(
	    OSSL_CIPHER_PARAM_AEAD_TAG, expect, ESMPI_AEAD_TAG_LEN);

	if (nonce == NULL ||
	    a->suite == ESMPI_SUITE_CHACHA20_POLY1305) {
		if (nonce != NULL &&
		    EVP_CipherInit_ex2(ctx, NULL, NULL, nonce, enc, NULL) != 1)
			return 0;
		p[0] = expect != NULL ? tag : p[1];
	} else if (expect != NULL)
		p[1] = tag;
	return p[0].key == NULL || EVP_CIPHER_CTX_set_params(ctx, p) == 1;
}

/* --- ipsec-mb steps (the direct API: no queue, no job) --- */

#ifdef ESMPI_HAVE_IPSEC_MB
/* Nonce and AAD into side enc's message state. */
static void
imb_begin(struct esmpi_aead *a, int enc,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN], const uint8_t *aad,
    size_t aad_len)
{
	struct imb_keys *k = &a->k.imb;

	if (a->suite == ESMPI_SUITE_AES_128_GCM)
		IMB_AES128_GCM_INIT(imb, &k->gcm, &k->ctx[enc].gcm, nonce, aad,
		    aad_len);
	else if (a->suite == ESMPI_SUITE_AES_256_GCM)
		IMB_AES256_GCM_INIT(imb, &k->gcm, &k->ctx[enc].gcm, nonce, aad,
		    aad_len);
	else
		IMB_CHACHA20_POLY1305_INIT(imb, k->chacha, &k->ctx[enc].cp,
		    nonce, aad, aad_len);
}

static void
imb_text(struct esmpi_aead *a, int enc, uint8_t *out, const uint8_t *in,
    size_t len)
{
	struct imb_keys *k = &a->k.imb;

	/* Its parameter check refuses NULL buffers even for no bytes. */
	if (len == 0)
		return;
	switch (a->suite * 2 + enc) {
	case ESMPI_SUITE_AES_128_GCM * 2 + 1:
		IMB_AES128_GCM_ENC_UPDATE(imb, &k->gcm, &k->ctx[1].gcm, out, in,
		    len);
		break;
	case ESMPI_SUITE_AES_128_GCM * 2:
		IMB_AES128_GCM_DEC_UPDATE(imb, &k->gcm, &k->ctx[0].gcm, out, in,
		    len);
		break;
	case ESMPI_SUITE_AES_256_GCM * 2 + 1:
		IMB_AES256_GCM_ENC_UPDATE(imb, &k->gcm, &k->ctx[1].gcm, out, in,
		    len);
		break;
	case ESMPI_SUITE_AES_256_GCM * 2:
		IMB_AES256_GCM_DEC_UPDATE(imb, &k->gcm, &k->ctx[0].gcm, out, in,
		    len);
		break;
	case ESMPI_SUITE_CHACHA20_POLY1305 * 2 + 1:
		IMB_CHACHA20_POLY1305_ENC_UPDATE(imb, k->chacha, &k->ctx[1].cp,
		    out, in, len);
		break;
	default:
		IMB_CHACHA20_POLY1305_DEC_UPDATE(imb, k->chacha, &k->ctx[0].cp,
		    out, in, len);
		break;
	}
}

/* The tag of side enc's message. */
static void
imb_finish(struct esmpi_aead *a, int enc, uint8_t tag[ESMPI_AEAD_TAG_LEN])
{
	struct imb_keys *k = &a->k.imb;

	switch (a->suite * 2 + enc) {
	case ESMPI_SUITE_AES_128_GCM * 2 + 1:
		IMB_AES128_GCM_ENC_FINALIZE(imb, &k->gcm, &k->ctx[1].gcm, tag,
		    ESMPI_AEAD_TAG_LEN);
		break;
	case ESMPI_SUITE_AES_128_GCM * 2:
		IMB_AES128_GCM_DEC_FINALIZE(imb, &k->gcm, &k->ctx[0].gcm, tag,
		    ESMPI_AEAD_TAG_LEN);
		break;
	case ESMPI_SUITE_AES_256_GCM * 2 + 1:
		IMB_AES256_GCM_ENC_FINALIZE(imb, &k->gcm, &k->ctx[1].gcm, tag,
		    ESMPI_AEAD_TAG_LEN);
		break;
	case ESMPI_SUITE_AES_256_GCM * 2:
		IMB_AES256_GCM_DEC_FINALIZE(imb, &k->gcm, &k->ctx[0].gcm, tag,
		    ESMPI_AEAD_TAG_LEN);
		break;
	case ESMPI_SUITE_CHACHA20_POLY1305 * 2 + 1:
		IMB_CHACHA20_POLY1305_ENC_FINALIZE(imb, &k->ctx[1].cp, tag,
		    ESMPI_AEAD_TAG_LEN);
		break;
	default:
		IMB_CHACHA20_POLY1305_DEC_FINALIZE(imb, &k->ctx[0].cp, tag,
		    ESMPI_AEAD_TAG_LEN);
		break;
	}
}
#endif

/* --- seal and open, both engines --- */

/* Run len bytes of text through a begun message; out may equal in. */
static int
text_step(struct esmpi_aead *a, int enc, uint8_t *out, const uint8_t *in,
    size_t len)
{
	size_t done, n;

#ifdef ESMPI_HAVE_IPSEC_MB
	if (a->engine == ESMPI_ENGINE_IPSEC_MB) {
		imb_text(a, enc, out, in, len);
		return 0;
	}
#endif
	for (done = 0; done < len; done += n) {
		n = len - done > AEAD_CHUNK ? AEAD_CHUNK : len - done;
		if (!aead_step(enc ? a->k.ossl.enc : a->k.ossl.dec, enc,
		    out + done, in + done, (int)n))
			return ESMPI_ERR_CRYPTO;
	}
	return 0;
}

static int
seal_streamed(struct esmpi_aead *a, uint8_t *out, const uint8_t *in,
    size_t len)
{
	uint8_t piece[STREAM_PIECE] __attribute__((uninitialized));
	size_t done, n;

	for (done = 0; done < len; done += n) {
		n = len - done > STREAM_PIECE ? STREAM_PIECE : len - done;
		if (text_step(a, 1, piece, in + done, n) != 0)
			return ESMPI_ERR_CRYPTO;
		stream_copy(out + done, piece, n);
	}
#if defined(__SSE2__)
	_mm_sfence();	/* streamed stores complete before MPI sends */
#endif
	return 0;
}

static int
aead_update(struct esmpi_aead *a, int enc, uint8_t *out, const uint8_t *in,
    size_t len)
{
	if (enc && len >= STREAM_MIN && out != in)
		return seal_streamed(a, out, in, len);
	return text_step(a, enc, out, in, len);
}

static int
prepared_same(const struct prepared *p,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN], const uint8_t *aad,
    size_t aad_len)
{
	return p->valid && p->aad_len == aad_len &&
	    memcmp(p->nonce, nonce, ESMPI_AEAD_NONCE_LEN) == 0 &&
	    memcmp(p->aad, aad, aad_len) == 0;
}

int
esmpi_aead_prepare(struct esmpi_aead *a, int enc,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN], const uint8_t *aad,
    size_t aad_len)
{
	struct prepared *p;
	EVP_CIPHER_CTX *ctx;

	if (a == NULL || nonce == NULL || aad == NULL || aad_len == 0 ||
	    aad_len > ESMPI_AEAD_PREPARE_MAX_AAD)
		return ESMPI_ERR_INVALID;
	p = &a->ready[enc != 0];
	/* Already prepared for it (several receives posted for one peer). */
	if (prepared_same(p, nonce, aad, aad_len))
		return 0;
	p->valid = 0;
#ifdef ESMPI_HAVE_IPSEC_MB
	if (a->engine == ESMPI_ENGINE_IPSEC_MB)
		imb_begin(a, enc != 0, nonce, aad, aad_len);
	else
#endif
	{
		ctx = enc ? a->k.ossl.enc : a->k.ossl.dec;
		if (!aead_begin(a, ctx, enc != 0, nonce, NULL) ||
		    !aead_step(ctx, enc != 0, NULL, aad, (int)aad_len))
			return ESMPI_ERR_CRYPTO;
	}
	memcpy(p->nonce, nonce, ESMPI_AEAD_NONCE_LEN);
	memcpy(p->aad, aad, aad_len);
	p->aad_len = aad_len;
	p->valid = 1;
	return 0;
}

/*
 * Whether the context was prepared for exactly this nonce and AAD; either
 * way it is not prepared any more (every use starts a new message).
 */
static int
prepared_for(struct esmpi_aead *a, int enc,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN], const uint8_t *aad,
    size_t aad_len)
{
	struct prepared *p = &a->ready[enc];
	int hit = prepared_same(p, nonce, aad, aad_len);

	p->valid = 0;
	return hit;
}

/* Arguments of seal and open: sizes, NULLs, overlap. */
static int
args_ok(const struct esmpi_aead *a, const uint8_t *out, const uint8_t *in,
    size_t len, const uint8_t *tag, const uint8_t *nonce,
    const uint8_t *aad, size_t aad_len)
{
	return a != NULL && tag != NULL && nonce != NULL &&
	    (len == 0 || (out != NULL && in != NULL)) &&
	    (aad != NULL || aad_len == 0) && aad_len <= INT_MAX &&
	    len <= ESMPI_AEAD_MAX_LEN && !partial_overlap(out, in, len);
}

/* The parts of a seal or open: each within the arguments' limits, and
 * all of them within one message's. */
static int
parts_ok(const struct esmpi_aead *a, const struct esmpi_aead_part *p,
    int n, const uint8_t *tag, const uint8_t *nonce, const uint8_t *aad,
    size_t aad_len)
{
	size_t total = 0;
	int i;

	if (p == NULL || n < 1 || n > ESMPI_AEAD_MAX_PARTS)
		return 0;
	for (i = 0; i < n; i++) {
		if (!args_ok(a, p[i].out, p[i].in, p[i].len, tag, nonce, aad,
		    aad_len) || p[i].len > ESMPI_AEAD_MAX_LEN - total)
			return 0;
		total += p[i].len;
	}
	return 1;
}

/*
 * The parts' steps below are forced inline: every record's seal and open
 * is one part through them, and as calls they cost a small message ~100
 * instructions more than the single-buffer code they replaced
 * (bench/run.sh --instr).
 */

/* Begin side enc's message unless prepared for it; 0 or an error. */
static inline __attribute__((always_inline)) int
aead_start(struct esmpi_aead *a, int enc, int ready,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN], const uint8_t *aad,
    size_t aad_len, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx;

#ifdef ESMPI_HAVE_IPSEC_MB
	if (a->engine == ESMPI_ENGINE_IPSEC_MB) {
		if (!ready)
			imb_begin(a, enc, nonce, aad, aad_len);
		return 0;
	}
#endif
	ctx = enc ? a->k.ossl.enc : a->k.ossl.dec;
	if (ready)
		return enc || aead_begin(a, ctx, 0, NULL, tag) ? 0 :
		    ESMPI_ERR_CRYPTO;
	if (!aead_begin(a, ctx, enc, nonce, enc ? NULL : tag) ||
	    (aad_len > 0 && !aead_step(ctx, enc, NULL, aad, (int)aad_len)))
		return ESMPI_ERR_CRYPTO;
	return 0;
}

static inline __attribute__((always_inline)) int
seal_parts(struct esmpi_aead *a, const struct esmpi_aead_part *p, int n,
    uint8_t tag[ESMPI_AEAD_TAG_LEN], int ready,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN], const uint8_t *aad,
    size_t aad_len)
{
	int i;

	if (aead_start(a, 1, ready, nonce, aad, aad_len, NULL) != 0)
		return ESMPI_ERR_CRYPTO;
	for (i = 0; i < n; i++)
		if (aead_update(a, 1, p[i].out, p[i].in, p[i].len) != 0)
			return ESMPI_ERR_CRYPTO;
#ifdef ESMPI_HAVE_IPSEC_MB
	if (a->engine == ESMPI_ENGINE_IPSEC_MB) {
		imb_finish(a, 1, tag);
		return 0;
	}
#endif
	if (!aead_step(a->k.ossl.enc, 1, NULL, NULL, 0) ||
	    !aead_get_tag(a->k.ossl.enc, tag))
		return ESMPI_ERR_CRYPTO;
	return 0;
}

int
esmpi_aead_seal(struct esmpi_aead *a, uint8_t *ct,
    uint8_t tag[ESMPI_AEAD_TAG_LEN], const uint8_t *pt, size_t len,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN],
    const uint8_t *aad, size_t aad_len)
{
	struct esmpi_aead_part p = { ct, pt, len };

	if (!args_ok(a, ct, pt, len, tag, nonce, aad, aad_len))
		return ESMPI_ERR_INVALID;
	return seal_parts(a, &p, 1, tag, prepared_for(a, 1, nonce, aad,
	    aad_len), nonce, aad, aad_len);
}

int
esmpi_aead_seal_parts(struct esmpi_aead *a,
    const struct esmpi_aead_part *parts, int n,
    uint8_t tag[ESMPI_AEAD_TAG_LEN],
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN],
    const uint8_t *aad, size_t aad_len)
{
	if (!parts_ok(a, parts, n, tag, nonce, aad, aad_len))
		return ESMPI_ERR_INVALID;
	return seal_parts(a, parts, n, tag, prepared_for(a, 1, nonce, aad,
	    aad_len), nonce, aad, aad_len);
}

/*
 * Decrypt the parts, then check the tag (in constant time); 0 or
 * ESMPI_ERR_AUTH. t is a copy: the tag may sit where plaintext goes.
 */
static inline __attribute__((always_inline)) int
open_parts(struct esmpi_aead *a, const struct esmpi_aead_part *p, int n,
    uint8_t t[ESMPI_AEAD_TAG_LEN], int ready,
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN], const uint8_t *aad,
    size_t aad_len)
{
	int i, r = 0;

	if (aead_start(a, 0, ready, nonce, aad, aad_len, t) != 0)
		return ESMPI_ERR_AUTH;
	for (i = 0; i < n && r == 0; i++)
		if (aead_update(a, 0, p[i].out, p[i].in, p[i].len) != 0)
			r = ESMPI_ERR_AUTH;
#ifdef ESMPI_HAVE_IPSEC_MB
	if (a->engine == ESMPI_ENGINE_IPSEC_MB) {
		uint8_t calc[ESMPI_AEAD_TAG_LEN];
		size_t k;

		/* A finalize that wrote nothing must not match. */
		for (k = 0; k < sizeof(calc); k++)
			calc[k] = (uint8_t)~t[k];
		imb_finish(a, 0, calc);
		if (CRYPTO_memcmp(calc, t, sizeof(calc)) != 0)
			r = ESMPI_ERR_AUTH;
		/* The right tag for a forged record: never left behind. */
		esmpi_memzero(calc, sizeof(calc));
		return r;
	}
#endif
	/* OpenSSL's final step compares the tags. */
	if (r == 0 && !aead_step(a->k.ossl.dec, 0, NULL, NULL, 0))
		r = ESMPI_ERR_AUTH;
	return r;
}

static inline __attribute__((always_inline)) int
open_checked(struct esmpi_aead *a, const struct esmpi_aead_part *p, int n,
    const uint8_t tag[ESMPI_AEAD_TAG_LEN],
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN], const uint8_t *aad,
    size_t aad_len)
{
	uint8_t t[ESMPI_AEAD_TAG_LEN];
	int i, r;

	memcpy(t, tag, sizeof(t));
	r = open_parts(a, p, n, t, prepared_for(a, 0, nonce, aad, aad_len),
	    nonce, aad, aad_len);
	if (r != 0)
		for (i = 0; i < n; i++)
			if (p[i].out != NULL)
				esmpi_memzero(p[i].out, p[i].len);
	return r;
}

int
esmpi_aead_open(struct esmpi_aead *a, uint8_t *pt,
    const uint8_t *ct, size_t len,
    const uint8_t tag[ESMPI_AEAD_TAG_LEN],
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN],
    const uint8_t *aad, size_t aad_len)
{
	struct esmpi_aead_part p = { pt, ct, len };

	if (!args_ok(a, pt, ct, len, tag, nonce, aad, aad_len)) {
		if (pt != NULL)
			esmpi_memzero(pt, len);
		return ESMPI_ERR_INVALID;
	}
	return open_checked(a, &p, 1, tag, nonce, aad, aad_len);
}

int
esmpi_aead_open_parts(struct esmpi_aead *a,
    const struct esmpi_aead_part *parts, int n,
    const uint8_t tag[ESMPI_AEAD_TAG_LEN],
    const uint8_t nonce[ESMPI_AEAD_NONCE_LEN],
    const uint8_t *aad, size_t aad_len)
{
	int i;

	if (!parts_ok(a, parts, n, tag, nonce, aad, aad_len)) {
		for (i = 0; parts != NULL && i < n &&
		    i < ESMPI_AEAD_MAX_PARTS; i++)
			if (parts[i].out != NULL)
				esmpi_memzero(parts[i].out, parts[i].len);
		return ESMPI_ERR_INVALID;
	}
	return open_checked(a, parts, n, tag, nonce, aad, aad_len);
}

int
esmpi_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t n;

	if (buf == NULL && len > 0)
		return ESMPI_ERR_INVALID;
	for (; len > 0; p += n, len -= n) {
		n = len > AEAD_CHUNK ? AEAD_CHUNK : len;
		if (RAND_bytes(p, (int)n) != 1)
			return ESMPI_ERR_CRYPTO;
	}
	return 0;
}
