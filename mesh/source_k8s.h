/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-mesh's one door to its Kubernetes source (mesh/k8s.h): the agent core
 * calls only these, so the backend's interface can move without touching
 * the core.
 */
#ifndef XWG_MESH_SOURCE_K8S_H
#define XWG_MESH_SOURCE_K8S_H

#include <stddef.h>
#include <stdint.h>

#include "mesh/node.h"

struct mesh_k8s;

/* Start listing and watching Node objects with the in-cluster credentials;
 * node_name (this node) overrides $NODE_NAME. NULL with a message in err. */
struct mesh_k8s *mesh_k8s_start(const char *node_name, mesh_nodes_cb cb, void *ctx,
				char *err, size_t errlen);
/* Publish this node's public key and port as annotations of its Node. */
int mesh_k8s_publish(struct mesh_k8s *k, const uint8_t public_key[32], uint16_t port,
		     char *err, size_t errlen);
void mesh_k8s_stop(struct mesh_k8s *k);

#endif
