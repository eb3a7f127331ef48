//! Helpers shared by the integration tests: process liveness by pid and
//! start time, temp files that clean up after themselves.
#![allow(dead_code)]
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Field 22 of /proc/PID/stat (start time in clock ticks) and the state
/// letter (field 3), or None if the process is gone.
pub fn stat(pid: i32) -> Option<(char, u64)> {
    let text = fs::read_to_string(format!("/proc/{}/stat", pid)).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(22 - 3)?.parse().ok()?;
    Some((state, start))
}

/// The start time of a live process (panics if it is not running).
pub fn start_time(pid: i32) -> u64 {
    match stat(pid) {
        Some((state, start)) if state != 'Z' => start,
        other => panic!("process {} is not alive: {:?}", pid, other),
    }
}

/// Dead: gone, a zombie, or the pid now names another process.
pub fn is_dead(pid: i32, start: u64) -> bool {
    match stat(pid) {
        None => true,
        Some((state, s)) => s != start || state == 'Z' || state == 'X',
    }
}

/// Waits up to `limit` for the process to be dead.
pub fn wait_dead(pid: i32, start: u64, limit: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if is_dead(pid, start) {
            return true;
        }
        sleep(Duration::from_millis(20));
    }
    is_dead(pid, start)
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A path for a temp file, removed when dropped.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(tag: &str) -> TempPath {
        let dir = std::env::var_os("TEST_TMPDIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        TempPath(dir.join(format!("pk-rust-{}-{}-{}", std::process::id(), tag, n)))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn as_str(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
    /// Waits up to `limit` for the file to hold a pid (a full line).
    pub fn read_pid(&self, limit: Duration) -> i32 {
        let t = Instant::now();
        loop {
            if let Ok(text) = fs::read_to_string(&self.0) {
                if text.ends_with('\n') {
                    return text.trim().parse().expect("a pid in the pid file");
                }
            }
            assert!(t.elapsed() < limit, "no pid in {} after {:?}", self.0.display(), limit);
            sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
