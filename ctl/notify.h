/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one point where the daemon says what changed (issue 17). Each kind of
 * change has one function here; the rest of the daemon calls it where the
 * change happens and nothing else. notify.c hands it on to whoever follows
 * that kind of change:
 *
 *   - the fast path's maps (ctl/fastpath.h: peers, allowed IPs, receiver
 *     indices, endpoints and session flags), exactly as before: every
 *     fastpath_* hook of the control plane is called from here only;
 *   - the device's counters of such changes (struct notify, logged on
 *     SIGUSR1 with the others);
 *   - the event stream (ctl/events.h), when the daemon serves one.
 *
 * Nothing here arms a timer (only timers.c does): what depends on time
 * passing (cookie mode ending, a drop rate falling back) is looked at by
 * notify_tick, which the daemon's loop calls after every wake-up, and
 * notify_timeout_ms tells the loop how long it may sleep meanwhile.
 *
 * Configuration transactions (notify_config_begin/end) stage their events
 * and publish them at the end, per peer net of what the transaction undid:
 * a peer created and removed within one transaction (a replace_peers that
 * failed and went back) is not reported at all; a peer removed (a
 * replace_peers replaces every peer object, even for a key that stays) is
 * reported before any peer added, so that a reader that follows keys ends
 * up with the device's peers. The maps are written at once, as before.
 */
#ifndef XWG_CTL_NOTIFY_H
#define XWG_CTL_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/platform.h"

struct wg_device;
struct wg_peer;
struct udp_endpoint;
struct events;

/* Drop rates (events "drop_rate_high" / "drop_rate_normal"): drops of one
 * reason are counted over windows of NOTIFY_DROP_WINDOW_SEC seconds; a
 * window with at least NOTIFY_DROP_THRESHOLD of them makes the reason
 * "high" (reported once), the first window below it makes it normal again.
 * 100 in 10 s (10 per second on average) is far above what a healthy
 * tunnel drops (a replayed or stray packet now and then) and far below a
 * flood, so a reader hears about floods and broken paths, not noise. */
#define NOTIFY_DROP_WINDOW_SEC 10
#define NOTIFY_DROP_THRESHOLD 100
#define NOTIFY_DROP_REASONS_MAX 64

enum notify_role { NOTIFY_INITIATOR, NOTIFY_RESPONDER };
/* Why a peer's sessions ended. */
enum notify_expiry {
	/* REJECT_AFTER_TIME * 3 without a new session: the timers zeroed
	 * the keys (whitepaper 6.3, ZERO_KEYS_AFTER_TIME). */
	NOTIFY_EXPIRED_ZERO_KEYS,
	/* The device's private key changed: every session derived from the
	 * old one is void. */
	NOTIFY_EXPIRED_PRIVATE_KEY,
};

/* A staged event of a configuration transaction. Private to notify.c. */
struct notify_staged {
	uint64_t peer_id;        /* wg_peer.internal_id; 0: the device */
	int kind;
	char *event;
	char *fields;
};

/* Embedded in struct wg_device; all zero is valid (no event stream). */
struct notify {
	struct events *events;   /* NULL: no stream (unit tests, ...) */

	/* Counters of what changed, for SIGUSR1 (device_log_stats). */
	uint64_t peers_added, peers_removed, handshakes_completed,
		handshakes_failed, sessions_expired, endpoint_changes,
		allowedips_changes, cookie_mode_entered;

	bool in_config;
	struct notify_staged *staged;
	size_t n_staged, cap_staged;

	bool cookie_mode;        /* as last reported */
	xwg_time_t drop_window_start;
	uint64_t drops_at_window_start[NOTIFY_DROP_REASONS_MAX];
	bool drop_rate_high[NOTIFY_DROP_REASONS_MAX];
};

/* Frees what is staged (device_uninit). */
void notify_uninit(struct wg_device *dev);

/* Peers: after the peer is in the device's tables; after its prefixes left
 * the allowed IPs and its sessions were cleared, before it is freed. */
void notify_peer_added(struct wg_device *dev, struct wg_peer *peer);
void notify_peer_removed(struct wg_device *dev, struct wg_peer *peer);
/* A configuration entry was applied to the peer (preshared key, keepalive,
 * endpoint...): old_endpoint is the endpoint before it when the entry set
 * one, else NULL. */
void notify_peer_configured(struct wg_device *dev, struct wg_peer *peer,
			    const struct udp_endpoint *old_endpoint);
/* The peer's allowed IPs were changed by configuration. */
void notify_allowedips_changed(struct wg_device *dev, struct wg_peer *peer);
/* An authenticated packet set peer->endpoint; old is what it was before
 * (reported when the peer's address or port moved, not its local one). */
void notify_endpoint_changed(struct wg_peer *peer, const struct udp_endpoint *old);
/* A handshake completed: the initiator got the response, the responder
 * the first data on the new session. */
void notify_session_established(struct wg_peer *peer, enum notify_role role);
/* The peer's sessions and handshake state were wiped. */
void notify_session_expired(struct wg_peer *peer, enum notify_expiry why);
/* REKEY_ATTEMPT_TIME of retried initiations went unanswered (timers.c's
 * give_up action). */
void notify_handshake_failed(struct wg_peer *peer);
/* Receiver indices: one now names a keypair of peer / one is gone. */
void notify_index_keypair(struct wg_device *dev, uint32_t index, struct wg_peer *peer);
void notify_index_removed(struct wg_device *dev, uint32_t index);
/* Whether the device answers handshakes with cookies (under load), as
 * device_is_under_load just decided. */
void notify_cookie_mode(struct wg_device *dev, bool on);

/* Around one configuration transaction (see above). */
void notify_config_begin(struct wg_device *dev);
void notify_config_end(struct wg_device *dev);
/* The transaction was refused and undone: what it staged goes unsaid. */
void notify_config_discard(struct wg_device *dev);

/* After every wake-up of the daemon's loop: cookie mode's end, the drop
 * rates' windows. */
void notify_tick(struct wg_device *dev);
/* How long (ms) the loop may sleep before notify_tick has something to
 * look at: -1 for as long as it likes. */
int notify_timeout_ms(struct wg_device *dev);

/* Logs the counters above (device_log_stats). */
void notify_log_stats(struct wg_device *dev);

#endif
