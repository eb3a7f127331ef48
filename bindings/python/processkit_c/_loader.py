"""Which libprocesskit this package uses, tried in order:

1. the package's own copy, processkit_c/libprocesskit.so.1, which
   `pip install` builds into an installed package (a source checkout has none);
2. $PROCESSKIT_LIBRARY, a path to the library: when it is set it must load
   (a wrong path is an ImportError, never replaced by the system's copy);
3. the system's: libprocesskit.so.1 through the dynamic linker's search
   (LD_LIBRARY_PATH, ld.so.cache), else ctypes.util.find_library("processkit").

The generated processkit_c._native calls open_library() and checks the
version of what it gets.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import List, Optional, Tuple

__all__ = ["ENV", "PACKAGED", "SONAME", "open_library", "path"]

SONAME = "libprocesskit.so.1"
ENV = "PROCESSKIT_LIBRARY"
PACKAGED = os.path.join(os.path.dirname(os.path.abspath(__file__)), SONAME)

path: Optional[str] = None  # what open_library() loaded: a path, or a name the dynamic linker resolved


def _open(name: str, tried: List[str], what: str) -> Optional[ctypes.CDLL]:
    """ctypes.CDLL(name), or None with why it failed appended to `tried`."""
    try:
        return ctypes.CDLL(name)
    except OSError as e:
        tried.append(f"{what} {name!r}: {e}")
        return None


def _choose() -> Tuple[ctypes.CDLL, str, bool]:
    """(library, what it was loaded as, whether it is the package's own copy)."""
    tried: List[str] = []
    if os.path.exists(PACKAGED):
        lib = _open(PACKAGED, tried, "the package's own copy")
        if lib is not None:
            return lib, PACKAGED, True
    else:
        tried.append(f"the package's own copy {PACKAGED!r}: not there (not built by pip install)")
    configured = os.environ.get(ENV)
    if configured:
        lib = _open(configured, tried, f"${ENV}")
        if lib is not None:
            return lib, configured, False
        raise ImportError(f"processkit: cannot load {tried[-1]}; correct or unset {ENV}")
    tried.append(f"${ENV}: not set")
    lib = _open(SONAME, tried, "the system's")
    if lib is not None:
        return lib, SONAME, False
    found = ctypes.util.find_library("processkit")
    if found:
        lib = _open(found, tried, "find_library('processkit')")
        if lib is not None:
            return lib, found, False
    else:
        tried.append("find_library('processkit'): nothing")
    raise ImportError(
        "processkit: cannot load libprocesskit; tried, in order:\n  " + "\n  ".join(tried) +
        f"\nInstall the package with pip (it builds the library into it), set {ENV} to the path "
        f"of {SONAME}, or put the directory holding {SONAME} on LD_LIBRARY_PATH.")


def open_library(soname: str = SONAME) -> Tuple[ctypes.CDLL, str]:
    """The library, in the order above, and what it was loaded as.
    ImportError, listing every attempt, when none loads."""
    global path
    if soname != SONAME:
        raise ImportError(f"processkit: the generated layer wants {soname}, this loader knows {SONAME}")
    lib, name, _ = _choose()
    path = name
    return lib, name
