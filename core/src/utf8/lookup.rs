//! The tables shared by the vector validators (`avx512.rs`, `avx2.rs`).
//!
//! The method is the nibble-lookup classification published by Keiser and
//! Lemire ("Validating UTF-8 in less than one instruction per byte", 2021):
//! every byte is classified together with the byte before it by three
//! 16-entry table lookups (high nibble of the previous byte, low nibble of
//! the previous byte, high nibble of this byte). Each table entry is a set of
//! error kinds that the nibble is compatible with; a pair of bytes is in
//! error when all three lookups agree on some kind. The one rule that needs
//! more context, "a continuation byte is expected here because a 3- or
//! 4-byte lead was two or three bytes back", is computed from the bytes two
//! and three positions back (see [`THIRD_BYTE_BIAS`]) and compared with the
//! "two continuations in a row" kind: exactly one of the two must hold for a
//! continuation byte, neither for any other byte. Whole-ASCII blocks skip the
//! classification (see [`bound`]).
//!
//! The kernels differ only in how they find "the byte before" across their
//! vector's internal boundaries; the tables and biases here are the same for
//! every vector width, and are kept in one place so that the kernels cannot
//! drift apart.

// Error kinds, one bit each. "Previous byte" = first byte of a pair.
/// A lead byte not followed by a continuation byte.
const TOO_SHORT: u8 = 1 << 0;
/// An ASCII byte followed by a continuation byte.
const TOO_LONG: u8 = 1 << 1;
/// `E0` followed by `80..=9F`: a 3-byte form of a code point below U+0800.
const OVERLONG_3: u8 = 1 << 2;
/// `F4` followed by `90..=BF`, or `F5..=FF` followed by a continuation.
const TOO_LARGE: u8 = 1 << 3;
/// `ED` followed by `A0..=BF`: UTF-16 surrogates.
const SURROGATE: u8 = 1 << 4;
/// `C0` or `C1` followed by a continuation: 2-byte form of ASCII.
const OVERLONG_2: u8 = 1 << 5;
/// `F5..=FF` followed by `80..=8F` (not covered by `TOO_LARGE`'s `9x..Bx`).
const TOO_LARGE_1000: u8 = 1 << 6;
/// `F0` followed by `80..=8F`: a 4-byte form of a code point below U+10000.
/// Shares its bit with `TOO_LARGE_1000`: both need an `8x` second byte and
/// their first bytes' low nibbles (0, 5..F) never overlap with `F1..F4`.
const OVERLONG_4: u8 = 1 << 6;
/// A continuation byte after a continuation byte: an error unless a 3- or
/// 4-byte lead came two or three bytes earlier (checked separately).
const TWO_CONTS: u8 = 1 << 7;
/// Kinds decided by the high nibbles alone; every low-nibble entry has them.
const CARRY: u8 = TOO_SHORT | TOO_LONG | TWO_CONTS;

/// The bit of [`TWO_CONTS`], which the "must continue" rule is XORed into.
pub(super) const MUST_CONTINUE: u8 = TWO_CONTS;

/// Indexed by the previous byte's high nibble.
pub(super) const PREV_HIGH: [u8; 16] = [
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TWO_CONTS,
    TWO_CONTS,
    TWO_CONTS,
    TWO_CONTS,
    TOO_SHORT | OVERLONG_2,
    TOO_SHORT,
    TOO_SHORT | OVERLONG_3 | SURROGATE,
    TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4,
];

/// Indexed by the previous byte's low nibble.
pub(super) const PREV_LOW: [u8; 16] = [
    CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4,
    CARRY | OVERLONG_2,
    CARRY,
    CARRY,
    CARRY | TOO_LARGE,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
];

/// Indexed by this byte's high nibble.
pub(super) const THIS_HIGH: [u8; 16] = [
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
];

/// Saturating `x - THIRD_BYTE_BIAS` has its high bit set exactly when `x`
/// is a 3- or 4-byte lead (`E0..`): then the byte two places after it must
/// be a continuation.
pub(super) const THIRD_BYTE_BIAS: u8 = 0xe0 - 0x80;
/// Saturating `x - FOURTH_BYTE_BIAS` has its high bit set exactly when `x`
/// is a 4-byte lead (`F0..`, and the invalid `F5..` which fail anyway): then
/// the byte three places after it must be a continuation.
pub(super) const FOURTH_BYTE_BIAS: u8 = 0xf0 - 0x80;

/// For a block of `N` bytes followed by ASCII: saturating `x - bound()` is
/// non-zero exactly where a byte is above the bound, that is, in the last
/// three positions, a lead byte that needs more bytes than the block has
/// left (so the ASCII that follows cuts its sequence short).
pub(super) const fn bound<const N: usize>() -> [u8; N] {
    let mut b = [0xffu8; N];
    b[N - 3] = 0xf0 - 1;
    b[N - 2] = 0xe0 - 1;
    b[N - 1] = 0xc0 - 1;
    b
}
