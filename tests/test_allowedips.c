// SPDX-License-Identifier: GPL-2.0
/*
 * Allowed-IPs tests, in the manner of the kernel's allowedips selftest
 * (drivers/net/wireguard/selftest/allowedips.c): numbered steps (insert,
 * remove, lookup, count) run against a fresh table per scenario; walks
 * checked against the exact prefix lists; a randomised comparison with a
 * naive linear longest-prefix match; many peers; and one peer with 300,000
 * prefixes. Every scenario ends with the table's own consistency check.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/allowedips.h"
#include "test.h"
#include "tests/suites.h"

/* The table never dereferences peers: distinct addresses are enough. */
#define NPEERS 64
static uint64_t peer_storage[NPEERS];
#define PEER(i) ((struct wg_peer *)&peer_storage[(i)])

enum { NONE = -1, A, B, C, D, E, F };

static int peer_index(const struct wg_peer *p)
{
	return p ? (int)((const uint64_t *)(const void *)p - peer_storage) : NONE;
}

static struct wg_peer *peer_of(int i)
{
	return i == NONE ? NULL : PEER(i);
}

/* Parses "10.0.0.1" or "2001:db8::1" into addr; returns the family. */
static int parse_addr(const char *s, uint8_t addr[16])
{
	int family = strchr(s, ':') ? AF_INET6 : AF_INET;

	memset(addr, 0, 16);
	if (inet_pton(family, s, addr) != 1) {
		CHECKF(false, "bad address in test table: %s", s);
		return AF_UNSPEC;
	}
	return family;
}

enum step_op { INSERT, REMOVE, REMOVE_PEER, LOOKUP, COUNT };

/* want: the return code for INSERT/REMOVE, the peer for LOOKUP, the number
 * of prefixes for COUNT. */
struct step {
	enum step_op op;
	const char *addr;
	int cidr;
	int peer;
	int want;
};

struct scenario {
	const char *name;
	const struct step *steps;
	size_t len;
};

#define STEPS(...) (const struct step[]){ __VA_ARGS__ }, \
	sizeof((const struct step[]){ __VA_ARGS__ }) / sizeof(struct step)

#define INS(a, c, p) { INSERT, a, c, p, 0 }
#define INS_ERR(a, c, p, e) { INSERT, a, c, p, e }
#define DEL(a, c, p) { REMOVE, a, c, p, 0 }
#define DEL_ERR(a, c, p, e) { REMOVE, a, c, p, e }
#define DEL_PEER(p) { REMOVE_PEER, NULL, 0, p, 0 }
#define LOOK(a, p) { LOOKUP, a, 0, NONE, p }
#define CNT(n) { COUNT, NULL, 0, NONE, n }

static void run_scenario(const struct scenario *s)
{
	struct allowedips t;
	size_t i;

	allowedips_init(&t);
	for (i = 0; i < s->len; i++) {
		const struct step *st = &s->steps[i];
		uint8_t addr[16] = { 0 };
		int family = st->addr ? parse_addr(st->addr, addr) : AF_UNSPEC;
		int got = 0;

		switch (st->op) {
		case INSERT:
			got = allowedips_insert(&t, family, addr,
						(uint8_t)st->cidr, peer_of(st->peer));
			break;
		case REMOVE:
			got = allowedips_remove(&t, family, addr,
						(uint8_t)st->cidr, peer_of(st->peer));
			break;
		case REMOVE_PEER:
			allowedips_remove_by_peer(&t, peer_of(st->peer));
			break;
		case LOOKUP:
			got = peer_index(allowedips_lookup(&t, family, addr));
			break;
		case COUNT:
			got = (int)allowedips_count(&t);
			break;
		}
		CHECKF(got == st->want, "%s: step %zu (%s/%d): got %d, want %d",
		       s->name, i + 1, st->addr ? st->addr : "-", st->cidr,
		       got, st->want);
	}
	CHECKF(allowedips_is_consistent(&t), "%s: inconsistent table", s->name);
	allowedips_free(&t);
	CHECKF(allowedips_count(&t) == 0 && allowedips_memory_usage(&t) == 0,
	       "%s: table not empty after free", s->name);
}

static void test_allowedips_tables(void)
{
	const struct scenario scenarios[] = {
		{ "ipv4", STEPS(
			INS("192.168.4.0", 24, A), INS("192.168.4.4", 32, B),
			INS("192.168.0.0", 16, C), INS("192.95.5.64", 27, D),
			/* same /27 as D's after masking: moves to C */
			INS("192.95.5.65", 27, C), INS("0.0.0.0", 0, E),
			LOOK("192.168.4.20", A), LOOK("192.168.4.0", A),
			LOOK("192.168.4.4", B), LOOK("192.168.4.5", A),
			LOOK("192.168.200.182", C), LOOK("192.95.5.68", C),
			LOOK("192.95.5.96", E), LOOK("10.0.0.1", E),
			LOOK("255.255.255.255", E), LOOK("0.0.0.0", E),
			CNT(5)) },
		{ "ipv6", STEPS(
			INS("2607:5300:60:6b0::c05f:543", 128, D),
			INS("2607:5300:60:6b0::", 64, C), INS("::", 0, E),
			INS("2001:db8::", 32, A), INS("2001:db8:1234::", 48, B),
			INS("2001:db8:1234::1", 128, F),
			LOOK("2607:5300:60:6b0::c05f:543", D),
			LOOK("2607:5300:60:6b0::c02e:1ee", C),
			LOOK("2607:5300:60:6b1::1", E), LOOK("2001:db8::1", A),
			LOOK("2001:db8:1234:5678::1", B),
			LOOK("2001:db8:1234::1", F), LOOK("2001:db8:1234::2", B),
			LOOK("2001:db8:1235::1", A), LOOK("::1", E),
			LOOK("ffff::", E), CNT(6)) },
		{ "families apart", STEPS(
			INS("0.0.0.0", 0, A), LOOK("::1", NONE),
			LOOK("1.2.3.4", A), INS("::", 0, B),
			/* a v4-mapped address is IPv6 */
			LOOK("::ffff:1.2.3.4", B), LOOK("1.2.3.4", A),
			DEL("0.0.0.0", 0, A), LOOK("1.2.3.4", NONE),
			LOOK("::ffff:1.2.3.4", B), CNT(1)) },
		{ "/0 and full length", STEPS(
			INS("255.255.255.255", 32, B), INS("0.0.0.0", 0, A),
			INS("0.0.0.0", 32, C),
			LOOK("255.255.255.255", B), LOOK("255.255.255.254", A),
			LOOK("0.0.0.0", C), LOOK("0.0.0.1", A),
			LOOK("128.0.0.0", A),
			INS("::", 128, D), INS("::", 0, E),
			INS("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128, F),
			LOOK("::", D), LOOK("::1", E),
			LOOK("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", F),
			LOOK("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", E),
			DEL("0.0.0.0", 0, A), LOOK("0.0.0.1", NONE),
			LOOK("0.0.0.0", C), DEL("::", 0, E), LOOK("::1", NONE),
			LOOK("::", D), CNT(4)) },
		{ "host bits masked", STEPS(
			INS("10.1.2.3", 8, A), LOOK("10.200.0.1", A),
			LOOK("11.0.0.0", NONE),
			/* removal masks too */
			DEL("10.255.255.255", 8, A), LOOK("10.1.2.3", NONE),
			INS("2001:db8:ffff::1", 32, B), LOOK("2001:db8::", B),
			INS("2001:db8::", 33, C),
			LOOK("2001:db8:7fff::1", C), LOOK("2001:db8:8000::", B),
			INS("192.168.1.255", 31, D), LOOK("192.168.1.254", D),
			LOOK("192.168.1.253", NONE), CNT(3)) },
		{ "nesting", STEPS(
			INS("10.0.0.0", 8, A), INS("10.0.0.0", 16, B),
			INS("10.0.0.0", 24, C), INS("10.0.0.0", 32, D),
			LOOK("10.1.0.0", A), LOOK("10.0.1.0", B),
			LOOK("10.0.0.1", C), LOOK("10.0.0.0", D),
			DEL("10.0.0.0", 16, B), LOOK("10.0.1.0", A),
			LOOK("10.0.0.1", C), DEL("10.0.0.0", 24, C),
			LOOK("10.0.0.1", A), LOOK("10.0.0.0", D),
			/* reinserted from the inside out */
			INS("10.0.0.0", 24, C), INS("10.0.0.0", 16, B),
			LOOK("10.0.0.1", C), LOOK("10.0.1.0", B),
			DEL("10.0.0.0", 8, A), LOOK("10.1.0.0", NONE),
			LOOK("10.0.1.0", B), CNT(3)) },
		{ "branches", STEPS(
			/* siblings part at bit 23: a branch joins them */
			INS("10.0.0.0", 24, A), INS("10.0.1.0", 24, B),
			LOOK("10.0.0.9", A), LOOK("10.0.1.9", B),
			LOOK("10.0.2.9", NONE),
			/* the /23 takes over the branch point */
			INS("10.0.0.0", 23, C), LOOK("10.0.0.9", A),
			LOOK("10.0.1.9", B), LOOK("10.0.2.9", NONE),
			LOOK("10.0.1.0", B),
			INS("10.0.2.0", 24, D), LOOK("10.0.2.9", D),
			INS("10.0.3.0", 25, E), LOOK("10.0.3.1", E),
			LOOK("10.0.3.129", NONE),
			/* gone again: the node goes back to being a branch */
			DEL("10.0.0.0", 23, C), LOOK("10.0.0.9", A),
			LOOK("10.0.1.9", B), DEL("10.0.0.0", 24, A),
			LOOK("10.0.0.9", NONE), LOOK("10.0.1.9", B),
			DEL("10.0.1.0", 24, B), DEL("10.0.2.0", 24, D),
			LOOK("10.0.3.1", E), CNT(1)) },
		{ "reinsertion moves", STEPS(
			INS("10.0.0.0", 8, A), INS("10.0.0.0", 8, B),
			LOOK("10.1.1.1", B), CNT(1),
			DEL_ERR("10.0.0.0", 8, A, -ENOENT),
			LOOK("10.1.1.1", B), INS("10.0.0.0", 8, B),
			INS("fd00::", 8, A), INS("fd00::", 8, C),
			LOOK("fd12::1", C), CNT(2),
			DEL("10.0.0.0", 8, B), LOOK("10.1.1.1", NONE),
			DEL_PEER(A), LOOK("fd12::1", C), CNT(1)) },
		{ "remove", STEPS(
			DEL_ERR("10.0.0.0", 8, A, -ENOENT),
			DEL_ERR("::", 0, A, -ENOENT),
			INS("10.0.0.0", 8, A), INS("10.0.0.0", 16, B),
			DEL_ERR("10.0.0.0", 8, B, -ENOENT),
			DEL_ERR("10.0.0.0", 16, A, -ENOENT),
			DEL_ERR("10.0.0.0", 9, A, -ENOENT),
			DEL_ERR("10.0.0.0", 12, A, -ENOENT),
			DEL_ERR("10.0.0.0", 24, B, -ENOENT),
			DEL_ERR("11.0.0.0", 8, A, -ENOENT),
			DEL_ERR("10.0.0.0", 8, NONE, -ENOENT),
			LOOK("10.0.0.1", B), LOOK("10.1.0.1", A), CNT(2),
			DEL("10.0.0.0", 8, A),
			DEL_ERR("10.0.0.0", 8, A, -ENOENT),
			LOOK("10.1.0.1", NONE), LOOK("10.0.0.1", B),
			DEL("10.0.0.0", 16, B), LOOK("10.0.0.1", NONE),
			CNT(0)) },
		{ "remove by peer", STEPS(
			INS("10.0.0.0", 8, A), INS("10.1.0.0", 16, B),
			INS("10.1.1.0", 24, A), INS("2001:db8::", 32, A),
			INS("2001:db8:1::", 48, B), INS("0.0.0.0", 0, C),
			CNT(6), DEL_PEER(A), CNT(3),
			LOOK("10.2.0.0", C), LOOK("10.1.1.1", B),
			LOOK("2001:db8::1", NONE), LOOK("2001:db8:1::1", B),
			DEL_PEER(A), DEL_PEER(D), CNT(3),
			DEL_PEER(B), DEL_PEER(C), CNT(0),
			LOOK("10.1.1.1", NONE),
			INS("10.1.1.0", 24, A), LOOK("10.1.1.1", A), CNT(1)) },
		{ "bad arguments", STEPS(
			INS_ERR("10.0.0.0", 33, A, -EINVAL),
			INS_ERR("10.0.0.0", 255, A, -EINVAL),
			INS_ERR("2001:db8::", 129, A, -EINVAL),
			INS_ERR("10.0.0.0", 8, NONE, -EINVAL),
			DEL_ERR("10.0.0.0", 33, A, -EINVAL),
			DEL_ERR("2001:db8::", 129, A, -EINVAL),
			CNT(0), INS("10.0.0.0", 32, A),
			INS("2001:db8::", 128, A), CNT(2)) },
	};
	struct allowedips t;
	uint8_t addr[16] = { 10 };
	size_t i;

	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run_scenario(&scenarios[i]);

	/* Families other than AF_INET and AF_INET6 are refused everywhere. */
	allowedips_init(&t);
	CHECK(allowedips_insert(&t, AF_UNSPEC, addr, 8, PEER(A)) == -EINVAL);
	CHECK(allowedips_insert(&t, AF_UNIX, addr, 8, PEER(A)) == -EINVAL);
	CHECK(allowedips_insert(&t, AF_INET, addr, 8, PEER(A)) == 0);
	CHECK(allowedips_remove(&t, AF_PACKET, addr, 8, PEER(A)) == -EINVAL);
	CHECK(allowedips_lookup(&t, AF_UNSPEC, addr) == NULL);
	CHECK(allowedips_lookup(&t, AF_INET, addr) == PEER(A));
	CHECK(allowedips_count(&t) == 1);
	/* Exact owners: 10/8 is A's; 10.0/16 under it is nobody's until
	 * inserted, and host bits do not matter. */
	{
		uint8_t host[16] = { 10, 1, 2, 3 };

		CHECK(allowedips_owner(&t, AF_INET, addr, 8) == PEER(A));
		CHECK(allowedips_owner(&t, AF_INET, host, 8) == PEER(A));
		CHECK(allowedips_owner(&t, AF_INET, addr, 16) == NULL);
		CHECK(allowedips_owner(&t, AF_INET, addr, 33) == NULL);
		CHECK(allowedips_owner(&t, AF_INET6, addr, 8) == NULL);
		CHECK(allowedips_insert(&t, AF_INET, addr, 16, PEER(B)) == 0);
		CHECK(allowedips_owner(&t, AF_INET, addr, 16) == PEER(B));
		CHECK(allowedips_owner(&t, AF_INET, addr, 8) == PEER(A));
		CHECK(allowedips_remove(&t, AF_INET, addr, 8, PEER(A)) == 0);
		CHECK(allowedips_owner(&t, AF_INET, addr, 8) == NULL);
		CHECK(allowedips_owner(&t, AF_UNSPEC, addr, 8) == NULL);
	}
	allowedips_free(&t);
}

/* Walks: collect "prefix/cidr,..." strings. */
struct walk_buf {
	char s[512];
	size_t calls, stop_after;
};

static int walk_collect(void *ctx, int family, const void *addr, uint8_t cidr)
{
	struct walk_buf *w = ctx;
	char ip[INET6_ADDRSTRLEN];
	size_t len = strlen(w->s);

	if (!inet_ntop(family, addr, ip, sizeof(ip)))
		return -1;
	snprintf(w->s + len, sizeof(w->s) - len, "%s%s/%u", len ? "," : "",
		 ip, cidr);
	return ++w->calls == w->stop_after ? 42 : 0;
}

static void check_walk(const struct allowedips *t, int peer, const char *want,
		       const char *what)
{
	struct walk_buf w = { .s = "" };
	int ret = allowedips_walk_by_peer(t, PEER(peer), walk_collect, &w);

	CHECKF(ret == 0 && !strcmp(w.s, want),
	       "%s: walk of peer %d: got \"%s\" (%d), want \"%s\"", what,
	       peer, w.s, ret, want);
}

static void insert_ok(struct allowedips *t, const char *s, uint8_t cidr, int peer)
{
	uint8_t addr[16];
	int family = parse_addr(s, addr);

	CHECKF(allowedips_insert(t, family, addr, cidr, PEER(peer)) == 0,
	       "insert %s/%u", s, cidr);
}

static void remove_ok(struct allowedips *t, const char *s, uint8_t cidr, int peer)
{
	uint8_t addr[16];
	int family = parse_addr(s, addr);

	CHECKF(allowedips_remove(t, family, addr, cidr, PEER(peer)) == 0,
	       "remove %s/%u", s, cidr);
}

static void test_allowedips_walk(void)
{
	struct walk_buf w = { .s = "", .stop_after = 2 };
	struct allowedips t;

	allowedips_init(&t);
	check_walk(&t, A, "", "empty");
	insert_ok(&t, "10.1.2.3", 8, A);
	insert_ok(&t, "2001:db8::ff", 32, A);
	insert_ok(&t, "192.168.1.0", 24, B);
	insert_ok(&t, "0.0.0.0", 0, A);
	insert_ok(&t, "192.168.1.77", 32, A);
	insert_ok(&t, "::", 0, B);
	check_walk(&t, A, "10.0.0.0/8,2001:db8::/32,0.0.0.0/0,192.168.1.77/32",
		   "insertion order, masked");
	check_walk(&t, B, "192.168.1.0/24,::/0", "second peer");
	check_walk(&t, C, "", "peer without prefixes");

	/* Reinsertion goes to the end of the (new) owner's list. */
	insert_ok(&t, "10.0.0.0", 8, A);
	check_walk(&t, A, "2001:db8::/32,0.0.0.0/0,192.168.1.77/32,10.0.0.0/8",
		   "reinserted");
	insert_ok(&t, "0.0.0.0", 0, B);
	check_walk(&t, A, "2001:db8::/32,192.168.1.77/32,10.0.0.0/8", "moved away");
	check_walk(&t, B, "192.168.1.0/24,::/0,0.0.0.0/0", "moved here");

	/* Removal from the middle, the head and the tail. */
	remove_ok(&t, "192.168.1.77", 32, A);
	check_walk(&t, A, "2001:db8::/32,10.0.0.0/8", "middle removed");
	remove_ok(&t, "192.168.1.0", 24, B);
	check_walk(&t, B, "::/0,0.0.0.0/0", "head removed");
	remove_ok(&t, "0.0.0.0", 0, B);
	check_walk(&t, B, "::/0", "tail removed");

	/* fn's nonzero return stops the walk and is passed on. */
	CHECK(allowedips_walk_by_peer(&t, PEER(A), walk_collect, &w) == 42);
	CHECK(w.calls == 2 && !strcmp(w.s, "2001:db8::/32,10.0.0.0/8"));
	insert_ok(&t, "172.16.0.0", 12, A);
	w.s[0] = 0;
	w.calls = 0;
	CHECK(allowedips_walk_by_peer(&t, PEER(A), walk_collect, &w) == 42);
	CHECK(w.calls == 2 && !strcmp(w.s, "2001:db8::/32,10.0.0.0/8"));

	allowedips_remove_by_peer(&t, PEER(A));
	check_walk(&t, A, "", "after remove_by_peer");
	check_walk(&t, B, "::/0", "other peer untouched");
	CHECK(allowedips_is_consistent(&t));
	allowedips_free(&t);
}

/*
 * Randomised comparison with a naive model: a flat array of prefixes,
 * searched linearly for the longest match.
 */
#define RAND_PEERS 12
#define RAND_PREFIXES 6000  /* inserts, both families together */
#define RAND_QUERIES 20000  /* per comparison round */

struct model_prefix {
	int family;
	uint8_t addr[16];
	uint8_t cidr;
	int peer;          /* NONE once removed */
	uint64_t seq;      /* order in the owner's list */
};

struct model {
	struct model_prefix *p;
	size_t len;
	uint64_t seq;
};

static unsigned int bits_of(int family)
{
	return family == AF_INET ? 32 : 128;
}

static void mask_addr(uint8_t *addr, unsigned int cidr, unsigned int bits)
{
	unsigned int i;

	for (i = 0; i < bits / 8; i++) {
		if (cidr <= 8 * i)
			addr[i] = 0;
		else if (cidr < 8 * i + 8)
			addr[i] &= (uint8_t)(0xff << (8 * i + 8 - cidr));
	}
}

static bool prefix_matches(const uint8_t *prefix, unsigned int cidr,
			   const uint8_t *addr)
{
	unsigned int whole = cidr / 8, rest = cidr % 8;

	if (memcmp(prefix, addr, whole))
		return false;
	return !rest || !((prefix[whole] ^ addr[whole]) & (0xff << (8 - rest)));
}

static int model_lookup(const struct model *m, int family, const uint8_t *addr)
{
	int best = NONE, best_cidr = -1;
	size_t i;

	for (i = 0; i < m->len; i++) {
		const struct model_prefix *p = &m->p[i];

		if (p->peer != NONE && p->family == family && p->cidr > best_cidr &&
		    prefix_matches(p->addr, p->cidr, addr)) {
			best = p->peer;
			best_cidr = p->cidr;
		}
	}
	return best;
}

static struct model_prefix *model_find(struct model *m, int family,
				       const uint8_t *addr, uint8_t cidr)
{
	size_t i;

	for (i = 0; i < m->len; i++)
		if (m->p[i].family == family && m->p[i].cidr == cidr &&
		    !memcmp(m->p[i].addr, addr, bits_of(family) / 8))
			return &m->p[i];
	return NULL;
}

/* Random bits from position `from` on, keeping the ones before it. */
static void randomise_from(uint8_t *addr, unsigned int from, unsigned int bits)
{
	uint8_t r[16];
	unsigned int i;

	test_rand_bytes(r, 16);
	for (i = 0; i < bits / 8; i++) {
		uint8_t m = 8 * i + 8 <= from ? 0xff :
			    8 * i >= from ? 0 : (uint8_t)(0xff << (8 * i + 8 - from));

		addr[i] = (uint8_t)((addr[i] & m) | (r[i] & ~m));
	}
}

/* Half the prefixes are fresh, half are near existing ones (a few bits
 * longer or shorter, sharing leading bits), so that nesting, siblings and
 * reinsertions are common. None is shorter than an eighth of the address:
 * short prefixes would answer nearly every lookup (the tables cover them). */
static void random_prefix(const struct model *m, int *family, uint8_t *addr,
			  uint8_t *cidr)
{
	unsigned int bits, len;

	if (m->len && test_rand() % 2) {
		const struct model_prefix *near = &m->p[test_rand() % m->len];
		unsigned int keep, back;

		*family = near->family;
		bits = bits_of(*family);
		memcpy(addr, near->addr, 16);
		len = near->cidr + (unsigned int)(test_rand() % 17);
		len = len > bits / 8 + 8 ? len - 8 : bits / 8;
		len = len < bits ? len : bits;
		keep = near->cidr < len ? near->cidr : len;
		back = (unsigned int)(test_rand() % 4);
		randomise_from(addr, keep > back ? keep - back : 0, bits);
	} else {
		*family = test_rand() % 2 ? AF_INET : AF_INET6;
		bits = bits_of(*family);
		memset(addr, 0, 16);
		test_rand_bytes(addr, bits / 8);
		/* Mostly lengths people use, now and then any length. */
		len = (unsigned int)(test_rand() % 8 ?
			bits / 4 + test_rand() % (3 * bits / 4 + 1) :
			bits / 8 + test_rand() % (7 * bits / 8 + 1));
	}
	*cidr = (uint8_t)len;
	mask_addr(addr, *cidr, bits);
}

static void model_insert(struct allowedips *t, struct model *m, int family,
			 const uint8_t *addr, uint8_t cidr, int peer)
{
	struct model_prefix *p = model_find(m, family, addr, cidr);

	CHECKF(allowedips_insert(t, family, addr, cidr, PEER(peer)) == 0,
	       "random insert %zu", m->len);
	if (!p) {
		p = &m->p[m->len++];
		p->family = family;
		memcpy(p->addr, addr, 16);
		p->cidr = cidr;
	}
	p->peer = peer;
	p->seq = ++m->seq;
}

static size_t model_count(const struct model *m)
{
	size_t i, n = 0;

	for (i = 0; i < m->len; i++)
		n += m->p[i].peer != NONE;
	return n;
}

/* Lookups of addresses near stored prefixes and of random ones. */
static void compare_lookups(const struct allowedips *t, const struct model *m,
			    const char *round)
{
	size_t i, mismatches = 0;

	for (i = 0; i < RAND_QUERIES; i++) {
		uint8_t addr[16] = { 0 };
		int family, want, got;

		if (m->len && test_rand() % 4) {
			const struct model_prefix *p = &m->p[test_rand() % m->len];
			unsigned int from = p->cidr > 2 ? p->cidr - test_rand() % 3 :
							  p->cidr;

			family = p->family;
			memcpy(addr, p->addr, 16);
			randomise_from(addr, from, bits_of(family));
		} else {
			family = test_rand() % 2 ? AF_INET : AF_INET6;
			test_rand_bytes(addr, bits_of(family) / 8);
		}
		want = model_lookup(m, family, addr);
		got = peer_index(allowedips_lookup(t, family, addr));
		if (got != want && !mismatches++) {
			char ip[INET6_ADDRSTRLEN];

			inet_ntop(family, addr, ip, sizeof(ip));
			CHECKF(false, "%s: lookup %s: got %d, want %d", round,
			       ip, got, want);
		}
	}
	CHECKF(mismatches == 0, "%s: %zu of %d lookups differ", round,
	       mismatches, RAND_QUERIES);
}

struct walk_check {
	const struct model_prefix **want;
	size_t n, pos;
	bool ok;
};

static int walk_compare(void *ctx, int family, const void *addr, uint8_t cidr)
{
	struct walk_check *w = ctx;
	const struct model_prefix *p;

	if (w->pos >= w->n) {
		w->ok = false;
		return 1;
	}
	p = w->want[w->pos++];
	w->ok &= p->family == family && p->cidr == cidr &&
		 !memcmp(p->addr, addr, bits_of(family) / 8);
	return 0;
}

static int by_seq(const void *a, const void *b)
{
	const struct model_prefix *x = *(const struct model_prefix * const *)a;
	const struct model_prefix *y = *(const struct model_prefix * const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Every peer's walk lists its prefixes of the model in insertion order. */
static void compare_walks(const struct allowedips *t, const struct model *m,
			  const char *round)
{
	const struct model_prefix **want = calloc(m->len + 1, sizeof(*want));
	int peer;

	if (!CHECK(want))
		return;
	for (peer = 0; peer < RAND_PEERS; peer++) {
		struct walk_check w = { .want = want, .ok = true };
		size_t i;

		for (i = 0; i < m->len; i++)
			if (m->p[i].peer == peer)
				want[w.n++] = &m->p[i];
		qsort(want, w.n, sizeof(*want), by_seq);
		allowedips_walk_by_peer(t, PEER(peer), walk_compare, &w);
		CHECKF(w.ok && w.pos == w.n, "%s: walk of peer %d: %zu of %zu",
		       round, peer, w.pos, w.n);
	}
	free(want);
}

static void test_allowedips_random(void)
{
	struct model m = { .p = calloc(RAND_PREFIXES, sizeof(*m.p)) };
	struct allowedips t;
	size_t i, bad_removals = 0;
	int peer;

	if (!CHECK(m.p))
		return;
	test_rand_seed(0xa11011ed1b5ULL);
	allowedips_init(&t);

	for (i = 0; i < RAND_PREFIXES; i++) {
		uint8_t addr[16];
		uint8_t cidr;
		int family;

		random_prefix(&m, &family, addr, &cidr);
		model_insert(&t, &m, family, addr, cidr,
			     (int)(test_rand() % RAND_PEERS));
		if (i % 500 == 0)
			CHECKF(allowedips_is_consistent(&t), "after insert %zu", i);
	}
	CHECK(allowedips_is_consistent(&t));
	CHECKF(allowedips_count(&t) == model_count(&m), "count %zu, model %zu",
	       allowedips_count(&t), model_count(&m));
	compare_lookups(&t, &m, "after inserts");
	compare_walks(&t, &m, "after inserts");

	/* Remove a third one by one (by the wrong owner first, and twice),
	 * move a tenth to other peers, then drop two peers wholesale. */
	for (i = 0; i < m.len; i++) {
		struct model_prefix *p = &m.p[i];
		uint64_t r = test_rand() % 30;

		if (p->peer == NONE)
			continue;
		if (r < 10) {
			int other = (p->peer + 1 + (int)(r % (RAND_PEERS - 1))) %
				    RAND_PEERS;

			bad_removals += allowedips_remove(&t, p->family, p->addr,
							  p->cidr, PEER(other)) !=
					-ENOENT;
			CHECKF(allowedips_remove(&t, p->family, p->addr, p->cidr,
						 PEER(p->peer)) == 0,
			       "random remove %zu", i);
			bad_removals += allowedips_remove(&t, p->family, p->addr,
							  p->cidr, PEER(p->peer)) !=
					-ENOENT;
			p->peer = NONE;
		} else if (r < 13) {
			model_insert(&t, &m, p->family, p->addr, p->cidr,
				     (p->peer + 1) % RAND_PEERS);
		}
		if (i % 500 == 0)
			CHECKF(allowedips_is_consistent(&t), "after removal %zu", i);
	}
	CHECKF(bad_removals == 0, "%zu removals by the wrong peer or of removed "
	       "prefixes succeeded", bad_removals);
	for (peer = 0; peer < 2; peer++) {
		allowedips_remove_by_peer(&t, PEER(peer));
		for (i = 0; i < m.len; i++)
			if (m.p[i].peer == peer)
				m.p[i].peer = NONE;
	}
	CHECK(allowedips_is_consistent(&t));
	CHECKF(allowedips_count(&t) == model_count(&m), "count %zu, model %zu",
	       allowedips_count(&t), model_count(&m));
	/* Without memory pressure, removed prefixes leave no dead nodes
	 * behind (they become 16-byte branches or go). */
	CHECK(t.nodes.used == allowedips_count(&t));
	compare_lookups(&t, &m, "after removals");
	compare_walks(&t, &m, "after removals");

	/* Emptied peer by peer, the table gives all its memory back. */
	for (peer = 0; peer < RAND_PEERS; peer++)
		allowedips_remove_by_peer(&t, PEER(peer));
	CHECK(allowedips_count(&t) == 0);
	CHECK(allowedips_memory_usage(&t) == 0);
	CHECK(t.root4 == 0 && t.root6 == 0);
	CHECK(allowedips_is_consistent(&t));
	allowedips_free(&t);
	free(m.p);
}

/* Dozens of peers with dozens of prefixes each, dropped in a scrambled
 * order: exercises the peer map's growth and deletion. */
static void test_allowedips_many_peers(void)
{
	struct allowedips t;
	bool gone[NPEERS] = { false };
	size_t left = NPEERS * 40;
	int i, j;

	allowedips_init(&t);
	for (i = 0; i < NPEERS; i++) {
		for (j = 0; j < 40; j++) {
			uint8_t v4[4] = { 10, (uint8_t)i, (uint8_t)j, 0 };
			uint8_t v6[16] = { 0xfd, 0, 0, 0, (uint8_t)i, (uint8_t)j };

			if (j % 2)
				CHECK(allowedips_insert(&t, AF_INET6, v6, 64, PEER(i)) == 0);
			else
				CHECK(allowedips_insert(&t, AF_INET, v4, 24, PEER(i)) == 0);
		}
	}
	CHECK(allowedips_count(&t) == left);
	CHECK(allowedips_is_consistent(&t));
	for (i = 0; i < NPEERS; i++) {
		int victim = (i * 37 + 11) % NPEERS;  /* 37 is coprime with 64 */
		uint8_t probe[4] = { 10, (uint8_t)victim, 2, 1 };

		CHECK(allowedips_lookup(&t, AF_INET, probe) == PEER(victim));
		allowedips_remove_by_peer(&t, PEER(victim));
		gone[victim] = true;
		left -= 40;
		CHECK(allowedips_lookup(&t, AF_INET, probe) == NULL);
		CHECK(allowedips_count(&t) == left);
		CHECKF(allowedips_is_consistent(&t), "after dropping peer %d", victim);
		for (j = 0; j < NPEERS; j++) {
			uint8_t v6[16] = { 0xfd, 0, 0, 0, (uint8_t)j, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9 };

			if (allowedips_lookup(&t, AF_INET6, v6) != (gone[j] ? NULL : PEER(j)))
				break;
		}
		CHECKF(j == NPEERS, "lookup of peer %d wrong after dropping %d", j, victim);
	}
	allowedips_free(&t);
}

/* One peer with 300,000 prefixes: 200,000 adjacent IPv4 /32s (a branch
 * for nearly every prefix, the costliest shape) and 100,000 scattered
 * IPv6 /64s. */
#define SCALE_V4 200000u
#define SCALE_V6 100000u

static void scale_v6_prefix(uint8_t addr[16], uint32_t i)
{
	/* i * an odd constant mod 2^32 is a bijection: distinct, scattered */
	uint32_t x = i * 2654435761u;

	memset(addr, 0, 16);
	addr[0] = 0x20;
	addr[1] = 0x01;
	addr[2] = 0x0d;
	addr[3] = 0xb8;
	addr[4] = (uint8_t)(x >> 24);
	addr[5] = (uint8_t)(x >> 16);
	addr[6] = (uint8_t)(x >> 8);
	addr[7] = (uint8_t)x;
}

struct scale_walk {
	size_t v4, v6;
	uint32_t next_v4;
	bool in_order;
};

static int scale_count(void *ctx, int family, const void *addr, uint8_t cidr)
{
	struct scale_walk *w = ctx;
	const uint8_t *a = addr;

	if (family == AF_INET) {
		uint32_t host = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 |
				(uint32_t)a[2] << 8 | a[3];

		w->in_order &= cidr == 32 && host == w->next_v4++;
		w->v4++;
	} else {
		w->in_order &= cidr == 64 && w->v4 == SCALE_V4;
		w->v6++;
	}
	return 0;
}

static void test_allowedips_scale(void)
{
	struct scale_walk w = { .next_v4 = 0x0a000000, .in_order = true };
	struct allowedips t;
	size_t failed = 0, bytes;
	uint8_t addr[16];
	uint32_t i;

	allowedips_init(&t);
	for (i = 0; i < SCALE_V4; i++) {
		uint32_t host = 0x0a000000 + i;
		uint8_t v4[4] = { (uint8_t)(host >> 24), (uint8_t)(host >> 16),
				  (uint8_t)(host >> 8), (uint8_t)host };

		failed += allowedips_insert(&t, AF_INET, v4, 32, PEER(A)) != 0;
	}
	for (i = 0; i < SCALE_V6; i++) {
		scale_v6_prefix(addr, i);
		failed += allowedips_insert(&t, AF_INET6, addr, 64, PEER(A)) != 0;
	}
	CHECKF(failed == 0, "%zu inserts failed", failed);
	CHECK(allowedips_count(&t) == SCALE_V4 + SCALE_V6);
	bytes = allowedips_memory_usage(&t);
	CHECKF(bytes / allowedips_count(&t) < 80, "%zu bytes per prefix",
	       bytes / allowedips_count(&t));

	CHECK(allowedips_walk_by_peer(&t, PEER(A), scale_count, &w) == 0);
	CHECKF(w.v4 == SCALE_V4 && w.v6 == SCALE_V6 && w.in_order,
	       "walk saw %zu + %zu prefixes (in order: %d)", w.v4, w.v6,
	       w.in_order);
	CHECK(allowedips_walk_by_peer(&t, PEER(B), scale_count, &w) == 0);

	memcpy(addr, (uint8_t[]){ 10, 1, 2, 3 }, 4);  /* 0x0a010203 < +200000 */
	CHECK(allowedips_lookup(&t, AF_INET, addr) == PEER(A));
	memcpy(addr, (uint8_t[]){ 10, 3, 13, 64 }, 4);  /* 0x0a030d40 = +200000 */
	CHECK(allowedips_lookup(&t, AF_INET, addr) == NULL);
	scale_v6_prefix(addr, 77777);
	addr[15] = 1;
	CHECK(allowedips_lookup(&t, AF_INET6, addr) == PEER(A));
	CHECK(allowedips_is_consistent(&t));

	allowedips_remove_by_peer(&t, PEER(A));
	CHECK(allowedips_count(&t) == 0);
	CHECK(allowedips_memory_usage(&t) == 0);
	CHECK(allowedips_lookup(&t, AF_INET6, addr) == NULL);
	CHECK(allowedips_is_consistent(&t));
	allowedips_free(&t);
}

/* Test allowedips_reserve: after reserving for n inserts of up to p new
 * peers, those inserts allocate nothing (memory use stays put), removals
 * under the reservation give nothing back (a table emptied keeps its
 * blocks, so inserting again cannot fail either), lookups stay right, and
 * allowedips_unreserve trims an empty table as before. */
static void test_allowedips_reserve(void)
{
	static const size_t ns[] = { 1, 255, 256, 257, 1000 };
	size_t k;

	for (k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		struct allowedips t;
		size_t n = ns[k], i, mem;
		bool ok = true;

		allowedips_init(&t);
		CHECK(allowedips_reserve(&t, n, NPEERS) == 0);
		mem = allowedips_memory_usage(&t);
		for (i = 0; i < n; i++) {
			uint8_t a[4] = { 10, (uint8_t)(i >> 8), (uint8_t)i, 0 };

			ok &= allowedips_insert(&t, AF_INET, a, (uint8_t)(24 + i % 9),
						PEER(i % NPEERS)) == 0;
		}
		CHECKF(ok && allowedips_memory_usage(&t) == mem, "%zu inserts: %zu bytes, reserved %zu",
		       n, allowedips_memory_usage(&t), mem);
		for (i = 0; i < NPEERS; i++)
			allowedips_remove_by_peer(&t, PEER(i));
		CHECK(allowedips_count(&t) == 0 && allowedips_memory_usage(&t) == mem);
		for (i = 0; i < n; i++) {
			uint8_t a[16] = { 0xfd, 0, (uint8_t)(i >> 8), (uint8_t)i };

			ok &= allowedips_insert(&t, AF_INET6, a, 64, PEER(i % NPEERS)) == 0;
		}
		CHECK(ok && allowedips_memory_usage(&t) == mem && allowedips_is_consistent(&t));
		{
			uint8_t probe[16] = { 0xfd, 0, 0, (uint8_t)(n - 1), 0, 0, 0, 0, 1 };

			CHECK(allowedips_lookup(&t, AF_INET6, probe) == PEER((n - 1) % NPEERS));
		}
		for (i = 0; i < NPEERS; i++)
			allowedips_remove_by_peer(&t, PEER(i));
		allowedips_unreserve(&t);
		CHECK(allowedips_memory_usage(&t) == 0 && allowedips_is_consistent(&t));
		allowedips_free(&t);
	}
}

void test_allowedips(void)
{
	test_allowedips_tables();
	test_allowedips_walk();
	test_allowedips_random();
	test_allowedips_many_peers();
	test_allowedips_reserve();
	test_allowedips_scale();
}
