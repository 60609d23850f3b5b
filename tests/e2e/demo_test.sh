#!/usr/bin/env bash
# The README's first command, end to end: hack/demo.sh runs the simulated
# cluster, the CRDs, the PriceBook, four TrainingJobs and the controller
# until every job finished, prints each job's cost and the comparison with
# an all-on-demand run, and leaves no process behind. Time runs 480x so it
# takes about half a minute.
# Usage: demo_test.sh BUILD_BIN_DIR
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
BIN=${1:?usage: demo_test.sh BUILD_BIN_DIR}
ROOT=$(cd "$HERE/../.." && pwd)

out="$E2E_TMP/demo.out"
if BUILD_DIR=$(cd "$BIN/.." && pwd) TIME_SCALE=480 DEMO_LIMIT=240 bash "$ROOT/hack/demo.sh" >"$out" 2>&1; then
  pass "hack/demo.sh exits 0"
else
  fail "hack/demo.sh failed:"$'\n'"$(tail -30 "$out")"
fi
summary=$(cat "$out")
for job in llm-finetune-spot nightly-pretrain-deadline eval-ondemand tokenize-cpu; do
  expect_contains "$job finished" "$job" "$(grep -E "^$job +Succeeded" <<<"$summary")"
done
expect_contains "the spend and the on-demand comparison are printed" "the same jobs all on-demand: \$" "$summary"
spent=$(sed -n 's/^Spent \$\([0-9.]*\);.*/\1/p' <<<"$summary")
ondemand=$(sed -n 's/.*all on-demand: \$\([0-9.]*\).*/\1/p' <<<"$summary")
echo "  spent \$$spent, all on-demand \$$ondemand"
if awk -v s="$spent" -v o="$ondemand" 'BEGIN { exit !(s > 0 && s < o) }'; then
  pass "spot made the same work cheaper than on-demand"
else
  fail "spent [$spent] is not below the on-demand cost [$ondemand]"
fi
left=$(pgrep -f "kubesim --listen 127.0.0.1:0 --tls --token demo-" || true)
expect_eq "no kubesim left running" "" "$left"
e2e_finish
