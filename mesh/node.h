/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-mesh: what the agent knows about one node of the cluster, and the
 * contract between the agent's core (mesh/main.c, mesh/reconcile.c) and
 * its node sources (mesh/file_source.c: a watched JSON file; mesh/k8s.c:
 * the Kubernetes API).
 *
 * A source delivers complete snapshots: every time something changes, the
 * whole list of nodes as the source now sees it (the core diffs it against
 * the interface and applies only the difference, so one node's change never
 * touches the others). Nodes without a public key are in the list (has_key
 * false) so the core can log them; it makes no peer of them.
 */
#ifndef XWG_MESH_NODE_H
#define XWG_MESH_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MESH_NODE_NAME_MAX 253    /* a DNS subdomain, like Kubernetes names */
#define MESH_NODE_MAX_ADDRS 4
#define MESH_NODE_MAX_CIDRS 4
#define MESH_PUBKEY_ANNOTATION "xwg.dev/public-key"
#define MESH_PORT_ANNOTATION "xwg.dev/listen-port"
#define MESH_DEFAULT_PORT 51820

struct mesh_addr {
	int family;               /* AF_INET or AF_INET6 */
	uint8_t addr[16];         /* IPv4 in the first 4 bytes */
};

struct mesh_prefix {
	int family;
	uint8_t addr[16];         /* host bits zero */
	uint8_t cidr;
};

struct mesh_node {
	char name[MESH_NODE_NAME_MAX + 1];
	bool has_key;
	uint8_t public_key[32];
	uint16_t port;            /* the node's listen port (host order) */
	unsigned int n_addrs;     /* internal IPs: the first is the endpoint */
	struct mesh_addr addrs[MESH_NODE_MAX_ADDRS];
	unsigned int n_cidrs;     /* pod CIDRs */
	struct mesh_prefix cidrs[MESH_NODE_MAX_CIDRS];
};

/* A source calls this with each new snapshot (nodes[0..n-1], names unique).
 * It may be called from the source's own thread: the core copies what it
 * needs before returning and wakes its loop. */
typedef void (*mesh_nodes_cb)(void *ctx, const struct mesh_node *nodes, size_t n);

#endif
