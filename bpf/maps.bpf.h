/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every map of include/maps.h, defined once for the BPF programs. Each
 * program includes all of them and pins them by name: the loader opens each
 * skeleton with pin_root_path = /sys/fs/bpf/xwg/IFNAME, so the first program
 * loaded creates and pins a map and the others reuse that instance (libbpf
 * checks type, key and value size, max_entries and flags on reuse, so a pin
 * left by a different build is refused rather than silently shared).
 *
 * BTF for keys and values (__type) is what lets `bpftool map dump pinned
 * ...` print named fields.
 */
#ifndef XWG_MAPS_BPF_H
#define XWG_MAPS_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "maps.h"

/* Cryptokey routing: destination prefix -> peer. Tries allocate per entry
 * (NO_PREALLOC is mandatory for LPM tries). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, XWG_MAX_ALLOWED_IPS);
	__type(key, struct xwg_lpm_v4_key);
	__type(value, struct xwg_peer_ref);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} allowed_ips_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, XWG_MAX_ALLOWED_IPS);
	__type(key, struct xwg_lpm_v6_key);
	__type(value, struct xwg_peer_ref);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} allowed_ips_v6 SEC(".maps");

/* Receiver index (host order, i.e. le32toh of the wire field) -> peer and
 * keypair slot. Only live sessions are in it, a few per peer, so entries
 * are allocated on insert rather than XWG_MAX_INDICES up front. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, XWG_MAX_INDICES);
	__type(key, __u32);
	__type(value, struct xwg_index_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} indices SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XWG_MAX_PEERS);
	__type(key, __u32);
	__type(value, struct xwg_peer);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} peers SEC(".maps");

/* One copy, not per CPU: only the daemon writes it, through an mmap
 * (include/maps.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, XWG_MAX_PEERS);
	__type(key, __u32);
	__type(value, struct xwg_peer_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} peer_stats SEC(".maps");

/* The daemon's copy of its AF_XDP sockets' kernel statistics, for the
 * metrics (include/maps.h); no program reads or writes it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XWG_MAX_XSKS);
	__type(key, __u32);
	__type(value, struct xwg_xsk_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xsk_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XWG_DROP_REASONS);
	__type(key, __u32);
	__type(value, struct xwg_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xwg_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} config SEC(".maps");

/* AF_XDP sockets by queue: xsks_rx on the underlay (encrypted data in),
 * xsks_tx on the twin (plaintext the stack sent out of wg0). */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XWG_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xsks_rx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XWG_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xsks_tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, XWG_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

/* The one configuration entry; all zero (listen_port 0: fast path off)
 * until the daemon writes it. */
static __always_inline const struct xwg_config *config_get(void)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&config, &key);
}

/* Every dropped packet is counted under its reason, on this CPU's copy. */
static __always_inline void drop_count(__u32 reason)
{
	struct xwg_counter *counter = bpf_map_lookup_elem(&drops, &reason);

	if (counter)
		counter->packets++;
}

#endif
