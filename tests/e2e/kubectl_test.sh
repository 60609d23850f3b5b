#!/usr/bin/env bash
# kubectl, unchanged, against kubesim over TLS with a bearer token: every
# command the issue lists, with assertions on what kubectl prints.
# Usage: kubectl_test.sh BUILD_BIN_DIR
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
BIN=${1:?usage: kubectl_test.sh BUILD_BIN_DIR}
DATA="$HERE/testdata"

start_kubesim "$BIN" --bookmark-interval 1

echo "== discovery and version"
run_ok "kubectl version reaches the server" k version -o json
expect_contains "server version is reported" '"gitVersion": "v1.32.0-kubesim"' "$LAST_OUTPUT"
run_ok "api-resources lists built-ins" k api-resources
expect_contains "deployments are served" "deployments" "$LAST_OUTPUT"
expect_contains "leases are served" "leases" "$LAST_OUTPUT"
expect_contains "endpointslices are served" "endpointslices" "$LAST_OUTPUT"
run_ok "get namespaces" k get namespaces
expect_contains "default namespace exists" "default" "$LAST_OUTPUT"
expect_contains "namespace table has a STATUS column" "STATUS" "$LAST_OUTPUT"

echo "== a wrong token is refused"
expect_fails "wrong token gets 401" k --token wrong get namespaces
expect_contains "kubectl reports Unauthorized" "Unauthorized" "$LAST_OUTPUT"

echo "== CRD apply, then custom resources"
run_ok "apply the CRD" k apply -f "$DATA/widget-crd.yaml"
expect_contains "CRD created" "customresourcedefinition.apiextensions.k8s.io/widgets.test.frugal.dev created" "$LAST_OUTPUT"
run_ok "CRD becomes established" k wait --for condition=established --timeout=10s crd/widgets.test.frugal.dev
run_ok "apply a widget" k apply -f "$DATA/widget.yaml"
expect_contains "widget created" "widget.test.frugal.dev/alpha created" "$LAST_OUTPUT"
rv1=$(k get widget alpha -o jsonpath='{.metadata.resourceVersion}')
gen1=$(k get widget alpha -o jsonpath='{.metadata.generation}')
expect_eq "first generation is 1" "1" "$gen1"
expect_eq "schema default applied" "red" "$(k get widget alpha -o jsonpath='{.spec.color}')"
run_ok "apply again with a change" k apply -f "$DATA/widget-changed.yaml"
expect_contains "widget configured" "widget.test.frugal.dev/alpha configured" "$LAST_OUTPUT"
rv2=$(k get widget alpha -o jsonpath='{.metadata.resourceVersion}')
expect_eq "generation bumped by the spec change" "2" "$(k get widget alpha -o jsonpath='{.metadata.generation}')"
if [[ "$rv1" != "$rv2" ]]; then pass "resourceVersion changed ($rv1 -> $rv2)"; else fail "resourceVersion did not change"; fi
expect_eq "size changed" "5" "$(k get widget alpha -o jsonpath='{.spec.size}')"
run_ok "apply unchanged is a no-op" k apply -f "$DATA/widget-changed.yaml"
expect_contains "widget unchanged" "widget.test.frugal.dev/alpha unchanged" "$LAST_OUTPUT"

echo "== get, printer columns, short names, -o yaml"
run_ok "get widgets" k get widgets
expect_contains "printer column SIZE" "SIZE" "$LAST_OUTPUT"
expect_contains "printer column COLOR" "COLOR" "$LAST_OUTPUT"
expect_contains "row shows size and color" "alpha   5      blue" "$LAST_OUTPUT"
run_ok "get by short name" k get wg alpha
run_ok "get -o yaml" k get widget alpha -o yaml
expect_contains "yaml has apiVersion" "apiVersion: test.frugal.dev/v1" "$LAST_OUTPUT"
expect_contains "yaml has uid" "uid: " "$LAST_OUTPUT"
run_ok "get all includes widgets (category all)" k get all
expect_contains "widget in get all" "widget.test.frugal.dev/alpha" "$LAST_OUTPUT"

echo "== invalid custom resource is rejected with 422 naming the field"
expect_fails "invalid widget rejected" k apply -f "$DATA/widget-invalid.yaml"
expect_contains "422 names spec.size" "spec.size" "$LAST_OUTPUT"
expect_contains "422 names spec.color" 'spec.color: Unsupported value: "purple"' "$LAST_OUTPUT"
expect_contains "kubectl formats the 422 from its details" 'The Widget "broken" is invalid' "$LAST_OUTPUT"
expect_fails "unknown field rejected by kubectl's strict validation" \
  k apply -f - <<<'{"apiVersion":"test.frugal.dev/v1","kind":"Widget","metadata":{"name":"x","namespace":"default"},"spec":{"size":1,"bogus":1}}'
expect_contains "unknown field named" 'unknown field "spec.bogus"' "$LAST_OUTPUT"

echo "== explain"
run_ok "explain widget.spec" k explain widget.spec
expect_contains "explain shows the description" "What the widget should be." "$LAST_OUTPUT"
expect_contains "explain shows fields" "size" "$LAST_OUTPUT"
run_ok "explain widget.spec.size" k explain widget.spec.size
expect_contains "explain field description" "How big the widget is" "$LAST_OUTPUT"

echo "== get -w sees changes"
k get widgets -w --output-watch-events >"$E2E_TMP/watch.out" 2>&1 &
E2E_PIDS+=($!)
watch_pid=$!
wait_until "watch printed the existing widget" 10 grep -q "alpha" "$E2E_TMP/watch.out"
run_ok "patch --type=merge" k patch widget alpha --type=merge -p '{"spec":{"size":7}}'
expect_contains "patched" "widget.test.frugal.dev/alpha patched" "$LAST_OUTPUT"
wait_until "watch printed the MODIFIED widget" 10 grep -Eq "MODIFIED +alpha +7" "$E2E_TMP/watch.out"
kill "$watch_pid" 2>/dev/null

echo "== status subresource"
run_ok "patch --subresource=status" k patch widget alpha --subresource=status --type=merge -p '{"status":{"phase":"Ready","replicas":1}}'
expect_eq "status written" "Ready" "$(k get widget alpha -o jsonpath='{.status.phase}')"
expect_eq "status write did not bump generation" "3" "$(k get widget alpha -o jsonpath='{.metadata.generation}')"
run_ok "main endpoint ignores status" k patch widget alpha --type=merge -p '{"status":{"phase":"Hacked"}}'
expect_eq "status unchanged through main endpoint" "Ready" "$(k get widget alpha -o jsonpath='{.status.phase}')"
run_ok "phase column shows status" k get widget alpha
expect_contains "PHASE column has Ready" "Ready" "$LAST_OUTPUT"

echo "== scale subresource"
run_ok "kubectl scale" k scale widget alpha --replicas=4
expect_eq "scale wrote spec.replicas" "4" "$(k get widget alpha -o jsonpath='{.spec.replicas}')"

echo "== label and annotate"
run_ok "label" k label widget alpha tier=gold
run_ok "get by label selector" k get widgets -l tier=gold -o name
expect_eq "selector finds it" "widget.test.frugal.dev/alpha" "$LAST_OUTPUT"
run_ok "get by set selector" k get widgets -l 'tier in (gold,silver)' -o name
expect_eq "set selector finds it" "widget.test.frugal.dev/alpha" "$LAST_OUTPUT"
run_ok "annotate" k annotate widget alpha note=hello
expect_eq "annotation stored" "hello" "$(k get widget alpha -o jsonpath='{.metadata.annotations.note}')"
expect_fails "label without --overwrite refuses to change" k label widget alpha tier=silver

echo "== events and describe"
uid=$(k get widget alpha -o jsonpath='{.metadata.uid}')
sed "s/^  namespace: default$/  namespace: default\n  uid: $uid/" "$DATA/event.yaml" >"$E2E_TMP/event.yaml"
run_ok "create an event" k create -f "$E2E_TMP/event.yaml"
run_ok "get events" k get events
expect_contains "event listed with its reason" "Resized" "$LAST_OUTPUT"
expect_contains "event object column" "widget/alpha" "$LAST_OUTPUT"
run_ok "describe widget" k describe widget alpha
expect_contains "describe shows the spec" "Size:" "$LAST_OUTPUT"
expect_contains "describe shows the event" "Widget alpha was resized for the test" "$LAST_OUTPUT"

echo "== stale update is 409"
k get widget alpha -o json >"$E2E_TMP/stale.json"
run_ok "someone else changes it" k patch widget alpha --type=merge -p '{"spec":{"size":8}}'
expect_fails "replace with the stale resourceVersion" k replace -f "$E2E_TMP/stale.json"
expect_contains "kubectl shows the conflict" "the object has been modified" "$LAST_OUTPUT"

echo "== watch from a compacted resourceVersion gets 410"
old_rv=$(k get widget alpha -o jsonpath='{.metadata.resourceVersion}')
run_ok "change after the old version" k patch widget alpha --type=merge -p '{"spec":{"size":9}}'
run_ok "compact history" admin POST /kubesim/compact
run_ok "watch from the compacted version" k get --raw "/apis/test.frugal.dev/v1/namespaces/default/widgets?watch=true&resourceVersion=$old_rv&timeoutSeconds=5"
expect_contains "the stream carries an ERROR event" '"type":"ERROR"' "$LAST_OUTPUT"
expect_contains "the error is 410 Expired" '"code":410' "$LAST_OUTPUT"
expect_contains "kubectl sees the expiry" "too old resource version" "$LAST_OUTPUT"
run_ok "switch expired watches to HTTP 410" admin PUT /kubesim/faults '{"rules":[],"expiredWatchAsHttpStatus":true}'
expect_fails "watch from the compacted version as HTTP" k get --raw "/apis/test.frugal.dev/v1/namespaces/default/widgets?watch=true&resourceVersion=$old_rv"
expect_contains "kubectl reports the 410" "too old resource version" "$LAST_OUTPUT"
run_ok "back to in-stream errors" admin PUT /kubesim/faults '{"rules":[],"expiredWatchAsHttpStatus":false}'
expect_fails "a list from a compacted snapshot is 410" k get --raw "/apis/test.frugal.dev/v1/namespaces/default/widgets?resourceVersion=$old_rv&resourceVersionMatch=Exact"
expect_contains "list expiry named" "Expired" "$LAST_OUTPUT"

echo "== built-ins: strategic merge via kubectl apply"
run_ok "apply a deployment" k apply -f "$DATA/deployment.yaml"
run_ok "apply a changed deployment" k apply -f "$DATA/deployment-changed.yaml"
expect_eq "both containers kept" "server sidecar" "$(k get deploy web -o jsonpath='{.spec.template.spec.containers[*].name}')"
expect_eq "image updated" "nginx:1.26" "$(k get deploy web -o jsonpath='{.spec.template.spec.containers[0].image}')"
expect_eq "removed env entry gone" "A" "$(k get deploy web -o jsonpath='{.spec.template.spec.containers[0].env[*].name}')"
expect_eq "replicas updated" "3" "$(k get deploy web -o jsonpath='{.spec.replicas}')"
run_ok "get deployments table" k get deployments
expect_contains "deployment table columns" "UP-TO-DATE" "$LAST_OUTPUT"
run_ok "create a configmap from a file" k create -f - <<<'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings"},"data":{"a":"1"}}'
# Imperative generators (kubectl create configmap ...) send protobuf, which
# kubesim does not decode: it must say so with 415, not store garbage.
expect_fails "a protobuf body is refused" k create configmap generated --from-literal=a=1
expect_contains "with a clear 415 message" "unknown format" "$LAST_OUTPUT"
run_ok "patch a configmap (strategic default)" k patch configmap settings -p '{"data":{"b":"2"}}'
expect_eq "both keys present" "1 2" "$(k get configmap settings -o jsonpath='{.data.a} {.data.b}')"

echo "== fault injection"
run_ok "inject 500 on configmap lists" admin PUT /kubesim/faults '{"rules":[{"verb":"list","resource":"configmaps","code":500}]}'
expect_fails "list fails with the injected error" k get configmaps
expect_contains "kubectl shows the injected error" "injected fault" "$LAST_OUTPUT"
run_ok "429 with Retry-After twice, then fine" admin PUT /kubesim/faults '{"rules":[{"verb":"list","resource":"configmaps","code":429,"retryAfterSeconds":1,"remaining":2}]}'
run_ok "kubectl retries 429 honouring Retry-After" k get configmaps
expect_contains "list succeeded after the retries" "settings" "$LAST_OUTPUT"
run_ok "clear faults" admin DELETE /kubesim/faults
curl -sSk -N -H "Authorization: Bearer $KUBESIM_TOKEN" \
  "$KUBESIM_URL/api/v1/namespaces/default/configmaps?watch=true" >"$E2E_TMP/raw-watch.out" 2>"$E2E_TMP/raw-watch.err" &
curl_pid=$!
E2E_PIDS+=($curl_pid)
watch_open() { grep -q '"settings"' "$E2E_TMP/raw-watch.out"; }
wait_until "a raw watch is streaming" 10 watch_open
run_ok "drop every watch" admin POST /kubesim/drop-watches
if [[ "$LAST_OUTPUT" =~ \"dropped\":[1-9] ]]; then pass "open watches dropped"; else fail "no watch dropped: $LAST_OUTPUT"; fi
wait "$curl_pid"
curl_rc=$?
# curl exit 18: "transfer closed with outstanding read data remaining" — the
# chunked stream was cut, not finished.
expect_eq "the stream was cut without its final chunk" "18" "$curl_rc"


echo "== delete and delete --wait"
run_ok "delete the widget" k delete widget alpha
expect_contains "deleted" 'widget.test.frugal.dev "alpha" deleted' "$LAST_OUTPUT"
expect_fails "it is gone" k get widget alpha
expect_contains "NotFound message" 'widgets.test.frugal.dev "alpha" not found' "$LAST_OUTPUT"
run_ok "widget with a finalizer" k apply -f "$DATA/widget.yaml"
run_ok "add a finalizer" k patch widget alpha --type=merge -p '{"metadata":{"finalizers":["test.frugal.dev/hold"]}}'
k delete widget alpha --wait=true --timeout=30s >"$E2E_TMP/delete-wait.out" 2>&1 &
delete_pid=$!
E2E_PIDS+=($delete_pid)
has_deletion_timestamp() { [[ -n "$(k get widget alpha -o jsonpath='{.metadata.deletionTimestamp}')" ]]; }
wait_until "the finalizer holds the widget with a deletionTimestamp" 10 has_deletion_timestamp
if kill -0 "$delete_pid" 2>/dev/null; then pass "delete --wait is still waiting"; else fail "delete --wait returned while the finalizer held the object"; fi
run_ok "remove the finalizer" k patch widget alpha --type=json -p '[{"op":"remove","path":"/metadata/finalizers"}]'
if wait "$delete_pid"; then pass "delete --wait returned once the finalizer was gone"; else fail "delete --wait failed: $(cat "$E2E_TMP/delete-wait.out")"; fi
expect_fails "gone after the wait" k get widget alpha
run_ok "delete the deployment with foreground propagation" k delete deployment web --cascade=foreground --timeout=20s
run_ok "delete the CRD (and with it its objects)" k delete crd widgets.test.frugal.dev --timeout=20s
expect_fails "resource type gone from discovery" k get widgets

e2e_finish
