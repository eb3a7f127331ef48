"""processkit_c: Python binding of processkit (libprocesskit.so.1) via ctypes.

    import processkit_c as pk

    with pk.Group() as g:                      # kill-on-free: close() kills the tree
        child = g.spawn(["sh", "-c", "sleep 30 & wait"])
        print(g.mechanism)                     # "cgroup-v2"

    r = pk.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=5)
    r.returncode, r.stdout, r.stderr          # 3, b"out\\n", b"err\\n"
    pk.run(["false"], check=True)              # raises pk.CommandFailedError

    result = await pk.aio.run(["echo", "hi"])  # asyncio: runs on the event loop

    r = pk.pipeline(["printf", "b\\na\\n"], ["sort"], ["tr", "a-z", "A-Z"])
    r.stdout, r.failed_stage, r.stages         # b"A\\nB\\n", None, (StageResult, ...)

    with pk.Loop() as loop:                    # readiness: the server is left running
        server = loop.start(["my-server"])
        server.wait_for_line("listening", timeout=10)   # or wait_for_port(8080, timeout=10)

The library is, in order: the copy pip built into this package
(processkit_c/libprocesskit.so.1), $PROCESSKIT_LIBRARY (a path), the system's
libprocesskit.so.1 (see processkit_c._loader; library_path() says which).
processkit_c._native is the generated low-level layer (every function,
struct, enum and constant of the ABI).
"""
from . import _loader, _native

from . import aio
from ._native import Backend, ExitKind, Feature, Mechanism, Outcome, ReadyKind, ReadyOutcome, Stream
from .aio import AsyncLoop
from .errors import (
    CancelledRunError,
    CommandFailedError,
    HandleError,
    InvalidArgumentError,
    LimitError,
    NoProcessError,
    NotFoundError,
    NotReadyError,
    OSFailureError,
    OutOfMemoryError,
    OutputOverflowError,
    PermissionDeniedError,
    ProcessKitError,
    StateError,
    TimeoutExpiredError,
    UnavailableError,
    UnsupportedError,
    VersionError,
    last_error,
)
from .group import Child, Containment, ExitStatus, Group, GroupStats, ShutdownReport, probe
from .pipeline import Pipeline, PipelineResult, StageResult, pipeline
from .run import (DEVNULL, PIPE, STDOUT, CancelToken, Line, LineStream, Loop, Process, Readiness, Result, Retry,
                  iter_lines, run)
from .runner import (CassetteError, Invocation, ProcessRunner, RecordReplayRunner, Reply, Runner, ScriptedRunner,
                     UnexpectedCommandError)
from .supervise import Restart, StormAction, SuperviseEvent, SuperviseReport, SupervisionEvent, supervise

__all__ = [
    "AsyncLoop", "Backend", "CancelToken", "CancelledRunError", "Child", "CommandFailedError", "Containment",
    "DEVNULL", "ExitKind", "ExitStatus", "Feature", "Group", "GroupStats", "HandleError", "InvalidArgumentError",
    "LimitError", "Loop", "Mechanism", "NoProcessError", "NotFoundError", "NotReadyError", "OSFailureError",
    "OutOfMemoryError", "Outcome", "OutputOverflowError", "PIPE", "PermissionDeniedError", "Pipeline",
    "PipelineResult", "Process", "ProcessKitError", "Readiness", "ReadyKind", "ReadyOutcome", "Result", "STDOUT",
    "ShutdownReport", "StageResult",
    "StateError", "Stream", "TimeoutExpiredError", "UnavailableError",
    "UnsupportedError", "VersionError", "aio", "last_error", "library_path", "library_version", "pipeline", "probe",
    "run", "run_async", "Line", "LineStream", "Retry", "iter_lines", "CassetteError", "Invocation", "ProcessRunner",
    "RecordReplayRunner", "Reply", "Runner", "ScriptedRunner", "UnexpectedCommandError", "Restart", "StormAction",
    "SuperviseEvent", "SuperviseReport", "SupervisionEvent", "supervise",
]

run_async = aio.run


def library_version() -> str:
    """The loaded library's version string, e.g. "1.0.0"."""
    version: bytes = _native.pk_version_string()
    return version.decode()


def library_path() -> str:
    """Where the loaded library came from: the package's own copy (a path), the
    $PROCESSKIT_LIBRARY path, or the name the system resolved."""
    assert _loader.path is not None
    return _loader.path
