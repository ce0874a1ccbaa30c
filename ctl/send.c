// SPDX-License-Identifier: GPL-2.0
/*
 * Sending: handshake initiations and responses, keepalives, packets from
 * the tunnel (cryptokey routing, staging while there is no session, sealing
 * on the crypto pool, batched UDP send). Whitepaper 6 for when to rekey.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/device.h"
#include "ctl/handshake/crypto.h"
#include "base/log.h"
#include "datapath/crypto_pool.h"
#include "datapath/icmp.h"
#include "datapath/ip.h"
#include "datapath/offload.h"
#include "datapath/transport.h"
#include "datapath/tun.h"

void send_buffer_to_peer(struct wg_peer *peer, const void *buf, size_t len)
{
	struct udp_tx tx = { .buf = buf, .len = len, .ep = peer->endpoint };

	if (udp_endpoint_family(&peer->endpoint) == AF_UNSPEC) {
		device_count_drop(peer->device, DROP_TX_NO_ENDPOINT);
		return;
	}
	udp_send_batch(&peer->device->udp, &tx, 1);
	if (tx.src_cleared)
		udp_endpoint_clear_src(&peer->endpoint);
	if (tx.err)
		device_count_drop(peer->device, DROP_TX_SEND_FAILED);
	else
		peer->tx_bytes += len;  /* handshakes count, as in the kernel */
}

void send_handshake_initiation(struct wg_peer *peer, bool is_retry)
{
	struct wg_device *dev = peer->device;
	struct message_handshake_initiation msg;

	/* Retries come from the retransmit timer, already paced; anything
	 * else is held to one initiation per REKEY_TIMEOUT. */
	if (is_retry)
		peer->timers.last_sent_handshake = platform_now();
	else if (!timers_may_send_initiation(&peer->timers))
		return;
	/* The peer went quiet: the cached source may be why (timers.h). */
	if (timers_should_forget_endpoint_src(&peer->timers))
		udp_endpoint_clear_src(&peer->endpoint);
	if (udp_endpoint_family(&peer->endpoint) == AF_UNSPEC)
		return;
	if (!noise_handshake_create_initiation(&msg, &peer->handshake, &dev->noise_ops))
		return;
	log_debug("peer %llu: sending handshake initiation",
		  (unsigned long long)peer->internal_id);
	cookie_add_mac_to_packet(&msg, sizeof(msg), &peer->latest_cookie);
	timers_any_authenticated_packet_traversal(&peer->timers);
	timers_any_authenticated_packet_sent(&peer->timers);
	send_buffer_to_peer(peer, &msg, sizeof(msg));
	dev->handshakes_sent++;
	peer->stats.handshakes_sent++;
	timers_handshake_initiated(&peer->timers);
}

/* Whitepaper 6.2: the initiator of the current session starts the next one
 * once it is REKEY_AFTER_TIME old or has sent REKEY_AFTER_MESSAGES. */
static void keep_key_fresh(struct wg_peer *peer)
{
	struct noise_keypair *kp = peer->keypairs.current;

	if (kp && kp->i_am_the_initiator &&
	    (atomic_load_explicit(&kp->sending_counter, memory_order_relaxed) > REKEY_AFTER_MESSAGES ||
	     birthdate_has_expired(kp->birthdate, REKEY_AFTER_TIME)))
		send_handshake_initiation(peer, false);
}

struct send_item {
	struct wg_peer *peer;
	uint8_t *buf;    /* DATAPATH_HEADROOM, then len bytes of packet */
	size_t len;
};

/* Seal items[0..n) (n <= DATAPATH_BATCH, each peer holding a sending
 * keypair) on the pool and send them in one batch. */
static void seal_and_send(struct wg_device *dev, struct send_item *items, unsigned int n)
{
	struct udp_tx tx[DATAPATH_BATCH];
	unsigned int slot[DATAPATH_BATCH];
	struct crypto_job *jobs = dev->tx_jobs;
	unsigned int i, k, m = 0;

	for (i = 0; i < n; i++) {
		struct crypto_job *job = &jobs[i];
		/* Padding never pushes a message past the largest payload
		 * of a UDP datagram to this peer. */
		unsigned int room = udp_payload_max(udp_endpoint_family(&items[i].peer->endpoint)) -
				    MESSAGE_MINIMUM_LENGTH;
		unsigned int pad_limit = dev->mtu < room ? dev->mtu : room;

		*job = (struct crypto_job){
			.op = CRYPTO_SEAL,
			.keypair = noise_keypair_get(items[i].peer->keypairs.current),
			.in = items[i].buf + DATAPATH_HEADROOM,
			.len = items[i].len,
			.padded_len = transport_padded_len(items[i].len, pad_limit),
			.out = items[i].buf,
		};
	}
	crypto_pool_run(dev->pool, jobs, n);

	for (i = 0; i < n; i++) {
		if (!jobs[i].ok) {
			device_count_drop(dev, DROP_TX_SEND_FAILED);
			continue;
		}
		if (udp_endpoint_family(&items[i].peer->endpoint) == AF_UNSPEC) {
			device_count_drop(dev, DROP_TX_NO_ENDPOINT);
			jobs[i].ok = false;
		}
	}
	/* Each peer's messages side by side, in their order, so that
	 * udp_send_batch can join them into GSO messages; the order between
	 * peers carries no meaning. slot[i] is item i's place in tx. */
	for (i = 0; i < n; i++)
		slot[i] = jobs[i].ok ? UINT_MAX : 0;
	for (i = 0; i < n; i++) {
		struct wg_peer *peer = items[i].peer;

		if (slot[i] != UINT_MAX)
			continue;
		for (k = i; k < n; k++) {
			if (slot[k] != UINT_MAX || items[k].peer != peer)
				continue;
			slot[k] = m;
			tx[m++] = (struct udp_tx){ .buf = jobs[k].out,
						   .len = jobs[k].out_len,
						   .ep = peer->endpoint };
		}
	}
	udp_send_batch(&dev->udp, tx, m);

	for (i = 0; i < n; i++) {
		struct wg_peer *peer = items[i].peer;
		struct udp_tx *t = &tx[slot[i]];

		noise_keypair_put(jobs[i].keypair);
		if (!jobs[i].ok)
			continue;
		if (t->src_cleared)
			udp_endpoint_clear_src(&peer->endpoint);
		if (t->err) {
			device_count_drop(dev, DROP_TX_SEND_FAILED);
			peer->stats.tx_dropped++;
		} else {
			peer->tx_bytes += t->len;
			peer->stats.tx_packets++;
			timers_any_authenticated_packet_traversal(&peer->timers);
			timers_any_authenticated_packet_sent(&peer->timers);
			if (items[i].len)
				timers_data_sent(&peer->timers);
		}
		/* Once per peer per batch is enough. */
		if (i + 1 == n || items[i + 1].peer != peer)
			keep_key_fresh(peer);
	}
}

void send_staged_packets(struct wg_peer *peer)
{
	struct wg_device *dev = peer->device;
	struct send_item items[DATAPATH_BATCH];
	unsigned int n;

	if (!peer->staged_count)
		return;
	if (!peer_sending_keypair(peer)) {
		/* A peer whose key gives no valid DH (a low-order point), or
		 * a device without a private key, can never complete a
		 * handshake: nothing waits for it. */
		if (!peer->device->static_identity.has_identity ||
		    crypto_is_zero(peer->handshake.precomputed_static_static,
				   NOISE_PUBLIC_KEY_LEN)) {
			dev->drops[DROP_TX_PEER_UNUSABLE] += peer->staged_count;
			peer_staged_purge(peer);
			return;
		}
		send_handshake_initiation(peer, false);
		return;
	}
	while (peer->staged_count && peer_sending_keypair(peer)) {
		unsigned int head = peer->staged_head, i;

		n = peer->staged_count < DATAPATH_BATCH ? peer->staged_count : DATAPATH_BATCH;
		for (i = 0; i < n; i++) {
			struct staged_packet *sp = &peer->staged[(head + i) % MAX_STAGED_PACKETS];

			items[i] = (struct send_item){ peer, sp->buf, sp->len };
		}
		seal_and_send(dev, items, n);
		for (i = 0; i < n; i++) {
			struct staged_packet *sp = &peer->staged[peer->staged_head];

			free(sp->buf);
			sp->buf = NULL;
			peer->staged_head = (peer->staged_head + 1) % MAX_STAGED_PACKETS;
			peer->staged_count--;
		}
	}
}

void send_keepalive(struct wg_peer *peer)
{
	/* Staged packets do a keepalive's job; with none, an empty one goes
	 * through the same path (and starts a handshake when needed). */
	if (!peer->staged_count)
		peer_stage_packet(peer, NULL, 0);
	send_staged_packets(peer);
}

/* Like the kernel's WireGuard: tell the sender that no peer routes its
 * destination, at most ICMP_BURST at once and one per ICMP_INTERVAL_NS. */
#define ICMP_BURST 10U
#define ICMP_INTERVAL_NS (50 * NSEC_PER_MSEC)

static void send_unreachable(struct wg_device *dev, const uint8_t *pkt, size_t len)
{
	uint8_t err[ICMP_ERROR_MAX];
	xwg_time_t now = platform_now();
	size_t n;

	if (now - dev->icmp_refill >= ICMP_INTERVAL_NS) {
		uint64_t add = (now - dev->icmp_refill) / ICMP_INTERVAL_NS;

		dev->icmp_tokens = add >= ICMP_BURST || dev->icmp_tokens + add >= ICMP_BURST ?
				   ICMP_BURST : dev->icmp_tokens + (unsigned int)add;
		dev->icmp_refill = now;
	}
	if (!dev->icmp_tokens)
		return;
	n = icmp_unreachable_build(pkt, len, err);
	if (n && !device_deliver(dev, err, n))
		dev->icmp_tokens--;
}

/* One batch of packets from the tunnel on their way to the crypto pool. */
struct tunnel_batch {
	struct send_item items[DATAPATH_BATCH];
	unsigned int m;
	size_t arena_used;          /* of dev->tx_arena */
	struct wg_peer *waiting[DATAPATH_BATCH];
	unsigned int w;
};

static void tunnel_batch_flush(struct wg_device *dev, struct tunnel_batch *b)
{
	seal_and_send(dev, b->items, b->m);
	b->m = 0;
	b->arena_used = 0;
}

/* Cryptokey routing (whitepaper 2): the peer whose allowed IPs hold the
 * destination of p (len bytes), or NULL after counting the drop (and
 * answering with an ICMP error where no peer routes it). */
static struct wg_peer *tunnel_packet_peer(struct wg_device *dev, const uint8_t *p, size_t len)
{
	struct ip_packet_info ip;
	struct wg_peer *peer;

	if (!ip_packet_parse(p, len, &ip)) {
		device_count_drop(dev, DROP_TX_BAD_PACKET);
		return NULL;
	}
	peer = allowedips_lookup(&dev->allowedips, ip.family, ip.dst);
	if (!peer) {
		device_count_drop(dev, DROP_TX_NO_PEER);
		send_unreachable(dev, p, len);
	}
	return peer;
}

/* Queue one inner packet p for peer (len bytes, DATAPATH_HEADROOM
 * writable in front of it and 32 bytes behind): into the batch, the peer's
 * staging queue, or a drop. */
static void tunnel_packet_queue(struct wg_device *dev, struct tunnel_batch *b,
				struct wg_peer *peer, uint8_t *p, size_t len)
{
	if (len + MESSAGE_MINIMUM_LENGTH > udp_payload_max(udp_endpoint_family(&peer->endpoint))) {
		device_count_drop(dev, DROP_TX_TOO_BIG);
		return;
	}
	/* Keep order: once a peer has packets waiting, new ones queue
	 * behind them. */
	if (peer->staged_count || !peer_sending_keypair(peer)) {
		bool seen = peer->staged_count > 0;

		peer_stage_packet(peer, p, len);
		if (!seen && b->w < DATAPATH_BATCH)
			b->waiting[b->w++] = peer;
		return;
	}
	b->items[b->m++] = (struct send_item){ peer, p - DATAPATH_HEADROOM, len };
	if (b->m == DATAPATH_BATCH)
		tunnel_batch_flush(dev, b);
}

static void tunnel_packet_route(struct wg_device *dev, struct tunnel_batch *b, uint8_t *p,
				size_t len)
{
	struct wg_peer *peer = tunnel_packet_peer(dev, p, len);

	if (peer)
		tunnel_packet_queue(dev, b, peer, p, len);
}

static enum drop_reason offload_drop_reason(enum offload_drop r)
{
	switch (r) {
	case OFFLOAD_DROP_BAD_CSUM_OFFSET:
		return DROP_TX_OFFLOAD_BAD_CSUM_OFFSET;
	case OFFLOAD_DROP_BAD_HEADERS:
		return DROP_TX_OFFLOAD_BAD_HEADERS;
	case OFFLOAD_DROP_BAD_GSO_SIZE:
		return DROP_TX_OFFLOAD_BAD_GSO_SIZE;
	case OFFLOAD_DROP_TOO_MANY_SEGMENTS:
		return DROP_TX_OFFLOAD_TOO_MANY_SEGMENTS;
	default:
		return DROP_TX_OFFLOAD_BAD_VNET_HDR;
	}
}

/* A packet read with a virtio-net header: complete its checksum, or cut
 * the super-packet into segments in the arena (each with the headroom and
 * tailroom sealing in place needs), then route each. */
static void tunnel_packet_offload(struct wg_device *dev, struct tunnel_batch *b,
				  struct tun_packet *pkt)
{
	struct offload_seg_iter it;
	struct wg_peer *peer;
	enum offload_drop why;
	size_t seg_len;

	why = offload_seg_begin(&it, &pkt->vh, pkt->buf, pkt->len);
	if (why != OFFLOAD_OK) {
		device_count_drop(dev, offload_drop_reason(why));
		return;
	}
	if (!it.is_gso) {
		/* Its own IP length: bytes behind it are not sent. */
		tunnel_packet_route(dev, b, pkt->buf, offload_seg_next_len(&it));
		return;
	}
	/* Every segment has the super-packet's destination: one lookup. */
	peer = tunnel_packet_peer(dev, pkt->buf, pkt->len);
	if (!peer)
		return;
	dev->tso_packets++;
	while ((seg_len = offload_seg_next_len(&it))) {
		/* Cache-line aligned, with room to seal in place. */
		size_t need = (DATAPATH_HEADROOM + seg_len + 32U + 63U) & ~(size_t)63U;
		uint8_t *seg;

		/* need is at most 64 KB plus room: the arena holds 16. */
		if (b->arena_used + need > DATAPATH_TX_ARENA)
			tunnel_batch_flush(dev, b);
		seg = dev->tx_arena + b->arena_used + DATAPATH_HEADROOM;
		b->arena_used += need;
		seg_len = offload_seg_next(&it, seg);
		dev->tso_segments++;
		tunnel_packet_queue(dev, b, peer, seg, seg_len);
	}
}

void send_tunnel_packets(struct wg_device *dev, struct tun_packet *pkts, unsigned int n)
{
	struct tunnel_batch b;
	unsigned int i;

	b.m = b.w = 0;
	b.arena_used = 0;
	platform_clock_hold();
	for (i = 0; i < n; i++) {
		if (pkts[i].truncated) {
			device_count_drop(dev, DROP_TX_BAD_PACKET);
			continue;
		}
		if (dev->tun_vnet && (pkts[i].vh.gso_type != VIRTIO_NET_HDR_GSO_NONE ||
				      pkts[i].vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
			tunnel_packet_offload(dev, &b, &pkts[i]);
		else
			tunnel_packet_route(dev, &b, pkts[i].buf, pkts[i].len);
	}
	tunnel_batch_flush(dev, &b);
	for (i = 0; i < b.w; i++)
		send_staged_packets(b.waiting[i]);
	platform_clock_release();
	fastpath_flush(dev);
}
