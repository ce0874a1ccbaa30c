// SPDX-License-Identifier: GPL-2.0
/* frame_parse_udp: what the fast path reads of a frame from the underlay
 * before anything is authenticated; frame_eth_build / frame_peer_tag. */
#include <string.h>
#include <sys/socket.h>

#include "datapath/frame.h"
#include "test.h"
#include "tests/suites.h"

#define ETH_V4 "020000000001" "020000000002" "0800"
#define ETH_V6 "020000000001" "020000000002" "86dd"
#define ETH_VLAN_V4 "020000000001" "020000000002" "8100" "0064" "0800"
/* IPv4 192.0.2.1 -> 192.0.2.2, UDP 51821 -> 51820, 4-byte payload. */
#define IP4(tot, frag, proto) "4500" tot "0000" frag "40" proto "0000" "c0000201" "c0000202"
#define UDP(len) "ca6d" "ca6c" len "0000"
#define IP6(plen, nh) "60000000" plen nh "40" \
	"20010db8000000000000000000000001" "20010db8000000000000000000000002"

void test_frame(void)
{
	static const struct {
		const char *name;
		const char *hex;
		bool ok;
		int family;
		size_t off, len;
	} cases[] = {
		{ "v4 minimal", ETH_V4 IP4("0020", "0000", "11") UDP("000c") "04000000", true, AF_INET, 42, 4 },
		{ "v4 with Ethernet padding", ETH_V4 IP4("0020", "0000", "11") UDP("000c") "04000000" "0000000000", true, AF_INET, 42, 4 },
		{ "v4 DF is fine", ETH_V4 IP4("0020", "4000", "11") UDP("000c") "04000000", true, AF_INET, 42, 4 },
		{ "v4 behind 802.1Q", ETH_VLAN_V4 IP4("0020", "0000", "11") UDP("000c") "04000000", true, AF_INET, 46, 4 },
		{ "v4 first fragment", ETH_V4 IP4("0020", "2000", "11") UDP("000c") "04000000", false, 0, 0, 0 },
		{ "v4 later fragment", ETH_V4 IP4("0020", "0001", "11") UDP("000c") "04000000", false, 0, 0, 0 },
		{ "v4 not UDP", ETH_V4 IP4("0020", "0000", "06") UDP("000c") "04000000", false, 0, 0, 0 },
		{ "v4 total length past the frame", ETH_V4 IP4("0021", "0000", "11") UDP("000c") "04000000", false, 0, 0, 0 },
		{ "v4 UDP length past IP", ETH_V4 IP4("0020", "0000", "11") UDP("000d") "04000000", false, 0, 0, 0 },
		{ "v4 UDP length below 8", ETH_V4 IP4("0020", "0000", "11") UDP("0007") "04000000", false, 0, 0, 0 },
		{ "v4 IHL 4", ETH_V4 "44000020000000004011" "0000" "c0000201" "c0000202" UDP("000c") "04000000", false, 0, 0, 0 },
		{ "v4 truncated header", ETH_V4 "45000020000000004011", false, 0, 0, 0 },
		{ "v6 minimal", ETH_V6 IP6("000c", "11") UDP("000c") "04000000", true, AF_INET6, 62, 4 },
		{ "v6 next header not UDP", ETH_V6 IP6("000c", "00") UDP("000c") "04000000", false, 0, 0, 0 },
		{ "v6 payload length past the frame", ETH_V6 IP6("000d", "11") UDP("000c") "04000000", false, 0, 0, 0 },
		{ "ARP", "ffffffffffff0200000000020806" "0001080006040001", false, 0, 0, 0 },
		{ "Ethernet header only", ETH_V4, false, 0, 0, 0 },
		{ "shorter than Ethernet", "0200000000010200", false, 0, 0, 0 },
		{ "VLAN tag cut off", "020000000001020000000002" "8100" "00", false, 0, 0, 0 },
	};
	uint8_t f[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct frame_udp u;
		size_t len = test_unhex(f, sizeof(f), cases[i].hex);
		bool ok;

		if (!CHECKF(len != (size_t)-1, "case %zu (%s): bad hex", i + 1, cases[i].name))
			continue;
		ok = frame_parse_udp(f, len, &u);
		CHECKF(ok == cases[i].ok, "case %zu (%s): parse %d", i + 1, cases[i].name, ok);
		if (!ok || !cases[i].ok)
			continue;
		CHECKF(u.family == cases[i].family && u.payload_off == cases[i].off &&
		       u.payload_len == cases[i].len && u.sport == 51821 && u.dport == 51820,
		       "case %zu (%s): family %d off %zu len %zu ports %u/%u", i + 1, cases[i].name,
		       u.family, u.payload_off, u.payload_len, u.sport, u.dport);
		if (u.family == AF_INET)
			CHECK(!memcmp(u.src, "\xc0\x00\x02\x01", 4) && !memcmp(u.dst, "\xc0\x00\x02\x02", 4));
		else
			CHECK(u.src[15] == 1 && u.dst[15] == 2 && u.src[0] == 0x20);
	}

	/* Every prefix of a valid frame is refused, never read past. */
	{
		size_t len = test_unhex(f, sizeof(f), cases[0].hex), n;
		struct frame_udp u;
		unsigned int accepted = 0;

		for (n = 0; n < len; n++)
			accepted += frame_parse_udp(f, n, &u);
		CHECKF(accepted == 0, "%u truncated frames accepted", accepted);
	}

	/* The Ethernet header of injected packets and tc_tx's peer tag. */
	{
		static const uint8_t dst[6] = { 2, 0x78, 0x77, 0x67, 0, 1 };
		static const uint8_t src[6] = { 2, 0, 0x12, 0x34, 0x56, 0x78 };

		frame_eth_build(f, dst, src, 4);
		CHECK_HEX(f, 14, "027877670001" "020012345678" "0800");
		CHECK(frame_peer_tag(f) == 0x12345678);
		frame_eth_build(f, dst, src, 6);
		CHECK_HEX(f + 12, 2, "86dd");
	}
}
