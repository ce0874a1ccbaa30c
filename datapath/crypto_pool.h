/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The crypto worker pool: seals and opens a batch of transport messages on
 * all cores at once. The control thread fills a batch of jobs, calls
 * crypto_pool_run(), which returns when every job is done (the calling
 * thread works too), then does the order-sensitive rest (replay window,
 * allowed-IPs check, sending) alone. Because workers run only inside
 * crypto_pool_run(), they never race the control thread's state changes.
 */
#ifndef XWG_CRYPTO_POOL_H
#define XWG_CRYPTO_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct noise_keypair;

enum crypto_op { CRYPTO_SEAL, CRYPTO_OPEN };

struct crypto_job {
	enum crypto_op op;
	struct noise_keypair *keypair;
	/* SEAL: plaintext in (len bytes, padded to padded_len in out);
	 * OPEN: the whole data message in (len bytes), plaintext to out. */
	const uint8_t *in;
	size_t len;
	size_t padded_len;
	uint8_t *out;
	/* results */
	size_t out_len;           /* SEAL: message length, 0 on failure */
	uint64_t counter;         /* OPEN: the message counter */
	bool ok;
};

struct crypto_pool;

/* nthreads: extra worker threads (0 = everything on the caller). */
struct crypto_pool *crypto_pool_create(unsigned int nthreads);
void crypto_pool_destroy(struct crypto_pool *pool);
void crypto_pool_run(struct crypto_pool *pool, struct crypto_job *jobs, unsigned int n);
unsigned int crypto_pool_threads(const struct crypto_pool *pool);

#endif
