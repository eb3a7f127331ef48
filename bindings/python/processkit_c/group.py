"""Groups: kill-on-free containers of processes, and their children."""
from __future__ import annotations

import ctypes
import math
import select
import signal as _signal
import subprocess
import time
from typing import Any, List, NamedTuple, Optional

from . import _native as N
from . import _util as U
from ._util import Arg, Args, BackendLike, Env, FileLike, MechanismLike
from .errors import InvalidArgumentError, TimeoutExpiredError, check

__all__ = ["Group", "Child", "ExitStatus", "Containment", "GroupStats", "ShutdownReport", "probe"]

class Containment(NamedTuple):
    """What holds a group (or what a group would get on this host)."""

    mechanism: str  # "cgroup-v2", "process-group", "job-object" or "none"
    features: N.Feature
    reason: str  # why nothing stronger was used ("" if nothing stronger was wanted)
    cgroup_mount: str
    cgroup_path: str

    @classmethod
    def _from(cls, c: N.pk_containment) -> Containment:
        return cls(
            mechanism=U.mechanism_name(c.mechanism),
            features=N.Feature(c.features),
            reason=U.cstring(c.reason),
            cgroup_mount=U.cstring(c.cgroup_mount),
            cgroup_path=U.cstring(c.cgroup_path),
        )


def probe(backend: BackendLike = "auto") -> Containment:
    """What a group created with `backend` would get here, without creating one."""
    out = N.pk_containment()
    check(N.pk_host_probe(U.backend(backend), ctypes.byref(out)))
    return Containment._from(out)


class ExitStatus(NamedTuple):
    """How a child ended."""

    kind: N.ExitKind
    code: int
    signal: int
    core_dumped: bool

    @property
    def returncode(self) -> int:
        """As subprocess: the exit code, or -signal when a signal killed it."""
        return self.code if self.kind == N.ExitKind.CODE else -self.signal

    @property
    def exited(self) -> bool:
        return self.kind == N.ExitKind.CODE

    @property
    def signalled(self) -> bool:
        return self.kind == N.ExitKind.SIGNAL


class GroupStats(NamedTuple):
    live_processes: int
    cpu_time: Optional[float]  # seconds of user+system CPU; None if unknown
    peak_memory: Optional[int]  # bytes; None if unknown


class ShutdownReport(NamedTuple):
    members_before: int
    members_after: int
    drained: bool
    escalated: bool
    elapsed: float  # seconds


def _stdio(value: Optional[FileLike], what: str) -> int:
    """None -> inherit, subprocess.DEVNULL -> /dev/null, else an fd or file object."""
    if value is None:
        return N.PK_STDIO_INHERIT
    if isinstance(value, int) and value == subprocess.DEVNULL:
        return N.PK_STDIO_NULL
    fd = U.fileno(value)
    if fd < 0:
        raise InvalidArgumentError(N.Error.INVALID, f"{what}: {value!r} is not an fd, None or DEVNULL")
    return fd


class Child(U.NativeHandle):
    """A direct child spawned into a Group. Closing the handle does not touch
    the process: it stays in its group, which kills it when freed."""

    _free = "pk_child_free"

    def __init__(self, handle: ctypes._Pointer[N.pk_child], args: List[Arg]) -> None:
        self._own(handle)
        self.args = args
        self._status: Optional[ExitStatus] = None
        pid = ctypes.c_int32()
        check(N.pk_child_pid(self._h, ctypes.byref(pid)))
        self.pid = pid.value

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self._status is None else f"ended {self._status}")
        return f"<processkit_c.Child pid={self.pid} {state}>"

    @property
    def handle(self) -> ctypes._Pointer[N.pk_child]:
        """The native pk_child pointer (for processkit_c._native)."""
        handle: ctypes._Pointer[N.pk_child] = self._h
        return handle

    def fileno(self) -> int:
        """An fd that polls readable when the child exits (its pidfd; owned by the handle)."""
        fd = ctypes.c_int()
        check(N.pk_child_pollfd(self._h, ctypes.byref(fd)))
        return fd.value

    def _wait_ms(self, ms: int) -> ExitStatus:
        st = N.pk_exit_status()
        check(N.pk_child_wait(self._h, ms, ctypes.byref(st)))
        self._status = ExitStatus(N.ExitKind(st.kind), st.code, U.signal_of(st.signal), bool(st.core_dumped))
        return self._status

    def wait(self, timeout: Optional[float] = None) -> ExitStatus:
        """Wait for the child to end (and reap it); TimeoutExpiredError if it is
        still running after `timeout` seconds (None: forever)."""
        if self._status is not None:
            return self._status
        ms = U.wait_ms(timeout)
        if ms == 0:
            return self._wait_ms(0)
        # No pk_loop drives this wait, so pk_loop_wake cannot end it, and a
        # blocking pk_child_wait() would not see Ctrl-C. Poll the child's
        # pidfd here instead, which a signal interrupts (Ctrl-C raises
        # KeyboardInterrupt; after a handler that does not raise, the poll
        # goes on, PEP 475), then reap it without waiting.
        poller = select.poll()
        poller.register(self.fileno(), select.POLLIN)
        deadline = None if ms < 0 else time.monotonic() + ms / 1000
        backstop = math.ceil(U.SIGNAL_BACKSTOP_S * 1000)
        while True:
            left = None if deadline is None else max(0, math.ceil((deadline - time.monotonic()) * 1000))
            chunk = backstop if left is None else min(left, backstop)
            ready = poller.poll(chunk)
            if ready or chunk == left:  # it ended, or the timeout is over
                try:
                    return self._wait_ms(0)
                except TimeoutExpiredError:
                    if not ready:
                        raise TimeoutExpiredError(
                            N.Error.TIMEOUT, f"Child.wait: pid {self.pid} still running after {ms} ms",
                            cmd=[U.fsdecode(a) for a in self.args], timeout=timeout) from None

    def poll(self) -> Optional[ExitStatus]:
        """The ExitStatus if the child has ended, else None."""
        try:
            return self.wait(0)
        except TimeoutExpiredError:
            return None

    @property
    def returncode(self) -> Optional[int]:
        """None while running (as last seen by wait/poll), else ExitStatus.returncode."""
        return None if self._status is None else self._status.returncode

    def send_signal(self, sig: int) -> None:
        """Signal the child alone, through its pidfd (never a recycled pid)."""
        check(N.pk_child_signal(self._h, int(sig)))

    def terminate(self) -> None:
        self.send_signal(_signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(_signal.SIGKILL)



class Group(U.NativeHandle):
    """A kill-on-free container of processes.

        with Group() as g:            # backend="auto": cgroup v2, else process group
            child = g.spawn(["sh", "-c", "sleep 30 & wait"])
            print(g.mechanism)        # "cgroup-v2"
        # leaving the block (close()) SIGKILLs the whole tree and reaps it

    A closed group keeps its (stale) handle: any later call on it fails in the
    library with HandleError, which carries the library's message.
    """

    def __init__(self, backend: BackendLike = "auto", *, min_mechanism: Optional[MechanismLike] = None,
                 memory_max: Optional[int] = None, pids_max: Optional[int] = None, cpu_max: Optional[float] = None,
                 parent_death_signal: int = 0) -> None:
        opts = N.pk_group_options(
            backend=U.backend(backend),
            min_mechanism=U.mechanism(min_mechanism),
            parent_death_signal=int(parent_death_signal or 0),
            memory_max=int(memory_max or 0),
            pids_max=int(pids_max or 0),
            cpu_max=float(cpu_max or 0.0),
        )
        handle = ctypes.POINTER(N.pk_group)()
        check(N.pk_group_create(ctypes.byref(opts), ctypes.byref(handle)))
        self._own(handle)

    def __repr__(self) -> str:
        if self._closed:
            return "<processkit_c.Group closed>"
        return f"<processkit_c.Group {self.mechanism}>"

    @property
    def handle(self) -> ctypes._Pointer[N.pk_group]:
        """The native pk_group pointer (for processkit_c._native)."""
        handle: ctypes._Pointer[N.pk_group] = self._h
        return handle

    def containment(self) -> Containment:
        out = N.pk_containment()
        check(N.pk_group_containment(self._h, ctypes.byref(out)))
        return Containment._from(out)

    @property
    def mechanism(self) -> str:
        """The mechanism holding the group: "cgroup-v2", "process-group", ..."""
        return self.containment().mechanism

    def spawn(self, args: Args, *, program: Optional[Arg] = None, env: Optional[Env] = None,
              cwd: Optional[Arg] = None, stdin: Optional[FileLike] = None, stdout: Optional[FileLike] = None,
              stderr: Optional[FileLike] = None, new_session: bool = False, search_path: bool = True,
              parent_death_signal: Optional[int] = None) -> Child:
        """Start a child inside the group. `args` is argv (args[0] is also the
        program unless `program` is given); a str, bytes or path is one
        program with no arguments, as subprocess takes it. stdio: None inherits, DEVNULL
        (subprocess.DEVNULL) is /dev/null, an int or object with fileno() is
        that fd. `env` (a mapping) replaces the environment."""
        args = U.argv(args)
        argv = [U.cbytes(a) for a in args]
        c_argv = U.cstr_array(argv)
        keep: List[Any] = [c_argv]
        opts = N.pk_spawn_options()
        opts.argv = ctypes.cast(c_argv, ctypes.POINTER(ctypes.c_char_p))
        if program is not None:
            opts.program = U.cbytes(program, "program")
        if env is not None:
            c_env = U.cstr_array(U.env_list(env))
            keep.append(c_env)
            opts.envp = ctypes.cast(c_env, ctypes.POINTER(ctypes.c_char_p))
        if cwd is not None:
            opts.cwd = U.cbytes(cwd, "cwd")
        opts.stdin_fd = _stdio(stdin, "stdin")
        opts.stdout_fd = _stdio(stdout, "stdout")
        opts.stderr_fd = _stdio(stderr, "stderr")
        flags = 0
        if new_session:
            flags |= N.SpawnFlag.NEW_SESSION
        if not search_path:
            flags |= N.SpawnFlag.NO_PATH_SEARCH
        opts.flags = flags
        opts.parent_death_signal = -1 if parent_death_signal is None else int(parent_death_signal)
        handle = ctypes.POINTER(N.pk_child)()
        check(N.pk_group_spawn(self._h, ctypes.byref(opts), ctypes.byref(handle)),
              program=program if program is not None else (args[0] if args else None))
        del keep
        return Child(handle, list(args))

    def adopt(self, pid: int) -> None:
        """Bring an existing child of this process (and its future descendants) into the group."""
        check(N.pk_group_adopt(self._h, int(pid)))

    def members(self) -> List[int]:
        """The pids in the group (every process on cgroup v2)."""
        count = ctypes.c_size_t()
        check(N.pk_group_members(self._h, None, 0, ctypes.byref(count)))
        while True:
            capacity = count.value + 16
            pids = (ctypes.c_int32 * capacity)()
            check(N.pk_group_members(self._h, pids, capacity, ctypes.byref(count)))
            if count.value <= capacity:
                return list(pids[: count.value])

    def send_signal(self, sig: int) -> None:
        """Send `sig` to every process in the group."""
        check(N.pk_group_signal(self._h, int(sig)))

    def kill(self) -> None:
        """SIGKILL the whole tree; the group stays usable."""
        check(N.pk_group_kill(self._h))

    def suspend(self) -> None:
        check(N.pk_group_suspend(self._h))

    def resume(self) -> None:
        check(N.pk_group_resume(self._h))

    def stats(self) -> GroupStats:
        out = N.pk_group_stats()
        check(N.pk_group_stats_get(self._h, ctypes.byref(out)))
        return GroupStats(
            live_processes=out.live_processes,
            cpu_time=None if out.cpu_time_us < 0 else out.cpu_time_us / 1e6,
            peak_memory=None if out.peak_memory_bytes < 0 else out.peak_memory_bytes,
        )

    def shutdown(self, signal: int = _signal.SIGTERM, grace: float = 2.0, escalate: bool = True) -> ShutdownReport:
        """Send `signal` to the tree, wait up to `grace` seconds for it to
        drain, then SIGKILL what is left if `escalate`."""
        opts = N.pk_shutdown_options(signal=int(signal), grace_ms=U.seconds_to_ms(grace, "grace", allow_none=False),
                                     escalate=1 if escalate else 0)
        report = N.pk_shutdown_report()
        check(N.pk_group_shutdown(self._h, ctypes.byref(opts), ctypes.byref(report)))
        return ShutdownReport(report.members_before, report.members_after, bool(report.drained),
                              bool(report.escalated), report.elapsed_us / 1e6)

    # close() (NativeHandle): free the group: SIGKILL the whole tree, reap,
    # remove the cgroup. Garbage collection does the same (kill-on-free).
    _free = "pk_group_free"
