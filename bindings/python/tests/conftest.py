"""Shared helpers: process liveness by pid + start time, leftovers checks."""
import gc
import glob
import os
import signal
import tempfile
import time

import pytest

import processkit_c as pk


def stat_fields(pid):
    """/proc/PID/stat split after the command name: [state, ppid, ...], or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(")") + 2:].split()


def start_time(pid):
    """Field 22 of /proc/PID/stat (start time in clock ticks), or None."""
    fields = stat_fields(pid)
    return None if fields is None else int(fields[22 - 3])


def is_dead(pid, started):
    """Dead: gone, replaced by another process (other start time) or a zombie."""
    fields = stat_fields(pid)
    return fields is None or int(fields[22 - 3]) != started or fields[0] == "Z"


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def read_pid_file(path, timeout=5.0):
    def ready():
        try:
            with open(path) as f:
                return f.read().strip() != ""
        except FileNotFoundError:
            return False

    assert wait_until(ready, timeout), f"{path} was not written"
    with open(path) as f:
        return int(f.read().strip())


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return None


def live_children():
    """Our direct children that are not yet reaped (zombies included).

    Not counted: a fork of this very process (same command line, not a
    zombie). That is processkit's keeper (api/src/keeper.h): one per owner
    process, it lives as long as the owner, to kill the owner's cgroups if
    the owner dies without freeing them. Everything the tests start is sh,
    sleep, cat or true, never a copy of the test process."""
    me = str(os.getpid())
    own = _cmdline(me)
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = stat_fields(entry)
            if fields is None or fields[1] != me:
                continue
            if fields[0] != "Z" and _cmdline(entry) == own:
                continue
            out.append((int(entry), fields[0]))
    return out


def our_cgroups():
    mount = pk.probe("cgroup-v2").cgroup_mount or "/sys/fs/cgroup"
    pattern = f"processkit-{os.getpid()}-*"
    return glob.glob(os.path.join(mount, pattern)) + glob.glob(os.path.join(mount, "*", pattern))


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="pk-py-test-") as d:
        yield d


@pytest.fixture(autouse=True)
def leaves_nothing_behind():
    """Every test: no child process of ours and no processkit cgroup of ours remain."""
    yield
    gc.collect()
    clean = wait_until(lambda: not live_children(), 5.0)
    left = live_children()
    for pid, _ in left:  # so that one failure does not fail every later test
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
    assert clean, f"processes left behind: {left}"
    assert wait_until(lambda: not our_cgroups(), 5.0), f"cgroups left behind: {our_cgroups()}"
