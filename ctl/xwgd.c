// SPDX-License-Identifier: GPL-2.0
/*
 * xwgd: a WireGuard daemon with wireguard-go's command-line contract, so
 * wg(8) and wg-quick(8) drive it unchanged:
 *
 *   xwgd [-f|--foreground] [--takeover] IFNAME
 *   xwgd --events IFNAME        (print IFNAME's event stream, ctl/events.h)
 *
 * One process: this epoll loop (configuration socket, UDP sockets, the
 * TUN fd, one timerfd, netlink events, signals) plus the crypto workers.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <stddef.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/device.h"
#include "ctl/events.h"
#include "ctl/events_client.h"
#include "ctl/fastpath.h"
#include "ctl/handshake/crypto.h"
#include "base/log.h"
#include "ctl/netdev.h"
#include "ctl/notify.h"
#include "ctl/snapshot.h"
#include "ctl/takeover.h"
#include "ctl/uapi.h"
#include "datapath/crypto_pool.h"
#include "datapath/tun.h"
#include "datapath/udp.h"

#define XWG_VERSION "0.1.0"
#define MAX_BATCHES_PER_WAKE 8

enum source_kind { SRC_SIGNAL, SRC_UAPI_LISTEN, SRC_UAPI_CONN, SRC_UDP, SRC_TUN,
		   SRC_TIMER, SRC_NETLINK, SRC_INOTIFY, SRC_FASTPATH, SRC_EVENTS, SRC_TAKEOVER };

struct source {
	enum source_kind kind;
	int fd;
	struct uapi_conn *conn;   /* SRC_UAPI_CONN */
	uint32_t events;          /* SRC_UAPI_CONN: what epoll waits for */
};

enum datapath_choice { DATAPATH_PORTABLE, DATAPATH_XDP, DATAPATH_AUTO };

struct daemon {
	struct wg_device dev;
	int epfd, sigfd, timerfd, inotify_fd, uapi_fd;
	char uapi_path[PATH_MAX];
	/* --takeover (ctl/takeover.h): our listening socket, and whether a
	 * new process took the tunnel over (then nothing is removed). */
	int takeover_fd;
	char takeover_path[PATH_MAX];
	int ready_fd;             /* detached --takeover: tells the parent */
	struct source src_takeover;
	bool handed_over;
	struct netdev_monitor *mon;
	struct source src_signal, src_uapi, src_udp4, src_udp6, src_tun, src_timer,
		src_netlink, src_inotify, src_fast, src_events;
	struct events *events;    /* IFNAME.events; NULL if it could not be made */
	/* After a takeover: the old process's event socket goes with it;
	 * ours is made once that PID is gone, until this deadline. */
	pid_t events_old_pid;
	xwg_time_t events_retry_until;
	struct tun_packet tun_pkts[DATAPATH_BATCH];
	struct udp_rx udp_rx[DATAPATH_BATCH];
	struct udp_rx udp_split[DATAPATH_BATCH];  /* udp_rx cut at GRO boundaries */
	uint8_t *tun_bufs, *udp_bufs;
	xwg_time_t armed_deadline;
	/* XWG_BUSY_POLL_US: after packets, poll this long before sleeping. */
	xwg_time_t busy_poll_ns, polling_until;
	bool running;
	int exit_code;
	/* systemd's watchdog (WatchdogSec=): fed every watchdog_ns / 2. */
	xwg_time_t watchdog_ns, watchdog_next;
};

/* ---- systemd: readiness, status, watchdog ----
 * sd_notify(3)'s protocol without libsystemd: one datagram of
 * "VAR=value" lines to the unix socket $NOTIFY_SOCKET (a path, or "@" for
 * the abstract namespace). A no-op when systemd did not start us. */
static void sd_notify_send(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = path ? strlen(path) : 0;
	int fd;

	if (!len || (path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		log_debug("sd_notify: %s", strerror(errno));
	close(fd);
}

/* WatchdogSec= sets $WATCHDOG_USEC (and $WATCHDOG_PID: ours, or unset). */
static xwg_time_t sd_watchdog_ns(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long us;
	char *end;

	if (!usec || !*usec || (pid && *pid && strtol(pid, NULL, 10) != getpid()))
		return 0;
	errno = 0;
	us = strtoull(usec, &end, 10);
	return errno || *end ? 0 : (xwg_time_t)us * 1000;
}

/* Once per turn of the main loop: a loop that stops turning stops feeding
 * the watchdog, and systemd restarts us. */
static void sd_watchdog_feed(struct daemon *d)
{
	xwg_time_t now;

	if (!d->watchdog_ns)
		return;
	now = platform_now();
	if (now < d->watchdog_next)
		return;
	sd_notify_send("WATCHDOG=1");
	d->watchdog_next = now + d->watchdog_ns / 2;
}

/* How long epoll_wait may sleep (ms) so that the watchdog is fed in time. */
static int sd_watchdog_timeout(const struct daemon *d, int timeout)
{
	xwg_time_t now, left;
	int ms;

	if (!d->watchdog_ns)
		return timeout;
	now = platform_now();
	left = d->watchdog_next > now ? d->watchdog_next - now : 0;
	ms = (int)(left / 1000000) + 1;
	return timeout < 0 || ms < timeout ? ms : timeout;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: xwgd [-f|--foreground] [--takeover] INTERFACE-NAME\n"
		"       xwgd --events INTERFACE-NAME\n"
		"\n"
		"Creates the WireGuard interface INTERFACE-NAME and serves its\n"
		"configuration socket %s/INTERFACE-NAME.sock for wg(8) and\n"
		"wg-quick(8). Detaches unless --foreground is given; exits on SIGINT or\n"
		"SIGTERM, or when the interface or the socket is removed. SIGUSR1 logs\n"
		"the counters (drops by reason, handshakes, cookie replies).\n"
		"\n"
		"Options:\n"
		"  -f, --foreground  stay in the foreground, log to stderr\n"
		"  -e, --events      print the event stream of INTERFACE-NAME's daemon\n"
		"                    (%s/INTERFACE-NAME.events: JSON lines of\n"
		"                    handshakes, endpoints, peers, allowed IPs, cookie\n"
		"                    mode, drop rates) to stdout until it ends\n"
		"      --takeover    take INTERFACE-NAME over from the xwgd running it,\n"
		"                    sessions and all (no new handshake), through\n"
		"                    %s/INTERFACE-NAME.takeover; portable data path\n"
		"                    only; exits 1 and leaves the old one serving if it\n"
		"                    cannot\n"
		"  -h, --help        show this help\n"
		"  -v, --version     show the version\n"
		"\n"
		"Environment:\n"
		"  LOG_LEVEL=silent|error|info|verbose|debug   (default info)\n"
		"  XWG_DATAPATH=portable|xdp|auto              (default auto: xdp where it\n"
		"                loads, else portable, saying why in one line)\n"
		"  XWG_XDP_IFACES=eth0,...  underlays for the fast path (default: those\n"
		"                of the default routes)\n"
		"  XWG_THREADS=N    crypto threads, 1 to 1024 (default: one per online CPU\n"
		"                but one, at least one)\n"
		"  XWG_AEAD=libsodium|openssl|auto  ChaCha20-Poly1305 code (default auto:\n"
		"                libsodium below 384 bytes, OpenSSL from 384)\n"
		"  XWG_XSK_RING=N   entries of each AF_XDP ring, a power of two from 64\n"
		"                to 4096 (default 2048; smaller: less delay under load,\n"
		"                less throughput)\n"
		"  XWG_OFFLOAD=on|off  super-packets between the stack and xwgd (TSO,\n"
		"                GRO on the tunnel interface, UDP GRO on the sockets;\n"
		"                default on; off: one packet per read and write)\n"
		"  XWG_UDP_GSO=on|off  send each peer's datagrams of a batch as one UDP\n"
		"                GSO message (default on; off: one per datagram)\n"
		"  XWG_BUSY_POLL_US=N  after packets, keep polling N microseconds (0 to\n"
		"                10000) before sleeping (default 0: sleep at once; more:\n"
		"                lower latency for CPU time)\n"
		"\n"
		"Example: WG_QUICK_USERSPACE_IMPLEMENTATION=xwgd wg-quick up wg0\n",
		UAPI_SOCKET_DIR, UAPI_SOCKET_DIR, UAPI_SOCKET_DIR);
}

static int epoll_add(struct daemon *d, struct source *s, int fd, enum source_kind kind)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };

	s->kind = kind;
	s->fd = fd;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

static int register_udp(struct daemon *d)
{
	int ret = epoll_add(d, &d->src_udp4, d->dev.udp.fd4, SRC_UDP);

	if (!ret && d->dev.udp.fd6 >= 0)
		ret = epoll_add(d, &d->src_udp6, d->dev.udp.fd6, SRC_UDP);
	return ret;
}

/* ---- configuration socket ---- */

static int uapi_set(void *ctx, const struct uapi_set *set)
{
	struct daemon *d = ctx;
	int fd4 = d->dev.udp.fd4, fd6 = d->dev.udp.fd6, ret;

	/* Its events go out at the end, net of what it undid. */
	notify_config_begin(&d->dev);
	ret = device_config_set(&d->dev, set);
	notify_config_end(&d->dev);
	/* A new listen port means new sockets: watch those instead. */
	if (d->dev.udp.fd4 != fd4 || d->dev.udp.fd6 != fd6) {
		/* Even after an error: the sockets changed (a failed map
		 * write reports an error for a set that was applied). */
		int r = register_udp(d);

		ret = ret ? ret : r;
		fastpath_listen_port(&d->dev, udp_socks_port(&d->dev.udp));
		log_info("listening on UDP port %u", udp_socks_port(&d->dev.udp));
	}
	return ret;
}

static int uapi_get(void *ctx, struct uapi_buf *out)
{
	struct daemon *d = ctx;

	return device_config_get(&d->dev, out);
}

static int uapi_get_piece(void *ctx, void **pos, struct uapi_buf *out)
{
	struct daemon *d = ctx;

	return device_config_get_piece(&d->dev, pos, out);
}

static uint64_t uapi_generation(void *ctx)
{
	struct daemon *d = ctx;

	return d->dev.config_generation;
}

/*
 * The connections of the configuration socket (see uapi.h): at most
 * UAPI_CONNS_MAX at once, and a timerfd at their earliest deadline, set up
 * at the first connection. Further connections wait in the listen backlog
 * (the listening socket is not watched meanwhile) rather than being
 * accepted and closed: a client waits for its turn instead of failing.
 * File-scope: one configuration socket per process, and the connections
 * still open at exit stay reachable from here.
 */
static struct uapi_server uapi_server;
static struct source uapi_timer = { .kind = SRC_UAPI_LISTEN, .fd = -1 };
static uint64_t uapi_timer_at;  /* what it is armed for; 0: nothing */
static bool uapi_listen_paused, uapi_full_logged, uapi_refusal_logged, uapi_input_logged;

static void uapi_server_start(struct daemon *d)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	uapi_server_init(&uapi_server);
	if (fd < 0 || epoll_add(d, &uapi_timer, fd, SRC_UAPI_LISTEN)) {
		log_error("configuration socket: no timer (%s): stalled connections are "
			  "not closed", strerror(errno));
		if (fd >= 0)
			close(fd);
		uapi_timer.fd = -1;
	}
}

/* Arms the timer for the earliest deadline unless it fires before: an
 * early firing finds nothing due and arms it again. */
static void uapi_timer_arm(void)
{
	uint64_t at = uapi_server_next_deadline(&uapi_server);
	struct itimerspec its = { 0 };

	if (!at || uapi_timer.fd < 0 || (uapi_timer_at && uapi_timer_at <= at))
		return;
	its.it_value.tv_sec = (time_t)(at / 1000);
	its.it_value.tv_nsec = (long)(at % 1000) * 1000000;
	if (!timerfd_settime(uapi_timer.fd, TFD_TIMER_ABSTIME, &its, NULL))
		uapi_timer_at = at;
}

static void uapi_timer_fired(void)
{
	struct uapi_conn *c;
	uint64_t ticks;
	ssize_t n = read(uapi_timer.fd, &ticks, sizeof(ticks));

	(void)n;  /* EAGAIN: nothing to clear */
	uapi_timer_at = 0;
	/* Each is closed by its own event (EPOLLHUP), which frees its
	 * source: none is freed here while this batch of events may still
	 * name it. */
	while ((c = uapi_server_expire(&uapi_server, uapi_clock_ms()))) {
		size_t pending = uapi_conn_pending(c);

		if (pending)
			log_info("configuration socket: closing a connection whose reader took "
				 "nothing for %d s (%zu bytes of the reply unread)",
				 c->write_timeout_ms / 1000, pending);
		else
			log_info("configuration socket: closing a connection whose request "
				 "stayed incomplete for %d s", c->read_timeout_ms / 1000);
	}
	uapi_timer_arm();
}

/* Watches the listening socket, or stops while the connections are at
 * their bound; logs once per burst of them. */
static void uapi_listen_watch(struct daemon *d, bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.ptr = &d->src_uapi };

	if (uapi_listen_paused == !on)
		return;
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, d->uapi_fd, &ev) < 0)
		return;
	uapi_listen_paused = !on;
	if (!on && !uapi_full_logged) {
		log_info("configuration socket: %zu connections open, further ones wait in the "
			 "listen backlog", uapi_server.n_conns);
		uapi_full_logged = true;
	}
}

static void uapi_accept_all(struct daemon *d)
{
	if (!uapi_server.conns_max)
		uapi_server_start(d);
	while (!uapi_server_is_full(&uapi_server)) {
		struct source *s;
		int fd = uapi_accept(d->uapi_fd);

		if (fd < 0)
			return;
		s = calloc(1, sizeof(*s));
		if (s)
			s->conn = calloc(1, sizeof(*s->conn));
		if (!s || !s->conn) {
			free(s);
			close(fd);
			log_error("out of memory accepting a configuration connection");
			return;
		}
		uapi_conn_init(s->conn, fd);
		uapi_server_add(&uapi_server, s->conn);
		s->events = EPOLLIN;
		if (epoll_add(d, s, fd, SRC_UAPI_CONN)) {
			uapi_conn_close(s->conn);
			free(s->conn);
			free(s);
		}
	}
	uapi_listen_watch(d, false);
}

/* Any event of a connection: it reads requests while it has no reply
 * pending and waits for writability while it has (see uapi_conn_on_event);
 * nothing here waits for the client. */
static void uapi_conn_readable(struct daemon *d, struct source *s)
{
	const struct uapi_ops ops = { .set = uapi_set, .get = uapi_get, .get_piece = uapi_get_piece,
				      .generation = uapi_generation, .ctx = d };
	uint64_t refused = uapi_server.refused_gets, refused_in = uapi_server.refused_inputs;
	enum uapi_conn_wait wait = uapi_conn_on_event(s->conn, &ops);

	if (uapi_server.refused_inputs != refused_in && !uapi_input_logged) {
		log_info("configuration socket: a set transaction answered -ENOMEM and closed: "
			 "%zu bytes of input buffered over all connections (bound %zu); the next "
			 "such are not logged", uapi_server.input, uapi_server.input_max);
		uapi_input_logged = true;
	}
	if (!uapi_server.input)
		uapi_input_logged = false;

	/* Once until no reply is pending any more. */
	if (uapi_server.refused_gets != refused && !uapi_refusal_logged) {
		log_info("configuration socket: a get answered -ENOMEM: %zu bytes of replies wait "
			 "for their readers (bound %zu); the next such are not logged",
			 uapi_server.pending, uapi_server.pending_max);
		uapi_refusal_logged = true;
	}
	if (!uapi_server.pending)
		uapi_refusal_logged = false;
	if (wait != UAPI_CONN_CLOSE) {
		uint32_t events = wait == UAPI_CONN_WAIT_WRITE ? EPOLLOUT : EPOLLIN;
		struct epoll_event ev = { .events = events, .data.ptr = s };

		if (events != s->events && !epoll_ctl(d->epfd, EPOLL_CTL_MOD, s->fd, &ev))
			s->events = events;
		uapi_timer_arm();
		return;
	}
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	uapi_conn_close(s->conn);
	free(s->conn);
	free(s);
	/* A burst is over once half the connections are gone. */
	if (uapi_server.n_conns <= uapi_server.conns_max / 2)
		uapi_full_logged = false;
	uapi_listen_watch(d, true);
}

/* ---- takeover: a new xwgd asks for the tunnel (ctl/takeover.h) ---- */

static void takeover_readable(struct daemon *d)
{
	const struct takeover_fds fds = {
		.tun_fd = d->dev.tun_fd, .udp4 = d->dev.udp.fd4, .udp6 = d->dev.udp.fd6,
		.uapi_fd = d->uapi_fd, .takeover_fd = d->takeover_fd,
		.tun_vnet = d->dev.tun_vnet, .tun_offloads = d->dev.tun_offloads,
		.udp_gso = d->dev.udp.gso, .udp_gro = d->dev.udp.gro,
	};

	/* Between batches: what was read has been handled. */
	if (!takeover_serve(d->takeover_fd, &d->dev, &fds))
		return;
	d->handed_over = true;
	d->running = false;
}

/* ---- packets ---- */

static void tun_readable(struct daemon *d)
{
	int i, n;

	for (i = 0; i < MAX_BATCHES_PER_WAKE; i++) {
		n = tun_read_batch(d->dev.tun_fd, d->dev.tun_vnet, d->tun_pkts, DATAPATH_BATCH);
		if (n == -EBADFD) {
			log_info("interface %s was deleted, exiting", d->dev.ifname);
			d->running = false;
			return;
		}
		if (n <= 0)
			return;
		send_tunnel_packets(&d->dev, d->tun_pkts, (unsigned int)n);
		if ((unsigned int)n < DATAPATH_BATCH)
			return;
	}
}

/* Datagrams of one recvmmsg into batches for the receive path: with UDP
 * GRO one message may hold many (udp_rx_split takes a plain one whole). */
static void udp_received(struct daemon *d, unsigned int n)
{
	unsigned int i, k, m = 0;

	for (i = 0; i < n; i++) {
		size_t off = 0;

		while ((k = udp_rx_split(&d->udp_rx[i], &off, d->udp_split + m,
					 DATAPATH_BATCH - m))) {
			m += k;
			if (m == DATAPATH_BATCH) {
				receive_datagrams(&d->dev, d->udp_split, m);
				m = 0;
			}
		}
	}
	if (m)
		receive_datagrams(&d->dev, d->udp_split, m);
}

static void udp_readable(struct daemon *d, int fd)
{
	int i, n;

	for (i = 0; i < MAX_BATCHES_PER_WAKE; i++) {
		n = udp_recv_batch(fd, d->udp_rx, DATAPATH_BATCH);
		if (n <= 0)
			return;
		udp_received(d, (unsigned int)n);
		if ((unsigned int)n < DATAPATH_BATCH)
			return;
	}
}

/* ---- timers ---- */

static void arm_timerfd(struct daemon *d)
{
	xwg_time_t next = timers_next_deadline(&d->dev.timers);
	struct itimerspec its = { 0 };

	if (next == d->armed_deadline)
		return;
	d->armed_deadline = next;
	if (next) {
		its.it_value.tv_sec = (time_t)(next / NSEC_PER_SEC);
		its.it_value.tv_nsec = (long)(next % NSEC_PER_SEC);
	}
	timerfd_settime(d->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void timer_fired(struct daemon *d)
{
	uint64_t expirations;

	if (read(d->timerfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_error("timerfd: %s", strerror(errno));
	d->armed_deadline = 0;
	timers_run_expired(&d->dev.timers);
}

/* ---- netlink ---- */

static void on_link_gone(void *ctx)
{
	struct daemon *d = ctx;

	log_info("interface %s was deleted, exiting", d->dev.ifname);
	d->running = false;
}

static void on_link_moved(void *ctx)
{
	struct daemon *d = ctx;

	log_info("interface %s moved to another network namespace; the UDP socket stays here",
		 d->dev.ifname);
	/* Its MTU changes over there without telling us: stop judging
	 * packet sizes by it (the fast path's delivery check). */
	d->dev.mtu_unknown = true;
	fastpath_link_moved(&d->dev);
}

static void on_addr_removed(void *ctx, int family, const void *addr)
{
	struct daemon *d = ctx;
	struct wg_peer *p;

	for (p = d->dev.peers.first; p; p = p->next) {
		struct udp_endpoint *ep = &p->endpoint;

		if (!ep->has_src || udp_endpoint_family(ep) != family)
			continue;
		if (family == AF_INET ? !memcmp(&ep->src4, addr, 4) : !memcmp(&ep->src6, addr, 16))
			udp_endpoint_clear_src(ep);
	}
}

static void on_routes_changed(void *ctx)
{
	struct daemon *d = ctx;
	struct wg_peer *p;

	/* A cached source may now route out the wrong way: let the kernel
	 * choose again; the next packet from the peer sets it anew. */
	for (p = d->dev.peers.first; p; p = p->next)
		udp_endpoint_clear_src(&p->endpoint);
}

static void refresh_mtu(struct daemon *d)
{
	struct ifreq ifr = { 0 };
	int fd = d->dev.udp.fd4;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", d->dev.ifname);
	if (fd >= 0 && ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
		d->dev.mtu = (unsigned int)ifr.ifr_mtu;
}

static void netlink_readable(struct daemon *d)
{
	const struct netdev_events ev = {
		.link_gone = on_link_gone,
		.link_moved = on_link_moved,
		.addr_removed = on_addr_removed,
		.routes_changed = on_routes_changed,
		.ctx = d,
	};
	int ret = netdev_monitor_process(d->mon, &ev);

	if (ret < 0)
		log_error("netlink: %s", strerror(-ret));
	refresh_mtu(d);
}

static void inotify_readable(struct daemon *d)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const char *base = strrchr(d->uapi_path, '/') + 1;
	ssize_t n = read(d->inotify_fd, buf, sizeof(buf));
	ssize_t off = 0;

	while (n > 0 && off < n) {
		const struct inotify_event *e = (const void *)(buf + off);

		if (e->len && !strcmp(e->name, base)) {
			log_info("configuration socket %s was removed, exiting", d->uapi_path);
			d->running = false;
		}
		off += (ssize_t)sizeof(*e) + e->len;
	}
}

static void signal_received(struct daemon *d)
{
	struct signalfd_siginfo si;

	if (read(d->sigfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGUSR1) {
		device_log_stats(&d->dev);
		return;
	}
	log_info("received %s, shutting down", strsignal((int)si.ssi_signo));
	d->running = false;
}

/* How long epoll_wait may sleep: what the fast path and notify_tick need. */
#define EVENTS_RETRY_NS (5 * NSEC_PER_SEC)

/* IFNAME.events, and the notification point's link to it; said, not
 * fatal, when it cannot be made. */
static void events_start(struct daemon *d, const char *ifname)
{
	int ret;

	d->events = events_create(ifname);
	ret = d->events ? events_listen(d->events, UAPI_SOCKET_DIR) : -ENOMEM;
	if (ret) {
		log_error("cannot create the event socket in %s: %s; running without events",
			  UAPI_SOCKET_DIR, strerror(-ret));
		events_destroy(d->events);
		d->events = NULL;
	}
}

/* Taken over: once the old process is gone (its event socket with it),
 * the stream starts here; checked after every wake-up, never waited for. */
static void events_retry(struct daemon *d)
{
	if (!d->events_retry_until)
		return;
	if (kill(d->events_old_pid, 0) == 0 && platform_now() < d->events_retry_until)
		return;
	d->events_retry_until = 0;
	events_start(d, d->dev.ifname);
	if (d->events && epoll_add(d, &d->src_events, events_fd(d->events), SRC_EVENTS)) {
		log_error("cannot watch the event socket: %s; running without events",
			  strerror(errno));
		events_destroy(d->events);
		d->events = NULL;
	}
	d->dev.notify.events = d->events;
}

static int loop_timeout(struct daemon *d, bool polling)
{
	int timeout = polling ? 0 : d->dev.fast ? 1000 : -1;
	int notify = notify_timeout_ms(&d->dev);

	if (notify >= 0 && (timeout < 0 || notify < timeout))
		timeout = notify;
	if (d->events_retry_until && (timeout < 0 || timeout > 10))
		timeout = 10;
	return sd_watchdog_timeout(d, timeout);
}

static void run(struct daemon *d)
{
	struct epoll_event events[32];

	d->running = true;
	while (d->running) {
		bool packets = false, polling;
		int n, i;

		arm_timerfd(d);
		polling = d->polling_until && platform_now() < d->polling_until;
		/* The fast path's counters go to their map once a second. */
		sd_watchdog_feed(d);
		n = epoll_wait(d->epfd, events, 32, loop_timeout(d, polling));
		if (n == 0 && polling) {
			/* Busy polling: stay on the CPU, but let whatever else
			 * is runnable on it go first. */
			sched_yield();
			continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			d->exit_code = 1;
			return;
		}
		for (i = 0; i < n && d->running; i++) {
			struct source *s = events[i].data.ptr;

			switch (s->kind) {
			case SRC_SIGNAL:
				signal_received(d);
				break;
			case SRC_UAPI_LISTEN:
				if (s == &uapi_timer)
					uapi_timer_fired();
				else
					uapi_accept_all(d);
				break;
			case SRC_UAPI_CONN:
				uapi_conn_readable(d, s);
				break;
			case SRC_UDP:
				udp_readable(d, s->fd);
				packets = true;
				break;
			case SRC_TUN:
				if (events[i].events & EPOLLERR && !netdev_tun_is_alive(d->dev.tun_fd)) {
					on_link_gone(d);
					break;
				}
				tun_readable(d);
				packets = true;
				break;
			case SRC_TIMER:
				timer_fired(d);
				break;
			case SRC_NETLINK:
				netlink_readable(d);
				break;
			case SRC_INOTIFY:
				inotify_readable(d);
				break;
			case SRC_FASTPATH:
				fastpath_dp_readable(&d->dev);
				packets = true;
				break;
			case SRC_EVENTS:
				events_dispatch(d->events);
				break;
			case SRC_TAKEOVER:
				takeover_readable(d);
				break;
			}
		}
		if (packets && d->busy_poll_ns)
			d->polling_until = platform_now() + d->busy_poll_ns;
		fastpath_dp_tick(&d->dev);
		notify_tick(&d->dev);
		events_retry(d);
	}
}

/* ---- setup ---- */

/* After an abort: the handed-over descriptors are closed (or the old
 * process's again); none of them is ours to close or remove. */
static void takeover_forget(struct daemon *d)
{
	d->dev.tun_fd = -1;
	d->dev.udp.fd4 = d->dev.udp.fd6 = -1;
	d->uapi_fd = d->takeover_fd = -1;
	d->uapi_path[0] = d->takeover_path[0] = 0;
}

/* XWG_TAKEOVER_TEST, for the selftest of the old process's recovery:
 * the new one dies, or hangs, between PREPARED and COMMIT. */
static void takeover_test_hook(void)
{
	const char *t = getenv("XWG_TAKEOVER_TEST");

	if (!t || !*t)
		return;
	if (!strcmp(t, "die-before-commit")) {
		log_info("XWG_TAKEOVER_TEST: exiting before the commit");
		_exit(3);
	}
	if (!strcmp(t, "hang-before-commit")) {
		sigset_t all;

		/* Still killable by SIGINT/SIGTERM (the signalfd is not read). */
		sigfillset(&all);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		log_info("XWG_TAKEOVER_TEST: hanging before the commit");
		for (int i = 0; i < 600; i++)
			sleep(1);
		_exit(3);
	}
}

/* --takeover, after device_init: the handed-over sockets and the state.
 * On a bad snapshot the old process is told why and resumes. */
static int takeover_restore(struct daemon *d, struct takeover_client *tc, const char *ifname)
{
	char why[256];
	int ret;

	d->dev.udp.fd4 = tc->fds.udp4;
	d->dev.udp.fd6 = tc->fds.udp6;
	ret = snapshot_read_memfd(&d->dev, tc->memfd, why, sizeof(why));
	if (!ret)
		ret = takeover_client_check(tc, ifname, d->dev.udp.port, why, sizeof(why));
	if (ret) {
		log_error("takeover: the running xwgd's state is refused: %s; it serves on", why);
		takeover_client_finish(tc, false, why);
		takeover_forget(d);
		return ret;
	}
	return 0;
}

static int alloc_buffers(struct daemon *d)
{
	unsigned int i;

	d->tun_bufs = malloc((size_t)DATAPATH_BATCH * DATAPATH_BUF_SIZE);
	d->udp_bufs = malloc((size_t)DATAPATH_BATCH * DATAPATH_BUF_SIZE);
	if (!d->tun_bufs || !d->udp_bufs)
		return -ENOMEM;
	for (i = 0; i < DATAPATH_BATCH; i++) {
		/* TUN packets start after the headroom so they seal in place. */
		d->tun_pkts[i].buf = d->tun_bufs + (size_t)i * DATAPATH_BUF_SIZE + DATAPATH_HEADROOM;
		d->tun_pkts[i].cap = DATAPATH_PACKET_MAX;
		d->udp_rx[i].buf = d->udp_bufs + (size_t)i * DATAPATH_BUF_SIZE;
		d->udp_rx[i].cap = DATAPATH_BUF_SIZE;
	}
	return 0;
}

/* The crypto threads: XWG_THREADS (already checked), else one per CPU but
 * one. With offloads a packet costs the stack little besides its copies,
 * so the kernel's network work (both ends of a tunnel, the sockets) and
 * the applications need a CPU of their own: measured on 2 vCPUs with both
 * tunnel ends and iperf3, one thread gave 5.0-5.6 Gbit/s on one TCP stream
 * where two gave 4.3-4.9 (the hand-offs of every batch cost more than the
 * second CPU, already busy, could give). */
static unsigned int thread_count(long from_env)
{
	long n = from_env ? from_env : sysconf(_SC_NPROCESSORS_ONLN) - 1;

	return n > 0 ? (unsigned int)n : 1;
}

/* The value of the environment variable var among words[0..n) (unset or
 * empty: words[0], the default): its index, or -1 after logging what it
 * expected. */
static int env_word(const char *var, const char *const *words, int n, const char *expected)
{
	const char *v = getenv(var);
	int i;

	if (!v || !*v)
		return 0;
	for (i = 0; i < n; i++)
		if (!strcmp(v, words[i]))
			return i;
	log_error("%s=%s: expected %s", var, v, expected);
	return -1;
}

/* A numeric tuning variable: 0 when unset (*out untouched), 1 with *out
 * set, or -1 (logged, naming the variable and what it wants) when it is
 * not a decimal number from min to max, or not a power of two if pow2. */
static int env_number(const char *var, long min, long max, bool pow2, const char *expected,
		      long *out)
{
	const char *v = getenv(var);
	char *end;
	long n;

	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || end == v || n < min || n > max || (pow2 && (n & (n - 1)))) {
		log_error("%s=%s: expected %s", var, v, expected);
		return -1;
	}
	*out = n;
	return 1;
}

/* XWG_AEAD names a backend crypto_init knows (it applies it; an OpenSSL
 * without ChaCha20-Poly1305 is a fact of the machine, not a typo, and
 * falls back there with a message). */
static bool aead_name_known(void)
{
	const char *v = getenv("XWG_AEAD");
	enum crypto_aead_backend b;

	if (!v || !*v || crypto_aead_backend_from_name(v, &b))
		return true;
	log_error("XWG_AEAD=%s: expected libsodium, openssl or auto", v);
	return false;
}

/* XWG_DATAPATH: auto (the default), portable or xdp; -1 if unknown. */
static int choose_datapath(void)
{
	static const char *const words[] = { "auto", "portable", "xdp" };
	static const int choices[] = { DATAPATH_AUTO, DATAPATH_PORTABLE, DATAPATH_XDP };
	int i = env_word("XWG_DATAPATH", words, 3, "portable, xdp or auto");

	return i < 0 ? -1 : choices[i];
}

/* XWG_UDP_GSO: on (the default) or off; -1 if unknown. */
static int choose_gso(void)
{
	static const char *const words[] = { "on", "off" };
	int i = env_word("XWG_UDP_GSO", words, 2, "on or off");

	return i < 0 ? -1 : i == 0 ? UDP_GSO_ON : UDP_GSO_OFF;
}

/* XWG_OFFLOAD: on (the default) or off; -1 if unknown. */
static int choose_offload(void)
{
	static const char *const words[] = { "on", "off" };
	int i = env_word("XWG_OFFLOAD", words, 2, "on or off");

	return i < 0 ? -1 : i == 0;
}

/* XWG_TUNNEL: tun (the default) or veth (the fast path's earlier shape,
 * kept to measure against); 1 for veth, -1 if unknown. */
static int choose_tunnel(void)
{
	static const char *const words[] = { "tun", "veth" };

	return env_word("XWG_TUNNEL", words, 2, "tun or veth");
}

/* The fast path, where it loads: NULL for the portable path (or on an
 * error with XWG_DATAPATH=xdp: *fatal). Says which in one line. */
static struct fastpath_dp *load_fast_path(const char *ifname, int tun_ifindex, int choice,
					  uint32_t xsk_ring, bool *fatal)
{
	struct fastpath_dp *f;
	char err[600];

	*fatal = false;
	if (choice == DATAPATH_PORTABLE) {
		log_info("data path: portable (TUN + UDP), as XWG_DATAPATH says");
		return NULL;
	}
	f = fastpath_dp_load(ifname, tun_ifindex, xsk_ring, err, sizeof(err));
	if (f) {
		log_info("data path: xdp (XDP/TC programs pinned under %s/%s, AF_XDP; %s)",
			 XWG_PIN_ROOT, ifname, tun_ifindex ? "TUN" : "veth pair, XWG_TUNNEL=veth");
		return f;
	}
	if (choice == DATAPATH_XDP) {
		log_error("XWG_DATAPATH=xdp: the fast path cannot load: %s", err);
		*fatal = true;
		return NULL;
	}
	log_info("data path: portable (TUN + UDP): the fast path cannot load: %s", err);
	return NULL;
}

static int setup_signals(struct daemon *d)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return d->sigfd < 0 ? -errno : 0;
}

/* ready_pipe (--takeover; else -1): the parent waits for the child's one
 * byte, written once it serves (the takeover committed), and exits 1 on
 * EOF, so the caller learns whether the tunnel changed hands. */
static void detach(int ready_pipe[2])
{
	pid_t pid = fork();
	int null;

	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		exit(1);
	}
	if (pid > 0 && ready_pipe[0] >= 0) {
		char c;

		close(ready_pipe[1]);
		_exit(read(ready_pipe[0], &c, 1) == 1 ? 0 : 1);
	}
	if (pid > 0)
		_exit(0);  /* the interface and socket exist: wg-quick may go on */
	if (ready_pipe[0] >= 0)
		close(ready_pipe[0]);
	setsid();
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	log_use_syslog(true);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "events", required_argument, NULL, 'e' },
		{ "takeover", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	static struct daemon d;
	bool foreground = false, fatal, takeover = false;
	struct takeover_client tc = { .conn = -1 };
	char why[256];
	struct fastpath_dp *fast;
	const char *ifname;
	int c, ret, choice, gso, offload, tunnel_veth;
	long busy_poll_us = 0, xsk_ring = 0, threads = 0;

	while ((c = getopt_long(argc, argv, "fhve:", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (optind != argc) {
				usage(stderr);
				return 2;
			}
			if (!netdev_ifname_is_valid(optarg)) {
				fprintf(stderr, "xwgd: invalid interface name '%s'\n", optarg);
				return 2;
			}
			return events_client_run(NULL, optarg);
		case 'f':
			foreground = true;
			break;
		case 'T':
			takeover = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'v':
			printf("xwgd %s\n", XWG_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	ifname = argv[optind];
	if (!netdev_ifname_is_valid(ifname)) {
		fprintf(stderr, "xwgd: invalid interface name '%s' (1 to %d characters; "
			"no '/', ':', '%%' or spaces)\n", ifname, IF_NAMESIZE - 1);
		return 2;
	}
	if (!log_init_from_env(ifname))
		fprintf(stderr, "xwgd: unknown LOG_LEVEL '%s' (silent, error, info, verbose, debug); using info\n",
			getenv("LOG_LEVEL"));
	choice = choose_datapath();
	gso = choose_gso();
	offload = choose_offload();
	tunnel_veth = choose_tunnel();
	/* Checked even where the fast path will not load (auto falling back):
	 * a typo should not wait for the day it does. */
	if (choice < 0 || gso < 0 || offload < 0 || tunnel_veth < 0 || !aead_name_known() ||
	    env_number("XWG_THREADS", 1, 1024, false, "a number of threads from 1 to 1024",
		       &threads) < 0 ||
	    env_number("XWG_BUSY_POLL_US", 0, 10000, false, "microseconds from 0 to 10000",
		       &busy_poll_us) < 0 ||
	    (choice != DATAPATH_PORTABLE &&
	     env_number("XWG_XSK_RING", FASTPATH_RING_MIN, FASTPATH_RING_MAX, true,
			"a power of two from 64 to 4096", &xsk_ring) < 0))
		return 1;
	if (!crypto_init()) {
		log_error("crypto initialisation failed (libsodium)");
		return 1;
	}
	/* Keys live in this process: no core dumps, no ptrace by others. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	d.epfd = d.sigfd = d.timerfd = d.inotify_fd = d.uapi_fd = d.takeover_fd = d.ready_fd = -1;
	d.busy_poll_ns = (xwg_time_t)busy_poll_us * 1000;
	if (setup_signals(&d)) {
		log_error("cannot set up signal handling: %s", strerror(errno));
		return 1;
	}

	/* What a caller waits for happens before we detach: the interface
	 * and the configuration socket exist when the parent returns.
	 * The interface is a TUN on both data paths (the fast path's
	 * programs attach to it); XWG_TUNNEL=veth gives the fast path its
	 * earlier veth pair instead, to measure against. */
	fast = NULL;
	if (takeover) {
		/* The running xwgd hands us its interface, sockets and state;
		 * we create none of them. */
		if (choice == DATAPATH_XDP) {
			log_error("--takeover works on the portable data path only for now "
				  "(XWG_DATAPATH=xdp)");
			return 1;
		}
		choice = DATAPATH_PORTABLE;
		ret = takeover_client_prepare(&tc, ifname, why, sizeof(why));
		if (ret) {
			log_error("cannot take %s over: %s", ifname, why);
			return 1;
		}
		takeover_test_hook();
		d.dev.tun_fd = tc.fds.tun_fd;
		d.dev.ifindex = (int)if_nametoindex(ifname);
		d.dev.tun_vnet = tc.fds.tun_vnet;
		d.dev.tun_offloads = tc.fds.tun_offloads;
		d.uapi_fd = tc.fds.uapi_fd;
		d.takeover_fd = tc.fds.takeover_fd;
	}
	if (tunnel_veth && choice != DATAPATH_PORTABLE) {
		fast = load_fast_path(ifname, 0, choice, (uint32_t)xsk_ring, &fatal);
		if (fatal)
			return 1;
	}
	if (fast) {
		d.dev.tun_fd = -1;
		d.dev.ifindex = fastpath_dp_ifindex(fast);
	} else if (!takeover) {
		ret = netdev_tun_create(ifname, &d.dev.ifindex,
					offload ? &d.dev.tun_offloads : NULL);
		if (ret < 0) {
			log_error("cannot create interface %s: %s%s", ifname, strerror(-ret),
				  ret == -EEXIST ? " (an interface of that name exists)" :
				  ret == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
			return 1;
		}
		d.dev.tun_fd = ret;
		d.dev.tun_vnet = offload;
		netdev_link_set_mtu(d.dev.ifindex, DEFAULT_MTU);
		if (!tunnel_veth || choice == DATAPATH_PORTABLE) {
			fast = load_fast_path(ifname, d.dev.ifindex, choice, (uint32_t)xsk_ring,
					      &fatal);
			if (fatal) {
				ret = 1;
				goto out_tun;
			}
		}
	}
	if (!takeover)
		d.uapi_fd = uapi_listen(UAPI_SOCKET_DIR, ifname, d.uapi_path, sizeof(d.uapi_path));
	if (d.uapi_fd < 0) {
		log_error("cannot create configuration socket in %s: %s", UAPI_SOCKET_DIR,
			  strerror(-d.uapi_fd));
		ret = 1;
		goto out_tun;
	}
	if (!takeover) {
		d.takeover_fd = takeover_listen(ifname, d.takeover_path, sizeof(d.takeover_path));
		if (d.takeover_fd < 0)
			log_info("no takeover socket (%s): xwgd --takeover cannot replace this "
				 "process", strerror(-d.takeover_fd));
	}

	/* The event stream beside it, made the same way. Without it the
	 * device works as ever: it is said, not fatal. Taking over, the old
	 * process still serves the name: ours comes once it is gone
	 * (events_retry). */
	if (!takeover)
		events_start(&d, ifname);

	if (!foreground) {
		int ready_pipe[2] = { -1, -1 };

		if (takeover && pipe2(ready_pipe, O_CLOEXEC))
			ready_pipe[0] = ready_pipe[1] = -1;
		detach(ready_pipe);
		d.ready_fd = ready_pipe[1];
	}
	if (fast && fastpath_dp_reaper(fast))
		log_info("cannot start the reaper (%s): after a crash the interface stays until "
			 "the next start removes it", strerror(errno));
	/* No swapping out of keys: pages are locked as they are touched.
	 * After detach(): memory locks do not survive fork. */
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT))
		log_info("cannot lock memory (%s): keys may be swapped out (needs CAP_IPC_LOCK, "
			 "or an RLIMIT_MEMLOCK above the daemon's size)", strerror(errno));

	{
		/* device_init starts from a clean struct: keep the link. */
		int tun_fd = d.dev.tun_fd, ifindex = d.dev.ifindex;
		bool vnet = d.dev.tun_vnet;
		unsigned int offloads = d.dev.tun_offloads;

		ret = device_init(&d.dev, ifname, thread_count(threads));
		d.dev.tun_fd = tun_fd;
		d.dev.ifindex = ifindex;
		d.dev.tun_vnet = vnet;
		d.dev.tun_offloads = offloads;
	}
	if (ret) {
		log_error("cannot initialise the device: %s", strerror(-ret));
		goto out_uapi;
	}
	d.dev.notify.events = d.events;
	if (fast) {
		d.dev.fast = fast;
		if (d.dev.max_peers > fastpath_max_peers())
			d.dev.max_peers = fastpath_max_peers();
		ret = fastpath_dp_start(fast, &d.dev);
		if (ret) {
			log_error("the fast path cannot start its AF_XDP sockets: %s "
				  "(XWG_DATAPATH=portable runs without them)", strerror(-ret));
			goto out_device;
		}
	}
	if (takeover)
		ret = takeover_restore(&d, &tc, ifname);
	else
		ret = udp_socks_open(&d.dev.udp, 0, 0);
	if (ret) {
		if (!takeover)
			log_error("cannot open UDP sockets: %s", strerror(-ret));
		goto out_device;
	}
	udp_socks_set_gso(&d.dev.udp, (enum udp_gso_mode)gso);
	udp_socks_set_gro(&d.dev.udp, offload);
	fastpath_listen_port(&d.dev, udp_socks_port(&d.dev.udp));
	ret = netdev_monitor_create(&d.mon, d.dev.ifindex, d.dev.tun_fd);
	if (ret) {
		log_error("cannot watch netlink events: %s", strerror(-ret));
		goto out_device;
	}
	if (fast && fastpath_dp_twin_ifindex(fast))
		netdev_monitor_companion(d.mon, fastpath_dp_twin_ifindex(fast));
	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	d.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	d.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d.epfd < 0 || d.timerfd < 0 || d.inotify_fd < 0 || alloc_buffers(&d)) {
		log_error("cannot set up the event loop: %s", strerror(errno));
		ret = 1;
		goto out_device;
	}
	inotify_add_watch(d.inotify_fd, UAPI_SOCKET_DIR, IN_DELETE | IN_MOVED_FROM);
	if (epoll_add(&d, &d.src_signal, d.sigfd, SRC_SIGNAL) ||
	    epoll_add(&d, &d.src_uapi, d.uapi_fd, SRC_UAPI_LISTEN) ||
	    (d.dev.tun_fd >= 0 && epoll_add(&d, &d.src_tun, d.dev.tun_fd, SRC_TUN)) ||
	    epoll_add(&d, &d.src_timer, d.timerfd, SRC_TIMER) ||
	    epoll_add(&d, &d.src_netlink, netdev_monitor_fd(d.mon), SRC_NETLINK) ||
	    epoll_add(&d, &d.src_inotify, d.inotify_fd, SRC_INOTIFY) || register_udp(&d)) {
		log_error("cannot set up the event loop: %s", strerror(errno));
		ret = 1;
		goto out_device;
	}
	if (fast && epoll_add(&d, &d.src_fast, fastpath_dp_fd(fast), SRC_FASTPATH)) {
		log_error("cannot set up the event loop: %s", strerror(errno));
		ret = 1;
		goto out_device;
	}
	if (d.events && epoll_add(&d, &d.src_events, events_fd(d.events), SRC_EVENTS)) {
		log_error("cannot set up the event loop: %s", strerror(errno));
		ret = 1;
		goto out_device;
	}
	if (d.takeover_fd >= 0 && epoll_add(&d, &d.src_takeover, d.takeover_fd, SRC_TAKEOVER)) {
		log_error("cannot set up the event loop: %s", strerror(errno));
		ret = 1;
		goto out_device;
	}
	if (takeover) {
		/* Everything that can fail has; from here on we serve. */
		ret = takeover_client_finish(&tc, true, NULL);
		if (ret < 0) {
			takeover_forget(&d);
			ret = 1;
			goto out_device;
		}
		if (ret > 0) {
			struct wg_peer *p;

			for (p = d.dev.peers.first; p; p = p->next) {
				noise_keypairs_clear(&p->keypairs, &d.dev.noise_ops);
				noise_handshake_clear(&p->handshake, &d.dev.noise_ops);
			}
			ret = 0;
		}
		snprintf(d.uapi_path, sizeof(d.uapi_path), "%s/%s.sock", UAPI_SOCKET_DIR, ifname);
		takeover_path(ifname, d.takeover_path, sizeof(d.takeover_path));
		refresh_mtu(&d);
		log_info("took %s over from PID %d: %u peers, UDP port %u", ifname,
			 (int)tc.old_pid, d.dev.peers.count, udp_socks_port(&d.dev.udp));
		d.events_old_pid = tc.old_pid;
		d.events_retry_until = platform_now() + EVENTS_RETRY_NS;
		if (d.ready_fd >= 0) {
			if (write(d.ready_fd, "1", 1) != 1)
				log_debug("cannot tell the parent: %s", strerror(errno));
			close(d.ready_fd);
			d.ready_fd = -1;
		}
	}
	log_info("interface %s is up: %u crypto threads (AEAD %s), UDP port %u", ifname,
		 crypto_pool_threads(d.dev.pool),
		 crypto_aead_backend_name(crypto_aead_backend_get()),
		 udp_socks_port(&d.dev.udp));
	if (d.dev.tun_vnet)
		log_info("offloads on (XWG_OFFLOAD): super-packets from %s cut in userspace "
			 "(TSO%s%s), GRO into it, UDP GRO on the sockets", ifname,
			 d.dev.tun_offloads & TUN_F_TSO4 ? "4/6" : " refused",
			 d.dev.tun_offloads & TUN_F_USO4 ? ", USO" : "");
	else
		log_info("offloads off%s: one packet per read and write on %s",
			 offload ? "" : " (XWG_OFFLOAD=off)", ifname);
	if (busy_poll_us)
		log_info("busy polling: %ld us after each wake-up with packets before sleeping",
			 busy_poll_us);

	{
		char status[256];

		snprintf(status, sizeof(status),
			 "READY=1\nSTATUS=%s: data path %s, UDP port %u, %u crypto threads",
			 ifname, fast ? "xdp" : "portable", udp_socks_port(&d.dev.udp),
			 crypto_pool_threads(d.dev.pool));
		d.watchdog_ns = sd_watchdog_ns();
		sd_notify_send(status);
	}
	run(&d);
	sd_notify_send("STOPPING=1");
	device_log_stats(&d.dev);
	ret = d.exit_code;

out_device:
	/* The fast path first (quick now: its maps are not emptied peer by
	 * peer), so that no XDP program or pin of ours is left when a
	 * successor comes; then the name (a successor for it, as wg-quick
	 * down; wg-quick up starts, must find the socket, the interface and
	 * the port free); then the rest. */
	d.dev.fast = NULL;
	fastpath_dp_unload(fast);
	fast = NULL;
	/* Readers see EOF; the peers' removal below is not reported. The
	 * event socket goes before the configuration socket: a successor
	 * that starts as soon as the latter is gone finds its name free. */
	d.dev.notify.events = NULL;
	events_destroy(d.events);
	d.events = NULL;
	if (d.handed_over) {
		/* The new process serves on these: the files stay, and the
		 * interface lives on through its copy of the TUN fd. */
		d.uapi_path[0] = 0;
		d.takeover_path[0] = 0;
	}
	uapi_unlisten(d.uapi_fd, d.uapi_path[0] ? d.uapi_path : NULL);
	d.uapi_fd = -1;
	d.uapi_path[0] = 0;
	uapi_unlisten(d.takeover_fd, d.takeover_path[0] ? d.takeover_path : NULL);
	d.takeover_fd = -1;
	netdev_tun_destroy(d.dev.tun_fd);
	d.dev.tun_fd = -1;
	udp_socks_close(&d.dev.udp);
	if (d.mon)
		netdev_monitor_destroy(d.mon);
	device_uninit(&d.dev);
	free(d.tun_bufs);
	free(d.udp_bufs);
	if (d.epfd >= 0)
		close(d.epfd);
	if (d.timerfd >= 0)
		close(d.timerfd);
	if (d.inotify_fd >= 0)
		close(d.inotify_fd);
out_uapi:
	events_destroy(d.events);
	uapi_unlisten(d.uapi_fd, d.uapi_path[0] ? d.uapi_path : NULL);
	uapi_unlisten(d.takeover_fd, d.takeover_path[0] ? d.takeover_path : NULL);
out_tun:
	fastpath_dp_unload(fast);
	netdev_tun_destroy(d.dev.tun_fd);
	if (d.sigfd >= 0)
		close(d.sigfd);
	if (d.handed_over)
		log_info("interface %s handed over", ifname);
	else
		log_info("interface %s removed", ifname);
	return ret ? 1 : 0;
}
