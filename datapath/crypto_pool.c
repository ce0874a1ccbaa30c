// SPDX-License-Identifier: GPL-2.0
#include "crypto_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "datapath/transport.h"

/* Below this many jobs, waking the workers costs more than it saves. */
#define POOL_MIN_PARALLEL_JOBS 4

struct crypto_pool {
	pthread_mutex_t lock;
	pthread_cond_t work_ready, work_done;
	pthread_t *threads;
	unsigned int nthreads;
	/* The batch in progress. generation changes once per batch so a
	 * worker knows there is new work; jobs are claimed with next. */
	struct crypto_job *jobs;
	unsigned int njobs;
	uint64_t generation;
	atomic_uint next;
	unsigned int busy_workers;
	bool stopping;
};

static void run_job(struct crypto_job *job)
{
	if (job->op == CRYPTO_SEAL) {
		job->out_len = transport_seal(job->keypair, job->in, job->len,
					      job->padded_len, job->out);
		job->ok = job->out_len != 0;
	} else {
		job->ok = transport_open(job->keypair, job->in, job->len, job->out,
					 &job->counter);
	}
}

static void claim_and_run(struct crypto_pool *pool, struct crypto_job *jobs,
			  unsigned int n)
{
	unsigned int i;

	while ((i = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed)) < n)
		run_job(&jobs[i]);
}

static void *worker(void *arg)
{
	struct crypto_pool *pool = arg;
	uint64_t seen = 0;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct crypto_job *jobs;
		unsigned int n;

		while (!pool->stopping && pool->generation == seen)
			pthread_cond_wait(&pool->work_ready, &pool->lock);
		if (pool->stopping)
			break;
		seen = pool->generation;
		jobs = pool->jobs;
		n = pool->njobs;
		pool->busy_workers++;
		pthread_mutex_unlock(&pool->lock);

		/* A worker that wakes after its batch was finished sees
		 * n == 0 and must not touch `next`: the caller may be running
		 * a small batch inline with it. */
		if (n)
			claim_and_run(pool, jobs, n);

		pthread_mutex_lock(&pool->lock);
		if (--pool->busy_workers == 0)
			pthread_cond_signal(&pool->work_done);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

struct crypto_pool *crypto_pool_create(unsigned int nthreads)
{
	struct crypto_pool *pool = calloc(1, sizeof(*pool));
	unsigned int i;

	if (!pool)
		return NULL;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work_ready, NULL);
	pthread_cond_init(&pool->work_done, NULL);
	atomic_init(&pool->next, 0);
	pool->threads = calloc(nthreads ? nthreads : 1, sizeof(*pool->threads));
	if (!pool->threads)
		goto err;
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&pool->threads[i], NULL, worker, pool))
			break;
		pool->nthreads++;
	}
	if (pool->nthreads != nthreads)
		goto err;
	return pool;
err:
	crypto_pool_destroy(pool);
	return NULL;
}

void crypto_pool_destroy(struct crypto_pool *pool)
{
	unsigned int i;

	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = true;
	pthread_cond_broadcast(&pool->work_ready);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pthread_cond_destroy(&pool->work_ready);
	pthread_cond_destroy(&pool->work_done);
	pthread_mutex_destroy(&pool->lock);
	free(pool->threads);
	free(pool);
}

unsigned int crypto_pool_threads(const struct crypto_pool *pool)
{
	return pool->nthreads + 1;
}

void crypto_pool_run(struct crypto_pool *pool, struct crypto_job *jobs, unsigned int n)
{
	if (!n)
		return;
	atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
	if (!pool->nthreads || n < POOL_MIN_PARALLEL_JOBS) {
		claim_and_run(pool, jobs, n);
		return;
	}
	pthread_mutex_lock(&pool->lock);
	pool->jobs = jobs;
	pool->njobs = n;
	pool->generation++;
	pthread_cond_broadcast(&pool->work_ready);
	pthread_mutex_unlock(&pool->lock);

	claim_and_run(pool, jobs, n);

	/* Every claimed job is finished once no worker is busy; a worker
	 * that wakes late finds nothing left to claim. */
	pthread_mutex_lock(&pool->lock);
	while (pool->busy_workers)
		pthread_cond_wait(&pool->work_done, &pool->lock);
	pool->jobs = NULL;
	pool->njobs = 0;
	pthread_mutex_unlock(&pool->lock);
}
