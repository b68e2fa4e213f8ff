//! # wsproto-ffi: the C ABI of the wsproto WebSocket engine
//!
//! Builds `libwsproto.so` and `libwsproto.a`; the header is
//! `include/wsproto.h`, generated from this crate by cbindgen
//! (`ffi/cbindgen.toml`), so the doc comments here are written for C
//! readers.
//!
//! Layout: [`session`] is a safe Rust wrapper around the core
//! `Connection` (handshake data, last error, IO loops); the other modules
//! are the thin `extern "C"` skin: [`config`], [`conn`], [`handshake`],
//! [`event`], [`io`], with [`result`] for the error codes, [`args`] for
//! turning C arguments into Rust values and [`panic`] for the one guard that
//! keeps panics from crossing into C. Protocol logic lives in the core.

// Every export takes raw pointers; its contract (NULL handling, ownership,
// lifetime, threads) is written in C terms in its doc comment, which becomes
// the header's documentation, rather than in a Rust `# Safety` section.
#![allow(clippy::missing_safety_doc)]

pub mod args;
pub mod config;
pub mod conn;
pub mod event;
pub mod handshake;
pub mod io;
mod panic;
pub mod result;
mod session;

use std::ffi::c_char;

/// The library's major version (from Cargo.toml; a test keeps them equal).
pub const WSPROTO_VERSION_MAJOR: u32 = 0;
/// The library's minor version.
pub const WSPROTO_VERSION_MINOR: u32 = 1;
/// The library's patch version.
pub const WSPROTO_VERSION_PATCH: u32 = 0;

/// Payloads shorter than this are copied by `wsproto_conn_send_binary_ref`
/// (a copy costs less than another piece of output). A test keeps it equal
/// to the core's value.
pub const WSPROTO_SHARE_MIN: usize = 4096;

/// The version of the library actually linked, as "MAJOR.MINOR.PATCH":
/// static and NUL-terminated, never NULL. Compare it with the
/// `WSPROTO_VERSION_*` macros of the header compiled against.
#[no_mangle]
pub extern "C" fn wsproto_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    panic::guard(VERSION.as_ptr().cast(), || VERSION.as_ptr().cast())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_macros_match_cargo_toml() {
        assert_eq!(WSPROTO_VERSION_MAJOR.to_string(), env!("CARGO_PKG_VERSION_MAJOR"));
        assert_eq!(WSPROTO_VERSION_MINOR.to_string(), env!("CARGO_PKG_VERSION_MINOR"));
        assert_eq!(WSPROTO_VERSION_PATCH.to_string(), env!("CARGO_PKG_VERSION_PATCH"));
        assert_eq!(WSPROTO_SHARE_MIN, wsproto_core::SHARE_MIN);
        let v = unsafe { std::ffi::CStr::from_ptr(wsproto_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
