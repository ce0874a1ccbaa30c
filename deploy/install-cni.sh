#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The xwg-mesh DaemonSet's init container: install xwg-cni (and the standard
# plugins it chains with, when the node has none) into the node's CNI bin
# directory, then write the node's CNI configuration with its own pod
# CIDRs (spec.podCIDRs of its Node) as host-local ranges.
#
# Environment: NODE_NAME (required unless XWG_POD_CIDRS is set),
# XWG_POD_CIDRS (space-separated CIDRs: skip the API query),
# CNI_BIN_DIR (/host/opt/cni/bin), CNI_CONF_DIR (/host/etc/cni/net.d),
# CNI_CONF_NAME (10-xwg.conflist), CNI_CONF_TEMPLATE, XWG_PREFIX
# (/usr/local), PODCIDR_WAIT_SECONDS (300).
set -eu

XWG_PREFIX=${XWG_PREFIX:-/usr/local}
BIN_DIR=${CNI_BIN_DIR:-/host/opt/cni/bin}
CONF_DIR=${CNI_CONF_DIR:-/host/etc/cni/net.d}
CONF_NAME=${CNI_CONF_NAME:-10-xwg.conflist}
TEMPLATE=${CNI_CONF_TEMPLATE:-$XWG_PREFIX/share/xwg/10-xwg.conflist}
WAIT=${PODCIDR_WAIT_SECONDS:-300}
SA=/var/run/secrets/kubernetes.io/serviceaccount

say() { echo "install-cni: $*" >&2; }

# install_atomic SRC DST: replace DST in one rename, so that a runtime
# running the old binary at this moment is not disturbed.
install_atomic() {
	cp "$1" "$2.xwg-tmp" && chmod 0755 "$2.xwg-tmp" && mv -f "$2.xwg-tmp" "$2"
}

mkdir -p "$BIN_DIR" "$CONF_DIR"
install_atomic "$XWG_PREFIX/bin/xwg-cni" "$BIN_DIR/xwg-cni"
say "installed $BIN_DIR/xwg-cni"
for p in host-local loopback portmap; do
	if [ ! -x "$BIN_DIR/$p" ] && [ -x "/usr/lib/cni/$p" ]; then
		install_atomic "/usr/lib/cni/$p" "$BIN_DIR/$p"
		say "installed $BIN_DIR/$p (the node had none)"
	fi
done

# pod_cidrs: this node's spec.podCIDRs (or spec.podCIDR), one a line.
pod_cidrs() {
	host=$KUBERNETES_SERVICE_HOST
	case $host in *:*) host="[$host]" ;; esac
	curl -sS --fail --max-time 10 --cacert "$SA/ca.crt" \
		-H "Authorization: Bearer $(cat "$SA/token")" \
		"https://$host:$KUBERNETES_SERVICE_PORT/api/v1/nodes/$NODE_NAME" |
		jq -r '(.spec.podCIDRs // [.spec.podCIDR]) | .[] | select(. != null and . != "")'
}

cidrs=${XWG_POD_CIDRS:-}
if [ -z "$cidrs" ]; then
	: "${NODE_NAME:?NODE_NAME is not set: give it from the downward API (spec.nodeName)}"
	: "${KUBERNETES_SERVICE_HOST:?not running in a pod: set XWG_POD_CIDRS instead}"
	deadline=$(($(date +%s) + WAIT))
	while :; do
		cidrs=$(pod_cidrs || true)
		[ -n "$cidrs" ] && break
		if [ "$(date +%s)" -ge "$deadline" ]; then
			say "node $NODE_NAME has no spec.podCIDRs after $WAIT s:"
			say "start kube-controller-manager with --allocate-node-cidrs, or set XWG_POD_CIDRS"
			exit 1
		fi
		say "waiting for node $NODE_NAME to get spec.podCIDRs"
		sleep 5
	done
fi

# $cidrs is split into one CIDR a word on purpose.
# shellcheck disable=SC2086
ranges=$(printf '%s\n' $cidrs | jq -R . | jq -cs 'map([{subnet: .}])')
tmp="$CONF_DIR/.$CONF_NAME.xwg-tmp"
jq --argjson ranges "$ranges" '.plugins[0].ipam.ranges = $ranges' "$TEMPLATE" >"$tmp"
mv -f "$tmp" "$CONF_DIR/$CONF_NAME"
say "wrote $CONF_DIR/$CONF_NAME with pod CIDRs $(echo "$cidrs" | tr '\n' ' ')"
