"""The runner seam and the test doubles (docs/replay.md)."""
import json
import os
import subprocess

import pytest

import processkit_c as pk
from processkit_c import ProcessRunner, RecordReplayRunner, Reply, Runner, ScriptedRunner

pytest_plugins = ["processkit_c.testing"]


def head(runner: Runner) -> str:
    """Code under test: it takes a runner and never knows which."""
    return runner.run(["git", "rev-parse", "HEAD"], check=True, cwd="/src").stdout.decode().strip()


def test_both_runners_meet_the_protocol():
    assert isinstance(ProcessRunner(), Runner)
    assert isinstance(ScriptedRunner(), Runner)
    assert isinstance(RecordReplayRunner.__new__(RecordReplayRunner), Runner)


def test_scripted_answers_and_records_invocations():
    runner = ScriptedRunner().expect(["git", "rev-parse"], Reply.ok("3f9c2e1\n"))
    assert head(runner) == "3f9c2e1"
    call = runner.invocations[0]
    assert call.argv == ("git", "rev-parse", "HEAD") and call.cwd == "/src"


def test_scripted_failure_raises_the_real_error_types():
    runner = ScriptedRunner().expect(["git"], Reply.fail(128, "fatal: no such ref\n"))
    with pytest.raises(subprocess.CalledProcessError) as info:
        head(runner)
    err = info.value
    assert isinstance(err, pk.CommandFailedError)
    assert err.returncode == 128 and err.stderr == b"fatal: no such ref\n"
    assert "fatal: no such ref" in str(err)
    r = runner.run(["git", "x"])
    assert r.returncode == 128 and not r.success and r.outcome == pk.Outcome.EXITED


def test_scripted_timeout_signalled_cancelled():
    runner = (ScriptedRunner().expect(["slow"], Reply.timeout()).expect(["crash"], Reply.signalled(9))
              .expect(["stop"], Reply.cancelled()))
    assert runner.run(["slow"]).timed_out
    with pytest.raises(subprocess.TimeoutExpired):
        runner.run(["slow"], check=True)
    crashed = runner.run(["crash"])
    assert crashed.outcome == pk.Outcome.SIGNALLED and crashed.returncode == -9
    with pytest.raises(pk.CancelledRunError):
        runner.run(["stop"], check=True)


def test_scripted_unexpected_argv_is_named():
    runner = ScriptedRunner().expect(["git", "status"], Reply.ok())
    with pytest.raises(pk.UnexpectedCommandError) as info:
        runner.run(["git", "push", "--force"])
    assert "['git', 'push', '--force']" in str(info.value)
    assert info.value.argv == ["git", "push", "--force"]


def test_scripted_times_and_fallback():
    fallback = ScriptedRunner().expect([], Reply.ok("fallback"))
    runner = ScriptedRunner(fallback=fallback).expect(["a"], Reply.ok("first"), times=1)
    assert runner.run(["a"]).stdout == b"first"
    assert runner.run(["a"]).stdout == b"fallback"


def test_fixture(scripted_runner):
    scripted_runner.expect(["make"], Reply.ok("built\n"))
    assert scripted_runner.run(["make", "all"]).stdout == b"built\n"


def test_record_then_replay_without_spawning(workdir):
    cassette = os.path.join(workdir, "cassette.json")
    marker = os.path.join(workdir, "side-effect")
    argv = ["sh", "-c", f"echo ran >> {marker}; echo out; echo err >&2; exit 3"]
    with RecordReplayRunner(cassette, "record") as recorder:
        first = recorder.run(argv, cwd=workdir)
        recorder.run(["printf", "second"])
    assert first.returncode == 3 and open(marker).read() == "ran\n"
    doc = json.load(open(cassette))
    assert doc["format"] == "processkit-cassette" and doc["version"] == 1
    entry = doc["interactions"][0]
    assert entry["argv"] == argv and entry["cwd"] == workdir and entry["stdin"] is None
    assert entry["result"]["outcome"] == "exited" and entry["result"]["exit_code"] == 3
    assert entry["result"]["stdout"] == "out\n" and entry["result"]["stderr"] == "err\n"

    replay = RecordReplayRunner(cassette)  # replay is the default mode
    again = replay.run(argv, cwd=workdir)
    assert open(marker).read() == "ran\n"  # not run again: the side effect happened once
    assert (again.returncode, again.stdout, again.stderr, again.outcome) == (3, b"out\n", b"err\n", pk.Outcome.EXITED)
    with pytest.raises(pk.CommandFailedError):
        again.check()
    assert replay.run(["printf", "second"]).stdout == b"second"
    with pytest.raises(pk.UnexpectedCommandError, match="printf"):
        replay.run(["printf", "second"])  # recorded once, answered once
    with pytest.raises(pk.UnexpectedCommandError):
        replay.run(argv, cwd="/elsewhere")


def test_replay_base64_and_ignores_unknown_fields(workdir, cassette):
    path = os.path.join(workdir, "binary.json")
    with open(path, "w") as f:
        json.dump({"format": "processkit-cassette", "version": 1, "interactions": [
            {"argv": ["cat", "blob"], "cwd": None, "stdin": None, "later_field": 1,
             "result": {"outcome": "exited", "exit_code": 0, "signal": 0, "stdout_base64": "/wAB",
                        "stderr": "", "duration_ms": 2}},
            {"argv": ["sleep", "9"], "cwd": None, "stdin": None,
             "result": {"outcome": "timed_out", "exit_code": -1, "signal": 15, "stdout": "", "stderr": ""}}]}, f)
    runner = cassette(path, mode="replay")
    r = runner.run(["cat", "blob"], cwd="/any")
    assert r.stdout == b"\xff\x00\x01" and r.success
    assert runner.run(["sleep", "9"]).timed_out


def test_record_writes_base64_for_bytes_that_are_not_utf8(workdir):
    path = os.path.join(workdir, "c.json")
    with RecordReplayRunner(path, "record") as recorder:
        recorder.run(["printf", "\\377\\001"], input="x")
    result = json.load(open(path))["interactions"][0]
    assert result["stdin"] == "x"
    assert result["result"]["stdout_base64"] == "/wE=" and "stdout" not in result["result"]
    assert RecordReplayRunner(path).run(["printf", "\\377\\001"]).stdout == b"\xff\x01"


def test_bad_cassette_is_refused(workdir):
    path = os.path.join(workdir, "bad.json")
    with open(path, "w") as f:
        json.dump({"format": "something-else", "version": 1, "interactions": []}, f)
    with pytest.raises(pk.CassetteError, match="processkit-cassette"):
        RecordReplayRunner(path)
