/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The primitives of the WireGuard handshake (whitepaper 5.4, protocol.md
 * "Primitives"), behind one header. X25519 and XChaCha20-Poly1305 come from
 * libsodium, BLAKE2s from libb2, ChaCha20-Poly1305 from libsodium or
 * OpenSSL 3 (crypto_aead_backend_set). Every function that can fail returns
 * bool (true = success); only crypto_init logs (a bad XWG_AEAD).
 */
#ifndef XWG_CRYPTO_H
#define XWG_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "constants.h"

/* Call once before anything else; false if libsodium cannot start. Also
 * picks the AEAD backend (below): XWG_AEAD=libsodium|openssl overrides the
 * default; an unknown or unavailable name is reported with log_error and
 * the default kept (xwgd refuses an unknown name before it gets here). */
bool crypto_init(void);

/* HASH(a || b): BLAKE2s-256 over the concatenation of two parts
 * (parts may be NULL with length 0). */
void crypto_hash_concat(uint8_t out[BLAKE2S_HASH_LEN], const void *a, size_t alen,
		 const void *b, size_t blen);

/* Incremental BLAKE2s-256, for hashing several buffers. */
struct crypto_hash_state {
	uint64_t opaque[32];  /* holds a libb2 blake2s_state */
};
void crypto_hash_init(struct crypto_hash_state *st);
void crypto_hash_update(struct crypto_hash_state *st, const void *in, size_t len);
void crypto_hash_final(struct crypto_hash_state *st, uint8_t out[BLAKE2S_HASH_LEN]);

/* Generic BLAKE2s with an output of outlen (1..32) bytes and an optional key
 * (keylen 0..32): exposed for the RFC 7693 vectors. */
void crypto_blake2s(uint8_t *out, size_t outlen, const void *in, size_t inlen,
		    const void *key, size_t keylen);

/* MAC(k, x): keyed BLAKE2s with a 16-byte output (BLAKE2s' key parameter,
 * not HMAC). mac1 and cookies use 32-byte keys, mac2 the 16-byte cookie. */
void crypto_mac(uint8_t out[COOKIE_LEN], const void *key, size_t keylen,
		const void *in, size_t inlen);

/* HMAC(k, x) over BLAKE2s-256, RFC 2104 with block size 64. */
void crypto_hmac(uint8_t out[BLAKE2S_HASH_LEN], const void *key, size_t keylen,
		 const void *in, size_t inlen);

/* KDF_n(key, input) = t1..tn, with t0 = HMAC(key, input),
 * t1 = HMAC(t0, 0x01), ti = HMAC(t0, t(i-1) || i). Outputs may be NULL when
 * not needed (kdf with n = 1, 2 or 3); key may alias an output. */
void crypto_kdf(uint8_t out1[NOISE_HASH_LEN], uint8_t out2[NOISE_HASH_LEN],
		uint8_t out3[NOISE_HASH_LEN], const uint8_t key[NOISE_HASH_LEN],
		const void *input, size_t inlen);

/* X25519. crypto_dh returns false when the result is all zeros (low-order
 * or otherwise invalid public key): the handshake must then be aborted. */
bool crypto_dh(uint8_t out[NOISE_PUBLIC_KEY_LEN],
	       const uint8_t private_key[NOISE_PRIVATE_KEY_LEN],
	       const uint8_t public_key[NOISE_PUBLIC_KEY_LEN]);
/* Public key of a private key; false when the private key is all zeros. */
bool crypto_public_key(uint8_t public_key[NOISE_PUBLIC_KEY_LEN],
		       const uint8_t private_key[NOISE_PRIVATE_KEY_LEN]);
/* Clamp a private key in place (RFC 7748 5). */
void crypto_clamp(uint8_t private_key[NOISE_PRIVATE_KEY_LEN]);
/* A fresh random private key, clamped. */
void crypto_generate_private(uint8_t private_key[NOISE_PRIVATE_KEY_LEN]);

/*
 * Which implementation of ChaCha20-Poly1305 crypto_aead_* use (the
 * XChaCha20 AEAD is always libsodium's). Both give the same bytes and pass
 * the same vectors; they differ only in speed: OpenSSL's is about twice as
 * fast on long messages, libsodium's costs less per call, so short ones
 * are faster there. CRYPTO_AEAD_AUTO picks by length (libsodium below
 * CRYPTO_AEAD_AUTO_OPENSSL_MIN bytes of plaintext, OpenSSL from there).
 * crypto_init() picks the default (the fastest measured, see crypto.c)
 * unless the environment variable XWG_AEAD names one (libsodium, openssl
 * or auto).
 *
 * The OpenSSL backend keeps one EVP_CIPHER_CTX per thread, created on the
 * thread's first packet and freed (its key state wiped) when the thread
 * exits; crypto_thread_release() frees it earlier. When OpenSSL cannot do
 * an operation (no memory for the context, a length past INT_MAX), that
 * call falls back to libsodium, so no operation fails for want of it.
 */
enum crypto_aead_backend {
	CRYPTO_AEAD_LIBSODIUM,
	CRYPTO_AEAD_OPENSSL,
	CRYPTO_AEAD_AUTO,
};
#define CRYPTO_AEAD_BACKENDS 3
#define CRYPTO_AEAD_AUTO_OPENSSL_MIN 384

/* Use this backend from now on (a relaxed atomic: set it before the
 * crypto workers run batches). False, and nothing changed, when it is not
 * available (openssl and auto need an OpenSSL with ChaCha20-Poly1305). */
bool crypto_aead_backend_set(enum crypto_aead_backend backend);
enum crypto_aead_backend crypto_aead_backend_get(void);
bool crypto_aead_backend_is_available(enum crypto_aead_backend backend);
/* "libsodium", "openssl" or "auto"; from_name is the inverse (false if
 * unknown). */
const char *crypto_aead_backend_name(enum crypto_aead_backend backend);
bool crypto_aead_backend_from_name(const char *name,
				   enum crypto_aead_backend *backend);
/* A batch of AEAD calls on this thread (the crypto pool brackets each
 * thread's share of a batch with these). Inside it the OpenSSL backend
 * keeps the last key in the thread's context from one call to the next,
 * and does not set it again when a call passes the same key buffer (~100
 * ns a packet); _end wipes it. So within a batch a key buffer must keep
 * its contents and stay allocated until _end. Outside a batch every call
 * wipes its key from the context when it returns. */
void crypto_aead_batch_begin(void);
void crypto_aead_batch_end(void);
/* Free the calling thread's OpenSSL AEAD context now (it is also freed at
 * thread exit, and for the thread that calls exit(), at exit). */
void crypto_thread_release(void);

/* AEAD(k, n, p, a): ChaCha20-Poly1305 (RFC 8439) with nonce = 4 zero bytes
 * || 64-bit little-endian counter. dst holds len + 16 bytes when sealing;
 * open takes len including the tag and writes len - 16 bytes. dst may equal
 * src (in place). open returns false on a bad tag: dst untouched, except in
 * place, where the buffer's contents are then undefined (the caller drops
 * the message; this saves the OpenSSL backend a copy of every byte). */
void crypto_aead_seal(uint8_t *dst, const uint8_t *src, size_t len,
		      const uint8_t *ad, size_t adlen, uint64_t nonce,
		      const uint8_t key[NOISE_SYMMETRIC_KEY_LEN]);
bool crypto_aead_open(uint8_t *dst, const uint8_t *src, size_t len,
		      const uint8_t *ad, size_t adlen, uint64_t nonce,
		      const uint8_t key[NOISE_SYMMETRIC_KEY_LEN]);

/* Raw RFC 8439 AEAD with a caller-given 12-byte nonce (for the published
 * vectors, whose nonces have nonzero leading bytes). */
void crypto_aead_seal_nonce12(uint8_t *dst, const uint8_t *src, size_t len,
			      const uint8_t *ad, size_t adlen,
			      const uint8_t nonce[12],
			      const uint8_t key[NOISE_SYMMETRIC_KEY_LEN]);
bool crypto_aead_open_nonce12(uint8_t *dst, const uint8_t *src, size_t len,
			      const uint8_t *ad, size_t adlen,
			      const uint8_t nonce[12],
			      const uint8_t key[NOISE_SYMMETRIC_KEY_LEN]);

/* XAEAD(k, n, p, a): XChaCha20-Poly1305 with a 24-byte nonce. */
void crypto_xaead_seal(uint8_t *dst, const uint8_t *src, size_t len,
		       const uint8_t *ad, size_t adlen,
		       const uint8_t nonce[COOKIE_NONCE_LEN],
		       const uint8_t key[NOISE_SYMMETRIC_KEY_LEN]);
bool crypto_xaead_open(uint8_t *dst, const uint8_t *src, size_t len,
		       const uint8_t *ad, size_t adlen,
		       const uint8_t nonce[COOKIE_NONCE_LEN],
		       const uint8_t key[NOISE_SYMMETRIC_KEY_LEN]);

/* TAI64N of a wall-clock time (protocol.md "Primitives"): big-endian
 * 0x400000000000000a + seconds, then big-endian nanoseconds rounded down to
 * a multiple of 2^24 so the timestamp reveals less about the clock. */
void crypto_tai64n(uint8_t out[NOISE_TIMESTAMP_LEN], uint64_t unix_sec,
		   uint32_t nsec);

/* Constant-time equality of two buffers. */
bool crypto_equal(const void *a, const void *b, size_t len);
/* True when all len bytes are zero (constant time). */
bool crypto_is_zero(const void *a, size_t len);
/* Wipe a secret (sodium_memzero). */
void crypto_wipe(void *p, size_t len);

#endif
