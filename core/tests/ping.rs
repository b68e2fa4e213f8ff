//! Ping and pong (RFC 6455 §5.5.2, §5.5.3).

mod common;

use common::*;
use wsproto_core::{Config, ErrorKind, State};

// §5.5.2: a pong with the same payload answers each ping, at once.
#[test]
fn auto_pong_echoes_payload() {
    let p125: Vec<u8> = (0..125).collect();
    let input = cat(&[&cframe(PING, b"abc"), &cframe(PING, b""), &cframe(PING, &p125)]);
    Run::new(server).expect(
        &input,
        &[Ev::Ping(b"abc".to_vec()), Ev::Ping(vec![]), Ev::Ping(p125.clone())],
        &cat(&[&sframe(PONG, b"abc"), &sframe(PONG, b""), &sframe(PONG, &p125)]),
    );
    // A client's pong is masked.
    let mut w = ClientWire::open();
    Run::new(client).expect(&sframe(PING, b"hb"), &[Ev::Ping(b"hb".to_vec())], &w.frame(PONG, b"hb"));
}

// With auto_pong off the ping is reported and the application answers.
#[test]
fn manual_pong() {
    let cfg = Config { auto_pong: false, ..Config::default() };
    Run::new(|| server_with(cfg.clone())).expect(&cframe(PING, b"abc"), &[Ev::Ping(b"abc".to_vec())], b"");
    let mut s = server_with(cfg);
    s.receive(&cframe(PING, b"abc"));
    poll_all(&mut s);
    s.send_pong(b"abc").unwrap();
    assert_eq!(s.take_output(), sframe(PONG, b"abc"));
}

// §5.5.3: an unsolicited pong is allowed and gets no answer.
#[test]
fn unsolicited_pong_is_reported() {
    Run::new(server).expect(&cframe(PONG, b"heartbeat"), &[Ev::Pong(b"heartbeat".to_vec())], b"");
    Run::new(client).expect(&sframe(PONG, b""), &[Ev::Pong(vec![])], b"");
}

// §5.5: ping and pong payloads are at most 125 bytes on the send side too.
#[test]
fn send_ping_and_pong() {
    let mut s = server();
    s.send_ping(b"1").unwrap();
    s.send_pong(b"").unwrap();
    assert_eq!(s.take_output(), cat(&[&sframe(PING, b"1"), &sframe(PONG, b"")]));
    assert_eq!(s.send_ping(&[0; 126]).unwrap_err().kind(), ErrorKind::ControlTooLong);
    assert_eq!(s.send_pong(&[0; 126]).unwrap_err().kind(), ErrorKind::ControlTooLong);
    s.send_ping(&[0; 125]).unwrap();
    assert_eq!(s.take_output().len(), 127);
    // Our pings are answered by our own peer and the pong comes back.
    let mut c = client();
    c.send_ping(b"rtt").unwrap();
    let (out, _) = Run::new(server).feed_keep(&[&c.take_output()]);
    assert_eq!(out.events, vec![Ev::Ping(b"rtt".to_vec())]);
    c.receive(&out.output);
    assert_eq!(poll_all(&mut c), vec![Ev::Pong(b"rtt".to_vec())]);
}

// §5.5.1: no control frame may be sent after the close handshake completed.
#[test]
fn no_ping_after_close() {
    let mut s = server();
    s.receive(&cclose(1000, ""));
    poll_all(&mut s);
    assert_eq!(s.state(), State::Closed);
    s.take_output();
    assert_eq!(s.send_ping(b"").unwrap_err().kind(), ErrorKind::InvalidState);
    assert_eq!(s.send_pong(b"").unwrap_err().kind(), ErrorKind::InvalidState);
    assert_eq!(s.output(), b"");
}

// §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame
// in response, unless it already received a Close frame" — so a ping that
// arrives after our own close frame is still answered, automatically or by
// hand; a ping is not sent then.
#[test]
fn ping_answered_while_locally_closing() {
    let make = || {
        let mut s = server();
        s.close(1000, "").unwrap();
        s.take_output();
        s
    };
    let input = cat(&[&cframe(PING, b"still?"), &cclose(1000, "")]);
    Run::new(make).expect(&input, &[Ev::Ping(b"still?".to_vec()), Ev::close(1000, "")], &sframe(PONG, b"still?"));
    let mut s = server_with(Config { auto_pong: false, ..Config::default() });
    s.close(1000, "").unwrap();
    s.take_output();
    s.receive(&cframe(PING, b"x"));
    assert_eq!(poll_all(&mut s), vec![Ev::Ping(b"x".to_vec())]);
    assert_eq!(s.output(), b"");
    s.send_pong(b"x").unwrap();
    assert_eq!(s.take_output(), sframe(PONG, b"x"));
    assert_eq!(s.send_ping(b"").unwrap_err().kind(), ErrorKind::InvalidState);
}
