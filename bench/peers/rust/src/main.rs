//! The peer benchmarks' Rust driver: the `processkit` crate 0.9.2 (impl
//! `processkit_rs`, on a multi-threaded tokio runtime as `#[tokio::main]`
//! builds it) and `std::process::Command` (impl `rust_std`).
//!
//!   rust_driver --impl processkit_rs|rust_std --scenario NAME --iterations N [--warmup K]
//!
//! Protocol and scenarios: bench/peers/c/peer_common.h (one JSON object per
//! line: a sample, an "unsupported" reason, or a note).

use std::fs;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use processkit::{Command as PkCommand, ProcessGroup, StdioMode};

const BIG_BYTES: usize = 268_435_456;
const SMALL_BYTES: usize = 1024;
const SEQ_BYTES: usize = 3893;
const TREE_SIZE: usize = 1000;
const RSS_CHILDREN: usize = 100;
const TREE_SCRIPT: &str = "for i in $(seq 1000); do sleep 600 & done; wait";

struct Args {
    imp: String,
    scenario: String,
    iterations: usize,
    warmup: usize,
}

fn die(msg: &str) -> ! {
    eprintln!("driver: error: {msg}");
    std::process::exit(1);
}

fn parse_args() -> Args {
    let mut a = Args { imp: String::new(), scenario: String::new(), iterations: 10, warmup: 1 };
    let v: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_else(|| die("missing value"));
        match v[i].as_str() {
            "--impl" => a.imp = val,
            "--scenario" => a.scenario = val,
            "--iterations" => a.iterations = val.parse().unwrap_or_else(|_| die("bad --iterations")),
            "--warmup" => a.warmup = val.parse().unwrap_or_else(|_| die("bad --warmup")),
            other => die(&format!("unknown argument {other}")),
        }
        i += 2;
    }
    if a.imp.is_empty() || a.scenario.is_empty() {
        die("usage: rust_driver --impl NAME --scenario NAME --iterations N [--warmup K]");
    }
    a
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {}
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn emit(a: &Args, value: f64, unit: &str) {
    println!(
        "{{\"scenario\":{},\"impl\":{},\"value\":{:.3},\"unit\":\"{}\"}}",
        json_str(&a.scenario),
        json_str(&a.imp),
        value,
        unit
    );
    std::io::stdout().flush().ok();
}

fn emit_text(a: &Args, key: &str, text: &str) {
    println!("{{\"scenario\":{},\"impl\":{},\"{}\":{}}}", json_str(&a.scenario), json_str(&a.imp), key, json_str(text));
    std::io::stdout().flush().ok();
}

// ------------------------------------------------------------------ /proc

struct Stat {
    ppid: i32,
    state: char,
    comm: String,
    starttime: u64,
}

fn read_stat(pid: i32) -> Option<Stat> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_string();
    let rest: Vec<&str> = s[close + 2..].split(' ').collect();
    // rest[0] = state (field 3), rest[1] = ppid (4), rest[19] = starttime (22)
    Some(Stat {
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        comm,
        starttime: rest.get(19)?.parse().ok()?,
    })
}

fn vmrss_kib() -> i64 {
    let s = fs::read_to_string("/proc/self/status").unwrap_or_else(|e| die(&format!("/proc/self/status: {e}")));
    for line in s.lines() {
        if let Some(v) = line.strip_prefix("VmRSS:") {
            return v.trim().trim_end_matches("kB").trim().parse().unwrap_or_else(|_| die("bad VmRSS"));
        }
    }
    die("no VmRSS")
}

/// The shell and its TREE_SIZE `sleep` children, with start times.
fn await_tree(shell: i32) -> Vec<(i32, u64)> {
    let st = read_stat(shell).unwrap_or_else(|| die("teardown: the shell is gone"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut members = vec![(shell, st.starttime)];
        let mut sleeping = 0;
        for e in fs::read_dir("/proc").unwrap_or_else(|e| die(&format!("/proc: {e}"))).flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Some(s) = read_stat(pid) else { continue };
            if s.ppid != shell {
                continue;
            }
            members.push((pid, s.starttime));
            if s.comm == "sleep" && s.state != 'Z' {
                sleeping += 1;
            }
        }
        if members.len() == TREE_SIZE + 1 && sleeping == TREE_SIZE {
            return members;
        }
        if Instant::now() >= deadline {
            die(&format!("teardown: {} children ({sleeping} running sleep)", members.len() - 1));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn member_running(m: &(i32, u64)) -> bool {
    match read_stat(m.0) {
        Some(s) if s.starttime == m.1 => s.state != 'Z' && s.state != 'X',
        _ => false,
    }
}

fn wait_tree_gone(members: &[(i32, u64)]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut cursor = 0;
    loop {
        while cursor < members.len() && !member_running(&members[cursor]) {
            cursor += 1;
        }
        if cursor == members.len() {
            return;
        }
        if Instant::now() >= deadline {
            die(&format!("teardown: member {} still running 30 s after the kill", members[cursor].0));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn reap_orphans() {
    // SAFETY: plain waitpid on any exited child; only called once no library
    // still has a child of its own to reap.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

fn become_subreaper() {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        die("prctl(PR_SET_CHILD_SUBREAPER) failed");
    }
}

// ------------------------------------------------------------------ rust_std

fn std_spawn_wait() {
    let st = std::process::Command::new("/bin/true").status().unwrap_or_else(|e| die(&format!("spawn: {e}")));
    if !st.success() {
        die("/bin/true failed");
    }
}

fn std_capture(bytes: usize) {
    let out = std::process::Command::new("head")
        .args(["-c", &bytes.to_string(), "/dev/zero"])
        .output()
        .unwrap_or_else(|e| die(&format!("spawn: {e}")));
    if !out.status.success() || out.stdout.len() != bytes {
        die(&format!("rust_std capture: {} bytes, expected {bytes}", out.stdout.len()));
    }
}

fn std_concurrent(n: usize) {
    let children: Vec<_> = (0..n)
        .map(|_| {
            std::process::Command::new("seq")
                .arg("1000")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| die(&format!("spawn: {e}")))
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap_or_else(|e| die(&format!("wait: {e}")));
        if !out.status.success() || out.stdout.len() != SEQ_BYTES {
            die(&format!("rust_std concurrent: {} bytes", out.stdout.len()));
        }
    }
}

fn std_rss() -> f64 {
    let before = vmrss_kib();
    let mut kids: Vec<_> = (0..RSS_CHILDREN)
        .map(|_| {
            std::process::Command::new("sleep")
                .arg("30")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| die(&format!("spawn: {e}")))
        })
        .collect();
    let after = vmrss_kib();
    for k in &mut kids {
        let _ = k.kill();
    }
    for k in &mut kids {
        let _ = k.wait();
    }
    (after - before) as f64 / RSS_CHILDREN as f64
}

// ------------------------------------------------------------------ processkit_rs

fn pk_err(e: processkit::Error) -> ! {
    die(&format!("processkit: {e}"))
}

async fn pk_spawn_wait() {
    // exit_code() is a capture verb in 0.9.2 (it refuses Null stdio), so the
    // output-less spawn + wait is start() + wait().
    let rp = PkCommand::new("/bin/true")
        .stdout(StdioMode::Null)
        .stderr(StdioMode::Null)
        .start()
        .await
        .unwrap_or_else(|e| pk_err(e));
    let outcome = rp.wait().await.unwrap_or_else(|e| pk_err(e));
    if !matches!(outcome, processkit::Outcome::Exited(0)) {
        die(&format!("/bin/true failed: {outcome:?}"));
    }
}

async fn pk_capture(bytes: usize) {
    let r = PkCommand::new("head")
        .args(["-c", &bytes.to_string(), "/dev/zero"])
        .output_bytes()
        .await
        .unwrap_or_else(|e| pk_err(e));
    if !r.is_success() || r.stdout().len() != bytes {
        die(&format!("processkit_rs capture: {} bytes, expected {bytes}", r.stdout().len()));
    }
}

async fn pk_concurrent(n: usize) {
    let cmd = PkCommand::new("seq").arg("1000");
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let c = cmd.clone();
            tokio::spawn(async move { c.output_bytes().await })
        })
        .collect();
    for t in tasks {
        let r = t.await.unwrap_or_else(|e| die(&format!("join: {e}"))).unwrap_or_else(|e| pk_err(e));
        if !r.is_success() || r.stdout().len() != SEQ_BYTES {
            die(&format!("processkit_rs concurrent: {} bytes", r.stdout().len()));
        }
    }
}

async fn pk_teardown() -> f64 {
    let group = ProcessGroup::new().unwrap_or_else(|e| pk_err(e));
    let cmd = PkCommand::new("sh").args(["-c", TREE_SCRIPT]).stdout(StdioMode::Null).stderr(StdioMode::Null);
    let rp = group.start(&cmd).await.unwrap_or_else(|e| pk_err(e));
    let shell = rp.pid().unwrap_or_else(|| die("no pid")) as i32;
    let members = await_tree(shell);
    let t0 = Instant::now();
    group.terminate_all().unwrap_or_else(|e| pk_err(e));
    wait_tree_gone(&members);
    let us = t0.elapsed().as_secs_f64() * 1e6;
    let _ = rp.wait().await;
    drop(group);
    reap_orphans();
    us
}

async fn pk_rss() -> f64 {
    let cmd = PkCommand::new("sleep").arg("30").stdout(StdioMode::Null).stderr(StdioMode::Null);
    let before = vmrss_kib();
    let mut kids = Vec::with_capacity(RSS_CHILDREN);
    for _ in 0..RSS_CHILDREN {
        kids.push(cmd.start().await.unwrap_or_else(|e| pk_err(e)));
    }
    let after = vmrss_kib();
    for k in &mut kids {
        let _ = k.start_kill();
    }
    for k in kids {
        let _ = k.wait().await;
    }
    (after - before) as f64 / RSS_CHILDREN as f64
}

// ------------------------------------------------------------------ main

fn main() {
    let a = parse_args();
    let pk = match a.imp.as_str() {
        "processkit_rs" => true,
        "rust_std" => false,
        other => die(&format!("unknown impl {other} (this driver has processkit_rs and rust_std)")),
    };
    let sc = a.scenario.as_str();
    let known = ["spawn_wait_true", "capture_small", "capture_256MiB", "concurrent_16", "concurrent_256", "teardown_1000", "rss_per_child"];
    if !known.contains(&sc) {
        die(&format!("unknown scenario {sc}"));
    }
    if !pk {
        emit_text(&a, "note", "std::process::Command");
        if sc == "teardown_1000" {
            emit_text(
                &a,
                "unsupported",
                "std::process has no group or tree kill: Child::kill signals the direct child only \
                 (CommandExt::process_group only sets the pgid at spawn; killing the group takes libc::killpg)",
            );
            return;
        }
    }
    let rt = pk.then(|| {
        tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| die(&format!("tokio: {e}")))
    });
    if let Some(rt) = &rt {
        let mech = rt.block_on(async { ProcessGroup::new().map(|g| g.mechanism()) }).unwrap_or_else(|e| pk_err(e));
        emit_text(&a, "note", &format!("processkit 0.9.2, mechanism {mech:?}"));
    }
    if sc == "teardown_1000" {
        become_subreaper();
    }
    for i in 0..a.warmup + a.iterations {
        let record = i >= a.warmup;
        if sc == "rss_per_child" {
            // Warm-up: spawn /bin/true (runtime and allocator initialised);
            // only the first measured iteration of a process is a clean sample.
            if !record {
                match &rt {
                    Some(rt) => rt.block_on(pk_spawn_wait()),
                    None => std_spawn_wait(),
                }
                continue;
            }
            let kib = match &rt {
                Some(rt) => rt.block_on(pk_rss()),
                None => std_rss(),
            };
            emit(&a, kib, "KiB");
            continue;
        }
        if sc == "teardown_1000" {
            let us = rt.as_ref().unwrap().block_on(pk_teardown());
            if record {
                emit(&a, us, "us");
            }
            continue;
        }
        let t0 = Instant::now();
        match &rt {
            Some(rt) => rt.block_on(async {
                match sc {
                    "spawn_wait_true" => pk_spawn_wait().await,
                    "capture_small" => pk_capture(SMALL_BYTES).await,
                    "capture_256MiB" => pk_capture(BIG_BYTES).await,
                    "concurrent_16" => pk_concurrent(16).await,
                    _ => pk_concurrent(256).await,
                }
            }),
            None => match sc {
                "spawn_wait_true" => std_spawn_wait(),
                "capture_small" => std_capture(SMALL_BYTES),
                "capture_256MiB" => std_capture(BIG_BYTES),
                "concurrent_16" => std_concurrent(16),
                _ => std_concurrent(256),
            },
        }
        let us = t0.elapsed().as_secs_f64() * 1e6;
        if record {
            emit(&a, us, "us");
        }
    }
    if sc == "teardown_1000" {
        reap_orphans();
    }
}
