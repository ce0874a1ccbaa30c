/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one header BPF programs (bpf/) and userspace (ctl/maps/, datapath/)
 * share: the key and value of every map of the fast path. Fixed-width
 * types, explicit padding, size asserts, so both sides agree byte for byte
 * and `bpftool map dump` prints named fields (BTF).
 *
 * Maps are pinned under /sys/fs/bpf/xwg/<ifname>/<map name>. Each comment
 * says who writes the map and who reads it.
 */
#ifndef XWG_MAPS_H
#define XWG_MAPS_H

#include <linux/types.h>

#define XWG_PIN_ROOT "/sys/fs/bpf/xwg"

#define XWG_MAX_PEERS 65536          /* peer ids are 1 .. XWG_MAX_PEERS-1 */
#define XWG_MAX_INDICES (XWG_MAX_PEERS * 4)
#define XWG_MAX_ALLOWED_IPS 1048576  /* per family */
#define XWG_KEYPAIR_SLOTS 3          /* previous, current, next (indices' slot) */
#define XWG_MAX_QUEUES 64            /* AF_XDP sockets per interface */
#define XWG_EVENTS_BYTES (256 * 1024)

/* AF_XDP: the size of a UMEM frame (datapath/xsk.h), and the longest frame
 * an AF_XDP socket receives whole in one: the kernel puts received data
 * XDP_PACKET_HEADROOM (256) into the frame, and the UMEM has no headroom of
 * its own. xdp_rx passes longer ones to the stack. */
#define XWG_XSK_FRAME_SIZE 4096U
#define XWG_XSK_RX_FRAME_MAX (XWG_XSK_FRAME_SIZE - 256U)

/* ---- allowed_ips_v4, allowed_ips_v6 (LPM tries) ----
 * Written by the daemon (ctl/maps) from the configuration socket; read by
 * tc_tx (destination -> peer) and the workers (source check on receive). */
struct xwg_lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};
struct xwg_lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};
struct xwg_peer_ref {
	__u32 peer_id;
};

/* ---- indices (hash: receiver index -> peer and keypair slot) ----
 * Written by the daemon when a session starts or ends; read by xdp_rx to
 * steer data messages with a known index to AF_XDP. */
enum xwg_keypair_slot {
	XWG_SLOT_PREVIOUS = 0,
	XWG_SLOT_CURRENT = 1,
	XWG_SLOT_NEXT = 2,
};
struct xwg_index_value {
	__u32 peer_id;
	__u32 slot;              /* enum xwg_keypair_slot */
};

/* ---- peers (array indexed by peer id) ----
 * Written by the daemon (endpoint on roaming, flags on session changes);
 * read by tc_tx (is there a usable session?) and the workers (where to
 * send). */
struct xwg_endpoint {
	__u16 family;            /* AF_INET, AF_INET6, 0 = none */
	__u16 port;              /* network order */
	__u32 ifindex;           /* sticky source's interface, 0 = any */
	__u8 addr[16];           /* IPv4 in the first 4 bytes */
	__u8 src[16];            /* sticky source address, zero = none */
};
struct xwg_peer {
	struct xwg_endpoint endpoint;
	__u32 flags;             /* XWG_PEER_* */
	__u32 pad;
	__u64 last_event_ns;     /* tc_tx: last "handshake needed" event */
	__u8 public_key[32];     /* who this peer id is (for operators) */
};
#define XWG_PEER_ACTIVE (1U << 0)      /* slot in use */
#define XWG_PEER_CAN_SEND (1U << 1)    /* current keypair usable */

/* ---- peer_stats (array indexed by peer id, mmapable) ----
 * Written by the daemon once a second, through its mmap of the map (its
 * workers count in its own structs; no BPF program writes it, so one copy
 * serves, not one per CPU); read by operators (bpftool map dump) and the
 * node agent's metrics. Id 0 is the device's: handshakes sent/received in
 * all, cookies_sent (cookie replies answer senders not yet authenticated,
 * so no peer's) and map_write_errors in all. map_write_errors: writes of
 * the peer's mirror in the other maps that failed (ENOMEM, ...); the
 * daemon re-syncs the peer until they succeed (ctl/fastpath.h). */
struct xwg_peer_stats {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 tx_bytes;
	__u64 rx_dropped;
	__u64 tx_dropped;
	__u64 handshakes_sent;
	__u64 handshakes_received;
	__u64 cookies_sent;
	__u64 map_write_errors;
};

/* ---- drops (per-CPU array indexed by enum xwg_drop_reason) ----
 * Written by every program and worker that drops a packet; read by the
 * daemon and operators. One key counts packets that were not dropped:
 * XWG_PASS_RX_TOO_BIG_FOR_XSK, datagrams xdp_rx passed to the stack (and
 * the daemon's UDP socket) because AF_XDP cannot take them whole: longer
 * than an AF_XDP frame (XWG_XSK_RX_FRAME_MAX) or than the ingress MTU (a
 * GSO/GRO super-datagram seen by generic XDP, a jumbo frame). */
enum xwg_drop_reason {
	XWG_DROP_NONE = 0,
	XWG_DROP_RX_MALFORMED,       /* to our port but not a WireGuard message */
	XWG_DROP_RX_BAD_LENGTH,      /* wrong length for its type */
	XWG_DROP_RX_UNKNOWN_INDEX,   /* data for no live receiver index */
	XWG_DROP_RX_NO_SOCKET,       /* no AF_XDP socket on that queue */
	XWG_DROP_RX_DECRYPT,         /* bad tag, expired keypair */
	XWG_DROP_RX_REPLAY,
	XWG_DROP_RX_BAD_INNER,
	XWG_DROP_RX_SOURCE_NOT_ALLOWED,
	XWG_PASS_RX_TOO_BIG_FOR_XSK, /* not a drop: passed to the stack, see above */
	XWG_DROP_TX_NO_PEER,         /* no allowed IPs match the destination */
	XWG_DROP_TX_MALFORMED,
	XWG_DROP_TX_NO_KEYPAIR,      /* staged while a handshake runs */
	XWG_DROP_TX_NO_ENDPOINT,
	XWG_DROP_TX_SEND_FAILED,
	XWG_DROP_TX_NO_SOCKET,       /* xdp_twin: no AF_XDP socket on that queue */
	XWG_DROP_REASONS
};
struct xwg_counter {
	__u64 packets;
};

/* ---- config (array of one) ----
 * Written by the daemon at start and on listen_port changes; read by the
 * programs. */
struct xwg_config {
	__u16 listen_port;       /* network order */
	__u16 pad;
	__u32 wg_ifindex;        /* the tunnel interface users see (wg0) */
	__u32 twin_ifindex;      /* its hidden twin (wg0x) */
	__u32 event_interval_ms; /* min gap between events per peer */
	/* The underlay whose RX queues have AF_XDP sockets in xsks_rx (an
	 * XSK is bound to one interface and queue): data arriving on any
	 * other underlay passes to the daemon's UDP socket. 0: none yet. */
	__u32 xsk_ifindex;
	/* CLOCK_MONOTONIC seconds of the daemon's last heartbeat (once a
	 * second): an xwg program on an underlay whose instance stopped
	 * beating is an orphan, even where its wg_ifindex is no interface
	 * only because the tunnel interface moved to another namespace. */
	__u32 alive_s;
	/* The daemon's PID and the inode of its PID namespace: one that
	 * shares the namespace can tell a dead owner at once (kill(pid, 0)
	 * says no such process); from another namespace only the heartbeat
	 * tells. */
	__u32 owner_pid;
	__u32 pad2;
	__u64 owner_pidns;
};

/* ---- xsk_stats (array indexed by socket slot) ----
 * The kernel's statistics of each AF_XDP socket (XDP_STATISTICS): what it
 * dropped before a packet reached a ring. Written by the daemon once a
 * second (ctl/fastpath.c, one bpf_map_update_elem per socket; no BPF
 * program touches it); read by operators (bpftool map dump) and the node
 * agent's metrics (xwg_xsk_*). Slot i is the daemon's i-th socket, in the
 * order it opened them; ifindex 0 marks a slot no socket uses. */
#define XWG_MAX_XSKS (2 * XWG_MAX_QUEUES)   /* underlay RX queues + twin queues */
struct xwg_xsk_stats {
	__u32 ifindex;           /* the interface the socket is bound to */
	__u32 queue;
	__u64 rx_dropped;        /* dropped for reasons other than the two below */
	__u64 rx_invalid_descs;
	__u64 tx_invalid_descs;
	__u64 rx_ring_full;      /* dropped: the RX ring was full */
	__u64 rx_fill_ring_empty;  /* times the fill ring had no frame */
	__u64 tx_ring_empty;     /* times the TX ring had nothing to send */
};

/* ---- events (ring buffer) ----
 * Written by tc_tx; read by the daemon's epoll loop. */
enum xwg_event_type {
	XWG_EVENT_HANDSHAKE_NEEDED = 1,  /* packet for a peer without a session */
	XWG_EVENT_UNKNOWN_PEER = 2,      /* packet for no peer (rate-limited) */
};
struct xwg_event {
	__u32 type;
	__u32 peer_id;
	__u64 time_ns;
};

#ifndef __bpf__
_Static_assert(sizeof(struct xwg_lpm_v4_key) == 8, "lpm v4 key");
_Static_assert(sizeof(struct xwg_lpm_v6_key) == 20, "lpm v6 key");
_Static_assert(sizeof(struct xwg_index_value) == 8, "index value");
_Static_assert(sizeof(struct xwg_endpoint) == 40, "endpoint");
_Static_assert(sizeof(struct xwg_peer) == 88, "peer");
_Static_assert(sizeof(struct xwg_peer_stats) == 80, "peer stats");
_Static_assert(sizeof(struct xwg_config) == 40, "config");
_Static_assert(sizeof(struct xwg_xsk_stats) == 56, "xsk stats");
_Static_assert(sizeof(struct xwg_event) == 16, "event");
#endif

#endif
