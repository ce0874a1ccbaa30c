// SPDX-License-Identifier: GPL-2.0
/*
 * xwg-mesh Kubernetes backend: Node JSON, NodeList pages, watch events,
 * the node set the watch keeps, the line splitter of the watch stream, the
 * options read from the environment, and that stop returns promptly.
 * Nothing here needs root; the one network test talks to a closed port on
 * 127.0.0.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "base/log.h"
#include "mesh/k8s.h"
#include "test.h"
#include "tests/suites.h"

#define KEY_A "8zjyUpdIqc2PK6Mq18rHdKdQLfuGEKFxefWKaQMMK18="
#define KEY_B "M0cbIEHQuOqzZHTwfEwolFN2rPPjTKouMWRxc83LTSg="
#define KEY_C "Y/3jKRwiGTpyGCH99ZbyB1Lxm9O/iU4h/C7ChajlCWM="

/* "name key=BASE64|none port=N addrs=A,B cidrs=P/L,Q/M": what the tables
 * compare against. */
static const char *node_str(const struct mesh_node *n, char *buf, size_t cap)
{
	char key[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	char a[INET6_ADDRSTRLEN];
	size_t len;
	unsigned int i;

	if (n->has_key)
		sodium_bin2base64(key, sizeof(key), n->public_key, 32,
				  sodium_base64_VARIANT_ORIGINAL);
	len = (size_t)snprintf(buf, cap, "%s key=%s port=%u addrs=", n->name,
			       n->has_key ? key : "none", n->port);
	for (i = 0; i < n->n_addrs && len < cap; i++) {
		inet_ntop(n->addrs[i].family, n->addrs[i].addr, a, sizeof(a));
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? "," : "", a);
	}
	if (len < cap)
		len += (size_t)snprintf(buf + len, cap - len, " cidrs=");
	for (i = 0; i < n->n_cidrs && len < cap; i++) {
		inet_ntop(n->cidrs[i].family, n->cidrs[i].addr, a, sizeof(a));
		len += (size_t)snprintf(buf + len, cap - len, "%s%s/%u", i ? "," : "", a,
					n->cidrs[i].cidr);
	}
	return buf;
}

/* Node objects shaped like `kubectl get node -o json` (trimmed). */
static const struct {
	const char *json;
	int ret;
	const char *want;   /* node_str, when ret == 0 */
} node_vectors[] = {
	/* 0: IPv4 node, podCIDR only (clusters before dual-stack) */
	{ "{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"worker-1\","
	  "\"uid\":\"7a1f\",\"resourceVersion\":\"4711\",\"labels\":{\"kubernetes.io/os\":\"linux\"},"
	  "\"annotations\":{\"xwg.dev/public-key\":\"" KEY_A "\",\"xwg.dev/listen-port\":\"51821\","
	  "\"node.alpha.kubernetes.io/ttl\":\"0\"}},"
	  "\"spec\":{\"podCIDR\":\"10.244.1.0/24\",\"providerID\":\"kind://docker/kind/worker-1\"},"
	  "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.0.2.11\"},"
	  "{\"type\":\"Hostname\",\"address\":\"worker-1\"}],\"conditions\":[]}}",
	  0, "worker-1 key=" KEY_A " port=51821 addrs=192.0.2.11 cidrs=10.244.1.0/24" },
	/* 1: IPv6-only node */
	{ "{\"metadata\":{\"name\":\"worker-6\",\"annotations\":{\"xwg.dev/public-key\":\"" KEY_B "\"}},"
	  "\"spec\":{\"podCIDR\":\"fd00:10:244:6::/64\",\"podCIDRs\":[\"fd00:10:244:6::/64\"]},"
	  "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"2001:db8::6\"},"
	  "{\"type\":\"Hostname\",\"address\":\"worker-6\"}]}}",
	  0, "worker-6 key=" KEY_B " port=51820 addrs=2001:db8::6 cidrs=fd00:10:244:6::/64" },
	/* 2: dual stack: podCIDRs wins over podCIDR, ExternalIP ignored */
	{ "{\"metadata\":{\"name\":\"cp-0.example.internal\",\"annotations\":{\"xwg.dev/public-key\":\"" KEY_C "\"}},"
	  "\"spec\":{\"podCIDR\":\"10.244.0.0/24\",\"podCIDRs\":[\"10.244.0.0/24\",\"fd00:10:244::/64\"]},"
	  "\"status\":{\"addresses\":[{\"type\":\"ExternalIP\",\"address\":\"203.0.113.9\"},"
	  "{\"type\":\"InternalIP\",\"address\":\"192.0.2.10\"},"
	  "{\"type\":\"InternalIP\",\"address\":\"2001:db8::10\"},"
	  "{\"type\":\"Hostname\",\"address\":\"cp-0\"}]}}",
	  0, "cp-0.example.internal key=" KEY_C " port=51820 addrs=192.0.2.10,2001:db8::10 "
	     "cidrs=10.244.0.0/24,fd00:10:244::/64" },
	/* 3: a fresh node: no annotations, no CIDR yet, no addresses */
	{ "{\"metadata\":{\"name\":\"new-node\"},\"spec\":{},\"status\":{}}",
	  0, "new-node key=none port=51820 addrs= cidrs=" },
	/* 4: bad key (not base64): node kept without it */
	{ "{\"metadata\":{\"name\":\"n4\",\"annotations\":{\"xwg.dev/public-key\":\"not a key!\"}},"
	  "\"spec\":{\"podCIDRs\":[\"10.244.4.0/24\"]}}",
	  0, "n4 key=none port=51820 addrs= cidrs=10.244.4.0/24" },
	/* 5: base64 of 31 bytes */
	{ "{\"metadata\":{\"name\":\"n5\",\"annotations\":{\"xwg.dev/public-key\":"
	  "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\"}}}",
	  0, "n5 key=none port=51820 addrs= cidrs=" },
	/* 6: key not a string, port not a number */
	{ "{\"metadata\":{\"name\":\"n6\",\"annotations\":{\"xwg.dev/public-key\":42,"
	  "\"xwg.dev/listen-port\":\"http\"}}}",
	  0, "n6 key=none port=51820 addrs= cidrs=" },
	/* 7: port out of range */
	{ "{\"metadata\":{\"name\":\"n7\",\"annotations\":{\"xwg.dev/public-key\":\"" KEY_A "\","
	  "\"xwg.dev/listen-port\":\"65536\"}}}",
	  0, "n7 key=" KEY_A " port=51820 addrs= cidrs=" },
	/* 8: port 0 and a key with a stray newline */
	{ "{\"metadata\":{\"name\":\"n8\",\"annotations\":{\"xwg.dev/public-key\":\"" KEY_A "\\n\","
	  "\"xwg.dev/listen-port\":\"0\"}}}",
	  0, "n8 key=none port=51820 addrs= cidrs=" },
	/* 9: bad CIDRs dropped, good kept; host bits cleared */
	{ "{\"metadata\":{\"name\":\"n9\"},\"spec\":{\"podCIDRs\":[\"10.244.9.0/33\",\"garbage\","
	  "7,\"10.244.9.7/24\",\"fd00::1/129\",\"fd00:10:244:9::1/64\",\"10.0.0.0/\",\"10.0.0.0/0024\"]}}",
	  0, "n9 key=none port=51820 addrs= cidrs=10.244.9.0/24,fd00:10:244:9::/64" },
	/* 10: bad InternalIP dropped; more than MESH_NODE_MAX_ADDRS cut */
	{ "{\"metadata\":{\"name\":\"n10\"},\"status\":{\"addresses\":["
	  "{\"type\":\"InternalIP\",\"address\":\"999.0.2.1\"},{\"type\":\"InternalIP\"},"
	  "{\"type\":\"InternalIP\",\"address\":\"192.0.2.1\"},{\"type\":\"InternalIP\",\"address\":\"192.0.2.2\"},"
	  "{\"type\":\"InternalIP\",\"address\":\"192.0.2.3\"},{\"type\":\"InternalIP\",\"address\":\"192.0.2.4\"},"
	  "{\"type\":\"InternalIP\",\"address\":\"192.0.2.5\"},\"junk\",{\"type\":7}]}}",
	  0, "n10 key=none port=51820 addrs=192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4 cidrs=" },
	/* 11: more than MESH_NODE_MAX_CIDRS */
	{ "{\"metadata\":{\"name\":\"n11\"},\"spec\":{\"podCIDRs\":[\"10.1.0.0/24\",\"10.2.0.0/24\","
	  "\"10.3.0.0/24\",\"10.4.0.0/24\",\"10.5.0.0/24\"]}}",
	  0, "n11 key=none port=51820 addrs= cidrs=10.1.0.0/24,10.2.0.0/24,10.3.0.0/24,10.4.0.0/24" },
	/* 12: fields of the wrong types are ignored */
	{ "{\"metadata\":{\"name\":\"n12\",\"annotations\":[]},\"spec\":{\"podCIDR\":5,\"podCIDRs\":\"x\"},"
	  "\"status\":{\"addresses\":{}}}",
	  0, "n12 key=none port=51820 addrs= cidrs=" },
	/* 13: empty podCIDRs falls back to podCIDR */
	{ "{\"metadata\":{\"name\":\"n13\"},\"spec\":{\"podCIDR\":\"10.13.0.0/16\",\"podCIDRs\":[]}}",
	  0, "n13 key=none port=51820 addrs= cidrs=10.13.0.0/16" },
	/* 14-19: no usable name */
	{ "{\"metadata\":{}}", -EINVAL, NULL },
	{ "{\"spec\":{}}", -EINVAL, NULL },
	{ "{\"metadata\":{\"name\":\"Upper\"}}", -EINVAL, NULL },
	{ "{\"metadata\":{\"name\":\"\"}}", -EINVAL, NULL },
	{ "{\"metadata\":{\"name\":\"a\\nb\"}}", -EINVAL, NULL },
	{ "[1,2]", -EINVAL, NULL },
};

static void test_parse_node(void)
{
	char name300[400], json[512], buf[512], err[256];
	struct mesh_node n;
	size_t i;

	for (i = 0; i < sizeof(node_vectors) / sizeof(node_vectors[0]); i++) {
		struct json_object *obj = json_tokener_parse(node_vectors[i].json);
		int r;

		if (!CHECKF(obj, "vector %zu is not JSON", i))
			continue;
		err[0] = '\0';
		r = k8s_parse_node(obj, &n, err, sizeof(err));
		CHECKF(r == node_vectors[i].ret, "vector %zu: %d, want %d (%s)", i, r,
		       node_vectors[i].ret, err);
		if (!r && node_vectors[i].want)
			CHECKF(!strcmp(node_str(&n, buf, sizeof(buf)), node_vectors[i].want),
			       "vector %zu:\n     got %s\n    want %s", i, buf, node_vectors[i].want);
		if (r)
			CHECKF(err[0], "vector %zu: no message", i);
		json_object_put(obj);
	}

	/* A name of MESH_NODE_NAME_MAX characters fits, one more does not. */
	for (i = 0; i < 2; i++) {
		struct json_object *obj;

		memset(name300, 'a', sizeof(name300));
		name300[MESH_NODE_NAME_MAX + i] = '\0';
		snprintf(json, sizeof(json), "{\"metadata\":{\"name\":\"%s\"}}", name300);
		obj = json_tokener_parse(json);
		CHECKF(k8s_parse_node(obj, &n, err, sizeof(err)) == (i ? -EINVAL : 0),
		       "name of %zu characters", MESH_NODE_NAME_MAX + i);
		json_object_put(obj);
	}
	CHECK(k8s_parse_node(NULL, &n, err, sizeof(err)) == -EINVAL);
}

/* Watch event lines as the API server sends them. */
static const struct {
	const char *line;
	int ret;
	enum k8s_event_type type;
	const char *rv;
	const char *node;   /* node_str of ev.node, or the Status message */
	int code;
} event_vectors[] = {
	/* 0 */
	{ "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":"
	  "{\"name\":\"worker-2\",\"resourceVersion\":\"101\",\"annotations\":{\"xwg.dev/public-key\":\"" KEY_B "\"}},"
	  "\"spec\":{\"podCIDRs\":[\"10.244.2.0/24\"]},\"status\":{\"addresses\":"
	  "[{\"type\":\"InternalIP\",\"address\":\"192.0.2.12\"}]}}}",
	  0, K8S_EVENT_ADDED, "101", "worker-2 key=" KEY_B " port=51820 addrs=192.0.2.12 cidrs=10.244.2.0/24", 0 },
	/* 1 */
	{ "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Node\",\"metadata\":"
	  "{\"name\":\"worker-2\",\"resourceVersion\":\"102\",\"annotations\":{\"xwg.dev/public-key\":\"" KEY_C "\"}},"
	  "\"spec\":{\"podCIDRs\":[\"10.244.2.0/24\"]}}}\r\n",
	  0, K8S_EVENT_MODIFIED, "102", "worker-2 key=" KEY_C " port=51820 addrs= cidrs=10.244.2.0/24", 0 },
	/* 2 */
	{ "{\"type\":\"DELETED\",\"object\":{\"kind\":\"Node\",\"metadata\":{\"name\":\"worker-2\","
	  "\"resourceVersion\":\"103\"}}}",
	  0, K8S_EVENT_DELETED, "103", "worker-2 key=none port=51820 addrs= cidrs=", 0 },
	/* 3 */
	{ "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":"
	  "{\"resourceVersion\":\"104\",\"creationTimestamp\":null,\"annotations\":"
	  "{\"k8s.io/initial-events-end\":\"true\"}},\"spec\":{},\"status\":{\"daemonEndpoints\":"
	  "{\"kubeletEndpoint\":{\"Port\":0}},\"nodeInfo\":{}}}}",
	  0, K8S_EVENT_BOOKMARK, "104", NULL, 0 },
	/* 4 */
	{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},"
	  "\"status\":\"Failure\",\"message\":\"too old resource version: 100 (205)\","
	  "\"reason\":\"Expired\",\"code\":410}}",
	  0, K8S_EVENT_ERROR, "", "too old resource version: 100 (205)", 410 },
	/* 5 */
	{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"status\":\"Failure\","
	  "\"message\":\"internal error\",\"reason\":\"InternalError\",\"code\":500}}",
	  0, K8S_EVENT_ERROR, "", "internal error", 500 },
	/* 6: a code that is no HTTP status is kept as 0 */
	{ "{\"type\":\"ERROR\",\"object\":{\"code\":41000000000}}", 0, K8S_EVENT_ERROR, "", "", 0 },
	/* 7: a long message is kept whole, control characters replaced */
	{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Gone\","
	  "\"message\":\"too old resource version: 123456789 (987654321):\\tthe watch cache has moved on; list again\"}}",
	  0, K8S_EVENT_ERROR, "", "too old resource version: 123456789 (987654321):?the watch cache has moved on; list again", 410 },

	/* 8-19: refused (the stream can skip -EOPNOTSUPP and -ENOENT ones) */
	{ "{\"type\":\"SOMETHING\",\"object\":{}}", -EOPNOTSUPP, 0, NULL, NULL, 0 },
	{ "{\"type\":\"ADDED\"}", -EINVAL, 0, NULL, NULL, 0 },
	{ "{\"type\":\"ADDED\",\"object\":[]}", -EINVAL, 0, NULL, NULL, 0 },
	{ "{\"type\":7,\"object\":{}}", -EINVAL, 0, NULL, NULL, 0 },
	{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}", -ENOENT, K8S_EVENT_ADDED, "9", NULL, 0 },
	{ "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"Bad_Name\",\"resourceVersion\":\"10\"}}}", -ENOENT, K8S_EVENT_MODIFIED, "10", NULL, 0 },
	{ "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}", -EINVAL, 0, NULL, NULL, 0 },
	{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}} {}", -EINVAL, 0, NULL, NULL, 0 },
	{ "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}", -EINVAL, 0, NULL, NULL, 0 },
	{ "", -EINVAL, 0, NULL, NULL, 0 },
	{ "null", -EINVAL, 0, NULL, NULL, 0 },
	{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	  -EINVAL, 0, NULL, NULL, 0 },
};

static void test_parse_event(void)
{
	char buf[512], err[256];
	struct k8s_event ev;
	size_t i;

	for (i = 0; i < sizeof(event_vectors) / sizeof(event_vectors[0]); i++) {
		const char *line = event_vectors[i].line;
		int r;

		err[0] = '\0';
		r = k8s_parse_watch_event(line, strlen(line), &ev, err, sizeof(err));
		if (!CHECKF(r == event_vectors[i].ret, "event %zu: %d, want %d (%s)", i, r,
			    event_vectors[i].ret, err))
			continue;
		if (r) {
			CHECKF(err[0], "event %zu: no message", i);
			if (r == -ENOENT)
				CHECKF(ev.type == event_vectors[i].type &&
				       !strcmp(ev.rv, event_vectors[i].rv), "event %zu: skippable", i);
			continue;
		}
		CHECKF(ev.type == event_vectors[i].type, "event %zu: type %d", i, ev.type);
		CHECKF(!strcmp(ev.rv, event_vectors[i].rv), "event %zu: rv %s", i, ev.rv);
		if (ev.type == K8S_EVENT_ERROR) {
			CHECKF(ev.code == event_vectors[i].code, "event %zu: code %d", i, ev.code);
			CHECKF(!strcmp(ev.message, event_vectors[i].node), "event %zu: message %s", i,
			       ev.message);
		} else if (event_vectors[i].node) {
			CHECKF(!strcmp(node_str(&ev.node, buf, sizeof(buf)), event_vectors[i].node),
			       "event %zu:\n     got %s\n    want %s", i, buf, event_vectors[i].node);
		}
	}
}

static const char list_page1[] =
	"{\"kind\":\"NodeList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"100\","
	"\"continue\":\"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAwLCJzdGFydCI6Im4yXHUwMDAwIn0\"},"
	"\"items\":[{\"metadata\":{\"name\":\"n2\",\"annotations\":{\"xwg.dev/public-key\":\"" KEY_B "\"}}},"
	"{\"metadata\":{\"name\":\"n1\",\"annotations\":{\"xwg.dev/public-key\":\"" KEY_A "\"}}},"
	"{\"metadata\":{\"name\":\"BAD NAME\"}},\"junk\"]}";
static const char list_page2[] =
	"{\"kind\":\"NodeList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"100\"},"
	"\"items\":[{\"metadata\":{\"name\":\"n3\"},\"spec\":{\"podCIDR\":\"10.3.0.0/24\"}}]}";

static void test_parse_list(void)
{
	static const struct {
		const char *body;
		int ret;
	} bad[] = {
		{ "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"code\":410}", -EINVAL },
		{ "{\"kind\":\"NodeList\",\"metadata\":{},\"items\":[]}", -EINVAL },
		{ "{\"kind\":\"NodeList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":{}}", -EINVAL },
		{ "[]", -EINVAL },
		{ "{\"kind\":\"NodeList\"", -EINVAL },
	};
	struct k8s_node_set set = { 0 };
	char rv[K8S_RV_MAX], cont[K8S_CONTINUE_MAX], err[256];
	size_t i;

	CHECK(k8s_parse_node_list(list_page1, strlen(list_page1), &set, rv, cont, err,
				  sizeof(err)) == 0);
	CHECK(!strcmp(rv, "100"));
	CHECK(!strcmp(cont, "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAwLCJzdGFydCI6Im4yXHUwMDAwIn0"));
	CHECK(set.n == 2 && !strcmp(set.nodes[0].name, "n1") && !strcmp(set.nodes[1].name, "n2"));
	CHECK(k8s_parse_node_list(list_page2, strlen(list_page2), &set, rv, cont, err,
				  sizeof(err)) == 0);
	CHECK(!strcmp(rv, "100") && cont[0] == '\0');
	CHECK(set.n == 3 && !strcmp(set.nodes[2].name, "n3") && set.nodes[2].n_cidrs == 1);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t before = set.n;

		err[0] = '\0';
		CHECKF(k8s_parse_node_list(bad[i].body, strlen(bad[i].body), &set, rv, cont, err,
					   sizeof(err)) == bad[i].ret, "bad list %zu", i);
		CHECKF(err[0] && !rv[0] && set.n == before, "bad list %zu: %s", i, err);
	}
	/* "items": null is how an empty list may come. */
	k8s_node_set_clear(&set);
	{
		static const char empty[] =
			"{\"kind\":\"NodeList\",\"metadata\":{\"resourceVersion\":\"7\"},\"items\":null}";

		CHECK(k8s_parse_node_list(empty, strlen(empty), &set, rv, cont, err,
					  sizeof(err)) == 0 && set.n == 0 && !strcmp(rv, "7"));
	}
	k8s_node_set_free(&set);
}

static struct mesh_node mk(const char *name, uint8_t keybyte, uint16_t port)
{
	struct mesh_node n = { .port = port, .has_key = keybyte != 0 };

	snprintf(n.name, sizeof(n.name), "%s", name);
	memset(n.public_key, keybyte, sizeof(n.public_key));
	return n;
}

/* The set as the watch keeps it: each step is an event applied to it, with
 * whether it changed and the names it holds afterwards. */
static void test_node_set(void)
{
	static const struct {
		enum k8s_event_type type;
		const char *name;
		uint8_t key;
		uint16_t port;
		int ret;
		const char *names;
	} steps[] = {
		{ K8S_EVENT_ADDED, "b", 1, 51820, 1, "b" },
		{ K8S_EVENT_ADDED, "a", 2, 51820, 1, "a b" },
		{ K8S_EVENT_ADDED, "c", 0, 51820, 1, "a b c" },
		{ K8S_EVENT_MODIFIED, "a", 2, 51820, 0, "a b c" },  /* same: no snapshot */
		{ K8S_EVENT_MODIFIED, "a", 3, 51820, 1, "a b c" },  /* key rotated */
		{ K8S_EVENT_MODIFIED, "a", 3, 51999, 1, "a b c" },  /* port */
		{ K8S_EVENT_MODIFIED, "d", 4, 51820, 1, "a b c d" },/* upsert */
		{ K8S_EVENT_DELETED, "b", 0, 0, 1, "a c d" },
		{ K8S_EVENT_DELETED, "b", 0, 0, 0, "a c d" },       /* already gone */
		{ K8S_EVENT_BOOKMARK, "", 0, 0, 0, "a c d" },
		{ K8S_EVENT_ERROR, "", 0, 0, 0, "a c d" },
	};
	struct k8s_node_set set = { 0 }, relist = { 0 };
	struct mesh_node n;
	size_t i, j;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct k8s_event ev = { .type = steps[i].type };
		char names[300] = "";
		int r;

		ev.node = mk(steps[i].name, steps[i].key, steps[i].port);
		r = k8s_node_set_apply(&set, &ev);
		for (j = 0; j < set.n; j++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 j ? " " : "", set.nodes[j].name);
		CHECKF(r == steps[i].ret, "step %zu: %d", i, r);
		CHECKF(!strcmp(names, steps[i].names), "step %zu: %s", i, names);
	}
	CHECK(set.nodes[0].public_key[0] == 3 && set.nodes[0].port == 51999);

	/* A re-list replaces the state whole: a node the watch missed
	 * deleting goes, one it missed adding comes. */
	n = mk("a", 3, 51999);
	k8s_node_set_upsert(&relist, &n);
	n = mk("e", 5, 51820);
	k8s_node_set_upsert(&relist, &n);
	CHECK(!k8s_node_set_equal(&set, &relist));
	k8s_node_set_clear(&set);
	for (i = 0; i < relist.n; i++)
		k8s_node_set_upsert(&set, &relist.nodes[i]);
	CHECK(k8s_node_set_equal(&set, &relist) && set.n == 2);

	/* Equality looks at every field. */
	n = relist.nodes[1];
	n.n_addrs = 1;
	n.addrs[0].family = AF_INET;
	memcpy(n.addrs[0].addr, "\xc0\x00\x02\x01", 4);
	CHECK(k8s_node_set_upsert(&set, &n) == 1 && !k8s_node_set_equal(&set, &relist));
	CHECK(k8s_node_set_upsert(&set, &n) == 0);
	n.addrs[0].addr[3] = 2;
	CHECK(k8s_node_set_upsert(&set, &n) == 1);
	n.n_cidrs = 1;
	n.cidrs[0] = (struct mesh_prefix){ .family = AF_INET, .cidr = 24 };
	CHECK(k8s_node_set_upsert(&set, &n) == 1);
	n.cidrs[0].cidr = 25;
	CHECK(k8s_node_set_upsert(&set, &n) == 1);
	CHECK(k8s_node_set_upsert(&set, &n) == 0);

	/* Many nodes stay sorted and unique. */
	k8s_node_set_clear(&set);
	for (i = 0; i < 300; i++) {
		char name[16];

		snprintf(name, sizeof(name), "node-%03zu", (i * 7) % 300);
		n = mk(name, 1, 51820);
		k8s_node_set_upsert(&set, &n);
	}
	for (i = 1; i < set.n && strcmp(set.nodes[i - 1].name, set.nodes[i].name) < 0; i++)
		;
	CHECK(set.n == 300 && i == 300);
	CHECK(k8s_node_set_remove(&set, "node-150") == 1 && set.n == 299);
	k8s_node_set_free(&set);
	k8s_node_set_free(&relist);
}

struct collected {
	char text[4096];
	int lines;
	int fail_at;   /* return -EPIPE for this line (1-based), 0: never */
};

static int collect_line(void *ctx, const char *line, size_t len)
{
	struct collected *c = ctx;
	size_t used = strlen(c->text);

	c->lines++;
	snprintf(c->text + used, sizeof(c->text) - used, "[%.*s]", (int)len, line);
	return c->lines == c->fail_at ? -EPIPE : 0;
}

/* The watch stream arrives in arbitrary pieces. */
static void test_lines(void)
{
	static const struct {
		const char *pieces[6];
		size_t max;
		int fail_at;
		int ret;          /* of the last feed */
		const char *want;
	} vectors[] = {
		{ { "{\"a\":1}\n", NULL }, 0, 0, 0, "[{\"a\":1}]" },
		{ { "{\"a\"", ":1}\n{\"b\"", ":2}\n", NULL }, 0, 0, 0, "[{\"a\":1}][{\"b\":2}]" },
		{ { "x\ny\nz\n", NULL }, 0, 0, 0, "[x][y][z]" },
		{ { "x", "", "y", "\n", "\n\n", NULL }, 0, 0, 0, "[xy]" },
		{ { "x\r\n", "\r\n", "y\r", "\n", NULL }, 0, 0, 0, "[x][y]" },
		{ { "partial", NULL }, 0, 0, 0, "" },
		{ { "12345678\n", NULL }, 8, 0, 0, "[12345678]" },
		{ { "123456789\n", NULL }, 8, 0, -E2BIG, "" },
		{ { "1234", "5678", "9", NULL }, 8, 0, -E2BIG, "" },
		{ { "ab\ncd\nef\n", NULL }, 0, 2, -EPIPE, "[ab][cd]" },
	};
	size_t i, j;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct k8s_lines l = { .max = vectors[i].max };
		struct collected c = { .fail_at = vectors[i].fail_at };
		int r = 0;

		for (j = 0; vectors[i].pieces[j] && r == 0; j++)
			r = k8s_lines_feed(&l, vectors[i].pieces[j], strlen(vectors[i].pieces[j]),
					   collect_line, &c);
		CHECKF(r == vectors[i].ret, "lines %zu: %d", i, r);
		CHECKF(!strcmp(c.text, vectors[i].want), "lines %zu: %s", i, c.text);
		k8s_lines_free(&l);
	}

	/* The default cap is K8S_LINE_MAX: a line of 1 MiB passes, more does
	 * not, fed in 64 KiB pieces. */
	for (i = 0; i < 2; i++) {
		struct k8s_lines l = { 0 };
		struct collected c = { 0 };
		size_t total = K8S_LINE_MAX + i, done = 0;
		char *piece = malloc(65536);
		int r = 0;

		if (!CHECK(piece))
			return;
		memset(piece, 'x', 65536);
		while (done < total && !r) {
			size_t n = total - done < 65536 ? total - done : 65536;

			r = k8s_lines_feed(&l, piece, n, collect_line, &c);
			done += n;
		}
		if (!r)
			r = k8s_lines_feed(&l, "\n", 1, collect_line, &c);
		CHECKF(r == (i ? -E2BIG : 0) && c.lines == (i ? 0 : 1), "line of %zu bytes: %d",
		       total, r);
		k8s_lines_free(&l);
		free(piece);
	}
}

static void test_status_message(void)
{
	static const struct {
		const char *body;
		const char *want;
	} vectors[] = {
		{ "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
		  "\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}", "Unauthorized" },
		{ "{\"kind\":\"Status\",\"message\":\"nodes \\\"w-1\\\" is forbidden: User \\\"system:serviceaccount:kube-system:xwg\\\" cannot patch resource \\\"nodes\\\"\"}",
		  "nodes \"w-1\" is forbidden: User \"system:serviceaccount:kube-system:xwg\" cannot patch resource \"nodes\"" },
		{ "{\"message\":\"line\\nbreak\"}", "line?break" },
		{ "<html>Bad Gateway</html>", "" },
		{ "{\"message\":5}", "" },
		{ "", "" },
	};
	char msg[256], tiny[4];
	size_t i;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		k8s_status_message(vectors[i].body, strlen(vectors[i].body), msg, sizeof(msg));
		CHECKF(!strcmp(msg, vectors[i].want), "status %zu: %s", i, msg);
	}
	k8s_status_message(vectors[0].body, strlen(vectors[0].body), tiny, sizeof(tiny));
	CHECK(!strcmp(tiny, "Una"));
}

static char tmpdir[64];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static const char *const env_vars[] = {
	"XWG_K8S_API", "XWG_K8S_TOKEN_FILE", "XWG_K8S_CA_FILE", "NODE_NAME",
	"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
};

static void test_options(void)
{
	static const struct {
		const char *vars[6];   /* values of env_vars, NULL: unset */
		int ret;
		const char *url;
		const char *in_err;
	} vectors[] = {
		{ { NULL, "T", "C", "worker-1", "10.96.0.1", "443" }, 0, "https://10.96.0.1:443", NULL },
		{ { NULL, "T", "C", "worker-1", "fd00:10:96::1", "6443" }, 0, "https://[fd00:10:96::1]:6443", NULL },
		{ { NULL, "T", "C", "worker-1", "kubernetes.default.svc", NULL }, 0, "https://kubernetes.default.svc:443", NULL },
		{ { "https://127.0.0.1:8443/", "T", "C", "w", "10.96.0.1", "443" }, 0, "https://127.0.0.1:8443", NULL },
		{ { "http://127.0.0.1:8080", "T", "C", "w", NULL, NULL }, -EINVAL, NULL, "https://" },
		{ { NULL, "T", "C", "w", NULL, NULL }, -ENOENT, NULL, "KUBERNETES_SERVICE_HOST" },
		{ { NULL, "T", "C", "w", "10.96.0.1", "99999" }, -EINVAL, NULL, "KUBERNETES_SERVICE_PORT" },
		{ { "https://a:1", "T", "C", NULL, NULL, NULL }, -ENOENT, NULL, "NODE_NAME" },
		{ { "https://a:1", "T", "C", "Not_A_Node", NULL, NULL }, -EINVAL, NULL, "NODE_NAME" },
		{ { "https://a:1", "missing", "C", "w", NULL, NULL }, -ENOENT, NULL, "XWG_K8S_TOKEN_FILE" },
		{ { "https://a:1", "T", "missing", "w", NULL, NULL }, -ENOENT, NULL, "XWG_K8S_CA_FILE" },
	};
	char token[128], ca[128], err[512];
	struct k8s_options o;
	size_t i, v;

	snprintf(token, sizeof(token), "%s/token", tmpdir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", tmpdir);
	write_file(token, "eyJhbGciOiJSUzI1NiJ9.payload.sig\n");
	write_file(ca, "-----BEGIN CERTIFICATE-----\n");
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		int r;

		for (v = 0; v < 6; v++) {
			const char *val = vectors[i].vars[v];
			char path[160];

			if (val && v == 1 && strcmp(val, "missing"))
				val = token;
			else if (val && v == 2 && strcmp(val, "missing"))
				val = ca;
			else if (val && (v == 1 || v == 2)) {
				snprintf(path, sizeof(path), "%s/missing", tmpdir);
				val = path;
			}
			if (val)
				setenv(env_vars[v], val, 1);
			else
				unsetenv(env_vars[v]);
		}
		err[0] = '\0';
		r = k8s_options_from_env(&o, err, sizeof(err));
		CHECKF(r == vectors[i].ret, "options %zu: %d (%s)", i, r, err);
		if (!r) {
			CHECKF(!strcmp(o.api_url, vectors[i].url), "options %zu: %s", i, o.api_url);
			CHECK(!strcmp(o.token_path, token) && !strcmp(o.ca_path, ca));
		} else {
			CHECKF(strstr(err, vectors[i].in_err), "options %zu: message \"%s\"", i, err);
		}
	}
	for (v = 0; v < 6; v++)
		unsetenv(env_vars[v]);
}

static void no_snapshot(void *ctx, const struct mesh_node *nodes, size_t n)
{
	(void)nodes;
	(void)n;
	++*(int *)ctx;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Options a source refuses, and a source whose API server is unreachable
 * (a closed port on 127.0.0.1: it backs off) still stops at once. */
static void test_source_start_stop(void)
{
	static const struct k8s_options bad[] = {
		{ .api_url = "http://127.0.0.1:1", .token_path = "t", .ca_path = "c", .node_name = "w" },
		{ .api_url = "https://127.0.0.1:1", .token_path = "", .ca_path = "c", .node_name = "w" },
		{ .api_url = "https://127.0.0.1:1", .token_path = "t", .ca_path = "c", .node_name = "" },
	};
	struct k8s_options o = { .api_url = "https://127.0.0.1:1", .node_name = "w" };
	struct k8s_source *s;
	uint8_t key[32] = { 1 };
	char err[512];
	int calls = 0;
	double t;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		s = k8s_source_start(&bad[i], no_snapshot, &calls, err, sizeof(err));
		CHECKF(!s && err[0], "bad options %zu", i);
		k8s_source_stop(s);
	}
	snprintf(o.token_path, sizeof(o.token_path), "%s/token", tmpdir);
	snprintf(o.ca_path, sizeof(o.ca_path), "%s/ca.crt", tmpdir);
	s = k8s_source_start(&o, no_snapshot, &calls, err, sizeof(err));
	if (!CHECKF(s, "start: %s", err))
		return;
	err[0] = '\0';
	CHECK(k8s_publish_key(s, key, 51820, err, sizeof(err)) < 0 && strstr(err, "127.0.0.1:1"));
	t = now_s();
	k8s_source_stop(s);
	t = now_s() - t;
	CHECKF(t < 2.0, "stop took %.3f s", t);
	CHECK(calls == 0);
}

void test_k8s(void)
{
	char path[96];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/xwg-test-k8s.XXXXXX");
	if (!CHECK(mkdtemp(tmpdir)))
		return;
	log_set_level(LOG_LEVEL_SILENT);
	test_parse_node();
	test_parse_event();
	test_parse_list();
	test_node_set();
	test_lines();
	test_status_message();
	test_options();
	test_source_start_stop();
	log_set_level(LOG_LEVEL_INFO);
	snprintf(path, sizeof(path), "%s/token", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/ca.crt", tmpdir);
	unlink(path);
	rmdir(tmpdir);
}
