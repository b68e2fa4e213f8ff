//! The native connection API: free functions over a connection handle
//! (see `handles` for why not a class). `lib/connection.js` wraps them in
//! the public `Connection` class with argument conversion and events.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::ptr;

use napi::bindgen_prelude::{Buffer, BufferSlice, FromNapiValue, Uint8ArraySlice};
use napi::{sys, Env, Error, JsString, JsValue, Result};
use napi_derive::napi;
use wsproto_core::frame::OpCode;
use wsproto_core::{Accept, Bytes, ClientHandshake, Connection, DataKind, Event, Reject, Role, State};

use crate::errors::{core_error, guard, invalid_argument, napi_error, JsError, JsResult};
use crate::events::{self, header, push, record, T_ACCEPTED, T_ERROR, T_MORE, T_REJECTED, T_REQUEST};
use crate::handles::{Local, Table};
use crate::handshake::{ErrorInfo, RequestInfo, ResponseInfo};
use crate::options::{self, AcceptOptions, ClientRequestOptions, ConnectionOptions, RejectOptions};
use crate::utf16;

/// A payload at least this large ends its batch: the batch Buffer is then
/// built straight from the engine's buffer, skipping the copy into the
/// arena, so a large message is copied once on its way to JavaScript.
const LARGE_PAYLOAD: usize = 16 << 10;

/// Where `take_output_parts` writes its counts and offsets in `split`; the
/// bytes before are where it puts frame headers (lib/connection.js agrees).
const SPLIT_CUTS: usize = 8 << 10;

/// Output at least this large leaves as external memory instead of a copy,
/// and the engine goes on in a recycled buffer. A copy goes into memory
/// V8 has just allocated, and on this kind of machine the page faults of
/// fresh memory cost more than the copy (~0.5 us per 4 KiB page): a batch
/// of 64 KiB of 1 KiB client frames took 3.3 M msg/s handed over against
/// 1.3 M copied, 16 B frames 17.5 M against 12.6 M; 64 KiB messages were
/// even. (From 256 KiB before, when the pool below was too small.)
const HAND_OVER_OUTPUT: usize = 32 << 10;

/// A data payload at least this large is handed to JavaScript in the
/// engine's own buffer (external memory, no copy), provided the bytes
/// received after it, which must move to the engine's next buffer, are
/// fewer than half as many: otherwise copying the payload is cheaper.
/// Measured with 64 KiB input chunks: 64 KiB messages 70.6 k msg/s handed
/// over against 48.8 k copied, 48 KiB ones 85 k against 67 k, but 32 KiB
/// ones 82 k against 108 k (each hand-over also cuts the read short).
const HAND_OVER_PAYLOAD: usize = 48 << 10;

/// At most this many bytes of engine buffers are out on loan to JavaScript
/// (see `Loan`) before large payloads and output are copied instead.
///
/// Node frees an external Buffer's memory from an immediate, when the event
/// loop turns, not when the garbage collector finds the Buffer dead. A
/// program that sends or receives large messages in a synchronous loop
/// (a sans-IO driver, a benchmark) would otherwise hold every one of them
/// until the loop ends: 20,000 sends of 64 KiB held 1.4 GB, and each send
/// took 30-230 us in fresh memory. Copies go into memory V8 owns, which
/// its collector frees by itself. The first loan is always allowed, so one
/// message larger than this is still handed over.
const LENT_MAX: usize = 128 << 20;

/// Buffers JavaScript released (see `recycle`) kept for reuse, at most.
/// Enough for what a run of large messages holds between two garbage
/// collections, which return them in bursts; `SPARES_MAX_BYTES` bounds it.
const SPARES_MAX: usize = 64;
/// Larger released buffers are freed rather than kept.
const SPARE_MAX_CAPACITY: usize = 16 << 20;
/// At most this much idle memory is kept in the pool per thread.
const SPARES_MAX_BYTES: usize = 32 << 20;

thread_local! {
    /// Released hand-over buffers. Reusing them spares the page faults of
    /// fresh memory, which cost about as much as copying the message.
    static SPARES: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    /// The capacity of the buffers out on loan (see `LENT_MAX`).
    static LENT: Cell<usize> = const { Cell::new(0) };
}

/// Whether a buffer of `len` bytes may go out on loan now.
fn may_lend(len: usize) -> bool {
    let lent = LENT.with(Cell::get);
    lent == 0 || lent.saturating_add(len) <= LENT_MAX
}

/// An engine buffer on its way to JavaScript, counted in `LENT` until it
/// is dropped (by the Buffer's finalizer, or unread), which recycles it.
#[derive(Debug)]
struct Loan(Vec<u8>);

impl Loan {
    fn new(v: Vec<u8>) -> Loan {
        LENT.with(|l| l.set(l.get().saturating_add(v.capacity())));
        Loan(v)
    }
}

impl Drop for Loan {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        // `try_with`: at thread exit the counter may be gone.
        let _ = LENT.try_with(|l| l.set(l.get().saturating_sub(v.capacity())));
        recycle(v);
    }
}

/// Scratch buffers kept at most this large between sends; a larger one is
/// freed after use.
const SCRATCH_KEEP: usize = 4 << 20;

thread_local! {
    /// The code units of a string being sent (see `send_text_string`).
    static UNITS: RefCell<Vec<u16>> = const { RefCell::new(Vec::new()) };
    /// A text message's UTF-8, made from code units, before the engine
    /// frames it.
    static TEXT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Sends the UTF-16 code units `units` (little-endian bytes) as a text
/// message, through the per-thread UTF-8 scratch buffer.
fn send_utf16(conn: &mut Connection, units: &[u8]) -> JsResult<()> {
    TEXT.with(|t| {
        let mut text = t.borrow_mut();
        text.clear();
        utf16::transcode(units, &mut text);
        debug_assert!(std::str::from_utf8(&text).is_ok());
        // SAFETY: `transcode` writes only well-formed UTF-8 (lone
        // surrogates become U+FFFD); the tests compare it with V8's own
        // encoder for every code unit, every pair of special units and
        // random strings, on both kernels.
        let s = unsafe { std::str::from_utf8_unchecked(&text) };
        let r = conn.send_text(s).map_err(core_error);
        if text.capacity() > SCRATCH_KEEP {
            *text = Vec::new();
        }
        r
    })
}

/// Keeps a buffer JavaScript no longer references for the next hand-over.
fn recycle(v: Vec<u8>) {
    if v.capacity() > SPARE_MAX_CAPACITY {
        return;
    }
    // `try_with`: at thread exit the pool may be gone; then just free.
    let _ = SPARES.try_with(|s| {
        let mut s = s.borrow_mut();
        let kept: usize = s.iter().map(Vec::capacity).sum();
        if s.len() < SPARES_MAX && kept + v.capacity() <= SPARES_MAX_BYTES {
            s.push(v);
        }
    });
}

/// The buffer the engine goes on in after handing over a payload of `len`
/// bytes, empty: a released one, else one sized for another such message, so that
/// the next one does not grow it by doubling (each step a copy of
/// everything so far into fresh memory).
fn spare(len: usize) -> Vec<u8> {
    match SPARES.with(|s| s.borrow_mut().pop()) {
        Some(mut v) if v.capacity() >= len => {
            // It still holds what JavaScript last saw in it.
            v.clear();
            v
        }
        _ => Vec::with_capacity(len.saturating_add(len / 4).min(SPARE_MAX_CAPACITY)),
    }
}

/// One wsproto connection plus the batch it is building.
#[derive(Debug)]
struct Native {
    conn: Connection,
    arena: Vec<u8>,
    requests: VecDeque<RequestInfo>,
    responses: VecDeque<ResponseInfo>,
    errors: VecDeque<ErrorInfo>,
    /// Payloads handed over in the engine's buffers, for records flagged
    /// `events::EXTERNAL`, oldest first.
    large: VecDeque<(Loan, Range<usize>)>,
    poisoned: bool,
}

thread_local! {
    static CONNECTIONS: Local<Native> = const { Local::new(Table::new()) };
}

fn insert(conn: Connection) -> JsResult<u32> {
    let native = Native {
        conn,
        arena: Vec::new(),
        requests: VecDeque::new(),
        responses: VecDeque::new(),
        errors: VecDeque::new(),
        large: VecDeque::new(),
        poisoned: false,
    };
    CONNECTIONS
        .with(|t| t.borrow_mut().insert(native))
        .ok_or_else(|| Error::new("WSPROTO_LOCAL_TOO_MANY_CONNECTIONS".to_owned(), "the connection table is full"))
}

fn bad_handle() -> JsError {
    Error::new("WSPROTO_LOCAL_INVALID_HANDLE".to_owned(), "the connection was freed or never existed")
}

/// Runs `f` on the connection behind `h`, with panics caught.
#[inline]
fn with<R>(h: u32, f: impl FnOnce(&mut Native) -> JsResult<R>) -> JsResult<R> {
    CONNECTIONS.with(|t| {
        let mut table = t.borrow_mut();
        let native = table.get_mut(h).ok_or_else(bad_handle)?;
        let mut poisoned = native.poisoned;
        let r = guard(&mut poisoned, || f(native));
        native.poisoned = poisoned;
        r
    })
}

/// Like `with` for infallible reads.
#[inline]
fn read<R>(h: u32, f: impl FnOnce(&Native) -> R) -> JsResult<R> {
    CONNECTIONS.with(|t| t.borrow_mut().get_mut(h).map(|n| f(n)).ok_or_else(bad_handle))
}

/// A new JS Buffer holding `parts` back to back.
///
/// Batches and ordinary output are copied into memory V8 allocates rather
/// than handed over as external memory: an external Buffer would take our
/// Vec, so the next batch would start in freshly allocated (page-faulting)
/// memory, which costs more than copying a few kilobytes.
fn new_buffer<'env>(env: &'env Env, parts: &[&[u8]]) -> JsResult<BufferSlice<'env>> {
    let len = parts.iter().map(|p| p.len()).sum();
    let raw_env = env.raw();
    let mut value = ptr::null_mut();
    let mut data = ptr::null_mut();
    let mut actual = 0usize;
    // SAFETY: plain N-API calls on the current environment; the data
    // pointer is re-read with napi_get_buffer_info as napi-rs does, and
    // exactly `len` bytes are written to it.
    unsafe {
        let status = sys::napi_create_buffer(raw_env, len, ptr::null_mut(), &mut value);
        if status != sys::Status::napi_ok {
            return Err(Error::new("WSPROTO_NAPI_ALLOCATION".to_owned(), format!("could not allocate {len} bytes")));
        }
        if len > 0 {
            let status = sys::napi_get_buffer_info(raw_env, value, &mut data, &mut actual);
            if status != sys::Status::napi_ok || actual != len || data.is_null() {
                return Err(Error::new("WSPROTO_NAPI_ALLOCATION".to_owned(), "could not reach the new Buffer"));
            }
            let mut at = data.cast::<u8>();
            for p in parts {
                ptr::copy_nonoverlapping(p.as_ptr(), at, p.len());
                at = at.add(p.len());
            }
        }
        BufferSlice::from_napi_value(raw_env, value).map_err(napi_error)
    }
}

fn utf8(data: &[u8]) -> JsResult<&str> {
    simdutf8::basic::from_utf8(data).map_err(|_| invalid_argument("text is not valid UTF-8"))
}

fn prefix(data: &[u8], len: Option<u32>) -> JsResult<&[u8]> {
    match len {
        None => Ok(data),
        Some(n) => data.get(..n as usize).ok_or_else(|| invalid_argument("len is past the end of the data")),
    }
}

/// Whether two byte ranges JavaScript passed share memory (two views of one
/// ArrayBuffer may), which a shared and a mutable borrow must not.
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let (a0, b0) = (a.as_ptr() as usize, b.as_ptr() as usize);
    a0 < b0 + b.len() && b0 < a0 + a.len()
}

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Creates a server connection that parses the opening request from the
/// bytes it receives; returns its handle.
#[napi]
pub fn server_new(options: Option<ConnectionOptions>) -> Result<u32, String> {
    let config = options::config(options)?;
    insert(Connection::server(config))
}

/// Creates a client connection (its opening request is already in the
/// output); returns its handle.
#[napi]
pub fn client_new(options: Option<ConnectionOptions>, request: ClientRequestOptions) -> Result<u32, String> {
    let mut poisoned = false;
    let conn = guard(&mut poisoned, || {
        let config = options::config(options)?;
        let extensions = match &request.deflate {
            Some(d) => vec![options::deflate(Role::Client, d)?],
            None => Vec::new(),
        };
        let hs = ClientHandshake {
            host: request.host,
            path: request.path.unwrap_or_else(|| "/".to_owned()),
            origin: request.origin,
            subprotocols: request.subprotocols.unwrap_or_default(),
            extensions,
            headers: options::headers(request.headers)?,
        };
        Connection::client(config, hs).map_err(core_error)
    })?;
    insert(conn)
}

/// Creates a connection whose handshake happened elsewhere: frames flow at
/// once. Returns its handle.
#[napi]
pub fn open_new(is_client: bool, options: Option<ConnectionOptions>) -> Result<u32, String> {
    let role = if is_client { Role::Client } else { Role::Server };
    let config = options::config(options)?;
    insert(Connection::open(role, config, None))
}

/// Frees a connection; later calls with its handle fail. Returns whether
/// the handle was live (freeing twice is harmless).
#[napi]
pub fn free(h: u32) -> bool {
    CONNECTIONS.with(|t| t.borrow_mut().remove(h))
}

/// Feeds bytes (or, with `null`, the end of the stream) and returns every
/// event they complete as one Buffer of records (see `events`), or `null`
/// when there is none. A protocol failure ends the batch with an error
/// record; its close frame is already queued.
///
/// A batch that ends with a "more" record wants another `receive` call
/// with an empty Buffer for the rest: after a large payload (see
/// `LARGE_PAYLOAD`), and with `inOrder` where the engine would write
/// something by itself after other events of the batch: before a close
/// frame, before a ping (with `autoPong`), and before a protocol failure
/// (held back by the core, see `Connection::poll_event_before_failure`).
/// The caller answers the batch first, so its answers leave before the
/// close or pong, as they would event by event, and while the connection
/// is still open.
#[napi]
pub fn receive<'env>(
    env: &'env Env,
    h: u32,
    data: Option<&[u8]>,
    in_order: Option<bool>,
) -> Result<Option<BufferSlice<'env>>, String> {
    let in_order = in_order.unwrap_or(false);
    with(h, |n| {
        // Left over only if JavaScript abandoned a batch (a sink threw).
        n.large.clear();
        match data {
            Some(d) => {
                n.arena.reserve(d.len() + events::HEADER_LEN * 4);
                let mut d = d;
                if let Some(cut) = cut_point(&n.conn, d.len()) {
                    n.conn.receive(&d[..cut]);
                    if !matches!(drain(env, n, in_order, false)?, Drained::Idle) {
                        // The rest waits in the engine for the next call
                        // (or is dropped, after a close or a failure).
                        n.conn.receive(&d[cut..]);
                        return finish(env, n);
                    }
                    d = &d[cut..];
                }
                n.conn.receive(d);
            }
            None => n.conn.receive_eof(),
        }
        match drain(env, n, in_order, true)? {
            Drained::Batch(buf) => Ok(Some(buf)),
            Drained::Idle | Drained::Stopped => finish(env, n),
        }
    })
}

/// Where to cut a read so that the large message being received ends at
/// the end of the engine's buffer: handed over from there, it leaves no
/// bytes of the next frame behind to copy into the engine's next buffer.
fn cut_point(conn: &Connection, len: usize) -> Option<usize> {
    if conn.config().partial_messages {
        return None;
    }
    let to_come = usize::try_from(conn.frame_payload_to_come()?).ok()?;
    let whole = conn.buffered_in().saturating_add(to_come);
    (to_come > 0 && to_come < len && whole >= HAND_OVER_PAYLOAD && may_lend(whole)).then_some(to_come)
}

/// How `drain` ended.
enum Drained<'env> {
    /// All events are recorded; the engine wants more input.
    Idle,
    /// Stopped before a close or ping frame or a held failure (see
    /// `receive`), or after an error.
    Stopped,
    /// The batch ended at a large copied payload: return it as it is.
    Batch(BufferSlice<'env>),
}

/// Records the events the buffered input completes. With `may_end`, a
/// large payload not handed over ends the batch (see `LARGE_PAYLOAD`).
fn drain<'env>(env: &'env Env, n: &mut Native, in_order: bool, may_end: bool) -> JsResult<Drained<'env>> {
    let Native { conn, arena, requests, responses, errors, large, .. } = n;
    let auto_pong = conn.config().auto_pong;
    loop {
        let hold = in_order && !arena.is_empty();
        if hold {
            let stop = match conn.control_frame_next() {
                Some(OpCode::Close) => true,
                Some(OpCode::Ping) => auto_pong,
                _ => false,
            };
            if stop {
                push(arena, T_MORE, true, 0, &[]);
                return Ok(Drained::Stopped);
            }
        }
        // What the event leaves behind is at most what was pending before
        // it, less its payload.
        let pending = conn.buffered_in();
        let polled = if hold { conn.poll_event_before_failure() } else { conn.poll_event() };
        match polled {
            Ok(None) => {
                if conn.failure_held() {
                    push(arena, T_MORE, true, 0, &[]);
                    return Ok(Drained::Stopped);
                }
                return Ok(Drained::Idle);
            }
            Ok(Some(ev)) => match record(&ev) {
                Some((ty, fin, code, payload))
                    if payload.len() >= HAND_OVER_PAYLOAD
                        && events::is_data(ty)
                        && pending.saturating_sub(payload.len()) <= payload.len() / 2
                        && may_lend(payload.len()) =>
                {
                    let len = payload.len();
                    let mut head = header(ty, fin, code, 0);
                    head[1] |= events::EXTERNAL;
                    arena.extend_from_slice(&head);
                    let mut buf = spare(len);
                    let range = conn.swap_payload_buffer(&mut buf).expect("a data event's payload is buffered");
                    debug_assert_eq!(range.len(), len);
                    large.push_back((Loan::new(buf), range));
                }
                Some((ty, fin, code, payload)) if may_end && payload.len() >= LARGE_PAYLOAD => {
                    let head = header(ty, fin, code, payload.len());
                    let more = header(T_MORE, true, 0, 0);
                    let buf = new_buffer(env, &[&arena[..], &head, payload, &more])?;
                    arena.clear();
                    return Ok(Drained::Batch(buf));
                }
                Some((ty, fin, code, payload)) => push(arena, ty, fin, code, payload),
                None => match ev {
                    Event::Request(r) => {
                        requests.push_back(RequestInfo::from(&*r));
                        push(arena, T_REQUEST, true, 0, &[]);
                    }
                    Event::Accepted(r) => {
                        responses.push_back(ResponseInfo::from(&*r));
                        push(arena, T_ACCEPTED, true, 0, &[]);
                    }
                    Event::Rejected(r) => {
                        responses.push_back(ResponseInfo::from(&*r));
                        push(arena, T_REJECTED, true, 0, &[]);
                    }
                    _ => unreachable!("record() covers every payload event"),
                },
            },
            Err(e) => {
                errors.push_back(ErrorInfo::from(&e));
                push(arena, T_ERROR, true, e.close_code().unwrap_or(0), &[]);
                return Ok(Drained::Stopped);
            }
        }
    }
}

/// The arena's records as the batch Buffer (`null` when there are none).
fn finish<'env>(env: &'env Env, n: &mut Native) -> JsResult<Option<BufferSlice<'env>>> {
    if n.arena.is_empty() {
        return Ok(None);
    }
    let buf = new_buffer(env, &[&n.arena[..]])?;
    n.arena.clear();
    Ok(Some(buf))
}

/// The payload of the oldest unread record flagged external: the engine's
/// buffer itself, which goes back to the spare pool once collected.
#[napi]
pub fn take_large<'env>(env: &'env Env, h: u32) -> Result<Option<BufferSlice<'env>>, String> {
    let Some((v, range)) = with(h, |n| Ok(n.large.pop_front()))? else {
        return Ok(None);
    };
    if range.is_empty() {
        drop(v);
        return BufferSlice::from_data(env, Vec::new()).map(Some).map_err(napi_error);
    }
    hand_over(env, v, range).map(Some)
}

/// A Buffer over `v[range]` (not empty) that owns `v`; `v` goes back to
/// the spare pool when JavaScript collects the Buffer.
fn hand_over(env: &Env, mut v: Loan, range: Range<usize>) -> JsResult<BufferSlice<'_>> {
    let start = v.0[range.clone()].as_mut_ptr();
    // SAFETY: `start..start + range.len()` lies inside the loan's
    // initialized bytes; the loan moves into the finalizer unchanged
    // (moving a Vec does not move its heap memory), so the bytes stay valid
    // until JavaScript collects the Buffer, and nothing else references
    // them.
    unsafe { BufferSlice::from_external(env, start, range.len(), v, |_, v| drop(v)) }.map_err(napi_error)
}

/// The request behind the oldest unread request record.
#[napi]
pub fn take_request(h: u32) -> Result<Option<RequestInfo>, String> {
    with(h, |n| Ok(n.requests.pop_front()))
}

/// The response behind the oldest unread accepted/rejected record.
#[napi]
pub fn take_response(h: u32) -> Result<Option<ResponseInfo>, String> {
    with(h, |n| Ok(n.responses.pop_front()))
}

/// The failure behind the oldest unread error record.
#[napi]
pub fn take_error(h: u32) -> Result<Option<ErrorInfo>, String> {
    with(h, |n| Ok(n.errors.pop_front()))
}

/// Server: accepts the pending request.
#[napi]
pub fn accept(h: u32, options: Option<AcceptOptions>) -> Result<(), String> {
    with(h, |n| {
        let o = options.unwrap_or_default();
        let extensions = match &o.deflate {
            Some(d) => vec![options::deflate(Role::Server, d)?],
            None => Vec::new(),
        };
        let accept = Accept { subprotocol: o.subprotocol, extensions, headers: options::headers(o.headers)? };
        n.conn.accept(accept).map_err(core_error)
    })
}

/// Server: refuses the pending request with any HTTP response.
#[napi]
pub fn reject(h: u32, options: Option<RejectOptions>, body: Option<&[u8]>) -> Result<(), String> {
    with(h, |n| {
        let o = options.unwrap_or_default();
        let reject = Reject {
            status: o.status.unwrap_or(400),
            headers: options::headers(o.headers)?,
            body: body.unwrap_or_default().to_vec(),
        };
        n.conn.reject(&reject).map_err(core_error)
    })
}

/// Sends a text message given as UTF-8 bytes. `len` limits it to a prefix,
/// so JS can encode into a reused scratch Buffer.
#[napi]
pub fn send_text(h: u32, data: &[u8], len: Option<u32>) -> Result<(), String> {
    with(h, |n| n.conn.send_text(utf8(prefix(data, len)?)?).map_err(core_error))
}

/// Sends a text message given as a string. Its UTF-16 code units are
/// copied out of V8 (a plain copy) and turned into UTF-8 here, which is
/// several times faster than V8's own encoder for non-ASCII strings.
#[napi]
pub fn send_text_string(env: &Env, h: u32, text: JsString) -> Result<(), String> {
    with(h, |n| with_units(env, text, |units| send_utf16(&mut n.conn, units)))
}

/// Runs `f` on the UTF-16 code units of `text` as little-endian bytes,
/// copied out of V8 into the per-thread scratch buffer.
fn with_units<R>(env: &Env, text: JsString, f: impl FnOnce(&[u8]) -> JsResult<R>) -> JsResult<R> {
    UNITS.with(|u| {
        let mut units = u.borrow_mut();
        let raw = text.raw();
        let mut len = 0usize;
        // SAFETY: plain N-API calls on the current environment. The second
        // writes at most `len + 1` units (the string and a NUL) into memory
        // reserved for them, and reports how many it wrote before the NUL;
        // `set_len` exposes only those.
        unsafe {
            let status = sys::napi_get_value_string_utf16(env.raw(), raw, ptr::null_mut(), 0, &mut len);
            if status != sys::Status::napi_ok {
                return Err(invalid_argument("text must be a string"));
            }
            units.clear();
            units.reserve(len + 1);
            let mut copied = 0usize;
            let status = sys::napi_get_value_string_utf16(env.raw(), raw, units.as_mut_ptr(), len + 1, &mut copied);
            if status != sys::Status::napi_ok || copied != len {
                return Err(invalid_argument("could not read the string"));
            }
            units.set_len(copied);
        }
        #[cfg(target_endian = "big")]
        for c in units.iter_mut() {
            *c = c.to_le();
        }
        // SAFETY: any initialized `u16`s can be viewed as twice as many
        // bytes; they are little-endian now on every target.
        let bytes = unsafe { std::slice::from_raw_parts(units.as_ptr().cast::<u8>(), units.len() * 2) };
        let r = f(bytes);
        if units.capacity() > SCRATCH_KEEP / 2 {
            *units = Vec::new();
        }
        r
    })
}

/// Test hook: the bytes of engine buffers out on loan to JavaScript (see
/// `LENT_MAX`).
#[napi(js_name = "__lentBytes")]
pub fn lent_bytes() -> f64 {
    LENT.with(Cell::get) as f64
}

/// Test hook: makes UTF-16 conversion use the portable loop (`true`) or
/// the CPU's vector kernel again (`false`). Returns the previous setting.
#[napi(js_name = "__forceScalarUtf16")]
pub fn force_scalar_utf16(on: bool) -> bool {
    utf16::force_scalar(on)
}

/// Sends a binary message.
#[napi]
pub fn send_binary(h: u32, data: &[u8], len: Option<u32>) -> Result<(), String> {
    with(h, |n| n.conn.send_binary(prefix(data, len)?).map_err(core_error))
}

/// Sends a binary message from a Buffer the engine may keep instead of
/// copying (a server without permessage-deflate, 4 KiB and more). Returns
/// true when it was kept: the Buffer is then a piece of the output, which
/// `take_output_parts` leaves out and tells JS where to put, and JS writes
/// the Buffer itself there. The engine holds a reference until then.
#[napi]
pub fn send_binary_ref(h: u32, data: Buffer) -> Result<bool, String> {
    with(h, |n| {
        if !n.conn.shares(data.len()) {
            n.conn.send_binary(&data).map_err(core_error)?;
            return Ok(false);
        }
        n.conn.send_binary_shared(Bytes::from_owner(data)).map_err(core_error)?;
        Ok(true)
    })
}

/// The length of the frame `send_binary_into` writes for `len` bytes.
#[napi]
pub fn binary_frame_len(h: u32, len: u32) -> Result<u32, String> {
    read(h, |n| clamp(n.conn.binary_frame_len(len as usize)))
}

/// What `send_binary_into` did.
const INTO_SENT: u32 = 0;
const INTO_REFUSED: u32 = 1;
const INTO_OUTPUT_PENDING: u32 = 2;

/// Sends a binary message framed into `out`, a Buffer JS just allocated
/// (exactly `binary_frame_len` bytes), instead of into the engine's output:
/// a client masks the payload straight into memory V8 owns, one pass, where
/// `send_binary` masks it into the engine's output and `take_output_parts`
/// then copies it out or hands the engine's buffer over. JS writes `out`
/// after the output it already took and before what the engine queues
/// next. Returns 0 (sent), 1 (not sent: an extension may transform the
/// message) or 2 (not sent: the engine has output pending; take it first).
/// Nothing of `out` is kept.
#[napi]
pub fn send_binary_into(h: u32, data: &[u8], mut out: Uint8ArraySlice) -> Result<u32, String> {
    // SAFETY: JavaScript cannot run during this call; `out` is checked not
    // to overlap `data`, the one other borrow.
    let out = unsafe { out.as_mut() };
    if overlap(data, out) {
        return Err(invalid_argument("data and out must not overlap"));
    }
    with(h, |n| {
        if n.conn.wants_write() {
            return Ok(INTO_OUTPUT_PENDING);
        }
        // SAFETY: a `&mut [u8]` is valid as `&mut [MaybeUninit<u8>]` of the
        // same length; the engine writes only initialized bytes.
        let dst = unsafe { &mut *(out as *mut [u8] as *mut [MaybeUninit<u8>]) };
        match n.conn.send_binary_into(data, dst).map_err(core_error)? {
            true => Ok(INTO_SENT),
            false => Ok(INTO_REFUSED),
        }
    })
}

/// Hands the staged sends to the engine (as `send_batch`, when `batch` is
/// given), then takes all output, with no JS object per piece.
///
/// The engine's own bytes (frame headers, copied frames) come back to
/// back. Where Buffers kept by reference (`send_binary_ref`, batch kind 5)
/// go among them is written to `split`, as little-endian u32s from byte
/// `SPLIT_CUTS` on: the number of own bytes, the number of kept Buffers,
/// then each one's offset among the own bytes (oldest first). JS slices its
/// own bytes there and puts its kept Buffers in between, so a large send
/// costs no native call of its own. The own bytes are returned as a
/// Buffer, except when there are kept Buffers and the bytes fit the first
/// `SPLIT_CUTS` bytes of `split` (frame headers, usually): then they are
/// there and the result is `null`, which is also the result when there is
/// no output (both counts 0). `split` must have room for an offset per
/// kept Buffer, which JS counts.
#[napi]
pub fn take_output_parts<'env>(
    env: &'env Env,
    h: u32,
    batch: Option<&[u8]>,
    used: u32,
    text: Option<JsString>,
    refs: Option<Vec<Buffer>>,
    mut split: Uint8ArraySlice,
) -> Result<Option<BufferSlice<'env>>, String> {
    if let Some(b) = batch {
        // The one borrow that could alias `split` (engine memory cannot: a
        // Buffer handed over is no longer the engine's).
        if overlap(b, &split) {
            return Err(invalid_argument("batch and split must not overlap"));
        }
    }
    // SAFETY: `split` is a module-level Buffer of lib/connection.js, not
    // overlapping `batch` (checked above), and JavaScript cannot run while
    // this call holds it.
    let split = unsafe { split.as_mut() };
    with(h, |n| {
        if split.len() < SPLIT_CUTS + 8 {
            return Err(invalid_argument("the split buffer is too short"));
        }
        if let Some(batch) = batch {
            send_staged(env, &mut n.conn, prefix(batch, Some(used))?, text, refs)?;
        }
        let (scratch, cuts) = split.split_at_mut(SPLIT_CUTS);
        let mut put = |i: usize, v: usize| -> JsResult<()> {
            let slot =
                cuts.get_mut(4 * i..4 * i + 4).ok_or_else(|| invalid_argument("the split buffer is too short"))?;
            slot.copy_from_slice(&clamp(v).to_le_bytes());
            Ok(())
        };
        let conn = &mut n.conn;
        if conn.output().len() == conn.buffered_out() {
            // No kept Buffers: one piece, as `take_output`.
            let all = take_all(env, conn)?;
            put(0, all.as_ref().map_or(0, |b| b.len()))?;
            put(1, 0)?;
            return Ok(all);
        }
        let mut own = 0usize;
        let mut kept = 0usize;
        // Set once the own bytes outgrow the scratch part.
        let mut spill: Option<Vec<u8>> = None;
        while conn.wants_write() {
            let piece = conn.output();
            let len = piece.len();
            if conn.output_is_shared() {
                put(2 + kept, spill.as_ref().map_or(own, Vec::len))?;
                kept += 1;
            } else {
                match spill.as_mut() {
                    Some(v) => v.extend_from_slice(piece),
                    None if own + len <= scratch.len() => {
                        scratch[own..own + len].copy_from_slice(piece);
                        own += len;
                    }
                    None => {
                        let mut v = Vec::with_capacity(own + conn.buffered_out());
                        v.extend_from_slice(&scratch[..own]);
                        v.extend_from_slice(piece);
                        spill = Some(v);
                    }
                }
            }
            conn.consume_output(len);
        }
        put(1, kept)?;
        match spill {
            None => {
                put(0, own)?;
                Ok(None)
            }
            Some(v) => {
                put(0, v.len())?;
                new_buffer(env, &[&v]).map(Some)
            }
        }
    })
}

/// Sends one fragment of a message; `fin` ends it.
#[napi]
pub fn send_fragment(h: u32, is_text: bool, data: &[u8], fin: bool) -> Result<(), String> {
    with(h, |n| {
        let kind = if is_text { DataKind::Text } else { DataKind::Binary };
        n.conn.send_fragment(kind, data, fin).map_err(core_error)
    })
}

/// Sends a ping (at most 125 bytes).
#[napi]
pub fn ping(h: u32, data: Option<&[u8]>) -> Result<(), String> {
    with(h, |n| n.conn.send_ping(data.unwrap_or_default()).map_err(core_error))
}

/// Sends a pong (at most 125 bytes).
#[napi]
pub fn pong(h: u32, data: Option<&[u8]>) -> Result<(), String> {
    with(h, |n| n.conn.send_pong(data.unwrap_or_default()).map_err(core_error))
}

/// Starts or answers the closing handshake; code 1005 sends no code.
#[napi]
pub fn close(h: u32, code: u16, reason: Option<String>) -> Result<(), String> {
    with(h, |n| n.conn.close(code, reason.as_deref().unwrap_or("")).map_err(core_error))
}

/// Whether the engine keeps a binary payload of `len` bytes by reference
/// (`send_binary_ref`, batch kind 5) rather than copying it: a server
/// without permessage-deflate, 4 KiB and more. Fixed once the connection
/// is open.
#[napi]
pub fn shares(h: u32, len: u32) -> Result<bool, String> {
    read(h, |n| n.conn.shares(len as usize))
}

/// Takes the bytes to write to the transport (`null` when none).
#[napi]
pub fn take_output<'env>(env: &'env Env, h: u32) -> Result<Option<BufferSlice<'env>>, String> {
    with(h, |n| take_all(env, &mut n.conn))
}

/// All pending output as one Buffer (`None` when there is none).
fn take_all<'env>(env: &'env Env, conn: &mut Connection) -> JsResult<Option<BufferSlice<'env>>> {
    let pending = conn.buffered_out();
    if pending == 0 {
        return Ok(None);
    }
    if conn.output().len() != pending {
        // Buffers kept by `send_binary_ref`: copied into one Buffer.
        let all = conn.take_output();
        return new_buffer(env, &[&all]).map(Some);
    }
    if pending >= HAND_OVER_OUTPUT && may_lend(pending) {
        // Large output (a big message) is handed over without a copy,
        // and the engine goes on in a recycled buffer.
        let mut v = spare(pending);
        conn.swap_output(&mut v);
        return hand_over(env, Loan::new(v), 0..pending).map(Some);
    }
    let b = new_buffer(env, &[conn.output()])?;
    conn.consume_output(pending);
    Ok(Some(b))
}

/// The state as a number: 0 CONNECTING, 1 OPEN, 2 LOCAL_CLOSING,
/// 3 REMOTE_CLOSING, 4 CLOSED.
#[napi]
pub fn state(h: u32) -> Result<u32, String> {
    read(h, |n| match n.conn.state() {
        State::Connecting => 0,
        State::Open => 1,
        State::LocalClosing => 2,
        State::RemoteClosing => 3,
        State::Closed => 4,
    })
}

/// Whether this is the client end.
#[napi]
pub fn is_client(h: u32) -> Result<bool, String> {
    read(h, |n| n.conn.role() == Role::Client)
}

/// Bytes waiting in the output.
#[napi]
pub fn buffered_out(h: u32) -> Result<u32, String> {
    read(h, |n| clamp(n.conn.buffered_out()))
}

/// Received bytes not yet turned into events.
#[napi]
pub fn buffered_in(h: u32) -> Result<u32, String> {
    read(h, |n| clamp(n.conn.buffered_in()))
}

/// Closed and all output taken: close the transport now.
#[napi]
pub fn should_close_transport(h: u32) -> Result<bool, String> {
    read(h, |n| n.conn.should_close_transport())
}

/// Frees empty buffers (for idle connections).
#[napi]
pub fn release_memory(h: u32) -> Result<(), String> {
    with(h, |n| {
        n.conn.release_memory();
        n.arena = Vec::new();
        Ok(())
    })
}

/// Panics on purpose, so the tests can prove that a panic becomes a
/// `WSPROTO_PANIC` error and disables the connection.
#[napi(js_name = "__testPanic")]
pub fn test_panic(h: u32) -> Result<(), String> {
    with(h, |_| panic!("deliberate panic for the test suite"))
}

/// Sends many whole messages in one call. `batch[..used]` holds records of
/// a kind byte, a little-endian u32 length and, for kinds 2 and 3, the
/// payload (the length counts its bytes): 2 is binary, 3 text as UTF-16
/// code units, little-endian (as `buf.ucs2Write` writes them); 4 is text
/// whose code units are the next `length` units of `text` (the short
/// staged strings, joined); 5 is binary whose payload is the next Buffer
/// of `refs`, `length` bytes long, kept by reference as `send_binary_ref`
/// keeps it (only where the engine keeps payloads: a server without
/// permessage-deflate, 4 KiB and more). The JS layer fills it from sends
/// made while the connection is open, so that a burst crosses the
/// boundary once. Stops at the first failure, which the JS layer prevents
/// by staging only sends that cannot fail.
#[napi]
pub fn send_batch(
    env: &Env,
    h: u32,
    batch: &[u8],
    used: u32,
    text: Option<JsString>,
    refs: Option<Vec<Buffer>>,
) -> Result<(), String> {
    with(h, |n| send_staged(env, &mut n.conn, prefix(batch, Some(used))?, text, refs))
}

/// `send_batch` on a connection.
fn send_staged(
    env: &Env,
    conn: &mut Connection,
    records: &[u8],
    text: Option<JsString>,
    refs: Option<Vec<Buffer>>,
) -> JsResult<()> {
    let mut refs = refs.unwrap_or_default().into_iter();
    let r = match text {
        Some(t) => with_units(env, t, |units| send_records(conn, records, units, &mut refs)),
        None => send_records(conn, records, &[], &mut refs),
    };
    if r.is_ok() && refs.next().is_some() {
        return Err(invalid_argument("more Buffers than kind 5 records"));
    }
    r
}

/// The records of `send_batch`; `units` holds the code units of the text
/// records, as little-endian bytes, and `refs` the kept Buffers.
fn send_records(
    conn: &mut Connection,
    mut rest: &[u8],
    mut units: &[u8],
    refs: &mut impl Iterator<Item = Buffer>,
) -> JsResult<()> {
    while !rest.is_empty() {
        let (head, tail) = rest.split_at_checked(5).ok_or_else(|| invalid_argument("truncated batch record"))?;
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if head[0] == 4 {
            let (these, later) =
                units.split_at_checked(2 * len).ok_or_else(|| invalid_argument("text record past the end"))?;
            send_utf16(conn, these)?;
            units = later;
            rest = tail;
            continue;
        }
        if head[0] == 5 {
            let data = refs.next().ok_or_else(|| invalid_argument("a kind 5 record without its Buffer"))?;
            if data.len() != len || !conn.shares(len) {
                return Err(invalid_argument("a kind 5 record the engine would not keep by reference"));
            }
            conn.send_binary_shared(Bytes::from_owner(data)).map_err(core_error)?;
            rest = tail;
            continue;
        }
        let (payload, tail) =
            tail.split_at_checked(len).ok_or_else(|| invalid_argument("batch record past the end"))?;
        match head[0] {
            2 => conn.send_binary(payload).map_err(core_error)?,
            3 if len.is_multiple_of(2) => send_utf16(conn, payload)?,
            3 => return Err(invalid_argument("a UTF-16 record has an odd length")),
            k => return Err(invalid_argument(format!("unknown batch record kind {k}"))),
        }
        rest = tail;
    }
    Ok(())
}
