//! `Connection::send_binary_shared` and vectored output: a server sends a
//! large binary payload by reference (RFC 6455 §5.2 frame header in the
//! output buffer, the caller's bytes as their own piece), and the pieces read
//! in order are exactly the bytes an ordinary `send_binary` writes. And
//! `send_binary_into`, which frames a message into caller memory instead of
//! the output: the same bytes again.

mod common;

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use wsproto_core::{Bytes, Connection, DataKind, ErrorKind, SHARE_MIN};

fn payload(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + seed) % 251) as u8).collect()
}

/// Drains the output piece by piece with `output` + `consume_output`,
/// consuming at most `step` bytes at a time.
fn drain_pieces(c: &mut Connection, step: usize) -> Vec<u8> {
    let mut all = Vec::new();
    while c.wants_write() {
        let piece = c.output();
        assert!(!piece.is_empty(), "wants_write with an empty piece");
        let n = piece.len().min(step);
        all.extend_from_slice(&piece[..n]);
        c.consume_output(n);
    }
    assert_eq!(c.output(), b"");
    assert_eq!(c.buffered_out(), 0);
    all
}

/// Drains the output with `output_vectored` into at most `slots` slices.
fn drain_vectored(c: &mut Connection, slots: usize) -> Vec<u8> {
    let mut all = Vec::new();
    while c.wants_write() {
        let mut iov = vec![IoSlice::new(&[]); slots];
        let n = c.output_vectored(&mut iov);
        assert!(n > 0);
        let mut written = 0;
        for s in &iov[..n] {
            assert!(!s.is_empty());
            all.extend_from_slice(s);
            written += s.len();
        }
        c.consume_output(written);
    }
    all
}

/// The same messages sent by reference and by copy.
fn send_mix(c: &mut Connection, shared: bool, big: &[Vec<u8>]) {
    c.send_text("first").unwrap();
    for (i, b) in big.iter().enumerate() {
        if shared {
            c.send_binary_shared(b.clone()).unwrap();
        } else {
            c.send_binary(b).unwrap();
        }
        if i % 2 == 0 {
            c.send_ping(b"p").unwrap();
        }
    }
    c.send_binary(b"tail").unwrap();
}

#[test]
fn header_then_the_callers_own_bytes() {
    let mut s = server();
    let data = Bytes::from(payload(65_536, 1));
    s.send_binary_shared(data.clone()).unwrap();
    assert_eq!(s.buffered_out(), 10 + 65_536);
    // §5.2: FIN + binary, 127 = 64-bit length, 65536.
    assert_eq!(s.output(), &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    s.consume_output(10);
    assert_eq!(s.output().as_ptr(), data.as_ptr(), "the payload is not copied");
    assert_eq!(s.output().len(), 65_536);
    s.consume_output(65_536);
    assert!(!s.wants_write());
}

#[test]
fn pieces_equal_the_copied_output_however_drained() {
    let big: Vec<Vec<u8>> =
        [SHARE_MIN, 70_000, 5_000, 200_000].iter().enumerate().map(|(i, &n)| payload(n, i)).collect();
    let mut copied = server();
    send_mix(&mut copied, false, &big);
    let want = copied.take_output();
    for step in [1usize, 7, 4096, 65_536, usize::MAX] {
        let mut s = server();
        send_mix(&mut s, true, &big);
        assert_eq!(s.buffered_out(), want.len());
        assert_eq!(drain_pieces(&mut s, step), want, "step {step}");
    }
    for slots in [1usize, 2, 3, 64] {
        let mut s = server();
        send_mix(&mut s, true, &big);
        assert_eq!(drain_vectored(&mut s, slots), want, "{slots} slots");
    }
    let mut s = server();
    send_mix(&mut s, true, &big);
    assert_eq!(s.take_output(), want, "take_output copies the pieces in");
    let mut s = server();
    send_mix(&mut s, true, &big);
    let mut spare = Vec::new();
    s.swap_output(&mut spare);
    assert_eq!(spare, want);
    // Partly consumed, then more sent: the order holds.
    let mut s = server();
    send_mix(&mut s, true, &big);
    let mut got = drain_pieces_until(&mut s, 80_000);
    s.send_binary_shared(big[1].clone()).unwrap();
    got.extend(drain_pieces(&mut s, 1000));
    let mut c2 = server();
    send_mix(&mut c2, false, &big);
    c2.send_binary(&big[1]).unwrap();
    assert_eq!(got, c2.take_output());
}

fn drain_pieces_until(c: &mut Connection, limit: usize) -> Vec<u8> {
    let mut all = Vec::new();
    while all.len() < limit {
        let n = c.output().len().min(limit - all.len()).min(3000);
        all.extend_from_slice(&c.output()[..n]);
        c.consume_output(n);
    }
    all
}

#[test]
fn the_peer_decodes_what_was_sent_by_reference() {
    let data = payload(300_000, 9);
    let mut s = server();
    s.send_binary_shared(data.clone()).unwrap();
    let wire = drain_pieces(&mut s, 10_000);
    Run::new(client).expect(&wire, &[Ev::binary(&data)], b"");
}

#[test]
fn copied_when_masking_or_small() {
    // A client masks (§5.3), which is a copy anyway: identical to send_binary.
    let data = payload(50_000, 3);
    let mut a = client();
    let mut b = client();
    a.send_binary_shared(data.clone()).unwrap();
    b.send_binary(&data).unwrap();
    assert_eq!(a.output(), b.output(), "one contiguous masked frame");
    assert_eq!(a.output().len(), 4 + 4 + 50_000);
    // Small payloads are copied: one piece, header and payload.
    let mut s = server();
    s.send_binary_shared(vec![7u8; SHARE_MIN - 1]).unwrap();
    assert_eq!(s.output().len(), 4 + SHARE_MIN - 1);
}

#[test]
fn misuse_is_a_local_error_and_keeps_nothing() {
    let mut s = server();
    s.send_fragment(DataKind::Binary, b"start", false).unwrap();
    let e = s.send_binary_shared(payload(10_000, 0)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::FragmentMismatch);
    s.send_fragment(DataKind::Binary, b"", true).unwrap();
    s.close(1000, "").unwrap();
    let before = s.buffered_out();
    let e = s.send_binary_shared(payload(10_000, 0)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidState);
    assert_eq!(s.buffered_out(), before);
}

/// Owns a payload and records when it is dropped.
struct Tracked(Vec<u8>, Arc<AtomicBool>);
impl AsRef<[u8]> for Tracked {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}
impl Drop for Tracked {
    fn drop(&mut self) {
        self.1.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_payload_is_released_once_written() {
    let dropped = Arc::new(AtomicBool::new(false));
    let mut s = server();
    s.send_binary_shared(Bytes::from_owner(Tracked(payload(20_000, 5), dropped.clone()))).unwrap();
    s.send_binary(b"after").unwrap();
    s.consume_output(4 + 19_999);
    assert!(!dropped.load(Ordering::SeqCst), "one byte is still to be written");
    s.consume_output(1);
    assert!(dropped.load(Ordering::SeqCst), "released as soon as written");
    assert_eq!(s.output(), &sframe(BIN, b"after")[..]);
    // Dropping the connection releases what is pending.
    let dropped = Arc::new(AtomicBool::new(false));
    let mut s = server();
    s.send_binary_shared(Bytes::from_owner(Tracked(payload(20_000, 5), dropped.clone()))).unwrap();
    drop(s);
    assert!(dropped.load(Ordering::SeqCst));
}

/// `send_binary_into` into a fresh buffer of the frame's length.
fn frame_into(c: &mut Connection, data: &[u8]) -> Vec<u8> {
    let mut dst = vec![MaybeUninit::new(0xA5u8); c.binary_frame_len(data.len())];
    assert!(c.send_binary_into(data, &mut dst).unwrap());
    // SAFETY: every element was initialized (to 0xA5, then overwritten).
    dst.into_iter().map(|b| unsafe { b.assume_init() }).collect()
}

#[test]
fn framed_into_caller_memory_is_what_send_binary_writes() {
    // §5.2 header (7-, 16- and 64-bit lengths), §5.3 masking for a client.
    for make in [client as fn() -> Connection, server] {
        for len in [0usize, 1, 125, 126, 65_535, 65_536, 300_000] {
            let data = payload(len, len);
            let mut want = make();
            want.send_text("first").unwrap();
            want.send_binary(&data).unwrap();
            want.send_ping(b"p").unwrap();
            want.send_binary(&data).unwrap();
            let want = want.take_output();
            let mut one = make();
            one.send_binary(&data).unwrap();
            assert_eq!(one.binary_frame_len(len), one.buffered_out(), "the length of the frame of {len} bytes");

            let mut c = make();
            c.send_text("first").unwrap();
            let mut got = c.take_output();
            got.extend(frame_into(&mut c, &data));
            assert_eq!(c.buffered_out(), 0, "nothing of it is in the output");
            c.send_ping(b"p").unwrap();
            got.extend(c.take_output());
            got.extend(frame_into(&mut c, &data));
            assert_eq!(got, want, "{len} bytes");
        }
    }
}

#[test]
fn the_peer_decodes_a_frame_written_into_caller_memory() {
    let data = payload(70_000, 4);
    let mut c = client();
    let wire = frame_into(&mut c, &data);
    Run::new(server).expect(&wire, &[Ev::binary(&data)], b"");
}

/// An extension that takes part in nothing; its presence is what counts.
#[derive(Debug)]
struct Quiet;
impl wsproto_core::Extension for Quiet {
    fn name(&self) -> &str {
        "quiet"
    }
    fn offers(&mut self) -> Vec<wsproto_core::ExtensionOffer> {
        Vec::new()
    }
    fn accept(&mut self, _: &[wsproto_core::ExtensionOffer]) -> Option<wsproto_core::ExtensionOffer> {
        None
    }
    fn finalize(&mut self, _: &wsproto_core::ExtensionOffer) -> Result<(), String> {
        Ok(())
    }
}

#[test]
fn framing_into_caller_memory_refused_changes_nothing() {
    let data = payload(20_000, 2);
    let mut reference = client();
    reference.send_ping(b"x").unwrap();
    reference.send_binary(&data).unwrap();
    let reference = reference.take_output();
    let mut c = client();
    let len = c.binary_frame_len(data.len());
    assert_eq!(len, 2 + 2 + 4 + 20_000);

    // Output pending: its order would be lost. Then a destination of the
    // wrong length. Local errors, and the next mask key is still the one a
    // plain send would have used.
    c.send_ping(b"x").unwrap();
    let pending = c.buffered_out();
    let e = c.send_binary_into(&data, &mut vec![MaybeUninit::uninit(); len]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidState);
    assert_eq!(c.buffered_out(), pending);
    let mut got = c.take_output();
    for wrong in [len - 1, len + 1, 0] {
        let e = c.send_binary_into(&data, &mut vec![MaybeUninit::uninit(); wrong]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{wrong} bytes");
    }
    got.extend(frame_into(&mut c, &data));
    assert_eq!(got, reference);

    // Inside a fragmented message, and after our close (§5.4, §5.5.1).
    let mut s = server();
    s.send_fragment(DataKind::Binary, b"start", false).unwrap();
    s.take_output();
    let e = s.send_binary_into(&data, &mut vec![MaybeUninit::uninit(); s.binary_frame_len(data.len())]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::FragmentMismatch);
    s.send_fragment(DataKind::Binary, b"", true).unwrap();
    s.close(1000, "").unwrap();
    s.take_output();
    let e = s.send_binary_into(&data, &mut vec![MaybeUninit::uninit(); s.binary_frame_len(data.len())]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidState);
    assert_eq!(s.buffered_out(), 0);

    // With an extension, which may transform messages: not taken.
    let mut x = Connection::open(wsproto_core::Role::Client, wsproto_core::Config::default(), Some(Box::new(Quiet)));
    assert!(!x.send_binary_into(&data, &mut vec![MaybeUninit::uninit(); x.binary_frame_len(data.len())]).unwrap());
    assert_eq!(x.buffered_out(), 0);
}
