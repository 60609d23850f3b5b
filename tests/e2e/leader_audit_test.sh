#!/usr/bin/env bash
# Leader election under a partition, proven from kubesim's audit log: two
# frugal-controller replicas, the leader cut off from the Lease (its renewals
# fail, everything else still works, so it could keep writing if it were
# careless) while a client keeps giving it work. The standby must take over,
# and the audit must show no write from the old leader after it lost the
# lease: none once its last successful renewal + lease duration has passed
# (when the lease expires for everyone), and none after the new leader's
# first write to the Lease. (As in client-go, a leader stops at the latest
# one retry period + renew deadline after its last renewal; the deadline
# must be shorter than the lease duration for that to be safe.)
# Usage: leader_audit_test.sh BUILD_BIN_DIR
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
BIN=${1:?usage: leader_audit_test.sh BUILD_BIN_DIR}
command -v jq >/dev/null || { echo "jq missing: hack/install-deps.sh installs it" >&2; exit 1; }

AUDIT="$E2E_TMP/audit.jsonl"
start_kubesim "$BIN" --audit-log "$AUDIT"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
LEASE_DURATION=4
LE=(--leader-elect --leader-election-lease-duration "$LEASE_DURATION" --leader-election-renew-deadline 2
  --leader-election-retry-period 0.5)
start_replica() {
  local name=$1
  "$BIN/frugal-controller" --kubeconfig "$KUBECONFIG" --enable-echo-controller --controllers none "${LE[@]}" \
    --leader-election-identity "$name" --metrics-bind-address "127.0.0.1:$(free_port)" \
    --health-probe-bind-address "127.0.0.1:$(free_port)" >"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.log" &
  E2E_PIDS+=($!)
  printf -v "PID_${name//-/_}" '%s' "$!"
}

k create -f - >/dev/null <<<'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"work","labels":{"frugal.dev/echo":"true"}},"data":{"n":"0"}}'
start_replica replica-a
start_replica replica-b
holder() { k get lease frugal-controller-leader -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
has_holder() { [[ -n "$(holder)" ]]; }
wait_until "a leader is elected" 30 has_holder
leader=$(holder)
if [[ "$leader" == replica-a ]]; then other=replica-b; else other=replica-a; fi
echo "  leader $leader, standby $other"

# Work for whoever leads: a change every 100 ms, each one reconciled (a patch).
(
  i=0
  while :; do
    i=$((i + 1))
    k patch configmap work --type=merge -p "{\"data\":{\"n\":\"$i\"}}" >/dev/null 2>&1
    sleep 0.1
  done
) &
WRITER=$!
E2E_PIDS+=($WRITER)

# Writes of a replica other than to its Lease (jq over the audit log).
wrote() { jq -e --arg ua "($1)" 'select((.userAgent | contains($ua)) and .resource == "configmaps")' "$AUDIT" >/dev/null 2>&1; }
wait_until "the leader reconciles the changes" 20 wrote "$leader"

echo "== cut $leader off from the Lease: its renewals fail with 500"
run_ok "inject the partition" admin PUT /kubesim/faults \
  "{\"rules\":[{\"verb\":\"update\",\"resource\":\"leases.coordination.k8s.io\",\"userAgent\":\"($leader)\",\"code\":500}]}"
other_holds() { [[ "$(holder)" == "$other" ]]; }
wait_until "the standby takes the lease" 30 other_holds
wait_until "the new leader reconciles" 20 wrote "$other"
kill "$WRITER" 2>/dev/null
wait "$WRITER" 2>/dev/null
run_ok "partition healed" admin DELETE /kubesim/faults

pid_var="PID_${leader//-/_}"
leader_pid=${!pid_var}
exited() { ! kill -0 "$leader_pid" 2>/dev/null; }
wait_until "the old leader exits after losing the lease" 20 exited
wait "$leader_pid"
code=$?
expect_eq "its exit code says it lost the lease (not a clean stop)" "1" "$code"
expect_contains "it logged why" "Lost the leader lease" "$(cat "$E2E_TMP/$leader.log")"

echo "== the audit"
# Seconds since the epoch, with microseconds, from the audit's RFC 3339 time.
JQ_TS='def ts: (.[0:19] + "Z" | fromdateiso8601) + ((.[19:26] | tonumber?) // 0);'
q() { jq -rs "$JQ_TS $1" "$AUDIT"; }
last_renewal=$(q "[.[] | select((.userAgent | contains(\"($leader)\")) and .resource == \"leases.coordination.k8s.io\" and .code < 300) | .time | ts] | max")
last_write=$(q "[.[] | select((.userAgent | contains(\"($leader)\")) and .resource != \"leases.coordination.k8s.io\") | .time | ts] | max")
failed_renewals=$(q "[.[] | select((.userAgent | contains(\"($leader)\")) and .resource == \"leases.coordination.k8s.io\" and .code == 500)] | length")
takeover=$(q "[.[] | select((.userAgent | contains(\"($other)\")) and .resource == \"leases.coordination.k8s.io\" and .code < 300) | .time | ts] | min")
echo "  $leader: last renewal $last_renewal, last other write $last_write, $failed_renewals failed renewals; $other took the lease at $takeover"
if [[ "$failed_renewals" -gt 0 ]]; then pass "the partition hit the leader's renewals"; else fail "no failed renewal in the audit"; fi
if [[ "$last_write" != null && "$last_renewal" != null && "$takeover" != null ]]; then
  pass "the audit has the leader's writes, renewals and the takeover"
else
  fail "audit incomplete: last_write=$last_write last_renewal=$last_renewal takeover=$takeover"
fi
before() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
expiry=$(awk -v r="$last_renewal" -v d="$LEASE_DURATION" 'BEGIN { printf "%.6f", r + d }')
if before "$last_write" "$expiry"; then
  pass "no write from $leader once its lease expired (last renewal + $LEASE_DURATION s)"
else
  fail "$leader wrote at $last_write, after its lease expired at $expiry"
fi
if before "$last_write" "$takeover"; then
  pass "no write from $leader after $other took the lease"
else
  fail "$leader wrote at $last_write, after $other took the lease at $takeover"
fi
leader_writes=$(q "[.[] | select((.userAgent | contains(\"($leader)\")) and .resource == \"configmaps\")] | length")
other_writes=$(q "[.[] | select((.userAgent | contains(\"($other)\")) and .resource == \"configmaps\")] | length")
echo "  configmap writes: $leader $leader_writes, $other $other_writes; $leader's last write came $(awk -v w="$last_write" -v r="$last_renewal" 'BEGIN { printf "%.3f", w - r }') s after its last renewal"

e2e_finish
