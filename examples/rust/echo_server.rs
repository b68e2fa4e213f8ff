//! A WebSocket echo server on 127.0.0.1:PORT, one thread per connection,
//! driving the sans-IO core over blocking `std::net` sockets. It negotiates
//! permessage-deflate and echoes every message.
//!
//! Usage: echo_server PORT [--quiet]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use wsproto_core::extension::deflate::{DeflateConfig, PerMessageDeflate};
use wsproto_core::{Accept, Config, Connection, Event, Role};

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect("usage: echo_server PORT [--quiet]");
    let quiet = args.any(|a| a == "--quiet");
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    println!("rust echo server listening on 127.0.0.1:{port}");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        std::thread::spawn(move || {
            if let Err(e) = serve(stream, quiet) {
                eprintln!("connection ended: {e}");
            }
        });
    }
}

fn serve(mut stream: TcpStream, quiet: bool) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut conn = Connection::server(Config::default());
    let mut buf = vec![0u8; 64 << 10];
    let mut upgraded = false;
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            conn.receive_eof();
        } else {
            conn.receive(&buf[..n]);
        }
        loop {
            let event = match conn.poll_event() {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    eprintln!("protocol error from peer: {e}");
                    break;
                }
            };
            // Events borrow the connection's buffers: copy what the reply needs.
            match event {
                Event::Request(req) => {
                    upgraded = true;
                    if !quiet {
                        println!("request {} from origin {:?}, offers {:?}", req.target, req.origin, req.extensions);
                    }
                    let accept = Accept {
                        subprotocol: req.subprotocols.first().cloned(),
                        extensions: vec![Box::new(PerMessageDeflate::new(Role::Server, DeflateConfig::default()))],
                        headers: Vec::new(),
                    };
                    conn.accept(accept).expect("a valid accept");
                }
                Event::Text(t) => {
                    if !quiet {
                        println!("echo text ({} bytes)", t.len());
                    }
                    let t = t.to_owned();
                    let _ = conn.send_text(&t);
                }
                Event::Binary(b) => {
                    if !quiet {
                        println!("echo binary ({} bytes)", b.len());
                    }
                    let b = b.to_vec();
                    let _ = conn.send_binary(&b);
                }
                Event::Ping(p) if !quiet => println!("ping {:?} (pong sent)", String::from_utf8_lossy(p)),
                Event::Close { code, reason } if !quiet && upgraded => println!("peer closed: {code} {reason:?}"),
                _ => {}
            }
        }
        stream.write_all(conn.output())?;
        let written = conn.output().len();
        conn.consume_output(written);
        if conn.should_close_transport() || n == 0 {
            return Ok(());
        }
    }
}
