/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Cryptokey routing (whitepaper section 2): the allowed-IPs table maps IPv4
 * and IPv6 prefixes to the peer that owns them. Longest-prefix match picks
 * the peer a packet is sent to and checks the inner source address of what a
 * peer sends us.
 *
 * One path-compressed binary trie per family; insert, remove and lookup cost
 * O(address bits). Each prefix belongs to exactly one peer, and each peer's
 * prefixes are also on a per-peer list (in insertion order) so listing or
 * dropping one peer's prefixes costs O(that peer's prefixes). Peers are
 * opaque: the table keys on the pointer and never dereferences it.
 *
 * Single-threaded: the control thread owns the table; the data path reads
 * the BPF LPM tries that ctl/maps fills from it.
 */
#ifndef XWG_ALLOWEDIPS_H
#define XWG_ALLOWEDIPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct wg_peer;
struct allowedips_peer_slot;

/* Nodes live in fixed-size blocks and refer to each other by 32-bit index:
 * small links, stable addresses, no per-node malloc overhead. Internal. */
struct allowedips_pool {
	void **blocks;
	uint32_t nblocks, blocks_cap;
	uint32_t top;   /* highest index handed out; 0 is never used */
	uint32_t free;  /* head of the free list, 0 = empty */
	uint32_t used;  /* nodes in use */
};

/* Embeddable; all-zero is a valid empty table. Fields are internal. */
struct allowedips {
	uint32_t root4, root6;
	struct allowedips_pool nodes;     /* prefixes (48 bytes each) */
	struct allowedips_pool branches;  /* pure branch points (16 bytes) */
	struct allowedips_peer_slot *peers;  /* open-addressed peer -> list */
	uint32_t peers_cap, peers_used;
	size_t count;
	bool hold;  /* allowedips_reserve: keep memory, do not trim */
};

void allowedips_init(struct allowedips *t);
/* Frees every node; the table is empty (and reusable) afterwards. */
void allowedips_free(struct allowedips *t);

/* family is AF_INET or AF_INET6; addr is 4 or 16 bytes in network order;
 * host bits past cidr are ignored. Re-inserting an existing prefix moves it
 * to peer and to the end of peer's list (as the kernel does). All or
 * nothing: 0, -EINVAL (bad family or cidr, NULL peer) or -ENOMEM. */
int allowedips_insert(struct allowedips *t, int family, const void *addr,
		      uint8_t cidr, struct wg_peer *peer);
/* Makes the next inserts unable to fail for want of memory: at least
 * `prefixes` prefix nodes and as many branch nodes are free, and the peer
 * map has room for `peers` more peers; from then on no memory is given back
 * (removals keep it) until allowedips_unreserve. So a caller that reserved
 * for every insert it may make, undoing included (an insert takes at most
 * one node of each kind and one peer slot; a removal takes none), cannot
 * fail half way. 0 or -ENOMEM (what was allocated stays, unheld). */
int allowedips_reserve(struct allowedips *t, size_t prefixes, size_t peers);
void allowedips_unreserve(struct allowedips *t);
/* Removes the exact prefix if peer owns it: 0, -ENOENT (absent or owned by
 * another peer) or -EINVAL (bad family or cidr). */
int allowedips_remove(struct allowedips *t, int family, const void *addr,
		      uint8_t cidr, struct wg_peer *peer);
void allowedips_remove_by_peer(struct allowedips *t, struct wg_peer *peer);
/* The peer owning exactly addr/cidr (host bits ignored), or NULL. */
struct wg_peer *allowedips_owner(const struct allowedips *t, int family,
				 const void *addr, uint8_t cidr);

/* Longest-prefix match of a full address (4 or 16 bytes, network order);
 * NULL when no prefix covers it or family is not AF_INET/AF_INET6. */
struct wg_peer *allowedips_lookup(const struct allowedips *t, int family,
				  const void *addr);

/* Calls fn for each of peer's prefixes in insertion order, with addr masked
 * to cidr (4 or 16 bytes, network order, valid only during the call). fn
 * must not modify the table. Stops at and returns fn's first nonzero
 * return; 0 otherwise (also for a peer with no prefixes). */
int allowedips_walk_by_peer(const struct allowedips *t, struct wg_peer *peer,
			    int (*fn)(void *ctx, int family, const void *addr,
				      uint8_t cidr),
			    void *ctx);

/* Number of prefixes stored, all peers and both families. */
size_t allowedips_count(const struct allowedips *t);
/* Bytes of heap the table holds (node blocks, block tables, peer map). */
size_t allowedips_memory_usage(const struct allowedips *t);
/* Checks every structural invariant (trie shape, parent links, masking,
 * per-peer lists, counters, peer map). O(table); for tests and debugging. */
bool allowedips_is_consistent(const struct allowedips *t);

#endif
