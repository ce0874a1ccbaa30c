// SPDX-License-Identifier: GPL-2.0
/*
 * The slow-work thread (worker.h). Two queues under one mutex: jobs to run
 * and jobs run; an eventfd tells the owner's epoll loop that the second is
 * not empty. The thread blocks every signal: they are the daemon's loop's.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ctl/worker.h"

struct job_queue {
	struct worker_job *head, **tail;
};

struct worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job_queue todo, finished;
	bool stop;
	int efd;
	unsigned int pending, max_pending;   /* owner's thread only */
};

static void queue_init(struct job_queue *q)
{
	q->head = NULL;
	q->tail = &q->head;
}

static void queue_push(struct job_queue *q, struct worker_job *job)
{
	job->next = NULL;
	*q->tail = job;
	q->tail = &job->next;
}

static struct worker_job *queue_pop(struct job_queue *q)
{
	struct worker_job *job = q->head;

	if (job) {
		q->head = job->next;
		if (!q->head)
			q->tail = &q->head;
	}
	return job;
}

/* The whole queue, leaving it empty. */
static struct worker_job *queue_take(struct job_queue *q)
{
	struct worker_job *all = q->head;

	queue_init(q);
	return all;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const uint64_t one = 1;
	ssize_t r;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct worker_job *job;

		while (!w->stop && !w->todo.head)
			pthread_cond_wait(&w->wake, &w->lock);
		if (w->stop)
			break;
		job = queue_pop(&w->todo);
		pthread_mutex_unlock(&w->lock);
		job->run(job);
		pthread_mutex_lock(&w->lock);
		queue_push(&w->finished, job);
		/* Cannot fail short of a counter at its maximum, which the
		 * owner's read resets long before. */
		r = write(w->efd, &one, sizeof(one));
		(void)r;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int worker_create(struct worker **out, unsigned int max_pending)
{
	struct worker *w = calloc(1, sizeof(*w));
	sigset_t all, old;
	int ret;

	if (!w)
		return -ENOMEM;
	w->max_pending = max_pending ? max_pending : 1;
	queue_init(&w->todo);
	queue_init(&w->finished);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0) {
		ret = -errno;
		goto err_free;
	}
	ret = -pthread_mutex_init(&w->lock, NULL);
	if (ret)
		goto err_efd;
	ret = -pthread_cond_init(&w->wake, NULL);
	if (ret)
		goto err_lock;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		goto err_cond;
	*out = w;
	return 0;

err_cond:
	pthread_cond_destroy(&w->wake);
err_lock:
	pthread_mutex_destroy(&w->lock);
err_efd:
	close(w->efd);
err_free:
	free(w);
	return ret;
}

int worker_fd(const struct worker *w)
{
	return w->efd;
}

unsigned int worker_pending(const struct worker *w)
{
	return w->pending;
}

int worker_submit(struct worker *w, struct worker_job *job)
{
	if (w->pending >= w->max_pending)
		return -EAGAIN;
	w->pending++;
	pthread_mutex_lock(&w->lock);
	queue_push(&w->todo, job);
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static unsigned int complete_list(struct worker *w, struct worker_job *job, bool ran)
{
	unsigned int n = 0;

	while (job) {
		struct worker_job *next = job->next;

		w->pending--;
		job->done(job, ran);
		job = next;
		n++;
	}
	return n;
}

unsigned int worker_complete(struct worker *w)
{
	struct worker_job *done;
	uint64_t v;
	ssize_t r;

	/* Resets the counter; EAGAIN when a previous call took the jobs. */
	r = read(w->efd, &v, sizeof(v));
	(void)r;
	pthread_mutex_lock(&w->lock);
	done = queue_take(&w->finished);
	pthread_mutex_unlock(&w->lock);
	return complete_list(w, done, true);
}

void worker_destroy(struct worker *w)
{
	struct worker_job *cancelled;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	/* The thread is gone: no lock needed from here. */
	cancelled = queue_take(&w->todo);
	complete_list(w, queue_take(&w->finished), true);
	complete_list(w, cancelled, false);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	close(w->efd);
	free(w);
}
