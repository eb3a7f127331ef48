//! The crate's error type: a library error code and the library's message.
use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_int;

use crate::sys;

pub use crate::error_code::ErrorCode;

// The enum, `from_raw` and `raw` are generated from the ABI manifest
// (error_code.rs); what asks the library is here.
impl ErrorCode {
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

impl Error {
    /// The [`std::io::ErrorKind`] closest to this error's code
    /// ([`std::io::ErrorKind::Other`] for codes with no counterpart).
    pub fn io_kind(&self) -> std::io::ErrorKind {
        use std::io::ErrorKind as K;
        match self.code {
            ErrorCode::NotFound => K::NotFound,
            ErrorCode::Permission => K::PermissionDenied,
            ErrorCode::Timeout => K::TimedOut,
            ErrorCode::Cancelled => K::Interrupted,
            ErrorCode::Invalid => K::InvalidInput,
            ErrorCode::NoMem => K::OutOfMemory,
            ErrorCode::Unsupported => K::Unsupported,
            _ => K::Other,
        }
    }
}

/// The kind comes from [`Error::io_kind`]; the [`Error`] itself is the
/// `io::Error`'s inner error (`get_ref`, `into_inner`, then `downcast`).
impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::new(e.io_kind(), e)
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
