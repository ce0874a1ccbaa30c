/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-mesh's reconciler: what the interface should hold (one peer per other
 * node that has a key), the difference from what it holds, and the
 * configuration-socket text of each difference. Pure functions: the agent
 * does the I/O (mesh/uapi_client.c), the unit tests drive these directly.
 *
 * The state is keyed by public key, not by node name: a peer found on the
 * interface at start (left by an earlier run of the agent) has no name yet,
 * and a node whose key changed must have its old peer removed in the same
 * transaction that adds the new one (so the node's allowed IPs never point
 * at two peers, and no other node's peer is touched).
 */
#ifndef XWG_MESH_RECONCILE_H
#define XWG_MESH_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh/node.h"

/* Node IPs and pod CIDRs, with room for what an earlier run left. */
#define MESH_PEER_MAX_PREFIXES (2 * (MESH_NODE_MAX_ADDRS + MESH_NODE_MAX_CIDRS))

struct mesh_peer {
	char name[MESH_NODE_NAME_MAX + 1];  /* "" when not known (yet) */
	uint8_t public_key[32];
	bool has_endpoint;
	struct mesh_addr endpoint;
	uint16_t port;
	unsigned int n_prefixes;            /* sorted (mesh_prefix_cmp) */
	struct mesh_prefix prefixes[MESH_PEER_MAX_PREFIXES];
	bool prefixes_overflow;             /* more on the interface than fit */
};

enum mesh_change_kind {
	MESH_CHANGE_ADD,     /* a new node: add its peer */
	MESH_CHANGE_UPDATE,  /* same key, other endpoint or allowed IPs */
	MESH_CHANGE_REKEY,   /* same node, new key: remove old, add new */
	MESH_CHANGE_REMOVE,  /* node gone (or a stray peer): remove */
};

struct mesh_change {
	enum mesh_change_kind kind;
	uint8_t old_key[32];        /* REKEY, REMOVE */
	struct mesh_peer peer;      /* ADD, UPDATE, REKEY: the new state;
				     * REMOVE: the old one (for its routes) */
};

/* A growable text buffer. */
struct mesh_buf {
	char *p;
	size_t len, cap;
	bool failed;                /* an allocation failed: text incomplete */
};
void mesh_buf_printf(struct mesh_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void mesh_buf_free(struct mesh_buf *b);

int mesh_prefix_cmp(const struct mesh_prefix *a, const struct mesh_prefix *b);
/* Sort and deduplicate p->prefixes. */
void mesh_peer_sort_prefixes(struct mesh_peer *p);
bool mesh_peer_equal(const struct mesh_peer *a, const struct mesh_peer *b);

/* What the interface should hold: one peer per node except `self` and
 * nodes without a key (or with our own key, which the interface would
 * ignore). peers has room for n entries; *np is set. For each node left
 * out for a reason worth a log line, skipped(ctx, node, reason) is called
 * (may be NULL). */
void mesh_peers_from_nodes(const struct mesh_node *nodes, size_t n, const char *self,
			   const uint8_t self_key[32], struct mesh_peer *peers, size_t *np,
			   void (*skipped)(void *ctx, const struct mesh_node *node,
					   const char *reason),
			   void *ctx);

/* The changes that turn `applied` into `desired`, in changes (room for
 * n_applied + n_desired entries); returns their number. Adds, updates and
 * rekeys come first in desired's order, then removals. */
size_t mesh_diff(const struct mesh_peer *applied, size_t n_applied,
		 const struct mesh_peer *desired, size_t n_desired,
		 struct mesh_change *changes);

/* Apply a change that the interface accepted to the applied list (room for
 * one more entry); *n is updated. */
void mesh_applied_commit(struct mesh_peer *applied, size_t *n, const struct mesh_change *c);

/* The whole `set=1 ... \n\n` transaction for one change. */
void mesh_change_uapi(const struct mesh_change *c, struct mesh_buf *out);
/* The device part: private key, listen port, fwmark (0 = leave unset). */
void mesh_device_uapi(const uint8_t private_key[32], uint16_t port, uint32_t fwmark,
		      struct mesh_buf *out);

/* A parsed `get=1` answer. */
struct mesh_peer_status {
	struct mesh_peer peer;
	uint64_t rx_bytes, tx_bytes;
	int64_t last_handshake_sec;
};
struct mesh_iface_state {
	bool has_private_key;
	uint8_t private_key[32];    /* secret: mesh_iface_state_free wipes it */
	uint16_t listen_port;
	uint32_t fwmark;
	size_t n_peers;
	struct mesh_peer_status *peers;
	int errno_value;            /* the answer's errno= line */
};
/* 0, or -EINVAL for text that is not a well-formed answer. */
int mesh_iface_state_parse(const char *text, size_t len, struct mesh_iface_state *st);
void mesh_iface_state_free(struct mesh_iface_state *st);

/* "errno=N" at the end of a `set` answer: 0 and *value, or -EINVAL. */
int mesh_uapi_parse_errno(const char *text, size_t len, int *value);

#endif
