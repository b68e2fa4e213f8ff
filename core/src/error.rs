//! The core's one error type.
//!
//! Like wsproto (Python) the error says who is to blame: the local program
//! misused the API (nothing was sent, the connection is unchanged and may be
//! used again), or the remote peer broke the protocol (the connection has
//! failed; a close frame or an HTTP error response is already queued, and
//! [`Error::close_code`] / [`Error::http_status`] say which).

use std::borrow::Cow;
use std::fmt;

/// What went wrong. The variants are stable: the C ABI maps each to a fixed
/// result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    // ---- local: the program misused the API ----
    /// The call is not allowed in the connection's current state or role.
    InvalidState,
    /// A ping, pong or close payload longer than 125 bytes (§5.5).
    ControlTooLong,
    /// A close code that may not be sent (§7.4).
    InvalidCloseCode,
    /// A fragment that does not continue the message being sent.
    FragmentMismatch,
    /// A header name or value that cannot be written (CR, LF, NUL, bad token).
    InvalidHeader,
    /// A subprotocol the client did not offer.
    SubprotocolNotOffered,
    /// An HTTP status that cannot be used for this response.
    InvalidStatus,
    /// An argument out of range (an empty host, a path without `/`...).
    InvalidArgument,

    // ---- remote: the peer broke the protocol ----
    /// A malformed or unacceptable opening handshake (§4).
    BadHandshake,
    /// A request with a `Sec-WebSocket-Version` other than 13 (§4.2.2).
    UnsupportedVersion,
    /// An opening handshake head over the configured limit.
    HandshakeTooLarge,
    /// A reserved opcode (§5.2).
    ReservedOpCode,
    /// An RSV bit that no negotiated extension claims (§5.2).
    ReservedBits,
    /// A client frame without a mask or a server frame with one (§5.1).
    BadMasking,
    /// A control frame over 125 bytes or fragmented (§5.5).
    BadControlFrame,
    /// A frame length not encoded minimally or with the top bit set (§5.2).
    BadLength,
    /// A continuation with no message to continue, or a new message inside
    /// a fragmented one (§5.4).
    BadFragmentation,
    /// An invalid close frame payload: 1 byte long or a code that must not
    /// be sent (§5.5.1, §7.4).
    BadClosePayload,
    /// Text or a close reason that is not UTF-8 (§8.1).
    InvalidUtf8,
    /// A frame, message or fragment count over the configured limits.
    TooBig,
    /// A negotiated extension could not process a message.
    Extension(u16),
}

impl ErrorKind {
    /// Whether the local program is at fault.
    pub fn is_local(self) -> bool {
        matches!(
            self,
            ErrorKind::InvalidState
                | ErrorKind::ControlTooLong
                | ErrorKind::InvalidCloseCode
                | ErrorKind::FragmentMismatch
                | ErrorKind::InvalidHeader
                | ErrorKind::SubprotocolNotOffered
                | ErrorKind::InvalidStatus
                | ErrorKind::InvalidArgument
        )
    }

    /// The close code a remote error fails the connection with (§7.4.1).
    /// `None` for local errors and for handshake failures, which happen
    /// before there is a WebSocket connection to close.
    pub fn close_code(self) -> Option<u16> {
        use crate::close::*;
        Some(match self {
            ErrorKind::ReservedOpCode
            | ErrorKind::ReservedBits
            | ErrorKind::BadMasking
            | ErrorKind::BadControlFrame
            | ErrorKind::BadLength
            | ErrorKind::BadFragmentation
            | ErrorKind::BadClosePayload => PROTOCOL_ERROR,
            ErrorKind::InvalidUtf8 => INVALID_PAYLOAD,
            ErrorKind::TooBig => MESSAGE_TOO_BIG,
            ErrorKind::Extension(code) => code,
            _ => return None,
        })
    }

    /// The HTTP status a server answered a bad handshake with.
    pub fn http_status(self) -> Option<u16> {
        match self {
            ErrorKind::BadHandshake => Some(400),
            ErrorKind::UnsupportedVersion => Some(426),
            ErrorKind::HandshakeTooLarge => Some(431),
            _ => None,
        }
    }
}

/// An error from the core: its kind and a readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    detail: Cow<'static, str>,
    /// Set when a server answered a bad handshake (the client side has no
    /// response to send).
    responded: bool,
    /// Found by [`Connection::poll_event_before_failure`] and held back:
    /// never seen outside the core.
    ///
    /// [`Connection::poll_event_before_failure`]: crate::Connection::poll_event_before_failure
    pub(crate) held: bool,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, detail: impl Into<Cow<'static, str>>) -> Self {
        Error { kind, detail: detail.into(), responded: false, held: false }
    }

    pub(crate) fn responded(mut self) -> Self {
        self.responded = true;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// A readable description.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// Whether the local program is at fault (the connection is unchanged).
    pub fn is_local(&self) -> bool {
        self.kind.is_local()
    }

    /// Whether the remote peer is at fault (the connection has failed).
    pub fn is_remote(&self) -> bool {
        !self.kind.is_local()
    }

    /// The close code queued to the peer, if the failure sent one.
    pub fn close_code(&self) -> Option<u16> {
        self.kind.close_code()
    }

    /// The HTTP status queued to the peer, if a server refused its handshake.
    pub fn http_status(&self) -> Option<u16> {
        if self.responded {
            self.kind.http_status()
        } else {
            None
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)?;
        if let Some(code) = self.close_code() {
            write!(f, " (close code {code})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Shorthand for a local error.
pub(crate) fn local(kind: ErrorKind, detail: impl Into<Cow<'static, str>>) -> Error {
    debug_assert!(kind.is_local());
    Error::new(kind, detail)
}
