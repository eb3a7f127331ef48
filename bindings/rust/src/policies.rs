//! Retries, supervision and resource-limit names: [`Command::output_retry`],
//! [`Command::supervise`], [`Rlimit`].
use std::ptr;
use std::time::Duration;

use crate::command::{resume_line_panic, RawResult};
use crate::error::{check, Result};
use crate::util::duration_ms_u32;
use crate::{sys, CancelToken, Command, Output};

/// Linux `RLIMIT_*` resource numbers for [`Command::rlimit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rlimit {
    /// CPU seconds.
    Cpu = 0,
    /// Largest file size.
    Fsize = 1,
    /// Data segment size.
    Data = 2,
    /// Stack size.
    Stack = 3,
    /// Core file size.
    Core = 4,
    /// Processes of the user.
    Nproc = 6,
    /// Open files.
    Nofile = 7,
    /// Address space.
    As = 9,
}

impl From<Rlimit> for i32 {
    fn from(r: Rlimit) -> i32 {
        r as i32
    }
}

/// How [`Command::output_retry`] retries (`pk_retry_options`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryOptions {
    /// Runs at most, the first included (default 3).
    pub max_attempts: u32,
    /// Delay before the second attempt (default 100 ms).
    pub initial_delay: Duration,
    /// Cap on any delay (default 30 s).
    pub max_delay: Duration,
    /// Growth per attempt (default 2.0).
    pub multiplier: f64,
    /// Each delay uniformly random in [0, delay] (default true).
    pub jitter: bool,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            max_attempts: 3,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: true,
        }
    }
}

/// When [`Command::supervise`] restarts the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Never: one run.
    Never,
    /// When a run did not succeed (the default).
    #[default]
    OnFailure,
    /// After every run.
    Always,
}

/// How [`Command::supervise`] keeps a program running (`pk_supervise_options`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuperviseOptions {
    /// The restart policy.
    pub restart: Restart,
    /// Restarts at most (0 = unlimited, the default).
    pub max_restarts: u32,
    /// Delay before the first restart (default 200 ms).
    pub backoff_initial: Duration,
    /// Cap on the delay (default 30 s).
    pub backoff_max: Duration,
    /// Growth per restart (default 2.0).
    pub backoff_multiplier: f64,
    /// Delays scaled by a random factor in [0.5, 1.5) (default true).
    pub jitter: bool,
    /// Storm guard: this many restarts within `storm_window` give up (0 = off).
    pub storm_restarts: u32,
    /// The storm guard's window.
    pub storm_window: Duration,
    /// `Some(pause)`: a storm pauses that long instead of giving up.
    pub storm_pause: Option<Duration>,
}

impl Default for SuperviseOptions {
    fn default() -> Self {
        SuperviseOptions {
            restart: Restart::OnFailure,
            max_restarts: 0,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            backoff_multiplier: 2.0,
            jitter: true,
            storm_restarts: 0,
            storm_window: Duration::ZERO,
            storm_pause: None,
        }
    }
}

/// Why supervision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The restart policy was satisfied (e.g. a run succeeded under on-failure).
    Exited,
    /// Restarts ran out, or the storm guard tripped.
    GaveUp,
    /// The stop token ended it.
    Stopped,
    /// A value this binding does not know.
    Unknown(i32),
}

/// What [`Command::supervise`] did (`pk_supervise_report`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuperviseReport {
    /// Times the program started.
    pub runs: u32,
    /// `runs - 1` when it ran at all.
    pub restarts: u32,
    /// Times the storm guard paused.
    pub storm_pauses: u32,
    /// Why it ended.
    pub stop_reason: StopReason,
}

impl Command {
    /// Run until a run succeeds or `opts.max_attempts` runs were made
    /// (`pk_command_run_retry`, any failure retried); the [`Output`] is the
    /// last attempt's. A cancellation ends it at once. Stdin must be
    /// replayable (null, bytes or a file).
    pub fn output_retry(&self, opts: RetryOptions) -> Result<Output> {
        let cmd = self.build()?;
        let mut raw = sys::pk_retry_options::zeroed();
        raw.max_attempts = opts.max_attempts;
        raw.initial_delay_ms = duration_ms_u32(opts.initial_delay);
        raw.max_delay_ms = duration_ms_u32(opts.max_delay);
        raw.multiplier = opts.multiplier;
        raw.jitter = opts.jitter as i32;
        let mut res = ptr::null_mut();
        // SAFETY: live handle, a sized options struct, no classifier.
        let rc = unsafe { sys::pk_command_run_retry(cmd.0, &raw, None, ptr::null_mut(), &mut res) };
        let res = check(rc).map(|()| RawResult(res));
        resume_line_panic(self.line_callback().as_ref());
        Output::from_result(res?)
    }

    /// Keep the program running by `opts` until the policy is satisfied,
    /// the restarts run out, or `stop` is triggered (which also stops the
    /// current run: its timeout signal, then SIGKILL after 2 s). Blocks.
    pub fn supervise(&self, opts: SuperviseOptions, stop: Option<&CancelToken>) -> Result<SuperviseReport> {
        let cmd = self.build()?;
        let mut raw = sys::pk_supervise_options::zeroed();
        raw.restart = match opts.restart {
            Restart::Never => sys::PK_RESTART_NEVER,
            Restart::OnFailure => sys::PK_RESTART_ON_FAILURE,
            Restart::Always => sys::PK_RESTART_ALWAYS,
        };
        raw.max_restarts = opts.max_restarts;
        raw.backoff_initial_ms = duration_ms_u32(opts.backoff_initial);
        raw.backoff_max_ms = duration_ms_u32(opts.backoff_max);
        raw.backoff_multiplier = opts.backoff_multiplier;
        raw.jitter = opts.jitter as i32;
        raw.storm_restarts = opts.storm_restarts;
        raw.storm_window_ms = duration_ms_u32(opts.storm_window);
        match opts.storm_pause {
            Some(p) => {
                raw.storm_action = sys::PK_STORM_PAUSE;
                raw.storm_pause_ms = duration_ms_u32(p);
            }
            None => raw.storm_action = sys::PK_STORM_GIVE_UP,
        }
        let mut report = sys::pk_supervise_report::zeroed();
        let stop_ptr = stop.map_or(ptr::null_mut(), |t| t.as_ptr());
        // SAFETY: live handles; sized structs; no callbacks.
        let rc = unsafe { sys::pk_supervise(cmd.0, &raw, None, None, ptr::null_mut(), stop_ptr, &mut report) };
        resume_line_panic(self.line_callback().as_ref());
        check(rc)?;
        Ok(SuperviseReport {
            runs: report.runs,
            restarts: report.restarts,
            storm_pauses: report.storm_pauses,
            stop_reason: match report.stop_reason {
                sys::PK_SUPERVISE_EXITED => StopReason::Exited,
                sys::PK_SUPERVISE_GAVE_UP => StopReason::GaveUp,
                sys::PK_SUPERVISE_STOPPED => StopReason::Stopped,
                v => StopReason::Unknown(v),
            },
        })
    }
}
