// SPDX-License-Identifier: GPL-2.0
/*
 * Configuration socket tests. The expected errno values and outputs are
 * wireguard-go's (device/uapi.go: IpcHandle, IpcSetOperation,
 * handleDeviceLine, handlePeerLine; ipc/uapi_unix.go: -EIO, -EPROTO,
 * -EINVAL, -EADDRINUSE) and those of the Go library calls it makes on
 * values (net/netip ParsePrefix / ParseAddrPort / Addr.String,
 * strconv.ParseUint, encoding/hex, bufio.Scanner).
 *
 *  - numbered tables: valid transactions and the staged result (dumped as
 *    text), invalid ones and their errno, address formatting;
 *  - the connection driver over a socketpair with fake daemon ops;
 *  - a 300,000-line set; replies buffered per connection: a client that
 *    does not read never blocks the daemon side and then gets its reply
 *    whole, byte for byte; requests wait while a reply is pending; the
 *    bound on pending replies, many connections, deadlines;
 *  - the listening socket in a temporary directory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include "ctl/allowedips.h"
#include "ctl/device.h"
#include "ctl/handshake/crypto.h"
#include "base/addr.h"
#include "base/log.h"
#include "ctl/uapi.h"
#include "test.h"
#include "tests/suites.h"

#define K1 "1111111111111111111111111111111111111111111111111111111111111111"
#define K2 "2222222222222222222222222222222222222222222222222222222222222222"
#define KZ "0000000000000000000000000000000000000000000000000000000000000000"

static double seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A staged transaction as text: device values, then one line per entry
 * with its flags and settings, then its allowed IPs. */
static void dump_set(const struct uapi_set *s, struct uapi_buf *b)
{
	size_t i, j;

	if (s->has_private_key)
		uapi_buf_put_hex(b, "private_key", s->private_key, 32);
	if (s->has_listen_port)
		uapi_buf_printf(b, "listen_port=%u\n", s->listen_port);
	if (s->has_fwmark)
		uapi_buf_printf(b, "fwmark=%u\n", s->fwmark);
	if (s->replace_peers)
		uapi_buf_printf(b, "replace_peers\n");
	for (i = 0; i < s->n_peers; i++) {
		const struct uapi_peer *p = &s->peers[i];

		uapi_buf_printf(b, "peer=%02x%02x%s%s%s\n", p->public_key[0],
				p->public_key[1], p->remove ? " remove" : "",
				p->update_only ? " update_only" : "",
				p->replace_allowed_ips ? " replace" : "");
		if (p->has_preshared_key)
			uapi_buf_put_hex(b, "psk", p->preshared_key, 2);
		if (p->has_endpoint)
			uapi_buf_put_endpoint(b, &p->endpoint.sa);
		if (p->has_persistent_keepalive_interval)
			uapi_buf_printf(b, "keepalive=%u\n",
					p->persistent_keepalive_interval);
		for (j = 0; j < p->n_allowed_ips; j++) {
			const struct uapi_allowed_ip *a = &p->allowed_ips[j];

			if (a->remove)
				uapi_buf_printf(b, "-");
			uapi_buf_put_allowed_ip(b, a->family, a->addr, a->cidr);
		}
	}
}

struct valid_vector {
	const char *in;
	const char *want;  /* dump_set of the result */
};

static void test_uapi_valid(void)
{
	static const struct valid_vector v[] = {
		/* 1: empty transactions */
		{ "", "" },
		{ "\n", "" },
		{ "\r\n", "" },
		/* 4: device keys, as wg(8) sends them */
		{ "private_key=" KZ "\nlisten_port=51820\nfwmark=4294967295\n"
		  "replace_peers=true\n\n",
		  "private_key=" KZ "\nlisten_port=51820\n"
		  "fwmark=4294967295\nreplace_peers\n" },
		/* 5: a non-zero private key is stored clamped (FromMaybeZeroHex) */
		{ "private_key=ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\n\n",
		  "private_key=f8ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f\n" },
		/* 6: hex.DecodeString takes upper case */
		{ "private_key=4142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F60\n\n",
		  "private_key=4042434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60\n" },
		/* 7: ParseUint allows leading zeros; 0 means "any port" */
		{ "listen_port=0051820\nfwmark=0\n\n",
		  "listen_port=51820\nfwmark=0\n" },
		{ "listen_port=0\nlisten_port=65535\n\n", "listen_port=65535\n" },
		/* 9: a peer, every key once, as wg(8) orders them */
		{ "public_key=" K1 "\npreshared_key=" K2 "\n"
		  "endpoint=192.0.2.1:51820\npersistent_keepalive_interval=25\n"
		  "replace_allowed_ips=true\nallowed_ip=10.0.0.0/24\n"
		  "allowed_ip=2001:db8::/32\nprotocol_version=1\n\n",
		  "peer=1111 replace\npsk=2222\nendpoint=192.0.2.1:51820\n"
		  "keepalive=25\nallowed_ip=10.0.0.0/24\n"
		  "allowed_ip=2001:db8::/32\n" },
		/* 10: a bare public_key line creates the peer */
		{ "public_key=" K1 "\n\n", "peer=1111\n" },
		/* 11: host bits are masked, IPv4-mapped stays IPv6 */
		{ "public_key=" K1 "\nallowed_ip=10.1.2.3/8\n"
		  "allowed_ip=2001:db8::1/16\nallowed_ip=::ffff:10.1.2.3/104\n"
		  "allowed_ip=0.0.0.0/0\nallowed_ip=::/0\n"
		  "allowed_ip=192.0.2.77/32\nallowed_ip=::1.2.3.4/128\n"
		  "allowed_ip=1:2:3:4:5:6:7.8.9.10/128\n"
		  "allowed_ip=0001:02:003:0004::/64\n\n",
		  "peer=1111\nallowed_ip=10.0.0.0/8\nallowed_ip=2001::/16\n"
		  "allowed_ip=::ffff:10.0.0.0/104\nallowed_ip=0.0.0.0/0\n"
		  "allowed_ip=::/0\nallowed_ip=192.0.2.77/32\n"
		  "allowed_ip=::102:304/128\nallowed_ip=1:2:3:4:5:6:708:90a/128\n"
		  "allowed_ip=1:2:3:4::/64\n" },
		/* 13: "allowed_ip=-CIDR" removes one prefix */
		{ "public_key=" K1 "\nallowed_ip=-10.0.0.1/24\n"
		  "allowed_ip=-::/0\n\n",
		  "peer=1111\n-allowed_ip=10.0.0.0/24\n-allowed_ip=::/0\n" },
		/* 14: endpoints: IPv6 in brackets, zones, port 0, mapped */
		{ "public_key=" K1 "\nendpoint=[2001:db8::1]:51820\n\n",
		  "peer=1111\nendpoint=[2001:db8::1]:51820\n" },
		{ "public_key=" K1 "\nendpoint=[fe80::1%lo]:51820\n\n",
		  "peer=1111\nendpoint=[fe80::1%lo]:51820\n" },
		{ "public_key=" K1 "\nendpoint=[fe80::1%1]:1\n\n",
		  "peer=1111\nendpoint=[fe80::1%lo]:1\n" },
		{ "public_key=" K1 "\nendpoint=[::ffff:192.0.2.1]:0\n\n",
		  "peer=1111\nendpoint=[::ffff:192.0.2.1]:0\n" },
		{ "public_key=" K1 "\nendpoint=192.0.2.1:000080\n\n",
		  "peer=1111\nendpoint=192.0.2.1:80\n" },
		/* 19: an unknown zone name: Go's fallback, its leading digits */
		{ "public_key=" K1 "\nendpoint=[fe80::1%4000000xyz]:7\n\n",
		  "peer=1111\nendpoint=[fe80::1%4000000]:7\n" },
		{ "public_key=" K1 "\nendpoint=[fe80::1%nosuchif0]:7\n\n",
		  "peer=1111\nendpoint=[fe80::1]:7\n" },
		/* 21: later values win */
		{ "public_key=" K1 "\nendpoint=192.0.2.1:1\n"
		  "endpoint=192.0.2.2:2\npersistent_keepalive_interval=65535\n"
		  "persistent_keepalive_interval=0\npreshared_key=" KZ "\n\n",
		  "peer=1111\npsk=0000\nendpoint=192.0.2.2:2\nkeepalive=0\n" },
		/* 22: remove=true: an entry of its own; later lines of the
		 * section are checked but have no effect */
		{ "public_key=" K1 "\nremove=true\n\n", "peer=1111 remove\n" },
		{ "public_key=" K1 "\nallowed_ip=10.0.0.0/8\nremove=true\n"
		  "allowed_ip=11.0.0.0/8\nendpoint=192.0.2.1:1\n"
		  "remove=true\nupdate_only=true\n\n",
		  "peer=1111\nallowed_ip=10.0.0.0/8\npeer=1111 remove\n" },
		/* 24: removed, then added again in the same transaction */
		{ "public_key=" K1 "\nremove=true\npublic_key=" K1 "\n"
		  "allowed_ip=10.0.0.0/8\n\n",
		  "peer=1111 remove\npeer=1111\nallowed_ip=10.0.0.0/8\n" },
		/* 25: update_only, as wgctrl sends it */
		{ "public_key=" K1 "\nupdate_only=true\nendpoint=192.0.2.1:1\n\n",
		  "peer=1111 update_only\nendpoint=192.0.2.1:1\n" },
		/* 26: replace_allowed_ips after allowed_ip lines keeps the order */
		{ "public_key=" K1 "\nallowed_ip=10.0.0.0/8\n"
		  "replace_allowed_ips=true\nallowed_ip=11.0.0.0/8\n\n",
		  "peer=1111\nallowed_ip=10.0.0.0/8\npeer=1111 replace\n"
		  "allowed_ip=11.0.0.0/8\n" },
		/* 27: ... and a late update_only covers the whole section */
		{ "public_key=" K1 "\nallowed_ip=10.0.0.0/8\n"
		  "replace_allowed_ips=true\nallowed_ip=11.0.0.0/8\n"
		  "update_only=true\nallowed_ip=12.0.0.0/8\n\n",
		  "peer=1111 update_only\nallowed_ip=10.0.0.0/8\n"
		  "peer=1111 update_only replace\nallowed_ip=11.0.0.0/8\n"
		  "allowed_ip=12.0.0.0/8\n" },
		/* 28: two peers; a replace before any allowed_ip does not split */
		{ "replace_peers=true\npublic_key=" K1 "\n"
		  "replace_allowed_ips=true\nreplace_allowed_ips=true\n"
		  "allowed_ip=10.0.0.0/8\npublic_key=" K2 "\n"
		  "allowed_ip=10.0.0.0/8\n\n",
		  "replace_peers\npeer=1111 replace\nallowed_ip=10.0.0.0/8\n"
		  "peer=2222\nallowed_ip=10.0.0.0/8\n" },
		/* 29: CRLF lines (bufio.ScanLines drops one '\r'); a "\r\n"
		 * line ends the transaction and what follows is ignored */
		{ "listen_port=1\r\nfwmark=2\r\n\r\nbogus\n",
		  "listen_port=1\nfwmark=2\n" },
		/* 30: no blank line: the end of the text ends it (EOF) */
		{ "listen_port=1\nfwmark=2", "listen_port=1\nfwmark=2\n" },
		/* 31: the longest line bufio.Scanner takes is 65535 bytes */
		{ NULL, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct uapi_buf got = { 0 };
		struct uapi_set set;
		char *line = NULL;
		const char *in = v[i].in, *want = v[i].want;
		int ret;

		if (!in) {
			/* "fwmark=" + zeros + "7": 65535 bytes in all. */
			line = malloc(UAPI_LINE_MAX + 2);
			memcpy(line, "fwmark=", 7);
			memset(line + 7, '0', UAPI_LINE_MAX - 8);
			line[UAPI_LINE_MAX - 1] = '7';
			line[UAPI_LINE_MAX] = '\n';
			line[UAPI_LINE_MAX + 1] = '\0';
			in = line;
			want = "fwmark=7\n";
		}
		ret = uapi_set_parse(&set, in, strlen(in));
		CHECKF(ret == 0, "valid %zu: ret %d", i + 1, ret);
		dump_set(&set, &got);
		uapi_buf_printf(&got, "%s", "");
		CHECKF(got.len == strlen(want) && !memcmp(got.data, want, got.len),
		       "valid %zu:\nwant:\n%sgot:\n%.*s", i + 1, want,
		       (int)got.len, got.data ? got.data : "");
		uapi_buf_free(&got);
		uapi_set_free(&set);
		CHECK(set.n_peers == 0 && set.peers == NULL &&
		      !set.has_private_key);
		free(line);
	}
}

/* Stands for an embedded NUL byte in the vectors below. */
#define NUL "\x01"

struct invalid_vector {
	const char *in;
	int err;
};

static void test_uapi_invalid(void)
{
	static const struct invalid_vector v[] = {
		/* 1: strings.Cut finds no '=': IpcErrorProtocol */
		{ "private_key\n\n", -EPROTO },
		{ "listen_port=1\ngarbage\n\n", -EPROTO },
		{ "public_key=" K1 "\n\r\r\n", -EPROTO },  /* only one \r goes */
		/* 4: unknown keys: "invalid UAPI device key" / "peer key" */
		{ "=\n\n", -EINVAL },
		{ "foo=bar\n\n", -EINVAL },
		{ "Listen_port=1\n\n", -EINVAL },
		{ "listen_port =1\n\n", -EINVAL },
		{ "endpoint=192.0.2.1:1\n\n", -EINVAL },   /* peer key first */
		{ "protocol_version=1\n\n", -EINVAL },     /* peer-only key */
		{ "public_key=" K1 "\nlisten_port=1\n\n", -EINVAL },
		{ "public_key=" K1 "\nprivate_key=" KZ "\n\n", -EINVAL },
		{ "public_key=" K1 "\nreplace_peers=true\n\n", -EINVAL },
		{ "public_key=" K1 "\nfoo=1\n\n", -EINVAL },
		{ "listen_port=1" NUL "\n\n", -EINVAL },
		{ NUL "=1\n\n", -EINVAL },
		/* 16: keys: exactly 64 hex digits */
		{ "private_key=\n\n", -EINVAL },
		{ "private_key=" KZ "0\n\n", -EINVAL },
		{ "private_key=" KZ "00\n\n", -EINVAL },
		{ "private_key=000000000000000000000000000000000000000000000000000000000000000g\n\n", -EINVAL },
		{ "public_key=11111111111111111111111111111111111111111111111111111111111111\n\n", -EINVAL },
		{ "public_key=" K1 " \n\n", -EINVAL },
		{ "public_key=" K1 "\npreshared_key=" K1 "1\n\n", -EINVAL },
		/* 23: numbers: strconv.ParseUint(v, 10, bits) */
		{ "listen_port=\n\n", -EINVAL },
		{ "listen_port=65536\n\n", -EINVAL },
		{ "listen_port=-1\n\n", -EINVAL },
		{ "listen_port=+1\n\n", -EINVAL },
		{ "listen_port=0x10\n\n", -EINVAL },
		{ "listen_port=1_0\n\n", -EINVAL },
		{ "listen_port= 1\n\n", -EINVAL },
		{ "fwmark=4294967296\n\n", -EINVAL },
		{ "fwmark=99999999999999999999999999999\n\n", -EINVAL },
		{ "public_key=" K1 "\npersistent_keepalive_interval=65536\n\n", -EINVAL },
		{ "public_key=" K1 "\npersistent_keepalive_interval=\n\n", -EINVAL },
		/* 34: flags must be exactly "true" */
		{ "replace_peers=false\n\n", -EINVAL },
		{ "replace_peers=True\n\n", -EINVAL },
		{ "replace_peers=1\n\n", -EINVAL },
		{ "public_key=" K1 "\nremove=false\n\n", -EINVAL },
		{ "public_key=" K1 "\nupdate_only=\n\n", -EINVAL },
		{ "public_key=" K1 "\nreplace_allowed_ips=yes\n\n", -EINVAL },
		{ "public_key=" K1 "\nprotocol_version=2\n\n", -EINVAL },
		{ "public_key=" K1 "\nprotocol_version=01\n\n", -EINVAL },
		/* 42: allowed_ip: netip.ParsePrefix */
		{ "public_key=" K1 "\nallowed_ip=10.0.0.0\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=10.0.0.0/\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=10.0.0.0/33\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=::/129\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=10.0.0.0/08\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=10.0.0.0/+8\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=10.0.0.0/-0\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=10.0.0.0/ 8\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=010.0.0.0/8\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=10.0.0/8\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=10.0.0.0.0/8\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=10.0.0.256/8\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=10..0.0/8\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=10/8\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=/8\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=fe80::1%lo/64\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=%lo/64\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=1::2::3/64\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=1:2:3:4:5:6:7:8:9/64\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=1:2:3:4:5:6:7::8/64\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=1:2:3:4:5:6:7/64\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=00001::/64\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=:1::/64\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=1::2:/64\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=1:2:3:4:5:6:7:1.2.3.4/64\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=1.2.3.4::/64\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=10.0.0.0/8 \n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=10.0.0.0/8,10.1.0.0/16\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=-\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=--10.0.0.0/8\n\n", -EINVAL },
		{ "public_key=" K1 "\nallowed_ip=+10.0.0.0/8\n\n", -EINVAL },
		/* 73: endpoint: netip.ParseAddrPort, numeric only */
		{ "public_key=" K1 "\nendpoint=192.0.2.1\n\n", -EINVAL },
		{ "public_key=" K1 "\nendpoint=192.0.2.1:\n\n", -EINVAL },
		{ "public_key=" K1 "\nendpoint=:51820\n\n", -EINVAL },
		{ "public_key=" K1 "\nendpoint=192.0.2.1:65536\n\n", -EINVAL },
		{ "public_key=" K1 "\nendpoint=192.0.2.1:-1\n\n", -EINVAL },
		{ "public_key=" K1 "\nendpoint=2001:db8::1:51820\n\n", -EINVAL },
		{ "public_key=" K1 "\nendpoint=[192.0.2.1]:51820\n\n", -EINVAL },
		{ "public_key=" K1 "\nendpoint=[2001:db8::1:51820\n\n", -EINVAL },
		{ "public_key=" K1 "\nendpoint=[2001:db8::1]51820\n\n", -EINVAL },
		{ "public_key=" K1 "\nendpoint=[]:51820\n\n", -EINVAL },
		{ "public_key=" K1 "\nendpoint=[fe80::1%]:51820\n\n", -EINVAL },
		{ "public_key=" K1 "\nendpoint=example.com:51820\n\n", -EINVAL },
		{ "public_key=" K1 "\nendpoint=192.0.2.1%lo:51820\n\n", -EINVAL },
		/* 86: values are checked even after remove=true */
		{ "public_key=" K1 "\nremove=true\nallowed_ip=bogus\n\n", -EINVAL },
		{ "public_key=" K1 "\nremove=true\nupdate_only=no\n\n", -EINVAL },
		/* 88: a line over bufio.Scanner's 64 KiB: IpcErrorIO ... */
		{ NULL, -EIO },
		/* 89: ... unless an earlier line failed first */
		{ "foo=1\n", -EINVAL },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t len = v[i].in ? strlen(v[i].in) : 0;
		char *in = NULL;
		struct uapi_set set;
		int ret;

		if (v[i].in && strchr(v[i].in, NUL[0])) {
			in = strdup(v[i].in);
			*strchr(in, NUL[0]) = '\0';
		}
		if (!v[i].in || i == sizeof(v) / sizeof(v[0]) - 1) {
			/* a 65536-byte line, after the vector's text */
			free(in);
			in = malloc(len + UAPI_LINE_MAX + 3);
			memcpy(in, v[i].in ? v[i].in : "", len);
			memcpy(in + len, "fwmark=", 7);
			memset(in + len + 7, '1', UAPI_LINE_MAX - 6);
			memcpy(in + len + UAPI_LINE_MAX + 1, "\n\n", 2);
			len += UAPI_LINE_MAX + 3;
		}
		ret = uapi_set_parse(&set, in ? in : v[i].in, len);
		CHECKF(ret == v[i].err, "invalid %zu: ret %d, want %d", i + 1,
		       ret, v[i].err);
		/* All or nothing: nothing is left to apply. */
		CHECK(set.n_peers == 0 && !set.peers && !set.has_listen_port &&
		      !set.has_private_key);
		uapi_set_free(&set);
		free(in);
	}
}

/* A valid transaction whose last line is bad stages nothing. */
static void test_uapi_transactional(void)
{
	static const char in[] =
		"private_key=" K1 "\nlisten_port=51820\nreplace_peers=true\n"
		"public_key=" K2 "\npreshared_key=" K1 "\n"
		"allowed_ip=10.0.0.0/8\nallowed_ip=10.0.0.0/33\n\n";
	struct uapi_set set;

	CHECK(uapi_set_parse(&set, in, sizeof(in) - 1) == -EINVAL);
	CHECK(!set.has_private_key && !set.has_listen_port &&
	      !set.replace_peers && set.n_peers == 0 && !set.peers);
	uapi_set_free(&set);
}

/* ------------------------------------------------------------------ */
/* Transactions applied to a device: all or nothing                    */

static void key_hex(char out[65], const uint8_t key[32])
{
	size_t i;

	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", key[i]);
}

static int dev_apply(struct wg_device *dev, const char *text)
{
	struct uapi_set set;
	int ret = uapi_set_parse(&set, text, strlen(text));

	if (!ret)
		ret = device_config_set(dev, &set);
	uapi_set_free(&set);
	return ret;
}

/* The get reply as one string (caller frees). */
static char *dev_get(struct wg_device *dev)
{
	struct uapi_buf b = { 0 };
	char *s;

	device_config_get(dev, &b);
	s = strndup(b.data ? b.data : "", b.len);
	uapi_buf_free(&b);
	return s;
}

/* A UDP port free for now (both families bind it in xwgd). */
static uint16_t free_port(void)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	uint16_t port = 0;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !getsockname(fd, (struct sockaddr *)&sa, &len))
		port = ntohs(sa.sin6_port);
	if (fd >= 0)
		close(fd);
	return port;
}

struct txn_keys {
	char ka[65], kb[65], own_b[65];  /* private keys; pub(kb) */
	char p[8][65];                    /* peers */
};

static void txn_keys_make(struct txn_keys *k)
{
	uint8_t priv[32], pub[32];
	size_t i;

	test_rand_bytes(priv, 32);
	crypto_clamp(priv);
	key_hex(k->ka, priv);
	test_rand_bytes(priv, 32);
	crypto_clamp(priv);
	key_hex(k->kb, priv);
	crypto_public_key(pub, priv);
	key_hex(k->own_b, pub);
	for (i = 0; i < 8; i++) {
		test_rand_bytes(pub, 32);
		key_hex(k->p[i], pub);
	}
}

/* Appends printf output to a growing string. */
static void str_addf(char **s, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void str_addf(char **s, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	*s = realloc(*s, *len + (size_t)n + 1);
	if (!*s)
		abort();
	va_start(ap, fmt);
	vsnprintf(*s + *len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	*len += (size_t)n;
}

/* Test, for transactions of every kind (new, removed, re-created and
 * updated peers, prefixes moving between peers, replace_allowed_ips,
 * "-prefix", a private key that makes a peer our own, a new listen port
 * and fwmark, replace_peers), that failing at each fallible step (the test
 * seam: out of memory) answers -ENOMEM and leaves the configuration byte
 * for byte as get read it before, the old sockets in use; that a port in
 * use refuses it whole too; and that without a fault it applies as on a
 * fresh device. */
static void test_uapi_all_or_nothing(void)
{
	struct txn_keys k;
	uint16_t port_a = free_port(), port_b = free_port();
	bool root = geteuid() == 0;  /* SO_MARK needs CAP_NET_ADMIN */
	char *base = NULL, *txns[4] = { NULL };
	size_t len = 0, t, i;
	int busy_fd;

	if (!CHECK(port_a && port_b && port_a != port_b))
		return;
	/* Each refusal is logged; hundreds of them say nothing here. */
	log_set_level(LOG_LEVEL_SILENT);
	txn_keys_make(&k);
	str_addf(&base, &len, "private_key=%s\nlisten_port=%u\n", k.ka, port_a);
	str_addf(&base, &len, "public_key=%s\nallowed_ip=10.1.0.0/24\nallowed_ip=10.1.1.0/24\n"
		 "allowed_ip=fd01::/64\nendpoint=192.0.2.1:51820\npreshared_key=%s\n"
		 "persistent_keepalive_interval=25\n", k.p[1], k.p[2]);
	str_addf(&base, &len, "public_key=%s\nallowed_ip=10.2.0.0/16\nallowed_ip=10.2.1.0/24\n",
		 k.p[2]);
	str_addf(&base, &len, "public_key=%s\nallowed_ip=10.3.0.0/24\n", k.own_b);
	str_addf(&base, &len, "public_key=%s\nallowed_ip=10.4.0.0/24\nallowed_ip=10.4.1.0/24\n"
		 "allowed_ip=10.4.2.0/24\n\n", k.p[4]);

	/* 0: a bit of everything, device part included */
	len = 0;
	str_addf(&txns[0], &len, "listen_port=%u\n%sprivate_key=%s\n", port_b,
		 root ? "fwmark=77\n" : "", k.kb);
	str_addf(&txns[0], &len, "public_key=%s\nreplace_allowed_ips=true\n"
		 "allowed_ip=10.4.1.0/24\nallowed_ip=10.9.0.0/16\nendpoint=[2001:db8::1]:1\n"
		 "persistent_keepalive_interval=0\n", k.p[1]);
	str_addf(&txns[0], &len, "public_key=%s\nremove=true\n", k.p[2]);
	str_addf(&txns[0], &len, "public_key=%s\nallowed_ip=10.2.1.0/24\nallowed_ip=10.1.0.0/24\n"
		 "persistent_keepalive_interval=10\nendpoint=192.0.2.5:5\n", k.p[5]);
	str_addf(&txns[0], &len, "public_key=%s\nallowed_ip=10.2.0.0/16\n", k.p[2]);
	str_addf(&txns[0], &len, "public_key=%s\nallowed_ip=-10.4.0.0/24\nallowed_ip=10.4.0.0/25\n",
		 k.p[4]);
	str_addf(&txns[0], &len, "public_key=%s\nupdate_only=true\nallowed_ip=10.6.0.0/16\n\n",
		 k.p[6]);
	/* 1: replace_peers with the device part */
	len = 0;
	str_addf(&txns[1], &len, "private_key=%s\nlisten_port=%u\n%sreplace_peers=true\n", k.kb,
		 port_b, root ? "fwmark=78\n" : "");
	str_addf(&txns[1], &len, "public_key=%s\nallowed_ip=10.1.0.0/24\n", k.p[1]);
	str_addf(&txns[1], &len, "public_key=%s\nallowed_ip=10.5.0.0/16\n"
		 "persistent_keepalive_interval=5\n", k.p[5]);
	str_addf(&txns[1], &len, "public_key=%s\nallowed_ip=10.4.1.0/24\n\n", k.p[6]);
	/* 2: many new peers (the tables grow), each taking a prefix */
	len = 0;
	for (i = 0; i < 80; i++) {
		uint8_t key[32];
		char hex[65];

		test_rand_bytes(key, 32);
		key_hex(hex, key);
		str_addf(&txns[2], &len, "public_key=%s\nallowed_ip=10.%zu.%zu.0/24\n"
			 "allowed_ip=fd%02zx::/64\n", hex, 1 + i % 4, i % 3, i);
	}
	str_addf(&txns[2], &len, "public_key=%s\nremove=true\n\n", k.p[1]);
	/* 3: only the private key, which makes a peer our own */
	len = 0;
	str_addf(&txns[3], &len, "private_key=%s\n\n", k.kb);

	for (t = 0; t < 4; t++) {
		struct wg_device dev, ref;
		char *before, *after, *want;
		int fd4, ret = -1;
		uint64_t n;
		bool same = true, consistent = true;

		if (!CHECK(device_init(&dev, "txn0", 1) == 0))
			break;
		CHECK(dev_apply(&dev, base) == 0);
		before = dev_get(&dev);
		fd4 = dev.udp.fd4;
		for (n = 1; n < 10000; n++) {
			char *now;

			device_config_fault_set(n);
			ret = dev_apply(&dev, txns[t]);
			device_config_fault_set(0);
			if (!ret)
				break;
			now = dev_get(&dev);
			/* the first difference only: the rest would repeat it */
			if (same && (ret != -ENOMEM || strcmp(now, before) || dev.udp.fd4 != fd4)) {
				CHECKF(false, "txn %zu failing at step %llu: ret %d, get:\n%s\n"
				       "want:\n%s", t, (unsigned long long)n, ret, now, before);
				same = false;
			}
			consistent &= allowedips_is_consistent(&dev.allowedips) &&
				      dev.peers.count == 4;
			free(now);
		}
		CHECKF(same && consistent && n > 1, "txn %zu: %llu steps", t, (unsigned long long)n);
		printf("    transaction %zu: refused whole at each of its %llu fallible steps\n", t,
		       (unsigned long long)n - 1);
		CHECKF(ret == 0, "txn %zu applies without a fault: %d", t, ret);
		after = dev_get(&dev);
		device_uninit(&dev);
		udp_socks_close(&dev.udp);
		/* the same as on a device that never failed */
		CHECK(device_init(&ref, "txn1", 1) == 0);
		CHECK(dev_apply(&ref, base) == 0);
		CHECK(dev_apply(&ref, txns[t]) == 0);
		want = dev_get(&ref);
		CHECKF(!strcmp(after, want) && strcmp(after, before), "txn %zu:\n%s\nwant:\n%s",
		       t, after, want);
		free(after);
		free(want);
		free(before);
		device_uninit(&ref);
		udp_socks_close(&ref.udp);
	}

	/* A port in use refuses the whole transaction, key and peers too. */
	{
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port_b) };
		struct wg_device dev;
		char *before, *now;

		busy_fd = socket(AF_INET, SOCK_DGRAM, 0);
		CHECK(busy_fd >= 0 && !bind(busy_fd, (struct sockaddr *)&sa, sizeof(sa)));
		CHECK(device_init(&dev, "txn2", 1) == 0);
		CHECK(dev_apply(&dev, base) == 0);
		before = dev_get(&dev);
		CHECK(dev_apply(&dev, txns[0]) == -EADDRINUSE);
		CHECK(dev_apply(&dev, txns[1]) == -EADDRINUSE);
		now = dev_get(&dev);
		CHECK(!strcmp(now, before));
		free(now);
		free(before);
		device_uninit(&dev);
		udp_socks_close(&dev.udp);
		close(busy_fd);
	}
	/* Clearing the private key removes no peer, not even one whose key
	 * is the public key of the clamped zero key. */
	{
		uint8_t zero[32] = { 0 }, pub[32];
		struct wg_device dev;
		char set[256], hex[65], *now;

		crypto_clamp(zero);
		crypto_public_key(pub, zero);
		key_hex(hex, pub);
		CHECK(device_init(&dev, "txn3", 1) == 0);
		snprintf(set, sizeof(set), "private_key=%s\npublic_key=%s\nallowed_ip=10.0.0.0/8\n\n",
			 k.ka, hex);
		CHECK(dev_apply(&dev, set) == 0);
		CHECK(dev_apply(&dev, "private_key=" KZ "\n\n") == 0);
		now = dev_get(&dev);
		CHECK(strstr(now, hex) && !strstr(now, "private_key="));
		free(now);
		device_uninit(&dev);
	}
	for (t = 0; t < 4; t++)
		free(txns[t]);
	free(base);
	log_set_level(LOG_LEVEL_INFO);
}

struct format_vector {
	int family;
	const char *hex;  /* address, network order */
	uint32_t scope_id;
	const char *want;
};

/* Go's netip.Addr.String / AddrPort.String, which is what wireguard-go's
 * get prints; it differs from inet_ntop for "::a.b.c.d" and "::2". */
static void test_uapi_format(void)
{
	static const struct format_vector v[] = {
		/* 1 */
		{ AF_INET, "c0000201", 0, "192.0.2.1" },
		{ AF_INET, "00000000", 0, "0.0.0.0" },
		{ AF_INET6, "00000000000000000000000000000000", 0, "::" },
		{ AF_INET6, "00000000000000000000000000000001", 0, "::1" },
		{ AF_INET6, "00010000000000000000000000000000", 0, "1::" },
		{ AF_INET6, "20010db8000000000000000000000001", 0, "2001:db8::1" },
		/* 7: one zero group is not compressed */
		{ AF_INET6, "20010db8000000010001000100010001", 0,
		  "2001:db8:0:1:1:1:1:1" },
		/* 8: the longest run wins, the first of equal runs */
		{ AF_INET6, "00010000000000020000000000000003", 0, "1:0:0:2::3" },
		{ AF_INET6, "00010000000000020000000000030004", 0, "1::2:0:0:3:4" },
		{ AF_INET6, "00000001000000000000000000000000", 0, "0:1::" },
		{ AF_INET6, "00010000000100000001000000010000", 0,
		  "1:0:1:0:1:0:1:0" },
		{ AF_INET6, "abcdef0000000000000000000000abcd", 0, "abcd:ef00::abcd" },
		{ AF_INET6, "00010002000300040005000600070008", 0, "1:2:3:4:5:6:7:8" },
		/* 14: only ::ffff:0:0/96 is dotted */
		{ AF_INET6, "00000000000000000000ffff01020304", 0, "::ffff:1.2.3.4" },
		{ AF_INET6, "00000000000000000000ffff00000000", 0, "::ffff:0.0.0.0" },
		{ AF_INET6, "00000000000000000000000001020304", 0, "::102:304" },
		{ AF_INET6, "00000000000000000000000000000002", 0, "::2" },
		{ AF_INET6, "0000000000000000000000000000ffff", 0, "::ffff" },
		/* 19: zones (loopback is always ifindex 1) */
		{ AF_INET6, "fe800000000000000000000000000001", 1, "fe80::1%lo" },
		{ AF_INET6, "fe800000000000000000000000000001", 424242,
		  "fe80::1%424242" },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		union {
			struct sockaddr sa;
			struct sockaddr_in in4;
			struct sockaddr_in6 in6;
		} ep = { 0 };
		struct uapi_buf got = { 0 };
		uint8_t addr[16] = { 0 };
		char want[160];

		test_unhex(addr, sizeof(addr), v[i].hex);
		if (!v[i].scope_id) {
			snprintf(want, sizeof(want), "allowed_ip=%s/%u\n",
				 v[i].want, v[i].family == AF_INET ? 32 : 128);
			uapi_buf_put_allowed_ip(&got, v[i].family, addr,
						v[i].family == AF_INET ? 32 : 128);
		}
		if (v[i].family == AF_INET) {
			ep.in4.sin_family = AF_INET;
			ep.in4.sin_port = htons(51820);
			memcpy(&ep.in4.sin_addr, addr, 4);
			snprintf(want + strlen(want), sizeof(want) - strlen(want),
				 "endpoint=%s:51820\n", v[i].want);
		} else {
			if (v[i].scope_id)
				want[0] = '\0';
			ep.in6.sin6_family = AF_INET6;
			ep.in6.sin6_port = htons(1);
			ep.in6.sin6_scope_id = v[i].scope_id;
			memcpy(&ep.in6.sin6_addr, addr, 16);
			snprintf(want + strlen(want), sizeof(want) - strlen(want),
				 "endpoint=[%s]:1\n", v[i].want);
		}
		uapi_buf_put_endpoint(&got, &ep.sa);
		CHECKF(got.len == strlen(want) && !memcmp(got.data, want, got.len),
		       "format %zu: want %sgot %.*s", i + 1, want, (int)got.len,
		       got.data);
		uapi_buf_free(&got);
	}
}

/* ------------------------------------------------------------------ */
/* The connection driver against fake daemon ops                        */

struct fake {
	int sets, gets;
	int set_ret, get_ret;
	size_t get_bytes;  /* 0: the sample reply; else this much output */
	struct uapi_buf last;  /* dump_set of the last set */
	void (*check)(struct fake *f, const struct uapi_set *s);
	bool check_ok;
};

static int fake_set(void *ctx, const struct uapi_set *s)
{
	struct fake *f = ctx;

	f->sets++;
	uapi_buf_free(&f->last);
	dump_set(s, &f->last);
	uapi_buf_printf(&f->last, "%s", "");
	if (f->check)
		f->check(f, s);
	return f->set_ret;
}

/* What wireguard-go's IpcGetOperation prints for one peer. */
static const char sample_get[] =
	"private_key=" K1 "\n"
	"listen_port=51820\n"
	"public_key=" K2 "\n"
	"preshared_key=" KZ "\n"
	"protocol_version=1\n"
	"endpoint=[2001:db8::1]:51820\n"
	"last_handshake_time_sec=1700000000\n"
	"last_handshake_time_nsec=5\n"
	"tx_bytes=92\n"
	"rx_bytes=212\n"
	"persistent_keepalive_interval=0\n"
	"allowed_ip=10.0.0.0/24\n"
	"allowed_ip=fd00::/64\n";

static int fake_get(void *ctx, struct uapi_buf *out)
{
	static const uint8_t v6[16] = { 0xfd };
	static const uint8_t v4[4] = { 10 };
	struct fake *f = ctx;
	uint8_t k1[32], k2[32], kz[32] = { 0 };
	struct sockaddr_in6 ep = { .sin6_family = AF_INET6,
				   .sin6_port = htons(51820) };
	uint32_t i = 0;

	f->gets++;
	if (f->get_ret)
		return f->get_ret;
	if (f->get_bytes) {
		while (out->len < f->get_bytes && !out->oom) {
			uint8_t a[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					  (uint8_t)(i >> 24), (uint8_t)(i >> 16),
					  (uint8_t)(i >> 8), (uint8_t)i };

			uapi_buf_put_allowed_ip(out, AF_INET6, a, 128);
			i++;
		}
		return 0;
	}
	memset(k1, 0x11, sizeof(k1));
	memset(k2, 0x22, sizeof(k2));
	test_unhex(ep.sin6_addr.s6_addr, 16, "20010db8000000000000000000000001");
	uapi_buf_put_hex(out, "private_key", k1, 32);
	uapi_buf_printf(out, "listen_port=%u\n", 51820);
	uapi_buf_put_hex(out, "public_key", k2, 32);
	uapi_buf_put_hex(out, "preshared_key", kz, 32);
	uapi_buf_printf(out, "protocol_version=1\n");
	uapi_buf_put_endpoint(out, (const struct sockaddr *)&ep);
	uapi_buf_printf(out, "last_handshake_time_sec=%llu\n", 1700000000ULL);
	uapi_buf_printf(out, "last_handshake_time_nsec=%u\n", 5);
	uapi_buf_printf(out, "tx_bytes=%llu\n", 92ULL);
	uapi_buf_printf(out, "rx_bytes=%llu\n", 212ULL);
	uapi_buf_printf(out, "persistent_keepalive_interval=%u\n", 0);
	uapi_buf_put_allowed_ip(out, AF_INET, v4, 24);
	uapi_buf_put_allowed_ip(out, AF_INET6, v6, 64);
	return 0;
}

struct pair {
	int client;
	bool open;
	struct uapi_conn conn;
	struct fake fake;
	struct uapi_ops ops;
	char reply[64 * 1024];
	size_t reply_len;
};

static void pair_open(struct pair *p)
{
	int sv[2];

	memset(p, 0, sizeof(*p));
	if (!CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0))
		abort();
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	uapi_conn_init(&p->conn, sv[0]);
	p->client = sv[1];
	p->open = true;
	p->ops = (struct uapi_ops){ .set = fake_set, .get = fake_get,
				    .ctx = &p->fake };
}

static void pair_close(struct pair *p)
{
	if (p->open)
		uapi_conn_close(&p->conn);
	close(p->client);
	uapi_buf_free(&p->fake.last);
}

static int pair_handle(struct pair *p)
{
	int r;

	if (!p->open)
		return 0;
	r = (int)uapi_conn_on_event(&p->conn, &p->ops);
	if (!r) {
		uapi_conn_close(&p->conn);
		p->open = false;
	}
	return r;
}

/* Sends len bytes as the client and lets the server handle them:
 * on_event's result (1: wait to read, 2: to write, 0: closed). */
static int pair_send(struct pair *p, const char *in, size_t len)
{
	while (len) {
		ssize_t n = send(p->client, in, len, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		in += n;
		len -= (size_t)n;
	}
	return pair_handle(p);
}

static int pair_sends(struct pair *p, const char *in)
{
	return pair_send(p, in, strlen(in));
}

/* Collects the server's output so far; true when the server side has
 * closed (EOF seen). */
static bool pair_recv(struct pair *p)
{
	for (;;) {
		ssize_t n = recv(p->client, p->reply + p->reply_len,
				 sizeof(p->reply) - 1 - p->reply_len,
				 MSG_DONTWAIT);

		if (n > 0) {
			p->reply_len += (size_t)n;
			p->reply[p->reply_len] = '\0';
			continue;
		}
		p->reply[p->reply_len] = '\0';
		return n == 0;
	}
}

#define CHECK_REPLY(p, want)                                              \
	do {                                                              \
		pair_recv(p);                                             \
		CHECKF((p)->reply_len == strlen(want) &&                  \
		       !memcmp((p)->reply, want, (p)->reply_len),          \
		       "reply:\nwant: %s\ngot:  %s", want, (p)->reply);    \
		(p)->reply_len = 0;                                       \
	} while (0)

static void test_uapi_conn(void)
{
	char want[8192];
	struct pair p;
	size_t i;

	snprintf(want, sizeof(want), "%serrno=0\n\n", sample_get);

	/* 1: get; the connection stays open */
	pair_open(&p);
	CHECK(pair_sends(&p, "get=1\n\n") == 1);
	CHECK_REPLY(&p, want);
	CHECK(p.fake.gets == 1);
	/* 2: set on the same connection */
	CHECK(pair_sends(&p, "set=1\nlisten_port=51820\n\n") == 1);
	CHECK_REPLY(&p, "errno=0\n\n");
	CHECK(p.fake.sets == 1 && !strcmp(p.fake.last.data, "listen_port=51820\n"));
	/* 3: an empty transaction is a valid one */
	CHECK(pair_sends(&p, "set=1\n\n") == 1);
	CHECK_REPLY(&p, "errno=0\n\n");
	CHECK(p.fake.sets == 2 && p.fake.last.len == 0);
	pair_close(&p);

	/* 4: a bad last line: -EINVAL, nothing applied, closed */
	pair_open(&p);
	CHECK(pair_sends(&p, "set=1\nlisten_port=51820\npublic_key=" K1 "\n"
			 "allowed_ip=10.0.0.0/8\nallowed_ip=10.0.0.0/99\n\n") == 0);
	CHECK_REPLY(&p, "errno=-22\n\n");
	CHECK(p.fake.sets == 0);
	CHECK(pair_recv(&p));  /* EOF */
	pair_close(&p);

	/* 5: a line without '=': -EPROTO */
	pair_open(&p);
	CHECK(pair_sends(&p, "set=1\nlisten_port\n\n") == 0);
	CHECK_REPLY(&p, "errno=-71\n\n");
	pair_close(&p);

	/* 6: the daemon fails to apply (port in use): its errno, closed */
	pair_open(&p);
	p.fake.set_ret = -EADDRINUSE;
	CHECK(pair_sends(&p, "set=1\nlisten_port=53\n\n") == 0);
	CHECK_REPLY(&p, "errno=-98\n\n");
	CHECK(p.fake.sets == 1);
	pair_close(&p);

	/* 7: two operations in one write, both ways round */
	pair_open(&p);
	CHECK(pair_sends(&p, "get=1\n\nget=1\n\n") == 1);
	snprintf(want, sizeof(want), "%serrno=0\n\n%serrno=0\n\n", sample_get,
		 sample_get);
	CHECK_REPLY(&p, want);
	CHECK(pair_sends(&p, "set=1\nfwmark=1\n\nget=1\n\n") == 1);
	snprintf(want, sizeof(want), "errno=0\n\n%serrno=0\n\n", sample_get);
	CHECK_REPLY(&p, want);
	CHECK(p.fake.sets == 1 && p.fake.gets == 3);
	pair_close(&p);

	/* 8: operations split into 1-byte writes */
	pair_open(&p);
	{
		static const char in[] =
			"set=1\nlisten_port=1\r\npublic_key=" K1 "\n"
			"allowed_ip=10.0.0.0/8\n\nget=1\n\n";
		int r = 1;

		for (i = 0; i < sizeof(in) - 1 && r == 1; i++)
			r = pair_send(&p, in + i, 1);
		CHECK(r == 1);
		snprintf(want, sizeof(want), "errno=0\n\n%serrno=0\n\n",
			 sample_get);
		CHECK_REPLY(&p, want);
		CHECK(p.fake.sets == 1 && !strcmp(p.fake.last.data,
			"listen_port=1\npeer=1111\nallowed_ip=10.0.0.0/8\n"));
	}
	pair_close(&p);

	/* 9: "get=1\n" then not '\n': -EINVAL for the byte, and on */
	pair_open(&p);
	CHECK(pair_sends(&p, "get=1\nxget=1\n\n") == 1);
	snprintf(want, sizeof(want), "errno=-22\n\n%serrno=0\n\n", sample_get);
	CHECK_REPLY(&p, want);
	pair_close(&p);

	/* 10: invalid operations close without a reply */
	{
		static const char *const bad[] = {
			"foo=1\n", "get=1\r\n\n", "set=2\n\n", "get=1 \n\n",
			"\n", "GET=1\n\n", "get=1\0\n\n",
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			pair_open(&p);
			CHECKF(pair_send(&p, bad[i], strlen(bad[i]) +
					 (i == 6 ? 3 : 0)) == 0, "bad op %zu", i);
			CHECK(pair_recv(&p) && p.reply_len == 0);
			pair_close(&p);
		}
	}

	/* 11: an invalid operation line is read up to its '\n' first */
	pair_open(&p);
	CHECK(pair_sends(&p, "hello world") == 1);
	CHECK(pair_sends(&p, " and more") == 1);
	CHECK(pair_sends(&p, "\nget=1\n\n") == 0);
	CHECK(pair_recv(&p) && p.reply_len == 0);
	pair_close(&p);

	/* 12: EOF: after "get=1\n", or inside an operation line */
	pair_open(&p);
	CHECK(pair_sends(&p, "get=1\n") == 1);
	shutdown(p.client, SHUT_WR);
	CHECK(pair_handle(&p) == 0);
	CHECK(pair_recv(&p) && p.reply_len == 0);
	pair_close(&p);
	pair_open(&p);
	CHECK(pair_sends(&p, "se") == 1);
	shutdown(p.client, SHUT_WR);
	CHECK(pair_handle(&p) == 0);
	CHECK(pair_recv(&p) && p.reply_len == 0);
	pair_close(&p);

	/* 13: a set waits for its blank line ... */
	pair_open(&p);
	CHECK(pair_sends(&p, "set=1\nlisten_port=5\n") == 1);
	CHECK(p.fake.sets == 0);
	CHECK(pair_sends(&p, "\n") == 1);
	CHECK_REPLY(&p, "errno=0\n\n");
	CHECK(p.fake.sets == 1);
	pair_close(&p);
	/* 14: ... but EOF ends it as wireguard-go's scanner does: applied,
	 * answered, closed */
	pair_open(&p);
	CHECK(pair_sends(&p, "set=1\nlisten_port=5\nfwmark=7") == 1);
	shutdown(p.client, SHUT_WR);
	CHECK(pair_handle(&p) == 0);
	CHECK_REPLY(&p, "errno=0\n\n");
	CHECK(p.fake.sets == 1 &&
	      !strcmp(p.fake.last.data, "listen_port=5\nfwmark=7\n"));
	pair_close(&p);

	/* 15: a line over 64 KiB: -EIO as soon as it is that long ... */
	{
		size_t n = 70000;
		char *big = malloc(n + 64);

		memcpy(big, "set=1\n", 6);
		memset(big + 6, 'a', n);
		pair_open(&p);
		CHECK(pair_send(&p, big, n + 6) == 0);
		CHECK_REPLY(&p, "errno=-5\n\n");
		pair_close(&p);
		/* 16: ... unless an earlier line was bad */
		memcpy(big, "set=1\nfoo=bar\n", 14);
		pair_open(&p);
		CHECK(pair_send(&p, big, n + 6) == 0);
		CHECK_REPLY(&p, "errno=-22\n\n");
		CHECK(p.fake.sets == 0);
		pair_close(&p);
		free(big);
	}

	/* 17: a failing get answers its errno alone */
	pair_open(&p);
	p.fake.get_ret = -EIO;
	CHECK(pair_sends(&p, "get=1\n\n") == 1);
	CHECK_REPLY(&p, "errno=-5\n\n");
	pair_close(&p);

	/* 18: EOF at once */
	pair_open(&p);
	shutdown(p.client, SHUT_WR);
	CHECK(pair_handle(&p) == 0);
	pair_close(&p);

	/* 19: many pipelined operations in one write */
	pair_open(&p);
	{
		char in[40 * 32];
		size_t len = 0;

		for (i = 0; i < 40; i++)
			len += (size_t)snprintf(in + len, sizeof(in) - len,
						"set=1\nfwmark=%zu\n\n", i);
		CHECK(pair_send(&p, in, len) == 1);
		CHECK(p.fake.sets == 40 && !strcmp(p.fake.last.data,
						   "fwmark=39\n"));
		pair_recv(&p);
		CHECK(p.reply_len == 40 * 9);
	}
	pair_close(&p);
}

/* ------------------------------------------------------------------ */
/* Large transactions                                                  */

#define BIG_PEERS 6000
#define BIG_IPS_PER_PEER 50

static void big_addr(size_t k, uint8_t out[16])
{
	memset(out, 0, 16);
	out[0] = 0xfd;
	out[12] = (uint8_t)(100 + k % 100);
	out[13] = (uint8_t)(100 + k / 100 % 100);
	out[14] = (uint8_t)(100 + k / 10000 % 100);
	out[15] = 200;
}

static void big_check(struct fake *f, const struct uapi_set *s)
{
	size_t i, total = 0;
	bool ok = s->n_peers == BIG_PEERS;

	for (i = 0; ok && i < s->n_peers; i++) {
		const struct uapi_peer *p = &s->peers[i];
		size_t j;

		total += p->n_allowed_ips;
		ok = p->n_allowed_ips == BIG_IPS_PER_PEER &&
		     p->replace_allowed_ips && p->has_endpoint &&
		     p->has_preshared_key &&
		     p->persistent_keepalive_interval == 25 &&
		     p->public_key[31] == (uint8_t)(i + 1) &&
		     p->public_key[30] == (uint8_t)((i + 1) >> 8) &&
		     ntohs(p->endpoint.in6.sin6_port) == 51820;
		for (j = 0; ok && j < p->n_allowed_ips; j += 7) {
			uint8_t want[16];

			big_addr(i * BIG_IPS_PER_PEER + j, want);
			ok = p->allowed_ips[j].family == AF_INET6 &&
			     p->allowed_ips[j].cidr == 128 &&
			     !memcmp(p->allowed_ips[j].addr, want, 16);
		}
	}
	f->check_ok = ok && total == BIG_PEERS * BIG_IPS_PER_PEER;
}

struct writer {
	int fd;
	const char *data;
	size_t len;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	size_t off = 0;

	while (off < w->len) {
		ssize_t n = send(w->fd, w->data + off, w->len - off,
				 MSG_NOSIGNAL);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	return NULL;
}

/* wg setconf with 300,000 allowed IPs (about 20 MB) in one transaction. */
static void test_uapi_big_set(void)
{
	size_t cap = 24u << 20, len = 0, i, j;
	char *in = malloc(cap);
	struct writer w;
	pthread_t thread;
	struct pair p;
	double t0, elapsed;
	int r = 1;

	if (!CHECK(in))
		return;
	len += (size_t)snprintf(in + len, cap - len,
				"set=1\nprivate_key=" K1 "\nlisten_port=51820\n"
				"replace_peers=true\n");
	for (i = 0; i < BIG_PEERS; i++) {
		len += (size_t)snprintf(in + len, cap - len,
			"public_key=%064zx\npreshared_key=" K2 "\n"
			"endpoint=[2001:0db8:0000:0000:0000:0000:%04zx:0001]:51820\n"
			"persistent_keepalive_interval=25\n"
			"replace_allowed_ips=true\nprotocol_version=1\n", i + 1, i);
		for (j = 0; j < BIG_IPS_PER_PEER; j++) {
			uint8_t a[16];

			big_addr(i * BIG_IPS_PER_PEER + j, a);
			len += (size_t)snprintf(in + len, cap - len,
				"allowed_ip=fd00:0000:0000:0000:0000:0000:"
				"%u.%u.%u.%u/128\n", a[12], a[13], a[14], a[15]);
		}
	}
	len += (size_t)snprintf(in + len, cap - len, "\n");
	CHECK(len >= 20000000 && len < cap);

	pair_open(&p);
	p.fake.check = big_check;
	w = (struct writer){ .fd = p.client, .data = in, .len = len };
	t0 = seconds_now();
	pthread_create(&thread, NULL, writer_main, &w);
	while (r == 1 && p.fake.sets == 0) {
		struct pollfd pfd = { .fd = p.conn.fd, .events = POLLIN };

		if (poll(&pfd, 1, 30000) <= 0)
			break;
		r = pair_handle(&p);
	}
	pthread_join(thread, NULL);
	elapsed = seconds_now() - t0;
	CHECK(r == 1);
	CHECK(p.fake.sets == 1 && p.fake.check_ok);
	CHECK_REPLY(&p, "errno=0\n\n");
	/* Linear work: well under a second unsanitized. */
	CHECKF(elapsed < 15.0, "20 MB set took %.2f s", elapsed);
	printf("    %.1f MB set, 300000 allowed IPs: %.2f s\n", len / 1e6,
	       elapsed);
	pair_close(&p);
	free(in);
}

struct stream_writer {
	int fd;
	size_t sent;
};

/* Sends "set=1\n" then "fwmark=1\n" lines without end, until the peer
 * closes (or 256 MiB). */
static void *stream_writer_main(void *arg)
{
	struct stream_writer *w = arg;
	static char chunk[1 << 20];
	size_t i;

	for (i = 0; i + 9 <= sizeof(chunk); i += 9)
		memcpy(chunk + i, "fwmark=1\n", 9);
	if (send(w->fd, "set=1\n", 6, MSG_NOSIGNAL) != 6)
		return NULL;
	while (w->sent < (256u << 20)) {
		ssize_t n = send(w->fd, chunk, i, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		w->sent += (size_t)n;
	}
	return NULL;
}

/* Test that a transaction over UAPI_SET_MAX_BYTES is refused with
 * -EMSGSIZE (wireguard-go has no bound) and the connection closed,
 * without the daemon growing past the bound. */
static void test_uapi_too_big(void)
{
	struct stream_writer w = { 0 };
	pthread_t thread;
	size_t max_cap = 0;
	struct pair p;
	int r = 1;

	pair_open(&p);
	w.fd = p.client;
	pthread_create(&thread, NULL, stream_writer_main, &w);
	while (r == 1) {
		struct pollfd pfd = { .fd = p.conn.fd, .events = POLLIN };

		if (poll(&pfd, 1, 30000) <= 0)
			break;
		if (p.conn.cap > max_cap)
			max_cap = p.conn.cap;
		r = pair_handle(&p);
	}
	CHECK(r == 0);
	CHECKF(max_cap <= UAPI_SET_MAX_BYTES + (1u << 20), "cap %zu", max_cap);
	CHECK_REPLY(&p, "errno=-90\n\n");
	shutdown(p.client, SHUT_RDWR);
	pthread_join(thread, NULL);
	CHECK(w.sent > UAPI_SET_MAX_BYTES && w.sent < (256u << 20));
	CHECK(p.fake.sets == 0);
	pair_close(&p);
}

/* What fake_get answers with get_bytes, errno line included. */
static void expected_get(size_t bytes, struct uapi_buf *want)
{
	struct fake f = { .get_bytes = bytes };

	fake_get(&f, want);
	uapi_buf_printf(want, "errno=0\n\n");
}

/* Reads everything until EOF, as a client that took its time and now
 * reads at full speed. */
struct collector {
	int fd;
	char *data;
	size_t len, cap;
};

static void *collector_main(void *arg)
{
	struct collector *col = arg;

	for (;;) {
		ssize_t n;

		if (col->cap - col->len < 65536) {
			char *p = realloc(col->data, col->cap * 2 + 65536);

			if (!p)
				break;
			col->data = p;
			col->cap = col->cap * 2 + 65536;
		}
		n = recv(col->fd, col->data + col->len, col->cap - col->len, 0);
		if (n <= 0)
			break;
		col->len += (size_t)n;
	}
	return NULL;
}

/* Reads what is there without waiting; true at EOF. */
static bool client_read(int fd, size_t *total)
{
	static char buf[256 * 1024];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			*total += (size_t)n;
			continue;
		}
		return n == 0;
	}
}

/* Test that a client that asks for a 6 MB reply and reads nothing leaves
 * the daemon side free at once (no call waits), that its next request
 * waits unread until the reply is taken, and that both replies then
 * arrive whole and byte for byte; one call sends at most
 * UAPI_BURST_BYTES. */
static void test_uapi_slow_reader(void)
{
	struct uapi_buf want = { 0 };
	struct collector col = { 0 };
	size_t pending, sent, max_sent = 0;
	pthread_t thread;
	struct pair p;
	double t0;
	int r;

	expected_get(6u << 20, &want);
	pair_open(&p);
	p.fake.get_bytes = 6u << 20;
	t0 = seconds_now();
	CHECK(pair_sends(&p, "get=1\n\n") == UAPI_CONN_WAIT_WRITE);
	/* Building the reply is the only work (well under a second even
	 * sanitized); the old code waited here for the reader. */
	CHECKF(seconds_now() - t0 < 2.0, "%.2f s", seconds_now() - t0);
	pending = uapi_conn_pending(&p.conn);
	CHECKF(pending > (5u << 20) && pending < want.len, "pending %zu", pending);
	t0 = seconds_now();
	CHECK(pair_handle(&p) == UAPI_CONN_WAIT_WRITE);
	CHECK(uapi_conn_pending(&p.conn) == pending);
	CHECKF(seconds_now() - t0 < 0.1, "%.3f s", seconds_now() - t0);

	/* Test that the next request is not read while the reply waits. */
	CHECK(pair_sends(&p, "get=1\n\n") == UAPI_CONN_WAIT_WRITE);
	CHECK(p.fake.gets == 1 && p.conn.len == 0);

	/* Test that both arrive once the client reads. */
	col.fd = p.client;
	pthread_create(&thread, NULL, collector_main, &col);
	r = UAPI_CONN_WAIT_WRITE;
	while (r == UAPI_CONN_WAIT_WRITE) {
		struct pollfd pfd = { .fd = p.conn.fd, .events = POLLOUT };
		size_t before = uapi_conn_pending(&p.conn);

		if (poll(&pfd, 1, 10000) <= 0)
			break;
		r = pair_handle(&p);
		sent = before - uapi_conn_pending(&p.conn);
		if (p.fake.gets == 1 && r == UAPI_CONN_WAIT_WRITE && sent > max_sent)
			max_sent = sent;
	}
	CHECK(r == UAPI_CONN_WAIT_READ);
	CHECK(p.fake.gets == 2 && uapi_conn_pending(&p.conn) == 0);
	CHECKF(max_sent <= UAPI_BURST_BYTES, "one call sent %zu bytes", max_sent);
	uapi_conn_close(&p.conn);  /* EOF for the collector */
	p.open = false;
	pthread_join(thread, NULL);
	CHECKF(col.len == 2 * want.len && !memcmp(col.data, want.data, want.len) &&
	       !memcmp(col.data + want.len, want.data, want.len),
	       "got %zu bytes, want 2 x %zu", col.len, want.len);
	pair_close(&p);
	free(col.data);
	uapi_buf_free(&want);
}

/* Test the deadlines: a reply the reader takes nothing of for
 * write_timeout_ms, a partial request that receives nothing for
 * read_timeout_ms; none between requests; progress moves them. */
static void test_uapi_deadlines(void)
{
	static const char *const partial[] = {
		"set=1\nlisten_port=1\n", "get=1\n", "se", "hello world",
	};
	struct uapi_server srv;
	struct pollfd pfd;
	uint64_t at, at2, now;
	size_t total = 0, i;
	struct pair p;

	uapi_server_init(&srv);
	CHECK(srv.conns_max == UAPI_CONNS_MAX && srv.pending_max == UAPI_PENDING_MAX);
	CHECK(uapi_server_next_deadline(&srv) == 0);

	/* 1: a stalled reader */
	pair_open(&p);
	uapi_server_add(&srv, &p.conn);
	p.conn.write_timeout_ms = 200;
	CHECK(pair_sends(&p, "get=1\n\n") == UAPI_CONN_WAIT_READ);
	CHECK(pair_recv(&p) == false && p.reply_len > 0);
	p.reply_len = 0;
	CHECK(uapi_server_next_deadline(&srv) == 0);  /* between requests */
	p.fake.get_bytes = 2u << 20;
	now = uapi_clock_ms();
	CHECK(pair_sends(&p, "get=1\n\n") == UAPI_CONN_WAIT_WRITE);
	CHECK(srv.pending >= uapi_conn_pending(&p.conn) && srv.pending > (1u << 20));
	at = uapi_server_next_deadline(&srv);
	CHECKF(at >= now + 200 && at <= uapi_clock_ms() + 200, "at %llu now %llu",
	       (unsigned long long)at, (unsigned long long)now);
	/* ... whose reading some moves the deadline */
	usleep(20000);
	CHECK(!client_read(p.client, &total) && total > 0);
	CHECK(pair_handle(&p) == UAPI_CONN_WAIT_WRITE);
	at2 = uapi_server_next_deadline(&srv);
	CHECKF(at2 >= at + 20, "deadline %llu then %llu", (unsigned long long)at,
	       (unsigned long long)at2);
	CHECK(uapi_server_expire(&srv, at2 - 1) == NULL);
	CHECK(uapi_server_expire(&srv, at2) == &p.conn);
	CHECK(uapi_server_expire(&srv, at2 + 1000) == NULL);  /* once */
	CHECK(uapi_server_next_deadline(&srv) == 0);
	/* Its fd reports a hang-up whatever it waits for (epoll included),
	 * and its next event closes it. */
	pfd = (struct pollfd){ .fd = p.conn.fd, .events = 0 };
	CHECK(poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP));
	CHECK(pair_handle(&p) == UAPI_CONN_CLOSE);
	CHECK(srv.n_conns == 0 && srv.pending == 0);
	CHECK(client_read(p.client, &total));  /* EOF */
	pair_close(&p);

	/* 2: partial requests */
	for (i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
		pair_open(&p);
		uapi_server_add(&srv, &p.conn);
		p.conn.read_timeout_ms = 100;
		now = uapi_clock_ms();
		CHECKF(pair_sends(&p, partial[i]) == UAPI_CONN_WAIT_READ, "partial %zu", i);
		at = uapi_server_next_deadline(&srv);
		CHECKF(at >= now + 100 && at <= uapi_clock_ms() + 100, "partial %zu", i);
		CHECK(uapi_server_expire(&srv, at) == &p.conn);
		CHECK(uapi_conn_pending(&p.conn) == 0);
		CHECK(pair_handle(&p) == UAPI_CONN_CLOSE);
		CHECK(pair_recv(&p) && p.reply_len == 0 && p.fake.sets == 0);
		pair_close(&p);
	}
	CHECK(srv.n_conns == 0 && srv.conns == NULL);
}

/* Test the bound on pending replies: a reply larger than the bound goes
 * out when it is alone; while it is pending, a get on another connection
 * is answered -ENOMEM (and that connection stays); once it is sent, gets
 * are answered again; every byte is accounted back. */
static void test_uapi_pending_max(void)
{
	struct uapi_buf big = { 0 };
	struct uapi_server srv;
	struct pair a, b;
	size_t total = 0;
	char want[8192];

	uapi_server_init(&srv);
	srv.pending_max = 1u << 20;
	pair_open(&a);
	pair_open(&b);
	uapi_server_add(&srv, &a.conn);
	uapi_server_add(&srv, &b.conn);
	a.fake.get_bytes = 2u << 20;
	CHECK(pair_sends(&a, "get=1\n\n") == UAPI_CONN_WAIT_WRITE);
	CHECK(srv.pending > srv.pending_max);
	CHECK(pair_sends(&b, "get=1\n\n") == UAPI_CONN_WAIT_READ);
	CHECK_REPLY(&b, "errno=-12\n\n");
	CHECK(srv.refused_gets == 1 && b.fake.gets == 1);
	/* a set (a short reply) is not refused */
	CHECK(pair_sends(&b, "set=1\nfwmark=1\n\n") == UAPI_CONN_WAIT_READ);
	CHECK_REPLY(&b, "errno=0\n\n");
	while (a.open && uapi_conn_pending(&a.conn)) {
		client_read(a.client, &total);
		pair_handle(&a);
	}
	client_read(a.client, &total);
	expected_get(2u << 20, &big);
	CHECKF(a.open && total == big.len, "got %zu of %zu", total, big.len);
	uapi_buf_free(&big);
	CHECK(srv.pending == 0);
	snprintf(want, sizeof(want), "%serrno=0\n\n", sample_get);
	CHECK(pair_sends(&b, "get=1\n\n") == UAPI_CONN_WAIT_READ);
	CHECK_REPLY(&b, want);
	CHECK(srv.pending == 0 && srv.refused_gets == 1);
	pair_close(&a);
	pair_close(&b);
	CHECK(srv.n_conns == 0 && srv.pending == 0);
}

/* Sends len bytes as the client a socket buffer at a time, letting the
 * server read in between; returns on_event's last result (0: closed). */
static int pair_feed(struct pair *p, const char *in, size_t len, size_t *max_input)
{
	int r = UAPI_CONN_WAIT_READ;

	while (p->open) {
		ssize_t n = len ? send(p->client, in, len, MSG_NOSIGNAL | MSG_DONTWAIT) : 0;

		if (n > 0) {
			in += n;
			len -= (size_t)n;
		}
		r = pair_handle(p);
		if (max_input && p->conn.server && p->conn.server->input > *max_input)
			*max_input = p->conn.server->input;
		if (!len && r != UAPI_CONN_WAIT_WRITE)
			break;
		if (n <= 0 && r == UAPI_CONN_WAIT_WRITE)
			pair_recv(p);
	}
	return p->open ? r : 0;
}

/* Test the bound on input over all connections: a transaction that would
 * take it past input_max is answered -ENOMEM and closed, its buffer freed,
 * while the others go on; a connection gives back a large buffer once its
 * transaction is handled. */
static void test_uapi_input_max(void)
{
	const size_t big = 900u << 10, huge = 1536u << 10;
	char *lines = malloc(huge);
	struct uapi_server srv;
	size_t i, max_input = 0;
	struct pair a, b, c;

	if (!CHECK(lines))
		return;
	for (i = 0; i + 9 <= huge; i += 9)
		memcpy(lines + i, "fwmark=1\n", 9);
	uapi_server_init(&srv);
	CHECK(srv.input_max == UAPI_INPUT_MAX);
	srv.input_max = 2u << 20;
	pair_open(&a);
	pair_open(&b);
	pair_open(&c);
	uapi_server_add(&srv, &a.conn);
	uapi_server_add(&srv, &b.conn);
	uapi_server_add(&srv, &c.conn);
	CHECK(pair_sends(&a, "set=1\n") == UAPI_CONN_WAIT_READ);
	CHECK(pair_feed(&a, lines, big, &max_input) == UAPI_CONN_WAIT_READ);
	CHECK(srv.input >= big && srv.input == a.conn.cap + b.conn.cap + c.conn.cap);
	/* b: refused once a and b together would pass the bound */
	CHECK(pair_sends(&b, "set=1\n") == UAPI_CONN_WAIT_READ);
	CHECK(pair_feed(&b, lines, huge - 9, &max_input) == 0);
	CHECK_REPLY(&b, "errno=-12\n\n");
	CHECK(srv.refused_inputs == 1 && b.fake.sets == 0);
	CHECKF(max_input <= srv.input_max, "input %zu", max_input);
	CHECK(srv.n_conns == 2 && srv.input == a.conn.cap + c.conn.cap);
	/* a small request still goes through meanwhile */
	CHECK(pair_sends(&c, "set=1\nfwmark=2\n\n") == UAPI_CONN_WAIT_READ);
	CHECK_REPLY(&c, "errno=0\n\n");
	/* a completes; its large buffer is given back */
	CHECK(pair_sends(&a, "\n") == UAPI_CONN_WAIT_READ);
	CHECK_REPLY(&a, "errno=0\n\n");
	CHECK(a.fake.sets == 1 && a.conn.cap <= (128u << 10) &&
	      srv.input == a.conn.cap + c.conn.cap);
	/* and then c may buffer as much as a did */
	CHECK(pair_sends(&c, "set=1\n") == UAPI_CONN_WAIT_READ);
	CHECK(pair_feed(&c, lines, big, NULL) == UAPI_CONN_WAIT_READ);
	CHECK(pair_sends(&c, "\n") == UAPI_CONN_WAIT_READ);
	CHECK_REPLY(&c, "errno=0\n\n");
	CHECK(c.fake.sets == 2 && srv.refused_inputs == 1);
	pair_close(&a);
	pair_close(&b);
	pair_close(&c);
	CHECK(srv.n_conns == 0 && srv.input == 0 && srv.pending == 0);
	free(lines);
}

/* ------------------------------------------------------------------ */
/* A device's get reply built in pieces                                */

static int dev_ops_set(void *ctx, const struct uapi_set *set)
{
	return device_config_set(ctx, set);
}

static int dev_ops_get(void *ctx, struct uapi_buf *out)
{
	return device_config_get(ctx, out);
}

static int dev_ops_get_piece(void *ctx, void **pos, struct uapi_buf *out)
{
	return device_config_get_piece(ctx, pos, out);
}

static uint64_t dev_ops_generation(void *ctx)
{
	return ((struct wg_device *)ctx)->config_generation;
}

struct pieced {
	char *data;          /* the reply as the client read it */
	size_t len;
	unsigned int calls;  /* on_event calls until it was whole */
	double max_call_s;   /* the longest of them, in CPU time */
};

/* This thread's CPU time: what the daemon's loop spends, whatever else
 * the (shared) machine runs meanwhile. */
static double cpu_seconds_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Asks dev for get over a connection with the pieced ops and reads the
 * reply; between on_event calls, between(ctx, call number) runs (a
 * concurrent set). */
static void get_pieced(struct wg_device *dev, struct pieced *out,
		       void (*between)(struct wg_device *dev, unsigned int call))
{
	struct pair p;
	size_t cap = 1 << 16;
	int r;

	memset(out, 0, sizeof(*out));
	out->data = malloc(cap);
	pair_open(&p);
	p.ops = (struct uapi_ops){ .set = dev_ops_set, .get = dev_ops_get,
				   .get_piece = dev_ops_get_piece,
				   .generation = dev_ops_generation, .ctx = dev };
	if (send(p.client, "get=1\n\n", 7, 0) != 7)
		abort();
	do {
		double t0 = cpu_seconds_now(), dt;
		ssize_t n;

		r = pair_handle(&p);
		dt = cpu_seconds_now() - t0;
		out->calls++;
		if (dt > out->max_call_s)
			out->max_call_s = dt;
		for (;;) {
			if (cap - out->len < 4096) {
				cap *= 2;
				out->data = realloc(out->data, cap);
				if (!out->data)
					abort();
			}
			n = recv(p.client, out->data + out->len, cap - out->len, MSG_DONTWAIT);
			if (n <= 0)
				break;
			out->len += (size_t)n;
		}
		if (between && r == UAPI_CONN_WAIT_WRITE)
			between(dev, out->calls);
	} while (r == UAPI_CONN_WAIT_WRITE && out->calls < 1000000);
	out->data[out->len] = '\0';
	pair_close(&p);
}

/* A random configuration of n peers: keys, endpoints of both families,
 * keepalives, preshared keys, 0-3 allowed IPs each (some moved between
 * peers), as a set transaction (caller frees). */
static char *random_config(size_t n)
{
	char *t = NULL;
	size_t len = 0, i, j;

	str_addf(&t, &len, "listen_port=0\n");
	for (i = 0; i < n; i++) {
		uint8_t key[32];
		char hex[65];

		test_rand_bytes(key, 32);
		key_hex(hex, key);
		str_addf(&t, &len, "public_key=%s\n", hex);
		if (test_rand() % 2) {
			test_rand_bytes(key, 32);
			key_hex(hex, key);
			str_addf(&t, &len, "preshared_key=%s\n", hex);
		}
		switch (test_rand() % 3) {
		case 0:
			str_addf(&t, &len, "endpoint=192.0.2.%u:%u\n",
				 (unsigned int)(test_rand() % 256),
				 (unsigned int)(test_rand() % 65536));
			break;
		case 1:
			str_addf(&t, &len, "endpoint=[2001:db8::%x]:%u\n",
				 (unsigned int)(test_rand() % 65536),
				 (unsigned int)(test_rand() % 65536));
			break;
		}
		if (test_rand() % 4 == 0)
			str_addf(&t, &len, "persistent_keepalive_interval=%u\n",
				 (unsigned int)(test_rand() % 100));
		for (j = test_rand() % 4; j; j--)
			str_addf(&t, &len, "allowed_ip=10.%u.%u.0/24\n",
				 (unsigned int)(test_rand() % 64), (unsigned int)(test_rand() % 256));
		if (test_rand() % 8 == 0)
			str_addf(&t, &len, "allowed_ip=fd00:%x::/64\n",
				 (unsigned int)(test_rand() % 4096));
	}
	str_addf(&t, &len, "\n");
	return t;
}

/* A set after each of the first calls: each piece built so far is thrown
 * away, until the reply is built in one go. */
static void set_between(struct wg_device *dev, unsigned int call)
{
	char set[128];

	if (call > UAPI_GET_RESTARTS)
		return;
	snprintf(set, sizeof(set), "public_key=%064x\nallowed_ip=10.200.%u.0/24\n\n", call,
		 call % 256);
	dev_apply(dev, set);
}

/* One set, after the second call. */
static void set_once(struct wg_device *dev, unsigned int call)
{
	if (call == 2)
		set_between(dev, call);
}

/* Test that a get reply built in pieces is the one-shot reply byte for
 * byte, for random configurations from none to thousands of peers; that a
 * set between two pieces restarts it (the reply is the configuration after
 * the set, never a mix), and that sets between every piece cannot starve
 * it. And how long the event loop is held: one-shot versus the longest
 * piece, for 20,000 peers. */
static void test_uapi_get_pieces(void)
{
	static const size_t sizes[] = { 0, 1, 255, 256, 257, 700, 3000 };
	struct wg_device dev;
	struct pieced got;
	size_t i;

	log_set_level(LOG_LEVEL_SILENT);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *cfg = random_config(sizes[i]), *want, *w;

		CHECK(device_init(&dev, "piece0", 1) == 0);
		CHECK(dev_apply(&dev, cfg) == 0);
		w = dev_get(&dev);
		want = malloc(strlen(w) + 16);
		sprintf(want, "%serrno=0\n\n", w);
		get_pieced(&dev, &got, NULL);
		CHECKF(!strcmp(got.data, want), "%zu peers: pieced reply differs (%zu vs %zu bytes)",
		       sizes[i], got.len, strlen(want));
		CHECKF(got.calls >= (sizes[i] + DEVICE_GET_PIECE_PEERS - 1) / DEVICE_GET_PIECE_PEERS,
		       "%zu peers in %u calls", sizes[i], got.calls);
		free(got.data);

		/* a set between two pieces: the reply is the new one */
		if (sizes[i] > 2 * DEVICE_GET_PIECE_PEERS) {
			char *after;

			get_pieced(&dev, &got, set_once);
			after = dev_get(&dev);
			CHECK(strcmp(after, w) != 0);
			free(want);
			want = malloc(strlen(after) + 16);
			sprintf(want, "%serrno=0\n\n", after);
			CHECKF(!strcmp(got.data, want), "%zu peers, a set between pieces: the "
			       "reply is not the configuration after it", sizes[i]);
			free(got.data);
			/* sets between every piece: built in one go in the end */
			get_pieced(&dev, &got, set_between);
			free(after);
			after = dev_get(&dev);
			CHECKF(got.len > strlen(after) && !strncmp(got.data, after, strlen(after)) &&
			       !strcmp(got.data + strlen(after), "errno=0\n\n"),
			       "%zu peers, sets between the first pieces: %u calls", sizes[i],
			       got.calls);
			free(got.data);
			free(after);
		}
		free(w);
		free(want);
		free(cfg);
		device_uninit(&dev);
		udp_socks_close(&dev.udp);
	}

	/* 20,000 peers: the longest hold of the event loop */
	{
		char *cfg = random_config(20000);
		struct uapi_buf b = { 0 };
		double t0, whole = 1e9;
		int k;

		CHECK(device_init(&dev, "piece1", 1) == 0);
		CHECK(dev_apply(&dev, cfg) == 0);
		for (k = 0; k < 3; k++) {
			t0 = cpu_seconds_now();
			device_config_get(&dev, &b);
			if (cpu_seconds_now() - t0 < whole)
				whole = cpu_seconds_now() - t0;
			uapi_buf_free(&b);
		}
		get_pieced(&dev, &got, NULL);
		printf("    get of 20000 peers (%zu bytes): one go holds the loop %.1f ms (CPU); "
		       "in pieces, %u calls, the longest %.2f ms\n", got.len, whole * 1e3,
		       got.calls, got.max_call_s * 1e3);
		CHECKF(got.max_call_s < whole / 4, "longest piece %.2f ms, one go %.2f ms",
		       got.max_call_s * 1e3, whole * 1e3);
		free(got.data);
		free(cfg);
		device_uninit(&dev);
		udp_socks_close(&dev.udp);
	}
	log_set_level(LOG_LEVEL_INFO);
}

/* Test UAPI_CONNS_MAX connections that all ask and none reads: each side
 * is left at once, the server is full, and every reply then arrives whole;
 * the accounting returns to zero. */
static void test_uapi_many_conns(void)
{
	const size_t n = UAPI_CONNS_MAX, bytes = 512 * 1024;
	struct pair *pairs = calloc(n, sizeof(*pairs));
	struct uapi_buf want = { 0 };
	struct uapi_server srv;
	size_t i, done = 0;
	char *got = malloc(bytes + 4096);
	bool ok = true;

	if (!CHECK(pairs && got))
		goto out;
	expected_get(bytes, &want);
	uapi_server_init(&srv);
	for (i = 0; i < n; i++) {
		pair_open(&pairs[i]);
		uapi_server_add(&srv, &pairs[i].conn);
		CHECK(!uapi_server_is_full(&srv) == (i + 1 < n));
		pairs[i].fake.get_bytes = bytes;
		ok &= pair_sends(&pairs[i], "get=1\n\n") == UAPI_CONN_WAIT_WRITE;
	}
	CHECK(ok);
	CHECK(uapi_server_is_full(&srv) && srv.n_conns == n);
	CHECKF(srv.pending > n * bytes / 2, "pending %zu", srv.pending);
	/* Read them round-robin, a little at a time. */
	for (i = 0; done < n; i = (i + 1) % n) {
		struct pair *p = &pairs[i];
		size_t len = (size_t)(p->reply_len);
		ssize_t r;

		if (p->reply_len == (size_t)-1)
			continue;
		r = recv(p->client, got, 65536, MSG_DONTWAIT);
		if (r > 0) {
			/* compare in place of keeping every reply */
			ok &= len + (size_t)r <= want.len &&
			      !memcmp(got, want.data + len, (size_t)r);
			p->reply_len += (size_t)r;
		}
		pair_handle(p);
		if (p->reply_len == want.len) {
			ok &= uapi_conn_pending(&p->conn) == 0;
			pair_close(p);
			p->reply_len = (size_t)-1;
			done++;
		}
	}
	CHECK(ok);
	CHECK(srv.n_conns == 0 && srv.pending == 0 && srv.conns == NULL);
	uapi_buf_free(&want);
out:
	free(got);
	free(pairs);
}

/* ------------------------------------------------------------------ */
/* The listening socket                                                */

static void sun_set_path(struct sockaddr_un *sun, const char *path)
{
	size_t n = strlen(path);

	if (n >= sizeof(sun->sun_path))
		abort();
	memcpy(sun->sun_path, path, n + 1);
}

static void test_uapi_listen(void)
{
	char base[] = "/tmp/xwg-uapi-XXXXXX";
	char dir[64], path[128], other[128], longname[200];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old_umask = umask(022);
	int fd, fd2, client, conn_fd, stale;
	struct pair p;

	if (!CHECK(mkdtemp(base))) {
		umask(old_umask);
		return;
	}
	snprintf(dir, sizeof(dir), "%s/run/wireguard", base);

	/* Test that the missing directories are made 0755 and the socket is
	 * srwx------, non-blocking and close-on-exec. */
	fd = uapi_listen(dir, "wgt0", path, sizeof(path));
	CHECK(fd >= 0);
	snprintf(other, sizeof(other), "%s/wgt0.sock", dir);
	CHECK(!strcmp(path, other));
	CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	      (st.st_mode & 07777) == 0755);
	CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	      (st.st_mode & 07777) == 0700);
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CHECK(umask(022) == 022);  /* restored */
	CHECK(uapi_accept(fd) == -EAGAIN);

	/* Test that it serves: connect, accept, get. */
	client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sun_set_path(&sun, path);
	CHECK(connect(client, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	conn_fd = uapi_accept(fd);
	CHECK(conn_fd >= 0 && (fcntl(conn_fd, F_GETFL) & O_NONBLOCK) &&
	      (fcntl(conn_fd, F_GETFD) & FD_CLOEXEC));
	memset(&p, 0, sizeof(p));
	uapi_conn_init(&p.conn, conn_fd);
	p.client = client;
	p.open = true;
	p.ops = (struct uapi_ops){ .set = fake_set, .get = fake_get,
				   .ctx = &p.fake };
	CHECK(pair_sends(&p, "get=1\n\n") == 1);
	pair_recv(&p);
	CHECK(p.reply_len == strlen(sample_get) + 9);
	pair_close(&p);

	/* Test that a live socket is not taken over. The probe connection
	 * (wireguard-go dials too) reaches the listener as an immediate
	 * EOF, which a connection handles by closing. */
	CHECK(uapi_listen(dir, "wgt0", NULL, 0) == -EADDRINUSE);
	conn_fd = uapi_accept(fd);
	CHECK(conn_fd >= 0);
	uapi_conn_init(&p.conn, conn_fd);
	CHECK(uapi_conn_on_readable(&p.conn, NULL) == 0);
	uapi_conn_close(&p.conn);

	/* Test that unlisten removes the socket file. */
	uapi_unlisten(fd, path);
	CHECK(stat(path, &st) < 0 && errno == ENOENT);

	/* Test that a stale socket (its listener gone) is replaced. */
	snprintf(other, sizeof(other), "%s/wgt1.sock", dir);
	sun_set_path(&sun, other);
	stale = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(bind(stale, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	close(stale);
	CHECK(stat(other, &st) == 0 && S_ISSOCK(st.st_mode));
	fd = uapi_listen(dir, "wgt1", path, sizeof(path));
	CHECK(fd >= 0);
	client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(connect(client, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	close(client);
	/* ... and a leftover regular file too (os.Remove in wireguard-go) */
	snprintf(other, sizeof(other), "%s/wgt2.sock", dir);
	close(open(other, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	fd2 = uapi_listen(dir, "wgt2", NULL, 0);
	CHECK(fd2 >= 0);
	CHECK(stat(other, &st) == 0 && S_ISSOCK(st.st_mode));
	uapi_unlisten(fd2, other);
	uapi_unlisten(fd, path);

	/* Test the errors: a path too long for sun_path, a file as dir. */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(uapi_listen(dir, longname, NULL, 0) == -ENAMETOOLONG);
	CHECK(uapi_listen(dir, "wgt3", path, 4) == -ENAMETOOLONG);
	snprintf(other, sizeof(other), "%s/file", base);
	close(open(other, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	CHECK(uapi_listen(other, "wgt4", NULL, 0) == -ENOTDIR);
	unlink(other);

	rmdir(dir);
	snprintf(other, sizeof(other), "%s/run", base);
	rmdir(other);
	CHECK(rmdir(base) == 0);
	umask(old_umask);
}

/* Endpoints as wireguard-go writes them (netip.AddrPort.String). */
static void test_addr_format(void)
{
	static const struct {
		int family;
		const char *addr;      /* inet_pton text */
		uint16_t port;
		uint32_t scope;
		const char *want;
	} cases[] = {
		{ AF_INET, "192.0.2.1", 51820, 0, "192.0.2.1:51820" },
		{ AF_INET, "0.0.0.0", 0, 0, "0.0.0.0:0" },
		{ AF_INET6, "2001:db8::1", 51820, 0, "[2001:db8::1]:51820" },
		{ AF_INET6, "::1", 1, 0, "[::1]:1" },
		{ AF_INET6, "::", 65535, 0, "[::]:65535" },
		{ AF_INET6, "::ffff:192.0.2.7", 9, 0, "[::ffff:192.0.2.7]:9" },
		{ AF_INET6, "::192.0.2.7", 9, 0, "[::c000:207]:9" },
		{ AF_INET6, "2001:db8:0:0:1:0:0:1", 7, 0, "[2001:db8::1:0:0:1]:7" },
		{ AF_INET6, "2001:0:0:1:0:0:0:1", 7, 0, "[2001:0:0:1::1]:7" },
		{ AF_INET6, "fe80::1", 7, 1, "[fe80::1%lo]:7" },
		{ AF_INET6, "fe80::1", 7, 4000000, "[fe80::1%4000000]:7" },
	};
	struct sockaddr_storage ss;
	char out[96];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&ss, 0, sizeof(ss));
		if (cases[i].family == AF_INET) {
			struct sockaddr_in *in4 = (void *)&ss;

			in4->sin_family = AF_INET;
			in4->sin_port = htons(cases[i].port);
			inet_pton(AF_INET, cases[i].addr, &in4->sin_addr);
		} else {
			struct sockaddr_in6 *in6 = (void *)&ss;

			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons(cases[i].port);
			in6->sin6_scope_id = cases[i].scope;
			inet_pton(AF_INET6, cases[i].addr, &in6->sin6_addr);
		}
		CHECKF(addr_format_endpoint(out, sizeof(out), (struct sockaddr *)&ss) &&
		       !strcmp(out, cases[i].want), "case %zu: %s, want %s", i, out, cases[i].want);
	}
	ss.ss_family = AF_UNIX;
	CHECK(!addr_format_endpoint(out, sizeof(out), (struct sockaddr *)&ss) && !out[0]);
}

void test_uapi(void)
{
	test_addr_format();
	test_uapi_valid();
	test_uapi_invalid();
	test_uapi_transactional();
	test_uapi_all_or_nothing();
	test_uapi_format();
	test_uapi_conn();
	test_uapi_big_set();
	test_uapi_slow_reader();
	test_uapi_deadlines();
	test_uapi_pending_max();
	test_uapi_input_max();
	test_uapi_get_pieces();
	test_uapi_many_conns();
	test_uapi_too_big();
	test_uapi_listen();
}
