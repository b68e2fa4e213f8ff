//! The closing handshake (RFC 6455 §5.5.1, §7): the state machine in both
//! directions, close codes, and abnormal endings.

mod common;

use common::*;
use wsproto_core::{Config, ErrorKind, State};

fn manual() -> Config {
    Config { auto_close: false, ..Config::default() }
}

// §5.5.1: on receiving a close frame an endpoint sends one in response,
// "typically echoing the status code it received"; then the connection is
// closed and the transport may be closed.
#[test]
fn peer_initiated_close_is_echoed() {
    let input = cat(&[&cclose(1000, "bye"), &cframe(TXT, b"after close")]);
    let out = Run::new(server).expect(&input, &[Ev::close(1000, "bye")], &sclose(1000, ""));
    assert_eq!(out.state, State::Closed);
    let mut conn = server();
    conn.receive(&input);
    poll_all(&mut conn);
    assert!(!conn.should_close_transport(), "output is still pending");
    conn.take_output();
    assert!(conn.should_close_transport());
    // Client side: the echo is masked.
    let mut w = ClientWire::open();
    Run::new(client).expect(&sclose(4000, "app"), &[Ev::close(4000, "app")], &w.close(4000, ""));
}

// §7.1.2: the local side starts the close; the peer's answer completes it.
#[test]
fn local_close_then_peer_answer() {
    let mut s = server();
    s.close(1001, "going").unwrap();
    assert_eq!(s.take_output(), sclose(1001, "going"));
    assert_eq!(s.state(), State::LocalClosing);
    // Sending after close is a local error that sends nothing (§5.5.1).
    for e in [s.send_text("x").unwrap_err(), s.send_binary(b"x").unwrap_err(), s.close(1000, "").unwrap_err()] {
        assert_eq!((e.kind(), e.is_local()), (ErrorKind::InvalidState, true));
    }
    assert_eq!(s.output(), b"");
    // Messages still arrive until the peer's close (§7.1.2 does not stop reading).
    s.receive(&cat(&[&cframe(TXT, b"late"), &cclose(1001, "")]));
    assert_eq!(poll_all(&mut s), vec![Ev::text("late"), Ev::close(1001, "")]);
    assert_eq!(s.output(), b"", "the close is not answered twice");
    assert_eq!(s.state(), State::Closed);
    assert!(s.should_close_transport());
    // The same through the split runner.
    let make = || {
        let mut s = server();
        s.close(1000, "").unwrap();
        s.take_output();
        s
    };
    let out = Run::new(make).expect(&cclose(1000, "ok"), &[Ev::close(1000, "ok")], b"");
    assert_eq!(out.state, State::Closed);
    // A client's local close, masked.
    let mut c = client();
    c.close(1000, "done").unwrap();
    assert_eq!(c.take_output(), ClientWire::open().close(1000, "done"));
}

// §7.1.3 with auto_close off: the application sees RemoteClosing, may still
// send control frames, and completes the close itself.
#[test]
fn manual_close_answer() {
    let out = Run::new(|| server_with(manual())).expect(&cclose(1000, "bye"), &[Ev::close(1000, "bye")], b"");
    assert_eq!(out.state, State::RemoteClosing);
    let (_, mut s) = Run::new(|| server_with(manual())).feed_keep(&[&cclose(1000, "bye")]);
    assert!(!s.should_close_transport());
    let e = s.send_text("x").unwrap_err();
    assert_eq!((e.kind(), e.is_local()), (ErrorKind::InvalidState, true));
    s.send_ping(b"still here").unwrap();
    s.close(3001, "my code").unwrap();
    assert_eq!(s.take_output(), cat(&[&sframe(PING, b"still here"), &sclose(3001, "my code")]));
    assert_eq!(s.state(), State::Closed);
    assert!(s.should_close_transport());
    assert_eq!(s.close(1000, "").unwrap_err().kind(), ErrorKind::InvalidState);
    // Input after the close frame is ignored.
    s.receive(&cframe(TXT, b"x"));
    assert_eq!(poll_all(&mut s), vec![]);
}

// §7.1.5 / §7.4.1: an empty close frame is reported as 1005 and answered
// with an empty close frame.
#[test]
fn empty_close_is_1005() {
    Run::new(server).expect(&cframe(CLOSE, b""), &[Ev::close(1005, "")], &sframe(CLOSE, b""));
    let mut s = server();
    s.close(1005, "").unwrap();
    assert_eq!(s.take_output(), sframe(CLOSE, b""));
}

// §7.1.5 / §7.4.1: a transport that ends without a close frame is an
// abnormal closure, reported as 1006 and never sent.
#[test]
fn eof_without_close_is_1006() {
    let out = Run::new(server).eof().expect(&cframe(TXT, b"last"), &[Ev::text("last"), Ev::close(1006, "")], b"");
    assert_eq!(out.state, State::Closed);
    // In the middle of a frame, of a fragmented message, of a header.
    let input = cat(&[&cfrag(TXT, b"part", false), &cfrag(CONT, b"never", true)[..5]]);
    Run::new(server).eof().expect(&input, &[Ev::close(1006, "")], b"");
    // A header that is bad whatever its key fails before the key is in.
    let input = cat(&[&cfrag(TXT, b"part", false), &cframe(TXT, b"never")[..5]]);
    Run::new(server).eof().expect(
        &input,
        &[Ev::err(ErrorKind::BadFragmentation, 1002)],
        &sclose(1002, "new message inside a fragmented message"),
    );
    // After a local close whose answer never came.
    let make = || {
        let mut s = server();
        s.close(1000, "").unwrap();
        s.take_output();
        s
    };
    Run::new(make).eof().expect(b"", &[Ev::close(1006, "")], b"");
    // After a complete closing handshake, EOF is normal: nothing more.
    Run::new(server).eof().expect(&cclose(1000, ""), &[Ev::close(1000, "")], &sclose(1000, ""));
}

// §5.5.1: a 1-byte close payload is invalid (1002).
#[test]
fn one_byte_close_payload_is_1002() {
    Run::new(server).expect(
        &cframe(CLOSE, &[0x03]),
        &[Ev::err(ErrorKind::BadClosePayload, 1002)],
        &sclose(1002, "invalid close frame payload"),
    );
}

// §7.4.1 / §7.4.2: codes that must not appear on the wire fail with 1002;
// the registered and application ranges are accepted and echoed.
#[test]
fn close_codes_on_the_wire() {
    for code in [0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
        Run::new(server).expect(
            &cclose(code, ""),
            &[Ev::err(ErrorKind::BadClosePayload, 1002)],
            &sclose(1002, "invalid close frame payload"),
        );
    }
    for code in [1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999] {
        Run::new(server).expect(&cclose(code, "r"), &[Ev::close(code, "r")], &sclose(code, ""));
    }
}

// §7.4: the local side may only send valid codes, and reasons that fit a
// control frame; misuse is a local error that changes nothing.
#[test]
fn local_close_arguments() {
    let mut s = server();
    for code in [0u16, 999, 1004, 1006, 1015, 2999, 5000] {
        let e = s.close(code, "").unwrap_err();
        assert_eq!((e.kind(), e.is_local()), (ErrorKind::InvalidCloseCode, true), "{code}");
    }
    assert_eq!(s.close(1005, "reason").unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(s.close(1000, &"r".repeat(124)).unwrap_err().kind(), ErrorKind::ControlTooLong);
    assert_eq!(s.output(), b"");
    assert_eq!(s.state(), State::Open);
    let reason = "r".repeat(123);
    s.close(1000, &reason).unwrap();
    assert_eq!(s.take_output(), sclose(1000, &reason));
}

// §7.1.7: a protocol failure while the peer is closing still sends a close
// frame (RemoteClosing), and none twice.
#[test]
fn failure_after_remote_close_with_manual_answer() {
    // With auto_close off the peer's close is reported and later input is
    // ignored, so nothing can fail after it.
    let input = cat(&[&cclose(1000, ""), &[0xff, 0xff]]);
    let out = Run::new(|| server_with(manual())).expect(&input, &[Ev::close(1000, "")], b"");
    assert_eq!(out.state, State::RemoteClosing);
}

// §7.1.4: a failure after the local close does not send a second close frame.
#[test]
fn failure_while_locally_closing_sends_no_second_close() {
    let make = || {
        let mut s = server();
        s.close(1000, "").unwrap();
        s.take_output();
        s
    };
    let out = Run::new(make).expect(&cframe(0x3, b""), &[Ev::err(ErrorKind::ReservedOpCode, 1002)], b"");
    assert_eq!(out.state, State::Closed);
}
