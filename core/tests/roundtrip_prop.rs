//! Property: any sequence of messages sent by one side arrives identically
//! at the other, however the transport cuts the bytes, in both directions
//! (RFC 6455 §5.4, §5.5.2, §5.6, §6).

mod common;

use common::*;
use proptest::prelude::*;
use wsproto_core::{Config, Connection, DataKind};

/// One thing the sender does.
#[derive(Debug, Clone)]
enum Send {
    Text(String),
    Binary(Vec<u8>),
    /// A text message cut into fragments at byte offsets, possibly inside
    /// code points (§5.4 allows it; §8.1 is about the whole message).
    FragText(String, Vec<usize>),
    FragBinary(Vec<Vec<u8>>),
    Ping(Vec<u8>),
    /// A fragmented binary message with a ping after its first fragment
    /// (§5.4: control frames may be injected).
    FragBinaryPing(Vec<u8>, Vec<u8>, Vec<u8>),
}

fn send_strategy() -> impl Strategy<Value = Send> {
    prop_oneof![
        ".{0,40}".prop_map(Send::Text),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Send::Binary),
        (".{0,40}", prop::collection::vec(0usize..200, 0..5)).prop_map(|(s, cuts)| Send::FragText(s, cuts)),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..5).prop_map(Send::FragBinary),
        prop::collection::vec(any::<u8>(), 0..=125).prop_map(Send::Ping),
        (
            prop::collection::vec(any::<u8>(), 0..50),
            prop::collection::vec(any::<u8>(), 0..=125),
            prop::collection::vec(any::<u8>(), 0..50)
        )
            .prop_map(|(a, p, b)| Send::FragBinaryPing(a, p, b)),
        // Sometimes a large message, for 16- and 64-bit lengths.
        (0usize..3).prop_map(|n| Send::Binary(vec![0xa5; [200, 70_000, 1][n]])),
    ]
}

/// Performs `sends` on `tx` and returns the events the receiver must see.
fn perform(tx: &mut Connection, sends: &[Send]) -> Vec<Ev> {
    let mut expected = Vec::new();
    for s in sends {
        match s {
            Send::Text(t) => {
                tx.send_text(t).unwrap();
                expected.push(Ev::text(t));
            }
            Send::Binary(b) => {
                tx.send_binary(b).unwrap();
                expected.push(Ev::binary(b));
            }
            Send::FragText(t, cuts) => {
                send_text_cut(tx, t, cuts);
                expected.push(Ev::text(t));
            }
            Send::FragBinary(parts) => {
                for (i, p) in parts.iter().enumerate() {
                    tx.send_fragment(DataKind::Binary, p, i + 1 == parts.len()).unwrap();
                }
                expected.push(Ev::Binary(parts.concat()));
            }
            Send::Ping(p) => {
                tx.send_ping(p).unwrap();
                expected.push(Ev::Ping(p.clone()));
            }
            Send::FragBinaryPing(a, p, b) => {
                tx.send_fragment(DataKind::Binary, a, false).unwrap();
                tx.send_ping(p).unwrap();
                tx.send_fragment(DataKind::Binary, b, true).unwrap();
                expected.push(Ev::Ping(p.clone()));
                expected.push(Ev::Binary([&a[..], b].concat()));
            }
        }
    }
    expected
}

fn check_direction(
    tx: &mut Connection,
    rx: impl Fn() -> Connection,
    sends: &[Send],
    sizes: &[usize],
) -> Result<(), TestCaseError> {
    let expected = perform(tx, sends);
    let wire = tx.take_output();
    let run = Run::new(rx);
    let got = run.feed(&cut(&wire, sizes));
    prop_assert_eq!(&got.events, &expected);
    // The receiver answered each ping; the pongs reach the sender intact.
    tx.receive(&got.output);
    let pongs = poll_all(tx);
    let pings: Vec<Ev> = sends
        .iter()
        .filter_map(|s| match s {
            Send::Ping(p) | Send::FragBinaryPing(_, p, _) => Some(Ev::Pong(p.clone())),
            _ => None,
        })
        .collect();
    prop_assert_eq!(pongs, pings);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn client_to_server(sends in prop::collection::vec(send_strategy(), 0..12),
                        sizes in prop::collection::vec(1usize..2000, 1..8)) {
        check_direction(&mut client(), server, &sends, &sizes)?;
    }

    #[test]
    fn server_to_client(sends in prop::collection::vec(send_strategy(), 0..12),
                        sizes in prop::collection::vec(1usize..2000, 1..8)) {
        check_direction(&mut server(), client, &sends, &sizes)?;
    }

    // Partial delivery: the pieces add up to the same messages.
    #[test]
    fn client_to_server_partial(sends in prop::collection::vec(send_strategy(), 0..8),
                                sizes in prop::collection::vec(1usize..300, 1..8)) {
        let mut tx = client();
        let expected: Vec<Ev> = perform(&mut tx, &sends).into_iter().map(|e| match e {
            Ev::Text(t) => Ev::TextChunks(t.into_bytes()),
            Ev::Binary(b) => Ev::BinaryChunks(b),
            e => e,
        }).collect();
        let wire = tx.take_output();
        let cfg = Config { partial_messages: true, ..Config::default() };
        let got = Run::new(|| server_with(cfg.clone())).feed(&cut(&wire, &sizes));
        prop_assert_eq!(got.events, expected);
    }
}

/// A message as an independent encoder (tungstenite's frame writer) puts
/// it on the wire: fragments, each with its own mask key.
fn tungstenite_wire(text: bool, parts: &[Vec<u8>], keys: &[[u8; 4]], masked: bool) -> Vec<u8> {
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::protocol::frame::Frame;
    let mut wire = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let op = match (i, text) {
            (0, true) => Data::Text,
            (0, false) => Data::Binary,
            _ => Data::Continue,
        };
        let mut f = Frame::message(p.clone(), OpCode::Data(op), i + 1 == parts.len());
        if masked {
            f.header_mut().mask = Some(keys[i % keys.len()]);
        }
        f.format(&mut wire).unwrap();
    }
    wire
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    // §5.2-§5.4: frames written by another implementation, masked with
    // arbitrary keys (§5.3) and cut anywhere, decode to the same messages.
    #[test]
    fn tungstenite_frames_decode(msgs in prop::collection::vec((any::<bool>(), prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..4)), 1..6),
                                 keys in prop::collection::vec(any::<[u8; 4]>(), 1..4),
                                 sizes in prop::collection::vec(1usize..500, 1..6),
                                 to_server in any::<bool>()) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for (text, parts) in &msgs {
            // Text messages: turn the bytes into text, then cut it as the
            // parts were cut (code points may straddle frames).
            let parts: Vec<Vec<u8>> = if *text {
                let s: String = parts.concat().iter().map(|b| char::from(b'a' + b % 26)).chain("€𝄞".chars()).collect();
                let bytes = s.into_bytes();
                let mut out = Vec::new();
                let mut pos = 0;
                for p in &parts[..parts.len() - 1] {
                    let end = (pos + p.len()).min(bytes.len());
                    out.push(bytes[pos..end].to_vec());
                    pos = end;
                }
                out.push(bytes[pos..].to_vec());
                out
            } else {
                parts.clone()
            };
            wire.extend(tungstenite_wire(*text, &parts, &keys, to_server));
            let whole = parts.concat();
            expected.push(if *text { Ev::Text(String::from_utf8(whole).unwrap()) } else { Ev::Binary(whole) });
        }
        let rx: fn() -> Connection = if to_server { server } else { client };
        let got = Run::new(rx).feed(&cut(&wire, &sizes));
        prop_assert_eq!(got.events, expected);
        prop_assert!(got.output.is_empty());
    }
}
