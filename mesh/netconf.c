// SPDX-License-Identifier: GPL-2.0
/* xwg-mesh: routes, the policy rule and MTU. See netconf.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "ctl/netdev.h"
#include "mesh/netconf.h"

unsigned int mesh_mtu_compute(unsigned int underlay_mtu, bool all_ipv4)
{
	unsigned int overhead = all_ipv4 ? MESH_OVERHEAD_IPV4 : MESH_OVERHEAD_IPV6;

	if (underlay_mtu < overhead + 68)
		return 0;
	return underlay_mtu - overhead;
}

int mesh_path_mtu(const struct mesh_addr *dst, uint16_t port, uint32_t fwmark)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl, ol;
	int fd, mtu = 0, mark = (int)fwmark, ret;

	if (dst->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, dst->addr, 4);
		sl = sizeof(*sin);
	} else if (dst->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, dst->addr, 16);
		sl = sizeof(*sin6);
	} else {
		return -EAFNOSUPPORT;
	}
	fd = socket(dst->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Marked like xwgd's sockets so the route lookup skips our table
	 * (which would answer with the tunnel itself). */
	if (fwmark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
		ret = -errno;
		goto out;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl)) {
		ret = -errno;
		goto out;
	}
	ol = sizeof(mtu);
	if (dst->family == AF_INET ? getsockopt(fd, IPPROTO_IP, IP_MTU, &mtu, &ol)
				   : getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &mtu, &ol)) {
		ret = -errno;
		goto out;
	}
	ret = mtu > 0 ? mtu : -EINVAL;
out:
	close(fd);
	return ret;
}

int mesh_local_addr_mtu(const struct mesh_addr *a)
{
	struct ifaddrs *ifa, *i;
	struct ifreq ifr = { 0 };
	int ret = -ENOENT, fd;

	if (getifaddrs(&ifa))
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		const void *p;

		if (!i->ifa_addr || i->ifa_addr->sa_family != a->family)
			continue;
		p = a->family == AF_INET ? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
					 : (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		if (!memcmp(p, a->addr, a->family == AF_INET ? 4 : 16)) {
			snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", i->ifa_name);
			ret = 0;
			break;
		}
	}
	freeifaddrs(ifa);
	if (ret)
		return ret;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = ioctl(fd, SIOCGIFMTU, &ifr) ? -errno : ifr.ifr_mtu;
	close(fd);
	return ret;
}

int mesh_netconf_open(struct mesh_netconf *nc, int ifindex, uint32_t table,
		      uint32_t fwmark, uint32_t priority)
{
	int ret;

	memset(nc, 0, sizeof(*nc));
	nc->sk = nl_socket_alloc();
	if (!nc->sk)
		return -ENOMEM;
	ret = nl_connect(nc->sk, NETLINK_ROUTE);
	if (ret < 0) {
		nl_socket_free(nc->sk);
		nc->sk = NULL;
		return netdev_nl_errno(ret);
	}
	nc->ifindex = ifindex;
	nc->table = table;
	nc->fwmark = fwmark;
	nc->priority = priority;
	return 0;
}

void mesh_netconf_close(struct mesh_netconf *nc)
{
	if (nc->sk)
		nl_socket_free(nc->sk);
	nc->sk = NULL;
}

static int rule_msg(struct mesh_netconf *nc, int type, int flags, int family)
{
	struct fib_rule_hdr frh = {
		.family = (uint8_t)family,
		.action = FR_ACT_TO_TBL,
		.flags = FIB_RULE_INVERT,
	};
	struct nl_msg *msg;
	int ret;

	msg = nlmsg_alloc_simple(type, flags);
	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &frh, sizeof(frh), NLMSG_ALIGNTO) < 0 ||
	    nla_put_u32(msg, FRA_FWMARK, nc->fwmark) < 0 ||
	    nla_put_u32(msg, FRA_FWMASK, 0xffffffff) < 0 ||
	    nla_put_u32(msg, FRA_TABLE, nc->table) < 0 ||
	    nla_put_u32(msg, FRA_PRIORITY, nc->priority) < 0) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	ret = netdev_nl_request(nc->sk, msg);
	nlmsg_free(msg);
	return ret;
}

int mesh_rule_del(struct mesh_netconf *nc, int family)
{
	return rule_msg(nc, RTM_DELRULE, 0, family);
}

int mesh_rule_add(struct mesh_netconf *nc, int family)
{
	/* A copy left by an earlier run (killed before its cleanup). */
	while (mesh_rule_del(nc, family) == 0)
		;
	return rule_msg(nc, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, family);
}

static int route_msg(struct mesh_netconf *nc, int type, int flags, const struct mesh_prefix *p)
{
	struct rtmsg rtm = {
		.rtm_family = (uint8_t)p->family,
		.rtm_dst_len = p->cidr,
		.rtm_table = RT_TABLE_UNSPEC,
		.rtm_protocol = RTPROT_STATIC,
		.rtm_scope = RT_SCOPE_LINK,
		.rtm_type = RTN_UNICAST,
	};
	struct nl_msg *msg;
	int ret;

	if (p->family != AF_INET && p->family != AF_INET6)
		return -EAFNOSUPPORT;
	msg = nlmsg_alloc_simple(type, flags);
	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, RTA_DST, p->family == AF_INET ? 4 : 16, p->addr) < 0 ||
	    nla_put_u32(msg, RTA_OIF, (uint32_t)nc->ifindex) < 0 ||
	    nla_put_u32(msg, RTA_TABLE, nc->table) < 0) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	ret = netdev_nl_request(nc->sk, msg);
	nlmsg_free(msg);
	return ret;
}

int mesh_route_add(struct mesh_netconf *nc, const struct mesh_prefix *p)
{
	return route_msg(nc, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, p);
}

int mesh_route_del(struct mesh_netconf *nc, const struct mesh_prefix *p)
{
	return route_msg(nc, RTM_DELROUTE, 0, p);
}
