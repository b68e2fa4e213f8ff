//! The one result code every fallible function returns.
//!
//! The numbers are part of the ABI: they are grouped so that a code can never
//! be mistaken for an errno value (< 200 on every supported system) or a
//! close code (1000–4999), and a number, once published, is never reused.

use std::ffi::c_char;

use wsproto_core::ErrorKind;

use crate::panic::guard;

/// The outcome of a call. `WSPROTO_OK` is 0; the other codes are grouped:
///
/// - 6000–6099: outcomes that are not errors (`WSPROTO_NO_EVENT`, ...).
/// - 7000–7099: the program misused the API. Nothing changed; the connection
///   can still be used.
/// - 7100–7199: the peer broke the protocol. The connection has failed and
///   its close frame (or HTTP error response) is already queued: write the
///   output out, then close the transport. `wsproto_conn_close_code_sent`
///   tells which close code was sent.
/// - 7200–7299: the transport failed (an IO callback returned an error).
/// - 7900–7999: a bug inside the library was caught; please report it.
///
/// The numbers never change and are never reused. Functions return this as a
/// plain `uint32_t`-sized enum; `wsproto_result_text` describes any value.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wsproto_result {
    /// Success.
    WSPROTO_OK = 0,

    /// `wsproto_conn_next_event`: no event is ready; more input is needed.
    WSPROTO_NO_EVENT = 6001,
    /// `wsproto_conn_recv`: stopped after its per-call read limit while the
    /// transport may hold more bytes. Handle the events, then call it again
    /// (this matters with edge-triggered readiness such as EPOLLET).
    WSPROTO_MORE_INPUT = 6002,
    /// `wsproto_conn_recv`: the read callback reported end of stream. The
    /// events already received, then a close event, follow.
    WSPROTO_EOF = 6003,

    /// A required pointer argument was NULL.
    WSPROTO_ERR_NULL_ARGUMENT = 7000,
    /// The call is not allowed in the connection's current state or role
    /// (e.g. sending before the handshake, accepting on a client).
    WSPROTO_ERR_INVALID_STATE = 7001,
    /// The connection is closed (or closing and the call needs it open).
    WSPROTO_ERR_CLOSED = 7002,
    /// A ping, pong or close payload over 125 bytes (close reason over 123).
    WSPROTO_ERR_CONTROL_TOO_LONG = 7003,
    /// A close code that may not be sent (RFC 6455 §7.4): use 1000–1003,
    /// 1007–1014, 3000–4999, or 1005 for a close frame without a code.
    WSPROTO_ERR_INVALID_CLOSE_CODE = 7004,
    /// A fragment that does not continue the message being sent, or a whole
    /// message sent while a fragmented one is unfinished.
    WSPROTO_ERR_FRAGMENT_MISMATCH = 7005,
    /// A header name that is not an HTTP token, or a value with CR, LF or NUL.
    WSPROTO_ERR_INVALID_HEADER = 7006,
    /// `wsproto_conn_accept` with a subprotocol the client did not offer.
    WSPROTO_ERR_SUBPROTOCOL_NOT_OFFERED = 7007,
    /// `wsproto_conn_reject` with a status outside 100–599, or 101.
    WSPROTO_ERR_INVALID_STATUS = 7008,
    /// An argument out of range (an empty host, a path without `/`, ...).
    WSPROTO_ERR_INVALID_ARGUMENT = 7009,
    /// Text to send, a close reason or a string argument is not UTF-8.
    WSPROTO_ERR_INVALID_UTF8 = 7010,
    /// An index at or past the count of the list it reads.
    WSPROTO_ERR_OUT_OF_RANGE = 7011,
    /// The connection is already inside a call: an IO callback called back
    /// into the same connection, or two threads used it at once.
    WSPROTO_ERR_BUSY = 7012,

    /// A malformed or unacceptable opening handshake (RFC 6455 §4). A server
    /// has queued a 400 response.
    WSPROTO_ERR_BAD_HANDSHAKE = 7100,
    /// A request with a `Sec-WebSocket-Version` other than 13 (426 queued).
    WSPROTO_ERR_UNSUPPORTED_VERSION = 7101,
    /// An opening handshake head over the configured limits (431 queued).
    WSPROTO_ERR_HANDSHAKE_TOO_LARGE = 7102,
    /// A frame with a reserved opcode (close code 1002 sent).
    WSPROTO_ERR_RESERVED_OPCODE = 7103,
    /// A frame with RSV bits no extension claims (1002 sent).
    WSPROTO_ERR_RESERVED_BITS = 7104,
    /// An unmasked client frame or a masked server frame (1002 sent).
    WSPROTO_ERR_BAD_MASKING = 7105,
    /// A control frame over 125 bytes or fragmented (1002 sent).
    WSPROTO_ERR_BAD_CONTROL_FRAME = 7106,
    /// A frame length not minimally encoded or with the top bit set (1002 sent).
    WSPROTO_ERR_BAD_LENGTH = 7107,
    /// A continuation with nothing to continue, or a new message inside a
    /// fragmented one (1002 sent).
    WSPROTO_ERR_BAD_FRAGMENTATION = 7108,
    /// A close frame with a 1-byte payload or a forbidden code (1002 sent).
    WSPROTO_ERR_BAD_CLOSE_PAYLOAD = 7109,
    /// Received text or close reason that is not UTF-8 (1007 sent).
    WSPROTO_ERR_REMOTE_INVALID_UTF8 = 7110,
    /// A frame or message over the configured limits (1009 sent).
    WSPROTO_ERR_TOO_BIG = 7111,
    /// A negotiated extension could not process a message; the close code
    /// it chose was sent.
    WSPROTO_ERR_EXTENSION = 7112,
    /// Another protocol violation (reserved for kinds added to the core).
    WSPROTO_ERR_PROTOCOL = 7199,

    /// An IO callback returned an error; `wsproto_conn_last_os_error` has it.
    WSPROTO_ERR_IO = 7200,
    /// An IO callback reported more bytes than the buffer it was given.
    WSPROTO_ERR_IO_BAD_COUNT = 7201,

    /// The library caught an internal panic; the connection must be freed.
    WSPROTO_ERR_PANIC = 7900,
}

use wsproto_result::*;

impl wsproto_result {
    /// Every code, for the text lookup and the tests.
    pub(crate) const ALL: [wsproto_result; 34] = [
        WSPROTO_OK,
        WSPROTO_NO_EVENT,
        WSPROTO_MORE_INPUT,
        WSPROTO_EOF,
        WSPROTO_ERR_NULL_ARGUMENT,
        WSPROTO_ERR_INVALID_STATE,
        WSPROTO_ERR_CLOSED,
        WSPROTO_ERR_CONTROL_TOO_LONG,
        WSPROTO_ERR_INVALID_CLOSE_CODE,
        WSPROTO_ERR_FRAGMENT_MISMATCH,
        WSPROTO_ERR_INVALID_HEADER,
        WSPROTO_ERR_SUBPROTOCOL_NOT_OFFERED,
        WSPROTO_ERR_INVALID_STATUS,
        WSPROTO_ERR_INVALID_ARGUMENT,
        WSPROTO_ERR_INVALID_UTF8,
        WSPROTO_ERR_OUT_OF_RANGE,
        WSPROTO_ERR_BUSY,
        WSPROTO_ERR_BAD_HANDSHAKE,
        WSPROTO_ERR_UNSUPPORTED_VERSION,
        WSPROTO_ERR_HANDSHAKE_TOO_LARGE,
        WSPROTO_ERR_RESERVED_OPCODE,
        WSPROTO_ERR_RESERVED_BITS,
        WSPROTO_ERR_BAD_MASKING,
        WSPROTO_ERR_BAD_CONTROL_FRAME,
        WSPROTO_ERR_BAD_LENGTH,
        WSPROTO_ERR_BAD_FRAGMENTATION,
        WSPROTO_ERR_BAD_CLOSE_PAYLOAD,
        WSPROTO_ERR_REMOTE_INVALID_UTF8,
        WSPROTO_ERR_TOO_BIG,
        WSPROTO_ERR_EXTENSION,
        WSPROTO_ERR_PROTOCOL,
        WSPROTO_ERR_IO,
        WSPROTO_ERR_IO_BAD_COUNT,
        WSPROTO_ERR_PANIC,
    ];

    /// Maps a core error kind to its code.
    pub(crate) fn from_kind(kind: ErrorKind) -> wsproto_result {
        match kind {
            ErrorKind::InvalidState => WSPROTO_ERR_INVALID_STATE,
            ErrorKind::ControlTooLong => WSPROTO_ERR_CONTROL_TOO_LONG,
            ErrorKind::InvalidCloseCode => WSPROTO_ERR_INVALID_CLOSE_CODE,
            ErrorKind::FragmentMismatch => WSPROTO_ERR_FRAGMENT_MISMATCH,
            ErrorKind::InvalidHeader => WSPROTO_ERR_INVALID_HEADER,
            ErrorKind::SubprotocolNotOffered => WSPROTO_ERR_SUBPROTOCOL_NOT_OFFERED,
            ErrorKind::InvalidStatus => WSPROTO_ERR_INVALID_STATUS,
            ErrorKind::InvalidArgument => WSPROTO_ERR_INVALID_ARGUMENT,
            ErrorKind::BadHandshake => WSPROTO_ERR_BAD_HANDSHAKE,
            ErrorKind::UnsupportedVersion => WSPROTO_ERR_UNSUPPORTED_VERSION,
            ErrorKind::HandshakeTooLarge => WSPROTO_ERR_HANDSHAKE_TOO_LARGE,
            ErrorKind::ReservedOpCode => WSPROTO_ERR_RESERVED_OPCODE,
            ErrorKind::ReservedBits => WSPROTO_ERR_RESERVED_BITS,
            ErrorKind::BadMasking => WSPROTO_ERR_BAD_MASKING,
            ErrorKind::BadControlFrame => WSPROTO_ERR_BAD_CONTROL_FRAME,
            ErrorKind::BadLength => WSPROTO_ERR_BAD_LENGTH,
            ErrorKind::BadFragmentation => WSPROTO_ERR_BAD_FRAGMENTATION,
            ErrorKind::BadClosePayload => WSPROTO_ERR_BAD_CLOSE_PAYLOAD,
            ErrorKind::InvalidUtf8 => WSPROTO_ERR_REMOTE_INVALID_UTF8,
            ErrorKind::TooBig => WSPROTO_ERR_TOO_BIG,
            ErrorKind::Extension(_) => WSPROTO_ERR_EXTENSION,
            // Kinds added to the core later land in their group's catch-all
            // until they get a number of their own.
            k if k.is_local() => WSPROTO_ERR_INVALID_ARGUMENT,
            _ => WSPROTO_ERR_PROTOCOL,
        }
    }

    /// A NUL-terminated description with static lifetime.
    pub(crate) fn text(self) -> &'static str {
        match self {
            WSPROTO_OK => "ok\0",
            WSPROTO_NO_EVENT => "no event ready: more input is needed\0",
            WSPROTO_MORE_INPUT => "read limit reached: handle events and call recv again\0",
            WSPROTO_EOF => "the transport reached end of stream\0",
            WSPROTO_ERR_NULL_ARGUMENT => "a required pointer argument was NULL\0",
            WSPROTO_ERR_INVALID_STATE => "not allowed in the connection's current state or role\0",
            WSPROTO_ERR_CLOSED => "the connection is closed\0",
            WSPROTO_ERR_CONTROL_TOO_LONG => "control frame payload over 125 bytes\0",
            WSPROTO_ERR_INVALID_CLOSE_CODE => "close code that may not be sent\0",
            WSPROTO_ERR_FRAGMENT_MISMATCH => "fragment does not continue the message being sent\0",
            WSPROTO_ERR_INVALID_HEADER => "invalid header name or value\0",
            WSPROTO_ERR_SUBPROTOCOL_NOT_OFFERED => "subprotocol not offered by the client\0",
            WSPROTO_ERR_INVALID_STATUS => "HTTP status not allowed here\0",
            WSPROTO_ERR_INVALID_ARGUMENT => "argument out of range\0",
            WSPROTO_ERR_INVALID_UTF8 => "text is not valid UTF-8\0",
            WSPROTO_ERR_OUT_OF_RANGE => "index out of range\0",
            WSPROTO_ERR_BUSY => "the connection is already inside a call\0",
            WSPROTO_ERR_BAD_HANDSHAKE => "peer sent a bad opening handshake\0",
            WSPROTO_ERR_UNSUPPORTED_VERSION => "peer asked for an unsupported WebSocket version\0",
            WSPROTO_ERR_HANDSHAKE_TOO_LARGE => "peer's opening handshake is too large\0",
            WSPROTO_ERR_RESERVED_OPCODE => "peer used a reserved opcode\0",
            WSPROTO_ERR_RESERVED_BITS => "peer set reserved bits\0",
            WSPROTO_ERR_BAD_MASKING => "peer masked wrongly\0",
            WSPROTO_ERR_BAD_CONTROL_FRAME => "peer sent a bad control frame\0",
            WSPROTO_ERR_BAD_LENGTH => "peer encoded a frame length badly\0",
            WSPROTO_ERR_BAD_FRAGMENTATION => "peer fragmented a message badly\0",
            WSPROTO_ERR_BAD_CLOSE_PAYLOAD => "peer sent a bad close frame\0",
            WSPROTO_ERR_REMOTE_INVALID_UTF8 => "peer sent text that is not UTF-8\0",
            WSPROTO_ERR_TOO_BIG => "peer's frame or message is over the limits\0",
            WSPROTO_ERR_EXTENSION => "a negotiated extension failed on the peer's data\0",
            WSPROTO_ERR_PROTOCOL => "peer broke the protocol\0",
            WSPROTO_ERR_IO => "an IO callback failed\0",
            WSPROTO_ERR_IO_BAD_COUNT => "an IO callback reported more bytes than its buffer\0",
            WSPROTO_ERR_PANIC => "internal error (caught panic)\0",
        }
    }
}

/// Returns a short, static, NUL-terminated English description of `result`
/// (any number; unknown numbers get "unknown result code"). Never NULL; the
/// string must not be freed.
#[no_mangle]
pub extern "C" fn wsproto_result_text(result: u32) -> *const c_char {
    const UNKNOWN: &str = "unknown result code\0";
    guard(UNKNOWN.as_ptr().cast(), || {
        // Taking a plain integer keeps any value a C program passes well
        // defined.
        let text = wsproto_result::ALL.iter().find(|r| **r as u32 == result).map_or(UNKNOWN, |r| r.text());
        text.as_ptr().cast()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for r in wsproto_result::ALL {
            let n = r as u32;
            assert!(n == 0 || (6000..8000).contains(&n), "{r:?}");
            assert!(seen.insert(n), "{r:?} reused");
            assert!(r.text().ends_with('\0'));
            assert_eq!(r.text().matches('\0').count(), 1);
        }
        assert_eq!(WSPROTO_ERR_PANIC as u32, 7900);
    }

    #[test]
    fn text_of_unknown_code() {
        let p = wsproto_result_text(12345);
        let s = unsafe { std::ffi::CStr::from_ptr(p) };
        assert_eq!(s.to_str().unwrap(), "unknown result code");
    }
}
