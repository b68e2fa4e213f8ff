//! Hostile and broken input: random bytes, mutated streams and truncated
//! streams never panic or hang, give the same result however they are cut,
//! and always end in a close code (with the close frame queued), an HTTP
//! refusal, or a request for more input (RFC 6455 §7.1.7, §10).

mod common;

use common::*;
use proptest::prelude::*;
use wsproto_core::{Accept, ClientHandshake, Config, Connection, DataKind, State};

/// The connections under test, by index.
fn make(which: u8) -> Connection {
    match which % 4 {
        0 => server(),
        1 => client(),
        2 => Connection::server(Config::default()),
        _ => {
            let hs = ClientHandshake { host: "h".into(), path: "/".into(), ..Default::default() };
            let mut c = Connection::client(Config { mask_seed: Some(SEED), ..Config::default() }, hs).unwrap();
            c.take_output();
            c
        }
    }
}

fn accept(c: &mut Connection, ev: &Ev) {
    if let Ev::Request(_) = ev {
        c.accept(Accept::default()).unwrap();
    }
}

/// The frames in a connection's output (after a server's 101 head).
fn frames_of(which: u8, output: &[u8]) -> Vec<(u8, Vec<u8>)> {
    if which % 4 == 2 {
        if output.is_empty() {
            return vec![];
        }
        assert!(output.starts_with(b"HTTP/1.1 101 "), "{:?}", Hex(output));
        let end = output.windows(4).position(|w| w == b"\r\n\r\n").expect("end of head") + 4;
        return parse_frames(&output[end..]);
    }
    parse_frames(output)
}

/// Checks how a run ended.
fn check_ending(which: u8, out: &Outcome, eof: bool) -> Result<(), TestCaseError> {
    let frames_phase = which % 4 < 2;
    match out.events.last() {
        Some(Ev::Error { close_code, http_status, .. }) => {
            prop_assert_eq!(out.state, State::Closed);
            if let Some(code) = close_code {
                // The close frame with that code is the last frame queued.
                let frames = frames_of(which, &out.output);
                let (b0, payload) = frames.last().expect("a close frame is queued");
                prop_assert_eq!(*b0, 0x88);
                prop_assert_eq!(&payload[..2], &code.to_be_bytes()[..]);
                prop_assert!(matches!(code, 1002 | 1007 | 1009));
            } else if which % 4 == 2 {
                prop_assert!(http_status.is_some(), "a server refusal has a status");
                prop_assert!(out.output.starts_with(b"HTTP/1.1 4"));
            } else {
                // Only the handshake can fail without a close frame.
                prop_assert!(!frames_phase);
            }
        }
        Some(Ev::Close(1006, _)) if eof => prop_assert_eq!(out.state, State::Closed),
        _ if eof => {
            // The stream ended: every path must have ended the connection,
            // unless the peer's close is still waiting for its answer.
            prop_assert!(matches!(out.state, State::Closed | State::RemoteClosing), "{:?}", out);
        }
        _ => {}
    }
    // Whatever the connection wrote is well-formed.
    if !out.output.starts_with(b"HTTP/1.1 4") {
        frames_of(which, &out.output);
    }
    Ok(())
}

/// A valid stream a peer of `which` could send, to mutate.
fn valid_wire(which: u8) -> Vec<u8> {
    let mut tx = if which.is_multiple_of(2) { client() } else { server() };
    tx.send_text("héllo wörld").unwrap();
    tx.send_fragment(DataKind::Binary, &[1; 130], false).unwrap();
    tx.send_ping(b"ping").unwrap();
    tx.send_fragment(DataKind::Binary, &[2; 3], true).unwrap();
    tx.send_fragment(DataKind::Text, "€".as_bytes(), true).unwrap();
    tx.close(1000, "bye").unwrap();
    let frames = tx.take_output();
    match which % 4 {
        2 => cat(&[&request_with("Sec-WebSocket-Protocol: a\r\n"), &frames]),
        3 => {
            let key = key_of(&{
                let hs = ClientHandshake { host: "h".into(), path: "/".into(), ..Default::default() };
                Connection::client(Config { mask_seed: Some(SEED), ..Config::default() }, hs).unwrap().take_output()
            });
            let resp = format!(
                "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                wsproto_core::accept_key(key.as_bytes())
            );
            cat(&[resp.as_bytes(), &frames])
        }
        _ => frames,
    }
}

fn run_case(which: u8, input: &[u8], cut: usize, eof: bool) -> Result<(), TestCaseError> {
    let mut run = Run::new(move || make(which)).react(accept);
    if eof {
        run = run.eof();
    }
    let whole = run.feed(&[input]);
    let cut = cut % (input.len() + 1);
    let split = run.feed(&[&input[..cut], &input[cut..]]);
    prop_assert_eq!(&split, &whole, "split at {} differs", cut);
    if input.len() <= 200 {
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(&run.feed(&bytes), &whole, "byte-at-a-time differs");
    }
    check_ending(which, &whole, eof)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    // Random bytes to every kind of connection.
    #[test]
    fn random_bytes(which in 0u8..4, input in prop::collection::vec(any::<u8>(), 0..400),
                    cut in any::<usize>(), eof in any::<bool>()) {
        run_case(which, &input, cut, eof)?;
    }

    // Valid streams with a few bytes changed: gets deep into the decoder.
    #[test]
    fn mutated_streams(which in 0u8..4, flips in prop::collection::vec((any::<usize>(), 1u8..=255), 1..4),
                       cut in any::<usize>(), eof in any::<bool>()) {
        let mut input = valid_wire(which);
        for (i, x) in flips {
            let n = input.len();
            input[i % n] ^= x;
        }
        run_case(which, &input, cut, eof)?;
    }

    // Random frame-shaped input: plausible headers with random fields.
    #[test]
    fn random_frames(which in 0u8..2, frames in prop::collection::vec((any::<u8>(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..140)), 1..6),
                     cut in any::<usize>(), eof in any::<bool>()) {
        let mut input = Vec::new();
        for (b0, masked, payload) in frames {
            input.extend(raw_frame(b0, masked.then_some(KEY), &payload));
        }
        run_case(which, &input, cut, eof)?;
    }
}

// A valid stream truncated at every point, then ended: the complete events
// before the cut, then 1006 — never an error, never a panic.
#[test]
fn truncated_streams_end_in_1006() {
    for which in 0u8..4 {
        let wire = valid_wire(which);
        let full = Run::new(move || make(which)).react(accept).check(&wire);
        assert!(matches!(full.events.last(), Some(Ev::Close(1000, _))), "{:?}", full.events);
        for cut in 0..wire.len() {
            let out = Run::new(move || make(which)).react(accept).eof().feed(&[&wire[..cut]]);
            let (last, before) = out.events.split_last().expect("an event");
            assert_eq!(last, &Ev::close(1006, ""), "which {which} cut {cut}");
            assert!(full.events.starts_with(before), "which {which} cut {cut}: {before:?}");
            assert_eq!(out.state, State::Closed);
        }
    }
}
