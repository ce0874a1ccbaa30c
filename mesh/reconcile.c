// SPDX-License-Identifier: GPL-2.0
/*
 * xwg-mesh's reconciler: desired peers from nodes, the diff against the
 * applied peers, the configuration-socket text (the wireguard-go protocol:
 * keys in hex, `replace_allowed_ips=true` so the new list is the whole
 * list, `remove=true`), and the parser of `get=1` answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/nodes_file.h"
#include "mesh/reconcile.h"

void mesh_buf_printf(struct mesh_buf *b, const char *fmt, ...)
{
	va_list ap;
	int need;

	if (b->failed)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		need = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
		va_end(ap);
		if (need < 0) {
			b->failed = true;
			return;
		}
		if (b->p && (size_t)need < room) {
			b->len += (size_t)need;
			return;
		}
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len <= (size_t)need)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

void mesh_buf_free(struct mesh_buf *b)
{
	if (b->p)
		sodium_memzero(b->p, b->cap); /* may have held a private key */
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int mesh_prefix_cmp(const struct mesh_prefix *a, const struct mesh_prefix *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c)
		return c;
	return (int)a->cidr - (int)b->cidr;
}

static int prefix_qsort_cmp(const void *a, const void *b)
{
	return mesh_prefix_cmp(a, b);
}

void mesh_peer_sort_prefixes(struct mesh_peer *p)
{
	unsigned int i, out = 0;

	qsort(p->prefixes, p->n_prefixes, sizeof(p->prefixes[0]), prefix_qsort_cmp);
	for (i = 0; i < p->n_prefixes; i++) {
		if (out && !mesh_prefix_cmp(&p->prefixes[out - 1], &p->prefixes[i]))
			continue;
		p->prefixes[out++] = p->prefixes[i];
	}
	p->n_prefixes = out;
}

static bool addr_equal(const struct mesh_addr *a, const struct mesh_addr *b)
{
	return a->family == b->family && !memcmp(a->addr, b->addr, sizeof(a->addr));
}

bool mesh_peer_equal(const struct mesh_peer *a, const struct mesh_peer *b)
{
	unsigned int i;

	if (memcmp(a->public_key, b->public_key, 32) || a->has_endpoint != b->has_endpoint ||
	    a->n_prefixes != b->n_prefixes || a->prefixes_overflow || b->prefixes_overflow)
		return false;
	if (a->has_endpoint && (!addr_equal(&a->endpoint, &b->endpoint) || a->port != b->port))
		return false;
	for (i = 0; i < a->n_prefixes; i++)
		if (mesh_prefix_cmp(&a->prefixes[i], &b->prefixes[i]))
			return false;
	return true;
}

void mesh_peers_from_nodes(const struct mesh_node *nodes, size_t n, const char *self,
			   const uint8_t self_key[32], struct mesh_peer *peers, size_t *np,
			   void (*skipped)(void *ctx, const struct mesh_node *node,
					   const char *reason),
			   void *ctx)
{
	size_t i, out = 0;
	unsigned int j;

	for (i = 0; i < n; i++) {
		const struct mesh_node *node = &nodes[i];
		struct mesh_peer *p = &peers[out];

		if (!strcmp(node->name, self))
			continue;
		if (!node->has_key) {
			if (skipped)
				skipped(ctx, node, "has not published a public key yet");
			continue;
		}
		if (self_key && !sodium_memcmp(node->public_key, self_key, 32)) {
			if (skipped)
				skipped(ctx, node, "has this node's public key");
			continue;
		}
		size_t k;

		for (k = 0; k < out; k++)
			if (!memcmp(peers[k].public_key, node->public_key, 32))
				break;
		if (k < out) {
			/* A key names one peer: two nodes cannot share it. */
			if (skipped)
				skipped(ctx, node, "has the same public key as another node");
			continue;
		}
		if (node->n_addrs == 0 || node->n_addrs > MESH_NODE_MAX_ADDRS ||
		    node->n_cidrs > MESH_NODE_MAX_CIDRS) {
			if (skipped)
				skipped(ctx, node, "has no internal IP");
			continue;
		}
		memset(p, 0, sizeof(*p));
		snprintf(p->name, sizeof(p->name), "%s", node->name);
		memcpy(p->public_key, node->public_key, 32);
		p->has_endpoint = true;
		p->endpoint = node->addrs[0];
		p->port = node->port;
		/* Allowed IPs: the pod CIDRs and every node IP as a host route
		 * (traffic from the node itself, e.g. kubelet to a pod, comes
		 * from its node IP). */
		for (j = 0; j < node->n_cidrs; j++)
			p->prefixes[p->n_prefixes++] = node->cidrs[j];
		for (j = 0; j < node->n_addrs; j++) {
			struct mesh_prefix *pf = &p->prefixes[p->n_prefixes++];

			pf->family = node->addrs[j].family;
			memcpy(pf->addr, node->addrs[j].addr, sizeof(pf->addr));
			pf->cidr = pf->family == AF_INET ? 32 : 128;
		}
		mesh_peer_sort_prefixes(p);
		out++;
	}
	*np = out;
}

static const struct mesh_peer *find_key(const struct mesh_peer *peers, size_t n,
					const uint8_t key[32], size_t *idx)
{
	for (size_t i = 0; i < n; i++) {
		if (!memcmp(peers[i].public_key, key, 32)) {
			*idx = i;
			return &peers[i];
		}
	}
	return NULL;
}

size_t mesh_diff(const struct mesh_peer *applied, size_t n_applied,
		 const struct mesh_peer *desired, size_t n_desired,
		 struct mesh_change *changes)
{
	bool *used = calloc(n_applied ? n_applied : 1, sizeof(*used));
	size_t i, j, nc = 0, idx;

	if (!used)
		return 0; /* nothing this round; the next one retries */
	/* First pass: peers whose key is already there, so that a key moving
	 * from one node to another is seen as such and never removed twice. */
	for (i = 0; i < n_desired; i++)
		if (find_key(applied, n_applied, desired[i].public_key, &idx))
			used[idx] = true;
	for (i = 0; i < n_desired; i++) {
		const struct mesh_peer *d = &desired[i], *a;
		struct mesh_change *c = &changes[nc];

		a = find_key(applied, n_applied, d->public_key, &idx);
		if (a) {
			if (mesh_peer_equal(a, d) && !strcmp(a->name, d->name))
				continue;
			/* Also when only the name is new (a peer found on the
			 * interface at start): one idempotent transaction,
			 * atomic in xwgd, then the peer has its name. */
			c->kind = MESH_CHANGE_UPDATE;
			c->peer = *d;
			nc++;
			continue;
		}
		for (j = 0; j < n_applied; j++)
			if (!used[j] && applied[j].name[0] && !strcmp(applied[j].name, d->name))
				break;
		if (j < n_applied) {
			used[j] = true;
			c->kind = MESH_CHANGE_REKEY;
			memcpy(c->old_key, applied[j].public_key, 32);
		} else {
			c->kind = MESH_CHANGE_ADD;
		}
		c->peer = *d;
		nc++;
	}
	for (j = 0; j < n_applied; j++) {
		if (used[j])
			continue;
		changes[nc].kind = MESH_CHANGE_REMOVE;
		memcpy(changes[nc].old_key, applied[j].public_key, 32);
		changes[nc].peer = applied[j];
		nc++;
	}
	free(used);
	return nc;
}

void mesh_applied_commit(struct mesh_peer *applied, size_t *n, const struct mesh_change *c)
{
	size_t idx;

	switch (c->kind) {
	case MESH_CHANGE_ADD:
		applied[(*n)++] = c->peer;
		break;
	case MESH_CHANGE_UPDATE:
		if (find_key(applied, *n, c->peer.public_key, &idx))
			applied[idx] = c->peer;
		else
			applied[(*n)++] = c->peer;
		break;
	case MESH_CHANGE_REKEY:
	case MESH_CHANGE_REMOVE:
		if (find_key(applied, *n, c->old_key, &idx)) {
			applied[idx] = applied[*n - 1];
			(*n)--;
		}
		if (c->kind == MESH_CHANGE_REKEY)
			applied[(*n)++] = c->peer;
		break;
	}
}

static void hex_line(struct mesh_buf *out, const char *key, const uint8_t bin[32])
{
	char hex[65];

	sodium_bin2hex(hex, sizeof(hex), bin, 32);
	mesh_buf_printf(out, "%s=%s\n", key, hex);
	sodium_memzero(hex, sizeof(hex));
}

static void peer_lines(const struct mesh_peer *p, struct mesh_buf *out)
{
	char text[INET6_ADDRSTRLEN + 8];

	hex_line(out, "public_key", p->public_key);
	if (p->has_endpoint) {
		mesh_addr_format(&p->endpoint, text, sizeof(text));
		if (p->endpoint.family == AF_INET6)
			mesh_buf_printf(out, "endpoint=[%s]:%u\n", text, p->port);
		else
			mesh_buf_printf(out, "endpoint=%s:%u\n", text, p->port);
	}
	mesh_buf_printf(out, "replace_allowed_ips=true\n");
	for (unsigned int i = 0; i < p->n_prefixes; i++) {
		mesh_prefix_format(&p->prefixes[i], text, sizeof(text));
		mesh_buf_printf(out, "allowed_ip=%s\n", text);
	}
}

void mesh_change_uapi(const struct mesh_change *c, struct mesh_buf *out)
{
	mesh_buf_printf(out, "set=1\n");
	switch (c->kind) {
	case MESH_CHANGE_REKEY:
		hex_line(out, "public_key", c->old_key);
		mesh_buf_printf(out, "remove=true\n");
		peer_lines(&c->peer, out);
		break;
	case MESH_CHANGE_ADD:
	case MESH_CHANGE_UPDATE:
		peer_lines(&c->peer, out);
		break;
	case MESH_CHANGE_REMOVE:
		hex_line(out, "public_key", c->old_key);
		mesh_buf_printf(out, "remove=true\n");
		break;
	}
	mesh_buf_printf(out, "\n");
}

void mesh_device_uapi(const uint8_t private_key[32], uint16_t port, uint32_t fwmark,
		      struct mesh_buf *out)
{
	mesh_buf_printf(out, "set=1\n");
	if (private_key)
		hex_line(out, "private_key", private_key);
	if (port)
		mesh_buf_printf(out, "listen_port=%u\n", port);
	if (fwmark)
		mesh_buf_printf(out, "fwmark=%u\n", fwmark);
	mesh_buf_printf(out, "\n");
}

static int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (len == 0 || len > 20)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (x > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -EINVAL;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > max)
		return -EINVAL;
	*v = x;
	return 0;
}

static int parse_hex_key(const char *s, size_t len, uint8_t key[32])
{
	size_t got = 0;

	if (len != 64 || sodium_hex2bin(key, 32, s, len, NULL, &got, NULL) || got != 32)
		return -EINVAL;
	return 0;
}

static int parse_endpoint(const char *s, size_t len, struct mesh_peer *p)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *h = s;
	size_t hlen;
	uint64_t port;

	colon = memrchr(s, ':', len);
	if (!colon)
		return -EINVAL;
	hlen = (size_t)(colon - s);
	if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
		h = s + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (mesh_addr_parse(host, &p->endpoint) ||
	    parse_u64(colon + 1, len - (size_t)(colon + 1 - s), 65535, &port))
		return -EINVAL;
	p->port = (uint16_t)port;
	p->has_endpoint = true;
	return 0;
}

int mesh_iface_state_parse(const char *text, size_t len, struct mesh_iface_state *st)
{
	const char *line = text, *end = text + len;
	struct mesh_peer_status *cur = NULL;
	size_t cap = 0;
	bool got_errno = false;

	memset(st, 0, sizeof(*st));
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *eq, *val;
		size_t klen, vlen;
		uint64_t num;

		if (!nl)
			goto bad;
		if (nl == line) { /* the blank line that ends the answer */
			if (!got_errno)
				goto bad;
			break;
		}
		eq = memchr(line, '=', (size_t)(nl - line));
		if (!eq)
			goto bad;
		klen = (size_t)(eq - line);
		val = eq + 1;
		vlen = (size_t)(nl - val);
#define KEY_IS(k) (klen == sizeof(k) - 1 && !memcmp(line, k, klen))
		if (KEY_IS("errno")) {
			bool neg = vlen > 0 && val[0] == '-';

			if (parse_u64(val + neg, vlen - neg, 4095, &num))
				goto bad;
			st->errno_value = neg ? -(int)num : (int)num;
			got_errno = true;
		} else if (KEY_IS("private_key") && !cur) {
			if (parse_hex_key(val, vlen, st->private_key))
				goto bad;
			st->has_private_key = true;
		} else if (KEY_IS("listen_port") && !cur) {
			if (parse_u64(val, vlen, 65535, &num))
				goto bad;
			st->listen_port = (uint16_t)num;
		} else if (KEY_IS("fwmark") && !cur) {
			if (parse_u64(val, vlen, UINT32_MAX, &num))
				goto bad;
			st->fwmark = (uint32_t)num;
		} else if (KEY_IS("public_key")) {
			if (st->n_peers == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct mesh_peer_status *np = realloc(st->peers, ncap * sizeof(*np));

				if (!np)
					goto bad;
				st->peers = np;
				cap = ncap;
			}
			cur = &st->peers[st->n_peers++];
			memset(cur, 0, sizeof(*cur));
			if (parse_hex_key(val, vlen, cur->peer.public_key))
				goto bad;
		} else if (cur && KEY_IS("endpoint")) {
			if (parse_endpoint(val, vlen, &cur->peer))
				goto bad;
		} else if (cur && KEY_IS("allowed_ip")) {
			char pfx[INET6_ADDRSTRLEN + 8];
			struct mesh_prefix p;

			if (vlen >= sizeof(pfx))
				goto bad;
			memcpy(pfx, val, vlen);
			pfx[vlen] = '\0';
			if (mesh_prefix_parse(pfx, &p, NULL))
				goto bad;
			if (cur->peer.n_prefixes < MESH_PEER_MAX_PREFIXES)
				cur->peer.prefixes[cur->peer.n_prefixes++] = p;
			else
				cur->peer.prefixes_overflow = true;
		} else if (cur && KEY_IS("rx_bytes")) {
			if (parse_u64(val, vlen, UINT64_MAX, &cur->rx_bytes))
				goto bad;
		} else if (cur && KEY_IS("tx_bytes")) {
			if (parse_u64(val, vlen, UINT64_MAX, &cur->tx_bytes))
				goto bad;
		} else if (cur && KEY_IS("last_handshake_time_sec")) {
			if (parse_u64(val, vlen, INT64_MAX, &num))
				goto bad;
			cur->last_handshake_sec = (int64_t)num;
		}
		/* Anything else (protocol_version, keepalive, nsec...) is
		 * not ours to check. */
#undef KEY_IS
		line = nl + 1;
	}
	if (!got_errno)
		goto bad;
	for (size_t i = 0; i < st->n_peers; i++)
		mesh_peer_sort_prefixes(&st->peers[i].peer);
	return 0;
bad:
	mesh_iface_state_free(st);
	return -EINVAL;
}

void mesh_iface_state_free(struct mesh_iface_state *st)
{
	free(st->peers);
	sodium_memzero(st, sizeof(*st));
}

int mesh_uapi_parse_errno(const char *text, size_t len, int *value)
{
	struct mesh_iface_state st;
	int ret = mesh_iface_state_parse(text, len, &st);

	if (ret)
		return ret;
	*value = st.errno_value;
	mesh_iface_state_free(&st);
	return 0;
}
