// SPDX-License-Identifier: GPL-2.0
/*
 * The tunnel interface: TUN creation, rtnetlink configuration and the
 * netlink monitor (see netdev.h).
 *
 * Telling a move to another network namespace from a deletion: both look
 * like RTM_DELLINK in the namespace the interface leaves. Two facts tell
 * them apart, and the monitor uses both:
 *  - dev_change_net_namespace() sends that RTM_DELLINK with
 *    IFLA_NEW_NETNSID (and IFLA_NEW_IFINDEX); a real unregistration does
 *    not carry it.
 *  - Unregistering a TUN device detaches every queue fd from it
 *    (tun_detach_all() from ndo_uninit); ioctl(TUNGETIFF) on the fd then
 *    fails with EBADFD and read()/write() fail with EBADFD. A namespace
 *    move never calls ndo_uninit, so the fd stays attached and keeps
 *    carrying packets.
 * The second is authoritative where there is a TUN fd; it also catches a
 * deletion after the interface came back under a new ifindex.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>

#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include "ctl/netdev.h"
#include "datapath/tun.h"

/* Generous: a burst of route changes (a routing daemon reloading) must not
 * overrun it; if it does anyway, the monitor reports routes_changed. */
#define MONITOR_RCVBUF (1 << 20)
/* Larger than any rtnetlink notification the kernel builds (it sizes them
 * to fit one page-ish skb, link messages with VF info included). */
#define MONITOR_MSGBUF (64 * 1024)
/* Messages drained per netdev_monitor_process call before yielding back to
 * the event loop (epoll is level-triggered: the rest comes next round). */
#define MONITOR_BUDGET 64

struct netdev_monitor {
	struct nl_sock *sk;
	int ifindex;
	int companion_ifindex;  /* its deletion ends us too (0: none) */
	int tun_fd;
	bool gone;
	bool moved;
	/* Messages are read in place as struct nlmsghdr. */
	alignas(struct nlmsghdr) unsigned char buf[MONITOR_MSGBUF];
};

/* libnl reports its own failures as NLE_* codes; the few that can happen
 * outside the kernel's replies, as errno values. */
int netdev_nl_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_PERM:
		return -EPERM;
	case NLE_AF_NOSUPPORT:
	case NLE_PROTO_MISMATCH:
		return -EAFNOSUPPORT;
	case NLE_INVAL:
		return -EINVAL;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_NODEV:
	case NLE_OBJ_NOTFOUND:
		return -ENODEV;
	default:
		return -EIO;
	}
}

bool netdev_ifname_is_valid(const char *name)
{
	if (!*name || strlen(name) >= IF_NAMESIZE || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return false;
	/* '%' would make the kernel treat the name as a template. */
	for (; *name; name++)
		if (*name == '/' || *name == ':' || *name == '%' ||
		    *name == ' ' || (*name >= '\t' && *name <= '\r'))
			return false;
	return true;
}

/* --- rtnetlink requests ------------------------------------------------- */

static int on_ack(struct nl_msg *msg, void *arg)
{
	(void)msg;
	*(int *)arg = 0;
	return NL_STOP;
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	(void)nla;
	/* The kernel's own -errno, which libnl would otherwise fold into
	 * coarser NLE_* codes. */
	*(int *)arg = e->error < 0 ? e->error : -EIO;
	return NL_STOP;
}

int netdev_nl_request(struct nl_sock *sk, struct nl_msg *msg)
{
	int result = 1, ret;

	ret = nl_socket_modify_cb(sk, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &result);
	if (!ret)
		ret = nl_socket_modify_err_cb(sk, NL_CB_CUSTOM, on_error,
					      &result);
	if (ret < 0)
		return netdev_nl_errno(ret);
	ret = nl_send_auto(sk, msg);
	if (ret < 0)
		return netdev_nl_errno(ret);
	while (result == 1) {
		ret = nl_recvmsgs_default(sk);
		if (ret < 0 && result == 1)
			return netdev_nl_errno(ret);
	}
	return result;
}

/* Applies `changes` (MTU, flags) to the link ifindex of this namespace. */
static int link_change(int ifindex, struct rtnl_link *changes)
{
	struct rtnl_link *orig;
	struct nl_msg *msg = NULL;
	struct nl_sock *sk;
	int ret;

	if (ifindex <= 0)
		return -EINVAL;
	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	orig = rtnl_link_alloc();
	if (!orig) {
		ret = -ENOMEM;
		goto err_sock;
	}
	ret = nl_connect(sk, NETLINK_ROUTE);
	if (ret < 0) {
		ret = netdev_nl_errno(ret);
		goto err_link;
	}
	rtnl_link_set_ifindex(orig, ifindex);
	ret = rtnl_link_build_change_request(orig, changes, 0, &msg);
	if (ret < 0) {
		ret = netdev_nl_errno(ret);
		goto err_link;
	}
	ret = netdev_nl_request(sk, msg);
	nlmsg_free(msg);
err_link:
	rtnl_link_put(orig);
err_sock:
	nl_socket_free(sk);
	return ret;
}

int netdev_link_set_mtu(int ifindex, unsigned int mtu)
{
	struct rtnl_link *changes = rtnl_link_alloc();
	int ret;

	if (!changes)
		return -ENOMEM;
	rtnl_link_set_mtu(changes, mtu);
	ret = link_change(ifindex, changes);
	rtnl_link_put(changes);
	return ret;
}

static int link_change_flags(int ifindex, unsigned int set, unsigned int clear)
{
	struct rtnl_link *changes = rtnl_link_alloc();
	int ret;

	if (!changes)
		return -ENOMEM;
	if (set)
		rtnl_link_set_flags(changes, set);
	if (clear)
		rtnl_link_unset_flags(changes, clear);
	ret = link_change(ifindex, changes);
	rtnl_link_put(changes);
	return ret;
}

int netdev_link_set_up(int ifindex)
{
	return link_change_flags(ifindex, IFF_UP, 0);
}

int netdev_link_set_down(int ifindex)
{
	return link_change_flags(ifindex, 0, IFF_UP);
}

/* --- the TUN device ----------------------------------------------------- */

/* What the stack may hand us: partial checksums, TCP super-packets (with
 * ECN), and UDP ones (USO, Linux 6.2+: refused with EINVAL before). */
static unsigned int tun_offloads_set(int fd)
{
	static const unsigned int tries[] = {
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6,
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
		TUN_F_CSUM,
	};
	unsigned int i;

	for (i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
		if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)tries[i]) == 0)
			return tries[i];
	return 0;
}

int netdev_tun_create(const char *ifname, int *ifindex, unsigned int *offloads)
{
	struct ifreq ifr;
	size_t len;
	int fd, ret, idx;

	if (!ifname || !netdev_ifname_is_valid(ifname))
		return -EINVAL;
	len = strlen(ifname);
	if (len >= IFNAMSIZ)
		return -ENAMETOOLONG;
	/* TUNSETIFF on an existing name would attach to that device (a
	 * persistent TUN) or fail with a vague EINVAL (any other kind);
	 * IFF_TUN_EXCL closes the first case, this check makes the second
	 * one say what happened. */
	if (if_nametoindex(ifname))
		return -EEXIST;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, len);
	ifr.ifr_flags = (short)(IFF_TUN | IFF_NO_PI | IFF_TUN_EXCL | (offloads ? IFF_VNET_HDR : 0));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		if (ret == -EBUSY || (ret == -EINVAL && if_nametoindex(ifname)))
			ret = -EEXIST;
		goto err_close;
	}
	/* Fresh devices are not persistent; say so anyway, so that closing
	 * the fd is guaranteed to delete the interface. */
	if (ioctl(fd, TUNSETPERSIST, 0) < 0) {
		ret = -errno;
		goto err_close;
	}
	if (offloads)
		*offloads = tun_offloads_set(fd);
	idx = (int)if_nametoindex(ifname);
	if (!idx) {
		ret = errno ? -errno : -ENODEV;
		goto err_close;
	}
	/* The kernel's wg device is POINTOPOINT | NOARP without MULTICAST
	 * (drivers/net/wireguard/device.c, wg_setup); a TUN starts with
	 * MULTICAST as well, which would have IPv6 send MLD reports into a
	 * tunnel whose cryptokey routing can only drop them. */
	ret = link_change_flags(idx, 0, IFF_MULTICAST);
	if (ret < 0)
		goto err_close;
	*ifindex = idx;
	return fd;

err_close:
	close(fd);
	return ret;
}

void netdev_tun_destroy(int tun_fd)
{
	if (tun_fd >= 0)
		close(tun_fd);
}

bool netdev_tun_is_alive(int tun_fd)
{
	struct ifreq ifr;

	if (tun_fd < 0)
		return false;
	memset(&ifr, 0, sizeof(ifr));
	return ioctl(tun_fd, TUNGETIFF, &ifr) == 0;
}

/* --- ethtool ------------------------------------------------------------- */

int netdev_ethtool(const char *ifname, void *cmd)
{
	struct ifreq ifr;
	int fd, ret = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = cmd;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int netdev_driver_name(const char *ifname, char *buf, size_t size)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	size_t n;
	int ret;

	buf[0] = 0;
	ret = netdev_ethtool(ifname, &info);
	if (ret)
		return ret;
	n = strnlen(info.driver, sizeof(info.driver));
	n = n < size - 1 ? n : size - 1;
	memcpy(buf, info.driver, n);
	buf[n] = 0;
	return 0;
}

int netdev_rx_queues(const char *ifname, unsigned int *n)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	int ret = netdev_ethtool(ifname, &ch);

	if (!ret)
		*n = ch.rx_count + ch.combined_count;
	return ret;
}

/* --- the monitor -------------------------------------------------------- */

/* Best effort: SO_RCVBUFFORCE passes net.core.rmem_max with CAP_NET_ADMIN;
 * without it SO_RCVBUF gets what the limit allows. */
static void set_rcvbuf(int fd, int bytes)
{
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)))
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes,
				 sizeof(bytes));
}

int netdev_monitor_create(struct netdev_monitor **out, int ifindex, int tun_fd)
{
	struct netdev_monitor *mon;
	int ret;

	mon = calloc(1, sizeof(*mon));
	if (!mon)
		return -ENOMEM;
	mon->ifindex = ifindex;
	mon->tun_fd = tun_fd;
	mon->sk = nl_socket_alloc();
	if (!mon->sk) {
		ret = -ENOMEM;
		goto err_free;
	}
	/* Notifications carry sequence number 0; the auto-ACK is for
	 * requests, which this socket never sends. */
	nl_socket_disable_seq_check(mon->sk);
	nl_socket_disable_auto_ack(mon->sk);
	ret = nl_connect(mon->sk, NETLINK_ROUTE);
	if (ret < 0)
		goto err_nle;
	ret = nl_socket_add_memberships(mon->sk, RTNLGRP_LINK,
					RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
					RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
					RTNLGRP_NONE);
	if (ret < 0)
		goto err_nle;
	set_rcvbuf(nl_socket_get_fd(mon->sk), MONITOR_RCVBUF);
	ret = nl_socket_set_nonblocking(mon->sk);
	if (ret < 0)
		goto err_nle;
	if (fcntl(nl_socket_get_fd(mon->sk), F_SETFD, FD_CLOEXEC) < 0) {
		ret = -errno;
		goto err_sock;
	}
	*out = mon;
	return 0;

err_nle:
	ret = netdev_nl_errno(ret);
err_sock:
	nl_socket_free(mon->sk);
err_free:
	free(mon);
	return ret;
}

void netdev_monitor_companion(struct netdev_monitor *mon, int ifindex)
{
	mon->companion_ifindex = ifindex;
}

int netdev_monitor_fd(const struct netdev_monitor *mon)
{
	return nl_socket_get_fd(mon->sk);
}

void netdev_monitor_destroy(struct netdev_monitor *mon)
{
	if (!mon)
		return;
	nl_socket_free(mon->sk);
	free(mon);
}

static void report_gone(struct netdev_monitor *mon,
			const struct netdev_events *ev)
{
	if (mon->gone)
		return;
	mon->gone = true;
	ev->link_gone(ev->ctx);
}

static void on_dellink(struct netdev_monitor *mon, struct nlmsghdr *nlh,
		       const struct netdev_events *ev)
{
	struct nlattr *tb[IFLA_MAX + 1];
	struct ifinfomsg *ifi = nlmsg_data(nlh);
	bool ours, to_other_netns;

	/* AF_BRIDGE and other per-family link messages are not about the
	 * device's existence. */
	if (ifi->ifi_family != AF_UNSPEC)
		return;
	if (mon->companion_ifindex && ifi->ifi_index == mon->companion_ifindex) {
		report_gone(mon, ev);
		return;
	}
	ours = ifi->ifi_index == mon->ifindex && !mon->moved;
	if (mon->tun_fd >= 0) {
		/* Any deletion in this namespace may be ours, even under an
		 * ifindex we no longer know (moved away and back). */
		if (!netdev_tun_is_alive(mon->tun_fd)) {
			report_gone(mon, ev);
			return;
		}
		if (ours) {
			mon->moved = true;
			if (ev->link_moved)
				ev->link_moved(ev->ctx);
		}
		return;
	}
	if (!ours)
		return;
	if (nlmsg_parse(nlh, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0)
		memset(tb, 0, sizeof(tb));
	to_other_netns = tb[IFLA_NEW_NETNSID] != NULL;
	if (to_other_netns) {
		mon->moved = true;
		if (ev->link_moved)
			ev->link_moved(ev->ctx);
	} else {
		report_gone(mon, ev);
	}
}

static void on_deladdr(struct nlmsghdr *nlh, const struct netdev_events *ev)
{
	struct nlattr *tb[IFA_MAX + 1];
	struct ifaddrmsg *ifa = nlmsg_data(nlh);
	struct nlattr *a;
	size_t want;

	if (ifa->ifa_family == AF_INET)
		want = 4;
	else if (ifa->ifa_family == AF_INET6)
		want = 16;
	else
		return;
	if (nlmsg_parse(nlh, sizeof(*ifa), tb, IFA_MAX, NULL) < 0)
		return;
	/* IFA_LOCAL is the local side where it differs from IFA_ADDRESS
	 * (point-to-point peers); otherwise IFA_ADDRESS is the address. */
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!a || (size_t)nla_len(a) < want)
		return;
	ev->addr_removed(ev->ctx, ifa->ifa_family, nla_data(a));
}

static bool route_is_real(struct nlmsghdr *nlh)
{
	struct rtmsg *rtm = nlmsg_data(nlh);

	if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
		return false;
	/* Cached clones (PMTU exceptions and the like) do not change which
	 * interface or source a route lookup picks. */
	return !(rtm->rtm_flags & RTM_F_CLONED);
}

/* Events were lost (socket overrun or a truncated message): whatever was
 * lost, what it can have invalidated is covered by these two reports. */
static void resync(struct netdev_monitor *mon, const struct netdev_events *ev,
		   bool *routes)
{
	*routes = true;
	if (mon->tun_fd >= 0 && !netdev_tun_is_alive(mon->tun_fd))
		report_gone(mon, ev);
}

int netdev_monitor_process(struct netdev_monitor *mon,
			   const struct netdev_events *ev)
{
	int fd = nl_socket_get_fd(mon->sk);
	bool routes = false;
	unsigned int round;
	int ret = 0;

	for (round = 0; round < MONITOR_BUDGET; round++) {
		struct sockaddr_nl from;
		struct iovec iov = { mon->buf, sizeof(mon->buf) };
		struct msghdr mh = {
			.msg_name = &from, .msg_namelen = sizeof(from),
			.msg_iov = &iov, .msg_iovlen = 1,
		};
		struct nlmsghdr *nlh;
		ssize_t n;
		int len;

		n = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				resync(mon, ev, &routes);
				continue;
			}
			ret = -errno;
			break;
		}
		/* Only the kernel speaks on this socket. */
		if (from.nl_pid != 0)
			continue;
		if (mh.msg_flags & MSG_TRUNC) {
			resync(mon, ev, &routes);
			continue;
		}
		len = (int)n;
		for (nlh = (struct nlmsghdr *)mon->buf; nlmsg_ok(nlh, len);
		     nlh = nlmsg_next(nlh, &len)) {
			switch (nlh->nlmsg_type) {
			case RTM_DELLINK:
				if (nlmsg_valid_hdr(nlh, sizeof(struct ifinfomsg)))
					on_dellink(mon, nlh, ev);
				break;
			case RTM_DELADDR:
				if (nlmsg_valid_hdr(nlh, sizeof(struct ifaddrmsg)))
					on_deladdr(nlh, ev);
				break;
			case RTM_NEWROUTE:
			case RTM_DELROUTE:
				if (nlmsg_valid_hdr(nlh, sizeof(struct rtmsg)) &&
				    route_is_real(nlh))
					routes = true;
				break;
			default:
				break;
			}
		}
	}
	if (routes)
		ev->routes_changed(ev->ctx);
	return ret;
}
