/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What xwg-mesh counts from one interface's event stream, for /metrics:
 * completed handshakes per peer and role, endpoint changes per peer and
 * cause, lines the daemon lost for this reader, lines skipped here, and
 * whether the stream is subscribed. The event loop writes (under lock),
 * the metrics thread takes a snapshot.
 *
 * Every count starts at 0 when a subscription starts (the daemon makes
 * events only while a reader is connected, so nothing before it is
 * known); a reconnect after the daemon restarted starts them again, which
 * Prometheus' rate() and increase() take as a counter reset. A peer's
 * series go when its peer_removed event comes. At most
 * MESH_EVENT_PEERS_MAX peers are tracked per interface; events of more
 * are counted as skipped (reason peer_table_full).
 */
#ifndef XWG_MESH_EVENT_COUNTS_H
#define XWG_MESH_EVENT_COUNTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh/event_parse.h"

#define MESH_EVENT_PEERS_MAX 4096

enum mesh_event_skip {
	MESH_EVENT_SKIP_TOO_LONG,       /* a line longer than the client's buffer */
	MESH_EVENT_SKIP_MALFORMED,      /* mesh_event_parse refused it */
	MESH_EVENT_SKIP_PEER_TABLE_FULL,
	MESH_EVENT_SKIP_REASONS,
};

struct mesh_event_peer {
	uint8_t public_key[32];
	uint64_t handshakes[MESH_EVENT_ROLES];
	uint64_t endpoint_changes[MESH_EVENT_CAUSES];
};

struct mesh_event_counts {
	pthread_mutex_t lock;           /* not used in a snapshot */
	bool up;                        /* subscribed now */
	uint64_t lost;                  /* sum of events_lost counts */
	uint64_t skipped[MESH_EVENT_SKIP_REASONS];
	size_t n_peers, cap;
	struct mesh_event_peer peers[];
};

/* A table for up to cap peers; NULL without memory. */
struct mesh_event_counts *mesh_event_counts_new(size_t cap);
void mesh_event_counts_free(struct mesh_event_counts *c);

/* Count one parsed event (a subscription resets everything and sets up). */
void mesh_event_counts_apply(struct mesh_event_counts *c, const struct mesh_event *ev);
void mesh_event_counts_skip(struct mesh_event_counts *c, enum mesh_event_skip why);
void mesh_event_counts_set_up(struct mesh_event_counts *c, bool up);

/* A copy taken under the lock (free with free()); NULL without memory. */
struct mesh_event_counts *mesh_event_counts_snapshot(struct mesh_event_counts *c);

const char *mesh_event_skip_name(enum mesh_event_skip why);

#endif
