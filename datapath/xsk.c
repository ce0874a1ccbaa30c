// SPDX-License-Identifier: GPL-2.0
/*
 * AF_XDP ports (see xsk.h). The rings are libxdp's; the frame bookkeeping
 * is a stack of free frame addresses plus one state byte per frame.
 *
 * UMEM frames are aligned (XSK_FRAME_SIZE each), so a descriptor's address
 * names its frame by its high bits whatever the offset of the data in it
 * (the kernel puts received data XDP_PACKET_HEADROOM into the frame).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_xdp.h>
#include <net/if.h>

#include <bpf/bpf.h>
#include <xdp/xsk.h>

#include "base/log.h"
#include "datapath/xsk.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

/* The kernel's TX budget per sendmsg in copy mode (TX_BATCH_SIZE in
 * net/xdp/xsk.c): one kick sends at most this many frames. */
#define COPY_TX_PER_KICK 32U
/* Ring operations are done this many descriptors at a time. */
#define RING_BATCH 64U
/* A queue stays busy for a moment after its previous socket closed (the
 * kernel releases the UMEM from a workqueue): a restarting daemon retries
 * for up to BUSY_TRIES * BUSY_WAIT_US. */
#define BUSY_TRIES 50
#define BUSY_WAIT_US 10000

enum frame_state {
	FRAME_FREE = 0,
	FRAME_FILL,
	FRAME_CALLER,
	FRAME_TX,
};

struct xsk_port {
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	uint8_t *area;
	uint64_t area_size;
	int fd;
	uint32_t queue;
	enum xsk_mode mode;
	uint32_t frame_count;
	uint32_t ring_size;
	uint32_t fill_target;
	/* Ownership. */
	uint8_t *state;          /* enum frame_state per frame */
	uint64_t *free_addrs;    /* stack of free frames' addresses */
	uint32_t n_free, n_fill, n_caller, n_tx;
	struct xsk_port_stats stats;
};

static bool is_power_of_two(uint32_t v)
{
	return v && !(v & (v - 1));
}

static inline uint32_t frame_of_addr(uint64_t addr)
{
	return (uint32_t)(addr / XSK_FRAME_SIZE);
}

/* The frame data points into, or UINT32_MAX if it points outside. */
static inline uint32_t frame_of_data(const struct xsk_port *port,
				     const uint8_t *data)
{
	uint64_t off;

	if (data < port->area || data >= port->area + port->area_size)
		return UINT32_MAX;
	off = (uint64_t)(data - port->area);
	return frame_of_addr(off);
}

/* --- setup --------------------------------------------------------------- */

static int socket_open(struct xsk_port *port, const struct xsk_port_config *cfg,
		       bool zerocopy)
{
	struct xsk_umem_config ucfg = {
		.fill_size = port->ring_size,
		.comp_size = port->ring_size,
		.frame_size = XSK_FRAME_SIZE,
		.frame_headroom = 0,
		.flags = 0,
	};
	struct xsk_socket_config scfg = {
		.rx_size = port->ring_size,
		.tx_size = port->ring_size,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = 0,
		.bind_flags = XDP_USE_NEED_WAKEUP |
			      (zerocopy ? XDP_ZEROCOPY : XDP_COPY),
	};
	int ret;

	ret = xsk_umem__create(&port->umem, port->area, port->area_size,
			       &port->fill, &port->comp, &ucfg);
	if (ret)
		return ret < 0 ? ret : -ret;
	ret = xsk_socket__create(&port->xsk, cfg->ifname, cfg->queue, port->umem,
				 &port->rx, &port->tx, &scfg);
	if (ret) {
		port->xsk = NULL;
		xsk_umem__delete(port->umem);
		port->umem = NULL;
		return ret < 0 ? ret : -ret;
	}
	port->mode = zerocopy ? XSK_MODE_ZEROCOPY : XSK_MODE_COPY;
	port->fd = xsk_socket__fd(port->xsk);
	return 0;
}

static int socket_open_patiently(struct xsk_port *port,
				 const struct xsk_port_config *cfg, bool zerocopy)
{
	int tries = 0, ret;

	while ((ret = socket_open(port, cfg, zerocopy)) == -EBUSY &&
	       ++tries < BUSY_TRIES)
		usleep(BUSY_WAIT_US);
	return ret;
}

int xsk_port_create(struct xsk_port **out, const struct xsk_port_config *cfg)
{
	struct xsk_port *port;
	uint32_t i;
	int ret;

	if (!cfg || !cfg->ifname)
		return -EINVAL;
	if (!if_nametoindex(cfg->ifname))
		return -ENODEV;
	port = calloc(1, sizeof(*port));
	if (!port)
		return -ENOMEM;
	port->fd = -1;
	port->queue = cfg->queue;
	port->frame_count = cfg->frame_count ? cfg->frame_count :
			    XSK_FRAME_COUNT_DEFAULT;
	port->ring_size = cfg->ring_size ? cfg->ring_size : XSK_RING_SIZE_DEFAULT;
	if (!is_power_of_two(port->ring_size) || port->frame_count < 2 ||
	    port->frame_count > (1U << 20)) {
		ret = -EINVAL;
		goto err_free;
	}
	/* Half the frames for receiving, at most what the fill ring holds;
	 * the rest for transmitting. */
	port->fill_target = port->frame_count / 2;
	if (port->fill_target > port->ring_size)
		port->fill_target = port->ring_size;

	port->state = calloc(port->frame_count, sizeof(*port->state));
	port->free_addrs = calloc(port->frame_count, sizeof(*port->free_addrs));
	if (!port->state || !port->free_addrs) {
		ret = -ENOMEM;
		goto err_free;
	}
	port->area_size = (uint64_t)port->frame_count * XSK_FRAME_SIZE;
	port->area = mmap(NULL, port->area_size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (port->area == MAP_FAILED) {
		port->area = NULL;
		ret = -errno;
		goto err_free;
	}

	ret = -EOPNOTSUPP;
	if (cfg->bind != XSK_BIND_COPY) {
		ret = socket_open_patiently(port, cfg, true);
		if (ret && cfg->bind == XSK_BIND_AUTO)
			log_debug("%s queue %u: no AF_XDP zero-copy (%s), using copy mode",
				  cfg->ifname, cfg->queue, strerror(-ret));
	}
	if (ret && cfg->bind != XSK_BIND_ZEROCOPY)
		ret = socket_open_patiently(port, cfg, false);
	if (ret)
		goto err_unmap;

	for (i = 0; i < port->frame_count; i++)
		port->free_addrs[i] =
			(uint64_t)(port->frame_count - 1 - i) * XSK_FRAME_SIZE;
	port->n_free = port->frame_count;
	xsk_fill_refill(port);
	*out = port;
	return 0;

err_unmap:
	munmap(port->area, port->area_size);
err_free:
	free(port->state);
	free(port->free_addrs);
	free(port);
	return ret;
}

void xsk_port_destroy(struct xsk_port *port)
{
	if (!port)
		return;
	/* The socket first: the UMEM is busy while a socket uses it. */
	xsk_socket__delete(port->xsk);
	xsk_umem__delete(port->umem);
	munmap(port->area, port->area_size);
	free(port->state);
	free(port->free_addrs);
	free(port);
}

int xsk_port_fd(const struct xsk_port *port)
{
	return port->fd;
}

uint32_t xsk_port_queue(const struct xsk_port *port)
{
	return port->queue;
}

enum xsk_mode xsk_port_mode(const struct xsk_port *port)
{
	return port->mode;
}

const char *xsk_mode_name(enum xsk_mode mode)
{
	switch (mode) {
	case XSK_MODE_COPY:
		return "copy";
	case XSK_MODE_ZEROCOPY:
		return "zero-copy";
	}
	return "unknown";
}

int xsk_port_register(struct xsk_port *port, int xsks_map_fd)
{
	uint32_t key = port->queue;
	int fd = port->fd;

	return bpf_map_update_elem(xsks_map_fd, &key, &fd, BPF_ANY) ? -errno : 0;
}

int xsk_port_unregister(struct xsk_port *port, int xsks_map_fd)
{
	uint32_t key = port->queue;

	if (bpf_map_delete_elem(xsks_map_fd, &key))
		return errno == ENOENT ? 0 : -errno;
	return 0;
}

/* --- receiving ----------------------------------------------------------- */

unsigned int xsk_fill_refill(struct xsk_port *port)
{
	uint32_t want, idx = 0, i;

	if (port->n_fill >= port->fill_target)
		return 0;
	want = port->fill_target - port->n_fill;
	if (want > port->n_free)
		want = port->n_free;
	if (!want)
		return 0;
	/* Reserve is all-or-nothing: ask for what the ring can take. */
	i = xsk_prod_nb_free(&port->fill, want);
	if (want > i)
		want = i;
	if (!want || xsk_ring_prod__reserve(&port->fill, want, &idx) != want)
		return 0;
	for (i = 0; i < want; i++) {
		uint64_t addr = port->free_addrs[--port->n_free];

		port->state[frame_of_addr(addr)] = FRAME_FILL;
		*xsk_ring_prod__fill_addr(&port->fill, idx + i) = addr;
	}
	xsk_ring_prod__submit(&port->fill, want);
	port->n_fill += want;
	/* Zero-copy drivers sleep on an empty fill ring until woken. */
	if (xsk_ring_prod__needs_wakeup(&port->fill))
		(void)recvfrom(port->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	return want;
}

unsigned int xsk_rx_get(struct xsk_port *port, struct xsk_frame *frames,
			unsigned int max)
{
	uint32_t idx = 0, n, i, got = 0;

	xsk_fill_refill(port);
	n = xsk_ring_cons__peek(&port->rx, max, &idx);
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&port->rx, idx + i);
		uint32_t f = frame_of_addr(d->addr);

		/* Only a frame we gave the fill ring can come back. */
		if (f >= port->frame_count || port->state[f] != FRAME_FILL) {
			port->stats.ownership_errors++;
			continue;
		}
		port->state[f] = FRAME_CALLER;
		port->n_fill--;
		frames[got].data = port->area + d->addr;
		frames[got].len = d->len;
		got++;
	}
	xsk_ring_cons__release(&port->rx, n);
	port->n_caller += got;
	port->stats.rx_packets += got;
	return got;
}

uint32_t xsk_rx_backlog(const struct xsk_port *port)
{
	return __atomic_load_n(port->rx.producer, __ATOMIC_ACQUIRE) - port->rx.cached_cons;
}

/* --- frames -------------------------------------------------------------- */

unsigned int xsk_frame_get(struct xsk_port *port, struct xsk_frame *frames,
			   unsigned int n)
{
	unsigned int i;

	if (n > port->n_free)
		n = port->n_free;
	for (i = 0; i < n; i++) {
		uint64_t addr = port->free_addrs[--port->n_free];

		port->state[frame_of_addr(addr)] = FRAME_CALLER;
		frames[i].data = port->area + addr + XSK_FRAME_HEADROOM;
		frames[i].len = 0;
	}
	port->n_caller += n;
	return n;
}

/* Marks frames[0..n) `to` if they are all the caller's; otherwise leaves
 * them as they were and returns false. A frame twice in the batch fails the
 * second time. */
static bool take_from_caller(struct xsk_port *port,
			     const struct xsk_frame *frames, unsigned int n,
			     enum frame_state to, bool check_len)
{
	unsigned int i, j;

	for (i = 0; i < n; i++) {
		uint32_t f = frame_of_data(port, frames[i].data);

		if (f >= port->frame_count || port->state[f] != FRAME_CALLER ||
		    (check_len && (frames[i].len == 0 ||
				   frames[i].len > xsk_frame_tailroom(port, &frames[i]))))
			goto undo;
		port->state[f] = to;
	}
	return true;
undo:
	for (j = 0; j < i; j++)
		port->state[frame_of_data(port, frames[j].data)] = FRAME_CALLER;
	port->stats.ownership_errors++;
	return false;
}

int xsk_frame_put(struct xsk_port *port, const struct xsk_frame *frames,
		  unsigned int n)
{
	unsigned int i;

	if (!take_from_caller(port, frames, n, FRAME_FREE, false))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		uint32_t f = frame_of_data(port, frames[i].data);

		port->free_addrs[port->n_free++] = (uint64_t)f * XSK_FRAME_SIZE;
	}
	port->n_caller -= n;
	return 0;
}

uint32_t xsk_frame_tailroom(const struct xsk_port *port,
			    const struct xsk_frame *frame)
{
	uint64_t off = (uint64_t)(frame->data - port->area);

	return XSK_FRAME_SIZE - (uint32_t)(off % XSK_FRAME_SIZE);
}

/* --- transmitting -------------------------------------------------------- */

/* Descriptors on the TX ring the kernel has not taken yet. */
static uint32_t tx_unsent(const struct xsk_port *port)
{
	return port->tx.cached_prod - __atomic_load_n(port->tx.consumer,
						      __ATOMIC_ACQUIRE);
}

/* Copy mode sends only inside sendmsg, at most COPY_TX_PER_KICK frames
 * per call; zero-copy drivers need a kick only when they ask for one. */
static void tx_kick(struct xsk_port *port)
{
	uint32_t kicks, unsent;

	if (port->mode == XSK_MODE_ZEROCOPY &&
	    !xsk_ring_prod__needs_wakeup(&port->tx))
		return;
	unsent = tx_unsent(port);
	kicks = port->mode == XSK_MODE_COPY ?
		(unsent + COPY_TX_PER_KICK - 1) / COPY_TX_PER_KICK : 1;
	while (kicks-- && unsent) {
		port->stats.tx_kicks++;
		if (sendto(port->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0) {
			/* EAGAIN: budget used up or the device is busy;
			 * EBUSY: another kick is in progress. The frames
			 * stay on the ring for the next kick. */
			if (errno != EAGAIN && errno != EBUSY &&
			    errno != ENOBUFS)
				port->stats.tx_kick_errors++;
			if (errno != EAGAIN)
				break;
		}
		unsent = tx_unsent(port);
	}
}

unsigned int xsk_tx_complete(struct xsk_port *port)
{
	uint32_t idx = 0, n, i, total = 0;

	do {
		n = xsk_ring_cons__peek(&port->comp, RING_BATCH, &idx);
		for (i = 0; i < n; i++) {
			uint64_t addr = *xsk_ring_cons__comp_addr(&port->comp, idx + i);
			uint32_t f = frame_of_addr(addr);

			if (f >= port->frame_count || port->state[f] != FRAME_TX) {
				port->stats.ownership_errors++;
				continue;
			}
			port->state[f] = FRAME_FREE;
			port->free_addrs[port->n_free++] = (uint64_t)f * XSK_FRAME_SIZE;
			port->n_tx--;
			total++;
		}
		xsk_ring_cons__release(&port->comp, n);
	} while (n == RING_BATCH);
	port->stats.tx_completed += total;
	if (tx_unsent(port))
		tx_kick(port);
	return total;
}

int xsk_tx_submit(struct xsk_port *port, const struct xsk_frame *frames,
		  unsigned int n)
{
	uint32_t idx = 0, room, i;

	if (!n)
		return 0;
	if (!take_from_caller(port, frames, n, FRAME_TX, true))
		return -EINVAL;
	xsk_tx_complete(port);
	/* Reserve is all-or-nothing: take what fits, a prefix; the rest
	 * stays the caller's. */
	room = xsk_prod_nb_free(&port->tx, n);
	if (room > n)
		room = n;
	if (room && xsk_ring_prod__reserve(&port->tx, room, &idx) != room)
		room = 0;
	for (i = room; i < n; i++)
		port->state[frame_of_data(port, frames[i].data)] = FRAME_CALLER;
	for (i = 0; i < room; i++) {
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&port->tx, idx + i);

		d->addr = (uint64_t)(frames[i].data - port->area);
		d->len = frames[i].len;
		d->options = 0;
	}
	if (room)
		xsk_ring_prod__submit(&port->tx, room);
	port->n_caller -= room;
	port->n_tx += room;
	port->stats.tx_packets += room;
	tx_kick(port);
	return (int)room;
}

/* --- statistics ---------------------------------------------------------- */

int xsk_port_stats_get(struct xsk_port *port, struct xsk_port_stats *stats)
{
	struct xdp_statistics xs;
	socklen_t len = sizeof(xs);

	*stats = port->stats;
	stats->frame_count = port->frame_count;
	stats->free = port->n_free;
	stats->fill = port->n_fill;
	stats->caller = port->n_caller;
	stats->tx = port->n_tx;
	memset(&xs, 0, sizeof(xs));
	if (getsockopt(port->fd, SOL_XDP, XDP_STATISTICS, &xs, &len))
		return -errno;
	stats->rx_dropped = xs.rx_dropped;
	stats->rx_invalid_descs = xs.rx_invalid_descs;
	stats->tx_invalid_descs = xs.tx_invalid_descs;
	stats->rx_ring_full = xs.rx_ring_full;
	stats->rx_fill_ring_empty = xs.rx_fill_ring_empty_descs;
	stats->tx_ring_empty = xs.tx_ring_empty_descs;
	return 0;
}
