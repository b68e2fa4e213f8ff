//! Incremental UTF-8 validation (RFC 6455 §8.1).
//!
//! Text messages arrive in pieces: frames, and partial reads within a frame.
//! The validator accepts the pieces in order and reports an error at the first
//! byte that can never be part of valid UTF-8, so a connection fails fast
//! instead of buffering a message that is already known to be invalid. A
//! code point cut at a piece boundary is carried (at most 3 bytes) into the
//! next piece.
//!
//! Whole pieces are checked by [`validate`], which uses a 64-byte AVX-512
//! validator (`utf8/avx512.rs`) when the CPU has one, a 32-byte AVX2
//! validator (`utf8/avx2.rs`) when it has that, and `simdutf8` otherwise.
//! Both vector validators also copy, unmask and validate a payload in one
//! pass ([`Utf8Validator::feed_copy`]); they share their tables
//! (`utf8/lookup.rs`), and their tests (`utf8/kernel_tests.rs`) run every
//! kernel the CPU has against `std`.

mod avx2;
mod avx512;
#[cfg(all(test, target_arch = "x86_64"))]
mod kernel_tests;
#[cfg(target_arch = "x86_64")]
mod lookup;

/// The validation state carried between pieces of one text message.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Validator {
    carry: [u8; 4],
    carry_len: u8,
}

/// Pieces up to this long are checked by the scalar validator in one pass
/// with the carried bytes (cheaper than the vector setup for so few bytes).
const SMALL_PIECE: usize = 24;

/// The input can never become valid UTF-8, whatever follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// Creates a validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates the next piece of the message.
    pub fn feed(&mut self, input: &[u8]) -> Result<(), InvalidUtf8> {
        if input.len() <= SMALL_PIECE {
            return self.feed_small(input);
        }
        let Some(input) = self.complete_carry(input)? else { return Ok(()) };
        // Set aside a code point cut by the end of the piece, so that the
        // rest goes through the fast whole-input validator (which reports
        // only valid/invalid) instead of the slower one that locates errors.
        let (body, tail) = input.split_at(input.len() - incomplete_tail_len(input));
        validate(body)?;
        if !tail.is_empty() {
            check_prefix(tail)?;
            self.carry[..tail.len()].copy_from_slice(tail);
            self.carry_len = tail.len() as u8;
        }
        Ok(())
    }

    /// Completes a carried code point with the first bytes of `input` (one
    /// by one: at most three) and returns the rest, or `None` when `input`
    /// ended before the code point did.
    fn complete_carry<'a>(&mut self, mut input: &'a [u8]) -> Result<Option<&'a [u8]>, InvalidUtf8> {
        let mut len = self.carry_len as usize;
        if len == 0 {
            return Ok(Some(input));
        }
        let need = width(self.carry[0]);
        while len < need && !input.is_empty() {
            self.carry[len] = input[0];
            input = &input[1..];
            len += 1;
        }
        let open = &self.carry[..len];
        if len < need {
            // Still incomplete; but is what we hold already impossible?
            self.carry_len = len as u8;
            return check_prefix(open).map(|()| None);
        }
        if std::str::from_utf8(open).is_err() {
            return Err(InvalidUtf8);
        }
        self.carry_len = 0;
        Ok(Some(input))
    }

    /// Appends `src` XORed with `key` (a zero key copies plainly; a nonzero
    /// one is already rotated to the phase `src` starts at) to `dst` and
    /// validates the appended bytes as the next piece, like
    /// [`feed`](Self::feed). Where the CPU allows, copying (and unmasking)
    /// and validating are one pass over the bytes. The bytes are appended
    /// even when they are invalid.
    pub fn feed_copy(&mut self, dst: &mut Vec<u8>, src: &[u8], key: [u8; 4]) -> Result<(), InvalidUtf8> {
        let start = dst.len();
        let mut context = [0u8; 3];
        let carried = self.carry_len as usize;
        context[3 - carried..].copy_from_slice(&self.carry[..carried]);
        dst.reserve(src.len());
        // SAFETY: `reserve` made room for `src.len()` bytes after `start`;
        // `src` is a shared borrow, so it cannot overlap `dst`'s buffer.
        // `copy_check` writes all of them (or, returning `None`, none), so
        // `set_len` exposes initialized memory only.
        let checked =
            if src.len() >= 64 { unsafe { copy_check(dst.as_mut_ptr().add(start), src, key, context) } } else { None };
        let Some(ok) = checked else {
            crate::mask::extend_masked_at(dst, src, key, 0);
            return self.feed(&dst[start..]);
        };
        // SAFETY: see above; `copy_check` wrote `src.len()` bytes.
        unsafe { dst.set_len(start + src.len()) };
        if !ok {
            return Err(InvalidUtf8);
        }
        // Every byte was checked with the bytes before it; what is left is
        // the end of the piece: a sequence it cuts is carried, and a lead
        // byte that can start no sequence fails now rather than with the
        // next piece. (`src` has 64 bytes or more, so the tail is new.)
        let new = &dst[start..];
        let (tail_len, complete) = open_tail(new);
        let tail = &new[new.len() - tail_len..];
        if complete {
            self.carry_len = 0;
        } else {
            check_prefix(tail)?;
            self.carry[..tail_len].copy_from_slice(tail);
            self.carry_len = tail_len as u8;
        }
        Ok(())
    }

    /// `feed` for short pieces (fragments of small messages): one scalar
    /// pass that resumes the carried sequence and checks each byte against
    /// the range its position allows (RFC 3629 §4), so an impossible byte
    /// fails where it is. For a few bytes this beats both the vector setup
    /// and `std`'s validator, whose error path locates the cut to carry.
    fn feed_small(&mut self, input: &[u8]) -> Result<(), InvalidUtf8> {
        let held = self.carry_len as usize;
        // Continuation bytes still owed, and the range of the next one.
        let (mut owed, mut lo, mut hi) = if held == 0 {
            (0, 0x80, 0xbf)
        } else {
            let lead = self.carry[0];
            let (lo, hi) = if held == 1 { second_byte_range(lead) } else { (0x80, 0xbf) };
            (width(lead) - held, lo, hi)
        };
        // Where in `input` the open sequence starts (None: in the carry).
        let mut start = None;
        for (i, &b) in input.iter().enumerate() {
            if owed != 0 {
                if b < lo || b > hi {
                    return Err(InvalidUtf8);
                }
                owed -= 1;
                (lo, hi) = (0x80, 0xbf);
            } else if b >= 0x80 {
                owed = match b {
                    0xc2..=0xdf => 1,
                    0xe0..=0xef => 2,
                    0xf0..=0xf4 => 3,
                    _ => return Err(InvalidUtf8),
                };
                (lo, hi) = second_byte_range(b);
                start = Some(i);
            }
        }
        if owed == 0 {
            self.carry_len = 0;
            return Ok(());
        }
        // Cut short at the end: carry the open sequence (1 to 3 bytes).
        let (from, mut len) = match start {
            Some(s) => (s, 0),
            None => (0, held),
        };
        for &b in &input[from..] {
            self.carry[len] = b;
            len += 1;
        }
        self.carry_len = len as u8;
        Ok(())
    }

    /// Ends the message: a code point left incomplete is an error.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let incomplete = self.carry_len != 0;
        self.carry_len = 0;
        if incomplete {
            Err(InvalidUtf8)
        } else {
            Ok(())
        }
    }

    /// Forgets any carried bytes (a new message starts).
    pub fn reset(&mut self) {
        self.carry_len = 0;
    }
}

/// Validates a complete piece of text in one go.
#[inline]
pub fn validate(input: &[u8]) -> Result<&str, InvalidUtf8> {
    // Short pieces (small messages, fragments) are often plain ASCII, which
    // a word-at-a-time check settles faster than a general validator.
    if input.len() < 64 && input.is_ascii() {
        return Ok(assume_valid(input));
    }
    // Both take any length.
    if let Some(ok) = avx512::is_valid(input).or_else(|| avx2::is_valid(input)) {
        return if ok { Ok(assume_valid(input)) } else { Err(InvalidUtf8) };
    }
    portable(input)
}

/// Copies, unmasks and validates in one pass with the best vector kernel
/// this CPU has (see `avx512::copy_check`, whose contract both share), or
/// returns `None`, having written nothing.
///
/// # Safety
///
/// `dst` must be valid for writing `src.len()` bytes and not overlap `src`.
#[inline]
unsafe fn copy_check(dst: *mut u8, src: &[u8], key: [u8; 4], context: [u8; 3]) -> Option<bool> {
    // SAFETY: the caller's contract, passed on; a kernel that returns
    // `None` has not touched `dst`.
    unsafe { avx512::copy_check(dst, src, key, context).or_else(|| avx2::copy_check(dst, src, key, context)) }
}

/// The validator for CPUs without AVX2 (`simdutf8`: SSE4.2, NEON or scalar,
/// chosen at run time).
fn portable(input: &[u8]) -> Result<&str, InvalidUtf8> {
    if input.len() < 64 {
        if input.is_ascii() {
            return Ok(assume_valid(input));
        }
        // simdutf8 handles 64-byte blocks only and would fall back to a
        // byte-at-a-time loop; pad with ASCII instead (which keeps both valid
        // and invalid input so) and validate a single block.
        let mut block = [b' '; 64];
        block[..input.len()].copy_from_slice(input);
        return match simdutf8::basic::from_utf8(&block) {
            Ok(_) => Ok(assume_valid(input)),
            Err(_) => Err(InvalidUtf8),
        };
    }
    simdutf8::basic::from_utf8(input).map_err(|_| InvalidUtf8)
}

/// Views bytes already known to be UTF-8 as a `str`: accepted in full by an
/// incremental [`Utf8Validator`] (every piece fed and `finish` returned
/// `Ok`), or checked by [`validate`] (as ASCII, by the vector validator, or
/// as a padded copy).
///
/// Unchecked because re-validating a message that arrived in pieces would
/// double the cost of every large text message. Callers uphold the contract by construction in `connection.rs`
/// and here; debug builds re-check it.
#[inline]
pub(crate) fn assume_valid(input: &[u8]) -> &str {
    debug_assert!(std::str::from_utf8(input).is_ok());
    // SAFETY: the caller has validated `input` as UTF-8 (see above).
    unsafe { std::str::from_utf8_unchecked(input) }
}

/// How many bytes at the end of `input` start a multi-byte sequence that
/// the input does not complete (0 to 3). Invalid bytes count as complete:
/// the validator then rejects them where they are.
#[inline]
fn incomplete_tail_len(input: &[u8]) -> usize {
    for back in 1..=input.len().min(3) {
        let b = input[input.len() - back];
        if b & 0xc0 == 0x80 {
            continue; // A continuation byte: look further back for the lead.
        }
        return if width(b) > back { back } else { 0 };
    }
    0
}

/// The last sequence of `bytes` (already checked pairwise): its length
/// from its lead byte (1 to 4) and whether it is complete. A lead byte that
/// starts no sequence (`C0`, `C1`, `F5..`) is reported incomplete, so that
/// `check_prefix` rejects it.
fn open_tail(bytes: &[u8]) -> (usize, bool) {
    for back in 1..=bytes.len().min(4) {
        let b = bytes[bytes.len() - back];
        if b & 0xc0 == 0x80 {
            continue;
        }
        return match b {
            0x00..=0x7f => (back, true),
            0xc2..=0xf4 => (back, width(b) <= back),
            _ => (back, false),
        };
    }
    // Four continuation bytes in a row: already an error pairwise; report
    // the last one as an impossible prefix.
    (1, false)
}

/// The bytes allowed after `lead` (RFC 3629 §4): narrower after `E0`
/// (no overlongs), `ED` (no surrogates), `F0` (no overlongs) and `F4` (no
/// code points past U+10FFFF).
#[inline]
fn second_byte_range(lead: u8) -> (u8, u8) {
    match lead {
        0xe0 => (0xa0, 0xbf),
        0xed => (0x80, 0x9f),
        0xf0 => (0x90, 0xbf),
        0xf4 => (0x80, 0x8f),
        _ => (0x80, 0xbf),
    }
}

fn width(first: u8) -> usize {
    match first {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => 1,
    }
}

/// Fails if `prefix` (an incomplete sequence) can never be completed.
fn check_prefix(prefix: &[u8]) -> Result<(), InvalidUtf8> {
    match std::str::from_utf8(prefix) {
        Ok(_) => Ok(()),
        Err(e) if e.error_len().is_none() => Ok(()),
        Err(_) => Err(InvalidUtf8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reproducible pseudo-random numbers from the project's seeded source.
    fn numbers(seed: u64) -> impl FnMut() -> u64 {
        let mut rng = crate::random::SeededRandom::new(seed);
        move || {
            let mut b = [0u8; 8];
            crate::random::Random::fill(&mut rng, &mut b);
            u64::from_le_bytes(b)
        }
    }

    fn feed_split(bytes: &[u8], splits: &[usize]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        let mut last = 0;
        for &s in splits {
            v.feed(&bytes[last..s])?;
            last = s;
        }
        v.feed(&bytes[last..])?;
        v.finish()
    }

    #[test]
    fn valid_text_at_every_split_and_byte_at_a_time() {
        let text = "κόσμε ascii €𝄞 end".as_bytes();
        for a in 0..=text.len() {
            for b in a..=text.len() {
                assert_eq!(feed_split(text, &[a, b]), Ok(()), "{a} {b}");
            }
        }
        let all: Vec<usize> = (1..text.len()).collect();
        assert_eq!(feed_split(text, &all), Ok(()));
    }

    #[test]
    fn invalid_fails_at_the_first_bad_byte() {
        // 0xF4 0x90 is already out of range (> U+10FFFF): fail without waiting.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"ok\xf4"), Ok(()));
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8));
        // A surrogate (ED A0..) fails on its second byte.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xed"), Ok(()));
        assert_eq!(v.feed(b"\xa0"), Err(InvalidUtf8));
        // Overlong encodings.
        assert_eq!(Utf8Validator::new().feed(b"\xc0\xaf"), Err(InvalidUtf8));
        assert_eq!(Utf8Validator::new().feed(b"\xe0\x80"), Err(InvalidUtf8));
    }

    #[test]
    fn incomplete_at_end_of_message_is_invalid() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed("€".as_bytes().get(..2).unwrap()), Ok(()));
        assert_eq!(v.finish(), Err(InvalidUtf8));
    }

    #[test]
    fn portable_and_dispatched_validators_agree_with_std() {
        let text = "κόσμε ascii €𝄞 end, and some more ASCII to pass sixty-four bytes".as_bytes();
        for len in 0..=text.len() {
            for bad in [None, Some(0xffu8), Some(0x80), Some(0xed)] {
                let mut v = text[..len].to_vec();
                if let (Some(b), Some(last)) = (bad, v.last_mut()) {
                    *last = b;
                }
                let want = std::str::from_utf8(&v).is_ok();
                assert_eq!(portable(&v).is_ok(), want, "{v:02x?}");
                assert_eq!(validate(&v).is_ok(), want, "{v:02x?}");
            }
        }
    }

    /// `feed_copy` (copy, unmask and validate in one pass) agrees with
    /// `feed` piece by piece, copies the unmasked bytes, and the whole
    /// agrees with std, for text cut at random points and mutated.
    #[test]
    fn feed_copy_agrees_with_feed_at_every_piece() {
        let mut next = numbers(0x1234_5678);
        let pick = ["a", "é", "€", "𝄞", "ß", " ", "中", "\u{10ffff}", "\u{7f}", "Z"];
        for round in 0..3000 {
            let mut text = Vec::new();
            let len = (next() % 700) as usize;
            while text.len() < len {
                text.extend_from_slice(pick[(next() % pick.len() as u64) as usize].as_bytes());
            }
            if round % 2 == 1 && !text.is_empty() {
                let at = (next() % text.len() as u64) as usize;
                text[at] = next() as u8;
            }
            let key = [0x37, 0xfa, (next() & 0xff) as u8, 0x3d];
            let masked: Vec<u8> = text.iter().enumerate().map(|(i, b)| b ^ key[i & 3]).collect();
            let mut cuts: Vec<usize> = (0..(next() % 5)).map(|_| (next() % (text.len() as u64 + 1)) as usize).collect();
            cuts.push(0);
            cuts.push(text.len());
            cuts.sort_unstable();
            let (mut a, mut b) = (Utf8Validator::new(), Utf8Validator::new());
            let mut dst = vec![9u8; 3];
            let mut failed = false;
            for w in cuts.windows(2) {
                let (from, to) = (w[0], w[1]);
                let ra = a.feed(&text[from..to]);
                let phase_key = [key[from & 3], key[(from + 1) & 3], key[(from + 2) & 3], key[(from + 3) & 3]];
                let rb = b.feed_copy(&mut dst, &masked[from..to], phase_key);
                assert_eq!(ra, rb, "round {round} piece {from}..{to}");
                assert_eq!(&dst[3 + from..], &text[from..to]);
                if ra.is_err() {
                    failed = true;
                    break;
                }
            }
            let whole_ok = std::str::from_utf8(&text).is_ok();
            if failed {
                assert!(!whole_ok, "round {round}: rejected valid text");
            } else {
                let end = a.finish();
                assert_eq!(end, b.finish(), "round {round}");
                assert_eq!(end.is_ok(), whole_ok, "round {round} cuts {cuts:?} text {text:02x?}");
            }
        }
    }

    /// Whatever the pieces (short ones take the scalar path, long ones the
    /// vector path, and a code point may be cut anywhere), each `feed`
    /// fails exactly when the bytes so far can no longer begin valid UTF-8,
    /// as `std` decides it, and `finish` agrees with `std` on the whole.
    #[test]
    fn fails_exactly_when_the_prefix_becomes_impossible() {
        let mut next = numbers(0x5eed_0007);
        let possible = |prefix: &[u8]| match std::str::from_utf8(prefix) {
            Ok(_) => true,
            Err(e) => e.error_len().is_none(),
        };
        let pick =
            ["a", "é", "€", "𝄞", "\u{7ff}", "\u{800}", "\u{ffff}", "\u{10000}", "\u{10ffff}", "\u{d7ff}", "\u{e000}"];
        let odd = [0x80u8, 0xbf, 0xc0, 0xc1, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x9f, 0xa0, 0x8f, 0x90];
        for round in 0..20_000 {
            let mut text = Vec::new();
            let len = (next() % 90) as usize;
            while text.len() < len {
                text.extend_from_slice(pick[(next() % pick.len() as u64) as usize].as_bytes());
            }
            for _ in 0..(next() % 3) {
                if !text.is_empty() {
                    let at = (next() % text.len() as u64) as usize;
                    text[at] = odd[(next() % odd.len() as u64) as usize];
                }
            }
            let mut v = Utf8Validator::new();
            let mut at = 0;
            let mut failed = false;
            while at < text.len() {
                // Mostly short pieces; sometimes one long enough for the vector path.
                let step =
                    if next().is_multiple_of(8) { 25 + (next() % 60) as usize } else { 1 + (next() % 6) as usize };
                let end = (at + step).min(text.len());
                let got = v.feed(&text[at..end]);
                assert_eq!(got.is_ok(), possible(&text[..end]), "round {round}: {text:02x?} piece {at}..{end}");
                at = end;
                if got.is_err() {
                    failed = true;
                    break;
                }
            }
            if !failed {
                assert_eq!(v.finish().is_ok(), std::str::from_utf8(&text).is_ok(), "round {round}: {text:02x?}");
            }
        }
    }

    #[test]
    fn every_split_agrees_with_std() {
        let cases: &[&[u8]] = &[
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xf0\x9f\x98\x80\xf0\x9f",
            b"\xf8\x88\x80\x80\x80",
            b"abc\xe2\x82",
            b"\xe2\x82\xac\xe2\x82\xac",
        ];
        for c in cases {
            let expect = std::str::from_utf8(c).is_ok();
            for s in 0..=c.len() {
                assert_eq!(feed_split(c, &[s]).is_ok(), expect, "{c:?} at {s}");
            }
        }
    }
}
