#!/usr/bin/env bash
# Python: `pip install ./bindings/python` compiles the C library (the
# amalgamation in bindings/python/csrc) into the package, so a fresh venv
# needs nothing else: no Bazel, no LD_LIBRARY_PATH, no PROCESSKIT_LIBRARY.
# Then `python -m build --wheel` makes a platform wheel (py3-none-<platform>)
# holding the library and py.typed, which installs into a second fresh venv.
# pip fetches setuptools (and build) from PyPI.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_tool python3 || { finish; exit; }
new_project
# Built from a copy: building writes build/ and *.egg-info beside the sources.
cp -r "$REPO/bindings/python" "$PROJECT/processkit-python"
rm -rf "$PROJECT/processkit-python/build" "$PROJECT/processkit-python/dist" "$PROJECT"/processkit-python/*.egg-info
cd "$PROJECT" || exit 1
export PIP_DISABLE_PIP_VERSION_CHECK=1

# The program every Python consumer runs (README: "Use it from your language").
cat > app.py <<'PY'
import processkit_c as pk

r = pk.run(["sh", "-c", "sleep 300 & echo $!"])
print(r.stdout.decode(), end="")  # the grandchild's pid: the run killed it on return
PY

own_copy() { # VENV: the package loaded the library pip built into it
  check "$1: the library is the package's own copy" scrubbed "$1/bin/python" -c \
    'import os, processkit_c as pk; assert pk.library_path() == os.path.join(os.path.dirname(pk.__file__), "libprocesskit.so.1"), pk.library_path()'
}

check "python3 -m venv venv" scrubbed python3 -m venv venv
check "pip install ./bindings/python (compiles the library into the package)" \
  scrubbed venv/bin/pip install ./processkit-python
own_copy venv
run_and_check_grandchild "pip-installed package: run()" venv/bin/python app.py

check "pip install build; python -m build --wheel" \
  scrubbed sh -c 'venv/bin/pip install build && venv/bin/python -m build --wheel --outdir wheels processkit-python'
wheel=$(ls wheels/*.whl 2>/dev/null | head -1)
echo "wheel: ${wheel##*/}"
check "the wheel is tagged py3-none-<platform> and holds libprocesskit.so.1 and py.typed" \
  python3 - "${wheel:-none}" <<'PY'
import os, sys, zipfile
python, abi, platform = os.path.basename(sys.argv[1])[:-len(".whl")].split("-")[-3:]
assert (python, abi) == ("py3", "none") and platform != "any", (python, abi, platform)
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert {"processkit_c/libprocesskit.so.1", "processkit_c/py.typed"} <= set(names), names
PY
check "python3 -m venv venv2; pip install the wheel" \
  scrubbed sh -c 'python3 -m venv venv2 && venv2/bin/pip install "$1"' sh "${wheel:-none}"
own_copy venv2
run_and_check_grandchild "installed wheel: run()" venv2/bin/python app.py

finish
