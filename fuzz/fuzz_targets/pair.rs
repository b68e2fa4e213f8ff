//! Fuzz target: a client and a server wired through memory, driven through the command API by a script (see `pair`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wsproto_fuzz::pair::run(data);
});
