#!/usr/bin/env bash
# kubesim --cluster with the demo cluster file, seen through real kubectl:
# the 7 demo nodes with their capacity types, a pod's whole life (scheduled,
# Running, Completed, with its conditions and kubelet events), a pod nothing
# fits (FailedScheduling, Unschedulable), a spot interruption asked for with
# an annotation (taint, condition, event, node gone, pod Failed as the kubelet
# reports a node shutdown, the lost work in /kubesim/work, a replacement node),
# a Deployment behind a Service whose model servers answer HTTP on their pod
# IPs and stop answering when scaled away, and /kubesim/cluster's summary.
# Usage: cluster_test.sh BUILD_BIN_DIR
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
BIN=${1:?usage: cluster_test.sh BUILD_BIN_DIR}

# 60 sim seconds per real second; pod IPs in 127.57.0.0/16, apart from other
# tests' kubesims.
start_kubesim "$BIN" --cluster "$HERE/../../sim/examples/demo.yaml" --time-scale 60 --pod-network 57

jp() { k get "$@" 2>/dev/null; }
phase_is() { [[ "$(jp pod "$1" -o jsonpath='{.status.phase}')" == "$2" ]]; }

echo "== the demo nodes"
run_ok "get nodes with the capacity-type column" k get nodes -L karpenter.sh/capacity-type
nodes_table=$LAST_OUTPUT
expect_contains "capacity-type column" "CAPACITY-TYPE" "$nodes_table"
expect_eq "7 nodes listed" "7" "$(tail -n +2 <<<"$nodes_table" | grep -c .)"
expect_eq "every node Ready" "7" "$(tail -n +2 <<<"$nodes_table" | awk '$2 == "Ready"' | grep -c .)"
for n in cpu-0 cpu-1 gpu-on-demand-0 gpu-on-demand-1; do
  expect_eq "$n is on-demand" "on-demand" "$(awk -v n="$n" '$1 == n {print $NF}' <<<"$nodes_table")"
done
for n in gpu-spot-0 gpu-spot-1 gpu-spot-2; do
  expect_eq "$n is spot" "spot" "$(awk -v n="$n" '$1 == n {print $NF}' <<<"$nodes_table")"
done

echo "== a pod runs its work and completes"
k get pods -l e2e=work -w >"$E2E_TMP/work-watch.out" 2>&1 &
E2E_PIDS+=($!)
work_watch=$!
run_ok "apply a pod with 120 s of work" k apply -f - <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: work
  labels: {e2e: work}
  annotations:
    sim.frugal.dev/work-seconds: "120"
    sim.frugal.dev/startup-seconds: "5"
spec:
  restartPolicy: Never
  containers:
    - name: main
      image: busybox:1.36
      resources:
        requests: {cpu: 100m, memory: 64Mi}
EOF
expect_contains "pod created" "pod/work created" "$LAST_OUTPUT"
wait_until "the watch saw the pod Running, READY 1/1" 20 grep -Eq '^work +1/1 +Running ' "$E2E_TMP/work-watch.out"
wait_until "the pod Succeeded (120 sim s = 2 s real)" 20 phase_is work Succeeded
wait_until "the watch saw it Completed" 20 grep -Eq '^work +0/1 +Completed ' "$E2E_TMP/work-watch.out"
kill "$work_watch" 2>/dev/null
run_ok "get pod" k get pod work
expect_contains "STATUS Completed" "Completed" "$LAST_OUTPUT"
expect_contains "the pod was scheduled on a node" "cpu-" "$(jp pod work -o jsonpath='{.spec.nodeName}')"
run_ok "describe pod" k describe pod work
desc=$LAST_OUTPUT
expect_contains "describe shows the Succeeded status" "Succeeded" "$desc"
for c in PodScheduled Initialized Ready ContainersReady; do
  expect_contains "describe shows condition $c" "$c" "$desc"
done
for ev in Scheduled Pulled Created Started; do
  if grep -Eq "^ +Normal +$ev " <<<"$desc"; then pass "describe shows event $ev"; else fail "describe lacks event $ev:"$'\n'"$desc"; fi
done
expect_contains "the Scheduled event names the node" "Successfully assigned default/work to cpu-" "$desc"

echo "== a pod nothing fits stays Pending"
run_ok "apply a pod asking for 8 GPUs" k apply -f - <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: greedy
spec:
  restartPolicy: Never
  tolerations: [{key: nvidia.com/gpu, operator: Exists}]
  containers:
    - name: main
      image: busybox:1.36
      resources:
        limits: {nvidia.com/gpu: 8}
EOF
unschedulable() { [[ "$(jp pod greedy -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].reason}')" == "Unschedulable" ]]; }
wait_until "PodScheduled condition has reason Unschedulable" 20 unschedulable
expect_eq "PodScheduled is False" "False" "$(jp pod greedy -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].status}')"
expect_eq "the pod is Pending" "Pending" "$(jp pod greedy -o jsonpath='{.status.phase}')"
expect_eq "and bound to no node" "" "$(jp pod greedy -o jsonpath='{.spec.nodeName}')"
has_failed_scheduling() { k describe pod greedy | grep -q FailedScheduling; }
wait_until "describe shows FailedScheduling" 20 has_failed_scheduling
run_ok "describe pod greedy" k describe pod greedy
expect_contains "FailedScheduling says 0/7 nodes are available" "0/7 nodes are available" "$LAST_OUTPUT"
expect_contains "and why: not enough GPUs" "Insufficient nvidia.com/gpu" "$LAST_OUTPUT"

echo "== a spot interruption on demand"
run_ok "a claim for the checkpoints" k apply -f - <<'EOF'
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: ckpt
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 1Gi}
EOF
run_ok "apply a long training pod on spot" k apply -f - <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: train
  annotations:
    sim.frugal.dev/work-seconds: "100000"
    sim.frugal.dev/checkpoint-every-seconds: "60"
spec:
  restartPolicy: Never
  nodeSelector: {karpenter.sh/capacity-type: spot}
  tolerations: [{key: nvidia.com/gpu, operator: Exists}]
  containers:
    - name: trainer
      image: pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime
      env: [{name: FRUGAL_CHECKPOINT_DIR, value: /ckpt/run}]
      volumeMounts: [{name: ckpt, mountPath: /ckpt}]
      resources:
        requests: {cpu: 500m, memory: 1Gi}
        limits: {nvidia.com/gpu: 1}
  volumes:
    - name: ckpt
      persistentVolumeClaim: {claimName: ckpt}
EOF
wait_until "the training pod is Running" 20 phase_is train Running
node=$(jp pod train -o jsonpath='{.spec.nodeName}')
echo "  the training pod runs on $node"
if [[ "$node" == gpu-spot-* ]]; then pass "it runs on a gpu-spot node"; else fail "it runs on [$node], not a gpu-spot node"; fi
# The notice lasts only 2 s of real time: record every version of the node
# with a watch rather than hoping a poll lands inside the window.
k get node "$node" -w -o jsonpath='{.metadata.name} taints={.spec.taints[*].key} conditions={.status.conditions[?(@.type=="SpotInterruption")].status}{"\n"}' \
  >"$E2E_TMP/node-watch.out" 2>&1 &
E2E_PIDS+=($!)
node_watch=$!
wait_until "the node watch is running" 20 grep -q "^$node " "$E2E_TMP/node-watch.out"
run_ok "annotate the node sim.frugal.dev/interrupt=now" k annotate node "$node" sim.frugal.dev/interrupt=now
wait_until "the node got the karpenter.sh/disrupted taint" 20 grep -q "taints=.*karpenter.sh/disrupted" "$E2E_TMP/node-watch.out"
wait_until "the node got the SpotInterruption condition" 20 grep -q "conditions=True" "$E2E_TMP/node-watch.out"
kill "$node_watch" 2>/dev/null
run_ok "get events of the node" k get events --field-selector "involvedObject.name=$node"
expect_contains "SpotInterrupted event" "SpotInterrupted" "$LAST_OUTPUT"
expect_contains "the event names the notice" "Spot interruption notice" "$LAST_OUTPUT"
node_gone() { ! k get nodes --no-headers | grep -q "^$node "; }
wait_until "after the notice (120 sim s) $node is gone from get nodes" 20 node_gone
wait_until "the training pod is Failed" 20 phase_is train Failed
expect_eq "DisruptionTarget is True" "True" "$(jp pod train -o jsonpath='{.status.conditions[?(@.type=="DisruptionTarget")].status}')"
expect_eq "DisruptionTarget reason TerminationByKubelet" "TerminationByKubelet" \
  "$(jp pod train -o jsonpath='{.status.conditions[?(@.type=="DisruptionTarget")].reason}')"
run_ok "GET /kubesim/work" admin GET /kubesim/work
work_json=$LAST_OUTPUT
train_run=$(jq -c '[.runs[] | select(.pod == "default/train")] | last' <<<"$work_json" 2>/dev/null)
expect_eq "the run stopped for a spot interruption" '"spot interruption"' "$(jq -c '.reason' <<<"$train_run" 2>/dev/null)"
if jq -e '.lostWork > 0 and .lostWork < 60' <<<"$train_run" >/dev/null 2>&1; then
  pass "lost work is between 0 and one checkpoint interval ($(jq '.lostWork' <<<"$train_run") sim s)"
else
  fail "lost work not in (0, 60): $train_run"$'\n'"$work_json"
fi
if jq -e '.running == false and .lastCheckpoint >= 60' <<<"$train_run" >/dev/null 2>&1; then
  pass "the run is over and saved checkpoints"
else
  fail "run still running or no checkpoint saved: $train_run"
fi
replacement() { k get node gpu-spot-3 >/dev/null; }
wait_until "a replacement node gpu-spot-3 joins (90 sim s later)" 20 replacement
replacement_ready() { [[ "$(jp node gpu-spot-3 -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]; }
wait_until "gpu-spot-3 is Ready" 20 replacement_ready
expect_eq "gpu-spot-3 is spot capacity" "spot" "$(jp node gpu-spot-3 -o jsonpath='{.metadata.labels.karpenter\.sh/capacity-type}')"

echo "== a Deployment behind a Service"
run_ok "apply a model-server Deployment and its Service" k apply -f - <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: model
spec:
  replicas: 2
  selector:
    matchLabels: {app: model}
  template:
    metadata:
      labels: {app: model}
      annotations:
        sim.frugal.dev/model-server: "true"
    spec:
      containers:
        - name: server
          image: vllm/vllm-openai:v0.6.3
          ports: [{name: http, containerPort: 8000}]
          resources:
            requests: {cpu: 100m, memory: 128Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: model
spec:
  selector: {app: model}
  ports: [{name: http, port: 80, targetPort: http}]
EOF
expect_contains "deployment created" "deployment.apps/model created" "$LAST_OUTPUT"
expect_contains "service created" "service/model created" "$LAST_OUTPUT"
deploy_ready() { k get deploy model --no-headers | grep -Eq '^model +2/2 +2 +2 '; }
wait_until "get deploy shows 2/2 ready" 30 deploy_ready
endpoint_ips() { jp endpoints model -o jsonpath='{.subsets[*].addresses[*].ip}'; }
two_endpoints() { [[ $(wc -w <<<"$(endpoint_ips)") -eq 2 ]]; }
wait_until "the endpoints list two addresses" 30 two_endpoints
run_ok "get endpoints" k get endpoints model
if grep -Eq '^model +127\.57\.[0-9]+\.[0-9]+:8000,127\.57\.[0-9]+\.[0-9]+:8000 ' <<<"$LAST_OUTPUT"; then
  pass "two 127.57.x.y:8000 endpoints"
else
  fail "endpoints are not two 127.57.x.y:8000 addresses:"$'\n'"$LAST_OUTPUT"
fi
expect_eq "the endpoint port is 8000" "8000" "$(jp endpoints model -o jsonpath='{.subsets[0].ports[0].port}')"
read -r -a ips <<<"$(endpoint_ips)"
for ip in "${ips[@]}"; do
  pod=$(jp pods -l app=model -o jsonpath="{.items[?(@.status.podIP==\"$ip\")].metadata.name}")
  code=$(curl -s -o "$E2E_TMP/answer.json" -w '%{http_code}' --max-time 10 "http://$ip:8000/")
  expect_eq "curl http://$ip:8000/ answers 200" "200" "$code"
  expect_eq "the answer names its pod ($pod)" "default/$pod" "$(jq -r '.pod' "$E2E_TMP/answer.json" 2>/dev/null)"
done
run_ok "scale the deployment to 1" k scale deploy model --replicas=1
one_endpoint() { [[ $(wc -w <<<"$(endpoint_ips)") -eq 1 ]]; }
wait_until "the endpoints shrink to one address" 30 one_endpoint
kept=$(endpoint_ips)
removed=""
for ip in "${ips[@]}"; do [[ "$ip" != "$kept" ]] && removed=$ip; done
if [[ -n "$removed" ]]; then pass "the kept address ($kept) is one of the two"; else fail "endpoint [$kept] was not one of [${ips[*]}]"; fi
refused() { ! curl -s -o /dev/null --max-time 5 "http://$removed:8000/"; }
wait_until "the removed pod's address $removed no longer answers" 20 refused
curl -s -o /dev/null --max-time 5 "http://$removed:8000/"
expect_eq "curl: connection refused (exit 7)" "7" "$?"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://$kept:8000/")
expect_eq "the kept pod still answers 200" "200" "$code"
deploy_one() { k get deploy model --no-headers | grep -Eq '^model +1/1 +1 +1 '; }
wait_until "get deploy shows 1/1" 30 deploy_one

echo "== the cluster summary"
run_ok "GET /kubesim/cluster" admin GET /kubesim/cluster
expect_eq "timeScale is 60" "60" "$(jq '.timeScale' <<<"$LAST_OUTPUT" 2>/dev/null)"
if jq -e '.interruptions >= 1' <<<"$LAST_OUTPUT" >/dev/null 2>&1; then
  pass "at least one interruption counted ($(jq '.interruptions' <<<"$LAST_OUTPUT"))"
else
  fail "no interruption counted: $LAST_OUTPUT"
fi

e2e_finish
