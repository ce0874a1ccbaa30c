// SPDX-License-Identifier: GPL-2.0
/*
 * The device's configuration semantics without sockets or root: a
 * transaction is parsed by uapi.c, applied by device_config_set, read back
 * by device_config_get, and compared with what wireguard-go prints.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/device.h"
#include "ctl/handshake/crypto.h"
#include "ctl/uapi.h"
#include "test.h"
#include "tests/test_node.h"
#include "tests/suites.h"

/* Keys as the configuration socket writes them (hex). K0 is clamped so it
 * reads back unchanged; P0 is its public key. */
#define K0 "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define P1 "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33"
#define P2 "58e6c7a6d2b1e67a24c70e3fae3daa9e32b6bd3e5e3ae1e2e8ab1a0e3a1a0b77"

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line))) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
		p += n;
	}
	return false;
}

static size_t count_lines(const char *text, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);
	const char *p = text;

	for (; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
		n += !strncmp(p, prefix, len);
	return n;
}

void test_device(void)
{
	static const struct {
		const char *name;
		const char *set;         /* one transaction */
		int ret;
		const char *want[4];     /* lines the get reply must have */
		const char *absent[2];   /* line starts it must not have */
		size_t peers, allowed;   /* public_key= and allowed_ip= lines */
	} steps[] = {
		/* 1 */ { "private key and two peers",
			  "private_key=" K0 "\npublic_key=" P1 "\nallowed_ip=10.0.0.0/24\n"
			  "allowed_ip=fd00::/64\npublic_key=" P2 "\nallowed_ip=10.0.1.1/32\n"
			  "persistent_keepalive_interval=25\n\n", 0,
			  { "private_key=" K0, "public_key=" P1, "allowed_ip=fd00::/64",
			    "persistent_keepalive_interval=25" }, { NULL }, 2, 3 },
		/* 2 */ { "update_only on an unknown peer adds nothing",
			  "public_key=" K0 "\nupdate_only=true\nallowed_ip=10.9.0.0/16\n\n", 0,
			  { NULL }, { "allowed_ip=10.9.0.0/16" }, 2, 3 },
		/* 3 */ { "a prefix moves to the peer that claims it",
			  "public_key=" P2 "\nallowed_ip=10.0.0.0/24\n\n", 0,
			  { "allowed_ip=10.0.0.0/24" }, { NULL }, 2, 3 },
		/* 4 */ { "allowed_ip=- removes one prefix of that peer",
			  "public_key=" P1 "\nallowed_ip=-fd00::/64\n\n", 0,
			  { NULL }, { "allowed_ip=fd00::/64" }, 2, 2 },
		/* 5 */ { "replace_allowed_ips",
			  "public_key=" P2 "\nreplace_allowed_ips=true\nallowed_ip=192.0.2.0/24\n\n", 0,
			  { "allowed_ip=192.0.2.0/24" }, { "allowed_ip=10.0.1.1/32" }, 2, 1 },
		/* 6 */ { "preshared key and endpoint",
			  "public_key=" P1 "\npreshared_key=" P2 "\nendpoint=[2001:db8::1]:51820\n\n", 0,
			  { "preshared_key=" P2, "endpoint=[2001:db8::1]:51820" }, { NULL }, 2, 1 },
		/* 7 */ { "an invalid line applies nothing",
			  "public_key=" P1 "\nremove=true\npublic_key=" P2 "\nallowed_ip=10.0.0.0/33\n\n",
			  -22, { "public_key=" P1 }, { NULL }, 2, 1 },
		/* 8 */ { "remove a peer",
			  "public_key=" P1 "\nremove=true\n\n", 0,
			  { "public_key=" P2 }, { "public_key=" P1 }, 1, 1 },
		/* 9 */ { "replace_peers",
			  "replace_peers=true\npublic_key=" P1 "\nallowed_ip=10.1.0.0/16\n\n", 0,
			  { "public_key=" P1, "allowed_ip=10.1.0.0/16" }, { "public_key=" P2 }, 1, 1 },
		/* 10 */ { "an all-zero private key clears it (wg set private-key /dev/null)",
			  "private_key=0000000000000000000000000000000000000000000000000000000000000000\n\n",
			  0, { "public_key=" P1 }, { "private_key=" }, 1, 1 },
		/* 11 */ { "and a key can be set again",
			  "private_key=" K0 "\n\n", 0, { "private_key=" K0 }, { NULL }, 1, 1 },
	};
	struct wg_device dev;
	size_t i, j;

	CHECK(device_init(&dev, "test0", 2) == 0);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char *out;
		int ret = test_config_apply(&dev, steps[i].set);

		CHECKF(ret == steps[i].ret, "step %zu (%s): ret %d", i + 1, steps[i].name, ret);
		out = test_config_get(&dev);
		for (j = 0; j < 4 && steps[i].want[j]; j++)
			CHECKF(has_line(out, steps[i].want[j]), "step %zu (%s): missing %s",
			       i + 1, steps[i].name, steps[i].want[j]);
		for (j = 0; j < 2 && steps[i].absent[j]; j++)
			CHECKF(!count_lines(out, steps[i].absent[j]), "step %zu (%s): unexpected %s",
			       i + 1, steps[i].name, steps[i].absent[j]);
		CHECKF(count_lines(out, "public_key=") == steps[i].peers &&
		       count_lines(out, "allowed_ip=") == steps[i].allowed,
		       "step %zu (%s): %zu peers, %zu allowed IPs", i + 1, steps[i].name,
		       count_lines(out, "public_key="), count_lines(out, "allowed_ip="));
		free(out);
	}

	/* Our own public key as a peer is ignored; setting a private key
	 * whose public key is a configured peer removes that peer. */
	{
		uint8_t priv[32], pub[32];
		char set[256], hex[65];
		char *out;

		test_rand_bytes(priv, 32);
		crypto_clamp(priv);
		crypto_public_key(pub, priv);
		for (j = 0; j < 32; j++)
			snprintf(hex + 2 * j, 3, "%02x", pub[j]);
		snprintf(set, sizeof(set), "public_key=%s\nallowed_ip=10.7.0.0/16\n\n", hex);
		CHECK(test_config_apply(&dev, set) == 0);
		out = test_config_get(&dev);
		CHECK(count_lines(out, "public_key=") == 2);
		free(out);
		for (j = 0; j < 32; j++)
			snprintf(hex + 2 * j, 3, "%02x", priv[j]);
		snprintf(set, sizeof(set), "private_key=%s\n\n", hex);
		CHECK(test_config_apply(&dev, set) == 0);
		out = test_config_get(&dev);
		CHECK(count_lines(out, "public_key=") == 1);
		CHECK(!has_line(out, "allowed_ip=10.7.0.0/16"));
		/* ... and a peer with that key is ignored from now on. */
		for (j = 0; j < 32; j++)
			snprintf(hex + 2 * j, 3, "%02x", pub[j]);
		snprintf(set, sizeof(set), "public_key=%s\nallowed_ip=10.8.0.0/16\n\n", hex);
		CHECK(test_config_apply(&dev, set) == 0);
		free(out);
		out = test_config_get(&dev);
		CHECK(count_lines(out, "public_key=") == 1 && !has_line(out, "allowed_ip=10.8.0.0/16"));
		free(out);
	}
	device_uninit(&dev);

	/* The peer limit, at its edge: a transaction that would exceed it is
	 * refused whole, duplicates and removals counted right. */
	{
		static const char *const keys[] = { P1, P2, K0,
			"0101010101010101010101010101010101010101010101010101010101010101" };
		char set[1024];

		CHECK(device_init(&dev, "test1", 1) == 0);
		dev.max_peers = 3;
		snprintf(set, sizeof(set), "public_key=%s\npublic_key=%s\npublic_key=%s\n"
			 "public_key=%s\n\n", keys[0], keys[1], keys[0], keys[2]);
		CHECK(test_config_apply(&dev, set) == 0);           /* 3 distinct: at the limit */
		CHECK(dev.peers.count == 3);
		snprintf(set, sizeof(set), "public_key=%s\nallowed_ip=10.0.0.0/8\n"
			 "public_key=%s\n\n", keys[0], keys[3]);
		CHECK(test_config_apply(&dev, set) == -ENOSPC);     /* a 4th: refused whole */
		CHECK(dev.peers.count == 3 && allowedips_count(&dev.allowedips) == 0);
		snprintf(set, sizeof(set), "public_key=%s\nremove=true\npublic_key=%s\n"
			 "update_only=true\n\n", keys[0], keys[3]);
		CHECK(test_config_apply(&dev, set) == 0);
		snprintf(set, sizeof(set), "public_key=%s\n\n", keys[3]);
		CHECK(test_config_apply(&dev, set) == 0 && dev.peers.count == 3);
		snprintf(set, sizeof(set), "replace_peers=true\npublic_key=%s\npublic_key=%s\n"
			 "public_key=%s\n\n", keys[0], keys[1], keys[3]);
		CHECK(test_config_apply(&dev, set) == 0 && dev.peers.count == 3);
		device_uninit(&dev);
	}
}
