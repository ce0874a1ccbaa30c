/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mac1, mac2 and cookie replies: WireGuard's DoS mitigation (whitepaper
 * 5.3 and 5.4.4, protocol.md "Cookies").
 *
 * The device has one cookie_checker (its own mac1 key, the rotating cookie
 * secret, the key that seals cookie replies); each peer has one struct
 * cookie (the mac1 key for that peer, the last cookie it sent us, the mac1
 * of our last handshake message so a reply can be checked against it).
 */
#ifndef XWG_COOKIE_H
#define XWG_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "constants.h"
#include "base/platform.h"
#include "messages.h"

struct ratelimiter;

struct cookie_checker {
	uint8_t secret[COOKIE_SECRET_LEN];
	xwg_time_t secret_birthdate;
	uint8_t cookie_encryption_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t message_mac1_key[NOISE_SYMMETRIC_KEY_LEN];
	struct ratelimiter *ratelimiter;  /* NULL: no per-source limit */
};

struct cookie {
	xwg_time_t birthdate;
	bool is_valid;
	uint8_t cookie[COOKIE_LEN];
	bool have_sent_mac1;
	uint8_t last_mac1_sent[COOKIE_LEN];
	uint8_t cookie_decryption_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t message_mac1_key[NOISE_SYMMETRIC_KEY_LEN];
};

enum cookie_mac_state {
	INVALID_MAC,
	VALID_MAC_BUT_NO_COOKIE,
	VALID_MAC_WITH_COOKIE_BUT_RATELIMITED,
	VALID_MAC_WITH_COOKIE,
};

/* Device side. Call again whenever our static public key changes (an
 * all-zero key is allowed: nothing will validate). */
void cookie_checker_init(struct cookie_checker *checker,
			 const uint8_t our_public_key[NOISE_PUBLIC_KEY_LEN],
			 struct ratelimiter *ratelimiter);
void cookie_checker_uninit(struct cookie_checker *checker);

/* Check the macs of a handshake message (msg, len is its full length, the
 * macs are its last 32 bytes). src is the sender's address (sockaddr_in or
 * sockaddr_in6). check_cookie: the device is under load, so mac2 must be a
 * valid cookie MAC and the source is rate-limited. */
enum cookie_mac_state cookie_validate_packet(struct cookie_checker *checker,
					     const void *msg, size_t len,
					     const struct sockaddr *src,
					     bool check_cookie);

/* Build the cookie reply to handshake message msg (its sender index is
 * `index`) that arrived from src. */
void cookie_message_create(struct message_handshake_cookie *dst,
			   struct cookie_checker *checker, const void *msg,
			   size_t len, uint32_t index, const struct sockaddr *src);

/* Peer side. */
void cookie_init(struct cookie *cookie,
		 const uint8_t peer_public_key[NOISE_PUBLIC_KEY_LEN]);
/* Fill in mac1 and mac2 of an outgoing handshake message. */
void cookie_add_mac_to_packet(void *msg, size_t len, struct cookie *cookie);
/* Open a cookie reply addressed to this peer (the caller found the peer by
 * src->receiver_index). True when a cookie was stored. */
bool cookie_message_consume(const struct message_handshake_cookie *src,
			    struct cookie *cookie);

#endif
