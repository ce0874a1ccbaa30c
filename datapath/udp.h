/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The outer UDP sockets of the portable data path, shaped like the kernel's
 * (drivers/net/wireguard/socket.c): one IPv4 and one IPv6-only socket bound
 * to the same port, batched receive with the local destination address of
 * each datagram (the "sticky source" a reply must leave from), and batched
 * send that falls back to a kernel-chosen source when the sticky one is no
 * longer usable.
 */
#ifndef XWG_UDP_H
#define XWG_UDP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The most datagrams one recvmmsg/sendmmsg call handles; larger batches
 * are split. */
#define UDP_BATCH_MAX 128U
/* The largest UDP payload over IPv4 (65535 - 20 - 8); over IPv6 it is 8
 * bytes more, without jumbograms. */
#define UDP_PAYLOAD_MAX 65507U
#define UDP6_PAYLOAD_MAX 65527U

/* The largest datagram payload for an address family. */
static inline unsigned int udp_payload_max(int family)
{
	return family == AF_INET6 ? UDP6_PAYLOAD_MAX : UDP_PAYLOAD_MAX;
}

/*
 * A peer's endpoint: where to send (addr; sin6_scope_id included for
 * link-local peers) and, when known, the local address to send from - the
 * one the peer's last datagram was addressed to - with the interface it
 * arrived on. The daemon stores one per peer.
 */
struct udp_endpoint {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} addr;
	union {
		struct in_addr src4;
		struct in6_addr src6;
	};
	int src_ifindex;
	bool has_src;
};

/* addr.sa.sa_family: AF_INET, AF_INET6, or AF_UNSPEC for "no endpoint". */
static inline int udp_endpoint_family(const struct udp_endpoint *ep)
{
	return ep->addr.sa.sa_family;
}

static inline void udp_endpoint_clear_src(struct udp_endpoint *ep)
{
	ep->src6 = (struct in6_addr){ 0 };
	ep->src_ifindex = 0;
	ep->has_src = false;
}

/*
 * UDP generic segmentation offload on transmit (UDP_SEGMENT, Linux 4.18):
 * consecutive datagrams to one destination from one source with one length
 * (the last may be shorter) leave as one sendmsg that the kernel, or the
 * NIC, cuts back into the same datagrams. On the wire nothing changes.
 */
enum udp_gso_mode {
	UDP_GSO_ON,	 /* default: coalesce where the kernel takes it */
	UDP_GSO_OFF,	 /* one message per datagram, as before GSO */
	/* For tests: build GSO messages but treat each as refused (as the
	 * kernel's EIO), so that the fallback runs on every one. */
	UDP_GSO_REFUSE,
};

/* What GSO did, summed over both sockets. */
struct udp_gso_stats {
	uint64_t messages;	/* GSO messages the kernel took */
	uint64_t segments;	/* datagrams they carried */
	uint64_t refused;	/* GSO messages refused, resent one by one */
};

/* The two sockets. fd6 is -1 where IPv6 is unavailable. */
struct udp_socks {
	int fd4;
	int fd6;
	uint16_t port;	 /* host order, the port actually bound */
	uint32_t fwmark; /* SO_MARK of both sockets, 0 for none */
	enum udp_gso_mode gso;
	bool gro;	 /* UDP_GRO on both (udp_socks_set_gro) */
	/* Per family (0 IPv4, 1 IPv6): the largest segment GSO is still
	 * tried with after a refusal (0: not at all), and how many datagrams
	 * went out singly because of it; after UDP_GSO_RETRY of those the
	 * limit is lifted, since routes and devices change. */
	uint16_t gso_limit[2];
	uint32_t gso_skipped[2];
	struct udp_gso_stats gso_stats;
};

/*
 * Opens the pair, bound to the wildcard addresses on port (host order; 0
 * picks a random port, the IPv6 socket then takes the one IPv4 got, with a
 * few retries if it is taken). Non-blocking, close-on-exec, pktinfo on, path
 * MTU discovery off so datagrams larger than the path fragment instead of
 * failing. fwmark 0 leaves SO_MARK alone (it needs CAP_NET_ADMIN).
 * Returns 0 or -errno (-EADDRINUSE when the port is taken).
 */
int udp_socks_open(struct udp_socks *s, uint16_t port, uint32_t fwmark);
/*
 * Moves to another port transactionally: the new pair is opened (with the
 * current fwmark) before the old one is closed, so on failure (-EADDRINUSE)
 * the old port keeps working. The same port again is a no-op. On success
 * fd4/fd6 change: re-register them with epoll.
 */
int udp_socks_rebind(struct udp_socks *s, uint16_t port);
/*
 * The two halves of udp_socks_rebind, for a caller that may still change
 * its mind: udp_socks_stage opens the new pair (with the current fwmark)
 * into *fresh and leaves *s alone (fresh->fd4 -1 when there is nothing to
 * change); udp_socks_commit then puts it in place of the old one, which
 * it closes, or udp_socks_close(fresh) drops it. 0 or -errno.
 */
int udp_socks_stage(const struct udp_socks *s, uint16_t port, struct udp_socks *fresh);
void udp_socks_commit(struct udp_socks *s, struct udp_socks *fresh);
/* SO_MARK on both sockets (0 clears it); on failure neither changes. */
int udp_socks_set_fwmark(struct udp_socks *s, uint32_t fwmark);
/* Sets the GSO mode (UDP_GSO_ON by default) and forgets past refusals.
 * It survives udp_socks_rebind. */
void udp_socks_set_gso(struct udp_socks *s, enum udp_gso_mode mode);
/* UDP GRO on receive (off by default): the kernel may then hand over
 * datagrams of one sender and length back to back in one buffer, with
 * struct udp_rx.gso_size saying where to cut (udp_rx_split). It survives
 * udp_socks_rebind. */
void udp_socks_set_gro(struct udp_socks *s, bool on);
uint16_t udp_socks_port(const struct udp_socks *s);
void udp_socks_close(struct udp_socks *s);

/* One received datagram. */
struct udp_rx {
	void *buf;		 /* in: caller's buffer */
	size_t cap;		 /* in: its size */
	size_t len;		 /* out: payload length (at most cap) */
	/* out: addr = the sender; src* = the local address it was sent to
	 * and the interface it came in on (from IP_PKTINFO/IPV6_PKTINFO).
	 * Storing it as the peer's endpoint makes replies sticky. */
	struct udp_endpoint ep;
	bool truncated;		 /* out: longer than cap: drop it */
	/* out: with UDP GRO, nonzero when buf holds several datagrams of
	 * this size back to back (the last may be shorter) */
	uint16_t gso_size;
};

/*
 * Cuts rx (received with UDP GRO) into its datagrams: out[0..max) point
 * into rx->buf, each with rx's endpoint. Starts at byte *offset and
 * advances it; returns how many were written (0 once all were). A
 * message without gso_size is one datagram.
 */
unsigned int udp_rx_split(const struct udp_rx *rx, size_t *offset, struct udp_rx *out,
			  unsigned int max);

/*
 * Receives up to n datagrams from one of the pair's fds without blocking.
 * Returns how many (0 when none was waiting) or -errno.
 */
int udp_recv_batch(int fd, struct udp_rx *rx, unsigned int n);

/* One datagram to send. */
struct udp_tx {
	const void *buf;	 /* in: payload */
	size_t len;		 /* in: its length */
	struct udp_endpoint ep;	 /* in: destination and optional source */
	int err;		 /* out: 0 sent, or -errno: dropped */
	/* out: ep's source was refused (address gone, route changed) and the
	 * datagram went out from a kernel-chosen source instead (or failed
	 * with err): clear the peer's cached source. */
	bool src_cleared;
};

/*
 * Sends tx[0..n) with as few sendmmsg calls as the order of address
 * families allows, each datagram to its ep.addr from ep.src* when has_src.
 * Runs of datagrams with the same destination, source and length (the last
 * may be shorter) go as one GSO message each (see enum udp_gso_mode); a
 * refused one is sent again datagram by datagram, so err and src_cleared
 * mean the same with or without GSO. Callers gain most by keeping each
 * peer's datagrams next to each other.
 * When the socket buffer is full it waits briefly for room, then gives up:
 * the rest get err = -EAGAIN. Returns how many were sent; the others carry
 * their reason in err. Never blocks for long, never spins.
 */
int udp_send_batch(struct udp_socks *s, struct udp_tx *tx, unsigned int n);

#endif
