/* SPDX-License-Identifier: Apache-2.0 */
#ifndef ESMPI_PATHS_H
#define ESMPI_PATHS_H

/*
 * Where esmpi's programs find each other by default: the daemon's sockets
 * (ranks, esmpictl) and its state directory. The packages' systemd units
 * (packaging/systemd/) name the same paths.
 */
#define ESMPI_DEFAULT_STATE_DIR		"/var/lib/esmpi"
#define ESMPI_DEFAULT_SOCKET		"/run/esmpi/esmpid.sock"
#define ESMPI_DEFAULT_ADMIN_SOCKET	"/run/esmpi/admin.sock"

#endif
