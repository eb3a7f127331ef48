#!/usr/bin/env bash
# Builds and runs the Windows spawn benchmark under wine, in the prefix the
# Windows tests use. Figures are wine's: a ratio here says what processkit
# adds on top of wine's own process creation, not what Windows would cost.
# usage: bench/windows/run_under_wine.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
./bazelw build --config=mingw //bench:windows_spawn_compare //tests/windows:pk_test_child >&2
bin=$(./bazelw info --config=mingw bazel-bin 2>/dev/null)
export WINEPREFIX="${PROCESSKIT_WINE_DIR:-/tmp/processkit-wine-$(id -u)}/prefix" WINEDEBUG=-all
[ -d "$WINEPREFIX" ] || { echo "no wine prefix yet: run ./bazelw test --config=mingw once" >&2; exit 1; }
/usr/lib/wine/wine64 "$bin/bench/windows_spawn_compare.exe" "$(winepath -w "$bin/tests/windows/pk_test_child.exe")" "${1:-200}"
