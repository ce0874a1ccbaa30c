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
#include "ctl/netdev.h"
#include "mesh/metrics.h"
#include "mesh/nodes_file.h"
#include "mesh/uapi_client.h"


/* Read-only: the metrics only look, and a read-only /sys/fs/bpf (the
 * exporter's unit, ProtectSystem=strict) refuses a read-write open. */
static int open_pin(const char *pin_root, const char *ifname, const char *map)
{
	LIBBPF_OPTS(bpf_obj_get_opts, opts, .file_flags = BPF_F_RDONLY);
	char path[512];

	snprintf(path, sizeof(path), "%s/%s/%s", pin_root, ifname, map);
	return bpf_obj_get_opts(path, &opts);
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
	fp->peers = NULL;
	fp->n_peers = 0;
	fp->n_xsks = 0;
	fp->read = false;
}

/* xsk_stats (include/maps.h): the slots a socket uses. A daemon of an
 * earlier version pins no such map: no AF_XDP series then, not an error. */
static void xsk_stats_read(const char *pin_root, const char *ifname, struct mesh_fastpath *fp)
{
	uint32_t n = 0, vs = 0;
	int fd = open_pin(pin_root, ifname, "xsk_stats");

	if (fd < 0)
		return;
	if (map_entries(fd, &n, &vs) || vs != sizeof(struct xwg_xsk_stats)) {
		close(fd);
		return;
	}
	for (uint32_t slot = 0; slot < n && slot < XWG_MAX_XSKS; slot++) {
		struct mesh_fastpath_xsk *x = &fp->xsks[fp->n_xsks];

		if (bpf_map_lookup_elem(fd, &slot, &x->stats) || !x->stats.ifindex)
			continue;
		if (!if_indextoname(x->stats.ifindex, x->underlay))
			snprintf(x->underlay, sizeof(x->underlay), "%u", x->stats.ifindex);
		fp->n_xsks++;
	}
	close(fd);
}

int mesh_fastpath_read(const char *pin_root, const char *ifname, struct mesh_fastpath *fp)
{
	int peers_fd, stats_fd = -1, drops_fd = -1, ret = 0, ncpu;
	uint32_t n_peers = 0, n_stats = 0, n_drops = 0, vs = 0, cap = 0;
	struct xwg_counter *percpu = NULL;  /* one drops value: per CPU */

	fp->read = false;
	fp->peers = NULL;
	fp->n_peers = 0;
	fp->n_xsks = 0;
	memset(fp->drops, 0, sizeof(fp->drops));
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
	xsk_stats_read(pin_root, ifname, fp);
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

/* ---- the exposition text */

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

static const char *name_of(const struct mesh_stats *agent, const uint8_t key[32])
{
	for (size_t i = 0; agent && i < agent->n_names; i++)
		if (!memcmp(agent->names[i].public_key, key, 32))
			return agent->names[i].name;
	return "";
}

/* {interface="..",public_key=".."[,node=".."] without the closing brace:
 * node only where the agent knows the peer's node (an empty label is no
 * label to Prometheus; leaving it out says so plainly). */
static void peer_labels_open(struct mesh_buf *out, const struct mesh_stats *agent,
			     const char *ifname, const uint8_t key[32])
{
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	const char *node = name_of(agent, key);

	sodium_bin2base64(b64, sizeof(b64), key, 32, sodium_base64_VARIANT_ORIGINAL);
	mesh_buf_printf(out, "{interface=\"");
	label(out, ifname);
	mesh_buf_printf(out, "\",public_key=\"%s\"", b64);
	if (*node) {
		mesh_buf_printf(out, ",node=\"");
		label(out, node);
		mesh_buf_printf(out, "\"");
	}
}

static void peer_sample(struct mesh_buf *out, const char *name, const struct mesh_stats *agent,
			const char *ifname, const uint8_t key[32], unsigned long long v)
{
	mesh_buf_printf(out, "%s", name);
	peer_labels_open(out, agent, ifname, key);
	mesh_buf_printf(out, "} %llu\n", v);
}

static void iface_sample(struct mesh_buf *out, const char *name, const char *ifname,
			 unsigned long long v)
{
	mesh_buf_printf(out, "%s{interface=\"", name);
	label(out, ifname);
	mesh_buf_printf(out, "\"} %llu\n", v);
}

static void head(struct mesh_buf *out, const char *name, const char *type, const char *help)
{
	mesh_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* An endpoint as wg(8) prints it: 192.0.2.1:51820, [2001:db8::1]:51820. */
static void endpoint_text(const struct mesh_peer *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	if (!p->has_endpoint || !inet_ntop(p->endpoint.family, p->endpoint.addr, a, sizeof(a)))
		return;
	snprintf(buf, len, p->endpoint.family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, p->port);
}

/* xwg_peer_info: what identifies a peer besides its key, as labels, so a
 * dashboard can join them onto any peer series (`* on (interface,
 * public_key) group_left (allowed_ips) xwg_peer_info`). */
static void peer_info(struct mesh_buf *out, const struct mesh_stats *agent, const char *ifname,
		      const struct mesh_peer *p)
{
	char ep[INET6_ADDRSTRLEN + 8], pfx[INET6_ADDRSTRLEN + 8];

	endpoint_text(p, ep, sizeof(ep));
	mesh_buf_printf(out, "xwg_peer_info");
	peer_labels_open(out, agent, ifname, p->public_key);
	mesh_buf_printf(out, ",endpoint=\"%s\",allowed_ips=\"", ep);
	for (unsigned int i = 0; i < p->n_prefixes; i++) {
		mesh_prefix_format(&p->prefixes[i], pfx, sizeof(pfx));
		mesh_buf_printf(out, "%s%s", i ? "," : "", pfx);
	}
	mesh_buf_printf(out, "%s\"} 1\n", p->prefixes_overflow ? ",..." : "");
}

#define FP_PEER_METRICS(X)                                                                    \
	X(rx_packets, "xwg_peer_receive_packets_total", "Packets received from the peer (fast path).") \
	X(tx_packets, "xwg_peer_transmit_packets_total", "Packets sent to the peer (fast path).") \
	X(rx_dropped, "xwg_peer_receive_dropped_packets_total", "Packets from the peer dropped (fast path).") \
	X(tx_dropped, "xwg_peer_transmit_dropped_packets_total", "Packets to the peer dropped (fast path).") \
	X(handshakes_sent, "xwg_peer_handshakes_sent_total", "Handshake initiations and responses sent to the peer (fast path).") \
	X(handshakes_received, "xwg_peer_handshakes_received_total", "Handshake messages received from the peer (fast path).") \
	X(map_write_errors, "xwg_peer_fastpath_map_write_errors_total", "Writes of the peer's entries in the fast path's maps that failed (the daemon re-syncs them).")

#define XSK_METRICS(X)                                                                         \
	X(rx_dropped, "xwg_xsk_rx_dropped_total", "Packets the kernel dropped on their way to the AF_XDP socket, other than for a full ring or an invalid descriptor.") \
	X(rx_invalid_descs, "xwg_xsk_rx_invalid_descriptors_total", "Packets dropped for an invalid descriptor on the AF_XDP socket's RX side.") \
	X(tx_invalid_descs, "xwg_xsk_tx_invalid_descriptors_total", "Invalid descriptors on the AF_XDP socket's TX ring.") \
	X(rx_ring_full, "xwg_xsk_rx_ring_full_total", "Packets dropped because the AF_XDP socket's RX ring was full.") \
	X(rx_fill_ring_empty, "xwg_xsk_rx_fill_ring_empty_total", "Times the AF_XDP socket's fill ring had no frame for a packet.") \
	X(tx_ring_empty, "xwg_xsk_tx_ring_empty_total", "Times the kernel found the AF_XDP socket's TX ring empty.")

#define AGENT_METRICS(X)                                                                       \
	X(reconciles, "xwg_mesh_reconciles_total", "counter", "Reconcile rounds run (one per node-list change, retry or resync).") \
	X(reconcile_errors, "xwg_mesh_reconcile_errors_total", "counter", "Reconcile rounds that left a change unapplied (retried with backoff).") \
	X(uapi_transactions, "xwg_mesh_uapi_transactions_total", "counter", "Configuration transactions sent to the daemon.") \
	X(uapi_errors, "xwg_mesh_uapi_errors_total", "counter", "Configuration transactions the daemon refused or did not answer.") \
	X(source_updates, "xwg_mesh_source_updates_total", "counter", "Node lists received from the source.") \
	X(source_errors, "xwg_mesh_source_errors_total", "counter", "Node lists rejected (the last good one stays in force).") \
	X(key_rotations, "xwg_mesh_key_rotations_total", "counter", "Private key rotations done by this agent.") \
	X(nodes, "xwg_mesh_nodes", "gauge", "Nodes in the current node list.") \
	X(n_names, "xwg_mesh_peers", "gauge", "Peers the agent has configured.") \
	X(mtu, "xwg_mesh_mtu_bytes", "gauge", "MTU the agent set on the tunnel (0: not set yet).")

static bool fp_read(const struct mesh_metrics_iface *m)
{
	return m->fp && m->fp->read;
}

/* The event stream's counts (mesh/event_counts.h): they count since
 * xwg-mesh subscribed, so they start at 0 then. */
static void events_render(const struct mesh_stats *agent, const struct mesh_metrics_iface *ifs,
			  size_t n, struct mesh_buf *out)
{
	bool any = false;
	size_t i, j;
	int k;

	for (i = 0; i < n; i++)
		any |= ifs[i].ev != NULL;
	if (!any)
		return;
	head(out, "xwg_events_up", "gauge",
	     "1 while xwg-mesh is subscribed to the interface's event stream (the xwg_events_ and event-derived peer counters count since the subscription began).");
	for (i = 0; i < n; i++)
		if (ifs[i].ev)
			iface_sample(out, "xwg_events_up", ifs[i].ifname, ifs[i].ev->up);
	head(out, "xwg_events_lost_total", "counter",
	     "Events the daemon dropped for this reader because its queue was full (reported by events_lost).");
	for (i = 0; i < n; i++)
		if (ifs[i].ev)
			iface_sample(out, "xwg_events_lost_total", ifs[i].ifname,
				     (unsigned long long)ifs[i].ev->lost);
	head(out, "xwg_events_skipped_lines_total", "counter",
	     "Event stream lines xwg-mesh did not count, by reason: too_long, malformed, peer_table_full.");
	for (i = 0; i < n; i++) {
		for (k = 0; ifs[i].ev && k < MESH_EVENT_SKIP_REASONS; k++) {
			mesh_buf_printf(out, "xwg_events_skipped_lines_total{interface=\"");
			label(out, ifs[i].ifname);
			mesh_buf_printf(out, "\",reason=\"%s\"} %llu\n",
					mesh_event_skip_name((enum mesh_event_skip)k),
					(unsigned long long)ifs[i].ev->skipped[k]);
		}
	}
	head(out, "xwg_peer_handshakes_completed_total", "counter",
	     "Handshakes completed with the peer, by our role (event stream; every rekey too).");
	for (i = 0; i < n; i++) {
		for (j = 0; ifs[i].ev && j < ifs[i].ev->n_peers; j++) {
			const struct mesh_event_peer *p = &ifs[i].ev->peers[j];

			for (k = 0; k < MESH_EVENT_ROLES; k++) {
				mesh_buf_printf(out, "xwg_peer_handshakes_completed_total");
				peer_labels_open(out, agent, ifs[i].ifname, p->public_key);
				mesh_buf_printf(out, ",role=\"%s\"} %llu\n",
						mesh_event_role_name((enum mesh_event_role)k),
						(unsigned long long)p->handshakes[k]);
			}
		}
	}
	head(out, "xwg_peer_endpoint_changes_total", "counter",
	     "Changes of the peer's endpoint, by cause: configuration or roaming (event stream).");
	for (i = 0; i < n; i++) {
		for (j = 0; ifs[i].ev && j < ifs[i].ev->n_peers; j++) {
			const struct mesh_event_peer *p = &ifs[i].ev->peers[j];

			for (k = 0; k < MESH_EVENT_CAUSES; k++) {
				mesh_buf_printf(out, "xwg_peer_endpoint_changes_total");
				peer_labels_open(out, agent, ifs[i].ifname, p->public_key);
				mesh_buf_printf(out, ",cause=\"%s\"} %llu\n",
						mesh_event_cause_name((enum mesh_event_cause)k),
						(unsigned long long)p->endpoint_changes[k]);
			}
		}
	}
}

void mesh_metrics_render(const struct mesh_stats *agent, const struct mesh_metrics_iface *ifs,
			 size_t n, struct mesh_buf *out)
{
	bool any_st = false, any_fp = false, any_xsk = false;
	size_t i, j;

	for (i = 0; i < n; i++) {
		any_st |= ifs[i].st != NULL;
		any_fp |= fp_read(&ifs[i]);
		any_xsk |= fp_read(&ifs[i]) && ifs[i].fp->n_xsks;
	}

	head(out, "xwg_uapi_up", "gauge",
	     "1 if the interface's configuration socket answered this scrape.");
	for (i = 0; i < n; i++)
		iface_sample(out, "xwg_uapi_up", ifs[i].ifname, ifs[i].st ? 1 : 0);
	head(out, "xwg_fastpath_up", "gauge",
	     "1 if the fast path's pinned maps were read this scrape (packet, drop, handshake and AF_XDP series).");
	for (i = 0; i < n; i++)
		iface_sample(out, "xwg_fastpath_up", ifs[i].ifname, fp_read(&ifs[i]) ? 1 : 0);

	if (any_st) {
		/* The interface's own public key (derived from the private
		 * key the socket reports, which goes no further). */
		head(out, "xwg_interface_info", "gauge",
		     "The interface's public key and listen port; always 1.");
		for (i = 0; i < n; i++) {
			char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
			uint8_t pub[32];

			if (!ifs[i].st || !ifs[i].st->has_private_key ||
			    crypto_scalarmult_curve25519_base(pub, ifs[i].st->private_key))
				continue;
			sodium_bin2base64(b64, sizeof(b64), pub, 32, sodium_base64_VARIANT_ORIGINAL);
			mesh_buf_printf(out, "xwg_interface_info{interface=\"");
			label(out, ifs[i].ifname);
			mesh_buf_printf(out, "\",public_key=\"%s\",listen_port=\"%u\"} 1\n", b64,
					ifs[i].st->listen_port);
		}
		head(out, "xwg_peer_info", "gauge",
		     "A peer's endpoint (as last heard from) and allowed IPs (\",...\" at the end: more than shown); always 1.");
		for (i = 0; i < n; i++)
			for (j = 0; ifs[i].st && j < ifs[i].st->n_peers; j++)
				peer_info(out, agent, ifs[i].ifname, &ifs[i].st->peers[j].peer);
#define ST_FAMILY(name, type, help, field)                                                  \
		head(out, name, type, help);                                                \
		for (i = 0; i < n; i++)                                                     \
			for (j = 0; ifs[i].st && j < ifs[i].st->n_peers; j++)               \
				peer_sample(out, name, agent, ifs[i].ifname,                \
					    ifs[i].st->peers[j].peer.public_key,            \
					    (unsigned long long)ifs[i].st->peers[j].field);
		ST_FAMILY("xwg_peer_receive_bytes_total", "counter",
			  "Bytes received from the peer (configuration socket rx_bytes).", rx_bytes)
		ST_FAMILY("xwg_peer_transmit_bytes_total", "counter",
			  "Bytes sent to the peer (configuration socket tx_bytes).", tx_bytes)
		ST_FAMILY("xwg_peer_last_handshake_seconds", "gauge",
			  "Unix time of the latest completed handshake with the peer (0: never).",
			  last_handshake_sec)
#undef ST_FAMILY
	}
	if (any_fp) {
#define X(field, name, help)                                                                \
		head(out, name, "counter", help);                                           \
		for (i = 0; i < n; i++)                                                     \
			for (j = 0; fp_read(&ifs[i]) && j < ifs[i].fp->n_peers; j++)        \
				peer_sample(out, name, agent, ifs[i].ifname,                \
					    ifs[i].fp->peers[j].public_key,                 \
					    (unsigned long long)ifs[i].fp->peers[j].stats.field);
		FP_PEER_METRICS(X)
#undef X
		head(out, "xwg_fastpath_dropped_packets_total", "counter",
		     "Packets the fast path dropped, by reason (the program that counted it and why).");
		for (i = 0; i < n; i++) {
			for (unsigned int r = 1; fp_read(&ifs[i]) && r < XWG_DROP_REASONS; r++) {
				const char *why = fastpath_drop_reason_name(r);

				if (r == XWG_PASS_RX_TOO_BIG_FOR_XSK)
					continue;
				mesh_buf_printf(out, "xwg_fastpath_dropped_packets_total{interface=\"");
				label(out, ifs[i].ifname);
				if (why)
					mesh_buf_printf(out, "\",reason=\"%s\"} ", why);
				else
					mesh_buf_printf(out, "\",reason=\"reason_%u\"} ", r);
				mesh_buf_printf(out, "%llu\n", (unsigned long long)ifs[i].fp->drops[r]);
			}
		}
		head(out, "xwg_fastpath_passed_to_stack_packets_total", "counter",
		     "Datagrams xdp_rx passed to the stack (the daemon's UDP socket) rather than to AF_XDP, by reason; not drops.");
		for (i = 0; i < n; i++) {
			if (!fp_read(&ifs[i]))
				continue;
			mesh_buf_printf(out, "xwg_fastpath_passed_to_stack_packets_total{interface=\"");
			label(out, ifs[i].ifname);
			mesh_buf_printf(out, "\",reason=\"too_big_for_xsk\"} %llu\n",
					(unsigned long long)ifs[i].fp->drops[XWG_PASS_RX_TOO_BIG_FOR_XSK]);
		}
	}
	if (any_xsk) {
#define X(field, name, help)                                                                \
		head(out, name, "counter", help);                                           \
		for (i = 0; i < n; i++) {                                                   \
			for (j = 0; fp_read(&ifs[i]) && j < ifs[i].fp->n_xsks; j++) {       \
				const struct mesh_fastpath_xsk *x = &ifs[i].fp->xsks[j];    \
				mesh_buf_printf(out, name "{interface=\"");                 \
				label(out, ifs[i].ifname);                                  \
				mesh_buf_printf(out, "\",underlay=\"");                     \
				label(out, x->underlay);                                    \
				mesh_buf_printf(out, "\",queue=\"%u\"} %llu\n", x->stats.queue, \
						(unsigned long long)x->stats.field);        \
			}                                                                   \
		}
		XSK_METRICS(X)
#undef X
	}
	events_render(agent, ifs, n, out);
	if (agent && n) {
#define X(field, name, type, help)                                                          \
		head(out, name, type, help);                                                \
		iface_sample(out, name, ifs[0].ifname, (unsigned long long)agent->field);
		AGENT_METRICS(X)
#undef X
	}
}

int mesh_metrics_parse_ifnames(const char *text, char (*names)[IF_NAMESIZE], size_t max,
			       size_t *n)
{
	const char *p = text;

	*n = 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char name[IF_NAMESIZE];

		if (len == 0 || len >= IF_NAMESIZE)
			return -EINVAL;
		memcpy(name, p, len);
		name[len] = '\0';
		if (!netdev_ifname_is_valid(name))
			return -EINVAL;
		for (size_t i = 0; i < *n; i++)
			if (!strcmp(names[i], name))
				return -EINVAL;
		if (*n == max)
			return -E2BIG;
		memcpy(names[(*n)++], name, len + 1);
		if (!comma)
			return 0;
		p = comma + 1;
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
	struct mesh_stats *stats;       /* NULL: the exporter */
	size_t n;
	char ifnames[MESH_METRICS_MAX_IFACES][IF_NAMESIZE];
	struct mesh_event_counts *events[MESH_METRICS_MAX_IFACES];
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

/* One scrape: each interface's configuration socket and pinned maps,
 * read now (nothing is cached between scrapes). */
static void scrape(struct mesh_metrics *m, const struct mesh_stats *agent, struct mesh_buf *out)
{
	struct mesh_iface_state st[MESH_METRICS_MAX_IFACES];
	struct mesh_metrics_iface ifs[MESH_METRICS_MAX_IFACES];
	struct mesh_fastpath *fp = calloc(m->n, sizeof(*fp));
	struct mesh_event_counts *ev[MESH_METRICS_MAX_IFACES];
	bool have_st[MESH_METRICS_MAX_IFACES];

	if (!fp) {
		out->failed = true;
		return;
	}
	for (size_t i = 0; i < m->n; i++) {
		have_st[i] = mesh_uapi_get(m->ifnames[i], &st[i]) == 0;
		mesh_fastpath_read(XWG_PIN_ROOT, m->ifnames[i], &fp[i]);
		ev[i] = m->events[i] ? mesh_event_counts_snapshot(m->events[i]) : NULL;
		if (m->events[i] && !ev[i])
			out->failed = true;
		ifs[i] = (struct mesh_metrics_iface){
			.ifname = m->ifnames[i],
			.st = have_st[i] ? &st[i] : NULL,
			.fp = &fp[i],
			.ev = ev[i],
		};
	}
	mesh_metrics_render(agent, ifs, m->n, out);
	for (size_t i = 0; i < m->n; i++) {
		if (have_st[i])
			mesh_iface_state_free(&st[i]);
		mesh_fastpath_free(&fp[i]);
		free(ev[i]);
	}
	free(fp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct mesh_metrics *m = cls;
	struct mesh_stats copy;
	struct mesh_buf out = { 0 };
	enum MHD_Result ret;

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
	if (m->stats) {
		pthread_mutex_lock(&m->stats->lock);
		copy = *m->stats;
		copy.names = copy.n_names ? malloc(copy.n_names * sizeof(*copy.names)) : NULL;
		if (copy.names)
			memcpy(copy.names, m->stats->names, copy.n_names * sizeof(*copy.names));
		else
			copy.n_names = 0;
		pthread_mutex_unlock(&m->stats->lock);
		scrape(m, &copy, &out);
		free(copy.names);
	} else {
		scrape(m, NULL, &out);
	}
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
					const char (*ifnames)[IF_NAMESIZE], size_t n,
					struct mesh_event_counts *const *events,
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
	if (n == 0 || n > MESH_METRICS_MAX_IFACES || (stats && n != 1)) {
		snprintf(err, errlen, "metrics: 1 to %d interfaces (agent: its own)",
			 MESH_METRICS_MAX_IFACES);
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->stats = stats;
	m->n = n;
	for (size_t i = 0; i < n; i++) {
		snprintf(m->ifnames[i], sizeof(m->ifnames[i]), "%s", ifnames[i]);
		m->events[i] = events ? events[i] : NULL;
	}
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
