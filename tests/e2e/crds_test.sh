#!/usr/bin/env bash
# The CRDs in crds/ as a user meets them: installed with kubectl against
# kubesim, every example accepted with its defaults filled in, every example
# under crds/examples/invalid/ rejected by schema validation naming the field
# its `# expect:` line names, printer columns, short names, `kubectl explain`
# and the status subresource.
# Usage: crds_test.sh BUILD_BIN_DIR
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
BIN=${1:?usage: crds_test.sh BUILD_BIN_DIR}
ROOT=$(cd "$HERE/../.." && pwd)
CRDS="$ROOT/crds"
EXAMPLES="$CRDS/examples"
GROUP=ml.frugal.dev

start_kubesim "$BIN"

# jp KIND NAME JSONPATH: one field of one object (namespace default for TrainingJobs).
jp() { k get "$1" "$2" -o jsonpath="{$3}"; }

echo "== the CRDs install"
run_ok "apply crds/" k apply -f "$CRDS/"
expect_contains "TrainingJob CRD created" \
  "customresourcedefinition.apiextensions.k8s.io/trainingjobs.$GROUP created" "$LAST_OUTPUT"
expect_contains "PriceBook CRD created" \
  "customresourcedefinition.apiextensions.k8s.io/pricebooks.$GROUP created" "$LAST_OUTPUT"
run_ok "both CRDs become established" k wait --for condition=established --timeout=20s \
  "crd/trainingjobs.$GROUP" "crd/pricebooks.$GROUP"
wait_until "trainingjobs are served" 20 k get trainingjobs
wait_until "pricebooks are served" 20 k get pricebooks
run_ok "api-resources lists the frugal kinds" k api-resources --api-group="$GROUP"
expect_contains "trainingjobs with short name tj, namespaced" "trainingjobs" "$LAST_OUTPUT"
if grep -Eq '^trainingjobs +tj +ml.frugal.dev/v1alpha1 +true +TrainingJob' <<<"$LAST_OUTPUT"; then
  pass "trainingjobs: short name tj, namespaced"
else
  fail "trainingjobs row wrong:"$'\n'"$LAST_OUTPUT"
fi
if grep -Eq '^pricebooks +pb +ml.frugal.dev/v1alpha1 +false +PriceBook' <<<"$LAST_OUTPUT"; then
  pass "pricebooks: short name pb, cluster-scoped"
else
  fail "pricebooks row wrong:"$'\n'"$LAST_OUTPUT"
fi

echo "== every example is accepted"
for f in "$EXAMPLES"/*.yaml; do
  run_ok "apply examples/$(basename "$f")" k apply -f "$f"
done
run_ok "applying the directory again changes nothing" k apply -f "$EXAMPLES/"
expect_not_contains "nothing configured on re-apply" "configured" "$LAST_OUTPUT"
expect_contains "re-apply reports unchanged" "trainingjob.$GROUP/llm-finetune-spot unchanged" "$LAST_OUTPUT"

echo "== defaults are applied by the API server"
expect_eq "capacity omitted: preference defaults to SpotWithFallback" "SpotWithFallback" \
  "$(jp tj tokenize-cpu .spec.capacity.preference)"
expect_eq "capacity omitted: maxInterruptions defaults to 3" "3" \
  "$(jp tj tokenize-cpu .spec.capacity.maxInterruptions)"
expect_eq "runPolicy omitted: backoffLimit defaults to 3" "3" \
  "$(jp tj tokenize-cpu .spec.runPolicy.backoffLimit)"
expect_eq "priority defaults to 0" "0" "$(jp tj tokenize-cpu .spec.priority)"
expect_eq "suspend defaults to false" "false" "$(jp tj tokenize-cpu .spec.suspend)"
expect_eq "checkpoint omitted stays omitted" "" "$(jp tj tokenize-cpu .spec.checkpoint)"
expect_eq "capacity given without maxInterruptions gets 3" "3" \
  "$(jp tj eval-ondemand .spec.capacity.maxInterruptions)"
expect_eq "explicit preference is kept" "OnDemand" "$(jp tj eval-ondemand .spec.capacity.preference)"
expect_eq "checkpoint.path defaults to /checkpoints" "/checkpoints" \
  "$(jp tj nightly-pretrain-deadline .spec.checkpoint.path)"
expect_eq "checkpoint.intervalSeconds defaults to 600" "600" \
  "$(jp tj llm-finetune-spot .spec.checkpoint.intervalSeconds)"
expect_eq "workers given is kept" "2" "$(jp tj llm-finetune-spot .spec.workers)"
expect_eq "unknown pod spec fields are preserved" "nvidia.com/gpu" \
  "$(jp tj llm-finetune-spot '.spec.template.spec.tolerations[0].key')"
expect_eq "template annotations are kept" "7200" \
  "$(jp tj llm-finetune-spot '.spec.template.metadata.annotations.sim\.frugal\.dev/work-seconds')"
expect_eq "pricebook currency defaults to USD" "USD" "$(jp pb default .spec.currency)"
expect_eq "fallback cpu rate default (OpenCost)" "0.031611" \
  "$(jp pb default .spec.fallback.cpuCoreHourlyUSD)"
expect_eq "fallback memory rate default (OpenCost)" "0.004237" \
  "$(jp pb default .spec.fallback.memoryGiBHourlyUSD)"
expect_eq "fallback gpu rate default (OpenCost)" "0.95" "$(jp pb default .spec.fallback.gpuHourlyUSD)"
expect_eq "fallback spotMultiplier default" "1" "$(jp pb default .spec.fallback.spotMultiplier)"
expect_eq "capacityTypeLabels default covers four clouds" \
  "karpenter.sh/capacity-type eks.amazonaws.com/capacityType cloud.google.com/gke-spot kubernetes.azure.com/scalesetpriority" \
  "$(jp pb default '.spec.capacityTypeLabels[*].key')"
expect_eq "GKE spot label value" "true" \
  "$(jp pb default '.spec.capacityTypeLabels[?(@.key=="cloud.google.com/gke-spot")].spotValues[0]')"
expect_eq "EKS on-demand label value" "ON_DEMAND" \
  "$(jp pb default '.spec.capacityTypeLabels[?(@.key=="eks.amazonaws.com/capacityType")].onDemandValues[0]')"
expect_eq "interruptionTaints default" \
  "karpenter.sh/disrupted aws-node-termination-handler/spot-itn cloud.google.com/impending-node-termination remediator.kubernetes.azure.com/unschedulable" \
  "$(jp pb default '.spec.interruptionTaints[*]')"
expect_eq "instanceTypeLabel default" "node.kubernetes.io/instance-type" \
  "$(jp pb default .spec.instanceTypeLabel)"
run_ok "a PriceBook with no spec is accepted" k apply -f - <<'EOF'
apiVersion: ml.frugal.dev/v1alpha1
kind: PriceBook
metadata:
  name: defaults-only
EOF
expect_eq "empty PriceBook gets the fallback rates" "0.95" "$(jp pb defaults-only .spec.fallback.gpuHourlyUSD)"
expect_eq "empty PriceBook gets the interruption taints" "4" \
  "$(jp pb defaults-only '.spec.interruptionTaints[*]' | wc -w)"
run_ok "an instance type without gpus is accepted" k patch pb defaults-only --type=merge \
  -p '{"spec":{"instanceTypes":[{"name":"c6i.xlarge","onDemandHourlyUSD":0.17}]}}'
expect_eq "gpus defaults to 0" "0" "$(jp pb defaults-only '.spec.instanceTypes[0].gpus')"
run_ok "delete the defaults-only PriceBook" k delete pb defaults-only
# The PriceBook must price every node of the demo cluster.
priced=" $(jp pb default '.spec.instanceTypes[*].name') "
while read -r t; do
  expect_contains "demo instance type $t is in the default PriceBook" " $t " "$priced"
done < <(sed -n 's/^ *instanceType: *\([^ #]*\).*/\1/p' "$ROOT/sim/examples/demo.yaml" | sort -u)

echo "== printer columns and short names"
run_ok "get tj" k get tj
header=$(head -n1 <<<"$LAST_OUTPUT")
if [[ "$header" =~ ^NAME\ +PHASE\ +WORKERS\ +CAPACITY\ +INTERRUPTIONS\ +COST\ +AGE$ ]]; then
  pass "trainingjob columns: NAME PHASE WORKERS CAPACITY INTERRUPTIONS COST AGE"
else
  fail "trainingjob header: [$header]"
fi
expect_contains "all four jobs listed" "tokenize-cpu" "$LAST_OUTPUT"
run_ok "get tj -o wide" k get tj -o wide
expect_contains "INSTANCE column only with -o wide" "INSTANCE" "$LAST_OUTPUT"
run_ok "get pb" k get pb
header=$(head -n1 <<<"$LAST_OUTPUT")
if [[ "$header" =~ ^NAME\ +INSTANCE-TYPES\ +PRICED\ +FALLBACK\ +AGE$ ]]; then
  pass "pricebook columns: NAME INSTANCE-TYPES PRICED FALLBACK AGE"
else
  fail "pricebook header: [$header]"
fi
expect_contains "default pricebook listed" "default" "$LAST_OUTPUT"
run_ok "get frugal (category) lists both kinds" k get frugal
expect_contains "category frugal has trainingjobs" "trainingjob.$GROUP/llm-finetune-spot" "$LAST_OUTPUT"
expect_contains "category frugal has pricebooks" "pricebook.$GROUP/default" "$LAST_OUTPUT"

echo "== kubectl explain is useful"
run_ok "explain trainingjob.spec" k explain trainingjob.spec
expect_contains "spec lists workers" "workers" "$LAST_OUTPUT"
expect_contains "spec marks template required" "template	<Object> -required-" "$LAST_OUTPUT"
run_ok "explain trainingjob.spec.capacity" k explain trainingjob.spec.capacity
expect_contains "capacity is described" "Where the workers may run" "$LAST_OUTPUT"
expect_contains "capacity lists preference" "preference" "$LAST_OUTPUT"
expect_contains "capacity lists maxInterruptions" "maxInterruptions" "$LAST_OUTPUT"
expect_contains "capacity lists deadline" "deadline" "$LAST_OUTPUT"
expect_contains "capacity lists instanceTypes" "instanceTypes" "$LAST_OUTPUT"
run_ok "explain trainingjob.spec.capacity.preference" k explain trainingjob.spec.capacity.preference
expect_contains "preference shows the enum" "SpotWithFallback" "$LAST_OUTPUT"
expect_contains "preference shows OnDemand" "OnDemand" "$LAST_OUTPUT"
expect_contains "preference is described" "Which capacity to use. SpotWithFallback (default)" "$LAST_OUTPUT"
run_ok "explain trainingjob.spec.capacity.deadline" k explain trainingjob.spec.capacity.deadline
expect_contains "deadline says its format" "RFC 3339" "$LAST_OUTPUT"
run_ok "explain pricebook.spec.fallback" k explain pricebook.spec.fallback
expect_contains "fallback is described" "OpenCost" "$LAST_OUTPUT"
expect_contains "fallback lists spotMultiplier" "spotMultiplier" "$LAST_OUTPUT"
run_ok "explain trainingjob.status.cost" k explain trainingjob.status.cost
expect_contains "cost lists totalUSD" "totalUSD" "$LAST_OUTPUT"

echo "== every invalid example is rejected, naming its field"
count=0
for f in "$EXAMPLES"/invalid/*.yaml; do
  name=$(basename "$f")
  count=$((count + 1))
  field=$(sed -n 's/^# expect: *//p' "$f" | head -n1)
  if [[ -z "$field" ]]; then
    fail "invalid/$name has no '# expect: FIELD' line"
    continue
  fi
  expect_fails "invalid/$name is rejected" k apply -f "$f"
  expect_contains "invalid/$name: error names $field" "$field" "$LAST_OUTPUT"
  if [[ "$LAST_OUTPUT" == *"is invalid"* || "$LAST_OUTPUT" == *"strict decoding error"* ]]; then
    pass "invalid/$name: rejected by the server's validation"
  else
    fail "invalid/$name: not a validation error:"$'\n'"$LAST_OUTPUT"
  fi
done
if ((count >= 8)); then pass "$count invalid examples"; else fail "only $count invalid examples"; fi
run_ok "list after the invalid applies" k get tj,pb -o name
expect_not_contains "no invalid object was stored" "invalid-" "$LAST_OUTPUT"

echo "== status is a subresource"
gen=$(jp tj llm-finetune-spot .metadata.generation)
run_ok "patch status through the subresource" k patch tj llm-finetune-spot --subresource=status \
  --type=merge -p '{"status":{"phase":"Running","capacityType":"spot","instanceType":"g5.2xlarge","interruptions":1,"cost":{"totalUSD":1.25}}}'
expect_eq "phase written" "Running" "$(jp tj llm-finetune-spot .status.phase)"
expect_eq "status write does not bump generation" "$gen" "$(jp tj llm-finetune-spot .metadata.generation)"
row=$(k get tj llm-finetune-spot --no-headers)
if [[ "$row" =~ ^llm-finetune-spot\ +Running\ +2\ +spot\ +1\ +1\.25\  ]]; then
  pass "row shows phase, workers, capacity, interruptions, cost"
else
  fail "row: [$row]"
fi
expect_contains "wide row shows the instance type" "g5.2xlarge" "$(k get tj llm-finetune-spot -o wide --no-headers)"
run_ok "status in a main-resource patch is ignored" k patch tj llm-finetune-spot --type=merge \
  -p '{"status":{"phase":"Failed"}}'
expect_eq "phase unchanged by the main resource" "Running" "$(jp tj llm-finetune-spot .status.phase)"
expect_fails "status phase outside the enum is rejected" k patch tj llm-finetune-spot \
  --subresource=status --type=merge -p '{"status":{"phase":"Exploded"}}'
expect_contains "error names status.phase" "status.phase" "$LAST_OUTPUT"
run_ok "patch pricebook status" k patch pb default --subresource=status --type=merge \
  -p '{"status":{"instanceTypes":8,"nodesPriced":7,"nodesUsingFallback":0}}'
row=$(k get pb default --no-headers)
if [[ "$row" =~ ^default\ +8\ +7\ +0\  ]]; then pass "pricebook row shows counts"; else fail "pb row: [$row]"; fi

e2e_finish
