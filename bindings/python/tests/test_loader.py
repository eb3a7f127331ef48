"""The generated loader: $PROCESSKIT_LIBRARY, else the dynamic linker's search."""
import os
import subprocess
import sys

import pytest

import processkit_c as pk

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(pk.__file__)))
PROBE = "import processkit_c as pk; print(pk.library_version(), pk.probe().mechanism)"


def _python(env):
    env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)


def test_default_search_finds_the_soname_on_ld_library_path():
    configured = os.environ.get("PROCESSKIT_LIBRARY")
    if not configured or not os.path.exists(os.path.join(os.path.dirname(configured), "libprocesskit.so.1")):
        pytest.skip("no libprocesskit.so.1 beside $PROCESSKIT_LIBRARY")
    env = {k: v for k, v in os.environ.items() if k != "PROCESSKIT_LIBRARY"}
    env["LD_LIBRARY_PATH"] = os.path.dirname(os.path.abspath(configured))
    proc = _python(env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [pk.library_version(), "cgroup-v2"]


def test_a_missing_library_is_an_import_error_naming_the_variable():
    env = dict(os.environ, PROCESSKIT_LIBRARY="/nonexistent/libprocesskit.so.1")
    proc = _python(env)
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "PROCESSKIT_LIBRARY" in proc.stderr
