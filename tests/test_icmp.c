// SPDX-License-Identifier: GPL-2.0
/* icmp_unreachable_build: the errors for packets no peer routes. */
#include <string.h>

#include "datapath/icmp.h"
#include "test.h"
#include "tests/suites.h"

/* RFC 1071: a correct checksum makes the folded sum of its span 0xffff. */
static bool checksum_ok(const uint8_t *p, size_t len, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

static bool icmp6_checksum_ok(const uint8_t *err, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 8; i < 40; i += 2)
		sum += (uint32_t)err[i] << 8 | err[i + 1];
	sum += (uint32_t)(len - 40) + 58;
	return checksum_ok(err + 40, len - 40, sum);
}

void test_icmp(void)
{
	/* Headers only; the rest of each packet is zero padding. */
	static const struct {
		const char *name;
		const char *hex;
		size_t len;
		size_t want;   /* error length, 0 = no error allowed */
	} cases[] = {
		/* 1 */ { "v4 echo request", "450000540000400040010000" "0a000001" "0a000003" "0800", 84, 28 + 84 },
		/* 2 */ { "v4 UDP, long: quote capped", "450003e80000400040110000" "0a000001" "0a000003", 1000, 576 },
		/* 3 */ { "v4 about an ICMP error", "450000540000400040010000" "0a000001" "0a000003" "0301", 84, 0 },
		/* 4 */ { "v4 later fragment", "450000540000200540110000" "0a000001" "0a000003", 84, 0 },
		/* 5 */ { "v4 multicast destination", "450000540000400040110000" "0a000001" "e0000001", 84, 0 },
		/* 6 */ { "v4 broadcast destination", "450000540000400040110000" "0a000001" "ffffffff", 84, 0 },
		/* 7 */ { "v4 unspecified source", "450000540000400040110000" "00000000" "0a000003", 84, 0 },
		/* 8 */ { "v6 echo request", "6000000000143a40" "fd000000000000000000000000000001" "fd000000000000000000000000000003" "8000", 60, 48 + 60 },
		/* 9 */ { "v6 long: quote capped", "6000000007c01140" "fd000000000000000000000000000001" "fd000000000000000000000000000003", 2024, 1280 },
		/* 10 */ { "v6 about an ICMPv6 error", "6000000000143a40" "fd000000000000000000000000000001" "fd000000000000000000000000000003" "0103", 60, 0 },
		/* 11 */ { "v6 multicast destination", "6000000000141140" "fd000000000000000000000000000001" "ff020000000000000000000000000001", 60, 0 },
		/* 12 */ { "v6 unspecified source", "6000000000141140" "00000000000000000000000000000000" "fd000000000000000000000000000003", 60, 0 },
		/* 13 */ { "not IP", "00", 20, 0 },
	};
	static uint8_t pkt[2048], err[ICMP_ERROR_MAX + 64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n;

		memset(pkt, 0, sizeof(pkt));
		memset(err, 0xee, sizeof(err));
		test_unhex(pkt, sizeof(pkt), cases[i].hex);
		n = icmp_unreachable_build(pkt, cases[i].len, err);
		CHECKF(n == cases[i].want, "case %zu (%s): length %zu", i + 1, cases[i].name, n);
		if (!n || n != cases[i].want)
			continue;
		CHECKF(n <= ICMP_ERROR_MAX && err[n] == 0xee, "case %zu: wrote past the error", i + 1);
		if (pkt[0] >> 4 == 4) {
			CHECK(err[0] == 0x45 && err[9] == 1 && (size_t)(err[2] << 8 | err[3]) == n);
			CHECK(!memcmp(err + 12, pkt + 16, 4) && !memcmp(err + 16, pkt + 12, 4));
			CHECK(err[20] == 3 && err[21] == 1);
			CHECKF(checksum_ok(err, 20, 0), "case %zu: IP checksum", i + 1);
			CHECKF(checksum_ok(err + 20, n - 20, 0), "case %zu: ICMP checksum", i + 1);
			CHECK(!memcmp(err + 28, pkt, n - 28));
		} else {
			CHECK(err[0] == 0x60 && err[6] == 58 && (size_t)(err[4] << 8 | err[5]) == n - 40);
			CHECK(!memcmp(err + 8, pkt + 24, 16) && !memcmp(err + 24, pkt + 8, 16));
			CHECK(err[40] == 1 && err[41] == 3);
			CHECKF(icmp6_checksum_ok(err, n), "case %zu: ICMPv6 checksum", i + 1);
			CHECK(!memcmp(err + 48, pkt, n - 48));
		}
	}
}
