//! Rust bindings to libprocesskit: child processes in kill-on-free groups,
//! and commands run with captured output on an embeddable event loop.
//!
//! ```no_run
//! use processkit_c::{Command, Group};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), processkit_c::Error> {
//! // Everything spawned into a group dies with it.
//! let group = Group::new()?;
//! println!("held by {}", group.mechanism()?); // "cgroup-v2" where available
//! let child = group.spawn(&["sh", "-c", "sleep 30 & wait"])?;
//! println!("pid {}", child.pid());
//! drop(group); // SIGKILLs the child and the sleep
//!
//! // Run and capture: a non-zero exit is data...
//! let out = Command::new("sh").args(["-c", "echo hi; exit 3"]).output()?;
//! assert_eq!(out.exit_code, Some(3));
//! assert_eq!(out.stdout, b"hi\n");
//! // ...unless success is asked for.
//! assert!(out.check().is_err());
//! let out = Command::new("sleep").arg("30")
//!     .timeout(Duration::from_millis(300), 0, Duration::from_millis(200))
//!     .output()?;
//! assert!(out.timed_out());
//!
//! // Pipelines: `printf | sort | tr` without a shell, failures attributed.
//! let out = processkit_c::Pipeline::new()
//!     .stage(Command::new("printf").arg("b\na\n"))
//!     .stage(&Command::new("sort"))
//!     .stage(Command::new("tr").args(["a-z", "A-Z"]))
//!     .output()?;
//! assert_eq!((&out.stdout[..], out.failed_stage), (&b"A\nB\n"[..], None));
//!
//! // Readiness: wait for a server's line (or port); it is left running.
//! let lp = processkit_c::Loop::new()?;
//! let server = lp.start(Command::new("sh").args(["-c", "echo ready; sleep 30"]))?;
//! server.wait_for_line(None, "ready", false, Some(Duration::from_secs(10)))?;
//! # Ok(()) }
//! ```
//!
//! The raw C ABI, generated from the library's ABI manifest, is in [`sys`].
//! The C library comes with the crate: the default feature `bundled` compiles
//! its one-file amalgamation (`csrc/processkit.c`) and links it statically.
//! With `default-features = false` the system's `libprocesskit.so.1` is
//! linked instead, found through pkg-config (see `build.rs`).
#![warn(missing_docs)]

#[rustfmt::skip]
pub mod sys;

mod command;
mod error;
#[rustfmt::skip]
mod error_code;
mod event_loop;
mod group;
mod pipeline;
mod policies;
pub mod signal;
#[cfg(feature = "tokio")]
mod tokio_support;
mod util;

pub use command::{CancelToken, Command, Input, Outcome, Output, Overflow, Redirect, Stream};
pub use error::{check, Error, ErrorCode, Result};
pub use event_loop::{Loop, LoopWaker, Process, Readiness, ReadyKind, ReadyOutcome};
pub use group::{
    host_probe, Backend, Child, Containment, ExitStatus, Group, GroupOptions, GroupStats, Mechanism, ShutdownOptions,
    ShutdownReport, SpawnOptions, Stdio,
};
pub use pipeline::{Pipeline, StageInfo};
pub use policies::{Restart, RetryOptions, Rlimit, StopReason, SuperviseOptions, SuperviseReport};
pub use signal::Signal;
#[cfg(feature = "tokio")]
pub use tokio_support::AsyncLoop;

/// The library's version at run time ("1.0.0"), `pk_version_string()`.
pub fn version() -> String {
    // SAFETY: static storage, never fails.
    unsafe { error::cstr_lossy(sys::pk_version_string()) }
}

/// The library's version packed as `(major << 16) | (minor << 8) | patch`.
pub fn version_number() -> u32 {
    // SAFETY: never fails.
    unsafe { sys::pk_version() }
}
