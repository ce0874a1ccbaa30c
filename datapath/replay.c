// SPDX-License-Identifier: GPL-2.0
/*
 * Replay window, RFC 6479 ("IPsec Anti-Replay Algorithm without Bit
 * Shifting"): instead of shifting a bitmap as the window moves, the bitmap is
 * a ring of blocks and moving forward only zeroes the blocks being entered.
 * The cost of a packet is O(1) except for a jump ahead, which clears at most
 * REPLAY_BLOCKS words.
 */
#include "replay.h"

#include <string.h>

void replay_counter_init(struct replay_counter *r)
{
	memset(r, 0, sizeof(*r));
}

/*
 * Make their_counter the highest. Blocks above the live one still hold the
 * bits of counters a whole ring behind; zero every block being entered, from
 * the first one past the highest counter's block up to their_counter's.
 */
static void window_advance(struct replay_counter *r, uint64_t their_counter)
{
	/* r->counter is highest + 1: rounding it up gives the first block that
	 * holds no accepted counter (block 0 before the first packet). */
	uint64_t first = (r->counter + REPLAY_BITS_PER_BLOCK - 1) /
			 REPLAY_BITS_PER_BLOCK;
	uint64_t last = their_counter / REPLAY_BITS_PER_BLOCK;
	uint64_t n, i;

	if (last >= first) {
		n = last - first + 1;
		if (n > REPLAY_BLOCKS)
			n = REPLAY_BLOCKS;
		for (i = 0; i < n; i++)
			r->backtrack[(first + i) % REPLAY_BLOCKS] = 0;
	}
	r->counter = their_counter + 1;
}

bool replay_counter_validate(struct replay_counter *r, uint64_t their_counter)
{
	unsigned long bit, *word;

	/* Whitepaper 6.1: past this a keypair must not be used at all. Checked
	 * first so that r->counter never exceeds REJECT_AFTER_MESSAGES. */
	if (their_counter >= REJECT_AFTER_MESSAGES)
		return false;

	if (their_counter >= r->counter)
		window_advance(r, their_counter);
	else if (r->counter - 1 - their_counter > REPLAY_WINDOW_SIZE)
		return false;  /* too old: its block may have been reused */

	/* Within REPLAY_WINDOW_SIZE of the highest counter, its block is at
	 * most REPLAY_BLOCKS - 1 behind the highest's, so its ring slot still
	 * belongs to it. */
	word = &r->backtrack[(their_counter / REPLAY_BITS_PER_BLOCK) %
			     REPLAY_BLOCKS];
	bit = 1UL << (their_counter % REPLAY_BITS_PER_BLOCK);
	if (*word & bit)
		return false;  /* duplicate */
	*word |= bit;
	return true;
}
