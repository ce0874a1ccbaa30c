// SPDX-License-Identifier: GPL-2.0
/* xwg-mesh: event stream lines, the line splitter, the event counts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/event_client.h"
#include "mesh/event_counts.h"
#include "mesh/event_parse.h"
#include "test.h"
#include "tests/suites.h"

/* base64 of 32 bytes of 0x01, 0x02 */
#define K1 "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define K2 "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
#define HEAD "{\"seq\":7,\"time\":\"2026-12-07T22:48:49.123Z\",\"interface\":\"wg0\","

static void test_parse(void)
{
	static const struct {
		const char *line;
		int ret;
		enum mesh_event_kind kind;
		uint8_t peer;       /* the key's byte, 0: not checked */
		int sub;            /* role or cause */
		uint64_t count;
	} v[] = {
		/* 1 */ { HEAD "\"event\":\"handshake_completed\",\"peer\":\"" K1 "\",\"role\":\"initiator\","
			  "\"endpoint\":\"192.0.2.2:51820\"}", 0, MESH_EVENT_HANDSHAKE_COMPLETED, 1,
			  MESH_EVENT_INITIATOR, 0 },
		/* 2 */ { HEAD "\"event\":\"handshake_completed\",\"peer\":\"" K2 "\",\"role\":\"responder\"}",
			  0, MESH_EVENT_HANDSHAKE_COMPLETED, 2, MESH_EVENT_RESPONDER, 0 },
		/* 3 */ { HEAD "\"event\":\"endpoint_changed\",\"peer\":\"" K1 "\",\"old\":null,"
			  "\"new\":\"[2001:db8::1]:51820\",\"cause\":\"configuration\"}", 0,
			  MESH_EVENT_ENDPOINT_CHANGED, 1, MESH_EVENT_CONFIGURATION, 0 },
		/* 4 */ { HEAD "\"event\":\"endpoint_changed\",\"peer\":\"" K2 "\",\"old\":\"192.0.2.1:1\","
			  "\"new\":\"192.0.2.1:2\",\"cause\":\"roaming\"}\r", 0,
			  MESH_EVENT_ENDPOINT_CHANGED, 2, MESH_EVENT_ROAMING, 0 },
		/* 5 */ { "{\"interface\":\"wg0\",\"event\":\"events_lost\",\"count\":123,\"first_seq\":4,"
			  "\"last_seq\":126}", 0, MESH_EVENT_EVENTS_LOST, 0, 0, 123 },
		/* 6 */ { "{\"time\":\"x\",\"interface\":\"wg0\",\"event\":\"subscribed\",\"next_seq\":1}",
			  0, MESH_EVENT_SUBSCRIBED, 0, 0, 0 },
		/* 7 */ { HEAD "\"event\":\"peer_removed\",\"peer\":\"" K2 "\"}", 0,
			  MESH_EVENT_PEER_REMOVED, 2, 0, 0 },
		/* 8 */ { "{\"event\":\"refused\",\"reason\":\"too many readers\"}", 0,
			  MESH_EVENT_REFUSED, 0, 0, 0 },
		/* unknown events and members, nested values: skipped */
		/* 9 */ { HEAD "\"event\":\"allowed_ips_changed\",\"peer\":\"" K1 "\",\"allowed_ips\":"
			  "[\"10.0.0.0/24\",\"fd00::/64\"],\"count\":2}", 0, MESH_EVENT_OTHER, 0, 0, 0 },
		/* 10 */ { "{\"event\":\"from_the_future\",\"x\":{\"a\":[1,{\"b\":\"]}\"}],\"c\":true},"
			   "\"y\":-1.5e3,\"z\":\"q\\\"\\u00e9\"}", 0, MESH_EVENT_OTHER, 0, 0, 0 },
		/* 11 */ { " { \"peer\" : \"" K1 "\" , \"event\" : \"handshake_completed\" , "
			   "\"role\" : \"responder\" } ", 0, MESH_EVENT_HANDSHAKE_COMPLETED, 1,
			   MESH_EVENT_RESPONDER, 0 },
		/* 12 */ { "{\"event\":\"cookie_mode_entered\"}", 0, MESH_EVENT_OTHER, 0, 0, 0 },
		/* refused */
		/* 13 */ { "", -EINVAL, 0, 0, 0, 0 },
		/* 14 */ { "{}", -EINVAL, 0, 0, 0, 0 },
		/* 15 */ { "[]", -EINVAL, 0, 0, 0, 0 },
		/* 16 */ { "{\"event\":\"subscribed\"", -EINVAL, 0, 0, 0, 0 },
		/* 17 */ { "{\"event\":\"subscribed\"} x", -EINVAL, 0, 0, 0, 0 },
		/* 18 */ { "{\"event\":\"handshake_completed\",\"peer\":\"" K1 "\"}", -EINVAL, 0, 0, 0, 0 },
		/* 19 */ { "{\"event\":\"handshake_completed\",\"peer\":\"" K1 "\",\"role\":\"both\"}",
			   -EINVAL, 0, 0, 0, 0 },
		/* 20 */ { "{\"event\":\"handshake_completed\",\"peer\":\"AQEB\",\"role\":\"initiator\"}",
			   -EINVAL, 0, 0, 0, 0 },
		/* 21 */ { "{\"event\":\"endpoint_changed\",\"peer\":\"" K1 "\",\"cause\":\"magic\"}",
			   -EINVAL, 0, 0, 0, 0 },
		/* 22 */ { "{\"event\":\"events_lost\"}", -EINVAL, 0, 0, 0, 0 },
		/* 23 */ { "{\"event\":\"events_lost\",\"count\":99999999999999999999}", -EINVAL, 0, 0, 0, 0 },
		/* 24 */ { "{\"event\":\"peer_removed\"}", -EINVAL, 0, 0, 0, 0 },
		/* 25 */ { "{\"event\":\"subscribed\",\"x\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}",
			   -EINVAL, 0, 0, 0, 0 },
		/* 26 */ { "{\"event\":\"sub\\u0073cribed\"}", 0, MESH_EVENT_OTHER, 0, 0, 0 },
		/* 27 */ { "{\"event\":\"subscribed\",\"x\":\"a\nb\"}", -EINVAL, 0, 0, 0, 0 },
		/* 28 */ { "{\"event\":1}", -EINVAL, 0, 0, 0, 0 },
		/* 29 */ { "{\"event\":\"subscribed\",}", -EINVAL, 0, 0, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct mesh_event ev;
		int ret = mesh_event_parse(v[i].line, strlen(v[i].line), &ev);

		if (!CHECKF(ret == v[i].ret, "vector %zu: %d", i + 1, ret) || ret)
			continue;
		CHECKF(ev.kind == v[i].kind, "vector %zu: kind %d", i + 1, ev.kind);
		if (v[i].peer) {
			uint8_t want[32];

			memset(want, v[i].peer, 32);
			CHECKF(!memcmp(ev.peer, want, 32), "vector %zu: peer", i + 1);
		}
		if (ev.kind == MESH_EVENT_HANDSHAKE_COMPLETED)
			CHECKF((int)ev.role == v[i].sub, "vector %zu: role", i + 1);
		if (ev.kind == MESH_EVENT_ENDPOINT_CHANGED)
			CHECKF((int)ev.cause == v[i].sub, "vector %zu: cause", i + 1);
		if (ev.kind == MESH_EVENT_EVENTS_LOST)
			CHECKF(ev.count == v[i].count, "vector %zu: count", i + 1);
	}
}

static const struct mesh_event_peer *peer_of(const struct mesh_event_counts *c, uint8_t b)
{
	for (size_t i = 0; i < c->n_peers; i++)
		if (c->peers[i].public_key[0] == b)
			return &c->peers[i];
	return NULL;
}

/* The splitter over a stream cut at every byte boundary gives the same
 * counts; an overlong line is skipped and counted once; "refused" says to
 * close. */
static void test_client_feed(void)
{
	static const char stream[] =
		"{\"event\":\"subscribed\",\"next_seq\":1}\n"
		HEAD "\"event\":\"handshake_completed\",\"peer\":\"" K1 "\",\"role\":\"initiator\"}\n"
		HEAD "\"event\":\"handshake_completed\",\"peer\":\"" K1 "\",\"role\":\"initiator\"}\n"
		HEAD "\"event\":\"handshake_completed\",\"peer\":\"" K2 "\",\"role\":\"responder\"}\n"
		HEAD "\"event\":\"endpoint_changed\",\"peer\":\"" K2 "\",\"old\":null,\"new\":\"192.0.2.1:1\","
		"\"cause\":\"configuration\"}\n"
		"not json\n"
		"{\"event\":\"events_lost\",\"count\":3,\"first_seq\":5,\"last_seq\":7}\n";
	struct mesh_event_client *c = calloc(1, sizeof(*c));
	struct mesh_event_counts *counts = mesh_event_counts_new(8), *s;
	const struct mesh_event_peer *p;
	char *big;

	if (!CHECK(c && counts)) {
		free(c);
		mesh_event_counts_free(counts);
		return;
	}
	for (size_t cut = 0; cut < sizeof(stream) - 1; cut += 7) {
		mesh_event_client_init(c, "/nonexistent", "wg0", counts);
		CHECK(mesh_event_client_feed(c, stream, cut) == 0);
		CHECK(mesh_event_client_feed(c, stream + cut, sizeof(stream) - 1 - cut) == 0);
		s = mesh_event_counts_snapshot(counts);
		if (!CHECK(s))
			break;
		CHECKF(s->up && s->n_peers == 2 && s->lost == 3 &&
		       s->skipped[MESH_EVENT_SKIP_MALFORMED] == 1, "cut %zu", cut);
		p = peer_of(s, 1);
		CHECKF(p && p->handshakes[MESH_EVENT_INITIATOR] == 2 &&
		       p->handshakes[MESH_EVENT_RESPONDER] == 0, "cut %zu: K1", cut);
		p = peer_of(s, 2);
		CHECKF(p && p->handshakes[MESH_EVENT_RESPONDER] == 1 &&
		       p->endpoint_changes[MESH_EVENT_CONFIGURATION] == 1 &&
		       p->endpoint_changes[MESH_EVENT_ROAMING] == 0, "cut %zu: K2", cut);
		free(s);
	}

	/* A line of twice the buffer, in pieces, then a good one. */
	big = malloc(2 * MESH_EVENT_LINE_MAX);
	if (CHECK(big)) {
		static const char lost[] = "{\"event\":\"events_lost\",\"count\":1}\n";

		memset(big, 'x', 2 * MESH_EVENT_LINE_MAX);
		mesh_event_client_init(c, "/nonexistent", "wg0", counts);
		CHECK(mesh_event_client_feed(c, big, MESH_EVENT_LINE_MAX - 1) == 0);
		CHECK(mesh_event_client_feed(c, big, MESH_EVENT_LINE_MAX + 1) == 0);
		CHECK(mesh_event_client_feed(c, "\n", 1) == 0);
		CHECK(mesh_event_client_feed(c, lost, sizeof(lost) - 1) == 0);
		s = mesh_event_counts_snapshot(counts);
		if (CHECK(s))
			CHECK(s->skipped[MESH_EVENT_SKIP_TOO_LONG] == 1 && s->lost == 4 &&
			      s->skipped[MESH_EVENT_SKIP_MALFORMED] == 1);
		free(s);
		free(big);
	}
	CHECK(mesh_event_client_feed(c, "{\"event\":\"refused\"}\n", 20) == -ECONNRESET);
	mesh_event_counts_free(counts);
	free(c);
}

/* Subscription resets, removal drops the series, a full table counts. */
static void test_counts(void)
{
	struct mesh_event_counts *c = mesh_event_counts_new(2), *s;
	struct mesh_event ev = { .kind = MESH_EVENT_HANDSHAKE_COMPLETED };

	if (!CHECK(c))
		return;
	for (uint8_t b = 1; b <= 3; b++) {
		memset(ev.peer, b, 32);
		mesh_event_counts_apply(c, &ev);
	}
	CHECK(c->n_peers == 2 && c->skipped[MESH_EVENT_SKIP_PEER_TABLE_FULL] == 1);
	CHECK(!c->up);
	ev.kind = MESH_EVENT_PEER_REMOVED;
	memset(ev.peer, 1, 32);
	mesh_event_counts_apply(c, &ev);
	mesh_event_counts_apply(c, &ev); /* again: nothing there */
	CHECK(c->n_peers == 1 && c->peers[0].public_key[0] == 2);
	ev.kind = MESH_EVENT_ENDPOINT_CHANGED;
	ev.cause = MESH_EVENT_ROAMING;
	memset(ev.peer, 3, 32);
	mesh_event_counts_apply(c, &ev);
	s = mesh_event_counts_snapshot(c);
	if (CHECK(s && s->n_peers == 2))
		CHECK(peer_of(s, 3) && peer_of(s, 3)->endpoint_changes[MESH_EVENT_ROAMING] == 1 &&
		      peer_of(s, 2)->handshakes[MESH_EVENT_INITIATOR] == 1);
	free(s);
	ev = (struct mesh_event){ .kind = MESH_EVENT_SUBSCRIBED };
	mesh_event_counts_apply(c, &ev);
	CHECK(c->up && c->n_peers == 0 && c->skipped[MESH_EVENT_SKIP_PEER_TABLE_FULL] == 0);
	mesh_event_counts_set_up(c, false);
	CHECK(!c->up);
	CHECK(!strcmp(mesh_event_skip_name(MESH_EVENT_SKIP_MALFORMED), "malformed"));
	CHECK(!strcmp(mesh_event_role_name(MESH_EVENT_RESPONDER), "responder"));
	CHECK(!strcmp(mesh_event_cause_name(MESH_EVENT_CONFIGURATION), "configuration"));
	mesh_event_counts_free(c);
}

void test_mesh_events(void)
{
	test_parse();
	test_client_feed();
	test_counts();
}
