//! Unmasking client payloads while they are copied into the input buffer.
//!
//! A server must copy every received byte into its input buffer anyway (the
//! sans-IO `receive` borrows the caller's bytes only for the call). Unmasking
//! them in a second pass would read and write each payload byte again; for
//! large messages that doubles the cost of receiving. So `receive` walks the
//! frame headers as the bytes stream past, and XORs each payload on its way
//! into the buffer.
//!
//! The decoder still decodes and checks every header itself; the walk here
//! only needs lengths and keys. To tell the decoder that a payload is already
//! unmasked, the walk overwrites the frame's masking key in the buffer with
//! zeros: XOR with a zero key changes nothing, so a decoder that unmasks
//! again would still be correct, and [`crate::mask::apply_mask`] skips zero
//! keys. A genuine all-zero key from a client means exactly the same.
//!
//! The walk only runs while it knows where the next header is: from the
//! moment the connection has decoded everything buffered at a frame boundary
//! or inside a data frame (see [`Unmasker::Payload`]'s creation in the
//! connection). An unmasked or invalid header stops it; the decoder then
//! unmasks (or rejects) in place as before.
//!
//! Large single-frame messages that do not arrive in one read are not kept
//! in the input buffer at all: the walk *diverts* their payload into a
//! buffer of their own ([`Diverted`]), sized once from the header. In the
//! input buffer such a message would sit between the bytes before and after
//! it, so the buffer would either grow and walk through memory (each read
//! landing on cold cache lines) or have its unconsumed part moved to the
//! front again and again; diverted, every payload byte is copied once, into
//! memory the connection reuses for the next large message. Two such
//! buffers take turns, so the next message can start arriving while the
//! last one is still being handed out. The header stays in the input
//! buffer, where the decoder checks it as usual and then finds the payload
//! by the header's position.
//!
//! Where a diverted payload starts in its buffer is chosen too (see
//! [`place`]): a copy runs at full speed only for some distances between
//! source and destination modulo 4 KiB, and the buffer's own address is
//! whatever the allocator returned.

use std::collections::VecDeque;

use super::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::mask::{extend_copy, extend_masked_at, rotate};
use crate::utf8::Utf8Validator;

/// Payloads shorter than this are copied as they are, together with the
/// frames after them, and unmasked in place by the decoder: for small
/// frames one bulk copy plus an in-place pass over bytes still in the L1
/// cache beats walking the headers and copying frame by frame.
pub(crate) const FUSE_MIN: u64 = if cfg!(fuzzing) { 16 } else { 512 };

/// Where the walk stands at the end of the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unmasker {
    /// Not walking: bytes are appended as they are.
    Off,
    /// A header starts `pending` bytes before the end of the buffer (those
    /// bytes are its beginning; 0 when the next byte starts it).
    Header { pending: usize },
    /// Inside a payload left to the decoder: `remaining` bytes are to come.
    Skip { remaining: u64 },
    /// Inside a payload copied (and, with a nonzero key, unmasked) on the
    /// way in: `remaining` bytes of it are still to come, and `phase` bytes
    /// of it came before (only `phase % 4` matters). `text` validates a
    /// single-frame text message on the way too (see [`Walk::marks`]).
    Payload { key: [u8; 4], remaining: u64, phase: usize, text: Option<TextCheck> },
    /// Inside a diverted payload (see the module docs): `remaining` bytes
    /// of it are to come, into payload buffer `slot`; `text` validates it
    /// on the way while no error was found.
    Divert { key: [u8; 4], remaining: u64, phase: usize, slot: usize, text: Option<Utf8Validator> },
}

/// Payloads at least this long that do not arrive whole in one read are
/// diverted into a buffer of their own (see the module docs). Below it the
/// input buffer does as well, and a message that arrives whole in one read
/// is handed out from the input buffer without any further copy.
///
/// Fuzzing builds (`--cfg fuzzing`) lower this threshold and the two above,
/// so that the short inputs a fuzzer tries reach every path of the walk.
pub(crate) const DIVERT_MIN: u64 = if cfg!(fuzzing) { 32 } else { 16 << 10 };

/// A single-frame message whose payload the walk diverts (or diverted) into
/// payload buffer `slot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Diverted {
    /// The stream offset (in input-buffer terms: diverted payloads do not
    /// count) where the message's header ends.
    pub at: u64,
    /// Which of the connection's two payload buffers holds it.
    pub slot: usize,
    /// What the walk knows about its text.
    pub text: DivertedText,
}

/// Whether the walk validated a diverted payload as UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DivertedText {
    /// Binary, or text with an error somewhere (or cut short): the decoder
    /// validates the payload itself, from its first byte, so it reports the
    /// error as the incremental path would.
    Unchecked,
    /// Text, valid so far; the walk goes on checking.
    Checking,
    /// Text, all of it valid (and not ending inside a code point).
    Valid,
}

/// A connection's diverted payloads. Boxed and created for the first one
/// (most connections never see a large message, and an idle connection
/// should cost little memory), dropped when the connection releases its
/// memory with none pending.
#[derive(Debug, Default)]
pub(crate) struct Diversions {
    /// Diverted messages not yet handed out, oldest first (at most two).
    pub queue: VecDeque<Diverted>,
    /// The two payload buffers; a buffer no queued message names holds at
    /// most the padding its last payload had (see [`place`]).
    pub bufs: [Vec<u8>; 2],
    /// Where the payload starts in each buffer (see [`place`]); the bytes
    /// before are padding.
    pub starts: [usize; 2],
    /// The oldest message was handed out in the last event: the connection
    /// drops it from the queue when it next goes on.
    pub handed_out: bool,
}

impl Diversions {
    /// The payload bytes diverted into buffer `slot` so far.
    pub fn payload(&self, slot: usize) -> &[u8] {
        &self.bufs[slot][self.starts[slot]..]
    }
}

/// Where the walk puts diverted payloads, and what it may divert.
pub(crate) struct Divert<'a> {
    pub state: &'a mut Option<Box<Diversions>>,
    /// Larger payloads are left to the decoder, which rejects them (the
    /// walk must not allocate for them).
    pub max_len: u64,
}

/// A single-frame text message validated as it is copied in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TextCheck {
    /// The state after the payload bytes copied in so far.
    pub utf8: Utf8Validator,
    /// The stream offset where the payload starts.
    pub start: u64,
}

/// What the walk needs to know about the connection, and where it reports.
pub(crate) struct Walk<'a> {
    /// A client's walk: frames come unmasked (a masked one stops it).
    pub client: bool,
    /// Validate single-frame text messages (no extension transforms them
    /// and they are delivered whole).
    pub check_text: bool,
    /// The stream offset of `buf[0]`.
    pub base: u64,
    /// Stream offsets of the payloads of single-frame text messages found
    /// to be valid UTF-8 on the way in, so that the decoder need not read
    /// them again.
    pub marks: &'a mut VecDeque<u64>,
    /// Where large payloads go, when they may be diverted at all (no
    /// extension transforms messages and they are delivered whole).
    pub divert: Option<Divert<'a>>,
}

/// Text payloads shorter than this are left to the decoder: it validates
/// them right after they were copied in, from the cache, and for them the
/// walk's own per-frame work costs more than the second read. (A client,
/// which has nothing to unmask, stops walking at a frame this short.)
pub(crate) const TEXT_CHECK_MIN: u64 = if cfg!(fuzzing) { 32 } else { 16 << 10 };

/// At most this many marks are kept; older ones are dropped (the decoder
/// then validates those messages itself).
const MAX_MARKS: usize = 64;

impl Unmasker {
    /// A server's walk without text checks (for the tests of unmasking).
    #[cfg(test)]
    pub(crate) fn append(&mut self, buf: &mut Vec<u8>, data: &[u8]) {
        let mut marks = VecDeque::new();
        self.walk(buf, data, &mut Walk { client: false, check_text: false, base: 0, marks: &mut marks, divert: None });
    }

    /// Appends `data` to `buf`, unmasking the payloads of large frames on
    /// the way (and validating large single-frame text messages), up to the
    /// first small frame; the rest is copied in one piece.
    pub(crate) fn walk(&mut self, buf: &mut Vec<u8>, data: &[u8], ctx: &mut Walk<'_>) {
        buf.reserve(data.len());
        // `data[plain..pos]` is walked over and still to be copied as is.
        let mut plain = 0;
        let mut pos = 0;
        while pos < data.len() {
            match *self {
                Unmasker::Off => pos = data.len(),
                Unmasker::Skip { remaining } => {
                    let n = remaining.min((data.len() - pos) as u64);
                    pos += n as usize;
                    *self = if n == remaining {
                        Unmasker::Header { pending: 0 }
                    } else {
                        Unmasker::Skip { remaining: remaining - n }
                    };
                }
                Unmasker::Payload { key, remaining, phase, mut text } => {
                    extend_copy(buf, &data[plain..pos]);
                    let n = remaining.min((data.len() - pos) as u64) as usize;
                    let piece = &data[pos..pos + n];
                    match text.as_mut() {
                        Some(t) => {
                            if t.utf8.feed_copy(buf, piece, rotate(key, phase)).is_err() {
                                text = None; // The decoder finds the error itself.
                            }
                        }
                        None if key == [0; 4] => extend_copy(buf, piece),
                        None => extend_masked_at(buf, piece, key, phase),
                    }
                    pos += n;
                    plain = pos;
                    *self = if n as u64 == remaining {
                        if let Some(mut t) = text {
                            if t.utf8.finish().is_ok() {
                                if ctx.marks.len() == MAX_MARKS {
                                    ctx.marks.pop_front();
                                }
                                ctx.marks.push_back(t.start);
                            }
                        }
                        Unmasker::Header { pending: 0 }
                    } else {
                        Unmasker::Payload { key, remaining: remaining - n as u64, phase: (phase + n) & 3, text }
                    };
                }
                Unmasker::Divert { key, remaining, phase, slot, mut text } => {
                    let Some(d) = ctx.divert.as_mut().and_then(|d| d.state.as_deref_mut()) else {
                        unreachable!("payloads are diverted only where diverting is on")
                    };
                    let n = remaining.min((data.len() - pos) as u64) as usize;
                    let piece = &data[pos..pos + n];
                    let big = &mut d.bufs[slot];
                    match text.as_mut() {
                        Some(v) => {
                            if v.feed_copy(big, piece, rotate(key, phase)).is_err() {
                                text = None;
                                mark(&mut d.queue, slot, DivertedText::Unchecked);
                            }
                        }
                        None if key == [0; 4] => extend_copy(big, piece),
                        None => extend_masked_at(big, piece, key, phase),
                    }
                    pos += n;
                    plain = pos;
                    *self = if n as u64 == remaining {
                        if let Some(mut v) = text {
                            let ok = v.finish().is_ok();
                            mark(&mut d.queue, slot, if ok { DivertedText::Valid } else { DivertedText::Unchecked });
                        }
                        Unmasker::Header { pending: 0 }
                    } else {
                        Unmasker::Divert { key, remaining: remaining - n as u64, phase: (phase + n) & 3, slot, text }
                    };
                }
                Unmasker::Header { pending } => {
                    let decoded = if pending == 0 {
                        FrameHeader::decode(&data[pos..])
                    } else {
                        // The header began in an earlier piece; then this
                        // is the start of `data`, and those bytes end `buf`.
                        debug_assert!(pos == 0 && plain == 0);
                        let mut h = [0u8; MAX_HEADER_LEN];
                        h[..pending].copy_from_slice(&buf[buf.len() - pending..]);
                        let take = (MAX_HEADER_LEN - pending).min(data.len());
                        h[pending..pending + take].copy_from_slice(&data[..take]);
                        FrameHeader::decode(&h[..pending + take])
                    };
                    let (header, len) = match decoded {
                        Ok(Some(h)) => h,
                        Ok(None) => {
                            // Incomplete: the rest of `data` is all header.
                            *self = Unmasker::Header { pending: pending + data.len() - pos };
                            pos = data.len();
                            continue;
                        }
                        Err(_) => {
                            *self = Unmasker::Off;
                            continue;
                        }
                    };
                    // A server's frames come masked, a client's unmasked;
                    // the other kind is an error the decoder reports.
                    let wrong_masking = header.mask.is_some() == ctx.client;
                    let min = if ctx.client { TEXT_CHECK_MIN } else { FUSE_MIN };
                    if wrong_masking || header.len < min {
                        // Or small: then stop walking for the rest of this
                        // piece. Each header read here is a dependent load
                        // from the caller's buffer; for a run of small frames
                        // those loads would cost more than the fusing saves.
                        // The connection restarts the walk on the next read.
                        *self = Unmasker::Off;
                        continue;
                    }
                    pos += len - pending;
                    extend_copy(buf, &data[plain..pos]);
                    plain = pos;
                    let single = header.fin && header.rsv == 0;
                    let single_text = single && header.opcode == OpCode::Text;
                    let key = header.mask.unwrap_or([0; 4]);
                    if header.mask.is_some() {
                        // The key ends the header, now at the end of `buf`:
                        // zero it to mark the payload as unmasked (see the
                        // module docs).
                        let end = buf.len();
                        buf[end - 4..].fill(0);
                    }
                    let whole_here = header.len <= (data.len() - pos) as u64;
                    let single_data = single && matches!(header.opcode, OpCode::Text | OpCode::Binary);
                    let large = header.len >= DIVERT_MIN;
                    if let Some(d) =
                        ctx.divert.as_mut().filter(|d| large && single_data && !whole_here && header.len <= d.max_len)
                    {
                        let d = d.state.get_or_insert_with(Default::default);
                        if let Some(slot) = free_slot(d) {
                            let checking = single_text && ctx.check_text;
                            let src = data.as_ptr().wrapping_add(pos) as usize;
                            d.starts[slot] = place(&mut d.bufs[slot], header.len as usize, src);
                            let text_state = if checking { DivertedText::Checking } else { DivertedText::Unchecked };
                            d.queue.push_back(Diverted { at: ctx.base + buf.len() as u64, slot, text: text_state });
                            let text = checking.then(Utf8Validator::new);
                            *self = Unmasker::Divert { key, remaining: header.len, phase: 0, slot, text };
                            continue;
                        }
                    }
                    let text = (ctx.check_text && single_text && header.len >= TEXT_CHECK_MIN)
                        .then(|| TextCheck { utf8: Utf8Validator::new(), start: ctx.base + buf.len() as u64 });
                    *self = if header.mask.is_none() && text.is_none() {
                        // Nothing to do on the way in: walk past it.
                        Unmasker::Skip { remaining: header.len }
                    } else {
                        Unmasker::Payload { key, remaining: header.len, phase: 0, text }
                    };
                }
            }
        }
        extend_copy(buf, &data[plain..]);
    }
}

/// How far before its source, modulo 4 KiB, [`place`] puts a payload (at
/// least; a short one then moves back to the start of a cache line).
const PLACE_BEHIND: usize = 32;

/// Payloads at least this long (more than a core's L2 cache holds) keep
/// their source's alignment; shorter ones start on a cache line.
const PLACE_SAME_ALIGNMENT_MIN: usize = 256 << 10;

/// Makes room in `buf` (empty but for the padding of its last payload) for a
/// payload of `len` bytes whose first bytes are at address `src`, and pads
/// its start so that the payload lands a little before `src` modulo 4 KiB;
/// returns the padding.
///
/// Why: both `memcpy` and the vector kernels copy at a fraction of their
/// speed when the destination lies a little after the source modulo 4 KiB,
/// where a load can falsely depend on a recent store to another page (4K
/// aliasing), and where the buffer lands is up to the allocator. Behind,
/// the loads run ahead of the stores and never meet them. Measured on AMD
/// Zen 3 (64 KiB pieces): `memcpy` at 26 GB/s for distances of 42–127
/// bytes (3–6 GB/s for 2–40, see `mask::extend_copy`), 38 GB/s from -120 to
/// 0; the fused UTF-8 copy of a 256 KiB piece at 14–17 GB/s for 64–248
/// bytes, 18–19 GB/s from -64 to -16. Received in 64 KiB reads, mixed text
/// of 1 MiB went from 13.2–13.5 to 17.5–17.8 GB/s (client) and 14.5–14.9 to
/// 15.5–16.2 (server), binary from 26.6–30.6 to 34.2–34.8 (client), and
/// 64 KiB messages stayed where they were. Alignment matters next:
/// a 1 MiB text copied to exactly 32 bytes before its source (so with the
/// same alignment) ran at 18.6 GB/s against 16.5 starting on a cache line,
/// and a 64 KiB one at 14.5 against 16.0 the other way round.
///
/// (Those `memcpy` figures are from before plain copies of 4 KiB and more
/// moved to the masking kernel on AVX2 machines, see `mask::extend_copy`;
/// that kernel loses at most 10 % to 4K aliasing, the fused UTF-8 copy
/// more.)
///
/// The distance stays the same for every later piece when the caller reads
/// into one buffer in multiples of 4 KiB (or hands over a contiguous
/// stream); other reads leave it as good as chance. Costs at most 4 KiB of
/// padding per diverted payload (16 KiB or more). Other CPUs take none.
///
/// `buf` may still hold the padding of the payload before it (see
/// `Connection::settle`): what of it the new padding covers is reused, so a
/// buffer that goes on receiving large messages is not zeroed again for
/// each (4 % of the time of 64 KiB messages otherwise).
#[inline(never)]
fn place(buf: &mut Vec<u8>, len: usize, src: usize) -> usize {
    if !cfg!(target_arch = "x86_64") {
        buf.clear();
        buf.reserve_exact(len);
        return 0;
    }
    // Room first: growing may move the buffer, and the padding depends on
    // where it is.
    buf.reserve_exact((len + 4095).saturating_sub(buf.len()));
    let behind = src.wrapping_sub(PLACE_BEHIND);
    let target = if len >= PLACE_SAME_ALIGNMENT_MIN { behind } else { behind & !63 };
    let pad = target.wrapping_sub(buf.as_ptr() as usize) & 4095;
    buf.resize(pad, 0);
    pad
}

/// Diverted payloads at least this long may move into the buffer the
/// message before them has just left (see [`relocate`]).
pub(crate) const RELOCATE_MIN: u64 = if cfg!(fuzzing) { 64 } else { 512 << 10 };

/// Called when the message in payload buffer `free` has been handed out and
/// released: if the walk is diverting the next message into the other
/// buffer and little of it has arrived, moves those bytes into `free`, so
/// that the rest follows into memory the last message has just warmed.
///
/// Two buffers take turns so that a message can start arriving while the
/// one before it is handed out (see the module docs), but for large
/// messages two buffers no longer fit a core's L2 cache where one does: on
/// a Xeon with 2 MiB of L2 per core, a C loop copying 64 KiB reads of 1 MiB
/// messages ran at 16–17 GB/s into alternating buffers and at 22–24 GB/s
/// into one (at 512 KiB 32 against 42; at 4 MiB both 15). The move copies
/// at most an eighth of the message once, and only from [`RELOCATE_MIN`].
pub(crate) fn relocate(d: &mut Diversions, walk: &mut Unmasker, free: usize) {
    let Unmasker::Divert { slot, remaining, .. } = walk else { return };
    let from = *slot;
    if from == free || d.queue.len() != 1 || d.queue[0].slot != from {
        return;
    }
    let have = d.bufs[from].len() - d.starts[from];
    let total = have as u64 + *remaining;
    if total < RELOCATE_MIN || have as u64 > total / 8 {
        return;
    }
    let [a, b] = &mut d.bufs;
    let (src, dst) = if from == 0 { (a, b) } else { (b, a) };
    // The same distance to the reads that [`place`] chose for the payload.
    let len = total as usize;
    dst.reserve_exact((len + 4095).saturating_sub(dst.len()));
    let at = src.as_ptr() as usize + d.starts[from];
    let pad = if cfg!(target_arch = "x86_64") { at.wrapping_sub(dst.as_ptr() as usize) & 4095 } else { 0 };
    dst.resize(pad, 0);
    extend_copy(dst, &src[d.starts[from]..]);
    src.truncate(d.starts[from]);
    d.starts[free] = pad;
    d.queue[0].slot = free;
    *slot = free;
}

/// A payload buffer no diverted message uses, if there is one.
fn free_slot(d: &Diversions) -> Option<usize> {
    (0..2).find(|&s| d.queue.iter().all(|q| q.slot != s))
}

/// Records what the walk found about the text of the payload in `slot`.
fn mark(queue: &mut VecDeque<Diverted>, slot: usize, text: DivertedText) {
    if let Some(q) = queue.iter_mut().find(|q| q.slot == slot) {
        q.text = text;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::OpCode;
    use crate::mask::apply_mask;

    fn frame(payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
        let mut out = Vec::new();
        FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: key, len: payload.len() as u64 }
            .encode(&mut out);
        let start = out.len();
        out.extend_from_slice(payload);
        if let Some(key) = key {
            apply_mask(&mut out[start..], key, 0);
        }
        out
    }

    /// What the buffer must hold after the walk: the large frames before
    /// the first small one with a zeroed key and their payload in the clear,
    /// the rest as it came.
    fn expected(frames: &[(&[u8], [u8; 4])]) -> Vec<u8> {
        let fused = frames.iter().take_while(|(p, _)| p.len() as u64 >= FUSE_MIN).count();
        let walked = |(i, &(p, k)): (usize, &(&[u8], [u8; 4]))| frame(p, Some(if i < fused { [0; 4] } else { k }));
        frames.iter().enumerate().flat_map(walked).collect()
    }

    #[test]
    fn unmasks_large_frames_split_at_every_point() {
        let big: Vec<u8> = (0..600u32).map(|i| (i * 7) as u8).collect();
        let frames: [(&[u8], [u8; 4]); 5] = [
            (&big, [0x37, 0xfa, 0x21, 0x3d]),
            (&big[..FUSE_MIN as usize], [9, 9, 9, 9]),
            (b"hello", [1, 2, 3, 4]),
            (&big, [0xff, 0, 0x80, 7]),
            (b"tail bytes", [5, 6, 7, 8]),
        ];
        let wire: Vec<u8> = frames.iter().flat_map(|&(p, k)| frame(p, Some(k))).collect();
        let want = expected(&frames);
        for a in 0..=wire.len() {
            for b in [a, a + 1, a + 13, a + 600, wire.len()] {
                let b = b.min(wire.len());
                let mut buf = Vec::new();
                let mut u = Unmasker::Header { pending: 0 };
                u.append(&mut buf, &wire[..a]);
                u.append(&mut buf, &wire[a..b]);
                u.append(&mut buf, &wire[b..]);
                assert_eq!(buf, want, "split at {a}, {b}");
                assert_eq!(u, Unmasker::Off, "the small frame stops the walk");
            }
        }
    }

    #[test]
    fn stops_at_an_unmasked_or_invalid_header() {
        let big = vec![0x55u8; 700];
        let mut wire = frame(&big, Some([1, 2, 3, 4]));
        wire.extend(frame(b"plain", None));
        wire.extend(frame(&big, Some([5, 6, 7, 8])));
        let mut buf = Vec::new();
        let mut u = Unmasker::Header { pending: 0 };
        u.append(&mut buf, &wire);
        assert_eq!(u, Unmasker::Off);
        let mut want = expected(&[(&big, [1, 2, 3, 4])]);
        want.extend_from_slice(&wire[want.len()..]);
        assert_eq!(buf, want, "bytes after the unmasked header are left alone");

        let mut buf = Vec::new();
        let mut u = Unmasker::Header { pending: 0 };
        u.append(&mut buf, &[0x83, 0x80, 1, 2, 3, 4]); // reserved opcode
        assert_eq!((u, buf), (Unmasker::Off, vec![0x83, 0x80, 1, 2, 3, 4]));
    }

    #[test]
    fn continues_a_payload_at_its_phase() {
        let payload: Vec<u8> = (0..100).collect();
        let key = [0x10, 0x20, 0x30, 0x40];
        let wire = frame(&payload, Some(key));
        // Start inside the payload, 7 bytes in: as the connection does when
        // it has unmasked a frame's first bytes itself.
        let mut u = Unmasker::Payload { key, remaining: 93, phase: 7, text: None };
        let mut buf = Vec::new();
        u.append(&mut buf, &wire[2 + 4 + 7..]);
        assert_eq!(buf, &payload[7..]);
        assert_eq!(u, Unmasker::Header { pending: 0 });
    }
    /// The connection's use of the walk: whatever way the stream is cut
    /// into reads (and whether events are polled between reads), a server
    /// yields the same events.
    #[test]
    fn connection_events_do_not_depend_on_read_sizes() {
        use crate::{Config, Connection, Event, Role};
        let big: Vec<u8> = (0..1500u32).map(|i| b"abcdefgh"[i as usize % 8] + (i % 3) as u8).collect();
        let mut wire = Vec::new();
        let mut put = |fin: bool, opcode: OpCode, payload: &[u8], key: [u8; 4]| {
            FrameHeader { fin, rsv: 0, opcode, mask: Some(key), len: payload.len() as u64 }.encode(&mut wire);
            let start = wire.len();
            wire.extend_from_slice(payload);
            apply_mask(&mut wire[start..], key, 0);
        };
        put(true, OpCode::Text, b"small", [1, 2, 3, 4]);
        put(true, OpCode::Binary, &big, [5, 6, 7, 8]);
        put(false, OpCode::Text, &big[..700], [9, 10, 11, 12]);
        put(true, OpCode::Ping, b"are you there", [13, 14, 15, 16]);
        put(false, OpCode::Continuation, &big[700..1000], [17, 18, 19, 20]);
        put(true, OpCode::Continuation, &big[1000..], [21, 22, 23, 24]);
        put(true, OpCode::Binary, &big[..999], [0, 0, 0, 0]);
        put(true, OpCode::Binary, b"", [25, 26, 27, 28]);

        let run = |cuts: &[usize], poll_between: bool| {
            let mut conn = Connection::open(Role::Server, Config::default(), None);
            let mut events = Vec::new();
            let mut last = 0;
            for &cut in cuts.iter().chain([wire.len()].iter()) {
                conn.receive(&wire[last..cut]);
                last = cut;
                if poll_between || cut == wire.len() {
                    while let Some(e) = conn.poll_event().unwrap() {
                        events.push(format!("{e:?}"));
                    }
                }
            }
            events
        };
        let whole = run(&[], true);
        assert_eq!(whole.len(), 6, "{whole:?}");
        assert_eq!(whole[1], format!("{:?}", Event::Binary(&big)));
        for step in [1, 2, 3, 5, 7, 13, 64, 511, 512, 700, 1499] {
            let cuts: Vec<usize> = (step..wire.len()).step_by(step).collect();
            assert_eq!(run(&cuts, true), whole, "reads of {step}");
            assert_eq!(run(&cuts, false), whole, "reads of {step}, polled at the end");
            let odd: Vec<usize> = cuts.iter().enumerate().filter(|(i, _)| i % 3 == 0).map(|(_, &c)| c).collect();
            assert_eq!(run(&odd, true), whole, "reads of {step} and {}", 3 * step);
        }
    }
}
