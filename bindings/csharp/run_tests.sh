#!/usr/bin/env bash
# Runs the C# binding's tests (Tests.exe, under Mono) against a copy of
# libprocesskit.so, with a header cross-check of the struct sizes.
#
# The library is found the way a package user's is, with no LD_LIBRARY_PATH:
# libprocesskit.so beside Processkit.dll and no Processkit.dll.config (the
# NuGet layout); then once more, for the ABI test only, as libprocesskit.so.1
# with Processkit.dll.config beside the dll (the SONAME mapping).
#
# usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H
#
# Toolchain: Debian's Mono (mcs, C# <= 7.2, and the mono runtime). When mcs
# or mono is missing it is installed with apt-get (root), and what is
# installed is printed. Everything else (sources, library copy, HOME, TMPDIR,
# build output) lives under $TEST_TMPDIR (a fresh mktemp dir, removed
# afterwards, when run outside Bazel).
set -euo pipefail

lib_so=${1:?usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H}
header=${2:?usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H}
src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ -z "${TEST_TMPDIR:-}" ]; then
  TEST_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/processkit-csharp-test.XXXXXX")
  trap 'rm -rf "$TEST_TMPDIR"' EXIT
fi
work="$TEST_TMPDIR/csharp"
rm -rf "$work"
mkdir -p "$work/include" "$work/home" "$work/tmp" "$work/build" "$work/soname"

# The library beside the assembly (as in the package's layout once restored),
# and the header.
cp "$lib_so" "$work/build/libprocesskit.so"
cp "$header" "$work/include/processkit.h"

# The sources, copied (Bazel runfiles are read-only symlinks).
for f in Native.g.cs Processkit.cs Processes.cs Runners.cs Tests.cs ScenarioTests.cs README.md; do
  cp -L "$src_dir/$f" "$work/build/$f"
done
cp -L "$src_dir/Processkit.dll.config" "$work/soname/Processkit.dll.config"
chmod -R u+w "$work/build" "$work/soname"

# ---- the toolchain ----------------------------------------------------------
if ! command -v mcs >/dev/null 2>&1 || ! command -v mono >/dev/null 2>&1; then
  packages="mono-mcs mono-runtime"
  echo "run_tests.sh: mcs/mono not found; installing Debian packages: $packages"
  if [ "$(id -u)" != 0 ]; then
    echo "run_tests.sh: not root, cannot apt-get install $packages" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt_opts=(-y -q -o DPkg::Lock::Timeout=600)
  if ! apt-get install "${apt_opts[@]}" --no-install-recommends $packages; then
    apt-get update -q -o DPkg::Lock::Timeout=600
    apt-get install "${apt_opts[@]}" --no-install-recommends $packages
  fi
  echo "run_tests.sh: installed: $(dpkg-query -W -f='${Package} ${Version}, ' $packages)"
fi
echo "run_tests.sh: $(mcs --version), $(mono --version | head -n 1)"

export HOME="$work/home"
export TMPDIR="$work/tmp"
export XDG_CONFIG_HOME="$work/home/.config"
export XDG_CACHE_HOME="$work/home/.cache"
export MONO_ENV_OPTIONS="--debug"
# Nothing points Mono at the library: it must find it beside Processkit.dll.
unset LD_LIBRARY_PATH MONO_PATH

# ---- build ------------------------------------------------------------------
cd "$work/build"
mcs -nologo -unsafe -langversion:7.2 -warnaserror+ -target:library -doc:Processkit.xml -nowarn:1591 \
  -out:Processkit.dll Native.g.cs Processkit.cs Processes.cs Runners.cs
mcs -nologo -langversion:7.2 -warnaserror+ -r:Processkit.dll -r:System.Core.dll -out:Tests.exe Tests.cs ScenarioTests.cs

# ---- header cross-check: sizeof of every public struct, from the real header --
if command -v cc >/dev/null 2>&1; then
  structs=$(sed -n 's/^typedef struct \(pk_[a-z0-9_]*\) {.*/\1/p' "$work/include/processkit.h")
  {
    echo '#include <stdio.h>'
    echo '#include "processkit.h"'
    echo 'int main(void) {'
    for s in $structs; do echo "  printf(\"%s %zu\\n\", \"$s\", sizeof($s));"; done
    echo '  return 0; }'
  } > "$work/build/sizes.c"
  cc -std=c11 -I"$work/include" -o "$work/build/sizes" "$work/build/sizes.c"
  "$work/build/sizes" > "$work/build/header_sizes.txt"
  export PK_CS_HEADER_SIZES="$work/build/header_sizes.txt"
else
  echo "run_tests.sh: no C compiler; the header size cross-check is skipped"
fi

# ---- run --------------------------------------------------------------------
# The shared scenario file, found from this script's own folder (the sources
# are copies), and the README whose quickstart a test compares.
scenarios="$src_dir/../../tests/scenarios/scenarios.json"
[ -f "$scenarios" ] || { echo "run_tests.sh: $scenarios is missing" >&2; exit 1; }
export PK_CS_SCENARIOS=$(cd "$(dirname "$scenarios")" && pwd)/scenarios.json
export PK_CS_README="$work/build/README.md"
export PK_CS_SCENARIO_TESTS="$work/build/ScenarioTests.cs"
export PK_CS_KEEPER_PIDS="$work/build/keepers.txt"
set +e
mono Tests.exe 2>&1 | tee "$work/build/output.txt"
rc=${PIPESTATUS[0]}
set -e

# The SONAME mapping (Processkit.dll.config): only libprocesskit.so.1 beside
# the dll, the ABI test only.
cp "$work/build/Processkit.dll" "$work/build/Tests.exe" "$work/soname/"
cp "$work/build/libprocesskit.so" "$work/soname/libprocesskit.so.1"
soname_ok=0
if (cd "$work/soname" && env -u PK_CS_KEEPER_PIDS mono Tests.exe abi_layouts) >"$work/soname/output.txt" 2>&1 &&
  grep -qx '1 passed, 0 failed' "$work/soname/output.txt"; then
  soname_ok=1
  echo "run_tests.sh: Processkit.dll.config maps processkit to libprocesskit.so.1 beside the dll"
fi

# Nothing left behind: the library's keeper (a fork of the runner that guards
# its cgroup leaves) ends with the runner; no temp file remains.
extra_failures=0
if [ "$soname_ok" != 1 ]; then
  echo "run_tests.sh: FAIL: with Processkit.dll.config and libprocesskit.so.1 only:" >&2
  sed 's/^/    /' "$work/soname/output.txt" >&2
  extra_failures=$((extra_failures + 1))
fi
if [ -s "$PK_CS_KEEPER_PIDS" ]; then
  while read -r pid start; do
    [ -n "$pid" ] || continue
    gone=0
    for _ in $(seq 1 200); do
      stat_line=$(cat "/proc/$pid/stat" 2>/dev/null || true)
      rest=${stat_line##*) }
      read -r -a fields <<< "$rest"
      if [ -z "$stat_line" ] || [ "${fields[0]:-}" = Z ] || [ "${fields[19]:-}" != "$start" ]; then
        gone=1
        break
      fi
      sleep 0.05
    done
    if [ "$gone" = 1 ]; then
      echo "run_tests.sh: the keeper $pid ended with the runner"
    else
      echo "run_tests.sh: FAIL: the keeper $pid outlived the runner" >&2
      extra_failures=$((extra_failures + 1))
    fi
  done < "$PK_CS_KEEPER_PIDS"
fi
if [ -n "$(ls -A "$TMPDIR")" ]; then
  echo "run_tests.sh: FAIL: temp files left behind: $(ls -A "$TMPDIR")" >&2
  extra_failures=$((extra_failures + 1))
fi

summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/build/output.txt" | tail -n 1 || true)
echo "run_tests.sh: C# binding: ${summary:-no summary line (runner crashed?)}; exit $rc; script checks failed: $extra_failures"
if [ "$rc" != 0 ] || [ -z "$summary" ] || [ "$extra_failures" != 0 ]; then
  exit 1
fi
