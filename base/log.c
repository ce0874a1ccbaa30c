// SPDX-License-Identifier: GPL-2.0
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static enum log_level level = LOG_LEVEL_INFO;
static bool to_syslog;
static char prefix[64] = "xwgd";

void log_set_prefix(const char *p)
{
	snprintf(prefix, sizeof(prefix), "%s", p);
}

bool log_init_from_env(const char *ifname)
{
	static const struct {
		const char *word;
		enum log_level level;
	} words[] = {
		{ "silent", LOG_LEVEL_SILENT }, { "error", LOG_LEVEL_ERROR },
		{ "info", LOG_LEVEL_INFO }, { "verbose", LOG_LEVEL_DEBUG },
		{ "debug", LOG_LEVEL_DEBUG },
	};
	const char *v = getenv("LOG_LEVEL");
	size_t i;

	if (ifname)
		snprintf(prefix, sizeof(prefix), "xwgd(%s)", ifname);
	if (!v || !*v)
		return true;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(v, words[i].word)) {
			level = words[i].level;
			return true;
		}
	return false;
}

void log_set_level(enum log_level l)
{
	level = l;
}

void log_use_syslog(bool on)
{
	if (on && !to_syslog)
		openlog(prefix, LOG_PID, LOG_DAEMON);
	to_syslog = on;
}

void log_msg(enum log_level l, const char *fmt, ...)
{
	va_list ap;

	if (l > level || l == LOG_LEVEL_SILENT)
		return;
	va_start(ap, fmt);
	if (to_syslog) {
		vsyslog(l == LOG_LEVEL_ERROR ? LOG_ERR : l == LOG_LEVEL_INFO ? LOG_INFO : LOG_DEBUG,
			fmt, ap);
	} else {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y/%m/%d %H:%M:%S", &tm);
		fprintf(stderr, "%s: %s: %s: ", prefix,
			l == LOG_LEVEL_ERROR ? "ERROR" : l == LOG_LEVEL_INFO ? "INFO" : "DEBUG", when);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
}
