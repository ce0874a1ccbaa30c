// SPDX-License-Identifier: GPL-2.0
/*
 * Handshake ratelimiter: a token bucket per source (whitepaper 5.3), with the
 * semantics of the kernel's drivers/net/wireguard/ratelimiter.c. Tokens are
 * nanoseconds of credit: each packet costs PACKET_COST, credit accrues with
 * time up to TOKEN_MAX, so a fresh source gets a burst of
 * RATELIMITER_PACKETS_BURSTABLE and then RATELIMITER_PACKETS_PER_SECOND.
 *
 * The table: linear probing over a power-of-two array of slots holding at
 * most half as many entries, so probe runs stay short. Invariant: every entry
 * is reachable from its home slot without crossing an empty slot; removal is
 * by backward shift, which keeps it.
 *
 * Every entry is also on a list ordered by activity, least recent first.
 * last_time only ever moves forward to now (the clock is monotonic), so
 * moving an entry to the end on each of its packets keeps the list sorted by
 * last_time: when the table is full, the first entry is the only one that
 * can be idle, and checking it alone decides whether room can be made.
 */
#include "ratelimiter.h"

#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "constants.h"
#include "base/platform.h"

#define PACKET_COST (NSEC_PER_SEC / RATELIMITER_PACKETS_PER_SECOND)
#define TOKEN_MAX (PACKET_COST * RATELIMITER_PACKETS_BURSTABLE)
/* A source idle this long has a full bucket: its entry holds nothing. */
#define ENTRY_IDLE_SECONDS 1
_Static_assert(TOKEN_MAX <= ENTRY_IDLE_SECONDS * NSEC_PER_SEC,
	       "an idle entry must have refilled completely");
#define MAX_ENTRIES_LIMIT ((size_t)1 << 30)
#define NO_SLOT UINT32_MAX

enum {
	KEY_EMPTY = 0,  /* a free slot */
	KEY_INET = 4,
	KEY_INET6 = 6,
};

struct source_key {
	uint8_t family;   /* KEY_INET or KEY_INET6 */
	uint8_t addr[8];  /* the IPv4 address (zero padded) or the IPv6 /64 */
};

struct ratelimiter_entry {
	xwg_time_t last_time;  /* platform_now() of its last packet */
	uint64_t tokens;       /* credit in ns, at most TOKEN_MAX */
	uint8_t addr[8];
	uint32_t home;         /* the slot its key hashes to */
	uint32_t prev, next;   /* the activity list, NO_SLOT at the ends */
	uint8_t family;        /* KEY_EMPTY for a free slot */
};

struct ratelimiter {
	struct ratelimiter_entry *slots;
	size_t mask;         /* number of slots - 1 */
	size_t used;
	size_t max_entries;
	uint32_t least_recent, most_recent;  /* list ends, NO_SLOT if empty */
	uint8_t secret[crypto_shorthash_KEYBYTES];
};

struct ratelimiter *ratelimiter_create(size_t max_entries)
{
	struct ratelimiter *rl;
	size_t nslots = 1;

	if (!max_entries || max_entries > MAX_ENTRIES_LIMIT) {
		errno = EINVAL;
		return NULL;
	}
	while (nslots < 2 * max_entries)
		nslots <<= 1;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		goto err_rl;
	rl->slots = calloc(nslots, sizeof(*rl->slots));
	if (!rl->slots)
		goto err_slots;
	rl->mask = nslots - 1;
	rl->max_entries = max_entries;
	rl->least_recent = rl->most_recent = NO_SLOT;
	platform_random(rl->secret, sizeof(rl->secret));
	return rl;

err_slots:
	free(rl);
err_rl:
	errno = ENOMEM;
	return NULL;
}

void ratelimiter_destroy(struct ratelimiter *rl)
{
	if (!rl)
		return;
	sodium_memzero(rl->secret, sizeof(rl->secret));
	free(rl->slots);
	free(rl);
}

static bool source_key_init(struct source_key *key, int family, const void *addr)
{
	memset(key, 0, sizeof(*key));
	switch (family) {
	case AF_INET:
		key->family = KEY_INET;
		memcpy(key->addr, addr, 4);
		return true;
	case AF_INET6:
		key->family = KEY_INET6;
		memcpy(key->addr, addr, 8);  /* the /64 prefix */
		return true;
	default:
		return false;
	}
}

static uint32_t source_key_home(const struct ratelimiter *rl,
				const struct source_key *key)
{
	uint8_t in[1 + sizeof(key->addr)], out[crypto_shorthash_BYTES];
	uint64_t h;

	in[0] = key->family;
	memcpy(in + 1, key->addr, sizeof(key->addr));
	crypto_shorthash(out, in, sizeof(in), rl->secret);
	memcpy(&h, out, sizeof(h));
	return (uint32_t)(h & rl->mask);
}

/*
 * Walk key's probe run. True with *slot at its entry, or false with *slot at
 * the empty slot that ends the run. At most half the slots are used, so
 * there is one.
 */
static bool lookup(const struct ratelimiter *rl, const struct source_key *key,
		   uint32_t home, uint32_t *slot)
{
	uint32_t i;

	for (i = home;; i = (i + 1) & rl->mask) {
		const struct ratelimiter_entry *e = &rl->slots[i];

		if (e->family == KEY_EMPTY)
			break;
		if (e->family == key->family &&
		    !memcmp(e->addr, key->addr, sizeof(e->addr)))
			break;
	}
	*slot = i;
	return rl->slots[i].family != KEY_EMPTY;
}

static void list_unlink(struct ratelimiter *rl, uint32_t i)
{
	struct ratelimiter_entry *e = &rl->slots[i];

	if (e->prev != NO_SLOT)
		rl->slots[e->prev].next = e->next;
	else
		rl->least_recent = e->next;
	if (e->next != NO_SLOT)
		rl->slots[e->next].prev = e->prev;
	else
		rl->most_recent = e->prev;
}

static void list_append(struct ratelimiter *rl, uint32_t i)
{
	struct ratelimiter_entry *e = &rl->slots[i];

	e->prev = rl->most_recent;
	e->next = NO_SLOT;
	if (rl->most_recent != NO_SLOT)
		rl->slots[rl->most_recent].next = i;
	else
		rl->least_recent = i;
	rl->most_recent = i;
}

/* Move the entry at `from` to the free slot `to`, and its list links. */
static void slot_move(struct ratelimiter *rl, uint32_t from, uint32_t to)
{
	struct ratelimiter_entry *e = &rl->slots[to];

	*e = rl->slots[from];
	if (e->prev != NO_SLOT)
		rl->slots[e->prev].next = to;
	else
		rl->least_recent = to;
	if (e->next != NO_SLOT)
		rl->slots[e->next].prev = to;
	else
		rl->most_recent = to;
}

/* Backward-shift deletion: pull later entries of the run into the hole
 * unless that would put one before its home slot. */
static void slot_remove(struct ratelimiter *rl, uint32_t hole)
{
	uint32_t j = hole;

	list_unlink(rl, hole);
	for (;;) {
		const struct ratelimiter_entry *e;

		j = (j + 1) & rl->mask;
		e = &rl->slots[j];
		if (e->family == KEY_EMPTY)
			break;
		if (((j - e->home) & rl->mask) >= ((j - hole) & rl->mask)) {
			slot_move(rl, j, hole);
			hole = j;
		}
	}
	memset(&rl->slots[hole], 0, sizeof(rl->slots[hole]));
	rl->used--;
}

static bool entry_take_token(struct ratelimiter_entry *e, xwg_time_t now)
{
	uint64_t elapsed = now > e->last_time ? now - e->last_time : 0;
	uint64_t tokens;

	if (elapsed > TOKEN_MAX)
		elapsed = TOKEN_MAX;  /* also keeps the sum below from wrapping */
	tokens = e->tokens + elapsed;
	if (tokens > TOKEN_MAX)
		tokens = TOKEN_MAX;
	/* A refused packet still moves last_time: a source that keeps
	 * sending stays tracked and earns no credit while refused. */
	e->last_time = now;
	if (tokens < PACKET_COST) {
		e->tokens = tokens;
		return false;
	}
	e->tokens = tokens - PACKET_COST;
	return true;
}

bool ratelimiter_allow(struct ratelimiter *rl, int family, const void *addr)
{
	struct ratelimiter_entry *e;
	struct source_key key;
	uint32_t home, i;
	xwg_time_t now;

	if (!source_key_init(&key, family, addr))
		return false;
	now = platform_now();
	home = source_key_home(rl, &key);
	if (lookup(rl, &key, home, &i)) {
		if (i != rl->most_recent) {
			list_unlink(rl, i);
			list_append(rl, i);
		}
		return entry_take_token(&rl->slots[i], now);
	}

	if (rl->used >= rl->max_entries) {
		/* The least recently active entry is the most idle one. */
		if (!birthdate_has_expired(rl->slots[rl->least_recent].last_time,
					   ENTRY_IDLE_SECONDS))
			return false;  /* fail closed: see ratelimiter.h */
		slot_remove(rl, rl->least_recent);
		lookup(rl, &key, home, &i);  /* the run may have shifted */
	}

	/* A new source's first packet: a full bucket less this packet. */
	e = &rl->slots[i];
	e->family = key.family;
	memcpy(e->addr, key.addr, sizeof(e->addr));
	e->home = home;
	e->last_time = now;
	e->tokens = TOKEN_MAX - PACKET_COST;
	list_append(rl, i);
	rl->used++;
	return true;
}
