// SPDX-License-Identifier: GPL-2.0
/*
 * Ratelimiter tests, in the manner of the kernel's ratelimiter selftest
 * (drivers/net/wireguard/selftest/ratelimiter.c): a numbered table of
 * (time step, allowed?) run on the fake clock for several sources at once,
 * then the /64 grouping, the capacity rules and reclaiming of idle entries.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "constants.h"
#include "ctl/handshake/ratelimiter.h"
#include "test.h"
#include "tests/suites.h"

#define PACKET_COST (NSEC_PER_SEC / RATELIMITER_PACKETS_PER_SECOND)
#define START_NS (1000 * NSEC_PER_SEC)

struct source {
	int family;
	uint8_t addr[16];
};

static struct source source_parse(const char *text)
{
	struct source s = { .family = strchr(text, ':') ? AF_INET6 : AF_INET };

	if (inet_pton(s.family, text, s.addr) != 1) {
		CHECKF(false, "bad test address %s", text);
		s.family = AF_INET;
	}
	return s;
}

static bool allow(struct ratelimiter *rl, const char *text)
{
	struct source s = source_parse(text);

	return ratelimiter_allow(rl, s.family, s.addr);
}

/* 10.a.b.c or 2001:db8:a:b::c from a number: many distinct sources. */
static struct source source_numbered(uint32_t n, bool v6)
{
	struct source s = { .family = v6 ? AF_INET6 : AF_INET };

	if (v6) {
		s.addr[0] = 0x20, s.addr[1] = 0x01;
		s.addr[2] = 0x0d, s.addr[3] = 0xb8;
		s.addr[4] = (uint8_t)(n >> 24), s.addr[5] = (uint8_t)(n >> 16);
		s.addr[6] = (uint8_t)(n >> 8), s.addr[7] = (uint8_t)n;
		s.addr[15] = 1;
	} else {
		s.addr[0] = 10;
		s.addr[1] = (uint8_t)(n >> 16), s.addr[2] = (uint8_t)(n >> 8);
		s.addr[3] = (uint8_t)n;
	}
	return s;
}

static bool allow_source(struct ratelimiter *rl, const struct source *s)
{
	return ratelimiter_allow(rl, s->family, s->addr);
}

/* The bucket: every source below must go through the same steps on its
 * own, which also shows that none of them shares a bucket with another. */
static void test_ratelimiter_bucket(void)
{
	static const struct {
		uint64_t advance_ns;  /* before this step */
		bool allowed;
	} steps[] = {
		/* a fresh source: a burst of 5, then nothing */
		{ 0, true }, { 0, true }, { 0, true }, { 0, true },
		{ 0, true }, { 0, false }, { 0, false },
		/* 1/20 s buys exactly one more, and not a ns earlier */
		{ PACKET_COST - 1, false }, { 1, true }, { 0, false },
		{ PACKET_COST, true }, { 0, false },
		{ 2 * PACKET_COST, true }, { 0, true }, { 0, false },
		/* refused packets spend nothing */
		{ PACKET_COST / 2, false }, { PACKET_COST / 2, true },
		/* after a second, 5 again and no more: the burst caps */
		{ NSEC_PER_SEC, true }, { 0, true }, { 0, true },
		{ 0, true }, { 0, true }, { 0, false },
		/* exactly a full bucket of idle time */
		{ RATELIMITER_PACKETS_BURSTABLE * PACKET_COST, true },
		{ 0, true }, { 0, true }, { 0, true }, { 0, true },
		{ 0, false },
		/* sustained 20/s, one packet every 50 ms */
		{ PACKET_COST, true }, { PACKET_COST, true },
		{ PACKET_COST, true }, { 0, false },
		/* idle long enough for the entry to be reclaimable */
		{ 5 * NSEC_PER_SEC, true }, { 0, true }, { 0, true },
		{ 0, true }, { 0, true }, { 0, false },
	};
	static const char *const sources[] = {
		"192.0.2.1", "192.0.2.2", "0.0.0.0", "255.255.255.255",
		"2001:db8::1", "2001:db8:0:1::1", "2001:db8:ffff:ffff::1",
		/* a /64 of the same bytes as 192.0.2.1 */
		"c000:201::",
		/* an IPv6 source in ::/64, whose bytes are those of
		 * 0.0.0.0; not the IPv4 source 192.0.2.1 */
		"::ffff:192.0.2.1",
	};
	struct ratelimiter *rl;
	size_t i, j;

	test_clock_install(START_NS);
	rl = ratelimiter_create(8192);
	if (!CHECK(rl))
		return;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		test_clock_advance(steps[i].advance_ns);
		for (j = 0; j < sizeof(sources) / sizeof(sources[0]); j++) {
			bool got = allow(rl, sources[j]);

			CHECKF(got == steps[i].allowed,
			       "step %zu, %s: got %d, want %d", i + 1,
			       sources[j], got, steps[i].allowed);
		}
	}
	ratelimiter_destroy(rl);
}

/* Addresses in one /64 share a bucket; the next /64 does not. */
static void test_ratelimiter_prefix(void)
{
	static const struct {
		const char *source;
		bool allowed;
	} steps[] = {
		{ "2001:db8::1", true },
		{ "2001:db8::2", true },
		{ "2001:db8::ffff:ffff:ffff:ffff", true },
		{ "2001:db8:0:0:8000::", true },   /* bit 64 set */
		{ "2001:db8::1", true },
		{ "2001:db8::1", false },
		{ "2001:db8::3", false },
		{ "2001:db8:0:1::1", true },        /* bit 63 differs */
		{ "2001:db8:0:8000::1", true },
		{ "3001:db8::1", true },            /* bit 3 differs */
		{ "2001:db8::1", false },
		/* IPv4 is keyed by the whole address */
		{ "198.51.100.1", true },
		{ "198.51.100.2", true },
		{ "198.51.100.1", true },
		{ "198.51.100.1", true },
		{ "198.51.100.1", true },
		{ "198.51.100.1", true },
		{ "198.51.100.1", false },
		{ "198.51.100.2", true },
		{ "198.51.100.0", true },
	};
	struct ratelimiter *rl;
	size_t i;

	test_clock_install(START_NS);
	rl = ratelimiter_create(64);
	if (!CHECK(rl))
		return;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		bool got = allow(rl, steps[i].source);

		CHECKF(got == steps[i].allowed, "step %zu, %s: got %d, want %d",
		       i + 1, steps[i].source, got, steps[i].allowed);
	}
	ratelimiter_destroy(rl);
}

static void test_ratelimiter_args(void)
{
	static const uint8_t zero[16];
	struct ratelimiter *rl;

	errno = 0;
	CHECK(!ratelimiter_create(0) && errno == EINVAL);
	errno = 0;
	CHECK(!ratelimiter_create(((size_t)1 << 30) + 1) && errno == EINVAL);
	ratelimiter_destroy(NULL);

	test_clock_install(START_NS);
	rl = ratelimiter_create(1);
	if (!CHECK(rl))
		return;
	CHECK(!ratelimiter_allow(rl, AF_UNSPEC, zero));
	CHECK(!ratelimiter_allow(rl, AF_UNIX, zero));
	CHECK(ratelimiter_allow(rl, AF_INET, zero));
	ratelimiter_destroy(rl);
}

/* 192.0.2.1 and c000:201::/64 have the same key bytes; only the family
 * tells them apart. In a table of four slots their probe runs often meet,
 * so repeat with fresh hash keys. */
static void test_ratelimiter_families(void)
{
	unsigned long bad = 0;
	int round, k;

	test_clock_install(START_NS);
	for (round = 0; round < 64; round++) {
		struct ratelimiter *rl = ratelimiter_create(2);

		if (!CHECK(rl))
			return;
		for (k = 0; k < RATELIMITER_PACKETS_BURSTABLE; k++)
			bad += !allow(rl, "192.0.2.1");
		bad += allow(rl, "192.0.2.1");
		for (k = 0; k < RATELIMITER_PACKETS_BURSTABLE; k++)
			bad += !allow(rl, "c000:201::1");
		bad += allow(rl, "c000:201::1");
		bad += allow(rl, "192.0.2.1");
		ratelimiter_destroy(rl);
	}
	CHECKF(!bad, "%lu wrong", bad);
}

/* A full table refuses new sources (fail closed) and keeps serving the
 * sources it has; entries idle for a second make room again. */
static void test_ratelimiter_full(void)
{
	static const struct {
		uint64_t advance_ns;
		const char *source;
		bool allowed;
	} steps[] = {
		{ 0, "10.0.0.1", true }, { 0, "10.0.0.2", true },
		{ 0, "10.0.0.3", true }, { 0, "10.0.0.4", true },
		{ 500000000, "2001:db8::1", true },
		{ 0, "2001:db8:1::1", true },
		{ 0, "10.0.0.5", true }, { 0, "10.0.0.6", true },
		/* full: a new source is refused, known ones are served */
		{ 0, "10.0.0.7", false }, { 0, "2001:db8:2::1", false },
		{ 0, "10.0.0.1", true }, { 0, "2001:db8::2", true },
		/* 10.0.0.2-4 idle 1 s less a ns: still no room */
		{ 499999999, "10.0.0.7", false },
		/* 10.0.0.2-4 idle a second: three new sources fit */
		{ 1, "10.0.0.7", true }, { 0, "10.0.0.8", true },
		{ 0, "10.0.0.9", true }, { 0, "10.0.0.10", false },
		/* a reclaimed source is new again, and there is no room */
		{ 0, "10.0.0.2", false },
		/* 10.0.0.1 was active half a second ago: still tracked,
		 * with a bucket refilled meanwhile */
		{ 0, "10.0.0.1", true }, { 0, "10.0.0.1", true },
		{ 0, "10.0.0.1", true }, { 0, "10.0.0.1", true },
		{ 0, "10.0.0.1", true }, { 0, "10.0.0.1", false },
		/* the second batch goes idle 1 s after its last packet:
		 * room for four */
		{ 499999999, "10.0.0.10", false },
		{ 1, "10.0.0.10", true }, { 0, "10.0.0.11", true },
		{ 0, "10.0.0.12", true }, { 0, "10.0.0.13", true },
		{ 0, "10.0.0.14", false }, { 0, "2001:db8::1", false },
	};
	struct ratelimiter *rl;
	size_t i;

	test_clock_install(START_NS);
	rl = ratelimiter_create(8);
	if (!CHECK(rl))
		return;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		bool got;

		test_clock_advance(steps[i].advance_ns);
		got = allow(rl, steps[i].source);
		CHECKF(got == steps[i].allowed, "step %zu, %s: got %d, want %d",
		       i + 1, steps[i].source, got, steps[i].allowed);
	}
	ratelimiter_destroy(rl);
}

/* A refused packet is activity too: a source that keeps sending while
 * limited is not idle and keeps its entry. */
static void test_ratelimiter_refused_is_active(void)
{
	struct ratelimiter *rl;
	int i;

	test_clock_install(START_NS);
	rl = ratelimiter_create(1);
	if (!CHECK(rl))
		return;
	for (i = 0; i < RATELIMITER_PACKETS_BURSTABLE; i++)
		CHECK(allow(rl, "192.0.2.1"));
	test_clock_advance(10 * NSEC_PER_MSEC);
	CHECK(!allow(rl, "192.0.2.1"));
	test_clock_advance(NSEC_PER_SEC - 10 * NSEC_PER_MSEC);
	CHECK(!allow(rl, "192.0.2.2"));
	test_clock_advance(10 * NSEC_PER_MSEC);
	CHECK(allow(rl, "192.0.2.2"));
	CHECK(!allow(rl, "192.0.2.1"));
	ratelimiter_destroy(rl);
}

/*
 * The table at its full size: exactly max_entries sources fit. Then the
 * removal of idle entries must leave every other entry reachable: sources
 * that spent their bucket just before must still be found (and refused),
 * not be taken for new ones. The hash key is random, so each run probes a
 * different layout; the many rounds of small tables vary it further.
 */
static void check_reclaim(size_t max, bool v6, uint32_t salt)
{
	const size_t half = max / 2, fresh = max / 4;
	struct ratelimiter *rl;
	unsigned long bad = 0;
	size_t i;
	int k;

	rl = ratelimiter_create(max);
	if (!CHECK(rl))
		return;
	/* first half at t, second half at t + 990 ms, spent */
	for (i = 0; i < half; i++) {
		struct source s = source_numbered(salt + (uint32_t)i, v6);

		bad += !allow_source(rl, &s);
	}
	test_clock_advance(990 * NSEC_PER_MSEC);
	for (i = half; i < max; i++) {
		struct source s = source_numbered(salt + (uint32_t)i, v6 ^ (i & 1));

		for (k = 0; k < RATELIMITER_PACKETS_BURSTABLE; k++)
			bad += !allow_source(rl, &s);
		bad += allow_source(rl, &s);
	}
	CHECKF(!bad, "max %zu: filling: %lu wrong", max, bad);
	{
		struct source s = source_numbered(salt + (uint32_t)max, v6);

		CHECKF(!allow_source(rl, &s), "max %zu: full", max);
	}
	/* t + 1 s: the first half is idle; new sources push it out */
	test_clock_advance(10 * NSEC_PER_MSEC);
	for (i = 0; i < fresh; i++) {
		struct source s = source_numbered(salt + (uint32_t)(max + 1 + i), v6);

		bad += !allow_source(rl, &s);
	}
	CHECKF(!bad, "max %zu: %lu new sources refused", max, bad);
	for (i = half; i < max; i++) {
		struct source s = source_numbered(salt + (uint32_t)i, v6 ^ (i & 1));

		bad += allow_source(rl, &s);
	}
	CHECKF(!bad, "max %zu: %lu spent sources lost", max, bad);
	/* what is left of the capacity goes to the first half, then no more */
	for (i = 0; i < half; i++) {
		struct source s = source_numbered(salt + (uint32_t)i, v6);

		bad += allow_source(rl, &s) != (i < half - fresh);
	}
	CHECKF(!bad, "max %zu: %lu wrong after reclaim", max, bad);
	ratelimiter_destroy(rl);
}

static void test_ratelimiter_reclaim(void)
{
	int round;

	test_clock_install(START_NS);
	check_reclaim(8192, false, 0);
	check_reclaim(8192, true, 1u << 20);
	for (round = 0; round < 300; round++) {
		test_clock_advance(10 * NSEC_PER_SEC);
		check_reclaim(4 + (size_t)(round % 29), round & 1,
			      (uint32_t)round << 8);
	}
}

void test_ratelimiter(void)
{
	test_ratelimiter_bucket();
	test_ratelimiter_prefix();
	test_ratelimiter_args();
	test_ratelimiter_families();
	test_ratelimiter_full();
	test_ratelimiter_refused_is_active();
	test_ratelimiter_reclaim();
}
