// SPDX-License-Identifier: GPL-2.0
/* xwg-mesh: event stream lines. See event_parse.h. */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "mesh/event_parse.h"

/* Longest value kept: a base64 key is 44 characters, event names fewer. */
#define VALUE_MAX 64
/* Nesting skipped in members these metrics ignore (the daemon writes at
 * most an array of strings). */
#define DEPTH_MAX 16

struct scan {
	const char *p, *end;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
		s->p++;
}

static bool eat(struct scan *s, char c)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == c) {
		s->p++;
		return true;
	}
	return false;
}

/* A string at s->p (after skip_ws). Copied into buf when it fits and has
 * no escape (the values read here never need one); *plain says whether it
 * was. -EINVAL if unterminated. */
static int string_read(struct scan *s, char *buf, size_t cap, bool *plain)
{
	size_t n = 0;

	*plain = true;
	if (!eat(s, '"'))
		return -EINVAL;
	while (s->p < s->end) {
		char c = *s->p++;

		if (c == '"') {
			if (cap)
				buf[n < cap ? n : cap - 1] = '\0';
			return 0;
		}
		if ((unsigned char)c < 0x20)
			return -EINVAL;
		if (c == '\\') {
			if (s->p == s->end)
				return -EINVAL;
			s->p++;
			*plain = false;
			continue;
		}
		if (n + 1 < cap)
			buf[n++] = c;
		else
			*plain = false;
	}
	return -EINVAL;
}

/* Any value: a string, a number or literal, or an array or object
 * (brackets counted, strings inside skipped whole). */
static int value_skip(struct scan *s)
{
	int depth = 0;
	bool plain;

	skip_ws(s);
	if (s->p == s->end)
		return -EINVAL;
	if (*s->p == '"')
		return string_read(s, NULL, 0, &plain);
	if (*s->p != '[' && *s->p != '{') {
		const char *start = s->p;

		while (s->p < s->end && (strchr("+-.eE", *s->p) ||
					 (*s->p >= '0' && *s->p <= '9') ||
					 (*s->p >= 'a' && *s->p <= 'z')))
			s->p++;
		return s->p > start ? 0 : -EINVAL;
	}
	while (s->p < s->end) {
		char c = *s->p;

		if (c == '"') {
			if (string_read(s, NULL, 0, &plain))
				return -EINVAL;
			continue;
		}
		s->p++;
		if (c == '[' || c == '{') {
			if (++depth > DEPTH_MAX)
				return -EINVAL;
		} else if (c == ']' || c == '}') {
			if (--depth == 0)
				return 0;
		}
	}
	return -EINVAL;
}

static int count_read(struct scan *s, uint64_t *v)
{
	const char *start;

	skip_ws(s);
	start = s->p;
	*v = 0;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		uint64_t d = (uint64_t)(*s->p - '0');

		if (*v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		*v = *v * 10 + d;
		s->p++;
	}
	return s->p > start ? 0 : -EINVAL;
}

static const struct {
	const char *name;
	enum mesh_event_kind kind;
} kinds[] = {
	{ "subscribed", MESH_EVENT_SUBSCRIBED },
	{ "handshake_completed", MESH_EVENT_HANDSHAKE_COMPLETED },
	{ "endpoint_changed", MESH_EVENT_ENDPOINT_CHANGED },
	{ "peer_removed", MESH_EVENT_PEER_REMOVED },
	{ "events_lost", MESH_EVENT_EVENTS_LOST },
	{ "refused", MESH_EVENT_REFUSED },
};

static const char *const role_names[MESH_EVENT_ROLES] = { "initiator", "responder" };
static const char *const cause_names[MESH_EVENT_CAUSES] = { "configuration", "roaming" };

const char *mesh_event_role_name(enum mesh_event_role r)
{
	return r < MESH_EVENT_ROLES ? role_names[r] : "";
}

const char *mesh_event_cause_name(enum mesh_event_cause c)
{
	return c < MESH_EVENT_CAUSES ? cause_names[c] : "";
}

static int name_index(const char *const *names, int n, const char *v)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], v))
			return i;
	return -1;
}

/* A public key as wg(8) prints it: 44 characters of base64, 32 bytes. */
static int peer_decode(const char *b64, uint8_t key[32])
{
	size_t n = 0;

	if (strlen(b64) != 44 ||
	    sodium_base642bin(key, 32, b64, 44, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) ||
	    n != 32)
		return -EINVAL;
	return 0;
}

int mesh_event_parse(const char *line, size_t len, struct mesh_event *ev)
{
	struct scan s = { line, line + len };
	char key[16], event[VALUE_MAX] = "", peer[VALUE_MAX] = "", role[VALUE_MAX] = "",
	     cause[VALUE_MAX] = "";
	bool have_event = false, have_count = false, plain;
	int r;

	memset(ev, 0, sizeof(*ev));
	if (!eat(&s, '{'))
		return -EINVAL;
	if (!eat(&s, '}')) {
		do {
			char *dst = NULL;

			skip_ws(&s);
			if (string_read(&s, key, sizeof(key), &plain) || !eat(&s, ':'))
				return -EINVAL;
			if (plain && !strcmp(key, "event"))
				dst = event;
			else if (plain && !strcmp(key, "peer"))
				dst = peer;
			else if (plain && !strcmp(key, "role"))
				dst = role;
			else if (plain && !strcmp(key, "cause"))
				dst = cause;
			skip_ws(&s);
			if (plain && !strcmp(key, "count") && s.p < s.end && *s.p != '"') {
				if (count_read(&s, &ev->count))
					return -EINVAL;
				have_count = true;
			} else if (dst && s.p < s.end && *s.p == '"') {
				if (string_read(&s, dst, VALUE_MAX, &plain))
					return -EINVAL;
				if (!plain) /* an escape or too long: no value we know */
					strcpy(dst, "?");
				have_event |= dst == event;
			} else if (value_skip(&s)) {
				return -EINVAL;
			}
		} while (eat(&s, ','));
		if (!eat(&s, '}'))
			return -EINVAL;
	}
	skip_ws(&s);
	if (s.p != s.end || !have_event)
		return -EINVAL;

	ev->kind = MESH_EVENT_OTHER;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].name, event))
			ev->kind = kinds[i].kind;
	switch (ev->kind) {
	case MESH_EVENT_HANDSHAKE_COMPLETED:
		r = name_index(role_names, MESH_EVENT_ROLES, role);
		if (r < 0)
			return -EINVAL;
		ev->role = (enum mesh_event_role)r;
		break;
	case MESH_EVENT_ENDPOINT_CHANGED:
		r = name_index(cause_names, MESH_EVENT_CAUSES, cause);
		if (r < 0)
			return -EINVAL;
		ev->cause = (enum mesh_event_cause)r;
		break;
	case MESH_EVENT_PEER_REMOVED:
		break;
	case MESH_EVENT_EVENTS_LOST:
		return have_count ? 0 : -EINVAL;
	default:
		return 0;
	}
	return peer_decode(peer, ev->peer);
}
