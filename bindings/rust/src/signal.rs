//! Signals: the [`Signal`] type, accepted by every call that sends or names
//! a signal, and the Linux signal numbers as plain integers.
//!
//! Every signal argument takes `impl Into<Signal>`, so a [`Signal`], one of
//! the integer constants below or any `i32` works:
//! `child.signal(Signal::SIGTERM)`, `child.signal(signal::SIGTERM)`,
//! `child.signal(15)`.
use std::fmt;

/// Hangup.
pub const SIGHUP: i32 = 1;
/// Interrupt.
pub const SIGINT: i32 = 2;
/// Quit.
pub const SIGQUIT: i32 = 3;
/// Kill (cannot be caught).
pub const SIGKILL: i32 = 9;
/// User-defined 1.
pub const SIGUSR1: i32 = 10;
/// User-defined 2.
pub const SIGUSR2: i32 = 12;
/// Terminate.
pub const SIGTERM: i32 = 15;
/// Continue.
pub const SIGCONT: i32 = 18;
/// Stop (cannot be caught).
pub const SIGSTOP: i32 = 19;

/// A signal number (Linux numbering), e.g. [`Signal::SIGTERM`].
///
/// Any number can be held ([`Signal::from_raw`]), including real-time
/// signals and 0 (which the library reads as "the default" where it takes
/// an optional signal, e.g. a timeout's first signal, SIGTERM). `Display`
/// gives the name ("SIGTERM"), or "signal N" for a number without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct Signal(i32);

macro_rules! signals {
    ($($name:ident = $num:expr, $doc:expr;)*) => {
        impl Signal {
            $(
                #[doc = $doc]
                pub const $name: Signal = Signal($num);
            )*

            /// The signal's name ("SIGTERM"), if it has one.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($num => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

signals! {
    SIGHUP = 1, "Hangup.";
    SIGINT = 2, "Interrupt.";
    SIGQUIT = 3, "Quit.";
    SIGILL = 4, "Illegal instruction.";
    SIGTRAP = 5, "Trace or breakpoint trap.";
    SIGABRT = 6, "Abort.";
    SIGBUS = 7, "Bus error.";
    SIGFPE = 8, "Floating-point exception.";
    SIGKILL = 9, "Kill (cannot be caught).";
    SIGUSR1 = 10, "User-defined 1.";
    SIGSEGV = 11, "Invalid memory reference.";
    SIGUSR2 = 12, "User-defined 2.";
    SIGPIPE = 13, "Broken pipe.";
    SIGALRM = 14, "Alarm clock.";
    SIGTERM = 15, "Terminate.";
    SIGSTKFLT = 16, "Stack fault on coprocessor.";
    SIGCHLD = 17, "Child stopped or terminated.";
    SIGCONT = 18, "Continue.";
    SIGSTOP = 19, "Stop (cannot be caught).";
    SIGTSTP = 20, "Stop typed at terminal.";
    SIGTTIN = 21, "Terminal input for a background process.";
    SIGTTOU = 22, "Terminal output for a background process.";
    SIGURG = 23, "Urgent condition on a socket.";
    SIGXCPU = 24, "CPU time limit exceeded.";
    SIGXFSZ = 25, "File size limit exceeded.";
    SIGVTALRM = 26, "Virtual alarm clock.";
    SIGPROF = 27, "Profiling timer expired.";
    SIGWINCH = 28, "Window resize.";
    SIGIO = 29, "I/O now possible.";
    SIGPWR = 30, "Power failure.";
    SIGSYS = 31, "Bad system call.";
}

impl Signal {
    /// The signal with this number (any number; see [`Signal::name`]).
    pub const fn from_raw(num: i32) -> Signal {
        Signal(num)
    }

    /// The signal's number.
    pub const fn raw(self) -> i32 {
        self.0
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "signal {}", self.0),
        }
    }
}

impl From<i32> for Signal {
    fn from(num: i32) -> Signal {
        Signal(num)
    }
}

impl From<Signal> for i32 {
    fn from(s: Signal) -> i32 {
        s.0
    }
}
