//! Payload masking (RFC 6455 §5.3).
//!
//! Masking is an XOR with a repeating 4-byte key. It is applied to every
//! byte a client sends, so it sits on the hot path of both encoding (client)
//! and decoding (server). The loop below works on 16-byte lanes that LLVM
//! lowers to SIMD registers on every mainstream target, without `unsafe`
//! and without runtime CPU detection: the lane is a plain `u128` XOR.

/// XORs `buf` with `key`, as if `buf` started `offset` bytes into a payload.
///
/// `offset` lets a payload be unmasked in pieces as it arrives: pass the
/// number of payload bytes already unmasked.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    if buf.len() < 16 {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[i & 3];
        }
        return;
    }
    let mut wide = [0u8; 16];
    for (i, w) in wide.iter_mut().enumerate() {
        *w = key[i & 3];
    }
    let wide = u128::from_ne_bytes(wide);
    let mut chunks = buf.chunks_exact_mut(64);
    for chunk in &mut chunks {
        for lane in chunk.chunks_exact_mut(16) {
            let v = u128::from_ne_bytes(lane.try_into().expect("16-byte lane")) ^ wide;
            lane.copy_from_slice(&v.to_ne_bytes());
        }
    }
    let rest = chunks.into_remainder();
    let mut lanes = rest.chunks_exact_mut(16);
    for lane in &mut lanes {
        let v = u128::from_ne_bytes(lane.try_into().expect("16-byte lane")) ^ wide;
        lane.copy_from_slice(&v.to_ne_bytes());
    }
    // Every lane is a multiple of 4 bytes long, so the key phase is unchanged.
    for (i, b) in lanes.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// Appends `src` masked with `key` to `dst` (used by the client encoder).
#[inline]
pub fn extend_masked(dst: &mut Vec<u8>, src: &[u8], key: [u8; 4]) {
    let start = dst.len();
    dst.extend_from_slice(src);
    apply_mask(&mut dst[start..], key, 0);
}

fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    let r = offset & 3;
    [key[r], key[(r + 1) & 3], key[(r + 2) & 3], key[(r + 3) & 3]]
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
        for len in 0..200 {
            for offset in 0..8 {
                let orig: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut a = orig.clone();
                let mut b = orig.clone();
                apply_mask(&mut a, key, offset);
                naive(&mut b, key, offset);
                assert_eq!(a, b, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn rfc6455_example_hello() {
        // RFC 6455 §5.7: masked "Hello".
        let mut p = *b"Hello";
        apply_mask(&mut p, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(p, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn piecewise_equals_whole() {
        let key = [1, 2, 3, 4];
        let orig: Vec<u8> = (0..=255).collect();
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
