// SPDX-License-Identifier: GPL-2.0
/* xwg-mesh: node-list parsing, reconcile diffs, configuration text, MTU. */
#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mesh/keyfile.h"
#include "mesh/metrics.h"
#include "mesh/netconf.h"
#include "mesh/nodes_file.h"
#include "mesh/reconcile.h"
#include "test.h"
#include "tests/suites.h"

/* Keys: base64 of 32 bytes of 0x01 / 0x02, and their hex. */
#define K1 "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define K2 "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
/* wg pubkey of base64 of 32 bytes of 0x03 (a private key). */
#define PUB3 "Xf7dO2vUf2+ijuFdlp1bsOpTd01Ii9r53xxuASSz7yI="
#define H1 "0101010101010101010101010101010101010101010101010101010101010101"
#define H2 "0202020202020202020202020202020202020202020202020202020202020202"

static const struct {
	const char *json;
	int ret;            /* 0 or -EINVAL */
	size_t n;           /* nodes on success */
	const char *err;    /* a substring of the message on failure */
} parse_vectors[] = {
	/* 1 */ { "{\"nodes\":[]}", 0, 0, NULL },
	/* 2 */ { "{\"nodes\":[{\"name\":\"a\",\"publicKey\":\"" K1 "\",\"port\":51821,"
		  "\"internalIPs\":[\"192.168.241.1\"],\"podCIDRs\":[\"10.244.1.0/24\"]}]}", 0, 1, NULL },
	/* 3 */ { "{\"nodes\":[{\"name\":\"b\",\"internalIPs\":[\"fd00::2\",\"192.168.241.2\"]}]}\n",
		  0, 1, NULL },
	/* 4 */ { "{\"nodes\":[{\"name\":\"c\",\"publicKey\":null,\"internalIPs\":[\"10.0.0.3\"],"
		  "\"podCIDRs\":null}]}", 0, 1, NULL },
	/* 5 */ { "{\"nodes\":[{\"name\":\"d\",\"publicKey\":\"\",\"internalIPs\":[\"10.0.0.4\"],"
		  "\"podCIDRs\":[\"fd10:244::/64\",\"10.244.4.0/24\"]}]}", 0, 1, NULL },
	/* 6 */ { "", -EINVAL, 0, "not valid JSON" },
	/* 7 */ { "{\"nodes\":[]} x", -EINVAL, 0, "not valid JSON" },
	/* 8 */ { "[]", -EINVAL, 0, "top level must be an object" },
	/* 9 */ { "{\"nodes\":{}}", -EINVAL, 0, "\"nodes\" must be an array" },
	/* 10 */ { "{\"node\":[]}", -EINVAL, 0, "unknown top-level field \"node\"" },
	/* 11 */ { "{\"nodes\":[1]}", -EINVAL, 0, "nodes[0]: not an object" },
	/* 12 */ { "{\"nodes\":[{\"internalIPs\":[\"10.0.0.1\"]}]}", -EINVAL, 0,
		   "nodes[0]: field \"name\" is missing" },
	/* 13 */ { "{\"nodes\":[{\"name\":\"Bad_Name\",\"internalIPs\":[\"10.0.0.1\"]}]}", -EINVAL, 0,
		   "nodes[0]: field \"name\" must be a DNS name" },
	/* 14 */ { "{\"nodes\":[{\"name\":\"a\"}]}", -EINVAL, 0,
		   "node \"a\": field \"internalIPs\" is missing" },
	/* 15 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[]}]}", -EINVAL, 0,
		   "node \"a\": field \"internalIPs\" must list 1 to 4" },
	/* 16 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.300\"]}]}", -EINVAL, 0,
		   "node \"a\": internalIPs[0] is not an IPv4 or IPv6 address" },
	/* 17 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\"],\"publicKey\":\"abc\"}]}",
		   -EINVAL, 0, "node \"a\": field \"publicKey\" is not a base64 WireGuard key" },
	/* 18 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\"],\"publicKey\":7}]}",
		   -EINVAL, 0, "node \"a\": field \"publicKey\" must be a string" },
	/* 19 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\"],\"port\":0}]}", -EINVAL,
		   0, "node \"a\": field \"port\" must be 1-65535, not 0" },
	/* 20 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\"],\"port\":\"51820\"}]}",
		   -EINVAL, 0, "node \"a\": field \"port\" must be an integer" },
	/* 21 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\"],\"podCIDRs\":[\"10.244.1.1/24\"]}]}",
		   -EINVAL, 0, "node \"a\": podCIDRs[0] \"10.244.1.1/24\" has host bits set" },
	/* 22 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\"],\"podCIDRs\":[\"10.244.1.0/33\"]}]}",
		   -EINVAL, 0, "node \"a\": podCIDRs[0] is not a prefix" },
	/* 23 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\"],\"podCIDRs\":[\"10.244.1.0/+8\"]}]}",
		   -EINVAL, 0, "podCIDRs[0] is not a prefix" },
	/* 24 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\"],\"podCidrs\":[]}]}",
		   -EINVAL, 0, "node \"a\": unknown field \"podCidrs\"" },
	/* 25 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\"]},"
		   "{\"name\":\"a\",\"internalIPs\":[\"10.0.0.2\"]}]}", -EINVAL, 0,
		   "node \"a\" is listed twice" },
	/* 26 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\"],\"publicKey\":\"" K1 "\"},"
		   "{\"name\":\"b\",\"internalIPs\":[\"10.0.0.2\"],\"publicKey\":\"" K1 "\"}]}", -EINVAL, 0,
		   "nodes \"a\" and \"b\" have the same publicKey" },
	/* 27 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\",\"10.0.0.1\"]}]}",
		   -EINVAL, 0, "internalIPs[1] is listed twice" },
	/* 28 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"1.1.1.1\",\"1.1.1.2\",\"1.1.1.3\","
		   "\"1.1.1.4\",\"1.1.1.5\"]}]}", -EINVAL, 0, "must list 1 to 4 addresses, not 5" },
	/* 29 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\"],\"port\":51820.5}]}",
		   -EINVAL, 0, "field \"port\" must be an integer" },
	/* 30 */ { "{\"nodes\":[{\"name\":\"-a\",\"internalIPs\":[\"10.0.0.1\"]}]}", -EINVAL, 0,
		   "must be a DNS name" },
	/* 31 */ { "{\"nodes\":[", -EINVAL, 0, "unexpected end of input" },
	/* 32 */ { "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\"],\"publicKey\":\""
		   "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\"}]}", -EINVAL, 0, "not a base64" },
};

static void test_parse(void)
{
	char err[512];

	for (size_t i = 0; i < sizeof(parse_vectors) / sizeof(parse_vectors[0]); i++) {
		struct mesh_node *nodes = NULL;
		size_t n = 99;
		int ret;

		err[0] = '\0';
		ret = mesh_nodes_parse(parse_vectors[i].json, strlen(parse_vectors[i].json), &nodes, &n,
				       err, sizeof(err));
		CHECKF(ret == parse_vectors[i].ret, "vector %zu: ret %d, want %d (%s)", i + 1, ret,
		       parse_vectors[i].ret, err);
		if (parse_vectors[i].ret == 0) {
			CHECKF(n == parse_vectors[i].n, "vector %zu: %zu nodes", i + 1, n);
			CHECKF(nodes != NULL, "vector %zu: no array", i + 1);
		} else {
			CHECKF(nodes == NULL && n == 0, "vector %zu: output on error", i + 1);
			CHECKF(strstr(err, parse_vectors[i].err), "vector %zu: message \"%s\", want \"%s\"",
			       i + 1, err, parse_vectors[i].err);
		}
		free(nodes);
	}
}

/* The fields of a valid node, one by one. */
static void test_parse_fields(void)
{
	const char *json = "{\"nodes\":[{\"name\":\"node-1.example\",\"publicKey\":\"" K1 "\","
			   "\"port\":51821,\"internalIPs\":[\"192.168.241.1\",\"fd00::1\"],"
			   "\"podCIDRs\":[\"10.244.1.0/24\",\"fd10:244:1::/64\"]},"
			   "{\"name\":\"b\",\"internalIPs\":[\"192.168.241.2\"]}]}";
	struct mesh_node *nodes;
	uint8_t k1[32];
	char err[256], text[64];
	size_t n;

	memset(k1, 1, sizeof(k1));
	if (!CHECK(mesh_nodes_parse(json, strlen(json), &nodes, &n, err, sizeof(err)) == 0 && n == 2))
		return;
	CHECK(!strcmp(nodes[0].name, "node-1.example"));
	CHECK(nodes[0].has_key && !memcmp(nodes[0].public_key, k1, 32));
	CHECK(nodes[0].port == 51821);
	CHECK(nodes[0].n_addrs == 2 && nodes[0].addrs[0].family == AF_INET &&
	      nodes[0].addrs[1].family == AF_INET6);
	mesh_addr_format(&nodes[0].addrs[1], text, sizeof(text));
	CHECK(!strcmp(text, "fd00::1"));
	CHECK(nodes[0].n_cidrs == 2);
	mesh_prefix_format(&nodes[0].cidrs[0], text, sizeof(text));
	CHECK(!strcmp(text, "10.244.1.0/24"));
	mesh_prefix_format(&nodes[0].cidrs[1], text, sizeof(text));
	CHECK(!strcmp(text, "fd10:244:1::/64"));
	CHECK(!nodes[1].has_key && nodes[1].port == MESH_DEFAULT_PORT && nodes[1].n_cidrs == 0);
	free(nodes);
}

/* Publishing a key rewrites only that node's entry. */
static void test_set_key(void)
{
	const char *json = "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\"]},"
			   "{\"name\":\"b\",\"publicKey\":\"" K1 "\",\"internalIPs\":[\"10.0.0.2\"],"
			   "\"podCIDRs\":[\"10.244.2.0/24\"]}]}";
	struct mesh_node *nodes;
	uint8_t k1[32], k2[32];
	char err[256], *out = NULL;
	size_t n;

	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));
	CHECK(mesh_nodes_set_key(json, strlen(json), "c", k2, 0, &out, err, sizeof(err)) == -ENOENT);
	CHECK(out == NULL && strstr(err, "node \"c\" is not listed"));
	if (!CHECK(mesh_nodes_set_key(json, strlen(json), "a", k2, 51999, &out, err, sizeof(err)) == 0))
		return;
	if (CHECK(mesh_nodes_parse(out, strlen(out), &nodes, &n, err, sizeof(err)) == 0 && n == 2)) {
		CHECK(!strcmp(nodes[0].name, "a") && nodes[0].has_key &&
		      !memcmp(nodes[0].public_key, k2, 32) && nodes[0].port == 51999);
		CHECK(!strcmp(nodes[1].name, "b") && nodes[1].has_key &&
		      !memcmp(nodes[1].public_key, k1, 32) && nodes[1].n_cidrs == 1 &&
		      nodes[1].port == MESH_DEFAULT_PORT);
		free(nodes);
	}
	free(out);
}

static struct mesh_node node_make(const char *name, uint8_t key, const char *ip, const char *cidr)
{
	struct mesh_node n;

	memset(&n, 0, sizeof(n));
	snprintf(n.name, sizeof(n.name), "%s", name);
	if (key) {
		n.has_key = true;
		memset(n.public_key, key, 32);
	}
	n.port = MESH_DEFAULT_PORT;
	mesh_addr_parse(ip, &n.addrs[0]);
	n.n_addrs = 1;
	if (cidr) {
		mesh_prefix_parse(cidr, &n.cidrs[0], NULL);
		n.n_cidrs = 1;
	}
	return n;
}

/* Nodes -> desired peers: self, keyless, our key and duplicate keys are
 * left out; allowed IPs are the pod CIDRs plus each node IP. */
static void test_desired(void)
{
	struct mesh_node nodes[6];
	struct mesh_peer peers[6];
	uint8_t self_key[32];
	char text[64];
	size_t np;

	memset(self_key, 9, sizeof(self_key));
	nodes[0] = node_make("self", 9, "10.0.0.1", "10.244.1.0/24");
	nodes[1] = node_make("b", 2, "10.0.0.2", "10.244.2.0/24");
	nodes[2] = node_make("nokey", 0, "10.0.0.3", NULL);
	nodes[3] = node_make("stale", 9, "10.0.0.4", NULL);
	nodes[4] = node_make("dup", 2, "10.0.0.5", NULL);
	nodes[5] = node_make("v6", 6, "fd00::6", "fd10::/64");
	mesh_peers_from_nodes(nodes, 6, "self", self_key, peers, &np, NULL, NULL);
	if (!CHECKF(np == 2, "%zu peers", np))
		return;
	CHECK(!strcmp(peers[0].name, "b") && peers[0].n_prefixes == 2 && peers[0].port == 51820);
	mesh_prefix_format(&peers[0].prefixes[0], text, sizeof(text));
	CHECKF(!strcmp(text, "10.0.0.2/32"), "%s", text);
	mesh_prefix_format(&peers[0].prefixes[1], text, sizeof(text));
	CHECKF(!strcmp(text, "10.244.2.0/24"), "%s", text);
	CHECK(!strcmp(peers[1].name, "v6") && peers[1].endpoint.family == AF_INET6);
	mesh_prefix_format(&peers[1].prefixes[0], text, sizeof(text));
	CHECKF(!strcmp(text, "fd00::6/128"), "%s", text);
}

static struct mesh_peer peer_of(const char *name, uint8_t key, const char *ip, const char *cidr)
{
	struct mesh_node n = node_make(name, key, ip, cidr);
	struct mesh_peer p;
	size_t np;

	mesh_peers_from_nodes(&n, 1, "-", NULL, &p, &np, NULL, NULL); /* "-": no node is self */
	return p;
}

static const struct {
	const char *what;
	int n_applied, n_desired;
	struct { const char *name; uint8_t key; const char *ip, *cidr; } applied[3], desired[3];
	int n_changes;
	struct { enum mesh_change_kind kind; uint8_t key, old_key; } changes[4];
} diff_vectors[] = {
	{ "no-op", 2, 2,
	  { { "a", 1, "10.0.0.1", "10.244.1.0/24" }, { "b", 2, "10.0.0.2", NULL } },
	  { { "b", 2, "10.0.0.2", NULL }, { "a", 1, "10.0.0.1", "10.244.1.0/24" } },
	  0, { { 0 } } },
	{ "add", 1, 2,
	  { { "a", 1, "10.0.0.1", NULL } },
	  { { "a", 1, "10.0.0.1", NULL }, { "c", 3, "10.0.0.3", NULL } },
	  1, { { MESH_CHANGE_ADD, 3, 0 } } },
	{ "remove", 2, 1,
	  { { "a", 1, "10.0.0.1", NULL }, { "b", 2, "10.0.0.2", NULL } },
	  { { "a", 1, "10.0.0.1", NULL } },
	  1, { { MESH_CHANGE_REMOVE, 0, 2 } } },
	{ "update key", 2, 2,
	  { { "a", 1, "10.0.0.1", NULL }, { "b", 2, "10.0.0.2", NULL } },
	  { { "a", 1, "10.0.0.1", NULL }, { "b", 7, "10.0.0.2", NULL } },
	  1, { { MESH_CHANGE_REKEY, 7, 2 } } },
	{ "update CIDRs", 1, 1,
	  { { "a", 1, "10.0.0.1", "10.244.1.0/24" } },
	  { { "a", 1, "10.0.0.1", "10.244.9.0/24" } },
	  1, { { MESH_CHANGE_UPDATE, 1, 0 } } },
	{ "update endpoint", 1, 1,
	  { { "a", 1, "10.0.0.1", NULL } },
	  { { "a", 1, "10.0.0.9", NULL } },
	  1, { { MESH_CHANGE_UPDATE, 1, 0 } } },
	{ "stray peer found at start", 1, 1,
	  { { "", 5, "10.0.0.5", NULL } },
	  { { "a", 1, "10.0.0.1", NULL } },
	  2, { { MESH_CHANGE_ADD, 1, 0 }, { MESH_CHANGE_REMOVE, 0, 5 } } },
	{ "name learnt for a peer found at start", 1, 1,
	  { { "", 1, "10.0.0.1", NULL } },
	  { { "a", 1, "10.0.0.1", NULL } },
	  1, { { MESH_CHANGE_UPDATE, 1, 0 } } },
	{ "key moves between nodes", 2, 1,
	  { { "a", 1, "10.0.0.1", NULL }, { "b", 2, "10.0.0.2", NULL } },
	  { { "b", 1, "10.0.0.2", NULL } },
	  2, { { MESH_CHANGE_UPDATE, 1, 0 }, { MESH_CHANGE_REMOVE, 0, 2 } } },
	{ "everything", 0, 0, { { 0 } }, { { 0 } }, 0, { { 0 } } },
};

static void test_diff(void)
{
	for (size_t v = 0; v < sizeof(diff_vectors) / sizeof(diff_vectors[0]); v++) {
		struct mesh_peer applied[8], desired[3];
		struct mesh_change changes[6];
		size_t nc, na = (size_t)diff_vectors[v].n_applied;
		int i;

		for (i = 0; i < diff_vectors[v].n_applied; i++)
			applied[i] = peer_of(diff_vectors[v].applied[i].name, diff_vectors[v].applied[i].key,
					     diff_vectors[v].applied[i].ip, diff_vectors[v].applied[i].cidr);
		for (i = 0; i < diff_vectors[v].n_desired; i++)
			desired[i] = peer_of(diff_vectors[v].desired[i].name, diff_vectors[v].desired[i].key,
					     diff_vectors[v].desired[i].ip, diff_vectors[v].desired[i].cidr);
		nc = mesh_diff(applied, na, desired, (size_t)diff_vectors[v].n_desired, changes);
		if (!CHECKF(nc == (size_t)diff_vectors[v].n_changes, "%s: %zu changes, want %d",
			    diff_vectors[v].what, nc, diff_vectors[v].n_changes))
			continue;
		for (i = 0; i < (int)nc; i++) {
			uint8_t key[32], old[32];

			memset(key, diff_vectors[v].changes[i].key, 32);
			memset(old, diff_vectors[v].changes[i].old_key, 32);
			CHECKF(changes[i].kind == diff_vectors[v].changes[i].kind, "%s: change %d kind %d",
			       diff_vectors[v].what, i, changes[i].kind);
			if (changes[i].kind != MESH_CHANGE_REMOVE)
				CHECKF(!memcmp(changes[i].peer.public_key, key, 32), "%s: change %d key",
				       diff_vectors[v].what, i);
			if (changes[i].kind == MESH_CHANGE_REMOVE || changes[i].kind == MESH_CHANGE_REKEY)
				CHECKF(!memcmp(changes[i].old_key, old, 32), "%s: change %d old key",
				       diff_vectors[v].what, i);
		}
		/* Committing every change reaches the desired state: a second
		 * diff is empty. */
		for (i = 0; i < (int)nc; i++)
			mesh_applied_commit(applied, &na, &changes[i]);
		nc = mesh_diff(applied, na, desired, (size_t)diff_vectors[v].n_desired, changes);
		CHECKF(nc == 0 && na == (size_t)diff_vectors[v].n_desired,
		       "%s: after commit %zu changes, %zu applied", diff_vectors[v].what, nc, na);
	}
}

static void test_uapi_text(void)
{
	static const struct {
		enum mesh_change_kind kind;
		const char *want;
	} vectors[] = {
		{ MESH_CHANGE_ADD, "set=1\npublic_key=" H1 "\nendpoint=10.0.0.1:51820\n"
				   "replace_allowed_ips=true\nallowed_ip=10.0.0.1/32\n"
				   "allowed_ip=10.244.1.0/24\n\n" },
		{ MESH_CHANGE_UPDATE, "set=1\npublic_key=" H1 "\nendpoint=10.0.0.1:51820\n"
				      "replace_allowed_ips=true\nallowed_ip=10.0.0.1/32\n"
				      "allowed_ip=10.244.1.0/24\n\n" },
		{ MESH_CHANGE_REKEY, "set=1\npublic_key=" H2 "\nremove=true\npublic_key=" H1
				     "\nendpoint=10.0.0.1:51820\nreplace_allowed_ips=true\n"
				     "allowed_ip=10.0.0.1/32\nallowed_ip=10.244.1.0/24\n\n" },
		{ MESH_CHANGE_REMOVE, "set=1\npublic_key=" H2 "\nremove=true\n\n" },
	};
	struct mesh_change c;
	struct mesh_buf b = { 0 };
	uint8_t priv[32];

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		memset(&c, 0, sizeof(c));
		c.kind = vectors[i].kind;
		c.peer = peer_of("a", 1, "10.0.0.1", "10.244.1.0/24");
		memset(c.old_key, 2, 32);
		mesh_change_uapi(&c, &b);
		CHECKF(!b.failed && !strcmp(b.p, vectors[i].want), "vector %zu:\n%s", i + 1, b.p);
		mesh_buf_free(&b);
	}
	c.peer = peer_of("v6", 1, "fd00::1", NULL);
	c.peer.port = 5;
	c.kind = MESH_CHANGE_ADD;
	mesh_change_uapi(&c, &b);
	CHECKF(strstr(b.p, "\nendpoint=[fd00::1]:5\n") && strstr(b.p, "allowed_ip=fd00::1/128\n"),
	       "%s", b.p);
	mesh_buf_free(&b);

	memset(priv, 1, sizeof(priv));
	mesh_device_uapi(priv, 51820, 51820, &b);
	CHECKF(!strcmp(b.p, "set=1\nprivate_key=" H1 "\nlisten_port=51820\nfwmark=51820\n\n"), "%s",
	       b.p);
	mesh_buf_free(&b);
	mesh_device_uapi(NULL, 0, 0, &b);
	CHECK(!strcmp(b.p, "set=1\n\n"));
	mesh_buf_free(&b);
}

/* A `get` answer as xwgd and wireguard-go write it. */
static void test_get_parse(void)
{
	static const char answer[] =
		"private_key=" H1 "\nlisten_port=51820\nfwmark=51820\n"
		"public_key=" H2 "\npreshared_key=" "0000000000000000000000000000000000000000000000000000000000000000"
		"\nprotocol_version=1\nendpoint=[fd00::2]:51821\nlast_handshake_time_sec=1700000000\n"
		"last_handshake_time_nsec=5\ntx_bytes=100\nrx_bytes=200\npersistent_keepalive_interval=0\n"
		"allowed_ip=10.244.2.0/24\nallowed_ip=10.0.0.2/32\n"
		"public_key=" H1 "\nendpoint=10.0.0.3:51820\nallowed_ip=10.0.0.3/32\n"
		"errno=0\n\n";
	struct mesh_iface_state st;
	uint8_t k1[32];
	char text[64];
	int value;

	memset(k1, 1, sizeof(k1));
	if (!CHECK(mesh_iface_state_parse(answer, sizeof(answer) - 1, &st) == 0))
		return;
	CHECK(st.has_private_key && !memcmp(st.private_key, k1, 32));
	CHECK(st.listen_port == 51820 && st.fwmark == 51820 && st.errno_value == 0);
	if (CHECK(st.n_peers == 2)) {
		CHECK(st.peers[0].rx_bytes == 200 && st.peers[0].tx_bytes == 100);
		CHECK(st.peers[0].last_handshake_sec == 1700000000);
		CHECK(st.peers[0].peer.port == 51821 && st.peers[0].peer.endpoint.family == AF_INET6);
		CHECK(st.peers[0].peer.n_prefixes == 2);
		mesh_prefix_format(&st.peers[0].peer.prefixes[0], text, sizeof(text));
		CHECKF(!strcmp(text, "10.0.0.2/32"), "sorted: %s", text);
		CHECK(!memcmp(st.peers[1].peer.public_key, k1, 32) && st.peers[1].peer.port == 51820);
	}
	mesh_iface_state_free(&st);

	CHECK(mesh_uapi_parse_errno("errno=-22\n\n", 11, &value) == 0 && value == -22);
	CHECK(mesh_uapi_parse_errno("errno=0\n\n", 9, &value) == 0 && value == 0);
	CHECK(mesh_uapi_parse_errno("errno=x\n\n", 9, &value) == -EINVAL);
	CHECK(mesh_uapi_parse_errno("\n", 1, &value) == -EINVAL);
	CHECK(mesh_iface_state_parse("public_key=zz\nerrno=0\n\n", 23, &st) == -EINVAL);
	CHECK(mesh_iface_state_parse("endpoint=1.2.3.4:5\n", 19, &st) == -EINVAL);
}

static void test_mtu(void)
{
	static const struct {
		unsigned int underlay;
		bool all_v4;
		unsigned int want;
	} vectors[] = {
		{ 1500, true, 1440 },  { 1500, false, 1420 }, { 9001, true, 8941 },
		{ 9000, false, 8920 }, { 1280, false, 1200 }, { 127, true, 0 },
		{ 128, true, 68 },     { 0, false, 0 },       { 65535, true, 65475 },
	};

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		CHECKF(mesh_mtu_compute(vectors[i].underlay, vectors[i].all_v4) == vectors[i].want,
		       "vector %zu: %u", i + 1, mesh_mtu_compute(vectors[i].underlay, vectors[i].all_v4));
}

static void test_prefix(void)
{
	static const struct {
		const char *in;
		int ret, host_bits;
		const char *out;
	} vectors[] = {
		{ "10.0.0.0/8", 0, 0, "10.0.0.0/8" },  { "10.1.2.3/8", 0, 1, "10.0.0.0/8" },
		{ "0.0.0.0/0", 0, 0, "0.0.0.0/0" },    { "fd00::1/64", 0, 1, "fd00::/64" },
		{ "10.0.0.0/", -EINVAL, 0, NULL },      { "10.0.0.0", -EINVAL, 0, NULL },
		{ "/8", -EINVAL, 0, NULL },             { "10.0.0.0/0x8", -EINVAL, 0, NULL },
		{ "::/129", -EINVAL, 0, NULL },         { "10.0.0.0/ 8", -EINVAL, 0, NULL },
	};
	struct mesh_prefix p;
	char text[64];
	int hb;

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		int ret = mesh_prefix_parse(vectors[i].in, &p, &hb);

		if (!CHECKF(ret == vectors[i].ret, "vector %zu: %d", i + 1, ret) || ret)
			continue;
		mesh_prefix_format(&p, text, sizeof(text));
		CHECKF(!strcmp(text, vectors[i].out) && hb == vectors[i].host_bits,
		       "vector %zu: %s %d", i + 1, text, hb);
	}
}

/* The rules promtool and the Prometheus conventions hold the text to, as far
 * as a unit test can see them: every family has HELP then TYPE once, before
 * its samples, which follow each other; `_total` names are counters and
 * counters end in `_total`; every sample's name belongs to the family in
 * force. Returns the number of families. */
static int metrics_lint(const char *text)
{
	char seen[64][96], cur[96] = "", type[16] = "";
	int n_seen = 0;
	const char *line = text;

	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char name[96];

		if (!CHECKF(nl, "no newline after \"%.40s\"", line))
			return -1;
		if (!strncmp(line, "# HELP ", 7)) {
			if (sscanf(line + 7, "%95s", name) != 1)
				return -1;
			for (int i = 0; i < n_seen; i++)
				if (!CHECKF(strcmp(seen[i], name), "family %s twice", name))
					return -1;
			if (n_seen == 64)
				return -1;
			snprintf(seen[n_seen++], sizeof(seen[0]), "%s", name);
			snprintf(cur, sizeof(cur), "%s", name);
			type[0] = '\0';
		} else if (!strncmp(line, "# TYPE ", 7)) {
			if (sscanf(line + 7, "%95s %15s", name, type) != 2 ||
			    !CHECKF(!strcmp(name, cur), "TYPE %s under HELP %s", name, cur))
				return -1;
			bool total = strlen(name) > 6 && !strcmp(name + strlen(name) - 6, "_total");

			CHECKF(total == !strcmp(type, "counter"), "%s is a %s", name, type);
		} else {
			size_t nlen = strcspn(line, "{ ");

			CHECKF(nlen == strlen(cur) && !strncmp(line, cur, nlen) && type[0],
			       "sample \"%.*s\" outside its family (in %s)", (int)len, line, cur);
			CHECKF(line[nlen] == '{' || line[nlen] == ' ', "sample \"%.*s\"", (int)len,
			       line);
		}
		line = nl + 1;
	}
	return n_seen;
}

static void test_metrics_text(void)
{
	struct mesh_stats stats;
	struct mesh_peer_name name;
	struct mesh_iface_state st;
	struct mesh_peer_status ps[2];
	struct mesh_fastpath *fp = calloc(1, sizeof(*fp));
	struct mesh_fastpath_peer fpp;
	struct mesh_buf b = { 0 };
	struct sockaddr_storage ss;

	if (!CHECK(fp))
		return;
	memset(&stats, 0, sizeof(stats));
	snprintf(stats.ifname, sizeof(stats.ifname), "xwg0");
	stats.reconciles = 3;
	stats.mtu = 1420;
	memset(&name, 0, sizeof(name));
	memset(name.public_key, 1, 32);
	snprintf(name.name, sizeof(name.name), "node-a");
	stats.names = &name;
	stats.n_names = 1;
	memset(&st, 0, sizeof(st));
	memset(ps, 0, sizeof(ps));
	memset(ps[0].peer.public_key, 1, 32);
	ps[0].rx_bytes = 12;
	ps[0].last_handshake_sec = 1700000000;
	ps[0].peer.has_endpoint = true;
	ps[0].peer.endpoint.family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", ps[0].peer.endpoint.addr);
	ps[0].peer.port = 51820;
	ps[0].peer.n_prefixes = 2;
	mesh_prefix_parse("10.0.0.0/24", &ps[0].peer.prefixes[0], NULL);
	mesh_prefix_parse("fd00::/64", &ps[0].peer.prefixes[1], NULL);
	memset(ps[1].peer.public_key, 2, 32);
	ps[1].peer.has_endpoint = true;
	ps[1].peer.endpoint.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", ps[1].peer.endpoint.addr);
	ps[1].peer.port = 7;
	ps[1].peer.prefixes_overflow = true;
	st.peers = ps;
	st.n_peers = 2;
	st.has_private_key = true;
	memset(st.private_key, 3, 32);
	st.listen_port = 51820;
	memset(&fpp, 0, sizeof(fpp));
	memset(fpp.public_key, 1, 32);
	fpp.stats.tx_packets = 5;
	fp->read = true;
	fp->peers = &fpp;
	fp->n_peers = 1;
	fp->drops[XWG_DROP_RX_REPLAY] = 7;
	fp->drops[XWG_PASS_RX_TOO_BIG_FOR_XSK] = 9;
	fp->n_xsks = 1;
	snprintf(fp->xsks[0].underlay, sizeof(fp->xsks[0].underlay), "eth0");
	fp->xsks[0].stats.ifindex = 2;
	fp->xsks[0].stats.queue = 3;
	fp->xsks[0].stats.rx_ring_full = 11;

	/* What each rendering must and must not hold, line by line. */
	const struct mesh_metrics_iface one_full[] = {
		{ .ifname = "xwg0", .st = &st, .fp = fp },
	};
	const struct mesh_metrics_iface one_uapi[] = {
		{ .ifname = "xwg0", .st = &st, .fp = NULL },
	};
	struct mesh_event_counts *evc = mesh_event_counts_new(4);
	struct mesh_event ev = { .kind = MESH_EVENT_SUBSCRIBED };

	if (!CHECK(evc))
		return;
	mesh_event_counts_apply(evc, &ev);
	ev = (struct mesh_event){ .kind = MESH_EVENT_HANDSHAKE_COMPLETED,
				  .role = MESH_EVENT_RESPONDER };
	memset(ev.peer, 1, 32);
	mesh_event_counts_apply(evc, &ev);
	ev.kind = MESH_EVENT_ENDPOINT_CHANGED;
	ev.cause = MESH_EVENT_ROAMING;
	mesh_event_counts_apply(evc, &ev);
	mesh_event_counts_apply(evc, &ev);
	ev = (struct mesh_event){ .kind = MESH_EVENT_EVENTS_LOST, .count = 5 };
	mesh_event_counts_apply(evc, &ev);
	mesh_event_counts_skip(evc, MESH_EVENT_SKIP_TOO_LONG);
	const struct mesh_metrics_iface with_events[] = {
		{ .ifname = "xwg0", .st = &st, .fp = NULL, .ev = evc },
	};
	const struct mesh_metrics_iface two_exported[] = {
		{ .ifname = "wg0", .st = &st, .fp = fp },
		{ .ifname = "wg1", .st = NULL, .fp = NULL },
	};
	static const struct {
		const char *what;
		bool agent;
		int ifs;            /* 0: one_full, 1: one_uapi, 2: two_exported, 3: with_events */
		const char *want[8];
		const char *absent[6];
	} cases[] = {
		{ "agent, socket and fast path", true, 0,
		  { "# TYPE xwg_peer_receive_bytes_total counter\n",
		    "\nxwg_peer_receive_bytes_total{interface=\"xwg0\",public_key=\"" K1
		    "\",node=\"node-a\"} 12\n",
		    "\nxwg_peer_transmit_packets_total{interface=\"xwg0\",public_key=\"" K1
		    "\",node=\"node-a\"} 5\n",
		    "\nxwg_fastpath_dropped_packets_total{interface=\"xwg0\",reason=\"xdp_rx_replay\"} 7\n",
		    "\nxwg_fastpath_passed_to_stack_packets_total{interface=\"xwg0\",reason=\"too_big_for_xsk\"} 9\n",
		    "\nxwg_xsk_rx_ring_full_total{interface=\"xwg0\",underlay=\"eth0\",queue=\"3\"} 11\n",
		    "\nxwg_fastpath_up{interface=\"xwg0\"} 1\n",
		    "\nxwg_mesh_reconciles_total{interface=\"xwg0\"} 3\n" },
		  { "passed_too_big", "xwg_drops_total", "xwg_mesh_fastpath_read", "node=\"\"" } },
		{ "agent: peer info, a peer of no node", true, 0,
		  { "\nxwg_peer_info{interface=\"xwg0\",public_key=\"" K1 "\",node=\"node-a\","
		    "endpoint=\"192.0.2.1:51820\",allowed_ips=\"10.0.0.0/24,fd00::/64\"} 1\n",
		    "\nxwg_peer_info{interface=\"xwg0\",public_key=\"" K2 "\","
		    "endpoint=\"[2001:db8::1]:7\",allowed_ips=\",...\"} 1\n",
		    "\nxwg_peer_last_handshake_seconds{interface=\"xwg0\",public_key=\"" K1
		    "\",node=\"node-a\"} 1700000000\n",
		    "\nxwg_mesh_mtu_bytes{interface=\"xwg0\"} 1420\n",
		    "\nxwg_uapi_up{interface=\"xwg0\"} 1\n" },
		  { NULL } },
		{ "the interface's own key", false, 1,
		  { "\nxwg_interface_info{interface=\"xwg0\",public_key=\"" PUB3 "\","
		    "listen_port=\"51820\"} 1\n" },
		  { NULL } },
		{ "agent, configuration socket only", true, 1,
		  { "\nxwg_fastpath_up{interface=\"xwg0\"} 0\n",
		    "\nxwg_peer_transmit_bytes_total{interface=\"xwg0\",public_key=\"" K2 "\"} 0\n" },
		  { "xwg_peer_transmit_packets_total", "xwg_xsk_", "xwg_fastpath_dropped" } },
		{ "agent, event counts", true, 3,
		  { "\nxwg_events_up{interface=\"xwg0\"} 1\n",
		    "\nxwg_events_lost_total{interface=\"xwg0\"} 5\n",
		    "\nxwg_events_skipped_lines_total{interface=\"xwg0\",reason=\"too_long\"} 1\n",
		    "\nxwg_events_skipped_lines_total{interface=\"xwg0\",reason=\"peer_table_full\"} 0\n",
		    "\nxwg_peer_handshakes_completed_total{interface=\"xwg0\",public_key=\"" K1
		    "\",node=\"node-a\",role=\"responder\"} 1\n",
		    "\nxwg_peer_handshakes_completed_total{interface=\"xwg0\",public_key=\"" K1
		    "\",node=\"node-a\",role=\"initiator\"} 0\n",
		    "\nxwg_peer_endpoint_changes_total{interface=\"xwg0\",public_key=\"" K1
		    "\",node=\"node-a\",cause=\"roaming\"} 2\n",
		    "# TYPE xwg_peer_endpoint_changes_total counter\n" },
		  { "xwg_fastpath_dropped", NULL } },
		{ "exporter, two interfaces, one down", false, 2,
		  { "\nxwg_uapi_up{interface=\"wg0\"} 1\nxwg_uapi_up{interface=\"wg1\"} 0\n",
		    "\nxwg_fastpath_up{interface=\"wg1\"} 0\n",
		    "\nxwg_peer_receive_bytes_total{interface=\"wg0\",public_key=\"" K1 "\"} 12\n",
		    "\nxwg_xsk_rx_dropped_total{interface=\"wg0\",underlay=\"eth0\",queue=\"3\"} 0\n" },
		  { "xwg_mesh_", "node=", "interface=\"xwg0\"" } },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct mesh_metrics_iface *ifs =
			cases[c].ifs == 0 ? one_full : cases[c].ifs == 1 ? one_uapi :
			cases[c].ifs == 3 ? with_events : two_exported;

		mesh_metrics_render(cases[c].agent ? &stats : NULL, ifs, cases[c].ifs == 2 ? 2 : 1,
				    &b);
		if (!CHECKF(!b.failed && b.p, "%s: no text", cases[c].what))
			continue;
		CHECKF(metrics_lint(b.p) > 0, "%s: the text breaks the format's rules",
		       cases[c].what);
		for (size_t i = 0; i < 8 && cases[c].want[i]; i++)
			CHECKF(strstr(b.p, cases[c].want[i]), "%s: no %s", cases[c].what,
			       cases[c].want[i]);
		for (size_t i = 0; i < 6 && cases[c].absent[i]; i++)
			CHECKF(!strstr(b.p, cases[c].absent[i]), "%s: has %s", cases[c].what,
			       cases[c].absent[i]);
		mesh_buf_free(&b);
	}
	free(fp);
	mesh_event_counts_free(evc);

	CHECK(mesh_metrics_parse_addr("127.0.0.1:9586", &ss) == 0 && ss.ss_family == AF_INET);
	CHECK(mesh_metrics_parse_addr("[::1]:9586", &ss) == 0 && ss.ss_family == AF_INET6);
	CHECK(mesh_metrics_parse_addr("127.0.0.1", &ss) == -EINVAL);
	CHECK(mesh_metrics_parse_addr("127.0.0.1:0", &ss) == -EINVAL);
	CHECK(mesh_metrics_parse_addr("127.0.0.1:65536", &ss) == -EINVAL);
	CHECK(mesh_metrics_parse_addr("localhost:80", &ss) == -EINVAL);
}

/* --exporter's interface list. */
static void test_metrics_ifnames(void)
{
	static const struct {
		const char *text;
		int ret;
		size_t n;
		const char *last;
	} cases[] = {
		{ "wg0", 0, 1, "wg0" },
		{ "wg0,wg1", 0, 2, "wg1" },
		{ "a,b,c", 0, 3, "c" },
		{ "abcdefghijklmno", 0, 1, "abcdefghijklmno" },  /* 15: IFNAMSIZ - 1 */
		{ "abcdefghijklmnop", -EINVAL, 0, NULL },         /* 16 */
		{ "", -EINVAL, 0, NULL },
		{ ",", -EINVAL, 0, NULL },
		{ "wg0,", -EINVAL, 0, NULL },
		{ ",wg0", -EINVAL, 0, NULL },
		{ "wg0,,wg1", -EINVAL, 0, NULL },
		{ "wg0,wg0", -EINVAL, 0, NULL },
		{ "wg 0", -EINVAL, 0, NULL },
		{ "wg/0", -EINVAL, 0, NULL },
		{ "..", -EINVAL, 0, NULL },
		{ "a,b,c,d", -E2BIG, 0, NULL },                   /* max 3 below */
	};
	char names[3][IF_NAMESIZE];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t n = 99;
		int ret = mesh_metrics_parse_ifnames(cases[c].text, names, 3, &n);

		CHECKF(ret == cases[c].ret, "\"%s\": %d, want %d", cases[c].text, ret,
		       cases[c].ret);
		if (ret || cases[c].ret)
			continue;
		CHECKF(n == cases[c].n && !strcmp(names[n - 1], cases[c].last), "\"%s\": %zu names",
		       cases[c].text, n);
	}
}

static bool write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return false;
	fputs(text, f);
	return fclose(f) == 0;
}

/* The key file: created 0600 in a new 0700 directory, loaded back the
 * same, replaced by a rotation, refused with a message when garbled. */
static void test_keyfile(void)
{
	char dir[] = "/tmp/xwg-mesh-test.XXXXXX", path[256], err[512];
	uint8_t priv[32], pub[32], priv2[32], pub2[32], derived[32];
	struct stat st;
	bool created;

	if (!CHECK(mkdtemp(dir)))
		return;
	snprintf(path, sizeof(path), "%s/sub/private.key", dir);
	CHECK(mesh_key_load_or_create(path, priv, pub, &created, err, sizeof(err)) == 0 && created);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	snprintf(err, sizeof(err), "%s/sub", dir);
	CHECK(stat(err, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(crypto_scalarmult_base(derived, priv) == 0 && !memcmp(derived, pub, 32));
	CHECK((priv[0] & 7) == 0 && (priv[31] & 0xc0) == 0x40); /* clamped */
	CHECK(mesh_key_load_or_create(path, priv2, pub2, &created, err, sizeof(err)) == 0 &&
	      !created && !memcmp(priv, priv2, 32) && !memcmp(pub, pub2, 32));
	CHECK(mesh_key_rotate(path, priv2, pub2, err, sizeof(err)) == 0 && memcmp(pub, pub2, 32));
	CHECK(mesh_key_load_or_create(path, priv, pub, &created, err, sizeof(err)) == 0 &&
	      !memcmp(priv, priv2, 32) && !memcmp(pub, pub2, 32));
	/* Loosened permissions are tightened again. */
	CHECK(chmod(path, 0644) == 0);
	CHECK(mesh_key_load_or_create(path, priv, pub, &created, err, sizeof(err)) == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(write_text(path, "not a key\n"));
	CHECK(mesh_key_load_or_create(path, priv, pub, &created, err, sizeof(err)) == -EINVAL);
	CHECKF(strstr(err, "does not hold one base64 private key"), "%s", err);
	CHECK(write_text(path, K1 "\n"));
	CHECK(mesh_key_load_or_create(path, priv, pub, &created, err, sizeof(err)) == 0);
	CHECK(mesh_key_decode(K1, strlen(K1), priv) == 0 && priv[0] == 1);
	CHECK(mesh_key_decode(K1 "x", strlen(K1) + 1, priv) == -EINVAL);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
	sodium_memzero(priv, sizeof(priv));
	sodium_memzero(priv2, sizeof(priv2));
}

/* Publishing into the shared file: rewritten by rename (a new inode), the
 * other entries intact, a no-op when already up to date, an error naming
 * the node when it is not listed. */
static void test_publish(void)
{
	char dir[] = "/tmp/xwg-mesh-test.XXXXXX", path[256], lock[300], err[512];
	struct mesh_node *nodes;
	struct stat before, after;
	uint8_t k2[32];
	size_t n;
	int changed;

	memset(k2, 2, sizeof(k2));
	if (!CHECK(mkdtemp(dir)))
		return;
	snprintf(path, sizeof(path), "%s/nodes.json", dir);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	CHECK(write_text(path, "{\"nodes\":[{\"name\":\"a\",\"internalIPs\":[\"10.0.0.1\"]},"
			       "{\"name\":\"b\",\"publicKey\":\"" K1 "\",\"internalIPs\":[\"10.0.0.2\"]}]}"));
	CHECK(stat(path, &before) == 0);
	CHECK(mesh_nodes_file_publish_key(path, "a", k2, 0, &changed, err, sizeof(err)) == 0 &&
	      changed == 1);
	CHECK(stat(path, &after) == 0 && after.st_ino != before.st_ino);
	if (CHECK(mesh_nodes_file_read(path, &nodes, &n, err, sizeof(err)) == 0 && n == 2)) {
		CHECK(nodes[0].has_key && !memcmp(nodes[0].public_key, k2, 32));
		CHECK(nodes[1].has_key && nodes[1].public_key[0] == 1);
		free(nodes);
	}
	CHECK(mesh_nodes_file_publish_key(path, "a", k2, 0, &changed, err, sizeof(err)) == 0 &&
	      changed == 0);
	CHECK(mesh_nodes_file_publish_key(path, "zz", k2, 0, &changed, err, sizeof(err)) == -ENOENT);
	CHECKF(strstr(err, "node \"zz\" is not listed"), "%s", err);
	CHECK(mesh_nodes_file_read("/nonexistent/nodes.json", &nodes, &n, err, sizeof(err)) == -ENOENT);
	CHECKF(strstr(err, "cannot open /nonexistent/nodes.json"), "%s", err);
	unlink(path);
	unlink(lock);
	rmdir(dir);
}

void test_mesh(void)
{
	test_parse();
	test_parse_fields();
	test_set_key();
	test_desired();
	test_diff();
	test_uapi_text();
	test_get_parse();
	test_mtu();
	test_prefix();
	test_metrics_text();
	test_metrics_ifnames();
	test_keyfile();
	test_publish();
}
