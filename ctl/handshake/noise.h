/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard uses it (whitepaper
 * 5.4.2 - 5.4.6), in two layers:
 *
 * - the Noise core, noise_{write,read}_{initiation,response}, which runs the
 *   tokens of IKpsk2 with the prologue and payloads as parameters and the
 *   ephemeral private key given by the caller. The published Noise vector
 *   (tests/test_noise.c) drives exactly these functions;
 * - the WireGuard messages, noise_handshake_{create,consume}_*, which frame
 *   the core in struct message_handshake_* with the WireGuard identifier as
 *   prologue, a TAI64N timestamp as the first payload and an empty second.
 *
 * The module owns no tables: the daemon (or a test) finds peers and local
 * indices through struct noise_ops. It takes no locks either: the caller
 * serialises access to one peer's handshake and keypairs. mac1/mac2 are
 * cookie.c's business, done after create and before consume.
 */
#ifndef XWG_NOISE_H
#define XWG_NOISE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "constants.h"
#include "base/platform.h"
#include "datapath/replay.h"
#include "messages.h"

struct noise_static_identity {
	uint8_t static_public[NOISE_PUBLIC_KEY_LEN];
	uint8_t static_private[NOISE_PRIVATE_KEY_LEN];
	bool has_identity;
};

enum noise_handshake_state {
	HANDSHAKE_ZEROED,
	HANDSHAKE_CREATED_INITIATION,
	HANDSHAKE_CONSUMED_INITIATION,
	HANDSHAKE_CREATED_RESPONSE,
	HANDSHAKE_CONSUMED_RESPONSE,
};

/* One peer's handshake in progress, and what it remembers between them. */
struct noise_handshake {
	enum noise_handshake_state state;
	uint32_t local_index;   /* ours, sent as sender_index; 0 = none held */
	uint32_t remote_index;  /* theirs */
	const struct noise_static_identity *static_identity;
	uint8_t remote_static[NOISE_PUBLIC_KEY_LEN];
	/* DH(our static, their static); all zero when that DH is invalid,
	 * in which case no handshake with this peer can succeed. */
	uint8_t precomputed_static_static[NOISE_PUBLIC_KEY_LEN];
	uint8_t preshared_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t ephemeral_private[NOISE_PRIVATE_KEY_LEN];
	uint8_t remote_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t hash[NOISE_HASH_LEN];
	uint8_t chaining_key[NOISE_HASH_LEN];
	/* Replay and flood protection for initiations we consume. */
	uint8_t latest_timestamp[NOISE_TIMESTAMP_LEN];
	xwg_time_t last_initiation_consumption;
	void *peer;  /* opaque owner, handed back by the ops */
};

/* Transport keys of one session (whitepaper 5.4.5). */
struct noise_keypair {
	uint8_t sending_key[NOISE_SYMMETRIC_KEY_LEN];
	uint8_t receiving_key[NOISE_SYMMETRIC_KEY_LEN];
	_Atomic uint64_t sending_counter;    /* next nonce to use */
	struct replay_counter receiving_counter;  /* caller serialises */
	xwg_time_t birthdate;
	uint32_t local_index;                /* receiver index of incoming data */
	uint32_t remote_index;               /* receiver index we put on outgoing */
	bool i_am_the_initiator;
	atomic_int refcount;
	void *peer;
};

/* A peer's sessions: the one in use, the one before it (still accepted for
 * receiving), and a responder's next one awaiting key confirmation. */
struct noise_keypairs {
	struct noise_keypair *previous, *current, *next;
};

struct noise_ops {
	/* The handshake of the peer with this static public key, or NULL. */
	struct noise_handshake *(*lookup_by_static)(void *ctx, const uint8_t public_key[NOISE_PUBLIC_KEY_LEN]);
	/* The handshake that holds local index `index` (we sent an initiation
	 * with it as sender), or NULL. */
	struct noise_handshake *(*lookup_by_index)(void *ctx, uint32_t index);
	/* Bind a fresh random local index, unique among all live indices, to
	 * hs (dropping hs's previous one) and return it. */
	uint32_t (*index_new)(void *ctx, struct noise_handshake *hs);
	/* Hand hs's local index over to kp: from now on it names kp. */
	void (*index_to_keypair)(void *ctx, struct noise_handshake *hs, struct noise_keypair *kp);
	/* Forget an index (of a handshake or a keypair). */
	void (*index_remove)(void *ctx, uint32_t index);
	void *ctx;
};

/* ---- Noise core (prologue, payloads and ephemerals as parameters) ---- */

/* -> e, es, s, ss, payload. hs needs static_identity, remote_static,
 * precomputed_static_static; on success hs holds ck, h and the ephemeral,
 * and out = e || AEAD(s) || AEAD(payload) (80 + len + 16 bytes). */
bool noise_write_initiation(struct noise_handshake *hs, const void *prologue,
			    size_t prologue_len,
			    const uint8_t ephemeral_private[NOISE_PRIVATE_KEY_LEN],
			    const uint8_t *payload, size_t len, uint8_t *out);

/* What a responder learns from an initiation, before deciding to keep it. */
struct noise_initiation_read {
	uint8_t chaining_key[NOISE_HASH_LEN];
	uint8_t hash[NOISE_HASH_LEN];
	uint8_t remote_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t remote_static[NOISE_PUBLIC_KEY_LEN];
	/* With ops: the handshake of the peer whose static key it carried. */
	struct noise_handshake *handshake;
};
/* Reads in = e || AEAD(s) || AEAD(payload) (inlen >= 96). Decrypts the
 * payload (inlen - 96 bytes) into payload_out. Changes nothing but *r and
 * payload_out; the caller wipes *r. With ops, the initiator's static key
 * is looked up as soon as it is decrypted: an unknown key ends the read
 * there, and "ss" mixes that peer's precomputed_static_static instead of
 * a fresh DH (one X25519 of the responder's five saved, as the kernel
 * does). Without ops (the published Noise vector), "ss" is computed. */
bool noise_read_initiation(const struct noise_static_identity *id,
			   const void *prologue, size_t prologue_len,
			   const uint8_t *in, size_t inlen, uint8_t *payload_out,
			   const struct noise_ops *ops, struct noise_initiation_read *r);

/* <- e, ee, se, psk, payload. hs holds the consumed initiation (ck, h,
 * remote ephemeral and static, psk). out = e || AEAD(payload). */
bool noise_write_response(struct noise_handshake *hs,
			  const uint8_t ephemeral_private[NOISE_PRIVATE_KEY_LEN],
			  const uint8_t *payload, size_t len, uint8_t *out);

struct noise_response_read {
	uint8_t chaining_key[NOISE_HASH_LEN];
	uint8_t hash[NOISE_HASH_LEN];
	uint8_t remote_ephemeral[NOISE_PUBLIC_KEY_LEN];
};
/* Reads in = e || AEAD(payload) against the initiation hs sent. Changes
 * nothing but *r and payload_out. */
bool noise_read_response(const struct noise_handshake *hs, const uint8_t *in,
			 size_t inlen, uint8_t *payload_out,
			 struct noise_response_read *r);

/* Split(): (initiator send, initiator receive) = KDF2(ck, ""). */
void noise_split(const uint8_t chaining_key[NOISE_HASH_LEN],
		 uint8_t first[NOISE_SYMMETRIC_KEY_LEN],
		 uint8_t second[NOISE_SYMMETRIC_KEY_LEN]);

/* ---- WireGuard ---- */

/* Set up a peer's handshake state; false when DH(our static, theirs) is
 * invalid (low-order key), which leaves the peer unable to handshake. */
bool noise_handshake_init(struct noise_handshake *hs,
			  const struct noise_static_identity *id,
			  const uint8_t peer_public_key[NOISE_PUBLIC_KEY_LEN],
			  const uint8_t preshared_key[NOISE_SYMMETRIC_KEY_LEN],
			  void *peer);
/* Recompute precomputed_static_static after our static key changed. */
bool noise_handshake_precompute(struct noise_handshake *hs);
/* Forget the handshake in progress (index dropped, secrets wiped); keeps
 * the identity, keys and replay/flood memory. */
void noise_handshake_clear(struct noise_handshake *hs, const struct noise_ops *ops);

void noise_static_identity_set(struct noise_static_identity *id,
			       const uint8_t private_key[NOISE_PRIVATE_KEY_LEN]);

bool noise_handshake_create_initiation(struct message_handshake_initiation *dst,
				       struct noise_handshake *hs,
				       const struct noise_ops *ops);
/* Returns the handshake of the initiating peer, now CONSUMED_INITIATION,
 * or NULL (no state changed) for a bad, unknown, replayed or flooding one. */
struct noise_handshake *
noise_handshake_consume_initiation(const struct message_handshake_initiation *src,
				   const struct noise_static_identity *id,
				   const struct noise_ops *ops);
bool noise_handshake_create_response(struct message_handshake_response *dst,
				     struct noise_handshake *hs,
				     const struct noise_ops *ops);
struct noise_handshake *
noise_handshake_consume_response(const struct message_handshake_response *src,
				 const struct noise_static_identity *id,
				 const struct noise_ops *ops);

/* Derive the keypair of a completed handshake and rotate it into keypairs
 * (initiator: becomes current; responder: becomes next until the first
 * data packet confirms it). The handshake is cleared. Returns the new
 * keypair (owned by keypairs) or NULL if the handshake was not complete. */
struct noise_keypair *noise_handshake_begin_session(struct noise_handshake *hs,
						    struct noise_keypairs *keypairs,
						    const struct noise_ops *ops);
/* A data packet authenticated on kp: if kp was the `next` keypair, it is
 * now current (key confirmation). True when that rotation happened. */
bool noise_keypairs_received_with(struct noise_keypairs *keypairs,
				  struct noise_keypair *kp,
				  const struct noise_ops *ops);
/* Drop all of a peer's keypairs. */
void noise_keypairs_clear(struct noise_keypairs *keypairs, const struct noise_ops *ops);

/* Reference counting so a worker can keep using a keypair the control
 * thread just rotated out. The last put wipes and frees it. */
struct noise_keypair *noise_keypair_get(struct noise_keypair *kp);
void noise_keypair_put(struct noise_keypair *kp);

#endif
