// SPDX-License-Identifier: GPL-2.0
/*
 * The device's tables (peers by public key, receiver indices), the Noise
 * and timer glue, and the configuration socket's set/get applied to them.
 */
#include "device.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/fastpath.h"
#include "ctl/handshake/crypto.h"
#include "ctl/handshake/ratelimiter.h"
#include "base/log.h"
#include "ctl/notify.h"
#include "ctl/uapi.h"
#include "datapath/crypto_pool.h"
#include "datapath/offload.h"
#include "datapath/tun.h"

#define INDEX_EMPTY 0U
#define INDEX_DELETED UINT32_MAX
#define RATELIMITER_ENTRIES 8192

static const char *const drop_names[] = {
#define DROP_NAME(name, str) str,
	DROP_REASONS(DROP_NAME)
#undef DROP_NAME
};

const char *drop_reason_name(enum drop_reason r)
{
	return r < DROP_REASON_COUNT ? drop_names[r] : "unknown";
}

void device_count_drop(struct wg_device *dev, enum drop_reason r)
{
	dev->drops[r]++;
}

int device_deliver(struct wg_device *dev, const void *pkt, size_t len)
{
	if (dev->tun_fd < 0)
		return fastpath_deliver(dev, pkt, len);
	return tun_write(dev->tun_fd, dev->tun_vnet, pkt, len);
}

int device_deliver_batched(struct wg_device *dev, void *pkt, size_t len)
{
	if (!dev->tun_vnet || dev->tun_fd < 0 || !dev->gro_pkts)
		return device_deliver(dev, pkt, len);
	if (dev->n_gro == DATAPATH_BATCH)
		device_deliver_flush(dev);
	dev->gro_pkts[dev->n_gro++] = (struct offload_gro_pkt){ .data = pkt, .len = len };
	return 0;
}

static int gro_emit(void *ctx, const struct offload_gro_out *out)
{
	struct wg_device *dev = ctx;
	int ret = tun_writev(dev->tun_fd, out->iov, out->iovcnt);

	if (ret) {
		dev->drops[ret == -EMSGSIZE ? DROP_RX_TOO_BIG : DROP_RX_TUN_WRITE] += out->packets;
		return ret;
	}
	dev->gro_writes++;
	dev->gro_packets += out->packets;
	return 0;
}

void device_deliver_flush(struct wg_device *dev)
{
	unsigned int n = dev->n_gro;

	if (!n)
		return;
	dev->n_gro = 0;
	offload_gro_flush(dev->gro_pkts, n, dev->tun_offloads & TUN_F_USO4, gro_emit, dev);
}

void device_log_stats(struct wg_device *dev)
{
	unsigned int r;

	log_info("%u peers, %u live indices, %zu allowed IPs; handshakes sent %llu, "
		 "received %llu; cookie replies sent %llu", dev->peers.count,
		 dev->indices.used, allowedips_count(&dev->allowedips),
		 (unsigned long long)dev->handshakes_sent,
		 (unsigned long long)dev->handshakes_received,
		 (unsigned long long)dev->cookies_sent);
	if (dev->tun_vnet)
		log_info("offloads: %llu super-packets from the stack cut into %llu segments; "
			 "%llu packets into the stack in %llu writes",
			 (unsigned long long)dev->tso_packets, (unsigned long long)dev->tso_segments,
			 (unsigned long long)dev->gro_packets, (unsigned long long)dev->gro_writes);
	if (dev->udp.gso_stats.messages || dev->udp.gso_stats.refused)
		log_info("UDP GSO: %llu messages carried %llu datagrams; %llu refused "
			 "and sent one by one",
			 (unsigned long long)dev->udp.gso_stats.messages,
			 (unsigned long long)dev->udp.gso_stats.segments,
			 (unsigned long long)dev->udp.gso_stats.refused);
	for (r = 0; r < DROP_REASON_COUNT; r++)
		if (dev->drops[r])
			log_info("dropped %s: %llu", drop_reason_name(r),
				 (unsigned long long)dev->drops[r]);
	notify_log_stats(dev);
	fastpath_log_stats(dev);
}

/* ---- receiver indices: open addressing, linear probing ---- */

static int index_table_resize(struct index_table *t, uint32_t size)
{
	struct index_entry *old = t->slots;
	uint32_t old_size = old ? t->mask + 1 : 0, i;

	t->slots = calloc(size, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		return -ENOMEM;
	}
	t->mask = size - 1;
	t->used = 0;
	t->deleted = 0;
	for (i = 0; i < old_size; i++) {
		struct index_entry *e = &old[i];
		uint32_t j;

		if (e->index == INDEX_EMPTY || e->index == INDEX_DELETED)
			continue;
		for (j = e->index & t->mask; t->slots[j].index != INDEX_EMPTY; j = (j + 1) & t->mask)
			;
		t->slots[j] = *e;
		t->used++;
	}
	free(old);
	return 0;
}

struct index_entry *device_index_lookup(struct wg_device *dev, uint32_t index)
{
	struct index_table *t = &dev->indices;
	uint32_t j;

	if (index == INDEX_EMPTY || index == INDEX_DELETED)
		return NULL;
	for (j = index & t->mask; t->slots[j].index != INDEX_EMPTY; j = (j + 1) & t->mask)
		if (t->slots[j].index == index)
			return &t->slots[j];
	return NULL;
}

static void index_remove(void *ctx, uint32_t index)
{
	struct wg_device *dev = ctx;
	struct index_entry *e = device_index_lookup(dev, index);

	if (!e)
		return;
	if (e->is_keypair)
		notify_index_removed(dev, index);
	memset(e, 0, sizeof(*e));
	e->index = INDEX_DELETED;
	dev->indices.used--;
	dev->indices.deleted++;
}

/* A fresh random index, unique among the live ones (whitepaper 5.4.2). */
static uint32_t index_new(void *ctx, struct noise_handshake *hs)
{
	struct wg_device *dev = ctx;
	struct index_table *t = &dev->indices;
	uint32_t index, j;

	if (hs->local_index)
		index_remove(dev, hs->local_index);
	/* Keep the table at most half full, counting tombstones. */
	if ((t->used + t->deleted + 1) * 2 > t->mask + 1 &&
	    index_table_resize(t, (t->used + 1) * 4 > t->mask + 1 ? (t->mask + 1) * 2
								   : t->mask + 1))
		abort();  /* out of memory in the control thread: nothing sane left */
	do
		index = platform_random_u32();
	while (index == INDEX_EMPTY || index == INDEX_DELETED || device_index_lookup(dev, index));
	for (j = index & t->mask; t->slots[j].index != INDEX_EMPTY &&
				  t->slots[j].index != INDEX_DELETED; j = (j + 1) & t->mask)
		;
	if (t->slots[j].index == INDEX_DELETED)
		t->deleted--;
	t->slots[j] = (struct index_entry){
		.index = index, .is_keypair = false, .handshake = hs, .peer = hs->peer,
	};
	t->used++;
	return index;
}

static void index_to_keypair(void *ctx, struct noise_handshake *hs, struct noise_keypair *kp)
{
	struct index_entry *e = device_index_lookup(ctx, hs->local_index);

	if (e) {
		e->is_keypair = true;
		e->keypair = kp;
		notify_index_keypair(ctx, e->index, e->peer);
	}
}

static struct noise_handshake *lookup_by_index(void *ctx, uint32_t index)
{
	struct index_entry *e = device_index_lookup(ctx, index);

	return e && !e->is_keypair ? e->handshake : NULL;
}

/* ---- peers by public key ---- */

static uint32_t peer_hash(const struct peer_table *t, const uint8_t *key)
{
	uint64_t h;

	crypto_shorthash((unsigned char *)&h, key, NOISE_PUBLIC_KEY_LEN, t->hash_key);
	return (uint32_t)h & t->mask;
}

static int peer_table_grow(struct peer_table *t)
{
	uint32_t size = (t->mask + 1) * 2;
	struct wg_peer **b = calloc(size, sizeof(*b)), *p;

	if (!b)
		return -ENOMEM;
	free(t->buckets);
	t->buckets = b;
	t->mask = size - 1;
	for (p = t->first; p; p = p->next) {
		uint32_t h = peer_hash(t, p->public_key);

		p->hash_next = b[h];
		b[h] = p;
	}
	return 0;
}

struct wg_peer *device_peer_lookup(struct wg_device *dev,
				   const uint8_t public_key[NOISE_PUBLIC_KEY_LEN])
{
	struct wg_peer *p;

	for (p = dev->peers.buckets[peer_hash(&dev->peers, public_key)]; p; p = p->hash_next)
		if (!memcmp(p->public_key, public_key, NOISE_PUBLIC_KEY_LEN))
			return p;
	return NULL;
}

static struct noise_handshake *lookup_by_static(void *ctx, const uint8_t pk[NOISE_PUBLIC_KEY_LEN])
{
	struct wg_peer *p = device_peer_lookup(ctx, pk);

	return p ? &p->handshake : NULL;
}

static struct wg_peer *peer_create(struct wg_device *dev,
				   const uint8_t public_key[NOISE_PUBLIC_KEY_LEN])
{
	struct peer_table *t = &dev->peers;
	struct wg_peer *peer;
	uint32_t h;

	if (t->count >= dev->max_peers)
		return NULL;
	if (t->count + 1 > t->mask + 1 && peer_table_grow(t))
		return NULL;
	peer = calloc(1, sizeof(*peer));
	if (!peer)
		return NULL;
	if (timers_peer_init(&dev->timers, &peer->timers, peer)) {
		free(peer);
		return NULL;
	}
	peer->device = dev;
	memcpy(peer->public_key, public_key, NOISE_PUBLIC_KEY_LEN);
	/* A peer whose key gives an invalid DH is kept (wg shows it) but
	 * can never complete a handshake. */
	noise_handshake_init(&peer->handshake, &dev->static_identity, public_key, NULL, peer);
	cookie_init(&peer->latest_cookie, public_key);
	peer->endpoint.addr.sa.sa_family = AF_UNSPEC;
	peer->internal_id = ++dev->next_peer_id;

	h = peer_hash(t, public_key);
	peer->hash_next = t->buckets[h];
	t->buckets[h] = peer;
	peer->prev = t->last;
	if (t->last)
		t->last->next = peer;
	else
		t->first = peer;
	t->last = peer;
	t->count++;
	notify_peer_added(dev, peer);
	log_debug("peer %llu created", (unsigned long long)peer->internal_id);
	return peer;
}

/* Out of the hash chain and the ordered list of t. */
static void peer_unlink(struct peer_table *t, struct wg_peer *peer)
{
	struct wg_peer **pp;

	for (pp = &t->buckets[peer_hash(t, peer->public_key)]; *pp; pp = &(*pp)->hash_next)
		if (*pp == peer) {
			*pp = peer->hash_next;
			break;
		}
	if (peer->prev)
		peer->prev->next = peer->next;
	else
		t->first = peer->next;
	if (peer->next)
		peer->next->prev = peer->prev;
	else
		t->last = peer->prev;
	t->count--;
}

void device_peer_remove(struct wg_device *dev, struct wg_peer *peer)
{
	timers_peer_stop(&peer->timers);
	allowedips_remove_by_peer(&dev->allowedips, peer);
	noise_keypairs_clear(&peer->keypairs, &dev->noise_ops);
	noise_handshake_clear(&peer->handshake, &dev->noise_ops);
	peer_staged_purge(peer);
	notify_peer_removed(dev, peer);
	peer_unlink(&dev->peers, peer);
	log_debug("peer %llu removed", (unsigned long long)peer->internal_id);
	sodium_memzero(peer, sizeof(*peer));
	free(peer);
}

static void remove_all_peers(struct wg_device *dev)
{
	while (dev->peers.first)
		device_peer_remove(dev, dev->peers.first);
}

/* ---- timers' actions ---- */

static void timer_send_initiation(void *owner, bool is_retry)
{
	send_handshake_initiation(owner, is_retry);
}

static void timer_send_keepalive(void *owner)
{
	send_keepalive(owner);
}

static void timer_give_up(void *owner)
{
	struct wg_peer *peer = owner;

	log_debug("peer %llu: handshake did not complete after %d seconds, giving up",
		  (unsigned long long)peer->internal_id, REKEY_ATTEMPT_TIME);
	peer->device->drops[DROP_TX_STAGED_EXPIRED] += peer->staged_count;
	peer_staged_purge(peer);
	notify_handshake_failed(peer);
}

static void timer_zero_key_material(void *owner)
{
	struct wg_peer *peer = owner;

	log_debug("peer %llu: zeroing keys after %d seconds without a handshake",
		  (unsigned long long)peer->internal_id, ZERO_KEYS_AFTER_TIME);
	noise_keypairs_clear(&peer->keypairs, &peer->device->noise_ops);
	noise_handshake_clear(&peer->handshake, &peer->device->noise_ops);
	notify_session_expired(peer, NOTIFY_EXPIRED_ZERO_KEYS);
}

static const struct timers_actions timer_actions = {
	.send_handshake_initiation = timer_send_initiation,
	.send_keepalive = timer_send_keepalive,
	.give_up = timer_give_up,
	.zero_key_material = timer_zero_key_material,
};

/* ---- load ---- */

bool device_is_under_load(struct wg_device *dev)
{
	xwg_time_t now = platform_now();

	/* Count handshake messages per second; past the threshold (the
	 * kernel's 1/8 of its handshake queue) we are under load, and stay
	 * so for UNDER_LOAD_AFTER_TIME after it eases. */
	if (now - dev->load_window_start >= NSEC_PER_SEC) {
		dev->load_window_start = now;
		dev->load_window_count = 0;
	}
	if (++dev->load_window_count > UNDER_LOAD_THRESHOLD)
		dev->under_load_until = now + UNDER_LOAD_AFTER_TIME * NSEC_PER_SEC;
	notify_cookie_mode(dev, now < dev->under_load_until);
	return now < dev->under_load_until;
}

/* ---- lifecycle ---- */

int device_init(struct wg_device *dev, const char *ifname, unsigned int nthreads)
{
	int ret = -ENOMEM;

	memset(dev, 0, sizeof(*dev));
	snprintf(dev->ifname, sizeof(dev->ifname), "%s", ifname);
	dev->tun_fd = -1;
	dev->udp.fd4 = dev->udp.fd6 = -1;
	dev->mtu = DEFAULT_MTU;
	dev->max_peers = MAX_PEERS_PER_DEVICE;
	allowedips_init(&dev->allowedips);
	randombytes_buf(dev->peers.hash_key, sizeof(dev->peers.hash_key));
	dev->peers.buckets = calloc(64, sizeof(*dev->peers.buckets));
	if (!dev->peers.buckets)
		goto err;
	dev->peers.mask = 63;
	if (index_table_resize(&dev->indices, 256))
		goto err;
	dev->ratelimiter = ratelimiter_create(RATELIMITER_ENTRIES);
	if (!dev->ratelimiter)
		goto err;
	cookie_checker_init(&dev->cookie_checker, dev->static_identity.static_public,
			    dev->ratelimiter);
	dev->noise_ops = (struct noise_ops){
		.lookup_by_static = lookup_by_static,
		.lookup_by_index = lookup_by_index,
		.index_new = index_new,
		.index_to_keypair = index_to_keypair,
		.index_remove = index_remove,
		.ctx = dev,
	};
	ret = timers_init(&dev->timers, &timer_actions);
	if (ret)
		goto err;
	dev->rx_jobs = calloc(DATAPATH_BATCH, sizeof(*dev->rx_jobs));
	dev->tx_jobs = calloc(DATAPATH_BATCH, sizeof(*dev->tx_jobs));
	dev->cookie_replies = calloc(DATAPATH_BATCH, sizeof(*dev->cookie_replies));
	dev->cookie_tx = calloc(DATAPATH_BATCH, sizeof(*dev->cookie_tx));
	dev->gro_pkts = calloc(DATAPATH_BATCH, sizeof(*dev->gro_pkts));
	/* Touched only as far as segments need it (mlockall MCL_ONFAULT). */
	dev->tx_arena = malloc(DATAPATH_TX_ARENA);
	dev->pool = crypto_pool_create(nthreads > 1 ? nthreads - 1 : 0);
	if (!dev->rx_jobs || !dev->tx_jobs || !dev->cookie_replies || !dev->cookie_tx ||
	    !dev->gro_pkts || !dev->tx_arena || !dev->pool) {
		ret = -ENOMEM;
		goto err;
	}
	return 0;
err:
	device_uninit(dev);
	return ret;
}

void device_uninit(struct wg_device *dev)
{
	if (dev->peers.buckets)
		remove_all_peers(dev);
	notify_uninit(dev);
	crypto_pool_destroy(dev->pool);
	dev->pool = NULL;
	free(dev->rx_jobs);
	free(dev->tx_jobs);
	dev->rx_jobs = dev->tx_jobs = NULL;
	free(dev->cookie_replies);
	free(dev->cookie_tx);
	dev->cookie_replies = NULL;
	dev->cookie_tx = NULL;
	free(dev->gro_pkts);
	dev->gro_pkts = NULL;
	dev->n_gro = 0;
	free(dev->tx_arena);
	dev->tx_arena = NULL;
	timers_uninit(&dev->timers);
	allowedips_free(&dev->allowedips);
	ratelimiter_destroy(dev->ratelimiter);
	dev->ratelimiter = NULL;
	free(dev->peers.buckets);
	dev->peers.buckets = NULL;
	free(dev->indices.slots);
	dev->indices.slots = NULL;
	cookie_checker_uninit(&dev->cookie_checker);
	sodium_memzero(&dev->static_identity, sizeof(dev->static_identity));
}

/* ---- configuration ----
 *
 * A set transaction is all or nothing, as wg(8) reads its errno: every
 * change it makes is logged as it is made (struct config_txn), and the
 * first failure (out of memory, a refused port or mark, a map write of the
 * fast path, the test seam) undoes them in reverse order, so that a get
 * afterwards reads byte for byte as before. Undoing never allocates in a
 * way that can fail: a removed peer is only detached (out of the tables,
 * its sessions and timers kept) and destroyed at the commit; the allowed
 * IPs of every peer the transaction may touch are saved before it starts
 * and the trie is reserved (allowedips_reserve) for every insert of the
 * transaction and of the undoing; a new listen port's sockets are opened
 * beside the old ones, which stay until the commit. The log costs about
 * 250 bytes per peer entry (two steps for a new peer) and 18 per prefix of
 * a touched peer: memory follows the transaction, not the configuration.
 * (replace_peers keeps its own scheme, below: it builds new tables.) Map
 * writes made while undoing, and those of the commit (removed peers'
 * slots), cannot be refused any more: the re-sync (fastpath.h) makes the
 * maps follow, and the log says so. Sessions that a new private key voided
 * stay void after undoing, as after any key change. */

static uint64_t config_fault_at;  /* test seam: 0 off, else steps to go */

void device_config_fault_set(uint64_t n)
{
	config_fault_at = n;
}

/* A fallible step of a transaction: -ENOMEM when the seam says so. */
static int config_fault(void)
{
	if (!config_fault_at)
		return 0;
	return --config_fault_at ? 0 : -ENOMEM;
}

struct txn_prefix {
	uint8_t family, cidr;
	uint8_t addr[16];
};

/* A peer's allowed IPs before the transaction, in list order. */
struct txn_saved {
	struct wg_peer *peer;
	size_t first, n;   /* in config_txn.prefixes */
};

enum txn_kind {
	TXN_CREATED,   /* undo: remove it */
	TXN_DETACHED,  /* undo: back in its place; commit: destroy it */
	TXN_SETTINGS,  /* undo: the values before */
};

struct txn_step {
	enum txn_kind kind;
	struct wg_peer *peer;
	struct wg_peer *prev;      /* TXN_DETACHED: predecessor in order */
	uint16_t keepalive;        /* TXN_SETTINGS: the values before */
	uint8_t preshared_key[NOISE_SYMMETRIC_KEY_LEN];
	struct udp_endpoint endpoint;
};

struct config_txn {
	struct txn_step *steps;
	size_t n_steps, cap_steps;
	struct txn_saved *saved;
	size_t n_saved;
	struct txn_prefix *prefixes;
	size_t n_prefixes;
	bool key_changed;
	uint8_t old_private_key[NOISE_PRIVATE_KEY_LEN];  /* zero: none */
	bool fwmark_changed;
	uint32_t old_fwmark;
	struct udp_socks fresh;    /* a new port's sockets, until the commit */
};

static void txn_free(struct config_txn *txn)
{
	if (txn->steps) {
		sodium_memzero(txn->steps, txn->cap_steps * sizeof(*txn->steps));
		free(txn->steps);
	}
	free(txn->saved);
	free(txn->prefixes);
	sodium_memzero(txn->old_private_key, sizeof(txn->old_private_key));
}

/* Logs a step before it is made: only this can fail, never the undoing. */
static struct txn_step *txn_step(struct config_txn *txn, enum txn_kind kind,
				 struct wg_peer *peer)
{
	struct txn_step *step;

	if (txn->n_steps == txn->cap_steps) {
		size_t cap = txn->cap_steps ? 2 * txn->cap_steps : 16;
		struct txn_step *steps = malloc(cap * sizeof(*steps));

		if (!steps)
			return NULL;
		if (txn->steps) {
			/* Steps hold preshared keys: wipe the old block. */
			memcpy(steps, txn->steps, txn->n_steps * sizeof(*steps));
			sodium_memzero(txn->steps, txn->cap_steps * sizeof(*steps));
			free(txn->steps);
		}
		txn->steps = steps;
		txn->cap_steps = cap;
	}
	step = &txn->steps[txn->n_steps++];
	memset(step, 0, sizeof(*step));
	step->kind = kind;
	step->peer = peer;
	return step;
}

static int save_prefix(void *ctx, int family, const void *addr, uint8_t cidr)
{
	struct config_txn *txn = ctx;
	struct txn_prefix *p = &txn->prefixes[txn->n_prefixes++];

	p->family = (uint8_t)family;
	p->cidr = cidr;
	memset(p->addr, 0, sizeof(p->addr));
	memcpy(p->addr, addr, family == AF_INET ? 4 : 16);
	return 0;
}

static int count_prefix(void *ctx, int family, const void *addr, uint8_t cidr)
{
	(void)family;
	(void)addr;
	(void)cidr;
	++*(size_t *)ctx;
	return 0;
}

static int ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;

	return x < y ? -1 : x > y;
}

/* Before anything changes: the allowed IPs of every existing peer that the
 * transaction may touch (the peers it names, the owners of the prefixes it
 * inserts, a peer a new private key makes our own), and a reservation of
 * the trie for every insert forward and back. 0 or -ENOMEM. */
static int txn_prepare(struct wg_device *dev, const struct uapi_set *set,
		       struct config_txn *txn)
{
	struct wg_peer **cand = NULL, *p;
	size_t n = 0, cap = 1, inserts = 0, i, j, total = 0;
	int ret = -ENOMEM;

	for (i = 0; !set->replace_peers && i < set->n_peers; i++)
		cap += 1 + set->peers[i].n_allowed_ips;
	cand = malloc(cap * sizeof(*cand));
	if (!cand)
		return -ENOMEM;
	if (set->has_private_key) {
		uint8_t pub[NOISE_PUBLIC_KEY_LEN];

		/* All zeros clears the key: no public key then. */
		if (!sodium_is_zero(set->private_key, NOISE_PRIVATE_KEY_LEN) &&
		    crypto_public_key(pub, set->private_key) &&
		    (p = device_peer_lookup(dev, pub)))
			cand[n++] = p;
	}
	for (i = 0; !set->replace_peers && i < set->n_peers; i++) {
		const struct uapi_peer *up = &set->peers[i];

		p = device_peer_lookup(dev, up->public_key);
		if (p && (up->remove || up->replace_allowed_ips || up->n_allowed_ips))
			cand[n++] = p;
		for (j = 0; !up->remove && j < up->n_allowed_ips; j++) {
			const struct uapi_allowed_ip *a = &up->allowed_ips[j];

			if (a->remove)
				continue;
			inserts++;
			p = allowedips_owner(&dev->allowedips, a->family, a->addr, a->cidr);
			if (p)
				cand[n++] = p;
		}
	}
	qsort(cand, n, sizeof(*cand), ptr_cmp);
	for (i = 0, j = 0; i < n; i++)
		if (!j || cand[j - 1] != cand[i])
			cand[j++] = cand[i];
	n = j;
	for (i = 0; i < n; i++)
		allowedips_walk_by_peer(&dev->allowedips, cand[i], count_prefix, &total);
	txn->saved = calloc(n ? n : 1, sizeof(*txn->saved));
	txn->prefixes = malloc((total ? total : 1) * sizeof(*txn->prefixes));
	if (!txn->saved || !txn->prefixes)
		goto out;
	for (i = 0; i < n; i++) {
		txn->saved[i] = (struct txn_saved){ .peer = cand[i], .first = txn->n_prefixes };
		allowedips_walk_by_peer(&dev->allowedips, cand[i], save_prefix, txn);
		txn->saved[i].n = txn->n_prefixes - txn->saved[i].first;
	}
	/* replace_peers inserts into a table of its own. */
	ret = config_fault();
	if (!ret)
		ret = allowedips_reserve(&dev->allowedips, inserts + total,
					 (set->replace_peers ? 0 : set->n_peers) + n + 1);
	/* Only a reserved table is restored by txn_undo: without the
	 * reservation nothing has changed, and restoring could fail. */
	if (!ret)
		txn->n_saved = n;
out:
	free(cand);
	return ret;
}

/* Out of the tables (a later entry may create the same key afresh), its
 * prefixes gone with the maps following; the rest stays until the commit. */
static void peer_detach(struct wg_device *dev, struct wg_peer *peer)
{
	allowedips_remove_by_peer(&dev->allowedips, peer);
	notify_allowedips_changed(dev, peer);
	peer_unlink(&dev->peers, peer);
	peer->next = peer->prev = peer->hash_next = NULL;
}

/* Back into the tables after prev (NULL: first). The buckets never shrink
 * and count does not pass what it was, so this needs no memory. */
static void peer_attach(struct wg_device *dev, struct wg_peer *peer, struct wg_peer *prev)
{
	struct peer_table *t = &dev->peers;
	uint32_t h = peer_hash(t, peer->public_key);

	peer->hash_next = t->buckets[h];
	t->buckets[h] = peer;
	peer->prev = prev;
	peer->next = prev ? prev->next : t->first;
	if (peer->next)
		peer->next->prev = peer;
	else
		t->last = peer;
	if (prev)
		prev->next = peer;
	else
		t->first = peer;
	t->count++;
}

/* Removes peer, or with a transaction detaches it. 0 or -ENOMEM. */
static int txn_remove_peer(struct wg_device *dev, struct config_txn *txn, struct wg_peer *peer)
{
	struct txn_step *step;

	if (!txn) {
		device_peer_remove(dev, peer);
		return 0;
	}
	step = txn_step(txn, TXN_DETACHED, peer);
	if (!step)
		return -ENOMEM;
	step->prev = peer->prev;
	peer_detach(dev, peer);
	return 0;
}

static int set_private_key(struct wg_device *dev, const uint8_t key[NOISE_PRIVATE_KEY_LEN],
			   struct config_txn *txn)
{
	struct wg_peer *peer, *next;

	if (dev->static_identity.has_identity &&
	    crypto_equal(dev->static_identity.static_private, key, NOISE_PRIVATE_KEY_LEN))
		return 0;
	if (txn) {
		/* Our own public key as a peer (found by txn_prepare) goes
		 * first: detaching it is the step that may fail. */
		uint8_t pub[NOISE_PUBLIC_KEY_LEN];

		if (!sodium_is_zero(key, NOISE_PRIVATE_KEY_LEN) && crypto_public_key(pub, key) &&
		    (peer = device_peer_lookup(dev, pub)) && txn_remove_peer(dev, txn, peer))
			return -ENOMEM;
		txn->key_changed = true;
		if (dev->static_identity.has_identity)
			memcpy(txn->old_private_key, dev->static_identity.static_private,
			       NOISE_PRIVATE_KEY_LEN);
	}
	noise_static_identity_set(&dev->static_identity, key);
	cookie_checker_init(&dev->cookie_checker, dev->static_identity.static_public,
			    dev->ratelimiter);
	for (peer = dev->peers.first; peer; peer = next) {
		next = peer->next;
		/* We cannot be our own peer (wireguard-go and the kernel
		 * drop such a peer when the key changes). */
		if (dev->static_identity.has_identity &&
		    !memcmp(peer->public_key, dev->static_identity.static_public,
			    NOISE_PUBLIC_KEY_LEN)) {
			device_peer_remove(dev, peer);
			continue;
		}
		/* Everything derived from the old key is void. */
		noise_handshake_clear(&peer->handshake, &dev->noise_ops);
		noise_keypairs_clear(&peer->keypairs, &dev->noise_ops);
		noise_handshake_precompute(&peer->handshake);
		notify_session_expired(peer, NOTIFY_EXPIRED_PRIVATE_KEY);
	}
	return 0;
}

static int apply_allowed_ips(struct wg_device *dev, struct wg_peer *peer,
			     const struct uapi_peer *up)
{
	size_t i;
	int ret;

	if (up->replace_allowed_ips)
		allowedips_remove_by_peer(&dev->allowedips, peer);
	for (i = 0; i < up->n_allowed_ips; i++) {
		const struct uapi_allowed_ip *a = &up->allowed_ips[i];

		if (a->remove) {
			allowedips_remove(&dev->allowedips, a->family, a->addr, a->cidr, peer);
			continue;
		}
		ret = config_fault();
		if (!ret)
			ret = allowedips_insert(&dev->allowedips, a->family, a->addr, a->cidr,
						peer);
		if (ret)
			return ret;
	}
	return 0;
}

/* One entry (see struct uapi_peer). With a transaction every change is
 * logged for undoing, and a keepalive interval turned on sends nothing
 * until the commit; without one (replace_peers' fresh tables, which go
 * whole on failure) removal is immediate. 0 or -ENOMEM. */
static int apply_peer(struct wg_device *dev, const struct uapi_peer *up, struct config_txn *txn)
{
	struct txn_step *step;
	struct wg_peer *peer;
	struct udp_endpoint old_endpoint;
	int ret = config_fault();

	if (ret)
		return ret;
	/* A peer with our own public key is ignored, whatever follows (with
	 * no private key set, "our own" is all zeros, as in wireguard-go). */
	if (!memcmp(up->public_key, dev->static_identity.static_public, NOISE_PUBLIC_KEY_LEN))
		return 0;

	peer = device_peer_lookup(dev, up->public_key);
	if (up->remove)
		return peer ? txn_remove_peer(dev, txn, peer) : 0;
	if (!peer) {
		if (up->update_only)
			return 0;
		if (txn && !txn_step(txn, TXN_CREATED, NULL))
			return -ENOMEM;
		ret = config_fault();
		peer = ret ? NULL : peer_create(dev, up->public_key);
		if (!peer) {
			if (txn)
				txn->n_steps--;
			return -ENOMEM;
		}
		if (txn)
			txn->steps[txn->n_steps - 1].peer = peer;
	}
	if (txn) {
		step = txn_step(txn, TXN_SETTINGS, peer);
		if (!step)
			return -ENOMEM;
		memcpy(step->preshared_key, peer->handshake.preshared_key,
		       NOISE_SYMMETRIC_KEY_LEN);
		step->endpoint = peer->endpoint;
		step->keepalive = peer->timers.persistent_keepalive_interval;
	}
	if (up->has_preshared_key)
		memcpy(peer->handshake.preshared_key, up->preshared_key, NOISE_SYMMETRIC_KEY_LEN);
	if (up->has_endpoint) {
		old_endpoint = peer->endpoint;
		memset(&peer->endpoint, 0, sizeof(peer->endpoint));
		memcpy(&peer->endpoint.addr, &up->endpoint, sizeof(up->endpoint));
	}
	if (up->has_persistent_keepalive_interval)
		peer->timers.persistent_keepalive_interval = up->persistent_keepalive_interval;
	ret = apply_allowed_ips(dev, peer, up);
	/* The maps follow; a failed write is this transaction's error
	 * (fastpath_error_take), also after an error of our own. */
	if (up->replace_allowed_ips || up->n_allowed_ips)
		notify_allowedips_changed(dev, peer);
	notify_peer_configured(dev, peer, up->has_endpoint ? &old_endpoint : NULL);
	return ret;
}

/* Undoes what txn logged, newest first, then puts back the saved allowed
 * IPs (the reservation covers every insert) and the device's key and mark.
 * Frees nothing of the log. */
static void txn_undo(struct wg_device *dev, struct config_txn *txn)
{
	size_t i, j;

	for (i = txn->n_steps; i--;) {
		struct txn_step *step = &txn->steps[i];
		struct wg_peer *peer = step->peer;

		switch (step->kind) {
		case TXN_CREATED:
			device_peer_remove(dev, peer);
			break;
		case TXN_DETACHED:
			peer_attach(dev, peer, step->prev);
			break;
		case TXN_SETTINGS:
			memcpy(peer->handshake.preshared_key, step->preshared_key,
			       NOISE_SYMMETRIC_KEY_LEN);
			peer->endpoint = step->endpoint;
			peer->timers.persistent_keepalive_interval = step->keepalive;
			notify_peer_configured(dev, peer, NULL);
			break;
		}
	}
	/* Every prefix the transaction inserted or removed belongs to (or
	 * belonged to) a saved peer or a removed new one: clearing the saved
	 * peers leaves exactly the untouched prefixes, and re-inserting
	 * their lists in order restores the lists' order too. */
	for (i = 0; i < txn->n_saved; i++)
		allowedips_remove_by_peer(&dev->allowedips, txn->saved[i].peer);
	for (i = 0; i < txn->n_saved; i++) {
		const struct txn_saved *sv = &txn->saved[i];

		for (j = 0; j < sv->n; j++) {
			const struct txn_prefix *p = &txn->prefixes[sv->first + j];

			if (allowedips_insert(&dev->allowedips, p->family, p->addr, p->cidr,
					      sv->peer))
				log_error("undoing a configuration: cannot restore an allowed "
					  "IP (out of memory despite the reservation)");
		}
		notify_allowedips_changed(dev, sv->peer);
		notify_peer_configured(dev, sv->peer, NULL);
	}
	if (txn->key_changed)
		set_private_key(dev, txn->old_private_key, NULL);
	udp_socks_close(&txn->fresh);
	if (txn->fwmark_changed)
		udp_socks_set_fwmark(&dev->udp, txn->old_fwmark);
}

/* Makes the logged changes final: the new sockets, the keepalives turned
 * on or off, the detached peers destroyed. Cannot fail. */
static void txn_commit(struct wg_device *dev, const struct uapi_set *set,
		       struct config_txn *txn)
{
	size_t i;

	if (txn->fresh.fd4 >= 0) {
		udp_socks_commit(&dev->udp, &txn->fresh);
		dev->listen_port = set->listen_port;
	}
	for (i = 0; i < txn->n_steps; i++) {
		struct txn_step *step = &txn->steps[i];
		struct wg_peer *peer = step->peer;

		/* On: a keepalive goes out at once (when there is an
		 * endpoint to send it to); off: the timer stops. */
		if (step->kind == TXN_SETTINGS &&
		    peer->timers.persistent_keepalive_interval != step->keepalive &&
		    device_peer_lookup(dev, peer->public_key) == peer)
			timers_persistent_keepalive_changed(&peer->timers);
	}
	for (i = 0; i < txn->n_steps; i++) {
		if (txn->steps[i].kind != TXN_DETACHED)
			continue;
		/* Destroyed the one way peers go (maps included): back in
		 * the table for a moment. */
		peer_attach(dev, txn->steps[i].peer, dev->peers.last);
		device_peer_remove(dev, txn->steps[i].peer);
	}
}

/* Removes every peer of the table *peers (not dev->peers), then frees it.
 * Their prefixes are looked up in dev->allowedips, which may be another
 * table than theirs: the fast path points each prefix at its owner there,
 * so a prefix the other table also has is re-pointed, never removed. */
static void remove_peers_of(struct wg_device *dev, struct peer_table *peers)
{
	struct peer_table keep = dev->peers;

	dev->peers = *peers;
	remove_all_peers(dev);
	free(dev->peers.buckets);
	dev->peers = keep;
}

/* replace_peers, all or nothing against our own failures (ENOMEM creating
 * a peer or inserting an allowed IP) and the fast path's: the new peers are
 * built in fresh tables (peers, allowed IPs) while the old ones stay whole
 * beside them. On success the old peers go (replace_peers_commit); on
 * failure the new ones go and the old tables come back
 * (replace_peers_abort). Going back only frees memory, so it cannot fail
 * in turn, which restoring by re-creating the old peers could (the same
 * ENOMEM on the way back), and pre-allocating would need to know every
 * allocation of peer creation and of the allowed-IPs trie up front. On
 * the fast path old and new peers hold ids side by side meanwhile (a new
 * one finds none only past XWG_MAX_PEERS in all, and gets one at the next
 * re-sync); a prefix both sets have moves to its new peer in place, so
 * traffic to it never finds none. Sessions of the old peers end, as in
 * any replace_peers. */
struct replace_state {
	struct peer_table old_peers;
	struct allowedips old_allowedips;
};

static void replace_peers_abort(struct wg_device *dev, struct replace_state *rs)
{
	struct peer_table new_peers = dev->peers;
	struct allowedips new_allowedips = dev->allowedips;

	dev->allowedips = rs->old_allowedips;
	remove_peers_of(dev, &new_peers);
	allowedips_free(&new_allowedips);
	dev->peers = rs->old_peers;
}

static void replace_peers_commit(struct wg_device *dev, struct replace_state *rs)
{
	struct wg_peer *peer;

	remove_peers_of(dev, &rs->old_peers);
	allowedips_free(&rs->old_allowedips);
	/* Every peer is new: a keepalive interval is a change. */
	for (peer = dev->peers.first; peer; peer = peer->next)
		if (peer->timers.persistent_keepalive_interval)
			timers_persistent_keepalive_changed(&peer->timers);
}

static int replace_peers(struct wg_device *dev, const struct uapi_set *set,
			 struct replace_state *rs)
{
	struct peer_table new_peers = { 0 };
	size_t i;
	int ret = 0;

	rs->old_peers = dev->peers;
	rs->old_allowedips = dev->allowedips;
	new_peers.buckets = calloc(64, sizeof(*new_peers.buckets));
	if (!new_peers.buckets)
		return -ENOMEM;
	new_peers.mask = 63;
	memcpy(new_peers.hash_key, rs->old_peers.hash_key, sizeof(new_peers.hash_key));
	dev->peers = new_peers;
	allowedips_init(&dev->allowedips);
	for (i = 0; i < set->n_peers && !ret; i++)
		ret = apply_peer(dev, &set->peers[i], NULL);
	if (ret)
		replace_peers_abort(dev, rs);
	return ret;
}
static int key_cmp(const void *a, const void *b)
{
	return memcmp(*(const uint8_t *const *)a, *(const uint8_t *const *)b,
		      NOISE_PUBLIC_KEY_LEN);
}

/* How many peers the device would hold after set: refused up front so a
 * transaction is applied whole or not at all. A key may appear in several
 * sections; the exact (sorted) count is needed only near the limit. */
static size_t peers_after(struct wg_device *dev, const struct uapi_set *set)
{
	size_t base = set->replace_peers ? 0 : dev->peers.count, n = 0, i, unique;
	const uint8_t **keys;

	for (i = 0; i < set->n_peers; i++) {
		const struct uapi_peer *up = &set->peers[i];

		n += !up->remove && !up->update_only &&
		     (set->replace_peers || !device_peer_lookup(dev, up->public_key));
	}
	if (base + n <= dev->max_peers)
		return base + n;
	keys = malloc(n * sizeof(*keys));
	if (!keys)
		return SIZE_MAX;
	for (i = 0, n = 0; i < set->n_peers; i++) {
		const struct uapi_peer *up = &set->peers[i];

		if (!up->remove && !up->update_only &&
		    (set->replace_peers || !device_peer_lookup(dev, up->public_key)))
			keys[n++] = up->public_key;
	}
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (i = 0, unique = 0; i < n; i++)
		unique += !i || key_cmp(&keys[i - 1], &keys[i]);
	free(keys);
	return base + unique;
}


int device_config_set(struct wg_device *dev, const struct uapi_set *set)
{
	struct config_txn txn = { .fresh = { .fd4 = -1, .fd6 = -1 } };
	struct replace_state rs;
	bool replaced = false;
	size_t i;
	int ret, err;

	/* A get being built in pieces starts over (uapi.h). */
	dev->config_generation++;
	if (peers_after(dev, set) > dev->max_peers) {
		log_error("refusing configuration: more than %u peers", dev->max_peers);
		return -ENOSPC;
	}
	/* Map writes that failed before were not this transaction's. */
	fastpath_error_take(dev);
	ret = txn_prepare(dev, set, &txn);
	if (ret)
		goto undo;
	/* What can fail on the outside comes first. */
	if (set->has_fwmark && set->fwmark != dev->udp.fwmark) {
		txn.old_fwmark = dev->udp.fwmark;
		ret = udp_socks_set_fwmark(&dev->udp, set->fwmark);
		if (ret) {
			log_error("cannot set fwmark %u: %s", set->fwmark, strerror(-ret));
			goto undo;
		}
		txn.fwmark_changed = true;
	}
	if (set->has_listen_port && set->listen_port != dev->listen_port) {
		/* The old sockets stay until the commit. */
		ret = udp_socks_stage(&dev->udp, set->listen_port, &txn.fresh);
		if (ret) {
			log_error("cannot listen on port %u: %s", set->listen_port, strerror(-ret));
			goto undo;
		}
	}
	if (set->has_private_key) {
		ret = set_private_key(dev, set->private_key, &txn);
		if (ret)
			goto undo;
	}
	if (set->replace_peers) {
		ret = replace_peers(dev, set, &rs);
		replaced = !ret;
	}
	for (i = 0; i < set->n_peers && !set->replace_peers && !ret; i++)
		ret = apply_peer(dev, &set->peers[i], &txn);
	/* A map write the fast path could not make refuses the transaction
	 * as our own failures do. */
	err = fastpath_error_take(dev);
	ret = ret ? ret : err;
	if (ret) {
		if (replaced)
			replace_peers_abort(dev, &rs);
		goto undo;
	}
	txn_commit(dev, set, &txn);
	if (replaced)
		replace_peers_commit(dev, &rs);
	allowedips_unreserve(&dev->allowedips);
	txn_free(&txn);
	err = fastpath_error_take(dev);
	if (err)
		log_error("configuration applied; the fast path could not clear every removed "
			  "peer from its maps (%s): they are re-synced until they agree",
			  strerror(-err));
	return 0;
undo:
	txn_undo(dev, &txn);
	/* Nothing changed: nothing to report of it either. */
	notify_config_discard(dev);
	allowedips_unreserve(&dev->allowedips);
	txn_free(&txn);
	err = fastpath_error_take(dev);
	log_error("configuration refused (%s): nothing of it applied%s", strerror(-ret),
		  err ? "; the fast path's maps are re-synced to the configuration as it was" : "");
	return ret;
}

static int put_allowed_ip(void *ctx, int family, const void *addr, uint8_t cidr)
{
	uapi_buf_put_allowed_ip(ctx, family, addr, cidr);
	return 0;
}

static void put_peer(struct wg_device *dev, struct wg_peer *peer, struct uapi_buf *out)
{
	uapi_buf_put_hex(out, "public_key", peer->public_key, NOISE_PUBLIC_KEY_LEN);
	uapi_buf_put_hex(out, "preshared_key", peer->handshake.preshared_key,
			 NOISE_SYMMETRIC_KEY_LEN);
	uapi_buf_printf(out, "protocol_version=1\n");
	if (udp_endpoint_family(&peer->endpoint) != AF_UNSPEC)
		uapi_buf_put_endpoint(out, &peer->endpoint.addr.sa);
	uapi_buf_printf(out, "last_handshake_time_sec=%llu\n",
			(unsigned long long)peer->last_handshake_sec);
	uapi_buf_printf(out, "last_handshake_time_nsec=%u\n", peer->last_handshake_nsec);
	uapi_buf_printf(out, "tx_bytes=%llu\n", (unsigned long long)peer->tx_bytes);
	uapi_buf_printf(out, "rx_bytes=%llu\n", (unsigned long long)peer->rx_bytes);
	uapi_buf_printf(out, "persistent_keepalive_interval=%u\n",
			peer->timers.persistent_keepalive_interval);
	allowedips_walk_by_peer(&dev->allowedips, peer, put_allowed_ip, out);
}

/* Up to max_peers peers (or about max_bytes of text) from *pos on. */
static int get_piece(struct wg_device *dev, void **pos, struct uapi_buf *out,
		     size_t max_peers, size_t max_bytes)
{
	struct wg_peer *peer = *pos;
	size_t start = out->len, n;

	if (!peer) {
		/* About what the reply takes (a peer's lines without allowed IPs
		 * are about 330 bytes, an allowed IP line 20 to 60): one
		 * allocation, whose pages are touched a piece at a time, rather
		 * than doublings that copy megabytes in one piece. */
		uapi_buf_reserve(out, 512 + (size_t)dev->peers.count * 340 +
					   allowedips_count(&dev->allowedips) * 32);
		if (dev->static_identity.has_identity)
			uapi_buf_put_hex(out, "private_key", dev->static_identity.static_private,
					 NOISE_PRIVATE_KEY_LEN);
		if (udp_socks_port(&dev->udp))
			uapi_buf_printf(out, "listen_port=%u\n", udp_socks_port(&dev->udp));
		if (dev->udp.fwmark)
			uapi_buf_printf(out, "fwmark=%u\n", dev->udp.fwmark);
		peer = dev->peers.first;
	}
	for (n = 0; peer && n < max_peers && out->len - start < max_bytes; n++) {
		put_peer(dev, peer, out);
		peer = peer->next;
	}
	*pos = peer;
	if (out->oom)
		return -ENOMEM;
	return peer ? 1 : 0;
}

int device_config_get(struct wg_device *dev, struct uapi_buf *out)
{
	void *pos = NULL;

	return get_piece(dev, &pos, out, SIZE_MAX, SIZE_MAX);
}

int device_config_get_piece(struct wg_device *dev, void **pos, struct uapi_buf *out)
{
	return get_piece(dev, pos, out, DEVICE_GET_PIECE_PEERS, DEVICE_GET_PIECE_BYTES);
}

/* ---- rebuilding a handed-over state (ctl/snapshot.c) ---- */

struct wg_peer *device_peer_create(struct wg_device *dev,
				   const uint8_t public_key[NOISE_PUBLIC_KEY_LEN])
{
	return peer_create(dev, public_key);
}

int device_index_insert(struct wg_device *dev, uint32_t index, struct noise_handshake *hs,
			struct noise_keypair *kp, struct wg_peer *peer)
{
	struct index_table *t = &dev->indices;
	uint32_t j;

	if (index == INDEX_EMPTY || index == INDEX_DELETED || !!hs == !!kp)
		return -EINVAL;
	if (device_index_lookup(dev, index))
		return -EEXIST;
	/* The same bound as index_new, but a failure is the caller's. */
	if ((t->used + t->deleted + 1) * 2 > t->mask + 1 &&
	    index_table_resize(t, (t->used + 1) * 4 > t->mask + 1 ? (t->mask + 1) * 2
								   : t->mask + 1))
		return -ENOMEM;
	for (j = index & t->mask; t->slots[j].index != INDEX_EMPTY &&
				  t->slots[j].index != INDEX_DELETED; j = (j + 1) & t->mask)
		;
	if (t->slots[j].index == INDEX_DELETED)
		t->deleted--;
	t->slots[j] = (struct index_entry){ .index = index, .is_keypair = !!kp, .peer = peer };
	if (kp)
		t->slots[j].keypair = kp;
	else
		t->slots[j].handshake = hs;
	t->used++;
	if (kp)
		notify_index_keypair(dev, index, peer);
	return 0;
}
