// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for everything that reads a datagram from the network:
 * the receive path of a device with one configured peer (type and length
 * checks, mac1/cookie validation under and not under load, the Noise
 * consume functions, cookie replies, data messages against a live session).
 * The first input byte picks the load state; the rest is one datagram.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/device.h"
#include "ctl/handshake/crypto.h"
#include "ctl/uapi.h"
#include "datapath/udp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct wg_device dev;
static bool ready;

static void setup(void)
{
	static struct uapi_peer peer;
	static struct uapi_allowed_ip aip = { .family = AF_INET, .cidr = 24,
					      .addr = { 10, 0, 0, 0 } };
	struct uapi_set set = { 0 };
	uint8_t other_priv[32];

	crypto_init();
	if (device_init(&dev, "fuzz0", 1))
		abort();
	/* No sockets: sends fail and are counted, which is fine here. */
	dev.udp.fd4 = dev.udp.fd6 = -1;
	dev.tun_fd = -1;
	set.has_private_key = true;
	memset(set.private_key, 0x11, 32);
	crypto_clamp(set.private_key);
	memset(other_priv, 0x22, 32);
	crypto_clamp(other_priv);
	crypto_public_key(peer.public_key, other_priv);
	peer.allowed_ips = &aip;
	peer.n_allowed_ips = 1;
	set.peers = &peer;
	set.n_peers = 1;
	if (device_config_set(&dev, &set))
		abort();
	ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[DATAPATH_BUF_SIZE];
	struct udp_rx rx = { .buf = buf, .cap = sizeof(buf) };

	if (!ready)
		setup();
	if (size < 1 || size - 1 > DATAPATH_PACKET_MAX)
		return 0;
	dev.under_load_until = data[0] & 1 ? platform_now() + NSEC_PER_SEC : 0;
	memcpy(buf, data + 1, size - 1);
	rx.len = size - 1;
	rx.ep.addr.in4.sin_family = AF_INET;
	rx.ep.addr.in4.sin_port = htons(51820);
	rx.ep.addr.in4.sin_addr.s_addr = htonl(0xc0000201);
	receive_datagrams(&dev, &rx, 1);
	return 0;
}
