//! permessage-deflate (RFC 7692): byte vectors, negotiation, bombs, and
//! chunked delivery of compressed streams.

use wsproto_core::extension::deflate::{check_response, DeflateConfig, PerMessageDeflate};
use wsproto_core::{
    Accept, ClientHandshake, Config, Connection, Error, ErrorKind, Event, Extension, ExtensionOffer, Role, State,
};

/// RFC 7692's own defaults: every parameter off (our `Default` has the
/// server keep no context; see `default_server_keeps_no_context`).
fn plain() -> DeflateConfig {
    DeflateConfig { server_no_context_takeover: false, ..DeflateConfig::default() }
}

fn pmd(role: Role, config: DeflateConfig) -> Box<dyn Extension> {
    Box::new(PerMessageDeflate::new(role, config))
}

/// A negotiated extension for a server, from a client offer string.
fn server_ext(offer: &str, config: DeflateConfig) -> Option<(Box<dyn Extension>, ExtensionOffer)> {
    let offers = ExtensionOffer::parse_list(offer).unwrap();
    let mut ext = PerMessageDeflate::new(Role::Server, config);
    let response = ext.accept(&offers)?;
    Some((Box::new(ext), response))
}

fn client_ext(response: &str, config: DeflateConfig) -> Result<Box<dyn Extension>, String> {
    let mut ext = PerMessageDeflate::new(Role::Client, config);
    let resp = ExtensionOffer::parse_list(response).unwrap();
    ext.finalize(&resp[0])?;
    Ok(Box::new(ext))
}

/// Owned copy of an event, to compare across feeding strategies.
#[derive(Debug, PartialEq, Eq, Clone)]
enum Ev {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Close(u16),
    Error(ErrorKind, Option<u16>),
}

fn drain(conn: &mut Connection, out: &mut Vec<Ev>) {
    loop {
        match conn.poll_event() {
            Ok(Some(Event::Text(t))) => out.push(Ev::Text(t.to_owned())),
            Ok(Some(Event::Binary(b))) => out.push(Ev::Binary(b.to_vec())),
            Ok(Some(Event::Ping(p))) => out.push(Ev::Ping(p.to_vec())),
            Ok(Some(Event::Close { code, .. })) => out.push(Ev::Close(code)),
            Ok(Some(e)) => panic!("unexpected {e:?}"),
            Ok(None) => return,
            Err(e) => {
                out.push(Ev::Error(e.kind(), e.close_code()));
                return;
            }
        }
    }
}

/// Feeds `input` to a fresh connection made by `make`, whole, one byte at a
/// time and split at every point; all must give the same events and output.
fn feed_all_ways(make: &dyn Fn() -> Connection, input: &[u8]) -> (Vec<Ev>, Vec<u8>) {
    let run = |chunks: &mut dyn Iterator<Item = &[u8]>| {
        let mut c = make();
        let mut evs = Vec::new();
        for chunk in chunks {
            c.receive(chunk);
            drain(&mut c, &mut evs);
        }
        (evs, c.take_output())
    };
    let whole = run(&mut std::iter::once(input));
    assert_eq!(run(&mut input.chunks(1)), whole, "byte at a time");
    for split in 0..=input.len() {
        let (a, b) = input.split_at(split);
        assert_eq!(run(&mut [a, b].into_iter()), whole, "split at {split}");
    }
    whole
}

fn open_client(ext: Box<dyn Extension>) -> Connection {
    Connection::open(Role::Client, Config { mask_seed: Some(7), ..Config::default() }, Some(ext))
}

fn open_server(ext: Box<dyn Extension>) -> Connection {
    Connection::open(Role::Server, Config::default(), Some(ext))
}

fn default_client() -> Box<dyn Extension> {
    client_ext("permessage-deflate", plain()).unwrap()
}

// RFC 7692 §7.2.3.1: "Hello" compressed in one unmasked frame.
#[test]
fn rfc7692_7_2_3_1_hello_single_frame() {
    let frame = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let (evs, _) = feed_all_ways(&|| open_client(default_client()), &frame);
    assert_eq!(evs, vec![Ev::Text("Hello".into())]);

    // Our server compresses "Hello" to exactly those bytes.
    let (ext, _) = server_ext("permessage-deflate", plain()).unwrap();
    let mut server = open_server(ext);
    server.send_text("Hello").unwrap();
    assert_eq!(server.take_output(), frame);
}

// §7.2.3.1 (second example): "Hello" compressed and split across two fragments.
#[test]
fn rfc7692_7_2_3_1_hello_fragmented() {
    let stream = [0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00];
    let (evs, _) = feed_all_ways(&|| open_client(default_client()), &stream);
    assert_eq!(evs, vec![Ev::Text("Hello".into())]);
}

// §7.2.3.2: the same message twice with context takeover; the second is shorter.
#[test]
fn rfc7692_7_2_3_2_sharing_the_window() {
    let stream = [
        0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, // "Hello"
        0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00, // "Hello" again, from the window
    ];
    let (evs, _) = feed_all_ways(&|| open_client(default_client()), &stream);
    assert_eq!(evs, vec![Ev::Text("Hello".into()), Ev::Text("Hello".into())]);

    let (ext, _) = server_ext("permessage-deflate", plain()).unwrap();
    let mut server = open_server(ext);
    server.send_text("Hello").unwrap();
    server.send_text("Hello").unwrap();
    assert_eq!(server.take_output(), stream);
}

// §7.2.3.3, §7.2.3.4, §7.2.3.5: a stored block, BFINAL set, two blocks.
#[test]
fn rfc7692_7_2_3_3_to_5_other_block_shapes() {
    let stored = [0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
    let bfinal = [0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    let two = [0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00];
    for stream in [&stored[..], &bfinal[..], &two[..]] {
        let (evs, _) = feed_all_ways(&|| open_client(default_client()), stream);
        assert_eq!(evs, vec![Ev::Text("Hello".into())], "{stream:02x?}");
    }
}

// §7.2.2, §7.2.3.4: a final block (BFINAL) whose last bits, the end of
// block code, lie in the 0x00 0x00 0xff 0xff the receiver appends: the
// message is "Hello", what is left of the appended bytes after the stream's
// end is padding and is dropped, and the next message starts a new stream
// (read as the start of one, the padding once broke the next message).
#[test]
fn final_block_ending_in_the_appended_tail() {
    let short = [0xc1, 0x06, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07];
    let (evs, _) = feed_all_ways(&|| open_client(default_client()), &[short, short].concat());
    assert_eq!(evs, vec![Ev::Text("Hello".into()), Ev::Text("Hello".into())]);
}

// Partial mode: every read into a compressed frame and every frame's end
// gives a piece, also when nothing has inflated from it yet (wsproto starts
// a fragmented message with an empty compressed frame), so a program can
// follow the frames.
#[test]
fn partial_pieces_for_frames_that_inflate_to_nothing() {
    let config = Config { partial_messages: true, mask_seed: Some(7), ..Config::default() };
    let mut c = Connection::open(Role::Client, config.clone(), Some(default_client()));
    c.receive(&[0x41, 0x00]);
    assert_eq!(c.poll_event().unwrap(), Some(Event::TextChunk { data: b"", fin: false }));
    assert!(!c.in_frame());
    // §7.2.3.1's "Hello", in two reads: the first inflates to nothing yet.
    c.receive(&[0x80, 0x07, 0xf2]);
    assert_eq!(c.poll_event().unwrap(), Some(Event::TextChunk { data: b"", fin: false }));
    assert!(c.in_frame());
    assert_eq!(c.poll_event().unwrap(), None);
    c.receive(&[0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    assert_eq!(c.poll_event().unwrap(), Some(Event::TextChunk { data: b"Hello", fin: true }));
    assert_eq!(c.poll_event().unwrap(), None);
    // However the reads fall, the pieces make "Hello", only the last has
    // `fin`, and a read gives at most one piece for each frame it reaches.
    let wire = [0x41, 0x00, 0x80, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let cuts: Vec<Vec<usize>> =
        (0..=wire.len()).map(|i| vec![i]).chain(std::iter::once((1..wire.len()).collect())).collect();
    for cut in cuts {
        let mut c = Connection::open(Role::Client, config.clone(), Some(default_client()));
        let (mut text, mut fins, mut prev) = (Vec::new(), Vec::new(), 0);
        for at in cut.iter().copied().chain([wire.len()]) {
            c.receive(&wire[prev..at]);
            prev = at;
            let mut pieces = 0;
            while let Some(e) = c.poll_event().unwrap() {
                let Event::TextChunk { data, fin } = e else { panic!("{e:?}") };
                text.extend_from_slice(data);
                fins.push(fin);
                pieces += 1;
            }
            assert!(pieces <= 2, "cut {cut:?}: {pieces} pieces from one read");
        }
        assert_eq!(text, b"Hello", "cut {cut:?}");
        assert_eq!(fins.iter().filter(|&&f| f).count(), 1, "cut {cut:?}");
        assert_eq!(fins.last(), Some(&true), "cut {cut:?}");
    }
}

// §7.2.3.6: an empty message is sent as a single 0x00 byte and decodes to "".
#[test]
fn rfc7692_7_2_3_6_empty_message() {
    let (ext, _) = server_ext("permessage-deflate", plain()).unwrap();
    let mut server = open_server(ext);
    server.send_binary(b"").unwrap();
    let out = server.take_output();
    assert_eq!(out, [0xc2, 0x01, 0x00]);
    let (evs, _) = feed_all_ways(&|| open_client(default_client()), &out);
    assert_eq!(evs, vec![Ev::Binary(vec![])]);
}

// §6.1: control frames are never compressed; RSV1 on a continuation is an error.
#[test]
fn control_frames_and_rsv1_rules() {
    let (ext, _) = server_ext("permessage-deflate", plain()).unwrap();
    let mut server = open_server(ext);
    server.send_ping(b"hi").unwrap();
    assert_eq!(server.take_output(), [0x89, 0x02, b'h', b'i']);

    // RSV1 on a ping.
    let (evs, out) = feed_all_ways(&|| open_client(default_client()), &[0xc9, 0x00]);
    assert_eq!(evs, vec![Ev::Error(ErrorKind::ReservedBits, Some(1002))]);
    assert_eq!(&out[..2], [0x88, 0x80 | (out[1] & 0x7f)]);
    // RSV1 on a continuation frame (§6.1: only the first frame).
    let (evs, _) = feed_all_ways(&|| open_client(default_client()), &[0x41, 0x03, 0xf2, 0x48, 0xcd, 0xc0, 0x00]);
    assert_eq!(evs, vec![Ev::Error(ErrorKind::ReservedBits, Some(1002))]);
    // RSV2 is never claimed.
    let (evs, _) = feed_all_ways(&|| open_client(default_client()), &[0xa1, 0x00]);
    assert_eq!(evs, vec![Ev::Error(ErrorKind::ReservedBits, Some(1002))]);
}

#[test]
fn invalid_deflate_data_fails_with_1007() {
    let (evs, _) = feed_all_ways(&|| open_client(default_client()), &[0xc1, 0x03, 0xff, 0xff, 0xff]);
    assert_eq!(evs, vec![Ev::Error(ErrorKind::Extension(1007), Some(1007))]);
}

#[test]
fn invalid_utf8_after_inflating_fails_with_1007() {
    // Compress invalid UTF-8 as a binary message, then relabel it text.
    let (ext, _) = server_ext("permessage-deflate", plain()).unwrap();
    let mut server = open_server(ext);
    server.send_binary(b"ok \xff\xfe bad").unwrap();
    let mut out = server.take_output();
    out[0] = 0xc1;
    let (evs, _) = feed_all_ways(&|| open_client(default_client()), &out);
    assert_eq!(evs, vec![Ev::Error(ErrorKind::InvalidUtf8, Some(1007))]);
}

// §8.1 and RFC 7692 §6.2: the first error in the message is the one
// reported, however the bytes arrive. Here invalid UTF-8 inflates from the
// start of the payload and invalid deflate data follows it: read whole, the
// inflater stops at the bad block after producing the bad text; read in
// pieces, the text is checked before the bad block arrives. Both must end in
// the UTF-8 error (and the same close frame, which `feed_all_ways` checks).
#[test]
fn invalid_utf8_before_invalid_deflate_data_is_reported_first() {
    let (ext, _) = server_ext("permessage-deflate", plain()).unwrap();
    let mut server = open_server(ext);
    server.send_binary(b"ok \xff\xfe bad").unwrap();
    let mut out = server.take_output();
    assert!(out[1] < 120, "a 7-bit length");
    out[0] = 0xc1;
    out[1] += 3;
    out.extend_from_slice(&[0xff, 0xff, 0xff]);
    let (evs, _) = feed_all_ways(&|| open_client(default_client()), &out);
    assert_eq!(evs, vec![Ev::Error(ErrorKind::InvalidUtf8, Some(1007))]);
}

/// A client/server pair connected through memory, with deflate offered and
/// accepted using the given configurations.
fn pair(client_cfg: DeflateConfig, server_cfg: DeflateConfig, limit: u64) -> (Connection, Connection, Option<String>) {
    let config = Config { max_message_size: limit, mask_seed: Some(1), ..Config::default() };
    let hs = ClientHandshake {
        host: "h".into(),
        path: "/".into(),
        extensions: vec![pmd(Role::Client, client_cfg)],
        ..Default::default()
    };
    let mut client = Connection::client(config.clone(), hs).unwrap();
    let mut server = Connection::server(config);
    server.receive(&client.take_output());
    let Some(Event::Request(_)) = server.poll_event().unwrap() else { panic!("no request") };
    server.accept(Accept { extensions: vec![pmd(Role::Server, server_cfg)], ..Default::default() }).unwrap();
    let resp = server.take_output();
    client.receive(&resp);
    let Some(Event::Accepted(r)) = client.poll_event().unwrap() else { panic!("not accepted") };
    let negotiated = r.extensions.first().map(ToString::to_string);
    (client, server, negotiated)
}

fn send_and_check(from: &mut Connection, to: &mut Connection, msgs: &[Vec<u8>]) {
    for m in msgs {
        from.send_binary(m).unwrap();
    }
    let bytes = from.take_output();
    let mut evs = Vec::new();
    for chunk in bytes.chunks(7919) {
        to.receive(chunk);
        drain(to, &mut evs);
    }
    let expect: Vec<Ev> = msgs.iter().map(|m| Ev::Binary(m.clone())).collect();
    assert_eq!(evs, expect);
}

fn sample_messages() -> Vec<Vec<u8>> {
    let mut rng = wsproto_core::SeededRandom::new(42);
    let mut random = vec![0u8; 70_000];
    wsproto_core::Random::fill(&mut rng, &mut random);
    vec![
        b"".to_vec(),
        b"hello hello hello hello".to_vec(),
        br#"{"type":"update","id":1,"values":[1,2,3,4,5,6,7,8,9,10]}"#.repeat(200),
        random,
        b"hello hello hello hello".to_vec(),
    ]
}

#[test]
fn negotiation_matrix_round_trips_both_ways() {
    let bits = [None, Some(8), Some(9), Some(12), Some(15)];
    let mut combos = 0;
    for c_snc in [false, true] {
        for c_cnc in [false, true] {
            for c_smwb in bits {
                for c_cmwb in bits {
                    for (s_snc, s_cnc, s_smwb, s_cmwb) in
                        [(false, false, None, None), (true, true, Some(10), Some(9)), (false, true, Some(8), Some(15))]
                    {
                        let cc = DeflateConfig {
                            server_no_context_takeover: c_snc,
                            client_no_context_takeover: c_cnc,
                            server_max_window_bits: c_smwb,
                            client_max_window_bits: c_cmwb,
                            ..plain()
                        };
                        let sc = DeflateConfig {
                            server_no_context_takeover: s_snc,
                            client_no_context_takeover: s_cnc,
                            server_max_window_bits: s_smwb,
                            client_max_window_bits: s_cmwb,
                            ..plain()
                        };
                        let (mut client, mut server, negotiated) = pair(cc.clone(), sc.clone(), 64 << 20);
                        let negotiated = negotiated.expect("every valid offer is accepted");
                        // The response honours what the client asked.
                        assert_eq!(negotiated.contains("server_no_context_takeover"), c_snc || s_snc, "{negotiated}");
                        assert_eq!(negotiated.contains("client_no_context_takeover"), c_cnc || s_cnc, "{negotiated}");
                        if let Some(asked) = c_smwb {
                            let got = negotiated.split("server_max_window_bits=").nth(1).unwrap();
                            let got: u8 = got.split(';').next().unwrap().trim().parse().unwrap();
                            assert!(got <= asked, "{negotiated}");
                        }
                        let msgs = sample_messages();
                        send_and_check(&mut client, &mut server, &msgs);
                        send_and_check(&mut server, &mut client, &msgs);
                        combos += 1;
                    }
                }
            }
        }
    }
    assert_eq!(combos, 2 * 2 * 5 * 5 * 3);
}

// §7.1: a server declines offers with unknown, duplicate or invalid
// parameters and takes the first acceptable one.
#[test]
fn server_declines_bad_offers_and_picks_the_first_good_one() {
    let bad = [
        "permessage-deflate; foo",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; client_no_context_takeover=1",
    ];
    for offer in bad {
        assert!(server_ext(offer, plain()).is_none(), "{offer}");
        let two = format!("{offer}, permessage-deflate; client_max_window_bits");
        let (_, resp) = server_ext(&two, plain()).unwrap();
        assert_eq!(resp.to_string(), "permessage-deflate", "{two}");
    }
    let cfg = DeflateConfig { client_max_window_bits: Some(10), ..plain() };
    let (_, resp) = server_ext("permessage-deflate; client_max_window_bits", cfg.clone()).unwrap();
    assert_eq!(resp.to_string(), "permessage-deflate; client_max_window_bits=10");
    // Without the client's parameter the server must not limit its window.
    let (_, resp) = server_ext("permessage-deflate", cfg).unwrap();
    assert_eq!(resp.to_string(), "permessage-deflate");
}

// §7.1: a client fails the handshake on a response it cannot accept.
#[test]
fn client_rejects_invalid_responses() {
    let c = plain();
    for bad in [
        "permessage-deflate; foo",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    ] {
        assert!(client_ext(bad, c.clone()).is_err(), "{bad}");
    }
    let asked = DeflateConfig { server_max_window_bits: Some(10), ..c.clone() };
    assert!(client_ext("permessage-deflate; server_max_window_bits=12", asked.clone()).is_err());
    assert!(client_ext("permessage-deflate", asked).is_err());
    let snc = DeflateConfig { server_no_context_takeover: true, ..c.clone() };
    assert!(client_ext("permessage-deflate", snc).is_err());
    let cmwb = DeflateConfig { client_max_window_bits: Some(10), ..c };
    assert!(client_ext("permessage-deflate; client_max_window_bits=11", cmwb).is_err());
}

// §5, §7.1, for offers written outside the core (Python's wsproto API): the
// response must accept the offer as it was sent.
#[test]
fn check_response_holds_a_response_to_the_offer_sent() {
    let one = |s: &str| ExtensionOffer::parse_list(s).unwrap().remove(0);
    let wsproto = one("permessage-deflate; client_max_window_bits=15; server_max_window_bits=15");
    for good in [
        "permessage-deflate",
        "permessage-deflate; server_max_window_bits=15",
        "permessage-deflate; server_max_window_bits=9; client_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    ] {
        assert_eq!(check_response(&wsproto, &one(good)), Ok(()), "{good}");
    }
    for bad in [
        "permessage-deflate; foo=1",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=07",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    ] {
        assert!(check_response(&wsproto, &one(bad)).is_err(), "{bad}");
    }
    // §7.1.2.2: client_max_window_bits only where it was offered.
    let bare = one("permessage-deflate");
    assert_eq!(check_response(&bare, &one("permessage-deflate")), Ok(()));
    assert!(check_response(&bare, &one("permessage-deflate; client_max_window_bits=10")).is_err());
    // §7.1.1.1, §7.1.2.1: what was asked of the server must be granted.
    let asked = one("permessage-deflate; server_no_context_takeover; server_max_window_bits=10");
    assert_eq!(
        check_response(&asked, &one("permessage-deflate; server_no_context_takeover; server_max_window_bits=10")),
        Ok(())
    );
    assert!(check_response(&asked, &one("permessage-deflate; server_max_window_bits=10")).is_err());
    assert!(check_response(&asked, &one("permessage-deflate; server_no_context_takeover")).is_err());
    assert!(check_response(&asked, &one("permessage-deflate; server_no_context_takeover; server_max_window_bits=11"))
        .is_err());
    // An offer that is not valid permessage-deflate accepts nothing.
    assert!(check_response(&one("permessage-deflate; x=1"), &one("permessage-deflate")).is_err());
}

// Through the connection: a response naming the extension twice fails the handshake.
#[test]
fn duplicate_extension_in_response_fails_the_handshake() {
    let hs = ClientHandshake {
        host: "h".into(),
        path: "/".into(),
        extensions: vec![pmd(Role::Client, plain())],
        ..Default::default()
    };
    let mut client = Connection::client(Config::default(), hs).unwrap();
    let req = String::from_utf8(client.take_output()).unwrap();
    let key = req.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap();
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n\r\n",
        wsproto_core::accept_key(key.as_bytes())
    );
    client.receive(resp.as_bytes());
    let err: Error = client.poll_event().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadHandshake);
    assert_eq!(client.state(), State::Closed);
}

// Window bits 8: zlib cannot compress with it, so messages go uncompressed,
// and a peer that offers 8 still talks with us.
#[test]
fn window_bits_8_sends_plain_messages() {
    let cc = DeflateConfig { server_max_window_bits: Some(8), client_max_window_bits: Some(8), ..plain() };
    let (mut client, mut server, negotiated) = pair(cc, plain(), 1 << 20);
    assert_eq!(negotiated.unwrap(), "permessage-deflate; server_max_window_bits=8");
    server.send_text(&"abc".repeat(100)).unwrap();
    let out = server.take_output();
    assert_eq!(out[0], 0x81, "RSV1 must be clear: sent plain");
    client.receive(&out);
    assert_eq!(client.poll_event().unwrap(), Some(Event::Text(&"abc".repeat(100))));
    // The client honours its own 8 too.
    client.send_text("xyzxyzxyz").unwrap();
    let out = client.take_output();
    assert_eq!(out[0], 0x81);
}

#[test]
fn threshold_skips_small_messages() {
    let cfg = DeflateConfig { threshold: 10, ..plain() };
    let (ext, _) = server_ext("permessage-deflate", cfg).unwrap();
    let mut server = open_server(ext);
    server.send_text("short").unwrap();
    assert_eq!(server.take_output()[0], 0x81);
    server.send_text("long enough to compress").unwrap();
    assert_eq!(server.take_output()[0], 0xc1);
}

#[test]
fn fragmented_compressed_sends_round_trip() {
    let (mut client, mut server, _) = pair(plain(), plain(), 1 << 20);
    client.send_fragment(wsproto_core::DataKind::Text, b"Hello, ", false).unwrap();
    client.send_fragment(wsproto_core::DataKind::Text, b"compressed ", false).unwrap();
    client.send_fragment(wsproto_core::DataKind::Text, b"world", true).unwrap();
    let out = client.take_output();
    assert_eq!(out[0] & 0xf0, 0x40, "first frame: RSV1, no FIN");
    let (evs, _) = feed_all_ways(
        &|| {
            let (ext, _) = server_ext("permessage-deflate", plain()).unwrap();
            open_server(ext)
        },
        &out,
    );
    assert_eq!(evs, vec![Ev::Text("Hello, compressed world".into())]);
    server.receive(&out);
    assert_eq!(server.poll_event().unwrap(), Some(Event::Text("Hello, compressed world")));
}

// A small message that inflates past the limit fails with 1009, and the
// message buffer never grows past the limit.
#[test]
fn decompression_bomb_is_refused_with_1009() {
    let limit = 1 << 20;
    let (mut client, mut server, _) = pair(plain(), plain(), limit);
    let bomb = vec![0u8; 64 << 20];
    let before = client.output().len();
    client.send_binary(&bomb).unwrap();
    let wire = client.take_output();
    assert!(wire.len() - before < 128 << 10, "64 MiB of zeros compresses to {} bytes", wire.len());
    let mut err = None;
    for chunk in wire.chunks(16 << 10) {
        server.receive(chunk);
        match server.poll_event() {
            Ok(None) => assert!(server.buffered_in() <= limit as usize + (16 << 10) * 2),
            Ok(Some(e)) => panic!("unexpected {e:?}"),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let err = err.expect("the bomb must fail");
    assert_eq!((err.kind(), err.close_code()), (ErrorKind::TooBig, Some(1009)));
    let out = server.take_output();
    assert_eq!(&out[..4], [0x88, out[1], 0x03, 0xf1]);
}

// A message exactly at the limit after inflating is accepted.
#[test]
fn message_at_the_limit_is_accepted() {
    let limit = 100_000u64;
    let (mut client, mut server, _) = pair(plain(), plain(), limit);
    let msg = vec![b'a'; limit as usize];
    client.send_binary(&msg).unwrap();
    server.receive(&client.take_output());
    assert_eq!(server.poll_event().unwrap(), Some(Event::Binary(&msg)));
    client.send_binary(&[b'a'; 100_001]).unwrap();
    server.receive(&client.take_output());
    assert_eq!(server.poll_event().unwrap_err().close_code(), Some(1009));
}

// A message that fills the limit exactly, then goes on in a new deflate
// stream (its first ended with BFINAL, §7.2.3.4): the inflater is probed for
// one more byte at the limit, and each probe must make progress or end the
// message. An empty stream is accepted, a bad one fails with 1007 and one
// more byte with 1009. (The probe once asked an ended stream for more
// forever: a hang the fuzzer found.)
#[test]
fn more_streams_after_the_limit_end_the_message() {
    let hello_final = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let limited = || {
        let config = Config { max_message_size: 5, mask_seed: Some(7), ..Config::default() };
        Connection::open(Role::Client, config, Some(default_client()))
    };
    for (rest, want) in [
        (&[0x03, 0x00][..], Ev::Text("Hello".into())),
        (&[0x00][..], Ev::Text("Hello".into())),
        (&[0xff, 0xff][..], Ev::Error(ErrorKind::Extension(1007), Some(1007))),
        (&[0x53, 0x04, 0x00][..], Ev::Error(ErrorKind::TooBig, Some(1009))),
    ] {
        let payload = [&hello_final[..], rest].concat();
        let frame = [&[0xc1, payload.len() as u8][..], &payload].concat();
        let (evs, _) = feed_all_ways(&limited, &frame);
        assert_eq!(evs, vec![want], "then {rest:02x?}");
    }
}

// RFC 7692 §7.2.3.6: an empty message is sent as the single byte 0x00,
// also when the compressor keeps its context and so has nothing at all to
// flush (which once tripped an assertion); the same for an empty last
// fragment. The peer inflates all of it, in order.
#[test]
fn empty_messages_with_context_takeover_are_one_zero_byte() {
    const TEXT: &str = "a text long enough to refer back to";
    let (ext, _) = server_ext("permessage-deflate", plain()).unwrap();
    let mut server = open_server(ext);
    server.send_text(TEXT).unwrap();
    let first = server.take_output();
    server.send_text("").unwrap();
    assert_eq!(server.take_output(), [0xc1, 0x01, 0x00]);
    server.send_fragment(wsproto_core::DataKind::Binary, b"x", false).unwrap();
    server.send_fragment(wsproto_core::DataKind::Binary, b"", true).unwrap();
    let fragments = server.take_output();
    assert_eq!(fragments[fragments.len() - 3..], [0x80, 0x01, 0x00], "the last fragment");
    server.send_text(TEXT).unwrap();
    let last = server.take_output();
    assert!(last.len() < first.len(), "the second text refers back to the first");
    let wire = [&first[..], &[0xc1, 0x01, 0x00], &fragments, &last].concat();
    let (evs, _) = feed_all_ways(&|| open_client(default_client()), &wire);
    assert_eq!(
        evs,
        vec![Ev::Text(TEXT.into()), Ev::Text(String::new()), Ev::Binary(b"x".to_vec()), Ev::Text(TEXT.into())]
    );
}

// Context is released between messages when neither side keeps it.
#[test]
fn no_context_takeover_holds_no_state_between_messages() {
    let both = DeflateConfig { server_no_context_takeover: true, client_no_context_takeover: true, ..plain() };
    let (mut client, mut server, negotiated) = pair(both.clone(), both, 1 << 20);
    assert_eq!(negotiated.unwrap(), "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    send_and_check(&mut client, &mut server, &sample_messages());
    send_and_check(&mut server, &mut client, &sample_messages());
    assert!(format!("{:?}", server.extension().unwrap()).contains("holds_deflate: false, holds_inflate: false"));
    assert!(format!("{:?}", client.extension().unwrap()).contains("holds_deflate: false, holds_inflate: false"));
}

// Our default: the server declares server_no_context_takeover, so its idle
// connections hold no compressor.
#[test]
fn default_server_keeps_no_context() {
    let (ext, resp) = server_ext("permessage-deflate; client_max_window_bits", DeflateConfig::default()).unwrap();
    assert_eq!(resp.to_string(), "permessage-deflate; server_no_context_takeover");
    let mut server = open_server(ext);
    server.send_text("Hello").unwrap();
    server.send_text("Hello").unwrap();
    // Both messages compress alone: the same 7 bytes twice (§7.2.3.1).
    let one = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    assert_eq!(server.take_output(), [one, one].concat());
    assert!(format!("{:?}", server.extension().unwrap()).contains("holds_deflate: false"));
}

// Incompressible whole messages of 4 KiB and more go out plain.
#[test]
fn incompressible_large_messages_are_sent_plain() {
    let (ext, _) = server_ext("permessage-deflate", plain()).unwrap();
    let mut server = open_server(ext);
    let mut random = vec![0u8; 100_000];
    wsproto_core::Random::fill(&mut wsproto_core::SeededRandom::new(3), &mut random);
    server.send_binary(&random).unwrap();
    let out = server.take_output();
    assert_eq!((out[0], out.len()), (0x82, 100_000 + 10));
    server.send_binary(&vec![b'z'; 100_000]).unwrap();
    let out = server.take_output();
    assert_eq!(out[0], 0xc2);
    assert!(out.len() < 1000);
    // And the peer still decodes the next compressed message correctly.
    let (evs, _) = feed_all_ways(&|| open_client(default_client()), &out);
    assert_eq!(evs, vec![Ev::Binary(vec![b'z'; 100_000])]);
}

// A compressor borrowed from the per-thread pool must compress exactly as a
// fresh one. A reset zlib compressor still holds the data it compressed
// last, and where it flushes in the middle of a stream (after a message with
// context kept, after a fragment) its next matches depend on those stale
// bytes. Pooled compressors pass between the connections of a thread, so
// one connection's data decided the (valid) bytes another sent: a leak
// across connections, found by the deflate_server fuzz target as output that
// changed with the inputs run before.
#[test]
fn pooled_compressors_do_not_carry_other_connections_data() {
    // What the fuzz target's connection echoed, as text messages.
    #[rustfmt::skip]
    let echoed: Vec<&[u8]> = vec![
        b"\0", b"\0", b"\0", b"\0", b"\0", b"\0\0\0\0\0\0", b"\0", b"\0", b"\0\0", b"\0", b"\0", b"\0", b"\0",
        b"\0", b"\0", b"\0", b" ", b"\0\0\0\0\0\0", b"\0",
    ];
    let mut random = vec![0u8; 3000];
    wsproto_core::Random::fill(&mut wsproto_core::SeededRandom::new(5), &mut random);
    let earlier: Vec<Vec<u8>> =
        vec![vec![0; 300], vec![7; 100], (0..3000u32).map(|i| (i * 7 % 251) as u8).collect(), random];
    // Messages of two or three letters, where matches of equal length to
    // choose between abound.
    let mut rng = wsproto_core::SeededRandom::new(8);
    let small_alphabet: Vec<Vec<u8>> = (0..200)
        .map(|i| {
            let mut m = vec![0u8; 1 + i % 90];
            wsproto_core::Random::fill(&mut rng, &mut m);
            m.iter_mut().for_each(|b| *b = b"ab\0"[usize::from(*b) % (2 + i % 2)]);
            m
        })
        .collect();
    let outputs: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = earlier
        .iter()
        .map(|e| {
            // Another connection of this thread sends `e` and gives its
            // compressor back (a server keeps no context by default), which
            // the next connection takes.
            let other = || {
                let (ext, _) = server_ext("permessage-deflate", DeflateConfig::default()).unwrap();
                let mut other = open_server(ext);
                other.send_binary(e).unwrap();
            };
            // One keeping no context, for one fragmented message ...
            other();
            let (ext, _) = server_ext("permessage-deflate", DeflateConfig::default()).unwrap();
            let mut fragments = open_server(ext);
            for (i, m) in echoed.iter().enumerate() {
                fragments.send_fragment(wsproto_core::DataKind::Binary, m, i + 1 == echoed.len()).unwrap();
            }
            // ... and one keeping its context for all its messages.
            other();
            let (ext, _) = server_ext("permessage-deflate", plain()).unwrap();
            let mut kept = open_server(ext);
            for m in &echoed {
                kept.send_binary(m).unwrap();
            }
            // Whole messages keeping no context may use the pooled
            // compressor, and must not depend on what it held either.
            other();
            let (ext, _) = server_ext("permessage-deflate", DeflateConfig::default()).unwrap();
            let mut whole = open_server(ext);
            for m in echoed.iter().copied().chain(small_alphabet.iter().map(Vec::as_slice)) {
                whole.send_binary(m).unwrap();
                other();
            }
            (kept.take_output(), fragments.take_output(), whole.take_output())
        })
        .collect();
    for (e, out) in earlier.iter().zip(&outputs).skip(1) {
        assert_eq!(out.0, outputs[0].0, "context kept, after another connection sent {} bytes", e.len());
        assert_eq!(out.1, outputs[0].1, "fragments, after another connection sent {} bytes", e.len());
        assert_eq!(out.2, outputs[0].2, "whole messages, after another connection sent {} bytes", e.len());
    }
}
