//! Batched decoding: a binding that decodes a batch of events before its
//! program sees the first of them (the Node addon does, to cross into
//! JavaScript once per batch) must put the same bytes on the wire as a
//! program that takes events one at a time and answers each at once.
//!
//! What could differ is what the core writes by itself while decoding: the
//! close frame of a failure (RFC 6455 §7.1.7), the answer to a close
//! (§5.5.1) and the pong of a ping (§5.5.2). The batch uses
//! `poll_event_before_failure` and stops before a close or ping frame
//! (`control_frame_next`), so each of them follows the answers to the
//! messages before it, and those answers are still allowed.

mod common;

use common::*;
use wsproto_core::frame::OpCode;
use wsproto_core::{Config, Connection, Event, State};

/// What the program does with a message: echo it.
fn answer(conn: &mut Connection, ev: &Ev) {
    let r = match ev {
        Ev::Text(t) => conn.send_text(t),
        Ev::Binary(b) => conn.send_binary(b),
        _ => return,
    };
    r.expect("the echo of a message received while open is allowed");
}

/// One event at a time, each answered before the next is decoded.
fn sequential(make: &dyn Fn() -> Connection, pieces: &[&[u8]]) -> (Vec<Ev>, Vec<u8>, State) {
    let mut conn = make();
    let mut events = Vec::new();
    for piece in pieces {
        conn.receive(piece);
        loop {
            let ev = match conn.poll_event() {
                Ok(Some(e)) => Ev::from(e),
                Ok(None) => break,
                Err(e) => {
                    events.push(Ev::from_error(&e));
                    break;
                }
            };
            answer(&mut conn, &ev);
            events.push(ev);
        }
    }
    (events, conn.take_output(), conn.state())
}

/// Batches: everything decodable (up to a held failure or a control frame
/// after other events) is decoded first, then the batch is answered.
fn batched(make: &dyn Fn() -> Connection, pieces: &[&[u8]]) -> (Vec<Ev>, Vec<u8>, State) {
    let mut conn = make();
    let mut events = Vec::new();
    for piece in pieces {
        conn.receive(piece);
        loop {
            let mut batch = Vec::new();
            let mut failed = false;
            loop {
                if !batch.is_empty() && matches!(conn.control_frame_next(), Some(OpCode::Close | OpCode::Ping)) {
                    break;
                }
                let polled = if batch.is_empty() { conn.poll_event() } else { conn.poll_event_before_failure() };
                match polled {
                    Ok(Some(e)) => batch.push(Ev::from(e)),
                    Ok(None) => break,
                    Err(e) => {
                        batch.push(Ev::from_error(&e));
                        failed = true;
                        break;
                    }
                }
            }
            let held = conn.failure_held();
            let more = !batch.is_empty() && !failed;
            for ev in &batch {
                answer(&mut conn, ev);
            }
            events.extend(batch);
            if !(held || more) {
                break;
            }
        }
    }
    (events, conn.take_output(), conn.state())
}

impl From<Event<'_>> for Ev {
    fn from(e: Event<'_>) -> Ev {
        match e {
            Event::Text(t) => Ev::Text(t.to_owned()),
            Event::Binary(b) => Ev::Binary(b.to_vec()),
            Event::Ping(p) => Ev::Ping(p.to_vec()),
            Event::Pong(p) => Ev::Pong(p.to_vec()),
            Event::Close { code, reason } => Ev::Close(code, reason.to_owned()),
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// Asserts that batches and single events agree for `input` delivered
/// whole, a byte at a time and split in two at every point, and that the
/// output is `output`.
fn agree(make: &dyn Fn() -> Connection, input: &[u8], events: &[Ev], output: &[u8]) {
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let mut cuts: Vec<Vec<&[u8]>> = vec![vec![input], bytes];
    for cut in 1..input.len() {
        let (a, b) = input.split_at(cut);
        cuts.push(vec![a, b]);
    }
    for pieces in &cuts {
        let one = sequential(make, pieces);
        assert_eq!(one.0, events, "events, one at a time, in {} pieces", pieces.len());
        assert_eq!(Hex(&one.1), Hex(output), "output, one at a time, in {} pieces", pieces.len());
        let many = batched(make, pieces);
        assert_eq!(many, one, "batched differs from one at a time, in {} pieces", pieces.len());
    }
}

// §7.1.7: the message before a bad frame is answered, then the connection
// fails with 1002.
#[test]
fn message_before_a_bad_frame_is_answered_first() {
    let bad = raw_frame(0x80 | 0x20 | TXT, Some(KEY), b"Hello"); // RSV2
    let input = cat(&[&cframe(TXT, b"Hello"), &bad, &cframe(PING, b"")]);
    let out = sequential(&server, &[&input]);
    assert_eq!(out.0[0], Ev::text("Hello"));
    assert!(matches!(out.0[1], Ev::Error { close_code: Some(1002), .. }), "{:?}", out.0);
    let echo = sframe(TXT, b"Hello");
    assert_eq!(Hex(&out.1[..echo.len()]), Hex(&echo));
    assert_eq!(&out.1[echo.len()..][..1], &[0x88], "then the close, and no pong");
    assert_eq!(&out.1[echo.len() + 2..][..2], &1002u16.to_be_bytes());
    agree(&server, &input, &out.0, &out.1);
}

// §8.1: the same for invalid UTF-8 in the next message (1007), and for a
// reserved opcode after several messages.
#[test]
fn messages_before_invalid_text_or_opcode_are_answered_first() {
    let input = cat(&[&cframe(BIN, b"\x00\x01"), &cframe(TXT, b"ok"), &cframe(TXT, b"\xce\xba\xff")]);
    let out = sequential(&server, &[&input]);
    assert_eq!(out.0.len(), 3);
    assert_eq!(out.0[2], Ev::err(wsproto_core::ErrorKind::InvalidUtf8, 1007));
    agree(&server, &input, &out.0, &out.1);
    let input = cat(&[&cframe(TXT, b"a"), &cframe(TXT, b"b"), &raw_frame(0x83, Some(KEY), b"x")]);
    let out = sequential(&server, &[&input]);
    assert_eq!(&out.0[..2], &[Ev::text("a"), Ev::text("b")]);
    assert!(out.1.starts_with(&cat(&[&sframe(TXT, b"a"), &sframe(TXT, b"b")])));
    agree(&server, &input, &out.0, &out.1);
}

// §5.5.2: with auto_pong, a ping's pong follows the answers to the
// messages before it (here a message in fragments, a ping after each).
#[test]
fn pongs_follow_the_answers_before_them() {
    let input = cat(&[
        &cfrag(TXT, b"A", false),
        &cframe(PING, b"a"),
        &cfrag(CONT, b"B", true),
        &cframe(PING, b"b"),
        &cframe(BIN, b"C"),
        &cframe(PING, b"c"),
    ]);
    let want =
        cat(&[&sframe(PONG, b"a"), &sframe(TXT, b"AB"), &sframe(PONG, b"b"), &sframe(BIN, b"C"), &sframe(PONG, b"c")]);
    let events =
        [Ev::Ping(b"a".to_vec()), Ev::text("AB"), Ev::Ping(b"b".to_vec()), Ev::binary(b"C"), Ev::Ping(b"c".to_vec())];
    agree(&server, &input, &events, &want);
}

// §5.5.1: a message that came with the close is answered before the close
// is echoed.
#[test]
fn message_before_a_close_is_answered_first() {
    let input = cat(&[&cframe(TXT, b"last"), &cclose(1001, "bye")]);
    let want = cat(&[&sframe(TXT, b"last"), &sclose(1001, "")]);
    agree(&server, &input, &[Ev::text("last"), Ev::close(1001, "bye")], &want);
}

// A client batches the same way (unmasked input, masked answers).
#[test]
fn client_batches_agree() {
    let make = || client_with(Config::default());
    let bad = raw_frame(0x80 | 0x10 | BIN, None, b"x"); // RSV1
    let input = cat(&[&sframe(TXT, b"one"), &sframe(PING, b"p"), &sframe(TXT, b"two"), &bad]);
    let out = sequential(&make, &[&input]);
    assert_eq!(out.0.len(), 4);
    agree(&make, &input, &out.0, &out.1);
}

// While a failure is held nothing more is decoded or buffered, the state is
// unchanged, and the next `poll_event` acts on it exactly once.
#[test]
fn a_held_failure_is_reported_once() {
    let mut s = server();
    s.receive(&cat(&[&cframe(TXT, b"x"), &raw_frame(0x8f, Some(KEY), b"")]));
    assert!(matches!(s.poll_event(), Ok(Some(Event::Text("x")))));
    assert!(matches!(s.poll_event_before_failure(), Ok(None)));
    assert!(s.failure_held());
    assert_eq!(s.state(), State::Open);
    assert_eq!(s.buffered_out(), 0, "no close frame yet");
    s.receive(&cframe(TXT, b"after the bad frame"));
    assert_eq!(s.buffered_in(), 0, "input after a held failure is dropped");
    assert!(matches!(s.poll_event_before_failure(), Ok(None)));
    s.send_text("x").unwrap();
    let err = s.poll_event().unwrap_err();
    assert_eq!(err.close_code(), Some(1002));
    assert!(!s.failure_held());
    assert_eq!(s.state(), State::Closed);
    assert!(matches!(s.poll_event(), Ok(None)));
    let out = s.take_output();
    let echo = sframe(TXT, b"x");
    assert_eq!(Hex(&out[..echo.len()]), Hex(&echo), "what the program sent goes first");
    assert_eq!(out[echo.len()], 0x88);
    assert_eq!(&out[echo.len() + 2..][..2], &1002u16.to_be_bytes());
}

// The program may close while the failure is held: its close goes out and
// no second close follows.
#[test]
fn closing_while_a_failure_is_held_sends_one_close() {
    let mut s = server();
    s.receive(&cat(&[&cframe(TXT, b"x"), &raw_frame(0x83, Some(KEY), b"")]));
    assert!(matches!(s.poll_event(), Ok(Some(_))));
    assert!(matches!(s.poll_event_before_failure(), Ok(None)));
    s.close(1000, "done").unwrap();
    assert_eq!(s.poll_event().unwrap_err().close_code(), Some(1002));
    assert_eq!(Hex(&s.take_output()), Hex(&sclose(1000, "done")));
    assert_eq!(s.state(), State::Closed);
}
