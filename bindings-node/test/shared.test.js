'use strict';
// Large Buffers a server sends are kept by reference, staged as records
// that name them, and handed to the engine in the same native call that
// takes the output (`takeOutputParts`): exact bytes, identity of the
// caller's Buffers, order with everything else, and the number of native
// calls a burst costs.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Connection, native } = require('../lib/index.js');
const { parseFrames } = require('./helpers.js');

/** A Buffer of `n` bytes that differs from any other of the same length. */
function payload(n, seed) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 255;
  return b;
}

/** Counts calls into the addon while `fn` runs. */
function countNativeCalls(fn) {
  const counts = {};
  const saved = {};
  for (const name of Object.keys(native)) {
    if (typeof native[name] !== 'function') continue;
    saved[name] = native[name];
    native[name] = (...args) => {
      counts[name] = (counts[name] || 0) + 1;
      return saved[name](...args);
    };
  }
  try {
    return { result: fn(), counts };
  } finally {
    Object.assign(native, saved);
  }
}

/** Runs the same sends on a fresh server; returns it. */
function replay(sends) {
  const conn = Connection.open('server');
  for (const [kind, data] of sends) {
    if (kind === 'binary') conn.sendBinary(data);
    else if (kind === 'text') conn.sendText(data);
    else conn.ping(data);
  }
  return conn;
}

test('kept sends: a burst of large sends costs one native call, taking the output', () => {
  const conn = Connection.open('server');
  conn.sendBinary(payload(10000, 0)); // asks once whether the engine keeps Buffers
  conn.takeOutputParts();
  const bigs = [];
  for (let i = 0; i < 100; i++) bigs.push(payload(9000 + i, i));
  const { result: parts, counts } = countNativeCalls(() => {
    for (const b of bigs) conn.sendBinary(b);
    conn.sendText('between');
    conn.sendBinary(Buffer.from('small'));
    return conn.takeOutputParts();
  });
  assert.deepEqual(counts, { takeOutputParts: 1 });
  // Header, kept Buffer, header, kept Buffer, ...: the caller's own Buffers.
  assert.equal(parts.length, 201);
  for (let i = 0; i < 100; i++) {
    assert.equal(parts[2 * i + 1], bigs[i], `part ${2 * i + 1} is the caller's Buffer`);
    const len = 9000 + i;
    assert.deepEqual(parts[2 * i], Buffer.from([0x82, 126, len >> 8, len & 255]));
  }
  assert.deepEqual(parts[200], Buffer.from([0x81, 7, ...Buffer.from('between'), 0x82, 5, ...Buffer.from('small')]));
  assert.equal(conn.takeOutputParts(), null);
});

test('kept sends: the same bytes as copied output, in order with other frames', () => {
  const sends = [];
  for (let i = 0; i < 40; i++) {
    sends.push(['binary', payload(4096 + 1000 * i, i)]);
    if (i % 3 === 0) sends.push(['text', 'é'.repeat(i * 400)]); // up to 15.6 KiB of own bytes: past the 8 KiB scratch
    if (i % 5 === 0) sends.push(['ping', Buffer.from([i])]);
    if (i % 4 === 0) sends.push(['binary', payload(100 + i, i)]);
  }
  sends.push(['binary', payload(70000, 1)]);
  const parts = replay(sends).takeOutputParts();
  const flat = replay(sends).takeOutput();
  assert.deepEqual(Buffer.concat(parts), flat);
  // Every Buffer over 8 KiB is a part of its own, as itself.
  const kept = sends.filter(([k, d]) => k === 'binary' && d.length > 8192).map(([, d]) => d);
  assert.deepEqual(parts.filter((p) => kept.includes(p)), kept);
  const frames = parseFrames(flat);
  assert.deepEqual(
    frames.map((f) => [f.opcode, f.payload.length]),
    sends.map(([k, d]) => [k === 'binary' ? 2 : k === 'text' ? 1 : 9, Buffer.byteLength(d)]),
  );
});

test('kept sends: hundreds in one take grow the offsets buffer', () => {
  const conn = Connection.open('server');
  const bigs = [];
  for (let i = 0; i < 700; i++) bigs.push(payload(8193, i));
  for (const b of bigs) conn.sendBinary(b);
  const parts = conn.takeOutputParts();
  assert.equal(parts.length, 1400);
  for (let i = 0; i < 700; i++) assert.equal(parts[2 * i + 1], bigs[i]);
  assert.deepEqual(Buffer.concat(parts), replay(bigs.map((b) => ['binary', b])).takeOutput());
});

test('kept sends: staged ones keep their place before a close, another connection, and takeOutput', () => {
  const a = Connection.open('server');
  const b = Connection.open('server');
  const big = payload(20000, 3);
  a.sendBinary(big);
  b.sendBinary(payload(9000, 4)); // takes the stage over: a's send goes to the engine first
  a.close(1000, 'bye');
  const parts = a.takeOutputParts();
  assert.equal(parts[1], big);
  assert.deepEqual(
    parseFrames(Buffer.concat(parts)).map((f) => [f.opcode, f.payload.length]),
    [
      [2, 20000],
      [8, 5],
    ],
  );
  assert.equal(b.takeOutput().length, 4 + 9000);
  // takeOutput copies kept Buffers into its one Buffer.
  const c = Connection.open('server');
  c.sendBinary(big);
  c.sendBinary(big);
  assert.deepEqual(c.takeOutput(), Buffer.concat([Buffer.from([0x82, 126, 0x4e, 0x20]), big, Buffer.from([0x82, 126, 0x4e, 0x20]), big]));
  assert.equal(c.takeOutputParts(), null);
});

test('kept sends: clients and non-Buffers copy; misuse still throws at once', () => {
  const client = Connection.open('client', { maskSeed: 1 });
  const big = payload(20000, 5);
  client.sendBinary(big);
  const cparts = client.takeOutputParts();
  assert.equal(cparts.length, 1);
  assert.deepEqual(parseFrames(cparts[0])[0].payload, big);
  const server = Connection.open('server');
  const u8 = new Uint8Array(big);
  server.sendBinary(u8);
  const sparts = server.takeOutputParts();
  assert.equal(sparts.length, 1, 'a plain Uint8Array is copied');
  server.sendFragment('binary', 'a', false);
  assert.throws(() => server.sendBinary(big), { code: 'WSPROTO_LOCAL_FRAGMENT_MISMATCH' });
  server.sendFragment('binary', 'b', true);
  server.close(1000, '');
  assert.throws(() => server.sendBinary(big), { code: 'WSPROTO_LOCAL_INVALID_STATE' });
});

test('kept sends: malformed records are refused by the engine', () => {
  const record = (kind, len) => Buffer.from([kind, len & 255, (len >> 8) & 255, (len >> 16) & 255, 0]);
  const server = Connection.open('server');
  const big = payload(9000, 6);
  // The length must be the Buffer's.
  assert.throws(() => native.sendBatch(server._h, record(5, 8999), 5, null, [big]), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT', message: /would not keep/ });
  // A record needs its Buffer, and a Buffer its record.
  assert.throws(() => native.sendBatch(server._h, record(5, 9000), 5, null, []), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT', message: /without its Buffer/ });
  assert.throws(() => native.sendBatch(server._h, record(2, 0), 5, null, [big]), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT', message: /more Buffers/ });
  // Too small to be kept, or sent by a client, which must mask.
  const small = payload(100, 1);
  assert.throws(() => native.sendBatch(server._h, record(5, 100), 5, null, [small]), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  const client = Connection.open('client');
  assert.throws(() => native.sendBatch(client._h, record(5, 9000), 5, null, [big]), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  assert.equal(client.takeOutput(), null);
  assert.equal(native.shares(client._h, 9000), false);
  assert.equal(native.shares(server._h, 4095), false);
  assert.equal(native.shares(server._h, 4096), true);
  // A split buffer too short for the counts is refused, not overrun.
  server.sendBinary(big);
  server.sendBinary(big);
  assert.throws(() => native.takeOutputParts(server._h, null, 0, null, null, Buffer.alloc(100)), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  // The stage and the split buffer must be different memory.
  const shared = Buffer.alloc(9000);
  assert.throws(() => native.takeOutputParts(server._h, shared.subarray(8000), 0, null, null, shared), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT', message: /overlap/ });
});

test('kept sends: own bytes past the scratch space come back as one Buffer, cut in place', () => {
  const sends = [
    ['binary', payload(9000, 1)],
    ['text', 'x'.repeat(3000)], // staged: 3 KiB of own bytes
    ['binary', payload(9001, 2)],
    ['text', 'é'.repeat(10000)], // 20 KiB: the own bytes outgrow the scratch here
    ['binary', payload(9002, 3)],
    ['ping', Buffer.from('p')],
  ];
  const parts = replay(sends).takeOutputParts();
  assert.deepEqual(
    parts.map((p) => p.length),
    [4, 9000, 3004 + 4, 9001, 20004 + 4, 9002, 3],
  );
  assert.equal(parts[1], sends[0][1]);
  assert.equal(parts[3], sends[2][1]);
  assert.equal(parts[5], sends[4][1]);
  assert.deepEqual(Buffer.concat(parts), replay(sends).takeOutput());
});
