//! `Connection::swap_payload_buffer`: handing the buffer that holds a
//! received payload to the caller, with decoding going on unchanged in the
//! spare buffer the caller gave back.

mod common;

use common::*;
use wsproto_core::{Connection, Event};

fn payload(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + seed) % 251) as u8).collect()
}

/// Polls one event and returns it as an owned binary payload (panics on
/// anything else).
fn next_binary(c: &mut Connection) -> Vec<u8> {
    match c.poll_event().unwrap() {
        Some(Event::Binary(b)) => b.to_vec(),
        other => panic!("expected a binary message, got {other:?}"),
    }
}

// A single-frame message fed in pieces, with the start of the next frame
// behind it in the same read: the payload is handed over in place and the
// next message still decodes, wherever the reads are cut.
#[test]
fn single_frame_message_then_next_frame() {
    let first = payload(70_000, 1);
    let second = payload(300, 2);
    let mut wire = cframe(BIN, &first);
    wire.extend_from_slice(&cframe(BIN, &second));
    for cut in [wire.len() - 300, wire.len() - 3, 70_014] {
        let mut c = server();
        let mut spare = vec![9; 16];
        for piece in wire[..cut].chunks(4096) {
            c.receive(piece);
        }
        assert_eq!(next_binary(&mut c), first);
        let range = c.swap_payload_buffer(&mut spare).expect("the payload is in the input buffer");
        assert_eq!(spare[range], first[..]);
        // Handed over once: a second call finds nothing.
        let mut other = Vec::new();
        assert_eq!(c.swap_payload_buffer(&mut other), None);
        c.receive(&wire[cut..]);
        assert_eq!(next_binary(&mut c), second);
        assert_eq!(c.poll_event().unwrap(), None);
        assert_eq!(c.buffered_in(), 0);
    }
}

// A fragmented message is assembled in the message buffer, which is handed
// over whole; the next fragmented message assembles in the spare.
#[test]
fn fragmented_message_from_the_message_buffer() {
    let a = payload(40_000, 3);
    let b = payload(30_000, 4);
    let mut wire = cfrag(BIN, &a, false);
    wire.extend_from_slice(&cfrag(CONT, &b, true));
    let mut c = server();
    c.receive(&wire);
    let whole: Vec<u8> = a.iter().chain(&b).copied().collect();
    assert_eq!(next_binary(&mut c), whole);
    let mut spare = vec![1, 2, 3];
    let range = c.swap_payload_buffer(&mut spare).unwrap();
    assert_eq!(range, 0..whole.len());
    assert_eq!(spare, whole);
    c.receive(&wire);
    assert_eq!(next_binary(&mut c), whole);
    assert_eq!(c.poll_event().unwrap(), None);
}

// Nothing to hand over: before any event, after a payload-less event, and
// once `poll_event` moved past the payload.
#[test]
fn none_without_a_pending_payload() {
    let mut c = client();
    let mut spare = vec![5; 4];
    assert_eq!(c.swap_payload_buffer(&mut spare), None);
    c.receive(&sframe(TXT, b""));
    c.receive(&sframe(TXT, b"hi"));
    assert_eq!(c.poll_event().unwrap(), Some(Event::Text("")));
    assert_eq!(c.swap_payload_buffer(&mut spare), None);
    assert_eq!(c.poll_event().unwrap(), Some(Event::Text("hi")));
    assert_eq!(c.poll_event().unwrap(), None);
    assert_eq!(c.swap_payload_buffer(&mut spare), None);
    assert_eq!(spare, [5; 4]);
}

// `swap_output` hands over exactly what `take_output` would (also after a
// partial `consume_output`), and later output goes into the spare.
#[test]
fn swap_output_matches_take_output() {
    let mut a = server();
    let mut b = server();
    for c in [&mut a, &mut b] {
        c.send_binary(&payload(1000, 5)).unwrap();
        c.consume_output(7);
        c.send_text("after").unwrap();
    }
    let mut spare = Vec::with_capacity(4096);
    spare.extend_from_slice(b"stale");
    let spare_ptr = spare.as_ptr();
    b.swap_output(&mut spare);
    assert_eq!(spare, a.take_output());
    assert!(b.output().is_empty());
    a.send_text("next").unwrap();
    b.send_text("next").unwrap();
    assert_eq!(b.output(), a.output());
    assert_eq!(b.output().as_ptr(), spare_ptr, "the connection writes into the spare's memory");
}

// `frame_payload_to_come` counts what is missing of a data frame once the
// buffer is decoded, and nothing otherwise; cutting a read there ends the
// message exactly at the end of the buffer, so nothing follows it.
#[test]
fn frame_payload_to_come_then_cut_read() {
    let first = payload(100_000, 6);
    let mut wire = cframe(BIN, &first);
    let next = cframe(BIN, b"next");
    wire.extend_from_slice(&next);
    let mut c = server();
    assert_eq!(c.frame_payload_to_come(), None);
    c.receive(&wire[..60_000]);
    assert_eq!(c.frame_payload_to_come(), None, "not decoded yet");
    assert_eq!(c.poll_event().unwrap(), None);
    let to_come = c.frame_payload_to_come().unwrap() as usize;
    assert_eq!(to_come, 100_014 - 60_000);
    let rest = &wire[60_000..];
    c.receive(&rest[..to_come]);
    assert_eq!(next_binary(&mut c), first);
    let mut spare = Vec::new();
    let range = c.swap_payload_buffer(&mut spare).unwrap();
    assert_eq!(range.end, spare.len(), "the message ends the buffer");
    assert_eq!(c.frame_payload_to_come(), None);
    c.receive(&rest[to_come..]);
    assert_eq!(next_binary(&mut c), b"next");
    // A control frame's payload is not counted (it is decoded whole).
    let ping = cframe(PING, b"abc");
    c.receive(&ping[..7]);
    assert_eq!(c.poll_event().unwrap(), None);
    assert_eq!(c.frame_payload_to_come(), None);
}

/// Text of `len` bytes with 2-, 3- and 4-byte code points.
fn text(len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        s.push_str("κόσμε € 𝄞 text ");
    }
    s
}

// Large text messages that arrive in one read are validated while they are
// copied in (and then not again); handing the buffer over between them
// must not make the decoder trust the wrong message: a valid one, then one
// with an invalid byte (1007), both roles.
#[test]
fn text_checked_on_the_way_in_survives_a_handover() {
    let good = text(40_000);
    let mut bad = text(40_000).into_bytes();
    bad[30_000] = 0xff;
    for (mut c, enc) in [(server(), cframe as fn(u8, &[u8]) -> Vec<u8>), (client(), sframe)] {
        let wire = cat(&[&enc(TXT, good.as_bytes()), &enc(TXT, good.as_bytes()), &enc(TXT, &bad)]);
        c.receive(&wire);
        for _ in 0..2 {
            match c.poll_event().unwrap() {
                Some(Event::Text(t)) => assert_eq!(t, good),
                other => panic!("expected the text, got {other:?}"),
            }
            let mut spare = Vec::new();
            assert!(c.swap_payload_buffer(&mut spare).is_some());
        }
        let e = c.poll_event().unwrap_err();
        assert_eq!(e.close_code(), Some(1007));
    }
}
