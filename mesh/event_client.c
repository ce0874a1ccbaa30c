// SPDX-License-Identifier: GPL-2.0
/* xwg-mesh: the event stream reader. See event_client.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mesh/event_client.h"

/* Reads per readiness: the rest waits for the next epoll round, so a
 * chatty daemon cannot starve the agent's other work. */
#define READS_PER_CALL 16

void mesh_event_client_init(struct mesh_event_client *c, const char *dir, const char *ifname,
			    struct mesh_event_counts *counts)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->path, sizeof(c->path), "%s/%s.events", dir, ifname);
	c->fd = -1;
	c->backoff_ms = MESH_EVENT_BACKOFF_MIN_MS;
	c->counts = counts;
}

void mesh_event_client_close(struct mesh_event_client *c, int epfd)
{
	if (c->fd < 0)
		return;
	if (epfd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	c->skipping = false;
	mesh_event_counts_set_up(c->counts, false);
}

static void retry_later(struct mesh_event_client *c, int epfd, uint64_t now_ms)
{
	mesh_event_client_close(c, epfd);
	c->retry_at_ms = now_ms + c->backoff_ms;
	c->backoff_ms = c->backoff_ms * 2 > MESH_EVENT_BACKOFF_MAX_MS ? MESH_EVENT_BACKOFF_MAX_MS
								       : c->backoff_ms * 2;
}

void mesh_event_client_tick(struct mesh_event_client *c, int epfd, uint64_t now_ms)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct epoll_event e = { .events = EPOLLIN };

	if (c->fd >= 0 || now_ms < c->retry_at_ms)
		return;
	memcpy(sun.sun_path, c->path, sizeof(sun.sun_path));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		retry_later(c, epfd, now_ms);
		return;
	}
	/* A unix stream connect does not wait: it succeeds or fails now
	 * (EAGAIN: the daemon's backlog is full; try again later too). */
	e.data.fd = c->fd;
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e))
		retry_later(c, epfd, now_ms);
}

static int line_take(struct mesh_event_client *c, const char *line, size_t len)
{
	struct mesh_event ev;

	if (mesh_event_parse(line, len, &ev)) {
		mesh_event_counts_skip(c->counts, MESH_EVENT_SKIP_MALFORMED);
		return 0;
	}
	if (ev.kind == MESH_EVENT_REFUSED)
		return -ECONNRESET;
	if (ev.kind == MESH_EVENT_SUBSCRIBED)
		c->backoff_ms = MESH_EVENT_BACKOFF_MIN_MS;
	mesh_event_counts_apply(c->counts, &ev);
	return 0;
}

int mesh_event_client_feed(struct mesh_event_client *c, const char *data, size_t len)
{
	while (len) {
		const char *nl = memchr(data, '\n', len);
		size_t part = nl ? (size_t)(nl - data) : len;

		if (c->skipping) {
			/* the rest of an overlong line, already counted */
		} else if (c->len + part > sizeof(c->buf)) {
			mesh_event_counts_skip(c->counts, MESH_EVENT_SKIP_TOO_LONG);
			c->skipping = true;
			c->len = 0;
		} else {
			memcpy(c->buf + c->len, data, part);
			c->len += part;
		}
		if (!nl)
			return 0;
		if (!c->skipping && line_take(c, c->buf, c->len))
			return -ECONNRESET;
		c->skipping = false;
		c->len = 0;
		data += part + 1;
		len -= part + 1;
	}
	return 0;
}

void mesh_event_client_read(struct mesh_event_client *c, int epfd, uint64_t now_ms)
{
	char chunk[4096];

	for (int i = 0; c->fd >= 0 && i < READS_PER_CALL; i++) {
		ssize_t n = read(c->fd, chunk, sizeof(chunk));

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0 || mesh_event_client_feed(c, chunk, (size_t)n)) {
			retry_later(c, epfd, now_ms);
			return;
		}
	}
}
