'use strict';
// Buffers handed to JavaScript without a copy (received payloads of 48 KiB
// and more, output of 32 KiB and more) return to a per-thread pool once
// collected, and the engine goes on in them. These tests collect garbage
// on purpose between rounds, so that recycled memory is really reused, and
// check that what JavaScript still holds never changes and that what it
// gets next is exact.

const test = require('node:test');
const assert = require('node:assert/strict');
const v8 = require('node:v8');
const vm = require('node:vm');
const { Connection, native } = require('../lib/index.js');
const { parseFrames } = require('./helpers.js');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

/** Collects garbage, then lets Node run the finalizers of external Buffers. */
async function collect() {
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
}

function payload(n, seed) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed * 17) & 255;
  return b;
}

test('pool: received payloads handed over are never reused while held', async () => {
  const sender = Connection.open('client', { maskSeed: 9 });
  const receiver = Connection.open('server');
  const held = [];
  for (let round = 0; round < 6; round++) {
    const sizes = [48 << 10, 64 << 10, 100000, 48 << 10];
    const sent = sizes.map((n, i) => payload(n, round * 10 + i));
    for (const p of sent) sender.sendBinary(p);
    sender.sendText('after');
    const wire = sender.takeOutput();
    const got = [];
    for (let i = 0; i < wire.length; i += 65536) got.push(...receiver.receiveData(wire.subarray(i, i + 65536)));
    assert.deepEqual(
      got.map((e) => [e.type, e.data.length]),
      [...sizes.map((n) => ['binary', n]), ['text', 5]],
    );
    for (let i = 0; i < sent.length; i++) assert.ok(got[i].data.equals(sent[i]), `round ${round} message ${i}`);
    // Keep every other payload; let the rest be collected and recycled.
    held.push([got[0].data, sent[0]], [got[2].data, sent[2]]);
    await collect();
    for (const [data, want] of held) assert.ok(data.equals(want), 'a held payload changed');
  }
});

test('pool: output handed over is never reused while held', async () => {
  const conn = Connection.open('server');
  const held = [];
  for (let round = 0; round < 6; round++) {
    // A batch of small frames (> 32 KiB of output) and one large message.
    const small = [];
    for (let i = 0; i < 300; i++) {
      const b = payload(120, round * 1000 + i);
      small.push(b);
      conn.sendBinary(b);
    }
    const batch = conn.takeOutput();
    assert.deepEqual(
      parseFrames(batch).map((f) => f.payload),
      small,
    );
    const client = Connection.open('client', { maskSeed: round });
    const big = payload(70000, round);
    client.sendBinary(big);
    const masked = client.takeOutput();
    assert.deepEqual(parseFrames(masked)[0].payload, big);
    held.push([batch, Buffer.from(batch)], [masked, Buffer.from(masked)]);
    // And output that is dropped at once, to be recycled.
    for (let i = 0; i < 300; i++) conn.sendBinary(small[i]);
    assert.equal(conn.takeOutput().length, batch.length);
    await collect();
    for (const [out, copy] of held) assert.ok(out.equals(copy), 'held output changed');
  }
});

test('pool: a synchronous loop of large messages holds bounded memory', async () => {
  // Node frees an external Buffer only when the event loop turns, so a loop
  // that never yields would hold every payload and every output Buffer
  // handed over until it ends (20,000 sends of 64 KiB held 1.4 GB). Past
  // LENT_MAX (128 MiB) of loans the engine copies into memory V8 frees by
  // itself. 1 GiB goes each way here, without a turn of the loop, in
  // messages large enough that the client's output goes through the
  // engine's buffers too (up to 96 KiB it is framed into Buffers of V8's).
  const size = 128 << 10;
  const client = Connection.open('client', { maskSeed: 3 });
  const server = Connection.open('server');
  const sent = Array.from({ length: 8 }, (_, i) => payload(size, 40 + i));
  await collect();
  // What earlier tests left on loan (none once collected, in practice).
  const lentBefore = native.__lentBytes();
  const rssBefore = process.memoryUsage().rss;
  let maxLent = 0;
  for (let i = 0; i < 8192; i++) {
    const want = sent[i & 7];
    client.sendBinary(want);
    const wire = client.takeOutput();
    assert.equal(wire.length, size + 14);
    const got = server.receiveData(wire);
    assert.equal(got.length, 1);
    assert.equal(got[0].type, 'binary');
    assert.ok(got[0].data.equals(want), `message ${i}`);
    maxLent = Math.max(maxLent, native.__lentBytes());
  }
  const grown = process.memoryUsage().rss - rssBefore;
  assert.ok(maxLent > 0, 'large payloads and output were handed over at first');
  assert.ok(maxLent <= (128 << 20) + 2 * size * 1.25 + 4096, `at most 128 MiB on loan (${maxLent})`);
  assert.ok(grown < 512 << 20, `memory grew by ${grown} bytes over 2 GiB of messages`);
  await collect();
  assert.ok(native.__lentBytes() <= lentBefore, 'every loan came back once collected');
  // Lending resumes: the next large message is handed over again.
  client.sendBinary(sent[0]);
  const out = client.takeOutput();
  assert.ok(native.__lentBytes() > 0);
  assert.ok(server.receiveData(out)[0].data.equals(sent[0]));
});
