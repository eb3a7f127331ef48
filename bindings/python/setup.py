"""Builds the C library into the package: csrc/processkit.c (the amalgamation,
copied here by tools/amalgamate/amalgamate.py) becomes
processkit_c/libprocesskit.so.1, compiled with the line the amalgamation
documents. ctypes loads it, so the wheel does not depend on the CPython ABI:
it is tagged py3-none-<platform>. The metadata is in pyproject.toml.

$CC (else the interpreter's C compiler), $CFLAGS and $LDFLAGS are honoured.
"""
import os
import shlex
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_ext import build_ext

SONAME = "libprocesskit.so.1"
SOURCE = "csrc/processkit.c"
VERSION_SCRIPT = "csrc/processkit.map"

# Not a CPython extension module: a plain shared library, built by BuildLibrary.
LIBRARY = Extension("processkit_c.libprocesskit", sources=[SOURCE],
                    depends=["csrc/processkit.h", VERSION_SCRIPT])


class BuildLibrary(build_ext):
    def get_ext_filename(self, fullname):
        # Called with the full dotted name, and with its last part alone.
        if fullname in (LIBRARY.name, LIBRARY.name.rpartition(".")[2]):
            return os.path.join(*fullname.split(".")[:-1], SONAME)
        return super().get_ext_filename(fullname)

    def build_extension(self, ext):
        if ext.name != LIBRARY.name:
            return super().build_extension(ext)
        if not sys.platform.startswith("linux"):
            sys.exit(f"processkit-c: the Python package builds on Linux only (this is {sys.platform})")
        out = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
        cmd = [
            *cc, "-std=c11", "-O2", "-shared", "-fPIC", "-fvisibility=hidden",
            *shlex.split(os.environ.get("CFLAGS", "")),
            "-o", out, f"-Wl,-soname,{SONAME}", f"-Wl,--version-script={VERSION_SCRIPT}",
            *shlex.split(os.environ.get("LDFLAGS", "")),
            SOURCE, "-pthread",
        ]
        print(" ".join(shlex.quote(c) for c in cmd), flush=True)
        subprocess.run(cmd, check=True)


class PlatformWheel(bdist_wheel):
    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(ext_modules=[LIBRARY], cmdclass={"build_ext": BuildLibrary, "bdist_wheel": PlatformWheel})
