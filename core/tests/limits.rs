//! Resource limits: frame size, message size, fragment count (all 1009,
//! RFC 6455 §7.4.1), checked when a header arrives, before any payload is
//! buffered; and memory that stays flat under floods of tiny frames.

mod common;

use common::*;
use wsproto_core::{Config, ErrorKind, State};

fn limited(frame: u64, message: u64, fragments: u32) -> Config {
    Config { max_frame_size: frame, max_message_size: message, max_fragments: fragments, ..Config::default() }
}

// A frame over max_frame_size fails with 1009 from its header alone.
#[test]
fn frame_size_limit() {
    let cfg = limited(10, 1000, 100);
    let run = Run::new(|| server_with(cfg.clone()));
    run.expect(&cframe(BIN, &[0; 10]), &[Ev::Binary(vec![0; 10])], b"");
    let frame = cframe(BIN, &[0; 11]);
    run.expect(&frame[..6], &[Ev::err(ErrorKind::TooBig, 1009)], &sclose(1009, "frame larger than the limit"));
    run.expect(&frame, &[Ev::err(ErrorKind::TooBig, 1009)], &sclose(1009, "frame larger than the limit"));
    // The same for the fragments of a message, first or later, each
    // fully buffered (the decoder's fast path for small fragments).
    let ok = cat(&[&cfrag(TXT, b"0123456789", false), &cfrag(CONT, b"0123456789", true)]);
    run.expect(&ok, &[Ev::text("01234567890123456789")], b"");
    for (first, second) in [(11, 1), (1, 11)] {
        let input = cat(&[&cfrag(BIN, &vec![7; first], false), &cfrag(CONT, &vec![8; second], true)]);
        run.expect(&input, &[Ev::err(ErrorKind::TooBig, 1009)], &sclose(1009, "frame larger than the limit"));
    }
}

// A message over max_message_size fails with 1009 at the header of the
// frame that would exceed it, before that frame's payload arrives.
#[test]
fn message_size_limit() {
    let cfg = limited(100, 10, 100);
    let run = Run::new(|| server_with(cfg.clone()));
    let ok = cat(&[&cfrag(TXT, b"12345", false), &cfrag(CONT, b"67890", true)]);
    run.expect(&ok, &[Ev::text("1234567890")], b"");
    let too_big = cat(&[&cfrag(TXT, b"123456", false), &cfrag(CONT, b"78901", true)[..6]]);
    run.expect(&too_big, &[Ev::err(ErrorKind::TooBig, 1009)], &sclose(1009, "message larger than the limit"));
    // A single frame over the message limit.
    run.expect(
        &cframe(BIN, &[0; 11])[..6],
        &[Ev::err(ErrorKind::TooBig, 1009)],
        &sclose(1009, "message larger than the limit"),
    );
}

// A huge announced length (2^62) with default limits: 1009 from the
// header; nothing the size of the claim is allocated (the test would abort).
#[test]
fn huge_announced_length_fails_at_the_header() {
    let mut input = vec![0x82, 0xff];
    input.extend_from_slice(&(1u64 << 62).to_be_bytes());
    input.extend_from_slice(&KEY);
    Run::new(server).expect(&input, &[Ev::err(ErrorKind::TooBig, 1009)], &sclose(1009, "frame larger than the limit"));
    // Also when frames may be huge but messages not.
    let cfg = Config { max_frame_size: u64::MAX, max_message_size: 1 << 20, ..Config::default() };
    Run::new(|| server_with(cfg.clone())).expect(
        &input,
        &[Ev::err(ErrorKind::TooBig, 1009)],
        &sclose(1009, "message larger than the limit"),
    );
    // And on a client.
    let mut input = vec![0x82, 0x7f];
    input.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
    let mut w = ClientWire::open();
    Run::new(client).expect(&input, &[Ev::err(ErrorKind::TooBig, 1009)], &w.close(1009, "frame larger than the limit"));
}

// max_fragments bounds the frames of one message.
#[test]
fn fragment_count_limit() {
    let cfg = limited(100, 100, 3);
    let run = Run::new(|| server_with(cfg.clone()));
    let three = cat(&[&cfrag(TXT, b"a", false), &cfrag(CONT, b"b", false), &cfrag(CONT, b"c", true)]);
    run.expect(&three, &[Ev::text("abc")], b"");
    let four = cat(&[
        &cfrag(TXT, b"a", false),
        &cfrag(CONT, b"b", false),
        &cfrag(CONT, b"c", false),
        &cfrag(CONT, b"d", true),
    ]);
    run.expect(&four, &[Ev::err(ErrorKind::TooBig, 1009)], &sclose(1009, "message has too many fragments"));
    // The count starts again for each message; control frames do not count.
    let input = cat(&[&three, &cframe(PING, b""), &three]);
    run.expect(&input, &[Ev::text("abc"), Ev::Ping(vec![]), Ev::text("abc")], &sframe(PONG, b""));
}

// partial_messages still enforces the message limit (the application never
// holds more than the limit of one message).
#[test]
fn partial_messages_respect_message_limit() {
    let cfg = Config { partial_messages: true, ..limited(100, 10, 100) };
    let run = Run::new(|| server_with(cfg.clone()));
    let input = cat(&[&cfrag(BIN, &[1; 8], false), &cfrag(CONT, &[2; 3], true)]);
    let out = run.check(&input);
    assert_eq!(out.events, vec![Ev::err(ErrorKind::TooBig, 1009)]);
    assert_eq!(out.output, sclose(1009, "message larger than the limit"));
}

// A flood of 1,000,000 empty continuation frames (allowed by a raised
// fragment cap) costs no memory: nothing stays buffered between reads.
#[test]
fn flood_of_empty_continuations_does_not_grow_memory() {
    const N: usize = 1_000_000;
    let cfg = Config { max_fragments: 2_000_000, ..Config::default() };
    let mut s = server_with(cfg);
    s.receive(&cfrag(TXT, b"a", false));
    assert_eq!(s.poll_event().unwrap(), None);
    let empty = cfrag(CONT, b"", false);
    let batch: Vec<u8> = empty.iter().copied().cycle().take(empty.len() * 10_000).collect();
    let mut max_buffered = 0;
    for i in 0..N / 10_000 {
        // Cut each batch off-frame so a header straddles two reads.
        let cut = 7 + i % 5;
        for piece in [&batch[..cut], &batch[cut..]] {
            s.receive(piece);
            assert_eq!(s.poll_event().unwrap(), None);
            max_buffered = max_buffered.max(s.buffered_in());
        }
    }
    // Only the message's one real byte (and at most a partial header) are held.
    assert!(max_buffered <= 1 + 14, "buffered {max_buffered} bytes");
    s.receive(&cfrag(CONT, b"z", true));
    assert_eq!(s.poll_event().unwrap(), Some(wsproto_core::Event::Text("az")));
    assert_eq!(s.poll_event().unwrap(), None);
    assert_eq!(s.buffered_in(), 0);
    assert_eq!(s.output(), b"");
    assert_eq!(s.state(), State::Open);
}

// The same flood in partial mode: each empty frame is reported as an empty
// piece (partial mode reports every frame), and nothing is held.
#[test]
fn flood_in_partial_mode() {
    let cfg = Config { max_fragments: 200_000, partial_messages: true, ..Config::default() };
    let mut s = server_with(cfg);
    s.receive(&cfrag(BIN, b"", false));
    assert_eq!(s.poll_event().unwrap(), Some(wsproto_core::Event::BinaryChunk { data: b"", fin: false }));
    assert_eq!(s.poll_event().unwrap(), None);
    let empty = cfrag(CONT, b"", false);
    let batch: Vec<u8> = empty.iter().copied().cycle().take(empty.len() * 100_000).collect();
    s.receive(&batch);
    let mut pieces = 0;
    while let Some(event) = s.poll_event().unwrap() {
        assert_eq!(event, wsproto_core::Event::BinaryChunk { data: b"", fin: false });
        pieces += 1;
    }
    assert_eq!(pieces, 100_000);
    assert_eq!(s.buffered_in(), 0);
    s.receive(&cfrag(CONT, b"", true));
    assert_eq!(s.poll_event().unwrap(), Some(wsproto_core::Event::BinaryChunk { data: b"", fin: true }));
}

// release_memory leaves an idle connection with nothing buffered, and it
// keeps working afterwards.
#[test]
fn release_memory_keeps_working() {
    let mut s = server();
    s.receive(&cframe(BIN, &[5; 5000])[..3000]);
    assert_eq!(s.poll_event().unwrap(), None);
    s.release_memory(); // a frame is half-received: nothing may be lost
    s.receive(&cframe(BIN, &[5; 5000])[3000..]);
    assert_eq!(poll_all(&mut s), vec![Ev::Binary(vec![5; 5000])]);
    s.release_memory();
    assert_eq!(s.buffered_in(), 0);
    s.receive(&cframe(TXT, b"again"));
    assert_eq!(poll_all(&mut s), vec![Ev::text("again")]);
}
