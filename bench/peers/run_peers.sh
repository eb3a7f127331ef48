#!/usr/bin/env bash
# run_peers.sh: processkit against its real peers (see bench/peers/README.md).
#
#   bench/peers/run_peers.sh [--quick] [--out-dir DIR] [--only SCENARIO]... [--diagnostics]
#
# Builds or installs what the drivers need, saying what it installs, and
# caches it in ~/.cache/processkit-peers/: Debian's libuv1-dev and
# libglib2.0-dev, a venv with processkit-py and matplotlib (pinned), the Rust
# driver (cargo --locked), the Go driver, the libuv/GLib driver (gcc), and
# processkit's own driver (Bazel, -c opt). Then runs every driver round-robin
# and prints one JSON row per scenario and implementation, and writes the
# Markdown report and PNG chart: docs/benchmarks-peers.{md,png} for a full
# run, ~/.cache/processkit-peers/quick/ for --quick (so a quick look never
# overwrites the full results), or --out-dir.
#
# A benchmark program, not a test. It leaves nothing running: every driver
# kills and reaps what it started, and the orchestrator kills by pid any
# process that carries its run's marker in its environment.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/processkit-peers
cmdline="bench/peers/run_peers.sh${*:+ $*}"
quick=0
out_dir=
only=()
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --out-dir) out_dir=$2; shift ;;
    --only) only+=(--only "$2"); shift ;;
    --diagnostics) only+=(--diagnostics) ;;
    *) echo "usage: $0 [--quick] [--out-dir DIR] [--only SCENARIO]... [--diagnostics]" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$out_dir" ]; then
  if [ "$quick" = 1 ]; then out_dir=$cache/quick; else out_dir=$repo/docs; fi
fi
mkdir -p "$cache/bin" "$out_dir"
say() { echo "run_peers: $*" >&2; }

PY_PINS=(processkit-py==1.5.0 matplotlib==3.11.2)

# ---------------------------------------------------------------- Debian packages
need=()
for p in libuv1-dev libglib2.0-dev pkg-config gcc; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
  say "installing Debian packages: ${need[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" </dev/null >&2
fi

# ---------------------------------------------------------------- Python venv
venv=$cache/venv
if ! "$venv/bin/python" - "${PY_PINS[@]}" >/dev/null 2>&1 <<'PYEOF'
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    assert version(name) == want, pin
PYEOF
then
  say "installing into $venv: ${PY_PINS[*]} (PyPI)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "${PY_PINS[@]}" >&2
fi

# ---------------------------------------------------------------- Rust driver
if command -v cargo >/dev/null 2>&1; then
  say "building the Rust driver (cargo build --release --locked; crates cached in ~/.cargo)"
  (cd "$here/rust" && CARGO_TARGET_DIR=$cache/cargo-target cargo build --release --locked -q >&2)
  cp "$cache/cargo-target/release/rust_driver" "$cache/bin/rust_driver"
else
  say "cargo not found: install a Rust toolchain (rustup) to measure processkit_rs and rust_std"; exit 1
fi

# ---------------------------------------------------------------- Go driver
unavailable=()
if command -v go >/dev/null 2>&1; then
  say "building the Go driver (go build)"
  (cd "$here/go" && go build -trimpath -o "$cache/bin/go_driver" . >&2)
  # processkit-go: is the module obtainable through this machine's module proxy?
  # (URLs in the answer are elided: the report names no registry host.)
  probe=$(cd "$here/go" && timeout 120 go list -m -versions github.com/ZelAnton/processkit-go 2>&1 | tr '\n\t' '  ' |
          sed -e 's/"/'"'"'/g' -e 's#https\{0,1\}://[^ ]*#<module proxy URL>#g' -e 's/  */ /g') || true
  case $probe in
    "github.com/ZelAnton/processkit-go v"*)
      say "processkit-go is now listed ($probe); a driver for it still has to be written (README.md)"
      unavailable+=(--unavailable "processkit_go=listed by the module proxy ($probe) but this harness has no driver for it yet") ;;
    *)
      unavailable+=(--unavailable "processkit_go=the Go module proxy refuses github.com/ZelAnton/processkit-go: \`go list -m -versions\` said: ${probe% }") ;;
  esac
else
  say "go not found: install Go to measure go_exec"; exit 1
fi

# ---------------------------------------------------------------- libuv / GLib driver
say "building the libuv/GLib driver (gcc -O2)"
# shellcheck disable=SC2046
gcc -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$cache/bin/c_peers_driver" \
  "$here/c/c_peers_driver.c" $(pkg-config --cflags --libs libuv gio-2.0)

# ---------------------------------------------------------------- processkit's driver
# -c opt: every peer is an optimised build. The library's own -Werror trips on
# a maybe-uninitialized warning that only -O2 raises, hence the demotion.
# --symlink_prefix=/: leave the workspace's bazel-* symlinks alone.
say "building //bench/peers:pk_driver (bazel -c opt)"
bz=(-c opt --copt=-Wno-error=maybe-uninitialized --symlink_prefix=/)
(cd "$repo" && ./bazelw build "${bz[@]}" //bench/peers:pk_driver >&2 2>"$cache/bazel-build.log") || {
  cat "$cache/bazel-build.log" >&2; exit 1; }
bin=$(cd "$repo" && ./bazelw info "${bz[@]}" bazel-bin 2>/dev/null)
cp -f "$bin/bench/peers/pk_driver" "$cache/bin/pk_driver"

rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$repo" status --porcelain -- api backends BUILD 2>/dev/null)" ]; then rev="$rev + uncommitted changes"; fi
tools="processkit at commit $rev, gcc $(gcc -dumpfullversion), $(rustc --version | cut -d' ' -f1-2), $(go version | cut -d' ' -f3), Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())'), libuv $(pkg-config --modversion libuv), GLib $(pkg-config --modversion glib-2.0)"
say "running ($([ "$quick" = 1 ] && echo quick || echo full))"
"$venv/bin/python" "$here/orchestrate.py" $([ "$quick" = 1 ] && echo --quick) \
  --bin-dir "$cache/bin" --python "$venv/bin/python" --python-driver "$here/python/driver.py" \
  --md "$out_dir/benchmarks-peers.md" --png "$out_dir/benchmarks-peers.png" \
  --state "$cache/last-run$([ "$quick" = 1 ] && echo -quick).json" \
  --tools "$tools" --cmdline "$cmdline" "${unavailable[@]}" "${only[@]}"
