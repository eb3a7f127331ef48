"""The exception hierarchy: one ProcessKitError subclass per pk_error code,
each carrying the library's code and message (pk_last_error())."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, Optional, Tuple, Type, TypeVar

from . import _native as N

if TYPE_CHECKING:
    from .run import Readiness, Result

__all__ = [
    "ProcessKitError",
    "InvalidArgumentError",
    "OutOfMemoryError",
    "HandleError",
    "OSFailureError",
    "UnavailableError",
    "LimitError",
    "NotFoundError",
    "PermissionDeniedError",
    "NoProcessError",
    "TimeoutExpiredError",
    "UnsupportedError",
    "VersionError",
    "CancelledRunError",
    "OutputOverflowError",
    "StateError",
    "CommandFailedError",
    "NotReadyError",
    "error_for",
    "check",
    "last_error",
]


def last_error() -> str:
    """The message of the last failing processkit call on this thread ("" if none)."""
    raw = N.pk_last_error()
    return raw.decode("utf-8", "replace") if raw else ""


def strerror(code: int) -> str:
    """The library's short description of an error code."""
    raw = N.pk_strerror(int(code))
    return raw.decode("utf-8", "replace") if raw else ""


class ProcessKitError(Exception):
    """A processkit call failed. `code` is the negative pk_error value,
    `message` the library's message for it, `name` the code's C name."""

    code: int = None  # type: ignore[assignment]  # set on each subclass

    def __init__(self, code: Optional[int] = None, message: str = "") -> None:
        if code is None:
            code = type(self).code
        self.code = int(code)
        self.message = message or strerror(self.code)
        # For errors raised by Result.check(): the run that failed.
        self.result: Optional[Result] = None
        # For errors raised by a readiness probe (Process.wait_for_line /
        # wait_for_port): how it ended, as data.
        self.readiness: Optional[Readiness] = None
        super().__init__(self.code, self.message)

    @property
    def name(self) -> str:
        try:
            return "PK_" + ("OK" if self.code == 0 else "ERR_" + N.Error(self.code).name)
        except ValueError:
            return f"pk_error({self.code})"

    def __str__(self) -> str:
        return f"{self.message} [{self.name}]"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r})"

    def __reduce__(self) -> Tuple[Type[ProcessKitError], Tuple[int, str]]:
        return (type(self), (self.code, self.message))


_BY_CODE: Dict[int, Type[ProcessKitError]] = {}
_E = TypeVar("_E", bound=Type[ProcessKitError])


def _code(value: int) -> Callable[[_E], _E]:
    def register(cls: _E) -> _E:
        cls.code = int(value)
        _BY_CODE[int(value)] = cls
        return cls

    return register


@_code(N.Error.INVALID)
class InvalidArgumentError(ProcessKitError, ValueError):
    """PK_ERR_INVALID: a bad argument (empty program name, bad enum value...)."""


@_code(N.Error.NOMEM)
class OutOfMemoryError(ProcessKitError, MemoryError):
    """PK_ERR_NOMEM."""


@_code(N.Error.HANDLE)
class HandleError(ProcessKitError):
    """PK_ERR_HANDLE: a NULL, freed (closed) or wrong-type handle."""


@_code(N.Error.OS)
class OSFailureError(ProcessKitError):
    """PK_ERR_OS: an operating-system call failed; the message names it and errno."""


@_code(N.Error.UNAVAILABLE)
class UnavailableError(ProcessKitError):
    """PK_ERR_UNAVAILABLE: the backend or minimum mechanism is not available here."""


@_code(N.Error.LIMIT)
class LimitError(ProcessKitError):
    """PK_ERR_LIMIT: a resource limit cannot be enforced here."""


@_code(N.Error.NOT_FOUND)
class NotFoundError(ProcessKitError):
    """PK_ERR_NOT_FOUND: the program was not found."""


@_code(N.Error.PERMISSION)
class PermissionDeniedError(ProcessKitError):
    """PK_ERR_PERMISSION: the program may not be executed, or an operation was refused."""


@_code(N.Error.NO_PROCESS)
class NoProcessError(ProcessKitError):
    """PK_ERR_NO_PROCESS: no such process (not a child, or already reaped)."""


@_code(N.Error.TIMEOUT)
class TimeoutExpiredError(ProcessKitError):
    """PK_ERR_TIMEOUT: a wait ran out of time, or (from check) a run timed out."""


@_code(N.Error.UNSUPPORTED)
class UnsupportedError(ProcessKitError):
    """PK_ERR_UNSUPPORTED: the mechanism or platform cannot do this."""


@_code(N.Error.VERSION)
class VersionError(ProcessKitError):
    """PK_ERR_VERSION: a struct sets fields this library does not know."""


@_code(N.Error.CANCELLED)
class CancelledRunError(ProcessKitError):
    """PK_ERR_CANCELLED: the run was cancelled, or Loop.wake() ended a wait on
    its loop (the runs go on)."""


@_code(N.Error.OVERFLOW)
class OutputOverflowError(ProcessKitError):
    """PK_ERR_OVERFLOW: output exceeded its cap under the error policy."""


@_code(N.Error.STATE)
class StateError(ProcessKitError):
    """PK_ERR_STATE: not allowed in the object's current state."""


@_code(N.Error.FAILED)
class CommandFailedError(ProcessKitError):
    """PK_ERR_FAILED: a command ended without success (an exit code not accepted, a signal)."""


@_code(N.Error.NOT_READY)
class NotReadyError(ProcessKitError):
    """PK_ERR_NOT_READY: a readiness probe (Process.wait_for_line / wait_for_port)
    was not satisfied in time, or the run ended first; the message says what
    was seen, `.readiness` the same as data. The process is left running."""


def error_for(code: int, message: Optional[str] = None) -> ProcessKitError:
    """The exception for a pk_error code; the message defaults to pk_last_error()."""
    if message is None:
        message = last_error()
    cls = _BY_CODE.get(int(code), ProcessKitError)
    return cls(int(code), message)


def check(rc: int) -> int:
    """Raise the matching ProcessKitError when a call returned a negative code."""
    if rc < 0:
        raise error_for(rc)
    return rc
