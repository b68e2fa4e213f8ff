//! The opening handshake (RFC 6455 §4): an HTTP/1.1 Upgrade exchange.
//!
//! HTTP heads are parsed with `httparse` under a size and header-count
//! bound; everything WebSocket-specific is checked here. The server side
//! lives in `server.rs`, the client side in `client.rs`; both only produce and
//! consume bytes, and the connection decides when to call them.

pub(crate) mod client;
pub(crate) mod server;

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::error::{local, Error, ErrorKind};
use crate::extension::{is_token, Extension, ExtensionOffer};

pub use client::ClientHandshake;
pub use server::{Accept, Reject};

/// The GUID appended to the key before hashing (§1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// An HTTP header as a name (case kept as sent) and a raw value.
pub type Header = (String, Vec<u8>);

/// Computes `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (§4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(key);
    h.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Encodes 16 random bytes as a `Sec-WebSocket-Key` (§4.1).
pub fn encode_key(nonce: [u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(nonce)
}

/// A client's opening handshake request, as the server application sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// The request target: path and query, exactly as sent.
    pub target: String,
    /// The `Host` header.
    pub host: String,
    /// The `Origin` header, sent by browsers (§10.2).
    pub origin: Option<String>,
    /// The `Sec-WebSocket-Key` header.
    pub key: String,
    /// Subprotocols offered in `Sec-WebSocket-Protocol`, in the client's order.
    pub subprotocols: Vec<String>,
    /// Extension offers from `Sec-WebSocket-Extensions`, in the client's order.
    pub extensions: Vec<ExtensionOffer>,
    /// Every header, in order, names as sent.
    pub headers: Vec<Header>,
}

impl Request {
    /// The path part of the target (before any `?`). For a target in
    /// absolute form (`ws://host/chat`, which RFC 7230 §5.3.2 requires
    /// servers to accept, and which some proxies send) it is the path after
    /// the authority, and `/` where there is none (§5.3.1).
    pub fn path(&self) -> &str {
        let target = self.origin_form();
        let path = target.split_once('?').map_or(target, |(p, _)| p);
        if path.is_empty() {
            "/"
        } else {
            path
        }
    }

    /// The query part of the target (after the first `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.origin_form().split_once('?').map(|(_, q)| q)
    }

    /// The target without the scheme and authority of an absolute form.
    fn origin_form(&self) -> &str {
        let t = self.target.as_str();
        let Some((scheme, rest)) = t.split_once("://") else { return t };
        // RFC 3986 §3.1: a letter, then letters, digits, `+`, `-`, `.`.
        let mut chars = scheme.bytes();
        let is_scheme = chars.next().is_some_and(|b| b.is_ascii_alphabetic())
            && chars.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !is_scheme {
            return t;
        }
        &rest[rest.find(['/', '?']).unwrap_or(rest.len())..]
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        find_header(&self.headers, name)
    }
}

/// A server's response to the opening handshake, as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Every header, in order, names as sent.
    pub headers: Vec<Header>,
    /// The subprotocol the server chose (101 only).
    pub subprotocol: Option<String>,
    /// The extensions the server accepted, as it wrote them (101 only).
    pub extensions: Vec<ExtensionOffer>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        find_header(&self.headers, name)
    }
}

pub(crate) fn find_header<'a>(headers: &'a [Header], name: &str) -> Option<&'a [u8]> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
}

/// Every value of the headers named `name`, as text.
fn header_values<'a>(headers: &'a [httparse::Header<'a>], name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers.iter().filter(move |h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
}

/// The comma-separated elements of every header named `name`, trimmed.
fn list_values<'a>(headers: &'a [httparse::Header<'a>], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    header_values(headers, name)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Whether a comma-list header contains `token` (case-insensitive), as the
/// `Upgrade` and `Connection` checks of §4.1 and §4.2.1 require.
fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    list_values(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// The single value of a header that must appear exactly once.
fn single<'a>(headers: &'a [httparse::Header<'a>], name: &'a str) -> Result<Option<&'a str>, String> {
    let mut it = header_values(headers, name);
    let first = it.next();
    if it.next().is_some() {
        return Err(format!("more than one {name} header"));
    }
    first.map(|v| std::str::from_utf8(v).map(str::trim).map_err(|_| format!("{name} is not text"))).transpose()
}

fn collect_headers(headers: &[httparse::Header<'_>]) -> Vec<Header> {
    headers.iter().map(|h| (h.name.to_owned(), h.value.to_vec())).collect()
}

/// Checks a caller-supplied header before it is written: the name must be a
/// token and the value must not contain CR, LF or NUL (header injection).
fn check_header(name: &str, value: &[u8]) -> Result<(), Error> {
    if !is_token(name) {
        return Err(local(ErrorKind::InvalidHeader, format!("invalid header name {name:?}")));
    }
    if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(local(ErrorKind::InvalidHeader, format!("header {name} has CR, LF or NUL in its value")));
    }
    Ok(())
}

fn write_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn write_extensions_header(out: &mut Vec<u8>, elements: &[ExtensionOffer]) {
    if elements.is_empty() {
        return;
    }
    let value = elements.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    write_header(out, "Sec-WebSocket-Extensions", value.as_bytes());
}

/// Checks that at most one extension claims RSV bits and returns it.
pub(crate) fn split_transform(mut exts: Vec<Box<dyn Extension>>) -> Result<Option<Box<dyn Extension>>, String> {
    let mut transform = None;
    for e in exts.drain(..) {
        if e.rsv_bits() != 0 {
            if transform.is_some() {
                return Err("more than one negotiated extension claims RSV bits".into());
            }
            transform = Some(e);
        }
    }
    Ok(transform)
}

/// The reason phrase for a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_accept_example() {
        // §1.3 and §4.2.2.
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }
}
