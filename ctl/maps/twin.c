// SPDX-License-Identifier: GPL-2.0
/*
 * The tunnel interface pair of the fast path (see twin.h): a veth pair
 * created and configured through rtnetlink (libnl-route) and the ethtool
 * ioctl, nothing shelled out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/if_link.h>

#include <netlink/addr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/link/veth.h>
#include <netlink/socket.h>

#include "base/log.h"
#include "ctl/netdev.h"
#include "ctl/maps/twin.h"

/* Sends one request, frees it, waits for its acknowledgement. */
static int request_sync(struct nl_sock *sk, struct nl_msg *msg)
{
	int ret = netdev_nl_request(sk, msg);

	nlmsg_free(msg);
	return ret;
}

static int sock_open(struct nl_sock **out)
{
	struct nl_sock *sk = nl_socket_alloc();
	int ret;

	if (!sk)
		return -ENOMEM;
	ret = nl_connect(sk, NETLINK_ROUTE);
	if (ret < 0) {
		nl_socket_free(sk);
		return netdev_nl_errno(ret);
	}
	*out = sk;
	return 0;
}

/* Applies `changes` to the link ifindex. */
static int link_change(struct nl_sock *sk, int ifindex,
		       struct rtnl_link *changes)
{
	struct rtnl_link *orig = rtnl_link_alloc();
	struct nl_msg *msg;
	int ret;

	if (!orig)
		return -ENOMEM;
	rtnl_link_set_ifindex(orig, ifindex);
	ret = rtnl_link_build_change_request(orig, changes, 0, &msg);
	rtnl_link_put(orig);
	if (ret < 0)
		return netdev_nl_errno(ret);
	return request_sync(sk, msg);
}

static int link_delete(struct nl_sock *sk, int ifindex)
{
	struct rtnl_link *link = rtnl_link_alloc();
	struct nl_msg *msg;
	int ret;

	if (!link)
		return -ENOMEM;
	rtnl_link_set_ifindex(link, ifindex);
	ret = rtnl_link_build_delete_request(link, &msg);
	rtnl_link_put(link);
	if (ret < 0)
		return netdev_nl_errno(ret);
	return request_sync(sk, msg);
}

/* --- names --------------------------------------------------------------- */


static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261U;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619U;
	return h;
}

int twin_name_derive(const char *ifname, char twin_name[IFNAMSIZ])
{
	size_t len;

	if (!ifname || !netdev_ifname_is_valid(ifname))
		return -EINVAL;
	len = strlen(ifname);
	if (len >= IFNAMSIZ)
		return -ENAMETOOLONG;
	if (len + strlen(TWIN_SUFFIX) < IFNAMSIZ)
		snprintf(twin_name, IFNAMSIZ, "%s" TWIN_SUFFIX, ifname);
	else
		snprintf(twin_name, IFNAMSIZ, TWIN_LONG_PREFIX "%08x" TWIN_SUFFIX,
			 fnv1a(ifname));
	return 0;
}

static void alias_for(const char *ifname, char *buf, size_t size)
{
	snprintf(buf, size, TWIN_ALIAS_PREFIX "%s", ifname);
}

/* --- ethtool and sysfs --------------------------------------------------- */

static int ethtool_value(const char *ifname, uint32_t cmd, uint32_t *value)
{
	struct ethtool_value ev = { .cmd = cmd, .data = *value };
	int ret = netdev_ethtool(ifname, &ev);

	if (!ret)
		*value = ev.data;
	return ret;
}

static int ethtool_set(const char *ifname, uint32_t set_cmd, uint32_t get_cmd,
		       uint32_t want)
{
	uint32_t v = want;
	int ret;

	ret = ethtool_value(ifname, set_cmd, &v);
	if (ret)
		return ret;
	v = 0;
	ret = ethtool_value(ifname, get_cmd, &v);
	if (ret)
		return ret;
	return !!v == !!want ? 0 : -EOPNOTSUPP;
}

/*
 * Threaded NAPI has no rtnetlink attribute; it is /sys/class/net/IFNAME/
 * threaded. That directory shows the devices of the namespace sysfs was
 * mounted in, which is not ours after a bare `nsenter --net`: write only if
 * its ifindex file names our device. The kernel takes the setting only
 * while the device has NAPI instances, which a veth has while it is up
 * with GRO on; the setting then survives down and up. So IFNAME goes up
 * for the moment of the write.
 */
static bool sysfs_names(const char *ifname, int ifindex)
{
	char path[64], buf[16];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/net/%s/ifindex", ifname);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return atoi(buf) == ifindex;
}

static int link_set_flags(struct nl_sock *sk, int ifindex, unsigned int set,
			  unsigned int clear)
{
	struct rtnl_link *changes = rtnl_link_alloc();
	int ret;

	if (!changes)
		return -ENOMEM;
	if (set)
		rtnl_link_set_flags(changes, set);
	if (clear)
		rtnl_link_unset_flags(changes, clear);
	ret = link_change(sk, ifindex, changes);
	rtnl_link_put(changes);
	return ret;
}

static bool set_threaded_napi(struct nl_sock *sk, const struct twin_link *tl)
{
	char path[64];
	bool ok;
	int fd;

	if (!sysfs_names(tl->name, tl->ifindex))
		return false;
	snprintf(path, sizeof(path), "/sys/class/net/%s/threaded", tl->name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (link_set_flags(sk, tl->ifindex, IFF_UP, 0)) {
		close(fd);
		return false;
	}
	ok = write(fd, "1", 1) == 1;
	close(fd);
	if (link_set_flags(sk, tl->ifindex, 0, IFF_UP))
		ok = false;
	return ok;
}

/* --- the pair ------------------------------------------------------------ */

static int pair_add(struct nl_sock *sk, const struct twin_link *tl)
{
	struct rtnl_link *link, *peer;
	struct nl_addr *mac = NULL, *twin_mac = NULL;
	struct nl_msg *msg;
	int ret = -ENOMEM;

	link = rtnl_link_veth_alloc();
	if (!link)
		return -ENOMEM;
	peer = rtnl_link_veth_get_peer(link);
	mac = nl_addr_build(AF_LLC, tl->mac, sizeof(tl->mac));
	twin_mac = nl_addr_build(AF_LLC, tl->twin_mac, sizeof(tl->twin_mac));
	if (!peer || !mac || !twin_mac)
		goto out;
	rtnl_link_set_name(link, tl->name);
	rtnl_link_set_addr(link, mac);
	rtnl_link_set_mtu(link, TWIN_LINK_MTU);
	rtnl_link_set_num_tx_queues(link, tl->queues);
	rtnl_link_set_num_rx_queues(link, tl->queues);
	rtnl_link_set_name(peer, tl->twin_name);
	rtnl_link_set_addr(peer, twin_mac);
	rtnl_link_set_mtu(peer, TWIN_LINK_TWIN_MTU);
	rtnl_link_set_num_tx_queues(peer, tl->queues);
	rtnl_link_set_num_rx_queues(peer, tl->queues);
	ret = rtnl_link_build_add_request(link, NLM_F_CREATE | NLM_F_EXCL, &msg);
	if (ret < 0)
		ret = netdev_nl_errno(ret);
	else
		ret = request_sync(sk, msg);
out:
	if (peer)
		rtnl_link_put(peer);
	nl_addr_put(mac);
	nl_addr_put(twin_mac);
	rtnl_link_veth_release(link);
	return ret;
}

/* NOARP, no MULTICAST (the kernel's wg device has neither), an alias, up;
 * then no IPv6 address generation (no link-local, as on the wg device),
 * which a kernel without IPv6 refuses with EAFNOSUPPORT: fine. */
static int link_setup(struct nl_sock *sk, int ifindex, const char *alias,
		      bool up)
{
	struct rtnl_link *changes = rtnl_link_alloc();
	int ret;

	if (!changes)
		return -ENOMEM;
	rtnl_link_inet6_set_addr_gen_mode(changes, IN6_ADDR_GEN_MODE_NONE);
	ret = link_change(sk, ifindex, changes);
	rtnl_link_put(changes);
	if (ret && ret != -EAFNOSUPPORT)
		return ret;

	changes = rtnl_link_alloc();
	if (!changes)
		return -ENOMEM;
	rtnl_link_set_flags(changes, IFF_NOARP | (up ? IFF_UP : 0));
	rtnl_link_unset_flags(changes, IFF_MULTICAST);
	if (alias)
		rtnl_link_set_ifalias(changes, alias);
	ret = link_change(sk, ifindex, changes);
	rtnl_link_put(changes);
	return ret;
}

int twin_link_create(struct twin_link *tl, const char *ifname,
		     unsigned int queues)
{
	static const uint8_t mac[6] = TWIN_LINK_MAC;
	static const uint8_t twin_mac[6] = TWIN_LINK_TWIN_MAC;
	char alias[IFNAMSIZ + sizeof(TWIN_ALIAS_PREFIX)];
	struct nl_sock *sk = NULL;
	int ret;

	memset(tl, 0, sizeof(*tl));
	ret = twin_name_derive(ifname, tl->twin_name);
	if (ret)
		return ret;
	if (queues > TWIN_LINK_MAX_QUEUES)
		return -EINVAL;
	snprintf(tl->name, sizeof(tl->name), "%s", ifname);
	memcpy(tl->mac, mac, sizeof(mac));
	memcpy(tl->twin_mac, twin_mac, sizeof(twin_mac));
	tl->queues = queues ? queues : 1;
	/* The kernel would say EEXIST too, but for the pair as a whole. */
	if (if_nametoindex(tl->name) || if_nametoindex(tl->twin_name))
		return -EEXIST;

	ret = sock_open(&sk);
	if (ret)
		return ret;
	ret = pair_add(sk, tl);
	if (ret)
		goto err_sock;
	tl->ifindex = (int)if_nametoindex(tl->name);
	tl->twin_ifindex = (int)if_nametoindex(tl->twin_name);
	if (!tl->ifindex || !tl->twin_ifindex) {
		ret = -ENODEV;
		goto err_delete;
	}
	alias_for(tl->name, alias, sizeof(alias));
	ret = link_setup(sk, tl->twin_ifindex, alias, true);
	if (ret)
		goto err_delete;
	ret = link_setup(sk, tl->ifindex, NULL, false);
	if (ret)
		goto err_delete;
	/* Required: without it captured packets carry partial checksums. */
	ret = ethtool_set(tl->name, ETHTOOL_STXCSUM, ETHTOOL_GTXCSUM, 0);
	if (ret) {
		log_error("%s: cannot turn TX checksum offload off: %s",
			  tl->name, strerror(-ret));
		goto err_delete;
	}
	/* Wanted, not required: GRO for injected packets, in a NAPI thread
	 * of its own rather than in the softirq of the injecting worker. */
	tl->gro = !ethtool_set(tl->name, ETHTOOL_SGRO, ETHTOOL_GGRO, 1);
	if (tl->gro)
		tl->threaded_napi = set_threaded_napi(sk, tl);
	if (!tl->gro)
		log_info("%s: cannot turn GRO on: received packets are not coalesced",
			 tl->name);
	else if (!tl->threaded_napi)
		log_info("%s: cannot set threaded NAPI (/sys/class/net is not this "
			 "namespace's?): received packets are coalesced in the injecting thread",
			 tl->name);
	nl_socket_free(sk);
	return 0;

err_delete:
	if (tl->twin_ifindex)
		(void)link_delete(sk, tl->twin_ifindex);
	else if (tl->ifindex)
		(void)link_delete(sk, tl->ifindex);
err_sock:
	nl_socket_free(sk);
	tl->ifindex = tl->twin_ifindex = 0;
	return ret;
}

void twin_link_destroy(struct twin_link *tl)
{
	struct nl_sock *sk = NULL;
	int ret;

	if (!tl->twin_ifindex)
		return;
	ret = sock_open(&sk);
	if (!ret) {
		ret = link_delete(sk, tl->twin_ifindex);
		nl_socket_free(sk);
	}
	if (ret && ret != -ENODEV)
		log_error("cannot delete %s (and %s): %s", tl->twin_name,
			  tl->name, strerror(-ret));
	tl->ifindex = tl->twin_ifindex = 0;
}

int twin_link_ifindex(const struct twin_link *tl)
{
	return tl->ifindex;
}

int twin_link_twin_ifindex(const struct twin_link *tl)
{
	return tl->twin_ifindex;
}

int twin_link_remove_leftover(const char *ifname)
{
	char twin_name[IFNAMSIZ], alias[IFNAMSIZ + sizeof(TWIN_ALIAS_PREFIX)];
	struct rtnl_link *link = NULL;
	const char *type, *have;
	struct nl_sock *sk = NULL;
	int ret;

	ret = twin_name_derive(ifname, twin_name);
	if (ret)
		return ret;
	if (!if_nametoindex(twin_name))
		return 0;
	ret = sock_open(&sk);
	if (ret)
		return ret;
	ret = rtnl_link_get_kernel(sk, 0, twin_name, &link);
	if (ret < 0) {
		ret = netdev_nl_errno(ret);
		if (ret == -ENODEV)
			ret = 0;
		goto out;
	}
	alias_for(ifname, alias, sizeof(alias));
	type = rtnl_link_get_type(link);
	have = rtnl_link_get_ifalias(link);
	if (!type || strcmp(type, "veth") || !have || strcmp(have, alias)) {
		ret = 0;
		goto out;
	}
	ret = link_delete(sk, rtnl_link_get_ifindex(link));
	if (!ret) {
		log_info("removed %s and %s, left behind by an xwgd that did not exit cleanly",
			 twin_name, ifname);
		ret = 1;
	} else if (ret == -ENODEV) {
		ret = 0;
	}
out:
	if (link)
		rtnl_link_put(link);
	nl_socket_free(sk);
	return ret;
}
