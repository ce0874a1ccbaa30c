// SPDX-License-Identifier: GPL-2.0
/*
 * Attaching the programs (see loader_internal.h): XDP through a bpf_link
 * (the kernel detaches it when the process dies) or through netlink,
 * native mode first; tc_tx on a clsact qdisc on IFNAME's egress.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <net/if.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "base/log.h"
#include "ctl/maps/loader_internal.h"

static uint32_t prog_id_of(int prog_fd)
{
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(prog_fd, &info, &len) ? 0 : info.id;
}

/* Native first, generic if the driver has no XDP. */
int fastpath_xdp_attach_to(bool netlink_attach, struct fastpath_xdp *x, int prog_fd,
			   const char *what, char *err, size_t errlen)
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
		if (netlink_attach) {
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
			fastpath_xdp_attached_describe(x->ifindex, other, sizeof(other));
			snprintf(err, errlen,
				 "%s already has %s attached: detach it (ip link set dev %s xdp off) "
				 "or leave %s out of XWG_XDP_IFACES",
				 x->ifname, other, x->ifname, x->ifname);
			return -EBUSY;
		}
		if (!native_err)
			native_err = ret;
	}
	snprintf(err, errlen, "cannot attach %s to %s: native: %s, generic: %s%s",
		 what, x->ifname, strerror(-native_err), strerror(-ret),
		 ret == -EOPNOTSUPP || ret == -EINVAL ? " (no XDP for this device or kernel)" : "");
	return ret < 0 ? ret : -EIO;
}

int fastpath_xdp_attach(struct fastpath *fp, struct fastpath_xdp *x, int prog_fd,
			const char *what)
{
	int ret = fastpath_xdp_attach_to(fp->netlink_attach, x, prog_fd, what, fp->error,
					 sizeof(fp->error));

	if (ret)
		log_debug("fast path of %s: %s", fp->ifname, fp->error);
	return ret;
}

void fastpath_xdp_detach(struct fastpath_xdp *x, int prog_fd)
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
int fastpath_tc_attach(struct fastpath *fp, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = fp->twin.ifindex,
		    .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = 1, .priority = 1, .prog_fd = prog_fd);
	int ret;

	ret = bpf_tc_hook_create(&hook);
	if (ret && ret != -EEXIST)
		return fastpath_fail(fp, ret, "cannot add a clsact qdisc to %s: %s%s", fp->ifname,
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
		return fastpath_fail(fp, ret, "cannot attach tc_tx to %s egress: %s", fp->ifname,
				     strerror(-ret));
	}
	fp->tc_prog_id = o.prog_id;
	return 0;
}

void fastpath_tc_detach(struct fastpath *fp)
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
