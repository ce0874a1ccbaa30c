// SPDX-License-Identifier: GPL-2.0
/*
 * Timer tests on the fake clock. A simulated daemon records every action
 * and, like the real one, reports what it "sent" back through the hooks.
 * A numbered table of scenarios (hook calls at given times, then the
 * actions expected and when) covers the events of protocol.md's
 * "Timers and limits"; giving up, the initiation rate rule, peer removal,
 * the heap against a naive scan over 1000 peers and actions that re-enter
 * the timers have tests of their own. Last, two real devices on loopback
 * show that the daemon forgets a peer's cached source address when the
 * timers retry (issue 17).
 */
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constants.h"
#include "ctl/device.h"
#include "ctl/handshake/crypto.h"
#include "base/platform.h"
#include "ctl/timers.h"
#include "ctl/uapi.h"
#include "test.h"
#include "tests/test_node.h"
#include "tests/suites.h"

#define START_NS (1000 * NSEC_PER_SEC)
#define MS NSEC_PER_MSEC
#define SEC NSEC_PER_SEC
#define JITTER_NS (REKEY_TIMEOUT_JITTER_MAX_MS * NSEC_PER_MSEC)
#define MAX_RETRIES (REKEY_ATTEMPT_TIME / REKEY_TIMEOUT + 1)

/* --- A recording daemon --- */

enum ev { EV_NONE, EV_INITIATION, EV_RETRY, EV_KEEPALIVE, EV_GIVE_UP, EV_ZERO };

static const char *const ev_names[] = {
	"none", "initiation", "retry", "keepalive", "give up", "zero keys",
};

struct sim_peer {
	struct timers_peer tp;
	int id;
	bool sends;                /* reports sent packets through the hooks */
	unsigned int staged;       /* packets waiting for a keypair */
	/* Runs last in every action; may free the peer. */
	void (*hook)(struct sim_peer *p, enum ev ev);
};

struct record {
	enum ev ev;
	int peer;
	xwg_time_t at;
	bool forget_src;           /* timers_should_forget_endpoint_src() said */
};

#define RECORDS_MAX 8192
static struct record records[RECORDS_MAX];
static size_t nrecords;

static void records_reset(void)
{
	nrecords = 0;
}

static void record(struct sim_peer *p, enum ev ev)
{
	if (nrecords < RECORDS_MAX)
		records[nrecords++] = (struct record){
			ev, p->id, platform_now(),
			timers_should_forget_endpoint_src(&p->tp),
		};
}

static void sim_action_done(struct sim_peer *p, enum ev ev)
{
	if (p->hook)
		p->hook(p, ev);
}

/* What the daemon's send path reports for an initiation that went out. */
static void sim_sent_initiation(struct sim_peer *p)
{
	timers_any_authenticated_packet_traversal(&p->tp);
	timers_any_authenticated_packet_sent(&p->tp);
	timers_handshake_initiated(&p->tp);
}

static void sim_send_initiation(void *owner, bool is_retry)
{
	struct sim_peer *p = owner;

	record(p, is_retry ? EV_RETRY : EV_INITIATION);
	if (p->sends)
		sim_sent_initiation(p);
	sim_action_done(p, is_retry ? EV_RETRY : EV_INITIATION);
}

static void sim_send_keepalive(void *owner)
{
	struct sim_peer *p = owner;

	record(p, EV_KEEPALIVE);
	if (p->sends) {
		timers_any_authenticated_packet_traversal(&p->tp);
		timers_any_authenticated_packet_sent(&p->tp);
	}
	sim_action_done(p, EV_KEEPALIVE);
}

static void sim_give_up(void *owner)
{
	struct sim_peer *p = owner;

	record(p, EV_GIVE_UP);
	p->staged = 0;
	sim_action_done(p, EV_GIVE_UP);
}

static void sim_zero_key_material(void *owner)
{
	struct sim_peer *p = owner;

	record(p, EV_ZERO);
	sim_action_done(p, EV_ZERO);
}

static const struct timers_actions sim_actions = {
	.send_handshake_initiation = sim_send_initiation,
	.send_keepalive = sim_send_keepalive,
	.give_up = sim_give_up,
	.zero_key_material = sim_zero_key_material,
};

/* --- The daemon's loop on the fake clock --- */

static void clock_to(xwg_time_t at)
{
	xwg_time_t now = platform_now();

	if (at > now)
		test_clock_advance(at - now);
}

/* Sleeps until the earliest deadline and runs it, as the daemon's timerfd
 * loop does, until `until`; leaves the clock there. */
static void run_until(struct timers *t, xwg_time_t until)
{
	xwg_time_t next;
	unsigned int rounds = 0;

	while ((next = timers_next_deadline(t)) && next <= until) {
		if (++rounds == 1000000) {
			CHECKF(false, "timers keep firing");
			return;
		}
		clock_to(next);
		timers_run_expired(t);
	}
	clock_to(until);
}

static bool peer_has_no_timers(const struct timers_peer *tp)
{
	unsigned int k;

	for (k = 0; k < TIMER_COUNT; k++)
		if (tp->deadline[k] || tp->heap_pos[k] != TIMERS_NOT_PENDING)
			return false;
	return true;
}

/* The heap's shape, positions and deadlines against the peers' view. */
static bool heap_is_consistent(const struct timers *t, size_t live_pending)
{
	unsigned int i;

	if (t->len != live_pending || t->len > t->cap ||
	    t->cap < t->peers * TIMER_COUNT)
		return false;
	for (i = 0; i < t->len; i++) {
		const struct timers_entry *e = &t->heap[i], *up;

		if (e->tp->heap_pos[e->kind] != i ||
		    e->tp->deadline[e->kind] != e->deadline || !e->deadline)
			return false;
		if (!i)
			continue;
		up = &t->heap[(i - 1) / 2];
		if (e->deadline < up->deadline ||
		    (e->deadline == up->deadline && e->seq < up->seq))
			return false;
	}
	return true;
}

/* --- Scenarios --- */

enum op {
	OP_END,
	OP_DATA_SENT,
	OP_DATA_RECEIVED,
	OP_ANY_SENT,
	OP_ANY_RECEIVED,
	OP_TRAVERSAL,
	OP_INITIATED,
	OP_COMPLETE,
	OP_SESSION,
	OP_KEEPALIVE_INTERVAL,   /* arg: seconds; then the hook */
	OP_SET_INTERVAL,         /* arg: seconds; no hook */
	OP_STOP,
};

struct step {
	unsigned int at_ms;      /* after START_NS */
	enum op op;
	unsigned int arg;
};

struct expect {
	enum ev ev;
	unsigned int at_ms;
	uint64_t slack_ns;       /* it may come this much later */
};

struct scenario {
	const char *what;
	bool sends;
	unsigned int end_s;
	struct step steps[8];
	struct expect want[8];
};

static const struct scenario scenarios[] = {
	{ "passive keepalive 10 s after data received, nothing sent", true, 60,
	  { { 0, OP_DATA_RECEIVED, 0 } },
	  { { EV_KEEPALIVE, 10000, 0 } } },
	{ "no passive keepalive when something was sent", true, 60,
	  { { 0, OP_DATA_RECEIVED, 0 }, { 3000, OP_ANY_SENT, 0 },
	    { 3000, OP_DATA_SENT, 0 }, { 4000, OP_ANY_RECEIVED, 0 } },
	  { { EV_NONE, 0, 0 } } },
	{ "more data before the keepalive: another one 10 s after it", true, 60,
	  { { 0, OP_DATA_RECEIVED, 0 }, { 4000, OP_DATA_RECEIVED, 0 } },
	  { { EV_KEEPALIVE, 10000, 0 }, { EV_KEEPALIVE, 20000, 0 } } },
	{ "new handshake 15 s after data sent with no reply", false, 60,
	  { { 0, OP_DATA_SENT, 0 }, { 3000, OP_DATA_SENT, 0 } },
	  { { EV_INITIATION, 15000, JITTER_NS } } },
	{ "no new handshake when an authenticated packet came back", false, 60,
	  { { 0, OP_DATA_SENT, 0 }, { 14000, OP_ANY_RECEIVED, 0 } },
	  { { EV_NONE, 0, 0 } } },
	{ "the 15 s count from the first data sent after a reply", false, 60,
	  { { 0, OP_DATA_SENT, 0 }, { 5000, OP_ANY_RECEIVED, 0 },
	    { 20000, OP_DATA_SENT, 0 }, { 25000, OP_DATA_SENT, 0 } },
	  { { EV_INITIATION, 35000, JITTER_NS } } },
	{ "zero keys 540 s after the session", true, 1200,
	  { { 0, OP_SESSION, 0 } },
	  { { EV_ZERO, 540000, 0 } } },
	{ "a newer session postpones zeroing keys", true, 1200,
	  { { 0, OP_SESSION, 0 }, { 300000, OP_SESSION, 0 } },
	  { { EV_ZERO, 840000, 0 } } },
	{ "persistent keepalive at once when turned on, then every n s", true, 110,
	  { { 0, OP_KEEPALIVE_INTERVAL, 25 } },
	  { { EV_KEEPALIVE, 0, 1 }, { EV_KEEPALIVE, 25000, 1 },
	    { EV_KEEPALIVE, 50000, 1 }, { EV_KEEPALIVE, 75000, 1 },
	    { EV_KEEPALIVE, 100000, 1 } } },
	{ "persistent keepalive rearmed by traffic", true, 100,
	  { { 0, OP_KEEPALIVE_INTERVAL, 25 }, { 20000, OP_TRAVERSAL, 0 },
	    { 40000, OP_TRAVERSAL, 0 } },
	  { { EV_KEEPALIVE, 0, 1 }, { EV_KEEPALIVE, 65000, 0 },
	    { EV_KEEPALIVE, 90000, 0 } } },
	{ "persistent keepalive off when set to 0", true, 200,
	  { { 0, OP_KEEPALIVE_INTERVAL, 25 }, { 30000, OP_KEEPALIVE_INTERVAL, 0 },
	    { 40000, OP_TRAVERSAL, 0 } },
	  { { EV_KEEPALIVE, 0, 1 }, { EV_KEEPALIVE, 25000, 1 } } },
	{ "no persistent keepalive while the interval is 0", true, 100,
	  { { 0, OP_TRAVERSAL, 0 }, { 10000, OP_ANY_SENT, 0 } },
	  { { EV_NONE, 0, 0 } } },
	{ "a shorter persistent keepalive interval applies at once", true, 70,
	  { { 0, OP_KEEPALIVE_INTERVAL, 3600 }, { 10000, OP_KEEPALIVE_INTERVAL, 25 } },
	  { { EV_KEEPALIVE, 0, 1 }, { EV_KEEPALIVE, 35000, 0 },
	    { EV_KEEPALIVE, 60000, 0 } } },
	{ "turned off without the hook, then on: at once again", true, 120,
	  { { 0, OP_KEEPALIVE_INTERVAL, 25 }, { 30000, OP_SET_INTERVAL, 0 },
	    { 40000, OP_TRAVERSAL, 0 }, { 100000, OP_KEEPALIVE_INTERVAL, 25 } },
	  { { EV_KEEPALIVE, 0, 1 }, { EV_KEEPALIVE, 25000, 1 },
	    { EV_KEEPALIVE, 100000, 1 } } },
	{ "a longer one waits for the pending keepalive", true, 90,
	  { { 0, OP_KEEPALIVE_INTERVAL, 25 }, { 10000, OP_KEEPALIVE_INTERVAL, 60 } },
	  { { EV_KEEPALIVE, 0, 1 }, { EV_KEEPALIVE, 25000, 1 },
	    { EV_KEEPALIVE, 85000, 1 } } },
	{ "retransmit every 5 s until the handshake completes", true, 60,
	  { { 0, OP_INITIATED, 0 }, { 22000, OP_COMPLETE, 0 } },
	  { { EV_RETRY, 5000, JITTER_NS }, { EV_RETRY, 10000, 2 * JITTER_NS },
	    { EV_RETRY, 15000, 3 * JITTER_NS }, { EV_RETRY, 20000, 4 * JITTER_NS } } },
	{ "a stopped peer runs and arms nothing", true, 1200,
	  { { 0, OP_DATA_RECEIVED, 0 }, { 0, OP_DATA_SENT, 0 },
	    { 0, OP_INITIATED, 0 }, { 0, OP_SESSION, 0 },
	    { 1000, OP_STOP, 0 }, { 2000, OP_DATA_SENT, 0 },
	    { 2000, OP_SESSION, 0 }, { 2000, OP_INITIATED, 0 } },
	  { { EV_NONE, 0, 0 } } },
};

static void step_apply(struct sim_peer *p, const struct step *st)
{
	struct timers_peer *tp = &p->tp;

	switch (st->op) {
	case OP_DATA_SENT: timers_data_sent(tp); break;
	case OP_DATA_RECEIVED: timers_data_received(tp); break;
	case OP_ANY_SENT: timers_any_authenticated_packet_sent(tp); break;
	case OP_ANY_RECEIVED: timers_any_authenticated_packet_received(tp); break;
	case OP_TRAVERSAL: timers_any_authenticated_packet_traversal(tp); break;
	case OP_INITIATED: timers_handshake_initiated(tp); break;
	case OP_COMPLETE: timers_handshake_complete(tp); break;
	case OP_SESSION: timers_session_derived(tp); break;
	case OP_KEEPALIVE_INTERVAL:
		tp->persistent_keepalive_interval = (uint16_t)st->arg;
		timers_persistent_keepalive_changed(tp);
		break;
	case OP_SET_INTERVAL:
		tp->persistent_keepalive_interval = (uint16_t)st->arg;
		break;
	case OP_STOP: timers_peer_stop(tp); break;
	case OP_END: break;
	}
}

static void scenario_run(const struct scenario *s, unsigned int number)
{
	struct sim_peer p = { .id = 0, .sends = s->sends };
	struct timers t;
	const struct step *st;
	size_t nwant = 0, i;

	test_clock_install(START_NS);
	records_reset();
	CHECK(timers_init(&t, &sim_actions) == 0);
	CHECK(timers_peer_init(&t, &p.tp, &p) == 0);
	for (st = s->steps; st < s->steps + 8 && st->op != OP_END; st++) {
		run_until(&t, START_NS + st->at_ms * MS);
		step_apply(&p, st);
	}
	run_until(&t, START_NS + s->end_s * SEC);

	while (nwant < 8 && s->want[nwant].ev != EV_NONE)
		nwant++;
	CHECKF(nrecords == nwant, "scenario %u (%s): %zu actions, want %zu",
	       number, s->what, nrecords, nwant);
	for (i = 0; i < nrecords && i < nwant; i++) {
		const struct expect *w = &s->want[i];
		xwg_time_t at = START_NS + w->at_ms * MS;

		CHECKF(records[i].ev == w->ev && records[i].at >= at &&
		       records[i].at <= at + w->slack_ns,
		       "scenario %u (%s), action %zu: %s at +%llu ns, want %s at +%u ms",
		       number, s->what, i, ev_names[records[i].ev],
		       (unsigned long long)(records[i].at - START_NS),
		       ev_names[w->ev], w->at_ms);
	}
	/* Every initiation here answers silence (the timers started it):
	 * the daemon is told to forget the cached source, for nothing else. */
	for (i = 0; i < nrecords; i++)
		CHECKF(records[i].forget_src ==
		       (records[i].ev == EV_RETRY || records[i].ev == EV_INITIATION),
		       "scenario %u (%s), action %zu (%s): forget the source %d",
		       number, s->what, i, ev_names[records[i].ev],
		       records[i].forget_src);
	timers_peer_stop(&p.tp);
	CHECK(timers_next_deadline(&t) == 0);
	timers_uninit(&t);
}

static void test_scenarios(void)
{
	unsigned int i;

	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		scenario_run(&scenarios[i], i + 1);
}

/* --- Giving up --- */

static void give_up_run(bool session_first)
{
	struct sim_peer p = { .id = 0, .sends = true, .staged = 3 };
	struct timers t;
	xwg_time_t prev, gap, first_gap = 0, give_up_at, zero_at = 0;
	bool jitter_varies = false;
	size_t i;

	test_clock_install(START_NS);
	records_reset();
	CHECK(timers_init(&t, &sim_actions) == 0);
	CHECK(timers_peer_init(&t, &p.tp, &p) == 0);
	if (session_first) {
		/* A half-done exchange derived keys 50 s ago. */
		timers_session_derived(&p.tp);
		zero_at = START_NS + ZERO_KEYS_AFTER_TIME * SEC;
		test_clock_advance(50 * SEC);
	}

	/* Data to send, no keypair: the data path's first initiation. */
	CHECK(timers_may_send_initiation(&p.tp));
	sim_send_initiation(&p, false);
	prev = platform_now();
	/* Data received before the last expiry asks for a keepalive, which
	 * giving up cancels. */
	while (p.tp.handshake_attempts < MAX_RETRIES && timers_next_deadline(&t)) {
		clock_to(timers_next_deadline(&t));
		timers_run_expired(&t);
	}
	timers_data_received(&p.tp);
	run_until(&t, prev + 200 * SEC);

	/* Retries every REKEY_TIMEOUT + jitter, each counted... */
	if (!CHECKF(nrecords == 1 + MAX_RETRIES + 1, "%zu actions", nrecords))
		goto out;
	CHECK(records[0].ev == EV_INITIATION);
	/* The data path's initiation keeps the source; every retry drops
	 * it, giving up does not. */
	CHECK(!records[0].forget_src);
	CHECK(!timers_should_forget_endpoint_src(&p.tp));
	for (i = 1; i <= MAX_RETRIES; i++) {
		CHECK(records[i].forget_src);
		gap = records[i].at - prev;
		CHECKF(records[i].ev == EV_RETRY && gap >= REKEY_TIMEOUT * SEC &&
		       gap < REKEY_TIMEOUT * SEC + JITTER_NS,
		       "retry %zu: %s after %llu ns", i, ev_names[records[i].ev],
		       (unsigned long long)gap);
		if (i == 1)
			first_gap = gap;
		jitter_varies |= gap != first_gap;
		prev = records[i].at;
	}
	CHECK(jitter_varies);

	/* ...until REKEY_ATTEMPT_TIME has passed: then give up, dropping the
	 * staged packets, and nothing more is sent. */
	give_up_at = records[MAX_RETRIES + 1].at;
	gap = give_up_at - prev;
	CHECK(records[MAX_RETRIES + 1].ev == EV_GIVE_UP);
	CHECK(!records[MAX_RETRIES + 1].forget_src);
	CHECK(gap >= REKEY_TIMEOUT * SEC && gap < REKEY_TIMEOUT * SEC + JITTER_NS);
	CHECK(give_up_at - records[0].at > REKEY_ATTEMPT_TIME * SEC);
	CHECK(p.staged == 0);
	CHECK(p.tp.handshake_attempts == MAX_RETRIES);
	CHECK(!p.tp.deadline[TIMER_RETRANSMIT_HANDSHAKE]);
	CHECK(!p.tp.deadline[TIMER_SEND_KEEPALIVE]);

	/* Keys of the partial exchange go 3 * REJECT_AFTER_TIME later, or
	 * when the earlier session's timer says. */
	if (!session_first)
		zero_at = give_up_at + ZERO_KEYS_AFTER_TIME * SEC;
	CHECK(p.tp.deadline[TIMER_ZERO_KEY_MATERIAL] == zero_at);
	CHECK(timers_next_deadline(&t) == zero_at);
	run_until(&t, zero_at + 1000 * SEC);
	CHECK(nrecords == 1 + MAX_RETRIES + 2);
	CHECK(records[nrecords - 1].ev == EV_ZERO && records[nrecords - 1].at == zero_at);

	/* New data starts over with a fresh count. */
	CHECK(timers_may_send_initiation(&p.tp));
	CHECK(p.tp.handshake_attempts == 0);
out:
	timers_peer_stop(&p.tp);
	timers_uninit(&t);
}

static void test_give_up(void)
{
	give_up_run(false);
	give_up_run(true);
}

/* Completing the handshake ends retransmission and resets the count. */
static void test_handshake_complete(void)
{
	struct sim_peer p = { .id = 0, .sends = true };
	struct timers t;

	test_clock_install(START_NS);
	records_reset();
	CHECK(timers_init(&t, &sim_actions) == 0);
	CHECK(timers_peer_init(&t, &p.tp, &p) == 0);
	timers_handshake_initiated(&p.tp);
	run_until(&t, START_NS + 3 * (REKEY_TIMEOUT * SEC + JITTER_NS));
	CHECK(nrecords == 3 && p.tp.handshake_attempts == 3);
	CHECK(p.tp.deadline[TIMER_RETRANSMIT_HANDSHAKE] != 0);
	CHECK(timers_may_send_lastminute_initiation(&p.tp));
	CHECK(!timers_may_send_lastminute_initiation(&p.tp));

	timers_handshake_complete(&p.tp);
	CHECK(p.tp.handshake_attempts == 0);
	CHECK(!p.tp.sent_lastminute_handshake);
	CHECK(!p.tp.deadline[TIMER_RETRANSMIT_HANDSHAKE]);
	CHECK(timers_next_deadline(&t) == 0);
	run_until(&t, START_NS + 200 * SEC);
	CHECK(nrecords == 3);
	CHECK(timers_may_send_lastminute_initiation(&p.tp));
	timers_peer_stop(&p.tp);
	timers_uninit(&t);
}

/* --- At most one initiation per REKEY_TIMEOUT --- */

static void test_initiation_rate(void)
{
	static const struct {
		unsigned int at_ms;
		bool may;
	} vectors[] = {
		{ 0, true }, { 1, false }, { 4999, false }, { 5000, true },
		{ 7000, false }, { 9999, false }, { 10000, true },
		{ 60000, true }, { 60001, false },
	};
	struct sim_peer p = { .id = 0 };
	struct timers t;
	unsigned int i;

	test_clock_install(START_NS);
	CHECK(timers_init(&t, &sim_actions) == 0);
	CHECK(timers_peer_init(&t, &p.tp, &p) == 0);
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		clock_to(START_NS + vectors[i].at_ms * MS);
		p.tp.handshake_attempts = 7;
		CHECKF(timers_may_send_initiation(&p.tp) == vectors[i].may,
		       "vector %u: at +%u ms", i + 1, vectors[i].at_ms);
		/* A non-retry initiation restarts the count, sent or not. */
		CHECK(p.tp.handshake_attempts == 0);
	}

	/* Initiations the timers start count as well. */
	test_clock_advance(60 * SEC);
	timers_handshake_initiated(&p.tp);
	test_clock_advance(REKEY_TIMEOUT * SEC - 1);
	CHECK(!timers_may_send_initiation(&p.tp));
	test_clock_advance(1);
	CHECK(timers_may_send_initiation(&p.tp));

	timers_peer_stop(&p.tp);
	CHECK(!timers_may_send_initiation(&p.tp));
	timers_uninit(&t);

	/* The timers obey the rule too: a new-handshake timer due within
	 * REKEY_TIMEOUT of the data path's initiation sends nothing (that
	 * initiation has its own retransmission); one due later sends. */
	records_reset();
	CHECK(timers_init(&t, &sim_actions) == 0);
	CHECK(timers_peer_init(&t, &p.tp, &p) == 0);
	timers_data_sent(&p.tp);
	clock_to(timers_next_deadline(&t) - SEC);
	CHECK(timers_may_send_initiation(&p.tp));
	run_until(&t, platform_now() + 2 * SEC);
	CHECK(nrecords == 0);
	timers_data_sent(&p.tp);
	run_until(&t, platform_now() + 20 * SEC);
	CHECK(nrecords == 1 && records[0].ev == EV_INITIATION);
	timers_peer_stop(&p.tp);
	timers_uninit(&t);
}

/* --- Peer removal --- */

static void test_peer_stop(void)
{
	struct sim_peer a = { .id = 0, .sends = true }, b = { .id = 1, .sends = true };
	struct timers t;
	unsigned int k;

	test_clock_install(START_NS);
	records_reset();
	CHECK(timers_init(&t, &sim_actions) == 0);
	CHECK(timers_peer_init(&t, &a.tp, &a) == 0);
	CHECK(timers_peer_init(&t, &b.tp, &b) == 0);
	a.tp.persistent_keepalive_interval = 25;
	timers_persistent_keepalive_changed(&a.tp);
	timers_handshake_initiated(&a.tp);
	timers_data_sent(&a.tp);
	timers_data_received(&a.tp);
	timers_session_derived(&a.tp);
	timers_session_derived(&b.tp);
	for (k = 0; k < TIMER_COUNT; k++)
		CHECKF(a.tp.deadline[k] != 0, "timer %u pending", k);
	CHECK(heap_is_consistent(&t, TIMER_COUNT + 1));
	CHECK(timers_next_deadline(&t) == START_NS + 1);

	timers_peer_stop(&a.tp);
	CHECK(peer_has_no_timers(&a.tp) && a.tp.is_dead);
	CHECK(heap_is_consistent(&t, 1));
	CHECK(timers_next_deadline(&t) == START_NS + ZERO_KEYS_AFTER_TIME * SEC);

	/* Hooks after the stop arm nothing; a second stop is harmless. */
	timers_handshake_initiated(&a.tp);
	timers_data_sent(&a.tp);
	timers_data_received(&a.tp);
	timers_session_derived(&a.tp);
	timers_any_authenticated_packet_traversal(&a.tp);
	timers_persistent_keepalive_changed(&a.tp);
	CHECK(!timers_may_send_initiation(&a.tp));
	CHECK(!timers_may_send_lastminute_initiation(&a.tp));
	timers_peer_stop(&a.tp);
	CHECK(peer_has_no_timers(&a.tp));
	CHECK(t.peers == 1 && heap_is_consistent(&t, 1));

	run_until(&t, START_NS + 1000 * SEC);
	CHECK(nrecords == 1 && records[0].peer == 1 && records[0].ev == EV_ZERO);

	/* The memory of a stopped peer can serve a new one. */
	CHECK(timers_peer_init(&t, &a.tp, &a) == 0);
	CHECK(!a.tp.is_dead && t.peers == 2);
	timers_data_received(&a.tp);
	CHECK(heap_is_consistent(&t, 1));

	/* Uninit leaves the remaining peers stopped. */
	timers_uninit(&t);
	CHECK(peer_has_no_timers(&a.tp) && a.tp.is_dead);
	timers_data_received(&a.tp);
	CHECK(peer_has_no_timers(&a.tp));
	timers_peer_stop(&b.tp);
}

/* --- 1000 peers: the heap against a naive scan --- */

#define MANY 1000
static struct sim_peer many[MANY];

static xwg_time_t naive_next_deadline(size_t *pending)
{
	xwg_time_t min = 0;
	size_t i, n = 0;
	unsigned int k;

	for (i = 0; i < MANY; i++)
		for (k = 0; k < TIMER_COUNT; k++) {
			xwg_time_t d = many[i].tp.deadline[k];

			if (!d)
				continue;
			n++;
			if (!min || d < min)
				min = d;
		}
	if (pending)
		*pending = n;
	return min;
}

struct due {
	xwg_time_t deadline;
	uint64_t seq;
	int peer;
	enum ev ev;
};

static int due_compare(const void *a, const void *b)
{
	const struct due *x = a, *y = b;

	if (x->deadline != y->deadline)
		return x->deadline < y->deadline ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static unsigned int many_init_failures;

static void many_random_op(struct timers *t)
{
	struct sim_peer *p = &many[test_rand() % MANY];

	switch (test_rand() % 12) {
	case 0: timers_data_sent(&p->tp); break;
	case 1: timers_data_received(&p->tp); break;
	case 2: timers_any_authenticated_packet_sent(&p->tp); break;
	case 3: timers_any_authenticated_packet_received(&p->tp); break;
	case 4: timers_any_authenticated_packet_traversal(&p->tp); break;
	case 5: sim_sent_initiation(p); break;
	case 6: timers_handshake_complete(&p->tp); break;
	case 7: timers_session_derived(&p->tp); break;
	case 8:
		p->tp.persistent_keepalive_interval =
			test_rand() % 4 ? (uint16_t)(1 + test_rand() % 600) : 0;
		timers_persistent_keepalive_changed(&p->tp);
		break;
	case 9:
		if (p->tp.is_dead)
			many_init_failures += timers_peer_init(t, &p->tp, p) != 0;
		else
			timers_peer_stop(&p->tp);
		break;
	case 10: test_clock_advance(test_rand() % (3 * SEC)); break;
	case 11: timers_run_expired(t); break;
	}
}

static void test_many_peers(void)
{
	static struct due due[MANY * TIMER_COUNT];
	size_t i, n, pending, wrong_next = 0, inconsistent = 0;
	struct timers t;
	unsigned int k;

	test_clock_install(START_NS);
	test_rand_seed(0x7157);
	records_reset();
	many_init_failures = 0;
	CHECK(timers_init(&t, &sim_actions) == 0);
	for (i = 0; i < MANY; i++) {
		many[i] = (struct sim_peer){ .id = (int)i, .sends = true };
		many_init_failures += timers_peer_init(&t, &many[i].tp, &many[i]) != 0;
	}
	if (!CHECK(many_init_failures == 0))
		return;

	/* Random hooks, clock steps and runs (whose actions re-enter the
	 * hooks); after each, the heap's earliest deadline is the scan's. */
	for (i = 0; i < 40000; i++) {
		many_random_op(&t);
		wrong_next += timers_next_deadline(&t) != naive_next_deadline(&pending);
		if (i % 101 == 0)
			inconsistent += !heap_is_consistent(&t, pending);
	}
	CHECK(wrong_next == 0);
	CHECK(inconsistent == 0);
	CHECK(many_init_failures == 0);

	/* A burst of traffic: a few timers per live peer, close together. */
	for (i = 0; i < MANY; i++) {
		struct timers_peer *tp = &many[i].tp;

		test_clock_advance(test_rand() % (100 * MS));
		timers_data_sent(tp);
		timers_data_received(tp);
		if (test_rand() % 2)
			timers_session_derived(tp);
		tp->persistent_keepalive_interval = (uint16_t)(1 + test_rand() % 60);
		timers_persistent_keepalive_changed(tp);
		timers_any_authenticated_packet_traversal(tp);
	}
	CHECK(timers_next_deadline(&t) == naive_next_deadline(&pending));
	CHECK(heap_is_consistent(&t, pending));
	CHECKF(pending > MANY, "%zu timers pending", pending);

	/* Then every pending timer fires once, at its deadline, in the order
	 * of (deadline, arming). Quiet peers: no re-arming, no giving up, no
	 * rate limit in the way. */
	for (i = 0; i < MANY; i++) {
		many[i].sends = false;
		many[i].tp.need_another_keepalive = false;
		many[i].tp.handshake_attempts = 0;
		many[i].tp.last_sent_handshake = 0;
	}
	timers_run_expired(&t);
	records_reset();
	for (i = n = 0; i < MANY; i++)
		for (k = 0; k < TIMER_COUNT; k++) {
			static const enum ev kind_ev[TIMER_COUNT] = {
				[TIMER_RETRANSMIT_HANDSHAKE] = EV_RETRY,
				[TIMER_SEND_KEEPALIVE] = EV_KEEPALIVE,
				[TIMER_NEW_HANDSHAKE] = EV_INITIATION,
				[TIMER_ZERO_KEY_MATERIAL] = EV_ZERO,
				[TIMER_PERSISTENT_KEEPALIVE] = EV_KEEPALIVE,
			};
			struct timers_peer *tp = &many[i].tp;

			if (!tp->deadline[k])
				continue;
			due[n++] = (struct due){
				tp->deadline[k], t.heap[tp->heap_pos[k]].seq,
				(int)i, kind_ev[k],
			};
		}
	qsort(due, n, sizeof(due[0]), due_compare);
	CHECK(n && due[0].deadline > platform_now());
	while (timers_next_deadline(&t)) {
		clock_to(timers_next_deadline(&t));
		timers_run_expired(&t);
	}
	if (CHECKF(nrecords == n, "%zu fired, %zu due", nrecords, n)) {
		for (i = 0, wrong_next = 0; i < n; i++)
			wrong_next += records[i].peer != due[i].peer ||
				      records[i].ev != due[i].ev ||
				      records[i].at != due[i].deadline;
		CHECK(wrong_next == 0);
	}
	for (i = 0; i < MANY; i++)
		timers_peer_stop(&many[i].tp);
	CHECK(t.len == 0 && t.peers == 0);
	timers_uninit(&t);
}

/* --- Actions that re-enter the timers --- */

static struct timers *reentry_timers;
static struct sim_peer *reentry_b, *reentry_c;
static struct sim_peer *added[200];
static unsigned int reentry_a_calls;
static size_t records_in_nested_run;

/* A's first keepalive: stops B (due at the same instant), arms C, nests a
 * run, adds 200 peers (the heap moves) and turns on its own persistent
 * keepalive. */
static void reentry_hook_a(struct sim_peer *p, enum ev ev)
{
	size_t before = nrecords;
	unsigned int i;

	if (ev != EV_KEEPALIVE || reentry_a_calls++)
		return;
	timers_peer_stop(&reentry_b->tp);
	timers_data_sent(&reentry_c->tp);
	timers_run_expired(reentry_timers);
	records_in_nested_run = nrecords - before;
	for (i = 0; i < 200; i++) {
		added[i] = calloc(1, sizeof(*added[i]));
		if (!added[i] ||
		    timers_peer_init(reentry_timers, &added[i]->tp, added[i])) {
			CHECKF(false, "adding peer %u", i);
			return;
		}
		added[i]->id = 100 + (int)i;
		timers_data_received(&added[i]->tp);
	}
	p->tp.persistent_keepalive_interval = 25;
	timers_persistent_keepalive_changed(&p->tp);
}

/* D is removed and freed by its own keepalive, while more received data
 * asks the timers to re-arm that very keepalive afterwards. */
static void reentry_hook_d(struct sim_peer *p, enum ev ev)
{
	(void)ev;
	timers_peer_stop(&p->tp);
	free(p);
}

static void test_reentry(void)
{
	struct sim_peer a = { .id = 0, .sends = true, .hook = reentry_hook_a };
	struct sim_peer b = { .id = 1, .sends = true };
	struct sim_peer c = { .id = 2 };
	struct sim_peer *d = calloc(1, sizeof(*d));
	xwg_time_t fired;
	struct timers t;
	size_t pending;
	unsigned int i;

	if (!CHECK(d != NULL))
		return;
	*d = (struct sim_peer){ .id = 3, .sends = true, .hook = reentry_hook_d };
	test_clock_install(START_NS);
	records_reset();
	reentry_timers = &t;
	reentry_b = &b;
	reentry_c = &c;
	reentry_a_calls = 0;
	CHECK(timers_init(&t, &sim_actions) == 0);
	CHECK(timers_peer_init(&t, &a.tp, &a) == 0);
	CHECK(timers_peer_init(&t, &b.tp, &b) == 0);
	CHECK(timers_peer_init(&t, &c.tp, &c) == 0);
	CHECK(timers_peer_init(&t, &d->tp, d) == 0);
	/* Keepalives of A, B and D fall due together, in that order. */
	timers_data_received(&a.tp);
	timers_data_received(&b.tp);
	timers_data_received(&d->tp);
	test_clock_advance(SEC);
	timers_data_received(&a.tp);
	timers_data_received(&d->tp);
	fired = START_NS + KEEPALIVE_TIMEOUT * SEC;
	clock_to(fired);
	timers_run_expired(&t);

	CHECK(records_in_nested_run == 0);
	CHECK(nrecords == 2);
	CHECK(records[0].peer == 0 && records[0].ev == EV_KEEPALIVE);
	CHECK(records[1].peer == 3 && records[1].ev == EV_KEEPALIVE);
	CHECK(peer_has_no_timers(&b.tp) && b.tp.is_dead);
	CHECK(c.tp.deadline[TIMER_NEW_HANDSHAKE] >=
	      fired + (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT) * SEC);
	/* A still re-armed its keepalive for the data received meanwhile;
	 * its persistent keepalive waits for the next run. */
	CHECK(a.tp.deadline[TIMER_SEND_KEEPALIVE] == fired + KEEPALIVE_TIMEOUT * SEC);
	CHECK(a.tp.deadline[TIMER_PERSISTENT_KEEPALIVE] == fired + 1);
	CHECK(timers_next_deadline(&t) == fired + 1);
	pending = 0;
	for (i = 0; i < 200; i++)
		pending += added[i] && added[i]->tp.deadline[TIMER_SEND_KEEPALIVE] ==
			fired + KEEPALIVE_TIMEOUT * SEC;
	CHECK(pending == 200);
	CHECK(heap_is_consistent(&t, 2 + 1 + 200));	/* A, C, added */

	/* The persistent keepalive goes out (and, being sent, cancels the
	 * passive one); then the added peers' keepalives. */
	test_clock_advance(1);
	timers_run_expired(&t);
	CHECK(nrecords == 3 && records[2].peer == 0);
	CHECK(!a.tp.deadline[TIMER_SEND_KEEPALIVE]);
	CHECK(a.tp.deadline[TIMER_PERSISTENT_KEEPALIVE] == fired + 1 + 25 * SEC);
	run_until(&t, fired + KEEPALIVE_TIMEOUT * SEC);
	CHECK(nrecords == 3 + 200);
	for (i = 0; i < 200; i++) {
		if (!added[i])
			continue;
		timers_peer_stop(&added[i]->tp);
		free(added[i]);
		added[i] = NULL;
	}
	timers_peer_stop(&a.tp);
	timers_peer_stop(&c.tp);
	CHECK(t.len == 0 && t.peers == 0);
	timers_uninit(&t);
}

/* The peer's endpoint is still y's address, with or without a source. */
static bool endpoint_is_y(const struct udp_endpoint *ep, uint16_t port)
{
	return udp_endpoint_family(ep) == AF_INET &&
	       ep->addr.in4.sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
	       ep->addr.in4.sin_port == htons(port);
}

static bool source_is_loopback(const struct udp_endpoint *ep)
{
	return ep->has_src && ep->src4.s_addr == htonl(INADDR_LOOPBACK) &&
	       ep->src_ifindex > 0;
}

/* Runs x's timers up to their earliest deadline, which must be `kind`'s. */
static bool run_x_timer(struct test_node *x, enum timer_kind kind)
{
	xwg_time_t due = x->peer->timers.deadline[kind];

	if (!due || timers_next_deadline(&x->dev.timers) != due)
		return false;
	clock_to(due);
	timers_run_expired(&x->dev.timers);
	return true;
}

static void test_forget_endpoint_src(void)
{
	struct test_node *x = calloc(1, sizeof(*x)), *y = calloc(1, sizeof(*y));
	struct udp_endpoint *ep;
	uint16_t y_port;
	uint64_t sent;

	test_clock_install(START_NS);
	if (!CHECK(x && y) || !CHECK(test_node_init(x, "tsrc0")) ||
	    !CHECK(test_node_init(y, "tsrc1")) ||
	    !CHECK(test_node_configure(x, y, "10.9.0.2/32", TEST_NODE_ENDPOINT | TEST_NODE_REPLACE)) ||
	    !CHECK(test_node_configure(y, x, "10.9.0.1/32", TEST_NODE_ENDPOINT | TEST_NODE_REPLACE)))
		goto out;
	ep = &x->peer->endpoint;
	y_port = udp_socks_port(&y->dev.udp);
	/* 1: configured, not yet heard from: no source. */
	CHECK(endpoint_is_y(ep, y_port) && !ep->has_src);

	/* 2: y initiates; its initiation (authenticated) makes x's replies
	 * leave from the address it arrived at; y's keepalive confirms. */
	send_handshake_initiation(y->peer, false);
	CHECK(test_node_receive(x, true) == 1);
	CHECKF(source_is_loopback(ep), "2: has_src %d", ep->has_src);
	CHECK(test_node_receive(y, true) == 1);
	CHECK(test_node_receive(x, true) == 1);
	CHECK(endpoint_is_y(ep, y_port) && source_is_loopback(ep));

	/* 3: a persistent keepalive (x has a session) keeps the source. */
	x->peer->timers.persistent_keepalive_interval = 25;
	timers_persistent_keepalive_changed(&x->peer->timers);
	test_clock_advance(1);
	timers_run_expired(&x->dev.timers);
	x->peer->timers.persistent_keepalive_interval = 0;
	timers_persistent_keepalive_changed(&x->peer->timers);
	CHECK(test_node_receive(y, false) == 1);
	CHECK(source_is_loopback(ep));

	/* 4: x sent data that went unanswered: KEEPALIVE_TIMEOUT +
	 * REKEY_TIMEOUT later the new handshake forgets the source and
	 * keeps the address; the initiation still leaves. */
	timers_data_sent(&x->peer->timers);
	sent = x->peer->stats.handshakes_sent;
	CHECK(run_x_timer(x, TIMER_NEW_HANDSHAKE));
	CHECK(x->peer->stats.handshakes_sent == sent + 1);
	CHECKF(!ep->has_src && !ep->src_ifindex && endpoint_is_y(ep, y_port),
	       "4: has_src %d", ep->has_src);
	/* 5: y's response (authenticated) sets it again. */
	CHECK(test_node_receive(y, true) == 1);
	CHECK(test_node_receive(x, true) == 1);
	CHECKF(source_is_loopback(ep), "5: has_src %d", ep->has_src);
	CHECK(!x->peer->timers.deadline[TIMER_RETRANSMIT_HANDSHAKE]);
	test_node_receive(y, true);  /* x's keepalive after the response */

	/* 6: an initiation of the data path (REKEY_TIMEOUT after the last)
	 * keeps the source... */
	test_clock_advance(REKEY_TIMEOUT * SEC);
	sent = x->peer->stats.handshakes_sent;
	send_handshake_initiation(x->peer, false);
	CHECK(x->peer->stats.handshakes_sent == sent + 1);
	CHECK(source_is_loopback(ep));
	/* 7: ...and when it goes unanswered (y never sees it), the
	 * retransmission forgets it, keeping the address. */
	CHECK(test_node_receive(y, false) == 1);
	CHECK(run_x_timer(x, TIMER_RETRANSMIT_HANDSHAKE));
	CHECK(x->peer->stats.handshakes_sent == sent + 2);
	CHECKF(!ep->has_src && !ep->src_ifindex && endpoint_is_y(ep, y_port),
	       "7: has_src %d", ep->has_src);
	/* 8: the retry's response sets it again and ends the retries. */
	CHECK(test_node_receive(y, true) == 1);
	CHECK(test_node_receive(x, true) == 1);
	CHECKF(source_is_loopback(ep), "8: has_src %d", ep->has_src);
	CHECK(!x->peer->timers.deadline[TIMER_RETRANSMIT_HANDSHAKE]);
out:
	test_node_uninit(x);
	test_node_uninit(y);
	free(x);
	free(y);
}

/* A held clock: one reading for a batch, holds nest, other threads and
 * the time after the outermost release read the clock again. */
static void *read_clock(void *arg)
{
	*(uint64_t *)arg = platform_now();
	return NULL;
}

static void test_clock_hold(void)
{
	uint64_t other = 0;
	pthread_t th;

	test_clock_install(5 * NSEC_PER_SEC);
	platform_clock_hold();
	test_clock_advance(NSEC_PER_SEC);
	CHECK(platform_now() == 5 * NSEC_PER_SEC);
	CHECK(!birthdate_has_expired(4 * NSEC_PER_SEC + 1, 1));
	platform_clock_hold();
	test_clock_advance(NSEC_PER_SEC);
	CHECK(platform_now() == 5 * NSEC_PER_SEC);
	CHECK(!pthread_create(&th, NULL, read_clock, &other) && !pthread_join(th, NULL));
	CHECKF(other == 7 * NSEC_PER_SEC, "another thread read %llu", (unsigned long long)other);
	platform_clock_release();
	CHECK(platform_now() == 5 * NSEC_PER_SEC);
	platform_clock_release();
	CHECK(platform_now() == 7 * NSEC_PER_SEC);
	platform_clock_release();  /* unbalanced: harmless */
	CHECK(platform_now() == 7 * NSEC_PER_SEC);
	test_clock_uninstall();
}

void test_timers(void)
{
	test_clock_hold();
	test_scenarios();
	test_give_up();
	test_handshake_complete();
	test_initiation_rate();
	test_peer_stop();
	test_many_peers();
	test_reentry();
	test_forget_endpoint_src();
}
