//! The event loop: many commands running at once on one thread.
use std::cell::Cell;
use std::ffi::OsStr;
use std::marker::PhantomData;
use std::os::unix::io::{AsRawFd, RawFd};
use std::ptr;
use std::time::Duration;

use crate::command::{resume_line_panic, Command, LineCallback, Output, RawResult, Stream};
use crate::error::{char_array, check, Error, ErrorCode, Result};
use crate::group::Group;
use crate::sys;
use crate::util::{cstring, timeout_ms_i32};

/// An event loop (`pk_loop`) over many running commands.
///
/// One thread drives a loop at a time, so a `Loop` may move between threads
/// (`Send`) but not be shared (`!Sync`). Its fd ([`Loop::fd`]) polls readable
/// whenever [`Loop::run_once`] has work, for embedding in another event loop
/// (the `tokio` feature's [`crate::AsyncLoop`] does that). Another thread
/// stops a wait on it through a [`LoopWaker`] ([`Loop::waker`]). Dropping it
/// kills and reaps everything still running on it.
#[derive(Debug)]
pub struct Loop {
    raw: *mut sys::pk_loop,
    fd: RawFd,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: a loop may be driven from any one thread at a time; !Sync (the
// Cell marker) keeps two threads from driving it at once.
unsafe impl Send for Loop {}

impl Loop {
    /// A new loop.
    pub fn new() -> Result<Loop> {
        let mut raw = ptr::null_mut();
        // SAFETY: out-pointer.
        check(unsafe { sys::pk_loop_new(&mut raw) })?;
        let mut lp = Loop { raw, fd: -1, _not_sync: PhantomData };
        let mut fd = -1;
        // SAFETY: live handle; out-pointer.
        check(unsafe { sys::pk_loop_fd(lp.raw, &mut fd) })?;
        lp.fd = fd;
        Ok(lp)
    }

    /// The raw handle, for use with [`crate::sys`]. It stays owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::pk_loop {
        self.raw
    }

    /// An fd that polls readable when [`Loop::run_once`] has work (owned by the loop).
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// A handle that wakes this loop from any thread ([`LoopWaker::wake`]).
    pub fn waker(&self) -> LoopWaker {
        LoopWaker { raw: self.raw }
    }

    /// Wait up to `timeout` (None = forever, zero = not at all) for events and
    /// handle them. A [`LoopWaker::wake`] makes it return `Ok` at once.
    pub fn run_once(&self, timeout: Option<Duration>) -> Result<()> {
        // SAFETY: live handle, driven by this thread only (!Sync).
        check(unsafe { sys::pk_loop_run_once(self.raw, timeout_ms_i32(timeout)) })
    }

    /// Start `cmd` on this loop in a private group of its own (the rest of
    /// its tree dies when the program ends).
    pub fn start(&self, cmd: &Command) -> Result<Process<'_>> {
        self.start_raw(cmd, ptr::null_mut())
    }

    /// Start `cmd` on this loop inside `group` (shared with other processes).
    pub fn start_in<'a>(&'a self, cmd: &Command, group: &'a Group) -> Result<Process<'a>> {
        self.start_raw(cmd, group.as_ptr())
    }

    fn start_raw(&self, cmd: &Command, group: *mut sys::pk_group) -> Result<Process<'_>> {
        let (raw, pid) = self.start_unowned(cmd, group)?;
        Ok(Process { raw, pid, _line: cmd.line_callback(), _loop: PhantomData })
    }

    /// Start a run; the caller owns the returned handle and frees it before the loop.
    pub(crate) fn start_unowned(
        &self,
        cmd: &Command,
        group: *mut sys::pk_group,
    ) -> Result<(*mut sys::pk_process, i32)> {
        let c = cmd.build()?;
        let mut raw = ptr::null_mut();
        // SAFETY: live handles; out-pointer. The command may be freed after
        // the start (runs already started are not affected).
        check(unsafe { sys::pk_loop_start(self.raw, c.0, group, &mut raw) })?;
        let mut pid = 0;
        // SAFETY: fresh handle.
        let rc = unsafe { sys::pk_process_pid(raw, &mut pid) };
        if rc != sys::PK_OK {
            let e = crate::error::Error::from_last(rc);
            // SAFETY: owned, freed once.
            unsafe { sys::pk_process_free(raw) };
            return Err(e);
        }
        Ok((raw, pid))
    }

    /// Drive the loop until one of `procs` is finished: `Some(index)`, or
    /// `None` if none finished within `timeout` (None = forever). A
    /// [`LoopWaker::wake`] ends it with [`ErrorCode::Cancelled`] (the runs go on).
    pub fn wait_any(&self, procs: &[&Process<'_>], timeout: Option<Duration>) -> Result<Option<usize>> {
        let raws: Vec<*mut sys::pk_process> = procs.iter().map(|p| p.raw).collect();
        let mut index = 0usize;
        // SAFETY: raws holds live handles; out-pointer.
        let rc =
            unsafe { sys::pk_loop_wait_any(self.raw, raws.as_ptr(), raws.len(), timeout_ms_i32(timeout), &mut index) };
        if rc == sys::PK_ERR_TIMEOUT {
            return Ok(None);
        }
        check(rc)?;
        Ok(Some(index))
    }

    /// Drive the loop until all of `procs` are finished: `false` if the
    /// timeout came first. A [`LoopWaker::wake`] ends it with
    /// [`ErrorCode::Cancelled`] (the runs go on).
    pub fn wait_all(&self, procs: &[&Process<'_>], timeout: Option<Duration>) -> Result<bool> {
        let raws: Vec<*mut sys::pk_process> = procs.iter().map(|p| p.raw).collect();
        // SAFETY: raws holds live handles.
        let rc = unsafe { sys::pk_loop_wait_all(self.raw, raws.as_ptr(), raws.len(), timeout_ms_i32(timeout)) };
        if rc == sys::PK_ERR_TIMEOUT {
            return Ok(false);
        }
        check(rc)?;
        Ok(true)
    }

    /// Run every command at once on this loop and return their outputs in order.
    pub fn output_all(&self, cmds: &[&Command]) -> Result<Vec<Output>> {
        let procs: Vec<Process<'_>> = cmds.iter().map(|c| self.start(c)).collect::<Result<_>>()?;
        let refs: Vec<&Process<'_>> = procs.iter().collect();
        self.wait_all(&refs, None)?;
        procs.iter().map(|p| p.result()).collect()
    }
}

/// Wakes a [`Loop`] from any thread (`pk_loop_wake`); made by [`Loop::waker`].
///
/// A wake ends a wait the library drives on the loop ([`Loop::wait_any`],
/// [`Loop::wait_all`], [`Process::wait_for_line`], [`Process::wait_for_port`])
/// with [`ErrorCode::Cancelled`], and every run goes on as it was; a
/// [`Loop::run_once`] in progress returns `Ok` at once, and the loop's fd
/// turns readable. A wake with nobody waiting only makes the next `run_once`
/// return early. Once the loop is dropped, [`LoopWaker::wake`] fails with
/// [`ErrorCode::Handle`].
#[derive(Debug, Clone)]
pub struct LoopWaker {
    raw: *mut sys::pk_loop,
}

// SAFETY: pk_loop_wake may be called from any thread, and a handle value is
// never reused: after the loop is freed the call fails with PK_ERR_HANDLE.
unsafe impl Send for LoopWaker {}
unsafe impl Sync for LoopWaker {}

impl LoopWaker {
    /// Wake the loop (not from a signal handler).
    pub fn wake(&self) -> Result<()> {
        // SAFETY: a loop handle, live or freed (then PK_ERR_HANDLE).
        check(unsafe { sys::pk_loop_wake(self.raw) })
    }
}

impl AsRawFd for Loop {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        // SAFETY: owned, freed once; kills and reaps what still runs.
        unsafe {
            sys::pk_loop_free(self.raw);
        }
    }
}

/// A command running (or finished) on a [`Loop`] (`pk_process`). Dropping
/// it while it runs cancels the run (the tree is killed) and reaps it.
#[derive(Debug)]
pub struct Process<'l> {
    raw: *mut sys::pk_process,
    pid: i32,
    /// The command's line callback: the run calls it until it is freed
    /// (a field, so it is dropped after pk_process_free in Drop).
    _line: Option<LineCallback>,
    _loop: PhantomData<&'l Loop>,
}

impl Process<'_> {
    /// The program's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The raw handle, for use with [`crate::sys`]. It stays owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::pk_process {
        self.raw
    }

    /// Whether the run is finished.
    pub fn is_done(&self) -> Result<bool> {
        process_done(self.raw)
    }

    /// The outcome and output of the finished run ([`crate::ErrorCode::State`] while it runs).
    /// A panic of the command's [`Command::on_line`] callback is resumed here.
    pub fn result(&self) -> Result<Output> {
        resume_line_panic(self._line.as_ref());
        process_result(self.raw)
    }

    /// Kill the tree and end the run as cancelled.
    pub fn cancel(&self) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe { sys::pk_process_cancel(self.raw) })
    }

    /// Send `sig` to the process's tree (its private group), or to the process alone in a shared group.
    pub fn signal(&self, sig: impl Into<crate::Signal>) -> Result<()> {
        let sig = sig.into().raw();
        // SAFETY: live handle.
        check(unsafe { sys::pk_process_signal(self.raw, sig) })
    }

    /// Readiness: drive the loop until a line of `stream` (`None`: stdout or
    /// stderr) contains `pattern`, or matches it as a POSIX extended regular
    /// expression when `regex` is true. Lines written before the call count
    /// too, and every line still reaches the capture. After `timeout` (None =
    /// no limit), or when the run ends first, the error is
    /// [`ErrorCode::NotReady`] with the last lines seen in its message; the
    /// process is never killed by a probe. A bad regex is
    /// [`ErrorCode::Invalid`]; a [`LoopWaker::wake`] ends it with
    /// [`ErrorCode::Cancelled`]. [`Process::readiness`] says how it ended.
    ///
    /// It blocks the thread (it drives the loop), like [`Loop::wait_all`].
    pub fn wait_for_line(
        &self,
        stream: Option<Stream>,
        pattern: impl AsRef<OsStr>,
        regex: bool,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let pattern = cstring(pattern.as_ref(), "pattern")?;
        let flags = if regex { sys::PK_MATCH_REGEX } else { sys::PK_MATCH_SUBSTRING };
        let stream = stream.map_or(0, Stream::raw);
        // SAFETY: live handle; pattern outlives the call.
        check(unsafe {
            sys::pk_process_wait_for_line(self.raw, stream, pattern.as_ptr(), flags, timeout_ms_i32(timeout))
        })
    }

    /// Readiness: drive the loop (so the output keeps flowing) until a TCP
    /// connection to 127.0.0.1:`port` succeeds. [`ErrorCode::NotReady`]
    /// after `timeout` (None = no limit) or when the run ends first; the
    /// process is never killed by a probe. A [`LoopWaker::wake`] ends it with
    /// [`ErrorCode::Cancelled`].
    pub fn wait_for_port(&self, port: u16, timeout: Option<Duration>) -> Result<()> {
        if port == 0 {
            return Err(Error::new(ErrorCode::Invalid, "wait_for_port: port 0"));
        }
        // SAFETY: live handle.
        check(unsafe { sys::pk_process_wait_for_port(self.raw, port, timeout_ms_i32(timeout)) })
    }

    /// How the last readiness probe on this process went (kind
    /// [`ReadyKind::None`] before any), as data rather than a message.
    pub fn readiness(&self) -> Result<Readiness> {
        let mut r = sys::pk_readiness_info::zeroed();
        // SAFETY: live handle; r is a valid sized struct.
        check(unsafe { sys::pk_process_readiness(self.raw, &mut r) })?;
        Ok(Readiness::from_raw(&r))
    }

    /// Queue bytes for an [`crate::Input::Pipe`] stdin; the loop writes them as the child reads.
    pub fn write(&self, data: &[u8]) -> Result<()> {
        // SAFETY: data is readable for its length; the library copies it.
        check(unsafe { sys::pk_process_write(self.raw, data.as_ptr().cast(), data.len()) })
    }

    /// Close the stdin pipe once the queued bytes are written.
    pub fn close_stdin(&self) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe { sys::pk_process_close_stdin(self.raw) })
    }

    /// Resize the pseudo-terminal of a [`Command::pty`] run (the child gets SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        // SAFETY: live handle.
        check(unsafe { sys::pk_process_resize(self.raw, rows, cols) })
    }
}

impl Drop for Process<'_> {
    fn drop(&mut self) {
        // SAFETY: owned, freed once (a running run is cancelled and reaped first).
        unsafe {
            sys::pk_process_free(self.raw);
        }
    }
}

/// `pk_process_done` on a live handle.
pub(crate) fn process_done(raw: *mut sys::pk_process) -> Result<bool> {
    let mut done = 0;
    // SAFETY: live handle; out-pointer.
    check(unsafe { sys::pk_process_done(raw, &mut done) })?;
    Ok(done != 0)
}

/// `pk_process_result` on a live handle, as an [`Output`].
pub(crate) fn process_result(raw: *mut sys::pk_process) -> Result<Output> {
    let mut res = ptr::null_mut();
    // SAFETY: live handle; out-pointer.
    check(unsafe { sys::pk_process_result(raw, &mut res) })?;
    Output::from_result(RawResult(res))
}

/// What a readiness probe waited for (`pk_ready_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadyKind {
    /// No probe has run on the process.
    None,
    /// A line ([`Process::wait_for_line`]).
    Line,
    /// A TCP port ([`Process::wait_for_port`]).
    Port,
    /// A caller's predicate (`pk_process_wait_for`).
    Check,
    /// A value this crate does not know (from a newer library).
    Unknown(i32),
}

impl ReadyKind {
    /// The variant for a raw `pk_ready_kind` value.
    pub fn from_raw(v: i32) -> ReadyKind {
        match v {
            sys::PK_READY_NONE => ReadyKind::None,
            sys::PK_READY_LINE => ReadyKind::Line,
            sys::PK_READY_PORT => ReadyKind::Port,
            sys::PK_READY_CHECK => ReadyKind::Check,
            other => ReadyKind::Unknown(other),
        }
    }

    /// The raw `pk_ready_kind` value.
    pub fn raw(self) -> i32 {
        match self {
            ReadyKind::None => sys::PK_READY_NONE,
            ReadyKind::Line => sys::PK_READY_LINE,
            ReadyKind::Port => sys::PK_READY_PORT,
            ReadyKind::Check => sys::PK_READY_CHECK,
            ReadyKind::Unknown(v) => v,
        }
    }

    /// Its name: "none", "line", "port", "check", or "unknown".
    pub fn name(self) -> &'static str {
        sys::pk_ready_kind_str(self.raw()).unwrap_or("unknown")
    }
}

impl std::fmt::Display for ReadyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a readiness probe ended (`pk_ready_outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadyOutcome {
    /// No probe has ended yet.
    Pending,
    /// The condition held (the probe returned `Ok`).
    Met,
    /// Its timeout passed first ([`ErrorCode::NotReady`]).
    TimedOut,
    /// The run finished first ([`ErrorCode::NotReady`]).
    RunEnded,
    /// A [`LoopWaker::wake`] ended the wait ([`ErrorCode::Cancelled`]).
    Woken,
    /// Another error ended it (the probe's error says which).
    Failed,
    /// A value this crate does not know (from a newer library).
    Unknown(i32),
}

impl ReadyOutcome {
    /// The variant for a raw `pk_ready_outcome` value.
    pub fn from_raw(v: i32) -> ReadyOutcome {
        match v {
            sys::PK_READY_PENDING => ReadyOutcome::Pending,
            sys::PK_READY_MET => ReadyOutcome::Met,
            sys::PK_READY_TIMED_OUT => ReadyOutcome::TimedOut,
            sys::PK_READY_RUN_ENDED => ReadyOutcome::RunEnded,
            sys::PK_READY_WOKEN => ReadyOutcome::Woken,
            sys::PK_READY_FAILED => ReadyOutcome::Failed,
            other => ReadyOutcome::Unknown(other),
        }
    }

    /// The raw `pk_ready_outcome` value.
    pub fn raw(self) -> i32 {
        match self {
            ReadyOutcome::Pending => sys::PK_READY_PENDING,
            ReadyOutcome::Met => sys::PK_READY_MET,
            ReadyOutcome::TimedOut => sys::PK_READY_TIMED_OUT,
            ReadyOutcome::RunEnded => sys::PK_READY_RUN_ENDED,
            ReadyOutcome::Woken => sys::PK_READY_WOKEN,
            ReadyOutcome::Failed => sys::PK_READY_FAILED,
            ReadyOutcome::Unknown(v) => v,
        }
    }

    /// Its name: "pending", "met", "timed-out", "run-ended", "woken",
    /// "failed", or "unknown".
    pub fn name(self) -> &'static str {
        sys::pk_ready_outcome_str(self.raw()).unwrap_or("unknown")
    }
}

impl std::fmt::Display for ReadyOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The last readiness probe on a [`Process`] ([`Process::readiness`],
/// `pk_process_readiness`): what it waited for, how it ended, how long it
/// waited and what it last saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// What it waited for ([`ReadyKind::None`]: no probe has run).
    pub kind: ReadyKind,
    /// How it ended ([`ReadyOutcome::Pending`] while it runs).
    pub outcome: ReadyOutcome,
    /// Line probes: the stream it watched (`None`: either).
    pub stream: Option<Stream>,
    /// Port probes: the port on 127.0.0.1.
    pub port: Option<u16>,
    /// Line probes: how many lines it looked at, those before the call included.
    pub lines_seen: u32,
    /// How long it waited.
    pub waited: Duration,
    /// Line probes: the last line it looked at (cut to 159 bytes), or "".
    pub last_line: String,
}

impl Readiness {
    fn from_raw(r: &sys::pk_readiness_info) -> Readiness {
        Readiness {
            kind: ReadyKind::from_raw(r.kind),
            outcome: ReadyOutcome::from_raw(r.outcome),
            stream: match r.stream {
                sys::PK_STREAM_STDOUT => Some(Stream::Stdout),
                sys::PK_STREAM_STDERR => Some(Stream::Stderr),
                _ => None,
            },
            port: u16::try_from(r.port).ok().filter(|&p| p != 0),
            lines_seen: r.lines_seen,
            waited: Duration::from_micros(r.waited_us),
            last_line: char_array(&r.last_line),
        }
    }
}
