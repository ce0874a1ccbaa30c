// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's side of the fast path: see fastpath.h for the shape.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sodium.h>

#include "ctl/device.h"
#include "ctl/fastpath.h"
#include "base/log.h"
#include "ctl/maps/loader.h"
#include "ctl/maps/sync.h"
#include "ctl/netdev.h"
#include "base/platform.h"
#include "datapath/frame.h"
#include "datapath/tun.h"
#include "datapath/xsk.h"
#include "ctl/worker.h"

#define FASTPATH_MAX_BATCHES 8
#define FASTPATH_TICK_NS NSEC_PER_SEC
/* How often a mirror out of step is written again. */
#define FASTPATH_RESYNC_NS (250 * NSEC_PER_MSEC)
/* Sealing in place needs the data message header in front of the packet
 * and padding plus the tag behind it. */
#define SEAL_TAILROOM (16U + 16U)
#define VETH_SLACK 4U   /* VLAN_HLEN */

/* What the inner epoll set reports. */
struct fastpath_src {
	enum fastpath_fd_kind kind;
	struct xsk_port *port;
	/* The ring's backlog at each wake-up (note_backlog). */
	uint64_t wakeups, backlog_sum;
	uint32_t backlog_max;
};

/* Notes the ring's backlog when a wake-up takes its first batch of n
 * packets off it: those n and what stands behind them (SIGUSR1 logs it:
 * how long the queue in front of a packet gets). */
static void note_backlog(struct fastpath_src *src, unsigned int n)
{
	uint32_t b = n + xsk_rx_backlog(src->port);

	src->wakeups++;
	src->backlog_sum += b;
	if (b > src->backlog_max)
		src->backlog_max = b;
}

/* An orphan: a removed peer's id whose prefixes or slot could not be
 * cleared. Its id is not handed out again until they are. */
struct fastpath_orphan {
	uint32_t id;
	struct fastpath_prefix *prefixes;
	size_t n_prefixes;
};

struct fastpath_dp {
	struct fastpath fp;
	int epfd;                        /* the sockets and the event ring */
	struct fastpath_src srcs[TWIN_LINK_MAX_QUEUES + XWG_MAX_QUEUES + 1];
	unsigned int n_srcs;
	struct xsk_port *twin_ports[TWIN_LINK_MAX_QUEUES];
	unsigned int n_twin;
	struct xsk_port *ul_ports[XWG_MAX_QUEUES];
	unsigned int n_ul;
	int ul_ifindex;
	/* Following endpoints onto other interfaces (endpoint_follow):
	 * only where xwgd picks the underlays itself. */
	struct worker *worker;
	int attaching[FASTPATH_MAX_UNDERLAYS];   /* attach jobs in hand */
	unsigned int n_attaching;
	uint64_t follow_skipped;
	bool stopping;
	/* Entries of each AF_XDP ring (XWG_XSK_RING; 0: xsk.c's default). */
	uint32_t ring_size;
	struct ring_buffer *events;
	struct wg_device *dev;
	int reaper_fd;                   /* its EOF wakes the reaper */
	pid_t reaper_pid;

	struct wg_peer **by_id;          /* XWG_MAX_PEERS */
	uint32_t *free_ids, n_free, next_id;

	/* Packets for wg0 waiting for fastpath_flush. */
	struct xsk_frame out[DATAPATH_BATCH];
	unsigned int n_out;

	struct xsk_frame frames[DATAPATH_BATCH];
	struct udp_rx rx[DATAPATH_BATCH];
	struct tun_packet pkts[DATAPATH_BATCH];
	xwg_time_t last_tick;

	/* The mirror's failures (see "keeping the maps in step"). */
	uint64_t map_write_errors;       /* since start: SIGUSR1, peer_stats[0] */
	int first_error;                 /* for fastpath_error_take */
	bool out_of_step;                /* something waits for mirror_resync */
	bool config_out_of_step;         /* the config map: rewrite it */
	bool episode_logged;
	xwg_time_t last_resync;
	struct fastpath_orphan *orphans;
	size_t n_orphans, cap_orphans;
	uint32_t *stale_indices;         /* removals of indices to retry */
	size_t n_stale, cap_stale;
};

static int config_written(struct fastpath_dp *f, int ret);

static struct fastpath_dp *fast_of(struct wg_device *dev)
{
	return dev ? dev->fast : NULL;
}

uint32_t fastpath_max_peers(void)
{
	return XWG_MAX_PEERS - 1;
}

int fastpath_dp_ifindex(const struct fastpath_dp *f)
{
	return f->fp.twin.ifindex;
}

int fastpath_dp_twin_ifindex(const struct fastpath_dp *f)
{
	return f->fp.twin.twin_ifindex;
}

/* ---- loading ---- */

/* XWG_XDP_IFACES=eth0,eth1 (commas or spaces): split in place into names.
 * The number of names (0 when unset), or -1 with the reason in err for a
 * value that would not be taken whole: a name too long for an interface
 * (cut short it could name another one), or more names than the loader
 * takes. */
static int underlays_from_env(char *buf, size_t buflen, const char **names, size_t max,
			      char *err, size_t errlen)
{
	const char *v = getenv("XWG_XDP_IFACES");
	size_t n = 0;
	char *save = NULL, *tok;

	if (!v || !*v)
		return 0;
	if (strlen(v) >= buflen) {
		snprintf(err, errlen, "XWG_XDP_IFACES is longer than %zu names can be", max);
		return -1;
	}
	snprintf(buf, buflen, "%s", v);
	for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (strlen(tok) >= IFNAMSIZ) {
			snprintf(err, errlen, "XWG_XDP_IFACES: '%.64s' is longer than an "
				 "interface name can be (%d characters)", tok, IFNAMSIZ - 1);
			return -1;
		}
		if (n == max) {
			snprintf(err, errlen, "XWG_XDP_IFACES: more than %zu interfaces", max);
			return -1;
		}
		names[n++] = tok;
	}
	return (int)n;
}

/* The test seam of fastpath.h: XWG_TEST_FAIL_MAP_WRITE=N. */
static bool env_is_one(const char *name)
{
	const char *v = getenv(name);

	return v && !strcmp(v, "1");
}

static void map_write_fault_from_env(void)
{
	const char *v = getenv("XWG_TEST_FAIL_MAP_WRITE");
	unsigned long long n;
	char *end;

	if (!v || !*v)
		return;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end || !n) {
		log_error("XWG_TEST_FAIL_MAP_WRITE=%.32s is not a positive number: ignored", v);
		return;
	}
	fastpath_map_write_fault_set(n);
	log_info("test seam: map write %llu from now fails with ENOMEM", n);
}

struct fastpath_dp *fastpath_dp_load(const char *ifname, int tun_ifindex, uint32_t ring_size,
				     char *err, size_t errlen)
{
	char names_buf[FASTPATH_MAX_UNDERLAYS * IFNAMSIZ];
	const char *names[FASTPATH_MAX_UNDERLAYS];
	struct fastpath_opts opts = { .queues = 1 };
	struct xsk_port_config pc = { 0 };
	struct xsk_port *trial = NULL;
	struct fastpath_dp *f;
	int ret, n_names;

	f = calloc(1, sizeof(*f));
	if (f) {
		f->by_id = calloc(XWG_MAX_PEERS, sizeof(*f->by_id));
		f->free_ids = calloc(XWG_MAX_PEERS, sizeof(*f->free_ids));
	}
	if (!f || !f->by_id || !f->free_ids) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	f->next_id = 1;
	f->epfd = -1;
	f->reaper_fd = -1;
	if (ring_size && (ring_size < FASTPATH_RING_MIN || ring_size > FASTPATH_RING_MAX ||
			  (ring_size & (ring_size - 1)))) {
		snprintf(err, errlen, "AF_XDP ring size %u is not a power of two from %d to %d",
			 ring_size, FASTPATH_RING_MIN, FASTPATH_RING_MAX);
		goto fail;
	}
	f->ring_size = ring_size;
	n_names = underlays_from_env(names_buf, sizeof(names_buf), names, FASTPATH_MAX_UNDERLAYS,
				     err, errlen);
	if (n_names < 0)
		goto fail;
	opts.n_underlays = (size_t)n_names;
	opts.underlays = n_names ? names : NULL;
	opts.tun_ifindex = tun_ifindex;
	opts.xdp_on_veth = env_is_one("XWG_TEST_XDP_ON_VETH");
	ret = fastpath_load(&f->fp, ifname, &opts);
	if (ret) {
		snprintf(err, errlen, "%s", f->fp.error[0] ? f->fp.error : strerror(-ret));
		goto fail;
	}
	map_write_fault_from_env();
	/* With a TUN, AF_XDP sockets exist only on underlays with xdp_rx;
	 * where none can be made, data arrives through the UDP socket. */
	if (tun_ifindex)
		return f;
	/* Can this process make AF_XDP sockets here at all? */
	pc.ifname = f->fp.twin.twin_name;
	pc.frame_count = 64;
	pc.ring_size = 64;
	ret = xsk_port_create(&trial, &pc);
	if (ret) {
		snprintf(err, errlen, "cannot open an AF_XDP socket on %s: %s%s", pc.ifname,
			 strerror(-ret), ret == -EPERM ? " (needs CAP_NET_RAW)" : "");
		fastpath_unload(&f->fp);
		goto fail;
	}
	xsk_port_destroy(trial);
	return f;
fail:
	if (f) {
		free(f->by_id);
		free(f->free_ids);
		free(f);
	}
	return NULL;
}

static void close_all_but(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a;

	if (lo > 3)
		close_range(3, (unsigned int)lo - 1, 0);
	if (hi > lo + 1)
		close_range((unsigned int)lo + 1, (unsigned int)hi - 1, 0);
	close_range((unsigned int)hi + 1, ~0U, 0);
}

int fastpath_dp_reaper(struct fastpath_dp *f)
{
	int pfd[2];
	pid_t pid;
	sigset_t all;
	char c;

	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -errno;
	}
	if (pid > 0) {
		close(pfd[0]);
		f->reaper_fd = pfd[1];
		f->reaper_pid = pid;
		return 0;
	}
	/* The reaper: holds nothing of the daemon's but the lock on the
	 * pins (so it may clean up) and the pipe's read end. */
	close(pfd[1]);
	close_all_but(pfd[0], f->fp.lock_fd);
	sigfillset(&all);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	prctl(PR_SET_NAME, "xwgd-reaper", 0, 0, 0);
	while (read(pfd[0], &c, 1) < 0 && errno == EINTR)
		;
	fastpath_reap(&f->fp);
	_exit(0);
}

/* RX queues of an interface (ETHTOOL_GCHANNELS), at least 1. */
static unsigned int rx_queues(const char *ifname)
{
	unsigned int n;

	if (netdev_rx_queues(ifname, &n) || !n)
		n = 1;
	return n > XWG_MAX_QUEUES ? XWG_MAX_QUEUES : n;
}

static int watch(struct fastpath_dp *f, int fd, enum fastpath_fd_kind kind,
		 struct xsk_port *port)
{
	struct fastpath_src *src;
	struct epoll_event ev = { .events = EPOLLIN };

	if (f->n_srcs == sizeof(f->srcs) / sizeof(f->srcs[0]))
		return -ENOSPC;
	src = &f->srcs[f->n_srcs++];
	src->kind = kind;
	src->port = port;
	ev.data.ptr = src;
	if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	return 0;
}

/* What a failed AF_XDP socket most likely lacks. */
static const char *xsk_error_hint(int ret)
{
	if (ret == -EPERM)
		return " (needs CAP_NET_RAW)";
	if (ret == -ENOBUFS || ret == -ENOMEM)
		return " (its memory exceeds RLIMIT_MEMLOCK: needs CAP_IPC_LOCK or a higher "
		       "LimitMEMLOCK=)";
	return "";
}

/* A created AF_XDP socket into the XSKMAP and the epoll set; destroyed
 * and *slot NULL on failure. 0 or -errno. */
static int port_adopt(struct fastpath_dp *f, enum fastpath_map xskmap,
		      enum fastpath_fd_kind kind, struct xsk_port **slot)
{
	int ret = xsk_port_register(*slot, fastpath_map_fd(&f->fp, xskmap));

	if (!ret)
		ret = watch(f, xsk_port_fd(*slot), kind, *slot);
	if (ret) {
		xsk_port_destroy(*slot);
		*slot = NULL;
	}
	return ret;
}

/* One AF_XDP socket on ifname/queue, in the XSKMAP and the epoll set;
 * *slot NULL on failure. 0 or -errno. */
static int port_open(struct fastpath_dp *f, const char *ifname, unsigned int queue,
		     enum fastpath_map xskmap, enum fastpath_fd_kind kind,
		     struct xsk_port **slot)
{
	struct xsk_port_config pc = { .ifname = ifname, .queue = queue,
				      .ring_size = f->ring_size };
	int ret = xsk_port_create(slot, &pc);

	return ret ? ret : port_adopt(f, xskmap, kind, slot);
}

/* The AF_XDP sockets of an underlay xdp_rx runs on, one per RX queue,
 * created (slow: the UMEM and the bind; any thread) before they are
 * adopted (the owner's thread). */
struct underlay_ports {
	struct xsk_port *port[XWG_MAX_QUEUES];
	int ret[XWG_MAX_QUEUES];
	unsigned int n;
};

static void underlay_ports_create(uint32_t ring_size, const struct fastpath_xdp *ul,
				  struct underlay_ports *up)
{
	unsigned int q;

	memset(up, 0, sizeof(*up));
	/* Generic XDP sees a UDP GSO super-datagram (veth, loopback) as one
	 * frame, and nothing in the frame tells it from one message: handed
	 * to AF_XDP it would fail to open. The UDP socket's GRO cuts it right;
	 * xdp_rx keeps its early drops there. */
	if (ul->mode == FASTPATH_XDP_GENERIC)
		return;
	up->n = rx_queues(ul->ifname);
	for (q = 0; q < up->n; q++) {
		struct xsk_port_config pc = { .ifname = ul->ifname, .queue = q,
					      .ring_size = ring_size };

		up->ret[q] = xsk_port_create(&up->port[q], &pc);
	}
}

static void underlay_ports_destroy(struct underlay_ports *up)
{
	unsigned int q;

	for (q = 0; q < up->n; q++)
		xsk_port_destroy(up->port[q]);
	up->n = 0;
}

/* The queues that cannot have a socket pass data to the UDP socket. */
static void underlay_ports_adopt(struct fastpath_dp *f, const struct fastpath_xdp *ul,
				 struct underlay_ports *up)
{
	unsigned int q;
	int ret;

	if (ul->mode == FASTPATH_XDP_GENERIC) {
		log_info("fast path: xdp_rx on %s runs in generic mode: no AF_XDP sockets there "
			 "(data messages go through the UDP socket, which cuts UDP GSO "
			 "super-datagrams)", ul->ifname);
		return;
	}
	for (q = 0; q < up->n; q++) {
		ret = up->ret[q];
		f->ul_ports[q] = up->port[q];
		up->port[q] = NULL;
		if (!ret)
			ret = port_adopt(f, FASTPATH_MAP_XSKS_RX, FASTPATH_FD_UNDERLAY, &f->ul_ports[q]);
		if (ret) {
			log_info("fast path: no AF_XDP socket on %s queue %u (%s%s): data "
				 "arriving there goes through the UDP socket",
				 ul->ifname, q, strerror(-ret), xsk_error_hint(ret));
			continue;
		}
		f->n_ul++;
	}
	up->n = 0;
	if (f->n_ul) {
		f->ul_ifindex = ul->ifindex;
		config_written(f, fastpath_xsk_ifindex_set(&f->fp, ul->ifindex));
	}
	log_info("fast path: xdp_rx on %s (%s XDP), %u AF_XDP socket(s)%s%s%s, rings of %u",
		 ul->ifname, fastpath_xdp_mode_name(ul->mode), f->n_ul, f->n_ul ? " in " : "",
		 f->n_ul ? xsk_mode_name(xsk_port_mode(f->ul_ports[0])) : "",
		 f->n_ul ? " mode" : "", f->ring_size ? f->ring_size : XSK_RING_SIZE_DEFAULT);
}

static void underlay_sockets(struct fastpath_dp *f, const struct fastpath_xdp *ul)
{
	struct underlay_ports up;

	underlay_ports_create(f->ring_size, ul, &up);
	underlay_ports_adopt(f, ul, &up);
}

/*
 * Following endpoints (issue 17): when a peer's endpoint moves, the route
 * towards it is looked up, and where it leaves through an interface that
 * should have xdp_rx and has not, xdp_rx is attached there and (for the
 * first such interface) the AF_XDP sockets are made. A netlink round trip,
 * a driver's XDP set-up and the sockets' memory are slow: all of it runs on
 * the worker thread (ctl/worker.h), never between packet batches; the
 * results are adopted on this thread when the worker's eventfd wakes the
 * loop. Endpoint moves beyond what the worker has in hand are not followed
 * (counted, logged once): their data still arrives, through the UDP socket.
 */
#define FOLLOW_MAX_PENDING 256

struct route_job {
	struct worker_job job;
	struct fastpath_dp *f;
	int family, oif, ret;
	uint8_t addr[16];
};

struct attach_job {
	struct worker_job job;
	struct fastpath_dp *f;
	struct fastpath_follow fw;
	uint32_t ring_size;
	bool want_sockets;
	struct underlay_ports up;
};

static void underlay_follow(struct fastpath_dp *f, int ifindex);

static void route_job_run(struct worker_job *job)
{
	struct route_job *r = (struct route_job *)job;

	r->ret = fastpath_route_oif(r->family, r->addr, &r->oif);
}

static void route_job_done(struct worker_job *job, bool ran)
{
	struct route_job *r = (struct route_job *)job;

	if (ran && !r->ret && !r->f->stopping)
		underlay_follow(r->f, r->oif);
	free(r);
}

static void attach_job_run(struct worker_job *job)
{
	struct attach_job *a = (struct attach_job *)job;

	fastpath_underlay_attach_prepared(&a->fw);
	if (!a->fw.ret && a->want_sockets)
		underlay_ports_create(a->ring_size, &a->fw.x, &a->up);
}

static void attaching_forget(struct fastpath_dp *f, int ifindex)
{
	unsigned int i;

	for (i = 0; i < f->n_attaching; i++) {
		if (f->attaching[i] == ifindex) {
			f->attaching[i] = f->attaching[--f->n_attaching];
			return;
		}
	}
}

static void attach_job_done(struct worker_job *job, bool ran)
{
	struct attach_job *a = (struct attach_job *)job;
	struct fastpath_dp *f = a->f;
	int ret;

	attaching_forget(f, a->fw.x.ifindex);
	if (!ran || f->stopping) {
		underlay_ports_destroy(&a->up);
		if (ran)
			fastpath_underlay_abandon(&a->fw);
		free(a);
		return;
	}
	ret = fastpath_underlay_adopt(&f->fp, &a->fw);
	if (ret) {
		/* Said once per interface, not at every endpoint change;
		 * -EOPNOTSUPP: not wanted there (ctl/maps/underlay.c says why). */
		log_info("fast path: %s%s", ret != -EOPNOTSUPP ? "cannot attach xdp_rx: " : "",
			 f->fp.error);
		underlay_ports_destroy(&a->up);
	} else if (a->want_sockets && !f->n_ul) {
		underlay_ports_adopt(f, &a->fw.x, &a->up);
	} else {
		underlay_ports_destroy(&a->up);
	}
	free(a);
}

/* A peer's endpoint is routed through ifindex: xdp_rx must run there (and
 * the first such underlay gets the AF_XDP sockets). */
static void underlay_follow(struct fastpath_dp *f, int ifindex)
{
	struct attach_job *a;
	unsigned int i;
	int ret;

	for (i = 0; i < f->n_attaching; i++)
		if (f->attaching[i] == ifindex)
			return;
	if (f->n_attaching == sizeof(f->attaching) / sizeof(f->attaching[0]))
		return;
	a = calloc(1, sizeof(*a));
	if (!a)
		return;
	ret = fastpath_underlay_prepare(&f->fp, ifindex, &a->fw);
	if (ret) {
		if (ret == -EOPNOTSUPP && f->fp.error[0])
			log_info("fast path: %s", f->fp.error);
		else if (ret != -EOPNOTSUPP && ret != -EEXIST && ret != -EINVAL)
			log_info("fast path: cannot attach xdp_rx: %s", f->fp.error);
		free(a);
		return;
	}
	a->job.run = attach_job_run;
	a->job.done = attach_job_done;
	a->f = f;
	a->ring_size = f->ring_size;
	a->want_sockets = !f->n_ul;
	if (worker_submit(f->worker, &a->job)) {
		f->follow_skipped++;
		free(a);
		return;
	}
	f->attaching[f->n_attaching++] = ifindex;
}

/* The endpoint of a peer moved to addr: follow it, off this thread. */
static void endpoint_follow(struct fastpath_dp *f, int family, const uint8_t addr[16])
{
	struct route_job *r;

	/* XWG_XDP_IFACES named the underlays: only those. */
	if (!f->worker)
		return;
	r = calloc(1, sizeof(*r));
	if (r) {
		r->job.run = route_job_run;
		r->job.done = route_job_done;
		r->f = f;
		r->family = family;
		memcpy(r->addr, addr, sizeof(r->addr));
		if (!worker_submit(f->worker, &r->job))
			return;
		free(r);
	}
	if (!f->follow_skipped++)
		log_info("fast path: more endpoint moves than the worker thread has room "
			 "for: those not followed reach xwgd through the UDP socket");
}

static int event_received(void *ctx, void *data, size_t size)
{
	struct fastpath_dp *f = ctx;
	const struct xwg_event *e = data;
	struct wg_peer *peer;

	if (size < sizeof(*e) || e->peer_id == 0 || e->peer_id >= XWG_MAX_PEERS)
		return 0;
	peer = f->by_id[e->peer_id];
	/* tc_tx saw a packet for a peer without a session: start the
	 * handshake now (the packet itself reaches us through the twin and
	 * is staged until the session exists). */
	if (e->type == XWG_EVENT_HANDSHAKE_NEEDED && peer && !peer_sending_keypair(peer))
		send_handshake_initiation(peer, false);
	return 0;
}

int fastpath_dp_start(struct fastpath_dp *f, struct wg_device *dev)
{
	unsigned int q;
	int ret;

	f->dev = dev;
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (f->epfd < 0)
		return -errno;
	for (q = 0; !f->fp.tun_mode && q < f->fp.twin.queues && q < TWIN_LINK_MAX_QUEUES; q++) {
		ret = port_open(f, f->fp.twin.twin_name, q, FASTPATH_MAP_XSKS_TX, FASTPATH_FD_TWIN,
				&f->twin_ports[q]);
		if (ret) {
			log_error("fast path: no AF_XDP socket on %s queue %u: %s%s",
				  f->fp.twin.twin_name, q, strerror(-ret), xsk_error_hint(ret));
			return ret;
		}
		f->n_twin++;
	}

	/* Data messages reach AF_XDP from the first underlay; the others
	 * (if any) deliver to the UDP socket. Without one yet, the first
	 * peer endpoint brings one (peer_write). */
	if (f->fp.n_underlays)
		underlay_sockets(f, &f->fp.underlays[0]);

	f->events = ring_buffer__new(fastpath_map_fd(&f->fp, FASTPATH_MAP_EVENTS),
				     event_received, f, NULL);
	if (!f->events) {
		ret = -errno;
		log_error("fast path: cannot read the events ring buffer: %s", strerror(-ret));
		return ret;
	}
	ret = watch(f, ring_buffer__epoll_fd(f->events), FASTPATH_FD_EVENTS, NULL);
	if (ret)
		return ret;
	if (f->fp.xdp_auto) {
		ret = worker_create(&f->worker, FOLLOW_MAX_PENDING);
		if (!ret)
			ret = watch(f, worker_fd(f->worker), FASTPATH_FD_WORKER, NULL);
		if (ret) {
			log_error("fast path: no worker thread for following endpoints: %s",
				  strerror(-ret));
			return ret;
		}
	}
	f->last_tick = platform_now();
	return 0;
}

void fastpath_dp_unload(struct fastpath_dp *f)
{
	unsigned int q;

	if (!f)
		return;
	/* First: a job in hand may be attaching right now. */
	f->stopping = true;
	worker_destroy(f->worker);
	if (f->events)
		ring_buffer__free(f->events);
	for (q = 0; q < XWG_MAX_QUEUES; q++) {
		if (f->ul_ports[q]) {
			xsk_port_unregister(f->ul_ports[q],
					    fastpath_map_fd(&f->fp, FASTPATH_MAP_XSKS_RX));
			xsk_port_destroy(f->ul_ports[q]);
		}
	}
	for (q = 0; q < TWIN_LINK_MAX_QUEUES; q++) {
		if (f->twin_ports[q]) {
			xsk_port_unregister(f->twin_ports[q],
					    fastpath_map_fd(&f->fp, FASTPATH_MAP_XSKS_TX));
			xsk_port_destroy(f->twin_ports[q]);
		}
	}
	fastpath_unload(&f->fp);
	if (f->epfd >= 0)
		close(f->epfd);
	/* Nothing left to reap: the reaper wakes, finds that, exits. */
	if (f->reaper_fd >= 0) {
		close(f->reaper_fd);
		waitpid(f->reaper_pid, NULL, 0);
	}
	while (f->n_orphans)
		free(f->orphans[--f->n_orphans].prefixes);
	free(f->orphans);
	free(f->stale_indices);
	free(f->by_id);
	free(f->free_ids);
	free(f);
}

int fastpath_dp_fd(const struct fastpath_dp *f)
{
	return f->epfd;
}

/* ---- packets ---- */

/* What the stack sent out of wg0: seal and send (ctl/send.c). */
static void twin_readable(struct wg_device *dev, struct fastpath_dp *f,
			  struct fastpath_src *src)
{
	struct xsk_port *port = src->port;
	unsigned int b, i, n, m;

	for (b = 0; b < FASTPATH_MAX_BATCHES; b++) {
		n = xsk_rx_get(port, f->frames, DATAPATH_BATCH);
		if (!n)
			break;
		if (!b)
			note_backlog(src, n);
		for (i = 0, m = 0; i < n; i++) {
			struct xsk_frame *fr = &f->frames[i];
			uint32_t room = xsk_frame_tailroom(port, fr);

			if (fr->len <= FRAME_ETH_LEN || room < fr->len + SEAL_TAILROOM) {
				device_count_drop(dev, fr->len <= FRAME_ETH_LEN ?
						  DROP_TX_BAD_PACKET : DROP_TX_TOO_BIG);
				continue;
			}
			f->pkts[m++] = (struct tun_packet){
				.buf = fr->data + FRAME_ETH_LEN,
				.cap = room - FRAME_ETH_LEN - SEAL_TAILROOM,
				.len = fr->len - FRAME_ETH_LEN,
			};
		}
		send_tunnel_packets(dev, f->pkts, m);
		xsk_frame_put(port, f->frames, n);
		fastpath_flush(dev);
		if (n < DATAPATH_BATCH)
			break;
	}
}

static void endpoint_from_frame(struct udp_endpoint *ep, const struct frame_udp *u, int ifindex)
{
	memset(ep, 0, sizeof(*ep));
	if (u->family == AF_INET) {
		ep->addr.in4.sin_family = AF_INET;
		ep->addr.in4.sin_port = htons(u->sport);
		memcpy(&ep->addr.in4.sin_addr, u->src, 4);
		memcpy(&ep->src4, u->dst, 4);
	} else {
		ep->addr.in6.sin6_family = AF_INET6;
		ep->addr.in6.sin6_port = htons(u->sport);
		memcpy(&ep->addr.in6.sin6_addr, u->src, 16);
		memcpy(&ep->src6, u->dst, 16);
		/* A link-local sender is only reachable through this link. */
		if (u->src[0] == 0xfe && (u->src[1] & 0xc0) == 0x80)
			ep->addr.in6.sin6_scope_id = (uint32_t)ifindex;
	}
	ep->src_ifindex = ifindex;
	ep->has_src = true;
}

/* Data messages xdp_rx steered to us: open them (ctl/receive.c). */
static void underlay_readable(struct wg_device *dev, struct fastpath_dp *f,
			      struct fastpath_src *src)
{
	struct xsk_port *port = src->port;
	uint16_t port_no = udp_socks_port(&dev->udp);
	unsigned int b, i, n, m;

	for (b = 0; b < FASTPATH_MAX_BATCHES; b++) {
		n = xsk_rx_get(port, f->frames, DATAPATH_BATCH);
		if (!n)
			break;
		if (!b)
			note_backlog(src, n);
		for (i = 0, m = 0; i < n; i++) {
			struct xsk_frame *fr = &f->frames[i];
			struct frame_udp u;

			if (!frame_parse_udp(fr->data, fr->len, &u) || u.dport != port_no) {
				device_count_drop(dev, DROP_RX_BAD_FRAME);
				continue;
			}
			f->rx[m].buf = fr->data + u.payload_off;
			f->rx[m].cap = u.payload_len;
			f->rx[m].len = u.payload_len;
			f->rx[m].truncated = false;
			endpoint_from_frame(&f->rx[m].ep, &u, f->ul_ifindex);
			m++;
		}
		receive_datagrams(dev, f->rx, m);
		fastpath_flush(dev);
		xsk_frame_put(port, f->frames, n);
		if (n < DATAPATH_BATCH)
			break;
	}
}

void fastpath_dp_readable(struct wg_device *dev)
{
	struct fastpath_dp *f = fast_of(dev);
	struct epoll_event events[16];
	int i, n;

	if (!f)
		return;
	n = epoll_wait(f->epfd, events, 16, 0);
	for (i = 0; i < n; i++) {
		struct fastpath_src *src = events[i].data.ptr;

		switch (src->kind) {
		case FASTPATH_FD_TWIN:
			twin_readable(dev, f, src);
			break;
		case FASTPATH_FD_UNDERLAY:
			underlay_readable(dev, f, src);
			break;
		case FASTPATH_FD_EVENTS:
			ring_buffer__consume(f->events);
			break;
		case FASTPATH_FD_WORKER:
			worker_complete(f->worker);
			break;
		}
	}
}

int fastpath_deliver(struct wg_device *dev, const void *pkt, size_t len)
{
	struct fastpath_dp *f = fast_of(dev);
	struct xsk_port *port;
	struct xsk_frame *fr;
	const uint8_t *p = pkt;

	if (!f || !f->n_twin)
		return -ENODEV;
	if (!len || (p[0] >> 4 != 4 && p[0] >> 4 != 6))
		return -EINVAL;
	/* A veth takes in nothing longer than its MTU plus an Ethernet
	 * header and a VLAN tag (is_skb_forwardable); a TUN device would,
	 * but this is not one. */
	if (!dev->mtu_unknown && len > dev->mtu + VETH_SLACK)
		return -EMSGSIZE;
	port = f->twin_ports[0];
	if (f->n_out == DATAPATH_BATCH)
		fastpath_flush(dev);
	fr = &f->out[f->n_out];
	if (xsk_frame_get(port, fr, 1) != 1) {
		xsk_tx_complete(port);
		if (xsk_frame_get(port, fr, 1) != 1)
			return -ENOBUFS;
	}
	if (len + FRAME_ETH_LEN > xsk_frame_tailroom(port, fr)) {
		xsk_frame_put(port, fr, 1);
		return -EMSGSIZE;
	}
	frame_eth_build(fr->data, f->fp.twin.mac, f->fp.twin.twin_mac, p[0] >> 4);
	memcpy(fr->data + FRAME_ETH_LEN, pkt, len);
	fr->len = (uint32_t)(len + FRAME_ETH_LEN);
	f->n_out++;
	return 0;
}

void fastpath_flush(struct wg_device *dev)
{
	struct fastpath_dp *f = fast_of(dev);
	struct xsk_port *port;
	unsigned int done = 0, tries;
	int ret;

	if (!f || !f->n_out)
		return;
	port = f->twin_ports[0];
	/* The TX ring frees up as the kernel completes: a few rounds. */
	for (tries = 0; done < f->n_out && tries < 64; tries++) {
		ret = xsk_tx_submit(port, f->out + done, f->n_out - done);
		if (ret < 0)
			break;
		done += (unsigned int)ret;
		if (done < f->n_out)
			xsk_tx_complete(port);
	}
	if (done < f->n_out) {
		dev->drops[DROP_RX_TUN_WRITE] += f->n_out - done;
		xsk_frame_put(port, f->out + done, f->n_out - done);
	}
	f->n_out = 0;
}

/* ---- keeping the maps in step ----
 *
 * The daemon's state is the truth; the maps mirror it. A write that fails
 * (mirror_failed) is counted, kept for the configuration transaction that
 * caused it (fastpath_error_take), logged once per episode, and leaves
 * something for fastpath_dp_tick to re-sync: the live peer whose mirror it
 * was (fp_out_of_step: its peers entry, all its prefixes, its live
 * indices are written again), a removed peer whose id could not be
 * cleared (an orphan: its id stays taken until its prefixes and slot are),
 * a receiver index that could not be removed (stale_indices), or the config
 * map (listen port, AF_XDP underlay: config_out_of_step). */

static void endpoint_to_map(const struct udp_endpoint *ep, struct xwg_endpoint *out)
{
	memset(out, 0, sizeof(*out));
	switch (udp_endpoint_family(ep)) {
	case AF_INET:
		out->family = AF_INET;
		out->port = ep->addr.in4.sin_port;
		memcpy(out->addr, &ep->addr.in4.sin_addr, 4);
		if (ep->has_src)
			memcpy(out->src, &ep->src4, 4);
		break;
	case AF_INET6:
		out->family = AF_INET6;
		out->port = ep->addr.in6.sin6_port;
		memcpy(out->addr, &ep->addr.in6.sin6_addr, 16);
		if (ep->has_src)
			memcpy(out->src, &ep->src6, 16);
		break;
	default:
		return;
	}
	if (ep->has_src)
		out->ifindex = (uint32_t)ep->src_ifindex;
}

/* A write failed: see above. peer: the live peer whose mirror it was, or
 * NULL (the caller has put what to retry on a list). Returns err. */
static int mirror_failed(struct fastpath_dp *f, struct wg_peer *peer, const char *what, int err)
{
	f->map_write_errors++;
	if (!f->first_error)
		f->first_error = err;
	f->out_of_step = true;
	if (peer) {
		peer->fp_out_of_step = true;
		peer->fp_write_errors++;
	}
	if (!f->episode_logged) {
		log_error("fast path: cannot write %s%s%.0u: %s; the maps lag the configuration "
			  "until a re-sync succeeds (tried every %u ms; SIGUSR1 and peer_stats "
			  "id 0 count the failures)", what, peer ? " of peer " : "",
			  peer ? peer->fp_id : 0, strerror(-err),
			  (unsigned int)(FASTPATH_RESYNC_NS / NSEC_PER_MSEC));
		f->episode_logged = true;
	}
	return err;
}

/* After a rewrite of the config map (listen port, AF_XDP underlay): a
 * failed one is re-synced like any other mirror write (the loader keeps
 * the values it should hold). Returns ret. */
static int config_written(struct fastpath_dp *f, int ret)
{
	if (ret) {
		f->config_out_of_step = true;
		return mirror_failed(f, NULL, "the config map", ret);
	}
	f->config_out_of_step = false;
	return 0;
}

int fastpath_error_take(struct wg_device *dev)
{
	struct fastpath_dp *f = fast_of(dev);
	int err;

	if (!f)
		return 0;
	err = f->first_error;
	f->first_error = 0;
	return err;
}

static int peer_write(struct fastpath_dp *f, struct wg_peer *peer)
{
	struct xwg_endpoint ep;
	uint32_t flags = peer_sending_keypair(peer) ? XWG_PEER_CAN_SEND : 0;
	int ret;

	endpoint_to_map(&peer->endpoint, &ep);
	if (peer->fp_written && flags == peer->fp_flags &&
	    !memcmp(&ep, &peer->fp_endpoint, sizeof(ep)))
		return 0;
	ret = fastpath_peer_set(&f->fp, peer->fp_id, peer->public_key, &ep, flags);
	if (ret)
		return mirror_failed(f, peer, "the peers entry", ret);
	if (ep.family && (!peer->fp_written ||
			  memcmp(ep.addr, peer->fp_endpoint.addr, sizeof(ep.addr))))
		endpoint_follow(f, ep.family, ep.addr);
	peer->fp_flags = flags;
	peer->fp_endpoint = ep;
	peer->fp_written = true;
	return 0;
}

/* A free peer id for peer: -ENOSPC when every one is taken (by live peers,
 * orphans, or the old peers during a replace_peers transaction). */
static int id_take(struct fastpath_dp *f, struct wg_peer *peer)
{
	uint32_t id;

	if (f->n_free)
		id = f->free_ids[--f->n_free];
	else if (f->next_id < XWG_MAX_PEERS)
		id = f->next_id++;
	else
		return -ENOSPC;
	f->by_id[id] = peer;
	peer->fp_id = id;
	peer->fp_written = false;
	return 0;
}

static void id_release(struct fastpath_dp *f, uint32_t id)
{
	f->by_id[id] = NULL;
	f->free_ids[f->n_free++] = id;
}

int fastpath_peer_added(struct wg_device *dev, struct wg_peer *peer)
{
	struct fastpath_dp *f = fast_of(dev);

	if (!f)
		return 0;
	peer->fp_out_of_step = false;
	if (id_take(f, peer)) {
		/* No id yet: the re-sync gives it one when one is free. */
		peer->fp_out_of_step = true;
		f->out_of_step = true;
		return -ENOSPC;
	}
	return peer_write(f, peer);
}

int fastpath_peer_refresh(struct wg_device *dev, struct wg_peer *peer)
{
	struct fastpath_dp *f = fast_of(dev);

	if (f && peer->fp_id)
		return peer_write(f, peer);
	return 0;
}

static int prefix_cmp(const void *a, const void *b)
{
	const struct fastpath_prefix *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (x->cidr != y->cidr)
		return x->cidr < y->cidr ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

struct prefix_list {
	struct fastpath_prefix *v;
	size_t n, cap;
	int err;
};

static int prefix_collect(void *ctx, int family, const void *addr, uint8_t cidr)
{
	struct prefix_list *l = ctx;
	struct fastpath_prefix *p;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		void *v = realloc(l->v, cap * sizeof(*l->v));

		if (!v) {
			l->err = -ENOMEM;
			return 1;
		}
		l->v = v;
		l->cap = cap;
	}
	p = &l->v[l->n++];
	memset(p, 0, sizeof(*p));
	p->family = family == AF_INET ? 4 : 6;
	p->cidr = cidr;
	memcpy(p->addr, addr, family == AF_INET ? 4 : 16);
	return 0;
}

static int family_of(const struct fastpath_prefix *p)
{
	return p->family == 4 ? AF_INET : AF_INET6;
}

/* A prefix the peer no longer has: another peer took it (point the trie
 * there) or nobody has it (remove it). 0 or -errno (not logged). */
static int prefix_left(struct fastpath_dp *f, struct wg_device *dev,
		       const struct fastpath_prefix *p)
{
	struct wg_peer *owner = allowedips_owner(&dev->allowedips, family_of(p), p->addr, p->cidr);
	int ret;

	if (owner && owner->fp_id)
		ret = fastpath_allowedip_add(&f->fp, family_of(p), p->addr, p->cidr, owner->fp_id);
	else
		ret = fastpath_allowedip_remove(&f->fp, family_of(p), p->addr, p->cidr);
	return ret == -ENOENT ? 0 : ret;
}

/* Writes the prefixes of add[0..n) (all of one peer) in batches per
 * family. */
static int prefixes_add(struct fastpath_dp *f, uint32_t id, const struct fastpath_prefix *add,
			size_t n)
{
	uint8_t (*addrs)[16];
	uint8_t *cidrs;
	size_t i, m;
	int fam, ret = 0;

	if (!n)
		return 0;
	addrs = malloc(n * sizeof(*addrs));
	cidrs = malloc(n);
	if (!addrs || !cidrs) {
		free(addrs);
		free(cidrs);
		return -ENOMEM;
	}
	for (fam = 4; fam <= 6 && !ret; fam += 2) {
		for (i = 0, m = 0; i < n; i++) {
			if (add[i].family != fam)
				continue;
			memcpy(addrs[m], add[i].addr, 16);
			cidrs[m++] = add[i].cidr;
		}
		if (m)
			ret = fastpath_allowedips_add_batch(&f->fp, fam == 4 ? AF_INET : AF_INET6,
							    (const uint8_t (*)[16])addrs, cidrs, id, m);
	}
	free(addrs);
	free(cidrs);
	return ret;
}

/* Brings the tries in step with the peer's prefixes. Those not in
 * fp_prefixes (what the tries may hold for the peer) are added first, all
 * of them when full (a re-sync cannot know which entries of a failed
 * batch landed), so traffic to a prefix that moves between peers always
 * finds one; then each prefix it no longer has is pointed at its owner now
 * or removed. On success fp_prefixes is the new list; on a failure the
 * union of both, so that whatever the tries may hold for the peer stays
 * known: the re-sync adds what is missing and removes what left. The
 * union's memory is taken before anything is written. */
static int prefixes_sync(struct fastpath_dp *f, struct wg_device *dev, struct wg_peer *peer,
			 bool full)
{
	struct prefix_list cur = { 0 };
	struct fastpath_prefix *add, *both;
	const struct fastpath_prefix *old = peer->fp_prefixes;
	size_t n_old = peer->fp_n_prefixes, i = 0, j = 0, n_add = 0, n_both = 0;
	int ret, r;

	allowedips_walk_by_peer(&dev->allowedips, peer, prefix_collect, &cur);
	if (cur.n)
		qsort(cur.v, cur.n, sizeof(*cur.v), prefix_cmp);
	add = malloc((cur.n ? cur.n : 1) * sizeof(*add));
	both = malloc((cur.n + n_old ? cur.n + n_old : 1) * sizeof(*both));
	if (cur.err || !add || !both) {
		free(cur.v);
		free(add);
		free(both);
		return mirror_failed(f, peer, "allowed IPs", -ENOMEM);
	}
	/* Merge the sorted lists. */
	while (i < cur.n || j < n_old) {
		int c = i == cur.n ? 1 : j == n_old ? -1 : prefix_cmp(&cur.v[i], &old[j]);

		if (c <= 0 && (c < 0 || full))
			add[n_add++] = cur.v[i];
		both[n_both++] = c <= 0 ? cur.v[i] : old[j];
		i += c <= 0;
		j += c >= 0;
	}
	ret = prefixes_add(f, peer->fp_id, add, n_add);
	free(add);
	for (i = 0, j = 0; j < n_old; j++) {
		while (i < cur.n && prefix_cmp(&cur.v[i], &old[j]) < 0)
			i++;
		if (i < cur.n && !prefix_cmp(&cur.v[i], &old[j]))
			continue;
		r = prefix_left(f, dev, &old[j]);
		ret = ret ? ret : r;
	}
	free(peer->fp_prefixes);
	if (ret) {
		free(cur.v);
		peer->fp_prefixes = both;
		peer->fp_n_prefixes = n_both;
		return mirror_failed(f, peer, "allowed IPs", ret);
	}
	free(both);
	peer->fp_prefixes = cur.v;
	peer->fp_n_prefixes = cur.n;
	return 0;
}

int fastpath_allowedips_changed(struct wg_device *dev, struct wg_peer *peer)
{
	struct fastpath_dp *f = fast_of(dev);

	if (!f || !peer->fp_id)
		return 0;
	return prefixes_sync(f, dev, peer, false);
}

/* Writes every live receiver index of the peer (a walk of the daemon's
 * index table: only when re-syncing). */
static int indices_sync(struct fastpath_dp *f, struct wg_device *dev, struct wg_peer *peer)
{
	const struct index_table *t = &dev->indices;
	uint32_t i;
	int ret = 0, r;

	for (i = 0; t->slots && i <= t->mask; i++) {
		const struct index_entry *e = &t->slots[i];

		/* Index 0 marks an empty slot, UINT32_MAX a deleted one. */
		if (!e->is_keypair || e->peer != peer || !e->index || e->index == UINT32_MAX)
			continue;
		r = fastpath_index_set(&f->fp, e->index, peer->fp_id, XWG_SLOT_CURRENT);
		if (r)
			ret = ret ? ret : mirror_failed(f, peer, "a receiver index", r);
	}
	return ret;
}

static int orphan_retry(struct fastpath_dp *f, struct wg_device *dev, struct fastpath_orphan *o)
{
	size_t j;
	int ret = 0, r;

	for (j = 0; j < o->n_prefixes; j++) {
		r = prefix_left(f, dev, &o->prefixes[j]);
		ret = ret ? ret : r;
	}
	if (!ret)
		ret = fastpath_peer_clear(&f->fp, o->id);
	return ret;
}

int fastpath_peer_removed(struct wg_device *dev, struct wg_peer *peer)
{
	struct fastpath_dp *f = fast_of(dev);
	struct fastpath_orphan o;
	int ret = 0;

	if (!f)
		return 0;
	if (!peer->fp_id) {
		free(peer->fp_prefixes);
		goto out;
	}
	o = (struct fastpath_orphan){ .id = peer->fp_id, .prefixes = peer->fp_prefixes,
				      .n_prefixes = peer->fp_n_prefixes };
	f->by_id[o.id] = NULL;
	ret = orphan_retry(f, dev, &o);
	if (!ret) {
		free(o.prefixes);
		id_release(f, o.id);
		goto out;
	}
	if (f->n_orphans == f->cap_orphans) {
		size_t cap = f->cap_orphans ? f->cap_orphans * 2 : 8;
		void *v = realloc(f->orphans, cap * sizeof(*f->orphans));

		if (!v) {
			/* The id stays taken; what it holds in the tries
			 * stays until the daemon restarts. */
			log_error("fast path: out of memory: peer id %u stays in the maps", o.id);
			free(o.prefixes);
			mirror_failed(f, NULL, "a removed peer", ret);
			goto out;
		}
		f->orphans = v;
		f->cap_orphans = cap;
	}
	f->orphans[f->n_orphans++] = o;
	mirror_failed(f, NULL, "a removed peer", ret);
out:
	peer->fp_prefixes = NULL;
	peer->fp_n_prefixes = 0;
	peer->fp_id = 0;
	peer->fp_out_of_step = false;
	return ret;
}

int fastpath_index_keypair(struct wg_device *dev, uint32_t index, struct wg_peer *peer)
{
	struct fastpath_dp *f = fast_of(dev);
	int ret;

	/* A peer without an id is out of step already: the re-sync writes
	 * its indices. */
	if (!f || !peer->fp_id)
		return 0;
	ret = fastpath_index_set(&f->fp, index, peer->fp_id, XWG_SLOT_CURRENT);
	return ret ? mirror_failed(f, peer, "a receiver index", ret) : 0;
}

int fastpath_index_removed(struct wg_device *dev, uint32_t index)
{
	struct fastpath_dp *f = fast_of(dev);
	int ret;

	if (!f)
		return 0;
	ret = fastpath_index_remove(&f->fp, index);
	if (!ret || ret == -ENOENT)
		return 0;
	if (f->n_stale == f->cap_stale) {
		size_t cap = f->cap_stale ? f->cap_stale * 2 : 16;
		void *v = realloc(f->stale_indices, cap * sizeof(*f->stale_indices));

		if (!v) {
			/* xdp_rx steers the index's packets to the daemon,
			 * which drops them as of no session. */
			log_error("fast path: out of memory: receiver index %08x stays in the map",
				  index);
			return mirror_failed(f, NULL, "a removed receiver index", ret);
		}
		f->stale_indices = v;
		f->cap_stale = cap;
	}
	f->stale_indices[f->n_stale++] = index;
	return mirror_failed(f, NULL, "a removed receiver index", ret);
}

void fastpath_link_moved(struct wg_device *dev)
{
	struct fastpath_dp *f = fast_of(dev);

	if (!f || !f->fp.tun_mode || !f->fp.tc_prog_id)
		return;
	/* The kernel deletes an interface's qdiscs when it changes namespace,
	 * and this process cannot attach in a namespace it does not know.
	 * Nothing stops: the daemon routes every packet it reads itself. */
	f->fp.tc_prog_id = 0;
	f->fp.tc_qdisc_created = false;
	log_info("fast path: tc_tx went with the move (the kernel removes the qdiscs of an "
		 "interface that changes namespace); the daemon routes, answers unroutable "
		 "packets and starts handshakes itself");
}

int fastpath_listen_port(struct wg_device *dev, uint16_t port)
{
	struct fastpath_dp *f = fast_of(dev);

	return f ? config_written(f, fastpath_listen_port_set(&f->fp, port)) : 0;
}

/* A live peer out of step: everything of its mirror written again. */
static int peer_resync(struct fastpath_dp *f, struct wg_device *dev, struct wg_peer *peer)
{
	int ret, r;

	if (!peer->fp_id && id_take(f, peer))
		return -ENOSPC;
	peer->fp_written = false;
	ret = peer_write(f, peer);
	r = prefixes_sync(f, dev, peer, true);
	ret = ret ? ret : r;
	r = indices_sync(f, dev, peer);
	ret = ret ? ret : r;
	if (!ret)
		peer->fp_out_of_step = false;
	return ret;
}

/* Everything out of step, written again; the episode ends when all of it
 * is written. */
static void mirror_resync(struct fastpath_dp *f, struct wg_device *dev)
{
	struct wg_peer *peer;
	size_t i, n;
	bool all = true;
	int ret;

	/* Orphans first: their ids may be what a peer without one waits
	 * for. */
	for (i = 0, n = 0; i < f->n_orphans; i++) {
		ret = orphan_retry(f, dev, &f->orphans[i]);
		if (!ret) {
			free(f->orphans[i].prefixes);
			id_release(f, f->orphans[i].id);
			continue;
		}
		mirror_failed(f, NULL, "a removed peer", ret);
		f->orphans[n++] = f->orphans[i];
	}
	f->n_orphans = n;
	for (i = 0, n = 0; i < f->n_stale; i++) {
		uint32_t index = f->stale_indices[i];
		const struct index_entry *e = device_index_lookup(dev, index);

		/* A live session given the same index since: it is right. */
		if (e && e->is_keypair)
			continue;
		ret = fastpath_index_remove(&f->fp, index);
		if (!ret || ret == -ENOENT)
			continue;
		mirror_failed(f, NULL, "a removed receiver index", ret);
		f->stale_indices[n++] = index;
	}
	f->n_stale = n;
	if (f->config_out_of_step &&
	    config_written(f, fastpath_config_rewrite(&f->fp)))
		all = false;
	for (peer = dev->peers.first; peer; peer = peer->next)
		if (peer->fp_out_of_step && peer_resync(f, dev, peer))
			all = false;
	if (!all || f->n_orphans || f->n_stale)
		return;
	f->out_of_step = false;
	if (f->episode_logged)
		log_info("fast path: the maps agree with the configuration again (%llu map "
			 "writes failed so far)", (unsigned long long)f->map_write_errors);
	f->episode_logged = false;
}

/* ---- counters ---- */


void fastpath_log_stats(struct wg_device *dev)
{
	struct fastpath_dp *f = fast_of(dev);
	uint64_t counts[XWG_DROP_REASONS];
	unsigned int r;

	if (!f)
		return;
	log_info("fast path maps: %llu writes, %llu failed%s", (unsigned long long)
		 fastpath_map_writes(), (unsigned long long)f->map_write_errors,
		 f->out_of_step ? "; out of step now, being re-synced" : "");
	for (r = 0; r < f->n_srcs; r++) {
		const struct fastpath_src *src = &f->srcs[r];

		if (!src->port || !src->wakeups)
			continue;
		log_info("%s ring, queue %u: %llu wake-ups found %.1f packets waiting on "
			 "average, %u at most", src->kind == FASTPATH_FD_TWIN ? "twin" : "underlay",
			 xsk_port_queue(src->port), (unsigned long long)src->wakeups,
			 (double)src->backlog_sum / (double)src->wakeups, src->backlog_max);
	}
	/* What the kernel dropped before a packet reached a ring. */
	for (r = 0; r < f->n_srcs; r++) {
		const struct fastpath_src *src = &f->srcs[r];
		struct xsk_port_stats st;

		if (!src->port || xsk_port_stats_get(src->port, &st))
			continue;
		log_info("AF_XDP %s queue %u: rx dropped %llu, invalid descriptors rx %llu tx "
			 "%llu, rx ring full %llu, fill ring empty %llu",
			 src->kind == FASTPATH_FD_TWIN ? "twin" : "underlay",
			 xsk_port_queue(src->port), (unsigned long long)st.rx_dropped,
			 (unsigned long long)st.rx_invalid_descs,
			 (unsigned long long)st.tx_invalid_descs,
			 (unsigned long long)st.rx_ring_full,
			 (unsigned long long)st.rx_fill_ring_empty);
	}
	if (fastpath_drops_read(&f->fp, counts))
		return;
	for (r = 1; r < XWG_DROP_REASONS; r++)
		if (counts[r] && fastpath_drop_reason_name(r))
			log_info("%s %s: %llu", r == XWG_PASS_RX_TOO_BIG_FOR_XSK ? "passed to the "
				 "stack" : "dropped", fastpath_drop_reason_name(r),
				 (unsigned long long)counts[r]);
}

/* The kernel's statistics of every AF_XDP socket into xsk_stats, slot by
 * slot in the order the sockets were opened (they are only ever added), for
 * the metrics reader: it holds no socket to ask. */
static void xsk_stats_publish(struct fastpath_dp *f)
{
	uint32_t slot = 0;
	unsigned int r;

	for (r = 0; r < f->n_srcs && slot < XWG_MAX_XSKS; r++) {
		const struct fastpath_src *src = &f->srcs[r];
		struct xsk_port_stats st;

		if (!src->port || xsk_port_stats_get(src->port, &st))
			continue;
		fastpath_xsk_stats_write(&f->fp, slot++, &(struct xwg_xsk_stats){
			.ifindex = (uint32_t)(src->kind == FASTPATH_FD_TWIN ?
					      f->fp.twin.twin_ifindex : f->ul_ifindex),
			.queue = xsk_port_queue(src->port),
			.rx_dropped = st.rx_dropped,
			.rx_invalid_descs = st.rx_invalid_descs,
			.tx_invalid_descs = st.tx_invalid_descs,
			.rx_ring_full = st.rx_ring_full,
			.rx_fill_ring_empty = st.rx_fill_ring_empty,
			.tx_ring_empty = st.tx_ring_empty,
		});
	}
}

void fastpath_dp_tick(struct wg_device *dev)
{
	struct fastpath_dp *f = fast_of(dev);
	xwg_time_t now = platform_now();
	struct wg_peer *peer;

	if (!f)
		return;
	if (f->out_of_step && now - f->last_resync >= FASTPATH_RESYNC_NS) {
		f->last_resync = now;
		mirror_resync(f, dev);
	}
	if (now - f->last_tick < FASTPATH_TICK_NS)
		return;
	f->last_tick = now;
	/* A beat that fails is tried again at the next tick. */
	(void)fastpath_heartbeat(&f->fp);
	/* Id 0 is no peer's: the device's totals, cookie replies included
	 * (they answer senders not yet authenticated, so no peer's). */
	fastpath_peer_stats_write(&f->fp, 0, &(struct xwg_peer_stats){
		.handshakes_sent = dev->handshakes_sent,
		.handshakes_received = dev->handshakes_received,
		.cookies_sent = dev->cookies_sent,
		.map_write_errors = f->map_write_errors,
	});
	/* Stores into the mmapped map: only what changed, so that an idle
	 * peer's cache lines are left alone. */
	for (peer = dev->peers.first; peer; peer = peer->next) {
		struct xwg_peer_stats s = {
			.rx_packets = peer->stats.rx_packets,
			.rx_bytes = peer->rx_bytes,
			.tx_packets = peer->stats.tx_packets,
			.tx_bytes = peer->tx_bytes,
			.rx_dropped = peer->stats.rx_dropped,
			.tx_dropped = peer->stats.tx_dropped,
			.handshakes_sent = peer->stats.handshakes_sent,
			.handshakes_received = peer->stats.handshakes_received,
			.map_write_errors = peer->fp_write_errors,
		};

		if (!peer->fp_id || !memcmp(&s, &peer->fp_stats, sizeof(s)))
			continue;
		fastpath_peer_stats_write(&f->fp, peer->fp_id, &s);
		peer->fp_stats = s;
	}
	xsk_stats_publish(f);
}
