// SPDX-License-Identifier: GPL-2.0
/*
 * offload: the TSO/USO segmenter against segments built one by one, the
 * checksum completion, lying virtio-net headers, and the GRO coalescer
 * (round trips through the segmenter and what must not coalesce).
 * Checksums here are recomputed by a byte-wise RFC 1071 sum of big-endian
 * words, independent of offload_csum_partial.
 */
#include <endian.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/offload.h"
#include "tests/ref_csum.h"
#include "test.h"
#include "tests/suites.h"

#define PKT_MAX (65535 + 64)

static void put16(uint8_t *p, uint32_t v)
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

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* ---- building packets one by one ---- */

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_CWR 0x80

/* One packet's headers, as a sender's stack would write them. */
struct pkt_desc {
	int family;             /* 4 or 6 */
	int proto;              /* IPPROTO_TCP or IPPROTO_UDP */
	size_t ip_opts;         /* IPv4 option bytes, a multiple of 4 */
	size_t tcp_opts;        /* 0, 12 (timestamps) or 24 (+ SACK) */
	uint8_t tos, ttl;
	uint16_t id, frag;
	uint32_t seq, ack, tsval;
	uint8_t flags;
	uint16_t window, sport, dport;
	uint8_t saddr_last;     /* varies the source address */
};

enum csum_mode { CSUM_FULL, CSUM_PARTIAL };

static size_t desc_ip_hlen(const struct pkt_desc *d)
{
	return d->family == 4 ? 20 + d->ip_opts : 40;
}

static size_t desc_hdr_len(const struct pkt_desc *d)
{
	return desc_ip_hlen(d) + (d->proto == IPPROTO_TCP ? 20 + d->tcp_opts : 8);
}

static uint32_t ref_pseudo(const uint8_t *ip, int family, int proto, size_t l4_len)
{
	uint32_t acc = family == 4 ? ref_add(0, ip + 12, 8) : ref_add(0, ip + 8, 32);

	return acc + (uint32_t)proto + (uint32_t)(l4_len & 0xffff) + (uint32_t)(l4_len >> 16);
}

/* Writes the packet to buf and returns its length. CSUM_PARTIAL leaves
 * the pseudo-header sum in the TCP/UDP checksum (CHECKSUM_PARTIAL). */
static size_t build_packet(uint8_t *buf, const struct pkt_desc *d, const uint8_t *payload,
			   size_t plen, enum csum_mode mode)
{
	size_t iph = desc_ip_hlen(d), hdr = desc_hdr_len(d), len = hdr + plen, l4_len = len - iph;
	uint8_t *l4 = buf + iph;
	uint16_t c;
	size_t i;

	memset(buf, 0, hdr);
	if (d->family == 4) {
		buf[0] = (uint8_t)(0x40 | iph / 4);
		buf[1] = d->tos;
		put16(buf + 2, (uint32_t)len);
		put16(buf + 4, d->id);
		put16(buf + 6, d->frag);
		buf[8] = d->ttl;
		buf[9] = (uint8_t)d->proto;
		put32(buf + 12, 0x0a000001 + d->saddr_last);
		put32(buf + 16, 0x0a000002);
		/* Router Alert (RFC 2113), then NOPs, then an EOL */
		for (i = 0; i < d->ip_opts; i++)
			buf[20 + i] = i < 4 ? (uint8_t[]){ 0x94, 0x04, 0, 0 }[i] :
					      i + 1 == d->ip_opts ? 0 : 1;
		put16(buf + 10, (uint16_t)~ref_fold(ref_add(0, buf, iph)));
	} else {
		put32(buf, 0x60000000U | (uint32_t)d->tos << 20 | 0x12345);
		put16(buf + 4, (uint32_t)(len - 40));
		buf[6] = (uint8_t)d->proto;
		buf[7] = d->ttl;
		put32(buf + 8, 0xfd000000);
		buf[23] = (uint8_t)(1 + d->saddr_last);
		put32(buf + 24, 0xfd000000);
		buf[39] = 2;
	}
	put16(l4, d->sport);
	put16(l4 + 2, d->dport);
	if (d->proto == IPPROTO_TCP) {
		put32(l4 + 4, d->seq);
		put32(l4 + 8, d->ack);
		l4[12] = (uint8_t)((20 + d->tcp_opts) / 4 << 4);
		l4[13] = d->flags;
		put16(l4 + 14, d->window);
		if (d->tcp_opts >= 12) { /* NOP NOP timestamps (RFC 7323) */
			memcpy(l4 + 20, "\x01\x01\x08\x0a", 4);
			put32(l4 + 24, d->tsval);
			put32(l4 + 28, 0x01020304);
		}
		if (d->tcp_opts >= 24) { /* NOP NOP SACK, one block (RFC 2018) */
			memcpy(l4 + 32, "\x01\x01\x05\x0a", 4);
			put32(l4 + 36, d->ack + 1000);
			put32(l4 + 40, d->ack + 2000);
		}
	} else {
		put16(l4 + 4, (uint32_t)l4_len);
	}
	memcpy(buf + hdr, payload, plen);
	if (mode == CSUM_PARTIAL) {
		c = ref_fold(ref_pseudo(buf, d->family, d->proto, l4_len));
	} else {
		c = (uint16_t)~ref_fold(ref_add(ref_pseudo(buf, d->family, d->proto, l4_len), l4, l4_len));
		if (d->proto == IPPROTO_UDP && !c)
			c = 0xffff; /* RFC 768 */
	}
	put16(l4 + (d->proto == IPPROTO_TCP ? 16 : 6), c);
	return len;
}

/* Every checksum of a complete packet sums to 0xffff. */
static bool packet_sums_ok(const uint8_t *p, size_t len)
{
	int family = p[0] >> 4, proto;
	size_t iph;

	if (family == 4) {
		iph = (size_t)(p[0] & 15) * 4;
		if (ref_fold(ref_add(0, p, iph)) != 0xffff || get16(p + 2) != len)
			return false;
		proto = p[9];
	} else {
		iph = 40;
		if (get16(p + 4) + 40U != len)
			return false;
		proto = p[6];
	}
	return ref_fold(ref_add(ref_pseudo(p, family, proto, len - iph), p + iph, len - iph)) == 0xffff;
}

static struct virtio_net_hdr vh_gso(const struct pkt_desc *d, unsigned int mss, bool ecn)
{
	struct virtio_net_hdr vh;

	memset(&vh, 0, sizeof(vh));
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	if (d->proto == IPPROTO_UDP)
		vh.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
	else
		vh.gso_type = d->family == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
	if (ecn)
		vh.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
	vh.gso_size = htole16((uint16_t)mss);
	vh.hdr_len = htole16((uint16_t)desc_hdr_len(d));
	vh.csum_start = htole16((uint16_t)desc_ip_hlen(d));
	vh.csum_offset = htole16(d->proto == IPPROTO_TCP ? 16 : 6);
	return vh;
}

/* The descriptor of segment i of a super-packet described by d. */
static struct pkt_desc desc_segment(const struct pkt_desc *d, unsigned int i, unsigned int n,
				    unsigned int mss)
{
	struct pkt_desc s = *d;

	s.id = (uint16_t)(d->id + i);
	s.seq = d->seq + i * mss;
	if (i)
		s.flags &= (uint8_t)~TCP_CWR;
	if (i + 1 < n)
		s.flags &= (uint8_t)~(TCP_FIN | TCP_PSH);
	return s;
}

static uint8_t payload[65536];
static uint8_t super[PKT_MAX], want[PKT_MAX];
static uint8_t segs[OFFLOAD_SEGMENTS_MAX][1600];
static size_t seg_lens[OFFLOAD_SEGMENTS_MAX];

static const struct pkt_desc tcp4 = {
	.family = 4, .proto = IPPROTO_TCP, .tcp_opts = 12, .ttl = 64, .id = 0xfffe,
	.frag = 0x4000, .seq = 0xfffff000, .ack = 0x11223344, .tsval = 777,
	.flags = TCP_ACK, .window = 502, .sport = 40000, .dport = 5201,
};

/* ---- checksum ---- */

static void test_offload_csum(void)
{
	static uint8_t buf[70000];
	size_t len, off;

	test_rand_seed(1);
	test_rand_bytes(buf, sizeof(buf));
	for (off = 0; off < 8; off++) {
		for (len = 0; len < 300; len++) {
			uint16_t got = offload_csum_fold(offload_csum_partial(buf + off, len, 0));
			uint8_t b[2];

			memcpy(b, &got, 2);
			if (!CHECKF(get16(b) == ref_fold(ref_add(0, buf + off, len)),
				    "offset %zu length %zu", off, len))
				return;
		}
	}
	for (len = 65535; len <= 65536; len++) {
		uint16_t got = offload_csum_fold(offload_csum_partial(buf + 3, len, 0));
		uint8_t b[2];

		memcpy(b, &got, 2);
		CHECK(get16(b) == ref_fold(ref_add(0, buf + 3, len)));
	}
	/* All ones stays all ones, zero stays zero, and sums chain (even
	 * lengths first) with a carry out of 64 bits. */
	memset(buf, 0xff, 64);
	CHECK(offload_csum_fold(offload_csum_partial(buf, 64, 0)) == 0xffff);
	memset(buf, 0, 64);
	CHECK(offload_csum_fold(offload_csum_partial(buf, 64, 0)) == 0);
	test_rand_bytes(buf, 1000);
	CHECK(offload_csum_fold(offload_csum_partial(buf + 100, 901, offload_csum_partial(buf, 100, 0))) ==
	      offload_csum_fold(offload_csum_partial(buf, 1001, 0)));
	CHECK(offload_csum_fold(offload_csum_partial(buf, 10, ~0ULL)) ==
	      offload_csum_fold(offload_csum_partial(buf, 10, 0xffff)));
	CHECK(!strcmp(offload_drop_name(OFFLOAD_DROP_BAD_GSO_SIZE), "tx_offload_bad_gso_size"));
	CHECK(!strcmp(offload_drop_name(OFFLOAD_OK), "ok"));
	CHECK(!strcmp(offload_drop_name(OFFLOAD_DROP_COUNT), "unknown"));
}

/* ---- segmenting ---- */

/* Segments super (len bytes, header vh) into segs[]; returns the count or
 * -reason. */
static int segment_all(const struct virtio_net_hdr *vh, uint8_t *pkt, size_t len)
{
	struct offload_seg_iter it;
	enum offload_drop r = offload_seg_begin(&it, vh, pkt, len);
	int n = 0;

	if (r != OFFLOAD_OK)
		return -(int)r;
	while (offload_seg_remaining(&it)) {
		size_t want_len = offload_seg_next_len(&it);

		if (n >= (int)OFFLOAD_SEGMENTS_MAX || want_len > sizeof(segs[0]))
			return -100;
		seg_lens[n] = offload_seg_next(&it, segs[n]);
		if (seg_lens[n] != want_len)
			return -101;
		n++;
	}
	if (offload_seg_next_len(&it) || offload_seg_next(&it, segs[0]))
		return -102;
	return n;
}

static void test_offload_segment(void)
{
	static const struct {
		const char *name;
		int family, proto;
		size_t ip_opts, tcp_opts;
		uint8_t flags;
		bool ecn;
		size_t plen;
		unsigned int mss;
		int hdr_len_delta;      /* the kernel's hdr_len is a hint */
		size_t trailing;        /* bytes after the IP packet */
	} cases[] = {
		/* 1 */ { "v4 TCP timestamps", 4, IPPROTO_TCP, 0, 12, TCP_ACK, false, 4000, 1448, 0, 0 },
		/* 2 */ { "v4 TCP exact multiple", 4, IPPROTO_TCP, 0, 12, TCP_ACK, false, 4344, 1448, 0, 0 },
		/* 3 */ { "v4 TCP PSH FIN on the last", 4, IPPROTO_TCP, 0, 12, TCP_ACK | TCP_PSH | TCP_FIN, false, 3000, 1000, 0, 0 },
		/* 4 */ { "v4 TCP CWR on the first (ECN)", 4, IPPROTO_TCP, 0, 12, TCP_ACK | TCP_CWR | 0x40, true, 3000, 1000, 0, 0 },
		/* 5 */ { "v4 TCP SACK", 4, IPPROTO_TCP, 0, 24, TCP_ACK, false, 2500, 1000, 0, 0 },
		/* 6 */ { "v4 TCP IP options", 4, IPPROTO_TCP, 8, 12, TCP_ACK | TCP_PSH, false, 2500, 1000, 0, 0 },
		/* 7 */ { "v4 TCP one segment only", 4, IPPROTO_TCP, 0, 0, TCP_ACK | TCP_PSH, false, 500, 1000, 0, 0 },
		/* 8 */ { "v4 TCP odd mss", 4, IPPROTO_TCP, 0, 0, TCP_ACK, false, 2001, 333, 0, 0 },
		/* 9 */ { "v4 TCP 64 KB", 4, IPPROTO_TCP, 0, 12, TCP_ACK | TCP_PSH, false, 65535 - 52, 1368, 0, 0 },
		/* 10 */ { "v4 TCP hdr_len includes payload", 4, IPPROTO_TCP, 0, 12, TCP_ACK, false, 3000, 1000, 128, 0 },
		/* 11 */ { "v4 TCP hdr_len 0", 4, IPPROTO_TCP, 0, 12, TCP_ACK, false, 3000, 1000, -1000, 0 },
		/* 12 */ { "v4 TCP trailing bytes ignored", 4, IPPROTO_TCP, 0, 12, TCP_ACK, false, 3000, 1000, 0, 7 },
		/* 13 */ { "v4 TCP no payload", 4, IPPROTO_TCP, 0, 12, TCP_ACK, false, 0, 1000, 0, 0 },
		/* 14 */ { "v6 TCP timestamps", 6, IPPROTO_TCP, 0, 12, TCP_ACK, false, 4000, 1428, 0, 0 },
		/* 15 */ { "v6 TCP SACK PSH FIN", 6, IPPROTO_TCP, 0, 24, TCP_ACK | TCP_PSH | TCP_FIN, false, 5000, 1200, 0, 0 },
		/* 16 */ { "v6 TCP CWR", 6, IPPROTO_TCP, 0, 12, TCP_ACK | TCP_CWR, true, 3000, 1000, 0, 0 },
		/* 17 */ { "v6 TCP 64 KB", 6, IPPROTO_TCP, 0, 12, TCP_ACK, false, 65535 - 32, 1348, 0, 0 },
		/* 18 */ { "v4 UDP short last", 4, IPPROTO_UDP, 0, 0, 0, false, 3500, 1200, 0, 0 },
		/* 19 */ { "v4 UDP exact", 4, IPPROTO_UDP, 0, 0, 0, false, 3600, 1200, 0, 0 },
		/* 20 */ { "v6 UDP short last", 6, IPPROTO_UDP, 0, 0, 0, false, 3001, 1400, 0, 0 },
		/* 21 */ { "v6 UDP one datagram", 6, IPPROTO_UDP, 0, 0, 0, false, 100, 1400, 0, 0 },
		/* 22 */ { "v4 UDP IP options", 4, IPPROTO_UDP, 4, 0, 0, false, 2000, 999, 0, 0 },
		/* 23 */ { "v4 TCP 1024 segments", 4, IPPROTO_TCP, 0, 0, TCP_ACK, false, 1024 * 60, 60, 0, 0 },
	};
	size_t i;

	test_rand_seed(2);
	test_rand_bytes(payload, sizeof(payload));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkt_desc d = tcp4;
		struct virtio_net_hdr vh;
		unsigned int nsegs, k;
		size_t len, off = 0;
		int n;

		d.family = cases[i].family;
		d.proto = cases[i].proto;
		d.ip_opts = cases[i].ip_opts;
		d.tcp_opts = cases[i].tcp_opts;
		d.flags = cases[i].flags;
		len = build_packet(super, &d, payload, cases[i].plen, CSUM_PARTIAL);
		memset(super + len, 0xee, cases[i].trailing);
		vh = vh_gso(&d, cases[i].mss, cases[i].ecn);
		vh.hdr_len = htole16((uint16_t)(cases[i].hdr_len_delta < -(int)desc_hdr_len(&d) ? 0 :
						 (int)desc_hdr_len(&d) + cases[i].hdr_len_delta));
		nsegs = cases[i].plen ? (unsigned int)((cases[i].plen + cases[i].mss - 1) / cases[i].mss) : 1;
		n = segment_all(&vh, super, len + cases[i].trailing);
		if (!CHECKF(n == (int)nsegs, "case %zu (%s): %d segments, want %u", i + 1, cases[i].name, n, nsegs))
			continue;
		for (k = 0; k < nsegs; k++) {
			struct pkt_desc s = desc_segment(&d, k, nsegs, cases[i].mss);
			size_t plen = cases[i].plen - off < cases[i].mss ? cases[i].plen - off : cases[i].mss;
			size_t wlen = build_packet(want, &s, payload + off, plen, CSUM_FULL);

			off += plen;
			if (!CHECKF(seg_lens[k] == wlen && !memcmp(segs[k], want, wlen),
				    "case %zu (%s): segment %u differs", i + 1, cases[i].name, k) ||
			    !CHECKF(packet_sums_ok(segs[k], seg_lens[k]),
				    "case %zu (%s): segment %u checksums", i + 1, cases[i].name, k))
				break;
		}
	}

	/* UDP: a datagram whose checksum computes to 0 is sent with 0xffff
	 * (RFC 768). Two payload bytes of the second datagram make it so. */
	{
		struct pkt_desc d = tcp4, s;
		struct virtio_net_hdr vh;
		size_t len, wlen;
		uint32_t acc;
		int n;

		d.proto = IPPROTO_UDP;
		s = desc_segment(&d, 1, 2, 1000);
		memset(payload + 1000, 0, 2);
		wlen = build_packet(want, &s, payload + 1000, 500, CSUM_FULL);
		want[26] = want[27] = 0;
		acc = ref_fold(ref_add(ref_pseudo(want, 4, IPPROTO_UDP, wlen - 20), want + 20, wlen - 20));
		put16(payload + 1000, (uint16_t)~acc); /* the sum becomes 0xffff */
		len = build_packet(super, &d, payload, 1500, CSUM_PARTIAL);
		vh = vh_gso(&d, 1000, false);
		n = segment_all(&vh, super, len);
		CHECK(n == 2 && seg_lens[1] == wlen && get16(segs[1] + 26) == 0xffff &&
		      packet_sums_ok(segs[1], seg_lens[1]));
		test_rand_bytes(payload, sizeof(payload));
	}
}

/* NEEDS_CSUM without GSO: the checksum completed in place. */
static void test_offload_csum_complete(void)
{
	static const struct {
		const char *name;
		const char *hex;        /* the packet, checksum field 0 */
		unsigned int start, off;
		int pseudo;             /* the protocol of the pseudo-header in the field, or 0 */
	} cases[] = {
		/* 1 */ { "ICMP echo (no pseudo-header)", "450000240000400040010000c0000201c0000202" "0800" "0000" "12340001" "6162636465666768",
			  20, 2, 0 },
		/* 2 */ { "ICMPv6 echo", "60000000000d3a40" "fd000000000000000000000000000001" "fd000000000000000000000000000002"
			  "8000" "0000" "12340001" "6162636465", 40, 2, IPPROTO_ICMPV6 },
		/* 3 */ { "another protocol, any even offset", "4500002c0000400084000000c0000201c0000202" "0000000000000000" "0000000000000000" "0102030405060708",
			  20, 8, 0 },
		/* 4 */ { "UDP behind an IPv6 hop-by-hop header", "60000000001a0040" "fd000000000000000000000000000001" "fd000000000000000000000000000002"
			  "1100000000000000" "1234abcd00120000" "6162636465666768696a", 48, 6, IPPROTO_UDP },
	};
	uint8_t pkt[256], ref[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct virtio_net_hdr vh = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM };
		struct offload_seg_iter it;
		size_t len = test_unhex(pkt, sizeof(pkt), cases[i].hex);
		size_t start = cases[i].start;
		uint32_t sum;

		if (cases[i].pseudo) { /* what the stack leaves there */
			uint32_t acc = ref_pseudo(pkt, pkt[0] >> 4, 0, len - start) + (uint32_t)cases[i].pseudo;

			put16(pkt + start + cases[i].off, ref_fold(acc));
		}
		vh.csum_start = htole16((uint16_t)cases[i].start);
		vh.csum_offset = htole16((uint16_t)cases[i].off);
		if (!CHECKF(offload_seg_begin(&it, &vh, pkt, len) == OFFLOAD_OK, "case %zu (%s)", i + 1, cases[i].name))
			continue;
		CHECK(!it.is_gso && offload_seg_remaining(&it) == 1 && offload_seg_next_len(&it) == len);
		sum = ref_add(cases[i].pseudo ? ref_pseudo(pkt, pkt[0] >> 4, cases[i].pseudo, len - start) : 0,
			      pkt + start, len - start);
		CHECKF(ref_fold(sum) == 0xffff && get16(pkt + start + cases[i].off),
		       "case %zu (%s): sum %04x", i + 1, cases[i].name, ref_fold(sum));
		CHECK(offload_seg_next(&it, ref) == len && !memcmp(ref, pkt, len));
		CHECK(offload_seg_next_len(&it) == 0 && offload_seg_remaining(&it) == 0);
	}

	/* TCP and UDP over both families, from packets built partial. */
	{
		static const int protos[] = { IPPROTO_TCP, IPPROTO_UDP };
		int family, p;

		for (family = 4; family <= 6; family += 2) {
			for (p = 0; p < 2; p++) {
				struct pkt_desc d = tcp4;
				struct virtio_net_hdr vh;
				struct offload_seg_iter it;
				size_t len;

				d.family = family;
				d.proto = protos[p];
				d.ip_opts = family == 4 ? 4 : 0;
				len = build_packet(super, &d, payload, 1001, CSUM_PARTIAL);
				build_packet(want, &d, payload, 1001, CSUM_FULL);
				vh = vh_gso(&d, 0, false);
				vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
				CHECK(offload_seg_begin(&it, &vh, super, len + 3) == OFFLOAD_OK);
				CHECK(!it.is_gso && offload_seg_next_len(&it) == len);
				CHECKF(!memcmp(super, want, len) && packet_sums_ok(super, len),
				       "v%d proto %d", family, protos[p]);
			}
		}
	}

	/* A UDP checksum completed to 0 goes as 0xffff. */
	{
		struct pkt_desc d = tcp4;
		struct virtio_net_hdr vh;
		struct offload_seg_iter it;
		size_t len;
		uint32_t acc;

		d.proto = IPPROTO_UDP;
		memset(payload, 0, 2);
		len = build_packet(super, &d, payload, 100, CSUM_FULL);
		super[26] = super[27] = 0;
		acc = ref_fold(ref_add(ref_pseudo(super, 4, IPPROTO_UDP, len - 20), super + 20, len - 20));
		put16(payload, (uint16_t)~acc);
		len = build_packet(super, &d, payload, 100, CSUM_PARTIAL);
		vh = vh_gso(&d, 0, false);
		vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
		CHECK(offload_seg_begin(&it, &vh, super, len) == OFFLOAD_OK);
		CHECK(get16(super + 26) == 0xffff && packet_sums_ok(super, len));
		test_rand_bytes(payload, 2);
	}

	/* Without NEEDS_CSUM nothing is touched. */
	{
		struct virtio_net_hdr vh = { 0 };
		struct offload_seg_iter it;
		size_t len = build_packet(super, &tcp4, payload, 300, CSUM_PARTIAL);

		memcpy(want, super, len);
		CHECK(offload_seg_begin(&it, &vh, super, len) == OFFLOAD_OK && !memcmp(super, want, len));
	}
}

#define V(n) ((n) + 1) /* a value to set; 0: keep */

/* Lying or broken headers, each with its reason; nothing written then. */
static void test_offload_bad(void)
{
	enum base { TCP4, TCP6, UDP4, UDP6 };
	static const struct {
		const char *name;
		enum base base;
		int gso_type, flags, gso_size, hdr_len, csum_start, csum_offset;
		int byte_off, byte_val; /* a byte of the packet to set */
		int ip_len;             /* the IP header's length field */
		int len;                /* the buffer's length */
		enum offload_drop want;
	} cases[] = {
		/* 1 */ { "gso_size 0", TCP4, .gso_size = V(0), .want = OFFLOAD_DROP_BAD_GSO_SIZE },
		/* 2 */ { "gso_size 2: 1500 segments", TCP4, .gso_size = V(2), .want = OFFLOAD_DROP_TOO_MANY_SEGMENTS },
		/* 3 */ { "gso_size 2 over UDP", UDP6, .gso_size = V(2), .want = OFFLOAD_DROP_TOO_MANY_SEGMENTS },
		/* 4 */ { "hdr_len past the packet", TCP4, .hdr_len = V(3053), .want = OFFLOAD_DROP_BAD_VNET_HDR },
		/* 5 */ { "csum_start past the packet", TCP4, .csum_start = V(4000), .want = OFFLOAD_DROP_BAD_CSUM_OFFSET },
		/* 6 */ { "csum_start not the TCP header", TCP4, .csum_start = V(0), .want = OFFLOAD_DROP_BAD_CSUM_OFFSET },
		/* 7 */ { "csum_offset of UDP on TCP", TCP4, .csum_offset = V(6), .want = OFFLOAD_DROP_BAD_CSUM_OFFSET },
		/* 8 */ { "csum_offset of TCP on UDP", UDP4, .csum_offset = V(16), .want = OFFLOAD_DROP_BAD_CSUM_OFFSET },
		/* 9 */ { "TCPV4 on IPv6", TCP6, .gso_type = V(VIRTIO_NET_HDR_GSO_TCPV4), .want = OFFLOAD_DROP_BAD_VNET_HDR },
		/* 10 */ { "TCPV6 on IPv4", TCP4, .gso_type = V(VIRTIO_NET_HDR_GSO_TCPV6), .want = OFFLOAD_DROP_BAD_VNET_HDR },
		/* 11 */ { "UDP_L4 on TCP", TCP4, .gso_type = V(VIRTIO_NET_HDR_GSO_UDP_L4), .want = OFFLOAD_DROP_BAD_VNET_HDR },
		/* 12 */ { "TCPV4 on UDP", UDP4, .gso_type = V(VIRTIO_NET_HDR_GSO_TCPV4), .want = OFFLOAD_DROP_BAD_VNET_HDR },
		/* 13 */ { "UFO", UDP4, .gso_type = V(VIRTIO_NET_HDR_GSO_UDP), .want = OFFLOAD_DROP_BAD_VNET_HDR },
		/* 14 */ { "ECN on UDP_L4", UDP4, .gso_type = V(VIRTIO_NET_HDR_GSO_UDP_L4 | VIRTIO_NET_HDR_GSO_ECN), .want = OFFLOAD_DROP_BAD_VNET_HDR },
		/* 15 */ { "ECN without GSO", TCP4, .gso_type = V(VIRTIO_NET_HDR_GSO_ECN), .want = OFFLOAD_DROP_BAD_VNET_HDR },
		/* 16 */ { "unknown flag", TCP4, .flags = V(VIRTIO_NET_HDR_F_NEEDS_CSUM | 4), .want = OFFLOAD_DROP_BAD_VNET_HDR },
		/* 17 */ { "TCP header cut off", TCP4, .ip_len = V(30), .len = V(30), .want = OFFLOAD_DROP_BAD_HEADERS },
		/* 18 */ { "TCP options cut off", TCP4, .ip_len = V(48), .len = V(48), .want = OFFLOAD_DROP_BAD_HEADERS },
		/* 19 */ { "IPv4 total length past the buffer", TCP4, .len = V(3000), .want = OFFLOAD_DROP_BAD_HEADERS },
		/* 20 */ { "IPv6 payload length past the buffer", TCP6, .len = V(3000), .want = OFFLOAD_DROP_BAD_HEADERS },
		/* 21 */ { "IPv4 IHL 4", TCP4, .byte_off = V(0), .byte_val = 0x44, .want = OFFLOAD_DROP_BAD_HEADERS },
		/* 22 */ { "TCP data offset 4", TCP4, .byte_off = V(32), .byte_val = 0x40, .want = OFFLOAD_DROP_BAD_HEADERS },
		/* 23 */ { "IPv6 hop-by-hop refused", TCP6, .byte_off = V(6), .byte_val = 0, .want = OFFLOAD_DROP_BAD_HEADERS },
		/* 24 */ { "IPv6 jumbogram", TCP6, .ip_len = V(0), .want = OFFLOAD_DROP_BAD_HEADERS },
		/* 25 */ { "IPv4 fragment", TCP4, .byte_off = V(6), .byte_val = 0x20, .want = OFFLOAD_DROP_BAD_HEADERS },
		/* 26 */ { "SYN with GSO", TCP4, .byte_off = V(33), .byte_val = 0x12, .want = OFFLOAD_DROP_BAD_HEADERS },
		/* 27 */ { "UDP length not the IP payload", UDP4, .byte_off = V(24), .byte_val = 0, .want = OFFLOAD_DROP_BAD_HEADERS },
		/* 28 */ { "version 5", TCP4, .byte_off = V(0), .byte_val = 0x55, .want = OFFLOAD_DROP_BAD_HEADERS },
		/* 29 */ { "empty", TCP4, .len = V(0), .want = OFFLOAD_DROP_BAD_HEADERS },
		/* 30 */ { "no GSO, TCP csum_offset 6", TCP4, .gso_type = V(0), .csum_offset = V(6), .want = OFFLOAD_DROP_BAD_CSUM_OFFSET },
		/* 31 */ { "no GSO, checksum past the end", UDP4, .gso_type = V(0), .csum_start = V(3100), .csum_offset = V(0), .want = OFFLOAD_DROP_BAD_CSUM_OFFSET },
		/* 32 */ { "no GSO, odd csum_offset", TCP6, .gso_type = V(0), .csum_start = V(60), .csum_offset = V(3), .want = OFFLOAD_DROP_BAD_CSUM_OFFSET },
		/* 33 */ { "no GSO, csum_start in the IP header", UDP6, .gso_type = V(0), .csum_start = V(38), .csum_offset = V(0), .want = OFFLOAD_DROP_BAD_CSUM_OFFSET },
		/* 34 */ { "no GSO, truncated IPv4", TCP4, .gso_type = V(0), .flags = V(0), .len = V(19), .want = OFFLOAD_DROP_BAD_HEADERS },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkt_desc d = tcp4;
		struct virtio_net_hdr vh;
		struct offload_seg_iter it;
		enum offload_drop r;
		size_t len;

		d.family = cases[i].base == TCP6 || cases[i].base == UDP6 ? 6 : 4;
		d.proto = cases[i].base == UDP4 || cases[i].base == UDP6 ? IPPROTO_UDP : IPPROTO_TCP;
		len = build_packet(super, &d, payload, 3000, CSUM_PARTIAL); /* 3052 for TCP4 */
		vh = vh_gso(&d, 1000, false);
		if (cases[i].gso_type)
			vh.gso_type = (uint8_t)(cases[i].gso_type - 1);
		if (cases[i].flags)
			vh.flags = (uint8_t)(cases[i].flags - 1);
		if (cases[i].gso_size)
			vh.gso_size = htole16((uint16_t)(cases[i].gso_size - 1));
		if (cases[i].hdr_len)
			vh.hdr_len = htole16((uint16_t)(cases[i].hdr_len - 1));
		if (cases[i].csum_start)
			vh.csum_start = htole16((uint16_t)(cases[i].csum_start - 1));
		if (cases[i].csum_offset)
			vh.csum_offset = htole16((uint16_t)(cases[i].csum_offset - 1));
		if (cases[i].byte_off)
			super[cases[i].byte_off - 1] = (uint8_t)cases[i].byte_val;
		if (cases[i].ip_len)
			put16(super + (d.family == 4 ? 2 : 4), (uint32_t)(cases[i].ip_len - 1));
		if (cases[i].len)
			len = (size_t)(cases[i].len - 1);
		memcpy(want, super, len);
		r = offload_seg_begin(&it, &vh, super, len);
		CHECKF(r == cases[i].want, "case %zu (%s): %s, want %s", i + 1, cases[i].name,
		       offload_drop_name(r), offload_drop_name(cases[i].want));
		CHECKF(!memcmp(want, super, len), "case %zu (%s): packet written", i + 1, cases[i].name);
	}

	/* Every prefix of a valid super-packet is refused or cut whole. */
	{
		struct virtio_net_hdr vh = vh_gso(&tcp4, 1000, false);
		size_t len = build_packet(super, &tcp4, payload, 3000, CSUM_PARTIAL), n;
		unsigned int accepted = 0;

		for (n = 0; n < len; n++)
			accepted += segment_all(&vh, super, n) >= 0;
		CHECK(accepted == 0);
	}
}

/* ---- coalescing ---- */

#define GRO_OUTS_MAX 256

static struct {
	unsigned int n;
	bool bad_iov;
	struct virtio_net_hdr vh[GRO_OUTS_MAX];
	size_t off[GRO_OUTS_MAX], len[GRO_OUTS_MAX];
	unsigned int packets[GRO_OUTS_MAX];
	size_t used;
	uint8_t bytes[1 << 21];
} got;

static int collect(void *ctx, const struct offload_gro_out *out)
{
	size_t sum = 0, k;

	(void)ctx;
	if (got.n >= GRO_OUTS_MAX || got.used + out->len > sizeof(got.bytes)) {
		got.bad_iov = true;
		return -1;
	}
	if (out->iovcnt < 2 || out->iovcnt > (int)OFFLOAD_GRO_SEGMENTS_MAX + 1 ||
	    out->iov[0].iov_base != &out->vh || out->iov[0].iov_len != sizeof(out->vh) ||
	    out->packets != (unsigned int)out->iovcnt - 1)
		got.bad_iov = true;
	got.vh[got.n] = out->vh;
	got.off[got.n] = got.used;
	for (k = 1; k < (size_t)out->iovcnt; k++) {
		sum += out->iov[k].iov_len;
		if (sum > out->len) {
			got.bad_iov = true;
			return -1;
		}
		memcpy(got.bytes + got.used, out->iov[k].iov_base, out->iov[k].iov_len);
		got.used += out->iov[k].iov_len;
	}
	if (sum != out->len)
		got.bad_iov = true;
	got.len[got.n] = out->len;
	got.packets[got.n] = out->packets;
	got.n++;
	return 0;
}

static void gro_run(struct offload_gro_pkt *pkts, unsigned int n, bool udp)
{
	got.n = 0;
	got.used = 0;
	got.bad_iov = false;
	offload_gro_flush(pkts, n, udp, collect, NULL);
}

static uint8_t gro_bufs[200][1600], orig_segs[OFFLOAD_GRO_SEGMENTS_MAX][1600];

/* Round trip: a super-packet through the segmenter and back. */
static void test_offload_gro_round_trip(void)
{
	static const struct {
		const char *name;
		int family, proto;
		size_t tcp_opts;
		uint8_t flags;
		bool ecn;
		size_t plen;
		unsigned int mss;
	} cases[] = {
		/* 1 */ { "v4 TCP timestamps", 4, IPPROTO_TCP, 12, TCP_ACK, false, 10000, 1448 },
		/* 2 */ { "v4 TCP PSH", 4, IPPROTO_TCP, 12, TCP_ACK | TCP_PSH, false, 5000, 1000 },
		/* 3 */ { "v4 TCP CWR", 4, IPPROTO_TCP, 12, TCP_ACK | TCP_CWR, true, 5000, 1000 },
		/* 4 */ { "v4 TCP SACK exact", 4, IPPROTO_TCP, 24, TCP_ACK, false, 4000, 1000 },
		/* 5 */ { "v6 TCP", 6, IPPROTO_TCP, 12, TCP_ACK | TCP_PSH, false, 20000, 1428 },
		/* 6 */ { "v4 TCP 64 KB", 4, IPPROTO_TCP, 12, TCP_ACK, false, 65535 - 52, 1448 },
		/* 7 */ { "v6 TCP most of 64 KB", 6, IPPROTO_TCP, 0, TCP_ACK, false, 65535 - 60, 1440 },
		/* 8 */ { "v4 UDP", 4, IPPROTO_UDP, 0, 0, false, 5000, 1200 },
		/* 9 */ { "v6 UDP exact", 6, IPPROTO_UDP, 0, 0, false, 4200, 1400 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct offload_gro_pkt pkts[OFFLOAD_GRO_SEGMENTS_MAX];
		struct pkt_desc d = tcp4;
		struct virtio_net_hdr vh;
		size_t len, iph;
		int n, k, m;

		d.family = cases[i].family;
		d.proto = cases[i].proto;
		d.tcp_opts = cases[i].tcp_opts;
		d.flags = cases[i].flags;
		iph = desc_ip_hlen(&d);
		len = build_packet(super, &d, payload, cases[i].plen, CSUM_PARTIAL);
		memcpy(want, super, len);
		vh = vh_gso(&d, cases[i].mss, cases[i].ecn);
		n = segment_all(&vh, super, len);
		if (!CHECKF(n > 1 && n <= (int)OFFLOAD_GRO_SEGMENTS_MAX, "case %zu (%s)", i + 1, cases[i].name))
			continue;
		for (k = 0; k < n; k++) {
			memcpy(gro_bufs[k], segs[k], seg_lens[k]);
			memcpy(orig_segs[k], segs[k], seg_lens[k]);
			pkts[k].data = gro_bufs[k];
			pkts[k].len = seg_lens[k];
		}
		gro_run(pkts, (unsigned int)n, true);
		if (!CHECKF(got.n == 1 && !got.bad_iov && got.packets[0] == (unsigned int)n &&
			    got.len[0] == len, "case %zu (%s): %u outputs", i + 1, cases[i].name, got.n))
			continue;
		/* the same bytes as the stack's, but the IPv4 id (DF: any) */
		CHECKF(!memcmp(got.bytes, want, len), "case %zu (%s): bytes", i + 1, cases[i].name);
		CHECK(got.vh[0].flags == VIRTIO_NET_HDR_F_NEEDS_CSUM &&
		      got.vh[0].gso_type == vh.gso_type && got.vh[0].gso_size == vh.gso_size &&
		      le16toh(got.vh[0].csum_start) == iph &&
		      le16toh(got.vh[0].csum_offset) == (d.proto == IPPROTO_TCP ? 16 : 6) &&
		      le16toh(got.vh[0].hdr_len) == desc_hdr_len(&d));
		/* and back through the segmenter: the same segments again */
		memcpy(super, got.bytes, len);
		vh = got.vh[0];
		m = segment_all(&vh, super, len);
		for (k = 0; m == n && k < n; k++)
			if (seg_lens[k] != pkts[k].len || memcmp(segs[k], orig_segs[k], seg_lens[k]))
				m = -1;
		CHECKF(m == n, "case %zu (%s): resegmented %d", i + 1, cases[i].name, m);
	}

	/* Without udp, datagrams go one by one, untouched. */
	{
		struct offload_gro_pkt pkts[4];
		struct pkt_desc d = tcp4;
		struct virtio_net_hdr vh;
		size_t len;
		int n, k;

		d.proto = IPPROTO_UDP;
		len = build_packet(super, &d, payload, 4000, CSUM_PARTIAL);
		vh = vh_gso(&d, 1000, false);
		n = segment_all(&vh, super, len);
		for (k = 0; k < n; k++) {
			memcpy(gro_bufs[k], segs[k], seg_lens[k]);
			pkts[k].data = gro_bufs[k];
			pkts[k].len = seg_lens[k];
		}
		gro_run(pkts, (unsigned int)n, false);
		CHECK(n == 4 && got.n == 4 && !got.bad_iov);
		for (k = 0; k < (int)got.n; k++)
			CHECK(got.vh[k].gso_type == VIRTIO_NET_HDR_GSO_NONE && got.vh[k].flags == 0 &&
			      got.len[k] == seg_lens[k] && !memcmp(got.bytes + got.off[k], segs[k], seg_lens[k]));
	}
}

/* A stream of full-checksum TCP packets of one flow for the GRO tests. */
static size_t stream_packet(unsigned int slot, const struct pkt_desc *d, size_t plen,
			    struct offload_gro_pkt *p)
{
	size_t len = build_packet(gro_bufs[slot], d, payload, plen, CSUM_FULL);

	p->data = gro_bufs[slot];
	p->len = len;
	return len;
}

static const uint8_t *l4_of(const uint8_t *ip)
{
	return ip + (ip[0] >> 4 == 4 ? (size_t)(ip[0] & 15) * 4 : 40);
}

/* What must not coalesce, and what must. */
static void test_offload_gro_rules(void)
{
	enum change { NONE, SEQ_GAP, TSVAL, ACK, TOS, TTL, WINDOW, SYN, FIN, RST, URG, PSH, SHORT,
		      LONG, CWR, ID_GAP_NO_DF, OTHER_FLOW, PURE_ACK, IP_OPTS };
	/* Four packets of 1000 bytes; packet 2 (0-based) gets the change.
	 * outputs: the number of packets in each output, in order. */
	static const struct {
		const char *name;
		int family;
		enum change change;
		unsigned int outputs[4];
	} cases[] = {
		/* 1 */ { "all alike", 4, NONE, { 4 } },
		/* 2 */ { "all alike v6", 6, NONE, { 4 } },
		/* 3 */ { "a gap in sequence numbers", 4, SEQ_GAP, { 2, 2 } },
		/* 4 */ { "another timestamp", 4, TSVAL, { 2, 2 } },
		/* 5 */ { "another ack", 6, ACK, { 2, 2 } },
		/* 6 */ { "another TOS", 4, TOS, { 2, 2 } },
		/* 7 */ { "another traffic class", 6, TOS, { 2, 2 } },
		/* 8 */ { "another TTL", 4, TTL, { 2, 2 } },
		/* 9 */ { "another hop limit", 6, TTL, { 2, 2 } },
		/* 10 */ { "another window", 4, WINDOW, { 2, 2 } },
		/* 11 */ { "SYN alone", 4, SYN, { 2, 1, 1 } },
		/* 12 */ { "FIN alone", 6, FIN, { 2, 1, 1 } },
		/* 13 */ { "RST alone", 4, RST, { 2, 1, 1 } },
		/* 14 */ { "URG alone", 4, URG, { 2, 1, 1 } },
		/* 15 */ { "PSH ends a group", 4, PSH, { 3, 1 } },
		/* 16 */ { "a short packet ends a group", 4, SHORT, { 3, 1 } },
		/* 17 */ { "a longer packet starts one", 4, LONG, { 2, 2 } },
		/* 18 */ { "CWR starts one", 4, CWR, { 2, 2 } },
		/* 19 */ { "ids out of order without DF", 4, ID_GAP_NO_DF, { 2, 2 } },
		/* 20 */ { "a pure ACK of the flow", 4, PURE_ACK, { 2, 1, 1 } },
		/* 21 */ { "IPv4 options alone", 4, IP_OPTS, { 2, 1, 1 } },
	};
	size_t i;

#define is_attribute(c) ((c) == SEQ_GAP || (c) == TSVAL || (c) == ACK || (c) == TOS || \
			 (c) == TTL || (c) == WINDOW || (c) == ID_GAP_NO_DF)
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct offload_gro_pkt pkts[4];
		struct pkt_desc d = tcp4;
		unsigned int k, want_n = 0, total = 0;
		bool order_ok = true;

		d.family = cases[i].family;
		d.frag = cases[i].change == ID_GAP_NO_DF ? 0 : 0x4000;
		for (k = 0; k < 4; k++) {
			struct pkt_desc s = d;
			size_t plen = 1000;

			s.id = (uint16_t)(d.id + k);
			s.seq = d.seq + 1000 * k;
			/* a changed attribute stays changed; flags and lengths
			 * are of packet 2 only */
			if (k == 2 || (k == 3 && is_attribute(cases[i].change))) {
				switch (cases[i].change) {
				case NONE: case OTHER_FLOW: break;
				case SEQ_GAP: s.seq += 1; break;
				case TSVAL: s.tsval++; break;
				case ACK: s.ack++; break;
				case TOS: s.tos = 0x10; break;
				case TTL: s.ttl--; break;
				case WINDOW: s.window++; break;
				case SYN: s.flags |= TCP_SYN; break;
				case FIN: s.flags |= TCP_FIN; break;
				case RST: s.flags |= TCP_RST; break;
				case URG: s.flags |= TCP_URG; break;
				case PSH: s.flags |= TCP_PSH; break;
				case SHORT: plen = 999; break;
				case LONG: plen = 1001; break;
				case CWR: s.flags |= TCP_CWR; break;
				case ID_GAP_NO_DF: s.id += 5; break;
				case PURE_ACK: plen = 0; break;
				case IP_OPTS: s.ip_opts = 4; break;
				}
			}
			/* after a SYN/FIN/URG/... the next starts anew */
			if (k == 3 && (cases[i].change == SHORT || cases[i].change == PURE_ACK))
				s.seq = d.seq + 3000 - (cases[i].change == SHORT ? 1 : 1000);
			if (k == 3 && cases[i].change == LONG)
				s.seq = d.seq + 3001;
			stream_packet(k, &s, plen, &pkts[k]);
		}
		gro_run(pkts, 4, false);
		while (want_n < 4 && cases[i].outputs[want_n])
			want_n++;
		if (!CHECKF(got.n == want_n && !got.bad_iov, "case %zu (%s): %u outputs, want %u",
			    i + 1, cases[i].name, got.n, want_n))
			continue;
		for (k = 0; k < got.n; k++) {
			order_ok &= got.packets[k] == cases[i].outputs[k];
			/* in order: each output starts with the next packet */
			order_ok &= !memcmp(l4_of(got.bytes + got.off[k]) + 4, l4_of(pkts[total].data) + 4, 4);
			total += got.packets[k];
		}
		CHECKF(order_ok, "case %zu (%s): grouping or order", i + 1, cases[i].name);
	}

	/* Two flows interleaved (and their reverse ACKs): each coalesces,
	 * each keeps its order. */
	{
		struct offload_gro_pkt pkts[12];
		struct pkt_desc a = tcp4, b = tcp4, ra = tcp4;
		unsigned int k, na = 0, nb = 0, nack = 0;

		b.sport = 40001;
		ra.sport = tcp4.dport;
		ra.dport = tcp4.sport;
		ra.saddr_last = 1;
		for (k = 0; k < 12; k++) {
			struct pkt_desc s = k % 3 == 0 ? a : k % 3 == 1 ? b : ra;

			s.seq += 1000 * (k / 3);
			s.id = (uint16_t)(s.id + k / 3);
			stream_packet(k, &s, k % 3 == 2 ? 0 : 1000, &pkts[k]);
		}
		gro_run(pkts, 12, false);
		CHECK(got.n == 6 && !got.bad_iov);
		for (k = 0; k < got.n; k++) {
			const uint8_t *p = got.bytes + got.off[k];

			if (get16(p + 20) == 40000 && got.packets[k] == 4 && get16(p + 2) == 20 + 32 + 4000)
				na++;
			else if (get16(p + 20) == 40001 && got.packets[k] == 4)
				nb++;
			else if (get16(p + 20) == tcp4.dport && got.packets[k] == 1)
				nack++;
		}
		CHECK(na == 1 && nb == 1 && nack == 4);
	}

	/* More flows than the table holds (12, packets round-robin, then a
	 * last burst of one): all come out, each flow in order. */
	{
		struct offload_gro_pkt pkts[40];
		unsigned int k, total = 0;

		for (k = 0; k < 40; k++) {
			struct pkt_desc s = tcp4;
			unsigned int f = k < 36 ? k % 12 : 0, nth = k < 36 ? k / 12 : 3 + (k - 36);

			s.sport = (uint16_t)(1000 + f);
			s.seq += 1000 * nth;
			s.id = (uint16_t)(s.id + nth);
			stream_packet(k, &s, 1000, &pkts[k]);
		}
		uint32_t next[12];

		gro_run(pkts, 40, false);
		for (k = 0; k < 12; k++)
			next[k] = tcp4.seq;
		for (k = 0; k < got.n; k++) {
			const uint8_t *t = l4_of(got.bytes + got.off[k]);
			unsigned int f = get16(t) - 1000;

			total += got.packets[k];
			if (f < 12 && get32(t + 4) == next[f])
				next[f] += 1000 * got.packets[k];
			else
				total = 1000; /* out of order */
		}
		CHECK(total == 40 && !got.bad_iov && got.n >= 12 && got.n < 40);
	}

	/* 65535 bytes at most: 1400-byte payloads, 52 bytes of headers. */
	{
		struct offload_gro_pkt pkts[60];
		unsigned int k, per = (65535 - 52) / 1400;

		for (k = 0; k < 60; k++) {
			struct pkt_desc s = tcp4;

			s.seq += 1400 * k;
			s.id = (uint16_t)(s.id + k);
			stream_packet(k, &s, 1400, &pkts[k]);
		}
		gro_run(pkts, 60, false);
		CHECK(got.n == 2 && got.packets[0] == per && got.packets[1] == 60 - per &&
		      got.len[0] == 52 + 1400 * per && got.len[0] <= 65535);
	}

	/* 64 packets at most. */
	{
		struct offload_gro_pkt pkts[150];
		unsigned int k;

		for (k = 0; k < 150; k++) {
			struct pkt_desc s = tcp4;

			s.seq += 100 * k;
			s.id = (uint16_t)(s.id + k);
			stream_packet(k, &s, 100, &pkts[k]);
		}
		gro_run(pkts, 150, false);
		CHECK(got.n == 3 && got.packets[0] == 64 && got.packets[1] == 64 && got.packets[2] == 22 &&
		      !got.bad_iov);
		CHECK(get16(got.bytes + got.off[1] + 4) == (uint16_t)(tcp4.id + 64));
	}

	/* WireGuard's padding after the IP packet: left out of a
	 * super-packet, kept on a packet that goes alone. */
	{
		struct offload_gro_pkt pkts[4];
		unsigned int k;

		for (k = 0; k < 4; k++) {
			struct pkt_desc s = tcp4;

			s.seq += 1000 * k;
			s.id = (uint16_t)(s.id + k);
			s.flags |= k == 3 ? TCP_FIN : 0;
			stream_packet(k, &s, 1000, &pkts[k]);
			memset(gro_bufs[k] + pkts[k].len, 0, 12);
			pkts[k].len += 12;
		}
		gro_run(pkts, 4, false);
		CHECK(got.n == 2 && !got.bad_iov && got.packets[0] == 3 && got.len[0] == 52 + 3000 &&
		      get16(got.bytes + 2) == 52 + 3000 && got.len[1] == 52 + 1000 + 12);
	}

	/* Not IP at all, or cut short: alone, as given. */
	{
		struct offload_gro_pkt pkts[3];
		static uint8_t junk[3][8] = { { 0 }, { 0x45, 0 }, { 0x60, 1, 2 } };
		unsigned int k;

		for (k = 0; k < 3; k++) {
			pkts[k].data = junk[k];
			pkts[k].len = k * 3;
		}
		gro_run(pkts, 3, true);
		CHECK(got.n == 3 && !got.bad_iov && got.len[2] == 6);
	}
}

void test_offload(void)
{
	test_offload_csum();
	test_offload_segment();
	test_offload_csum_complete();
	test_offload_bad();
	test_offload_gro_round_trip();
	test_offload_gro_rules();
}
