//! Payload masking (RFC 6455 §5.3).
//!
//! Masking is an XOR with a repeating 4-byte key. It is applied to every
//! byte a client sends, so it sits on the hot path of both encoding (client)
//! and decoding (server). Two operations exist:
//!
//! * [`apply_mask`] unmasks in place, for bytes already in a buffer;
//! * [`extend_masked_at`] appends while masking, so that bytes copied into a
//!   buffer anyway (a received payload, a payload being sent) are masked in
//!   the same pass instead of being read and written a second time.
//!
//! Both use 64-byte AVX-512 lanes with masked ends, or a word at a time on
//! short payloads and 32-byte AVX2 lanes on longer ones, as the CPU allows
//! (detected at run time; other CPUs get a portable loop that the compiler
//! vectorizes with the baseline SIMD set). This module and [`crate::utf8`]
//! (its vector validator, its copying validator and one conversion) hold
//! the crate's `unsafe` code: raw pointers let the same kernel serve the
//! in-place and the copying case, and let a `Vec`'s spare capacity be filled
//! without first zeroing it.

/// Payloads shorter than this are masked word by word: dispatching to a
/// vector kernel would cost more than it saves.
const VECTOR_MIN: usize = 32;

/// XORs `buf` with `key`, as if `buf` started `offset` bytes into a payload.
///
/// `offset` lets a payload be unmasked in pieces as it arrives: pass the
/// number of payload bytes already unmasked.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    if key == [0; 4] {
        // XOR with zero changes nothing. The receive path zeroes the key of
        // payloads it unmasked while copying them in (`frame::unmasker`).
        return;
    }
    let key = rotate(key, offset);
    if buf.len() <= 16 {
        // Fragments of small messages: an inline byte loop costs less than
        // the call and length dispatch of the vector kernels.
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[i & 3];
        }
        return;
    }
    let p = buf.as_mut_ptr();
    // SAFETY: source and destination are the same `buf.len()` bytes, valid
    // and exclusively borrowed for the call.
    unsafe { xor(p, p, buf.len(), key) }
}

/// Appends `src` masked with `key` to `dst` (used by the client encoder).
#[inline]
pub fn extend_masked(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4]) {
    extend_masked_at(dst, src, key, 0);
}

/// Appends `src` XORed with `key` to `dst`, as if `src` started `offset`
/// bytes into a payload: one pass that both copies and (un)masks.
#[inline]
pub fn extend_masked_at(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    dst.reserve(src.len());
    let start = dst.len();
    // SAFETY: `reserve` made room for `src.len()` more bytes after `start`;
    // `src` is a shared borrow, so it cannot overlap `dst`'s buffer, which
    // `dst: &mut Vec` borrows exclusively. `xor` writes every one of those
    // bytes, so `set_len` only exposes initialized memory.
    unsafe {
        xor(dst.as_mut_ptr().add(start), src.as_ptr(), src.len(), key);
        dst.set_len(start + src.len());
    }
}

/// Appends `src` to `dst`: a plain copy, for the payload bytes that need
/// no unmasking (a client's input, a server's output, assembled messages).
///
/// Why not just `extend_from_slice`: the C library's `memcpy` copies blocks
/// from about 2 KiB to 512 KiB with `rep movsb`, and on AMD Zen 3 (glibc
/// 2.36) that is never faster than the vector kernel (an XOR with a zero
/// key is a copy) and often slower:
///
/// * at a fifteenth of its speed when the destination lies 1 to 63 bytes
///   after the source modulo 4 KiB (about 3 GB/s instead of 45 for a 64 KiB
///   copy), which one connection in every few dozen would hit, since where
///   a received payload lands relative to the caller's read buffer is up to
///   the caller's allocator;
/// * elsewhere within 5 % of it from a source in L2 and 0–10 % behind it
///   from sources spread over a few MiB, as received data comes: received
///   in 64 KiB reads, 64 KiB binary messages went from 36.8–38.8 to
///   39.6–42.3 GB/s and 1 MiB ones from 30.9–34.8 to 33.9–35.6 when their
///   copy moved to the kernel (the masked ones, which always took it,
///   already ran at 38.8–41.4 and 32.3–35.5).
///
/// So copies of 4 KiB and more take the kernel where it is a vector one
/// (AVX2 or AVX-512); elsewhere only those at the slow distances do, where
/// even the word loop beats `rep movsb`. Shorter copies stay `memcpy`.
#[inline]
pub fn extend_copy(dst: &mut Vec<u8>, src: &[u8]) {
    dst.reserve(src.len());
    if kernel_copies(dst.as_ptr() as usize + dst.len(), src.as_ptr() as usize, src.len()) {
        extend_masked_at(dst, src, [0; 4], 0);
    } else {
        dst.extend_from_slice(src);
    }
}

/// Removes the first `n` bytes of `buf`, moving the rest to the front (as
/// `buf.drain(..n)`), through the kernel as [`extend_copy`] chooses when
/// the bytes moved do not overlap where they go.
pub fn drain_front(buf: &mut Vec<u8>, n: usize) {
    let rest = buf.len() - n;
    let base = buf.as_ptr() as usize;
    if rest <= n && kernel_copies(base, base + n, rest) {
        let p = buf.as_mut_ptr();
        // SAFETY: `buf[n..n + rest]` and `buf[..rest]` are inside the
        // initialized length and disjoint (`rest <= n`); after the copy the
        // first `rest` bytes are initialized, so the shorter length is too.
        unsafe {
            xor(p, p.add(n), rest, [0; 4]);
            buf.set_len(rest);
        }
    } else {
        buf.drain(..n);
    }
}

/// Writes `src` XORed with `key` to the start of `dst`, as if `src` started
/// `offset` bytes into a payload (a zero key copies), and returns the bytes
/// written, now initialized: [`extend_masked_at`] for memory the caller
/// owns, such as a buffer a language runtime allocated for the result
/// object, which need not be zeroed first (that would be one more pass).
/// Zero-key copies take `memcpy` or the kernel as [`extend_copy`] does.
///
/// # Panics
///
/// If `dst` is shorter than `src`.
pub fn copy_masked<'a>(
    dst: &'a mut [std::mem::MaybeUninit<u8>],
    src: &[u8],
    key: [u8; 4],
    offset: usize,
) -> &'a mut [u8] {
    let dst = &mut dst[..src.len()];
    let (d, s, len) = (dst.as_mut_ptr().cast::<u8>(), src.as_ptr(), src.len());
    // SAFETY: `dst` has room for `len` bytes; `src` is a shared borrow and
    // `dst` an exclusive one, so they do not overlap. Either branch writes
    // all `len` bytes, so the returned slice is initialized.
    unsafe {
        if key == [0; 4] && !kernel_copies(d as usize, s as usize, len) {
            std::ptr::copy_nonoverlapping(s, d, len);
        } else {
            xor(d, s, len, rotate(key, offset));
        }
        std::slice::from_raw_parts_mut(d, len)
    }
}

/// Copies shorter than this never take `rep movsb` in glibc (its threshold
/// for AVX2 machines is about 2 KiB), and are left to `memcpy`.
const KERNEL_COPY_MIN: usize = 4096;

/// Whether a plain copy of `len` bytes from `src` to `dst` (addresses)
/// takes the masking kernel with a zero key rather than `memcpy` (see
/// [`extend_copy`] for why).
#[inline]
fn kernel_copies(dst: usize, src: usize, len: usize) -> bool {
    len >= KERNEL_COPY_MIN && (has_vector_kernel() || near_after(dst, src))
}

/// Whether [`xor`] runs a vector kernel on this CPU (checked once, then
/// cached by the standard library).
#[inline]
fn has_vector_kernel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") || std::is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether `dst` lies 1 to 63 bytes after `src` modulo 4 KiB (the distances
/// at which `rep movsb` is slow; see [`extend_copy`]). Only x86 has it.
#[inline]
fn near_after(dst: usize, src: usize) -> bool {
    let d = dst.wrapping_sub(src) & 4095;
    cfg!(target_arch = "x86_64") && (1..64).contains(&d)
}

/// Writes `src[i] ^ key[i % 4]` to `dst[i]` for `i < len`.
///
/// # Safety
///
/// `src` must be valid for reading and `dst` for writing `len` bytes; the two
/// regions must be either identical (in place) or disjoint.
#[inline]
unsafe fn xor(dst: *mut u8, src: *const u8, len: usize, key: [u8; 4]) {
    #[cfg(target_arch = "x86_64")]
    if len >= 8 && std::is_x86_feature_detected!("avx512bw") {
        // SAFETY: the CPU supports AVX-512 F and BW (BW implies F; checked
        // just above); the pointer contract is the caller's, passed on.
        unsafe { avx512::xor(dst, src, len, key) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if len >= VECTOR_MIN && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above); the pointer
        // contract is the caller's, passed on unchanged.
        unsafe { avx2::xor(dst, src, len, key) };
        return;
    }
    // SAFETY: the pointer contract is the caller's, passed on unchanged.
    unsafe { xor_words(dst, src, len, key) }
}

/// The portable kernel: 8 bytes at a time, then a 4-byte word, then bytes.
/// Whole words keep the key's phase, so the key never needs rotating here.
///
/// # Safety
///
/// As for [`xor`].
#[inline]
unsafe fn xor_words(dst: *mut u8, src: *const u8, len: usize, key: [u8; 4]) {
    let k32 = u32::from_ne_bytes(key);
    let k64 = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut i = 0;
    // SAFETY (all accesses below): `i + width <= len`, so every read and
    // write stays inside the regions the caller vouched for; unaligned
    // accesses are used because payloads start anywhere in a buffer.
    while i + 8 <= len {
        unsafe {
            let v = (src.add(i) as *const u64).read_unaligned();
            (dst.add(i) as *mut u64).write_unaligned(v ^ k64);
        }
        i += 8;
    }
    if i + 4 <= len {
        unsafe {
            let v = (src.add(i) as *const u32).read_unaligned();
            (dst.add(i) as *mut u32).write_unaligned(v ^ k32);
        }
        i += 4;
    }
    while i < len {
        unsafe { *dst.add(i) = *src.add(i) ^ key[i & 3] };
        i += 1;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{__m256i, _mm256_loadu_si256, _mm256_set1_epi32, _mm256_storeu_si256, _mm256_xor_si256};

    /// 32-byte lanes: for long runs aligned to `dst` (a store that straddles
    /// cache lines costs two), 128 bytes per iteration (four independent
    /// lanes keep the load ports busy). The ragged start and end are one
    /// unaligned lane each, overlapping the aligned ones: both are computed
    /// from the original bytes before anything is stored and stored last,
    /// so in place the overlap is written twice with the same value. A
    /// 125-byte payload is thus four lanes and no scalar loop. Every lane
    /// starts a multiple of 4 bytes after the previous one or carries its
    /// own rotated key, so the mask phase is right everywhere.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX2; otherwise as for [`super::xor`].
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn xor(dst: *mut u8, src: *const u8, len: usize, key: [u8; 4]) {
        if len < 32 {
            // SAFETY: the pointer contract is the caller's, passed on.
            return unsafe { super::xor_words(dst, src, len, key) };
        }
        let lane = |at: usize| _mm256_set1_epi32(i32::from_ne_bytes(super::rotate(key, at)));
        // SAFETY (all accesses below): `len >= 32`, and every lane starts
        // at most `len - 32` bytes in, so each access stays inside the
        // caller's regions; loads and stores are unaligned. Every byte is
        // computed from a load made before any store could change it (the
        // loop loads each lane before storing it, and lanes do not
        // overlap), so identical regions are fine.
        unsafe {
            let first = _mm256_xor_si256(_mm256_loadu_si256(src as *const __m256i), lane(0));
            let last_at = len - 32;
            let last = _mm256_xor_si256(_mm256_loadu_si256(src.add(last_at) as *const __m256i), lane(last_at));
            // Aligning pays off only for long runs; short ones start at once.
            let mut i = if len >= 512 { (dst as usize).wrapping_neg() & 31 } else { 32 };
            let k = lane(i);
            while i + 128 <= last_at {
                let s = src.add(i) as *const __m256i;
                let d = dst.add(i) as *mut __m256i;
                let a = _mm256_loadu_si256(s);
                let b = _mm256_loadu_si256(s.add(1));
                let c = _mm256_loadu_si256(s.add(2));
                let e = _mm256_loadu_si256(s.add(3));
                _mm256_storeu_si256(d, _mm256_xor_si256(a, k));
                _mm256_storeu_si256(d.add(1), _mm256_xor_si256(b, k));
                _mm256_storeu_si256(d.add(2), _mm256_xor_si256(c, k));
                _mm256_storeu_si256(d.add(3), _mm256_xor_si256(e, k));
                i += 128;
            }
            while i < last_at {
                let v = _mm256_loadu_si256(src.add(i) as *const __m256i);
                _mm256_storeu_si256(dst.add(i) as *mut __m256i, _mm256_xor_si256(v, k));
                i += 32;
            }
            _mm256_storeu_si256(dst as *mut __m256i, first);
            _mm256_storeu_si256(dst.add(last_at) as *mut __m256i, last);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::{
        __m512i, __mmask64, _mm512_loadu_si512, _mm512_mask_storeu_epi8, _mm512_maskz_loadu_epi8, _mm512_set1_epi32,
        _mm512_storeu_si512, _mm512_xor_si512,
    };

    /// 64-byte lanes; a run's ragged start (long runs: up to a 64-byte
    /// boundary of `dst`) and end are done with masked loads and stores, so
    /// a 125-byte payload is two instructions' worth of work, not a vector
    /// loop plus a word loop plus a byte loop.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX-512 F and BW; otherwise as for
    /// [`super::xor`].
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn xor(dst: *mut u8, src: *const u8, len: usize, key: [u8; 4]) {
        // SAFETY (all accesses below): masked-off bytes are neither read nor
        // written and cannot fault; enabled bytes and whole lanes lie below
        // `len`, inside the caller's regions. Loads and stores are
        // unaligned. In place, each lane is loaded before it is stored.
        let masked = |at: usize, n: usize, k: __m512i| unsafe {
            let m: __mmask64 = if n >= 64 { !0 } else { (1u64 << n) - 1 };
            let v = _mm512_maskz_loadu_epi8(m, src.add(at).cast());
            _mm512_mask_storeu_epi8(dst.add(at).cast(), m, _mm512_xor_si512(v, k));
        };
        let head = if len >= 512 { (dst as usize).wrapping_neg() & 63 } else { 0 };
        if head > 0 {
            masked(0, head, _mm512_set1_epi32(i32::from_ne_bytes(key)));
        }
        let k = _mm512_set1_epi32(i32::from_ne_bytes(super::rotate(key, head)));
        let mut i = head;
        while i + 256 <= len {
            unsafe {
                let s = src.add(i) as *const __m512i;
                let d = dst.add(i) as *mut __m512i;
                let a = _mm512_loadu_si512(s);
                let b = _mm512_loadu_si512(s.add(1));
                let c = _mm512_loadu_si512(s.add(2));
                let e = _mm512_loadu_si512(s.add(3));
                _mm512_storeu_si512(d, _mm512_xor_si512(a, k));
                _mm512_storeu_si512(d.add(1), _mm512_xor_si512(b, k));
                _mm512_storeu_si512(d.add(2), _mm512_xor_si512(c, k));
                _mm512_storeu_si512(d.add(3), _mm512_xor_si512(e, k));
            }
            i += 256;
        }
        // Whole lanes keep the key's phase: `k` stays right to the end.
        while i < len {
            masked(i, len - i, k);
            i += 64;
        }
    }
}

pub(crate) fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    // A rotation of the key as a little-endian word: byte `r` comes first.
    // (Picking bytes by index compiles to stores and reloads through the
    // stack, a store-forwarding stall on every short payload.)
    u32::from_le_bytes(key).rotate_right(8 * (offset & 3) as u32).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(i + offset) % 4];
        }
    }

    #[test]
    fn matches_naive_for_every_length_and_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in (0..300).chain([511, 512, 513, 4095, 65537]) {
            for offset in 0..8 {
                let orig: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut a = orig.clone();
                let mut b = orig.clone();
                apply_mask(&mut a, key, offset);
                naive(&mut b, key, offset);
                assert_eq!(a, b, "len {len} offset {offset}");
                // Unaligned start inside a larger buffer; nothing around
                // the payload is touched.
                let mut c = vec![0xeeu8; len + 3 + 70];
                c[3..3 + len].copy_from_slice(&orig);
                apply_mask(&mut c[3..3 + len], key, offset);
                assert_eq!(&c[3..3 + len], &b[..], "unaligned len {len} offset {offset}");
                assert_eq!(&c[..3], &[0xee; 3]);
                assert_eq!(&c[3 + len..], &[0xee; 70][..]);
            }
        }
    }

    /// Every kernel this CPU can run, called directly (the dispatcher picks
    /// only one), copying into a guarded buffer at several alignments.
    #[test]
    fn every_kernel_matches_naive() {
        type Kernel = unsafe fn(*mut u8, *const u8, usize, [u8; 4]);
        let mut kernels: Vec<(&str, Kernel)> = vec![("words", xor_words)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                kernels.push(("avx2", avx2::xor));
            }
            if std::is_x86_feature_detected!("avx512bw") {
                kernels.push(("avx512", avx512::xor));
            }
        }
        let key = [0x11, 0x22, 0x44, 0x88];
        for (name, kernel) in kernels {
            for len in (0..300).chain([511, 512, 513, 1000, 4095, 65537]) {
                for shift in [0usize, 1, 7, 33] {
                    let src: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
                    let mut want = src.clone();
                    naive(&mut want, key, 0);
                    let mut dst = vec![0xeeu8; len + shift + 70];
                    // SAFETY: `src` has `len` bytes; `dst` has room for them
                    // at `shift`; the buffers are distinct.
                    unsafe { kernel(dst.as_mut_ptr().add(shift), src.as_ptr(), len, key) };
                    assert_eq!(&dst[shift..shift + len], &want[..], "{name} len {len} shift {shift}");
                    assert!(dst[..shift].iter().chain(&dst[shift + len..]).all(|&b| b == 0xee), "{name} wrote outside");
                    // In place, where every byte must be read before it is
                    // overwritten (the vector kernels overlap their lanes).
                    let mut buf = vec![0xeeu8; len + shift + 70];
                    buf[shift..shift + len].copy_from_slice(&src);
                    // SAFETY: `buf` holds `len` bytes at `shift`; source and
                    // destination are the same region.
                    unsafe {
                        let p = buf.as_mut_ptr().add(shift);
                        kernel(p, p, len, key)
                    };
                    assert_eq!(&buf[shift..shift + len], &want[..], "{name} in place len {len} shift {shift}");
                    assert!(buf[..shift].iter().chain(&buf[shift + len..]).all(|&b| b == 0xee), "{name} wrote outside");
                }
            }
        }
    }

    /// `copy_masked` into uninitialized memory: every length class of the
    /// kernels, every key phase, zero keys (a copy) included, at distances
    /// from the source that `memcpy` is slow at and ones it is not; nothing
    /// past `src.len()` is written.
    #[test]
    fn copy_masked_fills_uninitialized_memory() {
        use std::mem::MaybeUninit;
        for key in [[9, 0x80, 0xff, 1], [0; 4]] {
            for len in (0..200).chain([511, 4095, 4096, 70_000]) {
                for offset in 0..4 {
                    let src: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
                    let mut expect = src.clone();
                    naive(&mut expect, key, offset);
                    for near in [None, Some(0), Some(8), Some(24)] {
                        // Guard bytes after the room `copy_masked` may use.
                        let mut room = vec![MaybeUninit::new(0xeeu8); len + 8 + 4096];
                        // `Some(d)`: the copy lands `d` bytes after the source
                        // modulo 4 KiB (24: where `rep movsb` is slow).
                        let at = match near {
                            None => 3,
                            Some(d) => (src.as_ptr() as usize + d).wrapping_sub(room.as_ptr() as usize) % 4096,
                        };
                        let got = copy_masked(&mut room[at..at + len + 8], &src, key, offset);
                        assert_eq!(got, &expect[..], "key {key:?} len {len} offset {offset} at {at}");
                        // SAFETY: the guard bytes were initialized above.
                        let guard: Vec<u8> =
                            room[at + len..at + len + 8].iter().map(|b| unsafe { b.assume_init() }).collect();
                        assert_eq!(guard, [0xee; 8], "wrote past the source's length");
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic]
    fn copy_masked_needs_room() {
        let mut room = [std::mem::MaybeUninit::new(0u8); 3];
        copy_masked(&mut room, b"four", [1, 2, 3, 4], 0);
    }

    #[test]
    fn extend_masked_at_copies_and_masks_in_one_pass() {
        let key = [9, 0x80, 0xff, 1];
        for len in (0..200).chain([1000, 70_000]) {
            for offset in 0..4 {
                let src: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
                let mut expect = src.clone();
                naive(&mut expect, key, offset);
                let mut dst = b"head".to_vec();
                extend_masked_at(&mut dst, &src, key, offset);
                assert_eq!(&dst[..4], b"head");
                assert_eq!(&dst[4..], &expect[..], "len {len} offset {offset}");
            }
        }
    }

    /// Every length around the threshold, at every distance class
    /// (including the slow one), lands the same bytes as a plain copy.
    #[test]
    fn extend_copy_and_drain_front_are_plain_copies() {
        let src: Vec<u8> = (0..24_000u32).map(|i| (i * 7 + 1) as u8).collect();
        for len in [0, 1, 100, 4095, 4096, 4097, 9000, 16_384] {
            for head in [0usize, 1, 8, 31, 63, 64, 200] {
                let mut dst = Vec::with_capacity(len + 4096 + head);
                dst.resize(head, 0xee);
                // Force the slow distance for some `head`s: shift the
                // source so that dst's end is `head` bytes after it mod 4K.
                let end = dst.as_ptr() as usize + head;
                let start = (src.as_ptr() as usize..src.as_ptr() as usize + 4096)
                    .find(|&a| end.wrapping_sub(a) & 4095 == head & 4095)
                    .unwrap()
                    - src.as_ptr() as usize;
                let piece = &src[start..start + len];
                extend_copy(&mut dst, piece);
                assert_eq!(&dst[..head], &vec![0xeeu8; head][..]);
                assert_eq!(&dst[head..], piece, "len {len} head {head}");
            }
        }
        for total in [100usize, 8192, 8193, 20_000] {
            for n in [0, 1, 37, 4096, 4100, 12_278, total / 2, total] {
                if n > total {
                    continue;
                }
                let mut buf = src[..total].to_vec();
                drain_front(&mut buf, n);
                assert_eq!(buf, &src[n..total], "total {total} n {n}");
            }
        }
    }

    #[test]
    fn rfc6455_example_hello() {
        // RFC 6455 §5.7: masked "Hello".
        let mut p = *b"Hello";
        apply_mask(&mut p, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(p, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        let mut v = Vec::new();
        extend_masked(&mut v, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(v, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn piecewise_equals_whole() {
        let key = [1, 2, 3, 4];
        let orig: Vec<u8> = (0..=255).cycle().take(700).collect();
        let mut whole = orig.clone();
        apply_mask(&mut whole, key, 0);
        for split in 0..orig.len() {
            let mut p = orig.clone();
            let (a, b) = p.split_at_mut(split);
            apply_mask(a, key, 0);
            apply_mask(b, key, split);
            assert_eq!(p, whole);
        }
    }
}
