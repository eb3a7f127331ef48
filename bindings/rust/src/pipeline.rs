//! Pipelines: `a | b | c` without a shell ([`Pipeline`]), and how each stage
//! ended ([`StageInfo`]).
use std::ptr;
use std::time::Duration;

use crate::command::{CancelToken, Command, Outcome, Output, RawResult};
use crate::error::{check, Result};
use crate::sys;
use crate::util::duration_ms_u32;

/// `a | b | c` with no shell: every stage runs in one private group (cgroup
/// v2 where available), each stage's stdout feeding the next one's stdin
/// through an OS pipe.
///
/// ```no_run
/// use processkit_c::{Command, Pipeline};
/// # fn main() -> Result<(), processkit_c::Error> {
/// let out = Pipeline::new()
///     .stage(Command::new("printf").arg("b\na\n"))
///     .stage(&Command::new("sort"))
///     .stage(Command::new("tr").args(["a-z", "A-Z"]))
///     .output()?;
/// assert_eq!(out.stdout, b"A\nB\n");
/// assert_eq!(out.failed_stage, None);
/// # Ok(()) }
/// ```
///
/// The first stage's stdin and the last stage's stdout (and every stage's
/// stderr) are the commands' own settings; the [`Output`] carries the last
/// stage's captured output. Its outcome, exit code, signal and pid are those
/// of the first stage that failed (pipefail, [`Output::failed_stage`]), else
/// of the last stage; [`Output::stages`] says how each one ended. A producer
/// killed by SIGPIPE (its reader ended first) does not count as failed unless
/// [`Pipeline::sigpipe_fails`] is set.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    stages: Vec<(Command, bool)>,
    sigpipe_fails: bool,
    timeout: Option<(Duration, i32, Duration)>,
    cancel: Option<CancelToken>,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// Append a stage (a copy of `cmd`).
    pub fn stage(&mut self, cmd: &Command) -> &mut Self {
        self.stages.push((cmd.clone(), false));
        self
    }

    /// Append a stage whose failure never fails the pipeline.
    pub fn unchecked_stage(&mut self, cmd: &Command) -> &mut Self {
        self.stages.push((cmd.clone(), true));
        self
    }

    /// Whether a producer killed by SIGPIPE counts as failed (default: no).
    pub fn sigpipe_fails(&mut self, on: bool) -> &mut Self {
        self.sigpipe_fails = on;
        self
    }

    /// Bound the whole pipeline: after `timeout` send `signal` (0 = SIGTERM)
    /// to every stage's tree, wait `grace`, then SIGKILL. It ends as
    /// [`Outcome::TimedOut`].
    pub fn timeout(&mut self, timeout: Duration, signal: impl Into<crate::Signal>, grace: Duration) -> &mut Self {
        let signal = signal.into().raw();
        self.timeout = Some((timeout, signal, grace));
        self
    }

    /// Cancel the whole pipeline when `token` is triggered.
    pub fn cancel_on(&mut self, token: &CancelToken) -> &mut Self {
        self.cancel = Some(token.clone());
        self
    }

    /// The number of stages.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// Whether it has no stages.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Run every stage and wait for the end. A failing stage, a timeout or a
    /// cancellation is data ([`Output::failed_stage`], [`Output::stages`]...);
    /// an `Err` means the pipeline could not run (no stages, a program not
    /// found...).
    pub fn output(&self) -> Result<Output> {
        let pl = RawPipeline::new()?;
        let cmds = self.stages.iter().map(|(c, _)| c.build()).collect::<Result<Vec<_>>>()?;
        // SAFETY (every call below): live pipeline, command and token
        // handles; the library references the commands it is given.
        unsafe {
            for (cmd, (_, unchecked)) in cmds.iter().zip(&self.stages) {
                let flags = if *unchecked { sys::PK_STAGE_UNCHECKED } else { 0 };
                check(sys::pk_pipeline_add(pl.0, cmd.0, flags))?;
            }
            if self.sigpipe_fails {
                check(sys::pk_pipeline_flags(pl.0, sys::PK_PIPELINE_SIGPIPE_FAILS))?;
            }
            if let Some((t, sig, grace)) = self.timeout {
                check(sys::pk_pipeline_timeout(pl.0, duration_ms_u32(t), sig, duration_ms_u32(grace)))?;
            }
            if let Some(token) = &self.cancel {
                check(sys::pk_pipeline_cancel_on(pl.0, token.as_ptr()))?;
            }
        }
        let mut res = ptr::null_mut();
        // SAFETY: live handle; out-pointer.
        let rc = unsafe { sys::pk_pipeline_run(pl.0, &mut res) };
        let res = check(rc).map(|()| RawResult(res));
        for (c, _) in &self.stages {
            crate::command::resume_line_panic(c.line_callback().as_ref());
        }
        let res = res?;
        let mut info = sys::pk_run_info::zeroed();
        // SAFETY: live result; a sized struct.
        check(unsafe { sys::pk_result_info(res.0, &mut info) })?;
        let stages = (0..info.stage_count)
            .map(|i| {
                let mut s = sys::pk_run_info::zeroed();
                // SAFETY: live result, i < stage_count; a sized struct.
                check(unsafe { sys::pk_result_stage_info(res.0, i, &mut s) })?;
                Ok(StageInfo::from_raw(&s))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut out = Output::from_result(res)?;
        out.failed_stage = usize::try_from(info.failed_stage).ok();
        out.stages = stages;
        Ok(out)
    }

    /// [`Pipeline::output`], then [`Output::check`]: a failed stage becomes
    /// an [`crate::Error`] whose message names it ("stage 2 of 3 (sh): exited
    /// with code 4").
    pub fn run_checked(&self) -> Result<Output> {
        self.output()?.check()
    }
}

/// An owned `pk_pipeline`.
struct RawPipeline(*mut sys::pk_pipeline);

impl RawPipeline {
    fn new() -> Result<RawPipeline> {
        let mut raw = ptr::null_mut();
        // SAFETY: out-pointer.
        check(unsafe { sys::pk_pipeline_new(&mut raw) })?;
        Ok(RawPipeline(raw))
    }
}

impl Drop for RawPipeline {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe {
            sys::pk_pipeline_free(self.0);
        }
    }
}

/// How one stage of a pipeline ended. Its output went to the next stage;
/// only the last stage's output is in the [`Output`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageInfo {
    /// How the stage ended.
    pub outcome: Outcome,
    /// The exit code when it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it.
    pub signal: Option<i32>,
    /// The stage's pid.
    pub pid: i32,
    /// It exited with an accepted code.
    pub success: bool,
    /// From spawn to the end of the stage.
    pub duration: Duration,
    /// Bytes of captured stdout (0 for a stage writing into the pipe).
    pub stdout_bytes: u64,
    /// Bytes of captured stderr.
    pub stderr_bytes: u64,
}

impl StageInfo {
    fn from_raw(info: &sys::pk_run_info) -> StageInfo {
        let outcome = Outcome::from_raw(info.outcome);
        StageInfo {
            outcome,
            exit_code: if outcome == Outcome::Exited { Some(info.exit_code) } else { None },
            signal: if info.signal != 0 { Some(info.signal) } else { None },
            pid: info.pid,
            success: info.success != 0,
            duration: Duration::from_micros(info.duration_us),
            stdout_bytes: info.stdout_bytes,
            stderr_bytes: info.stderr_bytes,
        }
    }
}
