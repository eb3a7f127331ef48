#!/usr/bin/env bash
# Runs the Go binding's tests: the generator's unit tests
# (bindings/gen/test_gen_go.py), a staleness check of the generated
# zz_generated*.go, gofmt, then `go test -race -v ./...` against a copy of
# libprocesskit.so.
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

# The library and header, with the symlink the SONAME needs.
cp "$lib_so" "$work/lib/libprocesskit.so"
chmod u+w "$work/lib/libprocesskit.so"
ln -sf libprocesskit.so "$work/lib/libprocesskit.so.1"
cp "$header" "$work/include/processkit.h"

# The sources, copied (runfiles are read-only symlinks).
cp -L "$src_dir"/go.mod "$src_dir"/*.go "$work/src/"
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
export CGO_CFLAGS="-I$work/include"
export CGO_LDFLAGS="-L$work/lib -Wl,-rpath,$work/lib"
export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
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

# ---- go vet and go test -race -----------------------------------------------
cd "$work/src"
echo "=== go vet ./..."
if go vet ./...; then
  checks_passed=$((checks_passed + 1))
else
  failures=$((failures + 1))
fi
echo "=== go test -race -count=1 -v ./..."
set +e
go test -race -count=1 -v ./... 2>&1 | tee "$work/go-test.log"
rc=${PIPESTATUS[0]}
set -e
go_passed=$(grep -c -- '^--- PASS' "$work/go-test.log" || true)
go_failed=$(grep -c -- '^--- FAIL' "$work/go-test.log" || true)
if [ "$rc" != 0 ]; then
  failures=$((failures + 1))
fi

echo "=== result: go test exit $rc ($go_passed top-level tests passed, $go_failed failed); other checks: $checks_passed passed"
echo "go: $((go_passed + checks_passed)) passed, $((go_failed + failures)) failed"
[ "$failures" = 0 ] && [ "$go_failed" = 0 ]
