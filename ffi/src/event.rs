//! Polling events out of a connection.

use crate::args::put;
use crate::conn::{enter_result, wsproto_conn};
use crate::result::wsproto_result::{self, *};
use crate::session::{Ev, Payload};

/// What an event reports.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wsproto_event_kind {
    /// No event (the value of a cleared event).
    WSPROTO_EVENT_NONE = 0,
    /// Server: a valid opening request arrived. Read it with the
    /// `wsproto_conn_request_*` and `wsproto_conn_handshake_header*`
    /// functions, then answer with `wsproto_conn_accept` or
    /// `wsproto_conn_reject`.
    WSPROTO_EVENT_REQUEST = 1,
    /// Client: the server accepted; the connection is open. The response is
    /// readable with the `wsproto_conn_response_*` functions until the next
    /// call to `wsproto_conn_next_event`.
    WSPROTO_EVENT_ACCEPTED = 2,
    /// Client: the server answered with a status other than 101 (read it
    /// with the `wsproto_conn_response_*` functions). The body follows in
    /// `WSPROTO_EVENT_REJECT_BODY` events; the connection is closed.
    WSPROTO_EVENT_REJECTED = 3,
    /// Client: a piece of a refusal's body in `data`/`len`; `fin` marks the
    /// last piece. A chunked body arrives decoded, without its framing.
    WSPROTO_EVENT_REJECT_BODY = 4,
    /// A text message (valid UTF-8) in `data`/`len`. Whole when `fin` is
    /// true and partial messages are off; with partial messages on, a piece
    /// (which may end inside a code point), `fin` marking the last. Every
    /// frame gives at least one piece, an empty frame an empty one (`len`
    /// 0): a program that gathers pieces need not keep those.
    WSPROTO_EVENT_TEXT = 5,
    /// A binary message or, with partial messages on, a piece of one.
    WSPROTO_EVENT_BINARY = 6,
    /// A ping with its payload; with auto_pong the pong is already queued.
    WSPROTO_EVENT_PING = 7,
    /// A pong with its payload.
    WSPROTO_EVENT_PONG = 8,
    /// The peer closed with `close_code` and a UTF-8 reason in `data`/`len`
    /// (1005 for a close frame without a code), or the transport ended
    /// without a close frame (1006). With auto_close the reply is queued.
    WSPROTO_EVENT_CLOSE = 9,
}

/// One event. Payload pointers point into the connection's own buffers (no
/// copy) and stay valid until the next call on that connection, except
/// that they may be passed to a send function of the same connection (an
/// echo). Copy them to keep them longer.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wsproto_event {
    /// What happened.
    pub kind: wsproto_event_kind,
    /// The payload (message, ping/pong data, close reason, body piece), not
    /// NUL-terminated. NULL only when `len` is 0.
    pub data: *const u8,
    /// The payload length in bytes.
    pub len: usize,
    /// For TEXT, BINARY and REJECT_BODY: whether this ends the message or
    /// body. True for every whole message.
    pub fin: bool,
    /// For CLOSE: the close code.
    pub close_code: u16,
}

impl wsproto_event {
    const NONE: wsproto_event = wsproto_event {
        kind: wsproto_event_kind::WSPROTO_EVENT_NONE,
        data: std::ptr::null(),
        len: 0,
        fin: false,
        close_code: 0,
    };

    fn with(kind: wsproto_event_kind, data: Payload, fin: bool) -> wsproto_event {
        wsproto_event { kind, data: data.ptr, len: data.len, fin, close_code: 0 }
    }
}

/// Takes the next event into `*event_out`.
///
/// Returns `WSPROTO_OK` with an event, `WSPROTO_NO_EVENT` when more input is
/// needed (the event is cleared), or a 71xx code when the peer broke the
/// protocol: the connection has failed, its close frame or HTTP error is
/// queued (write the output, then close the transport) and
/// `wsproto_conn_close_code_sent` tells the code. Call it until it returns
/// something other than `WSPROTO_OK` after every recv/feed. Once closed it
/// returns `WSPROTO_NO_EVENT`.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_next_event(
    conn: *mut wsproto_conn,
    event_out: *mut wsproto_event,
) -> wsproto_result {
    unsafe {
        enter_result(conn, |s| {
            if event_out.is_null() {
                return WSPROTO_ERR_NULL_ARGUMENT;
            }
            put(event_out, wsproto_event::NONE);
            use wsproto_event_kind::*;
            let ev = match s.next_event() {
                Ok(Some(ev)) => ev,
                Ok(None) => return WSPROTO_NO_EVENT,
                Err(e) => return e,
            };
            let event = match ev {
                Ev::Request => wsproto_event { kind: WSPROTO_EVENT_REQUEST, ..wsproto_event::NONE },
                Ev::Accepted => wsproto_event { kind: WSPROTO_EVENT_ACCEPTED, ..wsproto_event::NONE },
                Ev::Rejected => wsproto_event { kind: WSPROTO_EVENT_REJECTED, ..wsproto_event::NONE },
                Ev::RejectBody(d, fin) => wsproto_event::with(WSPROTO_EVENT_REJECT_BODY, d, fin),
                Ev::Text(d, fin) => wsproto_event::with(WSPROTO_EVENT_TEXT, d, fin),
                Ev::Binary(d, fin) => wsproto_event::with(WSPROTO_EVENT_BINARY, d, fin),
                Ev::Ping(d) => wsproto_event::with(WSPROTO_EVENT_PING, d, true),
                Ev::Pong(d) => wsproto_event::with(WSPROTO_EVENT_PONG, d, true),
                Ev::Close(code, reason) => {
                    wsproto_event { close_code: code, ..wsproto_event::with(WSPROTO_EVENT_CLOSE, reason, true) }
                }
            };
            put(event_out, event);
            WSPROTO_OK
        })
    }
}
