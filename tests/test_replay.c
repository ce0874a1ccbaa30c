// SPDX-License-Identifier: GPL-2.0
/*
 * Replay window tests, in the manner of the kernel's counter selftest
 * (drivers/net/wireguard/selftest/counter.c): numbered steps of
 * (counter, accepted?) run against a fresh window per scenario, then loops
 * over the window edge at several alignments, and a randomised comparison
 * with a naive model (a set of every counter seen plus the window rule).
 */
#include <stdlib.h>

#include "constants.h"
#include "datapath/replay.h"
#include "test.h"
#include "tests/suites.h"

#define W ((uint64_t)REPLAY_WINDOW_SIZE)
#define B ((uint64_t)REPLAY_BITS_PER_BLOCK)
#define RING ((uint64_t)COUNTER_BITS_TOTAL)
#define R REJECT_AFTER_MESSAGES

struct replay_step {
	uint64_t counter;
	bool accept;
};

struct replay_scenario {
	const char *name;
	const struct replay_step *steps;
	size_t len;
};

#define STEPS(...) (const struct replay_step[]){ __VA_ARGS__ }, \
	sizeof((const struct replay_step[]){ __VA_ARGS__ }) / \
	sizeof(struct replay_step)

static void run_scenario(const struct replay_scenario *s)
{
	struct replay_counter r;
	size_t i;

	replay_counter_init(&r);
	for (i = 0; i < s->len; i++) {
		bool got = replay_counter_validate(&r, s->steps[i].counter);

		CHECKF(got == s->steps[i].accept,
		       "%s: step %zu: counter %llu: got %s, want %s", s->name,
		       i + 1, (unsigned long long)s->steps[i].counter,
		       got ? "accept" : "reject",
		       s->steps[i].accept ? "accept" : "reject");
	}
}

static void test_replay_tables(void)
{
	const struct replay_scenario scenarios[] = {
		{ "in order", STEPS(
			{ 0, true }, { 1, true }, { 2, true }, { 3, true },
			{ 4, true }, { 5, true }, { 6, true }, { 7, true },
			{ B - 1, true }, { B, true }, { B + 1, true }) },
		{ "reordered", STEPS(
			{ 2, true }, { 0, true }, { 1, true }, { 5, true },
			{ 3, true }, { 4, true }, { 9, true }, { 8, true },
			{ 7, true }, { 6, true }, { B + 3, true }, { 10, true },
			{ B - 1, true }, { B, true }, { 11, true }) },
		{ "duplicates", STEPS(
			{ 0, true }, { 0, false }, { 1, true }, { 1, false },
			{ 0, false }, { 100, true }, { 100, false },
			{ 50, true }, { 50, false }, { 1, false },
			{ 100, false }, { 101, true }, { 101, false }) },
		{ "too old", STEPS(
			{ W + 10, true }, { 9, false }, { 10, true },
			{ 10, false }, { 11, true }, { 8, false }, { 0, false },
			{ W + 11, true }, { 10, false }, { 11, false },
			{ 12, true }) },
		{ "far jumps", STEPS(
			{ 0, true }, { 1ULL << 40, true },
			{ (1ULL << 40) - 1, true }, { 1, false },
			{ (1ULL << 40) - W, true },
			{ (1ULL << 40) - W - 1, false },
			{ (1ULL << 50) + 3, true }, { 1ULL << 40, false },
			{ (1ULL << 50) + 2, true }, { (1ULL << 50) + 3, false },
			{ (1ULL << 50) + 3 + RING, true },
			/* same ring slot and bit as (1 << 50) + 2, a ring ago */
			{ (1ULL << 50) + 2 + RING, true },
			{ (1ULL << 50) + 2 + RING, false },
			{ (1ULL << 50) + 3 + RING - W, true }) },
		{ "ring slot reused", STEPS(
			/* 65 sets bit 1 of slot 1; 8192 + 74 reuses slot 1 */
			{ 65, true }, { RING + B + 10, true },
			{ RING + B + 1, true }, { RING + B + 1, false },
			{ 65, false }, { RING + B + 10 - W, true },
			{ RING + B + 10 - W - 1, false }) },
		{ "counter 0", STEPS(
			{ 0, true }, { 0, false }, { 1, true }, { 0, false }) },
		{ "counter 0 exactly at the edge", STEPS(
			{ W, true }, { 0, true }, { 0, false }) },
		{ "counter 0 just past the edge", STEPS(
			{ W + 1, true }, { 0, false }, { 1, true }) },
		{ "first counter huge", STEPS(
			{ RING * 1000 + 5, true }, { 0, false },
			{ RING * 1000 + 5 - W, true }, { RING * 1000 + 4, true }) },
		{ "reject after messages", STEPS(
			{ R, false }, { R + 1, false }, { ~0ULL, false },
			{ 0, true }, { R - 1, true }, { R - 1, false },
			{ R, false }, { R - 2, true }, { R - 1 - W, true },
			{ R - 2 - W, false }, { ~0ULL, false }) },
		{ "limit one step at a time", STEPS(
			{ R - 3, true }, { R - 2, true }, { R - 1, true },
			{ R, false }, { R - 4, true }, { R - 1, false }) },
	};
	size_t i;

	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run_scenario(&scenarios[i]);
}

/* The exact boundary on both sides, for highest counters at every position
 * relative to a block: the window must not depend on alignment. */
static void test_replay_edges(void)
{
	const uint64_t highests[] = {
		W, W + 1, RING - 1, RING, RING + 1, 3 * RING + B - 1,
		5 * RING + B / 2, (1ULL << 32) + 17, R - 1,
	};
	size_t i;

	for (i = 0; i < sizeof(highests) / sizeof(highests[0]); i++) {
		uint64_t h = highests[i];
		struct replay_counter r;

		replay_counter_init(&r);
		CHECKF(replay_counter_validate(&r, h), "edge %zu: highest", i);
		if (h > W)
			CHECKF(!replay_counter_validate(&r, h - W - 1),
			       "edge %zu: W + 1 behind must be too old", i);
		CHECKF(replay_counter_validate(&r, h - W),
		       "edge %zu: exactly W behind must be accepted", i);
		CHECKF(!replay_counter_validate(&r, h - W),
		       "edge %zu: duplicate at the edge", i);
		CHECKF(replay_counter_validate(&r, h - W + 1),
		       "edge %zu: W - 1 behind", i);
		if (h + 1 < R) {
			/* one step forward: h - W falls out, h - W + 1 is
			 * now the edge and already seen */
			CHECKF(replay_counter_validate(&r, h + 1),
			       "edge %zu: highest + 1", i);
			CHECKF(!replay_counter_validate(&r, h - W),
			       "edge %zu: fell out of the window", i);
			CHECKF(!replay_counter_validate(&r, h - W + 1),
			       "edge %zu: duplicate at the new edge", i);
			CHECKF(replay_counter_validate(&r, h - W + 2),
			       "edge %zu: inside the new edge", i);
		}
	}
}

/* Fill a whole ring, then advance by a few blocks: the blocks entered must
 * come back empty while every other bit survives. */
static void test_replay_partial_advance(void)
{
	const uint64_t jump = RING + 200;
	struct replay_counter r;
	unsigned long bad = 0;
	uint64_t c;

	replay_counter_init(&r);
	for (c = 0; c < RING; c++)
		bad += !replay_counter_validate(&r, c);
	CHECKF(!bad, "filling the ring: %lu rejected", bad);
	CHECK(replay_counter_validate(&r, jump));
	for (c = RING, bad = 0; c < jump; c++)
		bad += !replay_counter_validate(&r, c);
	CHECKF(!bad, "counters in the entered blocks: %lu rejected", bad);
	CHECK(!replay_counter_validate(&r, jump));
	for (c = jump - W, bad = 0; c < RING; c++)
		bad += replay_counter_validate(&r, c);
	CHECKF(!bad, "replays inside the window: %lu accepted", bad);
	CHECK(!replay_counter_validate(&r, jump - W - 1));
}

/* The naive model: every counter ever accepted, and the window rule. */
struct replay_model {
	uint64_t base, span, highest;
	bool has_highest;
	uint8_t *seen;  /* bitmap over [base, base + span) */
	unsigned long accepted, duplicate, too_old, limit;
};

static bool model_validate(struct replay_model *m, uint64_t c)
{
	uint64_t x = c - m->base;

	if (c >= R) {
		m->limit++;
		return false;
	}
	if (m->has_highest && c + W < m->highest) {
		m->too_old++;
		return false;
	}
	if (m->seen[x / 8] & (1U << (x % 8))) {
		m->duplicate++;
		return false;
	}
	m->seen[x / 8] |= (uint8_t)(1U << (x % 8));
	if (!m->has_highest || c > m->highest)
		m->highest = c;
	m->has_highest = true;
	m->accepted++;
	return true;
}

/* Mostly near the front, often behind around the window edge, sometimes
 * far ahead or anywhere. Returns an offset from m->base inside the span. */
static uint64_t model_next(const struct replay_model *m, uint64_t start)
{
	int64_t hi = m->has_highest ? (int64_t)(m->highest - m->base) :
				      (int64_t)start;
	uint64_t pick = test_rand() % 100;
	int64_t x;

	if (pick < 40)
		x = hi + 1 + (int64_t)(test_rand() % 4);
	else if (pick < 70)
		x = hi - (int64_t)(test_rand() % (W + 200));
	else if (pick < 80)
		x = hi - (int64_t)W + 1 - (int64_t)(test_rand() % 3);
	else if (pick < 88)
		x = hi + (int64_t)(test_rand() % (3 * B));
	else if (pick < 90)
		x = hi + (int64_t)(test_rand() % (3 * RING));
	else if (pick < 95)
		x = hi;
	else
		x = (int64_t)(test_rand() % m->span);
	if (x < 0 || (uint64_t)x >= m->span)
		x = (int64_t)(test_rand() % m->span);
	return (uint64_t)x;
}

static void model_run(uint64_t base, uint64_t span, uint64_t start,
		      unsigned long steps, bool expect_limit)
{
	struct replay_model m = { .base = base, .span = span };
	struct replay_counter r;
	unsigned long i, mismatches = 0;

	m.seen = calloc(span / 8, 1);
	if (!CHECK(m.seen))
		return;
	replay_counter_init(&r);
	for (i = 0; i < steps; i++) {
		uint64_t c = base + model_next(&m, start);
		bool want = model_validate(&m, c), got;

		got = replay_counter_validate(&r, c);
		if (got != want && !mismatches++)
			fprintf(stderr, "    step %lu: counter %llu: got %d, "
				"model %d\n", i + 1, (unsigned long long)c,
				got, want);
	}
	CHECKF(!mismatches, "%lu of %lu steps disagree with the model",
	       mismatches, steps);
	/* the walk must have exercised every outcome */
	CHECK(m.accepted > 1000);
	CHECK(m.duplicate > 100);
	CHECK(m.too_old > 100);
	CHECK(!expect_limit || m.limit > 100);
	free(m.seen);
}

static void test_replay_model(void)
{
	const uint64_t span = 1ULL << 24;

	test_rand_seed(0x7265706c6179ULL);
	model_run(0, span, 0, 100000, false);
	/* Near REJECT_AFTER_MESSAGES: the span ends 4096 counters past it. */
	model_run(R + 4096 - span, span, span - 4096 - 50000, 20000, true);
}

void test_replay(void)
{
	test_replay_tables();
	test_replay_edges();
	test_replay_partial_advance();
	test_replay_model();
}
