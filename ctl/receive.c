// SPDX-License-Identifier: GPL-2.0
/*
 * Receiving: every datagram is checked for type and exact length first;
 * handshake messages go through mac1/cookies (whitepaper 5.3) before Noise;
 * data messages are opened on the crypto pool, then the replay window, key
 * confirmation, roaming and the inner packet's source address are checked
 * here in order. Nothing changes state before a packet is authenticated.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "ctl/device.h"
#include "base/log.h"
#include "ctl/notify.h"
#include "datapath/crypto_pool.h"
#include "datapath/ip.h"
#include "datapath/transport.h"
#include "datapath/tun.h"

static uint32_t message_type(const uint8_t *msg)
{
	uint32_t t;

	memcpy(&t, msg, sizeof(t));
	return le32toh(t);
}

/* The expected length of each message type; 0 for data (variable). */
static bool has_valid_length(uint32_t type, size_t len)
{
	switch (type) {
	case MESSAGE_HANDSHAKE_INITIATION:
		return len == sizeof(struct message_handshake_initiation);
	case MESSAGE_HANDSHAKE_RESPONSE:
		return len == sizeof(struct message_handshake_response);
	case MESSAGE_HANDSHAKE_COOKIE:
		return len == sizeof(struct message_handshake_cookie);
	case MESSAGE_DATA:
		return len >= MESSAGE_MINIMUM_LENGTH;
	}
	return false;
}

/* Roaming (whitepaper 2.1): the endpoint follows authenticated packets, and
 * replies leave from the address this one arrived at. */
static void update_endpoint(struct wg_peer *peer, const struct udp_endpoint *ep)
{
	struct udp_endpoint old;

	/* Nearly every packet comes from where the last one did: then there
	 * is nothing to copy, compare field by field or hand on. */
	if (!memcmp(&peer->endpoint, ep, sizeof(*ep)))
		return;
	old = peer->endpoint;
	peer->endpoint = *ep;
	notify_endpoint_changed(peer, &old);
}

/* Under load, answer with a cookie reply (whitepaper 5.4.7). Replies of a
 * batch are queued and leave in one sendmmsg at its end: a flood of
 * initiations must not cost a syscall each. */
static void queue_cookie_reply(struct wg_device *dev, const uint8_t *msg, size_t len,
			       const struct udp_endpoint *from)
{
	struct message_handshake_cookie *reply;
	uint32_t sender;

	if (dev->n_cookie_replies >= DATAPATH_BATCH)
		return;
	reply = &dev->cookie_replies[dev->n_cookie_replies];
	/* Both handshake messages carry their sender index at offset 4. */
	memcpy(&sender, msg + 4, sizeof(sender));
	cookie_message_create(reply, &dev->cookie_checker, msg, len, le32toh(sender),
			      &from->addr.sa);
	dev->cookie_tx[dev->n_cookie_replies++] =
		(struct udp_tx){ .buf = reply, .len = sizeof(*reply), .ep = *from };
}

static void flush_cookie_replies(struct wg_device *dev)
{
	if (!dev->n_cookie_replies)
		return;
	dev->cookies_sent += (uint64_t)udp_send_batch(&dev->udp, dev->cookie_tx,
						      dev->n_cookie_replies);
	dev->n_cookie_replies = 0;
}

static void send_handshake_response(struct wg_peer *peer)
{
	struct wg_device *dev = peer->device;
	struct message_handshake_response msg;

	if (!noise_handshake_create_response(&msg, &peer->handshake, &dev->noise_ops))
		return;
	if (!noise_handshake_begin_session(&peer->handshake, &peer->keypairs, &dev->noise_ops))
		return;
	timers_session_derived(&peer->timers);
	cookie_add_mac_to_packet(&msg, sizeof(msg), &peer->latest_cookie);
	timers_any_authenticated_packet_traversal(&peer->timers);
	timers_any_authenticated_packet_sent(&peer->timers);
	log_debug("peer %llu: sending handshake response", (unsigned long long)peer->internal_id);
	send_buffer_to_peer(peer, &msg, sizeof(msg));
	peer->stats.handshakes_sent++;
}

static void receive_cookie(struct wg_device *dev, const uint8_t *msg)
{
	const struct message_handshake_cookie *m = (const void *)msg;
	struct index_entry *e = device_index_lookup(dev, le32toh(m->receiver_index));

	if (!e || !cookie_message_consume(m, &e->peer->latest_cookie)) {
		device_count_drop(dev, DROP_RX_COOKIE_FAILED);
		return;
	}
	log_debug("peer %llu: received cookie reply", (unsigned long long)e->peer->internal_id);
}

static void receive_handshake(struct wg_device *dev, const uint8_t *msg, size_t len,
			      uint32_t type, const struct udp_endpoint *from)
{
	struct noise_handshake *hs;
	enum cookie_mac_state mac_state;
	struct wg_peer *peer;
	bool under_load;

	if (type == MESSAGE_HANDSHAKE_COOKIE) {
		receive_cookie(dev, msg);
		return;
	}
	under_load = device_is_under_load(dev);
	mac_state = cookie_validate_packet(&dev->cookie_checker, msg, len, &from->addr.sa,
					   under_load);
	if (under_load && mac_state == VALID_MAC_BUT_NO_COOKIE) {
		queue_cookie_reply(dev, msg, len, from);
		return;
	}
	if (mac_state == VALID_MAC_WITH_COOKIE_BUT_RATELIMITED) {
		device_count_drop(dev, DROP_RX_RATELIMITED);
		return;
	}
	if (!(under_load && mac_state == VALID_MAC_WITH_COOKIE) &&
	    !(!under_load && mac_state == VALID_MAC_BUT_NO_COOKIE)) {
		device_count_drop(dev, DROP_RX_BAD_MAC);
		return;
	}

	if (type == MESSAGE_HANDSHAKE_INITIATION) {
		hs = noise_handshake_consume_initiation((const void *)msg, &dev->static_identity,
							&dev->noise_ops);
		if (!hs) {
			device_count_drop(dev, DROP_RX_HANDSHAKE_FAILED);
			return;
		}
		peer = hs->peer;
		dev->handshakes_received++;
		peer->stats.handshakes_received++;
		log_debug("peer %llu: received handshake initiation",
			  (unsigned long long)peer->internal_id);
		update_endpoint(peer, from);
		send_handshake_response(peer);
	} else {
		hs = noise_handshake_consume_response((const void *)msg, &dev->static_identity,
						      &dev->noise_ops);
		if (!hs) {
			device_count_drop(dev, DROP_RX_HANDSHAKE_FAILED);
			return;
		}
		peer = hs->peer;
		dev->handshakes_received++;
		peer->stats.handshakes_received++;
		log_debug("peer %llu: received handshake response",
			  (unsigned long long)peer->internal_id);
		update_endpoint(peer, from);
		if (noise_handshake_begin_session(hs, &peer->keypairs, &dev->noise_ops)) {
			timers_session_derived(&peer->timers);
			peer_handshake_completed(peer);
			/* Sends what waited for this session, or a keepalive
			 * that confirms the session to the responder. */
			send_keepalive(peer);
		}
	}
	peer->rx_bytes += len;
	timers_any_authenticated_packet_received(&peer->timers);
	timers_any_authenticated_packet_traversal(&peer->timers);
}

/* Whitepaper 6.2: the initiator rekeys a session that is about to be
 * rejected, once, when it hears on it. */
static void keep_key_fresh(struct wg_peer *peer)
{
	struct noise_keypair *kp = peer->keypairs.current;

	if (kp && kp->i_am_the_initiator &&
	    birthdate_has_expired(kp->birthdate, REKEY_AFTER_TIME_RECV) &&
	    timers_may_send_lastminute_initiation(&peer->timers))
		send_handshake_initiation(peer, false);
}

/* Validate the decrypted inner packet: IPv4 or IPv6 by its version, its
 * length from its own header (the rest is padding), its source allowed for
 * the peer. Returns the inner length, or 0 to drop. */
static size_t inner_packet_check(struct wg_device *dev, struct wg_peer *peer,
				 const uint8_t *p, size_t len)
{
	struct ip_packet_info ip;

	if (!ip_packet_parse(p, len, &ip)) {
		device_count_drop(dev, DROP_RX_BAD_INNER);
		return 0;
	}
	if (allowedips_lookup(&dev->allowedips, ip.family, ip.src) != peer) {
		device_count_drop(dev, DROP_RX_SOURCE_NOT_ALLOWED);
		return 0;
	}
	return ip.len;
}

static void receive_data_done(struct wg_device *dev, struct crypto_job *job,
			      const struct udp_endpoint *from)
{
	struct noise_keypair *kp = job->keypair;
	struct wg_peer *peer = kp->peer;
	size_t plain_len = job->len - MESSAGE_MINIMUM_LENGTH, inner;
	int ret;

	if (!job->ok) {
		device_count_drop(dev, DROP_RX_DECRYPT_FAILED);
		return;
	}
	if (!replay_counter_validate(&kp->receiving_counter, job->counter)) {
		device_count_drop(dev, DROP_RX_REPLAY);
		peer->stats.rx_dropped++;
		return;
	}
	/* Authenticated and new. */
	update_endpoint(peer, from);
	peer->rx_bytes += job->len;
	peer->stats.rx_packets++;
	if (noise_keypairs_received_with(&peer->keypairs, kp, &dev->noise_ops)) {
		peer_handshake_completed(peer);
		send_staged_packets(peer);
	}
	keep_key_fresh(peer);
	timers_any_authenticated_packet_received(&peer->timers);
	timers_any_authenticated_packet_traversal(&peer->timers);

	if (!plain_len)
		return;  /* keepalive */
	inner = inner_packet_check(dev, peer, job->out, plain_len);
	if (!inner) {
		peer->stats.rx_dropped++;
		return;
	}
	ret = device_deliver_batched(dev, job->out, inner);
	if (ret) {
		device_count_drop(dev, ret == -EMSGSIZE ? DROP_RX_TOO_BIG : DROP_RX_TUN_WRITE);
		peer->stats.rx_dropped++;
		return;
	}
	timers_data_received(&peer->timers);
}

void receive_datagrams(struct wg_device *dev, struct udp_rx *rx, unsigned int n)
{
	struct crypto_job *jobs = dev->rx_jobs;
	unsigned int from[DATAPATH_BATCH];
	unsigned int i, m = 0;

	platform_clock_hold();
	for (i = 0; i < n && i < DATAPATH_BATCH; i++) {
		const uint8_t *msg = rx[i].buf;
		struct index_entry *e;
		uint32_t type;

		if (rx[i].truncated) {
			device_count_drop(dev, DROP_RX_TRUNCATED);
			continue;
		}
		if (rx[i].len < sizeof(struct message_header)) {
			device_count_drop(dev, DROP_RX_TOO_SHORT);
			continue;
		}
		type = message_type(msg);
		if (type < MESSAGE_HANDSHAKE_INITIATION || type > MESSAGE_DATA) {
			device_count_drop(dev, DROP_RX_BAD_TYPE);
			continue;
		}
		if (!has_valid_length(type, rx[i].len)) {
			device_count_drop(dev, DROP_RX_BAD_LENGTH);
			continue;
		}
		if (type != MESSAGE_DATA) {
			receive_handshake(dev, msg, rx[i].len, type, &rx[i].ep);
			continue;
		}
		e = device_index_lookup(dev, transport_receiver_index(msg));
		if (!e || !e->is_keypair) {
			device_count_drop(dev, DROP_RX_UNKNOWN_INDEX);
			continue;
		}
		jobs[m] = (struct crypto_job){
			.op = CRYPTO_OPEN,
			.keypair = noise_keypair_get(e->keypair),
			.in = msg,
			.len = rx[i].len,
			.out = (uint8_t *)rx[i].buf + sizeof(struct message_data),
		};
		from[m++] = i;
	}
	flush_cookie_replies(dev);
	crypto_pool_run(dev->pool, jobs, m);
	for (i = 0; i < m; i++) {
		receive_data_done(dev, &jobs[i], &rx[from[i]].ep);
		noise_keypair_put(jobs[i].keypair);
	}
	platform_clock_release();
	device_deliver_flush(dev);
	fastpath_flush(dev);
}
