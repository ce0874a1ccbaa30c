// SPDX-License-Identifier: GPL-2.0
/*
 * The event stream: JSON lines, per-reader queues, the socket (events.h).
 * Lines are made once and shared by the queues of all readers (counted
 * references), so a reader costs a pointer per queued line.
 */
#include "ctl/events.h"

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/log.h"
#include "ctl/platform.h"

/* ---- JSON ---- */

static void json_escaped(struct uapi_buf *b, const char *s)
{
	const unsigned char *p;

	uapi_buf_printf(b, "\"");
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			uapi_buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			uapi_buf_printf(b, "\\n");
		else if (*p == '\t')
			uapi_buf_printf(b, "\\t");
		else if (*p < 0x20 || *p >= 0x7f)
			/* Bytes past ASCII as Latin-1: the line stays ASCII
			 * and valid JSON whatever the bytes were. */
			uapi_buf_printf(b, "\\u%04x", *p);
		else
			uapi_buf_printf(b, "%c", *p);
	}
	uapi_buf_printf(b, "\"");
}

static void json_key(struct uapi_buf *b, const char *key)
{
	if (b->len && b->data[b->len - 1] != '[')
		uapi_buf_printf(b, ",");
	json_escaped(b, key);
	uapi_buf_printf(b, ":");
}

void events_json_str(struct uapi_buf *b, const char *key, const char *value)
{
	json_key(b, key);
	json_escaped(b, value);
}

void events_json_u64(struct uapi_buf *b, const char *key, uint64_t value)
{
	json_key(b, key);
	uapi_buf_printf(b, "%llu", (unsigned long long)value);
}

void events_json_key(struct uapi_buf *b, const char *key, const uint8_t pub[32])
{
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];

	sodium_bin2base64(b64, sizeof(b64), pub, 32, sodium_base64_VARIANT_ORIGINAL);
	events_json_str(b, key, b64);
}

/* uapi.c writes endpoints and prefixes as wg(8) shows them ("key=...\n"):
 * the text between '=' and '\n' of what it wrote into a scratch buffer. */
static void json_from_uapi_line(struct uapi_buf *b, struct uapi_buf *line)
{
	char *eq = line->data ? memchr(line->data, '=', line->len) : NULL;

	if (!eq || line->oom || line->data[line->len - 1] != '\n') {
		uapi_buf_printf(b, "null");
	} else {
		line->data[line->len - 1] = '\0';
		json_escaped(b, eq + 1);
	}
	uapi_buf_free(line);
}

void events_json_endpoint(struct uapi_buf *b, const char *key, const struct sockaddr *sa)
{
	struct uapi_buf line = { 0 };

	json_key(b, key);
	if (sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6))
		uapi_buf_put_endpoint(&line, sa);
	json_from_uapi_line(b, &line);
}

void events_json_array_open(struct uapi_buf *b, const char *key)
{
	json_key(b, key);
	uapi_buf_printf(b, "[");
}

void events_json_array_str(struct uapi_buf *b, const char *value)
{
	if (b->len && b->data[b->len - 1] != '[')
		uapi_buf_printf(b, ",");
	json_escaped(b, value);
}

void events_json_array_close(struct uapi_buf *b)
{
	uapi_buf_printf(b, "]");
}

void events_line_format(struct uapi_buf *out, uint64_t seq, uint64_t sec, uint32_t nsec,
			const char *ifname, const char *event, const char *fields)
{
	time_t t = (time_t)sec;
	struct tm tm;
	char when[80];

	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned int)(nsec / 1000000) % 1000);
	uapi_buf_printf(out, "{");
	if (seq)
		uapi_buf_printf(out, "\"seq\":%llu,", (unsigned long long)seq);
	uapi_buf_printf(out, "\"time\":\"%s\",\"interface\":", when);
	json_escaped(out, ifname);
	uapi_buf_printf(out, ",\"event\":");
	json_escaped(out, event);
	if (fields && *fields)
		uapi_buf_printf(out, ",%s", fields);
	uapi_buf_printf(out, "}\n");
}

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

/* ---- the client ---- */

int events_client_run(const char *dir, const char *ifname)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char buf[65536];
	size_t have = 0;
	int fd, n;

	if (!dir)
		dir = UAPI_SOCKET_DIR;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s%s", dir, ifname,
		     EVENTS_SOCKET_SUFFIX);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		fprintf(stderr, "xwgd: %s/%s%s: path too long\n", dir, ifname,
			EVENTS_SOCKET_SUFFIX);
		return 1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "xwgd: socket: %s\n", strerror(errno));
		return 1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = errno;

		close(fd);
		if (err == ENOENT)
			fprintf(stderr, "xwgd: no such interface: %s (no event socket %s)\n",
				ifname, sun.sun_path);
		else if (err == EACCES || err == EPERM)
			fprintf(stderr, "xwgd: permission denied: %s (the event socket is "
				"for root only)\n", sun.sun_path);
		else if (err == ECONNREFUSED)
			fprintf(stderr, "xwgd: no daemon serves %s (a stale socket: is xwgd "
				"running for %s?)\n", sun.sun_path, ifname);
		else
			fprintf(stderr, "xwgd: cannot connect to %s: %s\n", sun.sun_path,
				strerror(err));
		return 1;
	}
	/* Raw lines, as they come: one write and a flush per complete line
	 * (nothing parsed). A line longer than the buffer goes out in
	 * pieces. */
	for (;;) {
		ssize_t got = read(fd, buf + have, sizeof(buf) - have);
		size_t start = 0, i;

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			fprintf(stderr, "xwgd: reading %s: %s\n", sun.sun_path, strerror(errno));
			close(fd);
			return 1;
		}
		if (got == 0)
			break;
		have += (size_t)got;
		for (i = 0; i < have; i++) {
			if (buf[i] != '\n')
				continue;
			if (fwrite(buf + start, 1, i + 1 - start, stdout) != i + 1 - start ||
			    fflush(stdout))
				goto out_stdout;
			start = i + 1;
		}
		if (!start && have == sizeof(buf)) {
			if (fwrite(buf, 1, have, stdout) != have)
				goto out_stdout;
			start = have;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
	}
	close(fd);
	if (have && (fwrite(buf, 1, have, stdout) != have || fflush(stdout)))
		goto out_stdout_closed;
	return 0;
out_stdout:
	close(fd);
out_stdout_closed:
	fprintf(stderr, "xwgd: writing to stdout: %s\n", strerror(errno));
	return 1;
}
