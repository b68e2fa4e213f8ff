//! The driver shared by the fuzz targets.
//!
//! A target's input is `[flags, cut_hi, cut_lo, bytes...]`: `flags` picks
//! the configuration, `cut` a point where the bytes are split into two
//! reads. The same bytes are fed whole and split, and both runs must give
//! the same events and output: a sans-IO decoder must not care where the
//! transport cut the stream. Beyond not crashing, every failure must be a
//! remote error with a close code the protocol allows for it.
//!
//! The `pair` target is different: its input is a script of commands for
//! a client and a server wired to each other (see [`pair`]).

pub mod pair;

use wsproto_core::extension::deflate::{DeflateConfig, PerMessageDeflate};
use wsproto_core::{Accept, ClientHandshake, Config, Connection, Event, Extension, ExtensionOffer, Role, State};

/// The seed of the test clients' mask keys and handshake nonce; the seed
/// corpus for `handshake_client` holds the matching accept value.
pub const SEED: u64 = 1;

/// Which connection a target drives.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// An open server (past the handshake).
    FrameServer,
    /// An open client.
    FrameClient,
    /// A server from its opening handshake on.
    HandshakeServer,
    /// A client from its opening handshake on.
    HandshakeClient,
    /// An open server with permessage-deflate negotiated (see [`deflate`]).
    DeflateServer,
    /// An open client with permessage-deflate negotiated.
    DeflateClient,
}

/// The configuration picked by the flags byte. Small limits so the limit
/// checks are reachable with short inputs.
pub fn config(flags: u8) -> Config {
    Config {
        max_frame_size: if flags & 8 != 0 { 64 } else { 1 << 16 },
        max_message_size: if flags & 16 != 0 { 100 } else { 1 << 20 },
        max_fragments: if flags & 32 != 0 { 3 } else { 1000 },
        max_handshake_size: 4096,
        max_headers: 32,
        auto_pong: flags & 2 == 0,
        auto_close: flags & 4 == 0,
        partial_messages: flags & 1 != 0,
        mask_seed: Some(SEED),
    }
}

/// Makes a fresh connection for `target`.
pub fn make(target: Target, flags: u8) -> Connection {
    let cfg = config(flags);
    match target {
        Target::FrameServer => Connection::open(Role::Server, cfg, None),
        Target::FrameClient => Connection::open(Role::Client, cfg, None),
        Target::HandshakeServer => Connection::server(cfg),
        Target::HandshakeClient => {
            // With flag 64 the client offers permessage-deflate (with 128,
            // asking for a 10-bit server window), so responses go through
            // the extension parameters' parser and the check of the answer
            // against the offer.
            let offer = (flags & 64 != 0).then(|| {
                let config = DeflateConfig {
                    server_max_window_bits: (flags & 128 != 0).then_some(10),
                    ..DeflateConfig::default()
                };
                Box::new(PerMessageDeflate::new(Role::Client, config)) as Box<dyn Extension>
            });
            let hs = ClientHandshake {
                host: "localhost:9001".into(),
                path: "/fuzz".into(),
                subprotocols: vec!["chat".into(), "superchat".into()],
                extensions: offer.into_iter().collect(),
                ..Default::default()
            };
            let mut c = Connection::client(cfg, hs).expect("valid handshake arguments");
            c.take_output();
            c
        }
        Target::DeflateServer => Connection::open(Role::Server, cfg, Some(deflate(Role::Server, flags))),
        Target::DeflateClient => Connection::open(Role::Client, cfg, Some(deflate(Role::Client, flags))),
    }
}

/// permessage-deflate as a handshake would have left it for `role`. The
/// flags byte's two high bits pick the parameters: with `64` both ends keep
/// their compression context from one message to the next (so a message
/// may refer back to earlier ones), without it both reset after each; with
/// `128` the server's compressor is limited to a 9-bit window (what a
/// client then inflates with, and what an echoing server compresses with).
pub fn deflate(role: Role, flags: u8) -> Box<dyn Extension> {
    let reset = flags & 64 == 0;
    let small = flags & 128 != 0;
    let config = DeflateConfig {
        server_no_context_takeover: reset,
        client_no_context_takeover: reset,
        server_max_window_bits: small.then_some(9),
        ..DeflateConfig::default()
    };
    let mut params = String::from("permessage-deflate");
    if reset {
        params += "; server_no_context_takeover; client_no_context_takeover";
    }
    if small {
        params += "; server_max_window_bits=9";
    }
    let params = ExtensionOffer::parse_list(&params).expect("valid parameters");
    let mut ext = PerMessageDeflate::new(role, config);
    match role {
        // `params` as the client's offer, or as the server's answer.
        Role::Server => {
            ext.accept(&params).expect("the offer is acceptable");
        }
        Role::Client => ext.finalize(&params[0]).expect("the answer matches the offer"),
    }
    Box::new(ext)
}

/// Everything a run produced, for comparing runs.
#[derive(Debug, PartialEq, Eq)]
pub struct Trace {
    events: Vec<String>,
    output: Vec<u8>,
    state: State,
}

/// Feeds `pieces` (then end of stream) to a fresh connection.
pub fn drive(target: Target, flags: u8, pieces: &[&[u8]]) -> Trace {
    let mut conn = make(target, flags);
    let mut events = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut failed = false;
    // The pieces, then end of stream (`None`).
    for piece in pieces.iter().map(Some).chain(std::iter::once(None)) {
        match piece {
            Some(p) => conn.receive(p),
            None => conn.receive_eof(),
        }
        // Every event consumes input, so more events than bytes means a loop.
        let mut budget = piece.map_or(0, |p| p.len()) + 8;
        while !failed {
            budget = budget.checked_sub(1).expect("poll_event returns events without consuming input");
            let reply = match conn.poll_event() {
                Ok(None) => break,
                Ok(Some(ev)) => record(ev, &mut events, &mut partial),
                Err(e) => {
                    assert!(e.is_remote(), "poll_event returned a local error: {e:?}");
                    if let Some(code) = e.close_code() {
                        assert!(matches!(code, 1002 | 1007 | 1009), "unexpected close code {code}");
                    }
                    events.push(format!("error {:?} {:?} {:?}", e.kind(), e.close_code(), e.http_status()));
                    failed = true;
                    break;
                }
            };
            react(&mut conn, reply);
        }
    }
    Trace { events, output: conn.take_output(), state: conn.state() }
}

/// What the application does after an event.
enum Reply {
    Nothing,
    Accept(Option<String>),
    Echo(String),
    FinishClose,
}

fn record(ev: Event<'_>, events: &mut Vec<String>, partial: &mut Vec<u8>) -> Reply {
    let (line, reply) = match ev {
        // Pieces are joined: where they end depends on the cut.
        Event::TextChunk { data, fin } | Event::BinaryChunk { data, fin } | Event::RejectBody { data, fin } => {
            partial.extend_from_slice(data);
            if !fin {
                return Reply::Nothing;
            }
            (format!("pieces {:?}", std::mem::take(partial)), Reply::Nothing)
        }
        Event::Request(r) => {
            let reply = Reply::Accept(r.subprotocols.first().cloned());
            (format!("{r:?}"), reply)
        }
        Event::Text(t) => (format!("text {t:?}"), Reply::Echo(t.to_owned())),
        Event::Close { code, reason } => {
            assert!(code == 1005 || code == 1006 || (1000..5000).contains(&code), "close code {code}");
            (format!("close {code} {reason:?}"), Reply::FinishClose)
        }
        other => (format!("{other:?}"), Reply::Nothing),
    };
    events.push(line);
    reply
}

fn react(conn: &mut Connection, reply: Reply) {
    match reply {
        Reply::Nothing => {}
        Reply::Accept(subprotocol) => conn.accept(Accept { subprotocol, ..Default::default() }).expect("accept"),
        Reply::Echo(t) => {
            if conn.state() == State::Open {
                conn.send_text(&t).expect("echo");
            }
        }
        Reply::FinishClose => {
            if conn.state() == State::RemoteClosing {
                conn.close(1000, "").expect("answer the close");
            }
        }
    }
}

/// Runs one fuzz input for `target`.
pub fn run(target: Target, raw: &[u8]) {
    let [flags, hi, lo, data @ ..] = raw else { return };
    let cut = usize::from(u16::from_be_bytes([*hi, *lo])) % (data.len() + 1);
    let whole = drive(target, *flags, &[data]);
    let (a, b) = data.split_at(cut);
    let split = drive(target, *flags, &[a, b]);
    assert_eq!(whole, split, "splitting the input at {cut} changed the result");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(target: &str, name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/seeds/{target}/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn trace(target: Target, raw: &[u8]) -> Trace {
        drive(target, raw[0], &[&raw[3..]])
    }

    // The seeds reach past the handshakes: the fuzzer starts deep.
    #[test]
    fn handshake_seeds_open_the_connection() {
        let t = trace(Target::HandshakeClient, &seed("handshake_client", "seed-01"));
        assert!(t.events[0].starts_with("Accepted("), "{:?}", t.events);
        assert_eq!(t.events[1..], ["text \"Hello\"", "close 1000 \"bye\""]);
        let t = trace(Target::HandshakeServer, &seed("handshake_server", "seed-01"));
        assert!(t.events[0].starts_with("Request {"), "{:?}", t.events);
        assert_eq!(t.events[1..], ["text \"Hello\"", "close 1000 \"bye\""]);
        // Offering permessage-deflate: the answer is accepted and a
        // compressed message inflated.
        let t = trace(Target::HandshakeClient, &seed("handshake_client", "seed-deflate"));
        assert!(t.events[0].starts_with("Accepted("), "{:?}", t.events);
        assert_eq!(t.events[1..], ["text \"Hello, Hello, Hello\"", "text \"Hello\"", "close 1000 \"bye\""]);
    }

    // The deflate seeds get through the inflater, and into each of its
    // failures, in both roles.
    #[test]
    fn deflate_seeds_reach_the_inflater() {
        for (name, target) in [("deflate_server", Target::DeflateServer), ("deflate_client", Target::DeflateClient)] {
            let events = |n: &str| trace(target, &seed(name, n)).events;
            assert_eq!(events("seed-00"), ["text \"Hello\"", "close 1006 \"\""], "{name}");
            assert_eq!(events("seed-05"), ["text \"the end\"", "text \"Hello\"", "close 1006 \"\""], "{name}");
            assert_eq!(events("seed-06"), ["error Extension(1007) Some(1007) None"], "{name}");
            assert_eq!(events("seed-07"), ["error ReservedBits Some(1002) None"], "{name}");
            assert_eq!(events("seed-08"), ["error InvalidUtf8 Some(1007) None"], "{name}");
            assert_eq!(events("seed-11"), ["error TooBig Some(1009) None"], "{name}");
            // Context takeover: the third message refers back to the second.
            let e = events("seed-10");
            assert_eq!((e.len(), &e[0]), (4, &"text \"Hello\"".to_owned()), "{name}");
            assert!(e[1].starts_with("Binary([123, 34, 116") && e[1] == e[2], "{name}: {e:?}");
        }
    }

    // Every seed runs clean, whole and split.
    #[test]
    fn every_seed_runs() {
        for (name, target) in [
            ("frame_server", Target::FrameServer),
            ("frame_client", Target::FrameClient),
            ("handshake_server", Target::HandshakeServer),
            ("handshake_client", Target::HandshakeClient),
            ("deflate_server", Target::DeflateServer),
            ("deflate_client", Target::DeflateClient),
        ] {
            let dir = format!("{}/seeds/{name}", env!("CARGO_MANIFEST_DIR"));
            for entry in std::fs::read_dir(dir).unwrap() {
                run(target, &std::fs::read(entry.unwrap().path()).unwrap());
            }
        }
        let dir = format!("{}/seeds/pair", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(dir).unwrap() {
            pair::run(&std::fs::read(entry.unwrap().path()).unwrap());
        }
    }

    // The pair seeds reach what they are named for.
    #[test]
    fn pair_seeds_reach_their_paths() {
        let run = |name: &str| pair::run(&seed("pair", name));
        let s = run("seed-00");
        assert_eq!((s.messages, s.closes, s.refused, s.closed), (2, 2, 0, true), "{s:?}");
        let s = run("seed-01");
        assert!(s.payload_pieces >= 4 && s.messages == 4, "{s:?}");
        let s = run("seed-02");
        assert_eq!((s.messages, s.controls), (4, 3), "{s:?}");
        let s = run("seed-03");
        assert_eq!(s.messages, 3, "{s:?}");
        let s = run("seed-04");
        assert_eq!((s.refused, s.messages, s.closes, s.closed), (10, 1, 2, true), "{s:?}");
        let s = run("seed-05");
        assert_eq!((s.messages, s.controls, s.closes, s.refused, s.closed), (0, 3, 2, 1, true), "{s:?}");
        let s = run("seed-06");
        assert_eq!((s.messages, s.closes), (0, 0), "{s:?}");
        let s = run("seed-07");
        assert_eq!((s.messages, s.controls), (3, 2), "{s:?}");
        let s = run("seed-08");
        assert!(s.messages == 2 && s.pieces >= 3, "{s:?}");
        let s = run("seed-09");
        assert_eq!((s.messages, s.closes, s.failures, s.closed), (1, 1, 1, true), "{s:?}");
        let s = run("seed-10");
        assert!(s.pieces >= 4 && s.messages == 0 && s.failures == 1 && s.closed, "{s:?}");
        // Binary messages framed into caller memory (`send_binary_into`)
        // by both sides, between pings whose output was pending.
        let s = run("seed-11");
        assert_eq!((s.messages, s.controls, s.refused, s.framed_into), (3, 4, 0, 3), "{s:?}");
    }
}
