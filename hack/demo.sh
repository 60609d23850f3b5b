#!/usr/bin/env bash
# The Frugal demo: a simulated cluster with spot and on-demand GPU pools (and
# a few spot interruptions), the CRDs, a PriceBook and four TrainingJobs,
# and the controller running them for the least money. Shows the jobs
# moving and the money being counted until they finish, then each job's
# cost, what spot saved, and what the same work would have cost on-demand.
#
#   hack/demo.sh                  # installs what is missing, builds, runs (about 3 minutes)
#   TIME_SCALE=240 hack/demo.sh   # faster: sim seconds per real second
#   KEEP=1 hack/demo.sh           # leave kubesim and the controller running at the end
#
# Ctrl-C stops it cleanly; nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR=${BUILD_DIR:-build}
TIME_SCALE=${TIME_SCALE:-120}
DEMO_LIMIT=${DEMO_LIMIT:-600}  # real seconds before the demo gives up waiting

hack/install-deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target kubesim frugal-controller
case "$BUILD_DIR" in
  /*) BIN=$BUILD_DIR/bin ;;
  *) BIN=$ROOT/$BUILD_DIR/bin ;;
esac

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  # Last started, first stopped: the controller drains while kubesim still answers.
  local i pid
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[i]}
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  rm -rf "$WORK"
}
stop_now() {
  echo
  echo "Stopped."
  exit 130
}
trap cleanup EXIT
trap stop_now INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export KUBECONFIG=$WORK/kubeconfig
k() { kubectl --cache-dir "$WORK/kube-cache" --request-timeout=20s "$@"; }
wait_for() {  # DESCRIPTION SECONDS COMMAND...
  local what=$1 limit=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "demo: timed out waiting for $what" >&2
      exit 1
    fi
    sleep 0.2
  done
}

echo "== Starting the simulated cluster (sim/examples/demo.yaml, time x$TIME_SCALE)"
"$BIN/kubesim" --listen 127.0.0.1:0 --tls --token "demo-$RANDOM$RANDOM" --kubeconfig-out "$KUBECONFIG" \
  --cluster sim/examples/demo.yaml --time-scale "$TIME_SCALE" --pod-network 60 \
  >"$WORK/kubesim.out" 2>"$WORK/kubesim.log" &
PIDS+=($!)
wait_for "kubesim" 20 test -s "$KUBECONFIG"
wait_for "the nodes" 20 k get nodes
k get nodes -L karpenter.sh/capacity-type -L node.kubernetes.io/instance-type

echo
echo "== Installing the CRDs and the PriceBook"
k apply -f crds/trainingjob.yaml -f crds/pricebook.yaml
wait_for "the CRDs" 20 k get trainingjobs
k apply -f crds/examples/pricebook-default.yaml

METRICS_PORT=$(free_port)
echo
echo "== Starting frugal-controller (metrics on http://127.0.0.1:$METRICS_PORT/metrics)"
"$BIN/frugal-controller" --kubeconfig "$KUBECONFIG" --time-scale "$TIME_SCALE" \
  --metrics-bind-address "127.0.0.1:$METRICS_PORT" --health-probe-bind-address "127.0.0.1:$(free_port)" \
  >"$WORK/controller.out" 2>"$WORK/controller.log" &
PIDS+=($!)
wait_for "the controller's metrics" 30 curl -sf "http://127.0.0.1:$METRICS_PORT/metrics"

echo
echo "== Submitting the TrainingJobs"
k apply -f crds/examples/trainingjob-spot.yaml -f crds/examples/trainingjob-deadline.yaml \
  -f crds/examples/trainingjob-ondemand.yaml -f crds/examples/trainingjob-cpu.yaml

finished() {
  local phases
  phases=$(k get trainingjobs -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' 2>/dev/null)
  [[ -n "$phases" ]] && ! grep -qvE '^(Succeeded|Failed)$' <<<"$phases"
}
start=$SECONDS
while ! finished; do
  if ((SECONDS - start > DEMO_LIMIT)); then
    echo "demo: the jobs did not finish in $DEMO_LIMIT s; the controller log is below" >&2
    tail -20 "$WORK/controller.log" >&2
    exit 1
  fi
  # A refresh that fails (a slow answer, Ctrl-C reaching kubesim first) shows the error and goes on.
  table=$(k get trainingjobs -o wide 2>&1) || true
  nodes=$(k get nodes -L karpenter.sh/capacity-type --no-headers 2>&1 | awk '{printf "%s(%s) ", $1, $NF}') || true
  spend=$(curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | awk '/^frugal_cost_usd_total/ {s += $NF} END {printf "%.2f", s}') || true
  [[ -t 1 ]] && clear
  echo "Frugal demo — sim time x$TIME_SCALE, $((SECONDS - start)) s real — Ctrl-C to stop"
  echo
  echo "$table"
  echo
  echo "nodes: $nodes"
  echo "spent so far: \$$spend"
  sleep 2
done

echo
echo "== Done"
k get trainingjobs -o wide
echo
k get trainingjobs -o json | jq -r '
  ["JOB", "PHASE", "CAPACITY", "INTERRUPTIONS", "COST $", "SAVED $", "ON-DEMAND $"],
  (.items[] | [.metadata.name, .status.phase, (.status.capacityType // "-"),
               (.status.interruptions // 0),
               ((.status.cost.totalUSD // 0) * 100 | round / 100),
               ((.status.cost.spotSavingsUSD // 0) * 100 | round / 100),
               (((.status.cost.totalUSD // 0) + (.status.cost.spotSavingsUSD // 0)) * 100 | round / 100)])
  | @tsv' | awk -F'\t' '{printf "%-32s %-10s %-10s %-14s %-9s %-9s %s\n", $1, $2, $3, $4, $5, $6, $7}'
k get trainingjobs -o json | jq -r '
  ([.items[].status.cost.totalUSD // 0] | add) as $paid |
  ([.items[].status.cost.spotSavingsUSD // 0] | add) as $saved |
  "\nSpent $\($paid * 100 | round / 100); the same jobs all on-demand: $\(($paid + $saved) * 100 | round / 100) (\(if ($paid + $saved) > 0 then ($saved / ($paid + $saved) * 100 | round) else 0 end)% saved)."'
echo "Metrics: http://127.0.0.1:$METRICS_PORT/metrics (frugal_cost_usd_total, frugal_spot_savings_usd_total, ...)"
if [[ "${KEEP:-0}" == 1 ]]; then
  echo "KEEP=1: kubesim and the controller keep running; KUBECONFIG=$KUBECONFIG. Ctrl-C to stop them."
  trap - INT
  wait
fi
