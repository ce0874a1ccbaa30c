// SPDX-License-Identifier: GPL-2.0
/*
 * The takeover snapshot (ctl/snapshot.h): writer, sealed memfd, and a reader
 * that treats the blob like a packet from the network. The memfd comes from
 * a root-only socket, but it is still the output of another build of the
 * daemon, possibly a buggy or older one: every count is bounded, every
 * length exact, every index unique, every key and prefix checked, before
 * anything of it is used.
 */
#include "ctl/snapshot.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "constants.h"
#include "ctl/device.h"
#include "ctl/handshake/crypto.h"
#include "base/log.h"
#include "ctl/notify.h"
#include "ctl/peer.h"


enum keypair_slot { SLOT_PREVIOUS, SLOT_CURRENT, SLOT_NEXT, SLOT_COUNT };
static const char *const slot_names[SLOT_COUNT] = { "previous", "current", "next" };

/* Endpoint families on the wire: ours, not the host's AF_* numbers. */
#define FAMILY_NONE 0U
#define FAMILY_IPV4 4U
#define FAMILY_IPV6 6U

#define RECORD_HEADER_LEN 8U
/* Payload lengths of version 1; a record of another length is refused. */
#define DEVICE_LEN (IF_NAMESIZE + 1 + 1 + NOISE_PRIVATE_KEY_LEN + 2 + 2 + 4 + 8 + 8 + 4 + 8 + 4)
#define COOKIE_CHECKER_LEN (COOKIE_SECRET_LEN + 8)
#define ENDPOINT_LEN (2 + 2 + 16 + 4 + 4 + 1 + 16 + 4)
#define PEER_LEN (NOISE_PUBLIC_KEY_LEN + NOISE_SYMMETRIC_KEY_LEN + NOISE_PUBLIC_KEY_LEN + 8 + \
		  ENDPOINT_LEN + \
		  8 + 8 + 8 + 4 + 6 * 8 + 2 + TIMER_COUNT * 8 + 4 + 1 + 1 + 1 + 8 + \
		  NOISE_TIMESTAMP_LEN + 8 + 8 + 1 + COOKIE_LEN + 1 + COOKIE_LEN)
#define ALLOWED_IP_LEN (1 + 1 + 16)
/* A keypair's fixed part; then u16 n and n (u16 ring slot, u64 bits) of
 * the replay window's nonzero blocks, in increasing slot order: most
 * sessions of a device with many peers have few, and the window is
 * nearly all of a keypair's size. */
#define KEYPAIR_FIXED_LEN (1 + 1 + 2 * NOISE_SYMMETRIC_KEY_LEN + 8 + 8 + 8 + 4 + 4 + 2)
#define KEYPAIR_BLOCK_LEN (2 + 8)
#define HANDSHAKE_LEN (1 + 4 + 4 + NOISE_PRIVATE_KEY_LEN + NOISE_PUBLIC_KEY_LEN + \
		       NOISE_HASH_LEN + NOISE_HASH_LEN)
#define COUNTER_NAME_MAX 63U

/* How far ahead of written_at a deadline may lie: the longest timer is a
 * persistent keepalive of 65535 s; the margin covers jitter. */
#define DEADLINE_AHEAD_MAX ((65535ULL + 60) * NSEC_PER_SEC)
/* Retries run to REKEY_ATTEMPT_TIME / REKEY_TIMEOUT; anything far above
 * is corrupt. */
#define HANDSHAKE_ATTEMPTS_MAX 1000U

_Static_assert(sizeof(unsigned long) == 8, "the replay window is stored as 64-bit blocks");
_Static_assert(TIMER_COUNT == 5, "version 1 has five timers per peer");

/* ---- counters, by name so versions may add and drop some ---- */

static const struct {
	const char *name;
	size_t off;
} device_counters[] = {
	{ "handshakes_sent", offsetof(struct wg_device, handshakes_sent) },
	{ "handshakes_received", offsetof(struct wg_device, handshakes_received) },
	{ "cookies_sent", offsetof(struct wg_device, cookies_sent) },
	{ "tso_packets", offsetof(struct wg_device, tso_packets) },
	{ "tso_segments", offsetof(struct wg_device, tso_segments) },
	{ "gro_writes", offsetof(struct wg_device, gro_writes) },
	{ "gro_packets", offsetof(struct wg_device, gro_packets) },
	{ "udp_gso_messages", offsetof(struct wg_device, udp.gso_stats.messages) },
	{ "udp_gso_segments", offsetof(struct wg_device, udp.gso_stats.segments) },
	{ "udp_gso_refused", offsetof(struct wg_device, udp.gso_stats.refused) },
};
#define N_DEVICE_COUNTERS (sizeof(device_counters) / sizeof(device_counters[0]))
#define N_COUNTERS (DROP_REASON_COUNT + N_DEVICE_COUNTERS)
#define DROP_PREFIX "drop_"

/* Where counter i lives. */
static uint64_t *counter_at(struct wg_device *dev, size_t i)
{
	if (i < DROP_REASON_COUNT)
		return &dev->drops[i];
	return (uint64_t *)((uint8_t *)dev + device_counters[i - DROP_REASON_COUNT].off);
}

/* Counter i's name: a drop reason's with DROP_PREFIX in front. */
static void counter_name(size_t i, char buf[COUNTER_NAME_MAX + 1])
{
	if (i < DROP_REASON_COUNT)
		snprintf(buf, COUNTER_NAME_MAX + 1, DROP_PREFIX "%s", drop_reason_name(i));
	else
		snprintf(buf, COUNTER_NAME_MAX + 1, "%s", device_counters[i - DROP_REASON_COUNT].name);
}

/* The index of the counter called name, or N_COUNTERS. */
static size_t counter_find(const char *name)
{
	size_t i, plen = strlen(DROP_PREFIX);

	if (!strncmp(name, DROP_PREFIX, plen)) {
		for (i = 0; i < DROP_REASON_COUNT; i++)
			if (!strcmp(name + plen, drop_reason_name(i)))
				return i;
	}
	for (i = 0; i < N_DEVICE_COUNTERS; i++)
		if (!strcmp(name, device_counters[i].name))
			return DROP_REASON_COUNT + i;
	return N_COUNTERS;
}

/* ---- writer ---- */

/* Counts when buf is NULL: the same code sizes and fills the buffer. */
struct wcur {
	uint8_t *buf;
	size_t len;
	uint32_t records;
};

static void w_bytes(struct wcur *w, const void *p, size_t n)
{
	if (w->buf && n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void w_zero(struct wcur *w, size_t n)
{
	if (w->buf)
		memset(w->buf + w->len, 0, n);
	w->len += n;
}

static void w_u8(struct wcur *w, unsigned int v)
{
	uint8_t b = (uint8_t)v;

	w_bytes(w, &b, 1);
}

static void w_u16(struct wcur *w, uint16_t v)
{
	v = htole16(v);
	w_bytes(w, &v, 2);
}

static void w_u32(struct wcur *w, uint32_t v)
{
	v = htole32(v);
	w_bytes(w, &v, 4);
}

static void w_u64(struct wcur *w, uint64_t v)
{
	v = htole64(v);
	w_bytes(w, &v, 8);
}

static size_t w_record_begin(struct wcur *w, enum snapshot_record type)
{
	size_t at = w->len;

	w->records++;
	w_u16(w, type);
	w_u16(w, 0);
	w_u32(w, 0);  /* patched by w_record_end */
	return at;
}

static void w_record_end(struct wcur *w, size_t at)
{
	uint32_t len = htole32((uint32_t)(w->len - at - RECORD_HEADER_LEN));

	if (w->buf)
		memcpy(w->buf + at + 4, &len, 4);
}

static void w_endpoint(struct wcur *w, const struct udp_endpoint *ep)
{
	int family = udp_endpoint_family(ep);

	if (family == AF_INET) {
		w_u16(w, FAMILY_IPV4);
		w_u16(w, ntohs(ep->addr.in4.sin_port));
		w_bytes(w, &ep->addr.in4.sin_addr, 4);
		w_zero(w, 12);
		w_u32(w, 0);
		w_u32(w, 0);
	} else if (family == AF_INET6) {
		w_u16(w, FAMILY_IPV6);
		w_u16(w, ntohs(ep->addr.in6.sin6_port));
		w_bytes(w, &ep->addr.in6.sin6_addr, 16);
		w_u32(w, ntohl(ep->addr.in6.sin6_flowinfo));
		w_u32(w, ep->addr.in6.sin6_scope_id);
	} else {
		w_zero(w, ENDPOINT_LEN - 1 - 16 - 4);
	}
	/* What has_src = false leaves behind is not state: write zeros. */
	if (family == AF_UNSPEC || !ep->has_src) {
		w_zero(w, 1 + 16 + 4);
		return;
	}
	w_u8(w, 1);
	if (family == AF_INET) {
		w_bytes(w, &ep->src4, 4);
		w_zero(w, 12);
	} else {
		w_bytes(w, &ep->src6, 16);
	}
	w_u32(w, (uint32_t)ep->src_ifindex);
}

static int w_allowed_ip(void *ctx, int family, const void *addr, uint8_t cidr)
{
	struct wcur *w = ctx;
	size_t at = w_record_begin(w, REC_ALLOWED_IP);

	w_u8(w, family == AF_INET ? FAMILY_IPV4 : FAMILY_IPV6);
	w_u8(w, cidr);
	w_bytes(w, addr, family == AF_INET ? 4 : 16);
	w_zero(w, family == AF_INET ? 12 : 0);
	w_record_end(w, at);
	return 0;
}

static void w_keypair(struct wcur *w, const struct noise_keypair *kp, enum keypair_slot slot)
{
	size_t at, i, n;

	if (!kp)
		return;
	at = w_record_begin(w, REC_KEYPAIR);
	w_u8(w, slot);
	w_u8(w, kp->i_am_the_initiator);
	w_bytes(w, kp->sending_key, NOISE_SYMMETRIC_KEY_LEN);
	w_bytes(w, kp->receiving_key, NOISE_SYMMETRIC_KEY_LEN);
	w_u64(w, atomic_load_explicit(&kp->sending_counter, memory_order_relaxed));
	w_u64(w, kp->receiving_counter.counter);
	w_u64(w, kp->birthdate);
	w_u32(w, kp->local_index);
	w_u32(w, kp->remote_index);
	for (i = 0, n = 0; i < REPLAY_BLOCKS; i++)
		n += !!kp->receiving_counter.backtrack[i];
	w_u16(w, (uint16_t)n);
	for (i = 0; i < REPLAY_BLOCKS; i++) {
		if (!kp->receiving_counter.backtrack[i])
			continue;
		w_u16(w, (uint16_t)i);
		w_u64(w, kp->receiving_counter.backtrack[i]);
	}
	w_record_end(w, at);
}

static void w_handshake(struct wcur *w, const struct noise_handshake *hs)
{
	size_t at;

	/* A zeroed handshake holds nothing in progress; what it remembers
	 * (timestamp, flood time) travels in the peer record. */
	if (hs->state == HANDSHAKE_ZEROED)
		return;
	at = w_record_begin(w, REC_HANDSHAKE);
	w_u8(w, hs->state);
	w_u32(w, hs->local_index);
	w_u32(w, hs->remote_index);
	w_bytes(w, hs->ephemeral_private, NOISE_PRIVATE_KEY_LEN);
	w_bytes(w, hs->remote_ephemeral, NOISE_PUBLIC_KEY_LEN);
	w_bytes(w, hs->hash, NOISE_HASH_LEN);
	w_bytes(w, hs->chaining_key, NOISE_HASH_LEN);
	w_record_end(w, at);
}

static void w_peer(struct wcur *w, struct wg_device *dev, struct wg_peer *peer)
{
	const struct timers_peer *tp = &peer->timers;
	const struct cookie *c = &peer->latest_cookie;
	size_t at = w_record_begin(w, REC_PEER);
	unsigned int k;

	w_bytes(w, peer->public_key, NOISE_PUBLIC_KEY_LEN);
	w_bytes(w, peer->handshake.preshared_key, NOISE_SYMMETRIC_KEY_LEN);
	w_bytes(w, peer->handshake.precomputed_static_static, NOISE_PUBLIC_KEY_LEN);
	w_u64(w, peer->internal_id);
	w_endpoint(w, &peer->endpoint);
	w_u64(w, peer->rx_bytes);
	w_u64(w, peer->tx_bytes);
	w_u64(w, peer->last_handshake_sec);
	w_u32(w, peer->last_handshake_nsec);
	w_u64(w, peer->stats.rx_packets);
	w_u64(w, peer->stats.tx_packets);
	w_u64(w, peer->stats.rx_dropped);
	w_u64(w, peer->stats.tx_dropped);
	w_u64(w, peer->stats.handshakes_sent);
	w_u64(w, peer->stats.handshakes_received);
	w_u16(w, tp->persistent_keepalive_interval);
	for (k = 0; k < TIMER_COUNT; k++)
		w_u64(w, tp->deadline[k]);
	w_u32(w, tp->handshake_attempts);
	w_u8(w, tp->need_another_keepalive);
	w_u8(w, tp->sent_lastminute_handshake);
	w_u8(w, tp->persistent_keepalive_was_on);
	w_u64(w, tp->last_sent_handshake);
	w_bytes(w, peer->handshake.latest_timestamp, NOISE_TIMESTAMP_LEN);
	w_u64(w, peer->handshake.last_initiation_consumption);
	w_u64(w, c->birthdate);
	w_u8(w, c->is_valid);
	w_bytes(w, c->cookie, COOKIE_LEN);
	w_u8(w, c->have_sent_mac1);
	w_bytes(w, c->last_mac1_sent, COOKIE_LEN);
	w_record_end(w, at);

	allowedips_walk_by_peer(&dev->allowedips, peer, w_allowed_ip, w);
	w_keypair(w, peer->keypairs.previous, SLOT_PREVIOUS);
	w_keypair(w, peer->keypairs.current, SLOT_CURRENT);
	w_keypair(w, peer->keypairs.next, SLOT_NEXT);
	w_handshake(w, &peer->handshake);
}

static void w_all(struct wcur *w, struct wg_device *dev, xwg_time_t now)
{
	const struct noise_static_identity *id = &dev->static_identity;
	struct wg_peer *peer;
	size_t at, i;
	uint32_t n;

	w_bytes(w, SNAPSHOT_MAGIC, 8);
	w_u32(w, SNAPSHOT_VERSION);
	w_u32(w, SNAPSHOT_HEADER_LEN);
	w_u64(w, 0);  /* total length, patched by the caller */
	w_u64(w, now);

	at = w_record_begin(w, REC_DEVICE);
	w_bytes(w, dev->ifname, IF_NAMESIZE);
	w_u8(w, dev->fast ? SNAPSHOT_DATAPATH_FAST : SNAPSHOT_DATAPATH_PORTABLE);
	w_u8(w, id->has_identity);
	if (id->has_identity)
		w_bytes(w, id->static_private, NOISE_PRIVATE_KEY_LEN);
	else
		w_zero(w, NOISE_PRIVATE_KEY_LEN);
	w_u16(w, dev->listen_port);
	w_u16(w, dev->udp.port);
	w_u32(w, dev->udp.fwmark);
	w_u64(w, dev->next_peer_id);
	w_u64(w, dev->load_window_start);
	w_u32(w, dev->load_window_count);
	w_u64(w, dev->under_load_until);
	w_u32(w, dev->peers.count);
	w_record_end(w, at);

	at = w_record_begin(w, REC_COOKIE_CHECKER);
	w_bytes(w, dev->cookie_checker.secret, COOKIE_SECRET_LEN);
	w_u64(w, dev->cookie_checker.secret_birthdate);
	w_record_end(w, at);

	for (i = 0; i < N_COUNTERS; i++) {
		char name[COUNTER_NAME_MAX + 1];
		uint64_t *v = counter_at(dev, i);

		counter_name(i, name);
		at = w_record_begin(w, REC_COUNTER);
		w_u8(w, (uint8_t)strlen(name));
		w_bytes(w, name, strlen(name));
		w_u64(w, *v);
		w_record_end(w, at);
	}

	for (peer = dev->peers.first; peer; peer = peer->next)
		w_peer(w, dev, peer);

	/* Says that nothing was cut off at a record boundary. */
	n = w->records;
	at = w_record_begin(w, REC_END);
	w_u32(w, n);
	w_record_end(w, at);
}

/* BLAKE2b (libsodium's generichash), not the protocol's BLAKE2s: twice as
 * fast on 64-bit, and a snapshot of 10,000 peers is 26 MB. It guards
 * against corruption; the writer is authenticated by the socket. */
static void checksum(uint8_t out[SNAPSHOT_TRAILER_LEN], const uint8_t *buf, size_t len)
{
	crypto_generichash(out, SNAPSHOT_TRAILER_LEN, buf, len, NULL, 0);
}

void snapshot_checksum_fix(uint8_t *buf, size_t len)
{
	if (len < SNAPSHOT_TRAILER_LEN)
		return;
	checksum(buf + len - SNAPSHOT_TRAILER_LEN, buf, len - SNAPSHOT_TRAILER_LEN);
}

size_t snapshot_write(struct wg_device *dev, uint8_t *buf, size_t cap)
{
	xwg_time_t now = platform_now();
	struct wcur w = { 0 };
	uint64_t total;
	size_t len;

	w_all(&w, dev, now);
	len = w.len + SNAPSHOT_TRAILER_LEN;
	if (!buf || cap < len)
		return len;
	w = (struct wcur){ .buf = buf };
	w_all(&w, dev, now);
	total = htole64(len);
	memcpy(buf + 16, &total, 8);
	snapshot_checksum_fix(buf, len);
	return len;
}

int snapshot_memfd_create(struct wg_device *dev, struct snapshot_memfd *m)
{
	size_t len = snapshot_write(dev, NULL, 0);
	int ret;

	m->map = NULL;
	m->len = 0;
	m->fd = memfd_create("xwg-snapshot", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (m->fd < 0)
		return -errno;
	if (ftruncate(m->fd, (off_t)len)) {
		ret = -errno;
		goto err;
	}
	m->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (m->map == MAP_FAILED) {
		m->map = NULL;
		ret = -errno;
		goto err;
	}
	m->len = len;
	/* Keys in it: never swapped out, never in a core dump. */
	if (mlock(m->map, len)) {
		ret = -errno;
		goto err;
	}
	madvise(m->map, len, MADV_DONTDUMP);
	if (snapshot_write(dev, m->map, len) != len) {
		ret = -EAGAIN;  /* the device changed under us: a caller bug */
		goto err;
	}
	if (fcntl(m->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE |
				      F_SEAL_SEAL)) {
		ret = -errno;
		goto err;
	}
	return 0;
err:
	snapshot_memfd_wipe(m);
	return ret;
}

void snapshot_memfd_wipe(struct snapshot_memfd *m)
{
	if (m->map) {
		sodium_memzero(m->map, m->len);
		munlock(m->map, m->len);
		munmap(m->map, m->len);
	}
	if (m->fd >= 0)
		close(m->fd);
	m->map = NULL;
	m->len = 0;
	m->fd = -1;
}

/* ---- reader ---- */

struct rcur {
	const uint8_t *p;
	size_t left;
};

/* Callers checked the record's exact length first: these never run out. */
static void r_bytes(struct rcur *c, void *out, size_t n)
{
	memcpy(out, c->p, n);
	c->p += n;
	c->left -= n;
}

static uint8_t r_u8(struct rcur *c)
{
	uint8_t v;

	r_bytes(c, &v, 1);
	return v;
}

static uint16_t r_u16(struct rcur *c)
{
	uint16_t v;

	r_bytes(c, &v, 2);
	return le16toh(v);
}

static uint32_t r_u32(struct rcur *c)
{
	uint32_t v;

	r_bytes(c, &v, 4);
	return le32toh(v);
}

static uint64_t r_u64(struct rcur *c)
{
	uint64_t v;

	r_bytes(c, &v, 8);
	return le64toh(v);
}

struct reader {
	struct wg_device *dev;
	char *why;
	size_t whylen;
	xwg_time_t written_at;
	uint32_t n_peers_announced, n_peers;
	uint64_t next_peer_id;
	size_t record;            /* 1-based, for messages */
	bool have_device, have_checker, have_end;
	struct wg_peer *peer;     /* the peer the following records belong to */
	unsigned int slots_seen;  /* of peer */
	bool handshake_seen;      /* of peer */
	bool counters_seen[N_COUNTERS];
};

static int fail(struct reader *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct reader *r, int err, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (r->why && r->whylen) {
		if (r->record)
			n = snprintf(r->why, r->whylen, "record %zu: ", r->record);
		if (n < 0 || (size_t)n >= r->whylen)
			n = 0;
		va_start(ap, fmt);
		vsnprintf(r->why + n, r->whylen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -err;
}

static bool is_zero(const void *p, size_t n)
{
	return crypto_is_zero(p, n);
}

/* RFC 7748 clamping, as crypto_clamp leaves a key. */
static bool is_clamped(const uint8_t k[NOISE_PRIVATE_KEY_LEN])
{
	return !(k[0] & 7) && !(k[31] & 0x80) && (k[31] & 0x40);
}

static int check_bool(struct reader *r, const char *field, unsigned int v)
{
	return v > 1 ? fail(r, EINVAL, "%s is %u, not 0 or 1", field, v) : 0;
}

/* A time of the writer's: not after it wrote (plus ahead, for deadlines). */
static int check_time(struct reader *r, const char *field, xwg_time_t t, uint64_t ahead)
{
	if (t > r->written_at + ahead)
		return fail(r, EINVAL, "%s lies %llu ms after the snapshot was written",
			    field, (unsigned long long)((t - r->written_at) / NSEC_PER_MSEC));
	return 0;
}

static int read_device(struct reader *r, struct rcur *c)
{
	struct wg_device *dev = r->dev;
	char ifname[IF_NAMESIZE];
	uint8_t key[NOISE_PRIVATE_KEY_LEN];
	unsigned int datapath, has_identity, ours;
	uint64_t load_window_start, under_load_until;
	int ret;

	r_bytes(c, ifname, IF_NAMESIZE);
	if (!memchr(ifname, 0, IF_NAMESIZE))
		return fail(r, EINVAL, "device: interface name is not terminated");
	if (strcmp(ifname, dev->ifname))
		return fail(r, EINVAL, "device: the snapshot is of interface \"%s\", not \"%s\"",
			    ifname, dev->ifname);
	datapath = r_u8(c);
	ours = dev->fast ? SNAPSHOT_DATAPATH_FAST : SNAPSHOT_DATAPATH_PORTABLE;
	if (datapath > SNAPSHOT_DATAPATH_FAST)
		return fail(r, EPROTO, "device: unknown data path %u", datapath);
	if (datapath != ours)
		return fail(r, EPROTO, "device: the snapshot is of the %s data path, this process "
			    "runs the %s one", datapath ? "fast" : "portable",
			    ours ? "fast" : "portable");
	has_identity = r_u8(c);
	if ((ret = check_bool(r, "device: has_identity", has_identity)))
		return ret;
	r_bytes(c, key, sizeof(key));
	if (has_identity && (is_zero(key, sizeof(key)) || !is_clamped(key))) {
		sodium_memzero(key, sizeof(key));
		return fail(r, EINVAL, "device: private key is not a clamped X25519 key");
	}
	if (!has_identity && !is_zero(key, sizeof(key))) {
		sodium_memzero(key, sizeof(key));
		return fail(r, EINVAL, "device: private key given but has_identity is 0");
	}
	if (has_identity) {
		noise_static_identity_set(&dev->static_identity, key);
		sodium_memzero(key, sizeof(key));
		if (!dev->static_identity.has_identity)
			return fail(r, EINVAL, "device: private key has no public key");
		cookie_checker_init(&dev->cookie_checker, dev->static_identity.static_public,
				    dev->ratelimiter);
	}
	dev->listen_port = r_u16(c);
	dev->udp.port = r_u16(c);
	if (dev->listen_port && dev->listen_port != dev->udp.port)
		return fail(r, EINVAL, "device: listen port %u configured but %u bound",
			    dev->listen_port, dev->udp.port);
	dev->udp.fwmark = r_u32(c);
	/* Set at the end: creating the peers counts it up. */
	r->next_peer_id = r_u64(c);
	load_window_start = r_u64(c);
	dev->load_window_count = r_u32(c);
	under_load_until = r_u64(c);
	if ((ret = check_time(r, "device: load_window_start", load_window_start, 0)) ||
	    (ret = check_time(r, "device: under_load_until", under_load_until,
			      (UNDER_LOAD_AFTER_TIME + 1) * NSEC_PER_SEC)))
		return ret;
	dev->load_window_start = load_window_start;
	dev->under_load_until = under_load_until;
	r->n_peers_announced = r_u32(c);
	if (r->n_peers_announced > dev->max_peers)
		return fail(r, EINVAL, "device: %u peers, at most %u are allowed",
			    r->n_peers_announced, dev->max_peers);
	return 0;
}

static int read_cookie_checker(struct reader *r, struct rcur *c)
{
	struct cookie_checker *ck = &r->dev->cookie_checker;
	uint8_t secret[COOKIE_SECRET_LEN];
	xwg_time_t birthdate;
	int ret;

	r_bytes(c, secret, sizeof(secret));
	birthdate = r_u64(c);
	if ((ret = check_time(r, "cookie checker: secret birthdate", birthdate, 0))) {
		sodium_memzero(secret, sizeof(secret));
		return ret;
	}
	/* A secret never used has birthdate 0 and may be all zero. */
	memcpy(ck->secret, secret, sizeof(secret));
	sodium_memzero(secret, sizeof(secret));
	ck->secret_birthdate = birthdate;
	return 0;
}

static bool counter_name_ok(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return false;
	return len > 0;
}

static int read_counter(struct reader *r, struct rcur *c, size_t len)
{
	char name[COUNTER_NAME_MAX + 1];
	size_t n, i;
	uint64_t v;

	if (len < 1 + 1 + 8)
		return fail(r, EINVAL, "counter: length %zu is too short", len);
	n = r_u8(c);
	if (n > COUNTER_NAME_MAX || len != 1 + n + 8)
		return fail(r, EINVAL, "counter: name of %zu bytes in a record of %zu", n, len);
	r_bytes(c, name, n);
	name[n] = 0;
	if (!counter_name_ok(name, n))
		return fail(r, EINVAL, "counter: name is not [a-z0-9_]+");
	v = r_u64(c);
	i = counter_find(name);
	if (i == N_COUNTERS) {
		/* One an older or newer build keeps and this one does not. */
		log_debug("takeover: counter %s is not known to this version, dropped", name);
		return 0;
	}
	if (r->counters_seen[i])
		return fail(r, EINVAL, "counter %s given twice", name);
	r->counters_seen[i] = true;
	*counter_at(r->dev, i) = v;
	return 0;
}

static int read_endpoint(struct reader *r, struct rcur *c, struct udp_endpoint *ep)
{
	unsigned int family, port, has_src;
	uint8_t addr[16], src[16];
	uint32_t flowinfo, scope_id, ifindex;
	int ret;

	family = r_u16(c);
	port = r_u16(c);
	r_bytes(c, addr, 16);
	flowinfo = r_u32(c);
	scope_id = r_u32(c);
	has_src = r_u8(c);
	r_bytes(c, src, 16);
	ifindex = r_u32(c);

	memset(ep, 0, sizeof(*ep));
	if ((ret = check_bool(r, "peer: endpoint has_src", has_src)))
		return ret;
	if (family == FAMILY_NONE) {
		if (port || !is_zero(addr, 16) || flowinfo || scope_id || has_src)
			return fail(r, EINVAL, "peer: no endpoint, but endpoint fields are set");
		ep->addr.sa.sa_family = AF_UNSPEC;
	} else if (family == FAMILY_IPV4) {
		if (!is_zero(addr + 4, 12) || flowinfo || scope_id)
			return fail(r, EINVAL, "peer: IPv4 endpoint with IPv6 fields set");
		if (!port)
			return fail(r, EINVAL, "peer: endpoint port 0");
		ep->addr.in4.sin_family = AF_INET;
		ep->addr.in4.sin_port = htons((uint16_t)port);
		memcpy(&ep->addr.in4.sin_addr, addr, 4);
	} else if (family == FAMILY_IPV6) {
		if (!port)
			return fail(r, EINVAL, "peer: endpoint port 0");
		if (flowinfo > 0xfffff)
			return fail(r, EINVAL, "peer: endpoint flow label %u has more than 20 bits",
				    flowinfo);
		ep->addr.in6.sin6_family = AF_INET6;
		ep->addr.in6.sin6_port = htons((uint16_t)port);
		memcpy(&ep->addr.in6.sin6_addr, addr, 16);
		ep->addr.in6.sin6_flowinfo = htonl(flowinfo);
		ep->addr.in6.sin6_scope_id = scope_id;
	} else {
		return fail(r, EINVAL, "peer: unknown endpoint family %u", family);
	}
	if (!has_src) {
		if (!is_zero(src, 16) || ifindex)
			return fail(r, EINVAL, "peer: endpoint source fields set without has_src");
		return 0;
	}
	if (ifindex > INT_MAX)
		return fail(r, EINVAL, "peer: endpoint source ifindex %u out of range", ifindex);
	if (family == FAMILY_IPV4) {
		if (!is_zero(src + 4, 12))
			return fail(r, EINVAL, "peer: IPv4 endpoint with an IPv6 source");
		memcpy(&ep->src4, src, 4);
	} else {
		memcpy(&ep->src6, src, 16);
	}
	ep->src_ifindex = (int)ifindex;
	ep->has_src = true;
	return 0;
}

/* A peer record, read whole into locals and checked before a peer exists. */
static int read_peer(struct reader *r, struct rcur *c)
{
	struct wg_device *dev = r->dev;
	uint8_t pk[NOISE_PUBLIC_KEY_LEN], psk[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t ss[NOISE_PUBLIC_KEY_LEN], timestamp[NOISE_TIMESTAMP_LEN];
	bool had_identity;
	struct udp_endpoint ep;
	struct timers_peer tp = { 0 };
	struct cookie ck = { 0 };
	struct wg_peer *peer;
	uint64_t internal_id, rx_bytes, tx_bytes, lh_sec, stats[6];
	uint32_t lh_nsec;
	xwg_time_t last_consumption;
	unsigned int k, b1, b2, b3;
	char field[64];
	int ret;

	r->peer = NULL;
	r->slots_seen = 0;
	r->handshake_seen = false;
	if (r->n_peers >= r->n_peers_announced)
		return fail(r, EINVAL, "peer: more peer records than the %u announced",
			    r->n_peers_announced);
	r_bytes(c, pk, sizeof(pk));
	r_bytes(c, psk, sizeof(psk));
	r_bytes(c, ss, sizeof(ss));
	internal_id = r_u64(c);
	if ((ret = read_endpoint(r, c, &ep)))
		goto out;
	rx_bytes = r_u64(c);
	tx_bytes = r_u64(c);
	lh_sec = r_u64(c);
	lh_nsec = r_u32(c);
	for (k = 0; k < 6; k++)
		stats[k] = r_u64(c);
	tp.persistent_keepalive_interval = r_u16(c);
	for (k = 0; k < TIMER_COUNT; k++)
		tp.deadline[k] = r_u64(c);
	tp.handshake_attempts = r_u32(c);
	b1 = r_u8(c);
	b2 = r_u8(c);
	b3 = r_u8(c);
	tp.last_sent_handshake = r_u64(c);
	r_bytes(c, timestamp, sizeof(timestamp));
	last_consumption = r_u64(c);
	ck.birthdate = r_u64(c);
	ck.is_valid = r_u8(c);
	r_bytes(c, ck.cookie, COOKIE_LEN);
	ck.have_sent_mac1 = r_u8(c);
	r_bytes(c, ck.last_mac1_sent, COOKIE_LEN);

	ret = -EINVAL;
	if (!memcmp(pk, dev->static_identity.static_public, NOISE_PUBLIC_KEY_LEN)) {
		ret = fail(r, EINVAL, "peer %u: public key is the device's own", r->n_peers);
		goto out;
	}
	if (device_peer_lookup(dev, pk)) {
		ret = fail(r, EINVAL, "peer %u: public key given twice", r->n_peers);
		goto out;
	}
	/* Without our key there is no DH; with it, all zero means the peer's
	 * key is of low order, whose DH is zero too (noise.h). */
	if (!dev->static_identity.has_identity && !is_zero(ss, sizeof(ss))) {
		ret = fail(r, EINVAL, "peer %u: a static-static DH without a private key",
			   r->n_peers);
		goto out;
	}
	if (!internal_id || internal_id > r->next_peer_id) {
		ret = fail(r, EINVAL, "peer %u: internal id %llu outside 1..%llu", r->n_peers,
			   (unsigned long long)internal_id,
			   (unsigned long long)r->next_peer_id);
		goto out;
	}
	if (lh_nsec >= NSEC_PER_SEC) {
		ret = fail(r, EINVAL, "peer %u: last_handshake_time_nsec %u", r->n_peers, lh_nsec);
		goto out;
	}
	if ((ret = check_bool(r, "peer: need_another_keepalive", b1)) ||
	    (ret = check_bool(r, "peer: sent_lastminute_handshake", b2)) ||
	    (ret = check_bool(r, "peer: persistent_keepalive_was_on", b3)) ||
	    (ret = check_bool(r, "peer: cookie is_valid", ck.is_valid)) ||
	    (ret = check_bool(r, "peer: cookie have_sent_mac1", ck.have_sent_mac1)))
		goto out;
	tp.need_another_keepalive = b1;
	tp.sent_lastminute_handshake = b2;
	tp.persistent_keepalive_was_on = b3;
	if (tp.handshake_attempts > HANDSHAKE_ATTEMPTS_MAX) {
		ret = fail(r, EINVAL, "peer %u: %u handshake attempts", r->n_peers,
			   tp.handshake_attempts);
		goto out;
	}
	for (k = 0; k < TIMER_COUNT; k++) {
		snprintf(field, sizeof(field), "peer %u: timer %u deadline", r->n_peers, k);
		if ((ret = check_time(r, field, tp.deadline[k], DEADLINE_AHEAD_MAX)))
			goto out;
	}
	if ((ret = check_time(r, "peer: last_sent_handshake", tp.last_sent_handshake, 0)) ||
	    (ret = check_time(r, "peer: last_initiation_consumption", last_consumption, 0)) ||
	    (ret = check_time(r, "peer: cookie birthdate", ck.birthdate, 0)))
		goto out;

	/* DH(our static, theirs) comes with the snapshot: 10,000 X25519
	 * would cost half a second of the takeover, while nothing reads the
	 * tunnel. Hidden from peer creation, our identity does not compute
	 * it again. A wrong value (which the checksum makes a writer's bug,
	 * not corruption) costs that peer its handshakes, nothing else. */
	had_identity = dev->static_identity.has_identity;
	dev->static_identity.has_identity = false;
	peer = device_peer_create(dev, pk);
	dev->static_identity.has_identity = had_identity;
	if (!peer) {
		ret = dev->peers.count >= dev->max_peers ?
			fail(r, EINVAL, "peer %u: more than %u peers", r->n_peers, dev->max_peers) :
			fail(r, ENOMEM, "peer %u: out of memory", r->n_peers);
		goto out;
	}
	memcpy(peer->handshake.preshared_key, psk, sizeof(psk));
	memcpy(peer->handshake.precomputed_static_static, ss, sizeof(ss));
	memcpy(peer->handshake.latest_timestamp, timestamp, sizeof(timestamp));
	peer->handshake.last_initiation_consumption = last_consumption;
	peer->internal_id = internal_id;
	peer->endpoint = ep;
	peer->rx_bytes = rx_bytes;
	peer->tx_bytes = tx_bytes;
	peer->last_handshake_sec = lh_sec;
	peer->last_handshake_nsec = lh_nsec;
	peer->stats.rx_packets = stats[0];
	peer->stats.tx_packets = stats[1];
	peer->stats.rx_dropped = stats[2];
	peer->stats.tx_dropped = stats[3];
	peer->stats.handshakes_sent = stats[4];
	peer->stats.handshakes_received = stats[5];
	peer->latest_cookie.birthdate = ck.birthdate;
	peer->latest_cookie.is_valid = ck.is_valid;
	memcpy(peer->latest_cookie.cookie, ck.cookie, COOKIE_LEN);
	peer->latest_cookie.have_sent_mac1 = ck.have_sent_mac1;
	memcpy(peer->latest_cookie.last_mac1_sent, ck.last_mac1_sent, COOKIE_LEN);
	timers_peer_restore(&peer->timers, &tp);
	r->peer = peer;
	r->n_peers++;
	ret = 0;
out:
	sodium_memzero(psk, sizeof(psk));
	sodium_memzero(ss, sizeof(ss));
	sodium_memzero(&ck, sizeof(ck));
	return ret;
}

static int read_allowed_ip(struct reader *r, struct rcur *c)
{
	unsigned int family = r_u8(c), cidr = r_u8(c);
	uint8_t addr[16];
	size_t alen, i;
	int af, ret;

	r_bytes(c, addr, sizeof(addr));
	if (!r->peer)
		return fail(r, EINVAL, "allowed IP before any peer");
	if (family == FAMILY_IPV4) {
		af = AF_INET;
		alen = 4;
	} else if (family == FAMILY_IPV6) {
		af = AF_INET6;
		alen = 16;
	} else {
		return fail(r, EINVAL, "allowed IP: unknown family %u", family);
	}
	if (cidr > alen * 8)
		return fail(r, EINVAL, "allowed IP: prefix length %u for IPv%u", cidr, family);
	if (!is_zero(addr + alen, 16 - alen))
		return fail(r, EINVAL, "allowed IP: IPv4 prefix with bytes past the address");
	/* The writer lists prefixes masked: host bits mean corruption. */
	for (i = 0; i < alen; i++) {
		unsigned int keep = cidr >= 8 * (i + 1) ? 8 : cidr > 8 * i ? cidr - 8 * i : 0;
		uint8_t mask = (uint8_t)(keep ? 0xff << (8 - keep) : 0);

		if (addr[i] & ~mask)
			return fail(r, EINVAL, "allowed IP: host bits set past /%u", cidr);
	}
	if (allowedips_owner(&r->dev->allowedips, af, addr, (uint8_t)cidr))
		return fail(r, EINVAL, "allowed IP: prefix given twice");
	ret = allowedips_insert(&r->dev->allowedips, af, addr, (uint8_t)cidr, r->peer);
	if (ret)
		return fail(r, -ret, "allowed IP: %s", strerror(-ret));
	return 0;
}

static int index_error(struct reader *r, int ret, const char *what, uint32_t index)
{
	if (ret == -EEXIST)
		return fail(r, EINVAL, "%s: receiver index %u is already in use", what, index);
	if (ret == -EINVAL)
		return fail(r, EINVAL, "%s: receiver index %u is reserved", what, index);
	return fail(r, -ret, "%s: %s", what, strerror(-ret));
}

static int read_keypair(struct reader *r, struct rcur *c, size_t len)
{
	struct wg_peer *peer = r->peer;
	struct noise_keypair *kp, **slotp;
	unsigned int slot, initiator, blocks, i, prev = 0;
	uint64_t sending, receiving;
	int ret;

	if (!peer)
		return fail(r, EINVAL, "keypair before any peer");
	if (len < KEYPAIR_FIXED_LEN)
		return fail(r, EINVAL, "keypair: length %zu, at least %u", len,
			    (unsigned int)KEYPAIR_FIXED_LEN);
	slot = r_u8(c);
	initiator = r_u8(c);
	if (slot >= SLOT_COUNT)
		return fail(r, EINVAL, "keypair: unknown slot %u", slot);
	if (r->slots_seen & (1U << slot))
		return fail(r, EINVAL, "keypair: two %s keypairs", slot_names[slot]);
	if ((ret = check_bool(r, "keypair: initiator", initiator)))
		return ret;
	/* Only a responder's session waits for confirmation. */
	if (slot == SLOT_NEXT && initiator)
		return fail(r, EINVAL, "keypair: an initiator's keypair as next");
	kp = calloc(1, sizeof(*kp));
	if (!kp)
		return fail(r, ENOMEM, "keypair: out of memory");
	r_bytes(c, kp->sending_key, NOISE_SYMMETRIC_KEY_LEN);
	r_bytes(c, kp->receiving_key, NOISE_SYMMETRIC_KEY_LEN);
	sending = r_u64(c);
	receiving = r_u64(c);
	kp->birthdate = r_u64(c);
	kp->local_index = r_u32(c);
	kp->remote_index = r_u32(c);
	blocks = r_u16(c);
	ret = 0;
	if (blocks > REPLAY_BLOCKS || len != KEYPAIR_FIXED_LEN + (size_t)blocks * KEYPAIR_BLOCK_LEN)
		ret = fail(r, EINVAL, "keypair %s: %u replay blocks in a record of %zu bytes",
			   slot_names[slot], blocks, len);
	for (i = 0; i < blocks && !ret; i++) {
		unsigned int at = r_u16(c);
		uint64_t bits = r_u64(c);

		if (at >= REPLAY_BLOCKS || (i && at <= prev) || !bits)
			ret = fail(r, EINVAL, "keypair %s: replay block %u (slot %u) is out of "
				   "order, out of range or empty", slot_names[slot], i, at);
		kp->receiving_counter.backtrack[at % REPLAY_BLOCKS] = bits;
		prev = at;
	}
	if (ret) {
		sodium_memzero(kp, sizeof(*kp));
		free(kp);
		return ret;
	}
	kp->i_am_the_initiator = initiator;
	kp->receiving_counter.counter = receiving;
	atomic_init(&kp->sending_counter, sending);
	atomic_init(&kp->refcount, 1);
	kp->peer = peer;

	ret = -EINVAL;
	if (is_zero(kp->sending_key, NOISE_SYMMETRIC_KEY_LEN) ||
	    is_zero(kp->receiving_key, NOISE_SYMMETRIC_KEY_LEN))
		ret = fail(r, EINVAL, "keypair %s: a key is all zero", slot_names[slot]);
	else if (sending > REJECT_AFTER_MESSAGES)
		ret = fail(r, EINVAL, "keypair %s: sending counter past REJECT_AFTER_MESSAGES",
			   slot_names[slot]);
	else if (receiving > REJECT_AFTER_MESSAGES)
		ret = fail(r, EINVAL, "keypair %s: receiving counter past REJECT_AFTER_MESSAGES",
			   slot_names[slot]);
	else if (!kp->birthdate)
		ret = fail(r, EINVAL, "keypair %s: no birthdate", slot_names[slot]);
	else
		ret = check_time(r, "keypair: birthdate", kp->birthdate, 0);
	if (!ret && (ret = device_index_insert(r->dev, kp->local_index, NULL, kp, peer)))
		ret = index_error(r, ret, "keypair", kp->local_index);
	if (ret) {
		sodium_memzero(kp, sizeof(*kp));
		free(kp);
		return ret;
	}
	slotp = slot == SLOT_PREVIOUS ? &peer->keypairs.previous :
		slot == SLOT_CURRENT ? &peer->keypairs.current : &peer->keypairs.next;
	*slotp = kp;
	r->slots_seen |= 1U << slot;
	return 0;
}

static int read_handshake(struct reader *r, struct rcur *c)
{
	struct noise_handshake *hs;
	uint8_t eph[NOISE_PRIVATE_KEY_LEN], reph[NOISE_PUBLIC_KEY_LEN];
	uint8_t hash[NOISE_HASH_LEN], ck[NOISE_HASH_LEN];
	unsigned int state;
	uint32_t local, remote;
	bool ours_sent;
	int ret = -EINVAL;

	state = r_u8(c);
	local = r_u32(c);
	remote = r_u32(c);
	r_bytes(c, eph, sizeof(eph));
	r_bytes(c, reph, sizeof(reph));
	r_bytes(c, hash, sizeof(hash));
	r_bytes(c, ck, sizeof(ck));
	if (!r->peer) {
		ret = fail(r, EINVAL, "handshake before any peer");
		goto out;
	}
	hs = &r->peer->handshake;
	if (r->handshake_seen) {
		ret = fail(r, EINVAL, "handshake: two for one peer");
		goto out;
	}
	if (state < HANDSHAKE_CREATED_INITIATION || state > HANDSHAKE_CONSUMED_RESPONSE) {
		ret = fail(r, EINVAL, "handshake: unknown state %u", state);
		goto out;
	}
	/* We sent a message with our ephemeral and an index: both exist. */
	ours_sent = state == HANDSHAKE_CREATED_INITIATION || state == HANDSHAKE_CREATED_RESPONSE;
	if (ours_sent && !local) {
		ret = fail(r, EINVAL, "handshake: state %u without a local index", state);
		goto out;
	}
	if (ours_sent ? !is_clamped(eph) : !is_zero(eph, sizeof(eph)) && !is_clamped(eph)) {
		ret = fail(r, EINVAL, "handshake: ephemeral private key is not clamped");
		goto out;
	}
	if (state != HANDSHAKE_CREATED_INITIATION && is_zero(reph, sizeof(reph))) {
		ret = fail(r, EINVAL, "handshake: state %u without the remote ephemeral", state);
		goto out;
	}
	if (is_zero(hash, sizeof(hash)) || is_zero(ck, sizeof(ck))) {
		ret = fail(r, EINVAL, "handshake: hash or chaining key is all zero");
		goto out;
	}
	if (local && (ret = device_index_insert(r->dev, local, hs, NULL, r->peer))) {
		ret = index_error(r, ret, "handshake", local);
		goto out;
	}
	hs->state = state;
	hs->local_index = local;
	hs->remote_index = remote;
	memcpy(hs->ephemeral_private, eph, sizeof(eph));
	memcpy(hs->remote_ephemeral, reph, sizeof(reph));
	memcpy(hs->hash, hash, sizeof(hash));
	memcpy(hs->chaining_key, ck, sizeof(ck));
	r->handshake_seen = true;
	ret = 0;
out:
	sodium_memzero(eph, sizeof(eph));
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(ck, sizeof(ck));
	return ret;
}

static const struct {
	const char *name;
	size_t len;   /* 0: variable */
} record_info[] = {
	[REC_DEVICE] = { "device", DEVICE_LEN },
	[REC_COUNTER] = { "counter", 0 },
	[REC_COOKIE_CHECKER] = { "cookie checker", COOKIE_CHECKER_LEN },
	[REC_PEER] = { "peer", PEER_LEN },
	[REC_ALLOWED_IP] = { "allowed IP", ALLOWED_IP_LEN },
	[REC_KEYPAIR] = { "keypair", 0 },
	[REC_HANDSHAKE] = { "handshake", HANDSHAKE_LEN },
	[REC_END] = { "end", 4 },
};

static int read_records(struct reader *r, struct rcur *c)
{
	while (c->left) {
		unsigned int type, reserved;
		uint32_t len, n;
		struct rcur rec;
		int ret;

		r->record++;
		if (c->left < RECORD_HEADER_LEN)
			return fail(r, EINVAL, "truncated record header");
		type = r_u16(c);
		reserved = r_u16(c);
		len = r_u32(c);
		if (len > c->left)
			return fail(r, EINVAL, "length %u runs past the end", len);
		rec = (struct rcur){ .p = c->p, .left = len };
		c->p += len;
		c->left -= len;
		if (type == 0 || type >= sizeof(record_info) / sizeof(record_info[0]))
			return fail(r, EINVAL, "unknown record type %u", type);
		if (reserved)
			return fail(r, EINVAL, "%s: reserved field is %u", record_info[type].name,
				    reserved);
		if (record_info[type].len && len != record_info[type].len)
			return fail(r, EINVAL, "%s: length %u, expected %zu",
				    record_info[type].name, len, record_info[type].len);
		if ((type == REC_DEVICE) == r->have_device)
			return fail(r, EINVAL, r->have_device ? "a second device record"
							     : "the first record is not the device");
		switch (type) {
		case REC_DEVICE:
			ret = read_device(r, &rec);
			r->have_device = true;
			break;
		case REC_COUNTER:
			ret = read_counter(r, &rec, len);
			break;
		case REC_COOKIE_CHECKER:
			if (r->have_checker)
				return fail(r, EINVAL, "a second cookie checker record");
			r->have_checker = true;
			ret = read_cookie_checker(r, &rec);
			break;
		case REC_PEER:
			ret = read_peer(r, &rec);
			break;
		case REC_ALLOWED_IP:
			ret = read_allowed_ip(r, &rec);
			break;
		case REC_KEYPAIR:
			ret = read_keypair(r, &rec, len);
			break;
		case REC_END:
			n = r_u32(&rec);
			if (n != r->record - 1)
				return fail(r, EINVAL, "end: %zu records before it, it counts %u",
					    r->record - 1, n);
			if (c->left)
				return fail(r, EINVAL, "%zu bytes after the end record", c->left);
			r->have_end = true;
			ret = 0;
			break;
		default:
			ret = read_handshake(r, &rec);
			break;
		}
		if (ret)
			return ret;
	}
	r->record = 0;
	if (!r->have_device)
		return fail(r, EINVAL, "no device record");
	if (!r->have_checker)
		return fail(r, EINVAL, "no cookie checker record");
	if (!r->have_end)
		return fail(r, EINVAL, "no end record: truncated");
	if (r->n_peers != r->n_peers_announced)
		return fail(r, EINVAL, "%u peer records, the device announced %u", r->n_peers,
			    r->n_peers_announced);
	r->dev->next_peer_id = r->next_peer_id;
	return 0;
}

void snapshot_device_clear(struct wg_device *dev)
{
	while (dev->peers.first)
		device_peer_remove(dev, dev->peers.first);
	allowedips_free(&dev->allowedips);
	sodium_memzero(&dev->static_identity, sizeof(dev->static_identity));
	cookie_checker_init(&dev->cookie_checker, dev->static_identity.static_public,
			    dev->ratelimiter);
}

/* What the reader writes besides peers and keys, to put back on error. */
struct device_saved {
	uint16_t listen_port, port;
	uint32_t fwmark, load_window_count;
	uint64_t next_peer_id;
	xwg_time_t load_window_start, under_load_until;
	uint64_t counters[N_COUNTERS];
};

static void device_save(struct wg_device *dev, struct device_saved *s)
{
	size_t i;

	s->listen_port = dev->listen_port;
	s->port = dev->udp.port;
	s->fwmark = dev->udp.fwmark;
	s->load_window_count = dev->load_window_count;
	s->next_peer_id = dev->next_peer_id;
	s->load_window_start = dev->load_window_start;
	s->under_load_until = dev->under_load_until;
	for (i = 0; i < N_COUNTERS; i++)
		s->counters[i] = *counter_at(dev, i);
}

static void device_restore(struct wg_device *dev, const struct device_saved *s)
{
	size_t i;

	dev->listen_port = s->listen_port;
	dev->udp.port = s->port;
	dev->udp.fwmark = s->fwmark;
	dev->load_window_count = s->load_window_count;
	dev->next_peer_id = s->next_peer_id;
	dev->load_window_start = s->load_window_start;
	dev->under_load_until = s->under_load_until;
	for (i = 0; i < N_COUNTERS; i++)
		*counter_at(dev, i) = s->counters[i];
}

static int read_header(struct reader *r, const uint8_t *buf, size_t len)
{
	uint8_t sum[SNAPSHOT_TRAILER_LEN];
	uint32_t version, header_len;
	uint64_t total;
	xwg_time_t now;

	if (len < 8 || memcmp(buf, SNAPSHOT_MAGIC, 8))
		return fail(r, EINVAL, "not an xwg snapshot (bad magic)");
	if (len < 12)
		return fail(r, EINVAL, "truncated header");
	memcpy(&version, buf + 8, 4);
	version = le32toh(version);
	if (version != SNAPSHOT_VERSION)
		return fail(r, EPROTO, "snapshot version %u, this xwgd reads version %u only",
			    version, SNAPSHOT_VERSION);
	if (len < SNAPSHOT_HEADER_LEN + SNAPSHOT_TRAILER_LEN)
		return fail(r, EINVAL, "truncated: %zu bytes", len);
	memcpy(&header_len, buf + 12, 4);
	memcpy(&total, buf + 16, 8);
	memcpy(&r->written_at, buf + 24, 8);
	header_len = le32toh(header_len);
	total = le64toh(total);
	r->written_at = le64toh(r->written_at);
	if (header_len != SNAPSHOT_HEADER_LEN)
		return fail(r, EINVAL, "header length %u, expected %u", header_len,
			    SNAPSHOT_HEADER_LEN);
	if (total != len)
		return fail(r, EINVAL, "%zu bytes, the header says %llu (truncated or padded)",
			    len, (unsigned long long)total);
	checksum(sum, buf, len - SNAPSHOT_TRAILER_LEN);
	if (memcmp(sum, buf + len - SNAPSHOT_TRAILER_LEN, sizeof(sum)))
		return fail(r, EINVAL, "checksum mismatch: the snapshot is corrupted");
	now = platform_now();
	if (r->written_at > now)
		return fail(r, EINVAL, "written %llu ms in the future (not this host's clock)",
			    (unsigned long long)((r->written_at - now) / NSEC_PER_MSEC));
	if (now - r->written_at > SNAPSHOT_MAX_AGE_SEC * NSEC_PER_SEC)
		return fail(r, ESTALE, "written %llu s ago, more than %u s: stale",
			    (unsigned long long)((now - r->written_at) / NSEC_PER_SEC),
			    SNAPSHOT_MAX_AGE_SEC);
	return 0;
}

int snapshot_read(struct wg_device *dev, const uint8_t *buf, size_t len,
		  char *why, size_t whylen)
{
	struct reader *r;
	struct device_saved saved;
	struct rcur c;
	int ret;

	if (why && whylen)
		why[0] = 0;
	if (dev->peers.count || dev->static_identity.has_identity) {
		if (why && whylen)
			snprintf(why, whylen, "the device already has a configuration");
		return -EBUSY;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		if (why && whylen)
			snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	r->dev = dev;
	r->why = why;
	r->whylen = whylen;
	device_save(dev, &saved);
	ret = read_header(r, buf, len);
	if (!ret) {
		c = (struct rcur){ .p = buf + SNAPSHOT_HEADER_LEN,
				   .left = len - SNAPSHOT_HEADER_LEN - SNAPSHOT_TRAILER_LEN };
		ret = read_records(r, &c);
	}
	if (ret) {
		snapshot_device_clear(dev);
		device_restore(dev, &saved);
	} else {
		struct wg_peer *peer;

		/* The fast path mirrors what was rebuilt (no-ops on the
		 * portable one). */
		for (peer = dev->peers.first; peer; peer = peer->next) {
			notify_allowedips_changed(dev, peer);
			notify_peer_configured(dev, peer, NULL);
		}
	}
	free(r);
	return ret;
}

int snapshot_read_memfd(struct wg_device *dev, int fd, char *why, size_t whylen)
{
	const int need = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	uint8_t *copy;
	struct stat st;
	size_t len, off = 0;
	int seals, ret;

	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & need) != need ||
	    !(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))) {
		snprintf(why, whylen, "the snapshot memfd is not sealed");
		return -EINVAL;
	}
	if (fstat(fd, &st))
		return -errno;
	if (st.st_size < (off_t)(SNAPSHOT_HEADER_LEN + SNAPSHOT_TRAILER_LEN) ||
	    (uint64_t)st.st_size > SNAPSHOT_MAX_LEN || (uint64_t)st.st_size > SIZE_MAX) {
		snprintf(why, whylen, "the snapshot memfd has %lld bytes", (long long)st.st_size);
		return -EINVAL;
	}
	len = (size_t)st.st_size;
	/* Locked, guarded, wiped on free. */
	copy = sodium_malloc(len);
	if (!copy) {
		snprintf(why, whylen, "no memory for a copy of %zu bytes", len);
		return -ENOMEM;
	}
	while (off < len) {
		ssize_t n = pread(fd, copy + off, len - off, (off_t)off);

		if (n <= 0) {
			ret = n < 0 ? -errno : -EINVAL;
			snprintf(why, whylen, "reading the snapshot memfd: %s",
				 n < 0 ? strerror(errno) : "short");
			sodium_free(copy);
			return ret;
		}
		off += (size_t)n;
	}
	ret = snapshot_read(dev, copy, len, why, whylen);
	sodium_free(copy);
	return ret;
}
