/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-mesh's node-list file: a JSON document listing every node of the mesh,
 * for tests, bare metal and meshes without Kubernetes:
 *
 *   {"nodes": [{"name": "a", "publicKey": "<base64>", "port": 51820,
 *               "internalIPs": ["192.168.241.1"],
 *               "podCIDRs": ["10.244.1.0/24"]}]}
 *
 * name and internalIPs are required; publicKey may be absent, null or ""
 * (a node that has not published its key yet: listed, not made a peer);
 * port defaults to MESH_DEFAULT_PORT; podCIDRs may be absent. Validation is
 * strict (unknown fields, host bits set in a CIDR, duplicate names or keys
 * are errors) so a typo is reported instead of silently dropping a route;
 * every message names the node and the field.
 */
#ifndef XWG_MESH_NODES_FILE_H
#define XWG_MESH_NODES_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "mesh/node.h"

#define MESH_NODES_MAX 65536            /* nodes per file */
#define MESH_NODES_FILE_MAX (16u << 20) /* bytes */

/* Parse and validate buf[0..len-1]. On success 0, *nodes (free() it) and
 * *n (possibly 0). On error -EINVAL (or -ENOMEM) with a message in err;
 * *nodes is NULL. */
int mesh_nodes_parse(const char *buf, size_t len, struct mesh_node **nodes,
		     size_t *n, char *err, size_t errlen);

/* Read and parse the file at path (at most MESH_NODES_FILE_MAX bytes). */
int mesh_nodes_file_read(const char *path, struct mesh_node **nodes, size_t *n,
			 char *err, size_t errlen);

/* Rewrite buf so that node `name` has publicKey = base64(key) and, when port
 * is non-zero, that port; everything else keeps its value. *out is a new
 * NUL-terminated document (free() it). 0; -ENOENT if the document has no
 * such node; -EINVAL if it does not parse (message in err). */
int mesh_nodes_set_key(const char *buf, size_t len, const char *name,
		       const uint8_t key[32], uint16_t port, char **out,
		       char *err, size_t errlen);

/* Publish this node's key in the file shared by every agent: under an
 * exclusive flock on "<path>.lock", read the file, rewrite this node's entry
 * (mesh_nodes_set_key), write a temporary file next to it and rename it over
 * the original, so concurrent agents never lose each other's updates and
 * readers never see half a file. 0 if written or already up to date
 * (*changed says which), -errno with a message in err. */
int mesh_nodes_file_publish_key(const char *path, const char *name,
				const uint8_t key[32], uint16_t port,
				int *changed, char *err, size_t errlen);

/* Address and prefix text helpers (also used by the reconciler). */
int mesh_addr_parse(const char *s, struct mesh_addr *a);
int mesh_prefix_parse(const char *s, struct mesh_prefix *p, int *host_bits_set);
void mesh_addr_format(const struct mesh_addr *a, char *buf, size_t len);
void mesh_prefix_format(const struct mesh_prefix *p, char *buf, size_t len);

#endif
