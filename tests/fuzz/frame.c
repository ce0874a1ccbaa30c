// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the fast path's frame parser (datapath/frame.c): it
 * reads every frame xdp_rx steers to AF_XDP from the underlay, before
 * anything is authenticated. The input is one frame, copied into a buffer
 * of exactly its size so ASan catches a read past the end. On success the
 * payload the parser names must lie inside the frame, after at least the
 * Ethernet, IP and UDP headers, and the family must be IPv4 or IPv6.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "datapath/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	struct frame_udp u;
	volatile uint8_t sink = 0;
	size_t i;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (frame_parse_udp(copy, size, &u)) {
		size_t min = FRAME_ETH_LEN + (u.family == AF_INET ? 20 : 40) + 8;

		if ((u.family != AF_INET && u.family != AF_INET6) || u.payload_off < min ||
		    u.payload_off > size || u.payload_len > size - u.payload_off)
			abort();
		for (i = 0; i < u.payload_len; i++)
			sink ^= copy[u.payload_off + i];
	}
	if (size >= FRAME_ETH_LEN)
		sink ^= (uint8_t)frame_peer_tag(copy);
	(void)sink;
	free(copy);
	return 0;
}
