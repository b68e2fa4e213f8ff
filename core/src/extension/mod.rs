//! The extension hook (RFC 6455 §9) and the `Sec-WebSocket-Extensions`
//! header grammar.
//!
//! An extension takes part in two things. In the opening handshake it makes
//! an offer (client) or answers one (server). Once negotiated, it may claim
//! RSV bits and transform the payload of each message whose first frame
//! carries them; the connection routes payload bytes through it and stays
//! unaware of what it does, so permessage-deflate plugs in without the state
//! machine changing.

use std::fmt;

pub mod deflate;

/// One element of a `Sec-WebSocket-Extensions` header: a name and its
/// parameters, in order (§9.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtensionOffer {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters with their value, if any (quotes removed).
    pub params: Vec<(String, Option<String>)>,
}

impl ExtensionOffer {
    /// Parses a whole header value: a comma-separated list of extensions.
    pub fn parse_list(value: &str) -> Result<Vec<ExtensionOffer>, String> {
        let mut out = Vec::new();
        for element in split_outside_quotes(value, ',') {
            let element = element.trim();
            if element.is_empty() {
                continue; // `#rule` allows empty list elements.
            }
            let mut parts = split_outside_quotes(element, ';').into_iter();
            let name = parts.next().unwrap_or_default().trim();
            if !is_token(name) {
                return Err(format!("invalid extension name {name:?}"));
            }
            let mut offer = ExtensionOffer { name: name.to_owned(), params: Vec::new() };
            for p in parts {
                let p = p.trim();
                let (k, v) = match p.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(unquote(v.trim())?)),
                    None => (p, None),
                };
                if !is_token(k) {
                    return Err(format!("invalid extension parameter {k:?}"));
                }
                if let Some(v) = &v {
                    if !is_token(v) {
                        return Err(format!("invalid value for extension parameter {k}"));
                    }
                }
                offer.params.push((k.to_owned(), v));
            }
            out.push(offer);
        }
        Ok(out)
    }

    /// The value of the first parameter named `name`: `None` when absent,
    /// `Some(None)` when present without a value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref())
    }
}

impl fmt::Display for ExtensionOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (k, v) in &self.params {
            match v {
                Some(v) => write!(f, "; {k}={v}")?,
                None => write!(f, "; {k}")?,
            }
        }
        Ok(())
    }
}

/// A negotiated extension failed to process a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionError {
    /// The close code to fail the connection with (1002, 1007, 1009...).
    pub close_code: u16,
    /// A readable description.
    pub detail: String,
}

/// An extension: negotiation plus, optionally, a message transform.
///
/// A connection holds at most one extension that claims RSV bits; any
/// number may take part in negotiation only.
pub trait Extension: Send + fmt::Debug {
    /// The extension token as it appears in the header.
    fn name(&self) -> &str;

    /// Client: the offers to send, each a full header element
    /// (`name; param=value`). Several offers of the same extension are
    /// allowed, most preferred first (RFC 7692 §5).
    fn offers(&mut self) -> Vec<ExtensionOffer>;

    /// Server: given every offer of this extension in the client's order,
    /// choose one and return the response element, or `None` to decline.
    fn accept(&mut self, offers: &[ExtensionOffer]) -> Option<ExtensionOffer>;

    /// Client: the server's response for this extension. An error fails the
    /// handshake.
    fn finalize(&mut self, response: &ExtensionOffer) -> Result<(), String>;

    /// The RSV bits this extension claims once negotiated (wire positions).
    fn rsv_bits(&self) -> u8 {
        0
    }

    /// Whether a message may start with `rsv` set (checked on its first frame).
    fn accepts_rsv(&self, rsv: u8) -> bool {
        rsv & !self.rsv_bits() == 0
    }

    /// Decodes the next piece of an incoming message whose first frame had
    /// this extension's RSV bits. Appends the result to `out`, which must not
    /// grow past `limit` bytes (fail with 1009 instead of allocating more).
    fn decode(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>, limit: usize) -> Result<(), ExtensionError> {
        let _ = (input, fin, out, limit);
        Err(ExtensionError { close_code: 1002, detail: format!("{} does not decode messages", self.name()) })
    }

    /// Encodes the next piece of an outgoing message into `out`. Returns the
    /// RSV bits for the message's first frame, or `None` to send the piece
    /// untransformed (then `out` must be left untouched). `first` is true for
    /// the first piece of a message; every later piece of the same message
    /// must be treated the same way as the first.
    fn encode(
        &mut self,
        input: &[u8],
        first: bool,
        fin: bool,
        out: &mut Vec<u8>,
    ) -> Result<Option<u8>, ExtensionError> {
        let _ = (input, first, fin, out);
        Ok(None)
    }

    /// Called once the connection is closed, when no message can pass any
    /// more: frees what is kept between messages (a compression context
    /// can hold hundreds of kilobytes), so a closed connection that its
    /// owner has not dropped yet (one waiting for a garbage collector, in a
    /// binding) does not keep it. May be called more than once.
    fn release(&mut self) {}
}

/// Splits on `sep` where it is not inside a quoted string.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            c if c == sep && !in_quotes => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn unquote(v: &str) -> Result<String, String> {
    if let Some(inner) = v.strip_prefix('"') {
        let inner = inner.strip_suffix('"').ok_or_else(|| format!("unterminated quoted string {v:?}"))?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                out.extend(chars.next());
            } else {
                out.push(c);
            }
        }
        Ok(out)
    } else {
        Ok(v.to_owned())
    }
}

/// An HTTP token (RFC 7230 §3.2.6).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_with_params() {
        let v = ExtensionOffer::parse_list(
            "permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=\"10\" , x-foo",
        )
        .unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].name, "permessage-deflate");
        assert_eq!(v[0].param("client_max_window_bits"), Some(None));
        assert_eq!(v[1].param("server_max_window_bits"), Some(Some("10")));
        assert_eq!(v[1].param("nope"), None);
        assert_eq!(v[2].to_string(), "x-foo");
        assert_eq!(v[1].to_string(), "permessage-deflate; server_max_window_bits=10");
    }

    #[test]
    fn rejects_garbage() {
        assert!(ExtensionOffer::parse_list("a b").is_err());
        assert!(ExtensionOffer::parse_list("a; =1").is_err());
        assert!(ExtensionOffer::parse_list("a; b=\"1").is_err());
        assert!(ExtensionOffer::parse_list("a; b=\"x y\"").is_err());
        assert_eq!(ExtensionOffer::parse_list(" , ").unwrap(), vec![]);
    }
}
