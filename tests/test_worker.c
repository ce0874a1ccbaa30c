// SPDX-License-Identifier: GPL-2.0
/*
 * The slow-work thread (ctl/worker.c): jobs run off the caller's thread, in
 * the order they came, and complete back on it; a bound on jobs in hand;
 * destroy cancels what did not start and completes what did.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "ctl/worker.h"
#include "test.h"
#include "tests/suites.h"

#define JOBS 40

struct test_job {
	struct worker_job job;
	unsigned int id;
	pthread_t ran_on;
	bool ran, done, done_ran;
	unsigned int *order, *n_order;
	pthread_mutex_t *gate;      /* held by the test: the job waits on it */
};

static void job_run(struct worker_job *job)
{
	struct test_job *t = (struct test_job *)job;

	if (t->gate) {
		pthread_mutex_lock(t->gate);
		pthread_mutex_unlock(t->gate);
	}
	t->ran_on = pthread_self();
	t->ran = true;
}

static void job_done(struct worker_job *job, bool ran)
{
	struct test_job *t = (struct test_job *)job;

	t->done = true;
	t->done_ran = ran;
	t->order[(*t->n_order)++] = t->id;
}

/* Completes until n jobs are done or 5 s pass; the eventfd must be what
 * says so. */
static unsigned int complete_all(struct worker *w, unsigned int n)
{
	struct pollfd p = { .fd = worker_fd(w), .events = POLLIN };
	unsigned int got = 0, rounds;

	for (rounds = 0; got < n && rounds < 500; rounds++) {
		if (poll(&p, 1, 10) == 1)
			got += worker_complete(w);
	}
	return got;
}

static void test_worker_order(void)
{
	static struct test_job jobs[JOBS];
	unsigned int order[JOBS], n_order = 0, i;
	struct worker *w;
	bool all_ran = true, off_thread = true, in_order = true;

	CHECK(!worker_create(&w, JOBS));
	for (i = 0; i < JOBS; i++) {
		jobs[i] = (struct test_job){ .job = { .run = job_run, .done = job_done },
					     .id = i, .order = order, .n_order = &n_order };
		CHECK(!worker_submit(w, &jobs[i].job));
	}
	CHECK(worker_pending(w) == JOBS);
	CHECKF(complete_all(w, JOBS) == JOBS, "%u of %u done", n_order, JOBS);
	for (i = 0; i < n_order; i++) {
		all_ran &= jobs[i].ran && jobs[i].done && jobs[i].done_ran;
		off_thread &= !pthread_equal(jobs[i].ran_on, pthread_self());
		in_order &= order[i] == i;
	}
	CHECK(all_ran);
	CHECK(off_thread);
	CHECK(in_order);
	CHECK(worker_pending(w) == 0);
	/* Nothing finished: no completion, and the fd is not readable. */
	CHECK(worker_complete(w) == 0);
	CHECK(poll(&(struct pollfd){ .fd = worker_fd(w), .events = POLLIN }, 1, 0) == 0);
	worker_destroy(w);
}

/* A bound on jobs in hand; destroy while one runs and others wait. */
static void test_worker_bound_and_destroy(void)
{
	static struct test_job jobs[4];
	unsigned int order[4], n_order = 0, i;
	pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
	struct test_job extra;
	struct worker *w;

	CHECK(!worker_create(&w, 3));
	pthread_mutex_lock(&gate);
	for (i = 0; i < 3; i++) {
		jobs[i] = (struct test_job){ .job = { .run = job_run, .done = job_done },
					     .id = i, .order = order, .n_order = &n_order,
					     .gate = &gate };
		CHECK(!worker_submit(w, &jobs[i].job));
	}
	extra = (struct test_job){ .job = { .run = job_run, .done = job_done }, .id = 9,
				   .order = order, .n_order = &n_order };
	CHECK(worker_submit(w, &extra.job) == -EAGAIN);
	CHECK(worker_pending(w) == 3);
	/* The first job holds the worker at the gate; let it through, and
	 * destroy: it finishes, the two behind it are cancelled. A job that
	 * got past the gate before the stop may run; none runs twice and
	 * every one completes once. */
	pthread_mutex_unlock(&gate);
	worker_destroy(w);
	CHECKF(n_order == 3, "%u completions", n_order);
	CHECK(jobs[0].done && jobs[1].done && jobs[2].done && !extra.done);
	for (i = 0; i < 3; i++)
		CHECKF(jobs[i].done_ran == jobs[i].ran, "job %u: ran %d, completed as %d", i,
		       jobs[i].ran, jobs[i].done_ran);
	pthread_mutex_destroy(&gate);
}

void test_worker(void)
{
	test_worker_order();
	test_worker_bound_and_destroy();
	worker_destroy(NULL);
}
