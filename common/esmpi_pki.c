/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "esmpi_err.h"
#include "esmpi_pki.h"

#define CA_DAYS		3650
#define NODE_DAYS	825

static void __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *
ossl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown OpenSSL error";
}

static int
path_join(char *out, size_t len, const char *dir, const char *file)
{
	int n = snprintf(out, len, "%s/%s", dir, file);

	return n < 0 || (size_t)n >= len ? ESMPI_ERR_INVALID : 0;
}

/*
 * Create the missing parents of dir as `install -d` would: 0755, never
 * writable by group or others, so the 0700 directory below them is the
 * only private one.
 */
static int
mkdir_parents(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	size_t len = strlen(dir), i;

	if (len >= sizeof(path)) {
		seterr(err, errlen, "%s: path too long", dir);
		return ESMPI_ERR_INVALID;
	}
	memcpy(path, dir, len + 1);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	for (i = 1; i < len; i++) {
		if (path[i] != '/' || path[i - 1] == '/')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			seterr(err, errlen, "%s: cannot create its parent "
			    "directory %s: %s", dir, path, strerror(errno));
			return ESMPI_ERR_SYSTEM;
		}
		path[i] = '/';
	}
	return 0;
}

static int
mkdir_private(const char *dir, char *err, size_t errlen)
{
	struct stat st;
	int r;

	if ((r = mkdir_parents(dir, err, errlen)) != 0)
		return r;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		seterr(err, errlen, "%s: cannot create directory: %s", dir,
		    strerror(errno));
		return ESMPI_ERR_SYSTEM;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		seterr(err, errlen, "%s: not a directory", dir);
		return ESMPI_ERR_SYSTEM;
	}
	if ((st.st_mode & 022) != 0) {
		seterr(err, errlen, "%s: directory is writable by group or "
		    "others (mode %04o); it holds keys", dir,
		    (unsigned)(st.st_mode & 07777));
		return ESMPI_ERR_KEYFILE;
	}
	return 0;
}

static EVP_PKEY *
gen_p256(void)
{
	return EVP_EC_gen("P-256");
}

/* Write a PEM object to a new file with mode; never follows an old file. */
static int
write_pem(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert,
    char *err, size_t errlen)
{
	FILE *f;
	int fd, ok;

	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd < 0) {
		seterr(err, errlen, "%s: cannot create: %s", path,
		    strerror(errno));
		return ESMPI_ERR_SYSTEM;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return ESMPI_ERR_SYSTEM;
	}
	if (key != NULL)
		ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	else
		ok = PEM_write_X509(f, cert);
	if (fclose(f) != 0)
		ok = 0;
	if (!ok) {
		seterr(err, errlen, "%s: write failed", path);
		return ESMPI_ERR_SYSTEM;
	}
	return 0;
}

static int
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* A certificate for key's public half named cn, signed by issuer_key. */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
    int is_ca, int days)
{
	X509 *c = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	if (c == NULL)
		return NULL;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;	/* positive */
	if ((bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) == NULL)
		goto out;
	if (!X509_set_version(c, 2) ||
	    X509_gmtime_adj(X509_getm_notBefore(c), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(c), (long)days * 86400) == NULL ||
	    !X509_set_pubkey(c, key))
		goto out;
	name = X509_get_subject_name(c);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	    (const unsigned char *)"esmpi", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0))
		goto out;
	if (issuer == NULL)
		issuer = c;
	if (!X509_set_issuer_name(c, X509_get_subject_name(issuer)))
		goto out;
	if (is_ca) {
		if (!add_ext(c, issuer, NID_basic_constraints,
		    "critical,CA:TRUE,pathlen:0") ||
		    !add_ext(c, issuer, NID_key_usage,
		    "critical,keyCertSign,cRLSign") ||
		    !add_ext(c, issuer, NID_subject_key_identifier, "hash"))
			goto out;
	} else {
		if (!add_ext(c, issuer, NID_basic_constraints,
		    "critical,CA:FALSE") ||
		    !add_ext(c, issuer, NID_key_usage,
		    "critical,digitalSignature") ||
		    !add_ext(c, issuer, NID_authority_key_identifier,
		    "keyid:always"))
			goto out;
	}
	if (X509_sign(c, issuer_key, EVP_sha256()) == 0)
		goto out;
	ok = 1;
out:
	BN_free(bn);
	if (!ok) {
		X509_free(c);
		c = NULL;
	}
	return c;
}

int
esmpi_pki_check_keyfile(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) != 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return ESMPI_ERR_KEYFILE;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: private key is not a regular file",
		    path);
		return ESMPI_ERR_KEYFILE;
	}
	if ((st.st_mode & 077) != 0) {
		seterr(err, errlen, "%s: private key is accessible by group "
		    "or others (mode %04o); refusing to use it (chmod 600)",
		    path, (unsigned)(st.st_mode & 07777));
		return ESMPI_ERR_KEYFILE;
	}
	if (st.st_uid != geteuid()) {
		seterr(err, errlen, "%s: private key is owned by uid %u, "
		    "not by uid %u running this program", path,
		    (unsigned)st.st_uid, (unsigned)geteuid());
		return ESMPI_ERR_KEYFILE;
	}
	return 0;
}

static int
load_key(const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
	FILE *f;
	EVP_PKEY *k;
	int r;

	if ((r = esmpi_pki_check_keyfile(path, err, errlen)) != 0)
		return r;
	if ((f = fopen(path, "re")) == NULL) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return ESMPI_ERR_KEYFILE;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL) {
		seterr(err, errlen, "%s: not a PEM private key (%s)", path,
		    ossl_reason());
		return ESMPI_ERR_KEYFILE;
	}
	if (!EVP_PKEY_is_a(k, "EC")) {
		EVP_PKEY_free(k);
		seterr(err, errlen, "%s: not an EC P-256 key", path);
		return ESMPI_ERR_KEYFILE;
	}
	*out = k;
	return 0;
}

static int
load_cert(const char *path, X509 **out, char *err, size_t errlen)
{
	FILE *f;
	X509 *c;

	if ((f = fopen(path, "re")) == NULL) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return ESMPI_ERR_KEYFILE;
	}
	c = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (c == NULL) {
		seterr(err, errlen, "%s: not a PEM certificate (%s)", path,
		    ossl_reason());
		return ESMPI_ERR_KEYFILE;
	}
	*out = c;
	return 0;
}

int
esmpi_pki_ca_init(const char *dir, const char *cn, char *err, size_t errlen)
{
	char kpath[PATH_MAX], cpath[PATH_MAX];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	struct stat st;
	int r;

	if ((r = mkdir_private(dir, err, errlen)) != 0)
		return r;
	if (path_join(kpath, sizeof(kpath), dir, ESMPI_PKI_CA_KEY) != 0 ||
	    path_join(cpath, sizeof(cpath), dir, ESMPI_PKI_CA_CERT) != 0) {
		seterr(err, errlen, "%s: path too long", dir);
		return ESMPI_ERR_INVALID;
	}
	if (stat(kpath, &st) == 0) {
		seterr(err, errlen, "%s: a CA key already exists; refusing "
		    "to overwrite it", kpath);
		return ESMPI_ERR_INVALID;
	}
	r = ESMPI_ERR_CRYPTO;
	if ((key = gen_p256()) == NULL ||
	    (cert = make_cert(key, cn, NULL, key, 1, CA_DAYS)) == NULL) {
		seterr(err, errlen, "creating CA key: %s", ossl_reason());
		goto out;
	}
	if ((r = write_pem(kpath, 0600, key, NULL, err, errlen)) != 0 ||
	    (r = write_pem(cpath, 0644, NULL, cert, err, errlen)) != 0)
		goto out;
	r = 0;
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	return r;
}

int
esmpi_pki_node_enroll(const char *cadir, const char *name,
    const char *outdir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	EVP_PKEY *cakey = NULL, *key = NULL;
	X509 *cacert = NULL, *cert = NULL;
	int r = ESMPI_ERR_INVALID;

	if (name == NULL || *name == '\0' || strlen(name) > 64) {
		seterr(err, errlen, "node name must be 1 to 64 characters");
		return ESMPI_ERR_INVALID;
	}
	if (path_join(path, sizeof(path), cadir, ESMPI_PKI_CA_KEY) != 0 ||
	    (r = load_key(path, &cakey, err, errlen)) != 0)
		goto out;
	if (path_join(path, sizeof(path), cadir, ESMPI_PKI_CA_CERT) != 0 ||
	    (r = load_cert(path, &cacert, err, errlen)) != 0)
		goto out;
	if (X509_check_private_key(cacert, cakey) != 1) {
		seterr(err, errlen, "%s: CA key does not match %s/%s", cadir,
		    cadir, ESMPI_PKI_CA_CERT);
		r = ESMPI_ERR_KEYFILE;
		goto out;
	}
	if ((r = mkdir_private(outdir, err, errlen)) != 0)
		goto out;
	r = ESMPI_ERR_CRYPTO;
	if ((key = gen_p256()) == NULL ||
	    (cert = make_cert(key, name, cacert, cakey, 0, NODE_DAYS)) ==
	    NULL) {
		seterr(err, errlen, "creating node key: %s", ossl_reason());
		goto out;
	}
	if (path_join(path, sizeof(path), outdir, ESMPI_PKI_NODE_KEY) != 0 ||
	    (r = write_pem(path, 0600, key, NULL, err, errlen)) != 0)
		goto out;
	if (path_join(path, sizeof(path), outdir, ESMPI_PKI_NODE_CERT) != 0 ||
	    (r = write_pem(path, 0644, NULL, cert, err, errlen)) != 0)
		goto out;
	if (path_join(path, sizeof(path), outdir, ESMPI_PKI_CA_CERT) != 0 ||
	    (r = write_pem(path, 0644, NULL, cacert, err, errlen)) != 0)
		goto out;
	r = 0;
out:
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(key);
	X509_free(cacert);
	X509_free(cert);
	return r;
}

int
esmpi_pki_ensure_default(const char *statedir, const char *name,
    int *created, char *err, size_t errlen)
{
	char kpath[PATH_MAX], cadir[PATH_MAX];
	struct stat st;
	int r;

	*created = 0;
	if ((r = mkdir_private(statedir, err, errlen)) != 0)
		return r;
	if (path_join(kpath, sizeof(kpath), statedir, ESMPI_PKI_NODE_KEY) != 0 ||
	    path_join(cadir, sizeof(cadir), statedir, ESMPI_PKI_LOCAL_CA_DIR) != 0) {
		seterr(err, errlen, "%s: path too long", statedir);
		return ESMPI_ERR_INVALID;
	}
	if (lstat(kpath, &st) == 0)
		return 0;
	if ((r = esmpi_pki_ca_init(cadir, "esmpi local CA", err, errlen)) != 0 ||
	    (r = esmpi_pki_node_enroll(cadir, name, statedir, err, errlen)) != 0)
		return r;
	*created = 1;
	return 0;
}

static int
verify_chain(X509 *ca, X509 *cert, char *why, size_t whylen)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok = 0;

	if (store == NULL || ctx == NULL || !X509_STORE_add_cert(store, ca) ||
	    !X509_STORE_CTX_init(ctx, store, cert, NULL)) {
		seterr(why, whylen, "%s", ossl_reason());
		goto out;
	}
	if (X509_verify_cert(ctx) == 1)
		ok = 1;
	else
		seterr(why, whylen, "%s", X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

static void
cert_cn(X509 *c, char *cn, size_t len)
{
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(c),
	    NID_commonName, cn, (int)len) < 0)
		snprintf(cn, len, "(no CN)");
}

static int
is_p256(EVP_PKEY *k)
{
	char group[64];
	size_t glen = 0;

	return EVP_PKEY_is_a(k, "EC") &&
	    EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group),
	    &glen) == 1 && strcmp(group, "prime256v1") == 0;
}

int
esmpi_pki_load_identity(const char *statedir, struct esmpi_identity **out,
    char *err, size_t errlen)
{
	struct esmpi_identity *id;
	char path[PATH_MAX], why[256];
	unsigned char *der = NULL;
	const ASN1_TIME *na;
	BIO *bio;
	int r = ESMPI_ERR_INVALID, n;

	if ((id = calloc(1, sizeof(*id))) == NULL)
		return ESMPI_ERR_NOMEM;
	if (path_join(path, sizeof(path), statedir, ESMPI_PKI_NODE_KEY) != 0 ||
	    (r = load_key(path, &id->key, err, errlen)) != 0)
		goto fail;
	if (path_join(path, sizeof(path), statedir, ESMPI_PKI_NODE_CERT) != 0 ||
	    (r = load_cert(path, &id->cert, err, errlen)) != 0)
		goto fail;
	if (X509_check_private_key(id->cert, id->key) != 1) {
		seterr(err, errlen, "%s: certificate does not match %s/%s",
		    path, statedir, ESMPI_PKI_NODE_KEY);
		r = ESMPI_ERR_KEYFILE;
		goto fail;
	}
	if (!is_p256(id->key)) {
		seterr(err, errlen, "%s/%s: not a P-256 key", statedir,
		    ESMPI_PKI_NODE_KEY);
		r = ESMPI_ERR_KEYFILE;
		goto fail;
	}
	if (path_join(path, sizeof(path), statedir, ESMPI_PKI_CA_CERT) != 0 ||
	    (r = load_cert(path, &id->ca, err, errlen)) != 0)
		goto fail;
	if (!verify_chain(id->ca, id->cert, why, sizeof(why))) {
		seterr(err, errlen, "%s/%s: node certificate does not verify "
		    "against %s: %s", statedir, ESMPI_PKI_NODE_CERT, path, why);
		r = ESMPI_ERR_CERT;
		goto fail;
	}
	if ((n = i2d_X509(id->cert, &der)) <= 0) {
		r = ESMPI_ERR_CRYPTO;
		goto fail;
	}
	id->cert_der = der;
	id->cert_der_len = (size_t)n;
	cert_cn(id->cert, id->name, sizeof(id->name));
	na = X509_get0_notAfter(id->cert);
	if ((bio = BIO_new(BIO_s_mem())) != NULL) {
		if (ASN1_TIME_print(bio, na))
			BIO_read(bio, id->not_after, sizeof(id->not_after) - 1);
		BIO_free(bio);
	}
	*out = id;
	return 0;
fail:
	esmpi_pki_identity_free(id);
	return r;
}

void
esmpi_pki_identity_free(struct esmpi_identity *id)
{
	if (id == NULL)
		return;
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
	X509_free(id->ca);
	OPENSSL_free(id->cert_der);
	free(id);
}

int
esmpi_pki_verify_peer(const struct esmpi_identity *id, const uint8_t *der,
    size_t der_len, int chain_known, EVP_PKEY **pub, char *cn, size_t cnlen,
    char *err, size_t errlen)
{
	const unsigned char *p = der;
	X509 *c;
	EVP_PKEY *k;
	char why[256];
	int r = ESMPI_ERR_CERT;

	if (der_len > 16384 ||
	    (c = d2i_X509(NULL, &p, (long)der_len)) == NULL ||
	    p != der + der_len) {
		seterr(err, errlen, "peer certificate is not valid DER");
		return ESMPI_ERR_CERT;
	}
	cert_cn(c, cn, cnlen);
	if (!chain_known && !verify_chain(id->ca, c, why, sizeof(why))) {
		seterr(err, errlen, "certificate of node '%s' does not verify "
		    "against this cluster's CA: %s", cn, why);
		goto out;
	}
	if ((k = X509_get_pubkey(c)) == NULL || !is_p256(k)) {
		EVP_PKEY_free(k);
		seterr(err, errlen, "certificate of node '%s' has no P-256 "
		    "key", cn);
		goto out;
	}
	*pub = k;
	r = 0;
out:
	X509_free(c);
	return r;
}

int
esmpi_pki_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t **sig,
    size_t *sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t *s = NULL;
	size_t slen = 0;
	int r = ESMPI_ERR_CRYPTO;

	if (md == NULL)
		return ESMPI_ERR_NOMEM;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &slen, msg, len) != 1 ||
	    (s = malloc(slen)) == NULL ||
	    EVP_DigestSign(md, s, &slen, msg, len) != 1)
		goto out;
	*sig = s;
	*sig_len = slen;
	s = NULL;
	r = 0;
out:
	free(s);
	EVP_MD_CTX_free(md);
	return r;
}

int
esmpi_pki_verify(EVP_PKEY *pub, const uint8_t *msg, size_t len,
    const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int r = ESMPI_ERR_SIGNATURE;

	if (md == NULL)
		return ESMPI_ERR_NOMEM;
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
	    EVP_DigestVerify(md, sig, sig_len, msg, len) == 1)
		r = 0;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return r;
}
