#!/usr/bin/env bash
# Runs the Go binding's tests: the generator's unit tests
# (bindings/gen/test_gen_go.py), a staleness check of the generated
# zz_generated*.go, gofmt, then go vet and `go test -race -v` twice:
#   - bundled (the default): cgo compiles the package's own processkit.c (the
#     amalgamation); no CGO_* variables, no library, no pkg-config;
#   - `-tags processkit_system`: the package links a copy of the built
#     libprocesskit.so.1 through a processkit.pc written here (rpath in its
#     Libs, no LD_LIBRARY_PATH).
# Each mode's test binary is checked to need libprocesskit.so.1 (system) or
# not (bundled).
#
# usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H
#
# The toolchain is the machine's Go (go on PATH, else /usr/local/go/bin/go);
# when none is found, Debian's golang-go is installed with apt-get (printed),
# and the run fails if that is older than go.mod's minimum. The module has no
# dependencies: GOPROXY=off, GOTOOLCHAIN=local, nothing is downloaded. The
# build cache is the real user's (~/.cache/go-build, shared and safe for
# concurrent use) when writable, else one under $TEST_TMPDIR; the sources, the
# library copy, HOME, GOPATH and TMPDIR live under $TEST_TMPDIR.
set -euo pipefail

lib_so=${1:?usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H}
header=${2:?usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H}
src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# bindings/gen is not a Bazel package: find it beside the real script (the
# runfiles are symlinks into the source tree), or beside the runfiles copy.
real_dir=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
gen_dir=""
for d in "$real_dir/../gen" "$src_dir/../gen"; do
  if [ -f "$d/gen_go.py" ]; then
    gen_dir=$(cd "$d" && pwd)
    break
  fi
done

if [ -z "${TEST_TMPDIR:-}" ]; then
  TEST_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/processkit-go-test.XXXXXX")
  trap 'rm -rf "$TEST_TMPDIR"' EXIT
fi
work="$TEST_TMPDIR/go"
rm -rf "$work"
mkdir -p "$work/lib" "$work/include" "$work/home" "$work/tmp" "$work/gopath" "$work/src"

# For the processkit_system mode: the library under its SONAME, the
# link-time name, the header and a pkg-config file for them.
cp "$lib_so" "$work/lib/libprocesskit.so.1"
chmod u+w "$work/lib/libprocesskit.so.1"
ln -sf libprocesskit.so.1 "$work/lib/libprocesskit.so"
cp "$header" "$work/include/processkit.h"
mkdir -p "$work/lib/pkgconfig"
version=$(awk '$1 == "#define" && $2 ~ /^PK_VERSION_(MAJOR|MINOR|PATCH)$/ { print $3 }' "$header" | paste -sd.)
cat >"$work/lib/pkgconfig/processkit.pc" <<PC
prefix=$work
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: processkit
Description: processkit, built by Bazel, for the Go binding's processkit_system test
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lprocesskit
PC

# The package's sources, the amalgamation included, copied (runfiles are
# read-only symlinks).
cp -L "$src_dir"/go.mod "$src_dir"/*.go "$src_dir"/processkit.c "$src_dir"/processkit.h "$work/src/"
chmod -R u+w "$work/src"

failures=0
checks_passed=0

# ---- the generator: unit tests and staleness of zz_generated*.go ------------
python=$(command -v python3 || true)
if [ -n "$python" ] && [ -n "$gen_dir" ]; then
  echo "=== generator: $gen_dir"
  echo "=== python3 -m unittest test_gen_go"
  if (cd "$gen_dir" && "$python" -B -m unittest test_gen_go 2>&1); then
    checks_passed=$((checks_passed + 1))
  else
    failures=$((failures + 1))
  fi
  echo "=== zz_generated*.go are what gen_go.py writes"
  if (cd "$gen_dir" && "$python" -B - "$src_dir" <<'PY'
import os, sys
import gen_go, manifest
stale = []
for rel, want in sorted(gen_go.generate(manifest.load()).items()):
    path = os.path.join(sys.argv[1], os.path.basename(rel))
    with open(path) as f:
        if f.read() != want:
            stale.append(rel)
if stale:
    sys.exit("stale: %s; run: python3 bindings/gen/generate.py" % ", ".join(stale))
print("generated Go files are up to date")
PY
  ); then
    checks_passed=$((checks_passed + 1))
  else
    failures=$((failures + 1))
  fi
else
  echo "run_tests.sh: python3 or bindings/gen not found; skipping the generator checks"
fi

# ---- the toolchain ----------------------------------------------------------
real_home=$(getent passwd "$(id -u)" 2>/dev/null | cut -d: -f6 || true)
real_home=${real_home:-${HOME:-}}
go_bin=$(command -v go || true)
if [ -z "$go_bin" ] && [ -x /usr/local/go/bin/go ]; then
  go_bin=/usr/local/go/bin/go
fi
if [ -z "$go_bin" ]; then
  echo "run_tests.sh: no Go toolchain found; installing Debian's golang-go with apt-get"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go
    echo "run_tests.sh: installed golang-go $(dpkg-query -W -f='${Version}' golang-go 2>/dev/null || echo '?')"
    go_bin=$(command -v go || true)
  fi
fi
if [ -z "$go_bin" ]; then
  echo "run_tests.sh: no Go toolchain; cannot run the Go tests"
  echo "0 passed, 1 failed"
  exit 1
fi
export PATH="$(dirname "$go_bin"):$PATH"

export HOME="$work/home"
export TMPDIR="$work/tmp"
export GOPATH="$work/gopath"
export GOMODCACHE="$work/gopath/pkg/mod"
export GOFLAGS=-mod=mod
export GOPROXY=off
export GOTOOLCHAIN=local
export GOTELEMETRY=off
export GOENV=off
export CGO_ENABLED=1
if [ -n "$real_home" ] && mkdir -p "$real_home/.cache/go-build" 2>/dev/null && [ -w "$real_home/.cache/go-build" ]; then
  export GOCACHE="$real_home/.cache/go-build"
else
  export GOCACHE="$work/gocache"
fi
# Nothing may point the build at a library: the bundled mode needs none, the
# system mode gets PKG_CONFIG_PATH for its own commands only.
unset CGO_CFLAGS CGO_CPPFLAGS CGO_CXXFLAGS CGO_LDFLAGS LD_LIBRARY_PATH PKG_CONFIG_PATH LIBRARY_PATH CPATH C_INCLUDE_PATH
echo "=== toolchain: $(go version) ($go_bin), GOCACHE=$GOCACHE"

need=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$work/src/go.mod")
have=$(go env GOVERSION | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
  echo "run_tests.sh: Go $have is older than go.mod's go $need"
  echo "$checks_passed passed, $((failures + 1)) failed"
  exit 1
fi

# ---- gofmt ------------------------------------------------------------------
echo "=== gofmt -l"
unformatted=$(cd "$work/src" && gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "not gofmt-clean: $unformatted"
  failures=$((failures + 1))
else
  checks_passed=$((checks_passed + 1))
fi

# ---- go vet and go test -race, in both modes --------------------------------
cd "$work/src"
go_passed=0
go_failed=0
go_rc=0
# go_mode NAME [ENV=VALUE...] -- [GO FLAGS...]: go vet, go test -race (its
# binary kept as $work/NAME.test) and the test binary's NEEDED entries.
go_mode() {
  local name=$1 envs=() flags=() rc p f
  shift
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  flags=("$@")
  echo "=== $name: ${envs[*]} go vet ${flags[*]} ."
  if env "${envs[@]}" go vet "${flags[@]}" .; then
    checks_passed=$((checks_passed + 1))
  else
    failures=$((failures + 1))
  fi
  echo "=== $name: ${envs[*]} go test -race -count=1 -v ${flags[*]} -o $work/$name.test ."
  set +e
  env "${envs[@]}" go test -race -count=1 -v "${flags[@]}" -o "$work/$name.test" . 2>&1 | tee "$work/go-test-$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  p=$(grep -c -- '^--- PASS' "$work/go-test-$name.log" || true)
  f=$(grep -c -- '^--- FAIL' "$work/go-test-$name.log" || true)
  go_passed=$((go_passed + p))
  go_failed=$((go_failed + f))
  echo "=== $name: go test exit $rc ($p top-level tests passed, $f failed)"
  if [ "$rc" != 0 ]; then
    failures=$((failures + 1))
    go_rc=$rc
  fi
}

# needs_lib NAME yes|no: whether the mode's test binary links libprocesskit.so.1.
needs_lib() {
  local name=$1 want=$2 got=no
  if [ ! -f "$work/$name.test" ]; then
    echo "=== $name: no test binary to inspect"
    failures=$((failures + 1))
    return
  fi
  if readelf -d "$work/$name.test" | grep -q 'NEEDED.*\[libprocesskit\.so\.1\]'; then got=yes; fi
  echo "=== $name: the test binary needs libprocesskit.so.1: $got (want $want)"
  if [ "$got" = "$want" ]; then
    checks_passed=$((checks_passed + 1))
  else
    failures=$((failures + 1))
  fi
}

go_mode bundled --
needs_lib bundled no
command -v pkg-config >/dev/null || echo "run_tests.sh: pkg-config not found; the processkit_system mode needs it"
# Go's build cache does not key on pkg-config's output (golang/go#24544): a
# package cached by a run with another $work would link with that run's -L
# and rpath. So the system mode gets a cache of its own.
go_mode system "PKG_CONFIG_PATH=$work/lib/pkgconfig" "GOCACHE=$work/gocache-system" -- -tags processkit_system
needs_lib system yes

echo "=== result: go test exit $go_rc ($go_passed top-level tests passed, $go_failed failed, both modes); other checks: $checks_passed passed, $failures failed"
echo "go: $((go_passed + checks_passed)) passed, $((go_failed + failures)) failed"
[ "$failures" = 0 ] && [ "$go_failed" = 0 ]
