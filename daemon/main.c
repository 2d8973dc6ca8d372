/* SPDX-License-Identifier: Apache-2.0 */
/*
 * esmpid: the node daemon. Holds the node identity and the policy, serves
 * MPI ranks (job key establishment, resolved policy) and admins.
 * Exit codes: 0 success, 1 invalid input (policy, key files), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "esmpi_err.h"
#include "esmpi_crypto.h"
#include "esmpi_log.h"
#include "esmpid.h"

#define EXIT_INVALID	1
#define EXIT_USAGE	2

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: esmpid [--state-dir DIR] [--policy FILE] [--socket PATH]\n"
	    "              [--admin-socket PATH] [--admin-group GROUP]\n"
	    "              [--max-clients N] [--max-clients-per-user N]\n"
	    "              [--hello-timeout S] [--keyx-timeout S]\n"
	    "              [--foreground] [--log-stderr]\n"
	    "defaults: --state-dir %s --socket %s\n"
	    "          --admin-socket %s; no --policy: embedded default\n",
	    ESMPI_DEFAULT_STATE_DIR, ESMPI_DEFAULT_SOCKET,
	    ESMPI_DEFAULT_ADMIN_SOCKET);
}

/* Secrets live in this process: no core dumps, no ptrace by peers. */
static void
harden_process(void)
{
	struct rlimit rl = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	umask(077);
}

static int
load_policy(struct esmpid *d)
{
	struct passwd *pw;
	char err[768];
	int r;

	if (d->opt.policy_path != NULL) {
		char abs[PATH_MAX];

		if (realpath(d->opt.policy_path, abs) == NULL) {
			esmpi_error("%s: %s", d->opt.policy_path,
			    strerror(errno));
			return ESMPI_ERR_POLICY;
		}
		struct esmpi_pol_files strict = { .strict = 1 };

		if ((r = esmpid_policy_swap(d, abs, &strict, 1, err,
		    sizeof(err))) != 0) {
			esmpi_error("%s", err);
			return r;
		}
		return 0;
	}
	/* Embedded default: the invoking user may use the daemon. */
	pw = getpwuid(getuid());
	if ((r = esmpi_pol_default(pw ? pw->pw_name : "root",
	    &d->policy)) != 0) {
		esmpi_error("embedded default policy: %s", esmpi_strerror(r));
		return r;
	}
	d->policy_loads++;
	return 0;
}

static int
daemonize(void)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -1;
	if (freopen("/dev/null", "r", stdin) == NULL)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "policy", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 'S' },
		{ "admin-socket", required_argument, NULL, 'A' },
		{ "admin-group", required_argument, NULL, 'g' },
		{ "max-clients", required_argument, NULL, 'm' },
		{ "max-clients-per-user", required_argument, NULL, 'u' },
		{ "hello-timeout", required_argument, NULL, 'H' },
		{ "keyx-timeout", required_argument, NULL, 'K' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log-stderr", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct esmpid d;
	char err[1024], host[256];
	int ch, created = 0, log_stderr = 0, r, ret = EXIT_INVALID;

	memset(&d, 0, sizeof(d));
	d.epfd = d.sigfd = d.timerfd = d.client_lfd = d.admin_lfd = -1;
	d.admin_gid = (gid_t)-1;
	d.opt.state_dir = ESMPI_DEFAULT_STATE_DIR;
	d.opt.socket_path = ESMPI_DEFAULT_SOCKET;
	d.opt.admin_path = ESMPI_DEFAULT_ADMIN_SOCKET;
	d.opt.max_clients = ESMPID_MAX_CLIENTS;
	d.opt.hello_timeout = ESMPID_HANDSHAKE_TIMEOUT;
	d.opt.keyx_timeout = ESMPID_KEYX_TIMEOUT;
	esmpi_log_init("esmpid", ESMPI_LOG_INFO);

	while ((ch = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': d.opt.state_dir = optarg; break;
		case 'p': d.opt.policy_path = optarg; break;
		case 'S': d.opt.socket_path = optarg; break;
		case 'A': d.opt.admin_path = optarg; break;
		case 'g': d.opt.admin_group = optarg; break;
		case 'f': d.opt.foreground = 1; break;
		case 'e': log_stderr = 1; break;
		case 'm':
		case 'u':
		case 'H':
		case 'K': {
			char *end;
			long v = strtol(optarg, &end, 10);
			const char *name = ch == 'm' ? "max-clients" :
			    ch == 'u' ? "max-clients-per-user" :
			    ch == 'H' ? "hello-timeout" : "keyx-timeout";

			if (*optarg == '\0' || *end != '\0' || v < 1 ||
			    v > 65536) {
				fprintf(stderr, "esmpid: --%s: '%s' is not a "
				    "number from 1 to 65536\n", name, optarg);
				return EXIT_USAGE;
			}
			if (ch == 'm')
				d.opt.max_clients = (int)v;
			else if (ch == 'u')
				d.opt.max_clients_per_user = (int)v;
			else if (ch == 'H')
				d.opt.hello_timeout = (int)v;
			else
				d.opt.keyx_timeout = (int)v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "esmpid: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	/* One user alone never takes every slot: a quarter stays for
	 * the others. */
	if (d.opt.max_clients_per_user == 0)
		d.opt.max_clients_per_user = d.opt.max_clients -
		    d.opt.max_clients / 4;
	if (d.opt.admin_group != NULL) {
		struct group *gr = getgrnam(d.opt.admin_group);

		if (gr == NULL) {
			fprintf(stderr, "esmpid: --admin-group: no group "
			    "named '%s'\n", d.opt.admin_group);
			return EXIT_USAGE;
		}
		d.admin_gid = gr->gr_gid;
	}

	harden_process();
	esmpid_audit_init(log_stderr);
	d.started = esmpid_now();

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if ((r = esmpi_pki_ensure_default(d.opt.state_dir, host, &created, err,
	    sizeof(err))) != 0) {
		esmpi_error("%s", err);
		goto out;
	}
	if (created)
		esmpi_notice("created a local CA and node identity '%s' in %s "
		    "(embedded default)", host, d.opt.state_dir);
	if ((r = esmpi_pki_load_identity(d.opt.state_dir, &d.id, err,
	    sizeof(err))) != 0) {
		esmpi_error("%s", err);
		goto out;
	}
	if (load_policy(&d) != 0)
		goto out;
	/* The AEAD engine wrapping job keys (jobkey.c), from esmpid's own
	 * environment: chosen and self-tested now, not at the first job. */
	if ((r = esmpi_crypto_select(err, sizeof(err))) != 0) {
		esmpi_error("no usable AEAD engine: %s", err);
		goto out;
	}
	esmpi_info("AEAD engine %s%s%s", esmpi_aead_engine_name(),
	    err[0] != '\0' ? ": " : "", err);
	if (esmpid_server_open(&d) != 0) {
		esmpi_error("cannot listen: %s", strerror(errno));
		goto out;
	}
	if (!d.opt.foreground && !d.activated && daemonize() != 0) {
		esmpi_error("cannot daemonize: %s", strerror(errno));
		goto out;
	}
	{
		char src[600];
		const char *extra[] = { src, NULL };

		snprintf(src, sizeof(src), "ESMPI_POLICY=%s",
		    d.policy->source);
		esmpid_audit(ESMPI_AUDIT_NOTICE, "policy_loaded", NULL, extra,
		    "esmpid started as node '%s' with policy %s; clients on "
		    "%s", d.id->name, d.policy->source,
		    d.activated ? "(socket activation)" : d.opt.socket_path);
	}
	sd_notifyf(0, "READY=1\nSTATUS=serving node %s\nMAINPID=%lu",
	    d.id->name, (unsigned long)getpid());
	ret = esmpid_server_run(&d) == 0 ? 0 : EXIT_INVALID;
	sd_notify(0, "STOPPING=1");
	esmpi_notice("shutting down");
out:
	esmpid_server_close(&d);
	esmpi_pki_identity_free(d.id);
	esmpi_pol_free(d.policy);
	free(d.policy_file);
	return ret;
}
