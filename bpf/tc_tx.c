// SPDX-License-Identifier: GPL-2.0
/*
 * tc_tx: on the egress of wg0, the cryptokey routing lookup (whitepaper
 * section 2: the destination address picks the peer) for every packet the
 * stack sends into the tunnel:
 *   no peer (no prefix matches, or its peer is not ACTIVE)
 *       -> drop (TX_NO_PEER) and, like the kernel's WireGuard (wg_xmit), an
 *          ICMP host unreachable / ICMPv6 address unreachable to the sender
 *   a peer -> pass. On an Ethernet wg0 (a veth, l3_device 0) the frame is
 *          tagged with the peer for the crypto pool: source MAC 02:00:ID
 *          (peer id big-endian in bytes 2..5). wg0 and wg0x are NOARP, so
 *          the MACs mean nothing else; xdp_twin hands the frame to AF_XDP
 *          and the worker reads the tag. On an L3 wg0 (a TUN, l3_device 1)
 *          there is nothing to tag: the daemon reads the packet from the
 *          TUN fd and looks the peer up itself.
 *   a peer without CAN_SEND -> the same, plus a HANDSHAKE_NEEDED event to
 *          the daemon (at most one per peer per config.event_interval_ms);
 *          the worker stages the packet until the session exists.
 *   not IPv4/IPv6, or headers cut short -> drop (TX_MALFORMED)
 *
 * The ICMP error is made here rather than by the daemon so it needs no
 * round trip and no copy of the packet in an event: the frame is rewritten
 * in place into the error (MACs swapped on an Ethernet wg0, new IP and
 * ICMP headers, the original's first bytes quoted), a clone of it is redirected into wg0's
 * own receive path, and the original is dropped. Its source is the
 * unreachable destination: a local address arriving on wg0 would be a
 * martian, and the route back to the destination is wg0, so reverse-path
 * filters accept it. Errors are rate-limited for the interface as a whole.
 *
 * On a TUN with TSO/USO (TUNSETOFFLOAD) the stack hands over GSO super-
 * packets of up to 64 KB; so does software GSO on any device. The program
 * only reads their headers (from the linear part) and passes them whole;
 * an ICMP error about one quotes its first bytes, and bpf_skb_change_tail
 * drops the GSO state of the skb it rewrites.
 */
#include <linux/bpf.h>
#include <linux/icmpv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps.bpf.h"
#include "parse.h"

/* From linux/icmp.h, which drags in libc's sys/socket.h. */
#define ICMP_DEST_UNREACH 3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_REDIRECT 5
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMP_HOST_UNREACH 1

struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 unused;        /* the next-hop MTU, for other codes */
};

#define READ_ONCE(x) (*(const volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

/* ICMP errors: icmp_burst back to back, then one per icmp_interval_ns, for
 * all senders together (a generic cell rate algorithm; icmp_tat_ns is the
 * theoretical arrival time of the next error). The loader may change both
 * before loading. Updates race between CPUs; the limit is approximate. */
const volatile __u64 icmp_interval_ns = 50 * 1000 * 1000ULL;
const volatile __u32 icmp_burst = 10;
__u64 icmp_tat_ns;

/* What wg0 is, set by the loader before loading (the verifier then prunes
 * the other mode's code): 0, an Ethernet device (the veth pair): skb->data
 * starts at the Ethernet header, whose EtherType names the family; 1, an
 * L3 device (a TUN, ARPHRD_NONE): skb->data starts at the IP header and
 * skb->protocol names the family. Either way the version field must agree. */
const volatile __u8 l3_device = 0;

/* Enough of the original for the sender's stack to find its socket: the
 * IP header with options or the IPv6 header, and the transport ports. */
#define ICMP_QUOTE_MAX 128
/* An IPv4 header with options is up to 60 bytes; pull it in. */
#define TX_HEADERS_MAX (ETH_HLEN + 60)

/* Bytes before the IP header. */
static __always_inline __u32 l2_len(void)
{
	return l3_device ? 0 : ETH_HLEN;
}

struct icmp_error_v4 {
	struct iphdr ip;
	struct icmphdr icmp;
	__u8 quote[ICMP_QUOTE_MAX];
	__u8 slack[4];        /* a rounded-up checksum length stays inside */
};

struct icmp_error_v6 {
	struct ipv6hdr ip6;
	struct icmp6hdr icmp6;
	__u8 quote[ICMP_QUOTE_MAX];
	__u8 slack[4];
};

static __always_inline __u16 csum_fold(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* bpf_csum_diff wants a length that is a multiple of 4; the bytes past
 * the data are zero, which is also how the Internet checksum pads. */
static __always_inline __u64 csum_len(__u64 len)
{
	return (len + 3) & ~3ULL;
}

static __always_inline bool icmp_error_is_allowed(void)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 tat = READ_ONCE(icmp_tat_ns);

	if (!icmp_burst)
		return false;
	if (tat < now)
		tat = now;
	if (tat - now > (icmp_burst - 1) * icmp_interval_ns)
		return false;
	WRITE_ONCE(icmp_tat_ns, tat + icmp_interval_ns);
	return true;
}

/* How much of the original frame's IP packet the error quotes: up to
 * ICMP_QUOTE_MAX bytes, at least min_len (else 0: no error). 64 bits wide
 * and behind a barrier, so the verifier sees the bounds checks on the very
 * register that reaches the helpers. */
static __always_inline __u64 icmp_quote_len(const struct __sk_buff *skb, __u64 min_len)
{
	__u64 len = skb->len;

	if (len < l2_len() + min_len)
		return 0;
	len -= l2_len();
	if (len > ICMP_QUOTE_MAX)
		len = ICMP_QUOTE_MAX;
	asm volatile("" : "+r"(len));
	if (len < min_len || len > ICMP_QUOTE_MAX)
		return 0;
	return len;
}

/* Rewrites the frame into the error (eth_reply, then l3: the IP and ICMP
 * headers and the quote; on an L3 device l3 alone) and sends a clone of it
 * into the receive path of the interface it was leaving, wg0; the caller
 * drops the original. On a TUN the redirect takes the path of devices
 * without a link-layer header (__bpf_redirect_no_mac): netif_rx with
 * skb->protocol as it was, and the error is of the original's family. */
static __always_inline void icmp_error_send(struct __sk_buff *skb, const struct ethhdr *eth_reply,
					    const void *l3, __u64 l3_len)
{
	if (bpf_skb_change_tail(skb, l2_len() + l3_len, 0))
		return;
	if (!l3_device && bpf_skb_store_bytes(skb, 0, eth_reply, ETH_HLEN, 0))
		return;
	if (bpf_skb_store_bytes(skb, l2_len(), l3, l3_len, 0))
		return;
	bpf_clone_redirect(skb, skb->ifindex, BPF_F_INGRESS);
}

static __always_inline void eth_reply_init(struct ethhdr *reply, const struct ethhdr *eth)
{
	if (!eth)             /* an L3 device: no link-layer header */
		return;
	__builtin_memcpy(reply->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(reply->h_source, eth->h_dest, ETH_ALEN);
	reply->h_proto = eth->h_proto;
}

static __always_inline bool ipv4_is_multicast_or_broadcast(__be32 addr)
{
	return (addr & bpf_htonl(0xf0000000)) == bpf_htonl(0xe0000000) ||
	       addr == bpf_htonl(0xffffffff);
}

/* RFC 1122 3.2.2: no error about an error, a non-first fragment, or a
 * packet to a multicast or broadcast address or from no one in particular
 * (icmp_send does the same). */
static __always_inline bool icmp_error_is_due_v4(const struct hdr_cursor *c,
						 const struct iphdr *iph)
{
	const struct icmphdr *icmp = c->pos;

	if (iph->frag_off & bpf_htons(IP_OFFSET))
		return false;
	if (ipv4_is_multicast_or_broadcast(iph->daddr) ||
	    ipv4_is_multicast_or_broadcast(iph->saddr) || !iph->saddr)
		return false;
	if (iph->protocol == IPPROTO_ICMP) {
		if ((void *)(icmp + 1) > c->end)
			return false;
		switch (icmp->type) {
		case ICMP_DEST_UNREACH:
		case ICMP_SOURCE_QUENCH:
		case ICMP_REDIRECT:
		case ICMP_TIME_EXCEEDED:
		case ICMP_PARAMETERPROB:
			return false;
		}
	}
	return true;
}

static __always_inline void icmp_unreachable_v4(struct __sk_buff *skb, const struct hdr_cursor *c,
						const struct ethhdr *eth, const struct iphdr *iph)
{
	struct icmp_error_v4 err;
	struct ethhdr reply;
	__u64 quote_len;
	__s64 sum;

	if (!icmp_error_is_due_v4(c, iph) || !icmp_error_is_allowed())
		return;
	quote_len = icmp_quote_len(skb, sizeof(struct iphdr));
	if (!quote_len)
		return;

	__builtin_memset(&err, 0, sizeof(err));
	eth_reply_init(&reply, eth);
	err.ip.version = 4;
	err.ip.ihl = sizeof(err.ip) / 4;
	err.ip.tos = 0xc0;    /* IPTOS_PREC_INTERNETCONTROL, as icmp_send */
	err.ip.tot_len = bpf_htons(sizeof(err.ip) + sizeof(err.icmp) + quote_len);
	err.ip.ttl = 64;
	err.ip.protocol = IPPROTO_ICMP;
	err.ip.saddr = iph->daddr;
	err.ip.daddr = iph->saddr;
	err.icmp.type = ICMP_DEST_UNREACH;
	err.icmp.code = ICMP_HOST_UNREACH;
	if (bpf_skb_load_bytes(skb, l2_len(), err.quote, quote_len))
		return;

	sum = bpf_csum_diff(NULL, 0, (__be32 *)&err.icmp,
			    csum_len(sizeof(err.icmp) + quote_len), 0);
	if (sum < 0)
		return;
	err.icmp.checksum = csum_fold(sum);
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&err.ip, sizeof(err.ip), 0);
	if (sum < 0)
		return;
	err.ip.check = csum_fold(sum);

	icmp_error_send(skb, &reply, &err, sizeof(err.ip) + sizeof(err.icmp) + quote_len);
}

/* RFC 4443 2.4 (e): no error about an error, or about a packet to a
 * multicast address or from the unspecified or a multicast address. */
static __always_inline bool icmp_error_is_due_v6(const struct hdr_cursor *c,
						 const struct ipv6hdr *ip6h)
{
	const struct icmp6hdr *icmp6 = c->pos;
	const __u32 *saddr = ip6h->saddr.in6_u.u6_addr32;

	if (ip6h->daddr.in6_u.u6_addr8[0] == 0xff || ip6h->saddr.in6_u.u6_addr8[0] == 0xff)
		return false;
	if (!(saddr[0] | saddr[1] | saddr[2] | saddr[3]))
		return false;
	if (ip6h->nexthdr == IPPROTO_ICMPV6) {
		if ((void *)(icmp6 + 1) > c->end)
			return false;
		if (!(icmp6->icmp6_type & ICMPV6_INFOMSG_MASK))
			return false;
	}
	return true;
}

static __always_inline void icmp_unreachable_v6(struct __sk_buff *skb, const struct hdr_cursor *c,
						const struct ethhdr *eth, const struct ipv6hdr *ip6h)
{
	struct icmp_error_v6 err;
	struct ethhdr reply;
	__u64 quote_len, icmp_len;
	__s64 sum;
	__u64 total;

	if (!icmp_error_is_due_v6(c, ip6h) || !icmp_error_is_allowed())
		return;
	quote_len = icmp_quote_len(skb, sizeof(struct ipv6hdr));
	if (!quote_len)
		return;
	icmp_len = sizeof(err.icmp6) + quote_len;

	__builtin_memset(&err, 0, sizeof(err));
	eth_reply_init(&reply, eth);
	err.ip6.version = 6;
	err.ip6.payload_len = bpf_htons(icmp_len);
	err.ip6.nexthdr = IPPROTO_ICMPV6;
	err.ip6.hop_limit = 64;
	err.ip6.saddr = ip6h->daddr;
	err.ip6.daddr = ip6h->saddr;
	err.icmp6.icmp6_type = ICMPV6_DEST_UNREACH;
	err.icmp6.icmp6_code = ICMPV6_ADDR_UNREACH;
	if (bpf_skb_load_bytes(skb, l2_len(), err.quote, quote_len))
		return;

	/* The checksum covers a pseudo-header (RFC 8200 8.1): both
	 * addresses, the upper-layer length and the next header. */
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&err.ip6.saddr,
			    sizeof(err.ip6.saddr) + sizeof(err.ip6.daddr), 0);
	if (sum < 0)
		return;
	total = sum;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&err.icmp6, csum_len(icmp_len), 0);
	if (sum < 0)
		return;
	total += sum;
	total += bpf_htonl(icmp_len);
	total += bpf_htonl(IPPROTO_ICMPV6);
	err.icmp6.icmp6_cksum = csum_fold(total);

	icmp_error_send(skb, &reply, &err, sizeof(err.ip6) + icmp_len);
}

static __always_inline struct xwg_peer *peer_get(__u32 peer_id)
{
	struct xwg_peer *peer;

	if (!peer_id)
		return NULL;
	peer = bpf_map_lookup_elem(&peers, &peer_id);
	if (!peer || !(peer->flags & XWG_PEER_ACTIVE))
		return NULL;
	return peer;
}

/* Source MAC 02:00 (locally administered) then the peer id, big-endian. */
static __always_inline void eth_tag_peer(struct ethhdr *eth, __u32 peer_id)
{
	eth->h_source[0] = 0x02;
	eth->h_source[1] = 0x00;
	eth->h_source[2] = peer_id >> 24;
	eth->h_source[3] = peer_id >> 16;
	eth->h_source[4] = peer_id >> 8;
	eth->h_source[5] = peer_id;
}

/* Tells the daemon to start a handshake, at most once per interval per
 * peer. last_event_ns is written with a plain store, not a compare-and-
 * swap: two CPUs racing here both send, and the daemon ignores the second
 * request as it would a packet arriving during a handshake. */
static __always_inline void handshake_request(struct xwg_peer *peer, __u32 peer_id,
					      const struct xwg_config *cfg)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 last = READ_ONCE(peer->last_event_ns);
	struct xwg_event *event;

	if (last && now - last < (__u64)cfg->event_interval_ms * 1000000ULL)
		return;
	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event)
		return;
	event->type = XWG_EVENT_HANDSHAKE_NEEDED;
	event->peer_id = peer_id;
	event->time_ns = now;
	WRITE_ONCE(peer->last_event_ns, now);
	bpf_ringbuf_submit(event, 0);
}

/* Headers may lie outside the linear part; pull in what the parse needs. */
static __always_inline void headers_pull(struct __sk_buff *skb)
{
	__u32 want = skb->len < TX_HEADERS_MAX ? skb->len : TX_HEADERS_MAX;

	if ((long)skb->data + want > (long)skb->data_end)
		bpf_skb_pull_data(skb, want);
}

SEC("tc")
int xwg_tc_tx(struct __sk_buff *skb)
{
	struct hdr_cursor c;
	const struct xwg_config *cfg;
	struct xwg_peer_ref *ref = NULL;
	struct xwg_peer *peer = NULL;
	struct ethhdr *eth = NULL;
	struct iphdr *iph = NULL;
	struct ipv6hdr *ip6h = NULL;
	__u32 reason = XWG_DROP_TX_MALFORMED;
	int action = TC_ACT_SHOT;
	__u32 peer_id;
	int proto;

	headers_pull(skb);
	hdr_cursor_init(&c, skb->data, skb->data_end);
	if (l3_device) {
		proto = bpf_ntohs((__u16)skb->protocol);
	} else {
		proto = parse_ethhdr(&c, &eth);
	}
	if (proto == ETH_P_IP) {
		struct xwg_lpm_v4_key key = { .prefixlen = 32 };

		if (parse_iphdr(&c, &iph) < 0)
			goto out;
		__builtin_memcpy(key.addr, &iph->daddr, sizeof(key.addr));
		ref = bpf_map_lookup_elem(&allowed_ips_v4, &key);
	} else if (proto == ETH_P_IPV6) {
		struct xwg_lpm_v6_key key = { .prefixlen = 128 };

		if (parse_ip6hdr(&c, &ip6h) < 0)
			goto out;
		__builtin_memcpy(key.addr, &ip6h->daddr, sizeof(key.addr));
		ref = bpf_map_lookup_elem(&allowed_ips_v6, &key);
	} else {
		goto out;
	}

	peer_id = ref ? ref->peer_id : 0;
	peer = peer_get(peer_id);
	if (!peer) {
		reason = XWG_DROP_TX_NO_PEER;
		if (iph)
			icmp_unreachable_v4(skb, &c, eth, iph);
		else if (ip6h)
			icmp_unreachable_v6(skb, &c, eth, ip6h);
		goto out;
	}

	if (eth)
		eth_tag_peer(eth, peer_id);
	cfg = config_get();
	if (!(READ_ONCE(peer->flags) & XWG_PEER_CAN_SEND) && cfg)
		handshake_request(peer, peer_id, cfg);
	reason = XWG_DROP_NONE;
	action = TC_ACT_OK;
out:
	if (reason != XWG_DROP_NONE)
		drop_count(reason);
	return action;
}

char LICENSE[] SEC("license") = "GPL";
