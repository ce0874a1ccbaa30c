/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-mesh's Kubernetes node source: list + watch of Node objects over
 * HTTPS (libcurl) with the pod's service-account token and CA, turned into
 * mesh_node snapshots (mesh/node.h) from spec.podCIDRs, status.addresses
 * (InternalIP) and the MESH_PUBKEY_ANNOTATION / MESH_PORT_ANNOTATION
 * annotations; and the PATCH that publishes this node's public key.
 */
#ifndef XWG_MESH_K8S_H
#define XWG_MESH_K8S_H

#include <stddef.h>
#include <stdint.h>

#include "mesh/node.h"

struct k8s_options {
	char api_url[512];     /* https://host:port (no trailing slash) */
	char token_path[512];  /* bearer token file */
	char ca_path[512];     /* CA bundle for the API server */
	char node_name[MESH_NODE_NAME_MAX + 1];   /* this node */
};

/* Fill *o from the standard in-cluster environment and paths
 * (KUBERNETES_SERVICE_HOST/_PORT, /var/run/secrets/kubernetes.io/
 * serviceaccount/{token,ca.crt}) and NODE_NAME; -errno with a message in
 * err if something needed is missing. */
int k8s_options_from_env(struct k8s_options *o, char *err, size_t errlen);

struct k8s_source;

/* Start listing and watching in a thread of its own; cb gets a complete
 * snapshot after the initial list and after every event that changes it.
 * NULL with a message in err if the options are unusable. */
struct k8s_source *k8s_source_start(const struct k8s_options *o, mesh_nodes_cb cb,
				    void *ctx, char *err, size_t errlen);

/* PATCH this node's annotations with its public key and listen port
 * (synchronous, retried a few times); 0 or -errno with a message in err. */
int k8s_publish_key(struct k8s_source *s, const uint8_t public_key[32],
		    uint16_t port, char *err, size_t errlen);

void k8s_source_stop(struct k8s_source *s);

#endif
