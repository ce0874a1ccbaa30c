// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for datapath/offload.c, which cuts whatever the stack
 * (or anything that can write to the TUN device) hands us and coalesces
 * whatever peers send. The input is a virtio-net header (10 bytes, as
 * read from the TUN) and a packet. Checked:
 *
 *   - every segment is written into a buffer of exactly
 *     offload_seg_next_len bytes (ASan sees an overrun), has that length,
 *     and is a well-formed packet of the input's IP version: IPv4 header
 *     checksum, IP length = segment length; with GSO, TCP or UDP with a
 *     correct checksum and at most gso_size bytes after its headers;
 *   - no more than OFFLOAD_SEGMENTS_MAX segments, and a drop writes
 *     nothing;
 *   - the segments through offload_gro_flush: every output's iovecs sum
 *     to out->len, a super-packet is at most 65535 bytes and is taken by
 *     the segmenter again, which gives back the very same segments;
 *   - the packet bytes split by 2-byte lengths and coalesced as they are
 *     (any bytes: the coalescer must not trust them either).
 */
#include <endian.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "datapath/offload.h"
#include "tests/ref_csum.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void check_segment(const uint8_t *s, size_t n, unsigned int version, bool gso, size_t gso_size)
{
	size_t iph, l4h;
	unsigned int proto;
	uint32_t acc;

	if (n < 1 || s[0] >> 4 != version)
		abort();
	if (version == 4) {
		iph = (size_t)(s[0] & 15) * 4;
		if (n < 20 || iph < 20 || iph > n || get16(s + 2) != n)
			abort();
		proto = s[9];
		if (gso && ref_fold(ref_add(0, s, iph)) != 0xffff)
			abort();
		acc = ref_add(0, s + 12, 8);
	} else {
		iph = 40;
		if (n < 40 || get16(s + 4) + 40U != n)
			abort();
		proto = s[6];
		acc = ref_add(0, s + 8, 32);
	}
	if (!gso)
		return;
	if (proto == IPPROTO_TCP) {
		if (n - iph < 20)
			abort();
		l4h = (size_t)(s[iph + 12] >> 4) * 4;
	} else if (proto == IPPROTO_UDP) {
		l4h = 8;
		if (n - iph < 8 || get16(s + iph + 4) != n - iph || get16(s + iph + 6) == 0)
			abort();
	} else {
		abort();
	}
	if (l4h < 8 || iph + l4h > n || n - iph - l4h > gso_size)
		abort();
	acc += proto + (uint32_t)(n - iph);
	if (ref_fold(ref_add(acc, s + iph, n - iph)) != 0xffff)
		abort();
}

static uint8_t *segs[OFFLOAD_SEGMENTS_MAX];
static size_t seg_lens[OFFLOAD_SEGMENTS_MAX];
static unsigned int nsegs, next_seg;
static bool resegmenting;

/* Emit for the segments' round trip: a super-packet must cut back into
 * exactly the segments it was made of, in order. */
static int emit_check(void *ctx, const struct offload_gro_out *out)
{
	size_t sum = 0, off = 0;
	struct offload_seg_iter it;
	uint8_t *buf;
	int k;

	(void)ctx;
	if (out->iovcnt < 2 || out->iovcnt > (int)OFFLOAD_GRO_SEGMENTS_MAX + 1 ||
	    out->iov[0].iov_base != &out->vh || out->iov[0].iov_len != sizeof(out->vh) ||
	    out->packets != (unsigned int)out->iovcnt - 1)
		abort();
	for (k = 1; k < out->iovcnt; k++)
		sum += out->iov[k].iov_len;
	if (sum != out->len)
		abort();
	if (out->packets > 1 && out->len > 65535)
		abort();
	if (!resegmenting)
		return 0;
	buf = malloc(out->len ? out->len : 1);
	if (!buf)
		abort();
	for (k = 1; k < out->iovcnt; k++) {
		memcpy(buf + off, out->iov[k].iov_base, out->iov[k].iov_len);
		off += out->iov[k].iov_len;
	}
	if (offload_seg_begin(&it, &out->vh, buf, out->len) != OFFLOAD_OK)
		abort();
	while (offload_seg_remaining(&it)) {
		size_t n = offload_seg_next_len(&it);
		uint8_t *s = malloc(n ? n : 1);

		if (!s || next_seg >= nsegs || n != seg_lens[next_seg] ||
		    offload_seg_next(&it, s) != n || memcmp(s, segs[next_seg], n))
			abort();
		next_seg++;
		free(s);
	}
	free(buf);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct offload_gro_pkt pkts[OFFLOAD_SEGMENTS_MAX];
	struct virtio_net_hdr vh;
	struct offload_seg_iter it;
	uint8_t *pkt, *orig;
	size_t len, off;
	unsigned int k, n;

	if (size < sizeof(vh))
		return 0;
	memcpy(&vh, data, sizeof(vh));
	len = size - sizeof(vh);
	pkt = malloc(len ? len : 1);
	orig = malloc(len ? len : 1);
	if (!pkt || !orig)
		abort();
	memcpy(pkt, data + sizeof(vh), len);
	memcpy(orig, pkt, len);

	nsegs = 0;
	if (offload_seg_begin(&it, &vh, pkt, len) != OFFLOAD_OK) {
		if (memcmp(pkt, orig, len))
			abort();
	} else {
		size_t gso_size = le16toh(vh.gso_size);

		if (offload_seg_remaining(&it) > OFFLOAD_SEGMENTS_MAX)
			abort();
		while (offload_seg_remaining(&it)) {
			size_t want = offload_seg_next_len(&it);
			uint8_t *s = malloc(want ? want : 1);

			if (!s || nsegs >= OFFLOAD_SEGMENTS_MAX || want > len)
				abort();
			if (offload_seg_next(&it, s) != want)
				abort();
			check_segment(s, want, pkt[0] >> 4, it.is_gso, gso_size);
			segs[nsegs] = s;
			seg_lens[nsegs++] = want;
		}
		if (offload_seg_next_len(&it) != 0)
			abort();

		/* the segments back through the coalescer (copies: it may
		 * rewrite the head of each super-packet) */
		if (it.is_gso) {
			for (k = 0; k < nsegs; k++) {
				pkts[k].data = malloc(seg_lens[k]);
				if (!pkts[k].data)
					abort();
				memcpy(pkts[k].data, segs[k], seg_lens[k]);
				pkts[k].len = seg_lens[k];
			}
			next_seg = 0;
			resegmenting = true;
			offload_gro_flush(pkts, nsegs, true, emit_check, NULL);
			resegmenting = false;
			if (next_seg != nsegs)
				abort();
			for (k = 0; k < nsegs; k++)
				free(pkts[k].data);
		}
		for (k = 0; k < nsegs; k++)
			free(segs[k]);
	}

	/* The raw bytes as packets: [length (2 bytes)][packet]... */
	n = 0;
	off = 0;
	while (off + 2 <= len && n < OFFLOAD_SEGMENTS_MAX) {
		size_t plen = get16(orig + off);

		off += 2;
		if (plen > len - off)
			plen = len - off;
		pkts[n].data = malloc(plen ? plen : 1);
		if (!pkts[n].data)
			abort();
		memcpy(pkts[n].data, orig + off, plen);
		pkts[n++].len = plen;
		off += plen;
	}
	offload_gro_flush(pkts, n, vh.flags & 1, emit_check, NULL);
	for (k = 0; k < n; k++)
		free(pkts[k].data);
	free(pkt);
	free(orig);
	return 0;
}
