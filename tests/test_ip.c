// SPDX-License-Identifier: GPL-2.0
/* ip_packet_parse: what the data path trusts of an inner packet. */
#include <string.h>
#include <sys/socket.h>

#include "datapath/ip.h"
#include "test.h"
#include "tests/suites.h"

void test_ip(void)
{
	static const struct {
		const char *name;
		const char *hex;   /* packet bytes (header only matters) */
		size_t buf_len;    /* bytes handed in (>= hex length: padding) */
		bool ok;
		int family;
		size_t len;
	} cases[] = {
		/* 1 */ { "v4 minimal", "4500001400000000400100000a0000010a000002", 20, true, AF_INET, 20 },
		/* 2 */ { "v4 padded", "4500001400000000400100000a0000010a000002", 32, true, AF_INET, 20 },
		/* 3 */ { "v4 longer than buffer", "4500001500000000400100000a0000010a000002", 20, false, 0, 0 },
		/* 4 */ { "v4 ihl < 5", "4400001400000000400100000a0000010a000002", 20, false, 0, 0 },
		/* 5 */ { "v4 total < ihl", "4600001400000000400100000a0000010a000002", 24, false, 0, 0 },
		/* 6 */ { "v4 too short", "45000014000000004001", 10, false, 0, 0 },
		/* 7 */ { "v6 minimal", "6000000000003a40fd000000000000000000000000000001fd000000000000000000000000000002", 40, true, AF_INET6, 40 },
		/* 8 */ { "v6 payload 8 in 64", "6000000000083a40fd000000000000000000000000000001fd000000000000000000000000000002", 64, true, AF_INET6, 48 },
		/* 9 */ { "v6 payload past buffer", "6000000000083a40fd000000000000000000000000000001fd000000000000000000000000000002", 40, false, 0, 0 },
		/* 10 */ { "v6 too short", "6000000000003a40fd00", 10, false, 0, 0 },
		/* 11 */ { "version 5", "5500001400000000400100000a0000010a000002", 20, false, 0, 0 },
		/* 12 */ { "empty", "", 0, false, 0, 0 },
	};
	uint8_t buf[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ip_packet_info info = { 0 };
		bool ok;

		memset(buf, 0, sizeof(buf));
		test_unhex(buf, sizeof(buf), cases[i].hex);
		ok = ip_packet_parse(buf, cases[i].buf_len, &info);
		CHECKF(ok == cases[i].ok, "case %zu (%s)", i + 1, cases[i].name);
		if (!ok || !cases[i].ok)
			continue;
		CHECKF(info.family == cases[i].family && info.len == cases[i].len,
		       "case %zu (%s): family %d len %zu", i + 1, cases[i].name, info.family, info.len);
		CHECK(info.src == buf + (info.family == AF_INET ? 12 : 8));
		CHECK(info.dst == buf + (info.family == AF_INET ? 16 : 24));
	}
}
