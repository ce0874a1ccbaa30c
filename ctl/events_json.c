// SPDX-License-Identifier: GPL-2.0
/*
 * JSON members and lines of the event stream (events_json.h).
 */
#include "ctl/events_json.h"
#include "base/addr.h"

#include <netinet/in.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static bool is_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

static void json_escaped(struct uapi_buf *b, const char *s)
{
	const unsigned char *p, *run;

	uapi_buf_printf(b, "\"");
	for (p = (const unsigned char *)s; *p; p++) {
		/* Plain runs in one piece. */
		for (run = p; is_plain(*p); p++)
			;
		if (p > run)
			uapi_buf_printf(b, "%.*s", (int)(p - run), (const char *)run);
		if (!*p)
			break;
		if (*p == '"' || *p == '\\')
			uapi_buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			uapi_buf_printf(b, "\\n");
		else if (*p == '\t')
			uapi_buf_printf(b, "\\t");
		else
			/* Controls, and bytes past ASCII as Latin-1: the line
			 * stays ASCII and valid JSON whatever they were. */
			uapi_buf_printf(b, "\\u%04x", *p);
	}
	uapi_buf_printf(b, "\"");
}

static void json_key(struct uapi_buf *b, const char *key)
{
	if (b->len && b->data[b->len - 1] != '[')
		uapi_buf_printf(b, ",");
	json_escaped(b, key);
	uapi_buf_printf(b, ":");
}

void events_json_str(struct uapi_buf *b, const char *key, const char *value)
{
	json_key(b, key);
	json_escaped(b, value);
}

void events_json_u64(struct uapi_buf *b, const char *key, uint64_t value)
{
	json_key(b, key);
	uapi_buf_printf(b, "%llu", (unsigned long long)value);
}

void events_json_key(struct uapi_buf *b, const char *key, const uint8_t pub[32])
{
	char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];

	sodium_bin2base64(b64, sizeof(b64), pub, 32, sodium_base64_VARIANT_ORIGINAL);
	events_json_str(b, key, b64);
}

void events_json_endpoint(struct uapi_buf *b, const char *key, const struct sockaddr *sa)
{
	char ep[96];

	json_key(b, key);
	if (sa && addr_format_endpoint(ep, sizeof(ep), sa))
		json_escaped(b, ep);
	else
		uapi_buf_printf(b, "null");
}

void events_json_array_open(struct uapi_buf *b, const char *key)
{
	json_key(b, key);
	uapi_buf_printf(b, "[");
}

void events_json_array_str(struct uapi_buf *b, const char *value)
{
	if (b->len && b->data[b->len - 1] != '[')
		uapi_buf_printf(b, ",");
	json_escaped(b, value);
}

void events_json_array_close(struct uapi_buf *b)
{
	uapi_buf_printf(b, "]");
}

void events_line_format(struct uapi_buf *out, uint64_t seq, uint64_t sec, uint32_t nsec,
			const char *ifname, const char *event, const char *fields)
{
	time_t t = (time_t)sec;
	struct tm tm;
	char when[80];

	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned int)(nsec / 1000000) % 1000);
	uapi_buf_printf(out, "{");
	if (seq)
		uapi_buf_printf(out, "\"seq\":%llu,", (unsigned long long)seq);
	uapi_buf_printf(out, "\"time\":\"%s\",\"interface\":", when);
	json_escaped(out, ifname);
	uapi_buf_printf(out, ",\"event\":");
	json_escaped(out, event);
	if (fields && *fields)
		uapi_buf_printf(out, ",%s", fields);
	uapi_buf_printf(out, "}\n");
}
