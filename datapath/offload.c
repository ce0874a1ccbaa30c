// SPDX-License-Identifier: GPL-2.0
/*
 * TSO/USO segmentation of what the stack writes to the TUN device and GRO
 * of what goes back into it (see offload.h). The segments are what the
 * kernel's own software GSO makes of the same skb (inet_gso_segment,
 * ipv6_gso_segment, tcp_gso_segment, __udp_gso_segment); the coalescing
 * rules are those of tcp_gro_receive / udp_gro_receive_segment, a little
 * stricter where being strict costs nothing in practice.
 *
 * Checksums are summed over native-endian words (RFC 1071 section 2(B):
 * the sum is byte-order independent), so a folded sum is stored with
 * memcpy as it is, and big-endian header values enter the sum as htons().
 */
#include <arpa/inet.h>
#include <endian.h>
#include <netinet/in.h>
#include <string.h>

#include "datapath/offload.h"

#define IPV4_HLEN_MIN 20U
#define IPV6_HLEN 40U
#define TCP_HLEN_MIN 20U
#define UDP_HLEN 8U
#define IP_TOTAL_MAX 65535U

/* RFC 9293 section 3.1: the flags byte (offset 13). */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/* Where CHECKSUM_PARTIAL puts each protocol's checksum (its header's
 * check field). */
#define TCP_CSUM_OFF 16U
#define UDP_CSUM_OFF 6U
#define ICMP_CSUM_OFF 2U

/* RFC 791: frag_off's flags and offset. */
#define IPV4_DF 0x4000
#define IPV4_MF 0x2000
#define IPV4_OFFSET_MASK 0x1fff

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* ---- checksums ---- */

uint16_t offload_csum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffffULL) + (sum >> 32);
	sum = (sum & 0xffffffffULL) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * Each 64-bit word is added as its two 32-bit halves into 64-bit
 * accumulators: no carry to track (2^32 words, 32 GB, before one could
 * overflow) and four independent chains the compiler may vectorise.
 * Folding 2^32 and 2^16 into 1 is what makes a sum of wide words the
 * same one's complement sum as RFC 1071's sum of 16-bit words.
 */
uint64_t offload_csum_partial(const void *data, size_t len, uint64_t sum)
{
	const uint8_t *p = data;
	uint64_t a = 0, b = 0, c = 0, d = 0, w[4], acc;
	uint32_t h;

	while (len >= 32) {
		memcpy(w, p, 32);
		a += (w[0] & 0xffffffffULL) + (w[0] >> 32);
		b += (w[1] & 0xffffffffULL) + (w[1] >> 32);
		c += (w[2] & 0xffffffffULL) + (w[2] >> 32);
		d += (w[3] & 0xffffffffULL) + (w[3] >> 32);
		p += 32;
		len -= 32;
	}
	while (len >= 4) {
		memcpy(&h, p, 4);
		a += h;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t s;

		memcpy(&s, p, 2);
		b += s;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* The odd byte is the first of a 16-bit word padded with a
		 * zero (RFC 1071 section 4.1), whatever the host order. */
		uint8_t pad[2] = { p[0], 0 };
		uint16_t s;

		memcpy(&s, pad, 2);
		c += s;
	}
	acc = (uint64_t)offload_csum_fold(a) + offload_csum_fold(b) + offload_csum_fold(c) +
	      offload_csum_fold(d);
	/* sum with an end-around carry */
	acc += sum;
	if (acc < sum)
		acc++;
	return acc;
}

/* The TCP/UDP pseudo-header (RFC 9293 3.1, RFC 768; RFC 8200 8.1) for
 * l4_len bytes of protocol proto between the packet's addresses. */
static uint64_t pseudo_sum(const uint8_t *ip, unsigned int family, unsigned int proto,
			   size_t l4_len)
{
	uint64_t sum;

	if (family == 4)
		sum = offload_csum_partial(ip + 12, 8, 0);
	else
		sum = offload_csum_partial(ip + 8, 32, 0);
	/* l4_len < 2^16 here; an IPv6 upper-layer length's top half is 0 */
	return sum + htons((uint16_t)proto) + htons((uint16_t)l4_len);
}

static void ipv4_header_csum_set(uint8_t *ip, size_t hlen)
{
	uint16_t c;

	ip[10] = ip[11] = 0;
	c = (uint16_t)~offload_csum_fold(offload_csum_partial(ip, hlen, 0));
	memcpy(ip + 10, &c, 2);
}

static bool ipv4_header_csum_ok(const uint8_t *ip, size_t hlen)
{
	return offload_csum_fold(offload_csum_partial(ip, hlen, 0)) == 0xffff;
}

/* ---- drop reasons ---- */

const char *offload_drop_name(enum offload_drop r)
{
#define OFFLOAD_DROP_CASE(name, str) \
	case name:                   \
		return str;
	switch (r) {
	OFFLOAD_DROP_REASONS(OFFLOAD_DROP_CASE)
	case OFFLOAD_OK:
		return "ok";
	case OFFLOAD_DROP_COUNT:
		break;
	}
#undef OFFLOAD_DROP_CASE
	return "unknown";
}

/* ---- segmenting ---- */

/* What the IP header alone says about a packet. */
struct ip_view {
	unsigned int family;
	unsigned int proto;     /* IPv4 protocol or IPv6 next header */
	size_t hlen;            /* IPv4 IHL * 4, or 40 */
	size_t len;             /* the length by the header: <= the buffer */
	bool is_fragment;       /* IPv4 MF or a fragment offset */
};

static bool ip_view_parse(struct ip_view *v, const uint8_t *p, size_t len)
{
	if (len < 1)
		return false;
	if (p[0] >> 4 == 4) {
		size_t hlen = (size_t)(p[0] & 0x0f) * 4, tot;

		if (len < IPV4_HLEN_MIN || hlen < IPV4_HLEN_MIN || hlen > len)
			return false;
		tot = get16(p + 2);
		if (tot < hlen || tot > len)
			return false;
		v->family = 4;
		v->proto = p[9];
		v->hlen = hlen;
		v->len = tot;
		v->is_fragment = (get16(p + 6) & (IPV4_MF | IPV4_OFFSET_MASK)) != 0;
		return true;
	}
	if (p[0] >> 4 == 6) {
		if (len < IPV6_HLEN || IPV6_HLEN + (size_t)get16(p + 4) > len)
			return false;
		v->family = 6;
		v->proto = p[6];
		v->hlen = IPV6_HLEN;
		v->len = IPV6_HLEN + get16(p + 4);
		v->is_fragment = false;
		return true;
	}
	return false;
}

/* RFC 8200 section 4 and the IANA list: next headers that are extension
 * headers, not the upper layer. */
static bool is_ipv6_extension(unsigned int nh)
{
	switch (nh) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_FRAGMENT:
	case IPPROTO_ESP:
	case IPPROTO_AH:
	case IPPROTO_DSTOPTS:
	case IPPROTO_MH:
	case 139: /* HIP */
	case 140: /* Shim6 */
		return true;
	default:
		return false;
	}
}

/* The checksum offset the protocol at csum_start must use, or 0 when
 * the protocol there is not known (IPv6 extension headers, a fragment,
 * another protocol): then any even offset in range is taken. */
static unsigned int csum_offset_expected(const struct ip_view *v, size_t csum_start)
{
	if (csum_start != v->hlen || v->is_fragment)
		return 0;
	switch (v->proto) {
	case IPPROTO_TCP:
		return TCP_CSUM_OFF;
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		return UDP_CSUM_OFF;
	case IPPROTO_ICMP:
		return v->family == 4 ? ICMP_CSUM_OFF : 0;
	case IPPROTO_ICMPV6:
		return v->family == 6 ? ICMP_CSUM_OFF : 0;
	default:
		return 0;
	}
}

/*
 * VIRTIO_NET_HDR_F_NEEDS_CSUM without GSO: the stack left the checksum
 * to the device (CHECKSUM_PARTIAL). The field already holds the
 * pseudo-header sum; the device sums from csum_start to the end of the
 * packet and stores the complement, a zero as 0xffff (skb_checksum_help,
 * which matters for UDP, RFC 768, and is harmless for the others).
 */
static enum offload_drop csum_complete(const struct virtio_net_hdr *vh, const struct ip_view *v,
				       uint8_t *pkt)
{
	size_t start = le16toh(vh->csum_start), off = le16toh(vh->csum_offset);
	unsigned int want;
	uint16_t c;

	if (start < v->hlen || start + off + 2 > v->len || off % 2)
		return OFFLOAD_DROP_BAD_CSUM_OFFSET;
	want = csum_offset_expected(v, start);
	if (want && off != want)
		return OFFLOAD_DROP_BAD_CSUM_OFFSET;
	if (!want && start == v->hlen && !v->is_fragment &&
	    (v->proto == IPPROTO_TCP || v->proto == IPPROTO_UDP))
		return OFFLOAD_DROP_BAD_CSUM_OFFSET;
	if (want == TCP_CSUM_OFF && v->len - start < TCP_HLEN_MIN)
		return OFFLOAD_DROP_BAD_HEADERS;
	if (want == UDP_CSUM_OFF && v->len - start < UDP_HLEN)
		return OFFLOAD_DROP_BAD_HEADERS;
	c = (uint16_t)~offload_csum_fold(offload_csum_partial(pkt + start, v->len - start, 0));
	if (!c)
		c = 0xffff;
	memcpy(pkt + start + off, &c, 2);
	return OFFLOAD_OK;
}

enum offload_drop offload_seg_begin(struct offload_seg_iter *it, const struct virtio_net_hdr *vh,
				    uint8_t *pkt, size_t len)
{
	unsigned int gso = vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	bool ecn = vh->gso_type & VIRTIO_NET_HDR_GSO_ECN;
	size_t l4_hlen, payload, gso_size, nsegs;
	struct ip_view v;
	enum offload_drop r;

	memset(it, 0, sizeof(*it));
	if (vh->flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
		return OFFLOAD_DROP_BAD_VNET_HDR;
	if (!ip_view_parse(&v, pkt, len))
		return OFFLOAD_DROP_BAD_HEADERS;

	if (gso == VIRTIO_NET_HDR_GSO_NONE) {
		if (ecn)
			return OFFLOAD_DROP_BAD_VNET_HDR;
		if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			r = csum_complete(vh, &v, pkt);
			if (r != OFFLOAD_OK)
				return r;
		}
		it->pkt = pkt;
		it->len = v.len;
		it->family = v.family;
		it->l4 = v.proto;
		it->ip_hlen = v.hlen;
		it->hdr_len = v.len;
		it->nsegs = 1;
		return OFFLOAD_OK;
	}

	switch (gso) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (v.family != 4)
			return OFFLOAD_DROP_BAD_VNET_HDR;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (v.family != 6)
			return OFFLOAD_DROP_BAD_VNET_HDR;
		break;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		if (ecn)
			return OFFLOAD_DROP_BAD_VNET_HDR;
		break;
	default: /* UFO (VIRTIO_NET_HDR_GSO_UDP) and anything newer */
		return OFFLOAD_DROP_BAD_VNET_HDR;
	}
	/* Segments are cut at the upper layer: fragments, IPv6 extension
	 * headers (refused here, the stack does not make TSO packets with
	 * them but for rare options) and jumbograms cannot be. */
	if (v.is_fragment)
		return OFFLOAD_DROP_BAD_HEADERS;
	if (v.family == 6 && (is_ipv6_extension(v.proto) || v.len == IPV6_HLEN))
		return OFFLOAD_DROP_BAD_HEADERS;
	if (v.proto != (gso == VIRTIO_NET_HDR_GSO_UDP_L4 ? IPPROTO_UDP : IPPROTO_TCP))
		return OFFLOAD_DROP_BAD_VNET_HDR;

	/* The real header length, from the headers themselves: the
	 * kernel's hdr_len is only a hint (skb_headlen for TUN), so it is
	 * only checked to lie inside the packet. */
	if (v.proto == IPPROTO_TCP) {
		const uint8_t *th = pkt + v.hlen;

		if (v.len - v.hlen < TCP_HLEN_MIN)
			return OFFLOAD_DROP_BAD_HEADERS;
		l4_hlen = (size_t)(th[12] >> 4) * 4;
		if (l4_hlen < TCP_HLEN_MIN || l4_hlen > v.len - v.hlen)
			return OFFLOAD_DROP_BAD_HEADERS;
		/* tcp_gso_segment would copy these to every segment; the
		 * stack never sends them with TSO, so refuse. */
		if (th[13] & (TCP_SYN | TCP_RST))
			return OFFLOAD_DROP_BAD_HEADERS;
	} else {
		if (v.len - v.hlen < UDP_HLEN || get16(pkt + v.hlen + 4) != v.len - v.hlen)
			return OFFLOAD_DROP_BAD_HEADERS;
		l4_hlen = UDP_HLEN;
	}
	if (le16toh(vh->hdr_len) > v.len)
		return OFFLOAD_DROP_BAD_VNET_HDR;
	if ((vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (le16toh(vh->csum_start) != v.hlen ||
	     le16toh(vh->csum_offset) != (v.proto == IPPROTO_TCP ? TCP_CSUM_OFF : UDP_CSUM_OFF)))
		return OFFLOAD_DROP_BAD_CSUM_OFFSET;

	gso_size = le16toh(vh->gso_size);
	if (!gso_size)
		return OFFLOAD_DROP_BAD_GSO_SIZE;
	payload = v.len - v.hlen - l4_hlen;
	nsegs = payload ? (payload + gso_size - 1) / gso_size : 1;
	if (nsegs > OFFLOAD_SEGMENTS_MAX)
		return OFFLOAD_DROP_TOO_MANY_SEGMENTS;

	it->is_gso = true;
	it->pkt = pkt;
	it->len = v.len;
	it->family = v.family;
	it->l4 = v.proto;
	it->ip_hlen = v.hlen;
	it->hdr_len = v.hlen + l4_hlen;
	it->gso_size = gso_size;
	it->nsegs = (unsigned int)nsegs;
	return OFFLOAD_OK;
}

unsigned int offload_seg_remaining(const struct offload_seg_iter *it)
{
	return it->nsegs - it->seg;
}

size_t offload_seg_next_len(const struct offload_seg_iter *it)
{
	size_t left;

	if (it->seg >= it->nsegs)
		return 0;
	if (!it->is_gso)
		return it->len;
	left = it->len - it->hdr_len - it->off;
	return it->hdr_len + (left < it->gso_size ? left : it->gso_size);
}

size_t offload_seg_next(struct offload_seg_iter *it, uint8_t *out)
{
	size_t n = offload_seg_next_len(it), plen, l4_len;
	bool first = it->seg == 0, last = it->seg + 1 == it->nsegs;
	uint8_t *l4 = out + it->ip_hlen;
	uint64_t sum;
	uint16_t c;

	if (!n)
		return 0;
	if (!it->is_gso) {
		if (out != it->pkt)
			memmove(out, it->pkt, n);
		it->seg++;
		return n;
	}
	plen = n - it->hdr_len;
	memcpy(out, it->pkt, it->hdr_len);
	memcpy(out + it->hdr_len, it->pkt + it->hdr_len + it->off, plen);

	/* inet_gso_segment / ipv6_gso_segment */
	if (it->family == 4) {
		put16(out + 2, (uint16_t)n);
		put16(out + 4, (uint16_t)(get16(it->pkt + 4) + it->seg));
		ipv4_header_csum_set(out, it->ip_hlen);
	} else {
		put16(out + 4, (uint16_t)(n - IPV6_HLEN));
	}

	l4_len = n - it->ip_hlen;
	if (it->l4 == IPPROTO_TCP) {
		/* tcp_gso_segment: the sequence number advances by the
		 * payload before; CWR stays on the first segment only,
		 * FIN and PSH go on the last only. */
		put32(l4 + 4, get32(it->pkt + it->ip_hlen + 4) + (uint32_t)it->off);
		if (!first)
			l4[13] &= (uint8_t)~TCP_CWR;
		if (!last)
			l4[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
		l4[16] = l4[17] = 0;
		sum = pseudo_sum(out, it->family, IPPROTO_TCP, l4_len);
		c = (uint16_t)~offload_csum_fold(offload_csum_partial(l4, l4_len, sum));
		memcpy(l4 + 16, &c, 2);
	} else {
		/* __udp_gso_segment: each datagram its own length, and a
		 * computed zero sent as 0xffff (RFC 768: zero means none). */
		put16(l4 + 4, (uint16_t)l4_len);
		l4[6] = l4[7] = 0;
		sum = pseudo_sum(out, it->family, IPPROTO_UDP, l4_len);
		c = (uint16_t)~offload_csum_fold(offload_csum_partial(l4, l4_len, sum));
		if (!c)
			c = 0xffff;
		memcpy(l4 + 6, &c, 2);
	}
	it->off += plen;
	it->seg++;
	return n;
}

/* ---- coalescing ---- */

/* What a decrypted packet is, as far as coalescing cares. */
struct gro_info {
	bool is_ip;             /* parsed: addresses below are valid */
	bool proto_known;       /* proto is the upper layer */
	bool ports_known;
	bool can_join;          /* may be part of a super-packet */
	unsigned int family, proto;
	const uint8_t *addrs;   /* source then destination address */
	size_t addrs_len;
	uint16_t sport, dport;
	size_t ip_len, ip_hlen, hdr_len, payload;
	uint8_t tcp_flags;
};

struct gro_flow {
	bool used;
	uint64_t opened;        /* for evicting the oldest */
	unsigned int head;      /* index in pkts of the first packet */
	struct gro_info hi;     /* the head's view */
	unsigned int count;
	unsigned int idx[OFFLOAD_GRO_SEGMENTS_MAX];
	size_t total;           /* IP length of the super-packet so far */
	uint32_t next_seq;
	uint16_t next_id;
	bool psh;
};

struct gro_state {
	struct offload_gro_pkt *pkts;
	offload_gro_emit_fn emit;
	void *ctx;
	uint64_t clock;
	struct gro_flow flows[OFFLOAD_GRO_FLOWS];
};

static void gro_info_parse(struct gro_info *gi, const struct offload_gro_pkt *p, bool udp)
{
	struct ip_view v;
	const uint8_t *d = p->data, *l4;

	memset(gi, 0, sizeof(*gi));
	if (!ip_view_parse(&v, d, p->len))
		return;
	gi->is_ip = true;
	gi->family = v.family;
	gi->proto = v.proto;
	gi->addrs = v.family == 4 ? d + 12 : d + 8;
	gi->addrs_len = v.family == 4 ? 8 : 32;
	gi->ip_len = v.len;
	gi->ip_hlen = v.hlen;
	gi->proto_known = v.family == 4 || !is_ipv6_extension(v.proto);
	l4 = d + v.hlen;
	if (v.proto != IPPROTO_TCP && v.proto != IPPROTO_UDP)
		return;
	if (v.family == 4 && (get16(d + 6) & IPV4_OFFSET_MASK))
		return;
	if (v.len - v.hlen < 4)
		return;
	gi->ports_known = true;
	gi->sport = get16(l4);
	gi->dport = get16(l4 + 2);

	/* tcp_gro_receive / inet_gro_receive / ipv6_gro_receive: a plain
	 * header (no IPv4 options or fragments, a correct IPv4 header
	 * checksum), so that the head's header is every packet's. */
	if (v.is_fragment)
		return;
	if (v.family == 4 && (v.hlen != IPV4_HLEN_MIN || !ipv4_header_csum_ok(d, v.hlen)))
		return;
	if (v.proto == IPPROTO_TCP) {
		size_t thlen;

		if (v.len - v.hlen < TCP_HLEN_MIN)
			return;
		thlen = (size_t)(l4[12] >> 4) * 4;
		if (thlen < TCP_HLEN_MIN || thlen > v.len - v.hlen)
			return;
		gi->tcp_flags = l4[13];
		gi->hdr_len = v.hlen + thlen;
		gi->payload = v.len - gi->hdr_len;
		/* SYN, FIN, RST, URG and pure ACKs go alone; CWR may only
		 * start a super-packet (checked when joining). */
		gi->can_join = gi->payload > 0 && (gi->tcp_flags & TCP_ACK) &&
			       !(gi->tcp_flags & ~(TCP_ACK | TCP_PSH | TCP_ECE | TCP_CWR));
	} else {
		if (!udp || v.len - v.hlen < UDP_HLEN)
			return;
		gi->hdr_len = v.hlen + UDP_HLEN;
		gi->payload = v.len - gi->hdr_len;
		/* no padded datagrams, none without a checksum */
		gi->can_join = get16(l4 + 4) == v.len - v.hlen && gi->payload > 0 &&
			       get16(l4 + 6) != 0;
	}
}

/* Whether gi's packet belongs to the flow (for order), joinable or not. */
static bool gro_flow_matches(const struct gro_flow *f, const struct gro_info *gi)
{
	if (!gi->is_ip || gi->family != f->hi.family ||
	    memcmp(gi->addrs, f->hi.addrs, gi->addrs_len))
		return false;
	if (gi->proto_known && gi->proto != f->hi.proto)
		return false;
	if (gi->ports_known && (gi->sport != f->hi.sport || gi->dport != f->hi.dport))
		return false;
	return true;
}

static void gro_emit_one(struct gro_state *s, unsigned int i)
{
	struct offload_gro_out out;

	memset(&out.vh, 0, sizeof(out.vh));
	out.iov[0].iov_base = &out.vh;
	out.iov[0].iov_len = sizeof(out.vh);
	out.iov[1].iov_base = s->pkts[i].data;
	out.iov[1].iov_len = s->pkts[i].len;
	out.iovcnt = 2;
	out.len = s->pkts[i].len;
	out.packets = 1;
	s->emit(s->ctx, &out);
}

/*
 * The head's headers become the super-packet's (tcp_gro_complete,
 * udp_gro_complete): its lengths cover the whole, its checksum field
 * holds the pseudo-header sum as CHECKSUM_PARTIAL wants, and the stack
 * reading it from the TUN cuts it again, or not, as it likes.
 */
static void gro_flow_flush(struct gro_state *s, struct gro_flow *f)
{
	struct offload_gro_out out;
	const struct gro_info *h = &f->hi;
	uint8_t *d, *l4;
	unsigned int k;
	size_t l4_len;
	uint16_t c;

	if (!f->used)
		return;
	f->used = false;
	if (f->count == 1) {
		gro_emit_one(s, f->head);
		return;
	}
	d = s->pkts[f->head].data;
	l4 = d + h->ip_hlen;
	l4_len = f->total - h->ip_hlen;
	if (h->family == 4) {
		put16(d + 2, (uint16_t)f->total);
		ipv4_header_csum_set(d, h->ip_hlen);
	} else {
		put16(d + 4, (uint16_t)(f->total - IPV6_HLEN));
	}
	memset(&out.vh, 0, sizeof(out.vh));
	out.vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	out.vh.hdr_len = htole16((uint16_t)h->hdr_len);
	out.vh.gso_size = htole16((uint16_t)h->payload);
	out.vh.csum_start = htole16((uint16_t)h->ip_hlen);
	if (h->proto == IPPROTO_TCP) {
		if (f->psh)
			l4[13] |= TCP_PSH;
		out.vh.gso_type = h->family == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
		if (l4[13] & TCP_CWR)
			out.vh.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
		out.vh.csum_offset = htole16(TCP_CSUM_OFF);
	} else {
		put16(l4 + 4, (uint16_t)l4_len);
		out.vh.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
		out.vh.csum_offset = htole16(UDP_CSUM_OFF);
	}
	c = offload_csum_fold(pseudo_sum(d, h->family, h->proto, l4_len));
	memcpy(l4 + (h->proto == IPPROTO_TCP ? TCP_CSUM_OFF : UDP_CSUM_OFF), &c, 2);

	out.iov[0].iov_base = &out.vh;
	out.iov[0].iov_len = sizeof(out.vh);
	out.iov[1].iov_base = d;
	out.iov[1].iov_len = h->ip_len;
	/* Every member's header is as long as the head's, every payload
	 * as long as the head's but the last's. */
	for (k = 1; k < f->count; k++) {
		out.iov[k + 1].iov_base = s->pkts[f->idx[k]].data + h->hdr_len;
		out.iov[k + 1].iov_len = h->payload;
	}
	out.iov[f->count].iov_len = f->total - h->ip_len - (size_t)(f->count - 2) * h->payload;
	out.iovcnt = (int)f->count + 1;
	out.len = f->total;
	out.packets = f->count;
	s->emit(s->ctx, &out);
}

static void gro_flow_open(struct gro_state *s, struct gro_flow *f, unsigned int i,
			  const struct gro_info *gi)
{
	const uint8_t *d = s->pkts[i].data;

	f->used = true;
	f->opened = s->clock++;
	f->head = i;
	f->hi = *gi;
	f->count = 1;
	f->idx[0] = i;
	f->total = gi->ip_len;
	f->psh = false;
	if (gi->proto == IPPROTO_TCP)
		f->next_seq = get32(d + gi->ip_hlen + 4) + (uint32_t)gi->payload;
	if (gi->family == 4)
		f->next_id = (uint16_t)(get16(d + 4) + 1);
}

/* Whether packet i may follow the flow's last packet. */
static bool gro_can_append(const struct gro_state *s, const struct gro_flow *f, unsigned int i,
			   const struct gro_info *gi)
{
	const uint8_t *h = s->pkts[f->head].data, *d = s->pkts[i].data;
	const struct gro_info *hi = &f->hi;

	if (!gi->can_join || gi->proto != hi->proto || gi->hdr_len != hi->hdr_len ||
	    gi->payload > hi->payload || f->count >= OFFLOAD_GRO_SEGMENTS_MAX ||
	    f->total + gi->payload > IP_TOTAL_MAX)
		return false;
	if (gi->family == 4) {
		/* TOS, DF and TTL as the head's; a datagram that may be
		 * fragmented keeps its place in the id sequence (RFC 6864:
		 * ids of atomic datagrams mean nothing). */
		uint16_t frag = get16(d + 6);

		if (d[1] != h[1] || d[8] != h[8] || frag != get16(h + 6))
			return false;
		if (!(frag & IPV4_DF) && get16(d + 4) != f->next_id)
			return false;
	} else {
		/* version, traffic class, flow label, hop limit */
		if (memcmp(d, h, 4) || d[7] != h[7])
			return false;
	}
	if (gi->proto == IPPROTO_TCP) {
		const uint8_t *th = h + hi->ip_hlen, *t = d + gi->ip_hlen;

		/* tcp_gro_receive: the next sequence number, the same ack,
		 * window and options (the data offset is, by hdr_len);
		 * flags the head's but for PSH, and CWR on the head only. */
		if (get32(t + 4) != f->next_seq || memcmp(t + 8, th + 8, 4) ||
		    (t[13] & (uint8_t)~TCP_PSH) != (th[13] & (uint8_t)~(TCP_PSH | TCP_CWR)) ||
		    memcmp(t + 14, th + 14, 2) ||
		    memcmp(t + TCP_HLEN_MIN, th + TCP_HLEN_MIN, hi->hdr_len - hi->ip_hlen - TCP_HLEN_MIN))
			return false;
	}
	return true;
}

static void gro_append(struct gro_flow *f, unsigned int i, const struct gro_info *gi)
{
	f->idx[f->count++] = i;
	f->total += gi->payload;
	f->next_seq += (uint32_t)gi->payload;
	f->next_id++;
	if (gi->tcp_flags & TCP_PSH)
		f->psh = true;
}

/* A short packet, PSH, or no room for another (a shorter last one may
 * still fit under 65535 bytes): the super-packet is done. */
static bool gro_flow_is_done(const struct gro_flow *f, const struct gro_info *last)
{
	return last->payload < f->hi.payload || (last->tcp_flags & TCP_PSH) ||
	       f->count >= OFFLOAD_GRO_SEGMENTS_MAX || f->total >= IP_TOTAL_MAX;
}

static struct gro_flow *gro_flow_free_slot(struct gro_state *s)
{
	struct gro_flow *oldest = &s->flows[0];
	unsigned int k;

	for (k = 0; k < OFFLOAD_GRO_FLOWS; k++) {
		if (!s->flows[k].used)
			return &s->flows[k];
		if (s->flows[k].opened < oldest->opened)
			oldest = &s->flows[k];
	}
	gro_flow_flush(s, oldest);
	return oldest;
}

void offload_gro_flush(struct offload_gro_pkt *pkts, unsigned int n, bool udp,
		       offload_gro_emit_fn emit, void *ctx)
{
	struct gro_state s;
	unsigned int i, k;

	s.pkts = pkts;
	s.emit = emit;
	s.ctx = ctx;
	s.clock = 0;
	for (k = 0; k < OFFLOAD_GRO_FLOWS; k++)
		s.flows[k].used = false;

	for (i = 0; i < n; i++) {
		struct gro_flow *f = NULL;
		struct gro_info gi;

		gro_info_parse(&gi, &pkts[i], udp);
		/* The packet's flow (at most one open group can match a
		 * joinable packet: ports and protocol are known then). A
		 * packet that matches several loosely (an IPv6 extension
		 * header, a later fragment) flushes them all first. */
		for (k = 0; k < OFFLOAD_GRO_FLOWS; k++) {
			struct gro_flow *g = &s.flows[k];

			if (!g->used || !gro_flow_matches(g, &gi))
				continue;
			if (gi.can_join && !f) {
				f = g;
				continue;
			}
			gro_flow_flush(&s, g);
		}
		if (f && gro_can_append(&s, f, i, &gi)) {
			gro_append(f, i, &gi);
			if (gro_flow_is_done(f, &gi))
				gro_flow_flush(&s, f);
			continue;
		}
		if (f)
			gro_flow_flush(&s, f);
		if (!gi.can_join || (gi.tcp_flags & TCP_PSH)) {
			gro_emit_one(&s, i);
			continue;
		}
		f = gro_flow_free_slot(&s);
		gro_flow_open(&s, f, i, &gi);
	}
	/* what is left, oldest first */
	for (;;) {
		struct gro_flow *oldest = NULL;

		for (k = 0; k < OFFLOAD_GRO_FLOWS; k++)
			if (s.flows[k].used && (!oldest || s.flows[k].opened < oldest->opened))
				oldest = &s.flows[k];
		if (!oldest)
			break;
		gro_flow_flush(&s, oldest);
	}
}
