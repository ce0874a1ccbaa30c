// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: xwg-mesh's node-list parser (mesh/nodes_file.c), the
 * key-publishing rewrite of the same document, the reconciler fed with
 * whatever parsed, and the parser of configuration-socket `get` answers
 * (mesh/reconcile.c), which reads what a daemon sends back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/nodes_file.h"
#include "mesh/reconcile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = { 7 };
	struct mesh_node *nodes = NULL, *again = NULL;
	struct mesh_iface_state st;
	char err[512], *out = NULL;
	size_t n = 0, m = 0;

	if (mesh_nodes_parse((const char *)data, size, &nodes, &n, err, sizeof(err)) == 0) {
		struct mesh_peer *peers = calloc(n + 1, sizeof(*peers));
		struct mesh_change *changes = calloc(2 * n + 1, sizeof(*changes));
		size_t np = 0, nc, i;

		if (peers && changes) {
			/* The first node plays "self"; diff against nothing
			 * and back, and print every change. */
			mesh_peers_from_nodes(nodes, n, n ? nodes[0].name : "", key, peers, &np,
					      NULL, NULL);
			nc = mesh_diff(NULL, 0, peers, np, changes);
			for (i = 0; i < nc; i++) {
				struct mesh_buf b = { 0 };

				mesh_change_uapi(&changes[i], &b);
				mesh_buf_free(&b);
			}
			nc = mesh_diff(peers, np, NULL, 0, changes);
			if (nc != np)
				abort();
		}
		free(peers);
		free(changes);
		/* Publishing into a valid document keeps it valid. */
		if (n && mesh_nodes_set_key((const char *)data, size, nodes[n - 1].name, key, 0,
					    &out, err, sizeof(err)) == 0) {
			if (mesh_nodes_parse(out, strlen(out), &again, &m, err, sizeof(err)) || m != n)
				abort();
			free(again);
			free(out);
		}
		free(nodes);
	}
	if (mesh_iface_state_parse((const char *)data, size, &st) == 0)
		mesh_iface_state_free(&st);
	return 0;
}
