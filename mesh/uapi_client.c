// SPDX-License-Identifier: GPL-2.0
/* xwg-mesh: configuration-socket transactions. See uapi_client.h. */
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mesh/uapi_client.h"

/* The daemon's answers are bounded by its peers; a get of 65536 peers with
 * all their allowed IPs stays far below this. */
#define MAX_ANSWER (256u << 20)

void mesh_uapi_path(const char *ifname, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.sock", MESH_UAPI_DIR, ifname);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* One request, the whole answer (up to and including the blank line). */
static int transact(const char *ifname, const char *req, size_t len, char **answer,
		    size_t *answer_len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int64_t deadline = now_ms() + MESH_UAPI_TIMEOUT_MS;
	size_t cap = 4096, got = 0, off = 0;
	char *buf = NULL, *nb;
	int fd, ret;

	*answer = NULL;
	*answer_len = 0;
	mesh_uapi_path(ifname, sun.sun_path, sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = errno == ECONNREFUSED ? -ENOENT : -errno;
		goto out;
	}
	while (off < len) {
		ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);

		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			ret = wait_fd(fd, POLLOUT, deadline);
			if (ret)
				goto out;
			continue;
		}
		if (w < 0) {
			ret = -errno;
			goto out;
		}
		off += (size_t)w;
	}
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r;

		if (got >= 2 && buf[got - 1] == '\n' && buf[got - 2] == '\n')
			break;
		if (got == cap) {
			if (cap >= MAX_ANSWER) {
				ret = -EPROTO;
				goto out;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		r = recv(fd, buf + got, cap - got, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			ret = wait_fd(fd, POLLIN, deadline);
			if (ret)
				goto out;
			continue;
		}
		if (r < 0) {
			ret = -errno;
			goto out;
		}
		if (r == 0) {
			ret = -EPROTO;
			goto out;
		}
		got += (size_t)r;
	}
	*answer = buf;
	*answer_len = got;
	buf = NULL;
	ret = 0;
out:
	if (buf) {
		sodium_memzero(buf, cap);
		free(buf);
	}
	close(fd);
	return ret;
}

int mesh_uapi_set(const char *ifname, const char *text, size_t len)
{
	char *answer;
	size_t alen;
	int ret, value;

	ret = transact(ifname, text, len, &answer, &alen);
	if (ret)
		return ret;
	ret = mesh_uapi_parse_errno(answer, alen, &value) ? -EPROTO : value;
	if (ret > 0)
		ret = -ret;
	free(answer);
	return ret;
}

int mesh_uapi_get(const char *ifname, struct mesh_iface_state *st)
{
	static const char req[] = "get=1\n\n";
	char *answer;
	size_t alen;
	int ret;

	memset(st, 0, sizeof(*st));
	ret = transact(ifname, req, sizeof(req) - 1, &answer, &alen);
	if (ret)
		return ret;
	ret = mesh_iface_state_parse(answer, alen, st) ? -EPROTO : 0;
	if (!ret && st->errno_value) {
		ret = st->errno_value < 0 ? st->errno_value : -st->errno_value;
		mesh_iface_state_free(st);
	}
	sodium_memzero(answer, alen); /* it carries the private key */
	free(answer);
	return ret;
}
