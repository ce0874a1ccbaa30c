// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_rx: on the underlay interface(s), the first look at every frame. It
 * acts only on traffic that is this host's: UDP to the listen port,
 * addressed to this host. Everything else passes untouched, in particular
 * WireGuard of other hosts on the same port that a router or a Kubernetes
 * node forwards, and any datagram sent to a group (broadcast or multicast)
 * Ethernet address. "Addressed to this host" is the kernel's own routing
 * decision (bpf_fib_lookup from the ingress interface, as ip_route_input
 * takes it): a datagram the stack would forward is not ours. When the
 * ingress interface does not forward (BPF_FIB_LKUP_RET_FWD_DISABLED: the
 * helper then says nothing more) the stack delivers the datagram here or
 * drops it, so it is ours as well.
 *
 * A datagram of ours that AF_XDP cannot take whole passes to the stack and
 * is counted (XWG_PASS_RX_TOO_BIG_FOR_XSK), whatever it holds: longer than
 * an AF_XDP frame (XWG_XSK_RX_FRAME_MAX), or longer than the ingress
 * device's MTU allows one frame to be. The second is how a GSO or GRO
 * super-datagram that generic XDP sees whole (several WireGuard messages
 * back to back under one UDP header) shows itself; the daemon's UDP socket
 * (UDP GRO) takes it apart into its datagrams. One of no more than the MTU
 * cannot be told from one message here (XDP has no gso_size).
 *
 * To our port and address, the message type and length decide
 * (protocol.md, "Messages"):
 *   type 4, >= 32 bytes, live receiver index -> AF_XDP socket of this RX
 *       queue (xsks_rx) if this is the underlay the sockets are bound to
 *       (config.xsk_ifindex); elsewhere, or with no socket bound there,
 *       the frame passes to the stack, where the daemon's UDP socket
 *       receives it
 *   type 4, unknown index                    -> drop (RX_UNKNOWN_INDEX)
 *   types 1, 2, 3 of exactly 148, 92, 64     -> pass to the daemon's socket
 *   a known type of another length           -> drop (RX_BAD_LENGTH)
 *   anything else (type 0 or > 4, nonzero reserved bytes, < 4 bytes, a
 *       UDP length that disagrees with the packet) -> drop (RX_MALFORMED)
 * IPv4 fragments pass: the stack reassembles them for the UDP socket. No
 * state changes here: nothing is authenticated yet.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "constants.h"
#include "maps.bpf.h"
#include "parse.h"

/* sizeof the structs of include/messages.h (which BPF cannot include). */
#define MESSAGE_INITIATION_LEN 148
#define MESSAGE_RESPONSE_LEN 92
#define MESSAGE_COOKIE_LEN 64
#define MESSAGE_DATA_MIN_LEN 32   /* header, counter, tag: a keepalive */
#define MESSAGE_DATA_HEADER_LEN 8 /* type word and receiver index */

#ifndef AF_INET
#define AF_INET 2
#define AF_INET6 10
#endif
#define IPV6_FLOWINFO_MASK 0x0fffffff /* traffic class and flow label */

/* Whether the stack would deliver the datagram to this host rather than
 * forward it: local addresses, and whatever this host does not route on
 * (no route, a link-local or multicast IPv6 destination, forwarding off on
 * the ingress interface). A failed lookup says nothing: ours, as before
 * there was a lookup. SKIP_NEIGH: a forwarded datagram's next hop does not
 * matter here. */
static __always_inline bool is_for_this_host(struct xdp_md *ctx, const struct iphdr *iph,
					     const struct ipv6hdr *ip6h,
					     const struct udphdr *udph)
{
	struct bpf_fib_lookup fib = {
		.l4_protocol = IPPROTO_UDP,
		.sport = udph->source,
		.dport = udph->dest,
		.ifindex = ctx->ingress_ifindex,
	};
	long rc;

	if (iph) {
		fib.family = AF_INET;
		fib.tos = iph->tos;
		fib.tot_len = bpf_ntohs(iph->tot_len);
		fib.ipv4_src = iph->saddr;
		fib.ipv4_dst = iph->daddr;
	} else if (ip6h) {
		fib.family = AF_INET6;
		fib.flowinfo = *(const __be32 *)ip6h & bpf_htonl(IPV6_FLOWINFO_MASK);
		fib.tot_len = sizeof(*ip6h) + bpf_ntohs(ip6h->payload_len);
		__builtin_memcpy(fib.ipv6_src, &ip6h->saddr, sizeof(fib.ipv6_src));
		__builtin_memcpy(fib.ipv6_dst, &ip6h->daddr, sizeof(fib.ipv6_dst));
	} else {
		return true;
	}
	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_SKIP_NEIGH);
	return rc < 0 || rc == BPF_FIB_LKUP_RET_NOT_FWDED || rc == BPF_FIB_LKUP_RET_FWD_DISABLED;
}

/* Whether AF_XDP could take the frame whole: it fits an AF_XDP frame, and
 * its IP datagram (from l3_off to the end of the frame) is no longer than
 * the ingress device's MTU, as a single datagram is. bpf_xdp_get_buff_len
 * counts a multi-buffer frame's fragments too. */
static __always_inline bool fits_xsk_frame(struct xdp_md *ctx, __u32 l3_off)
{
	__u32 frame_len = (__u32)bpf_xdp_get_buff_len(ctx);
	__u32 l3_len;

	if (frame_len > XWG_XSK_RX_FRAME_MAX)
		return false;
	l3_len = frame_len - l3_off;
	return bpf_check_mtu(ctx, 0, &l3_len, 0, 0) == BPF_MTU_CHK_RET_SUCCESS;
}

/* Sets *reason for a message that must be dropped; returns the verdict. */
static __always_inline int message_verdict(struct xdp_md *ctx, const struct xwg_config *cfg,
					   const __u8 *msg, const void *end, __u32 len,
					   __u32 *reason)
{
	__u32 type, index;

	if (len < 4 || (void *)(msg + 4) > end) {
		*reason = XWG_DROP_RX_MALFORMED;
		return XDP_DROP;
	}
	/* Read as one little-endian word, the type equals 1..4 only when the
	 * three reserved bytes are zero. */
	type = load_le32(msg);
	switch (type) {
	case MESSAGE_HANDSHAKE_INITIATION:
		if (len == MESSAGE_INITIATION_LEN)
			return XDP_PASS;
		break;
	case MESSAGE_HANDSHAKE_RESPONSE:
		if (len == MESSAGE_RESPONSE_LEN)
			return XDP_PASS;
		break;
	case MESSAGE_HANDSHAKE_COOKIE:
		if (len == MESSAGE_COOKIE_LEN)
			return XDP_PASS;
		break;
	case MESSAGE_DATA:
		if (len < MESSAGE_DATA_MIN_LEN ||
		    (void *)(msg + MESSAGE_DATA_HEADER_LEN) > end)
			break;
		index = load_le32(msg + 4);
		if (!bpf_map_lookup_elem(&indices, &index)) {
			*reason = XWG_DROP_RX_UNKNOWN_INDEX;
			return XDP_DROP;
		}
		if (ctx->ingress_ifindex != cfg->xsk_ifindex)
			return XDP_PASS;
		return bpf_redirect_map(&xsks_rx, ctx->rx_queue_index, XDP_PASS);
	default:
		*reason = XWG_DROP_RX_MALFORMED;
		return XDP_DROP;
	}
	*reason = XWG_DROP_RX_BAD_LENGTH;
	return XDP_DROP;
}

SEC("xdp")
int xwg_xdp_rx(struct xdp_md *ctx)
{
	struct hdr_cursor c;
	const struct xwg_config *cfg;
	struct ethhdr *eth;
	struct iphdr *iph = NULL;
	struct ipv6hdr *ip6h = NULL;
	struct udphdr *udph = NULL;
	__u32 reason = XWG_DROP_NONE;
	int action = XDP_PASS;
	int proto, len;
	__u32 l3_off;

	cfg = config_get();
	if (!cfg || !cfg->listen_port)
		goto out;

	hdr_cursor_init(&c, ctx->data, ctx->data_end);
	proto = parse_ethhdr(&c, &eth);
	l3_off = sizeof(*eth);
	if (eth_type_is_vlan(proto)) {
		proto = parse_vlan_tag(&c);
		l3_off += sizeof(struct vlan_tag);
	}
	if (proto == ETH_P_IP) {
		proto = parse_iphdr(&c, &iph);
		if (proto < 0 || iphdr_is_fragment(iph))
			goto out;
	} else if (proto == ETH_P_IPV6) {
		proto = parse_ip6hdr(&c, &ip6h);
	} else {
		goto out;
	}
	if (proto != IPPROTO_UDP)
		goto out;
	len = parse_udphdr(&c, &udph);
	if (!udph || udph->dest != cfg->listen_port)
		goto out;
	/* Not ours: sent to a group address, or routed on to another host. */
	if ((eth->h_dest[0] & 1) || !is_for_this_host(ctx, iph, ip6h, udph))
		goto out;
	if (!fits_xsk_frame(ctx, l3_off)) {
		reason = XWG_PASS_RX_TOO_BIG_FOR_XSK;
		goto out;
	}
	if (len < 0) {
		reason = XWG_DROP_RX_MALFORMED;
		action = XDP_DROP;
		goto out;
	}
	action = message_verdict(ctx, cfg, c.pos, c.end, len, &reason);
out:
	/* Drops, and datagrams passed for AF_XDP's frame size. */
	if (reason != XWG_DROP_NONE)
		drop_count(reason);
	return action;
}

char LICENSE[] SEC("license") = "GPL";
