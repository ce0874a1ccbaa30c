// SPDX-License-Identifier: GPL-2.0
/*
 * TUN fd reads and writes (see tun.h). The kernel offers no batched read on
 * a TUN fd without IFF_VNET_HDR; one read() per packet it is.
 */
#include <errno.h>
#include <unistd.h>

#include "datapath/tun.h"

int tun_read_batch(int fd, struct tun_packet *pkts, unsigned int n)
{
	unsigned int i = 0;

	while (i < n) {
		struct tun_packet *p = &pkts[i];
		ssize_t r = read(fd, p->buf, p->cap);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* Report what was read; a lasting error (EBADFD)
			 * comes back on the next call. */
			return i ? (int)i : -errno;
		}
		/* tun_put_user() returns the whole packet's length even when
		 * it had to cut the copy short. */
		p->truncated = (size_t)r > p->cap;
		p->len = p->truncated ? p->cap : (size_t)r;
		i++;
	}
	return (int)i;
}

int tun_write(int fd, const void *pkt, size_t len)
{
	ssize_t r;

	do
		r = write(fd, pkt, len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	/* A TUN write takes the whole packet or fails. */
	return (size_t)r == len ? 0 : -EIO;
}
