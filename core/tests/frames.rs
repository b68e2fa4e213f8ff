//! Base framing (RFC 6455 §5): lengths, masking by role, opcodes, RSV bits,
//! control frame rules. Every decoder case runs at every input split.

mod common;

use common::*;
use wsproto_core::{Config, ErrorKind, State};

// §5.7: the example frames, as a server receives them (masked "Hello").
#[test]
fn rfc_5_7_masked_hello() {
    let input = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    Run::new(server).expect(&input, &[Ev::text("Hello")], b"");
}

// §5.7: unmasked "Hello" as a client receives it, in two fragments too.
#[test]
fn rfc_5_7_unmasked_hello_and_fragments() {
    Run::new(client).expect(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], &[Ev::text("Hello")], b"");
    let two = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    Run::new(client).expect(&two, &[Ev::text("Hello")], b"");
}

// §5.2: payload length in 7 bits (0..=125), 16 bits (126..=65535) and
// 64 bits (above), decoded by a server from masked frames.
#[test]
fn lengths_7_16_64_bit_received() {
    for len in [0usize, 1, 125, 126, 127, 1000, 65535, 65536, 70000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let frame = cframe(BIN, &payload);
        let header_len = if len < 126 {
            6
        } else if len <= 0xffff {
            8
        } else {
            14
        };
        assert_eq!(frame.len(), header_len + len);
        Run::new(server).expect(&frame, &[Ev::Binary(payload)], b"");
    }
}

// §5.2: the header bytes a server writes for each length class.
#[test]
fn lengths_7_16_64_bit_sent() {
    let mut s = server();
    s.send_binary(&[7; 125]).unwrap();
    assert_eq!(s.take_output()[..2], [0x82, 125]);
    s.send_binary(&[7; 126]).unwrap();
    assert_eq!(s.take_output()[..4], [0x82, 126, 0x00, 0x7e]);
    s.send_binary(&[7; 65535]).unwrap();
    assert_eq!(s.take_output()[..4], [0x82, 126, 0xff, 0xff]);
    s.send_binary(&[7; 65536]).unwrap();
    let out = s.take_output();
    assert_eq!(out[..10], [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert_eq!(out.len(), 10 + 65536);
    s.send_text("Hello").unwrap();
    assert_eq!(s.take_output(), [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
}

// §5.3: a client masks every frame with a fresh key from its generator. The
// first bytes are pinned literally so a change of the generator shows.
#[test]
fn client_masks_with_seeded_keys() {
    let mut c = client();
    c.send_text("Hello").unwrap();
    c.send_binary(b"").unwrap();
    c.send_ping(b"p").unwrap();
    let mut w = ClientWire::open();
    let expected = cat(&[&w.frame(TXT, b"Hello"), &w.frame(BIN, b""), &w.frame(PING, b"p")]);
    let out = c.take_output();
    assert_eq!(Hex(&out), Hex(&expected));
    assert_eq!(out[..2], [0x81, 0x85]);
    assert_eq!(out[11..13], [0x82, 0x80]);
    // Different keys per frame.
    assert_ne!(out[2..6], out[13..17]);
    // The same seed gives the same bytes.
    let mut again = client();
    again.send_text("Hello").unwrap();
    assert_eq!(again.take_output(), out[..11]);
}

// §5.1: a server must fail a connection on an unmasked client frame (1002).
#[test]
fn server_rejects_unmasked_frame() {
    let input = sframe(TXT, b"hi");
    let out = Run::new(server).expect(
        &input,
        &[Ev::err(ErrorKind::BadMasking, 1002)],
        &sclose(1002, "client frame is not masked"),
    );
    assert_eq!(out.state, State::Closed);
}

// §5.1: a client must fail a connection on a masked server frame (1002);
// its own close frame is masked.
#[test]
fn client_rejects_masked_frame() {
    let input = cframe(TXT, b"hi");
    let mut w = ClientWire::open();
    Run::new(client).expect(&input, &[Ev::err(ErrorKind::BadMasking, 1002)], &w.close(1002, "server frame is masked"));
}

// §5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved: fail with 1002 as soon
// as the first header byte is known.
#[test]
fn reserved_opcodes() {
    for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
        let input = cframe(op, b"x");
        Run::new(server).expect(
            &input,
            &[Ev::err(ErrorKind::ReservedOpCode, 1002)],
            &sclose(1002, &format!("reserved opcode {op:#x}")),
        );
    }
}

// §5.2: a nonzero RSV bit with no extension negotiating it fails with 1002,
// on data frames, control frames and continuations.
#[test]
fn rsv_bits_without_extension() {
    for rsv in [0x40u8, 0x20, 0x10, 0x70] {
        let data = raw_frame(0x80 | rsv | TXT, Some(KEY), b"x");
        Run::new(server).expect(
            &data,
            &[Ev::err(ErrorKind::ReservedBits, 1002)],
            &sclose(1002, "RSV bits set without a negotiated extension"),
        );
        let ping = raw_frame(0x80 | rsv | PING, Some(KEY), b"x");
        Run::new(server).expect(
            &ping,
            &[Ev::err(ErrorKind::ReservedBits, 1002)],
            &sclose(1002, "RSV bits set on a control frame"),
        );
        let cont = cat(&[&cfrag(TXT, b"a", false), &raw_frame(0x80 | rsv, Some(KEY), b"b")]);
        Run::new(server).expect(
            &cont,
            &[Ev::err(ErrorKind::ReservedBits, 1002)],
            &sclose(1002, "RSV bits set on a continuation frame"),
        );
    }
}

// §5.5: control frames carry at most 125 bytes; 126 fails with 1002 at the
// header, before any payload arrives.
#[test]
fn control_frame_too_long() {
    for op in [PING, PONG, CLOSE] {
        let mut input = cframe(op, &[b'a'; 126]);
        input.truncate(4); // only the header: the decoder must not wait for the payload
        Run::new(server).expect(
            &input,
            &[Ev::err(ErrorKind::BadControlFrame, 1002)],
            &sclose(1002, "control frame longer than 125 bytes"),
        );
    }
    // 125 is fine.
    let p = [b'a'; 125];
    Run::new(server).expect(&cframe(PING, &p), &[Ev::Ping(p.to_vec())], &sframe(PONG, &p));
}

// §5.5: control frames must not be fragmented (FIN clear fails with 1002).
#[test]
fn fragmented_control_frame() {
    for op in [PING, PONG, CLOSE] {
        let input = cfrag(op, b"x", false);
        Run::new(server).expect(
            &input,
            &[Ev::err(ErrorKind::BadControlFrame, 1002)],
            &sclose(1002, "fragmented control frame"),
        );
    }
}

// §5.4: a continuation frame with no message to continue fails with 1002.
#[test]
fn continuation_without_start() {
    for fin in [true, false] {
        let input = cfrag(CONT, b"x", fin);
        Run::new(server).expect(
            &input,
            &[Ev::err(ErrorKind::BadFragmentation, 1002)],
            &sclose(1002, "continuation frame without a message to continue"),
        );
    }
    // Also right after a complete message.
    let input = cat(&[&cframe(TXT, b"done"), &cframe(CONT, b"x")]);
    Run::new(server).expect(
        &input,
        &[Ev::text("done"), Ev::err(ErrorKind::BadFragmentation, 1002)],
        &sclose(1002, "continuation frame without a message to continue"),
    );
}

// §5.4: a new data frame inside a fragmented message fails with 1002.
#[test]
fn new_message_inside_fragmented_message() {
    for op in [TXT, BIN] {
        for fin in [true, false] {
            let input = cat(&[&cfrag(TXT, b"a", false), &cfrag(op, b"b", fin)]);
            Run::new(server).expect(
                &input,
                &[Ev::err(ErrorKind::BadFragmentation, 1002)],
                &sclose(1002, "new message inside a fragmented message"),
            );
        }
    }
}

// §5.4: control frames may be injected between fragments and are delivered
// in wire order; the auto-pong goes out at once.
#[test]
fn control_frames_inside_fragmented_message() {
    let input = cat(&[
        &cfrag(TXT, b"Hel", false),
        &cframe(PING, b"p1"),
        &cfrag(CONT, b"l", false),
        &cframe(PONG, b"unsolicited"),
        &cframe(PING, b""),
        &cfrag(CONT, b"o", true),
        &cframe(PING, b"p2"),
    ]);
    Run::new(server).expect(
        &input,
        &[
            Ev::Ping(b"p1".to_vec()),
            Ev::Pong(b"unsolicited".to_vec()),
            Ev::Ping(vec![]),
            Ev::text("Hello"),
            Ev::Ping(b"p2".to_vec()),
        ],
        &cat(&[&sframe(PONG, b"p1"), &sframe(PONG, b""), &sframe(PONG, b"p2")]),
    );
    // A close frame between fragments ends the connection; the partial
    // message is never delivered.
    let input = cat(&[&cfrag(BIN, b"ab", false), &cclose(1000, "bye"), &cfrag(CONT, b"c", true)]);
    Run::new(server).expect(&input, &[Ev::close(1000, "bye")], &sclose(1000, ""));
}

// §5.2: the most significant bit of a 64-bit length must be 0 (1002).
#[test]
fn length_with_top_bit_set() {
    let mut input = vec![0x82, 0xff];
    input.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
    input.extend_from_slice(&KEY);
    Run::new(server).expect(
        &input,
        &[Ev::err(ErrorKind::BadLength, 1002)],
        &sclose(1002, "64-bit length with the top bit set"),
    );
}

// §5.2: "the minimal number of bytes MUST be used to encode the length".
#[test]
fn non_minimal_lengths() {
    let sixteen = cat(&[&[0x82, 0xfe, 0x00, 0x05], &KEY, b"abcde"]);
    let mut sixty_four = vec![0x82, 0xff];
    sixty_four.extend_from_slice(&200u64.to_be_bytes());
    for input in [sixteen, sixty_four] {
        Run::new(server).expect(
            &input,
            &[Ev::err(ErrorKind::BadLength, 1002)],
            &sclose(1002, "length not minimally encoded"),
        );
    }
}

// §7.1.7: after failing the connection nothing more is decoded, and further
// input is ignored.
#[test]
fn nothing_after_failure() {
    let input = cat(&[&cframe(0x3, b""), &cframe(TXT, b"late")]);
    let out = Run::new(server).expect(
        &input,
        &[Ev::err(ErrorKind::ReservedOpCode, 1002)],
        &sclose(1002, "reserved opcode 0x3"),
    );
    assert_eq!(out.state, State::Closed);
    let (_, mut conn) = Run::new(server).feed_keep(&[&input]);
    conn.receive(&cframe(TXT, b"more"));
    assert_eq!(poll_all(&mut conn), vec![]);
    assert!(conn.should_close_transport());
    assert_eq!(conn.send_text("x").unwrap_err().kind(), ErrorKind::InvalidState);
}

// §5.6: many messages of both kinds in one read, each delivered whole and
// in order; empty messages are messages too.
#[test]
fn many_messages_in_one_read() {
    let input = cat(&[
        &cframe(TXT, b""),
        &cframe(BIN, b""),
        &cframe(TXT, "héllo".as_bytes()),
        &cframe(BIN, &[0, 1, 2, 255]),
        &cframe(TXT, b"z"),
    ]);
    Run::new(server).expect(
        &input,
        &[Ev::text(""), Ev::binary(b""), Ev::text("héllo"), Ev::binary(&[0, 1, 2, 255]), Ev::text("z")],
        b"",
    );
}

// §5.5: the frame size limit does not apply to control frames (they are
// bounded at 125 by the protocol).
#[test]
fn small_frame_limit_still_allows_control_frames() {
    let cfg = Config { max_frame_size: 4, ..Config::default() };
    let p = [b'x'; 100];
    Run::new(|| server_with(cfg.clone())).expect(&cframe(PING, &p), &[Ev::Ping(p.to_vec())], &sframe(PONG, &p));
}

// §5.2: a header that breaks a rule fails as soon as the bytes that break
// it are in, without waiting for the masking key, which cannot mend it; the
// close reason is the one the whole header gets. A good header still waits.
#[test]
fn bad_headers_fail_before_their_masking_key() {
    struct Case {
        frame: Vec<u8>,
        /// Inside a fragmented message.
        fragmented: bool,
        max_frame_size: u64,
        /// How many bytes make the header bad.
        known_at: usize,
        kind: ErrorKind,
        code: u16,
        reason: &'static str,
    }
    let default = Config::default().max_frame_size;
    let cases = [
        Case {
            frame: cframe(0xC0 | TXT, b"x"),
            fragmented: false,
            max_frame_size: default,
            known_at: 2,
            kind: ErrorKind::ReservedBits,
            code: 1002,
            reason: "RSV bits set without a negotiated extension",
        },
        Case {
            frame: cfrag(CONT, b"x", true),
            fragmented: false,
            max_frame_size: default,
            known_at: 2,
            kind: ErrorKind::BadFragmentation,
            code: 1002,
            reason: "continuation frame without a message to continue",
        },
        Case {
            frame: cframe(BIN, &[0; 300]),
            fragmented: true,
            max_frame_size: default,
            known_at: 4,
            kind: ErrorKind::BadFragmentation,
            code: 1002,
            reason: "new message inside a fragmented message",
        },
        Case {
            frame: cframe(BIN, &[0; 11]),
            fragmented: false,
            max_frame_size: 10,
            known_at: 2,
            kind: ErrorKind::TooBig,
            code: 1009,
            reason: "frame larger than the limit",
        },
    ];
    for (i, c) in cases.iter().enumerate() {
        let open = || {
            let mut s = server_with(Config { max_frame_size: c.max_frame_size, ..Config::default() });
            if c.fragmented {
                s.receive(&cfrag(TXT, b"open", false));
                assert!(s.poll_event().unwrap().is_none());
            }
            s
        };
        let mut s = open();
        s.receive(&c.frame[..c.known_at - 1]);
        assert_eq!(s.poll_event(), Ok(None), "case {i}: nothing is known yet");
        s.receive(&c.frame[c.known_at - 1..c.known_at]);
        let e = s.poll_event().unwrap_err();
        assert_eq!((e.kind(), e.close_code()), (c.kind, Some(c.code)), "case {i}");
        assert_eq!(Hex(&s.take_output()), Hex(&sclose(c.code, c.reason)), "case {i}");
        // The same frame in one piece, a byte at a time and at every cut
        // is refused with the same words.
        let mut whole = open();
        whole.receive(&c.frame);
        assert_eq!(whole.poll_event().unwrap_err().kind(), c.kind);
        assert_eq!(Hex(&whole.take_output()), Hex(&sclose(c.code, c.reason)), "case {i}, whole");
        let config = Config { max_frame_size: c.max_frame_size, ..Config::default() };
        let opening = if c.fragmented { cfrag(TXT, b"open", false) } else { Vec::new() };
        Run::new(|| server_with(config.clone())).expect(
            &cat(&[&opening, &c.frame]),
            &[Ev::err(c.kind, c.code)],
            &sclose(c.code, c.reason),
        );
    }
    // A good header waits for its key.
    let mut s = server();
    s.receive(&cframe(BIN, b"ok")[..5]);
    assert_eq!(s.poll_event(), Ok(None));
    assert_eq!(s.take_output(), b"");
}
