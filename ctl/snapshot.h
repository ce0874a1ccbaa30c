/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's whole state as one versioned, length-checked binary blob,
 * for a live takeover (xwgd --takeover): the running process writes it into
 * a sealed memfd, the new one reads it into a fresh device and carries on
 * with the same sessions, so the peers see no new handshake.
 *
 * Layout (all integers little-endian):
 *
 *   header   magic "XWGSNAP\0", u32 version, u32 header length (32),
 *            u64 total length (header + records + trailer),
 *            u64 written_at (CLOCK_MONOTONIC, ns)
 *   records  u16 type, u16 zero, u32 payload length, payload; the first is
 *            the device, then counters and the cookie checker, then each
 *            peer followed by its allowed IPs, keypairs and handshake,
 *            and last an end record that counts them
 *   trailer  BLAKE2b-256 of everything before it
 *
 * Times are absolute CLOCK_MONOTONIC nanoseconds: that clock is the same in
 * every process of one host (and the memfd never leaves it), so deadlines
 * and birthdates need no translation. written_at is checked against the
 * reader's clock: a snapshot from the future or older than
 * SNAPSHOT_MAX_AGE_SEC is refused (an old one would reuse nonces).
 *
 * Not carried, by design: staged packets (queued only while no session
 * exists), the rate limiter's and the ICMP bucket's per-source state, the
 * fast path's map mirror (re-derived), and the UDP/TUN descriptors (passed
 * beside the memfd with SCM_RIGHTS; the snapshot has the bound port and
 * fwmark).
 *
 * The reader validates every field as if it came from the network, and
 * leaves the device as it found it (fresh) on any error. One derived value
 * is taken as given, for speed: each peer's DH(our static, theirs), which
 * is checked for form only (see read_peer).
 */
#ifndef XWG_SNAPSHOT_H
#define XWG_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

struct wg_device;

#define SNAPSHOT_MAGIC "XWGSNAP"      /* and its NUL: 8 bytes */
#define SNAPSHOT_VERSION 1U
#define SNAPSHOT_HEADER_LEN 32U
#define SNAPSHOT_TRAILER_LEN 32U
/* Bounds the reader's copy; ~4 KB per peer with three keypairs. */
#define SNAPSHOT_MAX_LEN (8ULL << 30)
#define SNAPSHOT_MAX_AGE_SEC 60U

/* Record types (the payloads' layouts are in ctl/snapshot.c). */
enum snapshot_record {
	REC_DEVICE = 1,
	REC_COUNTER = 2,
	REC_COOKIE_CHECKER = 3,
	REC_PEER = 4,
	REC_ALLOWED_IP = 5,
	REC_KEYPAIR = 6,
	REC_HANDSHAKE = 7,
	REC_END = 8,       /* u32: how many records came before it */
};

/* The data path the snapshot was taken on: the descriptors that come with
 * it differ, so a mismatch is refused. */
enum snapshot_datapath {
	SNAPSHOT_DATAPATH_PORTABLE = 0,
	SNAPSHOT_DATAPATH_FAST = 1,
};

/* Writes the snapshot of dev into buf when cap is large enough; returns its
 * length either way (call with NULL, 0 to size a buffer). dev must not
 * change in between: the caller has stopped the data path. */
size_t snapshot_write(struct wg_device *dev, uint8_t *buf, size_t cap);

/* A snapshot in a sealed memfd. The writer keeps a writable shared
 * mapping so it can wipe the contents when the handoff is over: the fd is
 * sealed F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL
 * (F_SEAL_WRITE would forbid that wipe too), so the reader, and anyone it
 * passes the fd to, cannot change it. */
struct snapshot_memfd {
	int fd;
	uint8_t *map;
	size_t len;
};
/* 0 or -errno; on error nothing is left open or unwiped. */
int snapshot_memfd_create(struct wg_device *dev, struct snapshot_memfd *m);
/* Wipes the contents, unmaps and closes. Idempotent. */
void snapshot_memfd_wipe(struct snapshot_memfd *m);

/*
 * Rebuilds dev (fresh from device_init: no key, no peers; its UDP and TUN
 * descriptors are the caller's) from a snapshot. 0 on success. On error
 * -EINVAL (malformed), -EPROTO (a version or data path this build does not
 * take), -EBUSY (dev is not fresh), -ENOMEM or -ESTALE (too old), with a
 * message naming the field in why; dev is left fresh again.
 */
int snapshot_read(struct wg_device *dev, const uint8_t *buf, size_t len,
		  char *why, size_t whylen);
/* The same from a memfd, which must carry the seals above: its contents
 * are copied into locked private memory first (so a writer that still
 * maps it cannot change what is being checked), read, and the copy wiped. */
int snapshot_read_memfd(struct wg_device *dev, int fd, char *why, size_t whylen);

/* Takes every peer and key out of dev again (back to fresh): for tests,
 * the fuzzer, and the reader's own error path. */
void snapshot_device_clear(struct wg_device *dev);

/* The trailer of buf[0..len): for tests and the fuzzer, which change a
 * snapshot on purpose and want the parser, not the checksum, to judge. */
void snapshot_checksum_fix(uint8_t *buf, size_t len);

#endif
