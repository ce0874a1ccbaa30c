// SPDX-License-Identifier: GPL-2.0
/* xwg-mesh: the core's calls into the Kubernetes source. See source_k8s.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/k8s.h"
#include "mesh/source_k8s.h"

struct mesh_k8s {
	struct k8s_source *src;
};

struct mesh_k8s *mesh_k8s_start(const char *node_name, mesh_nodes_cb cb, void *ctx,
				char *err, size_t errlen)
{
	struct k8s_options o;
	struct mesh_k8s *k;

	/* The backend reads this node's name from $NODE_NAME (the downward
	 * API's way); --node-name wins. The agent is single-threaded here. */
	if (setenv("NODE_NAME", node_name, 1)) {
		snprintf(err, errlen, "setenv: %s", strerror(errno));
		return NULL;
	}
	if (k8s_options_from_env(&o, err, errlen))
		return NULL;
	if (strlen(node_name) >= sizeof(o.node_name)) {
		snprintf(err, errlen, "node name too long");
		return NULL;
	}
	snprintf(o.node_name, sizeof(o.node_name), "%s", node_name);
	k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	k->src = k8s_source_start(&o, cb, ctx, err, errlen);
	if (!k->src) {
		free(k);
		return NULL;
	}
	return k;
}

int mesh_k8s_publish(struct mesh_k8s *k, const uint8_t public_key[32], uint16_t port,
		     char *err, size_t errlen)
{
	return k8s_publish_key(k->src, public_key, port, err, errlen);
}

void mesh_k8s_stop(struct mesh_k8s *k)
{
	if (!k)
		return;
	k8s_source_stop(k->src);
	free(k);
}
