//! UTF-8 in text messages and close reasons (RFC 6455 §8.1, §5.6, §5.5.1).

mod common;

use common::*;
use wsproto_core::{Config, Connection, ErrorKind};

const BAD_TEXT: &str = "text message is not valid UTF-8";

fn fail_1007(detail: &str) -> (Vec<Ev>, Vec<u8>) {
    (vec![Ev::err(ErrorKind::InvalidUtf8, 1007)], sclose(1007, detail))
}

// §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds
// that the byte stream is not, in fact, a valid UTF-8 stream, that endpoint
// MUST _Fail the WebSocket Connection_" — and it does so at the first
// invalid byte, before the rest of the frame arrives.
#[test]
fn fails_fast_mid_frame() {
    let frame = cframe(TXT, b"hello \xff and a long tail that never needs to arrive");
    let first_bad = 6 + 6;
    let (ev, out) = fail_1007(BAD_TEXT);
    // Only the bytes up to the bad one: the frame is incomplete.
    Run::new(server).expect(&frame[..first_bad + 1], &ev, &out);
    Run::new(server).expect(&frame, &ev, &out);
    // Sequences that are impossible after their second byte: a surrogate,
    // a code point above U+10FFFF, an overlong form.
    for bad in [&b"\xed\xa0"[..], b"\xf4\x90", b"\xe0\x80", b"\xc0"] {
        let frame = cframe(TXT, &cat(&[b"ok", bad, b"rest"]));
        Run::new(server).expect(&frame[..6 + 2 + bad.len()], &ev, &out);
    }
}

// §8.1 across fragments: the first invalid byte fails the connection even
// when it is in a later fragment than the start of its code point, and the
// later fragments are never needed.
#[test]
fn fails_fast_across_fragments() {
    let (ev, out) = fail_1007(BAD_TEXT);
    // F0 9F starts a 4-byte sequence; 'A' cannot continue it.
    let input = cat(&[&cfrag(TXT, b"a\xf0\x9f", false), &cfrag(CONT, b"A", false), &cfrag(CONT, b"zzz", true)]);
    Run::new(server).expect(&input, &ev, &out);
    // F4 then 90 (> U+10FFFF) split across frames: fails on the 90.
    let input = cat(&[&cfrag(TXT, b"\xf4", false), &cfrag(CONT, b"\x90", false)]);
    Run::new(server).expect(&input, &ev, &out);
    // A whole invalid byte in a middle fragment, message never finished.
    let input = cat(&[&cfrag(TXT, b"fine", false), &cfrag(CONT, b"\x80", false)]);
    Run::new(server).expect(&input, &ev, &out);
    // The same with partial delivery: valid pieces may come out first, but
    // the connection fails with 1007 at the same byte.
    let cfg = Config { partial_messages: true, ..Config::default() };
    let run = Run::new(|| server_with(cfg.clone()));
    let got = run.check(&cat(&[&cfrag(TXT, b"a\xf0\x9f", false), &cfrag(CONT, b"A", true)]));
    assert_eq!(got.events.last(), Some(&Ev::err(ErrorKind::InvalidUtf8, 1007)));
    assert_eq!(got.output, out);
}

// §8.1: a valid code point split across frames (and across reads) is fine.
#[test]
fn code_point_split_across_frames() {
    let s = "a€b𝄞c";
    let bytes = s.as_bytes();
    for cut in 0..=bytes.len() {
        let input = cat(&[&cfrag(TXT, &bytes[..cut], false), &cfrag(CONT, &bytes[cut..], true)]);
        Run::new(server).expect(&input, &[Ev::text(s)], b"");
    }
    // One byte per frame.
    let mut input = Vec::new();
    for (i, b) in bytes.iter().enumerate() {
        input.extend(cfrag(if i == 0 { TXT } else { CONT }, &[*b], i + 1 == bytes.len()));
    }
    Run::new(server).expect(&input, &[Ev::text(s)], b"");
}

// §8.1: a message that ends inside a code point is invalid (1007), whether
// it is one frame or the last fragment.
#[test]
fn message_ending_inside_a_code_point() {
    let detail = "text message ends inside a code point";
    let euro = "€".as_bytes();
    Run::new(server).expect(&cframe(TXT, &euro[..2]), &fail_1007(detail).0, &fail_1007(detail).1);
    let input = cat(&[&cfrag(TXT, b"x", false), &cfrag(CONT, &euro[..1], true)]);
    Run::new(server).expect(&input, &fail_1007(detail).0, &fail_1007(detail).1);
}

// §5.6: binary messages are not checked.
#[test]
fn binary_is_not_checked() {
    Run::new(server).expect(&cframe(BIN, b"\xff\xfe\xc0"), &[Ev::binary(b"\xff\xfe\xc0")], b"");
}

// §5.5.1: the close reason must be UTF-8; if not, fail with 1007.
#[test]
fn invalid_close_reason_is_1007() {
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye\xff");
    Run::new(server).expect(
        &cframe(CLOSE, &payload),
        &[Ev::err(ErrorKind::InvalidUtf8, 1007)],
        &sclose(1007, "invalid close frame payload"),
    );
    // A valid multi-byte reason is delivered.
    Run::new(server).expect(&cclose(1001, "tschüß"), &[Ev::close(1001, "tschüß")], &sclose(1001, ""));
}

// Client role: the close frame for 1007 is masked.
#[test]
fn client_fails_with_masked_1007() {
    let mut w = ClientWire::open();
    Run::new(client).expect(&sframe(TXT, b"\xff"), &[Ev::err(ErrorKind::InvalidUtf8, 1007)], &w.close(1007, BAD_TEXT));
}

/// Makes a fresh connection for a scenario.
type Make = Box<dyn Fn() -> Connection>;

/// Mixed text of about `len` bytes: ASCII and 2-, 3- and 4-byte code points.
fn mixed_text(len: usize) -> String {
    let pick = ["hello ", "κόσμε", "€", "𝄞", "中文", "abc def ", "ü", "\u{10ffff}"];
    let mut s = String::new();
    let mut i = 7usize;
    while s.len() < len {
        i = i.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        s.push_str(pick[(i >> 16) % pick.len()]);
    }
    s
}

// §8.1 for large text: payload bytes that arrive while the decoder is inside
// a text frame are validated as they are copied in (and unmasked, for a
// server). Whole, byte at a time and at every split point (sampled), both
// roles, one frame and fragments whose boundaries cut code points, with and
// without partial delivery: the same events as for small pieces.
#[test]
fn large_text_validated_while_copied_in() {
    let s = mixed_text(6000);
    let b = s.as_bytes();
    let cut = b.len() / 3 + 1; // inside a code point or not, either way
    let partial = Config { partial_messages: true, ..Config::default() };
    let (p1, p2) = (partial.clone(), partial);
    let cases: [(Make, Make, Vec<u8>, Vec<u8>); 2] = [
        (
            Box::new(server),
            Box::new(move || server_with(p1.clone())),
            cframe(TXT, b),
            cat(&[&cfrag(TXT, &b[..cut], false), &cfrag(CONT, &b[cut..], true)]),
        ),
        (
            Box::new(client),
            Box::new(move || client_with(p2.clone())),
            sframe(TXT, b),
            cat(&[&sfrag(TXT, &b[..cut], false), &sfrag(CONT, &b[cut..], true)]),
        ),
    ];
    for (make, make_partial, frame, frags) in &cases {
        Run::new(make).expect(frame, &[Ev::text(&s)], b"");
        Run::new(make).expect(frags, &[Ev::text(&s)], b"");
        // In pieces of 300 and 4097 bytes: most pieces start mid-frame.
        for size in [300, 4097] {
            let pieces: Vec<&[u8]> = frame.chunks(size).collect();
            assert_eq!(Run::new(make).feed(&pieces).events, vec![Ev::text(&s)]);
            let pieces: Vec<&[u8]> = frags.chunks(size).collect();
            assert_eq!(Run::new(make_partial).feed(&pieces).events, vec![Ev::TextChunks(b.to_vec())]);
        }
        Run::new(make_partial).expect(frags, &[Ev::TextChunks(b.to_vec())], b"");
    }
}

// §8.1: an invalid byte deep inside a large text frame fails the connection
// with 1007 when it arrives, whichever piece it arrives in, and nothing of
// the frame is delivered.
#[test]
fn large_text_invalid_byte_fails_when_it_arrives() {
    let s = mixed_text(5000);
    let (ev, out) = fail_1007(BAD_TEXT);
    for at in [0usize, 63, 64, 255, 256, 1000, 2047, 4096, 4999] {
        let mut b = s.as_bytes().to_vec();
        let at = at.min(b.len() - 1);
        b[at] = 0xff;
        let frame = cframe(TXT, &b);
        let header = frame.len() - b.len();
        Run::new(server).expect(&frame, &ev, &out);
        // Only up to the bad byte: already failed.
        Run::new(server).expect(&frame[..header + at + 1], &ev, &out);
        // A surrogate, a byte too large and a lone lead at the end of a piece.
        for bad in [&b"\xed\xa0\x80"[..], b"\xf4\x90\x80\x80", b"\xf5"] {
            let mut b = s.as_bytes()[..2000].to_vec();
            b.splice(at.min(1990)..at.min(1990), bad.iter().copied());
            let frame = sframe(TXT, &b);
            let header = frame.len() - b.len();
            let end = header + at.min(1990) + bad.len();
            Run::new(client).expect(&frame[..end], &ev, &client_close_1007());
        }
    }
}

/// The close frame a client sends for 1007 (masked with the test seed).
fn client_close_1007() -> Vec<u8> {
    let mut c = client();
    c.close(1007, BAD_TEXT).unwrap();
    c.take_output()
}

// §8.1 when many messages arrive in one read: large text messages are
// validated while the read is copied in, small and binary ones by the
// decoder; an invalid one among them still fails the connection in order,
// after the messages before it.
#[test]
fn large_texts_in_one_read_then_an_invalid_one() {
    let a = mixed_text(3000);
    let b = mixed_text(700);
    let bin = vec![0xffu8; 2000];
    let mut bad = mixed_text(1500).into_bytes();
    bad[1200] = 0xc0;
    for (make, enc) in [
        (server as fn() -> Connection, cframe as fn(u8, &[u8]) -> Vec<u8>),
        (client as fn() -> Connection, sframe as fn(u8, &[u8]) -> Vec<u8>),
    ] {
        let good = cat(&[&enc(TXT, a.as_bytes()), &enc(BIN, &bin), &enc(TXT, b"tiny"), &enc(TXT, b.as_bytes())]);
        let want = [Ev::text(&a), Ev::binary(&bin), Ev::text("tiny"), Ev::text(&b)];
        Run::new(make).expect(&good, &want, b"");
        let got = Run::new(make).check(&cat(&[&good, &enc(TXT, &bad), &enc(TXT, b"never")]));
        assert_eq!(got.events[..4], want);
        assert_eq!(got.events[4..], [Ev::err(ErrorKind::InvalidUtf8, 1007)]);
    }
}
