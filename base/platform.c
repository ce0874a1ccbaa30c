// SPDX-License-Identifier: GPL-2.0
#include "platform.h"

#include <sodium.h>
#include <time.h>

#include "constants.h"

static xwg_time_t real_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (xwg_time_t)ts.tv_sec * NSEC_PER_SEC + (xwg_time_t)ts.tv_nsec;
}

static void real_wall_clock(uint64_t *sec, uint32_t *nsec)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = (uint64_t)ts.tv_sec;
	*nsec = (uint32_t)ts.tv_nsec;
}

static void real_random(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

static struct platform_ops ops = {
	.now = real_now,
	.wall_clock = real_wall_clock,
	.random = real_random,
};

void platform_set_ops(const struct platform_ops *o)
{
	ops.now = o && o->now ? o->now : real_now;
	ops.wall_clock = o && o->wall_clock ? o->wall_clock : real_wall_clock;
	ops.random = o && o->random ? o->random : real_random;
}

static _Thread_local xwg_time_t held_now;
static _Thread_local unsigned int held_depth;

xwg_time_t platform_now(void)
{
	return held_depth ? held_now : ops.now();
}

void platform_clock_hold(void)
{
	if (!held_depth++)
		held_now = ops.now();
}

void platform_clock_release(void)
{
	if (held_depth)
		held_depth--;
}

void platform_wall_clock(uint64_t *sec, uint32_t *nsec)
{
	ops.wall_clock(sec, nsec);
}

void platform_random(void *buf, size_t len)
{
	ops.random(buf, len);
}

uint32_t platform_random_u32(void)
{
	uint32_t v;

	ops.random(&v, sizeof(v));
	return v;
}

bool birthdate_has_expired(xwg_time_t birthdate, uint64_t seconds)
{
	/* 0 means "never": such a birthdate is always expired. */
	if (!birthdate)
		return true;
	return platform_now() >= birthdate + seconds * NSEC_PER_SEC;
}
