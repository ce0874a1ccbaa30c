// SPDX-License-Identifier: GPL-2.0
/*
 * The Noise IKpsk2 core against the published cacophony vector, and full
 * WireGuard handshakes between two in-process devices: initiation,
 * response, first data both ways, tampering, replay, flood, wrong PSK,
 * cookies and key rotation.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/handshake/cookie.h"
#include "ctl/handshake/crypto.h"
#include "ctl/handshake/noise.h"
#include "datapath/transport.h"
#include "test.h"
#include "tests/suites.h"

/* ../shared/vectors/noise-ikpsk2.json: cacophony's vector for
 * Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s (prologue "John Galt"). */
static const struct {
	const char *prologue, *psk, *init_static, *init_ephemeral,
		*resp_static, *resp_ephemeral, *init_remote_static, *handshake_hash;
	struct {
		const char *payload, *ciphertext;
	} messages[6];
} noise_vector = {
	.prologue = "4a6f686e2047616c74",
	.psk = "54686973206973206d7920417573747269616e20706572737065637469766521",
	.init_static = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1",
	.init_ephemeral = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a",
	.init_remote_static = "31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62",
	.resp_static = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893",
	.resp_ephemeral = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b",
	.handshake_hash = "f5191b875290abcd41347ac3622d9679688a7e980229cb937ef748336cfde0e5",
	.messages = {
		{ "4c756477696720766f6e204d69736573",
		  "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944001e21de9f98ddd8e2ad57527207feb56253c9c94a9e496782ecfcb2a75fbcaf1b52948cc48daefe660c62119ab5000980c84831215f2441eba616548e832985464cf17e51ee93109008399a21f7e13f" },
		{ "4d757272617920526f746862617264",
		  "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843cb765f2caef0751b8f007572dab0322217755c0632f365717edbf34d33e87a" },
		{ "462e20412e20486179656b",
		  "8153ca9833bc3c1b91a7e66e5f4d4f5b59bf9e64c2f20d15f0bba7" },
		{ "4361726c204d656e676572",
		  "07af0c9c86e1b4e80f36b04ff7688d51141af3debd0332f0a705ef" },
		{ "4a65616e2d426170746973746520536179",
		  "6ab1467c0448cc78394494abaaf23afce0e234315d6e2624dcbfa8a21c1c4d073d" },
		{ "457567656e2042f6686d20766f6e2042617765726b",
		  "dfc346c0d2296ae6cf1acf6f12b8456a1dba228cf8d8b774aacf1c47fc53aa80ebc7a4c292" },
	},
};

#define UNHEX(buf, hex) test_unhex((buf), sizeof(buf), (hex))

void test_noise_vector(void)
{
	uint8_t prologue[16], psk[32], init_priv[32], init_eph[32], resp_priv[32],
		resp_eph[32], payload[64], out[256], plain[256], hash_i[32];
	uint8_t send_i[32], recv_i[32], send_r[32], recv_r[32];
	struct noise_static_identity id_i, id_r;
	struct noise_handshake hs_i, hs_r;
	struct noise_initiation_read ri;
	struct noise_response_read rr;
	size_t plen = UNHEX(prologue, noise_vector.prologue), len, i;

	UNHEX(psk, noise_vector.psk);
	UNHEX(init_priv, noise_vector.init_static);
	UNHEX(init_eph, noise_vector.init_ephemeral);
	UNHEX(resp_priv, noise_vector.resp_static);
	UNHEX(resp_eph, noise_vector.resp_ephemeral);
	noise_static_identity_set(&id_i, init_priv);
	noise_static_identity_set(&id_r, resp_priv);
	CHECK_HEX(id_r.static_public, 32, noise_vector.init_remote_static);

	/* Initiator: -> e, es, s, ss */
	CHECK(noise_handshake_init(&hs_i, &id_i, id_r.static_public, psk, NULL));
	len = UNHEX(payload, noise_vector.messages[0].payload);
	CHECK(noise_write_initiation(&hs_i, prologue, plen, init_eph, payload, len, out));
	CHECK_HEX(out, 96 + len, noise_vector.messages[0].ciphertext);

	/* Responder reads it back and learns the initiator's static key. */
	memset(plain, 0, sizeof(plain));
	CHECK(noise_read_initiation(&id_r, prologue, plen, out, 96 + len, plain, NULL, &ri));
	CHECK(!memcmp(plain, payload, len));
	CHECK(!memcmp(ri.remote_static, id_i.static_public, 32));

	/* Responder: <- e, ee, se, psk */
	CHECK(noise_handshake_init(&hs_r, &id_r, ri.remote_static, psk, NULL));
	memcpy(hs_r.chaining_key, ri.chaining_key, 32);
	memcpy(hs_r.hash, ri.hash, 32);
	memcpy(hs_r.remote_ephemeral, ri.remote_ephemeral, 32);
	len = UNHEX(payload, noise_vector.messages[1].payload);
	CHECK(noise_write_response(&hs_r, resp_eph, payload, len, out));
	CHECK_HEX(out, 48 + len, noise_vector.messages[1].ciphertext);
	CHECK_HEX(hs_r.hash, 32, noise_vector.handshake_hash);

	memset(plain, 0, sizeof(plain));
	CHECK(noise_read_response(&hs_i, out, 48 + len, plain, &rr));
	CHECK(!memcmp(plain, payload, len));
	CHECK_HEX(rr.hash, 32, noise_vector.handshake_hash);
	memcpy(hash_i, rr.hash, 32);

	/* Split(); the initiator sends with the first key. Transport
	 * messages alternate initiator, responder, with nonces 0, 0, 1, 1. */
	noise_split(rr.chaining_key, send_i, recv_i);
	noise_split(hs_r.chaining_key, recv_r, send_r);
	CHECK(!memcmp(send_i, recv_r, 32) && !memcmp(recv_i, send_r, 32));
	for (i = 2; i < 6; i++) {
		const uint8_t *k_send = i % 2 == 0 ? send_i : send_r;
		const uint8_t *k_recv = i % 2 == 0 ? recv_r : recv_i;
		uint64_t n = (i - 2) / 2;

		len = UNHEX(payload, noise_vector.messages[i].payload);
		crypto_aead_seal(out, payload, len, NULL, 0, n, k_send);
		CHECKF(test_check_hex(out, len + 16, noise_vector.messages[i].ciphertext,
				      __FILE__, __LINE__, "transport"), "message %zu", i);
		CHECK(crypto_aead_open(plain, out, len + 16, NULL, 0, n, k_recv) &&
		      !memcmp(plain, payload, len));
	}

	/* Any single-bit change to either handshake message must fail. */
	len = UNHEX(payload, noise_vector.messages[0].payload);
	noise_write_initiation(&hs_i, prologue, plen, init_eph, payload, len, out);
	for (i = 0; i < 96 + len; i += 7) {
		out[i] ^= 0x10;
		CHECKF(!noise_read_initiation(&id_r, prologue, plen, out, 96 + len, plain, NULL, &ri),
		       "tampered initiation byte %zu accepted", i);
		out[i] ^= 0x10;
	}
	/* A different prologue yields a different handshake. */
	CHECK(!noise_read_initiation(&id_r, "John Gal", 8, out, 96 + len, plain, NULL, &ri));
}

/* ---- Two in-process WireGuard devices ---- */

struct test_index {
	uint32_t index;
	struct noise_handshake *hs;
	struct noise_keypair *kp;
};

struct test_device {
	struct noise_static_identity id;
	struct cookie_checker checker;
	/* One peer per device. */
	struct noise_handshake hs;
	struct noise_keypairs kps;
	struct cookie cookie;
	struct test_index idx[16];
	struct noise_ops ops;
};

static struct test_index *index_find(struct test_device *d, uint32_t index)
{
	size_t i;

	for (i = 0; i < 16; i++)
		if (index && d->idx[i].index == index)
			return &d->idx[i];
	return NULL;
}

static struct noise_handshake *t_lookup_by_static(void *ctx, const uint8_t pk[32])
{
	struct test_device *d = ctx;

	return !memcmp(d->hs.remote_static, pk, 32) ? &d->hs : NULL;
}

static struct noise_handshake *t_lookup_by_index(void *ctx, uint32_t index)
{
	struct test_index *e = index_find(ctx, index);

	return e && e->hs ? e->hs : NULL;
}

static void t_index_remove(void *ctx, uint32_t index)
{
	struct test_index *e = index_find(ctx, index);

	if (e)
		memset(e, 0, sizeof(*e));
}

static uint32_t t_index_new(void *ctx, struct noise_handshake *hs)
{
	struct test_device *d = ctx;
	struct test_index *e;
	uint32_t index;

	if (hs->local_index)
		t_index_remove(d, hs->local_index);
	do
		index = platform_random_u32();
	while (!index || index_find(d, index));
	e = NULL;
	for (size_t i = 0; i < 16 && !e; i++)
		if (!d->idx[i].index)
			e = &d->idx[i];
	if (!e)
		abort();
	e->index = index;
	e->hs = hs;
	e->kp = NULL;
	return index;
}

static void t_index_to_keypair(void *ctx, struct noise_handshake *hs, struct noise_keypair *kp)
{
	struct test_index *e = index_find(ctx, hs->local_index);

	if (e) {
		e->hs = NULL;
		e->kp = kp;
	}
}

static struct noise_keypair *t_keypair_by_index(struct test_device *d, uint32_t index)
{
	struct test_index *e = index_find(d, index);

	return e ? e->kp : NULL;
}

static void device_init(struct test_device *d, const uint8_t priv[32])
{
	memset(d, 0, sizeof(*d));
	noise_static_identity_set(&d->id, priv);
	cookie_checker_init(&d->checker, d->id.static_public, NULL);
	d->ops = (struct noise_ops){
		.lookup_by_static = t_lookup_by_static,
		.lookup_by_index = t_lookup_by_index,
		.index_new = t_index_new,
		.index_to_keypair = t_index_to_keypair,
		.index_remove = t_index_remove,
		.ctx = d,
	};
}

static bool device_add_peer(struct test_device *d, const struct test_device *peer,
			    const uint8_t psk[32])
{
	cookie_init(&d->cookie, peer->id.static_public);
	return noise_handshake_init(&d->hs, &d->id, peer->id.static_public, psk, d);
}

static void device_uninit(struct test_device *d)
{
	noise_keypairs_clear(&d->kps, &d->ops);
	noise_handshake_clear(&d->hs, &d->ops);
}

static const struct sockaddr_in test_src = {
	.sin_family = AF_INET,
	.sin_port = 0x3412,
	.sin_addr = { 0x010200c0 },  /* 192.0.2.1 */
};
#define TEST_SRC ((const struct sockaddr *)&test_src)

/* What the daemon does with an incoming initiation: type and length,
 * macs, then Noise. */
static struct noise_handshake *receive_initiation(struct test_device *d, const void *msg,
						  size_t len, bool under_load,
						  enum cookie_mac_state *mac_state)
{
	const struct message_handshake_initiation *m = msg;
	enum cookie_mac_state st;

	if (mac_state)
		*mac_state = INVALID_MAC;
	if (len != sizeof(*m) || le32toh(m->header.type) != MESSAGE_HANDSHAKE_INITIATION)
		return NULL;
	st = cookie_validate_packet(&d->checker, msg, len, TEST_SRC, under_load);
	if (mac_state)
		*mac_state = st;
	if (st != VALID_MAC_WITH_COOKIE && !(st == VALID_MAC_BUT_NO_COOKIE && !under_load))
		return NULL;
	return noise_handshake_consume_initiation(m, &d->id, &d->ops);
}

static struct noise_handshake *receive_response(struct test_device *d, const void *msg,
						size_t len)
{
	const struct message_handshake_response *m = msg;

	if (len != sizeof(*m) || le32toh(m->header.type) != MESSAGE_HANDSHAKE_RESPONSE)
		return NULL;
	if (cookie_validate_packet(&d->checker, msg, len, TEST_SRC, false) != VALID_MAC_BUT_NO_COOKIE)
		return NULL;
	return noise_handshake_consume_response(m, &d->id, &d->ops);
}

/* Open a data message the way the receive path does: index, AEAD, replay
 * window, key confirmation. Returns the plaintext length or -1. */
static long receive_data(struct test_device *d, const uint8_t *msg, size_t len, uint8_t *plain)
{
	struct noise_keypair *kp = t_keypair_by_index(d, transport_receiver_index(msg));
	uint64_t counter;

	if (!kp || !transport_open(kp, msg, len, plain, &counter))
		return -1;
	if (!replay_counter_validate(&kp->receiving_counter, counter))
		return -1;
	noise_keypairs_received_with(&d->kps, kp, &d->ops);
	return (long)(len - MESSAGE_MINIMUM_LENGTH);
}

static void fixed_keys(uint8_t a[32], uint8_t b[32])
{
	test_rand_seed(0x5eed);
	test_rand_bytes(a, 32);
	test_rand_bytes(b, 32);
}

/* One complete handshake a -> b; true when both ends hold the session. */
static bool handshake(struct test_device *a, struct test_device *b)
{
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	struct noise_handshake *hs;

	if (!noise_handshake_create_initiation(&init, &a->hs, &a->ops))
		return false;
	cookie_add_mac_to_packet(&init, sizeof(init), &a->cookie);
	hs = receive_initiation(b, &init, sizeof(init), false, NULL);
	if (hs != &b->hs || !noise_handshake_create_response(&resp, hs, &b->ops))
		return false;
	cookie_add_mac_to_packet(&resp, sizeof(resp), &b->cookie);
	if (!noise_handshake_begin_session(hs, &b->kps, &b->ops))
		return false;
	hs = receive_response(a, &resp, sizeof(resp));
	return hs == &a->hs && noise_handshake_begin_session(hs, &a->kps, &a->ops);
}

static void test_full_handshake(void)
{
	uint8_t ka[32], kb[32], psk[32] = { 7 }, buf[256], plain[256];
	const char hello[] = "hello from the initiator";
	struct test_device a, b;
	size_t len;

	fixed_keys(ka, kb);
	device_init(&a, ka);
	device_init(&b, kb);
	CHECK(device_add_peer(&a, &b, psk));
	CHECK(device_add_peer(&b, &a, psk));

	CHECK(handshake(&a, &b));
	CHECK(a.kps.current && a.kps.current->i_am_the_initiator);
	/* The responder may not send until the initiator's first packet. */
	CHECK(!b.kps.current && b.kps.next && !b.kps.next->i_am_the_initiator);
	CHECK(a.kps.current->remote_index == b.kps.next->local_index);
	CHECK(b.kps.next->remote_index == a.kps.current->local_index);
	CHECK(!memcmp(a.kps.current->sending_key, b.kps.next->receiving_key, 32));

	/* First data a -> b confirms the key on b. */
	len = transport_seal(a.kps.current, (const uint8_t *)hello, sizeof(hello),
			     transport_padded_len(sizeof(hello), 1420), buf);
	CHECK(len == message_data_len(32));
	CHECK(receive_data(&b, buf, len, plain) == 32 && !memcmp(plain, hello, sizeof(hello)));
	CHECK(b.kps.current && !b.kps.next);
	/* The same message again is a replay. */
	CHECK(receive_data(&b, buf, len, plain) == -1);

	/* And b -> a (a keepalive: empty payload). */
	len = transport_seal(b.kps.current, NULL, 0, 0, buf);
	CHECK(len == MESSAGE_MINIMUM_LENGTH);
	CHECK(receive_data(&a, buf, len, plain) == 0);

	/* A tampered data message is rejected and does not burn the counter. */
	len = transport_seal(a.kps.current, (const uint8_t *)hello, 5, 16, buf);
	buf[len - 1] ^= 1;
	CHECK(receive_data(&b, buf, len, plain) == -1);
	buf[len - 1] ^= 1;
	CHECK(receive_data(&b, buf, len, plain) == 16);

	/* A second handshake rotates: current -> previous on the initiator. */
	{
		struct noise_keypair *old = a.kps.current;

		test_clock_advance(NSEC_PER_SEC);
		CHECK(handshake(&a, &b));
		CHECK(a.kps.previous == old && a.kps.current != old);
		CHECK(b.kps.next && b.kps.current);
	}
	device_uninit(&a);
	device_uninit(&b);
}

static void test_wrong_psk_and_unknown_peer(void)
{
	uint8_t ka[32], kb[32], kc[32], psk1[32] = { 1 }, psk2[32] = { 2 };
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	struct test_device a, b, c;
	struct noise_handshake *hs;

	fixed_keys(ka, kb);
	memset(kc, 0x42, 32);
	device_init(&a, ka);
	device_init(&b, kb);
	device_init(&c, kc);
	device_add_peer(&a, &b, psk1);
	device_add_peer(&b, &a, psk2);

	/* Wrong PSK: the initiation (no PSK in it yet) passes, the
	 * response does not. */
	CHECK(noise_handshake_create_initiation(&init, &a.hs, &a.ops));
	cookie_add_mac_to_packet(&init, sizeof(init), &a.cookie);
	hs = receive_initiation(&b, &init, sizeof(init), false, NULL);
	CHECK(hs == &b.hs);
	CHECK(hs && noise_handshake_create_response(&resp, hs, &b.ops));
	cookie_add_mac_to_packet(&resp, sizeof(resp), &b.cookie);
	CHECK(!receive_response(&a, &resp, sizeof(resp)));
	CHECK(a.hs.state == HANDSHAKE_CREATED_INITIATION);

	/* c does not know a: a's initiation to c is dropped. */
	device_add_peer(&a, &c, NULL);
	device_add_peer(&c, &b, NULL);
	CHECK(noise_handshake_create_initiation(&init, &a.hs, &a.ops));
	cookie_add_mac_to_packet(&init, sizeof(init), &a.cookie);
	CHECK(!receive_initiation(&c, &init, sizeof(init), false, NULL));

	device_uninit(&a);
	device_uninit(&b);
	device_uninit(&c);
}

/*
 * The responder mixes the initiating peer's precomputed DH(static, static)
 * rather than computing it per initiation: a wrong precomputed value fails
 * the read (so it is the one used), recomputing it restores the handshake,
 * and so does noise_handshake_precompute after the responder's own key
 * changed and the initiator learnt the new public key.
 */
static void test_precomputed_static_static(void)
{
	uint8_t ka[32], kb[32], kb2[32];
	struct test_device a, b;
	struct message_handshake_initiation init;

	fixed_keys(ka, kb);
	memset(kb2, 0x24, 32);
	device_init(&a, ka);
	device_init(&b, kb);
	device_add_peer(&a, &b, NULL);
	device_add_peer(&b, &a, NULL);
	CHECK(handshake(&a, &b));

	test_clock_advance(NSEC_PER_SEC);
	b.hs.precomputed_static_static[7] ^= 1;
	CHECK(noise_handshake_create_initiation(&init, &a.hs, &a.ops));
	cookie_add_mac_to_packet(&init, sizeof(init), &a.cookie);
	CHECK(!receive_initiation(&b, &init, sizeof(init), false, NULL));
	CHECK(b.hs.state != HANDSHAKE_CONSUMED_INITIATION);

	CHECK(noise_handshake_precompute(&b.hs));
	test_clock_advance(NSEC_PER_SEC);
	CHECK(handshake(&a, &b));

	/* b's key changes: stale precomputation until it is redone. */
	noise_static_identity_set(&b.id, kb2);
	cookie_checker_init(&b.checker, b.id.static_public, NULL);
	noise_keypairs_clear(&a.kps, &a.ops);
	noise_handshake_clear(&a.hs, &a.ops);
	device_add_peer(&a, &b, NULL);
	test_clock_advance(NSEC_PER_SEC);
	CHECK(noise_handshake_create_initiation(&init, &a.hs, &a.ops));
	cookie_add_mac_to_packet(&init, sizeof(init), &a.cookie);
	CHECK(!receive_initiation(&b, &init, sizeof(init), false, NULL));
	CHECK(noise_handshake_precompute(&b.hs));
	test_clock_advance(NSEC_PER_SEC);
	CHECK(handshake(&a, &b));

	device_uninit(&a);
	device_uninit(&b);
}

/* Flip one byte of each field of each message: every one is rejected. */
static void test_tampering(void)
{
	static const struct {
		const char *field;
		size_t offset;
	} init_fields[] = {
		{ "type", 0 }, { "reserved", 2 }, { "sender_index", 5 },
		{ "unencrypted_ephemeral", 10 }, { "encrypted_static", 40 },
		{ "encrypted_static tag", 85 }, { "encrypted_timestamp", 90 },
		{ "encrypted_timestamp tag", 110 }, { "mac1", 120 },
	}, resp_fields[] = {
		{ "type", 0 }, { "reserved", 1 }, { "sender_index", 4 },
		{ "receiver_index", 8 }, { "unencrypted_ephemeral", 20 },
		{ "encrypted_nothing", 50 }, { "mac1", 62 },
	};
	uint8_t ka[32], kb[32];
	struct message_handshake_initiation init, bad_init;
	struct message_handshake_response resp, bad_resp;
	struct test_device a, b;
	size_t i;

	fixed_keys(ka, kb);
	device_init(&a, ka);
	device_init(&b, kb);
	device_add_peer(&a, &b, NULL);
	device_add_peer(&b, &a, NULL);

	CHECK(noise_handshake_create_initiation(&init, &a.hs, &a.ops));
	cookie_add_mac_to_packet(&init, sizeof(init), &a.cookie);
	for (i = 0; i < sizeof(init_fields) / sizeof(init_fields[0]); i++) {
		bad_init = init;
		((uint8_t *)&bad_init)[init_fields[i].offset] ^= 0x01;
		CHECKF(!receive_initiation(&b, &bad_init, sizeof(bad_init), false, NULL),
		       "initiation with tampered %s accepted", init_fields[i].field);
		/* The Noise layer alone also refuses the encrypted parts. */
		if (init_fields[i].offset >= 8 && init_fields[i].offset < 116)
			CHECKF(!noise_handshake_consume_initiation(&bad_init, &b.id, &b.ops),
			       "noise accepted tampered %s", init_fields[i].field);
	}
	CHECK(b.hs.state == HANDSHAKE_ZEROED);
	/* mac2 is checked only under load: tampering it is caught there. */
	bad_init = init;
	bad_init.macs.mac2[3] ^= 1;
	CHECK(!receive_initiation(&b, &bad_init, sizeof(bad_init), true, NULL));

	/* The genuine one still goes through after all that. */
	CHECK(receive_initiation(&b, &init, sizeof(init), false, NULL) == &b.hs);
	CHECK(noise_handshake_create_response(&resp, &b.hs, &b.ops));
	cookie_add_mac_to_packet(&resp, sizeof(resp), &b.cookie);
	for (i = 0; i < sizeof(resp_fields) / sizeof(resp_fields[0]); i++) {
		bad_resp = resp;
		((uint8_t *)&bad_resp)[resp_fields[i].offset] ^= 0x01;
		CHECKF(!receive_response(&a, &bad_resp, sizeof(bad_resp)),
		       "response with tampered %s accepted", resp_fields[i].field);
		if (resp_fields[i].offset >= 12 && resp_fields[i].offset < 60)
			CHECKF(!noise_handshake_consume_response(&bad_resp, &a.id, &a.ops),
			       "noise accepted tampered %s", resp_fields[i].field);
	}
	CHECK(a.hs.state == HANDSHAKE_CREATED_INITIATION);
	CHECK(receive_response(&a, &resp, sizeof(resp)) == &a.hs);

	/* Wrong lengths never reach Noise. */
	CHECK(!receive_initiation(&b, &init, sizeof(init) - 1, false, NULL));
	CHECK(!receive_response(&a, &resp, sizeof(resp) + 1));
	device_uninit(&a);
	device_uninit(&b);
}

static void test_replay_and_flood(void)
{
	uint8_t ka[32], kb[32];
	struct message_handshake_initiation first, second;
	struct test_device a, b;

	fixed_keys(ka, kb);
	device_init(&a, ka);
	device_init(&b, kb);
	device_add_peer(&a, &b, NULL);
	device_add_peer(&b, &a, NULL);

	CHECK(noise_handshake_create_initiation(&first, &a.hs, &a.ops));
	cookie_add_mac_to_packet(&first, sizeof(first), &a.cookie);
	CHECK(receive_initiation(&b, &first, sizeof(first), false, NULL) == &b.hs);

	/* Replayed long after the flood window: the timestamp is not newer. */
	test_clock_advance(10 * NSEC_PER_SEC);
	CHECK(!receive_initiation(&b, &first, sizeof(first), false, NULL));

	/* A fresh initiation right after one was consumed is a flood ... */
	test_clock_advance(NSEC_PER_SEC);
	CHECK(noise_handshake_create_initiation(&first, &a.hs, &a.ops));
	cookie_add_mac_to_packet(&first, sizeof(first), &a.cookie);
	CHECK(receive_initiation(&b, &first, sizeof(first), false, NULL) == &b.hs);
	test_clock_advance(NSEC_PER_SEC / INITIATIONS_PER_SECOND / 2);
	CHECK(noise_handshake_create_initiation(&second, &a.hs, &a.ops));
	cookie_add_mac_to_packet(&second, sizeof(second), &a.cookie);
	/* (TAI64N keeps ~16 ms resolution; the flood check must hold even
	 * when the timestamp did move.) */
	CHECK(!receive_initiation(&b, &second, sizeof(second), false, NULL));
	/* ... and accepted once 1/50 s has passed, if its timestamp is newer. */
	test_clock_advance(NSEC_PER_SEC / INITIATIONS_PER_SECOND);
	CHECK(noise_handshake_create_initiation(&second, &a.hs, &a.ops));
	cookie_add_mac_to_packet(&second, sizeof(second), &a.cookie);
	CHECK(receive_initiation(&b, &second, sizeof(second), false, NULL) == &b.hs);
	device_uninit(&a);
	device_uninit(&b);
}

void test_noise_handshake(void)
{
	/* A fake monotonic clock and a fake wall clock that follows it, so
	 * TAI64N timestamps advance with the test. */
	test_clock_install(1000 * NSEC_PER_SEC);
	test_full_handshake();
	test_wrong_psk_and_unknown_peer();
	test_tampering();
	test_replay_and_flood();
	test_precomputed_static_static();

	/* A low-order peer key can never handshake. */
	{
		uint8_t ka[32], kb[32], zero[32] = { 0 };
		struct message_handshake_initiation init;
		struct test_device a;

		fixed_keys(ka, kb);
		device_init(&a, ka);
		CHECK(!noise_handshake_init(&a.hs, &a.id, zero, NULL, &a));
		CHECK(!noise_handshake_create_initiation(&init, &a.hs, &a.ops));
		device_uninit(&a);
	}
}

void test_cookie(void)
{
	uint8_t ka[32], kb[32];
	struct message_handshake_initiation init;
	struct message_handshake_cookie reply;
	enum cookie_mac_state st = INVALID_MAC;
	struct test_device a, b;
	struct test_index *e;

	test_clock_install(5000 * NSEC_PER_SEC);
	fixed_keys(ka, kb);
	device_init(&a, ka);
	device_init(&b, kb);
	device_add_peer(&a, &b, NULL);
	device_add_peer(&b, &a, NULL);

	/* Under load, an initiation without a cookie gets a cookie reply. */
	CHECK(noise_handshake_create_initiation(&init, &a.hs, &a.ops));
	cookie_add_mac_to_packet(&init, sizeof(init), &a.cookie);
	CHECK(crypto_is_zero(init.macs.mac2, 16));
	CHECK(!receive_initiation(&b, &init, sizeof(init), true, &st));
	CHECK(st == VALID_MAC_BUT_NO_COOKIE);
	cookie_message_create(&reply, &b.checker, &init, sizeof(init),
			      le32toh(init.sender_index), TEST_SRC);
	CHECK(le32toh(reply.header.type) == MESSAGE_HANDSHAKE_COOKIE);
	CHECK(reply.receiver_index == init.sender_index);

	/* The initiator finds the peer by the index and stores the cookie;
	 * a tampered reply is refused. */
	e = index_find(&a, le32toh(reply.receiver_index));
	CHECK(e && e->hs == &a.hs);
	reply.encrypted_cookie[0] ^= 1;
	CHECK(!cookie_message_consume(&reply, &a.cookie));
	reply.encrypted_cookie[0] ^= 1;
	CHECK(cookie_message_consume(&reply, &a.cookie));
	CHECK(a.cookie.is_valid);
	/* A second copy of the reply is refused (mac1 already answered). */
	CHECK(!cookie_message_consume(&reply, &a.cookie));

	/* The next initiation carries a valid mac2 and passes under load. */
	test_clock_advance(NSEC_PER_SEC);
	CHECK(noise_handshake_create_initiation(&init, &a.hs, &a.ops));
	cookie_add_mac_to_packet(&init, sizeof(init), &a.cookie);
	CHECK(!crypto_is_zero(init.macs.mac2, 16));
	CHECK(receive_initiation(&b, &init, sizeof(init), true, &st) == &b.hs);
	CHECK(st == VALID_MAC_WITH_COOKIE);

	/* From another source port the cookie does not fit. */
	{
		struct sockaddr_in other = test_src;

		other.sin_port ^= 0x0100;
		CHECK(cookie_validate_packet(&b.checker, &init, sizeof(init),
					     (const struct sockaddr *)&other, true) ==
		      VALID_MAC_BUT_NO_COOKIE);
	}

	/* A cookie expires: past 120 - 5 s the initiator stops using it ... */
	test_clock_advance((COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY) * NSEC_PER_SEC);
	CHECK(noise_handshake_create_initiation(&init, &a.hs, &a.ops));
	cookie_add_mac_to_packet(&init, sizeof(init), &a.cookie);
	CHECK(crypto_is_zero(init.macs.mac2, 16));
	/* ... and the responder's secret rotates, so old cookies fail. */
	{
		uint8_t old_secret[32];

		memcpy(old_secret, b.checker.secret, 32);
		test_clock_advance(COOKIE_SECRET_MAX_AGE * NSEC_PER_SEC);
		cookie_validate_packet(&b.checker, &init, sizeof(init), TEST_SRC, true);
		CHECK(memcmp(old_secret, b.checker.secret, 32) != 0);
	}

	/* Garbage never validates. */
	memset(&init, 0xa5, sizeof(init));
	CHECK(cookie_validate_packet(&b.checker, &init, sizeof(init), TEST_SRC, false) ==
	      INVALID_MAC);
	device_uninit(&a);
	device_uninit(&b);
}

void test_transport(void)
{
	static const struct {
		size_t len;
		unsigned int mtu;
		size_t padded;
	} pad[] = {
		/* 1 */ { 0, 1420, 0 },        /* keepalive stays empty */
		/* 2 */ { 1, 1420, 16 },
		/* 3 */ { 16, 1420, 16 },
		/* 4 */ { 17, 1420, 32 },
		/* 5 */ { 1410, 1420, 1420 },  /* rounding stops at the MTU */
		/* 6 */ { 1420, 1420, 1420 },
		/* 7 */ { 1421, 1420, 1421 },  /* past the MTU: never padded */
		/* 8 */ { 100, 0, 100 },
	};
	struct noise_keypair kp = { 0 };
	uint8_t msg[64], plain[64];
	uint64_t counter;
	size_t i, len;

	for (i = 0; i < sizeof(pad) / sizeof(pad[0]); i++)
		CHECKF(transport_padded_len(pad[i].len, pad[i].mtu) == pad[i].padded,
		       "padding case %zu", i + 1);

	test_clock_install(1000 * NSEC_PER_SEC);
	kp.birthdate = platform_now();
	memset(kp.sending_key, 1, 32);
	memcpy(kp.receiving_key, kp.sending_key, 32);
	atomic_init(&kp.refcount, 1);

	/* The last usable counter is REJECT_AFTER_MESSAGES - 1; after it the
	 * keypair refuses to seal, and never wraps. */
	atomic_store(&kp.sending_counter, REJECT_AFTER_MESSAGES - 1);
	len = transport_seal(&kp, NULL, 0, 0, msg);
	CHECK(len == MESSAGE_MINIMUM_LENGTH);
	CHECK(transport_open(&kp, msg, len, plain, &counter) &&
	      counter == REJECT_AFTER_MESSAGES - 1);
	CHECK(transport_seal(&kp, NULL, 0, 0, msg) == 0);
	CHECK(transport_seal(&kp, NULL, 0, 0, msg) == 0);
	CHECK(atomic_load(&kp.sending_counter) == REJECT_AFTER_MESSAGES);

	/* A counter at the limit is refused on receipt even with a good tag. */
	{
		struct message_data *hdr = (struct message_data *)msg;

		crypto_aead_seal(msg + 16, NULL, 0, NULL, 0, REJECT_AFTER_MESSAGES, kp.sending_key);
		hdr->counter = htole64(REJECT_AFTER_MESSAGES);
		CHECK(!transport_open(&kp, msg, MESSAGE_MINIMUM_LENGTH, plain, &counter));
	}

	/* Past REJECT_AFTER_TIME the keypair neither seals nor opens. */
	atomic_store(&kp.sending_counter, 0);
	len = transport_seal(&kp, NULL, 0, 0, msg);
	CHECK(len == MESSAGE_MINIMUM_LENGTH);
	test_clock_advance(REJECT_AFTER_TIME * NSEC_PER_SEC);
	CHECK(transport_seal(&kp, NULL, 0, 0, msg) == 0);
	CHECK(!transport_open(&kp, msg, len, plain, &counter));
	/* Too short to be a data message. */
	CHECK(!transport_open(&kp, msg, MESSAGE_MINIMUM_LENGTH - 1, plain, &counter));
}
