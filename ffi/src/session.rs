//! The safe connection wrapper the C functions are a thin skin over.
//!
//! A [`Session`] owns the core [`Connection`] and the few things C needs on
//! top of it: the handshake data an event announced (so accessors can read
//! it by index), the last error as a NUL-terminated string, what this side
//! sent when the connection failed, and the transport loops that call the
//! program's IO callbacks. There is no `unsafe` here: pointers are handled
//! by the `extern "C"` modules.

use std::ffi::CString;
use std::io;
use std::sync::Arc;

use wsproto_core::{
    close, Accept, Bytes, ClientHandshake, Connection, DataKind, Error, ErrorKind, Event, Reject, Request, Response,
    Role, State,
};

use crate::config::wsproto_config;
use crate::result::wsproto_result::{self, *};

/// How much one `recv` call reads before returning `WSPROTO_MORE_INPUT`, so
/// a fast peer cannot make one call run, or buffer, without bound.
pub(crate) const RECV_LIMIT_PER_CALL: usize = 256 << 10;

/// The size of the stack buffer the read callback fills.
const READ_CHUNK: usize = 16 << 10;

/// The handshake data the last handshake event announced.
#[derive(Debug)]
pub(crate) enum Handshake {
    /// Server: the client's request, with its extension offers as text.
    Request(Request, Vec<String>),
    /// Client: the server's response (101 or a rejection).
    Response(Response),
}

/// The last failure, kept for `wsproto_conn_last_error` and friends.
#[derive(Debug)]
struct LastError {
    text: CString,
    os_error: i32,
}

/// A payload inside the connection's buffers, as a pointer and a length.
///
/// Raw rather than borrowed: the C side owns the lifetime rule ("valid until
/// the next call on the connection"), and a borrow returned from one branch
/// of a `match` on `poll_event` would keep the connection borrowed in the
/// others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Payload {
    pub ptr: *const u8,
    pub len: usize,
}

impl Payload {
    fn of(b: &[u8]) -> Payload {
        Payload { ptr: b.as_ptr(), len: b.len() }
    }
}

/// An event as the C side shows it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    Request,
    Accepted,
    Rejected,
    RejectBody(Payload, bool),
    Text(Payload, bool),
    Binary(Payload, bool),
    Ping(Payload),
    Pong(Payload),
    Close(u16, Payload),
}

/// What an IO callback answered: bytes moved, or an errno value.
pub(crate) type IoResult = Result<usize, i32>;

/// One connection and its C-facing state.
#[derive(Debug)]
pub(crate) struct Session {
    conn: Connection,
    config: Arc<wsproto_config>,
    handshake: Option<Box<Handshake>>,
    /// Drop `handshake` at the next `next_event`: the handshake is over and
    /// the program had its chance to read it.
    handshake_expires: bool,
    error: Option<Box<LastError>>,
    /// Whether the running call recorded its failure already.
    error_recorded: bool,
    close_code_sent: u16,
    http_status_sent: u16,
}

impl Session {
    pub(crate) fn server(config: Arc<wsproto_config>) -> Session {
        Session::wrap(Connection::server(config.core.clone()), config)
    }

    pub(crate) fn client(config: Arc<wsproto_config>, mut hs: ClientHandshake) -> Result<Session, Error> {
        hs.extensions.extend(config.deflate.extension(Role::Client));
        Ok(Session::wrap(Connection::client(config.core.clone(), hs)?, config))
    }

    pub(crate) fn open(config: Arc<wsproto_config>, role: Role) -> Session {
        Session::wrap(Connection::open(role, config.core.clone(), None), config)
    }

    fn wrap(conn: Connection, config: Arc<wsproto_config>) -> Session {
        Session {
            conn,
            config,
            handshake: None,
            handshake_expires: false,
            error: None,
            error_recorded: false,
            close_code_sent: 0,
            http_status_sent: 0,
        }
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    // ---- errors ---------------------------------------------------------

    /// Records a failure and returns its code.
    pub(crate) fn fail(&mut self, code: wsproto_result, text: &str) -> wsproto_result {
        let text = CString::new(text.replace('\0', " ")).unwrap_or_default();
        self.error = Some(Box::new(LastError { text, os_error: 0 }));
        self.error_recorded = true;
        code
    }

    /// Starts a call that returns a result code.
    pub(crate) fn begin_call(&mut self) {
        self.error_recorded = false;
    }

    /// Ends such a call: a failure without a detail gets its code's text.
    pub(crate) fn end_call(&mut self, r: wsproto_result) -> wsproto_result {
        if r as u32 >= 7000 && !self.error_recorded {
            let text = r.text().trim_end_matches('\0').to_owned();
            self.fail(r, &text);
        }
        r
    }

    /// Records a core error: what was queued for the peer, and the code.
    pub(crate) fn core_error(&mut self, e: &Error) -> wsproto_result {
        if e.is_remote() {
            if let Some(code) = e.close_code() {
                self.close_code_sent = code;
            }
            if let Some(status) = e.http_status() {
                self.http_status_sent = status;
            }
        }
        let code = match wsproto_result::from_kind(e.kind()) {
            WSPROTO_ERR_INVALID_STATE if self.conn.state() != State::Open && self.conn.state() != State::Connecting => {
                WSPROTO_ERR_CLOSED
            }
            code => code,
        };
        self.fail(code, &e.to_string())
    }

    fn io_error(&mut self, errno: i32) -> wsproto_result {
        let text = format!("IO callback failed: {}", io::Error::from_raw_os_error(errno));
        let r = self.fail(WSPROTO_ERR_IO, &text);
        if let Some(e) = self.error.as_mut() {
            e.os_error = errno;
        }
        r
    }

    pub(crate) fn last_error_text(&self) -> &std::ffi::CStr {
        self.error.as_ref().map_or(c"", |e| e.text.as_c_str())
    }

    pub(crate) fn last_os_error(&self) -> i32 {
        self.error.as_ref().map_or(0, |e| e.os_error)
    }

    pub(crate) fn close_code_sent(&self) -> u16 {
        self.close_code_sent
    }

    pub(crate) fn http_status_sent(&self) -> u16 {
        self.http_status_sent
    }

    fn check(&mut self, r: Result<(), Error>) -> wsproto_result {
        match r {
            Ok(()) => WSPROTO_OK,
            Err(e) => self.core_error(&e),
        }
    }

    // ---- events ---------------------------------------------------------

    /// The next event, `Ok(None)` when more input is needed, or the code of
    /// the protocol violation that failed the connection.
    pub(crate) fn next_event(&mut self) -> Result<Option<Ev>, wsproto_result> {
        if std::mem::take(&mut self.handshake_expires) {
            self.handshake = None;
        }
        let before = self.conn.state();
        let auto_close = self.conn.config().auto_close;
        let event = match self.conn.poll_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => {
                // Nothing buffered is waiting: give idle memory back.
                self.conn.release_memory();
                return Ok(None);
            }
            Err(e) => return Err(self.core_error(&e)),
        };
        let p = Payload::of;
        Ok(Some(match event {
            Event::Request(req) => {
                let exts = req.extensions.iter().map(ToString::to_string).collect();
                self.handshake = Some(Box::new(Handshake::Request(*req, exts)));
                Ev::Request
            }
            Event::Accepted(resp) => {
                self.handshake = Some(Box::new(Handshake::Response(*resp)));
                self.handshake_expires = true;
                Ev::Accepted
            }
            Event::Rejected(resp) => {
                self.handshake = Some(Box::new(Handshake::Response(*resp)));
                Ev::Rejected
            }
            Event::RejectBody { data, fin } => Ev::RejectBody(p(data), fin),
            Event::Text(t) => Ev::Text(p(t.as_bytes()), true),
            Event::Binary(b) => Ev::Binary(p(b), true),
            Event::TextChunk { data, fin } => Ev::Text(p(data), fin),
            Event::BinaryChunk { data, fin } => Ev::Binary(p(data), fin),
            Event::Ping(d) => Ev::Ping(p(d)),
            Event::Pong(d) => Ev::Pong(p(d)),
            Event::Close { code, reason } => {
                // With auto_close the core echoed the peer's code (1005: an
                // empty close frame); 1006 means no frame came or went.
                if before == State::Open && auto_close && code != close::ABNORMAL_CLOSURE {
                    self.close_code_sent = code;
                }
                Ev::Close(code, p(reason.as_bytes()))
            }
        }))
    }

    pub(crate) fn handshake(&self) -> Option<&Handshake> {
        self.handshake.as_deref()
    }

    pub(crate) fn request(&self) -> Option<&Request> {
        match self.handshake() {
            Some(Handshake::Request(r, _)) => Some(r),
            _ => None,
        }
    }

    pub(crate) fn response(&self) -> Option<&Response> {
        match self.handshake() {
            Some(Handshake::Response(r)) => Some(r),
            _ => None,
        }
    }

    // ---- handshake commands ---------------------------------------------

    /// Server: accepts the request. With no subprotocol given, selects the
    /// first configured one that the client offered.
    pub(crate) fn accept(&mut self, subprotocol: Option<&str>, headers: Vec<wsproto_core::Header>) -> wsproto_result {
        let subprotocol = match subprotocol {
            Some(p) => Some(p.to_owned()),
            None => self
                .request()
                .and_then(|req| self.config.subprotocols.iter().find(|p| req.subprotocols.contains(p)).cloned()),
        };
        let extensions = self.config.deflate.extension(Role::Server).into_iter().collect();
        let r = self.conn.accept(Accept { subprotocol, extensions, headers });
        let code = self.check(r);
        if code == WSPROTO_OK {
            self.handshake_expires = true;
        }
        code
    }

    /// Server: refuses the request with any HTTP response.
    pub(crate) fn reject(&mut self, reject: &Reject) -> wsproto_result {
        let r = self.conn.reject(reject);
        let code = self.check(r);
        if code == WSPROTO_OK {
            self.http_status_sent = reject.status;
        }
        code
    }

    // ---- message commands -------------------------------------------------

    pub(crate) fn send_text(&mut self, data: &[u8]) -> wsproto_result {
        let Ok(text) = std::str::from_utf8(data) else {
            return self.fail(WSPROTO_ERR_INVALID_UTF8, "text to send is not valid UTF-8");
        };
        let r = self.conn.send_text(text);
        self.check(r)
    }

    pub(crate) fn send_binary(&mut self, data: &[u8]) -> wsproto_result {
        let r = self.conn.send_binary(data);
        self.check(r)
    }

    pub(crate) fn send_binary_shared(&mut self, data: Bytes) -> wsproto_result {
        let r = self.conn.send_binary_shared(data);
        self.check(r)
    }

    pub(crate) fn send_fragment(&mut self, kind: DataKind, data: &[u8], fin: bool) -> wsproto_result {
        match self.conn.send_fragment(kind, data, fin) {
            Ok(()) => WSPROTO_OK,
            // The core validates text fragments across their boundaries and
            // reports bad text as an invalid argument (its only invalid
            // argument for text besides extension failures); name it
            // precisely.
            Err(e)
                if kind == DataKind::Text
                    && e.kind() == ErrorKind::InvalidArgument
                    && !e.detail().starts_with("extension") =>
            {
                self.fail(WSPROTO_ERR_INVALID_UTF8, e.detail())
            }
            Err(e) => self.core_error(&e),
        }
    }

    pub(crate) fn send_ping(&mut self, data: &[u8]) -> wsproto_result {
        let r = self.conn.send_ping(data);
        self.check(r)
    }

    pub(crate) fn send_pong(&mut self, data: &[u8]) -> wsproto_result {
        let r = self.conn.send_pong(data);
        self.check(r)
    }

    pub(crate) fn close(&mut self, code: u16, reason: &[u8]) -> wsproto_result {
        let Ok(reason) = std::str::from_utf8(reason) else {
            return self.fail(WSPROTO_ERR_INVALID_UTF8, "close reason is not valid UTF-8");
        };
        let r = self.conn.close(code, reason);
        let result = self.check(r);
        if result == WSPROTO_OK {
            self.close_code_sent = code;
        }
        result
    }

    // ---- push-mode IO -----------------------------------------------------

    pub(crate) fn feed(&mut self, data: &[u8]) {
        self.conn.receive(data);
    }

    pub(crate) fn feed_eof(&mut self) {
        self.conn.receive_eof();
    }

    #[cfg(test)]
    pub(crate) fn output(&self) -> &[u8] {
        self.conn.output()
    }

    pub(crate) fn consume_output(&mut self, n: usize) -> wsproto_result {
        if n > self.conn.buffered_out() {
            return self.fail(WSPROTO_ERR_INVALID_ARGUMENT, "consumed more output than is pending");
        }
        self.conn.consume_output(n);
        WSPROTO_OK
    }

    pub(crate) fn release_memory(&mut self) {
        self.conn.release_memory();
    }

    // ---- callback IO --------------------------------------------------------

    /// Reads from the transport with `read` until it would block, reports
    /// end of stream, fails, or [`RECV_LIMIT_PER_CALL`] bytes came in.
    /// Returns the outcome and the number of bytes read.
    pub(crate) fn recv_with(&mut self, mut read: impl FnMut(&mut [u8]) -> IoResult) -> (wsproto_result, usize) {
        let mut buf = [0u8; READ_CHUNK];
        let mut total = 0;
        loop {
            if total >= RECV_LIMIT_PER_CALL {
                return (WSPROTO_MORE_INPUT, total);
            }
            match read(&mut buf) {
                Ok(0) => {
                    self.conn.receive_eof();
                    return (WSPROTO_EOF, total);
                }
                Ok(n) if n > buf.len() => {
                    return (
                        self.fail(WSPROTO_ERR_IO_BAD_COUNT, "read callback reported more bytes than asked"),
                        total,
                    );
                }
                Ok(n) => {
                    self.conn.receive(&buf[..n]);
                    total += n;
                }
                Err(errno) => match io::Error::from_raw_os_error(errno).kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => {
                        if !self.conn.wants_write() {
                            // Idle until the next readiness: hold no buffers
                            // that hold nothing.
                            self.conn.release_memory();
                        }
                        return (WSPROTO_OK, total);
                    }
                    _ => return (self.io_error(errno), total),
                },
            }
        }
    }

    /// Writes pending output with `write` until it is all written or the
    /// transport would block. Returns the outcome and the bytes written.
    pub(crate) fn send_with(&mut self, mut write: impl FnMut(&[u8]) -> IoResult) -> (wsproto_result, usize) {
        let mut total = 0;
        while self.conn.wants_write() {
            let out = self.conn.output();
            let len = out.len();
            match write(out) {
                Ok(0) => return (WSPROTO_OK, total),
                Ok(n) if n > len => {
                    return (
                        self.fail(WSPROTO_ERR_IO_BAD_COUNT, "write callback reported more bytes than given"),
                        total,
                    );
                }
                Ok(n) => {
                    self.conn.consume_output(n);
                    total += n;
                }
                Err(errno) => match io::Error::from_raw_os_error(errno).kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => return (WSPROTO_OK, total),
                    _ => return (self.io_error(errno), total),
                },
            }
        }
        self.conn.release_memory();
        (WSPROTO_OK, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Session, Session) {
        let cfg = Arc::new(wsproto_config::default());
        let client = Session::client(
            cfg.clone(),
            ClientHandshake {
                host: "h".into(),
                path: "/p?q".into(),
                subprotocols: vec!["b".into()],
                ..Default::default()
            },
        )
        .unwrap();
        let scfg = wsproto_config { subprotocols: vec!["a".into(), "b".into()], ..Default::default() };
        (client, Session::server(Arc::new(scfg)))
    }

    fn pump(from: &mut Session, to: &mut Session) {
        let out = from.output().to_vec();
        from.consume_output(out.len());
        to.feed(&out);
    }

    #[test]
    fn handshake_selects_configured_subprotocol_and_expires_data() {
        let (mut c, mut s) = pair();
        pump(&mut c, &mut s);
        assert_eq!(s.next_event(), Ok(Some(Ev::Request)));
        assert_eq!(s.request().unwrap().target, "/p?q");
        assert_eq!(s.accept(None, vec![]), WSPROTO_OK);
        assert!(s.request().is_some(), "readable until the next event call");
        assert_eq!(s.next_event(), Ok(None));
        assert!(s.request().is_none());
        pump(&mut s, &mut c);
        assert_eq!(c.next_event(), Ok(Some(Ev::Accepted)));
        assert_eq!(c.response().unwrap().subprotocol.as_deref(), Some("b"));
    }

    #[test]
    fn callbacks_read_until_blocked_and_write_everything() {
        let (mut c, mut s) = pair();
        let mut wire = Vec::new();
        let (r, n) = c.send_with(|b| {
            let n = b.len().min(10);
            wire.extend_from_slice(&b[..n]);
            Ok(n)
        });
        assert_eq!(r, WSPROTO_OK);
        assert_eq!(n, wire.len());
        let mut pos = 0;
        let (r, n) = s.recv_with(|b| {
            if pos == wire.len() {
                return Err(11); // EAGAIN on Linux
            }
            let k = b.len().min(wire.len() - pos).min(7);
            b[..k].copy_from_slice(&wire[pos..pos + k]);
            pos += k;
            Ok(k)
        });
        assert_eq!((r, n), (WSPROTO_OK, wire.len()));
        assert_eq!(s.next_event(), Ok(Some(Ev::Request)));
        let (r, _) = s.recv_with(|_| Ok(0));
        assert_eq!(r, WSPROTO_EOF);
        let (r, _) = s.recv_with(|_| Err(104));
        assert_eq!(r, WSPROTO_ERR_IO);
        assert_eq!(s.last_os_error(), 104);
        let (r, _) = s.recv_with(|b| Ok(b.len() + 1));
        assert_eq!(r, WSPROTO_ERR_IO_BAD_COUNT);
    }

    #[test]
    fn remote_errors_record_the_close_code() {
        let cfg = Arc::new(wsproto_config::default());
        let mut s = Session::open(cfg, Role::Server);
        s.feed(&[0x81, 0x00]); // unmasked client frame
        assert_eq!(s.next_event(), Err(WSPROTO_ERR_BAD_MASKING));
        assert_eq!(s.close_code_sent(), 1002);
        assert_eq!(s.send_text(b"x"), WSPROTO_ERR_CLOSED);
        assert!(s.last_error_text().to_str().unwrap().contains("Closed"), "{:?}", s.last_error_text());
    }
}
