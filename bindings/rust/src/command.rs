//! Run-and-capture: [`Command`] (a builder), [`Output`] (a finished run),
//! [`CancelToken`].
use std::any::Any;
use std::cell::RefCell;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::raw::{c_char, c_void};
use std::os::unix::io::RawFd;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{check, Error, Result};
use crate::group::{GroupOptions, Mechanism};
use crate::sys;
use crate::util::{cstring, duration_ms_u32};

/// Where a command's stdin comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Input {
    /// /dev/null (the default).
    #[default]
    Null,
    /// The caller's own stdin.
    Inherit,
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
    /// A file, opened at each start.
    File(PathBuf),
    /// A caller fd (not closed by the library).
    Fd(RawFd),
    /// A pipe written with [`crate::Process::write`] and closed with
    /// [`crate::Process::close_stdin`] (loop runs only).
    Pipe,
}

/// Where a command's stdout or stderr goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Redirect {
    /// Captured into [`Output`] (the default).
    #[default]
    Capture,
    /// The caller's own stdout/stderr.
    Inherit,
    /// /dev/null.
    Null,
    /// A caller fd.
    Fd(RawFd),
    /// stderr only: into the same pipe as stdout (one ordered stream).
    Merge,
}

impl Redirect {
    fn raw(self) -> (i32, i32) {
        match self {
            Redirect::Capture => (sys::PK_OUTPUT_CAPTURE, -1),
            Redirect::Inherit => (sys::PK_OUTPUT_INHERIT, -1),
            Redirect::Null => (sys::PK_OUTPUT_NULL, -1),
            Redirect::Fd(fd) => (sys::PK_OUTPUT_FD, fd),
            Redirect::Merge => (sys::PK_OUTPUT_MERGE, -1),
        }
    }
}

/// What a capped stream keeps when it overflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Keep the first bytes.
    #[default]
    KeepHead,
    /// Keep the last bytes.
    KeepTail,
    /// Keep the head, and make the run fail its check with [`crate::ErrorCode::Overflow`].
    Error,
}

impl Overflow {
    fn raw(self) -> i32 {
        match self {
            Overflow::KeepHead => sys::PK_OVERFLOW_KEEP_HEAD,
            Overflow::KeepTail => sys::PK_OVERFLOW_KEEP_TAIL,
            Overflow::Error => sys::PK_OVERFLOW_ERROR,
        }
    }
}

/// One of a run's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The raw `pk_stream` value.
    pub fn raw(self) -> i32 {
        match self {
            Stream::Stdout => sys::PK_STREAM_STDOUT,
            Stream::Stderr => sys::PK_STREAM_STDERR,
        }
    }
}

/// How a run ended (`pk_outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Not finished.
    Running,
    /// The program exited; see [`Output::exit_code`].
    Exited,
    /// A signal killed it (not ours); see [`Output::signal`].
    Signalled,
    /// The timeout fired and the tree was torn down.
    TimedOut,
    /// It was cancelled and the tree was killed.
    Cancelled,
    /// It ended, but its exit status is gone: the host reaped it (a
    /// `waitpid(-1)` loop, or SIGCHLD ignored) on a kernel before 6.15.
    StatusLost,
    /// A value this crate does not know (from a newer library).
    Unknown(i32),
}

impl Outcome {
    /// The variant for a raw `pk_outcome` value.
    pub fn from_raw(v: i32) -> Outcome {
        match v {
            sys::PK_OUTCOME_RUNNING => Outcome::Running,
            sys::PK_OUTCOME_EXITED => Outcome::Exited,
            sys::PK_OUTCOME_SIGNALLED => Outcome::Signalled,
            sys::PK_OUTCOME_TIMED_OUT => Outcome::TimedOut,
            sys::PK_OUTCOME_CANCELLED => Outcome::Cancelled,
            sys::PK_OUTCOME_STATUS_LOST => Outcome::StatusLost,
            other => Outcome::Unknown(other),
        }
    }
}

/// A cancellation token (`pk_cancel`): triggering it kills every run of every
/// command that watches it ([`Command::cancel_on`]). Clones share one token;
/// any thread may trigger it.
#[derive(Debug, Clone)]
pub struct CancelToken {
    inner: Arc<CancelInner>,
}

#[derive(Debug)]
struct CancelInner {
    raw: *mut sys::pk_cancel,
}

// SAFETY: pk_cancel_trigger is documented as callable from any thread; the
// handle is freed once, by the last clone.
unsafe impl Send for CancelInner {}
unsafe impl Sync for CancelInner {}

impl Drop for CancelInner {
    fn drop(&mut self) {
        // SAFETY: owned, freed once. Runs watching it keep watching.
        unsafe {
            sys::pk_cancel_free(self.raw);
        }
    }
}

impl CancelToken {
    /// A new, untriggered token.
    pub fn new() -> Result<CancelToken> {
        let mut raw = ptr::null_mut();
        // SAFETY: out-pointer.
        check(unsafe { sys::pk_cancel_new(&mut raw) })?;
        Ok(CancelToken { inner: Arc::new(CancelInner { raw }) })
    }

    /// The raw handle, for use with [`crate::sys`]. It stays owned by the token.
    pub fn as_ptr(&self) -> *mut sys::pk_cancel {
        self.inner.raw
    }

    /// Trigger it: every run watching it is killed and ends as cancelled. Idempotent.
    pub fn trigger(&self) -> Result<()> {
        // SAFETY: thread-safe call on a live handle.
        check(unsafe { sys::pk_cancel_trigger(self.inner.raw) })
    }
}

/// What to run and how: a reusable builder in the style of
/// `std::process::Command`. Nothing reaches the library until a run starts,
/// so a bad argument (an empty program name...) is reported by
/// [`Command::output`] (or a loop's `start`) as an [`Error`] carrying the
/// library's code and message.
///
/// Each run gets a private group (cgroup v2 where available), so the whole
/// tree the program leaves behind dies when the program ends or times out.
#[derive(Debug, Clone)]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    env_clear: bool,
    env: Vec<(OsString, Option<OsString>)>,
    cwd: Option<PathBuf>,
    stdin: Input,
    stdout: Redirect,
    stderr: Redirect,
    limits: [Option<(u64, Overflow)>; 2],
    timeout: Option<(Duration, i32, Duration)>,
    ok_codes: Vec<i32>,
    new_session: bool,
    parent_death_signal: i32,
    group_options: Option<GroupOptions>,
    cancel: Option<CancelToken>,
    on_line: Option<LineCallback>,
    extra: Extra,
}

/// The process options beyond std's (PTY, credentials, limits, fds).
#[derive(Debug, Clone, Default)]
struct Extra {
    no_window: bool,
    pty: Option<(u16, u16)>,
    user: Option<(u32, u32, Vec<u32>)>,
    umask: Option<u32>,
    rlimits: Vec<(i32, u64, u64)>,
    // Arc: the fds must stay open until every run built from this command started.
    cwd_fd: Option<Arc<OwnedFd>>,
    fd_map: Vec<(i32, Arc<OwnedFd>)>,
}

impl Command {
    /// A command for `program` (searched in PATH when it has no slash); `argv[0]` is `program`.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env_clear: false,
            env: Vec::new(),
            cwd: None,
            stdin: Input::Null,
            stdout: Redirect::Capture,
            stderr: Redirect::Capture,
            limits: [None, None],
            timeout: None,
            ok_codes: Vec::new(),
            new_session: false,
            parent_death_signal: 0,
            group_options: None,
            cancel: None,
            on_line: None,
            extra: Extra::default(),
        }
    }

    /// Windows: start the program without a console window
    /// (`CREATE_NO_WINDOW`); no effect elsewhere.
    pub fn create_no_window(&mut self, on: bool) -> &mut Self {
        self.extra.no_window = on;
        self
    }

    /// Run on a new pseudo-terminal of `rows` x `cols`: its controlling
    /// terminal, stdin, stdout and stderr; the terminal's output arrives as
    /// stdout (with `\r\n` line ends). Resize with [`crate::Process::resize`].
    pub fn pty(&mut self, rows: u16, cols: u16) -> &mut Self {
        self.extra.pty = Some((rows, cols));
        self
    }

    /// Run as `uid`/`gid` with these supplementary groups (empty drops them all).
    pub fn user(&mut self, uid: u32, gid: u32, groups: &[u32]) -> &mut Self {
        self.extra.user = Some((uid, gid, groups.to_vec()));
        self
    }

    /// The child's umask (e.g. `0o077`).
    pub fn umask(&mut self, mask: u32) -> &mut Self {
        self.extra.umask = Some(mask);
        self
    }

    /// Set a resource limit in the child (`resource` is an `RLIMIT_*`
    /// number, see [`Rlimit`]). Repeatable.
    pub fn rlimit(&mut self, resource: impl Into<i32>, soft: u64, hard: u64) -> &mut Self {
        self.extra.rlimits.push((resource.into(), soft, hard));
        self
    }

    /// The working directory as an open directory (fchdir); wins over [`Command::cwd`].
    pub fn cwd_fd(&mut self, dir: impl Into<OwnedFd>) -> &mut Self {
        self.extra.cwd_fd = Some(Arc::new(dir.into()));
        self
    }

    /// Make `fd` the child's fd number `child_fd` (3 or more). The command
    /// keeps `fd` open; repeatable.
    pub fn map_fd(&mut self, child_fd: i32, fd: impl Into<OwnedFd>) -> &mut Self {
        self.extra.fd_map.push((child_fd, Arc::new(fd.into())));
        self
    }

    /// The program and its arguments (`argv`, program first).
    pub fn argv(&self) -> Vec<OsString> {
        let mut v = vec![self.program.clone()];
        v.extend(self.args.iter().cloned());
        v
    }

    /// The working directory set with [`Command::cwd`].
    pub fn get_cwd(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }

    /// The stdin set with [`Command::stdin`].
    pub fn get_stdin(&self) -> &Input {
        &self.stdin
    }

    /// The environment changes: `(key, Some(value))` set, `(key, None)` removed.
    pub fn get_envs(&self) -> &[(OsString, Option<OsString>)] {
        &self.env
    }

    /// Append one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Append arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Set KEY=VALUE in the child's environment.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env.push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Set several variables.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Remove KEY from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Start from an empty environment (later `env` calls still apply).
    pub fn env_clear(&mut self) -> &mut Self {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// The child's working directory.
    pub fn cwd(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Where stdin comes from (default: /dev/null).
    pub fn stdin(&mut self, input: Input) -> &mut Self {
        self.stdin = input;
        self
    }

    /// Feed these bytes to stdin, then end of file.
    pub fn stdin_bytes(&mut self, data: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin = Input::Bytes(data.into());
        self
    }

    /// Where stdout goes (default: captured).
    pub fn stdout(&mut self, r: Redirect) -> &mut Self {
        self.stdout = r;
        self
    }

    /// Where stderr goes (default: captured; [`Redirect::Merge`] joins stdout).
    pub fn stderr(&mut self, r: Redirect) -> &mut Self {
        self.stderr = r;
        self
    }

    /// Cap captured stdout at `max_bytes` (0 = no cap).
    pub fn stdout_limit(&mut self, max_bytes: u64, policy: Overflow) -> &mut Self {
        self.limits[0] = Some((max_bytes, policy));
        self
    }

    /// Cap captured stderr at `max_bytes` (0 = no cap).
    pub fn stderr_limit(&mut self, max_bytes: u64, policy: Overflow) -> &mut Self {
        self.limits[1] = Some((max_bytes, policy));
        self
    }

    /// Bound the run: after `timeout` send `signal` (0 = SIGTERM) to the
    /// whole tree, wait `grace`, then SIGKILL the tree. The run ends as
    /// [`Outcome::TimedOut`].
    pub fn timeout(&mut self, timeout: Duration, signal: impl Into<crate::Signal>, grace: Duration) -> &mut Self {
        let signal = signal.into().raw();
        self.timeout = Some((timeout, signal, grace));
        self
    }

    /// Exit codes that count as success (default: just 0; empty restores it).
    pub fn ok_codes(&mut self, codes: &[i32]) -> &mut Self {
        self.ok_codes = codes.to_vec();
        self
    }

    /// The child calls setsid().
    pub fn new_session(&mut self, on: bool) -> &mut Self {
        self.new_session = on;
        self
    }

    /// The signal the child gets when its spawning thread dies (0 = none, the default).
    pub fn parent_death_signal(&mut self, sig: impl Into<crate::Signal>) -> &mut Self {
        self.parent_death_signal = sig.into().raw();
        self
    }

    /// Options of the private group each run gets (backend, minimum mechanism, limits).
    pub fn group_options(&mut self, opts: GroupOptions) -> &mut Self {
        self.group_options = Some(opts);
        self
    }

    /// Cancel runs of this command when `token` is triggered.
    pub fn cancel_on(&mut self, token: &CancelToken) -> &mut Self {
        self.cancel = Some(token.clone());
        self
    }

    /// Call `f(stream, line)` for every line the program writes to stdout
    /// or stderr, as it arrives (`pk_command_on_line`). `line` has no
    /// trailing `\n`; a last line without one comes at the end of the
    /// stream, and a line longer than 1 MiB comes in pieces. Capturing goes
    /// on as before ([`Output::stdout`]...); with [`Redirect::Merge`] stderr's
    /// lines come as [`Stream::Stdout`], and a stream not captured gives no
    /// lines. Replaces an earlier callback.
    ///
    /// `f` runs on the thread driving the run, inside the library's call:
    /// [`Command::output`], a [`crate::Loop`]'s waits and `run_once`, or the
    /// task polling an async run. It is kept alive by the command and by
    /// every [`crate::Process`] started from it; clones of the command share
    /// it, and runs on several threads at once take turns calling it. If
    /// `f` panics it is not called again and the panic is resumed by the
    /// call that collects the run ([`Command::output`],
    /// [`crate::Pipeline::output`], [`crate::Process::result`], the async
    /// waits). A line delivered while `f` itself is running on the same
    /// thread (a run of this command driven from inside `f`) is skipped.
    pub fn on_line<F>(&mut self, f: F) -> &mut Self
    where
        F: FnMut(Stream, &[u8]) + Send + 'static,
    {
        self.on_line = Some(LineCallback::new(Box::new(f)));
        self
    }

    /// Remove the [`Command::on_line`] callback.
    pub fn clear_on_line(&mut self) -> &mut Self {
        self.on_line = None;
        self
    }

    /// The line callback, for a run that must keep it alive.
    pub(crate) fn line_callback(&self) -> Option<LineCallback> {
        self.on_line.clone()
    }

    /// Run to the end in a private group and capture its output. A non-zero
    /// exit, a signal or a timeout is data ([`Output::outcome`],
    /// [`Output::exit_code`]...), not an error; an `Err` means the run could
    /// not start (bad argument, program not found...). See
    /// [`Command::run_checked`] for "success or error".
    pub fn output(&self) -> Result<Output> {
        let cmd = self.build()?;
        let mut res = ptr::null_mut();
        // SAFETY: cmd is a live handle; res an out-pointer.
        let rc = unsafe { sys::pk_command_run(cmd.0, &mut res) };
        let res = check(rc).map(|()| RawResult(res));
        resume_line_panic(self.on_line.as_ref());
        Output::from_result(res?)
    }

    /// [`Command::output`], then [`Output::check`]: an unaccepted exit code,
    /// a signal, a timeout, a cancellation or an overflow becomes an [`Error`]
    /// with the library's message (the program, its status, the last line of
    /// its stderr).
    pub fn run_checked(&self) -> Result<Output> {
        self.output()?.check()
    }

    /// The library command this builder describes.
    pub(crate) fn build(&self) -> Result<RawCommand> {
        let program = cstring(&self.program, "program")?;
        let mut raw = ptr::null_mut();
        // SAFETY: program is a valid C string; raw an out-pointer.
        check(unsafe { sys::pk_command_new(program.as_ptr(), &mut raw) })?;
        let cmd = RawCommand(raw);
        let c = cmd.0;
        // SAFETY (every call below): c is a live command handle and every
        // pointer argument outlives the call (the library copies).
        unsafe {
            for a in &self.args {
                let a = cstring(a, "argument")?;
                check(sys::pk_command_arg(c, a.as_ptr()))?;
            }
            if self.env_clear {
                check(sys::pk_command_env_clear(c))?;
            }
            for (k, v) in &self.env {
                let k = cstring(k, "environment key")?;
                match v {
                    Some(v) => {
                        let v = cstring(v, "environment value")?;
                        check(sys::pk_command_env(c, k.as_ptr(), v.as_ptr()))?;
                    }
                    None => check(sys::pk_command_env_unset(c, k.as_ptr()))?,
                }
            }
            if let Some(dir) = &self.cwd {
                let d = cstring(dir.as_os_str(), "cwd")?;
                check(sys::pk_command_cwd(c, d.as_ptr()))?;
            }
            let mut flags = 0;
            if self.new_session {
                flags |= sys::PK_COMMAND_NEW_SESSION;
            }
            if self.extra.no_window {
                flags |= sys::PK_COMMAND_NO_WINDOW;
            }
            if flags != 0 {
                check(sys::pk_command_flags(c, flags))?;
            }
            let x = &self.extra;
            if let Some((rows, cols)) = x.pty {
                check(sys::pk_command_pty(c, rows, cols))?;
            }
            if let Some((uid, gid, groups)) = &x.user {
                check(sys::pk_command_user(c, *uid, *gid, groups.as_ptr(), groups.len()))?;
            }
            if let Some(m) = x.umask {
                check(sys::pk_command_umask(c, m))?;
            }
            for &(r, soft, hard) in &x.rlimits {
                check(sys::pk_command_rlimit(c, r, soft, hard))?;
            }
            if let Some(fd) = &x.cwd_fd {
                check(sys::pk_command_cwd_fd(c, fd.as_raw_fd()))?;
            }
            for (child, fd) in &x.fd_map {
                check(sys::pk_command_map_fd(c, *child, fd.as_raw_fd()))?;
            }
            if self.parent_death_signal != 0 {
                check(sys::pk_command_parent_death_signal(c, self.parent_death_signal))?;
            }
            match &self.stdin {
                Input::Null => check(sys::pk_command_stdin_null(c))?,
                Input::Inherit => check(sys::pk_command_stdin_inherit(c))?,
                Input::Bytes(b) => check(sys::pk_command_stdin_bytes(c, b.as_ptr().cast(), b.len()))?,
                Input::File(p) => {
                    let p = cstring(p.as_os_str(), "stdin file")?;
                    check(sys::pk_command_stdin_file(c, p.as_ptr()))?
                }
                Input::Fd(fd) => check(sys::pk_command_stdin_fd(c, *fd))?,
                Input::Pipe => check(sys::pk_command_stdin_pipe(c))?,
            }
            for (stream, r) in [(sys::PK_STREAM_STDOUT, self.stdout), (sys::PK_STREAM_STDERR, self.stderr)] {
                if r != Redirect::Capture {
                    let (mode, fd) = r.raw();
                    check(sys::pk_command_output(c, stream, mode, fd))?;
                }
            }
            for (stream, limit) in [(sys::PK_STREAM_STDOUT, self.limits[0]), (sys::PK_STREAM_STDERR, self.limits[1])] {
                if let Some((max, policy)) = limit {
                    check(sys::pk_command_output_limit(c, stream, max, policy.raw()))?;
                }
            }
            if let Some((t, sig, grace)) = self.timeout {
                check(sys::pk_command_timeout(c, duration_ms_u32(t), sig, duration_ms_u32(grace)))?;
            }
            if !self.ok_codes.is_empty() {
                check(sys::pk_command_ok_codes(c, self.ok_codes.as_ptr(), self.ok_codes.len()))?;
            }
            if let Some(o) = self.group_options {
                let raw = o.to_raw();
                check(sys::pk_command_group_options(c, &raw))?;
            }
            if let Some(token) = &self.cancel {
                check(sys::pk_command_cancel_on(c, token.inner.raw))?;
            }
            if let Some(cb) = &self.on_line {
                // The state lives in an Arc held by this command and by
                // every Process started from it (see line_callback).
                let user = cb.user();
                for stream in [sys::PK_STREAM_STDOUT, sys::PK_STREAM_STDERR] {
                    check(sys::pk_command_on_line(c, stream, Some(line_trampoline), user))?;
                }
            }
        }
        Ok(cmd)
    }
}

/// A [`Command::on_line`] callback, shared by the command, its clones and
/// the runs started from it; the library holds a raw pointer to the state.
#[derive(Clone)]
pub(crate) struct LineCallback(Arc<LineState>);

type LineFn = dyn FnMut(Stream, &[u8]) + Send;

struct LineState {
    f: Mutex<Box<LineFn>>,
    /// The callback panicked: not called again; the payload until resumed.
    panicked: Mutex<(bool, Option<Box<dyn Any + Send>>)>,
}

impl fmt::Debug for LineCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LineCallback(..)")
    }
}

impl LineCallback {
    fn new(f: Box<LineFn>) -> LineCallback {
        LineCallback(Arc::new(LineState { f: Mutex::new(f), panicked: Mutex::new((false, None)) }))
    }

    fn user(&self) -> *mut c_void {
        Arc::as_ptr(&self.0) as *mut c_void
    }

    /// Resume a panic of the callback, once.
    pub(crate) fn resume_panic(&self) {
        let payload = self.0.panicked.lock().unwrap_or_else(|e| e.into_inner()).1.take();
        if let Some(p) = payload {
            panic::resume_unwind(p);
        }
    }
}

/// [`LineCallback::resume_panic`] for an optional callback.
pub(crate) fn resume_line_panic(cb: Option<&LineCallback>) {
    if let Some(cb) = cb {
        cb.resume_panic();
    }
}

thread_local! {
    /// The line callbacks running on this thread (re-entrancy guard).
    static RUNNING_LINE_FNS: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// The `pk_line_fn` given to the library: `user` is a `LineState`.
unsafe extern "C" fn line_trampoline(user: *mut c_void, stream: i32, line: *const c_char, len: usize) {
    // SAFETY: user is the Arc'd LineState of a LineCallback that the
    // Command or the Process being driven still holds.
    let state = unsafe { &*(user as *const LineState) };
    let key = user as usize;
    if state.panicked.lock().unwrap_or_else(|e| e.into_inner()).0 {
        return;
    }
    let reentrant = RUNNING_LINE_FNS.with(|r| {
        let mut r = r.borrow_mut();
        if r.contains(&key) {
            true
        } else {
            r.push(key);
            false
        }
    });
    if reentrant {
        return;
    }
    let stream = if stream == sys::PK_STREAM_STDERR { Stream::Stderr } else { Stream::Stdout };
    let bytes: &[u8] = if line.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the library passes len readable bytes, valid for the call.
        unsafe { std::slice::from_raw_parts(line.cast(), len) }
    };
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut f = state.f.lock().unwrap_or_else(|e| e.into_inner());
        (*f)(stream, bytes)
    }));
    RUNNING_LINE_FNS.with(|r| {
        let mut r = r.borrow_mut();
        if let Some(i) = r.iter().rposition(|&k| k == key) {
            r.remove(i);
        }
    });
    if let Err(payload) = r {
        let mut p = state.panicked.lock().unwrap_or_else(|e| e.into_inner());
        p.0 = true;
        if p.1.is_none() {
            p.1 = Some(payload);
        }
    }
}

/// An owned `pk_command`.
pub(crate) struct RawCommand(pub(crate) *mut sys::pk_command);

impl Drop for RawCommand {
    fn drop(&mut self) {
        // SAFETY: owned, freed once; runs already started are not affected.
        unsafe {
            sys::pk_command_free(self.0);
        }
    }
}

/// An owned `pk_result`.
pub(crate) struct RawResult(pub(crate) *mut sys::pk_result);

impl Drop for RawResult {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe {
            sys::pk_result_free(self.0);
        }
    }
}

/// A finished run: how it ended and what it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// How the run ended.
    pub outcome: Outcome,
    /// The exit code when the program exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it (for a timeout: the one that ended it).
    pub signal: Option<i32>,
    /// The program's pid.
    pub pid: i32,
    /// The mechanism that held the run.
    pub mechanism: Mechanism,
    /// It exited with an accepted code and no error-policy cap overflowed.
    pub success: bool,
    /// Captured stdout (empty when not captured).
    pub stdout: Vec<u8>,
    /// Captured stderr (empty when not captured or merged).
    pub stderr: Vec<u8>,
    /// Captured stdout lost bytes to its cap.
    pub stdout_truncated: bool,
    /// Captured stderr lost bytes to its cap.
    pub stderr_truncated: bool,
    /// An error-policy cap was exceeded.
    pub overflowed: bool,
    /// From spawn to the end of the run.
    pub duration: Duration,
    /// Bytes the program wrote to captured stdout (kept or not).
    pub stdout_bytes: u64,
    /// Bytes the program wrote to captured stderr (kept or not).
    pub stderr_bytes: u64,
    /// Pipelines ([`crate::Pipeline::output`]): how each stage ended, in
    /// order. Empty for a single run.
    pub stages: Vec<crate::StageInfo>,
    /// Pipelines: the first stage that failed (pipefail), to which
    /// `outcome`, `exit_code`, `signal` and `pid` belong. `None` when no
    /// stage failed, and for a single run.
    pub failed_stage: Option<usize>,
    failure: Option<Error>,
}

impl Output {
    pub(crate) fn from_result(res: RawResult) -> Result<Output> {
        let mut info = sys::pk_run_info::zeroed();
        // SAFETY: res is a live result handle; info a valid sized struct.
        check(unsafe { sys::pk_result_info(res.0, &mut info) })?;
        let stdout = read_stream(&res, sys::PK_STREAM_STDOUT)?;
        let stderr = read_stream(&res, sys::PK_STREAM_STDERR)?;
        // SAFETY: live handle.
        let rc = unsafe { sys::pk_result_check(res.0) };
        let failure = if rc == sys::PK_OK { None } else { Some(Error::from_last(rc)) };
        let outcome = Outcome::from_raw(info.outcome);
        Ok(Output {
            outcome,
            exit_code: if outcome == Outcome::Exited { Some(info.exit_code) } else { None },
            signal: if info.signal != 0 { Some(info.signal) } else { None },
            pid: info.pid,
            mechanism: Mechanism::from_raw(info.mechanism),
            success: info.success != 0,
            stdout,
            stderr,
            stdout_truncated: info.stdout_truncated != 0,
            stderr_truncated: info.stderr_truncated != 0,
            overflowed: info.overflowed != 0,
            duration: Duration::from_micros(info.duration_us),
            stdout_bytes: info.stdout_bytes,
            stderr_bytes: info.stderr_bytes,
            stages: Vec::new(),
            failed_stage: None,
            failure,
        })
    }

    /// `Ok(self)` if the run succeeded, else the library's verdict
    /// (`pk_result_check`): [`crate::ErrorCode::Failed`], [`crate::ErrorCode::Timeout`],
    /// [`crate::ErrorCode::Cancelled`] or [`crate::ErrorCode::Overflow`], with a message
    /// naming the program, its status and the last line of its stderr.
    pub fn check(self) -> Result<Output> {
        match self.failure {
            None => Ok(self),
            Some(e) => Err(e),
        }
    }

    /// Like [`Output::check`], keeping the output.
    pub fn error(&self) -> Option<&Error> {
        self.failure.as_ref()
    }

    /// The run hit its timeout.
    pub fn timed_out(&self) -> bool {
        self.outcome == Outcome::TimedOut
    }

    /// The exit status, when the program exited or a signal killed it.
    pub fn status(&self) -> Option<crate::ExitStatus> {
        match (self.outcome, self.exit_code, self.signal) {
            (Outcome::Exited, Some(c), _) => Some(crate::ExitStatus::Exited(c)),
            (Outcome::Signalled, _, Some(s)) => Some(crate::ExitStatus::Signaled { signal: s, core_dumped: false }),
            _ => None,
        }
    }

    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// stderr as text (invalid UTF-8 replaced).
    pub fn stderr_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }
}

fn read_stream(res: &RawResult, stream: i32) -> Result<Vec<u8>> {
    let mut data: *const u8 = ptr::null();
    let mut len = 0usize;
    // SAFETY: out-pointers; the bytes stay valid until the result is freed,
    // and are copied before that.
    check(unsafe { sys::pk_result_output(res.0, stream, &mut data, &mut len) })?;
    if len == 0 || data.is_null() {
        return Ok(Vec::new());
    }
    // SAFETY: the library gives len readable bytes at data.
    Ok(unsafe { std::slice::from_raw_parts(data, len) }.to_vec())
}
