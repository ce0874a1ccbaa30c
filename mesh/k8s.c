// SPDX-License-Identifier: GPL-2.0
/*
 * xwg-mesh's Kubernetes node source.
 *
 * One thread lists the cluster's Node objects (GET /api/v1/nodes, in pages
 * of K8S_LIST_LIMIT with metadata.continue), hands the agent the snapshot,
 * then watches from the list's resourceVersion (GET ...?watch=1, one JSON
 * WatchEvent per line). Each event that changes the set of nodes yields a
 * new complete snapshot. The watch resumes from the last resourceVersion it
 * saw after a dropped connection (BOOKMARK events keep that version fresh);
 * "410 Gone", as a status or as an ERROR event, means the server no longer
 * has that version, so the thread lists again. Failures back off with
 * jitter between K8S_BACKOFF_MIN_MS and K8S_BACKOFF_MAX_MS.
 *
 * Transfers run on a curl multi handle so that k8s_source_stop can wake the
 * thread at once (curl_multi_wakeup) wherever it waits: in a transfer, in a
 * backoff, or in a watch that receives nothing.
 *
 * The bearer token is read from its file for every request (projected
 * service-account tokens rotate), wiped after use and never logged. TLS peer
 * and host verification stay on: the only trust anchor is the CA file.
 *
 * API conventions followed: Kubernetes "API Concepts" (efficient detection
 * of changes, watch bookmarks, retrieving large results in chunks) and the
 * JSON merge patch of RFC 7386 for the annotation update.
 */
#include "mesh/k8s.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <sodium.h>

#include "base/log.h"

#define K8S_DEFAULT_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define K8S_LIST_LIMIT 500
#define K8S_WATCH_TIMEOUT_S 300        /* the server ends each watch then */
#define K8S_CONNECT_TIMEOUT_S 10L
#define K8S_REQUEST_TIMEOUT_S 60L      /* a list page or a PATCH */
#define K8S_BACKOFF_MIN_MS 1000u
#define K8S_BACKOFF_MAX_MS 30000u
#define K8S_BODY_MAX (64u << 20)       /* one list page */
#define K8S_ERROR_BODY_MAX (64u << 10) /* an error response's Status */
#define K8S_TOKEN_MAX (64u << 10)
#define K8S_JSON_DEPTH 64
#define K8S_PUBLISH_TRIES 4

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A copy of s fit for a log line: printable ASCII only, at most 64 bytes. */
static const char *printable(const char *s, char buf[72])
{
	size_t i;

	for (i = 0; s[i] && i < 64; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i]) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* src into dst (at most cap - 1 bytes), bytes outside printable ASCII as
 * '?': a message from the server may end up in a log line. */
static void copy_printable(char *dst, size_t cap, const char *src)
{
	size_t i;

	if (!cap)
		return;
	for (i = 0; src && src[i] && i + 1 < cap; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

/* ------------------------------------------------------------------------
 * JSON helpers (json-c).
 */

/* obj[key] if obj is an object and the member has that type, else NULL. */
static struct json_object *member(struct json_object *obj, const char *key,
				  enum json_type type)
{
	struct json_object *v;

	if (!obj || !json_object_is_type(obj, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

static const char *member_string(struct json_object *obj, const char *key)
{
	struct json_object *v = member(obj, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

/* Parse exactly one JSON value (whitespace around it allowed). */
static struct json_object *parse_json(const char *s, size_t len, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *obj;
	enum json_tokener_error e;
	size_t end;

	if (len > INT_MAX) {
		errf(err, errlen, "response of %zu bytes is too large", len);
		return NULL;
	}
	tok = json_tokener_new_ex(K8S_JSON_DEPTH);
	if (!tok) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	obj = json_tokener_parse_ex(tok, s, (int)len);
	e = json_tokener_get_error(tok);
	if (!obj || e != json_tokener_success) {
		errf(err, errlen, "invalid JSON: %s",
		     e == json_tokener_continue ? "it ends too early" : json_tokener_error_desc(e));
		json_object_put(obj);
		json_tokener_free(tok);
		return NULL;
	}
	for (end = json_tokener_get_parse_end(tok); end < len; end++)
		if (!isspace((unsigned char)s[end])) {
			errf(err, errlen, "invalid JSON: data after the value at byte %zu", end);
			json_object_put(obj);
			json_tokener_free(tok);
			return NULL;
		}
	json_tokener_free(tok);
	return obj;
}

/* ------------------------------------------------------------------------
 * Node fields.
 */

static bool parse_key(const char *s, uint8_t key[32])
{
	size_t bin_len;
	const char *end;

	if (strlen(s) != 44)   /* base64 of 32 bytes, with its one '=' */
		return false;
	if (sodium_base642bin(key, 32, s, 44, NULL, &bin_len, &end,
			      sodium_base64_VARIANT_ORIGINAL) || bin_len != 32 || end != s + 44) {
		sodium_memzero(key, 32);
		return false;
	}
	return true;
}

static bool parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (i >= 5 || s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (i == 0 || v == 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

static bool parse_addr(const char *s, struct mesh_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->addr) == 1) {
		a->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, a->addr) == 1) {
		a->family = AF_INET6;
		return true;
	}
	return false;
}

/* "ADDR/LEN"; host bits are cleared (as Go's net.ParseCIDR does). */
static bool parse_cidr(const char *s, struct mesh_prefix *p)
{
	const char *slash = strchr(s, '/');
	char host[INET6_ADDRSTRLEN];
	unsigned int len = 0, max, i;
	struct mesh_addr a;
	size_t n;

	if (!slash || (size_t)(slash - s) >= sizeof(host))
		return false;
	memcpy(host, s, (size_t)(slash - s));
	host[slash - s] = '\0';
	if (!parse_addr(host, &a))
		return false;
	max = a.family == AF_INET ? 32 : 128;
	for (n = 1; slash[n]; n++) {
		if (n > 3 || slash[n] < '0' || slash[n] > '9')
			return false;
		len = len * 10 + (unsigned int)(slash[n] - '0');
	}
	if (n == 1 || len > max)
		return false;
	memset(p, 0, sizeof(*p));
	p->family = a.family;
	p->cidr = (uint8_t)len;
	for (i = 0; i < max / 8; i++) {
		unsigned int bits = len >= 8 * (i + 1) ? 8 : len > 8 * i ? len - 8 * i : 0;

		p->addr[i] = a.addr[i] & (uint8_t)(0xff00u >> bits);
	}
	return true;
}

/* DNS-1123 subdomain, as Kubernetes requires of node names: also keeps
 * log lines and the agent's output free of odd bytes. */
static bool is_node_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > MESH_NODE_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

static void parse_annotations(struct json_object *meta, struct mesh_node *n)
{
	struct json_object *ann = member(meta, "annotations", json_type_object);
	struct json_object *v;
	char shown[72];

	if (!ann)
		return;
	if (json_object_object_get_ex(ann, MESH_PUBKEY_ANNOTATION, &v)) {
		const char *s = json_object_is_type(v, json_type_string) ?
				json_object_get_string(v) : NULL;

		if (s && parse_key(s, n->public_key))
			n->has_key = true;
		else
			log_error("node %s: annotation %s is %s%s%s, not a base64 32-byte public key; the node gets no peer until it has one",
				  n->name, MESH_PUBKEY_ANNOTATION, s ? "\"" : "not a string",
				  s ? printable(s, shown) : "", s ? "\"" : "");
	}
	if (json_object_object_get_ex(ann, MESH_PORT_ANNOTATION, &v)) {
		const char *s = json_object_is_type(v, json_type_string) ?
				json_object_get_string(v) : NULL;

		if (!s || !parse_port(s, &n->port))
			log_error("node %s: annotation %s is %s%s%s, not a port 1-65535; using %u",
				  n->name, MESH_PORT_ANNOTATION, s ? "\"" : "not a string",
				  s ? printable(s, shown) : "", s ? "\"" : "", MESH_DEFAULT_PORT);
	}
}

static void add_cidr(struct mesh_node *n, struct json_object *v, const char *field)
{
	const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
	struct mesh_prefix p;
	char shown[72];

	if (!s || !parse_cidr(s, &p)) {
		log_error("node %s: %s entry %s%s%s is not a CIDR; left out", n->name, field,
			  s ? "\"" : "", s ? printable(s, shown) : "(not a string)", s ? "\"" : "");
		return;
	}
	if (n->n_cidrs == MESH_NODE_MAX_CIDRS) {
		log_error("node %s: more than %d pod CIDRs; %s left out", n->name,
			  MESH_NODE_MAX_CIDRS, printable(s, shown));
		return;
	}
	n->cidrs[n->n_cidrs++] = p;
}

static void parse_spec(struct json_object *spec, struct mesh_node *n)
{
	struct json_object *list = member(spec, "podCIDRs", json_type_array);
	struct json_object *one;
	size_t i;

	if (list && json_object_array_length(list) > 0) {
		for (i = 0; i < json_object_array_length(list); i++)
			add_cidr(n, json_object_array_get_idx(list, i), "spec.podCIDRs");
	} else if (spec && json_object_is_type(spec, json_type_object) &&
		   json_object_object_get_ex(spec, "podCIDR", &one) && one) {
		add_cidr(n, one, "spec.podCIDR");
	}
}

static void parse_status(struct json_object *status, struct mesh_node *n)
{
	struct json_object *list = member(status, "addresses", json_type_array);
	char shown[72];
	size_t i;

	for (i = 0; list && i < json_object_array_length(list); i++) {
		struct json_object *entry = json_object_array_get_idx(list, i);
		const char *type = member_string(entry, "type");
		const char *addr = member_string(entry, "address");

		struct mesh_addr a;

		if (!type || strcmp(type, "InternalIP"))
			continue;
		if (!addr || !parse_addr(addr, &a)) {
			log_error("node %s: status.addresses InternalIP %s%s%s is not an IP address; left out",
				  n->name, addr ? "\"" : "", addr ? printable(addr, shown) : "(missing)",
				  addr ? "\"" : "");
			continue;
		}
		if (n->n_addrs == MESH_NODE_MAX_ADDRS) {
			log_error("node %s: more than %d InternalIP addresses; %s left out",
				  n->name, MESH_NODE_MAX_ADDRS, printable(addr, shown));
			continue;
		}
		n->addrs[n->n_addrs++] = a;
	}
}

int k8s_parse_node(struct json_object *obj, struct mesh_node *n, char *err, size_t errlen)
{
	struct json_object *meta = member(obj, "metadata", json_type_object);
	const char *name = member_string(meta, "name");
	char shown[72];

	memset(n, 0, sizeof(*n));
	n->port = MESH_DEFAULT_PORT;
	if (!obj || !json_object_is_type(obj, json_type_object)) {
		errf(err, errlen, "a Node is not a JSON object");
		return -EINVAL;
	}
	if (!name) {
		errf(err, errlen, "a Node has no metadata.name");
		return -EINVAL;
	}
	if (!is_node_name(name)) {
		errf(err, errlen, "a Node's metadata.name \"%s\" is not a DNS subdomain of at most %d characters",
		     printable(name, shown), MESH_NODE_NAME_MAX);
		return -EINVAL;
	}
	memcpy(n->name, name, strlen(name) + 1);
	parse_annotations(meta, n);
	parse_spec(member(obj, "spec", json_type_object), n);
	parse_status(member(obj, "status", json_type_object), n);
	return 0;
}

/* ------------------------------------------------------------------------
 * The set of nodes.
 */

static bool addr_equal(int family, const uint8_t *a, const uint8_t *b)
{
	return !memcmp(a, b, family == AF_INET ? 4 : 16);
}

static bool node_equal(const struct mesh_node *a, const struct mesh_node *b)
{
	unsigned int i;

	if (strcmp(a->name, b->name) || a->has_key != b->has_key || a->port != b->port ||
	    a->n_addrs != b->n_addrs || a->n_cidrs != b->n_cidrs)
		return false;
	if (a->has_key && sodium_memcmp(a->public_key, b->public_key, 32))
		return false;
	for (i = 0; i < a->n_addrs; i++)
		if (a->addrs[i].family != b->addrs[i].family ||
		    !addr_equal(a->addrs[i].family, a->addrs[i].addr, b->addrs[i].addr))
			return false;
	for (i = 0; i < a->n_cidrs; i++)
		if (a->cidrs[i].family != b->cidrs[i].family || a->cidrs[i].cidr != b->cidrs[i].cidr ||
		    !addr_equal(a->cidrs[i].family, a->cidrs[i].addr, b->cidrs[i].addr))
			return false;
	return true;
}

/* Index of name, or of where it would go (*found false). */
static size_t set_find(const struct k8s_node_set *set, const char *name, bool *found)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(set->nodes[mid].name, name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

int k8s_node_set_upsert(struct k8s_node_set *set, const struct mesh_node *node)
{
	bool found;
	size_t i = set_find(set, node->name, &found);

	if (found) {
		if (node_equal(&set->nodes[i], node))
			return 0;
		set->nodes[i] = *node;
		return 1;
	}
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 16;
		struct mesh_node *nodes = reallocarray(set->nodes, cap, sizeof(*nodes));

		if (!nodes)
			return -ENOMEM;
		set->nodes = nodes;
		set->cap = cap;
	}
	memmove(&set->nodes[i + 1], &set->nodes[i], (set->n - i) * sizeof(*set->nodes));
	set->nodes[i] = *node;
	set->n++;
	return 1;
}

int k8s_node_set_remove(struct k8s_node_set *set, const char *name)
{
	bool found;
	size_t i = set_find(set, name, &found);

	if (!found)
		return 0;
	memmove(&set->nodes[i], &set->nodes[i + 1], (set->n - i - 1) * sizeof(*set->nodes));
	set->n--;
	return 1;
}

bool k8s_node_set_equal(const struct k8s_node_set *a, const struct k8s_node_set *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (!node_equal(&a->nodes[i], &b->nodes[i]))
			return false;
	return true;
}

void k8s_node_set_clear(struct k8s_node_set *set)
{
	set->n = 0;
}

void k8s_node_set_free(struct k8s_node_set *set)
{
	free(set->nodes);
	set->nodes = NULL;
	set->n = set->cap = 0;
}

int k8s_node_set_apply(struct k8s_node_set *set, const struct k8s_event *ev)
{
	switch (ev->type) {
	case K8S_EVENT_ADDED:
	case K8S_EVENT_MODIFIED:
		return k8s_node_set_upsert(set, &ev->node);
	case K8S_EVENT_DELETED:
		return k8s_node_set_remove(set, ev->node.name);
	default:
		return 0;
	}
}

/* ------------------------------------------------------------------------
 * NodeList, WatchEvent, Status.
 */

/* obj.metadata.resourceVersion into rv ("" if absent); false if too long. */
static bool copy_rv(struct json_object *obj, char rv[K8S_RV_MAX])
{
	const char *s = member_string(member(obj, "metadata", json_type_object), "resourceVersion");
	size_t n = s ? strlen(s) : 0;

	if (n >= K8S_RV_MAX)
		return false;
	memcpy(rv, s ? s : "", n + 1);
	return true;
}

int k8s_parse_node_list(const char *body, size_t len, struct k8s_node_set *set,
			char rv[K8S_RV_MAX], char cont[K8S_CONTINUE_MAX],
			char *err, size_t errlen)
{
	struct json_object *obj = parse_json(body, len, err, errlen);
	struct json_object *meta, *items, *v;
	const char *kind, *c;
	char why[256], shown[72];
	int ret = -EINVAL;
	size_t i;

	rv[0] = cont[0] = '\0';
	if (!obj)
		return -EINVAL;
	kind = member_string(obj, "kind");
	if (!json_object_is_type(obj, json_type_object) || (kind && strcmp(kind, "NodeList"))) {
		errf(err, errlen, "expected a NodeList, got %s", kind ? printable(kind, shown) : "no object");
		goto out;
	}
	meta = member(obj, "metadata", json_type_object);
	if (!copy_rv(obj, rv) || !rv[0]) {
		errf(err, errlen, "the NodeList has no usable metadata.resourceVersion");
		goto out;
	}
	c = member_string(meta, "continue");
	if (c && strlen(c) >= K8S_CONTINUE_MAX) {
		errf(err, errlen, "the NodeList's metadata.continue is too long");
		goto out;
	}
	if (c)
		memcpy(cont, c, strlen(c) + 1);
	items = member(obj, "items", json_type_array);
	if (!items && json_object_object_get_ex(obj, "items", &v) && v) {
		errf(err, errlen, "the NodeList's items is not an array");
		goto out;
	}
	for (i = 0; items && i < json_object_array_length(items); i++) {
		struct mesh_node n;
		int r;

		if (k8s_parse_node(json_object_array_get_idx(items, i), &n, why, sizeof(why))) {
			log_error("node list: item %zu skipped: %s", i, why);
			continue;
		}
		r = k8s_node_set_upsert(set, &n);
		if (r < 0) {
			errf(err, errlen, "out of memory for %zu nodes", set->n);
			ret = r;
			goto out;
		}
	}
	ret = 0;
out:
	if (ret)
		rv[0] = cont[0] = '\0';
	json_object_put(obj);
	return ret;
}

int k8s_parse_watch_event(const char *line, size_t len, struct k8s_event *ev,
			  char *err, size_t errlen)
{
	static const struct {
		const char *word;
		enum k8s_event_type type;
	} types[] = {
		{ "ADDED", K8S_EVENT_ADDED }, { "MODIFIED", K8S_EVENT_MODIFIED },
		{ "DELETED", K8S_EVENT_DELETED }, { "BOOKMARK", K8S_EVENT_BOOKMARK },
		{ "ERROR", K8S_EVENT_ERROR },
	};
	struct json_object *obj = parse_json(line, len, err, errlen);
	struct json_object *object, *code;
	const char *type, *msg;
	char why[256], shown[72];
	int ret = -EINVAL;
	size_t i;

	memset(ev, 0, sizeof(*ev));
	if (!obj)
		return -EINVAL;
	type = member_string(obj, "type");
	object = member(obj, "object", json_type_object);
	if (!type || !object) {
		errf(err, errlen, "a watch event needs a string \"type\" and an object \"object\"");
		goto out;
	}
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(type, types[i].word))
			break;
	if (i == sizeof(types) / sizeof(types[0])) {
		errf(err, errlen, "unknown watch event type \"%s\"", printable(type, shown));
		ret = -EOPNOTSUPP;
		goto out;
	}
	ev->type = types[i].type;
	if (!copy_rv(object, ev->rv)) {
		errf(err, errlen, "%s event: metadata.resourceVersion is too long", type);
		goto out;
	}
	switch (ev->type) {
	case K8S_EVENT_ADDED:
	case K8S_EVENT_MODIFIED:
	case K8S_EVENT_DELETED:
		if (k8s_parse_node(object, &ev->node, why, sizeof(why))) {
			errf(err, errlen, "%s event: %s", type, why);
			ret = -ENOENT;
			goto out;
		}
		break;
	case K8S_EVENT_BOOKMARK:
		if (!ev->rv[0]) {
			errf(err, errlen, "BOOKMARK event without metadata.resourceVersion");
			goto out;
		}
		break;
	case K8S_EVENT_ERROR:
		code = member(object, "code", json_type_int);
		if (code) {
			int64_t c = json_object_get_int64(code);

			ev->code = c >= 0 && c <= 999 ? (int)c : 0;
		}
		msg = member_string(object, "message");
		copy_printable(ev->message, sizeof(ev->message), msg);
		break;
	}
	ret = 0;
out:
	json_object_put(obj);
	return ret;
}

void k8s_status_message(const char *body, size_t len, char *msg, size_t msglen)
{
	struct json_object *obj = parse_json(body, len, NULL, 0);

	copy_printable(msg, msglen, member_string(obj, "message"));
	json_object_put(obj);
}

/* ------------------------------------------------------------------------
 * Newline-delimited streams.
 */

static int emit_line(const char *line, size_t len,
		     int (*fn)(void *, const char *, size_t), void *ctx)
{
	if (len && line[len - 1] == '\r')
		len--;
	return len ? fn(ctx, line, len) : 0;
}

int k8s_lines_feed(struct k8s_lines *l, const char *data, size_t n,
		   int (*fn)(void *ctx, const char *line, size_t len), void *ctx)
{
	size_t max = l->max ? l->max : K8S_LINE_MAX;
	int r;

	while (n) {
		const char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) : n;

		if (take > max || l->len > max - take) {
			l->len = 0;
			return -E2BIG;
		}
		if (nl && !l->len) {
			r = emit_line(data, take, fn, ctx);
		} else {
			if (l->len + take > l->cap) {
				size_t cap = l->cap ? l->cap : 4096;
				char *buf;

				while (cap < l->len + take)
					cap *= 2;
				buf = realloc(l->buf, cap);
				if (!buf) {
					l->len = 0;
					return -ENOMEM;
				}
				l->buf = buf;
				l->cap = cap;
			}
			memcpy(l->buf + l->len, data, take);
			l->len += take;
			r = 0;
			if (nl) {
				r = emit_line(l->buf, l->len, fn, ctx);
				l->len = 0;
			}
		}
		if (r < 0) {
			l->len = 0;
			return r;
		}
		if (!nl)
			break;
		data = nl + 1;
		n -= take + 1;
	}
	return 0;
}

void k8s_lines_free(struct k8s_lines *l)
{
	free(l->buf);
	l->buf = NULL;
	l->len = l->cap = 0;
}

/* ------------------------------------------------------------------------
 * Options.
 */

static int copy_opt(char *dst, size_t cap, const char *src, const char *what,
		    char *err, size_t errlen)
{
	if (strlen(src) >= cap) {
		errf(err, errlen, "%s is longer than %zu characters", what, cap - 1);
		return -ENAMETOOLONG;
	}
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

static int check_https_url(const char *url, char *err, size_t errlen)
{
	if (strncmp(url, "https://", 8) || !url[8]) {
		errf(err, errlen, "the API server URL \"%s\" must start with https:// (the token is never sent in clear)",
		     url);
		return -EINVAL;
	}
	return 0;
}

int k8s_options_from_env(struct k8s_options *o, char *err, size_t errlen)
{
	const char *api = getenv("XWG_K8S_API");
	const char *token = getenv("XWG_K8S_TOKEN_FILE");
	const char *ca = getenv("XWG_K8S_CA_FILE");
	const char *node = getenv("NODE_NAME");
	size_t n;
	int r;

	memset(o, 0, sizeof(*o));
	if (api && *api) {
		if ((r = copy_opt(o->api_url, sizeof(o->api_url), api, "XWG_K8S_API", err, errlen)))
			return r;
	} else {
		const char *host = getenv("KUBERNETES_SERVICE_HOST");
		const char *port = getenv("KUBERNETES_SERVICE_PORT");
		uint16_t p;

		if (!host || !*host) {
			errf(err, errlen, "KUBERNETES_SERVICE_HOST is not set: not running in a Kubernetes pod? (set XWG_K8S_API=https://HOST:PORT to name the API server)");
			return -ENOENT;
		}
		if (!port || !*port)
			port = "443";
		if (!parse_port(port, &p)) {
			errf(err, errlen, "KUBERNETES_SERVICE_PORT \"%s\" is not a port number", port);
			return -EINVAL;
		}
		if (strchr(host, '/') || strchr(host, '@') || strchr(host, '[') || strchr(host, ' ')) {
			errf(err, errlen, "KUBERNETES_SERVICE_HOST \"%s\" is not a host name or IP address", host);
			return -EINVAL;
		}
		n = (size_t)snprintf(o->api_url, sizeof(o->api_url),
				     strchr(host, ':') ? "https://[%s]:%u" : "https://%s:%u", host, p);
		if (n >= sizeof(o->api_url)) {
			errf(err, errlen, "KUBERNETES_SERVICE_HOST is too long");
			return -ENAMETOOLONG;
		}
	}
	n = strlen(o->api_url);
	while (n > 8 && o->api_url[n - 1] == '/')
		o->api_url[--n] = '\0';
	if ((r = check_https_url(o->api_url, err, errlen)))
		return r;

	if ((r = copy_opt(o->token_path, sizeof(o->token_path),
			  token && *token ? token : K8S_DEFAULT_SA_DIR "/token",
			  "XWG_K8S_TOKEN_FILE", err, errlen)))
		return r;
	if ((r = copy_opt(o->ca_path, sizeof(o->ca_path),
			  ca && *ca ? ca : K8S_DEFAULT_SA_DIR "/ca.crt",
			  "XWG_K8S_CA_FILE", err, errlen)))
		return r;
	if (access(o->token_path, R_OK)) {
		r = -errno;
		errf(err, errlen, "cannot read the service-account token %s: %s (mount the pod's service account, or set XWG_K8S_TOKEN_FILE)",
		     o->token_path, strerror(-r));
		return r;
	}
	if (access(o->ca_path, R_OK)) {
		r = -errno;
		errf(err, errlen, "cannot read the API server's CA %s: %s (mount the pod's service account, or set XWG_K8S_CA_FILE)",
		     o->ca_path, strerror(-r));
		return r;
	}
	if (!node || !*node) {
		errf(err, errlen, "NODE_NAME is not set: pass this node's name from the downward API (fieldRef spec.nodeName)");
		return -ENOENT;
	}
	if (!is_node_name(node)) {
		errf(err, errlen, "NODE_NAME \"%s\" is not a Kubernetes node name", node);
		return -EINVAL;
	}
	memcpy(o->node_name, node, strlen(node) + 1);
	return 0;
}

/* ------------------------------------------------------------------------
 * HTTP (libcurl).
 */

struct k8s_source {
	struct k8s_options o;
	mesh_nodes_cb cb;
	void *ctx;
	pthread_t thread;
	atomic_bool stop;
	CURLM *multi;             /* the thread's transfers; wakeup from stop */
	struct k8s_node_set set;  /* what the agent was last told */
	char rv[K8S_RV_MAX];      /* where the next watch starts */
	unsigned int backoff_ms;
};

struct body {
	char *data;
	size_t len, cap, max;
	bool truncated;
	bool must_fit;            /* more than max fails the transfer */
};

static void body_add(struct body *b, const char *p, size_t n)
{
	if (n > b->max - b->len) {
		n = b->max - b->len;
		b->truncated = true;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *data;

		while (cap < b->len + n + 1)
			cap *= 2;
		data = realloc(b->data, cap);
		if (!data) {
			b->truncated = true;
			return;
		}
		b->data = data;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static size_t body_write(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct body *b = userdata;

	body_add(b, p, size * nmemb);
	/* A page larger than the cap is an error, not a silent cut. */
	return b->truncated && b->must_fit ? 0 : size * nmemb;
}

struct request {
	CURL *h;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
};

static void wipe_headers(struct curl_slist *h)
{
	for (; h; h = h->next)
		sodium_memzero(h->data, strlen(h->data));
}

/* The token file's content without surrounding whitespace, into a new
 * "Authorization: Bearer ..." header line. */
static char *auth_header(const char *path, char *err, size_t errlen)
{
	static const char prefix[] = "Authorization: Bearer ";
	char *buf = malloc(sizeof(prefix) + K8S_TOKEN_MAX);
	size_t len = 0, start, end;
	int fd;

	if (!buf) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		errf(err, errlen, "cannot read the service-account token %s: %s (check XWG_K8S_TOKEN_FILE)",
		     path, strerror(errno));
		free(buf);
		return NULL;
	}
	for (;;) {
		ssize_t r = read(fd, buf + sizeof(prefix) - 1 + len, K8S_TOKEN_MAX - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			errf(err, errlen, "cannot read the service-account token %s: %s", path,
			     strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == K8S_TOKEN_MAX) {
			errf(err, errlen, "the service-account token %s is larger than %u bytes", path,
			     K8S_TOKEN_MAX);
			goto fail;
		}
	}
	close(fd);
	fd = -1;
	start = sizeof(prefix) - 1;
	end = start + len;
	while (start < end && isspace((unsigned char)buf[start]))
		start++;
	while (end > start && isspace((unsigned char)buf[end - 1]))
		end--;
	for (size_t i = start; i < end; i++)
		if (buf[i] < 0x21 || buf[i] > 0x7e) {
			errf(err, errlen, "the service-account token %s is not a bearer token (it has spaces or control characters)",
			     path);
			goto fail;
		}
	if (start == end) {
		errf(err, errlen, "the service-account token %s is empty", path);
		goto fail;
	}
	memmove(buf + sizeof(prefix) - 1, buf + start, end - start);
	memcpy(buf, prefix, sizeof(prefix) - 1);
	buf[sizeof(prefix) - 1 + end - start] = '\0';
	sodium_memzero(buf + sizeof(prefix) - 1 + end - start + 1,
		       K8S_TOKEN_MAX - (end - start + 1) + 1);
	return buf;
fail:
	if (fd >= 0)
		close(fd);
	sodium_memzero(buf, sizeof(prefix) + K8S_TOKEN_MAX);
	free(buf);
	return NULL;
}

static void request_free(struct request *r)
{
	if (r->h)
		curl_easy_cleanup(r->h);
	wipe_headers(r->headers);
	curl_slist_free_all(r->headers);
	r->h = NULL;
	r->headers = NULL;
}

static bool add_header(struct request *r, const char *line)
{
	struct curl_slist *l = curl_slist_append(r->headers, line);

	if (!l)
		return false;
	r->headers = l;
	return true;
}

/* An easy handle for url with the options every request shares. */
static int request_init(struct request *r, const struct k8s_options *o, const char *url,
			char *err, size_t errlen)
{
	char *auth;
	bool ok;

	memset(r, 0, sizeof(*r));
	auth = auth_header(o->token_path, err, errlen);
	if (!auth)
		return -EACCES;
	ok = add_header(r, auth) && add_header(r, "Accept: application/json");
	sodium_memzero(auth, strlen(auth));
	free(auth);
	r->h = ok ? curl_easy_init() : NULL;
	if (!r->h) {
		request_free(r);
		errf(err, errlen, "out of memory for an HTTP request");
		return -ENOMEM;
	}
	if (curl_easy_setopt(r->h, CURLOPT_URL, url) ||
	    curl_easy_setopt(r->h, CURLOPT_PROTOCOLS_STR, "https") ||
	    curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, r->headers) ||
	    curl_easy_setopt(r->h, CURLOPT_CAINFO, o->ca_path) ||
	    curl_easy_setopt(r->h, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(r->h, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    curl_easy_setopt(r->h, CURLOPT_USERAGENT, "xwg-mesh") ||
	    curl_easy_setopt(r->h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(r->h, CURLOPT_CONNECTTIMEOUT, K8S_CONNECT_TIMEOUT_S) ||
	    curl_easy_setopt(r->h, CURLOPT_TCP_KEEPALIVE, 1L) ||
	    curl_easy_setopt(r->h, CURLOPT_ERRORBUFFER, r->errbuf)) {
		request_free(r);
		errf(err, errlen, "libcurl refused an option for %s", url);
		return -EINVAL;
	}
	return 0;
}

/* What to tell the operator when a transfer failed below HTTP. */
static int transport_error(const struct k8s_options *o, CURLcode c, const char *errbuf,
			   const char *what, char *err, size_t errlen)
{
	const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(c);

	switch (c) {
	case CURLE_PEER_FAILED_VERIFICATION:
		errf(err, errlen, "%s: the API server's TLS certificate is not trusted by the CA in %s (%s); check XWG_K8S_CA_FILE or the service account's ca.crt",
		     what, o->ca_path, detail);
		return -EACCES;
	case CURLE_SSL_CACERT_BADFILE:
		errf(err, errlen, "%s: cannot load the CA file %s (%s); check XWG_K8S_CA_FILE",
		     what, o->ca_path, detail);
		return -EACCES;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
		errf(err, errlen, "%s: cannot reach the API server %s (%s)", what, o->api_url, detail);
		return -EHOSTUNREACH;
	default:
		errf(err, errlen, "%s: %s (%s)", what, curl_easy_strerror(c), detail);
		return -EIO;
	}
}

/* What to tell the operator when the API server answered with an error. */
static int http_error(long code, const char *what, const struct body *b, char *err, size_t errlen)
{
	char msg[256];
	const char *hint = "";

	k8s_status_message(b->data ? b->data : "", b->len, msg, sizeof(msg));
	switch (code) {
	case 401:
		hint = " (the bearer token was refused: check XWG_K8S_TOKEN_FILE or the pod's service-account token)";
		break;
	case 403:
		hint = " (the service account needs RBAC permission to get, list, watch and patch nodes)";
		break;
	case 404:
		hint = " (no such object: check NODE_NAME)";
		break;
	}
	errf(err, errlen, "%s: HTTP %ld%s%s%s", what, code, msg[0] ? ": " : "", msg, hint);
	return code == 401 || code == 403 ? -EACCES : code == 404 ? -ENOENT :
	       code == 410 ? -ESTALE : -EIO;
}

static unsigned long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long)ts.tv_sec * 1000 + (unsigned long)ts.tv_nsec / 1000000;
}

/* Run one transfer on the source's multi handle: 0 with its result in *res,
 * or -ECANCELED once the source is stopping. */
static int run_transfer(struct k8s_source *s, CURL *h, CURLcode *res)
{
	bool done = false;
	int ret = 0;

	*res = CURLE_OK;
	if (curl_multi_add_handle(s->multi, h) != CURLM_OK) {
		*res = CURLE_OUT_OF_MEMORY;
		return 0;
	}
	while (!done) {
		int running, queued;
		CURLMsg *m;

		if (atomic_load(&s->stop)) {
			ret = -ECANCELED;
			break;
		}
		if (curl_multi_perform(s->multi, &running) != CURLM_OK) {
			*res = CURLE_OUT_OF_MEMORY;
			break;
		}
		while ((m = curl_multi_info_read(s->multi, &queued)))
			if (m->msg == CURLMSG_DONE && m->easy_handle == h) {
				*res = m->data.result;
				done = true;
			}
		if (!done && curl_multi_poll(s->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
			*res = CURLE_OUT_OF_MEMORY;
			break;
		}
	}
	curl_multi_remove_handle(s->multi, h);
	return ret;
}

/* Wait out the current backoff (with jitter) and double it; false if the
 * source is stopping. */
static bool backoff(struct k8s_source *s)
{
	unsigned int ms = s->backoff_ms;
	unsigned long wait = ms + randombytes_uniform(ms / 2 + 1);
	unsigned long deadline;

	if (wait > K8S_BACKOFF_MAX_MS)
		wait = K8S_BACKOFF_MAX_MS;
	s->backoff_ms = ms >= K8S_BACKOFF_MAX_MS / 2 ? K8S_BACKOFF_MAX_MS : ms * 2;
	log_info("kubernetes: trying again in %lu ms", wait);
	deadline = monotonic_ms() + wait;
	while (!atomic_load(&s->stop)) {
		unsigned long now = monotonic_ms();

		if (now >= deadline)
			return true;
		curl_multi_poll(s->multi, NULL, 0, (int)(deadline - now), NULL);
	}
	return false;
}

static void deliver(struct k8s_source *s)
{
	log_debug("kubernetes: %zu nodes at resourceVersion %s", s->set.n, s->rv);
	s->cb(s->ctx, s->set.nodes, s->set.n);
}

/* ------------------------------------------------------------------------
 * List.
 */

/* All pages of GET /api/v1/nodes into *out, its resourceVersion into rv. */
static int list_nodes(struct k8s_source *s, struct k8s_node_set *out, char rv[K8S_RV_MAX],
		      char *err, size_t errlen)
{
	char cont[K8S_CONTINUE_MAX] = "";
	int ret = 0;

	k8s_node_set_clear(out);
	do {
		struct body b = { .max = K8S_BODY_MAX, .must_fit = true };
		struct request r;
		char url[sizeof(s->o.api_url) + 64 + 3 * K8S_CONTINUE_MAX];
		long code = 0;
		CURLcode res;

		if (cont[0]) {
			char *esc = curl_easy_escape(NULL, cont, 0);

			if (!esc) {
				errf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			snprintf(url, sizeof(url), "%s/api/v1/nodes?limit=%d&continue=%s",
				 s->o.api_url, K8S_LIST_LIMIT, esc);
			curl_free(esc);
		} else {
			snprintf(url, sizeof(url), "%s/api/v1/nodes?limit=%d", s->o.api_url,
				 K8S_LIST_LIMIT);
		}
		ret = request_init(&r, &s->o, url, err, errlen);
		if (ret)
			return ret;
		curl_easy_setopt(r.h, CURLOPT_WRITEFUNCTION, body_write);
		curl_easy_setopt(r.h, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(r.h, CURLOPT_TIMEOUT, K8S_REQUEST_TIMEOUT_S);
		curl_easy_setopt(r.h, CURLOPT_ACCEPT_ENCODING, "");
		ret = run_transfer(s, r.h, &res);
		if (!ret && res == CURLE_WRITE_ERROR && b.truncated) {
			errf(err, errlen, "list nodes: a page is larger than %u bytes", K8S_BODY_MAX);
			ret = -EFBIG;
		} else if (!ret && res != CURLE_OK) {
			ret = transport_error(&s->o, res, r.errbuf, "list nodes", err, errlen);
		} else if (!ret) {
			curl_easy_getinfo(r.h, CURLINFO_RESPONSE_CODE, &code);
			if (code != 200) {
				ret = http_error(code, "list nodes", &b, err, errlen);
			} else {
				char why[256];

				ret = k8s_parse_node_list(b.data ? b.data : "", b.len, out, rv, cont,
							  why, sizeof(why));
				if (ret)
					errf(err, errlen, "list nodes: %s", why);
			}
		}
		request_free(&r);
		free(b.data);
	} while (!ret && cont[0]);
	return ret;
}

/* ------------------------------------------------------------------------
 * Watch.
 */

enum watch_next {
	WATCH_AGAIN,          /* from s->rv, now */
	WATCH_AGAIN_LATER,    /* from s->rv, after a backoff */
	WATCH_RELIST,         /* the version is gone: list now */
	WATCH_RELIST_LATER,   /* state is in doubt: list after a backoff */
	WATCH_STOPPED,
};

struct watch {
	struct k8s_source *s;
	CURL *h;
	long code;
	struct k8s_lines lines;
	struct body error_body;   /* a non-200 answer's Status */
	enum watch_next next;     /* set when the stream is cut on purpose */
	bool cut;
	unsigned int events;
};

static int on_event_line(void *ctx, const char *line, size_t len)
{
	struct watch *w = ctx;
	struct k8s_source *s = w->s;
	struct k8s_event ev;
	char err[512];
	int r;

	/* Several events can come in one piece: none after stop. */
	if (atomic_load(&s->stop))
		return -ECANCELED;
	r = k8s_parse_watch_event(line, len, &ev, err, sizeof(err));
	if (r == -EOPNOTSUPP) {
		log_debug("kubernetes: watch: %s; ignored", err);
		return 0;
	}
	if (r == -ENOENT) {
		/* A Node the list would skip too: listing again cannot help. */
		log_error("kubernetes: watch: %s; skipped", err);
		if (ev.rv[0])
			memcpy(s->rv, ev.rv, sizeof(s->rv));
		return 0;
	}
	if (r) {
		log_error("kubernetes: watch: %s; listing again", err);
		w->next = WATCH_RELIST_LATER;
		return -EINVAL;
	}
	w->events++;
	switch (ev.type) {
	case K8S_EVENT_ERROR:
		if (ev.code == 410) {
			log_info("kubernetes: watch from resourceVersion %s expired (%s); listing again",
				 s->rv, ev.message);
			w->next = WATCH_RELIST;
		} else {
			log_error("kubernetes: watch: the API server sent an error (code %d: %s); listing again",
				  ev.code, ev.message);
			w->next = WATCH_RELIST_LATER;
		}
		return -EPIPE;
	case K8S_EVENT_BOOKMARK:
		memcpy(s->rv, ev.rv, sizeof(s->rv));
		return 0;
	default:
		r = k8s_node_set_apply(&s->set, &ev);
		if (ev.rv[0])
			memcpy(s->rv, ev.rv, sizeof(s->rv));
		if (r < 0) {
			log_error("kubernetes: watch: out of memory for %zu nodes; listing again",
				  s->set.n);
			w->next = WATCH_RELIST_LATER;
			return r;
		}
		log_debug("kubernetes: node %s %s", ev.node.name,
			  ev.type == K8S_EVENT_DELETED ? "deleted" : r ? "changed" : "unchanged");
		if (r)
			deliver(s);
		return 0;
	}
}

static size_t watch_write(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct watch *w = userdata;
	size_t n = size * nmemb;
	int r;

	if (!w->code)
		curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &w->code);
	if (w->code != 200) {
		body_add(&w->error_body, p, n);
		return n;
	}
	r = k8s_lines_feed(&w->lines, p, n, on_event_line, w);
	if (r == -E2BIG) {
		log_error("kubernetes: watch: an event is longer than %u bytes; listing again",
			  K8S_LINE_MAX);
		w->next = WATCH_RELIST_LATER;
	} else if (r == -ENOMEM) {
		log_error("kubernetes: watch: out of memory; listing again");
		w->next = WATCH_RELIST_LATER;
	} else if (r == -ECANCELED) {
		w->next = WATCH_STOPPED;
	}
	if (r < 0) {
		w->cut = true;
		return 0;   /* ends the transfer */
	}
	return n;
}

static enum watch_next watch_nodes(struct k8s_source *s)
{
	struct watch w = { .s = s, .error_body = { .max = K8S_ERROR_BODY_MAX } };
	char url[sizeof(s->o.api_url) + 128 + 3 * K8S_RV_MAX], err[1024];
	unsigned long started = monotonic_ms();
	enum watch_next next;
	struct request r;
	char *esc;
	CURLcode res;

	esc = curl_easy_escape(NULL, s->rv, 0);
	if (!esc) {
		log_error("kubernetes: out of memory");
		return WATCH_AGAIN_LATER;
	}
	snprintf(url, sizeof(url),
		 "%s/api/v1/nodes?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%d",
		 s->o.api_url, esc, K8S_WATCH_TIMEOUT_S);
	curl_free(esc);
	if (request_init(&r, &s->o, url, err, sizeof(err))) {
		log_error("kubernetes: watch nodes: %s", err);
		return WATCH_AGAIN_LATER;
	}
	w.h = r.h;
	curl_easy_setopt(r.h, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(r.h, CURLOPT_WRITEDATA, &w);
	/* The server ends the watch after K8S_WATCH_TIMEOUT_S; a connection
	 * silent for longer than that is dead. */
	curl_easy_setopt(r.h, CURLOPT_TIMEOUT, (long)K8S_WATCH_TIMEOUT_S + 30L);
	log_debug("kubernetes: watching nodes from resourceVersion %s", s->rv);
	if (run_transfer(s, r.h, &res)) {
		next = WATCH_STOPPED;
	} else if (w.cut) {
		next = w.next;
	} else if (res != CURLE_OK) {
		transport_error(&s->o, res, r.errbuf, "watch nodes", err, sizeof(err));
		log_error("kubernetes: %s", err);
		next = WATCH_AGAIN_LATER;
	} else if (w.code == 410) {
		log_info("kubernetes: watch from resourceVersion %s: HTTP 410 Gone; listing again",
			 s->rv);
		next = WATCH_RELIST;
	} else if (w.code != 200) {
		http_error(w.code, "watch nodes", &w.error_body, err, sizeof(err));
		log_error("kubernetes: %s", err);
		next = WATCH_AGAIN_LATER;
	} else if (w.lines.len) {
		log_error("kubernetes: watch: the stream ended inside an event; listing again");
		next = WATCH_RELIST_LATER;
	} else {
		/* The server ended the watch: resume at once, unless it keeps
		 * ending them before anything happens. */
		next = w.events || monotonic_ms() - started > 5000 ? WATCH_AGAIN : WATCH_AGAIN_LATER;
	}
	request_free(&r);
	k8s_lines_free(&w.lines);
	free(w.error_body.data);
	/* A watch that delivered events was a working connection: whatever
	 * ended it, the next wait starts from the shortest. */
	if (w.events)
		s->backoff_ms = K8S_BACKOFF_MIN_MS;
	return next;
}

/* ------------------------------------------------------------------------
 * The thread, start and stop.
 */

static void *source_thread(void *arg)
{
	struct k8s_source *s = arg;
	struct k8s_node_set fresh = { 0 };
	bool need_list = true;
	char err[1024], rv[K8S_RV_MAX];

	while (!atomic_load(&s->stop)) {
		enum watch_next next;

		if (need_list) {
			int r = list_nodes(s, &fresh, rv, err, sizeof(err));

			if (r == -ECANCELED)
				break;
			if (r) {
				log_error("kubernetes: %s", err);
				if (!backoff(s))
					break;
				continue;
			}
			struct k8s_node_set t = s->set;

			s->set = fresh;
			fresh = t;
			memcpy(s->rv, rv, sizeof(s->rv));
			s->backoff_ms = K8S_BACKOFF_MIN_MS;
			need_list = false;
			log_info("kubernetes: listed %zu nodes at resourceVersion %s", s->set.n, s->rv);
			deliver(s);
		}
		next = watch_nodes(s);
		if (next == WATCH_STOPPED)
			break;
		if (next == WATCH_RELIST || next == WATCH_RELIST_LATER)
			need_list = true;
		if ((next == WATCH_AGAIN_LATER || next == WATCH_RELIST_LATER) && !backoff(s))
			break;
	}
	k8s_node_set_free(&fresh);
	return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ready;

static void curl_setup(void)
{
	curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK && sodium_init() >= 0;
}

static int check_options(const struct k8s_options *o, char *err, size_t errlen)
{
	int r;

	if (!o || !o->api_url[0] || !o->token_path[0] || !o->ca_path[0]) {
		errf(err, errlen, "the Kubernetes options need the API server URL, the token file and the CA file");
		return -EINVAL;
	}
	if ((r = check_https_url(o->api_url, err, errlen)))
		return r;
	if (!is_node_name(o->node_name)) {
		errf(err, errlen, "this node's name \"%s\" is not a Kubernetes node name (set NODE_NAME)",
		     o->node_name);
		return -EINVAL;
	}
	pthread_once(&curl_once, curl_setup);
	if (!curl_ready) {
		errf(err, errlen, "libcurl or libsodium failed to initialise");
		return -ENOMEM;
	}
	return 0;
}

struct k8s_source *k8s_source_start(const struct k8s_options *o, mesh_nodes_cb cb,
				    void *ctx, char *err, size_t errlen)
{
	struct k8s_source *s;
	int r;

	if (check_options(o, err, errlen))
		return NULL;
	if (!cb) {
		errf(err, errlen, "no snapshot callback");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->multi = curl_multi_init())) {
		free(s);
		errf(err, errlen, "out of memory");
		return NULL;
	}
	s->o = *o;
	s->cb = cb;
	s->ctx = ctx;
	s->backoff_ms = K8S_BACKOFF_MIN_MS;
	atomic_init(&s->stop, false);
	r = pthread_create(&s->thread, NULL, source_thread, s);
	if (r) {
		curl_multi_cleanup(s->multi);
		free(s);
		errf(err, errlen, "cannot start the Kubernetes watch thread: %s", strerror(r));
		return NULL;
	}
	return s;
}

void k8s_source_stop(struct k8s_source *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, true);
	curl_multi_wakeup(s->multi);
	pthread_join(s->thread, NULL);
	curl_multi_cleanup(s->multi);
	k8s_node_set_free(&s->set);
	free(s);
}

/* ------------------------------------------------------------------------
 * Publishing this node's key.
 */

static char *patch_body(const uint8_t public_key[32], uint16_t port)
{
	char key[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	struct json_object *root, *meta, *ann;
	char port_s[8], *body = NULL;
	const char *text;

	sodium_bin2base64(key, sizeof(key), public_key, 32, sodium_base64_VARIANT_ORIGINAL);
	snprintf(port_s, sizeof(port_s), "%u", port);
	root = json_object_new_object();
	meta = json_object_new_object();
	ann = json_object_new_object();
	if (!root || !meta || !ann) {
		json_object_put(root);
		json_object_put(meta);
		json_object_put(ann);
		return NULL;
	}
	/* Each add hands the child to its parent: one put frees them all. */
	json_object_object_add(root, "metadata", meta);
	json_object_object_add(meta, "annotations", ann);
	json_object_object_add(ann, MESH_PUBKEY_ANNOTATION, json_object_new_string(key));
	json_object_object_add(ann, MESH_PORT_ANNOTATION, json_object_new_string(port_s));
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text && strstr(text, key) && strstr(text, port_s))
		body = strdup(text);
	json_object_put(root);
	return body;
}

int k8s_publish_key(struct k8s_source *s, const uint8_t public_key[32],
		    uint16_t port, char *err, size_t errlen)
{
	char url[sizeof(s->o.api_url) + 32 + MESH_NODE_NAME_MAX];
	unsigned int attempt;
	char *body;
	int ret = -EIO;

	if (!s || !public_key || !port) {
		errf(err, errlen, "publish key: no source, key or port");
		return -EINVAL;
	}
	body = patch_body(public_key, port);
	if (!body) {
		errf(err, errlen, "publish key: out of memory");
		return -ENOMEM;
	}
	/* Node names are DNS subdomains: nothing to escape in a path. */
	snprintf(url, sizeof(url), "%s/api/v1/nodes/%s", s->o.api_url, s->o.node_name);
	for (attempt = 0; attempt < K8S_PUBLISH_TRIES; attempt++) {
		struct body b = { .max = K8S_ERROR_BODY_MAX };
		struct request r;
		bool again = false;
		long code = 0;
		CURLcode res;

		if (attempt) {
			struct timespec ts = { .tv_sec = 0, .tv_nsec = 250000000L };

			for (unsigned int i = 1; i < attempt; i++)
				ts.tv_nsec *= 2;   /* 0.25, 0.5, 1 s */
			if (ts.tv_nsec >= 1000000000L)
				ts.tv_sec = 1, ts.tv_nsec = 0;
			if (atomic_load(&s->stop))
				break;
			nanosleep(&ts, NULL);
		}
		ret = request_init(&r, &s->o, url, err, errlen);
		if (ret)
			break;
		if (!add_header(&r, "Content-Type: application/merge-patch+json") ||
		    curl_easy_setopt(r.h, CURLOPT_HTTPHEADER, r.headers)) {
			request_free(&r);
			errf(err, errlen, "publish key: out of memory");
			ret = -ENOMEM;
			break;
		}
		curl_easy_setopt(r.h, CURLOPT_CUSTOMREQUEST, "PATCH");
		curl_easy_setopt(r.h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(r.h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		curl_easy_setopt(r.h, CURLOPT_WRITEFUNCTION, body_write);
		curl_easy_setopt(r.h, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(r.h, CURLOPT_TIMEOUT, K8S_REQUEST_TIMEOUT_S);
		res = curl_easy_perform(r.h);
		if (res != CURLE_OK) {
			ret = transport_error(&s->o, res, r.errbuf, "publish key", err, errlen);
			/* A CA that does not trust the server will not start to. */
			again = ret != -EACCES;
		} else {
			curl_easy_getinfo(r.h, CURLINFO_RESPONSE_CODE, &code);
			if (code >= 200 && code < 300) {
				ret = 0;
			} else {
				char what[64 + MESH_NODE_NAME_MAX];

				snprintf(what, sizeof(what), "publish key on node %s", s->o.node_name);
				ret = http_error(code, what, &b, err, errlen);
				again = code == 409 || code == 429 || code >= 500;
			}
		}
		request_free(&r);
		free(b.data);
		if (!again)
			break;
		log_error("kubernetes: %s", err);
	}
	free(body);
	if (!ret)
		log_info("kubernetes: published this node's public key and port %u on node %s",
			 port, s->o.node_name);
	return ret;
}
