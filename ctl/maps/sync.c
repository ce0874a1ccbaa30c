// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's writes into the fast path's maps (see sync.h): map updates
 * through libbpf for peers, allowed IPs, indices and counters; the keypairs
 * written and read in the mmapped array under a seqlock, without syscalls.
 *
 * The seqlock is the one of Boehm, "Can seqlocks get along with programming
 * language memory models?" (MSPC 2012), in C11 atomics: every field is
 * accessed through a relaxed atomic of its natural width (so a reader
 * racing a writer reads stale or new words, never undefined behaviour),
 * the writer's release fence after making seq odd pairs with the reader's
 * acquire fence before it reads seq again.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ctl/handshake/crypto.h"
#include "ctl/maps/loader.h"
#include "ctl/maps/sync.h"

/* The kernel's own "operation not supported" (include/linux/errno.h), which
 * bpf(BPF_MAP_UPDATE_BATCH) returns for map types without batch ops. */
#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

#define PREFIX_BYTES_V4 4
#define PREFIX_BYTES_V6 16

/* The keypair as the seqlock sees it: seq and flags, then 8-byte words. */
#define KEYPAIR_WORDS ((sizeof(struct xwg_keypair) - 8) / 8)

typedef volatile _Atomic uint32_t atomic_u32;
typedef volatile _Atomic uint64_t atomic_u64;

_Static_assert(sizeof(struct xwg_keypair) % 8 == 0, "keypair is whole words");
_Static_assert(offsetof(struct xwg_keypair, flags) == 4, "seq and flags first");
_Static_assert(offsetof(struct xwg_keypair, birthdate_ns) == 8, "then words");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && _Alignof(_Atomic uint64_t) == 8,
	       "plain u64 in the map can be accessed as atomic");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "plain u32 as atomic");
_Static_assert(sizeof(struct xwg_peer_stats) % sizeof(uint64_t) == 0,
	       "peer stats are u64 counters only");

static bool peer_id_is_valid(uint32_t peer_id)
{
	return peer_id >= 1 && peer_id < XWG_MAX_PEERS;
}

static bool slot_is_valid(enum xwg_keypair_slot slot)
{
	return (unsigned int)slot < XWG_KEYPAIR_SLOTS;
}

/* -errno of a failed libbpf call; a full map is ENOSPC whatever its type
 * (hash maps say E2BIG, LPM tries ENOSPC). */
static int map_error(void)
{
	int err = errno ? errno : EIO;

	return err == E2BIG ? -ENOSPC : -err;
}

static int map_fd(const struct fastpath *fp, enum fastpath_map map)
{
	return fp ? fastpath_map_fd(fp, map) : -EBADF;
}

/* Per-CPU map values come and go as one value per possible CPU, each
 * rounded up to 8 bytes. */
static void *percpu_alloc(size_t value_size, int *ncpus)
{
	*ncpus = libbpf_num_possible_cpus();
	if (*ncpus <= 0)
		return NULL;
	return calloc((size_t)*ncpus, (value_size + 7) & ~(size_t)7);
}

/* ---- peers ---------------------------------------------------------- */

int fastpath_peer_set(struct fastpath *fp, uint32_t peer_id,
		      const uint8_t public_key[32],
		      const struct xwg_endpoint *ep, uint32_t flags)
{
	int fd = map_fd(fp, FASTPATH_MAP_PEERS);
	struct xwg_peer peer;

	if (fd < 0)
		return fd;
	if (!peer_id_is_valid(peer_id) ||
	    (flags & ~(uint32_t)(XWG_PEER_ACTIVE | XWG_PEER_CAN_SEND)))
		return -EINVAL;
	if (ep && ep->family != 0 && ep->family != AF_INET && ep->family != AF_INET6)
		return -EAFNOSUPPORT;
	/* last_event_ns is tc_tx's: keep it (see sync.h for the race). */
	if (bpf_map_lookup_elem(fd, &peer_id, &peer))
		return map_error();
	if (ep)
		peer.endpoint = *ep;
	else
		memset(&peer.endpoint, 0, sizeof(peer.endpoint));
	peer.flags = flags | XWG_PEER_ACTIVE;
	peer.pad = 0;
	if (public_key)
		memcpy(peer.public_key, public_key, sizeof(peer.public_key));
	if (bpf_map_update_elem(fd, &peer_id, &peer, BPF_ANY))
		return map_error();
	return 0;
}

int fastpath_peer_clear(struct fastpath *fp, uint32_t peer_id)
{
	int peers_fd = map_fd(fp, FASTPATH_MAP_PEERS);
	int stats_fd = map_fd(fp, FASTPATH_MAP_PEER_STATS);
	struct xwg_peer peer;
	void *zeroes;
	unsigned int s;
	int ncpus, ret = 0;

	if (peers_fd < 0)
		return peers_fd;
	if (stats_fd < 0)
		return stats_fd;
	if (!peer_id_is_valid(peer_id))
		return -EINVAL;
	/* Not ACTIVE first, so that tc_tx and the workers stop using the
	 * keypairs before they are wiped. */
	memset(&peer, 0, sizeof(peer));
	if (bpf_map_update_elem(peers_fd, &peer_id, &peer, BPF_ANY))
		return map_error();
	for (s = 0; s < XWG_KEYPAIR_SLOTS; s++)
		fastpath_keypair_clear(fp, peer_id, (enum xwg_keypair_slot)s);
	zeroes = percpu_alloc(sizeof(struct xwg_peer_stats), &ncpus);
	if (!zeroes)
		return -ENOMEM;
	if (bpf_map_update_elem(stats_fd, &peer_id, zeroes, BPF_ANY))
		ret = map_error();
	free(zeroes);
	return ret;
}

/* ---- allowed IPs ---------------------------------------------------- */

union lpm_key {
	struct xwg_lpm_v4_key v4;
	struct xwg_lpm_v6_key v6;
};

/* Clears the bits of addr past the first cidr. */
static void prefix_mask(uint8_t *addr, size_t bytes, uint8_t cidr)
{
	size_t i;

	for (i = 0; i < bytes; i++) {
		unsigned int bit = (unsigned int)i * 8;
		unsigned int keep = bit >= cidr ? 0 : cidr - bit >= 8 ? 8 : cidr - bit;

		addr[i] &= (uint8_t)(0xff00U >> keep);
	}
}

/* The trie of family and its key for addr/cidr, host bits masked. */
static int lpm_key_make(const struct fastpath *fp, int family, const void *addr,
			uint8_t cidr, union lpm_key *key, size_t *key_size, int *fd)
{
	memset(key, 0, sizeof(*key));
	switch (family) {
	case AF_INET:
		if (cidr > 32)
			return -EINVAL;
		key->v4.prefixlen = cidr;
		memcpy(key->v4.addr, addr, PREFIX_BYTES_V4);
		prefix_mask(key->v4.addr, PREFIX_BYTES_V4, cidr);
		*key_size = sizeof(key->v4);
		*fd = map_fd(fp, FASTPATH_MAP_ALLOWED_IPS_V4);
		break;
	case AF_INET6:
		if (cidr > 128)
			return -EINVAL;
		key->v6.prefixlen = cidr;
		memcpy(key->v6.addr, addr, PREFIX_BYTES_V6);
		prefix_mask(key->v6.addr, PREFIX_BYTES_V6, cidr);
		*key_size = sizeof(key->v6);
		*fd = map_fd(fp, FASTPATH_MAP_ALLOWED_IPS_V6);
		break;
	default:
		return -EAFNOSUPPORT;
	}
	return *fd < 0 ? *fd : 0;
}

int fastpath_allowedip_add(struct fastpath *fp, int family, const void *addr,
			   uint8_t cidr, uint32_t peer_id)
{
	struct xwg_peer_ref ref = { .peer_id = peer_id };
	union lpm_key key;
	size_t key_size;
	int fd, ret;

	if (!peer_id_is_valid(peer_id))
		return -EINVAL;
	ret = lpm_key_make(fp, family, addr, cidr, &key, &key_size, &fd);
	if (ret)
		return ret;
	if (bpf_map_update_elem(fd, &key, &ref, BPF_ANY))
		return map_error();
	return 0;
}

int fastpath_allowedip_remove(struct fastpath *fp, int family, const void *addr,
			      uint8_t cidr)
{
	union lpm_key key;
	size_t key_size;
	int fd, ret;

	ret = lpm_key_make(fp, family, addr, cidr, &key, &key_size, &fd);
	if (ret)
		return ret;
	if (bpf_map_delete_elem(fd, &key))
		return map_error();
	return 0;
}

/* One chunk through BPF_MAP_UPDATE_BATCH; *unsupported if the kernel has
 * no batch update for this map type (nothing was written then). */
static int chunk_update_batch(int fd, const void *keys, const void *values,
			      uint32_t n, bool *unsupported)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
	uint32_t count = n;

	if (!bpf_map_update_batch(fd, keys, values, &count, &opts))
		return 0;
	if (count == 0 && (errno == ENOTSUPP || errno == EOPNOTSUPP || errno == EINVAL)) {
		*unsupported = true;
		return 0;
	}
	return map_error();
}

static int chunk_update_each(int fd, const uint8_t *keys, size_t key_size,
			     const struct xwg_peer_ref *values, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, keys + i * key_size, &values[i], BPF_ANY))
			return map_error();
	return 0;
}

int fastpath_allowedips_add_batch(struct fastpath *fp, int family,
				  const uint8_t (*addrs)[16], const uint8_t *cidrs,
				  uint32_t peer_id, size_t n)
{
	struct xwg_peer_ref *values = NULL;
	uint8_t *keys = NULL;
	bool unsupported = false;
	union lpm_key key;
	size_t key_size = 0, done, i;
	int fd = -EBADF, ret = 0;

	if (!peer_id_is_valid(peer_id))
		return -EINVAL;
	/* Check everything before writing anything. */
	for (i = 0; i < n; i++) {
		ret = lpm_key_make(fp, family, addrs[i], cidrs[i], &key, &key_size, &fd);
		if (ret)
			return ret;
	}
	if (!n)
		return 0;
	keys = malloc(FASTPATH_BATCH_CHUNK * key_size);
	values = malloc(FASTPATH_BATCH_CHUNK * sizeof(*values));
	if (!keys || !values) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < FASTPATH_BATCH_CHUNK; i++)
		values[i].peer_id = peer_id;
	for (done = 0; done < n && !ret; done += FASTPATH_BATCH_CHUNK) {
		uint32_t chunk = (uint32_t)(n - done < FASTPATH_BATCH_CHUNK ?
					    n - done : FASTPATH_BATCH_CHUNK);

		for (i = 0; i < chunk; i++) {
			lpm_key_make(fp, family, addrs[done + i], cidrs[done + i], &key,
				     &key_size, &fd);
			memcpy(keys + i * key_size, &key, key_size);
		}
		if (!unsupported)
			ret = chunk_update_batch(fd, keys, values, chunk, &unsupported);
		if (unsupported)
			ret = chunk_update_each(fd, keys, key_size, values, chunk);
	}
out:
	free(keys);
	free(values);
	return ret;
}

/* ---- receiver indices ----------------------------------------------- */

int fastpath_index_set(struct fastpath *fp, uint32_t index, uint32_t peer_id,
		       enum xwg_keypair_slot slot)
{
	struct xwg_index_value value = { .peer_id = peer_id, .slot = (uint32_t)slot };
	int fd = map_fd(fp, FASTPATH_MAP_INDICES);

	if (fd < 0)
		return fd;
	if (!peer_id_is_valid(peer_id) || !slot_is_valid(slot))
		return -EINVAL;
	if (bpf_map_update_elem(fd, &index, &value, BPF_ANY))
		return map_error();
	return 0;
}

int fastpath_index_remove(struct fastpath *fp, uint32_t index)
{
	int fd = map_fd(fp, FASTPATH_MAP_INDICES);

	if (fd < 0)
		return fd;
	if (bpf_map_delete_elem(fd, &index))
		return map_error();
	return 0;
}

/* ---- keypairs ------------------------------------------------------- */

static struct xwg_keypair *keypair_slot(const struct fastpath *fp, uint32_t peer_id,
					enum xwg_keypair_slot slot)
{
	size_t i;

	if (!fp || !fp->keypairs || !peer_id_is_valid(peer_id) || !slot_is_valid(slot))
		return NULL;
	i = (size_t)peer_id * XWG_KEYPAIR_SLOTS + (size_t)slot;
	if ((i + 1) * sizeof(struct xwg_keypair) > fp->keypairs_size)
		return NULL;
	return &fp->keypairs[i];
}

static atomic_u32 *seq_of(struct xwg_keypair *kp)
{
	return (atomic_u32 *)&kp->seq;
}

static atomic_u32 *flags_of(struct xwg_keypair *kp)
{
	return (atomic_u32 *)&kp->flags;
}

static atomic_u64 *word_of(struct xwg_keypair *kp, size_t i)
{
	return (atomic_u64 *)((uint8_t *)kp + 8 + i * 8);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

/* Writes src into the slot (src NULL: zeroes). Volatile atomic stores:
 * the compiler can neither drop nor merge them, so clearing wipes. */
static void keypair_store(struct xwg_keypair *kp, const struct xwg_keypair *src)
{
	uint32_t odd = atomic_load_explicit(seq_of(kp), memory_order_relaxed) | 1;
	size_t i;

	atomic_store_explicit(seq_of(kp), odd, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(flags_of(kp), src ? src->flags : 0, memory_order_relaxed);
	for (i = 0; i < KEYPAIR_WORDS; i++) {
		uint64_t w = 0;

		if (src)
			memcpy(&w, (const uint8_t *)src + 8 + i * 8, sizeof(w));
		atomic_store_explicit(word_of(kp, i), w, memory_order_relaxed);
	}
	atomic_store_explicit(seq_of(kp), odd + 1, memory_order_release);
}

void fastpath_keypair_write(struct fastpath *fp, uint32_t peer_id,
			    enum xwg_keypair_slot slot, const struct xwg_keypair *kp)
{
	struct xwg_keypair *dst = keypair_slot(fp, peer_id, slot);

	if (dst && kp)
		keypair_store(dst, kp);
}

void fastpath_keypair_clear(struct fastpath *fp, uint32_t peer_id,
			    enum xwg_keypair_slot slot)
{
	struct xwg_keypair *dst = keypair_slot(fp, peer_id, slot);

	if (dst)
		keypair_store(dst, NULL);
}

bool fastpath_keypair_read(const struct fastpath *fp, uint32_t peer_id,
			   enum xwg_keypair_slot slot, struct xwg_keypair *copy)
{
	struct xwg_keypair *kp = keypair_slot(fp, peer_id, slot);
	unsigned int tries;
	size_t i;

	if (!kp)
		goto invalid;
	for (tries = 0; tries < FASTPATH_KEYPAIR_READ_TRIES; tries++) {
		uint32_t seq = atomic_load_explicit(seq_of(kp), memory_order_acquire);

		if (seq & 1) {
			cpu_relax();
			continue;
		}
		copy->seq = seq;
		copy->flags = atomic_load_explicit(flags_of(kp), memory_order_relaxed);
		for (i = 0; i < KEYPAIR_WORDS; i++) {
			uint64_t w = atomic_load_explicit(word_of(kp, i), memory_order_relaxed);

			memcpy((uint8_t *)copy + 8 + i * 8, &w, sizeof(w));
		}
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(seq_of(kp), memory_order_relaxed) != seq) {
			cpu_relax();
			continue;
		}
		if (copy->flags & XWG_KEYPAIR_VALID)
			return true;
		break;
	}
invalid:
	/* A torn or invalid copy may hold parts of keys. */
	crypto_wipe(copy, sizeof(*copy));
	return false;
}

uint64_t fastpath_keypair_next_nonce(struct fastpath *fp, uint32_t peer_id,
				     enum xwg_keypair_slot slot)
{
	struct xwg_keypair *kp = keypair_slot(fp, peer_id, slot);

	/* Past REJECT_AFTER_MESSAGES: the caller sends nothing. */
	if (!kp)
		return UINT64_MAX;
	/* Acquire: a counter the writer reset is seen together with the odd
	 * seq before it, for fastpath_keypair_is_unchanged. */
	return atomic_fetch_add_explicit((atomic_u64 *)&kp->sending_counter, 1,
					 memory_order_acquire);
}

bool fastpath_keypair_is_unchanged(const struct fastpath *fp, uint32_t peer_id,
				   enum xwg_keypair_slot slot,
				   const struct xwg_keypair *copy)
{
	struct xwg_keypair *kp = keypair_slot(fp, peer_id, slot);

	return kp && atomic_load_explicit(seq_of(kp), memory_order_acquire) == copy->seq;
}

/* ---- counters ------------------------------------------------------- */

int fastpath_peer_stats_read(struct fastpath *fp, uint32_t peer_id,
			     struct xwg_peer_stats *sum)
{
	enum { FIELDS = sizeof(struct xwg_peer_stats) / sizeof(uint64_t) };
	int fd = map_fd(fp, FASTPATH_MAP_PEER_STATS), ncpus, c, f, ret = 0;
	uint64_t total[FIELDS] = { 0 };
	struct xwg_peer_stats *values;

	if (fd < 0)
		return fd;
	if (!peer_id_is_valid(peer_id))
		return -EINVAL;
	values = percpu_alloc(sizeof(*values), &ncpus);
	if (!values)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &peer_id, values)) {
		ret = map_error();
		goto out;
	}
	for (c = 0; c < ncpus; c++) {
		uint64_t v[FIELDS];

		memcpy(v, &values[c], sizeof(v));
		for (f = 0; f < FIELDS; f++)
			total[f] += v[f];
	}
	memcpy(sum, total, sizeof(*sum));
out:
	free(values);
	return ret;
}

int fastpath_drops_read(struct fastpath *fp, uint64_t counts[XWG_DROP_REASONS])
{
	int fd = map_fd(fp, FASTPATH_MAP_DROPS), ncpus, c, ret = 0;
	struct xwg_counter *values;
	uint32_t r;

	if (fd < 0)
		return fd;
	values = percpu_alloc(sizeof(*values), &ncpus);
	if (!values)
		return -ENOMEM;
	for (r = 0; r < XWG_DROP_REASONS; r++) {
		if (bpf_map_lookup_elem(fd, &r, values)) {
			ret = map_error();
			break;
		}
		counts[r] = 0;
		for (c = 0; c < ncpus; c++)
			counts[r] += values[c].packets;
	}
	free(values);
	return ret;
}

static const char *const drop_reason_names[XWG_DROP_REASONS] = {
	[XWG_DROP_RX_MALFORMED] = "xdp_rx_malformed",
	[XWG_DROP_RX_BAD_LENGTH] = "xdp_rx_bad_length",
	[XWG_DROP_RX_UNKNOWN_INDEX] = "xdp_rx_unknown_index",
	[XWG_DROP_RX_NO_SOCKET] = "xdp_rx_no_socket",
	[XWG_DROP_RX_DECRYPT] = "xdp_rx_decrypt",
	[XWG_DROP_RX_REPLAY] = "xdp_rx_replay",
	[XWG_DROP_RX_BAD_INNER] = "xdp_rx_bad_inner",
	[XWG_DROP_RX_SOURCE_NOT_ALLOWED] = "xdp_rx_source_not_allowed",
	[XWG_PASS_RX_TOO_BIG_FOR_XSK] = "xdp_rx_passed_too_big_for_xsk",
	[XWG_DROP_TX_NO_PEER] = "tc_tx_no_peer",
	[XWG_DROP_TX_MALFORMED] = "tc_tx_malformed",
	[XWG_DROP_TX_NO_KEYPAIR] = "tc_tx_no_keypair",
	[XWG_DROP_TX_NO_ENDPOINT] = "tc_tx_no_endpoint",
	[XWG_DROP_TX_SEND_FAILED] = "tc_tx_send_failed",
	[XWG_DROP_TX_NO_SOCKET] = "xdp_twin_no_socket",
};

const char *fastpath_drop_reason_name(unsigned int reason)
{
	return reason < XWG_DROP_REASONS ? drop_reason_names[reason] : NULL;
}
