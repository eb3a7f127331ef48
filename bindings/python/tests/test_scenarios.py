"""Drives tests/scenarios/scenarios.json (tests/scenarios/README.md) with the
public API: every scenario, every expect key; an unknown scenario kind or
expect key fails."""
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

import processkit_c as pk

from conftest import is_dead, start_time, wait_until


def _scenario_file():
    # run_tests.sh (and Bazel) say where it is; from a checkout it is
    # ../../../tests/scenarios/scenarios.json from this file.
    env = os.environ.get("PROCESSKIT_SCENARIOS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "tests" / "scenarios" / "scenarios.json"


DOC = json.loads(_scenario_file().read_text())
assert DOC["format"] == "processkit-scenarios" and DOC["version"] == 1
KINDS = {"run", "group", "pipeline", "start", "supervise", "retry"}
EXPECT_KEYS = {"outcome", "exit_code", "success", "stdout", "stderr", "stdout_lines", "stderr_lines",
               "stdout_lines_crlf_stripped", "elapsed_min_ms", "elapsed_max_ms", "ready", "runs", "restarts",
               "stop_reason", "file_lines", "file_text", "grandchild_alive_before_free",
               "grandchild_dead_after_free_max_ms"}


def _subst(value, tmp):
    if isinstance(value, str):
        return value.replace("{tmp}", tmp)
    if isinstance(value, list):
        return [_subst(v, tmp) for v in value]
    if isinstance(value, dict):
        return {_subst(k, tmp): _subst(v, tmp) for k, v in value.items()}
    return value


def _run(sc, seen):
    options = {}
    if "timeout_ms" in sc:
        options["timeout"] = sc["timeout_ms"] / 1000
    if sc.get("pty"):
        options["pty"] = True
    lines = {pk.Stream.STDOUT: [], pk.Stream.STDERR: []}
    if sc.get("stream_lines"):
        with pk.iter_lines(sc["argv"], **options) as stream:
            for line in stream:
                lines[line.stream].append(line.data.decode())
        seen["stdout_lines"], seen["stderr_lines"] = lines[pk.Stream.STDOUT], lines[pk.Stream.STDERR]
        return stream.result
    if "cancel_after_ms" in sc:
        with pk.CancelToken() as token:
            timer = threading.Timer(sc["cancel_after_ms"] / 1000, token.trigger)
            timer.start()
            try:
                return pk.run(sc["argv"], cancel=token, **options)
            finally:
                timer.cancel()
                timer.join()
    return pk.run(sc["argv"], **options)


def _group(sc, seen):
    ex = sc["expect"]
    g = pk.Group()
    try:
        child = g.spawn(sc["argv"])
        child.close()
        pid_file = Path(sc["pid_file"])
        assert wait_until(pid_file.exists, sc["pid_file_wait_max_ms"] / 1000), "no pid file"
        pid = int(pid_file.read_text().strip())
        started = start_time(pid)
        seen["grandchild_alive_before_free"] = started is not None and not is_dead(pid, started)
    finally:
        g.close()
    seen["grandchild_dead_after_free_max_ms"] = wait_until(
        lambda: is_dead(pid, started), ex["grandchild_dead_after_free_max_ms"] / 1000)


def _start(sc, seen):
    with pk.Loop() as loop:
        proc = loop.start(sc["argv"])
        try:
            proc.wait_for_line(sc["wait_for_line"], regex=True, timeout=sc["ready_timeout_ms"] / 1000)
            seen["ready"] = True
        except pk.NotReadyError:
            seen["ready"] = False
        assert sc["then"] == "cancel", f"unknown then {sc['then']!r}"
        proc.cancel()
        result = proc.wait(timeout=10)
        proc.close()
        return result


def _supervise(sc, seen):
    report = pk.supervise(sc["argv"], restart=sc["restart"], max_restarts=sc["max_restarts"],
                          backoff_initial=sc["backoff_initial_ms"] / 1000)
    seen["runs"], seen["restarts"] = report.runs, report.restarts
    seen["stop_reason"] = report.stop_reason.name.lower()


def _retry(sc, seen):
    return pk.run(sc["argv"], retry=pk.Retry(max_attempts=sc["max_attempts"],
                                             initial_delay=sc["initial_delay_ms"] / 1000))


def _check(sc, result, seen, elapsed_ms):
    for key, want in sc["expect"].items():
        if key not in EXPECT_KEYS:
            pytest.fail(f"{sc['name']}: unknown expect key {key!r}")
        if key == "outcome":
            assert result.outcome.name.lower() == want
        elif key == "exit_code":
            assert result.returncode == want
        elif key == "success":
            assert result.success is want
        elif key in ("stdout", "stderr"):
            assert getattr(result, key) == want.encode()
        elif key == "stdout_lines_crlf_stripped":
            assert [line for line in result.stdout.decode().replace("\r", "").split("\n") if line] == want
        elif key == "elapsed_min_ms":
            assert elapsed_ms >= want
        elif key == "elapsed_max_ms":
            assert elapsed_ms <= want
        elif key == "file_lines":
            for path, n in want.items():
                assert len(Path(path).read_text().splitlines()) == n, path
        elif key == "file_text":
            for path, text in want.items():
                assert Path(path).read_text() == text, path
        elif key == "grandchild_dead_after_free_max_ms":
            assert seen[key] is True, "the grandchild outlived its group"
        else:  # seen by the driver: lines, ready, runs, restarts, stop_reason, grandchild_alive_before_free
            assert key in seen, f"{sc['name']}: the driver did not observe {key!r}"
            assert seen[key] == want, key


DRIVERS = {"run": _run, "group": _group, "pipeline": None, "start": _start, "supervise": _supervise,
           "retry": _retry}


@pytest.mark.parametrize("scenario", DOC["scenarios"], ids=[s["name"] for s in DOC["scenarios"]])
def test_scenario(scenario):
    if scenario["kind"] not in KINDS:
        pytest.fail(f"{scenario['name']}: unknown kind {scenario['kind']!r}")
    tmp = tempfile.mkdtemp(prefix="pk-py-scenario-")
    try:
        sc = _subst(scenario, tmp)
        seen = {}
        begin = time.monotonic()
        if sc["kind"] == "pipeline":
            result = pk.pipeline(*sc["stages"])
        else:
            result = DRIVERS[sc["kind"]](sc, seen)
        elapsed_ms = (time.monotonic() - begin) * 1000
        _check(sc, result, seen, elapsed_ms)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_every_scenario_kind_is_driven():
    assert {s["kind"] for s in DOC["scenarios"]} <= KINDS
    assert set(DRIVERS) == KINDS
