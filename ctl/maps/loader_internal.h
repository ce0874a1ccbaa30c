/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the files of the loader share; the daemon, the tests and the tools
 * include loader.h. fastpath_load (loader.c) calls on the others:
 *
 *   pins.c       bpffs, the pin directory and its lock
 *   orphans.c    XDP programs a dead instance left attached
 *   attach.c     XDP and TC attachments
 *   underlay.c   which interfaces get xdp_rx, and attaching it there
 *   skeletons.c  opening and loading the programs, libbpf's messages
 *   loader.c     the maps, the config map, peer_stats; load and unload
 *
 * Those that can fail return -errno; those that take fp also say why in
 * fp->error (through fastpath_fail).
 */
#ifndef XWG_MAPS_LOADER_INTERNAL_H
#define XWG_MAPS_LOADER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "ctl/maps/loader.h"

struct bpf_object;

/* Records why the load failed (one line for the daemon's log) and
 * returns ret (-EIO if ret is not negative). */
__attribute__((format(printf, 3, 4)))
int fastpath_fail(struct fastpath *fp, int ret, const char *fmt, ...);

/* pins.c */
/* Mounts bpffs on FASTPATH_BPFFS unless it is there. */
int fastpath_bpffs_ensure(struct fastpath *fp);
/* mkdir -p fp->pin_dir and hold an exclusive flock on it (fp->lock_fd):
 * -EBUSY while another instance holds it (one that is leaving gets a few
 * seconds to let go). */
int fastpath_lock_take(struct fastpath *fp);
/* Closes the lock; with remove_dir, after removing the pins, the pin
 * directory and (if empty) XWG_PIN_ROOT. */
void fastpath_lock_release(struct fastpath *fp, bool remove_dir);
/* Removes every pin in dir (opened through lock_fd): how many, or -errno. */
int fastpath_pins_remove(const char *dir, int lock_fd);

/* orphans.c */
/* Detaches, from every interface of this namespace, the XDP programs of
 * instances that are gone (their owner interface no longer exists). */
void fastpath_orphans_detach(void);
/* What is attached to ifindex now, for a message: "XDP program 'foo'
 * (id 42)", and for one of ours, which interface's fast path it serves. */
void fastpath_xdp_attached_describe(int ifindex, char *buf, size_t size);

/* attach.c */
/* Attaches prog_fd (what: its name, for messages) to x->ifindex, native
 * XDP if the driver has it, else generic; -EBUSY if another program is
 * there. */
int fastpath_xdp_attach(struct fastpath *fp, struct fastpath_xdp *x, int prog_fd,
			const char *what);
/* The same, touching nothing but x and err: callable off the packet thread
 * (ctl/worker.h). */
int fastpath_xdp_attach_to(bool netlink_attach, struct fastpath_xdp *x, int prog_fd,
			   const char *what, char *err, size_t errlen);
void fastpath_xdp_detach(struct fastpath_xdp *x, int prog_fd);
/* tc_tx on IFNAME's egress, on a clsact qdisc added unless one exists. */
int fastpath_tc_attach(struct fastpath *fp, int prog_fd);
void fastpath_tc_detach(struct fastpath *fp);

/* underlay.c */
/* The underlays to attach xdp_rx to (at most FASTPATH_MAX_UNDERLAYS, as
 * ifindexes in picked): opts' list or the default; checked before
 * anything is created. */
int fastpath_underlays_resolve(struct fastpath *fp, const struct fastpath_opts *opts,
			       int *picked, unsigned int *n);
/* Attaches xdp_rx to each; underlays it is not wanted on, and (unless
 * explicit, from XWG_XDP_IFACES) those another program holds, are left
 * to the UDP socket. On failure none stays attached. */
int fastpath_underlays_attach(struct fastpath *fp, const int *picked, unsigned int n,
			      bool explicit);
void fastpath_underlays_remove(struct fastpath *fp);

/* skeletons.c */
/* Opens and loads xdp_rx, tc_tx and xdp_twin with their maps pinned in
 * fp->pin_dir; -ENOSYS in a build without the skeletons. */
int fastpath_skeletons_load(struct fastpath *fp);
void fastpath_skeletons_destroy(struct fastpath *fp);
/* The bpf_object of program which (0 xdp_rx, 1 tc_tx, 2 xdp_twin), NULL
 * if it is not loaded. */
struct bpf_object *fastpath_skeleton_object(struct fastpath *fp, int which);
/* The loaded programs' fds (-1 in a build without the skeletons). */
int fastpath_prog_fd_rx(struct fastpath *fp);
int fastpath_prog_fd_tx(struct fastpath *fp);
int fastpath_prog_fd_twin(struct fastpath *fp);

/* CLOCK_MONOTONIC in whole seconds (the config map's alive_s). */
uint32_t fastpath_monotonic_s(void);
/* This process's PID namespace (its inode; 0 if unknown). */
uint64_t fastpath_pidns(void);
/* An instance whose heartbeat is older than this is gone. */
#define FASTPATH_ALIVE_STALE_S 10

#endif
