/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One thread for the daemon's slow work, so that the packet thread never
 * waits for it (issue 17): route lookups, XDP attachments and AF_XDP socket
 * creation when an endpoint moves onto another interface. The packet thread
 * hands a job over and goes on; the worker runs the jobs one at a time, in
 * the order they came; each job's completion runs back on the packet thread
 * (worker_complete, when the worker's eventfd is readable), where it may
 * touch the daemon's state. A job touches nothing shared while it runs.
 */
#ifndef XWG_CTL_WORKER_H
#define XWG_CTL_WORKER_H

#include <stdbool.h>

struct worker;

struct worker_job {
	/* On the worker thread. */
	void (*run)(struct worker_job *job);
	/* On the owner's thread, once per job, which it may free: ran is
	 * false for a job worker_destroy cancelled before it ran. */
	void (*done)(struct worker_job *job, bool ran);
	struct worker_job *next;
};

/* At most max_pending jobs submitted and not completed at once. */
int worker_create(struct worker **out, unsigned int max_pending);
/* Readable when completions wait for worker_complete. */
int worker_fd(const struct worker *w);
/* 0, or -EAGAIN when max_pending jobs are already in hand. */
int worker_submit(struct worker *w, struct worker_job *job);
/* Runs done() of every finished job; returns how many. */
unsigned int worker_complete(struct worker *w);
/* Jobs submitted and not completed yet. */
unsigned int worker_pending(const struct worker *w);
/* Waits for the running job, cancels those that did not start (done with
 * ran false), completes the finished ones, and frees the worker. */
void worker_destroy(struct worker *w);

#endif
