"""Pipelines: `a | b | c` without a shell, every stage in one private group.

    r = pipeline(["printf", "b\\na\\n"], ["sort"], ["tr", "a-z", "A-Z"], timeout=10)
    r.stdout, r.failed_stage               # b"A\\nB\\n", None

    r = Pipeline(timeout=10).add(["producer"]).add(["filter"], unchecked=True).add(["consumer"]).run()
    [s.returncode for s in r.stages]

The result carries the last stage's output; its outcome, exit code and signal
are those of the first stage that failed (pipefail), or of the last stage. A
producer killed by SIGPIPE (its reader ended early) does not count as failed
unless sigpipe_fails=True.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from . import _native as N
from . import _util as U
from ._util import Arg, Args
from .errors import check as _check
from .errors import error_for
from .run import CancelToken, Result, _Command

__all__ = ["Pipeline", "PipelineResult", "StageResult", "pipeline"]


@dataclass(frozen=True)
class StageResult:
    """How one stage of a pipeline ended (its output went to the next stage;
    only the last stage's output is in the PipelineResult)."""

    args: Tuple[str, ...]
    returncode: Optional[int]  # the exit code; -signal if a signal ended it; None if neither
    outcome: N.Outcome
    signal: int
    pid: int
    success: bool  # exited with an accepted code
    duration: float  # seconds
    stdout_bytes: int  # bytes of captured stdout (0 for a stage writing into the pipe)
    stderr_bytes: int


@dataclass(frozen=True)
class PipelineResult(Result):
    """A finished pipeline: a Result (the last stage's stdout and stderr; the
    outcome, returncode and signal of the stage it is attributed to) plus
    every stage's StageResult and the index of the stage that failed.
    `args` is a tuple with each stage's args."""

    stages: Tuple[StageResult, ...] = ()
    failed_stage: Optional[int] = None  # the first failing stage (pipefail), None if none failed


def _stage_result(info: N.pk_run_info, args: Iterable[str]) -> StageResult:
    outcome = N.Outcome(info.outcome)
    if outcome == N.Outcome.EXITED:
        returncode = info.exit_code
    elif info.signal:
        returncode = -info.signal
    else:
        returncode = None
    return StageResult(
        args=tuple(args),
        returncode=returncode,
        outcome=outcome,
        signal=U.signal_of(info.signal),
        pid=info.pid,
        success=bool(info.success),
        duration=info.duration_us / 1e6,
        stdout_bytes=info.stdout_bytes,
        stderr_bytes=info.stderr_bytes,
    )


class Pipeline:
    """A pipeline built stage by stage; run() may be called more than once.

    Pipeline-wide: timeout (seconds; then timeout_signal, default SIGTERM, to
    every stage's tree, and SIGKILL after grace, default 2 s), sigpipe_fails,
    cancel (a CancelToken)."""

    def __init__(self, stages: Iterable[Args] = (), *, timeout: Optional[float] = None,
                 grace: Optional[float] = None, timeout_signal: int = 0, sigpipe_fails: bool = False,
                 cancel: Optional[CancelToken] = None) -> None:
        self._stages: List[Tuple[List[Arg], bool, Dict[str, Any]]] = []  # (args, unchecked, options)
        self.timeout = timeout
        self.grace = grace
        self.timeout_signal = timeout_signal
        self.sigpipe_fails = sigpipe_fails
        self.cancel = cancel
        for args in stages:
            self.add(args)

    def add(self, args: Args, *, unchecked: bool = False, **options: Any) -> Pipeline:
        """Append a stage: args (an argv sequence, or a str/bytes/path: one
        program with no arguments) plus run()'s per-command options (env, cwd,
        stderr, ok_codes, input or stdin for the first stage, stdout for the
        last, on_line...). The stage's stdout feeds the next stage's stdin.
        unchecked=True: this stage's failure never fails the pipeline.
        Returns self."""
        for key in ("timeout", "grace", "cancel"):
            if key in options:
                raise TypeError(f"{key} is pipeline-wide: pass it to Pipeline() or pipeline()")
        self._stages.append((U.argv(args), bool(unchecked), options))
        return self

    def __len__(self) -> int:
        return len(self._stages)

    def run(self, *, check: bool = False) -> PipelineResult:
        """Run every stage and wait for the end. A failing stage is data
        (result.failed_stage, result.stages) unless check=True, which raises
        the library's error with `.result`."""
        commands = []
        handle = ctypes.POINTER(N.pk_pipeline)()
        _check(N.pk_pipeline_new(ctypes.byref(handle)))
        try:
            for args, unchecked, options in self._stages:
                cmd = _Command(args, **options)
                commands.append(cmd)
                _check(N.pk_pipeline_add(handle, cmd.handle, N.StageFlag.UNCHECKED if unchecked else 0))
            if self.sigpipe_fails:
                _check(N.pk_pipeline_flags(handle, N.PipelineFlag.SIGPIPE_FAILS))
            if self.timeout is not None:
                ms = max(1, U.seconds_to_ms(self.timeout, "timeout"))
                grace_ms = U.seconds_to_ms(self.grace if self.grace is not None else 2.0, "grace")
                _check(N.pk_pipeline_timeout(handle, ms, int(self.timeout_signal or 0), grace_ms))
            if self.cancel is not None:
                _check(N.pk_pipeline_cancel_on(handle, self.cancel.handle))
            res = ctypes.POINTER(N.pk_result)()
            rc = N.pk_pipeline_run(handle, ctypes.byref(res))
            if rc < 0:
                raise _run_error(rc, commands)
            for cmd in commands:
                err = cmd.callback_error
                if err is not None:
                    N.pk_result_free(res)
                    raise err
            try:
                result = self._result(res, commands, self.timeout)
            finally:
                N.pk_result_free(res)
        finally:
            for cmd in commands:
                cmd.close()
            N.pk_pipeline_free(handle)
        if check:
            result.check()
        return result

    @staticmethod
    def _result(res: ctypes._Pointer[N.pk_result], commands: Sequence[_Command],
                timeout: Optional[float]) -> PipelineResult:
        info = N.pk_run_info()
        _check(N.pk_result_info(res, ctypes.byref(info)))
        stages = []
        for i in range(info.stage_count):
            stage = N.pk_run_info()
            _check(N.pk_result_stage_info(res, i, ctypes.byref(stage)))
            stages.append(_stage_result(stage, commands[i].args))
        return PipelineResult._from_handle(
            res, tuple(c.args for c in commands),
            stages=tuple(stages),
            failed_stage=info.failed_stage if info.failed_stage >= 0 else None,
            timeout=timeout,
        )


def _run_error(rc: int, commands: Sequence[_Command]) -> Exception:
    """pk_pipeline_run's error; a program not found (or not executable) is
    the filename of the NotFoundError (PermissionDeniedError): the first
    stage whose program the library's message names."""
    err = error_for(rc)
    if isinstance(err, OSError):
        for cmd in commands:
            if cmd.args and cmd.args[0] in err.message:
                err.filename = cmd.args[0]
                break
    return err


def pipeline(*stages: Args, check: bool = False, input: Union[str, bytes, None] = None,
             timeout: Optional[float] = None, grace: Optional[float] = None, timeout_signal: int = 0,
             sigpipe_fails: bool = False, cancel: Optional[CancelToken] = None, unchecked: Iterable[int] = (),
             **options: Any) -> PipelineResult:
    """Run `stages[0] | stages[1] | ...` (each an args list) in one private
    group and return a PipelineResult with the last stage's output captured.

    input feeds the first stage; unchecked lists stage indexes whose failure
    never fails the pipeline; timeout/grace/timeout_signal, sigpipe_fails and
    cancel are pipeline-wide; any other keyword (env, cwd, stderr...) is
    run()'s and applies to every stage. check=True raises the library's error
    (CommandFailedError naming the failed stage...) instead of returning a
    failed result."""
    unchecked = set(unchecked)
    p = Pipeline(timeout=timeout, grace=grace, timeout_signal=timeout_signal, sigpipe_fails=sigpipe_fails,
                 cancel=cancel)
    for i, args in enumerate(stages):
        extra = dict(options)
        if i == 0 and input is not None:
            extra["input"] = input
        p.add(args, unchecked=i in unchecked, **extra)
    return p.run(check=check)
