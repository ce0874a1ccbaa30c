#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # helpers below run through check and wait_for
# shellcheck disable=SC2016,SC2034 # eval '...' strings (and the variables
# they name) expand when the check runs
# xwg-mesh --kubernetes end to end: the agent (and the xwgd it starts) in a
# node namespace, against a fake API server in the same namespace that
# keeps a store of Nodes (selftests/k8s_agent/apiserver.py, which reuses
# selftests/k8s/fake_apiserver.py's HTTPS, token check and request log).
#
#   ┌─ $ns1 (node-a) ──────────────────────────────────────────────────────┐
#   │  build/xwg-mesh --kubernetes ──HTTPS, token──▶ apiserver.py           │
#   │    └─ build/xwgd $IF              127.0.0.1:PORT, this test's own CA  │
#   │  veth u1 192.168.243.1/24 (node-a's InternalIP: the MTU's underlay)  │
#   └──────────────────────────────────────────────────────────────────────┘
#
# The store: node-a (this node, no key yet), node-b and node-c (keys
# annotated, pod CIDRs, InternalIPs). The agent must make node-b and node-c
# its peers and PATCH its own key onto node-a; then node-c's key changes
# (a MODIFIED event) and node-b goes (DELETED), each when the test says.
set -euo pipefail
# shellcheck source=selftests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require ip wg jq curl openssl python3

echo "== k8s_agent.sh: XWGD=${XWGD:-build/xwgd}"
require_impls "${XWGD:-build/xwgd}"
XWGD=$(impl_path "${XWGD:-build/xwgd}")
MESH=${XWG_MESH:-$REPO_ROOT/build/xwg-mesh}	# XWG_MESH=build/san/xwg-mesh: under ASan
[[ -x $MESH ]] || { fail "prerequisite" "$MESH is missing: run make"; exit 1; }
FIXTURES=$SELFTESTS_DIR/k8s_agent
IF=$(tunnel_name 1)
REQUESTS=$TMP_DIR/requests.jsonl
METRICS=127.0.0.1:9586	# free: nothing else listens on it in a new namespace

# ---------------------------------------------------------------------------
# Helpers.

# peers_are KEY...: exactly these peers on $IF (any order).
peers_are() {
	local got want
	got=$(ip netns exec "$ns1" wg show "$IF" peers | sort | xargs) || return 1
	want=$(printf '%s\n' "$@" | sort | xargs)
	[[ $got == "$want" ]] || { echo "peers are '$got', want '$want'"; return 1; }
}

# peer_is KEY ENDPOINT ALLOWED-IP...: the peer's endpoint and allowed IPs
# (any order).
peer_is() {
	local key=$1 endpoint=$2 got want; shift 2
	endpoint_is "$ns1" "$IF" "$key" "$endpoint" || return 1
	got=$(wg_peer_value "$ns1" "$IF" "$key" allowed-ips | tr ' ' '\n' | sort | xargs) || return 1
	want=$(printf '%s\n' "$@" | sort | xargs)
	[[ $got == "$want" ]] || { echo "allowed IPs of ${key:0:8}... are '$got', want '$want'"; return 1; }
}

# patches: the PATCH requests the server logged, one JSON object a line.
patches() { jq -c 'select(.method == "PATCH")' "$REQUESTS"; }

# patched_key: the public key of the last PATCH's body ("" if none).
patched_key() {
	patches | tail -n 1 | jq -r '.body | fromjson | .metadata.annotations["xwg.dev/public-key"] // ""'
}

# metrics_get: the agent's /metrics page into $TMP_DIR/metrics.
metrics_get() { ip netns exec "$ns1" curl -sf --max-time 5 "http://$METRICS/metrics" >"$TMP_DIR/metrics"; }

# has_series NAME NODE KEY: a per-peer series of NAME for NODE with KEY.
has_series() {
	grep -qE "^$1\{interface=\"$IF\",public_key=\"${3//+/\\+}\",node=\"$2\"\} [0-9]+$" "$TMP_DIR/metrics" ||
		{ echo "no $1 series for $2 (${3:0:8}...)"; return 1; }
}

mtu_is() {
	local m
	m=$(ip -n "$ns1" -j link show dev "$IF" | jq -r '.[0].mtu') || m=
	[[ $m == "$1" ]] || { echo "MTU of $IF is ${m:-?}, want $1"; return 1; }
}

# ---------------------------------------------------------------------------
# The node, the credentials and the API server.

ns_create "$ns1"
veth_link "$ns1" u1 "$ns1" u1p
addr_add "$ns1" u1 192.168.243.1/24

(
	cd "$TMP_DIR"
	ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=xwg-selftest-ca" -keyout ca.key -out ca.crt
	openssl req "${ec[@]}" -subj "/CN=kube-apiserver" -keyout server.key -out server.csr
	printf '%s\n' "subjectAltName=IP:127.0.0.1" "extendedKeyUsage=serverAuth" >server.ext
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
		-extfile server.ext -out server.crt
) >"$LOG_DIR/openssl.log" 2>&1
TOKEN="eyJhbGciOiJSUzI1NiJ9.$(openssl rand -hex 24).$RUN_ID"
printf '%s\n' "$TOKEN" >"$TMP_DIR/token"

KEY_B=$(wg genkey | wg pubkey)
KEY_C=$(wg genkey | wg pubkey)
KEY_C2=$(wg genkey | wg pubkey)
for f in nodes.json events.jsonl; do
	sed -e "s|@KEY_B@|$KEY_B|; s|@KEY_C@|$KEY_C|; s|@KEY_C2@|$KEY_C2|" "$FIXTURES/$f" >"$TMP_DIR/$f"
done

bg_start "$LOG_DIR/apiserver.log" ip netns exec "$ns1" python3 "$FIXTURES/apiserver.py" \
	--cert "$TMP_DIR/server.crt" --key "$TMP_DIR/server.key" --token-file "$TMP_DIR/token" \
	--log "$REQUESTS" --port-file "$TMP_DIR/port" --nodes "$TMP_DIR/nodes.json" \
	--events "$TMP_DIR/events.jsonl" --go "$TMP_DIR/go"
SERVER=$BG_PID
wait_for 10 test -s "$TMP_DIR/port" ||
	{ fail "the fake API server listens" "no port after 10 s: $(tail -n 3 "$LOG_DIR/apiserver.log")"; exit 1; }
PORT=$(<"$TMP_DIR/port")

# ---------------------------------------------------------------------------
# Test that the agent makes the annotated nodes its peers: pod CIDRs and
# every InternalIP as allowed IPs, the first InternalIP (not the ExternalIP
# listed before it) and the annotated port (51820 without one) as endpoint.
track_ifname "$IF"
bg_start "$LOG_DIR/mesh.log" ip netns exec "$ns1" env -u KUBERNETES_SERVICE_HOST \
	-u KUBERNETES_SERVICE_PORT XWG_K8S_API="https://127.0.0.1:$PORT" \
	XWG_K8S_TOKEN_FILE="$TMP_DIR/token" XWG_K8S_CA_FILE="$TMP_DIR/ca.crt" NODE_NAME=node-a \
	LOG_LEVEL=info "$MESH" -f --kubernetes --interface "$IF" --node-name node-a \
	--key-file "$TMP_DIR/key" --metrics "$METRICS" --xwgd "$XWGD"
AGENT=$BG_PID

check_within 15 "the peers are node-b and node-c (node-a, this node, is none)" peers_are "$KEY_B" "$KEY_C"
check "node-b: endpoint its first InternalIP:51820, allowed IPs its pod CIDRs and InternalIPs" \
	peer_is "$KEY_B" 192.168.243.2:51820 \
	10.244.2.0/24 fd00:10:244:2::/64 192.168.243.2/32 192.168.243.12/32
check "node-c: endpoint its InternalIP and annotated port 51821, allowed IPs its pod CIDR and InternalIP" \
	peer_is "$KEY_C" 192.168.243.3:51821 10.244.3.0/24 192.168.243.3/32
check_within 10 "the MTU is node-a's underlay (1500) minus 60" mtu_is 1440

# Test that the agent published its key on its own Node: a JSON merge
# patch of the annotations, with the service account's token.
check_within 10 "the agent PATCHed its Node" eval '[[ -n $(patched_key) ]]'
check "the key file is private (0600)" eval '[[ $(stat -c %a "$TMP_DIR/key") == 600 ]]'
check "every PATCH went to /api/v1/nodes/node-a" \
	eval '[[ $(patches | jq -r .path | sort -u) == /api/v1/nodes/node-a ]]'
check "every PATCH is application/merge-patch+json" \
	eval '[[ $(patches | jq -r ".headers[\"content-type\"]" | sort -u) == application/merge-patch+json ]]'
check "every PATCH carries Authorization: Bearer <the token>" \
	eval '[[ $(patches | jq -r .headers.authorization | sort -u) == "Bearer $TOKEN" ]]'
check "the PATCHed xwg.dev/public-key is \`wg pubkey\` of the key file" \
	eval '[[ $(patched_key) == "$(wg pubkey <"$TMP_DIR/key")" ]]'
check "the PATCH publishes the listen port too" \
	eval '[[ $(patches | tail -n 1 | jq -r ".body | fromjson | .metadata.annotations[\"xwg.dev/listen-port\"]") == 51820 ]]'

# Test that /metrics has a series per peer, named after its node.
check "/metrics answers" metrics_get
check_promtool "promtool check metrics finds nothing in /metrics" "$TMP_DIR/metrics"
check "/metrics has node-b's received bytes" has_series xwg_peer_receive_bytes_total node-b "$KEY_B"
check "/metrics has node-c's transmitted bytes" has_series xwg_peer_transmit_bytes_total node-c "$KEY_C"
check "/metrics counts 2 peers" grep -qx "xwg_mesh_peers{interface=\"$IF\"} 2" "$TMP_DIR/metrics"

# ---------------------------------------------------------------------------
# Test that a MODIFIED event with a new key replaces the peer (same allowed
# IPs and endpoint) and leaves the other alone, then that a DELETED event
# removes a peer.
touch "$TMP_DIR/go.1"
check_within 10 "after node-c's MODIFIED event its old key is gone and the new one a peer" \
	peers_are "$KEY_B" "$KEY_C2"
check "node-c's new key has node-c's endpoint and allowed IPs" \
	peer_is "$KEY_C2" 192.168.243.3:51821 10.244.3.0/24 192.168.243.3/32
check "node-b is unchanged" peer_is "$KEY_B" 192.168.243.2:51820 \
	10.244.2.0/24 fd00:10:244:2::/64 192.168.243.2/32 192.168.243.12/32
touch "$TMP_DIR/go.2"
check_within 10 "after node-b's DELETED event only node-c is a peer" peers_are "$KEY_C2"
check "/metrics follows: node-c's new key, no node-b" \
	eval 'metrics_get && has_series xwg_peer_receive_bytes_total node-c "$KEY_C2" &&
		! grep -q "node=\"node-b\"" "$TMP_DIR/metrics"'

# Test that the agent did all this from one list and one watch (the
# changes arrived as events: no re-list) and always with the token. The
# store's resourceVersion starts at 4100 and each PATCH moves it on by one,
# so the watch must start from 4100 plus the PATCHes that came before the
# list (the agent may publish its key before or after listing).
gets_are_one_list_and_one_watch() {
	local got want
	got=$(jq -r 'select(.method == "GET") | .query |
		if .watch then "watch \(.resourceVersion)" else "list" end' "$REQUESTS" | xargs)
	want="list watch $((4100 + $(jq -s '[limit(1; .[] | select(.method == "GET")) as $l
		| .[] | select(.method == "PATCH" and .seq < $l.seq)] | length' "$REQUESTS")))"
	[[ $got == "$want" ]] || { echo "the GETs were '$got', want '$want'"; return 1; }
}
check "the GETs were one list and one watch from the list's resourceVersion" \
	gets_are_one_list_and_one_watch
check "every request's token was accepted" eval '[[ $(jq -s "all(.auth == \"ok\")" "$REQUESTS") == true ]]'
check_not "the token is in no log" grep -rqF -- "$TOKEN" "$LOG_DIR"

# ---------------------------------------------------------------------------
# Test that SIGTERM stops the agent within 5 s with status 0, and the xwgd
# it started and its interface with it.
XWGD_PID=$(ps -o pid= --ppid "$AGENT" | xargs || true)
check "the agent started an xwgd" eval '[[ $XWGD_PID =~ ^[0-9]+$ ]] && grep -qz "xwgd" "/proc/$XWGD_PID/cmdline"'
kill -TERM "$AGENT"
check_within 5 "the agent exits within 5 s of SIGTERM" eval '! pid_is_alive "$AGENT"'
pid_is_alive "$AGENT" && kill -KILL "$AGENT"
rc=0
wait "$AGENT" || rc=$?
check "the agent exited with status 0" test "$rc" -eq 0
check "its xwgd is gone" eval '[[ -n $XWGD_PID ]] && ! pid_is_alive "$XWGD_PID"'
check "nothing but the API server is left in the namespace" \
	eval '[[ $(ip netns pids "$ns1" | xargs) == "$SERVER" ]]'
check_within 2 "its interface and socket are gone" \
	eval '! ip -n "$ns1" link show dev "$IF" >/dev/null 2>&1 && [[ ! -e $WG_RUN_DIR/$IF.sock ]]'
check "its rule is gone" eval '[[ $(ip -n "$ns1" rule show) != *51820* ]]'
bg_stop "$SERVER"

report
