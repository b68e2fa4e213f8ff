//! Where mask keys and handshake nonces come from.
//!
//! The core never reaches for randomness on its own: a connection owns a
//! [`Random`] source. The default, [`OsRandom`], is a ChaCha12 stream cipher
//! seeded from the operating system's generator (the construction `rand`'s
//! thread RNG uses): mask keys stay unpredictable (RFC 6455 §10.3) without a
//! system call per frame, which would cost more than encoding a small
//! message. Tests inject a seeded source so that every byte on the wire is
//! reproducible.

use std::fmt;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;

/// A source of random bytes for mask keys (§5.3) and `Sec-WebSocket-Key`.
pub trait Random: Send {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);

    /// A fresh mask key. Called once per frame a client sends, so sources
    /// with a cheaper way to make 4 bytes than `fill` override it.
    fn mask_key(&mut self) -> [u8; 4] {
        let mut key = [0u8; 4];
        self.fill(&mut key);
        key
    }
}

/// ChaCha12 keyed from the operating system's generator, per connection.
pub struct OsRandom {
    rng: Option<ChaCha12Rng>,
}

impl OsRandom {
    /// Creates a source; the first use reads the OS generator for its key.
    pub fn new() -> Self {
        OsRandom { rng: None }
    }
}

impl Default for OsRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for OsRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OsRandom")
    }
}

impl OsRandom {
    fn rng(&mut self) -> &mut ChaCha12Rng {
        self.rng.get_or_insert_with(|| {
            let mut seed = [0u8; 32];
            // Without OS randomness there is no safe way to mask; the
            // generator failing is an unrecoverable environment fault.
            getrandom::getrandom(&mut seed).expect("the OS random generator failed");
            ChaCha12Rng::from_seed(seed)
        })
    }
}

impl Random for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        self.rng().fill_bytes(buf);
    }

    /// One word of the generator's buffered block: `fill_bytes` goes through
    /// a general byte-copying path that costs several times more.
    #[inline]
    fn mask_key(&mut self) -> [u8; 4] {
        self.rng().next_u32().to_ne_bytes()
    }
}

/// A deterministic generator (SplitMix64) for tests and test vectors.
#[derive(Debug, Clone)]
pub struct SeededRandom(u64);

impl SeededRandom {
    /// Creates a generator from a seed.
    pub fn new(seed: u64) -> Self {
        SeededRandom(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Random for SeededRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}
