#!/usr/bin/env bash
# Runs every consumer test (tests/consumers/*.sh but this one and lib.sh)
# and ends with one "N passed, M failed" line over all of them. Each test
# builds a new project outside the repository with one language's own tool,
# in a scrubbed environment, with no prior Bazel build needed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 1
passed=0 failed=0 status=0
for t in *.sh; do
  case "$t" in run_all.sh | lib.sh) continue ;; esac
  echo "=== consumer: $t"
  out=$(bash "$t" 2>&1)
  rc=$?
  printf '%s\n' "$out"
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
  p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
  f=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) failed$/\1/p')
  if [ -z "$line" ]; then f=1 p=0; fi
  if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then f=1; fi
  passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0}))
  [ "$rc" -eq 0 ] || status=1
done
echo "$passed passed, $failed failed"
exit "$status"
