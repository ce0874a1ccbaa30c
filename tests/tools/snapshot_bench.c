// SPDX-License-Identifier: GPL-2.0
/*
 * snapshot_bench: what the takeover snapshot (ctl/snapshot.c) costs: the
 * part of a takeover during which nothing reads the tunnel is the old
 * process writing and sealing it plus the new one reading it (the sockets
 * and the TUN only change hands).
 *
 *   snapshot_bench [-n PEERS] [-r RUNS] [-b]
 *
 * A device with PEERS peers (default 10000), each with one allowed IP and
 * two sessions (previous and current), is written into a sealed memfd and
 * read into a fresh device, RUNS times (default 5). -b fills every
 * session's replay window (busy peers: the window is most of a session's
 * size). Printed: the snapshot's size and the medians of wall time and of
 * the thread's CPU time for each half (CPU time does not grow when the
 * machine is shared).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl/device.h"
#include "ctl/handshake/crypto.h"
#include "base/log.h"
#include "ctl/snapshot.h"

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static void build(struct wg_device *dev, unsigned int npeers, bool busy)
{
	uint8_t key[32], pub[32];
	unsigned int i, j, b;

	crypto_generate_private(key);
	noise_static_identity_set(&dev->static_identity, key);
	cookie_checker_init(&dev->cookie_checker, dev->static_identity.static_public,
			    dev->ratelimiter);
	for (i = 0; i < npeers; i++) {
		struct message_handshake_initiation msg;
		uint32_t ip = htonl(0x0a000000U + i);
		struct wg_peer *p;

		crypto_generate_private(key);
		crypto_public_key(pub, key);
		p = device_peer_create(dev, pub);
		if (!p || allowedips_insert(&dev->allowedips, AF_INET, &ip, 32, p)) {
			fprintf(stderr, "out of memory at peer %u\n", i);
			exit(1);
		}
		noise_handshake_precompute(&p->handshake);
		for (j = 0; j < 2; j++) {
			struct noise_keypair *kp;

			if (!noise_handshake_create_initiation(&msg, &p->handshake,
							       &dev->noise_ops))
				exit(1);
			p->handshake.remote_ephemeral[0] = 1;
			p->handshake.state = HANDSHAKE_CONSUMED_RESPONSE;
			kp = noise_handshake_begin_session(&p->handshake, &p->keypairs,
							   &dev->noise_ops);
			if (!kp)
				exit(1);
			for (b = 0; busy && b < REPLAY_BLOCKS; b++)
				kp->receiving_counter.backtrack[b] = ~0UL;
		}
	}
}

int main(int argc, char **argv)
{
	double w_wall[64], w_cpu[64], r_wall[64], r_cpu[64];
	unsigned int npeers = 10000;
	struct wg_device a, b;
	struct snapshot_memfd m;
	int runs = 5, opt, i;
	bool busy = false;
	size_t size = 0;
	char why[256];

	while ((opt = getopt(argc, argv, "n:r:b")) != -1) {
		switch (opt) {
		case 'n':
			npeers = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		case 'b':
			busy = true;
			break;
		default:
			fprintf(stderr, "usage: snapshot_bench [-n PEERS] [-r RUNS] [-b]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > 64 || !crypto_init())
		return 2;
	log_set_level(LOG_LEVEL_ERROR);
	if (device_init(&a, "bench0", 1) || device_init(&b, "bench0", 1))
		return 1;
	build(&a, npeers, busy);
	for (i = 0; i < runs; i++) {
		struct timespec t0, t1, t2, c0, c1, c2;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
		if (snapshot_memfd_create(&a, &m)) {
			fprintf(stderr, "cannot write the snapshot (RLIMIT_MEMLOCK?)\n");
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
		if (snapshot_read_memfd(&b, m.fd, why, sizeof(why))) {
			fprintf(stderr, "refused: %s\n", why);
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t2);
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c2);
		size = m.len;
		snapshot_memfd_wipe(&m);
		snapshot_device_clear(&b);
		b.next_peer_id = 0;
		w_wall[i] = ms_between(&t0, &t1);
		w_cpu[i] = ms_between(&c0, &c1);
		r_wall[i] = ms_between(&t1, &t2);
		r_cpu[i] = ms_between(&c1, &c2);
	}
	printf("%u peers%s, 2 sessions each: %zu bytes; medians of %d runs:\n"
	       "  write and seal  %7.1f ms wall  %7.1f ms CPU\n"
	       "  read            %7.1f ms wall  %7.1f ms CPU\n",
	       npeers, busy ? " (full replay windows)" : "", size, runs, median(w_wall, runs),
	       median(w_cpu, runs), median(r_wall, runs), median(r_cpu, runs));
	device_uninit(&a);
	device_uninit(&b);
	return 0;
}
