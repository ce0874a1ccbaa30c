// SPDX-License-Identifier: GPL-2.0
/*
 * The handshake's primitives: libsodium for X25519 and the AEADs, libb2 for
 * BLAKE2s (libsodium has only BLAKE2b). Definitions follow protocol.md
 * "Primitives" and whitepaper 5.4.
 */
#include "crypto.h"

#include <blake2.h>
#include <endian.h>
#include <sodium.h>
#include <string.h>

_Static_assert(sizeof(struct crypto_hash_state) >= sizeof(blake2s_state),
	       "crypto_hash_state too small for blake2s_state");

bool crypto_init(void)
{
	return sodium_init() >= 0;
}

void crypto_blake2s(uint8_t *out, size_t outlen, const void *in, size_t inlen,
		    const void *key, size_t keylen)
{
	/* libb2 only fails on parameter errors, which callers cannot make
	 * with the fixed sizes used here. */
	blake2s(out, in, key, outlen, inlen, keylen);
}

void crypto_hash_init(struct crypto_hash_state *st)
{
	blake2s_init((blake2s_state *)st, BLAKE2S_HASH_LEN);
}

void crypto_hash_update(struct crypto_hash_state *st, const void *in, size_t len)
{
	blake2s_update((blake2s_state *)st, in, len);
}

void crypto_hash_final(struct crypto_hash_state *st, uint8_t out[BLAKE2S_HASH_LEN])
{
	blake2s_final((blake2s_state *)st, out, BLAKE2S_HASH_LEN);
	sodium_memzero(st, sizeof(*st));
}

void crypto_hash_concat(uint8_t out[BLAKE2S_HASH_LEN], const void *a, size_t alen,
		 const void *b, size_t blen)
{
	struct crypto_hash_state st;

	crypto_hash_init(&st);
	crypto_hash_update(&st, a, alen);
	crypto_hash_update(&st, b, blen);
	crypto_hash_final(&st, out);
}

void crypto_mac(uint8_t out[COOKIE_LEN], const void *key, size_t keylen,
		const void *in, size_t inlen)
{
	blake2s(out, in, key, COOKIE_LEN, inlen, keylen);
}

/* RFC 2104 with BLAKE2s-256 (block 64). Keys longer than a block are hashed
 * first, as RFC 2104 says; WireGuard's keys are always 32 bytes. */
void crypto_hmac(uint8_t out[BLAKE2S_HASH_LEN], const void *key, size_t keylen,
		 const void *in, size_t inlen)
{
	uint8_t x_key[BLAKE2S_BLOCK_LEN] = { 0 };
	uint8_t i_hash[BLAKE2S_HASH_LEN];
	struct crypto_hash_state st;
	size_t i;

	if (keylen > BLAKE2S_BLOCK_LEN)
		crypto_hash_concat(x_key, key, keylen, NULL, 0);
	else if (keylen)
		memcpy(x_key, key, keylen);

	for (i = 0; i < BLAKE2S_BLOCK_LEN; i++)
		x_key[i] ^= 0x36;
	crypto_hash_init(&st);
	crypto_hash_update(&st, x_key, BLAKE2S_BLOCK_LEN);
	crypto_hash_update(&st, in, inlen);
	crypto_hash_final(&st, i_hash);

	for (i = 0; i < BLAKE2S_BLOCK_LEN; i++)
		x_key[i] ^= 0x36 ^ 0x5c;
	crypto_hash_init(&st);
	crypto_hash_update(&st, x_key, BLAKE2S_BLOCK_LEN);
	crypto_hash_update(&st, i_hash, BLAKE2S_HASH_LEN);
	crypto_hash_final(&st, out);

	sodium_memzero(x_key, sizeof(x_key));
	sodium_memzero(i_hash, sizeof(i_hash));
}

void crypto_kdf(uint8_t out1[NOISE_HASH_LEN], uint8_t out2[NOISE_HASH_LEN],
		uint8_t out3[NOISE_HASH_LEN], const uint8_t key[NOISE_HASH_LEN],
		const void *input, size_t inlen)
{
	uint8_t prk[BLAKE2S_HASH_LEN];
	uint8_t t[BLAKE2S_HASH_LEN + 1];

	/* Extract: t0 = HMAC(key, input). */
	crypto_hmac(prk, key, NOISE_HASH_LEN, input, inlen);

	/* Expand: t1 = HMAC(t0, 0x01), ti = HMAC(t0, t(i-1) || i). Outputs
	 * are written only after prk is derived, so key may alias them. */
	t[0] = 1;
	crypto_hmac(t, prk, sizeof(prk), t, 1);
	if (out1)
		memcpy(out1, t, BLAKE2S_HASH_LEN);
	if (out2 || out3) {
		t[BLAKE2S_HASH_LEN] = 2;
		crypto_hmac(t, prk, sizeof(prk), t, sizeof(t));
		if (out2)
			memcpy(out2, t, BLAKE2S_HASH_LEN);
	}
	if (out3) {
		t[BLAKE2S_HASH_LEN] = 3;
		crypto_hmac(t, prk, sizeof(prk), t, sizeof(t));
		memcpy(out3, t, BLAKE2S_HASH_LEN);
	}
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(t, sizeof(t));
}

bool crypto_dh(uint8_t out[NOISE_PUBLIC_KEY_LEN],
	       const uint8_t private_key[NOISE_PRIVATE_KEY_LEN],
	       const uint8_t public_key[NOISE_PUBLIC_KEY_LEN])
{
	/* libsodium returns -1 when the shared secret is all zeros, i.e. the
	 * peer's key is of low order: the handshake must not go on. */
	if (crypto_scalarmult(out, private_key, public_key) != 0) {
		sodium_memzero(out, NOISE_PUBLIC_KEY_LEN);
		return false;
	}
	return true;
}

bool crypto_public_key(uint8_t public_key[NOISE_PUBLIC_KEY_LEN],
		       const uint8_t private_key[NOISE_PRIVATE_KEY_LEN])
{
	if (crypto_is_zero(private_key, NOISE_PRIVATE_KEY_LEN)) {
		memset(public_key, 0, NOISE_PUBLIC_KEY_LEN);
		return false;
	}
	return crypto_scalarmult_base(public_key, private_key) == 0;
}

void crypto_clamp(uint8_t k[NOISE_PRIVATE_KEY_LEN])
{
	k[0] &= 248;
	k[31] = (k[31] & 127) | 64;
}

void crypto_generate_private(uint8_t k[NOISE_PRIVATE_KEY_LEN])
{
	randombytes_buf(k, NOISE_PRIVATE_KEY_LEN);
	crypto_clamp(k);
}

static void nonce_from_counter(uint8_t nonce[12], uint64_t counter)
{
	uint64_t le = htole64(counter);

	memset(nonce, 0, 4);
	memcpy(nonce + 4, &le, 8);
}

void crypto_aead_seal_nonce12(uint8_t *dst, const uint8_t *src, size_t len,
			      const uint8_t *ad, size_t adlen,
			      const uint8_t nonce[12],
			      const uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
	crypto_aead_chacha20poly1305_ietf_encrypt(dst, NULL, src, len, ad, adlen,
						  NULL, nonce, key);
}

bool crypto_aead_open_nonce12(uint8_t *dst, const uint8_t *src, size_t len,
			      const uint8_t *ad, size_t adlen,
			      const uint8_t nonce[12],
			      const uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
	size_t mlen;

	if (len < NOISE_AUTHTAG_LEN)
		return false;
	mlen = len - NOISE_AUTHTAG_LEN;
	/* libsodium's decrypt wipes dst on a bad tag, and dst may be src;
	 * crypto.h promises dst untouched. With m == NULL the detached
	 * decrypt only checks the tag, so check first, then decrypt: the
	 * payload is ChaCha20 from block counter 1 (RFC 8439 2.8). */
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(NULL, NULL, src, mlen,
							       src + mlen, ad, adlen,
							       nonce, key) != 0)
		return false;
	/* xor_ic is declared nonnull; an empty payload may come with no dst. */
	if (mlen)
		crypto_stream_chacha20_ietf_xor_ic(dst, src, mlen, nonce, 1, key);
	return true;
}

void crypto_aead_seal(uint8_t *dst, const uint8_t *src, size_t len,
		      const uint8_t *ad, size_t adlen, uint64_t counter,
		      const uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
	uint8_t nonce[12];

	nonce_from_counter(nonce, counter);
	crypto_aead_seal_nonce12(dst, src, len, ad, adlen, nonce, key);
}

bool crypto_aead_open(uint8_t *dst, const uint8_t *src, size_t len,
		      const uint8_t *ad, size_t adlen, uint64_t counter,
		      const uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
	uint8_t nonce[12];

	nonce_from_counter(nonce, counter);
	return crypto_aead_open_nonce12(dst, src, len, ad, adlen, nonce, key);
}

void crypto_xaead_seal(uint8_t *dst, const uint8_t *src, size_t len,
		       const uint8_t *ad, size_t adlen,
		       const uint8_t nonce[COOKIE_NONCE_LEN],
		       const uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
	crypto_aead_xchacha20poly1305_ietf_encrypt(dst, NULL, src, len, ad, adlen,
						   NULL, nonce, key);
}

bool crypto_xaead_open(uint8_t *dst, const uint8_t *src, size_t len,
		       const uint8_t *ad, size_t adlen,
		       const uint8_t nonce[COOKIE_NONCE_LEN],
		       const uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
	size_t mlen;

	if (len < NOISE_AUTHTAG_LEN)
		return false;
	mlen = len - NOISE_AUTHTAG_LEN;
	/* As crypto_aead_open_nonce12: check the tag without touching dst
	 * (m == NULL), then decrypt (cookie replies only, so the second tag
	 * check costs nothing that matters). */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(NULL, NULL, src, mlen,
								src + mlen, ad, adlen,
								nonce, key) != 0)
		return false;
	return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(dst, NULL, src, mlen,
								   src + mlen, ad, adlen,
								   nonce, key) == 0;
}

void crypto_tai64n(uint8_t out[NOISE_TIMESTAMP_LEN], uint64_t unix_sec,
		   uint32_t nsec)
{
	uint64_t sec = htobe64(0x400000000000000aULL + unix_sec);
	/* Whitepaper 5.1 allows coarsening; like the kernel, keep only the
	 * top bits so the timestamp does not fingerprint the clock. */
	uint32_t ns = htobe32(nsec & ~((1U << 24) - 1));

	memcpy(out, &sec, 8);
	memcpy(out + 8, &ns, 4);
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}

bool crypto_is_zero(const void *a, size_t len)
{
	return sodium_is_zero(a, len) == 1;
}

void crypto_wipe(void *p, size_t len)
{
	sodium_memzero(p, len);
}
