/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A minimal table-friendly unit test harness. Each test file defines
 * `void test_<name>(void)` functions and lists them in tests/test_main.c.
 * CHECK counts one assertion; the runner prints "N passed, N failed".
 */
#ifndef XWG_TEST_H
#define XWG_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern unsigned long test_passed, test_failed;
extern const char *test_current;

bool test_check(bool ok, const char *file, int line, const char *expr);

/* One assertion. Evaluates to its truth so a test can stop early. */
#define CHECK(cond) test_check(!!(cond), __FILE__, __LINE__, #cond)
/* An assertion with a printf-style message shown on failure. */
#define CHECKF(cond, ...)                                             \
	(test_check(!!(cond), __FILE__, __LINE__, #cond) ? true :     \
	 (fprintf(stderr, "    "), fprintf(stderr, __VA_ARGS__),      \
	  fprintf(stderr, "\n"), false))

/* Decode a hex string into buf (at most cap bytes); returns the length, or
 * (size_t)-1 on bad hex. */
size_t test_unhex(uint8_t *buf, size_t cap, const char *hex);
/* CHECK that len bytes at got equal the hex string want. */
#define CHECK_HEX(got, len, want) \
	test_check_hex((got), (len), (want), __FILE__, __LINE__, #got)
bool test_check_hex(const void *got, size_t len, const char *want,
		    const char *file, int line, const char *expr);

/* A deterministic pseudo-random generator for tests (xorshift64*). */
uint64_t test_rand(void);
void test_rand_seed(uint64_t seed);
void test_rand_bytes(void *buf, size_t len);

/* Fake clock for the platform seam: tests move it by hand. */
void test_clock_install(uint64_t start_ns);
void test_clock_advance(uint64_t ns);
void test_clock_uninstall(void);

#endif
