// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the Noise consume functions, called directly (no
 * type/length/mac1 gate in front of them as in the `packets` target), with
 * a fixed local identity and one known peer. The first input byte picks the
 * function, the rest is the message (zero-filled or cut to its size):
 *
 *   0  noise_handshake_consume_initiation, peer handshake ZEROED
 *   1  noise_handshake_consume_response, peer handshake in
 *      CREATED_INITIATION (an initiation we made with a fixed ephemeral)
 *   2  cookie_message_consume, have_sent_mac1 set (our initiation's mac1)
 *   3  transport_open with a fixed keypair (any length: the data message)
 *
 * Everything is deterministic: the platform seam gives a fixed clock, a
 * fixed wall clock and a seeded byte stream, reset for every input, so a
 * crash reproduces from its input alone.
 *
 * The seeds in tests/fuzz/corpus/noise_consume/ named valid_* are real
 * messages for these keys, so the fuzzer starts past the AEADs. They are
 * rebuilt here at start-up and must be accepted, or the target aborts (a
 * change in the handshake would otherwise silently leave it at the
 * surface). To write them again:
 *
 *   NOISE_CONSUME_WRITE_SEEDS=tests/fuzz/corpus/noise_consume \
 *           build/fuzz/noise_consume -runs=0
 *
 * Invariants checked on every accepted message:
 *   - the handshake returned is the peer's, in the state the step leads to,
 *     holding the sender index of the message;
 *   - it goes on to a session (a response is created, begin_session gives a
 *     keypair on the right side) and the same message again is refused
 *     (replay / flood / state);
 *   - a consumed cookie is stored once: a second reply is refused;
 *   - an opened data message has a counter below REJECT_AFTER_MESSAGES,
 *     passes the replay window once and only once.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/handshake/cookie.h"
#include "ctl/handshake/crypto.h"
#include "ctl/handshake/noise.h"
#include "datapath/replay.h"
#include "datapath/transport.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum which { CONSUME_INITIATION, CONSUME_RESPONSE, CONSUME_COOKIE, OPEN_DATA, N_WHICH };

#define FIXED_NOW (1000 * NSEC_PER_SEC)
#define FIXED_WALL_SEC 1700000000ULL
#define MAX_DATA_LEN (65535 + MESSAGE_MINIMUM_LENGTH)

/* ---- the deterministic platform ---- */

static uint64_t rand_state;

static void rand_seed(uint64_t seed)
{
	rand_state = seed ? seed : 1;
}

static void fixed_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len--) {
		/* xorshift64*: any fixed stream will do. */
		rand_state ^= rand_state >> 12;
		rand_state ^= rand_state << 25;
		rand_state ^= rand_state >> 27;
		*p++ = (uint8_t)((rand_state * 0x2545f4914f6cdd1dULL) >> 56);
	}
}

static xwg_time_t fixed_now(void)
{
	return FIXED_NOW;
}

static void fixed_wall_clock(uint64_t *sec, uint32_t *nsec)
{
	*sec = FIXED_WALL_SEC;
	*nsec = 0;
}

/* ---- one side: an identity, one peer, an index table of one ---- */

struct side {
	struct noise_static_identity id;
	struct noise_handshake hs;     /* the one peer's */
	struct noise_keypairs kps;
	struct cookie cookie;          /* the peer's cookie state */
	uint32_t next_index;           /* what index_new hands out */
	struct noise_ops ops;
};

static struct noise_handshake *s_lookup_by_static(void *ctx, const uint8_t pk[32])
{
	struct side *s = ctx;

	return !memcmp(s->hs.remote_static, pk, 32) ? &s->hs : NULL;
}

static struct noise_handshake *s_lookup_by_index(void *ctx, uint32_t index)
{
	struct side *s = ctx;

	return index && s->hs.local_index == index ? &s->hs : NULL;
}

static uint32_t s_index_new(void *ctx, struct noise_handshake *hs)
{
	struct side *s = ctx;

	(void)hs;
	return s->next_index;
}

static void s_index_to_keypair(void *ctx, struct noise_handshake *hs,
			       struct noise_keypair *kp)
{
	(void)ctx;
	(void)hs;
	(void)kp;
}

static void s_index_remove(void *ctx, uint32_t index)
{
	(void)ctx;
	(void)index;
}

static void side_init(struct side *s, uint8_t priv_byte, const uint8_t peer_public[32],
		      const uint8_t psk[32], uint32_t index)
{
	uint8_t priv[32];

	memset(s, 0, sizeof(*s));
	memset(priv, priv_byte, sizeof(priv));
	noise_static_identity_set(&s->id, priv);
	if (!s->id.has_identity)
		abort();
	s->next_index = index;
	s->ops = (struct noise_ops){
		.lookup_by_static = s_lookup_by_static,
		.lookup_by_index = s_lookup_by_index,
		.index_new = s_index_new,
		.index_to_keypair = s_index_to_keypair,
		.index_remove = s_index_remove,
		.ctx = s,
	};
	if (peer_public) {
		cookie_init(&s->cookie, peer_public);
		if (!noise_handshake_init(&s->hs, &s->id, peer_public, psk, s))
			abort();
	}
}

/* ---- the fixed world ---- */

static const uint8_t psk[32] = {
	0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33,
	0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33,
	0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33,
};
#define LOCAL_INDEX 0x11223344u
#define PEER_INDEX 0x55667788u

/* Us: the side whose consume functions are fuzzed. */
static struct side local;
/* Snapshots of our peer state, restored before every input. */
static struct noise_handshake hs_zeroed, hs_created_initiation;
static struct cookie cookie_sent_mac1;
/* A keypair for data messages: receiving key 0x44.., sending key 0x55... */
static struct noise_keypair data_keypair;

static void platform_reset(void)
{
	static const struct platform_ops ops = {
		.now = fixed_now,
		.wall_clock = fixed_wall_clock,
		.random = fixed_random,
	};

	platform_set_ops(&ops);
	rand_seed(0x5eed);
}

static void keypair_reset(struct noise_keypair *kp)
{
	memset(kp, 0, sizeof(*kp));
	memset(kp->receiving_key, 0x44, sizeof(kp->receiving_key));
	memset(kp->sending_key, 0x55, sizeof(kp->sending_key));
	atomic_init(&kp->sending_counter, 0);
	atomic_init(&kp->refcount, 1);
	replay_counter_init(&kp->receiving_counter);
	kp->birthdate = FIXED_NOW;
	kp->local_index = LOCAL_INDEX;
	kp->remote_index = PEER_INDEX;
}

/* ---- the four steps; each returns whether the message was accepted ---- */

static void copy_message(void *dst, size_t dst_len, const uint8_t *msg, size_t len)
{
	memset(dst, 0, dst_len);
	memcpy(dst, msg, len < dst_len ? len : dst_len);
}

static bool step_initiation(const uint8_t *msg, size_t len)
{
	struct message_handshake_initiation m;
	struct message_handshake_response resp;
	struct noise_keypair *kp;
	struct noise_handshake *hs;

	copy_message(&m, sizeof(m), msg, len);
	local.hs = hs_zeroed;
	hs = noise_handshake_consume_initiation(&m, &local.id, &local.ops);
	if (!hs) {
		/* Nothing may change for a refused message. */
		if (memcmp(&local.hs, &hs_zeroed, sizeof(hs_zeroed)))
			abort();
		return false;
	}
	if (hs != &local.hs || hs->state != HANDSHAKE_CONSUMED_INITIATION ||
	    hs->remote_index != le32toh(m.sender_index) ||
	    hs->last_initiation_consumption != FIXED_NOW ||
	    crypto_is_zero(hs->latest_timestamp, NOISE_TIMESTAMP_LEN))
		abort();
	/* The same initiation again is a replay (and a flood). */
	if (noise_handshake_consume_initiation(&m, &local.id, &local.ops))
		abort();
	if (!noise_handshake_create_response(&resp, hs, &local.ops) ||
	    le32toh(resp.receiver_index) != le32toh(m.sender_index) ||
	    hs->state != HANDSHAKE_CREATED_RESPONSE)
		abort();
	kp = noise_handshake_begin_session(hs, &local.kps, &local.ops);
	if (!kp || kp->i_am_the_initiator || local.kps.next != kp || local.kps.current ||
	    kp->remote_index != le32toh(m.sender_index) || hs->state != HANDSHAKE_ZEROED)
		abort();
	noise_keypairs_clear(&local.kps, &local.ops);
	return true;
}

static bool step_response(const uint8_t *msg, size_t len)
{
	struct message_handshake_response m;
	struct noise_keypair *kp;
	struct noise_handshake *hs;

	copy_message(&m, sizeof(m), msg, len);
	local.hs = hs_created_initiation;
	hs = noise_handshake_consume_response(&m, &local.id, &local.ops);
	if (!hs) {
		if (memcmp(&local.hs, &hs_created_initiation, sizeof(hs_created_initiation)))
			abort();
		return false;
	}
	if (hs != &local.hs || hs->state != HANDSHAKE_CONSUMED_RESPONSE ||
	    le32toh(m.receiver_index) != LOCAL_INDEX ||
	    hs->remote_index != le32toh(m.sender_index))
		abort();
	/* A second response to the same initiation finds no handshake
	 * waiting for one. */
	if (noise_handshake_consume_response(&m, &local.id, &local.ops))
		abort();
	kp = noise_handshake_begin_session(hs, &local.kps, &local.ops);
	if (!kp || !kp->i_am_the_initiator || local.kps.current != kp ||
	    kp->local_index != LOCAL_INDEX || kp->remote_index != le32toh(m.sender_index) ||
	    hs->state != HANDSHAKE_ZEROED)
		abort();
	if (noise_handshake_consume_response(&m, &local.id, &local.ops))
		abort();
	noise_keypairs_clear(&local.kps, &local.ops);
	return true;
}

static bool step_cookie(const uint8_t *msg, size_t len)
{
	struct message_handshake_cookie m;
	struct message_handshake_initiation again;

	copy_message(&m, sizeof(m), msg, len);
	local.cookie = cookie_sent_mac1;
	if (!cookie_message_consume(&m, &local.cookie)) {
		if (memcmp(&local.cookie, &cookie_sent_mac1, sizeof(cookie_sent_mac1)))
			abort();
		return false;
	}
	if (!local.cookie.is_valid || local.cookie.have_sent_mac1 ||
	    local.cookie.birthdate != FIXED_NOW)
		abort();
	/* One reply per message sent. */
	if (cookie_message_consume(&m, &local.cookie))
		abort();
	/* The cookie now goes into mac2 of the next message. */
	memset(&again, 0x5a, sizeof(again));
	cookie_add_mac_to_packet(&again, sizeof(again), &local.cookie);
	if (crypto_is_zero(again.macs.mac2, COOKIE_LEN))
		abort();
	return true;
}

static bool step_data(const uint8_t *msg, size_t len)
{
	uint8_t *copy, *plain;
	uint64_t counter = ~0ULL;
	bool ok;

	if (len > MAX_DATA_LEN)
		return false;
	/* Exact-size buffers, so ASan sees one byte too far. transport_open
	 * writes len - 32 bytes of plaintext. */
	copy = malloc(len ? len : 1);
	plain = malloc(len > MESSAGE_MINIMUM_LENGTH ? len - MESSAGE_MINIMUM_LENGTH : 1);
	if (!copy || !plain)
		abort();
	if (len)
		memcpy(copy, msg, len);
	keypair_reset(&data_keypair);
	ok = transport_open(&data_keypair, copy, len, plain, &counter);
	if (ok) {
		const struct message_data *hdr = (const struct message_data *)copy;

		if (len < MESSAGE_MINIMUM_LENGTH || counter >= REJECT_AFTER_MESSAGES ||
		    counter != le64toh(hdr->counter))
			abort();
		if (transport_receiver_index(copy) != le32toh(hdr->key_idx))
			abort();
		if (!replay_counter_validate(&data_keypair.receiving_counter, counter) ||
		    replay_counter_validate(&data_keypair.receiving_counter, counter))
			abort();
	}
	free(plain);
	free(copy);
	return ok;
}

static bool run_one(const uint8_t *data, size_t size)
{
	platform_reset();
	if (size < 1)
		return false;
	switch (data[0] % N_WHICH) {
	case CONSUME_INITIATION:
		return step_initiation(data + 1, size - 1);
	case CONSUME_RESPONSE:
		return step_response(data + 1, size - 1);
	case CONSUME_COOKIE:
		return step_cookie(data + 1, size - 1);
	default:
		return step_data(data + 1, size - 1);
	}
}

/* ---- valid messages, from the peer's side ---- */

struct seed {
	const char *name;
	uint8_t bytes[1 + 256];
	size_t len;
};

static void seed_set(struct seed *s, const char *name, enum which which,
		     const void *msg, size_t len)
{
	if (len + 1 > sizeof(s->bytes))
		abort();
	s->name = name;
	s->bytes[0] = (uint8_t)which;
	memcpy(s->bytes + 1, msg, len);
	s->len = len + 1;
}

static void write_seed(const char *dir, const struct seed *s)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, s->name);
	f = fopen(path, "wb");
	if (!f || fwrite(s->bytes, 1, s->len, f) != s->len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct message_handshake_initiation our_init, peer_init;
	struct message_handshake_response peer_resp;
	struct message_handshake_cookie peer_cookie;
	struct cookie_checker peer_checker;
	struct noise_keypair sender;
	struct side peer, responder;
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons(51820),
				   .sin_addr = { htonl(0xc0000201) } };
	static const uint8_t ping[84] = { 0x45, 0, 0, 84, [8] = 64, [9] = 1,
					  [12] = 10, 0, 0, 2, 10, 0, 0, 1 };
	uint8_t data[message_data_len(96)];
	struct seed seeds[6];
	const char *dir = getenv("NOISE_CONSUME_WRITE_SEEDS");
	size_t i, n = 0, len;

	(void)argc;
	(void)argv;
	if (!crypto_init())
		abort();
	platform_reset();

	/* The peer's key (0x22..) is what the `packets` target uses too. */
	{
		uint8_t peer_priv[32], peer_public[32];

		memset(peer_priv, 0x22, 32);
		crypto_clamp(peer_priv);
		if (!crypto_public_key(peer_public, peer_priv))
			abort();
		side_init(&local, 0x11, peer_public, psk, LOCAL_INDEX);
	}
	hs_zeroed = local.hs;

	/* Our initiation, made once with a fixed ephemeral: the handshake a
	 * response must answer, and the mac1 a cookie reply must carry. */
	rand_seed(0x1417);
	if (!noise_handshake_create_initiation(&our_init, &local.hs, &local.ops))
		abort();
	cookie_add_mac_to_packet(&our_init, sizeof(our_init), &local.cookie);
	hs_created_initiation = local.hs;
	cookie_sent_mac1 = local.cookie;
	local.hs = hs_zeroed;
	cookie_init(&local.cookie, hs_zeroed.remote_static);

	/* The peer: the same keys seen from the other end. */
	side_init(&peer, 0x22, local.id.static_public, psk, PEER_INDEX);
	side_init(&responder, 0x22, local.id.static_public, psk, PEER_INDEX);

	/* 0: the peer initiates. */
	rand_seed(0x2417);
	if (!noise_handshake_create_initiation(&peer_init, &peer.hs, &peer.ops))
		abort();
	cookie_add_mac_to_packet(&peer_init, sizeof(peer_init), &peer.cookie);
	seed_set(&seeds[n++], "valid_initiation", CONSUME_INITIATION, &peer_init,
		 sizeof(peer_init));

	/* 1: the peer answers our initiation. */
	rand_seed(0x3417);
	if (noise_handshake_consume_initiation(&our_init, &responder.id, &responder.ops) !=
	    &responder.hs ||
	    !noise_handshake_create_response(&peer_resp, &responder.hs, &responder.ops))
		abort();
	cookie_add_mac_to_packet(&peer_resp, sizeof(peer_resp), &responder.cookie);
	seed_set(&seeds[n++], "valid_response", CONSUME_RESPONSE, &peer_resp,
		 sizeof(peer_resp));

	/* 2: the peer, under load, answers our initiation with a cookie. */
	rand_seed(0x4417);
	cookie_checker_init(&peer_checker, peer.id.static_public, NULL);
	cookie_message_create(&peer_cookie, &peer_checker, &our_init, sizeof(our_init),
			      le32toh(our_init.sender_index), (const struct sockaddr *)&src);
	cookie_checker_uninit(&peer_checker);
	seed_set(&seeds[n++], "valid_cookie", CONSUME_COOKIE, &peer_cookie,
		 sizeof(peer_cookie));

	/* 3: data sealed with our receiving key: a keepalive, a ping, and
	 * one with a counter far ahead. */
	keypair_reset(&sender);
	memcpy(sender.sending_key, sender.receiving_key, 32);
	sender.remote_index = LOCAL_INDEX;
	len = transport_seal(&sender, NULL, 0, 0, data);
	seed_set(&seeds[n++], "valid_keepalive", OPEN_DATA, data, len);
	len = transport_seal(&sender, ping, sizeof(ping),
			     transport_padded_len(sizeof(ping), DEFAULT_MTU), data);
	seed_set(&seeds[n++], "valid_data", OPEN_DATA, data, len);
	atomic_store(&sender.sending_counter, REJECT_AFTER_MESSAGES - 1);
	len = transport_seal(&sender, ping, 20, 32, data);
	seed_set(&seeds[n++], "valid_data_last_counter", OPEN_DATA, data, len);
	crypto_wipe(&sender, sizeof(sender));

	for (i = 0; i < n; i++) {
		if (!run_one(seeds[i].bytes, seeds[i].len)) {
			fprintf(stderr, "noise_consume: seed %s is not accepted\n", seeds[i].name);
			abort();
		}
		/* One flipped bit anywhere in the message refuses it. */
		seeds[i].bytes[seeds[i].len / 2] ^= 0x04;
		if (run_one(seeds[i].bytes, seeds[i].len)) {
			fprintf(stderr, "noise_consume: tampered seed %s is accepted\n",
				seeds[i].name);
			abort();
		}
		seeds[i].bytes[seeds[i].len / 2] ^= 0x04;
		if (dir)
			write_seed(dir, &seeds[i]);
	}
	platform_reset();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run_one(data, size);
	return 0;
}
