// SPDX-License-Identifier: GPL-2.0
/*
 * xwg-mesh: the node-list JSON file (json-c), its validation, and the locked
 * rewrite that publishes this node's key into it. See nodes_file.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mesh/nodes_file.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int mesh_addr_parse(const char *s, struct mesh_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (strchr(s, ':')) {
		if (inet_pton(AF_INET6, s, a->addr) != 1)
			return -EINVAL;
		a->family = AF_INET6;
	} else {
		if (inet_pton(AF_INET, s, a->addr) != 1)
			return -EINVAL;
		a->family = AF_INET;
	}
	return 0;
}

int mesh_prefix_parse(const char *s, struct mesh_prefix *p, int *host_bits_set)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	struct mesh_addr a;
	unsigned long bits = 0;
	unsigned int max, i;
	size_t iplen;

	memset(p, 0, sizeof(*p));
	if (host_bits_set)
		*host_bits_set = 0;
	if (!slash)
		return -EINVAL;
	iplen = (size_t)(slash - s);
	if (iplen == 0 || iplen >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, iplen);
	ip[iplen] = '\0';
	if (mesh_addr_parse(ip, &a))
		return -EINVAL;
	/* Digits only (strtoul would take "+8", " 8" and "0x8"). */
	if (!slash[1] || strlen(slash + 1) > 3)
		return -EINVAL;
	for (const char *c = slash + 1; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		bits = bits * 10 + (unsigned long)(*c - '0');
	}
	max = a.family == AF_INET ? 32 : 128;
	if (bits > max)
		return -EINVAL;
	p->family = a.family;
	p->cidr = (uint8_t)bits;
	memcpy(p->addr, a.addr, sizeof(p->addr));
	for (i = 0; i < max / 8; i++) {
		unsigned int keep = bits >= (i + 1) * 8 ? 8 : bits > i * 8 ? bits - i * 8 : 0;
		uint8_t mask = (uint8_t)(keep ? 0xff << (8 - keep) : 0);

		if (p->addr[i] & ~mask) {
			if (host_bits_set)
				*host_bits_set = 1;
			p->addr[i] &= mask;
		}
	}
	return 0;
}

void mesh_addr_format(const struct mesh_addr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family, a->addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

void mesh_prefix_format(const struct mesh_prefix *p, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (!inet_ntop(p->family, p->addr, ip, sizeof(ip)))
		snprintf(ip, sizeof(ip), "?");
	snprintf(buf, len, "%s/%u", ip, p->cidr);
}

/* A DNS subdomain (RFC 1123), as Kubernetes requires of node names:
 * lowercase letters, digits, '-' and '.', starting and ending with a letter
 * or digit. The name is also used in logs and metric labels, so nothing
 * else may slip through. */
static bool name_is_valid(const char *s, size_t len)
{
	if (len == 0 || len > MESH_NODE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && c != '-' && c != '.')
			return false;
		if ((i == 0 || i == len - 1) && !alnum)
			return false;
	}
	return true;
}

static int parse_key(const char *s, size_t len, uint8_t key[32])
{
	size_t got = 0;
	const char *end = NULL;

	if (len != 44)
		return -EINVAL;
	if (sodium_base642bin(key, 32, s, len, NULL, &got, &end,
			      sodium_base64_VARIANT_ORIGINAL) || got != 32 ||
	    end != s + len)
		return -EINVAL;
	return 0;
}

/* One string field of a node, or NULL if the value is not a string. */
static const char *str_of(struct json_object *v, size_t *len)
{
	if (!json_object_is_type(v, json_type_string))
		return NULL;
	*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

static int parse_node(struct json_object *obj, size_t idx, struct mesh_node *node,
		      char *err, size_t errlen)
{
	struct json_object *v;
	char who[MESH_NODE_NAME_MAX + 32];
	const char *s;
	size_t len, i, n;

	memset(node, 0, sizeof(*node));
	node->port = MESH_DEFAULT_PORT;
	if (!json_object_is_type(obj, json_type_object))
		return fail(err, errlen, "nodes[%zu]: not an object", idx);
	if (!json_object_object_get_ex(obj, "name", &v))
		return fail(err, errlen, "nodes[%zu]: field \"name\" is missing", idx);
	s = str_of(v, &len);
	if (!s || !name_is_valid(s, len) || strlen(s) != len)
		return fail(err, errlen,
			    "nodes[%zu]: field \"name\" must be a DNS name (lowercase letters, digits, '-', '.'; at most %d characters)",
			    idx, MESH_NODE_NAME_MAX);
	memcpy(node->name, s, len);
	snprintf(who, sizeof(who), "node \"%s\"", node->name);

	json_object_object_foreach(obj, key, val) {
		if (!strcmp(key, "name")) {
			continue;
		} else if (!strcmp(key, "publicKey")) {
			if (json_object_is_type(val, json_type_null))
				continue;
			s = str_of(val, &len);
			if (!s)
				return fail(err, errlen, "%s: field \"publicKey\" must be a string", who);
			if (len == 0)
				continue;
			if (parse_key(s, len, node->public_key))
				return fail(err, errlen,
					    "%s: field \"publicKey\" is not a base64 WireGuard key (44 characters, as `wg pubkey` prints)",
					    who);
			node->has_key = true;
		} else if (!strcmp(key, "port")) {
			int64_t port;

			if (!json_object_is_type(val, json_type_int))
				return fail(err, errlen, "%s: field \"port\" must be an integer", who);
			port = json_object_get_int64(val);
			if (port < 1 || port > 65535)
				return fail(err, errlen, "%s: field \"port\" must be 1-65535, not %lld",
					    who, (long long)port);
			node->port = (uint16_t)port;
		} else if (!strcmp(key, "internalIPs")) {
			if (!json_object_is_type(val, json_type_array))
				return fail(err, errlen, "%s: field \"internalIPs\" must be an array", who);
			n = json_object_array_length(val);
			if (n < 1 || n > MESH_NODE_MAX_ADDRS)
				return fail(err, errlen,
					    "%s: field \"internalIPs\" must list 1 to %d addresses, not %zu",
					    who, MESH_NODE_MAX_ADDRS, n);
			for (i = 0; i < n; i++) {
				s = str_of(json_object_array_get_idx(val, i), &len);
				if (!s || strlen(s) != len ||
				    mesh_addr_parse(s, &node->addrs[i]))
					return fail(err, errlen,
						    "%s: internalIPs[%zu] is not an IPv4 or IPv6 address",
						    who, i);
				for (size_t j = 0; j < i; j++)
					if (!memcmp(&node->addrs[j], &node->addrs[i], sizeof(node->addrs[i])))
						return fail(err, errlen, "%s: internalIPs[%zu] is listed twice",
							    who, i);
			}
			node->n_addrs = (unsigned int)n;
		} else if (!strcmp(key, "podCIDRs")) {
			if (json_object_is_type(val, json_type_null))
				continue;
			if (!json_object_is_type(val, json_type_array))
				return fail(err, errlen, "%s: field \"podCIDRs\" must be an array", who);
			n = json_object_array_length(val);
			if (n > MESH_NODE_MAX_CIDRS)
				return fail(err, errlen,
					    "%s: field \"podCIDRs\" lists %zu prefixes, at most %d allowed",
					    who, n, MESH_NODE_MAX_CIDRS);
			for (i = 0; i < n; i++) {
				int host_bits = 0;

				s = str_of(json_object_array_get_idx(val, i), &len);
				if (!s || strlen(s) != len ||
				    mesh_prefix_parse(s, &node->cidrs[i], &host_bits))
					return fail(err, errlen,
						    "%s: podCIDRs[%zu] is not a prefix such as 10.244.1.0/24",
						    who, i);
				if (host_bits)
					return fail(err, errlen,
						    "%s: podCIDRs[%zu] \"%s\" has host bits set",
						    who, i, s);
				for (size_t j = 0; j < i; j++)
					if (!memcmp(&node->cidrs[j], &node->cidrs[i], sizeof(node->cidrs[i])))
						return fail(err, errlen, "%s: podCIDRs[%zu] is listed twice",
							    who, i);
			}
			node->n_cidrs = (unsigned int)n;
		} else {
			return fail(err, errlen,
				    "%s: unknown field \"%.64s\" (known: name, publicKey, port, internalIPs, podCIDRs)",
				    who, key);
		}
	}
	if (node->n_addrs == 0)
		return fail(err, errlen, "%s: field \"internalIPs\" is missing", who);
	return 0;
}

static struct json_object *parse_json(const char *buf, size_t len, char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t end;

	if (len > MESH_NODES_FILE_MAX) {
		fail(err, errlen, "the node list is larger than %u bytes", MESH_NODES_FILE_MAX);
		return NULL;
	}
	if (memchr(buf, '\0', len)) {
		fail(err, errlen, "the node list contains a NUL byte");
		return NULL;
	}
	if (len > INT_MAX)
		return NULL;
	tok = json_tokener_new();
	if (!tok) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!root) {
		fail(err, errlen, "not valid JSON: %s",
		     jerr == json_tokener_continue ? "unexpected end of input" :
		     json_tokener_error_desc(jerr));
		return NULL;
	}
	for (; end < len; end++) {
		if (!strchr(" \t\r\n", buf[end])) {
			fail(err, errlen, "not valid JSON: trailing characters at offset %zu", end);
			json_object_put(root);
			return NULL;
		}
	}
	return root;
}

int mesh_nodes_parse(const char *buf, size_t len, struct mesh_node **nodes,
		     size_t *n, char *err, size_t errlen)
{
	struct json_object *root, *arr = NULL;
	struct mesh_node *out = NULL;
	size_t count, i, j;
	int ret = -EINVAL;

	*nodes = NULL;
	*n = 0;
	root = parse_json(buf, len, err, errlen);
	if (!root)
		return -EINVAL;
	if (!json_object_is_type(root, json_type_object)) {
		fail(err, errlen, "the top level must be an object with a \"nodes\" array");
		goto out;
	}
	json_object_object_foreach(root, key, val) {
		if (strcmp(key, "nodes")) {
			fail(err, errlen, "unknown top-level field \"%.64s\" (only \"nodes\" is known)", key);
			goto out;
		}
		arr = val;
	}
	if (!arr || !json_object_is_type(arr, json_type_array)) {
		fail(err, errlen, "field \"nodes\" must be an array of nodes");
		goto out;
	}
	count = json_object_array_length(arr);
	if (count > MESH_NODES_MAX) {
		fail(err, errlen, "%zu nodes listed, at most %d supported", count, MESH_NODES_MAX);
		goto out;
	}
	out = calloc(count ? count : 1, sizeof(*out));
	if (!out) {
		fail(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < count; i++) {
		if (parse_node(json_object_array_get_idx(arr, i), i, &out[i], err, errlen))
			goto out;
	}
	/* Quadratic, but only on a change of a file of at most a few thousand
	 * nodes; a hash is not worth its code here. */
	for (i = 0; i < count; i++) {
		for (j = i + 1; j < count; j++) {
			if (!strcmp(out[i].name, out[j].name)) {
				fail(err, errlen, "node \"%s\" is listed twice", out[i].name);
				goto out;
			}
			if (out[i].has_key && out[j].has_key &&
			    !sodium_memcmp(out[i].public_key, out[j].public_key, 32)) {
				fail(err, errlen, "nodes \"%s\" and \"%s\" have the same publicKey",
				     out[i].name, out[j].name);
				goto out;
			}
		}
	}
	*nodes = out;
	*n = count;
	out = NULL;
	ret = 0;
out:
	free(out);
	json_object_put(root);
	return ret;
}

static int read_all(int fd, char **buf, size_t *len, char *err, size_t errlen,
		    const char *path)
{
	size_t cap = 4096, got = 0;
	char *b = malloc(cap), *nb;
	ssize_t r;

	if (!b)
		return -ENOMEM;
	for (;;) {
		if (got == cap) {
			if (cap > MESH_NODES_FILE_MAX) {
				free(b);
				return fail(err, errlen, "%s is larger than %u bytes", path,
					    MESH_NODES_FILE_MAX);
			}
			nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
			cap *= 2;
		}
		r = read(fd, b + got, cap - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(b);
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
			return -e;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*buf = b;
	*len = got;
	return 0;
}

int mesh_nodes_file_read(const char *path, struct mesh_node **nodes, size_t *n,
			 char *err, size_t errlen)
{
	char *buf = NULL, msg[512];
	size_t len = 0;
	int fd, ret;

	*nodes = NULL;
	*n = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-ret));
		return ret;
	}
	ret = read_all(fd, &buf, &len, err, errlen, path);
	close(fd);
	if (ret)
		return ret;
	ret = mesh_nodes_parse(buf, len, nodes, n, msg, sizeof(msg));
	if (ret)
		snprintf(err, errlen, "%s: %s", path, msg);
	free(buf);
	return ret;
}

int mesh_nodes_set_key(const char *buf, size_t len, const char *name,
		       const uint8_t key[32], uint16_t port, char **out,
		       char *err, size_t errlen)
{
	struct json_object *root, *arr, *node = NULL, *v;
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	const char *text;
	size_t i, count;
	int ret = -EINVAL;

	*out = NULL;
	root = parse_json(buf, len, err, errlen);
	if (!root)
		return -EINVAL;
	if (!json_object_object_get_ex(root, "nodes", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		fail(err, errlen, "field \"nodes\" must be an array of nodes");
		goto out;
	}
	count = json_object_array_length(arr);
	for (i = 0; i < count && !node; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);

		if (json_object_is_type(o, json_type_object) &&
		    json_object_object_get_ex(o, "name", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    !strcmp(json_object_get_string(v), name))
			node = o;
	}
	if (!node) {
		fail(err, errlen, "node \"%s\" is not listed: add its entry (name, internalIPs, podCIDRs)",
		     name);
		ret = -ENOENT;
		goto out;
	}
	sodium_bin2base64(b64, sizeof(b64), key, 32, sodium_base64_VARIANT_ORIGINAL);
	if (json_object_object_add(node, "publicKey", json_object_new_string(b64)))
		goto nomem;
	if (port && json_object_object_add(node, "port", json_object_new_int(port)))
		goto nomem;
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!text || !(*out = strdup(text)))
		goto nomem;
	ret = 0;
	goto out;
nomem:
	fail(err, errlen, "out of memory");
	ret = -ENOMEM;
out:
	json_object_put(root);
	return ret;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int mesh_nodes_file_publish_key(const char *path, const char *name,
				const uint8_t key[32], uint16_t port,
				int *changed, char *err, size_t errlen)
{
	char lock_path[PATH_MAX], tmp_path[PATH_MAX], msg[512];
	char *buf = NULL, *out = NULL;
	size_t len = 0;
	int lock_fd = -1, fd = -1, ret;
	struct stat st;

	*changed = 0;
	if (snprintf(lock_path, sizeof(lock_path), "%s.lock", path) >= (int)sizeof(lock_path) ||
	    snprintf(tmp_path, sizeof(tmp_path), "%s.tmp.%d", path, (int)getpid()) >=
		    (int)sizeof(tmp_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open lock file %s: %s", lock_path, strerror(-ret));
		return ret;
	}
	while ((ret = flock(lock_fd, LOCK_EX)) < 0 && errno == EINTR)
		;
	if (ret < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot lock %s: %s", lock_path, strerror(-ret));
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-ret));
		goto out;
	}
	ret = read_all(fd, &buf, &len, err, errlen, path);
	if (!ret && fstat(fd, &st))
		ret = -errno;
	close(fd);
	fd = -1;
	if (ret)
		goto out;
	{
		struct mesh_node *nodes = NULL;
		size_t n = 0, i;
		int up_to_date = 0;

		/* Leave the file alone if it already says what we would write
		 * (every agent republishes at start). */
		if (!mesh_nodes_parse(buf, len, &nodes, &n, msg, sizeof(msg))) {
			for (i = 0; i < n; i++)
				if (!strcmp(nodes[i].name, name) && nodes[i].has_key &&
				    !sodium_memcmp(nodes[i].public_key, key, 32) &&
				    (!port || nodes[i].port == port))
					up_to_date = 1;
		}
		free(nodes);
		if (up_to_date) {
			ret = 0;
			goto out;
		}
	}
	ret = mesh_nodes_set_key(buf, len, name, key, port, &out, msg, sizeof(msg));
	if (ret) {
		snprintf(err, errlen, "cannot publish this node's key in %s: %s", path, msg);
		goto out;
	}
	fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create %s: %s", tmp_path, strerror(-ret));
		goto out;
	}
	ret = write_all(fd, out, strlen(out));
	if (!ret)
		ret = write_all(fd, "\n", 1);
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	fd = -1;
	if (!ret && rename(tmp_path, path))
		ret = -errno;
	if (ret) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-ret));
		unlink(tmp_path);
		goto out;
	}
	*changed = 1;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(out);
	close(lock_fd); /* releases the lock */
	return ret;
}
