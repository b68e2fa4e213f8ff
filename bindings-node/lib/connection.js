'use strict';
// The sans-IO Connection: bytes in, events out; commands in, bytes out.
//
// The addon returns each batch of events as one Buffer of compact records
// (src/events.rs describes the layout). This file walks those records and
// hands each event to a "sink": `receiveData` collects plain event objects,
// while the socket layer passes itself as the sink so that no intermediate
// objects are made on the hot path.

const N = require('./native.js');
const { fromErrorInfo, invalidArgument } = require('./errors.js');

// Record types; keep in sync with src/events.rs.
const T_REQUEST = 1;
const T_ACCEPTED = 2;
const T_REJECTED = 3;
const T_REJECT_BODY = 4;
const T_TEXT = 5;
const T_BINARY = 6;
const T_TEXT_CHUNK = 7;
const T_BINARY_CHUNK = 8;
const T_PING = 9;
const T_PONG = 10;
const T_CLOSE = 11;
const T_ERROR = 12;
const T_MORE = 13;
// Record flag: the payload is not in the batch; N.takeLarge returns it.
const EXTERNAL = 2;

const STATES = ['CONNECTING', 'OPEN', 'LOCAL_CLOSING', 'REMOTE_CLOSING', 'CLOSED'];

// Connections are freed when their Connection object is collected (or at
// once with free()).
const registry = new FinalizationRegistry((h) => N.free(h));

const EMPTY = Buffer.alloc(0);

// Send staging. A native call costs more than framing a small message, so
// small whole messages sent while the connection is open are written into
// one shared staging Buffer (records of kind, length, payload) and handed
// to the engine in one `sendBatch` call. Any other native call on any
// connection first flushes the stage, so per-connection order is kept and
// every observable (output, bufferedAmount, state) is exact. Staging is
// only used when the send cannot fail, so errors still throw at once.
const STAGE_SIZE = 64 * 1024;
// Buffers at least this long that a server sends are not copied: the
// engine keeps them as pieces of its output (`takeOutputParts`). (Sends up
// to STAGE_MAX are staged, i.e. copied, first.) While the connection is
// open, such a send is staged too, as a record naming the Buffer, so a
// burst of them crosses into native code once, and not at all until the
// output is taken: `takeOutputParts` hands the engine the stage and takes
// the output in the same call.
const SHARE_MIN = 4096;
// `sendBinaryInto` results (src/connection.rs).
const INTO_SENT = 0;
const INTO_OUTPUT_PENDING = 2;
// Larger messages go through the engine's output: a Buffer above malloc's
// mmap threshold (128 KiB at first) is fresh pages each time, and the
// engine's recycled buffers were faster there (112 KiB even, 128 KiB-1 MiB
// 0.4-1.2x and unsteady, with framing into our own Buffers).
const INTO_MAX = 96 * 1024;
const STAGE_MAX = 8 * 1024;
// Strings are staged as UTF-16 code units, which the engine turns into
// UTF-8 itself (src/utf16.rs): V8's UTF-8 encoder (`utf8Write`,
// `Buffer.from`) is several times slower for non-ASCII strings. A string of
// up to ROPE_MAX units is not even copied here: staged strings are joined
// into one (a rope: joining costs no copy) and the engine copies the units
// of the whole batch out at once, since one `ucs2Write` call (~65 ns) costs
// more than framing a short message (64 units: 10.4 M msg/s against 6.8 M
// with a `ucs2Write` each). Longer strings are copied into the stage with
// `ucs2Write`: at 512 units the two were even and at 1024 it was faster
// (1.66 M against 1.39 M msg/s), since flattening the rope copies the
// units twice, into a new V8 string and then out.
const STAGE_MAX_UNITS = STAGE_MAX / 2;
const STAGE_TEXT_UNITS = STAGE_SIZE / 2;
const ROPE_MAX = 256;
const stage = Buffer.allocUnsafeSlow(STAGE_SIZE);
// Where `takeOutputParts` receives the frame headers that go between kept
// Buffers (the first SPLIT_CUTS bytes), and where they go (u32s after; see
// `take_output_parts` in src/connection.rs). Grown for many kept Buffers.
const SPLIT_CUTS = 8 * 1024;
let split = Buffer.allocUnsafeSlow(SPLIT_CUTS + 4 * 66);
let cuts = new Uint32Array(split.buffer, split.byteOffset + SPLIT_CUTS, 66);
let stageOwner = null;
let stageUsed = 0;
let stageText = '';
// The Buffers of staged kept sends (kind 5 records), in order.
let stageRefs = [];

function flushStage() {
  const owner = stageOwner;
  if (owner === null) return;
  const used = stageUsed;
  const text = stageText;
  const refs = stageRefs;
  stageOwner = null;
  stageUsed = 0;
  stageText = '';
  stageRefs = [];
  try {
    N.sendBatch(owner._h, stage, used, text === '' ? null : text, refs.length === 0 ? null : refs);
  } catch (err) {
    // Only a broken connection (a caught panic) gets here. Report it to
    // its owner, not to whichever connection's call flushed the stage.
    owner._open = false;
    owner._stageError = err;
  }
}

/** Makes room for `need` bytes of records owned by `conn`. */
function claimStage(conn, need) {
  if (stageOwner !== conn || stageUsed + need > STAGE_SIZE) {
    flushStage();
    stageOwner = conn;
  }
}

/** Makes room for a text record of `units` code units owned by `conn`. */
function claimStageText(conn, units) {
  if (stageOwner !== conn || stageUsed + 5 > STAGE_SIZE || stageText.length + units > STAGE_TEXT_UNITS) {
    flushStage();
    stageOwner = conn;
  }
}

function writeRecordHeader(kind, at, len) {
  stage[at] = kind;
  stage[at + 1] = len & 255;
  stage[at + 2] = (len >>> 8) & 255;
  stage[at + 3] = (len >>> 16) & 255;
  stage[at + 4] = len >>> 24;
}

/** Converts the accepted payload types to bytes. */
function toBytes(data, what) {
  if (data === undefined || data === null) return EMPTY;
  if (data instanceof Uint8Array) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw invalidArgument(`${what} must be a string, Buffer, TypedArray, DataView or ArrayBuffer`);
}

function toLatin1Flat(headers) {
  if (headers === undefined || headers === null) return undefined;
  if (Array.isArray(headers)) return headers.map(String);
  const flat = [];
  for (const [k, v] of Object.entries(headers)) {
    if (Array.isArray(v)) for (const x of v) flat.push(k, String(x));
    else flat.push(k, String(v));
  }
  return flat;
}

/** Pulls the limit options out of a user's options object. */
function nativeOptions(o) {
  if (!o) return undefined;
  return {
    maxFrameSize: o.maxFrameSize,
    maxMessageSize: o.maxMessageSize,
    maxFragments: o.maxFragments,
    maxHandshakeSize: o.maxHandshakeSize,
    maxHeaders: o.maxHeaders,
    autoPong: o.autoPong,
    autoClose: o.autoClose,
    partialMessages: o.partialMessages,
    maskSeed: o.maskSeed,
  };
}

function deflateOptions(d) {
  if (!d) return undefined;
  return d === true ? {} : d;
}

/**
 * Walks one batch of records, calling the sink's methods in order.
 * `textAsString` decides whether whole text messages arrive as strings.
 * Returns true when the batch stopped before a close frame (T_MORE).
 */
function dispatch(conn, buf, sink, textAsString) {
  const h = conn._h;
  let more = false;
  const n = buf.length;
  let i = 0;
  while (i < n) {
    const type = buf[i];
    const flags = buf[i + 1];
    const fin = (flags & 1) === 1;
    const len = buf[i + 4] | (buf[i + 5] << 8) | (buf[i + 6] << 16) | (buf[i + 7] * 0x1000000);
    const s = i + 8;
    const e = s + len;
    i = e;
    switch (type) {
      case T_TEXT:
        if (flags & EXTERNAL) {
          const big = N.takeLarge(h);
          sink.onText(textAsString ? big.utf8Slice(0, big.length) : big);
        } else {
          sink.onText(textAsString ? buf.utf8Slice(s, e) : buf.subarray(s, e));
        }
        break;
      case T_BINARY:
        sink.onBinary(flags & EXTERNAL ? N.takeLarge(h) : buf.subarray(s, e));
        break;
      case T_TEXT_CHUNK:
        sink.onChunk(false, flags & EXTERNAL ? N.takeLarge(h) : buf.subarray(s, e), fin);
        break;
      case T_BINARY_CHUNK:
        sink.onChunk(true, flags & EXTERNAL ? N.takeLarge(h) : buf.subarray(s, e), fin);
        break;
      case T_PING:
        sink.onPing(buf.subarray(s, e));
        break;
      case T_PONG:
        sink.onPong(buf.subarray(s, e));
        break;
      case T_CLOSE:
        sink.onClose(buf[s - 6] | (buf[s - 5] << 8), buf.utf8Slice(s, e));
        break;
      case T_REQUEST:
        sink.onRequest(N.takeRequest(h));
        break;
      case T_ACCEPTED:
        sink.onAccepted(N.takeResponse(h));
        break;
      case T_REJECTED:
        sink.onRejected(N.takeResponse(h));
        break;
      case T_REJECT_BODY:
        sink.onRejectBody(buf.subarray(s, e), fin);
        break;
      case T_ERROR:
        sink.onError(fromErrorInfo(N.takeError(h)));
        break;
      case T_MORE:
        more = true;
        break;
      default:
        throw new Error(`wsproto-rs: unknown event record ${type}`);
    }
  }
  return more;
}

/** The sink behind `receiveData`: one plain object per event. */
class ArraySink {
  constructor() {
    this.events = [];
  }
  onText(data) {
    this.events.push({ type: 'text', data });
  }
  onBinary(data) {
    this.events.push({ type: 'binary', data });
  }
  onChunk(isBinary, data, fin) {
    this.events.push({ type: isBinary ? 'binaryChunk' : 'textChunk', data, fin });
  }
  onPing(data) {
    this.events.push({ type: 'ping', data });
  }
  onPong(data) {
    this.events.push({ type: 'pong', data });
  }
  onClose(code, reason) {
    this.events.push({ type: 'close', code, reason });
  }
  onRequest(request) {
    this.events.push({ type: 'request', request });
  }
  onAccepted(response) {
    this.events.push({ type: 'accepted', response });
  }
  onRejected(response) {
    this.events.push({ type: 'rejected', response });
  }
  onRejectBody(data, fin) {
    this.events.push({ type: 'rejectBody', data, fin });
  }
  onError(error) {
    this.events.push({ type: 'error', error });
  }
}

/** Rebuilds the request head Node's HTTP parser consumed, byte for byte. */
function requestHead(req) {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return Buffer.from(head + '\r\n', 'latin1');
}

class Connection {
  /** @private Use the static constructors. */
  constructor(handle, options) {
    this._h = handle;
    this._textAsString = !(options && options.textAs === 'buffer');
    // Whether a whole-message send is sure to succeed (open, no fragmented
    // message in progress): then it may be staged.
    this._fragmenting = false;
    this._stageError = null;
    // Buffers the engine kept by reference, in output order.
    this._shared = [];
    // false once the engine refused to frame into our Buffers (an extension).
    this._into = null;
    // Output already out of the engine, which goes before what the engine
    // holds: frames `sendBinary` wrote into Buffers of its own, and what
    // the engine held when such a frame was written.
    this._held = null;
    this._heldBytes = 0;
    this._open = N.state(handle) === 1;
    registry.register(this, handle, this);
  }

  /** A server that reads the opening request from the bytes it receives. */
  static server(options) {
    return new Connection(N.serverNew(nativeOptions(options)), options);
  }

  /**
   * A client; its opening request is in `takeOutput()` at once.
   * `options.host` is required; `path`, `origin`, `subprotocols`,
   * `headers` and `deflate` are optional.
   */
  static client(options) {
    if (!options || typeof options.host !== 'string') throw invalidArgument('client options need a host string');
    const request = {
      host: options.host,
      path: options.path,
      origin: options.origin,
      subprotocols: options.subprotocols,
      headers: toLatin1Flat(options.headers),
      deflate: deflateOptions(options.deflate),
    };
    return new Connection(N.clientNew(nativeOptions(options), request), options);
  }

  /** A connection whose handshake happened elsewhere ('client' or 'server'). */
  static open(role, options) {
    if (role !== 'client' && role !== 'server') throw invalidArgument("role must be 'client' or 'server'");
    return new Connection(N.openNew(role === 'client', nativeOptions(options)), options);
  }

  /**
   * A server connection for a request Node's `http` module already parsed
   * (the `upgrade` event's `req`). Returns `{ connection, request, error }`:
   * `request` when the handshake is valid (answer with `accept` or
   * `reject`), else `error`, whose HTTP response is queued in the output.
   * Pass the upgrade event's `head` to `receiveData` after accepting.
   */
  static fromUpgradeRequest(req, options) {
    const connection = Connection.server(options);
    let request = null;
    let error = null;
    for (const ev of connection.receiveData(requestHead(req))) {
      if (ev.type === 'request') request = ev.request;
      else if (ev.type === 'error') error = ev.error;
    }
    if (!request && !error) {
      error = invalidArgument('the upgrade request head is incomplete');
    }
    return { connection, request, error };
  }

  /**
   * Feeds bytes from the transport (`null` at end of stream) and returns
   * the events they complete, in order. A protocol failure is the last
   * event, `{ type: 'error', error }`; its close frame is already queued.
   */
  receiveData(data) {
    const bytes = data === null || data === undefined ? null : toBytes(data, 'data');
    const sink = new ArraySink();
    if (stageOwner !== null) flushStage();
    let buf = N.receive(this._h, bytes, false);
    this._syncOpen();
    while (buf !== null && dispatch(this, buf, sink, this._textAsString)) {
      buf = N.receive(this._h, EMPTY, false);
      this._syncOpen();
    }
    return sink.events;
  }

  /**
   * Like `receiveData`, but calls the sink's `on*` methods instead of
   * building event objects, and in order: a close frame, a ping (with
   * autoPong) or a protocol failure that follows other events of the batch
   * is held back until the sink has handled them, so a handler can still
   * answer a message that arrived just before it, and its answer leaves
   * before the engine's close or pong.
   */
  receiveInto(data, sink, textAsString = true) {
    if (stageOwner !== null) flushStage();
    let buf = N.receive(this._h, data, true);
    this._syncOpen();
    while (buf !== null && dispatch(this, buf, sink, textAsString)) {
      if (stageOwner !== null) flushStage();
      buf = N.receive(this._h, EMPTY, true);
      this._syncOpen();
    }
  }

  _syncOpen() {
    this._open = !this._fragmenting && N.state(this._h) === 1;
  }

  /** Server: accepts the request (`subprotocol`, `headers`, `deflate`). */
  accept(options) {
    const o = options || {};
    if (stageOwner !== null) flushStage();
    N.accept(this._h, {
      subprotocol: o.subprotocol ?? undefined,
      headers: toLatin1Flat(o.headers),
      deflate: deflateOptions(o.deflate),
    });
    this._syncOpen();
  }

  /** Server: refuses the request with any status, headers and body. */
  reject(options) {
    const o = options || {};
    const body = o.body === undefined ? undefined : toBytes(o.body, 'body');
    if (stageOwner !== null) flushStage();
    N.reject(this._h, { status: o.status, headers: toLatin1Flat(o.headers) }, body);
  }

  /**
   * Sends a text message (a string, or UTF-8 bytes). Lone surrogates in a
   * string become U+FFFD, as in `Buffer.from(text)`.
   */
  sendText(text) {
    if (typeof text === 'string') {
      if (this._open && text.length <= ROPE_MAX) {
        claimStageText(this, text.length);
        writeRecordHeader(4, stageUsed, text.length);
        stageUsed += 5;
        stageText += text;
        return;
      }
      if (this._open && text.length <= STAGE_MAX_UNITS) {
        claimStage(this, 5 + text.length * 2);
        const n = stage.ucs2Write(text, stageUsed + 5);
        writeRecordHeader(3, stageUsed, n);
        stageUsed += 5 + n;
        return;
      }
      if (stageOwner !== null) flushStage();
      N.sendTextString(this._h, text);
    } else {
      // Bytes are checked for UTF-8 by the engine, at once.
      if (stageOwner !== null) flushStage();
      N.sendText(this._h, toBytes(text, 'text'));
    }
  }

  /** Sends a binary message (bytes, or a string sent as its UTF-8). */
  sendBinary(data) {
    const bytes = data instanceof Uint8Array ? data : toBytes(data, 'data');
    const len = bytes.length;
    if (this._open && len <= STAGE_MAX) {
      claimStage(this, 5 + len);
      writeRecordHeader(2, stageUsed, len);
      stage.set(bytes, stageUsed + 5);
      stageUsed += 5 + len;
      return;
    }
    if (len >= SHARE_MIN && Buffer.isBuffer(bytes)) {
      // Kept, not copied, where the wire bytes are the payload (a server
      // without deflate): like a socket write, the Buffer must not change
      // until it is written.
      if (this._open && (this._shares ??= N.shares(this._h, SHARE_MIN))) {
        claimStage(this, 5);
        writeRecordHeader(5, stageUsed, len);
        stageUsed += 5;
        stageRefs.push(bytes);
        this._shared.push(bytes);
        return;
      }
    }
    if (stageOwner !== null) flushStage();
    if (this._open && this._into !== false && len <= INTO_MAX) {
      // Framed straight into a Buffer of our own: a client masks the
      // payload into it in one pass, into memory malloc has just had back
      // from V8 (so warm), instead of into the engine's output and then out
      // again (see bench/node/RESULTS.md). The engine frames into it only
      // with no output pending, so what it holds is taken out first.
      const out = Buffer.allocUnsafe(N.binaryFrameLen(this._h, len));
      let r = N.sendBinaryInto(this._h, bytes, out);
      if (r === INTO_OUTPUT_PENDING) {
        this._hold(this._takeEngineParts());
        r = N.sendBinaryInto(this._h, bytes, out);
      }
      if (r === INTO_SENT) {
        this._hold([out]);
        return;
      }
      this._into = false; // an extension transforms messages
    }
    if (len >= SHARE_MIN && Buffer.isBuffer(bytes)) {
      if (N.sendBinaryRef(this._h, bytes)) this._shared.push(bytes);
      return;
    }
    N.sendBinary(this._h, bytes);
  }

  /**
   * Sends one fragment of a message of `kind` ('text' or 'binary'); the
   * first call starts the message, `fin` ends it.
   */
  sendFragment(kind, data, fin) {
    if (kind !== 'text' && kind !== 'binary') throw invalidArgument("kind must be 'text' or 'binary'");
    if (stageOwner !== null) flushStage();
    N.sendFragment(this._h, kind === 'text', toBytes(data, 'data'), Boolean(fin));
    this._fragmenting = !fin;
    this._syncOpen();
  }

  /** Sends a ping (at most 125 bytes). */
  ping(data) {
    if (stageOwner !== null) flushStage();
    N.ping(this._h, toBytes(data, 'data'));
  }

  /** Sends a pong (at most 125 bytes). */
  pong(data) {
    if (stageOwner !== null) flushStage();
    N.pong(this._h, toBytes(data, 'data'));
  }

  /** Starts or answers the closing handshake; 1005 sends no code. */
  close(code = 1000, reason = '') {
    if (!Number.isInteger(code) || code < 0 || code > 65535) throw invalidArgument('close code must be an integer');
    if (typeof reason !== 'string') throw invalidArgument('close reason must be a string');
    if (stageOwner !== null) flushStage();
    N.close(this._h, code, reason);
    this._syncOpen();
  }

  /** The bytes to write to the transport, or null. */
  takeOutput() {
    this._settleStage();
    // Buffers kept by reference are copied into the one Buffer returned.
    this._shared.length = 0;
    const own = N.takeOutput(this._h);
    const held = this._held;
    if (held === null) return own;
    this._held = null;
    this._heldBytes = 0;
    if (own !== null) held.push(own);
    return held.length === 1 ? held[0] : Buffer.concat(held);
  }

  /** @private Hands staged sends to the engine; throws what they raised. */
  _settleStage() {
    if (stageOwner !== null) flushStage();
    if (this._stageError) {
      const err = this._stageError;
      this._stageError = null;
      throw err;
    }
  }

  /**
   * The bytes to write as an array of Buffers, in order, or null: large
   * Buffers sent by a server appear as themselves (not copied). Write them
   * with one `socket.cork()`/`uncork()` (or `writev`).
   */
  takeOutputParts() {
    const parts = this._takeEngineParts();
    const held = this._held;
    if (held === null) return parts;
    this._held = null;
    this._heldBytes = 0;
    if (parts !== null) for (const p of parts) held.push(p);
    return held;
  }

  /** Keeps `parts` (output taken from the engine, or null) in order. */
  _hold(parts) {
    if (parts === null) return;
    if (this._held === null) this._held = [];
    for (const p of parts) {
      this._held.push(p);
      this._heldBytes += p.length;
    }
  }

  /** The engine's output as parts (null when none), with staged sends. */
  _takeEngineParts() {
    if (this._stageError) this._settleStage(); // throws it
    // This connection's staged sends go to the engine in the same call.
    let batch = null;
    let used = 0;
    let text = null;
    let refs = null;
    if (stageOwner === this) {
      batch = stage;
      used = stageUsed;
      if (stageText !== '') text = stageText;
      if (stageRefs.length !== 0) refs = stageRefs;
      stageOwner = null;
      stageUsed = 0;
      stageText = '';
      stageRefs = [];
    } else {
      this._settleStage();
    }
    const shared = this._shared;
    if (cuts.length < shared.length + 2) {
      split = Buffer.allocUnsafeSlow(SPLIT_CUTS + 4 * (shared.length + 66));
      cuts = new Uint32Array(split.buffer, split.byteOffset + SPLIT_CUTS, shared.length + 66);
    }
    let own;
    try {
      own = N.takeOutputParts(this._h, batch, used, text, refs, split);
    } catch (err) {
      // Only a broken connection (a caught panic) gets here.
      this._open = false;
      throw err;
    }
    const ownLen = cuts[0];
    const kept = cuts[1];
    if (kept === 0) return own === null ? null : [own];
    if (own === null) {
      // Frame headers: copied out of the scratch (small copies come from
      // Node's Buffer pool, not a fresh allocation each).
      own = Buffer.allocUnsafe(ownLen);
      split.copy(own, 0, 0, ownLen);
    }
    const parts = [];
    let at = 0;
    for (let i = 0; i < kept; i++) {
      const cut = cuts[2 + i];
      if (cut > at) parts.push(own.subarray(at, cut));
      parts.push(shared[i]);
      at = cut;
    }
    if (at < ownLen) parts.push(own.subarray(at, ownLen));
    this._shared = kept === shared.length ? [] : shared.slice(kept);
    return parts;
  }

  /** 'CONNECTING', 'OPEN', 'LOCAL_CLOSING', 'REMOTE_CLOSING' or 'CLOSED'. */
  get state() {
    return STATES[N.state(this._h)];
  }

  get isClient() {
    return N.isClient(this._h);
  }

  /** Bytes waiting in the output (not yet taken). */
  get bufferedAmount() {
    if (stageOwner === this) flushStage();
    return N.bufferedOut(this._h) + this._heldBytes;
  }

  /** Received bytes not yet turned into events. */
  get bufferedIn() {
    return N.bufferedIn(this._h);
  }

  /** True once closed with all output taken: close the transport. */
  get shouldCloseTransport() {
    return this._held === null && N.shouldCloseTransport(this._h);
  }

  /** Frees empty buffers; call on idle connections. */
  releaseMemory() {
    N.releaseMemory(this._h);
  }

  /**
   * Frees the native connection now instead of at garbage collection;
   * any later call throws WSPROTO_LOCAL_INVALID_HANDLE.
   */
  free() {
    if (stageOwner !== null) flushStage();
    this._open = false;
    this._held = null;
    this._heldBytes = 0;
    registry.unregister(this);
    N.free(this._h);
  }
}

/**
 * Picks the subprotocol to accept: the first of `supported` (the server's
 * preference order) that the client offered, or null.
 */
function selectSubprotocol(offered, supported) {
  for (const p of supported) if (offered.includes(p)) return p;
  return null;
}

module.exports = { Connection, selectSubprotocol, requestHead, toBytes };
