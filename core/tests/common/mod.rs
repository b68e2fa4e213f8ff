//! Shared helpers for the behaviour tests.
//!
//! The core is sans-IO, so the transport decides how received bytes are cut
//! into pieces. A decoder that behaves differently for one cut than for
//! another is broken, so every decoder scenario here is run with the input
//! delivered whole, one byte at a time, and split in two at every point,
//! and the events and output bytes must agree. Events are copied into the
//! owned [`Ev`] so they can be compared after the connection moved on.
#![allow(dead_code)]

use wsproto_core::{Config, DataKind, ExtensionOffer};
use wsproto_core::{Connection, Error, ErrorKind, Event, Random, Request, Response, Role, SeededRandom, State};

/// The mask key used by hand-built client frames (the one in RFC 6455 §5.7).
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// An owned copy of an [`Event`], or the error that ended polling.
///
/// With `partial_messages` the pieces of one message are joined into one
/// `TextChunks`/`BinaryChunks` entry (where a piece ends depends on how the
/// input was cut; what the pieces add up to must not), and a rejection body
/// is joined the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Request(Request),
    Accepted(Response),
    Rejected(Response),
    RejectBody(Vec<u8>),
    Text(String),
    Binary(Vec<u8>),
    TextChunks(Vec<u8>),
    BinaryChunks(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, String),
    Error { kind: ErrorKind, close_code: Option<u16>, http_status: Option<u16> },
}

impl Ev {
    /// The event for a remote error with its close code.
    pub fn err(kind: ErrorKind, close_code: u16) -> Ev {
        Ev::Error { kind, close_code: Some(close_code), http_status: None }
    }

    /// The event for a server refusing a handshake with `status`.
    pub fn http_err(kind: ErrorKind, status: u16) -> Ev {
        Ev::Error { kind, close_code: None, http_status: Some(status) }
    }

    /// The event for a client refusing the server's response.
    pub fn handshake_err(kind: ErrorKind) -> Ev {
        Ev::Error { kind, close_code: None, http_status: None }
    }

    pub fn text(s: &str) -> Ev {
        Ev::Text(s.to_owned())
    }

    pub fn binary(b: &[u8]) -> Ev {
        Ev::Binary(b.to_vec())
    }

    pub fn close(code: u16, reason: &str) -> Ev {
        Ev::Close(code, reason.to_owned())
    }

    pub fn from_error(e: &Error) -> Ev {
        assert!(e.is_remote(), "poll_event returned a local error: {e:?}");
        Ev::Error { kind: e.kind(), close_code: e.close_code(), http_status: e.http_status() }
    }
}

/// Joins partial pieces and turns borrowed events into owned ones.
#[derive(Default)]
struct Collector {
    events: Vec<Ev>,
    /// The pieces of a partial message or rejection body so far.
    pending: Option<(u8, Vec<u8>)>,
}

const TEXT: u8 = 1;
const BINARY: u8 = 2;
const BODY: u8 = 3;

impl Collector {
    /// Records an event; returns the completed owned event, if any.
    fn push(&mut self, e: Event<'_>) -> Option<Ev> {
        let done = match e {
            Event::Request(r) => Ev::Request(*r),
            Event::Accepted(r) => Ev::Accepted(*r),
            Event::Rejected(r) => Ev::Rejected(*r),
            Event::Text(t) => Ev::Text(t.to_owned()),
            Event::Binary(b) => Ev::Binary(b.to_vec()),
            Event::Ping(p) => Ev::Ping(p.to_vec()),
            Event::Pong(p) => Ev::Pong(p.to_vec()),
            Event::Close { code, reason } => Ev::Close(code, reason.to_owned()),
            Event::TextChunk { data, fin } => return self.piece(TEXT, data, fin),
            Event::BinaryChunk { data, fin } => return self.piece(BINARY, data, fin),
            Event::RejectBody { data, fin } => return self.piece(BODY, data, fin),
        };
        // Control frames may arrive between the pieces of a message (§5.4);
        // the joined message is recorded when its last piece arrives.
        let control = matches!(done, Ev::Ping(_) | Ev::Pong(_) | Ev::Close(..));
        assert!(control || self.pending.is_none(), "a whole message arrived inside a partial one: {done:?}");
        self.events.push(done.clone());
        Some(done)
    }

    fn piece(&mut self, kind: u8, data: &[u8], fin: bool) -> Option<Ev> {
        let (k, buf) = self.pending.get_or_insert_with(|| (kind, Vec::new()));
        assert_eq!(*k, kind, "pieces of different kinds interleaved");
        buf.extend_from_slice(data);
        if kind == TEXT {
            // §8.1: each piece may end inside a code point, but what arrived
            // so far must be a valid prefix.
            if let Err(e) = std::str::from_utf8(buf) {
                assert!(e.error_len().is_none(), "text pieces are not valid UTF-8 so far: {buf:?}");
            }
        }
        if !fin {
            return None;
        }
        let (_, buf) = self.pending.take().expect("pending piece");
        let done = match kind {
            TEXT => Ev::TextChunks(buf),
            BINARY => Ev::BinaryChunks(buf),
            _ => Ev::RejectBody(buf),
        };
        self.events.push(done.clone());
        Some(done)
    }
}

/// What a connection did with an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub events: Vec<Ev>,
    /// Every byte the connection queued while receiving (after `make`).
    pub output: Vec<u8>,
    pub state: State,
}

type React<'a> = Box<dyn Fn(&mut Connection, &Ev) + 'a>;

/// A decoder scenario: how to make the connection, how the application
/// reacts to events, and whether the stream ends after the input.
pub struct Run<'a> {
    make: Box<dyn Fn() -> Connection + 'a>,
    react: React<'a>,
    eof: bool,
}

impl<'a> Run<'a> {
    pub fn new(make: impl Fn() -> Connection + 'a) -> Self {
        Run { make: Box::new(make), react: Box::new(|_, _| {}), eof: false }
    }

    /// Calls `react` after each complete event (e.g. to accept a request).
    pub fn react(mut self, react: impl Fn(&mut Connection, &Ev) + 'a) -> Self {
        self.react = Box::new(react);
        self
    }

    /// Reports end of stream after the input.
    pub fn eof(mut self) -> Self {
        self.eof = true;
        self
    }

    /// Feeds `input` cut into `pieces` to a fresh connection.
    pub fn feed(&self, pieces: &[&[u8]]) -> Outcome {
        let (outcome, _) = self.feed_keep(pieces);
        outcome
    }

    /// Like [`Run::feed`], also returning the connection.
    pub fn feed_keep(&self, pieces: &[&[u8]]) -> (Outcome, Connection) {
        let mut conn = (self.make)();
        let mut col = Collector::default();
        let mut failed = false;
        for piece in pieces {
            conn.receive(piece);
            if !failed {
                failed = self.drain(&mut conn, &mut col, piece.len());
            }
        }
        if self.eof {
            conn.receive_eof();
            if !failed {
                self.drain(&mut conn, &mut col, 0);
            }
        }
        let output = conn.take_output();
        (Outcome { events: col.events, output, state: conn.state() }, conn)
    }

    /// Polls until the connection needs input; true if it failed.
    fn drain(&self, conn: &mut Connection, col: &mut Collector, fed: usize) -> bool {
        // Every event consumes input (at least a 2-byte frame header), so a
        // connection that keeps producing events without input is stuck.
        let mut budget = fed + 16;
        loop {
            budget = budget.checked_sub(1).expect("poll_event keeps returning events without input");
            match conn.poll_event() {
                Ok(Some(e)) => {
                    if let Some(done) = col.push(e) {
                        (self.react)(conn, &done);
                    }
                }
                Ok(None) => return false,
                Err(e) => {
                    col.events.push(Ev::from_error(&e));
                    return true;
                }
            }
        }
    }

    /// Runs `input` whole, one byte at a time and split in two at every
    /// point (at sampled points for inputs over 4 KiB, always including the
    /// first and last 300), and for inputs up to 80 bytes in three at every
    /// pair of points; asserts that all runs agree and returns the outcome.
    pub fn check(&self, input: &[u8]) -> Outcome {
        let whole = self.feed(&[input]);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(self.feed(&bytes), whole, "byte-at-a-time delivery differs from whole delivery");
        for cut in split_points(input.len()) {
            let (a, b) = input.split_at(cut);
            assert_eq!(self.feed(&[a, b]), whole, "delivery split at byte {cut} differs from whole delivery");
        }
        // Short inputs: also every way to cut them in three.
        if input.len() <= 80 {
            for i in 1..input.len() {
                for j in i + 1..input.len() {
                    let pieces = [&input[..i], &input[i..j], &input[j..]];
                    assert_eq!(self.feed(&pieces), whole, "delivery split at bytes {i} and {j} differs");
                }
            }
        }
        whole
    }

    /// [`Run::check`], then asserts the events and the output bytes.
    pub fn expect(&self, input: &[u8], events: &[Ev], output: &[u8]) -> Outcome {
        let got = self.check(input);
        assert_eq!(got.events, events, "events");
        assert_eq!(Hex(&got.output), Hex(output), "output bytes");
        got
    }
}

fn split_points(len: usize) -> Vec<usize> {
    if len <= 4096 {
        return (1..len).collect();
    }
    let mut v: Vec<usize> = (1..300).chain(len - 300..len).collect();
    v.extend((300..len - 300).step_by(997));
    v
}

/// Bytes shown as hex in assertion failures.
#[derive(PartialEq, Eq)]
pub struct Hex<'a>(pub &'a [u8]);

impl std::fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{} bytes]", self.0.len())?;
        for b in self.0.iter().take(400) {
            write!(f, " {b:02x}")?;
        }
        if self.0.len() > 400 {
            f.write_str(" ...")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

/// The mask seed of every test client.
pub const SEED: u64 = 0x5eed;

/// A server connection past the handshake.
pub fn server() -> Connection {
    Connection::open(Role::Server, Config::default(), None)
}

/// A server connection past the handshake, with `config`.
pub fn server_with(config: Config) -> Connection {
    Connection::open(Role::Server, config, None)
}

/// A client connection past the handshake, with deterministic masks.
pub fn client() -> Connection {
    client_with(Config::default())
}

/// A client connection past the handshake with `config` (mask seed set).
pub fn client_with(config: Config) -> Connection {
    Connection::open(Role::Client, Config { mask_seed: Some(SEED), ..config }, None)
}

// ---------------------------------------------------------------------------
// Frames built by hand (RFC 6455 §5.2)
// ---------------------------------------------------------------------------

pub const CONT: u8 = 0x0;
pub const TXT: u8 = 0x1;
pub const BIN: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xa;

/// Encodes a frame with every field chosen by the caller; the length is
/// written minimally.
pub fn raw_frame(first_byte: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first_byte];
    let m = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(m | len as u8);
    } else if len <= 0xffff {
        out.push(m | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

fn first_byte(fin: bool, opcode: u8) -> u8 {
    if fin {
        0x80 | opcode
    } else {
        opcode
    }
}

/// A final client-to-server frame, masked with [`KEY`].
pub fn cframe(opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(first_byte(true, opcode), Some(KEY), payload)
}

/// A client-to-server fragment, masked with [`KEY`].
pub fn cfrag(opcode: u8, payload: &[u8], fin: bool) -> Vec<u8> {
    raw_frame(first_byte(fin, opcode), Some(KEY), payload)
}

/// A final server-to-client frame (unmasked).
pub fn sframe(opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(first_byte(true, opcode), None, payload)
}

/// A server-to-client fragment (unmasked).
pub fn sfrag(opcode: u8, payload: &[u8], fin: bool) -> Vec<u8> {
    raw_frame(first_byte(fin, opcode), None, payload)
}

/// A close payload: the code big-endian, then the reason.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// The close frame a server sends.
pub fn sclose(code: u16, reason: &str) -> Vec<u8> {
    sframe(CLOSE, &close_payload(code, reason))
}

/// The close frame a client sends, masked with [`KEY`].
pub fn cclose(code: u16, reason: &str) -> Vec<u8> {
    cframe(CLOSE, &close_payload(code, reason))
}

/// Joins byte strings.
pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The frames a test client sends: the masks follow the client's seeded
/// generator (four bytes of one 8-byte draw per frame), so expected client
/// output can be written down exactly.
pub struct ClientWire(SeededRandom);

impl ClientWire {
    /// For a client made with [`client`] (no handshake nonce drawn).
    pub fn open() -> Self {
        ClientWire(SeededRandom::new(SEED))
    }

    /// For a client made with `Connection::client` and `seed`: the
    /// 16-byte handshake nonce was drawn first.
    pub fn after_handshake(seed: u64) -> Self {
        let mut r = SeededRandom::new(seed);
        r.fill(&mut [0u8; 16]);
        ClientWire(r)
    }

    fn key(&mut self) -> [u8; 4] {
        let mut k = [0u8; 4];
        self.0.fill(&mut k);
        k
    }

    pub fn frame(&mut self, opcode: u8, payload: &[u8]) -> Vec<u8> {
        self.frag(opcode, payload, true)
    }

    pub fn frag(&mut self, opcode: u8, payload: &[u8], fin: bool) -> Vec<u8> {
        let k = self.key();
        raw_frame(first_byte(fin, opcode), Some(k), payload)
    }

    pub fn close(&mut self, code: u16, reason: &str) -> Vec<u8> {
        self.frame(CLOSE, &close_payload(code, reason))
    }
}

// ---------------------------------------------------------------------------
// Handshake helpers (RFC 6455 §4)
// ---------------------------------------------------------------------------

/// The key and accept value of RFC 6455 §1.3.
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A valid opening request with extra header lines.
pub fn request_with(extra: &str) -> Vec<u8> {
    format!(
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .into_bytes()
}

/// The plain 101 response to [`request_with`].
pub fn sample_101() -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\n\r\n"
    )
    .into_bytes()
}

/// The response the core writes when it refuses a request itself.
pub fn error_response(status: u16, reason: &str, detail: &str) -> Vec<u8> {
    let extra = if status == 426 { "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n" } else { "" };
    let body = format!("{detail}\n");
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n{extra}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The `Sec-WebSocket-Key` in a client's request bytes.
pub fn key_of(request: &[u8]) -> String {
    let text = std::str::from_utf8(request).expect("request is text");
    let line = text.lines().find(|l| l.starts_with("Sec-WebSocket-Key: ")).expect("request has a key");
    line["Sec-WebSocket-Key: ".len()..].to_owned()
}

/// Header pairs as the core exposes them.
pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
}

/// An extension offer with parameters.
pub fn offer(name: &str, params: &[(&str, Option<&str>)]) -> ExtensionOffer {
    ExtensionOffer {
        name: name.to_owned(),
        params: params.iter().map(|(k, v)| (k.to_string(), v.map(str::to_owned))).collect(),
    }
}

/// Polls until `Ok(None)`, collecting owned events (for simple API tests
/// that do not need the split runner).
pub fn poll_all(conn: &mut Connection) -> Vec<Ev> {
    let mut col = Collector::default();
    loop {
        match conn.poll_event() {
            Ok(Some(e)) => {
                col.push(e);
            }
            Ok(None) => return col.events,
            Err(e) => {
                col.events.push(Ev::from_error(&e));
                return col.events;
            }
        }
    }
}

/// Decodes a stream of frames written by the core (masked or not) into
/// (first byte, payload) pairs; panics on anything malformed, so it also
/// checks that the core only writes well-formed frames.
pub fn parse_frames(mut wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while !wire.is_empty() {
        assert!(wire.len() >= 2, "truncated frame header");
        let (b0, b1) = (wire[0], wire[1]);
        let (len, mut pos) = match b1 & 0x7f {
            126 => (u16::from_be_bytes([wire[2], wire[3]]) as usize, 4),
            127 => (u64::from_be_bytes(wire[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        let key = if b1 & 0x80 != 0 {
            pos += 4;
            Some([wire[pos - 4], wire[pos - 3], wire[pos - 2], wire[pos - 1]])
        } else {
            None
        };
        let mut payload = wire[pos..pos + len].to_vec();
        if let Some(k) = key {
            payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= k[i % 4]);
        }
        frames.push((b0, payload));
        wire = &wire[pos + len..];
    }
    frames
}

/// Cuts `wire` at the given sizes (cycled), never in empty pieces.
pub fn cut<'a>(wire: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = wire;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        let (a, b) = rest.split_at(n);
        pieces.push(a);
        rest = b;
        i += 1;
    }
    pieces
}

/// Sends `text` as one message in fragments cut at the byte offsets
/// `cuts` (taken modulo its length + 1, in order), so possibly inside code
/// points: §5.4 allows it, §8.1 is about the whole message.
pub fn send_text_cut(tx: &mut Connection, text: &str, cuts: &[usize]) {
    let bytes = text.as_bytes();
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut start = 0;
    for c in cuts {
        tx.send_fragment(DataKind::Text, &bytes[start..c], false).unwrap();
        start = c;
    }
    tx.send_fragment(DataKind::Text, &bytes[start..], true).unwrap();
}
