// SPDX-License-Identifier: GPL-2.0
/*
 * The takeover snapshot (ctl/snapshot.c): a device with many peers,
 * sessions and handshakes in progress goes through a snapshot into a fresh
 * device and comes out the same (the configuration socket's get, the
 * keypairs, indices and timers, and a second snapshot byte for byte); every
 * truncation, a wrong version and corrupted fields are refused with a
 * message and leave the device fresh; bit flips never crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "constants.h"
#include "ctl/device.h"
#include "ctl/handshake/crypto.h"
#include "ctl/snapshot.h"
#include "ctl/uapi.h"
#include "test.h"
#include "tests/test_node.h"
#include "tests/suites.h"

#define START_NS (5000 * NSEC_PER_SEC)
#define IFNAME "snap0"

static void hex(char *out, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* A session the way a completed handshake leaves one: a real initiation
 * (index, ephemeral, ck), then the state a response or initiation would
 * have brought. */
static void make_session(struct wg_device *dev, struct wg_peer *peer, bool initiator)
{
	struct message_handshake_initiation msg;
	struct noise_handshake *hs = &peer->handshake;
	struct noise_keypair *kp;
	unsigned int i;

	if (!CHECK(noise_handshake_create_initiation(&msg, hs, &dev->noise_ops)))
		return;
	test_rand_bytes(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	hs->remote_index = (uint32_t)test_rand();
	hs->state = initiator ? HANDSHAKE_CONSUMED_RESPONSE : HANDSHAKE_CREATED_RESPONSE;
	kp = noise_handshake_begin_session(hs, &peer->keypairs, &dev->noise_ops);
	if (!CHECK(kp))
		return;
	atomic_store(&kp->sending_counter, test_rand() % 100000);
	for (i = 0; i < 50; i++)
		replay_counter_validate(&kp->receiving_counter, test_rand() % 20000);
	test_clock_advance(NSEC_PER_SEC);
}

/* A device with npeers peers in every state a snapshot must carry. */
static void build(struct wg_device *dev, unsigned int npeers)
{
	uint8_t priv[32], pub[32];
	char h[65], line[256];
	struct uapi_buf cfg = { 0 };
	struct wg_peer *peer;
	unsigned int i, j;

	CHECK(device_init(dev, IFNAME, 1) == 0);
	test_rand_bytes(priv, 32);
	crypto_clamp(priv);
	hex(h, priv, 32);
	uapi_buf_printf(&cfg, "private_key=%s\n", h);
	for (i = 0; i < npeers; i++) {
		test_rand_bytes(priv, 32);
		crypto_clamp(priv);
		crypto_public_key(pub, priv);
		hex(h, pub, 32);
		uapi_buf_printf(&cfg, "public_key=%s\n", h);
		if (i % 2) {
			test_rand_bytes(priv, 32);
			hex(h, priv, 32);
			uapi_buf_printf(&cfg, "preshared_key=%s\n", h);
		}
		if (i % 3 == 0)
			uapi_buf_printf(&cfg, "endpoint=192.0.2.%u:%u\n", i % 250 + 1, 40000 + i);
		else if (i % 3 == 1)
			uapi_buf_printf(&cfg, "endpoint=[2001:db8::%x]:%u\n", i + 1, 40000 + i);
		if (i % 4 == 0)
			uapi_buf_printf(&cfg, "persistent_keepalive_interval=%u\n", 1 + i % 60);
		for (j = 0; j < 1 + i % 4; j++) {
			snprintf(line, sizeof(line), "allowed_ip=10.%u.%u.0/24\n", i / 256,
				 (i % 256) ^ (j << 5));
			uapi_buf_printf(&cfg, "%s", line);
			uapi_buf_printf(&cfg, "allowed_ip=fd00:%x:%x::/%u\n", i, j, 48 + j * 16);
		}
	}
	uapi_buf_printf(&cfg, "\n");
	CHECK(!cfg.oom && test_config_apply(dev, cfg.data) == 0);
	uapi_buf_free(&cfg);

	dev->listen_port = 51820;
	dev->udp.port = 51820;
	dev->udp.fwmark = 0x42;
	test_rand_bytes(dev->cookie_checker.secret, COOKIE_SECRET_LEN);
	dev->cookie_checker.secret_birthdate = START_NS - NSEC_PER_SEC;
	for (i = 0; i < DROP_REASON_COUNT; i++)
		dev->drops[i] = 1000 + i;
	dev->handshakes_sent = 77;
	dev->handshakes_received = 78;
	dev->cookies_sent = 3;
	dev->udp.gso_stats.messages = 9;

	for (peer = dev->peers.first, i = 0; peer; peer = peer->next, i++) {
		/* previous + current; current + next (unconfirmed);
		 * current; nothing */
		switch (i % 4) {
		case 0:
			make_session(dev, peer, true);
			make_session(dev, peer, true);
			break;
		case 1:
			make_session(dev, peer, true);
			make_session(dev, peer, false);
			break;
		case 2:
			make_session(dev, peer, false);
			break;
		}
		/* And a handshake in progress on every third. */
		if (i % 3 == 0) {
			struct message_handshake_initiation msg;

			CHECK(noise_handshake_create_initiation(&msg, &peer->handshake,
								&dev->noise_ops));
			timers_handshake_initiated(&peer->timers);
		}
		/* A sticky source (only where there is an endpoint). */
		if (i % 5 == 1 && udp_endpoint_family(&peer->endpoint) != AF_UNSPEC) {
			peer->endpoint.has_src = true;
			peer->endpoint.src_ifindex = 7;
			if (udp_endpoint_family(&peer->endpoint) == AF_INET)
				peer->endpoint.src4.s_addr = htonl(0xc0000201);
			else
				peer->endpoint.src6.s6_addr[15] = 9;
		}
		timers_data_sent(&peer->timers);
		if (i % 2)
			timers_data_received(&peer->timers);
		timers_any_authenticated_packet_traversal(&peer->timers);
		peer->rx_bytes = 1000000ULL * i + 1;
		peer->tx_bytes = 2000000ULL * i + 2;
		peer->last_handshake_sec = 1700000000 + i;
		peer->last_handshake_nsec = i * 1000;
		peer->stats.rx_packets = i * 3;
		peer->latest_cookie.is_valid = i % 2;
		peer->latest_cookie.birthdate = START_NS + i;
		test_rand_bytes(peer->latest_cookie.cookie, COOKIE_LEN);
		test_rand_bytes(peer->handshake.latest_timestamp, NOISE_TIMESTAMP_LEN);
		test_clock_advance(NSEC_PER_MSEC);
	}
}

static uint8_t *take(struct wg_device *dev, size_t *len)
{
	uint8_t *buf;

	*len = snapshot_write(dev, NULL, 0);
	buf = malloc(*len);
	if (buf)
		CHECK(snapshot_write(dev, buf, *len) == *len);
	return buf;
}

static bool is_fresh(struct wg_device *dev)
{
	return !dev->peers.count && !dev->static_identity.has_identity && !dev->indices.used &&
	       !allowedips_count(&dev->allowedips) && !timers_next_deadline(&dev->timers) &&
	       !dev->next_peer_id && !dev->listen_port && !dev->drops[0];
}

static bool keypair_same(struct wg_device *db, const struct noise_keypair *a,
			 const struct noise_keypair *b)
{
	struct index_entry *e;

	if (!a || !b)
		return !a && !b;
	e = device_index_lookup(db, b->local_index);
	return !memcmp(a->sending_key, b->sending_key, 32) &&
	       !memcmp(a->receiving_key, b->receiving_key, 32) &&
	       atomic_load(&a->sending_counter) == atomic_load(&b->sending_counter) &&
	       !memcmp(&a->receiving_counter, &b->receiving_counter, sizeof(a->receiving_counter)) &&
	       a->birthdate == b->birthdate && a->local_index == b->local_index &&
	       a->remote_index == b->remote_index &&
	       a->i_am_the_initiator == b->i_am_the_initiator &&
	       e && e->is_keypair && e->keypair == b && e->peer == b->peer;
}

static void compare(struct wg_device *a, struct wg_device *b)
{
	struct wg_peer *pa, *pb;
	char *ga = test_config_get(a), *gb = test_config_get(b);
	unsigned int k;

	CHECKF(!strcmp(ga, gb), "get differs:\n%s\n---\n%s", ga, gb);
	free(ga);
	free(gb);
	CHECK(a->indices.used == b->indices.used);
	CHECK(timers_next_deadline(&a->timers) == timers_next_deadline(&b->timers));
	CHECK(!memcmp(a->drops, b->drops, sizeof(a->drops)));
	CHECK(!memcmp(&a->cookie_checker, &b->cookie_checker,
		      offsetof(struct cookie_checker, ratelimiter)));
	for (pa = a->peers.first, pb = b->peers.first; pa && pb; pa = pa->next, pb = pb->next) {
		struct noise_handshake *ha = &pa->handshake, *hb = &pb->handshake;

		CHECK(keypair_same(b, pa->keypairs.previous, pb->keypairs.previous));
		CHECK(keypair_same(b, pa->keypairs.current, pb->keypairs.current));
		CHECK(keypair_same(b, pa->keypairs.next, pb->keypairs.next));
		CHECK(ha->state == hb->state && ha->local_index == hb->local_index &&
		      ha->remote_index == hb->remote_index &&
		      !memcmp(ha->ephemeral_private, hb->ephemeral_private, 32) &&
		      !memcmp(ha->hash, hb->hash, 32) &&
		      !memcmp(ha->chaining_key, hb->chaining_key, 32) &&
		      !memcmp(ha->precomputed_static_static, hb->precomputed_static_static, 32));
		if (hb->local_index) {
			struct index_entry *e = device_index_lookup(b, hb->local_index);

			CHECK(e && !e->is_keypair && e->handshake == hb && e->peer == pb);
		}
		for (k = 0; k < TIMER_COUNT; k++)
			CHECK(pa->timers.deadline[k] == pb->timers.deadline[k]);
		CHECK(pa->timers.handshake_attempts == pb->timers.handshake_attempts &&
		      pa->timers.last_sent_handshake == pb->timers.last_sent_handshake);
		CHECK(!memcmp(&pa->endpoint.addr, &pb->endpoint.addr, sizeof(pa->endpoint.addr)) &&
		      pa->endpoint.has_src == pb->endpoint.has_src &&
		      pa->endpoint.src_ifindex == pb->endpoint.src_ifindex);
		CHECK(pa->internal_id == pb->internal_id &&
		      !memcmp(&pa->stats, &pb->stats, sizeof(pa->stats)));
		CHECK(!memcmp(&pa->latest_cookie, &pb->latest_cookie, sizeof(pa->latest_cookie)));
	}
	CHECK(!pa && !pb);
}

/* Walks the records of buf: the payload offset of the nth of type. */
static size_t find_record(const uint8_t *buf, size_t len, unsigned int type, unsigned int nth)
{
	size_t off = SNAPSHOT_HEADER_LEN;

	while (off + 8 <= len - SNAPSHOT_TRAILER_LEN) {
		uint16_t t;
		uint32_t l;

		memcpy(&t, buf + off, 2);
		memcpy(&l, buf + off + 4, 4);
		if (t == type && !nth--)
			return off + 8;
		off += 8 + l;
	}
	return 0;
}

/* Reads a modified copy of buf (checksum fixed so the parser judges it);
 * returns the error and leaves the message in why. */
static int read_patched(struct wg_device *dev, const uint8_t *buf, size_t len, size_t at,
			const void *val, size_t n, char *why, size_t whylen)
{
	uint8_t *copy = malloc(len);
	int ret;

	memcpy(copy, buf, len);
	memcpy(copy + at, val, n);
	snapshot_checksum_fix(copy, len);
	ret = snapshot_read(dev, copy, len, why, whylen);
	free(copy);
	return ret;
}

static void test_round_trip(void)
{
	struct wg_device a, b;
	uint8_t *buf, *again;
	size_t len, len2;
	char why[256];

	build(&a, 64);
	buf = take(&a, &len);
	CHECK(device_init(&b, IFNAME, 1) == 0);
	CHECKF(snapshot_read(&b, buf, len, why, sizeof(why)) == 0, "%s", why);
	compare(&a, &b);
	again = take(&b, &len2);
	CHECK(len2 == len && !memcmp(buf, again, len));
	free(again);

	/* A device that is not fresh is not written over. */
	CHECK(snapshot_read(&b, buf, len, why, sizeof(why)) == -EBUSY);

	/* After the writer's clock moved on, the deadlines are the same
	 * absolute times: nothing shifts. */
	snapshot_device_clear(&b);
	test_clock_advance(30 * NSEC_PER_SEC);
	CHECKF(snapshot_read(&b, buf, len, why, sizeof(why)) == 0, "%s", why);
	CHECK(timers_next_deadline(&a.timers) == timers_next_deadline(&b.timers));
	snapshot_device_clear(&b);
	test_clock_advance(31 * NSEC_PER_SEC);
	CHECK(snapshot_read(&b, buf, len, why, sizeof(why)) == -ESTALE);
	CHECKF(strstr(why, "stale"), "%s", why);

	sodium_memzero(buf, len);
	free(buf);
	device_uninit(&a);
	device_uninit(&b);
}

static void test_refusals(void)
{
	struct wg_device a, c;
	uint8_t *buf, *copy, b8;
	uint32_t u32;
	size_t len, l, at, i;
	char why[256];
	int ret;

	build(&a, 4);
	buf = take(&a, &len);
	CHECK(device_init(&c, IFNAME, 1) == 0);
	copy = malloc(len);

	/* Every truncation: as it is (the header's length), and with the
	 * length and checksum patched so that the records must tell. */
	for (l = 0; l < len; l++) {
		ret = snapshot_read(&c, buf, l, why, sizeof(why));
		CHECKF(ret == -EINVAL && why[0] && is_fresh(&c), "length %zu: %d %s", l, ret, why);
		if (l < SNAPSHOT_HEADER_LEN + SNAPSHOT_TRAILER_LEN)
			continue;
		memcpy(copy, buf, l);
		u32 = htole32((uint32_t)l);
		memcpy(copy + 16, &u32, 4);
		snapshot_checksum_fix(copy, l);
		ret = snapshot_read(&c, copy, l, why, sizeof(why));
		CHECKF(ret == -EINVAL && why[0] && is_fresh(&c), "length %zu patched: %d %s", l,
		       ret, why);
	}

	/* A version from elsewhere, named in the message. */
	u32 = htole32(SNAPSHOT_VERSION + 1);
	ret = read_patched(&c, buf, len, 8, &u32, 4, why, sizeof(why));
	CHECKF(ret == -EPROTO && strstr(why, "version 2") && is_fresh(&c), "%d %s", ret, why);

	/* Another interface. */
	ret = read_patched(&c, buf, len, find_record(buf, len, REC_DEVICE, 0), "snap1", 5, why,
			   sizeof(why));
	CHECKF(ret == -EINVAL && strstr(why, "snap1") && is_fresh(&c), "%d %s", ret, why);

	/* The fast path's snapshot on the portable path. */
	b8 = SNAPSHOT_DATAPATH_FAST;
	ret = read_patched(&c, buf, len, find_record(buf, len, REC_DEVICE, 0) + IF_NAMESIZE, &b8,
			   1, why, sizeof(why));
	CHECKF(ret == -EPROTO && strstr(why, "data path") && is_fresh(&c), "%d %s", ret, why);

	/* An unclamped private key. */
	at = find_record(buf, len, REC_DEVICE, 0) + IF_NAMESIZE + 2;
	b8 = buf[at] | 1;
	ret = read_patched(&c, buf, len, at, &b8, 1, why, sizeof(why));
	CHECKF(ret == -EINVAL && strstr(why, "private key") && is_fresh(&c), "%d %s", ret, why);

	/* Two keypairs with one receiver index (the second keypair takes the
	 * first's index; local_index sits 90 bytes into the record). */
	at = find_record(buf, len, REC_KEYPAIR, 0);
	memcpy(&u32, buf + at + 90, 4);
	ret = read_patched(&c, buf, len, find_record(buf, len, REC_KEYPAIR, 1) + 90, &u32,
			   4, why, sizeof(why));
	CHECKF(ret == -EINVAL && strstr(why, "already in use") && is_fresh(&c), "%d %s", ret, why);

	/* Host bits in an allowed IP, and a prefix longer than the family. */
	at = find_record(buf, len, REC_ALLOWED_IP, 0);
	b8 = 33;
	ret = read_patched(&c, buf, len, at + 1, &b8, 1, why, sizeof(why));
	CHECKF(ret == -EINVAL && strstr(why, "prefix length") && is_fresh(&c), "%d %s", ret, why);
	b8 = 0xff;
	ret = read_patched(&c, buf, len, at + 2 + 3, &b8, 1, why, sizeof(why));
	CHECKF(ret == -EINVAL && strstr(why, "host bits") && is_fresh(&c), "%d %s", ret, why);

	/* A timer an hour past anything the protocol arms. */
	{
		uint64_t far = htole64(START_NS + 100000 * NSEC_PER_SEC);

		at = find_record(buf, len, REC_PEER, 0) + 32 + 32 + 32 + 8 + 49 + 28 + 48 + 2;
		ret = read_patched(&c, buf, len, at, &far, 8, why, sizeof(why));
		CHECKF(ret == -EINVAL && strstr(why, "deadline") && is_fresh(&c), "%d %s", ret,
		       why);
	}

	/* Bit flips: refused by the checksum as they are; with the checksum
	 * fixed, the parser sees them and must never crash; what it takes is
	 * cleared again, what it refuses leaves nothing behind. */
	for (i = 0; i < len; i++) {
		memcpy(copy, buf, len);
		copy[i] ^= (uint8_t)(1U << (i % 8));
		if (i < len - SNAPSHOT_TRAILER_LEN)
			CHECKF(snapshot_read(&c, copy, len, why, sizeof(why)) < 0 && is_fresh(&c),
			       "flip at %zu", i);
		snapshot_checksum_fix(copy, len);
		ret = snapshot_read(&c, copy, len, why, sizeof(why));
		if (ret)
			CHECKF(is_fresh(&c) && why[0], "flip at %zu: %d", i, ret);
		else
			snapshot_device_clear(&c);
		c.listen_port = 0;
		c.udp.port = 0;
		c.next_peer_id = 0;
		memset(c.drops, 0, sizeof(c.drops));
	}

	free(copy);
	sodium_memzero(buf, len);
	free(buf);
	device_uninit(&a);
	device_uninit(&c);
}

static void test_memfd(void)
{
	struct wg_device a, b;
	struct snapshot_memfd m;
	char why[256];
	int fd;

	build(&a, 8);
	CHECK(snapshot_memfd_create(&a, &m) == 0);
	/* Sealed: no one else writes, shrinks or grows it. */
	CHECK(pwrite(m.fd, "x", 1, 0) < 0 && errno == EPERM);
	CHECK(ftruncate(m.fd, 10) < 0);
	CHECK(device_init(&b, IFNAME, 1) == 0);
	CHECKF(snapshot_read_memfd(&b, m.fd, why, sizeof(why)) == 0, "%s", why);
	compare(&a, &b);
	snapshot_memfd_wipe(&m);
	CHECK(m.fd == -1 && !m.map);

	/* An unsealed memfd is refused before it is read. */
	fd = memfd_create("unsealed", MFD_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, 4096) == 0);
	snapshot_device_clear(&b);
	CHECK(snapshot_read_memfd(&b, fd, why, sizeof(why)) == -EINVAL && strstr(why, "sealed"));
	close(fd);
	device_uninit(&a);
	device_uninit(&b);
}

void test_snapshot(void)
{
	test_clock_install(START_NS);
	test_rand_seed(15);
	test_round_trip();
	test_refusals();
	test_memfd();
}
