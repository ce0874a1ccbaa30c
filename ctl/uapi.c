// SPDX-License-Identifier: GPL-2.0
/*
 * The configuration socket (see uapi.h). What wireguard-go does, and so what
 * this file reproduces, comes from wireguard-go's device/uapi.go (IpcHandle,
 * IpcSetOperation, handleDeviceLine, handlePeerLine), ipc/uapi_unix.go (the
 * errno values and socket creation), and Go's net/netip and strconv, whose
 * parsers wireguard-go runs on values (ParsePrefix, ParseAddrPort,
 * ParseUint).
 */
#include "uapi.h"

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "base/addr.h"

/* ------------------------------------------------------------------ */
/* Memory that may hold keys                                           */

/* Like realloc, but the whole old block (old_size bytes) is wiped before
 * it is freed, so no copy of a key is left behind in freed memory. */
static void *grow_wiped(void *old, size_t used, size_t old_size,
			size_t new_size)
{
	void *p = malloc(new_size);

	if (!p)
		return NULL;
	if (old) {
		memcpy(p, old, used);
		sodium_memzero(old, old_size);
		free(old);
	}
	return p;
}

/* ------------------------------------------------------------------ */
/* Values, parsed exactly as wireguard-go's Go library calls do        */

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* loadExactHex: hex.DecodeString (either case) of exactly 32 bytes. */
static bool parse_key(const char *v, size_t n, uint8_t out[32])
{
	size_t i;

	if (n != 64)
		return false;
	for (i = 0; i < 32; i++) {
		int hi = hex_nibble(v[2 * i]), lo = hex_nibble(v[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			sodium_memzero(out, 32);
			return false;
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool key_is_zero(const uint8_t key[32])
{
	return sodium_is_zero(key, 32);
}

/* strconv.ParseUint(v, 10, bits): one or more ASCII digits (no sign, no
 * underscores; leading zeros are fine) with a value <= max. */
static bool parse_uint(const char *v, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t val = 0;
	size_t i;

	if (!n)
		return false;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		val = val * 10 + (uint64_t)(v[i] - '0');
		if (val > max)
			return false;
	}
	*out = val;
	return true;
}

/* Flags must be exactly "true": "false" is an error, not a no-op. */
static bool is_true(const char *v, size_t n)
{
	return n == 4 && !memcmp(v, "true", 4);
}

struct ip_parsed {
	int family;
	uint8_t addr[16];
	const char *zone;  /* IPv6 "%zone", pointing into the input */
	size_t zone_len;
};

/* netip's IPv4 parser: exactly four dot-separated decimal fields, each
 * 0-255, no leading zeros, no empty field. */
static bool parse_ipv4_fields(const char *s, size_t n, uint8_t out[4])
{
	unsigned int val = 0, digits = 0, pos = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			if (digits == 1 && val == 0)
				return false;
			val = val * 10 + (unsigned int)(s[i] - '0');
			digits++;
			if (val > 255)
				return false;
		} else if (s[i] == '.') {
			if (i == 0 || i == n - 1 || s[i - 1] == '.' || pos == 3)
				return false;
			out[pos++] = (uint8_t)val;
			val = 0;
			digits = 0;
		} else {
			return false;
		}
	}
	if (pos < 3)
		return false;
	out[3] = (uint8_t)val;
	return true;
}

/* netip's IPv6 parser: groups of 1-4 hex digits, at most one "::" that
 * stands for at least one zero group, an optional embedded IPv4 address in
 * the last 32 bits, and an optional non-empty "%zone" (any bytes). */
static bool parse_ipv6(const char *s, size_t n, struct ip_parsed *ip)
{
	const char *pct = memchr(s, '%', n);
	uint8_t *a = ip->addr;
	int ellipsis = -1;
	size_t i = 0;

	ip->family = AF_INET6;
	ip->zone = NULL;
	ip->zone_len = 0;
	memset(a, 0, 16);
	if (pct) {
		ip->zone = pct + 1;
		ip->zone_len = n - (size_t)(pct + 1 - s);
		if (!ip->zone_len)
			return false;
		n = (size_t)(pct - s);
	}
	if (n >= 2 && s[0] == ':' && s[1] == ':') {
		ellipsis = 0;
		s += 2;
		n -= 2;
		if (!n)
			return true;
	}
	while (i < 16) {
		unsigned int acc = 0;
		size_t off;

		for (off = 0; off < n; off++) {
			int d = hex_nibble(s[off]);

			if (d < 0)
				break;
			if (off > 3)
				return false;
			acc = acc << 4 | (unsigned int)d;
		}
		if (!off)
			return false;
		if (off < n && s[off] == '.') {
			if ((ellipsis < 0 && i != 12) || i + 4 > 16)
				return false;
			if (!parse_ipv4_fields(s, n, a + i))
				return false;
			n = 0;
			i += 4;
			break;
		}
		a[i] = (uint8_t)(acc >> 8);
		a[i + 1] = (uint8_t)acc;
		i += 2;
		s += off;
		n -= off;
		if (!n)
			break;
		if (s[0] != ':' || n == 1)
			return false;
		s++;
		n--;
		if (s[0] == ':') {
			if (ellipsis >= 0)
				return false;
			ellipsis = (int)i;
			s++;
			n--;
			if (!n)
				break;
		}
	}
	if (n)
		return false;
	if (i < 16) {
		size_t gap = 16 - i;

		if (ellipsis < 0)
			return false;
		memmove(a + ellipsis + gap, a + ellipsis, i - (size_t)ellipsis);
		memset(a + ellipsis, 0, gap);
	} else if (ellipsis >= 0) {
		return false;
	}
	return true;
}

/* netip.ParseAddr: the first '.', ':' or '%' decides the family. */
static bool parse_addr(const char *s, size_t n, struct ip_parsed *ip)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			ip->family = AF_INET;
			ip->zone = NULL;
			ip->zone_len = 0;
			memset(ip->addr, 0, sizeof(ip->addr));
			return parse_ipv4_fields(s, n, ip->addr);
		}
		if (s[i] == ':')
			return parse_ipv6(s, n, ip);
		if (s[i] == '%')
			return false;
	}
	return false;
}

static void mask_host_bits(uint8_t *addr, size_t len, unsigned int cidr)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned int keep = cidr >= 8 * (i + 1) ? 8 :
				    cidr > 8 * i ? cidr - 8 * (unsigned int)i : 0;

		addr[i] &= (uint8_t)(0xff00 >> keep);
	}
}

/* netip.ParsePrefix: ADDR/BITS split at the last '/', no zone, BITS plain
 * decimal without sign or leading zero, at most 32 or 128. */
static bool parse_prefix(const char *s, size_t n, struct uapi_allowed_ip *out)
{
	const char *slash = memrchr(s, '/', n);
	const char *bits;
	struct ip_parsed ip;
	size_t blen;
	uint64_t cidr;

	if (!slash || !parse_addr(s, (size_t)(slash - s), &ip) || ip.zone)
		return false;
	bits = slash + 1;
	blen = n - (size_t)(bits - s);
	if (blen > 1 && (bits[0] < '1' || bits[0] > '9'))
		return false;
	if (!parse_uint(bits, blen, ip.family == AF_INET ? 32 : 128, &cidr))
		return false;
	out->family = (uint8_t)ip.family;
	out->cidr = (uint8_t)cidr;
	memcpy(out->addr, ip.addr, sizeof(out->addr));
	mask_host_bits(out->addr, ip.family == AF_INET ? 4 : 16,
		       (unsigned int)cidr);
	return true;
}

/* A zone names an interface; Go's fallback for an unknown name is the
 * value of its leading digits (capped at 0xffffff), else 0. */
static uint32_t zone_scope_id(const char *z, size_t n)
{
	char name[IF_NAMESIZE];
	uint32_t val = 0;
	size_t i;

	if (n < sizeof(name) && !memchr(z, '\0', n)) {
		unsigned int idx;

		memcpy(name, z, n);
		name[n] = '\0';
		idx = if_nametoindex(name);
		if (idx)
			return idx;
	}
	for (i = 0; i < n && z[i] >= '0' && z[i] <= '9'; i++) {
		val = val * 10 + (uint32_t)(z[i] - '0');
		if (val >= 0xffffff)
			return 0xffffff;
	}
	return val;
}

/* netip.ParseAddrPort (what wireguard-go's StdNetBind.ParseEndpoint runs):
 * split at the last ':', the port plain decimal <= 65535 (leading zeros
 * allowed, 0 allowed), IPv6 only and always in brackets. wg(8) resolves
 * host names itself, so only numeric addresses arrive here. */
static bool parse_endpoint(const char *s, size_t n, struct uapi_peer *peer)
{
	const char *colon = memrchr(s, ':', n);
	const char *host = s;
	size_t hlen, plen;
	struct ip_parsed ip;
	bool bracketed = false;
	uint64_t port;

	if (!colon)
		return false;
	hlen = (size_t)(colon - s);
	plen = n - hlen - 1;
	if (!hlen || !plen)
		return false;
	if (host[0] == '[') {
		if (hlen < 2 || host[hlen - 1] != ']')
			return false;
		host++;
		hlen -= 2;
		bracketed = true;
	}
	if (!parse_uint(colon + 1, plen, 65535, &port) ||
	    !parse_addr(host, hlen, &ip) ||
	    bracketed != (ip.family == AF_INET6))
		return false;
	memset(&peer->endpoint, 0, sizeof(peer->endpoint));
	if (ip.family == AF_INET) {
		peer->endpoint.in4.sin_family = AF_INET;
		peer->endpoint.in4.sin_port = htons((uint16_t)port);
		memcpy(&peer->endpoint.in4.sin_addr, ip.addr, 4);
	} else {
		peer->endpoint.in6.sin6_family = AF_INET6;
		peer->endpoint.in6.sin6_port = htons((uint16_t)port);
		memcpy(&peer->endpoint.in6.sin6_addr, ip.addr, 16);
		if (ip.zone)
			peer->endpoint.in6.sin6_scope_id =
				zone_scope_id(ip.zone, ip.zone_len);
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* The set transaction                                                 */

struct set_parser {
	struct uapi_set *set;
	bool in_peers;          /* a public_key line has been seen */
	bool ignoring;          /* after remove=true: check values only */
	bool update_only;       /* the section has had update_only=true */
	size_t section_first;   /* the section's first entry */
	uint8_t public_key[32]; /* the section's peer */
};

static struct uapi_peer *peer_append(struct set_parser *p)
{
	struct uapi_set *set = p->set;
	struct uapi_peer *peer;

	if (set->n_peers == set->cap_peers) {
		size_t cap = set->cap_peers ? 2 * set->cap_peers : 8;
		struct uapi_peer *peers;

		if (cap > SIZE_MAX / sizeof(*peers))
			return NULL;
		/* Entries carry preshared keys: wipe the old block. */
		peers = grow_wiped(set->peers, set->n_peers * sizeof(*peers),
				   set->cap_peers * sizeof(*peers),
				   cap * sizeof(*peers));
		if (!peers)
			return NULL;
		set->peers = peers;
		set->cap_peers = cap;
	}
	peer = &set->peers[set->n_peers++];
	memset(peer, 0, sizeof(*peer));
	memcpy(peer->public_key, p->public_key, 32);
	peer->update_only = p->update_only;
	return peer;
}

static bool peer_has_settings(const struct uapi_peer *peer)
{
	return peer->has_preshared_key || peer->has_endpoint ||
	       peer->has_persistent_keepalive_interval ||
	       peer->replace_allowed_ips || peer->n_allowed_ips;
}

static int allowed_ip_append(struct uapi_peer *peer,
			     const struct uapi_allowed_ip *aip)
{
	if (peer->n_allowed_ips == peer->cap_allowed_ips) {
		size_t cap = peer->cap_allowed_ips ?
			     2 * peer->cap_allowed_ips : 4;
		struct uapi_allowed_ip *a;

		if (cap > SIZE_MAX / sizeof(*a))
			return -ENOMEM;
		a = realloc(peer->allowed_ips, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		peer->allowed_ips = a;
		peer->cap_allowed_ips = cap;
	}
	peer->allowed_ips[peer->n_allowed_ips++] = *aip;
	return 0;
}

#define KEY_IS(lit) (klen == sizeof(lit) - 1 && !memcmp(key, lit, klen))

/* handleDeviceLine: every failure is -EINVAL. */
static int parse_device_line(struct set_parser *p, const char *key,
			     size_t klen, const char *v, size_t vlen)
{
	struct uapi_set *set = p->set;
	uint64_t num;

	if (KEY_IS("private_key")) {
		/* FromMaybeZeroHex: zero clears the key; anything else is
		 * stored clamped. */
		if (!parse_key(v, vlen, set->private_key))
			return -EINVAL;
		if (!key_is_zero(set->private_key)) {
			set->private_key[0] &= 248;
			set->private_key[31] = (set->private_key[31] & 127) | 64;
		}
		set->has_private_key = true;
	} else if (KEY_IS("listen_port")) {
		if (!parse_uint(v, vlen, UINT16_MAX, &num))
			return -EINVAL;
		set->listen_port = (uint16_t)num;
		set->has_listen_port = true;
	} else if (KEY_IS("fwmark")) {
		if (!parse_uint(v, vlen, UINT32_MAX, &num))
			return -EINVAL;
		set->fwmark = (uint32_t)num;
		set->has_fwmark = true;
	} else if (KEY_IS("replace_peers")) {
		if (!is_true(v, vlen))
			return -EINVAL;
		set->replace_peers = true;
	} else {
		return -EINVAL;
	}
	return 0;
}

/*
 * handlePeerLine: every failure is -EINVAL. Values are checked even for a
 * peer that remove=true has already turned into wireguard-go's "dummy"
 * placeholder, whose lines have no effect.
 */
static int parse_peer_line(struct set_parser *p, const char *key, size_t klen,
			   const char *v, size_t vlen)
{
	struct uapi_set *set = p->set;
	struct uapi_peer *cur = &set->peers[set->n_peers - 1];
	struct uapi_allowed_ip aip;
	uint8_t psk[32];
	uint64_t num;
	size_t i;

	if (KEY_IS("update_only")) {
		if (!is_true(v, vlen))
			return -EINVAL;
		if (p->ignoring)
			return 0;
		/* wireguard-go deletes a peer that this section created
		 * when it meets update_only, and ignores the section from
		 * there on; for a peer that existed it is a no-op. Marking
		 * every entry of the section gives that result (not the side
		 * effect of earlier allowed_ip lines having taken prefixes
		 * from other peers, which clients never rely on: wgctrl
		 * sends update_only right after public_key). */
		p->update_only = true;
		for (i = p->section_first; i < set->n_peers; i++)
			set->peers[i].update_only = true;
	} else if (KEY_IS("remove")) {
		if (!is_true(v, vlen))
			return -EINVAL;
		if (p->ignoring)
			return 0;
		/* The lines before still take effect first (a new peer is
		 * created, prefixes move), so removal is an entry of its own
		 * unless nothing came before it. */
		if (peer_has_settings(cur)) {
			cur = peer_append(p);
			if (!cur)
				return -ENOMEM;
		}
		cur->remove = true;
		cur->update_only = false;
		p->ignoring = true;
	} else if (KEY_IS("preshared_key")) {
		if (!parse_key(v, vlen, psk))
			return -EINVAL;
		if (!p->ignoring) {
			memcpy(cur->preshared_key, psk, 32);
			cur->has_preshared_key = true;
		}
		sodium_memzero(psk, sizeof(psk));
	} else if (KEY_IS("endpoint")) {
		struct uapi_peer scratch;

		if (!parse_endpoint(v, vlen, &scratch))
			return -EINVAL;
		if (!p->ignoring) {
			cur->endpoint = scratch.endpoint;
			cur->has_endpoint = true;
		}
	} else if (KEY_IS("persistent_keepalive_interval")) {
		if (!parse_uint(v, vlen, UINT16_MAX, &num))
			return -EINVAL;
		if (!p->ignoring) {
			cur->persistent_keepalive_interval = (uint16_t)num;
			cur->has_persistent_keepalive_interval = true;
		}
	} else if (KEY_IS("replace_allowed_ips")) {
		if (!is_true(v, vlen))
			return -EINVAL;
		if (p->ignoring)
			return 0;
		/* Prefixes added before this line are dropped again, but
		 * they were taken from their previous owners first: keep
		 * them in an entry of their own. */
		if (cur->n_allowed_ips) {
			cur = peer_append(p);
			if (!cur)
				return -ENOMEM;
		}
		cur->replace_allowed_ips = true;
	} else if (KEY_IS("allowed_ip")) {
		/* "-CIDR" removes one prefix (wireguard-go since 2025, sent
		 * by wg(8) for "allowed-ips -CIDR"). */
		bool remove = vlen && v[0] == '-';

		if (!parse_prefix(v + remove, vlen - remove, &aip))
			return -EINVAL;
		aip.remove = remove;
		if (!p->ignoring)
			return allowed_ip_append(cur, &aip);
	} else if (KEY_IS("protocol_version")) {
		if (vlen != 1 || v[0] != '1')
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	return 0;
}

static int parse_line(struct set_parser *p, const char *line, size_t len)
{
	const char *eq = memchr(line, '=', len);
	const char *key = line, *v;
	size_t klen, vlen;

	/* strings.Cut found no '=': IpcErrorProtocol. */
	if (!eq)
		return -EPROTO;
	klen = (size_t)(eq - line);
	v = eq + 1;
	vlen = len - klen - 1;

	if (KEY_IS("public_key")) {
		/* Starts the next peer section; device keys end here. */
		if (!parse_key(v, vlen, p->public_key))
			return -EINVAL;
		p->in_peers = true;
		p->ignoring = false;
		p->update_only = false;
		p->section_first = p->set->n_peers;
		return peer_append(p) ? 0 : -ENOMEM;
	}
	if (!p->in_peers)
		return parse_device_line(p, key, klen, v, vlen);
	return parse_peer_line(p, key, klen, v, vlen);
}

#undef KEY_IS

int uapi_set_parse(struct uapi_set *set, const char *text, size_t len)
{
	struct set_parser p = { .set = set };
	size_t pos = 0;
	int ret = 0;

	memset(set, 0, sizeof(*set));
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t raw = nl ? (size_t)(nl - line) : len - pos;

		/* bufio.Scanner's token limit: its error is IpcErrorIO. */
		if (raw > UAPI_LINE_MAX) {
			ret = -EIO;
			break;
		}
		pos += raw + (nl ? 1 : 0);
		/* bufio.ScanLines drops one trailing '\r'. */
		if (raw && line[raw - 1] == '\r')
			raw--;
		if (!raw)
			break;
		ret = parse_line(&p, line, raw);
		if (ret)
			break;
	}
	sodium_memzero(p.public_key, sizeof(p.public_key));
	if (ret)
		uapi_set_free(set);
	return ret;
}

void uapi_set_free(struct uapi_set *set)
{
	size_t i;

	for (i = 0; i < set->n_peers; i++)
		free(set->peers[i].allowed_ips);
	if (set->peers) {
		sodium_memzero(set->peers, set->cap_peers * sizeof(*set->peers));
		free(set->peers);
	}
	sodium_memzero(set, sizeof(*set));
}

/* ------------------------------------------------------------------ */
/* Get replies                                                         */

static bool buf_reserve(struct uapi_buf *b, size_t extra)
{
	size_t need, cap;
	char *data;

	if (b->oom)
		return false;
	if (extra < b->cap - b->len)
		return true;
	if (extra >= SIZE_MAX / 4 - b->len) {
		b->oom = true;
		return false;
	}
	need = b->len + extra + 1;
	cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap *= 2;
	/* The reply holds the private and preshared keys. */
	data = grow_wiped(b->data, b->len, b->cap, cap);
	if (!data) {
		b->oom = true;
		return false;
	}
	b->data = data;
	b->cap = cap;
	return true;
}

void uapi_buf_reserve(struct uapi_buf *b, size_t extra)
{
	buf_reserve(b, extra);
}

static void buf_vprintf(struct uapi_buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	if (!buf_reserve(b, 128))
		return;
	va_copy(aq, ap);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, aq);
	va_end(aq);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		if (!buf_reserve(b, (size_t)n + 1))
			return;
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void uapi_buf_printf(struct uapi_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void uapi_buf_put_hex(struct uapi_buf *b, const char *key,
		      const uint8_t *bytes, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t klen = strlen(key), i;
	char *p;

	if (n > SIZE_MAX / 4 || !buf_reserve(b, klen + 2 * n + 2))
		return;
	p = b->data + b->len;
	memcpy(p, key, klen);
	p += klen;
	*p++ = '=';
	for (i = 0; i < n; i++) {
		*p++ = digits[bytes[i] >> 4];
		*p++ = digits[bytes[i] & 15];
	}
	*p++ = '\n';
	b->len = (size_t)(p - b->data);
}

void uapi_buf_put_endpoint(struct uapi_buf *b, const struct sockaddr *sa)
{
	char ep[96];

	if (addr_format_endpoint(ep, sizeof(ep), sa))
		uapi_buf_printf(b, "endpoint=%s\n", ep);
}

void uapi_buf_put_allowed_ip(struct uapi_buf *b, int family,
			     const void *addr, uint8_t cidr)
{
	char text[80];

	if (family != AF_INET && family != AF_INET6)
		return;
	addr_format(text, sizeof(text), family, addr, 0);
	uapi_buf_printf(b, "allowed_ip=%s/%u\n", text, cidr);
}

void uapi_buf_free(struct uapi_buf *b)
{
	if (b->data) {
		sodium_memzero(b->data, b->cap);
		free(b->data);
	}
	memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */

enum conn_state {
	CONN_OP,      /* waiting for "get=1\n" or "set=1\n" */
	CONN_BAD_OP,  /* an invalid operation line: close at its '\n' */
	CONN_GET,     /* "get=1\n" read, its '\n' still to come */
	CONN_SET,     /* inside a set transaction */
};

#define OP_LEN 6  /* strlen("get=1\n") */
#define READ_CHUNK (64 * 1024)
#define INPUT_MAX ((size_t)UAPI_SET_MAX_BYTES + 2 * READ_CHUNK)

uint64_t uapi_clock_ms(void)
{
	struct timespec ts;

	/* Not platform_now(): tests fake that clock, and this is only about
	 * how long a socket makes no progress. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void uapi_conn_init(struct uapi_conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->state = CONN_OP;
	c->write_timeout_ms = UAPI_WRITE_TIMEOUT_MS;
	c->read_timeout_ms = UAPI_READ_TIMEOUT_MS;
	c->progress_ms = uapi_clock_ms();
}

size_t uapi_conn_pending(const struct uapi_conn *c)
{
	return c->out.len - c->out_sent;
}

/* The server counts what the reply buffers hold (their capacity): call
 * with -1 before changing c->out and +1 after. */
static void out_account(struct uapi_conn *c, int sign)
{
	if (!c->server)
		return;
	if (sign > 0)
		c->server->pending += c->out.cap;
	else
		c->server->pending -= c->out.cap;
}

/* The same for the input buffer (its capacity). */
static void in_account(struct uapi_conn *c, int sign)
{
	if (!c->server)
		return;
	if (sign > 0)
		c->server->input += c->cap;
	else
		c->server->input -= c->cap;
}

/* The input is given up on (the connection closes): wipe and free it. */
static void in_release(struct uapi_conn *c)
{
	in_account(c, -1);
	if (c->buf) {
		sodium_memzero(c->buf, c->cap);
		free(c->buf);
	}
	c->buf = NULL;
	c->start = c->len = c->cap = c->scan = c->line_start = 0;
}

/* The reply is sent (or abandoned): wipe and free it. */
static void out_release(struct uapi_conn *c)
{
	out_account(c, -1);
	uapi_buf_free(&c->out);
	c->out_sent = 0;
}

void uapi_conn_close(struct uapi_conn *c)
{
	struct uapi_server *srv = c->server;

	out_release(c);
	uapi_buf_free(&c->built);
	if (srv) {
		if (c->prev)
			c->prev->next = c->next;
		else
			srv->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		srv->n_conns--;
	}
	in_release(c);
	if (c->fd >= 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Drops n handled bytes from the front of the input, wiping them (set
 * transactions carry keys). */
static void consume(struct uapi_conn *c, size_t n)
{
	sodium_memzero(c->buf + c->start, n);
	c->start += n;
	if (c->start == c->len) {
		c->start = c->len = 0;
		c->scan = c->line_start = 0;
	}
	if (c->scan < c->start)
		c->scan = c->start;
	if (c->line_start < c->start)
		c->line_start = c->start;
}

/* Room for at least one READ_CHUNK: slide pending bytes to the front, then
 * grow geometrically, so buffering stays linear in what arrives. */
static int ensure_space(struct uapi_conn *c)
{
	size_t cap;
	char *buf;

	if (c->cap - c->len >= READ_CHUNK)
		return 0;
	if (c->start) {
		size_t pending = c->len - c->start;

		memmove(c->buf, c->buf + c->start, pending);
		sodium_memzero(c->buf + pending, c->len - pending);
		c->scan -= c->start;
		c->line_start -= c->start;
		c->len = pending;
		c->start = 0;
		if (c->cap - c->len >= READ_CHUNK)
			return 0;
	}
	cap = c->cap ? 2 * c->cap : 2 * READ_CHUNK;
	while (cap - c->len < READ_CHUNK)
		cap *= 2;
	if (cap > INPUT_MAX)
		cap = INPUT_MAX;
	if (cap <= c->cap)  /* at the bound: read what still fits */
		return c->cap > c->len ? 0 : -EMSGSIZE;
	/* The server's bound, past each connection's first buffer. */
	if (c->server && cap > 2 * READ_CHUNK &&
	    (cap - c->cap > c->server->input_max ||
	     c->server->input > c->server->input_max - (cap - c->cap))) {
		c->server->refused_inputs++;
		return -ENOMEM;
	}
	buf = grow_wiped(c->buf, c->len, c->cap, cap);
	if (!buf)
		return -ENOMEM;
	in_account(c, -1);
	c->buf = buf;
	c->cap = cap;
	in_account(c, 1);
	return 0;
}

/* Sends what the reader takes of the pending reply, at most *budget
 * bytes; frees the reply once it is all sent. 0 (EAGAIN included) or
 * -errno. */
static int flush(struct uapi_conn *c, size_t *budget)
{
	while (uapi_conn_pending(c) && *budget) {
		size_t n = uapi_conn_pending(c);
		ssize_t w;

		if (n > *budget)
			n = *budget;
		w = send(c->fd, c->out.data + c->out_sent, n, MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK)
			w = write(c->fd, c->out.data + c->out_sent, n);
		if (w > 0) {
			c->out_sent += (size_t)w;
			*budget -= (size_t)w;
			c->progress_ms = uapi_clock_ms();
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return 0;
		} else {
			return w < 0 ? -errno : -EIO;
		}
	}
	if (c->out.data && !uapi_conn_pending(c))
		out_release(c);
	return 0;
}

/* Appends n bytes to the pending reply. 0 or -ENOMEM. */
static int queue_bytes(struct uapi_conn *c, const char *p, size_t n)
{
	out_account(c, -1);
	if (buf_reserve(&c->out, n)) {
		memcpy(c->out.data + c->out.len, p, n);
		c->out.len += n;
	}
	out_account(c, 1);
	c->progress_ms = uapi_clock_ms();
	return c->out.oom ? -ENOMEM : 0;
}

/* Takes the whole of reply over as the pending reply (no copy when none
 * is pending, which the request/reply order makes the rule). */
static int queue_reply(struct uapi_conn *c, struct uapi_buf *reply)
{
	int ret = 0;

	if (!c->out.len) {
		out_release(c);
		c->out = *reply;
		memset(reply, 0, sizeof(*reply));
		out_account(c, 1);
		c->progress_ms = uapi_clock_ms();
	} else {
		ret = queue_bytes(c, reply->data, reply->len);
		uapi_buf_free(reply);
	}
	return ret;
}

/* Queues "errno=N\n\n". 0, or -ENOMEM when it could not be (close). */
static int reply_errno(struct uapi_conn *c, int err)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "errno=%d\n\n", err);

	return queue_bytes(c, line, (size_t)n);
}

/* Whether a reply buffer of cap bytes would take the replies pending over
 * the server's connections past its bound (see UAPI_PENDING_MAX). */
static bool is_over_pending_max(const struct uapi_conn *c, size_t cap)
{
	const struct uapi_server *srv = c->server;

	return srv && srv->pending && (cap > srv->pending_max ||
				       srv->pending > srv->pending_max - cap);
}

/* Queues the reply out (or the errno ret): 0, or -errno when not even an
 * errno line fits. */
static int get_finish(struct uapi_conn *c, struct uapi_buf *reply, int ret)
{
	struct uapi_buf out = *reply;

	memset(reply, 0, sizeof(*reply));
	if (ret > 0)
		ret = -ret;
	if (!ret)
		uapi_buf_printf(&out, "errno=0\n\n");
	if (!ret && out.oom)
		ret = -ENOMEM;
	if (!ret && is_over_pending_max(c, out.cap)) {
		c->server->refused_gets++;
		ret = -ENOMEM;
	}
	if (ret) {
		uapi_buf_free(&out);
		return reply_errno(c, ret);
	}
	return queue_reply(c, &out);
}

/* The reply in one go. */
static int get_whole(struct uapi_conn *c, const struct uapi_ops *ops)
{
	struct uapi_buf out = { 0 };
	int ret = ops && ops->get ? ops->get(ops->ctx, &out) : 0;

	return get_finish(c, &out, ret);
}

/* One piece of a get reply built in pieces (see uapi_ops.get_piece): 0
 * (c->building tells whether more is to come) or -errno (close). */
static int get_step(struct uapi_conn *c, const struct uapi_ops *ops)
{
	uint64_t gen = ops->generation(ops->ctx);
	int ret;

	if (gen != c->get_generation) {
		/* Nothing was sent: start over on the new configuration. */
		uapi_buf_free(&c->built);
		c->get_pos = NULL;
		c->get_generation = gen;
		c->get_restarts++;
	}
	if (c->get_restarts >= UAPI_GET_RESTARTS) {
		uapi_buf_free(&c->built);
		c->building = false;
		return get_whole(c, ops);
	}
	ret = ops->get_piece(ops->ctx, &c->get_pos, &c->built);
	c->progress_ms = uapi_clock_ms();
	if (ret > 0 && !c->built.oom)
		return 0;
	c->building = false;
	return get_finish(c, &c->built, ret);
}

/* Queues the reply, or starts building it in pieces: 0, or -errno when
 * not even an errno line fits. */
static int handle_get(struct uapi_conn *c, const struct uapi_ops *ops)
{
	if (!ops || !ops->get_piece || !ops->generation)
		return get_whole(c, ops);
	c->building = true;
	c->get_pos = NULL;
	c->get_generation = ops->generation(ops->ctx);
	c->get_restarts = 0;
	return get_step(c, ops);
}

/* The transaction is c->buf[start, end): parse, apply, answer, consume.
 * 1 to go on with the connection, 0 to close it. */
static int handle_set(struct uapi_conn *c, const struct uapi_ops *ops,
		      size_t end)
{
	struct uapi_set set;
	int ret = uapi_set_parse(&set, c->buf + c->start, end - c->start);

	if (!ret && ops && ops->set) {
		ret = ops->set(ops->ctx, &set);
		if (ret > 0)
			ret = -ret;
	}
	uapi_set_free(&set);
	consume(c, end - c->start);
	c->state = CONN_OP;
	/* A large transaction's buffer would count against the server's
	 * bound (UAPI_INPUT_MAX) while the connection idles: give it back. */
	if (c->start == c->len && c->cap > 2 * READ_CHUNK)
		in_release(c);
	/* wireguard-go stops reading the transaction at its first bad line
	 * and takes whatever follows as operations, which ends the
	 * connection; we have consumed it all, and close instead. */
	return !reply_errno(c, ret) && !ret;
}

/* A transaction that cannot be buffered whole (a line over the scanner's
 * limit, or over our size bound): the first bad line among the complete
 * ones before it decides the errno, as wireguard-go would have stopped
 * there; otherwise fallback. Always closes. */
static int fail_set(struct uapi_conn *c, size_t upto, int fallback)
{
	struct uapi_set set;
	int ret = uapi_set_parse(&set, c->buf + c->start, upto - c->start);

	uapi_set_free(&set);
	reply_errno(c, ret ? ret : fallback);
	return 0;
}

/* Finds the transaction's blank line, resuming where the last call left
 * off. 1: handled, carry on; 0: close; 2: wait for more input. */
static int scan_set(struct uapi_conn *c, const struct uapi_ops *ops, bool eof)
{
	char *nl;

	while ((nl = memchr(c->buf + c->scan, '\n', c->len - c->scan))) {
		size_t end = (size_t)(nl - c->buf);
		size_t raw = end - c->line_start;

		if (raw > UAPI_LINE_MAX)
			return fail_set(c, c->line_start, -EIO);
		c->scan = end + 1;
		if (!raw || (raw == 1 && c->buf[c->line_start] == '\r'))
			return handle_set(c, ops, end + 1);
		c->line_start = end + 1;
	}
	c->scan = c->len;
	if (c->len - c->line_start > UAPI_LINE_MAX)
		return fail_set(c, c->line_start, -EIO);
	if (c->len - c->start > UAPI_SET_MAX_BYTES)
		return fail_set(c, c->line_start, -EMSGSIZE);
	if (eof) {
		/* bufio.Scanner ends at EOF as at a blank line. */
		handle_set(c, ops, c->len);
		return 0;
	}
	return 2;
}

/* Handles every complete operation in the input. 1: keep, 0: close. */
static int process(struct uapi_conn *c, const struct uapi_ops *ops, bool eof)
{
	for (;;) {
		const char *op;
		char *nl;
		int r;

		/* Request/reply: the next operation waits until the reply
		 * to this one is built and sent. */
		if (uapi_conn_pending(c))
			return 1;
		if (c->building) {
			if (get_step(c, ops))
				return 0;
			if (c->building)
				return 1;
			continue;
		}
		if (!c->buf)  /* given back after a large transaction */
			return eof ? 0 : 1;
		op = c->buf + c->start;
		switch (c->state) {
		case CONN_OP:
			nl = memchr(c->buf + c->scan, '\n', c->len - c->scan);
			if (!nl) {
				c->scan = c->len;
				if (eof)
					return 0;
				if (c->len - c->start > OP_LEN) {
					c->state = CONN_BAD_OP;
					consume(c, c->len - c->start);
				}
				return 1;
			}
			if (nl + 1 - op != OP_LEN)
				return 0;
			if (!memcmp(op, "get=1\n", OP_LEN)) {
				consume(c, OP_LEN);
				c->state = CONN_GET;
			} else if (!memcmp(op, "set=1\n", OP_LEN)) {
				consume(c, OP_LEN);
				c->state = CONN_SET;
				c->scan = c->line_start = c->start;
			} else {
				return 0;
			}
			break;
		case CONN_BAD_OP:
			/* wireguard-go reads the whole line, then closes
			 * without a reply. */
			if (eof || memchr(op, '\n', c->len - c->start))
				return 0;
			consume(c, c->len - c->start);
			return 1;
		case CONN_GET:
			if (c->start == c->len)
				return eof ? 0 : 1;
			c->state = CONN_OP;
			if (op[0] != '\n') {
				/* "trailing character in UAPI get": the byte
				 * is gone, the connection stays. */
				consume(c, 1);
				if (reply_errno(c, -EINVAL))
					return 0;
				break;
			}
			consume(c, 1);
			if (handle_get(c, ops))
				return 0;
			if (c->building)
				return 1;
			break;
		case CONN_SET:
			r = scan_set(c, ops, eof);
			if (r != 1)
				return r ? 1 : 0;
			break;
		default:
			return 0;
		}
	}
}

enum uapi_conn_wait uapi_conn_on_event(struct uapi_conn *c,
				       const struct uapi_ops *ops)
{
	size_t read_budget = UAPI_BURST_BYTES, write_budget = UAPI_BURST_BYTES;

	if (c->expired)
		return UAPI_CONN_CLOSE;
	for (;;) {
		size_t room;
		ssize_t n;
		int err;

		if (uapi_conn_pending(c)) {
			if (flush(c, &write_budget))
				return UAPI_CONN_CLOSE;
			if (uapi_conn_pending(c))
				return UAPI_CONN_WAIT_WRITE;
		}
		if (c->closing)
			return UAPI_CONN_CLOSE;
		/* Nothing buffered before the first read. */
		if (c->buf || c->building ? !process(c, ops, c->eof) : c->eof) {
			c->closing = true;
			continue;
		}
		/* One piece per call: back to the event loop, which calls
		 * again once the socket is writable (at once, with room). */
		if (c->building)
			return UAPI_CONN_WAIT_WRITE;
		if (uapi_conn_pending(c))
			continue;
		if (!read_budget)
			return UAPI_CONN_WAIT_READ;
		err = ensure_space(c);
		if (err) {
			if (c->state == CONN_SET)
				reply_errno(c, err);
			/* Nothing more is read: the input goes now, not once
			 * the reply is taken. */
			in_release(c);
			c->closing = true;
			continue;
		}
		room = c->cap - c->len;
		n = read(c->fd, c->buf + c->len,
			 room < read_budget ? room : read_budget);
		if (n > 0) {
			c->len += (size_t)n;
			read_budget -= (size_t)n;
			c->progress_ms = uapi_clock_ms();
		} else if (!n) {
			c->eof = true;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			return UAPI_CONN_WAIT_READ;
		} else if (errno != EINTR) {
			return UAPI_CONN_CLOSE;
		}
	}
}

int uapi_conn_on_readable(struct uapi_conn *c, const struct uapi_ops *ops)
{
	return (int)uapi_conn_on_event(c, ops);
}

/* ------------------------------------------------------------------ */
/* The connections of a listening socket                               */

void uapi_server_init(struct uapi_server *srv)
{
	memset(srv, 0, sizeof(*srv));
	srv->conns_max = UAPI_CONNS_MAX;
	srv->pending_max = UAPI_PENDING_MAX;
	srv->input_max = UAPI_INPUT_MAX;
}

void uapi_server_add(struct uapi_server *srv, struct uapi_conn *c)
{
	c->server = srv;
	c->prev = NULL;
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	srv->n_conns++;
	out_account(c, 1);
	in_account(c, 1);
}

bool uapi_server_is_full(const struct uapi_server *srv)
{
	return srv->n_conns >= srv->conns_max;
}

/* When c is given up on: write_timeout_ms after the last byte the reader
 * took while a reply is pending, read_timeout_ms after the last byte of a
 * partial request; 0 between requests. */
static uint64_t conn_deadline(const struct uapi_conn *c)
{
	if (c->expired)
		return 0;
	if (uapi_conn_pending(c))
		return c->progress_ms + (uint64_t)c->write_timeout_ms;
	if (!c->closing && (c->state != CONN_OP || c->len > c->start))
		return c->progress_ms + (uint64_t)c->read_timeout_ms;
	return 0;
}

uint64_t uapi_server_next_deadline(const struct uapi_server *srv)
{
	const struct uapi_conn *c;
	uint64_t next = 0;

	for (c = srv->conns; c; c = c->next) {
		uint64_t at = conn_deadline(c);

		if (at && (!next || at < next))
			next = at;
	}
	return next;
}

struct uapi_conn *uapi_server_expire(struct uapi_server *srv, uint64_t now_ms)
{
	struct uapi_conn *c;

	for (c = srv->conns; c; c = c->next) {
		uint64_t at = conn_deadline(c);

		if (at && at <= now_ms) {
			c->expired = true;
			shutdown(c->fd, SHUT_RDWR);
			return c;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The listening socket                                                */

/* os.MkdirAll: parents too; an existing directory is fine as it is. */
static int make_dirs(const char *dir, mode_t mode)
{
	char path[PATH_MAX];
	struct stat st;
	size_t len = strlen(dir), i;

	if (!len || len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, mode) < 0 && errno != EEXIST)
			return -errno;
		path[i] = dir[i];
	}
	if (stat(dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Whether something answers on the socket path (then it is not stale). */
static bool socket_is_live(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	/* A full backlog (EAGAIN) still means a listener. */
	live = !connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) ||
	       errno == EAGAIN;
	close(fd);
	return live;
}

int uapi_listen(const char *dir, const char *ifname, char *path_out,
		size_t path_len)
{
	return uapi_listen_named(dir, ifname, ".sock", path_out, path_len);
}

int uapi_listen_named(const char *dir, const char *ifname, const char *suffix,
		      char *path_out, size_t path_len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old_umask;
	int fd, n, ret;

	if (!dir)
		dir = UAPI_SOCKET_DIR;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s%s", dir,
		     ifname, suffix);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path) ||
	    (path_out && (size_t)n >= path_len))
		return -ENAMETOOLONG;
	ret = make_dirs(dir, 0755);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;

	/* The socket file gets 0777 & ~umask: srwx------ for root only. */
	old_umask = umask(077);
	ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	if (ret < 0 && errno == EADDRINUSE) {
		if (socket_is_live(&sun)) {
			errno = EADDRINUSE;
		} else if (unlink(sun.sun_path) == 0 || errno == ENOENT) {
			ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
		}
	}
	if (ret < 0)
		ret = -errno;
	umask(old_umask);
	if (!ret && listen(fd, SOMAXCONN) < 0) {
		ret = -errno;
		unlink(sun.sun_path);
	}
	if (ret) {
		close(fd);
		return ret;
	}
	if (path_out)
		memcpy(path_out, sun.sun_path, (size_t)n + 1);
	return fd;
}

int uapi_accept(int listen_fd)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

void uapi_unlisten(int fd, const char *path)
{
	if (fd >= 0)
		close(fd);
	if (path)
		unlink(path);
}
