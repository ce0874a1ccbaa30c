/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Transport data messages (whitepaper 5.4.6): sealing one plaintext packet
 * into a type-4 message and opening one. Safe to call from any crypto
 * worker: the send counter is taken atomically, and opening does not touch
 * the replay window (the caller checks it, serialised per keypair, after a
 * successful open).
 */
#ifndef XWG_TRANSPORT_H
#define XWG_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/handshake/noise.h"

/* Plaintext length after padding to MESSAGE_PADDING_MULTIPLE, never past
 * the MTU (a packet already longer than the MTU is not padded). */
size_t transport_padded_len(size_t len, unsigned int mtu);

/* Seal plain (len bytes) zero-padded to padded_len into out, which holds
 * message_data_len(padded_len) bytes. Returns that length, or 0 when the
 * keypair must not be used any more (REJECT_AFTER_MESSAGES or too old). */
size_t transport_seal(struct noise_keypair *kp, const uint8_t *plain, size_t len,
		      size_t padded_len, uint8_t *out);

/* Open a data message of len bytes (>= MESSAGE_MINIMUM_LENGTH) with kp,
 * writing len - 32 bytes of padded plaintext to plain. *counter gets the
 * message's counter for the replay check. False on a bad tag, a counter
 * past the limit or an expired keypair; nothing changes then. */
bool transport_open(struct noise_keypair *kp, const uint8_t *msg, size_t len,
		    uint8_t *plain, uint64_t *counter);

/* Receiver index of a data message (host order). */
uint32_t transport_receiver_index(const uint8_t *msg);

#endif
