'use strict';
// Strings sent as text: the engine turns their UTF-16 code units into
// UTF-8 itself (src/utf16.rs), so its output is checked byte for byte
// against V8's own encoder, `Buffer.from(string, 'utf8')`, for both of its
// kernels (AVX2 where the CPU has it, and the portable loop), on every path
// a string can take (joined with other short strings, staged, or sent on
// its own).

const test = require('node:test');
const assert = require('node:assert/strict');
const { Connection, native } = require('../lib/index.js');
const { parseFrames } = require('./helpers.js');

// The three paths, by length in code units (see lib/connection.js).
const ROPE_MAX = 256;
const STAGE_MAX_UNITS = 4096;

/** Deterministic numbers in [0, 1) (a 32-bit LCG), seeded per test. */
function seeded(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

/** Code units that sit on the boundaries of the UTF-8 forms. */
const SPECIAL = [0x00, 0x41, 0x7f, 0x80, 0xff, 0x7ff, 0x800, 0xfff, 0x2713, 0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xfffd, 0xfffe, 0xffff];

/** A random string: ASCII, 2- and 3-byte units, pairs and lone surrogates. */
function randomString(rnd, len) {
  const units = [];
  for (let i = 0; i < len; i++) {
    const r = rnd();
    if (r < 0.55) units.push(Math.floor(rnd() * 0x80));
    else if (r < 0.7) units.push(0x80 + Math.floor(rnd() * 0x780));
    else if (r < 0.85) units.push(0x800 + Math.floor(rnd() * 0xd000));
    else if (r < 0.95) units.push(0xd800 + Math.floor(rnd() * 0x400), 0xdc00 + Math.floor(rnd() * 0x400));
    else units.push(0xd800 + Math.floor(rnd() * 0x800));
  }
  let s = '';
  for (let i = 0; i < len; i += 4096) s += String.fromCharCode(...units.slice(i, Math.min(i + 4096, len)));
  return s;
}

/** Sends every string in one burst from a server; returns the payloads. */
function sentPayloads(strings) {
  const conn = Connection.open('server');
  for (const s of strings) conn.sendText(s);
  const out = conn.takeOutput();
  const frames = out === null ? [] : parseFrames(out);
  for (const f of frames) assert.equal(f.opcode, 1);
  return frames.map((f) => f.payload);
}

/** Asserts that each string went out as exactly `Buffer.from(s)`. */
function assertEncodes(strings, what) {
  const got = sentPayloads(strings);
  assert.equal(got.length, strings.length, what);
  for (let i = 0; i < strings.length; i++) {
    const want = Buffer.from(strings[i], 'utf8');
    if (!got[i].equals(want)) {
      assert.fail(`${what}: string ${i} (units ${[...strings[i]].map((c) => c.charCodeAt(0).toString(16)).join(' ').slice(0, 120)}) ` +
        `encoded as ${got[i].toString('hex').slice(0, 120)}, V8 gives ${want.toString('hex').slice(0, 120)}`);
    }
  }
}

/** Runs `fn` once with each kernel. */
function bothKernels(fn) {
  for (const scalar of [false, true]) {
    const before = native.__forceScalarUtf16(scalar);
    try {
      fn(scalar ? 'portable loop' : 'vector kernel');
    } finally {
      native.__forceScalarUtf16(before);
    }
  }
}

test('text: every single code unit encodes as V8 encodes it', () => {
  bothKernels((k) => {
    const all = [];
    for (let u = 0; u < 0x10000; u++) all.push(String.fromCharCode(u));
    assertEncodes(all, `${k}, one unit`);
    // The same units inside vector-sized strings, at every position of a
    // 16-unit step: 'x' * 15 around each one.
    const padded = [];
    for (let u = 0; u < 0x10000; u += 7) padded.push('x'.repeat(u % 16) + String.fromCharCode(u) + 'y'.repeat(15 - (u % 16)));
    assertEncodes(padded, `${k}, one unit in 16`);
  });
});

test('text: surrogates, paired and lone, at every offset around vector widths', () => {
  bothKernels((k) => {
    const strings = [];
    for (const a of SPECIAL) {
      for (const b of SPECIAL) {
        for (let pad = 0; pad <= 40; pad++) {
          const pair = String.fromCharCode(a, b);
          strings.push('a'.repeat(pad) + pair);
          strings.push('a'.repeat(pad) + pair + 'z'.repeat(pad % 5));
          strings.push('é'.repeat(pad) + pair + '✓');
        }
      }
    }
    assertEncodes(strings, `${k}, pairs`);
    // A pair split across a 16-unit step and a lone half at the very end.
    assertEncodes(['x'.repeat(15) + '\u{1F600}' + 'y'.repeat(16), 'x'.repeat(31) + '\ud83d', '\ude00' + 'x'.repeat(40), '\ud83d'.repeat(70)], k);
  });
});

test('text: every length from 0 to 200, and on each path, matches Buffer.from', () => {
  bothKernels((k) => {
    const rnd = seeded(2024);
    const strings = [];
    for (let len = 0; len <= 200; len++) {
      strings.push('wsproto bench ✓ '.repeat(13).slice(0, len));
      strings.push('ascii only text.'.repeat(13).slice(0, len));
      strings.push('ΑΒΓδεζ'.repeat(40).slice(0, len));
      strings.push(randomString(rnd, len));
    }
    for (const len of [ROPE_MAX, ROPE_MAX + 1, STAGE_MAX_UNITS, STAGE_MAX_UNITS + 1, 65536, 1 << 20]) {
      strings.push(randomString(rnd, len));
      strings.push('wsproto bench ✓ '.repeat(Math.ceil(len / 16)).slice(0, len));
    }
    assertEncodes(strings, `${k}, lengths`);
  });
});

test('text: random strings, the kernels agree with V8 and with each other', () => {
  const rnd = seeded(7);
  const strings = [];
  for (let i = 0; i < 3000; i++) strings.push(randomString(rnd, Math.floor(rnd() * 300)));
  bothKernels((k) => assertEncodes(strings, `${k}, random`));
});

test('text: a string and its UTF-8 bytes give the same masked frames', () => {
  const rnd = seeded(99);
  const strings = ['', 'hi', 'wsproto bench ✓ '.repeat(5), randomString(rnd, 300), randomString(rnd, 70000)];
  const a = Connection.open('client', { maskSeed: 5 });
  const b = Connection.open('client', { maskSeed: 5 });
  for (const s of strings) {
    a.sendText(s);
    b.sendText(Buffer.from(s, 'utf8'));
  }
  const out = a.takeOutput();
  assert.deepEqual(out, b.takeOutput());
  assert.deepEqual(
    parseFrames(out).map((f) => [f.masked, f.payload.toString('hex')]),
    strings.map((s) => [true, Buffer.from(s).toString('hex')]),
  );
});

test('text: the three paths interleave with other sends in order', () => {
  const rnd = seeded(3);
  const conn = Connection.open('server');
  const ref = Connection.open('server');
  const expected = [];
  for (let i = 0; i < 300; i++) {
    const r = rnd();
    if (r < 0.4) {
      const s = randomString(rnd, Math.floor(rnd() * (ROPE_MAX + 1)));
      conn.sendText(s);
      ref.sendText(Buffer.from(s));
      expected.push([1, Buffer.from(s)]);
    } else if (r < 0.6) {
      const s = randomString(rnd, ROPE_MAX + 1 + Math.floor(rnd() * 3000));
      conn.sendText(s);
      ref.sendText(Buffer.from(s));
      expected.push([1, Buffer.from(s)]);
    } else if (r < 0.65) {
      const s = randomString(rnd, STAGE_MAX_UNITS + 1 + Math.floor(rnd() * 5000));
      conn.sendText(s);
      ref.sendText(Buffer.from(s));
      expected.push([1, Buffer.from(s)]);
    } else if (r < 0.9) {
      const b = Buffer.from(randomString(rnd, Math.floor(rnd() * 100)));
      conn.sendBinary(b);
      ref.sendBinary(b);
      expected.push([2, b]);
    } else {
      conn.ping('p');
      ref.ping('p');
      expected.push([9, Buffer.from('p')]);
    }
  }
  const out = conn.takeOutput();
  assert.deepEqual(out, ref.takeOutput());
  assert.deepEqual(
    parseFrames(out).map((f) => [f.opcode, f.payload]),
    expected,
  );
});

test('text: a peer decodes what we send, including replaced lone surrogates', () => {
  const server = Connection.open('server');
  const client = Connection.open('client', { maskSeed: 1 });
  const strings = ['plain', 'lone \ud800 high', 'lone \udc00 low', '\u{1F600} pair', 'x'.repeat(100) + '\ud800', 'é'.repeat(5000)];
  for (const s of strings) server.sendText(s);
  const got = client.receiveData(server.takeOutput());
  assert.deepEqual(
    got.map((e) => [e.type, e.data]),
    strings.map((s) => ['text', Buffer.from(s).toString()]),
  );
  assert.equal(got[1].data, 'lone \ufffd high');
});

test('text: misuse throws at once on every path; non-strings are refused', () => {
  for (const s of ['short', 'x'.repeat(ROPE_MAX + 1), 'x'.repeat(STAGE_MAX_UNITS + 1)]) {
    const conn = Connection.open('server');
    conn.close(1000, '');
    assert.throws(() => conn.sendText(s), { code: 'WSPROTO_LOCAL_INVALID_STATE' });
    conn.takeOutput();
    const frag = Connection.open('server');
    frag.sendFragment('text', 'a', false);
    assert.throws(() => frag.sendText(s), { code: 'WSPROTO_LOCAL_FRAGMENT_MISMATCH' });
  }
  const conn = Connection.open('server');
  assert.throws(() => conn.sendText(42), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  assert.throws(() => native.sendTextString(conn._h, 42), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  assert.equal(conn.takeOutput(), null);
});

test('text: malformed batch records are refused by the engine', () => {
  const conn = Connection.open('server');
  const record = (kind, len, payload = []) => Buffer.from([kind, len & 255, len >> 8, 0, 0, ...payload]);
  // More units claimed than the joined text has.
  assert.throws(() => native.sendBatch(conn._h, record(4, 3), 5, 'ab'), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT', message: /past the end/ });
  // Half a code unit.
  assert.throws(() => native.sendBatch(conn._h, record(3, 1, [0x41]), 6), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT', message: /odd length/ });
  // Kind 1 (UTF-8 text) is gone; unknown kinds are refused.
  assert.throws(() => native.sendBatch(conn._h, record(1, 1, [0x41]), 6), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT', message: /kind 1/ });
  assert.throws(() => native.sendBatch(conn._h, record(4, 1), 5, 42), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  // Good records still work, with and without joined text.
  native.sendBatch(conn._h, Buffer.concat([record(4, 2), record(3, 2, [0x13, 0x27]), record(4, 1)]), 17, 'abc');
  assert.deepEqual(
    parseFrames(conn.takeOutput()).map((f) => f.payload.toString()),
    ['ab', '✓', 'c'],
  );
});
