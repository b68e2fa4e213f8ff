//! The connection handle: creation, release, state queries and the
//! commands that send messages.

use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_char, c_int, c_void};

use wsproto_core::{Bytes, ClientHandshake, DataKind, Role, State};

use crate::args::{self, wsproto_header};
use crate::config::wsproto_config;
use crate::panic::guard;
use crate::result::wsproto_result::{self, *};
use crate::session::Session;

/// One WebSocket connection, client or server, with no socket of its own.
///
/// Threads: a connection may move between threads but must be used by one
/// thread at a time (it is not internally locked). A call made while
/// another call on the same connection is running (for example from inside
/// an IO callback) fails with `WSPROTO_ERR_BUSY` and changes nothing.
///
/// Create with `wsproto_conn_server_new`, `wsproto_conn_client_new` or
/// `wsproto_conn_open_new`; release with `wsproto_conn_free`.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct wsproto_conn {
    busy: Cell<bool>,
    session: UnsafeCell<Session>,
}

/// Which end of the connection this is.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wsproto_role {
    /// Sends the opening request and masks its frames.
    WSPROTO_ROLE_CLIENT = 0,
    /// Answers the opening request.
    WSPROTO_ROLE_SERVER = 1,
}

/// The connection's state (RFC 6455 §4, §7).
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wsproto_state {
    /// The opening handshake is in progress.
    WSPROTO_STATE_CONNECTING = 0,
    /// Messages flow both ways.
    WSPROTO_STATE_OPEN = 1,
    /// This side sent a close frame and waits for the peer's.
    WSPROTO_STATE_LOCAL_CLOSING = 2,
    /// The peer's close frame is not answered yet (auto_close off): answer
    /// with `wsproto_conn_close`.
    WSPROTO_STATE_REMOTE_CLOSING = 3,
    /// Closed, failed or refused: write the remaining output, then close the
    /// transport.
    WSPROTO_STATE_CLOSED = 4,
}

/// The two kinds of data message, for `wsproto_conn_send_fragment`.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum wsproto_data_kind {
    /// UTF-8 text.
    WSPROTO_DATA_TEXT = 0,
    /// Arbitrary bytes.
    WSPROTO_DATA_BINARY = 1,
}

/// Clears the busy flag when a call ends, even by panic.
struct Entered<'a>(&'a Cell<bool>);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Runs `f` on the session behind `p`: the NULL check, the re-entrancy
/// check and the panic guard every connection function shares. Errors are
/// turned into the function's return type by `on_err`.
///
/// # Safety
/// `p` is NULL or a live connection not freed yet.
pub(crate) unsafe fn enter<T>(
    p: *const wsproto_conn,
    on_err: impl Fn(wsproto_result) -> T,
    f: impl FnOnce(&mut Session) -> T,
) -> T {
    let panicked = on_err(WSPROTO_ERR_PANIC);
    guard(panicked, || {
        // SAFETY: NULL or live, as the caller promises.
        let Some(c) = (unsafe { p.as_ref() }) else { return on_err(WSPROTO_ERR_NULL_ARGUMENT) };
        if c.busy.replace(true) {
            return on_err(WSPROTO_ERR_BUSY);
        }
        let _exit = Entered(&c.busy);
        // SAFETY: the busy flag makes this the only reference to the session
        // until `_exit` drops; the session sits in an UnsafeCell so the
        // shared reference `c` does not forbid it.
        let s = unsafe { &mut *c.session.get() };
        f(s)
    })
}

/// [`enter`] for functions returning a result code. A failure that left no
/// detail of its own is still recorded, so `wsproto_conn_last_error`
/// always describes the latest failure.
pub(crate) unsafe fn enter_result(
    p: *const wsproto_conn,
    f: impl FnOnce(&mut Session) -> wsproto_result,
) -> wsproto_result {
    unsafe {
        enter(
            p,
            |e| e,
            |s| {
                s.begin_call();
                let r = f(s);
                s.end_call(r)
            },
        )
    }
}

/// Boxes a new session into `*out`.
unsafe fn create(
    out: *mut *mut wsproto_conn,
    make: impl FnOnce() -> Result<Session, wsproto_result>,
) -> wsproto_result {
    guard(WSPROTO_ERR_PANIC, || {
        if out.is_null() {
            return WSPROTO_ERR_NULL_ARGUMENT;
        }
        // SAFETY: checked non-NULL; the caller provides a writable slot.
        unsafe { out.write(std::ptr::null_mut()) };
        match make() {
            Ok(session) => {
                let conn = Box::new(wsproto_conn { busy: Cell::new(false), session: UnsafeCell::new(session) });
                // SAFETY: as above.
                unsafe { out.write(Box::into_raw(conn)) };
                WSPROTO_OK
            }
            Err(e) => e,
        }
    })
}

/// Creates a server connection waiting for the client's opening request.
/// `config` may be NULL for the defaults; the connection keeps its own
/// reference to it. On success stores the connection in `*conn_out` (else
/// NULL). Free it with `wsproto_conn_free`.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_server_new(
    config: *const wsproto_config,
    conn_out: *mut *mut wsproto_conn,
) -> wsproto_result {
    unsafe { create(conn_out, || Ok(Session::server(wsproto_config::share(config)))) }
}

/// Creates a client connection and queues its opening request (GET `path`
/// with `Host: host`), ready to be sent. `host` (with `:port` when not the
/// default) and `path` (starting with `/`, query included) are required;
/// `origin` may be NULL; `subprotocols` lists `subprotocols_len` tokens to
/// offer, most preferred first; `headers` adds `headers_len` request headers.
/// Everything is copied. Invalid arguments fail with
/// `WSPROTO_ERR_INVALID_ARGUMENT` or `WSPROTO_ERR_INVALID_HEADER`.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_client_new(
    config: *const wsproto_config,
    host: *const c_char,
    path: *const c_char,
    origin: *const c_char,
    subprotocols: *const *const c_char,
    subprotocols_len: usize,
    headers: *const wsproto_header,
    headers_len: usize,
    conn_out: *mut *mut wsproto_conn,
) -> wsproto_result {
    unsafe {
        create(conn_out, || {
            let hs = ClientHandshake {
                host: args::str_arg(host)?.to_owned(),
                path: args::str_arg(path)?.to_owned(),
                origin: args::opt_str_arg(origin)?.map(str::to_owned),
                subprotocols: args::str_list(subprotocols, subprotocols_len)?,
                extensions: Vec::new(),
                headers: args::header_list(headers, headers_len)?,
            };
            Session::client(wsproto_config::share(config), hs).map_err(|e| wsproto_result::from_kind(e.kind()))
        })
    }
}

/// Creates a connection whose opening handshake already happened elsewhere
/// (e.g. an HTTP server did the upgrade): it starts open. `role` is a
/// `wsproto_role` value; anything else fails with
/// `WSPROTO_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_open_new(
    config: *const wsproto_config,
    role: u32,
    conn_out: *mut *mut wsproto_conn,
) -> wsproto_result {
    unsafe {
        create(conn_out, || {
            let role = match role {
                r if r == wsproto_role::WSPROTO_ROLE_CLIENT as u32 => Role::Client,
                r if r == wsproto_role::WSPROTO_ROLE_SERVER as u32 => Role::Server,
                _ => return Err(WSPROTO_ERR_INVALID_ARGUMENT),
            };
            Ok(Session::open(wsproto_config::share(config), role))
        })
    }
}

/// Frees a connection and everything it holds. NULL is ignored. Pointers
/// the connection handed out become invalid. Freeing a connection twice is
/// forbidden; a free from inside an IO callback of the same connection is
/// ignored (the connection is still in use).
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_free(conn: *mut wsproto_conn) {
    guard((), || {
        // SAFETY: NULL or a live connection from `create`.
        let Some(c) = (unsafe { conn.as_ref() }) else { return };
        if c.busy.get() {
            return;
        }
        // SAFETY: the pointer came from `Box::into_raw` in `create` and no
        // call on it is running.
        drop(unsafe { Box::from_raw(conn) });
    })
}

/// The connection's role. A NULL `conn` reads as `WSPROTO_ROLE_CLIENT`.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_role(conn: *const wsproto_conn) -> wsproto_role {
    unsafe {
        enter(
            conn,
            |_| wsproto_role::WSPROTO_ROLE_CLIENT,
            |s| match s.conn().role() {
                Role::Client => wsproto_role::WSPROTO_ROLE_CLIENT,
                Role::Server => wsproto_role::WSPROTO_ROLE_SERVER,
            },
        )
    }
}

/// The connection's state. A NULL `conn` reads as `WSPROTO_STATE_CLOSED`.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_state(conn: *const wsproto_conn) -> wsproto_state {
    unsafe {
        enter(
            conn,
            |_| wsproto_state::WSPROTO_STATE_CLOSED,
            |s| match s.conn().state() {
                State::Connecting => wsproto_state::WSPROTO_STATE_CONNECTING,
                State::Open => wsproto_state::WSPROTO_STATE_OPEN,
                State::LocalClosing => wsproto_state::WSPROTO_STATE_LOCAL_CLOSING,
                State::RemoteClosing => wsproto_state::WSPROTO_STATE_REMOTE_CLOSING,
                State::Closed => wsproto_state::WSPROTO_STATE_CLOSED,
            },
        )
    }
}

/// The text of the most recent failure on this connection, NUL-terminated,
/// or "" if no call has failed. Never NULL (a NULL `conn` gives ""). Valid
/// until the next call on the connection; do not free it.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_last_error(conn: *const wsproto_conn) -> *const c_char {
    unsafe { enter(conn, |_| c"".as_ptr(), |s| s.last_error_text().as_ptr()) }
}

/// The errno value an IO callback returned in the most recent failure that
/// was `WSPROTO_ERR_IO`, or 0.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_last_os_error(conn: *const wsproto_conn) -> c_int {
    unsafe { enter(conn, |_| 0, |s| s.last_os_error()) }
}

/// The close code of the close frame this side queued: the code passed to
/// `wsproto_conn_close`, the peer's code echoed by auto_close, or the code a
/// protocol violation failed the connection with (1002, 1007, 1009...).
/// 1005 means a close frame without a code; 0 means none was queued.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_close_code_sent(conn: *const wsproto_conn) -> u16 {
    unsafe { enter(conn, |_| 0, |s| s.close_code_sent()) }
}

/// Server: the HTTP status of the refusal this side queued (from
/// `wsproto_conn_reject`, or 400/426/431 for a bad request), or 0.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_http_status_sent(conn: *const wsproto_conn) -> u16 {
    unsafe { enter(conn, |_| 0, |s| s.http_status_sent()) }
}

/// Sends a whole text message. `data` holds `len` bytes of UTF-8 (not
/// NUL-terminated; NULL allowed when `len` is 0), copied. Bad UTF-8 fails
/// with `WSPROTO_ERR_INVALID_UTF8` and sends nothing. The payload of an
/// event from this connection may be passed directly (an echo).
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_send_text(
    conn: *mut wsproto_conn,
    data: *const c_char,
    len: usize,
) -> wsproto_result {
    unsafe {
        enter_result(conn, |s| match args::bytes(data.cast(), len) {
            Ok(b) => s.send_text(b),
            Err(e) => e,
        })
    }
}

/// Sends a whole binary message of `len` bytes, copied.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_send_binary(
    conn: *mut wsproto_conn,
    data: *const u8,
    len: usize,
) -> wsproto_result {
    unsafe {
        enter_result(conn, |s| match args::bytes(data, len) {
            Ok(b) => s.send_binary(b),
            Err(e) => e,
        })
    }
}

/// Called by the library when it no longer needs a payload passed to
/// `wsproto_conn_send_binary_ref`, with that call's `userdata`.
#[allow(non_camel_case_types)]
pub type wsproto_release_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// Sends a whole binary message of `len` bytes without copying them where
/// the frame's payload equals them: a server with no extension transforming
/// the message (permessage-deflate not negotiated) and `len` of at least
/// `WSPROTO_SHARE_MIN` keeps `data` and hands it out as its own piece of
/// output (see `wsproto_conn_output_iov`). Otherwise it is copied as by
/// `wsproto_conn_send_binary` (a client masks while copying).
///
/// `data` must stay valid and unchanged until the library calls
/// `release(userdata)`, which it does exactly once, whatever the outcome:
/// when the bytes have been written (`wsproto_conn_consume_output` or the
/// send callback), when the connection is freed, or before this function
/// returns if it copied them or failed (also for a NULL `conn`). `release`
/// may be NULL (static or otherwise managed memory); it runs on the thread
/// calling into the library and must not call into this connection.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_send_binary_ref(
    conn: *mut wsproto_conn,
    data: *const u8,
    len: usize,
    release: wsproto_release_fn,
    userdata: *mut c_void,
) -> wsproto_result {
    // Owning the release first means every path below, early returns and
    // panics included, releases exactly once.
    let owner = CallerBytes { data, len, release, userdata };
    unsafe {
        enter_result(conn, move |s| {
            if data.is_null() && len > 0 {
                return WSPROTO_ERR_NULL_ARGUMENT;
            }
            s.send_binary_shared(Bytes::from_owner(owner))
        })
    }
}

/// A payload lent by the C caller until `release` is called.
struct CallerBytes {
    data: *const u8,
    len: usize,
    release: wsproto_release_fn,
    userdata: *mut c_void,
}

// SAFETY: the bytes are read only, and `release` runs where the connection
// is used; the caller of `wsproto_conn_send_binary_ref` vouches that both
// may happen on whichever thread uses the connection (connections may move
// between threads but are never used by two at once).
unsafe impl Send for CallerBytes {}

impl AsRef<[u8]> for CallerBytes {
    fn as_ref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: non-NULL (checked before the connection keeps it) and
        // valid for `len` bytes until `release`, by the caller's contract.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

impl Drop for CallerBytes {
    fn drop(&mut self) {
        if let Some(release) = self.release {
            // SAFETY: the caller's function, called once with its userdata.
            unsafe { release(self.userdata) }
        }
    }
}

/// Sends one fragment of a message (RFC 6455 §5.4). The first call starts a
/// message of `kind` (a `wsproto_data_kind`), later calls continue it with
/// the same kind, and the call with `fin` true finishes it; other messages
/// cannot be sent in between (control frames can). Text is validated as
/// UTF-8 across fragment boundaries.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_send_fragment(
    conn: *mut wsproto_conn,
    kind: u32,
    data: *const u8,
    len: usize,
    fin: bool,
) -> wsproto_result {
    unsafe {
        enter_result(conn, |s| {
            let kind = match kind {
                k if k == wsproto_data_kind::WSPROTO_DATA_TEXT as u32 => DataKind::Text,
                k if k == wsproto_data_kind::WSPROTO_DATA_BINARY as u32 => DataKind::Binary,
                _ => return s.fail(WSPROTO_ERR_INVALID_ARGUMENT, "unknown data kind"),
            };
            match args::bytes(data, len) {
                Ok(b) => s.send_fragment(kind, b, fin),
                Err(e) => e,
            }
        })
    }
}

/// Sends a ping with at most 125 bytes of payload.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_send_ping(
    conn: *mut wsproto_conn,
    data: *const u8,
    len: usize,
) -> wsproto_result {
    unsafe {
        enter_result(conn, |s| match args::bytes(data, len) {
            Ok(b) => s.send_ping(b),
            Err(e) => e,
        })
    }
}

/// Sends a pong with at most 125 bytes of payload: an unsolicited heartbeat
/// or, with auto_pong off, the answer to a ping.
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_send_pong(
    conn: *mut wsproto_conn,
    data: *const u8,
    len: usize,
) -> wsproto_result {
    unsafe {
        enter_result(conn, |s| match args::bytes(data, len) {
            Ok(b) => s.send_pong(b),
            Err(e) => e,
        })
    }
}

/// Starts the closing handshake, or answers the peer's close (state
/// `WSPROTO_STATE_REMOTE_CLOSING`). `code` must be sendable (1000–1003,
/// 1007–1014, 3000–4999) or 1005 for a close frame without a code (then
/// `reason_len` must be 0). `reason` is UTF-8, at most 123 bytes, copied.
/// After it, sending messages and pings fails with `WSPROTO_ERR_CLOSED`
/// (a pong may still answer a ping).
#[no_mangle]
pub unsafe extern "C" fn wsproto_conn_close(
    conn: *mut wsproto_conn,
    code: u16,
    reason: *const c_char,
    reason_len: usize,
) -> wsproto_result {
    unsafe {
        enter_result(conn, |s| match args::bytes(reason.cast(), reason_len) {
            Ok(b) => s.close(code, b),
            Err(e) => e,
        })
    }
}
