#!/usr/bin/env bash
# Count test targets in the summary of a `bazel test` log.
# Usage: count_bazel_results.sh LOGFILE   -> prints "N passed, M failed"
#
# Summary lines look like
#   //pkg:target                         PASSED in 0.3s
#   //pkg:target                (cached) PASSED in 0.3s
#   //pkg:target                         FAILED in 2 out of 3 in 1.2s
#   @repo//pkg:target                    TIMEOUT in 60.0s
#   //pkg:target                         NO STATUS / FAILED TO BUILD / INCOMPLETE
#   //pkg:target                         FLAKY, failed in 1 out of 2 in 0.5s
# Each target is counted once (its last status). PASSED and FLAKY count as passed
# (Bazel itself treats FLAKY as a pass); every other status counts as failed;
# SKIPPED (incompatible target) counts as neither.
set -euo pipefail

log=${1:?usage: count_bazel_results.sh LOGFILE}
[ -r "$log" ] || { echo "count_bazel_results: cannot read $log" >&2; exit 2; }

# Strip ANSI colour codes and carriage returns, then keep the last status per label.
sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' -e 's/\r//g' "$log" | awk '
  match($0, /^(@[^ \/]*)?\/\/[^ ]*:[^ ]+ +(\(cached\) +)?(PASSED|FLAKY|FAILED TO BUILD|FAILED|TIMEOUT|NO STATUS|INCOMPLETE|REMOTE FAILURE|SKIPPED|BUILD HALTED|BLAZE HALTED)/) {
    label = $1
    rest = $0
    sub(/^[^ ]+ +/, "", rest)
    sub(/^\(cached\) +/, "", rest)
    if (rest ~ /^(PASSED|FLAKY)/) st[label] = "pass"
    else if (rest ~ /^SKIPPED/) st[label] = "skip"
    else st[label] = "fail"
  }
  END {
    p = 0; f = 0
    for (l in st) { if (st[l] == "pass") p++; else if (st[l] == "fail") f++ }
    printf "%d passed, %d failed\n", p, f
  }'
