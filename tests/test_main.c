// SPDX-License-Identifier: GPL-2.0
/*
 * Unit test runner: runs every suite (or those named on the command line)
 * and prints "N passed, N failed" as its last line.
 */
#include <stdlib.h>
#include <string.h>

#include "constants.h"
#include "ctl/handshake/crypto.h"
#include "base/platform.h"
#include "test.h"
#include "tests/suites.h"

unsigned long test_passed, test_failed;
const char *test_current = "";

bool test_check(bool ok, const char *file, int line, const char *expr)
{
	if (ok) {
		test_passed++;
		return true;
	}
	test_failed++;
	fprintf(stderr, "FAIL [%s] %s:%d: %s\n", test_current, file, line, expr);
	return false;
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t test_unhex(uint8_t *buf, size_t cap, const char *hex)
{
	size_t n = strlen(hex), i;

	if (n % 2 || n / 2 > cap)
		return (size_t)-1;
	for (i = 0; i < n / 2; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return (size_t)-1;
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	return n / 2;
}

bool test_check_hex(const void *got, size_t len, const char *want,
		    const char *file, int line, const char *expr)
{
	const uint8_t *g = got;
	size_t i, wlen = strlen(want);
	bool ok = wlen == 2 * len;

	for (i = 0; ok && i < len; i++) {
		char two[3];

		snprintf(two, sizeof(two), "%02x", g[i]);
		ok = (two[0] == want[2 * i] || two[0] == (want[2 * i] | 0x20)) &&
		     (two[1] == want[2 * i + 1] || two[1] == (want[2 * i + 1] | 0x20));
	}
	if (!test_check(ok, file, line, expr)) {
		fprintf(stderr, "    want %s\n    got  ", want);
		for (i = 0; i < len; i++)
			fprintf(stderr, "%02x", g[i]);
		fprintf(stderr, "\n");
	}
	return ok;
}

static uint64_t rand_state = 0x9e3779b97f4a7c15ULL;

void test_rand_seed(uint64_t seed)
{
	rand_state = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

uint64_t test_rand(void)
{
	rand_state ^= rand_state >> 12;
	rand_state ^= rand_state << 25;
	rand_state ^= rand_state >> 27;
	return rand_state * 0x2545f4914f6cdd1dULL;
}

void test_rand_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len--)
		*p++ = (uint8_t)(test_rand() >> 56);
}

static uint64_t fake_now;

static xwg_time_t fake_clock(void)
{
	return fake_now;
}

/* The wall clock follows the fake monotonic one from a fixed epoch, so
 * TAI64N timestamps advance exactly as the test moves time. */
static void fake_wall_clock(uint64_t *sec, uint32_t *nsec)
{
	uint64_t t = 1700000000ULL * NSEC_PER_SEC + fake_now;

	*sec = t / NSEC_PER_SEC;
	*nsec = (uint32_t)(t % NSEC_PER_SEC);
}

void test_clock_install(uint64_t start_ns)
{
	struct platform_ops ops = { .now = fake_clock, .wall_clock = fake_wall_clock };

	fake_now = start_ns;
	platform_set_ops(&ops);
}

void test_clock_advance(uint64_t ns)
{
	fake_now += ns;
}

void test_clock_uninstall(void)
{
	platform_set_ops(NULL);
}

#define SUITE(name) { #name, test_##name },
static const struct {
	const char *name;
	void (*run)(void);
} suites[] = { TEST_SUITES };
#undef SUITE

int main(int argc, char **argv)
{
	size_t i;
	int a;

	if (!crypto_init()) {
		fprintf(stderr, "libsodium failed to initialise\n");
		return 2;
	}
	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		unsigned long p = test_passed, f = test_failed;
		bool wanted = argc < 2;

		for (a = 1; a < argc; a++)
			wanted |= !strcmp(argv[a], suites[i].name);
		if (!wanted)
			continue;
		test_current = suites[i].name;
		suites[i].run();
		test_clock_uninstall();
		printf("%-24s %lu passed, %lu failed\n", suites[i].name,
		       test_passed - p, test_failed - f);
	}
	printf("%lu passed, %lu failed\n", test_passed, test_failed);
	return test_failed ? 1 : 0;
}
