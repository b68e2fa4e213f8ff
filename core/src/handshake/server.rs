//! The server side of the opening handshake (§4.2).

use base64::Engine;

use super::*;

/// The application's decision to accept a request (§4.2.2).
#[derive(Debug, Default)]
pub struct Accept {
    /// The subprotocol to select; it must be one the client offered.
    pub subprotocol: Option<String>,
    /// Extensions the server supports; each negotiates against the client's
    /// offers of its name and declines or answers.
    pub extensions: Vec<Box<dyn Extension>>,
    /// Extra response headers.
    pub headers: Vec<Header>,
}

/// The application's decision to refuse a request with any HTTP response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reject {
    /// The HTTP status (100–599, not 101).
    pub status: u16,
    /// Extra response headers. `Content-Length` is added for the body
    /// unless given here.
    pub headers: Vec<Header>,
    /// The response body.
    pub body: Vec<u8>,
}

/// Parses and validates a request head from the start of `buf`.
///
/// `Ok(None)` means more bytes are needed. On success also returns the head
/// length: the bytes after it are frame data.
pub(crate) fn parse_request(
    buf: &[u8],
    max_head: usize,
    max_headers: usize,
) -> Result<Option<(Request, usize)>, Error> {
    let mut storage = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut storage);
    let status = match req.parse(buf) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Error::new(ErrorKind::HandshakeTooLarge, "too many header lines"));
        }
        Err(e) => return Err(Error::new(ErrorKind::BadHandshake, format!("malformed HTTP request: {e}"))),
    };
    let head_len = match status {
        httparse::Status::Partial => {
            if buf.len() > max_head {
                return Err(Error::new(ErrorKind::HandshakeTooLarge, "request head too large"));
            }
            return Ok(None);
        }
        httparse::Status::Complete(n) => n,
    };
    if head_len > max_head {
        return Err(Error::new(ErrorKind::HandshakeTooLarge, "request head too large"));
    }
    let bad = |msg: &str| Error::new(ErrorKind::BadHandshake, msg.to_owned());
    if req.method != Some("GET") {
        return Err(bad("method must be GET"));
    }
    if req.version != Some(1) {
        return Err(bad("HTTP/1.1 or later is required"));
    }
    let headers = req.headers;
    let host = single(headers, "Host").map_err(|e| bad(&e))?.ok_or_else(|| bad("missing Host header"))?;
    if !has_token(headers, "Upgrade", "websocket") {
        return Err(bad("Upgrade header must contain websocket"));
    }
    if !has_token(headers, "Connection", "upgrade") {
        return Err(bad("Connection header must contain Upgrade"));
    }
    match single(headers, "Sec-WebSocket-Version").map_err(|e| bad(&e))? {
        Some("13") => {}
        Some(_) => return Err(Error::new(ErrorKind::UnsupportedVersion, "unsupported Sec-WebSocket-Version")),
        None => return Err(Error::new(ErrorKind::UnsupportedVersion, "missing Sec-WebSocket-Version header")),
    }
    let key = single(headers, "Sec-WebSocket-Key")
        .map_err(|e| bad(&e))?
        .ok_or_else(|| bad("missing Sec-WebSocket-Key header"))?;
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(k) if k.len() == 16 => {}
        _ => return Err(bad("Sec-WebSocket-Key must be 16 bytes in base64")),
    }
    let origin = single(headers, "Origin").map_err(|e| bad(&e))?.map(str::to_owned);
    let subprotocols: Vec<String> = list_values(headers, "Sec-WebSocket-Protocol").map(str::to_owned).collect();
    if let Some(p) = subprotocols.iter().find(|p| !is_token(p)) {
        return Err(bad(&format!("invalid subprotocol {p:?}")));
    }
    let mut extensions = Vec::new();
    for v in header_values(headers, "Sec-WebSocket-Extensions") {
        let v = std::str::from_utf8(v).map_err(|_| bad("Sec-WebSocket-Extensions is not text"))?;
        extensions.extend(ExtensionOffer::parse_list(v).map_err(|e| bad(&e))?);
    }
    let request = Request {
        target: req.path.unwrap_or("/").to_owned(),
        host: host.to_owned(),
        origin,
        key: key.to_owned(),
        subprotocols,
        extensions,
        headers: collect_headers(headers),
    };
    Ok(Some((request, head_len)))
}

/// Writes the 101 response and returns the negotiated transform extension.
pub(crate) fn write_accept(
    out: &mut Vec<u8>,
    request: &Request,
    accept: Accept,
) -> Result<Option<Box<dyn Extension>>, Error> {
    if let Some(p) = &accept.subprotocol {
        if !request.subprotocols.iter().any(|o| o == p) {
            return Err(local(ErrorKind::SubprotocolNotOffered, format!("subprotocol {p:?} was not offered")));
        }
    }
    for (k, v) in &accept.headers {
        check_header(k, v)?;
    }
    let mut negotiated = Vec::new();
    let mut elements = Vec::new();
    let mut rsv_claimed = 0u8;
    for mut ext in accept.extensions {
        let offers: Vec<ExtensionOffer> =
            request.extensions.iter().filter(|o| o.name.eq_ignore_ascii_case(ext.name())).cloned().collect();
        if offers.is_empty() {
            continue;
        }
        if ext.rsv_bits() & rsv_claimed != 0 {
            continue; // An earlier extension already owns these bits.
        }
        if let Some(element) = ext.accept(&offers) {
            rsv_claimed |= ext.rsv_bits();
            elements.push(element);
            negotiated.push(ext);
        }
    }
    let transform = split_transform(negotiated).map_err(|e| local(ErrorKind::InvalidArgument, e))?;

    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    write_header(out, "Sec-WebSocket-Accept", accept_key(request.key.as_bytes()).as_bytes());
    if let Some(p) = &accept.subprotocol {
        write_header(out, "Sec-WebSocket-Protocol", p.as_bytes());
    }
    write_extensions_header(out, &elements);
    for (k, v) in &accept.headers {
        write_header(out, k, v);
    }
    out.extend_from_slice(b"\r\n");
    Ok(transform)
}

/// Writes a refusal with any status, headers and body.
pub(crate) fn write_reject(out: &mut Vec<u8>, reject: &Reject) -> Result<(), Error> {
    if !(100..=599).contains(&reject.status) || reject.status == 101 {
        return Err(local(ErrorKind::InvalidStatus, format!("cannot reject with status {}", reject.status)));
    }
    for (k, v) in &reject.headers {
        check_header(k, v)?;
    }
    out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", reject.status, reason_phrase(reject.status)).as_bytes());
    let has_length = reject
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding"));
    for (k, v) in &reject.headers {
        write_header(out, k, v);
    }
    if !has_length {
        write_header(out, "Content-Length", reject.body.len().to_string().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&reject.body);
    Ok(())
}

/// Writes the response to a request the core itself refused.
pub(crate) fn write_error_response(out: &mut Vec<u8>, err: &Error) {
    let status = err.kind().http_status().unwrap_or(400);
    let body = format!("{}\n", err.detail());
    let mut headers = vec![
        ("Content-Type".to_owned(), b"text/plain; charset=utf-8".to_vec()),
        ("Connection".to_owned(), b"close".to_vec()),
    ];
    if err.kind() == ErrorKind::UnsupportedVersion {
        headers.push(("Sec-WebSocket-Version".to_owned(), b"13".to_vec()));
        headers.push(("Upgrade".to_owned(), b"websocket".to_vec()));
    }
    let reject = Reject { status, headers, body: body.into_bytes() };
    write_reject(out, &reject).expect("the core's own error responses are valid");
}
