//! Tests of the vector kernels (`avx512.rs`, `avx2.rs`) against `std`.
//!
//! Every kernel this CPU can run is called directly (the dispatcher picks
//! only one), so an AVX-512 machine tests the AVX2 kernel too. The inputs
//! put every interesting byte pair, triple and quadruple at every offset
//! around the places where the kernels stitch vectors together: 16 bytes
//! (the halves of an AVX2 vector, which its byte shuffles do not cross), 32
//! (an AVX2 vector), 64 (an AVX-512 vector, and an AVX2 loop step) and the
//! ragged end of the input (masked loads, or an overlapping last block).

use super::{avx2, avx512};
use crate::random::{Random, SeededRandom};

type IsValid = fn(&[u8]) -> Option<bool>;
type CopyCheck = unsafe fn(*mut u8, &[u8], [u8; 4], [u8; 3]) -> Option<bool>;

struct Kernel {
    name: &'static str,
    is_valid: IsValid,
    copy_check: CopyCheck,
}

/// The kernels this CPU can run; a skipped one is reported.
fn kernels() -> Vec<Kernel> {
    let mut all = Vec::new();
    if avx2::available() {
        all.push(Kernel { name: "avx2", is_valid: avx2::is_valid, copy_check: avx2::copy_check });
    } else {
        eprintln!("skipped: no AVX2 on this CPU");
    }
    if avx512::available() {
        all.push(Kernel { name: "avx512", is_valid: avx512::is_valid, copy_check: avx512::copy_check });
    } else {
        eprintln!("skipped: no AVX-512 BW/VBMI on this CPU");
    }
    all
}

/// Bytes written around a copy's destination, which must stay as they are.
const GUARD: usize = 64;
const GUARD_BYTE: u8 = 0xee;

impl Kernel {
    /// The whole-input validator agrees with `std`.
    fn check(&self, bytes: &[u8]) {
        let want = std::str::from_utf8(bytes).is_ok();
        assert_eq!((self.is_valid)(bytes), Some(want), "{}: {bytes:02x?}", self.name);
    }

    /// The copying stream check of `text`, which follows `before` in the
    /// stream (a prefix that is still possible; the kernel is shown its
    /// last three bytes), masked with `key` at phase `phase`: it answers
    /// as [`stream_ok`] does, copies exactly the unmasked `text`, and
    /// writes nothing around it.
    fn check_copy(&self, before: &[u8], text: &[u8], key: [u8; 4], phase: usize) {
        let mut context = [0u8; 3];
        let n = before.len().min(3);
        context[3 - n..].copy_from_slice(&before[before.len() - n..]);
        self.check_copy_with(context, before, text, key, phase);
    }

    /// As [`check_copy`](Self::check_copy), with `context` given (it must
    /// stand for `before`: its end, or only the sequence it leaves open).
    fn check_copy_with(&self, context: [u8; 3], before: &[u8], text: &[u8], key: [u8; 4], phase: usize) {
        let key = crate::mask::rotate(key, phase);
        let mut masked = text.to_vec();
        if key != [0; 4] {
            for (i, b) in masked.iter_mut().enumerate() {
                *b ^= key[i & 3];
            }
        }
        let mut dst = vec![GUARD_BYTE; text.len() + 2 * GUARD];
        // SAFETY: `dst` has room for `text.len()` bytes after `GUARD`, and
        // is a different allocation from `masked`.
        let got = unsafe { (self.copy_check)(dst.as_mut_ptr().add(GUARD), &masked, key, context) };
        let want = stream_ok(before, text);
        assert_eq!(got, Some(want), "{}: {context:02x?} then {text:02x?} (phase {phase})", self.name);
        assert_eq!(&dst[GUARD..GUARD + text.len()], text, "{}: copy of {text:02x?}", self.name);
        let untouched = dst[..GUARD] == [GUARD_BYTE; GUARD] && dst[GUARD + text.len()..] == [GUARD_BYTE; GUARD];
        assert!(untouched, "{}: wrote outside, {text:02x?}", self.name);
    }

    /// Both checks of `bytes` as a whole: the validator, and the stream
    /// check from the start of a stream with a plain copy.
    fn check_both(&self, bytes: &[u8]) {
        self.check(bytes);
        self.check_copy(&[], bytes, [0; 4], 0);
    }
}

/// What a stream check must answer for `text` after `before` (a prefix
/// that is still possible): whether no byte of `text` is an error given the
/// bytes before it. A sequence cut by the end of `text` is no error, and
/// neither, by the kernels' contract, is a last byte that can start no
/// sequence (`C0`, `C1`, `F5..`): its error is in the byte after it, which
/// the caller carries it to (and `open_tail` rejects it at once).
fn stream_ok(before: &[u8], text: &[u8]) -> bool {
    let whole = [before, text].concat();
    let lone_last_lead = text.last().is_some_and(|&b| matches!(b, 0xc0 | 0xc1 | 0xf5..=0xff))
        && std::str::from_utf8(&whole[..whole.len() - 1]).is_ok();
    possible(&whole) || lone_last_lead
}

/// Whether `prefix` can still begin valid UTF-8 (`std` finds no error, or
/// only a sequence cut by the end).
fn possible(prefix: &[u8]) -> bool {
    match std::str::from_utf8(prefix) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// The bytes of an incomplete sequence at the end of `prefix` (0 to 3).
fn open_sequence(prefix: &[u8]) -> &[u8] {
    &prefix[prefix.len() - super::incomplete_tail_len(prefix)..]
}

/// A deterministic generator (tests must not depend on the clock).
struct Rng(SeededRandom);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(SeededRandom::new(seed))
    }
    fn next(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Random valid text of about `len` bytes, mixing 1- to 4-byte
    /// characters and the edges of each range.
    fn text(&mut self, len: usize) -> Vec<u8> {
        const PICK: [char; 16] = [
            'a',
            'Z',
            ' ',
            'é',
            'ß',
            'Ω',
            '€',
            '中',
            '\u{7f}',
            '\u{80}',
            '\u{7ff}',
            '\u{800}',
            '\u{ffff}',
            '𝄞',
            '😀',
            '\u{10ffff}',
        ];
        let mut s = String::new();
        while s.len() < len {
            s.push(PICK[self.below(PICK.len() as u64) as usize]);
        }
        s.into_bytes()
    }
}

/// The places where the kernels stitch vectors together, up to a whole
/// loop step after the first 64 bytes (which the AVX2 kernels shift in
/// registers; later steps reload the shifted bytes): every 16 bytes (the
/// halves of an AVX2 vector), so also every 32 (an AVX2 vector) and 64 (an
/// AVX-512 vector, an AVX2 loop step).
const BOUNDARIES: [usize; 8] = [16, 32, 48, 64, 80, 96, 112, 128];

/// Long enough for a loop step after the last boundary, and for a ragged
/// end after it (200 = 3 * 64 + 8).
const BOUNDARY_BUF: usize = 200;

/// Offsets at which a sequence of `n` bytes crosses each boundary (starts
/// 1 to `n - 1` bytes before it), and the start of the buffer.
fn crossing(n: usize) -> impl Iterator<Item = usize> {
    std::iter::once(0).chain(BOUNDARIES.into_iter().flat_map(move |b| b + 1 - n..b))
}

/// The kinds of byte that can follow a lead, for the combination tests:
/// ASCII; continuations of every high nibble, with the edges of the ranges
/// that `E0`, `ED`, `F0` and `F4` allow; and lead bytes, valid and invalid.
const FOLLOW: [u8; 24] = [
    0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xaf, 0xb0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef,
    0xf0, 0xf1, 0xf4, 0xf5, 0xff,
];

/// The validator on `buf` with `seq` put at `at` (the rest being `fill`),
/// and on the buffer cut right after `seq` (so that `seq` meets every kind
/// of end); the stream check on the whole buffer (and with `cut_copy`, on
/// the cut one too).
fn check_placed(k: &Kernel, buf: &mut [u8], fill: u8, at: usize, seq: &[u8], cut_copy: bool) {
    buf.fill(fill);
    buf[at..at + seq.len()].copy_from_slice(seq);
    let cut = &buf[..at + seq.len()];
    k.check(cut);
    if cut_copy {
        k.check_copy(&[], cut, [0; 4], 0);
    }
    k.check_both(buf);
}

/// Every pair of bytes, alone and crossing every boundary.
#[test]
fn every_one_and_two_byte_input() {
    for k in kernels() {
        let mut buf = vec![b'a'; BOUNDARY_BUF];
        for a in 0..=255u8 {
            k.check_both(&[a]);
            for b in 0..=255u8 {
                k.check_both(&[a, b]);
                if a < 0x80 && b < 0x80 {
                    continue; // As valid as the ASCII around it.
                }
                for at in crossing(2).chain([BOUNDARY_BUF - 2]) {
                    check_placed(&k, &mut buf, b'a', at, &[a, b], at % 32 == 31);
                }
            }
        }
    }
}

/// Every lead byte (and some bytes that are not leads) with every pair of
/// following bytes from each kind, crossing every boundary.
#[test]
fn every_three_byte_combination_around_boundaries() {
    let leads = (0xc0..=0xffu8).chain([0x80, 0xbf, 0x41]);
    for k in kernels() {
        let mut buf = vec![b'a'; BOUNDARY_BUF];
        for a in leads.clone() {
            for b in FOLLOW {
                for c in FOLLOW {
                    for at in crossing(3) {
                        check_placed(&k, &mut buf, b'a', at, &[a, b, c], false);
                    }
                }
            }
        }
    }
}

/// Every 4-byte sequence starting with `EE..F6` (the 3-byte leads around
/// the 4-byte ones, all the 4-byte leads and invalid leads past them),
/// whose other bytes are every byte from `70` to `C8` in the second place
/// and the edge values after it, crossing every boundary. The fourth byte
/// needs the lead three places back (`prev3`).
#[test]
fn every_four_byte_combination_around_boundaries() {
    let seconds: Vec<u8> = (0x70..=0xc8u8).collect();
    for k in kernels() {
        let mut buf = vec![b'x'; BOUNDARY_BUF];
        for a in 0xeeu8..=0xf6 {
            for &b in &seconds {
                for c in [0x80u8, 0xbf, 0x7f, 0xc0] {
                    for d in [0x80u8, 0x9f, 0xbf, 0x41, 0xc2] {
                        for at in crossing(4) {
                            check_placed(&k, &mut buf, b'x', at, &[a, b, c, d], false);
                        }
                    }
                }
            }
        }
    }
}

/// Sequences inside blocks that are not otherwise ASCII (so no block
/// around them takes the ASCII shortcut), at every offset of the first two
/// 64-byte steps.
#[test]
fn sequences_inside_multibyte_text() {
    let leads = [0xc2u8, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0x80];
    let seconds = [0x41u8, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0];
    for k in kernels() {
        // "é" (C3 A9) throughout, after one ASCII byte for odd offsets; the
        // six bytes put in replace three whole "é"s, and the inserted bytes
        // are preceded and followed by ASCII.
        for shift in 0..2 {
            let text = [&b"."[..shift], "é".repeat(100).as_bytes()].concat();
            for start in (2 + shift..134).step_by(2) {
                for a in leads {
                    for b in seconds {
                        for c in [0x80u8, 0xbf, 0x41, 0xc0] {
                            for d in [0x80u8, 0x41] {
                                let mut buf = text.clone();
                                buf[start..start + 6].copy_from_slice(&[b'.', a, b, c, d, b'.']);
                                k.check_both(&buf);
                                k.check_both(&buf[..start + 5]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Random valid text of every length up to 300, then one random byte
/// changed; every truncation of some of them; and the stream check of
/// each, split at a random point with the context it leaves, at every key
/// phase.
#[test]
fn random_text_mutations_and_truncations() {
    for k in kernels() {
        let mut rng = Rng::new(7);
        for round in 0..4000 {
            let len = rng.below(300) as usize;
            let mut bytes = rng.text(len);
            k.check(&bytes);
            if !bytes.is_empty() {
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] = rng.next() as u8;
                k.check(&bytes);
                k.check(&bytes[..at]);
                if round % 16 == 0 {
                    for cut in 0..bytes.len() {
                        k.check(&bytes[..cut]);
                        k.check_copy(&[], &bytes[..cut], [0x37, 0xfa, 0x21, 0x3d], cut);
                    }
                }
            }
            let split = rng.below(bytes.len() as u64 + 1) as usize;
            let (before, after) = bytes.split_at(split);
            if possible(before) {
                let key = (rng.next() as u32).to_le_bytes();
                for phase in 0..4 {
                    k.check_copy(before, after, key, phase);
                }
            }
        }
    }
}

/// The stream check carries up to three bytes of context: every split of
/// texts full of 2-, 3- and 4-byte sequences, with the context as its last
/// three bytes and as only the sequence it leaves open (what
/// `Utf8Validator::feed_copy` passes), valid and with one byte changed.
#[test]
fn context_carry_at_every_split() {
    for k in kernels() {
        let mut rng = Rng::new(0xc0_47e7);
        for round in 0..60 {
            let len = 60 + rng.below(200) as usize;
            let mut text = rng.text(len);
            if round % 2 == 1 {
                let at = rng.below(text.len() as u64) as usize;
                text[at] = [0x80u8, 0xbf, 0xc0, 0xe0, 0xed, 0xf0, 0xf4, 0xf5, 0xa0, 0x90][round % 10];
            }
            let key = (rng.next() as u32).to_le_bytes();
            for split in 0..=text.len() {
                let (before, after) = text.split_at(split);
                if !possible(before) {
                    break;
                }
                let phase = split;
                k.check_copy(before, after, key, phase);
                let open = open_sequence(before);
                let mut context = [0u8; 3];
                context[3 - open.len()..].copy_from_slice(open);
                k.check_copy_with(context, before, after, key, phase);
            }
        }
    }
}

/// An invalid byte at every position of every length up to 260, and a
/// lead byte cut by the end of every length: whatever block (first,
/// looped, last, overlapping) the position falls in, it is checked.
#[test]
fn an_error_at_every_position_of_every_length() {
    for k in kernels() {
        for len in 1..=260 {
            let mut buf = vec![b'a'; len];
            for at in 0..len {
                buf[at] = 0xff;
                k.check_both(&buf);
                buf[at] = b'a';
            }
            buf[len - 1] = 0xe2;
            k.check_both(&buf);
        }
    }
}

/// Every length from 0 to 300 at every alignment of the destination, so
/// that every kind of end (a short input, a whole last step, an
/// overlapping or masked last block) writes exactly its bytes.
#[test]
fn copies_exactly_the_bytes_at_every_length_and_alignment() {
    for k in kernels() {
        let mut rng = Rng::new(11);
        let text = rng.text(400);
        for len in 0..=300 {
            let piece = &text[..len];
            let key = [0x11, 0x22, 0x44, 0x88];
            for shift in 0..4 {
                let masked: Vec<u8> = piece.iter().enumerate().map(|(i, b)| b ^ key[i & 3]).collect();
                let mut dst = vec![GUARD_BYTE; len + 2 * GUARD + 4];
                // SAFETY: `dst` has room for `len` bytes after `GUARD + shift`;
                // `masked` is another allocation.
                let got = unsafe { (k.copy_check)(dst.as_mut_ptr().add(GUARD + shift), &masked, key, [0; 3]) };
                assert_eq!(got, Some(stream_ok(&[], piece)), "{} len {len}", k.name);
                assert_eq!(&dst[GUARD + shift..GUARD + shift + len], piece, "{} len {len} shift {shift}", k.name);
                let outside = dst[..GUARD + shift].iter().chain(&dst[GUARD + shift + len..]);
                assert!(outside.into_iter().all(|&b| b == GUARD_BYTE), "{} len {len} shift {shift}", k.name);
            }
        }
    }
}

/// Inputs that end at the last byte before a page that faults on any
/// access, and that start at the first byte after one, and copies that end
/// or start there too: a kernel that reads past `src` or writes past `dst`
/// crashes the test.
#[cfg(target_os = "linux")]
#[test]
fn reads_and_writes_nothing_outside_the_buffers() {
    let mut src_pages = guarded::Pages::new();
    let mut dst_pages = guarded::Pages::new();
    let mut rng = Rng::new(99);
    let text = rng.text(700);
    for k in kernels() {
        for len in (0..=300).chain([511, 512, 513, 600]) {
            for bad in [None, Some(0xc0u8), Some(0xe2)] {
                let mut piece = text[..len].to_vec();
                if let (Some(b), Some(last)) = (bad, piece.last_mut()) {
                    *last = b;
                }
                let want = std::str::from_utf8(&piece).is_ok();
                let want_stream = stream_ok(&[], &piece);
                let size = src_pages.area().len();
                for at in [0, size - len] {
                    src_pages.area()[at..at + len].copy_from_slice(&piece);
                    let src = &src_pages.area()[at..at + len];
                    assert_eq!((k.is_valid)(src), Some(want), "{} len {len}", k.name);
                    for dst_at in [0, size - len] {
                        let dst = dst_pages.area()[dst_at..].as_mut_ptr();
                        // SAFETY: `dst` has room for `len` bytes (up to the
                        // end of the writable area) and is in other pages.
                        let got = unsafe { (k.copy_check)(dst, src, [0; 4], [0; 3]) };
                        assert_eq!(got, Some(want_stream), "{} len {len}", k.name);
                        assert_eq!(&dst_pages.area()[dst_at..dst_at + len], src, "{} len {len}", k.name);
                    }
                }
            }
        }
    }
}

/// Memory with a page that faults on any access at each end.
#[cfg(target_os = "linux")]
mod guarded {
    use std::ffi::{c_int, c_long, c_void};

    extern "C" {
        fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, offset: i64) -> *mut c_void;
        fn mprotect(addr: *mut c_void, len: usize, prot: c_int) -> c_int;
        fn munmap(addr: *mut c_void, len: usize) -> c_int;
        fn sysconf(name: c_int) -> c_long;
    }
    const PROT_NONE: c_int = 0;
    const PROT_READ: c_int = 1;
    const PROT_WRITE: c_int = 2;
    const MAP_PRIVATE: c_int = 0x02;
    const MAP_ANONYMOUS: c_int = 0x20;
    const SC_PAGESIZE: c_int = 30;

    /// Two readable and writable pages between two inaccessible ones.
    pub(super) struct Pages {
        base: *mut u8,
        page: usize,
    }

    impl Pages {
        pub(super) fn new() -> Pages {
            // SAFETY: plain libc calls; the mapping is checked before use
            // and only its middle pages are made accessible.
            unsafe {
                let page = sysconf(SC_PAGESIZE) as usize;
                let base = mmap(std::ptr::null_mut(), 4 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                assert_ne!(base as isize, -1, "mmap failed");
                let inner = base.cast::<u8>().add(page).cast::<c_void>();
                assert_eq!(mprotect(inner, 2 * page, PROT_READ | PROT_WRITE), 0, "mprotect failed");
                Pages { base: base.cast(), page }
            }
        }

        /// The accessible pages.
        pub(super) fn area(&mut self) -> &mut [u8] {
            // SAFETY: the two pages after the first were mapped readable
            // and writable (zero-filled) in `new`, and `&mut self` makes
            // this the only borrow of them.
            unsafe { std::slice::from_raw_parts_mut(self.base.add(self.page), 2 * self.page) }
        }
    }

    impl Drop for Pages {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `new`, no longer borrowed.
            unsafe { munmap(self.base.cast(), 4 * self.page) };
        }
    }
}
