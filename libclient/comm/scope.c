/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy `scope: inter-node`: point-to-point messages between ranks on the
 * same node travel as plain records (same framing and size as a sealed
 * record, no AEAD), everything else is sealed.
 *
 * "Same node" needs two independent witnesses, so neither alone can turn
 * encryption off for traffic that crosses the network:
 * - the node certificate our own esmpid put in our key share (a hash of
 *   it, esmpi.node_id, exchanged at MPI_Init with a sealed Allgather by
 *   mpi/init.c, so nobody on the wire can change the table), and
 * - Open MPI's locality (MPI_Comm_split_type MPI_COMM_TYPE_SHARED).
 * Both relations are symmetric, so sender and receiver agree on every
 * (communicator, peer, tag); a receiver refuses a plain record wherever it
 * would itself have sealed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "esmpi_bytes.h"
#include "esmpi_err.h"

/* [world rank]: on our node (both witnesses agree). */
static uint8_t *node_local;

int
esmpi_scope_learn(const uint8_t (*ids)[32])
{
	MPI_Comm shm = MPI_COMM_NULL;
	MPI_Group wg = MPI_GROUP_NULL, sg = MPI_GROUP_NULL;
	int *in = NULL, *out = NULL, n = esmpi.world_size, ns = 0, i;
	int r = ESMPI_ERR_NOMEM;

	if ((node_local = calloc((size_t)n, 1)) == NULL)
		goto out;
	r = ESMPI_ERR_INTERNAL;
	if (PMPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
	    MPI_INFO_NULL, &shm) != MPI_SUCCESS ||
	    PMPI_Comm_group(MPI_COMM_WORLD, &wg) != MPI_SUCCESS ||
	    PMPI_Comm_group(shm, &sg) != MPI_SUCCESS ||
	    PMPI_Group_size(sg, &ns) != MPI_SUCCESS)
		goto out;
	if ((in = calloc((size_t)ns, sizeof(int))) == NULL ||
	    (out = calloc((size_t)ns, sizeof(int))) == NULL) {
		r = ESMPI_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < ns; i++)
		in[i] = i;
	if (PMPI_Group_translate_ranks(sg, ns, in, wg, out) != MPI_SUCCESS)
		goto out;
	for (i = 0; i < ns; i++)
		if (out[i] >= 0 && out[i] < n &&
		    memcmp(ids[out[i]], esmpi.node_id, 32) == 0)
			node_local[out[i]] = 1;
	r = 0;
out:
	if (sg != MPI_GROUP_NULL)
		PMPI_Group_free(&sg);
	if (wg != MPI_GROUP_NULL)
		PMPI_Group_free(&wg);
	if (shm != MPI_COMM_NULL)
		PMPI_Comm_free(&shm);
	free(in);
	free(out);
	return r;
}

void
esmpi_scope_fini(void)
{
	free(node_local);
	node_local = NULL;
}

int
esmpi_scope_same_node(uint32_t w)
{
	return node_local != NULL && w < (uint32_t)esmpi.world_size &&
	    node_local[w];
}

int
esmpi_scope_plain(const struct esmpi_pol_settings *set, uint32_t peer_world,
    uint64_t coll_seq)
{
	/*
	 * Collectives stay sealed: Open MPI's algorithms relay blocks through
	 * ranks on other nodes, so a block between two ranks of one node may
	 * still cross the network.
	 */
	if (coll_seq != 0 || !esmpi_scope_same_node(peer_world))
		return 0;
	/* A rule that signs asks for sender authenticity even on one node:
	 * such records are sealed and signed as usual. */
	return set->scope == ESMPI_SCOPE_INTER_NODE &&
	    set->sign == ESMPI_SIGN_NONE;
}

int
esmpi_scope_local_peers(void)
{
	int i, k = 0;

	for (i = 0; node_local != NULL && i < esmpi.world_size; i++)
		k += node_local[i] && i != esmpi.world_rank;
	return k;
}
