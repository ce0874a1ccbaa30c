/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Ethernet frames on the fast path's AF_XDP sockets (datapath/xsk.h):
 *  - from the underlay, xdp_rx hands over UDP datagrams to our port; the
 *    daemon needs their payload, who sent them and to which address;
 *  - on the twin, what the stack sent out of wg0 is one IP packet behind an
 *    Ethernet header (tc_tx put the peer id in the source MAC), and
 *    decrypted packets go back the same way.
 * The parser trusts nothing: a frame reaches it before any authentication
 * (tests/fuzz/frame.c).
 */
#ifndef XWG_FRAME_H
#define XWG_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_ETH_LEN 14U

struct frame_udp {
	int family;               /* AF_INET or AF_INET6 */
	uint8_t src[16], dst[16]; /* IPv4 in the first 4 bytes */
	uint16_t sport, dport;    /* host order */
	size_t payload_off;       /* from the start of the frame */
	size_t payload_len;       /* from the UDP length */
};

/* Ethernet (one optional 802.1Q/802.1AD tag), IPv4 (options allowed, no
 * fragments) or IPv6 (UDP as the next header), UDP whose length fits the
 * frame (trailing bytes beyond it are Ethernet padding). False otherwise. */
bool frame_parse_udp(const uint8_t *frame, size_t len, struct frame_udp *out);

/* The peer id tc_tx wrote into the source MAC (bytes 2..5, big endian) of
 * a frame of at least FRAME_ETH_LEN bytes. */
uint32_t frame_peer_tag(const uint8_t *frame);

/* Writes an Ethernet header for an IP packet of the given version (4 or 6)
 * in the FRAME_ETH_LEN bytes at eth. */
void frame_eth_build(uint8_t *eth, const uint8_t dst[6], const uint8_t src[6],
		     unsigned int ip_version);

#endif
