//! Async runs on tokio (cargo feature `tokio`): a [`Loop`]'s fd registered
//! with tokio's reactor through [`tokio::io::unix::AsyncFd`], the loop
//! driven with `pk_loop_run_once(loop, 0)` whenever it polls readable.
use std::os::raw::{c_int, c_short, c_ulong};
use std::os::unix::io::{AsRawFd, RawFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

use crate::command::{resume_line_panic, Command, LineCallback, Output};
use crate::error::{Error, ErrorCode, Result};
use crate::event_loop::{process_done, process_result, Loop, Process};
use crate::group::Group;
use crate::sys;

/// A [`Loop`] driven by tokio. Many runs share it: start them all, then
/// await them together (`tokio::join!`) or use [`AsyncLoop::output_all`].
///
/// Like [`Loop`] it is `Send` but not `Sync`, so its futures stay on one
/// task (join them, or use a `LocalSet`); it needs a tokio runtime with IO
/// enabled.
#[derive(Debug)]
pub struct AsyncLoop {
    afd: AsyncFd<LoopFd>,
    // After any future drives the loop it wakes the others, whose runs it may
    // have finished.
    progress: Notify,
    lp: Loop,
}

#[derive(Debug)]
struct LoopFd(RawFd);

impl AsRawFd for LoopFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::new(ErrorCode::Os, format!("{}: {}", what, e))
}

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}

extern "C" {
    fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
}

/// Whether `fd` polls readable right now.
fn readable_now(fd: RawFd) -> bool {
    const POLLIN: c_short = 1;
    let mut p = PollFd { fd, events: POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, no waiting.
    let n = unsafe { poll(&mut p, 1, 0) };
    n > 0 && p.revents != 0
}

impl AsyncLoop {
    /// A new loop registered with the current tokio runtime.
    pub fn new() -> Result<AsyncLoop> {
        AsyncLoop::from_loop(Loop::new()?)
    }

    /// Register an existing loop with the current tokio runtime.
    pub fn from_loop(lp: Loop) -> Result<AsyncLoop> {
        let afd = AsyncFd::with_interest(LoopFd(lp.fd()), tokio::io::Interest::READABLE)
            .map_err(|e| io_error("AsyncFd::new(pk_loop fd)", e))?;
        Ok(AsyncLoop { afd, progress: Notify::new(), lp })
    }

    /// The underlying loop.
    pub fn inner(&self) -> &Loop {
        &self.lp
    }

    /// Start `cmd` on this loop in a private group; await it with [`AsyncLoop::wait`].
    pub fn start(&self, cmd: &Command) -> Result<Process<'_>> {
        self.lp.start(cmd)
    }

    /// Start `cmd` on this loop inside `group`.
    pub fn start_in<'a>(&'a self, cmd: &Command, group: &'a Group) -> Result<Process<'a>> {
        self.lp.start_in(cmd, group)
    }

    /// Drive the loop until `proc` is finished and return its output.
    pub async fn wait(&self, proc: &Process<'_>) -> Result<Output> {
        loop {
            // Created before looking, so a wake-up from another future
            // between the look and the await is not lost.
            let progressed = self.progress.notified();
            if proc.is_done()? {
                return proc.result();
            }
            tokio::select! {
                ready = self.afd.readable() => {
                    let mut guard = ready.map_err(|e| io_error("pk_loop fd", e))?;
                    let ran = self.lp.run_once(Some(Duration::ZERO));
                    // Events beyond one batch stay queued and keep the fd
                    // readable; only forget the readiness once it is drained.
                    if !readable_now(self.lp.fd()) {
                        guard.clear_ready();
                    }
                    self.progress.notify_waiters();
                    ran?;
                }
                _ = progressed => {}
            }
        }
    }

    /// Run `cmd` on this loop and return its output (a non-zero exit is data).
    pub async fn output(&self, cmd: &Command) -> Result<Output> {
        let p = self.start(cmd)?;
        self.wait(&p).await
    }

    /// Run every command at once on this loop; the outputs in order.
    pub async fn output_all(&self, cmds: &[&Command]) -> Result<Vec<Output>> {
        let procs: Vec<Process<'_>> = cmds.iter().map(|c| self.start(c)).collect::<Result<_>>()?;
        let mut out = Vec::with_capacity(procs.len());
        for p in &procs {
            out.push(self.wait(p).await?);
        }
        Ok(out)
    }
}

impl Command {
    /// [`Command::output`] without blocking the thread: the run gets a loop
    /// of its own driven by tokio, and the future is `Send` (it may be
    /// `tokio::spawn`ed). To run many commands on one loop, use [`AsyncLoop`].
    /// Dropping the future cancels the run and reaps it.
    pub async fn output_async(&self) -> Result<Output> {
        let mut run = SoloRun::start(self)?;
        run.finish().await
    }

    /// [`Command::output_async`], then [`Output::check`].
    pub async fn run_checked_async(&self) -> Result<Output> {
        self.output_async().await?.check()
    }
}

/// One run on a loop of its own, owned as a unit so that its future can
/// move between threads: only one thread at a time ever touches it.
struct SoloRun {
    afd: AsyncFd<LoopFd>,
    proc: *mut sys::pk_process,
    lp: Loop,
    /// The command's line callback, alive as long as the run (dropped after
    /// the process and the loop).
    line: Option<LineCallback>,
}

// SAFETY: the loop, its process and the fd registration move together and
// are driven by whichever single thread polls the future (`finish` takes
// `&mut self`); nothing is shared.
unsafe impl Send for SoloRun {}

impl SoloRun {
    fn start(cmd: &Command) -> Result<SoloRun> {
        let lp = Loop::new()?;
        let afd = AsyncFd::with_interest(LoopFd(lp.fd()), tokio::io::Interest::READABLE)
            .map_err(|e| io_error("AsyncFd::new(pk_loop fd)", e))?;
        let (proc, _pid) = lp.start_unowned(cmd, std::ptr::null_mut())?;
        Ok(SoloRun { afd, proc, lp, line: cmd.line_callback() })
    }

    async fn finish(&mut self) -> Result<Output> {
        loop {
            if process_done(self.proc)? {
                resume_line_panic(self.line.as_ref());
                return process_result(self.proc);
            }
            let mut guard = self.afd.readable().await.map_err(|e| io_error("pk_loop fd", e))?;
            let ran = self.lp.run_once(Some(Duration::ZERO));
            if !readable_now(self.lp.fd()) {
                guard.clear_ready();
            }
            ran?;
        }
    }
}

impl Drop for SoloRun {
    fn drop(&mut self) {
        // SAFETY: owned, freed once, before the loop (a run still going is
        // cancelled and reaped). The fd registration and the loop follow.
        unsafe {
            sys::pk_process_free(self.proc);
        }
    }
}
