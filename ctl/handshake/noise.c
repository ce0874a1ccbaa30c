// SPDX-License-Identifier: GPL-2.0
/*
 * Noise IKpsk2 for WireGuard. Token order and key schedule: whitepaper
 * 5.4.2 (initiation), 5.4.3 (response), 5.4.5 (transport keys); Noise
 * specification rev. 34, sections 5.2 (SymmetricState) and 9 (psk mode).
 */
#include "noise.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

/* The core writes and reads each message's Noise payload as one run of
 * bytes; these asserts keep the WireGuard structs' fields in that order. */
_Static_assert(offsetof(struct message_handshake_initiation, encrypted_static) ==
	       offsetof(struct message_handshake_initiation, unencrypted_ephemeral) + NOISE_PUBLIC_KEY_LEN,
	       "initiation fields must be contiguous");
_Static_assert(offsetof(struct message_handshake_initiation, encrypted_timestamp) ==
	       offsetof(struct message_handshake_initiation, encrypted_static) +
	       noise_encrypted_len(NOISE_PUBLIC_KEY_LEN), "initiation fields must be contiguous");
_Static_assert(offsetof(struct message_handshake_response, encrypted_nothing) ==
	       offsetof(struct message_handshake_response, unencrypted_ephemeral) + NOISE_PUBLIC_KEY_LEN,
	       "response fields must be contiguous");

#define INITIATION_NOISE_LEN(payload) \
	(NOISE_PUBLIC_KEY_LEN + noise_encrypted_len(NOISE_PUBLIC_KEY_LEN) + noise_encrypted_len(payload))
#define RESPONSE_NOISE_LEN(payload) (NOISE_PUBLIC_KEY_LEN + noise_encrypted_len(payload))

/* MixHash: h = HASH(h || data). */
static void mix_hash(uint8_t hash[NOISE_HASH_LEN], const void *data, size_t len)
{
	crypto_hash_concat(hash, hash, NOISE_HASH_LEN, data, len);
}

/* MixKey: (ck, key) = KDF2(ck, input); key may be NULL (KDF1). */
static void mix_key(uint8_t chaining_key[NOISE_HASH_LEN],
		    uint8_t key[NOISE_SYMMETRIC_KEY_LEN], const void *input, size_t len)
{
	crypto_kdf(chaining_key, key, NULL, chaining_key, input, len);
}

/* MixKey(DH(private, public)); false for a low-order public key. */
static bool mix_dh(uint8_t chaining_key[NOISE_HASH_LEN],
		   uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
		   const uint8_t private_key[NOISE_PRIVATE_KEY_LEN],
		   const uint8_t public_key[NOISE_PUBLIC_KEY_LEN])
{
	uint8_t dh[NOISE_PUBLIC_KEY_LEN];
	bool ok = crypto_dh(dh, private_key, public_key);

	if (ok)
		mix_key(chaining_key, key, dh, sizeof(dh));
	crypto_wipe(dh, sizeof(dh));
	return ok;
}

/* MixKey with a DH output computed earlier (the static-static one). */
static bool mix_precomputed_dh(uint8_t chaining_key[NOISE_HASH_LEN],
			       uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
			       const uint8_t dh[NOISE_PUBLIC_KEY_LEN])
{
	if (crypto_is_zero(dh, NOISE_PUBLIC_KEY_LEN))
		return false;
	mix_key(chaining_key, key, dh, NOISE_PUBLIC_KEY_LEN);
	return true;
}

/* MixKeyAndHash(psk): (ck, t, k) = KDF3(ck, psk); h = HASH(h || t). */
static void mix_psk(uint8_t chaining_key[NOISE_HASH_LEN], uint8_t hash[NOISE_HASH_LEN],
		    uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
		    const uint8_t psk[NOISE_SYMMETRIC_KEY_LEN])
{
	uint8_t temp_hash[NOISE_HASH_LEN];

	crypto_kdf(chaining_key, temp_hash, key, chaining_key, psk,
		   NOISE_SYMMETRIC_KEY_LEN);
	mix_hash(hash, temp_hash, NOISE_HASH_LEN);
	crypto_wipe(temp_hash, sizeof(temp_hash));
}

/* EncryptAndHash with a fresh key: nonce 0, h as associated data. */
static void encrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
			     const uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
			     uint8_t hash[NOISE_HASH_LEN])
{
	crypto_aead_seal(dst, src, len, hash, NOISE_HASH_LEN, 0, key);
	mix_hash(hash, dst, noise_encrypted_len(len));
}

/* DecryptAndHash; src is len + 16 bytes, dst gets len. */
static bool decrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
			     const uint8_t key[NOISE_SYMMETRIC_KEY_LEN],
			     uint8_t hash[NOISE_HASH_LEN])
{
	if (!crypto_aead_open(dst, src, noise_encrypted_len(len), hash,
			      NOISE_HASH_LEN, 0, key))
		return false;
	mix_hash(hash, src, noise_encrypted_len(len));
	return true;
}

/* Initialize(): ck = HASH(protocol name), h = HASH(ck || prologue); the IK
 * pre-message pattern then mixes in the responder's static key. */
static void handshake_start(uint8_t chaining_key[NOISE_HASH_LEN],
			    uint8_t hash[NOISE_HASH_LEN], const void *prologue,
			    size_t prologue_len,
			    const uint8_t responder_static[NOISE_PUBLIC_KEY_LEN])
{
	crypto_hash_concat(chaining_key, NOISE_CONSTRUCTION, strlen(NOISE_CONSTRUCTION), NULL, 0);
	crypto_hash_concat(hash, chaining_key, NOISE_HASH_LEN, prologue, prologue_len);
	mix_hash(hash, responder_static, NOISE_PUBLIC_KEY_LEN);
}

/* The "e" token in psk mode: MixHash(e) and MixKey(e). */
static void mix_ephemeral(uint8_t chaining_key[NOISE_HASH_LEN],
			  uint8_t hash[NOISE_HASH_LEN],
			  const uint8_t ephemeral[NOISE_PUBLIC_KEY_LEN])
{
	mix_key(chaining_key, NULL, ephemeral, NOISE_PUBLIC_KEY_LEN);
	mix_hash(hash, ephemeral, NOISE_PUBLIC_KEY_LEN);
}

bool noise_write_initiation(struct noise_handshake *hs, const void *prologue,
			    size_t prologue_len,
			    const uint8_t ephemeral_private[NOISE_PRIVATE_KEY_LEN],
			    const uint8_t *payload, size_t len, uint8_t *out)
{
	const struct noise_static_identity *id = hs->static_identity;
	uint8_t ck[NOISE_HASH_LEN], h[NOISE_HASH_LEN], key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t *out_ephemeral = out;
	uint8_t *out_static = out + NOISE_PUBLIC_KEY_LEN;
	uint8_t *out_payload = out_static + noise_encrypted_len(NOISE_PUBLIC_KEY_LEN);
	bool ok = false;

	handshake_start(ck, h, prologue, prologue_len, hs->remote_static);

	/* e */
	if (!crypto_public_key(out_ephemeral, ephemeral_private))
		goto out;
	mix_ephemeral(ck, h, out_ephemeral);

	/* es */
	if (!mix_dh(ck, key, ephemeral_private, hs->remote_static))
		goto out;

	/* s */
	encrypt_and_hash(out_static, id->static_public, NOISE_PUBLIC_KEY_LEN, key, h);

	/* ss */
	if (!mix_precomputed_dh(ck, key, hs->precomputed_static_static))
		goto out;

	/* payload (WireGuard: the TAI64N timestamp) */
	encrypt_and_hash(out_payload, payload, len, key, h);

	memcpy(hs->ephemeral_private, ephemeral_private, NOISE_PRIVATE_KEY_LEN);
	memcpy(hs->chaining_key, ck, NOISE_HASH_LEN);
	memcpy(hs->hash, h, NOISE_HASH_LEN);
	ok = true;
out:
	crypto_wipe(ck, sizeof(ck));
	crypto_wipe(h, sizeof(h));
	crypto_wipe(key, sizeof(key));
	return ok;
}

bool noise_read_initiation(const struct noise_static_identity *id,
			   const void *prologue, size_t prologue_len,
			   const uint8_t *in, size_t inlen, uint8_t *payload_out,
			   const struct noise_ops *ops, struct noise_initiation_read *r)
{
	const uint8_t *in_ephemeral = in;
	const uint8_t *in_static = in + NOISE_PUBLIC_KEY_LEN;
	const uint8_t *in_payload = in_static + noise_encrypted_len(NOISE_PUBLIC_KEY_LEN);
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN];
	size_t payload_len;
	bool ok = false;

	if (!id->has_identity || inlen < INITIATION_NOISE_LEN(0))
		return false;
	payload_len = inlen - INITIATION_NOISE_LEN(0);

	handshake_start(r->chaining_key, r->hash, prologue, prologue_len,
			id->static_public);

	/* e */
	memcpy(r->remote_ephemeral, in_ephemeral, NOISE_PUBLIC_KEY_LEN);
	mix_ephemeral(r->chaining_key, r->hash, r->remote_ephemeral);

	/* es */
	if (!mix_dh(r->chaining_key, key, id->static_private, r->remote_ephemeral))
		goto out;

	/* s */
	if (!decrypt_and_hash(r->remote_static, in_static, NOISE_PUBLIC_KEY_LEN,
			      key, r->hash))
		goto out;

	/* ss */
	r->handshake = NULL;
	if (ops) {
		r->handshake = ops->lookup_by_static(ops->ctx, r->remote_static);
		if (!r->handshake ||
		    !mix_precomputed_dh(r->chaining_key, key,
					r->handshake->precomputed_static_static))
			goto out;
	} else if (!mix_dh(r->chaining_key, key, id->static_private, r->remote_static)) {
		goto out;
	}

	/* payload */
	if (!decrypt_and_hash(payload_out, in_payload, payload_len, key, r->hash))
		goto out;
	ok = true;
out:
	crypto_wipe(key, sizeof(key));
	return ok;
}

bool noise_write_response(struct noise_handshake *hs,
			  const uint8_t ephemeral_private[NOISE_PRIVATE_KEY_LEN],
			  const uint8_t *payload, size_t len, uint8_t *out)
{
	uint8_t ck[NOISE_HASH_LEN], h[NOISE_HASH_LEN], key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t *out_ephemeral = out;
	uint8_t *out_payload = out + NOISE_PUBLIC_KEY_LEN;
	bool ok = false;

	memcpy(ck, hs->chaining_key, NOISE_HASH_LEN);
	memcpy(h, hs->hash, NOISE_HASH_LEN);

	/* e */
	if (!crypto_public_key(out_ephemeral, ephemeral_private))
		goto out;
	mix_ephemeral(ck, h, out_ephemeral);

	/* ee */
	if (!mix_dh(ck, NULL, ephemeral_private, hs->remote_ephemeral))
		goto out;

	/* se */
	if (!mix_dh(ck, NULL, ephemeral_private, hs->remote_static))
		goto out;

	/* psk */
	mix_psk(ck, h, key, hs->preshared_key);

	/* payload (WireGuard: empty) */
	encrypt_and_hash(out_payload, payload, len, key, h);

	memcpy(hs->chaining_key, ck, NOISE_HASH_LEN);
	memcpy(hs->hash, h, NOISE_HASH_LEN);
	ok = true;
out:
	crypto_wipe(ck, sizeof(ck));
	crypto_wipe(h, sizeof(h));
	crypto_wipe(key, sizeof(key));
	return ok;
}

bool noise_read_response(const struct noise_handshake *hs, const uint8_t *in,
			 size_t inlen, uint8_t *payload_out,
			 struct noise_response_read *r)
{
	const struct noise_static_identity *id = hs->static_identity;
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN];
	size_t payload_len;
	bool ok = false;

	if (!id->has_identity || inlen < RESPONSE_NOISE_LEN(0))
		return false;
	payload_len = inlen - RESPONSE_NOISE_LEN(0);

	memcpy(r->chaining_key, hs->chaining_key, NOISE_HASH_LEN);
	memcpy(r->hash, hs->hash, NOISE_HASH_LEN);

	/* e */
	memcpy(r->remote_ephemeral, in, NOISE_PUBLIC_KEY_LEN);
	mix_ephemeral(r->chaining_key, r->hash, r->remote_ephemeral);

	/* ee */
	if (!mix_dh(r->chaining_key, NULL, hs->ephemeral_private, r->remote_ephemeral))
		goto out;

	/* se */
	if (!mix_dh(r->chaining_key, NULL, id->static_private, r->remote_ephemeral))
		goto out;

	/* psk */
	mix_psk(r->chaining_key, r->hash, key, hs->preshared_key);

	/* payload */
	if (!decrypt_and_hash(payload_out, in + NOISE_PUBLIC_KEY_LEN, payload_len,
			      key, r->hash))
		goto out;
	ok = true;
out:
	crypto_wipe(key, sizeof(key));
	return ok;
}

void noise_split(const uint8_t chaining_key[NOISE_HASH_LEN],
		 uint8_t first[NOISE_SYMMETRIC_KEY_LEN],
		 uint8_t second[NOISE_SYMMETRIC_KEY_LEN])
{
	crypto_kdf(first, second, NULL, chaining_key, NULL, 0);
}

/* ---- WireGuard framing ---- */

static void generate_ephemeral(uint8_t private_key[NOISE_PRIVATE_KEY_LEN])
{
	/* Through the platform seam so tests can make handshakes repeatable. */
	platform_random(private_key, NOISE_PRIVATE_KEY_LEN);
	crypto_clamp(private_key);
}

void noise_static_identity_set(struct noise_static_identity *id,
			       const uint8_t private_key[NOISE_PRIVATE_KEY_LEN])
{
	/* All zeros means "no key" (wg set private-key /dev/null); it must
	 * be judged before clamping, which would make it a valid key. */
	memcpy(id->static_private, private_key, NOISE_PRIVATE_KEY_LEN);
	crypto_clamp(id->static_private);
	id->has_identity = !crypto_is_zero(private_key, NOISE_PRIVATE_KEY_LEN) &&
			   crypto_public_key(id->static_public, id->static_private);
	if (!id->has_identity) {
		crypto_wipe(id->static_private, NOISE_PRIVATE_KEY_LEN);
		memset(id->static_public, 0, NOISE_PUBLIC_KEY_LEN);
	}
}

bool noise_handshake_precompute(struct noise_handshake *hs)
{
	const struct noise_static_identity *id = hs->static_identity;

	if (!id->has_identity ||
	    !crypto_dh(hs->precomputed_static_static, id->static_private,
		       hs->remote_static)) {
		memset(hs->precomputed_static_static, 0, NOISE_PUBLIC_KEY_LEN);
		return false;
	}
	return true;
}

bool noise_handshake_init(struct noise_handshake *hs,
			  const struct noise_static_identity *id,
			  const uint8_t peer_public_key[NOISE_PUBLIC_KEY_LEN],
			  const uint8_t preshared_key[NOISE_SYMMETRIC_KEY_LEN],
			  void *peer)
{
	memset(hs, 0, sizeof(*hs));
	hs->static_identity = id;
	hs->peer = peer;
	memcpy(hs->remote_static, peer_public_key, NOISE_PUBLIC_KEY_LEN);
	if (preshared_key)
		memcpy(hs->preshared_key, preshared_key, NOISE_SYMMETRIC_KEY_LEN);
	hs->state = HANDSHAKE_ZEROED;
	return noise_handshake_precompute(hs);
}

void noise_handshake_clear(struct noise_handshake *hs, const struct noise_ops *ops)
{
	if (hs->local_index)
		ops->index_remove(ops->ctx, hs->local_index);
	hs->local_index = 0;
	hs->remote_index = 0;
	crypto_wipe(hs->ephemeral_private, NOISE_PRIVATE_KEY_LEN);
	crypto_wipe(hs->remote_ephemeral, NOISE_PUBLIC_KEY_LEN);
	crypto_wipe(hs->hash, NOISE_HASH_LEN);
	crypto_wipe(hs->chaining_key, NOISE_HASH_LEN);
	hs->state = HANDSHAKE_ZEROED;
}

bool noise_handshake_create_initiation(struct message_handshake_initiation *dst,
				       struct noise_handshake *hs,
				       const struct noise_ops *ops)
{
	uint8_t timestamp[NOISE_TIMESTAMP_LEN], ephemeral[NOISE_PRIVATE_KEY_LEN];
	uint64_t sec;
	uint32_t nsec;
	bool ok;

	if (!hs->static_identity->has_identity)
		return false;
	memset(dst, 0, sizeof(*dst));
	dst->header.type = htole32(MESSAGE_HANDSHAKE_INITIATION);

	platform_wall_clock(&sec, &nsec);
	crypto_tai64n(timestamp, sec, nsec);
	generate_ephemeral(ephemeral);
	ok = noise_write_initiation(hs, NOISE_IDENTIFIER, strlen(NOISE_IDENTIFIER),
				    ephemeral, timestamp, sizeof(timestamp),
				    (uint8_t *)dst + offsetof(struct message_handshake_initiation,
							      unencrypted_ephemeral));
	crypto_wipe(ephemeral, sizeof(ephemeral));
	if (!ok)
		return false;
	hs->local_index = ops->index_new(ops->ctx, hs);
	dst->sender_index = htole32(hs->local_index);
	hs->state = HANDSHAKE_CREATED_INITIATION;
	return true;
}

struct noise_handshake *
noise_handshake_consume_initiation(const struct message_handshake_initiation *src,
				   const struct noise_static_identity *id,
				   const struct noise_ops *ops)
{
	struct noise_initiation_read r;
	struct noise_handshake *hs = NULL;
	uint8_t timestamp[NOISE_TIMESTAMP_LEN];
	xwg_time_t now;
	bool replay, flood;

	if (!noise_read_initiation(id, NOISE_IDENTIFIER, strlen(NOISE_IDENTIFIER),
				   (const uint8_t *)src + offsetof(struct message_handshake_initiation,
								   unencrypted_ephemeral),
				   INITIATION_NOISE_LEN(NOISE_TIMESTAMP_LEN), timestamp, ops, &r))
		goto out;
	hs = r.handshake;

	/* Whitepaper 5.1: a timestamp not newer than the last one accepted
	 * is a replay; more than INITIATIONS_PER_SECOND is a flood. */
	now = platform_now();
	replay = memcmp(timestamp, hs->latest_timestamp, NOISE_TIMESTAMP_LEN) <= 0;
	flood = hs->last_initiation_consumption &&
		hs->last_initiation_consumption + NSEC_PER_SEC / INITIATIONS_PER_SECOND > now;
	if (replay || flood) {
		hs = NULL;
		goto out;
	}

	/* Authenticated and fresh: only now does state change. */
	memcpy(hs->remote_ephemeral, r.remote_ephemeral, NOISE_PUBLIC_KEY_LEN);
	memcpy(hs->latest_timestamp, timestamp, NOISE_TIMESTAMP_LEN);
	memcpy(hs->hash, r.hash, NOISE_HASH_LEN);
	memcpy(hs->chaining_key, r.chaining_key, NOISE_HASH_LEN);
	hs->remote_index = le32toh(src->sender_index);
	hs->last_initiation_consumption = now;
	hs->state = HANDSHAKE_CONSUMED_INITIATION;
out:
	crypto_wipe(&r, sizeof(r));
	crypto_wipe(timestamp, sizeof(timestamp));
	return hs;
}

bool noise_handshake_create_response(struct message_handshake_response *dst,
				     struct noise_handshake *hs,
				     const struct noise_ops *ops)
{
	uint8_t ephemeral[NOISE_PRIVATE_KEY_LEN];
	bool ok;

	if (hs->state != HANDSHAKE_CONSUMED_INITIATION)
		return false;
	memset(dst, 0, sizeof(*dst));
	dst->header.type = htole32(MESSAGE_HANDSHAKE_RESPONSE);
	dst->receiver_index = htole32(hs->remote_index);

	generate_ephemeral(ephemeral);
	ok = noise_write_response(hs, ephemeral, NULL, 0,
				  (uint8_t *)dst + offsetof(struct message_handshake_response,
							    unencrypted_ephemeral));
	crypto_wipe(ephemeral, sizeof(ephemeral));
	if (!ok)
		return false;
	hs->local_index = ops->index_new(ops->ctx, hs);
	dst->sender_index = htole32(hs->local_index);
	hs->state = HANDSHAKE_CREATED_RESPONSE;
	return true;
}

struct noise_handshake *
noise_handshake_consume_response(const struct message_handshake_response *src,
				 const struct noise_static_identity *id,
				 const struct noise_ops *ops)
{
	struct noise_response_read r;
	struct noise_handshake *hs;

	if (!id->has_identity)
		return NULL;
	hs = ops->lookup_by_index(ops->ctx, le32toh(src->receiver_index));
	if (!hs || hs->state != HANDSHAKE_CREATED_INITIATION)
		return NULL;

	if (!noise_read_response(hs, (const uint8_t *)src +
				 offsetof(struct message_handshake_response, unencrypted_ephemeral),
				 RESPONSE_NOISE_LEN(0), NULL, &r)) {
		hs = NULL;
		goto out;
	}

	memcpy(hs->remote_ephemeral, r.remote_ephemeral, NOISE_PUBLIC_KEY_LEN);
	memcpy(hs->chaining_key, r.chaining_key, NOISE_HASH_LEN);
	memcpy(hs->hash, r.hash, NOISE_HASH_LEN);
	hs->remote_index = le32toh(src->sender_index);
	hs->state = HANDSHAKE_CONSUMED_RESPONSE;
out:
	crypto_wipe(&r, sizeof(r));
	return hs;
}

struct noise_keypair *noise_keypair_get(struct noise_keypair *kp)
{
	if (kp)
		atomic_fetch_add_explicit(&kp->refcount, 1, memory_order_relaxed);
	return kp;
}

void noise_keypair_put(struct noise_keypair *kp)
{
	if (!kp || atomic_fetch_sub_explicit(&kp->refcount, 1, memory_order_acq_rel) != 1)
		return;
	crypto_wipe(kp, sizeof(*kp));
	free(kp);
}

/* Take a keypair out of service: its index stops resolving at once, its
 * memory goes when the last worker holding it lets go. */
static void keypair_drop(struct noise_keypair *kp, const struct noise_ops *ops)
{
	if (!kp)
		return;
	ops->index_remove(ops->ctx, kp->local_index);
	noise_keypair_put(kp);
}

/* Whitepaper 5.4.5 and 6.1: the initiator may use a new keypair at once;
 * the responder must wait for the initiator's first data packet. */
static void keypairs_add(struct noise_keypairs *kps, struct noise_keypair *kp,
			 const struct noise_ops *ops)
{
	struct noise_keypair *previous = kps->previous, *current = kps->current,
			     *next = kps->next;

	if (kp->i_am_the_initiator) {
		if (next) {
			/* An unconfirmed responder session stays receivable
			 * as `previous`; the old current goes. */
			kps->next = NULL;
			kps->previous = next;
			keypair_drop(current, ops);
		} else {
			kps->previous = current;
		}
		keypair_drop(previous, ops);
		kps->current = kp;
	} else {
		kps->next = kp;
		keypair_drop(next, ops);
		kps->previous = NULL;
		keypair_drop(previous, ops);
	}
}

struct noise_keypair *noise_handshake_begin_session(struct noise_handshake *hs,
						    struct noise_keypairs *keypairs,
						    const struct noise_ops *ops)
{
	struct noise_keypair *kp;

	if (hs->state != HANDSHAKE_CONSUMED_RESPONSE &&
	    hs->state != HANDSHAKE_CREATED_RESPONSE)
		return NULL;
	kp = calloc(1, sizeof(*kp));
	if (!kp)
		return NULL;
	atomic_init(&kp->refcount, 1);
	atomic_init(&kp->sending_counter, 0);
	kp->i_am_the_initiator = hs->state == HANDSHAKE_CONSUMED_RESPONSE;
	if (kp->i_am_the_initiator)
		noise_split(hs->chaining_key, kp->sending_key, kp->receiving_key);
	else
		noise_split(hs->chaining_key, kp->receiving_key, kp->sending_key);
	replay_counter_init(&kp->receiving_counter);
	kp->birthdate = platform_now();
	kp->remote_index = hs->remote_index;
	kp->peer = hs->peer;

	/* The index the peer knows this handshake by now names the session. */
	kp->local_index = hs->local_index;
	ops->index_to_keypair(ops->ctx, hs, kp);
	hs->local_index = 0;
	noise_handshake_clear(hs, ops);

	keypairs_add(keypairs, kp, ops);
	return kp;
}

bool noise_keypairs_received_with(struct noise_keypairs *kps,
				  struct noise_keypair *kp,
				  const struct noise_ops *ops)
{
	if (!kp || kps->next != kp)
		return false;
	/* Key confirmation: the initiator used our next keypair. */
	keypair_drop(kps->previous, ops);
	kps->previous = kps->current;
	kps->current = kp;
	kps->next = NULL;
	return true;
}

void noise_keypairs_clear(struct noise_keypairs *kps, const struct noise_ops *ops)
{
	keypair_drop(kps->previous, ops);
	keypair_drop(kps->current, ops);
	keypair_drop(kps->next, ops);
	kps->previous = kps->current = kps->next = NULL;
}
