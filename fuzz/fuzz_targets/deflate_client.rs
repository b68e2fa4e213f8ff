//! Fuzz target: arbitrary bytes to an open client connection with permessage-deflate negotiated, fed whole and split at a fuzzer-chosen point.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wsproto_fuzz::run(wsproto_fuzz::Target::DeflateClient, data));
