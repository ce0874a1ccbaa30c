// SPDX-License-Identifier: GPL-2.0
/*
 * The handshake's primitives: libsodium for X25519 and XChaCha20-Poly1305,
 * libb2 for BLAKE2s (libsodium has only BLAKE2b), and ChaCha20-Poly1305 from
 * libsodium or OpenSSL 3 (the transport data path spends nearly all its CPU
 * there, and OpenSSL's AVX2/AVX-512 code is the faster one on x86-64).
 * Definitions follow protocol.md "Primitives" and whitepaper 5.4.
 */
#include "crypto.h"

#include <blake2.h>
#include <endian.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

_Static_assert(sizeof(struct crypto_hash_state) >= sizeof(blake2s_state),
	       "crypto_hash_state too small for blake2s_state");

/*
 * The default ChaCha20-Poly1305 backend, chosen by measurement
 * (bench/crypto.sh: one core of the 2-vCPU AMD EPYC, Zen 4 with AVX-512,
 * that this project is developed on; OpenSSL 3.0.19, libsodium 1.0.18;
 * MB/s of plaintext per core, sealing; opening within 5 %):
 *
 *   bytes                     64    512   1420   8192
 *   libsodium                206    904    968   1464
 *   openssl, call by call    122    744   1313   3121
 *   openssl, in batches      151    878   1479   3059
 *
 * OpenSSL's AVX-512 code is twice as fast in bulk, but each call costs
 * more (EVP dispatch, and ChaCha20 four blocks wide even for one block):
 * ~0.3 us call by call, ~0.2 us in the crypto pool's batches, where the
 * key stays loaded from packet to packet (crypto_aead_batch_begin). So
 * libsodium wins on short messages (64 bytes: 3.2 against 1.9-2.4
 * Mpkt/s). Scans every 32 bytes put the crossing between 256 and 384:
 * below, libsodium leads; from 384 to 640 the two are within about 15 %
 * (libsodium best at 512..608, where its 8-block loop fits); from 640
 * OpenSSL leads (1420 bytes, a full MTU: +36 to +51 %). So the default is
 * auto, switching at CRYPTO_AEAD_AUTO_OPENSSL_MIN (crypto.h).
 */
#define CRYPTO_AEAD_DEFAULT CRYPTO_AEAD_AUTO

static _Atomic int aead_backend = CRYPTO_AEAD_LIBSODIUM;

/*
 * OpenSSL: one EVP_CIPHER_CTX per thread, bound to the cipher once, then
 * per packet EVP_*Init_ex2 with key and nonce (no allocation, no fetch).
 * Contexts cannot be shared between threads, and one per keypair would
 * need one per keypair and thread.
 *
 * What OpenSSL 3 keeps in the context (providers/implementations/ciphers/
 * cipher_chacha20_poly1305*.c): the ChaCha20 key words, the nonce and
 * counter, the last tag, a 64-byte block of keystream (the last partial
 * block, or block 0 whose first half is that message's one-time Poly1305
 * key) and the Poly1305 state, which Poly1305_Final cleanses. After every
 * operation (or, inside a batch of the crypto pool, after the batch)
 * evp_forget_key() overwrites the key words with zeros, so no session key
 * outlives its packet or batch here; what stays is keystream of one
 * message's (key, nonce), which tells nothing about the key (ChaCha20 is a
 * PRF) and cannot forge under another nonce. Freeing the context
 * (thread exit, crypto_thread_release) clears it whole (OPENSSL_clear_free).
 *
 * Opening decrypts into a per-thread scratch buffer and copies to dst only
 * once the tag (checked with CRYPTO_memcmp) is good: OpenSSL decrypts while
 * it authenticates, and the data path opens in place, where a refused
 * packet must leave the buffer as it was (crypto.h). The scratch buffer
 * grows to the longest message seen (no allocation per packet) and holds
 * the last plaintext opened, never key material; it is wiped when freed.
 */
struct evp_thread {
	EVP_CIPHER_CTX *ctx;
	uint8_t *scratch;
	size_t scratch_len;
	/* Between crypto_aead_batch_begin and _end: the key buffer whose key
	 * the context holds (NULL: none), kept from one call to the next. */
	const uint8_t *loaded_key;
	bool in_batch;
};

static EVP_CIPHER *evp_chacha_poly;  /* fetched once, kept for the process */
static pthread_key_t evp_thread_key;
static bool evp_ready;
static pthread_once_t evp_once = PTHREAD_ONCE_INIT;
static _Thread_local struct evp_thread evp_thread;
static const uint8_t zero_key[NOISE_SYMMETRIC_KEY_LEN];

enum evp_result { EVP_DONE, EVP_REFUSED, EVP_UNAVAILABLE };

static void evp_thread_free(void *arg)
{
	struct evp_thread *t = arg;

	EVP_CIPHER_CTX_free(t->ctx);
	t->ctx = NULL;
	t->loaded_key = NULL;
	if (t->scratch) {
		sodium_memzero(t->scratch, t->scratch_len);
		free(t->scratch);
	}
	t->scratch = NULL;
	t->scratch_len = 0;
}

static void evp_release_at_exit(void)
{
	crypto_thread_release();
}

static void evp_setup(void)
{
	evp_chacha_poly = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	if (!evp_chacha_poly) {
		ERR_clear_error();
		return;
	}
	if (pthread_key_create(&evp_thread_key, evp_thread_free))
		return;
	/* Registered after OpenSSL's own atexit cleanup (the fetch above
	 * initialised it), so it runs before it. */
	atexit(evp_release_at_exit);
	evp_ready = true;
}

void crypto_thread_release(void)
{
	if (!evp_ready || !evp_thread.ctx)
		return;
	pthread_setspecific(evp_thread_key, NULL);
	evp_thread_free(&evp_thread);
}

static EVP_CIPHER_CTX *evp_thread_ctx(void)
{
	struct evp_thread *t = &evp_thread;

	if (t->ctx)
		return t->ctx;
	if (!evp_ready)
		return NULL;
	t->ctx = EVP_CIPHER_CTX_new();
	if (!t->ctx)
		return NULL;
	if (!EVP_CipherInit_ex2(t->ctx, evp_chacha_poly, NULL, NULL, 1, NULL) ||
	    pthread_setspecific(evp_thread_key, t)) {
		EVP_CIPHER_CTX_free(t->ctx);
		t->ctx = NULL;
		ERR_clear_error();
	}
	return t->ctx;
}

/* A buffer of at least len bytes for opening; grows (rarely) and is kept. */
static uint8_t *evp_scratch(size_t len)
{
	struct evp_thread *t = &evp_thread;
	size_t want;
	uint8_t *p;

	if (len <= t->scratch_len)
		return t->scratch;
	want = (len + 4095) & ~(size_t)4095;
	if (want < len || !(p = malloc(want)))
		return NULL;
	if (t->scratch) {
		sodium_memzero(t->scratch, t->scratch_len);
		free(t->scratch);
	}
	t->scratch = p;
	t->scratch_len = want;
	return p;
}

/* Overwrite the key words in the context (key only: no keystream work). */
static void evp_forget_key(EVP_CIPHER_CTX *ctx)
{
	if (!EVP_CipherInit_ex2(ctx, NULL, zero_key, NULL, -1, NULL)) {
		/* Cannot happen with a bound context; if it did, drop the
		 * context (freeing clears it) rather than keep a key. */
		crypto_thread_release();
		ERR_clear_error();
	}
}

/* The key argument for EVP_*Init_ex2: NULL when the context holds it. */
static const uint8_t *evp_key_to_load(const uint8_t *key)
{
	return evp_thread.loaded_key == key ? NULL : key;
}

/* After an operation: keep the key for the rest of the batch, or wipe it
 * now (always after an error). */
static void evp_done_with_key(EVP_CIPHER_CTX *ctx, const uint8_t *key, bool ok)
{
	if (evp_thread.in_batch && ok) {
		evp_thread.loaded_key = key;
		return;
	}
	evp_thread.loaded_key = NULL;
	evp_forget_key(ctx);
}

void crypto_aead_batch_begin(void)
{
	evp_thread.in_batch = true;
}

void crypto_aead_batch_end(void)
{
	evp_thread.in_batch = false;
	if (evp_thread.loaded_key && evp_thread.ctx)
		evp_forget_key(evp_thread.ctx);
	evp_thread.loaded_key = NULL;
}

static enum evp_result evp_seal(uint8_t *dst, const uint8_t *src, size_t len,
				const uint8_t *ad, size_t adlen,
				const uint8_t nonce[12],
				const uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
	EVP_CIPHER_CTX *ctx;
	int n;
	bool ok;

	if (len > INT_MAX || adlen > INT_MAX || !(ctx = evp_thread_ctx()))
		return EVP_UNAVAILABLE;
	ok = EVP_EncryptInit_ex2(ctx, NULL, evp_key_to_load(key), nonce, NULL) &&
	     (!adlen || EVP_EncryptUpdate(ctx, NULL, &n, ad, (int)adlen)) &&
	     (!len || EVP_EncryptUpdate(ctx, dst, &n, src, (int)len)) &&
	     EVP_EncryptFinal_ex(ctx, dst + len, &n) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, NOISE_AUTHTAG_LEN,
				 dst + len);
	evp_done_with_key(ctx, key, ok);
	if (!ok) {
		ERR_clear_error();
		return EVP_UNAVAILABLE;
	}
	return EVP_DONE;
}

static enum evp_result evp_open(uint8_t *dst, const uint8_t *src, size_t mlen,
				const uint8_t *ad, size_t adlen,
				const uint8_t nonce[12],
				const uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
	EVP_CIPHER_CTX *ctx;
	uint8_t *plain;
	int n;
	bool ok;

	if (mlen > INT_MAX || adlen > INT_MAX || !(ctx = evp_thread_ctx()))
		return EVP_UNAVAILABLE;
	/* OpenSSL writes plaintext before it has checked the tag. In place
	 * (a data message opened in its own buffer, dst == src) that is
	 * harmless: a refused message is dropped with its buffer. Elsewhere
	 * dst must stay untouched on refusal, so the plaintext waits in a
	 * scratch buffer, at the cost of a copy. */
	plain = dst == src ? dst : evp_scratch(mlen ? mlen : 1);
	if (!plain)
		return EVP_UNAVAILABLE;
	if (!EVP_DecryptInit_ex2(ctx, NULL, evp_key_to_load(key), nonce, NULL) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, NOISE_AUTHTAG_LEN,
				 (void *)(src + mlen)) ||
	    (adlen && !EVP_DecryptUpdate(ctx, NULL, &n, ad, (int)adlen)) ||
	    (mlen && !EVP_DecryptUpdate(ctx, plain, &n, src, (int)mlen))) {
		evp_done_with_key(ctx, key, false);
		ERR_clear_error();
		return EVP_UNAVAILABLE;
	}
	/* The tag check (CRYPTO_memcmp, constant time). A refused message
	 * leaves the key fit for the batch's next one. */
	ok = EVP_DecryptFinal_ex(ctx, plain + mlen, &n) == 1;
	evp_done_with_key(ctx, key, true);
	if (!ok) {
		if (ERR_peek_error())
			ERR_clear_error();
		return EVP_REFUSED;
	}
	if (mlen && plain != dst)
		memcpy(dst, plain, mlen);
	return EVP_DONE;
}

bool crypto_aead_backend_is_available(enum crypto_aead_backend backend)
{
	switch (backend) {
	case CRYPTO_AEAD_LIBSODIUM:
		return true;
	case CRYPTO_AEAD_OPENSSL:
	case CRYPTO_AEAD_AUTO:
		pthread_once(&evp_once, evp_setup);
		return evp_ready;
	}
	return false;
}

bool crypto_aead_backend_set(enum crypto_aead_backend backend)
{
	if (!crypto_aead_backend_is_available(backend))
		return false;
	atomic_store_explicit(&aead_backend, backend, memory_order_relaxed);
	return true;
}

enum crypto_aead_backend crypto_aead_backend_get(void)
{
	return atomic_load_explicit(&aead_backend, memory_order_relaxed);
}

static const char *const backend_names[CRYPTO_AEAD_BACKENDS] = {
	[CRYPTO_AEAD_LIBSODIUM] = "libsodium",
	[CRYPTO_AEAD_OPENSSL] = "openssl",
	[CRYPTO_AEAD_AUTO] = "auto",
};

const char *crypto_aead_backend_name(enum crypto_aead_backend backend)
{
	if ((unsigned int)backend >= CRYPTO_AEAD_BACKENDS)
		return "unknown";
	return backend_names[backend];
}

bool crypto_aead_backend_from_name(const char *name,
				   enum crypto_aead_backend *backend)
{
	unsigned int i;

	for (i = 0; name && i < CRYPTO_AEAD_BACKENDS; i++) {
		if (!strcmp(name, backend_names[i])) {
			*backend = i;
			return true;
		}
	}
	return false;
}

bool crypto_init(void)
{
	enum crypto_aead_backend want;
	const char *env;

	if (sodium_init() < 0)
		return false;
	if (!crypto_aead_backend_set(CRYPTO_AEAD_DEFAULT))
		crypto_aead_backend_set(CRYPTO_AEAD_LIBSODIUM);
	env = getenv("XWG_AEAD");
	if (!env || !*env)
		return true;
	if (!crypto_aead_backend_from_name(env, &want))
		log_error("unknown XWG_AEAD '%s' (libsodium, openssl, auto); using %s", env,
			  crypto_aead_backend_name(crypto_aead_backend_get()));
	else if (!crypto_aead_backend_set(want))
		log_error("XWG_AEAD=%s: this OpenSSL has no ChaCha20-Poly1305; using %s",
			  env, crypto_aead_backend_name(crypto_aead_backend_get()));
	return true;
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

static void sodium_seal(uint8_t *dst, const uint8_t *src, size_t len,
			const uint8_t *ad, size_t adlen, const uint8_t nonce[12],
			const uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
	crypto_aead_chacha20poly1305_ietf_encrypt(dst, NULL, src, len, ad, adlen,
						  NULL, nonce, key);
}

static bool sodium_open(uint8_t *dst, const uint8_t *src, size_t mlen,
			const uint8_t *ad, size_t adlen, const uint8_t nonce[12],
			const uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
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

/* Whether this call goes to OpenSSL (else libsodium); len is the
 * plaintext's length. */
static bool use_openssl(size_t len)
{
	switch (crypto_aead_backend_get()) {
	case CRYPTO_AEAD_OPENSSL:
		return true;
	case CRYPTO_AEAD_AUTO:
		return len >= CRYPTO_AEAD_AUTO_OPENSSL_MIN;
	default:
		return false;
	}
}

void crypto_aead_seal_nonce12(uint8_t *dst, const uint8_t *src, size_t len,
			      const uint8_t *ad, size_t adlen,
			      const uint8_t nonce[12],
			      const uint8_t key[NOISE_SYMMETRIC_KEY_LEN])
{
	if (use_openssl(len) &&
	    evp_seal(dst, src, len, ad, adlen, nonce, key) == EVP_DONE)
		return;
	sodium_seal(dst, src, len, ad, adlen, nonce, key);
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
	if (use_openssl(mlen)) {
		switch (evp_open(dst, src, mlen, ad, adlen, nonce, key)) {
		case EVP_DONE:
			return true;
		case EVP_REFUSED:
			return false;
		case EVP_UNAVAILABLE:
			break;
		}
	}
	return sodium_open(dst, src, mlen, ad, adlen, nonce, key);
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
