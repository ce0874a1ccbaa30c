/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Keeping the fast path's maps (include/maps.h) in step with the daemon's
 * state: the daemon (ctl/device.c) calls these when a peer, an allowed IP,
 * or a receiver index changes. They take plain values, not the
 * daemon's structs, so they can be tested on their own against a loaded
 * fast path (tests/tools/sync_probe.c, selftests/fastpath_sync.sh).
 *
 * Errors are -errno:
 *   -EINVAL        a peer id outside 1 .. XWG_MAX_PEERS-1, a slot outside
 *                  enum xwg_keypair_slot, a cidr longer than the family's
 *                  address, unknown peer flags
 *   -EAFNOSUPPORT  a family other than AF_INET / AF_INET6 (endpoints: or 0)
 *   -ENOSPC        the map is full (the kernel says E2BIG for hash maps and
 *                  ENOSPC for LPM tries; both become ENOSPC): the daemon
 *                  reports the capacity limit (XWG_MAX_ALLOWED_IPS per
 *                  family, XWG_MAX_INDICES)
 *   -ENOMEM        the kernel could not allocate the entry (memory, memcg)
 *   -ENOENT        removing what is not there
 *   -EBADF         the fast path is not loaded
 *
 * Threads: the map updates (syscalls) may be called from any thread;
 * peer_stats is written through the loader's mmap by one thread (the
 * daemon's).
 *
 * Every write that can fail (peers, allowed IPs, indices) goes through one
 * counter, the test seam fastpath_map_write_fault_set: the Nth write from
 * the call on fails with -ENOMEM and writes nothing, as a kernel out of
 * memory would.
 */
#ifndef XWG_MAPS_SYNC_H
#define XWG_MAPS_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maps.h"

struct fastpath;

/* ---- peers ---- */

/* peers[peer_id] = { *ep (NULL: no endpoint), flags | XWG_PEER_ACTIVE,
 * public_key (NULL: keep the one there) }, keeping last_event_ns, which
 * tc_tx owns. The read-modify-write is not
 * atomic against tc_tx: an event time tc_tx writes in between is lost,
 * which costs at most one extra "handshake needed" event. */
int fastpath_peer_set(struct fastpath *fp, uint32_t peer_id,
		      const uint8_t public_key[32],
		      const struct xwg_endpoint *ep, uint32_t flags);
/* A removed peer: its peers slot and its peer_stats, all zero, so that a
 * new peer given the same id starts clean. Its allowed IPs and receiver indices are
 * the caller's to remove first (it knows them), so that no packet is
 * steered to the id while it is cleared. */
int fastpath_peer_clear(struct fastpath *fp, uint32_t peer_id);

/* ---- allowed IPs (LPM tries) ----
 * addr: a struct in_addr (4 bytes) for AF_INET, a struct in6_addr (16) for
 * AF_INET6. Host bits beyond cidr are masked before the trie sees them (the
 * kernel's LPM trie stores keys as given), so 10.0.0.7/24 is 10.0.0.0/24,
 * like in wg(8). Adding a prefix that exists moves it to peer_id. */
int fastpath_allowedip_add(struct fastpath *fp, int family, const void *addr,
			   uint8_t cidr, uint32_t peer_id);
int fastpath_allowedip_remove(struct fastpath *fp, int family, const void *addr,
			      uint8_t cidr);
/* n prefixes at once, all to peer_id: addrs[i] is 16 bytes (IPv4 in the
 * first 4), cidrs[i] its length. Every entry is checked before any is
 * written (-EINVAL: none written). One bpf_map_update_batch per
 * FASTPATH_BATCH_CHUNK entries (LPM tries have it since Linux 5.6); a
 * kernel without it (ENOTSUPP, EINVAL) gets one update per entry. 200,000
 * /32s take about 0.2 s batched, 0.4 s one by one (selftests/
 * fastpath_sync.sh prints both). On a failure part way (-ENOSPC, -ENOMEM)
 * the entries before it stay written. */
#define FASTPATH_BATCH_CHUNK 8192U
int fastpath_allowedips_add_batch(struct fastpath *fp, int family,
				  const uint8_t (*addrs)[16], const uint8_t *cidrs,
				  uint32_t peer_id, size_t n);

/* ---- receiver indices (hash) ----
 * index as the daemon generated it (host order: the wire's le32). */
int fastpath_index_set(struct fastpath *fp, uint32_t index, uint32_t peer_id,
		       enum xwg_keypair_slot slot);
int fastpath_index_remove(struct fastpath *fp, uint32_t index);

/* ---- counters ---- */
/* peer_stats[peer_id] (0: the device's) through the mmap: no syscall, and
 * nothing to fail; each counter is one aligned 64-bit store, so a reader
 * sees each one old or new (never torn), not all of them from one instant.
 * Ids past XWG_MAX_PEERS are ignored. */
void fastpath_peer_stats_write(struct fastpath *fp, uint32_t peer_id,
			       const struct xwg_peer_stats *stats);
/* Through bpf_map_lookup_elem, as operators read it. */
int fastpath_peer_stats_read(struct fastpath *fp, uint32_t peer_id,
			     struct xwg_peer_stats *stats);
/* xsk_stats[slot] (include/maps.h), a syscall: once a second per AF_XDP
 * socket. -EINVAL for a slot past XWG_MAX_XSKS. */
int fastpath_xsk_stats_write(struct fastpath *fp, uint32_t slot,
			     const struct xwg_xsk_stats *stats);
/* drops is per CPU (every program counts on its own CPU): summed. */
int fastpath_drops_read(struct fastpath *fp, uint64_t counts[XWG_DROP_REASONS]);
/* A drop reason's name, qualified by the program that counts it
 * ("xdp_rx_malformed", "tc_tx_no_peer"); NULL for XWG_DROP_NONE and
 * numbers past the enum. For logs and metrics labels. */
const char *fastpath_drop_reason_name(unsigned int reason);

/* ---- the test seam ----
 * n > 0: the nth map write from now (counted by every function above that
 * updates or deletes an entry of peers, allowed_ips_v4/v6 or indices, and
 * by the loader's rewrites of the config map after loading; a batch is one
 * write) fails with -ENOMEM without writing; 0: none. The
 * daemon sets it from XWG_TEST_FAIL_MAP_WRITE (ctl/fastpath.h). */
void fastpath_map_write_fault_set(uint64_t n);
/* Counts one write of kind (also the loader's rewrites of the config map,
 * "config"): -ENOMEM when it is the one to fail, else 0. */
int fastpath_map_write_fault(const char *kind);
/* Writes counted so far, and the kind of the last one that was made to fail
 * ("peers", "allowed_ips add", ...; NULL if none has been). */
uint64_t fastpath_map_writes(void);
const char *fastpath_map_write_fault_kind(void);

#endif
