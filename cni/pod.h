/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-cni: the pod's network, point-to-point like the standard ptp plugin.
 *
 *   pod netns                          node (host netns)
 *   CNI_IFNAME 10.244.1.5/32   veth    xwcXXXXXXXX 10.244.1.1/32 (gateway)
 *     10.244.1.1 dev CNI_IFNAME  <----->  10.244.1.5/32 dev xwcXXXXXXXX
 *     default via 10.244.1.1                scope link
 *
 * The pod has only a host route and reaches everything through the gateway
 * address, which every host veth carries; the node routes each pod's /32
 * (/128) into its veth, so traffic between pods of one node is routed by the
 * node and traffic to other nodes' pod CIDRs follows the node's routes into
 * the xwg interface (which the node agent, xwg-mesh, maintains). No proxy
 * ARP: the gateway address is really on the host veth.
 */
#ifndef XWG_CNI_POD_H
#define XWG_CNI_POD_H

#include <net/if.h>

#include "cni/result.h"

/* Used when the xwg interface does not exist: WireGuard's default MTU. */
#define CNI_FALLBACK_MTU 1420
/* Gateways used when the IPAM plugin names none. */
#define CNI_FALLBACK_GATEWAY4 "169.254.1.1"
#define CNI_FALLBACK_GATEWAY6 "fe80::1"
/* CHECK found the network different from prevResult (plugin-specific code,
 * CNI spec 1.0.0: 100 and up are the plugin's). */
#define CNI_ERR_CHECK_MISMATCH 100

struct cni_pod {
	const char *netns;		/* CNI_NETNS */
	const char *ifname;		/* CNI_IFNAME */
	char host_ifname[IFNAMSIZ];
	unsigned mtu;
};

/* The host veth's name: prefix + 8 hex digits of SHA-256(container_id "/"
 * ifname), stable so that DEL finds it without any state. */
void cni_pod_host_ifname(char out[IFNAMSIZ], const char *prefix,
			 const char *container_id, const char *ifname);
/* The MTU of ifname in the current namespace, or CNI_FALLBACK_MTU. */
unsigned cni_pod_default_mtu(const char *ifname);

/* Check that netns names a network namespace: 0, or code 3 when it does
 * not exist, 4 when it is something else. */
int cni_pod_netns_check(const char *netns, struct cni_error *err);

/* What ADD will set up, from the IPAM result: interfaces [host veth, pod
 * interface], each IP as a /32 (/128) on the pod interface with its gateway,
 * the IPAM routes (or a default route per family) via the gateway. MACs are
 * filled by cni_pod_setup. */
int cni_pod_plan(struct cni_result *plan, const struct cni_result *ipam,
		 const struct cni_pod *pod, struct cni_error *err);
/* Create it: the veth pair, addresses, routes, forwarding. On failure
 * nothing is left behind. */
int cni_pod_setup(const struct cni_pod *pod, struct cni_result *plan,
		  struct cni_error *err);
/* Remove the veth pair (and with it the routes); success when it is gone
 * already. */
int cni_pod_teardown(const struct cni_pod *pod, struct cni_error *err);
/* Verify that what prev says is there: code 100 naming the first
 * difference. */
int cni_pod_check(const struct cni_pod *pod, const struct cni_result *prev,
		  struct cni_error *err);

#endif
