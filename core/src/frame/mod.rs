//! The frame header codec (RFC 6455 §5.2).
//!
//! Decoding is split from payload handling on purpose: the connection reads a
//! header, checks it against the rules of its role and state, and then consumes
//! the payload in whatever pieces the transport delivers. A header decoder
//! that lacks bytes says so and consumes nothing.

pub(crate) mod unmasker;

/// The FIN bit of the first header byte.
pub const FIN: u8 = 0x80;
/// RSV1, claimed by permessage-deflate (RFC 7692).
pub const RSV1: u8 = 0x40;
/// RSV2.
pub const RSV2: u8 = 0x20;
/// RSV3.
pub const RSV3: u8 = 0x10;
/// All three reserved bits.
pub const RSV_MASK: u8 = RSV1 | RSV2 | RSV3;

/// The largest payload a control frame may carry (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// The largest frame header: 2 bytes, 8 of extended length, 4 of mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// A frame opcode (§5.2, §11.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    /// Continues a fragmented message.
    Continuation = 0x0,
    /// Starts a text message.
    Text = 0x1,
    /// Starts a binary message.
    Binary = 0x2,
    /// Close control frame.
    Close = 0x8,
    /// Ping control frame.
    Ping = 0x9,
    /// Pong control frame.
    Pong = 0xA,
}

impl OpCode {
    /// Maps the 4-bit wire value; reserved values give `None`.
    pub fn from_u8(v: u8) -> Option<OpCode> {
        Some(match v {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// Control frames have the high bit of the opcode set (§5.5).
    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// The RSV bits, in their wire positions (see [`RSV1`]).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present exactly when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Payload length.
    pub len: u64,
}

/// Why a header is invalid on its own, whatever the connection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// An opcode reserved by §5.2 (3–7, B–F).
    ReservedOpCode(u8),
    /// A 64-bit length with the most significant bit set (§5.2).
    LengthTooLarge,
    /// A control frame longer than 125 bytes (§5.5).
    ControlTooLong,
    /// A control frame without FIN (§5.5).
    ControlFragmented,
    /// A length not encoded in the minimal number of bytes (§5.2).
    NonMinimalLength,
}

impl FrameHeader {
    /// Decodes a header from the start of `buf`.
    ///
    /// Returns the header and its length in bytes, or `Ok(None)` when `buf`
    /// does not yet hold the whole header.
    #[inline]
    pub fn decode(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, HeaderError> {
        let [b0, b1, ..] = *buf else { return Ok(None) };
        let opcode = OpCode::from_u8(b0 & 0x0f).ok_or(HeaderError::ReservedOpCode(b0 & 0x0f))?;
        let fin = b0 & FIN != 0;
        if opcode.is_control() {
            if !fin {
                return Err(HeaderError::ControlFragmented);
            }
            if (b1 & 0x7f) as usize > MAX_CONTROL_PAYLOAD {
                return Err(HeaderError::ControlTooLong);
            }
        }
        let masked = b1 & 0x80 != 0;
        let (len, mut pos) = match b1 & 0x7f {
            126 => {
                let Some(b) = buf.get(2..4) else { return Ok(None) };
                let len = u16::from_be_bytes([b[0], b[1]]) as u64;
                if len < 126 {
                    return Err(HeaderError::NonMinimalLength);
                }
                (len, 4)
            }
            127 => {
                let Some(b) = buf.get(2..10) else { return Ok(None) };
                let len = u64::from_be_bytes(b.try_into().expect("8 bytes"));
                if len >> 63 != 0 {
                    return Err(HeaderError::LengthTooLarge);
                }
                if len <= 0xffff {
                    return Err(HeaderError::NonMinimalLength);
                }
                (len, 10)
            }
            n => (n as u64, 2),
        };
        let mask = if masked {
            let Some(k) = buf.get(pos..pos + 4) else { return Ok(None) };
            pos += 4;
            Some([k[0], k[1], k[2], k[3]])
        } else {
            None
        };
        Ok(Some((FrameHeader { fin, rsv: b0 & RSV_MASK, opcode, mask, len }, pos)))
    }

    /// Decodes a header whose masking key has not all arrived: everything
    /// else is known, so the connection can check it (and refuse a bad one,
    /// as soon as the bytes that make it bad are in) without waiting for
    /// four bytes that cannot make it good. The key reads as zeros.
    ///
    /// `Ok(None)` when more than the key is missing, or nothing is (then
    /// [`decode`](Self::decode) has the header).
    pub fn decode_without_key(buf: &[u8]) -> Result<Option<FrameHeader>, HeaderError> {
        let [_, b1, ..] = *buf else { return Ok(None) };
        let fixed = 2 + match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        if b1 & 0x80 == 0 || buf.len() < fixed || buf.len() >= fixed + 4 {
            return Ok(None);
        }
        let mut padded = [0u8; MAX_HEADER_LEN];
        padded[..fixed].copy_from_slice(&buf[..fixed]);
        Ok(Self::decode(&padded[..fixed + 4])?.map(|(h, _)| h))
    }

    /// Appends the encoded header to `out`.
    #[inline]
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut h = [0u8; MAX_HEADER_LEN];
        let n = self.encode_into(&mut h);
        out.extend_from_slice(&h[..n]);
    }

    /// Writes the header into `h`, returning its length.
    #[inline]
    pub fn encode_into(&self, h: &mut [u8; MAX_HEADER_LEN]) -> usize {
        h[0] = if self.fin { FIN } else { 0 } | (self.rsv & RSV_MASK) | self.opcode as u8;
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut pos = if self.len < 126 {
            h[1] = mask_bit | self.len as u8;
            2
        } else if self.len <= 0xffff {
            h[1] = mask_bit | 126;
            h[2..4].copy_from_slice(&(self.len as u16).to_be_bytes());
            4
        } else {
            h[1] = mask_bit | 127;
            h[2..10].copy_from_slice(&self.len.to_be_bytes());
            10
        };
        if let Some(k) = self.mask {
            h[pos..pos + 4].copy_from_slice(&k);
            pos += 4;
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(h: FrameHeader) {
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(FrameHeader::decode(&out), Ok(Some((h, out.len()))));
        for cut in 0..out.len() {
            assert_eq!(FrameHeader::decode(&out[..cut]), Ok(None), "cut {cut}");
        }
    }

    #[test]
    fn lengths_7_16_64_bit() {
        for len in [0, 1, 125, 126, 127, 0xffff, 0x10000, 1 << 40] {
            for mask in [None, Some([1, 2, 3, 4])] {
                roundtrip(FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask, len });
            }
        }
    }

    #[test]
    fn rfc6455_5_7_examples() {
        // Unmasked "Hello".
        let (h, n) = FrameHeader::decode(&[0x81, 0x05, b'H']).unwrap().unwrap();
        assert_eq!((h.fin, h.opcode, h.len, h.mask, n), (true, OpCode::Text, 5, None, 2));
        // 256 bytes binary, unmasked: 0x82 0x7E 0x0100.
        let (h, n) = FrameHeader::decode(&[0x82, 0x7e, 0x01, 0x00]).unwrap().unwrap();
        assert_eq!((h.len, n), (256, 4));
        // 64 KiB binary: 0x82 0x7F 0x0000000000010000.
        let (h, n) = FrameHeader::decode(&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap().unwrap();
        assert_eq!((h.len, n), (65536, 10));
    }

    #[test]
    fn headers_without_their_key() {
        let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: Some([1, 2, 3, 4]), len: 300 };
        let mut out = Vec::new();
        h.encode(&mut out);
        let keyless = FrameHeader { mask: Some([0; 4]), ..h };
        for cut in 0..=out.len() {
            let expected = (4..8).contains(&cut).then_some(keyless);
            assert_eq!(FrameHeader::decode_without_key(&out[..cut]), Ok(expected), "cut {cut}");
        }
        // Unmasked headers have no key to wait for; bad ones still fail.
        assert_eq!(FrameHeader::decode_without_key(&[0x82, 0x05]), Ok(None));
        assert_eq!(FrameHeader::decode_without_key(&[0x83, 0x85]), Err(HeaderError::ReservedOpCode(3)));
        assert_eq!(FrameHeader::decode_without_key(&[0x82, 0xfe, 0, 5, 1]), Err(HeaderError::NonMinimalLength));
    }

    #[test]
    fn invalid_headers() {
        assert_eq!(FrameHeader::decode(&[0x83, 0]), Err(HeaderError::ReservedOpCode(3)));
        assert_eq!(FrameHeader::decode(&[0x8b, 0]), Err(HeaderError::ReservedOpCode(0xb)));
        assert_eq!(FrameHeader::decode(&[0x09, 0]), Err(HeaderError::ControlFragmented));
        assert_eq!(FrameHeader::decode(&[0x89, 126]), Err(HeaderError::ControlTooLong));
        assert_eq!(FrameHeader::decode(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]), Err(HeaderError::LengthTooLarge));
        assert_eq!(FrameHeader::decode(&[0x82, 126, 0, 5]), Err(HeaderError::NonMinimalLength));
    }
}
