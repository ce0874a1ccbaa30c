/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packets in and out of the TUN fd of the portable data path. The device is
 * IFF_TUN | IFF_NO_PI (ctl/netdev.c), so every read() is one raw IPv4 or
 * IPv6 packet and every write() injects one. No virtio-net header yet.
 */
#ifndef XWG_TUN_H
#define XWG_TUN_H

#include <stdbool.h>
#include <stddef.h>

/* The largest packet a TUN read can return. The user may raise the MTU at
 * any time, so receive buffers should be this big, not MTU-sized. */
#define TUN_PACKET_MAX 65535U

struct tun_packet {
	void *buf;	/* in: caller's buffer */
	size_t cap;	/* in: its size */
	size_t len;	/* out: packet length (at most cap) */
	bool truncated;	/* out: the packet was longer than cap: drop it */
};

/*
 * Reads packets from the non-blocking TUN fd into pkts[0..n) until the fd
 * is drained or the batch is full. Returns how many were read (0 when none
 * was waiting) or -errno when the first read fails. -EBADFD means the
 * interface was deleted, wherever it lives (the fd also polls EPOLLERR).
 */
int tun_read_batch(int fd, struct tun_packet *pkts, unsigned int n);

/*
 * Writes one IPv4/IPv6 packet into the interface's receive path. Returns 0
 * or -errno (-EBADFD: interface deleted; -EINVAL: not an IP packet).
 */
int tun_write(int fd, const void *pkt, size_t len);

#endif
