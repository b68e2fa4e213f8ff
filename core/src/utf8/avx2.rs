//! A UTF-8 validator on 32-byte AVX2 vectors, for x86-64 CPUs without
//! AVX-512 (AMD before Zen 4, most Intel client cores).
//!
//! Why it exists: `simdutf8` validates with the same method at the same
//! vector width, but only bytes already in memory, so on these CPUs a large
//! text message was read twice: copied and unmasked into the input buffer,
//! then read again to be validated. [`copy_check`] does both in one pass, as
//! the AVX-512 kernel does; and both kernels here get the bytes before each
//! block more cheaply than the usual AVX2 formulation (below), so that even
//! validating alone is faster than `simdutf8`.
//!
//! The method and its tables are in `lookup.rs`. What is particular to AVX2:
//!
//! - Each byte is classified with the bytes 1, 2 and 3 places before it.
//!   With registers only, those come from byte shifts (`vpalignr`) of this
//!   block and the one before, but `vpalignr` works within each 128-bit half
//!   of a vector, so a cross-half permute is needed first (see
//!   `Kernel::classify_after`): four shuffles per block, on a CPU that runs
//!   shuffles on two of its four vector ports, next to the five that the
//!   lookups themselves need. Instead, the main loops load the shifted
//!   vectors from memory again, 1, 2 and 3 bytes before the block (and the
//!   copying loop unmasks them with the key rotated to their phase): loads
//!   are cheap, the bytes are in the L1 cache, and on Zen 3 this made
//!   validation 30 % faster (16 -> 21 GB/s on mixed text) and the copying
//!   check 15 % faster. Only the first 64 bytes of an input, where the bytes
//!   before it are not in memory (the carried context, or nothing), use the
//!   register shifts.
//! - `vpshufb` zeroes a byte whose index has its top bit set, so both
//!   nibbles are masked to 4 bits before a lookup.
//! - There are no masked byte loads or stores. An input of 35 bytes or more
//!   ends with a 32-byte block that overlaps the bytes before it (checking a
//!   byte twice is harmless: its result depends only on it and the three
//!   bytes before it, which are the same both times). Shorter ones are read
//!   with a masked load of whole 4-byte words and the last 1-3 bytes one by
//!   one (`load_prefix`); the copying check, which the connection uses for
//!   64 bytes and more only, copies short inputs through a zero-padded block
//!   on the stack instead.
//! - Two blocks (64 bytes) per loop step share one ASCII test.
//!
//! One cost of the reloads: a load whose address matches a store still in
//! flight in its low 12 bits waits for it, as if it depended on it. The
//! copying loop does all its loads before its stores, so only the previous
//! step's stores can match: when the destination sits 64 to 256 bytes after
//! the source modulo 4 KiB (5 % of the possible placements) the copying
//! check runs 5-15 % slower (`cargo bench --bench utf8 -- sweep`); not worth
//! a second loop.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

#[cfg(target_arch = "x86_64")]
use super::lookup::{bound, FOURTH_BYTE_BIAS, MUST_CONTINUE, PREV_HIGH, PREV_LOW, THIRD_BYTE_BIAS, THIS_HIGH};

/// Whether this CPU can run [`is_valid`] and [`copy_check`]. Cached by the
/// standard library.
#[inline]
pub(super) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether `input` is valid UTF-8 (complete: a sequence cut at the end is
/// invalid), or `None` when the CPU lacks AVX2.
#[inline]
pub(super) fn is_valid(input: &[u8]) -> Option<bool> {
    if !available() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: AVX2, the only feature `validate` needs, was detected
        // just above.
        Some(unsafe { validate(input) })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = input;
        unreachable!()
    }
}

/// Copies `src` to `dst` XORed with `key` (a zero key copies plainly; a
/// nonzero one is already rotated to the phase `src` starts at), checking
/// the copied bytes as UTF-8 on the way: the AVX2 counterpart of
/// `avx512::copy_check`, with the same contract.
///
/// A stream check: `context` holds the (up to 3) bytes that came before
/// `src` in the stream, right-aligned, zeros standing for "nothing open";
/// every byte of `src` is checked together with the bytes before it, but a
/// sequence cut by the end of `src` is not an error (the caller carries it,
/// and checks its lead byte). Returns whether no error was found, or `None`
/// (having written nothing) when the CPU lacks AVX2.
///
/// # Safety
///
/// `dst` must be valid for writing `src.len()` bytes and not overlap `src`.
pub(super) unsafe fn copy_check(dst: *mut u8, src: &[u8], key: [u8; 4], context: [u8; 3]) -> Option<bool> {
    if !available() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: AVX2 was detected just above; the pointer contract is the
        // caller's, passed on.
        Some(unsafe { copy_check_avx2(dst, src, key, context) })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (dst, src, key, context);
        unreachable!()
    }
}

/// See [`bound`].
#[cfg(target_arch = "x86_64")]
const BOUND: [u8; 32] = bound::<32>();

/// `KEEP[64 - n..]` starts with `n` bytes of `FF` followed by zeros: the
/// mask of the first `n` positions of a pair of blocks, for `n <= 64`.
#[cfg(target_arch = "x86_64")]
const KEEP: [u8; 128] = {
    let mut k = [0u8; 128];
    let mut i = 0;
    while i < 64 {
        k[i] = 0xff;
        i += 1;
    }
    k
};

/// The constant vectors of the classification, made once per call (and
/// kept in registers by the loops).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Kernel {
    prev_high: __m256i,
    prev_low: __m256i,
    this_high: __m256i,
    nibble: __m256i,
    third: __m256i,
    fourth: __m256i,
    must_continue: __m256i,
    bound: __m256i,
}

#[cfg(target_arch = "x86_64")]
impl Kernel {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new() -> Kernel {
        // `vpshufb` looks up each half of the vector in the same half of the
        // table vector: the 16 entries go into both halves.
        let table = |t: &[u8; 16]| {
            // SAFETY: `t` is 16 readable bytes; the load has no alignment needs.
            _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(t.as_ptr().cast()) })
        };
        Kernel {
            prev_high: table(&PREV_HIGH),
            prev_low: table(&PREV_LOW),
            this_high: table(&THIS_HIGH),
            nibble: _mm256_set1_epi8(0x0f),
            third: _mm256_set1_epi8(THIRD_BYTE_BIAS as i8),
            fourth: _mm256_set1_epi8(FOURTH_BYTE_BIAS as i8),
            must_continue: _mm256_set1_epi8(MUST_CONTINUE as i8),
            // SAFETY: `BOUND` is 32 readable bytes; unaligned load.
            bound: unsafe { _mm256_loadu_si256(BOUND.as_ptr().cast()) },
        }
    }

    /// The error kinds of every byte of `block` paired with the bytes
    /// before it, given as the vectors of the bytes 1, 2 and 3 places back
    /// (`prev1[i]` is the byte before `block[i]`); all zero when there is no
    /// error.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn classify(&self, block: __m256i, prev1: __m256i, prev2: __m256i, prev3: __m256i) -> __m256i {
        // A 16-bit shift: the bits shifted in from the neighbouring byte
        // land in bits 4..7, which the mask clears.
        let high = |v: __m256i| _mm256_and_si256(_mm256_srli_epi16::<4>(v), self.nibble);
        let kinds = _mm256_and_si256(
            _mm256_and_si256(
                _mm256_shuffle_epi8(self.prev_high, high(prev1)),
                _mm256_shuffle_epi8(self.prev_low, _mm256_and_si256(prev1, self.nibble)),
            ),
            _mm256_shuffle_epi8(self.this_high, high(block)),
        );
        let must_continue = _mm256_and_si256(
            _mm256_or_si256(_mm256_subs_epu8(prev2, self.third), _mm256_subs_epu8(prev3, self.fourth)),
            self.must_continue,
        );
        _mm256_xor_si256(kinds, must_continue)
    }

    /// [`classify`](Self::classify) with the bytes before `block` taken from
    /// `prev`, the 32 bytes before it in the stream (only its last three
    /// matter), by register shifts.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn classify_after(&self, prev: __m256i, block: __m256i) -> __m256i {
        // `vpalignr` shifts each half of `block` right by n bytes and fills
        // in the last n bytes of the matching half of its second operand.
        // For the low half those must be the end of `prev` (its high half),
        // for the high half the end of `block`'s low half: `joint` is
        // [prev.high, block.low].
        let joint = _mm256_permute2x128_si256::<0x21>(prev, block);
        let prev1 = _mm256_alignr_epi8::<15>(block, joint);
        let prev2 = _mm256_alignr_epi8::<14>(block, joint);
        let prev3 = _mm256_alignr_epi8::<13>(block, joint);
        self.classify(block, prev1, prev2, prev3)
    }

    /// All ASCII after `prev`: only a sequence left open by `prev` can fail.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn after_ascii(&self, prev: __m256i) -> __m256i {
        _mm256_subs_epu8(prev, self.bound)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn is_ascii(v: __m256i) -> bool {
    _mm256_movemask_epi8(v) == 0
}

/// Whether `error` (an OR of classifications) found nothing.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn no_error(error: __m256i) -> bool {
    // Compare-and-movemask has a shorter latency than `vptest` (or what the
    // compiler makes of it), which shows on short inputs.
    _mm256_movemask_epi8(_mm256_cmpeq_epi8(error, _mm256_setzero_si256())) == -1
}

/// 32 bytes at `p`, unaligned.
///
/// # Safety
///
/// `p` must be valid for reading 32 bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load(p: *const u8) -> __m256i {
    // SAFETY: the caller's contract.
    unsafe { _mm256_loadu_si256(p.cast()) }
}

/// Writes 32 bytes at `p`, unaligned.
///
/// # Safety
///
/// `p` must be valid for writing 32 bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn store(p: *mut u8, v: __m256i) {
    // SAFETY: the caller's contract.
    unsafe { _mm256_storeu_si256(p.cast(), v) }
}

/// The errors of the 32 bytes at `p`, with the bytes before them reloaded
/// from memory.
///
/// # Safety
///
/// `p - 3 .. p + 32` must be readable.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn classify_at(k: &Kernel, p: *const u8, block: __m256i) -> __m256i {
    // SAFETY: the caller's contract.
    let (prev1, prev2, prev3) = unsafe { (load(p.sub(1)), load(p.sub(2)), load(p.sub(3))) };
    k.classify(block, prev1, prev2, prev3)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn validate(input: &[u8]) -> bool {
    let k = Kernel::new();
    let len = input.len();
    if len < 64 {
        return validate_short(&k, input);
    }
    let p = input.as_ptr();
    // SAFETY (every load below): the comments say why the bytes read lie
    // inside `input`; all loads are unaligned.
    // The first 64 bytes (`len >= 64`), after nothing: the first block by
    // register shifts, the second by reloading from 29.
    let (a, b) = unsafe { (load(p), load(p.add(32))) };
    let mut error = if is_ascii(_mm256_or_si256(a, b)) {
        _mm256_setzero_si256()
    } else {
        _mm256_or_si256(k.classify_after(_mm256_setzero_si256(), a), unsafe { classify_at(&k, p.add(32), b) })
    };
    let mut prev = b;
    let mut at = 64;
    while at + 64 <= len {
        // `64 <= at`, `at + 64 <= len`: from `at - 3` to `at + 64`.
        let q = unsafe { p.add(at) };
        let (a, b) = unsafe { (load(q), load(q.add(32))) };
        let found = if is_ascii(_mm256_or_si256(a, b)) {
            k.after_ascii(prev)
        } else {
            unsafe { _mm256_or_si256(classify_at(&k, q, a), classify_at(&k, q.add(32), b)) }
        };
        error = _mm256_or_si256(error, found);
        prev = b;
        at += 64;
    }
    if at < len {
        // 1 to 63 bytes left: a block at `at` if more than 32 are, and the
        // block that ends at `len` (which overlaps blocks already checked
        // when fewer than 64 are left). `len - 32 >= 32`: from `len - 35`.
        if at + 32 < len {
            // SAFETY: `64 <= at` and `at + 32 < len`.
            let q = unsafe { p.add(at) };
            error = _mm256_or_si256(error, unsafe { classify_at(&k, q, load(q)) });
        }
        let q = unsafe { p.add(len - 32) };
        prev = unsafe { load(q) };
        error = _mm256_or_si256(error, unsafe { classify_at(&k, q, prev) });
    }
    // A sequence left open by the last block.
    no_error(_mm256_or_si256(error, k.after_ascii(prev)))
}

/// `validate` for fewer than 64 bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn validate_short(k: &Kernel, input: &[u8]) -> bool {
    let len = input.len();
    let p = input.as_ptr();
    let zero = _mm256_setzero_si256();
    if len >= 35 {
        // The first 32 bytes, and the 32 that end at `len` with the three
        // before them reloaded: all inside `input`, no copy.
        // SAFETY: `35 <= len`: from 0 to 32, and from `len - 35` to `len`.
        let (error, last) = unsafe {
            let q = p.add(len - 32);
            let last = load(q);
            (_mm256_or_si256(k.classify_after(zero, load(p)), classify_at(k, q, last)), last)
        };
        return no_error(_mm256_or_si256(error, k.after_ascii(last)));
    }
    // Zero bytes (ASCII) pad the input: a sequence cut by its end is then
    // followed by ASCII and fails as TOO_SHORT.
    let error = if len <= 32 {
        // SAFETY: `len <= 32` bytes from `p` are inside `input`.
        let a = unsafe { load_prefix(p, len) };
        _mm256_or_si256(k.classify_after(zero, a), k.after_ascii(a))
    } else {
        // SAFETY: `32 < len < 35`: 32 bytes from `p`, then the rest.
        let (a, b) = unsafe { (load(p), load_prefix(p.add(32), len - 32)) };
        _mm256_or_si256(_mm256_or_si256(k.classify_after(zero, a), k.classify_after(a, b)), k.after_ascii(b))
    };
    no_error(error)
}

/// `DWORDS[8 - n..]` starts with `n` words of all ones followed by zeros,
/// for `n <= 8`.
#[cfg(target_arch = "x86_64")]
const DWORDS: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

/// The `n <= 32` bytes at `p`, followed by zeros, without reading past
/// them: the whole 4-byte words with a masked load (`vpmaskmovd`, which
/// does not touch masked-off words), the 0-3 bytes after them one by one.
/// (Copying them to a zeroed buffer instead costs a stall: a vector load
/// of bytes just stored in smaller pieces waits for them to reach the
/// cache.)
///
/// # Safety
///
/// `p` must be readable for `n` bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_prefix(p: *const u8, n: usize) -> __m256i {
    debug_assert!(n <= 32);
    let words = n / 4;
    let words_mask = |w: usize| {
        // SAFETY: `w <= 8`, so the 8 words loaded are inside `DWORDS`.
        unsafe { _mm256_loadu_si256(DWORDS.as_ptr().add(8 - w).cast()) }
    };
    // SAFETY: the words enabled are the first `n / 4`, inside the `n` bytes.
    let whole = unsafe { _mm256_maskload_epi32(p.cast(), words_mask(words)) };
    let rest = n % 4;
    if rest == 0 {
        return whole;
    }
    // The last 1-3 bytes, by three loads that overlap when there are fewer
    // (no branch on how many), as a little-endian word.
    let at = words * 4;
    // SAFETY: `at + rest == n`; each byte read is at `at..at + rest`.
    let last = unsafe {
        u32::from(*p.add(at))
            | u32::from(*p.add(at + rest / 2)) << (8 * (rest / 2))
            | u32::from(*p.add(at + rest - 1)) << (8 * (rest - 1))
    };
    // `words < 8` here, so the word after the whole ones is inside the vector.
    let select = _mm256_andnot_si256(words_mask(words), words_mask(words + 1));
    _mm256_or_si256(whole, _mm256_and_si256(_mm256_set1_epi32(last as i32), select))
}

/// Copies `len < 64` bytes with a few (overlapping) word moves: for so few
/// bytes a call to `memcpy` costs more than the copy.
///
/// # Safety
///
/// `src` must be readable and `dst` writable for `len` bytes, and the two
/// must not overlap.
#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn copy_short(src: *const u8, dst: *mut u8, len: usize) {
    debug_assert!(len < 64);
    // SAFETY (all accesses): below `len`, as the conditions show.
    unsafe {
        let word = |at: usize| (dst.add(at) as *mut u64).write_unaligned((src.add(at) as *const u64).read_unaligned());
        if len >= 8 {
            let mut at = 0;
            while at + 8 < len {
                word(at);
                at += 8;
            }
            word(len - 8);
        } else if len >= 4 {
            let half =
                |at: usize| (dst.add(at) as *mut u32).write_unaligned((src.add(at) as *const u32).read_unaligned());
            half(0);
            half(len - 4);
        } else if len > 0 {
            *dst = *src;
            *dst.add(len / 2) = *src.add(len / 2);
            *dst.add(len - 1) = *src.add(len - 1);
        }
    }
}

/// The key repeated over a vector at a phase, and at the phases of the
/// bytes 1, 2 and 3 places before.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Keys([__m256i; 4]);

#[cfg(target_arch = "x86_64")]
impl Keys {
    /// The keys for a block that starts `phase` bytes into the masked run.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn at(key: [u8; 4], phase: usize) -> Keys {
        // On this little-endian CPU the key starting at phase `n` is the key
        // word rotated right by `n` bytes (`mask::rotate`, on the word).
        let word = u32::from_le_bytes(key);
        let k = |n: usize| _mm256_set1_epi32(word.rotate_right(8 * (n & 3) as u32) as i32);
        Keys([k(phase), k(phase + 3), k(phase + 2), k(phase + 1)])
    }
}

/// `v` XORed with `m` where the payload is masked; `v` where it is not
/// (the compiler then drops the XOR and keeps the key vectors out of the
/// loop's registers).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn unmask<const MASKED: bool>(v: __m256i, m: __m256i) -> __m256i {
    if MASKED {
        _mm256_xor_si256(v, m)
    } else {
        v
    }
}

/// The 32 bytes at `src`, unmasked with `keys`, written to `dst`, and their
/// errors, with the bytes before them reloaded from `src` and unmasked.
///
/// # Safety
///
/// `src - 3 .. src + 32` must be readable and `dst .. dst + 32` writable.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn copy_classify_at<const MASKED: bool>(k: &Kernel, dst: *mut u8, src: *const u8, keys: &Keys) -> __m256i {
    // SAFETY: the caller's contract.
    unsafe {
        let block = unmask::<MASKED>(load(src), keys.0[0]);
        store(dst, block);
        classify_masked_at::<MASKED>(k, src, block, keys)
    }
}

/// The errors of `block`, the 32 bytes at `src` unmasked, with the bytes
/// before them reloaded from `src` and unmasked.
///
/// # Safety
///
/// `src - 3 .. src + 31` must be readable.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn classify_masked_at<const MASKED: bool>(k: &Kernel, src: *const u8, block: __m256i, keys: &Keys) -> __m256i {
    let [_, m1, m2, m3] = keys.0;
    // SAFETY: the caller's contract.
    let (prev1, prev2, prev3) = unsafe {
        (
            unmask::<MASKED>(load(src.sub(1)), m1),
            unmask::<MASKED>(load(src.sub(2)), m2),
            unmask::<MASKED>(load(src.sub(3)), m3),
        )
    };
    k.classify(block, prev1, prev2, prev3)
}

/// # Safety
///
/// As for [`copy_check`]; and the CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copy_check_avx2(dst: *mut u8, src: &[u8], key: [u8; 4], context: [u8; 3]) -> bool {
    let k = Kernel::new();
    if src.len() < 64 {
        let mask = _mm256_set1_epi32(i32::from_ne_bytes(key));
        // SAFETY: passed on from the caller.
        return unsafe { copy_check_short(&k, dst, src, mask, context) };
    }
    // A client receives unmasked payloads: a loop without the XORs.
    // SAFETY: passed on from the caller; `src.len() >= 64`.
    unsafe {
        if key == [0; 4] {
            copy_check_long::<false>(&k, dst, src, key, context)
        } else {
            copy_check_long::<true>(&k, dst, src, key, context)
        }
    }
}

/// `copy_check` for 64 bytes or more.
///
/// # Safety
///
/// As for [`copy_check`], and `src.len() >= 64`; and the CPU must support
/// AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copy_check_long<const MASKED: bool>(
    k: &Kernel,
    dst: *mut u8,
    src: &[u8],
    key: [u8; 4],
    context: [u8; 3],
) -> bool {
    let len = src.len();
    debug_assert!(len >= 64);
    let p = src.as_ptr();
    let keys = Keys::at(key, 0);
    let m0 = keys.0[0];
    // SAFETY (every access below): the comments say why the bytes read lie
    // inside `src` and the bytes written inside the `len` bytes the caller
    // vouched for at `dst`; all accesses are unaligned.
    // The first 64 bytes (`len >= 64`), after the context. (Built in a
    // register: a vector load of bytes just stored one by one would wait
    // for the stores to reach the cache.)
    let [c1, c2, c3] = context;
    let before = _mm256_setr_epi32(0, 0, 0, 0, 0, 0, 0, i32::from_le_bytes([0, c1, c2, c3]));
    let (a, b) = unsafe {
        let a = unmask::<MASKED>(load(p), m0);
        let b = unmask::<MASKED>(load(p.add(32)), m0);
        store(dst, a);
        store(dst.add(32), b);
        (a, b)
    };
    // The first block by register shifts, the second by reloading from 29.
    let mut error = if is_ascii(_mm256_or_si256(a, b)) {
        k.after_ascii(before)
    } else {
        _mm256_or_si256(k.classify_after(before, a), unsafe { classify_masked_at::<MASKED>(k, p.add(32), b, &keys) })
    };
    let mut at = 64;
    while at + 64 <= len {
        // `64 <= at`, `at + 64 <= len`: from `at - 32` to `at + 64`. Every
        // block starts a multiple of 4 bytes in, at the key's phase 0.
        let (q, d) = unsafe { (p.add(at), dst.add(at)) };
        let (a, b) = unsafe { (unmask::<MASKED>(load(q), m0), unmask::<MASKED>(load(q.add(32)), m0)) };
        let found = if is_ascii(_mm256_or_si256(a, b)) {
            // The block before, reloaded too (rather than kept from the step
            // before: one vector register fewer in the loop).
            k.after_ascii(unsafe { unmask::<MASKED>(load(q.sub(32)), m0) })
        } else {
            unsafe {
                _mm256_or_si256(
                    classify_masked_at::<MASKED>(k, q, a, &keys),
                    classify_masked_at::<MASKED>(k, q.add(32), b, &keys),
                )
            }
        };
        // Stored after every load of the step: a load after a store whose
        // address matches in its low 12 bits waits for it (see the module
        // docs), and with the stores last that can only happen for
        // placements where the previous step's stores match.
        unsafe {
            store(d, a);
            store(d.add(32), b);
        }
        error = _mm256_or_si256(error, found);
        at += 64;
    }
    if at < len {
        // 1 to 63 bytes left, as in `validate`; the block that ends at
        // `len` starts at phase `len - 32`.
        if at + 32 < len {
            // SAFETY: `64 <= at` and `at + 32 < len`.
            error = _mm256_or_si256(error, unsafe { copy_classify_at::<MASKED>(k, dst.add(at), p.add(at), &keys) });
        }
        let end = len - 32;
        // `len - 32 >= 32`: from `len - 35` to `len`.
        let found = unsafe { copy_classify_at::<MASKED>(k, dst.add(end), p.add(end), &Keys::at(key, end)) };
        error = _mm256_or_si256(error, found);
    }
    // A sequence cut by the end of `src` is the caller's to carry.
    no_error(error)
}

/// `copy_check` for fewer than 64 bytes, through a zero-padded copy on the
/// stack: the context, then `src`.
///
/// # Safety
///
/// As for [`copy_check`] (`src.len() < 64`); and the CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn copy_check_short(k: &Kernel, dst: *mut u8, src: &[u8], mask: __m256i, context: [u8; 3]) -> bool {
    let len = src.len();
    debug_assert!(len < 64);
    let mut buf = [0u8; 96];
    buf[29..32].copy_from_slice(&context);
    // SAFETY: `len < 64` bytes from `src` to `buf[32..]`.
    unsafe { copy_short(src.as_ptr(), buf.as_mut_ptr().add(32), len) };
    let b = buf.as_mut_ptr();
    // SAFETY: `buf` is 96 bytes, so the three blocks are inside it.
    let (prev, x, y) = unsafe {
        let x = _mm256_xor_si256(load(b.add(32)), mask);
        let y = _mm256_xor_si256(load(b.add(64)), mask);
        store(b.add(32), x);
        store(b.add(64), y);
        (load(b), x, y)
    };
    // SAFETY: `buf[32..]` holds the `len` bytes copied and unmasked; `dst`
    // has room for them (the caller's contract), and a stack buffer cannot
    // overlap it.
    unsafe { copy_short(b.add(32), dst, len) };
    // Only real positions count: the padding after a sequence cut by the
    // end of `src` is not the stream's next byte. (A real position depends
    // only on itself and the bytes before it, so the padding changes no
    // real position's result.)
    // SAFETY: `64 - len` is 1..=64, so both 32-byte loads are inside `KEEP`.
    let (keep_x, keep_y) = unsafe { (load(KEEP.as_ptr().add(64 - len)), load(KEEP.as_ptr().add(96 - len))) };
    let error = _mm256_or_si256(
        _mm256_and_si256(k.classify_after(prev, x), keep_x),
        _mm256_and_si256(k.classify_after(x, y), keep_y),
    );
    no_error(error)
}
