// SPDX-License-Identifier: GPL-2.0
/*
 * The outer UDP sockets over loopback, without root: two pairs talking on
 * 127.0.0.1 and ::1, batches, sticky sources and their fallback, rebinding,
 * a datagram near the 64 KiB limit, UDP GSO (coalescing, splitting, the
 * fallback); SO_MARK only when run as root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "datapath/udp.h"
#include "test.h"
#include "tests/suites.h"

#define BATCH 64
#define SMALL 256
#define BIG 60000
#define DEADLINE_MS 2000

static unsigned char txbuf[BATCH][SMALL];
static unsigned char rxbuf[BATCH][SMALL];
static unsigned char bigtx[BIG], bigrx[BIG + 1];

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static struct udp_endpoint ep4(const char *ip, uint16_t port)
{
	struct udp_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	ep.addr.in4.sin_family = AF_INET;
	ep.addr.in4.sin_port = htons(port);
	inet_pton(AF_INET, ip, &ep.addr.in4.sin_addr);
	return ep;
}

static struct udp_endpoint ep6(const char *ip, uint16_t port)
{
	struct udp_endpoint ep;

	memset(&ep, 0, sizeof(ep));
	ep.addr.in6.sin6_family = AF_INET6;
	ep.addr.in6.sin6_port = htons(port);
	inet_pton(AF_INET6, ip, &ep.addr.in6.sin6_addr);
	return ep;
}

static void set_src(struct udp_endpoint *ep, const char *ip)
{
	if (udp_endpoint_family(ep) == AF_INET)
		inet_pton(AF_INET, ip, &ep->src4);
	else
		inet_pton(AF_INET6, ip, &ep->src6);
	ep->has_src = true;
}

static bool ip_is(const struct udp_endpoint *ep, const char *ip)
{
	char s[INET6_ADDRSTRLEN];

	if (udp_endpoint_family(ep) == AF_INET)
		inet_ntop(AF_INET, &ep->addr.in4.sin_addr, s, sizeof(s));
	else
		inet_ntop(AF_INET6, &ep->addr.in6.sin6_addr, s, sizeof(s));
	return !strcmp(s, ip);
}

static bool src_is(const struct udp_endpoint *ep, const char *ip)
{
	char s[INET6_ADDRSTRLEN];

	if (!ep->has_src)
		return false;
	if (udp_endpoint_family(ep) == AF_INET)
		inet_ntop(AF_INET, &ep->src4, s, sizeof(s));
	else
		inet_ntop(AF_INET6, &ep->src6, s, sizeof(s));
	return !strcmp(s, ip);
}

static uint16_t port_of(const struct udp_endpoint *ep)
{
	return ntohs(udp_endpoint_family(ep) == AF_INET ? ep->addr.in4.sin_port :
							  ep->addr.in6.sin6_port);
}

/* Receives up to want datagrams into rx, polling until a deadline. */
static unsigned int recv_until(int fd, struct udp_rx *rx, unsigned int want)
{
	long long deadline = now_ms() + DEADLINE_MS;
	unsigned int got = 0;

	while (got < want && now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r;

		if (poll(&p, 1, 50) <= 0)
			continue;
		r = udp_recv_batch(fd, rx + got, want - got);
		if (!CHECKF(r >= 0, "udp_recv_batch: %s", strerror(-r)))
			break;
		got += (unsigned int)r;
	}
	return got;
}

static void rx_setup(struct udp_rx *rx, unsigned int n)
{
	unsigned int i;

	memset(rx, 0, n * sizeof(*rx));
	for (i = 0; i < n; i++) {
		rx[i].buf = rxbuf[i];
		rx[i].cap = SMALL;
	}
}

/* Whether nothing arrives on fd within a short grace period. */
static bool stays_quiet(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 100) == 0;
}

static bool fd_is_nonblock_cloexec(int fd)
{
	return (fcntl(fd, F_GETFL) & O_NONBLOCK) &&
	       (fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_in6 sa;
	socklen_t len = sizeof(sa);

	if (getsockname(fd, (struct sockaddr *)&sa, &len))
		return 0;
	return ntohs(sa.sin6_port); /* same offset in sockaddr_in */
}

/* Test that a pair opens on one random port with the promised options. */
static void test_open(struct udp_socks *a, struct udp_socks *b, bool *have6)
{
	int v = 0;
	socklen_t len = sizeof(v);

	CHECK(udp_socks_open(a, 0, 0) == 0);
	CHECK(udp_socks_open(b, 0, 0) == 0);
	CHECK(udp_socks_port(a) != 0);
	CHECK(udp_socks_port(b) != 0);
	CHECK(udp_socks_port(a) != udp_socks_port(b));
	CHECK(a->fd4 >= 0 && fd_is_nonblock_cloexec(a->fd4));
	CHECK(bound_port(a->fd4) == udp_socks_port(a));
	*have6 = a->fd6 >= 0 && b->fd6 >= 0;
	if (!*have6) {
		printf("  udp: IPv6 unavailable, IPv6 cases not run\n");
		return;
	}
	CHECK(fd_is_nonblock_cloexec(a->fd6));
	CHECK(bound_port(a->fd6) == udp_socks_port(a));
	CHECK(getsockopt(a->fd6, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len) == 0 &&
	      v == 1);
	len = sizeof(v);
	CHECK(getsockopt(a->fd4, IPPROTO_IP, IP_MTU_DISCOVER, &v, &len) == 0 &&
	      v == IP_PMTUDISC_DONT);
}

/* Test that a batch of 64 datagrams arrives whole, in order, from the right
 * source, with the local destination and interface from pktinfo. */
static void test_batch(struct udp_socks *a, struct udp_socks *b, int family)
{
	static struct udp_tx tx[BATCH];
	static struct udp_rx rx[BATCH];
	const char *lo = family == AF_INET ? "127.0.0.1" : "::1";
	int fd = family == AF_INET ? b->fd4 : b->fd6;
	int loindex = (int)if_nametoindex("lo");
	unsigned int i, got;
	int r;

	for (i = 0; i < BATCH; i++) {
		memset(txbuf[i], (int)i, SMALL);
		tx[i].buf = txbuf[i];
		tx[i].len = 32 + i;
		tx[i].ep = family == AF_INET ? ep4(lo, udp_socks_port(b)) :
					       ep6(lo, udp_socks_port(b));
	}
	r = udp_send_batch(a, tx, BATCH);
	CHECKF(r == BATCH, "sent %d of %d", r, BATCH);
	for (i = 0; i < BATCH; i++)
		CHECK(tx[i].err == 0 && !tx[i].src_cleared);
	rx_setup(rx, BATCH);
	got = recv_until(fd, rx, BATCH);
	CHECKF(got == BATCH, "received %u of %d", got, BATCH);
	for (i = 0; i < got; i++) {
		CHECK(rx[i].len == 32 + i && !rx[i].truncated);
		CHECK(rxbuf[i][0] == (unsigned char)i &&
		      rxbuf[i][rx[i].len - 1] == (unsigned char)i);
		CHECK(udp_endpoint_family(&rx[i].ep) == family);
		CHECK(ip_is(&rx[i].ep, lo));
		CHECK(port_of(&rx[i].ep) == udp_socks_port(a));
		CHECK(src_is(&rx[i].ep, lo));
		CHECK(rx[i].ep.src_ifindex == loindex);
	}
}

/* Test that one call with interleaved families reaches both sockets. */
static void test_mixed(struct udp_socks *a, struct udp_socks *b)
{
	struct udp_tx tx[8];
	struct udp_rx rx[8];
	unsigned int i;

	for (i = 0; i < 8; i++) {
		tx[i].buf = txbuf[i];
		tx[i].len = 10;
		tx[i].ep = i % 2 ? ep6("::1", udp_socks_port(b)) :
				   ep4("127.0.0.1", udp_socks_port(b));
	}
	CHECK(udp_send_batch(a, tx, 8) == 8);
	rx_setup(rx, 8);
	CHECK(recv_until(b->fd4, rx, 4) == 4);
	CHECK(recv_until(b->fd6, rx + 4, 4) == 4);
	CHECK(stays_quiet(b->fd4) && stays_quiet(b->fd6));
}

/* Test that an explicit local source is used, and that an address that is
 * not local falls back to a kernel-chosen source and says so. */
static void test_sticky(struct udp_socks *a, struct udp_socks *b, bool have6)
{
	struct udp_tx tx[2];
	struct udp_rx rx[2];

	/* 127.0.0.2 is local (127/8 on lo) but never the default choice. */
	tx[0].buf = txbuf[0];
	tx[0].len = 20;
	tx[0].ep = ep4("127.0.0.1", udp_socks_port(b));
	set_src(&tx[0].ep, "127.0.0.2");
	tx[1] = tx[0];
	set_src(&tx[1].ep, "192.0.2.1");
	CHECK(udp_send_batch(a, tx, 2) == 2);
	CHECK(tx[0].err == 0 && !tx[0].src_cleared);
	CHECK(tx[1].err == 0 && tx[1].src_cleared);
	rx_setup(rx, 2);
	CHECK(recv_until(b->fd4, rx, 2) == 2);
	CHECK(ip_is(&rx[0].ep, "127.0.0.2"));
	CHECK(ip_is(&rx[1].ep, "127.0.0.1"));

	/* The source as received, sent back: the reply path. */
	tx[0].ep = rx[0].ep;
	CHECK(udp_send_batch(b, tx, 1) == 1 && !tx[0].src_cleared);
	rx_setup(rx, 1);
	CHECK(recv_until(a->fd4, rx, 1) == 1);
	CHECK(ip_is(&rx[0].ep, "127.0.0.1") && src_is(&rx[0].ep, "127.0.0.2"));

	if (!have6)
		return;
	tx[0].ep = ep6("::1", udp_socks_port(b));
	set_src(&tx[0].ep, "::1");
	tx[1].ep = ep6("::1", udp_socks_port(b));
	set_src(&tx[1].ep, "2001:db8::1");
	CHECK(udp_send_batch(a, tx, 2) == 2);
	CHECK(tx[0].err == 0 && !tx[0].src_cleared);
	CHECK(tx[1].err == 0 && tx[1].src_cleared);
	rx_setup(rx, 2);
	CHECK(recv_until(b->fd6, rx, 2) == 2);
	CHECK(ip_is(&rx[0].ep, "::1") && ip_is(&rx[1].ep, "::1"));
}

/* Test that datagrams without a usable destination fail one by one without
 * holding up the others. */
static void test_bad_destination(struct udp_socks *a, struct udp_socks *b)
{
	struct udp_tx tx[3];
	struct udp_rx rx[1];

	memset(tx, 0, sizeof(tx));
	tx[0].buf = tx[1].buf = tx[2].buf = txbuf[0];
	tx[0].len = tx[1].len = tx[2].len = 8;
	tx[0].ep.addr.sa.sa_family = AF_UNSPEC;
	tx[1].ep = ep4("0.0.0.0", 0);
	tx[2].ep = ep4("127.0.0.1", udp_socks_port(b));
	CHECK(udp_send_batch(a, tx, 3) == 1);
	CHECK(tx[0].err == -EDESTADDRREQ);
	CHECK(tx[1].err < 0);
	CHECK(tx[2].err == 0);
	rx_setup(rx, 1);
	CHECK(recv_until(b->fd4, rx, 1) == 1);
}

/* Test that a 60000-byte datagram crosses loopback (fragmenting where the
 * path needs it) and that a short buffer is reported as truncation. */
static void test_big(struct udp_socks *a, struct udp_socks *b, bool have6)
{
	struct udp_tx tx;
	struct udp_rx rx;
	int pass;

	test_rand_seed(60000);
	test_rand_bytes(bigtx, sizeof(bigtx));
	for (pass = 0; pass < (have6 ? 2 : 1); pass++) {
		int fd = pass ? b->fd6 : b->fd4;

		memset(&tx, 0, sizeof(tx));
		tx.buf = bigtx;
		tx.len = BIG;
		tx.ep = pass ? ep6("::1", udp_socks_port(b)) :
			       ep4("127.0.0.1", udp_socks_port(b));
		CHECK(udp_send_batch(a, &tx, 1) == 1);
		CHECKF(tx.err == 0, "big send: %s", strerror(-tx.err));
		memset(&rx, 0, sizeof(rx));
		rx.buf = bigrx;
		rx.cap = sizeof(bigrx);
		CHECK(recv_until(fd, &rx, 1) == 1);
		CHECK(rx.len == BIG && !rx.truncated);
		CHECK(!memcmp(bigrx, bigtx, BIG));

		CHECK(udp_send_batch(a, &tx, 1) == 1);
		rx.cap = 1000;
		CHECK(recv_until(fd, &rx, 1) == 1);
		CHECK(rx.truncated && rx.len == 1000);
	}
}

/* --- UDP GSO ------------------------------------------------------------ */

#define GSO_MAX 80
#define GSO_LEN 1500

static unsigned char gsotx[GSO_MAX][GSO_LEN];
static unsigned char gsorx[GSO_MAX][GSO_LEN];

/* A stretch of datagrams: count of them, len bytes each, to socket pair
 * 'b' or 'c', from src (NULL: kernel's choice). */
struct gso_run {
	unsigned int count, len;
	char to;
	const char *src;
};

struct gso_case {
	const char *name;
	int family;
	enum udp_gso_mode mode;
	struct gso_run runs[4];
	/* Expected: GSO messages the kernel took, datagrams in them, GSO
	 * messages refused and resent singly, datagrams with src_cleared. */
	uint64_t messages, segments, refused;
	unsigned int src_cleared;
};

static const struct gso_case gso_cases[] = {
	{ "1: ten equal datagrams, one message", AF_INET, UDP_GSO_ON,
	  { { 10, 1000, 'b', NULL } }, 1, 10, 0, 0 },
	{ "2: a short last segment joins", AF_INET, UDP_GSO_ON,
	  { { 9, 1000, 'b', NULL }, { 1, 500, 'b', NULL } }, 1, 10, 0, 0 },
	{ "3: a short one in the middle ends a message", AF_INET, UDP_GSO_ON,
	  { { 2, 1000, 'b', NULL }, { 1, 500, 'b', NULL },
	    { 3, 1000, 'b', NULL } }, 2, 6, 0, 0 },
	{ "4: a longer one starts a new message", AF_INET, UDP_GSO_ON,
	  { { 1, 1000, 'b', NULL }, { 1, 1200, 'b', NULL },
	    { 1, 1000, 'b', NULL } }, 1, 2, 0, 0 },
	{ "5: two peers, one message each", AF_INET, UDP_GSO_ON,
	  { { 4, 800, 'b', NULL }, { 4, 800, 'c', NULL } }, 2, 8, 0, 0 },
	{ "6: alternating peers do not join", AF_INET, UDP_GSO_ON,
	  { { 1, 800, 'b', NULL }, { 1, 800, 'c', NULL },
	    { 1, 800, 'b', NULL }, { 1, 800, 'c', NULL } }, 0, 0, 0, 0 },
	{ "7: at most 64 segments", AF_INET, UDP_GSO_ON,
	  { { 70, 100, 'b', NULL } }, 2, 70, 0, 0 },
	{ "8: at most 64 KiB per message", AF_INET, UDP_GSO_ON,
	  { { 50, 1452, 'b', NULL } }, 2, 50, 0, 0 },
	{ "9: another source ends a message", AF_INET, UDP_GSO_ON,
	  { { 3, 600, 'b', NULL }, { 3, 600, 'b', "127.0.0.2" } },
	  2, 6, 0, 0 },
	{ "10: IPv6, with a short last segment", AF_INET6, UDP_GSO_ON,
	  { { 20, 1280, 'b', NULL }, { 1, 33, 'b', NULL } }, 1, 21, 0, 0 },
	{ "11: IPv6, two peers and a source", AF_INET6, UDP_GSO_ON,
	  { { 5, 700, 'b', "::1" }, { 5, 700, 'c', NULL } }, 2, 10, 0, 0 },
	{ "12: GSO off, one message per datagram", AF_INET, UDP_GSO_OFF,
	  { { 10, 1000, 'b', NULL } }, 0, 0, 0, 0 },
	{ "13: refused, resent one by one", AF_INET, UDP_GSO_REFUSE,
	  { { 5, 1000, 'b', NULL }, { 1, 10, 'c', NULL },
	    { 5, 1000, 'c', NULL } }, 0, 0, 2, 0 },
	{ "14: IPv6 refused, resent one by one", AF_INET6, UDP_GSO_REFUSE,
	  { { 7, 1000, 'b', NULL }, { 1, 999, 'b', NULL } }, 0, 0, 1, 0 },
	{ "15: a refused source inside a message", AF_INET, UDP_GSO_ON,
	  { { 5, 1000, 'b', "192.0.2.1" }, { 5, 1000, 'b', NULL } },
	  1, 5, 1, 5 },
	{ "16: IPv6, a refused source inside a message", AF_INET6, UDP_GSO_ON,
	  { { 4, 900, 'c', "2001:db8::1" } }, 0, 0, 1, 4 },
};

/* Builds tx for one case: datagram k is filled with byte k. Returns n. */
static unsigned int gso_build(const struct gso_case *c, struct udp_tx *tx,
			      struct udp_socks *b, struct udp_socks *cc)
{
	const char *lo = c->family == AF_INET ? "127.0.0.1" : "::1";
	unsigned int n = 0, r, k;

	for (r = 0; r < 4 && c->runs[r].count; r++) {
		const struct gso_run *run = &c->runs[r];
		uint16_t port = udp_socks_port(run->to == 'b' ? b : cc);

		for (k = 0; k < run->count && n < GSO_MAX; k++, n++) {
			memset(&tx[n], 0, sizeof(tx[n]));
			memset(gsotx[n], (int)n, run->len);
			tx[n].buf = gsotx[n];
			tx[n].len = run->len;
			tx[n].ep = c->family == AF_INET ? ep4(lo, port) :
							  ep6(lo, port);
			if (run->src)
				set_src(&tx[n].ep, run->src);
		}
	}
	return n;
}

/* Receives what one case sent to one pair: the datagrams of tx with
 * that destination port, each whole, in order. */
static void gso_expect(const struct gso_case *c, const struct udp_tx *tx,
		       unsigned int n, struct udp_socks *to)
{
	static struct udp_rx rx[GSO_MAX];
	int fd = c->family == AF_INET ? to->fd4 : to->fd6;
	unsigned int want = 0, got, i, k;

	for (i = 0; i < n; i++)
		want += port_of(&tx[i].ep) == udp_socks_port(to);
	if (!want) {
		CHECKF(stays_quiet(fd), "%s: unexpected datagram", c->name);
		return;
	}
	memset(rx, 0, sizeof(rx));
	for (i = 0; i < want; i++) {
		rx[i].buf = gsorx[i];
		rx[i].cap = GSO_LEN;
	}
	got = recv_until(fd, rx, want);
	CHECKF(got == want, "%s: received %u of %u", c->name, got, want);
	for (i = 0, k = 0; i < n && k < got; i++) {
		if (port_of(&tx[i].ep) != udp_socks_port(to))
			continue;
		CHECKF(rx[k].len == tx[i].len && !rx[k].truncated &&
			       gsorx[k][0] == (unsigned char)i &&
			       gsorx[k][rx[k].len - 1] == (unsigned char)i,
		       "%s: datagram %u: %zu bytes, first byte %u", c->name,
		       i, rx[k].len, gsorx[k][0]);
		/* The source each one left from: the sticky one, or the
		 * kernel's choice (the loopback address) after a refusal. */
		CHECKF(tx[i].ep.has_src && !tx[i].src_cleared ?
			       (c->family == AF_INET ?
					rx[k].ep.addr.in4.sin_addr.s_addr ==
						tx[i].ep.src4.s_addr :
					!memcmp(&rx[k].ep.addr.in6.sin6_addr,
						&tx[i].ep.src6, 16)) :
			       ip_is(&rx[k].ep, c->family == AF_INET ?
							"127.0.0.1" : "::1"),
		       "%s: datagram %u from the wrong source", c->name, i);
		k++;
	}
	CHECKF(stays_quiet(fd), "%s: more than sent", c->name);
}

/* Test that runs of equal datagrams to one destination leave as GSO
 * messages and arrive as the same datagrams, that everything else splits
 * them correctly, and that a refused GSO message is resent one by one
 * with the same per-datagram results. */
static void test_gso(struct udp_socks *a, struct udp_socks *b, bool have6)
{
	static struct udp_tx tx[GSO_MAX];
	struct udp_socks c;
	unsigned int i, k, n, cleared;

	if (!CHECK(udp_socks_open(&c, 0, 0) == 0))
		return;
	for (i = 0; i < sizeof(gso_cases) / sizeof(gso_cases[0]); i++) {
		const struct gso_case *gc = &gso_cases[i];
		struct udp_gso_stats before = a->gso_stats, *after;
		int r;

		if (gc->family == AF_INET6 && !have6)
			continue;
		udp_socks_set_gso(a, gc->mode);
		n = gso_build(gc, tx, b, &c);
		r = udp_send_batch(a, tx, n);
		CHECKF(r == (int)n, "%s: sent %d of %u", gc->name, r, n);
		for (k = 0, cleared = 0; k < n; k++) {
			CHECKF(tx[k].err == 0, "%s: datagram %u: %s", gc->name,
			       k, strerror(-tx[k].err));
			cleared += tx[k].src_cleared;
		}
		CHECKF(cleared == gc->src_cleared, "%s: %u sources cleared",
		       gc->name, cleared);
		after = &a->gso_stats;
		CHECKF(after->messages - before.messages == gc->messages &&
			       after->segments - before.segments ==
				       gc->segments &&
			       after->refused - before.refused == gc->refused,
		       "%s: %llu messages, %llu segments, %llu refused",
		       gc->name,
		       (unsigned long long)(after->messages - before.messages),
		       (unsigned long long)(after->segments - before.segments),
		       (unsigned long long)(after->refused - before.refused));
		gso_expect(gc, tx, n, b);
		gso_expect(gc, tx, n, &c);
	}
	udp_socks_set_gso(a, UDP_GSO_ON);
	udp_socks_close(&c);
}

/* Test that a refusal by the kernel itself (GSO needs UDP checksums: off
 * with SO_NO_CHECK, it answers EINVAL) falls back, that segments as long
 * are not tried again while shorter ones are, and that resetting the mode
 * forgets the refusal. */
static void test_gso_refused(struct udp_socks *a, struct udp_socks *b)
{
	static struct udp_tx tx[GSO_MAX];
	static const struct gso_case c = { "kernel refusal", AF_INET,
					   UDP_GSO_ON,
					   { { 6, 1000, 'b', NULL } },
					   0, 0, 1, 0 };
	struct udp_gso_stats st = a->gso_stats;
	unsigned int n;
	int on = 1, off = 0;

	if (!CHECK(setsockopt(a->fd4, SOL_SOCKET, SO_NO_CHECK, &on,
			      sizeof(on)) == 0))
		return;
	n = gso_build(&c, tx, b, b);
	CHECK(udp_send_batch(a, tx, n) == (int)n);
	CHECK(a->gso_stats.refused == st.refused + 1);
	CHECK(a->gso_stats.messages == st.messages);
	gso_expect(&c, tx, n, b);
	/* Not tried again at this length... */
	CHECK(udp_send_batch(a, tx, n) == (int)n);
	CHECK(a->gso_stats.refused == st.refused + 1);
	gso_expect(&c, tx, n, b);
	/* ...but at a shorter one. */
	for (unsigned int k = 0; k < n; k++)
		tx[k].len = 900;
	CHECK(udp_send_batch(a, tx, n) == (int)n);
	CHECK(a->gso_stats.refused == st.refused + 2);
	CHECK(setsockopt(a->fd4, SOL_SOCKET, SO_NO_CHECK, &off,
			 sizeof(off)) == 0);
	udp_socks_set_gso(a, UDP_GSO_ON);
	CHECK(udp_send_batch(a, tx, n) == (int)n);
	CHECK(a->gso_stats.refused == st.refused + 2);
	CHECK(a->gso_stats.messages == st.messages + 1);
	{
		static struct udp_rx rx[2 * GSO_MAX];
		unsigned int i;

		memset(rx, 0, sizeof(rx));
		for (i = 0; i < 2 * n; i++) {
			rx[i].buf = gsorx[i % GSO_MAX];
			rx[i].cap = GSO_LEN;
		}
		CHECK(recv_until(b->fd4, rx, 2 * n) == 2 * n);
		CHECK(rx[0].len == 900 && rx[2 * n - 1].len == 900);
	}
}

/* A port free on both families right now (racy, but only with ourselves). */
static uint16_t free_port(void)
{
	struct udp_socks t;
	uint16_t p;

	if (udp_socks_open(&t, 0, 0))
		return 0;
	p = udp_socks_port(&t);
	udp_socks_close(&t);
	return p;
}

/* Test that a rebind to a taken port keeps the old one working, and that a
 * rebind to a free port moves there. */
static void test_rebind(struct udp_socks *a, struct udp_socks *b, bool have6)
{
	struct udp_tx tx;
	struct udp_rx rx;
	uint16_t old = udp_socks_port(a), taken, port;
	int blocker, fd4 = a->fd4;
	struct sockaddr_in6 sa6;

	/* Taken on IPv4. */
	blocker = socket(AF_INET, SOCK_DGRAM, 0);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t len = sizeof(sa);

		CHECK(bind(blocker, (struct sockaddr *)&sa, sizeof(sa)) == 0);
		CHECK(getsockname(blocker, (struct sockaddr *)&sa, &len) == 0);
		taken = ntohs(sa.sin_port);
	}
	CHECK(udp_socks_rebind(a, taken) == -EADDRINUSE);
	CHECK(udp_socks_port(a) == old && a->fd4 == fd4);
	close(blocker);

	/* Taken on IPv6 only: the pair is all or nothing. */
	if (have6) {
		int on = 1;
		socklen_t len = sizeof(sa6);

		blocker = socket(AF_INET6, SOCK_DGRAM, 0);
		setsockopt(blocker, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
		memset(&sa6, 0, sizeof(sa6));
		sa6.sin6_family = AF_INET6;
		CHECK(bind(blocker, (struct sockaddr *)&sa6, sizeof(sa6)) == 0);
		CHECK(getsockname(blocker, (struct sockaddr *)&sa6, &len) == 0);
		CHECK(udp_socks_rebind(a, ntohs(sa6.sin6_port)) == -EADDRINUSE);
		CHECK(udp_socks_port(a) == old && a->fd4 == fd4);
		close(blocker);
	}

	/* The old port still works. */
	memset(&tx, 0, sizeof(tx));
	tx.buf = txbuf[1];
	tx.len = 16;
	tx.ep = ep4("127.0.0.1", old);
	CHECK(udp_send_batch(b, &tx, 1) == 1);
	rx_setup(&rx, 1);
	CHECK(recv_until(a->fd4, &rx, 1) == 1);

	/* The same port again changes nothing. */
	CHECK(udp_socks_rebind(a, old) == 0 && a->fd4 == fd4);

	/* A free port. */
	port = free_port();
	CHECK(port != 0);
	CHECK(udp_socks_rebind(a, port) == 0);
	CHECK(udp_socks_port(a) == port);
	CHECK(bound_port(a->fd4) == port);
	if (have6)
		CHECK(bound_port(a->fd6) == port);
	tx.ep = ep4("127.0.0.1", port);
	CHECK(udp_send_batch(b, &tx, 1) == 1);
	rx_setup(&rx, 1);
	CHECK(recv_until(a->fd4, &rx, 1) == 1);
	if (have6) {
		tx.ep = ep6("::1", port);
		CHECK(udp_send_batch(b, &tx, 1) == 1);
		rx_setup(&rx, 1);
		CHECK(recv_until(a->fd6, &rx, 1) == 1);
	}
	/* The old port was released. */
	blocker = socket(AF_INET, SOCK_DGRAM, 0);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons(old) };

		CHECK(bind(blocker, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	}
	close(blocker);

	/* Port 0 again means a new random port. */
	CHECK(udp_socks_rebind(a, 0) == 0);
	CHECK(udp_socks_port(a) != 0 && udp_socks_port(a) != port);
}

static uint32_t mark_of(int fd)
{
	uint32_t mark = 0xffffffff;
	socklen_t len = sizeof(mark);

	if (getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &len))
		return 0xffffffff;
	return mark;
}

/* Test that fwmark reaches both sockets, survives a rebind and clears. */
static void test_fwmark(struct udp_socks *a)
{
	struct udp_socks m;

	if (geteuid() != 0) {
		/* Without the capability the change fails and nothing moves. */
		CHECK(udp_socks_set_fwmark(a, 0x1234) == -EPERM);
		CHECK(a->fwmark == 0);
		CHECK(udp_socks_set_fwmark(a, 0) == 0);
		printf("  udp: SO_MARK not tested (needs CAP_NET_ADMIN; "
		       "run as root to test it)\n");
		return;
	}
	CHECK(udp_socks_set_fwmark(a, 0x1234) == 0);
	CHECK(mark_of(a->fd4) == 0x1234);
	if (a->fd6 >= 0)
		CHECK(mark_of(a->fd6) == 0x1234);
	CHECK(udp_socks_rebind(a, free_port()) == 0);
	CHECK(mark_of(a->fd4) == 0x1234);
	if (a->fd6 >= 0)
		CHECK(mark_of(a->fd6) == 0x1234);
	CHECK(udp_socks_set_fwmark(a, 0) == 0);
	CHECK(mark_of(a->fd4) == 0);
	if (a->fd6 >= 0)
		CHECK(mark_of(a->fd6) == 0);

	CHECK(udp_socks_open(&m, 0, 0xbeef) == 0);
	CHECK(mark_of(m.fd4) == 0xbeef && m.fwmark == 0xbeef);
	udp_socks_close(&m);
	CHECK(m.fd4 == -1 && m.fd6 == -1);
}

/* udp_rx_split: a UDP GRO message cut at gso_size (the last shorter), in
 * batches of at most max, a plain message whole, an empty one once. */
static void test_split(void)
{
	static const struct {
		size_t len;
		uint16_t gso;
		unsigned int max;
		unsigned int want[4];     /* datagrams per call, then 0 */
		size_t last_len;
	} v[] = {
		{ 300, 100, 64, { 3, 0 }, 100 },
		{ 250, 100, 64, { 3, 0 }, 50 },
		{ 250, 100, 2, { 2, 1, 0 }, 50 },
		{ 148, 0, 64, { 1, 0 }, 148 },
		{ 0, 0, 64, { 1, 0 }, 0 },
	};
	static uint8_t buf[512];
	unsigned int t, c, i;

	for (t = 0; t < sizeof(v) / sizeof(v[0]); t++) {
		struct udp_rx rx = { .buf = buf, .cap = sizeof(buf), .len = v[t].len,
				     .gso_size = v[t].gso }, out[64];
		size_t off = 0, at = 0, last = SIZE_MAX;

		rx.ep.addr.sa.sa_family = AF_INET;
		for (c = 0; c < 4; c++) {
			unsigned int n = udp_rx_split(&rx, &off, out, v[t].max);

			CHECKF(n == v[t].want[c], "split #%u call %u: %u datagrams", t, c, n);
			for (i = 0; i < n; i++) {
				CHECK(out[i].buf == buf + at && !out[i].gso_size &&
				      out[i].ep.addr.sa.sa_family == AF_INET);
				at += out[i].len;
				last = out[i].len;
			}
			if (!n)
				break;
		}
		CHECKF(at == v[t].len && last == v[t].last_len, "split #%u: %zu bytes, last %zu",
		       t, at, last);
	}
}

void test_udp(void)
{
	struct udp_socks a, b;
	bool have6;

	test_split();
	test_open(&a, &b, &have6);
	if (a.fd4 < 0 || b.fd4 < 0)
		return;
	test_batch(&a, &b, AF_INET);
	if (have6) {
		test_batch(&a, &b, AF_INET6);
		test_mixed(&a, &b);
	}
	test_sticky(&a, &b, have6);
	test_bad_destination(&a, &b);
	test_big(&a, &b, have6);
	test_gso(&a, &b, have6);
	test_gso_refused(&a, &b);
	test_rebind(&a, &b, have6);
	test_fwmark(&a);
	udp_socks_close(&a);
	udp_socks_close(&b);
}
