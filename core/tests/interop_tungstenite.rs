//! Interoperability with an independent implementation, the `tungstenite`
//! crate (sync API), over real TCP on 127.0.0.1: our client against its
//! server and its client against our server. Text, large binary,
//! fragmented messages both ways (with a ping between fragments), pings,
//! subprotocol negotiation and a clean close with code and reason.

mod common;

use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use common::*;
use tungstenite::handshake::server::{ErrorResponse, Request as TRequest, Response as TResponse};
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::Message;
use wsproto_core::{Accept, ClientHandshake, Config, Connection, DataKind, State};

/// Drives one of our connections over a blocking socket.
struct Driver {
    conn: Connection,
    sock: TcpStream,
    /// Events decoded but not yet returned.
    queue: std::collections::VecDeque<Ev>,
}

impl Driver {
    fn new(conn: Connection, sock: TcpStream) -> Self {
        sock.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut d = Driver { conn, sock, queue: Default::default() };
        d.flush();
        d
    }

    fn flush(&mut self) {
        let out = self.conn.take_output();
        self.sock.write_all(&out).unwrap();
    }

    /// The next event, reading from the socket as needed; auto-replies are
    /// written out at once.
    fn next(&mut self) -> Ev {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return e;
            }
            let mut evs = poll_all(&mut self.conn);
            self.flush();
            if !evs.is_empty() {
                let first = evs.remove(0);
                self.queue.extend(evs);
                return first;
            }
            let mut buf = [0u8; 4096];
            match self.sock.read(&mut buf) {
                Ok(0) => self.conn.receive_eof(),
                Ok(n) => self.conn.receive(&buf[..n]),
                Err(e) if e.kind() == IoErrorKind::ConnectionReset => self.conn.receive_eof(),
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }
}

fn big_binary() -> Vec<u8> {
    (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect()
}

// Our client (§4.1, §5) against tungstenite's server.
#[test]
fn our_client_against_tungstenite_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        // The signature is tungstenite's (its error type is large).
        #[allow(clippy::result_large_err)]
        fn callback(req: &TRequest, mut resp: TResponse) -> Result<TResponse, ErrorResponse> {
            assert_eq!(req.uri().path(), "/echo");
            assert_eq!(req.uri().query(), Some("x=1"));
            resp.headers_mut().insert("Sec-WebSocket-Protocol", "chat".parse().unwrap());
            Ok(resp)
        }
        let mut ws = tungstenite::accept_hdr(sock, callback).unwrap();
        let mut seen = Vec::new();
        loop {
            let msg = ws.read().unwrap();
            seen.push(msg.clone());
            match msg {
                Message::Text(t) if t.as_str() == "send fragments" => {
                    ws.write(Message::Frame(Frame::message("ab", OpCode::Data(Data::Text), false))).unwrap();
                    ws.write(Message::Frame(Frame::ping("srv"))).unwrap();
                    ws.write(Message::Frame(Frame::message("", OpCode::Data(Data::Continue), false))).unwrap();
                    ws.write(Message::Frame(Frame::message("cdé", OpCode::Data(Data::Continue), true))).unwrap();
                    ws.flush().unwrap();
                }
                Message::Text(_) | Message::Binary(_) => ws.send(msg).unwrap(),
                Message::Close(_) => {
                    // tungstenite queues the echo; flush it until the end.
                    while ws.flush().is_ok() {}
                    return seen;
                }
                _ => {}
            }
        }
    });

    let sock = TcpStream::connect(addr).unwrap();
    let hs = ClientHandshake {
        host: addr.to_string(),
        path: "/echo?x=1".into(),
        subprotocols: vec!["chat".into(), "other".into()],
        ..Default::default()
    };
    let mut d = Driver::new(Connection::client(Config::default(), hs).unwrap(), sock);
    let Ev::Accepted(resp) = d.next() else { panic!("not accepted") };
    assert_eq!(resp.status, 101);
    assert_eq!(resp.subprotocol.as_deref(), Some("chat"));

    d.conn.send_text("hello, tungstenite").unwrap();
    d.flush();
    assert_eq!(d.next(), Ev::text("hello, tungstenite"));

    let big = big_binary();
    d.conn.send_binary(&big).unwrap();
    d.flush();
    assert_eq!(d.next(), Ev::Binary(big.clone()));

    // Our fragmented message, with a ping between fragments, arrives whole.
    d.conn.send_fragment(DataKind::Text, "frag".as_bytes(), false).unwrap();
    d.conn.send_ping(b"between").unwrap();
    d.conn.send_fragment(DataKind::Text, &"men€".as_bytes()[..4], false).unwrap();
    d.conn.send_fragment(DataKind::Text, &"men€ted".as_bytes()[4..], true).unwrap();
    d.flush();
    assert_eq!(d.next(), Ev::Pong(b"between".to_vec()));
    assert_eq!(d.next(), Ev::text("fragmen€ted"));

    // Its fragmented message, with a ping between fragments, arrives whole.
    d.conn.send_text("send fragments").unwrap();
    d.flush();
    assert_eq!(d.next(), Ev::Ping(b"srv".to_vec()));
    assert_eq!(d.next(), Ev::text("abcdé"));

    // A clean close, started by us: tungstenite echoes code and reason.
    d.conn.close(1000, "done").unwrap();
    d.flush();
    assert_eq!(d.next(), Ev::close(1000, "done"));
    assert_eq!(d.conn.state(), State::Closed);
    assert!(d.conn.should_close_transport());
    drop(d);

    let seen = server.join().unwrap();
    let last = seen.last().unwrap();
    assert_eq!(
        last,
        &Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "done".into() })),
        "tungstenite saw {seen:?}"
    );
    assert!(seen.contains(&Message::Ping(b"between".to_vec().into())));
    assert!(seen.contains(&Message::Text("fragmen€ted".into())));
}

// tungstenite's client against our server (§4.2, §5).
#[test]
fn tungstenite_client_against_our_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        let mut d = Driver::new(Connection::server(Config::default()), sock);
        let Ev::Request(req) = d.next() else { panic!("no request") };
        assert_eq!(req.path(), "/ws");
        assert_eq!(req.subprotocols, vec!["v1".to_owned(), "v2".to_owned()]);
        d.conn.accept(Accept { subprotocol: Some("v2".into()), ..Default::default() }).unwrap();
        d.flush();
        let mut seen = Vec::new();
        loop {
            let ev = d.next();
            seen.push(ev.clone());
            match ev {
                Ev::Text(t) if t == "send fragments" => {
                    d.conn.send_fragment(DataKind::Binary, b"12", false).unwrap();
                    d.conn.send_ping(b"from server").unwrap();
                    d.conn.send_fragment(DataKind::Binary, b"", false).unwrap();
                    d.conn.send_fragment(DataKind::Binary, b"345", true).unwrap();
                    d.flush();
                }
                Ev::Text(t) if t == "close me" => {
                    d.conn.close(4001, "as requested").unwrap();
                    d.flush();
                }
                Ev::Text(t) => {
                    d.conn.send_text(&t).unwrap();
                    d.flush();
                }
                Ev::Binary(b) => {
                    d.conn.send_binary(&b).unwrap();
                    d.flush();
                }
                Ev::Close(..) => {
                    assert_eq!(d.conn.state(), State::Closed);
                    assert!(d.conn.should_close_transport());
                    return seen; // the socket closes on drop (§7.1.1: the server closes first)
                }
                Ev::Ping(_) | Ev::Pong(_) => {}
                e => panic!("unexpected {e:?}"),
            }
        }
    });

    use tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "v1, v2".parse().unwrap());
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let (mut ws, resp) = tungstenite::client(request, sock).unwrap();
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.headers()["Sec-WebSocket-Protocol"], "v2");

    ws.send(Message::text("hello, wsproto")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("hello, wsproto"));
    let big = big_binary();
    ws.send(Message::binary(big.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(big));

    // Its fragments (masked by tungstenite), with a ping in between.
    ws.write(Message::Frame(Frame::message("fr", OpCode::Data(Data::Text), false))).unwrap();
    ws.write(Message::Frame(Frame::ping("mid"))).unwrap();
    ws.write(Message::Frame(Frame::message("ag", OpCode::Data(Data::Continue), true))).unwrap();
    ws.flush().unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong("mid".into()));
    assert_eq!(ws.read().unwrap(), Message::text("frag"));

    // Our fragments arrive whole; the ping between them is reported.
    ws.send(Message::text("send fragments")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Ping("from server".into()));
    assert_eq!(ws.read().unwrap(), Message::binary(b"12345".to_vec()));

    // A ping from the client is answered.
    ws.send(Message::Ping("are you there".into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong("are you there".into()));

    // A clean close started by our server, with code and reason.
    ws.send(Message::text("close me")).unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Message::Close(Some(CloseFrame { code: CloseCode::Library(4001), reason: "as requested".into() }))
    );
    // tungstenite answers; reading on ends when our server closes the socket.
    match ws.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        Err(e) => panic!("{e}"),
        Ok(m) => panic!("unexpected {m:?}"),
    }

    let seen = server.join().unwrap();
    assert_eq!(
        seen,
        vec![
            Ev::text("hello, wsproto"),
            Ev::Binary(big_binary()),
            Ev::Ping(b"mid".to_vec()),
            Ev::text("frag"),
            Ev::text("send fragments"),
            Ev::Pong(b"from server".to_vec()),
            Ev::Ping(b"are you there".to_vec()),
            Ev::text("close me"),
            Ev::close(4001, "as requested"),
        ]
    );
}

// Close started by tungstenite's client: our server echoes the code.
#[test]
fn tungstenite_client_closes_our_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        let mut d = Driver::new(Connection::server(Config::default()), sock);
        let Ev::Request(_) = d.next() else { panic!("no request") };
        d.conn.accept(Accept::default()).unwrap();
        d.flush();
        let ev = d.next();
        d.finish_close();
        ev
    });
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/"), sock).unwrap();
    ws.close(Some(CloseFrame { code: CloseCode::Away, reason: "leaving".into() })).unwrap();
    let echoed = match ws.read() {
        Ok(Message::Close(f)) => f,
        Ok(m) => panic!("unexpected {m:?}"),
        Err(e) => panic!("{e}"),
    };
    // §5.5.1: the echo carries the code (our server sends no reason back).
    assert_eq!(echoed, Some(CloseFrame { code: CloseCode::Away, reason: "".into() }));
    drop(ws);
    assert_eq!(server.join().unwrap(), Ev::close(1001, "leaving"));
}

impl Driver {
    /// The server side after the close handshake: the output is flushed;
    /// the transport may be closed (we drop it), and reading stops.
    fn finish_close(&mut self) {
        assert_eq!(self.conn.state(), State::Closed);
        self.flush();
        assert!(self.conn.should_close_transport());
    }
}
