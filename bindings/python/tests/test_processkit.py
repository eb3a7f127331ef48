"""The binding's scenarios (the same in every language) plus the idiomatic API."""
import asyncio
import ctypes
import gc
import json
import os
import signal
import threading
import time

import pytest

import processkit_c as pk
from processkit_c import _native as N

from conftest import is_dead, read_pid_file, start_time, wait_until

SH_GRANDCHILD = "sleep 30 & echo $! > {pidfile}; wait"


# ---------------------------------------------------------------- low level

def _manifest():
    """The ABI manifest: $PROCESSKIT_ABI_MANIFEST, else the repository's (in-tree runs)."""
    path = os.environ.get("PROCESSKIT_ABI_MANIFEST") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "abi", "processkit.abi.json")
    if not os.path.exists(path):
        pytest.skip("no ABI manifest here")
    with open(path) as f:
        return json.load(f)


def test_every_manifest_function_is_bound():
    m = _manifest()
    assert set(N.FUNCTIONS) == {f["name"] for f in m["functions"]}, "_native.py is stale: run bindings/gen/generate.py"
    for f in m["functions"]:
        fn = getattr(N, f["name"])
        assert len(fn.argtypes) == len(f["params"]), f["name"]
        assert (fn.restype is None) == (f["return"]["c_type"] == "void"), f["name"]
    for s in m["structs"]:
        cls = getattr(N, s["name"])
        assert ctypes.sizeof(cls) == s["size"], s["name"]
        assert [name for name, _ in cls._fields_] == [f["name"] for f in s["fields"]]


def test_struct_layouts_match_the_library():
    for struct, struct_id in N.STRUCT_IDS.items():
        size = ctypes.c_size_t()
        assert N.pk_struct_size(struct_id, ctypes.byref(size)) == 0
        # The library may be newer (structs grow at the end), never smaller.
        assert size.value >= ctypes.sizeof(struct), struct.__name__
        assert ctypes.sizeof(struct) == N.STRUCT_LAYOUTS[struct][0]
    assert N.pk_version() >> 16 == N.PK_VERSION_MAJOR
    assert pk.library_version().startswith(f"{N.PK_VERSION_MAJOR}.")


def test_names_come_from_the_generated_enums():
    from processkit_c import _util as U

    # What a Result or Containment reports (the library's pk_mechanism_name)
    # is the name the arguments take, for every mechanism.
    for m in N.Mechanism:
        assert U.MECHANISMS[U.mechanism_name(m)] == m
    assert set(U.BACKENDS) == {"auto", "cgroup-v2", "process-group", "job-object"}
    assert U.backend("CGROUP_V2") == U.backend("cgroup-v2") == N.Backend.CGROUP_V2
    assert U.mechanism(None) == N.Mechanism.NONE and U.mechanism(N.Mechanism.CGROUP_V2) == 2
    assert pk.run(["sh", "-c", "printf 0123456789"], max_output=4, overflow="KEEP_TAIL").stdout == b"6789"
    with pytest.raises(pk.InvalidArgumentError) as err:
        pk.run(["true"], max_output=4, overflow="keep-middle")
    assert "keep-head, keep-tail, error" in err.value.message


def test_versioned_structs_start_with_their_size():
    assert N.pk_run_info().size == ctypes.sizeof(N.pk_run_info)
    assert N.pk_spawn_options(size=12).size == 12


# ------------------------------------------- a. kill-on-free takes the tree

@pytest.mark.parametrize("how", ["close", "with", "del"])
@pytest.mark.parametrize("backend", ["auto", "process-group"])
def test_freeing_a_group_kills_child_and_grandchild(workdir, how, backend):
    pidfile = os.path.join(workdir, "grandchild.pid")
    g = pk.Group(backend=backend)
    child = g.spawn(["sh", "-c", SH_GRANDCHILD.format(pidfile=pidfile)])
    grandchild = read_pid_file(pidfile)
    child_start, grandchild_start = start_time(child.pid), start_time(grandchild)
    assert child_start is not None and grandchild_start is not None
    assert not is_dead(child.pid, child_start) and not is_dead(grandchild, grandchild_start)
    if backend == "auto":
        assert {child.pid, grandchild} <= set(g.members())
    assert child.poll() is None

    if how == "close":
        g.close()
        g.close()  # idempotent
    elif how == "with":
        with g:
            pass
    else:
        del g
        gc.collect()

    assert wait_until(lambda: is_dead(child.pid, child_start)), "child survived"
    assert wait_until(lambda: is_dead(grandchild, grandchild_start)), "grandchild survived"
    status = child.wait(timeout=5)  # the handle outlives the group
    assert status.signalled and status.signal == signal.SIGKILL and status.returncode == -signal.SIGKILL
    child.close()


def test_child_wait_poll_and_exit_status():
    with pk.Group() as g:
        with g.spawn(["sh", "-c", "exit 7"], stdout=pk.DEVNULL) as child:
            status = child.wait(timeout=10)
            assert status.exited and status.code == 7 and child.returncode == 7
            assert child.poll() == status
        with g.spawn(["sleep", "30"]) as sleeper:
            with pytest.raises(pk.TimeoutExpiredError) as err:
                sleeper.wait(timeout=0.05)
            assert err.value.code == N.PK_ERR_TIMEOUT and err.value.message
            sleeper.terminate()
            assert sleeper.wait(timeout=10).signal == signal.SIGTERM


def test_spawn_with_env_cwd_and_stdout_fd(workdir):
    out_path = os.path.join(workdir, "out.txt")
    with open(out_path, "wb") as out, pk.Group() as g:
        child = g.spawn(["sh", "-c", 'echo "$GREETING" && pwd'], env={"GREETING": "hi", "PATH": os.environ["PATH"]},
                        cwd=workdir, stdout=out)
        assert child.wait(timeout=10).code == 0
        child.close()
    with open(out_path, "rb") as f:
        assert f.read() == f"hi\n{workdir}\n".encode()


def test_shutdown_is_graceful_then_reports():
    with pk.Group() as g:
        child = g.spawn(["sleep", "30"])
        report = g.shutdown(grace=5)
        assert report.drained and not report.escalated and report.members_after == 0
        assert child.wait(timeout=5).signal == signal.SIGTERM
        child.close()


# ------------------------------------------------- b. run and capture

def test_run_captures_stdout_stderr_and_exit_code():
    result = pk.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=30)
    assert result.returncode == 3
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert result.outcome == pk.Outcome.EXITED
    assert not result.success and not result.timed_out
    assert result.mechanism == "cgroup-v2"
    assert 0 <= result.duration < 30 and result.pid > 0


def test_non_zero_exit_raises_only_when_asked():
    with pytest.raises(pk.CommandFailedError) as err:
        pk.run(["sh", "-c", "echo boom >&2; exit 3"], check=True)
    e = err.value
    assert isinstance(e, pk.ProcessKitError)
    assert e.code == N.PK_ERR_FAILED == -16
    assert "sh" in e.message and "3" in e.message  # the library's message
    assert e.message == e.result.error_message
    assert e.result.returncode == 3 and e.result.stderr == b"boom\n"
    assert str(e).startswith(e.message)
    # the same through Result.check()
    result = pk.run(["sh", "-c", "exit 3"])
    with pytest.raises(pk.CommandFailedError):
        result.check()
    # an accepted code is success
    assert pk.run(["sh", "-c", "exit 3"], ok_codes=[0, 3], check=True).success


def test_run_input_env_cwd(workdir):
    assert pk.run(["cat"], input=b"abc\x00def").stdout == b"abc\x00def"
    assert pk.run(["cat"], input="text").stdout == b"text"
    result = pk.run(["sh", "-c", 'echo "$ONLY:${HOME:-unset}"; pwd'], env={"ONLY": "1", "PATH": os.environ["PATH"]},
                    cwd=workdir)
    assert result.stdout == f"1:unset\n{workdir}\n".encode()


def test_run_merge_and_line_callback():
    lines = []
    result = pk.run(["sh", "-c", "echo a; echo b >&2; printf c"], stderr=pk.STDOUT,
                    on_line=lambda stream, line: lines.append((stream, line)))
    assert sorted(result.stdout.split()) == [b"a", b"b", b"c"] and result.stderr == b""
    assert sorted(line for _, line in lines) == [b"a", b"b", b"c"]
    assert {stream for stream, _ in lines} == {pk.Stream.STDOUT}


def test_output_cap():
    result = pk.run(["sh", "-c", "printf 0123456789"], max_output=4, overflow="keep-tail")
    assert result.stdout == b"6789" and result.stdout_truncated
    with pytest.raises(pk.OutputOverflowError):
        pk.run(["sh", "-c", "printf 0123456789"], max_output=4, overflow="error", check=True)


# ------------------------------------------------ c. timeout tears down

def test_timeout_tears_down_the_tree(workdir):
    pidfile = os.path.join(workdir, "grandchild.pid")
    started = time.monotonic()
    result = pk.run(["sh", "-c", f"sleep 30 & echo $! > {pidfile}; sleep 30"], timeout=0.3)
    elapsed = time.monotonic() - started
    assert result.timed_out and result.outcome == pk.Outcome.TIMED_OUT
    assert not result.success
    assert elapsed < 10
    grandchild = read_pid_file(pidfile)
    # pid + start time: whatever runs under that pid now must not be our sleep
    assert wait_until(lambda: start_time(grandchild) is None or is_dead(grandchild, start_time(grandchild)))
    with pytest.raises(pk.TimeoutExpiredError) as err:
        result.check()
    assert err.value.code == N.PK_ERR_TIMEOUT and "timed out" in err.value.message


def test_timeout_grandchild_dies_checked_by_start_time(workdir):
    """Capture the grandchild's start time while it is alive, then time out."""
    pidfile = os.path.join(workdir, "grandchild.pid")
    with pk.Loop() as loop:
        proc = loop.start(["sh", "-c", f"sleep 30 & echo $! > {pidfile}; sleep 30"], timeout=1.0, grace=0.5)
        grandchild = read_pid_file(pidfile)
        grandchild_start = start_time(grandchild)
        assert grandchild_start is not None and not is_dead(grandchild, grandchild_start)
        result = proc.wait(timeout=30)
        proc.close()
    assert result.timed_out
    assert wait_until(lambda: is_dead(grandchild, grandchild_start))


# ------------------------------------------------------- d. mechanism

def test_mechanism_is_cgroup_v2_here_and_process_group_when_forced():
    assert pk.probe().mechanism == "cgroup-v2"
    with pk.Group() as g:
        assert g.mechanism == "cgroup-v2"
        assert g.containment().cgroup_path
        assert pk.Feature.CONTAINS_SETSID in g.containment().features
    with pk.Group(backend="process-group") as g:
        assert g.mechanism == "process-group"
    with pk.Group(backend=pk.Backend.CGROUP_V2, min_mechanism="cgroup-v2") as g:
        assert g.mechanism == "cgroup-v2"
    assert pk.run(["true"]).mechanism == "cgroup-v2"
    assert pk.run(["true"], backend="process-group").mechanism == "process-group"


# ------------------------------------------------------ e. bad arguments

def test_empty_program_is_the_libraries_invalid_argument():
    for args in ([""], []):
        with pytest.raises(pk.InvalidArgumentError) as err:
            pk.run(args)
        e = err.value
        assert e.code == N.PK_ERR_INVALID == -1
        assert e.message == "pk_command_new: the program name is empty"
        assert isinstance(e, pk.ProcessKitError) and isinstance(e, ValueError)
        assert e.name == "PK_ERR_INVALID"


def test_closed_objects_raise_handle_errors():
    g = pk.Group()
    g.close()
    with pytest.raises(pk.HandleError) as err:
        g.kill()
    assert err.value.code == N.PK_ERR_HANDLE
    assert "freed" in err.value.message and "pk_group_kill" in err.value.message
    with pytest.raises(pk.HandleError):
        g.spawn(["true"])
    with pk.Group() as g2:
        child = g2.spawn(["true"])
        child.wait(timeout=10)
        child.close()
        with pytest.raises(pk.HandleError) as err:
            child.send_signal(signal.SIGTERM)
        assert "pk_child_signal" in err.value.message


def test_spawn_errors_carry_the_library_message():
    with pk.Group() as g:
        with pytest.raises(pk.InvalidArgumentError) as err:
            g.spawn([])
        assert err.value.message.startswith("pk_group_spawn")
        with pytest.raises(pk.NotFoundError) as err:
            g.spawn(["/nonexistent/program"])
        assert "/nonexistent/program" in err.value.message
    with pytest.raises(pk.NotFoundError):
        pk.run(["no-such-program-processkit"])
    with pytest.raises(pk.InvalidArgumentError):
        pk.Group(backend="no-such-backend")


def test_last_error_is_per_thread():
    with pytest.raises(pk.InvalidArgumentError):
        pk.run([""])
    seen = []
    t = threading.Thread(target=lambda: seen.append(pk.last_error()))
    t.start()
    t.join()
    assert seen == [""]


# -------------------------------------------------------- sync loop, cancel

def test_loop_runs_two_commands_concurrently():
    with pk.Loop() as loop:
        started = time.monotonic()
        a = loop.start(["sh", "-c", "sleep 0.3; echo a"])
        b = loop.start(["sh", "-c", "sleep 0.3; echo b"])
        loop.wait([a, b], timeout=30)
        elapsed = time.monotonic() - started
        assert a.result().stdout == b"a\n" and b.result().stdout == b"b\n"
        assert elapsed < 1.5
        fast = loop.start(["true"])
        slow = loop.start(["sleep", "30"])
        assert loop.wait_any([slow, fast], timeout=30) is fast
        slow.cancel()
        assert slow.wait(timeout=30).cancelled


def test_cancel_token_from_another_thread():
    with pk.CancelToken() as token:
        timer = threading.Timer(0.2, token.trigger)
        timer.start()
        started = time.monotonic()
        result = pk.run(["sleep", "30"], cancel=token)
        timer.join()
    assert result.cancelled and time.monotonic() - started < 10
    with pytest.raises(pk.CancelledRunError):
        result.check()


def test_stdin_pipe():
    with pk.Loop() as loop:
        proc = loop.start(["cat"], stdin=pk.PIPE)
        proc.write(b"hello ")
        proc.write("world")
        proc.close_stdin()
        assert proc.wait(timeout=30).stdout == b"hello world"


# ------------------------------------------------------------ f. asyncio

def test_async_runs_two_commands_concurrently_on_one_loop():
    async def main():
        started = time.monotonic()
        a, b = await asyncio.gather(
            pk.aio.run(["sh", "-c", "sleep 0.3; echo x"]),
            pk.aio.run(["sh", "-c", "sleep 0.3; echo y"]),
        )
        return time.monotonic() - started, a, b

    elapsed, a, b = asyncio.run(main())
    assert a.stdout == b"x\n" and b.stdout == b"y\n"
    assert a.returncode == 0 and b.returncode == 0
    assert elapsed < 1.5, elapsed


def test_async_loop_explicit_and_other_coroutines_progress():
    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        async with pk.AsyncLoop() as loop:
            started = time.monotonic()
            results = await asyncio.gather(*(loop.run(["sh", "-c", f"sleep 0.3; echo {i}"]) for i in range(4)),
                                           loop.run(["sh", "-c", "exit 5"]))
            elapsed = time.monotonic() - started
            with pytest.raises(pk.CommandFailedError):
                await loop.run(["sh", "-c", "exit 5"], check=True)
            timed = await loop.run(["sleep", "30"], timeout=0.2)
        tick_task.cancel()
        return elapsed, results, timed, ticks

    elapsed, results, timed, ticks = asyncio.run(main())
    assert [r.stdout for r in results[:4]] == [b"0\n", b"1\n", b"2\n", b"3\n"]
    assert results[4].returncode == 5
    assert timed.timed_out
    assert elapsed < 1.5
    assert ticks >= 5  # the event loop was never blocked


def test_async_cancellation_kills_the_tree(workdir):
    pidfile = os.path.join(workdir, "grandchild.pid")

    async def main():
        task = asyncio.create_task(pk.aio.run(["sh", "-c", f"sleep 30 & echo $! > {pidfile}; sleep 30"]))
        while not (os.path.exists(pidfile) and open(pidfile).read().strip()):
            await asyncio.sleep(0.01)
        grandchild = int(open(pidfile).read())
        grandchild_start = start_time(grandchild)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return grandchild, grandchild_start

    grandchild, grandchild_start = asyncio.run(asyncio.wait_for(main(), 30))
    assert grandchild_start is not None
    assert wait_until(lambda: is_dead(grandchild, grandchild_start))
