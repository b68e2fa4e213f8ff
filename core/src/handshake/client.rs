//! The client side of the opening handshake (§4.1).

use super::*;

/// What a client sends in its opening handshake.
#[derive(Debug, Default)]
pub struct ClientHandshake {
    /// The `Host` header (with a port when it is not the default).
    pub host: String,
    /// The request target: path and query, starting with `/`.
    pub path: String,
    /// The `Origin` header, if any.
    pub origin: Option<String>,
    /// Subprotocols to offer, most preferred first.
    pub subprotocols: Vec<String>,
    /// Extensions to offer.
    pub extensions: Vec<Box<dyn Extension>>,
    /// Extra request headers.
    pub headers: Vec<Header>,
}

/// What the client must remember to check the response.
#[derive(Debug)]
pub(crate) struct Pending {
    pub key: String,
    pub subprotocols: Vec<String>,
    pub extensions: Vec<Box<dyn Extension>>,
}

/// How the body of a rejection response is delimited (RFC 7230 §3.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyLength {
    Exactly(u64),
    UntilEof,
    /// `Transfer-Encoding: chunked`: the body is decoded, so the
    /// application gets the body the server sent, not its framing.
    Chunked(Chunked),
}

/// Where a chunked body's decoder stands (RFC 7230 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunked {
    /// In a chunk size: its value so far and how many digits it had.
    Size { size: u64, digits: u8 },
    /// After the size: whitespace and chunk extensions (ignored), up to the
    /// line's end; `len` bytes of them so far.
    Ext { size: u64, len: u16 },
    /// A CR ended the size line; its LF is next.
    SizeLf { size: u64 },
    /// Inside a chunk's data: the bytes still to come.
    Data(u64),
    /// The CRLF after a chunk's data; `cr`: its CR was seen.
    DataEnd { cr: bool },
    /// After the last chunk: trailer fields (ignored) up to an empty line;
    /// `blank`: nothing of the current line yet, `total`: bytes of all
    /// lines so far, `cr`: the line's CR was seen.
    Trailer { blank: bool, total: u32, cr: bool },
    /// The body ended.
    Done,
}

/// Longest chunk-size line (digits, extensions) and trailer section
/// accepted: framing, not body, so small bounds keep a hostile server from
/// making the client walk megabytes of it.
const MAX_CHUNK_LINE: u16 = 4096;
const MAX_TRAILERS: u32 = 16 << 10;

/// The next piece of a rejection's body in the unconsumed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyStep {
    /// `skip` bytes of framing, then `len` bytes of body; `fin`: the body
    /// ends with them.
    Piece { skip: usize, len: usize, fin: bool },
    /// `skip` bytes of framing and no body bytes yet: more input is needed.
    More { skip: usize },
}

impl BodyLength {
    /// Decodes what `input` holds of the body; at end of stream (`eof`) a
    /// body cut short ends with what arrived.
    pub(crate) fn step(&mut self, input: &[u8], eof: bool) -> Result<BodyStep, Error> {
        let avail = input.len();
        let (take, fin) = match self {
            BodyLength::Exactly(n) => {
                let take = avail.min(usize::try_from(*n).unwrap_or(usize::MAX));
                *n -= take as u64;
                (take, *n == 0 || eof && take == avail)
            }
            BodyLength::UntilEof => (avail, eof),
            BodyLength::Chunked(c) => return c.step(input, eof),
        };
        if take == 0 && !fin {
            return Ok(BodyStep::More { skip: 0 });
        }
        Ok(BodyStep::Piece { skip: 0, len: take, fin })
    }
}

impl Chunked {
    fn step(&mut self, input: &[u8], eof: bool) -> Result<BodyStep, Error> {
        let mut pos = 0;
        loop {
            match *self {
                Chunked::Done => return Ok(BodyStep::Piece { skip: pos, len: 0, fin: true }),
                Chunked::Data(n) if pos < input.len() => {
                    let len = (input.len() - pos).min(usize::try_from(n).unwrap_or(usize::MAX));
                    let left = n - len as u64;
                    *self = if left == 0 { Chunked::DataEnd { cr: false } } else { Chunked::Data(left) };
                    return Ok(BodyStep::Piece { skip: pos, len, fin: false });
                }
                _ if pos == input.len() => {
                    return Ok(if eof {
                        BodyStep::Piece { skip: pos, len: 0, fin: true }
                    } else {
                        BodyStep::More { skip: pos }
                    });
                }
                _ => {
                    self.framing_byte(input[pos])?;
                    pos += 1;
                }
            }
        }
    }

    /// One byte of the framing around the chunks' data.
    fn framing_byte(&mut self, b: u8) -> Result<(), Error> {
        let bad = |msg: &str| Err(Error::new(ErrorKind::BadHandshake, format!("malformed chunked body: {msg}")));
        // The end of a size line: the last chunk (size 0) starts the trailers.
        let line_end = |size: u64| {
            if size == 0 {
                Chunked::Trailer { blank: true, total: 0, cr: false }
            } else {
                Chunked::Data(size)
            }
        };
        *self = match *self {
            Chunked::Size { size, digits } => match (b as char).to_digit(16) {
                Some(_) if digits == 15 => return bad("chunk size too large"),
                Some(d) => Chunked::Size { size: size << 4 | u64::from(d), digits: digits + 1 },
                None if digits == 0 => return bad("chunk size missing"),
                None => match b {
                    b'\r' => Chunked::SizeLf { size },
                    b'\n' => line_end(size),
                    b';' | b' ' | b'\t' => Chunked::Ext { size, len: 1 },
                    _ => return bad("invalid chunk size"),
                },
            },
            Chunked::Ext { size, len } => match b {
                b'\r' => Chunked::SizeLf { size },
                b'\n' => line_end(size),
                _ if len >= MAX_CHUNK_LINE => return bad("chunk extension too long"),
                _ => Chunked::Ext { size, len: len + 1 },
            },
            Chunked::SizeLf { size } => match b {
                b'\n' => line_end(size),
                _ => return bad("CR without LF after a chunk size"),
            },
            Chunked::DataEnd { cr } => match b {
                b'\r' if !cr => Chunked::DataEnd { cr: true },
                b'\n' => Chunked::Size { size: 0, digits: 0 },
                _ => return bad("chunk data not followed by CRLF"),
            },
            Chunked::Trailer { blank, total, cr } => match b {
                b'\r' if !cr => Chunked::Trailer { blank, total, cr: true },
                b'\n' if blank => Chunked::Done,
                b'\n' => Chunked::Trailer { blank: true, total, cr: false },
                _ if cr => return bad("CR without LF in the trailers"),
                _ if total >= MAX_TRAILERS => return bad("trailers too long"),
                _ => Chunked::Trailer { blank: false, total: total + 1, cr: false },
            },
            Chunked::Data(_) | Chunked::Done => unreachable!("not framing"),
        };
        Ok(())
    }
}

/// Writes the request; returns what the response check needs.
pub(crate) fn write_request(out: &mut Vec<u8>, mut hs: ClientHandshake, key: String) -> Result<Pending, Error> {
    if hs.host.is_empty() || hs.host.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(local(ErrorKind::InvalidArgument, "host must be non-empty without spaces or controls"));
    }
    if !hs.path.starts_with('/') || hs.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(local(ErrorKind::InvalidArgument, "path must start with / and have no spaces or controls"));
    }
    if let Some(p) = hs.subprotocols.iter().find(|p| !is_token(p)) {
        return Err(local(ErrorKind::InvalidArgument, format!("invalid subprotocol {p:?}")));
    }
    if let Some(o) = &hs.origin {
        check_header("Origin", o.as_bytes())?;
    }
    for (k, v) in &hs.headers {
        check_header(k, v)?;
    }
    let mut offers = Vec::new();
    for e in &mut hs.extensions {
        offers.extend(e.offers());
    }
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(hs.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    write_header(out, "Host", hs.host.as_bytes());
    out.extend_from_slice(b"Upgrade: websocket\r\nConnection: Upgrade\r\n");
    write_header(out, "Sec-WebSocket-Key", key.as_bytes());
    out.extend_from_slice(b"Sec-WebSocket-Version: 13\r\n");
    if let Some(o) = &hs.origin {
        write_header(out, "Origin", o.as_bytes());
    }
    if !hs.subprotocols.is_empty() {
        write_header(out, "Sec-WebSocket-Protocol", hs.subprotocols.join(", ").as_bytes());
    }
    write_extensions_header(out, &offers);
    for (k, v) in &hs.headers {
        write_header(out, k, v);
    }
    out.extend_from_slice(b"\r\n");
    Ok(Pending { key, subprotocols: hs.subprotocols, extensions: hs.extensions })
}

/// Parses a response head from the start of `buf`. `Ok(None)`: need more.
pub(crate) fn parse_response(
    buf: &[u8],
    max_head: usize,
    max_headers: usize,
) -> Result<Option<(Response, ResponseHead, usize)>, Error> {
    let mut storage = vec![httparse::EMPTY_HEADER; max_headers];
    let mut resp = httparse::Response::new(&mut storage);
    let status = match resp.parse(buf) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Error::new(ErrorKind::HandshakeTooLarge, "too many header lines in the response"));
        }
        Err(e) => return Err(Error::new(ErrorKind::BadHandshake, format!("malformed HTTP response: {e}"))),
    };
    let head_len = match status {
        httparse::Status::Partial if buf.len() > max_head => {
            return Err(Error::new(ErrorKind::HandshakeTooLarge, "response head too large"));
        }
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(n) if n > max_head => {
            return Err(Error::new(ErrorKind::HandshakeTooLarge, "response head too large"));
        }
        httparse::Status::Complete(n) => n,
    };
    let headers = resp.headers;
    let head = ResponseHead {
        upgrade_ok: has_token(headers, "Upgrade", "websocket"),
        connection_ok: has_token(headers, "Connection", "upgrade"),
        accept: single(headers, "Sec-WebSocket-Accept").map(|a| a.map(str::to_owned)),
        protocol: single(headers, "Sec-WebSocket-Protocol").map(|p| p.map(str::to_owned)),
        extensions: header_values(headers, "Sec-WebSocket-Extensions")
            .map(|v| {
                std::str::from_utf8(v)
                    .map_err(|_| "Sec-WebSocket-Extensions is not text".to_owned())
                    .and_then(ExtensionOffer::parse_list)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.into_iter().flatten().collect()),
        body: body_length(headers),
    };
    let response = Response {
        status: resp.code.unwrap_or(0),
        reason: resp.reason.unwrap_or("").to_owned(),
        headers: collect_headers(headers),
        subprotocol: None,
        extensions: Vec::new(),
    };
    Ok(Some((response, head, head_len)))
}

/// Validates a 101 response (§4.1, items 1–6 of the client's checks) and
/// returns the negotiated transform extension.
pub(crate) fn validate_accept(
    pending: Pending,
    response: &mut Response,
    head: ResponseHead,
) -> Result<Option<Box<dyn Extension>>, Error> {
    let bad = |msg: String| Error::new(ErrorKind::BadHandshake, msg);
    if !head.upgrade_ok {
        return Err(bad("Upgrade header must contain websocket".into()));
    }
    if !head.connection_ok {
        return Err(bad("Connection header must contain Upgrade".into()));
    }
    match head.accept {
        Ok(Some(a)) if a == accept_key(pending.key.as_bytes()) => {}
        Ok(Some(_)) => return Err(bad("Sec-WebSocket-Accept does not match the key".into())),
        Ok(None) => return Err(bad("missing Sec-WebSocket-Accept header".into())),
        Err(e) => return Err(bad(e)),
    }
    match head.protocol.map_err(bad)? {
        Some(p) if pending.subprotocols.contains(&p) => response.subprotocol = Some(p),
        Some(p) => return Err(bad(format!("server chose subprotocol {p:?}, which was not offered"))),
        None => {}
    }
    let elements = head.extensions.map_err(bad)?;
    let mut exts = pending.extensions;
    let mut used = vec![false; exts.len()];
    for element in &elements {
        let Some(i) = exts.iter().position(|e| e.name().eq_ignore_ascii_case(&element.name)) else {
            return Err(bad(format!("server accepted extension {}, which was not offered", element.name)));
        };
        if std::mem::replace(&mut used[i], true) {
            return Err(bad(format!("server accepted extension {} twice", element.name)));
        }
        exts[i].finalize(element).map_err(|e| bad(format!("extension {}: {e}", element.name)))?;
    }
    response.extensions = elements;
    let chosen: Vec<Box<dyn Extension>> =
        exts.into_iter().enumerate().filter(|(i, _)| used[*i]).map(|(_, e)| e).collect();
    split_transform(chosen).map_err(bad)
}

fn body_length(headers: &[httparse::Header<'_>]) -> BodyLength {
    // §3.3.3: Transfer-Encoding overrides Content-Length; chunked must be
    // the last coding, and with any other last coding the body runs to the
    // end of the stream (other codings are the application's to undo).
    if let Some(last) = list_values(headers, "Transfer-Encoding").last() {
        return if last.eq_ignore_ascii_case("chunked") {
            BodyLength::Chunked(Chunked::Size { size: 0, digits: 0 })
        } else {
            BodyLength::UntilEof
        };
    }
    single(headers, "Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(BodyLength::UntilEof, BodyLength::Exactly)
}

/// The parts of a response head the checks need, detached from the buffer.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    upgrade_ok: bool,
    connection_ok: bool,
    accept: Result<Option<String>, String>,
    protocol: Result<Option<String>, String>,
    extensions: Result<Vec<ExtensionOffer>, String>,
    pub body: BodyLength,
}
