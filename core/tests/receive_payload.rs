//! `Connection::receive_payload`: payload bytes of a data frame taken
//! straight from the caller's input into the caller's memory (or checked
//! where they are), as a binding does that builds its runtime's objects
//! itself. Whatever the reads and however the driver mixes the two ways of
//! feeding, the events, the output and the state must be those of plain
//! `receive` + `poll_event`.

mod common;

use std::mem::MaybeUninit;

use common::*;
use wsproto_core::frame::FrameHeader;
use wsproto_core::{Config, Connection, DataKind, ErrorKind, Event, PayloadPiece, State};

fn partial() -> Config {
    Config { partial_messages: true, ..Config::default() }
}

fn pserver() -> Connection {
    server_with(partial())
}

fn pclient() -> Connection {
    client_with(partial())
}

/// How the driver hands payload bytes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    /// Into a buffer of the driver's (uninitialized memory).
    Copy,
    /// Where they are, when the frame is unmasked (else a copy).
    InPlace,
    /// Copies on every other read; the reads between go to `receive`
    /// whole, so a frame is received partly each way.
    Alternate,
}

/// A binding-like driver: wherever the connection is inside a data frame's
/// payload with everything decoded, the payload at the start of a read is
/// taken with `receive_payload`; at a frame boundary, a data frame's header
/// is fed alone (so its payload can be taken next); all else goes through
/// `receive`. Pieces are joined as the common runner joins them.
struct Driver {
    conn: Connection,
    take: Take,
    events: Vec<Ev>,
    /// The pieces of the message being received, and its kind.
    pending: Option<(DataKind, Vec<u8>)>,
    failed: bool,
    /// Bytes taken with `receive_payload`.
    taken: usize,
    reads: usize,
}

impl Driver {
    fn new(conn: Connection, take: Take) -> Self {
        Driver { conn, take, events: Vec::new(), pending: None, failed: false, taken: 0, reads: 0 }
    }

    fn piece(&mut self, kind: DataKind, data: &[u8], fin: bool) {
        let (k, buf) = self.pending.get_or_insert_with(|| (kind, Vec::new()));
        assert_eq!(*k, kind, "pieces of different kinds interleaved");
        buf.extend_from_slice(data);
        if kind == DataKind::Text {
            if let Err(e) = std::str::from_utf8(buf) {
                assert!(e.error_len().is_none(), "text pieces are not valid UTF-8 so far");
            }
        }
        if fin {
            let (kind, buf) = self.pending.take().expect("pending piece");
            self.events.push(if kind == DataKind::Text { Ev::TextChunks(buf) } else { Ev::BinaryChunks(buf) });
        }
    }

    fn poll(&mut self) {
        while !self.failed {
            match self.conn.poll_event() {
                Ok(Some(Event::TextChunk { data, fin })) => {
                    let data = data.to_vec();
                    self.piece(DataKind::Text, &data, fin);
                }
                Ok(Some(Event::BinaryChunk { data, fin })) => {
                    let data = data.to_vec();
                    self.piece(DataKind::Binary, &data, fin);
                }
                Ok(Some(Event::Ping(p))) => self.events.push(Ev::Ping(p.to_vec())),
                Ok(Some(Event::Pong(p))) => self.events.push(Ev::Pong(p.to_vec())),
                Ok(Some(Event::Close { code, reason })) => self.events.push(Ev::close(code, reason)),
                Ok(Some(other)) => panic!("unexpected event {other:?}"),
                Ok(None) => return,
                Err(e) => {
                    self.events.push(Ev::from_error(&e));
                    self.failed = true;
                }
            }
        }
    }

    /// Takes payload from the start of `data`; how many bytes it took.
    fn take_payload(&mut self, data: &[u8]) -> usize {
        let in_place = self.take == Take::InPlace && self.conn.role() == wsproto_core::Role::Client;
        let mut room = vec![MaybeUninit::<u8>::uninit(); data.len()];
        let got = if in_place {
            self.conn.receive_payload(data, None)
        } else {
            self.conn.receive_payload(data, Some(&mut room))
        };
        match got {
            Ok(Some(PayloadPiece { kind, len, fin })) => {
                assert!(len > 0 && len <= data.len());
                assert_eq!(self.conn.frame_payload_to_come().is_none(), !self.conn.in_frame());
                let bytes: Vec<u8> = if in_place {
                    data[..len].to_vec()
                } else {
                    // SAFETY: `receive_payload` wrote the first `len` bytes.
                    room[..len].iter().map(|b| unsafe { b.assume_init() }).collect()
                };
                self.piece(kind, &bytes, fin);
                self.taken += len;
                len
            }
            Ok(None) => 0,
            Err(e) => {
                self.events.push(Ev::from_error(&e));
                self.failed = true;
                data.len()
            }
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        self.reads += 1;
        if self.take == Take::Alternate && self.reads.is_multiple_of(2) {
            self.conn.receive(data);
            self.poll();
            return;
        }
        loop {
            self.poll();
            if self.failed || data.is_empty() {
                // The connection drops input after failing (as `receive` would).
                self.conn.receive(data);
                return;
            }
            let n = self.take_payload(data);
            if n > 0 {
                data = &data[n..];
                continue;
            }
            if self.conn.buffered_in() == 0 && self.conn.frame_payload_to_come().is_none() {
                if let Ok(Some((h, n))) = FrameHeader::decode(data) {
                    if !h.opcode.is_control() && h.len > 0 {
                        self.conn.receive(&data[..n]);
                        data = &data[n..];
                        continue;
                    }
                }
            }
            self.conn.receive(data);
            data = &[];
        }
    }

    fn outcome(mut self) -> (Outcome, usize) {
        self.poll();
        let output = self.conn.take_output();
        (Outcome { events: self.events, output, state: self.conn.state() }, self.taken)
    }
}

/// The driver's outcome, and how many bytes it took with `receive_payload`.
fn direct(make: fn() -> Connection, take: Take, pieces: &[&[u8]]) -> (Outcome, usize) {
    let mut d = Driver::new(make(), take);
    for p in pieces {
        d.feed(p);
    }
    d.outcome()
}

/// Asserts that the driver agrees with plain decoding for `input` fed
/// whole, one byte at a time, in reads of several sizes, split in two at
/// sampled points (every point near the ends) and in three; returns the
/// plain outcome and how many bytes the driver took directly when fed the
/// input whole.
fn agrees(make: fn() -> Connection, input: &[u8]) -> (Outcome, usize) {
    let plain = Run::new(make).check(input);
    let taken = direct(make, Take::Copy, &[input]).1;
    for take in [Take::Copy, Take::InPlace, Take::Alternate] {
        let mut cuts: Vec<Vec<&[u8]>> = vec![vec![input], input.chunks(1).collect()];
        for size in [7, 125, 4096, 65536] {
            cuts.push(input.chunks(size).collect());
        }
        let len = input.len();
        // Cuts near both ends, and every 211th byte (which lands at every
        // distance from the headers of the frames in between).
        let points: Vec<usize> =
            (1..len.min(64)).chain(len.saturating_sub(64).max(1)..len).chain((64..len).step_by(211)).collect();
        for (i, &cut) in points.iter().enumerate() {
            cuts.push(vec![&input[..cut], &input[cut..]]);
            if i % 3 == 0 {
                let third = cut + (len - cut) / 2;
                cuts.push(vec![&input[..cut], &input[cut..third], &input[third..]]);
            }
        }
        for pieces in &cuts {
            let sizes: Vec<usize> = pieces.iter().map(|p| p.len()).take(4).collect();
            assert_eq!(direct(make, take, pieces).0, plain, "{take:?}, reads of {sizes:?}...");
        }
    }
    (plain, taken)
}

fn text_payload(len: usize) -> Vec<u8> {
    // ASCII with two-, three- and four-byte code points, so reads cut them.
    let s = "plain ascii, é, €, 😀; ".repeat(len / 26 + 1);
    let mut end = len;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.as_bytes()[..end].to_vec()
}

fn binary_payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + 7) % 251) as u8).collect()
}

// Large messages, whole and fragmented, with control frames between the
// fragments and small messages around them: server (masked) and client.
#[test]
fn large_messages_as_plain_decoding_delivers_them() {
    let big = binary_payload(20_000);
    let text = text_payload(17_000);
    let input = cat(&[
        &cframe(BIN, &big),
        &cframe(TXT, b"small"),
        &cfrag(TXT, &text[..9_001], false),
        &cframe(PING, b"between"),
        &cfrag(CONT, &text[9_001..], true),
        &cframe(BIN, &big[..600]),
        &cclose(1000, "done"),
    ]);
    // Fed whole, the driver takes payloads up to the ping; after it, it
    // hands the rest of the read to `receive`.
    let (out, taken) = agrees(pserver, &input);
    assert_eq!(taken, big.len() + 5 + 9_001, "payloads taken directly");
    assert_eq!(
        out.events,
        [
            Ev::BinaryChunks(big.clone()),
            Ev::TextChunks(b"small".to_vec()),
            Ev::Ping(b"between".to_vec()),
            Ev::TextChunks(text.clone()),
            Ev::BinaryChunks(big[..600].to_vec()),
            Ev::close(1000, "done"),
        ]
    );
    let input = cat(&[
        &sframe(TXT, &text),
        &sfrag(BIN, &big[..7_000], false),
        &sframe(PONG, b""),
        &sfrag(CONT, &big[7_000..], true),
        &sclose(1001, ""),
    ]);
    let (out, taken) = agrees(pclient, &input);
    assert_eq!(taken, text.len() + 7_000, "payloads taken directly");
    assert_eq!(out.events[0], Ev::TextChunks(text));
    assert_eq!(out.events[2], Ev::BinaryChunks(big));
}

// A client that sends an all-zero mask key is unmasked as with any key.
#[test]
fn zero_mask_key() {
    let big = binary_payload(5_000);
    let input = raw_frame(0x82, Some([0; 4]), &big);
    assert_eq!(agrees(pserver, &input).0.events, [Ev::BinaryChunks(big)]);
}

// §8.1: invalid UTF-8 fails the connection with 1007 where the bytes are
// taken, before any event for the piece that holds them; so does a message
// that ends inside a code point.
#[test]
fn invalid_text_fails_as_plain_decoding_does() {
    let text = text_payload(17_000);
    for at in [0, 1, 5_000, 16_999] {
        let mut bad = text.clone();
        bad[at] = 0xff;
        let input = cat(&[&cframe(TXT, &bad), &cframe(BIN, b"never")]);
        let (out, _) = agrees(pserver, &input);
        assert_eq!(out.events.last(), Some(&Ev::err(ErrorKind::InvalidUtf8, 1007)), "0xff at {at}");
        assert_eq!(out.state, State::Closed);
        assert_eq!(parse_frames(&out.output)[0].0, 0x88, "a close frame is queued");
        // Unmasked (a client's input).
        let (out, _) = agrees(pclient, &sframe(TXT, &bad));
        assert_eq!(out.events.last(), Some(&Ev::err(ErrorKind::InvalidUtf8, 1007)));
    }
    // Ends inside "€" (three bytes), in one frame or as the last fragment.
    let cut = text.len() - 1;
    let input = cat(&[&text[..cut - 2], "€".as_bytes()]);
    let input = &input[..input.len() - 1];
    let (out, _) = agrees(pserver, &cframe(TXT, input));
    assert_eq!(out.events, [Ev::err(ErrorKind::InvalidUtf8, 1007)]);
    let (out, _) = agrees(pserver, &cat(&[&cfrag(TXT, &text[..cut], false), &cfrag(CONT, &[0xe2, 0x82], true)]));
    assert_eq!(out.events.last(), Some(&Ev::err(ErrorKind::InvalidUtf8, 1007)));
}

// Limits are checked at the header, before any payload is taken.
#[test]
fn limits_before_payload() {
    let big = binary_payload(20_000);
    fn small_frames() -> Connection {
        server_with(Config { max_frame_size: 10_000, ..partial() })
    }
    fn small_messages() -> Connection {
        server_with(Config { max_message_size: 15_000, ..partial() })
    }
    let (out, _) = agrees(small_frames, &cframe(BIN, &big));
    assert_eq!(out.events, [Ev::err(ErrorKind::TooBig, 1009)]);
    let input = cat(&[&cfrag(BIN, &big[..9_000], false), &cfrag(CONT, &big[9_000..18_000], true)]);
    let (out, _) = agrees(small_messages, &input);
    assert_eq!(out.events, [Ev::err(ErrorKind::TooBig, 1009)]);
}

// Where there is nothing such to take, nothing is taken and the connection
// is unchanged.
#[test]
fn takes_nothing_outside_a_data_payload() {
    let mut room = [MaybeUninit::<u8>::uninit(); 64];
    let big = binary_payload(1_000);
    let frame = cframe(BIN, &big);
    // Between frames, and before any input.
    let mut c = pserver();
    assert_eq!(c.receive_payload(&frame, Some(&mut room)), Ok(None));
    // Inside a control frame's payload.
    c.receive(&cframe(PING, b"0123456789")[..8]);
    assert_eq!(poll_all(&mut c), []);
    assert_eq!(c.receive_payload(b"89", Some(&mut room)), Ok(None));
    // Masked payload without a destination; an empty input or destination.
    let mut c = pserver();
    c.receive(&frame[..8]);
    assert_eq!(poll_all(&mut c), []);
    assert_eq!(c.receive_payload(&frame[8..], None), Ok(None));
    assert_eq!(c.receive_payload(&[], Some(&mut room)), Ok(None));
    assert_eq!(c.receive_payload(&frame[8..], Some(&mut [])), Ok(None));
    // Bytes received but not yet decoded.
    c.receive(&frame[8..20]);
    assert_eq!(c.receive_payload(&frame[20..], Some(&mut room)), Ok(None));
    assert_eq!(poll_all(&mut c), []);
    let got = c.receive_payload(&frame[20..], Some(&mut room)).unwrap().unwrap();
    assert_eq!(got, PayloadPiece { kind: DataKind::Binary, len: 64, fin: false });
    assert_eq!(c.frame_payload_to_come(), Some(1_000 - 12 - 64));
    // After the end of the stream.
    c.receive_eof();
    assert_eq!(c.receive_payload(&frame[84..], Some(&mut room)), Ok(None));
    // Without partial messages.
    let mut c = server();
    c.receive(&frame[..8]);
    assert_eq!(poll_all(&mut c), []);
    assert_eq!(c.receive_payload(&frame[8..], Some(&mut room)), Ok(None));
}

// Exactly the frame's payload is taken; the next frame's bytes are not.
#[test]
fn stops_at_the_end_of_the_frame() {
    let input = cat(&[&sframe(BIN, &binary_payload(300)), &sframe(TXT, b"next")]);
    let mut c = pclient();
    c.receive(&input[..10]);
    let first = binary_payload(300)[..6].to_vec();
    assert_eq!(c.poll_event(), Ok(Some(Event::BinaryChunk { data: &first, fin: false })));
    assert_eq!(c.poll_event(), Ok(None));
    let piece = c.receive_payload(&input[10..], None).unwrap().unwrap();
    assert_eq!(piece, PayloadPiece { kind: DataKind::Binary, len: 294, fin: true });
    assert!(!c.in_frame());
    c.receive(&input[304..]);
    assert_eq!(poll_all(&mut c), [Ev::TextChunks(b"next".to_vec())]);
}
