//! Pipelines and readiness probes (the same scenarios in every binding).
//!
//! The tests of this binary run one at a time (a lock), and each ends by
//! checking that nothing is left behind: no child of this process (but the
//! library's pk-keeper) and no processkit cgroup of this process.
mod common;

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::{is_dead, start_time};
use processkit_c::{
    host_probe, Backend, CancelToken, Command, ErrorCode, Loop, Outcome, Pipeline, ReadyKind, ReadyOutcome, Redirect,
    Stream,
};

static SERIAL: Mutex<()> = Mutex::new(());

/// Serializes the tests; on drop (also when a test failed) checks for leftovers.
struct Clean(#[allow(dead_code)] MutexGuard<'static, ()>);

fn clean() -> Clean {
    Clean(SERIAL.lock().unwrap_or_else(|e| e.into_inner()))
}

impl Drop for Clean {
    fn drop(&mut self) {
        if thread::panicking() {
            return;
        }
        let t = Instant::now();
        loop {
            let (children, cgroups) = (children(), our_cgroups());
            if children.is_empty() && cgroups.is_empty() {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "left behind: children {:?}, cgroups {:?}",
                children,
                cgroups
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Unreaped children of this process (zombies included), but the keeper.
fn children() -> Vec<(i32, String)> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().into_string().unwrap_or_default();
        let Ok(pid) = name.parse::<i32>() else { continue };
        let Ok(stat) = fs::read_to_string(format!("/proc/{}/stat", pid)) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if fields.get(1) == Some(&me.as_str()) && !stat.contains("(pk-keeper)") {
            out.push((pid, stat[..close + 1].to_string()));
        }
    }
    out
}

/// This process's processkit cgroup directories (processkit-PID-*).
fn our_cgroups() -> Vec<String> {
    let mount = host_probe(Backend::CgroupV2).map(|c| c.cgroup_mount).unwrap_or_default();
    let mount = if mount.is_empty() { "/sys/fs/cgroup".to_string() } else { mount };
    let prefix = format!("processkit-{}-", std::process::id());
    let mut out = Vec::new();
    let mut dirs = vec![Path::new(&mount).to_path_buf()];
    if let Ok(rd) = fs::read_dir(&mount) {
        dirs.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for d in dirs {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

#[test]
fn three_stage_pipeline() {
    let _c = clean();
    let out = Pipeline::new()
        .stage(Command::new("printf").arg("b\\na\\n"))
        .stage(&Command::new("sort"))
        .stage(Command::new("tr").args(["a-z", "A-Z"]))
        .timeout(Duration::from_secs(30), 0, Duration::from_secs(1))
        .output()
        .expect("pipeline");
    assert_eq!(out.stdout, b"A\nB\n");
    assert!(out.success);
    assert_eq!((out.outcome, out.exit_code, out.failed_stage), (Outcome::Exited, Some(0), None));
    assert_eq!(out.stages.len(), 3);
    assert!(out.stages.iter().all(|s| s.success && s.exit_code == Some(0)));
    assert_eq!(out.stages[2].pid, out.pid);
    assert_eq!(out.mechanism.name(), "cgroup-v2");
    assert!(out.check().is_ok());
    // A single run has no stages.
    let single = Command::new("true").output().expect("true");
    assert!(single.stages.is_empty() && single.failed_stage.is_none());
}

#[test]
fn failing_middle_stage_is_attributed() {
    let _c = clean();
    let first = cmd("printf", &["x\\n"]);
    let middle = cmd("sh", &["-c", "cat >/dev/null; exit 4"]);
    let last = Command::new("cat");
    let out = Pipeline::new().stage(&first).stage(&middle).stage(&last).output().expect("pipeline");
    assert_eq!(out.failed_stage, Some(1));
    assert_eq!((out.outcome, out.exit_code, out.success), (Outcome::Exited, Some(4), false));
    let codes: Vec<_> = out.stages.iter().map(|s| s.exit_code).collect();
    assert_eq!(codes, [Some(0), Some(4), Some(0)]);
    assert_eq!(out.pid, out.stages[1].pid);
    let err = out.check().unwrap_err();
    assert_eq!(err.code, ErrorCode::Failed);
    assert!(err.message.contains("stage 2 of 3"), "{}", err.message);

    // Unchecked: its failure does not fail the pipeline.
    let out = Pipeline::new().stage(&first).unchecked_stage(&middle).stage(&last).run_checked().expect("unchecked");
    assert_eq!((out.failed_stage, out.stages[1].exit_code), (None, Some(4)));
}

#[test]
fn sigpipe_fails_only_when_asked() {
    let _c = clean();
    let (yes, head) = (Command::new("yes"), cmd("head", &["-n", "2"]));
    let out = Pipeline::new().stage(&yes).stage(&head).output().expect("pipeline");
    assert_eq!(out.stdout, b"y\ny\n");
    assert!(out.success && out.failed_stage.is_none());
    assert_eq!((out.stages[0].outcome, out.stages[0].signal), (Outcome::Signalled, Some(13)));
    let out = Pipeline::new().stage(&yes).stage(&head).sigpipe_fails(true).output().expect("pipeline");
    assert_eq!((out.failed_stage, out.success), (Some(0), false));
}

#[test]
fn pipeline_input_timeout_cancel_and_errors() {
    let _c = clean();
    // The first stage's stdin and a stage's own settings are the commands'.
    let mut cat = Command::new("cat");
    cat.stdin_bytes(b"one\ntwo\n".to_vec());
    let mut grep = cmd("sh", &["-c", "grep \"$WANT\"; echo oops >&2"]);
    grep.env("WANT", "two").stderr(Redirect::Null);
    let out = Pipeline::new().stage(&cat).stage(&grep).output().expect("pipeline");
    assert_eq!(out.stdout, b"two\n");

    // The timeout bounds the whole pipeline.
    let t = Instant::now();
    let out = Pipeline::new()
        .stage(&cmd("sleep", &["30"]))
        .stage(&Command::new("cat"))
        .timeout(Duration::from_millis(300), 0, Duration::from_millis(200))
        .output()
        .expect("pipeline");
    assert!(out.timed_out() && !out.success);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(out.check().unwrap_err().code, ErrorCode::Timeout);

    // Cancellation after the first stage ended still ends the pipeline.
    let token = CancelToken::new().expect("token");
    let t2 = token.clone();
    let trigger = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        t2.trigger().expect("trigger");
    });
    let t = Instant::now();
    let out = Pipeline::new()
        .stage(&Command::new("true"))
        .stage(&cmd("sleep", &["30"]))
        .cancel_on(&token)
        .output()
        .expect("pipeline");
    trigger.join().unwrap();
    assert_eq!(out.outcome, Outcome::Cancelled);
    assert!(t.elapsed() < Duration::from_secs(10), "cancel took {:?}", t.elapsed());

    // Errors: no stages, a program not found.
    assert_eq!(Pipeline::new().output().unwrap_err().code, ErrorCode::Invalid);
    let err = Pipeline::new()
        .stage(&Command::new("true"))
        .stage(&Command::new("no-such-program-processkit"))
        .output()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
}

#[test]
fn wait_for_line_when_the_child_gets_ready() {
    let _c = clean();
    let lp = Loop::new().expect("loop");
    let p = lp.start(&cmd("sh", &["-c", "echo starting; sleep 0.3; echo ready; sleep 30"])).expect("start");
    let t = Instant::now();
    p.wait_for_line(None, "ready", false, Some(Duration::from_secs(10))).expect("ready");
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(5), "{:?}", waited);
    assert!(!p.is_done().unwrap());
    // Lines seen before count; a regex; one stream only.
    p.wait_for_line(Some(Stream::Stdout), "^re+ady$", true, Some(Duration::ZERO)).expect("regex");
    let err = p.wait_for_line(Some(Stream::Stderr), "ready", false, Some(Duration::from_millis(100))).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotReady);
    let err = p.wait_for_line(None, "(", true, Some(Duration::from_millis(100))).unwrap_err();
    assert_eq!(err.code, ErrorCode::Invalid);
    p.cancel().expect("cancel");
    assert!(lp.wait_all(&[&p], Some(Duration::from_secs(10))).unwrap());
    let out = p.result().unwrap();
    assert_eq!(out.outcome, Outcome::Cancelled);
    assert_eq!(out.stdout, b"starting\nready\n"); // probed lines still reach the capture
}

#[test]
fn wait_for_line_not_ready_leaves_the_child_running() {
    let _c = clean();
    let lp = Loop::new().expect("loop");
    let p = lp.start(&cmd("sh", &["-c", "echo starting; sleep 30"])).expect("start");
    let start = start_time(p.pid());
    let t = Instant::now();
    let err = p.wait_for_line(None, "ready", false, Some(Duration::from_millis(300))).unwrap_err();
    assert!(t.elapsed() >= Duration::from_millis(250));
    assert_eq!(err.code, ErrorCode::NotReady);
    assert_eq!(err.raw_code(), -17);
    assert!(err.message.contains("not ready") && err.message.contains("starting"), "{}", err.message);
    // Not killed by the probe.
    assert!(!p.is_done().unwrap());
    assert!(!is_dead(p.pid(), start));
    p.cancel().expect("cancel");
    assert!(lp.wait_all(&[&p], Some(Duration::from_secs(10))).unwrap());
    assert_eq!(p.result().unwrap().outcome, Outcome::Cancelled);

    // A run that ends first is not ready either.
    let q = lp.start(&cmd("sh", &["-c", "echo bye"])).expect("start");
    let err = q.wait_for_line(None, "ready", false, Some(Duration::from_secs(10))).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotReady);
    assert!(err.message.contains("the run ended") && err.message.contains("bye"), "{}", err.message);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn wait_for_port() {
    let _c = clean();
    let lp = Loop::new().expect("loop");
    let p = lp.start(&cmd("sleep", &["30"])).expect("start");
    // The port opens 0.3 s in.
    let port = free_port();
    let listener = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        TcpListener::bind(("127.0.0.1", port)).expect("bind")
    });
    let t = Instant::now();
    let res = p.wait_for_port(port, Some(Duration::from_secs(10)));
    let l = listener.join().unwrap();
    res.expect("port ready");
    assert!(t.elapsed() >= Duration::from_millis(200));
    drop(l);

    let err = p.wait_for_port(free_port(), Some(Duration::from_millis(300))).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotReady);
    assert!(err.message.contains("127.0.0.1:"), "{}", err.message);
    assert_eq!(p.wait_for_port(0, None).unwrap_err().code, ErrorCode::Invalid);
    assert!(!p.is_done().unwrap());
    p.cancel().expect("cancel");
    assert!(lp.wait_all(&[&p], Some(Duration::from_secs(10))).unwrap());
}

#[test]
fn readiness_reports_the_last_probe() {
    let _c = clean();
    let lp = Loop::new().expect("loop");
    let p = lp.start(&cmd("sh", &["-c", "echo starting; echo ready; sleep 30"])).expect("start");
    let r = p.readiness().expect("readiness");
    assert_eq!((r.kind, r.outcome, r.port, r.lines_seen), (ReadyKind::None, ReadyOutcome::Pending, None, 0));
    assert_eq!((r.waited, r.last_line.as_str()), (Duration::ZERO, ""));

    // Met: a line probe, on either stream, with the line that matched.
    p.wait_for_line(None, "ready", false, Some(Duration::from_secs(10))).expect("ready");
    let r = p.readiness().expect("readiness");
    assert_eq!((r.kind, r.outcome, r.stream), (ReadyKind::Line, ReadyOutcome::Met, None));
    assert_eq!(r.last_line, "ready");
    assert!(r.lines_seen >= 2, "{:?}", r);

    // Timed out, on one stream: what it saw is data, not just a message.
    let t = Instant::now();
    let err = p.wait_for_line(Some(Stream::Stderr), "ready", false, Some(Duration::from_millis(300))).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotReady);
    let r = p.readiness().expect("readiness");
    assert_eq!((r.kind, r.outcome, r.stream), (ReadyKind::Line, ReadyOutcome::TimedOut, Some(Stream::Stderr)));
    assert!(r.waited >= Duration::from_millis(250) && r.waited <= t.elapsed(), "{:?}", r);

    // A port probe.
    let port = free_port();
    let err = p.wait_for_port(port, Some(Duration::from_millis(200))).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotReady);
    let r = p.readiness().expect("readiness");
    assert_eq!((r.kind, r.outcome, r.port, r.stream), (ReadyKind::Port, ReadyOutcome::TimedOut, Some(port), None));
    assert_eq!((r.lines_seen, r.last_line.as_str()), (0, ""));

    // Woken: another thread wakes the loop; the probe ends, the run goes on.
    let waker = lp.waker();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    let th = thread::spawn(move || {
        while !s.load(std::sync::atomic::Ordering::SeqCst) {
            waker.wake().expect("wake");
            thread::sleep(Duration::from_millis(20));
        }
    });
    let res = p.wait_for_line(None, "never printed", false, None);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    th.join().unwrap();
    assert_eq!(res.unwrap_err().code, ErrorCode::Cancelled);
    let r = p.readiness().expect("readiness");
    assert_eq!((r.kind, r.outcome, r.outcome.name()), (ReadyKind::Line, ReadyOutcome::Woken, "woken"));
    assert!(!p.is_done().unwrap());

    // The run ended first.
    p.cancel().expect("cancel");
    assert!(lp.wait_all(&[&p], Some(Duration::from_secs(10))).unwrap());
    let q = lp.start(&cmd("sh", &["-c", "echo bye"])).expect("start");
    let err = q.wait_for_line(None, "ready", false, Some(Duration::from_secs(10))).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotReady);
    let r = q.readiness().expect("readiness");
    assert_eq!((r.kind, r.outcome, r.last_line.as_str()), (ReadyKind::Line, ReadyOutcome::RunEnded, "bye"));
}
