'use strict';
// Shared helpers for the test files: frame building for hand-made input,
// open connection pairs, and loading the `ws` peer.

const path = require('node:path');
const net = require('node:net');
const { Connection } = require('../lib/index.js');

/**
 * Builds one frame by hand; `mask` is a 4-byte key or null. `lengthForm`
 * (0, 126 or 127) forces a length encoding, minimal or not.
 */
function frame(opcode, payload, { fin = true, mask = null, rsv = 0, lengthForm = null } = {}) {
  const data = Buffer.from(payload);
  const len = data.length;
  const form = lengthForm ?? (len < 126 ? 0 : len < 65536 ? 126 : 127);
  let head;
  if (form === 0) {
    head = Buffer.from([(fin ? 0x80 : 0) | (rsv << 4) | opcode, (mask ? 0x80 : 0) | len]);
  } else if (form === 126) {
    head = Buffer.from([(fin ? 0x80 : 0) | (rsv << 4) | opcode, (mask ? 0x80 : 0) | 126, len >> 8, len & 255]);
  } else {
    head = Buffer.alloc(10);
    head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
    head[1] = (mask ? 0x80 : 0) | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  if (!mask) return Buffer.concat([head, data]);
  const masked = Buffer.from(data);
  for (let i = 0; i < masked.length; i++) masked[i] ^= mask[i & 3];
  return Buffer.concat([head, Buffer.from(mask), masked]);
}

const MASK = [0x37, 0xfa, 0x21, 0x3d];

/** A masked (client-to-server) frame. */
function cframe(opcode, payload, opts = {}) {
  return frame(opcode, payload, { mask: MASK, ...opts });
}

/** Parses every frame in `buf` (unmasking), for checking output. */
function parseFrames(buf) {
  const out = [];
  let i = 0;
  while (i < buf.length) {
    const b0 = buf[i];
    const b1 = buf[i + 1];
    let len = b1 & 127;
    let p = i + 2;
    if (len === 126) {
      len = buf.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      len = Number(buf.readBigUInt64BE(p));
      p += 8;
    }
    let mask = null;
    if (b1 & 0x80) {
      mask = buf.subarray(p, p + 4);
      p += 4;
    }
    const payload = Buffer.from(buf.subarray(p, p + len));
    if (mask) for (let k = 0; k < payload.length; k++) payload[k] ^= mask[k & 3];
    out.push({ fin: !!(b0 & 0x80), rsv: (b0 >> 4) & 7, opcode: b0 & 15, masked: !!mask, payload });
    i = p + len;
  }
  return out;
}

/** A client and a server connection after a completed handshake. */
function openPair(options = {}) {
  const client = Connection.client({ host: 'example.com', path: '/chat', maskSeed: 7, ...options.client });
  const server = Connection.server(options.server);
  const [req] = server.receiveData(client.takeOutput());
  if (req.type !== 'request') throw new Error(`expected a request, got ${req.type}`);
  server.accept(options.accept);
  const [acc] = client.receiveData(server.takeOutput());
  if (acc.type !== 'accepted') throw new Error(`expected accepted, got ${acc.type}`);
  return { client, server, request: req.request, response: acc.response };
}

/** Loads `ws` from devDependencies, else from build/peers. */
function requireWs() {
  const candidates = [
    'ws',
    path.join(__dirname, '..', '..', 'build', 'peers', 'node_modules', 'ws'),
  ];
  for (const c of candidates) {
    try {
      return require(c);
    } catch {
      // try the next place
    }
  }
  throw new Error('the ws package is missing: run npm install in bindings-node or make node-peers');
}

/** Resolves once `emitter` emits `name`, with its arguments. */
function once(emitter, name, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${name}`)), ms);
    emitter.once(name, (...args) => {
      clearTimeout(t);
      resolve(args);
    });
  });
}

/** Collects everything a raw TCP peer receives until the server closes. */
function rawExchange(port, bytes, ms = 5000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error('raw exchange timed out'));
    }, ms);
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks));
    });
  });
}

module.exports = { frame, cframe, parseFrames, openPair, requireWs, once, rawExchange, MASK };
