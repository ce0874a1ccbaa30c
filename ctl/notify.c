// SPDX-License-Identifier: GPL-2.0
/*
 * What changed, handed on to the fast path's maps, the counters and the
 * event stream (see notify.h). Every fastpath_* hook of the control plane
 * is called from here, in the same places and order as when the callers
 * made them. Events are made only while a reader is connected.
 */
#include "ctl/notify.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "constants.h"
#include "ctl/device.h"
#include "ctl/events.h"
#include "ctl/fastpath.h"
#include "base/log.h"

_Static_assert(DROP_REASON_COUNT <= NOTIFY_DROP_REASONS_MAX,
	       "struct notify counts drops by reason");

/* Staged kinds: what the end of a transaction nets out. */
enum { STAGED_OTHER, STAGED_PEER_ADDED, STAGED_PEER_REMOVED };

static bool is_listened(const struct wg_device *dev)
{
	return dev->notify.events && events_readers(dev->notify.events);
}

static void staged_free(struct notify_staged *s)
{
	free(s->event);
	free(s->fields);
}

/* Publishes now, or stages inside a configuration transaction. Takes the
 * members in f (and frees them). */
static void emit(struct wg_device *dev, uint64_t peer_id, int kind, const char *event,
		 struct uapi_buf *f)
{
	struct notify *n = &dev->notify;
	struct notify_staged *s;

	if (f->oom) {
		log_error("event stream: out of memory making a %s event", event);
		goto out;
	}
	if (!n->in_config) {
		events_publish(n->events, event, f->data);
		goto out;
	}
	if (n->n_staged == n->cap_staged) {
		size_t cap = n->cap_staged ? n->cap_staged * 2 : 16;
		struct notify_staged *p = realloc(n->staged, cap * sizeof(*p));

		if (!p) {
			log_error("event stream: out of memory staging a %s event", event);
			goto out;
		}
		n->staged = p;
		n->cap_staged = cap;
	}
	s = &n->staged[n->n_staged];
	*s = (struct notify_staged){ .peer_id = peer_id, .kind = kind,
				     .event = strdup(event),
				     .fields = f->data ? strdup(f->data) : NULL };
	if (!s->event || (f->data && !s->fields)) {
		staged_free(s);
		log_error("event stream: out of memory staging a %s event", event);
		goto out;
	}
	n->n_staged++;
out:
	uapi_buf_free(f);
}

static void peer_event(struct wg_peer *peer, int kind, const char *event,
		       struct uapi_buf *more)
{
	struct uapi_buf f = { 0 };

	events_json_key(&f, "peer", peer->public_key);
	if (more && more->len)
		uapi_buf_printf(&f, ",%s", more->data);
	if (more) {
		f.oom |= more->oom;
		uapi_buf_free(more);
	}
	emit(peer->device, peer->internal_id, kind, event, &f);
}

void notify_uninit(struct wg_device *dev)
{
	struct notify *n = &dev->notify;
	size_t i;

	for (i = 0; i < n->n_staged; i++)
		staged_free(&n->staged[i]);
	free(n->staged);
	n->staged = NULL;
	n->n_staged = n->cap_staged = 0;
	n->in_config = false;
}

void notify_peer_added(struct wg_device *dev, struct wg_peer *peer)
{
	dev->notify.peers_added++;
	fastpath_peer_added(dev, peer);
	if (is_listened(dev))
		peer_event(peer, STAGED_PEER_ADDED, "peer_added", NULL);
}

void notify_peer_removed(struct wg_device *dev, struct wg_peer *peer)
{
	dev->notify.peers_removed++;
	fastpath_peer_removed(dev, peer);
	if (is_listened(dev))
		peer_event(peer, STAGED_PEER_REMOVED, "peer_removed", NULL);
}

/* The peer's address or port differ (not its local source). */
static bool endpoint_moved(const struct udp_endpoint *a, const struct udp_endpoint *b)
{
	int family = udp_endpoint_family(a);

	if (family != udp_endpoint_family(b))
		return true;
	if (family == AF_INET)
		return a->addr.in4.sin_port != b->addr.in4.sin_port ||
		       a->addr.in4.sin_addr.s_addr != b->addr.in4.sin_addr.s_addr;
	if (family == AF_INET6)
		return a->addr.in6.sin6_port != b->addr.in6.sin6_port ||
		       a->addr.in6.sin6_scope_id != b->addr.in6.sin6_scope_id ||
		       memcmp(&a->addr.in6.sin6_addr, &b->addr.in6.sin6_addr, 16);
	return false;
}

static const struct sockaddr *endpoint_sa(const struct udp_endpoint *ep)
{
	return udp_endpoint_family(ep) == AF_UNSPEC ? NULL : &ep->addr.sa;
}

static void endpoint_event(struct wg_peer *peer, const struct udp_endpoint *old,
			   const char *cause)
{
	struct uapi_buf f = { 0 };

	peer->device->notify.endpoint_changes++;
	if (!is_listened(peer->device))
		return;
	events_json_endpoint(&f, "old", endpoint_sa(old));
	events_json_endpoint(&f, "new", endpoint_sa(&peer->endpoint));
	events_json_str(&f, "cause", cause);
	peer_event(peer, STAGED_OTHER, "endpoint_changed", &f);
}

void notify_peer_configured(struct wg_device *dev, struct wg_peer *peer,
			    const struct udp_endpoint *old_endpoint)
{
	fastpath_peer_refresh(dev, peer);
	if (old_endpoint && endpoint_moved(old_endpoint, &peer->endpoint))
		endpoint_event(peer, old_endpoint, "configuration");
}

struct prefix_list {
	struct uapi_buf *f;
	size_t n;
};

static int put_prefix(void *ctx, int family, const void *addr, uint8_t cidr)
{
	struct prefix_list *l = ctx;
	struct uapi_buf line = { 0 };

	if (l->n++ >= EVENTS_ALLOWED_IPS_MAX)
		return 0;
	/* "allowed_ip=PREFIX\n", as wg(8) shows it. */
	uapi_buf_put_allowed_ip(&line, family, addr, cidr);
	if (!line.oom && line.len > 11) {
		line.data[line.len - 1] = '\0';
		events_json_array_str(l->f, line.data + 11);
	}
	l->f->oom |= line.oom;
	uapi_buf_free(&line);
	return 0;
}

void notify_allowedips_changed(struct wg_device *dev, struct wg_peer *peer)
{
	struct uapi_buf f = { 0 };
	struct prefix_list l = { .f = &f };

	dev->notify.allowedips_changes++;
	fastpath_allowedips_changed(dev, peer);
	if (!is_listened(dev))
		return;
	/* The whole list after the change (up to EVENTS_ALLOWED_IPS_MAX). */
	events_json_array_open(&f, "allowed_ips");
	allowedips_walk_by_peer(&dev->allowedips, peer, put_prefix, &l);
	events_json_array_close(&f);
	events_json_u64(&f, "count", l.n);
	peer_event(peer, STAGED_OTHER, "allowed_ips_changed", &f);
}

void notify_endpoint_changed(struct wg_peer *peer, const struct udp_endpoint *old)
{
	fastpath_peer_refresh(peer->device, peer);
	if (endpoint_moved(old, &peer->endpoint))
		endpoint_event(peer, old, "roaming");
}

void notify_session_established(struct wg_peer *peer, enum notify_role role)
{
	struct uapi_buf f = { 0 };

	peer->device->notify.handshakes_completed++;
	fastpath_peer_refresh(peer->device, peer);
	if (!is_listened(peer->device))
		return;
	events_json_str(&f, "role", role == NOTIFY_INITIATOR ? "initiator" : "responder");
	events_json_endpoint(&f, "endpoint", endpoint_sa(&peer->endpoint));
	peer_event(peer, STAGED_OTHER, "handshake_completed", &f);
}

void notify_session_expired(struct wg_peer *peer, enum notify_expiry why)
{
	struct uapi_buf f = { 0 };

	peer->device->notify.sessions_expired++;
	fastpath_peer_refresh(peer->device, peer);
	if (!is_listened(peer->device))
		return;
	events_json_str(&f, "reason", why == NOTIFY_EXPIRED_ZERO_KEYS ? "no_new_session" :
				      "private_key_changed");
	peer_event(peer, STAGED_OTHER, "session_expired", &f);
}

void notify_handshake_failed(struct wg_peer *peer)
{
	struct uapi_buf f = { 0 };

	peer->device->notify.handshakes_failed++;
	if (!is_listened(peer->device))
		return;
	events_json_u64(&f, "seconds", REKEY_ATTEMPT_TIME);
	peer_event(peer, STAGED_OTHER, "handshake_failed", &f);
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
	struct uapi_buf f = { 0 };

	if (on == dev->notify.cookie_mode)
		return;
	dev->notify.cookie_mode = on;
	dev->notify.cookie_mode_entered += on;
	log_debug("%s cookie mode (handshakes %s)", on ? "entering" : "leaving",
		 on ? "answered with cookie replies: the device is under load" :
		      "answered again");
	if (is_listened(dev))
		emit(dev, 0, STAGED_OTHER, on ? "cookie_mode_entered" : "cookie_mode_left", &f);
}

void notify_config_begin(struct wg_device *dev)
{
	dev->notify.in_config = true;
}

static int id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool id_in(const uint64_t *ids, size_t n, uint64_t id)
{
	return n && bsearch(&id, ids, n, sizeof(*ids), id_cmp);
}

/* Sorted ids of the peers the staged events say were added (kind). */
static uint64_t *ids_of(const struct notify *n, int kind, size_t *count)
{
	uint64_t *ids = malloc((n->n_staged + 1) * sizeof(*ids));
	size_t i, k = 0;

	if (!ids)
		return NULL;
	for (i = 0; i < n->n_staged; i++)
		if (n->staged[i].kind == kind)
			ids[k++] = n->staged[i].peer_id;
	qsort(ids, k, sizeof(*ids), id_cmp);
	*count = k;
	return ids;
}

void notify_config_end(struct wg_device *dev)
{
	struct notify *n = &dev->notify;
	uint64_t *added, *removed;
	size_t n_added = 0, n_removed = 0, i;

	n->in_config = false;
	if (!n->n_staged)
		return;
	added = ids_of(n, STAGED_PEER_ADDED, &n_added);
	removed = ids_of(n, STAGED_PEER_REMOVED, &n_removed);
	if (!added || !removed) {
		log_error("event stream: out of memory: a configuration's events are lost");
		goto out;
	}
	/* Peers that existed before and are gone, first. */
	for (i = 0; i < n->n_staged; i++) {
		const struct notify_staged *s = &n->staged[i];

		if (s->kind == STAGED_PEER_REMOVED && !id_in(added, n_added, s->peer_id))
			events_publish(n->events, s->event, s->fields);
	}
	/* Then the rest in order, but for peers that are gone (their
	 * removal said it all, or they came and went within it). */
	for (i = 0; i < n->n_staged; i++) {
		const struct notify_staged *s = &n->staged[i];

		if (!s->peer_id || !id_in(removed, n_removed, s->peer_id))
			events_publish(n->events, s->event, s->fields);
	}
out:
	free(added);
	free(removed);
	for (i = 0; i < n->n_staged; i++)
		staged_free(&n->staged[i]);
	n->n_staged = 0;
}

void notify_config_discard(struct wg_device *dev)
{
	struct notify *n = &dev->notify;
	size_t i;

	for (i = 0; i < n->n_staged; i++)
		staged_free(&n->staged[i]);
	n->n_staged = 0;
}

void notify_tick(struct wg_device *dev)
{
	struct notify *n = &dev->notify;
	xwg_time_t now = platform_now(), elapsed;
	unsigned int r;

	if (n->cookie_mode && now >= dev->under_load_until)
		notify_cookie_mode(dev, false);
	if (!n->drop_window_start) {
		n->drop_window_start = now;
		memcpy(n->drops_at_window_start, dev->drops, sizeof(dev->drops));
		return;
	}
	elapsed = now - n->drop_window_start;
	if (elapsed < NOTIFY_DROP_WINDOW_SEC * NSEC_PER_SEC)
		return;
	for (r = 0; r < DROP_REASON_COUNT; r++) {
		uint64_t count = dev->drops[r] - n->drops_at_window_start[r];
		/* A rate: the window may have run longer than its length
		 * when nothing woke the loop. */
		bool high = (double)count * NOTIFY_DROP_WINDOW_SEC * NSEC_PER_SEC >=
			    (double)NOTIFY_DROP_THRESHOLD * elapsed;

		if (high != n->drop_rate_high[r] && is_listened(dev)) {
			struct uapi_buf f = { 0 };

			events_json_str(&f, "reason", drop_reason_name(r));
			events_json_u64(&f, "count", count);
			events_json_u64(&f, "window_ms", elapsed / NSEC_PER_MSEC);
			emit(dev, 0, STAGED_OTHER, high ? "drop_rate_high" : "drop_rate_normal", &f);
		}
		n->drop_rate_high[r] = high;
	}
	n->drop_window_start = now;
	memcpy(n->drops_at_window_start, dev->drops, sizeof(dev->drops));
}

int notify_timeout_ms(struct wg_device *dev)
{
	const struct notify *n = &dev->notify;
	xwg_time_t now = platform_now(), at = 0;
	unsigned int r;

	if (!n->events)
		return -1;
	if (n->cookie_mode)
		at = dev->under_load_until;
	for (r = 0; r < DROP_REASON_COUNT; r++) {
		if (n->drop_rate_high[r]) {
			xwg_time_t end = n->drop_window_start +
					 NOTIFY_DROP_WINDOW_SEC * NSEC_PER_SEC;

			if (!at || end < at)
				at = end;
			break;
		}
	}
	if (!at)
		return -1;
	return at <= now ? 0 : (int)((at - now) / NSEC_PER_MSEC) + 1;
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
	if (n->events) {
		uint64_t published, lost, refused;

		events_stats(n->events, &published, &lost, &refused);
		log_info("event stream %s: %zu readers; %llu events published, %llu lines lost "
			 "to full reader queues, %llu readers refused", events_path(n->events),
			 events_readers(n->events), (unsigned long long)published,
			 (unsigned long long)lost, (unsigned long long)refused);
	}
}
