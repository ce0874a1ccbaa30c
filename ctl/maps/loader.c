// SPDX-License-Identifier: GPL-2.0
/*
 * Loading, pinning, attaching and cleaning up the fast path (see loader.h).
 *
 * Order of fastpath_load; if a step fails, the err_ labels undo the ones
 * before it in reverse:
 *   1. can we load BPF at all (CAP_BPF)? which underlays? is bpffs
 *      mounted (mount it)?
 *   2. lock: mkdir and flock /sys/fs/bpf/xwg/IFNAME (one instance each)
 *   3. clean up a crashed instance: stale pins, its pair, its XDP programs
 *   4. pair: IFNAME and its twin
 *   5. skeletons: open with pin_root_path, load (maps created and pinned
 *      by the first, reused by the others), the config map, mmap peer_stats
 *   6. attach: xdp_twin to the twin, tc_tx to IFNAME egress, xdp_rx to the
 *      underlays
 *
 * This file holds that order, the maps (the fds of every map, the config
 * map, peer_stats mmapped) and fastpath_fail; each step's own work is in
 * the file of its concern (loader_internal.h lists them).
 */
#include <errno.h>
#include <sys/stat.h>
#include <time.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "base/log.h"
#include "ctl/maps/loader_internal.h"
#include "ctl/maps/sync.h"

static const char *const map_names[FASTPATH_MAPS] = {
	[FASTPATH_MAP_ALLOWED_IPS_V4] = "allowed_ips_v4",
	[FASTPATH_MAP_ALLOWED_IPS_V6] = "allowed_ips_v6",
	[FASTPATH_MAP_INDICES] = "indices",
	[FASTPATH_MAP_PEERS] = "peers",
	[FASTPATH_MAP_PEER_STATS] = "peer_stats",
	[FASTPATH_MAP_DROPS] = "drops",
	[FASTPATH_MAP_CONFIG] = "config",
	[FASTPATH_MAP_XSKS_RX] = "xsks_rx",
	[FASTPATH_MAP_XSKS_TX] = "xsks_tx",
	[FASTPATH_MAP_EVENTS] = "events",
	[FASTPATH_MAP_XSK_STATS] = "xsk_stats",
};

const char *fastpath_map_name(enum fastpath_map map)
{
	return (unsigned int)map < FASTPATH_MAPS ? map_names[map] : "?";
}

int fastpath_map_fd(const struct fastpath *fp, enum fastpath_map map)
{
	if (!fp->loaded || (unsigned int)map >= FASTPATH_MAPS)
		return -EBADF;
	return fp->map_fds[map];
}

const char *fastpath_xdp_mode_name(enum fastpath_xdp_mode mode)
{
	switch (mode) {
	case FASTPATH_XDP_NATIVE:
		return "native";
	case FASTPATH_XDP_GENERIC:
		return "generic";
	case FASTPATH_XDP_NONE:
		break;
	}
	return "none";
}

int fastpath_fail(struct fastpath *fp, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fp->error, sizeof(fp->error), fmt, ap);
	va_end(ap);
	log_debug("fast path of %s: %s", fp->ifname, fp->error);
	return ret < 0 ? ret : -EIO;
}

/* --- maps ---------------------------------------------------------------- */

static int config_write(struct fastpath *fp)
{
	struct xwg_config cfg = {
		.listen_port = htons(fp->listen_port),
		.wg_ifindex = (uint32_t)fp->twin.ifindex,
		.twin_ifindex = (uint32_t)fp->twin.twin_ifindex,
		.event_interval_ms = fp->event_interval_ms,
		.xsk_ifindex = (uint32_t)fp->xsk_ifindex,
		.alive_s = fastpath_monotonic_s(),
		.owner_pid = (uint32_t)getpid(),
		.owner_pidns = fastpath_pidns(),
	};
	uint32_t key = 0;

	if (bpf_map_update_elem(fp->map_fds[FASTPATH_MAP_CONFIG], &key, &cfg, BPF_ANY))
		return -errno;
	return 0;
}

/* The rewrites after loading count for the test seam (sync.h); the
 * caller logs and retries (ctl/fastpath.c). */
static int config_rewrite(struct fastpath *fp)
{
	int ret = fastpath_map_write_fault("config");

	return ret ? ret : config_write(fp);
}

int fastpath_listen_port_set(struct fastpath *fp, uint16_t listen_port)
{
	if (!fp->loaded)
		return -EBADF;
	fp->listen_port = listen_port;
	return config_rewrite(fp);
}

uint32_t fastpath_monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_sec;
}

uint64_t fastpath_pidns(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) ? 0 : (uint64_t)st.st_ino;
}

int fastpath_heartbeat(struct fastpath *fp)
{
	return fp->loaded ? config_write(fp) : -EBADF;
}

int fastpath_xsk_ifindex_set(struct fastpath *fp, int ifindex)
{
	if (!fp->loaded)
		return -EBADF;
	fp->xsk_ifindex = ifindex;
	return config_rewrite(fp);
}

int fastpath_config_rewrite(struct fastpath *fp)
{
	return fp->loaded ? config_rewrite(fp) : -EBADF;
}

/* Every map, from whichever object declares it (they share the pins). */
static int maps_find(struct fastpath *fp)
{
	unsigned int m;
	int which;

	for (m = 0; m < FASTPATH_MAPS; m++) {
		fp->map_fds[m] = -1;
		for (which = 0; which < 3 && fp->map_fds[m] < 0; which++) {
			struct bpf_object *obj = fastpath_skeleton_object(fp, which);
			struct bpf_map *map = obj ?
				bpf_object__find_map_by_name(obj, map_names[m]) : NULL;

			if (map)
				fp->map_fds[m] = bpf_map__fd(map);
		}
		if (fp->map_fds[m] < 0)
			return fastpath_fail(fp, -ENOENT, "no program declares the map %s: "
					     "bpf/ and include/maps.h disagree", map_names[m]);
	}
	return 0;
}

/* peer_stats, mmapped read-write: the daemon's once-a-second counters
 * are stores into memory, not one bpf() call per peer. */
static int peer_stats_map(struct fastpath *fp)
{
	int fd = fp->map_fds[FASTPATH_MAP_PEER_STATS];
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return fastpath_fail(fp, -errno, "cannot inspect the peer_stats map: %s", strerror(errno));
	if (info.value_size != sizeof(struct xwg_peer_stats) || info.max_entries != XWG_MAX_PEERS ||
	    !(info.map_flags & BPF_F_MMAPABLE))
		return fastpath_fail(fp, -EINVAL, "the peer_stats map is not an mmapable array of "
				     "struct xwg_peer_stats: bpf/ and include/maps.h disagree");
	fp->peer_stats_size = ((size_t)info.value_size * info.max_entries +
			       (size_t)page - 1) & ~((size_t)page - 1);
	p = mmap(NULL, fp->peer_stats_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fp->peer_stats_size = 0;
		return fastpath_fail(fp, -errno, "cannot mmap the peer_stats map: %s", strerror(errno));
	}
	fp->peer_stats = p;
	return 0;
}

static void peer_stats_unmap(struct fastpath *fp)
{
	if (fp->peer_stats)
		munmap(fp->peer_stats, fp->peer_stats_size);
	fp->peer_stats = NULL;
	fp->peer_stats_size = 0;
}

/* --- load and unload ----------------------------------------------------- */

/* Can this process use BPF at all, and does the kernel have what the
 * programs need? Tells "no permission" and "kernel too old" apart from
 * every later failure. (libbpf's probes say 0 for both.) */
static int bpf_usable(struct fastpath *fp)
{
	int fd, ret;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "xwg_probe", 4, 4, 1, NULL);
	if (fd < 0) {
		ret = -errno;
		if (ret == -EPERM || ret == -EACCES)
			return fastpath_fail(fp, -EPERM, "not allowed to use BPF: needs CAP_BPF, CAP_NET_ADMIN "
					     "and CAP_PERFMON (or root)");
		return fastpath_fail(fp, ret, "cannot use BPF: %s%s", strerror(-ret),
				     ret == -ENOSYS ? " (kernel without CONFIG_BPF_SYSCALL)" : "");
	}
	close(fd);
	fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "xwg_probe", 0, 0, 4096, NULL);
	if (fd < 0)
		return fastpath_fail(fp, -EOPNOTSUPP, "the kernel has no BPF ring buffers (%s): "
				     "the fast path needs Linux 5.8 or later", strerror(errno));
	close(fd);
	ret = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, NULL);
	if (ret != 1)
		return fastpath_fail(fp, -EOPNOTSUPP, "the kernel cannot load XDP programs "
				     "(CONFIG_XDP_SOCKETS, CONFIG_BPF_JIT?)");
	return 0;
}

static void fastpath_reset(struct fastpath *fp)
{
	unsigned int m;

	memset(fp, 0, sizeof(*fp));
	fp->lock_fd = -1;
	fp->twin_xdp.link_fd = -1;
	for (m = 0; m < FASTPATH_MAPS; m++)
		fp->map_fds[m] = -1;
}

int fastpath_load(struct fastpath *fp, const char *ifname,
		  const struct fastpath_opts *opts)
{
	static const struct fastpath_opts no_opts;
	int picked[FASTPATH_MAX_UNDERLAYS];
	char twin_name[IFNAMSIZ], line[256];
	unsigned int i, n_picked;
	size_t off;
	int ret;

	fastpath_reset(fp);
	if (!opts)
		opts = &no_opts;
	if (!ifname || twin_name_derive(ifname, twin_name))
		return fastpath_fail(fp, -EINVAL, "'%s' is not a usable interface name",
				     ifname ? ifname : "(null)");
	snprintf(fp->ifname, sizeof(fp->ifname), "%s", ifname);
	snprintf(fp->pin_dir, sizeof(fp->pin_dir), XWG_PIN_ROOT "/%s", ifname);
	fp->netlink_attach = opts->netlink_attach;
	fp->tun_mode = opts->tun_ifindex > 0;
	fp->xdp_auto = !opts->n_underlays;
	fp->xdp_on_veth = opts->xdp_on_veth;
	fp->listen_port = opts->listen_port;
	fp->event_interval_ms = opts->event_interval_ms ? opts->event_interval_ms :
				FASTPATH_EVENT_INTERVAL_MS;

	/* 1. */
	ret = bpf_usable(fp);
	if (ret)
		return ret;
	ret = fastpath_underlays_resolve(fp, opts, picked, &n_picked);
	if (ret)
		return ret;
	ret = fastpath_bpffs_ensure(fp);
	if (ret)
		return ret;
	/* 2. */
	ret = fastpath_lock_take(fp);
	if (ret)
		return ret;
	/* 3. Ours now: whatever is here was left by a dead instance. */
	ret = fastpath_pins_remove(fp->pin_dir, fp->lock_fd);
	if (ret < 0) {
		ret = fastpath_fail(fp, ret, "cannot remove stale pins in %s: %s", fp->pin_dir,
				    strerror(-ret));
		goto err_lock;
	}
	if (ret > 0)
		log_info("removed %d stale pins from %s, left behind by an xwgd that did not exit cleanly",
			 ret, fp->pin_dir);
	ret = twin_link_remove_leftover(ifname);
	if (ret < 0) {
		ret = fastpath_fail(fp, ret, "cannot remove the pair a previous xwgd left for %s: %s",
				    ifname, strerror(-ret));
		goto err_lock;
	}
	fastpath_orphans_detach();
	/* 4. */
	if (fp->tun_mode) {
		snprintf(fp->twin.name, sizeof(fp->twin.name), "%s", ifname);
		fp->twin.ifindex = opts->tun_ifindex;
		fp->twin.queues = 1;
		ret = 0;
	} else {
		ret = twin_link_create(&fp->twin, ifname, opts->queues);
	}
	if (ret) {
		if (ret == -EEXIST)
			ret = fastpath_fail(fp, ret, "cannot create %s and %s: an interface of one of these names "
					    "exists (and is not a leftover of xwgd)", ifname, twin_name);
		else
			ret = fastpath_fail(fp, ret, "cannot create the interface pair %s/%s: %s%s", ifname,
					    twin_name, strerror(-ret),
					    ret == -EPERM ? " (needs CAP_NET_ADMIN)" :
					    ret == -EOPNOTSUPP ? " (kernel without veth)" : "");
		goto err_lock;
	}
	/* 5. */
	ret = fastpath_skeletons_load(fp);
	if (ret)
		goto err_skeletons;
	ret = maps_find(fp);
	if (ret)
		goto err_skeletons;
	ret = config_write(fp);
	if (ret) {
		ret = fastpath_fail(fp, ret, "cannot write the config map: %s", strerror(-ret));
		goto err_skeletons;
	}
	ret = peer_stats_map(fp);
	if (ret)
		goto err_skeletons;
	/* 6. */
	fp->loaded = true;
	if (!fp->tun_mode) {
		snprintf(fp->twin_xdp.ifname, sizeof(fp->twin_xdp.ifname), "%s",
			 fp->twin.twin_name);
		fp->twin_xdp.ifindex = fp->twin.twin_ifindex;
		ret = fastpath_xdp_attach(fp, &fp->twin_xdp, fastpath_prog_fd_twin(fp), "xdp_twin");
		if (ret)
			goto err_peer_stats;
	}
	ret = fastpath_tc_attach(fp, fastpath_prog_fd_tx(fp));
	if (ret)
		goto err_twin_xdp;
	ret = fastpath_underlays_attach(fp, picked, n_picked, opts->n_underlays > 0);
	if (ret)
		goto err_tc;

	if (fp->tun_mode)
		off = (size_t)snprintf(line, sizeof(line), "fast path of %s loaded: tc_tx on %s "
				       "egress (TUN), xdp_rx on", ifname, ifname);
	else
		off = (size_t)snprintf(line, sizeof(line), "fast path of %s loaded: xdp_twin on "
				       "%s (%s), tc_tx on %s egress, xdp_rx on", ifname,
				       fp->twin.twin_name,
				       fastpath_xdp_mode_name(fp->twin_xdp.mode), ifname);
	if (!fp->n_underlays && off < sizeof(line))
		off += (size_t)snprintf(line + off, sizeof(line) - off, " no interface (data "
					"messages arrive through the UDP socket)");
	for (i = 0; i < fp->n_underlays && off < sizeof(line); i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s %s (%s)",
					i ? "," : "", fp->underlays[i].ifname,
					fastpath_xdp_mode_name(fp->underlays[i].mode));
	log_info("%s; maps in %s", line, fp->pin_dir);
	return 0;

err_tc:
	fastpath_tc_detach(fp);
err_twin_xdp:
	fastpath_xdp_detach(&fp->twin_xdp, fastpath_prog_fd_twin(fp));
err_peer_stats:
	fp->loaded = false;
	peer_stats_unmap(fp);
err_skeletons:
	fastpath_skeletons_destroy(fp);
	twin_link_destroy(&fp->twin);
err_lock:
	fastpath_lock_release(fp, true);
	return ret;
}

void fastpath_unload(struct fastpath *fp)
{
	if (!fp->loaded)
		return;
	fastpath_underlays_remove(fp);
	fastpath_tc_detach(fp);
	fastpath_xdp_detach(&fp->twin_xdp, fastpath_prog_fd_twin(fp));
	peer_stats_unmap(fp);
	fastpath_skeletons_destroy(fp);
	twin_link_destroy(&fp->twin);
	fastpath_lock_release(fp, true);
	fp->loaded = false;
	log_info("fast path of %s unloaded", fp->ifname);
}
