//! The opening handshake as C sees it: reading the request (server) or the
//! response (client), and answering a request.
//!
//! The data is readable from the event that announced it: on a server from
//! `WSPROTO_EVENT_REQUEST` until the call to `wsproto_conn_next_event` after
//! the request was accepted; on a client from `WSPROTO_EVENT_ACCEPTED` until
//! the next call to `wsproto_conn_next_event`, and from
//! `WSPROTO_EVENT_REJECTED` until the connection is freed. Outside those
//! windows the accessors return absent values.

use std::ffi::c_char;

use wsproto_core::{Header, Reject};

use crate::args::{self, put, wsproto_header, wsproto_str};
use crate::conn::{enter, enter_result, wsproto_conn};
use crate::result::wsproto_result::{self, *};
use crate::session::{Handshake, Session};

/// Runs `f` on the request, or returns the absent string.
unsafe fn request_str(conn: *const wsproto_conn, f: impl FnOnce(&wsproto_core::Request) -> wsproto_str) -> wsproto_str {
    unsafe { enter(conn, |_| wsproto_str::NONE, |s| s.request().map_or(wsproto_str::NONE, f)) }
}

/// Server: the request target exactly as sent (path and query). Absent
/// (`ptr` NULL) outside the request window or on a client.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_request_target(conn: *const wsproto_conn) -> wsproto_str {
    unsafe { request_str(conn, |r| wsproto_str::of(&r.target)) }
}

/// Server: the path part of the request target (before any `?`; for a
/// target in absolute form, `ws://host/chat`, the path after the host, or
/// `/` if there is none).
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_request_path(conn: *const wsproto_conn) -> wsproto_str {
    unsafe { request_str(conn, |r| wsproto_str::of(r.path())) }
}

/// Server: the `Host` header.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_request_host(conn: *const wsproto_conn) -> wsproto_str {
    unsafe { request_str(conn, |r| wsproto_str::of(&r.host)) }
}

/// Server: the `Origin` header; absent when the client sent none.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_request_origin(conn: *const wsproto_conn) -> wsproto_str {
    unsafe { request_str(conn, |r| r.origin.as_deref().map_or(wsproto_str::NONE, wsproto_str::of)) }
}

/// Server: how many subprotocols the client offered.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_request_subprotocol_count(conn: *const wsproto_conn) -> usize {
    unsafe { enter(conn, |_| 0, |s| s.request().map_or(0, |r| r.subprotocols.len())) }
}

/// Server: the `index`th subprotocol the client offered, in its order;
/// absent when `index` is out of range.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_request_subprotocol(conn: *const wsproto_conn, index: usize) -> wsproto_str {
    unsafe { request_str(conn, |r| r.subprotocols.get(index).map_or(wsproto_str::NONE, |p| wsproto_str::of(p))) }
}

/// Server: how many extension offers the client made.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_request_extension_count(conn: *const wsproto_conn) -> usize {
    unsafe {
        enter(
            conn,
            |_| 0,
            |s| match s.handshake() {
                Some(Handshake::Request(_, exts)) => exts.len(),
                _ => 0,
            },
        )
    }
}

/// Server: the `index`th extension offer as a header element, e.g.
/// `permessage-deflate; client_max_window_bits`; absent when out of range.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_request_extension(conn: *const wsproto_conn, index: usize) -> wsproto_str {
    unsafe {
        enter(
            conn,
            |_| wsproto_str::NONE,
            |s| match s.handshake() {
                Some(Handshake::Request(_, exts)) => exts.get(index).map_or(wsproto_str::NONE, |e| wsproto_str::of(e)),
                _ => wsproto_str::NONE,
            },
        )
    }
}

/// Client: the response's HTTP status (101 when accepted), or 0 outside the
/// response window.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_response_status(conn: *const wsproto_conn) -> u16 {
    unsafe { enter(conn, |_| 0, |s| s.response().map_or(0, |r| r.status)) }
}

/// Client: the response's reason phrase.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_response_reason(conn: *const wsproto_conn) -> wsproto_str {
    unsafe {
        enter(conn, |_| wsproto_str::NONE, |s| s.response().map_or(wsproto_str::NONE, |r| wsproto_str::of(&r.reason)))
    }
}

/// Client: the subprotocol the server selected; absent when none.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_response_subprotocol(conn: *const wsproto_conn) -> wsproto_str {
    unsafe {
        enter(
            conn,
            |_| wsproto_str::NONE,
            |s| s.response().and_then(|r| r.subprotocol.as_deref()).map_or(wsproto_str::NONE, wsproto_str::of),
        )
    }
}

/// The name of the negotiated extension that transforms messages (today
/// only `permessage-deflate`), or absent when none was negotiated. Valid
/// for the connection's whole life.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_extension(conn: *const wsproto_conn) -> wsproto_str {
    unsafe {
        enter(
            conn,
            |_| wsproto_str::NONE,
            |s| s.conn().extension().map_or(wsproto_str::NONE, |e| wsproto_str::of(e.name())),
        )
    }
}

fn handshake_headers(s: &Session) -> &[Header] {
    match s.handshake() {
        Some(Handshake::Request(r, _)) => &r.headers,
        Some(Handshake::Response(r)) => &r.headers,
        None => &[],
    }
}

/// How many header lines the request (server) or response (client) had;
/// 0 outside the handshake window.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_handshake_header_count(conn: *const wsproto_conn) -> usize {
    unsafe { enter(conn, |_| 0, |s| handshake_headers(s).len()) }
}

/// The `index`th header line of the request (server) or response (client),
/// in the order received, name as sent. Either out-pointer may be NULL.
/// Fails with `WSPROTO_ERR_OUT_OF_RANGE` when `index` is not below
/// `wsproto_conn_handshake_header_count`.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_handshake_header(
    conn: *const wsproto_conn,
    index: usize,
    name_out: *mut wsproto_str,
    value_out: *mut wsproto_str,
) -> wsproto_result {
    unsafe {
        enter_result(conn, |s| {
            let Some((name, value)) = handshake_headers(s).get(index) else {
                return s.fail(WSPROTO_ERR_OUT_OF_RANGE, "header index out of range");
            };
            put(name_out, wsproto_str::of(name));
            put(value_out, wsproto_str::of_bytes(value));
            WSPROTO_OK
        })
    }
}

/// The value of the first header named `name` (NUL-terminated, compared
/// without regard to ASCII case) in the request or response; absent when
/// there is none.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_handshake_header_value(
    conn: *const wsproto_conn,
    name: *const c_char,
) -> wsproto_str {
    unsafe {
        enter(
            conn,
            |_| wsproto_str::NONE,
            |s| {
                let Ok(name) = args::str_arg(name) else { return wsproto_str::NONE };
                handshake_headers(s)
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map_or(wsproto_str::NONE, |(_, v)| wsproto_str::of_bytes(v))
            },
        )
    }
}

/// Server: accepts the pending request; the 101 response is queued and the
/// connection opens. `subprotocol` (NUL-terminated) must be one the client
/// offered; NULL selects the first subprotocol added to the config that the
/// client offered, or none. `headers` adds `headers_len` response headers.
/// Fails with `WSPROTO_ERR_INVALID_STATE` unless a request is waiting.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_accept(
    conn: *mut wsproto_conn,
    subprotocol: *const c_char,
    headers: *const wsproto_header,
    headers_len: usize,
) -> wsproto_result {
    unsafe {
        enter_result(conn, |s| {
            let args = args::opt_str_arg(subprotocol).and_then(|p| Ok((p, args::header_list(headers, headers_len)?)));
            match args {
                Ok((p, h)) => s.accept(p, h),
                Err(e) => s.fail(e, "invalid argument to accept"),
            }
        })
    }
}

/// Server: refuses the pending request with any HTTP response: `status`
/// (100–599, not 101), `headers_len` headers and a `body_len`-byte body
/// (`Content-Length` is added unless given). The connection is closed once
/// the output is written.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_reject(
    conn: *mut wsproto_conn,
    status: u16,
    headers: *const wsproto_header,
    headers_len: usize,
    body: *const u8,
    body_len: usize,
) -> wsproto_result {
    unsafe {
        enter_result(conn, |s| {
            let args = args::header_list(headers, headers_len).and_then(|h| Ok((h, args::bytes(body, body_len)?)));
            match args {
                Ok((headers, body)) => s.reject(&Reject { status, headers, body: body.to_vec() }),
                Err(e) => s.fail(e, "invalid argument to reject"),
            }
        })
    }
}
