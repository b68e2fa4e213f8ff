//! The `pair` target: a client and a server wired through memory, both
//! driven through the whole command API by a script the fuzzer writes.
//!
//! The other targets feed one connection bytes from an attacker. This one
//! checks the sending side and the API contract, where the input is a
//! program's calls rather than a peer's bytes: sends of every kind in any
//! state (fragments, pings and closes included, valid or not), output taken
//! in every way the API offers (partial `consume_output`, `output_vectored`,
//! `take_output`, `swap_output`), input given in pieces or through
//! `receive_payload`, end of stream, `release_memory` and
//! `swap_payload_buffer` at any point.
//!
//! The input is `[flags, script...]`. Flags: bit 0 partial messages, bit 1
//! no automatic pongs, bit 2 no automatic close answers, bit 3
//! permessage-deflate (bits 6 and 7 its parameters, as for the deflate
//! targets), bit 4 a 1000-byte message limit, bit 5 a limit of 4 frames
//! per message. A command is one byte — the low four bits say which, bit 4
//! which side, the top three bits a variant — and its arguments (see
//! `Pair::step`); a script's meaning never depends on the state it meets.
//!
//! What must hold:
//! - a command either succeeds or fails with a local error that changed
//!   nothing (no output, same state); whether it succeeds is predicted from
//!   the state alone wherever the rules are that simple;
//! - everything a side sent successfully arrives at the other, in order and
//!   byte for byte, up to its close frame, and nothing after that frame —
//!   the receiving side never reports a protocol error, since both sides
//!   are ours, except 1009 exactly when a message breaks its limits (and
//!   then its close frame says 1009);
//! - automatic pongs and close answers appear exactly where the state
//!   machine says; output is taken exactly once whichever way it is taken;
//! - after both sides have closed and written everything, both ask for the
//!   transport to be closed.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::mem::MaybeUninit;

use wsproto_core::{Config, Connection, DataKind, Error, ErrorKind, Event, Role, State};

/// What one side expects the other to receive next, in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// A message, and how many frames it was sent in (0 when received).
    Msg(DataKind, Vec<u8>, u32),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, String),
    /// A fragmented message the sender's close frame cut short: the
    /// receiver may have had pieces of it, then gets the close.
    Unfinished(DataKind, Vec<u8>, u32),
    /// The close frame a side sends when the other broke one of its
    /// limits: the code is known, the reason is the core's.
    Failed(u16),
}

struct End {
    conn: Connection,
    /// Sent by this side, not yet received by the other.
    sent: VecDeque<Item>,
    /// The fragmented message this side is sending (kind, bytes so far,
    /// frames so far).
    sending: Option<(DataKind, Vec<u8>, u32)>,
    /// Valid UTF-8 not yet sent as a text fragment (a fragment may end
    /// inside a code point; the rest goes first in the next one).
    text_rest: Vec<u8>,
    /// A text fragment of any bytes went out in the message being sent, so
    /// whether the next one is valid UTF-8 is not known here.
    text_tainted: bool,
    /// Received pieces of a message (partial messages).
    partial: Vec<u8>,
    /// This side saw the other's close frame (nothing after it counts).
    peer_closed: bool,
    /// This side was told the transport ended.
    eof: bool,
    /// This side failed the connection: the other broke one of its limits.
    failed: bool,
    /// The limits this side receives with.
    max_size: u64,
    max_frames: u32,
    /// The payload of the last event, for `swap_payload_buffer`.
    last_payload: Option<Vec<u8>>,
    /// A buffer handed back and forth with the connection.
    spare: Vec<u8>,
    /// Output already out of the connection, which goes first: frames
    /// `send_binary_into` wrote, and what the connection held before them.
    held: Vec<u8>,
}

/// Bytes of the script, read as commands with their arguments; reads past
/// the end give zeros.
struct Script<'a> {
    data: &'a [u8],
    pos: usize,
    rng: u64,
}

impl Script<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// A length: small ones directly, the boundaries of the frame length
    /// encodings and the core's size thresholds from a table.
    fn size(&mut self) -> usize {
        const BIG: [usize; 12] = [125, 126, 127, 1024, 4095, 4096, 8192, 16_384, 65_535, 65_536, 65_553, 131_100];
        match self.byte() {
            s @ 0..=199 => usize::from(s),
            s => BIG[usize::from(s - 200) % BIG.len()],
        }
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*: payload bytes need only be varied, not random.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `n` bytes, from a small alphabet (compressible) or not, by `style`.
    fn bytes(&mut self, n: usize, style: u8) -> Vec<u8> {
        self.rng = self.rng.wrapping_add(u64::from(self.byte()) | 1);
        (0..n)
            .map(|_| {
                let r = self.next_rand();
                if style & 1 == 0 {
                    b"ab \x00"[(r >> 60) as usize & 3]
                } else {
                    (r >> 56) as u8
                }
            })
            .collect()
    }

    /// Valid UTF-8 of at least `n` bytes, with 1- to 4-byte code points.
    fn text(&mut self, n: usize) -> String {
        let seed = self.byte();
        self.text_from(seed, n)
    }

    /// [`text`](Self::text) with its script byte already read.
    fn text_from(&mut self, seed: u8, n: usize) -> String {
        self.rng = self.rng.wrapping_add(u64::from(seed) | 1);
        let mut s = String::with_capacity(n + 4);
        while s.len() < n {
            // Ten picks from one random word.
            let mut r = self.next_rand();
            for _ in 0..10 {
                s.push(['a', 'b', ' ', 'é', '€', '😀', 'c', 'a'][(r & 7) as usize]);
                r >>= 6;
            }
        }
        s
    }
}

/// Codes a close command may try: valid, reserved and out of range.
const CODES: [u16; 16] =
    [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1014, 1015, 1016, 2999, 3000, 4999, 5000];

/// Total payload a run may send, so that no input takes long: room for two
/// messages with 64-bit lengths; less when compressing (deflate costs far
/// more per byte than framing).
const BUDGET: usize = 140 << 10;
const DEFLATE_BUDGET: usize = 20 << 10;

/// Whether a peer may send `code` in a close frame (§7.4).
fn valid_wire_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Runs one script. The first byte picks the configuration.
pub fn run(raw: &[u8]) -> Summary {
    let [flags, script @ ..] = raw else { return Summary::default() };
    let mut pair = Pair::new(*flags);
    let mut s = Script { data: script, pos: 0, rng: 0x9E37_79B9_7F4A_7C15 };
    while !s.done() {
        pair.step(&mut s);
    }
    pair.finish();
    pair.summary
}

/// What a run reached, for the seed tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Messages received whole, by either side.
    pub messages: usize,
    /// Pieces of messages received (partial messages or `receive_payload`).
    pub pieces: usize,
    /// Of those, pieces taken with `receive_payload`.
    pub payload_pieces: usize,
    /// Pings and pongs received.
    pub controls: usize,
    /// Close frames received.
    pub closes: usize,
    /// Commands refused with a local error.
    pub refused: usize,
    /// Messages framed into memory of ours (`send_binary_into`).
    pub framed_into: usize,
    /// Connections failed for a message over the limits (1009).
    pub failures: usize,
    /// Both sides ended closed, with the transport to be closed.
    pub closed: bool,
}

struct Pair {
    ends: [End; 2],
    auto_pong: bool,
    auto_close: bool,
    budget: usize,
    summary: Summary,
}

impl Pair {
    fn new(flags: u8) -> Pair {
        let config = Config {
            auto_pong: flags & 2 == 0,
            auto_close: flags & 4 == 0,
            partial_messages: flags & 1 != 0,
            max_message_size: if flags & 16 != 0 { 1000 } else { Config::default().max_message_size },
            max_fragments: if flags & 32 != 0 { 4 } else { Config::default().max_fragments },
            mask_seed: Some(crate::SEED),
            ..Config::default()
        };
        let end = |role| {
            let ext = (flags & 8 != 0).then(|| crate::deflate(role, flags));
            End {
                conn: Connection::open(role, config.clone(), ext),
                sent: VecDeque::new(),
                sending: None,
                text_rest: Vec::new(),
                text_tainted: false,
                partial: Vec::new(),
                peer_closed: false,
                eof: false,
                failed: false,
                max_size: config.max_message_size,
                max_frames: config.max_fragments,
                last_payload: None,
                spare: Vec::new(),
                held: Vec::new(),
            }
        };
        Pair {
            ends: [end(Role::Client), end(Role::Server)],
            auto_pong: config.auto_pong,
            auto_close: config.auto_close,
            budget: if flags & 8 != 0 { DEFLATE_BUDGET } else { BUDGET },
            summary: Summary::default(),
        }
    }

    /// Side `which` (0 client, 1 server), then the other.
    fn sides(&mut self, which: usize) -> (&mut End, &mut End) {
        pick(&mut self.ends, which)
    }

    /// Runs one command of the script. The low four bits of its byte: 0
    /// text, 1 binary, 2 binary by reference (or, with the top bit, framed
    /// into memory of ours with `send_binary_into`), 3 a fragment, 4 a fragment of
    /// any bytes, 5 ping, 6 pong, 7 close, 8 move output to the other side,
    /// 9 the same through `receive_payload`, 10 end of stream, 11
    /// `release_memory`, 12 `swap_payload_buffer`, 13–15 poll events.
    fn step(&mut self, s: &mut Script<'_>) {
        let op = s.byte();
        let which = usize::from(op >> 4 & 1);
        let variant = op >> 5;
        match op & 15 {
            0 => {
                let n = self.take_budget(s.size());
                let text = s.text(n);
                self.command(
                    which,
                    |e| e.conn.send_text(&text),
                    |e| whole_ok(e).then(|| Item::Msg(DataKind::Text, text.clone().into_bytes(), 1)),
                );
            }
            1 | 2 => {
                let n = self.take_budget(s.size());
                let data = s.bytes(n, variant);
                let shared = op & 15 == 2;
                let into = shared && variant & 4 != 0;
                let mut framed = false;
                self.command(
                    which,
                    |e| {
                        if into {
                            send_into(e, &data, &mut framed)
                        } else if shared {
                            e.conn.send_binary_shared(data.clone())
                        } else {
                            e.conn.send_binary(&data)
                        }
                    },
                    |e| whole_ok(e).then(|| Item::Msg(DataKind::Binary, data.clone(), 1)),
                );
                self.summary.framed_into += usize::from(framed);
            }
            3 => self.fragment(which, variant, s),
            4 => self.raw_fragment(which, variant, s),
            5 | 6 => {
                let n = s.size() % 131;
                let data = s.bytes(n, variant);
                let ping = op & 15 == 5;
                self.command(
                    which,
                    |e| if ping { e.conn.send_ping(&data) } else { e.conn.send_pong(&data) },
                    |e| {
                        let allowed = match e.conn.state() {
                            State::Open | State::RemoteClosing => true,
                            State::LocalClosing => !ping,
                            _ => false,
                        };
                        (allowed && n <= 125).then(|| {
                            if ping {
                                Item::Ping(data.clone())
                            } else {
                                Item::Pong(data.clone())
                            }
                        })
                    },
                );
            }
            7 => {
                let code = CODES[usize::from(s.byte()) % CODES.len()];
                let n = if variant & 1 != 0 { s.size() % 130 } else { 0 };
                let reason: String = s
                    .text(n)
                    .chars()
                    .take_while({
                        let mut len = 0;
                        move |c| {
                            len += c.len_utf8();
                            len <= n
                        }
                    })
                    .collect();
                self.command(
                    which,
                    |e| e.conn.close(code, &reason),
                    |e| {
                        let state_ok = matches!(e.conn.state(), State::Open | State::RemoteClosing);
                        let code_ok = valid_wire_code(code) || (code == 1005 && reason.is_empty());
                        (state_ok && code_ok && reason.len() <= 123).then(|| Item::Close(code, reason.clone()))
                    },
                );
            }
            8 | 9 => {
                let amount = match s.byte() {
                    0 => usize::MAX,
                    b => usize::from(b) * usize::from(s.byte() | 1),
                };
                let cut = usize::from(s.byte());
                self.transfer(which, variant, amount, cut, op & 15 == 9);
            }
            10 => {
                let (x, _) = self.sides(which);
                if !x.eof {
                    x.eof = true;
                    x.conn.receive_eof();
                }
            }
            11 => {
                let (x, _) = self.sides(which);
                x.conn.release_memory();
                x.last_payload = None;
            }
            12 => self.swap_payload(which, s.byte()),
            _ => {
                let limit = if variant == 0 { usize::MAX } else { usize::from(variant) };
                self.poll(which, limit);
            }
        }
    }

    fn take_budget(&mut self, n: usize) -> usize {
        let n = n.min(self.budget);
        self.budget -= n;
        n
    }

    /// Runs one command at side `which`. `expect` says, before the command
    /// runs, what it must add to what the other side receives (`None`: it
    /// must be refused).
    fn command(
        &mut self,
        which: usize,
        run: impl FnOnce(&mut End) -> Result<(), Error>,
        expect: impl FnOnce(&End) -> Option<Item>,
    ) {
        let (x, _) = self.sides(which);
        let expected = expect(x);
        let state = x.conn.state();
        let outcome = self.command_raw(which, run);
        let (x, _) = self.sides(which);
        match (expected, outcome) {
            (Some(item), true) => {
                let closing = matches!(item, Item::Close(..));
                if closing {
                    cut_short(x);
                }
                let want = match state {
                    State::Open if closing => State::LocalClosing,
                    State::RemoteClosing if closing => State::Closed,
                    other => other,
                };
                assert_eq!(x.conn.state(), want, "state after {item:?} in {state:?}");
                x.sent.push_back(item);
            }
            (None, false) => {}
            (expected, ok) => {
                panic!("command expected to give {expected:?}, but it {}", if ok { "succeeded" } else { "was refused" })
            }
        }
    }

    /// Runs `run` at side `which`: true if it succeeded; a refusal must be
    /// a local error that changed nothing.
    fn command_raw(&mut self, which: usize, run: impl FnOnce(&mut End) -> Result<(), Error>) -> bool {
        let (x, _) = self.sides(which);
        let (state, out) = (x.conn.state(), x.conn.buffered_out());
        match run(x) {
            Ok(()) => true,
            Err(e) => {
                assert!(e.is_local(), "a command failed with a remote error: {e:?}");
                assert_eq!(e.close_code(), None, "{e:?}");
                assert_eq!(
                    (x.conn.state(), x.conn.buffered_out()),
                    (state, out),
                    "a refused command changed something: {e:?}"
                );
                self.summary.refused += 1;
                false
            }
        }
    }

    /// A text or binary fragment of valid content.
    fn fragment(&mut self, which: usize, variant: u8, s: &mut Script<'_>) {
        let kind = if variant & 1 == 0 { DataKind::Text } else { DataKind::Binary };
        let fin = variant & 2 != 0;
        let n = self.take_budget(s.size());
        let (x, _) = self.sides(which);
        let data = match kind {
            DataKind::Binary => s.bytes(n, variant >> 2),
            DataKind::Text => {
                // The first `n` bytes of the text to come; ending the
                // message takes the rest of the code point too.
                // (The script byte is read either way, so that what
                // follows in the script does not depend on the state.)
                let seed = s.byte();
                if x.text_rest.len() < n + 4 {
                    x.text_rest.extend_from_slice(s.text_from(seed, n + 4).as_bytes());
                }
                let mut end = n;
                if fin {
                    while end < x.text_rest.len() && x.text_rest[end] & 0xC0 == 0x80 {
                        end += 1;
                    }
                }
                x.text_rest[..end].to_vec()
            }
        };
        let ok = x.conn.state() == State::Open && x.sending.as_ref().is_none_or(|(k, ..)| *k == kind);
        let known = !(kind == DataKind::Text && x.text_tainted);
        let done = self.command_raw(which, |e| e.conn.send_fragment(kind, &data, fin));
        if known {
            assert_eq!(done, ok, "send_fragment({kind:?}, {} bytes, fin {fin}): predicted {ok}", data.len());
        } else {
            assert!(ok || !done, "send_fragment succeeded where it may not");
        }
        if done {
            let (x, _) = self.sides(which);
            if kind == DataKind::Text {
                x.text_rest.drain(..data.len());
                if fin {
                    x.text_rest.clear();
                }
            }
            self.fragment_sent(which, kind, &data, fin);
        }
    }

    /// A fragment of any bytes: a text one may be refused as invalid UTF-8.
    fn raw_fragment(&mut self, which: usize, variant: u8, s: &mut Script<'_>) {
        let kind = if variant & 1 == 0 { DataKind::Text } else { DataKind::Binary };
        let fin = variant & 2 != 0;
        let n = usize::from(s.byte() % 8);
        let data: Vec<u8> = (0..n).map(|_| s.byte()).collect();
        let (x, _) = self.sides(which);
        let ok = x.conn.state() == State::Open && x.sending.as_ref().is_none_or(|(k, ..)| *k == kind);
        let done = self.command_raw(which, |e| e.conn.send_fragment(kind, &data, fin));
        assert!(ok || !done, "send_fragment succeeded where it may not");
        if done {
            let (x, _) = self.sides(which);
            if kind == DataKind::Text {
                // The sender's own text stream is no longer ours to extend.
                x.text_rest.clear();
                x.text_tainted = !fin;
            }
            self.fragment_sent(which, kind, &data, fin);
        }
    }

    fn fragment_sent(&mut self, which: usize, kind: DataKind, data: &[u8], fin: bool) {
        let (x, _) = self.sides(which);
        let (_, msg, frames) = x.sending.get_or_insert_with(|| (kind, Vec::new(), 0));
        msg.extend_from_slice(data);
        *frames += 1;
        if fin {
            x.text_tainted = false;
            let (kind, msg, frames) = x.sending.take().expect("a message is being sent");
            if kind == DataKind::Text {
                assert!(std::str::from_utf8(&msg).is_ok(), "a text message that is not UTF-8 was accepted");
            }
            x.sent.push_back(Item::Msg(kind, msg, frames));
        }
    }

    /// Moves up to `amount` bytes of output from side `which` to the other,
    /// taken in the way `how` picks, and gives them to the other side whole,
    /// cut at `cut`, or through `receive_payload` (`payload`).
    fn transfer(&mut self, which: usize, how: u8, amount: usize, cut: usize, payload: bool) {
        let (y, x) = self.sides(which);
        let before = y.conn.buffered_out();
        // What `send_binary_into` framed goes first, all of it.
        let held = std::mem::take(&mut y.held);
        let mut bytes = Vec::new();
        match how & 3 {
            0 => {
                let mut left = amount;
                while left > 0 && y.conn.wants_write() {
                    let out = y.conn.output();
                    assert!(!out.is_empty(), "wants_write with no output");
                    let n = out.len().min(left);
                    bytes.extend_from_slice(&out[..n]);
                    y.conn.consume_output(n);
                    left -= n;
                }
            }
            1 => {
                let mut slices = [IoSlice::new(&[]); 3];
                let filled = y.conn.output_vectored(&mut slices);
                let mut left = amount;
                for slice in &slices[..filled] {
                    assert!(!slice.is_empty(), "output_vectored filled an empty slice");
                    let n = slice.len().min(left);
                    bytes.extend_from_slice(&slice[..n]);
                    left -= n;
                }
                y.conn.consume_output(bytes.len());
            }
            2 => bytes = y.conn.take_output(),
            _ => {
                y.spare.extend_from_slice(b"stale");
                y.conn.swap_output(&mut y.spare);
                bytes = std::mem::take(&mut y.spare);
            }
        }
        assert_eq!(before - y.conn.buffered_out(), bytes.len(), "output taken does not match buffered_out");
        assert_eq!(y.conn.wants_write(), y.conn.buffered_out() > 0);
        let bytes = if held.is_empty() { bytes } else { [held, bytes].concat() };
        if x.eof || x.failed {
            return;
        }
        if payload {
            // Reads of `cut` bytes, at most 64 of them (speed).
            let step = cut.max(1).max(bytes.len() / 64);
            self.feed_payload(1 - which, &bytes, step, how & 4 != 0);
        } else {
            let cut = cut.min(bytes.len());
            let (x, _) = self.sides(1 - which);
            x.conn.receive(&bytes[..cut]);
            x.conn.receive(&bytes[cut..]);
        }
    }

    /// Gives `data` to side `which` the way a binding building its own
    /// payload objects does: decode what was received, then take payload
    /// bytes of a frame being received with `receive_payload` (into a
    /// buffer of its own, or in place with `in_place`), and give the rest
    /// to `receive` at most `step` bytes at a time.
    fn feed_payload(&mut self, which: usize, mut data: &[u8], step: usize, in_place: bool) {
        loop {
            self.poll(which, usize::MAX);
            if data.is_empty() {
                return;
            }
            let (x, peer) = pick(&mut self.ends, which);
            let mut dst = vec![MaybeUninit::<u8>::uninit(); data.len().min(step * 97)];
            let state = x.conn.state();
            let piece = match x.conn.receive_payload(data, (!in_place).then_some(&mut dst[..])) {
                Ok(p) => p,
                Err(e) => {
                    self.summary.failures += 1;
                    return failed(x, peer, state, &e);
                }
            };
            match piece {
                Some(p) => {
                    assert!(p.len > 0 && p.len <= data.len(), "{p:?}");
                    let bytes: Vec<u8> = if in_place {
                        data[..p.len].to_vec()
                    } else {
                        // SAFETY: `receive_payload` wrote the first `len` bytes.
                        dst[..p.len].iter().map(|b| unsafe { b.assume_init() }).collect()
                    };
                    self.summary.payload_pieces += 1;
                    piece_received(x, peer, p.kind, &bytes, p.fin, &mut self.summary);
                    data = &data[p.len..];
                }
                None => {
                    let n = data.len().min(step);
                    x.conn.receive(&data[..n]);
                    data = &data[n..];
                }
            }
        }
    }

    /// Polls up to `limit` events at side `which`, checking each against
    /// what the other side sent.
    fn poll(&mut self, which: usize, limit: usize) {
        let auto_pong = self.auto_pong;
        let auto_close = self.auto_close;
        let summary = &mut self.summary;
        let (x, y) = pick(&mut self.ends, which);
        for _ in 0..limit {
            if x.failed {
                return;
            }
            let state = x.conn.state();
            let ev = match x.conn.poll_event() {
                Ok(None) => return,
                Ok(Some(ev)) => ev,
                Err(e) => {
                    summary.failures += 1;
                    return failed(x, y, state, &e);
                }
            };
            x.last_payload = None;
            match ev {
                Event::Text(t) => {
                    let t = t.as_bytes().to_vec();
                    x.last_payload = Some(t.clone());
                    summary.messages += 1;
                    expect_item(x, y, Item::Msg(DataKind::Text, t, 0));
                }
                Event::Binary(b) => {
                    let b = b.to_vec();
                    x.last_payload = Some(b.clone());
                    summary.messages += 1;
                    expect_item(x, y, Item::Msg(DataKind::Binary, b, 0));
                }
                Event::TextChunk { data, fin } => {
                    x.last_payload = Some(data.to_vec());
                    let data = data.to_vec();
                    piece_received(x, y, DataKind::Text, &data, fin, summary);
                }
                Event::BinaryChunk { data, fin } => {
                    x.last_payload = Some(data.to_vec());
                    let data = data.to_vec();
                    piece_received(x, y, DataKind::Binary, &data, fin, summary);
                }
                Event::Ping(p) => {
                    let p = p.to_vec();
                    summary.controls += 1;
                    x.last_payload = Some(p.clone());
                    expect_item(x, y, Item::Ping(p.clone()));
                    // §5.5.2: answered unless a close was received.
                    if auto_pong && matches!(state, State::Open | State::LocalClosing) {
                        x.sent.push_back(Item::Pong(p));
                    }
                }
                Event::Pong(p) => {
                    let p = p.to_vec();
                    summary.controls += 1;
                    x.last_payload = Some(p.clone());
                    expect_item(x, y, Item::Pong(p));
                }
                Event::Close { code, reason } => {
                    if code == 1006 {
                        assert!(x.eof, "close 1006 without the end of the stream");
                        assert!(!x.peer_closed, "close 1006 after a close frame");
                        x.peer_closed = true;
                        continue;
                    }
                    let reason = reason.to_owned();
                    summary.closes += 1;
                    expect_item(x, y, Item::Close(code, reason));
                    x.peer_closed = true;
                    let after = x.conn.state();
                    let answered = auto_close && state == State::Open;
                    let want = match state {
                        State::Open if auto_close => State::Closed,
                        State::Open => State::RemoteClosing,
                        _ => State::Closed,
                    };
                    assert_eq!(after, want, "state after a close frame in {state:?}");
                    if answered {
                        cut_short(x);
                        x.sent.push_back(Item::Close(code, String::new()));
                    }
                }
                other => panic!("unexpected event on an open connection: {other:?}"),
            }
        }
    }

    /// Swaps the buffer holding the last event's payload out, and checks it
    /// holds that payload where it says.
    fn swap_payload(&mut self, which: usize, junk: u8) {
        let (x, _) = self.sides(which);
        x.spare.clear();
        x.spare.resize(usize::from(junk), junk);
        let range = x.conn.swap_payload_buffer(&mut x.spare);
        if let (Some(range), Some(payload)) = (range, x.last_payload.take()) {
            let got = &x.spare[range];
            assert_eq!(got, &payload[..], "the swapped buffer does not hold the last event's payload");
        }
    }

    /// Lets both sides write everything and read everything, then checks
    /// that all that was sent arrived.
    fn finish(&mut self) {
        for _ in 0..64 {
            let pending = self.ends.iter().any(|e| e.conn.wants_write() || !e.held.is_empty());
            self.transfer(0, 2, usize::MAX, usize::MAX, false);
            self.poll(1, usize::MAX);
            self.transfer(1, 2, usize::MAX, usize::MAX, false);
            self.poll(0, usize::MAX);
            if !pending && !self.ends.iter().any(|e| e.conn.wants_write() || !e.held.is_empty()) {
                break;
            }
        }
        for which in 0..2 {
            let (x, y) = self.sides(which);
            if x.eof || x.failed {
                continue;
            }
            // Everything up to a close frame arrived; nothing after it did.
            let closed = y.sent.iter().position(|i| matches!(i, Item::Close(..) | Item::Failed(_)));
            match closed {
                Some(0) => panic!("side {which} never received the close frame the other sent"),
                Some(_) | None if !x.peer_closed => {
                    assert!(y.sent.is_empty(), "side {which} never received {:?}", y.sent);
                    // A message still being sent: its pieces so far, at most.
                    let so_far = y.sending.as_ref().map_or(&[][..], |(_, m, _)| m);
                    assert!(so_far.starts_with(&x.partial), "pieces not from the message being sent");
                }
                _ => {}
            }
        }
        let [a, b] = &self.ends;
        if a.conn.state() == State::Closed && b.conn.state() == State::Closed {
            assert!(a.conn.should_close_transport() && b.conn.should_close_transport());
            self.summary.closed = true;
        }
    }
}

/// Side `which` of `ends`, then the other.
fn pick(ends: &mut [End; 2], which: usize) -> (&mut End, &mut End) {
    let [a, b] = ends;
    if which == 0 {
        (a, b)
    } else {
        (b, a)
    }
}

/// Whether a whole message may be sent now.
fn whole_ok(e: &End) -> bool {
    e.conn.state() == State::Open && e.sending.is_none()
}

/// Sends a binary message as a binding framing into memory of its own does:
/// the connection's pending output is taken first (only when the send may
/// go ahead, so that a refusal changes nothing), then the frame is written
/// into a new buffer; with an extension it goes through `send_binary`.
fn send_into(e: &mut End, data: &[u8], framed: &mut bool) -> Result<(), Error> {
    if whole_ok(e) && e.conn.wants_write() {
        let out = e.conn.take_output();
        e.held.extend_from_slice(&out);
    }
    let mut dst = vec![MaybeUninit::new(0x5Au8); e.conn.binary_frame_len(data.len())];
    if !e.conn.send_binary_into(data, &mut dst)? {
        return e.conn.send_binary(data);
    }
    // SAFETY: every element was initialized (to 0x5A, then overwritten).
    e.held.extend(dst.into_iter().map(|b| unsafe { b.assume_init() }));
    *framed = true;
    Ok(())
}

/// Side `x` is about to send a close frame: a message it is sending ends
/// unfinished.
fn cut_short(x: &mut End) {
    if let Some((kind, msg, frames)) = x.sending.take() {
        x.sent.push_back(Item::Unfinished(kind, msg, frames));
    }
    x.text_tainted = false;
}

/// Side `x` received `got`; it must be what `y` sent next.
fn expect_item(x: &mut End, y: &mut End, got: Item) {
    assert!(!x.peer_closed, "received {got:?} after the close frame");
    if let (Item::Close(..), Some(Item::Unfinished(_, msg, _))) = (&got, y.sent.front()) {
        assert!(msg.starts_with(&x.partial), "pieces not from the message cut short");
        x.partial.clear();
        y.sent.pop_front();
    }
    assert!(x.partial.is_empty() || !matches!(got, Item::Msg(..)), "a whole message inside a partial one");
    let want = y.sent.pop_front();
    match (&want, &got) {
        (Some(Item::Msg(k, m, frames)), Item::Msg(kind, msg, _)) => {
            assert!(k == kind && m == msg, "received {got:?}, not the message {want:?} that was sent");
            assert!(
                m.len() as u64 <= x.max_size && *frames <= x.max_frames,
                "a message over the limits ({} bytes, {frames} frames) was received",
                m.len()
            );
        }
        (Some(Item::Failed(code)), Item::Close(c, _)) => assert_eq!(code, c, "the close code of a failure"),
        _ => assert_eq!(want.as_ref(), Some(&got), "received something else than was sent"),
    }
}

/// Side `x` failed the connection with `e`, in `state`: that is right only
/// for the message `y` is sending breaking one of `x`'s limits. `x` then
/// answers with a close frame of its own, unless it sent one already.
fn failed(x: &mut End, y: &mut End, state: State, e: &Error) {
    assert!(
        e.kind() == ErrorKind::TooBig && e.is_remote() && e.close_code() == Some(1009),
        "failed on a sound stream: {e:?}"
    );
    let current = y.sent.iter().find_map(|i| match i {
        Item::Msg(_, m, f) | Item::Unfinished(_, m, f) => Some((m, *f)),
        _ => None,
    });
    let (msg, frames) = current.or(y.sending.as_ref().map(|(_, m, f)| (m, *f))).expect("failed with no message");
    assert!(
        msg.len() as u64 > x.max_size || frames > x.max_frames,
        "failed on a message within the limits ({} bytes, {frames} frames): {e:?}",
        msg.len()
    );
    assert!(msg.starts_with(&x.partial), "pieces not from the message that failed");
    x.failed = true;
    x.partial.clear();
    if state == State::Open {
        cut_short(x);
        x.sent.push_back(Item::Failed(1009));
    }
}

/// A piece of a message; the pieces joined must be what was sent.
fn piece_received(x: &mut End, y: &mut End, kind: DataKind, data: &[u8], fin: bool, summary: &mut Summary) {
    summary.pieces += 1;
    x.partial.extend_from_slice(data);
    if fin {
        let whole = std::mem::take(&mut x.partial);
        summary.messages += 1;
        expect_item(x, y, Item::Msg(kind, whole, 0));
    } else {
        // The message is the first one queued, or still being sent.
        let first = y.sent.iter().find_map(|i| match i {
            Item::Msg(k, m, _) | Item::Unfinished(k, m, _) => Some((*k, m)),
            _ => None,
        });
        let sending = y.sending.as_ref().map(|(k, m, _)| (*k, m));
        let (k, m) = first.or(sending).expect("a piece of a message that was not sent");
        assert!(k == kind && m.starts_with(&x.partial), "a piece of another message than was sent");
    }
}
