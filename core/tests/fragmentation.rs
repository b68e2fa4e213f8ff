//! Fragmentation (RFC 6455 §5.4) on both the receive and the send side,
//! and partial delivery of messages as their bytes arrive.

mod common;

use common::*;
use wsproto_core::{Config, DataKind, ErrorKind, State};

fn partial() -> Config {
    Config { partial_messages: true, ..Config::default() }
}

// §5.4: a message in several frames is delivered once, whole, with the
// type of its first frame; empty fragments are allowed anywhere.
#[test]
fn fragmented_messages_are_reassembled() {
    let input = cat(&[
        &cfrag(TXT, b"", false),
        &cfrag(CONT, b"frag", false),
        &cfrag(CONT, b"", false),
        &cfrag(CONT, b"mented", true),
        &cfrag(BIN, &[1, 2], false),
        &cfrag(CONT, &[3], true),
        &cfrag(TXT, b"", false),
        &cfrag(CONT, b"", true),
    ]);
    Run::new(server).expect(&input, &[Ev::text("fragmented"), Ev::binary(&[1, 2, 3]), Ev::text("")], b"");
    // The same from the server to a client.
    let input = cat(&[&sfrag(BIN, b"ab", false), &sfrag(CONT, b"cd", true), &sframe(TXT, b"x")]);
    Run::new(client).expect(&input, &[Ev::binary(b"abcd"), Ev::text("x")], b"");
}

// §5.4: a long message in many frames of various sizes (16-bit lengths
// included) reassembles byte for byte.
#[test]
fn many_fragments_of_mixed_sizes() {
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 253) as u8).collect();
    let mut input = Vec::new();
    let mut pos = 0;
    for (i, size) in [1usize, 200, 0, 126, 1000, 7, 125, 1541].iter().enumerate() {
        let op = if i == 0 { BIN } else { CONT };
        let end = (pos + size).min(data.len());
        input.extend(cfrag(op, &data[pos..end], end == data.len()));
        pos = end;
    }
    assert_eq!(pos, data.len());
    Run::new(server).expect(&input, &[Ev::Binary(data)], b"");
}

// partial_messages: pieces are delivered as they arrive and add up to the
// message; the last piece has fin set (checked by the runner, which joins
// pieces and requires fin to close each message).
#[test]
fn partial_messages_deliver_pieces() {
    let big: Vec<u8> = (0..5000u32).map(|i| (i % 7) as u8 + b'a').collect();
    let input = cat(&[
        &cframe(TXT, b"whole"),
        &cfrag(BIN, &big[..3000], false),
        &cframe(PING, b"mid"),
        &cfrag(CONT, &big[3000..], true),
        &cframe(TXT, b""),
        &cfrag(TXT, "€uro".as_bytes(), false),
        &cfrag(CONT, b"", true),
    ]);
    Run::new(|| server_with(partial())).expect(
        &input,
        &[
            Ev::TextChunks(b"whole".to_vec()),
            Ev::Ping(b"mid".to_vec()),
            Ev::BinaryChunks(big.clone()),
            Ev::TextChunks(vec![]),
            Ev::TextChunks("€uro".as_bytes().to_vec()),
        ],
        &sframe(PONG, b"mid"),
    );
}

// partial_messages: a piece is delivered before the frame is complete
// (nothing is buffered waiting for the rest of the frame).
#[test]
fn partial_messages_do_not_wait_for_the_frame() {
    let frame = cframe(BIN, &[9u8; 1000]);
    let mut s = server_with(partial());
    s.receive(&frame[..8 + 400]);
    let mut got = Vec::new();
    while let Some(e) = s.poll_event().unwrap() {
        let wsproto_core::Event::BinaryChunk { data, fin } = e else { panic!("{e:?}") };
        assert!(!fin);
        got.extend_from_slice(data);
    }
    assert_eq!(got, vec![9u8; 400]);
    assert_eq!(s.buffered_in(), 0);
    s.receive(&frame[8 + 400..]);
    let e = s.poll_event().unwrap().unwrap();
    assert_eq!(e, wsproto_core::Event::BinaryChunk { data: &[9u8; 600], fin: true });
}

// §5.4: the sender's fragments: first frame carries the opcode, the rest
// are continuations, FIN only on the last (server frames, exact bytes).
#[test]
fn send_fragment_bytes() {
    let mut s = server();
    s.send_fragment(DataKind::Text, b"he", false).unwrap();
    s.send_ping(b"!").unwrap(); // control frames may be interleaved
    s.send_fragment(DataKind::Text, b"l", false).unwrap();
    s.send_fragment(DataKind::Text, b"lo", true).unwrap();
    s.send_fragment(DataKind::Binary, b"", true).unwrap();
    let expected = cat(&[
        &sfrag(TXT, b"he", false),
        &sframe(PING, b"!"),
        &sfrag(CONT, b"l", false),
        &sfrag(CONT, b"lo", true),
        &sframe(BIN, b""),
    ]);
    assert_eq!(Hex(&s.take_output()), Hex(&expected));

    // A client's fragments are masked, each with its own key.
    let mut c = client();
    c.send_fragment(DataKind::Binary, b"ab", false).unwrap();
    c.send_fragment(DataKind::Binary, b"cd", true).unwrap();
    let mut w = ClientWire::open();
    let expected = cat(&[&w.frag(BIN, b"ab", false), &w.frag(CONT, b"cd", true)]);
    assert_eq!(Hex(&c.take_output()), Hex(&expected));
}

// §5.4: a fragmented message must be finished before another starts, and
// continues with the same type; violations are local errors that send
// nothing.
#[test]
fn send_fragment_misuse() {
    let mut s = server();
    s.send_fragment(DataKind::Text, b"a", false).unwrap();
    s.take_output();
    for e in [
        s.send_text("x").unwrap_err(),
        s.send_binary(b"x").unwrap_err(),
        s.send_fragment(DataKind::Binary, b"x", true).unwrap_err(),
    ] {
        assert_eq!((e.kind(), e.is_local()), (ErrorKind::FragmentMismatch, true));
    }
    assert_eq!(s.output(), b"");
    s.send_fragment(DataKind::Text, b"b", true).unwrap();
    s.send_text("next").unwrap();
    assert_eq!(s.take_output(), cat(&[&sfrag(CONT, b"b", true), &sframe(TXT, b"next")]));
}

// §8.1 on the send side: text fragments may split a code point, but the
// whole message must be UTF-8.
#[test]
fn send_text_fragments_are_validated_across_boundaries() {
    let euro = "€".as_bytes();
    let mut s = server();
    s.send_fragment(DataKind::Text, &euro[..1], false).unwrap();
    s.send_fragment(DataKind::Text, &euro[1..], true).unwrap();
    assert_eq!(s.take_output(), cat(&[&sfrag(TXT, &euro[..1], false), &sfrag(CONT, &euro[1..], true)]));
    let e = s.send_fragment(DataKind::Text, b"\xff", true).unwrap_err();
    assert_eq!((e.kind(), e.is_local()), (ErrorKind::InvalidArgument, true));
    let e = s.send_fragment(DataKind::Text, &euro[..2], true).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    // A rejected fragment does not disturb the message in progress.
    s.send_fragment(DataKind::Text, &euro[..2], false).unwrap();
    let e = s.send_fragment(DataKind::Text, b"a", true).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    s.send_fragment(DataKind::Text, &euro[2..], true).unwrap();
    assert_eq!(s.take_output(), cat(&[&sfrag(TXT, &euro[..2], false), &sfrag(CONT, &euro[2..], true)]));
    assert_eq!(s.state(), State::Open);
}

// Our own fragments arrive whole at our own peer, both directions.
#[test]
fn own_fragments_roundtrip() {
    let mut c = client();
    c.send_fragment(DataKind::Text, "κό".as_bytes(), false).unwrap();
    c.send_fragment(DataKind::Text, "σμε".as_bytes(), true).unwrap();
    let wire = c.take_output();
    Run::new(server).expect(&wire, &[Ev::text("κόσμε")], b"");
    let mut s = server();
    s.send_fragment(DataKind::Binary, &[0; 300], false).unwrap();
    s.send_fragment(DataKind::Binary, &[1; 3], true).unwrap();
    let wire = s.take_output();
    let mut expected = vec![0u8; 300];
    expected.extend([1, 1, 1]);
    Run::new(client).expect(&wire, &[Ev::Binary(expected)], b"");
}
