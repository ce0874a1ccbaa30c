/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tunnel interface of the portable data path: a TUN device created
 * through /dev/net/tun, configured through rtnetlink (libnl-route), and a
 * netlink monitor that tells the daemon when the interface is deleted, when
 * it is moved to another network namespace (which is NOT a deletion: the
 * interface keeps working there while the UDP sockets stay here, exactly
 * like the kernel's WireGuard), when a local address disappears and when
 * routes change (both invalidate cached sticky sources).
 *
 * Every function returns 0 (or an fd) on success and -errno on failure;
 * kernel errors are passed through unchanged.
 */
#ifndef XWG_NETDEV_H
#define XWG_NETDEV_H

#include <stdbool.h>
#include <stddef.h>

/* What a fresh interface gets before wg-quick or the user picks another:
 * 1500 minus the IPv6 + UDP + WireGuard data header overhead (80 bytes). */
#define NETDEV_DEFAULT_MTU 1420U

/*
 * Creates the TUN interface IFNAME (IFF_TUN | IFF_NO_PI, not persistent, so
 * closing the fd deletes it) and returns its fd, non-blocking and
 * close-on-exec; *ifindex receives its index. The interface gets the flags
 * of the kernel's wg device (POINTOPOINT, NOARP, no MULTICAST) but stays
 * down with the TUN default MTU: call netdev_link_set_mtu/_set_up.
 * Returns -EEXIST when an interface of that name already exists (of any
 * kind), -EINVAL / -ENAMETOOLONG for an unusable name.
 * With offloads non-NULL the fd carries a virtio-net header in front of
 * every packet (IFF_VNET_HDR, datapath/tun.h) and *offloads receives the
 * TUN_F_* set the kernel accepted (checksum, TSO4/6 with ECN, USO4/6 on
 * Linux 6.2+; 0 if none): the stack then hands over super-packets and
 * partial checksums (datapath/offload.h).
 */
int netdev_tun_create(const char *ifname, int *ifindex, unsigned int *offloads);
/* Closes the TUN fd, which deletes the interface wherever it now lives. */
void netdev_tun_destroy(int tun_fd);
/*
 * True while the interface behind tun_fd exists, in this or any other
 * network namespace. Deletion detaches the fd inside the kernel (TUNGETIFF
 * then fails with EBADFD); a move to another namespace does not. Takes the
 * RTNL lock in the kernel: an event-path check, not a per-packet one.
 */
bool netdev_tun_is_alive(int tun_fd);

/* rtnetlink configuration of a link in the caller's network namespace. */
int netdev_link_set_mtu(int ifindex, unsigned int mtu);
int netdev_link_set_up(int ifindex);
int netdev_link_set_down(int ifindex);

/*
 * Callbacks of the monitor. link_gone, addr_removed and routes_changed are
 * required; link_moved may be NULL. They run inside
 * netdev_monitor_process().
 */
struct netdev_events {
	/* The interface was deleted: the daemon should exit. */
	void (*link_gone)(void *ctx);
	/* The interface left this namespace but still exists: keep running;
	 * further netdev_link_* calls on its old ifindex no longer apply. */
	void (*link_moved)(void *ctx);
	/* A local address of this namespace went away (family AF_INET with a
	 * struct in_addr, or AF_INET6 with a struct in6_addr): forget it as
	 * a sticky source. */
	void (*addr_removed)(void *ctx, int family, const void *addr);
	/* Some route of this namespace was added or removed (coalesced: once
	 * per netdev_monitor_process call), or events were lost: cached
	 * sticky sources may now leave through the wrong interface. */
	void (*routes_changed)(void *ctx);
	void *ctx;
};

struct netdev_monitor;

/*
 * A non-blocking rtnetlink socket subscribed to link, IPv4/IPv6 address and
 * IPv4/IPv6 route events of the caller's namespace. ifindex is the tunnel
 * interface; tun_fd its TUN fd, or -1 for an interface without one (the
 * monitor then relies on the IFLA_NEW_NETNSID attribute alone). The fd
 * stays owned by the caller.
 * Once the interface has moved away, its deletion over there sends nothing
 * here: the TUN fd tells instead (EPOLLERR, read() fails with -EBADFD, see
 * datapath/tun.h). Watch both.
 */
int netdev_monitor_create(struct netdev_monitor **mon, int ifindex, int tun_fd);
/* The fd to add to the daemon's epoll set (EPOLLIN). */
/* A second interface whose deletion counts as the device's (the fast
 * path's hidden twin: it stays here when wg0 moves to another namespace,
 * and goes with wg0 when wg0 is deleted there). */
void netdev_monitor_companion(struct netdev_monitor *mon, int ifindex);
int netdev_monitor_fd(const struct netdev_monitor *mon);
/* Drains every pending event and reports it through ev. Returns 0 or
 * -errno (never -EAGAIN). */
int netdev_monitor_process(struct netdev_monitor *mon,
			   const struct netdev_events *ev);
void netdev_monitor_destroy(struct netdev_monitor *mon);

/* A name the kernel accepts for a new interface: 1 to IF_NAMESIZE-1
 * characters, no '/', ':', '%' or whitespace, not "." or "..". */
bool netdev_ifname_is_valid(const char *name);

/* ethtool, for the fast path (ctl/maps/, ctl/fastpath.c). */
/* The ethtool ioctl (SIOCETHTOOL) on IFNAME of this namespace: cmd is one
 * of linux/ethtool.h's command structs, its .cmd set; the kernel fills it
 * in. */
int netdev_ethtool(const char *ifname, void *cmd);
/* IFNAME's driver (ethtool's "driver", ETHTOOL_GDRVINFO), truncated to
 * size; "" on failure. */
int netdev_driver_name(const char *ifname, char *buf, size_t size);
/* IFNAME's RX queues: its RX-only plus combined channels
 * (ETHTOOL_GCHANNELS), 0 for a device that reports none. */
int netdev_rx_queues(const char *ifname, unsigned int *n);

/* rtnetlink plumbing shared with ctl/maps/twin.c. */
struct nl_sock;
struct nl_msg;
/* A libnl NLE_* code as a -errno value. */
int netdev_nl_errno(int nle);
/* Send one request and wait for its acknowledgement: 0 or the kernel's own
 * -errno (libnl would fold it into coarser NLE_* codes). msg is not freed. */
int netdev_nl_request(struct nl_sock *sk, struct nl_msg *msg);

#endif
