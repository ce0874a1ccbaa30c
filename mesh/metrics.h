/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-mesh's Prometheus endpoint: GET /metrics (text format 0.0.4) on a
 * local address, served by libmicrohttpd's own thread. Two users: the agent
 * (one interface, its own counters and its peers' node names) and the host
 * exporter (--exporter: one or more interfaces, nothing reconciled).
 *
 * Per interface, read at each scrape: the configuration socket (`get=1`:
 * per peer bytes, latest handshake, endpoint and allowed IPs; always
 * there) and, when they exist, the fast path's pinned maps
 * (/sys/fs/bpf/xwg/IFNAME/{peers,peer_stats,drops,xsk_stats}: packets,
 * drops, handshakes, the AF_XDP sockets' kernel statistics).
 * xwg_uapi_up and xwg_fastpath_up say which were read, so a dashboard
 * knows which series to expect.
 *
 * Names follow the Prometheus conventions: base units (bytes, seconds),
 * `_total` on counters only, timestamps as seconds since the epoch,
 * metadata as an `_info` gauge of 1; labels `interface`, and `public_key`
 * (base64, as wg(8) prints it) on every peer series. README.md lists them
 * next to prometheus_wireguard_exporter's.
 */
#ifndef XWG_MESH_METRICS_H
#define XWG_MESH_METRICS_H

#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "include/maps.h"
#include "mesh/event_counts.h"
#include "mesh/reconcile.h"

#define MESH_DEFAULT_METRICS "127.0.0.1:9586"
/* Interfaces one exporter serves. */
#define MESH_METRICS_MAX_IFACES 16

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
/* One AF_XDP socket's kernel statistics; underlay: the name of the
 * interface it is bound to (its index when the name is gone). */
struct mesh_fastpath_xsk {
	char underlay[IF_NAMESIZE];
	struct xwg_xsk_stats stats;
};
struct mesh_fastpath {
	bool read;
	size_t n_peers;
	struct mesh_fastpath_peer *peers;
	uint64_t drops[XWG_DROP_REASONS];
	size_t n_xsks;                  /* 0: no AF_XDP socket (or an older daemon) */
	struct mesh_fastpath_xsk xsks[XWG_MAX_XSKS];
};

/* Read the pinned maps of ifname: 0 (fp->read true), -ENOENT when the fast
 * path is not there, -errno otherwise. mesh_fastpath_free either way. */
int mesh_fastpath_read(const char *pin_root, const char *ifname, struct mesh_fastpath *fp);
void mesh_fastpath_free(struct mesh_fastpath *fp);

/* One interface's part of a scrape. st, fp or ev may be NULL (not
 * available; ev NULL: no event stream reader, no xwg_events_* series). */
struct mesh_metrics_iface {
	const char *ifname;
	const struct mesh_iface_state *st;
	const struct mesh_fastpath *fp;
	const struct mesh_event_counts *ev;
};

/* The whole exposition text: every family once, its samples for each
 * interface in turn (the format wants a family's samples together). agent
 * NULL: the exporter (no xwg_mesh_* series, no node label); otherwise
 * n is 1 and ifs[0] is the agent's interface. */
void mesh_metrics_render(const struct mesh_stats *agent, const struct mesh_metrics_iface *ifs,
			 size_t n, struct mesh_buf *out);

/* Parse "ADDR:PORT" / "[ADDR6]:PORT" into a sockaddr: 0 or -EINVAL. */
struct sockaddr_storage;
int mesh_metrics_parse_addr(const char *text, struct sockaddr_storage *ss);

/* Parse --exporter's "IFNAME[,IFNAME...]": 0 and *n names, or -EINVAL (an
 * empty or invalid name, a duplicate) / -E2BIG (more than max). */
int mesh_metrics_parse_ifnames(const char *text, char (*names)[IF_NAMESIZE], size_t max,
			       size_t *n);

struct mesh_metrics;
/* Serve on addr. Agent: stats (must outlive the server), its interface.
 * Exporter: stats NULL, ifnames[0..n) (copied). events: NULL, or n
 * interfaces' event counts (each may be NULL; they must outlive the
 * server). NULL with err set. */
struct mesh_metrics *mesh_metrics_start(const char *addr, struct mesh_stats *stats,
					const char (*ifnames)[IF_NAMESIZE], size_t n,
					struct mesh_event_counts *const *events,
					char *err, size_t errlen);
void mesh_metrics_stop(struct mesh_metrics *m);

#endif
