// SPDX-License-Identifier: GPL-2.0
/*
 * TUN fd reads and writes (see tun.h). The kernel offers no batched read on
 * a TUN fd; one read() per packet it is (with offloads, one per
 * super-packet of up to 64 KB, which is what makes them pay).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "datapath/tun.h"

int tun_read_batch(int fd, bool vnet, struct tun_packet *pkts, unsigned int n)
{
	unsigned int i = 0;

	while (i < n) {
		struct tun_packet *p = &pkts[i];
		struct iovec iov[2] = {
			{ .iov_base = &p->vh, .iov_len = sizeof(p->vh) },
			{ .iov_base = p->buf, .iov_len = p->cap },
		};
		ssize_t r;

		if (vnet)
			r = readv(fd, iov, 2);
		else
			r = read(fd, p->buf, p->cap);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* Report what was read; a lasting error (EBADFD)
			 * comes back on the next call. */
			return i ? (int)i : -errno;
		}
		if (vnet) {
			if ((size_t)r < sizeof(p->vh)) {
				/* Cannot happen with a header size the
				 * kernel accepted; treat as cut short. */
				p->len = 0;
				p->truncated = true;
				i++;
				continue;
			}
			r -= (ssize_t)sizeof(p->vh);
		} else {
			memset(&p->vh, 0, sizeof(p->vh));
		}
		/* tun_put_user() returns the whole packet's length even when
		 * it had to cut the copy short. */
		p->truncated = (size_t)r > p->cap;
		p->len = p->truncated ? p->cap : (size_t)r;
		i++;
	}
	return (int)i;
}

int tun_writev(int fd, const struct iovec *iov, int iovcnt)
{
	size_t want = 0;
	ssize_t r;
	int i;

	for (i = 0; i < iovcnt; i++)
		want += iov[i].iov_len;
	do
		r = writev(fd, iov, iovcnt);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	/* A TUN write takes the whole packet or fails. */
	return (size_t)r == want ? 0 : -EIO;
}

int tun_write(int fd, bool vnet, const void *pkt, size_t len)
{
	struct virtio_net_hdr vh = { 0 };
	struct iovec iov[2] = {
		{ .iov_base = &vh, .iov_len = sizeof(vh) },
		{ .iov_base = (void *)pkt, .iov_len = len },
	};

	return vnet ? tun_writev(fd, iov, 2) : tun_writev(fd, iov + 1, 1);
}
