//! Close codes and close frame payloads (RFC 6455 §5.5.1, §7.4).

/// 1000: normal closure.
pub const NORMAL: u16 = 1000;
/// 1001: the endpoint is going away.
pub const GOING_AWAY: u16 = 1001;
/// 1002: protocol error.
pub const PROTOCOL_ERROR: u16 = 1002;
/// 1003: a data type the endpoint cannot accept.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// 1005: no status code was present. Reported locally, never sent.
pub const NO_STATUS_RCVD: u16 = 1005;
/// 1006: the connection closed without a close frame. Reported locally, never sent.
pub const ABNORMAL_CLOSURE: u16 = 1006;
/// 1007: message data inconsistent with its type (bad UTF-8 in text).
pub const INVALID_PAYLOAD: u16 = 1007;
/// 1008: a policy violation.
pub const POLICY_VIOLATION: u16 = 1008;
/// 1009: a message too big to process.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// 1010: the client expected an extension the server did not negotiate.
pub const MANDATORY_EXTENSION: u16 = 1010;
/// 1011: the server met an unexpected condition.
pub const INTERNAL_ERROR: u16 = 1011;
/// 1012: the service is restarting.
pub const SERVICE_RESTART: u16 = 1012;
/// 1013: try again later.
pub const TRY_AGAIN_LATER: u16 = 1013;
/// 1014: a gateway received an invalid response upstream.
pub const BAD_GATEWAY: u16 = 1014;
/// 1015: TLS handshake failure. Reported locally, never sent.
pub const TLS_HANDSHAKE: u16 = 1015;

/// The longest close reason that fits a control frame (125 − 2 code bytes).
pub const MAX_REASON_LEN: usize = 123;

/// Whether `code` may appear in a close frame on the wire (§7.4.1, §7.4.2 and
/// the IANA registry): 1000–1003, 1007–1014 and 3000–4999.
pub fn is_valid_wire_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A parsed close frame payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosePayload<'a> {
    /// The code; [`NO_STATUS_RCVD`] when the payload was empty.
    pub code: u16,
    /// The reason, already checked to be UTF-8.
    pub reason: &'a str,
}

/// Why a received close payload is invalid, with the close code to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosePayloadError {
    /// A 1-byte payload (§5.5.1).
    OneByte,
    /// A code that must not be sent (§7.4).
    InvalidCode(u16),
    /// The reason is not UTF-8 (§5.5.1, §8.1).
    InvalidReason,
}

impl ClosePayloadError {
    /// The close code to fail the connection with.
    pub fn close_code(self) -> u16 {
        match self {
            ClosePayloadError::InvalidReason => INVALID_PAYLOAD,
            _ => PROTOCOL_ERROR,
        }
    }
}

/// Parses and validates a received close frame payload.
pub fn parse_payload(payload: &[u8]) -> Result<ClosePayload<'_>, ClosePayloadError> {
    match payload {
        [] => Ok(ClosePayload { code: NO_STATUS_RCVD, reason: "" }),
        [_] => Err(ClosePayloadError::OneByte),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_wire_code(code) {
                return Err(ClosePayloadError::InvalidCode(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| ClosePayloadError::InvalidReason)?;
            Ok(ClosePayload { code, reason })
        }
    }
}

/// Encodes a close payload into `out`. [`NO_STATUS_RCVD`] encodes as an
/// empty payload, the way to send a close frame without a code.
pub fn encode_payload(code: u16, reason: &str, out: &mut Vec<u8>) {
    if code == NO_STATUS_RCVD {
        return;
    }
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes() {
        for c in 0..=u16::MAX {
            let expect = (1000..=1003).contains(&c) || (1007..=1014).contains(&c) || (3000..=4999).contains(&c);
            assert_eq!(is_valid_wire_code(c), expect, "{c}");
        }
    }

    #[test]
    fn payloads() {
        assert_eq!(parse_payload(b""), Ok(ClosePayload { code: 1005, reason: "" }));
        assert_eq!(parse_payload(b"\x03"), Err(ClosePayloadError::OneByte));
        assert_eq!(parse_payload(b"\x03\xe8bye"), Ok(ClosePayload { code: 1000, reason: "bye" }));
        assert_eq!(parse_payload(b"\x03\xed"), Err(ClosePayloadError::InvalidCode(1005)));
        assert_eq!(parse_payload(b"\x03\xe8\xff").unwrap_err().close_code(), 1007);
        assert_eq!(parse_payload(b"\x0b\xb7").unwrap_err().close_code(), 1002);
    }
}
