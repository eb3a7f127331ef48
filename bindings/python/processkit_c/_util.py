"""Conversions shared by the idiomatic layer, and the types of its arguments."""
from __future__ import annotations

import ctypes
import enum
import math
import os
import signal as _signal
from typing import Any, Dict, Iterable, List, Mapping, Optional, Protocol, Sequence, Type, TypeVar, Union

from . import _native as N
from .errors import InvalidArgumentError, check

# An argv item, program, path or environment string: str (os.fsencode'd),
# bytes, or a path object.
Arg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
# A command, as subprocess.run takes it: one program (a str, bytes or path,
# never split: no shell) or a sequence of them, the argv.
Args = Union[Arg, Sequence[Arg]]
# An environment that replaces the child's: {"KEY": "value"} (str or bytes).
Env = Union[Mapping[str, Union[str, bytes]], Mapping[bytes, Union[str, bytes]]]
# A backend or mechanism: its name ("cgroup-v2", "process-group", ...) or the enum (an int).
BackendLike = Union[str, int]
MechanismLike = Union[str, int]


class HasFileno(Protocol):
    def fileno(self) -> int: ...


# An open file: an fd, or an object with fileno().
FileLike = Union[int, HasFileno]

_IE = TypeVar("_IE", bound=enum.IntEnum)


def enum_names(enum_type: Type[_IE], *, exclude: Iterable[_IE] = ()) -> Dict[str, _IE]:
    """The members of a generated enum (processkit_c._native) under the names
    string arguments take: lower case, "_" -> "-" (Backend.CGROUP_V2 ->
    "cgroup-v2", Overflow.KEEP_TAIL -> "keep-tail")."""
    skip = set(exclude)
    return {m.name.lower().replace("_", "-"): m for m in enum_type if m not in skip}


def argv(args: object) -> List[Arg]:
    """A command -> its argv list: a str, bytes or os.PathLike is one program
    with no arguments (as subprocess.run without a shell), any other
    iterable is the argv."""
    if isinstance(args, (str, bytes, bytearray, memoryview)) or hasattr(args, "__fspath__"):
        return [bytes(args) if isinstance(args, (bytearray, memoryview)) else args]  # type: ignore[list-item,unused-ignore]
    items: List[Arg] = list(args)  # type: ignore[call-overload]
    return items


def fsdecode(value: object) -> str:
    """An argv item -> str (os.fsdecode for str / bytes / paths)."""
    if isinstance(value, (str, bytes)) or hasattr(value, "__fspath__"):
        return os.fsdecode(value)  # type: ignore[arg-type,unused-ignore]
    return str(value)


def _enum_str(self: enum.Enum) -> str:
    return enum.Enum.__str__(self)


def _enum_format(self: enum.Enum, spec: str) -> str:
    # f"{outcome}" is its name like str(); a numeric spec ("d", "04x") formats the value.
    return str(self) if not spec else format(int(self), spec)  # type: ignore[call-overload]


def _name_enums() -> None:
    """The generated enums (IntEnum/IntFlag) print as names: str(Outcome.EXITED)
    is "Outcome.EXITED" (Python >= 3.11 would print "1"), on every version.
    They stay ints in every other way."""
    for value in vars(N).values():
        if isinstance(value, type) and issubclass(value, enum.Enum) and issubclass(value, int) \
                and value.__module__ == N.__name__:
            value.__str__ = _enum_str  # type: ignore[method-assign,assignment]
            value.__format__ = _enum_format  # type: ignore[method-assign,assignment]


_name_enums()

BACKENDS = enum_names(N.Backend)
MECHANISMS = enum_names(N.Mechanism)


def lookup(table: Mapping[str, int], value: Union[str, int, None], what: str) -> Optional[int]:
    """A name in `table` (any case, "_" or "-") or an int -> int; None -> None."""
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
    result = lookup(BACKENDS, value, "backend")
    return N.Backend.AUTO if result is None else result


def mechanism(value: Optional[MechanismLike]) -> int:
    """A mechanism name or Mechanism -> int (None -> NONE)."""
    result = lookup(MECHANISMS, value, "mechanism")
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


# The longest the main thread blocks at a time while a wait goes on, so that a
# signal is never lost. A signal interrupts a blocking call, and Python runs
# its handler at once (Ctrl-C raises KeyboardInterrupt), but CPython checks
# for signals before it enters the call: one that lands just between the
# check and the call, or one only flagged (_thread.interrupt_main(), a
# signal taken by another thread), is seen when the call returns. This
# bounds that. The native wait itself is one call whatever its length.
SIGNAL_BACKSTOP_S = 1.0


def wait_ms(seconds: Optional[float]) -> int:
    """A wait's timeout in milliseconds: None -> -1 (no limit), a negative
    one -> 0 (just look), else seconds_to_ms()."""
    if seconds is None:
        return -1
    return seconds_to_ms(seconds if math.isnan(seconds) else max(seconds, 0.0), "timeout")


def fileno(value: object) -> int:
    """An int fd, or an object's fileno()."""
    if isinstance(value, int):
        return value
    if hasattr(value, "fileno"):
        fd: int = value.fileno()
        return fd
    raise InvalidArgumentError(N.Error.INVALID, f"{value!r} is neither an fd nor has fileno()")


def cstring(raw: Optional[bytes]) -> str:
    """A fixed char[] field (bytes up to NUL) -> str."""
    return raw.decode("utf-8", "replace") if raw else ""


def signal_of(number: int) -> int:
    """A signal number -> signal.Signals (still an int, printing as its
    name: Signals.SIGKILL); 0 (no signal) and numbers Python has no name
    for stay plain ints."""
    try:
        return _signal.Signals(number) if number else 0
    except ValueError:
        return number


_H = TypeVar("_H", bound="NativeHandle")


class NativeHandle:
    """Owns one native handle: close() (or leaving a with-block, or garbage
    collection) frees it exactly once with the library's `_free` function.
    A closed object keeps its stale pointer, so a later call fails in the
    library with HandleError and the library's message."""

    _free: str = ""  # the name of the pk_*_free function in processkit_c._native
    _closed: bool = True  # class default: a constructor that failed leaves nothing to free
    _h: Any

    def _own(self, handle: Any) -> None:
        self._h = handle
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _before_free(self) -> None:
        """Subclasses release what depends on the handle (a loop's runs)."""

    def close(self) -> None:
        """Free the native handle. Idempotent."""
        if not self._closed:
            self._closed = True
            self._before_free()
            rc: int = getattr(N, self._free)(self._h)
            check(rc)

    def __enter__(self: _H) -> _H:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                getattr(N, self._free)(self._h)
            except Exception:  # interpreter shutdown: the module may be gone
                pass
