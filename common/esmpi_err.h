/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_ERR_H
#define ESMPI_ERR_H

/*
 * Error codes shared by every esmpi module. Library functions return 0 on
 * success or one of these (negative) values; esmpi_strerror() gives a
 * sentence. Out-parameters are written only on success.
 */
enum esmpi_err {
	ESMPI_OK = 0,
	ESMPI_ERR_INTERNAL = -1,	/* broken invariant */
	ESMPI_ERR_NOMEM = -2,
	ESMPI_ERR_INVALID = -3,		/* invalid argument or input */
	ESMPI_ERR_SYSTEM = -4,		/* a system call failed; see errno */
	ESMPI_ERR_CRYPTO = -5,		/* OpenSSL reported a failure */
	ESMPI_ERR_AUTH = -6,		/* authentication/integrity check failed */
	ESMPI_ERR_REPLAY = -7,		/* record replayed or too old */
	ESMPI_ERR_TOO_LARGE = -8,	/* frame or record above its limit */
	ESMPI_ERR_TRUNCATED = -9,	/* input shorter than its header says */
	ESMPI_ERR_PROTOCOL = -10,	/* malformed or out-of-order message */
	ESMPI_ERR_VERSION = -11,	/* unsupported protocol/record version */
	ESMPI_ERR_DENIED = -12,		/* access denied by policy */
	ESMPI_ERR_UNREACHABLE = -13,	/* daemon not reachable */
	ESMPI_ERR_CERT = -14,		/* certificate did not verify */
	ESMPI_ERR_POLICY = -15,		/* policy invalid */
	ESMPI_ERR_KEYFILE = -16,	/* key file missing, unreadable or unsafe */
	ESMPI_ERR_LIMIT = -17,		/* a key usage limit is reached */
	ESMPI_ERR_EOF = -18,		/* peer closed the connection */
	ESMPI_ERR_SUITE = -19,		/* unknown or unavailable cipher suite */
	ESMPI_ERR_SIGNATURE = -20,	/* signature did not verify */
	ESMPI_ERR_BUSY = -21,		/* daemon at a connection or memory limit */
};

/* A static sentence describing err; never NULL. */
const char *esmpi_strerror(int err);

#endif
