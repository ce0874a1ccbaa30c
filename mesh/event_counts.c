// SPDX-License-Identifier: GPL-2.0
/* xwg-mesh: counts from the event stream. See event_counts.h. */
#include <stdlib.h>
#include <string.h>

#include "mesh/event_counts.h"

struct mesh_event_counts *mesh_event_counts_new(size_t cap)
{
	struct mesh_event_counts *c = calloc(1, sizeof(*c) + cap * sizeof(c->peers[0]));

	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->cap = cap;
	return c;
}

void mesh_event_counts_free(struct mesh_event_counts *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Linear: events come at handshake pace (a few per peer per two minutes),
 * and the table is bounded. */
static struct mesh_event_peer *peer_find(struct mesh_event_counts *c, const uint8_t key[32],
					 bool add)
{
	struct mesh_event_peer *p;

	for (size_t i = 0; i < c->n_peers; i++)
		if (!memcmp(c->peers[i].public_key, key, 32))
			return &c->peers[i];
	if (!add)
		return NULL;
	if (c->n_peers == c->cap) {
		c->skipped[MESH_EVENT_SKIP_PEER_TABLE_FULL]++;
		return NULL;
	}
	p = &c->peers[c->n_peers++];
	memset(p, 0, sizeof(*p));
	memcpy(p->public_key, key, 32);
	return p;
}

void mesh_event_counts_apply(struct mesh_event_counts *c, const struct mesh_event *ev)
{
	struct mesh_event_peer *p;

	pthread_mutex_lock(&c->lock);
	switch (ev->kind) {
	case MESH_EVENT_SUBSCRIBED:
		c->up = true;
		c->lost = 0;
		memset(c->skipped, 0, sizeof(c->skipped));
		c->n_peers = 0;
		break;
	case MESH_EVENT_HANDSHAKE_COMPLETED:
		p = peer_find(c, ev->peer, true);
		if (p)
			p->handshakes[ev->role]++;
		break;
	case MESH_EVENT_ENDPOINT_CHANGED:
		p = peer_find(c, ev->peer, true);
		if (p)
			p->endpoint_changes[ev->cause]++;
		break;
	case MESH_EVENT_PEER_REMOVED:
		p = peer_find(c, ev->peer, false);
		if (p) /* order does not matter: move the last one here */
			*p = c->peers[--c->n_peers];
		break;
	case MESH_EVENT_EVENTS_LOST:
		c->lost += ev->count;
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&c->lock);
}

void mesh_event_counts_skip(struct mesh_event_counts *c, enum mesh_event_skip why)
{
	pthread_mutex_lock(&c->lock);
	c->skipped[why]++;
	pthread_mutex_unlock(&c->lock);
}

void mesh_event_counts_set_up(struct mesh_event_counts *c, bool up)
{
	pthread_mutex_lock(&c->lock);
	c->up = up;
	pthread_mutex_unlock(&c->lock);
}

struct mesh_event_counts *mesh_event_counts_snapshot(struct mesh_event_counts *c)
{
	struct mesh_event_counts *s;
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->n_peers;
	s = malloc(sizeof(*s) + n * sizeof(s->peers[0]));
	if (s) {
		s->up = c->up;
		s->lost = c->lost;
		memcpy(s->skipped, c->skipped, sizeof(s->skipped));
		s->n_peers = s->cap = n;
		memcpy(s->peers, c->peers, n * sizeof(s->peers[0]));
	}
	pthread_mutex_unlock(&c->lock);
	return s;
}

const char *mesh_event_skip_name(enum mesh_event_skip why)
{
	static const char *const names[MESH_EVENT_SKIP_REASONS] = {
		"too_long", "malformed", "peer_table_full",
	};

	return why < MESH_EVENT_SKIP_REASONS ? names[why] : "";
}
