//! A deliberately simple DEFLATE decoder (RFC 1951) written for the tests:
//! slow (one bit at a time, canonical Huffman codes walked length by
//! length), but it checks what a fast inflater never does: that every
//! back-reference stays within the window the sender agreed to (RFC 7692
//! §7.1.2) and within the history the receiver actually has, which is
//! empty at the start of each message when the sender keeps no context
//! (§7.1.1).

/// Length codes 257–285: base length and extra bits (RFC 1951 §3.2.5).
const LENGTH_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
/// Distance codes 0–29: base distance and extra bits.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/// The order in which a dynamic block lists its code length code lengths.
const CLEN_ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// A canonical Huffman code: how many codes have each length, and the
/// symbols in code order.
struct Code {
    count: [u16; 16],
    symbols: Vec<u16>,
}

impl Code {
    fn new(lengths: &[u8]) -> Code {
        let mut count = [0u16; 16];
        lengths.iter().for_each(|&l| count[usize::from(l)] += 1);
        count[0] = 0;
        let mut symbols = Vec::new();
        for len in 1..16u8 {
            symbols.extend((0..lengths.len() as u16).filter(|&s| lengths[usize::from(s)] == len));
        }
        Code { count, symbols }
    }
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    bit: u8,
}

impl Bits<'_> {
    fn bit(&mut self) -> Result<u32, String> {
        let byte = *self.data.get(self.pos).ok_or("the data ends inside a block")?;
        let b = (byte >> self.bit) & 1;
        self.bit += 1;
        if self.bit == 8 {
            self.bit = 0;
            self.pos += 1;
        }
        Ok(u32::from(b))
    }

    /// `n` bits, least significant first.
    fn bits(&mut self, n: u8) -> Result<u32, String> {
        (0..n).try_fold(0, |v, i| Ok(v | (self.bit()? << i)))
    }

    fn decode(&mut self, code: &Code) -> Result<u16, String> {
        let (mut value, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            value |= self.bit()? as i32;
            let count = i32::from(code.count[len]);
            if value - first < count {
                return Ok(code.symbols[(index + value - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            value <<= 1;
        }
        Err("invalid Huffman code".into())
    }
}

/// The receiving end of one direction: the bytes it has inflated and may
/// be referred back to, and the sender's window.
pub struct Checked {
    history: Vec<u8>,
    window: usize,
}

impl Checked {
    pub fn new(window_bits: u8) -> Checked {
        Checked { history: Vec::new(), window: 1 << window_bits }
    }

    /// Forgets the history (the sender reset its compressor).
    pub fn reset(&mut self) {
        self.history.clear();
    }

    /// Inflates one message's compressed payload (the §7.2.2 tail is
    /// appended here) and returns its bytes.
    pub fn message(&mut self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let data = [payload, &[0x00, 0x00, 0xff, 0xff]].concat();
        let mut bits = Bits { data: &data, pos: 0, bit: 0 };
        let start = self.history.len();
        while bits.pos < data.len() {
            let _final = bits.bit()?;
            match bits.bits(2)? {
                0 => {
                    if bits.bit != 0 {
                        bits.bit = 0;
                        bits.pos += 1;
                    }
                    let header = data.get(bits.pos..bits.pos + 4).ok_or("truncated stored block")?;
                    let len = usize::from(u16::from_le_bytes([header[0], header[1]]));
                    if u16::from_le_bytes([header[2], header[3]]) != !(len as u16) {
                        return Err("stored block length check fails".into());
                    }
                    bits.pos += 4;
                    let body = data.get(bits.pos..bits.pos + len).ok_or("truncated stored block")?;
                    self.history.extend_from_slice(body);
                    bits.pos += len;
                }
                1 => {
                    let mut lengths = [8u8; 288];
                    lengths[144..256].fill(9);
                    lengths[256..280].fill(7);
                    self.block(&mut bits, &Code::new(&lengths), &Code::new(&[5; 30]), start)?;
                }
                2 => {
                    let nlit = bits.bits(5)? as usize + 257;
                    let ndist = bits.bits(5)? as usize + 1;
                    let nclen = bits.bits(4)? as usize + 4;
                    let mut clen = [0u8; 19];
                    for &i in &CLEN_ORDER[..nclen] {
                        clen[i] = bits.bits(3)? as u8;
                    }
                    let clen = Code::new(&clen);
                    let mut lengths = Vec::with_capacity(nlit + ndist);
                    while lengths.len() < nlit + ndist {
                        let (value, repeat) = match bits.decode(&clen)? {
                            s @ 0..=15 => (s as u8, 1),
                            16 => (*lengths.last().ok_or("repeat with nothing before")?, 3 + bits.bits(2)?),
                            17 => (0, 3 + bits.bits(3)?),
                            _ => (0, 11 + bits.bits(7)?),
                        };
                        lengths.extend(std::iter::repeat_n(value, repeat as usize));
                    }
                    if lengths.len() != nlit + ndist {
                        return Err("code lengths overrun".into());
                    }
                    let (lit, dist) = lengths.split_at(nlit);
                    self.block(&mut bits, &Code::new(lit), &Code::new(dist), start)?;
                }
                _ => return Err("reserved block type".into()),
            }
        }
        Ok(self.history[start..].to_vec())
    }

    /// Decodes a Huffman block's symbols up to its end-of-block code.
    fn block(&mut self, bits: &mut Bits<'_>, lit: &Code, dist: &Code, start: usize) -> Result<(), String> {
        loop {
            let sym = usize::from(bits.decode(lit)?);
            if sym < 256 {
                self.history.push(sym as u8);
                continue;
            }
            if sym == 256 {
                return Ok(());
            }
            let i = sym - 257;
            let len =
                usize::from(*LENGTH_BASE.get(i).ok_or("invalid length code")?) + bits.bits(LENGTH_EXTRA[i])? as usize;
            let d = usize::from(bits.decode(dist)?);
            let distance =
                usize::from(*DIST_BASE.get(d).ok_or("invalid distance code")?) + bits.bits(DIST_EXTRA[d])? as usize;
            if distance > self.window {
                return Err(format!("distance {distance} is beyond the {}-byte window", self.window));
            }
            if distance > self.history.len() {
                let this_message = self.history.len() - start;
                return Err(format!(
                    "distance {distance} reaches before the history ({this_message} bytes of this message)"
                ));
            }
            for _ in 0..len {
                self.history.push(self.history[self.history.len() - distance]);
            }
        }
    }
}
