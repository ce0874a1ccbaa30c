/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The event stream (issue 16): what changed on the device (ctl/notify.h
 * decides what), as JSON lines on a root-only unix stream socket beside the
 * configuration socket, DIR/IFNAME.events (DIR: /var/run/wireguard). A
 * reader connects and reads; it sends nothing (what it sends is read and
 * ignored). `xwgd --events IFNAME` is such a reader.
 *
 * Every event line is one JSON object on one line:
 *   {"seq":N,"time":"2026-12-07T22:48:49.123Z","interface":"wg0",
 *    "event":"NAME", ...members of that event...}
 * seq counts the events of this daemon from 1 with no gap; time is the
 * wall clock, RFC 3339 UTC with milliseconds. Two lines go to one reader
 * only and carry no seq: "subscribed" first, with next_seq (the seq of the
 * first event it will get), and "events_lost" (below). No line carries a
 * private or preshared key: peers are named by their public key (base64,
 * as wg(8) prints it). Strings are escaped as JSON wants, and every byte
 * outside printable ASCII is written \u00XX, so a line is plain ASCII.
 *
 * A reader never slows the daemon: each has a queue of at most
 * EVENTS_QUEUE_LINES lines and EVENTS_QUEUE_BYTES bytes, written with
 * non-blocking sends as its socket takes them (the daemon's epoll loop
 * waits for EPOLLOUT only while something is queued). When an event does
 * not fit, it and every later one are dropped for that reader until its
 * queue has drained; then it gets
 *   {"time":...,"interface":...,"event":"events_lost","count":N,
 *    "first_seq":A,"last_seq":B}
 * (the lost events are exactly seq A..B, N = B - A + 1) and the events that
 * follow. Dropping the newest rather than the oldest keeps what a reader
 * gets a run without holes but for the one that events_lost names. Other
 * readers are not affected. The daemon turns to the readers between two
 * wake-ups of its loop, so one configuration transaction's events (staged,
 * then published together: peer_added and allowed_ips_changed per new
 * peer) must fit one queue even for a reader that keeps up: 4096 lines of
 * 150 to 250 bytes fit both bounds. At most EVENTS_READERS_MAX readers at
 * once; one more is sent {"event":"refused",...} and closed.
 */
#ifndef XWG_CTL_EVENTS_H
#define XWG_CTL_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ctl/events_json.h"
#include "ctl/uapi.h"

#define EVENTS_SOCKET_SUFFIX ".events"
#define EVENTS_QUEUE_LINES 4096
#define EVENTS_QUEUE_BYTES (1024U * 1024)
#define EVENTS_READERS_MAX 16
/* What one dispatch writes to one reader before it returns to the loop. */
#define EVENTS_BURST_BYTES (256U * 1024)
/* allowed_ips_changed lists at most this many prefixes (and says how many
 * the peer has), so that a line stays small. */
#define EVENTS_ALLOWED_IPS_MAX 256

/* ---- A reader's queue of lines (shared by all readers, counted) ---- */
struct events_line {
	unsigned int refs;
	uint64_t seq;            /* 0: a per-reader line */
	size_t len;
	char text[];
};

struct events_queue {
	struct events_line **ring;
	unsigned int lines_max;  /* EVENTS_QUEUE_LINES; tests lower it */
	size_t bytes_max;        /* EVENTS_QUEUE_BYTES; tests lower it */
	unsigned int head, count;
	size_t bytes;
	size_t sent;             /* bytes of the head line written */
	uint64_t lost, first_lost, last_lost;
};

int events_queue_init(struct events_queue *q, unsigned int lines_max, size_t bytes_max);
void events_queue_uninit(struct events_queue *q);
/* Queues line (taking a reference), or counts it lost: when it does not
 * fit, or while earlier ones are lost and the queue has not drained.
 * force: a per-reader line, always queued (the ring has room for one more
 * than lines_max). Returns whether it was queued. */
bool events_queue_push(struct events_queue *q, struct events_line *line, bool force);
/* Writes what fd takes, at most budget bytes. 1: the queue is empty; 0:
 * lines wait (EAGAIN, or the budget is spent); -errno: the reader is
 * gone. */
int events_queue_flush(struct events_queue *q, int fd, size_t budget);

/* ---- The stream ---- */
struct events;
struct events_reader;

/* NULL when out of memory. ifname names the device in every line. */
struct events *events_create(const char *ifname);
/* Closes the readers and the socket (unlinked, as uapi_unlisten does). */
void events_destroy(struct events *ev);
/* Creates DIR/IFNAME.events (DIR: UAPI_SOCKET_DIR when NULL) as the
 * configuration socket is created (uapi_listen: srwx------ by umask, a
 * stale one replaced, a live one refused with -EADDRINUSE). 0 or -errno. */
int events_listen(struct events *ev, const char *dir);
const char *events_path(const struct events *ev);
/* One fd for the daemon's epoll set (an epoll set of the listening socket
 * and the readers); events_dispatch when it is readable. */
int events_fd(const struct events *ev);
void events_dispatch(struct events *ev);
/* A reader on a connected stream socket (accepted, or one end of a
 * socketpair in tests; every send and recv on it is non-blocking). 0 or
 * -errno (-EBUSY at EVENTS_READERS_MAX: fd is then closed). */
int events_reader_add(struct events *ev, int fd);
size_t events_readers(const struct events *ev);
/* Queues the event for every reader and writes what each takes now.
 * fields: its members (events_json_*), may be NULL. Never blocks. */
void events_publish(struct events *ev, const char *event, const char *fields);
/* Counters: events published, lines lost over all readers, readers
 * refused. */
void events_stats(const struct events *ev, uint64_t *published, uint64_t *lost,
		  uint64_t *refused);

#endif
