// SPDX-License-Identifier: GPL-2.0
/*
 * The allowed-IPs table (cryptokey routing, whitepaper section 2).
 *
 * Shape. One binary trie per family. A node stands for a prefix of `cidr`
 * bits (bit 0 is the most significant bit of the address); child[b] leads to
 * prefixes that extend it with bit b at position `cidr`, at whatever depth
 * the next node sits: positions where nothing branches are skipped (path
 * compression), so depth, and with it every operation, is bounded by the
 * address length.
 *
 * Two node kinds, in two pools:
 *  - prefix nodes (struct allowedips_node, 48 bytes) hold a stored prefix:
 *    its key, its peer and its links on that peer's list;
 *  - branch nodes (struct allowedips_branch, 16 bytes) exist only where two
 *    stored prefixes part at a bit where no stored prefix ends. They keep no
 *    key, as in a crit-bit tree: every key below a node starts with that
 *    node's prefix, so any prefix node beneath a branch tells its bits.
 *    Lookup does not need them either: a mismatch at a branch shows up at
 *    the next prefix node down, whose key contains the branch's bits.
 * With n prefixes there are fewer than n branches, so the table costs 48 to
 * 64 bytes per prefix (plus less than one block of slack per pool).
 *
 * Invariant: a node without a live prefix has exactly two children; with
 * fewer it is spliced out. A prefix node whose prefix is removed but which
 * still joins two subtrees is swapped for a branch; only if that allocation
 * fails does it stay as a "dead" prefix node (peer == NULL) doing a branch's
 * job, which every path below tolerates.
 *
 * Nodes refer to each other by 32-bit index (0 = none, bit 31 = branch
 * pool); both node structs start with struct trie_link so that the trie
 * code handles either kind through it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/allowedips.h"

#define NIL 0u
#define BRANCH_TAG 0x80000000u
#define POOL_BLOCK_SHIFT 8
#define POOL_BLOCK_ITEMS (1u << POOL_BLOCK_SHIFT)
/* Indices must stay below BRANCH_TAG. */
#define POOL_MAX_BLOCKS (BRANCH_TAG >> POOL_BLOCK_SHIFT)

struct trie_link {
	uint32_t child[2];  /* child[0] doubles as the free-list link */
	uint32_t parent;    /* NIL at a root */
	uint8_t cidr;
	uint8_t family;
	uint8_t unused[2];
};

struct allowedips_branch {
	struct trie_link link;
};

struct allowedips_node {
	struct trie_link link;
	uint32_t key[4];       /* host-order 32-bit words, zero past cidr */
	struct wg_peer *peer;  /* NULL only in a dead node (see above) */
	uint32_t next, prev;   /* the peer's list, in insertion order */
};

_Static_assert(sizeof(struct allowedips_branch) == 16, "branch node size");
_Static_assert(sizeof(struct allowedips_node) == 48, "prefix node size");

/* One slot of the open-addressed peer map; peer == NULL marks it empty. */
struct allowedips_peer_slot {
	struct wg_peer *peer;
	uint32_t head, tail;
};

#define NODE_SIZE sizeof(struct allowedips_node)
#define BRANCH_SIZE sizeof(struct allowedips_branch)

/* ---- pools ---- */

static void *pool_item(const struct allowedips_pool *p, size_t size, uint32_t i)
{
	return (char *)p->blocks[i >> POOL_BLOCK_SHIFT] +
	       (size_t)(i & (POOL_BLOCK_ITEMS - 1)) * size;
}

/* Items pool_get() can hand out without a new block. */
static size_t pool_free_items(const struct allowedips_pool *p)
{
	return p->nblocks ? ((size_t)p->nblocks << POOL_BLOCK_SHIFT) - 1 - p->used : 0;
}

/* Makes the next n pool_get() calls infallible, so that callers can
 * allocate everything up front and then change the trie without failure
 * paths. */
static int pool_reserve_n(struct allowedips_pool *p, size_t size, size_t n)
{
	void *block;

	while (pool_free_items(p) < n) {
		if (p->nblocks == POOL_MAX_BLOCKS)
			return -ENOMEM;
		if (p->nblocks == p->blocks_cap) {
			uint32_t cap = p->blocks_cap ? p->blocks_cap * 2 : 8;
			void **blocks = realloc(p->blocks, cap * sizeof(*blocks));

			if (!blocks)
				return -ENOMEM;
			p->blocks = blocks;
			p->blocks_cap = cap;
		}
		block = malloc(POOL_BLOCK_ITEMS * size);
		if (!block)
			return -ENOMEM;
		p->blocks[p->nblocks++] = block;
	}
	return 0;
}

static int pool_reserve(struct allowedips_pool *p, size_t size)
{
	return pool_reserve_n(p, size, 1);
}

static uint32_t pool_get(struct allowedips_pool *p, size_t size)
{
	uint32_t i;

	if (p->free) {
		i = p->free;
		p->free = ((struct trie_link *)pool_item(p, size, i))->child[0];
	} else {
		i = ++p->top;
	}
	p->used++;
	memset(pool_item(p, size, i), 0, size);
	return i;
}

static void pool_put(struct allowedips_pool *p, size_t size, uint32_t i)
{
	((struct trie_link *)pool_item(p, size, i))->child[0] = p->free;
	p->free = i;
	p->used--;
}

static void pool_release(struct allowedips_pool *p)
{
	uint32_t b;

	for (b = 0; b < p->nblocks; b++)
		free(p->blocks[b]);
	free(p->blocks);
	memset(p, 0, sizeof(*p));
}

static size_t pool_memory(const struct allowedips_pool *p, size_t size)
{
	return (size_t)p->nblocks * POOL_BLOCK_ITEMS * size +
	       (size_t)p->blocks_cap * sizeof(void *);
}

static bool is_branch(uint32_t i)
{
	return i & BRANCH_TAG;
}

static struct allowedips_node *node_at(const struct allowedips *t, uint32_t i)
{
	return pool_item(&t->nodes, NODE_SIZE, i);
}

static struct allowedips_branch *branch_at(const struct allowedips *t,
					   uint32_t i)
{
	return pool_item(&t->branches, BRANCH_SIZE, i & ~BRANCH_TAG);
}

static struct trie_link *link_at(const struct allowedips *t, uint32_t i)
{
	return is_branch(i) ? &branch_at(t, i)->link : &node_at(t, i)->link;
}

static bool is_live(const struct allowedips *t, uint32_t i)
{
	return !is_branch(i) && node_at(t, i)->peer;
}

static uint32_t node_get(struct allowedips *t)
{
	return pool_get(&t->nodes, NODE_SIZE);
}

static uint32_t branch_get(struct allowedips *t)
{
	return pool_get(&t->branches, BRANCH_SIZE) | BRANCH_TAG;
}

static void node_put(struct allowedips *t, uint32_t i)
{
	if (is_branch(i))
		pool_put(&t->branches, BRANCH_SIZE, i & ~BRANCH_TAG);
	else
		pool_put(&t->nodes, NODE_SIZE, i);
}

/* Gives memory back once a pool or the peer map is empty, so that dropping
 * a peer with a huge table does not pin its blocks for good. */
static void trim(struct allowedips *t)
{
	if (t->hold)
		return;
	if (!t->nodes.used)
		pool_release(&t->nodes);
	if (!t->branches.used)
		pool_release(&t->branches);
	if (!t->peers_used) {
		free(t->peers);
		t->peers = NULL;
		t->peers_cap = 0;
	}
}

/* ---- keys ---- */

static unsigned int family_bits(int family)
{
	return family == AF_INET ? 32 : family == AF_INET6 ? 128 : 0;
}

static void key_load(uint32_t key[4], unsigned int bits, const void *addr)
{
	const uint8_t *b = addr;
	unsigned int i;

	memset(key, 0, 4 * sizeof(*key));
	for (i = 0; i < bits / 32; i++, b += 4)
		key[i] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
			 (uint32_t)b[2] << 8 | b[3];
}

static void key_store(uint8_t *addr, const uint32_t key[4], unsigned int bits)
{
	unsigned int i;

	for (i = 0; i < bits / 32; i++, addr += 4) {
		addr[0] = (uint8_t)(key[i] >> 24);
		addr[1] = (uint8_t)(key[i] >> 16);
		addr[2] = (uint8_t)(key[i] >> 8);
		addr[3] = (uint8_t)key[i];
	}
}

static void key_mask(uint32_t key[4], unsigned int cidr)
{
	unsigned int i;

	for (i = 0; i < 4; i++) {
		if (cidr <= 32 * i)
			key[i] = 0;
		else if (cidr < 32 * i + 32)
			key[i] &= ~0u << (32 * i + 32 - cidr);
	}
}

/* Number of leading bits a and b share, at most 32 * words. */
static unsigned int key_common_bits(const uint32_t *a, const uint32_t *b,
				    unsigned int words)
{
	unsigned int i;

	for (i = 0; i < words; i++) {
		uint32_t x = a[i] ^ b[i];

		if (x)
			return 32 * i + (unsigned int)__builtin_clz(x);
	}
	return 32 * words;
}

static unsigned int key_bit(const uint32_t *key, unsigned int bit)
{
	return (key[bit / 32] >> (31 - bit % 32)) & 1;
}

/* ---- peer map: peer pointer -> head and tail of its list ---- */

static uint32_t peer_hash(const struct wg_peer *peer)
{
	/* Fibonacci hashing: the low bits of heap pointers are mostly
	 * alignment, the product's high bits mix all of them. */
	return (uint32_t)(((uint64_t)(uintptr_t)peer * 0x9e3779b97f4a7c15ULL) >> 32);
}

static struct allowedips_peer_slot *peer_find(const struct allowedips *t,
					      const struct wg_peer *peer)
{
	uint32_t mask = t->peers_cap - 1, i;

	if (!peer || !t->peers_cap)
		return NULL;
	/* Terminates: the load factor is at most one half. */
	for (i = peer_hash(peer) & mask;; i = (i + 1) & mask) {
		if (t->peers[i].peer == peer)
			return &t->peers[i];
		if (!t->peers[i].peer)
			return NULL;
	}
}

static struct allowedips_peer_slot *
peer_free_slot(struct allowedips_peer_slot *slots, uint32_t cap,
	       const struct wg_peer *peer)
{
	uint32_t mask = cap - 1, i;

	for (i = peer_hash(peer) & mask; slots[i].peer; i = (i + 1) & mask)
		;
	return &slots[i];
}

/* Makes room for n more peers (load at most one half). */
static int peers_reserve_n(struct allowedips *t, size_t n)
{
	struct allowedips_peer_slot *slots;
	uint64_t need = ((uint64_t)t->peers_used + n) * 2;
	uint32_t cap, i;

	if (need <= t->peers_cap)
		return 0;
	if (need > UINT32_MAX / 2 + 1)
		return -ENOMEM;
	for (cap = t->peers_cap ? t->peers_cap * 2 : 8; cap < need; cap *= 2)
		;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (i = 0; i < t->peers_cap; i++)
		if (t->peers[i].peer)
			*peer_free_slot(slots, cap, t->peers[i].peer) = t->peers[i];
	free(t->peers);
	t->peers = slots;
	t->peers_cap = cap;
	return 0;
}

static int peers_reserve(struct allowedips *t)
{
	return peers_reserve_n(t, 1);
}

/* Needs peers_reserve() first; peer must not be in the map yet. */
static struct allowedips_peer_slot *peer_add(struct allowedips *t,
					     struct wg_peer *peer)
{
	struct allowedips_peer_slot *s;

	s = peer_free_slot(t->peers, t->peers_cap, peer);
	s->peer = peer;
	s->head = s->tail = NIL;
	t->peers_used++;
	return s;
}

static void peer_del(struct allowedips *t, struct allowedips_peer_slot *s)
{
	uint32_t mask = t->peers_cap - 1;
	uint32_t hole = (uint32_t)(s - t->peers), i = hole;

	/* Backward-shift deletion: pull later entries of the probe run into
	 * the hole unless that would put them before their home slot, so
	 * lookups never need tombstones. */
	for (;;) {
		uint32_t home;

		i = (i + 1) & mask;
		if (!t->peers[i].peer)
			break;
		home = peer_hash(t->peers[i].peer) & mask;
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			t->peers[hole] = t->peers[i];
			hole = i;
		}
	}
	t->peers[hole].peer = NULL;
	t->peers_used--;
}

/* Appends prefix node i to its peer's list; needs peers_reserve() first. */
static void list_append(struct allowedips *t, uint32_t i)
{
	struct allowedips_node *n = node_at(t, i);
	struct allowedips_peer_slot *s = peer_find(t, n->peer);

	if (!s)
		s = peer_add(t, n->peer);
	n->next = NIL;
	n->prev = s->tail;
	if (s->tail)
		node_at(t, s->tail)->next = i;
	else
		s->head = i;
	s->tail = i;
}

static void list_unlink(struct allowedips *t, uint32_t i)
{
	struct allowedips_node *n = node_at(t, i);
	struct allowedips_peer_slot *s;

	if (n->prev)
		node_at(t, n->prev)->next = n->next;
	if (n->next)
		node_at(t, n->next)->prev = n->prev;
	if (n->prev && n->next)
		return;
	s = peer_find(t, n->peer);
	if (!n->prev)
		s->head = n->next;
	if (!n->next)
		s->tail = n->prev;
	if (!s->head)
		peer_del(t, s);
}

/* ---- trie ---- */

static uint32_t *root_slot(struct allowedips *t, int family)
{
	return family == AF_INET6 ? &t->root6 : &t->root4;
}

/* The link that points at node i: its parent's child or a root. */
static uint32_t *slot_of(struct allowedips *t, uint32_t i)
{
	struct trie_link *l = link_at(t, i), *p;

	if (l->parent == NIL)
		return root_slot(t, l->family);
	p = link_at(t, l->parent);
	return &p->child[p->child[1] == i];
}

/* Puts node `to` where node `from` is (same prefix, same children) and
 * frees `from`. */
static void node_replace(struct allowedips *t, uint32_t from, uint32_t to)
{
	struct trie_link *f = link_at(t, from), *l = link_at(t, to);
	unsigned int b;

	*slot_of(t, from) = to;
	*l = *f;
	for (b = 0; b < 2; b++)
		if (l->child[b])
			link_at(t, l->child[b])->parent = to;
	node_put(t, from);
}

/* Some prefix node at or below i; its key starts with i's prefix. */
static const struct allowedips_node *representative(const struct allowedips *t,
						    uint32_t i)
{
	/* Non-live nodes have two children, so this ends at a prefix node. */
	while (is_branch(i))
		i = branch_at(t, i)->link.child[0];
	return node_at(t, i);
}

/* Node i no longer holds a live prefix: splice it out if it has fewer than
 * two children, else let a branch take its place. */
static void prune(struct allowedips *t, uint32_t i)
{
	struct trie_link *l = link_at(t, i);
	uint32_t parent = l->parent, child;

	if (l->child[0] && l->child[1]) {
		/* Keeping the dead node is correct, only bigger: a failed
		 * allocation here is no error. Under allowedips_reserve the
		 * reserved branches are kept for inserts. */
		if (!is_branch(i) && !t->hold && !pool_reserve(&t->branches, BRANCH_SIZE))
			node_replace(t, i, branch_get(t));
		return;
	}
	child = l->child[0] ? l->child[0] : l->child[1];
	*slot_of(t, i) = child;
	if (child)
		link_at(t, child)->parent = parent;
	node_put(t, i);
	/* A parent left with one child and no prefix of its own is no longer
	 * needed (it had two children, so this goes no further). */
	if (!child && parent && !is_live(t, parent))
		prune(t, parent);
}

/* Gives the exact-match node i (any kind) the prefix `key` and `peer`.
 * Needs a reserved prefix node and peer slot. */
static void prefix_claim(struct allowedips *t, uint32_t i, const uint32_t key[4],
			 struct wg_peer *peer)
{
	struct allowedips_node *n;

	if (is_branch(i)) {
		uint32_t branch = i;

		i = node_get(t);
		node_replace(t, branch, i);
		n = node_at(t, i);
		memcpy(n->key, key, sizeof(n->key));
	} else {
		n = node_at(t, i);
	}
	if (n->peer)
		list_unlink(t, i);
	else
		t->count++;
	n->peer = peer;
	list_append(t, i);
}

void allowedips_init(struct allowedips *t)
{
	memset(t, 0, sizeof(*t));
}

int allowedips_reserve(struct allowedips *t, size_t prefixes, size_t peers)
{
	/* An insert asks room for one more peer even when its peer is
	 * already in the map: one slot more than the new peers. */
	if (pool_reserve_n(&t->nodes, NODE_SIZE, prefixes) ||
	    pool_reserve_n(&t->branches, BRANCH_SIZE, prefixes) ||
	    peers_reserve_n(t, peers + 1))
		return -ENOMEM;
	t->hold = true;
	return 0;
}

void allowedips_unreserve(struct allowedips *t)
{
	t->hold = false;
	trim(t);
}

void allowedips_free(struct allowedips *t)
{
	pool_release(&t->nodes);
	pool_release(&t->branches);
	free(t->peers);
	allowedips_init(t);
}

int allowedips_insert(struct allowedips *t, int family, const void *addr,
		      uint8_t cidr, struct wg_peer *peer)
{
	unsigned int bits = family_bits(family), d = 0;
	const struct allowedips_node *rep = NULL;
	uint32_t key[4], parent = NIL, x, i, *slot;
	struct trie_link *l = NULL;
	struct allowedips_node *n;

	if (!bits || cidr > bits || !peer)
		return -EINVAL;
	/* At most one prefix node, one branch and one peer slot: take them
	 * now so that nothing below can fail halfway through. */
	if (pool_reserve(&t->nodes, NODE_SIZE) ||
	    pool_reserve(&t->branches, BRANCH_SIZE) || peers_reserve(t))
		return -ENOMEM;
	key_load(key, bits, addr);
	key_mask(key, cidr);

	slot = root_slot(t, family);
	x = *slot;
	if (x) {
		/* Branches carry no key, so find where the new prefix goes in
		 * two passes, as in a crit-bit tree. First follow its bits as
		 * deep as they lead, to a prefix node sharing the longest
		 * possible run of leading bits with it... */
		for (;;) {
			l = link_at(t, x);
			if (l->cidr >= cidr || !l->child[key_bit(key, l->cidr)])
				break;
			x = l->child[key_bit(key, l->cidr)];
		}
		rep = representative(t, x);
		d = key_common_bits(rep->key, key, bits / 32);
		d = d < cidr ? d : cidr;
		d = d < rep->link.cidr ? d : rep->link.cidr;
		/* ...then d, where they part (or where the new prefix ends),
		 * is the depth at which the new prefix belongs: every node
		 * above it contains the new prefix. */
		x = *slot;
		while (x && (l = link_at(t, x))->cidr < d) {
			parent = x;
			slot = &l->child[key_bit(key, l->cidr)];
			x = *slot;
		}
		if (x && l->cidr == d) {
			if (d == cidr) {
				prefix_claim(t, x, key, peer);
				return 0;
			}
			/* x contains the new prefix, which leaves rep's path
			 * at bit d; the first pass would have followed that
			 * side had it been taken, so this slot is empty. */
			parent = x;
			slot = &l->child[key_bit(key, d)];
			x = *slot;
		}
	}

	i = node_get(t);
	n = node_at(t, i);
	n->link.cidr = cidr;
	n->link.family = (uint8_t)family;
	memcpy(n->key, key, sizeof(key));
	n->peer = peer;
	if (!x) {
		n->link.parent = parent;
		*slot = i;
	} else if (d == cidr) {
		/* The new prefix contains x's: it takes x's place. */
		n->link.parent = parent;
		n->link.child[key_bit(rep->key, cidr)] = x;
		link_at(t, x)->parent = i;
		*slot = i;
	} else {
		/* Neither contains the other: they part at bit d. */
		uint32_t b = branch_get(t);
		struct trie_link *bl = link_at(t, b);

		bl->cidr = (uint8_t)d;
		bl->family = (uint8_t)family;
		bl->parent = parent;
		bl->child[key_bit(key, d)] = i;
		bl->child[!key_bit(key, d)] = x;
		n->link.parent = b;
		link_at(t, x)->parent = b;
		*slot = b;
	}
	list_append(t, i);
	t->count++;
	return 0;
}

/* The prefix node holding exactly key/cidr, or NIL. */
static uint32_t find_exact(const struct allowedips *t, int family,
			   const uint32_t key[4], uint8_t cidr)
{
	uint32_t x = family == AF_INET6 ? t->root6 : t->root4;
	const struct trie_link *l = NULL;

	while (x) {
		l = link_at(t, x);
		if (l->cidr >= cidr)
			break;
		x = l->child[key_bit(key, l->cidr)];
	}
	/* Branches on the way were not checked: the key comparison does. */
	if (!x || is_branch(x) || l->cidr != cidr ||
	    memcmp(node_at(t, x)->key, key, 4 * sizeof(*key)))
		return NIL;
	return x;
}

int allowedips_remove(struct allowedips *t, int family, const void *addr,
		      uint8_t cidr, struct wg_peer *peer)
{
	unsigned int bits = family_bits(family);
	uint32_t key[4], i;

	if (!bits || cidr > bits)
		return -EINVAL;
	key_load(key, bits, addr);
	key_mask(key, cidr);
	i = find_exact(t, family, key, cidr);
	if (!peer || !i || node_at(t, i)->peer != peer)
		return -ENOENT;
	list_unlink(t, i);
	node_at(t, i)->peer = NULL;
	t->count--;
	prune(t, i);
	trim(t);
	return 0;
}

struct wg_peer *allowedips_owner(const struct allowedips *t, int family,
				 const void *addr, uint8_t cidr)
{
	unsigned int bits = family_bits(family);
	uint32_t key[4], i;

	if (!bits || cidr > bits)
		return NULL;
	key_load(key, bits, addr);
	key_mask(key, cidr);
	i = find_exact(t, family, key, cidr);
	return i ? node_at(t, i)->peer : NULL;
}

void allowedips_remove_by_peer(struct allowedips *t, struct wg_peer *peer)
{
	struct allowedips_peer_slot *s = peer_find(t, peer);
	uint32_t i, next;

	if (!s)
		return;
	/* The list goes as a whole, so skip unlinking node by node. Pruning
	 * frees only the node itself and prefix-less parents, never a later
	 * node of this list. */
	for (i = s->head; i; i = next) {
		struct allowedips_node *n = node_at(t, i);

		next = n->next;
		n->peer = NULL;
		t->count--;
		prune(t, i);
	}
	peer_del(t, s);
	trim(t);
}

struct wg_peer *allowedips_lookup(const struct allowedips *t, int family,
				  const void *addr)
{
	unsigned int bits = family_bits(family);
	struct wg_peer *best = NULL;
	uint32_t key[4], x;

	if (!bits)
		return NULL;
	key_load(key, bits, addr);
	x = family == AF_INET6 ? t->root6 : t->root4;
	while (x) {
		const struct trie_link *l;

		if (!is_branch(x)) {
			const struct allowedips_node *n = node_at(t, x);

			/* Everything below extends this prefix: the first
			 * mismatch ends the search. */
			if (key_common_bits(n->key, key, bits / 32) < n->link.cidr)
				break;
			if (n->peer)
				best = n->peer;
			l = &n->link;
		} else {
			l = &branch_at(t, x)->link;
		}
		if (l->cidr == bits)
			break;
		x = l->child[key_bit(key, l->cidr)];
	}
	return best;
}

int allowedips_walk_by_peer(const struct allowedips *t, struct wg_peer *peer,
			    int (*fn)(void *ctx, int family, const void *addr,
				      uint8_t cidr),
			    void *ctx)
{
	const struct allowedips_peer_slot *s = peer_find(t, peer);
	const struct allowedips_node *n;
	uint32_t i;

	if (!s)
		return 0;
	for (i = s->head; i; i = n->next) {
		uint8_t addr[16];
		int ret;

		n = node_at(t, i);
		key_store(addr, n->key, family_bits(n->link.family));
		ret = fn(ctx, n->link.family, addr, n->link.cidr);
		if (ret)
			return ret;
	}
	return 0;
}

size_t allowedips_count(const struct allowedips *t)
{
	return t->count;
}

size_t allowedips_memory_usage(const struct allowedips *t)
{
	return pool_memory(&t->nodes, NODE_SIZE) +
	       pool_memory(&t->branches, BRANCH_SIZE) +
	       (size_t)t->peers_cap * sizeof(*t->peers);
}

/* ---- consistency check ---- */

struct census {
	const struct allowedips *t;
	size_t nodes, branches, live;
};

static bool index_is_valid(const struct allowedips *t, uint32_t i)
{
	uint32_t slot = i & ~BRANCH_TAG;

	return slot && slot <= (is_branch(i) ? t->branches.top : t->nodes.top);
}

/* Checks the subtree at i and returns a prefix node in it (whose key starts
 * with i's prefix), or NULL if anything is wrong. Recursion depth is bounded
 * because cidr must grow at every step. */
static const struct allowedips_node *check_subtree(struct census *c, uint32_t i,
						   uint32_t parent, int family)
{
	unsigned int bits = family_bits(family), b;
	const struct allowedips_node *rep = NULL;
	const struct trie_link *l;
	uint32_t masked[4];

	if (!index_is_valid(c->t, i))
		return NULL;
	l = link_at(c->t, i);
	if (l->parent != parent || l->family != family || l->cidr > bits ||
	    (parent && l->cidr <= link_at(c->t, parent)->cidr))
		return NULL;
	if (is_branch(i)) {
		c->branches++;
	} else {
		rep = node_at(c->t, i);
		c->nodes++;
		c->live += rep->peer != NULL;
		memcpy(masked, rep->key, sizeof(masked));
		key_mask(masked, l->cidr);
		if (memcmp(masked, rep->key, sizeof(masked)))
			return NULL;
	}
	if (!is_live(c->t, i) && !(l->child[0] && l->child[1]))
		return NULL;
	for (b = 0; b < 2; b++) {
		const struct allowedips_node *below;

		if (!l->child[b])
			continue;
		if (l->cidr == bits)
			return NULL;
		below = check_subtree(c, l->child[b], i, family);
		if (!below || key_bit(below->key, l->cidr) != b)
			return NULL;
		if (!rep)
			rep = below;
		else if (key_common_bits(rep->key, below->key, bits / 32) < l->cidr)
			return NULL;
	}
	return rep;
}

static bool lists_are_consistent(const struct allowedips *t)
{
	size_t total = 0, slots = 0;
	uint32_t s;

	if ((uint64_t)t->peers_used * 2 > t->peers_cap)
		return false;
	for (s = 0; s < t->peers_cap; s++) {
		const struct allowedips_peer_slot *p = &t->peers[s];
		uint32_t i, prev = NIL;

		if (!p->peer)
			continue;
		slots++;
		if (peer_find(t, p->peer) != p || !p->head)
			return false;
		for (i = p->head; i; i = node_at(t, i)->next) {
			const struct allowedips_node *n;

			if (is_branch(i) || !index_is_valid(t, i) ||
			    ++total > t->count)
				return false;
			n = node_at(t, i);
			if (n->peer != p->peer || n->prev != prev)
				return false;
			prev = i;
		}
		if (p->tail != prev)
			return false;
	}
	return slots == t->peers_used && total == t->count;
}

bool allowedips_is_consistent(const struct allowedips *t)
{
	struct census c = { .t = t };

	if (t->root4 && !check_subtree(&c, t->root4, NIL, AF_INET))
		return false;
	if (t->root6 && !check_subtree(&c, t->root6, NIL, AF_INET6))
		return false;
	return c.live == t->count && c.nodes == t->nodes.used &&
	       c.branches == t->branches.used && lists_are_consistent(t);
}
