'use strict';
// A small EventEmitter WebSocket over a Node stream socket, built on the
// sans-IO Connection: the socket moves bytes, the engine does the protocol.
//
// Events: 'open' (client), 'message' (data: Buffer, isBinary), 'ping' (data),
// 'pong' (data), 'close' (code, reason), 'error' (err). 'error' is emitted
// only when someone listens, so a misbehaving peer can never crash the
// process with an unhandled 'error'; the connection closes either way.
//
// Backpressure: when `socket.write` returns false the socket stops reading
// (so a peer that floods us while we cannot send gets throttled by TCP)
// until 'drain'. `bufferedAmount` counts what sits in the socket's and the
// engine's buffers.

const EventEmitter = require('node:events');
const net = require('node:net');
const tls = require('node:tls');
const { Connection, selectSubprotocol } = require('./connection.js');
const { invalidArgument, wsprotoError } = require('./errors.js');

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

// How long to wait for the peer to finish the closing handshake (and, for
// a client, for the server to close TCP) before dropping the socket.
const DEFAULT_CLOSE_TIMEOUT = 5000;
// How long the opening handshake may take: a client waits this long for the
// server's answer, a server taking over a raw socket (`acceptSocket`) this
// long for the request. Without it a peer that connects and says nothing
// (or one byte a minute) holds a socket forever. `handshakeTimeout: 0`
// waits without limit. (Behind an http.Server, its own `headersTimeout`
// and `requestTimeout` bound the request.)
const DEFAULT_HANDSHAKE_TIMEOUT = 10000;
const EMPTY = Buffer.alloc(0);

class WebSocket extends EventEmitter {
  /**
   * @private Use `connect`, `WebSocketServer` or `WebSocket.fromSocket`.
   * @param {import('node:net').Socket} socket
   * @param {Connection} connection
   * @param {object} [options]
   */
  constructor(socket, connection, options = {}) {
    super();
    this._socket = socket;
    this._conn = connection;
    this._readyState = connection.state === 'OPEN' ? OPEN : CONNECTING;
    this._closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this._closeTimer = null;
    this._handshakeTimer = null;
    this._closeCode = 1006;
    this._closeReason = '';
    this._closeEmitted = false;
    this._paused = false;
    this._fragments = null;
    this._callbacks = null;
    this._flushQueued = false;
    this._flushTask = () => {
      this._flushQueued = false;
      this._flush();
    };
    this._rejected = null;
    this._failed = false;
    this._endedInHandshake = false;
    // One 'error' per failure, as in ws: a socket error during the
    // handshake is that error, not also a failed handshake.
    this._socketErrored = false;
    this.protocol = options.protocol || '';
    this.extensions = options.extensions || [];
    this.upgradeRequest = options.request || null;
    this.url = options.url || null;

    this._onDrain = () => {
      if (this._paused) {
        this._paused = false;
        this._socket.resume();
      }
      this.emit('drain');
    };
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    socket.on('data', (chunk) => this._receive(chunk));
    socket.on('end', () => this._receive(null));
    socket.on('drain', this._onDrain);
    socket.on('error', (err) => {
      this._socketErrored = true;
      this._emitError(err);
    });
    socket.on('close', () => this._onSocketClose());
    if (this._readyState === CONNECTING && connection.isClient) {
      const limit = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
      if (limit > 0) this._handshakeTimer = setTimeout(() => this._handshakeTimedOut(limit), limit);
    }
  }

  _handshakeTimedOut(limit) {
    this._handshakeTimer = null;
    this._failed = true;
    this._emitError(
      wsprotoError('WSPROTO_REMOTE_HANDSHAKE_TIMEOUT', `the server did not answer the opening handshake within ${limit} ms`),
    );
    this._socket.destroy();
  }

  _clearHandshakeTimer() {
    if (this._handshakeTimer) {
      clearTimeout(this._handshakeTimer);
      this._handshakeTimer = null;
    }
  }

  /** Attaches to a socket whose handshake happened elsewhere. */
  static fromSocket(socket, options = {}) {
    const role = options.role === 'client' ? 'client' : 'server';
    return new WebSocket(socket, Connection.open(role, options), options);
  }

  static get CONNECTING() {
    return CONNECTING;
  }
  static get OPEN() {
    return OPEN;
  }
  static get CLOSING() {
    return CLOSING;
  }
  static get CLOSED() {
    return CLOSED;
  }

  /** 0 CONNECTING, 1 OPEN, 2 CLOSING, 3 CLOSED (as in the browser API). */
  get readyState() {
    return this._readyState;
  }

  /** Bytes queued but not yet handed to the kernel. */
  get bufferedAmount() {
    return this._socket.writableLength + this._conn.bufferedAmount;
  }

  /** The sans-IO connection underneath. */
  get connection() {
    return this._conn;
  }

  /**
   * Sends a message: strings as text, bytes as binary, unless
   * `options.binary` says otherwise. `cb` runs when the bytes are written.
   */
  send(data, options, cb) {
    if (typeof options === 'function') {
      cb = options;
      options = undefined;
    }
    const binary = options && options.binary !== undefined ? options.binary : typeof data !== 'string';
    this._command(() => {
      if (binary) this._conn.sendBinary(data);
      else this._conn.sendText(data);
    }, cb);
  }

  /** Sends one fragment; the first starts a message, `fin` ends it. */
  sendFragment(data, { binary = typeof data !== 'string', fin = true } = {}, cb) {
    this._command(() => this._conn.sendFragment(binary ? 'binary' : 'text', data, fin), cb);
  }

  ping(data, cb) {
    this._command(() => this._conn.ping(data), cb);
  }

  pong(data, cb) {
    this._command(() => this._conn.pong(data), cb);
  }

  /** Starts the closing handshake (or answers the peer's). */
  close(code = 1000, reason = '') {
    if (this._readyState === CLOSED) return;
    if (this._readyState === CLOSING && this._conn.state !== 'REMOTE_CLOSING') return;
    if (this._conn.state === 'CONNECTING') {
      this.terminate();
      return;
    }
    this._conn.close(code, reason);
    this._readyState = CLOSING;
    this._flush();
    this._afterClose();
  }

  /** Drops the connection at once. */
  terminate() {
    this._readyState = CLOSING;
    this._socket.destroy();
  }

  /** Stops reading from the socket. */
  pause() {
    this._socket.pause();
  }

  resume() {
    if (!this._paused) this._socket.resume();
  }

  // ---- internals ----

  _command(fn, cb) {
    try {
      fn();
    } catch (err) {
      // Like ws: once the closing handshake has begun, a late send is
      // reported to its callback instead of thrown. Other misuse throws,
      // synchronously, with a WSPROTO_LOCAL_* code.
      const late = err.code === 'WSPROTO_LOCAL_INVALID_STATE' && this._readyState !== CONNECTING;
      if (!late) throw err;
      if (cb) process.nextTick(cb, err);
      return;
    }
    // Sends made in one synchronous burst leave in one socket write (and
    // one batch into the engine): the flush waits for a microtask.
    if (cb) (this._callbacks ??= []).push(cb);
    if (!this._flushQueued) {
      this._flushQueued = true;
      queueMicrotask(this._flushTask);
    }
  }

  /** Writes pending engine output; pauses reading under backpressure. */
  _flush() {
    const cbs = this._callbacks;
    this._callbacks = null;
    const done = cbs && ((err) => {
      for (const cb of cbs) cb(err);
    });
    const parts = this._conn.takeOutputParts();
    if (parts === null) {
      if (done) process.nextTick(done);
      return;
    }
    if (this._socket.destroyed || !this._socket.writable) {
      if (done) process.nextTick(done, wsprotoError('WSPROTO_LOCAL_INVALID_STATE', 'the socket is closed'));
      return;
    }
    let ok;
    if (parts.length === 1) {
      ok = this._socket.write(parts[0], done);
    } else {
      // Large Buffers a server sends are pieces of their own (not copied):
      // one corked burst leaves as one writev.
      this._socket.cork();
      const last = parts.length - 1;
      for (let i = 0; i < last; i++) this._socket.write(parts[i]);
      ok = this._socket.write(parts[last], done);
      this._socket.uncork();
    }
    if (!ok && !this._paused) {
      this._paused = true;
      this._socket.pause();
    }
  }

  _receive(chunk) {
    // The engine reports a stream that ends inside the handshake as a close
    // (1006); to the program it is an error, as in ws ("socket hang up").
    if (chunk === null && this._readyState === CONNECTING) this._endedInHandshake = true;
    // Peer errors arrive as events (onError), never as exceptions; an
    // exception thrown by a listener propagates as it would with ws.
    this._conn.receiveInto(chunk, this, false);
    this._flush();
    if (this._conn.state === 'CLOSED' && this._readyState !== CLOSED) {
      this._readyState = CLOSING;
      this._afterClose();
    }
  }

  /** Once the engine is closed: who closes TCP and when. */
  _afterClose() {
    if (this._conn.state !== 'CLOSED') {
      // We sent a close; wait for the answer, but not forever.
      this._armCloseTimer();
      return;
    }
    if (!this._conn.isClient || this._rejected || this._failed) {
      // The server closes TCP first (RFC 6455 §7.1.1).
      this._socket.end();
    }
    this._armCloseTimer();
  }

  _armCloseTimer() {
    if (this._closeTimer) return;
    this._closeTimer = setTimeout(() => this._socket.destroy(), this._closeTimeout);
    this._closeTimer.unref();
  }

  _onSocketClose() {
    if (this._closeTimer) clearTimeout(this._closeTimer);
    this._clearHandshakeTimer();
    this._readyState = CLOSED;
    const inHandshake = this._conn.state === 'CONNECTING' || this._endedInHandshake;
    if (inHandshake && this.listenerCount('error') > 0 && !this._rejected && !this._failed && !this._socketErrored) {
      this._emitError(wsprotoError('WSPROTO_REMOTE_BAD_HANDSHAKE', 'the connection closed during the handshake'));
    }
    if (!this._closeEmitted) {
      this._closeEmitted = true;
      this.emit('close', this._closeCode, this._closeReason);
    }
  }

  _emitError(err) {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  // ---- the event sink the Connection calls ----

  onText(data) {
    this.emit('message', data, false);
  }

  onBinary(data) {
    this.emit('message', data, true);
  }

  onChunk(isBinary, data, fin) {
    // With partialMessages the socket still delivers whole messages. Every
    // frame gives a piece, an empty frame an empty one: those are not kept,
    // so a flood of empty fragments costs no memory here either.
    if (this._fragments === null) this._fragments = [];
    if (data.length > 0) this._fragments.push(data);
    if (fin) {
      const whole = Buffer.concat(this._fragments);
      this._fragments = null;
      this.emit('message', whole, isBinary);
    }
  }

  onPing(data) {
    this.emit('ping', data);
  }

  onPong(data) {
    this.emit('pong', data);
  }

  onClose(code, reason) {
    this._closeCode = code;
    this._closeReason = reason;
    if (this._conn.state === 'REMOTE_CLOSING') {
      // autoClose is off: the application answers with close().
      this._readyState = CLOSING;
      this.emit('closing', code, reason);
    }
  }

  onRequest() {
    // Only raw-socket servers see this; they are driven by acceptSocket.
  }

  onAccepted(response) {
    this._clearHandshakeTimer();
    this._readyState = OPEN;
    this.protocol = response.subprotocol || '';
    this.extensions = response.extensions;
    this.emit('open', response);
  }

  onRejected(response) {
    this._clearHandshakeTimer();
    this._rejected = { response, body: [] };
  }

  onRejectBody(data, fin) {
    const r = this._rejected;
    r.body.push(Buffer.from(data));
    if (fin) {
      const body = Buffer.concat(r.body);
      this.emit('unexpected-response', r.response, body);
      this._emitError(
        wsprotoError('WSPROTO_REMOTE_REJECTED', `the server refused the upgrade with status ${r.response.status}`, {
          status: r.response.status,
          response: r.response,
          body,
        }),
      );
      this._socket.end();
    }
  }

  onError(err) {
    this._failed = true;
    if (err.closeCode) {
      this._closeCode = err.closeCode;
      this._closeReason = err.message;
    }
    this._emitError(err);
  }
}

/**
 * Accepts WebSocket upgrades, either attached to an `http.Server`
 * (`{ server }`) or fed by hand through `handleUpgrade` / `acceptSocket`.
 *
 * Options: `path` (only this path), `handleProtocols(offered, request)`
 * returning the protocol or false, `protocols` (a list, in preference
 * order), `verifyClient(request)` returning true or a
 * `{ status, headers, body }` rejection, `deflate`, the engine's limits,
 * `closeTimeout`, and `handshakeTimeout` (for `acceptSocket`, ms; default
 * 10000, 0 for none).
 */
class WebSocketServer extends EventEmitter {
  constructor(options = {}, onConnection) {
    super();
    this.options = options;
    this.clients = new Set();
    if (onConnection) this.on('connection', onConnection);
    if (options.server) {
      this._server = options.server;
      this._onUpgrade = (req, socket, head) => this.handleUpgrade(req, socket, head);
      this._server.on('upgrade', this._onUpgrade);
    }
  }

  /** Handles one `upgrade` event; emits 'connection' (ws, request, req). */
  handleUpgrade(req, socket, head, cb) {
    const o = this.options;
    socket.on('error', () => {}); // A reset during the handshake is not ours to throw.
    const { connection, request, error } = Connection.fromUpgradeRequest(req, o);
    // The engine's path: for a target in absolute form (ws://host/chat),
    // the path after the host.
    if (o.path && (request ? request.path : req.url.split('?')[0]) !== o.path) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return null;
    }
    if (error) {
      const out = connection.takeOutput();
      socket.end(out || 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      this.emit('handshakeError', error, req);
      return null;
    }
    const ws = this._decide(socket, connection, request, req);
    if (ws) {
      if (cb) cb(ws, request, req);
      // Frames the client sent right behind its request.
      if (head && head.length) ws._receive(head);
    }
    return ws;
  }

  /**
   * Takes over a raw socket that has not spoken HTTP yet: the engine reads
   * the request itself. Emits 'connection' once the upgrade is accepted.
   */
  acceptSocket(socket) {
    const connection = Connection.server(this.options);
    socket.on('error', () => {}); // A reset during the handshake is not ours to throw.
    const limit = this.options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
    let timer = null;
    const done = () => {
      socket.removeListener('data', onData);
      socket.removeListener('close', done);
      if (timer) clearTimeout(timer);
      timer = null;
    };
    const sink = {
      request: null,
      error: null,
      onRequest(r) {
        this.request = r;
      },
      onError(e) {
        this.error = e;
      },
    };
    const onData = (chunk) => {
      connection.receiveInto(chunk, sink);
      if (sink.error) {
        done();
        socket.end(connection.takeOutput());
        this.emit('handshakeError', sink.error, null);
      } else if (sink.request) {
        done();
        const ws = this._decide(socket, connection, sink.request, null);
        // Frames that came with the request wait inside the engine; an
        // empty receive turns them into events.
        if (ws) ws._receive(EMPTY);
      }
    };
    socket.on('data', onData);
    socket.on('close', done);
    if (limit > 0) {
      timer = setTimeout(() => {
        done();
        socket.destroy();
        const err = wsprotoError(
          'WSPROTO_REMOTE_HANDSHAKE_TIMEOUT',
          `the client did not send its opening handshake within ${limit} ms`,
        );
        this.emit('handshakeError', err, null);
      }, limit);
    }
  }

  _decide(socket, connection, request, req) {
    const o = this.options;
    let verdict = true;
    try {
      if (o.verifyClient) verdict = o.verifyClient(request, req);
    } catch (err) {
      verdict = { status: 500 };
    }
    if (verdict !== true) {
      const r = typeof verdict === 'object' && verdict ? verdict : { status: 403 };
      connection.reject({ status: r.status || 403, headers: r.headers, body: r.body });
      socket.end(connection.takeOutput());
      return null;
    }
    let protocol = null;
    if (o.handleProtocols) protocol = o.handleProtocols(request.subprotocols, request) || null;
    else if (o.protocols) protocol = selectSubprotocol(request.subprotocols, o.protocols);
    connection.accept({ subprotocol: protocol, headers: o.headers, deflate: o.deflate });
    const out = connection.takeOutput();
    const ws = new WebSocket(socket, connection, {
      protocol: protocol || '',
      request,
      closeTimeout: o.closeTimeout,
      extensions: [],
    });
    socket.write(out);
    this.clients.add(ws);
    ws.on('close', () => this.clients.delete(ws));
    this.emit('connection', ws, request, req);
    return ws;
  }

  /** Detaches from the http server and closes every client with 1001. */
  close(cb) {
    if (this._server) this._server.removeListener('upgrade', this._onUpgrade);
    for (const ws of this.clients) ws.close(1001, 'server shutting down');
    if (cb) process.nextTick(cb);
  }
}

/**
 * Opens a client connection to `ws://` or `wss://` `url`. Options: `protocols`,
 * `headers`, `origin`, `deflate`, the engine's limits, `closeTimeout`,
 * `handshakeTimeout` (ms until the server's answer; default 10000, 0 for
 * none), and for wss `tls` (passed to `tls.connect`). Returns the WebSocket at once;
 * it emits 'open' when the server accepts.
 */
function connect(url, options = {}) {
  const u = url instanceof URL ? url : new URL(url);
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw invalidArgument(`unsupported URL scheme ${u.protocol}`);
  const secure = u.protocol === 'wss:';
  const port = u.port ? Number(u.port) : secure ? 443 : 80;
  const hostname = u.hostname.replace(/^\[|\]$/g, '');
  const connection = Connection.client({
    ...options,
    host: u.host,
    path: (u.pathname || '/') + u.search,
    subprotocols: options.protocols,
  });
  const socket = secure
    ? tls.connect({ host: hostname, port, servername: hostname, ...(options.tls || {}) })
    : net.connect({ host: hostname, port });
  const ws = new WebSocket(socket, connection, {
    url: u.href,
    closeTimeout: options.closeTimeout,
    handshakeTimeout: options.handshakeTimeout,
  });
  const request = connection.takeOutput();
  socket.write(request);
  return ws;
}

module.exports = { WebSocket, WebSocketServer, connect, CONNECTING, OPEN, CLOSING, CLOSED };
