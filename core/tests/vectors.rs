//! Shared test vectors: `tests/vectors/frames.json` at the repository root.
//!
//! Every binding (C, Python, Node) replays the same file through its own API
//! and must produce the same events and the same bytes on the wire; that is
//! how the project shows that all languages share one behaviour. This test
//! checks the file against the core. After an intended change of behaviour,
//! regenerate it with `WSPROTO_UPDATE_VECTORS=1 cargo test -p wsproto-core
//! --test vectors` and review the diff.
//!
//! Format: a list of cases, each `{name, rfc, config, input, events, output}`.
//! `config` has `role` ("client"/"server"), `auto_pong`, `auto_close`,
//! `max_message_size` and `mask_seed`; the connection starts open (handshake
//! done, no extension). `input` and `output` are hex. Events are objects with
//! one key: `text` (string), `binary`/`ping`/`pong` (hex), `close`
//! (`[code, reason]`) or `error` (`{kind, close_code}`); an error ends the case.

use serde_json::{json, Value};
use wsproto_core::{Config, Connection, Event, Role};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A frame as a client sends it (masked with `KEY`) or as a server does.
fn frame(b0: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![b0];
    let m = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&KEY);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

fn c(b0: u8, payload: &[u8]) -> Vec<u8> {
    frame(b0, payload, true)
}

fn s(b0: u8, payload: &[u8]) -> Vec<u8> {
    frame(b0, payload, false)
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    [&code.to_be_bytes()[..], reason].concat()
}

struct Case {
    name: &'static str,
    rfc: &'static str,
    role: Role,
    auto_pong: bool,
    auto_close: bool,
    max_message_size: u64,
    input: Vec<u8>,
}

fn case(name: &'static str, rfc: &'static str, role: Role, input: Vec<u8>) -> Case {
    Case { name, rfc, role, auto_pong: true, auto_close: true, max_message_size: 1 << 20, input }
}

fn cases() -> Vec<Case> {
    use Role::{Client, Server};
    let big = vec![0xabu8; 65_536];
    let mut v = vec![
        case("text", "5.6", Server, c(0x81, b"Hello")),
        case("binary 16-bit length", "5.2", Server, c(0x82, &[7u8; 256])),
        case("binary 64-bit length", "5.2", Server, c(0x82, &big)),
        case("empty text", "5.6", Server, c(0x81, b"")),
        case("fragmented text", "5.4", Server, [c(0x01, b"Hel"), c(0x00, b"lo, "), c(0x80, b"world")].concat()),
        case(
            "ping inside a fragmented message",
            "5.4, 5.5.2",
            Server,
            [c(0x02, b"ab"), c(0x89, b"ping!"), c(0x80, b"cd")].concat(),
        ),
        case("ping answered with pong", "5.5.2", Server, c(0x89, b"are you there")),
        case("unsolicited pong", "5.5.3", Server, c(0x8a, b"heartbeat")),
        case("close 1000 echoed", "5.5.1", Server, c(0x88, &close_payload(1000, b"bye"))),
        case("empty close is 1005", "7.1.5", Server, c(0x88, b"")),
        case("close with a 1-byte payload", "5.5.1", Server, c(0x88, b"\x03")),
        case("close code 1005 on the wire", "7.4.1", Server, c(0x88, &close_payload(1005, b""))),
        case("close code 999", "7.4.2", Server, c(0x88, &close_payload(999, b""))),
        case("close code 1016", "7.4.2", Server, c(0x88, &close_payload(1016, b""))),
        case("close code 3000", "7.4.2", Server, c(0x88, &close_payload(3000, b"app"))),
        case("close code 4999", "7.4.2", Server, c(0x88, &close_payload(4999, b""))),
        case("close code 5000", "7.4.2", Server, c(0x88, &close_payload(5000, b""))),
        case("close reason not UTF-8", "5.5.1, 8.1", Server, c(0x88, &close_payload(1000, b"\xff"))),
        case("unmasked client frame", "5.1", Server, s(0x81, b"Hello")),
        case("reserved opcode 3", "5.2", Server, c(0x83, b"")),
        case("reserved control opcode 0xB", "5.2", Server, c(0x8b, b"")),
        case("RSV1 without an extension", "5.2", Server, c(0xc1, b"x")),
        case("ping longer than 125 bytes", "5.5", Server, c(0x89, &[0u8; 126])),
        case("fragmented ping", "5.5", Server, c(0x09, b"x")),
        case("continuation without a message", "5.4", Server, c(0x80, b"x")),
        case("new message inside a fragmented one", "5.4", Server, [c(0x01, b"a"), c(0x81, b"b")].concat()),
        case("invalid UTF-8 fails mid-frame", "8.1", Server, c(0x81, b"ok\xc0\xafrest")[..10].to_vec()),
        case(
            "code point split across fragments",
            "8.1",
            Server,
            [c(0x01, "€".as_bytes().get(..1).unwrap()), c(0x80, "€".as_bytes().get(1..).unwrap())].concat(),
        ),
        case("64-bit length with the top bit set", "5.2", Server, vec![0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        case("length not minimally encoded", "5.2", Server, vec![0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4]),
        case("text then close", "5.6, 7", Server, [c(0x81, b"last"), c(0x88, &close_payload(1001, b"away"))].concat()),
        case("server text", "5.6", Client, s(0x81, b"Hello")),
        case("masked server frame", "5.1", Client, c(0x81, b"Hello")),
        case("ping answered with a masked pong", "5.3, 5.5.2", Client, s(0x89, b"ping")),
        case("close echoed masked", "5.5.1", Client, s(0x88, &close_payload(1000, b""))),
    ];
    let mut tiny = case("message over the limit", "10.4", Server, c(0x82, &[0u8; 11]));
    tiny.max_message_size = 10;
    v.push(tiny);
    let mut frag =
        case("fragments add up over the limit", "10.4", Server, [c(0x02, &[1; 6]), c(0x80, &[2; 6])].concat());
    frag.max_message_size = 10;
    v.push(frag);
    let mut manual = case("auto pong off", "5.5.2", Server, c(0x89, b"manual"));
    manual.auto_pong = false;
    v.push(manual);
    let mut no_close = case("auto close off", "5.5.1", Server, c(0x88, &close_payload(1000, b"")));
    no_close.auto_close = false;
    v.push(no_close);
    v
}

fn run(case: &Case, chunk: usize) -> (Vec<Value>, Vec<u8>) {
    let config = Config {
        auto_pong: case.auto_pong,
        auto_close: case.auto_close,
        max_message_size: case.max_message_size,
        max_frame_size: case.max_message_size,
        mask_seed: Some(1),
        ..Config::default()
    };
    let mut conn = Connection::open(case.role, config, None);
    let mut events = Vec::new();
    'feed: for piece in case.input.chunks(chunk.max(1)) {
        conn.receive(piece);
        loop {
            match conn.poll_event() {
                Ok(Some(e)) => events.push(match e {
                    Event::Text(t) => json!({ "text": t }),
                    Event::Binary(b) => json!({ "binary": hex(b) }),
                    Event::Ping(p) => json!({ "ping": hex(p) }),
                    Event::Pong(p) => json!({ "pong": hex(p) }),
                    Event::Close { code, reason } => json!({ "close": [code, reason] }),
                    other => panic!("unexpected {other:?}"),
                }),
                Ok(None) => break,
                Err(e) => {
                    events
                        .push(json!({ "error": { "kind": format!("{:?}", e.kind()), "close_code": e.close_code() } }));
                    break 'feed;
                }
            }
        }
    }
    (events, conn.take_output())
}

fn generate() -> Value {
    let cases: Vec<Value> = cases()
        .iter()
        .map(|case| {
            let (events, output) = run(case, usize::MAX);
            // The vectors hold for any cut of the input.
            assert_eq!(run(case, 1), (events.clone(), output.clone()), "{} byte at a time", case.name);
            json!({
                "name": case.name,
                "rfc6455": case.rfc,
                "config": {
                    "role": if case.role == Role::Server { "server" } else { "client" },
                    "auto_pong": case.auto_pong,
                    "auto_close": case.auto_close,
                    "max_message_size": case.max_message_size,
                    "mask_seed": 1,
                },
                "input": hex(&case.input),
                "events": events,
                "output": hex(&output),
            })
        })
        .collect();
    Value::Array(cases)
}

#[test]
fn shared_vectors_match_the_core() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/frames.json");
    let generated = generate();
    if std::env::var_os("WSPROTO_UPDATE_VECTORS").is_some() {
        std::fs::write(path, serde_json::to_string_pretty(&generated).unwrap() + "\n").unwrap();
    }
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("tests/vectors/frames.json")).expect("valid JSON");
    let (stored, generated) = (stored.as_array().unwrap(), generated.as_array().unwrap());
    assert_eq!(stored.len(), generated.len(), "number of cases");
    for (a, b) in stored.iter().zip(generated) {
        assert_eq!(a, b, "case {}", a["name"]);
    }
}
