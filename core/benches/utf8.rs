//! UTF-8 validation throughput, alone and fused with the copy and unmask of
//! a received payload, against `simdutf8` and against doing it in two
//! passes, on the codec benchmark's mixed text (`support::payload`).
//!
//! Not criterion: on a shared machine the variants must be measured
//! interleaved, round after round in one process, so that a burst of load
//! from elsewhere hits all of them alike. Each round times every variant
//! for a few milliseconds, starting with a different one each round; the
//! table shows the best and the median round (GB/s of payload) and the
//! spread, and the ratios of the medians.
//!
//! `cargo bench -p wsproto-core --bench utf8` (or `-- 64KiB` to run only
//! the sizes whose label contains the argument; `-- sweep` for the fused
//! copy at many relative placements of source and destination).

#[allow(dead_code)]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use wsproto_core::mask::extend_masked_at;
use wsproto_core::utf8::{self, Utf8Validator};

const SIZES: &[(usize, &str)] = &[
    (31, "31B"),
    (48, "48B"),
    (64, "64B"),
    (125, "125B"),
    (256, "256B"),
    (512, "512B"),
    (1 << 10, "1KiB"),
    (4 << 10, "4KiB"),
    (16 << 10, "16KiB"),
    (64 << 10, "64KiB"),
    (256 << 10, "256KiB"),
    (1 << 20, "1MiB"),
];
const ROUNDS: usize = 15;
const ROUND_TIME: Duration = Duration::from_millis(15);
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

type Variant<'a> = (&'static str, Box<dyn FnMut() + 'a>);

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if filter.as_deref() == Some("sweep") {
        return sweep();
    }
    println!("kernel: {}", kernel());
    println!();
    println!("| size | variant | best GB/s | median GB/s | spread | median / first |");
    println!("|---|---|---:|---:|---:|---:|");
    for &(size, label) in SIZES {
        if filter.as_ref().is_some_and(|f| !label.contains(f.as_str())) {
            continue;
        }
        let text = support::payload(support::Kind::Text, size);
        assert!(std::str::from_utf8(&text).is_ok());
        let masked: Vec<u8> = text.iter().enumerate().map(|(i, b)| b ^ KEY[i & 3]).collect();

        let validate: Vec<Variant> = vec![
            ("validate: simdutf8", Box::new(|| assert!(simdutf8::basic::from_utf8(black_box(&text)).is_ok()))),
            ("validate: ours", Box::new(|| assert!(utf8::validate(black_box(&text)).is_ok()))),
            ("validate: std", Box::new(|| assert!(std::str::from_utf8(black_box(&text)).is_ok()))),
        ];
        report(label, size, measure(validate));

        let mut dsts = [(); 4].map(|()| Vec::with_capacity(size));
        let [d1, d2, d3, d4] = &mut dsts;
        // A destination at the same offset as the source modulo 4 KiB (see
        // `utf8/avx2.rs` on what that costs).
        let (mut aliased, at) = aliased_with(&masked);
        let d5 = &mut aliased;
        let mut plain = Vec::with_capacity(size);
        let d6 = &mut plain;
        let copy: Vec<Variant> = vec![
            (
                "copy: two passes, simdutf8",
                Box::new(|| {
                    d1.clear();
                    extend_masked_at(d1, black_box(&masked), KEY, 0);
                    assert!(simdutf8::basic::from_utf8(d1).is_ok());
                }),
            ),
            (
                "copy: fused (feed_copy)",
                Box::new(|| {
                    d2.clear();
                    let mut v = Utf8Validator::new();
                    assert!(v.feed_copy(d2, black_box(&masked), KEY).is_ok() && v.finish().is_ok());
                }),
            ),
            (
                "copy: fused, 4K-aliased dst",
                Box::new(|| {
                    d5.truncate(at);
                    let mut v = Utf8Validator::new();
                    assert!(v.feed_copy(d5, black_box(&masked), KEY).is_ok() && v.finish().is_ok());
                }),
            ),
            (
                "copy: fused, unmasked (client)",
                Box::new(|| {
                    d6.clear();
                    let mut v = Utf8Validator::new();
                    assert!(v.feed_copy(d6, black_box(&text), [0; 4]).is_ok() && v.finish().is_ok());
                }),
            ),
            (
                "copy: two passes, ours",
                Box::new(|| {
                    d3.clear();
                    extend_masked_at(d3, black_box(&masked), KEY, 0);
                    assert!(utf8::validate(d3).is_ok());
                }),
            ),
            (
                "copy: unmask only",
                Box::new(|| {
                    d4.clear();
                    extend_masked_at(d4, black_box(&masked), KEY, 0);
                    black_box(&d4);
                }),
            ),
        ];
        report(label, size, measure(copy));
        for d in &dsts {
            assert_eq!(d, &text);
        }
        assert_eq!(&aliased[at..], &text[..]);
        assert_eq!(plain, text);
    }
}

/// A buffer with room for `src.len()` bytes after its first `at`, where
/// it has the same address as `src` modulo 4 KiB.
fn aliased_with(src: &[u8]) -> (Vec<u8>, usize) {
    let mut v = Vec::with_capacity(src.len() + 8192);
    let at = (src.as_ptr() as usize).wrapping_sub(v.as_ptr() as usize) & 4095;
    v.resize(at, 0);
    (v, at)
}

/// `-- sweep`: the fused copy of 256 KiB into destinations at every 32nd
/// offset around the source's, modulo 4 KiB.
fn sweep() {
    let size = 256 << 10;
    let text = support::payload(support::Kind::Text, size);
    let masked: Vec<u8> = text.iter().enumerate().map(|(i, b)| b ^ KEY[i & 3]).collect();
    let (mut dst, at) = aliased_with(&masked);
    dst.reserve(4096 + 1024);
    println!("| dst - src (mod 4 KiB) | best GB/s |");
    println!("|---:|---:|");
    for d in (-256i64..=512).step_by(32).chain([1024, 2048]) {
        let at = (at as i64 + 4096 + d) as usize;
        dst.resize(at, 0);
        let mut best = f64::MAX;
        for _ in 0..ROUNDS {
            let t = Instant::now();
            for _ in 0..20 {
                dst.truncate(at);
                assert!(Utf8Validator::new().feed_copy(&mut dst, black_box(&masked), KEY).is_ok());
            }
            best = best.min(t.elapsed().as_secs_f64() / 20.0);
        }
        println!("| {d} | {:.2} |", size as f64 / best / 1e9);
    }
}

/// Which vector kernel `utf8::validate` dispatches to here.
fn kernel() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vbmi") {
            return "avx512";
        }
        if is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    "portable"
}

/// Seconds per call of each variant, one sample per round.
fn measure(mut variants: Vec<Variant>) -> Vec<(&'static str, Vec<f64>)> {
    let mut samples = vec![Vec::new(); variants.len()];
    // Warm up, and size the batches so that one takes about a round.
    let mut batch = vec![1u64; variants.len()];
    for (i, (_, f)) in variants.iter_mut().enumerate() {
        let t = Instant::now();
        let mut n = 0;
        while t.elapsed() < ROUND_TIME {
            f();
            n += 1;
        }
        batch[i] = n;
    }
    for round in 0..ROUNDS {
        for j in 0..variants.len() {
            let i = (round + j) % variants.len();
            let f = &mut variants[i].1;
            let t = Instant::now();
            for _ in 0..batch[i] {
                f();
            }
            samples[i].push(t.elapsed().as_secs_f64() / batch[i] as f64);
        }
    }
    variants.iter().map(|(name, _)| *name).zip(samples).collect()
}

fn report(label: &str, size: usize, results: Vec<(&'static str, Vec<f64>)>) {
    let mut first = None;
    for (name, mut s) in results {
        s.sort_by(f64::total_cmp);
        let gbs = |t: f64| size as f64 / t / 1e9;
        let (best, median, worst) = (gbs(s[0]), gbs(s[s.len() / 2]), gbs(s[s.len() - 1]));
        let base = *first.get_or_insert(median);
        println!(
            "| {label} | {name} | {best:.2} | {median:.2} | {:.0} % | {:.2} |",
            (best / worst - 1.0) * 100.0,
            median / base
        );
    }
}
