// SPDX-License-Identifier: GPL-2.0
#include "icmp.h"

#include <string.h>
#include <sys/socket.h>

#include "datapath/ip.h"

#define IPPROTO_ICMP_ 1
#define IPPROTO_ICMPV6_ 58

/* RFC 1071 one's-complement sum, folded; start from a partial sum. */
static uint32_t sum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t sum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static size_t build4(const uint8_t *pkt, size_t len, uint8_t *out)
{
	const uint8_t *src = pkt + 12, *dst = pkt + 16;
	size_t ihl = (size_t)(pkt[0] & 0x0f) * 4, quote = len < ICMP4_QUOTE_MAX ? len : ICMP4_QUOTE_MAX;
	size_t total = 20 + 8 + quote;

	/* Not about later fragments, multicast/broadcast, or odd sources. */
	if ((((size_t)pkt[6] << 8 | pkt[7]) & 0x1fff) || dst[0] >= 224 ||
	    !memcmp(dst, "\xff\xff\xff\xff", 4) || src[0] == 0 || src[0] == 127 ||
	    src[0] >= 224)
		return 0;
	/* Nor about an ICMP error (only echo/timestamp/info queries may). */
	if (pkt[9] == IPPROTO_ICMP_ && len >= ihl + 1 &&
	    !(pkt[ihl] == 8 || pkt[ihl] == 13 || pkt[ihl] == 15 || pkt[ihl] == 17))
		return 0;

	memset(out, 0, 28);
	out[0] = 0x45;
	put16(out + 2, (uint16_t)total);
	out[8] = 64;                 /* TTL */
	out[9] = IPPROTO_ICMP_;
	memcpy(out + 12, dst, 4);    /* from the unreachable host */
	memcpy(out + 16, src, 4);
	put16(out + 10, sum_fold(sum_add(0, out, 20)));
	out[20] = 3;                 /* destination unreachable */
	out[21] = 1;                 /* host unreachable */
	memcpy(out + 28, pkt, quote);
	put16(out + 22, sum_fold(sum_add(0, out + 20, 8 + quote)));
	return total;
}

static size_t build6(const uint8_t *pkt, size_t len, uint8_t *out)
{
	static const uint8_t zero[16], loopback[16] = { [15] = 1 };
	const uint8_t *src = pkt + 8, *dst = pkt + 24;
	size_t quote = len < ICMP6_QUOTE_MAX ? len : ICMP6_QUOTE_MAX;
	size_t plen = 8 + quote;
	uint32_t sum;

	if (dst[0] == 0xff || src[0] == 0xff || !memcmp(src, zero, 16) ||
	    !memcmp(src, loopback, 16))
		return 0;
	/* Not about an ICMPv6 error (types below 128); extension headers
	 * before it are not followed, which errs on the side of answering. */
	if (pkt[6] == IPPROTO_ICMPV6_ && len >= 41 && pkt[40] < 128)
		return 0;

	memset(out, 0, 48);
	out[0] = 0x60;
	put16(out + 4, (uint16_t)plen);
	out[6] = IPPROTO_ICMPV6_;
	out[7] = 64;                 /* hop limit */
	memcpy(out + 8, dst, 16);
	memcpy(out + 24, src, 16);
	out[40] = 1;                 /* destination unreachable */
	out[41] = 3;                 /* address unreachable */
	memcpy(out + 48, pkt, quote);
	/* RFC 8200 8.1 pseudo-header: addresses, length, next header. */
	sum = sum_add(0, out + 8, 32);
	sum += (uint32_t)plen + IPPROTO_ICMPV6_;
	put16(out + 42, sum_fold(sum_add(sum, out + 40, plen)));
	return 40 + plen;
}

size_t icmp_unreachable_build(const uint8_t *pkt, size_t len, uint8_t *out)
{
	struct ip_packet_info ip;

	if (!ip_packet_parse(pkt, len, &ip))
		return 0;
	return ip.family == AF_INET ? build4(pkt, ip.len, out) : build6(pkt, ip.len, out);
}
