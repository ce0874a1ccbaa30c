// SPDX-License-Identifier: GPL-2.0
/*
 * xwg-cni: the pod's veth pair, addresses and routes over rtnetlink
 * (libnl-route-3). Work inside the pod happens after setns() into CNI_NETNS
 * on a netlink socket opened there; the process then returns to the node's
 * namespace.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cni/pod.h"

void cni_pod_host_ifname(char out[IFNAMSIZ], const char *prefix,
			 const char *container_id, const char *ifname)
{
	crypto_hash_sha256_state st;
	uint8_t h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)container_id,
				  strlen(container_id));
	crypto_hash_sha256_update(&st, (const uint8_t *)"/", 1);
	crypto_hash_sha256_update(&st, (const uint8_t *)ifname, strlen(ifname));
	crypto_hash_sha256_final(&st, h);
	snprintf(out, IFNAMSIZ, "%.*s%02x%02x%02x%02x", IFNAMSIZ - 9, prefix,
		 h[0], h[1], h[2], h[3]);
}

unsigned cni_pod_default_mtu(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return CNI_FALLBACK_MTU;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	r = ioctl(fd, SIOCGIFMTU, &ifr);
	close(fd);
	return r == 0 && ifr.ifr_mtu > 0 ? (unsigned)ifr.ifr_mtu :
					   CNI_FALLBACK_MTU;
}

/* ------------------------------------------------------------------------
 * Namespaces. */

static int netns_open(const char *path, struct cni_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return cni_error_set(err, errno == ENOENT ? CNI_ERR_UNKNOWN_CONTAINER :
							    CNI_ERR_INVALID_ENV,
				     "cannot open the container's network namespace",
				     "CNI_NETNS %.512s: %s", path, strerror(errno));
	if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		close(fd);
		return cni_error_set(err, CNI_ERR_INVALID_ENV,
				     "CNI_NETNS is not a network namespace",
				     "%.512s is not a network namespace; give the path of one, e.g. /var/run/netns/NAME",
				     path);
	}
	return fd;
}

int cni_pod_netns_check(const char *netns, struct cni_error *err)
{
	int fd = netns_open(netns, err);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* Enter the namespace fd; *home is where to come back to. */
static int netns_enter(int fd, int *home, struct cni_error *err)
{
	*home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*home < 0)
		return cni_error_set(err, CNI_ERR_IO, "cannot enter the container's network namespace",
				     "/proc/self/ns/net: %s", strerror(errno));
	if (setns(fd, CLONE_NEWNET)) {
		int e = errno;

		close(*home);
		return cni_error_set(err, CNI_ERR_IO, "cannot enter the container's network namespace",
				     "setns: %s (xwg-cni needs CAP_SYS_ADMIN)", strerror(e));
	}
	return 0;
}

static void netns_leave(int home)
{
	/* Staying in the pod's namespace would set up the node's half in the
	 * wrong place: better to stop here. */
	if (setns(home, CLONE_NEWNET)) {
		perror("xwg-cni: setns back to the node's namespace");
		abort();
	}
	close(home);
}

/* ------------------------------------------------------------------------
 * rtnetlink helpers. */

static struct nl_sock *nl_open(struct cni_error *err)
{
	struct nl_sock *sk = nl_socket_alloc();
	int r;

	if (!sk) {
		cni_error_set(err, CNI_ERR_IO, "out of memory", NULL);
		return NULL;
	}
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(sk);
		cni_error_set(err, CNI_ERR_IO, "cannot open a netlink socket", "%s",
			      nl_geterror(r));
		return NULL;
	}
	return sk;
}

static int nl_fail(struct cni_error *err, int nlerr, const char *what,
		   const char *ifname)
{
	return cni_error_set(err, CNI_ERR_IO, "the kernel refused a network change",
			     "%s on %s: %s", what, ifname, nl_geterror(nlerr));
}

static struct nl_addr *make_addr(int family, const uint8_t *bytes,
				 unsigned prefix)
{
	struct nl_addr *a = nl_addr_build(family, bytes, cni_addr_len(family));

	if (a)
		nl_addr_set_prefixlen(a, (int)prefix);
	return a;
}

static void mac_string(struct rtnl_link *link, char out[18])
{
	struct nl_addr *a = rtnl_link_get_addr(link);

	out[0] = '\0';
	if (a && nl_addr_get_len(a) == 6)
		nl_addr2str(a, out, 18);
}

/* Bring ifname up, report its index and MAC. */
static int link_up(struct nl_sock *sk, const char *ifname, int *ifindex,
		   char mac[18], struct cni_error *err)
{
	struct rtnl_link *link, *change;
	int r;

	r = rtnl_link_get_kernel(sk, 0, ifname, &link);
	if (r < 0)
		return nl_fail(err, r, "looking up the link", ifname);
	change = rtnl_link_alloc();
	if (!change) {
		rtnl_link_put(link);
		return cni_error_set(err, CNI_ERR_IO, "out of memory", NULL);
	}
	rtnl_link_set_flags(change, IFF_UP);
	r = rtnl_link_change(sk, link, change, 0);
	*ifindex = rtnl_link_get_ifindex(link);
	mac_string(link, mac);
	rtnl_link_put(change);
	rtnl_link_put(link);
	return r < 0 ? nl_fail(err, r, "setting the link up", ifname) : 0;
}

static int addr_add(struct nl_sock *sk, int ifindex, const char *ifname,
		    int family, const uint8_t *bytes, struct cni_error *err)
{
	unsigned full = cni_addr_len(family) * 8;
	struct rtnl_addr *addr = rtnl_addr_alloc();
	struct nl_addr *local = make_addr(family, bytes, full);
	int r = -NLE_NOMEM;

	if (addr && local) {
		rtnl_addr_set_ifindex(addr, ifindex);
		rtnl_addr_set_family(addr, family);
		rtnl_addr_set_local(addr, local);
		rtnl_addr_set_prefixlen(addr, (int)full);
		/* Usable at once: the address is ours alone on this link. */
		if (family == AF_INET6)
			rtnl_addr_set_flags(addr, IFA_F_NODAD);
		r = rtnl_addr_add(sk, addr, 0);
	}
	nl_addr_put(local);
	rtnl_addr_put(addr);
	/* Several pods share the gateway address; several IPs a gateway. */
	return r < 0 && r != -NLE_EXIST ? nl_fail(err, r, "adding an address", ifname) : 0;
}

/* dst via gw (NULL: directly on the link) dev ifindex. A route that exists
 * already is fine when shared (two IPs with one gateway), an error when not:
 * on the node it means another pod has this address. */
static int route_add(struct nl_sock *sk, int ifindex, const char *ifname,
		     const struct cni_prefix *dst, const uint8_t *gw,
		     bool shared, struct cni_error *err)
{
	struct rtnl_route *route = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *d = make_addr(dst->family, dst->addr, dst->len);
	struct nl_addr *g = gw ? make_addr(dst->family, gw,
					   cni_addr_len(dst->family) * 8) : NULL;
	int r = -NLE_NOMEM;

	if (route && nh && d && (g || !gw)) {
		rtnl_route_set_family(route, (uint8_t)dst->family);
		rtnl_route_set_table(route, RT_TABLE_MAIN);
		rtnl_route_set_dst(route, d);
		rtnl_route_set_scope(route, !gw && dst->family == AF_INET ?
						    RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
		rtnl_route_nh_set_ifindex(nh, ifindex);
		if (g)
			rtnl_route_nh_set_gateway(nh, g);
		rtnl_route_add_nexthop(route, nh);
		nh = NULL;	/* the route owns it now */
		r = rtnl_route_add(sk, route, NLM_F_CREATE | NLM_F_EXCL);
	}
	if (nh)
		rtnl_route_nh_free(nh);
	nl_addr_put(g);
	nl_addr_put(d);
	rtnl_route_put(route);
	if (r == -NLE_EXIST && !shared) {
		char a[INET6_ADDRSTRLEN] = "?";

		inet_ntop(dst->family, dst->addr, a, sizeof(a));
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				     "the pod's address is routed elsewhere already",
				     "%s/%u exists in the main table of the node; do two networks' IPAM ranges overlap?",
				     a, dst->len);
	}
	return r < 0 && r != -NLE_EXIST ? nl_fail(err, r, "adding a route", ifname) : 0;
}

static int link_delete(struct nl_sock *sk, const char *ifname,
		       struct cni_error *err)
{
	struct rtnl_link *link;
	int r = rtnl_link_get_kernel(sk, 0, ifname, &link);

	if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
		return 0;
	if (r < 0)
		return nl_fail(err, r, "looking up the link", ifname);
	r = rtnl_link_delete(sk, link);
	rtnl_link_put(link);
	if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
		return 0;	/* gone meanwhile, with its namespace */
	return r < 0 ? nl_fail(err, r, "deleting the link", ifname) : 0;
}

static int veth_create(struct nl_sock *sk, const struct cni_pod *pod,
		       int nsfd, struct cni_error *err)
{
	struct rtnl_link *link = rtnl_link_veth_alloc(), *peer;
	int r;

	if (!link)
		return cni_error_set(err, CNI_ERR_IO, "out of memory", NULL);
	peer = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(link, pod->host_ifname);
	rtnl_link_set_mtu(link, pod->mtu);
	/* The peer is born in the pod under its final name: no rename, no
	 * clash with the node's own interface names. */
	rtnl_link_set_name(peer, pod->ifname);
	rtnl_link_set_mtu(peer, pod->mtu);
	rtnl_link_set_ns_fd(peer, nsfd);
	r = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(peer);
	rtnl_link_put(link);
	if (r == -NLE_EXIST)
		return cni_error_set(err, CNI_ERR_IO, "the pod's interface exists already",
				     "%s on the node or %s in %.400s exists; was ADD run twice without DEL?",
				     pod->host_ifname, pod->ifname, pod->netns);
	return r < 0 ? nl_fail(err, r, "creating the veth pair", pod->host_ifname) : 0;
}

static int write_sysctl(const char *path, struct cni_error *err)
{
	char now = 0;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		goto fail;
	if (read(fd, &now, 1) == 1 && now == '1') {
		close(fd);
		return 0;
	}
	if (pwrite(fd, "1\n", 2, 0) != 2) {
		close(fd);
		goto fail;
	}
	close(fd);
	return 0;
fail:
	return cni_error_set(err, CNI_ERR_IO, "cannot enable forwarding on the node",
			     "%s: %s", path, strerror(errno));
}

/* ------------------------------------------------------------------------
 * The plan. */

static const struct cni_ip *first_ip_of(const struct cni_result *res,
					int family)
{
	unsigned i;

	for (i = 0; i < res->n_ips; i++)
		if (res->ips[i].address.family == family)
			return &res->ips[i];
	return NULL;
}

int cni_pod_plan(struct cni_result *plan, const struct cni_result *ipam,
		 const struct cni_pod *pod, struct cni_error *err)
{
	static const int families[] = { AF_INET, AF_INET6 };
	unsigned i;

	memset(plan, 0, sizeof(*plan));
	if (!ipam->n_ips)
		return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
				     "the IPAM plugin gave no address",
				     "check the ipam section (ranges, subnet)");
	plan->n_ifaces = 2;
	snprintf(plan->ifaces[0].name, IFNAMSIZ, "%s", pod->host_ifname);
	snprintf(plan->ifaces[1].name, IFNAMSIZ, "%s", pod->ifname);
	snprintf(plan->ifaces[1].sandbox, CNI_SANDBOX_MAX, "%s", pod->netns);
	for (i = 0; i < ipam->n_ips; i++) {
		struct cni_ip *ip = &plan->ips[i];

		*ip = ipam->ips[i];
		ip->address.len = cni_addr_len(ip->address.family) * 8;
		ip->iface = 1;
		if (!ip->has_gateway) {
			cni_addr_parse(ip->gateway, ip->address.family == AF_INET ?
							    CNI_FALLBACK_GATEWAY4 :
							    CNI_FALLBACK_GATEWAY6);
			ip->has_gateway = true;
		}
		if (!memcmp(ip->gateway, ip->address.addr,
			    cni_addr_len(ip->address.family)))
			return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
					     "the IPAM plugin gave the gateway as the pod's address",
					     "exclude the gateway from the ipam ranges");
	}
	plan->n_ips = ipam->n_ips;
	for (i = 0; i < ipam->n_routes; i++) {
		struct cni_route *r = &plan->routes[i];
		const struct cni_ip *via;

		*r = ipam->routes[i];
		if (r->has_gw)
			continue;
		via = first_ip_of(plan, r->dst.family);
		if (!via)
			return cni_error_set(err, CNI_ERR_INVALID_CONFIG,
					     "a route has no address of its family",
					     "ipam route %u is %s but the pod gets no %s address",
					     i, r->dst.family == AF_INET ? "IPv4" : "IPv6",
					     r->dst.family == AF_INET ? "IPv4" : "IPv6");
		memcpy(r->gw, via->gateway, sizeof(r->gw));
		r->has_gw = true;
	}
	plan->n_routes = ipam->n_routes;
	if (plan->n_routes)
		return 0;
	/* No routes configured: a default route per family, via the gateway. */
	for (i = 0; i < 2; i++) {
		const struct cni_ip *via = first_ip_of(plan, families[i]);
		struct cni_route *r = &plan->routes[plan->n_routes];

		if (!via)
			continue;
		r->dst.family = families[i];
		memcpy(r->gw, via->gateway, sizeof(r->gw));
		r->has_gw = true;
		plan->n_routes++;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * ADD and DEL. */

static int setup_pod_side(const struct cni_pod *pod, struct cni_result *plan,
			  struct cni_error *err)
{
	struct nl_sock *sk = nl_open(err);
	int ifindex, r = -1;
	unsigned i;

	if (!sk)
		return -1;
	if (link_up(sk, pod->ifname, &ifindex, plan->ifaces[1].mac, err))
		goto out;
	for (i = 0; i < plan->n_ips; i++) {
		const struct cni_ip *ip = &plan->ips[i];
		struct cni_prefix gw = { .family = ip->address.family,
					 .len = cni_addr_len(ip->address.family) * 8 };

		memcpy(gw.addr, ip->gateway, sizeof(gw.addr));
		if (addr_add(sk, ifindex, pod->ifname, ip->address.family,
			     ip->address.addr, err) ||
		    route_add(sk, ifindex, pod->ifname, &gw, NULL, true, err))
			goto out;
	}
	for (i = 0; i < plan->n_routes; i++)
		if (route_add(sk, ifindex, pod->ifname, &plan->routes[i].dst,
			      plan->routes[i].gw, true, err))
			goto out;
	r = 0;
out:
	nl_socket_free(sk);
	return r;
}

static int setup_host_side(struct nl_sock *sk, const struct cni_pod *pod,
			   struct cni_result *plan, struct cni_error *err)
{
	bool v4 = false, v6 = false;
	int ifindex;
	unsigned i;

	if (link_up(sk, pod->host_ifname, &ifindex, plan->ifaces[0].mac, err))
		return -1;
	for (i = 0; i < plan->n_ips; i++) {
		const struct cni_ip *ip = &plan->ips[i];

		if (addr_add(sk, ifindex, pod->host_ifname, ip->address.family,
			     ip->gateway, err) ||
		    route_add(sk, ifindex, pod->host_ifname, &ip->address, NULL,
			      false, err))
			return -1;
		v4 |= ip->address.family == AF_INET;
		v6 |= ip->address.family == AF_INET6;
	}
	if (v4 && write_sysctl("/proc/sys/net/ipv4/ip_forward", err))
		return -1;
	if (v6 && write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", err))
		return -1;
	return 0;
}

int cni_pod_setup(const struct cni_pod *pod, struct cni_result *plan,
		  struct cni_error *err)
{
	struct nl_sock *sk;
	int nsfd, home, r = -1;

	nsfd = netns_open(pod->netns, err);
	if (nsfd < 0)
		return -1;
	sk = nl_open(err);
	if (!sk)
		goto out_ns;
	if (veth_create(sk, pod, nsfd, err))
		goto out_sk;
	if (netns_enter(nsfd, &home, err))
		goto undo;
	r = setup_pod_side(pod, plan, err);
	netns_leave(home);
	if (r || setup_host_side(sk, pod, plan, err))
		goto undo;
	r = 0;
	goto out_sk;
undo:
	r = -1;
	link_delete(sk, pod->host_ifname, err);
out_sk:
	nl_socket_free(sk);
out_ns:
	close(nsfd);
	return r;
}

int cni_pod_teardown(const struct cni_pod *pod, struct cni_error *err)
{
	struct nl_sock *sk = nl_open(err);
	int r;

	if (!sk)
		return -1;
	/* Deleting one end deletes the pair, the pod's addresses and every
	 * route through either end. */
	r = link_delete(sk, pod->host_ifname, err);
	nl_socket_free(sk);
	return r;
}

/* ------------------------------------------------------------------------
 * CHECK. */

static int mismatch(struct cni_error *err, const char *fmt, const char *a,
		    const char *b)
{
	return cni_error_set(err, CNI_ERR_CHECK_MISMATCH,
			     "the container's network differs from prevResult",
			     fmt, a, b);
}

static void prefix_text(char *buf, size_t size, const struct cni_prefix *p)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(p->family, p->addr, a, sizeof(a));
	snprintf(buf, size, "%s/%u", a, p->len);
}

/* The bytes of a (zero-padded to 16) equal p's under p's prefix. */
static bool nl_addr_is(struct nl_addr *a, const struct cni_prefix *p,
		       bool match_len)
{
	uint8_t bytes[16] = { 0 };
	unsigned len, full, i;

	if (!a || nl_addr_get_family(a) != p->family)
		return false;
	len = nl_addr_get_len(a);
	if (match_len && (unsigned)nl_addr_get_prefixlen(a) != p->len)
		return false;
	if (len > 16)
		len = 16;
	memcpy(bytes, nl_addr_get_binary_addr(a), len);
	full = match_len ? p->len : cni_addr_len(p->family) * 8;
	for (i = 0; i < full; i++) {
		uint8_t m = (uint8_t)(0x80 >> (i % 8));

		if ((bytes[i / 8] & m) != (p->addr[i / 8] & m))
			return false;
	}
	return true;
}

struct find_route {
	const struct cni_prefix *dst;
	const uint8_t *gw;	/* NULL: any */
	int ifindex;		/* 0: any */
	bool found;
};

static void find_route_cb(struct nl_object *obj, void *arg)
{
	struct rtnl_route *route = (struct rtnl_route *)obj;
	struct find_route *f = arg;
	struct rtnl_nexthop *nh;

	if (f->found || rtnl_route_get_table(route) != RT_TABLE_MAIN ||
	    !nl_addr_is(rtnl_route_get_dst(route), f->dst, true) ||
	    rtnl_route_get_nnexthops(route) < 1)
		return;
	nh = rtnl_route_nexthop_n(route, 0);
	if (f->ifindex && rtnl_route_nh_get_ifindex(nh) != f->ifindex)
		return;
	if (f->gw) {
		struct cni_prefix g = { .family = f->dst->family };

		memcpy(g.addr, f->gw, 16);
		if (!rtnl_route_nh_get_gateway(nh) ||
		    !nl_addr_is(rtnl_route_nh_get_gateway(nh), &g, false))
			return;
	}
	f->found = true;
}

struct find_addr {
	const struct cni_prefix *addr;
	int ifindex;
	bool found;
};

static void find_addr_cb(struct nl_object *obj, void *arg)
{
	struct rtnl_addr *addr = (struct rtnl_addr *)obj;
	struct find_addr *f = arg;

	if (rtnl_addr_get_ifindex(addr) == f->ifindex &&
	    nl_addr_is(rtnl_addr_get_local(addr), f->addr, true))
		f->found = true;
}

static int has_route(struct nl_sock *sk, const struct cni_prefix *dst,
		     const uint8_t *gw, int ifindex, bool *found,
		     struct cni_error *err)
{
	struct find_route f = { .dst = dst, .gw = gw, .ifindex = ifindex };
	struct nl_cache *cache;
	int r = rtnl_route_alloc_cache(sk, dst->family, 0, &cache);

	if (r < 0)
		return nl_fail(err, r, "listing routes", "the main table");
	nl_cache_foreach(cache, find_route_cb, &f);
	nl_cache_free(cache);
	*found = f.found;
	return 0;
}

/* The link's index (and MAC checked against want_mac, when given). */
static int check_link(struct nl_sock *sk, const char *ifname,
		      const char *want_mac, const char *where, int *ifindex,
		      struct cni_error *err)
{
	struct rtnl_link *link;
	char mac[18];
	int r = rtnl_link_get_kernel(sk, 0, ifname, &link);

	if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
		return mismatch(err, "interface %s is missing %s", ifname, where);
	if (r < 0)
		return nl_fail(err, r, "looking up the link", ifname);
	*ifindex = rtnl_link_get_ifindex(link);
	mac_string(link, mac);
	r = 0;
	if (want_mac && want_mac[0] && strcasecmp(mac, want_mac))
		r = mismatch(err, "interface %s has MAC %s", ifname, mac);
	else if (!(rtnl_link_get_flags(link) & IFF_UP))
		r = mismatch(err, "interface %s is down %s", ifname, where);
	rtnl_link_put(link);
	return r;
}

static int check_pod_side(const struct cni_pod *pod,
			  const struct cni_result *prev, int pod_iface,
			  struct cni_error *err)
{
	struct nl_sock *sk = nl_open(err);
	struct nl_cache *addrs = NULL;
	char text[INET6_ADDRSTRLEN + 8];
	int ifindex, r = -1;
	unsigned i;

	if (!sk)
		return -1;
	if (check_link(sk, pod->ifname, prev->ifaces[pod_iface].mac,
		       "in the container", &ifindex, err))
		goto out;
	r = rtnl_addr_alloc_cache(sk, &addrs);
	if (r < 0) {
		r = nl_fail(err, r, "listing addresses", pod->ifname);
		addrs = NULL;
		goto out;
	}
	r = -1;
	for (i = 0; i < prev->n_ips; i++) {
		struct find_addr f = { .addr = &prev->ips[i].address,
				       .ifindex = ifindex };

		if (prev->ips[i].iface != pod_iface)
			continue;
		nl_cache_foreach(addrs, find_addr_cb, &f);
		if (!f.found) {
			prefix_text(text, sizeof(text), f.addr);
			mismatch(err, "address %s is missing on %s", text, pod->ifname);
			goto out;
		}
	}
	for (i = 0; i < prev->n_routes; i++) {
		const struct cni_route *rt = &prev->routes[i];
		bool found;

		if (has_route(sk, &rt->dst, rt->has_gw ? rt->gw : NULL, 0,
			      &found, err))
			goto out;
		if (!found) {
			prefix_text(text, sizeof(text), &rt->dst);
			mismatch(err, "route to %s is missing %s", text,
				 "in the container");
			goto out;
		}
	}
	r = 0;
out:
	if (addrs)
		nl_cache_free(addrs);
	nl_socket_free(sk);
	return r;
}

static int check_host_side(const struct cni_pod *pod,
			   const struct cni_result *prev, int pod_iface,
			   struct cni_error *err)
{
	struct nl_sock *sk = nl_open(err);
	const char *want_mac = NULL;
	char text[INET6_ADDRSTRLEN + 8];
	int ifindex, r = -1;
	unsigned i;

	if (!sk)
		return -1;
	for (i = 0; i < prev->n_ifaces; i++)
		if (!strcmp(prev->ifaces[i].name, pod->host_ifname) &&
		    !prev->ifaces[i].sandbox[0])
			want_mac = prev->ifaces[i].mac;
	if (check_link(sk, pod->host_ifname, want_mac, "on the node", &ifindex,
		       err))
		goto out;
	for (i = 0; i < prev->n_ips; i++) {
		struct cni_prefix host = prev->ips[i].address;
		bool found;

		if (prev->ips[i].iface != pod_iface)
			continue;
		host.len = cni_addr_len(host.family) * 8;
		if (has_route(sk, &host, NULL, ifindex, &found, err))
			goto out;
		if (!found) {
			prefix_text(text, sizeof(text), &host);
			mismatch(err, "route to %s via %s is missing on the node",
				 text, pod->host_ifname);
			goto out;
		}
	}
	r = 0;
out:
	nl_socket_free(sk);
	return r;
}

int cni_pod_check(const struct cni_pod *pod, const struct cni_result *prev,
		  struct cni_error *err)
{
	int nsfd, home, r, pod_iface = -1;
	unsigned i;

	for (i = 0; i < prev->n_ifaces; i++)
		if (!strcmp(prev->ifaces[i].name, pod->ifname) &&
		    !strcmp(prev->ifaces[i].sandbox, pod->netns))
			pod_iface = (int)i;
	if (pod_iface < 0)
		return mismatch(err, "prevResult has no interface %s in sandbox %.400s",
				pod->ifname, pod->netns);
	nsfd = netns_open(pod->netns, err);
	if (nsfd < 0)
		return -1;
	r = netns_enter(nsfd, &home, err);
	close(nsfd);
	if (r)
		return -1;
	r = check_pod_side(pod, prev, pod_iface, err);
	netns_leave(home);
	if (r)
		return -1;
	return check_host_side(pod, prev, pod_iface, err);
}
