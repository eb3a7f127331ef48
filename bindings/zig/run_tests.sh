#!/usr/bin/env bash
# Runs the Zig binding's tests twice: `zig build test` as a user gets it
# (the module compiles csrc/processkit.c, the amalgamation, itself), then
# against a copy of the Bazel-built libprocesskit.so with the header
# cross-check reading api/include/processkit.h.
#
# usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H [SCENARIOS_JSON]
#   SCENARIOS_JSON defaults to tests/scenarios/scenarios.json of the checkout.
#
# Zig comes from PyPI's `ziglang` package (pinned below), run as
# `python3 -m ziglang`. When missing it is installed with pip --target into a
# persistent cache ($PROCESSKIT_ZIG_CACHE, else ~/.cache/processkit-zig of the
# real user, else $TEST_TMPDIR), so later runs do not download it again.
# Everything else (sources, library copy, HOME, Zig's local cache) lives
# under $TEST_TMPDIR (a fresh mktemp dir, removed afterwards, outside Bazel).
set -euo pipefail

ZIG_VERSION=0.17.1

lib_so=${1:?usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H}
header=${2:?usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H}
src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
scenarios=$(realpath "${3:-$src_dir/../../tests/scenarios/scenarios.json}")

if [ -z "${TEST_TMPDIR:-}" ]; then
  TEST_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/processkit-zig-test.XXXXXX")
  trap 'rm -rf "$TEST_TMPDIR"' EXIT
fi
work="$TEST_TMPDIR/zig"
rm -rf "$work"
mkdir -p "$work/lib" "$work/include" "$work/home" "$work/src"

# The library and header, with the symlink the SONAME needs.
cp "$lib_so" "$work/lib/libprocesskit.so"
chmod u+w "$work/lib/libprocesskit.so"
ln -sf libprocesskit.so "$work/lib/libprocesskit.so.1"
cp "$header" "$work/include/processkit.h"

# The sources, copied (runfiles are read-only symlinks; zig build writes .zig-cache).
for item in build.zig build.zig.zon src csrc tests; do
  cp -rL "$src_dir/$item" "$work/src/"
done
chmod -R u+w "$work/src"

# ---- the toolchain ----------------------------------------------------------
python=$(command -v python3 || true)
[ -n "$python" ] || { echo "run_tests.sh: python3 is needed to install and run ziglang" >&2; exit 1; }

real_home=$(getent passwd "$(id -u)" 2>/dev/null | cut -d: -f6 || true)
cache_root=${PROCESSKIT_ZIG_CACHE:-${real_home:+$real_home/.cache/processkit-zig}}
if [ -z "$cache_root" ] || ! mkdir -p "$cache_root" 2>/dev/null || [ ! -w "$cache_root" ]; then
  cache_root="$TEST_TMPDIR/processkit-zig-cache"
  mkdir -p "$cache_root"
fi
zig_pkg="$cache_root/ziglang-$ZIG_VERSION"

if [ ! -x "$zig_pkg/ziglang/zig" ]; then
  echo "run_tests.sh: installing ziglang==$ZIG_VERSION from PyPI into $zig_pkg"
  staging=$(mktemp -d "$cache_root/.install.XXXXXX")
  if ! "$python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
      --target "$staging" "ziglang==$ZIG_VERSION"; then
    rm -rf "$staging"
    echo "run_tests.sh: pip could not install ziglang==$ZIG_VERSION" >&2
    exit 1
  fi
  # Another run may have finished first: keep whichever landed.
  mv -T "$staging" "$zig_pkg" 2>/dev/null || rm -rf "$staging"
fi
[ -x "$zig_pkg/ziglang/zig" ] || { echo "run_tests.sh: no zig in $zig_pkg" >&2; exit 1; }

zig() { PYTHONPATH="$zig_pkg${PYTHONPATH:+:$PYTHONPATH}" "$python" -m ziglang "$@"; }

# ---- the environment --------------------------------------------------------
export HOME="$work/home"
export XDG_CACHE_HOME="$work/home/.cache"
# The global cache (compiled compiler_rt, libc stubs) is reused across runs
# when the persistent cache is writable; it is content-addressed and locked.
export ZIG_GLOBAL_CACHE_DIR="$cache_root/global-cache-$ZIG_VERSION"
export ZIG_LOCAL_CACHE_DIR="$work/local-cache"
export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p "$ZIG_GLOBAL_CACHE_DIR" "$ZIG_LOCAL_CACHE_DIR" "$XDG_CACHE_HOME"

echo "run_tests.sh: zig $(zig version) (ziglang $ZIG_VERSION from $zig_pkg)"

# ---- the tests --------------------------------------------------------------
passed=0
failed=0
rc=0
# zig_build_test NAME [ARGS...]: one `zig build test`, its counts added up.
zig_build_test() {
  local name=$1; shift
  local log="$work/zig-build-test-$name.log" run_rc summary p t
  echo "run_tests.sh: zig build test${*:+ $*} ($name)"
  set +e
  (cd "$work/src" && zig build test "$@" --summary all) >"$log" 2>&1
  run_rc=$?
  set -e
  cat "$log"
  # "Build Summary: 9/9 steps succeeded; 18/18 tests passed[; 1 failed]"
  summary=$(grep -E '^Build Summary:' "$log" | tail -1 || true)
  p=$(sed -nE 's/.* ([0-9]+)\/([0-9]+) tests passed.*/\1/p' <<<"$summary")
  t=$(sed -nE 's/.* ([0-9]+)\/([0-9]+) tests passed.*/\2/p' <<<"$summary")
  if [ -n "$p" ] && [ -n "$t" ]; then
    passed=$((passed + p))
    failed=$((failed + t - p))
    if [ "$run_rc" -ne 0 ] && [ "$t" -eq "$p" ]; then failed=$((failed + 1)); fi
  else
    failed=$((failed + 1)) # nothing ran: a build or compile error
  fi
  if [ "$run_rc" -ne 0 ]; then rc=$run_rc; fi
}

# As a user's `zig build` gets it: the amalgamation compiled into the module.
zig_build_test amalgamation -Dscenarios="$scenarios"
# The same tests on the library Bazel built from the sources.
zig_build_test shared-library -Dpk-lib-dir="$work/lib" -Dpk-include-dir="$work/include" -Dscenarios="$scenarios"

rm -rf "$work/src" "$work/local-cache"
echo "zig: $passed passed, $failed failed"
exit "$rc"
