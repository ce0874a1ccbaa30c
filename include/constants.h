/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every WireGuard protocol constant, once. Values are those of the
 * whitepaper ("WireGuard: Next Generation Kernel Network Tunnel", sections 5
 * and 6) and of ../shared/docs/protocol.md; derived values are expressions.
 */
#ifndef XWG_CONSTANTS_H
#define XWG_CONSTANTS_H

/* Sizes of keys, hashes and tags (bytes). */
#define NOISE_PUBLIC_KEY_LEN 32
#define NOISE_PRIVATE_KEY_LEN 32
#define NOISE_SYMMETRIC_KEY_LEN 32
#define NOISE_HASH_LEN 32
#define NOISE_TIMESTAMP_LEN 12
#define NOISE_AUTHTAG_LEN 16
#define COOKIE_NONCE_LEN 24
#define COOKIE_LEN 16
#define COOKIE_SECRET_LEN 32
#define BLAKE2S_BLOCK_LEN 64
#define BLAKE2S_HASH_LEN 32
#define BLAKE2S_KEY_LEN 32

/* Strings hashed into the handshake (ASCII, no terminating NUL). */
#define NOISE_CONSTRUCTION "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
#define NOISE_IDENTIFIER "WireGuard v1 zx2c4 Jason@zx2c4.com"
#define COOKIE_LABEL_MAC1 "mac1----"
#define COOKIE_LABEL_COOKIE "cookie--"

/* Message types (first byte; the next three are reserved zero). */
#define MESSAGE_HANDSHAKE_INITIATION 1
#define MESSAGE_HANDSHAKE_RESPONSE 2
#define MESSAGE_HANDSHAKE_COOKIE 3
#define MESSAGE_DATA 4

/* Limits on messages and keys (whitepaper 6.1). */
#define REKEY_AFTER_MESSAGES (1ULL << 60)
#define REJECT_AFTER_MESSAGES (~0ULL - (1ULL << 13))  /* 2^64 - 2^13 - 1 */

/* Timers, in seconds (whitepaper 6.1 - 6.5). */
#define REKEY_AFTER_TIME 120
#define REJECT_AFTER_TIME 180
#define REKEY_ATTEMPT_TIME 90
#define REKEY_TIMEOUT 5
#define REKEY_TIMEOUT_JITTER_MAX_MS 333
#define KEEPALIVE_TIMEOUT 10
#define COOKIE_SECRET_MAX_AGE 120
#define COOKIE_SECRET_LATENCY 5
/* Receiving on a keypair we initiated this old triggers a rekey. */
#define REKEY_AFTER_TIME_RECV (REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT)
/* All keys of a peer are wiped after this long without a new handshake. */
#define ZERO_KEYS_AFTER_TIME (REJECT_AFTER_TIME * 3)

/* Handshake flood limits. */
#define INITIATIONS_PER_SECOND 50
#define MAX_PEERS_PER_DEVICE (1U << 20)
#define MAX_QUEUED_INCOMING_HANDSHAKES 4096
#define UNDER_LOAD_THRESHOLD (MAX_QUEUED_INCOMING_HANDSHAKES / 8)
#define UNDER_LOAD_AFTER_TIME 1          /* seconds the load state lingers */
#define RATELIMITER_PACKETS_PER_SECOND 20
#define RATELIMITER_PACKETS_BURSTABLE 5

/* Packets. */
#define MESSAGE_PADDING_MULTIPLE 16
#define MAX_STAGED_PACKETS 128
#define MAX_QUEUED_PACKETS 1024
#define DEFAULT_MTU 1420                 /* 1500 - 40 IPv6 - 8 UDP - 32 WG */
#define MAX_MTU 65535

/* Replay window (RFC 6479): bits tracked behind the highest counter. */
#define COUNTER_BITS_TOTAL 8192

/* Time. */
#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_MSEC 1000000ULL

#endif
