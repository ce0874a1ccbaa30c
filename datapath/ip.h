/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The little the data path reads of an inner IP packet: its version, its
 * length from its own header, its source and destination addresses.
 */
#ifndef XWG_IP_H
#define XWG_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ip_packet_info {
	int family;              /* AF_INET or AF_INET6 */
	const uint8_t *src, *dst;  /* into the packet: 4 or 16 bytes */
	size_t len;              /* total length by the header (<= buffer) */
};

/* False for anything that is not a well-formed IPv4/IPv6 header whose
 * stated length fits in the len bytes given (the rest is padding). */
bool ip_packet_parse(const uint8_t *p, size_t len, struct ip_packet_info *info);

#endif
