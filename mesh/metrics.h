/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-mesh's Prometheus endpoint: GET /metrics (text format 0.0.4) on a
 * local address, served by libmicrohttpd's own thread.
 *
 * Per peer (labels interface, public_key, node): bytes and the latest
 * handshake from the configuration socket (always there); packets, drops and
 * handshakes sent/received from the fast path's pinned maps
 * (/sys/fs/bpf/xwg/IFNAME/{peers,peer_stats,drops}) when they exist. Plus the
 * agent's own counters. xwg_mesh_fastpath_read says whether the maps were
 * read, so a dashboard knows which series to expect.
 */
#ifndef XWG_MESH_METRICS_H
#define XWG_MESH_METRICS_H

#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "include/maps.h"
#include "mesh/reconcile.h"

#define MESH_DEFAULT_METRICS "127.0.0.1:9586"

struct mesh_peer_name {
	uint8_t public_key[32];
	char name[MESH_NODE_NAME_MAX + 1];
};

/* What the agent shares with the metrics thread (under lock). */
struct mesh_stats {
	pthread_mutex_t lock;
	char ifname[IF_NAMESIZE];
	uint64_t reconciles, reconcile_errors, uapi_transactions, uapi_errors;
	uint64_t source_updates, source_errors, key_rotations;
	unsigned int mtu;
	size_t nodes;
	size_t n_names;                 /* the applied peers' node names */
	struct mesh_peer_name *names;
};

/* Fast-path counters, summed over CPUs. */
struct mesh_fastpath_peer {
	uint8_t public_key[32];
	struct xwg_peer_stats stats;
};
struct mesh_fastpath {
	bool read;
	size_t n_peers;
	struct mesh_fastpath_peer *peers;
	uint64_t drops[XWG_DROP_REASONS];
};

/* Read the pinned maps of ifname: 0 (fp->read true), -ENOENT when the fast
 * path is not there, -errno otherwise. mesh_fastpath_free either way. */
int mesh_fastpath_read(const char *pin_root, const char *ifname, struct mesh_fastpath *fp);
void mesh_fastpath_free(struct mesh_fastpath *fp);

/* The whole exposition text. st or fp may be NULL (not available). */
void mesh_metrics_render(const struct mesh_stats *stats, const struct mesh_iface_state *st,
			 const struct mesh_fastpath *fp, struct mesh_buf *out);

/* Parse "ADDR:PORT" / "[ADDR6]:PORT" into a sockaddr: 0 or -EINVAL. */
struct sockaddr_storage;
int mesh_metrics_parse_addr(const char *text, struct sockaddr_storage *ss);

struct mesh_metrics;
/* Serve on addr; stats must outlive the server. NULL with err set. */
struct mesh_metrics *mesh_metrics_start(const char *addr, struct mesh_stats *stats,
					char *err, size_t errlen);
void mesh_metrics_stop(struct mesh_metrics *m);

#endif
