"""Test doubles behind the seam real runs use (docs/replay.md).

Code that runs commands takes a Runner and calls runner.run(args, ...); it
gets a Result either way, so result.check(), .success and the exceptions
(CommandFailedError is a subprocess.CalledProcessError...) apply unchanged:

    def head(runner: Runner = ProcessRunner()) -> str:
        return runner.run(["git", "rev-parse", "HEAD"], check=True).stdout.decode().strip()

    scripted = ScriptedRunner().expect(["git", "rev-parse"], Reply.ok("3f9c2e1\\n"))
    assert head(scripted) == "3f9c2e1"

RecordReplayRunner records real runs into a cassette (the JSON format of
docs/replay.md, the same in every language) and replays them without
spawning.
"""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple, Union, runtime_checkable

from . import _native as N
from . import _util as U
from ._util import Args
from .errors import ProcessKitError
from .run import Result, run

__all__ = ["Runner", "ProcessRunner", "ScriptedRunner", "Reply", "Invocation", "RecordReplayRunner",
           "UnexpectedCommandError", "CassetteError", "CASSETTE_FORMAT", "CASSETTE_VERSION"]

CASSETTE_FORMAT = "processkit-cassette"
CASSETTE_VERSION = 1
_OUTCOMES = {o.name.lower(): o for o in N.Outcome}


@runtime_checkable
class Runner(Protocol):
    """The seam: run a command to the end and give back its Result. The
    keywords are processkit_c.run()'s (check, cwd, env, input, timeout...)."""

    def run(self, args: Args, *, check: bool = False, **options: Any) -> Result: ...


class ProcessRunner:
    """The real runner: processkit_c.run() (a private group per run)."""

    def run(self, args: Args, *, check: bool = False, **options: Any) -> Result:
        return run(args, check=check, **options)


class UnexpectedCommandError(AssertionError):
    """A double was asked for a command it holds no answer for; the message
    names the argv in full."""

    def __init__(self, argv: Sequence[str], why: str) -> None:
        super().__init__(f"{why}: {list(argv)!r}")
        self.argv = list(argv)


class CassetteError(ValueError):
    """A cassette file that is not processkit-cassette version 1."""


def _result(argv: Sequence[str], outcome: N.Outcome, exit_code: int, signal: int, stdout: bytes, stderr: bytes,
            duration: float, mechanism: str, ok_codes: Optional[Sequence[int]] = None,
            timeout: Optional[float] = None) -> Result:
    """A Result as a real run would give, with the error check() raises
    worded as the library words it."""
    program = argv[0] if argv else ""
    ok = set(ok_codes) if ok_codes is not None else {0}
    last = stderr.decode("utf-8", "replace").rstrip("\n").rpartition("\n")[2]
    if outcome == N.Outcome.EXITED:
        success = exit_code in ok
        code, message = (0, "") if success else (
            N.PK_ERR_FAILED, f"{program}: exited with code {exit_code}" + (f": {last}" if last else ""))
    elif outcome == N.Outcome.TIMED_OUT:
        success, code, message = False, N.PK_ERR_TIMEOUT, f"{program}: timed out"
    elif outcome == N.Outcome.CANCELLED:
        success, code, message = False, N.PK_ERR_CANCELLED, f"{program}: cancelled"
    else:
        success, code, message = False, N.PK_ERR_FAILED, f"{program}: killed by signal {signal}"
    if outcome == N.Outcome.EXITED:
        returncode: Optional[int] = exit_code
    else:
        returncode = -signal if signal else None
    return Result(args=tuple(argv), returncode=returncode, stdout=stdout, stderr=stderr, outcome=outcome,
                  mechanism=mechanism, duration=duration, pid=0, signal=U.signal_of(signal), success=success,
                  error_code=int(code), error_message=message, timeout=timeout)


@dataclass(frozen=True)
class Reply:
    """A canned answer of a ScriptedRunner."""

    outcome: N.Outcome = N.Outcome.EXITED
    exit_code: int = 0
    signal: int = 0
    stdout: bytes = b""
    stderr: bytes = b""

    @staticmethod
    def _bytes(data: Union[str, bytes]) -> bytes:
        return data.encode() if isinstance(data, str) else bytes(data)

    @classmethod
    def ok(cls, stdout: Union[str, bytes] = b"", stderr: Union[str, bytes] = b"") -> Reply:
        return cls(stdout=cls._bytes(stdout), stderr=cls._bytes(stderr))

    @classmethod
    def fail(cls, exit_code: int, stderr: Union[str, bytes] = b"", stdout: Union[str, bytes] = b"") -> Reply:
        return cls(exit_code=int(exit_code), stdout=cls._bytes(stdout), stderr=cls._bytes(stderr))

    @classmethod
    def timeout(cls, stdout: Union[str, bytes] = b"", stderr: Union[str, bytes] = b"") -> Reply:
        return cls(outcome=N.Outcome.TIMED_OUT, exit_code=-1, signal=15, stdout=cls._bytes(stdout),
                   stderr=cls._bytes(stderr))

    @classmethod
    def signalled(cls, signal: int) -> Reply:
        return cls(outcome=N.Outcome.SIGNALLED, exit_code=-1, signal=int(signal))

    @classmethod
    def cancelled(cls) -> Reply:
        return cls(outcome=N.Outcome.CANCELLED, exit_code=-1, signal=9)


@dataclass(frozen=True)
class Invocation:
    """One call a double answered: what was asked to run."""

    argv: Tuple[str, ...]
    cwd: Optional[str]
    env: Optional[Dict[str, str]]  # the environment given (env=), None when inherited
    stdin: Optional[bytes]  # input= bytes, else None
    options: Dict[str, Any] = field(default_factory=dict)  # every other keyword


def _invocation(args: Args, options: Mapping[str, Any]) -> Invocation:
    argv = tuple(U.fsdecode(a) for a in U.argv(args))
    rest = dict(options)
    cwd = rest.pop("cwd", None)
    env = rest.pop("env", None)
    data = rest.pop("input", None)
    return Invocation(
        argv=argv,
        cwd=None if cwd is None else U.fsdecode(cwd),
        env=None if env is None else {U.fsdecode(k): U.fsdecode(v) for k, v in env.items()},
        stdin=None if data is None else (data.encode() if isinstance(data, str) else bytes(data)),
        options=rest,
    )


def _finish(result: Result, check: bool) -> Result:
    return result.check() if check else result


class ScriptedRunner:
    """Answers from expectations: the first whose argv prefix matches the
    call's argv gives its Reply (repeatedly, unless times= limits it). An
    argv nothing matches raises UnexpectedCommandError naming it, unless a
    fallback runner was given. Every call is kept in .invocations."""

    def __init__(self, fallback: Optional[Runner] = None) -> None:
        self._expectations: List[List[Any]] = []  # [prefix, reply, times left or None]
        self.fallback = fallback
        self.invocations: List[Invocation] = []

    def expect(self, prefix: Args, reply: Reply, *, times: Optional[int] = None) -> ScriptedRunner:
        self._expectations.append([tuple(U.fsdecode(a) for a in U.argv(prefix)), reply, times])
        return self

    def run(self, args: Args, *, check: bool = False, **options: Any) -> Result:
        call = _invocation(args, options)
        self.invocations.append(call)
        for entry in self._expectations:
            prefix, reply, left = entry
            if call.argv[:len(prefix)] == prefix and (left is None or left > 0):
                if left is not None:
                    entry[2] = left - 1
                return _finish(_result(call.argv, reply.outcome, reply.exit_code, reply.signal, reply.stdout,
                                       reply.stderr, 0.0, "scripted", options.get("ok_codes"),
                                       options.get("timeout")), check)
        if self.fallback is not None:
            return self.fallback.run(args, check=check, **options)
        raise UnexpectedCommandError(call.argv, "ScriptedRunner: no expectation matches the command")


def _encode_output(name: str, data: bytes, into: Dict[str, Any]) -> None:
    try:
        into[name] = data.decode("utf-8")
    except UnicodeDecodeError:
        into[name + "_base64"] = base64.b64encode(data).decode("ascii")


def _decode_output(name: str, result: Mapping[str, Any]) -> bytes:
    if name + "_base64" in result:
        return base64.b64decode(result[name + "_base64"])
    text = result.get(name) or ""
    return str(text).encode("utf-8")


class RecordReplayRunner:
    """mode="record": runs through `inner` (the real runner by default) and
    appends every run to the cassette, written by close() (or leaving
    `with`). mode="replay": answers from the cassette file without
    spawning; a call is matched by argv (and by cwd when one was recorded),
    calls with the same argv in recorded order; a call it holds no answer
    for raises UnexpectedCommandError naming the argv."""

    def __init__(self, path: Union[str, "os.PathLike[str]"], mode: str = "replay",
                 inner: Optional[Runner] = None) -> None:
        if mode not in ("record", "replay"):
            raise ValueError(f"mode must be 'record' or 'replay', not {mode!r}")
        self.path = os.fspath(path)
        self.mode = mode
        self.inner: Runner = inner if inner is not None else ProcessRunner()
        self.interactions: List[Dict[str, Any]] = []
        self._used: List[bool] = []
        self.invocations: List[Invocation] = []
        if mode == "replay":
            self.interactions = self.load(self.path)
            self._used = [False] * len(self.interactions)

    @staticmethod
    def load(path: Union[str, "os.PathLike[str]"]) -> List[Dict[str, Any]]:
        """A cassette's interactions; CassetteError unless it is format
        processkit-cassette, version 1."""
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if not isinstance(doc, dict) or doc.get("format") != CASSETTE_FORMAT or doc.get("version") != CASSETTE_VERSION:
            raise CassetteError(f"{os.fspath(path)}: not a {CASSETTE_FORMAT} version {CASSETTE_VERSION} file")
        interactions = doc.get("interactions")
        if not isinstance(interactions, list):
            raise CassetteError(f"{os.fspath(path)}: 'interactions' is not a list")
        return interactions

    def run(self, args: Args, *, check: bool = False, **options: Any) -> Result:
        call = _invocation(args, options)
        self.invocations.append(call)
        if self.mode == "record":
            try:
                result = self.inner.run(args, **options)
            except ProcessKitError:
                raise  # a run that could not start is not a recordable result
            self._record(call, result)
            return _finish(result, check)
        for i, entry in enumerate(self.interactions):
            if self._used[i] or list(entry.get("argv", ())) != list(call.argv):
                continue
            if entry.get("cwd") is not None and entry.get("cwd") != call.cwd:
                continue
            self._used[i] = True
            res = entry.get("result", {})
            outcome = _OUTCOMES.get(str(res.get("outcome", "exited")))
            if outcome is None:
                raise CassetteError(f"{self.path}: unknown outcome {res.get('outcome')!r}")
            return _finish(_result(call.argv, outcome, int(res.get("exit_code", 0)), int(res.get("signal", 0)),
                                   _decode_output("stdout", res), _decode_output("stderr", res),
                                   float(res.get("duration_ms", 0)) / 1000, "replay", options.get("ok_codes"),
                                   options.get("timeout")), check)
        raise UnexpectedCommandError(call.argv, f"RecordReplayRunner: {self.path} holds no (more) answers for")

    def _record(self, call: Invocation, result: Result) -> None:
        out: Dict[str, Any] = {
            "outcome": result.outcome.name.lower(),
            "exit_code": result.returncode if result.outcome == N.Outcome.EXITED and result.returncode is not None
            else -1,
            "signal": int(result.signal),
        }
        _encode_output("stdout", result.stdout, out)
        _encode_output("stderr", result.stderr, out)
        out["duration_ms"] = round(result.duration * 1000)
        stdin: Optional[str] = None
        if call.stdin is not None:
            try:
                stdin = call.stdin.decode("utf-8")
            except UnicodeDecodeError:
                stdin = None
        self.interactions.append({"argv": list(call.argv), "cwd": call.cwd, "stdin": stdin, "result": out})

    def close(self) -> None:
        """Record mode: write the cassette (replay mode writes nothing)."""
        if self.mode == "record":
            doc = {"format": CASSETTE_FORMAT, "version": CASSETTE_VERSION, "interactions": self.interactions}
            with open(self.path, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=2)
                f.write("\n")

    def __enter__(self) -> RecordReplayRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
