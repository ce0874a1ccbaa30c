// SPDX-License-Identifier: GPL-2.0
/*
 * crypto_bench: the transport AEAD (ChaCha20-Poly1305) and the crypto pool
 * alone, without a network, so that the backend choice and the pool's
 * overhead are measured rather than guessed (issue 5, "Speed").
 *
 *   crypto_bench [-c CPU] [-r RUNS] [-t SECONDS] [-p SECONDS] [-b BACKEND]
 *                [-k FILE]
 *
 * Part 1, per core: for each available backend (or only -b; "auto" is
 * measured only when named, being one of the others by length), seal and open
 * at 64, 512, 1420 and 8192 bytes on one thread pinned to CPU -c (default:
 * the first this process may use), through crypto_aead_seal/open exactly as
 * transport.c calls them on the crypto pool (in batches of 32 calls with
 * one key; in place for sealing; opening reads a sealed message and writes
 * elsewhere so every run opens the same valid input).
 * Throughput is plaintext bytes over the thread's CPU time, so a machine
 * shared with other work does not halve the figure; each cell is the median
 * of RUNS runs (default 5) of about -t seconds (default 0.25).
 *
 * Part 2, the pool: crypto_pool_run() on batches of DATAPATH_BATCH
 * 1420-byte packets of one peer, built as ctl/send.c and ctl/receive.c
 * build them (transport_seal in place behind DATAPATH_HEADROOM;
 * transport_open of whole data messages), with 1 and 2 threads (the caller
 * plus 0 or 1 workers, unpinned), per backend. Throughput is plaintext bits
 * over wall time, the median of RUNS runs of -p seconds (default 0.1);
 * beside it the CPU time of the whole process per packet (all threads,
 * polling included): what the pool costs, even on a machine too busy for
 * the wall-clock figure to mean much.
 *
 * Part 3, the handshake per core (same thread, CPU time, -t per run):
 * X25519 with a variable point (crypto_dh) and with the base point
 * (crypto_public_key, an ephemeral key), and what the responder computes
 * for one handshake: mac1 check, noise_handshake_consume_initiation,
 * noise_handshake_create_response, macs on the response and
 * noise_handshake_begin_session, on one initiation consumed again and
 * again (the responder's replay and flood memory is reset before each,
 * which only this benchmark does). No socket, timer or table lookup: the
 * ceiling of handshakes per second per core before any networking.
 *
 * Output: a table on stdout; with -k, one key=value line per cell in FILE
 * (kind=aead|pool backend= op= bytes= threads= mbyte_s= mpkt_s= gbit_s=
 * [cpu_ns_pkt=] runs=; kind=handshake op=x25519|x25519_base|responder
 * per_s= us= runs=; plus a first kind=machine line). Defaults run for
 * about 30 s.
 */
#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <sched.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "constants.h"
#include "ctl/device.h"
#include "ctl/handshake/cookie.h"
#include "ctl/handshake/crypto.h"
#include "ctl/handshake/noise.h"
#include "base/platform.h"
#include "datapath/crypto_pool.h"
#include "datapath/transport.h"
#include "messages.h"

#define MAX_RUNS 21
#define POOL_PACKET 1420U

static const size_t sizes[] = { 64, 512, 1420, 8192 };

struct options {
	int cpu;
	unsigned int runs;
	double secs, pool_secs;
	int backend;  /* -1: all available */
	const char *kv_path;
};

static FILE *kv;

static double clock_secs(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Packets per second of one thread: op() repeated for about secs of the
 * thread's CPU time, in batches of 32 calls (crypto_aead_batch_begin/end,
 * as the crypto pool brackets a thread's share of a batch), checking the
 * clock after each. */
struct aead_run {
	uint8_t *buf, *sealed, *out;
	size_t len;
	uint8_t key[NOISE_SYMMETRIC_KEY_LEN];
	uint64_t counter;
	bool open, failed;
};

static void aead_step(struct aead_run *r)
{
	if (!r->open) {
		crypto_aead_seal(r->buf, r->buf, r->len, NULL, 0, r->counter++, r->key);
		return;
	}
	if (!crypto_aead_open(r->out, r->sealed, r->len + NOISE_AUTHTAG_LEN, NULL, 0,
			      r->counter, r->key))
		r->failed = true;
}

static double aead_rate(struct aead_run *r, double secs)
{
	double start = clock_secs(CLOCK_THREAD_CPUTIME_ID), now;
	unsigned long n = 0;
	unsigned int i;

	do {
		crypto_aead_batch_begin();
		for (i = 0; i < 32; i++)
			aead_step(r);
		crypto_aead_batch_end();
		n += 32;
		now = clock_secs(CLOCK_THREAD_CPUTIME_ID);
	} while (now - start < secs);
	return n / (now - start);
}

static bool bench_aead(const struct options *o, enum crypto_aead_backend be,
		       size_t len, bool open)
{
	struct aead_run r = { .len = len, .open = open, .counter = 1 };
	double pps[MAX_RUNS], mpps, mbs;
	unsigned int i;

	r.buf = calloc(1, len + NOISE_AUTHTAG_LEN);
	r.sealed = calloc(1, len + NOISE_AUTHTAG_LEN);
	r.out = calloc(1, len + NOISE_AUTHTAG_LEN);
	if (!r.buf || !r.sealed || !r.out) {
		fprintf(stderr, "crypto_bench: out of memory\n");
		return false;
	}
	randombytes_buf(r.key, sizeof(r.key));
	randombytes_buf(r.buf, len);
	crypto_aead_seal(r.sealed, r.buf, len, NULL, 0, r.counter, r.key);
	/* Warm up (first-use allocation, caches, clock ramp) untimed. */
	aead_rate(&r, o->secs / 5);
	for (i = 0; i < o->runs; i++)
		pps[i] = aead_rate(&r, o->secs);
	free(r.buf);
	free(r.sealed);
	free(r.out);
	if (r.failed) {
		fprintf(stderr, "crypto_bench: %s refused its own message (%zu bytes)\n",
			crypto_aead_backend_name(be), len);
		return false;
	}
	mpps = median(pps, o->runs) / 1e6;
	mbs = mpps * len;
	printf("  %-10s %-5s %6zu %10.1f %9.3f\n", crypto_aead_backend_name(be),
	       open ? "open" : "seal", len, mbs, mpps);
	if (kv)
		fprintf(kv, "kind=aead backend=%s op=%s bytes=%zu threads=1 mbyte_s=%.1f mpkt_s=%.4f gbit_s=%.3f runs=%u\n",
			crypto_aead_backend_name(be), open ? "open" : "seal", len, mbs,
			mpps, mbs * 8 / 1e3, o->runs);
	return true;
}

/* The pool part: one keypair (one busy peer), DATAPATH_BATCH packets per
 * batch, buffers laid out as the daemon's (DATAPATH_BUF_SIZE each). */
struct pool_bench {
	struct noise_keypair kp;
	uint8_t *bufs, *sealed, *plain;
	struct crypto_job jobs[DATAPATH_BATCH];
	size_t msg_len;
};

static uint8_t *pool_buf(uint8_t *base, unsigned int i)
{
	return base + (size_t)i * DATAPATH_BUF_SIZE;
}

static void pool_fill_jobs(struct pool_bench *b, bool open)
{
	unsigned int i;

	for (i = 0; i < DATAPATH_BATCH; i++) {
		if (!open)
			b->jobs[i] = (struct crypto_job){
				.op = CRYPTO_SEAL,
				.keypair = &b->kp,
				.in = pool_buf(b->bufs, i) + DATAPATH_HEADROOM,
				.len = POOL_PACKET,
				.padded_len = transport_padded_len(POOL_PACKET, POOL_PACKET),
				.out = pool_buf(b->bufs, i),
			};
		else
			b->jobs[i] = (struct crypto_job){
				.op = CRYPTO_OPEN,
				.keypair = &b->kp,
				.in = pool_buf(b->sealed, i),
				.len = b->msg_len,
				.out = pool_buf(b->plain, i) + sizeof(struct message_data),
			};
	}
}

static bool pool_batch_ok(const struct pool_bench *b)
{
	unsigned int i;

	for (i = 0; i < DATAPATH_BATCH; i++)
		if (!b->jobs[i].ok)
			return false;
	return true;
}

static bool bench_pool(const struct options *o, enum crypto_aead_backend be,
		       struct pool_bench *b, unsigned int threads, bool open)
{
	struct crypto_pool *pool = crypto_pool_create(threads - 1);
	double gbps[MAX_RUNS], cpu_ns[MAX_RUNS], g, c;
	unsigned int r;
	bool ok = true;

	if (!pool) {
		fprintf(stderr, "crypto_bench: cannot create a pool of %u threads\n", threads);
		return false;
	}
	pool_fill_jobs(b, open);
	crypto_pool_run(pool, b->jobs, DATAPATH_BATCH);  /* warm-up */
	for (r = 0; r < o->runs && ok; r++) {
		double start = clock_secs(CLOCK_MONOTONIC), now;
		double cpu0 = clock_secs(CLOCK_PROCESS_CPUTIME_ID);
		unsigned long n = 0;

		do {
			pool_fill_jobs(b, open);
			crypto_pool_run(pool, b->jobs, DATAPATH_BATCH);
			ok &= pool_batch_ok(b);
			n += DATAPATH_BATCH;
			now = clock_secs(CLOCK_MONOTONIC);
		} while (now - start < o->pool_secs);
		gbps[r] = n * (double)POOL_PACKET * 8 / (now - start) / 1e9;
		cpu_ns[r] = (clock_secs(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / n * 1e9;
	}
	crypto_pool_destroy(pool);
	if (!ok) {
		fprintf(stderr, "crypto_bench: the pool failed a %s job (%s)\n",
			open ? "open" : "seal", crypto_aead_backend_name(be));
		return false;
	}
	g = median(gbps, o->runs);
	c = median(cpu_ns, o->runs);
	printf("  %-10s %-5s %7u %10.2f %9.3f %11.0f\n", crypto_aead_backend_name(be),
	       open ? "open" : "seal", threads, g, g * 1e3 / 8 / POOL_PACKET, c);
	if (kv)
		fprintf(kv, "kind=pool backend=%s op=%s bytes=%u threads=%u mbyte_s=%.1f mpkt_s=%.4f gbit_s=%.3f cpu_ns_pkt=%.0f runs=%u\n",
			crypto_aead_backend_name(be), open ? "open" : "seal", POOL_PACKET,
			threads, g * 1e3 / 8, g * 1e3 / 8 / POOL_PACKET, g, c, o->runs);
	return true;
}

static bool pool_bench_init(struct pool_bench *b)
{
	unsigned int i;

	memset(b, 0, sizeof(*b));
	b->bufs = calloc(DATAPATH_BATCH, DATAPATH_BUF_SIZE);
	b->sealed = calloc(DATAPATH_BATCH, DATAPATH_BUF_SIZE);
	b->plain = calloc(DATAPATH_BATCH, DATAPATH_BUF_SIZE);
	if (!b->bufs || !b->sealed || !b->plain)
		return false;
	randombytes_buf(b->kp.sending_key, sizeof(b->kp.sending_key));
	memcpy(b->kp.receiving_key, b->kp.sending_key, sizeof(b->kp.receiving_key));
	b->kp.birthdate = platform_now();
	b->kp.remote_index = b->kp.local_index = 1;
	atomic_init(&b->kp.sending_counter, 0);
	atomic_init(&b->kp.refcount, 1);
	for (i = 0; i < DATAPATH_BATCH; i++) {
		uint8_t *p = pool_buf(b->sealed, i);

		randombytes_buf(p + DATAPATH_HEADROOM, POOL_PACKET);
		b->msg_len = transport_seal(&b->kp, p + DATAPATH_HEADROOM, POOL_PACKET,
					    transport_padded_len(POOL_PACKET, POOL_PACKET), p);
		if (!b->msg_len)
			return false;
	}
	return true;
}

static void pool_bench_free(struct pool_bench *b)
{
	free(b->bufs);
	free(b->sealed);
	free(b->plain);
	sodium_memzero(&b->kp, sizeof(b->kp));
}

/* ---- part 3: the handshake ---- */

struct hs_bench {
	struct noise_static_identity id_i, id_r;
	struct noise_handshake hs_i, hs_r;  /* each side's one peer */
	struct noise_keypairs kps_r;
	struct noise_ops ops_i, ops_r;
	struct cookie_checker checker_r;
	struct cookie cookie_i, cookie_r;
	struct message_handshake_initiation init;
	struct sockaddr_in src;
	uint32_t next_index;
	uint8_t dh_out[NOISE_PUBLIC_KEY_LEN];
	bool failed;
};

static struct noise_handshake *hb_lookup_static(void *ctx, const uint8_t pk[NOISE_PUBLIC_KEY_LEN])
{
	struct noise_handshake *hs = ctx;

	return !memcmp(hs->remote_static, pk, NOISE_PUBLIC_KEY_LEN) ? hs : NULL;
}

static struct noise_handshake *hb_lookup_index(void *ctx, uint32_t index)
{
	(void)ctx;
	(void)index;
	return NULL;
}

static uint32_t hb_index_new(void *ctx, struct noise_handshake *hs)
{
	static uint32_t next;

	(void)ctx;
	(void)hs;
	return ++next ? next : ++next;
}

static void hb_index_to_keypair(void *ctx, struct noise_handshake *hs, struct noise_keypair *kp)
{
	(void)ctx;
	(void)hs;
	(void)kp;
}

static void hb_index_remove(void *ctx, uint32_t index)
{
	(void)ctx;
	(void)index;
}

static bool hs_bench_init(struct hs_bench *b)
{
	uint8_t ki[NOISE_PRIVATE_KEY_LEN], kr[NOISE_PRIVATE_KEY_LEN];
	const struct noise_ops ops = {
		.lookup_by_static = hb_lookup_static,
		.lookup_by_index = hb_lookup_index,
		.index_new = hb_index_new,
		.index_to_keypair = hb_index_to_keypair,
		.index_remove = hb_index_remove,
	};
	bool ok;

	memset(b, 0, sizeof(*b));
	crypto_generate_private(ki);
	crypto_generate_private(kr);
	noise_static_identity_set(&b->id_i, ki);
	noise_static_identity_set(&b->id_r, kr);
	crypto_wipe(ki, sizeof(ki));
	crypto_wipe(kr, sizeof(kr));
	b->ops_i = ops;
	b->ops_i.ctx = &b->hs_i;
	b->ops_r = ops;
	b->ops_r.ctx = &b->hs_r;
	cookie_checker_init(&b->checker_r, b->id_r.static_public, NULL);
	cookie_init(&b->cookie_i, b->id_r.static_public);
	cookie_init(&b->cookie_r, b->id_i.static_public);
	b->src.sin_family = AF_INET;
	b->src.sin_port = htons(51820);
	b->src.sin_addr.s_addr = htonl(0xc0000201);  /* 192.0.2.1 */
	ok = noise_handshake_init(&b->hs_i, &b->id_i, b->id_r.static_public, NULL, NULL) &&
	     noise_handshake_init(&b->hs_r, &b->id_r, b->id_i.static_public, NULL, NULL) &&
	     noise_handshake_create_initiation(&b->init, &b->hs_i, &b->ops_i);
	if (ok)
		cookie_add_mac_to_packet(&b->init, sizeof(b->init), &b->cookie_i);
	return ok;
}

static void hs_bench_free(struct hs_bench *b)
{
	noise_keypairs_clear(&b->kps_r, &b->ops_r);
	noise_handshake_clear(&b->hs_r, &b->ops_r);
	noise_handshake_clear(&b->hs_i, &b->ops_i);
	cookie_checker_uninit(&b->checker_r);
	crypto_wipe(b, sizeof(*b));
}

enum hs_op { HS_X25519, HS_X25519_BASE, HS_RESPONDER, HS_OPS };
static const char *const hs_op_names[HS_OPS] = { "x25519", "x25519_base", "responder" };
static const char *const hs_op_labels[HS_OPS] = {
	"X25519, variable point (crypto_dh)",
	"X25519, base point (an ephemeral key)",
	"responder handshake (macs, consume, respond, keys)",
};

static void hs_step(struct hs_bench *b, enum hs_op op)
{
	struct message_handshake_response resp;
	struct noise_handshake *hs;

	switch (op) {
	case HS_X25519:
		/* The initiator's static key as the point, as for the
		 * precomputation; the result goes to b, so nothing is
		 * optimised away. */
		if (!crypto_dh(b->dh_out, b->id_r.static_private, b->hs_r.remote_static))
			b->failed = true;
		break;
	case HS_X25519_BASE:
		if (!crypto_public_key(b->dh_out, b->id_r.static_private))
			b->failed = true;
		break;
	case HS_RESPONDER:
		memset(b->hs_r.latest_timestamp, 0, sizeof(b->hs_r.latest_timestamp));
		b->hs_r.last_initiation_consumption = 0;
		if (cookie_validate_packet(&b->checker_r, &b->init, sizeof(b->init),
					   (const struct sockaddr *)&b->src, false) !=
		    VALID_MAC_BUT_NO_COOKIE) {
			b->failed = true;
			break;
		}
		hs = noise_handshake_consume_initiation(&b->init, &b->id_r, &b->ops_r);
		if (!hs || !noise_handshake_create_response(&resp, hs, &b->ops_r)) {
			b->failed = true;
			break;
		}
		cookie_add_mac_to_packet(&resp, sizeof(resp), &b->cookie_r);
		if (!noise_handshake_begin_session(hs, &b->kps_r, &b->ops_r))
			b->failed = true;
		break;
	default:
		break;
	}
}

static double hs_rate(struct hs_bench *b, enum hs_op op, double secs)
{
	double start = clock_secs(CLOCK_THREAD_CPUTIME_ID), now;
	unsigned long n = 0;

	do {
		hs_step(b, op);
		n++;
		now = clock_secs(CLOCK_THREAD_CPUTIME_ID);
	} while (now - start < secs && !b->failed);
	return n / (now - start);
}

static bool bench_handshake(const struct options *o, struct hs_bench *b, enum hs_op op)
{
	double rate[MAX_RUNS], per_s;
	unsigned int i;

	hs_rate(b, op, o->secs / 5);
	for (i = 0; i < o->runs && !b->failed; i++)
		rate[i] = hs_rate(b, op, o->secs);
	if (b->failed) {
		fprintf(stderr, "crypto_bench: handshake benchmark: %s failed\n", hs_op_names[op]);
		return false;
	}
	per_s = median(rate, o->runs);
	printf("  %-52s %9.0f %8.1f\n", hs_op_labels[op], per_s, 1e6 / per_s);
	if (kv)
		fprintf(kv, "kind=handshake op=%s per_s=%.0f us=%.2f runs=%u\n",
			hs_op_names[op], per_s, 1e6 / per_s, o->runs);
	return true;
}

static void print_machine(void)
{
	char model[256] = "unknown", line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	printf("cpu: %s (%ld online)\nlibsodium %s, %s\n", model, ncpu,
	       sodium_version_string(), OpenSSL_version(OPENSSL_VERSION));
	if (kv) {
		char *c;

		for (c = model; *c; c++)
			if (*c == ' ')
				*c = '_';
		fprintf(kv, "kind=machine cpu=%s online=%ld libsodium=%s openssl=%s default=%s\n",
			model, ncpu, sodium_version_string(),
			OpenSSL_version(OPENSSL_VERSION_STRING),
			crypto_aead_backend_name(crypto_aead_backend_get()));
	}
}

/* Measure this backend (and select it)? "auto" only when asked for with
 * -b: it is libsodium or openssl by length, measured in their rows. */
static bool wanted(const struct options *o, enum crypto_aead_backend be)
{
	if (o->backend >= 0 ? (int)be != o->backend : be == CRYPTO_AEAD_AUTO)
		return false;
	return crypto_aead_backend_set(be);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: crypto_bench [-c CPU] [-r RUNS] [-t SECONDS] [-p SECONDS] "
		   "[-b libsodium|openssl|auto] [-k FILE]\n"
		   "  -c CPU      pin the single-thread part to this CPU (default: the first allowed)\n"
		   "  -r RUNS     runs per cell, the median is reported (1..%d, default 5)\n"
		   "  -t SECONDS  CPU time per single-thread run (default 0.25)\n"
		   "  -p SECONDS  wall time per pool run (default 0.1)\n"
		   "  -b BACKEND  measure only this AEAD backend\n"
		   "  -k FILE     also write key=value result lines to FILE\n",
		MAX_RUNS);
}

static bool parse_options(int argc, char **argv, struct options *o)
{
	enum crypto_aead_backend be;
	char *end;
	int c;

	*o = (struct options){ .cpu = -1, .runs = 5, .secs = 0.25, .pool_secs = 0.1,
			       .backend = -1 };
	while ((c = getopt(argc, argv, "c:r:t:p:b:k:h")) != -1) {
		errno = 0;
		switch (c) {
		case 'c':
			o->cpu = (int)strtol(optarg, &end, 10);
			if (errno || *end || o->cpu < 0 || o->cpu >= CPU_SETSIZE) {
				fprintf(stderr, "crypto_bench: -c wants a CPU number, not '%s'\n", optarg);
				return false;
			}
			break;
		case 'r':
			o->runs = (unsigned int)strtoul(optarg, &end, 10);
			if (errno || *end || !o->runs || o->runs > MAX_RUNS) {
				fprintf(stderr, "crypto_bench: -r wants 1..%d, not '%s'\n", MAX_RUNS, optarg);
				return false;
			}
			break;
		case 't':
		case 'p': {
			double v = strtod(optarg, &end);

			if (errno || *end || !(v > 0 && v <= 60)) {
				fprintf(stderr, "crypto_bench: -%c wants seconds in (0, 60], not '%s'\n",
					c, optarg);
				return false;
			}
			*(c == 't' ? &o->secs : &o->pool_secs) = v;
			break;
		}
		case 'b':
			if (!crypto_aead_backend_from_name(optarg, &be)) {
				fprintf(stderr, "crypto_bench: -b wants libsodium, openssl or auto, not '%s'\n",
					optarg);
				return false;
			}
			o->backend = be;
			break;
		case 'k':
			o->kv_path = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return false;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	struct options o;
	struct pool_bench pb;
	cpu_set_t allowed, one;
	enum crypto_aead_backend be, def;
	unsigned int s, t, op;
	int cpu;
	bool ok = true;

	if (!crypto_init()) {
		fprintf(stderr, "crypto_bench: libsodium failed to initialise\n");
		return 2;
	}
	if (!parse_options(argc, argv, &o))
		return 2;
	if (o.backend >= 0 && !crypto_aead_backend_is_available(o.backend)) {
		fprintf(stderr, "crypto_bench: backend %s is not available here\n",
			crypto_aead_backend_name(o.backend));
		return 2;
	}
	if (o.kv_path && !(kv = fopen(o.kv_path, "w"))) {
		fprintf(stderr, "crypto_bench: cannot write %s: %s\n", o.kv_path, strerror(errno));
		return 2;
	}
	def = crypto_aead_backend_get();
	if (sched_getaffinity(0, sizeof(allowed), &allowed)) {
		fprintf(stderr, "crypto_bench: sched_getaffinity: %s\n", strerror(errno));
		return 2;
	}
	cpu = o.cpu;
	for (t = 0; cpu < 0 && t < CPU_SETSIZE; t++)
		if (CPU_ISSET(t, &allowed))
			cpu = (int)t;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one)) {
		fprintf(stderr, "crypto_bench: cannot pin to CPU %d: %s\n", cpu, strerror(errno));
		return 2;
	}

	print_machine();
	printf("\nChaCha20-Poly1305 per core (CPU %d, thread CPU time, median of %u x %.2f s)\n",
	       cpu, o.runs, o.secs);
	printf("  %-10s %-5s %6s %10s %9s\n", "backend", "op", "bytes", "MB/s", "Mpkt/s");
	for (be = 0; be < CRYPTO_AEAD_BACKENDS && ok; be++) {
		if (!wanted(&o, be))
			continue;
		for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]) && ok; s++)
			for (op = 0; op < 2 && ok; op++)
				ok = bench_aead(&o, be, sizes[s], op);
	}

	if (ok) {
		struct hs_bench hb;

		printf("\nhandshake per core (CPU %d, thread CPU time, median of %u x %.2f s)\n",
		       cpu, o.runs, o.secs);
		printf("  %-52s %9s %8s\n", "", "per s", "us");
		if (!hs_bench_init(&hb)) {
			fprintf(stderr, "crypto_bench: cannot set up the handshake benchmark\n");
			ok = false;
		}
		for (op = 0; ok && op < HS_OPS; op++)
			ok = bench_handshake(&o, &hb, (enum hs_op)op);
		hs_bench_free(&hb);
	}

	/* The pool's threads inherit the caller's affinity: let them spread. */
	sched_setaffinity(0, sizeof(allowed), &allowed);
	if (ok && !pool_bench_init(&pb)) {
		fprintf(stderr, "crypto_bench: cannot set up the pool benchmark\n");
		ok = false;
	}
	if (ok) {
		printf("\ncrypto pool, %u-byte packets, batches of %u, one peer (wall time, median of %u x %.2f s)\n",
		       POOL_PACKET, DATAPATH_BATCH, o.runs, o.pool_secs);
		printf("  %-10s %-5s %7s %10s %9s %11s\n", "backend", "op", "threads", "Gbit/s",
		       "Mpkt/s", "CPU ns/pkt");
		for (be = 0; be < CRYPTO_AEAD_BACKENDS && ok; be++) {
			if (!wanted(&o, be))
				continue;
			for (op = 0; op < 2 && ok; op++)
				for (t = 1; t <= 2 && ok; t++)
					ok = bench_pool(&o, be, &pb, t, op);
		}
		pool_bench_free(&pb);
	}
	crypto_aead_backend_set(def);
	printf("\ndefault backend: %s (auto: libsodium below %d bytes, openssl from there)\n",
	       crypto_aead_backend_name(def), CRYPTO_AEAD_AUTO_OPENSSL_MIN);
	if (kv && fclose(kv)) {
		fprintf(stderr, "crypto_bench: cannot write %s\n", o.kv_path);
		ok = false;
	}
	return ok ? 0 : 1;
}
