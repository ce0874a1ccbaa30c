// SPDX-License-Identifier: GPL-2.0
/*
 * The pin directory of the fast path and its lock (see loader_internal.h):
 * bpffs mounted on /sys/fs/bpf if it is not, /sys/fs/bpf/xwg/IFNAME
 * created and flocked (one instance per IFNAME), and the pins a dead
 * instance left there removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "base/log.h"
#include "ctl/maps/loader_internal.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

/* A lock whose directory was replaced under us is retried this often. */
#define LOCK_TRIES 3
/* How long a new instance waits for a departing one to let go. */
#define LOCK_WAIT_MS 5000

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && (unsigned long)st.f_type == BPF_FS_MAGIC;
}

int fastpath_bpffs_ensure(struct fastpath *fp)
{
	struct stat st;

	if (is_bpffs(FASTPATH_BPFFS))
		return 0;
	if (stat(FASTPATH_BPFFS, &st) || !S_ISDIR(st.st_mode))
		return fastpath_fail(fp, -ENOENT, FASTPATH_BPFFS " does not exist: mount sysfs on /sys");
	if (mount("bpf", FASTPATH_BPFFS, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0700"))
		return fastpath_fail(fp, -errno,
				     "bpffs is not mounted on " FASTPATH_BPFFS " and mounting it failed (%s): "
				     "mount it (mount -t bpf bpf " FASTPATH_BPFFS ") or run with CAP_SYS_ADMIN",
				     strerror(errno));
	log_info("mounted bpffs on " FASTPATH_BPFFS " (it was not): pins there are "
		 "visible in this mount namespace only");
	return 0;
}

static int mkdir_one(const char *path, mode_t mode)
{
	if (mkdir(path, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

/* mkdir -p the pin directory, then hold an exclusive flock on it. A
 * directory removed (by its unloading owner) between our open and our lock
 * is no longer the path's: try again with the new one. */
int fastpath_lock_take(struct fastpath *fp)
{
	struct stat held, now;
	int tries, fd, ret, waited;

	ret = mkdir_one(XWG_PIN_ROOT, 0755);
	if (ret)
		return fastpath_fail(fp, ret, "cannot create " XWG_PIN_ROOT ": %s", strerror(-ret));
	for (tries = 0; tries < LOCK_TRIES; tries++) {
		ret = mkdir_one(fp->pin_dir, 0700);
		if (ret)
			return fastpath_fail(fp, ret, "cannot create %s: %s", fp->pin_dir,
					     strerror(-ret));
		fd = open(fp->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			return fastpath_fail(fp, -errno, "cannot open %s: %s", fp->pin_dir,
					     strerror(errno));
		}
		/* An instance that is leaving (its successor started right
		 * after it released the name) holds it a little longer. */
		for (waited = 0; flock(fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK &&
				 waited < LOCK_WAIT_MS; waited += 10)
			usleep(10000);
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			ret = -errno;
			close(fd);
			if (ret == -EWOULDBLOCK)
				return fastpath_fail(fp, -EBUSY,
						     "another xwgd runs the fast path of %s (it holds the lock on %s)",
						     fp->ifname, fp->pin_dir);
			return fastpath_fail(fp, ret, "cannot lock %s: %s", fp->pin_dir,
					     strerror(-ret));
		}
		if (!fstat(fd, &held) && !stat(fp->pin_dir, &now) &&
		    held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
			fp->lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	return fastpath_fail(fp, -EAGAIN, "%s keeps being replaced: is another xwgd for %s starting and stopping?",
			     fp->pin_dir, fp->ifname);
}

/* Removes every pin in the directory (ours are files: maps). Returns how
 * many it removed or -errno. */
int fastpath_pins_remove(const char *dir, int lock_fd)
{
	struct dirent *de;
	DIR *d;
	int fd, n = 0, ret = 0;

	fd = openat(lock_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0)) {
			ret = -errno;
			log_error("cannot remove %s/%s: %s", dir, de->d_name,
				  strerror(errno));
			continue;
		}
		n++;
	}
	closedir(d);
	return ret ? ret : n;
}

void fastpath_reap(struct fastpath *fp)
{
	int ret = twin_link_remove_leftover(fp->ifname);

	if (ret < 0)
		log_error("cannot remove the pair of %s: %s", fp->ifname, strerror(-ret));
	if (fp->lock_fd >= 0 && fastpath_pins_remove(fp->pin_dir, fp->lock_fd) >= 0)
		rmdir(fp->pin_dir);
}

void fastpath_lock_release(struct fastpath *fp, bool remove_dir)
{
	if (fp->lock_fd < 0)
		return;
	if (remove_dir) {
		(void)fastpath_pins_remove(fp->pin_dir, fp->lock_fd);
		if (rmdir(fp->pin_dir) && errno != ENOENT)
			log_error("cannot remove %s: %s", fp->pin_dir, strerror(errno));
		/* Shared by every interface: only if it is empty now. */
		(void)rmdir(XWG_PIN_ROOT);
	}
	close(fp->lock_fd);
	fp->lock_fd = -1;
}
