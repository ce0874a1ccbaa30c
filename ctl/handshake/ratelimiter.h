/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-source token bucket for handshake messages under load (whitepaper 5.3):
 * once a message has a valid mac1 and mac2, its source may still send only
 * RATELIMITER_PACKETS_PER_SECOND, with a burst of
 * RATELIMITER_PACKETS_BURSTABLE. An IPv4 source is its address, an IPv6
 * source its /64 (one host usually owns a whole /64).
 *
 * The table is preallocated at create: no allocation per packet. It is an
 * open-addressing hash keyed with a random secret (SipHash-2-4), so a sender
 * cannot choose addresses that collide.
 *
 * Capacity: at most max_entries sources are tracked. A source idle for 1 s or
 * more has a full bucket again, so its entry carries no state and may be
 * reused. When the table is full, a new source takes over the entry of the
 * least recently active source if that one has been idle for a second;
 * otherwise every tracked source sent within the last second and the new one
 * is refused: the limiter FAILS CLOSED, as the kernel's does, since admitting
 * untracked sources would make it no limit at all. Known sources keep being
 * served. The cost per packet is O(1) plus a probe along a short run of the
 * hash table.
 *
 * Not thread-safe: the caller serialises (one handshake worker or a lock).
 */
#ifndef XWG_RATELIMITER_H
#define XWG_RATELIMITER_H

#include <stdbool.h>
#include <stddef.h>

struct ratelimiter;

/* max_entries sources, 1 .. 2^30; the table has twice as many slots rounded
 * up to a power of two (40 bytes each). NULL with errno ENOMEM, or EINVAL
 * for a max_entries out of range. Keys the hash with platform_random. */
struct ratelimiter *ratelimiter_create(size_t max_entries);
/* NULL is fine. */
void ratelimiter_destroy(struct ratelimiter *rl);

/* One handshake message from addr: true to process it, false to drop it.
 * family is AF_INET or AF_INET6 with addr 4 or 16 bytes in network order;
 * any other family is refused. Time comes from platform_now(). */
bool ratelimiter_allow(struct ratelimiter *rl, int family, const void *addr);

#endif
