// SPDX-License-Identifier: GPL-2.0
/*
 * The underlays: the interfaces xdp_rx runs on (see loader_internal.h).
 * Which ones (XWG_XDP_IFACES, else those of the default routes, else every
 * Ethernet interface that is up), the route lookup that tells the daemon
 * where a peer's endpoint is, and attaching xdp_rx to each, where it is
 * wanted, as the load picks them and as the daemon follows endpoints.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/rtnetlink.h>

#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include "base/log.h"
#include "ctl/netdev.h"
#include "ctl/maps/loader_internal.h"

/* --- which underlays ----------------------------------------------------- */

static bool mac_is_xwg(struct rtnl_link *link)
{
	static const uint8_t mac[6] = TWIN_LINK_MAC, twin_mac[6] = TWIN_LINK_TWIN_MAC;
	struct nl_addr *a = rtnl_link_get_addr(link);

	if (!a || nl_addr_get_len(a) != 6)
		return false;
	return !memcmp(nl_addr_get_binary_addr(a), mac, 6) ||
	       !memcmp(nl_addr_get_binary_addr(a), twin_mac, 6);
}

static void underlay_pick(int *picked, unsigned int *n, int ifindex)
{
	unsigned int i;

	for (i = 0; i < *n; i++)
		if (picked[i] == ifindex)
			return;
	if (*n < FASTPATH_MAX_UNDERLAYS)
		picked[(*n)++] = ifindex;
}

/* The default: interfaces of the default routes, else every interface that
 * is up, Ethernet, not loopback and not an xwg pair. */
static int underlays_default(struct fastpath *fp, int *picked, unsigned int *n)
{
	struct nl_cache *routes = NULL, *links = NULL;
	struct nl_object *obj;
	struct nl_sock *sk;
	int ret;

	*n = 0;
	sk = nl_socket_alloc();
	if (!sk)
		return fastpath_fail(fp, -ENOMEM, "out of memory");
	ret = nl_connect(sk, NETLINK_ROUTE);
	if (!ret)
		ret = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &routes);
	if (!ret)
		ret = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
	if (ret) {
		ret = fastpath_fail(fp, netdev_nl_errno(ret), "cannot read routes and links: %s",
				    nl_geterror(ret));
		goto out;
	}
	for (obj = nl_cache_get_first(routes); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_route *r = (struct rtnl_route *)obj;
		struct nl_addr *dst = rtnl_route_get_dst(r);
		int i;

		if (rtnl_route_get_table(r) != RT_TABLE_MAIN ||
		    rtnl_route_get_type(r) != RTN_UNICAST ||
		    (dst && nl_addr_get_prefixlen(dst) != 0))
			continue;
		for (i = 0; i < rtnl_route_get_nnexthops(r); i++) {
			int oif = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, i));
			struct rtnl_link *l = rtnl_link_get(links, oif);

			if (l && !mac_is_xwg(l) && !(rtnl_link_get_flags(l) & IFF_LOOPBACK))
				underlay_pick(picked, n, oif);
			if (l)
				rtnl_link_put(l);
		}
	}
	if (!*n) {
		for (obj = nl_cache_get_first(links); obj; obj = nl_cache_get_next(obj)) {
			struct rtnl_link *l = (struct rtnl_link *)obj;

			if ((rtnl_link_get_flags(l) & IFF_UP) &&
			    !(rtnl_link_get_flags(l) & IFF_LOOPBACK) &&
			    rtnl_link_get_arptype(l) == ARPHRD_ETHER && !mac_is_xwg(l))
				underlay_pick(picked, n, rtnl_link_get_ifindex(l));
		}
	}
	/* None yet (a host still coming up, a namespace without links):
	 * the daemon attaches to the interface of each peer's endpoint as
	 * it learns them (fastpath_underlay_attach). */
	if (!*n)
		log_info("fast path of %s: no underlay interface yet (no default route, no "
			 "Ethernet interface up); xdp_rx will go where the peers' endpoints are",
			 fp->ifname);
out:
	if (routes)
		nl_cache_free(routes);
	if (links)
		nl_cache_free(links);
	nl_socket_free(sk);
	return ret;
}

struct route_reply {
	int oif;
	int error;
	bool done;
};

static int route_on_msg(struct nl_msg *msg, void *arg)
{
	struct route_reply *r = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[RTA_MAX + 1];

	if (nlh->nlmsg_type == RTM_NEWROUTE &&
	    !nlmsg_parse(nlh, sizeof(struct rtmsg), tb, RTA_MAX, NULL) &&
	    tb[RTA_OIF])
		r->oif = (int)nla_get_u32(tb[RTA_OIF]);
	r->done = true;
	return NL_OK;
}

static int route_on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct route_reply *r = arg;

	(void)nla;
	r->error = e->error < 0 ? e->error : -EIO;
	r->done = true;
	return NL_STOP;
}

int fastpath_route_oif(int family, const void *addr, int *ifindex)
{
	struct rtmsg rtm = { .rtm_family = (unsigned char)family };
	struct route_reply r = { 0 };
	struct nl_msg *msg;
	struct nl_sock *sk;
	int ret, len = family == AF_INET ? 4 : 16;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	ret = nl_connect(sk, NETLINK_ROUTE);
	if (ret) {
		ret = netdev_nl_errno(ret);
		goto out_sock;
	}
	msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_REQUEST);
	if (!msg) {
		ret = -ENOMEM;
		goto out_sock;
	}
	rtm.rtm_dst_len = (unsigned char)(len * 8);
	if (nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) ||
	    nla_put(msg, RTA_DST, len, addr)) {
		ret = -ENOMEM;
		goto out_msg;
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, route_on_msg, &r);
	nl_socket_modify_err_cb(sk, NL_CB_CUSTOM, route_on_error, &r);
	ret = nl_send_auto(sk, msg);
	if (ret < 0) {
		ret = netdev_nl_errno(ret);
		goto out_msg;
	}
	ret = 0;
	while (!r.done && !ret)
		ret = nl_recvmsgs_default(sk) < 0 ? -EIO : 0;
	if (r.error)
		ret = r.error;
	else if (!ret && !r.oif)
		ret = -ENETUNREACH;
	else if (!ret)
		*ifindex = r.oif;
out_msg:
	nlmsg_free(msg);
out_sock:
	nl_socket_free(sk);
	return ret;
}

/* --- underlay attachments ------------------------------------------------ */

static struct fastpath_xdp *underlay_find(struct fastpath *fp, int ifindex)
{
	unsigned int i;

	for (i = 0; i < fp->n_underlays; i++)
		if (fp->underlays[i].ifindex == ifindex)
			return &fp->underlays[i];
	return NULL;
}

/*
 * Underlays xwgd picks itself get xdp_rx only where it costs nothing to
 * anyone else (issue 14, measured): not on a veth, whose peer loses TSO
 * and UDP segmentation offload while any XDP program is attached (plain
 * TCP of other containers over the same link fell from 13.8 to 2.9
 * Gbit/s), and not where only generic XDP runs (loopback among them):
 * there the program sees UDP GSO super-datagrams whole and costs every
 * packet. On those, data messages reach the UDP socket, which takes them
 * with UDP GRO. NULL: wanted; else why not.
 */
static const char *underlay_xdp_unwanted(const struct fastpath *fp, const struct fastpath_xdp *x,
					 unsigned int flags)
{
	char drv[32];

	if (flags & IFF_LOOPBACK)
		return "loopback (only generic XDP)";
	(void)netdev_driver_name(x->ifname, drv, sizeof(drv));
	if (!strcmp(drv, "veth") && !fp->xdp_on_veth)
		return "a veth (XDP there turns TSO/USO off on its peer, slowing other traffic)";
	return NULL;
}

static void underlay_refuse(struct fastpath *fp, int ifindex)
{
	if (fp->n_xdp_refused < FASTPATH_MAX_UNDERLAYS)
		fp->xdp_refused[fp->n_xdp_refused++] = ifindex;
}

int fastpath_underlay_prepare(struct fastpath *fp, int ifindex, struct fastpath_follow *fw)
{
	struct fastpath_xdp *x = &fw->x;
	const char *why;
	unsigned int i;

	memset(fw, 0, sizeof(*fw));
	if (!fp->loaded)
		return -EBADF;
	if (underlay_find(fp, ifindex))
		return -EEXIST;
	if (ifindex == fp->twin.ifindex || ifindex == fp->twin.twin_ifindex)
		return fastpath_fail(fp, -EINVAL, "%s cannot be its own underlay", fp->ifname);
	if (fp->n_underlays == FASTPATH_MAX_UNDERLAYS)
		return fastpath_fail(fp, -ENOSPC, "more than %d underlay interfaces",
				     FASTPATH_MAX_UNDERLAYS);
	x->link_fd = -1;
	x->ifindex = ifindex;
	if (!if_indextoname((unsigned int)ifindex, x->ifname))
		return fastpath_fail(fp, -ENODEV, "underlay interface %d does not exist", ifindex);
	for (i = 0; i < fp->n_xdp_refused; i++) {
		if (fp->xdp_refused[i] == ifindex) {
			fp->error[0] = 0;  /* said when it was refused */
			return -EOPNOTSUPP;
		}
	}
	if (fp->xdp_auto) {
		struct ifreq ifr = { 0 };
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", x->ifname);
		if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr))
			ifr.ifr_flags = 0;
		if (fd >= 0)
			close(fd);
		why = underlay_xdp_unwanted(fp, x, (unsigned int)ifr.ifr_flags);
		if (why) {
			underlay_refuse(fp, ifindex);
			return fastpath_fail(fp, -EOPNOTSUPP, "no xdp_rx on %s: %s; data messages "
					     "arrive through the UDP socket (UDP GRO)", x->ifname, why);
		}
	}
	fw->prog_fd = fastpath_prog_fd_rx(fp);
	fw->netlink_attach = fp->netlink_attach;
	fw->xdp_auto = fp->xdp_auto;
	return 0;
}

void fastpath_underlay_attach_prepared(struct fastpath_follow *fw)
{
	fw->ret = fastpath_xdp_attach_to(fw->netlink_attach, &fw->x, fw->prog_fd, "xdp_rx",
					 fw->error, sizeof(fw->error));
	/* Chosen by xwgd, not named by the operator: generic XDP there is a
	 * cost, not a fast path (underlay_xdp_unwanted). */
	if (!fw->ret && fw->xdp_auto && fw->x.mode == FASTPATH_XDP_GENERIC) {
		fastpath_xdp_detach(&fw->x, fw->prog_fd);
		snprintf(fw->error, sizeof(fw->error), "no xdp_rx on %s: only generic XDP there; "
			 "data messages arrive through the UDP socket (UDP GRO)", fw->x.ifname);
		fw->ret = -EOPNOTSUPP;
	}
}

int fastpath_underlay_adopt(struct fastpath *fp, struct fastpath_follow *fw)
{
	if (fw->ret) {
		if (fw->ret == -EOPNOTSUPP)
			underlay_refuse(fp, fw->x.ifindex);
		return fastpath_fail(fp, fw->ret, "%s", fw->error);
	}
	/* Attached meanwhile by another way in (an explicit attach), or no
	 * room left: this attachment is one too many. */
	if (underlay_find(fp, fw->x.ifindex) || fp->n_underlays == FASTPATH_MAX_UNDERLAYS) {
		fastpath_underlay_abandon(fw);
		return underlay_find(fp, fw->x.ifindex) ? 0 :
		       fastpath_fail(fp, -ENOSPC, "more than %d underlay interfaces",
				     FASTPATH_MAX_UNDERLAYS);
	}
	fp->underlays[fp->n_underlays++] = fw->x;
	if (fp->n_underlays == 2)
		log_info("xdp_rx runs on more than one underlay: data messages reach AF_XDP "
			 "only on the interface whose sockets are in xsks_rx");
	return 0;
}

void fastpath_underlay_abandon(struct fastpath_follow *fw)
{
	if (!fw->ret)
		fastpath_xdp_detach(&fw->x, fw->prog_fd);
	fw->ret = -ECANCELED;
}

static int underlay_add(struct fastpath *fp, int ifindex)
{
	struct fastpath_follow fw;
	int ret = fastpath_underlay_prepare(fp, ifindex, &fw);

	if (ret)
		return ret == -EEXIST ? 0 : ret;
	fastpath_underlay_attach_prepared(&fw);
	return fastpath_underlay_adopt(fp, &fw);
}

void fastpath_underlays_remove(struct fastpath *fp)
{
	while (fp->n_underlays)
		fastpath_xdp_detach(&fp->underlays[--fp->n_underlays], fastpath_prog_fd_rx(fp));
}

int fastpath_underlay_attach(struct fastpath *fp, const char *ifname)
{
	int ifindex;

	if (!fp->loaded)
		return -EBADF;
	ifindex = (int)if_nametoindex(ifname);
	if (!ifindex)
		return fastpath_fail(fp, -ENODEV, "underlay interface %s does not exist", ifname);
	return underlay_add(fp, ifindex);
}

int fastpath_underlay_detach(struct fastpath *fp, const char *ifname)
{
	unsigned int i;

	if (!fp->loaded)
		return -EBADF;
	for (i = 0; i < fp->n_underlays; i++) {
		if (strcmp(fp->underlays[i].ifname, ifname))
			continue;
		fastpath_xdp_detach(&fp->underlays[i], fastpath_prog_fd_rx(fp));
		fp->underlays[i] = fp->underlays[--fp->n_underlays];
		return 0;
	}
	return -ENOENT;
}

/* Which underlays: the explicit list or the default; checked before
 * anything is created, so a typo costs nothing. */
int fastpath_underlays_resolve(struct fastpath *fp, const struct fastpath_opts *opts,
			       int *picked, unsigned int *n)
{
	unsigned int i;

	*n = 0;
	if (!opts->n_underlays)
		return underlays_default(fp, picked, n);
	for (i = 0; i < opts->n_underlays; i++) {
		int ifindex = (int)if_nametoindex(opts->underlays[i]);

		if (!ifindex)
			return fastpath_fail(fp, -ENODEV, "underlay interface %s (XWG_XDP_IFACES) does not exist",
					     opts->underlays[i]);
		if (*n == FASTPATH_MAX_UNDERLAYS)
			return fastpath_fail(fp, -ENOSPC, "more than %d underlay interfaces",
					     FASTPATH_MAX_UNDERLAYS);
		underlay_pick(picked, n, ifindex);
	}
	return 0;
}

int fastpath_underlays_attach(struct fastpath *fp, const int *picked, unsigned int n,
			      bool explicit)
{
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = underlay_add(fp, picked[i]);
		/* An underlay we picked ourselves that another program (another
		 * xwg interface's xdp_rx) holds: leave it to that one; what
		 * arrives there for us passes to our UDP socket. */
		if (ret == -EOPNOTSUPP && fp->xdp_auto) {
			if (fp->error[0])
				log_info("fast path of %s: %s", fp->ifname, fp->error);
			fp->error[0] = 0;
			continue;
		}
		if (ret == -EBUSY && !explicit) {
			log_info("fast path of %s: %s; its traffic for us goes through the UDP socket",
				 fp->ifname, fp->error);
			fp->error[0] = 0;
			continue;
		}
		if (ret) {
			fastpath_underlays_remove(fp);
			return ret;
		}
	}
	return 0;
}
