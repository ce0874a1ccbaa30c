// SPDX-License-Identifier: GPL-2.0
/*
 * The outer UDP sockets (see udp.h).
 *
 * Sticky sources: a reply should leave from the address the peer wrote to,
 * or a multihomed host answers from an address the peer (or its NAT) does
 * not expect. The kernel's WireGuard routes with that source and, when the
 * address is gone or no longer usable, drops it and lets routing choose
 * (socket.c, send4/send6). Here the source travels as IP_PKTINFO /
 * IPV6_PKTINFO; the kernel refuses an unusable one with EINVAL,
 * EADDRNOTAVAIL or ENETUNREACH, and the datagram is sent again without it.
 *
 * The outgoing interface is not pinned (ipi_ifindex stays 0) except to scope
 * a link-local IPv6 source: like the kernel's WireGuard, routing picks the
 * interface. A pinned interface would make the kernel assume an unroutable
 * destination is on-link there (ip_route_output_key_hash_rcu), a silent
 * black hole instead of an error after a route change.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "datapath/udp.h"

/* Socket buffers: enough for a few thousand full-size datagrams in flight,
 * so a burst from the crypto pool does not hit EAGAIN. */
#define SOCKET_BUFFER_BYTES (4 << 20)
/* Random-port retries when the port IPv4 got is taken on IPv6 (the kernel's
 * wg_socket_init tries as often). */
#define RANDOM_PORT_TRIES 100
/* Send backpressure: at most this many waits of this long per call. */
#define SEND_WAITS 3
#define SEND_WAIT_MS 2

union pktinfo_cmsg {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
};
_Static_assert(sizeof(struct in6_pktinfo) >= sizeof(struct in_pktinfo),
	       "one control buffer fits both pktinfo kinds");

static int set_int(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value)) ? -errno : 0;
}

/* Best effort: SO_*BUFFORCE passes net.core.[rw]mem_max with
 * CAP_NET_ADMIN; otherwise take what the limit allows. */
static void set_buffers(int fd)
{
	if (set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, SOCKET_BUFFER_BYTES))
		(void)set_int(fd, SOL_SOCKET, SO_RCVBUF, SOCKET_BUFFER_BYTES);
	if (set_int(fd, SOL_SOCKET, SO_SNDBUFFORCE, SOCKET_BUFFER_BYTES))
		(void)set_int(fd, SOL_SOCKET, SO_SNDBUF, SOCKET_BUFFER_BYTES);
}

/* One socket of the pair, bound to the wildcard address on port (0 picks
 * one; *bound receives it). Returns the fd or -errno. */
static int socket_open(int family, uint16_t port, uint32_t fwmark,
		       uint16_t *bound)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} addr;
	socklen_t len;
	int fd, ret;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	memset(&addr, 0, sizeof(addr));
	if (family == AF_INET) {
		addr.in4.sin_family = AF_INET;
		addr.in4.sin_port = htons(port);
		addr.in4.sin_addr.s_addr = htonl(INADDR_ANY);
		len = sizeof(addr.in4);
		/* Fragment rather than fail: the tunnel MTU may exceed the
		 * path's, as with the kernel's wg (DF clear). */
		ret = set_int(fd, IPPROTO_IP, IP_PKTINFO, 1);
		if (!ret)
			ret = set_int(fd, IPPROTO_IP, IP_MTU_DISCOVER,
				      IP_PMTUDISC_DONT);
	} else {
		addr.in6.sin6_family = AF_INET6;
		addr.in6.sin6_port = htons(port);
		addr.in6.sin6_addr = in6addr_any;
		len = sizeof(addr.in6);
		ret = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
		if (!ret)
			ret = set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
		if (!ret)
			ret = set_int(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER,
				      IPV6_PMTUDISC_DONT);
	}
	if (ret)
		goto err_close;
	set_buffers(fd);
	if (fwmark) {
		ret = set_int(fd, SOL_SOCKET, SO_MARK, (int)fwmark);
		if (ret)
			goto err_close;
	}
	if (bind(fd, &addr.sa, len)) {
		ret = -errno;
		goto err_close;
	}
	len = sizeof(addr);
	if (getsockname(fd, &addr.sa, &len)) {
		ret = -errno;
		goto err_close;
	}
	*bound = ntohs(family == AF_INET ? addr.in4.sin_port :
					   addr.in6.sin6_port);
	return fd;

err_close:
	close(fd);
	return ret;
}

/* Both sockets on one port, as in the kernel's wg_socket_init(). */
static int pair_open(struct udp_socks *s, uint16_t port, uint32_t fwmark)
{
	int tries = port ? 1 : RANDOM_PORT_TRIES;
	uint16_t bound, bound6;
	int fd4, fd6;

	while (tries--) {
		fd4 = socket_open(AF_INET, port, fwmark, &bound);
		if (fd4 < 0)
			return fd4;
		fd6 = socket_open(AF_INET6, bound, fwmark, &bound6);
		if (fd6 >= 0 || fd6 == -EAFNOSUPPORT) {
			/* Without IPv6 (ipv6.disable=1), IPv4 alone. */
			s->fd4 = fd4;
			s->fd6 = fd6 >= 0 ? fd6 : -1;
			s->port = bound;
			s->fwmark = fwmark;
			return 0;
		}
		close(fd4);
		if (fd6 != -EADDRINUSE)
			return fd6;
	}
	return -EADDRINUSE;
}

int udp_socks_open(struct udp_socks *s, uint16_t port, uint32_t fwmark)
{
	s->fd4 = s->fd6 = -1;
	s->port = 0;
	s->fwmark = 0;
	return pair_open(s, port, fwmark);
}

int udp_socks_rebind(struct udp_socks *s, uint16_t port)
{
	struct udp_socks fresh;
	int ret;

	/* A random port asked again still means a new one, as in the
	 * kernel's set_port(): only an equal explicit port is a no-op. */
	if (port == s->port && s->fd4 >= 0)
		return 0;
	ret = pair_open(&fresh, port, s->fwmark);
	if (ret)
		return ret;
	udp_socks_close(s);
	*s = fresh;
	return 0;
}

int udp_socks_set_fwmark(struct udp_socks *s, uint32_t fwmark)
{
	int ret;

	/* Even clearing a mark needs CAP_NET_ADMIN or CAP_NET_RAW: skip the
	 * call when nothing changes. */
	if (fwmark == s->fwmark)
		return 0;
	ret = set_int(s->fd4, SOL_SOCKET, SO_MARK, (int)fwmark);
	if (ret)
		return ret;
	if (s->fd6 >= 0) {
		ret = set_int(s->fd6, SOL_SOCKET, SO_MARK, (int)fwmark);
		if (ret) {
			(void)set_int(s->fd4, SOL_SOCKET, SO_MARK,
				      (int)s->fwmark);
			return ret;
		}
	}
	s->fwmark = fwmark;
	return 0;
}

uint16_t udp_socks_port(const struct udp_socks *s)
{
	return s->port;
}

void udp_socks_close(struct udp_socks *s)
{
	if (s->fd4 >= 0)
		close(s->fd4);
	if (s->fd6 >= 0)
		close(s->fd6);
	s->fd4 = s->fd6 = -1;
	s->port = 0;
}

/* --- receive ------------------------------------------------------------ */

static void rx_parse_pktinfo(struct msghdr *mh, struct udp_endpoint *ep)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			/* The local address the kernel would answer from:
			 * the destination itself for unicast. */
			ep->src4 = pi.ipi_spec_dst;
			ep->src_ifindex = pi.ipi_ifindex;
			ep->has_src = true;
		} else if (c->cmsg_level == IPPROTO_IPV6 &&
			   c->cmsg_type == IPV6_PKTINFO &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			ep->src6 = pi.ipi6_addr;
			ep->src_ifindex = (int)pi.ipi6_ifindex;
			ep->has_src = true;
		}
	}
}

int udp_recv_batch(int fd, struct udp_rx *rx, unsigned int n)
{
	struct mmsghdr mm[UDP_BATCH_MAX];
	struct iovec iov[UDP_BATCH_MAX];
	union pktinfo_cmsg cbuf[UDP_BATCH_MAX];
	unsigned int total = 0, chunk, k;
	int r;

	while (total < n) {
		chunk = n - total < UDP_BATCH_MAX ? n - total : UDP_BATCH_MAX;
		for (k = 0; k < chunk; k++) {
			struct udp_rx *x = &rx[total + k];

			memset(&x->ep, 0, sizeof(x->ep));
			iov[k].iov_base = x->buf;
			iov[k].iov_len = x->cap;
			memset(&mm[k], 0, sizeof(mm[k]));
			mm[k].msg_hdr.msg_name = &x->ep.addr;
			mm[k].msg_hdr.msg_namelen = sizeof(x->ep.addr);
			mm[k].msg_hdr.msg_iov = &iov[k];
			mm[k].msg_hdr.msg_iovlen = 1;
			mm[k].msg_hdr.msg_control = cbuf[k].buf;
			mm[k].msg_hdr.msg_controllen = sizeof(cbuf[k].buf);
		}
		r = recvmmsg(fd, mm, chunk, MSG_DONTWAIT, NULL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return total ? (int)total : -errno;
		}
		for (k = 0; k < (unsigned int)r; k++) {
			struct udp_rx *x = &rx[total + k];

			x->truncated = mm[k].msg_hdr.msg_flags & MSG_TRUNC;
			x->len = mm[k].msg_len < x->cap ? mm[k].msg_len : x->cap;
			rx_parse_pktinfo(&mm[k].msg_hdr, &x->ep);
		}
		total += (unsigned int)r;
		if ((unsigned int)r < chunk)
			break;
	}
	return (int)total;
}

/* --- send --------------------------------------------------------------- */

static bool ipv6_is_link_local(const struct in6_addr *a)
{
	return a->s6_addr[0] == 0xfe && (a->s6_addr[1] & 0xc0) == 0x80;
}

/* Fills msg for one datagram, with its source as pktinfo when it has one. */
static void tx_prepare(struct msghdr *mh, struct iovec *iov,
		       union pktinfo_cmsg *cbuf, struct udp_tx *t)
{
	struct cmsghdr *c;

	iov->iov_base = (void *)t->buf;
	iov->iov_len = t->len;
	memset(mh, 0, sizeof(*mh));
	mh->msg_name = &t->ep.addr;
	mh->msg_iov = iov;
	mh->msg_iovlen = 1;
	if (t->ep.addr.sa.sa_family == AF_INET)
		mh->msg_namelen = sizeof(t->ep.addr.in4);
	else
		mh->msg_namelen = sizeof(t->ep.addr.in6);
	if (!t->ep.has_src)
		return;

	memset(cbuf, 0, sizeof(*cbuf));
	mh->msg_control = cbuf->buf;
	c = (struct cmsghdr *)cbuf->buf;
	if (t->ep.addr.sa.sa_family == AF_INET) {
		struct in_pktinfo pi = { .ipi_spec_dst = t->ep.src4 };

		mh->msg_controllen = CMSG_SPACE(sizeof(pi));
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	} else {
		struct in6_pktinfo pi = { .ipi6_addr = t->ep.src6 };

		/* Only a link-local source needs its interface to mean
		 * anything. */
		if (ipv6_is_link_local(&t->ep.src6))
			pi.ipi6_ifindex = (unsigned int)t->ep.src_ifindex;
		mh->msg_controllen = CMSG_SPACE(sizeof(pi));
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
}

/* The errors with which routing refuses a source that is no longer local
 * or no longer usable towards this destination. */
static bool src_is_refused(int err)
{
	return err == EINVAL || err == EADDRNOTAVAIL || err == ENETUNREACH;
}

static bool wait_writable(int fd, int *waits_left)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	if (*waits_left <= 0)
		return false;
	(*waits_left)--;
	return poll(&p, 1, SEND_WAIT_MS) > 0;
}

/* Sends tx[0..m), all of one family, through fd. Returns how many went. */
static unsigned int send_run(int fd, struct udp_tx *tx, unsigned int m,
			     int *waits_left)
{
	struct mmsghdr mm[UDP_BATCH_MAX];
	struct iovec iov[UDP_BATCH_MAX];
	union pktinfo_cmsg cbuf[UDP_BATCH_MAX];
	unsigned int off = 0, sent = 0, k;
	int r, e;

	for (k = 0; k < m; k++) {
		tx_prepare(&mm[k].msg_hdr, &iov[k], &cbuf[k], &tx[k]);
		mm[k].msg_len = 0;
	}
	while (off < m) {
		r = sendmmsg(fd, mm + off, m - off, MSG_DONTWAIT);
		if (r > 0) {
			sent += (unsigned int)r;
			off += (unsigned int)r;
			continue;
		}
		/* sendmmsg reports an error only for the first datagram it
		 * was given; that is tx[off]. */
		e = r < 0 ? errno : EIO;
		if (e == EINTR)
			continue;
		if (e == EAGAIN || e == EWOULDBLOCK) {
			if (wait_writable(fd, waits_left))
				continue;
			for (; off < m; off++)
				tx[off].err = -EAGAIN;
			break;
		}
		if (tx[off].ep.has_src && !tx[off].src_cleared &&
		    src_is_refused(e)) {
			/* Same datagram again, routed without the source. */
			tx[off].src_cleared = true;
			mm[off].msg_hdr.msg_control = NULL;
			mm[off].msg_hdr.msg_controllen = 0;
			continue;
		}
		tx[off].err = -e;
		off++;
	}
	return sent;
}

int udp_send_batch(struct udp_socks *s, struct udp_tx *tx, unsigned int n)
{
	int waits_left = SEND_WAITS;
	unsigned int i, j, sent = 0;

	for (i = 0; i < n; i++) {
		tx[i].err = 0;
		tx[i].src_cleared = false;
	}
	for (i = 0; i < n; i = j) {
		int family = udp_endpoint_family(&tx[i].ep);
		int fd = family == AF_INET ? s->fd4 :
			 family == AF_INET6 ? s->fd6 : -1;

		/* A run: consecutive datagrams of one family. */
		for (j = i + 1; j < n && j - i < UDP_BATCH_MAX &&
				udp_endpoint_family(&tx[j].ep) == family;
		     j++)
			;
		if (fd < 0) {
			int err = family == AF_INET || family == AF_INET6 ?
					  -EAFNOSUPPORT : -EDESTADDRREQ;

			for (; i < j; i++)
				tx[i].err = err;
			continue;
		}
		sent += send_run(fd, tx + i, j - i, &waits_left);
	}
	return (int)sent;
}
