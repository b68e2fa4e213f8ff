//! wsproto's wording for the core's errors.
//!
//! When the peer breaks the framing protocol, wsproto reports a
//! `CloseConnection` event whose reason is the text of its internal
//! `ParseFailed` exception; programs log it or echo it back in their close
//! frame. The core detects the same faults (it is the one that checks), and
//! this module words them the way wsproto does where the two agree on what
//! went wrong; faults only the core detects (limits, close payload details)
//! keep the core's text.

use wsproto_core::{Error, ErrorKind};

/// The close reason wsproto would give for a remote framing error.
pub(crate) fn remote_reason(err: &Error, client: bool) -> String {
    let detail = err.detail();
    match err.kind() {
        ErrorKind::BadMasking if client => "client received unexpected masked frame".into(),
        ErrorKind::BadMasking => "server received unexpected unmasked frame".into(),
        ErrorKind::ReservedOpCode => match detail.strip_prefix("reserved opcode ") {
            Some(op) => format!("Invalid opcode {op}"),
            None => detail.into(),
        },
        ErrorKind::BadControlFrame if detail.contains("fragmented") => {
            "Invalid attempt to fragment control frame".into()
        }
        ErrorKind::BadControlFrame => "Control frame with payload len > 125".into(),
        ErrorKind::BadLength if detail.contains("top bit") => "8-byte payload length with non-zero MSB".into(),
        ErrorKind::ReservedBits => "Reserved bit set unexpectedly".into(),
        ErrorKind::BadFragmentation if detail.starts_with("continuation") => "unexpected CONTINUATION".into(),
        _ => detail.into(),
    }
}

/// The close code a remote error failed the connection with.
pub(crate) fn remote_code(err: &Error) -> u16 {
    err.close_code().unwrap_or(wsproto_core::close::PROTOCOL_ERROR)
}
