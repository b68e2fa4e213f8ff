//! An echo client for the conformance suite's client mode (the Autobahn
//! "fuzzing server" protocol), driving the sans-IO core over blocking
//! `std::net` sockets.
//!
//! Usage: echo_client PORT [-v]
//!
//! It asks ws://127.0.0.1:PORT/getCaseCount how many cases there are, then
//! for each case i connects to /runCase?case=i, offering permessage-deflate,
//! and echoes every message until the server closes the TCP connection. The
//! core answers pings and the server's close by itself. With -v, each case
//! that went wrong prints one line to stderr. Exits 0 once every case ran, 1
//! if the case count could not be read, 2 on bad arguments.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use wsproto_core::extension::deflate::{DeflateConfig, PerMessageDeflate};
use wsproto_core::{close, ClientHandshake, Config, Connection, Event, Role};

/// How long the server may keep us waiting before the case is given up.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs one connection to `path` until the server closes TCP, echoing every
/// message if `echo`. Returns the last text message received, or the first
/// thing that went wrong.
fn run(port: u16, path: &str, echo: bool) -> Result<Option<String>, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("cannot connect: {e}"))?;
    let setup = |s: &TcpStream| {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))
    };
    setup(&stream).map_err(|e| format!("socket setup: {e}"))?;
    let handshake = ClientHandshake {
        host: format!("127.0.0.1:{port}"),
        path: path.into(),
        extensions: vec![Box::new(PerMessageDeflate::new(Role::Client, DeflateConfig::default()))],
        ..Default::default()
    };
    let mut conn = Connection::client(Config::default(), handshake).map_err(|e| e.to_string())?;

    let mut buf = vec![0u8; 64 << 10];
    let mut text = None;
    let mut failure = None;
    let mut opened = false;
    let mut eof = false;
    loop {
        loop {
            let event = match conn.poll_event() {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(e) => {
                    // The core has queued its close frame, if there is a
                    // connection to close.
                    failure.get_or_insert(format!("remote protocol error: {e}"));
                    break;
                }
            };
            // Events borrow the connection's buffers: copy what the echo needs.
            let sent = match event {
                Event::Accepted(_) => {
                    opened = true;
                    Ok(())
                }
                Event::Rejected(r) => {
                    failure.get_or_insert(format!("handshake refused: {} {}", r.status, r.reason));
                    Ok(())
                }
                Event::Text(t) => {
                    let t = t.to_owned();
                    let sent = if echo { conn.send_text(&t) } else { Ok(()) };
                    text = Some(t);
                    sent
                }
                Event::Binary(b) if echo => {
                    let b = b.to_vec();
                    conn.send_binary(&b)
                }
                Event::Close { code: close::ABNORMAL_CLOSURE, .. } => {
                    failure.get_or_insert("connection ended without a close handshake".into());
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(e) = sent {
                failure.get_or_insert(format!("cannot echo: {e}"));
            }
        }

        // Send what is queued: echoes, pongs, close frames.
        let written = stream.write_all(conn.output());
        if let Err(e) = written {
            return Err(failure.unwrap_or(format!("write failed: {e}")));
        }
        let n = conn.output().len();
        conn.consume_output(n);

        // The server closes TCP first (RFC 6455 §7.1.1), so read until it
        // does; a handshake that failed leaves nothing to wait for.
        if eof || (!opened && conn.should_close_transport()) {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                conn.receive_eof();
                eof = true;
            }
            Ok(n) => conn.receive(&buf[..n]),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                failure.get_or_insert(format!("timed out: nothing received for {} s", TIMEOUT.as_secs()));
                break;
            }
            Err(e) => {
                failure.get_or_insert(format!("read failed: {e}"));
                break;
            }
        }
    }
    failure.map_or(Ok(text), Err)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (port, verbose) = match args.as_slice() {
        [port] => (port.parse::<u16>().ok(), false),
        [port, flag] if flag == "-v" => (port.parse::<u16>().ok(), true),
        _ => (None, false),
    };
    let Some(port) = port else {
        eprintln!("usage: echo_client PORT [-v]");
        return ExitCode::from(2);
    };

    let count = match run(port, "/getCaseCount", false) {
        Ok(Some(text)) => text.parse::<u32>().map_err(|_| format!("not a case count: {text:?}")),
        Ok(None) => Err("no case count received".to_string()),
        Err(e) => Err(e),
    };
    let count = match count {
        Ok(count) => count,
        Err(e) => {
            eprintln!("echo_client: getCaseCount: {e}");
            return ExitCode::FAILURE;
        }
    };

    for case in 1..=count {
        if let Err(e) = run(port, &format!("/runCase?case={case}"), true) {
            if verbose {
                eprintln!("case {case}: {e}");
            }
        }
    }
    ExitCode::SUCCESS
}
