// SPDX-License-Identifier: GPL-2.0
/*
 * The event stream without root: JSON members and lines (numbered escape
 * and format vectors), every event kind made through ctl/notify.c on a
 * real device with a reader on a socketpair (and no key but public ones in
 * any line), a configuration's events netted out, and the per-reader
 * queue: a reader that does not read loses the newest lines, counted, and
 * hears how many once it drains, while a reader that reads gets them all.
 * Last, two devices on loopback run the protocol on the fake clock, so the
 * events come from where the daemon makes them: roaming and both roles
 * from receive.c and peer.c, giving up and zeroing keys from the timers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "constants.h"
#include "ctl/device.h"
#include "ctl/events.h"
#include "ctl/handshake/crypto.h"
#include "ctl/notify.h"
#include "ctl/uapi.h"
#include "test.h"
#include "tests/test_node.h"
#include "tests/suites.h"

/* ---- JSON ---- */

static const struct {
	const char *in, *want;
} escapes[] = {
	/* 1 */ { "wg0", "\"k\":\"wg0\"" },
	/* 2 */ { "a\"b", "\"k\":\"a\\\"b\"" },
	/* 3 */ { "a\\b", "\"k\":\"a\\\\b\"" },
	/* 4 */ { "a\nb\tc", "\"k\":\"a\\nb\\tc\"" },
	/* 5 */ { "\x01\x1f", "\"k\":\"\\u0001\\u001f\"" },
	/* 6 */ { "\x7f", "\"k\":\"\\u007f\"" },
	/* 7 */ { "\xc3\xa9", "\"k\":\"\\u00c3\\u00a9\"" },
	/* 8 */ { "", "\"k\":\"\"" },
	/* 9 */ { "</script>{}", "\"k\":\"</script>{}\"" },
	/* 10 */ { "ab\"cd\\e\x02" "f\xff" "g", "\"k\":\"ab\\\"cd\\\\e\\u0002f\\u00ffg\"" },
};

static const char *buf_str(struct uapi_buf *b)
{
	uapi_buf_printf(b, "%s", "");  /* a terminator past len */
	return b->data ? b->data : "";
}

static void test_events_json_vectors(void)
{
	struct uapi_buf b;
	size_t i;

	for (i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		b = (struct uapi_buf){ 0 };
		events_json_str(&b, "k", escapes[i].in);
		CHECKF(!strcmp(buf_str(&b), escapes[i].want), "vector %zu: got %s, want %s",
		       i + 1, buf_str(&b), escapes[i].want);
		uapi_buf_free(&b);
	}

	/* Members are comma-separated; an array holds strings. */
	b = (struct uapi_buf){ 0 };
	events_json_u64(&b, "n", 18446744073709551615ULL);
	events_json_array_open(&b, "a");
	events_json_array_str(&b, "x");
	events_json_array_str(&b, "y\"");
	events_json_array_close(&b);
	events_json_array_open(&b, "e");
	events_json_array_close(&b);
	CHECK(!strcmp(buf_str(&b), "\"n\":18446744073709551615,\"a\":[\"x\",\"y\\\"\"],\"e\":[]"));
	uapi_buf_free(&b);

	/* A public key as wg(8) prints it (base64). */
	{
		uint8_t key[32];
		size_t k;

		for (k = 0; k < 32; k++)
			key[k] = (uint8_t)k;
		b = (struct uapi_buf){ 0 };
		events_json_key(&b, "peer", key);
		CHECK(!strcmp(buf_str(&b),
			      "\"peer\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\""));
		uapi_buf_free(&b);
	}

	/* Endpoints as wg(8) prints them; none is null. */
	{
		struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons(51820) };
		struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(7) };
		struct sockaddr none = { .sa_family = AF_UNSPEC };

		inet_pton(AF_INET, "192.0.2.1", &in4.sin_addr);
		inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
		b = (struct uapi_buf){ 0 };
		events_json_endpoint(&b, "a", (struct sockaddr *)&in4);
		events_json_endpoint(&b, "b", (struct sockaddr *)&in6);
		events_json_endpoint(&b, "c", NULL);
		events_json_endpoint(&b, "d", &none);
		CHECK(!strcmp(buf_str(&b), "\"a\":\"192.0.2.1:51820\",\"b\":\"[2001:db8::1]:7\","
					   "\"c\":null,\"d\":null"));
		uapi_buf_free(&b);
	}

	/* Whole lines: seq (or none), RFC 3339 UTC time with milliseconds,
	 * the interface escaped, the event, the members. */
	b = (struct uapi_buf){ 0 };
	events_line_format(&b, 42, 1700000000, 123456789, "wg\"0", "peer_added", "\"x\":1");
	CHECK(!strcmp(buf_str(&b), "{\"seq\":42,\"time\":\"2023-11-14T22:13:20.123Z\","
				   "\"interface\":\"wg\\\"0\",\"event\":\"peer_added\",\"x\":1}\n"));
	uapi_buf_free(&b);
	b = (struct uapi_buf){ 0 };
	events_line_format(&b, 0, 0, 999999999, "wg0", "events_lost", NULL);
	CHECK(!strcmp(buf_str(&b), "{\"time\":\"1970-01-01T00:00:00.999Z\","
				   "\"interface\":\"wg0\",\"event\":\"events_lost\"}\n"));
	uapi_buf_free(&b);
}

/* ---- a reader on a socketpair ---- */

struct reader {
	int fd;                  /* our end */
	char buf[1 << 20];
	size_t len;
};

/* Reads what is there (non-blocking) onto r->buf. */
static void reader_take(struct reader *r)
{
	for (;;) {
		ssize_t n;

		if (r->len == sizeof(r->buf) - 1)
			return;
		n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len, MSG_DONTWAIT);
		if (n <= 0)
			break;
		r->len += (size_t)n;
	}
	r->buf[r->len] = '\0';
}

/* The next whole line (without '\n') into line, or false. */
static bool reader_line(struct reader *r, size_t *pos, char *line, size_t cap)
{
	char *nl = memchr(r->buf + *pos, '\n', r->len - *pos);
	size_t n;

	if (!nl)
		return false;
	n = (size_t)(nl - (r->buf + *pos));
	if (n >= cap)
		n = cap - 1;
	memcpy(line, r->buf + *pos, n);
	line[n] = '\0';
	*pos = (size_t)(nl - r->buf) + 1;
	return true;
}

/* sndbuf: the daemon's end takes that little (0: the default), so that
 * its queue is what fills. */
static struct reader *reader_open_sized(struct events *ev, int sndbuf)
{
	struct reader *r = calloc(1, sizeof(*r));
	int sv[2];

	if (!r || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		free(r);
		return NULL;
	}
	if (sndbuf && setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)))
		fprintf(stderr, "    SO_SNDBUF: %s\n", strerror(errno));
	r->fd = sv[1];
	if (events_reader_add(ev, sv[0])) {
		close(sv[1]);
		free(r);
		return NULL;
	}
	return r;
}

/* Forgets the lines before pos. */
static void reader_compact(struct reader *r, size_t *pos)
{
	memmove(r->buf, r->buf + *pos, r->len - *pos);
	r->len -= *pos;
	r->buf[r->len] = '\0';
	*pos = 0;
}

static struct reader *reader_open(struct events *ev)
{
	return reader_open_sized(ev, 0);
}

static void reader_free(struct reader *r)
{
	if (!r)
		return;
	close(r->fd);
	free(r);
}

/* "seq":N of a line, 0 if none. */
static uint64_t line_seq(const char *line)
{
	const char *p = strstr(line, "{\"seq\":");

	return p == line ? strtoull(line + 7, NULL, 10) : 0;
}

/* ---- every event kind, through notify ---- */

#define K0 "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"
#define K1 "5032c03a8b1ad7a19c6fc06d5b0d0f4a7be8e7c2d0cc8fd8ff0d1f01a0b7a066"
#define PSK "a2dcbd8a3b5ce3e6d1b1b51c3a1da8d3d5e0b0d2e5a4d9c4c1c3a9f5a6e1d2c3"
#define P1 "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33"
#define P2 "58e6c7a6d2b1e67a24c70e3fae3daa9e32b6bd3e5e3ae1e2e8ab1a0e3a1a0b77"
#define P3 "1111111111111111111111111111111111111111111111111111111111111111"

static void b64_of_hex(const char *hex, char *out, size_t cap)
{
	uint8_t bin[32];

	test_unhex(bin, sizeof(bin), hex);
	sodium_bin2base64(out, cap, bin, 32, sodium_base64_VARIANT_ORIGINAL);
}

struct expect {
	const char *event;
	const char *has;         /* a member the line holds, or NULL */
	const char *has2;
};

static void check_lines(struct reader *r, size_t *pos, uint64_t *seq, const char *what,
			const struct expect *want, size_t n)
{
	char line[8192], b64[64];
	const char *secrets[] = { K0, K1, PSK };
	size_t i, s;

	reader_take(r);
	for (i = 0; i < n; i++) {
		char ev[96];

		if (!CHECKF(reader_line(r, pos, line, sizeof(line)), "%s: line %zu (%s) missing",
			    what, i + 1, want[i].event))
			return;
		snprintf(ev, sizeof(ev), "\"event\":\"%s\"", want[i].event);
		CHECKF(strstr(line, ev), "%s: line %zu is %s, want %s", what, i + 1, line,
		       want[i].event);
		CHECKF(!want[i].has || strstr(line, want[i].has), "%s: %s lacks %s", what, line,
		       want[i].has);
		CHECKF(!want[i].has2 || strstr(line, want[i].has2), "%s: %s lacks %s", what, line,
		       want[i].has2);
		CHECKF(line_seq(line) == ++*seq, "%s: seq of %s, want %llu", what, line,
		       (unsigned long long)*seq);
		CHECKF(strstr(line, "\"interface\":\"ev\\\"0\"") && strstr(line, "\"time\":\""),
		       "%s: header of %s", what, line);
		/* No secret, in either spelling. */
		for (s = 0; s < sizeof(secrets) / sizeof(secrets[0]); s++) {
			b64_of_hex(secrets[s], b64, sizeof(b64));
			CHECKF(!strstr(line, secrets[s]) && !strstr(line, b64),
			       "%s: a secret in %s", what, line);
		}
	}
	CHECKF(!reader_line(r, pos, line, sizeof(line)), "%s: unexpected line %s", what, line);
}

static void test_events_kinds(void)
{
	struct wg_device dev;
	struct events *ev;
	struct reader *r;
	struct wg_peer *peer;
	struct udp_endpoint old;
	char p1[64], p2[64], line[256];
	uint8_t key[32];
	size_t pos = 0;
	uint64_t seq = 0;

	test_clock_install(5000 * NSEC_PER_SEC);
	if (!CHECK(device_init(&dev, "ev0", 1) == 0))
		goto out_clock;
	ev = events_create("ev\"0");
	if (!CHECK(ev)) {
		device_uninit(&dev);
		goto out_clock;
	}
	dev.notify.events = ev;
	b64_of_hex(P1, p1, sizeof(p1));
	b64_of_hex(P2, p2, sizeof(p2));
	snprintf(line, sizeof(line), "\"peer\":\"%s\"", p1);
	strcpy(p1, line);
	snprintf(line, sizeof(line), "\"peer\":\"%s\"", p2);
	strcpy(p2, line);

	/* Without a reader nothing is made (and nothing numbered). */
	CHECK(test_config_apply(&dev, "private_key=" K0 "\npublic_key=" P3 "\n\n") == 0);
	r = reader_open(ev);
	if (!CHECK(r))
		goto out;
	reader_take(r);
	CHECK(reader_line(r, &pos, line, sizeof(line)) &&
	      strstr(line, "\"event\":\"subscribed\",\"next_seq\":1}") && !line_seq(line));

	/* 1: a peer with a preshared key, an endpoint, allowed IPs. */
	CHECK(test_config_apply(&dev, "public_key=" P1 "\npreshared_key=" PSK "\nendpoint=192.0.2.1:51820\n"
			  "allowed_ip=10.0.0.0/24\nallowed_ip=fd00::1/128\n\n") == 0);
	{
		const struct expect w[] = {
			{ "peer_added", p1, NULL },
			{ "allowed_ips_changed", "\"allowed_ips\":[\"10.0.0.0/24\",\"fd00::1/128\"]",
			  "\"count\":2" },
			{ "endpoint_changed", "\"old\":null,\"new\":\"192.0.2.1:51820\"",
			  "\"cause\":\"configuration\"" },
		};
		check_lines(r, &pos, &seq, "new peer", w, 3);
	}
	peer = device_peer_lookup(&dev, (test_unhex(key, 32, P1), key));
	if (!CHECK(peer))
		goto out;

	/* 2: handshakes, both roles; roaming (an address, not a source). */
	notify_session_established(peer, NOTIFY_INITIATOR);
	notify_session_established(peer, NOTIFY_RESPONDER);
	old = peer->endpoint;
	peer->endpoint.has_src = true;
	notify_endpoint_changed(peer, &old);  /* only the source: nothing */
	old = peer->endpoint;
	peer->endpoint.addr.in4.sin_port = htons(4242);
	notify_endpoint_changed(peer, &old);
	{
		const struct expect w[] = {
			{ "handshake_completed", "\"role\":\"initiator\"",
			  "\"endpoint\":\"192.0.2.1:51820\"" },
			{ "handshake_completed", "\"role\":\"responder\"", p1 },
			{ "endpoint_changed", "\"old\":\"192.0.2.1:51820\",\"new\":\"192.0.2.1:4242\"",
			  "\"cause\":\"roaming\"" },
		};
		check_lines(r, &pos, &seq, "handshakes and roaming", w, 3);
	}

	/* 3: expiry, failure, cookie mode (its end by the tick), drop rates. */
	notify_session_expired(peer, NOTIFY_EXPIRED_ZERO_KEYS);
	notify_handshake_failed(peer);
	notify_tick(&dev);  /* starts the drop window */
	/* Handshake messages past the threshold within a second, as
	 * receive.c counts them: cookie mode, reported once. */
	{
		unsigned int k;

		for (k = 0; k < UNDER_LOAD_THRESHOLD + 5; k++)
			device_is_under_load(&dev);
	}
	CHECK(notify_timeout_ms(&dev) >= 0 && notify_timeout_ms(&dev) <= 1001);
	test_clock_advance(NSEC_PER_SEC);
	notify_tick(&dev);
	dev.drops[DROP_RX_REPLAY] += NOTIFY_DROP_THRESHOLD;
	dev.drops[DROP_RX_BAD_MAC] += NOTIFY_DROP_THRESHOLD - 1;
	test_clock_advance((NOTIFY_DROP_WINDOW_SEC - 1) * NSEC_PER_SEC);
	notify_tick(&dev);
	CHECK(notify_timeout_ms(&dev) > 0);
	dev.drops[DROP_RX_REPLAY] += 5;
	test_clock_advance(NOTIFY_DROP_WINDOW_SEC * NSEC_PER_SEC);
	notify_tick(&dev);
	CHECK(notify_timeout_ms(&dev) == -1);
	{
		const struct expect w[] = {
			{ "session_expired", "\"reason\":\"no_new_session\"", p1 },
			{ "handshake_failed", "\"seconds\":90", p1 },
			{ "cookie_mode_entered", NULL, NULL },
			{ "cookie_mode_left", NULL, NULL },
			{ "drop_rate_high", "\"reason\":\"rx_replay\",\"count\":100",
			  "\"window_ms\":10000" },
			{ "drop_rate_normal", "\"reason\":\"rx_replay\",\"count\":5", NULL },
		};
		check_lines(r, &pos, &seq, "expiry, failure, load, drops", w, 6);
	}

	/* 4: replace_peers keeps P1's key: its old object goes first, then
	 * the new one comes; P3 (our placeholder) goes too; a peer created
	 * and removed within one transaction is not reported. */
	CHECK(test_config_apply(&dev, "replace_peers=true\npublic_key=" P1 "\nallowed_ip=10.0.0.0/24\n"
			  "public_key=" P2 "\npublic_key=" P2 "\nremove=true\n\n") == 0);
	{
		const struct expect w[] = {
			{ "peer_removed", NULL, NULL },  /* P3 */
			{ "peer_removed", p1, NULL },
			{ "peer_added", p1, NULL },
			{ "allowed_ips_changed", p1, "\"count\":1" },
		};
		check_lines(r, &pos, &seq, "replace_peers", w, 4);
	}

	/* 4b: a transaction refused at any of its steps (and undone) says
	 * nothing; the same one applied says what stays of it. */
	{
		const char *set = "public_key=" P1 "\nallowed_ip=10.1.0.0/24\n"
				  "public_key=" P2 "\nallowed_ip=10.2.0.0/24\n"
				  "public_key=" P2 "\nremove=true\n\n";
		const struct expect w[] = { { "allowed_ips_changed", p1, "\"count\":2" } };
		uint64_t n;
		int ret = -1;

		for (n = 1; n < 64 && ret; n++) {
			device_config_fault_set(n);
			ret = test_config_apply(&dev, set);
			device_config_fault_set(0);
			if (ret)
				check_lines(r, &pos, &seq, "a refused transaction", NULL, 0);
		}
		CHECKF(!ret && n > 2, "the transaction applied after %llu faults",
		       (unsigned long long)n - 1);
		check_lines(r, &pos, &seq, "the transaction applied", w, 1);
	}

	/* 5: a new private key voids every session; then removal. */
	CHECK(test_config_apply(&dev, "private_key=" K1 "\n\n") == 0);
	CHECK(test_config_apply(&dev, "public_key=" P1 "\nremove=true\n\n") == 0);
	{
		const struct expect w[] = {
			{ "session_expired", "\"reason\":\"private_key_changed\"", p1 },
			{ "peer_removed", p1, NULL },
		};
		check_lines(r, &pos, &seq, "key change and removal", w, 2);
	}

	/* 6: a reader that hangs up is let go by the dispatch. */
	CHECK(events_readers(ev) == 1);
	reader_free(r);
	r = NULL;
	events_dispatch(ev);
	CHECK(events_readers(ev) == 0);
out:
	reader_free(r);
	dev.notify.events = NULL;
	events_destroy(ev);
	device_uninit(&dev);
out_clock:
	test_clock_uninstall();
}

/* ---- the queue ---- */

static void test_events_queue(void)
{
	struct events_queue q;
	struct events_line *l[6];
	int sv[2], i;
	char buf[256];

	/* Limits: 3 lines or 40 bytes; once full, the newest are lost until
	 * it drains (even if one would fit again meanwhile). */
	if (!CHECK(events_queue_init(&q, 3, 40) == 0))
		return;
	for (i = 0; i < 6; i++) {
		l[i] = malloc(sizeof(*l[i]) + 10);
		l[i]->refs = 1;
		l[i]->seq = (uint64_t)i + 1;
		l[i]->len = 10;
		memcpy(l[i]->text, "0123456789", 10);
		l[i]->text[0] = (char)('a' + i);
	}
	CHECK(events_queue_push(&q, l[0], false));
	CHECK(events_queue_push(&q, l[1], false));
	CHECK(events_queue_push(&q, l[2], false));
	CHECK(!events_queue_push(&q, l[3], false));   /* 4th line */
	CHECK(q.lost == 1 && q.first_lost == 4 && q.last_lost == 4);
	CHECK(l[0]->refs == 2 && l[3]->refs == 1);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	/* A budget of 15 bytes: one line and a half. */
	CHECK(events_queue_flush(&q, sv[0], 15) == 0);
	CHECK(q.count == 2 && q.sent == 5 && l[0]->refs == 1);
	CHECK(!events_queue_push(&q, l[4], false));   /* not drained yet */
	CHECK(q.lost == 2 && q.first_lost == 4 && q.last_lost == 5);
	CHECK(events_queue_flush(&q, sv[0], 1 << 20) == 1);
	CHECK(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) == 30 && buf[0] == 'a' &&
	      buf[10] == 'b' && buf[20] == 'c');
	/* A forced (per-reader) line goes in even past the limits. */
	CHECK(events_queue_push(&q, l[5], false) == false);
	CHECK(q.lost == 3 && q.last_lost == 6);
	CHECK(events_queue_push(&q, l[0], true));
	CHECK(events_queue_push(&q, l[1], false) == false);
	/* A reader that is gone is an error. */
	close(sv[1]);
	CHECK(events_queue_flush(&q, sv[0], 1 << 20) == -EPIPE);
	close(sv[0]);
	events_queue_uninit(&q);
	for (i = 0; i < 6; i++)
		CHECKF(l[i]->refs == 1, "line %d has %u references left", i, l[i]->refs);
	for (i = 0; i < 6; i++)
		free(l[i]);
}

/* A reader that never reads while another does: the first loses the
 * newest lines (counted) and is told once it drains; the second gets every
 * line in order; the daemon's side never blocks (a blocking send would
 * hang this test). */
static void test_events_slow_reader(void)
{
	struct events *ev = events_create("slow0");
	struct reader *stuck = NULL, *quick = NULL;
	size_t pos = 0, qpos = 0;
	char line[512];
	uint64_t expect = 1, lost = 0, first = 0, last = 0, n_events = 0;
	int i;
	bool told = false;

	if (!CHECK(ev))
		return;
	stuck = reader_open_sized(ev, 4096);
	quick = reader_open(ev);
	if (!CHECK(stuck && quick))
		goto out;
	for (i = 0; i < 3 * EVENTS_QUEUE_LINES; i++) {
		struct uapi_buf f = { 0 };

		events_json_u64(&f, "i", (uint64_t)i);
		events_json_str(&f, "pad", "................................................");
		events_publish(ev, "test", f.data);
		uapi_buf_free(&f);
		events_dispatch(ev);
		/* The quick reader gets every one, in order. */
		reader_take(quick);
		while (reader_line(quick, &qpos, line, sizeof(line))) {
			if (expect == 1 && strstr(line, "subscribed"))
				continue;
			if (!CHECKF(line_seq(line) == expect, "quick reader: %s, want seq %llu",
				    line, (unsigned long long)expect))
				break;
			expect++;
		}
		reader_compact(quick, &qpos);
	}
	CHECK(expect == 3 * EVENTS_QUEUE_LINES + 1);

	/* The stuck one reads at last: a run from 1, events_lost naming the
	 * rest, then what comes after. */
	for (i = 0; i < 10000 && !told; i++) {
		reader_take(stuck);
		events_dispatch(ev);
		while (reader_line(stuck, &pos, line, sizeof(line))) {
			if (strstr(line, "\"event\":\"events_lost\"")) {
				const char *c = strstr(line, "\"count\":");
				const char *f = strstr(line, "\"first_seq\":");
				const char *l = strstr(line, "\"last_seq\":");

				CHECK(c && f && l && !line_seq(line));
				if (c && f && l) {
					lost = strtoull(c + 8, NULL, 10);
					first = strtoull(f + 12, NULL, 10);
					last = strtoull(l + 11, NULL, 10);
				}
				told = true;
				break;
			}
			if (line_seq(line))
				n_events++;
		}
	}
	CHECK(told);
	CHECKF(lost > 0 && first == n_events + 1 && last == 3 * EVENTS_QUEUE_LINES &&
	       lost == last - first + 1, "lost %llu (%llu..%llu) after %llu events",
	       (unsigned long long)lost, (unsigned long long)first, (unsigned long long)last,
	       (unsigned long long)n_events);
	CHECK(n_events >= EVENTS_QUEUE_LINES);
	/* Events flow again, for both. */
	events_publish(ev, "after", NULL);
	events_dispatch(ev);
	reader_take(stuck);
	CHECK(reader_line(stuck, &pos, line, sizeof(line)) &&
	      line_seq(line) == 3 * EVENTS_QUEUE_LINES + 1 && strstr(line, "\"after\""));
	{
		uint64_t published, all_lost, refused;

		events_stats(ev, &published, &all_lost, &refused);
		CHECK(published == 3 * EVENTS_QUEUE_LINES + 1 && all_lost == lost && !refused);
	}

	/* At EVENTS_READERS_MAX, one more is told so and closed. */
	{
		struct reader *more[EVENTS_READERS_MAX];
		int sv[2], k, opened = 0;

		for (k = 0; k < EVENTS_READERS_MAX - 2; k++)
			opened += !!(more[k] = reader_open(ev));
		CHECK(opened == EVENTS_READERS_MAX - 2 && events_readers(ev) == EVENTS_READERS_MAX);
		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
		CHECK(events_reader_add(ev, sv[0]) == -EBUSY);
		CHECK(recv(sv[1], line, sizeof(line) - 1, 0) > 0 && strstr(line, "refused"));
		close(sv[1]);
		for (k = 0; k < EVENTS_READERS_MAX - 2; k++)
			reader_free(more[k]);
	}
out:
	reader_free(stuck);
	reader_free(quick);
	events_destroy(ev);
}

/* ---- from the protocol's own paths ---- */


/* Runs n's timers deadline by deadline until an `event` line shows in r
 * (at most `steps` deadlines); the line is left in line. */
static bool run_timers_until(struct test_node *n, struct reader *r, size_t *pos, const char *event,
			     int steps, char *line, size_t cap)
{
	char want[96];

	snprintf(want, sizeof(want), "\"event\":\"%s\"", event);
	while (steps-- > 0) {
		xwg_time_t due = timers_next_deadline(&n->dev.timers), now = platform_now();

		if (!due)
			return false;
		if (due > now)
			test_clock_advance(due - now);
		timers_run_expired(&n->dev.timers);
		reader_take(r);
		while (reader_line(r, pos, line, cap))
			if (strstr(line, want))
				return true;
	}
	return false;
}

static void test_events_protocol(void)
{
	struct test_node *x = calloc(1, sizeof(*x)), *y = calloc(1, sizeof(*y));
	struct events *ev = events_create("x0");
	struct reader *r = NULL;
	char line[1024], py[80], yep[64];
	size_t pos = 0, i;
	uint64_t seq = 0;

	test_clock_install(3000 * NSEC_PER_SEC);
	if (!CHECK(x && y && ev) || !CHECK(test_node_init(x, "tev0")) || !CHECK(test_node_init(y, "tev1")))
		goto out;
	x->dev.notify.events = ev;
	r = reader_open(ev);
	/* x knows no endpoint of y: y's packets make it. */
	if (!CHECK(r) || !CHECK(test_node_configure(x, y, "10.2.0.0/16", 0)) || !CHECK(test_node_configure(y, x, "10.1.0.0/16", TEST_NODE_ENDPOINT)))
		goto out;
	sodium_bin2base64(py, sizeof(py), y->public_key, 32, sodium_base64_VARIANT_ORIGINAL);
	snprintf(yep, sizeof(yep), "\"127.0.0.1:%u\"", udp_socks_port(&y->dev.udp));

	/* y initiates: x learns y's endpoint (roaming from none), responds,
	 * and completes as the responder with y's keepalive. */
	send_handshake_initiation(y->peer, false);
	CHECK(test_node_receive(x, true) == 1);
	CHECK(test_node_receive(y, true) == 1);
	CHECK(test_node_receive(x, true) == 1);
	/* x initiates (a rekey): it completes as the initiator. */
	test_clock_advance(REKEY_TIMEOUT * NSEC_PER_SEC);
	send_handshake_initiation(x->peer, false);
	CHECK(test_node_receive(y, true) == 1);
	CHECK(test_node_receive(x, true) == 1);
	reader_take(r);
	{
		char has_peer[128];
		const struct expect w[] = {
			{ "peer_added", has_peer, NULL },
			{ "allowed_ips_changed", "[\"10.2.0.0/16\"]", NULL },
			{ "endpoint_changed", "\"old\":null", "\"cause\":\"roaming\"" },
			{ "handshake_completed", "\"role\":\"responder\"", yep },
			{ "handshake_completed", "\"role\":\"initiator\"", has_peer },
		};

		snprintf(has_peer, sizeof(has_peer), "\"peer\":\"%s\"", py);
		CHECK(reader_line(r, &pos, line, sizeof(line)) && strstr(line, "subscribed"));
		/* check_lines wants the interface of test_events_kinds: the
		 * header is checked here instead. */
		for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
			char e[96];

			snprintf(e, sizeof(e), "\"event\":\"%s\"", w[i].event);
			if (!CHECKF(reader_line(r, &pos, line, sizeof(line)), "line %zu missing", i + 1))
				break;
			CHECKF(strstr(line, e) && strstr(line, w[i].has) &&
			       (!w[i].has2 || strstr(line, w[i].has2)) && line_seq(line) == ++seq &&
			       strstr(line, "\"interface\":\"x0\""),
			       "line %zu: %s, want %s", i + 1, line, w[i].event);
		}
	}

	/* y goes silent: x's next initiation is retried for
	 * REKEY_ATTEMPT_TIME, then given up (timers.c's give_up). */
	test_clock_advance(REKEY_TIMEOUT * NSEC_PER_SEC);
	send_handshake_initiation(x->peer, false);
	CHECK(run_timers_until(x, r, &pos, "handshake_failed", 100, line, sizeof(line)));
	CHECK(strstr(line, py) && strstr(line, "\"seconds\":90"));
	/* Nothing more for ZERO_KEYS_AFTER_TIME: the keys are zeroed. */
	CHECK(run_timers_until(x, r, &pos, "session_expired", 100, line, sizeof(line)));
	CHECK(strstr(line, py) && strstr(line, "\"reason\":\"no_new_session\""));
out:
	reader_free(r);
	if (x)
		x->dev.notify.events = NULL;
	test_node_uninit(x);
	test_node_uninit(y);
	events_destroy(ev);
	free(x);
	free(y);
	test_clock_uninstall();
}

void test_events(void)
{
	test_events_json_vectors();
	test_events_kinds();
	test_events_queue();
	test_events_slow_reader();
	test_events_protocol();
}
