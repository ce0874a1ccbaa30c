/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A peer of the device: its keys and sessions, endpoint, timers, counters
 * and the packets waiting for a session. All fields belong to the daemon's
 * control thread; crypto workers only read keypairs handed to them.
 */
#ifndef XWG_PEER_H
#define XWG_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "ctl/fastpath.h"
#include "ctl/handshake/cookie.h"
#include "ctl/handshake/noise.h"
#include "ctl/timers.h"
#include "datapath/udp.h"
#include "maps.h"

struct wg_device;

/* Packets from the tunnel waiting for a session (whitepaper 6.2: queued
 * while a handshake is in progress, dropped when it gives up). */
struct staged_packet {
	uint8_t *buf;   /* DATAPATH_HEADROOM bytes, then the packet, then room */
	size_t len;
};

struct wg_peer {
	struct wg_device *device;
	uint8_t public_key[NOISE_PUBLIC_KEY_LEN];
	struct noise_handshake handshake;
	struct noise_keypairs keypairs;
	struct cookie latest_cookie;
	struct udp_endpoint endpoint;
	struct timers_peer timers;

	struct staged_packet staged[MAX_STAGED_PACKETS];
	unsigned int staged_head, staged_count;

	uint64_t rx_bytes, tx_bytes;
	uint64_t last_handshake_sec;   /* wall clock of the last completed handshake */
	uint32_t last_handshake_nsec;

	/* What wg show does not show, for the fast path's peer_stats. */
	struct {
		uint64_t rx_packets, tx_packets, rx_dropped, tx_dropped;
		uint64_t handshakes_sent, handshakes_received;
	} stats;

	/* The fast path (ctl/fastpath.c): the peer's id in the BPF maps (0:
	 * none) and what was last written there, so only changes are;
	 * fp_out_of_step: a write of its mirror failed (or it has no id
	 * yet), fastpath_dp_tick writes all of it again; fp_write_errors:
	 * its failed writes (peer_stats' map_write_errors). */
	uint32_t fp_id;
	uint32_t fp_flags;
	bool fp_written;
	bool fp_out_of_step;
	uint64_t fp_write_errors;
	struct xwg_endpoint fp_endpoint;
	struct xwg_peer_stats fp_stats;
	/* Sorted; what the tries may hold for the peer (a superset while
	 * it is out of step). */
	struct fastpath_prefix *fp_prefixes;
	size_t fp_n_prefixes;

	/* Peers in configuration order, and the public-key hash chain. */
	struct wg_peer *next, *prev, *hash_next;
	uint64_t internal_id;
};

/* A handshake completed (initiator: response received; responder: first
 * data on the new session): timers and the wall-clock time wg shows. */
void peer_handshake_completed(struct wg_peer *peer);

/* Whether the peer has a session it may send on now. */
struct noise_keypair *peer_sending_keypair(struct wg_peer *peer);

/* Staged packets: append a copy (the oldest is dropped when full), take
 * them all, drop them all. */
void peer_stage_packet(struct wg_peer *peer, const uint8_t *pkt, size_t len);
void peer_staged_purge(struct wg_peer *peer);

#endif
