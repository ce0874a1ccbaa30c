// SPDX-License-Identifier: GPL-2.0
/*
 * wgstorm MODE --target ADDR:PORT [options]: a hostile WireGuard packet
 * generator for selftests/hostile.sh. It sends one class of bad packets at a
 * WireGuard endpoint for a bounded time (or count), counts what comes back,
 * and says which drop reason each packet should land in on an xwgd target
 * (the names of enum drop_reason in ctl/device.h).
 *
 * Where it must act as a WireGuard peer it uses the project's own library
 * (noise.h, cookie.h, transport.h, crypto.h): with --peer-key (the private
 * key of a peer the target knows) it completes a real handshake and then
 * misbehaves on the session; mac1 is computed with --server-pub.
 *
 * Modes (protocol.md "Messages", "Handshake", "Transport data", "Cookies"):
 *   junk          empty datagrams and 1..200 random bytes
 *   truncated     each message type one byte short and one byte long, and
 *                 with nonzero reserved bytes
 *   random-init   148-byte initiations with random content (bad mac1)
 *   unknown-index data messages with random receiver indices; also cookie
 *                 replies and (mac1-valid) responses to unknown indices
 *   mac1-init     the handshake flood: initiations with a valid mac1 and
 *                 garbage inside, at the highest rate, from many source
 *                 ports; counts (and checks) the cookie replies
 *   mac2-init     obtain a cookie, then flood initiations with a valid mac1
 *                 AND mac2 from that one source: the per-source ratelimiter
 *   lowkey        well-formed initiations whose static key (or, with
 *                 --peer-key, ephemeral key) is a low-order point
 *   big           oversized datagrams (fragmented by the kernel) and, over
 *                 IPv4, hand-made fragments: incomplete, overlapping, tiny
 *   replay        real handshake, a keepalive and --valid ICMP echoes, then
 *                 each replayed, then replayed again from behind the window
 *                 (--alt-bind: also from a second address), and the
 *                 answered initiation replayed
 *   past-limit    real handshake, then data messages with a valid tag and a
 *                 counter >= REJECT_AFTER_MESSAGES, and some with a bad tag
 *   bad-inner     real handshake, then authenticated packets whose inner
 *                 packet is malformed or from a source not allowed
 *   init-flood    real peer, fresh valid initiations at --rate (400/s):
 *                 at most 50 a second may be answered
 *   big-data      real peer, the largest data messages the underlay allows
 *                 (ICMP echoes of 65475 bytes over IPv4, 65495 over IPv6)
 *                 and some around the tunnel MTU
 *   selftest      no network: checks the forged initiations of lowkey
 *                 against the library's own responder
 *   handshake-rate many real peers (--keys-file), one source address each
 *                 (--src-base + i), valid initiations as fast as the target
 *                 answers them (mac2 once it sends cookies, each peer within
 *                 the target's per-peer and per-source limits); counts the
 *                 handshakes it completes a second (bench/run.sh)
 *   pubkeys       no network: private keys on stdin, public keys on stdout
 *
 * Output (stdout), one line each:
 *   wgstorm MODE: sent N ...; replies N: initiation N, response N, ...
 *   EXPECT reason=N ...       drops the target should count for this run
 *   RESULT key=value ...      the same numbers for scripts
 * Exit status: 0 when the run took place, 1 on a usage error, 2 when a
 * session mode could not complete its handshake (or selftest failed).
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "constants.h"
#include "ctl/handshake/cookie.h"
#include "ctl/handshake/crypto.h"
#include "ctl/handshake/noise.h"
#include "base/platform.h"
#include "datapath/transport.h"
#include "messages.h"

/* The drop reasons an xwgd target counts for what we send (device.h). */
#define REASONS(X)                                          \
	X(R_TOO_SHORT, "rx_too_short")                      \
	X(R_BAD_TYPE, "rx_bad_type")                        \
	X(R_BAD_LENGTH, "rx_bad_length")                    \
	X(R_BAD_MAC, "rx_bad_mac")                          \
	X(R_RATELIMITED, "rx_ratelimited")                  \
	X(R_HANDSHAKE_FAILED, "rx_handshake_failed")        \
	X(R_COOKIE_FAILED, "rx_cookie_failed")              \
	X(R_UNKNOWN_INDEX, "rx_unknown_index")              \
	X(R_DECRYPT_FAILED, "rx_decrypt_failed")            \
	X(R_REPLAY, "rx_replay")                            \
	X(R_BAD_INNER, "rx_bad_inner_packet")               \
	X(R_SOURCE_NOT_ALLOWED, "rx_source_not_allowed")

#define REASON_ENUM(e, s) e,
enum reason { REASONS(REASON_ENUM) R_COUNT, R_NONE = R_COUNT };
#undef REASON_ENUM
#define REASON_NAME(e, s) s,
static const char *const reason_names[] = { REASONS(REASON_NAME) };
#undef REASON_NAME

enum reply_kind { REPLY_OTHER, REPLY_INIT, REPLY_RESP, REPLY_COOKIE, REPLY_DATA, REPLY_KINDS };

#define BATCH 32U
#define MAX_DGRAM 65535U
#define FLOOD_TABLE_BITS 20U   /* mac1s remembered to check cookie replies */
#define ECHO_LEN 84U           /* IPv4 20 + ICMP 8 + 56 */
#define ECHO_ID 0x5753         /* "WS" */
#define BIG_MAX 65507U         /* the largest UDP payload over IPv4 (IPv6: 20 more) */

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

struct session;

struct storm {
	const char *mode;
	union sockaddr_any target, bind, alt_bind;
	socklen_t addr_len;
	int family;
	bool has_bind, has_alt_bind;
	double seconds, rate;
	bool rate_given;
	uint64_t count;
	unsigned int linger_ms, valid, sockets, per_socket;
	uint8_t server_pub[NOISE_PUBLIC_KEY_LEN];
	uint8_t peer_key[NOISE_PRIVATE_KEY_LEN];
	uint8_t psk[NOISE_SYMMETRIC_KEY_LEN];
	bool has_server_pub, has_peer_key, has_psk;
	struct in_addr tunnel_src, tunnel_dst;

	/* Results. */
	uint64_t sent, send_errors;
	uint64_t replies[REPLY_KINDS];
	uint64_t cookie_valid;
	uint64_t expect[R_COUNT];
	uint8_t *ports_seen;   /* bitmap of source ports used */
	uint64_t ports;
	char extra[1024];

	/* Mode state. */
	struct session *sess;
	uint8_t (*flood_mac1)[COOKIE_LEN];
	uint32_t flood_base;
	uint64_t flood_next;
	uint8_t cookie_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t rxbuf[MAX_DGRAM];
};

/* The low-order points of Curve25519 (the kernel's curve25519 selftest
 * list): 0, 1, the two points of order 8, p - 1, p, p + 1. X25519 with any
 * of them gives all zeros, which a responder must refuse. */
static const uint8_t low_order_points[7][NOISE_PUBLIC_KEY_LEN] = {
	{ 0 },
	{ 1 },
	{ 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
	  0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
	{ 0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
	  0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57 },
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
};

/* ---- small helpers ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / NSEC_PER_SEC),
			       .tv_nsec = (long)(ns % NSEC_PER_SEC) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static uint32_t rnd32(void)
{
	return randombytes_random();
}

static uint32_t rnd_below(uint32_t n)
{
	return randombytes_uniform(n);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "wgstorm: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

/* A key as 64 hex digits or 44 characters of base64. */
static bool parse_key(uint8_t out[32], const char *s)
{
	size_t n = 0;

	if (strlen(s) == 64)
		return !sodium_hex2bin(out, 32, s, 64, NULL, &n, NULL) && n == 32;
	return !sodium_base642bin(out, 32, s, strlen(s), NULL, &n, NULL,
				  sodium_base64_VARIANT_ORIGINAL) && n == 32;
}

/* "1.2.3.4:51820" or "[2001:db8::1]:51820"; port 0 allowed when !need_port. */
static bool parse_addr(union sockaddr_any *a, const char *s, bool need_port)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *h = s;
	size_t hl;
	long port = 0;

	memset(a, 0, sizeof(*a));
	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (!end)
			return false;
		h = s + 1;
		hl = (size_t)(end - h);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (!colon && end[1])
			return false;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			colon = NULL;  /* a bare IPv6 address */
		hl = colon ? (size_t)(colon - s) : strlen(s);
	}
	if (hl >= sizeof(host))
		return false;
	memcpy(host, h, hl);
	host[hl] = 0;
	if (colon) {
		char *end;

		port = strtol(colon + 1, &end, 10);
		if (*end || port < 0 || port > 65535)
			return false;
	} else if (need_port) {
		return false;
	}
	if (inet_pton(AF_INET, host, &a->in4.sin_addr) == 1) {
		a->in4.sin_family = AF_INET;
		a->in4.sin_port = htons((uint16_t)port);
		return true;
	}
	if (inet_pton(AF_INET6, host, &a->in6.sin6_addr) == 1) {
		a->in6.sin6_family = AF_INET6;
		a->in6.sin6_port = htons((uint16_t)port);
		return true;
	}
	return false;
}

static uint16_t inet_csum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	while (len > 1) {
		sum += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The reason an xwgd target gives a datagram with no valid MAC and no
 * session behind it: protocol.md "Messages", checked in receive.c's order. */
static enum reason predict(const uint8_t *p, size_t len)
{
	uint32_t type;

	if (len < sizeof(struct message_header))
		return R_TOO_SHORT;
	type = get_le32(p);
	switch (type) {
	case MESSAGE_HANDSHAKE_INITIATION:
		return len == sizeof(struct message_handshake_initiation) ? R_BAD_MAC : R_BAD_LENGTH;
	case MESSAGE_HANDSHAKE_RESPONSE:
		return len == sizeof(struct message_handshake_response) ? R_BAD_MAC : R_BAD_LENGTH;
	case MESSAGE_HANDSHAKE_COOKIE:
		return len == sizeof(struct message_handshake_cookie) ? R_COOKIE_FAILED : R_BAD_LENGTH;
	case MESSAGE_DATA:
		return len >= MESSAGE_MINIMUM_LENGTH ? R_UNKNOWN_INDEX : R_BAD_LENGTH;
	}
	return R_BAD_TYPE;
}

/* ---- sockets ---- */

static void note_port(struct storm *s, int fd)
{
	union sockaddr_any a;
	socklen_t len = sizeof(a);
	uint16_t port;

	if (getsockname(fd, &a.sa, &len))
		return;
	port = ntohs(a.sa.sa_family == AF_INET ? a.in4.sin_port : a.in6.sin6_port);
	if (!(s->ports_seen[port / 8] & (1U << (port % 8)))) {
		s->ports_seen[port / 8] |= (uint8_t)(1U << (port % 8));
		s->ports++;
	}
}

/* A non-blocking UDP socket bound to addr (NULL: any) on a random port. */
static int open_udp_at(struct storm *s, const union sockaddr_any *addr)
{
	int fd = socket(s->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	union sockaddr_any b = { 0 };
	int buf = 4 << 20;

	if (fd < 0) {
		perror("wgstorm: socket");
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	if (addr)
		b = *addr;
	else
		b.sa.sa_family = (sa_family_t)s->family;
	if (bind(fd, &b.sa, s->addr_len)) {
		perror("wgstorm: bind");
		exit(1);
	}
	note_port(s, fd);
	return fd;
}

static int open_udp(struct storm *s)
{
	return open_udp_at(s, s->has_bind ? &s->bind : NULL);
}

static uint16_t local_port(int fd)
{
	union sockaddr_any a;
	socklen_t len = sizeof(a);

	if (getsockname(fd, &a.sa, &len))
		return 0;
	return ntohs(a.sa.sa_family == AF_INET ? a.in4.sin_port : a.in6.sin6_port);
}

static void wait_writable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	poll(&p, 1, 10);
}

/* Send one datagram; false (counted) if the kernel refused it. */
static bool send_dgram(struct storm *s, int fd, const void *buf, size_t len)
{
	int tries;

	for (tries = 0; tries < 200; tries++) {
		if (sendto(fd, buf, len, 0, &s->target.sa, s->addr_len) == (ssize_t)len) {
			s->sent++;
			return true;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS && errno != EINTR)
			break;
		wait_writable(fd);
	}
	s->send_errors++;
	return false;
}

/* Send n datagrams in as few sendmmsg calls as possible; returns how many
 * went out (from the first). */
static unsigned int send_batch(struct storm *s, int fd, uint8_t bufs[][sizeof(struct message_handshake_initiation)],
			       size_t len, unsigned int n)
{
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	unsigned int i, done = 0;
	int tries = 0;

	for (i = 0; i < n; i++) {
		iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = len };
		mm[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &s->target, .msg_namelen = s->addr_len,
						       .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	while (done < n && tries < 200) {
		int r = sendmmsg(fd, mm + done, n - done, 0);

		if (r > 0) {
			done += (unsigned int)r;
			continue;
		}
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS &&
		    errno != EINTR)
			break;
		tries++;
		wait_writable(fd);
	}
	s->sent += done;
	s->send_errors += n - done;
	return done;
}

/* ---- replies ---- */

static void on_data_reply(struct storm *s, const uint8_t *p, size_t len);

/* A cookie reply to flood initiation number idx - flood_base must open with
 * HASH(LABEL_COOKIE || target's public key) and that initiation's mac1 as
 * associated data (protocol.md "Cookies"): proof that the target answered
 * that very message, and correctly. */
static void check_cookie_reply(struct storm *s, const uint8_t *p)
{
	const struct message_handshake_cookie *c = (const void *)p;
	uint32_t idx = le32toh(c->receiver_index);
	uint8_t value[COOKIE_LEN];
	uint64_t age = (uint32_t)(idx - s->flood_base);

	if (!s->flood_mac1 || age >= s->flood_next || s->flood_next - age > (1U << FLOOD_TABLE_BITS))
		return;
	if (crypto_xaead_open(value, c->encrypted_cookie, sizeof(c->encrypted_cookie),
			      s->flood_mac1[idx & ((1U << FLOOD_TABLE_BITS) - 1)], COOKIE_LEN,
			      c->nonce, s->cookie_key))
		s->cookie_valid++;
}

static void classify_reply(struct storm *s, const uint8_t *p, size_t len)
{
	uint32_t type = len >= 4 ? get_le32(p) : 0;

	if (type == MESSAGE_HANDSHAKE_INITIATION && len == sizeof(struct message_handshake_initiation)) {
		s->replies[REPLY_INIT]++;
	} else if (type == MESSAGE_HANDSHAKE_RESPONSE && len == sizeof(struct message_handshake_response)) {
		s->replies[REPLY_RESP]++;
	} else if (type == MESSAGE_HANDSHAKE_COOKIE && len == sizeof(struct message_handshake_cookie)) {
		s->replies[REPLY_COOKIE]++;
		check_cookie_reply(s, p);
	} else if (type == MESSAGE_DATA && len >= MESSAGE_MINIMUM_LENGTH) {
		s->replies[REPLY_DATA]++;
		on_data_reply(s, p, len);
	} else {
		s->replies[REPLY_OTHER]++;
	}
}

/* Read every datagram waiting on fd. A handler sees each one first; when it
 * returns true it has taken it, else the datagram is classified and counted. */
typedef bool (*reply_handler)(struct storm *s, const uint8_t *p, size_t len);

static void drain(struct storm *s, int fd, reply_handler h)
{
	for (;;) {
		ssize_t n = recv(fd, s->rxbuf, sizeof(s->rxbuf), MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (h && h(s, s->rxbuf, (size_t)n))
			continue;
		classify_reply(s, s->rxbuf, (size_t)n);
	}
}

/* Keep reading fds for ms milliseconds. */
static void linger(struct storm *s, const int *fds, unsigned int n, unsigned int ms, reply_handler h)
{
	uint64_t end = now_ns() + (uint64_t)ms * NSEC_PER_MSEC;
	struct pollfd p[256];
	unsigned int i, k;

	for (;;) {
		uint64_t now = now_ns();

		if (now >= end)
			break;
		for (i = 0, k = 0; i < n && k < 256; i++)
			if (fds[i] >= 0)
				p[k++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		if (poll(p, k, (int)((end - now) / NSEC_PER_MSEC) + 1) <= 0)
			continue;
		for (i = 0; i < k; i++)
			if (p[i].revents & POLLIN)
				drain(s, p[i].fd, h);
	}
}

/* ---- pacing and the generic loop ---- */

static bool keep_going(const struct storm *s, uint64_t start, uint64_t n)
{
	if (s->count && n >= s->count)
		return false;
	return now_ns() - start < (uint64_t)(s->seconds * 1e9);
}

static void pace(const struct storm *s, uint64_t start, uint64_t n)
{
	uint64_t due, now;

	if (s->rate <= 0)
		return;
	due = start + (uint64_t)((double)n * 1e9 / s->rate);
	now = now_ns();
	if (due > now)
		sleep_ns(due - now);
}

/* A generator writes packet number i into buf and says where it must land. */
typedef size_t (*generator)(struct storm *s, uint64_t i, uint8_t *buf, enum reason *r);

static void run_generator(struct storm *s, generator gen)
{
	uint8_t *buf = malloc(MAX_DGRAM);
	int fd = open_udp(s);
	uint64_t start = now_ns(), i;

	if (!buf)
		exit(1);
	for (i = 0; keep_going(s, start, i); i++) {
		enum reason r = R_NONE;
		size_t len;

		pace(s, start, i);
		len = gen(s, i, buf, &r);
		if (send_dgram(s, fd, buf, len) && r != R_NONE)
			s->expect[r]++;
		if (i % 64 == 63)
			drain(s, fd, NULL);
	}
	linger(s, &fd, 1, s->linger_ms, NULL);
	close(fd);
	free(buf);
}

/* ---- forging messages ---- */

/* mac1 (and mac2, if the cookie holds a fresh one) of a handshake message
 * to the target, through the library's own peer-side code. */
static void add_macs(struct storm *s, void *msg, size_t len, struct cookie *c)
{
	struct cookie fresh;

	if (!c) {
		cookie_init(&fresh, s->server_pub);
		c = &fresh;
	}
	cookie_add_mac_to_packet(msg, len, c);
}

/* An initiation built by hand, token by token (protocol.md "Handshake"),
 * so that the DH results can be forced: es and ss are what the caller says
 * DH(e, S_r) and DH(S_i, S_r) are - all zeros for a low-order key, which is
 * what X25519 really gives, so the message is exactly what an attacker
 * holding such a "key" would send. */
static void forge_initiation(struct message_handshake_initiation *m,
			     const uint8_t server_pub[NOISE_PUBLIC_KEY_LEN],
			     const uint8_t e_pub[NOISE_PUBLIC_KEY_LEN],
			     const uint8_t es[NOISE_PUBLIC_KEY_LEN],
			     const uint8_t static_pub[NOISE_PUBLIC_KEY_LEN],
			     const uint8_t ss[NOISE_PUBLIC_KEY_LEN])
{
	uint8_t c[NOISE_HASH_LEN], h[NOISE_HASH_LEN], k[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t ts[NOISE_TIMESTAMP_LEN];
	uint64_t sec;
	uint32_t nsec;

	memset(m, 0, sizeof(*m));
	m->header.type = htole32(MESSAGE_HANDSHAKE_INITIATION);
	m->sender_index = htole32(rnd32());
	crypto_hash_concat(c, NOISE_CONSTRUCTION, strlen(NOISE_CONSTRUCTION), NULL, 0);
	crypto_hash_concat(h, c, sizeof(c), NOISE_IDENTIFIER, strlen(NOISE_IDENTIFIER));
	crypto_hash_concat(h, h, sizeof(h), server_pub, NOISE_PUBLIC_KEY_LEN);
	/* e */
	memcpy(m->unencrypted_ephemeral, e_pub, NOISE_PUBLIC_KEY_LEN);
	crypto_kdf(c, NULL, NULL, c, e_pub, NOISE_PUBLIC_KEY_LEN);
	crypto_hash_concat(h, h, sizeof(h), e_pub, NOISE_PUBLIC_KEY_LEN);
	/* es */
	crypto_kdf(c, k, NULL, c, es, NOISE_PUBLIC_KEY_LEN);
	/* s */
	crypto_aead_seal(m->encrypted_static, static_pub, NOISE_PUBLIC_KEY_LEN, h, sizeof(h), 0, k);
	crypto_hash_concat(h, h, sizeof(h), m->encrypted_static, sizeof(m->encrypted_static));
	/* ss */
	crypto_kdf(c, k, NULL, c, ss, NOISE_PUBLIC_KEY_LEN);
	/* payload: TAI64N */
	platform_wall_clock(&sec, &nsec);
	crypto_tai64n(ts, sec, nsec);
	crypto_aead_seal(m->encrypted_timestamp, ts, sizeof(ts), h, sizeof(h), 0, k);
	crypto_wipe(c, sizeof(c));
	crypto_wipe(h, sizeof(h));
	crypto_wipe(k, sizeof(k));
}

/* A lowkey initiation, number i: the static key is low-order point i % 7;
 * with a peer key, every other one instead has that real static key and a
 * low-order ephemeral. */
static void forge_lowkey(struct storm *s, uint64_t i, struct message_handshake_initiation *m)
{
	static const uint8_t zero[NOISE_PUBLIC_KEY_LEN];
	const uint8_t *point = low_order_points[(i / (s->has_peer_key ? 2 : 1)) % 7];
	uint8_t e_priv[NOISE_PRIVATE_KEY_LEN], e_pub[NOISE_PUBLIC_KEY_LEN], es[NOISE_PUBLIC_KEY_LEN];
	uint8_t pub[NOISE_PUBLIC_KEY_LEN], ss[NOISE_PUBLIC_KEY_LEN];

	if (s->has_peer_key && i % 2) {
		crypto_public_key(pub, s->peer_key);
		crypto_dh(ss, s->peer_key, s->server_pub);
		forge_initiation(m, s->server_pub, point, zero, pub, ss);
	} else {
		crypto_generate_private(e_priv);
		crypto_public_key(e_pub, e_priv);
		crypto_dh(es, e_priv, s->server_pub);
		forge_initiation(m, s->server_pub, e_pub, es, point, zero);
	}
	add_macs(s, m, sizeof(*m), NULL);
	crypto_wipe(e_priv, sizeof(e_priv));
	crypto_wipe(es, sizeof(es));
	crypto_wipe(ss, sizeof(ss));
}

/* ---- stateless modes ---- */

static size_t gen_junk(struct storm *s, uint64_t i, uint8_t *buf, enum reason *r)
{
	size_t len = rnd_below(10) == 0 ? 0 : 1 + rnd_below(200);

	(void)s;
	(void)i;
	randombytes_buf(buf, len);
	*r = predict(buf, len);
	return len;
}

static size_t gen_truncated(struct storm *s, uint64_t i, uint8_t *buf, enum reason *r)
{
	static const struct { uint8_t type; uint16_t len; uint8_t reserved_byte; } cases[] = {
		{ 1, 147, 0 }, { 1, 149, 0 }, { 2, 91, 0 }, { 2, 93, 0 },
		{ 3, 63, 0 }, { 3, 65, 0 }, { 4, 31, 0 }, { 4, 33, 0 },
		{ 1, 148, 1 }, { 1, 148, 2 }, { 1, 148, 3 }, { 2, 92, 1 },
		{ 3, 64, 2 }, { 4, 48, 3 },
	};
	size_t k = i % (sizeof(cases) / sizeof(cases[0]));
	size_t len = cases[k].len;

	(void)s;
	randombytes_buf(buf, len);
	buf[0] = cases[k].type;
	buf[1] = buf[2] = buf[3] = 0;
	if (cases[k].reserved_byte)
		buf[cases[k].reserved_byte] = (uint8_t)(1 + rnd_below(255));
	*r = predict(buf, len);
	return len;
}

static size_t gen_random_init(struct storm *s, uint64_t i, uint8_t *buf, enum reason *r)
{
	(void)s;
	(void)i;
	randombytes_buf(buf, sizeof(struct message_handshake_initiation));
	put_le32(buf, MESSAGE_HANDSHAKE_INITIATION);
	*r = R_BAD_MAC;
	return sizeof(struct message_handshake_initiation);
}

static size_t gen_unknown_index(struct storm *s, uint64_t i, uint8_t *buf, enum reason *r)
{
	size_t len;

	if (i % 50 == 0) {
		len = sizeof(struct message_handshake_cookie);
		randombytes_buf(buf, len);
		put_le32(buf, MESSAGE_HANDSHAKE_COOKIE);
		*r = R_COOKIE_FAILED;
	} else if (i % 50 == 1 && s->has_server_pub) {
		/* A response with a valid mac1, to an index nobody holds. */
		len = sizeof(struct message_handshake_response);
		randombytes_buf(buf, len);
		put_le32(buf, MESSAGE_HANDSHAKE_RESPONSE);
		add_macs(s, buf, len, NULL);
		*r = R_HANDSHAKE_FAILED;
	} else {
		len = MESSAGE_MINIMUM_LENGTH + 16 * rnd_below(90);
		randombytes_buf(buf, len);
		put_le32(buf, MESSAGE_DATA);
		*r = R_UNKNOWN_INDEX;
	}
	return len;
}

static size_t gen_lowkey(struct storm *s, uint64_t i, uint8_t *buf, enum reason *r)
{
	forge_lowkey(s, i, (struct message_handshake_initiation *)buf);
	*r = R_HANDSHAKE_FAILED;
	return sizeof(struct message_handshake_initiation);
}

/* ---- the handshake flood ---- */

static void flood_fill(struct storm *s, uint8_t *msg, struct cookie *c)
{
	uint32_t idx = s->flood_base + (uint32_t)s->flood_next++;

	randombytes_buf(msg, sizeof(struct message_handshake_initiation));
	put_le32(msg, MESSAGE_HANDSHAKE_INITIATION);
	put_le32(msg + 4, idx);
	add_macs(s, msg, sizeof(struct message_handshake_initiation), c);
	memcpy(s->flood_mac1[idx & ((1U << FLOOD_TABLE_BITS) - 1)],
	       ((struct message_handshake_initiation *)msg)->macs.mac1, COOKIE_LEN);
}

static void flood_setup(struct storm *s)
{
	s->flood_mac1 = calloc(1U << FLOOD_TABLE_BITS, COOKIE_LEN);
	if (!s->flood_mac1)
		exit(1);
	s->flood_base = rnd32();
	s->flood_next = 0;
	crypto_hash_concat(s->cookie_key, COOKIE_LABEL_COOKIE, strlen(COOKIE_LABEL_COOKIE),
			   s->server_pub, NOISE_PUBLIC_KEY_LEN);
}

/* Send up to `budget` flood initiations from a pool of sockets, replacing
 * each after per_socket packets so the source port keeps changing. */
static void flood_from_pool(struct storm *s, int *fds, uint64_t *sock_sent, uint64_t start,
			    uint64_t budget, bool timed)
{
	uint8_t batch[BATCH][sizeof(struct message_handshake_initiation)];
	struct cookie c;
	uint64_t n = 0;
	unsigned int j = 0, k;

	cookie_init(&c, s->server_pub);
	while (n < budget && (!timed || keep_going(s, start, s->sent))) {
		if (timed)
			pace(s, start, s->sent);
		for (k = 0; k < BATCH; k++)
			flood_fill(s, batch[k], &c);
		n += send_batch(s, fds[j], batch, sizeof(batch[0]), BATCH);
		drain(s, fds[j], NULL);
		sock_sent[j] += BATCH;
		if (sock_sent[j] >= s->per_socket) {
			close(fds[j]);
			fds[j] = open_udp(s);
			sock_sent[j] = 0;
		}
		j = (j + 1) % s->sockets;
	}
}

static void run_mac1_init(struct storm *s)
{
	int fds[256];
	uint64_t sock_sent[256] = { 0 };
	unsigned int j;

	flood_setup(s);
	for (j = 0; j < s->sockets; j++)
		fds[j] = open_udp(s);
	flood_from_pool(s, fds, sock_sent, now_ns(), UINT64_MAX, true);
	linger(s, fds, s->sockets, s->linger_ms, NULL);
	for (j = 0; j < s->sockets; j++)
		close(fds[j]);
	/* Under load every one is answered by a cookie; otherwise each fails
	 * in Noise. The split is the target's business. */
	snprintf(s->extra, sizeof(s->extra), "flood_sent=%llu", (unsigned long long)s->sent);
}

/* The ratelimiter: get a cookie for one source, then flood from it with a
 * valid mac2. The target is pushed under load first by the pool. */
static struct cookie mac2_cookie;
static bool mac2_have_cookie;
static uint64_t mac2_phase_cookies;

/* Cookie replies to the main socket once it holds a cookie: there should
 * be none, its initiations carry a valid mac2. */
static bool mac2_phase_reply(struct storm *s, const uint8_t *p, size_t len)
{
	(void)s;
	if (len == sizeof(struct message_handshake_cookie) && get_le32(p) == MESSAGE_HANDSHAKE_COOKIE)
		mac2_phase_cookies++;
	return false;  /* count it too */
}

static bool mac2_take_cookie(struct storm *s, const uint8_t *p, size_t len)
{
	(void)s;
	if (len != sizeof(struct message_handshake_cookie) || get_le32(p) != MESSAGE_HANDSHAKE_COOKIE)
		return false;
	if (!mac2_have_cookie &&
	    cookie_message_consume((const struct message_handshake_cookie *)p, &mac2_cookie))
		mac2_have_cookie = true;
	return false;  /* count it too */
}

static void run_mac2_init(struct storm *s)
{
	uint8_t batch[BATCH][sizeof(struct message_handshake_initiation)];
	int fds[256], fd;
	uint64_t sock_sent[256] = { 0 }, prime_sent, start, mac2_start = 0, mac2_sent = 0;
	unsigned int j, k, tries;

	flood_setup(s);
	for (j = 0; j < s->sockets; j++)
		fds[j] = open_udp(s);
	fd = open_udp(s);
	cookie_init(&mac2_cookie, s->server_pub);
	start = now_ns();
	for (tries = 0; tries < 20 && !mac2_have_cookie; tries++) {
		/* More than the target's 1/8-of-the-queue per second. */
		flood_from_pool(s, fds, sock_sent, start, 1024, false);
		flood_fill(s, batch[0], &mac2_cookie);
		send_dgram(s, fd, batch[0], sizeof(batch[0]));
		linger(s, &fd, 1, 100, mac2_take_cookie);
	}
	prime_sent = s->sent;
	if (!mac2_have_cookie) {
		fprintf(stderr, "wgstorm: mac2-init: no cookie reply after %llu initiations: "
			"the target never went under load\n", (unsigned long long)prime_sent);
		goto out;
	}
	mac2_start = now_ns();
	while (keep_going(s, mac2_start, mac2_sent)) {
		pace(s, mac2_start, mac2_sent);
		for (k = 0; k < BATCH; k++)
			flood_fill(s, batch[k], &mac2_cookie);
		mac2_sent += send_batch(s, fd, batch, sizeof(batch[0]), BATCH);
		drain(s, fd, mac2_phase_reply);
	}
	linger(s, &fd, 1, s->linger_ms, mac2_phase_reply);
out:
	for (j = 0; j < s->sockets; j++)
		drain(s, fds[j], NULL);
	snprintf(s->extra, sizeof(s->extra),
		 "prime_sent=%llu mac2_sent=%llu mac2_seconds=%.2f cookies_to_mac2_source=%llu",
		 (unsigned long long)prime_sent, (unsigned long long)mac2_sent,
		 mac2_have_cookie ? (double)(now_ns() - mac2_start) / 1e9 : 0.0,
		 (unsigned long long)mac2_phase_cookies);
	for (j = 0; j < s->sockets; j++)
		close(fds[j]);
	close(fd);
}

/* ---- big datagrams and fragments ---- */

static size_t gen_big(struct storm *s, uint64_t i, uint8_t *buf, enum reason *r)
{
	size_t max = s->family == AF_INET ? BIG_MAX : BIG_MAX + 20, len;

	len = i % 5 == 0 ? max : 1473 + rnd_below((uint32_t)(max - 1473));
	randombytes_buf(buf, len);
	switch (i % 3) {
	case 0:
		put_le32(buf, MESSAGE_DATA);     /* a huge data message, unknown index */
		break;
	case 1:
		put_le32(buf, MESSAGE_HANDSHAKE_INITIATION);   /* wrong length */
		break;
	default:
		buf[1] |= 1;                     /* reserved byte set: bad type */
		break;
	}
	*r = predict(buf, len);
	return len;
}

/* The IPv4 source address the kernel uses towards the target. */
static struct in_addr source_towards(struct storm *s)
{
	union sockaddr_any a;
	socklen_t len = sizeof(a);
	int fd = open_udp(s);

	if (connect(fd, &s->target.sa, s->addr_len) || getsockname(fd, &a.sa, &len)) {
		perror("wgstorm: source address");
		exit(1);
	}
	close(fd);
	return a.in4.sin_addr;
}

/* One IPv4 fragment of a UDP datagram: payload (UDP header included in the
 * first) at byte offset off, with or without More Fragments. */
static void send_fragment(struct storm *s, int raw, struct in_addr src, uint16_t id,
			  size_t off, bool more, const uint8_t *payload, size_t len)
{
	uint8_t pkt[1500];
	struct iphdr *ip = (struct iphdr *)pkt;
	struct sockaddr_in to = s->target.in4;

	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons((uint16_t)(sizeof(*ip) + len));
	ip->id = htons(id);
	ip->frag_off = htons((uint16_t)((more ? IP_MF : 0) | (off / 8)));
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = src.s_addr;
	ip->daddr = to.sin_addr.s_addr;
	memcpy(pkt + sizeof(*ip), payload, len);
	ip->check = htons(inet_csum(ip, sizeof(*ip), 0));
	to.sin_port = 0;
	if (sendto(raw, pkt, sizeof(*ip) + len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		s->send_errors++;
}

/* A UDP datagram (header + body) to the target, as raw bytes. */
static size_t udp_datagram(struct storm *s, uint16_t sport, const uint8_t *body, size_t len,
			   uint8_t *out)
{
	uint16_t v;

	v = htons(sport);
	memcpy(out, &v, 2);
	memcpy(out + 2, &s->target.in4.sin_port, 2);
	v = htons((uint16_t)(8 + len));
	memcpy(out + 4, &v, 2);
	memset(out + 6, 0, 2);   /* no checksum: allowed over IPv4 */
	memcpy(out + 8, body, len);
	return 8 + len;
}

static void run_big(struct storm *s)
{
	uint8_t *buf = malloc(MAX_DGRAM), dgram[2048], body[2000];
	int fd = open_udp(s), raw = -1, off = IP_PMTUDISC_DONT;
	uint64_t start = now_ns(), i, broken = 0, tiny = 0;
	struct in_addr src = { 0 };

	if (!buf)
		exit(1);
	/* Let the kernel fragment instead of refusing with EMSGSIZE. */
	if (s->family == AF_INET) {
		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &off, sizeof(off));
		raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
		if (raw < 0)
			perror("wgstorm: raw socket (no hand-made fragments)");
		src = source_towards(s);
	} else {
		off = IPV6_PMTUDISC_DONT;
		setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &off, sizeof(off));
	}
	for (i = 0; keep_going(s, start, i); i++) {
		enum reason r = R_NONE;
		size_t len;

		pace(s, start, i);
		len = gen_big(s, i, buf, &r);
		if (send_dgram(s, fd, buf, len))
			s->expect[r]++;
		drain(s, fd, NULL);
		if (raw < 0 || i % 4)
			continue;
		/* Three datagrams that must never be reassembled: a first
		 * fragment alone, a last fragment alone, and two fragments
		 * that overlap (RFC 5722 spirit; Linux drops the datagram). */
		randombytes_buf(body, sizeof(body));
		put_le32(body, MESSAGE_HANDSHAKE_INITIATION);
		len = udp_datagram(s, (uint16_t)(40000 + rnd_below(20000)), body, sizeof(body), dgram);
		send_fragment(s, raw, src, (uint16_t)(1 + rnd_below(65535)), 0, true, dgram, 1480);
		send_fragment(s, raw, src, (uint16_t)(1 + rnd_below(65535)), 1480, false,
			      dgram + 1480, len - 1480);
		{
			uint16_t id = (uint16_t)(1 + rnd_below(65535));

			send_fragment(s, raw, src, id, 0, true, dgram, 1480);
			send_fragment(s, raw, src, id, 1472, false, dgram + 1472, len - 1472);
		}
		broken += 3;
		/* And one that must: a 104-byte datagram in 8-byte fragments,
		 * last first. Its body is a bad-type junk message. */
		{
			uint16_t id = (uint16_t)(1 + rnd_below(65535));
			size_t o;

			randombytes_buf(body, 96);
			body[1] |= 1;
			len = udp_datagram(s, (uint16_t)(40000 + rnd_below(20000)), body, 96, dgram);
			for (o = len; o > 0; o -= 8)
				send_fragment(s, raw, src, id, o - 8, o < len, dgram + o - 8, 8);
			s->expect[predict(body, 96)]++;
			tiny++;
		}
	}
	linger(s, &fd, 1, s->linger_ms, NULL);
	snprintf(s->extra, sizeof(s->extra), "big_sent=%llu raw_broken=%llu raw_tiny=%llu",
		 (unsigned long long)s->sent, (unsigned long long)broken, (unsigned long long)tiny);
	if (raw >= 0)
		close(raw);
	close(fd);
	free(buf);
}

/* ---- session modes: a real peer ---- */

struct session {
	int fd;
	struct noise_static_identity id;
	struct noise_handshake hs;
	struct noise_keypairs kps;
	struct cookie cookie;          /* mac1/mac2 towards the target */
	struct cookie_checker checker; /* checks the target's mac1 to us */
	struct noise_ops ops;
	struct noise_keypair *kp;
	uint64_t echo_replies, keepalives, bad_data, fragments;
	uint16_t seq;
	struct message_handshake_initiation last_init;  /* the one answered */
	/* Copies of what we sent, to replay. */
	uint8_t *sent_msgs[64];
	size_t sent_lens[64];
	unsigned int n_sent;
};

static struct noise_handshake *sess_lookup_by_static(void *ctx, const uint8_t key[NOISE_PUBLIC_KEY_LEN])
{
	(void)ctx;
	(void)key;
	return NULL;
}

static struct noise_handshake *sess_lookup_by_index(void *ctx, uint32_t index)
{
	struct session *ss = ctx;

	return ss->hs.local_index == index ? &ss->hs : NULL;
}

static uint32_t sess_index_new(void *ctx, struct noise_handshake *hs)
{
	uint32_t i;

	(void)ctx;
	(void)hs;
	do
		i = rnd32();
	while (!i || i == UINT32_MAX);
	return i;
}

static void sess_index_to_keypair(void *ctx, struct noise_handshake *hs, struct noise_keypair *kp)
{
	(void)ctx;
	(void)hs;
	(void)kp;
}

static void sess_index_remove(void *ctx, uint32_t index)
{
	(void)ctx;
	(void)index;
}

static void on_data_reply(struct storm *s, const uint8_t *p, size_t len)
{
	struct session *ss = s->sess;
	uint8_t plain[MAX_DGRAM];
	uint64_t counter;
	size_t n;

	if (!ss || !ss->kp)
		return;
	if (!transport_open(ss->kp, p, len, plain, &counter)) {
		ss->bad_data++;
		return;
	}
	n = len - MESSAGE_MINIMUM_LENGTH;
	if (!n) {
		ss->keepalives++;
		return;
	}
	/* An ICMP echo reply to us, with our identifier, or (a big one) a
	 * later fragment of one. */
	if (n >= 20 && plain[0] == 0x45 && plain[9] == IPPROTO_ICMP &&
	    ((plain[6] & 0x1f) || plain[7])) {
		ss->fragments++;
	} else if (n >= 28 && plain[0] == 0x45 && plain[9] == IPPROTO_ICMP && plain[20] == 0 &&
		   plain[24] == (ECHO_ID >> 8) && plain[25] == (ECHO_ID & 0xff)) {
		ss->echo_replies++;
		if (plain[6] & 0x20)
			ss->fragments++;   /* the first fragment */
	} else {
		ss->bad_data++;
	}
}

/* The handshake: initiation, then a response (or a cookie reply, after
 * which the initiation goes again with mac2). */
static bool sess_handshake_reply(struct storm *s, const uint8_t *p, size_t len)
{
	struct session *ss = s->sess;
	union sockaddr_any from = s->target;

	if (len == sizeof(struct message_handshake_cookie) && get_le32(p) == MESSAGE_HANDSHAKE_COOKIE) {
		s->replies[REPLY_COOKIE]++;
		cookie_message_consume((const struct message_handshake_cookie *)p, &ss->cookie);
		return true;
	}
	if (len != sizeof(struct message_handshake_response) || get_le32(p) != MESSAGE_HANDSHAKE_RESPONSE)
		return false;
	s->replies[REPLY_RESP]++;
	if (cookie_validate_packet(&ss->checker, p, len, &from.sa, false) != VALID_MAC_BUT_NO_COOKIE) {
		fprintf(stderr, "wgstorm: the handshake response has a bad mac1\n");
		return true;
	}
	if (!noise_handshake_consume_response((const struct message_handshake_response *)p, &ss->id,
					      &ss->ops))
		return true;
	ss->kp = noise_handshake_begin_session(&ss->hs, &ss->kps, &ss->ops);
	return true;
}

static bool sess_open(struct storm *s, struct session *ss)
{
	uint8_t pub[NOISE_PUBLIC_KEY_LEN];
	int attempt;

	memset(ss, 0, sizeof(*ss));
	s->sess = ss;
	ss->fd = open_udp(s);
	ss->ops = (struct noise_ops){
		.lookup_by_static = sess_lookup_by_static,
		.lookup_by_index = sess_lookup_by_index,
		.index_new = sess_index_new,
		.index_to_keypair = sess_index_to_keypair,
		.index_remove = sess_index_remove,
		.ctx = ss,
	};
	noise_static_identity_set(&ss->id, s->peer_key);
	if (!noise_handshake_init(&ss->hs, &ss->id, s->server_pub, s->has_psk ? s->psk : NULL, NULL)) {
		fprintf(stderr, "wgstorm: the server's public key is not usable\n");
		return false;
	}
	cookie_init(&ss->cookie, s->server_pub);
	crypto_public_key(pub, s->peer_key);
	cookie_checker_init(&ss->checker, pub, NULL);
	for (attempt = 0; attempt < 5 && !ss->kp; attempt++) {
		struct message_handshake_initiation msg;
		uint64_t end;

		if (!noise_handshake_create_initiation(&msg, &ss->hs, &ss->ops))
			return false;
		cookie_add_mac_to_packet(&msg, sizeof(msg), &ss->cookie);
		send_dgram(s, ss->fd, &msg, sizeof(msg));
		ss->last_init = msg;
		end = now_ns() + NSEC_PER_SEC;
		while (!ss->kp && now_ns() < end) {
			bool had_cookie = ss->cookie.is_valid;

			linger(s, &ss->fd, 1, 20, sess_handshake_reply);
			if (!had_cookie && ss->cookie.is_valid)
				break;  /* under load: again, with mac2 */
		}
	}
	if (!ss->kp)
		fprintf(stderr, "wgstorm: %s: no handshake with the target\n", s->mode);
	return ss->kp != NULL;
}

static void sess_close(struct storm *s, struct session *ss)
{
	unsigned int i;

	for (i = 0; i < ss->n_sent; i++)
		free(ss->sent_msgs[i]);
	noise_keypairs_clear(&ss->kps, &ss->ops);
	crypto_wipe(&ss->hs, sizeof(ss->hs));
	crypto_wipe(&ss->id, sizeof(ss->id));
	close(ss->fd);
	s->sess = NULL;
}

/* An ICMP echo request of total bytes (28..65535) from tunnel_src to
 * tunnel_dst. */
static size_t build_echo_sized(struct storm *s, struct session *ss, uint8_t *p, size_t total)
{
	uint16_t v;
	size_t i;

	memset(p, 0, 28);
	p[0] = 0x45;
	v = htons((uint16_t)total);
	memcpy(p + 2, &v, 2);
	v = htons(ss->seq);
	memcpy(p + 4, &v, 2);
	p[6] = total > 1420 ? 0 : 0x40;  /* DF unless it is big */
	p[8] = 64;
	p[9] = IPPROTO_ICMP;
	memcpy(p + 12, &s->tunnel_src, 4);
	memcpy(p + 16, &s->tunnel_dst, 4);
	v = htons(inet_csum(p, 20, 0));
	memcpy(p + 10, &v, 2);
	p[20] = 8;                       /* echo request */
	p[24] = ECHO_ID >> 8;
	p[25] = ECHO_ID & 0xff;
	v = htons(ss->seq++);
	memcpy(p + 26, &v, 2);
	for (i = 28; i < total; i++)
		p[i] = (uint8_t)i;
	v = htons(inet_csum(p + 20, total - 20, 0));
	memcpy(p + 22, &v, 2);
	return total;
}

/* The usual 84-byte echo. */
static size_t build_echo(struct storm *s, struct session *ss, uint8_t *p)
{
	return build_echo_sized(s, ss, p, ECHO_LEN);
}

/* Seal plain (len bytes) on the session and send it; keep a copy when asked. */
static bool sess_send(struct storm *s, struct session *ss, const uint8_t *plain, size_t len, bool keep)
{
	static uint8_t out[MAX_DGRAM + 64];
	size_t padded = transport_padded_len(len, DEFAULT_MTU), n;

	n = transport_seal(ss->kp, plain, len, padded, out);
	if (!n)
		return false;
	if (!send_dgram(s, ss->fd, out, n))
		return false;
	if (keep && ss->n_sent < 64) {
		ss->sent_msgs[ss->n_sent] = malloc(n);
		if (ss->sent_msgs[ss->n_sent]) {
			memcpy(ss->sent_msgs[ss->n_sent], out, n);
			ss->sent_lens[ss->n_sent++] = n;
		}
	}
	return true;
}

/* A data message with a counter of our choosing and a valid tag. */
static void sess_send_with_counter(struct storm *s, struct session *ss, const uint8_t *plain,
				   size_t len, uint64_t counter, bool bad_tag)
{
	uint8_t out[2048];
	struct message_data *hdr = (struct message_data *)out;
	size_t padded = transport_padded_len(len, DEFAULT_MTU);

	hdr->header.type = htole32(MESSAGE_DATA);
	hdr->key_idx = htole32(ss->kp->remote_index);
	hdr->counter = htole64(counter);
	memset(out + sizeof(*hdr), 0, padded);
	memcpy(out + sizeof(*hdr), plain, len);
	crypto_aead_seal(out + sizeof(*hdr), out + sizeof(*hdr), padded, NULL, 0, counter,
			 ss->kp->sending_key);
	if (bad_tag)
		out[message_data_len(padded) - 1] ^= 0x80;
	send_dgram(s, ss->fd, out, message_data_len(padded));
}

static void sess_wait_echoes(struct storm *s, struct session *ss, uint64_t want, unsigned int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * NSEC_PER_MSEC;

	while (ss->echo_replies < want && now_ns() < end)
		linger(s, &ss->fd, 1, 10, NULL);
}

/* The end of a session mode: make sure all answers are in, then a last
 * keepalive, so the target hears from us after its last data and does not
 * start a handshake of its own later (timers: new handshake). */
static void sess_finish(struct storm *s, struct session *ss, uint64_t want_echoes)
{
	sess_wait_echoes(s, ss, want_echoes, 2000);
	linger(s, &ss->fd, 1, s->linger_ms, NULL);
	sess_send(s, ss, NULL, 0, false);
	linger(s, &ss->fd, 1, 50, NULL);
}

static int run_replay(struct storm *s)
{
	struct session ss;
	uint8_t echo[ECHO_LEN];
	unsigned int i, round, rounds = 20;
	uint64_t before, answered, valid_sent = 0;

	if (!sess_open(s, &ss))
		return 2;
	/* A keepalive confirms the session to the responder, then echoes. */
	sess_send(s, &ss, NULL, 0, true);
	valid_sent++;
	for (i = 0; i < s->valid; i++) {
		sess_send(s, &ss, echo, build_echo(s, &ss, echo), true);
		valid_sent++;
	}
	sess_wait_echoes(s, &ss, s->valid, 2000);
	linger(s, &ss.fd, 1, 100, NULL);
	before = ss.echo_replies;
	/* Each message again, many times: all replays. */
	for (round = 0; round < rounds; round++)
		for (i = 0; i < ss.n_sent; i++)
			if (send_dgram(s, ss.fd, ss.sent_msgs[i], ss.sent_lens[i]))
				s->expect[R_REPLAY]++;
	/* Then jump far ahead (a valid keepalive), and replay again: now
	 * they are behind the window. */
	atomic_fetch_add(&ss.kp->sending_counter, 4 * COUNTER_BITS_TOTAL);
	sess_send(s, &ss, NULL, 0, false);
	valid_sent++;
	linger(s, &ss.fd, 1, 50, NULL);
	for (i = 0; i < ss.n_sent; i++)
		if (send_dgram(s, ss.fd, ss.sent_msgs[i], ss.sent_lens[i]))
			s->expect[R_REPLAY]++;
	/* The answered initiation again: a replayed timestamp. */
	for (i = 0; i < 10; i++)
		if (send_dgram(s, ss.fd, &ss.last_init, sizeof(ss.last_init)))
			s->expect[R_HANDSHAKE_FAILED]++;
	/* From another address, the same: neither the replayed data nor the
	 * replayed initiation may move the peer's endpoint there. */
	if (s->has_alt_bind) {
		int alt = open_udp_at(s, &s->alt_bind);

		for (i = 0; i < ss.n_sent; i++)
			if (send_dgram(s, alt, ss.sent_msgs[i], ss.sent_lens[i]))
				s->expect[R_REPLAY]++;
		for (i = 0; i < 10; i++)
			if (send_dgram(s, alt, &ss.last_init, sizeof(ss.last_init)))
				s->expect[R_HANDSHAKE_FAILED]++;
		linger(s, &alt, 1, 100, NULL);
		close(alt);
	}
	linger(s, &ss.fd, 1, s->linger_ms, NULL);
	answered = ss.echo_replies - before;
	/* The session still works. */
	sess_send(s, &ss, echo, build_echo(s, &ss, echo), false);
	valid_sent++;
	sess_finish(s, &ss, before + answered + 1);
	snprintf(s->extra, sizeof(s->extra),
		 "src_port=%u valid_sent=%llu echo_sent=%u echo_replies=%llu replays_answered=%llu "
		 "expected_data_replies=%u keepalives_received=%llu bad_data=%llu",
		 local_port(ss.fd), (unsigned long long)valid_sent + 1, s->valid + 1,
		 (unsigned long long)ss.echo_replies, (unsigned long long)answered, s->valid + 1,
		 (unsigned long long)ss.keepalives, (unsigned long long)ss.bad_data);
	sess_close(s, &ss);
	return 0;
}

static int run_past_limit(struct storm *s)
{
	static const uint64_t fixed[] = {
		REJECT_AFTER_MESSAGES, REJECT_AFTER_MESSAGES + 1, REJECT_AFTER_MESSAGES + 2,
		REJECT_AFTER_MESSAGES + 4096, UINT64_MAX - 1, UINT64_MAX,
	};
	struct session ss;
	uint8_t echo[ECHO_LEN];
	uint64_t before, answered, past = 0, tampered = 0;
	unsigned int i, round;

	if (!sess_open(s, &ss))
		return 2;
	sess_send(s, &ss, NULL, 0, false);
	sess_send(s, &ss, echo, build_echo(s, &ss, echo), false);
	sess_wait_echoes(s, &ss, 1, 2000);
	before = ss.echo_replies;
	for (round = 0; round < 20; round++) {
		/* Valid tags, counters at or past the limit. */
		for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
			sess_send_with_counter(s, &ss, echo, build_echo(s, &ss, echo), fixed[i], false);
			past++;
		}
		{
			uint64_t c;

			randombytes_buf(&c, sizeof(c));
			c = REJECT_AFTER_MESSAGES + c % (UINT64_MAX - REJECT_AFTER_MESSAGES);
			sess_send_with_counter(s, &ss, echo, build_echo(s, &ss, echo), c, false);
			past++;
		}
		/* Fresh counters, bad tags: must not move the window either. */
		sess_send_with_counter(s, &ss, echo, build_echo(s, &ss, echo),
				       atomic_fetch_add(&ss.kp->sending_counter, 1), true);
		tampered++;
	}
	s->expect[R_DECRYPT_FAILED] += past + tampered;
	linger(s, &ss.fd, 1, s->linger_ms, NULL);
	answered = ss.echo_replies - before;
	sess_send(s, &ss, echo, build_echo(s, &ss, echo), false);
	sess_finish(s, &ss, before + answered + 1);
	snprintf(s->extra, sizeof(s->extra),
		 "past_limit_sent=%llu bad_tag_sent=%llu echo_replies=%llu bad_answered=%llu "
		 "expected_data_replies=2 keepalives_received=%llu bad_data=%llu",
		 (unsigned long long)past, (unsigned long long)tampered,
		 (unsigned long long)ss.echo_replies, (unsigned long long)answered,
		 (unsigned long long)ss.keepalives, (unsigned long long)ss.bad_data);
	sess_close(s, &ss);
	return 0;
}

static int run_bad_inner(struct storm *s)
{
	struct session ss;
	uint8_t p[ECHO_LEN + 64];
	uint64_t before, answered;
	unsigned int round;
	uint16_t v;

	if (!sess_open(s, &ss))
		return 2;
	sess_send(s, &ss, NULL, 0, false);
	linger(s, &ss.fd, 1, 50, NULL);
	before = ss.echo_replies;
	for (round = 0; round < 20; round++) {
		/* Version 7. */
		build_echo(s, &ss, p);
		p[0] = 0x75;
		sess_send(s, &ss, p, ECHO_LEN, false);
		/* IPv4 whose total length is past the plaintext. */
		build_echo(s, &ss, p);
		p[2] = 0x05;
		p[3] = 0xdc;
		sess_send(s, &ss, p, ECHO_LEN, false);
		/* IPv4 with IHL 4. */
		build_echo(s, &ss, p);
		p[0] = 0x44;
		sess_send(s, &ss, p, ECHO_LEN, false);
		/* Shorter than an IPv4 header (16 bytes, no padding to add). */
		build_echo(s, &ss, p);
		sess_send(s, &ss, p, 16, false);
		s->expect[R_BAD_INNER] += 4;
		/* A well-formed echo from a source not allowed for this peer. */
		build_echo(s, &ss, p);
		p[12] = 10, p[13] = 9, p[14] = 9, p[15] = 9;
		p[10] = p[11] = 0;
		v = htons(inet_csum(p, 20, 0));
		memcpy(p + 10, &v, 2);
		sess_send(s, &ss, p, ECHO_LEN, false);
		/* An IPv6 packet (no next header) from fd00::99. */
		memset(p, 0, 48);
		p[0] = 0x60;
		p[5] = 8;
		p[6] = 59;
		p[7] = 64;
		p[8] = 0xfd, p[23] = 0x99;
		p[24] = 0xfd, p[39] = 0x01;
		sess_send(s, &ss, p, 48, false);
		s->expect[R_SOURCE_NOT_ALLOWED] += 2;
	}
	linger(s, &ss.fd, 1, s->linger_ms, NULL);
	answered = ss.echo_replies - before;
	sess_send(s, &ss, p, build_echo(s, &ss, p), false);
	sess_finish(s, &ss, before + answered + 1);
	snprintf(s->extra, sizeof(s->extra),
		 "echo_replies=%llu bad_answered=%llu expected_data_replies=1 "
		 "keepalives_received=%llu bad_data=%llu",
		 (unsigned long long)ss.echo_replies, (unsigned long long)answered,
		 (unsigned long long)ss.keepalives, (unsigned long long)ss.bad_data);
	sess_close(s, &ss);
	return 0;
}

/* The largest authenticated packets: ICMP echoes as big as a UDP datagram
 * of the underlay allows (the data message is 32 bytes more than the inner
 * packet, which is not padded past the MTU), and around the MTU. Each
 * must be delivered, and its (fragmented) echo reply come back. */
static int run_big_data(struct storm *s)
{
	size_t max = s->family == AF_INET ? 65507 - 32 : 65527 - 32;
	size_t sizes[] = { max, max, max - 1, 1421, 1420, 1419 };
	static uint8_t p[MAX_DGRAM];
	struct session ss;
	unsigned int i, n = sizeof(sizes) / sizeof(sizes[0]);

	if (!sess_open(s, &ss))
		return 2;
	sess_send(s, &ss, NULL, 0, false);
	for (i = 0; i < n; i++)
		sess_send(s, &ss, p, build_echo_sized(s, &ss, p, sizes[i]), false);
	sess_finish(s, &ss, n);
	snprintf(s->extra, sizeof(s->extra),
		 "echo_sent=%u largest=%zu echo_replies=%llu fragments=%llu keepalives_received=%llu "
		 "bad_data=%llu",
		 n, max, (unsigned long long)ss.echo_replies, (unsigned long long)ss.fragments,
		 (unsigned long long)ss.keepalives, (unsigned long long)ss.bad_data);
	sess_close(s, &ss);
	return 0;
}

/* A real peer initiating far too often: fresh, valid initiations (new
 * ephemeral, new timestamp) at --rate. The target consumes at most
 * INITIATIONS_PER_SECOND of one peer's initiations a second (and none whose
 * TAI64N timestamp, rounded, is not newer); the rest fail in Noise. */
static int run_init_flood(struct storm *s)
{
	struct session ss;
	uint64_t start, i;

	/* A first handshake, so the peer is known to answer at all. */
	if (!sess_open(s, &ss))
		return 2;
	start = now_ns();
	for (i = 0; keep_going(s, start, i); i++) {
		struct message_handshake_initiation msg;

		pace(s, start, i);
		if (!noise_handshake_create_initiation(&msg, &ss.hs, &ss.ops))
			break;
		cookie_add_mac_to_packet(&msg, sizeof(msg), &ss.cookie);
		send_dgram(s, ss.fd, &msg, sizeof(msg));
		drain(s, ss.fd, NULL);
	}
	linger(s, &ss.fd, 1, s->linger_ms, NULL);
	snprintf(s->extra, sizeof(s->extra), "flood_initiations=%llu flood_seconds=%.3f",
		 (unsigned long long)i, (double)(now_ns() - start) / 1e9);
	sess_close(s, &ss);
	return 0;
}

/* ---- handshake-rate: how many handshakes a responder completes ---- */

/* Many real peers (--keys-file: one private key per line, all configured
 * on the target), each with its own source address (--src-base + i, sent
 * with IP_PKTINFO: the caller routes the range to lo, e.g.
 * `ip route add local 198.18.0.0/16 dev lo`) and one of --sockets source
 * ports. Each peer keeps at most one initiation in flight and waits
 * HS_PEER_GAP_MS between its own: above the responder's per-peer limit
 * (INITIATIONS_PER_SECOND) and its per-source ratelimiter
 * (RATELIMITER_PACKETS_PER_SECOND), which applies once it is under load.
 * A cookie reply is taken in, and the peer's next initiation carries mac2,
 * as a real peer's would. At most --window initiations are in flight at
 * once. A well-formed response (our index, mac1 for the peer) is a
 * handshake the responder completed; they are counted after --warmup-ms. */
#define HS_PEER_GAP_MS 55U
#define HS_TIMEOUT_MS 250U
#define HS_PEER_BITS 20U

struct hs_peer {
	uint8_t e_pub[NOISE_PUBLIC_KEY_LEN];
	uint8_t es[NOISE_PUBLIC_KEY_LEN], ss[NOISE_PUBLIC_KEY_LEN];
	uint8_t static_pub[NOISE_PUBLIC_KEY_LEN];
	uint8_t resp_mac1_key[NOISE_SYMMETRIC_KEY_LEN];
	struct cookie cookie;
	struct in_addr src;
	uint64_t sent_at;
	uint32_t index;
	bool in_flight;
};

/* Read private keys, one per line (base64 or hex); at most max. */
static unsigned int read_keys(const char *path, uint8_t (*keys)[NOISE_PRIVATE_KEY_LEN], unsigned int max)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	const char *name = f == stdin ? "standard input" : path;
	char line[256];
	unsigned int n = 0, lineno = 0;

	if (!f) {
		fprintf(stderr, "wgstorm: cannot open --keys-file %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\r\n");

		lineno++;
		line[len] = 0;
		if (!len)
			continue;
		if (n == max) {
			fprintf(stderr, "wgstorm: more than %u keys in %s\n", max, name);
			exit(1);
		}
		if (!parse_key(keys[n], line)) {
			fprintf(stderr, "wgstorm: %s line %u is not a key (base64 or hex)\n", name, lineno);
			exit(1);
		}
		n++;
	}
	crypto_wipe(line, sizeof(line));
	if (f != stdin)
		fclose(f);
	return n;
}

/* pubkeys: private keys on stdin, their public keys on stdout (base64, one
 * per line): `wg pubkey` for many keys at once. */
static int run_pubkeys(void)
{
	enum { MAX = 1U << HS_PEER_BITS };
	uint8_t (*keys)[NOISE_PRIVATE_KEY_LEN] = calloc(MAX, NOISE_PRIVATE_KEY_LEN);
	uint8_t pub[NOISE_PUBLIC_KEY_LEN];
	char b64[sodium_base64_ENCODED_LEN(NOISE_PUBLIC_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];
	unsigned int n, i;

	if (!keys)
		return 1;
	n = read_keys("-", keys, MAX);
	for (i = 0; i < n; i++) {
		crypto_public_key(pub, keys[i]);
		sodium_bin2base64(b64, sizeof(b64), pub, sizeof(pub), sodium_base64_VARIANT_ORIGINAL);
		puts(b64);
	}
	crypto_wipe(keys, (size_t)MAX * NOISE_PRIVATE_KEY_LEN);
	free(keys);
	return fflush(stdout) ? 1 : 0;
}

static bool hs_send(struct storm *s, int fd, struct hs_peer *p, uint32_t id)
{
	struct message_handshake_initiation m;
	char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))] = { 0 };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_name = &s->target, .msg_namelen = s->addr_len, .msg_iov = &iov,
			     .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	struct in_pktinfo pi = { .ipi_spec_dst = p->src };

	cm->cmsg_level = IPPROTO_IP;
	cm->cmsg_type = IP_PKTINFO;
	cm->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
	/* The ephemeral stays the same (the responder does not care), so
	 * es and ss are computed once per peer: the generator costs no DH per
	 * initiation, the responder does all of its usual work. */
	forge_initiation(&m, s->server_pub, p->e_pub, p->es, p->static_pub, p->ss);
	p->index = (rnd32() << HS_PEER_BITS) | id;
	m.sender_index = htole32(p->index);
	cookie_add_mac_to_packet(&m, sizeof(m), &p->cookie);
	if (sendmsg(fd, &mh, 0) != (ssize_t)sizeof(m)) {
		if (errno == EINVAL || errno == EADDRNOTAVAIL) {
			fprintf(stderr, "wgstorm: cannot send from %s (%s): route the source range to lo, "
				"e.g. ip route add local 198.18.0.0/16 dev lo\n", inet_ntoa(p->src),
				strerror(errno));
			exit(1);
		}
		s->send_errors++;
		return false;
	}
	s->sent++;
	return true;
}

static int run_handshake_rate(struct storm *s, const char *keys_path, struct in_addr src_base,
			      unsigned int window, unsigned int warmup_ms)
{
	enum { MAX = 1U << 16 };
	uint8_t (*keys)[NOISE_PRIVATE_KEY_LEN] = calloc(MAX, NOISE_PRIVATE_KEY_LEN);
	uint8_t e_priv[NOISE_PRIVATE_KEY_LEN];
	struct hs_peer *peers;
	struct pollfd pf[256];
	uint64_t start, warm, end, now, handshakes = 0, cookies = 0, timeouts = 0, stale = 0;
	uint64_t gap = (uint64_t)HS_PEER_GAP_MS * NSEC_PER_MSEC, timeout = (uint64_t)HS_TIMEOUT_MS * NSEC_PER_MSEC;
	unsigned int n, i, j, cursor = 0, in_flight = 0, nsock = s->sockets;
	int one = 1;

	if (!keys)
		return 1;
	if (s->family != AF_INET)
		die("handshake-rate: %s", "only an IPv4 --target is supported");
	n = read_keys(keys_path, keys, MAX);
	if (!n)
		die("handshake-rate: no keys in %s", keys_path);
	peers = calloc(n, sizeof(*peers));
	if (!peers)
		return 1;
	if (nsock > n)
		nsock = n;
	for (i = 0; i < n; i++) {
		struct hs_peer *p = &peers[i];

		crypto_public_key(p->static_pub, keys[i]);
		crypto_generate_private(e_priv);
		crypto_public_key(p->e_pub, e_priv);
		if (!crypto_dh(p->es, e_priv, s->server_pub) || !crypto_dh(p->ss, keys[i], s->server_pub))
			die("handshake-rate: %s", "DH with --server-pub gives zero (a low-order key?)");
		crypto_hash_concat(p->resp_mac1_key, COOKIE_LABEL_MAC1, strlen(COOKIE_LABEL_MAC1),
				   p->static_pub, NOISE_PUBLIC_KEY_LEN);
		cookie_init(&p->cookie, s->server_pub);
		p->src.s_addr = htonl(ntohl(src_base.s_addr) + i);
	}
	crypto_wipe(e_priv, sizeof(e_priv));
	crypto_wipe(keys, (size_t)MAX * NOISE_PRIVATE_KEY_LEN);
	free(keys);
	for (j = 0; j < nsock; j++) {
		pf[j] = (struct pollfd){ .fd = open_udp_at(s, NULL), .events = POLLIN };
		setsockopt(pf[j].fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	}

	start = now_ns();
	warm = start + (uint64_t)warmup_ms * NSEC_PER_MSEC;
	end = start + (uint64_t)(s->seconds * 1e9);
	if (end < warm + NSEC_PER_SEC / 10)
		die("handshake-rate: %s", "--seconds must exceed --warmup-ms by 100 ms at least");
	for (now = start; now < end; now = now_ns()) {
		unsigned int scanned, budget = BATCH;

		/* Start the next peers that may go, round robin. */
		for (scanned = 0; scanned < n && budget && in_flight < window; scanned++) {
			struct hs_peer *p = &peers[cursor];
			uint32_t id = cursor;

			cursor = (cursor + 1) % n;
			if (p->in_flight) {
				if (now - p->sent_at < timeout)
					continue;
				p->in_flight = false;   /* lost: queue full, or ratelimited */
				in_flight--;
				timeouts++;
			}
			if (p->sent_at && now - p->sent_at < gap)
				continue;
			p->sent_at = now;
			if (hs_send(s, pf[id % nsock].fd, p, id)) {
				p->in_flight = true;
				in_flight++;
			}
			budget--;
		}
		if (poll(pf, nsock, budget ? 1 : 0) <= 0)
			continue;
		for (j = 0; j < nsock; j++) {
			if (!(pf[j].revents & POLLIN))
				continue;
			for (;;) {
				ssize_t r = recv(pf[j].fd, s->rxbuf, sizeof(s->rxbuf), MSG_DONTWAIT);
				uint32_t type, idx;
				struct hs_peer *p;

				if (r < 0)
					break;
				type = r >= 12 ? get_le32(s->rxbuf) : 0;
				idx = r >= 12 ? get_le32(s->rxbuf + (type == MESSAGE_HANDSHAKE_RESPONSE ? 8 : 4)) : 0;
				p = (idx & ((1U << HS_PEER_BITS) - 1)) < n ? &peers[idx & ((1U << HS_PEER_BITS) - 1)] : NULL;
				if (!p || !p->in_flight || p->index != idx) {
					classify_reply(s, s->rxbuf, (size_t)r);
					stale++;
					continue;
				}
				if (type == MESSAGE_HANDSHAKE_RESPONSE &&
				    r == (ssize_t)sizeof(struct message_handshake_response)) {
					const struct message_handshake_response *resp = (const void *)s->rxbuf;
					uint8_t mac1[COOKIE_LEN];

					s->replies[REPLY_RESP]++;
					crypto_mac(mac1, p->resp_mac1_key, NOISE_SYMMETRIC_KEY_LEN, resp,
						   offsetof(struct message_handshake_response, macs));
					if (!crypto_equal(mac1, resp->macs.mac1, COOKIE_LEN))
						continue;   /* not from the target: keep waiting */
					if (now_ns() >= warm)
						handshakes++;
				} else if (type == MESSAGE_HANDSHAKE_COOKIE &&
					   r == (ssize_t)sizeof(struct message_handshake_cookie)) {
					s->replies[REPLY_COOKIE]++;
					if (!cookie_message_consume((const void *)s->rxbuf, &p->cookie))
						continue;
					cookies++;
				} else {
					classify_reply(s, s->rxbuf, (size_t)r);
					continue;
				}
				p->in_flight = false;
				in_flight--;
			}
		}
	}
	for (j = 0; j < nsock; j++)
		close(pf[j].fd);
	snprintf(s->extra, sizeof(s->extra),
		 "peers=%u window=%u handshakes=%llu measured_seconds=%.3f handshakes_per_s=%.1f "
		 "cookies=%llu timeouts=%llu stale=%llu",
		 n, window, (unsigned long long)handshakes, (double)(end - warm) / 1e9,
		 (double)handshakes * 1e9 / (double)(end - warm), (unsigned long long)cookies,
		 (unsigned long long)timeouts, (unsigned long long)stale);
	for (i = 0; i < n; i++)
		crypto_wipe(&peers[i], sizeof(peers[i]));
	free(peers);
	return 0;
}

/* ---- selftest: the forged initiations, against the library ---- */

static struct noise_handshake selftest_hs;
static uint8_t selftest_peer_pub[NOISE_PUBLIC_KEY_LEN];

static struct noise_handshake *selftest_lookup(void *ctx, const uint8_t key[NOISE_PUBLIC_KEY_LEN])
{
	unsigned int i;

	(void)ctx;
	/* Every low-order point is "configured" too, as in hostile.sh. */
	for (i = 0; i < 7; i++)
		if (!memcmp(key, low_order_points[i], NOISE_PUBLIC_KEY_LEN))
			return &selftest_hs;
	return memcmp(key, selftest_peer_pub, NOISE_PUBLIC_KEY_LEN) ? NULL : &selftest_hs;
}

static int run_selftest(struct storm *s)
{
	struct noise_static_identity responder;
	struct cookie_checker checker;
	struct noise_ops ops = { .lookup_by_static = selftest_lookup };
	struct message_handshake_initiation m;
	union sockaddr_any from = { 0 };
	uint8_t key[NOISE_PRIVATE_KEY_LEN], e_priv[NOISE_PRIVATE_KEY_LEN];
	uint8_t e_pub[NOISE_PUBLIC_KEY_LEN], es[NOISE_PUBLIC_KEY_LEN], ss_dh[NOISE_PUBLIC_KEY_LEN];
	uint64_t i;
	int failed = 0;

	from.in4.sin_family = AF_INET;
	crypto_generate_private(key);
	noise_static_identity_set(&responder, key);
	memcpy(s->server_pub, responder.static_public, NOISE_PUBLIC_KEY_LEN);
	cookie_checker_init(&checker, s->server_pub, NULL);
	crypto_generate_private(s->peer_key);
	s->has_peer_key = true;
	crypto_public_key(selftest_peer_pub, s->peer_key);
	noise_handshake_init(&selftest_hs, &responder, selftest_peer_pub, NULL, NULL);

	/* The control: forged the same way with honest DH results, the
	 * library's responder accepts it. */
	crypto_generate_private(e_priv);
	crypto_public_key(e_pub, e_priv);
	crypto_dh(es, e_priv, s->server_pub);
	crypto_dh(ss_dh, s->peer_key, s->server_pub);
	forge_initiation(&m, s->server_pub, e_pub, es, selftest_peer_pub, ss_dh);
	add_macs(s, &m, sizeof(m), NULL);
	if (cookie_validate_packet(&checker, &m, sizeof(m), &from.sa, false) != VALID_MAC_BUT_NO_COOKIE) {
		printf("selftest: FAIL: forged initiation has a bad mac1\n");
		failed++;
	}
	if (noise_handshake_consume_initiation(&m, &responder, &ops) != &selftest_hs) {
		printf("selftest: FAIL: honest forged initiation refused\n");
		failed++;
	} else {
		printf("selftest: ok: honest forged initiation accepted by noise.c\n");
	}
	/* The lowkey ones (static low-order, ephemeral low-order) must not
	 * be, though their mac1 is valid. */
	for (i = 0; i < 14; i++) {
		forge_lowkey(s, i, &m);
		if (cookie_validate_packet(&checker, &m, sizeof(m), &from.sa, false) !=
		    VALID_MAC_BUT_NO_COOKIE) {
			printf("selftest: FAIL: lowkey initiation %llu has a bad mac1\n",
			       (unsigned long long)i);
			failed++;
		}
		if (noise_handshake_consume_initiation(&m, &responder, &ops)) {
			printf("selftest: FAIL: lowkey initiation %llu accepted\n", (unsigned long long)i);
			failed++;
		}
	}
	printf("selftest: %s: 14 low-order initiations (7 static, 7 ephemeral) refused\n",
	       failed ? "FAIL" : "ok");
	crypto_wipe(key, sizeof(key));
	crypto_wipe(e_priv, sizeof(e_priv));
	return failed ? 2 : 0;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: wgstorm MODE --target ADDR:PORT [options]\n"
		"Modes: junk truncated random-init unknown-index mac1-init mac2-init lowkey big\n"
		"       replay past-limit bad-inner init-flood big-data handshake-rate selftest\n"
		"       pubkeys (private keys on stdin, public keys out)\n"
		"Options:\n"
		"  --target ADDR:PORT   the WireGuard endpoint ([v6]:port for IPv6)\n"
		"  --bind ADDR          source address\n"
		"  --alt-bind ADDR      replay: a second source address to replay from\n"
		"  --seconds S          how long (default 3)\n"
		"  --count N            at most N packets (default: no limit)\n"
		"  --rate PPS           packets per second, 0 = as fast as possible\n"
		"  --server-pub KEY     the target's public key (hex or base64)\n"
		"  --peer-key KEY       private key of a peer the target knows\n"
		"  --psk KEY            that peer's preshared key\n"
		"  --tunnel-src IP      inner IPv4 source (default 10.0.0.66)\n"
		"  --tunnel-dst IP      inner IPv4 destination (default 10.0.0.1)\n"
		"  --valid N            valid echoes in replay (default 5)\n"
		"  --sockets N          flood: source sockets at a time (default 64)\n"
		"  --per-socket N       flood: packets per source port (default 128)\n"
		"  --linger-ms MS       wait for replies at the end (default 300)\n"
		"  --keys-file FILE     handshake-rate: the peers' private keys, one a line\n"
		"  --src-base IP        handshake-rate: peer i sends from IP + i (default 198.18.0.1)\n"
		"  --window N           handshake-rate: initiations in flight at most (default 256)\n"
		"  --warmup-ms MS       handshake-rate: not counted at the start (default 1000)\n");
}

static double default_rate(const char *mode)
{
	if (!strcmp(mode, "mac1-init") || !strcmp(mode, "mac2-init"))
		return 0;
	if (!strcmp(mode, "big"))
		return 200;
	if (!strcmp(mode, "lowkey"))
		return 100;   /* stays under the target's load threshold */
	if (!strcmp(mode, "init-flood"))
		return 400;   /* so does this */
	return 10000;
}

static void report(struct storm *s, double secs)
{
	char expect[1024] = "";
	size_t off = 0;
	unsigned int r;

	for (r = 0; r < R_COUNT; r++) {
		if (!s->expect[r])
			continue;
		off += (size_t)snprintf(expect + off, sizeof(expect) - off, "%s%s=%llu", off ? " " : "",
					reason_names[r], (unsigned long long)s->expect[r]);
	}
	printf("wgstorm %s: sent %llu in %.2f s (%.0f/s) from %llu source port(s), %llu refused; "
	       "replies %llu: initiation %llu, response %llu, cookie %llu (valid %llu), data %llu, other %llu\n",
	       s->mode, (unsigned long long)s->sent, secs, secs > 0 ? (double)s->sent / secs : 0.0,
	       (unsigned long long)s->ports, (unsigned long long)s->send_errors,
	       (unsigned long long)(s->replies[REPLY_INIT] + s->replies[REPLY_RESP] +
				    s->replies[REPLY_COOKIE] + s->replies[REPLY_DATA] +
				    s->replies[REPLY_OTHER]),
	       (unsigned long long)s->replies[REPLY_INIT], (unsigned long long)s->replies[REPLY_RESP],
	       (unsigned long long)s->replies[REPLY_COOKIE], (unsigned long long)s->cookie_valid,
	       (unsigned long long)s->replies[REPLY_DATA], (unsigned long long)s->replies[REPLY_OTHER]);
	printf("EXPECT %s\n", expect);
	printf("RESULT mode=%s sent=%llu send_errors=%llu seconds=%.3f ports=%llu reply_init=%llu "
	       "reply_resp=%llu reply_cookie=%llu reply_cookie_valid=%llu reply_data=%llu "
	       "reply_other=%llu%s%s\n",
	       s->mode, (unsigned long long)s->sent, (unsigned long long)s->send_errors, secs,
	       (unsigned long long)s->ports, (unsigned long long)s->replies[REPLY_INIT],
	       (unsigned long long)s->replies[REPLY_RESP], (unsigned long long)s->replies[REPLY_COOKIE],
	       (unsigned long long)s->cookie_valid, (unsigned long long)s->replies[REPLY_DATA],
	       (unsigned long long)s->replies[REPLY_OTHER], s->extra[0] ? " " : "", s->extra);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' },
		{ "bind", required_argument, NULL, 'b' },
		{ "seconds", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "server-pub", required_argument, NULL, 'S' },
		{ "peer-key", required_argument, NULL, 'k' },
		{ "psk", required_argument, NULL, 'p' },
		{ "tunnel-src", required_argument, NULL, 'i' },
		{ "alt-bind", required_argument, NULL, 'a' },
		{ "tunnel-dst", required_argument, NULL, 'o' },
		{ "valid", required_argument, NULL, 'v' },
		{ "sockets", required_argument, NULL, 'P' },
		{ "per-socket", required_argument, NULL, 'K' },
		{ "linger-ms", required_argument, NULL, 'l' },
		{ "keys-file", required_argument, NULL, 'F' },
		{ "src-base", required_argument, NULL, 'B' },
		{ "window", required_argument, NULL, 'W' },
		{ "warmup-ms", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct storm st;
	struct storm *s = &st;
	bool has_target = false;
	const char *keys_path = NULL;
	struct in_addr src_base;
	unsigned int window = 256, warmup_ms = 1000;
	uint64_t start;
	int c, ret = 0;

	if (!crypto_init())
		return 1;
	if (argc < 2 || argv[1][0] == '-') {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 1 : 0;
	}
	s->mode = argv[1];
	s->seconds = 3;
	s->linger_ms = 300;
	s->valid = 5;
	s->sockets = 64;
	s->per_socket = 128;
	inet_pton(AF_INET, "198.18.0.1", &src_base);
	inet_pton(AF_INET, "10.0.0.66", &s->tunnel_src);
	inet_pton(AF_INET, "10.0.0.1", &s->tunnel_dst);
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (!parse_addr(&s->target, optarg, true))
				die("bad --target '%s' (ADDR:PORT or [ADDR6]:PORT)", optarg);
			has_target = true;
			break;
		case 'b':
			if (!parse_addr(&s->bind, optarg, false))
				die("bad --bind '%s'", optarg);
			s->has_bind = true;
			break;
		case 'a':
			if (!parse_addr(&s->alt_bind, optarg, false))
				die("bad --alt-bind '%s'", optarg);
			s->has_alt_bind = true;
			break;
		case 's':
			s->seconds = atof(optarg);
			break;
		case 'n':
			s->count = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			s->rate = atof(optarg);
			s->rate_given = true;
			break;
		case 'S':
			if (!parse_key(s->server_pub, optarg))
				die("bad --server-pub '%s'", optarg);
			s->has_server_pub = true;
			break;
		case 'k':
			if (!parse_key(s->peer_key, optarg))
				die("bad --peer-key '%s'", "(hidden)");
			s->has_peer_key = true;
			break;
		case 'p':
			if (!parse_key(s->psk, optarg))
				die("bad --psk '%s'", "(hidden)");
			s->has_psk = true;
			break;
		case 'i':
			if (inet_pton(AF_INET, optarg, &s->tunnel_src) != 1)
				die("bad --tunnel-src '%s'", optarg);
			break;
		case 'o':
			if (inet_pton(AF_INET, optarg, &s->tunnel_dst) != 1)
				die("bad --tunnel-dst '%s'", optarg);
			break;
		case 'v':
			s->valid = (unsigned int)atoi(optarg);
			if (s->valid > 60)
				s->valid = 60;
			break;
		case 'P':
			s->sockets = (unsigned int)atoi(optarg);
			if (s->sockets < 1 || s->sockets > 256)
				die("--sockets must be 1..256, not %s", optarg);
			break;
		case 'K':
			s->per_socket = (unsigned int)atoi(optarg);
			break;
		case 'l':
			s->linger_ms = (unsigned int)atoi(optarg);
			break;
		case 'F':
			keys_path = optarg;
			break;
		case 'B':
			if (inet_pton(AF_INET, optarg, &src_base) != 1)
				die("bad --src-base '%s' (an IPv4 address)", optarg);
			break;
		case 'W':
			window = (unsigned int)atoi(optarg);
			if (window < 1)
				die("--window must be at least 1, not %s", optarg);
			break;
		case 'w':
			warmup_ms = (unsigned int)atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (!s->rate_given)
		s->rate = default_rate(s->mode);
	s->ports_seen = calloc(65536 / 8, 1);
	if (!s->ports_seen)
		return 1;

	if (!strcmp(s->mode, "selftest"))
		return run_selftest(s);
	if (!strcmp(s->mode, "pubkeys"))
		return run_pubkeys();
	if (!has_target)
		die("%s needs --target ADDR:PORT", s->mode);
	s->family = s->target.sa.sa_family;
	s->addr_len = s->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	if ((s->has_bind && s->bind.sa.sa_family != s->family) ||
	    (s->has_alt_bind && s->alt_bind.sa.sa_family != s->family))
		die("--bind/--alt-bind and --target are of different families (%s)", s->mode);

	start = now_ns();
	if (!strcmp(s->mode, "junk")) {
		run_generator(s, gen_junk);
	} else if (!strcmp(s->mode, "truncated")) {
		run_generator(s, gen_truncated);
	} else if (!strcmp(s->mode, "random-init")) {
		run_generator(s, gen_random_init);
	} else if (!strcmp(s->mode, "unknown-index")) {
		run_generator(s, gen_unknown_index);
	} else if (!strcmp(s->mode, "big")) {
		run_big(s);
	} else if (!strcmp(s->mode, "lowkey") || !strcmp(s->mode, "mac1-init") ||
		   !strcmp(s->mode, "handshake-rate") ||
		   !strcmp(s->mode, "mac2-init") || !strcmp(s->mode, "replay") ||
		   !strcmp(s->mode, "past-limit") || !strcmp(s->mode, "bad-inner") ||
		   !strcmp(s->mode, "init-flood") || !strcmp(s->mode, "big-data")) {
		if (!s->has_server_pub)
			die("%s needs --server-pub", s->mode);
		if (!strcmp(s->mode, "lowkey")) {
			run_generator(s, gen_lowkey);
		} else if (!strcmp(s->mode, "mac1-init")) {
			run_mac1_init(s);
		} else if (!strcmp(s->mode, "mac2-init")) {
			run_mac2_init(s);
		} else if (!strcmp(s->mode, "handshake-rate")) {
			if (!keys_path)
				die("%s needs --keys-file", s->mode);
			ret = run_handshake_rate(s, keys_path, src_base, window, warmup_ms);
		} else {
			if (!s->has_peer_key)
				die("%s needs --peer-key", s->mode);
			if (!strcmp(s->mode, "replay"))
				ret = run_replay(s);
			else if (!strcmp(s->mode, "past-limit"))
				ret = run_past_limit(s);
			else if (!strcmp(s->mode, "init-flood"))
				ret = run_init_flood(s);
			else if (!strcmp(s->mode, "big-data"))
				ret = run_big_data(s);
			else
				ret = run_bad_inner(s);
		}
	} else {
		die("unknown mode '%s'", s->mode);
	}
	report(s, (double)(now_ns() - start) / 1e9);
	return ret;
}
