#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# shellcheck disable=SC2317 # the helpers below run through check and wait_for
#
# xwg-mesh's Kubernetes backend (mesh/k8s.c) against a fake API server that
# replays real-shaped Node responses (selftests/k8s/):
#
#   build/tools/k8s_probe  ──HTTPS, bearer token──▶  selftests/k8s/fake_apiserver.py
#   k8s_source_start, the snapshots,                 127.0.0.1:PORT, certificate from
#   k8s_publish_key, k8s_source_stop                 this test's own CA; logs every request
#
# The replay: a list in two pages; a watch with ADDED, MODIFIED (key
# rotated), DELETED and BOOKMARK; a watch resumed from the bookmark that
# gets an ERROR 410 event; a second, different list (after which the token
# rotates); a watch with one MODIFIED whose connection then drops; a watch
# answered with HTTP 410; a third list; a watch with an event over the 1 MiB
# line cap; a fourth list; a silent watch. The first PATCH gets a 500.
# No network namespace: loopback only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

require openssl python3 jq

PROBE=${K8S_PROBE:-$REPO_ROOT/build/tools/k8s_probe}	# K8S_PROBE: another build of it
FIXTURES=$SELFTESTS_DIR/k8s
NODE=kind-worker
PUBKEY=8dU3neuvTnRYkXZPP+8O2w2darDYxvW8DqTBXa4WmQM=
REQUESTS=$TMP_DIR/requests.jsonl
[[ -x $PROBE ]] || { fail "prerequisite" "$PROBE is missing (run make)"; exit 1; }

# file_has FILE TEXT: FILE contains TEXT (a fixed string).
file_has() {
	grep -qF -- "$2" "$1" || { echo "$(basename "$1") does not contain '$2'"; return 1; }
}

# stopped_fast FILE: the probe's "stopped in N ms" line says N < 2000.
stopped_fast() {
	local ms
	ms=$(sed -n 's/^stopped in \([0-9]*\) ms$/\1/p' "$1")
	if [[ -z $ms ]] || ((ms >= 2000)); then
		echo "stop took '${ms:-?}' ms, want < 2000"
		return 1
	fi
}

# same_file WANT GOT: the files are equal (a diff otherwise).
same_file() { diff -u "$1" "$2"; }

# requests_count: how many requests the fake API server logged.
requests_count() { if [[ -e $REQUESTS ]]; then wc -l <"$REQUESTS"; else echo 0; fi; }

# has_watches_from RV N: N watches from resourceVersion RV were requested.
has_watches_from() {
	local n
	n=$(jq -s --arg rv "$1" '[.[] | select(.query.watch == "1" and .query.resourceVersion == $rv)] | length' "$REQUESTS")
	((n >= $2)) || { echo "$n watches from resourceVersion $1, want $2"; return 1; }
}

# PROBE_PID, PROBE_OUT, PROBE_ERR after start_probe NAME TOKEN_FILE CA_FILE ARGS...:
# the probe in the background, holding (-H) until end_probe.
start_probe() {
	local name=$1 token=$2 ca=$3; shift 3
	PROBE_OUT=$TMP_DIR/$name.out
	PROBE_ERR=$LOG_DIR/$name.err
	env -u KUBERNETES_SERVICE_HOST -u KUBERNETES_SERVICE_PORT \
		XWG_K8S_API="https://127.0.0.1:$PORT" XWG_K8S_TOKEN_FILE="$token" \
		XWG_K8S_CA_FILE="$ca" NODE_NAME=$NODE LOG_LEVEL=info \
		"$PROBE" -H "$@" >"$PROBE_OUT" 2>"$PROBE_ERR" &
	PROBE_PID=$!
	_pids+=("$PROBE_PID")	# lib.sh's cleanup ends it should the test stop early
}

# end_probe: SIGINT the probe (it then stops the source) and wait up to 5 s
# for it to exit; its exit status is in PROBE_RC.
end_probe() {
	PROBE_RC=0
	kill -INT "$PROBE_PID" 2>/dev/null || true
	if ! wait_for 5 eval "! pid_is_alive $PROBE_PID"; then
		kill -KILL "$PROBE_PID" 2>/dev/null || true
		echo "end_probe: the probe ignored SIGINT for 5 s" >&2
	fi
	wait "$PROBE_PID" 2>/dev/null || PROBE_RC=$?
}

# ---------------------------------------------------------------------------
# A CA, the API server's certificate (for 127.0.0.1), a CA that did not
# sign it, and the service-account token.
(
	cd "$TMP_DIR"
	ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=xwg-selftest-ca" \
		-keyout ca.key -out ca.crt
	openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=xwg-selftest-other-ca" \
		-keyout ca2.key -out ca2.crt
	openssl req "${ec[@]}" -subj "/CN=kube-apiserver" -keyout server.key -out server.csr
	printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
		"keyUsage=digitalSignature" "extendedKeyUsage=serverAuth" >server.ext
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
		-extfile server.ext -out server.crt
) >"$LOG_DIR/openssl.log" 2>&1
TOKEN="eyJhbGciOiJSUzI1NiIsImtpZCI6InNlbGZ0ZXN0In0.$(openssl rand -hex 24).$RUN_ID"
printf '%s\n' "$TOKEN" >"$TMP_DIR/token"
printf 'eyJhbGciOiJSUzI1NiJ9.not-the-right-token.0\n' >"$TMP_DIR/wrong-token"
check "openssl made a server certificate the CA verifies" \
	openssl verify -CAfile "$TMP_DIR/ca.crt" "$TMP_DIR/server.crt"

bg_start "$LOG_DIR/apiserver.log" python3 "$FIXTURES/fake_apiserver.py" \
	--cert "$TMP_DIR/server.crt" --key "$TMP_DIR/server.key" \
	--token-file "$TMP_DIR/token" --log "$REQUESTS" --port-file "$TMP_DIR/port"
check_within 10 "the fake API server listens" test -s "$TMP_DIR/port"
PORT=$(<"$TMP_DIR/port")

# ---------------------------------------------------------------------------
# Test that the replay yields exactly the snapshots it implies: the paged
# list, each watch event, no snapshot for a BOOKMARK, a re-list after the
# ERROR 410 event, after the HTTP 410 and after the oversized event, each
# re-list replacing the state.
start_probe main "$TMP_DIR/token" "$TMP_DIR/ca.crt" -n 8 -t 40 -k "$PUBKEY" -p 51820
check_within 40 "the probe saw 8 snapshots and published its key" \
	file_has "$PROBE_OUT" "publish ok"
check_within 5 "the source watches again after the fourth list (from its resourceVersion 1020)" \
	has_watches_from 1020 2
end_probe
check "the probe exited 0" test "$PROBE_RC" -eq 0
sed -n '/^snapshot \|^  /p' "$PROBE_OUT" >"$TMP_DIR/snapshots"
check "the snapshots are the ones the replay implies (selftests/k8s/snapshots.expected)" \
	same_file "$FIXTURES/snapshots.expected" "$TMP_DIR/snapshots"
check "stop returned within 2 s while a watch was open" stopped_fast "$PROBE_OUT"

# Test that the requests were the ones the replay calls for: the second page
# with the first page's continue token, the first watch from the list's
# resourceVersion, the next from the BOOKMARK's, a list after each 410 and
# after the oversized event, after the dropped connection a watch from the
# last event's resourceVersion, and each watch from the newest one.
cont=$(jq -r .metadata.continue "$FIXTURES/list1-page1.json")
cat >"$TMP_DIR/requests.expected" <<EOF
list limit=500 continue=-
list limit=500 continue=$cont
watch resourceVersion=1000 allowWatchBookmarks=true
watch resourceVersion=1004 allowWatchBookmarks=true
list limit=500 continue=-
watch resourceVersion=1010 allowWatchBookmarks=true
watch resourceVersion=1011 allowWatchBookmarks=true
list limit=500 continue=-
watch resourceVersion=1020 allowWatchBookmarks=true
list limit=500 continue=-
watch resourceVersion=1020 allowWatchBookmarks=true
EOF
jq -r 'select(.method == "GET") |
	if .query.watch == "1" then
		"watch resourceVersion=\(.query.resourceVersion) allowWatchBookmarks=\(.query.allowWatchBookmarks)"
	else
		"list limit=\(.query.limit) continue=\(.query.continue // "-")"
	end' "$REQUESTS" >"$TMP_DIR/requests.got"
check "the GET requests were the list/watch sequence the replay calls for" \
	same_file "$TMP_DIR/requests.expected" "$TMP_DIR/requests.got"
check "the source logged the ERROR 410 event and listed again" \
	file_has "$PROBE_ERR" "watch from resourceVersion 1004 expired (too old resource version: 1004 (1010)); listing again"
check "the source logged the HTTP 410 and listed again" \
	file_has "$PROBE_ERR" "watch from resourceVersion 1011: HTTP 410 Gone; listing again"
check "the source logged the dropped watch" \
	file_has "$PROBE_ERR" "kubernetes: watch nodes: Transferred a partial file"
check "the source logged the oversized event and listed again" \
	file_has "$PROBE_ERR" "watch: an event is longer than 1048576 bytes; listing again"
check "the source backed off after the drop and after the oversized event" \
	test "$(grep -c 'kubernetes: trying again in 1[0-9][0-9][0-9] ms' "$PROBE_ERR")" -eq 2

# Test that the key was published with exactly the JSON merge patch, the
# content type and the bearer token expected, retried after the 500, and
# that every request carried the token of the moment: the first one until
# it rotated at the second list, the new one after.
jq -c 'select(.method == "PATCH")' "$REQUESTS" >"$TMP_DIR/patches"
check "two PATCHes (one retry after the 500), on /api/v1/nodes/$NODE" \
	test "$(jq -r .path "$TMP_DIR/patches" | sort | uniq -c | awk '{print $1, $2}')" = "2 /api/v1/nodes/$NODE"
check "the 500 was logged with its Status message before the retry" \
	file_has "$PROBE_ERR" "publish key on node $NODE: HTTP 500: etcdserver: leader changed"
check "the PATCH body is the annotation merge patch" \
	test "$(jq -r .body "$TMP_DIR/patches" | sort -u)" = \
	"{\"metadata\":{\"annotations\":{\"xwg.dev/public-key\":\"$PUBKEY\",\"xwg.dev/listen-port\":\"51820\"}}}"
check "the PATCH content type is application/merge-patch+json" \
	test "$(jq -r '.headers["content-type"]' "$TMP_DIR/patches" | sort -u)" = "application/merge-patch+json"
check "the PATCH carries Authorization: Bearer <the rotated token>" \
	test "$(jq -r .headers.authorization "$TMP_DIR/patches" | sort -u)" = "Bearer $TOKEN-rotated"
check "every request carried the token of its moment (it was re-read after the rotation)" \
	test "$(jq -s 'all(.auth == "ok")' "$REQUESTS")" = true
check "both tokens were used" \
	test "$(jq -r .headers.authorization "$REQUESTS" | sort -u | tr '\n' ' ')" = \
	"Bearer $TOKEN Bearer $TOKEN-rotated "

# Test that a bad annotation and a bad pod CIDR are logged naming the node
# and the field (the node itself was kept: see the snapshots), and that
# the token is in no output.
check "a bad key annotation is logged with the node's name" \
	file_has "$PROBE_ERR" "node kind-worker4: annotation xwg.dev/public-key is \"not-a-base64-key!\""
check "a bad pod CIDR is logged with the node's name" \
	file_has "$PROBE_ERR" "node kind-worker4: spec.podCIDRs entry \"10.244.400.0/24\" is not a CIDR"
check_not "the token appears in no output of the probe" \
	grep -qF -- "$TOKEN" "$PROBE_OUT" "$PROBE_ERR"

# ---------------------------------------------------------------------------
# Test that a refused token gives a clear error, both from the publish and
# from the list, and that stop still returns at once (during a backoff).
start_probe unauthorized "$TMP_DIR/wrong-token" "$TMP_DIR/ca.crt" -k "$PUBKEY"
check_within 10 "publish with a wrong token fails" file_has "$PROBE_OUT" "publish failed"
check_within 10 "the list with a wrong token fails and is logged" \
	file_has "$PROBE_ERR" "list nodes: HTTP 401: Unauthorized (the bearer token was refused"
end_probe
check "publish says HTTP 401, the Status message and what to check" \
	file_has "$PROBE_OUT" "publish failed: publish key on node $NODE: HTTP 401: Unauthorized (the bearer token was refused: check XWG_K8S_TOKEN_FILE"
check "the probe exited 1 (publish failed)" test "$PROBE_RC" -eq 1
check "stop returned within 2 s during a backoff" stopped_fast "$PROBE_OUT"

# Test that a CA that did not sign the server's certificate is refused with
# a clear error and that no request gets through.
before=$(requests_count)
start_probe wrong-ca "$TMP_DIR/token" "$TMP_DIR/ca2.crt" -k "$PUBKEY"
check_within 10 "publish with the wrong CA fails" file_has "$PROBE_OUT" "publish failed"
check_within 10 "the list with the wrong CA fails and is logged" \
	file_has "$PROBE_ERR" "list nodes: the API server's TLS certificate is not trusted by the CA in $TMP_DIR/ca2.crt"
end_probe
check "publish says the certificate is not trusted by that CA" \
	file_has "$PROBE_OUT" "publish failed: publish key: the API server's TLS certificate is not trusted by the CA in $TMP_DIR/ca2.crt"
check "no request got past TLS with the wrong CA" test "$(requests_count)" -eq "$before"
check "stop returned within 2 s (wrong CA)" stopped_fast "$PROBE_OUT"

report
