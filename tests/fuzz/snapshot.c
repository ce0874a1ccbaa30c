// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the takeover snapshot reader (ctl/snapshot.c).
 *
 * The input is a snapshot. Its header's total length is set to the input's
 * length and its checksum recomputed before it is read, so the fuzzer
 * explores the records rather than the hash (the unit tests cover those two
 * checks). The clock is fixed (FUZZ_NOW), so times in an input mean the
 * same on every run.
 *
 * Invariants:
 *   - a refused snapshot leaves the device fresh (no peer, key, index,
 *     prefix or timer) and a message;
 *   - an accepted one is written again, and that snapshot is accepted by a
 *     second device and written again byte for byte the same (the reader
 *     and writer agree on every field they keep).
 *
 * The seed tests/fuzz/corpus/snapshot/valid is a real snapshot of a device
 * with sessions, a handshake in progress, endpoints and prefixes; it is
 * rebuilt at start-up and must be accepted, or the target aborts. To write
 * it again:
 *
 *   SNAPSHOT_WRITE_SEEDS=tests/fuzz/corpus/snapshot build/fuzz/snapshot -runs=0
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constants.h"
#include "ctl/device.h"
#include "ctl/handshake/crypto.h"
#include "base/log.h"
#include "ctl/snapshot.h"
#include "ctl/uapi.h"

#define FUZZ_NOW (1000 * NSEC_PER_SEC)

static struct wg_device dev_a, dev_b;

static xwg_time_t fixed_now(void)
{
	return FUZZ_NOW;
}

static uint64_t seed_state = 15;

static void seeded_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len--) {
		seed_state = seed_state * 6364136223846793005ULL + 1442695040888963407ULL;
		*p++ = (uint8_t)(seed_state >> 56);
	}
}

static bool fresh(struct wg_device *dev)
{
	return !dev->peers.count && !dev->static_identity.has_identity && !dev->indices.used &&
	       !allowedips_count(&dev->allowedips) && !timers_next_deadline(&dev->timers);
}

static void clear(struct wg_device *dev)
{
	snapshot_device_clear(dev);
	dev->next_peer_id = 0;
}

static void hex(char *out, const uint8_t *b)
{
	size_t i;

	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The seed: three peers, sessions on two, a handshake in progress. */
static uint8_t *seed(size_t *len)
{
	static const char *const peer_lines[] = {
		"endpoint=192.0.2.1:51820\nallowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\n",
		"endpoint=[2001:db8::2]:51821\npersistent_keepalive_interval=25\n"
		"allowed_ip=10.0.1.0/24\n",
		"allowed_ip=10.0.2.2/32\n",
	};
	struct uapi_buf cfg = { 0 };
	struct uapi_set set;
	struct wg_peer *peer;
	uint8_t key[32], pub[32], *buf;
	char h[65];
	unsigned int i;

	seeded_random(key, 32);
	crypto_clamp(key);
	hex(h, key);
	uapi_buf_printf(&cfg, "private_key=%s\n", h);
	for (i = 0; i < 3; i++) {
		seeded_random(key, 32);
		crypto_clamp(key);
		crypto_public_key(pub, key);
		hex(h, pub);
		uapi_buf_printf(&cfg, "public_key=%s\n%s", h, peer_lines[i]);
	}
	uapi_buf_printf(&cfg, "\n");
	if (cfg.oom || uapi_set_parse(&set, cfg.data, cfg.len) || device_config_set(&dev_a, &set))
		abort();
	uapi_set_free(&set);
	uapi_buf_free(&cfg);
	for (peer = dev_a.peers.first, i = 0; peer; peer = peer->next, i++) {
		struct message_handshake_initiation msg;
		struct noise_handshake *hs = &peer->handshake;

		if (i < 2) {
			if (!noise_handshake_create_initiation(&msg, hs, &dev_a.noise_ops))
				abort();
			seeded_random(hs->remote_ephemeral, 32);
			hs->remote_index = 1000 + i;
			hs->state = i ? HANDSHAKE_CREATED_RESPONSE : HANDSHAKE_CONSUMED_RESPONSE;
			if (!noise_handshake_begin_session(hs, &peer->keypairs, &dev_a.noise_ops))
				abort();
		}
		if (i != 1) {
			if (!noise_handshake_create_initiation(&msg, hs, &dev_a.noise_ops))
				abort();
			timers_handshake_initiated(&peer->timers);
		}
		timers_data_sent(&peer->timers);
		peer->rx_bytes = 1000 * (i + 1);
	}
	*len = snapshot_write(&dev_a, NULL, 0);
	buf = malloc(*len);
	if (!buf || snapshot_write(&dev_a, buf, *len) != *len)
		abort();
	clear(&dev_a);
	return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct platform_ops ops = { .now = fixed_now, .random = seeded_random };
	const char *dir = getenv("SNAPSHOT_WRITE_SEEDS");
	char why[256];
	uint8_t *buf;
	size_t len;

	(void)argc;
	(void)argv;
	log_set_level(LOG_LEVEL_SILENT);
	if (!crypto_init() || device_init(&dev_a, "fuzz0", 1) || device_init(&dev_b, "fuzz0", 1))
		abort();
	platform_set_ops(&ops);
	buf = seed(&len);
	if (snapshot_read(&dev_a, buf, len, why, sizeof(why))) {
		fprintf(stderr, "the seed snapshot is refused: %s\n", why);
		abort();
	}
	clear(&dev_a);
	if (dir) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/valid", dir);
		f = fopen(path, "wb");
		if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
			abort();
	}
	free(buf);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *in, *out, *again;
	size_t n, n2;
	char why[256];
	int ret;

	in = malloc(size ? size : 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	if (size >= SNAPSHOT_HEADER_LEN + SNAPSHOT_TRAILER_LEN) {
		uint64_t total = htole64(size);

		memcpy(in + 16, &total, 8);
		snapshot_checksum_fix(in, size);
	}
	seed_state = 15;
	ret = snapshot_read(&dev_a, in, size, why, sizeof(why));
	free(in);
	if (ret) {
		if (!fresh(&dev_a) || !why[0])
			abort();
		return 0;
	}

	n = snapshot_write(&dev_a, NULL, 0);
	out = malloc(n);
	if (!out || snapshot_write(&dev_a, out, n) != n)
		abort();
	if (snapshot_read(&dev_b, out, n, why, sizeof(why))) {
		fprintf(stderr, "an accepted snapshot, written again, is refused: %s\n", why);
		abort();
	}
	n2 = snapshot_write(&dev_b, NULL, 0);
	again = malloc(n2);
	if (!again || snapshot_write(&dev_b, again, n2) != n2 || n2 != n || memcmp(out, again, n))
		abort();
	free(out);
	free(again);
	clear(&dev_a);
	clear(&dev_b);
	return 0;
}
