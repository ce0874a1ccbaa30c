// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_rx: on the underlay interface(s), the first look at every frame.
 * Traffic not for the listen port passes untouched. To the port, the
 * message type and length decide (protocol.md, "Messages"):
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
	struct iphdr *iph;
	struct ipv6hdr *ip6h;
	struct udphdr *udph = NULL;
	__u32 reason = XWG_DROP_NONE;
	int action = XDP_PASS;
	int proto, len;

	cfg = config_get();
	if (!cfg || !cfg->listen_port)
		goto out;

	hdr_cursor_init(&c, ctx->data, ctx->data_end);
	proto = parse_ethhdr(&c, &eth);
	if (eth_type_is_vlan(proto))
		proto = parse_vlan_tag(&c);
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
	if (len < 0) {
		reason = XWG_DROP_RX_MALFORMED;
		action = XDP_DROP;
		goto out;
	}
	action = message_verdict(ctx, cfg, c.pos, c.end, len, &reason);
out:
	if (reason != XWG_DROP_NONE)
		drop_count(reason);
	return action;
}

char LICENSE[] SEC("license") = "GPL";
