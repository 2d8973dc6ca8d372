/* SPDX-License-Identifier: Apache-2.0 */
#include "esmpi_err.h"

const char *
esmpi_strerror(int err)
{
	switch (err) {
	case ESMPI_OK:			return "success";
	case ESMPI_ERR_INTERNAL:	return "internal error";
	case ESMPI_ERR_NOMEM:		return "out of memory";
	case ESMPI_ERR_INVALID:		return "invalid argument";
	case ESMPI_ERR_SYSTEM:		return "system call failed";
	case ESMPI_ERR_CRYPTO:		return "cryptographic library failure";
	case ESMPI_ERR_AUTH:		return "message authentication failed";
	case ESMPI_ERR_REPLAY:		return "replayed or stale record";
	case ESMPI_ERR_TOO_LARGE:	return "message too large";
	case ESMPI_ERR_TRUNCATED:	return "message truncated";
	case ESMPI_ERR_PROTOCOL:	return "protocol violation";
	case ESMPI_ERR_VERSION:		return "unsupported version";
	case ESMPI_ERR_DENIED:		return "access denied";
	case ESMPI_ERR_UNREACHABLE:	return "daemon unreachable";
	case ESMPI_ERR_CERT:		return "certificate verification failed";
	case ESMPI_ERR_POLICY:		return "invalid policy";
	case ESMPI_ERR_KEYFILE:		return "bad key file";
	case ESMPI_ERR_LIMIT:		return "key usage limit reached";
	case ESMPI_ERR_EOF:		return "connection closed by peer";
	case ESMPI_ERR_SUITE:		return "unknown or unavailable cipher suite";
	case ESMPI_ERR_SIGNATURE:	return "signature verification failed";
	case ESMPI_ERR_BUSY:		return "daemon busy (connection or memory limit)";
	}
	return "unknown error";
}
