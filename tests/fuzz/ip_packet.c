// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the inner-packet parser (datapath/ip.c), which reads
 * every packet that comes out of the TUN device and every packet a peer
 * sends us after decryption. The input is one packet. On success the
 * parser's answers must stay inside what it was given:
 *
 *   - the family matches the version nibble (4 or 6);
 *   - the header it read fits: 20 bytes (IPv4) or 40 (IPv6) <= len;
 *   - info->len, the length by the packet's own header, is >= that header
 *     and <= the input length (the rest is padding);
 *   - src and dst point inside the fixed header, at the RFC 791 / RFC 8200
 *     offsets, and their 4 or 16 bytes are readable (ASan checks the read).
 *
 * The input is copied into a buffer of exactly its size so that ASan
 * catches a read one byte past the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "datapath/ip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read n bytes at p so that ASan sees the access; keep the compiler from
 * dropping it. */
static uint8_t touch(const uint8_t *p, size_t n)
{
	volatile uint8_t acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc ^= p[i];
	return acc;
}

static void check_success(const uint8_t *p, size_t size,
			  const struct ip_packet_info *info)
{
	size_t header, addr_len, src_off, dst_off;

	if (info->family == AF_INET) {
		if (p[0] >> 4 != 4)
			abort();
		header = 20;
		addr_len = 4;
		src_off = 12;
		dst_off = 16;
		/* RFC 791: the stated total length covers the options. */
		if (info->len < (size_t)(p[0] & 0x0f) * 4)
			abort();
	} else if (info->family == AF_INET6) {
		if (p[0] >> 4 != 6)
			abort();
		header = 40;
		addr_len = 16;
		src_off = 8;
		dst_off = 24;
	} else {
		abort();
	}
	if (size < header || info->len < header || info->len > size)
		abort();
	if (info->src != p + src_off || info->dst != p + dst_off)
		abort();
	if (info->src + addr_len > p + header || info->dst + addr_len > p + header)
		abort();
	touch(info->src, addr_len);
	touch(info->dst, addr_len);
	/* The whole packet by its own length is readable. */
	touch(p, info->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ip_packet_info info;
	uint8_t *p;

	/* malloc(0) may return NULL; an empty packet still goes through. */
	p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	memset(&info, 0xa5, sizeof(info));
	if (ip_packet_parse(p, size, &info))
		check_success(p, size, &info);
	free(p);
	return 0;
}
