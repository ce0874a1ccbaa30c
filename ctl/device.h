/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The device: our static identity, the peers, the receiver-index table,
 * cryptokey routing, the sockets and the portable data path's TUN fd. One
 * control thread owns all of it; crypto workers run only inside
 * crypto_pool_run() while that thread waits.
 */
#ifndef XWG_DEVICE_H
#define XWG_DEVICE_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl/allowedips.h"
#include "ctl/handshake/cookie.h"
#include "ctl/handshake/noise.h"
#include "ctl/notify.h"
#include "ctl/peer.h"
#include "ctl/timers.h"
#include "datapath/udp.h"

struct crypto_pool;
struct crypto_job;
struct offload_gro_pkt;

/* The data path works in batches of packets. A packet buffer keeps room
 * for the data message header in front and the padding and tag behind, so
 * sealing and opening happen in place. */
#define DATAPATH_BATCH 64U
#define DATAPATH_HEADROOM 16U
#define DATAPATH_PACKET_MAX 65535U
#define DATAPATH_BUF_SIZE (DATAPATH_HEADROOM + DATAPATH_PACKET_MAX + 32U)
/* Room for the segments of one send batch: DATAPATH_BATCH of up to 16 KB
 * (jumbo MTUs), or 16 of the largest; a full arena sends the batch. */
#define DATAPATH_TX_ARENA (DATAPATH_BATCH * 16384U)
struct uapi_set;
struct uapi_buf;

/* Why a packet was dropped: one counter each, never silent. */
#define DROP_REASONS(X)                                                     \
	X(DROP_RX_TOO_SHORT, "rx_too_short")                               \
	X(DROP_RX_BAD_TYPE, "rx_bad_type")                                 \
	X(DROP_RX_BAD_LENGTH, "rx_bad_length")                             \
	X(DROP_RX_BAD_MAC, "rx_bad_mac")                                   \
	X(DROP_RX_RATELIMITED, "rx_ratelimited")                           \
	X(DROP_RX_HANDSHAKE_FAILED, "rx_handshake_failed")                 \
	X(DROP_RX_COOKIE_FAILED, "rx_cookie_failed")                       \
	X(DROP_RX_UNKNOWN_INDEX, "rx_unknown_index")                       \
	X(DROP_RX_DECRYPT_FAILED, "rx_decrypt_failed")                     \
	X(DROP_RX_REPLAY, "rx_replay")                                     \
	X(DROP_RX_BAD_INNER, "rx_bad_inner_packet")                        \
	X(DROP_RX_SOURCE_NOT_ALLOWED, "rx_source_not_allowed")             \
	X(DROP_RX_TRUNCATED, "rx_truncated")                               \
	X(DROP_RX_TUN_WRITE, "rx_tun_write_failed")                        \
	X(DROP_RX_BAD_FRAME, "rx_bad_frame")                               \
	X(DROP_RX_TOO_BIG, "rx_too_big_for_interface")                     \
	X(DROP_TX_NO_PEER, "tx_no_peer")                                   \
	X(DROP_TX_BAD_PACKET, "tx_bad_packet")                             \
	X(DROP_TX_NO_ENDPOINT, "tx_no_endpoint")                           \
	X(DROP_TX_STAGED_OVERFLOW, "tx_staged_overflow")                   \
	X(DROP_TX_STAGED_EXPIRED, "tx_staged_expired")                     \
	X(DROP_TX_SEND_FAILED, "tx_send_failed")                           \
	X(DROP_TX_PEER_UNUSABLE, "tx_peer_unusable")                       \
	X(DROP_TX_TOO_BIG, "tx_too_big")                                   \
	X(DROP_TX_OFFLOAD_BAD_VNET_HDR, "tx_offload_bad_vnet_header")      \
	X(DROP_TX_OFFLOAD_BAD_CSUM_OFFSET, "tx_offload_bad_checksum_offset") \
	X(DROP_TX_OFFLOAD_BAD_HEADERS, "tx_offload_bad_headers")           \
	X(DROP_TX_OFFLOAD_BAD_GSO_SIZE, "tx_offload_bad_gso_size")         \
	X(DROP_TX_OFFLOAD_TOO_MANY_SEGMENTS, "tx_offload_too_many_segments")

#define DROP_ENUM(name, str) name,
enum drop_reason { DROP_REASONS(DROP_ENUM) DROP_REASON_COUNT };
#undef DROP_ENUM
const char *drop_reason_name(enum drop_reason r);

/* A receiver index: names a handshake in progress or a keypair. */
struct index_entry {
	uint32_t index;           /* 0 = empty slot, UINT32_MAX = deleted */
	bool is_keypair;
	union {
		struct noise_handshake *handshake;
		struct noise_keypair *keypair;
	};
	struct wg_peer *peer;
};

struct index_table {
	struct index_entry *slots;
	uint32_t mask;            /* size - 1, size a power of two */
	uint32_t used, deleted;
};

struct peer_table {
	struct wg_peer **buckets;
	uint32_t mask;
	uint32_t count;
	struct wg_peer *first, *last;   /* configuration order */
	uint8_t hash_key[16];
};

struct wg_device {
	char ifname[IF_NAMESIZE];
	int tun_fd;               /* portable path; -1 on the fast path */
	/* The TUN fd carries virtio-net headers (XWG_OFFLOAD=on): the stack
	 * hands us super-packets, decrypted ones go back coalesced. */
	bool tun_vnet;
	unsigned int tun_offloads; /* TUN_F_* the kernel accepted */
	/* Decrypted packets of the current receive batch, coalesced and
	 * written at device_deliver_flush (tun_vnet only). */
	struct offload_gro_pkt *gro_pkts;
	unsigned int n_gro;
	uint64_t gro_writes, gro_packets;
	/* Segments of super-packets read from the TUN, sealed in place
	 * (ctl/send.c). */
	uint8_t *tx_arena;
	uint64_t tso_packets, tso_segments;
	struct fastpath_dp *fast; /* fast path (ctl/fastpath.h); NULL: portable */
	int ifindex;
	unsigned int mtu;
	bool mtu_unknown;         /* moved to another namespace: mtu is stale */

	struct udp_socks udp;
	uint16_t listen_port;     /* as configured (0 = random); udp has the
				   * bound port and the fwmark */

	struct noise_static_identity static_identity;
	struct cookie_checker cookie_checker;
	struct ratelimiter *ratelimiter;
	struct allowedips allowedips;
	struct peer_table peers;
	struct index_table indices;
	struct noise_ops noise_ops;
	struct timers timers;
	struct crypto_pool *pool;

	/* Handshake load (protocol.md "Cookies"): handshakes seen in the
	 * current one-second window, and until when we count as loaded. */
	xwg_time_t load_window_start;
	unsigned int load_window_count;
	xwg_time_t under_load_until;

	/* Scratch for one batch of the data path (control thread only).
	 * Receiving a batch can send (a keepalive after a handshake
	 * response, staged packets on key confirmation) before its own jobs
	 * are done, so each direction has its own array. */
	struct crypto_job *rx_jobs, *tx_jobs;
	/* Cookie replies of one receive batch, sent together. */
	struct message_handshake_cookie *cookie_replies;
	struct udp_tx *cookie_tx;
	unsigned int n_cookie_replies;

	uint32_t max_peers;       /* MAX_PEERS_PER_DEVICE; tests lower it */
	/* ICMP unreachable for packets with no peer: a token bucket. */
	xwg_time_t icmp_refill;
	unsigned int icmp_tokens;
	uint64_t next_peer_id;
	/* Bumped by every set transaction: a get built in pieces that sees
	 * it change starts over (ctl/uapi.h). */
	uint64_t config_generation;
	uint64_t drops[DROP_REASON_COUNT];
	uint64_t handshakes_sent, handshakes_received, cookies_sent;
	/* What changed, handed on (ctl/notify.h). */
	struct notify notify;
};

int device_init(struct wg_device *dev, const char *ifname, unsigned int nthreads);
void device_uninit(struct wg_device *dev);

/* The configuration socket's set and get (ctl/uapi.c does the text). A
 * set is all or nothing: 0, or -errno and the configuration is as it was
 * (-ENOSPC past max_peers, -EADDRINUSE for a port, -ENOMEM, or the -errno
 * of a map write of the fast path). */
int device_config_set(struct wg_device *dev, const struct uapi_set *set);
/* Test seam (unit tests only): the Nth fallible step of the transactions
 * from now on (preparing, each peer entry, each peer created, each allowed
 * IP inserted) fails with -ENOMEM; 0 turns it off. */
void device_config_fault_set(uint64_t n);
int device_config_get(struct wg_device *dev, struct uapi_buf *out);
/* The same reply in pieces (uapi_ops.get_piece): the device lines and up
 * to DEVICE_GET_PIECE_PEERS peers (fewer once a piece has
 * DEVICE_GET_PIECE_BYTES) per call. *pos is the next peer: valid while
 * config_generation stays the same (peers go only in set transactions).
 * Counters, handshake times and roamed endpoints are read as each piece is
 * built, a few milliseconds apart: the configuration is one, the
 * statistics are as fresh as in a reply built in one go. */
#define DEVICE_GET_PIECE_PEERS 256U
#define DEVICE_GET_PIECE_BYTES (256U * 1024)
int device_config_get_piece(struct wg_device *dev, void **pos, struct uapi_buf *out);

struct wg_peer *device_peer_lookup(struct wg_device *dev,
				   const uint8_t public_key[NOISE_PUBLIC_KEY_LEN]);
void device_peer_remove(struct wg_device *dev, struct wg_peer *peer);
/* The entry of a receiver index, or NULL. */
struct index_entry *device_index_lookup(struct wg_device *dev, uint32_t index);
void device_count_drop(struct wg_device *dev, enum drop_reason r);
/* A decrypted (or locally made) inner packet into the interface's receive
 * path: the TUN fd, or the fast path's twin (batched until
 * fastpath_flush). 0 or -errno. */
int device_deliver(struct wg_device *dev, const void *pkt, size_t len);
/* The same for a decrypted packet that stays in its buffer until
 * device_deliver_flush, at the end of the receive batch: with offloads,
 * packets of one flow go into the stack as one GRO super-packet. Errors
 * are counted at the flush. */
int device_deliver_batched(struct wg_device *dev, void *pkt, size_t len);
void device_deliver_flush(struct wg_device *dev);
bool device_is_under_load(struct wg_device *dev);
/* Log the device's counters (drops by reason, handshakes, cookies). */
void device_log_stats(struct wg_device *dev);

/* For ctl/snapshot.c, which rebuilds a state handed over by another
 * process: a new peer (NULL: out of memory or max_peers reached), and a
 * receiver index bound to exactly one of hs or kp (0, -EEXIST when the
 * index is live, -EINVAL for 0 or UINT32_MAX, -ENOMEM). */
struct wg_peer *device_peer_create(struct wg_device *dev,
				   const uint8_t public_key[NOISE_PUBLIC_KEY_LEN]);
int device_index_insert(struct wg_device *dev, uint32_t index, struct noise_handshake *hs,
			struct noise_keypair *kp, struct wg_peer *peer);

/* ctl/send.c */
void send_handshake_initiation(struct wg_peer *peer, bool is_retry);
void send_keepalive(struct wg_peer *peer);
void send_staged_packets(struct wg_peer *peer);
/* Encrypt and send packets read from the tunnel. */
struct tun_packet;
void send_tunnel_packets(struct wg_device *dev, struct tun_packet *pkts, unsigned int n);
void send_buffer_to_peer(struct wg_peer *peer, const void *buf, size_t len);

/* ctl/receive.c: datagrams from one UDP socket. */
struct udp_rx;
void receive_datagrams(struct wg_device *dev, struct udp_rx *rx, unsigned int n);

#endif
