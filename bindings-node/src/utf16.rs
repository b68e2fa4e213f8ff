//! UTF-16 to UTF-8, for strings sent as text.
//!
//! V8 keeps most non-ASCII strings as UTF-16, and its own UTF-8 encoder
//! (`Buffer.from`, `buf.write`, `TextEncoder`) walks them a code unit at a
//! time: about 0.6 ns per unit here, so a 64 KiB string took longer to
//! encode than to frame, mask and copy several times over. Copying the
//! code units out (`buf.ucs2Write`, `napi_get_value_string_utf16`) is a
//! plain widening or copying loop, and this module turns them into UTF-8
//! sixteen units at a time with AVX2 where the CPU has it.
//!
//! The result is exactly what `Buffer.from(string, 'utf8')` produces,
//! including for strings that are not well-formed UTF-16: a lone surrogate
//! (one without its other half) becomes U+FFFD, as V8 does. So the output
//! is always valid UTF-8 and the engine need not check it again.
//!
//! Input is taken as little-endian bytes (what `ucs2Write` writes), which
//! need no alignment: the staged records they come in start anywhere.

use std::sync::atomic::{AtomicBool, Ordering};

/// Appends the UTF-8 form of `units` (UTF-16, little-endian, two bytes per
/// code unit; an odd last byte is ignored) to `dst`.
pub fn transcode(units: &[u8], dst: &mut Vec<u8>) {
    let n = units.len() / 2;
    // Three bytes per unit at most (a surrogate pair is 4 bytes for 2
    // units), plus room for the vector kernel's 16-byte stores, which may
    // reach past the bytes they keep.
    dst.reserve(n * 3 + SLACK);
    let start = dst.len();
    // SAFETY: `reserve` made room for `n * 3 + SLACK` bytes after `start`,
    // which is what the kernels may write (see their contracts); `units`
    // is a shared borrow and cannot overlap `dst`'s buffer. They return how
    // many bytes they wrote, all initialized, so `set_len` exposes only
    // initialized memory.
    unsafe {
        let out = dst.as_mut_ptr().add(start);
        let written = kernel(units.as_ptr(), n, out);
        dst.set_len(start + written);
    }
}

/// Bytes past the UTF-8 output that the vector kernel may overwrite.
const SLACK: usize = 16;

/// The replacement character U+FFFD, for lone surrogates.
const REPLACEMENT: [u8; 3] = [0xEF, 0xBF, 0xBD];

/// Set by the test hook `force_scalar`.
static SCALAR_ONLY: AtomicBool = AtomicBool::new(false);

/// Makes the process use the portable loop even where AVX2 is available, so
/// the tests can check both on the same inputs. Returns the old setting.
pub fn force_scalar(on: bool) -> bool {
    SCALAR_ONLY.swap(on, Ordering::Relaxed)
}

/// Picks the kernel for this CPU.
///
/// # Safety
///
/// `src` must be valid for reading `2 * n` bytes and `out` for writing
/// `3 * n + SLACK` bytes; the regions must not overlap.
#[inline]
unsafe fn kernel(src: *const u8, n: usize, out: *mut u8) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        if n >= 16 && std::is_x86_feature_detected!("avx2") && !SCALAR_ONLY.load(Ordering::Relaxed) {
            // SAFETY: AVX2 is available; the buffer contract is the caller's.
            return unsafe { avx2::transcode(src, n, out) };
        }
    }
    // SAFETY: the caller's contract, which `scalar` shares.
    unsafe { scalar(src, n, 0, n, out).0 }
}

/// Reads code unit `i`.
///
/// # Safety
///
/// `src` must be valid for reading `2 * i + 2` bytes.
#[inline(always)]
unsafe fn unit(src: *const u8, i: usize) -> u32 {
    // SAFETY: the caller's contract.
    unsafe { u32::from(u16::from_le_bytes([*src.add(2 * i), *src.add(2 * i + 1)])) }
}

/// The portable loop: converts the units from `from` on until it reaches
/// `stop` (one further when a surrogate pair straddles it; pairs may look
/// ahead up to `n`). Returns the bytes written at `out` and the index of the
/// next unit. Also serves the vector kernel for its tail and for steps that
/// hold a surrogate.
///
/// # Safety
///
/// `from <= stop <= n`; `src` must be valid for reading `2 * n` bytes and
/// `out` for writing `3 * (stop + 1 - from)` bytes (`3 * (n - from)` when
/// `stop == n`); the regions must not overlap.
unsafe fn scalar(src: *const u8, n: usize, from: usize, stop: usize, out: *mut u8) -> (usize, usize) {
    let mut i = from;
    let mut o = 0usize;
    // SAFETY (the whole body): every read is of a unit below `n`; every
    // unit read produces at most 3 bytes per unit consumed (4 bytes for
    // the 2 units of a pair), so `o <= 3 * (i - from)` bytes are written.
    unsafe {
        while i < stop {
            // Four ASCII units at once: a cheap test on one 8-byte read.
            if i + 4 <= stop {
                let w = u64::from_le_bytes(std::ptr::read_unaligned(src.add(2 * i).cast::<[u8; 8]>()));
                if w & 0xFF80_FF80_FF80_FF80 == 0 {
                    *out.add(o) = w as u8;
                    *out.add(o + 1) = (w >> 16) as u8;
                    *out.add(o + 2) = (w >> 32) as u8;
                    *out.add(o + 3) = (w >> 48) as u8;
                    i += 4;
                    o += 4;
                    continue;
                }
            }
            let c = unit(src, i);
            i += 1;
            if c < 0x80 {
                *out.add(o) = c as u8;
                o += 1;
            } else if c < 0x800 {
                *out.add(o) = 0xC0 | (c >> 6) as u8;
                *out.add(o + 1) = 0x80 | (c & 0x3F) as u8;
                o += 2;
            } else if (0xD800..0xDC00).contains(&c) && i < n && (0xDC00..0xE000).contains(&unit(src, i)) {
                let cp = 0x10000 + ((c - 0xD800) << 10) + (unit(src, i) - 0xDC00);
                i += 1;
                *out.add(o) = 0xF0 | (cp >> 18) as u8;
                *out.add(o + 1) = 0x80 | ((cp >> 12) & 0x3F) as u8;
                *out.add(o + 2) = 0x80 | ((cp >> 6) & 0x3F) as u8;
                *out.add(o + 3) = 0x80 | (cp & 0x3F) as u8;
                o += 4;
            } else if (0xD800..0xE000).contains(&c) {
                // A lone surrogate: V8 writes U+FFFD for it.
                std::ptr::copy_nonoverlapping(REPLACEMENT.as_ptr(), out.add(o), 3);
                o += 3;
            } else {
                *out.add(o) = 0xE0 | (c >> 12) as u8;
                *out.add(o + 1) = 0x80 | ((c >> 6) & 0x3F) as u8;
                *out.add(o + 2) = 0x80 | (c & 0x3F) as u8;
                o += 3;
            }
        }
    }
    (o, i)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! Sixteen code units per step. A step without surrogates turns each
    //! unit into a 4-byte slot holding its 1 to 3 UTF-8 bytes, then packs
    //! each group of four slots with one byte shuffle chosen by the four
    //! lengths (a 256-entry table built at compile time). ASCII runs skip
    //! all that; a step with a surrogate goes to the portable loop.

    use std::arch::x86_64::*;

    use super::scalar;

    /// One group's shuffle: which slot bytes to keep, in order, and how
    /// many they are.
    #[derive(Clone, Copy)]
    #[repr(C, align(16))]
    struct Pack {
        shuffle: [u8; 16],
        len: u32,
    }

    /// Indexed by `ascii | (short << 4)`, where bit `i` of `ascii` says
    /// unit `i` of the group is below U+0080 and bit `i` of `short` that it
    /// is below U+0800 (so ASCII units have both bits).
    static PACKS: [Pack; 256] = packs();

    const fn packs() -> [Pack; 256] {
        let mut t = [Pack { shuffle: [0x80; 16], len: 0 }; 256];
        let mut idx = 0;
        while idx < 256 {
            let mut at = 0;
            let mut u = 0;
            while u < 4 {
                let ascii = idx >> u & 1 == 1;
                let short = idx >> (4 + u) & 1 == 1;
                let len = if ascii {
                    1
                } else if short {
                    2
                } else {
                    3
                };
                let mut k = 0;
                while k < len {
                    t[idx].shuffle[at] = (4 * u + k) as u8;
                    at += 1;
                    k += 1;
                }
                u += 1;
            }
            t[idx].len = at as u32;
            idx += 1;
        }
        t
    }

    /// # Safety
    ///
    /// AVX2 must be available; `src` must be valid for reading `2 * n`
    /// bytes and `out` for writing `3 * n + SLACK` bytes, not overlapping.
    #[target_feature(enable = "avx2")]
    pub unsafe fn transcode(src: *const u8, n: usize, out: *mut u8) -> usize {
        let mut i = 0usize;
        let mut o = 0usize;
        let high = _mm256_set1_epi16(0xFF80u16 as i16);
        let not_short = _mm256_set1_epi16(0xF800u16 as i16);
        let surrogate = _mm256_set1_epi16(0xD800u16 as i16);
        let low6 = _mm256_set1_epi16(0x3F);
        let cont = _mm256_set1_epi16(0x80);
        let lead2 = _mm256_set1_epi16(0xC0);
        let lead3 = _mm256_set1_epi16(0xE0);
        // SAFETY (the whole body): loads read units `i..i + 16` (or 32),
        // all below `n`. Output: an ASCII step writes exactly one byte per
        // unit; a general step writes at most 3 bytes per unit plus up to
        // 16 - 4 bytes past them (the last group's store), which `SLACK`
        // covers, since every later write starts at or before the end of
        // the bytes kept. So at most `3 * i + SLACK` bytes are touched
        // after step `i`, and the tail goes to `scalar`, which stays within
        // `3 * (n - i)` more.
        unsafe {
            while i + 16 <= n {
                let c = _mm256_loadu_si256(src.add(2 * i).cast());
                if _mm256_testz_si256(c, high) == 1 {
                    // ASCII: take 32 units at once when the next 16 are too.
                    if i + 32 <= n {
                        let d = _mm256_loadu_si256(src.add(2 * i + 32).cast());
                        if _mm256_testz_si256(d, high) == 1 {
                            let packed = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi16(c, d));
                            _mm256_storeu_si256(out.add(o).cast(), packed);
                            i += 32;
                            o += 32;
                            continue;
                        }
                    }
                    let packed = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi16(c, c));
                    _mm_storeu_si128(out.add(o).cast(), _mm256_castsi256_si128(packed));
                    i += 16;
                    o += 16;
                    continue;
                }
                let masked = _mm256_and_si256(c, not_short);
                if _mm256_testz_si256(_mm256_cmpeq_epi16(masked, surrogate), _mm256_cmpeq_epi16(masked, surrogate)) == 0
                {
                    // A surrogate among these units: the portable loop
                    // handles pairs, and lone halves, for these 16 units
                    // (and the second half of a pair at the last one).
                    let (written, next) = scalar(src, n, i, i + 16, out.add(o));
                    o += written;
                    i = next;
                    continue;
                }
                // Each unit's bytes: first (lead or ASCII), second, third.
                let ascii = _mm256_cmpeq_epi16(_mm256_and_si256(c, high), _mm256_setzero_si256());
                let short = _mm256_cmpeq_epi16(masked, _mm256_setzero_si256());
                let s6 = _mm256_srli_epi16::<6>(c);
                let lo = _mm256_or_si256(_mm256_and_si256(c, low6), cont);
                let mid = _mm256_or_si256(_mm256_and_si256(s6, low6), cont);
                let two = _mm256_or_si256(_mm256_or_si256(s6, lead2), _mm256_slli_epi16::<8>(lo));
                let three =
                    _mm256_or_si256(_mm256_or_si256(_mm256_srli_epi16::<12>(c), lead3), _mm256_slli_epi16::<8>(mid));
                let first_second = _mm256_blendv_epi8(_mm256_blendv_epi8(three, two, short), c, ascii);
                // 4-byte slots [first, second, third, 0]: units 0-3 and 8-11
                // in `a`, 4-7 and 12-15 in `b` (AVX2 unpacks per lane).
                let a = _mm256_unpacklo_epi16(first_second, lo);
                let b = _mm256_unpackhi_epi16(first_second, lo);
                // Bits 0-7: ASCII units 0-7; 8-15: short units 0-7;
                // 16-23, 24-31: the same for units 8-15.
                let m = _mm256_movemask_epi8(_mm256_packs_epi16(ascii, short)) as u32;
                let g0 = &PACKS[((m & 0xF) | (m >> 4 & 0xF0)) as usize];
                let g1 = &PACKS[((m >> 4 & 0xF) | (m >> 8 & 0xF0)) as usize];
                let g2 = &PACKS[((m >> 16 & 0xF) | (m >> 20 & 0xF0)) as usize];
                let g3 = &PACKS[((m >> 20 & 0xF) | (m >> 24 & 0xF0)) as usize];
                let sa = _mm256_loadu2_m128i(g2.shuffle.as_ptr().cast(), g0.shuffle.as_ptr().cast());
                let sb = _mm256_loadu2_m128i(g3.shuffle.as_ptr().cast(), g1.shuffle.as_ptr().cast());
                let pa = _mm256_shuffle_epi8(a, sa);
                let pb = _mm256_shuffle_epi8(b, sb);
                _mm_storeu_si128(out.add(o).cast(), _mm256_castsi256_si128(pa));
                o += g0.len as usize;
                _mm_storeu_si128(out.add(o).cast(), _mm256_castsi256_si128(pb));
                o += g1.len as usize;
                _mm_storeu_si128(out.add(o).cast(), _mm256_extracti128_si256::<1>(pa));
                o += g2.len as usize;
                _mm_storeu_si128(out.add(o).cast(), _mm256_extracti128_si256::<1>(pb));
                o += g3.len as usize;
                i += 16;
            }
            o + scalar(src, n, i, n, out.add(o)).0
        }
    }
}
