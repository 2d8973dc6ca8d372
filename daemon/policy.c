/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy in force: load (validate, then swap; on any error the old
 * one stays) and the SIGHUP reload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "esmpi_err.h"
#include "esmpi_log.h"
#include "esmpid.h"

int
esmpid_policy_swap(struct esmpid *d, const char *path,
    struct esmpi_pol_files *files, int reloadable, char *err, size_t errlen)
{
	struct esmpi_policy *p = NULL;
	struct esmpi_pol_error pe;
	char *copy = NULL;
	int r;

	/* Validate then swap: the old policy stays on any error. */
	if ((r = esmpi_pol_load_files(path, files, &p, &pe)) != 0) {
		esmpi_pol_error_format(&pe, err, errlen);
		return r;
	}
	if (reloadable && (copy = strdup(path)) == NULL) {
		esmpi_pol_free(p);
		return ESMPI_ERR_NOMEM;
	}
	esmpi_pol_free(d->policy);
	d->policy = p;
	free(d->policy_file);
	d->policy_file = copy;
	d->policy_loads++;
	return 0;
}

void
esmpid_policy_reload(struct esmpid *d)
{
	char err[768];
	const char *extra[] = { NULL, NULL };
	char src[600];

	struct esmpi_pol_files strict = { .strict = 1 };

	if (d->policy_file == NULL) {
		esmpi_notice("SIGHUP: no policy file to re-read (the embedded "
		    "default, or a policy an admin group member loaded); "
		    "nothing to reload");
		return;
	}
	sd_notify(0, "RELOADING=1");
	snprintf(src, sizeof(src), "ESMPI_POLICY=%s", d->policy_file);
	extra[0] = src;
	if (esmpid_policy_swap(d, d->policy_file, &strict, 1, err,
	    sizeof(err)) != 0)
		esmpid_audit(ESMPI_AUDIT_ERR, "policy_rejected", NULL, extra,
		    "reload refused, keeping the current policy: %s", err);
	else
		esmpid_audit(ESMPI_AUDIT_NOTICE, "policy_loaded", NULL, extra,
		    "policy reloaded from %s (SIGHUP)", d->policy_file);
	sd_notify(0, "READY=1");
}
