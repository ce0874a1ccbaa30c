/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What several suites share to drive real devices without root: a
 * configuration transaction and a get reply as xwgd's loop makes them, and
 * a node (a device with its own keys and UDP sockets on loopback, no TUN)
 * that handshakes with another for real.
 */
#ifndef XWG_TEST_NODE_H
#define XWG_TEST_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/device.h"

/* One `set` transaction (text as wg(8) sends it), applied as xwgd does:
 * between the notification point's begin and end. 0 or -errno. */
int test_config_apply(struct wg_device *dev, const char *text);
/* The get reply as one string (caller frees). */
char *test_config_get(struct wg_device *dev);
/* len bytes as 2 * len lowercase hex digits and a NUL. */
void test_hex(char *out, const uint8_t *in, size_t len);

struct test_node {
	struct wg_device dev;
	uint8_t private_key[NOISE_PRIVATE_KEY_LEN];
	uint8_t public_key[NOISE_PUBLIC_KEY_LEN];
	struct wg_peer *peer;      /* the other node */
};

/* A fresh key pair, the device, UDP sockets on an ephemeral port. */
bool test_node_init(struct test_node *n, const char *ifname);
/* Closes and wipes n (safe on NULL and on a node whose init failed). */
void test_node_uninit(struct test_node *n);

#define TEST_NODE_ENDPOINT 1U  /* b at 127.0.0.1 and its port */
#define TEST_NODE_REPLACE  2U  /* replace_peers=true first */
/* a's private key, and b as its peer with allowed_ip: a->peer. */
bool test_node_configure(struct test_node *a, const struct test_node *b,
			 const char *allowed_ip, unsigned int flags);
/* Receives what n's IPv4 socket holds, as the daemon's loop does (into
 * receive_datagrams unless !process); how many datagrams (waits up to 1 s
 * for the first). */
unsigned int test_node_receive(struct test_node *n, bool process);

#endif
