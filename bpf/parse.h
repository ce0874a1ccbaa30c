/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Header parsing for the XDP and TC programs, with one bounds-check idiom:
 * a cursor (next header, end of the linear data) that each parse helper
 * checks its header against before reading it, then advances. A helper
 * returns the next protocol (host order), or -1 when its header does not
 * fit or is not what its type field says; the pointer it hands back is only
 * set on success. The verifier sees every access guarded by a comparison
 * with the end, as in xdp-tutorial's parsing_helpers.h.
 */
#ifndef XWG_PARSE_H
#define XWG_PARSE_H

#include <stdbool.h>
#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct hdr_cursor {
	void *pos;
	void *end;
};

/* An 802.1Q or 802.1AD tag (not in the UAPI headers). */
struct vlan_tag {
	__be16 tci;
	__be16 encapsulated_proto;
};

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

static __always_inline void hdr_cursor_init(struct hdr_cursor *c, long data, long data_end)
{
	c->pos = (void *)data;
	c->end = (void *)data_end;
}

/* Returns the EtherType. */
static __always_inline int parse_ethhdr(struct hdr_cursor *c, struct ethhdr **ethp)
{
	struct ethhdr *eth = c->pos;

	if ((void *)(eth + 1) > c->end)
		return -1;
	c->pos = eth + 1;
	*ethp = eth;
	return bpf_ntohs(eth->h_proto);
}

static __always_inline bool eth_type_is_vlan(int proto)
{
	return proto == ETH_P_8021Q || proto == ETH_P_8021AD;
}

/* Returns the EtherType the tag encapsulates. */
static __always_inline int parse_vlan_tag(struct hdr_cursor *c)
{
	struct vlan_tag *tag = c->pos;

	if ((void *)(tag + 1) > c->end)
		return -1;
	c->pos = tag + 1;
	return bpf_ntohs(tag->encapsulated_proto);
}

/* Returns the IP protocol. Options are skipped (any IHL from 5 to 15). */
static __always_inline int parse_iphdr(struct hdr_cursor *c, struct iphdr **iphp)
{
	struct iphdr *iph = c->pos;
	__u32 hdrsize;

	if ((void *)(iph + 1) > c->end)
		return -1;
	if (iph->version != 4)
		return -1;
	hdrsize = iph->ihl * 4;
	if (hdrsize < sizeof(*iph))
		return -1;
	if (c->pos + hdrsize > c->end)
		return -1;
	c->pos += hdrsize;
	*iphp = iph;
	return iph->protocol;
}

/* Any fragment but a whole datagram: MF set or a nonzero offset. */
static __always_inline bool iphdr_is_fragment(const struct iphdr *iph)
{
	return (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)) != 0;
}

/* Returns the next header; extension headers are not walked (the callers
 * want UDP directly after the fixed header and leave the rest alone). */
static __always_inline int parse_ip6hdr(struct hdr_cursor *c, struct ipv6hdr **ip6hp)
{
	struct ipv6hdr *ip6h = c->pos;

	if ((void *)(ip6h + 1) > c->end)
		return -1;
	if (ip6h->version != 6)
		return -1;
	c->pos = ip6h + 1;
	*ip6hp = ip6h;
	return ip6h->nexthdr;
}

/* Returns the length of the UDP payload, which is the next "protocol" here:
 * the message. *udphp is set whenever the 8-byte header fits, so a caller
 * can look at the port before judging the length; -1 when the header does
 * not fit or its length field is below 8 or runs past the data (a
 * truncated datagram, or an IPv6 jumbogram's zero). The cursor is left at
 * the payload, which may be followed by Ethernet padding. */
static __always_inline int parse_udphdr(struct hdr_cursor *c, struct udphdr **udphp)
{
	struct udphdr *udph = c->pos;
	__u32 len;

	if ((void *)(udph + 1) > c->end)
		return -1;
	c->pos = udph + 1;
	*udphp = udph;
	len = bpf_ntohs(udph->len);
	if (len < sizeof(*udph))
		return -1;
	len -= sizeof(*udph);
	if (c->pos + len > c->end)
		return -1;
	return len;
}

/* WireGuard integers are little-endian (protocol.md, "Messages"). */
static __always_inline __u32 load_le32(const __u8 *p)
{
	return (__u32)p[0] | (__u32)p[1] << 8 | (__u32)p[2] << 16 | (__u32)p[3] << 24;
}

#endif
