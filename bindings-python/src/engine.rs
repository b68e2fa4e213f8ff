//! [`Engine`]: one `wsproto_core::Connection` with wsproto's semantics.
//!
//! The core and wsproto agree on the protocol but not on every convention,
//! and the engine bridges the gaps:
//!
//! * wsproto never answers pings or closes by itself: the core runs with
//!   `auto_pong` and `auto_close` off.
//! * wsproto reports data frame by frame, as soon as bytes arrive
//!   (`frame_finished` / `message_finished`): the core runs with
//!   `partial_messages`, and [`Connection::in_frame`] tells frame boundaries.
//!   Text pieces may end inside a code point; the engine holds those bytes
//!   back (at most 3) as wsproto's incremental decoder does.
//! * When the peer breaks the protocol, wsproto reports a `CloseConnection`
//!   event and leaves the answer to the program, in the same state. The core
//!   has already queued its own close frame and closed; the engine drops
//!   that frame and sends what the program asks for through a fresh
//!   send-only connection.
//! * wsproto's `ConnectionState` has six values and moves on slightly
//!   different events; the engine keeps it alongside the core's state.
//!
//! Large payloads cross memory once. Received `bytes` objects are held
//! (they cannot change) until `events()` decodes; the payload of a large
//! frame is then unmasked straight from them into the event's new `bytes`
//! (or checked where it is, for a client), with the core's
//! `receive_payload`, instead of being copied into the core's buffer and
//! out again; a text piece is made a `str` by CPython from there. A whole
//! message is sent with its payload copied (and masked) straight into the
//! returned `bytes`.

use std::collections::VecDeque;

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString, PyTuple};
use wsproto_core::close::{
    is_valid_wire_code, ABNORMAL_CLOSURE, MAX_REASON_LEN, NORMAL, NO_STATUS_RCVD, TLS_HANDSHAKE,
};
use wsproto_core::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use wsproto_core::mask::copy_masked;
use wsproto_core::random::{OsRandom, Random};
use wsproto_core::State as CoreState;
use wsproto_core::{
    Accept, ClientHandshake, Config, Connection, DataKind, Error, ErrorKind, Event, Extension, Header, Role,
};

use crate::errors;
use crate::events::{build, close_code, registry, state as state_member, Registry};
use crate::extension::{take_pending, PyExtension};

/// At most this many events are decoded ahead of the program: a read full
/// of tiny frames (say, empty fragments, each its own event) then costs a
/// bounded number of Python objects at a time, not one per frame of the
/// read, while a batch still spares a boundary crossing per event.
const BATCH_MAX: usize = 1024;

// wsproto's ConnectionState values.
const CONNECTING: u8 = 0;
const OPEN: u8 = 1;
const REMOTE_CLOSING: u8 = 2;
const LOCAL_CLOSING: u8 = 3;
const CLOSED: u8 = 4;

/// One connection: handshake helpers for `wsproto_rs.handshake` and the
/// frame-level API of `wsproto_rs.connection.Connection`.
#[pyclass(module = "wsproto_rs._native")]
pub(crate) struct Engine {
    role: Role,
    config: Config,
    /// `None` for a client until its request is written.
    conn: Option<Exclusive<Connection>>,
    /// wsproto's view of the state.
    state: u8,
    /// The peer broke the protocol: nothing more is read, and `conn` is a
    /// fresh connection used only to encode what the program still sends.
    failed: bool,
    /// A data message is being sent in fragments.
    sending: Option<DataKind>,
    /// The peer's close is queued (always last: nothing is decoded after
    /// it) and moves the state when the program takes it, as in wsproto,
    /// whose generator decodes lazily: until then a ping queued before it
    /// can still be answered.
    close_queued: bool,
    /// Events decoded and not yet taken, in order. An abandoned `events()`
    /// iterator leaves the rest here for the next one, as wsproto's lazy
    /// generator does.
    queue: VecDeque<Py<PyAny>>,
    /// The tail of a text piece that ends inside a code point.
    carry: Vec<u8>,
    /// Received `bytes` objects not yet given to the core, oldest first,
    /// and how much of the first one it has: the payload of a large frame
    /// in them is built into its event's object straight from them (see
    /// `Engine::feed_held`).
    held: VecDeque<Py<PyBytes>>,
    held_at: usize,
    /// The data message being received (or the last one) is text.
    receiving_text: bool,
    /// Bytes of the peer's handshake have arrived (a server whose peer
    /// leaves before sending any is not an error to wsproto).
    handshake_started: bool,
    /// Mask keys for frames the engine encodes itself.
    rng: OsRandom,
}

/// Makes a `Send` value `Sync` by never lending it out through `&self`.
///
/// A `Connection` is `Send` but not `Sync` (its extension and random source
/// need not be), while a Python object may be touched from any thread. This
/// wrapper only gives the value out through `&mut self`, which PyO3 grants
/// one caller at a time, so a shared `&Exclusive` gives access to nothing;
/// the same reasoning as the standard library's unstable `Exclusive`.
struct Exclusive<T>(T);

// SAFETY: no method of `Exclusive` takes `&self`; the inner value is only
// reachable through `get_mut(&mut self)`, so sharing references across
// threads cannot race on it. `T: Send` lets the owner itself move threads.
unsafe impl<T: Send> Sync for Exclusive<T> {}

impl<T> Exclusive<T> {
    fn get_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

#[pymethods]
impl Engine {
    /// A connection of the given role, with optional limits (the core's
    /// defaults otherwise).
    #[new]
    #[pyo3(signature = (client, max_frame_size=None, max_message_size=None, max_fragments=None, max_handshake_size=None, max_headers=None))]
    fn new(
        client: bool,
        max_frame_size: Option<u64>,
        max_message_size: Option<u64>,
        max_fragments: Option<u32>,
        max_handshake_size: Option<usize>,
        max_headers: Option<usize>,
    ) -> Engine {
        let d = Config::default();
        // Fields the core may add later keep their defaults.
        #[allow(clippy::needless_update)]
        let config = Config {
            max_frame_size: max_frame_size.unwrap_or(d.max_frame_size),
            max_message_size: max_message_size.unwrap_or(d.max_message_size),
            max_fragments: max_fragments.unwrap_or(d.max_fragments),
            max_handshake_size: max_handshake_size.unwrap_or(d.max_handshake_size),
            max_headers: max_headers.unwrap_or(d.max_headers),
            auto_pong: false,
            auto_close: false,
            partial_messages: true,
            mask_seed: None,
            ..d
        };
        Engine {
            role: if client { Role::Client } else { Role::Server },
            config,
            conn: None,
            state: CONNECTING,
            failed: false,
            close_queued: false,
            sending: None,
            queue: VecDeque::new(),
            carry: Vec::new(),
            held: VecDeque::new(),
            held_at: 0,
            receiving_text: false,
            handshake_started: false,
            rng: OsRandom::new(),
        }
    }

    // ------------------------------------------------------------------
    // Handshake phase (driven by wsproto_rs.handshake)
    // ------------------------------------------------------------------

    /// Server: waits for the opening request.
    fn start_server(&mut self) {
        self.conn = Some(Exclusive(Connection::server(self.config.clone())));
    }

    /// Client: writes the opening request and returns its bytes.
    fn start_client<'py>(
        &mut self,
        py: Python<'py>,
        host: String,
        target: String,
        subprotocols: Vec<String>,
        extensions: Vec<Py<PyAny>>,
        headers: Vec<(String, Vec<u8>)>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let extensions = self.adapt(py, extensions)?;
        let hs = ClientHandshake { host, path: target, origin: None, subprotocols, extensions, headers };
        let result = Connection::client(self.config.clone(), hs);
        if let Some(e) = take_pending() {
            return Err(e);
        }
        let mut conn = result.map_err(|e| local_error(py, &e))?;
        let out = PyBytes::new(py, conn.output());
        conn.consume_output(out.as_bytes().len());
        self.conn = Some(Exclusive(conn));
        Ok(out)
    }

    /// Feeds handshake bytes (`None` or empty: end of stream, as in h11).
    fn feed(&mut self, data: Option<&[u8]>) {
        if let Some(conn) = self.conn.as_mut().map(Exclusive::get_mut) {
            match data {
                Some(d) if !d.is_empty() => {
                    self.handshake_started = true;
                    conn.receive(d)
                }
                _ => conn.receive_eof(),
            }
        }
    }

    /// The next handshake event as a tuple, `None` when more bytes are
    /// needed. Stops at the first data event, which stays queued.
    ///
    /// * `("request", target, [(name, value)...])`
    /// * `("accepted", subprotocol, [(name, value)...], [extension names])`
    /// * `("rejected", status, [(name, value)...])`
    /// * `("body", data, fin)`
    /// * `("error", kind, detail)`: the peer's handshake is invalid.
    fn poll_handshake<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let Some(conn) = self.conn.as_mut().map(Exclusive::get_mut) else { return Ok(None) };
        if self.state != CONNECTING {
            return Ok(None);
        }
        let polled = conn.poll_event();
        if let Some(err) = take_pending() {
            // A Python extension's `finalize` raised: wsproto lets it through.
            return Err(err);
        }
        let event = match polled {
            Ok(Some(e)) => e,
            Ok(None) => return Ok(None),
            Err(e) => {
                // wsproto sends nothing by itself: drop the core's answer.
                conn.consume_output(usize::MAX);
                let kind = format!("{:?}", e.kind());
                return Ok(Some(("error", kind, e.detail().to_owned()).into_pyobject(py)?));
            }
        };
        let headers = |h: &[Header]| -> Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
            h.iter().map(|(k, v)| (PyBytes::new(py, k.as_bytes()), PyBytes::new(py, v))).collect()
        };
        let tuple = match event {
            Event::Request(r) => ("request", r.target.clone(), headers(&r.headers)).into_pyobject(py)?,
            Event::Accepted(r) => {
                let names: Vec<String> = r.extensions.iter().map(|e| e.name.clone()).collect();
                let t = ("accepted", r.subprotocol.clone(), headers(&r.headers), names).into_pyobject(py)?;
                self.state = OPEN;
                t
            }
            Event::Rejected(r) => ("rejected", r.status, headers(&r.headers)).into_pyobject(py)?,
            Event::RejectBody { data, fin } => ("body", PyBytes::new(py, data), fin).into_pyobject(py)?,
            // The stream ended before the handshake did: to wsproto (h11) a
            // bad HTTP message, unless a server had not been sent a byte.
            Event::Close { .. } if self.role == Role::Client || self.handshake_started => {
                let detail = "malformed HTTP: the connection closed during the handshake";
                ("error", "BadHandshake", detail).into_pyobject(py)?
            }
            _ => return Ok(None),
        };
        Ok(Some(tuple))
    }

    /// Server: accepts the request; returns the 101 response bytes.
    fn accept<'py>(
        &mut self,
        py: Python<'py>,
        subprotocol: Option<String>,
        extensions: Vec<Py<PyAny>>,
        headers: Vec<(String, Vec<u8>)>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let extensions = self.adapt(py, extensions)?;
        let conn = self
            .conn
            .as_mut()
            .map(Exclusive::get_mut)
            .ok_or_else(|| local_msg(py, "no handshake request to accept"))?;
        let result = conn.accept(Accept { subprotocol, extensions, headers });
        if let Some(e) = take_pending() {
            return Err(e);
        }
        result.map_err(|e| local_error(py, &e))?;
        self.state = OPEN;
        let out = PyBytes::new(py, conn.output());
        conn.consume_output(out.as_bytes().len());
        Ok(out)
    }

    /// Server: the program refused the request (the response is written by
    /// the Python side in h11's format); nothing more is read.
    fn reject(&mut self) {
        self.conn = None;
        self.state = CLOSED;
    }

    /// Starts an already upgraded connection (wsproto's `Connection`).
    fn open(&mut self, py: Python<'_>, extensions: Vec<Py<PyAny>>) -> PyResult<()> {
        let mut transform: Option<Box<dyn Extension>> = None;
        for e in extensions {
            if let Some(ext) = PyExtension::transform(py, e.bind(py), self.role)? {
                transform = Some(Box::new(ext));
                break;
            }
        }
        self.conn = Some(Exclusive(Connection::open(self.role, self.config.clone(), transform)));
        self.state = OPEN;
        Ok(())
    }

    // ------------------------------------------------------------------
    // Open phase: wsproto.connection.Connection
    // ------------------------------------------------------------------

    /// wsproto's `ConnectionState` value.
    #[getter]
    fn state_value(&self) -> u8 {
        self.state
    }

    /// Forces wsproto's state (wsproto programs may assign `_state`).
    fn set_state_value(&mut self, value: u8) {
        self.state = value;
    }

    /// The `ConnectionState` member.
    #[getter]
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        state_member(py, registry()?, self.state)
    }

    /// Feeds received bytes; `None` reports that the transport closed.
    fn receive_data(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        if data.is_none() {
            // RFC 6455 §7.1.5: no close frame was received, code 1006.
            let reg = registry()?;
            let code = close_code(py, reg, ABNORMAL_CLOSURE)?;
            let ev = build(
                py,
                reg,
                &reg.close,
                &[(intern!(py, "code"), &code), (intern!(py, "reason"), &py.None().into_bound(py))],
            )?;
            self.queue.push_back(ev.unbind());
            self.state = CLOSED;
            self.close_queued = false;
            return Ok(());
        }
        match self.state {
            OPEN | LOCAL_CLOSING => {}
            CLOSED => return Err(local_msg(py, "Connection already closed.")),
            _ => return Ok(()),
        }
        if self.failed {
            return Ok(());
        }
        let Some(conn) = self.conn.as_mut().map(Exclusive::get_mut) else { return Ok(()) };
        if let Ok(b) = data.cast_exact::<PyBytes>() {
            // A `bytes` object cannot change: it is kept (not copied) until
            // `events()` decodes, and payloads are taken from it then. Once
            // one is held, later input waits behind it.
            if !self.held.is_empty() || (b.as_bytes().len() >= HOLD_MIN && conn.extension().is_none()) {
                self.held.push_back(b.clone().unbind());
                return Ok(());
            }
            conn.receive(b.as_bytes());
            return Ok(());
        }
        self.release_held(py);
        let conn = self.conn.as_mut().map(Exclusive::get_mut).ok_or_else(not_started)?;
        if let Ok(b) = data.cast::<PyBytes>() {
            conn.receive(b.as_bytes());
        } else if let Ok(b) = data.cast::<PyByteArray>() {
            conn.receive(&b.to_vec());
        } else {
            conn.receive(&payload_bytes(py, data)?);
        }
        Ok(())
    }

    /// `(send, receive_data)` of this engine as builtins that take their
    /// one argument directly (see `fast`): what `Connection` binds.
    fn fast_methods(slf: &Bound<'_, Self>) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        fast::methods(slf)
    }

    /// An iterator over the events received so far: the engine itself.
    fn events(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next event. When none is queued, decodes everything the received
    /// bytes hold in one go (one call per batch, not per event).
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        if self.queue.is_empty() {
            self.fill(py)?;
        }
        let event = self.queue.pop_front();
        if self.close_queued && self.queue.is_empty() {
            self.close_queued = false;
            self.state = if self.state == LOCAL_CLOSING { CLOSED } else { REMOTE_CLOSING };
        }
        Ok(event)
    }
    /// Encodes an event and returns the bytes to send (wsproto's
    /// `Connection.send`).
    fn send<'py>(&mut self, py: Python<'py>, event: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let reg = registry()?;
        let ty = event.get_type();
        let st = self.state;
        let is_data = ty.is(reg.text.bind(py)) || ty.is(reg.bytes.bind(py));
        if (is_data || event.is_instance(reg.message.bind(py))?) && st == OPEN {
            let data = event.getattr(intern!(py, "data"))?;
            let fin = event.getattr(intern!(py, "message_finished"))?.is_truthy()?;
            if let Some(out) = self.send_message(py, &data, fin)? {
                return Ok(out);
            }
        } else if !is_data && event.is_instance(reg.ping.bind(py))? && st == OPEN {
            let payload = event.getattr(intern!(py, "payload"))?;
            let r = self.sender()?.send_ping(&payload_bytes(py, &payload)?);
            r.map_err(|e| control_error(py, &e))?;
        } else if !is_data && event.is_instance(reg.pong.bind(py))? && st == OPEN {
            let payload = event.getattr(intern!(py, "payload"))?;
            let r = self.sender()?.send_pong(&payload_bytes(py, &payload)?);
            r.map_err(|e| control_error(py, &e))?;
        } else if !is_data && event.is_instance(reg.close.bind(py))? && (st == OPEN || st == REMOTE_CLOSING) {
            self.send_close(py, event)?;
            self.state = if st == REMOTE_CLOSING { CLOSED } else { LOCAL_CLOSING };
        } else {
            let state = state_member(py, reg, st)?;
            let msg = format!("Event {} cannot be sent in state {}.", event.str()?, state.str()?);
            return Err(local_msg(py, &msg));
        }
        let conn = self.sender()?;
        let out = PyBytes::new(py, conn.output());
        conn.consume_output(out.as_bytes().len());
        Ok(out)
    }

    /// Bytes the core queued and not yet handed out.
    fn take_output<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        match self.conn.as_mut().map(Exclusive::get_mut) {
            Some(conn) => {
                let out = PyBytes::new(py, conn.output());
                conn.consume_output(out.as_bytes().len());
                out
            }
            None => PyBytes::new(py, b""),
        }
    }
}

impl Engine {
    /// Decodes every event the received bytes hold into the queue.
    fn fill(&mut self, py: Python<'_>) -> PyResult<()> {
        let reg = registry()?;
        if self.failed || self.state == CONNECTING {
            return Ok(());
        }
        let keys = ChunkKeys::new(py);
        loop {
            let close_next = self.decode(py, reg, &keys)?;
            if close_next || self.failed || self.held.is_empty() || self.queue.len() >= BATCH_MAX {
                return Ok(());
            }
            self.feed_held(py, reg, &keys)?;
        }
    }

    /// Queues the events of the bytes the core has, until it needs more;
    /// true when it stopped before the peer's close frame, which waits
    /// until the program has taken the events before it. wsproto's
    /// generator decodes lazily, so while the program answers a message
    /// that came with the close, the connection is still open, and the
    /// core must not have moved on to the close either.
    fn decode(&mut self, py: Python<'_>, reg: &Registry, keys: &ChunkKeys<'_>) -> PyResult<bool> {
        let Some(conn) = self.conn.as_mut().map(Exclusive::get_mut) else { return Ok(false) };
        let out = &mut self.queue;
        let k_data = intern!(py, "data");
        let t = &keys.t;
        while out.len() < BATCH_MAX {
            if !out.is_empty() && conn.close_frame_next() {
                return Ok(true);
            }
            let event = match conn.poll_event() {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    let ev = fail_event(py, reg, &e, self.role)?;
                    out.push_back(ev.unbind());
                    self.fail();
                    break;
                }
            };
            match event {
                Event::TextChunk { data, fin } => {
                    self.receiving_text = true;
                    let text = take_text(py, &mut self.carry, data, fin)?;
                    let frame_done = fin || !conn.in_frame();
                    out.push_back(keys.event(py, reg, true, &text, frame_done, fin)?.unbind());
                }
                Event::BinaryChunk { data, fin } => {
                    self.receiving_text = false;
                    let bytes = PyBytes::new(py, data).into_any();
                    let frame_done = fin || !conn.in_frame();
                    out.push_back(keys.event(py, reg, false, &bytes, frame_done, fin)?.unbind());
                }
                Event::Ping(p) => {
                    let payload = PyBytes::new(py, p).into_any();
                    out.push_back(build(py, reg, &reg.ping, &[(intern!(py, "payload"), &payload)])?.unbind());
                }
                Event::Pong(p) => {
                    let payload = PyBytes::new(py, p).into_any();
                    out.push_back(build(py, reg, &reg.pong, &[(intern!(py, "payload"), &payload)])?.unbind());
                }
                Event::Close { code, reason } => {
                    let reason = PyString::new(py, reason).into_any();
                    let code = close_code(py, reg, code)?;
                    self.close_queued = true;
                    let ev =
                        build(py, reg, &reg.close, &[(intern!(py, "code"), &code), (intern!(py, "reason"), &reason)])?;
                    out.push_back(ev.unbind());
                }
                Event::Text(s) => {
                    let text = PyString::new(py, s).into_any();
                    out.push_back(
                        build(py, reg, &reg.text, &[(k_data, &text), (keys.k_frame, t), (keys.k_msg, t)])?.unbind(),
                    );
                }
                Event::Binary(b) => {
                    let bytes = PyBytes::new(py, b).into_any();
                    out.push_back(
                        build(py, reg, &reg.bytes, &[(k_data, &bytes), (keys.k_frame, t), (keys.k_msg, t)])?.unbind(),
                    );
                }
                _ => {}
            }
        }
        Ok(false)
    }

    /// Moves the held input on by one step, the core having decoded all it
    /// has: payload at the start of the input is built into its event's
    /// object straight from the held `bytes` (`take_payload`); the header
    /// of a large data frame is given to the core alone, so that its
    /// payload can be taken next; anything else (small frames, control
    /// frames) goes to the core as usual, with all held input after it.
    fn feed_held(&mut self, py: Python<'_>, reg: &Registry, keys: &ChunkKeys<'_>) -> PyResult<()> {
        let first = self.held.front().expect("held input").bind(py).clone();
        let data = &first.as_bytes()[self.held_at..];
        // A server's text would be unmasked into a new `bytes` only for
        // CPython to copy it into a `str`: the core's own (reused) buffer
        // does that copy as well, so text goes the usual way there.
        let server = self.role == Role::Server;
        let conn = self.conn.as_mut().map(Exclusive::get_mut).ok_or_else(not_started)?;
        if let Some(to_come) = conn.frame_payload_to_come().filter(|&k| k > 0 && !data.is_empty()) {
            if !(server && self.receiving_text) && self.take_payload(py, reg, keys, to_come)? {
                return Ok(());
            }
        } else if !conn.in_frame() && conn.buffered_in() == 0 {
            // Between frames with nothing buffered: `data` starts a header.
            if let Ok(Some((h, n))) = FrameHeader::decode(data) {
                match h.opcode {
                    OpCode::Text => self.receiving_text = true,
                    OpCode::Binary => self.receiving_text = false,
                    _ => {}
                }
                if !h.opcode.is_control() && h.len >= DIRECT_MIN && !(server && self.receiving_text) {
                    let conn = self.conn.as_mut().map(Exclusive::get_mut).ok_or_else(not_started)?;
                    conn.receive(&data[..n]);
                    consume_held(py, &mut self.held, &mut self.held_at, n);
                    return Ok(());
                }
            }
        }
        // Everything held goes to the core at once: a frame that continues
        // in the next held read must come out as one event (wsproto's
        // pieces are what had arrived when `events()` was called).
        self.release_held(py);
        Ok(())
    }

    /// Takes the payload of the frame being received that the held input
    /// holds (up to `to_come` bytes) with the core's `receive_payload` and
    /// queues its event: one pass over the bytes where going through the
    /// core's buffer would be two. A server's (masked) payload is unmasked
    /// straight into the event's new `bytes` (binary, as `feed_held` asks;
    /// text that comes this way is decoded from it); a client's is checked
    /// where it is, text is made a `str` from there, and a binary piece
    /// that is a whole held `bytes` object becomes the event's data as it
    /// is. Returns false if the core does not take it this way (nothing
    /// changed).
    fn take_payload(&mut self, py: Python<'_>, reg: &Registry, keys: &ChunkKeys<'_>, to_come: u64) -> PyResult<bool> {
        let Engine { conn, held, held_at, carry, role, .. } = self;
        let conn = conn.as_mut().map(Exclusive::get_mut).ok_or_else(not_started)?;
        let first = held.front().expect("held input").bind(py).clone();
        let data = &first.as_bytes()[*held_at..];
        let avail: usize = held.iter().map(|b| b.bind(py).as_bytes().len()).sum::<usize>() - *held_at;
        let len = to_come.min(avail as u64) as usize;
        let got = if *role == Role::Client && len <= data.len() {
            match conn.receive_payload(&data[..len], None) {
                Ok(Some(piece)) => {
                    let piece_data = &data[..piece.len];
                    let value = if piece.kind == DataKind::Text {
                        take_text(py, carry, piece_data, piece.fin)?
                    } else if *held_at == 0 && piece.len == data.len() {
                        first.clone().into_any()
                    } else {
                        PyBytes::new(py, piece_data).into_any()
                    };
                    consume_held(py, held, held_at, piece.len);
                    Ok((piece, value))
                }
                Ok(None) => return Ok(false),
                Err(e) => Err(e),
            }
        } else {
            let mut out = UninitBytes::new(py, len)?;
            let dst = out.spare();
            let mut pos = 0;
            let mut last = Err(None);
            while pos < len {
                let input = held.front().expect("held input").bind(py).clone();
                match conn.receive_payload(&input.as_bytes()[*held_at..], Some(&mut dst[pos..])) {
                    Ok(Some(piece)) => {
                        pos += piece.len;
                        consume_held(py, held, held_at, piece.len);
                        last = Ok(piece);
                    }
                    Ok(None) if pos == 0 => return Ok(false),
                    Ok(None) => return Err(PyRuntimeError::new_err("wsproto_rs: internal error (payload cut short)")),
                    Err(e) => {
                        last = Err(Some(e));
                        break;
                    }
                }
            }
            match last {
                Ok(piece) => {
                    let bytes = out.filled(len)?;
                    let value = if piece.kind == DataKind::Text {
                        take_text(py, carry, bytes.as_bytes(), piece.fin)?
                    } else {
                        bytes.into_any()
                    };
                    Ok((piece, value))
                }
                Err(e) => Err(e.expect("a payload was taken or failed")),
            }
        };
        match got {
            Ok((piece, value)) => {
                let frame_done = piece.fin || !conn.in_frame();
                let text = piece.kind == DataKind::Text;
                self.receiving_text = text;
                self.queue.push_back(keys.event(py, reg, text, &value, frame_done, piece.fin)?.unbind());
            }
            Err(e) => {
                let ev = fail_event(py, reg, &e, self.role)?;
                self.queue.push_back(ev.unbind());
                self.fail();
            }
        }
        Ok(true)
    }

    /// Gives all held input to the core (input that cannot be held must
    /// come after it).
    fn release_held(&mut self, py: Python<'_>) {
        if let Some(conn) = self.conn.as_mut().map(Exclusive::get_mut) {
            for b in self.held.drain(..) {
                conn.receive(&b.bind(py).as_bytes()[self.held_at..]);
                self.held_at = 0;
            }
        }
        self.held.clear();
        self.held_at = 0;
    }

    fn adapt(&self, py: Python<'_>, extensions: Vec<Py<PyAny>>) -> PyResult<Vec<Box<dyn Extension>>> {
        extensions
            .into_iter()
            .map(|e| PyExtension::new(py, e, self.role).map(|x| Box::new(x) as Box<dyn Extension>))
            .collect()
    }

    fn sender(&mut self) -> PyResult<&mut Connection> {
        self.conn.as_mut().map(Exclusive::get_mut).ok_or_else(not_started)
    }

    /// The peer broke the protocol: keep a send-only connection for the
    /// program's answer (wsproto leaves the state as it was).
    /// A message the program is sending in fragments goes on there, as
    /// continuation frames.
    fn fail(&mut self) {
        self.failed = true;
        self.carry.clear();
        self.held.clear();
        self.held_at = 0;
        let mut conn = Connection::open(self.role, self.config.clone(), None);
        if let Some(kind) = self.sending {
            // Its first frame went out already; the fresh connection only
            // needs to know that one did.
            if conn.send_fragment(kind, b"", false).is_ok() {
                let n = conn.buffered_out();
                conn.consume_output(n);
            }
        }
        self.conn = Some(Exclusive(conn));
    }

    /// Sends a data message or fragment. A whole message on a connection
    /// without a transform is encoded straight into the returned `bytes`
    /// object with the core's frame encoder and masking (one copy of the
    /// payload); everything else goes through the core's connection.
    fn send_message<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        fin: bool,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let (kind, owned, bytes): (DataKind, Option<Vec<u8>>, &[u8]) = if let Ok(s) = data.cast::<PyString>() {
            (DataKind::Text, None, str_utf8(s)?)
        } else if let Ok(b) = data.cast::<PyBytes>() {
            (DataKind::Binary, None, b.as_bytes())
        } else {
            let b = payload_bytes(py, data).map_err(|_| PyTypeError::new_err("Must provide bytes or text"))?;
            (DataKind::Binary, Some(b.into_owned()), &[])
        };
        let payload = owned.as_deref().unwrap_or(bytes);
        let sending = self.sending.is_some();
        let client = self.role == Role::Client;
        let conn = self.conn.as_mut().map(Exclusive::get_mut).ok_or_else(not_started)?;
        if !sending && fin && conn.state() == CoreState::Open && conn.extension().is_none() && !conn.wants_write() {
            let opcode = if kind == DataKind::Text { OpCode::Text } else { OpCode::Binary };
            let mask = client.then(|| self.rng.mask_key());
            return Ok(Some(encode_frame(py, opcode, mask, payload)?));
        }
        let r = match (kind, !sending && fin) {
            // The core checks text sent in fragments as UTF-8 across them.
            (DataKind::Text, true) => match std::str::from_utf8(payload) {
                Ok(text) => conn.send_text(text),
                Err(_) => conn.send_fragment(DataKind::Text, payload, true),
            },
            (DataKind::Binary, true) => conn.send_binary(payload),
            (kind, false) => conn.send_fragment(kind, payload, fin),
        };
        match r {
            Ok(()) => {
                self.sending = (!fin).then_some(kind);
                Ok(None)
            }
            Err(e) if e.kind() == ErrorKind::FragmentMismatch => {
                Err(PyTypeError::new_err("Data type mismatch inside message"))
            }
            Err(e) => Err(local_error(py, &e)),
        }
    }

    fn send_close(&mut self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<()> {
        let code_obj = event.getattr(intern!(py, "code"))?;
        let reason = event.getattr(intern!(py, "reason"))?;
        let mut code: Option<u16> = if code_obj.is_none() { None } else { Some(code_obj.extract()?) };
        // wsproto sends a close frame without a code only for the
        // `CloseReason.NO_STATUS_RCVD` member itself (an identity test); a
        // plain 1005 is a local-only code and becomes 1000 below.
        let reg = registry()?;
        if code == Some(NO_STATUS_RCVD) && code_obj.is(&close_code(py, reg, NO_STATUS_RCVD)?) {
            code = None;
        }
        let reason: Option<String> = if reason.is_none() { None } else { Some(reason.extract()?) };
        if code.is_none() && reason.as_deref().is_some_and(|r| !r.is_empty()) {
            return Err(PyTypeError::new_err("cannot specify a reason without a code"));
        }
        // wsproto replaces codes that only exist locally by 1000.
        if matches!(code, Some(NO_STATUS_RCVD | ABNORMAL_CLOSURE | TLS_HANDSHAKE)) {
            code = Some(NORMAL);
        }
        let (wire, text) = match code {
            None => (NO_STATUS_RCVD, String::new()),
            Some(c) => (c, truncate_utf8(reason.unwrap_or_default(), MAX_REASON_LEN)),
        };
        if wire != NO_STATUS_RCVD && !is_valid_wire_code(wire) {
            return Err(local_msg(py, &format!("close code {wire} may not be sent")));
        }
        self.sender()?.close(wire, &text).map_err(|e| local_error(py, &e))
    }
}

/// Received `bytes` objects at least this long are held (see
/// `Engine::held`); shorter ones go to the core at once (once one is held,
/// all input is, to keep the order).
const HOLD_MIN: usize = 1024;

/// Data frames at least this long have their header given to the core on
/// its own, so that their payload is taken straight from the held input;
/// for shorter ones the core's batch decoding of whole reads costs less.
const DIRECT_MIN: u64 = 8192;

/// Marks `n` bytes of the held input as consumed.
fn consume_held(py: Python<'_>, held: &mut VecDeque<Py<PyBytes>>, at: &mut usize, n: usize) {
    *at += n;
    if held.front().is_some_and(|first| *at >= first.bind(py).as_bytes().len()) {
        held.pop_front();
        *at = 0;
    }
}

/// What every `TextMessage`/`BytesMessage` event is built from, looked up
/// once per batch.
struct ChunkKeys<'py> {
    k_data: &'py Bound<'py, PyString>,
    k_frame: &'py Bound<'py, PyString>,
    k_msg: &'py Bound<'py, PyString>,
    t: Bound<'py, PyAny>,
    f: Bound<'py, PyAny>,
}

impl<'py> ChunkKeys<'py> {
    fn new(py: Python<'py>) -> Self {
        ChunkKeys {
            k_data: intern!(py, "data"),
            k_frame: intern!(py, "frame_finished"),
            k_msg: intern!(py, "message_finished"),
            t: pyo3::types::PyBool::new(py, true).to_owned().into_any(),
            f: pyo3::types::PyBool::new(py, false).to_owned().into_any(),
        }
    }

    /// The event for a piece of a data message.
    #[inline]
    fn event(
        &self,
        py: Python<'py>,
        reg: &Registry,
        text: bool,
        data: &Bound<'py, PyAny>,
        frame_done: bool,
        fin: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let flag = |b: bool| if b { &self.t } else { &self.f };
        let cls = if text { &reg.text } else { &reg.bytes };
        build(py, reg, cls, &[(self.k_data, data), (self.k_frame, flag(frame_done)), (self.k_msg, flag(fin))])
    }
}

fn not_started() -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err("connection is not started")
}

/// One whole unfragmented frame as a new `bytes` object: the payload is
/// copied (and masked) into it in one pass.
fn encode_frame<'py>(
    py: Python<'py>,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let header = FrameHeader { fin: true, rsv: 0, opcode, mask, len: payload.len() as u64 };
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode_into(&mut head);
    let mut out = UninitBytes::new(py, n + payload.len())?;
    let buf = out.spare();
    let (h, body) = buf.split_at_mut(n);
    copy_masked(h, &head[..n], [0; 4], 0);
    copy_masked(body, payload, mask.unwrap_or([0; 4]), 0);
    out.filled(n + payload.len())
}

/// A new `bytes` object whose contents are written in place, without the
/// zeroing `PyBytes::new_with` does first: for a large payload that would
/// be one more pass over memory than the copy into it.
struct UninitBytes<'py> {
    obj: Bound<'py, PyBytes>,
    len: usize,
}

impl<'py> UninitBytes<'py> {
    fn new(py: Python<'py>, len: usize) -> PyResult<Self> {
        let size = pyo3::ffi::Py_ssize_t::try_from(len).map_err(|_| PyValueError::new_err("payload too large"))?;
        // SAFETY: a null source asks for `len` uninitialized bytes (the
        // limited API's documented use); the new reference is owned here.
        let obj =
            unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), size))? };
        Ok(UninitBytes { obj: obj.cast_into()?, len })
    }

    /// The object's bytes, to be written before the object is used.
    fn spare(&mut self) -> &mut [std::mem::MaybeUninit<u8>] {
        // SAFETY: the object is a new `bytes` of `len` bytes that nothing
        // else has seen (it is handed out only by `filled`), so writing its
        // buffer is the object's creation, not a mutation; `&mut self` makes
        // the slice the only access for its lifetime.
        unsafe {
            let p = pyo3::ffi::PyBytes_AsString(self.obj.as_ptr());
            std::slice::from_raw_parts_mut(p.cast(), self.len)
        }
    }

    /// The object, once `written` (which must be all of it) bytes are in.
    fn filled(self, written: usize) -> PyResult<Bound<'py, PyBytes>> {
        if written != self.len {
            return Err(pyo3::exceptions::PyRuntimeError::new_err("wsproto_rs: internal error (bytes not filled)"));
        }
        Ok(self.obj)
    }
}

extern "C" {
    // In the stable ABI from Python 3.10 and exported by every CPython 3
    // (pyo3 hides it for an abi3-py39 build): the string's own UTF-8 bytes,
    // cached in the object, so sending text copies it once instead of twice.
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut pyo3::ffi::PyObject,
        size: *mut pyo3::ffi::Py_ssize_t,
    ) -> *const std::os::raw::c_char;
}

/// The UTF-8 bytes of a `str`, borrowed from the object. Lone surrogates
/// raise `UnicodeEncodeError`, as `str.encode()` does.
fn str_utf8<'a>(s: &'a Bound<'_, PyString>) -> PyResult<&'a [u8]> {
    let mut len: pyo3::ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str; the returned buffer belongs to it and lives
    // as long as the object, which the returned borrow of `s` guarantees.
    unsafe {
        let p = PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut len);
        if p.is_null() {
            return Err(PyErr::fetch(s.py()));
        }
        Ok(std::slice::from_raw_parts(p.cast::<u8>(), len as usize))
    }
}

/// The `CloseConnection` wsproto reports for a remote protocol error.
fn fail_event<'py>(py: Python<'py>, reg: &Registry, e: &Error, role: Role) -> PyResult<Bound<'py, PyAny>> {
    let code = close_code(py, reg, errors::remote_code(e))?;
    let reason = PyString::new(py, &errors::remote_reason(e, role == Role::Client)).into_any();
    build(py, reg, &reg.close, &[(intern!(py, "code"), &code), (intern!(py, "reason"), &reason)])
}

/// Decodes a text piece, holding back a code point split across pieces
/// (at most 3 bytes), as wsproto's incremental decoder does. The core has
/// validated the bytes already; CPython's decoder checks them once more as
/// it builds the `str`, which is the only pass over them here.
fn take_text<'py>(py: Python<'py>, carry: &mut Vec<u8>, data: &[u8], fin: bool) -> PyResult<Bound<'py, PyAny>> {
    let joined;
    let input: &[u8] = if carry.is_empty() {
        data
    } else {
        joined = [carry.as_slice(), data].concat();
        carry.clear();
        &joined
    };
    let mut consumed: pyo3::ffi::Py_ssize_t = 0;
    let consumed_ptr = if fin { std::ptr::null_mut() } else { &mut consumed as *mut _ };
    // SAFETY: `input` is valid for its length; the decoder only reads it.
    // With a `consumed` pointer an incomplete sequence at the end is left
    // undecoded and reported through it instead of raising.
    let text = unsafe {
        let p = pyo3::ffi::PyUnicode_DecodeUTF8Stateful(
            input.as_ptr().cast(),
            input.len() as pyo3::ffi::Py_ssize_t,
            c"strict".as_ptr(),
            consumed_ptr,
        );
        Bound::from_owned_ptr_or_err(py, p)?
    };
    if !fin {
        carry.extend_from_slice(&input[consumed as usize..]);
    }
    Ok(text)
}

/// Cuts a reason to `max` bytes without splitting a code point.
fn truncate_utf8(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// The bytes of a bytes-like object (bytes, bytearray, memoryview...).
fn payload_bytes<'a>(py: Python<'_>, obj: &'a Bound<'_, PyAny>) -> PyResult<std::borrow::Cow<'a, [u8]>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(std::borrow::Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(std::borrow::Cow::Owned(b.to_vec()));
    }
    // wsproto takes bytes, bytearray and memoryview, nothing else (an int
    // would make `bytes(n)` zeros).
    obj.cast::<pyo3::types::PyMemoryView>()?;
    let b = py.get_type::<PyBytes>().call1((obj,))?;
    Ok(std::borrow::Cow::Owned(b.cast::<PyBytes>()?.as_bytes().to_vec()))
}

fn local_msg(py: Python<'_>, msg: &str) -> PyErr {
    match registry() {
        Ok(reg) => match reg.local_error.bind(py).call1((msg,)) {
            Ok(e) => PyErr::from_value(e),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

fn local_error(py: Python<'_>, e: &Error) -> PyErr {
    local_msg(py, e.detail())
}

/// wsproto raises `ValueError` for control payloads over 125 bytes.
fn control_error(py: Python<'_>, e: &Error) -> PyErr {
    if e.kind() == ErrorKind::ControlTooLong {
        PyValueError::new_err("payload too long for control frame")
    } else {
        local_error(py, e)
    }
}

#[cfg(test)]
mod tests {
    use super::truncate_utf8;

    #[test]
    fn reasons_are_cut_on_code_point_boundaries() {
        assert_eq!(truncate_utf8("abc".into(), 123), "abc");
        assert_eq!(truncate_utf8("é".repeat(62), 123), "é".repeat(61));
        assert_eq!(truncate_utf8("x".repeat(200), 123).len(), 123);
        assert_eq!(truncate_utf8("😎".repeat(40), 123), "😎".repeat(30));
    }
}

/// `send` and `receive_data` as `METH_O` builtins bound to one engine.
///
/// Why: these two run once per message, and a `#[pymethods]` function in an
/// abi3 module for Python 3.9 is called with a tuple of arguments (the
/// limited API has no vectorcall before 3.10): building and freeing that
/// tuple and parsing it costs about as much as framing a small message.
/// `METH_O` (in the limited API since Python 3.2) passes the one argument
/// directly. Each entry point catches panics, as PyO3's own trampolines do,
/// so none crosses into the interpreter.
mod fast {
    use std::ffi::c_char;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::ptr;

    use pyo3::ffi;
    use pyo3::panic::PanicException;
    use pyo3::prelude::*;

    use super::Engine;

    /// A method table entry; CPython only reads it.
    struct Def(ffi::PyMethodDef);
    // SAFETY: the entry holds pointers to static strings and functions
    // and is never written.
    unsafe impl Sync for Def {}

    const fn def(name: &'static std::ffi::CStr, f: ffi::PyCFunction, doc: &'static std::ffi::CStr) -> Def {
        Def(ffi::PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunction: f },
            ml_flags: ffi::METH_O,
            ml_doc: doc.as_ptr() as *const c_char,
        })
    }

    static SEND: Def = def(c"send", send, c"send(event) -> bytes: the bytes that send the event.");
    static RECEIVE: Def =
        def(c"receive_data", receive_data, c"receive_data(data): feeds received bytes (None: closed).");

    /// Runs `f` on the engine behind `slf` with CPython's error convention:
    /// a new reference, or null with the exception set.
    ///
    /// # Safety
    ///
    /// Called by CPython as a `METH_O` function: attached to the
    /// interpreter, with `slf` (an `Engine`, bound by [`bind`]) and `arg`
    /// valid borrowed references.
    unsafe fn call(
        slf: *mut ffi::PyObject,
        arg: *mut ffi::PyObject,
        f: impl FnOnce(&mut Engine, Python<'_>, &Bound<'_, PyAny>) -> PyResult<Py<PyAny>>,
    ) -> *mut ffi::PyObject {
        // SAFETY: see the function's contract.
        let py = unsafe { Python::assume_attached() };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: borrowed references that outlive this call.
            let (slf, arg) = unsafe { (Bound::from_borrowed_ptr(py, slf), Bound::from_borrowed_ptr(py, arg)) };
            let engine = slf.cast::<Engine>()?;
            let mut engine = engine.try_borrow_mut()?;
            f(&mut engine, py, &arg)
        }));
        let err = match outcome {
            Ok(Ok(value)) => return value.into_ptr(),
            Ok(Err(e)) => e,
            Err(_) => PanicException::new_err("wsproto_rs: internal error (a Rust panic)"),
        };
        err.restore(py);
        ptr::null_mut()
    }

    unsafe extern "C" fn send(slf: *mut ffi::PyObject, arg: *mut ffi::PyObject) -> *mut ffi::PyObject {
        // SAFETY: CPython calls this as a METH_O function (see `call`).
        unsafe { call(slf, arg, |e, py, event| Ok(e.send(py, event)?.into_any().unbind())) }
    }

    unsafe extern "C" fn receive_data(slf: *mut ffi::PyObject, arg: *mut ffi::PyObject) -> *mut ffi::PyObject {
        // SAFETY: CPython calls this as a METH_O function (see `call`).
        unsafe { call(slf, arg, |e, py, data| e.receive_data(py, data).map(|()| py.None())) }
    }

    /// The builtin for `def` bound to `engine`.
    fn bind(engine: &Bound<'_, Engine>, def: &'static Def) -> PyResult<Py<PyAny>> {
        let py = engine.py();
        // SAFETY: `def` is static and never written (CPython only reads
        // it, whatever the pointer type); `engine` is a valid object, which
        // the new builtin keeps a reference to.
        unsafe {
            let f = ffi::PyCFunction_NewEx(ptr::from_ref(&def.0).cast_mut(), engine.as_ptr(), ptr::null_mut());
            Bound::from_owned_ptr_or_err(py, f).map(Bound::unbind)
        }
    }

    /// `(send, receive_data)` bound to `engine`.
    pub(super) fn methods(engine: &Bound<'_, Engine>) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        Ok((bind(engine, &SEND)?, bind(engine, &RECEIVE)?))
    }
}
