//! A closed connection frees its permessage-deflate state (RFC 7692 §7:
//! a context kept between messages is up to ~430 KB per connection) as soon
//! as it is closed, not when it is dropped. A binding whose runtime drops
//! connections at garbage collection (Node's `FinalizationRegistry`, which
//! sees only a small object) would otherwise hold every closed connection's
//! contexts until a collection happens to run.
//!
//! Live heap bytes are counted by a global allocator, so this file holds a
//! single test: tests running in parallel would count each other's memory.

use std::sync::atomic::Ordering::Relaxed;

use wsproto_core::extension::deflate::{DeflateConfig, PerMessageDeflate};
use wsproto_core::{Accept, ClientHandshake, Config, Connection, Event, Extension, State};

#[path = "common/counting.rs"]
mod counting;
use counting::LIVE;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

/// Context kept both ways (RFC 7692's defaults, as `ws` uses them).
fn kept() -> DeflateConfig {
    DeflateConfig { server_no_context_takeover: false, ..DeflateConfig::default() }
}

fn pair() -> (Connection, Connection) {
    let ext = |role| vec![Box::new(PerMessageDeflate::new(role, kept())) as Box<dyn Extension>];
    let hs = ClientHandshake {
        host: "h".into(),
        path: "/".into(),
        extensions: ext(wsproto_core::Role::Client),
        ..Default::default()
    };
    let mut client = Connection::client(Config { mask_seed: Some(7), ..Config::default() }, hs).unwrap();
    let mut server = Connection::server(Config::default());
    server.receive(&client.take_output());
    assert!(matches!(server.poll_event().unwrap(), Some(Event::Request(_))));
    server.accept(Accept { extensions: ext(wsproto_core::Role::Server), ..Default::default() }).unwrap();
    client.receive(&server.take_output());
    assert!(matches!(client.poll_event().unwrap(), Some(Event::Accepted(_))));
    // Messages both ways, so that both ends hold both contexts.
    for i in 0..3 {
        let msg = format!("{{\"n\":{i},\"s\":\"{}\"}}", "xyz".repeat(300));
        client.send_text(&msg).unwrap();
        server.receive(&client.take_output());
        assert!(matches!(server.poll_event().unwrap(), Some(Event::Text(t)) if t == msg));
        server.send_text(&msg).unwrap();
        client.receive(&server.take_output());
        assert!(matches!(client.poll_event().unwrap(), Some(Event::Text(t)) if t == msg));
    }
    client.release_memory();
    server.release_memory();
    (client, server)
}

/// Polls until the connection wants more input; returns the close code seen.
fn drain(c: &mut Connection) -> Option<u16> {
    let mut code = None;
    loop {
        match c.poll_event() {
            Ok(Some(Event::Close { code: k, .. })) => code = Some(k),
            Ok(Some(_)) => {}
            Ok(None) => return code,
            Err(e) => code = e.close_code(),
        }
    }
}

/// Live heap bytes freed by `f`, which closes the connections it is given.
fn freed_by(f: impl FnOnce(&mut Connection, &mut Connection)) -> (isize, Connection, Connection) {
    let (mut client, mut server) = pair();
    let before = LIVE.load(Relaxed) as isize;
    f(&mut client, &mut server);
    client.release_memory();
    server.release_memory();
    (before - LIVE.load(Relaxed) as isize, client, server)
}

#[test]
fn a_closed_connection_frees_its_compression_contexts() {
    // Each end keeps a compressor (~270 KB at 15 bits, memLevel 8) and an
    // inflater (~45 KB): at least 300 KB each for the two ends.
    const BOTH_ENDS: isize = 2 * 300_000;

    // §7.1.2: the client closes, the server answers (automatically) and is
    // closed at once; the client is closed when the answer arrives.
    let (freed, client, server) = freed_by(|client, server| {
        client.close(1000, "bye").unwrap();
        server.receive(&client.take_output());
        assert_eq!(drain(server), Some(1000));
        client.receive(&server.take_output());
        assert_eq!(drain(client), Some(1000));
    });
    assert_eq!((client.state(), server.state()), (State::Closed, State::Closed));
    assert!(freed >= BOTH_ENDS, "a close handshake freed {freed} bytes");

    // The application answers the close itself (`close` in REMOTE_CLOSING).
    let (freed, client, server) = freed_by(|client, server| {
        server.close(1001, "").unwrap();
        client.receive(&server.take_output());
        assert_eq!(drain(client), Some(1001));
        assert_eq!(client.state(), State::Closed);
        server.receive(&client.take_output());
        assert_eq!(drain(server), Some(1001));
    });
    assert_eq!((client.state(), server.state()), (State::Closed, State::Closed));
    assert!(freed >= BOTH_ENDS, "a close answered by the server freed {freed} bytes");

    // A protocol failure (an unmasked frame from the client, §5.1) and the
    // end of the stream without a close (1006).
    let (freed, client, server) = freed_by(|client, server| {
        server.receive(&[0x82, 0x01, 0x00]);
        assert_eq!(drain(server), Some(1002));
        client.receive_eof();
        assert_eq!(drain(client), Some(1006));
    });
    assert_eq!((client.state(), server.state()), (State::Closed, State::Closed));
    assert!(freed >= BOTH_ENDS, "a failure and an end of stream freed {freed} bytes");

    // Not before: a connection that is only closing keeps its contexts.
    let (freed, client, _server) = freed_by(|client, _| client.close(1000, "").unwrap());
    assert_eq!(client.state(), State::LocalClosing);
    assert!(freed < 10_000, "a closing connection freed {freed} bytes");
}
