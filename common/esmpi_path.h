/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_PATH_H
#define ESMPI_PATH_H

#include <stddef.h>

/*
 * Whether anyone but root (or us) could change what path names, as sshd's
 * StrictModes asks: every object on the way as given (each folder, each
 * symbolic link, the file) and every one on the resolved way must belong
 * to root or to our effective uid and be writable by nobody else (group
 * root excepted). A folder with the sticky bit (/tmp) may be writable by
 * all: others cannot replace what root put there. 0 when safe; otherwise
 * 1 with a sentence in why. A path that does not exist is left to the
 * caller's open to report (0).
 */
int esmpi_path_unsafe(const char *path, char *why, size_t whylen);

#endif
