//! Large single-frame messages that arrive over several reads: their
//! payload goes into a buffer of its own instead of the input buffer
//! (`frame::unmasker`'s "diverted" payloads). None of that may be visible:
//! the events, the close codes, the output and `buffered_in` must be what
//! they are for any other message, however the reads are cut (RFC 6455
//! §5.2 framing, §5.3 masking, §8.1 UTF-8, §10.4 limits).

mod common;

use common::*;
use wsproto_core::{Config, Connection, ErrorKind, Event, State};

/// Mixed text: ASCII and 2-, 3- and 4-byte UTF-8, about `len` bytes.
fn text(len: usize, seed: usize) -> String {
    let pieces = ["abc", "é", "€uro", "😀", " ", "ß", "日本語", "z"];
    let mut s = String::new();
    let mut i = seed;
    while s.len() < len {
        s.push_str(pieces[i % pieces.len()]);
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    s
}

fn binary(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 131 + seed) % 251) as u8).collect()
}

/// Feeds `wire` in reads of `size` bytes, polling after each (or only at
/// the end), and returns what came out.
fn in_reads(run: &Run<'_>, wire: &[u8], size: usize) -> Outcome {
    let pieces: Vec<&[u8]> = wire.chunks(size).collect();
    run.feed(&pieces)
}

/// Messages a client sends (masked): large ones of both kinds, a control
/// frame between them, a fragmented large one, one just at the threshold,
/// and small ones.
fn client_stream() -> (Vec<u8>, Vec<Ev>, Vec<u8>) {
    let big = binary(70_000, 1);
    let t = text(40_000, 2);
    let at_threshold = binary(16 << 10, 3);
    let (f1, f2) = t.as_bytes().split_at(20_001); // inside a code point
    let wire = cat(&[
        &cframe(BIN, &big),
        &cframe(TXT, t.as_bytes()),
        &cframe(PING, b"p"),
        &cframe(BIN, &at_threshold),
        &cframe(TXT, b"small"),
        &cfrag(TXT, f1, false),
        &cframe(PING, b"q"),
        &cfrag(CONT, f2, true),
        &cframe(BIN, &big[..20_000]),
        &cframe(BIN, &big[..17_000]),
    ]);
    let events = vec![
        Ev::binary(&big),
        Ev::text(&t),
        Ev::Ping(b"p".to_vec()),
        Ev::binary(&at_threshold),
        Ev::text("small"),
        Ev::Ping(b"q".to_vec()),
        Ev::text(&t),
        Ev::binary(&big[..20_000]),
        Ev::binary(&big[..17_000]),
    ];
    let pongs = cat(&[&sframe(PONG, b"p"), &sframe(PONG, b"q")]);
    (wire, events, pongs)
}

// §5.2, §5.3: a server receives large masked messages exactly, whole, a
// byte at a time, split at every (sampled) point and in reads of many
// sizes, polled after every read or only at the end.
#[test]
fn server_receives_large_messages_at_every_cut() {
    let (wire, events, pongs) = client_stream();
    let run = Run::new(server);
    run.expect(&wire, &events, &pongs);
    for size in [1000, 4096, 16_383, 16_384, 40_000, 65_536, 100_000] {
        let got = in_reads(&run, &wire, size);
        assert_eq!(got.events, events, "reads of {size}");
        assert_eq!(Hex(&got.output), Hex(&pongs), "reads of {size}");
    }
}

// The same stream from a server to a client (unmasked frames).
#[test]
fn client_receives_large_messages_at_every_cut() {
    let big = binary(70_000, 4);
    let t = text(50_000, 5);
    let wire = cat(&[
        &sframe(TXT, t.as_bytes()),
        &sframe(BIN, &big),
        &sframe(PING, b"x"),
        &sframe(BIN, &big[..30_000]),
        &sframe(BIN, b"tiny"),
        &sframe(TXT, &t.as_bytes()[..20_000]),
    ]);
    let events = vec![
        Ev::text(&t),
        Ev::binary(&big),
        Ev::Ping(b"x".to_vec()),
        Ev::binary(&big[..30_000]),
        Ev::binary(b"tiny"),
        Ev::text(&t[..20_000]),
    ];
    let pong = ClientWire::open().frame(PONG, b"x");
    let run = Run::new(client);
    run.expect(&wire, &events, &pong);
    for size in [999, 4096, 20_000, 65_536] {
        let got = in_reads(&run, &wire, size);
        assert_eq!(got.events, events, "reads of {size}");
    }
}

// §8.1: an invalid byte in a large text message fails the connection with
// 1007 as soon as it arrives, not when the message is complete, and with
// the same close frame as when the message arrives in one read.
#[test]
fn invalid_text_fails_when_the_bad_byte_arrives() {
    let good = text(40_000, 6).into_bytes();
    for at in [0, 1, 4095, 4096, 20_000, 39_999] {
        let mut bad = good.clone();
        bad[at] = 0xff;
        let wire = cframe(TXT, &bad);
        let header = wire.len() - bad.len();
        let whole = Run::new(server).feed(&[&wire]);
        assert_eq!(whole.events, vec![Ev::err(ErrorKind::InvalidUtf8, 1007)], "bad byte at {at}");
        // Everything before the bad byte is quiet; the bad byte fails it.
        let mut c = server();
        for piece in wire[..header + at].chunks(3000) {
            c.receive(piece);
            assert_eq!(c.poll_event().unwrap(), None, "before the bad byte at {at}");
        }
        c.receive(&wire[header + at..header + at + 1]);
        let err = c.poll_event().expect_err("the bad byte fails the connection");
        assert_eq!((err.kind(), err.close_code()), (ErrorKind::InvalidUtf8, Some(1007)));
        assert_eq!(c.state(), State::Closed);
        assert_eq!(Hex(&c.take_output()), Hex(&whole.output), "the close frame, bad byte at {at}");
        // Split anywhere else, the outcome is the same.
        Run::new(server).check(&wire);
    }
    // A message that ends inside a code point: the same error and reason
    // as in one read.
    let mut cut = good.clone();
    cut.extend_from_slice("€".as_bytes().split_at(2).0);
    let wire = cframe(TXT, &cut);
    let out = Run::new(server).check(&wire);
    assert_eq!(out.events, vec![Ev::err(ErrorKind::InvalidUtf8, 1007)]);
    let mut c = server();
    for piece in wire.chunks(5000) {
        c.receive(piece);
    }
    let err = c.poll_event().expect_err("ends inside a code point");
    assert_eq!(err.detail(), "text message ends inside a code point");
    let mut c = server();
    c.receive(&wire);
    assert_eq!(c.poll_event().expect_err("in one read").detail(), err.detail());
}

// `swap_payload_buffer` hands a diverted payload over in a buffer that
// holds exactly it; `buffered_in` counts its bytes while they arrive.
#[test]
fn handover_and_buffered_bytes() {
    let first = binary(70_000, 7);
    let second = binary(50_000, 8);
    let wire = cat(&[&cframe(BIN, &first), &cframe(BIN, &second), &cframe(BIN, b"after")]);
    // (header, payload) lengths on the wire.
    let frames = [(14, 70_000), (8, 50_000), (6, 5)];
    let mut c = server();
    let mut received = 0;
    let mut spare = vec![1, 2, 3];
    let mut got = Vec::new();
    for piece in wire.chunks(4096) {
        c.receive(piece);
        received += piece.len();
        while let Some(e) = c.poll_event().unwrap() {
            let len = match e {
                Event::Binary(b) => b.len(),
                other => panic!("unexpected {other:?}"),
            };
            let range = c.swap_payload_buffer(&mut spare).expect("a payload to hand over");
            assert_eq!(range.len(), len);
            got.push(spare[range].to_vec());
        }
        // Headers are consumed when decoded (the decoder decodes every
        // complete one it reaches); every payload byte received and not
        // handed out is buffered.
        let k = got.len();
        let consumed: usize = frames[..k].iter().map(|&(h, p)| h + p).sum();
        let next_header = match frames.get(k) {
            Some(&(h, _)) if received >= consumed + h => h,
            _ => 0,
        };
        assert_eq!(c.buffered_in(), received - consumed - next_header, "after {received} bytes");
    }
    assert_eq!(got, vec![first, second, b"after".to_vec()]);
    assert_eq!(c.buffered_in(), 0);
}

// §10.4: a frame larger than the limits is refused from its header, before
// its payload arrives (and without reserving room for it).
#[test]
fn limits_are_checked_before_any_payload() {
    let config = Config { max_message_size: 100_000, max_frame_size: 100_000, ..Config::default() };
    for len in [100_001u64, 1 << 40] {
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&len.to_be_bytes());
        header.extend_from_slice(&KEY);
        let out = Run::new(|| server_with(config.clone())).check(&cat(&[&header, &[0x55; 300]]));
        assert_eq!(out.events, vec![Ev::err(ErrorKind::TooBig, 1009)], "length {len}");
    }
    // Exactly at the limit is accepted.
    let at_limit = binary(100_000, 9);
    let run = Run::new(|| server_with(config.clone()));
    let got = in_reads(&run, &cframe(BIN, &at_limit), 4096);
    assert_eq!(got.events, vec![Ev::binary(&at_limit)]);
}

// §7.1.5: the stream ends inside a large payload: 1006, nothing else.
#[test]
fn end_of_stream_inside_a_large_payload() {
    let wire = cframe(BIN, &binary(70_000, 10));
    let run = Run::new(server).eof();
    let out = run.check(&wire[..30_000]);
    assert_eq!(out.events, vec![Ev::close(1006, "")]);
    let got = in_reads(&run, &wire[..30_000], 4096);
    assert_eq!(got.events, vec![Ev::close(1006, "")]);
}

// §5.5.1: a close frame right behind a large message, in the same read:
// the message, then the close, answered; nothing after it is decoded.
#[test]
fn close_behind_a_large_message() {
    let big = binary(40_000, 11);
    let wire = cat(&[&cframe(BIN, &big), &cclose(1000, "bye"), &cframe(BIN, &big)]);
    let run = Run::new(server);
    let out = run.expect(&wire, &[Ev::binary(&big), Ev::close(1000, "bye")], &sclose(1000, ""));
    assert_eq!(out.state, State::Closed);
    for size in [4096, 39_000, 65_536] {
        assert_eq!(in_reads(&run, &wire, size), out, "reads of {size}");
    }
}

// A connection with partial delivery or an extension never diverts, and a
// connection that released its memory goes on receiving.
#[test]
fn partial_delivery_and_released_memory() {
    let big = binary(70_000, 12);
    let wire = cat(&[&cframe(BIN, &big), &cframe(BIN, &big[..20_000])]);
    let partial = Config { partial_messages: true, ..Config::default() };
    let run = Run::new(|| server_with(partial.clone()));
    let got = in_reads(&run, &wire, 4096);
    assert_eq!(got.events, vec![Ev::BinaryChunks(big.clone()), Ev::BinaryChunks(big[..20_000].to_vec())]);

    let mut c: Connection = server();
    let mut events = Vec::new();
    for piece in wire.chunks(4096) {
        c.receive(piece);
        while let Some(e) = c.poll_event().unwrap() {
            events.push(Ev::binary(match e {
                Event::Binary(b) => b,
                other => panic!("unexpected {other:?}"),
            }));
        }
        c.release_memory();
    }
    assert_eq!(events, vec![Ev::binary(&big), Ev::binary(&big[..20_000])]);
}

// Where a diverted payload lands in its buffer, on x86-64 (copies run at
// full speed there; see `frame::unmasker::place`): shortly before its
// source modulo 4 KiB, whatever the allocator returned and wherever the
// caller's reads start; a payload under 256 KiB on a cache line, a larger
// one exactly 32 bytes before (so with its source's alignment). The bytes
// and the handed-over range are exact either way, and the same with the
// buffers kept (their padding reused) as with each handed over; and since
// the distance is taken along a contiguous input, it holds for reads of any
// size, a byte at a time and split anywhere too. (A payload that arrives
// whole in the read its header ends in is not diverted at all: it is
// handed out from the input buffer.)
#[test]
fn payload_lands_behind_its_source() {
    let big = binary(300_000, 9);
    let mid = binary(100_000, 5);
    let t = text(60_000, 4);
    let events = [Ev::binary(&big), Ev::binary(&mid), Ev::text(&t)];
    let payloads = [big.clone(), mid.clone(), t.as_bytes().to_vec()];
    for (role, once) in [
        ("server", cat(&[&cframe(BIN, &big), &cframe(BIN, &mid), &cframe(TXT, t.as_bytes())])),
        ("client", cat(&[&sframe(BIN, &big), &sframe(BIN, &mid), &sframe(TXT, t.as_bytes())])),
    ] {
        let make = if role == "server" { server } else { client };
        // Every cut of the stream, whole, a byte at a time: the same events.
        Run::new(make).expect(&once, &events, b"");
        let wire = once.repeat(2);
        // 2 bytes, then a 64-bit or 16-bit length, then a server's key.
        let header = |len: usize| 2 + if len > 65_535 { 8 } else { 2 } + if role == "server" { 4 } else { 0 };
        let splits = [1, 13, 14, 15, 150_000, wire.len() / 2, wire.len() - 1];
        let mut cases: Vec<(usize, Vec<usize>, bool)> = Vec::new();
        for shift in [0usize, 1, 7, 32, 63, 100, 4095] {
            cases.push((shift, vec![16 << 10], false));
            cases.push((shift, vec![16 << 10], true));
        }
        cases.push((0, vec![1], false));
        cases.push((4095, vec![1], true));
        for cut in splits {
            cases.push((7, vec![cut, wire.len() - cut], false));
        }
        for (shift, sizes, hand_over) in cases {
            let how = format!("{role}, reads from {shift} into a page, sizes {sizes:?}, hand-over {hand_over}");
            // The caller's read buffer starts `shift` bytes into a page.
            let mut backing = vec![0u8; wire.len() + 8192];
            let base = backing.as_ptr() as usize;
            let at = (4096 - base % 4096 + shift) % 4096;
            backing[at..at + wire.len()].copy_from_slice(&wire);
            let input = &backing[at..at + wire.len()];
            let mut pieces: Vec<&[u8]> = Vec::new();
            let mut rest = input;
            for size in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (piece, tail) = rest.split_at((*size).min(rest.len()));
                pieces.push(piece);
                rest = tail;
            }
            // Where each piece ends in `input`.
            let ends: Vec<usize> = pieces
                .iter()
                .scan(0, |end, p| {
                    *end += p.len();
                    Some(*end)
                })
                .collect();
            let mut c = make();
            let mut spare = Vec::new();
            let mut got: Vec<Vec<u8>> = Vec::new();
            let mut src_at = 0; // where in `input` the next payload starts
            for piece in pieces {
                c.receive(piece);
                while let Some(e) = c.poll_event().unwrap() {
                    let data: &[u8] = match e {
                        Event::Binary(b) => b,
                        Event::Text(s) => s.as_bytes(),
                        other => panic!("unexpected {other:?}"),
                    };
                    let len = data.len();
                    src_at += header(len);
                    let src = input[src_at..].as_ptr() as usize;
                    let header_piece_end = ends.iter().copied().find(|&e| e >= src_at).expect("a piece");
                    let diverted = src_at + len > header_piece_end;
                    if cfg!(target_arch = "x86_64") && diverted {
                        let dst = data.as_ptr() as usize;
                        let behind = src.wrapping_sub(dst) & 4095;
                        if len >= 256 << 10 {
                            assert_eq!(behind, 32, "{how}, {len}-byte payload");
                        } else {
                            assert_eq!(dst % 64, 0, "{how}, {len}-byte payload");
                            assert!((32..96).contains(&behind), "{how}, {len}-byte payload: {behind} bytes behind");
                        }
                    }
                    src_at += len;
                    if hand_over {
                        let range = c.swap_payload_buffer(&mut spare).expect("a diverted payload");
                        assert_eq!(range.len(), len);
                        got.push(spare[range].to_vec());
                    } else {
                        got.push(data.to_vec());
                    }
                }
            }
            assert_eq!(got, [&payloads[..], &payloads[..]].concat(), "{how}");
            assert_eq!(c.buffered_in(), 0, "{how}");
        }
    }
}

// §5.2, §5.3: the walk stops at a small frame right after a diverted
// payload, and more reads arrive before the application polls, so the
// decoder is still in the diverted frame when the next read comes (the
// `pair` fuzz target found this; it tripped an internal assertion). The
// frames after it, small fragments and a ping, still decode exactly.
#[test]
fn reads_after_a_diverted_payload_before_polling() {
    let big = text(20_000, 9);
    let wire = cat(&[
        &cframe(TXT, b"abcd"),
        &cframe(TXT, big.as_bytes()),
        &cfrag(TXT, b"a", false),
        &cfrag(CONT, b"bcdefgh", false),
        &cframe(PING, b"p"),
        &cfrag(CONT, b"ijklmno", true),
    ]);
    let events = vec![Ev::text("abcd"), Ev::text(&big), Ev::Ping(b"p".to_vec()), Ev::text("abcdefghijklmno")];
    let big_end = 10 + 8 + big.len();
    for (first, short) in [(7, 5), (7, 1), (12, 100), (3000, 5)] {
        for tail in 0..12 {
            let mut s = server();
            let mut got = Vec::new();
            s.receive(&wire[..first]);
            got.extend(poll_all(&mut s));
            // All of the large message but `short` bytes: it is diverted.
            s.receive(&wire[first..big_end - short]);
            got.extend(poll_all(&mut s));
            // The rest of it and `tail` bytes more, then the rest, and an
            // empty read, all before polling.
            let cut = big_end + tail;
            s.receive(&wire[big_end - short..cut]);
            s.receive(&wire[cut..]);
            s.receive(&[]);
            got.extend(poll_all(&mut s));
            assert_eq!(got, events, "first read {first}, {short} short, {tail} after");
            assert_eq!(s.take_output(), sframe(PONG, b"p"), "first read {first}, {short} short, {tail} after");
        }
    }
}

// Messages of 512 KiB and more, one after another in 64 KiB reads: the
// next message starts in the same read as the end of the one before, so it
// is diverted into the second buffer; once the first is handed out, what
// has arrived of it moves into the first buffer and the rest follows there
// (`frame::unmasker::relocate`). The events are exact however the reads are
// cut, text keeps its validation across the move, and from the second
// message on each diverted payload lies in the one buffer.
#[test]
fn large_messages_in_a_row_share_one_buffer() {
    let big = binary(600_000, 9);
    let t = text(700_000, 3);
    let wire = cat(&[
        &cframe(BIN, &big),
        &cframe(TXT, t.as_bytes()),
        &cframe(BIN, &big),
        &cframe(PING, b"p"),
        &cframe(BIN, &big[..550_000]),
        &cframe(TXT, t.as_bytes()),
    ]);
    let events = vec![
        Ev::binary(&big),
        Ev::text(&t),
        Ev::binary(&big),
        Ev::Ping(b"p".to_vec()),
        Ev::binary(&big[..550_000]),
        Ev::text(&t),
    ];
    let run = Run::new(server);
    for size in [65_536, 40_000, 100_003, 1 << 20] {
        let got = in_reads(&run, &wire, size);
        assert_eq!(got.events, events, "reads of {size}");
        assert_eq!(Hex(&got.output), Hex(&sframe(PONG, b"p")), "reads of {size}");
    }
    // Invalid text in a moved payload fails as it would have in place.
    let mut bad = t.clone().into_bytes();
    bad[650_000] = 0xff;
    let wire_bad = cat(&[&cframe(BIN, &big), &cframe(TXT, &bad)]);
    for size in [65_536, 40_000, 1 << 20] {
        let got = in_reads(&run, &wire_bad, size);
        assert_eq!(got.events, [Ev::binary(&big), Ev::err(ErrorKind::InvalidUtf8, 1007)], "reads of {size}");
    }
    // Where the payloads lie, polling after every 64 KiB read.
    let mut s = server();
    let mut starts = Vec::new();
    for piece in wire.chunks(65_536) {
        s.receive(piece);
        while let Some(e) = s.poll_event().unwrap() {
            match e {
                Event::Binary(b) => starts.push(b.as_ptr() as usize),
                Event::Text(t) => starts.push(t.as_ptr() as usize),
                _ => {}
            }
        }
    }
    assert_eq!(starts.len(), 5);
    // (The fourth follows a ping, which stops the walk for the rest of its
    // read: it is received in the input buffer, as any message the walk
    // did not see begin.)
    for i in [2, 4] {
        let (p, second) = (starts[i], starts[1]);
        assert!(p.abs_diff(second) < 4096, "message {i} at {p:#x}, the second at {second:#x}");
    }
    // A message that has mostly arrived when the one before is handed out
    // stays where it is: the whole of it came in the same read.
    let mut s = server();
    let two = cat(&[&cframe(BIN, &big), &cframe(BIN, &big[..520_000])]);
    s.receive(&two[..600_006 + 10]);
    s.receive(&two[600_006 + 10..]);
    assert_eq!(s.poll_event().unwrap(), Some(Event::Binary(&big)));
    assert_eq!(s.poll_event().unwrap(), Some(Event::Binary(&big[..520_000])));
    assert_eq!(s.poll_event().unwrap(), None);
}
