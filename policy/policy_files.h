/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_POLICY_FILES_H
#define ESMPI_POLICY_FILES_H

#include <stddef.h>

#include "esmpi_policy.h"

/*
 * One file of a policy for the parser: from f's list when f serves only
 * that, else from the filesystem (checked first when f is strict; kept
 * in f's list when f records). *out is malloc'd and NUL-terminated.
 * Returns 0, ESMPI_ERR_DENIED (why says it), ESMPI_ERR_SYSTEM (errno),
 * ESMPI_ERR_INVALID (not a regular file), ESMPI_ERR_TOO_LARGE (*size) or
 * ESMPI_ERR_NOMEM.
 */
int esmpi_pol_get_file(struct esmpi_pol_files *f, const char *path,
    char **out, size_t *len, long long *size, char *why, size_t whylen);

#endif
