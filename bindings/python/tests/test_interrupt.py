"""Ctrl-C during a blocking wait: the wait ends at once (pk_loop_wake for the
waits a loop drives, a pidfd poll for Child.wait) and nothing is left behind.

Ctrl-C is a real SIGINT, sent from a timer thread to the main thread (as a
terminal's Ctrl-C reaches a Python program) or to the whole process (kill
-INT): it interrupts the main thread's blocking wait at once.
_thread.interrupt_main() (and signal.raise_signal() from another thread)
only flags the signal, which interrupts no blocking call (time.sleep() and
Event.wait() alike); the binding sees it within SIGNAL_BACKSTOP_S."""
import _thread
import os
import signal
import threading
import time

import pytest

import processkit_c as pk
from processkit_c import _native as N

from conftest import is_dead, read_pid_file, start_time, wait_until

DELAY = 0.3  # seconds from the start of the wait to the SIGINT
PROMPT = 5.0  # the wait must end this soon after it


@pytest.fixture(autouse=True)
def default_sigint():
    """Python's own SIGINT handler (KeyboardInterrupt), whatever ran before."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class Interrupt:
    """Sends SIGINT after `delay` seconds; `.sent` is when (time.monotonic())."""

    def __init__(self, delay=DELAY, to="main-thread"):
        self.sent = None
        self._to = to
        self._timer = threading.Timer(delay, self._fire)

    def _fire(self):
        self.sent = time.monotonic()
        if self._to == "process":
            os.kill(os.getpid(), signal.SIGINT)
        elif self._to == "flag-only":
            _thread.interrupt_main()
        else:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        self._timer.join()

    def latency(self):
        assert self.sent is not None, "the SIGINT was never sent"
        return time.monotonic() - self.sent


def _interrupted(wait, to="main-thread"):
    """Run wait() under a SIGINT; return how long after the signal it ended."""
    with Interrupt(to=to) as irq:
        with pytest.raises(KeyboardInterrupt):
            wait()
        latency = irq.latency()
    assert latency < PROMPT, f"the wait ended {latency:.2f} s after the SIGINT"
    if to != "flag-only":
        assert latency < 0.5, f"a real signal took {latency:.2f} s"  # at once, not at the backstop
    return latency


@pytest.mark.parametrize("to", ["main-thread", "process"])
def test_ctrl_c_ends_run_and_kills_the_tree(workdir, to):
    pidfile = os.path.join(workdir, "grandchild.pid")
    started = time.monotonic()
    _interrupted(lambda: pk.run(["sh", "-c", f"sleep 30 & echo $! > {pidfile}; sleep 30"]), to)
    assert time.monotonic() - started < PROMPT + DELAY
    grandchild = read_pid_file(pidfile)
    # run() left its `with Loop()`: the private group, grandchild included, is gone.
    assert wait_until(lambda: start_time(grandchild) is None or is_dead(grandchild, start_time(grandchild)))


def test_a_flagged_interrupt_is_seen_too():
    from processkit_c import _util as U

    with pk.Loop() as loop:
        proc = loop.start(["sleep", "30"])
        assert _interrupted(proc.wait, "flag-only") < U.SIGNAL_BACKSTOP_S + 1
    with pk.Group() as g:
        child = g.spawn(["sleep", "30"])
        assert _interrupted(child.wait, "flag-only") < U.SIGNAL_BACKSTOP_S + 1
        child.close()


def test_ctrl_c_ends_loop_wait_and_the_runs_go_on():
    with pk.Loop() as loop:
        a = loop.start(["sleep", "30"])
        b = loop.start(["sleep", "30"])
        _interrupted(lambda: loop.wait([a, b]))
        _interrupted(lambda: loop.wait_any([a, b], timeout=60))
        _interrupted(lambda: a.wait())
        _interrupted(lambda: loop.run_once(None))
        # Woken, not cancelled: both still run and the loop still works.
        assert not a.done and not b.done
        for pid in (a.pid, b.pid):
            assert not is_dead(pid, start_time(pid))
        quick = loop.start(["sh", "-c", "echo ok"])
        assert quick.wait(timeout=30).stdout == b"ok\n"
        a.cancel()
        assert a.wait(timeout=30).cancelled
    # Leaving the block cancelled b; the autouse fixture checks nothing is left.


def test_ctrl_c_ends_readiness_probes_with_readiness_woken():
    with pk.Loop() as loop:
        proc = loop.start(["sh", "-c", "echo starting; sleep 30"])
        _interrupted(lambda: proc.wait_for_line("ready"))
        r = proc.readiness()
        assert r.kind == pk.ReadyKind.LINE and r.outcome == pk.ReadyOutcome.WOKEN
        assert r.last_line == b"starting" and r.lines_seen == 1
        assert DELAY * 0.8 < r.waited < DELAY + PROMPT

        _interrupted(lambda: proc.wait_for_port(1, timeout=60))
        r = proc.readiness()
        assert r.kind == pk.ReadyKind.PORT and r.outcome == pk.ReadyOutcome.WOKEN and r.port == 1

        # The process was not touched, and probing still works.
        assert not proc.done
        proc.wait_for_line("starting", timeout=10)
        assert proc.readiness().outcome == pk.ReadyOutcome.MET


def test_ctrl_c_ends_child_wait():
    with pk.Group() as g:
        child = g.spawn(["sleep", "30"])
        _interrupted(child.wait)
        _interrupted(lambda: child.wait(timeout=60))
        assert child.poll() is None and not is_dead(child.pid, start_time(child.pid))
        child.kill()
        assert child.wait(timeout=10).signal == signal.SIGKILL
        child.close()


def test_another_signal_handler_that_raises_ends_the_wait_one_that_does_not_does_not():
    class Stop(Exception):
        pass

    def raising(signum, frame):
        raise Stop

    seen = []
    previous = signal.signal(signal.SIGUSR1, raising)
    try:
        with pk.Loop() as loop:
            proc = loop.start(["sleep", "30"])
            timer = threading.Timer(DELAY, signal.pthread_kill, (threading.main_thread().ident, signal.SIGUSR1))
            timer.start()
            started = time.monotonic()
            with pytest.raises(Stop):
                proc.wait()
            timer.join()
            assert time.monotonic() - started < DELAY + PROMPT and not proc.done

            # A handler that does not raise (and waits itself, on another
            # helper thread: the first one is busy): the wait goes on.
            signal.signal(signal.SIGUSR1, lambda signum, frame: seen.append(pk.run(["true"]).returncode))
            short = loop.start(["sh", "-c", "sleep 0.6; echo done"])
            timer = threading.Timer(DELAY, signal.pthread_kill, (threading.main_thread().ident, signal.SIGUSR1))
            timer.start()
            assert short.wait(timeout=30).stdout == b"done\n"  # the handler ran; the wait went on
            timer.join()
            assert seen == [0]
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_wake_from_another_thread():
    with pk.Loop() as loop:
        proc = loop.start(["sh", "-c", "echo up; sleep 30"])
        timer = threading.Timer(DELAY, loop.wake)
        timer.start()
        started = time.monotonic()
        with pytest.raises(pk.CancelledRunError) as err:
            proc.wait()
        timer.join()
        assert time.monotonic() - started < DELAY + PROMPT
        assert err.value.code == N.PK_ERR_CANCELLED and "pk_loop_wake" in err.value.message
        assert not proc.done

        timer = threading.Timer(DELAY, loop.wake)
        timer.start()
        with pytest.raises(pk.CancelledRunError) as err:
            proc.wait_for_line("never")
        timer.join()
        assert err.value.readiness.outcome == pk.ReadyOutcome.WOKEN
        assert err.value.readiness.last_line == b"up"

        timer = threading.Timer(DELAY, loop.wake)
        timer.start()
        loop.run_once(None)  # returns when woken
        timer.join()
        assert not proc.done
    # A wake nobody waits for only makes the next run_once return early.
    with pk.Loop() as loop:
        loop.wake()
        loop.run_once(10)


def test_a_wake_nobody_asked_for_does_not_end_a_wait_one_from_wake_does():
    with pk.Loop() as loop:
        proc = loop.start(["sh", "-c", "sleep 0.3; echo up; sleep 0.3"])
        # Not Loop.wake(): a wake left pending by another caller (as one
        # that ends a wait just as Ctrl-C wakes it leaves). The waits take
        # it and wait again.
        N.pk_loop_wake(loop.handle)
        proc.wait_for_line("up", timeout=30)
        assert proc.readiness().outcome == pk.ReadyOutcome.MET
        N.pk_loop_wake(loop.handle)
        timer = threading.Timer(0.1, N.pk_loop_wake, (loop.handle,))
        timer.start()
        assert proc.wait(timeout=30).returncode == 0
        timer.join()

        # Loop.wake() with nobody waiting ends the next wait.
        other = loop.start(["sleep", "30"])
        loop.wake()
        with pytest.raises(pk.CancelledRunError):
            other.wait(timeout=30)
        assert not other.done


def test_waits_from_other_threads_and_zero_timeouts_call_directly():
    results = []
    errors = []

    def worker():
        try:
            with pk.Loop() as loop:
                proc = loop.start(["sh", "-c", "echo hi"])
                proc.wait_for_line("hi", timeout=30)
                results.append(proc.wait(timeout=30).stdout)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=worker)
    t.start()
    t.join(60)
    assert not errors and results == [b"hi\n"]
    with pk.Loop() as loop:
        proc = loop.start(["sleep", "30"])
        with pytest.raises(pk.TimeoutExpiredError):
            proc.wait(timeout=0)
        with pytest.raises(pk.TimeoutExpiredError):
            proc.wait(timeout=-1)  # negative: just look, as before
        with pytest.raises(pk.NotReadyError):
            proc.wait_for_line("x", timeout=0)


def test_line_callback_errors_still_surface():
    def boom(stream, line):
        raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback"):
        pk.run(["sh", "-c", "echo x; sleep 0.2"], on_line=boom)


def test_a_forked_child_waits_without_its_parents_helper_thread():
    pk.run(["true"])  # the helper thread exists now, in this process only
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if pk.run(["sh", "-c", "echo child"], timeout=20).stdout == b"child\n" else 2
        finally:
            os._exit(code)
    status = []

    def reaped():
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status.append(st)
        return bool(done)

    if not wait_until(reaped, 30):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung waiting")
    assert os.WIFEXITED(status[0]) and os.WEXITSTATUS(status[0]) == 0
