/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-mesh's kernel-side configuration of the node: routes to the other
 * nodes through the tunnel, the policy rule that keeps the tunnel's own
 * encrypted UDP out of them, and the tunnel's MTU.
 *
 * Routing, wg-quick's way: every route the agent adds (peers' pod CIDRs and
 * node IPs) lives in a table of its own, consulted through the rule
 * `not fwmark M lookup T`. xwgd marks its UDP sockets with M (`fwmark=`),
 * so the encrypted packets to a peer's node IP skip the table and leave
 * through the underlay, while everything else to that node IP (kubelet,
 * host-network pods) goes through the tunnel.
 */
#ifndef XWG_MESH_NETCONF_H
#define XWG_MESH_NETCONF_H

#include <stdbool.h>
#include <stdint.h>

#include "mesh/node.h"

#define MESH_DEFAULT_TABLE 51820
#define MESH_DEFAULT_FWMARK 51820
#define MESH_RULE_PRIORITY 5182   /* ahead of main (32766) and default */

/* WireGuard's overhead on the underlay: outer IP header (20 or 40) +
 * UDP (8) + data message header (16) + tag (16). */
#define MESH_OVERHEAD_IPV4 60
#define MESH_OVERHEAD_IPV6 80

/* The tunnel MTU for an underlay MTU: 0 if the underlay is too small to
 * carry even a minimal IPv4 packet (68 bytes) through the tunnel. */
unsigned int mesh_mtu_compute(unsigned int underlay_mtu, bool all_ipv4);

/* The MTU of the path the encrypted packets to dst take (a UDP socket
 * marked like xwgd's, connected to dst: the route's MTU or its device's).
 * >0, or -errno. */
int mesh_path_mtu(const struct mesh_addr *dst, uint16_t port, uint32_t fwmark);

/* The MTU of the interface that holds local address a; -errno. */
int mesh_local_addr_mtu(const struct mesh_addr *a);

struct nl_sock;
struct mesh_netconf {
	struct nl_sock *sk;
	int ifindex;        /* the tunnel */
	uint32_t table, fwmark, priority;
};

int mesh_netconf_open(struct mesh_netconf *nc, int ifindex, uint32_t table,
		      uint32_t fwmark, uint32_t priority);
void mesh_netconf_close(struct mesh_netconf *nc);

/* The `not fwmark M lookup T` rule for family (AF_INET, AF_INET6). Adding
 * first removes a copy an earlier run left. 0 or -errno. */
int mesh_rule_add(struct mesh_netconf *nc, int family);
int mesh_rule_del(struct mesh_netconf *nc, int family);

/* A route to p through the tunnel in the table (add replaces). */
int mesh_route_add(struct mesh_netconf *nc, const struct mesh_prefix *p);
int mesh_route_del(struct mesh_netconf *nc, const struct mesh_prefix *p);

#endif
