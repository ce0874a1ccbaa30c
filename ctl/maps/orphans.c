// SPDX-License-Identifier: GPL-2.0
/*
 * XDP programs of ours already attached (see loader_internal.h): those a
 * dead instance attached through netlink, which outlive it, are found by
 * their name (xwg_*) and their owner (the config map's wg_ifindex, an
 * interface that no longer exists) and detached; and what holds an
 * interface xdp_rx cannot have is described for the error message.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <net/if.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "base/log.h"
#include "ctl/maps/loader_internal.h"

#define PROG_PREFIX "xwg_"

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
 * wg_ifindex (0 if it has no config map or nothing written there); the
 * whole map in *cfg. */
static int prog_owner(const struct prog_desc *pd, struct xwg_config *out)
{
	struct bpf_map_info info;
	struct xwg_config cfg;
	uint32_t i, len, key = 0;
	int fd, owner = 0;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < pd->n_map_ids && !owner; i++) {
		fd = bpf_map_get_fd_by_id(pd->map_ids[i]);
		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    !strcmp(info.name, "config") &&
		    info.value_size == sizeof(cfg) &&
		    !bpf_map_lookup_elem(fd, &key, &cfg)) {
			owner = (int)cfg.wg_ifindex;
			*out = cfg;
		}
		close(fd);
	}
	return owner;
}

/* Whether the daemon that wrote cfg is gone: in our PID namespace its PID
 * names no process; anywhere, its heartbeat stopped. (A PID reused by
 * another process only makes us wait for the heartbeat.) */
static bool owner_is_gone(const struct xwg_config *cfg)
{
	if (cfg->owner_pid && cfg->owner_pidns && cfg->owner_pidns == fastpath_pidns() &&
	    kill((pid_t)cfg->owner_pid, 0) && errno == ESRCH)
		return true;
	return fastpath_monotonic_s() - cfg->alive_s > FASTPATH_ALIVE_STALE_S;
}

/* An xwg program whose instance is gone: its owner is no interface of this
 * namespace (any more), and its daemon is gone too. (A live daemon whose
 * tunnel interface moved to another namespace, as in the kernel's
 * netns.sh layout, is neither.) */
static bool prog_is_orphan(const struct prog_desc *pd)
{
	char name[IF_NAMESIZE];
	struct xwg_config cfg;
	int owner = prog_owner(pd, &cfg);

	/* No owner to ask (xdp_twin reads no config map): it sits on a twin,
	 * which goes with its pair; never take another instance's. */
	return owner && !if_indextoname((unsigned int)owner, name) && owner_is_gone(&cfg);
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

void fastpath_orphans_detach(void)
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
void fastpath_xdp_attached_describe(int ifindex, char *buf, size_t size)
{
	struct xwg_config cfg;
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
	    if_indextoname((unsigned int)prog_owner(&pd, &cfg), owner))
		snprintf(buf + len, size - (size_t)len,
			 " of the fast path of %s (one underlay serves one xwg interface)",
			 owner);
}
