//! Decode and encode throughput of `wsproto-core` against `tungstenite` and
//! `fastwebsockets`, with a plain memory copy as the floor for large binary
//! messages, all in one run so that the ratios are comparable.
//!
//! Every library reads the same wire bytes from the same in-memory transport
//! (see `support`), keeps one connection alive across iterations, and does
//! the same work per message: unmask (client to server), check UTF-8 of text
//! (across fragments too) and hand the whole message to the caller. Groups
//! are named `decode/<masked|unmasked>/<kind>/<read size>` and
//! `encode/<masked|unmasked>/binary`; `bench/rust/run.sh` turns the results
//! into a table.
//!
//! Filter like any criterion bench: `cargo bench -p wsproto-core --bench codec -- decode/masked`.

mod support;

use std::hint::black_box;
use std::io::{IoSlice, Write};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use support::{Kind, Loop, Stream};
use wsproto_core::{Config, Connection, Event, Role};

const SIZES: &[(usize, &str)] =
    &[(16, "16B"), (125, "125B"), (1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];
/// How much encoded output is collected before it is written to the sink.
const WRITE_BUFFER: usize = 16 << 10;
/// Read sizes: a typical socket read, and the whole stream at once.
const FEEDS: &[(usize, &str)] = &[(64 << 10, "read64k"), (usize::MAX, "whole")];

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(150))
        .measurement_time(Duration::from_millis(400))
        .nresamples(2000)
        .without_plots()
        .configure_from_args();
    for masked in [true, false] {
        for kind in [Kind::Binary, Kind::Text, Kind::TextFragmented] {
            for &(chunk, feed) in FEEDS {
                decode_group(&mut c, masked, kind, chunk, feed);
            }
        }
    }
    for masked in [true, false] {
        encode_group(&mut c, masked);
    }
    c.final_summary();
}

fn direction(masked: bool) -> &'static str {
    if masked {
        "masked"
    } else {
        "unmasked"
    }
}

fn decode_group(c: &mut Criterion, masked: bool, kind: Kind, chunk: usize, feed: &str) {
    let mut group = c.benchmark_group(format!("decode/{}/{}/{feed}", direction(masked), kind.name()));
    for &(size, label) in SIZES {
        let stream: &'static Stream = Box::leak(Box::new(support::build(kind, size, masked)));
        group.throughput(Throughput::Bytes(stream.payload_bytes()));

        let mut conn = Connection::open(if masked { Role::Server } else { Role::Client }, Config::default(), None);
        let mut checked = false;
        group.bench_function(BenchmarkId::new("ours", label), |b| {
            once(&mut checked, || check("ours", stream, decode_ours(&mut conn, stream, chunk, true)));
            b.iter(|| decode_ours(&mut conn, stream, chunk, false))
        });

        let mut ws = tungstenite_reader(stream, chunk, masked);
        let mut checked = false;
        group.bench_function(BenchmarkId::new("tungstenite", label), |b| {
            once(&mut checked, || check("tungstenite", stream, decode_tungstenite(&mut ws, stream, true)));
            b.iter(|| decode_tungstenite(&mut ws, stream, false))
        });

        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let fws_role = if masked { fastwebsockets::Role::Server } else { fastwebsockets::Role::Client };
        let ws = fastwebsockets::WebSocket::after_handshake(Loop::new(&stream.wire, chunk), fws_role);
        if kind == Kind::TextFragmented {
            // Only the collector joins fragments (and checks UTF-8 across them).
            let mut ws = fastwebsockets::FragmentCollector::new(ws);
            let mut checked = false;
            group.bench_function(BenchmarkId::new("fastwebsockets", label), |b| {
                once(&mut checked, || {
                    check("fastwebsockets", stream, rt.block_on(decode_fws_collect(&mut ws, stream, true)))
                });
                b.iter(|| rt.block_on(decode_fws_collect(&mut ws, stream, false)))
            });
        } else {
            let mut ws = ws;
            let mut checked = false;
            group.bench_function(BenchmarkId::new("fastwebsockets", label), |b| {
                once(&mut checked, || check("fastwebsockets", stream, rt.block_on(decode_fws(&mut ws, stream, true))));
                b.iter(|| rt.block_on(decode_fws(&mut ws, stream, false)))
            });
        }

        if kind == Kind::Binary && size >= 64 << 10 {
            // The floor: copying the same bytes in the same pieces into a
            // buffer that can hold a whole message, as any receiver must.
            let span = chunk.max(size + 14).min(stream.wire.len());
            let mut dst = vec![0u8; span];
            group.bench_function(BenchmarkId::new("memcpy", label), |b| {
                b.iter(|| {
                    let mut at = 0;
                    for piece in stream.wire.chunks(chunk) {
                        if at + piece.len() > span {
                            at = 0;
                        }
                        dst[at..at + piece.len()].copy_from_slice(piece);
                        at += piece.len();
                        black_box(&mut dst);
                    }
                })
            });
        }
    }
    group.finish();
}

/// What a decode pass yielded: messages, payload bytes, and (when asked to
/// keep it) the first message for a correctness check.
struct Decoded {
    messages: usize,
    bytes: usize,
    first: Option<Vec<u8>>,
}

impl Decoded {
    fn new() -> Self {
        Decoded { messages: 0, bytes: 0, first: None }
    }

    #[inline]
    fn message(&mut self, payload: &[u8], keep: bool) {
        if keep && self.first.is_none() {
            self.first = Some(payload.to_vec());
        }
        self.messages += 1;
        self.bytes += black_box(payload).len();
    }
}

/// Runs `f` the first time only: the check costs a pass, and criterion calls
/// a benchmark's closure once per sample.
fn once(done: &mut bool, f: impl FnOnce()) {
    if !std::mem::replace(done, true) {
        f();
    }
}

fn check(who: &str, stream: &Stream, d: Decoded) {
    assert_eq!(d.messages, stream.messages, "{who}: message count");
    assert_eq!(d.bytes as u64, stream.payload_bytes(), "{who}: payload bytes");
    assert_eq!(d.first.as_deref(), Some(&stream.payload[..]), "{who}: first payload");
}

fn decode_ours(conn: &mut Connection, stream: &Stream, chunk: usize, keep: bool) -> Decoded {
    let mut d = Decoded::new();
    for piece in stream.wire.chunks(chunk) {
        conn.receive(piece);
        while let Some(event) = conn.poll_event().expect("valid stream") {
            match event {
                Event::Text(t) => d.message(t.as_bytes(), keep),
                Event::Binary(b) => d.message(b, keep),
                other => panic!("unexpected event {other:?}"),
            }
        }
    }
    d
}

fn tungstenite_reader(stream: &'static Stream, chunk: usize, masked: bool) -> tungstenite::WebSocket<Loop> {
    let role = if masked { tungstenite::protocol::Role::Server } else { tungstenite::protocol::Role::Client };
    tungstenite::WebSocket::from_raw_socket(Loop::new(&stream.wire, chunk), role, None)
}

fn decode_tungstenite(ws: &mut tungstenite::WebSocket<Loop>, stream: &Stream, keep: bool) -> Decoded {
    let mut d = Decoded::new();
    for _ in 0..stream.messages {
        match ws.read().expect("valid stream") {
            // `Utf8Bytes` is only built from validated bytes.
            tungstenite::Message::Text(t) => d.message(t.as_bytes(), keep),
            tungstenite::Message::Binary(b) => d.message(&b, keep),
            other => panic!("unexpected message {other:?}"),
        }
    }
    d
}

async fn decode_fws(ws: &mut fastwebsockets::WebSocket<Loop>, stream: &Stream, keep: bool) -> Decoded {
    let mut d = Decoded::new();
    for _ in 0..stream.messages {
        // `read_frame` unmasks, and checks UTF-8 of a final text frame.
        let frame = ws.read_frame().await.expect("valid stream");
        assert!(frame.fin && matches!(frame.opcode, fastwebsockets::OpCode::Text | fastwebsockets::OpCode::Binary));
        d.message(&frame.payload, keep);
    }
    d
}

async fn decode_fws_collect(ws: &mut fastwebsockets::FragmentCollector<Loop>, stream: &Stream, keep: bool) -> Decoded {
    let mut d = Decoded::new();
    for _ in 0..stream.messages {
        let frame = ws.read_frame().await.expect("valid stream");
        assert!(frame.fin && frame.opcode == fastwebsockets::OpCode::Text);
        d.message(&frame.payload, keep);
    }
    d
}

fn encode_group(c: &mut Criterion, masked: bool) {
    let mut group = c.benchmark_group(format!("encode/{}/binary", direction(masked)));
    for &(size, label) in SIZES {
        let payload = support::payload(Kind::Binary, size);
        let n = support::message_count(size);
        group.throughput(Throughput::Bytes((size * n) as u64));

        // Each library writes its frames to the same kind of sink, which
        // copies them as a socket write would. Ours is written out (one
        // vectored write) whenever 16 KiB are pending, and tungstenite's
        // write buffer is set to the same size (fastwebsockets writes every
        // frame at once, header and payload in one vectored write). Payloads
        // of SHARE_MIN bytes and more are sent by reference, as a program
        // holding them in `Bytes` (or a `Vec` it gives away) would; like
        // tungstenite's `Bytes` message, each send clones a reference count.
        // All three libraries send from the same payload memory (and write
        // to page-aligned sinks, see `Loop`), so that none copies from or
        // to a luckier address than another.
        let mut conn = Connection::open(if masked { Role::Client } else { Role::Server }, Config::default(), None);
        let mut sink = Loop::new(&[], 1);
        let shared = wsproto_core::Bytes::from(payload);
        let flush = |conn: &mut Connection, sink: &mut Loop| {
            while conn.wants_write() {
                let written = {
                    let mut iov = [IoSlice::new(&[]); 16];
                    let k = conn.output_vectored(&mut iov);
                    sink.write_vectored(&iov[..k]).expect("sink")
                };
                conn.consume_output(written);
            }
        };
        group.bench_function(BenchmarkId::new("ours", label), |b| {
            b.iter(|| {
                for _ in 0..n {
                    if size >= wsproto_core::SHARE_MIN {
                        conn.send_binary_shared(shared.clone()).expect("open");
                    } else {
                        conn.send_binary(&shared).expect("open");
                    }
                    if conn.buffered_out() >= WRITE_BUFFER {
                        flush(&mut conn, &mut sink);
                    }
                }
                flush(&mut conn, &mut sink);
            })
        });

        let role = if masked { tungstenite::protocol::Role::Client } else { tungstenite::protocol::Role::Server };
        let config = tungstenite::protocol::WebSocketConfig::default().write_buffer_size(WRITE_BUFFER);
        let mut ws = tungstenite::WebSocket::from_raw_socket(Loop::new(&[], 1), role, Some(config));
        let bytes: tungstenite::Bytes = shared.clone();
        group.bench_function(BenchmarkId::new("tungstenite", label), |b| {
            b.iter(|| {
                for _ in 0..n {
                    ws.write(tungstenite::Message::Binary(bytes.clone())).expect("write");
                }
                ws.flush().expect("flush");
            })
        });

        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let role = if masked { fastwebsockets::Role::Client } else { fastwebsockets::Role::Server };
        let mut ws = fastwebsockets::WebSocket::after_handshake(Loop::new(&[], 1), role);
        group.bench_function(BenchmarkId::new("fastwebsockets", label), |b| {
            b.iter(|| {
                rt.block_on(async {
                    for _ in 0..n {
                        let frame = fastwebsockets::Frame::binary(fastwebsockets::Payload::Borrowed(&shared));
                        ws.write_frame(frame).await.expect("write");
                    }
                })
            })
        });
    }
    group.finish();
}
