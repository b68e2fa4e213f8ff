//! A WebSocket client for 127.0.0.1:PORT over blocking `std::net`.
//!
//! Usage:
//!   client PORT                 a short conversation: text, binary, ping, close
//!   client PORT --stress        echo check of messages from 0 B to 16 MiB,
//!                               compressible and random, with deflate offered
//!
//! Exits non-zero if anything that came back differs from what was sent.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;

use wsproto_core::extension::deflate::{DeflateConfig, PerMessageDeflate};
use wsproto_core::{ClientHandshake, Config, Connection, Event, Random, Role, SeededRandom};

/// What came back, owned.
#[derive(Debug, PartialEq)]
enum Got {
    Text(String),
    Binary(Vec<u8>),
    Pong(String),
    Close(u16, String),
}

struct Client {
    stream: TcpStream,
    conn: Connection,
    buf: Vec<u8>,
}

impl Client {
    fn connect(port: u16, deflate: bool) -> std::io::Result<(Client, String)> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        let mut extensions: Vec<Box<dyn wsproto_core::Extension>> = Vec::new();
        if deflate {
            extensions.push(Box::new(PerMessageDeflate::new(Role::Client, DeflateConfig::default())));
        }
        let hs = ClientHandshake {
            host: format!("127.0.0.1:{port}"),
            path: "/echo".into(),
            origin: Some("http://127.0.0.1".into()),
            extensions,
            ..Default::default()
        };
        let conn = Connection::client(Config::default(), hs).expect("valid handshake");
        let mut c = Client { stream, conn, buf: vec![0; 64 << 10] };
        c.flush()?;
        loop {
            c.read_some()?;
            match c.conn.poll_event() {
                Ok(Some(Event::Accepted(r))) => {
                    let ext = r.extensions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                    return Ok((c, ext));
                }
                Ok(Some(Event::Rejected(r))) => {
                    return Err(std::io::Error::other(format!("rejected with {} {}", r.status, r.reason)));
                }
                Ok(Some(e)) => return Err(std::io::Error::other(format!("unexpected {e:?}"))),
                Ok(None) => continue,
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.write_all(self.conn.output())?;
        let n = self.conn.output().len();
        self.conn.consume_output(n);
        Ok(())
    }

    fn read_some(&mut self) -> std::io::Result<()> {
        let n = self.stream.read(&mut self.buf)?;
        if n == 0 {
            self.conn.receive_eof();
        } else {
            self.conn.receive(&self.buf[..n]);
        }
        Ok(())
    }

    /// Reads until the next message, pong or close.
    fn next(&mut self) -> std::io::Result<Got> {
        loop {
            let got = match self.conn.poll_event() {
                Ok(Some(Event::Text(t))) => Some(Got::Text(t.to_owned())),
                Ok(Some(Event::Binary(b))) => Some(Got::Binary(b.to_vec())),
                Ok(Some(Event::Pong(p))) => Some(Got::Pong(String::from_utf8_lossy(p).into_owned())),
                Ok(Some(Event::Close { code, reason })) => Some(Got::Close(code, reason.to_owned())),
                Ok(Some(_)) => None,
                Ok(None) => {
                    self.flush()?;
                    self.read_some()?;
                    None
                }
                Err(e) => return Err(std::io::Error::other(e)),
            };
            if let Some(g) = got {
                self.flush()?;
                return Ok(g);
            }
        }
    }
}

fn conversation(port: u16) -> std::io::Result<bool> {
    let (mut c, ext) = Client::connect(port, true)?;
    println!("client: connected, extensions: [{ext}]");
    let mut ok = true;
    let mut check = |what: &str, got: Got, want: Got| {
        println!("client: {what} -> {got:?}");
        if got != want {
            println!("client: MISMATCH, wanted {want:?}");
            ok = false;
        }
    };
    c.conn.send_text("Hello from Rust ✓").unwrap();
    c.flush()?;
    check("sent text", c.next()?, Got::Text("Hello from Rust ✓".into()));
    c.conn.send_binary(&[0, 1, 2, 254, 255]).unwrap();
    c.flush()?;
    check("sent binary", c.next()?, Got::Binary(vec![0, 1, 2, 254, 255]));
    c.conn.send_ping(b"are you there?").unwrap();
    c.flush()?;
    check("sent ping", c.next()?, Got::Pong("are you there?".into()));
    c.conn.close(1000, "bye").unwrap();
    c.flush()?;
    check("sent close 1000", c.next()?, Got::Close(1000, String::new()));
    println!("client: state {:?}", c.conn.state());
    Ok(ok)
}

fn stress(port: u16) -> std::io::Result<bool> {
    let (mut c, ext) = Client::connect(port, true)?;
    println!("client: connected, extensions: [{ext}]");
    let mut rng = SeededRandom::new(2026);
    let mut ok = true;
    for size in [0usize, 1, 125, 126, 1000, 65_535, 65_536, 1 << 20, 16 << 20] {
        for compressible in [true, false] {
            let mut msg = vec![0u8; size];
            if compressible {
                for (i, b) in msg.iter_mut().enumerate() {
                    *b = b"the quick brown fox jumps over the lazy dog "[i % 44];
                }
            } else {
                rng.fill(&mut msg);
            }
            c.conn.send_binary(&msg).unwrap();
            c.flush()?;
            let got = c.next()?;
            let good = got == Got::Binary(msg);
            println!(
                "client: {size:>9} B {:<12} {}",
                if compressible { "compressible" } else { "random" },
                if good { "ok" } else { "MISMATCH" }
            );
            ok &= good;
            if compressible && size > 0 {
                let text = String::from_utf8(vec![b'x'; size]).unwrap();
                c.conn.send_text(&text).unwrap();
                c.flush()?;
                ok &= c.next()? == Got::Text(text);
            }
        }
    }
    c.conn.close(1000, "done").unwrap();
    c.flush()?;
    let got = c.next()?;
    println!("client: close -> {got:?}");
    ok &= matches!(got, Got::Close(1000, _));
    Ok(ok)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(port) = args.first().and_then(|p| p.parse().ok()) else {
        eprintln!("usage: client PORT [--stress]");
        return ExitCode::from(2);
    };
    let result = if args.iter().any(|a| a == "--stress") { stress(port) } else { conversation(port) };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("client: error: {e}");
            ExitCode::FAILURE
        }
    }
}
