//! The command side of the API: what each state allows (RFC 6455 §4, §7),
//! and the output buffer contract (partial writes).

mod common;

use common::*;
use wsproto_core::{Accept, ClientHandshake, Config, Connection, DataKind, ErrorKind, Reject, State};

fn assert_invalid_state(r: Result<(), wsproto_core::Error>) {
    let e = r.unwrap_err();
    assert_eq!((e.kind(), e.is_local(), e.close_code(), e.http_status()), (ErrorKind::InvalidState, true, None, None));
}

// §4.1: "the client MUST NOT send data until the handshake completes";
// neither may a server before it accepted.
#[test]
fn nothing_can_be_sent_while_connecting() {
    let mut s = Connection::server(Config::default());
    let mut c = Connection::client(
        Config::default(),
        ClientHandshake { host: "h".into(), path: "/".into(), ..Default::default() },
    )
    .unwrap();
    let request = c.take_output();
    for conn in [&mut s, &mut c] {
        assert_invalid_state(conn.send_text("x"));
        assert_invalid_state(conn.send_binary(b"x"));
        assert_invalid_state(conn.send_fragment(DataKind::Text, b"x", false));
        assert_invalid_state(conn.send_ping(b""));
        assert_invalid_state(conn.send_pong(b""));
        assert_invalid_state(conn.close(1000, ""));
        assert_eq!(conn.output(), b"");
        assert_eq!(conn.state(), State::Connecting);
    }
    // Only a server with a pending request may answer it.
    assert_invalid_state(s.accept(Accept::default()));
    assert_invalid_state(s.reject(&Reject { status: 400, ..Default::default() }));
    assert_invalid_state(c.accept(Accept::default()));
    // The client still works afterwards.
    s.receive(&request);
    assert!(matches!(poll_all(&mut s)[..], [Ev::Request(_)]));
}

// After a rejection (either side) the connection is closed for good.
#[test]
fn nothing_after_rejection() {
    let mut c = Connection::client(
        Config::default(),
        ClientHandshake { host: "h".into(), path: "/".into(), ..Default::default() },
    )
    .unwrap();
    c.take_output();
    c.receive(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    let evs = poll_all(&mut c);
    assert!(matches!(&evs[..], [Ev::Rejected(r), Ev::RejectBody(b)] if r.status == 404 && b.is_empty()));
    assert_eq!(c.state(), State::Closed);
    assert!(c.should_close_transport());
    assert_invalid_state(c.send_text("x"));
    assert_invalid_state(c.close(1000, ""));
}

// The output buffer: a partial write leaves the rest in order.
#[test]
fn partial_writes() {
    let mut s = server();
    assert!(!s.wants_write());
    s.send_text("hello").unwrap();
    s.send_binary(b"world").unwrap();
    let all = cat(&[&sframe(TXT, b"hello"), &sframe(BIN, b"world")]);
    assert_eq!(s.output(), &all[..]);
    s.consume_output(3);
    assert_eq!(s.output(), &all[3..]);
    assert!(s.wants_write());
    s.send_ping(b"p").unwrap(); // appended behind what is pending
    s.consume_output(4);
    assert_eq!(s.take_output(), cat(&[&all[7..], &sframe(PING, b"p")]));
    assert!(!s.wants_write());
    // Consuming more than there is is clamped.
    s.send_text("x").unwrap();
    s.consume_output(1000);
    assert_eq!(s.output(), b"");
    // A close is only fully done once written.
    s.close(1000, "").unwrap();
    s.receive(&cclose(1000, ""));
    poll_all(&mut s);
    assert_eq!(s.state(), State::Closed);
    assert!(!s.should_close_transport());
    s.consume_output(2);
    assert!(!s.should_close_transport());
    s.consume_output(2);
    assert!(s.should_close_transport());
}

// A server's refusal of a bad request is written before it closes; its
// error tells the status.
#[test]
fn refusal_is_written_then_closed() {
    let mut s = Connection::server(Config::default());
    s.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let e = s.poll_event().unwrap_err();
    assert_eq!(
        (e.kind(), e.is_remote(), e.http_status(), e.close_code()),
        (ErrorKind::BadHandshake, true, Some(400), None)
    );
    assert!(s.output().starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    assert!(!s.should_close_transport());
    s.take_output();
    assert!(s.should_close_transport());
    assert_eq!(s.poll_event().unwrap(), None);
}
