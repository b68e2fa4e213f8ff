//! What the codec benchmark feeds every library: wire streams built by an
//! encoder written here (so the streams do not depend on the code under
//! test), and in-memory transports that hand those streams out in
//! read-sized pieces, cycling forever so a long-lived connection can be
//! measured without being rebuilt between iterations.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

/// One benchmark input: a wire stream and what decoding it must yield.
pub struct Stream {
    /// The bytes on the wire.
    pub wire: Vec<u8>,
    /// The payload of one message (every message in the stream is equal).
    pub payload: Vec<u8>,
    /// How many messages the stream holds.
    pub messages: usize,
}

impl Stream {
    /// Payload bytes in the whole stream (what throughput is counted in).
    pub fn payload_bytes(&self) -> u64 {
        (self.payload.len() * self.messages) as u64
    }
}

/// The kinds of message stream measured.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Binary,
    Text,
    /// Text split into four frames (a fragment boundary may cut a code point).
    TextFragmented,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Binary => "binary",
            Kind::Text => "text",
            Kind::TextFragmented => "text4frag",
        }
    }
}

/// Enough messages for about 512 KiB of payload per pass, and at least two.
pub fn message_count(size: usize) -> usize {
    ((512 << 10) / size).max(2)
}

/// A payload of `size` bytes: counting bytes for binary, and for text a mix
/// of ASCII with 2-, 3- and 4-byte code points (about half the bytes are
/// non-ASCII), so both the ASCII fast path and the multi-byte path of a
/// validator are exercised.
pub fn payload(kind: Kind, size: usize) -> Vec<u8> {
    if kind == Kind::Binary {
        return (0..size).map(|i| (i * 31 + 7) as u8).collect();
    }
    const PIECES: &[&str] =
        &["The quick brown fox ", "déjà vu ", "Ωμέγα ", "€ 2½ ", "日本語のテキスト ", "🦀🎉 ", "ok. "];
    let mut out = String::with_capacity(size);
    'fill: loop {
        for piece in PIECES {
            for ch in piece.chars() {
                if out.len() + ch.len_utf8() > size {
                    break 'fill;
                }
                out.push(ch);
            }
        }
    }
    while out.len() < size {
        out.push('.');
    }
    out.into_bytes()
}

/// Appends one frame. `mask` masks the payload (client to server).
pub fn write_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
}

/// Builds the stream of `message_count(size)` messages of `kind`.
pub fn build(kind: Kind, size: usize, masked: bool) -> Stream {
    let payload = payload(kind, size);
    let messages = message_count(size);
    let mut wire = Vec::with_capacity(messages * (size + 14 * 4));
    for m in 0..messages {
        // A different key per frame, as a real client would use.
        let mut key_state = (m as u32).wrapping_mul(0x9e37_79b9) ^ 0x5bd1_e995;
        let mut next_key = || {
            key_state = key_state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            masked.then(|| key_state.to_le_bytes())
        };
        match kind {
            Kind::Binary => write_frame(&mut wire, true, 0x2, &payload, next_key()),
            Kind::Text => write_frame(&mut wire, true, 0x1, &payload, next_key()),
            Kind::TextFragmented => {
                let q = size / 4;
                let cuts = [0, q, 2 * q, 3 * q, size];
                for i in 0..4 {
                    let opcode = if i == 0 { 0x1 } else { 0x0 };
                    write_frame(&mut wire, i == 3, opcode, &payload[cuts[i]..cuts[i + 1]], next_key());
                }
            }
        }
    }
    Stream { wire, payload, messages }
}

/// A transport that reads a stream over and over in pieces of at most
/// `chunk` bytes (a read never crosses the end of the stream, so each pass
/// ends on a message boundary), and whose writes land in a reusable buffer.
///
/// The write buffer starts on a page boundary, for every library alike: a
/// copy's speed depends on where its destination lies relative to its
/// source modulo 4 KiB (by up to a third on the machine of BENCHMARKS.md),
/// so sinks wherever the allocator put them would hand one library or
/// another a faster or slower copy by chance.
pub struct Loop {
    data: &'static [u8],
    pos: usize,
    chunk: usize,
    written: Vec<u8>,
    /// Padding before the page boundary where written bytes start.
    pad: usize,
}

impl Loop {
    pub fn new(data: &'static [u8], chunk: usize) -> Loop {
        Loop { data, pos: 0, chunk, written: Vec::new(), pad: 0 }
    }

    fn next_piece(&mut self, room: usize) -> &'static [u8] {
        let n = self.chunk.min(room).min(self.data.len() - self.pos);
        let piece = &self.data[self.pos..self.pos + n];
        self.pos += n;
        if self.pos == self.data.len() {
            self.pos = 0;
        }
        piece
    }
}

impl Read for Loop {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let piece = self.next_piece(buf.len());
        buf[..piece.len()].copy_from_slice(piece);
        Ok(piece.len())
    }
}

impl Loop {
    /// Copies written bytes as a socket would copy them into the kernel;
    /// the buffer is recycled so that it never grows past a few MiB.
    pub fn sink(&mut self, buf: &[u8]) {
        if self.written.capacity() == 0 {
            // Room for the limit and one more large write, never regrown.
            self.written.reserve_exact(SINK_LIMIT + (4 << 20) + 4096);
            self.pad = self.written.as_ptr().align_offset(4096);
            self.written.resize(self.pad, 0);
        }
        if self.written.len() - self.pad + buf.len() > SINK_LIMIT {
            self.written.truncate(self.pad);
        }
        self.written.extend_from_slice(buf);
    }
}

const SINK_LIMIT: usize = 8 << 20;

impl Write for Loop {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sink(buf);
        Ok(buf.len())
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut n = 0;
        for b in bufs {
            self.sink(b);
            n += b.len();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl tokio::io::AsyncRead for Loop {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let piece = this.next_piece(buf.remaining());
        buf.put_slice(piece);
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Loop {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().sink(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut n = 0;
        for b in bufs {
            this.sink(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
