/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xwg-mesh's reader of one interface's event stream
 * (/var/run/wireguard/IFNAME.events), driven by the caller's epoll loop:
 * a non-blocking socket, lines split in a fixed buffer (a longer line is
 * skipped and counted), each line parsed and counted into a
 * mesh_event_counts. When the socket is absent or the daemon goes away,
 * it reconnects with backoff (1 s doubling to 16 s) at the caller's ticks;
 * nothing here ever blocks.
 */
#ifndef XWG_MESH_EVENT_CLIENT_H
#define XWG_MESH_EVENT_CLIENT_H

#include <net/if.h>
#include <stdint.h>
#include <sys/un.h>

#include "mesh/event_counts.h"

/* Longer than any line the daemon writes (allowed_ips_changed lists at
 * most 256 prefixes, about 12 KiB). */
#define MESH_EVENT_LINE_MAX 16384
#define MESH_EVENT_BACKOFF_MIN_MS 1000
#define MESH_EVENT_BACKOFF_MAX_MS 16000

struct mesh_event_client {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;                         /* -1: not connected */
	uint64_t retry_at_ms;
	unsigned int backoff_ms;
	struct mesh_event_counts *counts;
	size_t len;                     /* bytes in buf */
	bool skipping;                  /* inside a line longer than buf */
	char buf[MESH_EVENT_LINE_MAX];
};

/* dir: where the sockets are (MESH_UAPI_DIR). Connects at the first tick. */
void mesh_event_client_init(struct mesh_event_client *c, const char *dir, const char *ifname,
			    struct mesh_event_counts *counts);
/* Connect if not connected and the backoff has passed; the new socket is
 * added to epfd (EPOLLIN, data.fd). */
void mesh_event_client_tick(struct mesh_event_client *c, int epfd, uint64_t now_ms);
/* c->fd is readable: read what is there, count its lines; on end of
 * stream or an error, close and schedule a reconnect. */
void mesh_event_client_read(struct mesh_event_client *c, int epfd, uint64_t now_ms);
void mesh_event_client_close(struct mesh_event_client *c, int epfd);

/* The line splitter on its own (for the tests and the fuzzer): feed bytes
 * as they came; 0, or -ECONNRESET when a line says the daemon refused us. */
int mesh_event_client_feed(struct mesh_event_client *c, const char *data, size_t len);

#endif
