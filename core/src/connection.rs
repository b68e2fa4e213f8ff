//! The connection state machine: where handshake, frames, messages, close
//! and extensions meet.
//!
//! Read top to bottom: the public verbs first ([`Connection::receive`],
//! [`Connection::poll_event`], the `send_*` commands, the output buffer),
//! then the receive path (`advance` and its helpers), then the send path.
//!
//! Received bytes are copied once into an input buffer and decoded there:
//! payloads are unmasked in place and handed out as slices into it, so a
//! message that arrives in one frame is never copied again. Fragmented or
//! extension-transformed messages are assembled in a second buffer, and a
//! large single-frame message that spans reads is copied straight into a
//! buffer of its own as it arrives (a *diverted* payload, see
//! `frame::unmasker`), so that it does not sit in the input buffer between
//! the bytes before and after it.
//!
//! Two fast paths sit in front of the general decoder for the frames that
//! dominate small-message traffic: `poll_whole_message` (a whole message in
//! one fully buffered frame) and `small_fragments` (short, fully buffered
//! fragments). Both make the general path's checks in its order and hand
//! anything else, errors included, to the general path, so behaviour does
//! not depend on which path a frame took (the fuzz targets compare whole and
//! split input, which moves frames between them).

use std::collections::VecDeque;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::ops::Range;

use bytes::Bytes;

use crate::close::{self, is_valid_wire_code, MAX_REASON_LEN, NO_STATUS_RCVD};
use crate::config::Config;
use crate::error::{local, Error, ErrorKind};
use crate::extension::Extension;
use crate::frame::unmasker::{relocate, Diversions, Divert, DivertedText, Unmasker, Walk, DIVERT_MIN, FUSE_MIN};
use crate::frame::{FrameHeader, HeaderError, OpCode, MAX_CONTROL_PAYLOAD};
use crate::handshake::client::{self, BodyLength, BodyStep, Pending};
use crate::handshake::server;
use crate::handshake::{encode_key, Accept, ClientHandshake, Reject, Request, Response};
use crate::mask::{apply_mask, copy_masked, drain_front, extend_copy, extend_masked};
use crate::random::{OsRandom, Random, SeededRandom};
use crate::utf8::{self, Utf8Validator};

/// Which end of the connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends the opening request and masks its frames.
    Client,
    /// Answers the opening request; its frames are not masked.
    Server,
}

/// The connection's state (RFC 6455 §4, §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// The opening handshake is in progress.
    Connecting,
    /// Messages flow both ways.
    Open,
    /// This side sent a close frame and waits for the peer's.
    LocalClosing,
    /// The peer sent a close frame that has not been answered yet (only
    /// with `auto_close` off).
    RemoteClosing,
    /// The close handshake is complete, the connection failed, or the
    /// handshake was refused. Drain the output, then close the transport.
    Closed,
}

/// The two kinds of data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

impl DataKind {
    fn opcode(self) -> OpCode {
        match self {
            DataKind::Text => OpCode::Text,
            DataKind::Binary => OpCode::Binary,
        }
    }
}

/// Something that happened on the connection.
///
/// Borrowed payloads point into the connection's buffers and stay valid
/// until the next call that takes `&mut self`.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Server: a valid opening request; answer with [`Connection::accept`]
    /// or [`Connection::reject`].
    /// (Boxed, like the responses below: these rare events are large, and
    /// every event is returned by value, once per message.)
    Request(Box<Request>),
    /// Client: the server accepted; the connection is open.
    Accepted(Box<Response>),
    /// Client: the server answered with a status other than 101. The body
    /// follows in [`Event::RejectBody`] events.
    Rejected(Box<Response>),
    /// Client: a piece of a rejection's body; `fin` marks the last. A
    /// chunked body arrives decoded, without its framing.
    RejectBody {
        /// The bytes.
        data: &'a [u8],
        /// Whether this is the end of the body.
        fin: bool,
    },
    /// A whole text message.
    Text(&'a str),
    /// A whole binary message.
    Binary(&'a [u8]),
    /// With `partial_messages`: a piece of a text message. The pieces so far
    /// are valid UTF-8 but a piece may end inside a code point. Each frame
    /// gives at least one piece, an empty frame an empty one, and
    /// [`Connection::in_frame`] tells whether a piece ended its frame.
    TextChunk {
        /// The bytes.
        data: &'a [u8],
        /// Whether this piece ends the message.
        fin: bool,
    },
    /// With `partial_messages`: a piece of a binary message, as for
    /// [`Event::TextChunk`].
    BinaryChunk {
        /// The bytes.
        data: &'a [u8],
        /// Whether this piece ends the message.
        fin: bool,
    },
    /// A ping; with `auto_pong` the pong is already queued.
    Ping(&'a [u8]),
    /// A pong, solicited or not.
    Pong(&'a [u8]),
    /// The peer closed (code 1005 for an empty close frame) or the transport
    /// ended without a close frame (1006). With `auto_close` the answer is
    /// already queued.
    Close {
        /// The close code.
        code: u16,
        /// The reason, possibly empty.
        reason: &'a str,
    },
}

/// A piece of a data frame's payload taken by
/// [`Connection::receive_payload`]: what the `TextChunk`/`BinaryChunk`
/// event for it would have said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadPiece {
    /// The message's kind.
    pub kind: DataKind,
    /// How many bytes were taken from the start of the input.
    pub len: usize,
    /// Whether the piece ends the message.
    pub fin: bool,
}

/// A sans-IO WebSocket connection. See the crate docs for the order of calls.
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    phase: Phase,
    /// Received bytes; `inbuf[rpos..]` is not yet consumed.
    inbuf: Vec<u8>,
    rpos: usize,
    /// The stream offset of `inbuf[0]` (bytes received before it).
    in_base: u64,
    /// Walks the frames `receive` copies into `inbuf`: unmasks payloads
    /// (server) and validates single-frame text messages (both roles).
    unmasker: Unmasker,
    /// Stream offsets of text payloads the walk found valid (oldest first).
    text_marks: VecDeque<u64>,
    /// Large messages whose payload the walk puts in buffers of their own
    /// instead of `inbuf` (see `frame::unmasker`).
    diverted: Option<Box<Diversions>>,
    /// Bytes handed out in the last event, consumed on the next call.
    deferred: usize,
    eof: bool,
    /// The peer's close frame arrived: ignore anything after it.
    peer_closed: bool,
    frame: Option<InFrame>,
    msg: InMessage,
    /// Assembles fragmented and transformed messages.
    msgbuf: Vec<u8>,
    clear_msgbuf: bool,
    /// Bytes to send; `out[opos..]` is pending.
    out: Vec<u8>,
    opos: usize,
    /// Payloads sent by reference ([`Connection::send_binary_shared`]),
    /// each to be written when the output reaches its place in `out`.
    shared: VecDeque<Shared>,
    /// The bytes pending in `shared`.
    shared_len: usize,
    /// The data message being sent in fragments, and its text validation.
    sending: Option<DataKind>,
    send_utf8: Utf8Validator,
    extension: Option<Box<dyn Extension>>,
    scratch: Vec<u8>,
    /// Created on first use: servers never need one.
    random: Option<Box<dyn Random>>,
    /// See [`Connection::poll_event_before_failure`].
    hold: Hold,
}

/// Whether a failure the decoder finds is acted on at once.
#[derive(Debug)]
enum Hold {
    /// It is (`poll_event`).
    Off,
    /// It is held (the call in progress, or the last one, is
    /// `poll_event_before_failure`).
    Asked,
    /// One is held, for the next `poll_event` to act on.
    Held(Box<Error>),
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("buffered_in", &(self.inbuf.len() - self.rpos))
            .field("buffered_out", &self.buffered_out())
            .field("extension", &self.extension)
            .finish_non_exhaustive()
    }
}

/// A payload kept by reference in the output: its bytes go out after
/// `out[..at]` and before `out[at..]`. Consumed bytes are cut from the front.
#[derive(Debug)]
struct Shared {
    at: usize,
    data: Bytes,
}

/// Payloads shorter than this are copied even when sent by reference: for
/// them a copy costs less than one more write (or iovec) for the transport.
pub const SHARE_MIN: usize = 4096;

#[derive(Debug)]
enum Phase {
    ServerAwaitRequest,
    ServerAwaitDecision(Box<Request>),
    ClientAwaitResponse(Box<Pending>),
    ClientRejectBody(BodyLength),
    Done,
}

/// The frame whose payload is being received.
#[derive(Debug, Clone, Copy)]
struct InFrame {
    header: FrameHeader,
    remaining: u64,
    /// Payload bytes unmasked so far (the mask phase).
    done: u64,
    /// Unmasked payload bytes kept in place at `inbuf[rpos..]`.
    kept: usize,
    /// Text payload bytes after the decoded ones that `receive` already
    /// validated while copying them in (see `Connection::copy_text`); for a
    /// diverted payload (`Connection::is_diverted`), the bytes the decoder
    /// validated itself.
    checked: u64,
}

/// The data message being received.
#[derive(Debug, Default)]
struct InMessage {
    kind: Option<DataKind>,
    transformed: bool,
    size: u64,
    fragments: u32,
    utf8: Utf8Validator,
}

/// An event located in the buffers; turned into an [`Event`] at the end of
/// [`Connection::poll_event`] so that the borrow starts there. The rare,
/// large handshake results are boxed: this value is returned through every
/// frame's decoding, and a small one is cheap to move.
enum Ready {
    Request(Box<Request>),
    Accepted(Box<Response>),
    Rejected(Box<Response>),
    RejectBody(Range<usize>, bool),
    Text(Src),
    Binary(Src),
    TextChunk(Src, bool),
    BinaryChunk(Src, bool),
    Ping(Range<usize>),
    Pong(Range<usize>),
    Close(u16, Range<usize>),
}

enum Src {
    In(Range<usize>),
    Msg,
    /// A diverted payload, in `payloads[slot]`.
    Diverted(usize),
}

impl Connection {
    /// Creates a server connection waiting for the opening request.
    pub fn server(config: Config) -> Connection {
        Connection::new(Role::Server, config, State::Connecting, Phase::ServerAwaitRequest)
    }

    /// Creates a client connection and queues its opening request.
    pub fn client(config: Config, handshake: ClientHandshake) -> Result<Connection, Error> {
        let mut conn = Connection::new(Role::Client, config, State::Connecting, Phase::Done);
        let mut nonce = [0u8; 16];
        conn.random().fill(&mut nonce);
        let pending = client::write_request(&mut conn.out, handshake, encode_key(nonce))?;
        conn.phase = Phase::ClientAwaitResponse(Box::new(pending));
        Ok(conn)
    }

    /// Like [`Connection::client`], with a given source of randomness.
    pub fn client_with_random(
        config: Config,
        handshake: ClientHandshake,
        random: Box<dyn Random>,
    ) -> Result<Connection, Error> {
        let mut conn = Connection::new(Role::Client, config, State::Connecting, Phase::Done);
        conn.random = Some(random);
        let mut nonce = [0u8; 16];
        conn.random().fill(&mut nonce);
        let pending = client::write_request(&mut conn.out, handshake, encode_key(nonce))?;
        conn.phase = Phase::ClientAwaitResponse(Box::new(pending));
        Ok(conn)
    }

    /// Creates a connection whose opening handshake already happened
    /// elsewhere (an HTTP server that did the upgrade), optionally with the
    /// negotiated transform extension.
    pub fn open(role: Role, config: Config, extension: Option<Box<dyn Extension>>) -> Connection {
        let mut conn = Connection::new(role, config, State::Open, Phase::Done);
        conn.extension = extension;
        conn
    }

    fn new(role: Role, config: Config, state: State, phase: Phase) -> Connection {
        let random: Option<Box<dyn Random>> = config.mask_seed.map(|s| Box::new(SeededRandom::new(s)) as _);
        Connection {
            role,
            config,
            state,
            phase,
            inbuf: Vec::new(),
            rpos: 0,
            in_base: 0,
            unmasker: Unmasker::Off,
            text_marks: VecDeque::new(),
            diverted: None,
            deferred: 0,
            eof: false,
            peer_closed: false,
            frame: None,
            msg: InMessage::default(),
            msgbuf: Vec::new(),
            clear_msgbuf: false,
            out: Vec::new(),
            opos: 0,
            shared: VecDeque::new(),
            shared_len: 0,
            sending: None,
            send_utf8: Utf8Validator::new(),
            extension: None,
            scratch: Vec::new(),
            random,
            hold: Hold::Off,
        }
    }

    /// Replaces the source of mask keys.
    pub fn set_random(&mut self, random: Box<dyn Random>) {
        self.random = Some(random);
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The negotiated transform extension, if any.
    pub fn extension(&self) -> Option<&dyn Extension> {
        self.extension.as_deref()
    }

    // ------------------------------------------------------------------
    // Input
    // ------------------------------------------------------------------

    /// Feeds bytes read from the transport. Call [`Connection::poll_event`]
    /// until it returns `Ok(None)` afterwards.
    pub fn receive(&mut self, data: &[u8]) {
        self.settle();
        if self.eof || self.state == State::Closed && self.phase_done() || self.failure_held() {
            return; // Nothing more will be read; drop the bytes.
        }
        if self.rpos == self.inbuf.len() {
            self.in_base += self.inbuf.len() as u64;
            self.inbuf.clear();
            self.rpos = 0;
        } else if self.rpos > 0
            && (self.inbuf.capacity() - self.inbuf.len() < data.len()
                || (self.inbuf.len() - self.rpos) * 8 <= self.rpos)
        {
            // Move the unconsumed bytes to the front when that is cheap
            // compared with the space it frees (the front of the buffer is
            // also the part most likely still in the cache), or when there
            // is no room at the end. Then make room for a few more reads, so
            // that a message arriving in many reads is not moved again on
            // every read (that would copy each large message twice).
            drain_front(&mut self.inbuf, self.rpos);
            self.in_base += self.rpos as u64;
            self.rpos = 0;
            let ahead = (self.inbuf.len() + data.len()).min(1 << 20);
            self.inbuf.reserve(data.len() + 3 * ahead);
        }
        let n = self.copy_text(data);
        if self.unmasker == Unmasker::Off {
            self.start_unmasker();
        }
        let whole_messages = self.extension.is_none() && !self.config.partial_messages;
        let mut walk = Walk {
            client: self.role == Role::Client,
            check_text: whole_messages,
            base: self.in_base,
            marks: &mut self.text_marks,
            divert: whole_messages.then_some(Divert {
                state: &mut self.diverted,
                max_len: self.config.max_frame_size.min(self.config.max_message_size),
            }),
        };
        self.unmasker.walk(&mut self.inbuf, &data[n..], &mut walk);
    }

    /// Inside the payload of a text frame whose bytes the decoder has
    /// caught up with: copies the payload bytes at the start of `data` in,
    /// unmasking and validating them as UTF-8 in the same pass (a large
    /// text message is then read once, not copied and then read again),
    /// and returns how many it took. The decoder skips validating them
    /// (`InFrame::checked`); if they are invalid, the validator is left as
    /// it was and the decoder finds the error itself, in order.
    fn copy_text(&mut self, data: &[u8]) -> usize {
        const MIN: usize = 256;
        if data.len() < MIN
            || self.msg.kind != Some(DataKind::Text)
            || self.msg.transformed
            || !self.phase_done()
            || self.frame_is_diverted()
        {
            return 0;
        }
        let Some(f) = self.frame.as_mut() else { return 0 };
        if f.header.opcode.is_control() || f.checked != 0 || self.rpos + f.kept != self.inbuf.len() {
            return 0;
        }
        // The mask still to apply, and where in its cycle the bytes start.
        let (key, phase) = match (self.unmasker, f.header.mask) {
            (Unmasker::Payload { key, remaining, phase, .. }, _) if remaining == f.remaining => (key, phase),
            (Unmasker::Off, Some(key)) => (key, (f.done & 3) as usize),
            (Unmasker::Off, None) => ([0; 4], 0),
            (Unmasker::Skip { remaining }, None) if remaining == f.remaining => ([0; 4], 0),
            _ => return 0,
        };
        let n = (f.remaining.min(data.len() as u64)) as usize;
        let mut v = self.msg.utf8;
        if v.feed_copy(&mut self.inbuf, &data[..n], crate::mask::rotate(key, phase)).is_ok() {
            self.msg.utf8 = v;
            f.checked = n as u64;
        }
        if key != [0; 4] {
            // What is buffered is unmasked now; the rest must be too.
            f.header.mask = Some([0; 4]);
        }
        self.unmasker = if (n as u64) < f.remaining {
            if key != [0; 4] {
                Unmasker::Payload { key, remaining: f.remaining - n as u64, phase: (phase + n) & 3, text: None }
            } else {
                Unmasker::Off
            }
        } else {
            Unmasker::Header { pending: 0 }
        };
        n
    }

    /// Server: starts unmasking while copying (see `frame::unmasker`) once
    /// the decoder has caught up with the buffer, so that where the next
    /// header starts is known.
    fn start_unmasker(&mut self) {
        if !self.phase_done() {
            return;
        }
        if self.frame_is_diverted() {
            // The walk stopped (at a small frame) after the diverted
            // payload the decoder has yet to hand out, so the decoder's
            // position says nothing about where the walk is; it restarts
            // once the decoder has caught up, and until then the decoder
            // unmasks what arrives itself.
            return;
        }
        match self.frame.as_mut() {
            None => {
                let rest = &self.inbuf[self.rpos..];
                if rest.len() < crate::frame::MAX_HEADER_LEN && matches!(FrameHeader::decode(rest), Ok(None)) {
                    self.unmasker = Unmasker::Header { pending: rest.len() };
                }
            }
            Some(f) if f.header.opcode.is_control() => {
                // The decoder waits for the whole payload before unmasking.
                let buffered = (self.inbuf.len() - self.rpos) as u64;
                if buffered <= f.header.len {
                    self.unmasker = Unmasker::Skip { remaining: f.header.len - buffered };
                }
            }
            Some(f) => {
                // The decoder has unmasked this data frame as far as it
                // arrived. A large rest is unmasked on the way in, and the
                // decoder told so by a zero key; a small one is left to it.
                if self.rpos + f.kept != self.inbuf.len() {
                    return; // More arrived since the decoder last looked.
                }
                match f.header.mask {
                    Some(key) if f.remaining >= FUSE_MIN => {
                        self.unmasker =
                            Unmasker::Payload { key, remaining: f.remaining, phase: (f.done & 3) as usize, text: None };
                        f.header.mask = Some([0; 4]);
                    }
                    // Small, or unmasked: nothing to do on the way in.
                    _ => self.unmasker = Unmasker::Skip { remaining: f.remaining },
                }
            }
        }
    }

    /// Reports that the transport reached end of stream.
    pub fn receive_eof(&mut self) {
        self.eof = true;
    }

    /// Returns the next event, `Ok(None)` when more input is needed, or the
    /// error that failed the connection (its close frame or HTTP error
    /// response is already queued).
    #[inline]
    pub fn poll_event(&mut self) -> Result<Option<Event<'_>>, Error> {
        if !matches!(self.hold, Hold::Off) {
            if let Some(err) = self.release_hold() {
                return Err(err);
            }
        }
        self.poll()
    }

    /// Back to acting on failures at once; acts on the one held, if any.
    #[cold]
    fn release_hold(&mut self) -> Option<Error> {
        match std::mem::replace(&mut self.hold, Hold::Off) {
            Hold::Held(err) => Some(self.act_on_failure(*err)),
            _ => None,
        }
    }

    /// Like [`poll_event`](Self::poll_event), for a binding that decodes a
    /// batch of events before its program sees the first of them: a failure
    /// found in the input is held back instead of acted on. It returns
    /// `Ok(None)` and [`failure_held`](Self::failure_held) says so; no
    /// close frame is queued yet and the state is unchanged, so the program
    /// can still answer the events of the batch (an echo of the message
    /// that came before the bad frame goes out before the close, and is
    /// allowed, as it would be event by event). Nothing more is decoded;
    /// the next `poll_event` acts on the failure and returns it.
    #[inline]
    pub fn poll_event_before_failure(&mut self) -> Result<Option<Event<'_>>, Error> {
        match self.hold {
            Hold::Held(_) => return Ok(None),
            Hold::Asked => {}
            Hold::Off if self.phase_done() => self.hold = Hold::Asked,
            Hold::Off => {}
        }
        self.poll()
    }

    /// Whether [`poll_event_before_failure`](Self::poll_event_before_failure)
    /// holds a failure that the next [`poll_event`](Self::poll_event) reports.
    pub fn failure_held(&self) -> bool {
        matches!(self.hold, Hold::Held(_))
    }

    /// `poll_event`'s work; a failure held (see `fail`) reads as `Ok(None)`.
    #[inline(always)]
    fn poll(&mut self) -> Result<Option<Event<'_>>, Error> {
        if self.state == State::Closed {
            // The call after the one that closed (the event it returned
            // borrows `self`).
            self.release_extension();
        }
        if let Some(whole) = self.poll_whole_message() {
            let (text, range) = match whole {
                Ok(w) => w,
                Err(e) => return if e.held { Ok(None) } else { Err(e) },
            };
            let data = &self.inbuf[range];
            return Ok(Some(if text { Event::Text(utf8::assume_valid(data)) } else { Event::Binary(data) }));
        }
        let ready = match self.advance() {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(e) => return if e.held { Ok(None) } else { Err(e) },
        };
        let msg = &self.msgbuf[..];
        let src = |s: Src| match s {
            Src::In(r) => &self.inbuf[r],
            Src::Msg => msg,
            Src::Diverted(slot) => self.diversions().payload(slot),
        };
        Ok(Some(match ready {
            Ready::Request(r) => Event::Request(r),
            Ready::Accepted(r) => Event::Accepted(r),
            Ready::Rejected(r) => Event::Rejected(r),
            Ready::RejectBody(r, fin) => Event::RejectBody { data: &self.inbuf[r], fin },
            Ready::Text(s) => Event::Text(utf8::assume_valid(src(s))),
            Ready::Binary(s) => Event::Binary(src(s)),
            Ready::TextChunk(s, fin) => Event::TextChunk { data: src(s), fin },
            Ready::BinaryChunk(s, fin) => Event::BinaryChunk { data: src(s), fin },
            Ready::Ping(r) => Event::Ping(&self.inbuf[r]),
            Ready::Pong(r) => Event::Pong(&self.inbuf[r]),
            Ready::Close(code, r) => Event::Close { code, reason: utf8::assume_valid(&self.inbuf[r]) },
        }))
    }

    /// Received bytes not yet turned into events (including a message being
    /// assembled).
    pub fn buffered_in(&self) -> usize {
        let diverted: usize = self
            .diverted
            .as_ref()
            .map_or(0, |d| d.queue.iter().skip(d.handed_out as usize).map(|q| d.payload(q.slot).len()).sum());
        self.inbuf.len() - self.rpos - self.deferred + if self.clear_msgbuf { 0 } else { self.msgbuf.len() } + diverted
    }

    /// Whether a data frame's payload is only partly received: right after a
    /// `TextChunk`/`BinaryChunk` event, whether that piece ended inside its
    /// frame. Lets a binding report frame boundaries (python wsproto's
    /// `frame_finished`) without decoding headers a second time.
    pub fn in_frame(&self) -> bool {
        self.frame.is_some()
    }

    /// While a data frame's payload is arriving and every byte received so
    /// far is decoded (`poll_event` returned `Ok(None)`): how many payload
    /// bytes of that frame are still to come. A binding can cut its next
    /// read there, so that a large message ends at the end of the input
    /// buffer and can be handed over without bytes after it to move.
    pub fn frame_payload_to_come(&self) -> Option<u64> {
        let f = self.frame.as_ref()?;
        let decoded = self.rpos + self.deferred + f.kept == self.inbuf.len();
        (!f.header.opcode.is_control() && decoded).then_some(f.remaining)
    }

    /// With `partial_messages`, while a data frame's payload is arriving and
    /// every byte received so far is decoded (see
    /// [`frame_payload_to_come`](Self::frame_payload_to_come)): receives the
    /// next payload bytes of that frame from the start of `data` without
    /// passing them through the input buffer. A binding whose runtime needs
    /// a payload in an object of its own (a Python `bytes` or `str`) can then
    /// build it with one pass over the bytes instead of two (copy in, copy
    /// out).
    ///
    /// With `dst`, the bytes are written there, unmasked (it may be
    /// uninitialized memory, such as the runtime's new object); without, the
    /// frame must be unmasked (a client's input) and the bytes are used where
    /// they are, in `data`. Takes `min(data.len(), dst.len(), bytes to come)`
    /// bytes and returns what a `TextChunk`/`BinaryChunk` event for them
    /// would have said: everything else is as if they had gone through
    /// [`receive`](Self::receive) and [`poll_event`](Self::poll_event) —
    /// text is checked as UTF-8 (an error fails the connection and is
    /// returned, as from `poll_event`), and [`in_frame`](Self::in_frame)
    /// tells whether the piece ended its frame. The rest of `data` (the next
    /// frames) goes to `receive` as usual.
    ///
    /// `Ok(None)` takes nothing: there is no such payload to take (between
    /// frames, in a control frame, a message an extension transforms,
    /// without `partial_messages`, after the end of the stream, a masked
    /// frame without `dst`, or nothing to take); feed `data` to `receive`.
    pub fn receive_payload(
        &mut self,
        data: &[u8],
        dst: Option<&mut [MaybeUninit<u8>]>,
    ) -> Result<Option<PayloadPiece>, Error> {
        match self.hold {
            Hold::Off => {}
            Hold::Asked => self.hold = Hold::Off,
            Hold::Held(_) => return Ok(None),
        }
        if !self.config.partial_messages || self.eof || self.state == State::Closed || self.msg.transformed {
            return Ok(None);
        }
        let Some(to_come) = self.frame_payload_to_come() else { return Ok(None) };
        let mut f = self.frame.expect("a data frame is being received");
        let Some((key, phase)) = self.payload_key(&f) else { return Ok(None) };
        let room = match &dst {
            Some(d) => d.len(),
            None if key != [0; 4] => return Ok(None),
            None => data.len(),
        };
        let n = to_come.min(data.len().min(room) as u64) as usize;
        if n == 0 || f.kept != 0 || f.checked != 0 {
            return Ok(None);
        }
        self.settle();
        let kind = self.msg.kind.expect("a message is being received");
        let piece: &[u8] = match dst {
            Some(d) => copy_masked(d, &data[..n], key, phase),
            None => &data[..n],
        };
        let text = kind == DataKind::Text;
        if text && self.msg.utf8.feed(piece).is_err() {
            return Err(self.fail(ErrorKind::InvalidUtf8, "text message is not valid UTF-8"));
        }
        f.done += n as u64;
        f.remaining -= n as u64;
        self.msg.size += n as u64;
        let fin = f.remaining == 0 && f.header.fin;
        if f.remaining == 0 {
            self.frame = None;
        } else {
            // The walk held the key of a payload it unmasked on the way in
            // (and zeroed the header's); it stops here, and restarts from
            // the header on the next read (`start_unmasker`).
            if f.header.mask.is_some() {
                f.header.mask = Some(key);
            }
            self.frame = Some(f);
        }
        self.unmasker = Unmasker::Off;
        if fin && text && self.msg.utf8.finish().is_err() {
            return Err(self.fail(ErrorKind::InvalidUtf8, "text message ends inside a code point"));
        }
        if fin {
            self.msg.kind = None;
        }
        Ok(Some(PayloadPiece { kind, len: n, fin }))
    }

    /// The key (and its phase: the payload bytes before, mod 4) that unmasks
    /// the next payload byte of the data frame `f`, whose buffered bytes are
    /// all decoded; `None` where the walk is in a state this does not know.
    fn payload_key(&self, f: &InFrame) -> Option<([u8; 4], usize)> {
        let header_key = || (f.header.mask.unwrap_or([0; 4]), (f.done & 3) as usize);
        match self.unmasker {
            Unmasker::Payload { key, remaining, phase, text: None } if remaining == f.remaining => {
                debug_assert_eq!(phase & 3, (f.done & 3) as usize, "the walk and the decoder agree on the phase");
                Some((key, phase))
            }
            Unmasker::Skip { remaining } if remaining == f.remaining => Some(header_key()),
            Unmasker::Off => Some(header_key()),
            _ => None,
        }
    }

    /// Whether the next frame waiting in the input is a whole close frame
    /// header. A binding that hands events over in batches stops its batch
    /// here, so the application answers the messages that came before the
    /// close while the connection is still open, as it would event by event.
    #[inline]
    pub fn close_frame_next(&self) -> bool {
        self.control_frame_next() == Some(OpCode::Close)
    }

    /// The opcode of the next frame waiting in the input, when it is a
    /// control frame whose header is whole. Besides a close (see
    /// [`close_frame_next`](Self::close_frame_next)), a batching binding
    /// stops before a ping when `auto_pong` is on: its pong is queued as
    /// the ping is decoded, and should follow what the program sends in
    /// answer to the messages before it, as it would event by event.
    #[inline]
    pub fn control_frame_next(&self) -> Option<OpCode> {
        if !self.phase_done() || self.frame.is_some() || self.peer_closed || self.state == State::Closed {
            return None;
        }
        let start = (self.rpos + self.deferred).min(self.inbuf.len());
        // Control opcodes have bit 3 set: a data frame next (the usual
        // case, asked once per event) needs no header decoded.
        if self.inbuf.get(start).is_none_or(|b0| b0 & 0x08 == 0) {
            return None;
        }
        match FrameHeader::decode(&self.inbuf[start..]) {
            Ok(Some((h, _))) if h.opcode.is_control() => Some(h.opcode),
            _ => None,
        }
    }

    /// After `poll_event` returned an event with a payload, swaps the buffer
    /// holding that payload with `spare` and returns where the payload lies
    /// in it, so a binding can hand a large message to its runtime without
    /// copying it. The connection goes on in `spare`'s memory (cleared, then
    /// holding a copy of the bytes received after the payload), which lets
    /// the caller recycle buffers. For a close event the range covers the
    /// whole close payload (code, then reason). `None`, with `spare`
    /// untouched, when the last event had no payload or it was already
    /// consumed (by `receive`, `poll_event` or `release_memory`).
    pub fn swap_payload_buffer(&mut self, spare: &mut Vec<u8>) -> Option<Range<usize>> {
        if let Some(d) = self.diverted.as_deref_mut().filter(|d| d.handed_out) {
            // A diverted payload has a buffer of its own.
            d.handed_out = false;
            let slot = d.queue.pop_front().expect("a diverted message was handed out").slot;
            spare.clear();
            std::mem::swap(&mut d.bufs[slot], spare);
            return Some(std::mem::take(&mut d.starts[slot])..spare.len());
        }
        if self.clear_msgbuf {
            // Assembled in `msgbuf`, which holds nothing else.
            self.clear_msgbuf = false;
            spare.clear();
            std::mem::swap(&mut self.msgbuf, spare);
            return Some(0..spare.len());
        }
        if self.deferred == 0 {
            return None;
        }
        let range = self.rpos..self.rpos + self.deferred;
        spare.clear();
        extend_copy(spare, &self.inbuf[range.end..]);
        std::mem::swap(&mut self.inbuf, spare);
        self.in_base += range.end as u64;
        self.rpos = 0;
        self.deferred = 0;
        Some(range)
    }

    // ------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------

    /// The next bytes waiting to be written to the transport, as one
    /// contiguous slice. Usually that is all pending output; after
    /// [`Connection::send_binary_shared`] the output is a sequence of pieces
    /// (frame header, the caller's payload, the next frames) and this is the
    /// first of them — write it, [`consume_output`](Self::consume_output),
    /// repeat until it is empty, or take all pieces at once with
    /// [`output_vectored`](Self::output_vectored).
    pub fn output(&self) -> &[u8] {
        match self.shared.front() {
            None => &self.out[self.opos..],
            Some(s) if self.opos < s.at => &self.out[self.opos..s.at],
            Some(s) => &s.data,
        }
    }

    /// Whether [`output`](Self::output) is a payload sent by reference
    /// (rather than bytes of the connection's own buffer).
    pub fn output_is_shared(&self) -> bool {
        matches!(self.shared.front(), Some(s) if self.opos >= s.at)
    }

    /// Fills `dst` with the pending output in order, for a vectored write
    /// (`writev`), and returns how many slices it filled. If `dst` is too
    /// short, the rest follows after the filled part is consumed.
    pub fn output_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        let mut pos = self.opos;
        let mut push = |piece: &'a [u8], n: &mut usize| {
            if !piece.is_empty() && *n < dst.len() {
                dst[*n] = IoSlice::new(piece);
                *n += 1;
            }
        };
        for s in &self.shared {
            push(&self.out[pos..s.at], &mut n);
            push(&s.data, &mut n);
            pos = s.at;
        }
        push(&self.out[pos..], &mut n);
        n
    }

    /// The number of output bytes waiting to be written, in all pieces.
    pub fn buffered_out(&self) -> usize {
        self.out.len() - self.opos + self.shared_len
    }

    /// Marks `n` bytes of pending output as written (more than is pending
    /// counts as all of it). Payloads sent by reference are dropped as soon
    /// as they are written.
    pub fn consume_output(&mut self, mut n: usize) {
        while n > 0 {
            match self.shared.front_mut() {
                None => {
                    self.opos = (self.opos + n).min(self.out.len());
                    break;
                }
                Some(s) if self.opos < s.at => {
                    let k = n.min(s.at - self.opos);
                    self.opos += k;
                    n -= k;
                }
                Some(s) => {
                    let k = n.min(s.data.len());
                    let _ = s.data.split_to(k);
                    self.shared_len -= k;
                    n -= k;
                    if s.data.is_empty() {
                        self.shared.pop_front();
                    }
                }
            }
        }
        if self.opos == self.out.len() && self.shared.is_empty() {
            self.out.clear();
            self.opos = 0;
        }
    }

    /// Takes all pending output (payloads sent by reference are copied in).
    pub fn take_output(&mut self) -> Vec<u8> {
        self.flatten_shared();
        let mut v = std::mem::take(&mut self.out);
        if self.opos > 0 {
            drain_front(&mut v, self.opos);
            self.opos = 0;
        }
        v
    }

    /// Like [`Connection::take_output`], but the connection goes on in
    /// `spare`'s memory (cleared first) instead of allocating anew, so a
    /// binding that hands output over without copying can recycle buffers.
    pub fn swap_output(&mut self, spare: &mut Vec<u8>) {
        self.flatten_shared();
        spare.clear();
        std::mem::swap(&mut self.out, spare);
        if self.opos > 0 {
            drain_front(spare, self.opos);
            self.opos = 0;
        }
    }

    /// Copies payloads held by reference into `out`, in place.
    fn flatten_shared(&mut self) {
        if self.shared.is_empty() {
            return;
        }
        let mut flat = Vec::with_capacity(self.buffered_out());
        let mut pos = self.opos;
        for s in std::mem::take(&mut self.shared) {
            flat.extend_from_slice(&self.out[pos..s.at]);
            extend_copy(&mut flat, &s.data);
            pos = s.at;
        }
        flat.extend_from_slice(&self.out[pos..]);
        self.out = flat;
        self.opos = 0;
        self.shared_len = 0;
    }

    /// Whether output is waiting to be written.
    pub fn wants_write(&self) -> bool {
        self.opos < self.out.len() || !self.shared.is_empty()
    }

    /// Whether the transport should now be closed: the connection is closed,
    /// all output has been taken, and nothing more is to be read (a client
    /// that was refused reads the response's body first, to its end).
    ///
    /// A server closes at once (RFC 6455 §7.1.1). A client that completed
    /// the close handshake may too, but the RFC would rather it read on
    /// until the server closes TCP, so that the server is the side left in
    /// TIME_WAIT; it then needs a clock of its own (the core has none) for
    /// a server that never does. After a failure, close at once.
    pub fn should_close_transport(&self) -> bool {
        self.state == State::Closed && !self.wants_write() && !matches!(self.phase, Phase::ClientRejectBody(_))
    }

    /// Frees buffer memory that holds nothing, so an idle connection costs
    /// only its own struct (and, once closed, frees the extension's state:
    /// see [`Extension::release`]). Call it when the transport has nothing
    /// to read.
    pub fn release_memory(&mut self) {
        if self.state == State::Closed {
            self.release_extension();
        }
        self.settle();
        if self.rpos == self.inbuf.len() {
            self.in_base += self.inbuf.len() as u64;
            self.inbuf = Vec::new();
            self.rpos = 0;
        }
        if self.msgbuf.is_empty() {
            self.msgbuf = Vec::new();
        }
        if self.diverted.as_ref().is_some_and(|d| d.queue.is_empty()) {
            self.diverted = None;
        }
        if !self.wants_write() {
            self.out = Vec::new();
            self.opos = 0;
        }
        self.scratch = Vec::new();
    }

    // ------------------------------------------------------------------
    // Handshake commands
    // ------------------------------------------------------------------

    /// Server: accepts the pending request; the connection opens.
    pub fn accept(&mut self, accept: Accept) -> Result<(), Error> {
        let Phase::ServerAwaitDecision(request) = &self.phase else {
            return Err(local(ErrorKind::InvalidState, "no handshake request is waiting for an answer"));
        };
        let extension = server::write_accept(&mut self.out, request, accept)?;
        self.extension = extension;
        self.phase = Phase::Done;
        self.state = State::Open;
        Ok(())
    }

    /// Server: refuses the pending request with any HTTP response; the
    /// connection closes once the output is written.
    pub fn reject(&mut self, reject: &Reject) -> Result<(), Error> {
        if !matches!(self.phase, Phase::ServerAwaitDecision(_)) {
            return Err(local(ErrorKind::InvalidState, "no handshake request is waiting for an answer"));
        }
        server::write_reject(&mut self.out, reject)?;
        self.phase = Phase::Done;
        self.state = State::Closed;
        Ok(())
    }

    // ------------------------------------------------------------------
    // Message commands
    // ------------------------------------------------------------------

    /// Sends a whole text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.check_whole_message()?;
        self.send_data(DataKind::Text, text.as_bytes(), true)
    }

    /// Sends a whole binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.check_whole_message()?;
        self.send_data(DataKind::Binary, data, true)
    }

    /// Sends a whole binary message without copying its payload where the
    /// wire bytes equal the payload: a server (no masking) with no extension
    /// transforming the message keeps `data` (a reference count, not a
    /// copy) and hands it out as its own piece of output after the frame
    /// header; it is dropped once written. Otherwise — a client must mask,
    /// an extension may compress, small payloads (under [`SHARE_MIN`]) —
    /// this is [`send_binary`](Self::send_binary). A `Vec<u8>` converts
    /// into [`Bytes`] without copying.
    pub fn send_binary_shared(&mut self, data: impl Into<Bytes>) -> Result<(), Error> {
        let data = data.into();
        if !self.shares(data.len()) {
            return self.send_binary(&data);
        }
        self.check_whole_message()?;
        self.write_header(OpCode::Binary, true, 0, data.len(), None);
        self.shared_len += data.len();
        self.shared.push_back(Shared { at: self.out.len(), data });
        Ok(())
    }

    /// Whether [`send_binary_shared`](Self::send_binary_shared) would keep a
    /// payload of `len` bytes by reference (rather than copy it).
    pub fn shares(&self, len: usize) -> bool {
        self.role == Role::Server && self.extension.is_none() && len >= SHARE_MIN
    }

    /// The length of the frame [`send_binary_into`](Self::send_binary_into)
    /// writes for a binary message of `len` bytes: its header (with the
    /// masking key, for a client) and the payload.
    pub fn binary_frame_len(&self, len: usize) -> usize {
        let ext = match len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        let key = if self.role == Role::Client { 4 } else { 0 };
        2 + ext + key + len
    }

    /// Sends a whole binary message framed into `dst`, memory the caller
    /// owns, instead of into the output: for a runtime that must hand its
    /// writer memory of its own (a V8 `Buffer`), a client's payload is then
    /// masked straight into it, one pass, where `send_binary` would mask it
    /// into the output and the runtime copy it out again. The frame goes on
    /// the wire after all output queued before and before any queued after,
    /// which the caller makes true by being allowed this only when no output
    /// is pending (take it first). `dst` may hold anything (it is
    /// overwritten) and must be exactly
    /// [`binary_frame_len`](Self::binary_frame_len)`(data.len())` bytes.
    ///
    /// `Ok(false)`, with nothing sent, where an extension may transform the
    /// message (use `send_binary`); an error for pending output, a wrong
    /// length, or a state in which no message may be sent.
    pub fn send_binary_into(&mut self, data: &[u8], dst: &mut [MaybeUninit<u8>]) -> Result<bool, Error> {
        self.check_whole_message()?;
        if self.extension.is_some() {
            return Ok(false);
        }
        if self.wants_write() {
            return Err(local(ErrorKind::InvalidState, "output is pending: take it before framing into caller memory"));
        }
        let want = self.binary_frame_len(data.len());
        if dst.len() != want {
            return Err(local(
                ErrorKind::InvalidArgument,
                format!("the frame of a {}-byte message takes {want} bytes, not {}", data.len(), dst.len()),
            ));
        }
        // Drawn only now, so a refused call leaves the key sequence as it was.
        let mask = match self.role {
            Role::Client => Some(self.random().mask_key()),
            Role::Server => None,
        };
        let header = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask, len: data.len() as u64 };
        let mut h = [0u8; crate::frame::MAX_HEADER_LEN];
        let n = header.encode_into(&mut h);
        let (head, body) = dst.split_at_mut(n);
        for (d, &b) in head.iter_mut().zip(&h[..n]) {
            d.write(b);
        }
        copy_masked(body, data, mask.unwrap_or([0; 4]), 0);
        Ok(true)
    }

    /// Sends one fragment of a message (§5.4). The first call starts a
    /// message of `kind`; later calls must pass the same kind and continue
    /// it; `fin` ends it. Text fragments are validated as UTF-8 across
    /// fragment boundaries.
    pub fn send_fragment(&mut self, kind: DataKind, data: &[u8], fin: bool) -> Result<(), Error> {
        self.check_open()?;
        if let Some(current) = self.sending {
            if current != kind {
                return Err(local(ErrorKind::FragmentMismatch, "a fragment must continue the message being sent"));
            }
        }
        if kind == DataKind::Text {
            if self.sending.is_none() {
                self.send_utf8.reset();
            }
            let mut v = self.send_utf8;
            v.feed(data).map_err(|_| local(ErrorKind::InvalidArgument, "text fragment is not valid UTF-8"))?;
            if fin {
                v.finish().map_err(|_| local(ErrorKind::InvalidArgument, "text message ends inside a code point"))?;
            }
            self.send_utf8 = v;
        }
        self.send_data(kind, data, fin)
    }

    /// Sends a ping (payload at most 125 bytes).
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Sends a pong (payload at most 125 bytes), e.g. an unsolicited
    /// heartbeat or, with `auto_pong` off, the answer to a ping.
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.send_control(OpCode::Pong, payload)
    }

    /// Starts or completes the closing handshake (§7.1.2). `code` 1005
    /// sends a close frame without a code (and then `reason` must be empty).
    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), Error> {
        if !(code == NO_STATUS_RCVD || is_valid_wire_code(code)) {
            return Err(local(ErrorKind::InvalidCloseCode, format!("close code {code} may not be sent")));
        }
        if code == NO_STATUS_RCVD && !reason.is_empty() {
            return Err(local(ErrorKind::InvalidArgument, "a close reason needs a close code"));
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(local(ErrorKind::ControlTooLong, "close reason longer than 123 bytes"));
        }
        let next = match self.state {
            State::Open => State::LocalClosing,
            State::RemoteClosing => State::Closed,
            _ => return Err(local(ErrorKind::InvalidState, format!("cannot close in state {:?}", self.state))),
        };
        self.write_close(code, reason);
        self.state = next;
        if next == State::Closed {
            self.release_extension();
        }
        Ok(())
    }

    /// Lets the extension free its state once no message can pass.
    fn release_extension(&mut self) {
        if let Some(ext) = self.extension.as_mut() {
            ext.release();
        }
    }

    // ------------------------------------------------------------------
    // The receive path
    // ------------------------------------------------------------------

    fn phase_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// Applies the consumption deferred by the last event.
    fn settle(&mut self) {
        self.rpos += std::mem::take(&mut self.deferred);
        if std::mem::take(&mut self.clear_msgbuf) {
            self.msgbuf.clear();
        }
        if self.diverted.as_deref().is_some_and(|d| d.handed_out) {
            self.settle_diverted();
        }
    }

    /// `settle` for a diverted payload handed out in the last event: out of
    /// line, so that the per-message path of small messages stays short.
    #[cold]
    #[inline(never)]
    fn settle_diverted(&mut self) {
        // (The field, not `diversions_mut`: the walk is borrowed too.)
        let d = self.diverted.as_deref_mut().expect("a diverted payload is pending");
        d.handed_out = false;
        let slot = d.queue.pop_front().expect("a diverted message was handed out").slot;
        // The padding stays, for the next payload to reuse.
        let start = d.starts[slot];
        d.bufs[slot].truncate(start);
        relocate(d, &mut self.unmasker, slot);
    }

    fn advance(&mut self) -> Result<Option<Ready>, Error> {
        self.settle();
        if !self.phase_done() {
            return self.advance_handshake();
        }
        loop {
            if self.state == State::Closed || self.peer_closed {
                return Ok(None);
            }
            if self.frame.is_none() {
                if let Some(done) = self.small_fragments() {
                    return done.map(Some);
                }
                let decoded = FrameHeader::decode(&self.inbuf[self.rpos..]);
                let (header, n) = match decoded {
                    Ok(Some(h)) => h,
                    Ok(None) => {
                        // Only the masking key may be missing: the rest of
                        // the header is checked now, so a bad frame fails at
                        // the byte that makes it bad, whatever the reads.
                        match FrameHeader::decode_without_key(&self.inbuf[self.rpos..]) {
                            Ok(Some(h)) => self.check_frame_start(&h).map(drop)?,
                            Ok(None) => {}
                            Err(e) => return Err(self.fail_header(e)),
                        }
                        return Ok(self.at_end_of_input());
                    }
                    Err(e) => return Err(self.fail_header(e)),
                };
                self.start_frame(&header)?;
                self.rpos += n;
                let checked = if self.is_diverted(&header, self.rpos) { 0 } else { self.adopt_text_check() };
                self.frame = Some(InFrame { header, remaining: header.len, done: 0, kept: 0, checked });
            }
            let f = self.frame.expect("a frame is being received");
            let ready = if f.header.opcode.is_control() { self.control_frame(f)? } else { self.data_frame(f)? };
            if ready.is_some() {
                return Ok(ready);
            }
            if self.frame.is_some() {
                // The frame's payload is incomplete.
                return Ok(self.at_end_of_input());
            }
        }
    }

    /// The fast path for the most common frame: a whole text or binary
    /// message, fully buffered, between messages, within the limits, with
    /// the masking this role expects and without extension bits. It skips
    /// the message bookkeeping of the general path, and returns only a range
    /// (not a [`Ready`], whose handshake variants make it costly to move
    /// around per tiny frame). `None` leaves the frame to the general path,
    /// which also reports any error in its header.
    #[inline]
    fn poll_whole_message(&mut self) -> Option<Result<(bool, Range<usize>), Error>> {
        self.settle();
        if !self.phase_done() || self.frame.is_some() || self.state == State::Closed || self.peer_closed {
            return None;
        }
        // FIN, no RSV bits, text or binary: anything else (fragments,
        // control frames) goes to the general path without a wasted decode.
        if !matches!(self.inbuf.get(self.rpos), Some(0x81 | 0x82)) {
            return None;
        }
        let (h, n) = FrameHeader::decode(&self.inbuf[self.rpos..]).ok()??;
        let text = match h.opcode {
            OpCode::Text => true,
            OpCode::Binary => false,
            _ => return None,
        };
        let start = self.rpos + n;
        let fits = h.len <= self.config.max_frame_size && h.len <= self.config.max_message_size;
        if !h.fin
            || h.rsv != 0
            || self.msg.kind.is_some()
            || self.config.partial_messages
            || h.mask.is_some() != (self.role == Role::Server)
            || !fits
            || h.len > (self.inbuf.len() - start) as u64
            || self.is_diverted(&h, start)
        {
            return None;
        }
        let range = start..start + h.len as usize;
        if let Some(key) = h.mask {
            apply_mask(&mut self.inbuf[range.clone()], key, 0);
        }
        // A text payload the walk in `receive` already found valid is not
        // read again (marks for payloads passed by other paths are stale).
        let at = self.in_base + start as u64;
        while self.text_marks.front().is_some_and(|&m| m < at) {
            self.text_marks.pop_front();
        }
        let checked = text && self.text_marks.front() == Some(&at);
        if checked {
            self.text_marks.pop_front();
        }
        if text && !checked && utf8::validate(&self.inbuf[range.clone()]).is_err() {
            // Report it as the incremental path would (the close reason
            // must not depend on how the bytes were split into reads).
            let detail = match Utf8Validator::new().feed(&self.inbuf[range]) {
                Err(_) => "text message is not valid UTF-8",
                Ok(()) => "text message ends inside a code point",
            };
            return Some(Err(self.fail(ErrorKind::InvalidUtf8, detail)));
        }
        self.rpos = start;
        self.deferred = range.len();
        Some(Ok((text, range)))
    }

    /// The fast path for the fragments of small messages: frames that start
    /// or continue a fragmented message, each fully buffered, at most 125
    /// bytes long, without RSV bits, masked as this role expects and within
    /// the limits, are appended to the message in one tight loop, with the
    /// same checks and in the same order as the general path. Returns the
    /// message when a final fragment completes it, and `None` at the first
    /// frame it does not take: the general path then decodes that frame
    /// (and reports any error in it).
    #[inline]
    fn small_fragments(&mut self) -> Option<Result<Ready, Error>> {
        if self.msg.transformed || self.config.partial_messages {
            return None;
        }
        let masked = self.role == Role::Server;
        let head = if masked { 6 } else { 2 };
        loop {
            let rest = &self.inbuf[self.rpos..];
            let [b0, b1, ..] = *rest else { return None };
            let len = (b1 & 0x7f) as usize;
            if len > MAX_CONTROL_PAYLOAD || (b1 & 0x80 != 0) != masked || rest.len() < head + len {
                return None;
            }
            let starts = match (b0, self.msg.kind) {
                (0x00 | 0x80, Some(_)) => false,
                (0x01 | 0x02, None) => true,
                _ => return None,
            };
            let size = if starts { 0 } else { self.msg.size };
            let fragments = if starts { 0 } else { self.msg.fragments };
            if len as u64 > self.config.max_frame_size
                || fragments >= self.config.max_fragments
                || size + len as u64 > self.config.max_message_size
            {
                return None;
            }
            let key = if masked { [rest[2], rest[3], rest[4], rest[5]] } else { [0; 4] };
            if starts {
                self.msg.kind = Some(if b0 == 0x01 { DataKind::Text } else { DataKind::Binary });
                self.msg.utf8.reset();
            }
            self.msg.size = size + len as u64;
            self.msg.fragments = fragments + 1;
            let kind = self.msg.kind.expect("a message is being received");
            let start = self.rpos + head;
            let payload = &mut self.inbuf[start..start + len];
            apply_mask(payload, key, 0);
            let text = kind == DataKind::Text;
            if text && self.msg.utf8.feed(payload).is_err() {
                return Some(Err(self.fail(ErrorKind::InvalidUtf8, "text message is not valid UTF-8")));
            }
            append_piece(&mut self.msgbuf, payload);
            self.rpos = start + len;
            if b0 == 0x80 {
                let ready = self.whole_or_chunk(kind, Src::Msg, true);
                if text && self.msg.utf8.finish().is_err() {
                    return Some(Err(self.fail(ErrorKind::InvalidUtf8, "text message ends inside a code point")));
                }
                self.msg.kind = None;
                return Some(Ok(ready));
            }
        }
    }

    /// A text message starts at `rpos` whose payload the walk in `receive`
    /// is validating and has not finished: the decoder takes the walk's
    /// validator over (it has seen every buffered byte of the payload) and
    /// returns how many bytes need no second look.
    fn adopt_text_check(&mut self) -> u64 {
        if let Unmasker::Payload { text: Some(t), key, remaining, phase } = self.unmasker {
            if t.start == self.in_base + self.rpos as u64 && self.msg.kind == Some(DataKind::Text) {
                self.msg.utf8 = t.utf8;
                self.unmasker = Unmasker::Payload { key, remaining, phase, text: None };
                return (self.inbuf.len() - self.rpos) as u64;
            }
        }
        0
    }

    /// No complete event in the buffer: report 1006 if the stream ended.
    fn at_end_of_input(&mut self) -> Option<Ready> {
        if self.eof && self.state != State::Closed {
            self.state = State::Closed;
            self.frame = None;
            self.drop_input();
            return Some(Ready::Close(close::ABNORMAL_CLOSURE, 0..0));
        }
        None
    }

    fn drop_input(&mut self) {
        self.in_base += self.inbuf.len() as u64;
        self.text_marks.clear();
        self.diverted = None;
        self.inbuf.clear();
        self.rpos = 0;
        self.deferred = 0;
        self.unmasker = Unmasker::Off;
    }

    /// Checks a frame header against the role, the state and the limits,
    /// and starts a message for a data frame that begins one.
    fn start_frame(&mut self, h: &FrameHeader) -> Result<(), Error> {
        let transformed = self.check_frame_start(h)?;
        if h.opcode.is_control() {
            return Ok(());
        }
        if h.opcode != OpCode::Continuation {
            let kind = if h.opcode == OpCode::Text { DataKind::Text } else { DataKind::Binary };
            self.msg.kind = Some(kind);
            self.msg.transformed = transformed;
            self.msg.size = 0;
            self.msg.fragments = 0;
            self.msg.utf8.reset();
        }
        self.msg.fragments += 1;
        Ok(())
    }

    /// The rules a frame header must meet in this role and state (masking,
    /// RSV bits, fragmentation, limits), checked without changing anything;
    /// returns whether the frame's message is transformed by the extension.
    /// The masking key plays no part, so a header can be checked before
    /// its key arrives.
    fn check_frame_start(&mut self, h: &FrameHeader) -> Result<bool, Error> {
        match (self.role, h.mask) {
            (Role::Server, None) => return Err(self.fail(ErrorKind::BadMasking, "client frame is not masked")),
            (Role::Client, Some(_)) => return Err(self.fail(ErrorKind::BadMasking, "server frame is masked")),
            _ => {}
        }
        if h.opcode.is_control() {
            if h.rsv != 0 {
                return Err(self.fail(ErrorKind::ReservedBits, "RSV bits set on a control frame"));
            }
            return Ok(false);
        }
        if h.len > self.config.max_frame_size {
            return Err(self.fail(ErrorKind::TooBig, "frame larger than the limit"));
        }
        let (transformed, size) = match (h.opcode, self.msg.kind) {
            (OpCode::Continuation, None) => {
                return Err(self.fail(ErrorKind::BadFragmentation, "continuation frame without a message to continue"));
            }
            (OpCode::Continuation, Some(_)) => {
                if h.rsv != 0 {
                    return Err(self.fail(ErrorKind::ReservedBits, "RSV bits set on a continuation frame"));
                }
                if self.msg.fragments >= self.config.max_fragments {
                    return Err(self.fail(ErrorKind::TooBig, "message has too many fragments"));
                }
                (self.msg.transformed, self.msg.size)
            }
            (_, Some(_)) => {
                return Err(self.fail(ErrorKind::BadFragmentation, "new message inside a fragmented message"));
            }
            (_, None) => {
                if h.rsv == 0 {
                    (false, 0)
                } else if self.extension.as_ref().is_some_and(|e| e.accepts_rsv(h.rsv)) {
                    (true, 0)
                } else {
                    return Err(self.fail(ErrorKind::ReservedBits, "RSV bits set without a negotiated extension"));
                }
            }
        };
        if !transformed && size + h.len > self.config.max_message_size {
            return Err(self.fail(ErrorKind::TooBig, "message larger than the limit"));
        }
        Ok(transformed)
    }

    // Inlined into `advance` (its only caller): returned through memory,
    // the result enum costs store-forwarding stalls on every frame.
    #[inline(always)]
    fn control_frame(&mut self, f: InFrame) -> Result<Option<Ready>, Error> {
        let len = f.header.len as usize;
        if self.inbuf.len() - self.rpos < len {
            return Ok(None);
        }
        let range = self.rpos..self.rpos + len;
        if let Some(key) = f.header.mask {
            apply_mask(&mut self.inbuf[range.clone()], key, 0);
        }
        self.frame = None;
        self.deferred = len;
        Ok(Some(match f.header.opcode {
            OpCode::Ping => {
                // §5.5.2: answer "unless it already received a Close frame"
                // — so also after sending one (LocalClosing).
                if self.config.auto_pong && matches!(self.state, State::Open | State::LocalClosing) {
                    let payload = self.inbuf[range.clone()].to_vec();
                    self.write_frame(OpCode::Pong, true, 0, &payload);
                }
                Ready::Ping(range)
            }
            OpCode::Pong => Ready::Pong(range),
            _ => {
                let payload = close::parse_payload(&self.inbuf[range.clone()]);
                let code = match payload {
                    Ok(p) => p.code,
                    Err(e) => {
                        let kind = match e {
                            close::ClosePayloadError::InvalidReason => ErrorKind::InvalidUtf8,
                            _ => ErrorKind::BadClosePayload,
                        };
                        return Err(self.fail(kind, "invalid close frame payload"));
                    }
                };
                self.peer_closed = true;
                match self.state {
                    State::Open if self.config.auto_close => {
                        self.write_close(code, "");
                        self.state = State::Closed;
                    }
                    State::Open => self.state = State::RemoteClosing,
                    _ => self.state = State::Closed,
                }
                let reason = if len >= 2 { range.start + 2..range.end } else { range.end..range.end };
                Ready::Close(code, reason)
            }
        }))
    }

    // Inlined into `advance` (its only caller): returned through memory,
    // the result enum costs store-forwarding stalls on every frame.
    #[inline(always)]
    fn data_frame(&mut self, mut f: InFrame) -> Result<Option<Ready>, Error> {
        if self.is_diverted(&f.header, self.rpos) {
            return self.diverted_frame(f);
        }
        let h = f.header;
        let start = self.rpos + f.kept;
        let avail = (self.inbuf.len() - start) as u64;
        let take = avail.min(f.remaining) as usize;
        if take == 0 && f.remaining > 0 {
            return Ok(None);
        }
        let chunk = start..start + take;
        if let Some(key) = h.mask {
            apply_mask(&mut self.inbuf[chunk.clone()], key, f.done as usize);
        }
        f.done += take as u64;
        f.remaining -= take as u64;
        let frame_done = f.remaining == 0;
        let last = frame_done && h.fin;
        let kind = self.msg.kind.expect("a message is being received");
        let text = kind == DataKind::Text;
        // Bytes `receive` validated on the way in are not fed again.
        let skip = f.checked.min(take as u64) as usize;
        f.checked -= skip as u64;
        self.frame = if frame_done { None } else { Some(f) };

        let ready = if self.msg.transformed {
            self.transform_chunk(chunk, last)?;
            self.rpos += take;
            if last {
                Some(self.whole_or_chunk(kind, Src::Msg, true))
            } else if self.config.partial_messages && (take > 0 || frame_done) {
                // As for plain frames: a piece for every read into the
                // frame and for its end, even when the extension has
                // produced nothing from it yet.
                Some(self.whole_or_chunk(kind, Src::Msg, false))
            } else {
                None
            }
        } else {
            if text && self.msg.utf8.feed(&self.inbuf[chunk.start + skip..chunk.end]).is_err() {
                return Err(self.fail(ErrorKind::InvalidUtf8, "text message is not valid UTF-8"));
            }
            self.msg.size += take as u64;
            if self.config.partial_messages {
                self.deferred = take;
                // Every frame's end is reported, an empty frame's too, so
                // that a program that follows frames (wsproto's API does)
                // sees each one.
                (take > 0 || frame_done).then(|| self.whole_or_chunk(kind, Src::In(chunk), last))
            } else if h.fin && h.opcode != OpCode::Continuation {
                // A single-frame message: keep it in place, no copy.
                if last {
                    let range = self.rpos..chunk.end;
                    self.deferred = range.len();
                    Some(self.whole_or_chunk(kind, Src::In(range), true))
                } else {
                    if let Some(fr) = self.frame.as_mut() {
                        fr.kept += take;
                    }
                    None
                }
            } else {
                append_piece(&mut self.msgbuf, &self.inbuf[chunk]);
                self.rpos += take;
                last.then(|| self.whole_or_chunk(kind, Src::Msg, true))
            }
        };
        if last && text && self.msg.utf8.finish().is_err() {
            return Err(self.fail(ErrorKind::InvalidUtf8, "text message ends inside a code point"));
        }
        if last {
            self.msg.kind = None;
        }
        Ok(ready)
    }

    /// Whether the payload of the frame with header `h`, which ends at
    /// `inbuf[end]`, is diverted (see `frame::unmasker`). While a diverted
    /// frame is being received nothing of it is consumed from `inbuf`, so
    /// its header still ends at `rpos`; and no other frame's header ends
    /// where a diverted one does, so this identifies the frame.
    #[inline]
    fn is_diverted(&self, h: &FrameHeader, end: usize) -> bool {
        h.len >= DIVERT_MIN
            && self.diverted.as_ref().and_then(|d| d.queue.front()).is_some_and(|d| d.at == self.in_base + end as u64)
    }

    /// Whether the frame being received is diverted.
    fn frame_is_diverted(&self) -> bool {
        self.frame.as_ref().is_some_and(|f| self.is_diverted(&f.header, self.rpos))
    }

    fn diversions(&self) -> &Diversions {
        self.diverted.as_deref().expect("a diverted payload is pending")
    }

    fn diversions_mut(&mut self) -> &mut Diversions {
        self.diverted.as_deref_mut().expect("a diverted payload is pending")
    }

    /// `data_frame` for a diverted payload: the walk in `receive` copies
    /// (and unmasks) it into its own buffer and has usually validated it;
    /// what is left here is the bookkeeping, and validation where the walk
    /// found an error (so that it is reported exactly as on the general
    /// path, as soon as the bytes arrive).
    fn diverted_frame(&mut self, mut f: InFrame) -> Result<Option<Ready>, Error> {
        let diversions = self.diverted.as_deref().expect("a diverted payload is pending");
        let d = *diversions.queue.front().expect("a diverted frame has an entry");
        let payload = diversions.payload(d.slot);
        let have = payload.len() as u64;
        let take = have - f.done;
        if take == 0 && f.remaining > 0 {
            return Ok(None);
        }
        let kind = self.msg.kind.expect("a message is being received");
        if kind == DataKind::Text && d.text == DivertedText::Unchecked {
            if self.msg.utf8.feed(&payload[f.checked as usize..]).is_err() {
                return Err(self.fail(ErrorKind::InvalidUtf8, "text message is not valid UTF-8"));
            }
            f.checked = have;
        }
        f.done = have;
        f.remaining -= take;
        self.msg.size += take;
        if f.remaining > 0 {
            self.frame = Some(f);
            return Ok(None);
        }
        self.frame = None;
        if kind == DataKind::Text && self.msg.utf8.finish().is_err() {
            return Err(self.fail(ErrorKind::InvalidUtf8, "text message ends inside a code point"));
        }
        self.msg.kind = None;
        Ok(Some(self.whole_or_chunk(kind, Src::Diverted(d.slot), true)))
    }

    /// Routes a piece of a transformed message through the extension.
    fn transform_chunk(&mut self, chunk: Range<usize>, last: bool) -> Result<(), Error> {
        let before = self.msgbuf.len();
        let room = self.config.max_message_size.saturating_sub(self.msg.size);
        let limit = before.saturating_add(usize::try_from(room).unwrap_or(usize::MAX));
        let ext = self.extension.as_mut().expect("transformed messages need an extension");
        let decoded = ext.decode(&self.inbuf[chunk], last, &mut self.msgbuf, limit);
        self.msg.size += (self.msgbuf.len() - before) as u64;
        // Text is checked first even when decoding failed: what the
        // extension produced before its error comes earlier in the message,
        // and had the input arrived in smaller reads, that text would have
        // been checked (and failed) before the bad bytes were seen.
        if self.msg.kind == Some(DataKind::Text) && self.msg.utf8.feed(&self.msgbuf[before..]).is_err() {
            return Err(self.fail(ErrorKind::InvalidUtf8, "text message is not valid UTF-8"));
        }
        if let Err(e) = decoded {
            let kind = match e.close_code {
                close::MESSAGE_TOO_BIG => ErrorKind::TooBig,
                code => ErrorKind::Extension(code),
            };
            return Err(self.fail(kind, e.detail));
        }
        Ok(())
    }

    fn whole_or_chunk(&mut self, kind: DataKind, src: Src, fin: bool) -> Ready {
        match src {
            Src::Msg => self.clear_msgbuf = true,
            Src::Diverted(_) => self.diversions_mut().handed_out = true,
            Src::In(_) => {}
        }
        match (self.config.partial_messages, kind) {
            (false, DataKind::Text) => Ready::Text(src),
            (false, DataKind::Binary) => Ready::Binary(src),
            (true, DataKind::Text) => Ready::TextChunk(src, fin),
            (true, DataKind::Binary) => Ready::BinaryChunk(src, fin),
        }
    }

    fn advance_handshake(&mut self) -> Result<Option<Ready>, Error> {
        let max_head = self.config.max_handshake_size;
        let max_headers = self.config.max_headers;
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::ServerAwaitRequest => match server::parse_request(&self.inbuf[self.rpos..], max_head, max_headers) {
                Ok(Some((request, n))) => {
                    self.rpos += n;
                    self.phase = Phase::ServerAwaitDecision(Box::new(request.clone()));
                    Ok(Some(Ready::Request(Box::new(request))))
                }
                Ok(None) => {
                    self.phase = Phase::ServerAwaitRequest;
                    Ok(self.at_end_of_input())
                }
                Err(e) => {
                    server::write_error_response(&mut self.out, &e);
                    self.state = State::Closed;
                    self.drop_input();
                    Err(e.responded())
                }
            },
            Phase::ClientAwaitResponse(pending) => {
                match client::parse_response(&self.inbuf[self.rpos..], max_head, max_headers) {
                    Ok(Some((mut response, head, n))) => {
                        self.rpos += n;
                        if response.status == 101 {
                            match client::validate_accept(*pending, &mut response, head) {
                                Ok(ext) => {
                                    self.extension = ext;
                                    self.state = State::Open;
                                    Ok(Some(Ready::Accepted(Box::new(response))))
                                }
                                Err(e) => {
                                    self.state = State::Closed;
                                    self.drop_input();
                                    Err(e)
                                }
                            }
                        } else {
                            let no_body = matches!(response.status, 100..=199 | 204 | 304);
                            let body = if no_body { BodyLength::Exactly(0) } else { head.body };
                            self.phase = Phase::ClientRejectBody(body);
                            self.state = State::Closed;
                            Ok(Some(Ready::Rejected(Box::new(response))))
                        }
                    }
                    Ok(None) => {
                        self.phase = Phase::ClientAwaitResponse(pending);
                        Ok(self.at_end_of_input())
                    }
                    Err(e) => {
                        self.state = State::Closed;
                        self.drop_input();
                        Err(e)
                    }
                }
            }
            Phase::ClientRejectBody(mut body) => match body.step(&self.inbuf[self.rpos..], self.eof) {
                Ok(BodyStep::More { skip }) => {
                    self.rpos += skip;
                    self.phase = Phase::ClientRejectBody(body);
                    Ok(None)
                }
                Ok(BodyStep::Piece { skip, len, fin }) => {
                    self.rpos += skip;
                    if !fin {
                        self.phase = Phase::ClientRejectBody(body);
                    }
                    let range = self.rpos..self.rpos + len;
                    self.deferred = len;
                    Ok(Some(Ready::RejectBody(range, fin)))
                }
                Err(e) => {
                    self.drop_input();
                    Err(e)
                }
            },
            phase @ Phase::ServerAwaitDecision(_) => {
                // Frames wait in the buffer until the application decides.
                self.phase = phase;
                Ok(None)
            }
            Phase::Done => Ok(None),
        }
    }

    fn fail_header(&mut self, e: HeaderError) -> Error {
        match e {
            HeaderError::ReservedOpCode(op) => self.fail(ErrorKind::ReservedOpCode, format!("reserved opcode {op:#x}")),
            HeaderError::LengthTooLarge => self.fail(ErrorKind::BadLength, "64-bit length with the top bit set"),
            HeaderError::NonMinimalLength => self.fail(ErrorKind::BadLength, "length not minimally encoded"),
            HeaderError::ControlTooLong => self.fail(ErrorKind::BadControlFrame, "control frame longer than 125 bytes"),
            HeaderError::ControlFragmented => self.fail(ErrorKind::BadControlFrame, "fragmented control frame"),
        }
    }

    /// Fails the connection for a remote error: queues a close frame with
    /// the error's code (unless one was sent) and drops further input.
    fn fail(&mut self, kind: ErrorKind, detail: impl Into<std::borrow::Cow<'static, str>>) -> Error {
        let mut err = Error::new(kind, detail);
        if matches!(self.hold, Hold::Asked) {
            // Acted on by the next `poll_event`; nothing more is decoded.
            self.frame = None;
            self.msg = InMessage::default();
            self.drop_input();
            self.hold = Hold::Held(Box::new(err.clone()));
            err.held = true;
            return err;
        }
        self.act_on_failure(err)
    }

    /// Queues the close frame a failure calls for and closes.
    fn act_on_failure(&mut self, err: Error) -> Error {
        if let Some(code) = err.kind().close_code() {
            if matches!(self.state, State::Open | State::RemoteClosing) {
                let mut reason = err.detail();
                while reason.len() > MAX_REASON_LEN {
                    let mut cut = MAX_REASON_LEN;
                    while !reason.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    reason = &reason[..cut];
                }
                let reason = reason.to_owned();
                self.write_close(code, &reason);
            }
        }
        self.state = State::Closed;
        self.frame = None;
        self.msg = InMessage::default();
        self.drop_input();
        err
    }

    // ------------------------------------------------------------------
    // The send path
    // ------------------------------------------------------------------

    fn check_open(&self) -> Result<(), Error> {
        if self.state != State::Open {
            return Err(local(ErrorKind::InvalidState, format!("cannot send data in state {:?}", self.state)));
        }
        Ok(())
    }

    fn check_whole_message(&self) -> Result<(), Error> {
        self.check_open()?;
        if self.sending.is_some() {
            return Err(local(ErrorKind::FragmentMismatch, "a fragmented message is being sent"));
        }
        Ok(())
    }

    fn send_data(&mut self, kind: DataKind, data: &[u8], fin: bool) -> Result<(), Error> {
        let first = self.sending.is_none();
        let opcode = if first { kind.opcode() } else { OpCode::Continuation };
        if let Some(ext) = self.extension.as_mut() {
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            let rsv = ext
                .encode(data, first, fin, &mut scratch)
                .map_err(|e| local(ErrorKind::InvalidArgument, format!("extension failed: {}", e.detail)))?;
            match rsv {
                Some(rsv) => self.write_frame(opcode, fin, if first { rsv } else { 0 }, &scratch),
                None => self.write_frame(opcode, fin, 0, data),
            }
            self.scratch = scratch;
        } else {
            self.write_frame(opcode, fin, 0, data);
        }
        self.sending = if fin { None } else { Some(kind) };
        Ok(())
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), Error> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(local(ErrorKind::ControlTooLong, "control frame payload longer than 125 bytes"));
        }
        // A pong may still answer a ping after our close frame (§5.5.2).
        let allowed = match self.state {
            State::Open | State::RemoteClosing => true,
            State::LocalClosing => opcode == OpCode::Pong,
            _ => false,
        };
        if !allowed {
            return Err(local(ErrorKind::InvalidState, format!("cannot send {opcode:?} in state {:?}", self.state)));
        }
        self.write_frame(opcode, true, 0, payload);
        Ok(())
    }

    fn write_close(&mut self, code: u16, reason: &str) {
        let mut payload = Vec::with_capacity(2 + reason.len());
        close::encode_payload(code, reason, &mut payload);
        self.write_frame(OpCode::Close, true, 0, &payload);
    }

    fn write_frame(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8]) {
        let mask = match self.role {
            Role::Client => Some(self.random().mask_key()),
            Role::Server => None,
        };
        self.out.reserve(payload.len() + crate::frame::MAX_HEADER_LEN);
        self.write_header(opcode, fin, rsv, payload.len(), mask);
        match mask {
            Some(key) => extend_masked(&mut self.out, payload, key),
            None => extend_copy(&mut self.out, payload),
        }
    }

    fn write_header(&mut self, opcode: OpCode, fin: bool, rsv: u8, len: usize, mask: Option<[u8; 4]>) {
        let header = FrameHeader { fin, rsv, opcode, mask, len: len as u64 };
        // Append the whole fixed-size header array and cut it back: a
        // constant-size copy is two moves, a variable-size one a call.
        let mut h = [0u8; crate::frame::MAX_HEADER_LEN];
        let n = header.encode_into(&mut h);
        self.out.extend_from_slice(&h);
        self.out.truncate(self.out.len() - (h.len() - n));
    }

    fn random(&mut self) -> &mut dyn Random {
        self.random.get_or_insert_with(|| Box::new(OsRandom::new())).as_mut()
    }
}

/// Appends a fragment's payload to the message being assembled. Tiny
/// fragments are appended by a byte loop, which beats a library copy call.
#[inline]
fn append_piece(msg: &mut Vec<u8>, piece: &[u8]) {
    if piece.len() <= 16 {
        msg.reserve(16);
        for &b in piece {
            msg.push(b);
        }
    } else {
        extend_copy(msg, piece);
    }
}
