#!/usr/bin/env bash
# Sets up (Deno, test packages) and runs the whole suite: format, lint, one
# type check of everything, then `deno test` without checking again. Ends with
# the line "N passed, M failed" computed from the real run; exits non-zero when
# anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
# Plain output: the summary line is parsed below.
export NO_COLOR=1
scripts/setup.sh --test || exit 1

fail=0
echo "== deno fmt --check" && deno fmt --check || fail=1
echo "== deno lint" && deno lint || fail=1
# Everything is type-checked once here (lib/ too: workers are loaded by URL, not
# imported), so the test run itself does not check again, in every test process
# and every worker it starts.
echo "== deno check" && deno check main.ts lib/ scripts/ test/ || fail=1

out=$(mktemp)
echo "== deno test"
deno test --allow-all --no-check test/ "$@" 2>&1 | tee "$out"
test_rc=${PIPESTATUS[0]}

summary=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$out" | tail -n1)
passed=$(echo "$summary" | sed -nE 's/.* ([0-9]+) passed.*/\1/p')
failed=$(echo "$summary" | sed -nE 's/.* ([0-9]+) failed.*/\1/p')
ignored=$(echo "$summary" | sed -nE 's/.* ([0-9]+) ignored.*/\1/p')
rm -f "$out"
if [ -z "$passed" ]; then
  echo "test run produced no summary (exit $test_rc)" >&2
  passed=0
  failed=${failed:-1}
fi
# Lint/format/type errors count as one failure each so that CI shows red.
failed=$(( ${failed:-0} + fail ))
[ "$test_rc" != 0 ] && [ "$failed" = 0 ] && failed=1
echo "${passed} passed, ${failed} failed, ${ignored:-0} skipped"
[ "$failed" = 0 ]
