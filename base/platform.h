/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one seam between protocol code and the outside world: the clock and
 * random bytes. Production uses CLOCK_MONOTONIC / CLOCK_REALTIME and
 * libsodium's randombytes; unit tests install a fake clock and, where they
 * need reproducible bytes, a deterministic source.
 */
#ifndef XWG_PLATFORM_H
#define XWG_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Monotonic time in nanoseconds: the one time type of the protocol code. */
typedef uint64_t xwg_time_t;

xwg_time_t platform_now(void);
/* Wall clock (for TAI64N and last-handshake reporting). */
void platform_wall_clock(uint64_t *sec, uint32_t *nsec);
void platform_random(void *buf, size_t len);
uint32_t platform_random_u32(void);

/* One reading of the clock for a whole batch of packets: between hold and
 * release, platform_now() on the calling thread returns the time of the
 * outermost hold (holds nest). The timer hooks of every packet read the
 * clock several times; a batch lasts microseconds, far below the
 * protocol's resolution (whole seconds, and the kernel's jiffies). Other
 * threads keep reading the clock. */
void platform_clock_hold(void);
void platform_clock_release(void);

/* True when birthdate is at least `seconds` ago (or is 0: never set). */
bool birthdate_has_expired(xwg_time_t birthdate, uint64_t seconds);

/* Test hooks: a NULL function restores the real one. */
struct platform_ops {
	xwg_time_t (*now)(void);
	void (*wall_clock)(uint64_t *sec, uint32_t *nsec);
	void (*random)(void *buf, size_t len);
};
void platform_set_ops(const struct platform_ops *ops);

#endif
