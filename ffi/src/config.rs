//! Configuration: a mutable builder and the immutable config it builds.
//!
//! A `wsproto_config` is reference-counted (`Arc`): every connection created
//! from it keeps its own reference, so the program may free the config as
//! soon as it has created its connections, from any thread.

use std::ffi::c_char;
use std::sync::{Arc, OnceLock};

use wsproto_core::extension::deflate::{DeflateConfig, PerMessageDeflate};
use wsproto_core::{Config, Extension, Role};

use crate::args;
use crate::panic::guard;
use crate::result::wsproto_result::{self, *};

/// Settings shared by any number of connections. Immutable once built and
/// safe to use from many threads at once. Create with
/// `wsproto_config_builder_build`, release with `wsproto_config_free`.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Default)]
pub struct wsproto_config {
    pub(crate) core: Config,
    /// Subprotocols a server supports, most preferred first.
    pub(crate) subprotocols: Vec<String>,
    pub(crate) deflate: DeflateSettings,
}

/// A mutable set of settings that builds `wsproto_config` values. Not
/// thread-safe: use it from one thread at a time.
#[allow(non_camel_case_types)]
#[derive(Debug, Default)]
pub struct wsproto_config_builder {
    config: wsproto_config,
}

/// permessage-deflate (RFC 7692) settings as the C API sets them: on/off
/// plus the fields of the core's `DeflateConfig`, converted in one place,
/// [`DeflateSettings::extension`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct DeflateSettings {
    pub enabled: bool,
    pub config: DeflateConfig,
}

impl DeflateSettings {
    /// The extension to offer (client) or answer offers with (server), if
    /// compression is enabled. Each connection gets its own: compression
    /// state is per connection.
    pub(crate) fn extension(&self, role: Role) -> Option<Box<dyn Extension>> {
        self.enabled.then(|| Box::new(PerMessageDeflate::new(role, self.config.clone())) as Box<dyn Extension>)
    }
}

impl wsproto_config {
    /// The config connections use when the program passes NULL.
    pub(crate) fn default_shared() -> Arc<wsproto_config> {
        static DEFAULT: OnceLock<Arc<wsproto_config>> = OnceLock::new();
        DEFAULT.get_or_init(|| Arc::new(wsproto_config::default())).clone()
    }

    /// Takes a new reference to the config behind a C pointer (NULL: the
    /// default config).
    ///
    /// # Safety
    /// `p` is NULL or a live pointer from `wsproto_config_builder_build`.
    pub(crate) unsafe fn share(p: *const wsproto_config) -> Arc<wsproto_config> {
        if p.is_null() {
            return wsproto_config::default_shared();
        }
        // SAFETY: `p` came from `Arc::into_raw` and its count is at least one
        // while the program holds it.
        unsafe {
            Arc::increment_strong_count(p);
            Arc::from_raw(p)
        }
    }
}

/// Creates a builder holding the default settings: 64 MiB frames and
/// messages, 131072 fragments, 16 KiB handshake heads, 100 headers,
/// automatic pongs and close replies on, whole messages, no subprotocols,
/// no compression. Returns NULL only if memory ran out. Free it with
/// `wsproto_config_builder_free`.
#[no_mangle]
pub extern "C" fn wsproto_config_builder_new() -> *mut wsproto_config_builder {
    guard(std::ptr::null_mut(), || Box::into_raw(Box::default()))
}

/// Frees a builder. NULL is ignored. Configs built from it stay valid.
/// Freeing the same builder twice is forbidden.
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_free(builder: *mut wsproto_config_builder) {
    guard((), || {
        if !builder.is_null() {
            // SAFETY: the pointer came from `wsproto_config_builder_new`.
            drop(unsafe { Box::from_raw(builder) });
        }
    })
}

/// Runs a setter on the builder behind `p`.
unsafe fn with_builder(
    p: *mut wsproto_config_builder,
    f: impl FnOnce(&mut wsproto_config) -> wsproto_result,
) -> wsproto_result {
    guard(WSPROTO_ERR_PANIC, || {
        // SAFETY: the caller passes NULL or a live builder used by one thread.
        match unsafe { p.as_mut() } {
            Some(b) => f(&mut b.config),
            None => WSPROTO_ERR_NULL_ARGUMENT,
        }
    })
}

/// The largest payload of one frame, in bytes (at least 1). A larger frame
/// fails the connection with close code 1009 as soon as its header arrives.
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_set_max_frame_size(
    builder: *mut wsproto_config_builder,
    bytes: u64,
) -> wsproto_result {
    unsafe {
        with_builder(builder, |c| {
            if bytes == 0 {
                return WSPROTO_ERR_INVALID_ARGUMENT;
            }
            c.core.max_frame_size = bytes;
            WSPROTO_OK
        })
    }
}

/// The largest message, in bytes, after decompression (at least 1). Larger
/// messages fail the connection with 1009 before anything is allocated.
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_set_max_message_size(
    builder: *mut wsproto_config_builder,
    bytes: u64,
) -> wsproto_result {
    unsafe {
        with_builder(builder, |c| {
            if bytes == 0 {
                return WSPROTO_ERR_INVALID_ARGUMENT;
            }
            c.core.max_message_size = bytes;
            WSPROTO_OK
        })
    }
}

/// The most frames one received message may be split into (at least 1).
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_set_max_fragments(
    builder: *mut wsproto_config_builder,
    count: u32,
) -> wsproto_result {
    unsafe {
        with_builder(builder, |c| {
            if count == 0 {
                return WSPROTO_ERR_INVALID_ARGUMENT;
            }
            c.core.max_fragments = count;
            WSPROTO_OK
        })
    }
}

/// The largest opening-handshake head in bytes (at least 64), and the most
/// header lines in it (at least 4). Over either, a server answers 431.
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_set_max_handshake(
    builder: *mut wsproto_config_builder,
    max_bytes: usize,
    max_headers: usize,
) -> wsproto_result {
    unsafe {
        with_builder(builder, |c| {
            if max_bytes < 64 || max_headers < 4 {
                return WSPROTO_ERR_INVALID_ARGUMENT;
            }
            c.core.max_handshake_size = max_bytes;
            c.core.max_headers = max_headers;
            WSPROTO_OK
        })
    }
}

/// Whether pings are answered with pongs automatically (default on).
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_set_auto_pong(
    builder: *mut wsproto_config_builder,
    on: bool,
) -> wsproto_result {
    unsafe {
        with_builder(builder, |c| {
            c.core.auto_pong = on;
            WSPROTO_OK
        })
    }
}

/// Whether the peer's close frame is answered automatically, echoing its
/// code (default on). Off: the connection waits in
/// `WSPROTO_STATE_REMOTE_CLOSING` for `wsproto_conn_close`.
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_set_auto_close(
    builder: *mut wsproto_config_builder,
    on: bool,
) -> wsproto_result {
    unsafe {
        with_builder(builder, |c| {
            c.core.auto_close = on;
            WSPROTO_OK
        })
    }
}

/// Whether messages are delivered in pieces as their bytes arrive (events
/// with `fin` false until the last piece) instead of whole (default off).
/// Every frame gives at least one piece, an empty frame an empty one.
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_set_partial_messages(
    builder: *mut wsproto_config_builder,
    on: bool,
) -> wsproto_result {
    unsafe {
        with_builder(builder, |c| {
            c.core.partial_messages = on;
            WSPROTO_OK
        })
    }
}

/// FOR TESTS ONLY: makes a client's handshake key and mask keys
/// deterministic from `seed`, so tests can compare exact bytes. Real clients
/// must use unpredictable keys (RFC 6455 §10.3), which is the default.
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_set_mask_seed(
    builder: *mut wsproto_config_builder,
    seed: u64,
) -> wsproto_result {
    unsafe {
        with_builder(builder, |c| {
            c.core.mask_seed = Some(seed);
            WSPROTO_OK
        })
    }
}

/// Server: adds a subprotocol the server supports, after those added before
/// (most preferred first). `wsproto_conn_accept` with a NULL subprotocol
/// selects the first of these that the client offered. `name` is a
/// NUL-terminated HTTP token, copied.
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_add_subprotocol(
    builder: *mut wsproto_config_builder,
    name: *const c_char,
) -> wsproto_result {
    unsafe {
        with_builder(builder, |c| {
            let name = match args::str_arg(name) {
                Ok(s) => s,
                Err(e) => return e,
            };
            if !args::is_token(name) {
                return WSPROTO_ERR_INVALID_ARGUMENT;
            }
            c.subprotocols.push(name.to_owned());
            WSPROTO_OK
        })
    }
}

/// Turns permessage-deflate compression (RFC 7692) on or off (default off).
/// A client offers it; a server accepts a client's offer in
/// `wsproto_conn_accept`. `wsproto_conn_extension` tells whether it was
/// negotiated. Memory: with context takeover a connection keeps its zlib
/// state between messages (tens of KiB); with `no_context_takeover` on both
/// sides it keeps none while idle.
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_set_deflate(
    builder: *mut wsproto_config_builder,
    on: bool,
) -> wsproto_result {
    unsafe {
        with_builder(builder, |c| {
            c.deflate.enabled = on;
            WSPROTO_OK
        })
    }
}

/// permessage-deflate: whether the server's and the client's compressors
/// reset after each message (`server_no_context_takeover`,
/// `client_no_context_takeover`). Resetting costs ratio and saves memory.
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_set_deflate_no_context_takeover(
    builder: *mut wsproto_config_builder,
    server: bool,
    client: bool,
) -> wsproto_result {
    unsafe {
        with_builder(builder, |c| {
            c.deflate.config.server_no_context_takeover = server;
            c.deflate.config.client_no_context_takeover = client;
            WSPROTO_OK
        })
    }
}

/// permessage-deflate: the largest LZ77 window, 8–15 bits, for the server's
/// and the client's compressor; 0 leaves the parameter out.
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_set_deflate_window_bits(
    builder: *mut wsproto_config_builder,
    server: u8,
    client: u8,
) -> wsproto_result {
    unsafe {
        with_builder(builder, |c| {
            let bits = |v: u8| match v {
                0 => Ok(None),
                8..=15 => Ok(Some(v)),
                _ => Err(WSPROTO_ERR_INVALID_ARGUMENT),
            };
            match (bits(server), bits(client)) {
                (Ok(s), Ok(cl)) => {
                    c.deflate.config.server_max_window_bits = s;
                    c.deflate.config.client_max_window_bits = cl;
                    WSPROTO_OK
                }
                (Err(e), _) | (_, Err(e)) => e,
            }
        })
    }
}

/// permessage-deflate: zlib compression level 0–9 (default 6), memory level
/// 1–9 (default 8; lower uses less memory per connection), and the size
/// below which messages are sent uncompressed (default 0).
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_set_deflate_compression(
    builder: *mut wsproto_config_builder,
    level: u8,
    mem_level: u8,
    threshold: usize,
) -> wsproto_result {
    unsafe {
        with_builder(builder, |c| {
            if level > 9 || !(1..=9).contains(&mem_level) {
                return WSPROTO_ERR_INVALID_ARGUMENT;
            }
            c.deflate.config.level = level;
            c.deflate.config.mem_level = mem_level;
            c.deflate.config.threshold = threshold;
            WSPROTO_OK
        })
    }
}

/// Builds an immutable config from the builder's current settings and
/// stores it in `*config_out`. The builder is unchanged and may build more.
/// Free the config with `wsproto_config_free`; connections keep their own
/// reference, so it may be freed while they live.
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_builder_build(
    builder: *const wsproto_config_builder,
    config_out: *mut *const wsproto_config,
) -> wsproto_result {
    guard(WSPROTO_ERR_PANIC, || {
        // SAFETY: NULL or a live builder.
        let Some(b) = (unsafe { builder.as_ref() }) else { return WSPROTO_ERR_NULL_ARGUMENT };
        if config_out.is_null() {
            return WSPROTO_ERR_NULL_ARGUMENT;
        }
        let p = Arc::into_raw(Arc::new(b.config.clone()));
        // SAFETY: checked non-NULL; the caller provides a writable slot.
        unsafe { config_out.write(p) };
        WSPROTO_OK
    })
}

/// Releases the program's reference to a config. NULL is ignored. Freeing
/// the same config twice is forbidden.
#[no_mangle]
pub unsafe extern "C" fn wsproto_config_free(config: *const wsproto_config) {
    guard((), || {
        if !config.is_null() {
            // SAFETY: the pointer came from `Arc::into_raw` in
            // `wsproto_config_builder_build` and is released once.
            drop(unsafe { Arc::from_raw(config) });
        }
    })
}
