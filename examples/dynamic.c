/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dynamic processes from C (examples/mpi4py_dynamic.py's cases, for an MPI
 * without mpi4py):
 *   dynamic spawn           spawn 2 children of this program
 *                           (MPI_Comm_spawn), then 1 + 1 with two argv
 *                           lists (MPI_Comm_spawn_multiple);
 *   dynamic accept PORTFILE rank 0 writes MPI_Open_port's name to
 *                           PORTFILE, the job accepts; then rank 0 writes
 *                           a TCP port to PORTFILE.join and joins over it;
 *   dynamic connect PORTFILE the other side of both (another job);
 *   dynamic join            ranks 0 and 1 of one job join over TCP (the
 *                           port sent point to point).
 * On each intercommunicator the parent side's rank 0 sends a marker (the
 * file $DYN_MARKER_FILE, default ESMPI-SECRET-MARKER) to the other side's
 * rank 0, which prints its FNV-1a hash (never the marker); then an
 * Allreduce and a Barrier on it, an Allgather on its Intercomm_merge, an
 * Allreduce on its Comm_dup, and Disconnect. Each side's rank 0 prints one
 * line per intercommunicator.
 */
#include <arpa/inet.h>
#include <mpi.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TAG 7

static void
die(const char *what)
{
	fprintf(stderr, "dynamic: %s failed\n", what);
	MPI_Abort(MPI_COMM_WORLD, 1);
}

static uint64_t
fnv(const char *s, int n)
{
	uint64_t h = 14695981039346656037ull;
	int i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void
use(MPI_Comm ic, int parent, const char *what)
{
	char msg[256] = "ESMPI-SECRET-MARKER", line[512];
	int me, n = 0, total, dtotal, all[16], len, i, off;
	MPI_Comm merged, dup;
	MPI_Status st;
	FILE *f;

	MPI_Comm_rank(ic, &me);
	if (me == 0 && parent) {
		if (getenv("DYN_MARKER_FILE") &&
		    (f = fopen(getenv("DYN_MARKER_FILE"), "r")) != NULL) {
			if (fgets(msg, sizeof(msg), f) == NULL)
				die("reading $DYN_MARKER_FILE");
			fclose(f);
			msg[strcspn(msg, "\n")] = '\0';
		}
		strncat(msg, " from the parent side", sizeof(msg) - strlen(msg) - 1);
		MPI_Send(msg, (int)strlen(msg), MPI_CHAR, 0, TAG, ic);
	} else if (me == 0) {
		MPI_Recv(msg, sizeof(msg), MPI_CHAR, 0, TAG, ic, &st);
		MPI_Get_count(&st, MPI_CHAR, &n);
	}
	i = me + 1;
	MPI_Allreduce(&i, &total, 1, MPI_INT, MPI_SUM, ic);
	MPI_Barrier(ic);
	MPI_Intercomm_merge(ic, !parent, &merged);
	MPI_Comm_size(merged, &len);
	if (len > 16)
		die("more than 16 processes: Intercomm_merge");
	i = (parent ? 0 : 100) + me;
	MPI_Allgather(&i, 1, MPI_INT, all, 1, MPI_INT, merged);
	MPI_Comm_dup(ic, &dup);
	i = 10 * (me + 1);
	MPI_Allreduce(&i, &dtotal, 1, MPI_INT, MPI_SUM, dup);
	off = snprintf(line, sizeof(line), "%s %s: ",
	    parent ? "parent" : "child", what);
	if (!parent)
		off += snprintf(line + off, sizeof(line) - off,
		    "got %d bytes fnv %016llx, ", n,
		    (unsigned long long)fnv(msg, n));
	off += snprintf(line + off, sizeof(line) - off,
	    "allreduce %d, dup allreduce %d, merged", total, dtotal);
	for (i = 0; i < len; i++)
		off += snprintf(line + off, sizeof(line) - off, " %d", all[i]);
	/* One side's rank 0 at a time: both print through one launcher. */
	for (i = 0; i < 2; i++) {
		if (me == 0 && parent == (i == 1))
			printf("%s\n", line), fflush(stdout);
		MPI_Barrier(merged);
	}
	MPI_Comm_free(&dup);
	MPI_Comm_free(&merged);
	MPI_Comm_disconnect(&ic);
}

static void
spawn(const char *self)
{
	char *argv[] = { "child", "spawn", NULL };
	char *av0[] = { "child", "multi-a", NULL };
	char *av1[] = { "child", "multi-b", "extra", NULL };
	char *cmds[] = { (char *)self, (char *)self };
	char **argvs[] = { av0, av1 };
	int np[] = { 1, 1 }, errs[2];
	MPI_Info infos[] = { MPI_INFO_NULL, MPI_INFO_NULL };
	MPI_Comm ic;

	if (MPI_Comm_spawn(self, argv, 2, MPI_INFO_NULL, 0, MPI_COMM_WORLD,
	    &ic, errs) != MPI_SUCCESS)
		die("MPI_Comm_spawn");
	use(ic, 1, "spawn");
	if (MPI_Comm_spawn_multiple(2, cmds, argvs, np, infos, 0,
	    MPI_COMM_WORLD, &ic, MPI_ERRCODES_IGNORE) != MPI_SUCCESS)
		die("MPI_Comm_spawn_multiple");
	use(ic, 1, "spawn_multiple");
}

/* Wait for path to appear, then read it into buf. */
static void
read_file(const char *path, char *buf, size_t n)
{
	FILE *f;
	size_t got;

	while ((f = fopen(path, "r")) == NULL)
		usleep(20000);
	got = fread(buf, 1, n - 1, f);
	buf[got] = '\0';
	fclose(f);
}

/* Write via a temporary name: the reader never sees half of it. */
static void
write_file(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL || fputs(text, f) < 0 ||
	    fclose(f) != 0 || rename(tmp, path) != 0)
		die(path);
}

/*
 * MPI_Comm_join between the two jobs' rank 0, the TCP port through
 * PORTFILE.join; without portfile, between ranks 0 and 1 of this job, the
 * port sent point to point.
 */
static void
join(const char *portfile, int listener)
{
	int p;

	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	char path[4096], port[32];
	int ls, s;
	MPI_Comm ic;

	snprintf(path, sizeof(path), "%s.join", portfile ? portfile : "");
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (listener) {
		ls = socket(AF_INET, SOCK_STREAM, 0);
		if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) ||
		    listen(ls, 1) ||
		    getsockname(ls, (struct sockaddr *)&a, &alen))
			die("listening socket");
		p = ntohs(a.sin_port);
		snprintf(port, sizeof(port), "%d", p);
		if (portfile)
			write_file(path, port);
		else
			MPI_Send(&p, 1, MPI_INT, 1, 3, MPI_COMM_WORLD);
		if ((s = accept(ls, NULL, NULL)) < 0)
			die("accept");
		close(ls);
	} else {
		if (portfile) {
			read_file(path, port, sizeof(port));
			p = atoi(port);
		} else {
			MPI_Recv(&p, 1, MPI_INT, 0, 3, MPI_COMM_WORLD,
			    MPI_STATUS_IGNORE);
		}
		a.sin_port = htons((uint16_t)p);
		s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)))
			die("connect");
	}
	if (MPI_Comm_join(s, &ic) != MPI_SUCCESS)
		die("MPI_Comm_join");
	use(ic, listener, "join");
	close(s);
}

int
main(int argc, char **argv)
{
	char port[MPI_MAX_PORT_NAME] = "";
	const char *mode = argc > 1 ? argv[1] : "";
	MPI_Comm parent, ic;
	int rank, acc;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_get_parent(&parent);
	acc = !strcmp(mode, "accept");
	if (parent != MPI_COMM_NULL) {
		char what[64];

		snprintf(what, sizeof(what), "%s%s%s", argc > 2 ? argv[2] : "",
		    argc > 3 ? " " : "", argc > 3 ? argv[3] : "");
		use(parent, 0, what);
	} else if (!strcmp(mode, "spawn")) {
		spawn(argv[0]);
	} else if (!strcmp(mode, "join")) {
		if (rank < 2)
			join(NULL, rank == 0);
	} else if ((acc || !strcmp(mode, "connect")) && argc > 2) {
		if (acc && rank == 0) {
			MPI_Open_port(MPI_INFO_NULL, port);
			write_file(argv[2], port);
		} else if (rank == 0) {
			read_file(argv[2], port, sizeof(port));
		}
		if ((acc ? MPI_Comm_accept : MPI_Comm_connect)(port,
		    MPI_INFO_NULL, 0, MPI_COMM_WORLD, &ic) != MPI_SUCCESS)
			die(acc ? "MPI_Comm_accept" : "MPI_Comm_connect");
		use(ic, acc, acc ? "accept" : "connect");
		if (acc && rank == 0)
			MPI_Close_port(port);
		if (rank == 0)
			join(argv[2], acc);
	} else {
		fprintf(stderr, "usage: dynamic spawn | accept PORTFILE | "
		    "connect PORTFILE | join\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	MPI_Finalize();
	return 0;
}
