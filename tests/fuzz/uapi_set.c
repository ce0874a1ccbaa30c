// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the configuration socket (ctl/uapi.c).
 *
 * 1. uapi_set_parse on the raw bytes (after a leading "set=1\n", so that
 *    the corpus of whole conversations serves both halves). Whatever it stages must survive a
 *    round trip: written with the get formatters (uapi_buf_put_endpoint,
 *    uapi_buf_put_allowed_ip) and parsed again, it must give the same
 *    values, or the formatters and parsers disagree about Go's text forms.
 * 2. The same bytes through a connection over a socketpair, in chunks whose
 *    size the first byte picks, then EOF; dummy ops answer get and run the
 *    round trip on every set that reaches them. The connection belongs to
 *    a server with a small bound on input; the parity of the size picks
 *    a get built in pieces (every set changes the generation, so a get
 *    after a set in the same chunk starts over) or in one go.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl/uapi.h"

static void check_round_trip(const struct uapi_peer *p)
{
	struct uapi_buf text = { 0 };
	struct uapi_set again;
	size_t i;

	uapi_buf_put_hex(&text, "public_key", p->public_key, 32);
	if (p->has_endpoint)
		uapi_buf_put_endpoint(&text, &p->endpoint.sa);
	for (i = 0; i < p->n_allowed_ips; i++)
		uapi_buf_put_allowed_ip(&text, p->allowed_ips[i].family,
					p->allowed_ips[i].addr,
					p->allowed_ips[i].cidr);
	if (text.oom) {
		uapi_buf_free(&text);
		return;
	}
	if (uapi_set_parse(&again, text.data, text.len))
		abort();
	if (again.n_peers != 1 ||
	    memcmp(again.peers[0].public_key, p->public_key, 32) ||
	    again.peers[0].has_endpoint != p->has_endpoint ||
	    again.peers[0].n_allowed_ips != p->n_allowed_ips)
		abort();
	if (p->has_endpoint &&
	    memcmp(&again.peers[0].endpoint, &p->endpoint, sizeof(p->endpoint)))
		abort();
	for (i = 0; i < p->n_allowed_ips; i++) {
		const struct uapi_allowed_ip *a = &p->allowed_ips[i];
		const struct uapi_allowed_ip *b = &again.peers[0].allowed_ips[i];

		if (a->family != b->family || a->cidr != b->cidr ||
		    memcmp(a->addr, b->addr, sizeof(a->addr)))
			abort();
	}
	uapi_set_free(&again);
	uapi_buf_free(&text);
}

static uint64_t generation;

static int dummy_set(void *ctx, const struct uapi_set *set)
{
	size_t i;

	(void)ctx;
	generation++;
	for (i = 0; i < set->n_peers; i++)
		check_round_trip(&set->peers[i]);
	return set->has_fwmark && set->fwmark == 98 ? -EADDRINUSE : 0;
}

/* Four pieces: the device lines and a peer, then three more prefixes. */
static int dummy_get_piece(void *ctx, void **pos, struct uapi_buf *out)
{
	static const uint8_t key[32] = { 1, 2, 3 };
	uintptr_t i = (uintptr_t)*pos;
	uint8_t v4[4] = { 10, (uint8_t)i, 0, 0 };

	(void)ctx;
	if (!i) {
		uapi_buf_put_hex(out, "private_key", key, sizeof(key));
		uapi_buf_printf(out, "listen_port=%u\n", 51820);
		uapi_buf_put_hex(out, "public_key", key, sizeof(key));
	}
	uapi_buf_put_allowed_ip(out, AF_INET, v4, 16);
	*pos = (void *)(i + 1);
	return i + 1 < 4;
}

static int dummy_get(void *ctx, struct uapi_buf *out)
{
	void *pos = NULL;
	int ret;

	while ((ret = dummy_get_piece(ctx, &pos, out)) > 0)
		;
	return ret;
}

static uint64_t dummy_generation(void *ctx)
{
	(void)ctx;
	return generation;
}

static void drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void feed_connection(const uint8_t *data, size_t size)
{
	const struct uapi_ops pieces = { .set = dummy_set, .get = dummy_get,
					 .get_piece = dummy_get_piece,
					 .generation = dummy_generation };
	const struct uapi_ops whole = { .set = dummy_set, .get = dummy_get };
	const struct uapi_ops ops = size & 1 ? pieces : whole;
	struct uapi_server srv;
	struct uapi_conn conn;
	size_t chunk = size ? 1 + data[0] % 97 : 1, off = 0;
	int sv[2], open = 1;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv))
		return;
	uapi_server_init(&srv);
	srv.input_max = 192 * 1024;
	uapi_conn_init(&conn, sv[0]);
	uapi_server_add(&srv, &conn);
	conn.write_timeout_ms = 20;
	while (open && off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		ssize_t w = send(sv[1], data + off, n, MSG_NOSIGNAL);

		if (w > 0)
			off += (size_t)w;
		open = uapi_conn_on_readable(&conn, &ops);
		drain(sv[1]);
	}
	if (open) {
		shutdown(sv[1], SHUT_WR);
		while (uapi_conn_on_readable(&conn, &ops))
			drain(sv[1]);
	}
	uapi_conn_close(&conn);
	close(sv[1]);
	if (srv.n_conns || srv.input || srv.pending)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	size_t len = size, i;
	struct uapi_set set;

	/* The corpus holds whole conversations: parse a leading set's body. */
	if (len >= 6 && !memcmp(text, "set=1\n", 6)) {
		text += 6;
		len -= 6;
	}
	if (!uapi_set_parse(&set, text, len))
		for (i = 0; i < set.n_peers; i++)
			check_round_trip(&set.peers[i]);
	uapi_set_free(&set);
	feed_connection(data, size);
	return 0;
}
