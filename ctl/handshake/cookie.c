// SPDX-License-Identifier: GPL-2.0
/*
 * mac1 / mac2 / cookie replies (whitepaper 5.4.4 and 5.4.7).
 *   mac1 = MAC(HASH(LABEL_MAC1 || receiver's static public), msg[..mac1])
 *   mac2 = MAC(cookie, msg[..mac2])      (zeros when no fresh cookie)
 *   cookie = MAC(Rm, source ip || source port), Rm changes every 120 s
 *   reply = XAEAD(HASH(LABEL_COOKIE || replier's static public), nonce,
 *                 cookie, mac1 of the message answered)
 */
#include "cookie.h"

#include <arpa/inet.h>
#include <endian.h>
#include <netinet/in.h>
#include <string.h>

#include "crypto.h"
#include "ratelimiter.h"

/* The macs are the last 32 bytes of every handshake message. */
static const struct message_macs *macs_of(const void *msg, size_t len)
{
	return (const struct message_macs *)((const uint8_t *)msg + len -
					     sizeof(struct message_macs));
}

static size_t mac1_offset(size_t len)
{
	return len - sizeof(struct message_macs);
}

static size_t mac2_offset(size_t len)
{
	return len - COOKIE_LEN;
}

static void precompute_key(uint8_t key[NOISE_SYMMETRIC_KEY_LEN], const char *label,
			   const uint8_t public_key[NOISE_PUBLIC_KEY_LEN])
{
	crypto_hash_concat(key, label, strlen(label), public_key, NOISE_PUBLIC_KEY_LEN);
}

void cookie_checker_init(struct cookie_checker *checker,
			 const uint8_t our_public_key[NOISE_PUBLIC_KEY_LEN],
			 struct ratelimiter *ratelimiter)
{
	memset(checker, 0, sizeof(*checker));
	checker->ratelimiter = ratelimiter;
	precompute_key(checker->cookie_encryption_key, COOKIE_LABEL_COOKIE, our_public_key);
	precompute_key(checker->message_mac1_key, COOKIE_LABEL_MAC1, our_public_key);
}

void cookie_checker_uninit(struct cookie_checker *checker)
{
	crypto_wipe(checker, sizeof(*checker));
}

/* The cookie of a source address: MAC(Rm, ip || port). Rm is renewed once
 * it is COOKIE_SECRET_MAX_AGE old, so old cookies stop validating. */
static void make_cookie(uint8_t cookie[COOKIE_LEN], struct cookie_checker *checker,
			const struct sockaddr *src)
{
	uint8_t am[sizeof(struct in6_addr) + sizeof(in_port_t)];
	size_t amlen;

	if (birthdate_has_expired(checker->secret_birthdate, COOKIE_SECRET_MAX_AGE)) {
		platform_random(checker->secret, COOKIE_SECRET_LEN);
		checker->secret_birthdate = platform_now();
	}
	if (src->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)src;

		memcpy(am, &in4->sin_addr, sizeof(in4->sin_addr));
		memcpy(am + sizeof(in4->sin_addr), &in4->sin_port, sizeof(in_port_t));
		amlen = sizeof(in4->sin_addr) + sizeof(in_port_t);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)src;

		memcpy(am, &in6->sin6_addr, sizeof(in6->sin6_addr));
		memcpy(am + sizeof(in6->sin6_addr), &in6->sin6_port, sizeof(in_port_t));
		amlen = sizeof(in6->sin6_addr) + sizeof(in_port_t);
	}
	crypto_mac(cookie, checker->secret, COOKIE_SECRET_LEN, am, amlen);
}

static void ratelimit_key(const struct sockaddr *src, int *family, const void **addr)
{
	*family = src->sa_family;
	if (src->sa_family == AF_INET)
		*addr = &((const struct sockaddr_in *)src)->sin_addr;
	else
		*addr = &((const struct sockaddr_in6 *)src)->sin6_addr;
}

enum cookie_mac_state cookie_validate_packet(struct cookie_checker *checker,
					     const void *msg, size_t len,
					     const struct sockaddr *src,
					     bool check_cookie)
{
	const struct message_macs *macs = macs_of(msg, len);
	uint8_t computed[COOKIE_LEN], cookie[COOKIE_LEN];
	enum cookie_mac_state ret = INVALID_MAC;
	const void *addr;
	int family;

	if (len < sizeof(struct message_header) + sizeof(struct message_macs))
		return INVALID_MAC;

	crypto_mac(computed, checker->message_mac1_key, NOISE_SYMMETRIC_KEY_LEN, msg,
		   mac1_offset(len));
	if (!crypto_equal(computed, macs->mac1, COOKIE_LEN))
		goto out;

	ret = VALID_MAC_BUT_NO_COOKIE;
	if (!check_cookie)
		goto out;

	make_cookie(cookie, checker, src);
	crypto_mac(computed, cookie, COOKIE_LEN, msg, mac2_offset(len));
	if (!crypto_equal(computed, macs->mac2, COOKIE_LEN))
		goto out;

	ret = VALID_MAC_WITH_COOKIE_BUT_RATELIMITED;
	ratelimit_key(src, &family, &addr);
	if (checker->ratelimiter && !ratelimiter_allow(checker->ratelimiter, family, addr))
		goto out;

	ret = VALID_MAC_WITH_COOKIE;
out:
	crypto_wipe(cookie, sizeof(cookie));
	return ret;
}

void cookie_message_create(struct message_handshake_cookie *dst,
			   struct cookie_checker *checker, const void *msg,
			   size_t len, uint32_t index, const struct sockaddr *src)
{
	const struct message_macs *macs = macs_of(msg, len);
	uint8_t cookie[COOKIE_LEN];

	dst->header.type = htole32(MESSAGE_HANDSHAKE_COOKIE);
	dst->receiver_index = htole32(index);
	platform_random(dst->nonce, COOKIE_NONCE_LEN);

	make_cookie(cookie, checker, src);
	crypto_xaead_seal(dst->encrypted_cookie, cookie, COOKIE_LEN, macs->mac1,
			  COOKIE_LEN, dst->nonce, checker->cookie_encryption_key);
	crypto_wipe(cookie, sizeof(cookie));
}

void cookie_init(struct cookie *cookie,
		 const uint8_t peer_public_key[NOISE_PUBLIC_KEY_LEN])
{
	memset(cookie, 0, sizeof(*cookie));
	precompute_key(cookie->cookie_decryption_key, COOKIE_LABEL_COOKIE, peer_public_key);
	precompute_key(cookie->message_mac1_key, COOKIE_LABEL_MAC1, peer_public_key);
}

void cookie_add_mac_to_packet(void *msg, size_t len, struct cookie *cookie)
{
	struct message_macs *macs = (struct message_macs *)((uint8_t *)msg + mac1_offset(len));

	crypto_mac(macs->mac1, cookie->message_mac1_key, NOISE_SYMMETRIC_KEY_LEN, msg,
		   mac1_offset(len));
	memcpy(cookie->last_mac1_sent, macs->mac1, COOKIE_LEN);
	cookie->have_sent_mac1 = true;

	/* A cookie is good for COOKIE_SECRET_MAX_AGE at the replier; allow
	 * for the time it took to reach us. */
	if (cookie->is_valid &&
	    !birthdate_has_expired(cookie->birthdate,
				   COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY))
		crypto_mac(macs->mac2, cookie->cookie, COOKIE_LEN, msg, mac2_offset(len));
	else
		memset(macs->mac2, 0, COOKIE_LEN);
}

bool cookie_message_consume(const struct message_handshake_cookie *src,
			    struct cookie *cookie)
{
	uint8_t value[COOKIE_LEN];

	/* Only a reply to a message we sent can be opened: its mac1 is the
	 * associated data. */
	if (!cookie->have_sent_mac1)
		return false;
	if (!crypto_xaead_open(value, src->encrypted_cookie, sizeof(src->encrypted_cookie),
			       cookie->last_mac1_sent, COOKIE_LEN, src->nonce,
			       cookie->cookie_decryption_key))
		return false;
	memcpy(cookie->cookie, value, COOKIE_LEN);
	cookie->birthdate = platform_now();
	cookie->is_valid = true;
	cookie->have_sent_mac1 = false;
	crypto_wipe(value, sizeof(value));
	return true;
}
