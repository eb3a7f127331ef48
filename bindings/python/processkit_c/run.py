"""Run-and-capture: commands run on a pk_loop, with their output captured."""
from __future__ import annotations

import collections
import ctypes
import os
import queue
import subprocess
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import (TYPE_CHECKING, Any, Callable, Deque, Iterable, Iterator, List, Mapping, NamedTuple, Optional,
                    Sequence, Tuple, Type, TypeVar, Union)

from . import _native as N
from . import _util as U
from ._util import Arg, Args, Env
from .errors import InvalidArgumentError, ProcessKitError, check, error_for, last_error

if TYPE_CHECKING:
    from .group import Group

__all__ = ["run", "Result", "Loop", "Process", "Readiness", "CancelToken", "Retry", "Line", "LineStream", "iter_lines",
           "PIPE", "STDOUT", "DEVNULL"]

PIPE = subprocess.PIPE  # capture (stdout/stderr), or a stdin pipe fed by Process.write
STDOUT = subprocess.STDOUT  # stderr only: merged into stdout, one ordered stream
DEVNULL = subprocess.DEVNULL  # /dev/null

_OVERFLOW = U.enum_names(N.Overflow)


class CancelToken(U.NativeHandle):
    """A cancellation token: trigger() (from any thread) kills every run that
    watches it (run(..., cancel=token)) and ends it as cancelled."""

    _free = "pk_cancel_free"

    def __init__(self) -> None:
        handle = ctypes.POINTER(N.pk_cancel)()
        check(N.pk_cancel_new(ctypes.byref(handle)))
        self._own(handle)

    @property
    def handle(self) -> ctypes._Pointer[N.pk_cancel]:
        handle: ctypes._Pointer[N.pk_cancel] = self._h
        return handle

    def trigger(self) -> None:
        check(N.pk_cancel_trigger(self._h))


@dataclass(frozen=True)
class Result:
    """A finished run. A non-zero exit is data: check() (or run(check=True))
    turns an unsuccessful run into the library's error."""

    args: Tuple[str, ...]
    returncode: Optional[int]  # the exit code; -signal if a signal ended it; None if neither
    stdout: bytes
    stderr: bytes
    outcome: N.Outcome
    mechanism: str  # what held the run: "cgroup-v2", "process-group", ...
    duration: float  # seconds, from spawn to the end of the run
    pid: int
    signal: int  # the signal that killed it (a signal.Signals), else 0
    success: bool  # exited with an accepted code and no ERROR-policy cap overflowed
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    overflowed: bool = False
    error_code: int = 0  # pk_result_check()'s code (0 when successful)
    error_message: str = field(default="", repr=False)  # ... and its message
    timeout: Optional[float] = field(default=None, repr=False)  # the run's timeout (seconds), if it had one

    @property
    def timed_out(self) -> bool:
        return self.outcome == N.Outcome.TIMED_OUT

    @property
    def cancelled(self) -> bool:
        return self.outcome == N.Outcome.CANCELLED

    def check(self: _R) -> _R:
        """Return self if the run succeeded, else raise its ProcessKitError
        (CommandFailedError, TimeoutExpiredError, CancelledRunError or
        OutputOverflowError) with the library's message and `.result`."""
        if self.error_code < 0:
            err = error_for(self.error_code, self.error_message)
            err.result = self
            raise err
        return self

    # subprocess.CompletedProcess spelling
    check_returncode = check

    @classmethod
    def _from_handle(cls: Type[_R], handle: ctypes._Pointer[N.pk_result], args: Iterable[Any], **extra: Any) -> _R:
        info = N.pk_run_info()
        check(N.pk_result_info(handle, ctypes.byref(info)))
        outputs = []
        for stream in (N.Stream.STDOUT, N.Stream.STDERR):
            data = ctypes.POINTER(ctypes.c_uint8)()
            length = ctypes.c_size_t()
            check(N.pk_result_output(handle, stream, ctypes.byref(data), ctypes.byref(length)))
            outputs.append(ctypes.string_at(data, length.value) if length.value else b"")
        rc = N.pk_result_check(handle)
        message = "" if rc == 0 else (N.pk_last_error() or b"").decode("utf-8", "replace")
        outcome = N.Outcome(info.outcome)
        if outcome == N.Outcome.EXITED:
            returncode = info.exit_code
        elif info.signal:
            returncode = -info.signal
        else:
            returncode = None
        return cls(
            args=tuple(args),
            returncode=returncode,
            stdout=outputs[0],
            stderr=outputs[1],
            outcome=outcome,
            mechanism=U.mechanism_name(info.mechanism),
            duration=info.duration_us / 1e6,
            pid=info.pid,
            signal=U.signal_of(info.signal),
            success=bool(info.success),
            stdout_truncated=bool(info.stdout_truncated),
            stderr_truncated=bool(info.stderr_truncated),
            overflowed=bool(info.overflowed),
            error_code=rc,
            error_message=message,
            **extra,
        )


_R = TypeVar("_R", bound=Result)


@dataclass(frozen=True)
class Readiness:
    """The last readiness probe on a Process (pk_process_readiness): what it
    waited for, how it ended, how long it waited and the last line it saw.
    Process.readiness() returns it; a failed probe's error carries it as
    `.readiness`."""

    kind: N.ReadyKind  # LINE (wait_for_line), PORT (wait_for_port), CHECK; NONE before any probe
    outcome: N.ReadyOutcome  # MET, TIMED_OUT, RUN_ENDED, WOKEN (Loop.wake, Ctrl-C), FAILED; PENDING while it runs
    stream: Optional[N.Stream]  # LINE: the stream it watched, None for either
    port: int  # PORT: the port on 127.0.0.1, else 0
    lines_seen: int  # LINE: the lines it looked at, those from before the call included
    waited: float  # seconds
    last_line: bytes  # LINE: the last line it looked at (at most 159 bytes), else b""

    @classmethod
    def _from(cls, info: N.pk_readiness_info) -> Readiness:
        return cls(
            kind=N.ReadyKind(info.kind),
            outcome=N.ReadyOutcome(info.outcome),
            stream=N.Stream(info.stream) if info.stream else None,
            port=info.port,
            lines_seen=info.lines_seen,
            waited=info.waited_us / 1e6,
            last_line=info.last_line,
        )


# stdout/stderr: PIPE (capture), None (inherit), DEVNULL, STDOUT (stderr only), or an fd / object with fileno().
Output = Optional[U.FileLike]
# stdin: DEVNULL, None (inherit), PIPE (Process.write), a path (str or os.PathLike) to read, or an fd / file.
Input = Union[None, int, str, "os.PathLike[str]", U.HasFileno]
# on_line: called with (the stream, the line's bytes) for every output line.
LineCallback = Callable[[N.Stream, bytes], None]


def _output(cmd: ctypes._Pointer[N.pk_command], stream: int, value: object, what: str) -> None:
    if value == PIPE:
        mode, fd = N.OutputMode.CAPTURE, -1
    elif value is None:
        mode, fd = N.OutputMode.INHERIT, -1
    elif isinstance(value, int) and value == DEVNULL:
        mode, fd = N.OutputMode.NULL, -1
    elif isinstance(value, int) and value == STDOUT:
        mode, fd = N.OutputMode.MERGE, -1
    else:
        fd = U.fileno(value)
        if fd < 0:
            raise InvalidArgumentError(N.Error.INVALID, f"{what}: {value!r} is not PIPE, STDOUT, DEVNULL, None or an fd")
        mode = N.OutputMode.FD
    check(N.pk_command_output(cmd, stream, mode, fd))


# pty=True: a terminal of this size (rows, cols).
DEFAULT_PTY_SIZE = (24, 80)
_RLIM_INFINITY = 2**64 - 1  # RLIM_INFINITY as the C API's uint64_t


def _rlim(value: int) -> int:
    # resource.RLIM_INFINITY is -1 in Python.
    return _RLIM_INFINITY if value < 0 else int(value)


def _uid(user: Union[int, str]) -> Tuple[int, int]:
    """A user name or uid -> (uid, that user's primary gid, or the caller's gid
    for a uid with no passwd entry)."""
    import pwd
    try:
        entry = pwd.getpwnam(user) if isinstance(user, str) else pwd.getpwuid(int(user))
    except KeyError:
        if isinstance(user, str):
            raise InvalidArgumentError(N.Error.INVALID, f"user: no user named {user!r}") from None
        return int(user), os.getgid()
    return entry.pw_uid, entry.pw_gid


def _gid(group: Union[int, str]) -> int:
    if isinstance(group, int):
        return group
    import grp
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise InvalidArgumentError(N.Error.INVALID, f"group: no group named {group!r}") from None


def _per_stream(fn: Callable[[bytes], None]) -> Callable[[int, bytes], None]:
    return lambda _stream, data: fn(data)


class _Command:
    """A pk_command built from run()'s keyword arguments; freed on close()."""

    def __init__(self, args: Args, *, input: Union[str, bytes, None] = None, stdin: Input = DEVNULL,
                 stdout: Output = PIPE, stderr: Output = PIPE, env: Optional[Env] = None,
                 unset_env: Iterable[Arg] = (), cwd: Optional[Arg] = None, cwd_fd: Optional[U.FileLike] = None,
                 timeout: Optional[float] = None, grace: Optional[float] = 2.0, timeout_signal: int = 0,
                 ok_codes: Optional[Iterable[int]] = None, backend: Optional[U.BackendLike] = None,
                 min_mechanism: Optional[U.MechanismLike] = None, memory_max: Optional[int] = None,
                 pids_max: Optional[int] = None, cpu_max: Optional[float] = None, new_session: bool = False,
                 create_no_window: bool = False, parent_death_signal: int = 0, max_output: Optional[int] = None,
                 overflow: Union[str, int] = "keep-head", cancel: Optional[CancelToken] = None,
                 on_line: Optional[LineCallback] = None, on_stdout: Optional[Callable[[bytes], None]] = None,
                 on_stderr: Optional[Callable[[bytes], None]] = None,
                 pty: Union[bool, Tuple[int, int]] = False, user: Union[None, int, str] = None,
                 group_id: Union[None, int, str] = None, extra_groups: Optional[Iterable[Union[int, str]]] = None,
                 umask: Optional[int] = None, rlimits: Optional[Mapping[int, Union[int, Tuple[int, int]]]] = None,
                 pass_fds: Iterable[int] = (), fd_map: Optional[Mapping[int, U.FileLike]] = None) -> None:
        argv = U.argv(args)
        self.timeout = timeout
        self.args = tuple(U.fsdecode(a) for a in argv)
        self.cwd = None if cwd is None else U.fsdecode(cwd)
        self.input = input
        # An empty argv reaches the library as an empty program name, so the
        # error (InvalidArgumentError) carries the library's own message.
        program = U.cbytes(argv[0], "program") if argv else b""
        handle = ctypes.POINTER(N.pk_command)()
        self._h: Optional[ctypes._Pointer[N.pk_command]] = None
        check(N.pk_command_new(program, ctypes.byref(handle)))
        self._h = handle
        self.thunks: List[Any] = []  # the ctypes callbacks, alive as long as the command and its runs
        self.callback_error: Optional[BaseException] = None
        try:
            h = handle
            for a in argv[1:]:
                check(N.pk_command_arg(h, U.cbytes(a)))
            if env is not None:
                check(N.pk_command_env_clear(h))
                for key, value in env.items():
                    check(N.pk_command_env(h, U.cbytes(key, "environment key"),
                                           U.cbytes(value, "environment value")))
            for name in unset_env:
                check(N.pk_command_env_unset(h, U.cbytes(name, "environment key")))
            if cwd is not None:
                check(N.pk_command_cwd(h, U.cbytes(cwd, "cwd")))
            if cwd_fd is not None:
                check(N.pk_command_cwd_fd(h, U.fileno(cwd_fd)))
            self._stdin(h, input, stdin)
            _output(h, N.Stream.STDOUT, stdout, "stdout")
            _output(h, N.Stream.STDERR, stderr, "stderr")
            if max_output is not None:
                policy = U.lookup(_OVERFLOW, overflow, "overflow policy")
                assert policy is not None
                for stream in (N.Stream.STDOUT, N.Stream.STDERR):
                    check(N.pk_command_output_limit(h, stream, int(max_output), policy))
            if timeout is not None:
                ms = max(1, U.seconds_to_ms(timeout, "timeout"))
                grace_ms = U.seconds_to_ms(grace if grace is not None else 2.0, "grace")
                check(N.pk_command_timeout(h, ms, int(timeout_signal or 0), grace_ms))
            if ok_codes is not None:
                codes = [int(c) for c in ok_codes]
                array = (ctypes.c_int32 * max(1, len(codes)))(*codes)
                check(N.pk_command_ok_codes(h, array, len(codes)))
            if any(v is not None for v in (backend, min_mechanism, memory_max, pids_max, cpu_max)):
                opts = N.pk_group_options(
                    backend=U.backend(backend),
                    min_mechanism=U.mechanism(min_mechanism),
                    memory_max=int(memory_max or 0),
                    pids_max=int(pids_max or 0),
                    cpu_max=float(cpu_max or 0.0),
                )
                check(N.pk_command_group_options(h, ctypes.byref(opts)))
            flags = (N.CommandFlag.NEW_SESSION if new_session else 0) | \
                (N.CommandFlag.NO_WINDOW if create_no_window else 0)
            if flags:
                check(N.pk_command_flags(h, flags))
            if parent_death_signal:
                check(N.pk_command_parent_death_signal(h, int(parent_death_signal)))
            if cancel is not None:
                check(N.pk_command_cancel_on(h, cancel.handle))
            if on_line is not None:
                event_fn = on_line
                check(N.pk_command_on_event(h, self._line_thunk(lambda s, data: event_fn(N.Stream(s), data)), None))
            for stream, fn in ((N.Stream.STDOUT, on_stdout), (N.Stream.STDERR, on_stderr)):
                if fn is not None:
                    check(N.pk_command_on_line(h, stream, self._line_thunk(_per_stream(fn)), None))
            if pty:
                rows, cols = DEFAULT_PTY_SIZE if isinstance(pty, bool) else pty
                check(N.pk_command_pty(h, int(rows), int(cols)))
            if user is not None or group_id is not None or extra_groups is not None:
                uid, gid = _uid(user) if user is not None else (os.getuid(), os.getgid())
                if group_id is not None:
                    gid = _gid(group_id)
                groups = [_gid(g) for g in (extra_groups or ())]
                garray = (ctypes.c_uint32 * max(1, len(groups)))(*groups)
                check(N.pk_command_user(h, uid, gid, garray if groups else None, len(groups)))
            if umask is not None:
                check(N.pk_command_umask(h, int(umask)))
            for resource, limit in (rlimits or {}).items():
                soft, hard = (limit, limit) if isinstance(limit, int) else limit
                check(N.pk_command_rlimit(h, int(resource), _rlim(soft), _rlim(hard)))
            for fd in pass_fds:
                check(N.pk_command_map_fd(h, int(fd), int(fd)))
            for child_fd, parent in (fd_map or {}).items():
                check(N.pk_command_map_fd(h, int(child_fd), U.fileno(parent)))
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _stdin(h: ctypes._Pointer[N.pk_command], input: Union[str, bytes, None], stdin: Input) -> None:
        if input is not None:
            data = input.encode() if isinstance(input, str) else bytes(input)
            check(N.pk_command_stdin_bytes(h, data, len(data)))
        elif stdin is None:
            check(N.pk_command_stdin_inherit(h))
        elif isinstance(stdin, int) and stdin == DEVNULL:
            check(N.pk_command_stdin_null(h))
        elif isinstance(stdin, int) and stdin == PIPE:
            check(N.pk_command_stdin_pipe(h))
        elif isinstance(stdin, (str, os.PathLike)):
            check(N.pk_command_stdin_file(h, U.cbytes(stdin, "stdin file")))
        else:
            check(N.pk_command_stdin_fd(h, U.fileno(stdin)))

    def _line_thunk(self, fn: Callable[[int, bytes], None]) -> Any:
        """A pk_line_fn calling fn(stream, bytes); an exception in fn is kept
        and re-raised where the run is awaited (it cannot cross C)."""
        def thunk(_user: Any, stream: int, line: Any, length: int) -> None:
            try:
                fn(stream, ctypes.string_at(line, length))
            except BaseException as e:  # noqa: BLE001 - re-raised where the run is awaited
                if self.callback_error is None:
                    self.callback_error = e

        native = N.pk_line_fn(thunk)
        self.thunks.append(native)
        return native

    @property
    def handle(self) -> ctypes._Pointer[N.pk_command]:
        assert self._h is not None
        return self._h

    def close(self) -> None:
        if self._h is not None:
            h, self._h = self._h, None
            N.pk_command_free(h)

    def __enter__(self) -> _Command:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Process(U.NativeHandle):
    """A command running (or finished) on a Loop. close() releases the
    handle; a run still going is cancelled and reaped first."""

    _free = "pk_process_free"

    def __init__(self, loop: Loop, handle: ctypes._Pointer[N.pk_process], command: _Command) -> None:
        self._loop = loop
        self._own(handle)
        self._command = command  # keeps the line callback alive for the run
        self.args = command.args
        self._result: Optional[Result] = None
        pid = ctypes.c_int32()
        check(N.pk_process_pid(handle, ctypes.byref(pid)))
        self.pid = pid.value

    def __repr__(self) -> str:
        return f"<processkit_c.Process pid={self.pid} {'done' if self._closed or self.done else 'running'}>"

    @property
    def handle(self) -> ctypes._Pointer[N.pk_process]:
        handle: ctypes._Pointer[N.pk_process] = self._h
        return handle

    @property
    def done(self) -> bool:
        if self._result is not None:
            return True
        flag = ctypes.c_int32()
        check(N.pk_process_done(self._h, ctypes.byref(flag)))
        return bool(flag.value)

    def _raise_callback_error(self) -> None:
        err = self._command.callback_error
        if err is not None:
            self._command.callback_error = None
            raise err

    def wait(self, timeout: Optional[float] = None) -> Result:
        """Drive the loop until this run is finished; return its Result."""
        self._loop.wait([self], timeout)
        return self.result()

    def result(self) -> Result:
        """The Result of the finished run (StateError while it is running)."""
        self._raise_callback_error()
        if self._result is None:
            handle = ctypes.POINTER(N.pk_result)()
            check(N.pk_process_result(self._h, ctypes.byref(handle)))
            try:
                self._result = Result._from_handle(handle, self.args, timeout=self._command.timeout)
            finally:
                N.pk_result_free(handle)
        return self._result

    def wait_for_line(self, pattern: Union[str, bytes], *, regex: bool = False, stream: Union[None, str, int] = None,
                      timeout: Optional[float] = None) -> None:
        """Drive the loop until a line of output contains `pattern` (str or
        bytes), or matches it as a POSIX extended regular expression when
        `regex` is true. `stream`: None (stdout or stderr), "stdout",
        "stderr" or a Stream. Lines written before the call count too, and
        every line still reaches the capture. Raises NotReadyError (its
        message lists the last lines seen) when `timeout` seconds pass
        (None: no limit) or the run ends first; the process is never killed
        by a probe."""
        data = U.cbytes(pattern, "pattern")
        which = _probe_stream(stream)
        flags = N.MatchFlag.REGEX if regex else N.MatchFlag.SUBSTRING
        self._probe(lambda ms: N.pk_process_wait_for_line(self._h, which, data, flags, ms), timeout)

    def wait_for_port(self, port: int, *, timeout: Optional[float] = None) -> None:
        """Drive the loop (so the output keeps flowing) until a TCP
        connection to 127.0.0.1:`port` succeeds. NotReadyError when
        `timeout` seconds pass (None: no limit) or the run ends first; the
        process is never killed by a probe."""
        port = int(port)
        if not 0 < port < 65536:
            raise InvalidArgumentError(N.Error.INVALID, f"port {port} is not in 1..65535")
        self._probe(lambda ms: N.pk_process_wait_for_port(self._h, port, ms), timeout)

    def readiness(self) -> Readiness:
        """The last readiness probe's outcome, as data (kind NONE before any)."""
        info = N.pk_readiness_info()
        check(N.pk_process_readiness(self._h, ctypes.byref(info)))
        return Readiness._from(info)

    def _probe(self, call: Callable[[int], int], timeout: Optional[float],
               raised: Sequence[BaseException] = ()) -> None:
        # One native probe for the whole timeout: Ctrl-C wakes the loop (see
        # _drive), so the library's message and readiness data cover it all
        # (but for a wake it did not ask for: then the probe begins again).
        rc, message = _drive(self._loop, call, U.seconds_to_ms(timeout, "timeout"))
        self._raise_callback_error()
        if raised:
            raise raised[0]
        if rc < 0:
            err = error_for(rc, message)
            try:
                err.readiness = self.readiness()
            except ProcessKitError:  # not this probe's (it failed before starting): leave it None
                pass
            raise err

    def write(self, data: Union[str, bytes, bytearray, memoryview]) -> None:
        """Queue bytes for a stdin=PIPE run."""
        data = data.encode() if isinstance(data, str) else bytes(data)
        check(N.pk_process_write(self._h, data, len(data)))

    def close_stdin(self) -> None:
        check(N.pk_process_close_stdin(self._h))

    def send_signal(self, sig: int) -> None:
        """Signal the run's tree (its private group)."""
        check(N.pk_process_signal(self._h, int(sig)))

    def cancel(self) -> None:
        """Kill the tree and end the run as cancelled. Any thread."""
        check(N.pk_process_cancel(self._h))

    def resize(self, rows: int, cols: int) -> None:
        """Resize a pty=True run's terminal (the child gets SIGWINCH)."""
        check(N.pk_process_resize(self._h, int(rows), int(cols)))

    def wait_for(self, ready: Callable[[], bool], *, interval: float = 0.05,
                 timeout: Optional[float] = None) -> None:
        """Drive the loop (the output keeps flowing) until `ready()` returns
        true, asking every `interval` seconds. NotReadyError when `timeout`
        seconds pass or the run ends first; an exception from `ready` ends
        the wait and propagates. The process is never killed by a probe."""
        raised: List[BaseException] = []

        def thunk(_user: Any) -> int:
            if raised:
                return 1
            try:
                return 1 if ready() else 0
            except BaseException as e:  # noqa: BLE001 - re-raised below; 1 ends the native wait
                raised.append(e)
                return 1

        native = N.pk_ready_fn(thunk)
        interval_ms = max(1, U.seconds_to_ms(interval, "interval"))
        self._probe(lambda ms: N.pk_process_wait_for(self._h, native, None, interval_ms, ms), timeout,
                    raised)

    def _before_free(self) -> None:
        self._loop._processes.discard(self)


_PROBE_STREAMS = U.enum_names(N.Stream, exclude=[N.Stream.STDIN])


def _probe_stream(stream: Union[None, str, int]) -> int:
    if stream is None:
        return 0  # either
    if isinstance(stream, str):
        if stream not in _PROBE_STREAMS:
            raise InvalidArgumentError(N.Error.INVALID, f"stream {stream!r} is not None, 'stdout' or 'stderr'")
        return int(_PROBE_STREAMS[stream])
    return int(stream)


def _check(rc: int, message: str, procs: Sequence[Process] = (), timeout: Optional[float] = None) -> int:
    """check() for a code that came with its message (from another thread).
    A wait's TimeoutExpiredError carries its timeout, and its cmd when it
    waited for one process."""
    if rc < 0:
        err = error_for(rc, message)
        if isinstance(err, subprocess.TimeoutExpired):
            err.timeout = timeout  # type: ignore[assignment]
            if len(procs) == 1:
                err.cmd = list(procs[0].args)
        raise err
    return rc


def _drive(loop: Loop, call: Callable[[int], int], ms: int) -> Tuple[int, str]:
    """Call `call(ms)`, a native wait of up to `ms` milliseconds (-1: no
    limit) that drives `loop`; return its code and, if it failed, its message.

    A pk_loop_wake() is never lost: one that lands when no call is in
    progress ends the next one. So a PK_ERR_CANCELLED that neither Loop.wake()
    nor this binding asked for (a wake left over from a wait that ended by
    itself just as Ctrl-C woke it) is not this wait's: it waits again, for
    the rest of the time."""
    deadline = None if ms < 0 else time.monotonic() + ms / 1000
    while True:
        rc, message = _drive_once(loop.handle, call, ms)
        if rc != N.PK_ERR_CANCELLED or loop._take_wakes():
            return rc, message
        if deadline is not None:
            ms = U.seconds_to_ms(max(0.0, deadline - time.monotonic()), "timeout")


def _drive_once(loop: ctypes._Pointer[N.pk_loop], call: Callable[[int], int], ms: int) -> Tuple[int, str]:
    """One call of _drive's.

    Python runs signal handlers in the main thread between bytecodes, so a
    blocking native call there would not see Ctrl-C until it returned. From
    the main thread, then, the call runs on a helper thread (ctypes releases
    the GIL) while this thread waits on an Event, which a signal interrupts
    (see U.SIGNAL_BACKSTOP_S). Whatever is raised here (KeyboardInterrupt,
    or an exception from another signal's handler) ends the native wait
    through one pk_loop_wake() (it returns PK_ERR_CANCELLED; every run goes
    on), waits for the helper to return, and propagates. Other threads never
    run signal handlers, and a wait of 0 ms does not block: they call
    directly."""
    if ms == 0 or threading.current_thread() is not threading.main_thread():
        rc = call(ms)
        return rc, (last_error() if rc < 0 else "")
    job = _Job(call, ms)
    helper = _Helper.take()
    try:
        helper.submit(job)
        while not job.done.wait(U.SIGNAL_BACKSTOP_S):
            pass
    except BaseException:
        if job.abandon():
            _wake_and_join(loop, job.done)
        raise
    finally:
        helper.release()
    if isinstance(job.outcome, BaseException):
        raise job.outcome
    assert job.outcome is not None
    return job.outcome


def _wake_and_join(loop: ctypes._Pointer[N.pk_loop], done: threading.Event) -> None:
    # One pk_loop_wake() ends the helper's native wait, even one it has not
    # begun yet (a wake is never lost; if the wait ends by itself first, the
    # next call on the loop takes the wake as one it did not ask for). Then
    # wait for the helper to return. Another Ctrl-C meanwhile does not stop
    # this (the first one propagates once the helper is done).
    woken = False
    while not done.is_set():
        try:
            if not woken:
                N.pk_loop_wake(loop)
                woken = True
            done.wait(U.SIGNAL_BACKSTOP_S)
        except BaseException:  # noqa: BLE001 - see above
            pass


class _Job:
    """One native wait handed to a _Helper."""

    def __init__(self, call: Callable[[int], int], ms: int) -> None:
        self.call = call
        self.ms = ms
        self.done = threading.Event()
        self.outcome: Union[None, Tuple[int, str], BaseException] = None
        self._lock = threading.Lock()
        self._state = "queued"  # -> "running" (by the helper) or "abandoned" (by the caller)

    def run(self) -> None:
        with self._lock:
            if self._state == "abandoned":
                return
            self._state = "running"
        try:
            rc = self.call(self.ms)
            self.outcome = (rc, last_error() if rc < 0 else "")  # pk_last_error() is per thread
        except BaseException as e:  # noqa: BLE001 - re-raised on the calling thread
            self.outcome = e
        finally:
            self.done.set()

    def abandon(self) -> bool:
        """The caller gives up: True if the helper already runs the call (it
        must be woken), False if it never will."""
        with self._lock:
            running = self._state == "running"
            self._state = "abandoned"
            return running


class _Helper:
    """A thread that makes blocking native calls for the main thread, kept for
    the next one (usually one helper; another only for a wait made while one
    is in progress, from a signal handler)."""

    _idle: List[_Helper] = []
    _idle_lock = threading.Lock()

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="processkit-wait", daemon=True).start()

    @classmethod
    def take(cls) -> _Helper:
        with cls._idle_lock:
            if cls._idle:
                return cls._idle.pop()
        return cls()

    def release(self) -> None:
        with self._idle_lock:
            self._idle.append(self)

    def submit(self, job: _Job) -> None:
        self._jobs.put(job)

    def _serve(self) -> None:
        while True:
            self._jobs.get().run()

    @classmethod
    def _forget(cls) -> None:
        # A forked child has none of its parent's threads.
        cls._idle = []
        cls._idle_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_Helper._forget)


class Loop(U.NativeHandle):
    """A pk_loop: many runs on one thread. fileno() polls readable when
    run_once() has work, so another event loop can embed it (AsyncLoop does).

    Ctrl-C ends a blocking wait at once: from the main thread the native wait
    runs on a helper thread, which pk_loop_wake() stops when the waiting
    thread is interrupted (so line callbacks run on that helper thread then).
    The runs go on; leaving `with Loop()` (close()) kills them."""

    _free = "pk_loop_free"

    def __init__(self) -> None:
        handle = ctypes.POINTER(N.pk_loop)()
        check(N.pk_loop_new(ctypes.byref(handle)))
        self._own(handle)
        self._processes: weakref.WeakSet[Process] = weakref.WeakSet()
        self._wakes = 0  # wake() calls no native call has taken yet (see _take_wakes)
        self._wakes_lock = threading.Lock()

    @property
    def handle(self) -> ctypes._Pointer[N.pk_loop]:
        handle: ctypes._Pointer[N.pk_loop] = self._h
        return handle

    def fileno(self) -> int:
        fd = ctypes.c_int()
        check(N.pk_loop_fd(self._h, ctypes.byref(fd)))
        return fd.value

    def start(self, args: Args, *, group: Optional[Group] = None, **options: Any) -> Process:
        """Start a command (run()'s options) on the loop, in `group` (a Group)
        or in a private group of its own; return its Process."""
        command = _Command(args, **options)
        try:
            handle = ctypes.POINTER(N.pk_process)()
            check(N.pk_loop_start(self._h, command.handle, group.handle if group is not None else None,
                                  ctypes.byref(handle)), program=command.args[0] if command.args else None)
        finally:
            command.close()
        proc = Process(self, handle, command)
        self._processes.add(proc)
        return proc

    def run_once(self, timeout: Optional[float] = 0) -> None:
        """Wait up to `timeout` seconds (None: forever) for events and handle
        them; wake() (or Ctrl-C) ends the wait early."""
        self._take_wakes()  # this call takes every wake made before it
        rc, message = _drive(self, lambda ms: N.pk_loop_run_once(self._h, ms), U.seconds_to_ms(timeout, "timeout"))
        _check(rc, message)

    def wake(self) -> None:
        """From any thread: end a blocking wait on this loop. wait(),
        wait_any(), Process.wait(), wait_for_line() and wait_for_port() that
        were waiting raise CancelledRunError, run_once() returns; every run
        goes on. With nobody waiting, it ends the next of those calls."""
        with self._wakes_lock:
            self._wakes += 1
        check(N.pk_loop_wake(self._h))

    def _take_wakes(self) -> bool:
        """Whether wake() was called since the last native call that took
        the wakes (a wait that raised CancelledRunError, a run_once()); this
        call takes them (the library's pending wakes end one call)."""
        with self._wakes_lock:
            woken, self._wakes = self._wakes != 0, 0
        return woken

    def _array(self, procs: Sequence[Process]) -> ctypes.Array[ctypes._Pointer[N.pk_process]]:
        return (ctypes.POINTER(N.pk_process) * max(1, len(procs)))(*[p.handle for p in procs])

    def wait(self, procs: Iterable[Process], timeout: Optional[float] = None) -> None:
        """Drive the loop until every process in `procs` is finished;
        TimeoutExpiredError after `timeout` seconds (None: no limit)."""
        procs = list(procs)
        array = self._array(procs)
        rc, message = _drive(self, lambda ms: N.pk_loop_wait_all(self._h, array, len(procs), ms),
                             U.wait_ms(timeout))
        for p in procs:
            p._raise_callback_error()
        _check(rc, message, procs, timeout)

    def wait_any(self, procs: Iterable[Process], timeout: Optional[float] = None) -> Process:
        """Drive the loop until one of `procs` is finished; return it."""
        procs = list(procs)
        array = self._array(procs)
        index = ctypes.c_size_t()
        rc, message = _drive(self,
                             lambda ms: N.pk_loop_wait_any(self._h, array, len(procs), ms, ctypes.byref(index)),
                             U.wait_ms(timeout))
        for p in procs:
            p._raise_callback_error()
        _check(rc, message, procs, timeout)
        return procs[index.value]

    def _before_free(self) -> None:
        # close(): cancel and release every run still on the loop, then free it.
        for proc in list(self._processes):
            try:
                proc.close()
            except ProcessKitError:
                pass


@dataclass(frozen=True)
class Retry:
    """How run(..., retry=Retry(...)) retries (pk_command_run_retry): at most
    `max_attempts` runs, the first included; `initial_delay` seconds before
    the second, growing by `multiplier` up to `max_delay`; `jitter` makes each
    delay uniformly random in [0, delay]. `classify(result, attempt)` (attempt
    counts from 1) says whether a failed attempt is worth another; None
    retries any failure. Cancellation is terminal. A stdin that cannot be
    replayed (PIPE, an fd) is refused with InvalidArgumentError."""

    max_attempts: int = 3
    initial_delay: float = 0.1
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: bool = True
    classify: Optional[Callable[[Result, int], bool]] = None


_T = TypeVar("_T")


def _blocking(call: Callable[[], _T], interrupt: Callable[[], None]) -> _T:
    """Run a blocking native call that no pk_loop drives (pk_command_run_retry,
    pk_supervise). From the main thread it runs on a helper thread so Ctrl-C
    is seen at once: then `interrupt()` (which triggers the call's cancel
    token) ends it, and the KeyboardInterrupt propagates once it returned."""
    if threading.current_thread() is not threading.main_thread():
        return call()
    box: List[Tuple[bool, Any]] = []
    done = threading.Event()

    def target() -> None:
        try:
            box.append((True, call()))
        except BaseException as e:  # noqa: BLE001 - re-raised on the calling thread
            box.append((False, e))
        finally:
            done.set()

    threading.Thread(target=target, name="processkit-run", daemon=True).start()
    try:
        while not done.wait(U.SIGNAL_BACKSTOP_S):
            pass
    except BaseException:
        interrupt()
        while not done.is_set():
            try:
                done.wait(U.SIGNAL_BACKSTOP_S)
            except BaseException:  # noqa: BLE001 - the first interrupt propagates
                pass
        raise
    ok, value = box[0]
    if not ok:
        raise value
    result: _T = value
    return result


def _native_call(call: Callable[[], int]) -> Callable[[], Tuple[int, str]]:
    # pk_last_error() is per thread: read it on the thread that made the call.
    def wrapped() -> Tuple[int, str]:
        rc = call()
        return rc, (last_error() if rc < 0 else "")
    return wrapped


def _run_retry(args: Args, retry: Retry, options: Any) -> Result:
    token = options.get("cancel")
    own_token = None
    if token is None:
        token = own_token = CancelToken()
        options["cancel"] = token
    try:
        with _Command(args, **options) as command:
            opts = N.pk_retry_options(
                max_attempts=max(1, int(retry.max_attempts)),
                initial_delay_ms=U.seconds_to_ms(retry.initial_delay, "initial_delay", allow_none=False),
                max_delay_ms=U.seconds_to_ms(retry.max_delay, "max_delay", allow_none=False),
                multiplier=float(retry.multiplier), jitter=1 if retry.jitter else 0)
            classify_fn = retry.classify
            native: Any = N.pk_retry_fn()  # NULL: retry any failure
            if classify_fn is not None:
                fn = classify_fn

                def classify(_user: Any, res: Any, attempt: int) -> int:
                    if command.callback_error is not None:
                        return 0
                    try:
                        return 1 if fn(Result._from_handle(res, command.args, timeout=command.timeout), attempt) else 0
                    except BaseException as e:  # noqa: BLE001 - re-raised below; 0 stops retrying
                        command.callback_error = e
                        return 0

                native = N.pk_retry_fn(classify)
            out = ctypes.POINTER(N.pk_result)()
            rc, message = _blocking(
                _native_call(lambda: N.pk_command_run_retry(command.handle, ctypes.byref(opts), native, None,
                                                            ctypes.byref(out))),
                token.trigger)
            if rc < 0:
                raise error_for(rc, message, program=command.args[0] if command.args else None)
            try:
                if command.callback_error is not None:
                    raise command.callback_error
                return Result._from_handle(out, command.args, timeout=command.timeout)
            finally:
                N.pk_result_free(out)
    finally:
        if own_token is not None:
            own_token.close()


def run(args: Args, *, input: Union[str, bytes, None] = None, env: Optional[Env] = None,
        cwd: Optional[Arg] = None, timeout: Optional[float] = None, grace: Optional[float] = None,
        check: bool = False, ok_codes: Optional[Iterable[int]] = None, retry: Optional[Retry] = None,
        **options: Any) -> Result:
    """Run a command to completion in a private group (its whole tree dies
    with it) and return a Result with stdout and stderr captured (PIPE, the
    library's run-and-capture; pass stdout=None / stderr=None to inherit as
    subprocess.run does). `args` is the argv (a sequence), or one program
    with no arguments (a str, bytes or path: never split, there is no
    shell), as subprocess.run takes it.

    A non-zero exit is data (result.returncode) unless check=True, which
    raises the library's error (CommandFailedError, TimeoutExpiredError...)
    carrying its message and the Result. Options: input (bytes/str for
    stdin), env (a mapping that replaces the environment), unset_env, cwd or
    cwd_fd, timeout and grace (seconds: after `timeout` the tree gets
    timeout_signal, default SIGTERM, then SIGKILL after `grace`, default
    2 s), ok_codes (exit codes that count as success), stdin/stdout/stderr
    (PIPE, STDOUT, DEVNULL, None to inherit, or an fd), backend,
    min_mechanism, memory_max, pids_max, cpu_max, new_session,
    create_no_window (Windows' CREATE_NO_WINDOW; no effect elsewhere),
    parent_death_signal, max_output + overflow, cancel (a CancelToken),
    on_line (called with (Stream, bytes) for every output line), on_stdout /
    on_stderr (bytes, one stream each), pty (True or (rows, cols): run on a
    pseudo-terminal; its output arrives as stdout), user / group_id /
    extra_groups (names or ids), umask, rlimits ({resource.RLIMIT_*: limit or
    (soft, hard)}), pass_fds (fds the child keeps under the same number),
    fd_map ({child fd: parent fd or file}), retry (a Retry).
    """
    if retry is not None:
        result = _run_retry(args, retry, dict(options, input=input, env=env, cwd=cwd, timeout=timeout,
                                              grace=grace, ok_codes=ok_codes))
    else:
        with Loop() as loop:
            proc = loop.start(args, input=input, env=env, cwd=cwd, timeout=timeout, grace=grace,
                              ok_codes=ok_codes, **options)
            result = proc.wait()
            proc.close()
    if check:
        result.check()
    return result


class Line(NamedTuple):
    """One line of output, without its newline (a last unterminated line
    included), as it arrived."""

    stream: N.Stream
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class LineStream:
    """iter_lines(): a run whose output lines are an iterator. Iterating
    drives the run; when the lines end, `.result` is the run's Result.
    `.process` is its Process (write(), send_signal(), cancel()...). close()
    (or leaving `with`) kills a run still going."""

    def __init__(self, args: Args, **options: Any) -> None:
        if "on_line" in options:
            raise TypeError("iter_lines() delivers the lines itself: on_line is not an option of it")
        self._lines: Deque[Line] = collections.deque()
        self.result: Optional[Result] = None
        self._loop = Loop()
        try:
            self.process = self._loop.start(args, on_line=lambda s, d: self._lines.append(Line(s, d)), **options)
        except BaseException:
            self._loop.close()
            raise

    def __iter__(self) -> Iterator[Line]:
        return self

    def __next__(self) -> Line:
        while not self._lines:
            if self.result is not None:
                raise StopIteration
            if self.process.done:
                self.result = self.process.result()
                self.close()
            else:
                self._loop.run_once(None)
        return self._lines.popleft()

    def wait(self) -> Result:
        """Drain the remaining lines; return the Result."""
        for _ in self:
            pass
        assert self.result is not None
        return self.result

    def close(self) -> None:
        self._loop.close()

    def __enter__(self) -> LineStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_lines(args: Args, **options: Any) -> LineStream:
    """Run a command and iterate over its output lines as they arrive:

        for line in iter_lines(["make"], timeout=600):
            print(line.stream, line.text)

    run()'s options (stdout/stderr are captured too); the LineStream's
    `.result` is the Result once the lines end."""
    return LineStream(args, **options)
