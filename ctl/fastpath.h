/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's side of the fast path (design.md, "The fast path's shape"):
 * it loads the BPF programs (ctl/maps/loader.h), runs the AF_XDP sockets
 * and keeps the maps in step with the device (ctl/maps/sync.h).
 *
 *   wg0 --tc_tx--> wg0x --xdp_twin--> AF_XDP (twin) --> send_tunnel_packets
 *       seal in the crypto pool, sendmmsg on the UDP socket --> underlay
 *   underlay --xdp_rx--> AF_XDP (underlay queue) --> receive_datagrams
 *       open in the crypto pool --> fastpath_deliver --> AF_XDP TX on wg0x
 *       --> wg0's receive path
 *   handshakes and cookies: xdp_rx passes them to the UDP socket.
 *
 * The protocol state stays in the daemon: the workers of the crypto pool
 * use its keypairs directly (they run in this process), so no key is
 * copied into a map. What the maps get is what the BPF programs decide on:
 * allowed IPs (tc_tx: which peer, or ICMP unreachable), receiver indices
 * of live keypairs (xdp_rx: AF_XDP or drop), each peer's endpoint, flags
 * and public key (tc_tx: session or "handshake needed" event; operators:
 * who is peer N), and per-peer counters for bpftool.
 *
 * When a map write fails: the daemon's state stays the truth and the maps
 * follow it. Each failed write is counted (SIGUSR1's "fast path maps:"
 * line, map_write_errors in peer_stats: id 0 all, each peer its own),
 * logged once per episode (until the maps agree again), and its -errno is
 * returned by the hook that made it and kept for fastpath_error_take, so
 * that the configuration transaction that caused it answers with it. What
 * it left out of step is written again by fastpath_dp_tick every 250 ms
 * until it succeeds: a live peer whole (its peers entry, all its prefixes,
 * prefixes it no longer owns pointed at their owner or removed, its live
 * receiver indices); a removed peer's prefixes and slot (its id is not
 * reused until then); a receiver index to remove; the config map (listen
 * port and AF_XDP underlay). A configuration transaction whose writes
 * fail is refused and undone (ctl/device.c), and the maps follow it back.
 *
 * Test seam (not a user option): XWG_TEST_FAIL_MAP_WRITE=N, read once by
 * fastpath_dp_load: the Nth write of the mirror after loading (peers,
 * allowed_ips_v4/v6, indices or config; a batch counts as one; peer_stats is
 * stores into an mmap and cannot fail) fails with -ENOMEM and writes
 * nothing. The log says which ("test seam: map write N (KIND) fails");
 * SIGUSR1 logs how many writes were made. selftests/map_faults.sh drives
 * it; unit tests can call fastpath_map_write_fault_set (ctl/maps/sync.h).
 *
 * Every hook takes the device and is a no-op when the fast path is not in
 * use (dev->fast NULL), so device.c calls them unconditionally.
 */
#ifndef XWG_CTL_FASTPATH_H
#define XWG_CTL_FASTPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wg_device;
struct wg_peer;
struct fastpath_dp;

/* A mirrored prefix of a peer (sorted per peer, for diffs). */
struct fastpath_prefix {
	uint8_t addr[16];
	uint8_t family;          /* 4 or 6 */
	uint8_t cidr;
};

/* Loading, before the daemon detaches: the pair, the programs, the pins,
 * and a trial AF_XDP socket on the twin (sockets themselves must be made
 * after the fork: their memory is pinned to the process that made it).
 * ring_size: the entries of each AF_XDP ring (XWG_XSK_RING), a power of
 * two from FASTPATH_RING_MIN to FASTPATH_RING_MAX, or 0 for the default
 * (2048: the most throughput; smaller rings hold less queued traffic, so
 * less delay under load, but drop sooner). NULL on failure, with the
 * reason in err. */
#define FASTPATH_RING_MIN 64
#define FASTPATH_RING_MAX 4096
struct fastpath_dp *fastpath_dp_load(const char *ifname, int tun_ifindex, uint32_t ring_size,
				     char *err, size_t errlen);
/* After detaching: the sockets (one per twin queue, one per RX queue of
 * the first underlay: the one xdp_rx runs on, or later the one the first
 * peer endpoint is routed through), the event ring. 0 or -errno
 * (logged). */
int fastpath_dp_start(struct fastpath_dp *f, struct wg_device *dev);
/* A veth pair outlives its process, unlike a TUN device: a small child
 * process (before any thread exists) waits for the daemon to end and, if
 * it died without cleaning up (kill -9), deletes the pair and the pins, so
 * the interface goes with the daemon as wireguard-go's does. 0 or -errno. */
int fastpath_dp_reaper(struct fastpath_dp *f);
/* Sockets first, then the programs, pins and the pair. */
void fastpath_dp_unload(struct fastpath_dp *f);

/* wg0's ifindex, and its hidden twin's. */
int fastpath_dp_ifindex(const struct fastpath_dp *f);
int fastpath_dp_twin_ifindex(const struct fastpath_dp *f);

/* One fd for the daemon's epoll set (itself an epoll set of the sockets
 * and the event ring); fastpath_dp_readable when it is readable. */
enum fastpath_fd_kind { FASTPATH_FD_TWIN, FASTPATH_FD_UNDERLAY, FASTPATH_FD_EVENTS,
			 FASTPATH_FD_WORKER };
int fastpath_dp_fd(const struct fastpath_dp *f);
void fastpath_dp_readable(struct wg_device *dev);

/* Logs the BPF programs' drops ("dropped xdp_rx_malformed: 3"), as
 * device_log_stats does the daemon's. */
void fastpath_log_stats(struct wg_device *dev);

/* After every wake-up of the daemon's loop: every 250 ms what is out of
 * step is re-synced; once a second per-peer counters go into peer_stats
 * and the AF_XDP sockets' kernel statistics into xsk_stats. */
void fastpath_dp_tick(struct wg_device *dev);
/* The first -errno of a failed map write since the last call, 0 if none:
 * a configuration transaction calls it before and after it applies. */
int fastpath_error_take(struct wg_device *dev);

/* ---- hooks (no-ops without the fast path) ---- */

/* A decrypted inner packet for wg0's receive path (batched; flushed by
 * fastpath_flush). 0 or -errno. */
int fastpath_deliver(struct wg_device *dev, const void *pkt, size_t len);
void fastpath_flush(struct wg_device *dev);

/* Each returns 0 or the -errno of a failed map write (see above: what
 * it left out of step is re-synced).
 * fastpath_peer_added: -ENOSPC when no peer id is free (the re-sync gives
 * it one when one is). */
int fastpath_peer_added(struct wg_device *dev, struct wg_peer *peer);
/* After the peer's prefixes left the daemon's table; before it is freed. */
int fastpath_peer_removed(struct wg_device *dev, struct wg_peer *peer);
/* After the peer's allowed IPs changed: the tries follow (only the
 * difference is written). */
int fastpath_allowedips_changed(struct wg_device *dev, struct wg_peer *peer);
/* Endpoint or session may have changed: write what differs. */
int fastpath_peer_refresh(struct wg_device *dev, struct wg_peer *peer);
int fastpath_index_keypair(struct wg_device *dev, uint32_t index, struct wg_peer *peer);
int fastpath_index_removed(struct wg_device *dev, uint32_t index);
int fastpath_listen_port(struct wg_device *dev, uint16_t port);
/* The tunnel interface moved to another network namespace: tc_tx is gone
 * with it (logged once). */
void fastpath_link_moved(struct wg_device *dev);
/* Peers the fast path can hold (peer ids are 1 .. XWG_MAX_PEERS-1). */
uint32_t fastpath_max_peers(void);

#endif
