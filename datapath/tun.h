/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packets in and out of the TUN fd. The device is IFF_TUN | IFF_NO_PI
 * (ctl/netdev.c), so every read() is one raw IPv4 or IPv6 packet and every
 * write() injects one; with IFF_VNET_HDR (vnet true) each packet has a
 * virtio-net header in front, which lets the stack hand over TSO/USO
 * super-packets and take GRO ones back (datapath/offload.h).
 */
#ifndef XWG_TUN_H
#define XWG_TUN_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

/* Newer than Debian 12's kernel headers (Linux 6.2 and 6.1). */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

/* The largest packet a TUN read can return. The user may raise the MTU at
 * any time, and a super-packet is up to 64 KB, so receive buffers should
 * be this big, not MTU-sized. */
#define TUN_PACKET_MAX 65535U

struct tun_packet {
	void *buf;	/* in: caller's buffer */
	size_t cap;	/* in: its size */
	size_t len;	/* out: packet length (at most cap) */
	bool truncated;	/* out: the packet was longer than cap: drop it */
	/* out, with vnet: the packet's virtio-net header (else zeroed) */
	struct virtio_net_hdr vh;
};

/*
 * Reads packets from the non-blocking TUN fd into pkts[0..n) until the fd
 * is drained or the batch is full. Returns how many were read (0 when none
 * was waiting) or -errno when the first read fails. -EBADFD means the
 * interface was deleted, wherever it lives (the fd also polls EPOLLERR).
 */
int tun_read_batch(int fd, bool vnet, struct tun_packet *pkts, unsigned int n);

/*
 * Writes one IPv4/IPv6 packet into the interface's receive path (with
 * vnet, behind an empty header: no offload). Returns 0 or -errno
 * (-EBADFD: interface deleted; -EINVAL: not an IP packet).
 */
int tun_write(int fd, bool vnet, const void *pkt, size_t len);

/* Writes one packet gathered from iov (with vnet, iov[0] is its header).
 * 0 or -errno, as tun_write. */
int tun_writev(int fd, const struct iovec *iov, int iovcnt);

#endif
