/* SPDX-License-Identifier: GPL-2.0 */
/*
 * AF_XDP sockets through libxdp, one "port" per interface and queue: a
 * UMEM of fixed-size frames, its fill and completion rings, the socket's RX
 * and TX rings, and the bookkeeping that says who owns each frame.
 *
 * Frames move between four owners, and every move is counted, so a frame
 * is never lost or used twice (xsk_port_stats: free + fill + caller + tx is
 * always frame_count):
 *
 *   free   --xsk_fill_refill--> fill (kernel: fill ring, then RX)
 *   fill   --xsk_rx_get-------> caller
 *   free   --xsk_frame_get----> caller
 *   caller --xsk_frame_put----> free
 *   caller --xsk_tx_submit----> tx (kernel: TX ring)
 *   tx     --xsk_tx_complete--> free
 *
 * A received frame can be submitted to TX as it is (rewritten in place),
 * or given back. Frames a function is given are checked to be the caller's
 * (a byte of state per frame); a frame that is not is refused with -EINVAL
 * and counted in ownership_errors, never put in a ring.
 *
 * Everything on the packet path works on batches and makes no allocation,
 * takes no lock and no syscall per packet. Syscalls per batch: the TX
 * kick that copy mode always needs (the kernel sends at most 32 frames per
 * kick, so a batch of more gets a few) and the wakeups a zero-copy driver
 * asks for. A port belongs to one thread.
 *
 * The port loads no XDP program (XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD): the
 * caller's program redirects to it through an XSKMAP into which
 * xsk_port_register puts the socket at the key of its queue.
 */
#ifndef XWG_XSK_H
#define XWG_XSK_H

#include <stdbool.h>
#include <stdint.h>

#include "maps.h"

#define XSK_FRAME_SIZE XWG_XSK_FRAME_SIZE  /* include/maps.h: xdp_rx knows it */
#define XSK_FRAME_COUNT_DEFAULT 4096U
#define XSK_RING_SIZE_DEFAULT 2048U
/* Where xsk_frame_get puts the data of a fresh frame: the room in front
 * that received frames have too (XDP_PACKET_HEADROOM), for headers to be
 * prepended in place. */
#define XSK_FRAME_HEADROOM (XWG_XSK_FRAME_SIZE - XWG_XSK_RX_FRAME_MAX)

enum xsk_mode {
	XSK_MODE_COPY = 1,       /* the kernel copies each frame: any driver */
	XSK_MODE_ZEROCOPY = 2,   /* the driver DMAs into the UMEM */
};

enum xsk_bind {
	XSK_BIND_AUTO = 0,       /* zero-copy where the driver offers it */
	XSK_BIND_COPY,
	XSK_BIND_ZEROCOPY,       /* fail rather than copy */
};

struct xsk_port_config {
	const char *ifname;
	uint32_t queue;
	uint32_t frame_count;    /* 0: XSK_FRAME_COUNT_DEFAULT */
	uint32_t ring_size;      /* each ring; power of two; 0: default */
	enum xsk_bind bind;
};

/* A frame the caller owns: data points into the UMEM. For TX the caller
 * may move data within the frame and set len; the frame is the one data
 * points into (see xsk_frame_tailroom). */
struct xsk_frame {
	uint8_t *data;
	uint32_t len;
};

struct xsk_port_stats {
	/* Who owns the frames: the sum is frame_count. */
	uint32_t frame_count;
	uint32_t free;
	uint32_t fill;           /* fill ring or being received into */
	uint32_t caller;
	uint32_t tx;             /* TX ring until completed */
	/* Ours. */
	uint64_t rx_packets;
	uint64_t tx_packets;     /* submitted */
	uint64_t tx_completed;
	uint64_t tx_kicks;
	uint64_t tx_kick_errors; /* kicks that failed other than EAGAIN/EBUSY */
	uint64_t ownership_errors;
	/* The kernel's (XDP_STATISTICS). */
	uint64_t rx_dropped;
	uint64_t rx_invalid_descs;
	uint64_t tx_invalid_descs;
	uint64_t rx_ring_full;
	uint64_t rx_fill_ring_empty;
	uint64_t tx_ring_empty;
};

struct xsk_port;

/*
 * Creates the UMEM and the socket bound to cfg->ifname/cfg->queue, in
 * zero-copy or copy mode as cfg->bind says (AUTO tries zero-copy first and
 * logs why it fell back), and gives half the frames (at most a ring's
 * worth) to the fill ring. -errno on failure: -ENODEV no such interface,
 * -EINVAL bad queue or sizes, -EBUSY the queue has a socket already,
 * -EOPNOTSUPP zero-copy demanded but not offered, -EPERM no CAP_NET_RAW.
 */
int xsk_port_create(struct xsk_port **port, const struct xsk_port_config *cfg);
/* Closes the socket and unmaps the UMEM: every frame goes with it. */
void xsk_port_destroy(struct xsk_port *port);

int xsk_port_fd(const struct xsk_port *port);
uint32_t xsk_port_queue(const struct xsk_port *port);
enum xsk_mode xsk_port_mode(const struct xsk_port *port);
const char *xsk_mode_name(enum xsk_mode mode);

/* Puts the socket into (takes it out of) the XSKMAP xsks_map_fd at the key
 * of its queue. */
int xsk_port_register(struct xsk_port *port, int xsks_map_fd);
int xsk_port_unregister(struct xsk_port *port, int xsks_map_fd);

/* Receives up to max frames (refilling the fill ring first). The frames
 * are the caller's until put back or submitted. */
unsigned int xsk_rx_get(struct xsk_port *port, struct xsk_frame *frames,
			unsigned int max);
/* Descriptors waiting on the RX ring (what the next xsk_rx_get could take
 * and more). */
uint32_t xsk_rx_backlog(const struct xsk_port *port);
/* Gives the fill ring free frames up to its target; returns how many. */
unsigned int xsk_fill_refill(struct xsk_port *port);

/* Takes up to n free frames for the caller to build packets in: data at
 * XSK_FRAME_HEADROOM, len 0. Returns how many. */
unsigned int xsk_frame_get(struct xsk_port *port, struct xsk_frame *frames,
			   unsigned int n);
/* Gives the caller's frames back. -EINVAL (nothing given back) if any is
 * not the caller's. */
int xsk_frame_put(struct xsk_port *port, const struct xsk_frame *frames,
		  unsigned int n);

/*
 * Puts frames[0..n) on the TX ring and kicks the kernel as needed. Returns
 * how many were taken: always a prefix, fewer than n only when the ring is
 * full (the rest stay the caller's: resubmit or put them). -EINVAL
 * (nothing taken) if any frame is not the caller's or len does not fit it.
 * Reaps completions first.
 */
int xsk_tx_submit(struct xsk_port *port, const struct xsk_frame *frames,
		  unsigned int n);
/* Frees frames whose transmission completed, kicks again if the TX ring
 * still holds frames the kernel has not taken. Returns how many freed. */
unsigned int xsk_tx_complete(struct xsk_port *port);

/* Bytes from frame->data to the end of its frame. */
uint32_t xsk_frame_tailroom(const struct xsk_port *port,
			    const struct xsk_frame *frame);

/* Fills *stats (the kernel's part through getsockopt: not per packet). */
int xsk_port_stats_get(struct xsk_port *port, struct xsk_port_stats *stats);

#endif
