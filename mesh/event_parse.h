/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-mesh's reader of xwgd's event stream lines (README "The event
 * stream"): one JSON object per line, of which only `event`, `peer`,
 * `role`, `cause` and `count` matter here. Unknown events and members are
 * skipped, not refused, so a newer daemon's lines do no harm. Nothing is
 * allocated: the line is scanned in place.
 */
#ifndef XWG_MESH_EVENT_PARSE_H
#define XWG_MESH_EVENT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mesh_event_kind {
	MESH_EVENT_OTHER,               /* an event these metrics do not count */
	MESH_EVENT_SUBSCRIBED,
	MESH_EVENT_HANDSHAKE_COMPLETED,
	MESH_EVENT_ENDPOINT_CHANGED,
	MESH_EVENT_PEER_REMOVED,
	MESH_EVENT_EVENTS_LOST,
	MESH_EVENT_REFUSED,             /* too many readers: the daemon closes */
};

enum mesh_event_role { MESH_EVENT_INITIATOR, MESH_EVENT_RESPONDER, MESH_EVENT_ROLES };
enum mesh_event_cause { MESH_EVENT_CONFIGURATION, MESH_EVENT_ROAMING, MESH_EVENT_CAUSES };

struct mesh_event {
	enum mesh_event_kind kind;
	uint8_t peer[32];               /* handshake, endpoint, peer_removed */
	enum mesh_event_role role;      /* handshake_completed */
	enum mesh_event_cause cause;    /* endpoint_changed */
	uint64_t count;                 /* events_lost */
};

/* Parse one line (without its newline; a trailing \r is tolerated). 0 and
 * *ev, or -EINVAL: not one JSON object, no `event`, or an event counted
 * here without the members it needs (a valid peer key, a known role or
 * cause, a count). */
int mesh_event_parse(const char *line, size_t len, struct mesh_event *ev);

const char *mesh_event_role_name(enum mesh_event_role r);
const char *mesh_event_cause_name(enum mesh_event_cause c);

#endif
