"""Every C feature reached through the Python API: PTY, supervision, retry,
user/group, umask, rlimits, the fd map, cwd_fd, env unset, no_window,
readiness by predicate, resize, line streaming (callback, iterator, async
iterator), signals as signal.Signals."""
import asyncio
import os
import re
import resource
import signal
from pathlib import Path

import pytest

import processkit_c as pk


def test_quickstart():
    # README.md's quickstart is this block, verbatim.
    # --- quickstart ---
    import processkit_c as pk

    r = pk.run(["sh", "-c", "echo hi; exit 3"], timeout=5)   # a non-zero exit is data
    assert (r.returncode, r.stdout, r.outcome) == (3, b"hi\n", pk.Outcome.EXITED)
    try:
        pk.run(["false"], check=True)                         # a subprocess.CalledProcessError
    except pk.CommandFailedError as e:
        assert e.returncode == 1

    with pk.Group() as g:                                     # leaving the block kills the whole tree
        child = g.spawn(["sleep", "30"])
    assert child.pid > 0

    for line in pk.iter_lines(["sh", "-c", "echo one; echo two >&2"]):
        print(line.stream, line.text)                         # Stream.STDOUT one, Stream.STDERR two

    r = pk.pipeline(["printf", "b\\na\\n"], ["sort"])
    assert r.stdout == b"a\nb\n"

    with pk.Loop() as loop:                                   # readiness: wait for a line, then stop it
        server = loop.start(["sh", "-c", "echo listening; exec sleep 30"])
        server.wait_for_line("listening", timeout=10)
        server.cancel()
        assert server.wait().cancelled

    runner = pk.ScriptedRunner().expect(["git", "rev-parse"], pk.Reply.ok("3f9c2e1\n"))
    assert runner.run(["git", "rev-parse", "HEAD"]).stdout == b"3f9c2e1\n"   # nothing spawned
    # --- end quickstart ---


def test_readme_quickstart_is_copied_from_the_test():
    readme = Path(__file__).resolve().parent.parent / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not beside the tests")
    source = Path(__file__).read_text()
    block = source.split("# --- quickstart ---\n", 1)[1].split("    # --- end quickstart ---", 1)[0]
    dedented = "".join(line[4:] if line.startswith("    ") else line for line in block.splitlines(True))
    assert "```python\n" + dedented + "```" in readme.read_text()


def test_pty_and_resize():
    r = pk.run(["sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo tty; stty size"], pty=(30, 100))
    assert r.stdout.replace(b"\r", b"") == b"tty\n30 100\n"
    with pk.Loop() as loop:
        p = loop.start(["sh", "-c", "trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.05; done"],
                       pty=True, timeout=10)
        p.wait_for_line("ready", timeout=10)
        p.resize(40, 120)
        assert b"40 120" in p.wait().stdout
        p.close()
    with pk.Loop() as loop:
        p = loop.start(["true"])
        p.wait()
        with pytest.raises(pk.StateError):
            p.resize(1, 1)  # no terminal
        p.close()


def test_umask_rlimits_fd_map_pass_fds(workdir):
    read_end, write_end = os.pipe()
    try:
        r = pk.run(["sh", "-c", f"umask; ulimit -n; ulimit -Hn; echo mapped >&5; echo passed > /proc/self/fd/{write_end}"],
                   umask=0o027, rlimits={resource.RLIMIT_NOFILE: (100, 200)}, fd_map={5: write_end},
                   pass_fds=[write_end])
        assert r.stdout == b"0027\n100\n200\n", r.stderr
        os.close(write_end)
        write_end = -1
        assert os.read(read_end, 100) == b"mapped\npassed\n"
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def test_cwd_fd_env_unset_no_window(workdir):
    fd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.environ["PK_PY_UNSET_ME"] = "1"
        r = pk.run(["sh", "-c", "pwd; echo ${PK_PY_UNSET_ME:-unset}"], cwd_fd=fd, unset_env=["PK_PY_UNSET_ME"],
                   create_no_window=True)
    finally:
        os.environ.pop("PK_PY_UNSET_ME", None)
        os.close(fd)
    assert r.stdout == os.path.realpath(workdir).encode() + b"\nunset\n"


def test_user_and_group_as_names_or_ids():
    me = os.getuid()
    r = pk.run(["id", "-u"], user=me, group_id=os.getgid(), extra_groups=[os.getgid()])
    assert r.stdout == f"{me}\n".encode()
    if me == 0:
        r = pk.run(["sh", "-c", "id -u; id -g; id -G"], user="nobody", group_id=65534 if os.path.exists("/etc/group") else 0)
        uid, gid, groups = r.stdout.decode().split("\n")[:3]
        assert uid != "0" and groups.split() == [gid]
    with pytest.raises(pk.InvalidArgumentError, match="no user named"):
        pk.run(["true"], user="no-such-user-pk")


def test_supervise_events_stop_when_and_stop_token(workdir):
    events = []
    report = pk.supervise(["sh", "-c", "exit 1"], max_restarts=1, backoff_initial=0.01,
                          on_event=lambda e: events.append(e.event))
    assert (report.runs, report.restarts, report.stop_reason) == (2, 1, pk.SuperviseEvent.GAVE_UP)
    assert events[:2] == [pk.SuperviseEvent.STARTED, pk.SuperviseEvent.EXITED]
    assert pk.SuperviseEvent.RESTARTING in events and events[-1] == pk.SuperviseEvent.GAVE_UP

    report = pk.supervise(["true"], restart="always", backoff_initial=0.01,
                          stop_when=lambda result: result.success)
    assert report.runs == 1 and report.stop_reason == pk.SuperviseEvent.STOPPED

    with pytest.raises(ZeroDivisionError):
        pk.supervise(["true"], restart="always", backoff_initial=0.01, stop_when=lambda result: 1 / 0)


def test_retry_classifier_and_refused_stdin(workdir):
    attempts = []
    r = pk.run(["sh", "-c", "exit 7"], retry=pk.Retry(max_attempts=4, initial_delay=0.001, jitter=False,
                                                      classify=lambda res, n: attempts.append(n) or n < 2))
    assert r.returncode == 7 and attempts == [1, 2]
    with pytest.raises(pk.InvalidArgumentError):
        pk.run(["cat"], stdin=pk.PIPE, retry=pk.Retry())


def test_wait_for_predicate(workdir):
    flag = Path(workdir) / "ready"
    with pk.Loop() as loop:
        p = loop.start(["sh", "-c", f"sleep 0.2; touch {flag}; exec sleep 30"])
        p.wait_for(flag.exists, interval=0.02, timeout=10)
        assert p.readiness().kind == pk.ReadyKind.CHECK and p.readiness().outcome == pk.ReadyOutcome.MET
        with pytest.raises(pk.NotReadyError):
            p.wait_for(lambda: False, interval=0.01, timeout=0.1)
        with pytest.raises(KeyError):
            p.wait_for(lambda: {}["x"], timeout=5)
        p.cancel()
        p.wait()
        p.close()


def test_line_callbacks_per_stream_and_iterator():
    out, err = [], []
    pk.run(["sh", "-c", "echo a; echo b >&2; printf c"], on_stdout=out.append, on_stderr=err.append)
    assert (out, err) == ([b"a", b"c"], [b"b"])
    with pk.iter_lines(["sh", "-c", "echo 1; echo 2; exit 4"]) as lines:
        assert [line.text for line in lines] == ["1", "2"]
    assert lines.result.returncode == 4 and lines.result.stdout == b"1\n2\n"


def test_iterator_closed_early_kills_the_run():
    with pk.iter_lines(["sh", "-c", "echo first; exec sleep 30"]) as lines:
        assert next(lines).text == "first"
    # leaving the block killed the sleep (conftest checks nothing is left)


def test_async_lines():
    async def main():
        got = [line.text async for line in pk.aio.lines(["sh", "-c", "echo x; sleep 0.05; echo y"])]
        assert got == ["x", "y"]
        with pytest.raises(pk.CommandFailedError):
            async for _ in pk.aio.lines(["sh", "-c", "echo z; exit 2"], check=True):
                pass
        async with pk.AsyncLoop() as loop:
            async for line in loop.lines(["sh", "-c", "echo once; exec sleep 30"]):
                assert line.text == "once"
                break  # leaving early kills the run

    asyncio.run(main())


def test_signals_are_signal_signals():
    r = pk.run(["sh", "-c", "kill -TERM $$"])
    assert r.signal is signal.SIGTERM and r.signal.name == "SIGTERM" and r.returncode == -15
    with pk.Group() as g:
        child = g.spawn(["sleep", "30"])
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10).signal is signal.SIGKILL
        child.close()


def test_group_operations():
    with pk.Group() as g:
        child = g.spawn(["sleep", "30"])
        assert child.pid in g.members()
        g.suspend()
        g.resume()
        assert g.stats().live_processes >= 1
        report = g.shutdown(signal.SIGTERM, grace=5)
        assert report.members_after == 0
        child.wait(timeout=5)
        child.close()
    assert pk.probe().mechanism in ("cgroup-v2", "process-group")
    assert re.fullmatch(r"\d+\.\d+\.\d+", pk.library_version())
