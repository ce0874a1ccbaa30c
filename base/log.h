/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Logging for xwgd: stderr in the foreground, syslog once detached.
 * LOG_LEVEL=silent|error|info|verbose|debug (wireguard-go's variable and
 * words; verbose = debug) picks how much. Never pass a key to these.
 */
#ifndef XWG_LOG_H
#define XWG_LOG_H

#include <stdbool.h>

enum log_level { LOG_LEVEL_SILENT, LOG_LEVEL_ERROR, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Reads LOG_LEVEL; false (and the level unchanged) for an unknown word. */
bool log_init_from_env(const char *ifname);
void log_set_level(enum log_level level);
/* What each line starts with (and the syslog ident): "xwgd(IFNAME)" after
 * log_init_from_env; other programs on this logger name themselves. */
void log_set_prefix(const char *prefix);
void log_use_syslog(bool on);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
