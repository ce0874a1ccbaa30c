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
#include <netinet/udp.h>
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

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* A received datagram's local address, and with UDP GRO the segment size
 * of a coalesced one. */
union pktinfo_cmsg {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int))];
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

/* UDP_GRO (Linux 5.0) on both sockets, as s->gro says; best effort (a
 * kernel without it delivers datagram by datagram, which is still right). */
static void gro_apply(struct udp_socks *s)
{
	(void)set_int(s->fd4, SOL_UDP, UDP_GRO, s->gro);
	if (s->fd6 >= 0)
		(void)set_int(s->fd6, SOL_UDP, UDP_GRO, s->gro);
}

void udp_socks_set_gro(struct udp_socks *s, bool on)
{
	s->gro = on;
	if (s->fd4 >= 0)
		gro_apply(s);
}

int udp_socks_open(struct udp_socks *s, uint16_t port, uint32_t fwmark)
{
	s->fd4 = s->fd6 = -1;
	s->port = 0;
	s->fwmark = 0;
	s->gro = false;
	udp_socks_set_gso(s, UDP_GSO_ON);
	s->gso_stats = (struct udp_gso_stats){ 0 };
	return pair_open(s, port, fwmark);
}

int udp_socks_stage(const struct udp_socks *s, uint16_t port, struct udp_socks *fresh)
{
	fresh->fd4 = fresh->fd6 = -1;
	fresh->port = 0;
	/* A random port asked again still means a new one, as in the
	 * kernel's set_port(): only an equal explicit port is a no-op. */
	if (port == s->port && s->fd4 >= 0)
		return 0;
	return pair_open(fresh, port, s->fwmark);
}

void udp_socks_commit(struct udp_socks *s, struct udp_socks *fresh)
{
	if (fresh->fd4 < 0)
		return;
	udp_socks_close(s);
	/* Only the sockets change: the GSO settings stay. */
	s->fd4 = fresh->fd4;
	s->fd6 = fresh->fd6;
	s->port = fresh->port;
	fresh->fd4 = fresh->fd6 = -1;
	if (s->gro)
		gro_apply(s);
}

int udp_socks_rebind(struct udp_socks *s, uint16_t port)
{
	struct udp_socks fresh;
	int ret = udp_socks_stage(s, port, &fresh);

	if (!ret)
		udp_socks_commit(s, &fresh);
	return ret;
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

void udp_socks_set_gso(struct udp_socks *s, enum udp_gso_mode mode)
{
	unsigned int f;

	s->gso = mode;
	for (f = 0; f < 2; f++) {
		s->gso_limit[f] = UINT16_MAX;
		s->gso_skipped[f] = 0;
	}
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

static void rx_parse_cmsg(struct msghdr *mh, struct udp_endpoint *ep, uint16_t *gso_size)
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
		} else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
			   c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int size;

			memcpy(&size, CMSG_DATA(c), sizeof(size));
			*gso_size = size > 0 && size <= UINT16_MAX ? (uint16_t)size : 0;
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
			x->gso_size = 0;
			rx_parse_cmsg(&mm[k].msg_hdr, &x->ep, &x->gso_size);
		}
		total += (unsigned int)r;
		if ((unsigned int)r < chunk)
			break;
	}
	return (int)total;
}

/* --- send ------------------------------------------------------------- */

/* The most segments in one GSO message: UDP_MAX_SEGMENTS up to Linux 6.10
 * (later kernels take 128, but 64 full-size datagrams already pass the
 * 64 KiB limit of one message). */
#define GSO_SEGMENTS_MAX 64U
/* Datagrams sent one by one because of a refusal before GSO is tried
 * again at full size. A probe that fails costs one syscall. */
#define GSO_RETRY 65536U

/* Room for a source (pktinfo) and a segment size in one message. */
union tx_cmsg {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
		 CMSG_SPACE(sizeof(uint16_t))];
	struct cmsghdr align;
};

/* One sendmmsg call's worth of messages: message k carries
 * tx[first[k] .. first[k] + count[k]), more than one only with GSO. */
struct tx_msgs {
	struct mmsghdr mm[UDP_BATCH_MAX];
	struct iovec iov[UDP_BATCH_MAX];
	union tx_cmsg cbuf[UDP_BATCH_MAX];
	unsigned int first[UDP_BATCH_MAX];
	unsigned int count[UDP_BATCH_MAX];
	unsigned int n;
};

static bool ipv6_is_link_local(const struct in6_addr *a)
{
	return a->s6_addr[0] == 0xfe && (a->s6_addr[1] & 0xc0) == 0x80;
}

static unsigned int family_index(int family)
{
	return family == AF_INET6;
}

/* Whether two datagrams would leave with the same addresses: everything
 * tx_prepare() hands the kernel, and nothing more. */
static bool is_same_flow(const struct udp_endpoint *a,
			 const struct udp_endpoint *b)
{
	if (a->addr.sa.sa_family != b->addr.sa.sa_family ||
	    a->has_src != b->has_src)
		return false;
	if (a->addr.sa.sa_family == AF_INET)
		return a->addr.in4.sin_port == b->addr.in4.sin_port &&
		       a->addr.in4.sin_addr.s_addr ==
			       b->addr.in4.sin_addr.s_addr &&
		       (!a->has_src || a->src4.s_addr == b->src4.s_addr);
	if (a->addr.in6.sin6_port != b->addr.in6.sin6_port ||
	    a->addr.in6.sin6_flowinfo != b->addr.in6.sin6_flowinfo ||
	    a->addr.in6.sin6_scope_id != b->addr.in6.sin6_scope_id ||
	    memcmp(&a->addr.in6.sin6_addr, &b->addr.in6.sin6_addr,
		   sizeof(a->addr.in6.sin6_addr)))
		return false;
	if (!a->has_src)
		return true;
	return !memcmp(&a->src6, &b->src6, sizeof(a->src6)) &&
	       (!ipv6_is_link_local(&a->src6) ||
		a->src_ifindex == b->src_ifindex);
}

static struct cmsghdr *cmsg_put(struct msghdr *mh, int level, int type,
				const void *data, size_t len)
{
	struct cmsghdr *c = (struct cmsghdr *)((char *)mh->msg_control +
					       mh->msg_controllen);

	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
	mh->msg_controllen += CMSG_SPACE(len);
	return c;
}

/* Fills mh for tx[0..n): one datagram, or with n > 1 a GSO message of
 * segments tx[0].len long. The source, when there is one, goes as
 * pktinfo; the source comes first so that dropping it leaves a valid
 * control buffer. */
static void tx_prepare(struct msghdr *mh, struct iovec *iov,
		       union tx_cmsg *cbuf, struct udp_tx *tx, unsigned int n)
{
	struct udp_tx *t = &tx[0];
	unsigned int k;

	for (k = 0; k < n; k++) {
		iov[k].iov_base = (void *)tx[k].buf;
		iov[k].iov_len = tx[k].len;
	}
	memset(mh, 0, sizeof(*mh));
	mh->msg_name = &t->ep.addr;
	mh->msg_iov = iov;
	mh->msg_iovlen = n;
	if (t->ep.addr.sa.sa_family == AF_INET)
		mh->msg_namelen = sizeof(t->ep.addr.in4);
	else
		mh->msg_namelen = sizeof(t->ep.addr.in6);
	if (!t->ep.has_src && n == 1)
		return;

	memset(cbuf, 0, sizeof(*cbuf));
	mh->msg_control = cbuf->buf;
	if (t->ep.has_src && t->ep.addr.sa.sa_family == AF_INET) {
		struct in_pktinfo pi = { .ipi_spec_dst = t->ep.src4 };

		cmsg_put(mh, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
	} else if (t->ep.has_src) {
		struct in6_pktinfo pi = { .ipi6_addr = t->ep.src6 };

		/* Only a link-local source needs its interface to mean
		 * anything. */
		if (ipv6_is_link_local(&t->ep.src6))
			pi.ipi6_ifindex = (unsigned int)t->ep.src_ifindex;
		cmsg_put(mh, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi));
	}
	if (n > 1) {
		uint16_t seg = (uint16_t)t->len;

		cmsg_put(mh, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg));
	}
}

/* Where the GSO message that may start at tx[i] ends: the datagrams after
 * it to the same flow with its length, and one shorter one to close it,
 * within the kernel's limits on segments and on a message's size.
 * *single says to send them one by one after all (a past refusal). */
static unsigned int gso_run_end(struct udp_socks *s, const struct udp_tx *tx,
				unsigned int i, unsigned int m, bool *single)
{
	int family = udp_endpoint_family(&tx[i].ep);
	unsigned int f = family_index(family), j;
	size_t seg = tx[i].len, total = seg;

	*single = false;
	if (s->gso == UDP_GSO_OFF || !seg)
		return i + 1;
	for (j = i + 1; j < m && j - i < GSO_SEGMENTS_MAX; j++) {
		if (!tx[j].len || tx[j].len > seg ||
		    total + tx[j].len > udp_payload_max(family) ||
		    !is_same_flow(&tx[i].ep, &tx[j].ep))
			break;
		total += tx[j].len;
		if (tx[j].len < seg) {
			j++;
			break;
		}
	}
	if (j - i > 1 && seg > s->gso_limit[f]) {
		*single = true;
		s->gso_skipped[f] += j - i;
		if (s->gso_skipped[f] >= GSO_RETRY) {
			s->gso_limit[f] = UINT16_MAX;
			s->gso_skipped[f] = 0;
		}
	}
	return j;
}

static void msgs_add(struct tx_msgs *q, struct udp_tx *tx, unsigned int first,
		     unsigned int count)
{
	unsigned int k = q->n++;

	tx_prepare(&q->mm[k].msg_hdr, &q->iov[first], &q->cbuf[k],
		   &tx[first], count);
	q->mm[k].msg_len = 0;
	q->first[k] = first;
	q->count[k] = count;
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

static unsigned int send_run(struct udp_socks *s, int fd, struct udp_tx *tx,
			     unsigned int m, bool gso, int *waits_left);

/*
 * A GSO message of tx[0..n) was refused with err: send them again one by
 * one, which settles each datagram's err and src_cleared as if GSO had
 * never been tried. The kernel refuses GSO itself with EIO (no UDP GSO
 * through this route: UDP-Lite, IPsec) or EINVAL (a segment larger than
 * the path MTU, checksums off); the same EINVAL also means a refused
 * source, and any error may be the destination's. Only when the datagrams
 * then go through singly, sources intact, was it GSO's fault: no more GSO
 * for segments this long on this family until GSO_RETRY datagrams later.
 */
static unsigned int gso_fallback(struct udp_socks *s, int fd, struct udp_tx *tx,
				 unsigned int n, int err, int *waits_left)
{
	unsigned int f = family_index(udp_endpoint_family(&tx[0].ep));
	unsigned int sent, k;
	bool src_cleared = false;

	s->gso_stats.refused++;
	sent = send_run(s, fd, tx, n, false, waits_left);
	for (k = 0; k < n; k++)
		src_cleared |= tx[k].src_cleared;
	if (s->gso == UDP_GSO_ON && sent == n && !src_cleared &&
	    (err == EIO || err == EINVAL)) {
		s->gso_limit[f] = err == EIO ? 0 : (uint16_t)(tx[0].len - 1);
		s->gso_skipped[f] = 0;
	}
	return sent;
}

/* Sends tx[0..m), all of one family, through fd, in GSO messages where
 * gso allows. Returns how many datagrams went. */
static unsigned int send_run(struct udp_socks *s, int fd, struct udp_tx *tx,
			     unsigned int m, bool gso, int *waits_left)
{
	struct tx_msgs q;
	unsigned int off = 0, end, sent = 0, i, j, k;
	bool single;
	int r, e;

	q.n = 0;
	for (i = 0; i < m; i = j) {
		j = gso ? gso_run_end(s, tx, i, m, &single) : i + 1;
		if (j - i > 1 && !single) {
			msgs_add(&q, tx, i, j - i);
			continue;
		}
		for (k = i; k < j; k++)
			msgs_add(&q, tx, k, 1);
	}
	while (off < q.n) {
		/* UDP_GSO_REFUSE: everything up to the next GSO message
		 * goes, that message is refused below. */
		for (end = off; end < q.n; end++)
			if (s->gso == UDP_GSO_REFUSE && q.count[end] > 1)
				break;
		if (end > off) {
			r = sendmmsg(fd, q.mm + off, end - off, MSG_DONTWAIT);
			e = r < 0 ? errno : EIO;
		} else {
			r = -1;
			e = EIO;
		}
		if (r > 0) {
			for (k = off; k < off + (unsigned int)r; k++) {
				sent += q.count[k];
				if (q.count[k] > 1) {
					s->gso_stats.messages++;
					s->gso_stats.segments += q.count[k];
				}
			}
			off += (unsigned int)r;
			continue;
		}
		/* sendmmsg reports an error only for the first message it
		 * was given; that is message off. */
		if (e == EINTR)
			continue;
		if (e == EAGAIN || e == EWOULDBLOCK) {
			if (wait_writable(fd, waits_left))
				continue;
			for (k = q.first[off]; k < m; k++)
				tx[k].err = -EAGAIN;
			break;
		}
		i = q.first[off];
		if (q.count[off] > 1) {
			sent += gso_fallback(s, fd, tx + i, q.count[off], e,
					     waits_left);
			off++;
			continue;
		}
		if (tx[i].ep.has_src && !tx[i].src_cleared &&
		    src_is_refused(e)) {
			/* Same datagram again, routed without the source. */
			tx[i].src_cleared = true;
			q.mm[off].msg_hdr.msg_control = NULL;
			q.mm[off].msg_hdr.msg_controllen = 0;
			continue;
		}
		tx[i].err = -e;
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
		sent += send_run(s, fd, tx + i, j - i,
				 s->gso != UDP_GSO_OFF, &waits_left);
	}
	return (int)sent;
}

unsigned int udp_rx_split(const struct udp_rx *rx, size_t *offset, struct udp_rx *out,
			  unsigned int max)
{
	size_t seg = rx->gso_size ? rx->gso_size : rx->len;
	unsigned int n = 0;

	while (n < max && *offset < rx->len) {
		size_t len = rx->len - *offset < seg ? rx->len - *offset : seg;

		out[n] = *rx;
		out[n].buf = (uint8_t *)rx->buf + *offset;
		out[n].cap = len;
		out[n].len = len;
		out[n].gso_size = 0;
		*offset += len;
		n++;
	}
	/* An empty datagram is still one (receive counts it too short). */
	if (!rx->len && !*offset && max) {
		out[0] = *rx;
		*offset = 1;
		n = 1;
	}
	return n;
}
