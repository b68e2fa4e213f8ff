//! Handshake results and failures as plain JS objects. They are rare, so
//! they are built with ordinary N-API object creation and handed over
//! through side queues (see `events`).

use napi_derive::napi;
use wsproto_core::{Error, Request, Response};

use crate::errors::kind_code;
use crate::options::latin1_string;

/// A client's opening request, as a server sees it.
#[napi(object)]
#[derive(Debug)]
pub struct RequestInfo {
    /// The request target: path and query as sent.
    pub target: String,
    pub path: String,
    pub query: Option<String>,
    pub host: String,
    pub origin: Option<String>,
    pub key: String,
    /// Offered subprotocols, in the client's order.
    pub subprotocols: Vec<String>,
    /// Offered extensions, one header element each (`name; param=value`).
    pub extensions: Vec<String>,
    /// Every header, flat `[name, value, ...]`, values as Latin-1.
    pub headers: Vec<String>,
}

/// A server's response to the opening request, as a client sees it.
#[napi(object)]
#[derive(Debug)]
pub struct ResponseInfo {
    pub status: u16,
    pub reason: String,
    /// Every header, flat `[name, value, ...]`, values as Latin-1.
    pub headers: Vec<String>,
    /// The subprotocol the server selected (101 only).
    pub subprotocol: Option<String>,
    /// The extensions the server accepted (101 only).
    pub extensions: Vec<String>,
}

/// The protocol failure reported by `receive`; the close frame or HTTP
/// error response it names is already queued in the output.
#[napi(object)]
#[derive(Debug)]
pub struct ErrorInfo {
    /// `WSPROTO_REMOTE_*` (see `errors::kind_code`).
    pub code: String,
    pub message: String,
    /// The close code sent to the peer, if any.
    pub close_code: Option<u16>,
    /// The HTTP status sent to the peer (server handshake failures).
    pub http_status: Option<u16>,
}

fn flat_headers(headers: &[(String, Vec<u8>)]) -> Vec<String> {
    headers.iter().flat_map(|(k, v)| [k.clone(), latin1_string(v)]).collect()
}

impl From<&Request> for RequestInfo {
    fn from(r: &Request) -> Self {
        RequestInfo {
            target: r.target.clone(),
            path: r.path().to_owned(),
            query: r.query().map(str::to_owned),
            host: r.host.clone(),
            origin: r.origin.clone(),
            key: r.key.clone(),
            subprotocols: r.subprotocols.clone(),
            extensions: r.extensions.iter().map(ToString::to_string).collect(),
            headers: flat_headers(&r.headers),
        }
    }
}

impl From<&Response> for ResponseInfo {
    fn from(r: &Response) -> Self {
        ResponseInfo {
            status: r.status,
            reason: r.reason.clone(),
            headers: flat_headers(&r.headers),
            subprotocol: r.subprotocol.clone(),
            extensions: r.extensions.iter().map(ToString::to_string).collect(),
        }
    }
}

impl From<&Error> for ErrorInfo {
    fn from(e: &Error) -> Self {
        ErrorInfo {
            code: kind_code(e.kind()).to_owned(),
            message: e.detail().to_owned(),
            close_code: e.close_code(),
            http_status: e.http_status(),
        }
    }
}
