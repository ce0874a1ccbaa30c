// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's writes into the fast path's maps (see sync.h): map updates
 * through libbpf for peers, allowed IPs and indices; peer_stats through the
 * loader's mmap of it, without syscalls.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "base/log.h"
#include "ctl/maps/loader.h"
#include "ctl/maps/sync.h"

/* The kernel's own "operation not supported" (include/linux/errno.h), which
 * bpf(BPF_MAP_UPDATE_BATCH) returns for map types without batch ops. */
#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

#define PREFIX_BYTES_V4 4
#define PREFIX_BYTES_V6 16

typedef volatile _Atomic uint64_t atomic_u64;

_Static_assert(sizeof(_Atomic uint64_t) == 8 && _Alignof(_Atomic uint64_t) == 8,
	       "plain u64 in the map can be accessed as atomic");
_Static_assert(sizeof(struct xwg_peer_stats) % sizeof(uint64_t) == 0,
	       "peer stats are u64 counters only");

/* The test seam (sync.h): writes counted, the one to fail (0: none). */
static uint64_t writes_counted, write_to_fail;
static const char *fault_kind;

void fastpath_map_write_fault_set(uint64_t n)
{
	write_to_fail = n ? writes_counted + n : 0;
}

uint64_t fastpath_map_writes(void)
{
	return writes_counted;
}

const char *fastpath_map_write_fault_kind(void)
{
	return fault_kind;
}

/* Called right before each map write: -ENOMEM if the seam says this one
 * fails. */
int fastpath_map_write_fault(const char *kind)
{
	if (++writes_counted != write_to_fail)
		return 0;
	fault_kind = kind;
	log_info("test seam: map write %llu (%s) fails with ENOMEM",
		 (unsigned long long)writes_counted, kind);
	return -ENOMEM;
}

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
	int fd = map_fd(fp, FASTPATH_MAP_PEERS), ret;
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
	ret = fastpath_map_write_fault("peers set");
	if (ret)
		return ret;
	if (bpf_map_update_elem(fd, &peer_id, &peer, BPF_ANY))
		return map_error();
	return 0;
}

int fastpath_peer_clear(struct fastpath *fp, uint32_t peer_id)
{
	int peers_fd = map_fd(fp, FASTPATH_MAP_PEERS), ret;
	struct xwg_peer peer;

	if (peers_fd < 0)
		return peers_fd;
	if (!peer_id_is_valid(peer_id))
		return -EINVAL;
	memset(&peer, 0, sizeof(peer));
	ret = fastpath_map_write_fault("peers clear");
	if (ret)
		return ret;
	if (bpf_map_update_elem(peers_fd, &peer_id, &peer, BPF_ANY))
		return map_error();
	fastpath_peer_stats_write(fp, peer_id, &(struct xwg_peer_stats){ 0 });
	return 0;
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
	if (!ret)
		ret = fastpath_map_write_fault("allowed_ips add");
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
	if (!ret)
		ret = fastpath_map_write_fault("allowed_ips remove");
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
	ret = fastpath_map_write_fault("allowed_ips batch");
	if (ret)
		return ret;
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
	int fd = map_fd(fp, FASTPATH_MAP_INDICES), ret;

	if (fd < 0)
		return fd;
	if (!peer_id_is_valid(peer_id) || !slot_is_valid(slot))
		return -EINVAL;
	ret = fastpath_map_write_fault("indices set");
	if (ret)
		return ret;
	if (bpf_map_update_elem(fd, &index, &value, BPF_ANY))
		return map_error();
	return 0;
}

int fastpath_index_remove(struct fastpath *fp, uint32_t index)
{
	int fd = map_fd(fp, FASTPATH_MAP_INDICES), ret;

	if (fd < 0)
		return fd;
	ret = fastpath_map_write_fault("indices remove");
	if (ret)
		return ret;
	if (bpf_map_delete_elem(fd, &index))
		return map_error();
	return 0;
}

/* ---- counters ------------------------------------------------------- */

void fastpath_peer_stats_write(struct fastpath *fp, uint32_t peer_id,
			       const struct xwg_peer_stats *stats)
{
	enum { FIELDS = sizeof(struct xwg_peer_stats) / sizeof(uint64_t) };
	uint64_t v[FIELDS];
	atomic_u64 *dst;
	int f;

	if (!fp || !fp->peer_stats || peer_id >= XWG_MAX_PEERS ||
	    (peer_id + 1) * sizeof(*stats) > fp->peer_stats_size)
		return;
	memcpy(v, stats, sizeof(v));
	dst = (atomic_u64 *)&fp->peer_stats[peer_id];
	for (f = 0; f < FIELDS; f++)
		atomic_store_explicit(&dst[f], v[f], memory_order_relaxed);
}

int fastpath_peer_stats_read(struct fastpath *fp, uint32_t peer_id,
			     struct xwg_peer_stats *stats)
{
	int fd = map_fd(fp, FASTPATH_MAP_PEER_STATS);

	if (fd < 0)
		return fd;
	if (!peer_id_is_valid(peer_id))
		return -EINVAL;
	if (bpf_map_lookup_elem(fd, &peer_id, stats))
		return map_error();
	return 0;
}

int fastpath_xsk_stats_write(struct fastpath *fp, uint32_t slot,
			     const struct xwg_xsk_stats *stats)
{
	int fd = map_fd(fp, FASTPATH_MAP_XSK_STATS);

	if (fd < 0)
		return fd;
	if (slot >= XWG_MAX_XSKS)
		return -EINVAL;
	/* Not through the fault seam: a statistic, not a mirror of the
	 * configuration (nothing re-syncs it but the next second). */
	if (bpf_map_update_elem(fd, &slot, stats, BPF_ANY))
		return map_error();
	return 0;
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
