/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Addresses as text, the one way the configuration socket and the event
 * stream write them (as wireguard-go does, so wg(8) shows the same).
 */
#ifndef XWG_ADDR_H
#define XWG_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* a (4 bytes for AF_INET, 16 for AF_INET6) as Go's netip.Addr.String:
 * dotted IPv4; "::ffff:a.b.c.d" for IPv4-mapped; otherwise lowercase
 * groups without leading zeros, the first longest run of two or more zero
 * groups written "::" (so "::1.2.3.4" style compat addresses are hex,
 * unlike inet_ntop). Then "%zone" for a scope_id. out >= 64 bytes. */
void addr_format(char *out, size_t cap, int family, const uint8_t *a, uint32_t scope_id);
/* An AF_INET or AF_INET6 endpoint as "192.0.2.1:51820" or
 * "[2001:db8::1%eth0]:51820"; false (out "") for another family. out >= 80
 * bytes. */
bool addr_format_endpoint(char *out, size_t cap, const struct sockaddr *sa);

#endif
