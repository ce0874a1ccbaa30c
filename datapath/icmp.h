/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ICMP errors for packets the tunnel cannot carry: like the kernel's
 * WireGuard, a packet for which no peer's allowed IPs match is answered
 * with host unreachable (ICMP type 3 code 1) or address unreachable (ICMPv6
 * type 1 code 3), written back into the tunnel interface.
 */
#ifndef XWG_ICMP_H
#define XWG_ICMP_H

#include <stddef.h>
#include <stdint.h>

/* The most of the offending packet an error quotes: what keeps the error
 * within the minimum MTU of each family (RFC 1812 4.3.2.3, RFC 4443 2.4c). */
#define ICMP4_QUOTE_MAX (576 - 20 - 8)
#define ICMP6_QUOTE_MAX (1280 - 40 - 8)
#define ICMP_ERROR_MAX (1280)

/* Build the unreachable error for pkt (len bytes, one IPv4 or IPv6 packet)
 * into out (at least ICMP_ERROR_MAX bytes). The error comes from the
 * unreachable destination, so it passes reverse-path filtering on the way
 * back in. Returns its length, or 0 when no error may be sent (RFC 1122
 * 3.2.2 and RFC 4443 2.4e: not about an ICMP error, a non-first fragment,
 * a multicast or broadcast destination, or an unspecified, multicast or
 * loopback source). */
size_t icmp_unreachable_build(const uint8_t *pkt, size_t len, uint8_t *out);

#endif
