"""Runs every peer driver round-robin, aggregates, and writes the report.

Called by run_peers.sh (which builds the drivers first); see README.md.

For each scenario, each round runs every implementation once (one driver
process, a few warm-up iterations, then a batch of measured ones), in an
order that rotates from round to round, so drift of the machine hits every
implementation alike. Per scenario and implementation it prints one JSON row
on stdout:

  {"scenario","impl","median_us","p90_us","ratio_to_raw","n"}      timings
  {"scenario","impl","median_kib","p90_kib","ratio_to_raw","n"}    rss_per_child
  {"scenario","impl","unsupported": why}   no such capability / not obtainable
  {"scenario","impl","failed": why}        the driver failed (stderr tail)

ratio_to_raw = median / the median of the C raw floor measured in the same
run (null where the floor is ~0, as for rss_per_child). Then it writes the
Markdown report and the PNG chart.
"""

import argparse
import datetime
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time

SCENARIOS = ["spawn_wait_true", "capture_small", "capture_256MiB", "concurrent_16", "concurrent_256",
             "teardown_1000", "rss_per_child"]

# rounds, measured iterations per driver run, warm-up iterations per driver run
PLAN_FULL = {
    "spawn_wait_true": (30, 10, 3),
    "capture_small": (30, 10, 3),
    "capture_256MiB": (6, 2, 1),
    "concurrent_16": (20, 3, 1),
    "concurrent_256": (8, 2, 1),
    "teardown_1000": (6, 1, 0),
    "rss_per_child": (12, 1, 2),
}
PLAN_QUICK = {
    "spawn_wait_true": (2, 10, 2),
    "capture_small": (2, 10, 2),
    "capture_256MiB": (1, 1, 0),
    "concurrent_16": (1, 3, 1),
    "concurrent_256": (1, 1, 0),
    "teardown_1000": (1, 1, 0),
    "rss_per_child": (1, 1, 1),
}

IMPL_ORDER = ["raw", "raw_keep", "processkit_c", "processkit_c_noguard", "processkit_c_group", "processkit_rs", "processkit_py", "processkit_go", "rust_std",
              "python_subprocess", "go_exec", "libuv", "glib"]

DESCRIPTIONS = {
    "raw": "C floor: posix_spawn + waitpid; read() loop, 64 KiB buffer (capture_* discards the bytes); killpg",
    "processkit_c": "this library: pk_command_run / pk_loop_start (private group per run), pk_group_kill",
    "raw_keep": "diagnostic: raw, but capture_* keeps every byte in a buffer grown by doubling",
    "processkit_c_noguard": "diagnostic: processkit_c with PK_GROUP_NO_OWNER_DEATH_KILL (no keeper bookkeeping)",
    "processkit_c_group": "diagnostic: one long-lived pk_loop and one shared pk_group for every run (no leaf per run)",
    "processkit_rs": "the processkit crate 0.9.2 (Cargo registry) on tokio (multi-thread runtime)",
    "processkit_py": "PyPI processkit-py 1.5.0 (the processkit crate 3.3 behind a sync Python API)",
    "processkit_go": "github.com/ZelAnton/processkit-go",
    "rust_std": "std::process::Command: status() / output() / spawn + wait_with_output",
    "python_subprocess": "subprocess.run / capture_output / Popen + communicate",
    "go_exec": "os/exec: Run() / Output(), one goroutine per child for concurrent_*",
    "libuv": "uv_spawn on uv_default_loop, uv_read_start into a doubling buffer",
    "glib": "GSubprocess: wait_check / communicate / communicate_async",
}

TIMEOUTS = {"capture_256MiB": 300, "concurrent_256": 300, "teardown_1000": 300}


def log(msg):
    print(f"run_peers: {msg}", file=sys.stderr, flush=True)


def percentile(values, p):
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))  # nearest rank
    return v[k]


def cgroup2_mount():
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                return parts[1]
    return None


def leftover_cgroups(pid):
    """Directories named processkit-PID-* under the cgroup2 mount (both the C
    library and the Rust crate name their leaves so)."""
    root = cgroup2_mount()
    found = []
    if not root:
        return found
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            if d.startswith(f"processkit-{pid}-"):
                found.append(os.path.join(dirpath, d))
    return found


def marked_processes(marker):
    """Pids of processes (other than us) whose environment carries marker."""
    pids = []
    needle = marker.encode()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(name))
        except OSError:
            pass
    return pids


class Runner:
    def __init__(self, drivers, marker):
        self.drivers = drivers  # impl -> argv prefix
        self.marker = marker
        self.samples = {}  # (scenario, impl) -> [values]
        self.units = {}
        self.notes = {}  # impl -> set of notes
        self.unsupported = {}  # (scenario, impl) -> reason
        self.failed = {}  # (scenario, impl) -> reason

    def run_driver(self, impl, scenario, iterations, warmup):
        argv = self.drivers[impl] + ["--impl", impl, "--scenario", scenario, "--iterations", str(iterations),
                                     "--warmup", str(warmup)]
        env = dict(os.environ)
        key, value = self.marker.split("=", 1)
        env[key] = value
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        try:
            out, err = p.communicate(timeout=TIMEOUTS.get(scenario, 120))
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            err += "\n(timed out)"
        problems = []
        for d in leftover_cgroups(p.pid):
            problems.append(f"cgroup leaf left behind: {d}")
            try:
                os.rmdir(d)
            except OSError:
                pass
        if p.returncode != 0:
            tail = " | ".join(err.strip().splitlines()[-3:])
            self.failed[(scenario, impl)] = f"exit {p.returncode}: {tail}"
            log(f"{scenario}/{impl} FAILED: exit {p.returncode}: {tail}")
            self.kill_marked()
        for line in out.splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                log(f"{scenario}/{impl}: unparsable line {line!r}")
                continue
            if "value" in row:
                self.samples.setdefault((scenario, impl), []).append(float(row["value"]))
                self.units[scenario] = row["unit"]
            elif "unsupported" in row:
                self.unsupported[(scenario, impl)] = row["unsupported"]
            elif "note" in row:
                self.notes.setdefault(impl, set()).add(row["note"])
        if problems:
            self.failed.setdefault((scenario, impl), "; ".join(problems))
            log(f"{scenario}/{impl}: " + "; ".join(problems))

    def kill_marked(self):
        pids = marked_processes(self.marker)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return pids

    def run(self, plan, impls, only=None):
        for scenario in SCENARIOS:
            if only and scenario not in only:
                continue
            rounds, iterations, warmup = plan[scenario]
            log(f"{scenario}: {rounds} rounds x {len(impls)} implementations "
                f"({warmup} warm-up + {iterations} measured per driver run)")
            t0 = time.monotonic()
            for r in range(rounds):
                order = impls[r % len(impls):] + impls[:r % len(impls)]
                for impl in order:
                    key = (scenario, impl)
                    if key in self.unsupported or key in self.failed:
                        continue
                    if impl == "raw_keep" and not scenario.startswith("capture"):
                        continue  # the same code as raw there
                    self.run_driver(impl, scenario, iterations, warmup)
            log(f"{scenario}: done in {time.monotonic() - t0:.1f} s")


def summarize(runner, impls, unavailable):
    rows = []
    for scenario in SCENARIOS:
        raw = runner.samples.get((scenario, "raw"))
        raw_median = statistics.median(raw) if raw else None
        unit = runner.units.get(scenario, "us")
        for impl in impls + sorted(unavailable):
            key = (scenario, impl)
            if impl in unavailable:
                rows.append({"scenario": scenario, "impl": impl, "unsupported": unavailable[impl]})
                continue
            if key in runner.failed and key not in runner.samples:
                rows.append({"scenario": scenario, "impl": impl, "failed": runner.failed[key]})
                continue
            if key in runner.unsupported:
                rows.append({"scenario": scenario, "impl": impl, "unsupported": runner.unsupported[key]})
                continue
            vals = runner.samples.get(key)
            if not vals:
                continue
            med = statistics.median(vals)
            ratio = None
            if raw_median is not None and raw_median >= (0.5 if unit == "KiB" else 1e-9):
                ratio = round(med / raw_median, 3)
            suffix = "kib" if unit == "KiB" else "us"
            row = {"scenario": scenario, "impl": impl, f"median_{suffix}": round(med, 3),
                   f"p90_{suffix}": round(percentile(vals, 90), 3), "ratio_to_raw": ratio, "n": len(vals)}
            if key in runner.failed:
                row["failed"] = runner.failed[key]
            rows.append(row)
    return rows


def machine_info():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1048576:.1f} GiB"
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu, "memory": mem}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def tool_version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
        return out.splitlines()[0] if out else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def fmt_time(us):
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 1e3:
        return f"{us / 1e3:.2f} ms"
    return f"{us:.0f} µs"


def cell(row):
    if row is None:
        return "—"
    if "unsupported" in row:
        return "not supported" if "group or tree kill" in row["unsupported"] else "not obtainable"
    if "median_us" not in row and "median_kib" not in row:
        return "failed"
    if "median_kib" in row:
        return f"{row['median_kib']:.2f} KiB"
    r = row["ratio_to_raw"]
    return f"{fmt_time(row['median_us'])} (×{r:.2f})" if r is not None else fmt_time(row["median_us"])


def verdicts(rows, impls):
    """Per scenario: is processkit_c ahead of every measured peer?"""
    out = []
    by = {(r["scenario"], r["impl"]): r for r in rows}
    for scenario in SCENARIOS:
        pk = by.get((scenario, "processkit_c"))
        if not pk or ("median_us" not in pk and "median_kib" not in pk):
            out.append(f"- **{scenario}**: processkit_c has no measurement.")
            continue
        key = "median_kib" if "median_kib" in pk else "median_us"
        unit = "KiB/child" if key == "median_kib" else ""
        mine = pk[key]
        ahead = []
        for impl in impls:
            if impl in ("raw", "raw_keep", "processkit_c", "processkit_c_noguard", "processkit_c_group"):
                continue
            r = by.get((scenario, impl))
            if r and key in r and r[key] < mine:
                ahead.append((r[key], impl))
        ahead.sort()
        if not ahead:
            out.append(f"- **{scenario}**: processkit_c is ahead of every measured peer.")
        else:
            parts = []
            for v, impl in ahead:
                if key == "median_kib":
                    parts.append(f"{impl} ({v:.2f} vs {mine:.2f} {unit})")
                else:
                    parts.append(f"{impl} (processkit_c is {mine / v:.2f}× its median)")
            out.append(f"- **{scenario}**: behind " + ", ".join(parts) + ".")
    return out


def write_markdown(path, png_name, rows, impls, unavailable, runner, meta):
    by = {(r["scenario"], r["impl"]): r for r in rows}
    shown = [i for i in IMPL_ORDER if i in impls or i in unavailable]
    L = []
    L.append("# processkit against its real peers")
    L.append("")
    L.append(f"Run finished {meta['date']} by `{meta['cmdline']}` "
             f"({meta['duration']:.0f} s). Generated file: re-running the script rewrites everything but the "
             "section between the analysis markers at the end.")
    L.append("")
    m = meta["machine"]
    L.append(f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']}, Linux {m['kernel']}; load average "
             f"{meta['load_before']} at the start, {meta['load_after']} at the end.")
    L.append(f"- Toolchains: {meta['tools']}.")
    L.append("- Reproduce: `bench/peers/run_peers.sh` (full, about 10 minutes) or `bench/peers/run_peers.sh "
             "--quick` (under a minute once built; writes to ~/.cache/processkit-peers/quick/ instead of docs/).")
    L.append("- Method: every implementation runs in its own driver process, round-robin with a rotating order "
             "(drift hits all alike); timings are taken inside the driver around the library call, warm-up "
             "iterations discarded. Ratios are to the C raw floor measured in the same run.")
    L.append("")
    L.append("## Results")
    L.append("")
    L.append("Median (× the raw floor's median). rss_per_child is the caller's VmRSS growth per live child, "
             "in KiB (the floor's is ~0, so no ratio).")
    L.append("")
    L.append("| scenario | " + " | ".join(shown) + " |")
    L.append("|---|" + "---|" * len(shown))
    for s in SCENARIOS:
        L.append(f"| {s} | " + " | ".join(cell(by.get((s, i))) for i in shown) + " |")
    L.append("")
    L.append(f"![median / raw floor per scenario]({png_name})")
    L.append("")
    L.append("## Verdict, generated from this run's medians")
    L.append("")
    L.extend(verdicts(rows, impls))
    L.append("")
    L.append("## Implementations")
    L.append("")
    L.append("| impl | what is called | versions and mechanism as reported by the driver |")
    L.append("|---|---|---|")
    for i in shown:
        notes = "; ".join(sorted(runner.notes.get(i, []))) or "—"
        L.append(f"| {i} | {DESCRIPTIONS.get(i, '')} | {notes} |")
    L.append("")
    L.append("Not measured, and why:")
    L.append("")
    for (s, i), why in sorted(runner.unsupported.items()):
        L.append(f"- {i} / {s}: {why}")
    for i, why in sorted(unavailable.items()):
        L.append(f"- {i} (all scenarios): {why}")
    for (s, i), why in sorted(runner.failed.items()):
        L.append(f"- {i} / {s} FAILED: {why}")
    L.append("")
    L.append("## Median and p90 per scenario")
    L.append("")
    L.append("| scenario | impl | median | p90 | ratio_to_raw | n |")
    L.append("|---|---|---|---|---|---|")
    for r in rows:
        if "median_us" in r:
            L.append(f"| {r['scenario']} | {r['impl']} | {fmt_time(r['median_us'])} | {fmt_time(r['p90_us'])} | "
                     f"{r['ratio_to_raw'] if r['ratio_to_raw'] is not None else '—'} | {r['n']} |")
        elif "median_kib" in r:
            L.append(f"| {r['scenario']} | {r['impl']} | {r['median_kib']:.2f} KiB | {r['p90_kib']:.2f} KiB | — | "
                     f"{r['n']} |")
    L.append("")
    analysis = "<!-- analysis:begin -->\n## Reading (written by hand)\n\n(none yet)\n<!-- analysis:end -->"
    if os.path.exists(path):
        old = open(path).read()
        mt = re.search(r"<!-- analysis:begin -->.*?<!-- analysis:end -->", old, re.S)
        if mt:
            analysis = mt.group(0)
    L.append(analysis)
    L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def write_chart(path, rows, impls, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = {(r["scenario"], r["impl"]): r for r in rows}
    shown = [i for i in IMPL_ORDER if i in impls]
    fig, axes = plt.subplots(2, 4, figsize=(18, 8.5))
    axes = axes.flatten()
    for ax, s in zip(axes, SCENARIOS):
        labels, vals, errs, colors = [], [], [], []
        for i in shown:
            r = by.get((s, i))
            labels.append(i)
            if r and "median_kib" in r:
                vals.append(r["median_kib"])
                errs.append(max(0.0, r["p90_kib"] - r["median_kib"]))
            elif r and "median_us" in r and r["ratio_to_raw"] is not None:
                vals.append(r["ratio_to_raw"])
                errs.append(max(0.0, r["p90_us"] / r["median_us"] * r["ratio_to_raw"] - r["ratio_to_raw"]))
            else:
                vals.append(0)
                errs.append(0)
            colors.append("#d62728" if i == "processkit_c" else "#f4a582" if i.startswith("processkit_c_") else
                          "#7f7f7f" if i.startswith("raw") else "#1f77b4")
        y = range(len(labels))
        ax.barh(list(y), vals, xerr=[[0] * len(errs), errs], color=colors, error_kw={"elinewidth": 0.8, "capsize": 2})
        ax.set_yticks(list(y))
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        for k, v in enumerate(vals):
            r = by.get((s, labels[k]))
            if r is None or ("median_us" not in r and "median_kib" not in r):
                txt = "not supported" if r and "unsupported" in r and "tree kill" in r["unsupported"] else (
                    "n/a" if r is None or "unsupported" in r else "failed")
                ax.text(0, k, " " + txt, va="center", fontsize=7, color="#555555")
            else:
                ax.text(v + errs[k], k, f" {v:.2f}", va="center", fontsize=7)
        if s == "rss_per_child":
            ax.set_xlabel("KiB of caller RSS per live child (median, whisker p90)", fontsize=8)
        else:
            ax.axvline(1.0, color="black", linewidth=0.6, linestyle="--")
            ax.set_xlabel("median / raw floor (whisker: p90)", fontsize=8)
        ax.set_title(s, fontsize=10)
        ax.margins(x=0.25)
    axes[-1].axis("off")
    axes[-1].text(0.0, 0.5, title, fontsize=9, va="center", ha="left", transform=axes[-1].transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--bin-dir")
    ap.add_argument("--python")
    ap.add_argument("--python-driver")
    ap.add_argument("--state", help="save the run's data here (JSON)")
    ap.add_argument("--rerender", metavar="STATE",
                    help="run nothing: rewrite --md and --png from a state a run saved")
    ap.add_argument("--md", required=True)
    ap.add_argument("--png", required=True)
    ap.add_argument("--unavailable", action="append", default=[], help="IMPL=reason")
    ap.add_argument("--tools", default="")
    ap.add_argument("--cmdline", default="bench/peers/run_peers.sh")
    ap.add_argument("--only", action="append", help="run only these scenarios")
    ap.add_argument("--diagnostics", action="store_true",
                    help="add raw_keep (capture_*) and processkit_c_group to the round-robin")
    a = ap.parse_args()
    if a.rerender:
        with open(a.rerender) as f:
            render(json.load(f), a.md, a.png)
        log(f"rewrote {a.md} and {a.png} from {a.rerender}")
        return 0
    if not (a.bin_dir and a.python and a.python_driver):
        ap.error("--bin-dir, --python and --python-driver are required to run")

    b = a.bin_dir
    drivers = {
        "raw": [f"{b}/pk_driver"],
        "processkit_c": [f"{b}/pk_driver"],
        "processkit_rs": [f"{b}/rust_driver"],
        "processkit_py": [a.python, a.python_driver],
        "rust_std": [f"{b}/rust_driver"],
        "python_subprocess": [a.python, a.python_driver],
        "go_exec": [f"{b}/go_driver"],
        "libuv": [f"{b}/c_peers_driver"],
        "glib": [f"{b}/c_peers_driver"],
    }
    if a.diagnostics:
        drivers["raw_keep"] = [f"{b}/pk_driver"]
        drivers["processkit_c_group"] = [f"{b}/pk_driver"]
    unavailable = dict(u.split("=", 1) for u in a.unavailable)
    for impl in unavailable:
        drivers.pop(impl, None)
    impls = [i for i in IMPL_ORDER if i in drivers]
    marker = f"PK_PEERS_BENCH_RUN={os.getpid()}-{int(time.time())}"
    runner = Runner(drivers, marker)

    def on_signal(sig, frame):
        killed = runner.kill_marked()
        log(f"interrupted; killed {len(killed)} leftover processes")
        sys.exit(130)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    start = time.monotonic()
    load_before = loadavg()
    runner.run(PLAN_QUICK if a.quick else PLAN_FULL, impls, a.only)
    left = runner.kill_marked()
    if left:
        log(f"killed {len(left)} processes the drivers left behind: {left[:20]}")
    rows = summarize(runner, impls, unavailable)
    for r in rows:
        print(json.dumps(r))
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": a.quick,
        "duration": time.monotonic() - start,
        "machine": machine_info(),
        "load_before": load_before,
        "load_after": loadavg(),
        "tools": a.tools,
        "cmdline": a.cmdline,
    }
    state = {
        "meta": meta, "rows": rows, "impls": impls, "unavailable": unavailable,
        "notes": {k: sorted(v) for k, v in runner.notes.items()},
        "unsupported": [[s_, i, w] for (s_, i), w in runner.unsupported.items()],
        "failed": [[s_, i, w] for (s_, i), w in runner.failed.items()],
        "samples": [[s_, i, v] for (s_, i), v in runner.samples.items()],
    }
    if a.state:
        with open(a.state, "w") as f:
            json.dump(state, f)
    render(state, a.md, a.png)
    log(f"wrote {a.md} and {a.png} ({meta['duration']:.0f} s)")
    return 1 if runner.failed else 0


class _Saved:
    """The parts of a Runner the report needs, from a saved state."""

    def __init__(self, state):
        self.notes = {k: set(v) for k, v in state["notes"].items()}
        self.unsupported = {(s, i): w for s, i, w in state["unsupported"]}
        self.failed = {(s, i): w for s, i, w in state["failed"]}


def render(state, md, png):
    meta, rows, impls, unavailable = state["meta"], state["rows"], state["impls"], state["unavailable"]
    write_markdown(md, os.path.basename(png), rows, impls, unavailable, _Saved(state), meta)
    m = meta["machine"]
    write_chart(png, rows, impls,
                f"processkit peers, {meta['date']}\n{m['nproc']} CPUs, {m['cpu']}, Linux {m['kernel']}\n"
                f"load {meta['load_before']} -> {meta['load_after']}\n"
                f"{'quick run' if meta['quick'] else 'full run'}; red = processkit_c, grey = raw floor\n"
                + "".join(f"{i}: not obtainable (see the .md)\n" for i in sorted(unavailable)))


if __name__ == "__main__":
    sys.exit(main())
