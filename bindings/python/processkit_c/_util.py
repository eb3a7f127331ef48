"""Conversions shared by the idiomatic layer, and the types of its arguments."""
from __future__ import annotations

import ctypes
import math
import os
import time
from typing import Iterable, List, Mapping, Optional, Protocol, Union

from . import _native as N
from .errors import InvalidArgumentError

# An argv item, program, path or environment string: str (os.fsencode'd),
# bytes, or a path object.
Arg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
# An environment that replaces the child's: {"KEY": "value"} (str or bytes).
Env = Union[Mapping[str, Union[str, bytes]], Mapping[bytes, Union[str, bytes]]]
# A backend or mechanism: its name ("cgroup-v2", "process-group", ...) or the enum (an int).
BackendLike = Union[str, int]
MechanismLike = Union[str, int]


class HasFileno(Protocol):
    def fileno(self) -> int: ...


# An open file: an fd, or an object with fileno().
FileLike = Union[int, HasFileno]

BACKENDS = {
    "auto": N.Backend.AUTO,
    "cgroup-v2": N.Backend.CGROUP_V2,
    "process-group": N.Backend.PROCESS_GROUP,
    "job-object": N.Backend.JOB_OBJECT,
}

MECHANISMS = {
    "none": N.Mechanism.NONE,
    "process-group": N.Mechanism.PROCESS_GROUP,
    "cgroup-v2": N.Mechanism.CGROUP_V2,
    "job-object": N.Mechanism.JOB_OBJECT,
}


def _lookup(table: Mapping[str, int], value: Optional[BackendLike], what: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, str):
        key = value.strip().lower().replace("_", "-")
        if key not in table:
            raise InvalidArgumentError(
                N.Error.INVALID, f"unknown {what} {value!r}; expected one of {', '.join(table)}")
        return table[key]
    return int(value)


def backend(value: Optional[BackendLike]) -> int:
    """'auto' | 'cgroup-v2' | 'process-group' | 'job-object' | a Backend -> int."""
    result = _lookup(BACKENDS, value, "backend")
    return N.Backend.AUTO if result is None else result


def mechanism(value: Optional[MechanismLike]) -> int:
    """A mechanism name or Mechanism -> int (None -> NONE)."""
    result = _lookup(MECHANISMS, value, "mechanism")
    return N.Mechanism.NONE if result is None else result


def mechanism_name(value: int) -> str:
    raw = N.pk_mechanism_name(int(value))
    return raw.decode() if raw else f"unknown({int(value)})"


def cbytes(value: object, what: str = "argument") -> bytes:
    """str / bytes / os.PathLike -> bytes without NUL (os.fsencode for str)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    elif isinstance(value, str) or hasattr(value, "__fspath__"):
        data = os.fsencode(value)
    else:
        data = os.fsencode(str(value))
    if b"\0" in data:
        raise InvalidArgumentError(N.Error.INVALID, f"{what} {data!r} holds a NUL byte")
    return data


def cstr_array(items: Iterable[Optional[bytes]]) -> ctypes.Array[ctypes.c_char_p]:
    """A NULL-terminated char*[] (the list keeps the bytes alive with the array)."""
    items = list(items)
    return (ctypes.c_char_p * (len(items) + 1))(*items, None)


def env_list(env: Env) -> List[bytes]:
    """A mapping -> ["K=V", ...] bytes."""
    out = []
    for key, value in env.items():
        k, v = cbytes(key, "environment key"), cbytes(value, "environment value")
        out.append(k + b"=" + v)
    return out


def seconds_to_ms(seconds: Optional[float], what: str, *, allow_none: bool = True, infinite: int = -1) -> int:
    """Seconds (float) -> whole milliseconds rounded up; None -> `infinite`."""
    if seconds is None:
        if allow_none:
            return infinite
        raise InvalidArgumentError(N.Error.INVALID, f"{what} is required")
    if seconds < 0 or math.isnan(seconds):
        raise InvalidArgumentError(N.Error.INVALID, f"{what} must be >= 0, not {seconds!r}")
    ms = math.ceil(seconds * 1000)
    return min(ms, 0x7FFFFFFF)


def remaining_ms(deadline: Optional[float], slice_ms: int) -> int:
    """Milliseconds to wait now: `slice_ms` without a deadline (a time.monotonic()
    value), else what is left of it, at most `slice_ms` and never negative."""
    if deadline is None:
        return slice_ms
    left = deadline - time.monotonic()
    return 0 if left <= 0 else min(slice_ms, math.ceil(left * 1000))


def fileno(value: object) -> int:
    """An int fd, or an object's fileno()."""
    if isinstance(value, int):
        return value
    if hasattr(value, "fileno"):
        return value.fileno()
    raise InvalidArgumentError(N.Error.INVALID, f"{value!r} is neither an fd nor has fileno()")


def cstring(raw: Optional[bytes]) -> str:
    """A fixed char[] field (bytes up to NUL) -> str."""
    return raw.decode("utf-8", "replace") if raw else ""
