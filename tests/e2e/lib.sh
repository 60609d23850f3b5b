# Shared helpers for the end-to-end scripts: assertions that say what they
# expected, polling with a deadline (never a fixed sleep), and starting
# kubesim on an ephemeral port with cleanup on exit.
# shellcheck shell=bash

E2E_FAILURES=0
E2E_PASSES=0
E2E_TMP=$(mktemp -d)
E2E_PIDS=()

e2e_cleanup() {
  local pid
  for pid in "${E2E_PIDS[@]:-}"; do
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  rm -rf "$E2E_TMP"
}
trap e2e_cleanup EXIT

pass() { E2E_PASSES=$((E2E_PASSES + 1)); echo "  ok: $1"; }
fail() { E2E_FAILURES=$((E2E_FAILURES + 1)); echo "  FAIL: $1" >&2; }

# expect_eq DESCRIPTION EXPECTED ACTUAL
expect_eq() {
  if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1: expected [$2], got [$3]"; fi
}

# expect_contains DESCRIPTION NEEDLE HAYSTACK
expect_contains() {
  if [[ "$3" == *"$2"* ]]; then pass "$1"; else fail "$1: expected to find [$2] in:"$'\n'"$3"; fi
}

expect_not_contains() {
  if [[ "$3" != *"$2"* ]]; then pass "$1"; else fail "$1: did not expect [$2] in:"$'\n'"$3"; fi
}

# expect_fails DESCRIPTION COMMAND... : the command must exit non-zero; its
# combined output is left in $LAST_OUTPUT for further checks.
expect_fails() {
  local desc=$1
  shift
  if LAST_OUTPUT=$("$@" 2>&1); then
    fail "$desc: expected failure, it succeeded with:"$'\n'"$LAST_OUTPUT"
  else
    pass "$desc"
  fi
}

# run_ok DESCRIPTION COMMAND... : the command must succeed; output in $LAST_OUTPUT.
run_ok() {
  local desc=$1
  shift
  if LAST_OUTPUT=$("$@" 2>&1); then
    pass "$desc"
  else
    fail "$desc: exit $?:"$'\n'"$LAST_OUTPUT"
  fi
}

# wait_until DESCRIPTION SECONDS COMMAND... : polls until the command succeeds.
wait_until() {
  local desc=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then
      pass "$desc"
      return 0
    fi
    sleep 0.1
  done
  fail "$desc: not true within ${seconds}s"
  return 1
}

# start_kubesim BIN_DIR [ARGS...]: starts kubesim on an ephemeral port with a
# token over TLS, waits for its kubeconfig, exports KUBECONFIG and KUBESIM_URL.
start_kubesim() {
  local bin=$1
  shift
  export KUBECONFIG="$E2E_TMP/kubeconfig"
  export KUBESIM_TOKEN="e2e-$RANDOM$RANDOM"
  "$bin/kubesim" --listen 127.0.0.1:0 --tls --token "$KUBESIM_TOKEN" \
    --kubeconfig-out "$KUBECONFIG" "$@" >"$E2E_TMP/kubesim.out" 2>"$E2E_TMP/kubesim.err" &
  E2E_PIDS+=($!)
  local deadline=$((SECONDS + 20))
  until [[ -s "$KUBECONFIG" ]] && grep -q "listening on" "$E2E_TMP/kubesim.out"; do
    if ((SECONDS >= deadline)); then
      echo "kubesim did not start:" >&2
      cat "$E2E_TMP/kubesim.err" >&2
      exit 1
    fi
    sleep 0.05
  done
  KUBESIM_URL=$(sed -n 's/^kubesim listening on //p' "$E2E_TMP/kubesim.out")
  export KUBESIM_URL
  # Each run gets its own discovery cache so runs do not see each other's CRDs.
  export KUBECACHEDIR="$E2E_TMP/kube-cache"
}

# k: kubectl against the current kubesim, with a private cache dir.
k() { kubectl --cache-dir "$KUBECACHEDIR" --request-timeout=20s "$@"; }

# admin METHOD PATH [BODY]: calls kubesim's admin endpoints.
admin() {
  curl -sS --fail-with-body -k -X "$1" -H "Authorization: Bearer $KUBESIM_TOKEN" \
    -H 'Content-Type: application/json' ${3:+--data "$3"} "$KUBESIM_URL$2"
}

e2e_finish() {
  echo "$E2E_PASSES passed, $E2E_FAILURES failed"
  ((E2E_FAILURES == 0))
}
