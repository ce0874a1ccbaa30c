/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An independent RFC 1071 checksum for the offload tests and fuzz target:
 * big-endian words added byte by byte, deliberately not the code under test
 * (datapath/offload.c sums 64-bit words).
 */
#ifndef XWG_TESTS_REF_CSUM_H
#define XWG_TESTS_REF_CSUM_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t ref_add(uint32_t acc, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	return acc;
}

static inline uint16_t ref_fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

#endif
