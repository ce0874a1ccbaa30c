// SPDX-License-Identifier: GPL-2.0
#include "ip.h"

#include <sys/socket.h>

#define IPV4_HEADER_LEN 20
#define IPV6_HEADER_LEN 40

bool ip_packet_parse(const uint8_t *p, size_t len, struct ip_packet_info *info)
{
	size_t total;

	if (len >= IPV4_HEADER_LEN && p[0] >> 4 == 4) {
		/* RFC 791: IHL counts 32-bit words, at least 5. */
		total = (size_t)p[2] << 8 | p[3];
		if ((p[0] & 0x0f) < 5 || total < (size_t)(p[0] & 0x0f) * 4)
			return false;
		info->family = AF_INET;
		info->src = p + 12;
		info->dst = p + 16;
	} else if (len >= IPV6_HEADER_LEN && p[0] >> 4 == 6) {
		/* RFC 8200: payload length excludes the fixed header. */
		total = IPV6_HEADER_LEN + ((size_t)p[4] << 8 | p[5]);
		info->family = AF_INET6;
		info->src = p + 8;
		info->dst = p + 24;
	} else {
		return false;
	}
	if (total > len)
		return false;
	info->len = total;
	return true;
}
