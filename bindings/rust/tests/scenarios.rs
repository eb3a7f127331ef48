//! The scenarios every processkit binding tests (a-e here; f, the async
//! flavour, in async_loop.rs), plus the Rust layer's own checks.
mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{start_time, wait_dead, TempPath};
use processkit_c::{
    host_probe, signal, sys, Backend, Command, ErrorCode, ExitStatus, Group, GroupOptions, Input, Loop, Mechanism,
    Outcome, Overflow, Redirect, ShutdownOptions,
};

const DEAD_WITHIN: Duration = Duration::from_secs(10);

// a. Dropping a group kills the child and the grandchild it left behind.
#[test]
fn a_drop_group_kills_child_and_grandchild() {
    let pidfile = TempPath::new("a");
    let group = Group::new().expect("group");
    let cgroup_path = group.containment().expect("containment").cgroup_path;
    let script = format!("sleep 30 & echo $! > '{}'; wait", pidfile.as_str());
    let child = group.spawn(&["sh", "-c", &script]).expect("spawn");
    let grandchild = pidfile.read_pid(Duration::from_secs(10));
    let (child_start, grandchild_start) = (start_time(child.pid()), start_time(grandchild));
    assert!(group.members().expect("members").contains(&grandchild));

    drop(group);

    assert!(wait_dead(child.pid(), child_start, DEAD_WITHIN), "child {} survived", child.pid());
    assert!(wait_dead(grandchild, grandchild_start, DEAD_WITHIN), "grandchild {} survived", grandchild);
    // The child handle outlives the group and reports how it died.
    assert_eq!(child.wait().expect("wait").signal(), Some(signal::SIGKILL));
    if !cgroup_path.is_empty() {
        assert!(!Path::new(&cgroup_path).exists(), "cgroup leaf {} left behind", cgroup_path);
    }
}

// a, on the process-group backend, with an explicit close and kill.
#[test]
fn a_process_group_backend_close_kills_tree() {
    let pidfile = TempPath::new("a-pg");
    let group = Group::builder().backend(Backend::ProcessGroup).create().expect("group");
    let script = format!("sleep 30 & echo $! > '{}'; wait", pidfile.as_str());
    let child = group.spawn(&["sh", "-c", &script]).expect("spawn");
    let grandchild = pidfile.read_pid(Duration::from_secs(10));
    let (child_start, grandchild_start) = (start_time(child.pid()), start_time(grandchild));
    group.kill().expect("kill");
    group.close().expect("close");
    assert!(wait_dead(child.pid(), child_start, DEAD_WITHIN));
    assert!(wait_dead(grandchild, grandchild_start, DEAD_WITHIN));
}

#[test]
fn child_wait_and_exit_status() {
    let group = Group::new().expect("group");
    let child = group.spawn(&["sh", "-c", "exit 7"]).expect("spawn");
    assert_eq!(child.wait().expect("wait"), ExitStatus::Exited(7));
    // Once reaped, the same status every time.
    assert_eq!(child.try_wait().expect("try_wait"), Some(ExitStatus::Exited(7)));

    let sleeper = group.spawn(&["sleep", "30"]).expect("spawn");
    assert_eq!(sleeper.wait_timeout(Duration::from_millis(50)).expect("wait"), None);
    sleeper.signal(signal::SIGTERM).expect("signal");
    assert_eq!(sleeper.wait().expect("wait").signal(), Some(signal::SIGTERM));
}

#[test]
fn group_shutdown_reports() {
    let group = Group::new().expect("group");
    let _c = group.spawn(&["sleep", "30"]).expect("spawn");
    let report =
        group.shutdown(ShutdownOptions { grace: Duration::from_secs(5), ..Default::default() }).expect("shutdown");
    assert!(report.members_before >= 1);
    assert_eq!(report.members_after, 0);
    assert!(report.drained);
    assert!(!report.escalated);
    assert_eq!(group.stats().expect("stats").live_processes, 0);
}

// b. Capture stdout and stderr and get the exit code; a non-zero exit is data.
#[test]
fn b_output_captures_and_nonzero_exit_is_data() {
    let out = Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]).output().expect("output");
    assert_eq!(out.outcome, Outcome::Exited);
    assert_eq!(out.exit_code, Some(3));
    assert_eq!(out.status(), Some(ExitStatus::Exited(3)));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert!(!out.success);
    assert!(out.pid > 0);

    // Asking for success turns it into the library's error.
    let err = out.clone().check().expect_err("exit 3 is a failure");
    assert_eq!(err.code, ErrorCode::Failed);
    assert!(!err.message.is_empty());
    assert!(err.message.contains("sh"), "message names the program: {}", err.message);
    assert!(err.message.contains("err"), "message has stderr's last line: {}", err.message);
    assert_eq!(err.to_string(), err.message);

    let err = Command::new("sh").args(["-c", "echo boom >&2; exit 3"]).run_checked().expect_err("failure");
    assert_eq!(err.code, ErrorCode::Failed);
    assert!(err.message.contains("boom"), "{}", err.message);
    let as_dyn: Box<dyn std::error::Error> = Box::new(err);
    assert!(!as_dyn.to_string().is_empty());
}

#[test]
fn b_success_ok_codes_stdin_env_cwd() {
    let out = Command::new("echo").arg("hello").run_checked().expect("echo succeeds");
    assert_eq!(out.stdout_str(), "hello\n");
    assert!(out.success);

    let out = Command::new("sh").args(["-c", "exit 3"]).ok_codes(&[0, 3]).run_checked().expect("3 is accepted");
    assert_eq!(out.exit_code, Some(3));

    let out = Command::new("cat").stdin_bytes(&b"fed through stdin"[..]).output().expect("cat");
    assert_eq!(out.stdout, b"fed through stdin");

    let out = Command::new("sh")
        .args(["-c", "echo $PK_TEST_VAR; pwd"])
        .env("PK_TEST_VAR", "value 1")
        .cwd("/")
        .output()
        .expect("sh");
    assert_eq!(out.stdout_str(), "value 1\n/\n");

    let out =
        Command::new("sh").args(["-c", "echo a; echo b >&2; echo c"]).stderr(Redirect::Merge).output().expect("merge");
    assert_eq!(out.stdout_str(), "a\nb\nc\n");
    assert!(out.stderr.is_empty());

    let out = Command::new("sh")
        .args(["-c", "printf 0123456789"])
        .stdout_limit(4, Overflow::KeepTail)
        .output()
        .expect("limit");
    assert_eq!(out.stdout, b"6789");
    assert!(out.stdout_truncated);
    assert_eq!(out.stdout_bytes, 10);

    let out = Command::new("cat").stdin(Input::Null).stdout(Redirect::Null).output().expect("null");
    assert!(out.stdout.is_empty());
}

// c. A timeout tears the whole tree down and is reported as timed out.
#[test]
fn c_timeout_tears_down_tree() {
    let pidfile = TempPath::new("c");
    let script = format!("sleep 30 & echo $! > '{}'; sleep 30", pidfile.as_str());
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]).timeout(Duration::from_millis(300), 0, Duration::from_millis(200));

    // The grandchild's pid and start time, read while it is alive.
    let path = pidfile.path().to_owned();
    let watcher = thread::spawn(move || {
        let p = TempPath(path);
        let pid = p.read_pid(Duration::from_secs(10));
        std::mem::forget(p); // the owner below removes the file
        (pid, start_time(pid))
    });
    let t = Instant::now();
    let out = cmd.output().expect("output");
    let elapsed = t.elapsed();
    let (grandchild, grandchild_start) = watcher.join().expect("watcher");

    assert_eq!(out.outcome, Outcome::TimedOut);
    assert!(out.timed_out());
    assert_eq!(out.exit_code, None);
    assert!(!out.success);
    assert!(elapsed < Duration::from_secs(10), "took {:?}", elapsed);
    assert!(elapsed >= Duration::from_millis(250), "took {:?}", elapsed);
    assert!(wait_dead(grandchild, grandchild_start, DEAD_WITHIN), "grandchild {} survived", grandchild);
    let err = out.check().expect_err("a timeout is a failure when success is asked for");
    assert_eq!(err.code, ErrorCode::Timeout);
    assert!(!err.message.is_empty());
}

// c, through the loop API, with a shared group.
#[test]
fn c_timeout_on_loop_in_shared_group() {
    let pidfile = TempPath::new("c-loop");
    let group = Group::new().expect("group");
    let lp = Loop::new().expect("loop");
    let script = format!("sleep 30 & echo $! > '{}'; sleep 30", pidfile.as_str());
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]).timeout(Duration::from_millis(300), signal::SIGKILL, Duration::from_millis(100));
    let proc = lp.start_in(&cmd, &group).expect("start");
    let mut seen = None;
    let t = Instant::now();
    while seen.is_none() && t.elapsed() < Duration::from_secs(10) {
        lp.run_once(Some(Duration::from_millis(10))).expect("run_once");
        if let Ok(text) = std::fs::read_to_string(pidfile.path()) {
            if text.ends_with('\n') {
                let pid: i32 = text.trim().parse().unwrap();
                seen = Some((pid, start_time(pid)));
            }
        }
    }
    let (grandchild, grandchild_start) = seen.expect("grandchild pid");
    assert!(lp.wait_all(&[&proc], Some(Duration::from_secs(10))).expect("wait_all"));
    let out = proc.result().expect("result");
    assert_eq!(out.outcome, Outcome::TimedOut);
    // In a shared group the timeout takes the program only; the group takes the rest.
    drop(proc);
    drop(group);
    assert!(wait_dead(grandchild, grandchild_start, DEAD_WITHIN), "grandchild {} survived", grandchild);
}

// d. The mechanism is readable: cgroup v2 here, process group when forced.
#[test]
fn d_mechanism_is_readable_and_forcible() {
    let group = Group::new().expect("group");
    assert_eq!(group.mechanism().expect("mechanism"), Mechanism::CgroupV2);
    assert_eq!(group.mechanism().unwrap().name(), "cgroup-v2");
    let c = group.containment().expect("containment");
    assert!(c.has(sys::PK_FEATURE_CONTAINS_SETSID));
    assert!(!c.cgroup_path.is_empty());

    let forced = Group::with_options(GroupOptions::new().backend(Backend::ProcessGroup)).expect("group");
    assert_eq!(forced.mechanism().expect("mechanism"), Mechanism::ProcessGroup);
    assert_eq!(forced.mechanism().unwrap().to_string(), "process-group");

    let out = Command::new("true").group_options(GroupOptions::new().backend(Backend::ProcessGroup)).output().unwrap();
    assert_eq!(out.mechanism.name(), "process-group");
    let out = Command::new("true").output().unwrap();
    assert_eq!(out.mechanism.name(), "cgroup-v2");

    assert_eq!(host_probe(Backend::Auto).expect("probe").mechanism, Mechanism::CgroupV2);
    assert_eq!(host_probe(Backend::JobObject).expect("probe").mechanism, Mechanism::None);
    assert_eq!(Mechanism::JobObject.name(), "job-object");
    assert_eq!(Mechanism::None.name(), "none");
    assert_eq!(Mechanism::Unknown(99).name(), "unknown");
}

#[test]
fn d_min_mechanism_refuses_weaker() {
    let err = Group::builder()
        .backend(Backend::ProcessGroup)
        .min_mechanism(Mechanism::CgroupV2)
        .create()
        .expect_err("process group is weaker than cgroup v2");
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert!(!err.message.is_empty());
}

// e. A bad argument becomes this crate's Error with the library's code and message.
#[test]
fn e_bad_arguments_are_errors_with_library_message() {
    let err = Command::new("").output().expect_err("empty program");
    assert_eq!(err.code, ErrorCode::Invalid);
    assert_eq!(err.raw_code(), sys::PK_ERR_INVALID);
    assert!(!err.message.is_empty(), "library message");
    eprintln!("empty program: {}", err);

    let group = Group::new().expect("group");
    let err = group.spawn::<&str>(&[]).expect_err("empty argv");
    assert_eq!(err.code, ErrorCode::Invalid);
    assert!(!err.message.is_empty());
    eprintln!("empty argv: {}", err);

    let err = group.spawn(&["/nonexistent/pk-rust-test"]).expect_err("no such program");
    assert_eq!(err.code, ErrorCode::NotFound);
    assert!(err.message.contains("pk-rust-test") || !err.message.is_empty(), "{}", err.message);

    let err = Command::new("/nonexistent/pk-rust-test").output().expect_err("no such program");
    assert_eq!(err.code, ErrorCode::NotFound);

    // A closed object, reached through the raw layer: the library says so.
    let raw = group.as_ptr();
    group.close().expect("close");
    let err = processkit_c::check(unsafe { sys::pk_group_kill(raw) }).expect_err("freed handle");
    assert_eq!(err.code, ErrorCode::Handle);
    assert!(!err.message.is_empty());
    eprintln!("freed group: {}", err);

    // An interior NUL never reaches the library.
    let err = Command::new("echo").arg("a\0b").output().expect_err("NUL");
    assert_eq!(err.code, ErrorCode::Invalid);

    // A result of a run still going is a state error.
    let lp = Loop::new().expect("loop");
    let p = lp.start(Command::new("sleep").arg("30")).expect("start");
    let err = p.result().expect_err("still running");
    assert_eq!(err.code, ErrorCode::State);
    p.cancel().expect("cancel");
    assert!(lp.wait_all(&[&p], Some(Duration::from_secs(10))).unwrap());
    assert_eq!(p.result().unwrap().outcome, Outcome::Cancelled);
}

#[test]
fn every_library_error_code_is_mapped() {
    for &code in sys::PK_ERROR_VALUES {
        if code == sys::PK_OK {
            continue;
        }
        let mapped = ErrorCode::from_raw(code);
        assert!(!matches!(mapped, ErrorCode::Unknown(_)), "code {} unmapped", code);
        assert_eq!(mapped.raw(), code);
        assert!(!mapped.description().is_empty());
    }
    assert_eq!(ErrorCode::from_raw(-999), ErrorCode::Unknown(-999));
    assert_eq!(ErrorCode::Unknown(-999).raw(), -999);
    assert_eq!(ErrorCode::from_raw(sys::PK_OK), ErrorCode::Unknown(0));
    assert_eq!(ErrorCode::from_raw(sys::PK_ERR_NOMEM), ErrorCode::NoMem);
    assert_eq!(ErrorCode::NotReady.raw(), -17);
    assert_eq!(ErrorCode::Timeout.to_string(), ErrorCode::Timeout.description());
}

#[test]
fn generated_name_tables() {
    // The generated names are the C library's stable names.
    for &v in sys::PK_MECHANISM_VALUES {
        let c = unsafe { std::ffi::CStr::from_ptr(sys::pk_mechanism_name(v)) }.to_str().unwrap();
        assert_eq!(sys::pk_mechanism_str(v), Some(c));
        assert_eq!(Mechanism::from_raw(v).name(), c);
    }
    assert_eq!(sys::pk_mechanism_str(99), None);
    assert!(unsafe { sys::pk_mechanism_name(99) }.is_null());
    assert_eq!(Mechanism::Unknown(sys::PK_MECHANISM_CGROUP_V2).name(), "cgroup-v2");

    // Every member of every table has a name, unique within its enum.
    fn distinct<T: Copy>(values: &[T], name: impl Fn(T) -> Option<&'static str>) -> Vec<&'static str> {
        let names: Vec<&str> = values.iter().map(|&v| name(v).expect("a member without a name")).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "{:?}", names);
        names
    }
    assert_eq!(
        distinct(sys::PK_OUTCOME_VALUES, sys::pk_outcome_str),
        ["running", "exited", "signalled", "timed-out", "cancelled", "status-lost"]
    );
    let errors = distinct(sys::PK_ERROR_VALUES, sys::pk_error_str);
    assert_eq!((errors[0], errors[7], errors.len()), ("ok", "not-found", sys::PK_ERROR_VALUES.len()));
    assert_eq!(distinct(sys::PK_FEATURE_VALUES, sys::pk_feature_str)[0], "contains-setsid");
    distinct(sys::PK_BACKEND_VALUES, sys::pk_backend_str);
    distinct(sys::PK_STREAM_VALUES, sys::pk_stream_str);
    distinct(sys::PK_STRUCT_ID_VALUES, sys::pk_struct_id_str);
    assert_eq!(sys::pk_feature_str(sys::PK_FEATURE_FREEZE | sys::PK_FEATURE_SIGNALS), None);
    assert_eq!(sys::pk_backend_str(sys::PK_BACKEND_PROCESS_GROUP), Some("process-group"));

    // The readiness enums name themselves from the tables.
    use processkit_c::{ReadyKind, ReadyOutcome};
    let kinds = distinct(sys::PK_READY_KIND_VALUES, sys::pk_ready_kind_str);
    for (&v, name) in sys::PK_READY_KIND_VALUES.iter().zip(kinds) {
        let k = ReadyKind::from_raw(v);
        assert!(!matches!(k, ReadyKind::Unknown(_)));
        assert_eq!((k.raw(), k.name(), k.to_string()), (v, name, name.to_string()));
    }
    let outcomes = distinct(sys::PK_READY_OUTCOME_VALUES, sys::pk_ready_outcome_str);
    for (&v, name) in sys::PK_READY_OUTCOME_VALUES.iter().zip(outcomes) {
        let o = ReadyOutcome::from_raw(v);
        assert!(!matches!(o, ReadyOutcome::Unknown(_)));
        assert_eq!((o.raw(), o.name()), (v, name));
    }
    assert_eq!(ReadyOutcome::TimedOut.to_string(), "timed-out");
    assert_eq!((ReadyKind::Unknown(42).name(), ReadyOutcome::from_raw(42)), ("unknown", ReadyOutcome::Unknown(42)));
}

#[test]
fn struct_sizes_fit_the_library() {
    let expect = [
        (sys::PK_STRUCT_CONTAINMENT, std::mem::size_of::<sys::pk_containment>()),
        (sys::PK_STRUCT_GROUP_OPTIONS, std::mem::size_of::<sys::pk_group_options>()),
        (sys::PK_STRUCT_SPAWN_OPTIONS, std::mem::size_of::<sys::pk_spawn_options>()),
        (sys::PK_STRUCT_GROUP_STATS, std::mem::size_of::<sys::pk_group_stats>()),
        (sys::PK_STRUCT_SHUTDOWN_OPTIONS, std::mem::size_of::<sys::pk_shutdown_options>()),
        (sys::PK_STRUCT_SHUTDOWN_REPORT, std::mem::size_of::<sys::pk_shutdown_report>()),
        (sys::PK_STRUCT_EXIT_STATUS, std::mem::size_of::<sys::pk_exit_status>()),
        (sys::PK_STRUCT_RUN_INFO, std::mem::size_of::<sys::pk_run_info>()),
        (sys::PK_STRUCT_RETRY_OPTIONS, std::mem::size_of::<sys::pk_retry_options>()),
        (sys::PK_STRUCT_SUPERVISE_OPTIONS, std::mem::size_of::<sys::pk_supervise_options>()),
        (sys::PK_STRUCT_SUPERVISE_REPORT, std::mem::size_of::<sys::pk_supervise_report>()),
        (sys::PK_STRUCT_READINESS_INFO, std::mem::size_of::<sys::pk_readiness_info>()),
    ];
    assert_eq!(expect.len(), sys::PK_STRUCT_ID_VALUES.len());
    for (id, size) in expect {
        let mut got = 0usize;
        processkit_c::check(unsafe { sys::pk_struct_size(id, &mut got) }).expect("pk_struct_size");
        // Equal for the library the manifest describes; a newer minor
        // release may only have appended fields (older callers stay valid).
        assert!(got >= size, "struct id {}: library {} < binding {}", id, got, size);
    }
    assert_eq!(processkit_c::version_number() >> 16, sys::PK_VERSION_MAJOR as u32);
    assert_eq!(processkit_c::version().split('.').next(), sys::MANIFEST_VERSION.split('.').next());
}

#[test]
fn loop_runs_many_commands() {
    let lp = Loop::new().expect("loop");
    let mut a = Command::new("sh");
    a.args(["-c", "sleep 0.2; echo a"]);
    let mut b = Command::new("sh");
    b.args(["-c", "sleep 0.2; echo b; exit 1"]);
    let t = Instant::now();
    let outs = lp.output_all(&[&a, &b]).expect("output_all");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(outs[0].stdout, b"a\n");
    assert_eq!(outs[1].stdout, b"b\n");
    assert_eq!(outs[1].exit_code, Some(1));

    let mut cat = Command::new("cat");
    cat.stdin(Input::Pipe);
    let p = lp.start(&cat).expect("start");
    p.write(b"piped ").unwrap();
    p.write(b"bytes").unwrap();
    p.close_stdin().unwrap();
    assert_eq!(lp.wait_any(&[&p], Some(Duration::from_secs(10))).unwrap(), Some(0));
    assert_eq!(p.result().unwrap().stdout, b"piped bytes");
}

/// Wakes `lp` every 20 ms from another thread until the guard is dropped
/// (a wake before a wait begins does not end that wait).
struct Waking(Arc<AtomicBool>, Option<thread::JoinHandle<u32>>);

fn keep_waking(lp: &Loop) -> Waking {
    let waker = lp.waker();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let t = thread::spawn(move || {
        let mut n = 0;
        while !s.load(Ordering::SeqCst) {
            waker.wake().expect("wake");
            n += 1;
            thread::sleep(Duration::from_millis(20));
        }
        n
    });
    Waking(stop, Some(t))
}

impl Drop for Waking {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
        let n = self.1.take().unwrap().join().unwrap();
        assert!(n > 0);
    }
}

#[test]
fn loop_waker_ends_waits_and_the_runs_go_on() {
    let lp = Loop::new().expect("loop");
    let p = lp.start(Command::new("sleep").arg("30")).expect("start");
    let start = start_time(p.pid());

    let waking = keep_waking(&lp);
    let t = Instant::now();
    let err = lp.wait_all(&[&p], Some(Duration::from_secs(20))).expect_err("woken");
    assert_eq!(err.code, ErrorCode::Cancelled, "{}", err);
    let err = lp.wait_any(&[&p], None).expect_err("woken");
    assert_eq!(err.code, ErrorCode::Cancelled, "{}", err);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    drop(waking);

    // The run goes on.
    assert!(!p.is_done().unwrap());
    assert!(!wait_dead(p.pid(), start, Duration::from_millis(100)));
    // A wake with nobody waiting makes the next run_once return early.
    lp.run_once(Some(Duration::ZERO)).expect("drain the earlier wakes");
    lp.waker().wake().expect("wake");
    let t = Instant::now();
    lp.run_once(Some(Duration::from_secs(10))).expect("run_once");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    p.cancel().expect("cancel");
    assert!(lp.wait_all(&[&p], Some(Duration::from_secs(10))).unwrap());
    assert_eq!(p.result().unwrap().outcome, Outcome::Cancelled);

    // A waker outlives its loop safely: the library says the handle is gone.
    let waker = lp.waker();
    drop(p);
    drop(lp);
    assert_eq!(waker.clone().wake().unwrap_err().code, ErrorCode::Handle);
}

#[test]
fn cancel_token_cancels_from_another_thread() {
    let token = processkit_c::CancelToken::new().expect("token");
    let mut cmd = Command::new("sleep");
    cmd.arg("30").cancel_on(&token);
    let t2 = token.clone();
    let trigger = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        t2.trigger().expect("trigger");
    });
    let t = Instant::now();
    let out = cmd.output().expect("output");
    trigger.join().unwrap();
    assert_eq!(out.outcome, Outcome::Cancelled);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(out.check().unwrap_err().code, ErrorCode::Cancelled);
}

#[test]
fn thread_safety_markers() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Group>();
    send_sync::<processkit_c::Child>();
    send_sync::<Command>();
    send_sync::<processkit_c::CancelToken>();
    send_sync::<processkit_c::Output>();
    send_sync::<processkit_c::Error>();
    send_sync::<processkit_c::LoopWaker>();
    send_sync::<processkit_c::Readiness>();
    send::<Loop>();
}
