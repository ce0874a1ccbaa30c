// SPDX-License-Identifier: GPL-2.0
/*
 * xwg-mesh: the node agent. Keeps one xwgd interface per node in step with
 * the cluster's node list: every other node is a peer (allowed IPs = its
 * pod CIDRs and node IPs, endpoint = its first internal IP and port), added,
 * updated and removed one transaction per node through the configuration
 * socket, so one node's change never interrupts traffic to the others.
 *
 * One thread runs an epoll loop over: a signalfd (SIGINT/SIGTERM: leave;
 * SIGUSR2: rotate the key; SIGHUP: reread the file; SIGCHLD: our xwgd
 * died), an eventfd (a source delivered a snapshot: the Kubernetes source
 * runs in a thread of its own), the node-list file's inotify fd, the
 * interface's event stream (for the event counters of /metrics), and a 1 s
 * timerfd (retries with bounded backoff, a resync with the daemon every
 * RESYNC_SECONDS that repairs anything changed behind our back, including a
 * daemon restart). libmicrohttpd serves /metrics from its own thread and
 * reads the agent's counters under stats.lock.
 *
 * On exit the agent removes the routes and rules it added and stops xwgd if
 * it started it (the node leaves the mesh); an xwgd it found running is left
 * running with its peers.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "ctl/netdev.h"
#include "mesh/file_source.h"
#include "mesh/keyfile.h"
#include "mesh/event_client.h"
#include "mesh/metrics.h"
#include "mesh/netconf.h"
#include "mesh/node.h"
#include "mesh/nodes_file.h"
#include "mesh/reconcile.h"
#include "mesh/source_k8s.h"
#include "mesh/uapi_client.h"

#define RESYNC_SECONDS 10
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define XWGD_START_TIMEOUT_MS 10000
#define PID_DIR "/run/xwg-mesh"
#define PUBLISH_RETRY_MS 5000

/* ---- logging: stderr in the foreground, syslog otherwise. Never a key. */

static bool log_to_syslog;
static bool log_debug_on;
static char log_prefix[64] = "xwg-mesh";

static void say(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio == LOG_DEBUG && !log_debug_on)
		return;
	va_start(ap, fmt);
	if (log_to_syslog) {
		vsyslog(prio, fmt, ap);
	} else {
		fprintf(stderr, "%s: %s: ", log_prefix,
			prio <= LOG_ERR ? "error" : prio == LOG_WARNING ? "warning" :
			prio == LOG_DEBUG ? "debug" : "info");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}

/* ---- the agent */

struct options {
	char ifname[IF_NAMESIZE];
	char node_name[MESH_NODE_NAME_MAX + 1];
	char nodes_file[PATH_MAX];
	bool kubernetes;
	char key_file[PATH_MAX];
	uint16_t port;
	char metrics[128];
	char xwgd[PATH_MAX];
	bool foreground;
	uint32_t fwmark, table;
	/* --exporter: serve these interfaces' metrics, nothing else. */
	size_t n_exported;
	char exported[MESH_METRICS_MAX_IFACES][IF_NAMESIZE];
};

struct agent {
	struct options o;
	uint8_t private_key[32], public_key[32];

	int epfd, sigfd, evfd, timerfd;
	pid_t xwgd_pid;                 /* our child, 0 if we did not start it */
	uint64_t xwgd_restart_at_ms;
	unsigned int xwgd_backoff_ms;

	/* Snapshots handed over by a source (any thread). */
	pthread_mutex_t pending_lock;
	struct mesh_node *pending;
	size_t n_pending;
	bool has_pending;

	/* The node list in force, and what the interface holds. */
	struct mesh_node *nodes;
	size_t n_nodes;
	bool have_nodes;
	struct mesh_peer *applied;
	size_t n_applied;

	struct mesh_netconf nc;
	int ifindex;
	bool routes_dirty;
	unsigned int mtu;

	uint16_t listen_port;           /* what the device should listen on */
	bool device_dirty, dirty, publish_dirty, self_missing_logged;
	uint64_t retry_at_ms, resync_at_ms, publish_at_ms;
	unsigned int backoff_ms;

	struct mesh_stats stats;
	struct mesh_metrics *metrics;
	/* The interface's event stream, for the event counters (only while
	 * metrics are served). */
	struct mesh_event_counts *ev_counts;
	struct mesh_event_client evc;
	struct mesh_file_source fs;
	struct mesh_k8s *k8s;
	int pid_fd;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void key_b64(const uint8_t key[32], char out[45])
{
	sodium_bin2base64(out, 45, key, 32, sodium_base64_VARIANT_ORIGINAL);
}

/* ---- the daemon */

static bool uapi_socket_exists(const struct agent *a)
{
	char path[108];
	struct stat st;

	mesh_uapi_path(a->o.ifname, path, sizeof(path));
	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* xwgd next to our own binary, else in PATH. */
static void default_xwgd(char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');

		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(buf, len, "%s/xwgd", self) < len &&
			    access(buf, X_OK) == 0)
				return;
		}
	}
	snprintf(buf, len, "xwgd");
}

/* Start `xwgd -f IFNAME` as our child and wait for its socket. */
static int xwgd_start(struct agent *a)
{
	uint64_t deadline;
	pid_t pid;

	say(LOG_INFO, "no daemon serves %s: starting %s -f %s", a->o.ifname, a->o.xwgd,
	    a->o.ifname);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		sigset_t all;

		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		execlp(a->o.xwgd, a->o.xwgd, "-f", a->o.ifname, (char *)NULL);
		fprintf(stderr, "xwg-mesh: cannot run %s: %s (use --xwgd PATH)\n", a->o.xwgd,
			strerror(errno));
		_exit(127);
	}
	a->xwgd_pid = pid;
	deadline = now_ms() + XWGD_START_TIMEOUT_MS;
	while (now_ms() < deadline) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			a->xwgd_pid = 0;
			say(LOG_ERR, "%s exited (status %d) before serving %s", a->o.xwgd,
			    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
			    a->o.ifname);
			return -ECHILD;
		}
		if (uapi_socket_exists(a) && if_nametoindex(a->o.ifname))
			return 0;
		usleep(20000);
	}
	say(LOG_ERR, "%s did not create %s within %d s", a->o.xwgd, a->o.ifname,
	    XWGD_START_TIMEOUT_MS / 1000);
	return -ETIMEDOUT;
}

static void xwgd_stop(struct agent *a)
{
	uint64_t deadline;
	int status;

	if (!a->xwgd_pid)
		return;
	kill(a->xwgd_pid, SIGTERM);
	deadline = now_ms() + 5000;
	while (now_ms() < deadline) {
		if (waitpid(a->xwgd_pid, &status, WNOHANG) == a->xwgd_pid) {
			a->xwgd_pid = 0;
			return;
		}
		usleep(20000);
	}
	say(LOG_WARNING, "xwgd (pid %d) ignored SIGTERM for 5 s: killing it", (int)a->xwgd_pid);
	kill(a->xwgd_pid, SIGKILL);
	waitpid(a->xwgd_pid, &status, 0);
	a->xwgd_pid = 0;
}

/* Reap our xwgd if it died; it is restarted by the next resync. */
static void xwgd_reap(struct agent *a)
{
	int status;

	if (a->xwgd_pid && waitpid(a->xwgd_pid, &status, WNOHANG) == a->xwgd_pid) {
		say(LOG_ERR, "xwgd for %s exited (%s %d): restarting it", a->o.ifname,
		    WIFEXITED(status) ? "status" : "signal",
		    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		a->xwgd_pid = 0;
		a->resync_at_ms = 0;
	}
}

static int uapi_set(struct agent *a, struct mesh_buf *b)
{
	int ret;

	if (b->failed)
		return -ENOMEM;
	ret = mesh_uapi_set(a->o.ifname, b->p, b->len);
	pthread_mutex_lock(&a->stats.lock);
	a->stats.uapi_transactions++;
	if (ret)
		a->stats.uapi_errors++;
	pthread_mutex_unlock(&a->stats.lock);
	return ret;
}

static int device_apply(struct agent *a)
{
	struct mesh_buf b = { 0 };
	int ret;

	mesh_device_uapi(a->private_key, a->listen_port, a->o.fwmark, &b);
	ret = uapi_set(a, &b);
	mesh_buf_free(&b);
	if (ret) {
		say(LOG_ERR, "%s refused the device settings (listen port %u, fwmark %u): %s",
		    a->o.ifname, a->listen_port, a->o.fwmark, strerror(-ret));
		return ret;
	}
	a->device_dirty = false;
	return 0;
}

/* ---- routes */

static void routes_add(struct agent *a, const struct mesh_peer *p)
{
	char text[64];

	for (unsigned int i = 0; i < p->n_prefixes; i++) {
		int ret = mesh_route_add(&a->nc, &p->prefixes[i]);

		if (ret) {
			mesh_prefix_format(&p->prefixes[i], text, sizeof(text));
			say(LOG_ERR, "cannot route %s through %s (table %u): %s", text,
			    a->o.ifname, a->o.table, strerror(-ret));
			a->routes_dirty = true;
		}
	}
}

/* Routes of old that new no longer has (new may be NULL). */
static void routes_del(struct agent *a, const struct mesh_peer *old, const struct mesh_peer *new)
{
	for (unsigned int i = 0; i < old->n_prefixes; i++) {
		bool keep = false;

		for (unsigned int j = 0; new && j < new->n_prefixes && !keep; j++)
			keep = !mesh_prefix_cmp(&old->prefixes[i], &new->prefixes[j]);
		if (!keep)
			mesh_route_del(&a->nc, &old->prefixes[i]);
	}
}

static const struct mesh_peer *applied_by_key(const struct agent *a, const uint8_t key[32])
{
	for (size_t i = 0; i < a->n_applied; i++)
		if (!memcmp(a->applied[i].public_key, key, 32))
			return &a->applied[i];
	return NULL;
}

static void schedule_retry(struct agent *a)
{
	a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (a->backoff_ms > BACKOFF_MAX_MS)
		a->backoff_ms = BACKOFF_MAX_MS;
	a->retry_at_ms = now_ms() + a->backoff_ms;
}

/* (Re)create the rules and every applied peer's routes, e.g. once the
 * interface was recreated. */
static void netconf_refresh(struct agent *a)
{
	int ret;

	a->routes_dirty = false;
	/* Like wg-quick: the daemon creates the interface, whoever
	 * configures it brings it up. */
	ret = netdev_link_set_up(a->ifindex);
	if (ret) {
		say(LOG_ERR, "cannot bring %s up: %s", a->o.ifname, strerror(-ret));
		a->routes_dirty = true;
	}
	ret = mesh_rule_add(&a->nc, AF_INET);
	if (ret) {
		say(LOG_ERR, "cannot add rule `not fwmark %u lookup %u` (IPv4): %s", a->o.fwmark,
		    a->o.table, strerror(-ret));
		a->routes_dirty = true;
	}
	ret = mesh_rule_add(&a->nc, AF_INET6);
	if (ret && ret != -EAFNOSUPPORT)
		say(LOG_DEBUG, "no IPv6 rule: %s", strerror(-ret));
	for (size_t i = 0; i < a->n_applied; i++)
		routes_add(a, &a->applied[i]);
	if (a->routes_dirty)
		schedule_retry(a);
}

/* ---- MTU */

static void mtu_update(struct agent *a)
{
	const struct mesh_node *self = NULL;
	unsigned int underlay = 0, mtu;
	bool all_v4 = true;
	int m;

	for (size_t i = 0; i < a->n_applied; i++) {
		const struct mesh_peer *p = &a->applied[i];

		if (!p->has_endpoint)
			continue;
		if (p->endpoint.family != AF_INET)
			all_v4 = false;
		m = mesh_path_mtu(&p->endpoint, p->port, a->o.fwmark);
		if (m > 0 && (!underlay || (unsigned int)m < underlay))
			underlay = (unsigned int)m;
	}
	if (!underlay) {
		/* No peer yet: the interface that holds our own address. */
		for (size_t i = 0; i < a->n_nodes; i++)
			if (!strcmp(a->nodes[i].name, a->o.node_name))
				self = &a->nodes[i];
		for (unsigned int i = 0; self && i < self->n_addrs; i++) {
			m = mesh_local_addr_mtu(&self->addrs[i]);
			if (self->addrs[i].family != AF_INET)
				all_v4 = false;
			if (m > 0 && (!underlay || (unsigned int)m < underlay))
				underlay = (unsigned int)m;
		}
	}
	if (!underlay)
		return;
	mtu = mesh_mtu_compute(underlay, all_v4);
	if (!mtu || mtu == a->mtu)
		return;
	m = netdev_link_set_mtu(a->ifindex, mtu);
	if (m) {
		say(LOG_ERR, "cannot set the MTU of %s to %u: %s", a->o.ifname, mtu, strerror(-m));
		return;
	}
	say(LOG_INFO, "MTU of %s set to %u (underlay %u - %u bytes of %s tunnel overhead)",
	    a->o.ifname, mtu, underlay, all_v4 ? MESH_OVERHEAD_IPV4 : MESH_OVERHEAD_IPV6,
	    all_v4 ? "IPv4" : "IPv6");
	a->mtu = mtu;
	pthread_mutex_lock(&a->stats.lock);
	a->stats.mtu = mtu;
	pthread_mutex_unlock(&a->stats.lock);
}

/* ---- publishing our key */

static void publish(struct agent *a)
{
	char err[512], b64[45];
	int ret, changed = 0;

	if (a->o.kubernetes) {
		ret = a->k8s ? mesh_k8s_publish(a->k8s, a->public_key, a->listen_port, err,
						sizeof(err))
			     : -ENOTCONN;
		changed = 1;
	} else {
		ret = mesh_nodes_file_publish_key(a->o.nodes_file, a->o.node_name, a->public_key,
						  0, &changed, err, sizeof(err));
	}
	if (ret) {
		if (ret == -ENOTCONN)
			snprintf(err, sizeof(err), "the Kubernetes source is not running");
		say(LOG_ERR, "cannot publish this node's public key: %s (retrying in %d s)", err,
		    PUBLISH_RETRY_MS / 1000);
		a->publish_at_ms = now_ms() + PUBLISH_RETRY_MS;
		return;
	}
	a->publish_dirty = false;
	if (changed) {
		key_b64(a->public_key, b64);
		say(LOG_INFO, "published public key %s for node %s", b64, a->o.node_name);
	}
}

/* ---- reconciling */

static void skipped_node(void *ctx, const struct mesh_node *node, const char *reason)
{
	(void)ctx;
	say(LOG_DEBUG, "node %s %s: no peer for it", node->name, reason);
}

static void stats_names_update(struct agent *a)
{
	struct mesh_peer_name *names = calloc(a->n_applied ? a->n_applied : 1, sizeof(*names));

	if (!names)
		return;
	for (size_t i = 0; i < a->n_applied; i++) {
		memcpy(names[i].public_key, a->applied[i].public_key, 32);
		snprintf(names[i].name, sizeof(names[i].name), "%s", a->applied[i].name);
	}
	pthread_mutex_lock(&a->stats.lock);
	free(a->stats.names);
	a->stats.names = names;
	a->stats.n_names = a->n_applied;
	a->stats.nodes = a->n_nodes;
	pthread_mutex_unlock(&a->stats.lock);
}

static const char *change_word(enum mesh_change_kind k)
{
	switch (k) {
	case MESH_CHANGE_ADD: return "added";
	case MESH_CHANGE_UPDATE: return "updated";
	case MESH_CHANGE_REKEY: return "rekeyed";
	case MESH_CHANGE_REMOVE: return "removed";
	}
	return "?";
}

static void reconcile(struct agent *a)
{
	struct mesh_peer *desired = NULL, *grown;
	struct mesh_change *changes = NULL;
	size_t n_desired = 0, nc, failed = 0;
	char b64[45];

	a->dirty = false;
	if (a->device_dirty && device_apply(a)) {
		failed++;
		goto out;
	}
	if (!a->have_nodes)
		goto out;
	desired = calloc(a->n_nodes ? a->n_nodes : 1, sizeof(*desired));
	changes = calloc(a->n_nodes + a->n_applied + 1, sizeof(*changes));
	grown = realloc(a->applied, (a->n_applied + a->n_nodes + 1) * sizeof(*grown));
	if (!desired || !changes || !grown) {
		if (grown)
			a->applied = grown;
		say(LOG_ERR, "out of memory while reconciling");
		failed++;
		goto out;
	}
	a->applied = grown;
	mesh_peers_from_nodes(a->nodes, a->n_nodes, a->o.node_name, a->public_key, desired,
			      &n_desired, skipped_node, a);
	nc = mesh_diff(a->applied, a->n_applied, desired, n_desired, changes);
	if (!nc)
		goto out;
	pthread_mutex_lock(&a->stats.lock);
	a->stats.reconciles++;
	pthread_mutex_unlock(&a->stats.lock);
	for (size_t i = 0; i < nc; i++) {
		const struct mesh_change *c = &changes[i];
		struct mesh_buf b = { 0 };
		struct mesh_peer old;
		const struct mesh_peer *prev;
		int ret;

		mesh_change_uapi(c, &b);
		ret = uapi_set(a, &b);
		mesh_buf_free(&b);
		key_b64(c->peer.public_key, b64);
		if (ret) {
			say(LOG_ERR, "node %s (%s): the daemon refused the change: %s (retrying)",
			    c->peer.name[0] ? c->peer.name : "?", b64, strerror(-ret));
			failed++;
			if (ret == -ENOENT || ret == -ECONNREFUSED)
				a->resync_at_ms = 0; /* the daemon is gone */
			continue;
		}
		prev = applied_by_key(a, c->kind == MESH_CHANGE_UPDATE ? c->peer.public_key
								       : c->old_key);
		if (prev && c->kind != MESH_CHANGE_ADD) {
			old = *prev;
			routes_del(a, &old, c->kind == MESH_CHANGE_REMOVE ? NULL : &c->peer);
		}
		if (c->kind != MESH_CHANGE_REMOVE)
			routes_add(a, &c->peer);
		mesh_applied_commit(a->applied, &a->n_applied, c);
		say(LOG_INFO, "peer %s node %s %s", b64, c->peer.name[0] ? c->peer.name : "?",
		    change_word(c->kind));
	}
	stats_names_update(a);
	mtu_update(a);
out:
	if (failed) {
		pthread_mutex_lock(&a->stats.lock);
		a->stats.reconcile_errors++;
		pthread_mutex_unlock(&a->stats.lock);
		a->dirty = true;
		schedule_retry(a);
	} else {
		a->backoff_ms = 0;
	}
	free(desired);
	free(changes);
}

/* Compare the daemon with what we believe it holds; adopt what it really
 * holds (peers by key: a restarted daemon has none, an earlier run of the
 * agent left some), then reconcile the difference. */
static void resync(struct agent *a)
{
	struct mesh_iface_state st;
	struct mesh_peer *peers;
	int ret, ifindex;

	a->resync_at_ms = now_ms() + RESYNC_SECONDS * 1000;
	ret = mesh_uapi_get(a->o.ifname, &st);
	if (ret == -ENOENT || ret == -ECONNREFUSED || (ret && !uapi_socket_exists(a))) {
		if (a->xwgd_pid || now_ms() < a->xwgd_restart_at_ms)
			return; /* starting, or waiting out the restart backoff */
		if (xwgd_start(a)) {
			a->xwgd_backoff_ms = a->xwgd_backoff_ms ? a->xwgd_backoff_ms * 2 : 1000;
			if (a->xwgd_backoff_ms > BACKOFF_MAX_MS)
				a->xwgd_backoff_ms = BACKOFF_MAX_MS;
			a->xwgd_restart_at_ms = now_ms() + a->xwgd_backoff_ms;
			a->resync_at_ms = a->xwgd_restart_at_ms;
			return;
		}
		a->xwgd_backoff_ms = 0;
		ret = mesh_uapi_get(a->o.ifname, &st);
	}
	if (ret) {
		say(LOG_ERR, "cannot read %s's configuration: %s", a->o.ifname, strerror(-ret));
		a->resync_at_ms = now_ms() + BACKOFF_MIN_MS * 4;
		return;
	}
	if (!st.has_private_key || sodium_memcmp(st.private_key, a->private_key, 32) ||
	    st.listen_port != a->listen_port || st.fwmark != a->o.fwmark)
		a->device_dirty = true;

	ifindex = (int)if_nametoindex(a->o.ifname);
	peers = calloc(st.n_peers + a->n_nodes + 1, sizeof(*peers));
	if (!peers) {
		mesh_iface_state_free(&st);
		return;
	}
	for (size_t i = 0; i < st.n_peers; i++) {
		const struct mesh_peer *known = applied_by_key(a, st.peers[i].peer.public_key);

		peers[i] = st.peers[i].peer;
		if (known) {
			/* Keep the endpoint we set: the daemon reports where
			 * the peer was last heard from (roaming), which is
			 * not a reason to send a change. */
			snprintf(peers[i].name, sizeof(peers[i].name), "%s", known->name);
			peers[i].has_endpoint = known->has_endpoint;
			peers[i].endpoint = known->endpoint;
			peers[i].port = known->port;
		}
	}
	if (st.n_peers != a->n_applied)
		say(LOG_INFO, "%s holds %zu peers, the agent expected %zu: reconciling",
		    a->o.ifname, st.n_peers, a->n_applied);
	free(a->applied);
	a->applied = peers;
	a->n_applied = st.n_peers;
	mesh_iface_state_free(&st);

	if (ifindex > 0 && ifindex != a->ifindex) {
		/* A new interface (first start, or the daemon restarted):
		 * its routes went with the old one. */
		a->ifindex = ifindex;
		a->nc.ifindex = ifindex;
		a->mtu = 0;
		netconf_refresh(a);
	} else if (a->routes_dirty) {
		netconf_refresh(a);
	}
	reconcile(a);
	mtu_update(a); /* the underlay's MTU may have changed; logs only a change */
}

/* ---- node lists */

/* Called by a source (maybe from its own thread): hand over a copy. */
static void on_nodes(void *ctx, const struct mesh_node *nodes, size_t n)
{
	struct agent *a = ctx;
	struct mesh_node *copy = malloc((n ? n : 1) * sizeof(*copy));
	uint64_t one = 1;

	if (!copy) {
		say(LOG_ERR, "out of memory: node list of %zu nodes dropped", n);
		return;
	}
	memcpy(copy, nodes, n * sizeof(*copy));
	pthread_mutex_lock(&a->pending_lock);
	free(a->pending);
	a->pending = copy;
	a->n_pending = n;
	a->has_pending = true;
	pthread_mutex_unlock(&a->pending_lock);
	if (write(a->evfd, &one, sizeof(one)) < 0)
		say(LOG_DEBUG, "eventfd: %s", strerror(errno));
}

static void nodes_take(struct agent *a)
{
	const struct mesh_node *self = NULL;
	size_t with_key = 0;

	pthread_mutex_lock(&a->pending_lock);
	if (!a->has_pending) {
		pthread_mutex_unlock(&a->pending_lock);
		return;
	}
	free(a->nodes);
	a->nodes = a->pending;
	a->n_nodes = a->n_pending;
	a->pending = NULL;
	a->has_pending = false;
	pthread_mutex_unlock(&a->pending_lock);
	a->have_nodes = true;
	pthread_mutex_lock(&a->stats.lock);
	a->stats.source_updates++;
	a->stats.nodes = a->n_nodes;
	pthread_mutex_unlock(&a->stats.lock);

	for (size_t i = 0; i < a->n_nodes; i++) {
		if (!strcmp(a->nodes[i].name, a->o.node_name))
			self = &a->nodes[i];
		with_key += a->nodes[i].has_key;
	}
	say(LOG_DEBUG, "node list: %zu nodes, %zu with a key", a->n_nodes, with_key);
	if (!self) {
		if (!a->self_missing_logged)
			say(LOG_ERR, "this node (%s) is not in the node list: the others cannot reach it (set --node-name or add its entry)",
			    a->o.node_name);
		a->self_missing_logged = true;
	} else {
		a->self_missing_logged = false;
		/* The file is the operator's: its port for this node wins. The
		 * Kubernetes annotation is ours (--port): republish it. */
		if (self->port != a->listen_port && !a->o.kubernetes) {
			say(LOG_INFO, "listen port %u (from this node's entry)", self->port);
			a->listen_port = self->port;
			a->device_dirty = true;
		}
		if (!self->has_key || sodium_memcmp(self->public_key, a->public_key, 32) ||
		    self->port != a->listen_port)
			a->publish_dirty = true;
	}
	a->dirty = true;
	a->retry_at_ms = 0;
	a->backoff_ms = 0;
}

static void file_reload(struct agent *a)
{
	struct mesh_node *nodes;
	size_t n;
	char err[512];
	int ret;

	ret = mesh_nodes_file_read(a->o.nodes_file, &nodes, &n, err, sizeof(err));
	if (ret) {
		say(LOG_ERR, "%s; keeping the last good node list", err);
		pthread_mutex_lock(&a->stats.lock);
		a->stats.source_errors++;
		pthread_mutex_unlock(&a->stats.lock);
		return;
	}
	on_nodes(a, nodes, n);
	free(nodes);
}

/* ---- key rotation */

static void rotate_key(struct agent *a)
{
	char err[512], b64[45];
	int ret;

	ret = mesh_key_rotate(a->o.key_file, a->private_key, a->public_key, err, sizeof(err));
	if (ret) {
		say(LOG_ERR, "key rotation failed, the old key stays: %s", err);
		return;
	}
	key_b64(a->public_key, b64);
	say(LOG_INFO, "rotated the private key; new public key %s", b64);
	pthread_mutex_lock(&a->stats.lock);
	a->stats.key_rotations++;
	pthread_mutex_unlock(&a->stats.lock);
	a->device_dirty = true;
	device_apply(a);
	a->publish_dirty = true;
	a->publish_at_ms = 0;
	publish(a);
	/* A node still listed with our old key must not become a peer. */
	a->dirty = true;
}

/* ---- the pid file (one agent per interface; --rotate-key finds it) */

static int pid_file_path(const char *ifname, char *buf, size_t len)
{
	return snprintf(buf, len, "%s/%s.pid", PID_DIR, ifname) >= (int)len ? -ENAMETOOLONG : 0;
}

static int pid_file_take(struct agent *a)
{
	char path[PATH_MAX], text[32];
	int fd, n;

	if (mkdir(PID_DIR, 0755) && errno != EEXIST)
		return -errno;
	if (pid_file_path(a->o.ifname, path, sizeof(path)))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		n = (int)read(fd, text, sizeof(text) - 1);
		text[n > 0 ? n : 0] = '\0';
		say(LOG_ERR, "another xwg-mesh runs for %s (pid %ld): stop it first", a->o.ifname,
		    strtol(text, NULL, 10));
		close(fd);
		return -EBUSY;
	}
	n = snprintf(text, sizeof(text), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, text, (size_t)n, 0) != n) {
		close(fd);
		return -EIO;
	}
	a->pid_fd = fd;
	return 0;
}

static void pid_file_drop(struct agent *a)
{
	char path[PATH_MAX];

	if (a->pid_fd < 0)
		return;
	if (!pid_file_path(a->o.ifname, path, sizeof(path)))
		unlink(path);
	close(a->pid_fd);
	a->pid_fd = -1;
}

static int signal_running(const char *ifname)
{
	char path[PATH_MAX], text[32];
	long pid;
	ssize_t n;
	int fd;

	if (pid_file_path(ifname, path, sizeof(path)))
		return 1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "xwg-mesh: no agent runs for %s (%s: %s)\n", ifname, path,
			strerror(errno));
		return 1;
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	pid = strtol(text, NULL, 10);
	if (pid <= 1 || kill((pid_t)pid, SIGUSR2)) {
		fprintf(stderr, "xwg-mesh: cannot signal the agent for %s (pid %ld from %s): %s\n",
			ifname, pid, path, pid <= 1 ? "bad pid file" : strerror(errno));
		return 1;
	}
	printf("asked the agent for %s (pid %ld) to rotate its key\n", ifname, pid);
	return 0;
}

/* ---- options */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: xwg-mesh [OPTIONS] (--nodes-file PATH | --kubernetes)\n"
		"       xwg-mesh --rotate-key [--interface IFNAME]\n"
		"       xwg-mesh --exporter IFNAME[,IFNAME...] [--metrics ADDR:PORT] [-f]\n"
		"\n"
		"Keeps an xwgd interface in step with a mesh's node list: every other node\n"
		"is a peer whose allowed IPs are its pod CIDRs and node IPs.\n"
		"\n"
		"  -i, --interface IFNAME   tunnel interface (default xwg0)\n"
		"  -n, --node-name NAME     this node's name (default $NODE_NAME, else the hostname)\n"
		"      --nodes-file PATH    node list: a JSON file, watched for changes\n"
		"      --kubernetes         node list: the Kubernetes API (in-cluster credentials)\n"
		"  -k, --key-file PATH      private key, created 0600 on first start\n"
		"                           (default %s)\n"
		"  -p, --port PORT          listen port unless this node's entry says (default %d)\n"
		"  -m, --metrics ADDR:PORT  Prometheus /metrics (default %s; \"off\" disables)\n"
		"      --xwgd PATH          daemon to start when IFNAME has none (default: xwgd\n"
		"                           next to this program, else in PATH)\n"
		"      --fwmark MARK        mark of the encrypted packets (default %d)\n"
		"      --table TABLE        routing table of the routes to peers (default %d)\n"
		"  -f, --foreground         stay in the foreground, log to stderr\n"
		"      --rotate-key         make the running agent for IFNAME rotate its key\n"
		"      --exporter IFNAMES   no agent: only serve /metrics for these interfaces\n"
		"                           (comma-separated, at most %d; any WireGuard daemon)\n"
		"  -h, --help               this text\n"
		"\n"
		"Signals: SIGUSR2 rotates the key, SIGHUP rereads the node-list file,\n"
		"SIGINT/SIGTERM remove the agent's routes and stop the xwgd it started\n"
		"(the exporter just exits).\n"
		"Environment: LOG_LEVEL=error|info|debug, NODE_NAME.\n",
		MESH_DEFAULT_KEY_FILE, MESH_DEFAULT_PORT, MESH_DEFAULT_METRICS,
		MESH_DEFAULT_FWMARK, MESH_DEFAULT_TABLE, MESH_METRICS_MAX_IFACES);
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *v)
{
	char *end;
	unsigned long long x;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || *end || x < min || x > max)
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

static int copy_opt(char *dst, size_t cap, const char *src, const char *what)
{
	if (strlen(src) >= cap || !*src) {
		fprintf(stderr, "xwg-mesh: %s: must be 1 to %zu characters\n", what, cap - 1);
		return -EINVAL;
	}
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

static int make_absolute(char *path, size_t cap, const char *what)
{
	char cwd[PATH_MAX], out[PATH_MAX];

	if (!path[0] || path[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)) ||
	    (size_t)snprintf(out, sizeof(out), "%s/%s", cwd, path) >= cap) {
		fprintf(stderr, "xwg-mesh: %s %s: cannot make the path absolute\n", what, path);
		return -1;
	}
	memcpy(path, out, strlen(out) + 1);
	return 0;
}

/* 0: run; 1: exit 0 (help, rotate); -1: exit 1. */
static int parse_args(int argc, char **argv, struct options *o, bool *rotate)
{
	enum { OPT_NODES = 256, OPT_K8S, OPT_XWGD, OPT_FWMARK, OPT_TABLE, OPT_ROTATE,
	       OPT_EXPORTER };
	static const struct option longs[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "node-name", required_argument, NULL, 'n' },
		{ "nodes-file", required_argument, NULL, OPT_NODES },
		{ "kubernetes", no_argument, NULL, OPT_K8S },
		{ "key-file", required_argument, NULL, 'k' },
		{ "port", required_argument, NULL, 'p' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "xwgd", required_argument, NULL, OPT_XWGD },
		{ "fwmark", required_argument, NULL, OPT_FWMARK },
		{ "table", required_argument, NULL, OPT_TABLE },
		{ "foreground", no_argument, NULL, 'f' },
		{ "rotate-key", no_argument, NULL, OPT_ROTATE },
		{ "exporter", required_argument, NULL, OPT_EXPORTER },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool ifname_set = false;
	const char *env;
	uint32_t v;
	int c;

	memset(o, 0, sizeof(*o));
	snprintf(o->ifname, sizeof(o->ifname), "xwg0");
	snprintf(o->key_file, sizeof(o->key_file), "%s", MESH_DEFAULT_KEY_FILE);
	snprintf(o->metrics, sizeof(o->metrics), "%s", MESH_DEFAULT_METRICS);
	o->port = MESH_DEFAULT_PORT;
	o->fwmark = MESH_DEFAULT_FWMARK;
	o->table = MESH_DEFAULT_TABLE;
	*rotate = false;
	while ((c = getopt_long(argc, argv, "i:n:k:p:m:fh", longs, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (copy_opt(o->ifname, sizeof(o->ifname), optarg, "--interface"))
				return -1;
			ifname_set = true;
			break;
		case 'n':
			if (copy_opt(o->node_name, sizeof(o->node_name), optarg, "--node-name"))
				return -1;
			break;
		case OPT_NODES:
			if (copy_opt(o->nodes_file, sizeof(o->nodes_file), optarg, "--nodes-file"))
				return -1;
			break;
		case OPT_K8S:
			o->kubernetes = true;
			break;
		case 'k':
			if (copy_opt(o->key_file, sizeof(o->key_file), optarg, "--key-file"))
				return -1;
			break;
		case 'p':
			if (parse_u32(optarg, 1, 65535, &v)) {
				fprintf(stderr, "xwg-mesh: --port %s: want 1-65535\n", optarg);
				return -1;
			}
			o->port = (uint16_t)v;
			break;
		case 'm':
			if (copy_opt(o->metrics, sizeof(o->metrics), optarg, "--metrics"))
				return -1;
			break;
		case OPT_XWGD:
			if (copy_opt(o->xwgd, sizeof(o->xwgd), optarg, "--xwgd"))
				return -1;
			break;
		case OPT_FWMARK:
			if (parse_u32(optarg, 1, UINT32_MAX, &o->fwmark)) {
				fprintf(stderr, "xwg-mesh: --fwmark %s: want a non-zero 32-bit number\n",
					optarg);
				return -1;
			}
			break;
		case OPT_TABLE:
			/* 253-255 are default, main, local. */
			if (parse_u32(optarg, 1, UINT32_MAX, &o->table) ||
			    (o->table >= 253 && o->table <= 255)) {
				fprintf(stderr, "xwg-mesh: --table %s: want a table number other than 253-255\n",
					optarg);
				return -1;
			}
			break;
		case 'f':
			o->foreground = true;
			break;
		case OPT_ROTATE:
			*rotate = true;
			break;
		case OPT_EXPORTER:
			c = mesh_metrics_parse_ifnames(optarg, o->exported, MESH_METRICS_MAX_IFACES,
						       &o->n_exported);
			if (c == -E2BIG) {
				fprintf(stderr, "xwg-mesh: --exporter %s: at most %d interfaces\n",
					optarg, MESH_METRICS_MAX_IFACES);
				return -1;
			}
			if (c) {
				fprintf(stderr, "xwg-mesh: --exporter %s: want interface names "
					"separated by commas, each once\n", optarg);
				return -1;
			}
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "xwg-mesh: unexpected argument \"%s\" (see --help)\n", argv[optind]);
		return -1;
	}
	if (!netdev_ifname_is_valid(o->ifname)) {
		fprintf(stderr, "xwg-mesh: --interface %s: not a valid interface name\n", o->ifname);
		return -1;
	}
	if (*rotate && o->n_exported) {
		fprintf(stderr, "xwg-mesh: --rotate-key is for the agent, not --exporter\n");
		return -1;
	}
	if (*rotate)
		return 0;
	if (o->n_exported) {
		/* The exporter reconciles nothing: a node source or an agent's
		 * interface would be a mistake worth saying. */
		if (o->nodes_file[0] || o->kubernetes || ifname_set) {
			fprintf(stderr, "xwg-mesh: --exporter names its interfaces and runs no agent: "
				"no --interface, --nodes-file or --kubernetes with it\n");
			return -1;
		}
		if (!strcmp(o->metrics, "off")) {
			fprintf(stderr, "xwg-mesh: --exporter with --metrics off would serve nothing\n");
			return -1;
		}
		return 0;
	}
	if (!!o->nodes_file[0] == o->kubernetes) {
		fprintf(stderr, "xwg-mesh: give exactly one node source: --nodes-file PATH or --kubernetes\n");
		return -1;
	}
	if (!o->node_name[0]) {
		env = getenv("NODE_NAME");
		if (env && *env) {
			if (copy_opt(o->node_name, sizeof(o->node_name), env, "$NODE_NAME"))
				return -1;
		} else if (gethostname(o->node_name, sizeof(o->node_name) - 1)) {
			fprintf(stderr, "xwg-mesh: no --node-name, no $NODE_NAME and no hostname\n");
			return -1;
		}
	}
	if (!o->xwgd[0])
		default_xwgd(o->xwgd, sizeof(o->xwgd));
	/* Detaching changes to "/": make relative paths absolute now. */
	if (make_absolute(o->nodes_file, sizeof(o->nodes_file), "--nodes-file") ||
	    make_absolute(o->key_file, sizeof(o->key_file), "--key-file") ||
	    (strchr(o->xwgd, '/') && make_absolute(o->xwgd, sizeof(o->xwgd), "--xwgd")))
		return -1;
	return 0;
}

/* ---- the host exporter (--exporter) */

static int epoll_add(int epfd, int fd);

/* Serve /metrics for interfaces another program manages (xwgd started by
 * wg-quick, wireguard-go, ...) until SIGINT or SIGTERM: every scrape reads
 * their configuration sockets and pinned maps; nothing is written. An epoll
 * loop reads their event streams (xwgd's; absent for others, retried with
 * backoff) for the event counters. */
static int exporter_run(const struct options *o)
{
	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	char err[512], list[MESH_METRICS_MAX_IFACES * IF_NAMESIZE] = "";
	struct mesh_event_counts *counts[MESH_METRICS_MAX_IFACES] = { 0 };
	struct mesh_event_client *evc = NULL;
	struct mesh_metrics *m = NULL;
	int sigfd = -1, timerfd = -1, epfd = -1, ret = 1;
	bool stop = false;
	sigset_t mask;
	size_t i;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	/* Before libmicrohttpd's thread starts, so it inherits the mask. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < o->n_exported; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? "," : "",
			 o->exported[i]);
	evc = calloc(o->n_exported, sizeof(*evc));
	sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!evc || sigfd < 0 || timerfd < 0 || epfd < 0 ||
	    timerfd_settime(timerfd, 0, &its, NULL) || epoll_add(epfd, sigfd) ||
	    epoll_add(epfd, timerfd)) {
		say(LOG_ERR, "cannot set up the event loop: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < o->n_exported; i++) {
		counts[i] = mesh_event_counts_new(MESH_EVENT_PEERS_MAX);
		if (!counts[i]) {
			say(LOG_ERR, "out of memory");
			goto out;
		}
		mesh_event_client_init(&evc[i], MESH_UAPI_DIR, o->exported[i], counts[i]);
		mesh_event_client_tick(&evc[i], epfd, now_ms());
	}
	m = mesh_metrics_start(o->metrics, NULL, (const char (*)[IF_NAMESIZE])o->exported,
			       o->n_exported, counts, err, sizeof(err));
	if (!m) {
		say(LOG_ERR, "%s", err);
		goto out;
	}
	say(LOG_INFO, "metrics of %s on http://%s/metrics", list, o->metrics);
	while (!stop) {
		struct epoll_event evs[8];
		int n = epoll_wait(epfd, evs, 8, -1);

		if (n < 0 && errno != EINTR) {
			say(LOG_ERR, "epoll: %s", strerror(errno));
			goto out;
		}
		for (int k = 0; k < n; k++) {
			int fd = evs[k].data.fd;
			struct signalfd_siginfo si;
			uint64_t v;

			if (fd == sigfd) {
				/* SIGHUP (a reload by habit) changes nothing. */
				while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (si.ssi_signo != SIGHUP) {
						say(LOG_INFO, "signal %u: exiting", si.ssi_signo);
						stop = true;
					}
				}
			} else if (fd == timerfd) {
				if (read(timerfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					say(LOG_DEBUG, "timerfd: %s", strerror(errno));
			} else {
				for (i = 0; i < o->n_exported; i++)
					if (fd == evc[i].fd)
						mesh_event_client_read(&evc[i], epfd, now_ms());
			}
		}
		for (i = 0; i < o->n_exported; i++)
			mesh_event_client_tick(&evc[i], epfd, now_ms());
	}
	ret = 0;
out:
	mesh_metrics_stop(m);
	for (i = 0; evc && i < o->n_exported; i++) {
		if (counts[i])
			mesh_event_client_close(&evc[i], epfd);
		mesh_event_counts_free(counts[i]);
	}
	free(evc);
	if (epfd >= 0)
		close(epfd);
	if (timerfd >= 0)
		close(timerfd);
	if (sigfd >= 0)
		close(sigfd);
	return ret;
}

/* ---- the loop */

static int epoll_add(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static bool handle_signals(struct agent *a)
{
	struct signalfd_siginfo si;
	bool stop = false;

	while (read(a->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
		case SIGTERM:
			say(LOG_INFO, "signal %u: leaving the mesh", si.ssi_signo);
			stop = true;
			break;
		case SIGUSR2:
			rotate_key(a);
			break;
		case SIGHUP:
			if (!a->o.kubernetes)
				file_reload(a);
			break;
		case SIGCHLD:
			xwgd_reap(a);
			break;
		}
	}
	return stop;
}

static int run(struct agent *a)
{
	struct epoll_event evs[8];
	bool stop = false;

	while (!stop) {
		int n = epoll_wait(a->epfd, evs, 8, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == a->sigfd) {
				stop |= handle_signals(a);
			} else if (fd == a->evfd) {
				uint64_t v;

				if (read(a->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					say(LOG_DEBUG, "eventfd: %s", strerror(errno));
			} else if (fd == a->fs.fd) {
				if (mesh_file_source_changed(&a->fs))
					file_reload(a);
			} else if (fd == a->timerfd) {
				uint64_t v;

				if (read(a->timerfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					say(LOG_DEBUG, "timerfd: %s", strerror(errno));
			} else if (a->ev_counts && fd == a->evc.fd) {
				mesh_event_client_read(&a->evc, a->epfd, now_ms());
			}
		}
		if (stop)
			break;
		if (a->ev_counts)
			mesh_event_client_tick(&a->evc, a->epfd, now_ms());
		nodes_take(a);
		if (now_ms() >= a->resync_at_ms)
			resync(a);
		if (a->publish_dirty && now_ms() >= a->publish_at_ms)
			publish(a);
		if ((a->dirty || a->device_dirty) && now_ms() >= a->retry_at_ms)
			reconcile(a);
		if (a->routes_dirty && now_ms() >= a->retry_at_ms)
			netconf_refresh(a);
	}
	return 0;
}

static void leave(struct agent *a)
{
	for (size_t i = 0; i < a->n_applied; i++)
		routes_del(a, &a->applied[i], NULL);
	mesh_rule_del(&a->nc, AF_INET);
	mesh_rule_del(&a->nc, AF_INET6);
	if (a->xwgd_pid)
		xwgd_stop(a);
}

static int setup(struct agent *a)
{
	struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	char err[512], b64[45];
	sigset_t mask;
	bool created;
	int ret;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	/* Before any thread starts, so they all inherit the mask. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	a->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	a->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	a->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (a->sigfd < 0 || a->evfd < 0 || a->timerfd < 0 || a->epfd < 0 ||
	    timerfd_settime(a->timerfd, 0, &its, NULL) || epoll_add(a->epfd, a->sigfd) ||
	    epoll_add(a->epfd, a->evfd) || epoll_add(a->epfd, a->timerfd)) {
		say(LOG_ERR, "cannot set up the event loop: %s", strerror(errno));
		return -errno;
	}

	ret = mesh_key_load_or_create(a->o.key_file, a->private_key, a->public_key, &created,
				      err, sizeof(err));
	if (ret) {
		say(LOG_ERR, "%s", err);
		return ret;
	}
	key_b64(a->public_key, b64);
	say(LOG_INFO, "node %s, interface %s, public key %s%s", a->o.node_name, a->o.ifname, b64,
	    created ? " (new key)" : "");

	ret = pid_file_take(a);
	if (ret) {
		if (ret != -EBUSY)
			say(LOG_ERR, "cannot write %s/%s.pid: %s", PID_DIR, a->o.ifname,
			    strerror(-ret));
		return ret;
	}
	if (!uapi_socket_exists(a)) {
		ret = xwgd_start(a);
		if (ret)
			return ret;
	}
	a->ifindex = (int)if_nametoindex(a->o.ifname);
	if (a->ifindex <= 0) {
		say(LOG_ERR, "%s has a configuration socket but no interface here: is its daemon in another network namespace?",
		    a->o.ifname);
		return -ENODEV;
	}
	ret = mesh_netconf_open(&a->nc, a->ifindex, a->o.table, a->o.fwmark, MESH_RULE_PRIORITY);
	if (ret) {
		say(LOG_ERR, "rtnetlink: %s", strerror(-ret));
		return ret;
	}
	a->ifindex = 0; /* the first resync sets the rules and routes up */
	a->listen_port = a->o.port;
	a->device_dirty = true;

	if (a->o.kubernetes) {
		a->k8s = mesh_k8s_start(a->o.node_name, on_nodes, a, err, sizeof(err));
		if (!a->k8s) {
			say(LOG_ERR, "Kubernetes source: %s", err);
			return -EINVAL;
		}
		a->publish_dirty = true;
	} else {
		ret = mesh_file_source_open(&a->fs, a->o.nodes_file, err, sizeof(err));
		if (ret) {
			say(LOG_ERR, "%s", err);
			return ret;
		}
		if (epoll_add(a->epfd, a->fs.fd))
			return -errno;
		file_reload(a);
	}
	if (strcmp(a->o.metrics, "off")) {
		a->ev_counts = mesh_event_counts_new(MESH_EVENT_PEERS_MAX);
		if (!a->ev_counts)
			return -ENOMEM;
		mesh_event_client_init(&a->evc, MESH_UAPI_DIR, a->o.ifname, a->ev_counts);
		mesh_event_client_tick(&a->evc, a->epfd, now_ms());
		a->metrics = mesh_metrics_start(a->o.metrics, &a->stats,
						(const char (*)[IF_NAMESIZE])a->stats.ifname, 1,
						&a->ev_counts, err, sizeof(err));
		if (!a->metrics) {
			say(LOG_ERR, "%s", err);
			return -EADDRINUSE;
		}
		say(LOG_INFO, "metrics on http://%s/metrics", a->o.metrics);
	}

	nodes_take(a);
	if (a->publish_dirty)
		publish(a);
	resync(a);
	return 0;
}

int main(int argc, char **argv)
{
	static struct agent agent;
	struct agent *a = &agent;
	bool rotate;
	int ret;

	ret = parse_args(argc, argv, &a->o, &rotate);
	if (ret)
		return ret > 0 ? 0 : 1;
	if (rotate)
		return signal_running(a->o.ifname);
	if (sodium_init() < 0) {
		fprintf(stderr, "xwg-mesh: libsodium failed to initialise\n");
		return 1;
	}
	snprintf(log_prefix, sizeof(log_prefix), "xwg-mesh(%.*s)", IF_NAMESIZE - 1,
		 a->o.n_exported ? "exporter" : a->o.ifname);
	{
		const char *lvl = getenv("LOG_LEVEL");

		log_debug_on = lvl && (!strcmp(lvl, "debug") || !strcmp(lvl, "verbose"));
	}
	log_init_from_env(a->o.ifname); /* for library code logging through base/log */
	{
		char prefix[64];

		snprintf(prefix, sizeof(prefix), "xwg-mesh(%.*s)", IF_NAMESIZE,
			 a->o.n_exported ? "exporter" : a->o.ifname);
		log_set_prefix(prefix);
	}
	if (!a->o.foreground) {
		if (daemon(0, 0)) {
			fprintf(stderr, "xwg-mesh: cannot detach: %s\n", strerror(errno));
			return 1;
		}
		openlog("xwg-mesh", LOG_PID, LOG_DAEMON);
		log_to_syslog = true;
		log_use_syslog(true);
	}
	if (a->o.n_exported)
		return exporter_run(&a->o);
	pthread_mutex_init(&a->stats.lock, NULL);
	pthread_mutex_init(&a->pending_lock, NULL);
	memcpy(a->stats.ifname, a->o.ifname, sizeof(a->stats.ifname));
	a->pid_fd = -1;
	a->fs.fd = -1;
	a->sigfd = a->evfd = a->timerfd = a->epfd = -1;

	ret = setup(a);
	if (!ret)
		ret = run(a);
	if (a->k8s)
		mesh_k8s_stop(a->k8s);
	mesh_metrics_stop(a->metrics);
	if (a->ev_counts) {
		mesh_event_client_close(&a->evc, a->epfd);
		mesh_event_counts_free(a->ev_counts);
	}
	if (a->nc.sk)
		leave(a);
	else if (a->xwgd_pid)
		xwgd_stop(a);
	mesh_netconf_close(&a->nc);
	mesh_file_source_close(&a->fs);
	pid_file_drop(a);
	sodium_memzero(a->private_key, sizeof(a->private_key));
	free(a->nodes);
	free(a->pending);
	free(a->applied);
	free(a->stats.names);
	say(LOG_INFO, "exiting");
	return ret ? 1 : 0;
}
