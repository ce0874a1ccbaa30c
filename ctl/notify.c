// SPDX-License-Identifier: GPL-2.0
/*
 * What changed, handed on to the fast path's maps and the counters (see
 * notify.h). Every fastpath_* hook of the control plane is called from
 * here, in the same places and order as when the callers made them.
 */
#include "ctl/notify.h"

#include <stdlib.h>
#include <string.h>

#include "ctl/device.h"
#include "ctl/fastpath.h"
#include "ctl/log.h"

_Static_assert(DROP_REASON_COUNT <= NOTIFY_DROP_REASONS_MAX,
	       "struct notify counts drops by reason");

void notify_uninit(struct wg_device *dev)
{
	(void)dev;
}

void notify_peer_added(struct wg_device *dev, struct wg_peer *peer)
{
	dev->notify.peers_added++;
	fastpath_peer_added(dev, peer);
}

void notify_peer_removed(struct wg_device *dev, struct wg_peer *peer)
{
	dev->notify.peers_removed++;
	fastpath_peer_removed(dev, peer);
}

void notify_peer_configured(struct wg_device *dev, struct wg_peer *peer,
			    const struct udp_endpoint *old_endpoint)
{
	(void)old_endpoint;
	fastpath_peer_refresh(dev, peer);
}

void notify_allowedips_changed(struct wg_device *dev, struct wg_peer *peer)
{
	dev->notify.allowedips_changes++;
	fastpath_allowedips_changed(dev, peer);
}

void notify_endpoint_changed(struct wg_peer *peer, const struct udp_endpoint *old)
{
	(void)old;
	fastpath_peer_refresh(peer->device, peer);
}

void notify_session_established(struct wg_peer *peer, enum notify_role role)
{
	(void)role;
	peer->device->notify.handshakes_completed++;
	fastpath_peer_refresh(peer->device, peer);
}

void notify_session_expired(struct wg_peer *peer, enum notify_expiry why)
{
	(void)why;
	peer->device->notify.sessions_expired++;
	fastpath_peer_refresh(peer->device, peer);
}

void notify_handshake_failed(struct wg_peer *peer)
{
	peer->device->notify.handshakes_failed++;
}

void notify_index_keypair(struct wg_device *dev, uint32_t index, struct wg_peer *peer)
{
	fastpath_index_keypair(dev, index, peer);
}

void notify_index_removed(struct wg_device *dev, uint32_t index)
{
	fastpath_index_removed(dev, index);
}

void notify_cookie_mode(struct wg_device *dev, bool on)
{
	if (on == dev->notify.cookie_mode)
		return;
	dev->notify.cookie_mode = on;
	dev->notify.cookie_mode_entered += on;
}

void notify_config_begin(struct wg_device *dev)
{
	dev->notify.in_config = true;
}

void notify_config_end(struct wg_device *dev)
{
	dev->notify.in_config = false;
}

void notify_tick(struct wg_device *dev)
{
	(void)dev;
}

int notify_timeout_ms(struct wg_device *dev)
{
	(void)dev;
	return -1;
}

void notify_log_stats(struct wg_device *dev)
{
	const struct notify *n = &dev->notify;

	log_info("changes: peers added %llu, removed %llu; handshakes completed %llu, "
		 "failed after all retries %llu; sessions expired %llu; endpoint changes %llu; "
		 "allowed IPs changes %llu; cookie mode entered %llu times",
		 (unsigned long long)n->peers_added, (unsigned long long)n->peers_removed,
		 (unsigned long long)n->handshakes_completed,
		 (unsigned long long)n->handshakes_failed,
		 (unsigned long long)n->sessions_expired,
		 (unsigned long long)n->endpoint_changes,
		 (unsigned long long)n->allowedips_changes,
		 (unsigned long long)n->cookie_mode_entered);
}
