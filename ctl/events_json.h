/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The event stream's JSON (ctl/events.h says what a line holds): members
 * appended to a uapi_buf, and whole lines. Strings are escaped as JSON
 * wants and every byte outside printable ASCII is written \u00XX (read as
 * Latin-1), so a line is plain ASCII and valid JSON whatever the bytes
 * were. Endpoints and prefixes are written as wg(8) shows them, by the
 * configuration socket's own formatting (ctl/uapi.h).
 */
#ifndef XWG_CTL_EVENTS_JSON_H
#define XWG_CTL_EVENTS_JSON_H

#include <stdint.h>
#include <sys/socket.h>

#include "ctl/uapi.h"

/* ---- JSON members: each appends ,"key":value (no comma first in an
 * empty buffer) to b, the members of one event. ---- */
void events_json_str(struct uapi_buf *b, const char *key, const char *value);
void events_json_u64(struct uapi_buf *b, const char *key, uint64_t value);
/* A 32-byte public key, base64 (as wg(8) shows it). */
void events_json_key(struct uapi_buf *b, const char *key, const uint8_t pub[32]);
/* "1.2.3.4:51820", "[2001:db8::1]:51820" (as wg(8) shows it), or null
 * when sa is NULL or of another family (no endpoint). */
void events_json_endpoint(struct uapi_buf *b, const char *key, const struct sockaddr *sa);
/* An array of strings, opened/appended/closed in turn. */
void events_json_array_open(struct uapi_buf *b, const char *key);
void events_json_array_str(struct uapi_buf *b, const char *value);
void events_json_array_close(struct uapi_buf *b);

/* One line: {"seq":..,"time":..,"interface":..,"event":..,FIELDS}\n into
 * out (appended). seq 0 leaves seq out (a per-reader line). fields may be
 * NULL or "". */
void events_line_format(struct uapi_buf *out, uint64_t seq, uint64_t sec, uint32_t nsec,
			const char *ifname, const char *event, const char *fields);

#endif
