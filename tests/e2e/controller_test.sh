#!/usr/bin/env bash
# frugal-controller as a process against kubesim: health and readiness,
# metrics that promtool accepts, a reconcile through the echo test
# controller, leader election between two replicas (SIGKILL hands over,
# SIGTERM drains and exits 0).
# Usage: controller_test.sh BUILD_BIN_DIR
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
BIN=${1:?usage: controller_test.sh BUILD_BIN_DIR}

start_kubesim "$BIN"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }

# start_controller NAME EXTRA_ARGS...: starts a replica; sets NAME_PID, NAME_METRICS, NAME_HEALTH.
start_controller() {
  local name=$1
  shift
  local mport hport
  mport=$(free_port)
  hport=$(free_port)
  "$BIN/frugal-controller" --kubeconfig "$KUBECONFIG" \
    --metrics-bind-address "127.0.0.1:$mport" --health-probe-bind-address "127.0.0.1:$hport" \
    --enable-echo-controller --controllers none "$@" >"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.log" &
  local pid=$!
  E2E_PIDS+=($pid)
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_METRICS" '%s' "$mport"
  printf -v "${name}_HEALTH" '%s' "$hport"
}

ready() { curl -sf "http://127.0.0.1:$1/readyz" >/dev/null; }

echo "== one replica: probes, metrics, a reconcile"
start_controller one
wait_until "readyz turns 200 once caches sync" 20 ready "$one_HEALTH"
run_ok "healthz answers" curl -sf "http://127.0.0.1:$one_HEALTH/healthz"
k create -f - >/dev/null <<<'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"echo-me","labels":{"frugal.dev/echo":"true"}},"data":{"a":"1"}}'
annotated() { [[ -n "$(k get configmap echo-me -o jsonpath='{.metadata.annotations.frugal\.dev/echo-of}')" ]]; }
wait_until "the echo controller annotated the ConfigMap" 20 annotated
first=$(k get configmap echo-me -o jsonpath='{.metadata.annotations.frugal\.dev/echo-of}')
k patch configmap echo-me --type=merge -p '{"data":{"a":"2"}}' >/dev/null
changed() { [[ "$(k get configmap echo-me -o jsonpath='{.metadata.annotations.frugal\.dev/echo-of}')" != "$first" ]]; }
wait_until "a data change is reconciled again" 20 changed
run_ok "scrape /metrics" curl -sf "http://127.0.0.1:$one_METRICS/metrics"
metrics=$LAST_OUTPUT
expect_contains "reconciles counted" 'frugal_reconcile_total{controller="echo",result="success"}' "$metrics"
expect_contains "API requests counted" 'frugal_api_requests_total{code="200",resource="configmaps",verb="list"}' "$metrics"
expect_contains "queue depth exported" 'frugal_workqueue_depth{controller="echo"}' "$metrics"
expect_contains "leader gauge without election" 'frugal_leader 1' "$metrics"
expect_contains "process metrics" 'process_resident_memory_bytes' "$metrics"
if command -v promtool >/dev/null; then
  run_ok "promtool accepts the exposition" promtool check metrics <<<"$metrics"
  expect_eq "promtool has no complaints" "" "$LAST_OUTPUT"
else
  fail "promtool missing: hack/install-deps.sh installs the prometheus package"
fi

echo "== watch drops and 410s do not lose events"
run_ok "drop watches and compact history" admin POST /kubesim/drop-watches
run_ok "compact" admin POST /kubesim/compact
before=$(k get configmap echo-me -o jsonpath='{.metadata.annotations.frugal\.dev/echo-of}')
k patch configmap echo-me --type=merge -p '{"data":{"a":"3"}}' >/dev/null
annotation_moved() { [[ "$(k get configmap echo-me -o jsonpath='{.metadata.annotations.frugal\.dev/echo-of}')" != "$before" ]]; }
wait_until "the controller re-watched and reconciled the change" 30 annotation_moved
run_ok "scrape after the drop" curl -sf "http://127.0.0.1:$one_METRICS/metrics"
expect_contains "watch restarts counted" 'frugal_watch_restarts_total{' "$LAST_OUTPUT"

echo "== SIGTERM drains and exits 0"
kill -TERM "$one_PID"
wait "$one_PID"
expect_eq "exit code after SIGTERM" "0" "$?"

echo "== leader election between two replicas"
LE=(--leader-elect --leader-election-lease-duration 3 --leader-election-renew-deadline 2 --leader-election-retry-period 0.5)
start_controller a "${LE[@]}"
start_controller b "${LE[@]}"
wait_until "replica a ready" 20 ready "$a_HEALTH"
wait_until "replica b ready" 20 ready "$b_HEALTH"
holder() { k get lease frugal-controller-leader -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
has_holder() { [[ -n "$(holder)" ]]; }
wait_until "a leader is elected" 20 has_holder
leader_metric() { curl -sf "http://127.0.0.1:$1/metrics" | grep -E '^frugal_leader ' | awk '{print $2}'; }
la=$(leader_metric "$a_METRICS")
lb=$(leader_metric "$b_METRICS")
expect_eq "exactly one replica leads" "1" "$((la + lb))"
if [[ "$la" == "1" ]]; then leader_pid=$a_PID; standby_metrics=$b_METRICS; else leader_pid=$b_PID; standby_metrics=$a_METRICS; fi
old_holder=$(holder)
kill -KILL "$leader_pid"
killed_at=$SECONDS
standby_leads() { [[ "$(leader_metric "$standby_metrics")" == "1" ]]; }
# Lease duration 3 s + retry 0.5 s, with margin for the 2-core machine.
wait_until "the standby takes over after the leader is killed" 15 standby_leads
echo "  handover took about $((SECONDS - killed_at)) s"
if [[ "$(holder)" != "$old_holder" ]]; then pass "the lease names the new holder"; else fail "the lease still names $old_holder"; fi
before=$(k get configmap echo-me -o jsonpath='{.metadata.annotations.frugal\.dev/echo-of}')
k patch configmap echo-me --type=merge -p '{"data":{"a":"4"}}' >/dev/null
wait_until "the new leader reconciles" 20 annotation_moved

e2e_finish
