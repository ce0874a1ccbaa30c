// SPDX-License-Identifier: GPL-2.0
/* Shared by the suites that drive real devices (test_node.h). */
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/handshake/crypto.h"
#include "ctl/notify.h"
#include "ctl/uapi.h"
#include "datapath/udp.h"
#include "tests/test_node.h"

int test_config_apply(struct wg_device *dev, const char *text)
{
	struct uapi_set set;
	int ret = uapi_set_parse(&set, text, strlen(text));

	notify_config_begin(dev);
	if (!ret)
		ret = device_config_set(dev, &set);
	notify_config_end(dev);
	uapi_set_free(&set);
	return ret;
}

char *test_config_get(struct wg_device *dev)
{
	struct uapi_buf b = { 0 };
	char *s;

	device_config_get(dev, &b);
	uapi_buf_printf(&b, "%s", "");
	s = strndup(b.data ? b.data : "", b.len);
	uapi_buf_free(&b);
	return s;
}

void test_hex(char *out, const uint8_t *in, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

bool test_node_init(struct test_node *n, const char *ifname)
{
	crypto_generate_private(n->private_key);
	return device_init(&n->dev, ifname, 1) == 0 &&
	       crypto_public_key(n->public_key, n->private_key) &&
	       udp_socks_open(&n->dev.udp, 0, 0) == 0;
}

void test_node_uninit(struct test_node *n)
{
	if (!n)
		return;
	udp_socks_close(&n->dev.udp);
	device_uninit(&n->dev);
	sodium_memzero(n, sizeof(*n));
}

bool test_node_configure(struct test_node *a, const struct test_node *b,
			 const char *allowed_ip, unsigned int flags)
{
	char text[512], key[2 * NOISE_PUBLIC_KEY_LEN + 1], pub[sizeof(key)], ep[64] = "";
	int ret;

	test_hex(key, a->private_key, sizeof(a->private_key));
	test_hex(pub, b->public_key, sizeof(b->public_key));
	if (flags & TEST_NODE_ENDPOINT)
		snprintf(ep, sizeof(ep), "endpoint=127.0.0.1:%u\n", udp_socks_port(&b->dev.udp));
	snprintf(text, sizeof(text), "private_key=%s\n%spublic_key=%s\n%sallowed_ip=%s\n\n", key,
		 flags & TEST_NODE_REPLACE ? "replace_peers=true\n" : "", pub, ep, allowed_ip);
	ret = test_config_apply(&a->dev, text);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(text, sizeof(text));
	a->peer = device_peer_lookup(&a->dev, b->public_key);
	return !ret && a->peer;
}

unsigned int test_node_receive(struct test_node *n, bool process)
{
	static uint8_t bufs[4][2048];
	struct udp_rx rx[4];
	struct pollfd pfd = { .fd = n->dev.udp.fd4, .events = POLLIN };
	unsigned int i, got = 0;
	int r;

	if (poll(&pfd, 1, 1000) != 1)
		return 0;
	do {
		for (i = 0; i < 4; i++)
			rx[i] = (struct udp_rx){ .buf = bufs[i], .cap = sizeof(bufs[i]) };
		r = udp_recv_batch(n->dev.udp.fd4, rx, 4);
		if (r <= 0)
			break;
		if (process)
			receive_datagrams(&n->dev, rx, (unsigned int)r);
		got += (unsigned int)r;
	} while (r == 4);
	return got;
}
