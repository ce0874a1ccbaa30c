/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Super-packets across the tunnel interface (a TUN device with
 * IFF_VNET_HDR and TUNSETOFFLOAD): the stack hands xwgd TCP and UDP
 * packets of up to 64 KB with a virtio-net header saying how to cut them
 * (TSO/USO), and takes decrypted packets of one flow back as one
 * super-packet (GRO). On the wire nothing changes: every datagram still
 * carries one inner packet of at most the MTU, with complete checksums.
 *
 *   read(TUN) -> offload_seg_begin/next -> segments -> seal -> UDP
 *   UDP -> open -> offload_gro_* -> writev(TUN) of super-packets
 *
 * Everything here works on bytes in memory (no fds, no allocation), so the
 * unit tests compare it with packets built one by one and a fuzz target
 * feeds it any header and packet.
 */
#ifndef XWG_OFFLOAD_H
#define XWG_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* The header in front of every packet on a TUN fd with IFF_VNET_HDR (the
 * default TUNSETVNETHDRSZ). Fields are little-endian (x86; TUNSETVNETLE
 * is not needed there). */
#define OFFLOAD_VNET_HDR_LEN ((unsigned int)sizeof(struct virtio_net_hdr))

/* USO (Linux 6.2's UAPI; older headers lack it, the value is fixed by the
 * virtio specification, 5.1.6.2). */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

/* Why a packet read from the TUN was not sent: one counter each. */
#define OFFLOAD_DROP_REASONS(X)                                             \
	X(OFFLOAD_DROP_BAD_VNET_HDR, "tx_offload_bad_vnet_header")          \
	X(OFFLOAD_DROP_BAD_CSUM_OFFSET, "tx_offload_bad_checksum_offset")   \
	X(OFFLOAD_DROP_BAD_HEADERS, "tx_offload_bad_headers")               \
	X(OFFLOAD_DROP_BAD_GSO_SIZE, "tx_offload_bad_gso_size")             \
	X(OFFLOAD_DROP_TOO_MANY_SEGMENTS, "tx_offload_too_many_segments")

#define OFFLOAD_DROP_ENUM(name, str) name,
enum offload_drop { OFFLOAD_OK = 0, OFFLOAD_DROP_REASONS(OFFLOAD_DROP_ENUM) OFFLOAD_DROP_COUNT };
#undef OFFLOAD_DROP_ENUM
const char *offload_drop_name(enum offload_drop r);

/* The most segments one super-packet may be cut into (64 KB in segments
 * of at least 64 bytes of payload would be 1024; the kernel's own limit
 * for a GSO skb is 65535 bytes, so this bounds a lying header). */
#define OFFLOAD_SEGMENTS_MAX 1024U

/* ---- segmenting what the stack sends (TSO4/TSO6/USO) ---- */

/*
 * Walks one packet read from the TUN: pkt (len bytes, the IP header
 * first) with its virtio-net header vh. Opaque to callers but for
 * is_gso. Bytes after the packet's own IP length (which Linux never
 * writes) belong to no segment: they are neither sent nor read.
 */
struct offload_seg_iter {
	bool is_gso;            /* false: the packet goes as it is */
	/* private */
	uint8_t *pkt;
	size_t len;
	unsigned int family;    /* 4 or 6 */
	unsigned int l4;        /* IPPROTO_TCP or IPPROTO_UDP */
	size_t ip_hlen, hdr_len, gso_size, off;
	unsigned int seg, nsegs;
};

/*
 * Checks vh against the packet's own headers and prepares the walk.
 * - No GSO (VIRTIO_NET_HDR_GSO_NONE): if VIRTIO_NET_HDR_F_NEEDS_CSUM, the
 *   checksum at csum_start + csum_offset is completed in place (pkt is
 *   written; a result of 0 is stored as 0xffff, as skb_checksum_help
 *   does); it->is_gso is false and the caller sends the first
 *   offload_seg_next_len(it) bytes of pkt as they are (or has
 *   offload_seg_next copy them). Only the IP header is required to be
 *   sound; csum_start must lie after it, csum_offset be even and in the
 *   packet, and 16/6/2 when csum_start is a TCP/UDP/ICMP header.
 * - TCPV4, TCPV6 (with or without the ECN bit), UDP_L4: it->is_gso is
 *   true; offload_seg_next writes the segments.
 * Returns OFFLOAD_OK or the reason to drop the packet (nothing is written
 * then). Never trusts vh:
 * - hdr_len is a hint (the kernel gives skb_headlen): the header length
 *   used is the packet's own (IP header + TCP data offset, or + 8 for
 *   UDP); hdr_len is only required not to point past the packet;
 * - gso_size must be nonzero and cut the payload into at most
 *   OFFLOAD_SEGMENTS_MAX segments (a payload that fits one goes as one);
 * - with NEEDS_CSUM, csum_start must be the TCP/UDP header and
 *   csum_offset its checksum field's (16 or 6); the checksums are
 *   computed from scratch either way;
 * - the gso_type must match the IP version and protocol, no other flag
 *   than NEEDS_CSUM and DATA_VALID be set, and the ECN bit only go with
 *   TCP. Refused as bad headers: IPv4 fragments, IPv6 extension headers
 *   and jumbograms, TCP with SYN or RST (the stack never makes them into
 *   super-packets), a UDP length other than the IP payload's, and any
 *   IP length larger than len.
 */
enum offload_drop offload_seg_begin(struct offload_seg_iter *it, const struct virtio_net_hdr *vh,
				    uint8_t *pkt, size_t len);

/* The number of segments left (1 for a packet without GSO). */
unsigned int offload_seg_remaining(const struct offload_seg_iter *it);
/* The length of the next segment: the headers plus at most gso_size bytes
 * of payload (without GSO: the packet's IP length); 0 when none is
 * left. */
size_t offload_seg_next_len(const struct offload_seg_iter *it);
/*
 * Writes the next segment, a complete IPv4/IPv6 packet, to out (room for
 * offload_seg_next_len bytes) and returns its length (0: none left).
 * As the kernel's own segmentation does: IPv4 total length, id (+1 per
 * segment) and header checksum; IPv6 payload length; TCP sequence number
 * advanced by the payload before it, CWR only on the first segment, FIN
 * and PSH only on the last; UDP length; full TCP/UDP checksums.
 */
size_t offload_seg_next(struct offload_seg_iter *it, uint8_t *out);

/* ---- coalescing what goes back into the stack (GRO) ---- */

/* A decrypted inner packet: a complete IPv4/IPv6 packet of len bytes
 * (already checked by the receive path). Its headers may be rewritten in
 * place when it becomes the head of a super-packet. */
struct offload_gro_pkt {
	uint8_t *data;
	size_t len;
};

/* The most packets one super-packet joins (each an iovec). */
#define OFFLOAD_GRO_SEGMENTS_MAX 64U
/* The flows open at once in one offload_gro_flush (a fixed table on the
 * stack: a batch from one peer rarely interleaves more). */
#define OFFLOAD_GRO_FLOWS 8U

/* One super-packet (or a single packet) ready for writev(TUN): iov[0] is
 * the virtio-net header vh, then the head packet, then the payloads of
 * the packets joined to it. */
struct offload_gro_out {
	struct virtio_net_hdr vh;
	struct iovec iov[OFFLOAD_GRO_SEGMENTS_MAX + 1];
	int iovcnt;
	size_t len;             /* bytes after the header */
	unsigned int packets;   /* inner packets it carries */
};

/* Called once per output, in an order that keeps the order of each
 * flow's packets. Returns 0 or -errno (counted by the caller). */
typedef int (*offload_gro_emit_fn)(void *ctx, const struct offload_gro_out *out);

/*
 * Coalesces pkts[0..n) and emits the result. TCP segments of one flow
 * (addresses, ports, IPv4 TOS/TTL/DF/no options and a correct header
 * checksum, ids consecutive unless DF; IPv6 traffic class/flow label/hop
 * limit with no extension headers; ACK number, window and TCP options
 * all equal; flags ACK, PSH and ECE only, and CWR on the first; sequence
 * numbers consecutive; each one but the last exactly the first's payload
 * length, which must not be 0) become one TCPV4/TCPV6 super-packet (with
 * VIRTIO_NET_HDR_GSO_ECN when the first has CWR, as tcp_gro_complete):
 * VIRTIO_NET_HDR_F_NEEDS_CSUM with the pseudo-header sum in the head's
 * checksum field, hdr_len the exact header length, the head's IP lengths
 * (and IPv4 header checksum) for the total, at most 65535 bytes of IP
 * packet. A shorter packet or one with PSH ends a super-packet (PSH is
 * kept on the head). With udp, UDP datagrams of one flow with equal
 * length and a checksum (the last may be shorter) likewise become one
 * UDP_L4 super-packet (USO, Linux 6.2+), the head's UDP length the
 * total. Anything else is emitted alone, as given, with an empty header
 * (the packet's checksums are already complete; those of joined packets
 * are not checked, as the AEAD vouched for them), after the open
 * super-packet of its flow. Bytes after a joined packet's IP length are
 * left out. The whole batch is emitted before this returns; at most
 * OFFLOAD_GRO_FLOWS flows are open at once (the oldest is emitted to
 * make room).
 */
void offload_gro_flush(struct offload_gro_pkt *pkts, unsigned int n, bool udp,
		       offload_gro_emit_fn emit, void *ctx);

/* ---- checksums ---- */

/* The 16-bit one's complement sum (RFC 1071) of len bytes, added to sum
 * (unfolded 32-bit partial sums in, folded 16-bit out, not complemented).
 * Words are read in host order, so a folded sum is stored with memcpy as
 * it is and a big-endian value enters as htons(v) (RFC 1071 2(B)). Sums
 * of consecutive pieces chain when every piece but the last has an even
 * length. */
uint16_t offload_csum_fold(uint64_t sum);
uint64_t offload_csum_partial(const void *data, size_t len, uint64_t sum);

#endif
