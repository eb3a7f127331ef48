#!/usr/bin/env bash
# Runs the binding generator in --check mode against the checked-in files and
# every generator's unit tests. The generated files live in the source tree,
# so the script works from the real checkout behind the runfiles.
set -uo pipefail
gen=$(readlink -f "$TEST_SRCDIR/$TEST_WORKSPACE/bindings/gen/generate.py")
root=$(cd "$(dirname "$gen")/../.." && pwd)
fail=0
python3 "$gen" --check --root "$root" || fail=1
tests=0
cd "$(dirname "$gen")" || exit 1
for t in test_gen_*.py; do
  tests=$((tests + 1))
  if ! out=$(python3 -m unittest -q "${t%.py}" 2>&1); then
    printf '%s\n' "$out" | tail -20; echo "FAILED: $t"; fail=1
  fi
done
echo "checked the generated bindings and $tests generator test files"
[ "$fail" -eq 0 ] && echo "1 passed, 0 failed" || { echo "0 passed, 1 failed"; exit 1; }
