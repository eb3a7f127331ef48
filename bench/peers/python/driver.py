"""The peer benchmarks' Python driver: processkit-py from PyPI (impl
processkit_py; the processkit Rust crate behind a synchronous Python API) and
the standard library's subprocess (impl python_subprocess).

    python driver.py --impl processkit_py|python_subprocess --scenario NAME \
        --iterations N [--warmup K]

Protocol and scenarios: bench/peers/c/peer_common.h (one JSON object per
line: a sample, an "unsupported" reason, or a note).
"""

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time

BIG_BYTES = 268435456
SMALL_BYTES = 1024
SEQ_BYTES = 3893
TREE_SIZE = 1000
RSS_CHILDREN = 100
TREE_SCRIPT = "for i in $(seq 1000); do sleep 600 & done; wait"
PR_SET_CHILD_SUBREAPER = 36


def die(msg):
    print(f"driver: error: {msg}", file=sys.stderr)
    sys.exit(1)


class Out:
    def __init__(self, scenario, impl):
        self.scenario, self.impl = scenario, impl

    def emit(self, value, unit):
        print(json.dumps({"scenario": self.scenario, "impl": self.impl, "value": round(value, 3), "unit": unit}),
              flush=True)

    def text(self, key, text):
        print(json.dumps({"scenario": self.scenario, "impl": self.impl, key: text}), flush=True)


# ------------------------------------------------------------------ /proc

def read_stat(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    o, c = s.find("("), s.rfind(")")
    rest = s[c + 2:].split(" ")
    try:
        return {"comm": s[o + 1:c], "state": rest[0], "ppid": int(rest[1]), "starttime": int(rest[19])}
    except (IndexError, ValueError):
        return None


def vmrss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    die("no VmRSS")


def await_tree(shell):
    st = read_stat(shell)
    if st is None:
        die("teardown: the shell is gone")
    deadline = time.monotonic() + 60
    while True:
        members, sleeping = [(shell, st["starttime"])], 0
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            s = read_stat(int(name))
            if s is None or s["ppid"] != shell:
                continue
            members.append((int(name), s["starttime"]))
            if s["comm"] == "sleep" and s["state"] != "Z":
                sleeping += 1
        if len(members) == TREE_SIZE + 1 and sleeping == TREE_SIZE:
            return members
        if time.monotonic() >= deadline:
            die(f"teardown: {len(members) - 1} children ({sleeping} running sleep)")
        time.sleep(0.005)


def member_running(m):
    s = read_stat(m[0])
    return s is not None and s["starttime"] == m[1] and s["state"] not in ("Z", "X")


def wait_tree_gone(members):
    deadline = time.monotonic() + 30
    cursor = 0
    while True:
        while cursor < len(members) and not member_running(members[cursor]):
            cursor += 1
        if cursor == len(members):
            return
        if time.monotonic() >= deadline:
            die(f"teardown: member {members[cursor][0]} still running 30 s after the kill")
        time.sleep(0.0002)


def reap_orphans():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        die("prctl(PR_SET_CHILD_SUBREAPER) failed")


# ------------------------------------------------------------------ python_subprocess

class Subprocess:
    name = "python_subprocess"
    teardown_unsupported = ("subprocess has no group or tree kill: Popen.kill/send_signal reach the direct "
                            "child only (process_group=/start_new_session= only set the pgid at spawn; "
                            "killing the group takes os.killpg)")

    def note(self):
        return f"subprocess, Python {sys.version.split()[0]}"

    def spawn_wait(self):
        if subprocess.run(["/bin/true"]).returncode != 0:
            die("/bin/true failed")

    def capture(self, n):
        r = subprocess.run(["head", "-c", str(n), "/dev/zero"], capture_output=True)
        if r.returncode != 0 or len(r.stdout) != n:
            die(f"python_subprocess capture: {len(r.stdout)} bytes, expected {n}")

    def concurrent(self, n):
        procs = [subprocess.Popen(["seq", "1000"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for _ in range(n)]
        for p in procs:
            out, _ = p.communicate()
            if p.returncode != 0 or len(out) != SEQ_BYTES:
                die(f"python_subprocess concurrent: {len(out)} bytes")

    def rss(self):
        before = vmrss_kib()
        kids = [subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL) for _ in range(RSS_CHILDREN)]
        after = vmrss_kib()
        for k in kids:
            k.kill()
        for k in kids:
            k.wait()
        return (after - before) / RSS_CHILDREN


# ------------------------------------------------------------------ processkit_py

class ProcessKitPy:
    name = "processkit_py"
    teardown_unsupported = None

    def __init__(self):
        import processkit
        self.pk = processkit
        self.c_true = processkit.Command("/bin/true").stdout("null").stderr("null")
        self.c_small = processkit.Command("head", ["-c", str(SMALL_BYTES), "/dev/zero"])
        self.c_big = processkit.Command("head", ["-c", str(BIG_BYTES), "/dev/zero"])
        self.c_seq = processkit.Command("seq", ["1000"])
        self.c_sleep = processkit.Command("sleep", ["30"]).stdout("null").stderr("null")

    def note(self):
        from importlib.metadata import version
        hc = self.pk.host_containment()
        return (f"processkit-py {version('processkit-py')} (crate {hc.crate_version}), mechanism "
                f"{hc.mechanism}, Python {sys.version.split()[0]}")

    def spawn_wait(self):
        # exit_code() is a capture verb (it refuses null stdio), so the
        # output-less spawn + wait is start() + outcome().
        o = self.c_true.start().outcome()
        if not o.exited_zero:
            die(f"/bin/true failed: {o}")

    def capture(self, n):
        r = self.c_big.output_bytes() if n == BIG_BYTES else self.c_small.output_bytes()
        if not r.is_success or len(r.stdout) != n:
            die(f"processkit_py capture: {len(r.stdout)} bytes, expected {n}")

    def concurrent(self, n):
        results = self.pk.output_all_bytes([self.c_seq] * n, concurrency=n)
        for r in results:
            if isinstance(r, Exception):
                die(f"processkit_py concurrent: {r}")
            if not r.is_success or len(r.stdout) != SEQ_BYTES:
                die(f"processkit_py concurrent: {len(r.stdout)} bytes")

    def teardown(self):
        with self.pk.ProcessGroup() as g:
            p = g.start(self.pk.Command("sh", ["-c", TREE_SCRIPT]).stdout("null").stderr("null"))
            members = await_tree(p.pid)
            t0 = time.perf_counter_ns()
            g.kill_all()
            wait_tree_gone(members)
            us = (time.perf_counter_ns() - t0) / 1000
            p.outcome()
        reap_orphans()
        return us

    def rss(self):
        before = vmrss_kib()
        kids = [self.c_sleep.start() for _ in range(RSS_CHILDREN)]
        after = vmrss_kib()
        for k in kids:
            k.kill()
        for k in kids:
            k.outcome()
        return (after - before) / RSS_CHILDREN


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()
    if a.impl == "python_subprocess":
        impl = Subprocess()
    elif a.impl == "processkit_py":
        impl = ProcessKitPy()
    else:
        die(f"unknown impl {a.impl} (this driver has processkit_py and python_subprocess)")
    sc = a.scenario
    out = Out(sc, a.impl)
    out.text("note", impl.note())
    runs = {
        "spawn_wait_true": impl.spawn_wait,
        "capture_small": lambda: impl.capture(SMALL_BYTES),
        "capture_256MiB": lambda: impl.capture(BIG_BYTES),
        "concurrent_16": lambda: impl.concurrent(16),
        "concurrent_256": lambda: impl.concurrent(256),
    }
    if sc not in runs and sc not in ("teardown_1000", "rss_per_child"):
        die(f"unknown scenario {sc}")
    if sc == "teardown_1000":
        if impl.teardown_unsupported:
            out.text("unsupported", impl.teardown_unsupported)
            return
        become_subreaper()
    for i in range(a.warmup + a.iterations):
        record = i >= a.warmup
        if sc == "rss_per_child":
            # Warm-up: spawn /bin/true; only a process's first measured
            # iteration is a clean sample (later ones reuse freed memory).
            if not record:
                impl.spawn_wait()
            else:
                out.emit(impl.rss(), "KiB")
            continue
        if sc == "teardown_1000":
            us = impl.teardown()
        else:
            t0 = time.perf_counter_ns()
            runs[sc]()
            us = (time.perf_counter_ns() - t0) / 1000
        if record:
            out.emit(us, "us")


if __name__ == "__main__":
    main()
