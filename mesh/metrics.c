// SPDX-License-Identifier: GPL-2.0
/* xwg-mesh: the Prometheus endpoint. See metrics.h. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl/maps/sync.h"
#include "mesh/metrics.h"
#include "mesh/uapi_client.h"


static int open_pin(const char *pin_root, const char *ifname, const char *map)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s/%s", pin_root, ifname, map);
	return bpf_obj_get(path);
}

static int map_entries(int fd, uint32_t *entries, uint32_t *value_size)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*entries = info.max_entries;
	*value_size = info.value_size;
	return 0;
}

void mesh_fastpath_free(struct mesh_fastpath *fp)
{
	free(fp->peers);
	memset(fp, 0, sizeof(*fp));
}

int mesh_fastpath_read(const char *pin_root, const char *ifname, struct mesh_fastpath *fp)
{
	int peers_fd, stats_fd = -1, drops_fd = -1, ret = 0, ncpu;
	uint32_t n_peers = 0, n_stats = 0, n_drops = 0, vs = 0, cap = 0;
	struct xwg_counter *percpu = NULL;  /* one drops value: per CPU */

	memset(fp, 0, sizeof(*fp));
	peers_fd = open_pin(pin_root, ifname, "peers");
	if (peers_fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	stats_fd = open_pin(pin_root, ifname, "peer_stats");
	drops_fd = open_pin(pin_root, ifname, "drops");
	ncpu = libbpf_num_possible_cpus();
	if (stats_fd < 0 || drops_fd < 0 || ncpu <= 0) {
		ret = -ENOENT;
		goto out;
	}
	/* Refuse maps of another layout than the one compiled in. */
	if (map_entries(peers_fd, &n_peers, &vs) || vs != sizeof(struct xwg_peer) ||
	    map_entries(stats_fd, &n_stats, &vs) || vs != sizeof(struct xwg_peer_stats) ||
	    map_entries(drops_fd, &n_drops, &vs) || vs != sizeof(struct xwg_counter)) {
		ret = -EPROTO;
		goto out;
	}
	percpu = calloc((size_t)ncpu, sizeof(*percpu));
	if (!percpu) {
		ret = -ENOMEM;
		goto out;
	}
	/* Peer ids start at 1; walk the array (an ACTIVE flag marks used
	 * slots). One lookup per slot: XWG_MAX_PEERS lookups per scrape. */
	for (uint32_t id = 1; id < n_peers && id < n_stats; id++) {
		struct xwg_peer peer;
		struct mesh_fastpath_peer *p;

		if (bpf_map_lookup_elem(peers_fd, &id, &peer) || !(peer.flags & XWG_PEER_ACTIVE))
			continue;
		if (fp->n_peers == cap) {
			uint32_t ncap = cap ? cap * 2 : 64;
			void *np = realloc(fp->peers, ncap * sizeof(*fp->peers));

			if (!np) {
				ret = -ENOMEM;
				goto out;
			}
			fp->peers = np;
			cap = ncap;
		}
		p = &fp->peers[fp->n_peers];
		memset(p, 0, sizeof(*p));
		memcpy(p->public_key, peer.public_key, 32);
		/* One value per peer (only the daemon writes it). */
		bpf_map_lookup_elem(stats_fd, &id, &p->stats);
		fp->n_peers++;
	}
	for (uint32_t r = 0; r < n_drops && r < XWG_DROP_REASONS; r++) {
		if (bpf_map_lookup_elem(drops_fd, &r, percpu))
			continue;
		for (int c = 0; c < ncpu; c++)
			fp->drops[r] += percpu[c].packets;
	}
	fp->read = true;
out:
	free(percpu);
	if (ret) {
		free(fp->peers);
		fp->peers = NULL;
		fp->n_peers = 0;
	}
	close(peers_fd);
	if (stats_fd >= 0)
		close(stats_fd);
	if (drops_fd >= 0)
		close(drops_fd);
	return ret;
}

/* A label value: node names are DNS names and keys base64, but escape as
 * the format requires anyway. */
static void label(struct mesh_buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			mesh_buf_printf(out, "\\%c", *s);
		else if (*s == '\n')
			mesh_buf_printf(out, "\\n");
		else
			mesh_buf_printf(out, "%c", *s);
	}
}

static const char *name_of(const struct mesh_stats *stats, const uint8_t key[32])
{
	for (size_t i = 0; i < stats->n_names; i++)
		if (!memcmp(stats->names[i].public_key, key, 32))
			return stats->names[i].name;
	return "";
}

static void peer_labels(struct mesh_buf *out, const struct mesh_stats *stats,
			const uint8_t key[32])
{
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];

	sodium_bin2base64(b64, sizeof(b64), key, 32, sodium_base64_VARIANT_ORIGINAL);
	mesh_buf_printf(out, "{interface=\"");
	label(out, stats->ifname);
	mesh_buf_printf(out, "\",public_key=\"%s\",node=\"", b64);
	label(out, name_of(stats, key));
	mesh_buf_printf(out, "\"}");
}

static void head(struct mesh_buf *out, const char *name, const char *type, const char *help)
{
	mesh_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void agent_metric(struct mesh_buf *out, const struct mesh_stats *stats,
			 const char *name, const char *type, const char *help, uint64_t v)
{
	head(out, name, type, help);
	mesh_buf_printf(out, "%s{interface=\"", name);
	label(out, stats->ifname);
	mesh_buf_printf(out, "\"} %llu\n", (unsigned long long)v);
}

#define FP_PEER_METRICS(X)                                                                    \
	X(rx_packets, "xwg_peer_receive_packets_total", "Packets received from the peer (fast path).") \
	X(tx_packets, "xwg_peer_transmit_packets_total", "Packets sent to the peer (fast path).") \
	X(rx_dropped, "xwg_peer_receive_dropped_total", "Packets from the peer dropped (fast path).") \
	X(tx_dropped, "xwg_peer_transmit_dropped_total", "Packets to the peer dropped (fast path).") \
	X(handshakes_sent, "xwg_peer_handshakes_sent_total", "Handshake initiations and responses sent to the peer (fast path).") \
	X(handshakes_received, "xwg_peer_handshakes_received_total", "Handshake messages received from the peer (fast path).") \
	X(map_write_errors, "xwg_peer_fastpath_map_write_errors_total", "Writes of the peer's entries in the fast path's maps that failed (the daemon re-syncs them).")

void mesh_metrics_render(const struct mesh_stats *stats, const struct mesh_iface_state *st,
			 const struct mesh_fastpath *fp, struct mesh_buf *out)
{
	size_t i;

	agent_metric(out, stats, "xwg_mesh_uapi_up", "gauge",
		     "1 if the configuration socket answered this scrape.", st ? 1 : 0);
	agent_metric(out, stats, "xwg_mesh_fastpath_read", "gauge",
		     "1 if the fast path's pinned maps were read (packet, drop and handshake series).",
		     fp && fp->read ? 1 : 0);
	agent_metric(out, stats, "xwg_mesh_reconciles_total", "counter",
		     "Reconcile rounds run (one per node-list change, retry or resync).",
		     stats->reconciles);
	agent_metric(out, stats, "xwg_mesh_reconcile_errors_total", "counter",
		     "Reconcile rounds that left a change unapplied (retried with backoff).",
		     stats->reconcile_errors);
	agent_metric(out, stats, "xwg_mesh_uapi_transactions_total", "counter",
		     "Configuration transactions sent to the daemon.", stats->uapi_transactions);
	agent_metric(out, stats, "xwg_mesh_uapi_errors_total", "counter",
		     "Configuration transactions the daemon refused or did not answer.",
		     stats->uapi_errors);
	agent_metric(out, stats, "xwg_mesh_source_updates_total", "counter",
		     "Node lists received from the source.", stats->source_updates);
	agent_metric(out, stats, "xwg_mesh_source_errors_total", "counter",
		     "Node lists rejected (the last good one stays in force).", stats->source_errors);
	agent_metric(out, stats, "xwg_mesh_key_rotations_total", "counter",
		     "Private key rotations done by this agent.", stats->key_rotations);
	agent_metric(out, stats, "xwg_mesh_nodes", "gauge", "Nodes in the current node list.",
		     stats->nodes);
	agent_metric(out, stats, "xwg_mesh_peers", "gauge", "Peers the agent has configured.",
		     stats->n_names);
	agent_metric(out, stats, "xwg_mesh_mtu_bytes", "gauge",
		     "MTU the agent set on the tunnel (0: not set yet).", stats->mtu);

	if (st) {
		head(out, "xwg_peer_receive_bytes_total", "counter",
		     "Bytes received from the peer (configuration socket rx_bytes).");
		for (i = 0; i < st->n_peers; i++) {
			mesh_buf_printf(out, "xwg_peer_receive_bytes_total");
			peer_labels(out, stats, st->peers[i].peer.public_key);
			mesh_buf_printf(out, " %llu\n", (unsigned long long)st->peers[i].rx_bytes);
		}
		head(out, "xwg_peer_transmit_bytes_total", "counter",
		     "Bytes sent to the peer (configuration socket tx_bytes).");
		for (i = 0; i < st->n_peers; i++) {
			mesh_buf_printf(out, "xwg_peer_transmit_bytes_total");
			peer_labels(out, stats, st->peers[i].peer.public_key);
			mesh_buf_printf(out, " %llu\n", (unsigned long long)st->peers[i].tx_bytes);
		}
		head(out, "xwg_peer_last_handshake_seconds", "gauge",
		     "Unix time of the latest completed handshake with the peer (0: never).");
		for (i = 0; i < st->n_peers; i++) {
			mesh_buf_printf(out, "xwg_peer_last_handshake_seconds");
			peer_labels(out, stats, st->peers[i].peer.public_key);
			mesh_buf_printf(out, " %lld\n", (long long)st->peers[i].last_handshake_sec);
		}
	}
	if (fp && fp->read) {
#define X(field, name, help)                                                        \
	head(out, name, "counter", help);                                           \
	for (i = 0; i < fp->n_peers; i++) {                                         \
		mesh_buf_printf(out, name);                                         \
		peer_labels(out, stats, fp->peers[i].public_key);                   \
		mesh_buf_printf(out, " %llu\n",                                     \
				(unsigned long long)fp->peers[i].stats.field);      \
	}
		FP_PEER_METRICS(X)
#undef X
		head(out, "xwg_drops_total", "counter",
		     "Packets the fast path dropped, by reason.");
		for (i = 1; i < XWG_DROP_REASONS; i++) {
			mesh_buf_printf(out, "xwg_drops_total{interface=\"");
			label(out, stats->ifname);
			if (fastpath_drop_reason_name(i))
				mesh_buf_printf(out, "\",reason=\"%s\"} %llu\n",
						fastpath_drop_reason_name(i),
						(unsigned long long)fp->drops[i]);
			else
				mesh_buf_printf(out, "\",reason=\"reason_%zu\"} %llu\n", i,
						(unsigned long long)fp->drops[i]);
		}
	}
}

int mesh_metrics_parse_addr(const char *text, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon = strrchr(text, ':'), *h = text;
	size_t hlen;
	unsigned long port = 0;

	memset(ss, 0, sizeof(*ss));
	if (!colon || !colon[1] || strlen(colon + 1) > 5)
		return -EINVAL;
	for (const char *c = colon + 1; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		port = port * 10 + (unsigned long)(*c - '0');
	}
	if (port == 0 || port > 65535)
		return -EINVAL;
	hlen = (size_t)(colon - text);
	if (hlen >= 2 && text[0] == '[' && text[hlen - 1] == ']') {
		h = text + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (h == text + 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
	}
	return 0;
}

struct mesh_metrics {
	struct MHD_Daemon *daemon;
	struct mesh_stats *stats;
};

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned int code,
			       const char *type, char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct mesh_metrics *m = cls;
	struct mesh_stats copy;
	struct mesh_iface_state st;
	struct mesh_fastpath fp;
	struct mesh_buf out = { 0 };
	enum MHD_Result ret;
	bool have_st;

	(void)version;
	(void)upload_data;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		static char msg[] = "only GET /metrics\n";

		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", msg, sizeof(msg) - 1);
	}
	if (*upload_data_size) { /* a GET with a body: ignore the body */
		*upload_data_size = 0;
		return MHD_YES;
	}
	(void)con_cls;
	if (strcmp(url, "/metrics")) {
		static char msg[] = "not found: the metrics are at /metrics\n";

		return respond(conn, MHD_HTTP_NOT_FOUND, "text/plain", msg, sizeof(msg) - 1);
	}
	pthread_mutex_lock(&m->stats->lock);
	copy = *m->stats;
	copy.names = copy.n_names ? malloc(copy.n_names * sizeof(*copy.names)) : NULL;
	if (copy.names)
		memcpy(copy.names, m->stats->names, copy.n_names * sizeof(*copy.names));
	else
		copy.n_names = 0;
	pthread_mutex_unlock(&m->stats->lock);

	have_st = mesh_uapi_get(copy.ifname, &st) == 0;
	mesh_fastpath_read(XWG_PIN_ROOT, copy.ifname, &fp);
	mesh_metrics_render(&copy, have_st ? &st : NULL, &fp, &out);
	if (have_st)
		mesh_iface_state_free(&st);
	mesh_fastpath_free(&fp);
	free(copy.names);
	if (out.failed) {
		static char msg[] = "out of memory\n";

		mesh_buf_free(&out);
		return respond(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", msg,
			       sizeof(msg) - 1);
	}
	ret = respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", out.p,
		      out.len);
	mesh_buf_free(&out);
	return ret;
}

struct mesh_metrics *mesh_metrics_start(const char *addr, struct mesh_stats *stats,
					char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct mesh_metrics *m;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD;

	if (mesh_metrics_parse_addr(addr, &ss)) {
		snprintf(err, errlen,
			 "--metrics %s: want ADDR:PORT such as 127.0.0.1:9586 or [::1]:9586, or \"off\"",
			 addr);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->stats = stats;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				     MHD_OPTION_CONNECTION_LIMIT, 16u,
				     MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				     MHD_OPTION_END);
	if (!m->daemon) {
		snprintf(err, errlen, "cannot serve metrics on %s (address in use or not local?)",
			 addr);
		free(m);
		return NULL;
	}
	return m;
}

void mesh_metrics_stop(struct mesh_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->daemon);
	free(m);
}
