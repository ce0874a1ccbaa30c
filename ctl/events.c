// SPDX-License-Identifier: GPL-2.0
/*
 * The event stream: per-reader queues and the socket (events.h). Lines
 * (events_json.h) are made once and shared by the queues of all readers (counted
 * references), so a reader costs a pointer per queued line.
 */
#include "ctl/events.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"
#include "base/platform.h"

/* ---- lines and queues ---- */

static struct events_line *line_create(const char *text, size_t len, uint64_t seq)
{
	struct events_line *l = malloc(sizeof(*l) + len);

	if (!l)
		return NULL;
	l->refs = 1;
	l->seq = seq;
	l->len = len;
	memcpy(l->text, text, len);
	return l;
}

static void line_put(struct events_line *l)
{
	if (l && !--l->refs)
		free(l);
}

int events_queue_init(struct events_queue *q, unsigned int lines_max, size_t bytes_max)
{
	memset(q, 0, sizeof(*q));
	q->lines_max = lines_max;
	q->bytes_max = bytes_max;
	q->ring = calloc(lines_max + 1, sizeof(*q->ring));
	return q->ring ? 0 : -ENOMEM;
}

static struct events_line *queue_pop(struct events_queue *q)
{
	struct events_line *l = q->ring[q->head];

	q->ring[q->head] = NULL;
	q->head = (q->head + 1) % (q->lines_max + 1);
	q->count--;
	q->bytes -= l->len;
	q->sent = 0;
	return l;
}

void events_queue_uninit(struct events_queue *q)
{
	while (q->ring && q->count)
		line_put(queue_pop(q));
	free(q->ring);
	q->ring = NULL;
}

static void queue_lose(struct events_queue *q, uint64_t seq)
{
	if (!q->lost++)
		q->first_lost = seq;
	q->last_lost = seq;
}

bool events_queue_push(struct events_queue *q, struct events_line *line, bool force)
{
	if (!force && (q->lost || q->count >= q->lines_max ||
		       q->bytes + line->len > q->bytes_max)) {
		queue_lose(q, line->seq);
		return false;
	}
	if (q->count > q->lines_max)
		return false;  /* two forced lines in a row: cannot happen */
	q->ring[(q->head + q->count) % (q->lines_max + 1)] = line;
	line->refs++;
	q->count++;
	q->bytes += line->len;
	return true;
}

int events_queue_flush(struct events_queue *q, int fd, size_t budget)
{
	while (q->count) {
		struct events_line *l = q->ring[q->head];
		size_t want = l->len - q->sent;
		ssize_t n;

		if (!budget)
			return 0;
		n = send(fd, l->text + q->sent, want < budget ? want : budget,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		budget -= (size_t)n;
		q->sent += (size_t)n;
		if (q->sent == l->len)
			line_put(queue_pop(q));
	}
	return 1;
}

/* ---- the stream ---- */

struct events_reader {
	int fd;
	uint32_t watching;       /* the epoll events asked for */
	struct events_queue q;
	struct events_reader *prev, *next;
};

struct events {
	char ifname[IF_NAMESIZE];
	int epfd;
	int listen_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct events_reader *readers;
	size_t n_readers;
	uint64_t seq;            /* of the last event published */
	uint64_t published, lost, refused;
};

/* The listening socket's epoll tag; readers are tagged by their pointer. */
static char listen_tag;

struct events *events_create(const char *ifname)
{
	struct events *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return NULL;
	snprintf(ev->ifname, sizeof(ev->ifname), "%s", ifname);
	ev->listen_fd = -1;
	ev->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ev->epfd < 0) {
		free(ev);
		return NULL;
	}
	return ev;
}

static void reader_close(struct events *ev, struct events_reader *r)
{
	epoll_ctl(ev->epfd, EPOLL_CTL_DEL, r->fd, NULL);
	close(r->fd);
	ev->lost += r->q.lost;
	events_queue_uninit(&r->q);
	if (r->prev)
		r->prev->next = r->next;
	else
		ev->readers = r->next;
	if (r->next)
		r->next->prev = r->prev;
	ev->n_readers--;
	free(r);
}

void events_destroy(struct events *ev)
{
	if (!ev)
		return;
	while (ev->readers)
		reader_close(ev, ev->readers);
	uapi_unlisten(ev->listen_fd, ev->path[0] ? ev->path : NULL);
	close(ev->epfd);
	free(ev);
}

int events_listen(struct events *ev, const char *dir)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = &listen_tag };
	int fd = uapi_listen_named(dir, ev->ifname, EVENTS_SOCKET_SUFFIX, ev->path,
				   sizeof(ev->path));

	if (fd < 0)
		return fd;
	if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		int ret = -errno;

		uapi_unlisten(fd, ev->path);
		ev->path[0] = '\0';
		return ret;
	}
	ev->listen_fd = fd;
	return 0;
}

const char *events_path(const struct events *ev)
{
	return ev->path;
}

int events_fd(const struct events *ev)
{
	return ev->epfd;
}

size_t events_readers(const struct events *ev)
{
	return ev->n_readers;
}

void events_stats(const struct events *ev, uint64_t *published, uint64_t *lost,
		  uint64_t *refused)
{
	const struct events_reader *r;

	*published = ev->published;
	*lost = ev->lost;
	for (r = ev->readers; r; r = r->next)
		*lost += r->q.lost;
	*refused = ev->refused;
}

/* A line for one reader only: queued whatever its queue holds. */
static void reader_say(struct events *ev, struct events_reader *r, const char *event,
		       const char *fields)
{
	struct uapi_buf b = { 0 };
	struct events_line *l;
	uint64_t sec;
	uint32_t nsec;

	platform_wall_clock(&sec, &nsec);
	events_line_format(&b, 0, sec, nsec, ev->ifname, event, fields);
	l = b.oom ? NULL : line_create(b.data, b.len, 0);
	uapi_buf_free(&b);
	if (!l)
		return;
	events_queue_push(&r->q, l, true);
	line_put(l);
}

/* Writes what the reader takes; reports its lost lines once its queue has
 * drained; waits for EPOLLOUT while lines wait. false: close it. */
static bool reader_flush(struct events *ev, struct events_reader *r)
{
	uint32_t want;
	int ret;

	for (;;) {
		ret = events_queue_flush(&r->q, r->fd, EVENTS_BURST_BYTES);
		if (ret < 0)
			return false;
		if (ret == 0 || !r->q.lost)
			break;
		{
			struct uapi_buf f = { 0 };

			events_json_u64(&f, "count", r->q.lost);
			events_json_u64(&f, "first_seq", r->q.first_lost);
			events_json_u64(&f, "last_seq", r->q.last_lost);
			ev->lost += r->q.lost;
			r->q.lost = 0;
			if (!f.oom)
				reader_say(ev, r, "events_lost", f.data);
			uapi_buf_free(&f);
		}
	}
	want = EPOLLIN | (ret == 0 ? EPOLLOUT : 0);
	if (want != r->watching) {
		struct epoll_event e = { .events = want, .data.ptr = r };

		if (epoll_ctl(ev->epfd, EPOLL_CTL_MOD, r->fd, &e) < 0)
			return false;
		r->watching = want;
	}
	return true;
}

int events_reader_add(struct events *ev, int fd)
{
	struct events_reader *r;
	struct epoll_event e;
	struct uapi_buf f = { 0 };

	if (ev->n_readers >= EVENTS_READERS_MAX) {
		static const char refused[] =
			"{\"event\":\"refused\",\"reason\":\"too many readers\"}\n";

		ev->refused++;
		/* Best effort: it is closed either way. */
		if (send(fd, refused, sizeof(refused) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("event stream: refusing a reader: %s", strerror(errno));
		close(fd);
		return -EBUSY;
	}
	r = calloc(1, sizeof(*r));
	if (!r || events_queue_init(&r->q, EVENTS_QUEUE_LINES, EVENTS_QUEUE_BYTES)) {
		free(r);
		close(fd);
		return -ENOMEM;
	}
	r->fd = fd;
	r->watching = EPOLLIN;
	e = (struct epoll_event){ .events = EPOLLIN, .data.ptr = r };
	if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		int ret = -errno;

		events_queue_uninit(&r->q);
		free(r);
		close(fd);
		return ret;
	}
	r->next = ev->readers;
	if (ev->readers)
		ev->readers->prev = r;
	ev->readers = r;
	ev->n_readers++;
	events_json_u64(&f, "next_seq", ev->seq + 1);
	if (!f.oom)
		reader_say(ev, r, "subscribed", f.data);
	uapi_buf_free(&f);
	if (!reader_flush(ev, r))
		reader_close(ev, r);
	return 0;
}

void events_publish(struct events *ev, const char *event, const char *fields)
{
	struct events_reader *r, *next;
	struct uapi_buf b = { 0 };
	struct events_line *l;
	uint64_t sec;
	uint32_t nsec;

	if (!ev)
		return;
	/* Numbered even without readers: seq counts what happened. */
	ev->seq++;
	ev->published++;
	if (!ev->readers)
		return;
	platform_wall_clock(&sec, &nsec);
	events_line_format(&b, ev->seq, sec, nsec, ev->ifname, event, fields);
	l = b.oom ? NULL : line_create(b.data, b.len, ev->seq);
	uapi_buf_free(&b);
	for (r = ev->readers; r; r = next) {
		next = r->next;
		if (!l) {
			/* Out of memory: lost for everyone, and said so. */
			queue_lose(&r->q, ev->seq);
			continue;
		}
		if (events_queue_push(&r->q, l, false) && !reader_flush(ev, r))
			reader_close(ev, r);
	}
	line_put(l);
}

static void accept_all(struct events *ev)
{
	for (;;) {
		int fd = uapi_accept(ev->listen_fd);

		if (fd < 0)
			return;
		if (events_reader_add(ev, fd) == -EBUSY)
			log_info("event stream: refused a reader: %d are connected",
				 EVENTS_READERS_MAX);
	}
}

/* Input of a reader is ignored; reading it tells whether it went away. */
static bool reader_drain_input(struct events_reader *r)
{
	char buf[4096];
	int i;

	for (i = 0; i < 16; i++) {
		ssize_t n = recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0)
			return false;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	}
	return true;
}

void events_dispatch(struct events *ev)
{
	struct epoll_event evs[EVENTS_READERS_MAX + 1];
	int n, i;

	n = epoll_wait(ev->epfd, evs, EVENTS_READERS_MAX + 1, 0);
	for (i = 0; i < n; i++) {
		struct events_reader *r = evs[i].data.ptr;
		bool keep = true;

		if (evs[i].data.ptr == &listen_tag) {
			accept_all(ev);
			continue;
		}
		/* A reader closed above (in this batch) is not named twice:
		 * each fd appears once per epoll_wait. */
		if (evs[i].events & (EPOLLHUP | EPOLLERR))
			keep = false;
		if (keep && evs[i].events & EPOLLIN)
			keep = reader_drain_input(r);
		if (keep && evs[i].events & EPOLLOUT)
			keep = reader_flush(ev, r);
		if (!keep)
			reader_close(ev, r);
	}
}
