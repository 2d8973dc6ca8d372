/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Links to other jobs (dynamic processes): the registry of link keys that
 * mpi/dynamic.c establishes, and how a communicator of a link names its
 * processes. Records on communicators of a link use the link key instead
 * of the job key and the link id in place of the job id; a process is
 * named (world rank in its job, side): comm.c and keys.c map peer_world
 * values through esmpi_link_id(). A link points to the other job's
 * signing certificates when this job signs (comm/sign.c owns and frees
 * them at MPI_Finalize).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "esmpi_mem.h"

/*
 * Every link of this process, newest first; wiped at MPI_Finalize. Under
 * MPI_THREAD_MULTIPLE threads may spawn or connect (add) while others
 * make communicators (find): links_lock guards the head. A link never
 * changes once it is on the list and none leaves it before
 * MPI_Finalize, so find walks from the head it read without the lock
 * (and does not hold it across MPI calls).
 */
static struct esmpi_link *links;
static pthread_mutex_t links_lock = PTHREAD_MUTEX_INITIALIZER;

struct esmpi_link *
esmpi_link_add(const uint8_t key[32], const uint8_t id[ESMPI_LINK_ID_LEN],
    int side, uint32_t *remote_world, int nremote, MPI_Group remote,
    struct esmpi_sign_tab *sign)
{
	struct esmpi_link *l = esmpi_secure_calloc(sizeof(*l));

	if (l == NULL)
		return NULL;
	memcpy(l->key, key, 32);
	memcpy(l->id, id, ESMPI_LINK_ID_LEN);
	l->side = side;
	l->remote_world = remote_world;
	l->nremote = nremote;
	l->remote = remote;
	l->sign = sign;
	pthread_mutex_lock(&links_lock);
	l->next = links;
	links = l;
	pthread_mutex_unlock(&links_lock);
	return l;
}

struct esmpi_link *
esmpi_link_find(MPI_Group g, int n, const int *in, int *out)
{
	struct esmpi_link *l, *head;
	int *q, *t, i, k = 0, all = 0;

	pthread_mutex_lock(&links_lock);
	head = links;
	pthread_mutex_unlock(&links_lock);
	q = calloc(n ? n : 1, sizeof(int));
	t = calloc(n ? n : 1, sizeof(int));
	for (i = 0; q != NULL && t != NULL && i < n; i++)
		if (in[i] >= 0)
			q[k++] = in[i];
	for (l = head; q != NULL && t != NULL && l != NULL; l = l->next) {
		if (PMPI_Group_translate_ranks(g, k, q, l->remote, t) !=
		    MPI_SUCCESS)
			continue;
		for (all = 1, i = 0; i < k; i++)
			all &= t[i] != MPI_UNDEFINED && t[i] >= 0 &&
			    t[i] < l->nremote;
		if (all)
			break;
	}
	for (i = 0, k = 0; l != NULL && i < n; i++)
		out[i] = in[i] >= 0 ? t[k++] : MPI_UNDEFINED;
	free(q);
	free(t);
	return l;
}

uint32_t
esmpi_link_id(const struct esmpi_link *l, uint32_t w)
{
	if (w == ESMPI_REC_DST_ALL)
		return w;
	if (w & ESMPI_LINK_FOREIGN)
		return (w & ~ESMPI_LINK_FOREIGN) << 1 | (uint32_t)(1 - l->side);
	return w << 1 | (uint32_t)l->side;
}

void
esmpi_link_free_all(void)
{
	struct esmpi_link *all;

	pthread_mutex_lock(&links_lock);
	all = links;
	links = NULL;
	pthread_mutex_unlock(&links_lock);
	while (all != NULL) {
		struct esmpi_link *l = all;

		all = l->next;
		PMPI_Group_free(&l->remote);
		free(l->remote_world);
		esmpi_secure_free(l, sizeof(*l));
	}
}
