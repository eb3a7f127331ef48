//! The ecosystem's own types: `io::Error` kinds from processkit errors, the
//! `Signal` type, and line streaming with `Command::on_line`.
use std::io;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use processkit_c::{signal, Command, Error, ErrorCode, ExitStatus, Group, Loop, Outcome, Pipeline, Signal, Stream};

type Lines = Arc<Mutex<Vec<(Stream, String)>>>;

fn collector(cmd: &mut Command) -> Lines {
    let lines: Lines = Arc::default();
    let sink = lines.clone();
    cmd.on_line(move |stream, line| sink.lock().unwrap().push((stream, String::from_utf8_lossy(line).into_owned())));
    lines
}

fn taken(lines: &Lines) -> Vec<(Stream, String)> {
    std::mem::take(&mut *lines.lock().unwrap())
}

#[test]
fn io_error_kinds_follow_the_code() {
    let cases = [
        (ErrorCode::NotFound, io::ErrorKind::NotFound),
        (ErrorCode::Permission, io::ErrorKind::PermissionDenied),
        (ErrorCode::Timeout, io::ErrorKind::TimedOut),
        (ErrorCode::Cancelled, io::ErrorKind::Interrupted),
        (ErrorCode::Invalid, io::ErrorKind::InvalidInput),
        (ErrorCode::NoMem, io::ErrorKind::OutOfMemory),
        (ErrorCode::Unsupported, io::ErrorKind::Unsupported),
        (ErrorCode::Failed, io::ErrorKind::Other),
        (ErrorCode::Os, io::ErrorKind::Other),
        (ErrorCode::Unknown(-999), io::ErrorKind::Other),
    ];
    for (code, kind) in cases {
        let e = Error::new(code, "the message");
        assert_eq!(e.io_kind(), kind, "{:?}", code);
        let io_err = io::Error::from(e.clone());
        assert_eq!(io_err.kind(), kind, "{:?}", code);
        assert_eq!(io_err.to_string(), "the message");
        let inner = io_err.get_ref().and_then(|i| i.downcast_ref::<Error>()).expect("the processkit error inside");
        assert_eq!(inner, &e);
        assert_eq!(*io_err.into_inner().unwrap().downcast::<Error>().unwrap(), e);
    }
}

#[test]
fn a_missing_program_is_io_not_found() {
    fn run() -> io::Result<()> {
        Command::new("/nonexistent/processkit-no-such-program").output()?;
        Ok(())
    }
    let err = run().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{}", err);
    let inner = err.get_ref().and_then(|i| i.downcast_ref::<Error>()).expect("processkit error");
    assert_eq!(inner.code, ErrorCode::NotFound);
}

#[test]
fn signal_type_basics() {
    assert_eq!(Signal::SIGTERM.raw(), 15);
    assert_eq!(Signal::from_raw(9), Signal::SIGKILL);
    assert_eq!(Signal::SIGTERM.to_string(), "SIGTERM");
    assert_eq!(Signal::from_raw(2).to_string(), "SIGINT");
    assert_eq!(Signal::from_raw(40).to_string(), "signal 40");
    assert_eq!(Signal::from_raw(40).name(), None);
    assert_eq!(Signal::SIGCHLD.name(), Some("SIGCHLD"));
    assert_eq!(i32::from(Signal::SIGUSR1), signal::SIGUSR1);
    assert_eq!(Signal::from(signal::SIGHUP), Signal::SIGHUP);
    let n: i32 = Signal::SIGSTOP.into();
    assert_eq!(n, 19);
    for (c, s) in [
        (signal::SIGHUP, Signal::SIGHUP),
        (signal::SIGINT, Signal::SIGINT),
        (signal::SIGQUIT, Signal::SIGQUIT),
        (signal::SIGKILL, Signal::SIGKILL),
        (signal::SIGUSR1, Signal::SIGUSR1),
        (signal::SIGUSR2, Signal::SIGUSR2),
        (signal::SIGTERM, Signal::SIGTERM),
        (signal::SIGCONT, Signal::SIGCONT),
        (signal::SIGSTOP, Signal::SIGSTOP),
    ] {
        assert_eq!(Signal::from_raw(c), s);
    }
}

#[test]
fn signals_are_accepted_as_signal_or_integer() {
    let group = Group::new().expect("group");
    let a = group.spawn(&["sleep", "30"]).expect("spawn");
    let b = group.spawn(&["sleep", "30"]).expect("spawn");
    a.signal(Signal::SIGTERM).expect("signal with Signal");
    b.signal(signal::SIGUSR1).expect("signal with an integer");
    assert_eq!(a.wait().expect("wait"), ExitStatus::Signaled { signal: 15, core_dumped: false });
    assert_eq!(b.wait().expect("wait").signal().map(Signal::from_raw), Some(Signal::SIGUSR1));
    let c = group.spawn(&["sleep", "30"]).expect("spawn");
    group.signal(Signal::SIGKILL).expect("group signal");
    assert_eq!(c.wait().expect("wait").signal(), Some(9));

    let out = Command::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(200), Signal::SIGINT, Duration::from_secs(5))
        .output()
        .expect("run");
    assert_eq!((out.outcome, out.signal), (Outcome::TimedOut, Some(2)));
    let out = Pipeline::new()
        .stage(Command::new("sleep").arg("30"))
        .timeout(Duration::from_millis(200), Signal::SIGUSR2, Duration::from_secs(5))
        .output()
        .expect("pipeline");
    assert_eq!((out.outcome, out.signal), (Outcome::TimedOut, Some(12)));

    let lp = Loop::new().expect("loop");
    let p = lp.start(Command::new("sleep").arg("30")).expect("start");
    p.signal(Signal::SIGTERM).expect("process signal");
    lp.wait_all(&[&p], Some(Duration::from_secs(10))).expect("wait");
    assert_eq!(p.result().expect("result").signal, Some(15));
}

#[test]
fn on_line_sees_both_streams_on_the_calling_thread() {
    let me = thread::current().id();
    let threads = Arc::new(Mutex::new(Vec::new()));
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo one; echo two >&2; printf 'x\\ny\\n\\nlast'"]);
    let lines = collector(&mut cmd);
    let seen = threads.clone();
    let mut cmd2 = cmd.clone();
    cmd2.on_line(move |_, _| seen.lock().unwrap().push(thread::current().id()));
    let out = cmd.output().expect("run");
    assert_eq!(out.stdout, b"one\nx\ny\n\nlast");
    assert_eq!(out.stderr, b"two\n");
    let got = taken(&lines);
    let of = |s: Stream| got.iter().filter(|(st, _)| *st == s).map(|(_, l)| l.as_str()).collect::<Vec<_>>();
    assert_eq!(of(Stream::Stdout), ["one", "x", "y", "", "last"]);
    assert_eq!(of(Stream::Stderr), ["two"]);

    cmd2.output().expect("run");
    let ids = threads.lock().unwrap().clone();
    assert_eq!(ids.len(), 6);
    assert!(ids.iter().all(|&t| t == me));
    assert!(taken(&lines).is_empty(), "the clone's callback replaced the shared one only in the clone");

    // A clone shares the callback; clear_on_line removes it.
    let twin = cmd.clone();
    twin.output().expect("run");
    assert_eq!(taken(&lines).len(), 6);
    cmd.clear_on_line();
    cmd.output().expect("run");
    assert!(taken(&lines).is_empty());
}

#[test]
fn on_line_outlives_the_command_on_a_loop() {
    let lp = Loop::new().expect("loop");
    let lines: Lines = Arc::default();
    let proc = {
        let sink = lines.clone();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "for i in 1 2 3; do echo line$i; sleep 0.05; done"]);
        cmd.on_line(move |s, l| sink.lock().unwrap().push((s, String::from_utf8_lossy(l).into_owned())));
        lp.start(&cmd).expect("start")
        // the command is dropped here; the process keeps the callback
    };
    assert!(lp.wait_all(&[&proc], Some(Duration::from_secs(10))).expect("wait"));
    let out = proc.result().expect("result");
    assert_eq!(out.exit_code, Some(0));
    let got: Vec<String> = taken(&lines).into_iter().map(|(_, l)| l).collect();
    assert_eq!(got, ["line1", "line2", "line3"]);
    drop(proc);
    assert_eq!(Arc::strong_count(&lines), 1, "the callback was freed with the process");
}

#[test]
fn on_line_runs_in_pipelines_and_merged_stderr() {
    let mut producer = Command::new("printf");
    producer.arg("b\na\n");
    let mut sorter = Command::new("sort");
    let lines = collector(&mut sorter);
    let out = Pipeline::new().stage(&producer).stage(&sorter).output().expect("pipeline");
    assert_eq!(out.stdout, b"a\nb\n");
    assert_eq!(taken(&lines), [(Stream::Stdout, "a".into()), (Stream::Stdout, "b".into())]);

    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo out; echo err >&2"]).stderr(processkit_c::Redirect::Merge);
    let lines = collector(&mut cmd);
    cmd.output().expect("run");
    assert_eq!(taken(&lines), [(Stream::Stdout, "out".into()), (Stream::Stdout, "err".into())]);
}

#[test]
fn a_panicking_callback_resumes_in_output() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo a; echo b; echo c"]);
    let calls = Arc::new(Mutex::new(0));
    let n = calls.clone();
    cmd.on_line(move |_, line| {
        *n.lock().unwrap() += 1;
        if line == b"a" {
            panic!("boom from on_line");
        }
    });
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cmd.output()));
    let payload = r.expect_err("the panic comes out of output()");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom from on_line"));
    assert_eq!(*calls.lock().unwrap(), 1, "not called after it panicked");
}

#[test]
fn command_with_on_line_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Command>();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo from-thread"]);
    let lines = collector(&mut cmd);
    let cmd = Arc::new(cmd);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let cmd = cmd.clone();
            thread::spawn(move || cmd.output().expect("run"))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().stdout, b"from-thread\n");
    }
    assert_eq!(taken(&lines).len(), 4);
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_line_with_async_runs() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo async1; echo async2 >&2"]);
    let lines = collector(&mut cmd);
    let out = cmd.output_async().await.expect("run");
    assert_eq!(out.exit_code, Some(0));
    let mut got = taken(&lines);
    got.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(got, [(Stream::Stdout, "async1".into()), (Stream::Stderr, "async2".into())]);

    let lp = processkit_c::AsyncLoop::new().expect("async loop");
    let out = lp.output(&cmd).await.expect("run");
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(taken(&lines).len(), 2);
}
