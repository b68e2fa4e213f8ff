//! Property: with permessage-deflate negotiated in any valid way (RFC 7692
//! §7.1: context takeover on or off for each side, any window from 8 to 15
//! bits, any level, memory level and threshold), any sequence of messages
//! arrives identically at the other side however the transport cuts the
//! bytes, in both directions (§6, §7.2).
//!
//! The round trip alone would pass if our compressor and our inflater
//! agreed on something wrong, so every stream is also decoded by a second
//! inflater that shares no code with ours (miniz_oxide), holding context
//! between messages only where the negotiation lets the sender keep it
//! (§7.1.1), and seeing only the messages sent compressed (§6.1); and by a
//! small one written for this test that also checks every back-reference
//! against the sender's negotiated window (§7.1.2) and the history the
//! receiver holds.

mod common;
#[path = "deflate_prop/inflate.rs"]
mod inflate;

use common::*;
use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush};
use proptest::prelude::*;
use wsproto_core::extension::deflate::{DeflateConfig, PerMessageDeflate};
use wsproto_core::{Config, Connection, DataKind, Extension, Role};

/// One thing the sender does.
#[derive(Debug, Clone)]
enum Send {
    Text(String),
    Binary(Vec<u8>),
    /// A text message cut into fragments at byte offsets, possibly inside
    /// code points.
    FragText(String, Vec<usize>),
    /// A binary message in fragments, with a ping after the first one when
    /// the second field is set (§5.4: control frames may be injected).
    FragBinary(Vec<Vec<u8>>, Option<Vec<u8>>),
    Ping(Vec<u8>),
    /// An earlier message again, as binary (index modulo the count so far):
    /// a compressor keeping context refers back to it, if the peer has it.
    Repeat(usize),
}

/// Bytes that compress well, badly, or repeat what earlier messages said
/// (so that a compressor keeping context refers back into them).
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..200),
        4 => (prop::collection::vec(any::<u8>(), 1..8), 0usize..300).prop_map(|(unit, n)| unit.repeat(n)),
        3 => (0usize..40).prop_map(|n| b"the quick brown fox jumps over the lazy dog ".repeat(n)),
        // Incompressible but long enough to be sent plain (4 KiB and more),
        // from few seeds, so that a later message may repeat it: a
        // compressor must not refer back to bytes the peer never inflated.
        1 => (0u64..3, 4096usize..6000).prop_map(|(seed, len)| {
            let mut rng = wsproto_core::SeededRandom::new(seed);
            let mut v = vec![0u8; len];
            wsproto_core::Random::fill(&mut rng, &mut v);
            v
        }),
        1 => (0usize..2, any::<u64>()).prop_map(|(kind, seed)| {
            // 70,000 bytes: several deflate blocks, 64-bit frame lengths, and
            // distances beyond small windows.
            let mut rng = wsproto_core::SeededRandom::new(seed);
            let mut v = vec![0u8; 70_000];
            wsproto_core::Random::fill(&mut rng, &mut v);
            if kind == 0 {
                v.iter_mut().for_each(|b| *b = b"abcde"[usize::from(*b) % 5]);
            }
            v
        }),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        (".{1,12}", 0usize..200).prop_map(|(s, n)| s.repeat(n)),
        (0usize..30).prop_map(|n| "Grüße, 世界! 𝄞 ".repeat(n)),
    ]
}

fn send() -> impl Strategy<Value = Send> {
    prop_oneof![
        3 => text().prop_map(Send::Text),
        3 => payload().prop_map(Send::Binary),
        1 => (text(), prop::collection::vec(0usize..400, 0..4)).prop_map(|(s, c)| Send::FragText(s, c)),
        1 => (prop::collection::vec(payload(), 1..4), prop::option::of(prop::collection::vec(any::<u8>(), 0..=125)))
            .prop_map(|(parts, ping)| Send::FragBinary(parts, ping)),
        1 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(Send::Ping),
        2 => any::<usize>().prop_map(Send::Repeat),
    ]
}

fn deflate_config() -> impl Strategy<Value = DeflateConfig> {
    let bits = prop_oneof![Just(None), (8u8..=15).prop_map(Some)];
    // Either side may turn context takeover off; mostly neither does, so
    // that most streams refer back across messages.
    let off = || prop::bool::weighted(0.25);
    (
        off(),
        off(),
        bits.clone(),
        bits,
        prop_oneof![Just(1u8), Just(6), Just(9)],
        1u8..=9,
        prop_oneof![Just(0usize), Just(64)],
    )
        .prop_map(|(snc, cnc, smwb, cmwb, level, mem_level, threshold)| DeflateConfig {
            server_no_context_takeover: snc,
            client_no_context_takeover: cnc,
            server_max_window_bits: smwb,
            client_max_window_bits: cmwb,
            level,
            mem_level,
            threshold,
        })
}

/// Runs the negotiation of §7.1 between the two configurations; every
/// valid offer must be accepted and every answer to it must be valid.
fn negotiate(client: DeflateConfig, server: DeflateConfig) -> (PerMessageDeflate, PerMessageDeflate) {
    let mut c = PerMessageDeflate::new(Role::Client, client);
    let mut s = PerMessageDeflate::new(Role::Server, server);
    let offers = c.offers();
    let response = s.accept(&offers).expect("the server accepts every valid offer");
    c.finalize(&response).expect("the client accepts the server's answer");
    (c, s)
}

/// Performs `sends` on `tx`; returns the events the receiver must see and
/// the payloads of the data messages in order.
fn perform(tx: &mut Connection, sends: &[Send]) -> (Vec<Ev>, Vec<Vec<u8>>) {
    let mut events = Vec::new();
    let mut messages = Vec::new();
    for s in sends {
        match s {
            Send::Text(t) => {
                tx.send_text(t).unwrap();
                events.push(Ev::text(t));
                messages.push(t.as_bytes().to_vec());
            }
            Send::Binary(b) => {
                tx.send_binary(b).unwrap();
                events.push(Ev::binary(b));
                messages.push(b.clone());
            }
            Send::FragText(t, cuts) => {
                send_text_cut(tx, t, cuts);
                events.push(Ev::text(t));
                messages.push(t.as_bytes().to_vec());
            }
            Send::FragBinary(parts, ping) => {
                for (i, p) in parts.iter().enumerate() {
                    tx.send_fragment(DataKind::Binary, p, i + 1 == parts.len()).unwrap();
                    if let (0, Some(ping)) = (i, ping) {
                        tx.send_ping(ping).unwrap();
                    }
                }
                // The ping follows the first fragment, which may be the last.
                let message = Ev::Binary(parts.concat());
                match ping {
                    Some(p) if parts.len() == 1 => events.extend([message, Ev::Ping(p.clone())]),
                    Some(p) => events.extend([Ev::Ping(p.clone()), message]),
                    None => events.push(message),
                }
                messages.push(parts.concat());
            }
            Send::Ping(p) => {
                tx.send_ping(p).unwrap();
                events.push(Ev::Ping(p.clone()));
            }
            Send::Repeat(i) => {
                let again = if messages.is_empty() { Vec::new() } else { messages[i % messages.len()].clone() };
                tx.send_binary(&again).unwrap();
                events.push(Ev::binary(&again));
                messages.push(again);
            }
        }
    }
    (events, messages)
}

/// Inflates one message's payload with miniz_oxide (the §7.2.2 tail
/// appended), continuing `state`'s stream.
fn miniz_inflate(state: &mut InflateState, payload: &[u8]) -> Vec<u8> {
    let input = [payload, &[0x00, 0x00, 0xff, 0xff]].concat();
    let mut rest = &input[..];
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let r = inflate(state, rest, &mut buf, MZFlush::Sync);
        out.extend_from_slice(&buf[..r.bytes_written]);
        rest = &rest[r.bytes_consumed..];
        match r.status {
            Ok(_) if rest.is_empty() && r.bytes_written < buf.len() => return out,
            Ok(_) => {}
            // No progress possible: all input taken and nothing more to give.
            Err(MZError::Buf) if rest.is_empty() => return out,
            Err(e) => panic!("miniz_oxide cannot inflate the message: {e:?}"),
        }
    }
}

/// Decodes the sender's frames on their own and checks each message's
/// payload against what was sent: compressed messages (RSV1 on the first
/// frame, §6.1) through both independent inflaters, the others as sent.
/// Control frames and continuations never carry RSV1 (§6.1, §5.5).
fn check_wire(wire: &[u8], keeps_context: bool, window_bits: u8, messages: &[Vec<u8>]) -> Result<(), TestCaseError> {
    let mut miniz = InflateState::new_boxed(DataFormat::Raw);
    let mut checked = inflate::Checked::new(window_bits);
    let mut got = Vec::new();
    let mut current: Option<(bool, Vec<u8>)> = None;
    let mut compressed_seen = false;
    for (b0, payload) in parse_frames(wire) {
        let opcode = b0 & 0x0f;
        if opcode >= 8 {
            prop_assert_eq!(b0 & 0x70, 0, "RSV bits on a control frame");
            continue;
        }
        match (&mut current, opcode) {
            (None, 1 | 2) => current = Some((b0 & 0x40 != 0, payload)),
            (Some((_, buf)), 0) => {
                prop_assert_eq!(b0 & 0x70, 0, "RSV bits on a continuation frame");
                buf.extend_from_slice(&payload);
            }
            _ => prop_assert!(false, "frame {b0:#04x} out of order"),
        }
        if b0 & 0x80 == 0 {
            continue;
        }
        let (compressed, payload) = current.take().unwrap();
        if !compressed {
            got.push(payload);
            continue;
        }
        prop_assert!(window_bits > 8, "a compressed message from a sender limited to 8 bits");
        if !keeps_context && compressed_seen {
            // The sender reset its compressor, so a peer may inflate each
            // message with a fresh inflater.
            miniz = InflateState::new_boxed(DataFormat::Raw);
            checked.reset();
        }
        compressed_seen = true;
        let a = miniz_inflate(&mut miniz, &payload);
        let b = checked.message(&payload).map_err(|e| TestCaseError::fail(format!("message {}: {e}", got.len())))?;
        prop_assert!(a == b, "the two inflaters disagree on message {}", got.len());
        got.push(a);
    }
    prop_assert!(current.is_none(), "the stream ends inside a message");
    prop_assert_eq!(got.len(), messages.len());
    for (i, (g, m)) in got.iter().zip(messages).enumerate() {
        prop_assert!(g == m, "message {} differs: {} bytes decoded, {} sent", i, g.len(), m.len());
    }
    Ok(())
}

fn check(
    client_cfg: DeflateConfig,
    server_cfg: DeflateConfig,
    sends: &[Send],
    sizes: &[usize],
    from_client: bool,
) -> Result<(), TestCaseError> {
    let (c, s) = negotiate(client_cfg.clone(), server_cfg.clone());
    let (tx_ext, tx_role, rx_role) =
        if from_client { (c, Role::Client, Role::Server) } else { (s, Role::Server, Role::Client) };
    let (no_context, _, window_bits) = tx_ext.negotiated().unwrap();
    let mut tx = Connection::open(tx_role, Config { mask_seed: Some(9), ..Config::default() }, Some(Box::new(tx_ext)));
    let (expected, messages) = perform(&mut tx, sends);
    let wire = tx.take_output();
    check_wire(&wire, !no_context, window_bits, &messages)?;
    let rx = || {
        let (c, s) = negotiate(client_cfg.clone(), server_cfg.clone());
        let ext: Box<dyn Extension> = if from_client { Box::new(s) } else { Box::new(c) };
        Connection::open(rx_role, Config::default(), Some(ext))
    };
    let got = Run::new(rx).feed(&cut(&wire, sizes));
    prop_assert_eq!(got.events, expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn client_to_server(client_cfg in deflate_config(), server_cfg in deflate_config(),
                        sends in prop::collection::vec(send(), 0..10),
                        sizes in prop::collection::vec(1usize..3000, 1..6)) {
        check(client_cfg, server_cfg, &sends, &sizes, true)?;
    }

    #[test]
    fn server_to_client(client_cfg in deflate_config(), server_cfg in deflate_config(),
                        sends in prop::collection::vec(send(), 0..10),
                        sizes in prop::collection::vec(1usize..3000, 1..6)) {
        check(client_cfg, server_cfg, &sends, &sizes, false)?;
    }
}
