//! The opening handshake (RFC 6455 §4), both roles: request validation and
//! exposure, exact response bytes, response validation, rejections, and
//! frames that arrive in the same read as the HTTP head.

mod common;

use common::*;
use wsproto_core::{
    accept_key, Accept, ClientHandshake, Config, Connection, ErrorKind, Event, Extension, ExtensionOffer, Reject,
    Request, Response, State,
};

fn new_server() -> Connection {
    Connection::server(Config::default())
}

fn accept_plain(conn: &mut Connection, ev: &Ev) {
    if let Ev::Request(_) = ev {
        conn.accept(Accept::default()).unwrap();
    }
}

/// Runs a request that the server must refuse with `status`.
fn refused(request: &[u8], kind: ErrorKind, status: u16, detail: &str) {
    let reason = match status {
        400 => "Bad Request",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        _ => unreachable!(),
    };
    let out =
        Run::new(new_server).expect(request, &[Ev::http_err(kind, status)], &error_response(status, reason, detail));
    assert_eq!(out.state, State::Closed);
}

// §4.2.1 / §4.2.2 / §1.3: the sample request is accepted with the sample
// accept value, and everything in it is exposed.
#[test]
fn server_accepts_sample_request_and_exposes_it() {
    let req = request_with(
        "Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
         Sec-WebSocket-Protocol: v3\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, \
         x-foo; a=1; b=\"two\"\r\nX-Custom: yes\r\n",
    );
    let mut req = String::from_utf8(req).unwrap().replacen("/chat", "/chat?room=1&x", 1).into_bytes();
    let expected = Request {
        target: "/chat?room=1&x".into(),
        host: "server.example.com".into(),
        origin: Some("http://example.com".into()),
        key: SAMPLE_KEY.into(),
        subprotocols: vec!["chat".into(), "superchat".into(), "v3".into()],
        extensions: vec![
            offer("permessage-deflate", &[("client_max_window_bits", None)]),
            offer("x-foo", &[("a", Some("1")), ("b", Some("two"))]),
        ],
        headers: headers(&[
            ("Host", "server.example.com"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", SAMPLE_KEY),
            ("Sec-WebSocket-Version", "13"),
            ("Origin", "http://example.com"),
            ("Sec-WebSocket-Protocol", "chat, superchat"),
            ("Sec-WebSocket-Protocol", "v3"),
            ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits, x-foo; a=1; b=\"two\""),
            ("X-Custom", "yes"),
        ]),
    };
    let out = Run::new(new_server).expect(&req, &[Ev::Request(expected.clone())], b"");
    assert_eq!(out.state, State::Connecting);
    assert_eq!(expected.path(), "/chat");
    assert_eq!(expected.query(), Some("room=1&x"));
    assert_eq!(expected.header("x-CUSTOM"), Some(&b"yes"[..]));

    // Accept with a subprotocol and extra headers: exact 101 bytes.
    req.extend_from_slice(&cframe(TXT, b"after"));
    let run = Run::new(new_server).react(|c, ev| {
        if let Ev::Request(_) = ev {
            c.accept(Accept {
                subprotocol: Some("superchat".into()),
                headers: headers(&[("X-Server", "wsproto"), ("Set-Cookie", "a=b")]),
                ..Default::default()
            })
            .unwrap();
        }
    });
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\nSec-WebSocket-Protocol: superchat\r\nX-Server: wsproto\r\n\
         Set-Cookie: a=b\r\n\r\n"
    );
    let out = run.expect(&req, &[Ev::Request(expected), Ev::text("after")], response.as_bytes());
    assert_eq!(out.state, State::Open);
}

// RFC 7230 §5.3.2: a server must accept a target in absolute form; the
// target is kept as sent, and path and query are those of its origin form.
#[test]
fn absolute_form_targets_have_their_path_and_query() {
    for (target, path, query) in [
        ("ws://server.example.com/chat?room=1", "/chat", Some("room=1")),
        ("WSS://server.example.com:8443/a/b", "/a/b", None),
        ("http://server.example.com", "/", None),
        ("https://server.example.com?x", "/", Some("x")),
        ("/chat", "/chat", None),
        ("/?q", "/", Some("q")),
        ("/a://b?c", "/a://b", Some("c")),
        ("*", "*", None),
    ] {
        let req = String::from_utf8(request_with("")).unwrap().replacen("/chat", target, 1).into_bytes();
        let out = Run::new(new_server).check(&req);
        let [Ev::Request(r)] = &out.events[..] else { panic!("{target}: {:?}", out.events) };
        assert_eq!((r.target.as_str(), r.path(), r.query()), (target, path, query), "{target}");
    }
}

// §1.3: the accept value is base64(SHA-1(key + GUID)).
#[test]
fn accept_key_sample() {
    assert_eq!(accept_key(SAMPLE_KEY.as_bytes()), SAMPLE_ACCEPT);
}

// §4.2.2: the plain accept, and frames in the same read as the request
// head are kept until the application decides, then decoded.
#[test]
fn frames_in_the_same_read_as_the_request() {
    let input = cat(&[&request_with(""), &cframe(TXT, b"one"), &cframe(PING, b"p"), &cfrag(BIN, b"tw", false)]);
    let input = cat(&[&input, &cfrag(CONT, b"o", true)]);
    let out = Run::new(new_server).react(accept_plain).check(&input);
    assert!(matches!(out.events[0], Ev::Request(_)));
    assert_eq!(out.events[1..], [Ev::text("one"), Ev::Ping(b"p".to_vec()), Ev::binary(b"two")]);
    assert_eq!(Hex(&out.output), Hex(&cat(&[&sample_101(), &sframe(PONG, b"p")])));
}

// §4.2.1: frames are not decoded before the application answers.
#[test]
fn frames_wait_for_the_decision() {
    let mut s = new_server();
    s.receive(&cat(&[&request_with(""), &cframe(TXT, b"early")]));
    assert!(matches!(poll_all(&mut s)[..], [Ev::Request(_)]));
    assert_eq!(poll_all(&mut s), vec![]);
    assert_eq!(s.send_text("x").unwrap_err().kind(), ErrorKind::InvalidState);
    s.accept(Accept::default()).unwrap();
    assert_eq!(poll_all(&mut s), vec![Ev::text("early")]);
    // A second answer is a local error.
    let e = s.accept(Accept::default()).unwrap_err();
    assert_eq!((e.kind(), e.is_local()), (ErrorKind::InvalidState, true));
    assert_eq!(s.reject(&Reject { status: 403, ..Default::default() }).unwrap_err().kind(), ErrorKind::InvalidState);
}

// §4.2.1 item 1: the method must be GET.
#[test]
fn method_must_be_get() {
    let req = String::from_utf8(request_with("")).unwrap().replacen("GET", "POST", 1);
    refused(req.as_bytes(), ErrorKind::BadHandshake, 400, "method must be GET");
}

// §4.2.1 item 1: HTTP/1.1 or higher.
#[test]
fn version_must_be_http_1_1() {
    let req = String::from_utf8(request_with("")).unwrap().replacen("HTTP/1.1", "HTTP/1.0", 1);
    refused(req.as_bytes(), ErrorKind::BadHandshake, 400, "HTTP/1.1 or later is required");
}

/// The sample request without the header line starting with `name`.
fn without(name: &str, extra: &str) -> Vec<u8> {
    let text = String::from_utf8(request_with(extra)).unwrap();
    let kept: Vec<&str> = text.split("\r\n").filter(|l| !l.starts_with(name)).collect();
    kept.join("\r\n").into_bytes()
}

// §4.2.1 item 2: a Host header is required.
#[test]
fn host_is_required() {
    refused(&without("Host:", ""), ErrorKind::BadHandshake, 400, "missing Host header");
}

// §4.2.1 items 3-4: Upgrade must contain "websocket" and Connection must
// contain "Upgrade", both case-insensitive tokens of comma lists.
#[test]
fn upgrade_and_connection_tokens() {
    for (up, conn) in [
        ("WebSocket", "upgrade"),
        ("foo, websocket", "keep-alive, Upgrade"),
        ("h2c,WEBSOCKET ", " keep-alive ,UPGRADE"),
    ] {
        let req = cat(&[&without("Upgrade:", ""), b""]);
        let req = String::from_utf8(req).unwrap().replace("Connection: Upgrade", &format!("Connection: {conn}"));
        let req = req.replacen("\r\n\r\n", &format!("\r\nUpgrade: {up}\r\n\r\n"), 1);
        let out = Run::new(new_server).check(req.as_bytes());
        assert!(matches!(out.events[..], [Ev::Request(_)]), "{up:?} / {conn:?}: {:?}", out.events);
    }
    refused(&without("Upgrade:", ""), ErrorKind::BadHandshake, 400, "Upgrade header must contain websocket");
    let wrong = String::from_utf8(request_with("")).unwrap().replace("Upgrade: websocket", "Upgrade: websockets");
    refused(wrong.as_bytes(), ErrorKind::BadHandshake, 400, "Upgrade header must contain websocket");
    refused(&without("Connection:", ""), ErrorKind::BadHandshake, 400, "Connection header must contain Upgrade");
    let wrong = String::from_utf8(request_with("")).unwrap().replace("Connection: Upgrade", "Connection: keep-alive");
    refused(wrong.as_bytes(), ErrorKind::BadHandshake, 400, "Connection header must contain Upgrade");
}

// §4.2.1 item 5: the key must decode (base64) to exactly 16 bytes.
#[test]
fn key_must_be_16_bytes() {
    for key in ["", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25j", "dGhlIHNhbXBsZSBub25jZSE=", "!!!!"] {
        let req = String::from_utf8(request_with("")).unwrap().replace(SAMPLE_KEY, key);
        refused(req.as_bytes(), ErrorKind::BadHandshake, 400, "Sec-WebSocket-Key must be 16 bytes in base64");
    }
    refused(&without("Sec-WebSocket-Key:", ""), ErrorKind::BadHandshake, 400, "missing Sec-WebSocket-Key header");
    // A second key is ambiguous.
    let two = request_with("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n");
    refused(&two, ErrorKind::BadHandshake, 400, "more than one Sec-WebSocket-Key header");
}

// §4.2.2 / §4.4: any version but 13 is answered 426 with
// `Sec-WebSocket-Version: 13`.
#[test]
fn version_other_than_13_is_426() {
    for v in ["8", "12", "14", "13, 8"] {
        let req = String::from_utf8(request_with("")).unwrap().replace("Version: 13", &format!("Version: {v}"));
        refused(req.as_bytes(), ErrorKind::UnsupportedVersion, 426, "unsupported Sec-WebSocket-Version");
    }
    refused(
        &without("Sec-WebSocket-Version:", ""),
        ErrorKind::UnsupportedVersion,
        426,
        "missing Sec-WebSocket-Version header",
    );
}

// §4.2.1: garbage that is not HTTP is a 400, and nothing after it is read.
#[test]
fn malformed_http_is_400() {
    refused(
        b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n",
        ErrorKind::BadHandshake,
        400,
        "malformed HTTP request: invalid header name",
    );
    refused(b"\x16\x03\x01\x02\x00", ErrorKind::BadHandshake, 400, "malformed HTTP request: invalid token");
}

// The head size limit: a request head over `max_handshake_size` is refused
// with 431, whether it is complete or still growing.
#[test]
fn request_head_size_limit() {
    let cfg = Config { max_handshake_size: 256, ..Config::default() };
    let big = request_with(&format!("X-Pad: {}\r\n", "a".repeat(200)));
    assert!(big.len() > 256);
    let body = error_response(431, "Request Header Fields Too Large", "request head too large");
    for input in [&big[..], &big[..big.len() - 2]] {
        Run::new(|| Connection::server(cfg.clone())).expect(
            input,
            &[Ev::http_err(ErrorKind::HandshakeTooLarge, 431)],
            &body,
        );
    }
    // Just under the limit is fine.
    let fits = request_with(&format!("X-Pad: {}\r\n", "a".repeat(256 - 1 - request_with("X-Pad: \r\n").len())));
    assert_eq!(fits.len(), 255);
    let out = Run::new(|| Connection::server(cfg.clone())).check(&fits);
    assert!(matches!(out.events[..], [Ev::Request(_)]));
    // Too many header lines is refused the same way.
    let cfg = Config { max_headers: 5, ..Config::default() };
    Run::new(|| Connection::server(cfg.clone())).expect(
        &request_with("X-One: 1\r\n"),
        &[Ev::http_err(ErrorKind::HandshakeTooLarge, 431)],
        &error_response(431, "Request Header Fields Too Large", "too many header lines"),
    );
}

// §4.2.2: the subprotocol chosen must be one the client offered (a local
// error that changes nothing); accept may then be called again.
#[test]
fn accept_checks_subprotocol_and_headers() {
    let mut s = new_server();
    s.receive(&request_with("Sec-WebSocket-Protocol: chat\r\n"));
    poll_all(&mut s);
    let e = s.accept(Accept { subprotocol: Some("other".into()), ..Default::default() }).unwrap_err();
    assert_eq!((e.kind(), e.is_local()), (ErrorKind::SubprotocolNotOffered, true));
    let e = s.accept(Accept { headers: headers(&[("X-Bad", "a\r\nInjected: 1")]), ..Default::default() }).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidHeader);
    let e = s.accept(Accept { headers: headers(&[("Bad Name", "v")]), ..Default::default() }).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidHeader);
    assert_eq!(s.output(), b"");
    assert_eq!(s.state(), State::Connecting);
    s.accept(Accept { subprotocol: Some("chat".into()), ..Default::default() }).unwrap();
    let expected = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    );
    assert_eq!(s.take_output(), expected.as_bytes());
    assert_eq!(s.state(), State::Open);
}

// §4.2.2 item 4 (the "not accept" branch): the application may answer with
// any HTTP status, headers and body; the connection is then closed.
#[test]
fn reject_with_any_response() {
    let mut s = new_server();
    s.receive(&cat(&[&request_with(""), &cframe(TXT, b"ignored")]));
    poll_all(&mut s);
    s.reject(&Reject {
        status: 403,
        headers: headers(&[("X-Why", "banned"), ("Content-Type", "text/plain")]),
        body: b"go away".to_vec(),
    })
    .unwrap();
    assert_eq!(
        Hex(&s.take_output()),
        Hex(b"HTTP/1.1 403 Forbidden\r\nX-Why: banned\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\ngo away")
    );
    assert_eq!(s.state(), State::Closed);
    assert!(s.should_close_transport());
    assert_eq!(poll_all(&mut s), vec![]);

    // An unusual status gets an empty reason phrase; a given Content-Length
    // is not doubled; an empty body still gets Content-Length: 0.
    for (reject, bytes) in [
        (Reject { status: 418, headers: vec![], body: vec![] }, &b"HTTP/1.1 418 \r\nContent-Length: 0\r\n\r\n"[..]),
        (
            Reject { status: 500, headers: headers(&[("content-length", "2")]), body: b"ok".to_vec() },
            b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 2\r\n\r\nok",
        ),
        (
            Reject { status: 302, headers: headers(&[("Location", "/elsewhere")]), body: vec![] },
            b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
        ),
    ] {
        let mut s = new_server();
        s.receive(&request_with(""));
        poll_all(&mut s);
        s.reject(&reject).unwrap();
        assert_eq!(Hex(&s.take_output()), Hex(bytes));
    }

    // Statuses that cannot refuse: a local error, nothing written.
    for status in [0, 99, 101, 600] {
        let mut s = new_server();
        s.receive(&request_with(""));
        poll_all(&mut s);
        let e = s.reject(&Reject { status, ..Default::default() }).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidStatus);
        assert_eq!(s.output(), b"");
        assert_eq!(s.state(), State::Connecting);
    }
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

const CSEED: u64 = 77;

fn handshake() -> ClientHandshake {
    ClientHandshake { host: "example.com:8080".into(), path: "/chat?x=1".into(), ..Default::default() }
}

/// A negotiation-only extension for tests (claims no RSV bits).
#[derive(Debug)]
struct Named(&'static str);

impl Extension for Named {
    fn name(&self) -> &str {
        self.0
    }
    fn offers(&mut self) -> Vec<ExtensionOffer> {
        vec![offer(self.0, &[("level", Some("3"))]), offer(self.0, &[])]
    }
    fn accept(&mut self, offers: &[ExtensionOffer]) -> Option<ExtensionOffer> {
        offers.last().cloned()
    }
    fn finalize(&mut self, response: &ExtensionOffer) -> Result<(), String> {
        if response.param("bad").is_some() {
            return Err("bad parameter".into());
        }
        Ok(())
    }
}

/// Makes a client, returns it with its request bytes.
fn new_client(hs: ClientHandshake) -> (Connection, Vec<u8>) {
    let mut c = Connection::client(Config { mask_seed: Some(CSEED), ..Config::default() }, hs).unwrap();
    let req = c.take_output();
    (c, req)
}

fn response_101(key: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept_key(key.as_bytes())
    )
    .into_bytes()
}

// §4.1: the exact request bytes, with the key drawn from the generator
// (16 random bytes, base64).
#[test]
fn client_request_bytes() {
    let (_, req) = new_client(ClientHandshake {
        origin: Some("http://example.com".into()),
        subprotocols: vec!["chat".into(), "superchat".into()],
        extensions: vec![Box::new(Named("x-test"))],
        headers: headers(&[("Authorization", "Bearer t")]),
        ..handshake()
    });
    let key = key_of(&req);
    let mut nonce = [0u8; 16];
    use wsproto_core::Random;
    wsproto_core::SeededRandom::new(CSEED).fill(&mut nonce);
    assert_eq!(key, wsproto_core::handshake::encode_key(nonce));
    let expected = format!(
        "GET /chat?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\n\
         Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Extensions: x-test; level=3, x-test\r\n\
         Authorization: Bearer t\r\n\r\n"
    );
    assert_eq!(String::from_utf8(req).unwrap(), expected);
    // The minimal request.
    let (c, req) = new_client(handshake());
    let expected = format!(
        "GET /chat?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    assert_eq!(String::from_utf8(req).unwrap(), expected);
    assert_eq!(c.state(), State::Connecting);
    // Without a seed the key is still 16 bytes in base64 and differs.
    let mut a = Connection::client(Config::default(), handshake()).unwrap();
    let mut b = Connection::client(Config::default(), handshake()).unwrap();
    let (ka, kb) = (key_of(&a.take_output()), key_of(&b.take_output()));
    assert_ne!(ka, kb);
    assert_eq!(ka.len(), 24);
    assert!(ka.ends_with("=="));
}

// §4.1: arguments that cannot form a valid request are local errors.
#[test]
fn client_request_arguments() {
    let cases: Vec<(ClientHandshake, ErrorKind)> = vec![
        (ClientHandshake { host: "".into(), ..handshake() }, ErrorKind::InvalidArgument),
        (ClientHandshake { host: "a b".into(), ..handshake() }, ErrorKind::InvalidArgument),
        (ClientHandshake { path: "chat".into(), ..handshake() }, ErrorKind::InvalidArgument),
        (ClientHandshake { path: "/a b".into(), ..handshake() }, ErrorKind::InvalidArgument),
        (ClientHandshake { subprotocols: vec!["a b".into()], ..handshake() }, ErrorKind::InvalidArgument),
        (ClientHandshake { origin: Some("x\r\ny".into()), ..handshake() }, ErrorKind::InvalidHeader),
        (ClientHandshake { headers: headers(&[("X", "a\nb")]), ..handshake() }, ErrorKind::InvalidHeader),
        (ClientHandshake { headers: headers(&[("X:Y", "a")]), ..handshake() }, ErrorKind::InvalidHeader),
    ];
    for (hs, kind) in cases {
        let e = Connection::client(Config::default(), hs).unwrap_err();
        assert_eq!((e.kind(), e.is_local()), (kind, true));
    }
}

/// Runs a response against a fresh client made from `hs`.
fn client_run(hs: impl Fn() -> ClientHandshake + 'static) -> (Run<'static>, String) {
    let (_, req) = new_client(hs());
    let key = key_of(&req);
    (Run::new(move || new_client(hs()).0), key)
}

// §4.1 (client checks 1-4): a valid 101 opens the connection; the response
// is exposed; frames in the same read are decoded.
#[test]
fn client_accepts_valid_101_with_frames_in_the_same_read() {
    let (run, key) = client_run(handshake);
    let resp = response_101(&key, "X-Extra: 1\r\n");
    let input = cat(&[&resp, &sframe(TXT, b"hi"), &sframe(PING, b"p"), &sfrag(BIN, b"a", false)]);
    let input = cat(&[&input, &sfrag(CONT, b"b", true)]);
    let expected = Response {
        status: 101,
        reason: "Switching Protocols".into(),
        headers: headers(&[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", &accept_key(key.as_bytes())),
            ("X-Extra", "1"),
        ]),
        subprotocol: None,
        extensions: vec![],
    };
    let mut w = ClientWire::after_handshake(CSEED);
    let out = run.expect(
        &input,
        &[Ev::Accepted(expected), Ev::text("hi"), Ev::Ping(b"p".to_vec()), Ev::binary(b"ab")],
        &w.frame(PONG, b"p"),
    );
    assert_eq!(out.state, State::Open);
}

// §4.1: Upgrade/Connection tokens are case-insensitive comma lists on the
// client side too.
#[test]
fn client_token_matching() {
    let (run, key) = client_run(handshake);
    let resp = String::from_utf8(response_101(&key, ""))
        .unwrap()
        .replace("Upgrade: websocket", "upgrade: WebSocket")
        .replace("Connection: Upgrade", "connection: keep-alive, UPGRADE");
    let out = run.check(resp.as_bytes());
    assert!(matches!(out.events[..], [Ev::Accepted(_)]), "{:?}", out.events);
}

// §4.1 client checks: each failure fails the handshake (no HTTP response
// to send, no close frame) and nothing after the head is decoded.
#[test]
fn client_rejects_bad_101() {
    let (_, req) = new_client(handshake());
    let key = key_of(&req);
    let good = String::from_utf8(response_101(&key, "")).unwrap();
    let accept = accept_key(key.as_bytes());
    let cases = [
        good.replace("Upgrade: websocket\r\n", ""),
        good.replace("Upgrade: websocket", "Upgrade: h2c"),
        good.replace("Connection: Upgrade\r\n", ""),
        good.replace("Connection: Upgrade", "Connection: close"),
        good.replace(&accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        good.replace(&format!("Sec-WebSocket-Accept: {accept}\r\n"), ""),
        good.replace("\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\n\r\n"),
        good.replace("\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"),
        good.replace("\r\n\r\n", &format!("\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")),
    ];
    for resp in cases {
        let input = cat(&[resp.as_bytes(), &sframe(TXT, b"never")]);
        let out =
            Run::new(|| new_client(handshake()).0).expect(&input, &[Ev::handshake_err(ErrorKind::BadHandshake)], b"");
        assert_eq!(out.state, State::Closed, "{resp}");
    }
    // Not HTTP at all.
    Run::new(|| new_client(handshake()).0).expect(
        b"SSH-2.0-OpenSSH\r\n\r\n",
        &[Ev::handshake_err(ErrorKind::BadHandshake)],
        b"",
    );
}

// §4.1 check 6: the subprotocol must be one the client offered.
#[test]
fn client_subprotocol_only_if_offered() {
    let hs = || ClientHandshake { subprotocols: vec!["chat".into(), "v2".into()], ..handshake() };
    let (run, key) = client_run(hs);
    let out = run.check(&response_101(&key, "Sec-WebSocket-Protocol: v2\r\n"));
    let [Ev::Accepted(r)] = &out.events[..] else { panic!("{:?}", out.events) };
    assert_eq!(r.subprotocol.as_deref(), Some("v2"));
    run.expect(
        &response_101(&key, "Sec-WebSocket-Protocol: v3\r\n"),
        &[Ev::handshake_err(ErrorKind::BadHandshake)],
        b"",
    );
    // No subprotocol in the answer is allowed.
    let out = run.check(&response_101(&key, ""));
    let [Ev::Accepted(r)] = &out.events[..] else { panic!("{:?}", out.events) };
    assert_eq!(r.subprotocol, None);
}

// §4.1 check 5: extensions only if offered, each at most once, and the
// extension may refuse the server's parameters.
#[test]
fn client_extensions_only_if_offered() {
    let hs = || ClientHandshake { extensions: vec![Box::new(Named("x-test"))], ..handshake() };
    let (run, key) = client_run(hs);
    let out = run.check(&response_101(&key, "Sec-WebSocket-Extensions: x-test; level=3\r\n"));
    let [Ev::Accepted(r)] = &out.events[..] else { panic!("{:?}", out.events) };
    assert_eq!(r.extensions, vec![offer("x-test", &[("level", Some("3"))])]);
    for bad in ["x-other", "x-test, x-test", "x-test; bad"] {
        run.expect(
            &response_101(&key, &format!("Sec-WebSocket-Extensions: {bad}\r\n")),
            &[Ev::handshake_err(ErrorKind::BadHandshake)],
            b"",
        );
    }
}

// §4.2.2 / §4.1: the server negotiates extensions by name; one not offered
// is left out of the response.
#[test]
fn server_negotiates_named_extension() {
    let req = request_with("Sec-WebSocket-Extensions: x-test; level=1, x-test\r\n");
    let run = Run::new(new_server).react(|c, ev| {
        if let Ev::Request(_) = ev {
            c.accept(Accept {
                extensions: vec![Box::new(Named("x-test")), Box::new(Named("x-unoffered"))],
                ..Default::default()
            })
            .unwrap();
        }
    });
    let out = run.check(&req);
    let expected = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\nSec-WebSocket-Extensions: x-test\r\n\r\n"
    );
    assert_eq!(String::from_utf8(out.output).unwrap(), expected);
}

// §4.1 / §4.2.2 item 4: a non-101 answer is delivered as Rejected plus its
// body, delimited by Content-Length; anything after the body is ignored.
#[test]
fn client_rejected_with_content_length_body() {
    let (run, _) = client_run(handshake);
    let input = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nX-Why: no\r\n\r\nforbidden trailing junk";
    let expected = Response {
        status: 403,
        reason: "Forbidden".into(),
        headers: headers(&[("Content-Length", "9"), ("X-Why", "no")]),
        subprotocol: None,
        extensions: vec![],
    };
    let out = run.expect(input, &[Ev::Rejected(expected), Ev::RejectBody(b"forbidden".to_vec())], b"");
    assert_eq!(out.state, State::Closed);
    // The same with end of stream right after.
    run.eof().expect(input, &[Ev::Rejected(rejected(&out)), Ev::RejectBody(b"forbidden".to_vec())], b"");
    // An empty body.
    let (run, _) = client_run(handshake);
    let out = run.check(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(out.events[1..], [Ev::RejectBody(vec![])]);
}

fn rejected(o: &Outcome) -> Response {
    match &o.events[0] {
        Ev::Rejected(r) => r.clone(),
        e => panic!("{e:?}"),
    }
}

// RFC 7230 §4.1: a chunked rejection body is decoded — chunk extensions,
// trailers, upper- and lower-case sizes, bare LFs — and Transfer-Encoding
// wins over Content-Length (§3.3.3); what follows the body is ignored.
#[test]
fn client_rejected_with_chunked_body() {
    let body = "5;name=\"v\"\r\nhello\r\nA\r\n, chunked \r\n1 \r\nw\r\n4\norld\n0\r\nX-Trailer: t\r\n\r\nafter";
    for te in [
        "Transfer-Encoding: chunked\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\nContent-Length: 3\r\n",
    ] {
        let input = format!("HTTP/1.1 403 Forbidden\r\n{te}\r\n{body}");
        for eof in [false, true] {
            let (run, _) = client_run(handshake);
            let run = if eof { run.eof() } else { run };
            let out = run.check(input.as_bytes());
            assert!(matches!(&out.events[0], Ev::Rejected(r) if r.status == 403), "{:?}", out.events);
            assert_eq!(out.events[1..], [Ev::RejectBody(b"hello, chunked world".to_vec())], "{te}");
            assert_eq!(out.state, State::Closed);
        }
    }
    // Only the last chunk and an empty trailer section.
    let (run, _) = client_run(handshake);
    let out = run.check(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_eq!(out.events[1..], [Ev::RejectBody(vec![])]);
    // A coding other than chunked last: the body runs to the end of the stream, as sent.
    let (run, _) = client_run(handshake);
    let out = run.eof().check(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc");
    assert_eq!(out.events[1..], [Ev::RejectBody(b"3\r\nabc".to_vec())]);
}

// A chunked body cut short by end of stream ends with what arrived; one
// that breaks the chunked framing fails with BadHandshake after the pieces
// that came before the fault.
#[test]
fn client_rejected_with_bad_chunked_body() {
    let head = "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (run, _) = client_run(handshake);
    let out = run.eof().check(format!("{head}5\r\nhel").as_bytes());
    assert_eq!(out.events[1..], [Ev::RejectBody(b"hel".to_vec())]);
    let long_ext = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(5000));
    let long_trailers = format!("0\r\n{}\r\n\r\n", "X-T: y\r\n".repeat(3000));
    for (bad, before) in [
        ("zz\r\n", ""),
        ("\r\n", ""),
        ("10000000000000000\r\n", ""),
        ("3\r\nabcX\r\n", "abc"),
        ("3\r\nabc\rX", "abc"),
        ("2\rX", ""),
        ("1\r\na\r\n0\r\nX: y\rZ\r\n\r\n", "a"),
        (&long_ext, ""),
        (&long_trailers, ""),
    ] {
        let input = format!("{head}{bad}");
        let (run, _) = client_run(handshake);
        let out = run.check(input.as_bytes());
        assert!(
            matches!(&out.events[..], [Ev::Rejected(r), e] if r.status == 500
            && *e == Ev::handshake_err(ErrorKind::BadHandshake)),
            "{bad:?}: {:?}",
            out.events
        );
        assert_eq!(out.state, State::Closed, "{bad:?}");
        // The pieces before the fault, unfinished, then the error.
        let (mut c, _) = new_client(handshake());
        c.receive(input.as_bytes());
        let mut body = Vec::new();
        let err = loop {
            match c.poll_event() {
                Ok(Some(Event::RejectBody { data, fin })) => {
                    assert!(!fin, "{bad:?}");
                    body.extend_from_slice(data);
                }
                Ok(Some(_)) => {}
                Ok(None) => panic!("{bad:?}: no error"),
                Err(e) => break e,
            }
        };
        assert_eq!((body, err.is_remote()), (before.as_bytes().to_vec(), true), "{bad:?}");
        assert_eq!(c.poll_event().unwrap(), None, "{bad:?}");
    }
}

// A rejection without Content-Length: the body runs until end of stream.
#[test]
fn client_rejected_with_body_until_eof() {
    let (run, _) = client_run(handshake);
    let input = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\ncome back later";
    let out = run.eof().check(input);
    assert_eq!(out.events.len(), 2, "{:?}", out.events);
    assert!(matches!(&out.events[0], Ev::Rejected(r) if r.status == 503 && r.reason == "Service Unavailable"));
    assert_eq!(out.events[1], Ev::RejectBody(b"come back later".to_vec()));
    // Before end of stream the body is not finished.
    let (run, _) = client_run(handshake);
    let out = run.check(input);
    assert_eq!(out.events.len(), 1);
}

// A refused client is closed at once, but has the body to read: the
// transport stays open until the body's last piece is taken.
#[test]
fn refused_client_keeps_the_transport_for_the_body() {
    let (mut c, _) = new_client(handshake());
    c.receive(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbi");
    assert!(matches!(c.poll_event().unwrap(), Some(Event::Rejected(r)) if r.status == 403));
    assert_eq!(c.state(), State::Closed);
    assert!(!c.should_close_transport());
    assert!(matches!(c.poll_event().unwrap(), Some(Event::RejectBody { data: b"forbi", fin: false })));
    assert_eq!(c.poll_event().unwrap(), None);
    assert!(!c.should_close_transport());
    c.receive(b"dden");
    assert!(matches!(c.poll_event().unwrap(), Some(Event::RejectBody { data: b"dden", fin: true })));
    assert!(c.should_close_transport());
    // Without a body (1xx, 204, 304 or Content-Length: 0), once its empty
    // last piece is taken.
    let (mut c, _) = new_client(handshake());
    c.receive(b"HTTP/1.1 204 No Content\r\n\r\n");
    assert!(matches!(c.poll_event().unwrap(), Some(Event::Rejected(r)) if r.status == 204));
    assert!(matches!(c.poll_event().unwrap(), Some(Event::RejectBody { data: b"", fin: true })));
    assert!(c.should_close_transport());
}

// The client's response head limit.
#[test]
fn client_response_head_limit() {
    let (_, req) = new_client(handshake());
    let key = key_of(&req);
    let resp = response_101(&key, &format!("X-Pad: {}\r\n", "b".repeat(300)));
    let make = || {
        let cfg = Config { max_handshake_size: 200, mask_seed: Some(CSEED), ..Config::default() };
        let mut c = Connection::client(cfg, handshake()).unwrap();
        c.take_output();
        c
    };
    Run::new(make).expect(&resp, &[Ev::handshake_err(ErrorKind::HandshakeTooLarge)], b"");
    Run::new(make).expect(&resp[..250], &[Ev::handshake_err(ErrorKind::HandshakeTooLarge)], b"");
}

// §7.1.1 applied to the handshake: end of stream before a response is an
// abnormal closure (1006), for both roles.
#[test]
fn eof_during_handshake() {
    let (run, _) = client_run(handshake);
    run.eof().expect(b"HTTP/1.1 101 Swi", &[Ev::close(1006, "")], b"");
    Run::new(new_server).eof().expect(&request_with("")[..30], &[Ev::close(1006, "")], b"");
}

// The full exchange between our own client and server, both ways.
#[test]
fn client_and_server_complete_a_handshake() {
    let (mut c, req) = new_client(ClientHandshake { subprotocols: vec!["chat".into()], ..handshake() });
    let mut s = new_server();
    s.receive(&req);
    let [Ev::Request(r)] = &poll_all(&mut s)[..] else { panic!() };
    assert_eq!(r.target, "/chat?x=1");
    s.accept(Accept { subprotocol: Some("chat".into()), ..Default::default() }).unwrap();
    s.send_text("welcome").unwrap();
    c.receive(&s.take_output());
    let evs = poll_all(&mut c);
    assert!(matches!(&evs[0], Ev::Accepted(r) if r.subprotocol.as_deref() == Some("chat")));
    assert_eq!(evs[1..], [Ev::text("welcome")]);
    c.send_text("thanks").unwrap();
    s.receive(&c.take_output());
    assert_eq!(poll_all(&mut s), vec![Ev::text("thanks")]);
}

// A rejection body cut short by end of stream ends there (fin is set on
// what arrived); nothing hangs waiting for the announced length.
#[test]
fn client_rejected_body_cut_short_by_eof() {
    let (run, _) = client_run(handshake);
    let out = run.eof().check(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nabc");
    assert_eq!(out.events.len(), 2, "{:?}", out.events);
    assert!(matches!(&out.events[0], Ev::Rejected(r) if r.status == 403));
    assert_eq!(out.events[1], Ev::RejectBody(b"abc".to_vec()));
    assert_eq!(out.state, State::Closed);
}
