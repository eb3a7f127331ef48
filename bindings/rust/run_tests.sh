#!/usr/bin/env bash
# Runs the Rust binding's tests: the generator's unit tests and a staleness
# check of the generated src/sys.rs and src/error_code.rs, then `cargo test
# --locked --features tokio` twice: on the system library (default-features
# = false: a copy of the Bazel-built libprocesskit.so, found by pkg-config
# through a processkit.pc) and bundled (the default feature: build.rs
# compiles csrc/processkit.c and links it statically).
#
# usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H
#
# The toolchain is the machine's rustup stable (~/.cargo/bin of the real
# user); when no cargo is found, rustup installs the stable toolchain if
# rustup is there, else Debian's cargo is installed with apt-get (both are
# printed). Crates (tokio, cc, pkg-config, as Cargo.lock has them) come from
# crates.io into the real user's CARGO_HOME (~/.cargo), so they are fetched
# once and reused offline afterwards. The sources, the library copy, HOME,
# TMPDIR and the build directory live under $TEST_TMPDIR.
set -euo pipefail

lib_so=${1:?usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H}
header=${2:?usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H}
src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# bindings/gen is not a Bazel package and the root package does not export
# its files, so they are not runfiles: find them beside the real sources
# (the runfiles are symlinks into the source tree).
real_src=$(dirname "$(readlink -f "$src_dir/Cargo.toml")")
gen_dir=$(cd "$real_src/../gen" 2>/dev/null && pwd || true)

if [ -z "${TEST_TMPDIR:-}" ]; then
  TEST_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/processkit-rust-test.XXXXXX")
  trap 'rm -rf "$TEST_TMPDIR"' EXIT
fi
work="$TEST_TMPDIR/rust"
rm -rf "$work"
mkdir -p "$work/lib/pkgconfig" "$work/include" "$work/home" "$work/tmp" "$work/src"

# The library and header, with the symlink the SONAME needs.
cp "$lib_so" "$work/lib/libprocesskit.so"
chmod u+w "$work/lib/libprocesskit.so"
ln -sf libprocesskit.so "$work/lib/libprocesskit.so.1"
cp "$header" "$work/include/processkit.h"
# What an installed library carries for pkg-config (cf. dist/processkit.pc.in).
cat >"$work/lib/pkgconfig/processkit.pc" <<PC
libdir=$work/lib
includedir=$work/include

Name: processkit
Description: Kill-on-free process containment and run-and-capture with a stable C ABI
Version: 1.0.0
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lprocesskit
PC

# The sources, copied (runfiles are read-only symlinks; cargo writes beside them).
for item in Cargo.toml Cargo.lock build.rs rustfmt.toml src tests csrc; do
  cp -rL "$src_dir/$item" "$work/src/"
done
chmod -R u+w "$work/src"

failures=0
gen_passed=0

# ---- the generator: unit tests and staleness of its files ---------------------
python=$(command -v python3 || true)
if [ -n "$python" ] && [ -n "$gen_dir" ] && [ -f "$gen_dir/gen_rust.py" ]; then
  echo "=== python3 -m unittest test_gen_rust"
  if gen_log=$(cd "$gen_dir" && "$python" -B -m unittest test_gen_rust 2>&1); then
    echo "$gen_log"
    ran=$(sed -nE 's/^Ran ([0-9]+) tests?.*/\1/p' <<<"$gen_log")
    gen_passed=$((gen_passed + ${ran:-1}))
  else
    echo "$gen_log"
    failures=$((failures + 1))
  fi
  echo "=== src/sys.rs and src/error_code.rs are what gen_rust.py writes"
  if (cd "$gen_dir" && "$python" -B - "$src_dir" <<'EOF'
import os, sys
import gen_rust, manifest
prefix = "bindings/rust/"
stale = []
for rel, want in sorted(gen_rust.generate(manifest.load()).items()):
    assert rel.startswith(prefix), rel
    try:
        with open(os.path.join(sys.argv[1], rel[len(prefix):])) as f:
            have = f.read()
    except FileNotFoundError:
        have = None
    if have != want:
        stale.append(rel[len(prefix):])
    else:
        print(rel[len(prefix):], "is up to date")
if stale:
    sys.exit("%s stale: run python3 bindings/gen/generate.py" % " and ".join(stale))
EOF
  ); then
    gen_passed=$((gen_passed + 1))
  else
    failures=$((failures + 1))
  fi
else
  echo "run_tests.sh: python3 or bindings/gen not found; skipping the generator checks"
fi

# ---- the toolchain ----------------------------------------------------------
real_home=$(getent passwd "$(id -u)" 2>/dev/null | cut -d: -f6 || true)
real_home=${real_home:-$HOME}
export CARGO_HOME=${CARGO_HOME:-$real_home/.cargo}
export RUSTUP_HOME=${RUSTUP_HOME:-$real_home/.rustup}
export PATH="$CARGO_HOME/bin:$PATH"

sudo=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); fi
if ! command -v cargo >/dev/null 2>&1 || ! cargo --version >/dev/null 2>&1; then
  if command -v rustup >/dev/null 2>&1; then
    echo "run_tests.sh: installing the stable Rust toolchain with rustup"
    rustup toolchain install stable --profile minimal
    rustup default stable
  else
    echo "run_tests.sh: installing Debian's cargo and rustc with apt-get"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cargo rustc </dev/null
  fi
fi
command -v cargo >/dev/null 2>&1 || { echo "run_tests.sh: no cargo" >&2; exit 1; }
echo "run_tests.sh: $(cargo --version), $(rustc --version) (CARGO_HOME=$CARGO_HOME)"

# ---- the environment --------------------------------------------------------
export HOME="$work/home"
export TMPDIR="$work/tmp"
export CARGO_TARGET_DIR="$work/target"
export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1
unset RUSTFLAGS CARGO_BUILD_TARGET PROCESSKIT_LIB_DIR LD_LIBRARY_PATH PKG_CONFIG_PATH

# ---- the tests --------------------------------------------------------------
passed=0
failed=0
rc=0
# cargo_test NAME [VAR=VALUE...] -- CARGO-TEST-ARGS...: one counted cargo test
# run ("test result: ok. 15 passed; 0 failed; ..." per test binary).
cargo_test() {
  local name=$1 env_args=() log p f r
  shift
  while [ "$1" != -- ]; do env_args+=("$1"); shift; done
  shift
  log="$work/cargo-test-$name.log"
  echo "=== $name: ${env_args[*]:+${env_args[*]} }cargo test $*"
  set +e
  (cd "$work/src" && env ${env_args[@]+"${env_args[@]}"} cargo test "$@") >"$log" 2>&1
  r=$?
  set -e
  cat "$log"
  p=$(sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
  f=$(sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\2/p' "$log" | awk '{s+=$1} END {print s+0}')
  if [ "$r" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi # a build error: nothing ran
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$r" -ne 0 ]; then rc=1; fi
}

# The system library, the way default-features = false finds it: pkg-config
# reads processkit.pc (whose -Wl,-rpath reaches this crate's test binaries).
# Without pkg-config, the PROCESSKIT_LIB_DIR override.
if command -v pkg-config >/dev/null 2>&1; then
  cargo_test system-library PKG_CONFIG_PATH="$work/lib/pkgconfig" -- --locked --no-default-features --features tokio
else
  echo "run_tests.sh: no pkg-config; the system-library run uses PROCESSKIT_LIB_DIR"
  cargo_test system-library PROCESSKIT_LIB_DIR="$work/lib" -- --locked --no-default-features --features tokio
fi
# Bundled (the default): build.rs compiles csrc/processkit.c with the cc crate.
cargo_test bundled -- --locked --features tokio

# Nothing left behind by the tests: temp files (pid files) in their TMPDIR.
leftovers=$(find "$work/tmp" -mindepth 1 -name 'pk-rust-*' 2>/dev/null | head -5)
if [ -n "$leftovers" ]; then
  echo "run_tests.sh: the tests left files behind:"; echo "$leftovers"
  failed=$((failed + 1))
  rc=1
fi

rm -rf "$work/src" "$work/target"
passed=$((passed + gen_passed))
failed=$((failed + failures))
echo "rust: $passed passed, $failed failed"
if [ "$rc" -ne 0 ] || [ "$failures" -ne 0 ]; then exit 1; fi
exit 0
