// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "datapath/frame.h"

#define ETH_P_IPV4 0x0800
#define ETH_P_IPV6_ 0x86dd
#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88a8
#define PROTO_UDP 17
#define IPV6_HDR_LEN 40U
#define UDP_HDR_LEN 8U

static uint16_t be16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

bool frame_parse_udp(const uint8_t *f, size_t len, struct frame_udp *out)
{
	size_t off = FRAME_ETH_LEN, ip_end;
	uint16_t proto;
	const uint8_t *udp;
	size_t udp_len;

	if (len < FRAME_ETH_LEN)
		return false;
	proto = be16_at(f + 12);
	if (proto == ETH_P_8021Q_ || proto == ETH_P_8021AD_) {
		if (len < off + 4)
			return false;
		proto = be16_at(f + off + 2);
		off += 4;
	}
	memset(out, 0, sizeof(*out));
	if (proto == ETH_P_IPV4) {
		const uint8_t *ip = f + off;
		size_t ihl, tot;

		if (len < off + 20 || ip[0] >> 4 != 4)
			return false;
		ihl = (size_t)(ip[0] & 0x0f) * 4;
		tot = be16_at(ip + 2);
		if (ihl < 20 || tot < ihl || len < off + tot)
			return false;
		/* More fragments, or an offset: the stack reassembles those. */
		if (be16_at(ip + 6) & 0x3fff)
			return false;
		if (ip[9] != PROTO_UDP)
			return false;
		out->family = AF_INET;
		memcpy(out->src, ip + 12, 4);
		memcpy(out->dst, ip + 16, 4);
		ip_end = off + tot;
		off += ihl;
	} else if (proto == ETH_P_IPV6_) {
		const uint8_t *ip = f + off;

		if (len < off + IPV6_HDR_LEN || ip[0] >> 4 != 6 || ip[6] != PROTO_UDP)
			return false;
		ip_end = off + IPV6_HDR_LEN + be16_at(ip + 4);
		if (ip_end > len)
			return false;
		out->family = AF_INET6;
		memcpy(out->src, ip + 8, 16);
		memcpy(out->dst, ip + 24, 16);
		off += IPV6_HDR_LEN;
	} else {
		return false;
	}
	if (ip_end < off + UDP_HDR_LEN)
		return false;
	udp = f + off;
	udp_len = be16_at(udp + 4);
	if (udp_len < UDP_HDR_LEN || off + udp_len > ip_end)
		return false;
	out->sport = be16_at(udp);
	out->dport = be16_at(udp + 2);
	out->payload_off = off + UDP_HDR_LEN;
	out->payload_len = udp_len - UDP_HDR_LEN;
	return true;
}

uint32_t frame_peer_tag(const uint8_t *f)
{
	return (uint32_t)f[8] << 24 | (uint32_t)f[9] << 16 | (uint32_t)f[10] << 8 | f[11];
}

void frame_eth_build(uint8_t *eth, const uint8_t dst[6], const uint8_t src[6],
		     unsigned int ip_version)
{
	memcpy(eth, dst, 6);
	memcpy(eth + 6, src, 6);
	eth[12] = ip_version == 6 ? 0x86 : 0x08;
	eth[13] = ip_version == 6 ? 0xdd : 0x00;
}
