#!/usr/bin/env bash
# run_under_wine.sh TEST.exe [ARGS...]: the --run_under wrapper of
# --config=mingw (.bazelrc). Runs a mingw-built Windows test under wine64 and
# exits with its exit code.
#
# Wine prefix: one per user, created on first use (wineboot, ~12 s, ~700 MB)
# and reused by every test after that. It lives in /tmp, not under $HOME:
# Bazel may point HOME at the per-test temp dir. Override the location with
# --test_env=PROCESSKIT_WINE_DIR=/some/dir.
#
# wineserver: each test gets its own, because Bazel's process-wrapper is a
# child subreaper that SIGKILLs every leftover descendant when a test ends,
# setsid() or not. A wineserver shared between tests would die with whichever
# test started it, and the other tests' wine processes then hang until their
# timeout. wineserver puts its socket under $TMPDIR, so a per-test TMPDIR means
# a per-test wineserver (~0.5 s to start). When the test ends the process-wrapper
# kills it and the wine services it started (services.exe, winedevice.exe, ...).
# Run by hand, outside Bazel, the wineserver exits by itself ~3 s after the last
# wine process (it is not started with a longer -p timeout).
set -euo pipefail

if [ "$#" -lt 1 ]; then
  echo "usage: $0 TEST.exe [ARGS...]" >&2
  exit 2
fi

wine_dir="${PROCESSKIT_WINE_DIR:-/tmp/processkit-wine-$(id -u)}"
mkdir -p -m 0700 "$wine_dir"
if [ ! -O "$wine_dir" ]; then
  echo "run_under_wine: $wine_dir is not owned by $(id -un); set PROCESSKIT_WINE_DIR" >&2
  exit 2
fi

export WINEPREFIX="$wine_dir/prefix"
# -all also silences Debian's "it looks like wine32 is missing" hint.
export WINEDEBUG=-all
# No Mono/Gecko install prompts during wineboot.
export WINEDLLOVERRIDES="mscoree,mshtml="
# Console tests only; no windows popping up on a developer's desktop.
unset DISPLAY WAYLAND_DISPLAY
if [ -n "${TEST_TMPDIR:-}" ]; then
  export TMPDIR="$TEST_TMPDIR" # see "wineserver" above
fi

wine64=$(command -v wine64 || true)
if [ -z "$wine64" ] && [ -x /usr/lib/wine/wine64 ]; then
  wine64=/usr/lib/wine/wine64 # Debian keeps it off PATH
fi
if [ -z "$wine64" ]; then
  echo "run_under_wine: wine64 not found (apt-get install wine64)" >&2
  exit 2
fi
export WINELOADER="$wine64"

# Create the prefix once; concurrent tests wait on the lock. The stamp is written
# last and names the wine version, so a prefix half-made by a killed wineboot, or
# made by another wine release, is rebuilt here instead of being "updated" by
# several tests' wineservers at once.
want="$("$wine64" --version)"
exec 9>"$wine_dir/init.lock"
flock 9
if [ "$(cat "$wine_dir/prefix.stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$WINEPREFIX" "$wine_dir/prefix.stamp"
  start=$SECONDS
  echo "run_under_wine: creating wine prefix $WINEPREFIX ($want)" >&2
  wineboot -i >/dev/null 2>&1 || { echo "run_under_wine: wineboot -i failed" >&2; exit 2; }
  # Debian's wine 8 prefix reports Windows 7 (6.1); report the Windows 10 the
  # library targets.
  "$wine64" winecfg /v win10 >/dev/null 2>&1 || { echo "run_under_wine: winecfg failed" >&2; exit 2; }
  # Tests start their own wineservers, which read the registry from disk:
  # wait for this one to exit and save it.
  wineserver -w
  echo "$want" >"$wine_dir/prefix.stamp"
  echo "run_under_wine: prefix ready in $((SECONDS - start)) s" >&2
fi
flock -u 9
exec 9>&-

# A Unix path as wine sees it through drive Z: (Z: is / in a new prefix).
to_windows() {
  local p="$1"
  printf 'Z:%s' "${p//\//\\}"
}

# Paths Bazel hands the test. gtest takes XML_OUTPUT_FILE=/x/test.xml for a
# relative path (no drive letter) and writes ./x/test.xml into the runfiles
# tree, so Bazel never sees the report. Windows code also joins, compares or
# splits these paths; give it Windows ones throughout.
for var in XML_OUTPUT_FILE TEST_TMPDIR TEST_UNDECLARED_OUTPUTS_DIR \
  TEST_UNDECLARED_OUTPUTS_ANNOTATIONS_DIR TEST_PREMATURE_EXIT_FILE \
  TEST_SHARD_STATUS_FILE TEST_INFRASTRUCTURE_FAILURE_FILE \
  TEST_WARNINGS_OUTPUT_FILE TEST_SRCDIR RUNFILES_DIR RUNFILES_MANIFEST_FILE \
  GTEST_TMP_DIR; do
  val="${!var-}"
  case "$val" in
    /*) export "$var=$(to_windows "$val")" ;;
  esac
done

# wine64 exits with the Windows exit code's low 8 bits: a crash (0xC0000005)
# shows up as 5, an exit code of 256 as 0.
exec "$wine64" "$@"
