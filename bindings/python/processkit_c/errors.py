"""The exception hierarchy: one ProcessKitError subclass per pk_error code,
each carrying the library's code and message (pk_last_error()).

The ones with a standard counterpart also subclass it, so code written for
subprocess and the os module catches them: CommandFailedError is a
subprocess.CalledProcessError (returncode, cmd, output/stdout, stderr),
TimeoutExpiredError a subprocess.TimeoutExpired (cmd, timeout, output/stdout,
stderr), NotFoundError a FileNotFoundError (errno ENOENT, filename: the
program), PermissionDeniedError a PermissionError (errno EACCES, filename),
InvalidArgumentError a ValueError, OutOfMemoryError a MemoryError."""
from __future__ import annotations

import errno as _errno
import os
import subprocess
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Sequence, Tuple, Type, TypeVar

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
        # For errors raised by a readiness probe (Process.wait_for_line /
        # wait_for_port): how it ended, as data.
        self.readiness: Optional[Readiness] = None
        # Exception's, not the next class's in the MRO (CalledProcessError,
        # OSError... take other arguments; the subclasses set their fields).
        Exception.__init__(self, self.code, self.message)
        # For errors raised by Result.check(): the run that failed (setting
        # it fills the standard attributes: returncode, cmd, output...).
        self.result = None

    @property
    def result(self) -> Optional[Result]:
        return self._result

    @result.setter
    def result(self, value: Optional[Result]) -> None:
        self._result = value
        if value is not None:
            self._from_result(value)

    def _from_result(self, result: Result) -> None:
        """Fill a subclass's standard attributes from the run that failed."""

    @property
    def name(self) -> str:
        """The code's C name, e.g. "PK_ERR_FAILED"."""
        try:
            return "PK_" + ("OK" if self.code == 0 else "ERR_" + N.Error(self.code).name)
        except ValueError:
            return f"pk_error({self.code})"

    def __str__(self) -> str:
        return self.message or self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r})"

    def __reduce__(self) -> Tuple[Any, ...]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("_result", "readiness")}
        return (type(self), (self.code, self.message), state)


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


class _OSErrorMixin(ProcessKitError, OSError):
    """A ProcessKitError that is also an OSError: errno, strerror (the
    library's message) and filename (the program, where known)."""

    _errno = 0

    def __init__(self, code: Optional[int] = None, message: str = "", filename: Optional[str] = None) -> None:
        ProcessKitError.__init__(self, code, message)
        OSError.__init__(self, self._errno, self.message, filename)
        self.args = (self.code, self.message)

    def __str__(self) -> str:
        return ProcessKitError.__str__(self)

    def __reduce__(self) -> Tuple[Any, ...]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("_result", "readiness")}
        return (type(self), (self.code, self.message, self.filename), state)


@_code(N.Error.NOT_FOUND)
class NotFoundError(_OSErrorMixin, FileNotFoundError):
    """PK_ERR_NOT_FOUND: the program was not found. A FileNotFoundError
    (errno ENOENT, filename: the program)."""

    _errno = _errno.ENOENT


@_code(N.Error.PERMISSION)
class PermissionDeniedError(_OSErrorMixin, PermissionError):
    """PK_ERR_PERMISSION: the program may not be executed, or an operation was
    refused. A PermissionError (errno EACCES, filename: the program, if any)."""

    _errno = _errno.EACCES


@_code(N.Error.NO_PROCESS)
class NoProcessError(ProcessKitError):
    """PK_ERR_NO_PROCESS: no such process (not a child, or already reaped)."""


@_code(N.Error.TIMEOUT)
class TimeoutExpiredError(ProcessKitError, subprocess.TimeoutExpired):
    """PK_ERR_TIMEOUT: a wait ran out of time, or (from check) a run timed out.
    A subprocess.TimeoutExpired: cmd (the args, where known), timeout
    (seconds, where known), output/stdout and stderr (a timed-out run's)."""

    def __init__(self, code: Optional[int] = None, message: str = "", cmd: Optional[Sequence[str]] = None,
                 timeout: Optional[float] = None) -> None:
        ProcessKitError.__init__(self, code, message)
        self.cmd = cmd
        self.timeout = timeout  # type: ignore[assignment]  # None when the wait had no known timeout
        self.output: Optional[bytes] = None
        self.stderr: Optional[bytes] = None

    def _from_result(self, result: Result) -> None:
        self.cmd = list(result.args)
        if result.timeout is not None:
            self.timeout = result.timeout
        self.output = result.stdout
        self.stderr = result.stderr


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
class CommandFailedError(ProcessKitError, subprocess.CalledProcessError):
    """PK_ERR_FAILED: a command ended without success (an exit code not
    accepted, a signal). A subprocess.CalledProcessError: returncode (-signal
    for a signal), cmd (the args), output/stdout and stderr (the captured
    output), filled from `.result`."""

    def __init__(self, code: Optional[int] = None, message: str = "") -> None:
        ProcessKitError.__init__(self, code, message)
        self.returncode: Optional[int] = None  # type: ignore[assignment]
        self.cmd: Any = None
        self.output: Optional[bytes] = None
        self.stderr: Optional[bytes] = None

    def _from_result(self, result: Result) -> None:
        self.returncode = result.returncode
        self.cmd = list(result.args)
        self.output = result.stdout
        self.stderr = result.stderr


@_code(N.Error.NOT_READY)
class NotReadyError(ProcessKitError):
    """PK_ERR_NOT_READY: a readiness probe (Process.wait_for_line / wait_for_port)
    was not satisfied in time, or the run ended first; the message says what
    was seen, `.readiness` the same as data. The process is left running."""


def error_for(code: int, message: Optional[str] = None, *, program: Optional[object] = None) -> ProcessKitError:
    """The exception for a pk_error code; the message defaults to
    pk_last_error(). `program` (what was being started) becomes an OSError
    subclass's filename."""
    if message is None:
        message = last_error()
    cls = _BY_CODE.get(int(code), ProcessKitError)
    err = cls(int(code), message)
    if program is not None and isinstance(err, OSError):
        err.filename = _fsdecode(program)
    return err


def _fsdecode(value: object) -> str:
    if isinstance(value, (str, bytes)) or hasattr(value, "__fspath__"):
        return os.fsdecode(value)  # type: ignore[arg-type,unused-ignore]
    return str(value)


def check(rc: int, *, program: Optional[object] = None) -> int:
    """Raise the matching ProcessKitError when a call returned a negative code."""
    if rc < 0:
        raise error_for(rc, program=program)
    return rc
