//! Errors as JavaScript sees them: an `Error` whose `code` property is a
//! stable string derived from the core's `ErrorKind`, so programs can branch
//! on it without parsing messages; and panics caught at the boundary, since
//! unwinding into the JS engine would abort the whole process.

use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::Error;
use wsproto_core::ErrorKind;

/// The error type every export returns: its status string becomes `err.code`.
pub type JsError = Error<String>;
/// Shorthand for results of exports.
pub type JsResult<T> = std::result::Result<T, JsError>;

/// The `code` of a caught panic.
pub const PANIC_CODE: &str = "WSPROTO_PANIC";
/// The `code` of a bad argument detected by the binding itself.
pub const INVALID_ARGUMENT_CODE: &str = "WSPROTO_LOCAL_INVALID_ARGUMENT";

/// The stable code for an error kind: `WSPROTO_LOCAL_*` when the program
/// misused the API, `WSPROTO_REMOTE_*` when the peer broke the protocol.
pub fn kind_code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidState => "WSPROTO_LOCAL_INVALID_STATE",
        ErrorKind::ControlTooLong => "WSPROTO_LOCAL_CONTROL_TOO_LONG",
        ErrorKind::InvalidCloseCode => "WSPROTO_LOCAL_INVALID_CLOSE_CODE",
        ErrorKind::FragmentMismatch => "WSPROTO_LOCAL_FRAGMENT_MISMATCH",
        ErrorKind::InvalidHeader => "WSPROTO_LOCAL_INVALID_HEADER",
        ErrorKind::SubprotocolNotOffered => "WSPROTO_LOCAL_SUBPROTOCOL_NOT_OFFERED",
        ErrorKind::InvalidStatus => "WSPROTO_LOCAL_INVALID_STATUS",
        ErrorKind::InvalidArgument => INVALID_ARGUMENT_CODE,
        ErrorKind::BadHandshake => "WSPROTO_REMOTE_BAD_HANDSHAKE",
        ErrorKind::UnsupportedVersion => "WSPROTO_REMOTE_UNSUPPORTED_VERSION",
        ErrorKind::HandshakeTooLarge => "WSPROTO_REMOTE_HANDSHAKE_TOO_LARGE",
        ErrorKind::ReservedOpCode => "WSPROTO_REMOTE_RESERVED_OPCODE",
        ErrorKind::ReservedBits => "WSPROTO_REMOTE_RESERVED_BITS",
        ErrorKind::BadMasking => "WSPROTO_REMOTE_BAD_MASKING",
        ErrorKind::BadControlFrame => "WSPROTO_REMOTE_BAD_CONTROL_FRAME",
        ErrorKind::BadLength => "WSPROTO_REMOTE_BAD_LENGTH",
        ErrorKind::BadFragmentation => "WSPROTO_REMOTE_BAD_FRAGMENTATION",
        ErrorKind::BadClosePayload => "WSPROTO_REMOTE_BAD_CLOSE_PAYLOAD",
        ErrorKind::InvalidUtf8 => "WSPROTO_REMOTE_INVALID_UTF8",
        ErrorKind::TooBig => "WSPROTO_REMOTE_TOO_BIG",
        ErrorKind::Extension(_) => "WSPROTO_REMOTE_EXTENSION",
        // The kind list may grow; keep the blame right for new kinds.
        k if k.is_local() => "WSPROTO_LOCAL_OTHER",
        _ => "WSPROTO_REMOTE_OTHER",
    }
}

/// Converts a core error into a thrown JS error.
pub fn core_error(e: wsproto_core::Error) -> JsError {
    Error::new(kind_code(e.kind()).to_owned(), e.detail().to_owned())
}

/// An argument the binding rejects before the core sees it.
pub fn invalid_argument(msg: impl Into<String>) -> JsError {
    Error::new(INVALID_ARGUMENT_CODE.to_owned(), msg.into())
}

/// Runs `f`, turning a panic into a `WSPROTO_PANIC` error. `poisoned` is
/// set so the connection refuses further calls: after a panic its state
/// can no longer be trusted.
pub fn guard<T>(poisoned: &mut bool, f: impl FnOnce() -> JsResult<T>) -> JsResult<T> {
    if *poisoned {
        return Err(Error::new(PANIC_CODE.to_owned(), "the connection is unusable after an internal panic"));
    }
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            *poisoned = true;
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(Error::new(PANIC_CODE.to_owned(), format!("internal panic: {msg}")))
        }
    }
}

/// Re-labels an error from napi itself (allocation of a Buffer failed).
pub fn napi_error(e: Error) -> JsError {
    Error::new(format!("WSPROTO_NAPI_{}", e.status.as_ref().to_ascii_uppercase()), e.reason.clone())
}
