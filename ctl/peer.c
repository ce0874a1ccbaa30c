// SPDX-License-Identifier: GPL-2.0
#include "peer.h"

#include <stdlib.h>
#include <string.h>

#include "ctl/device.h"
#include "ctl/notify.h"

struct noise_keypair *peer_sending_keypair(struct wg_peer *peer)
{
	struct noise_keypair *kp = peer->keypairs.current;

	/* Whitepaper 6.1: never past REJECT_AFTER_TIME or _MESSAGES. */
	if (!kp || birthdate_has_expired(kp->birthdate, REJECT_AFTER_TIME) ||
	    atomic_load_explicit(&kp->sending_counter, memory_order_relaxed) >=
		    REJECT_AFTER_MESSAGES)
		return NULL;
	return kp;
}

void peer_stage_packet(struct wg_peer *peer, const uint8_t *pkt, size_t len)
{
	struct staged_packet *slot;
	uint8_t *copy = malloc(DATAPATH_HEADROOM + len + 32);

	if (!copy) {
		device_count_drop(peer->device, DROP_TX_STAGED_OVERFLOW);
		return;
	}
	if (len)
		memcpy(copy + DATAPATH_HEADROOM, pkt, len);
	if (peer->staged_count == MAX_STAGED_PACKETS) {
		/* Full: the oldest packet makes room, as the kernel does. */
		slot = &peer->staged[peer->staged_head];
		free(slot->buf);
		peer->staged_head = (peer->staged_head + 1) % MAX_STAGED_PACKETS;
		peer->staged_count--;
		device_count_drop(peer->device, DROP_TX_STAGED_OVERFLOW);
	}
	slot = &peer->staged[(peer->staged_head + peer->staged_count) % MAX_STAGED_PACKETS];
	slot->buf = copy;
	slot->len = len;
	peer->staged_count++;
}

void peer_staged_purge(struct wg_peer *peer)
{
	while (peer->staged_count) {
		free(peer->staged[peer->staged_head].buf);
		peer->staged[peer->staged_head].buf = NULL;
		peer->staged_head = (peer->staged_head + 1) % MAX_STAGED_PACKETS;
		peer->staged_count--;
	}
	peer->staged_head = 0;
}

void peer_handshake_completed(struct wg_peer *peer)
{
	uint64_t sec;
	uint32_t nsec;

	timers_handshake_complete(&peer->timers);
	platform_wall_clock(&sec, &nsec);
	peer->last_handshake_sec = sec;
	peer->last_handshake_nsec = nsec;
	/* The keypair that just became current says which side we were. */
	notify_session_established(peer, peer->keypairs.current &&
					 peer->keypairs.current->i_am_the_initiator ?
					 NOTIFY_INITIATOR : NOTIFY_RESPONDER);
}
