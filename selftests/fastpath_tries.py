#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Compare the fast path's allowed-IPs tries with what `wg show` says.

    fastpath_tries.py PID IFNAME NETNS

PID is the xwgd serving IFNAME in NETNS; its pins are read with bpftool in
its mount namespace (where its bpffs is). Every (public key, prefix) pair of
`wg show IFNAME allowed-ips` must be in the tries (allowed_ips_v4/v6,
prefix -> peer id, the peer id's public key from the peers map) and nothing
else: exits 0 if they agree, 1 with the differences otherwise.
"""
import base64
import ipaddress
import json
import subprocess
import sys

PUBKEY_OFFSET = 56  # struct xwg_peer: endpoint 40, flags 4, pad 4, last_event_ns 8


def main():
    pid, ifname, ns = sys.argv[1:4]
    pins = f"/sys/fs/bpf/xwg/{ifname}"

    def bpftool(*args):
        out = subprocess.check_output(["nsenter", "-t", pid, "-m", "bpftool", "-j", *args])
        return json.loads(out)

    def raw(hexes):
        return bytes(int(x, 16) for x in hexes)

    entries = []
    for fam, n in (("v4", 4), ("v6", 16)):
        for e in bpftool("map", "dump", "pinned", f"{pins}/allowed_ips_{fam}"):
            k, v = raw(e["key"]), raw(e["value"])
            plen = int.from_bytes(k[:4], "little")
            net = ipaddress.ip_network((k[4:4 + n], plen))
            entries.append((int.from_bytes(v[:4], "little"), str(net)))
    keys = {}
    for peer_id in {p for p, _ in entries}:
        key = [str(b) for b in peer_id.to_bytes(4, "little")]
        v = raw(bpftool("map", "lookup", "pinned", f"{pins}/peers", "key", *key)["value"])
        keys[peer_id] = base64.b64encode(v[PUBKEY_OFFSET:PUBKEY_OFFSET + 32]).decode()
    got = {(keys[p], net) for p, net in entries}

    want = set()
    show = subprocess.check_output(["ip", "netns", "exec", ns, "wg", "show", ifname,
                                    "allowed-ips"], text=True)
    for line in show.splitlines():
        parts = line.split()
        for net in parts[1:]:
            if net != "(none)":
                want.add((parts[0], str(ipaddress.ip_network(net, strict=False))))
    if got == want:
        print(f"{len(got)} (peer, prefix) pairs agree")
        return 0
    missing, extra = sorted(want - got), sorted(got - want)
    print(f"tries: {len(got)} pairs, wg show: {len(want)}; missing {len(missing)}, "
          f"extra {len(extra)}")
    for pair in missing[:5]:
        print("  missing", *pair)
    for pair in extra[:5]:
        print("  extra  ", *pair)
    return 1


if __name__ == "__main__":
    sys.exit(main())
