//! PTY runs, supervision, retry and the child's process options.
use std::time::Duration;

use processkit_c::{Command, Restart, RetryOptions, Rlimit, StopReason, SuperviseOptions};

fn tmpdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pk-rust-{}-{}", tag, std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn pty_run_is_a_terminal() {
    let out = Command::new("sh").args(["-c", "[ -t 0 ] && [ -t 1 ] && echo tty"]).pty(24, 80).output().unwrap();
    assert!(out.success);
    assert_eq!(out.stdout_str().replace('\r', "").trim(), "tty");
}

#[test]
fn supervise_gives_up_after_max_restarts() {
    let d = tmpdir("sup");
    let f = d.join("starts");
    let script = format!("echo x >> '{}'; exit 1", f.display());
    let opts = SuperviseOptions {
        restart: Restart::OnFailure,
        max_restarts: 2,
        backoff_initial: Duration::from_millis(10),
        ..Default::default()
    };
    let rep = Command::new("sh").args(["-c", &script]).supervise(opts, None).unwrap();
    assert_eq!((rep.runs, rep.restarts, rep.stop_reason), (3, 2, StopReason::GaveUp));
    assert_eq!(std::fs::read_to_string(&f).unwrap().lines().count(), 3);
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn retry_until_success() {
    let d = tmpdir("retry");
    let f = d.join("count");
    let script =
        format!("n=$(cat '{0}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{0}'; [ $n -ge 3 ]", f.display());
    let opts = RetryOptions { max_attempts: 5, initial_delay: Duration::from_millis(10), ..Default::default() };
    let out = Command::new("sh").args(["-c", &script]).output_retry(opts).unwrap();
    assert!(out.success);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "3\n");
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn umask_rlimit_fd_map_cwd_fd() {
    let d = tmpdir("opts");
    let dir = std::fs::File::open(&d).unwrap();
    let (r, w) = std::io::pipe().unwrap();
    let out = Command::new("sh")
        .args(["-c", "umask; ulimit -n; pwd; echo via-fd >&5"])
        .umask(0o027)
        .rlimit(Rlimit::Nofile, 64, 64)
        .cwd_fd(dir)
        .map_fd(5, w)
        .create_no_window(true)
        .output()
        .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut { r }, &mut text).unwrap();
    assert_eq!(text, "via-fd\n");
    let lines: Vec<String> = out.stdout_str().lines().map(String::from).collect();
    assert_eq!(lines[0], "0027");
    assert_eq!(lines[1], "64");
    assert_eq!(std::path::Path::new(&lines[2]).canonicalize().unwrap(), d.canonicalize().unwrap());
    std::fs::remove_dir_all(d).unwrap();
}
