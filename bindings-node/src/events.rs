//! The compact event encoding returned by `receive`.
//!
//! One record per event, back to back in a single Buffer:
//!
//! ```text
//! byte 0     type (the T_* constants; lib/connection.js mirrors them)
//! byte 1     flags: bit 0 = fin (last piece of a message or body),
//!            bit 1 = external (see below)
//! bytes 2-3  close code, little-endian (close records only)
//! bytes 4-7  payload length, little-endian
//! ...        payload (message data, ping/pong data, close reason)
//! ```
//!
//! JavaScript walks the records and slices payloads out of the one Buffer,
//! so a batch of a thousand small messages costs one native call and one
//! allocation instead of a thousand of each. Request, response and error
//! records carry no payload: their details wait in side queues. So do
//! large data payloads (flag "external", length 0 in the record): each is
//! handed over in the engine's own buffer by `takeLarge`, without a copy.

use wsproto_core::Event;

pub const T_REQUEST: u8 = 1;
pub const T_ACCEPTED: u8 = 2;
pub const T_REJECTED: u8 = 3;
pub const T_REJECT_BODY: u8 = 4;
pub const T_TEXT: u8 = 5;
pub const T_BINARY: u8 = 6;
pub const T_TEXT_CHUNK: u8 = 7;
pub const T_BINARY_CHUNK: u8 = 8;
pub const T_PING: u8 = 9;
pub const T_PONG: u8 = 10;
pub const T_CLOSE: u8 = 11;
pub const T_ERROR: u8 = 12;
/// The batch stopped before a close frame: call `receive` again.
pub const T_MORE: u8 = 13;

/// Flag bit: the payload is not in the batch; `takeLarge` returns it.
pub const EXTERNAL: u8 = 2;

/// Whether a record type carries message data (which may be external).
#[inline]
pub fn is_data(ty: u8) -> bool {
    matches!(ty, T_TEXT | T_BINARY | T_TEXT_CHUNK | T_BINARY_CHUNK)
}

/// Size of a record header.
pub const HEADER_LEN: usize = 8;

/// The header of one record.
#[inline]
pub fn header(ty: u8, fin: bool, code: u16, len: usize) -> [u8; HEADER_LEN] {
    let len = u32::try_from(len).expect("payloads are bounded by the message limit, far below 4 GiB");
    let c = code.to_le_bytes();
    let l = len.to_le_bytes();
    [ty, u8::from(fin), c[0], c[1], l[0], l[1], l[2], l[3]]
}

/// Appends one record.
#[inline]
pub fn push(arena: &mut Vec<u8>, ty: u8, fin: bool, code: u16, payload: &[u8]) {
    arena.reserve(HEADER_LEN + payload.len());
    arena.extend_from_slice(&header(ty, fin, code, payload.len()));
    arena.extend_from_slice(payload);
}

/// The record (type, fin, close code, payload) of a payload-carrying
/// event; `None` for the handshake events, which the caller queues itself.
#[inline]
pub fn record<'a>(ev: &Event<'a>) -> Option<(u8, bool, u16, &'a [u8])> {
    Some(match *ev {
        Event::Text(s) => (T_TEXT, true, 0, s.as_bytes()),
        Event::Binary(b) => (T_BINARY, true, 0, b),
        Event::TextChunk { data, fin } => (T_TEXT_CHUNK, fin, 0, data),
        Event::BinaryChunk { data, fin } => (T_BINARY_CHUNK, fin, 0, data),
        Event::Ping(b) => (T_PING, true, 0, b),
        Event::Pong(b) => (T_PONG, true, 0, b),
        Event::Close { code, reason } => (T_CLOSE, true, code, reason.as_bytes()),
        Event::RejectBody { data, fin } => (T_REJECT_BODY, fin, 0, data),
        Event::Request(_) | Event::Accepted(_) | Event::Rejected(_) => return None,
    })
}
