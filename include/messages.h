/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The WireGuard wire format and nothing else (whitepaper section 5.4).
 * All integers are little-endian on the wire; the structs hold them as
 * they arrive, so readers convert with le32toh()/le64toh().
 */
#ifndef XWG_MESSAGES_H
#define XWG_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

#include "constants.h"

#define noise_encrypted_len(plain_len) ((plain_len) + NOISE_AUTHTAG_LEN)

/* type is one byte followed by three reserved zero bytes; read as a
 * little-endian u32 it equals the type only when the reserved bytes are 0. */
struct message_header {
	uint32_t type;
} __attribute__((packed));

struct message_macs {
	uint8_t mac1[COOKIE_LEN];
	uint8_t mac2[COOKIE_LEN];
} __attribute__((packed));

struct message_handshake_initiation {
	struct message_header header;
	uint32_t sender_index;
	uint8_t unencrypted_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t encrypted_static[noise_encrypted_len(NOISE_PUBLIC_KEY_LEN)];
	uint8_t encrypted_timestamp[noise_encrypted_len(NOISE_TIMESTAMP_LEN)];
	struct message_macs macs;
} __attribute__((packed));

struct message_handshake_response {
	struct message_header header;
	uint32_t sender_index;
	uint32_t receiver_index;
	uint8_t unencrypted_ephemeral[NOISE_PUBLIC_KEY_LEN];
	uint8_t encrypted_nothing[noise_encrypted_len(0)];
	struct message_macs macs;
} __attribute__((packed));

struct message_handshake_cookie {
	struct message_header header;
	uint32_t receiver_index;
	uint8_t nonce[COOKIE_NONCE_LEN];
	uint8_t encrypted_cookie[noise_encrypted_len(COOKIE_LEN)];
} __attribute__((packed));

struct message_data {
	struct message_header header;
	uint32_t key_idx;  /* the receiver's index */
	uint64_t counter;
	uint8_t encrypted_data[];
} __attribute__((packed));

#define message_data_len(plain_len) \
	(noise_encrypted_len(plain_len) + sizeof(struct message_data))

/* Smallest valid data message: a keepalive (empty payload). */
#define MESSAGE_MINIMUM_LENGTH message_data_len(0)

_Static_assert(sizeof(struct message_header) == 4, "header");
_Static_assert(sizeof(struct message_macs) == 32, "macs");
_Static_assert(sizeof(struct message_handshake_initiation) == 148, "initiation");
_Static_assert(sizeof(struct message_handshake_response) == 92, "response");
_Static_assert(sizeof(struct message_handshake_cookie) == 64, "cookie reply");
_Static_assert(sizeof(struct message_data) == 16, "data header");
_Static_assert(MESSAGE_MINIMUM_LENGTH == 32, "keepalive");
_Static_assert(offsetof(struct message_handshake_initiation, macs) == 116, "init mac1");
_Static_assert(offsetof(struct message_handshake_initiation, macs.mac2) == 132, "init mac2");
_Static_assert(offsetof(struct message_handshake_response, macs) == 60, "resp mac1");
_Static_assert(offsetof(struct message_handshake_response, macs.mac2) == 76, "resp mac2");
_Static_assert(offsetof(struct message_handshake_cookie, encrypted_cookie) == 32, "cookie");

#endif
