"""The loader (processkit_c/_loader.py), in order: the package's own copy,
$PROCESSKIT_LIBRARY, the system's (the dynamic linker's search)."""
import os
import shutil
import subprocess
import sys

import pytest

import processkit_c as pk

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(pk.__file__)))
PROBE = "import processkit_c as pk; print(pk.library_version(), pk.probe().mechanism)"


def _python(env, code=PROBE, root=PACKAGE_ROOT):
    env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=60)


def _configured():
    configured = os.environ.get("PROCESSKIT_LIBRARY")
    if not configured or not os.path.exists(configured):
        pytest.skip("no $PROCESSKIT_LIBRARY to copy")
    return configured


def test_this_session_uses_the_configured_library():
    configured = _configured()
    if os.path.exists(os.path.join(os.path.dirname(pk.__file__), "libprocesskit.so.1")):
        pytest.skip("this package has its own copy, which comes first")
    assert pk.library_path() == configured


def test_the_package_copy_comes_first_and_the_variable_is_left_as_it_was(workdir):
    configured = _configured()
    shutil.copytree(os.path.dirname(pk.__file__), os.path.join(workdir, "processkit_c"),
                    ignore=shutil.ignore_patterns("__pycache__", "libprocesskit.so*"))
    own = os.path.join(workdir, "processkit_c", "libprocesskit.so.1")
    shutil.copy(os.path.realpath(configured), own)
    code = ("import os, processkit_c as pk; print(pk.library_path()); print(os.environ['PROCESSKIT_LIBRARY']); "
            "print(pk.run(['sh', '-c', 'echo $PROCESSKIT_LIBRARY']).stdout.decode().strip())")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LD_LIBRARY_PATH")}
    env["PROCESSKIT_LIBRARY"] = "/nonexistent/libprocesskit.so.1"
    proc = _python(env, code, root=workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [own, "/nonexistent/libprocesskit.so.1", "/nonexistent/libprocesskit.so.1"]


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


def test_nothing_found_is_an_import_error_listing_what_was_tried():
    env = {k: v for k, v in os.environ.items() if k not in ("PROCESSKIT_LIBRARY", "LD_LIBRARY_PATH")}
    if _python(env, "import ctypes; ctypes.CDLL('libprocesskit.so.1')").returncode == 0:
        pytest.skip("this system has a libprocesskit.so.1")
    proc = _python(env)
    assert proc.returncode != 0
    assert "ImportError: processkit: cannot load libprocesskit; tried, in order:" in proc.stderr
    tried = proc.stderr[proc.stderr.index("tried, in order:"):]
    assert tried.index("the package's own copy") < tried.index("$PROCESSKIT_LIBRARY: not set") < \
        tried.index("the system's 'libprocesskit.so.1'")
    assert "pip" in tried and "LD_LIBRARY_PATH" in tried
