'use strict';
// The shared test vectors (tests/vectors/frames.json), replayed through the
// Node Connection. Every binding replays the same file and the core checks
// it too. Each vector is fed whole, byte by byte and in 3-byte pieces; the
// events and the exact output bytes (replies, close frames) must match.
// This binding can fix the mask seed, so client output is compared too.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Connection } = require('../lib/index.js');

const VECTORS = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'tests', 'vectors', 'frames.json'), 'utf8'));

/** The error code this binding reports for a core ErrorKind name. */
function codeFor(kind) {
  const snake = kind.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
  return `WSPROTO_REMOTE_${snake.replace('OP_CODE', 'OPCODE')}`;
}

function replay(vector, chunk) {
  const c = vector.config;
  const conn = Connection.open(c.role, {
    autoClose: c.auto_close,
    autoPong: c.auto_pong,
    maskSeed: c.mask_seed,
    maxMessageSize: c.max_message_size,
    maxFrameSize: c.max_message_size, // as the core's replay does
  });
  const input = Buffer.from(vector.input, 'hex');
  const events = [];
  const out = [];
  for (let i = 0; i < Math.max(input.length, 1); i += chunk) {
    for (const ev of conn.receiveData(input.subarray(i, i + chunk))) {
      switch (ev.type) {
        case 'text':
          events.push({ text: ev.data });
          break;
        case 'binary':
          events.push({ binary: ev.data.toString('hex') });
          break;
        case 'ping':
          events.push({ ping: ev.data.toString('hex') });
          break;
        case 'pong':
          events.push({ pong: ev.data.toString('hex') });
          break;
        case 'close':
          events.push({ close: [ev.code, ev.reason] });
          break;
        case 'error':
          events.push({ error: { close_code: ev.error.closeCode, code: ev.error.code } });
          break;
        default:
          throw new Error(`unexpected event ${ev.type}`);
      }
    }
    const o = conn.takeOutput();
    if (o) out.push(o);
  }
  return { events, output: Buffer.concat(out).toString('hex') };
}

function expectedEvents(vector) {
  return vector.events.map((e) =>
    e.error ? { error: { close_code: e.error.close_code, code: codeFor(e.error.kind) } } : e,
  );
}

test('the shared vector file is there and not empty', () => {
  assert.ok(VECTORS.length >= 30);
});

for (const vector of VECTORS) {
  test(`vector: ${vector.name} (RFC 6455 ${vector.rfc6455})`, () => {
    for (const chunk of [1 << 30, 1, 3]) {
      const got = replay(vector, chunk);
      assert.deepEqual(got.events, expectedEvents(vector), `events, fed in ${chunk}-byte pieces`);
      assert.equal(got.output, vector.output, `output bytes, fed in ${chunk}-byte pieces`);
    }
  });
}
