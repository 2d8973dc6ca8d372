/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Numbered messages for the replay/reorder adversary (test_replay.py):
 * rank 0 sends NMSG messages of MSGLEN bytes, tag 7, to rank 1; message i
 * is MAGIC, i (u32), then a pattern of i. Every message has the same size,
 * so each one (plain, or as an esmpi record of MSGLEN + 40 bytes) is a unit
 * the bridge can find in the TCP stream. Rank 1 receives them in order
 * with MPI_ERRORS_RETURN and prints one line per receive that is not
 * message i intact:
 *   "recv i: refused (<error string>), buffer wiped|NOT wiped"
 *   "recv i: got message j"            (MPI delivered the wrong message)
 * and at the end "seqmsgs: N received, R refused, W wrong".
 * Exit status 0 only if every message arrived in order, intact.
 */
#define _GNU_SOURCE		/* memmem */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NMSG	24
#define MSGLEN	256
#define MAGIC	"SEQMSG-UNIT"	/* the bridge's --magic for plain MPI */

static void
fill(unsigned char *b, uint32_t i)
{
	size_t k;

	memcpy(b, MAGIC, sizeof(MAGIC) - 1);
	memcpy(b + sizeof(MAGIC) - 1, &i, sizeof(i));
	for (k = sizeof(MAGIC) - 1 + sizeof(i); k < MSGLEN; k++)
		b[k] = (unsigned char)(k * 31 + i * 7);
}

int
main(int argc, char **argv)
{
	unsigned char buf[MSGLEN], want[MSGLEN];
	int rank, size, i, rc, refused = 0, wrong = 0, len, wiped;
	char es[MPI_MAX_ERROR_STRING];
	uint32_t got;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (size != 2) {
		fprintf(stderr, "seqmsgs: needs 2 ranks\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	for (i = 0; i < NMSG; i++) {
		if (rank == 0) {
			fill(buf, (uint32_t)i);
			MPI_Send(buf, MSGLEN, MPI_BYTE, 1, 7, MPI_COMM_WORLD);
			/* One message per TCP segment, as a real stream. */
			usleep(20000);
			continue;
		}
		memset(buf, 0xEE, sizeof(buf));
		rc = MPI_Recv(buf, MSGLEN, MPI_BYTE, 0, 7, MPI_COMM_WORLD,
		    MPI_STATUS_IGNORE);
		if (rc != MPI_SUCCESS) {
			refused++;
			MPI_Error_string(rc, es, &len);
			/* Nothing of any message may be left in the buffer. */
			wiped = memmem(buf, sizeof(buf), MAGIC,
			    sizeof(MAGIC) - 1) == NULL;
			printf("recv %d: refused (%s), buffer %s\n", i, es,
			    wiped ? "wiped" : "NOT wiped");
			continue;
		}
		fill(want, (uint32_t)i);
		if (memcmp(buf, want, MSGLEN) != 0) {
			wrong++;
			memcpy(&got, buf + sizeof(MAGIC) - 1, sizeof(got));
			printf("recv %d: got message %u\n", i, got);
		}
	}
	/* Both ranks end together, so the bridge sees the whole stream. */
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 1) {
		printf("seqmsgs: %d received, %d refused, %d wrong\n",
		    NMSG - refused, refused, wrong);
		fflush(stdout);
	}
	MPI_Finalize();
	return refused || wrong ? 1 : 0;
}
