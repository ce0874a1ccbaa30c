/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Keeping the fast path's maps (include/maps.h) in step with the daemon's
 * state: the daemon (ctl/device.c) calls these when a peer, an allowed IP,
 * a receiver index or a keypair changes. They take plain values, not the
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
 * Threads: the map updates (syscalls) may be called from any thread. The
 * keypair writers (fastpath_keypair_write/clear, and fastpath_peer_clear,
 * which clears keypairs) assume one writer per slot at a time: the daemon's
 * thread. The keypair readers (fastpath_keypair_read, _next_nonce,
 * _is_unchanged) are for any number of worker threads and make no syscall.
 */
#ifndef XWG_MAPS_SYNC_H
#define XWG_MAPS_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maps.h"

struct fastpath;

/* fastpath_keypair_read gives up after this many attempts that found the
 * slot odd (being written) or changed under it. A slot is rewritten a few
 * times per session (minutes apart), so a worker that gives up has hit a
 * writer in a tight loop: it drops the packet like a missing keypair. */
#define FASTPATH_KEYPAIR_READ_TRIES 1024

/* ---- peers ---- */

/* peers[peer_id] = { *ep (NULL: no endpoint), flags | XWG_PEER_ACTIVE,
 * public_key (NULL: keep the one there) }, keeping last_event_ns, which
 * tc_tx owns. The read-modify-write is not
 * atomic against tc_tx: an event time tc_tx writes in between is lost,
 * which costs at most one extra "handshake needed" event. */
int fastpath_peer_set(struct fastpath *fp, uint32_t peer_id,
		      const uint8_t public_key[32],
		      const struct xwg_endpoint *ep, uint32_t flags);
/* A removed peer: its peers slot, its XWG_KEYPAIR_SLOTS keypairs (keys
 * wiped) and its peer_stats on every CPU, all zero, so that a new peer
 * given the same id starts clean. Its allowed IPs and receiver indices are
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

/* ---- keypairs (the mmapped array, no syscalls) ----
 * Slot peer_id * XWG_KEYPAIR_SLOTS + slot of fp->keypairs, written under
 * the seqlock of include/maps.h: seq odd while writing, even after. Every
 * field but seq is copied from *kp (seq is the lock's), sending_counter
 * included (0 for a new keypair). Out-of-range ids and slots are ignored
 * (the daemon's ids come from its own tables). */
void fastpath_keypair_write(struct fastpath *fp, uint32_t peer_id,
			    enum xwg_keypair_slot slot, const struct xwg_keypair *kp);
/* The slot zeroed under the seqlock: keys wiped, flags 0 (not VALID). */
void fastpath_keypair_clear(struct fastpath *fp, uint32_t peer_id,
			    enum xwg_keypair_slot slot);
/* A consistent copy of the slot, seq included (for _is_unchanged); false if
 * it is not XWG_KEYPAIR_VALID (the copy is then wiped) or it was being
 * written on every one of FASTPATH_KEYPAIR_READ_TRIES attempts.
 * copy->sending_counter is a snapshot: nonces come from _next_nonce. */
bool fastpath_keypair_read(const struct fastpath *fp, uint32_t peer_id,
			   enum xwg_keypair_slot slot, struct xwg_keypair *copy);
/* The next nonce of the slot: an atomic fetch-and-add on sending_counter
 * in the map, unique across threads. The caller compares it with
 * REJECT_AFTER_MESSAGES. */
uint64_t fastpath_keypair_next_nonce(struct fastpath *fp, uint32_t peer_id,
				     enum xwg_keypair_slot slot);
/* True if the slot still holds the keypair *copy was read as. A worker
 * asks after taking a nonce: if the daemon rewrote the slot meanwhile
 * (session rotation moves keypairs between slots), the nonce came from
 * the new keypair's counter and must not be used with the old key (it
 * could repeat one already sent under it). */
bool fastpath_keypair_is_unchanged(const struct fastpath *fp, uint32_t peer_id,
				   enum xwg_keypair_slot slot,
				   const struct xwg_keypair *copy);

/* ---- counters (per-CPU arrays), summed over CPUs ---- */
int fastpath_peer_stats_read(struct fastpath *fp, uint32_t peer_id,
			     struct xwg_peer_stats *sum);
int fastpath_drops_read(struct fastpath *fp, uint64_t counts[XWG_DROP_REASONS]);
/* A drop reason's name, qualified by the program that counts it
 * ("xdp_rx_malformed", "tc_tx_no_peer"); NULL for XWG_DROP_NONE and
 * numbers past the enum. For logs and metrics labels. */
const char *fastpath_drop_reason_name(unsigned int reason);

#endif
