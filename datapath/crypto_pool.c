// SPDX-License-Identifier: GPL-2.0
#include "crypto_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/handshake/crypto.h"
#include "datapath/transport.h"

/* Below this many jobs, waking the workers costs more than it saves. */
#define POOL_MIN_PARALLEL_JOBS 4

/*
 * How long a worker polls for the next batch, and the caller for the
 * workers' last jobs, before sleeping on a condition variable. Waking a
 * sleeping thread (futex) took about as long here as a batch of 64 sealed
 * 1420-byte packets spends on a core (~70 us): with sleeping alone, the
 * second thread of the 2-vCPU KVM guest this was measured on joined most
 * batches late and two threads gave ~1.1x one thread's throughput; polling
 * first gave up to 1.6-1.9x (build/tools/crypto_bench, pool part,
 * interleaved runs). Polling yields the CPU after the first few checks:
 * when other work shares the CPUs, pure spinning held back the very thread
 * it waited for (two threads fell below one), yielding did not. An idle
 * pool costs at most this much polling per batch of at least
 * POOL_MIN_PARALLEL_JOBS, per thread.
 */
#define POOL_POLL_NS 20000ULL
#define CACHELINE 64

struct crypto_pool {
	pthread_mutex_t lock;
	pthread_cond_t work_ready, work_done;
	pthread_t *threads;
	unsigned int nthreads;
	bool stopping;
	/* The batch in progress, written under lock by the caller. Workers
	 * register in busy_workers under lock before reading it, so the
	 * caller, which clears it under lock once busy_workers is 0, never
	 * returns while a worker may still touch the jobs. */
	struct crypto_job *jobs;
	unsigned int njobs;
	unsigned int sleepers;      /* workers in pthread_cond_wait */
	bool caller_sleeping;
	/* Changes once per batch; polled without the lock. */
	_Alignas(CACHELINE) _Atomic uint64_t generation;
	atomic_uint busy_workers;
	/* Claimed by every thread once per job: a line of its own, so the
	 * claims do not bounce the line the pollers read. */
	_Alignas(CACHELINE) atomic_uint next;
	char pad_next[CACHELINE - sizeof(atomic_uint)];
};

/* The real clock, not platform_now(): tests replace that one with a fake
 * that may stand still, and a poll must still end. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* Polling: a few pause-spins (a new batch often comes within a
 * microsecond or two), then sched_yield() between checks until
 * POOL_POLL_NS have passed. */
#define POOL_POLL_SPINS 64

struct poller {
	uint64_t deadline;
	unsigned int spins;
};

/* One step of waiting; false once the time is up. */
static bool poll_step(struct poller *p)
{
	if (++p->spins < POOL_POLL_SPINS) {
		cpu_relax();
		return true;
	}
	sched_yield();
	if (!p->deadline)
		p->deadline = now_ns() + POOL_POLL_NS;
	return now_ns() <= p->deadline;
}

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

	/* The keypairs of a batch live until crypto_pool_run returns (the
	 * jobs hold references), so a thread may keep a key loaded from job
	 * to job (crypto.h). */
	crypto_aead_batch_begin();
	while ((i = atomic_fetch_add_explicit(&pool->next, 1, memory_order_relaxed)) < n)
		run_job(&jobs[i]);
	crypto_aead_batch_end();
}

static void *worker(void *arg)
{
	struct crypto_pool *pool = arg;
	uint64_t seen = 0;

	for (;;) {
		struct poller p = { 0 };
		struct crypto_job *jobs;
		unsigned int n;

		while (atomic_load_explicit(&pool->generation, memory_order_acquire) == seen &&
		       poll_step(&p))
			;
		pthread_mutex_lock(&pool->lock);
		while (!pool->stopping &&
		       atomic_load_explicit(&pool->generation, memory_order_relaxed) == seen) {
			pool->sleepers++;
			pthread_cond_wait(&pool->work_ready, &pool->lock);
			pool->sleepers--;
		}
		if (pool->stopping)
			break;
		seen = atomic_load_explicit(&pool->generation, memory_order_relaxed);
		jobs = pool->jobs;
		n = pool->njobs;
		atomic_fetch_add_explicit(&pool->busy_workers, 1, memory_order_relaxed);
		pthread_mutex_unlock(&pool->lock);

		/* A worker that registers after its batch was finished sees
		 * n == 0 and must not touch `next`: the caller may be running
		 * a small batch inline with it. */
		if (n)
			claim_and_run(pool, jobs, n);

		/* Release: the caller that sees 0 sees every job's result. */
		if (atomic_fetch_sub_explicit(&pool->busy_workers, 1,
					      memory_order_release) == 1) {
			pthread_mutex_lock(&pool->lock);
			if (pool->caller_sleeping)
				pthread_cond_signal(&pool->work_done);
			pthread_mutex_unlock(&pool->lock);
		}
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

struct crypto_pool *crypto_pool_create(unsigned int nthreads)
{
	struct crypto_pool *pool;
	unsigned int i;

	if (posix_memalign((void **)&pool, CACHELINE, sizeof(*pool)))
		return NULL;
	memset(pool, 0, sizeof(*pool));
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work_ready, NULL);
	pthread_cond_init(&pool->work_done, NULL);
	atomic_init(&pool->generation, 0);
	atomic_init(&pool->busy_workers, 0);
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
	struct poller p = { 0 };

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
	atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
	/* Polling workers see the new generation by themselves. */
	if (pool->sleepers)
		pthread_cond_broadcast(&pool->work_ready);
	pthread_mutex_unlock(&pool->lock);

	claim_and_run(pool, jobs, n);

	/* Every claimed job is finished once no worker is busy; a worker
	 * that registers late finds nothing left to claim. The check that
	 * counts is the one under the lock, where jobs are cleared. */
	while (atomic_load_explicit(&pool->busy_workers, memory_order_acquire) &&
	       poll_step(&p))
		;
	pthread_mutex_lock(&pool->lock);
	while (atomic_load_explicit(&pool->busy_workers, memory_order_acquire)) {
		pool->caller_sleeping = true;
		pthread_cond_wait(&pool->work_done, &pool->lock);
		pool->caller_sleeping = false;
	}
	pool->jobs = NULL;
	pool->njobs = 0;
	pthread_mutex_unlock(&pool->lock);
}
