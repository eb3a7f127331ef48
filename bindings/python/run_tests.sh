#!/usr/bin/env bash
# Runs the Python binding's tests: the generator's unit tests
# (bindings/gen/test_gen_python.py), a staleness check of the generated
# processkit_c/_native.py, then pytest over tests/ against a copy of
# libprocesskit.so.
#
# usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H [ABI_MANIFEST [SCENARIOS_JSON]]
#
# Before pytest, mypy --strict (pyproject.toml's [tool.mypy]) checks the
# package: the interpreter's mypy, else `pip install mypy` into the same
# target directory as pytest; a type error fails the run.
#
# The toolchain is the machine's python3 (PATH: pyenv's, else Debian's); when
# there is none, Debian's python3 is installed with apt-get. pytest is the
# interpreter's own when it has one, else `pip install pytest` into a target
# directory under $TEST_TMPDIR (both printed). Nothing is compiled: the
# sources (which carry no library of their own; pip install builds one into
# the package) load the given library through $PROCESSKIT_LIBRARY, the
# documented override. The sources, the library copy (with the
# libprocesskit.so.1 symlink its SONAME needs), HOME and TMPDIR live under
# $TEST_TMPDIR; pip's download cache is the real user's when writable.
set -euo pipefail

lib_so=${1:?usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H [ABI_MANIFEST]}
header=${2:?usage: run_tests.sh LIBPROCESSKIT_SO PROCESSKIT_H [ABI_MANIFEST]}
manifest=${3:-}
scenarios=${4:-}
src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# bindings/gen is not in the runfiles (the root package does not export it):
# look beside the runfiles' copy, then beside the real sources this script is
# a symlink to.
gen_dir=""
for candidate in "$src_dir/../gen" "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../gen"; do
  if [ -f "$candidate/gen_python.py" ]; then
    gen_dir=$(cd "$candidate" && pwd)
    break
  fi
done

if [ -z "${TEST_TMPDIR:-}" ]; then
  TEST_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/processkit-python-test.XXXXXX")
  trap 'rm -rf "$TEST_TMPDIR"' EXIT
fi
work="$TEST_TMPDIR/python"
rm -rf "$work"
mkdir -p "$work/lib" "$work/include" "$work/home" "$work/tmp" "$work/src"

# The library and header, with the symlink the SONAME needs.
cp "$lib_so" "$work/lib/libprocesskit.so"
chmod u+w "$work/lib/libprocesskit.so"
ln -sf libprocesskit.so "$work/lib/libprocesskit.so.1"
cp "$header" "$work/include/processkit.h"

# The sources, copied (runfiles are read-only symlinks).
cp -rL "$src_dir/processkit_c" "$src_dir/tests" "$src_dir/pyproject.toml" "$src_dir/README.md" "$work/src/"
chmod -R u+w "$work/src"

# ---- the toolchain ----------------------------------------------------------
real_home=$(getent passwd "$(id -u)" 2>/dev/null | cut -d: -f6 || true)
real_home=${real_home:-${HOME:-}}
python=$(command -v python3 || true)
if [ -z "$python" ]; then
  echo "run_tests.sh: no python3 on PATH; installing Debian's python3 with apt-get"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-pip
    echo "run_tests.sh: installed python3 $(dpkg-query -W -f='${Version}' python3 2>/dev/null || echo '?')"
    python=$(command -v python3 || true)
  fi
fi
if [ -z "$python" ]; then
  echo "run_tests.sh: no python3; cannot run the Python tests"
  echo "python: 0 passed, 1 failed"
  exit 1
fi
# The interpreter itself, not a shim (pyenv's shims need the real HOME's setup).
python=$("$python" -c 'import sys; print(sys.executable)')
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 8))'; then
  echo "run_tests.sh: $("$python" --version) is older than 3.8"
  echo "python: 0 passed, 1 failed"
  exit 1
fi
if [ -n "$real_home" ] && mkdir -p "$real_home/.cache/pip" 2>/dev/null && [ -w "$real_home/.cache/pip" ]; then
  export PIP_CACHE_DIR="$real_home/.cache/pip"
fi
extra_path=""
if ! "$python" -c 'import pytest' 2>/dev/null; then
  echo "run_tests.sh: $python has no pytest; pip install pytest into $work/site"
  if PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --disable-pip-version-check --target "$work/site" pytest; then
    extra_path="$work/site"
  elif [ "$(id -u)" = 0 ] && [ "$(readlink -f "$python")" = "$(readlink -f /usr/bin/python3 2>/dev/null)" ]; then
    echo "run_tests.sh: pip failed; installing Debian's python3-pytest with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pytest
  fi
  echo "run_tests.sh: installed pytest $(PYTHONPATH="$extra_path" "$python" -c 'import pytest; print(pytest.__version__)')"
fi

if ! PYTHONPATH="$extra_path" "$python" -c 'import mypy' 2>/dev/null; then
  echo "run_tests.sh: $python has no mypy; pip install mypy into $work/site"
  if PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --disable-pip-version-check --target "$work/site" mypy; then
    extra_path="$work/site"
  fi
fi

# The shared scenario file: the given one, else the checkout's (beside the
# real sources this script is a symlink to).
if [ -z "$scenarios" ]; then
  scenarios="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../tests/scenarios/scenarios.json"
fi
export PROCESSKIT_SCENARIOS=$(cd "$(dirname "$scenarios")" && pwd)/$(basename "$scenarios")

export HOME="$work/home"
export TMPDIR="$work/tmp"
export PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$work/src${extra_path:+:$extra_path}"
export PROCESSKIT_LIBRARY="$work/lib/libprocesskit.so.1"
export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -n "$manifest" ]; then
  manifest=$(cd "$(dirname "$manifest")" && pwd)/$(basename "$manifest")
  export PROCESSKIT_ABI_MANIFEST="$manifest"
fi
echo "=== toolchain: $("$python" --version) ($python), pytest $("$python" -c 'import pytest; print(pytest.__version__)')"

failures=0
checks_passed=0

# ---- the generator: unit tests and staleness of _native.py ------------------
if [ -n "$gen_dir" ] && [ -f "$gen_dir/gen_python.py" ]; then
  echo "=== python3 -m unittest test_gen_python"
  if (cd "$gen_dir" && "$python" -B -m unittest test_gen_python 2>&1); then
    checks_passed=$((checks_passed + 1))
  else
    failures=$((failures + 1))
  fi
  echo "=== processkit_c/_native.py is what gen_python.py writes"
  if (cd "$gen_dir" && "$python" -B - "$src_dir" "$manifest" <<'PY'
import os, sys
import gen_python, manifest
m = manifest.load(sys.argv[2]) if sys.argv[2] else manifest.load()
stale = []
for rel, want in sorted(gen_python.generate(m).items()):
    path = os.path.join(sys.argv[1], os.path.relpath(rel, "bindings/python"))
    with open(path) as f:
        if f.read() != want:
            stale.append(rel)
if stale:
    sys.exit("stale: %s; run: python3 bindings/gen/generate.py" % ", ".join(stale))
print("generated Python files are up to date")
PY
  ); then
    checks_passed=$((checks_passed + 1))
  else
    failures=$((failures + 1))
  fi
else
  echo "run_tests.sh: bindings/gen not found; skipping the generator checks"
fi

# ---- mypy --strict ----------------------------------------------------------
cd "$work/src"
echo "=== python3 -m mypy -p processkit_c (strict: pyproject.toml)"
if "$python" -m mypy --version >/dev/null 2>&1 && \
   "$python" -m mypy --no-incremental --cache-dir=/dev/null --config-file pyproject.toml -p processkit_c 2>&1; then
  checks_passed=$((checks_passed + 1))
else
  echo "run_tests.sh: mypy failed (or is missing)"
  failures=$((failures + 1))
fi

# ---- pytest -----------------------------------------------------------------
echo "=== python3 -m pytest -v tests"
junit=()
if [ -n "${XML_OUTPUT_FILE:-}" ]; then
  junit=(--junitxml="$XML_OUTPUT_FILE")
fi
set +e
"$python" -m pytest -p no:cacheprovider -v "${junit[@]}" tests 2>&1 | tee "$work/pytest.log"
rc=${PIPESTATUS[0]}
set -e
summary=$(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$work/pytest.log" | tail -1 || true)
py_passed=$(printf '%s\n' "$summary" | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^passed/) n += $(i-1)} END {print n + 0}')
py_failed=$(printf '%s\n' "$summary" | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^(failed|error)/) n += $(i-1)} END {print n + 0}')
if [ "$rc" != 0 ]; then
  failures=$((failures + 1))
fi

echo "=== result: pytest exit $rc (${summary:-no summary}); other checks: $checks_passed passed, $failures failed"
echo "python: $((py_passed + checks_passed)) passed, $((py_failed + failures)) failed"
[ "$failures" = 0 ]
