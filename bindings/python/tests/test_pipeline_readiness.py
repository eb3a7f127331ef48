"""Pipelines and readiness probes (the same scenarios in every language)."""
import os
import signal
import socket
import sys
import threading
import time

import pytest

import processkit_c as pk
from processkit_c import _native as N

from conftest import is_dead, start_time


# ------------------------------------------------------------- pipelines

def test_three_stage_pipeline():
    r = pk.pipeline(["printf", "b\\na\\n"], ["sort"], ["tr", "a-z", "A-Z"], timeout=30)
    assert r.stdout == b"A\nB\n"
    assert r.success and r.returncode == 0 and r.outcome == pk.Outcome.EXITED
    assert r.failed_stage is None
    assert len(r.stages) == 3 and all(s.success and s.returncode == 0 for s in r.stages)
    assert [s.args for s in r.stages] == [("printf", "b\\na\\n"), ("sort",), ("tr", "a-z", "A-Z")]
    assert len({s.pid for s in r.stages}) == 3
    assert r.mechanism == "cgroup-v2"
    assert r.check() is r


def test_failing_middle_stage_is_attributed():
    stages = (["printf", "x\\n"], ["sh", "-c", "cat >/dev/null; exit 4"], ["cat"])
    r = pk.pipeline(*stages, timeout=30)
    assert r.failed_stage == 1
    assert r.returncode == 4 and not r.success
    assert [s.returncode for s in r.stages] == [0, 4, 0]
    assert r.pid == r.stages[1].pid
    with pytest.raises(pk.CommandFailedError) as err:
        r.check()
    assert err.value.result is r and "stage 2 of 3" in err.value.message
    with pytest.raises(pk.CommandFailedError):
        pk.pipeline(*stages, check=True)

    # An unchecked stage's failure does not fail the pipeline.
    r = pk.pipeline(*stages, unchecked=[1])
    assert r.success and r.failed_stage is None and r.stages[1].returncode == 4
    r = pk.Pipeline().add(stages[0]).add(stages[1], unchecked=True).add(stages[2]).run(check=True)
    assert r.success and len(r.stages) == 3


def test_sigpipe_is_not_a_failure_unless_asked():
    r = pk.pipeline(["yes"], ["head", "-n", "2"], timeout=30)
    assert r.stdout == b"y\ny\n" and r.success and r.failed_stage is None
    assert r.stages[0].signal == signal.SIGPIPE and r.stages[0].returncode == -signal.SIGPIPE
    r = pk.pipeline(["yes"], ["head", "-n", "2"], timeout=30, sigpipe_fails=True)
    assert r.failed_stage == 0 and not r.success


def test_pipeline_input_env_and_per_stage_options(workdir):
    r = pk.Pipeline(timeout=30) \
        .add(["cat"], input=b"one\ntwo\n") \
        .add(["sh", "-c", 'grep "$WANT"'], env={"WANT": "two", "PATH": os.environ["PATH"]}) \
        .add(["sh", "-c", "cat; pwd"], cwd=workdir) \
        .run()
    assert r.stdout == f"two\n{workdir}\n".encode()
    r = pk.pipeline(["cat"], ["sh", "-c", "cat; exit 3"], input="hi\n", ok_codes=[0, 3])
    assert r.success and r.stdout == b"hi\n"


def test_pipeline_timeout_tears_every_stage_down():
    started = time.monotonic()
    r = pk.pipeline(["sleep", "30"], ["cat"], timeout=0.3, grace=0.2)
    assert r.timed_out and not r.success
    assert time.monotonic() - started < 10
    with pytest.raises(pk.TimeoutExpiredError):
        r.check()


def test_pipeline_cancel_after_the_first_stage_ended():
    with pk.CancelToken() as token:
        timer = threading.Timer(0.3, token.trigger)
        timer.start()
        started = time.monotonic()
        r = pk.pipeline(["true"], ["sleep", "30"], cancel=token)
        timer.join()
    assert r.cancelled and time.monotonic() - started < 10
    with pytest.raises(pk.CancelledRunError):
        r.check()


def test_pipeline_errors():
    with pytest.raises(pk.InvalidArgumentError):
        pk.pipeline()
    with pytest.raises(pk.NotFoundError):
        pk.pipeline(["true"], ["no-such-program-processkit"])
    with pytest.raises(TypeError):
        pk.Pipeline().add(["true"], timeout=1)


# ------------------------------------------------------------- readiness

def test_wait_for_line_when_the_child_gets_ready():
    with pk.Loop() as loop:
        proc = loop.start(["sh", "-c", "echo starting; sleep 0.3; echo ready; sleep 30"])
        none = proc.readiness()
        assert none.kind == pk.ReadyKind.NONE and none.outcome == pk.ReadyOutcome.PENDING and none.last_line == b""
        started = time.monotonic()
        proc.wait_for_line("ready", timeout=10)
        assert 0.2 < time.monotonic() - started < 5
        assert not proc.done
        r = proc.readiness()
        assert r.kind == pk.ReadyKind.LINE and r.outcome == pk.ReadyOutcome.MET and r.stream is None
        assert r.last_line == b"ready" and r.lines_seen == 2 and 0.2 < r.waited < 5
        proc.wait_for_line(r"^re+ady$", regex=True, stream="stdout", timeout=0)  # seen before: counts
        proc.wait_for_line(b"starting", timeout=0)
        proc.cancel()
        r = proc.wait(timeout=30)
        assert r.cancelled and r.stdout == b"starting\nready\n"  # probed lines still reach the capture


def test_wait_for_line_not_ready_leaves_the_child_running():
    with pk.Loop() as loop:
        proc = loop.start(["sh", "-c", "echo starting; sleep 30"])
        started = time.monotonic()
        with pytest.raises(pk.NotReadyError) as err:
            proc.wait_for_line("ready", timeout=0.6)  # one native wait, however long
        waited = time.monotonic() - started
        e = err.value
        assert e.code == N.PK_ERR_NOT_READY == -17 and e.name == "PK_ERR_NOT_READY"
        assert 0.5 < waited < 5
        assert "not ready" in e.message and "starting" in e.message and "'ready'" in e.message
        ms = int(e.message.split(" after ")[1].split(" ms")[0])
        assert 600 <= ms < 5000, e.message  # the time the library really waited, all of the 600 ms timeout
        # ... and so does the data.
        r = e.readiness
        assert r == proc.readiness()
        assert r.kind == pk.ReadyKind.LINE and r.outcome == pk.ReadyOutcome.TIMED_OUT
        assert r.stream is None and r.lines_seen == 1 and r.last_line == b"starting"
        assert 0.55 < r.waited < 5 and r.port == 0
        with pytest.raises(pk.NotReadyError) as err:
            proc.wait_for_line("starting", stream="stderr", timeout=0.1)
        assert err.value.readiness.stream == pk.Stream.STDERR
        assert err.value.readiness.outcome == pk.ReadyOutcome.TIMED_OUT
        # The probe did not kill it.
        assert not proc.done and not is_dead(proc.pid, start_time(proc.pid))
        proc.cancel()
        assert proc.wait(timeout=30).cancelled


def test_wait_for_line_when_the_run_ends_first():
    with pk.Loop() as loop:
        proc = loop.start(["sh", "-c", "echo bye"])
        with pytest.raises(pk.NotReadyError) as err:
            proc.wait_for_line("ready", timeout=10)
        assert "the run ended" in err.value.message and "bye" in err.value.message
        r = err.value.readiness
        assert r.outcome == pk.ReadyOutcome.RUN_ENDED and r.last_line == b"bye"
        assert proc.wait(timeout=30).returncode == 0
        with pytest.raises(pk.InvalidArgumentError) as err:
            loop.start(["sleep", "30"]).wait_for_line("(", regex=True, timeout=1)
        assert err.value.readiness.outcome == pk.ReadyOutcome.FAILED
        with pytest.raises(pk.InvalidArgumentError):
            proc.wait_for_line("x", stream="stdin")


SERVER = """
import socket, sys, time
time.sleep(0.3)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("listening", flush=True)
time.sleep(30)
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_wait_for_port():
    port = _free_port()
    with pk.Loop() as loop:
        proc = loop.start([sys.executable, "-c", SERVER, str(port)])
        proc.wait_for_port(port, timeout=20)
        assert not proc.done
        r = proc.readiness()
        assert r.kind == pk.ReadyKind.PORT and r.outcome == pk.ReadyOutcome.MET and r.port == port
        proc.cancel()
        assert proc.wait(timeout=30).cancelled

        idle = loop.start(["sleep", "30"])
        with pytest.raises(pk.NotReadyError) as err:
            idle.wait_for_port(_free_port(), timeout=0.3)
        assert "127.0.0.1:" in err.value.message
        r = err.value.readiness
        assert r.kind == pk.ReadyKind.PORT and r.outcome == pk.ReadyOutcome.TIMED_OUT and r.last_line == b""
        assert not idle.done
        idle.cancel()
        idle.wait(timeout=30)
        with pytest.raises(pk.InvalidArgumentError):
            idle.wait_for_port(0)
