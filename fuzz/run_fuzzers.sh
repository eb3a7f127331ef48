#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) outside Bazel and
# runs each for a bounded time. usage: fuzz/run_fuzzers.sh [SECONDS_EACH]
# Prints "N passed, M failed" (one per target) as its last line.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-30}
work=$(mktemp -d "${TMPDIR:-/tmp}/pk-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

flags=(-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Iapi/include -Iapi/src/base -Iapi/src/core -Iapi/src/run -Iapi/src/layers -Iapi/src/linux
       -Iapi/src/backends -Iapi/src/backends/linux -Iapi/src/backends/fake -Icli)
# The Linux library: every source but the Windows folders.
lib=()
for f in api/src/*/*.c api/src/backends/*/*.c; do
  case "$f" in api/src/windows/*|api/src/backends/windows/*) ;; *) lib+=("$f") ;; esac
done
passed=0 failed=0
build_and_run() {
  local name=$1; shift
  echo "== $name: building"
  if ! clang "${flags[@]}" "$@" -o "$work/$name" -lm -pthread; then
    echo "== $name: build failed"; failed=$((failed + 1)); return
  fi
  mkdir -p "$work/corpus-$name"
  echo "== $name: fuzzing for ${seconds}s"
  if "$work/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$work/" "$work/corpus-$name" 2>"$work/$name.log"; then
    grep -E "stat::number_of_executed_units|cov:" "$work/$name.log" | tail -2
    passed=$((passed + 1))
  else
    grep -A40 -E 'ERROR|runtime error|deadly signal' "$work/$name.log" | head -60
    failed=$((failed + 1))
  fi
}
build_and_run fuzz_cli_parse fuzz/fuzz_cli_parse.c cli/cli_parse.c cli/json_out.c
build_and_run fuzz_command_api fuzz/fuzz_command_api.c "${lib[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
