// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_twin: on wg0x, the hidden end of the wg0 veth pair. Every frame the
 * stack sends out of wg0 arrives here, tagged by tc_tx with its peer in the
 * source MAC; all of it goes to the AF_XDP socket of this queue (xsks_tx),
 * where the crypto pool encrypts or stages it. Nothing else listens on
 * wg0x, so a frame without a socket is dropped and counted (TX_NO_SOCKET).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "maps.bpf.h"

SEC("xdp")
int xwg_xdp_twin(struct xdp_md *ctx)
{
	__u32 reason = XWG_DROP_NONE;
	int action;

	action = bpf_redirect_map(&xsks_tx, ctx->rx_queue_index, XDP_DROP);
	if (action != XDP_REDIRECT)
		reason = XWG_DROP_TX_NO_SOCKET;

	if (reason != XWG_DROP_NONE)
		drop_count(reason);
	return action;
}

char LICENSE[] SEC("license") = "GPL";
