/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Loading the fast path: the tunnel interface pair (twin.h), the three BPF
 * programs from their bpftool skeletons with every map pinned under
 * /sys/fs/bpf/xwg/IFNAME/ and shared between them, their attachments, and
 * what the daemon needs from them afterwards (map fds, the peer_stats map
 * mmapped, the events ring buffer's fd).
 *
 *   xdp_rx   (xwg_xdp_rx)   XDP on each underlay interface
 *   tc_tx    (xwg_tc_tx)    TC on IFNAME's egress (clsact qdisc)
 *   xdp_twin (xwg_xdp_twin) XDP on the twin
 *
 * XDP is attached through bpf_link: if the process dies, the kernel
 * detaches the programs by itself. What a crash leaves behind anyway, the
 * next fastpath_load removes before loading: the pins (maps, with their
 * keys), the veth pair (which carries the TC and twin programs), and XDP
 * programs of ours attached through netlink (opts.netlink_attach, or an
 * older build) to any interface of this namespace whose owner (the config
 * map's wg_ifindex) no longer exists. Ours means a program named xwg_*.
 *
 * One instance per IFNAME: the loader holds an exclusive flock on the pin
 * directory while loaded, and only its holder cleans up. Pins are per
 * bpffs instance: `ip netns exec` mounts a new /sys in which bpffs is not
 * mounted, so a daemon started that way mounts its own, visible only to
 * it; `nsenter --net=/run/netns/NS` keeps the host's.
 *
 * Every function returns 0 or -errno; on failure fp->error says in one
 * line what failed and what to do about it (for XWG_DATAPATH=auto to log
 * why it falls back to the portable path). Not thread-safe: one thread
 * loads and unloads, at start and exit.
 *
 * The daemon, in order:
 *  1. fastpath_load() where it now creates the TUN device (before it
 *     detaches: the interface exists when the parent returns; the links and
 *     the lock are inherited by the child, which keeps them).
 *  2. After detaching, one AF_XDP port (datapath/xsk.h) per twin queue
 *     (fp->twin.queues of them, on fp->twin.twin_name), registered into
 *     FASTPATH_MAP_XSKS_TX, and one per RX queue of each underlay,
 *     registered into FASTPATH_MAP_XSKS_RX.
 *  3. fastpath_listen_port_set() once its UDP port is bound, and on every
 *     change; until then xdp_rx passes everything to the stack.
 *  4. ring_buffer__new(fastpath_map_fd(fp, FASTPATH_MAP_EVENTS), ...) in
 *     its epoll loop for tc_tx's events.
 *  5. At exit: the ports first, then fastpath_unload().
 */
#ifndef XWG_MAPS_LOADER_H
#define XWG_MAPS_LOADER_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/maps/twin.h"
#include "maps.h"

#define FASTPATH_MAX_UNDERLAYS 16
#define FASTPATH_EVENT_INTERVAL_MS 1000U
#define FASTPATH_BPFFS "/sys/fs/bpf"

/* The maps of include/maps.h, by the names they are pinned under. */
enum fastpath_map {
	FASTPATH_MAP_ALLOWED_IPS_V4,
	FASTPATH_MAP_ALLOWED_IPS_V6,
	FASTPATH_MAP_INDICES,
	FASTPATH_MAP_PEERS,
	FASTPATH_MAP_PEER_STATS,
	FASTPATH_MAP_DROPS,
	FASTPATH_MAP_CONFIG,
	FASTPATH_MAP_XSKS_RX,
	FASTPATH_MAP_XSKS_TX,
	FASTPATH_MAP_EVENTS,
	FASTPATH_MAP_XSK_STATS,
	FASTPATH_MAPS
};

enum fastpath_xdp_mode {
	FASTPATH_XDP_NONE = 0,
	FASTPATH_XDP_NATIVE,     /* in the driver */
	FASTPATH_XDP_GENERIC,    /* after skb allocation: slower, any device */
};

/* One XDP program on one interface. */
struct fastpath_xdp {
	char ifname[IFNAMSIZ];
	int ifindex;
	enum fastpath_xdp_mode mode;
	int link_fd;             /* the bpf_link, -1 if attached by netlink */
	uint32_t prog_id;
};

struct fastpath_opts {
	/* Underlay interfaces for xdp_rx (XWG_XDP_IFACES, split at commas).
	 * NULL or empty: those of the default routes (IPv4 and IPv6, main
	 * table); without a default route, every interface that is up,
	 * Ethernet, not loopback and not an xwg pair. */
	const char *const *underlays;
	size_t n_underlays;
	uint16_t listen_port;    /* host order; 0: xdp_rx passes everything */
	unsigned int queues;     /* of the pair, one AF_XDP socket each; 0: 1 */
	uint32_t event_interval_ms;  /* 0: FASTPATH_EVENT_INTERVAL_MS */
	/* Attach XDP through netlink instead of bpf_link (programs then stay
	 * attached if the process dies; the next load removes them). For
	 * kernels without XDP links, and to test that cleanup. */
	bool netlink_attach;
	/* The tunnel interface is a TUN the caller made (with offloads):
	 * no pair, no xdp_twin; tc_tx runs in its L3 mode on its egress.
	 * 0: make the veth pair instead (the earlier shape, kept to measure
	 * against: XWG_TUNNEL=veth). */
	int tun_ifindex;
	/* Test seam (XWG_TEST_XDP_ON_VETH=1): xdp_rx may go on a veth it
	 * picks itself, so that the selftests can follow endpoints onto
	 * interfaces with native XDP (a veth is the only such device they
	 * can make). */
	bool xdp_on_veth;
};

struct xdp_rx;
struct tc_tx;
struct xdp_twin;

struct fastpath {
	char ifname[IFNAMSIZ];
	char pin_dir[PATH_MAX];
	int lock_fd;
	struct twin_link twin;
	struct xdp_rx *rx_skel;
	struct tc_tx *tx_skel;
	struct xdp_twin *twin_skel;
	int map_fds[FASTPATH_MAPS];      /* owned by the skeletons */
	/* The peer_stats map, mmapped read-write: XWG_MAX_PEERS entries,
	 * the daemon's to write (ctl/maps/sync.h). */
	struct xwg_peer_stats *peer_stats;
	size_t peer_stats_size;
	uint32_t event_interval_ms;
	uint16_t listen_port;            /* host order */
	int xsk_ifindex;                 /* underlay with sockets in xsks_rx */
	struct fastpath_xdp twin_xdp;
	struct fastpath_xdp underlays[FASTPATH_MAX_UNDERLAYS];
	unsigned int n_underlays;
	uint32_t tc_prog_id;             /* 0: not attached */
	bool tc_qdisc_created;           /* we added clsact: we remove it */
	bool netlink_attach;
	bool tun_mode;                   /* opts.tun_ifindex: twin unused */
	/* Underlays picked by default (not XWG_XDP_IFACES): xdp_rx goes only
	 * where it costs nothing to others (underlay_xdp_unwanted in
	 * underlay.c). */
	bool xdp_auto;
	bool xdp_on_veth;        /* fastpath_opts.xdp_on_veth */
	/* Underlays xdp_rx was not wanted on (said once each). */
	int xdp_refused[FASTPATH_MAX_UNDERLAYS];
	unsigned int n_xdp_refused;
	bool loaded;
	char error[512];
};

/*
 * Loads and attaches the fast path of IFNAME and creates its pair (IFNAME
 * and its twin; IFNAME left down, like the portable path's TUN). On
 * failure everything done is undone and fp->error says why; notable
 * returns: -EPERM no CAP_BPF/CAP_NET_ADMIN, -EBUSY another instance holds
 * IFNAME, -EEXIST IFNAME exists and is not a leftover of ours, -ENODEV an
 * underlay does not exist, -EACCES/-EINVAL the verifier refused a program,
 * -EOPNOTSUPP no XDP on an interface.
 */
int fastpath_load(struct fastpath *fp, const char *ifname,
		  const struct fastpath_opts *opts);
/* Detaches everything, removes the qdisc it added, deletes the pair,
 * unpins the maps and removes the pin directory. Idempotent. */
void fastpath_unload(struct fastpath *fp);

/* What a dead instance leaves: its pair (veth pairs outlive processes)
 * and its pins. For a process that inherited fp and its lock from an
 * instance that is gone (the daemon's reaper, ctl/fastpath.c). */
void fastpath_reap(struct fastpath *fp);

/* The fd of a map (valid while loaded), and the name it is pinned as. */
int fastpath_map_fd(const struct fastpath *fp, enum fastpath_map map);
const char *fastpath_map_name(enum fastpath_map map);

/* Rewrites the config map with a new listen port (host order). These
 * three return 0 or -errno and log nothing: the caller keeps the maps in
 * step (ctl/fastpath.c re-syncs a failed rewrite). */
int fastpath_listen_port_set(struct fastpath *fp, uint16_t listen_port);
/* The config map again, as it should be (after a failed write). */
int fastpath_config_rewrite(struct fastpath *fp);

/* Rewrites the config map with the time now (its alive_s): once a second,
 * so that another instance can tell this one's programs from orphans. */
int fastpath_heartbeat(struct fastpath *fp);

/* Names the underlay whose RX queues have AF_XDP sockets in xsks_rx:
 * xdp_rx redirects data only from it (other underlays pass to the UDP
 * socket). 0: none. */
int fastpath_xsk_ifindex_set(struct fastpath *fp, int ifindex);

/* Attaches xdp_rx to one more underlay, or detaches it: for when a peer's
 * endpoint comes to be routed through an interface not yet covered.
 * Attaching one already attached is a no-op. */
int fastpath_underlay_attach(struct fastpath *fp, const char *ifname);
int fastpath_underlay_detach(struct fastpath *fp, const char *ifname);

/* The same attachment in three steps, so that the slow one (the driver
 * sets up XDP: milliseconds, on some NICs a queue reset) runs off the
 * packet thread (ctl/worker.h):
 *   fastpath_underlay_prepare, on the owner's thread: whether ifindex may
 *     get xdp_rx; fills *fw. -EEXIST: it has it; -EOPNOTSUPP: not wanted
 *     there (fp->error says why, the first time); another -errno.
 *   fastpath_underlay_attach_prepared, on any thread: the attachment; it
 *     touches nothing but *fw.
 *   fastpath_underlay_adopt, on the owner's thread: records the result (an
 *     underlay, or one refused), 0 or -errno with fp->error. */
struct fastpath_follow {
	struct fastpath_xdp x;
	int prog_fd;
	bool netlink_attach, xdp_auto;
	int ret;
	char error[256];
};
int fastpath_underlay_prepare(struct fastpath *fp, int ifindex, struct fastpath_follow *fw);
void fastpath_underlay_attach_prepared(struct fastpath_follow *fw);
int fastpath_underlay_adopt(struct fastpath *fp, struct fastpath_follow *fw);
/* Undoes fastpath_underlay_attach_prepared instead of adopting it. */
void fastpath_underlay_abandon(struct fastpath_follow *fw);

/* The interface the main routing table sends traffic to addr through
 * (family AF_INET with a struct in_addr, AF_INET6 with a struct in6_addr):
 * where an endpoint's packets leave, so where xdp_rx must be. */
int fastpath_route_oif(int family, const void *addr, int *ifindex);

const char *fastpath_xdp_mode_name(enum fastpath_xdp_mode mode);

#endif
