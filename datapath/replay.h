/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The receive-side replay window of one keypair (whitepaper 5.4.6, RFC 6479).
 *
 * A ring of REPLAY_BLOCKS blocks of REPLAY_BITS_PER_BLOCK bits each; bit b of
 * ring slot s records counter (block * REPLAY_BITS_PER_BLOCK + b) where
 * block % REPLAY_BLOCKS == s. The block holding the highest counter is always
 * live, so COUNTER_BITS_TOTAL - REPLAY_BITS_PER_BLOCK bits behind it are too:
 *
 *   guaranteed window: a counter is accepted (once) when
 *   highest - REPLAY_WINDOW_SIZE <= counter, where REPLAY_WINDOW_SIZE is
 *   COUNTER_BITS_TOTAL - REPLAY_BITS_PER_BLOCK = 8128 with 64-bit longs:
 *   up to 8128 behind the highest counter accepted so far is in, 8129 or
 *   more behind is too old.
 *
 * The rule is exact, not "at least": it does not depend on where the highest
 * counter sits inside its block.
 */
#ifndef XWG_REPLAY_H
#define XWG_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "constants.h"

#define REPLAY_BITS_PER_BLOCK (8 * sizeof(unsigned long))
#define REPLAY_BLOCKS (COUNTER_BITS_TOTAL / REPLAY_BITS_PER_BLOCK)
#define REPLAY_WINDOW_SIZE (COUNTER_BITS_TOTAL - REPLAY_BITS_PER_BLOCK)

_Static_assert(COUNTER_BITS_TOTAL % (8 * sizeof(unsigned long)) == 0,
	       "the window is a whole number of blocks");
_Static_assert((COUNTER_BITS_TOTAL / (8 * sizeof(unsigned long)) &
		(COUNTER_BITS_TOTAL / (8 * sizeof(unsigned long)) - 1)) == 0,
	       "the ring has a power-of-two number of blocks");

struct replay_counter {
	/* Highest counter accepted + 1; 0 until the first one. Everything at
	 * or above it is unseen. */
	uint64_t counter;
	unsigned long backtrack[REPLAY_BLOCKS];
};

void replay_counter_init(struct replay_counter *r);

/*
 * Call only AFTER the packet authenticated, or an attacker could move the
 * window with forged counters. Returns true and records their_counter when it
 * is new and inside the window; false for a duplicate, a counter more than
 * REPLAY_WINDOW_SIZE behind the highest, or one >= REJECT_AFTER_MESSAGES.
 * Not thread-safe: the caller serialises per keypair.
 */
bool replay_counter_validate(struct replay_counter *r, uint64_t their_counter);

#endif
