// SPDX-License-Identifier: GPL-2.0
/*
 * `xwgd --events IFNAME` (events_client.h).
 */
#include "ctl/events_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/events.h"
#include "ctl/uapi.h"

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
