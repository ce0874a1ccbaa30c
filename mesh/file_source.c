// SPDX-License-Identifier: GPL-2.0
/* xwg-mesh: watching the node-list file. See file_source.h. */
#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "mesh/file_source.h"

int mesh_file_source_open(struct mesh_file_source *fs, const char *path, char *err,
			  size_t errlen)
{
	char dir[PATH_MAX];
	const char *slash;
	int ret;

	memset(fs, 0, sizeof(*fs));
	fs->fd = -1;
	if (snprintf(fs->path, sizeof(fs->path), "%s", path) >= (int)sizeof(fs->path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	slash = strrchr(path, '/');
	if (slash) {
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
		snprintf(fs->base, sizeof(fs->base), "%s", slash + 1);
	} else {
		snprintf(dir, sizeof(dir), ".");
		snprintf(fs->base, sizeof(fs->base), "%s", path);
	}
	if (!fs->base[0]) {
		snprintf(err, errlen, "%s: names a directory, not a file", path);
		return -EINVAL;
	}
	fs->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fs->fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "inotify: %s", strerror(-ret));
		return ret;
	}
	if (inotify_add_watch(fs->fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE |
				       IN_DELETE | IN_MOVED_FROM) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot watch %s: %s", dir, strerror(-ret));
		close(fs->fd);
		fs->fd = -1;
		return ret;
	}
	return 0;
}

bool mesh_file_source_changed(struct mesh_file_source *fs)
{
	alignas(struct inotify_event) char buf[8192];
	bool changed = false;
	ssize_t n;

	while ((n = read(fs->fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			if (ev->mask & IN_Q_OVERFLOW)
				changed = true;
			else if (ev->len && !strcmp(ev->name, fs->base))
				changed = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return changed;
}

void mesh_file_source_close(struct mesh_file_source *fs)
{
	if (fs->fd >= 0)
		close(fs->fd);
	fs->fd = -1;
}
