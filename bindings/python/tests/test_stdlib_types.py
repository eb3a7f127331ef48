"""The ecosystem's own types: a str is one program (as subprocess.run), the
errors are also the standard exceptions, enum fields print as names."""
import errno
import os
import pathlib
import pickle
import shutil
import subprocess
import sys

import pytest

import processkit_c as pk
from processkit_c import _native as N


# ------------------------------------------- a. a string is one program

def test_a_string_is_one_program_not_its_characters():
    r = pk.run("echo")  # not the program "e"
    assert r.returncode == 0 and r.stdout == b"\n" and r.args == ("echo",)
    assert pk.run(b"true").args == ("true",)
    assert pk.run(pathlib.Path(shutil.which("true"))).success
    assert pk.run(bytearray(b"true")).success
    # never split on spaces: there is no shell
    with pytest.raises(FileNotFoundError):
        pk.run("echo hi")
    # a sequence (list, tuple, any iterable) is the argv
    assert pk.run(("echo", "a", b"b", pathlib.Path("c"))).stdout == b"a b c\n"
    assert pk.run(iter(["echo", "it"])).stdout == b"it\n"


def test_a_string_is_one_program_for_loop_group_pipeline_and_aio():
    import asyncio

    with pk.Loop() as loop:
        proc = loop.start("true")
        assert proc.args == ("true",) and proc.wait(timeout=10).success
        proc.close()
    with pk.Group() as g:
        child = g.spawn("true")
        assert child.wait(timeout=10).returncode == 0
        child.close()
        child = g.spawn(pathlib.Path(shutil.which("true")))
        assert child.wait(timeout=10).returncode == 0
        child.close()
    r = pk.pipeline("echo", ["tr", "\\n", "x"])
    assert r.stdout == b"x" and r.args == (("echo",), ("tr", "\\n", "x"))
    r = pk.Pipeline().add(b"echo").add("cat").run()
    assert r.stdout == b"\n" and [s.args for s in r.stages] == [("echo",), ("cat",)]
    assert asyncio.run(pk.aio.run("echo")).stdout == b"\n"


# -------------------------------------------- b. the standard exceptions

def test_a_failed_run_is_a_called_process_error():
    with pytest.raises(subprocess.CalledProcessError) as err:
        pk.run(["sh", "-c", "echo out; echo err >&2; exit 3"], check=True)
    e = err.value
    assert isinstance(e, pk.CommandFailedError) and isinstance(e, pk.ProcessKitError)
    assert e.returncode == 3
    assert e.cmd == ["sh", "-c", "echo out; echo err >&2; exit 3"]
    assert e.output == e.stdout == b"out\n" and e.stderr == b"err\n"
    # the ProcessKitError side is unchanged
    assert e.code == N.PK_ERR_FAILED and e.name == "PK_ERR_FAILED"
    assert e.message == e.result.error_message and e.result.returncode == 3
    # Result.check() and a signal (returncode -signal, as subprocess)
    with pytest.raises(subprocess.CalledProcessError) as err:
        pk.run(["sh", "-c", "kill -9 $$"]).check_returncode()
    assert err.value.returncode == -9
    # except SubprocessError catches it too
    with pytest.raises(subprocess.SubprocessError):
        pk.run("false", check=True)


def test_a_timeout_is_a_subprocess_timeout_expired():
    with pytest.raises(subprocess.TimeoutExpired) as err:
        pk.run(["sh", "-c", "echo partial; sleep 30"], timeout=0.3, check=True)
    e = err.value
    assert isinstance(e, pk.TimeoutExpiredError) and e.code == N.PK_ERR_TIMEOUT
    assert e.cmd == ["sh", "-c", "echo partial; sleep 30"] and e.timeout == 0.3
    assert e.output == e.stdout == b"partial\n" and e.stderr == b""
    assert e.result.timed_out
    # a wait that runs out of time: its timeout, and the command waited for
    with pk.Loop() as loop:
        proc = loop.start(["sleep", "30"])
        with pytest.raises(subprocess.TimeoutExpired) as err:
            proc.wait(timeout=0.1)
        assert err.value.timeout == 0.1 and err.value.cmd == ["sleep", "30"]
    with pk.Group() as g:
        child = g.spawn(["sleep", "30"])
        with pytest.raises(subprocess.TimeoutExpired) as err:
            child.wait(timeout=0.1)
        assert err.value.timeout == 0.1 and err.value.cmd == ["sleep", "30"]
        child.close()


def test_not_found_is_a_file_not_found_error():
    with pytest.raises(FileNotFoundError) as err:
        pk.run("no-such-program-processkit")
    e = err.value
    assert isinstance(e, pk.NotFoundError) and isinstance(e, OSError)
    assert e.errno == errno.ENOENT and e.filename == "no-such-program-processkit"
    assert e.code == N.PK_ERR_NOT_FOUND and e.strerror == e.message == str(e)
    assert "no-such-program-processkit" in e.message
    with pk.Group() as g:
        with pytest.raises(FileNotFoundError) as err:
            g.spawn(["/nonexistent/program", "arg"])
        assert err.value.filename == "/nonexistent/program"
    with pytest.raises(FileNotFoundError) as err:
        pk.pipeline(["echo"], ["no-such-stage-processkit"])
    assert err.value.filename == "no-such-stage-processkit"
    # it survives pickling (multiprocessing, concurrent.futures)
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is pk.NotFoundError and back.filename == e.filename and back.message == e.message


def test_permission_is_a_permission_error(tmp_path):
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    if os.geteuid() == 0 and os.access(script, os.X_OK):
        pytest.skip("root may execute anything")
    with pytest.raises(PermissionError) as err:
        pk.run(script)
    e = err.value
    assert isinstance(e, pk.PermissionDeniedError) and e.code == N.PK_ERR_PERMISSION
    assert e.errno == errno.EACCES and e.filename == str(script)


def test_the_hierarchy_is_kept():
    for cls, std in [(pk.CommandFailedError, subprocess.CalledProcessError),
                     (pk.TimeoutExpiredError, subprocess.TimeoutExpired),
                     (pk.NotFoundError, FileNotFoundError),
                     (pk.PermissionDeniedError, PermissionError),
                     (pk.InvalidArgumentError, ValueError)]:
        assert issubclass(cls, pk.ProcessKitError) and issubclass(cls, std)
        e = cls(cls.code, "msg")
        assert e.code == cls.code and e.message == "msg" and str(e) == "msg"
        assert e.args == (cls.code, "msg")
    e = pk.CommandFailedError()
    assert e.code == N.PK_ERR_FAILED and e.message and e.returncode is None and e.result is None


# -------------------------------------------------- c. names, not numbers

def test_enums_print_as_names():
    r = pk.run("true")
    assert type(r.outcome) is pk.Outcome and r.outcome is pk.Outcome.EXITED
    assert str(r.outcome) == f"{r.outcome}" == "Outcome.EXITED"
    assert "Outcome.EXITED" in repr(r)
    # still ints
    assert r.outcome == 1 and f"{r.outcome:d}" == "1" and int(r.outcome) == 1
    assert str(pk.run(["sleep", "5"], timeout=0.1).outcome) == "Outcome.TIMED_OUT"
    assert str(pk.pipeline("true").stages[0].outcome) == "Outcome.EXITED"
    with pk.Group() as g:
        child = g.spawn("true")
        assert str(child.wait(timeout=10).kind) == "ExitKind.CODE"
        child.close()


def test_error_messages_do_not_end_in_a_c_tag():
    with pytest.raises(pk.CommandFailedError) as err:
        pk.run(["sh", "-c", "exit 3"], check=True)
    assert "PK_ERR" not in str(err.value) and str(err.value) == err.value.message
    assert err.value.name == "PK_ERR_FAILED"  # the code stays available


# --------------------------------------------------------------- d. mypy

def test_mypy_accepts_the_package(tmp_path):
    """When the interpreter has mypy (run_tests.sh does not install it): the
    hand-written modules type-check. _native.py is the generator's output
    (bindings/gen), not checked here."""
    pytest.importorskip("mypy")
    package = os.path.dirname(pk.__file__)
    proc = subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports", "--no-error-summary",
                           "--cache-dir", str(tmp_path), package], capture_output=True, text=True)
    errors = [line for line in proc.stdout.splitlines()
              if ": error:" in line and not line.startswith(os.path.join(package, "_native.py"))
              and "_native.py:" not in line]
    assert not errors, proc.stdout + proc.stderr
