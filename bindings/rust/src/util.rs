//! Small conversions shared by the modules.
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use crate::error::{Error, ErrorCode, Result};

/// An OS string as a C string; an interior NUL is an [`ErrorCode::Invalid`] error.
pub(crate) fn cstring(s: &OsStr, what: &str) -> Result<CString> {
    CString::new(s.as_bytes())
        .map_err(|_| Error::new(ErrorCode::Invalid, format!("{} {:?} contains a NUL byte", what, s)))
}

/// Milliseconds for a library wait: None = -1 (forever); rounded up so that a
/// non-zero duration never becomes 0 ("just look"); capped at i32::MAX.
pub(crate) fn timeout_ms_i32(d: Option<Duration>) -> i32 {
    match d {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            i32::try_from(ms).unwrap_or(i32::MAX)
        }
    }
}

/// Milliseconds for a command timeout or grace: rounded up, capped at u32::MAX.
pub(crate) fn duration_ms_u32(d: Duration) -> u32 {
    u32::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u32::MAX)
}
