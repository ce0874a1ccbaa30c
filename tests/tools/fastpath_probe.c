// SPDX-License-Identifier: GPL-2.0
/*
 * fastpath_probe: drives ctl/maps/twin.c, datapath/xsk.c and
 * ctl/maps/loader.c for selftests/fastpath_smoke.sh. Prints one line per
 * fact, for the script to grep:
 *
 *   fastpath_probe twin-name IFNAME
 *       twin IFNAME's twin name
 *   fastpath_probe twin IFNAME [QUEUES]
 *       creates the pair; "ready ifindex=N twin=NAME twin_ifindex=M gro=0|1
 *       threaded=0|1"; on SIGTERM/SIGINT deletes it, "destroyed", exit 0.
 *       "create failed: ERRNO MESSAGE", exit 3.
 *   fastpath_probe leftover IFNAME
 *       "leftover removed" | "leftover none" | "leftover failed: ERRNO ..."
 *   fastpath_probe xsk IF_A IF_B COUNT [FRAMES]
 *       a veth pair IF_A <-> IF_B: an XDP test program on each redirecting
 *       everything to the AF_XDP socket of its queue (an XSKMAP of our
 *       own, the socket put in by xsk_port_register); COUNT frames A -> B,
 *       then COUNT B -> A, each checked for content; then every frame
 *       accounted for, and the ownership checks. UMEMs of FRAMES frames
 *       (default 4096; fewer than COUNT proves recycling). Lines: "mode A
 *       copy", "sent a->b N received N", "accounting ok", "ownership ok";
 *       exit 0 only if all passed.
 *   fastpath_probe load IFNAME [-u UNDERLAY]... [-n] [-p PORT] [-q QUEUES] [-e]
 *       fastpath_load (-n: netlink XDP attach); "ready twin=NAME rx=ID
 *       tc=ID twin_prog=ID config_map=ID mode.UNDERLAY=native|generic
 *       mode.twin=..."; or "load failed: ERRNO: REASON", exit 3. With -e:
 *       peer 1 owns 10.99.0.0/24, and the probe answers ICMP echo requests
 *       the stack sends out of IFNAME: captured on the twin through AF_XDP
 *       (tc_tx and xdp_twin), turned around in the same frame and injected
 *       back into IFNAME through AF_XDP TX ("echo-reply N", "tagged peer
 *       1"). On SIGTERM/SIGINT: fastpath_unload, "unloaded", exit 0.
 *
 * Not part of the unit tests.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "base/log.h"
#include "ctl/maps/loader.h"
#include "ctl/maps/twin.h"
#include "datapath/xsk.h"
#include "maps.h"

#define BATCH 32U
#define WINDOW 64U
#define TEST_ETHERTYPE 0x88b5    /* IEEE local experimental */
#define TEST_MAGIC 0x7877670aU

static int signals_block(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	return signalfd(-1, &mask, SFD_CLOEXEC);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- twin ---------------------------------------------------------------- */

static int cmd_twin(int argc, char **argv)
{
	struct twin_link tl;
	struct signalfd_siginfo si;
	int sfd, ret;

	if (argc < 1)
		return 2;
	sfd = signals_block();
	ret = twin_link_create(&tl, argv[0], argc > 1 ? (unsigned int)atoi(argv[1]) : 0);
	if (ret) {
		printf("create failed: %d %s\n", ret, strerror(-ret));
		return 3;
	}
	printf("ready ifindex=%d twin=%s twin_ifindex=%d gro=%d threaded=%d\n",
	       twin_link_ifindex(&tl), tl.twin_name, twin_link_twin_ifindex(&tl),
	       tl.gro, tl.threaded_napi);
	while (read(sfd, &si, sizeof(si)) != sizeof(si))
		;
	twin_link_destroy(&tl);
	printf("destroyed\n");
	return 0;
}

static int cmd_twin_name(int argc, char **argv)
{
	char name[IFNAMSIZ];
	int ret;

	if (argc < 1)
		return 2;
	ret = twin_name_derive(argv[0], name);
	if (ret) {
		printf("twin-name failed: %d %s\n", ret, strerror(-ret));
		return 3;
	}
	printf("twin %s\n", name);
	return 0;
}

static int cmd_leftover(int argc, char **argv)
{
	int ret;

	if (argc < 1)
		return 2;
	ret = twin_link_remove_leftover(argv[0]);
	if (ret < 0) {
		printf("leftover failed: %d %s\n", ret, strerror(-ret));
		return 3;
	}
	printf("leftover %s\n", ret ? "removed" : "none");
	return 0;
}

/* --- AF_XDP -------------------------------------------------------------- */

/* XDP test program: return bpf_redirect_map(&xsks, ctx->rx_queue_index,
 * XDP_PASS). Written out as instructions: no clang, no object file. Its
 * name does not start with xwg_, so the loader never takes it for ours. */
static int redirect_prog_load(int xsks_fd)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2,
		  .src_reg = BPF_REG_1, .off = offsetof(struct xdp_md, rx_queue_index) },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1,
		  .src_reg = BPF_PSEUDO_MAP_FD, .imm = xsks_fd },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_redirect_map },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd;

	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "xwgtest_redir", "GPL", insns,
			   sizeof(insns) / sizeof(insns[0]), NULL);
	return fd < 0 ? -errno : fd;
}

struct side {
	const char *ifname;
	int ifindex;
	int xsks_fd;
	int prog_fd;
	struct xsk_port *port;
};

static int side_open(struct side *s, const char *ifname, uint32_t frames)
{
	struct xsk_port_config cfg = { .ifname = ifname, .queue = 0,
				       .frame_count = frames,
				       .ring_size = frames < 2048 ? frames / 2 : 0,
				       .bind = XSK_BIND_AUTO };
	int ret;

	s->ifname = ifname;
	s->ifindex = (int)if_nametoindex(ifname);
	if (!s->ifindex)
		return -ENODEV;
	s->xsks_fd = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "xwgtest_xsks", 4, 4, 4, NULL);
	if (s->xsks_fd < 0)
		return -errno;
	s->prog_fd = redirect_prog_load(s->xsks_fd);
	if (s->prog_fd < 0)
		return s->prog_fd;
	ret = xsk_port_create(&s->port, &cfg);
	if (ret)
		return ret;
	ret = xsk_port_register(s->port, s->xsks_fd);
	if (ret)
		return ret;
	if (bpf_xdp_attach(s->ifindex, s->prog_fd, XDP_FLAGS_DRV_MODE, NULL))
		return -errno;
	return 0;
}

static void side_close(struct side *s)
{
	if (s->ifindex)
		bpf_xdp_detach(s->ifindex, XDP_FLAGS_DRV_MODE, NULL);
	xsk_port_destroy(s->port);
	if (s->prog_fd > 0)
		close(s->prog_fd);
	if (s->xsks_fd > 0)
		close(s->xsks_fd);
}

static uint32_t frame_len_of(uint32_t seq)
{
	return 60 + (seq * 37) % 1340;
}

static void frame_build(struct xsk_frame *f, uint32_t dir, uint32_t seq)
{
	uint8_t *p = f->data;
	uint32_t len = frame_len_of(seq), i, v;

	memset(p, 0xff, 6);                          /* broadcast */
	memcpy(p + 6, (uint8_t[]){ 0x02, 0, 0, 0, 0, (uint8_t)dir }, 6);
	p[12] = TEST_ETHERTYPE >> 8;
	p[13] = TEST_ETHERTYPE & 0xff;
	v = htonl(TEST_MAGIC);
	memcpy(p + 14, &v, 4);
	v = htonl(dir);
	memcpy(p + 18, &v, 4);
	v = htonl(seq);
	memcpy(p + 22, &v, 4);
	for (i = 26; i < len; i++)
		p[i] = (uint8_t)(seq + i);
	f->len = len;
}

/* 1: a good test frame of dir (its seq in *seq); 0: not a test frame
 * (IPv6 chatter); -1: a test frame damaged. */
static int frame_check(const struct xsk_frame *f, uint32_t dir, uint32_t *seq)
{
	const uint8_t *p = f->data;
	uint32_t v, i;

	if (f->len < 26 || p[12] != TEST_ETHERTYPE >> 8 || p[13] != (TEST_ETHERTYPE & 0xff))
		return 0;
	memcpy(&v, p + 14, 4);
	if (ntohl(v) != TEST_MAGIC)
		return 0;
	memcpy(&v, p + 18, 4);
	if (ntohl(v) != dir)
		return -1;
	memcpy(&v, p + 22, 4);
	*seq = ntohl(v);
	if (f->len != frame_len_of(*seq))
		return -1;
	for (i = 26; i < f->len; i++)
		if (p[i] != (uint8_t)(*seq + i))
			return -1;
	return 1;
}

/* Sends count frames from `from` to `to`; true if all arrived intact and
 * exactly once. */
static bool transfer(struct side *from, struct side *to, uint32_t dir, uint32_t count)
{
	struct xsk_frame tx[BATCH], rx[BATCH];
	uint8_t *seen = calloc(count, 1);
	uint32_t sent = 0, received = 0, damaged = 0, dups = 0, i;
	uint64_t deadline = now_ms() + 20000;
	bool ok;

	if (!seen)
		return false;
	while (received < count && now_ms() < deadline) {
		bool busy = false;
		unsigned int n;
		int r;

		if (sent < count && sent - received < WINDOW) {
			uint32_t want = count - sent;

			if (want > BATCH)
				want = BATCH;
			if (want > WINDOW - (sent - received))
				want = WINDOW - (sent - received);
			n = xsk_frame_get(from->port, tx, want);
			for (i = 0; i < n; i++)
				frame_build(&tx[i], dir, sent + i);
			r = xsk_tx_submit(from->port, tx, n);
			if (r < 0) {
				printf("tx submit failed: %d\n", r);
				break;
			}
			if ((unsigned int)r < n)
				xsk_frame_put(from->port, tx + r, n - (unsigned int)r);
			sent += (uint32_t)r;
			busy = r > 0;
		}
		xsk_tx_complete(from->port);
		n = xsk_rx_get(to->port, rx, BATCH);
		for (i = 0; i < n; i++) {
			uint32_t seq;
			int c = frame_check(&rx[i], dir, &seq);

			if (c < 0 || (c > 0 && seq >= count))
				damaged++;
			else if (c > 0 && seen[seq]++)
				dups++;
			else if (c > 0)
				received++;
		}
		if (n && xsk_frame_put(to->port, rx, n))
			printf("rx put refused\n");
		if (!busy && !n) {
			struct pollfd pfd = { .fd = xsk_port_fd(to->port), .events = POLLIN };

			poll(&pfd, 1, 1);
		}
	}
	printf("sent %s %u received %u damaged %u duplicated %u\n",
	       dir == 1 ? "a->b" : "b->a", sent, received, damaged, dups);
	ok = sent == count && received == count && !damaged && !dups;
	free(seen);
	return ok;
}

/* Every frame is free or in the fill ring once all TX completed. */
static bool accounting_ok(struct side *s, const char *name)
{
	struct xsk_port_stats st;
	uint64_t deadline = now_ms() + 5000;

	do {
		xsk_tx_complete(s->port);
		xsk_port_stats_get(s->port, &st);
		if (!st.tx)
			break;
		usleep(1000);
	} while (now_ms() < deadline);
	printf("frames %s total=%u free=%u fill=%u caller=%u tx=%u ownership_errors=%llu "
	       "kicks=%llu kick_errors=%llu rx_dropped=%llu rx_ring_full=%llu fill_empty=%llu\n",
	       name, st.frame_count, st.free, st.fill, st.caller, st.tx,
	       (unsigned long long)st.ownership_errors, (unsigned long long)st.tx_kicks,
	       (unsigned long long)st.tx_kick_errors, (unsigned long long)st.rx_dropped,
	       (unsigned long long)st.rx_ring_full, (unsigned long long)st.rx_fill_ring_empty);
	return st.free + st.fill + st.caller + st.tx == st.frame_count &&
	       !st.caller && !st.tx && !st.ownership_errors;
}

/* Frames that are not the caller's are refused, and nothing moves. */
static bool ownership_ok(struct side *s)
{
	struct xsk_port_stats before, after;
	struct xsk_frame f[2], other, bad;
	uint8_t outside[64];
	bool ok = true;

	xsk_port_stats_get(s->port, &before);
	if (xsk_frame_get(s->port, f, 2) != 2)
		return false;
	other = f[1];
	f[1] = f[0];                                    /* the same frame twice */
	ok &= xsk_frame_put(s->port, f, 2) == -EINVAL;
	ok &= xsk_frame_put(s->port, &other, 1) == 0;
	bad.data = outside;                             /* not in the UMEM */
	bad.len = 60;
	ok &= xsk_tx_submit(s->port, &bad, 1) == -EINVAL;
	ok &= xsk_frame_put(s->port, f, 1) == 0;
	ok &= xsk_frame_put(s->port, f, 1) == -EINVAL;  /* put twice */
	f[0].len = XSK_FRAME_SIZE;                      /* longer than its frame */
	ok &= xsk_frame_get(s->port, f, 1) == 1;
	f[0].len = XSK_FRAME_SIZE;
	ok &= xsk_tx_submit(s->port, f, 1) == -EINVAL;
	ok &= xsk_frame_put(s->port, f, 1) == 0;
	xsk_port_stats_get(s->port, &after);
	ok &= after.ownership_errors == before.ownership_errors + 4;
	ok &= after.free == before.free && after.caller == 0;
	return ok;
}

static int cmd_xsk(int argc, char **argv)
{
	struct side a = { 0 }, b = { 0 };
	uint32_t count, frames;
	int ret, rc = 1;
	bool ok = true;

	if (argc < 3)
		return 2;
	count = (uint32_t)strtoul(argv[2], NULL, 0);
	frames = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 0) : 0;
	ret = side_open(&a, argv[0], frames);
	if (!ret)
		ret = side_open(&b, argv[1], frames);
	if (ret) {
		printf("setup failed: %d %s\n", ret, strerror(-ret));
		goto out;
	}
	printf("mode A %s\nmode B %s\n", xsk_mode_name(xsk_port_mode(a.port)),
	       xsk_mode_name(xsk_port_mode(b.port)));
	ok &= transfer(&a, &b, 1, count);
	ok &= transfer(&b, &a, 2, count);
	if (accounting_ok(&a, "A") && accounting_ok(&b, "B"))
		printf("accounting ok\n");
	else
		ok = false;
	if (ownership_ok(&a))
		printf("ownership ok\n");
	else
		ok = false;
	rc = ok ? 0 : 1;
out:
	side_close(&a);
	side_close(&b);
	return rc;
}

/* --- the loader ---------------------------------------------------------- */

static uint32_t map_id_of(int fd)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static uint16_t csum16(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An Ethernet + IPv4 ICMP echo request, turned into the reply to inject
 * into IFNAME: destination IFNAME's MAC, source the twin's. */
static bool echo_to_reply(struct fastpath *fp, uint8_t *p, uint32_t len,
			  uint32_t *peer_tag)
{
	uint8_t *ip = p + ETH_HLEN, tmp[4];
	size_t ihl;
	uint16_t c;

	if (len < ETH_HLEN + 28 || p[12] != 0x08 || p[13] != 0x00)
		return false;
	*peer_tag = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 |
		    (uint32_t)p[10] << 8 | p[11];
	ihl = (size_t)(ip[0] & 0xf) * 4;
	if (ip[0] >> 4 != 4 || ihl < 20 || len < ETH_HLEN + ihl + 8 || ip[9] != 1 ||
	    ip[ihl] != 8)
		return false;
	memcpy(tmp, ip + 12, 4);
	memcpy(ip + 12, ip + 16, 4);
	memcpy(ip + 16, tmp, 4);
	ip[ihl] = 0;
	ip[ihl + 2] = ip[ihl + 3] = 0;
	c = csum16(ip + ihl, len - ETH_HLEN - ihl);
	ip[ihl + 2] = (uint8_t)(c >> 8);
	ip[ihl + 3] = (uint8_t)c;
	memcpy(p, fp->twin.mac, 6);
	memcpy(p + 6, fp->twin.twin_mac, 6);
	return true;
}

static int echo_setup(struct fastpath *fp, struct xsk_port **port)
{
	struct xsk_port_config cfg = { .ifname = fp->twin.twin_name, .queue = 0 };
	struct xwg_peer peer = { .flags = XWG_PEER_ACTIVE | XWG_PEER_CAN_SEND };
	struct xwg_lpm_v4_key key = { .prefixlen = 24, .addr = { 10, 99, 0, 0 } };
	struct xwg_peer_ref ref = { .peer_id = 1 };
	uint32_t id = 1;
	int ret;

	if (bpf_map_update_elem(fastpath_map_fd(fp, FASTPATH_MAP_PEERS), &id, &peer, BPF_ANY) ||
	    bpf_map_update_elem(fastpath_map_fd(fp, FASTPATH_MAP_ALLOWED_IPS_V4), &key, &ref,
				BPF_ANY))
		return -errno;
	ret = xsk_port_create(port, &cfg);
	if (ret)
		return ret;
	printf("echo socket on %s: %s\n", fp->twin.twin_name,
	       xsk_mode_name(xsk_port_mode(*port)));
	return xsk_port_register(*port, fastpath_map_fd(fp, FASTPATH_MAP_XSKS_TX));
}

static void echo_serve(struct fastpath *fp, struct xsk_port *port, unsigned long *replies)
{
	struct xsk_frame rx[BATCH], out[BATCH], back[BATCH];
	unsigned int n, i, nout = 0, nback = 0;
	uint32_t tag;
	int r;

	n = xsk_rx_get(port, rx, BATCH);
	for (i = 0; i < n; i++) {
		if (echo_to_reply(fp, rx[i].data, rx[i].len, &tag)) {
			if (!*replies)
				printf("tagged peer %u\n", tag);
			out[nout++] = rx[i];
		} else {
			back[nback++] = rx[i];
		}
	}
	r = xsk_tx_submit(port, out, nout);
	if (r > 0)
		*replies += (unsigned long)r;
	if (r >= 0 && (unsigned int)r < nout)
		xsk_frame_put(port, out + r, nout - (unsigned int)r);
	if (nback)
		xsk_frame_put(port, back, nback);
	if (r > 0)
		printf("echo-reply %lu\n", *replies);
	xsk_tx_complete(port);
}

static void drops_print(struct fastpath *fp)
{
	int ncpu = libbpf_num_possible_cpus(), fd = fastpath_map_fd(fp, FASTPATH_MAP_DROPS);
	struct xwg_counter *c;
	uint32_t r;

	if (ncpu <= 0 || fd < 0)
		return;
	c = calloc((size_t)ncpu, sizeof(*c));
	for (r = 1; c && r < XWG_DROP_REASONS; r++) {
		uint64_t sum = 0;
		int i;

		if (bpf_map_lookup_elem(fd, &r, c))
			continue;
		for (i = 0; i < ncpu; i++)
			sum += c[i].packets;
		if (sum)
			printf("drops reason=%u packets=%llu\n", r, (unsigned long long)sum);
	}
	free(c);
}

static int cmd_load(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "underlay", required_argument, NULL, 'u' },
		{ "netlink", no_argument, NULL, 'n' },
		{ "port", required_argument, NULL, 'p' },
		{ "queues", required_argument, NULL, 'q' },
		{ "echo", no_argument, NULL, 'e' },
		{ 0 },
	};
	const char *underlays[FASTPATH_MAX_UNDERLAYS];
	struct fastpath_opts opts = { .listen_port = 51820 };
	struct xsk_port *port = NULL;
	struct fastpath fp;
	unsigned long replies = 0;
	bool echo = false;
	unsigned int i;
	int c, ret, sfd, ep;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+u:np:q:e", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			if (opts.n_underlays < FASTPATH_MAX_UNDERLAYS)
				underlays[opts.n_underlays++] = optarg;
			break;
		case 'n':
			opts.netlink_attach = true;
			break;
		case 'p':
			opts.listen_port = (uint16_t)atoi(optarg);
			break;
		case 'q':
			opts.queues = (unsigned int)atoi(optarg);
			break;
		case 'e':
			echo = true;
			break;
		default:
			return 2;
		}
	}
	if (optind >= argc)
		return 2;
	opts.underlays = underlays;
	sfd = signals_block();
	ret = fastpath_load(&fp, argv[optind], &opts);
	if (ret) {
		printf("load failed: %d: %s\n", ret, fp.error);
		return 3;
	}
	printf("ready twin=%s rx=%u tc=%u twin_prog=%u config_map=%u mode.twin=%s",
	       fp.twin.twin_name, fp.n_underlays ? fp.underlays[0].prog_id : 0,
	       fp.tc_prog_id, fp.twin_xdp.prog_id,
	       map_id_of(fastpath_map_fd(&fp, FASTPATH_MAP_CONFIG)),
	       fastpath_xdp_mode_name(fp.twin_xdp.mode));
	for (i = 0; i < fp.n_underlays; i++)
		printf(" mode.%s=%s", fp.underlays[i].ifname,
		       fastpath_xdp_mode_name(fp.underlays[i].mode));
	printf(" peer_stats=%zu\n", fp.peer_stats_size);
	/* The mmapped peer_stats and a syscall lookup see the same memory. */
	{
		struct xwg_peer_stats st;
		uint32_t key = 7;

		fp.peer_stats[7].rx_bytes = 0x5a5a1234;
		if (!bpf_map_lookup_elem(fastpath_map_fd(&fp, FASTPATH_MAP_PEER_STATS), &key, &st) &&
		    st.rx_bytes == 0x5a5a1234)
			printf("peer_stats mmap ok\n");
		fp.peer_stats[7].rx_bytes = 0;
	}
	if (echo) {
		ret = echo_setup(&fp, &port);
		if (ret) {
			printf("echo setup failed: %d %s\n", ret, strerror(-ret));
			xsk_port_destroy(port);
			fastpath_unload(&fp);
			return 4;
		}
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	{
		struct epoll_event e = { .events = EPOLLIN, .data.fd = sfd };

		epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &e);
		if (port) {
			e.data.fd = xsk_port_fd(port);
			epoll_ctl(ep, EPOLL_CTL_ADD, e.data.fd, &e);
		}
	}
	for (;;) {
		struct epoll_event e;

		if (epoll_wait(ep, &e, 1, -1) <= 0)
			continue;
		if (e.data.fd == sfd)
			break;
		echo_serve(&fp, port, &replies);
	}
	drops_print(&fp);
	if (port)
		xsk_port_unregister(port, fastpath_map_fd(&fp, FASTPATH_MAP_XSKS_TX));
	xsk_port_destroy(port);
	fastpath_unload(&fp);
	printf("unloaded\n");
	close(ep);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_set_level(LOG_LEVEL_DEBUG);
	if (argc >= 2) {
		if (!strcmp(argv[1], "twin"))
			return cmd_twin(argc - 2, argv + 2);
		if (!strcmp(argv[1], "twin-name"))
			return cmd_twin_name(argc - 2, argv + 2);
		if (!strcmp(argv[1], "leftover"))
			return cmd_leftover(argc - 2, argv + 2);
		if (!strcmp(argv[1], "xsk"))
			return cmd_xsk(argc - 2, argv + 2);
		if (!strcmp(argv[1], "load"))
			return cmd_load(argc - 1, argv + 1);
	}
	fprintf(stderr, "usage: %s twin|twin-name|leftover|xsk|load ... (see the source)\n",
		argv[0]);
	return 2;
}
