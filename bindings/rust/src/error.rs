//! The crate's error type: a library error code and the library's message.
use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_int;

use crate::sys;

/// What went wrong, as the library classifies it (`pk_error`).
///
/// Every code the library defines has a variant; a code from a newer library
/// that this crate does not know comes back as [`ErrorCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A bad argument: NULL pointer, empty argv, bad enum value... (`PK_ERR_INVALID`)
    Invalid,
    /// Out of memory. (`PK_ERR_NOMEM`)
    NoMem,
    /// A NULL, freed or wrong-type handle. (`PK_ERR_HANDLE`)
    Handle,
    /// An operating-system call failed; the message names it and errno. (`PK_ERR_OS`)
    Os,
    /// The requested backend or minimum mechanism is not available here. (`PK_ERR_UNAVAILABLE`)
    Unavailable,
    /// A resource limit was asked for but cannot be enforced here. (`PK_ERR_LIMIT`)
    Limit,
    /// The program was not found. (`PK_ERR_NOT_FOUND`)
    NotFound,
    /// The program may not be executed, or an operation was refused. (`PK_ERR_PERMISSION`)
    Permission,
    /// No such process. (`PK_ERR_NO_PROCESS`)
    NoProcess,
    /// A wait ran out of time, or a run timed out. (`PK_ERR_TIMEOUT`)
    Timeout,
    /// The mechanism or platform cannot do this. (`PK_ERR_UNSUPPORTED`)
    Unsupported,
    /// A struct from a newer caller sets fields this library does not know. (`PK_ERR_VERSION`)
    Version,
    /// The operation or run was cancelled. (`PK_ERR_CANCELLED`)
    Cancelled,
    /// Output exceeded its cap under the error policy. (`PK_ERR_OVERFLOW`)
    Overflow,
    /// Not allowed in the object's current state. (`PK_ERR_STATE`)
    State,
    /// A command ended without success. (`PK_ERR_FAILED`)
    Failed,
    /// A readiness probe was not satisfied in time.
    NotReady,
    /// A code this crate does not know (from a newer library).
    Unknown(i32),
}

impl ErrorCode {
    /// The variant for a raw `pk_error` value.
    pub fn from_raw(code: i32) -> ErrorCode {
        match code {
            sys::PK_ERR_INVALID => ErrorCode::Invalid,
            sys::PK_ERR_NOMEM => ErrorCode::NoMem,
            sys::PK_ERR_HANDLE => ErrorCode::Handle,
            sys::PK_ERR_OS => ErrorCode::Os,
            sys::PK_ERR_UNAVAILABLE => ErrorCode::Unavailable,
            sys::PK_ERR_LIMIT => ErrorCode::Limit,
            sys::PK_ERR_NOT_FOUND => ErrorCode::NotFound,
            sys::PK_ERR_PERMISSION => ErrorCode::Permission,
            sys::PK_ERR_NO_PROCESS => ErrorCode::NoProcess,
            sys::PK_ERR_TIMEOUT => ErrorCode::Timeout,
            sys::PK_ERR_UNSUPPORTED => ErrorCode::Unsupported,
            sys::PK_ERR_VERSION => ErrorCode::Version,
            sys::PK_ERR_CANCELLED => ErrorCode::Cancelled,
            sys::PK_ERR_OVERFLOW => ErrorCode::Overflow,
            sys::PK_ERR_STATE => ErrorCode::State,
            sys::PK_ERR_FAILED => ErrorCode::Failed,
            sys::PK_ERR_NOT_READY => ErrorCode::NotReady,
            other => ErrorCode::Unknown(other),
        }
    }

    /// The raw `pk_error` value.
    pub fn raw(self) -> i32 {
        match self {
            ErrorCode::Invalid => sys::PK_ERR_INVALID,
            ErrorCode::NoMem => sys::PK_ERR_NOMEM,
            ErrorCode::Handle => sys::PK_ERR_HANDLE,
            ErrorCode::Os => sys::PK_ERR_OS,
            ErrorCode::Unavailable => sys::PK_ERR_UNAVAILABLE,
            ErrorCode::Limit => sys::PK_ERR_LIMIT,
            ErrorCode::NotFound => sys::PK_ERR_NOT_FOUND,
            ErrorCode::Permission => sys::PK_ERR_PERMISSION,
            ErrorCode::NoProcess => sys::PK_ERR_NO_PROCESS,
            ErrorCode::Timeout => sys::PK_ERR_TIMEOUT,
            ErrorCode::Unsupported => sys::PK_ERR_UNSUPPORTED,
            ErrorCode::Version => sys::PK_ERR_VERSION,
            ErrorCode::Cancelled => sys::PK_ERR_CANCELLED,
            ErrorCode::Overflow => sys::PK_ERR_OVERFLOW,
            ErrorCode::State => sys::PK_ERR_STATE,
            ErrorCode::Failed => sys::PK_ERR_FAILED,
            ErrorCode::NotReady => sys::PK_ERR_NOT_READY,
            ErrorCode::Unknown(code) => code,
        }
    }

    /// The library's short description of the code (`pk_strerror`).
    pub fn description(self) -> String {
        // SAFETY: pk_strerror never fails and returns static storage.
        unsafe { cstr_lossy(sys::pk_strerror(self.raw())) }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description())
    }
}

/// An error from processkit: the code and the library's message
/// (`pk_last_error()` of the failing call, read on the same thread right after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The library's classification.
    pub code: ErrorCode,
    /// What went wrong, in the library's words ("pk_command_new: program is empty", ...).
    pub message: String,
}

impl Error {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error { code, message: message.into() }
    }

    /// The error for a failed call's return code, with this thread's
    /// `pk_last_error()` message. Call it right after the failing call.
    pub fn from_last(rc: i32) -> Error {
        // SAFETY: pk_last_error never fails; its thread-local string is
        // copied before any other library call on this thread.
        let message = unsafe { cstr_lossy(sys::pk_last_error()) };
        Error { code: ErrorCode::from_raw(rc), message }
    }

    /// The raw `pk_error` value.
    pub fn raw_code(&self) -> i32 {
        self.code.raw()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "processkit: {}", self.code)
        } else {
            write!(f, "{}", self.message)
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::other(e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `Ok(())` for `PK_OK`, else the [`Error`] with this thread's last message.
/// For code that calls [`crate::sys`] directly.
pub fn check(rc: c_int) -> Result<()> {
    if rc == sys::PK_OK {
        Ok(())
    } else {
        Err(Error::from_last(rc))
    }
}

/// A C string from the library as an owned String ("" for NULL).
///
/// # Safety
/// `p` is NULL or a valid NUL-terminated string.
pub(crate) unsafe fn cstr_lossy(p: *const std::os::raw::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// A `char[N]` field as a String (up to its first NUL).
pub(crate) fn char_array(a: &[std::os::raw::c_char]) -> String {
    let bytes: Vec<u8> = a.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
