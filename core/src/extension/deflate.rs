//! permessage-deflate (RFC 7692).
//!
//! Negotiation follows §5 and §7.1: a client makes one offer from its
//! [`DeflateConfig`]; a server walks the client's offers in order and answers
//! the first it can accept, declining offers with unknown, duplicate or
//! invalid parameters (§7.1). Messages are compressed with a sync flush and
//! the trailing `00 00 ff ff` removed (§7.2.1), and restored before
//! inflating (§7.2.2).
//!
//! Compression uses `zlib-rs` (the pure-Rust backend of `flate2`) directly,
//! because `flate2` does not expose zlib's memory level, and memory is what
//! decides how many compressed connections a server can hold.
//!
//! Memory. A zlib-rs compressor costs at least ~134 KiB (a fixed 128 KiB hash
//! table) and an inflater ~46 KiB. A side that does not keep its context
//! between messages needs no state between messages, so such compressors and
//! inflaters are borrowed from a small per-thread pool for the length of one
//! message and returned reset: an idle connection then holds none (a
//! fragmented message gets a fresh compressor instead; see `pool` for why). By
//! default a server keeps no context for the messages it sends (it declares
//! `server_no_context_takeover`), so an idle server connection costs one
//! inflater (~46 KiB, for the client's context) against ~300 KiB for zlib's
//! defaults; `client_no_context_takeover` as well brings it to zero, and
//! keeping context with larger windows gives the best ratio. BENCHMARKS.md
//! has the measured figures.
//!
//! Decompression is bounded (§8.1 of the issue this answers: bombs): output
//! never grows past the room left under the connection's message limit, and
//! the connection fails with 1009 as soon as the inflater has more to give.

use std::cell::RefCell;
use std::fmt;

use zlib_rs::{Deflate, DeflateFlush, Inflate, InflateFlush, Status};

use super::{Extension, ExtensionError, ExtensionOffer};
use crate::connection::Role;
use crate::frame::RSV1;

/// The extension token.
pub const NAME: &str = "permessage-deflate";

/// The bytes a sync flush ends with, removed on send and restored on receive.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Whole messages at least this long are sent plain when compressing would
/// make them larger. Shorter ones are sent compressed regardless, as other
/// implementations and the RFC's examples do: a few bytes do not matter.
const PLAIN_FALLBACK_MIN: usize = 4096;

/// permessage-deflate settings, named as in RFC 7692 §7.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Server's compressor resets after each message. A client offers it; a
    /// server declares it (and always honours a client's request).
    pub server_no_context_takeover: bool,
    /// Client's compressor resets after each message. A client offers it; a
    /// server may request it even when not offered (§7.1.1.2).
    pub client_no_context_takeover: bool,
    /// The largest LZ77 window (8–15) for the server's compressor: a client
    /// asks for it; a server uses it as its own cap.
    pub server_max_window_bits: Option<u8>,
    /// The largest window (8–15) for the client's compressor. A client offers
    /// the parameter always (with this value, or bare to say it can honour
    /// one); a server requests it when the client offered the parameter.
    pub client_max_window_bits: Option<u8>,
    /// zlib compression level, 0–9.
    pub level: u8,
    /// zlib memory level, 1–9: lower costs less memory and ratio.
    pub mem_level: u8,
    /// Messages shorter than this are sent uncompressed.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    /// The server keeps no compression context between messages, so its
    /// compressors come from the per-thread pool and an idle server
    /// connection holds only the inflater for the client's context (see the
    /// module docs and BENCHMARKS.md for the figures). Everything else is as
    /// RFC 7692 leaves it.
    fn default() -> Self {
        DeflateConfig {
            server_no_context_takeover: true,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: None,
            level: 6,
            mem_level: 8,
            threshold: 0,
        }
    }
}

impl DeflateConfig {
    /// Checks ranges; used by the bindings to reject bad settings early.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("server_max_window_bits", self.server_max_window_bits),
            ("client_max_window_bits", self.client_max_window_bits),
        ] {
            if let Some(v) = v {
                if !(8..=15).contains(&v) {
                    return Err(format!("{name} must be 8..=15, not {v}"));
                }
            }
        }
        if self.level > 9 {
            return Err(format!("level must be 0..=9, not {}", self.level));
        }
        if !(1..=9).contains(&self.mem_level) {
            return Err(format!("mem_level must be 1..=9, not {}", self.mem_level));
        }
        Ok(())
    }
}

/// What one side agreed to, after negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Agreed {
    /// Our compressor resets after each message.
    local_no_context: bool,
    /// The peer's compressor resets after each message.
    remote_no_context: bool,
    /// The window our compressor may use (8 means: do not compress).
    local_window: u8,
}

/// The permessage-deflate extension for one connection.
pub struct PerMessageDeflate {
    role: Role,
    config: DeflateConfig,
    agreed: Option<Agreed>,
    /// Held between messages only when context is kept.
    deflate: Option<Deflate>,
    inflate: Option<Inflate>,
    /// Whether the message being sent is compressed (decided on its first piece).
    sending_compressed: bool,
}

impl fmt::Debug for PerMessageDeflate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerMessageDeflate")
            .field("role", &self.role)
            .field("config", &self.config)
            .field("agreed", &self.agreed)
            .field("holds_deflate", &self.deflate.is_some())
            .field("holds_inflate", &self.inflate.is_some())
            .finish()
    }
}

impl PerMessageDeflate {
    /// The client's offer (§7.1): the config's parameters, and always
    /// `client_max_window_bits` (with the config's value, else bare), which
    /// lets a server that wants a smaller client window ask for it.
    fn offer(&self) -> ExtensionOffer {
        let c = &self.config;
        let mut params = Vec::new();
        if c.server_no_context_takeover {
            params.push(("server_no_context_takeover".to_owned(), None));
        }
        if c.client_no_context_takeover {
            params.push(("client_no_context_takeover".to_owned(), None));
        }
        if let Some(w) = c.server_max_window_bits {
            params.push(("server_max_window_bits".to_owned(), Some(w.to_string())));
        }
        params.push(("client_max_window_bits".to_owned(), c.client_max_window_bits.map(|w| w.to_string())));
        ExtensionOffer { name: NAME.to_owned(), params }
    }

    /// Creates the extension for a connection of `role`.
    pub fn new(role: Role, config: DeflateConfig) -> Self {
        PerMessageDeflate { role, config, agreed: None, deflate: None, inflate: None, sending_compressed: false }
    }

    /// The negotiated parameters as (our compressor keeps no context, the
    /// peer's keeps none, our window bits); `None` before negotiation.
    pub fn negotiated(&self) -> Option<(bool, bool, u8)> {
        self.agreed.map(|a| (a.local_no_context, a.remote_no_context, a.local_window))
    }

    /// Whether this end holds compression state between messages now.
    pub fn holds_state(&self) -> bool {
        self.deflate.is_some() || self.inflate.is_some()
    }

    fn server_answer(&self, offer: &ExtensionOffer) -> Option<(ExtensionOffer, Agreed)> {
        let p = Params::parse(offer, true).ok()?;
        let mut response = ExtensionOffer { name: NAME.to_owned(), params: Vec::new() };
        let server_no_context = p.server_no_context_takeover || self.config.server_no_context_takeover;
        if server_no_context {
            response.params.push(("server_no_context_takeover".into(), None));
        }
        let client_no_context = p.client_no_context_takeover || self.config.client_no_context_takeover;
        if client_no_context {
            response.params.push(("client_no_context_takeover".into(), None));
        }
        // Our compressor's window: the client's cap and ours, whichever is lower.
        let window = match (p.server_max_window_bits, self.config.server_max_window_bits) {
            (Some(Some(a)), Some(b)) => Some(a.min(b)),
            (Some(Some(a)), None) => Some(a),
            (_, b) => b,
        };
        if let Some(w) = window {
            response.params.push(("server_max_window_bits".into(), Some(w.to_string())));
        }
        // The client's window can only be limited if it offered the parameter.
        if let Some(offered) = p.client_max_window_bits {
            if let Some(want) = self.config.client_max_window_bits {
                let w = offered.map_or(want, |o| o.min(want));
                response.params.push(("client_max_window_bits".into(), Some(w.to_string())));
            }
        }
        let agreed = Agreed {
            local_no_context: server_no_context,
            remote_no_context: client_no_context,
            local_window: window.unwrap_or(15),
        };
        Some((response, agreed))
    }

    fn local_window(&self, agreed: &Agreed) -> u8 {
        agreed.local_window
    }
}

impl Extension for PerMessageDeflate {
    fn name(&self) -> &str {
        NAME
    }

    fn offers(&mut self) -> Vec<ExtensionOffer> {
        vec![self.offer()]
    }

    fn accept(&mut self, offers: &[ExtensionOffer]) -> Option<ExtensionOffer> {
        let (response, agreed) = offers.iter().find_map(|o| self.server_answer(o))?;
        self.agreed = Some(agreed);
        Some(response)
    }

    fn finalize(&mut self, response: &ExtensionOffer) -> Result<(), String> {
        let offered = Params::parse(&self.offer(), true)?;
        let p = accepted(&offered, response)?;
        let c = &self.config;
        let local_window = match p.client_max_window_bits {
            Some(Some(w)) => w,
            _ => c.client_max_window_bits.unwrap_or(15),
        };
        self.agreed = Some(Agreed {
            local_no_context: p.client_no_context_takeover || c.client_no_context_takeover,
            remote_no_context: p.server_no_context_takeover,
            local_window,
        });
        Ok(())
    }

    fn rsv_bits(&self) -> u8 {
        RSV1
    }

    fn decode(&mut self, input: &[u8], fin: bool, out: &mut Vec<u8>, limit: usize) -> Result<(), ExtensionError> {
        let agreed = self.agreed.ok_or_else(|| ext_error(1002, "permessage-deflate was not negotiated"))?;
        let mut inflate = self.inflate.take().unwrap_or_else(pool::take_inflate);
        let mut result = inflate_into(&mut inflate, input, out, limit, false);
        if result.is_ok() && fin {
            result = inflate_into(&mut inflate, &TAIL, out, limit, true);
        }
        match (&result, fin, agreed.remote_no_context) {
            (Err(_), _, _) => drop(inflate),
            (Ok(()), true, true) => pool::give_inflate(inflate),
            _ => self.inflate = Some(inflate),
        }
        result
    }

    fn encode(
        &mut self,
        input: &[u8],
        first: bool,
        fin: bool,
        out: &mut Vec<u8>,
    ) -> Result<Option<u8>, ExtensionError> {
        let agreed = self.agreed.ok_or_else(|| ext_error(1011, "permessage-deflate was not negotiated"))?;
        let window = self.local_window(&agreed);
        if first {
            // zlib cannot compress within an 8-bit window (it silently uses
            // 9), which the peer could not decode: send such messages plain,
            // which RFC 7692 always allows.
            self.sending_compressed = window > 8 && !(fin && input.len() < self.config.threshold);
        }
        if !self.sending_compressed {
            return Ok(None);
        }
        let key = (self.config.level, window, self.config.mem_level);
        // Only a whole message compressed in one go from a reset compressor
        // may use a pooled one (see `pool`); a stream that goes on after a
        // flush (context kept, or more fragments to come) starts fresh.
        let mut deflate = self.deflate.take().unwrap_or_else(|| {
            if first && fin && agreed.local_no_context {
                pool::take_deflate(key)
            } else {
                pool::new_deflate(key)
            }
        });
        let start = out.len();
        deflate_into(&mut deflate, input, out)?;
        if first && fin && input.len() >= PLAIN_FALLBACK_MIN && out.len() - start > input.len() + TAIL.len() {
            // Incompressible: sending it plain is smaller, and keeps a message
            // at the frame limit within it. The peer's window never sees
            // these bytes, so our compressor must forget them too.
            out.truncate(start);
            if agreed.local_no_context {
                pool::give_deflate(key, deflate);
            } else {
                deflate.reset();
                self.deflate = Some(deflate);
            }
            return Ok(None);
        }
        if fin {
            // §7.2.1: drop the sync flush's empty stored block marker. A
            // compressor that keeps its context and has nothing new since its
            // last flush (an empty message, or an empty last fragment) writes
            // nothing at all, not even the marker.
            if out.len() > start {
                debug_assert!(out.ends_with(&TAIL));
                out.truncate(out.len() - TAIL.len());
            }
            if out.len() == start {
                out.push(0x00); // §7.2.3.6: an empty message compresses to one 0x00 byte.
            }
        }
        if fin && agreed.local_no_context {
            pool::give_deflate(key, deflate);
        } else {
            self.deflate = Some(deflate);
        }
        Ok(Some(if first { RSV1 } else { 0 }))
    }

    fn release(&mut self) {
        // A context kept between messages is of no use to anyone else; a
        // reset one would be, but only a pooled one is ever reset.
        self.deflate = None;
        self.inflate = None;
    }
}

fn ext_error(close_code: u16, detail: &str) -> ExtensionError {
    ExtensionError { close_code, detail: detail.to_owned() }
}

/// Inflates `input` into `out` without letting it grow past `limit`.
///
/// `tail`: `input` is the §7.2.2 tail the receiver appends, not the peer's
/// bytes. A final block (BFINAL) may end in it, when the peer's last bits
/// needed padding from it; what is left of it after the stream's end is
/// then nothing but padding, and is dropped (as zlib-based peers drop it as
/// unused data) rather than read as the start of a new stream.
fn inflate_into(
    inflate: &mut Inflate,
    mut input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    tail: bool,
) -> Result<(), ExtensionError> {
    loop {
        if out.len() >= limit {
            // Full: fail if the inflater has even one more byte to give.
            // Every turn must consume input or end: a stream that ended
            // (BFINAL) or broke gives nothing more, however often asked.
            let mut probe = [0u8; 1];
            let before_in = inflate.total_in();
            let before_out = inflate.total_out();
            let status = inflate.decompress(input, &mut probe, InflateFlush::SyncFlush);
            let consumed = (inflate.total_in() - before_in) as usize;
            input = &input[consumed..];
            if inflate.total_out() > before_out {
                return Err(ext_error(1009, "message larger than the limit after decompression"));
            }
            match status {
                Ok(Status::StreamEnd) if tail => {
                    inflate.reset(false);
                    return Ok(());
                }
                Ok(Status::StreamEnd) => inflate.reset(false),
                Ok(_) if consumed > 0 || input.is_empty() => {}
                Ok(_) | Err(_) => return Err(ext_error(1007, "invalid deflate data")),
            }
            if input.is_empty() {
                return Ok(());
            }
            continue;
        }
        let room = (limit - out.len()).min(input.len().saturating_mul(4).clamp(256, 1 << 20));
        let start = out.len();
        if out.capacity() < start + room {
            // Grow geometrically, but never past the limit: a bomb must not
            // get a buffer twice the limit from Vec's doubling.
            let target = (out.capacity() * 2).max(start + room).min(limit);
            out.reserve_exact(target - start);
        }
        out.resize(start + room, 0);
        let before_in = inflate.total_in();
        let before_out = inflate.total_out();
        let status = inflate.decompress(input, &mut out[start..], InflateFlush::SyncFlush);
        let produced = (inflate.total_out() - before_out) as usize;
        let consumed = (inflate.total_in() - before_in) as usize;
        out.truncate(start + produced);
        input = &input[consumed..];
        match status {
            Ok(Status::StreamEnd) => {
                // A final block (BFINAL) ends the deflate stream. RFC 7692's
                // streams never end, but a message may carry one (§7.2.3.4);
                // whatever follows starts a new stream, exactly as if it had
                // arrived in a later read.
                inflate.reset(false);
                if input.is_empty() || tail {
                    return Ok(());
                }
            }
            Ok(_) => {
                if input.is_empty() && produced < room {
                    return Ok(());
                }
                if consumed == 0 && produced == 0 {
                    return Err(ext_error(1007, "invalid deflate data"));
                }
            }
            Err(_) => return Err(ext_error(1007, "invalid deflate data")),
        }
    }
}

/// Compresses `input` with a sync flush, appending to `out`.
fn deflate_into(deflate: &mut Deflate, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), ExtensionError> {
    loop {
        let start = out.len();
        let room = input.len() + input.len() / 64 + 64;
        out.resize(start + room, 0);
        let before_in = deflate.total_in();
        let before_out = deflate.total_out();
        let status = deflate.compress(input, &mut out[start..], DeflateFlush::SyncFlush);
        let produced = (deflate.total_out() - before_out) as usize;
        out.truncate(start + produced);
        input = &input[(deflate.total_in() - before_in) as usize..];
        match status {
            Ok(_) if input.is_empty() && produced < room => return Ok(()),
            Ok(_) => {}
            Err(_) => return Err(ext_error(1011, "compression failed")),
        }
    }
}

/// Checks a server's response to a client's `offer` of permessage-deflate
/// (RFC 7692 §5, §7.1), for a client that must fail the connection unless
/// the response accepts that offer. Refused: a parameter that is unknown,
/// has a bad value or comes twice; server_no_context_takeover offered and
/// missing (§7.1.1.1); a window larger than offered, where a missing
/// server_max_window_bits stands for 15 (§7.1.2.1); client_max_window_bits
/// not offered (§7.1.2.2). Public for bindings whose client offers are written outside
/// the core (wsproto's `PerMessageDeflate`, in Python). An offer that does
/// not parse is an error too.
pub fn check_response(offer: &ExtensionOffer, response: &ExtensionOffer) -> Result<(), String> {
    let offered = Params::parse(offer, true).map_err(|e| format!("in the offer: {e}"))?;
    accepted(&offered, response).map(|_| ())
}

/// The parameters of `response` if it accepts the offer of `offered`.
fn accepted(offered: &Params, response: &ExtensionOffer) -> Result<Params, String> {
    let p = Params::parse(response, false)?;
    if offered.server_no_context_takeover && !p.server_no_context_takeover {
        return Err("server did not agree to server_no_context_takeover".into());
    }
    // A response without server_max_window_bits means a window of 15
    // bits, which accepts an offer of 15 (wsproto offers that by default,
    // and servers answer it bare).
    if let Some(Some(asked)) = offered.server_max_window_bits {
        match p.server_max_window_bits {
            Some(Some(got)) if got > asked => {
                return Err(format!("server_max_window_bits={got} is larger than offered"));
            }
            None if asked < 15 => return Err(format!("server did not agree to server_max_window_bits={asked}")),
            _ => {}
        }
    }
    match (offered.client_max_window_bits, p.client_max_window_bits) {
        (None, Some(_)) => return Err("client_max_window_bits was not offered".into()),
        (Some(Some(asked)), Some(Some(w))) if w > asked => {
            return Err(format!("client_max_window_bits={w} is larger than offered"));
        }
        _ => {}
    }
    Ok(p)
}

/// Parsed and checked permessage-deflate parameters (§7.1).
#[derive(Debug, Default)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// `Some(None)`: present without a value.
    server_max_window_bits: Option<Option<u8>>,
    client_max_window_bits: Option<Option<u8>>,
}

impl Params {
    /// `offer`: parsing a client's offer (else a server's response), which
    /// decides where a bare `client_max_window_bits` is allowed.
    fn parse(element: &ExtensionOffer, offer: bool) -> Result<Params, String> {
        let mut p = Params::default();
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in &element.params {
            let k = k.as_str();
            if seen.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                return Err(format!("duplicate parameter {k}"));
            }
            seen.push(k);
            match k.to_ascii_lowercase().as_str() {
                "server_no_context_takeover" => {
                    no_value(k, v)?;
                    p.server_no_context_takeover = true;
                }
                "client_no_context_takeover" => {
                    no_value(k, v)?;
                    p.client_no_context_takeover = true;
                }
                "server_max_window_bits" => {
                    // Always needs a value (§7.1.2.1).
                    let bits = window_bits(k, v.as_deref())?.ok_or(format!("{k} needs a value"))?;
                    p.server_max_window_bits = Some(Some(bits));
                }
                "client_max_window_bits" => {
                    let bits = window_bits(k, v.as_deref())?;
                    if bits.is_none() && !offer {
                        return Err(format!("{k} needs a value in a response"));
                    }
                    p.client_max_window_bits = Some(bits);
                }
                _ => return Err(format!("unknown parameter {k}")),
            }
        }
        Ok(p)
    }
}

fn no_value(k: &str, v: &Option<String>) -> Result<(), String> {
    match v {
        None => Ok(()),
        Some(_) => Err(format!("{k} takes no value")),
    }
}

/// A window-bits value: decimal 8–15 without leading zeros (§7.1.2).
fn window_bits(k: &str, v: Option<&str>) -> Result<Option<u8>, String> {
    let Some(v) = v else { return Ok(None) };
    match v {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => Ok(Some(v.parse().expect("a listed number"))),
        _ => Err(format!("invalid value {v:?} for {k}")),
    }
}

/// Per-thread pools of reset compressors and inflaters for sides that keep
/// no context: a connection borrows one for a message and gives it back.
///
/// A reset compressor still holds, in its window, what it compressed last
/// (a fresh one is zeroed). What zlib-rs writes for one whole message from
/// the reset state, flushed once at its end, does not depend on those
/// bytes; but what it writes after a flush, in a stream that goes on, does
/// (zlib's match finder looks past the data it has): the output stays valid,
/// yet one connection's data would decide the bytes another sends. So pooled
/// compressors serve only whole messages (`take_deflate`), and streams that
/// continue after a flush start from a fresh one (`new_deflate`): a
/// connection keeping its context (one per connection) and a fragmented
/// message. `tests/deflate.rs` checks both.
mod pool {
    use super::*;

    type Key = (u8, u8, u8);
    const MAX_POOLED: usize = 4;

    thread_local! {
        static DEFLATERS: RefCell<Vec<(Key, Deflate)>> = const { RefCell::new(Vec::new()) };
        static INFLATERS: RefCell<Vec<Inflate>> = const { RefCell::new(Vec::new()) };
    }

    /// A reset compressor for one whole message (a fresh one if none).
    pub(super) fn take_deflate(key: Key) -> Deflate {
        let found = DEFLATERS.with(|p| {
            let mut p = p.borrow_mut();
            let i = p.iter().position(|(k, _)| *k == key)?;
            Some(p.swap_remove(i).1)
        });
        found.unwrap_or_else(|| new_deflate(key))
    }

    /// A fresh compressor, its window zeroed.
    pub(super) fn new_deflate(key: Key) -> Deflate {
        let (level, window, mem_level) = key;
        Deflate::new_with_config(zlib_rs::DeflateConfig {
            level: i32::from(level),
            method: zlib_rs::Method::Deflated,
            window_bits: -i32::from(window.max(9)),
            mem_level: i32::from(mem_level),
            strategy: zlib_rs::Strategy::Default,
        })
    }

    pub(super) fn give_deflate(key: Key, mut d: Deflate) {
        d.reset();
        DEFLATERS.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < MAX_POOLED {
                p.push((key, d));
            }
        });
    }

    pub(super) fn take_inflate() -> Inflate {
        INFLATERS.with(|p| p.borrow_mut().pop()).unwrap_or_else(|| Inflate::new(false, 15))
    }

    pub(super) fn give_inflate(mut i: Inflate) {
        i.reset(false);
        INFLATERS.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < MAX_POOLED {
                p.push(i);
            }
        });
    }
}
