// SPDX-License-Identifier: GPL-2.0
/*
 * netdev_probe [-n] IFNAME: drives ctl/netdev.c and datapath/tun.c for
 * selftests/netdev_smoke.sh. Creates the TUN interface, sets MTU 1420 and
 * up, then reports on stdout, one line each (-n: the monitor is not given
 * the TUN fd, so it must tell a move from a deletion by IFLA_NEW_NETNSID):
 *   ready ifindex=N
 *   event link_gone | event link_moved | event routes_changed
 *   event addr_removed inet|inet6 ADDRESS
 *   alive yes|no              (on SIGUSR1: netdev_tun_is_alive)
 *   echo-reply                (answered an IPv4 ICMP echo from the TUN)
 *   tun-gone ERROR            (the TUN fd failed: interface deleted)
 *   create failed: ERRNO MESSAGE
 * Exits 0 after link_gone, one second after tun-gone (the fd can fail
 * before the monitor hears of the deletion: give it the chance to report),
 * or on SIGTERM/SIGINT (closing the TUN fd, which deletes the interface).
 * Not part of the unit tests.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ctl/netdev.h"
#include "datapath/tun.h"

static bool done;

static void on_link_gone(void *ctx)
{
	(void)ctx;
	printf("event link_gone\n");
	done = true;
}

static void on_link_moved(void *ctx)
{
	(void)ctx;
	printf("event link_moved\n");
}

static void on_addr_removed(void *ctx, int family, const void *addr)
{
	char s[INET6_ADDRSTRLEN];

	(void)ctx;
	inet_ntop(family, addr, s, sizeof(s));
	printf("event addr_removed %s %s\n",
	       family == AF_INET ? "inet" : "inet6", s);
}

static void on_routes_changed(void *ctx)
{
	(void)ctx;
	printf("event routes_changed\n");
}

static uint16_t csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Turns an IPv4 ICMP echo request into its reply, in place. */
static bool echo_to_reply(uint8_t *pkt, size_t len)
{
	size_t ihl;
	uint8_t tmp[4];
	uint16_t c;

	if (len < 20 || pkt[0] >> 4 != 4)
		return false;
	ihl = (size_t)(pkt[0] & 0xf) * 4;
	if (ihl < 20 || len < ihl + 8 || pkt[9] != 1 || pkt[ihl] != 8)
		return false;
	/* Swapping the addresses leaves the header checksum unchanged. */
	memcpy(tmp, pkt + 12, 4);
	memcpy(pkt + 12, pkt + 16, 4);
	memcpy(pkt + 16, tmp, 4);
	pkt[ihl] = 0;
	pkt[ihl + 2] = pkt[ihl + 3] = 0;
	c = csum(pkt + ihl, len - ihl);
	pkt[ihl + 2] = (uint8_t)(c >> 8);
	pkt[ihl + 3] = (uint8_t)c;
	return true;
}

static uint8_t bufs[8][TUN_PACKET_MAX];

int main(int argc, char **argv)
{
	struct netdev_events ev = {
		.link_gone = on_link_gone, .link_moved = on_link_moved,
		.addr_removed = on_addr_removed,
		.routes_changed = on_routes_changed,
	};
	struct tun_packet pkts[8];
	struct netdev_monitor *mon;
	struct epoll_event e;
	sigset_t mask;
	int tun, ifindex, ep, sfd, ret, i, timeout = -1;
	bool no_fd = argc == 3 && !strcmp(argv[1], "-n");

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2 + no_fd) {
		fprintf(stderr, "usage: %s [-n] IFNAME\n", argv[0]);
		return 2;
	}
	tun = netdev_tun_create(argv[1 + no_fd], &ifindex, NULL);
	if (tun < 0) {
		printf("create failed: %d %s\n", tun, strerror(-tun));
		return 3;
	}
	ret = netdev_link_set_mtu(ifindex, NETDEV_DEFAULT_MTU);
	if (!ret)
		ret = netdev_link_set_up(ifindex);
	if (!ret)
		ret = netdev_monitor_create(&mon, ifindex, no_fd ? -1 : tun);
	if (ret) {
		printf("setup failed: %d %s\n", ret, strerror(-ret));
		return 4;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	e.events = EPOLLIN;
	e.data.fd = tun;
	epoll_ctl(ep, EPOLL_CTL_ADD, tun, &e);
	e.data.fd = netdev_monitor_fd(mon);
	epoll_ctl(ep, EPOLL_CTL_ADD, e.data.fd, &e);
	e.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &e);
	printf("ready ifindex=%d\n", ifindex);

	while (!done) {
		ret = epoll_wait(ep, &e, 1, timeout);
		if (ret == 0)
			break;
		if (ret < 0)
			continue;
		if (e.data.fd == sfd) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGUSR1) {
				printf("alive %s\n",
				       netdev_tun_is_alive(tun) ? "yes" : "no");
				continue;
			}
			break;
		} else if (e.data.fd == tun) {
			for (i = 0; i < 8; i++) {
				pkts[i].buf = bufs[i];
				pkts[i].cap = sizeof(bufs[i]);
			}
			ret = tun_read_batch(tun, false, pkts, 8);
			if (ret < 0) {
				printf("tun-gone %s\n", strerrorname_np(-ret));
				printf("alive %s\n",
				       netdev_tun_is_alive(tun) ? "yes" : "no");
				epoll_ctl(ep, EPOLL_CTL_DEL, tun, NULL);
				timeout = 1000;
				continue;
			}
			for (i = 0; i < ret; i++)
				if (echo_to_reply(bufs[i], pkts[i].len) &&
				    !tun_write(tun, false, bufs[i], pkts[i].len))
					printf("echo-reply\n");
		} else {
			ret = netdev_monitor_process(mon, &ev);
			if (ret)
				printf("monitor error %d\n", ret);
		}
	}
	if (done)
		printf("alive %s\n", netdev_tun_is_alive(tun) ? "yes" : "no");
	netdev_monitor_destroy(mon);
	netdev_tun_destroy(tun);
	close(ep);
	close(sfd);
	return 0;
}
