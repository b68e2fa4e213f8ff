//! Options objects accepted from JavaScript and their conversion into the
//! core's types. Every field is optional and defaults to the core's value,
//! so JS callers only name what they change.

use napi_derive::napi;
use wsproto_core::extension::deflate::{DeflateConfig, PerMessageDeflate};
use wsproto_core::{Config, Extension, Header, Role};

use crate::errors::{invalid_argument, JsResult};

/// Limits and automatic behaviour (see `wsproto_core::Config`).
#[napi(object)]
#[derive(Debug, Default)]
pub struct ConnectionOptions {
    /// The largest frame payload in bytes (default 16 MiB).
    pub max_frame_size: Option<f64>,
    /// The largest message in bytes, after decompression (default 64 MiB).
    pub max_message_size: Option<f64>,
    /// The most frames one message may use (default 131072).
    pub max_fragments: Option<u32>,
    /// The largest opening-handshake head in bytes (default 16 KiB).
    pub max_handshake_size: Option<u32>,
    /// The most header lines in the opening handshake (default 100).
    pub max_headers: Option<u32>,
    /// Answer pings automatically (default true).
    pub auto_pong: Option<bool>,
    /// Answer a close frame automatically (default true).
    pub auto_close: Option<bool>,
    /// Deliver messages in pieces as they arrive (default false).
    pub partial_messages: Option<bool>,
    /// Deterministic mask keys, for tests only (an integer below 2^53).
    pub mask_seed: Option<f64>,
}

/// permessage-deflate settings (RFC 7692), named as in the RFC.
#[napi(object)]
#[derive(Debug, Default, Clone)]
pub struct DeflateOptions {
    pub server_no_context_takeover: Option<bool>,
    pub client_no_context_takeover: Option<bool>,
    pub server_max_window_bits: Option<u8>,
    pub client_max_window_bits: Option<u8>,
    /// zlib level 0–9.
    pub level: Option<u8>,
    /// zlib memory level 1–9.
    pub mem_level: Option<u8>,
    /// Messages shorter than this many bytes are sent uncompressed.
    pub threshold: Option<u32>,
}

/// What a client sends in its opening request.
#[napi(object)]
#[derive(Debug, Default)]
pub struct ClientRequestOptions {
    /// The Host header, with the port when it is not the default.
    pub host: String,
    /// The request target (path and query), starting with `/`.
    pub path: Option<String>,
    pub origin: Option<String>,
    /// Subprotocols to offer, most preferred first.
    pub subprotocols: Option<Vec<String>>,
    /// Extra headers as a flat `[name, value, name, value, ...]` list, the
    /// shape of Node's `rawHeaders`.
    pub headers: Option<Vec<String>>,
    /// Offer permessage-deflate.
    pub deflate: Option<DeflateOptions>,
}

/// How a server accepts a request.
#[napi(object)]
#[derive(Debug, Default)]
pub struct AcceptOptions {
    /// The subprotocol to select; it must be one the client offered.
    pub subprotocol: Option<String>,
    /// Extra response headers, flat `[name, value, ...]`.
    pub headers: Option<Vec<String>>,
    /// Accept permessage-deflate if the client offered it.
    pub deflate: Option<DeflateOptions>,
}

/// How a server refuses a request.
#[napi(object)]
#[derive(Debug, Default)]
pub struct RejectOptions {
    /// Any HTTP status but 101 (default 400).
    pub status: Option<u16>,
    /// Extra response headers, flat `[name, value, ...]`.
    pub headers: Option<Vec<String>>,
}

/// Converts a JS number to an integer limit, refusing fractions, negatives
/// and NaN rather than truncating them silently.
fn whole(name: &str, v: f64) -> JsResult<u64> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0 {
        Ok(v as u64)
    } else {
        Err(invalid_argument(format!("{name} must be a non-negative integer, not {v}")))
    }
}

pub fn config(o: Option<ConnectionOptions>) -> JsResult<Config> {
    let o = o.unwrap_or_default();
    let mut c = Config::default();
    if let Some(v) = o.max_frame_size {
        c.max_frame_size = whole("maxFrameSize", v)?;
    }
    if let Some(v) = o.max_message_size {
        c.max_message_size = whole("maxMessageSize", v)?;
    }
    if let Some(v) = o.max_fragments {
        c.max_fragments = v;
    }
    if let Some(v) = o.max_handshake_size {
        c.max_handshake_size = v as usize;
    }
    if let Some(v) = o.max_headers {
        c.max_headers = v as usize;
    }
    if let Some(v) = o.auto_pong {
        c.auto_pong = v;
    }
    if let Some(v) = o.auto_close {
        c.auto_close = v;
    }
    if let Some(v) = o.partial_messages {
        c.partial_messages = v;
    }
    if let Some(v) = o.mask_seed {
        c.mask_seed = Some(whole("maskSeed", v)?);
    }
    Ok(c)
}

pub fn deflate(role: Role, o: &DeflateOptions) -> JsResult<Box<dyn Extension>> {
    let d = DeflateConfig::default();
    let cfg = DeflateConfig {
        server_no_context_takeover: o.server_no_context_takeover.unwrap_or(d.server_no_context_takeover),
        client_no_context_takeover: o.client_no_context_takeover.unwrap_or(d.client_no_context_takeover),
        server_max_window_bits: o.server_max_window_bits.or(d.server_max_window_bits),
        client_max_window_bits: o.client_max_window_bits.or(d.client_max_window_bits),
        level: o.level.unwrap_or(d.level),
        mem_level: o.mem_level.unwrap_or(d.mem_level),
        threshold: o.threshold.map_or(d.threshold, |t| t as usize),
    };
    cfg.validate().map_err(invalid_argument)?;
    Ok(Box::new(PerMessageDeflate::new(role, cfg)))
}

/// Pairs up a flat header list; values are taken as Latin-1, the way Node's
/// HTTP parser hands them to JavaScript, so bytes survive the round trip.
pub fn headers(flat: Option<Vec<String>>) -> JsResult<Vec<Header>> {
    let flat = flat.unwrap_or_default();
    if !flat.len().is_multiple_of(2) {
        return Err(invalid_argument("headers must be a flat [name, value, ...] list of even length"));
    }
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(name), Some(value)) = (it.next(), it.next()) {
        out.push((name, latin1_bytes(&value)?));
    }
    Ok(out)
}

/// Encodes a string as Latin-1 bytes; refuses characters above U+00FF,
/// which cannot appear in an HTTP header.
pub fn latin1_bytes(s: &str) -> JsResult<Vec<u8>> {
    s.chars()
        .map(|c| {
            u8::try_from(u32::from(c)).map_err(|_| invalid_argument(format!("header value has non-Latin-1 {c:?}")))
        })
        .collect()
}

/// Decodes bytes as Latin-1 (every byte is one code point).
pub fn latin1_string(b: &[u8]) -> String {
    b.iter().map(|&b| char::from(b)).collect()
}
