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
 * The skeletons come from build/bpf/ (the Makefile builds them before any
 * C file). A build without them (the fuzz targets compile every library
 * source without -Ibuild) gets a fastpath_load that says so.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if_arp.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/magic.h>
#include <linux/rtnetlink.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include "ctl/log.h"
#include "ctl/maps/loader.h"
#include "ctl/maps/sync.h"

#define HAVE_SKELETONS 0
#ifdef __has_include
#if __has_include("bpf/xdp_rx.skel.h") && __has_include("bpf/tc_tx.skel.h") && \
	__has_include("bpf/xdp_twin.skel.h")
#undef HAVE_SKELETONS
#define HAVE_SKELETONS 1
#include "bpf/tc_tx.skel.h"
#include "bpf/xdp_rx.skel.h"
#include "bpf/xdp_twin.skel.h"
#endif
#endif

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

#define PROG_PREFIX "xwg_"
/* A lock whose directory was replaced under us is retried this often. */
#define LOCK_TRIES 3
/* How long a new instance waits for a departing one to let go. */
#define LOCK_WAIT_MS 5000
/* libbpf's warnings kept while loading, for the reason of a failure. */
#define LIBBPF_LOG_MAX (64 * 1024)

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

/* Records why the load failed (one line for the daemon's log) and
 * returns ret. */
__attribute__((format(printf, 3, 4)))
static int fail(struct fastpath *fp, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fp->error, sizeof(fp->error), fmt, ap);
	va_end(ap);
	log_debug("fast path of %s: %s", fp->ifname, fp->error);
	return ret < 0 ? ret : -EIO;
}

/* --- bpffs and the lock -------------------------------------------------- */

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && (unsigned long)st.f_type == BPF_FS_MAGIC;
}

static int bpffs_ensure(struct fastpath *fp)
{
	struct stat st;

	if (is_bpffs(FASTPATH_BPFFS))
		return 0;
	if (stat(FASTPATH_BPFFS, &st) || !S_ISDIR(st.st_mode))
		return fail(fp, -ENOENT, FASTPATH_BPFFS " does not exist: mount sysfs on /sys");
	if (mount("bpf", FASTPATH_BPFFS, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0700"))
		return fail(fp, -errno,
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
static int lock_take(struct fastpath *fp)
{
	struct stat held, now;
	int tries, fd, ret, waited;

	ret = mkdir_one(XWG_PIN_ROOT, 0755);
	if (ret)
		return fail(fp, ret, "cannot create " XWG_PIN_ROOT ": %s", strerror(-ret));
	for (tries = 0; tries < LOCK_TRIES; tries++) {
		ret = mkdir_one(fp->pin_dir, 0700);
		if (ret)
			return fail(fp, ret, "cannot create %s: %s", fp->pin_dir,
				    strerror(-ret));
		fd = open(fp->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			return fail(fp, -errno, "cannot open %s: %s", fp->pin_dir,
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
				return fail(fp, -EBUSY,
					    "another xwgd runs the fast path of %s (it holds the lock on %s)",
					    fp->ifname, fp->pin_dir);
			return fail(fp, ret, "cannot lock %s: %s", fp->pin_dir,
				    strerror(-ret));
		}
		if (!fstat(fd, &held) && !stat(fp->pin_dir, &now) &&
		    held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
			fp->lock_fd = fd;
			return 0;
		}
		close(fd);
	}
	return fail(fp, -EAGAIN, "%s keeps being replaced: is another xwgd for %s starting and stopping?",
		    fp->pin_dir, fp->ifname);
}

/* Removes every pin in the directory (ours are files: maps). Returns how
 * many it removed or -errno. */
static int pins_remove(const char *dir, int lock_fd)
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
	if (fp->lock_fd >= 0 && pins_remove(fp->pin_dir, fp->lock_fd) >= 0)
		rmdir(fp->pin_dir);
}

static void lock_release(struct fastpath *fp, bool remove_dir)
{
	if (fp->lock_fd < 0)
		return;
	if (remove_dir) {
		(void)pins_remove(fp->pin_dir, fp->lock_fd);
		if (rmdir(fp->pin_dir) && errno != ENOENT)
			log_error("cannot remove %s: %s", fp->pin_dir, strerror(errno));
		/* Shared by every interface: only if it is empty now. */
		(void)rmdir(XWG_PIN_ROOT);
	}
	close(fp->lock_fd);
	fp->lock_fd = -1;
}

/* --- programs already attached ------------------------------------------- */

struct prog_desc {
	char name[BPF_OBJ_NAME_LEN];
	uint32_t map_ids[16];
	uint32_t n_map_ids;
};

static int prog_describe(uint32_t id, int *fd_out, struct prog_desc *pd)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	int fd;

	memset(pd, 0, sizeof(*pd));
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return -errno;
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = sizeof(pd->map_ids) / sizeof(pd->map_ids[0]);
	info.map_ids = (uint64_t)(uintptr_t)pd->map_ids;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		close(fd);
		return -errno;
	}
	memcpy(pd->name, info.name, sizeof(pd->name) - 1);
	pd->n_map_ids = info.nr_map_ids < 16 ? info.nr_map_ids : 16;
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return 0;
}

static bool name_is_ours(const char *name)
{
	return !strncmp(name, PROG_PREFIX, strlen(PROG_PREFIX));
}

/* The tunnel interface an xwg program serves: its config map's
 * wg_ifindex (0 if it has no config map or nothing written there). */
static int prog_owner(const struct prog_desc *pd)
{
	struct bpf_map_info info;
	struct xwg_config cfg;
	uint32_t i, len, key = 0;
	int fd, owner = 0;

	for (i = 0; i < pd->n_map_ids && !owner; i++) {
		fd = bpf_map_get_fd_by_id(pd->map_ids[i]);
		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    !strcmp(info.name, "config") &&
		    info.value_size == sizeof(cfg) &&
		    !bpf_map_lookup_elem(fd, &key, &cfg))
			owner = (int)cfg.wg_ifindex;
		close(fd);
	}
	return owner;
}

/* An xwg program whose instance is gone: its owner is no interface of this
 * namespace (any more). */
static bool prog_is_orphan(const struct prog_desc *pd)
{
	char name[IF_NAMESIZE];
	int owner = prog_owner(pd);

	/* No owner to ask (xdp_twin reads no config map): it sits on a twin,
	 * which goes with its pair; never take another instance's. */
	return owner && !if_indextoname((unsigned int)owner, name);
}

/* Detaches orphaned xwg XDP programs from one interface; returns how many. */
static int orphans_detach_one(int ifindex, const char *ifname)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	static const uint32_t modes[] = { XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE };
	struct prog_desc pd;
	uint32_t ids[2];
	int i, fd, n = 0;

	if (bpf_xdp_query(ifindex, 0, &q))
		return 0;
	ids[0] = q.drv_prog_id;
	ids[1] = q.skb_prog_id;
	for (i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o);

		if (!ids[i] || prog_describe(ids[i], &fd, &pd))
			continue;
		if (name_is_ours(pd.name) && prog_is_orphan(&pd)) {
			o.old_prog_fd = fd;
			if (bpf_xdp_detach(ifindex, modes[i], &o)) {
				log_error("cannot detach the orphaned %s (id %u) from %s: %s",
					  pd.name, ids[i], ifname, strerror(errno));
			} else {
				log_info("detached %s (id %u) from %s, left behind by an xwgd that did not exit cleanly",
					 pd.name, ids[i], ifname);
				n++;
			}
		}
		close(fd);
	}
	return n;
}

static void orphans_detach(void)
{
	struct if_nameindex *ifs, *i;

	ifs = if_nameindex();
	if (!ifs)
		return;
	for (i = ifs; i->if_index; i++)
		orphans_detach_one((int)i->if_index, i->if_name);
	if_freenameindex(ifs);
}

/* "XDP program 'foo' (id 42)" for what is attached to ifindex now; for
 * one of ours, also which interface's fast path it serves. */
static void describe_attached(int ifindex, char *buf, size_t size)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	char owner[IF_NAMESIZE];
	struct prog_desc pd;
	uint32_t id;
	int len;

	snprintf(buf, size, "another XDP program");
	if (bpf_xdp_query(ifindex, 0, &q))
		return;
	id = q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id ? q.skb_prog_id : q.hw_prog_id;
	if (!id || prog_describe(id, NULL, &pd))
		return;
	len = snprintf(buf, size, "XDP program '%s' (id %u)", pd.name, id);
	if (len > 0 && (size_t)len < size && name_is_ours(pd.name) &&
	    if_indextoname((unsigned int)prog_owner(&pd), owner))
		snprintf(buf + len, size - (size_t)len,
			 " of the fast path of %s (one underlay serves one xwg interface)",
			 owner);
}

/* --- underlays ----------------------------------------------------------- */

static int nl_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_PERM:
		return -EPERM;
	case NLE_NODEV:
	case NLE_OBJ_NOTFOUND:
		return -ENODEV;
	case NLE_INVAL:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static bool mac_is_xwg(struct rtnl_link *link)
{
	static const uint8_t mac[6] = TWIN_LINK_MAC, twin_mac[6] = TWIN_LINK_TWIN_MAC;
	struct nl_addr *a = rtnl_link_get_addr(link);

	if (!a || nl_addr_get_len(a) != 6)
		return false;
	return !memcmp(nl_addr_get_binary_addr(a), mac, 6) ||
	       !memcmp(nl_addr_get_binary_addr(a), twin_mac, 6);
}

static void underlay_pick(int *picked, unsigned int *n, int ifindex)
{
	unsigned int i;

	for (i = 0; i < *n; i++)
		if (picked[i] == ifindex)
			return;
	if (*n < FASTPATH_MAX_UNDERLAYS)
		picked[(*n)++] = ifindex;
}

/* The default: interfaces of the default routes, else every interface that
 * is up, Ethernet, not loopback and not an xwg pair. */
static int underlays_default(struct fastpath *fp, int *picked, unsigned int *n)
{
	struct nl_cache *routes = NULL, *links = NULL;
	struct nl_object *obj;
	struct nl_sock *sk;
	int ret;

	*n = 0;
	sk = nl_socket_alloc();
	if (!sk)
		return fail(fp, -ENOMEM, "out of memory");
	ret = nl_connect(sk, NETLINK_ROUTE);
	if (!ret)
		ret = rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &routes);
	if (!ret)
		ret = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
	if (ret) {
		ret = fail(fp, nl_errno(ret), "cannot read routes and links: %s",
			   nl_geterror(ret));
		goto out;
	}
	for (obj = nl_cache_get_first(routes); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_route *r = (struct rtnl_route *)obj;
		struct nl_addr *dst = rtnl_route_get_dst(r);
		int i;

		if (rtnl_route_get_table(r) != RT_TABLE_MAIN ||
		    rtnl_route_get_type(r) != RTN_UNICAST ||
		    (dst && nl_addr_get_prefixlen(dst) != 0))
			continue;
		for (i = 0; i < rtnl_route_get_nnexthops(r); i++) {
			int oif = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, i));
			struct rtnl_link *l = rtnl_link_get(links, oif);

			if (l && !mac_is_xwg(l) && !(rtnl_link_get_flags(l) & IFF_LOOPBACK))
				underlay_pick(picked, n, oif);
			if (l)
				rtnl_link_put(l);
		}
	}
	if (!*n) {
		for (obj = nl_cache_get_first(links); obj; obj = nl_cache_get_next(obj)) {
			struct rtnl_link *l = (struct rtnl_link *)obj;

			if ((rtnl_link_get_flags(l) & IFF_UP) &&
			    !(rtnl_link_get_flags(l) & IFF_LOOPBACK) &&
			    rtnl_link_get_arptype(l) == ARPHRD_ETHER && !mac_is_xwg(l))
				underlay_pick(picked, n, rtnl_link_get_ifindex(l));
		}
	}
	/* None yet (a host still coming up, a namespace without links):
	 * the daemon attaches to the interface of each peer's endpoint as
	 * it learns them (fastpath_underlay_attach). */
	if (!*n)
		log_info("fast path of %s: no underlay interface yet (no default route, no "
			 "Ethernet interface up); xdp_rx will go where the peers' endpoints are",
			 fp->ifname);
out:
	if (routes)
		nl_cache_free(routes);
	if (links)
		nl_cache_free(links);
	nl_socket_free(sk);
	return ret;
}

struct route_reply {
	int oif;
	int error;
	bool done;
};

static int route_on_msg(struct nl_msg *msg, void *arg)
{
	struct route_reply *r = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[RTA_MAX + 1];

	if (nlh->nlmsg_type == RTM_NEWROUTE &&
	    !nlmsg_parse(nlh, sizeof(struct rtmsg), tb, RTA_MAX, NULL) &&
	    tb[RTA_OIF])
		r->oif = (int)nla_get_u32(tb[RTA_OIF]);
	r->done = true;
	return NL_OK;
}

static int route_on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct route_reply *r = arg;

	(void)nla;
	r->error = e->error < 0 ? e->error : -EIO;
	r->done = true;
	return NL_STOP;
}

int fastpath_route_oif(int family, const void *addr, int *ifindex)
{
	struct rtmsg rtm = { .rtm_family = (unsigned char)family };
	struct route_reply r = { 0 };
	struct nl_msg *msg;
	struct nl_sock *sk;
	int ret, len = family == AF_INET ? 4 : 16;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	ret = nl_connect(sk, NETLINK_ROUTE);
	if (ret) {
		ret = nl_errno(ret);
		goto out_sock;
	}
	msg = nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_REQUEST);
	if (!msg) {
		ret = -ENOMEM;
		goto out_sock;
	}
	rtm.rtm_dst_len = (unsigned char)(len * 8);
	if (nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) ||
	    nla_put(msg, RTA_DST, len, addr)) {
		ret = -ENOMEM;
		goto out_msg;
	}
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, route_on_msg, &r);
	nl_socket_modify_err_cb(sk, NL_CB_CUSTOM, route_on_error, &r);
	ret = nl_send_auto(sk, msg);
	if (ret < 0) {
		ret = nl_errno(ret);
		goto out_msg;
	}
	ret = 0;
	while (!r.done && !ret)
		ret = nl_recvmsgs_default(sk) < 0 ? -EIO : 0;
	if (r.error)
		ret = r.error;
	else if (!ret && !r.oif)
		ret = -ENETUNREACH;
	else if (!ret)
		*ifindex = r.oif;
out_msg:
	nlmsg_free(msg);
out_sock:
	nl_socket_free(sk);
	return ret;
}

/* --- attaching ----------------------------------------------------------- */

static uint32_t prog_id_of(int prog_fd)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(prog_fd, &info, &len) ? 0 : info.id;
}

/* Native first, generic if the driver has no XDP. */
static int xdp_attach(struct fastpath *fp, struct fastpath_xdp *x, int prog_fd,
		      const char *what)
{
	static const struct {
		uint32_t flags;
		enum fastpath_xdp_mode mode;
	} modes[] = {
		{ XDP_FLAGS_DRV_MODE, FASTPATH_XDP_NATIVE },
		{ XDP_FLAGS_SKB_MODE, FASTPATH_XDP_GENERIC },
	};
	char other[160];
	int ret = 0, native_err = 0;
	unsigned int i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (fp->netlink_attach) {
			ret = bpf_xdp_attach(x->ifindex, prog_fd,
					     XDP_FLAGS_UPDATE_IF_NOEXIST | modes[i].flags, NULL);
			ret = ret ? -errno : 0;
		} else {
			LIBBPF_OPTS(bpf_link_create_opts, o, .flags = modes[i].flags);

			ret = bpf_link_create(prog_fd, x->ifindex, BPF_XDP, &o);
			if (ret >= 0) {
				x->link_fd = ret;
				ret = 0;
			} else {
				ret = -errno;
			}
		}
		if (!ret) {
			x->mode = modes[i].mode;
			x->prog_id = prog_id_of(prog_fd);
			if (native_err)
				log_info("%s: no native XDP (%s): %s runs in generic mode, slower",
					 x->ifname, strerror(-native_err), what);
			return 0;
		}
		if (ret == -EBUSY || ret == -EEXIST) {
			describe_attached(x->ifindex, other, sizeof(other));
			return fail(fp, -EBUSY,
				    "%s already has %s attached: detach it (ip link set dev %s xdp off) "
				    "or leave %s out of XWG_XDP_IFACES",
				    x->ifname, other, x->ifname, x->ifname);
		}
		if (!native_err)
			native_err = ret;
	}
	return fail(fp, ret, "cannot attach %s to %s: native: %s, generic: %s%s",
		    what, x->ifname, strerror(-native_err), strerror(-ret),
		    ret == -EOPNOTSUPP || ret == -EINVAL ?
		    " (no XDP for this device or kernel)" : "");
}

static void xdp_detach(struct fastpath_xdp *x, int prog_fd)
{
	char name[IF_NAMESIZE];

	if (x->mode == FASTPATH_XDP_NONE)
		return;
	if (x->link_fd >= 0) {
		close(x->link_fd);
	} else if (if_indextoname(x->ifindex, name) && !strcmp(name, x->ifname)) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = prog_fd);

		if (bpf_xdp_detach(x->ifindex, x->mode == FASTPATH_XDP_NATIVE ?
				   XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE, &o) &&
		    errno != ENODEV)
			log_error("cannot detach XDP from %s: %s", x->ifname, strerror(errno));
	}
	x->link_fd = -1;
	x->mode = FASTPATH_XDP_NONE;
	x->prog_id = 0;
}

/* tc_tx on IFNAME egress, on a clsact qdisc we add unless one exists. */
static int tc_attach(struct fastpath *fp, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = fp->twin.ifindex,
		    .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = 1, .priority = 1, .prog_fd = prog_fd);
	int ret;

	ret = bpf_tc_hook_create(&hook);
	if (ret && ret != -EEXIST)
		return fail(fp, ret, "cannot add a clsact qdisc to %s: %s%s", fp->ifname,
			    strerror(-ret),
			    ret == -EOPNOTSUPP || ret == -ENOENT ?
			    " (kernel without CONFIG_NET_SCH_INGRESS / clsact?)" : "");
	fp->tc_qdisc_created = !ret;
	ret = bpf_tc_attach(&hook, &o);
	if (ret) {
		if (fp->tc_qdisc_created) {
			hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			bpf_tc_hook_destroy(&hook);
			fp->tc_qdisc_created = false;
		}
		return fail(fp, ret, "cannot attach tc_tx to %s egress: %s", fp->ifname,
			    strerror(-ret));
	}
	fp->tc_prog_id = o.prog_id;
	return 0;
}

static void tc_detach(struct fastpath *fp)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = fp->twin.ifindex,
		    .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = 1, .priority = 1);
	char name[IF_NAMESIZE];
	int ret;

	if (!fp->tc_prog_id && !fp->tc_qdisc_created)
		return;
	/* IFNAME may have moved to another namespace, where this ifindex
	 * names nothing or something else: then the pair's deletion does it. */
	if (if_indextoname((unsigned int)fp->twin.ifindex, name) &&
	    !strcmp(name, fp->ifname)) {
		ret = fp->tc_prog_id ? bpf_tc_detach(&hook, &o) : 0;
		if (ret && ret != -ENOENT && ret != -ENODEV)
			log_error("cannot detach tc_tx from %s: %s", fp->ifname, strerror(-ret));
		if (fp->tc_qdisc_created) {
			hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
			ret = bpf_tc_hook_destroy(&hook);
			if (ret && ret != -ENOENT && ret != -ENODEV)
				log_error("cannot remove the clsact qdisc of %s: %s",
					  fp->ifname, strerror(-ret));
		}
	}
	fp->tc_prog_id = 0;
	fp->tc_qdisc_created = false;
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

/* --- the skeletons ------------------------------------------------------- */

#if HAVE_SKELETONS

/* --- libbpf's messages --------------------------------------------------- */

static char *libbpf_log;
static size_t libbpf_log_len;

static int libbpf_log_capture(enum libbpf_print_level level, const char *fmt,
			      va_list ap)
{
	int n;

	if (level == LIBBPF_DEBUG || !libbpf_log)
		return 0;
	if (libbpf_log_len >= LIBBPF_LOG_MAX - 256) {
		/* Keep the tail: the verifier's verdict is at the end. */
		memmove(libbpf_log, libbpf_log + LIBBPF_LOG_MAX / 2,
			libbpf_log_len - LIBBPF_LOG_MAX / 2);
		libbpf_log_len -= LIBBPF_LOG_MAX / 2;
		libbpf_log[libbpf_log_len] = '\0';
	}
	n = vsnprintf(libbpf_log + libbpf_log_len, LIBBPF_LOG_MAX - libbpf_log_len,
		      fmt, ap);
	if (n > 0)
		libbpf_log_len += (size_t)n < LIBBPF_LOG_MAX - libbpf_log_len ?
				  (size_t)n : LIBBPF_LOG_MAX - libbpf_log_len - 1;
	return 0;
}

/* The line that says why: the verifier's last words before "-- END PROG
 * LOAD LOG --" (skipping its statistics), else libbpf's last line. */
static void libbpf_log_reason(char *buf, size_t size)
{
	char *end, *line, *p;

	buf[0] = '\0';
	if (!libbpf_log || !libbpf_log_len)
		return;
	end = strstr(libbpf_log, "-- END PROG LOAD LOG --");
	if (!end)
		end = libbpf_log + libbpf_log_len;
	for (p = end; p > libbpf_log;) {
		while (p > libbpf_log && (p[-1] == '\n' || p[-1] == ' '))
			p--;
		line = p;
		while (line > libbpf_log && line[-1] != '\n')
			line--;
		if (p > line && strncmp(line, "processed ", 10) &&
		    strncmp(line, "verification time", 17) &&
		    strncmp(line, "stack depth", 11)) {
			snprintf(buf, size, "%.*s", (int)(p - line), line);
			return;
		}
		p = line;
	}
}

static void libbpf_log_forward(void)
{
	char *line, *save = NULL;

	if (!libbpf_log)
		return;
	for (line = strtok_r(libbpf_log, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		log_debug("%s", line);
}

static struct bpf_object *object_of(struct fastpath *fp, int which)
{
	switch (which) {
	case 0:
		return fp->rx_skel ? fp->rx_skel->obj : NULL;
	case 1:
		return fp->tx_skel ? fp->tx_skel->obj : NULL;
	default:
		return fp->twin_skel ? fp->twin_skel->obj : NULL;
	}
}

static int load_failed(struct fastpath *fp, int ret, const char *what)
{
	char why[256];

	libbpf_log_reason(why, sizeof(why));
	if (ret == -EPERM)
		return fail(fp, ret, "not allowed to load %s (needs CAP_BPF and CAP_NET_ADMIN, "
			    "or root)%s%s", what, why[0] ? ": " : "", why);
	if (strstr(libbpf_log ? libbpf_log : "", "BEGIN PROG LOAD LOG"))
		return fail(fp, ret, "the kernel's verifier rejected %s (%s%s): %s", what,
			    strerror(-ret), strstr(libbpf_log, "!root") ? "; needs CAP_PERFMON: "
			    "without it the verifier refuses the programs' pointer arithmetic" : "",
			    why);
	return fail(fp, ret, "cannot load %s: %s%s%s", what, strerror(-ret),
		    why[0] ? ": " : "", why);
}

static int skeletons_load(struct fastpath *fp)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = fp->pin_dir);
	libbpf_print_fn_t old;
	int ret = 0;

	libbpf_log = calloc(1, LIBBPF_LOG_MAX);
	libbpf_log_len = 0;
	old = libbpf_set_print(libbpf_log_capture);

	/* xdp_rx first: it creates and pins every map; the others find the
	 * pins and reuse them. */
	fp->rx_skel = xdp_rx__open_opts(&opts);
	if (!fp->rx_skel) {
		ret = load_failed(fp, -errno, "xdp_rx");
		goto out;
	}
	ret = xdp_rx__load(fp->rx_skel);
	if (ret) {
		ret = load_failed(fp, ret, "xdp_rx (xwg_xdp_rx)");
		goto out;
	}
	fp->tx_skel = tc_tx__open_opts(&opts);
	if (!fp->tx_skel) {
		ret = load_failed(fp, -errno, "tc_tx");
		goto out;
	}
	/* On a TUN the packet starts at its IP header. */
	fp->tx_skel->rodata->l3_device = fp->tun_mode;
	ret = tc_tx__load(fp->tx_skel);
	if (ret) {
		ret = load_failed(fp, ret, "tc_tx (xwg_tc_tx)");
		goto out;
	}
	fp->twin_skel = xdp_twin__open_opts(&opts);
	if (!fp->twin_skel) {
		ret = load_failed(fp, -errno, "xdp_twin");
		goto out;
	}
	ret = xdp_twin__load(fp->twin_skel);
	if (ret)
		ret = load_failed(fp, ret, "xdp_twin (xwg_xdp_twin)");
out:
	libbpf_set_print(old);
	if (ret)
		libbpf_log_forward();
	free(libbpf_log);
	libbpf_log = NULL;
	return ret;
}

static void skeletons_destroy(struct fastpath *fp)
{
	xdp_twin__destroy(fp->twin_skel);
	tc_tx__destroy(fp->tx_skel);
	xdp_rx__destroy(fp->rx_skel);
	fp->twin_skel = NULL;
	fp->tx_skel = NULL;
	fp->rx_skel = NULL;
}

static int prog_fd_rx(struct fastpath *fp)
{
	return bpf_program__fd(fp->rx_skel->progs.xwg_xdp_rx);
}

static int prog_fd_tx(struct fastpath *fp)
{
	return bpf_program__fd(fp->tx_skel->progs.xwg_tc_tx);
}

static int prog_fd_twin(struct fastpath *fp)
{
	return bpf_program__fd(fp->twin_skel->progs.xwg_xdp_twin);
}

#else /* !HAVE_SKELETONS */

static struct bpf_object *object_of(struct fastpath *fp, int which)
{
	(void)fp;
	(void)which;
	return NULL;
}

static int skeletons_load(struct fastpath *fp)
{
	return fail(fp, -ENOSYS, "this build has no BPF programs (built without build/bpf/*.skel.h)");
}

static void skeletons_destroy(struct fastpath *fp)
{
	(void)fp;
}

static int prog_fd_rx(struct fastpath *fp)
{
	(void)fp;
	return -1;
}

static int prog_fd_tx(struct fastpath *fp)
{
	(void)fp;
	return -1;
}

static int prog_fd_twin(struct fastpath *fp)
{
	(void)fp;
	return -1;
}

#endif

/* Every map, from whichever object declares it (they share the pins). */
static int maps_find(struct fastpath *fp)
{
	unsigned int m;
	int which;

	for (m = 0; m < FASTPATH_MAPS; m++) {
		fp->map_fds[m] = -1;
		for (which = 0; which < 3 && fp->map_fds[m] < 0; which++) {
			struct bpf_object *obj = object_of(fp, which);
			struct bpf_map *map = obj ?
				bpf_object__find_map_by_name(obj, map_names[m]) : NULL;

			if (map)
				fp->map_fds[m] = bpf_map__fd(map);
		}
		if (fp->map_fds[m] < 0)
			return fail(fp, -ENOENT, "no program declares the map %s: "
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
		return fail(fp, -errno, "cannot inspect the peer_stats map: %s", strerror(errno));
	if (info.value_size != sizeof(struct xwg_peer_stats) || info.max_entries != XWG_MAX_PEERS ||
	    !(info.map_flags & BPF_F_MMAPABLE))
		return fail(fp, -EINVAL, "the peer_stats map is not an mmapable array of "
			    "struct xwg_peer_stats: bpf/ and include/maps.h disagree");
	fp->peer_stats_size = ((size_t)info.value_size * info.max_entries +
			       (size_t)page - 1) & ~((size_t)page - 1);
	p = mmap(NULL, fp->peer_stats_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fp->peer_stats_size = 0;
		return fail(fp, -errno, "cannot mmap the peer_stats map: %s", strerror(errno));
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

/* --- underlay attachments ------------------------------------------------ */

static struct fastpath_xdp *underlay_find(struct fastpath *fp, int ifindex)
{
	unsigned int i;

	for (i = 0; i < fp->n_underlays; i++)
		if (fp->underlays[i].ifindex == ifindex)
			return &fp->underlays[i];
	return NULL;
}

/* The driver of an interface (ethtool's "driver"), "" if it has none. */
static void driver_name(const char *ifname, char *buf, size_t size)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	buf[0] = 0;
	if (fd < 0)
		return;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&info;
	if (!ioctl(fd, SIOCETHTOOL, &ifr)) {
		size_t n = strnlen(info.driver, sizeof(info.driver));

		n = n < size - 1 ? n : size - 1;
		memcpy(buf, info.driver, n);
		buf[n] = 0;
	}
	close(fd);
}

/*
 * Underlays xwgd picks itself get xdp_rx only where it costs nothing to
 * anyone else (issue 14, measured): not on a veth, whose peer loses TSO
 * and UDP segmentation offload while any XDP program is attached (plain
 * TCP of other containers over the same link fell from 13.8 to 2.9
 * Gbit/s), and not where only generic XDP runs (loopback among them):
 * there the program sees UDP GSO super-datagrams whole and costs every
 * packet. On those, data messages reach the UDP socket, which takes them
 * with UDP GRO. NULL: wanted; else why not.
 */
static const char *underlay_xdp_unwanted(const struct fastpath_xdp *x, unsigned int flags)
{
	char drv[32];

	if (flags & IFF_LOOPBACK)
		return "loopback (only generic XDP)";
	driver_name(x->ifname, drv, sizeof(drv));
	if (!strcmp(drv, "veth"))
		return "a veth (XDP there turns TSO/USO off on its peer, slowing other traffic)";
	return NULL;
}

static int underlay_add(struct fastpath *fp, int ifindex)
{
	struct fastpath_xdp *x;
	const char *why;
	unsigned int i;
	int ret;

	if (underlay_find(fp, ifindex))
		return 0;
	if (ifindex == fp->twin.ifindex || ifindex == fp->twin.twin_ifindex)
		return fail(fp, -EINVAL, "%s cannot be its own underlay", fp->ifname);
	if (fp->n_underlays == FASTPATH_MAX_UNDERLAYS)
		return fail(fp, -ENOSPC, "more than %d underlay interfaces",
			    FASTPATH_MAX_UNDERLAYS);
	x = &fp->underlays[fp->n_underlays];
	memset(x, 0, sizeof(*x));
	x->link_fd = -1;
	x->ifindex = ifindex;
	if (!if_indextoname((unsigned int)ifindex, x->ifname))
		return fail(fp, -ENODEV, "underlay interface %d does not exist", ifindex);
	for (i = 0; i < fp->n_xdp_refused; i++) {
		if (fp->xdp_refused[i] == ifindex) {
			fp->error[0] = 0;  /* said when it was refused */
			return -EOPNOTSUPP;
		}
	}
	if (fp->xdp_auto) {
		struct ifreq ifr = { 0 };
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", x->ifname);
		if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr))
			ifr.ifr_flags = 0;
		if (fd >= 0)
			close(fd);
		why = underlay_xdp_unwanted(x, (unsigned int)ifr.ifr_flags);
		if (why && fp->n_xdp_refused < FASTPATH_MAX_UNDERLAYS)
			fp->xdp_refused[fp->n_xdp_refused++] = ifindex;
		if (why)
			return fail(fp, -EOPNOTSUPP, "no xdp_rx on %s: %s; data messages arrive "
				    "through the UDP socket (UDP GRO)", x->ifname, why);
	}
	ret = xdp_attach(fp, x, prog_fd_rx(fp), "xdp_rx");
	if (ret)
		return ret;
	if (fp->xdp_auto && x->mode == FASTPATH_XDP_GENERIC) {
		xdp_detach(x, prog_fd_rx(fp));
		if (fp->n_xdp_refused < FASTPATH_MAX_UNDERLAYS)
			fp->xdp_refused[fp->n_xdp_refused++] = ifindex;
		return fail(fp, -EOPNOTSUPP, "no xdp_rx on %s: only generic XDP there; data "
			    "messages arrive through the UDP socket (UDP GRO)", x->ifname);
	}
	fp->n_underlays++;
	if (fp->n_underlays == 2)
		log_info("xdp_rx runs on more than one underlay: data messages reach AF_XDP "
			 "only on the interface whose sockets are in xsks_rx");
	return 0;
}

static void underlays_remove(struct fastpath *fp)
{
	while (fp->n_underlays)
		xdp_detach(&fp->underlays[--fp->n_underlays], prog_fd_rx(fp));
}

int fastpath_underlay_attach(struct fastpath *fp, const char *ifname)
{
	int ifindex;

	if (!fp->loaded)
		return -EBADF;
	ifindex = (int)if_nametoindex(ifname);
	if (!ifindex)
		return fail(fp, -ENODEV, "underlay interface %s does not exist", ifname);
	return underlay_add(fp, ifindex);
}

int fastpath_underlay_detach(struct fastpath *fp, const char *ifname)
{
	unsigned int i;

	if (!fp->loaded)
		return -EBADF;
	for (i = 0; i < fp->n_underlays; i++) {
		if (strcmp(fp->underlays[i].ifname, ifname))
			continue;
		xdp_detach(&fp->underlays[i], prog_fd_rx(fp));
		fp->underlays[i] = fp->underlays[--fp->n_underlays];
		return 0;
	}
	return -ENOENT;
}

/* Which underlays: the explicit list or the default; checked before
 * anything is created, so a typo costs nothing. */
static int underlays_resolve(struct fastpath *fp, const struct fastpath_opts *opts,
			     int *picked, unsigned int *n)
{
	unsigned int i;

	*n = 0;
	if (!opts->n_underlays)
		return underlays_default(fp, picked, n);
	for (i = 0; i < opts->n_underlays; i++) {
		int ifindex = (int)if_nametoindex(opts->underlays[i]);

		if (!ifindex)
			return fail(fp, -ENODEV, "underlay interface %s (XWG_XDP_IFACES) does not exist",
				    opts->underlays[i]);
		if (*n == FASTPATH_MAX_UNDERLAYS)
			return fail(fp, -ENOSPC, "more than %d underlay interfaces",
				    FASTPATH_MAX_UNDERLAYS);
		underlay_pick(picked, n, ifindex);
	}
	return 0;
}

static int underlays_attach(struct fastpath *fp, const int *picked, unsigned int n,
			    bool explicit)
{
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		ret = underlay_add(fp, picked[i]);
		/* An underlay we picked ourselves that another program (another
		 * xwg interface's xdp_rx) holds: leave it to that one; what
		 * arrives there for us passes to our UDP socket. */
		if (ret == -EOPNOTSUPP && fp->xdp_auto) {
			if (fp->error[0])
				log_info("fast path of %s: %s", fp->ifname, fp->error);
			fp->error[0] = 0;
			continue;
		}
		if (ret == -EBUSY && !explicit) {
			log_info("fast path of %s: %s; its traffic for us goes through the UDP socket",
				 fp->ifname, fp->error);
			fp->error[0] = 0;
			continue;
		}
		if (ret) {
			underlays_remove(fp);
			return ret;
		}
	}
	return 0;
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
			return fail(fp, -EPERM, "not allowed to use BPF: needs CAP_BPF, CAP_NET_ADMIN "
				    "and CAP_PERFMON (or root)");
		return fail(fp, ret, "cannot use BPF: %s%s", strerror(-ret),
			    ret == -ENOSYS ? " (kernel without CONFIG_BPF_SYSCALL)" : "");
	}
	close(fd);
	fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "xwg_probe", 0, 0, 4096, NULL);
	if (fd < 0)
		return fail(fp, -EOPNOTSUPP, "the kernel has no BPF ring buffers (%s): "
			    "the fast path needs Linux 5.8 or later", strerror(errno));
	close(fd);
	ret = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, NULL);
	if (ret != 1)
		return fail(fp, -EOPNOTSUPP, "the kernel cannot load XDP programs "
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
		return fail(fp, -EINVAL, "'%s' is not a usable interface name",
			    ifname ? ifname : "(null)");
	snprintf(fp->ifname, sizeof(fp->ifname), "%s", ifname);
	snprintf(fp->pin_dir, sizeof(fp->pin_dir), XWG_PIN_ROOT "/%s", ifname);
	fp->netlink_attach = opts->netlink_attach;
	fp->tun_mode = opts->tun_ifindex > 0;
	fp->xdp_auto = !opts->n_underlays;
	fp->listen_port = opts->listen_port;
	fp->event_interval_ms = opts->event_interval_ms ? opts->event_interval_ms :
				FASTPATH_EVENT_INTERVAL_MS;

	/* 1. */
	ret = bpf_usable(fp);
	if (ret)
		return ret;
	ret = underlays_resolve(fp, opts, picked, &n_picked);
	if (ret)
		return ret;
	ret = bpffs_ensure(fp);
	if (ret)
		return ret;
	/* 2. */
	ret = lock_take(fp);
	if (ret)
		return ret;
	/* 3. Ours now: whatever is here was left by a dead instance. */
	ret = pins_remove(fp->pin_dir, fp->lock_fd);
	if (ret < 0) {
		ret = fail(fp, ret, "cannot remove stale pins in %s: %s", fp->pin_dir,
			   strerror(-ret));
		goto err_lock;
	}
	if (ret > 0)
		log_info("removed %d stale pins from %s, left behind by an xwgd that did not exit cleanly",
			 ret, fp->pin_dir);
	ret = twin_link_remove_leftover(ifname);
	if (ret < 0) {
		ret = fail(fp, ret, "cannot remove the pair a previous xwgd left for %s: %s",
			   ifname, strerror(-ret));
		goto err_lock;
	}
	orphans_detach();
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
			ret = fail(fp, ret, "cannot create %s and %s: an interface of one of these names "
				   "exists (and is not a leftover of xwgd)", ifname, twin_name);
		else
			ret = fail(fp, ret, "cannot create the interface pair %s/%s: %s%s", ifname,
				   twin_name, strerror(-ret),
				   ret == -EPERM ? " (needs CAP_NET_ADMIN)" :
				   ret == -EOPNOTSUPP ? " (kernel without veth)" : "");
		goto err_lock;
	}
	/* 5. */
	ret = skeletons_load(fp);
	if (ret)
		goto err_skeletons;
	ret = maps_find(fp);
	if (ret)
		goto err_skeletons;
	ret = config_write(fp);
	if (ret) {
		ret = fail(fp, ret, "cannot write the config map: %s", strerror(-ret));
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
		ret = xdp_attach(fp, &fp->twin_xdp, prog_fd_twin(fp), "xdp_twin");
		if (ret)
			goto err_peer_stats;
	}
	ret = tc_attach(fp, prog_fd_tx(fp));
	if (ret)
		goto err_twin_xdp;
	ret = underlays_attach(fp, picked, n_picked, opts->n_underlays > 0);
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
	tc_detach(fp);
err_twin_xdp:
	xdp_detach(&fp->twin_xdp, prog_fd_twin(fp));
err_peer_stats:
	fp->loaded = false;
	peer_stats_unmap(fp);
err_skeletons:
	skeletons_destroy(fp);
	twin_link_destroy(&fp->twin);
err_lock:
	lock_release(fp, true);
	return ret;
}

void fastpath_unload(struct fastpath *fp)
{
	if (!fp->loaded)
		return;
	underlays_remove(fp);
	tc_detach(fp);
	xdp_detach(&fp->twin_xdp, prog_fd_twin(fp));
	peer_stats_unmap(fp);
	skeletons_destroy(fp);
	twin_link_destroy(&fp->twin);
	lock_release(fp, true);
	fp->loaded = false;
	log_info("fast path of %s unloaded", fp->ifname);
}
