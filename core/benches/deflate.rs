//! permessage-deflate: compress/decompress throughput and ratio on a shared
//! corpus, heap held per connection, and peak heap while refusing a bomb.
//!
//! `cargo bench -p wsproto-core --bench deflate` prints markdown tables; the
//! peers' numbers for the same corpus come from `bench/deflate/peers.py`
//! (websockets) and `bench/deflate/peers.mjs` (ws), and `bench/deflate/run.sh`
//! runs all three in one go.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use wsproto_core::extension::deflate::{DeflateConfig, PerMessageDeflate};
use wsproto_core::{Accept, ClientHandshake, Config, Connection, Event, Extension, ExtensionOffer, Role};

/// Counts live heap bytes and the peak since the last reset.
#[path = "../tests/common/counting.rs"]
mod counting;
use counting::{LIVE, PEAK};

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

/// The corpus, generated the same way by the peer scripts.
fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let json: Vec<u8> = (0..12)
        .map(|i| {
            format!(r#"{{"id":{i},"user":"user{i}","action":"update","values":[{i},{},{}],"ok":true}}"#, i * 2, i * 3)
        })
        .collect::<Vec<_>>()
        .join(",")
        .into_bytes();
    let mut text = Vec::new();
    let words = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do"];
    let mut x: u32 = 1;
    while text.len() < 64 << 10 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        text.extend_from_slice(words[(x >> 16) as usize % words.len()].as_bytes());
        text.push(b' ');
    }
    text.truncate(64 << 10);
    let mut random = vec![0u8; 1 << 20];
    for b in random.iter_mut() {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        *b = (x >> 16) as u8;
    }
    vec![("json ~1 KiB", json), ("text 64 KiB", text), ("random 1 MiB", random)]
}

/// Every RFC 7692 parameter off: context kept both ways, 15-bit windows,
/// the settings `ws` uses by default.
fn rfc_defaults() -> DeflateConfig {
    DeflateConfig { server_no_context_takeover: false, ..DeflateConfig::default() }
}

fn negotiated(role: Role, config: DeflateConfig) -> PerMessageDeflate {
    let mut server = PerMessageDeflate::new(Role::Server, config.clone());
    let mut client = PerMessageDeflate::new(Role::Client, config);
    let response = server.accept(&client.offers()).expect("accepted");
    client.finalize(&response).expect("finalized");
    let _: &ExtensionOffer = &response;
    match role {
        Role::Server => server,
        Role::Client => client,
    }
}

fn throughput() {
    println!("## Throughput (window 15 bits, level 6, memLevel 8, context takeover)\n");
    println!("| message | ratio | compress MB/s | decompress MB/s |");
    println!("|---|---:|---:|---:|");
    for (name, msg) in corpus() {
        let mut tx = negotiated(Role::Server, rfc_defaults());
        let mut rx = negotiated(Role::Client, rfc_defaults());
        let mut wire = Vec::new();
        let mut plain = Vec::new();
        let budget = Duration::from_millis(600);
        // Compress.
        let (mut n, start) = (0u64, Instant::now());
        let mut sizes = 0u64;
        let mut frames = Vec::new();
        let mut plain_sent = false;
        while start.elapsed() < budget {
            wire.clear();
            if tx.encode(&msg, true, true, &mut wire).unwrap().is_none() {
                // Incompressible: sent plain (see PLAIN_FALLBACK_MIN).
                wire.extend_from_slice(&msg);
                plain_sent = true;
            }
            sizes += wire.len() as u64;
            if frames.len() < 4096 && !plain_sent {
                frames.push(wire.clone());
            }
            n += 1;
        }
        let c_secs = start.elapsed().as_secs_f64();
        // Decompress the frames in order (the stream shares one context).
        let (mut m, start) = (0u64, Instant::now());
        'outer: while !frames.is_empty() {
            let mut rx2 = negotiated(Role::Client, rfc_defaults());
            for f in &frames {
                plain.clear();
                rx2.decode(f, true, &mut plain, usize::MAX).unwrap();
                assert_eq!(plain.len(), msg.len());
                m += 1;
                if start.elapsed() > budget {
                    break 'outer;
                }
            }
        }
        let d_secs = start.elapsed().as_secs_f64();
        let _ = &mut rx;
        let mb = msg.len() as f64 / 1e6;
        let decompress = if plain_sent { "sent plain".to_owned() } else { format!("{:.1}", m as f64 * mb / d_secs) };
        println!(
            "| {name} | {:.3} | {:.1} | {decompress} |",
            sizes as f64 / (n as f64 * msg.len() as f64),
            n as f64 * mb / c_secs,
        );
    }
    println!();
}

/// Heap held by one idle open connection after exchanging messages.
fn memory() {
    println!("## Heap held per idle connection (after 3 messages each way, buffers released)\n");
    println!("| deflate settings | server heap | client heap |");
    println!("|---|---:|---:|");
    let settings: [(&str, Option<DeflateConfig>); 5] = [
        ("no deflate", None),
        ("context kept both ways (RFC 7692 defaults, as ws)", Some(rfc_defaults())),
        ("our default: server_no_context_takeover", Some(DeflateConfig::default())),
        (
            "both no_context_takeover",
            Some(DeflateConfig {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                ..Default::default()
            }),
        ),
        (
            "windows 10 bits, memLevel 4",
            Some(DeflateConfig {
                server_max_window_bits: Some(10),
                client_max_window_bits: Some(10),
                mem_level: 4,
                ..rfc_defaults()
            }),
        ),
    ];
    for (name, cfg) in settings {
        let before = LIVE.load(Relaxed);
        let (mut client, mut server) = pair(cfg);
        for i in 0..3 {
            let msg = format!("{{\"message\":{i},\"payload\":\"{}\"}}", "abc".repeat(200));
            client.send_text(&msg).unwrap();
            server.receive(&client.take_output());
            while let Some(e) = server.poll_event().unwrap() {
                if let Event::Text(t) = e {
                    let t = t.to_owned();
                    server.send_text(&t).unwrap();
                }
            }
            client.receive(&server.take_output());
            while client.poll_event().unwrap().is_some() {}
        }
        client.release_memory();
        server.release_memory();
        let held = LIVE.load(Relaxed);
        drop(server);
        let server_heap = held - LIVE.load(Relaxed);
        let held = LIVE.load(Relaxed);
        drop(client);
        let client_heap = held - LIVE.load(Relaxed);
        let _ = before;
        println!("| {name} | {server_heap} B | {client_heap} B |");
    }
    println!(
        "\nHeap owned by the connection, not counting the `Connection` struct itself ({} B; the C ABI boxes it).\n\
         The pool is per thread and shared by all its connections (at most 4 compressors and 4 inflaters).\n",
        std::mem::size_of::<Connection>()
    );
}

fn pair(cfg: Option<DeflateConfig>) -> (Connection, Connection) {
    let exts = |role| -> Vec<Box<dyn Extension>> {
        cfg.clone().map(|c| Box::new(PerMessageDeflate::new(role, c)) as Box<dyn Extension>).into_iter().collect()
    };
    let hs =
        ClientHandshake { host: "h".into(), path: "/".into(), extensions: exts(Role::Client), ..Default::default() };
    let mut client = Connection::client(Config { mask_seed: Some(1), ..Config::default() }, hs).unwrap();
    let mut server = Connection::server(Config::default());
    server.receive(&client.take_output());
    let _ = server.poll_event().unwrap();
    server.accept(Accept { extensions: exts(Role::Server), ..Default::default() }).unwrap();
    client.receive(&server.take_output());
    let _ = client.poll_event().unwrap();
    (client, server)
}

/// A 1 GiB bomb (zeros) against a 1 MiB message limit.
fn bomb() {
    let limit = 1u64 << 20;
    let mut tx = negotiated(Role::Client, DeflateConfig::default());
    let zeros = vec![0u8; 16 << 20];
    let mut wire = Vec::new();
    for i in 0..64 {
        tx.encode(&zeros, i == 0, i == 63, &mut wire).unwrap();
    }
    drop(zeros);
    let header_len = 14;
    let mut frame = Vec::with_capacity(wire.len() + header_len);
    let key = [1, 2, 3, 4];
    let h = wsproto_core::frame::FrameHeader {
        fin: true,
        rsv: wsproto_core::frame::RSV1,
        opcode: wsproto_core::frame::OpCode::Binary,
        mask: Some(key),
        len: wire.len() as u64,
    };
    h.encode(&mut frame);
    let start = frame.len();
    frame.extend_from_slice(&wire);
    wsproto_core::mask::apply_mask(&mut frame[start..], key, 0);
    drop(wire);

    let mut server = Connection::open(
        Role::Server,
        Config { max_message_size: limit, ..Config::default() },
        Some(Box::new(negotiated(Role::Server, DeflateConfig::default()))),
    );
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let t = Instant::now();
    let mut result = None;
    for chunk in frame.chunks(64 << 10) {
        server.receive(chunk);
        match server.poll_event() {
            Ok(None) => {}
            Ok(Some(e)) => panic!("unexpected {e:?}"),
            Err(e) => {
                result = Some(e);
                break;
            }
        }
    }
    let err = result.expect("the bomb is refused");
    println!("## Decompression bomb\n");
    println!(
        "1 GiB of zeros compressed to {} KiB in one message, limit 1 MiB: refused with close code {:?} after {:.1} ms; \
         peak heap above baseline while decoding: {} KiB (limit + input buffer + inflater).\n",
        frame.len() >> 10,
        err.close_code(),
        t.elapsed().as_secs_f64() * 1e3,
        (PEAK.load(Relaxed) - base) >> 10
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    throughput();
    memory();
    bomb();
}
