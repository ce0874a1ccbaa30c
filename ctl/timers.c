// SPDX-License-Identifier: GPL-2.0
/*
 * Per-peer protocol timers (whitepaper 6.2 - 6.5), as the kernel's
 * drivers/net/wireguard/timers.c runs them:
 *
 * - retransmit handshake: REKEY_TIMEOUT + jitter after an initiation with
 *   no response, send another (new ephemeral) until the attempts exceed
 *   REKEY_ATTEMPT_TIME / REKEY_TIMEOUT, then give up.
 * - send keepalive: KEEPALIVE_TIMEOUT after receiving data without sending
 *   anything, send an empty packet so the peer knows we are alive.
 * - new handshake: KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter after sending
 *   data without hearing anything back, start a new handshake.
 * - zero key material: 3 * REJECT_AFTER_TIME after the last session was
 *   derived, wipe every key of the peer.
 * - persistent keepalive: every configured interval after any
 *   authenticated packet went either way.
 *
 * Every pending timer is one entry of a binary min-heap ordered by
 * (deadline, arming order); each peer remembers where its entries sit, so
 * arming, moving and clearing a timer is O(log n) and the earliest deadline
 * is O(1).
 */
#include "ctl/timers.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "constants.h"

/* Retries go out while no more than this many were sent, so the last
 * leaves REKEY_ATTEMPT_TIME + REKEY_TIMEOUT (plus jitter) after the first
 * initiation and the expiry after it gives up, as in the kernel. */
#define MAX_TIMER_HANDSHAKES (REKEY_ATTEMPT_TIME / REKEY_TIMEOUT)

#define HEAP_MIN_CAP (16U * TIMER_COUNT)

/* --- The heap --- */

static bool entry_is_before(const struct timers_entry *a,
			    const struct timers_entry *b)
{
	return a->deadline < b->deadline ||
	       (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_place(struct timers *t, unsigned int pos,
		       const struct timers_entry *e)
{
	t->heap[pos] = *e;
	e->tp->heap_pos[e->kind] = pos;
}

static void heap_sift_up(struct timers *t, unsigned int pos)
{
	struct timers_entry e = t->heap[pos];

	while (pos > 0) {
		unsigned int parent = (pos - 1) / 2;

		if (!entry_is_before(&e, &t->heap[parent]))
			break;
		heap_place(t, pos, &t->heap[parent]);
		pos = parent;
	}
	heap_place(t, pos, &e);
}

static void heap_sift_down(struct timers *t, unsigned int pos)
{
	struct timers_entry e = t->heap[pos];

	for (;;) {
		unsigned int child = 2 * pos + 1;

		if (child >= t->len)
			break;
		if (child + 1 < t->len &&
		    entry_is_before(&t->heap[child + 1], &t->heap[child]))
			child++;
		if (!entry_is_before(&t->heap[child], &e))
			break;
		heap_place(t, pos, &t->heap[child]);
		pos = child;
	}
	heap_place(t, pos, &e);
}

/* Restores the order around pos after its entry changed. */
static void heap_fix(struct timers *t, unsigned int pos)
{
	if (pos > 0 && entry_is_before(&t->heap[pos], &t->heap[(pos - 1) / 2]))
		heap_sift_up(t, pos);
	else
		heap_sift_down(t, pos);
}

static void heap_remove(struct timers *t, unsigned int pos)
{
	struct timers_entry *e = &t->heap[pos];

	e->tp->deadline[e->kind] = 0;
	e->tp->heap_pos[e->kind] = TIMERS_NOT_PENDING;
	if (pos != --t->len) {
		heap_place(t, pos, &t->heap[t->len]);
		heap_fix(t, pos);
	}
}

/* --- Arming and clearing: the only places deadlines change --- */

static bool timer_is_pending(const struct timers_peer *tp, enum timer_kind kind)
{
	return tp->deadline[kind] != 0;
}

/* Like the kernel's mod_timer(): (re)starts the timer at deadline. */
static void timer_arm(struct timers_peer *tp, enum timer_kind kind,
		      xwg_time_t deadline)
{
	struct timers *t = tp->timers;
	struct timers_entry e = {
		.deadline = deadline ? deadline : 1, .tp = tp, .kind = kind,
	};

	if (tp->is_dead || !t)
		return;
	e.seq = t->seq++;
	if (timer_is_pending(tp, kind)) {
		tp->deadline[kind] = e.deadline;
		t->heap[tp->heap_pos[kind]] = e;
		heap_fix(t, tp->heap_pos[kind]);
		return;
	}
	/* timers_peer_init() reserved TIMER_COUNT entries for every peer. */
	tp->deadline[kind] = e.deadline;
	heap_place(t, t->len++, &e);
	heap_sift_up(t, t->len - 1);
}

static void timer_clear(struct timers_peer *tp, enum timer_kind kind)
{
	if (tp->timers && timer_is_pending(tp, kind))
		heap_remove(tp->timers, tp->heap_pos[kind]);
}

static xwg_time_t after_seconds(uint64_t seconds)
{
	return platform_now() + seconds * NSEC_PER_SEC;
}

/* Uniform in [0, REKEY_TIMEOUT_JITTER_MAX_MS), so that peers whose
 * handshakes failed together do not all retry in the same instant. */
static xwg_time_t rekey_jitter(void)
{
	const uint64_t max = REKEY_TIMEOUT_JITTER_MAX_MS * NSEC_PER_MSEC;

	return ((uint64_t)platform_random_u32() * max) >> 32;
}

/* The interval became 0 without timers_persistent_keepalive_changed():
 * turning it on again must still send at once. */
static void persistent_keepalive_turned_off(struct timers_peer *tp)
{
	tp->persistent_keepalive_was_on = false;
}

/* --- Expiry --- */

/* Common to both kinds of initiation the timers start: the one-per-
 * REKEY_TIMEOUT rule holds for them as for the data path. Both answer
 * silence, which the cached source address may cause: the action forgets
 * it (timers_should_forget_endpoint_src()). The kernel forgets it even when
 * the rule holds the initiation back; then one went out less than
 * REKEY_TIMEOUT ago, and its retransmission forgets it. */
static void send_initiation(struct timers *t, struct timers_peer *tp,
			    bool is_retry)
{
	if (!is_retry)
		tp->handshake_attempts = 0;
	if (!birthdate_has_expired(tp->last_sent_handshake, REKEY_TIMEOUT))
		return;
	t->running_forgets_src = true;
	t->actions.send_handshake_initiation(tp->owner, is_retry);
	t->running_forgets_src = false;
}

static void expired_retransmit_handshake(struct timers *t,
					 struct timers_peer *tp)
{
	if (tp->handshake_attempts > MAX_TIMER_HANDSHAKES) {
		/* Whitepaper 6.4: after REKEY_ATTEMPT_TIME stop trying and
		 * drop what waited for a keypair. A partial exchange may have
		 * left keys behind: have them wiped eventually. */
		timer_clear(tp, TIMER_SEND_KEEPALIVE);
		if (!timer_is_pending(tp, TIMER_ZERO_KEY_MATERIAL))
			timer_arm(tp, TIMER_ZERO_KEY_MATERIAL,
				  after_seconds(ZERO_KEYS_AFTER_TIME));
		t->actions.give_up(tp->owner);
		return;
	}
	tp->handshake_attempts++;
	send_initiation(t, tp, true);
}

static void expired_send_keepalive(struct timers *t, struct timers_peer *tp)
{
	t->actions.send_keepalive(tp->owner);
	if (t->running_stopped)
		return;
	/* Data arrived while this timer was pending: acknowledge that too. */
	if (tp->need_another_keepalive) {
		tp->need_another_keepalive = false;
		timer_arm(tp, TIMER_SEND_KEEPALIVE, after_seconds(KEEPALIVE_TIMEOUT));
	}
}

static void expired_new_handshake(struct timers *t, struct timers_peer *tp)
{
	/* We sent data and heard nothing back for KEEPALIVE_TIMEOUT +
	 * REKEY_TIMEOUT, though the peer would have sent at least a
	 * keepalive: assume the session is gone and start over. */
	send_initiation(t, tp, false);
}

static void expired_zero_key_material(struct timers *t, struct timers_peer *tp)
{
	t->actions.zero_key_material(tp->owner);
}

static void expired_persistent_keepalive(struct timers *t,
					 struct timers_peer *tp)
{
	if (tp->persistent_keepalive_interval)
		t->actions.send_keepalive(tp->owner);
	else
		persistent_keepalive_turned_off(tp);
}

static void (*const expire[TIMER_COUNT])(struct timers *, struct timers_peer *) = {
	[TIMER_RETRANSMIT_HANDSHAKE] = expired_retransmit_handshake,
	[TIMER_SEND_KEEPALIVE] = expired_send_keepalive,
	[TIMER_NEW_HANDSHAKE] = expired_new_handshake,
	[TIMER_ZERO_KEY_MATERIAL] = expired_zero_key_material,
	[TIMER_PERSISTENT_KEEPALIVE] = expired_persistent_keepalive,
};

void timers_run_expired(struct timers *t)
{
	/* One reading of the clock: every timer an action arms lies after
	 * it (hooks arm at platform_now() + at least 1 ns), so this loop
	 * ends even if actions keep re-arming. */
	xwg_time_t now = platform_now();

	/* Called from an action: the outer loop picks up what is due. */
	if (t->running)
		return;
	while (t->len && t->heap[0].deadline <= now) {
		struct timers_peer *tp = t->heap[0].tp;
		enum timer_kind kind = t->heap[0].kind;

		heap_remove(t, 0);
		t->running = tp;
		t->running_stopped = false;
		expire[kind](t, tp);
	}
	t->running = NULL;
	t->running_stopped = false;
}

xwg_time_t timers_next_deadline(const struct timers *t)
{
	return t->len ? t->heap[0].deadline : 0;
}

/* --- Setup --- */

int timers_init(struct timers *t, const struct timers_actions *actions)
{
	memset(t, 0, sizeof(*t));
	if (!actions || !actions->send_handshake_initiation ||
	    !actions->send_keepalive || !actions->give_up ||
	    !actions->zero_key_material)
		return -EINVAL;
	t->actions = *actions;
	return 0;
}

void timers_uninit(struct timers *t)
{
	unsigned int i;

	for (i = 0; i < t->len; i++) {
		struct timers_peer *tp = t->heap[i].tp;

		tp->deadline[t->heap[i].kind] = 0;
		tp->heap_pos[t->heap[i].kind] = TIMERS_NOT_PENDING;
		tp->is_dead = true;
	}
	free(t->heap);
	memset(t, 0, sizeof(*t));
}

/* Makes room for one more peer's TIMER_COUNT entries. */
static int heap_reserve_peer(struct timers *t)
{
	size_t need = ((size_t)t->peers + 1) * TIMER_COUNT, cap = t->cap;
	struct timers_entry *heap;

	if (need <= t->cap)
		return 0;
	if (need > UINT_MAX)
		return -ENOMEM;
	cap = cap ? cap * 2 : HEAP_MIN_CAP;
	if (cap < need)
		cap = need;
	if (cap > UINT_MAX)
		cap = UINT_MAX;
	heap = realloc(t->heap, cap * sizeof(*heap));
	if (!heap)
		return -ENOMEM;
	t->heap = heap;
	t->cap = (unsigned int)cap;
	return 0;
}

int timers_peer_init(struct timers *t, struct timers_peer *tp, void *owner)
{
	unsigned int kind;
	int ret;

	ret = heap_reserve_peer(t);
	if (ret)
		return ret;
	t->peers++;
	memset(tp, 0, sizeof(*tp));
	tp->timers = t;
	tp->owner = owner;
	for (kind = 0; kind < TIMER_COUNT; kind++)
		tp->heap_pos[kind] = TIMERS_NOT_PENDING;
	return 0;
}

void timers_peer_stop(struct timers_peer *tp)
{
	struct timers *t = tp->timers;
	unsigned int kind;

	if (!t || tp->is_dead)
		return;
	for (kind = 0; kind < TIMER_COUNT; kind++)
		timer_clear(tp, kind);
	tp->is_dead = true;
	t->peers--;
	if (t->running == tp)
		t->running_stopped = true;
}

void timers_peer_restore(struct timers_peer *tp, const struct timers_peer *from)
{
	unsigned int kind;

	tp->handshake_attempts = from->handshake_attempts;
	tp->need_another_keepalive = from->need_another_keepalive;
	tp->sent_lastminute_handshake = from->sent_lastminute_handshake;
	tp->persistent_keepalive_was_on = from->persistent_keepalive_was_on;
	tp->persistent_keepalive_interval = from->persistent_keepalive_interval;
	tp->last_sent_handshake = from->last_sent_handshake;
	/* Arming order breaks ties of equal deadlines; the other process's
	 * order is not known, kind order is as good. */
	for (kind = 0; kind < TIMER_COUNT; kind++)
		if (from->deadline[kind])
			timer_arm(tp, kind, from->deadline[kind]);
}

/* --- Event hooks --- */

void timers_data_sent(struct timers_peer *tp)
{
	/* Measured from the first unanswered packet, not the last. */
	if (!timer_is_pending(tp, TIMER_NEW_HANDSHAKE))
		timer_arm(tp, TIMER_NEW_HANDSHAKE,
			  after_seconds(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT) +
			  rekey_jitter());
}

void timers_data_received(struct timers_peer *tp)
{
	if (!timer_is_pending(tp, TIMER_SEND_KEEPALIVE))
		timer_arm(tp, TIMER_SEND_KEEPALIVE, after_seconds(KEEPALIVE_TIMEOUT));
	else
		tp->need_another_keepalive = true;
}

void timers_any_authenticated_packet_sent(struct timers_peer *tp)
{
	/* Whatever we sent already tells the peer we are alive. */
	timer_clear(tp, TIMER_SEND_KEEPALIVE);
}

void timers_any_authenticated_packet_received(struct timers_peer *tp)
{
	/* The peer is alive: the session works. */
	timer_clear(tp, TIMER_NEW_HANDSHAKE);
}

void timers_any_authenticated_packet_traversal(struct timers_peer *tp)
{
	if (tp->persistent_keepalive_interval)
		timer_arm(tp, TIMER_PERSISTENT_KEEPALIVE,
			  after_seconds(tp->persistent_keepalive_interval));
	else
		persistent_keepalive_turned_off(tp);
}

void timers_handshake_initiated(struct timers_peer *tp)
{
	tp->last_sent_handshake = platform_now();
	timer_arm(tp, TIMER_RETRANSMIT_HANDSHAKE,
		  after_seconds(REKEY_TIMEOUT) + rekey_jitter());
}

void timers_handshake_complete(struct timers_peer *tp)
{
	timer_clear(tp, TIMER_RETRANSMIT_HANDSHAKE);
	tp->handshake_attempts = 0;
	tp->sent_lastminute_handshake = false;
}

void timers_session_derived(struct timers_peer *tp)
{
	timer_arm(tp, TIMER_ZERO_KEY_MATERIAL, after_seconds(ZERO_KEYS_AFTER_TIME));
}

void timers_persistent_keepalive_changed(struct timers_peer *tp)
{
	bool was_on = tp->persistent_keepalive_was_on;
	xwg_time_t due;

	tp->persistent_keepalive_was_on = tp->persistent_keepalive_interval != 0;
	if (!tp->persistent_keepalive_interval) {
		timer_clear(tp, TIMER_PERSISTENT_KEEPALIVE);
		return;
	}
	if (!was_on) {
		/* As the kernel and wireguard-go do when the option is turned
		 * on: one keepalive now, which opens NAT mappings (and starts
		 * a handshake if there is no session yet). 1 ns keeps it out
		 * of a timers_run_expired() in progress. */
		timer_arm(tp, TIMER_PERSISTENT_KEEPALIVE, platform_now() + 1);
		return;
	}
	due = after_seconds(tp->persistent_keepalive_interval);
	if (timer_is_pending(tp, TIMER_PERSISTENT_KEEPALIVE) &&
	    tp->deadline[TIMER_PERSISTENT_KEEPALIVE] > due)
		timer_arm(tp, TIMER_PERSISTENT_KEEPALIVE, due);
}

bool timers_may_send_initiation(struct timers_peer *tp)
{
	if (tp->is_dead)
		return false;
	tp->handshake_attempts = 0;
	if (!birthdate_has_expired(tp->last_sent_handshake, REKEY_TIMEOUT))
		return false;
	tp->last_sent_handshake = platform_now();
	return true;
}

bool timers_may_send_lastminute_initiation(struct timers_peer *tp)
{
	if (tp->is_dead || tp->sent_lastminute_handshake)
		return false;
	tp->sent_lastminute_handshake = true;
	return true;
}

bool timers_should_forget_endpoint_src(const struct timers_peer *tp)
{
	const struct timers *t = tp->timers;

	return t && t->running == tp && t->running_forgets_src &&
	       !t->running_stopped;
}
