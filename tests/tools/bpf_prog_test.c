// SPDX-License-Identifier: GPL-2.0
/*
 * bpf_prog_test PIN_ROOT: the BPF programs of bpf/ without traffic. Loads
 * the three skeletons through the verifier with their maps pinned under
 * PIN_ROOT (which must exist), fills the maps, and runs each program on
 * hand-built frames with bpf_prog_test_run_opts: table-driven, numbered
 * vectors, each asserting the verdict and that exactly the expected drop
 * counter moved. Run by selftests/bpf_progs.sh (root), which removes the
 * pins afterwards; they are left in place so it can look at them with
 * bpftool.
 *
 * The process moves into a network namespace of its own first: the ICMP
 * errors tc_tx makes are redirected into the receive path of the device a
 * test run uses (loopback), and there they reach the test's own sockets and
 * nothing else.
 *
 * bpf_prog_test --live WG TWIN PIN_ROOT: tc_tx on a real veth pair, run
 * inside a namespace the script prepared (WG with 10.0.0.1/8 and fd00::1/16,
 * NOARP, TX checksum offload off, rp_filter strict; TWIN its peer, up):
 * attaches tc_tx to WG's egress and checks that a datagram to no peer comes
 * back to its socket as an ICMP/ICMPv6 error through WG's receive path, and
 * that a datagram to a peer reaches TWIN with the peer's tag in the source
 * MAC.
 *
 * bpf_prog_test --live-l3 TUN PIN_ROOT: tc_tx in L3 mode (rodata l3_device
 * = 1) on a TUN the script made (10.0.0.1/8 and fd00::1/16, up, rp_filter
 * strict): opens it as the daemon will (IFF_VNET_HDR, TSO by TUNSETOFFLOAD),
 * attaches tc_tx to its egress and checks the ICMP errors for no peer, that
 * datagrams to a peer reach the TUN's reader untouched (with an event for a
 * peer without a session), and that TSO super-packets of a TCP connection
 * (the tool answers its SYN) reach the reader whole. It leaves tc_tx
 * attached, so that the script can ping through it; removing the TUN
 * detaches it.
 *
 * Prints one "PASS: ..." or "FAIL: ...: why" line per assertion and
 * "N passed, N failed" last; exits 1 if anything failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <linux/if_ether.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#include "ctl/maps/sync.h"
#include "maps.h"
#include "messages.h"
#include "bpf/tc_tx.skel.h"
#include "bpf/xdp_rx.skel.h"
#include "bpf/xdp_twin.skel.h"

#define LISTEN_PORT 51820
#define OTHER_PORT 51821
#define KNOWN_INDEX 0x11223344u
#define UNKNOWN_INDEX 0x55667788u
#define EVENT_INTERVAL_MS 1000
/* tc_tx's ICMP limit for this test: 3 back to back, then none for 10 s. */
#define TEST_ICMP_BURST 3
#define TEST_ICMP_INTERVAL_NS (10ULL * 1000 * 1000 * 1000)
#define ICMP_QUOTE_MAX 128

#define FRAME_MAX 2048

static int passed, failed;

static void result(bool ok, const char *desc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void result(bool ok, const char *desc, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		passed++;
		printf("PASS: %s\n", desc);
		return;
	}
	failed++;
	printf("FAIL: %s: ", desc);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static const char *xdp_name(int action)
{
	switch (action) {
	case XDP_ABORTED: return "XDP_ABORTED";
	case XDP_DROP: return "XDP_DROP";
	case XDP_PASS: return "XDP_PASS";
	case XDP_TX: return "XDP_TX";
	case XDP_REDIRECT: return "XDP_REDIRECT";
	}
	return "?";
}

static const char *tc_name(int action)
{
	switch (action) {
	case TC_ACT_OK: return "TC_ACT_OK";
	case TC_ACT_SHOT: return "TC_ACT_SHOT";
	case TC_ACT_REDIRECT: return "TC_ACT_REDIRECT";
	}
	return "?";
}

/* The operator-facing name the daemon logs (ctl/maps/sync.c). */
static const char *drop_name(int reason)
{
	const char *name = reason >= 0 ? fastpath_drop_reason_name((unsigned int)reason) : NULL;

	return name ? name : reason == XWG_DROP_NONE ? "none" : "?";
}

/* ---------------------------------------------------------------------
 * Maps
 */

static int drops_fd;

/* The drop counters summed over all CPUs. */
static int drops_read(uint64_t totals[XWG_DROP_REASONS])
{
	int ncpus = libbpf_num_possible_cpus();
	struct xwg_counter values[ncpus > 0 ? ncpus : 1];

	if (ncpus <= 0)
		return -1;
	for (uint32_t reason = 0; reason < XWG_DROP_REASONS; reason++) {
		if (bpf_map_lookup_elem(drops_fd, &reason, values))
			return -1;
		totals[reason] = 0;
		for (int cpu = 0; cpu < ncpus; cpu++)
			totals[reason] += values[cpu].packets;
	}
	return 0;
}

/* Empty when exactly the counter of reason (or none for XWG_DROP_NONE)
 * moved, by one, between before and after; else what moved. */
static void drops_explain(const uint64_t before[XWG_DROP_REASONS],
			  const uint64_t after[XWG_DROP_REASONS], int reason,
			  char *why, size_t size)
{
	size_t n = 0;

	why[0] = '\0';
	for (int r = 1; r < XWG_DROP_REASONS; r++) {
		uint64_t want = before[r] + (r == reason);

		if (after[r] != want && n < size)
			n += snprintf(why + n, size - n, "%s%s moved by %lld", n ? ", " : "",
				      drop_name(r), (long long)(after[r] - before[r]));
	}
}

static int config_set(int fd, uint16_t listen_port)
{
	struct xwg_config cfg = {
		.listen_port = htons(listen_port),
		.wg_ifindex = 1,
		.twin_ifindex = 1,
		.event_interval_ms = EVENT_INTERVAL_MS,
		/* A test run's frames arrive on loopback (ifindex 1). */
		.xsk_ifindex = 1,
	};
	uint32_t key = 0;

	return bpf_map_update_elem(fd, &key, &cfg, BPF_ANY);
}

static int peer_set(int fd, uint32_t peer_id, uint32_t flags)
{
	struct xwg_peer peer = { .flags = flags };

	return bpf_map_update_elem(fd, &peer_id, &peer, BPF_ANY);
}

static int prefix_v4_add(int fd, const char *addr, uint32_t prefixlen, uint32_t peer_id)
{
	struct xwg_lpm_v4_key key = { .prefixlen = prefixlen };
	struct xwg_peer_ref ref = { .peer_id = peer_id };

	if (inet_pton(AF_INET, addr, key.addr) != 1)
		return -EINVAL;
	return bpf_map_update_elem(fd, &key, &ref, BPF_ANY);
}

static int prefix_v6_add(int fd, const char *addr, uint32_t prefixlen, uint32_t peer_id)
{
	struct xwg_lpm_v6_key key = { .prefixlen = prefixlen };
	struct xwg_peer_ref ref = { .peer_id = peer_id };

	if (inet_pton(AF_INET6, addr, key.addr) != 1)
		return -EINVAL;
	return bpf_map_update_elem(fd, &key, &ref, BPF_ANY);
}

static uint32_t map_id(const struct bpf_map *map)
{
	struct bpf_map_info info = { 0 };
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_map__fd(map), &info, &len))
		return 0;
	return info.id;
}

/* ---------------------------------------------------------------------
 * Frames
 */

struct frame_spec {
	int family;               /* 4, 6, or 0: an ARP frame */
	uint16_t vlan_tpid;       /* 0: untagged */
	uint8_t proto;            /* 0: UDP */
	const char *saddr, *daddr; /* NULL: documentation addresses */
	uint16_t sport, dport;
	uint16_t frag_off;        /* IPv4 flags and fragment offset */
	int ip_opt_words;         /* IPv4 options, in 4-byte words */
	const uint8_t *l4;        /* UDP payload, or the whole segment */
	size_t l4_len;
	int udp_len;              /* nonzero: this UDP length field instead */
	size_t pad_to;            /* Ethernet padding up to this length */
	size_t cut_to;            /* nonzero: truncate the frame here */
	uint8_t mac_src[ETH_ALEN], mac_dst[ETH_ALEN];
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_finish(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Builds the frame into buf (FRAME_MAX bytes); returns its length. */
static size_t frame_build(uint8_t *buf, const struct frame_spec *s)
{
	uint8_t saddr[16], daddr[16];
	uint8_t proto = s->proto ? s->proto : IPPROTO_UDP;
	size_t off, ip_off, l4_off, iphl, len;

	memset(buf, 0, FRAME_MAX);
	memcpy(buf, s->mac_dst, ETH_ALEN);
	memcpy(buf + ETH_ALEN, s->mac_src, ETH_ALEN);
	off = 2 * ETH_ALEN;
	if (s->vlan_tpid) {
		put16(buf + off, s->vlan_tpid);
		put16(buf + off + 2, 42); /* VLAN id */
		off += 4;
	}
	if (s->family == 0) {
		put16(buf + off, ETH_P_ARP);
		return off + 2 + 28;
	}
	put16(buf + off, s->family == 4 ? ETH_P_IP : ETH_P_IPV6);
	ip_off = off + 2;

	if (s->family == 4) {
		inet_pton(AF_INET, s->saddr ? s->saddr : "192.0.2.1", saddr);
		inet_pton(AF_INET, s->daddr ? s->daddr : "192.0.2.2", daddr);
		iphl = 20 + 4 * s->ip_opt_words;
	} else {
		inet_pton(AF_INET6, s->saddr ? s->saddr : "2001:db8::1", saddr);
		inet_pton(AF_INET6, s->daddr ? s->daddr : "2001:db8::2", daddr);
		iphl = 40;
	}
	l4_off = ip_off + iphl;
	if (proto == IPPROTO_UDP) {
		size_t udp_len = 8 + s->l4_len;

		put16(buf + l4_off, s->sport ? s->sport : 40000);
		put16(buf + l4_off + 2, s->dport);
		put16(buf + l4_off + 4, s->udp_len ? (uint16_t)s->udp_len : (uint16_t)udp_len);
		memcpy(buf + l4_off + 8, s->l4, s->l4_len);
		len = 8 + s->l4_len;
	} else {
		memcpy(buf + l4_off, s->l4, s->l4_len);
		len = s->l4_len;
	}

	if (s->family == 4) {
		uint8_t *ip = buf + ip_off;

		ip[0] = 0x40 | (uint8_t)(iphl / 4);
		put16(ip + 2, (uint16_t)(iphl + len));
		put16(ip + 4, 0x1234);
		put16(ip + 6, s->frag_off);
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, saddr, 4);
		memcpy(ip + 16, daddr, 4);
		for (size_t i = 20; i < iphl; i++)
			ip[i] = 1; /* NOP options */
		put16(ip + 10, csum_finish(csum_add(0, ip, iphl)));
	} else {
		uint8_t *ip6 = buf + ip_off;

		ip6[0] = 0x60;
		put16(ip6 + 4, (uint16_t)len);
		ip6[6] = proto;
		ip6[7] = 64;
		memcpy(ip6 + 8, saddr, 16);
		memcpy(ip6 + 24, daddr, 16);
	}
	len += l4_off;
	if (len < s->pad_to)
		len = s->pad_to;
	if (s->cut_to)
		len = s->cut_to;
	return len;
}

/* A message of len bytes: the type word and the receiver index as the
 * first two little-endian words (as far as they fit), then filler. */
static void message_fill(uint8_t *msg, uint32_t type_word, uint32_t index, size_t len)
{
	uint8_t head[8] = {
		type_word, type_word >> 8, type_word >> 16, type_word >> 24,
		index, index >> 8, index >> 16, index >> 24,
	};

	for (size_t i = 0; i < len; i++)
		msg[i] = i < sizeof(head) ? head[i] : (uint8_t)(0xa5 ^ i);
}

/* ---------------------------------------------------------------------
 * Running programs
 */

static int prog_run(int prog_fd, const uint8_t *in, size_t len, uint8_t *out, uint32_t *out_len,
		    uint32_t *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = in,
		.data_size_in = (uint32_t)len,
		.data_out = out,
		.data_size_out = out ? FRAME_MAX : 0,
		.repeat = 1,
	);
	int err = bpf_prog_test_run_opts(prog_fd, &opts);

	if (err)
		return -errno;
	*retval = opts.retval;
	if (out_len)
		*out_len = opts.data_size_out;
	return 0;
}

/* Runs the program once and asserts the verdict and the drop counter. */
static bool run_and_check(const char *desc, int prog_fd, const uint8_t *frame, size_t len,
			  uint8_t *out, uint32_t *out_len, int want_action, int want_reason,
			  const char *(*name)(int))
{
	uint64_t before[XWG_DROP_REASONS], after[XWG_DROP_REASONS];
	char why[256];
	uint32_t action = 0;
	int err;

	if (drops_read(before)) {
		result(false, desc, "cannot read the drops map: %s", strerror(errno));
		return false;
	}
	err = prog_run(prog_fd, frame, len, out, out_len, &action);
	if (err) {
		result(false, desc, "bpf_prog_test_run_opts: %s", strerror(-err));
		return false;
	}
	if (drops_read(after)) {
		result(false, desc, "cannot read the drops map: %s", strerror(errno));
		return false;
	}
	drops_explain(before, after, want_reason, why, sizeof(why));
	if ((int)action != want_action) {
		result(false, desc, "verdict %s (%u), want %s", name(action), action, name(want_action));
		return false;
	}
	if (why[0]) {
		result(false, desc, "verdict %s, but %s (want %s +1)", name(action), why,
		       drop_name(want_reason));
		return false;
	}
	result(true, desc, "%s", "");
	return true;
}

/* ---------------------------------------------------------------------
 * xdp_rx
 */

enum { DATA_VERDICT = -1 }; /* XDP_REDIRECT with a socket on queue 0 */

/* xdp_rx acts only on datagrams for this host: the kernel's routing
 * decision, which bpf_fib_lookup takes in the test process's namespace
 * from the test device (loopback). rx_netns_setup makes RX_LOCAL4/6 local
 * addresses (the default destination of every vector), RX_ROUTED4/6
 * addresses routed on through a veth, and turns forwarding on, as on a
 * router. */
#define RX_LOCAL4 "192.0.2.2"
#define RX_LOCAL6 "2001:db8::2"
#define RX_ROUTED4 "198.51.100.7"
#define RX_ROUTED6 "2001:db8:1::7"
#define RX_VETH "xwgrx0"

static int sysctl_write(const char *path, const char *value);

static int rx_sh(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		fprintf(stderr, "`%s` failed (status %d)\n", cmd, rc);
	return rc == 0 ? 0 : -1;
}

static int rx_forwarding_set(const char *value)
{
	return sysctl_write("/proc/sys/net/ipv4/conf/all/forwarding", value) ||
	       sysctl_write("/proc/sys/net/ipv6/conf/all/forwarding", value) ? -1 : 0;
}

static int rx_netns_setup(void)
{
	return rx_sh("ip -4 addr add " RX_LOCAL4 "/32 dev lo") ||
	       rx_sh("ip -6 addr add " RX_LOCAL6 "/128 dev lo nodad") ||
	       rx_sh("ip link add " RX_VETH " type veth peer name " RX_VETH "p") ||
	       rx_sh("ip link set " RX_VETH "p up && ip link set " RX_VETH " up") ||
	       rx_sh("ip -4 addr add 198.51.100.1/24 dev " RX_VETH) ||
	       rx_sh("ip -6 addr add 2001:db8:1::1/64 dev " RX_VETH " nodad") ||
	       rx_forwarding_set("1") ? -1 : 0;
}

/* What the tests after xdp_rx's find: the namespace as it was. */
static void rx_netns_teardown(void)
{
	rx_forwarding_set("0");
	rx_sh("ip link del " RX_VETH " 2>/dev/null; ip -4 addr del " RX_LOCAL4 "/32 dev lo; "
	      "ip -6 addr del " RX_LOCAL6 "/128 dev lo; ip link set lo mtu 65536");
}

struct rx_case {
	const char *name;
	int family;
	uint16_t vlan_tpid;
	uint8_t proto;
	bool other_port;
	uint16_t frag_off;
	int ip_opt_words;
	uint32_t type_word;
	uint32_t index;
	size_t len;
	int udp_len;
	size_t pad_to, cut_to;
	int action;               /* or DATA_VERDICT */
	int reason;
	const char *daddr;        /* NULL: RX_LOCAL4/RX_LOCAL6, a local address */
	bool group_mac;           /* sent to the Ethernet broadcast address */
	int segments;             /* > 1: that many messages of len back to back
				   * in one datagram, as GSO/GRO makes them */
};

#define INIT MESSAGE_HANDSHAKE_INITIATION
#define RESP MESSAGE_HANDSHAKE_RESPONSE
#define COOKIE MESSAGE_HANDSHAKE_COOKIE
#define DATA MESSAGE_DATA
#define INIT_LEN sizeof(struct message_handshake_initiation)
#define RESP_LEN sizeof(struct message_handshake_response)
#define COOKIE_LEN_ sizeof(struct message_handshake_cookie)
#define DATA_LEN(n) message_data_len(n)

static const struct rx_case rx_cases[] = {
	/* 1 */ { "v4 initiation, 148 bytes", 4, .type_word = INIT, .len = INIT_LEN, .action = XDP_PASS },
	/* 2 */ { "v4 initiation, 147 bytes", 4, .type_word = INIT, .len = INIT_LEN - 1, .action = XDP_DROP, .reason = XWG_DROP_RX_BAD_LENGTH },
	/* 3 */ { "v4 initiation, 149 bytes", 4, .type_word = INIT, .len = INIT_LEN + 1, .action = XDP_DROP, .reason = XWG_DROP_RX_BAD_LENGTH },
	/* 4 */ { "v4 response, 92 bytes", 4, .type_word = RESP, .len = RESP_LEN, .action = XDP_PASS },
	/* 5 */ { "v4 response, 91 bytes", 4, .type_word = RESP, .len = RESP_LEN - 1, .action = XDP_DROP, .reason = XWG_DROP_RX_BAD_LENGTH },
	/* 6 */ { "v4 response, 93 bytes", 4, .type_word = RESP, .len = RESP_LEN + 1, .action = XDP_DROP, .reason = XWG_DROP_RX_BAD_LENGTH },
	/* 7 */ { "v4 cookie reply, 64 bytes", 4, .type_word = COOKIE, .len = COOKIE_LEN_, .action = XDP_PASS },
	/* 8 */ { "v4 cookie reply, 63 bytes", 4, .type_word = COOKIE, .len = COOKIE_LEN_ - 1, .action = XDP_DROP, .reason = XWG_DROP_RX_BAD_LENGTH },
	/* 9 */ { "v4 cookie reply, 65 bytes", 4, .type_word = COOKIE, .len = COOKIE_LEN_ + 1, .action = XDP_DROP, .reason = XWG_DROP_RX_BAD_LENGTH },
	/* 10 */ { "v4 keepalive (data, 32 bytes), known index", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = DATA_LEN(0), .action = DATA_VERDICT },
	/* 11 */ { "v4 data, 1436 bytes, known index", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = DATA_LEN(1420), .action = DATA_VERDICT },
	/* 12 */ { "v4 data, 31 bytes, known index", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = DATA_LEN(0) - 1, .action = XDP_DROP, .reason = XWG_DROP_RX_BAD_LENGTH },
	/* 13 */ { "v4 data, 8 bytes, known index", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = 8, .action = XDP_DROP, .reason = XWG_DROP_RX_BAD_LENGTH },
	/* 14 */ { "v4 data, unknown index", 4, .type_word = DATA, .index = UNKNOWN_INDEX, .len = DATA_LEN(16), .action = XDP_DROP, .reason = XWG_DROP_RX_UNKNOWN_INDEX },
	/* 15 */ { "v4 type 0", 4, .type_word = 0, .index = KNOWN_INDEX, .len = 32, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 16 */ { "v4 type 5", 4, .type_word = 5, .index = KNOWN_INDEX, .len = 32, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 17 */ { "v4 type 255", 4, .type_word = 255, .len = INIT_LEN, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 18 */ { "v4 initiation with reserved byte 1 set", 4, .type_word = 0x0100 | INIT, .len = INIT_LEN, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 19 */ { "v4 data with reserved byte 3 set", 4, .type_word = 0x01000000 | DATA, .index = KNOWN_INDEX, .len = 48, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 20 */ { "v4 garbage, 100 bytes", 4, .type_word = 0xdeadbeef, .index = KNOWN_INDEX, .len = 100, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 21 */ { "v4 message of 3 bytes", 4, .type_word = DATA, .len = 3, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 22 */ { "v4 empty datagram", 4, .len = 0, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 23 */ { "v4 empty datagram, frame padded to 60 bytes", 4, .len = 0, .pad_to = 60, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 24 */ { "v4 UDP length past the frame", 4, .type_word = INIT, .len = INIT_LEN, .udp_len = 8 + INIT_LEN + 10, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 25 */ { "v4 UDP length below its header", 4, .type_word = INIT, .len = INIT_LEN, .udp_len = 4, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 26 */ { "v4 UDP length 148+8 in a padded frame", 4, .type_word = INIT, .len = INIT_LEN, .pad_to = 300, .action = XDP_PASS },
	/* 27 */ { "v4 garbage to another port", 4, .other_port = true, .type_word = 0xdeadbeef, .len = 100, .action = XDP_PASS },
	/* 28 */ { "v4 data with a known index to another port", 4, .other_port = true, .type_word = DATA, .index = KNOWN_INDEX, .len = 32, .action = XDP_PASS },
	/* 29 */ { "v4 TCP to the port", 4, .proto = IPPROTO_TCP, .type_word = 0xdeadbeef, .len = 40, .action = XDP_PASS },
	/* 30 */ { "v4 first fragment (MF) of garbage to the port", 4, .frag_off = 0x2000, .type_word = 0xdeadbeef, .len = 100, .action = XDP_PASS },
	/* 31 */ { "v4 later fragment of garbage to the port", 4, .frag_off = 185, .type_word = 0xdeadbeef, .len = 100, .action = XDP_PASS },
	/* 32 */ { "v4 middle fragment (MF, offset 8)", 4, .frag_off = 0x2000 | 1, .type_word = DATA, .index = KNOWN_INDEX, .len = 32, .action = XDP_PASS },
	/* 33 */ { "v4 DF set, not a fragment, data known index", 4, .frag_off = 0x4000, .type_word = DATA, .index = KNOWN_INDEX, .len = 32, .action = DATA_VERDICT },
	/* 34 */ { "v4 with 4 bytes of options (IHL 6), initiation", 4, .ip_opt_words = 1, .type_word = INIT, .len = INIT_LEN, .action = XDP_PASS },
	/* 35 */ { "v4 with options (IHL 6), data known index", 4, .ip_opt_words = 1, .type_word = DATA, .index = KNOWN_INDEX, .len = 64, .action = DATA_VERDICT },
	/* 36 */ { "v4 with 40 bytes of options (IHL 15), garbage", 4, .ip_opt_words = 10, .type_word = 7, .len = 64, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 37 */ { "v4 with IHL 15, unknown index", 4, .ip_opt_words = 10, .type_word = DATA, .index = UNKNOWN_INDEX, .len = 64, .action = XDP_DROP, .reason = XWG_DROP_RX_UNKNOWN_INDEX },
	/* 38 */ { "802.1Q v4 data, known index", 4, .vlan_tpid = ETH_P_8021Q, .type_word = DATA, .index = KNOWN_INDEX, .len = 48, .action = DATA_VERDICT },
	/* 39 */ { "802.1Q v4 garbage", 4, .vlan_tpid = ETH_P_8021Q, .type_word = 0xdeadbeef, .len = 48, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 40 */ { "802.1AD v4 initiation, 147 bytes", 4, .vlan_tpid = ETH_P_8021AD, .type_word = INIT, .len = INIT_LEN - 1, .action = XDP_DROP, .reason = XWG_DROP_RX_BAD_LENGTH },
	/* 41 */ { "802.1Q v4 cookie reply to another port", 4, .vlan_tpid = ETH_P_8021Q, .other_port = true, .type_word = COOKIE, .len = 63, .action = XDP_PASS },
	/* 42 */ { "v6 initiation, 148 bytes", 6, .type_word = INIT, .len = INIT_LEN, .action = XDP_PASS },
	/* 43 */ { "v6 initiation, 150 bytes", 6, .type_word = INIT, .len = INIT_LEN + 2, .action = XDP_DROP, .reason = XWG_DROP_RX_BAD_LENGTH },
	/* 44 */ { "v6 response, 92 bytes", 6, .type_word = RESP, .len = RESP_LEN, .action = XDP_PASS },
	/* 45 */ { "v6 response, 148 bytes", 6, .type_word = RESP, .len = INIT_LEN, .action = XDP_DROP, .reason = XWG_DROP_RX_BAD_LENGTH },
	/* 46 */ { "v6 cookie reply, 64 bytes", 6, .type_word = COOKIE, .len = COOKIE_LEN_, .action = XDP_PASS },
	/* 47 */ { "v6 cookie reply, 60 bytes", 6, .type_word = COOKIE, .len = COOKIE_LEN_ - 4, .action = XDP_DROP, .reason = XWG_DROP_RX_BAD_LENGTH },
	/* 48 */ { "v6 keepalive, known index", 6, .type_word = DATA, .index = KNOWN_INDEX, .len = DATA_LEN(0), .action = DATA_VERDICT },
	/* 49 */ { "v6 data, 1436 bytes, known index", 6, .type_word = DATA, .index = KNOWN_INDEX, .len = DATA_LEN(1420), .action = DATA_VERDICT },
	/* 50 */ { "v6 data, 16 bytes", 6, .type_word = DATA, .index = KNOWN_INDEX, .len = 16, .action = XDP_DROP, .reason = XWG_DROP_RX_BAD_LENGTH },
	/* 51 */ { "v6 data, unknown index", 6, .type_word = DATA, .index = UNKNOWN_INDEX, .len = DATA_LEN(0), .action = XDP_DROP, .reason = XWG_DROP_RX_UNKNOWN_INDEX },
	/* 52 */ { "v6 type 0", 6, .type_word = 0, .len = 64, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 53 */ { "v6 response with reserved byte 2 set", 6, .type_word = 0x010000 | RESP, .len = RESP_LEN, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 54 */ { "v6 message of 2 bytes", 6, .type_word = INIT, .len = 2, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 55 */ { "v6 UDP length 0 (jumbogram)", 6, .type_word = INIT, .len = INIT_LEN, .udp_len = 0x10000, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 56 */ { "v6 TCP to the port", 6, .proto = IPPROTO_TCP, .type_word = 0xdeadbeef, .len = 40, .action = XDP_PASS },
	/* 57 */ { "v6 garbage to another port", 6, .other_port = true, .type_word = 0xdeadbeef, .len = 40, .action = XDP_PASS },
	/* 58 */ { "802.1Q v6 data, known index", 6, .vlan_tpid = ETH_P_8021Q, .type_word = DATA, .index = KNOWN_INDEX, .len = 80, .action = DATA_VERDICT },
	/* 59 */ { "802.1AD v6 data, unknown index", 6, .vlan_tpid = ETH_P_8021AD, .type_word = DATA, .index = UNKNOWN_INDEX, .len = 80, .action = XDP_DROP, .reason = XWG_DROP_RX_UNKNOWN_INDEX },
	/* 60 */ { "802.1AD v6 garbage", 6, .vlan_tpid = ETH_P_8021AD, .type_word = 9, .len = 80, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* 61 */ { "ARP frame", 0, .action = XDP_PASS },
	/* 62 */ { "802.1Q ARP frame", 0, .vlan_tpid = ETH_P_8021Q, .action = XDP_PASS },
	/* 63 */ { "v4 frame cut inside the UDP header", 4, .type_word = INIT, .len = INIT_LEN, .cut_to = 14 + 20 + 4, .action = XDP_PASS },
	/* 64 */ { "v6 frame cut inside the IPv6 header", 6, .type_word = INIT, .len = INIT_LEN, .cut_to = 14 + 30, .action = XDP_PASS },
	/* 65 */ { "v4 frame cut inside the message", 4, .type_word = INIT, .len = INIT_LEN, .cut_to = 14 + 20 + 8 + 100, .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* Not ours: routed on to another host (RX_ROUTED4/6), or sent to a
	 * group address. Passed untouched, uncounted. */
	/* 66 */ { "v4 data, known index, routed on", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = DATA_LEN(1420), .daddr = RX_ROUTED4, .action = XDP_PASS },
	/* 67 */ { "v4 data, unknown index, routed on", 4, .type_word = DATA, .index = UNKNOWN_INDEX, .len = DATA_LEN(16), .daddr = RX_ROUTED4, .action = XDP_PASS },
	/* 68 */ { "v4 garbage to the port, routed on", 4, .type_word = 0xdeadbeef, .len = 100, .daddr = RX_ROUTED4, .action = XDP_PASS },
	/* 69 */ { "v4 initiation, 147 bytes, routed on", 4, .type_word = INIT, .len = INIT_LEN - 1, .daddr = RX_ROUTED4, .action = XDP_PASS },
	/* 70 */ { "v4 UDP length past the frame, routed on", 4, .type_word = INIT, .len = INIT_LEN, .udp_len = 8 + INIT_LEN + 10, .daddr = RX_ROUTED4, .action = XDP_PASS },
	/* 71 */ { "v6 data, known index, routed on", 6, .type_word = DATA, .index = KNOWN_INDEX, .len = DATA_LEN(0), .daddr = RX_ROUTED6, .action = XDP_PASS },
	/* 72 */ { "v6 data, unknown index, routed on", 6, .type_word = DATA, .index = UNKNOWN_INDEX, .len = DATA_LEN(0), .daddr = RX_ROUTED6, .action = XDP_PASS },
	/* 73 */ { "v6 garbage to the port, routed on", 6, .type_word = 9, .len = 80, .daddr = RX_ROUTED6, .action = XDP_PASS },
	/* 74 */ { "802.1Q v4 data, unknown index, routed on", 4, .vlan_tpid = ETH_P_8021Q, .type_word = DATA, .index = UNKNOWN_INDEX, .len = 80, .daddr = RX_ROUTED4, .action = XDP_PASS },
	/* 75 */ { "v4 data, known index, to the broadcast MAC", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = 48, .group_mac = true, .action = XDP_PASS },
	/* 76 */ { "v4 garbage to the port, to the broadcast MAC", 4, .type_word = 0xdeadbeef, .len = 48, .group_mac = true, .action = XDP_PASS },
	/* Ours at another local address: as before. */
	/* 77 */ { "v4 data, known index, to 127.0.0.1", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = DATA_LEN(16), .daddr = "127.0.0.1", .action = DATA_VERDICT },
	/* 78 */ { "v4 data, unknown index, to 127.0.0.1", 4, .type_word = DATA, .index = UNKNOWN_INDEX, .len = DATA_LEN(16), .daddr = "127.0.0.1", .action = XDP_DROP, .reason = XWG_DROP_RX_UNKNOWN_INDEX },
	/* 79 */ { "v6 garbage to ::1", 6, .type_word = 0xdeadbeef, .len = 64, .daddr = "::1", .action = XDP_DROP, .reason = XWG_DROP_RX_MALFORMED },
	/* Ours, but longer than an AF_XDP frame (XWG_XSK_RX_FRAME_MAX): to the
	 * stack, counted, whatever the message. (A test run puts what does not
	 * fit a page, past about 3.5 KB, into a fragment, which only
	 * bpf_xdp_get_buff_len sees: #84 stays below that.) */
	/* 80 */ { "v4 data, 3 x 1436 bytes back to back (GSO-like), known index", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = DATA_LEN(1420), .segments = 3, .action = XDP_PASS, .reason = XWG_PASS_RX_TOO_BIG_FOR_XSK },
	/* 81 */ { "v6 data, 3 x 1436 bytes back to back (GSO-like), unknown index", 6, .type_word = DATA, .index = UNKNOWN_INDEX, .len = DATA_LEN(1420), .segments = 3, .action = XDP_PASS, .reason = XWG_PASS_RX_TOO_BIG_FOR_XSK },
	/* 82 */ { "v4 data, 3900 bytes (a jumbo frame), known index", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = 3900, .action = XDP_PASS, .reason = XWG_PASS_RX_TOO_BIG_FOR_XSK },
	/* 83 */ { "v4 garbage, 3900 bytes", 4, .type_word = 0xdeadbeef, .len = 3900, .action = XDP_PASS, .reason = XWG_PASS_RX_TOO_BIG_FOR_XSK },
	/* 84 */ { "v4 data, a frame of 3500 bytes, known index", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = 3500 - 14 - 20 - 8, .action = DATA_VERDICT },
	/* 85 */ { "v4 data, frame of XWG_XSK_RX_FRAME_MAX + 1, known index", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = XWG_XSK_RX_FRAME_MAX - 14 - 20 - 8 + 1, .action = XDP_PASS, .reason = XWG_PASS_RX_TOO_BIG_FOR_XSK },
	/* 86 */ { "v4 data, 3 x 1436 bytes, routed on", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = DATA_LEN(1420), .segments = 3, .daddr = RX_ROUTED4, .action = XDP_PASS },
};

/* With the test device's MTU at RX_MTU: a datagram longer than one frame
 * can be is a GSO/GRO super-datagram that generic XDP sees whole; it goes
 * to the stack, counted, even when it fits an AF_XDP frame. */
#define RX_MTU "1500"   /* the test device's, for rx_mtu_cases */
static const struct rx_case rx_mtu_cases[] = {
	/* 1 */ { "v4 data, 1436 bytes (1464 with IP, MTU 1500), known index", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = DATA_LEN(1420), .action = DATA_VERDICT },
	/* 2 */ { "v4 data, 2 x 1436 bytes back to back (GSO-like, MTU 1500), known index", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = DATA_LEN(1420), .segments = 2, .action = XDP_PASS, .reason = XWG_PASS_RX_TOO_BIG_FOR_XSK },
	/* 3 */ { "v4 data, 2 x 1436 bytes, unknown index (MTU 1500)", 4, .type_word = DATA, .index = UNKNOWN_INDEX, .len = DATA_LEN(1420), .segments = 2, .action = XDP_PASS, .reason = XWG_PASS_RX_TOO_BIG_FOR_XSK },
	/* 4 */ { "v4 initiations, 10 back to back (MTU 1500)", 4, .type_word = INIT, .len = INIT_LEN, .segments = 10, .action = XDP_PASS, .reason = XWG_PASS_RX_TOO_BIG_FOR_XSK },
	/* 5 */ { "v6 data, 1452 bytes (1500 with IPv6), known index", 6, .type_word = DATA, .index = KNOWN_INDEX, .len = 1452, .action = DATA_VERDICT },
	/* 6 */ { "v6 data, 1468 bytes (1516 with IPv6), known index", 6, .type_word = DATA, .index = KNOWN_INDEX, .len = 1468, .action = XDP_PASS, .reason = XWG_PASS_RX_TOO_BIG_FOR_XSK },
	/* 7 */ { "802.1Q v4 data, 1472 bytes (1500 with IP), known index", 4, .vlan_tpid = ETH_P_8021Q, .type_word = DATA, .index = KNOWN_INDEX, .len = 1472, .action = DATA_VERDICT },
	/* 8 */ { "v4 data, 2 x 1436 bytes, routed on (MTU 1500)", 4, .type_word = DATA, .index = KNOWN_INDEX, .len = DATA_LEN(1420), .segments = 2, .daddr = RX_ROUTED4, .action = XDP_PASS },
};

/* Frames of up to RX_FRAME_MAX bytes: frame_build writes past FRAME_MAX
 * what it is given to write. */
#define RX_FRAME_MAX 8192
#define RX_SEGMENTS_MAX 10

static size_t rx_frame_build(uint8_t *frame, const struct rx_case *rc)
{
	static uint8_t msg[RX_FRAME_MAX];
	int segments = rc->segments > 1 ? rc->segments : 1;
	struct frame_spec spec = {
		.family = rc->family,
		.vlan_tpid = rc->vlan_tpid,
		.proto = rc->proto,
		.daddr = rc->daddr ? rc->daddr : rc->family == 6 ? RX_LOCAL6 : RX_LOCAL4,
		.dport = rc->other_port ? OTHER_PORT : LISTEN_PORT,
		.frag_off = rc->frag_off,
		.ip_opt_words = rc->ip_opt_words,
		.l4 = msg,
		.l4_len = rc->len * (size_t)segments,
		.pad_to = rc->pad_to,
		.cut_to = rc->cut_to,
		.mac_src = { 0x52, 0x54, 0, 0, 0, 1 },
		.mac_dst = { 0x52, 0x54, 0, 0, 0, 2 },
	};

	if (rc->group_mac)
		memset(spec.mac_dst, 0xff, ETH_ALEN);
	/* A UDP length of 0x10000 is written as 0, the jumbogram marker. */
	spec.udp_len = rc->udp_len == 0x10000 ? 0 : rc->udp_len;
	for (int i = 0; i < segments; i++)
		message_fill(msg + (size_t)i * rc->len, rc->type_word, rc->index, rc->len);
	if (rc->udp_len == 0x10000) {
		size_t len = frame_build(frame, &spec);
		size_t udp_off = len - rc->len - 8;

		put16(frame + udp_off + 4, 0);
		return len;
	}
	return frame_build(frame, &spec);
}

static void rx_tests(const struct xdp_rx *skel, int xsks_rx_fd, int xsk_fd)
{
	int prog_fd = bpf_program__fd(skel->progs.xwg_xdp_rx);
	int config_fd = bpf_map__fd(skel->maps.config);
	int data_verdict = xsk_fd >= 0 ? XDP_REDIRECT : XDP_PASS;
	static uint8_t frame[RX_FRAME_MAX];
	char desc[160];
	uint32_t queue = 0;
	size_t len;
	int err;

	if (xsk_fd >= 0 && bpf_map_update_elem(xsks_rx_fd, &queue, &xsk_fd, BPF_ANY)) {
		result(false, "xdp_rx: an AF_XDP socket in xsks_rx[0]", "%s", strerror(errno));
		data_verdict = XDP_PASS;
	}
	err = rx_netns_setup();
	result(!err, "xdp_rx: local (" RX_LOCAL4 ", " RX_LOCAL6 ") and routed (" RX_ROUTED4 ", "
	       RX_ROUTED6 ") addresses, forwarding on", "%s", "see the errors above");

	for (size_t i = 0; i < sizeof(rx_cases) / sizeof(rx_cases[0]); i++) {
		const struct rx_case *rc = &rx_cases[i];
		int action = rc->action == DATA_VERDICT ? data_verdict : rc->action;

		len = rx_frame_build(frame, rc);
		snprintf(desc, sizeof(desc), "xdp_rx #%zu %s -> %s%s%s", i + 1, rc->name,
			 xdp_name(action), rc->reason ? " " : "", rc->reason ? drop_name(rc->reason) : "");
		run_and_check(desc, prog_fd, frame, len, NULL, NULL, action, rc->reason, xdp_name);
	}

	/* Test that a datagram longer than the device's MTU allows one to be
	 * passes, counted, even where it fits an AF_XDP frame. */
	if (rx_sh("ip link set lo mtu " RX_MTU)) {
		result(false, "xdp_rx: loopback's MTU set to " RX_MTU, "%s", "ip link failed");
	} else {
		for (size_t i = 0; i < sizeof(rx_mtu_cases) / sizeof(rx_mtu_cases[0]); i++) {
			const struct rx_case *rc = &rx_mtu_cases[i];
			int action = rc->action == DATA_VERDICT ? data_verdict : rc->action;

			len = rx_frame_build(frame, rc);
			snprintf(desc, sizeof(desc), "xdp_rx MTU #%zu %s -> %s%s%s", i + 1, rc->name,
				 xdp_name(action), rc->reason ? " " : "",
				 rc->reason ? drop_name(rc->reason) : "");
			run_and_check(desc, prog_fd, frame, len, NULL, NULL, action, rc->reason,
				      xdp_name);
		}
		rx_sh("ip link set lo mtu 65536");
	}

	/* Test that with forwarding off on the ingress device, where the
	 * lookup says nothing more (the stack would deliver or drop the
	 * datagram, never forward it), xdp_rx acts on it as on its own. */
	if (rx_forwarding_set("0")) {
		result(false, "xdp_rx: forwarding off", "%s", strerror(errno));
	} else {
		len = rx_frame_build(frame, &rx_cases[66]);
		run_and_check("xdp_rx: forwarding off, v4 data, unknown index, to " RX_ROUTED4
			      " -> XDP_DROP RX_UNKNOWN_INDEX", prog_fd, frame, len, NULL, NULL,
			      XDP_DROP, XWG_DROP_RX_UNKNOWN_INDEX, xdp_name);
		len = rx_frame_build(frame, &rx_cases[9]);
		run_and_check("xdp_rx: forwarding off, v4 keepalive, known index -> data verdict",
			      prog_fd, frame, len, NULL, NULL, data_verdict, XWG_DROP_NONE, xdp_name);
	}
	rx_netns_teardown();

	/* Test that data for a known index arriving on another underlay than
	 * the one the sockets are bound to passes to the stack, uncounted. */
	{
		struct xwg_config cfg = {
			.listen_port = htons(LISTEN_PORT),
			.wg_ifindex = 1,
			.twin_ifindex = 1,
			.event_interval_ms = EVENT_INTERVAL_MS,
			.xsk_ifindex = 4242,
		};
		uint32_t key = 0;

		bpf_map_update_elem(config_fd, &key, &cfg, BPF_ANY);
		len = rx_frame_build(frame, &rx_cases[9]);
		run_and_check("xdp_rx: data with a known index on another underlay -> XDP_PASS",
			      prog_fd, frame, len, NULL, NULL, XDP_PASS, XWG_DROP_NONE, xdp_name);
		config_set(config_fd, LISTEN_PORT);
	}

	/* Test that data for a known index passes to the stack, uncounted, when
	 * no AF_XDP socket is bound on the queue (the redirect's fallback). */
	if (xsk_fd >= 0)
		bpf_map_delete_elem(xsks_rx_fd, &queue);
	len = rx_frame_build(frame, &rx_cases[9]);
	run_and_check("xdp_rx: data with a known index but no socket on the queue -> XDP_PASS",
		      prog_fd, frame, len, NULL, NULL, XDP_PASS, XWG_DROP_NONE, xdp_name);

	/* Test that with listen_port 0 (the daemon has not configured the fast
	 * path) everything passes, garbage to the port included. */
	config_set(config_fd, 0);
	len = rx_frame_build(frame, &rx_cases[19]);
	run_and_check("xdp_rx: listen_port 0, garbage to 51820 -> XDP_PASS", prog_fd, frame, len,
		      NULL, NULL, XDP_PASS, XWG_DROP_NONE, xdp_name);
	config_set(config_fd, LISTEN_PORT);
}

/* ---------------------------------------------------------------------
 * tc_tx
 */

#define EVENTS_MAX 16
static struct xwg_event events_seen[EVENTS_MAX];
static int events_count;

static int event_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size != sizeof(struct xwg_event) || events_count >= EVENTS_MAX)
		return 0;
	memcpy(&events_seen[events_count++], data, sizeof(struct xwg_event));
	return 0;
}

/* The events since the last call (0 or 1 expected): want_peer 0 for none. */
static void events_check(const char *desc, struct ring_buffer *rb, uint32_t want_peer)
{
	int n;

	events_count = 0;
	n = ring_buffer__consume(rb);
	if (n < 0) {
		result(false, desc, "ring_buffer__consume: %s", strerror(-n));
		return;
	}
	if (!want_peer) {
		result(events_count == 0, desc, "%d event(s), the first for peer %u", events_count,
		       events_seen[0].peer_id);
		return;
	}
	if (events_count != 1) {
		result(false, desc, "%d events, want 1", events_count);
		return;
	}
	result(events_seen[0].type == XWG_EVENT_HANDSHAKE_NEEDED && events_seen[0].peer_id == want_peer &&
		       events_seen[0].time_ns != 0,
	       desc, "event type %u peer %u time %llu, want type %u peer %u", events_seen[0].type,
	       events_seen[0].peer_id, (unsigned long long)events_seen[0].time_ns,
	       XWG_EVENT_HANDSHAKE_NEEDED, want_peer);
}

static const uint8_t tx_mac_src[ETH_ALEN]; /* loopback's MAC: all zero */
static const uint8_t tx_mac_dst[ETH_ALEN] = { 0x52, 0x54, 0, 0, 0, 0x99 };

static size_t tx_frame_build(uint8_t *frame, int family, const char *saddr, const char *daddr,
			     uint8_t proto, const uint8_t *l4, size_t l4_len)
{
	struct frame_spec spec = {
		.family = family,
		.proto = proto,
		.saddr = saddr,
		.daddr = daddr,
		.sport = 40000,
		.dport = 40001,
		.l4 = l4,
		.l4_len = l4_len,
	};

	memcpy(spec.mac_src, tx_mac_src, ETH_ALEN);
	memcpy(spec.mac_dst, tx_mac_dst, ETH_ALEN);
	return frame_build(frame, &spec);
}

/* The frame out is the frame in with the source MAC 02:00:<peer id>. */
static void tag_check(const char *desc, const uint8_t *in, size_t in_len, const uint8_t *out,
		      uint32_t out_len, uint32_t peer_id)
{
	uint8_t want[FRAME_MAX];

	memcpy(want, in, in_len);
	want[6] = 0x02;
	want[7] = 0x00;
	want[8] = peer_id >> 24;
	want[9] = peer_id >> 16;
	want[10] = peer_id >> 8;
	want[11] = peer_id;
	result(out_len == in_len && !memcmp(out, want, in_len), desc,
	       "frame out (%u bytes) has source MAC %02x:%02x:%02x:%02x:%02x:%02x, want 02:00 + %u",
	       out_len, out[6], out[7], out[8], out[9], out[10], out[11], peer_id);
}

static void unchanged_check(const char *desc, const uint8_t *in, size_t in_len, const uint8_t *out,
			    uint32_t out_len)
{
	result(out_len == in_len && !memcmp(out, in, in_len), desc,
	       "the frame changed (%u bytes out, %zu in)", out_len, in_len);
}

/* data_out is the ICMP (family 4) or ICMPv6 error about the packet in,
 * which starts l2_len bytes in: ETH_HLEN, or 0 for an L3 device. */
static void icmp_error_check_at(const char *desc, int family, size_t l2_len, const uint8_t *in,
				size_t in_len, const uint8_t *out, uint32_t out_len)
{
	size_t ip_len = in_len - l2_len;
	size_t quote_len = ip_len < ICMP_QUOTE_MAX ? ip_len : ICMP_QUOTE_MAX;
	const uint8_t *in_ip = in + l2_len, *ip = out + l2_len;
	size_t hlen = family == 4 ? 20 + 8 : 40 + 8;
	const uint8_t *icmp = ip + hlen - 8;
	uint32_t sum;

	if (out_len != l2_len + hlen + quote_len) {
		result(false, desc, "frame out of %u bytes, want %zu", out_len, l2_len + hlen + quote_len);
		return;
	}
	if (l2_len && (memcmp(out, in + ETH_ALEN, ETH_ALEN) || memcmp(out + ETH_ALEN, in, ETH_ALEN) ||
		       memcmp(out + 12, in + 12, 2))) {
		result(false, desc, "%s", "the MACs are not swapped");
		return;
	}
	if (memcmp(icmp + 8, in_ip, quote_len)) {
		result(false, desc, "the error does not quote the first %zu bytes", quote_len);
		return;
	}
	if (family == 4) {
		if (ip[0] != 0x45 || ip[9] != IPPROTO_ICMP || ip[8] == 0 ||
		    (size_t)(ip[2] << 8 | ip[3]) != hlen + quote_len) {
			result(false, desc, "IPv4 header %02x ... proto %u ttl %u length %u", ip[0], ip[9],
			       ip[8], ip[2] << 8 | ip[3]);
			return;
		}
		if (memcmp(ip + 12, in_ip + 16, 4) || memcmp(ip + 16, in_ip + 12, 4)) {
			result(false, desc, "%s", "addresses are not the original's, swapped");
			return;
		}
		if (csum_finish(csum_add(0, ip, 20)) != 0) {
			result(false, desc, "%s", "bad IPv4 header checksum");
			return;
		}
		if (icmp[0] != 3 || icmp[1] != 1) {
			result(false, desc, "ICMP type %u code %u, want 3 (unreachable) 1 (host)", icmp[0],
			       icmp[1]);
			return;
		}
		sum = csum_add(0, icmp, 8 + quote_len);
	} else {
		uint8_t pseudo[8] = { 0, 0, 0, 0, 0, 0, 0, IPPROTO_ICMPV6 };

		if (ip[0] != 0x60 || ip[6] != IPPROTO_ICMPV6 || ip[7] == 0 ||
		    (size_t)(ip[4] << 8 | ip[5]) != 8 + quote_len) {
			result(false, desc, "IPv6 header %02x ... next %u hops %u length %u", ip[0], ip[6],
			       ip[7], ip[4] << 8 | ip[5]);
			return;
		}
		if (memcmp(ip + 8, in_ip + 24, 16) || memcmp(ip + 24, in_ip + 8, 16)) {
			result(false, desc, "%s", "addresses are not the original's, swapped");
			return;
		}
		if (icmp[0] != 1 || icmp[1] != 3) {
			result(false, desc, "ICMPv6 type %u code %u, want 1 (unreachable) 3 (address)",
			       icmp[0], icmp[1]);
			return;
		}
		pseudo[2] = (uint8_t)((8 + quote_len) >> 8);
		pseudo[3] = (uint8_t)(8 + quote_len);
		sum = csum_add(csum_add(0, ip + 8, 32), pseudo, 8);
		sum = csum_add(sum, icmp, 8 + quote_len);
	}
	result(csum_finish(sum) == 0, desc, "%s", "bad ICMP checksum");
}

static void icmp_error_check(const char *desc, int family, const uint8_t *in, size_t in_len,
			     const uint8_t *out, uint32_t out_len)
{
	icmp_error_check_at(desc, family, ETH_HLEN, in, in_len, out, out_len);
}

/* A connected UDP socket with IP(V6)_RECVERR: it learns of ICMP errors
 * about its datagrams through its error queue. */
static int udp_socket_connected(int family, const char *local, const char *remote)
{
	struct sockaddr_storage ss_local = { 0 }, ss_remote = { 0 };
	socklen_t len;
	int fd, on = 1;

	fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (family == 4) {
		struct sockaddr_in *l = (struct sockaddr_in *)&ss_local;
		struct sockaddr_in *r = (struct sockaddr_in *)&ss_remote;

		l->sin_family = r->sin_family = AF_INET;
		l->sin_port = htons(40000);
		r->sin_port = htons(40001);
		inet_pton(AF_INET, local, &l->sin_addr);
		inet_pton(AF_INET, remote, &r->sin_addr);
		len = sizeof(*l);
		if (setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on)))
			goto err;
	} else {
		struct sockaddr_in6 *l = (struct sockaddr_in6 *)&ss_local;
		struct sockaddr_in6 *r = (struct sockaddr_in6 *)&ss_remote;

		l->sin6_family = r->sin6_family = AF_INET6;
		l->sin6_port = htons(40000);
		r->sin6_port = htons(40001);
		inet_pton(AF_INET6, local, &l->sin6_addr);
		inet_pton(AF_INET6, remote, &r->sin6_addr);
		len = sizeof(*l);
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on)))
			goto err;
	}
	if (bind(fd, (struct sockaddr *)&ss_local, len) || connect(fd, (struct sockaddr *)&ss_remote, len))
		goto err;
	return fd;
err:
	close(fd);
	return -1;
}

/* The socket's error queue holds an ICMP(v6) error of this type and code
 * from offender, reported as EHOSTUNREACH. Waits up to a second: the error
 * travels through the backlog queue and a softirq. */
static void socket_error_check(const char *desc, int fd, int family, uint8_t type, uint8_t code,
			       const char *offender)
{
	struct pollfd pfd = { .fd = fd, .events = POLLERR };
	char control[512], data[256], want_addr[16];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	struct sock_extended_err *ee = NULL;
	struct cmsghdr *cm;
	const struct sockaddr *from;
	bool from_ok;

	if (poll(&pfd, 1, 1000) != 1 || !(pfd.revents & POLLERR)) {
		result(false, desc, "%s", "no error on the socket within 1 s");
		return;
	}
	if (recvmsg(fd, &msg, MSG_ERRQUEUE) < 0) {
		result(false, desc, "recvmsg(MSG_ERRQUEUE): %s", strerror(errno));
		return;
	}
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if ((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVERR) ||
		    (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVERR))
			ee = (struct sock_extended_err *)CMSG_DATA(cm);
	}
	if (!ee) {
		result(false, desc, "%s", "no extended error in the error queue");
		return;
	}
	from = SO_EE_OFFENDER(ee);
	inet_pton(family == 4 ? AF_INET : AF_INET6, offender, want_addr);
	if (family == 4)
		from_ok = from->sa_family == AF_INET &&
			  !memcmp(&((const struct sockaddr_in *)from)->sin_addr, want_addr, 4);
	else
		from_ok = from->sa_family == AF_INET6 &&
			  !memcmp(&((const struct sockaddr_in6 *)from)->sin6_addr, want_addr, 16);
	result(ee->ee_errno == EHOSTUNREACH &&
		       ee->ee_origin == (family == 4 ? SO_EE_ORIGIN_ICMP : SO_EE_ORIGIN_ICMP6) &&
		       ee->ee_type == type && ee->ee_code == code && from_ok,
	       desc, "errno %u origin %u type %u code %u (offender %s), want EHOSTUNREACH from %s",
	       ee->ee_errno, ee->ee_origin, ee->ee_type, ee->ee_code, from_ok ? "right" : "wrong",
	       offender);
}

static int64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void tx_tests(struct tc_tx *skel)
{
	int prog_fd = bpf_program__fd(skel->progs.xwg_tc_tx);
	int peers_fd = bpf_map__fd(skel->maps.peers);
	uint8_t frame[FRAME_MAX], out[FRAME_MAX], l4[64];
	struct ring_buffer *rb;
	uint32_t out_len, peer_id = 8;
	struct xwg_peer peer;
	size_t len;
	int fd;

	memset(l4, 0x5a, sizeof(l4));
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), event_record, NULL, NULL);
	if (!rb) {
		result(false, "tc_tx: ring buffer", "ring_buffer__new: %s", strerror(errno));
		return;
	}
	ring_buffer__consume(rb); /* whatever an earlier run left */

	/* Test that a packet for a peer with a session is tagged with it. */
	len = tx_frame_build(frame, 4, "10.0.0.1", "10.7.1.2", 0, l4, 20);
	if (run_and_check("tc_tx #1 v4 to a peer with a session -> TC_ACT_OK", prog_fd, frame, len, out,
			  &out_len, TC_ACT_OK, XWG_DROP_NONE, tc_name))
		tag_check("tc_tx #1 source MAC is 02:00:00:00:00:07", frame, len, out, out_len, 7);
	events_check("tc_tx #1 no event", rb, 0);

	len = tx_frame_build(frame, 6, "fd00::1", "fd00:7::2", 0, l4, 20);
	if (run_and_check("tc_tx #2 v6 to a peer with a session -> TC_ACT_OK", prog_fd, frame, len, out,
			  &out_len, TC_ACT_OK, XWG_DROP_NONE, tc_name))
		tag_check("tc_tx #2 source MAC is 02:00:00:00:00:07", frame, len, out, out_len, 7);

	{
		struct frame_spec spec = {
			.family = 4, .saddr = "10.0.0.1", .daddr = "10.7.200.1", .dport = 9,
			.ip_opt_words = 3, .l4 = l4, .l4_len = 30,
		};

		len = frame_build(frame, &spec);
		if (run_and_check("tc_tx #3 v4 with IP options to a peer -> TC_ACT_OK", prog_fd, frame, len,
				  out, &out_len, TC_ACT_OK, XWG_DROP_NONE, tc_name))
			tag_check("tc_tx #3 source MAC is 02:00:00:00:00:07", frame, len, out, out_len, 7);
	}

	/* Test that a packet for a peer without a session passes (to be staged)
	 * tagged, and asks the daemon for a handshake, once per interval. */
	len = tx_frame_build(frame, 4, "10.0.0.1", "10.8.0.1", 0, l4, 20);
	if (run_and_check("tc_tx #4 v4 to a peer without a session -> TC_ACT_OK", prog_fd, frame, len,
			  out, &out_len, TC_ACT_OK, XWG_DROP_NONE, tc_name))
		tag_check("tc_tx #4 source MAC is 02:00:00:00:00:08", frame, len, out, out_len, 8);
	events_check("tc_tx #4 a HANDSHAKE_NEEDED event for peer 8", rb, 8);
	run_and_check("tc_tx #5 the same again -> TC_ACT_OK", prog_fd, frame, len, out, &out_len,
		      TC_ACT_OK, XWG_DROP_NONE, tc_name);
	events_check("tc_tx #5 no second event within the interval", rb, 0);
	len = tx_frame_build(frame, 6, "fd00::1", "fd00:8::1", 0, l4, 20);
	run_and_check("tc_tx #6 v6 to the same peer -> TC_ACT_OK", prog_fd, frame, len, out, &out_len,
		      TC_ACT_OK, XWG_DROP_NONE, tc_name);
	events_check("tc_tx #6 no event: the limit is per peer, not per family", rb, 0);
	len = tx_frame_build(frame, 6, "fd00::1", "fd00:9::1", 0, l4, 20);
	if (run_and_check("tc_tx #7 v6 to another peer without a session -> TC_ACT_OK", prog_fd, frame,
			  len, out, &out_len, TC_ACT_OK, XWG_DROP_NONE, tc_name))
		tag_check("tc_tx #7 source MAC is 02:00:00:00:00:09", frame, len, out, out_len, 9);
	events_check("tc_tx #7 an event for peer 9 (limits are per peer)", rb, 9);
	if (bpf_map_lookup_elem(peers_fd, &peer_id, &peer) == 0) {
		int64_t age = monotonic_ns() - (int64_t)peer.last_event_ns;

		result(peer.last_event_ns && age >= 0 && age < 10LL * 1000000000, "tc_tx #8 peers[8].last_event_ns is recent",
		       "last_event_ns %llu, %lld ns ago", (unsigned long long)peer.last_event_ns, (long long)age);
		peer.last_event_ns -= (EVENT_INTERVAL_MS + 1) * 1000000ULL;
		bpf_map_update_elem(peers_fd, &peer_id, &peer, BPF_ANY);
	}
	len = tx_frame_build(frame, 4, "10.0.0.1", "10.8.0.1", 0, l4, 20);
	run_and_check("tc_tx #8 to peer 8 after the interval -> TC_ACT_OK", prog_fd, frame, len, out,
		      &out_len, TC_ACT_OK, XWG_DROP_NONE, tc_name);
	events_check("tc_tx #8 a new event for peer 8 after the interval", rb, 8);

	/* Test that packets for no peer are dropped and answered with an ICMP
	 * error that reaches the sending socket. */
	skel->bss->icmp_tat_ns = 0;
	len = tx_frame_build(frame, 4, "10.0.0.1", "10.10.0.1", 0, l4, 20);
	if (run_and_check("tc_tx #9 v4 to a prefix of an inactive peer -> TC_ACT_SHOT TX_NO_PEER",
			  prog_fd, frame, len, out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_NO_PEER, tc_name))
		icmp_error_check("tc_tx #9 the frame became an ICMP host unreachable", 4, frame, len, out,
				 out_len);

	fd = udp_socket_connected(4, "127.0.0.2", "127.9.9.9");
	if (fd < 0)
		result(false, "tc_tx #10 UDP socket 127.0.0.2 -> 127.9.9.9", "%s", strerror(errno));
	skel->bss->icmp_tat_ns = 0;
	len = tx_frame_build(frame, 4, "127.0.0.2", "127.9.9.9", 0, (const uint8_t *)"hello", 5);
	if (run_and_check("tc_tx #10 v4 UDP to no peer -> TC_ACT_SHOT TX_NO_PEER", prog_fd, frame, len,
			  out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_NO_PEER, tc_name)) {
		icmp_error_check("tc_tx #10 the frame became an ICMP host unreachable", 4, frame, len, out,
				 out_len);
		if (fd >= 0)
			socket_error_check("tc_tx #10 the sender's socket gets EHOSTUNREACH from 127.9.9.9",
					   fd, 4, 3, 1, "127.9.9.9");
	}
	if (fd >= 0)
		close(fd);

	fd = udp_socket_connected(6, "::1", "::1");
	if (fd < 0)
		result(false, "tc_tx #11 UDP socket [::1] -> [::1]", "%s", strerror(errno));
	skel->bss->icmp_tat_ns = 0;
	len = tx_frame_build(frame, 6, "::1", "::1", 0, l4, 60);
	if (run_and_check("tc_tx #11 v6 UDP to no peer -> TC_ACT_SHOT TX_NO_PEER", prog_fd, frame, len,
			  out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_NO_PEER, tc_name)) {
		icmp_error_check("tc_tx #11 the frame became an ICMPv6 address unreachable", 6, frame, len,
				 out, out_len);
		if (fd >= 0)
			socket_error_check("tc_tx #11 the sender's socket gets EHOSTUNREACH from ::1", fd, 6,
					   1, 3, "::1");
	}
	if (fd >= 0)
		close(fd);

	/* Test that long packets are quoted up to 128 bytes. */
	{
		uint8_t big[1200];

		memset(big, 0x33, sizeof(big));
		skel->bss->icmp_tat_ns = 0;
		len = tx_frame_build(frame, 6, "fd00::1", "fd00:99::1", 0, big, sizeof(big));
		if (run_and_check("tc_tx #12 v6 1248-byte packet to no peer -> TC_ACT_SHOT TX_NO_PEER",
				  prog_fd, frame, len, out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_NO_PEER, tc_name))
			icmp_error_check("tc_tx #12 the ICMPv6 error quotes 128 bytes", 6, frame, len, out,
					 out_len);
	}

	/* Test that no error is sent about an error, a later fragment, or a
	 * packet to a multicast address (RFC 1122 3.2.2, RFC 4443 2.4). */
	{
		const uint8_t unreach[8] = { 3, 1 }, echo[8] = { 8, 0 }, unreach6[8] = { 1, 4 };
		struct frame_spec frag = {
			.family = 4, .saddr = "10.0.0.1", .daddr = "10.99.0.1", .dport = 9,
			.frag_off = 100, .l4 = l4, .l4_len = 40,
		};

		skel->bss->icmp_tat_ns = 0;
		len = tx_frame_build(frame, 4, "10.0.0.1", "10.99.0.1", IPPROTO_ICMP, unreach, 8);
		if (run_and_check("tc_tx #13 v4 ICMP error to no peer -> TC_ACT_SHOT TX_NO_PEER", prog_fd,
				  frame, len, out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_NO_PEER, tc_name))
			unchanged_check("tc_tx #13 no ICMP error about an ICMP error", frame, len, out, out_len);
		len = tx_frame_build(frame, 4, "10.0.0.1", "224.0.0.251", 0, l4, 20);
		if (run_and_check("tc_tx #14 v4 to a multicast group -> TC_ACT_SHOT TX_NO_PEER", prog_fd,
				  frame, len, out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_NO_PEER, tc_name))
			unchanged_check("tc_tx #14 no ICMP error about multicast", frame, len, out, out_len);
		len = frame_build(frame, &frag);
		if (run_and_check("tc_tx #15 v4 later fragment to no peer -> TC_ACT_SHOT TX_NO_PEER", prog_fd,
				  frame, len, out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_NO_PEER, tc_name))
			unchanged_check("tc_tx #15 no ICMP error about a later fragment", frame, len, out,
					out_len);
		len = tx_frame_build(frame, 6, "fd00::1", "fd00:99::1", IPPROTO_ICMPV6, unreach6, 8);
		if (run_and_check("tc_tx #16 v6 ICMPv6 error to no peer -> TC_ACT_SHOT TX_NO_PEER", prog_fd,
				  frame, len, out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_NO_PEER, tc_name))
			unchanged_check("tc_tx #16 no ICMPv6 error about an ICMPv6 error", frame, len, out,
					out_len);
		len = tx_frame_build(frame, 6, "fd00::1", "ff02::1", 0, l4, 20);
		if (run_and_check("tc_tx #17 v6 to ff02::1 -> TC_ACT_SHOT TX_NO_PEER", prog_fd, frame, len,
				  out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_NO_PEER, tc_name))
			unchanged_check("tc_tx #17 no ICMPv6 error about multicast", frame, len, out, out_len);
		len = tx_frame_build(frame, 6, "::", "fd00:99::1", 0, l4, 20);
		if (run_and_check("tc_tx #18 v6 from :: to no peer -> TC_ACT_SHOT TX_NO_PEER", prog_fd, frame,
				  len, out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_NO_PEER, tc_name))
			unchanged_check("tc_tx #18 no ICMPv6 error to the unspecified address", frame, len, out,
					out_len);
		len = tx_frame_build(frame, 4, "10.0.0.1", "10.99.0.1", IPPROTO_ICMP, echo, 8);
		if (run_and_check("tc_tx #19 v4 ICMP echo request to no peer -> TC_ACT_SHOT TX_NO_PEER",
				  prog_fd, frame, len, out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_NO_PEER, tc_name))
			icmp_error_check("tc_tx #19 an echo request gets its ICMP error", 4, frame, len, out,
					 out_len);
	}

	/* Test that ICMP errors are rate-limited: a burst, then nothing until
	 * the interval has passed; every packet is still counted. */
	skel->bss->icmp_tat_ns = 0;
	len = tx_frame_build(frame, 4, "10.0.0.1", "10.99.0.1", 0, l4, 20);
	for (int i = 1; i <= TEST_ICMP_BURST + 1; i++) {
		char desc[128];

		snprintf(desc, sizeof(desc), "tc_tx #20.%d packet %d of a burst to no peer -> TC_ACT_SHOT TX_NO_PEER", i, i);
		if (!run_and_check(desc, prog_fd, frame, len, out, &out_len, TC_ACT_SHOT,
				   XWG_DROP_TX_NO_PEER, tc_name))
			continue;
		if (i <= TEST_ICMP_BURST) {
			snprintf(desc, sizeof(desc), "tc_tx #20.%d answered (burst of %d)", i, TEST_ICMP_BURST);
			icmp_error_check(desc, 4, frame, len, out, out_len);
		} else {
			snprintf(desc, sizeof(desc), "tc_tx #20.%d not answered: rate-limited", i);
			unchanged_check(desc, frame, len, out, out_len);
		}
	}

	/* Test that what is not IPv4 or IPv6, or is cut short, is dropped. */
	{
		struct frame_spec arp = { .family = 0 };
		uint8_t bad[64] = { 0 };

		len = frame_build(frame, &arp);
		run_and_check("tc_tx #21 ARP -> TC_ACT_SHOT TX_MALFORMED", prog_fd, frame, len, out, &out_len,
			      TC_ACT_SHOT, XWG_DROP_TX_MALFORMED, tc_name);
		/* The kernel's test run refuses IP frames shorter than the fixed
		 * IP header, so a cut-short header is one whose IHL runs past the
		 * frame. */
		memcpy(bad, tx_mac_dst, ETH_ALEN);
		put16(bad + 12, ETH_P_IP);
		bad[14] = 0x4f;
		run_and_check("tc_tx #22 IPv4 header of IHL 15 cut at 24 bytes -> TC_ACT_SHOT TX_MALFORMED",
			      prog_fd, bad, ETH_HLEN + 24, out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_MALFORMED,
			      tc_name);
		put16(bad + 12, ETH_P_IPV6);
		bad[14] = 0x45;
		run_and_check("tc_tx #23 IPv6 EtherType, version 4 -> TC_ACT_SHOT TX_MALFORMED", prog_fd, bad,
			      ETH_HLEN + 48, out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_MALFORMED, tc_name);
		put16(bad + 12, ETH_P_IP);
		bad[14] = 0x65;
		run_and_check("tc_tx #24 IPv4 EtherType, version 6 -> TC_ACT_SHOT TX_MALFORMED", prog_fd, bad,
			      ETH_HLEN + 40, out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_MALFORMED, tc_name);
		put16(bad + 12, 0x88b5); /* IEEE local experimental */
		run_and_check("tc_tx #25 an Ethernet header alone -> TC_ACT_SHOT TX_MALFORMED", prog_fd, bad,
			      ETH_HLEN, out, &out_len, TC_ACT_SHOT, XWG_DROP_TX_MALFORMED, tc_name);
	}
	events_check("tc_tx: no stray events", rb, 0);
	ring_buffer__free(rb);
}

/* ---------------------------------------------------------------------
 * tc_tx on an L3 device (rodata l3_device = 1, as on a TUN)
 *
 * The kernel's test run hands a tc program an skb built as an Ethernet
 * frame: bytes 12-13 become skb->protocol, and skb->data stays at byte 0.
 * So an IP packet given alone is what the program sees on a TUN when its
 * bytes 12-13 spell its family's EtherType: the first two bytes of an IPv4
 * source (8.0.x.x), the third group of an IPv6 source (2001:db8:86dd::x).
 * Sources that spell another EtherType make the mismatches.
 */

#define L3_SRC4 "8.0.0.1"
#define L3_SRC6 "2001:db8:86dd::1"
#define L3_GSO_SIZE 1400
#define L3_GSO_SEGS 2
#define L3_PACKET_MAX 3072        /* a test run's data stays under a page */

/* The packet of spec alone (no Ethernet header) into buf, FRAME_MAX long. */
static size_t l3_packet_build(uint8_t *buf, const struct frame_spec *spec)
{
	size_t len = frame_build(buf, spec);

	memmove(buf, buf + ETH_HLEN, len - ETH_HLEN);
	return len - ETH_HLEN;
}

static size_t l3_build(uint8_t *buf, int family, const char *saddr, const char *daddr, uint8_t proto,
		       const uint8_t *l4, size_t l4_len)
{
	struct frame_spec spec = {
		.family = family, .proto = proto, .saddr = saddr, .daddr = daddr,
		.sport = 40000, .dport = 40001, .l4 = l4, .l4_len = l4_len,
	};

	return l3_packet_build(buf, &spec);
}

/* A TCP super-packet as TSO hands it over: one IP and TCP header, then
 * L3_GSO_SEGS segments of L3_GSO_SIZE bytes. */
static size_t l3_gso_build(uint8_t *buf, int family, const char *saddr, const char *daddr)
{
	uint8_t head[FRAME_MAX], tcp[20] = { 0x9c, 0x40, 0x13, 0x89, [12] = 0x50, [13] = 0x10 };
	size_t hlen = l3_build(head, family, saddr, daddr, IPPROTO_TCP, tcp, sizeof(tcp));
	size_t len = hlen + L3_GSO_SEGS * L3_GSO_SIZE;

	memcpy(buf, head, hlen);
	for (size_t i = hlen; i < len; i++)
		buf[i] = (uint8_t)(i * 7);
	if (family == 4) {
		put16(buf + 2, (uint16_t)len);
		put16(buf + 10, 0);
		put16(buf + 10, csum_finish(csum_add(0, buf, 20)));
	} else {
		put16(buf + 4, (uint16_t)(len - 40));
	}
	return len;
}

/* Runs the program on packet in as an skb of gso_segs segments of gso_size
 * bytes (0: not GSO) and asserts the verdict and the drop counter; *segs_out
 * is gso_segs after the run. */
static bool l3_run_and_check(const char *desc, int prog_fd, const uint8_t *in, size_t len,
			     uint16_t gso_segs, uint16_t gso_size, uint8_t *out, uint32_t *out_len,
			     uint32_t *segs_out, int want_action, int want_reason)
{
	struct __sk_buff ctx = { .gso_segs = gso_segs, .gso_size = gso_size };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = in,
		.data_size_in = (uint32_t)len,
		.data_out = out,
		.data_size_out = L3_PACKET_MAX,
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.ctx_out = &ctx,
		.ctx_size_out = sizeof(ctx),
		.repeat = 1,
	);
	uint64_t before[XWG_DROP_REASONS], after[XWG_DROP_REASONS];
	char why[256];

	if (drops_read(before) || bpf_prog_test_run_opts(prog_fd, &opts) || drops_read(after)) {
		result(false, desc, "test run or drops map: %s", strerror(errno));
		return false;
	}
	*out_len = opts.data_size_out;
	*segs_out = ctx.gso_segs;
	drops_explain(before, after, want_reason, why, sizeof(why));
	if ((int)opts.retval != want_action) {
		result(false, desc, "verdict %s (%u), want %s", tc_name(opts.retval), opts.retval,
		       tc_name(want_action));
		return false;
	}
	result(!why[0], desc, "verdict %s, but %s (want %s +1)", tc_name(opts.retval), why,
	       drop_name(want_reason));
	return !why[0];
}

static void tx_l3_tests(const char *pin_root)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root);
	static uint8_t pkt[L3_PACKET_MAX], out[L3_PACKET_MAX];
	uint8_t l4[64], big[1200];
	struct ring_buffer *rb = NULL;
	struct tc_tx *skel;
	uint32_t out_len, segs;
	size_t len;
	int prog_fd, err;

	skel = tc_tx__open_opts(&opts);
	if (skel) {
		skel->rodata->l3_device = 1;
		skel->rodata->icmp_burst = TEST_ICMP_BURST;
		skel->rodata->icmp_interval_ns = TEST_ICMP_INTERVAL_NS;
	}
	err = skel ? tc_tx__load(skel) : -errno;
	result(!err, "tc_tx L3: loads with rodata l3_device = 1 (verifier)", "%s", strerror(-err));
	if (err)
		goto out;
	prog_fd = bpf_program__fd(skel->progs.xwg_tc_tx);
	/* Peer 11: active, no session, its own event interval. */
	err = peer_set(bpf_map__fd(skel->maps.peers), 11, XWG_PEER_ACTIVE) ||
	      prefix_v4_add(bpf_map__fd(skel->maps.allowed_ips_v4), "10.11.0.0", 16, 11) ||
	      prefix_v6_add(bpf_map__fd(skel->maps.allowed_ips_v6), "fd00:b::", 32, 11) ? -errno : 0;
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), event_record, NULL, NULL);
	if (err || !rb) {
		result(false, "tc_tx L3: peer 11 and a ring buffer", "%s", strerror(errno));
		goto out;
	}
	ring_buffer__consume(rb);
	memset(l4, 0x5a, sizeof(l4));
	memset(big, 0x33, sizeof(big));

	/* Test that a packet for a peer passes untouched: no tag on a TUN. */
	len = l3_build(pkt, 4, L3_SRC4, "10.7.1.2", 0, l4, 20);
	if (l3_run_and_check("tc_tx L3 #1 v4 to a peer with a session -> TC_ACT_OK", prog_fd, pkt, len,
			     0, 0, out, &out_len, &segs, TC_ACT_OK, XWG_DROP_NONE))
		unchanged_check("tc_tx L3 #1 the packet is untouched", pkt, len, out, out_len);
	len = l3_build(pkt, 6, L3_SRC6, "fd00:7::2", 0, l4, 20);
	if (l3_run_and_check("tc_tx L3 #2 v6 to a peer with a session -> TC_ACT_OK", prog_fd, pkt, len,
			     0, 0, out, &out_len, &segs, TC_ACT_OK, XWG_DROP_NONE))
		unchanged_check("tc_tx L3 #2 the packet is untouched", pkt, len, out, out_len);
	{
		struct frame_spec spec = {
			.family = 4, .saddr = L3_SRC4, .daddr = "10.7.200.1", .dport = 9,
			.ip_opt_words = 10, .l4 = l4, .l4_len = 30,
		};

		len = l3_packet_build(pkt, &spec);
		if (l3_run_and_check("tc_tx L3 #3 v4 with 40 bytes of options (IHL 15) to a peer -> TC_ACT_OK",
				     prog_fd, pkt, len, 0, 0, out, &out_len, &segs, TC_ACT_OK, XWG_DROP_NONE))
			unchanged_check("tc_tx L3 #3 the packet is untouched", pkt, len, out, out_len);
	}
	events_check("tc_tx L3 #1-3 no event", rb, 0);

	/* Test that a packet for a peer without a session passes and asks
	 * for a handshake, once per interval. */
	len = l3_build(pkt, 4, L3_SRC4, "10.11.0.1", 0, l4, 20);
	if (l3_run_and_check("tc_tx L3 #4 v4 to a peer without a session -> TC_ACT_OK", prog_fd, pkt,
			     len, 0, 0, out, &out_len, &segs, TC_ACT_OK, XWG_DROP_NONE))
		unchanged_check("tc_tx L3 #4 the packet is untouched", pkt, len, out, out_len);
	events_check("tc_tx L3 #4 a HANDSHAKE_NEEDED event for peer 11", rb, 11);
	len = l3_build(pkt, 6, L3_SRC6, "fd00:b::1", 0, l4, 20);
	l3_run_and_check("tc_tx L3 #5 v6 to the same peer -> TC_ACT_OK", prog_fd, pkt, len, 0, 0, out,
			 &out_len, &segs, TC_ACT_OK, XWG_DROP_NONE);
	events_check("tc_tx L3 #5 no second event within the interval", rb, 0);

	/* Test that a packet for no peer is dropped and becomes, in place,
	 * an ICMP error without a link-layer header. */
	skel->bss->icmp_tat_ns = 0;
	len = l3_build(pkt, 4, L3_SRC4, "10.99.0.1", 0, l4, 20);
	if (l3_run_and_check("tc_tx L3 #6 v4 UDP to no peer -> TC_ACT_SHOT TX_NO_PEER", prog_fd, pkt, len,
			     0, 0, out, &out_len, &segs, TC_ACT_SHOT, XWG_DROP_TX_NO_PEER))
		icmp_error_check_at("tc_tx L3 #6 the packet became an ICMP host unreachable", 4, 0, pkt,
				    len, out, out_len);
	len = l3_build(pkt, 6, L3_SRC6, "fd00:99::1", 0, big, sizeof(big));
	if (l3_run_and_check("tc_tx L3 #7 v6 1248-byte packet to no peer -> TC_ACT_SHOT TX_NO_PEER",
			     prog_fd, pkt, len, 0, 0, out, &out_len, &segs, TC_ACT_SHOT, XWG_DROP_TX_NO_PEER))
		icmp_error_check_at("tc_tx L3 #7 an ICMPv6 address unreachable quoting 128 bytes", 6, 0,
				    pkt, len, out, out_len);
	{
		struct frame_spec spec = {
			.family = 4, .saddr = L3_SRC4, .daddr = "10.99.0.2", .dport = 9,
			.ip_opt_words = 10, .l4 = l4, .l4_len = 30,
		};

		len = l3_packet_build(pkt, &spec);
		if (l3_run_and_check("tc_tx L3 #8 v4 with IHL 15 to no peer -> TC_ACT_SHOT TX_NO_PEER",
				     prog_fd, pkt, len, 0, 0, out, &out_len, &segs, TC_ACT_SHOT,
				     XWG_DROP_TX_NO_PEER))
			icmp_error_check_at("tc_tx L3 #8 the ICMP error quotes the options", 4, 0, pkt, len,
					    out, out_len);
	}

	/* Test that GSO super-packets pass whole, and that one for no peer
	 * becomes an error quoting its first bytes, no longer GSO. */
	len = l3_gso_build(pkt, 4, L3_SRC4, "10.7.0.9");
	if (l3_run_and_check("tc_tx L3 #9 v4 TCP GSO packet (2 x 1400) to a peer -> TC_ACT_OK", prog_fd,
			     pkt, len, L3_GSO_SEGS, L3_GSO_SIZE, out, &out_len, &segs, TC_ACT_OK,
			     XWG_DROP_NONE)) {
		unchanged_check("tc_tx L3 #9 the super-packet is untouched", pkt, len, out, out_len);
		result(segs == L3_GSO_SEGS, "tc_tx L3 #9 still 2 GSO segments", "gso_segs %u", segs);
	}
	skel->bss->icmp_tat_ns = 0;
	len = l3_gso_build(pkt, 6, L3_SRC6, "fd00:99::9");
	if (l3_run_and_check("tc_tx L3 #10 v6 TCP GSO packet to no peer -> TC_ACT_SHOT TX_NO_PEER",
			     prog_fd, pkt, len, L3_GSO_SEGS, L3_GSO_SIZE, out, &out_len, &segs,
			     TC_ACT_SHOT, XWG_DROP_TX_NO_PEER)) {
		icmp_error_check_at("tc_tx L3 #10 an ICMPv6 error quoting its first 128 bytes", 6, 0, pkt,
				    len, out, out_len);
		result(segs == 0, "tc_tx L3 #10 the error is not GSO", "gso_segs %u", segs);
	}

	/* Test that a family that skb->protocol and the version field do not
	 * agree on, another protocol, or a cut-short header is dropped. */
	len = l3_build(pkt, 4, "134.221.0.1", "10.7.0.1", 0, l4, 40);
	l3_run_and_check("tc_tx L3 #11 skb->protocol IPv6, version 4 -> TC_ACT_SHOT TX_MALFORMED", prog_fd,
			 pkt, len, 0, 0, out, &out_len, &segs, TC_ACT_SHOT, XWG_DROP_TX_MALFORMED);
	len = l3_build(pkt, 6, "2001:db8:800::1", "fd00:7::1", 0, l4, 20);
	l3_run_and_check("tc_tx L3 #12 skb->protocol IPv4, version 6 -> TC_ACT_SHOT TX_MALFORMED", prog_fd,
			 pkt, len, 0, 0, out, &out_len, &segs, TC_ACT_SHOT, XWG_DROP_TX_MALFORMED);
	len = l3_build(pkt, 4, "8.6.0.1", "10.7.0.1", 0, l4, 20);
	l3_run_and_check("tc_tx L3 #13 skb->protocol ARP -> TC_ACT_SHOT TX_MALFORMED", prog_fd, pkt, len,
			 0, 0, out, &out_len, &segs, TC_ACT_SHOT, XWG_DROP_TX_MALFORMED);
	len = l3_build(pkt, 4, L3_SRC4, "10.7.0.1", 0, l4, 20);
	pkt[0] = 0x4f;
	l3_run_and_check("tc_tx L3 #14 IPv4 header of IHL 15 cut at 48 bytes -> TC_ACT_SHOT TX_MALFORMED",
			 prog_fd, pkt, 48, 0, 0, out, &out_len, &segs, TC_ACT_SHOT, XWG_DROP_TX_MALFORMED);
	events_check("tc_tx L3: no stray events", rb, 0);
out:
	ring_buffer__free(rb);
	tc_tx__destroy(skel);
}

/* ---------------------------------------------------------------------
 * xdp_twin
 */

static void twin_tests(const struct xdp_twin *skel, int xsk_fd)
{
	int prog_fd = bpf_program__fd(skel->progs.xwg_xdp_twin);
	int xsks_tx_fd = bpf_map__fd(skel->maps.xsks_tx);
	uint8_t frame[FRAME_MAX], l4[20] = { 0 };
	uint32_t queue = 0;
	size_t len;

	len = tx_frame_build(frame, 4, "10.0.0.1", "10.7.0.1", 0, l4, sizeof(l4));
	run_and_check("xdp_twin #1 no AF_XDP socket on the queue -> XDP_DROP TX_NO_SOCKET", prog_fd, frame,
		      len, NULL, NULL, XDP_DROP, XWG_DROP_TX_NO_SOCKET, xdp_name);
	if (xsk_fd < 0)
		return;
	if (bpf_map_update_elem(xsks_tx_fd, &queue, &xsk_fd, BPF_ANY)) {
		result(false, "xdp_twin: an AF_XDP socket in xsks_tx[0]", "%s", strerror(errno));
		return;
	}
	run_and_check("xdp_twin #2 an AF_XDP socket on the queue -> XDP_REDIRECT", prog_fd, frame, len,
		      NULL, NULL, XDP_REDIRECT, XWG_DROP_NONE, xdp_name);
	bpf_map_delete_elem(xsks_tx_fd, &queue);
}

/* ---------------------------------------------------------------------
 * tc_tx on a real interface (--live)
 */

/* A UDP socket that lets the kernel pick the source address, connected to
 * remote:40001, with IP(V6)_RECVERR. */
static int udp_socket_to(int family, const char *remote)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, on = 1, level = family == 4 ? IPPROTO_IP : IPPROTO_IPV6;

	fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (family == 4) {
		struct sockaddr_in *r = (struct sockaddr_in *)&ss;

		r->sin_family = AF_INET;
		r->sin_port = htons(40001);
		inet_pton(AF_INET, remote, &r->sin_addr);
		len = sizeof(*r);
	} else {
		struct sockaddr_in6 *r = (struct sockaddr_in6 *)&ss;

		r->sin6_family = AF_INET6;
		r->sin6_port = htons(40001);
		inet_pton(AF_INET6, remote, &r->sin6_addr);
		len = sizeof(*r);
	}
	if (setsockopt(fd, level, family == 4 ? IP_RECVERR : IPV6_RECVERR, &on, sizeof(on)) ||
	    connect(fd, (struct sockaddr *)&ss, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends one byte. The drop at wg0's egress (TC_ACT_SHOT) reaches a socket
 * with IP(V6)_RECVERR as ENOBUFS from send(), before the ICMP error comes
 * (the kernel's WireGuard fails the send with ENOKEY in the same place). */
static bool send_one(int fd)
{
	return send(fd, "x", 1, 0) == 1 || errno == ENOBUFS;
}

/* Test that a datagram to no peer (10.99.0.1, fd00:99::1) is answered with
 * an ICMP error that comes in through the tunnel interface (via) and
 * reaches its socket, and that tc_tx counts it as TX_NO_PEER. The
 * interface's own multicast (MLD, router solicitations) is for no peer
 * either, so the counter may move by more. */
static void no_peer_errors_check(const char *mode, const char *via)
{
	uint64_t before[XWG_DROP_REASONS], after[XWG_DROP_REASONS];
	char desc[160];
	int fd;

	fd = udp_socket_to(4, "10.99.0.1");
	drops_read(before);
	if (fd < 0 || !send_one(fd)) {
		result(false, "a UDP datagram to 10.99.0.1 (no peer)", "%s #1: %s", mode,
		       strerror(errno));
	} else {
		snprintf(desc, sizeof(desc), "%s #1 its socket gets EHOSTUNREACH from 10.99.0.1 "
			 "through %s", mode, via);
		socket_error_check(desc, fd, 4, 3, 1, "10.99.0.1");
		drops_read(after);
		snprintf(desc, sizeof(desc), "%s #1 counted as TX_NO_PEER", mode);
		result(after[XWG_DROP_TX_NO_PEER] > before[XWG_DROP_TX_NO_PEER], desc, "%s",
		       "TX_NO_PEER did not move");
	}
	if (fd >= 0)
		close(fd);
	fd = udp_socket_to(6, "fd00:99::1");
	if (fd < 0 || !send_one(fd)) {
		result(false, "a UDP datagram to fd00:99::1 (no peer)", "%s #2: %s", mode,
		       strerror(errno));
	} else {
		snprintf(desc, sizeof(desc), "%s #2 its socket gets EHOSTUNREACH from fd00:99::1 "
			 "through %s", mode, via);
		socket_error_check(desc, fd, 6, 1, 3, "fd00:99::1");
	}
	if (fd >= 0)
		close(fd);
}


/* A frame arrives on the packet socket within a second whose IPv4
 * destination is daddr; its source MAC must be 02:00:<peer_id>. */
static void twin_frame_check(const char *desc, int packet_fd, const char *daddr, uint32_t peer_id)
{
	uint8_t frame[FRAME_MAX], want_daddr[4], want_mac[ETH_ALEN] = {
		0x02, 0x00, peer_id >> 24, peer_id >> 16, peer_id >> 8, peer_id,
	};
	int64_t deadline = monotonic_ns() + 1000000000;
	struct pollfd pfd = { .fd = packet_fd, .events = POLLIN };

	inet_pton(AF_INET, daddr, want_daddr);
	while (monotonic_ns() < deadline) {
		ssize_t n;

		if (poll(&pfd, 1, 100) != 1)
			continue;
		n = recv(packet_fd, frame, sizeof(frame), 0);
		if (n < ETH_HLEN + 20 || frame[12] != 0x08 || frame[13] != 0x00 ||
		    memcmp(frame + ETH_HLEN + 16, want_daddr, 4))
			continue;
		result(!memcmp(frame + ETH_ALEN, want_mac, ETH_ALEN), desc,
		       "source MAC %02x:%02x:%02x:%02x:%02x:%02x, want 02:00 + %u", frame[6], frame[7],
		       frame[8], frame[9], frame[10], frame[11], peer_id);
		return;
	}
	result(false, desc, "no frame to %s on the twin within 1 s", daddr);
}

static int live_main(const char *wg, const char *twin_name, const char *pin_root)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root);
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tc_opts);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct tc_tx *tx;
	int err, fd, packet_fd = -1;
	bool hooked = false;

	hook.ifindex = (int)if_nametoindex(wg);
	sll.sll_ifindex = (int)if_nametoindex(twin_name);
	if (!hook.ifindex || !sll.sll_ifindex) {
		result(false, "live: the interfaces exist", "%s or %s: %s", wg, twin_name, strerror(errno));
		goto out_summary;
	}

	tx = tc_tx__open_opts(&opts);
	err = tx ? tc_tx__load(tx) : -errno;
	result(!err, "live: tc_tx loads", "%s", strerror(-err));
	if (err)
		goto out_summary;
	drops_fd = bpf_map__fd(tx->maps.drops);
	{
		struct xwg_config cfg = {
			.listen_port = htons(LISTEN_PORT),
			.wg_ifindex = (uint32_t)hook.ifindex,
			.twin_ifindex = (uint32_t)sll.sll_ifindex,
			.event_interval_ms = EVENT_INTERVAL_MS,
		};
		uint32_t key = 0;

		err = bpf_map_update_elem(bpf_map__fd(tx->maps.config), &key, &cfg, BPF_ANY) ||
		      peer_set(bpf_map__fd(tx->maps.peers), 7, XWG_PEER_ACTIVE | XWG_PEER_CAN_SEND) ||
		      prefix_v4_add(bpf_map__fd(tx->maps.allowed_ips_v4), "10.7.0.0", 16, 7) ||
		      prefix_v6_add(bpf_map__fd(tx->maps.allowed_ips_v6), "fd00:7::", 32, 7) ? -errno : 0;
	}
	result(!err, "live: maps filled", "%s", strerror(-err));
	if (err)
		goto out;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		result(false, "live: clsact on the tunnel interface", "%s", strerror(-err));
		goto out;
	}
	hooked = true;
	tc_opts.prog_fd = bpf_program__fd(tx->progs.xwg_tc_tx);
	err = bpf_tc_attach(&hook, &tc_opts);
	result(!err, "live: tc_tx attached to the tunnel interface's egress", "%s", strerror(-err));
	if (err)
		goto out;

	packet_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (packet_fd < 0 || bind(packet_fd, (struct sockaddr *)&sll, sizeof(sll))) {
		result(false, "live: packet socket on the twin", "%s", strerror(errno));
		goto out;
	}

	no_peer_errors_check("live", "the tunnel");

	/* Test that a datagram to a peer leaves through the twin, tagged. */
	fd = udp_socket_to(4, "10.7.0.2");
	if (fd < 0 || send(fd, "x", 1, 0) != 1)
		result(false, "live #3 a UDP datagram to 10.7.0.2 (peer 7)", "%s", strerror(errno));
	else
		twin_frame_check("live #3 it reaches the twin with source MAC 02:00:00:00:00:07", packet_fd,
				 "10.7.0.2", 7);
	if (fd >= 0)
		close(fd);

out:
	if (packet_fd >= 0)
		close(packet_fd);
	if (hooked) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	}
	tc_tx__destroy(tx);
out_summary:
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

/* ---------------------------------------------------------------------
 * tc_tx on a TUN (--live-l3)
 */

#define L3_TCP_PORT 5001
#define L3_MSS 1400

struct tun_packet {
	struct virtio_net_hdr vnet;
	uint8_t data[65536];
};

/* Attaches to the TUN the script made, as the daemon will: virtio-net
 * headers and TSO, so the stack hands it super-packets. Non-blocking. */
static int tun_attach(const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR };
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) ||
	    ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* The next IPv4 packet from the TUN within a second whose destination is
 * daddr and protocol proto (0: any); its length, or 0. */
static size_t tun_read_to(int fd, struct tun_packet *p, const char *daddr, uint8_t proto)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int64_t deadline = monotonic_ns() + 1000000000;
	uint8_t want[4];

	inet_pton(AF_INET, daddr, want);
	while (monotonic_ns() < deadline) {
		ssize_t n;

		if (poll(&pfd, 1, 100) != 1)
			continue;
		n = read(fd, p, sizeof(*p));
		if (n < (ssize_t)sizeof(p->vnet) + 20)
			continue;
		n -= sizeof(p->vnet);
		if ((p->data[0] >> 4) == 4 && !memcmp(p->data + 16, want, 4) &&
		    (!proto || p->data[9] == proto))
			return (size_t)n;
	}
	return 0;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, (uint16_t)v);
}

/* Answers the SYN in syn (an IPv4 packet without options) with a SYN-ACK
 * offering an MSS of L3_MSS, written into the TUN. */
static int tun_syn_ack(int fd, const uint8_t *syn)
{
	struct {
		struct virtio_net_hdr vnet;
		uint8_t ip[20], tcp[24];
	} r = { 0 };
	uint8_t pseudo[12] = { 0 };

	r.ip[0] = 0x45;
	put16(r.ip + 2, sizeof(r.ip) + sizeof(r.tcp));
	r.ip[8] = 64;
	r.ip[9] = IPPROTO_TCP;
	memcpy(r.ip + 12, syn + 16, 4);
	memcpy(r.ip + 16, syn + 12, 4);
	put16(r.ip + 10, csum_finish(csum_add(0, r.ip, 20)));
	memcpy(r.tcp, syn + 20 + 2, 2);
	memcpy(r.tcp + 2, syn + 20, 2);
	put32(r.tcp + 4, 1000);
	put32(r.tcp + 8, get32(syn + 20 + 4) + 1);
	r.tcp[12] = 6 << 4;
	r.tcp[13] = 0x12; /* SYN, ACK */
	put16(r.tcp + 14, 65535);
	r.tcp[20] = 2; /* MSS */
	r.tcp[21] = 4;
	put16(r.tcp + 22, L3_MSS);
	memcpy(pseudo, r.ip + 12, 8);
	pseudo[9] = IPPROTO_TCP;
	pseudo[11] = sizeof(r.tcp);
	put16(r.tcp + 16, csum_finish(csum_add(csum_add(0, pseudo, 12), r.tcp, sizeof(r.tcp))));
	return write(fd, &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : -1;
}

/* A TCP connection to 10.7.0.2 (peer 7) through the TUN, the tool playing
 * the far end's handshake; then 64 KB sent at once: with TSO on the TUN the
 * stack hands tc_tx super-packets, which must reach the TUN whole. */
static void tso_check(int tun_fd)
{
	static struct tun_packet p;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(L3_TCP_PORT) };
	static uint8_t data[65536];
	struct pollfd pfd;
	int64_t deadline;
	size_t len, best = 0;
	uint16_t best_gso = 0;
	int fd;

	inet_pton(AF_INET, "10.7.0.2", &sin.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) && errno != EINPROGRESS)) {
		result(false, "live-l3 #5 a TCP connection to 10.7.0.2 (peer 7)", "%s", strerror(errno));
		goto out;
	}
	len = tun_read_to(tun_fd, &p, "10.7.0.2", IPPROTO_TCP);
	if (!len || tun_syn_ack(tun_fd, p.data)) {
		result(false, "live-l3 #5 a TCP connection to 10.7.0.2 (peer 7)", "%s",
		       len ? strerror(errno) : "no SYN from the TUN within 1 s");
		goto out;
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&pfd, 1, 1000) != 1 || !(pfd.revents & POLLOUT) || (pfd.revents & POLLERR)) {
		result(false, "live-l3 #5 a TCP connection to 10.7.0.2 (peer 7)", "%s",
		       "not connected within 1 s after the SYN-ACK");
		goto out;
	}
	result(true, "live-l3 #5 a TCP connection to 10.7.0.2 (peer 7) through the TUN", "%s", "");
	memset(data, 0x5a, sizeof(data));
	if (send(fd, data, sizeof(data), 0) <= 0) {
		result(false, "live-l3 #5 64 KB sent", "%s", strerror(errno));
		goto out;
	}
	/* The first flight (the initial window) may leave as one super-packet
	 * or several; the biggest tells. */
	deadline = monotonic_ns() + 1000000000;
	while (monotonic_ns() < deadline && !best_gso) {
		len = tun_read_to(tun_fd, &p, "10.7.0.2", IPPROTO_TCP);
		if (len > best) {
			best = len;
			best_gso = p.vnet.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 ? p.vnet.gso_size : 0;
		}
	}
	result(best_gso && best > 40 + (size_t)best_gso, "live-l3 #5 a TSO super-packet reached the TUN whole",
	       "the biggest TCP packet read was %zu bytes (gso_type %u, gso_size %u)", best,
	       p.vnet.gso_type, best_gso);
	if (best_gso)
		printf("    (%zu bytes, gso_size %u)\n", best, best_gso);
out:
	if (fd >= 0)
		close(fd);
}

/* Leaves tc_tx attached to TUN's egress on the way out (the TUN's removal
 * detaches it), so that the script can ping through it. */
static int live_l3_main(const char *tun, const char *pin_root)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root);
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_EGRESS);
	LIBBPF_OPTS(bpf_tc_opts, tc_opts);
	static struct tun_packet p;
	uint64_t before[XWG_DROP_REASONS], after[XWG_DROP_REASONS];
	struct ring_buffer *rb = NULL;
	struct tc_tx *tx;
	int err, fd, tun_fd = -1;
	size_t len;

	hook.ifindex = (int)if_nametoindex(tun);
	if (!hook.ifindex) {
		result(false, "live-l3: the TUN exists", "%s: %s", tun, strerror(errno));
		goto out_summary;
	}
	tx = tc_tx__open_opts(&opts);
	if (tx)
		tx->rodata->l3_device = 1;
	err = tx ? tc_tx__load(tx) : -errno;
	result(!err, "live-l3: tc_tx loads with rodata l3_device = 1", "%s", strerror(-err));
	if (err)
		goto out_summary;
	drops_fd = bpf_map__fd(tx->maps.drops);
	{
		struct xwg_config cfg = {
			.listen_port = htons(LISTEN_PORT),
			.wg_ifindex = (uint32_t)hook.ifindex,
			.event_interval_ms = EVENT_INTERVAL_MS,
		};
		uint32_t key = 0;
		int peers_fd = bpf_map__fd(tx->maps.peers);

		err = bpf_map_update_elem(bpf_map__fd(tx->maps.config), &key, &cfg, BPF_ANY) ||
		      peer_set(peers_fd, 7, XWG_PEER_ACTIVE | XWG_PEER_CAN_SEND) ||
		      peer_set(peers_fd, 8, XWG_PEER_ACTIVE) ||
		      prefix_v4_add(bpf_map__fd(tx->maps.allowed_ips_v4), "10.7.0.0", 16, 7) ||
		      prefix_v4_add(bpf_map__fd(tx->maps.allowed_ips_v4), "10.8.0.0", 16, 8) ||
		      prefix_v6_add(bpf_map__fd(tx->maps.allowed_ips_v6), "fd00:7::", 32, 7) ? -errno : 0;
	}
	rb = ring_buffer__new(bpf_map__fd(tx->maps.events), event_record, NULL, NULL);
	result(!err && rb, "live-l3: maps filled", "%s", strerror(err ? -err : errno));
	if (err || !rb)
		goto out;

	tun_fd = tun_attach(tun);
	result(tun_fd >= 0, "live-l3: the TUN opened with IFF_VNET_HDR and TSO (TUNSETOFFLOAD)", "%s",
	       strerror(-tun_fd));
	if (tun_fd < 0)
		goto out;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		result(false, "live-l3: clsact on the TUN", "%s", strerror(-err));
		goto out;
	}
	tc_opts.prog_fd = bpf_program__fd(tx->progs.xwg_tc_tx);
	err = bpf_tc_attach(&hook, &tc_opts);
	result(!err, "live-l3: tc_tx attached to the TUN's egress", "%s", strerror(-err));
	if (err)
		goto out;

	no_peer_errors_check("live-l3", "the TUN");

	/* Test that datagrams to a peer reach the TUN's reader untouched, and
	 * that one to a peer without a session asks for a handshake. */
	ring_buffer__consume(rb);
	fd = udp_socket_to(4, "10.7.0.2");
	if (fd < 0 || send(fd, "x", 1, 0) != 1) {
		result(false, "live-l3 #3 a UDP datagram to 10.7.0.2 (peer 7)", "%s", strerror(errno));
	} else {
		len = tun_read_to(tun_fd, &p, "10.7.0.2", IPPROTO_UDP);
		result(len == 20 + 8 + 1 && p.data[20 + 8] == 'x',
		       "live-l3 #3 it reaches the TUN's reader untouched", "%zu bytes read", len);
	}
	if (fd >= 0)
		close(fd);
	fd = udp_socket_to(4, "10.8.0.2");
	if (fd < 0 || send(fd, "x", 1, 0) != 1)
		result(false, "live-l3 #4 a UDP datagram to 10.8.0.2 (peer 8, no session)", "%s",
		       strerror(errno));
	else
		result(tun_read_to(tun_fd, &p, "10.8.0.2", IPPROTO_UDP) != 0,
		       "live-l3 #4 a datagram to peer 8 (no session) reaches the TUN's reader", "%s",
		       "nothing to 10.8.0.2 within 1 s");
	if (fd >= 0)
		close(fd);
	events_check("live-l3 #4 a HANDSHAKE_NEEDED event for peer 8", rb, 8);

	/* Test that TSO super-packets pass tc_tx whole. */
	drops_read(before);
	tso_check(tun_fd);
	drops_read(after);
	result(after[XWG_DROP_TX_MALFORMED] == before[XWG_DROP_TX_MALFORMED],
	       "live-l3 #5 nothing counted as TX_MALFORMED", "%s", "TX_MALFORMED moved");

out:
	if (tun_fd >= 0)
		close(tun_fd);
	ring_buffer__free(rb);
	tc_tx__destroy(tx);
out_summary:
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

/* ---------------------------------------------------------------------
 * Setup
 */

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static int sysctl_write(const char *path, const char *value)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(value, f) < 0)
		err = -EIO;
	if (fclose(f))
		err = -errno;
	return err;
}

/* A private network namespace with loopback up (127.0.0.1/8, ::1), and
 * loopback addresses routable (so the ICMP errors tc_tx makes for them can
 * be delivered). */
static int netns_private(void)
{
	struct ifreq ifr = { 0 };
	int fd, err = 0;

	if (unshare(CLONE_NEWNET))
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		err = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
	close(fd);
	/* Injected packets have no route yet: 127.0.0.0/8 on them would be
	 * martians without route_localnet. */
	if (!err)
		err = sysctl_write("/proc/sys/net/ipv4/conf/all/route_localnet", "1");
	if (!err)
		err = sysctl_write("/proc/sys/net/ipv4/conf/lo/route_localnet", "1");
	return err;
}

/* An AF_XDP socket on lo, queue 0, in copy mode (no traffic ever reaches
 * it: it only needs to exist for the XSKMAPs to hold it). */
struct xsk {
	struct xsk_umem *umem;
	struct xsk_socket *socket;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	void *area;
	size_t size;
};

static int xsk_open(struct xsk *x)
{
	struct xsk_socket_config cfg = {
		.rx_size = XSK_RING_CONS__DEFAULT_NUM_DESCS,
		.tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_COPY,
	};
	int err;

	x->size = 64 * XSK_UMEM__DEFAULT_FRAME_SIZE;
	x->area = mmap(NULL, x->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (x->area == MAP_FAILED)
		return -errno;
	err = xsk_umem__create(&x->umem, x->area, x->size, &x->fill, &x->comp, NULL);
	if (err)
		goto err_umem;
	err = xsk_socket__create(&x->socket, "lo", 0, x->umem, &x->rx, &x->tx, &cfg);
	if (err)
		goto err_socket;
	return xsk_socket__fd(x->socket);
err_socket:
	xsk_umem__delete(x->umem);
err_umem:
	munmap(x->area, x->size);
	return err;
}

static void xsk_close(struct xsk *x)
{
	xsk_socket__delete(x->socket);
	xsk_umem__delete(x->umem);
	munmap(x->area, x->size);
}

static int maps_fill(const struct tc_tx *skel)
{
	int peers_fd = bpf_map__fd(skel->maps.peers);
	int v4 = bpf_map__fd(skel->maps.allowed_ips_v4);
	int v6 = bpf_map__fd(skel->maps.allowed_ips_v6);
	struct xwg_index_value index = { .peer_id = 7, .slot = XWG_SLOT_CURRENT };
	uint32_t key = KNOWN_INDEX;

	if (config_set(bpf_map__fd(skel->maps.config), LISTEN_PORT) ||
	    bpf_map_update_elem(bpf_map__fd(skel->maps.indices), &key, &index, BPF_ANY) ||
	    peer_set(peers_fd, 7, XWG_PEER_ACTIVE | XWG_PEER_CAN_SEND) ||
	    peer_set(peers_fd, 8, XWG_PEER_ACTIVE) || peer_set(peers_fd, 9, XWG_PEER_ACTIVE) ||
	    peer_set(peers_fd, 10, 0) ||
	    prefix_v4_add(v4, "10.7.0.0", 16, 7) || prefix_v4_add(v4, "10.8.0.0", 16, 8) ||
	    prefix_v4_add(v4, "10.9.0.0", 16, 9) || prefix_v4_add(v4, "10.10.0.0", 16, 10) ||
	    prefix_v6_add(v6, "fd00:7::", 32, 7) || prefix_v6_add(v6, "fd00:8::", 32, 8) ||
	    prefix_v6_add(v6, "fd00:9::", 32, 9) || prefix_v6_add(v6, "fd00:a::", 32, 10))
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct xdp_rx *rx = NULL;
	struct tc_tx *tx = NULL;
	struct xdp_twin *twin = NULL;
	struct xsk xsk = { 0 };
	int xsk_fd = -1, err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_print);
	if (argc == 5 && !strcmp(argv[1], "--live"))
		return live_main(argv[2], argv[3], argv[4]);
	if (argc == 4 && !strcmp(argv[1], "--live-l3"))
		return live_l3_main(argv[2], argv[3]);
	if (argc != 2) {
		fprintf(stderr,
			"usage: %s PIN_ROOT\n       %s --live WG TWIN PIN_ROOT\n       %s --live-l3 TUN PIN_ROOT\n",
			argv[0], argv[0], argv[0]);
		return 2;
	}
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = argv[1]);

	err = netns_private();
	result(!err, "a private network namespace with loopback up", "%s", strerror(-err));
	if (err)
		goto out;

	rx = xdp_rx__open_opts(&opts);
	err = rx ? xdp_rx__load(rx) : -errno;
	result(!err, "xdp_rx loads (verifier)", "%s", strerror(-err));
	if (err)
		goto out;
	tx = tc_tx__open_opts(&opts);
	if (tx) {
		tx->rodata->icmp_burst = TEST_ICMP_BURST;
		tx->rodata->icmp_interval_ns = TEST_ICMP_INTERVAL_NS;
	}
	err = tx ? tc_tx__load(tx) : -errno;
	result(!err, "tc_tx loads (verifier)", "%s", strerror(-err));
	if (err)
		goto out;
	twin = xdp_twin__open_opts(&opts);
	err = twin ? xdp_twin__load(twin) : -errno;
	result(!err, "xdp_twin loads (verifier)", "%s", strerror(-err));
	if (err)
		goto out;

	/* Test that the three share one instance of each pinned map. */
	{
		const struct bpf_map *a[] = { rx->maps.drops, rx->maps.config, rx->maps.indices,
					      rx->maps.peers, rx->maps.events, rx->maps.xsks_tx };
		const struct bpf_map *b[] = { tx->maps.drops, tx->maps.config, tx->maps.indices,
					      tx->maps.peers, tx->maps.events, tx->maps.xsks_tx };
		const struct bpf_map *c[] = { twin->maps.drops, twin->maps.config, twin->maps.indices,
					      twin->maps.peers, twin->maps.events, twin->maps.xsks_tx };
		bool same = true;

		for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
			same = same && map_id(a[i]) && map_id(a[i]) == map_id(b[i]) &&
			       map_id(a[i]) == map_id(c[i]);
		result(same, "the three programs share their pinned maps", "%s",
		       "a map has different ids in different skeletons");
	}

	drops_fd = bpf_map__fd(tx->maps.drops);
	err = maps_fill(tx);
	result(!err, "maps filled (config, indices, peers, allowed IPs)", "%s", strerror(-err));
	if (err)
		goto out;

	xsk_fd = xsk_open(&xsk);
	if (xsk_fd < 0)
		printf("SKIP: AF_XDP socket on lo: %s (XDP_REDIRECT verdicts are checked as XDP_PASS)\n",
		       strerror(-xsk_fd));

	rx_tests(rx, bpf_map__fd(rx->maps.xsks_rx), xsk_fd);
	tx_tests(tx);
	tx_l3_tests(argv[1]);
	twin_tests(twin, xsk_fd);

	if (xsk_fd >= 0)
		xsk_close(&xsk);
out:
	xdp_twin__destroy(twin);
	tc_tx__destroy(tx);
	xdp_rx__destroy(rx);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
