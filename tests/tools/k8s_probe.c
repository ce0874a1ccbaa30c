// SPDX-License-Identifier: GPL-2.0
/*
 * k8s_probe: drives mesh/k8s.c for selftests/k8s_api.sh. Reads its options
 * like xwg-mesh does (k8s_options_from_env: XWG_K8S_API, XWG_K8S_TOKEN_FILE,
 * XWG_K8S_CA_FILE, NODE_NAME), starts the node source and prints each
 * snapshot on stdout:
 *
 *   snapshot N: M nodes
 *     NAME key=BASE64|none port=P addrs=A,B cidrs=P/L,Q/M
 *
 * then, with -k, publishes that public key and port (-p, default 51820):
 *
 *   publish ok | publish failed: MESSAGE
 *
 * then stops the source and says how long that took:
 *
 *   stopped in N ms
 *
 *   k8s_probe [-n SNAPSHOTS] [-t SECONDS] [-k PUBKEY] [-p PORT] [-H]
 *
 * -n waits for that many snapshots (at most -t seconds, default 30) before
 * publishing; -H then holds until SIGINT or SIGTERM before stopping (for a
 * test that waits for log lines first). Exits 0 if every step succeeded.
 * Not part of the unit tests.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "base/log.h"
#include "mesh/k8s.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static unsigned int snapshots;

static void print_node(const struct mesh_node *n)
{
	char key[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	char a[INET6_ADDRSTRLEN];
	unsigned int i;

	if (n->has_key)
		sodium_bin2base64(key, sizeof(key), n->public_key, 32,
				  sodium_base64_VARIANT_ORIGINAL);
	printf("  %s key=%s port=%u addrs=", n->name, n->has_key ? key : "none", n->port);
	for (i = 0; i < n->n_addrs; i++)
		printf("%s%s", i ? "," : "",
		       inet_ntop(n->addrs[i].family, n->addrs[i].addr, a, sizeof(a)));
	printf(" cidrs=");
	for (i = 0; i < n->n_cidrs; i++)
		printf("%s%s/%u", i ? "," : "",
		       inet_ntop(n->cidrs[i].family, n->cidrs[i].addr, a, sizeof(a)),
		       n->cidrs[i].cidr);
	printf("\n");
}

static void on_snapshot(void *ctx, const struct mesh_node *nodes, size_t n)
{
	size_t i;

	(void)ctx;
	pthread_mutex_lock(&lock);
	printf("snapshot %u: %zu nodes\n", ++snapshots, n);
	for (i = 0; i < n; i++)
		print_node(&nodes[i]);
	fflush(stdout);
	pthread_cond_broadcast(&changed);
	pthread_mutex_unlock(&lock);
}

static unsigned long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long)ts.tv_sec * 1000 + (unsigned long)ts.tv_nsec / 1000000;
}

static void usage(void)
{
	fprintf(stderr, "usage: k8s_probe [-n SNAPSHOTS] [-t SECONDS] [-k PUBKEY] [-p PORT] [-H]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned int want = 0, timeout_s = 30, port = 51820;
	const char *key_b64 = NULL;
	bool hold = false, ok = true;
	struct k8s_options o;
	struct k8s_source *s;
	uint8_t key[32];
	char err[1024];
	unsigned long t;
	sigset_t sigs;
	int c, sig;

	while ((c = getopt(argc, argv, "n:t:k:p:H")) != -1) {
		switch (c) {
		case 'n': want = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 't': timeout_s = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'k': key_b64 = optarg; break;
		case 'p': port = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'H': hold = true; break;
		default: usage();
		}
	}
	if (optind != argc || !port || port > 65535)
		usage();
	if (key_b64 && (sodium_base642bin(key, sizeof(key), key_b64, strlen(key_b64), NULL, NULL,
					  NULL, sodium_base64_VARIANT_ORIGINAL) ||
			strlen(key_b64) != 44)) {
		fprintf(stderr, "k8s_probe: -k needs a base64 public key\n");
		return 2;
	}
	if (!log_init_from_env("k8s_probe")) {
		fprintf(stderr, "k8s_probe: unknown LOG_LEVEL\n");
		return 2;
	}
	/* Signals go to sigwait only: block them before any thread starts. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	if (k8s_options_from_env(&o, err, sizeof(err))) {
		printf("options failed: %s\n", err);
		return 1;
	}
	s = k8s_source_start(&o, on_snapshot, NULL, err, sizeof(err));
	if (!s) {
		printf("start failed: %s\n", err);
		return 1;
	}

	pthread_mutex_lock(&lock);
	{
		struct timespec deadline;

		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += timeout_s;
		while (snapshots < want &&
		       pthread_cond_timedwait(&changed, &lock, &deadline) != ETIMEDOUT)
			;
		if (snapshots < want) {
			printf("timeout: %u of %u snapshots in %u s\n", snapshots, want, timeout_s);
			ok = false;
		}
	}
	pthread_mutex_unlock(&lock);

	if (key_b64) {
		int r = k8s_publish_key(s, key, (uint16_t)port, err, sizeof(err));

		pthread_mutex_lock(&lock);
		if (r) {
			printf("publish failed: %s\n", err);
			ok = false;
		} else {
			printf("publish ok\n");
		}
		fflush(stdout);
		pthread_mutex_unlock(&lock);
	}
	if (hold)
		sigwait(&sigs, &sig);

	t = now_ms();
	k8s_source_stop(s);
	printf("stopped in %lu ms\n", now_ms() - t);
	return ok ? 0 : 1;
}
