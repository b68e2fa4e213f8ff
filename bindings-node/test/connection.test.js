'use strict';
// The sans-IO Connection: handshake, messages, fragmentation, ping/pong,
// close, bad input and misuse, all without sockets, with exact bytes.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Connection, native, selectSubprotocol } = require('../lib/index.js');
const { frame, cframe, parseFrames, openPair } = require('./helpers.js');

const RFC_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const RFC_ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

function rfcRequest(extra = '') {
  return Buffer.from(
    'GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n' +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${RFC_KEY}\r\nOrigin: http://example.com\r\n` +
      `Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
    'latin1',
  );
}

test('server handshake: RFC 6455 example request, accept bytes, subprotocol', () => {
  const server = Connection.server();
  assert.equal(server.state, 'CONNECTING');
  const events = server.receiveData(rfcRequest());
  assert.equal(events.length, 1);
  const { type, request } = events[0];
  assert.equal(type, 'request');
  assert.equal(request.target, '/chat?room=1');
  assert.equal(request.path, '/chat');
  assert.equal(request.query, 'room=1');
  assert.equal(request.host, 'server.example.com');
  assert.equal(request.origin, 'http://example.com');
  assert.equal(request.key, RFC_KEY);
  assert.deepEqual(request.subprotocols, ['chat', 'superchat']);
  assert.equal(selectSubprotocol(request.subprotocols, ['superchat', 'chat']), 'superchat');
  server.accept({ subprotocol: 'superchat', headers: { 'X-Server': 'wsproto' } });
  assert.equal(server.state, 'OPEN');
  assert.equal(
    server.takeOutput().toString('latin1'),
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${RFC_ACCEPT}\r\nSec-WebSocket-Protocol: superchat\r\nX-Server: wsproto\r\n\r\n`,
  );
  assert.equal(server.takeOutput(), null);
});

test('server handshake: reject with any status, headers and body', () => {
  const server = Connection.server();
  server.receiveData(rfcRequest());
  server.reject({ status: 403, headers: ['X-Why', 'no'], body: 'go away' });
  const out = server.takeOutput().toString('latin1');
  assert.match(out, /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.match(out, /\r\nX-Why: no\r\n/);
  assert.match(out, /\r\nContent-Length: 7\r\n/);
  assert.ok(out.endsWith('\r\n\r\ngo away'));
  assert.equal(server.state, 'CLOSED');
  assert.equal(server.shouldCloseTransport, true);
});

test('server handshake: bad requests answer with 400/426 and an error event', () => {
  const noUpgrade = Connection.server();
  const [ev] = noUpgrade.receiveData(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  assert.equal(ev.type, 'error');
  assert.equal(ev.error.code, 'WSPROTO_REMOTE_BAD_HANDSHAKE');
  assert.equal(ev.error.httpStatus, 400);
  assert.match(noUpgrade.takeOutput().toString('latin1'), /^HTTP\/1\.1 400 /);

  const oldVersion = Connection.server();
  const req = rfcRequest().toString('latin1').replace('Version: 13', 'Version: 8');
  const [ev2] = oldVersion.receiveData(Buffer.from(req, 'latin1'));
  assert.equal(ev2.error.code, 'WSPROTO_REMOTE_UNSUPPORTED_VERSION');
  assert.equal(ev2.error.httpStatus, 426);
  assert.match(oldVersion.takeOutput().toString('latin1'), /^HTTP\/1\.1 426 [^]*Sec-WebSocket-Version: 13\r\n/);
});

test('server handshake: a request split byte by byte still parses', () => {
  const server = Connection.server();
  const bytes = rfcRequest();
  const seen = [];
  for (let i = 0; i < bytes.length; i++) seen.push(...server.receiveData(bytes.subarray(i, i + 1)));
  assert.deepEqual(
    seen.map((e) => e.type),
    ['request'],
  );
});

test('client handshake: request bytes, accepted response, subprotocol', () => {
  const client = Connection.client({
    host: 'example.com:8080',
    path: '/ws?x=1',
    origin: 'http://example.com',
    subprotocols: ['a', 'b'],
    headers: { Authorization: 'Bearer t' },
    maskSeed: 1,
  });
  const req = client.takeOutput().toString('latin1');
  const key = /\r\nSec-WebSocket-Key: ([A-Za-z0-9+/=]{24})\r\n/.exec(req)[1];
  assert.match(req, /^GET \/ws\?x=1 HTTP\/1\.1\r\nHost: example\.com:8080\r\n/);
  assert.match(req, /\r\nUpgrade: websocket\r\n/);
  assert.match(req, /\r\nSec-WebSocket-Version: 13\r\n/);
  assert.match(req, /\r\nSec-WebSocket-Protocol: a, b\r\n/);
  assert.match(req, /\r\nOrigin: http:\/\/example\.com\r\n/);
  assert.match(req, /\r\nAuthorization: Bearer t\r\n\r\n$/);
  const accept = require('node:crypto')
    .createHash('sha1')
    .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
    .digest('base64');
  const events = client.receiveData(
    Buffer.from(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: b\r\n\r\n` +
        '\x81\x02hi',
      'latin1',
    ),
  );
  assert.equal(events.length, 2);
  assert.equal(events[0].type, 'accepted');
  assert.equal(events[0].response.status, 101);
  assert.equal(events[0].response.subprotocol, 'b');
  assert.deepEqual(events[1], { type: 'text', data: 'hi' });
  assert.equal(client.state, 'OPEN');
});

test('client handshake: a wrong Sec-WebSocket-Accept fails the connection', () => {
  const client = Connection.client({ host: 'h' });
  client.takeOutput();
  const [ev] = client.receiveData(
    Buffer.from(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n',
    ),
  );
  assert.equal(ev.type, 'error');
  assert.equal(ev.error.code, 'WSPROTO_REMOTE_BAD_HANDSHAKE');
  assert.equal(client.state, 'CLOSED');
});

test('client handshake: a refusal gives rejected + its body', () => {
  const client = Connection.client({ host: 'h' });
  client.takeOutput();
  const events = client.receiveData(
    Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nX-A: b\r\n\r\nnope!'),
  );
  assert.deepEqual(
    events.map((e) => e.type),
    ['rejected', 'rejectBody'],
  );
  assert.equal(events[0].response.status, 404);
  assert.deepEqual(events[0].response.headers, ['Content-Length', '5', 'X-A', 'b']);
  assert.equal(events[1].data.toString(), 'nope!');
  assert.equal(events[1].fin, true);
});

test('messages: exact server frames, and a client masks', () => {
  const { client, server } = openPair();
  server.sendText('hi');
  server.sendBinary(Buffer.from([1, 2, 3]));
  server.sendBinary(new Uint16Array([0x0201]));
  server.sendText(Buffer.from('é'));
  assert.deepEqual(
    server.takeOutput(),
    Buffer.from([0x81, 2, 0x68, 0x69, 0x82, 3, 1, 2, 3, 0x82, 2, 1, 2, 0x81, 2, 0xc3, 0xa9]),
  );
  client.sendText('hello');
  const frames = parseFrames(client.takeOutput());
  assert.equal(frames.length, 1);
  assert.equal(frames[0].masked, true);
  assert.equal(frames[0].opcode, 1);
  assert.equal(frames[0].payload.toString(), 'hello');
});

test('messages: many frames in one receive come back in order, both sizes', () => {
  const { client, server } = openPair();
  const big = Buffer.alloc(70000, 0xab);
  const parts = [];
  for (let i = 0; i < 100; i++) parts.push(cframe(1, `m${i}`));
  parts.push(cframe(2, big));
  parts.push(cframe(1, 'ünïcødé ✓'));
  const events = server.receiveData(Buffer.concat(parts));
  assert.equal(events.length, 102);
  for (let i = 0; i < 100; i++) assert.deepEqual(events[i], { type: 'text', data: `m${i}` });
  assert.equal(events[100].type, 'binary');
  assert.ok(events[100].data.equals(big));
  assert.deepEqual(events[101], { type: 'text', data: 'ünïcødé ✓' });
  // And a message split across many receives arrives once, whole.
  const bytes = cframe(2, Buffer.alloc(1000, 7));
  const got = [];
  for (let i = 0; i < bytes.length; i += 33) got.push(...server.receiveData(bytes.subarray(i, i + 33)));
  assert.equal(got.length, 1);
  assert.ok(got[0].data.equals(Buffer.alloc(1000, 7)));
  void client;
});

test('messages: textAs buffer delivers text as Buffer', () => {
  const server = Connection.open('server', { textAs: 'buffer' });
  const [ev] = server.receiveData(cframe(1, 'abc'));
  assert.equal(ev.type, 'text');
  assert.ok(Buffer.isBuffer(ev.data));
  assert.equal(ev.data.toString(), 'abc');
});

test('fragmentation: sending fragments, exact opcodes and fin bits', () => {
  const { client, server } = openPair();
  server.sendFragment('text', 'he', false);
  server.sendFragment('text', Buffer.from([0x6c, 0xc3]), false); // 'l' + half of 'é'
  server.sendFragment('text', Buffer.from([0xa9]), true);
  assert.deepEqual(
    server.takeOutput(),
    Buffer.from([0x01, 2, 0x68, 0x65, 0x00, 2, 0x6c, 0xc3, 0x80, 1, 0xa9]),
  );
  assert.deepEqual(client.receiveData(Buffer.from([0x01, 2, 0x68, 0x65, 0x00, 2, 0x6c, 0xc3, 0x80, 1, 0xa9])), [
    { type: 'text', data: 'hel' + 'é' },
  ]);
});

test('fragmentation: a fragmented message interleaved with a ping', () => {
  const { server } = openPair();
  const events = server.receiveData(
    Buffer.concat([cframe(2, 'ab', { fin: false }), cframe(9, 'p'), cframe(0, 'cd', { fin: false }), cframe(0, 'e')]),
  );
  assert.deepEqual(
    events.map((e) => [e.type, e.data.toString()]),
    [
      ['ping', 'p'],
      ['binary', 'abcde'],
    ],
  );
  assert.deepEqual(parseFrames(server.takeOutput()), [
    { fin: true, rsv: 0, opcode: 10, masked: false, payload: Buffer.from('p') },
  ]);
});

test('fragmentation: partialMessages delivers chunks with fin', () => {
  const server = Connection.open('server', { partialMessages: true });
  const events = server.receiveData(Buffer.concat([cframe(1, 'ab', { fin: false }), cframe(0, 'c')]));
  assert.deepEqual(
    events.map((e) => [e.type, e.data.toString(), e.fin]),
    [
      ['textChunk', 'ab', false],
      ['textChunk', 'c', true],
    ],
  );
});

test('fragmentation: misuse is refused with stable codes', () => {
  const { server } = openPair();
  server.sendFragment('binary', 'a', false);
  assert.throws(() => server.sendText('x'), { code: 'WSPROTO_LOCAL_FRAGMENT_MISMATCH' });
  assert.throws(() => server.sendFragment('text', 'x', true), { code: 'WSPROTO_LOCAL_FRAGMENT_MISMATCH' });
  assert.throws(() => server.sendFragment('nope', 'x', true), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  server.sendFragment('binary', 'b', true);
  server.sendText('ok');
});

test('ping/pong: auto pong, manual pong, unsolicited pong event', () => {
  const { server } = openPair();
  const events = server.receiveData(Buffer.concat([cframe(9, 'abc'), cframe(10, 'xyz')]));
  assert.deepEqual(
    events.map((e) => [e.type, e.data.toString()]),
    [
      ['ping', 'abc'],
      ['pong', 'xyz'],
    ],
  );
  assert.deepEqual(server.takeOutput(), Buffer.from([0x8a, 3, 0x61, 0x62, 0x63]));
  server.ping('hb');
  server.pong();
  assert.deepEqual(server.takeOutput(), Buffer.from([0x89, 2, 0x68, 0x62, 0x8a, 0]));

  const manual = Connection.open('server', { autoPong: false });
  manual.receiveData(cframe(9, 'q'));
  assert.equal(manual.takeOutput(), null);
  assert.throws(() => manual.ping(Buffer.alloc(126)), { code: 'WSPROTO_LOCAL_CONTROL_TOO_LONG' });
});

test('close: local close, echoed by the peer, exact bytes', () => {
  const { client, server } = openPair();
  server.close(4001, 'bye');
  assert.equal(server.state, 'LOCAL_CLOSING');
  assert.deepEqual(server.takeOutput(), Buffer.from([0x88, 5, 0x0f, 0xa1, 0x62, 0x79, 0x65]));
  assert.deepEqual(client.receiveData(Buffer.from([0x88, 5, 0x0f, 0xa1, 0x62, 0x79, 0x65])), [
    { type: 'close', code: 4001, reason: 'bye' },
  ]);
  assert.equal(client.state, 'CLOSED');
  const echo = parseFrames(client.takeOutput());
  assert.equal(echo[0].opcode, 8);
  assert.deepEqual(echo[0].payload, Buffer.from([0x0f, 0xa1]));
  assert.deepEqual(server.receiveData(cframe(8, Buffer.from([0x0f, 0xa1]))), [
    { type: 'close', code: 4001, reason: '' },
  ]);
  assert.equal(server.state, 'CLOSED');
  assert.equal(server.shouldCloseTransport, true);
});

test('close: empty close frame is 1005; EOF without close is 1006', () => {
  const a = Connection.open('server');
  assert.deepEqual(a.receiveData(cframe(8, '')), [{ type: 'close', code: 1005, reason: '' }]);
  assert.deepEqual(a.takeOutput(), Buffer.from([0x88, 0]));
  const b = Connection.open('server');
  assert.deepEqual(b.receiveData(null), [{ type: 'close', code: 1006, reason: '' }]);
  assert.equal(b.state, 'CLOSED');
});

test('close: autoClose off lets the application answer', () => {
  const s = Connection.open('server', { autoClose: false });
  assert.deepEqual(s.receiveData(cframe(8, Buffer.from([0x03, 0xe8]))), [{ type: 'close', code: 1000, reason: '' }]);
  assert.equal(s.state, 'REMOTE_CLOSING');
  assert.equal(s.takeOutput(), null);
  s.close(1000, 'done');
  assert.equal(s.state, 'CLOSED');
  assert.deepEqual(s.takeOutput(), Buffer.from([0x88, 6, 0x03, 0xe8, 0x64, 0x6f, 0x6e, 0x65]));
});

test('close: invalid codes and states are refused', () => {
  const s = Connection.open('server');
  assert.throws(() => s.close(1006), { code: 'WSPROTO_LOCAL_INVALID_CLOSE_CODE' });
  assert.throws(() => s.close(999), { code: 'WSPROTO_LOCAL_INVALID_CLOSE_CODE' });
  assert.throws(() => s.close(1000, 'x'.repeat(124)), { code: 'WSPROTO_LOCAL_CONTROL_TOO_LONG' });
  assert.throws(() => s.close(1005, 'reason'), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  s.close(1000);
  assert.throws(() => s.close(1000), { code: 'WSPROTO_LOCAL_INVALID_STATE' });
  assert.throws(() => s.sendText('late'), { code: 'WSPROTO_LOCAL_INVALID_STATE' });
});

const BAD_INPUT = [
  ['unmasked client frame', () => frame(1, 'x'), 'WSPROTO_REMOTE_BAD_MASKING', 1002],
  ['reserved opcode', () => cframe(3, ''), 'WSPROTO_REMOTE_RESERVED_OPCODE', 1002],
  ['RSV bit without extension', () => cframe(1, 'x', { rsv: 4 }), 'WSPROTO_REMOTE_RESERVED_BITS', 1002],
  ['fragmented ping', () => cframe(9, 'x', { fin: false }), 'WSPROTO_REMOTE_BAD_CONTROL_FRAME', 1002],
  ['long ping', () => cframe(9, Buffer.alloc(126)), 'WSPROTO_REMOTE_BAD_CONTROL_FRAME', 1002],
  ['stray continuation', () => cframe(0, 'x'), 'WSPROTO_REMOTE_BAD_FRAGMENTATION', 1002],
  ['invalid UTF-8 text', () => cframe(1, Buffer.from([0xff])), 'WSPROTO_REMOTE_INVALID_UTF8', 1007],
  ['one-byte close payload', () => cframe(8, Buffer.from([3])), 'WSPROTO_REMOTE_BAD_CLOSE_PAYLOAD', 1002],
  ['close code 1005 on the wire', () => cframe(8, Buffer.from([3, 0xed])), 'WSPROTO_REMOTE_BAD_CLOSE_PAYLOAD', 1002],
];

for (const [name, bytes, code, closeCode] of BAD_INPUT) {
  test(`bad input: ${name} -> ${code}, close ${closeCode}`, () => {
    const s = Connection.open('server');
    const events = s.receiveData(Buffer.concat([cframe(1, 'before'), bytes(), cframe(1, 'after')]));
    assert.deepEqual(
      events.map((e) => e.type),
      ['text', 'error'],
    );
    assert.equal(events[1].error.code, code);
    assert.equal(events[1].error.closeCode, closeCode);
    assert.ok(events[1].error instanceof Error);
    const out = parseFrames(s.takeOutput());
    assert.equal(out.length, 1);
    assert.equal(out[0].opcode, 8);
    assert.equal(out[0].payload.readUInt16BE(0), closeCode);
    assert.equal(s.state, 'CLOSED');
    // Nothing more comes out of a failed connection.
    assert.deepEqual(s.receiveData(cframe(1, 'more')), []);
  });
}

test('bad input: limits close with 1009', () => {
  const s = Connection.open('server', { maxMessageSize: 10 });
  const [ev] = s.receiveData(cframe(2, Buffer.alloc(11)));
  assert.equal(ev.error.code, 'WSPROTO_REMOTE_TOO_BIG');
  assert.equal(parseFrames(s.takeOutput())[0].payload.readUInt16BE(0), 1009);
});

test('API misuse: stable codes, nothing changes', () => {
  const server = Connection.server();
  assert.throws(() => server.sendText('x'), { code: 'WSPROTO_LOCAL_INVALID_STATE' });
  assert.throws(() => server.accept(), { code: 'WSPROTO_LOCAL_INVALID_STATE' });
  server.receiveData(rfcRequest());
  assert.throws(() => server.accept({ subprotocol: 'nope' }), { code: 'WSPROTO_LOCAL_SUBPROTOCOL_NOT_OFFERED' });
  assert.throws(() => server.accept({ headers: ['X-Bad', 'a\r\nb'] }), { code: 'WSPROTO_LOCAL_INVALID_HEADER' });
  assert.throws(() => server.accept({ headers: ['odd'] }), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  assert.throws(() => server.reject({ status: 101 }), { code: 'WSPROTO_LOCAL_INVALID_STATUS' });
  assert.equal(server.state, 'CONNECTING');
  server.accept();
  assert.equal(server.state, 'OPEN');
  assert.throws(() => server.sendBinary(42), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  assert.throws(() => server.close('1000'), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  assert.throws(() => Connection.client({}), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  assert.throws(() => Connection.client({ host: 'h', path: 'no-slash' }), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  assert.throws(() => Connection.open('peer'), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  assert.throws(() => Connection.server({ maxFrameSize: -1 }), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  assert.throws(() => Connection.server({ maxFrameSize: 1.5 }), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  assert.throws(() => Connection.server({ autoPong: 'yes' }));
});

test('a Rust panic becomes a WSPROTO_PANIC error and disables the connection', () => {
  const conn = Connection.open('server');
  assert.throws(() => native.__testPanic(conn._h), { code: 'WSPROTO_PANIC', message: /deliberate panic/ });
  assert.throws(() => conn.ping('x'), { code: 'WSPROTO_PANIC' });
  // A staged send reports the failure to its own connection, not to the
  // other connection whose call flushed the stage.
  conn.sendBinary(Buffer.from('x'));
  const other = Connection.open('server');
  other.sendBinary(Buffer.from('y'));
  assert.deepEqual(other.takeOutput(), Buffer.from([0x82, 1, 0x79]));
  assert.throws(() => conn.takeOutput(), { code: 'WSPROTO_PANIC' });
});

test('a freed connection refuses calls; stale handles never reach a new one', () => {
  const a = Connection.open('server');
  const h = a._h;
  a.free();
  assert.throws(() => a.sendText('x'), { code: 'WSPROTO_LOCAL_INVALID_HANDLE' });
  const b = Connection.open('server');
  assert.notEqual(b._h, h);
  assert.equal(native.free(h), false);
  b.sendText('still fine');
  assert.deepEqual(b.takeOutput(), Buffer.from([0x81, 10, ...Buffer.from('still fine')]));
});

test('bufferedAmount and bufferedIn report what waits', () => {
  const s = Connection.open('server');
  s.sendBinary(Buffer.alloc(300));
  assert.equal(s.bufferedAmount, 304);
  s.takeOutput();
  assert.equal(s.bufferedAmount, 0);
  const half = cframe(2, Buffer.alloc(100));
  s.receiveData(half.subarray(0, 50));
  assert.equal(s.bufferedIn, 50 - 6); // the 6-byte header is consumed
  s.releaseMemory();
  assert.equal(s.receiveData(half.subarray(50)).length, 1);
});

test('large output is handed over intact (external buffer path)', () => {
  const { client, server } = openPair();
  const big = Buffer.alloc(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = i * 7;
  server.sendBinary(big);
  const out = server.takeOutput();
  assert.equal(out.length, big.length + 10);
  const [ev] = client.receiveData(out);
  assert.ok(ev.data.equals(big));
});

test('large received messages are handed over in the engine buffer, in order, intact', () => {
  // 300 KiB and 200 KiB messages (handed over), a small one between them,
  // a fragmented large text, and the start of the next frame in the same
  // read; fed in 64 KiB reads to a server (masked) through both APIs.
  const a = Buffer.alloc(300 << 10);
  for (let i = 0; i < a.length; i++) a[i] = (i * 13) & 255;
  const b = 'wsproto ✓ '.repeat(20000);
  const part = 'é'.repeat(100000);
  const wire = Buffer.concat([
    cframe(2, a),
    cframe(1, 'hi'),
    cframe(1, b),
    cframe(1, part, { fin: false }),
    cframe(0, part),
    cframe(2, Buffer.from([1, 2, 3])),
  ]);
  const expect = (got) => {
    assert.deepEqual(
      got.map((e) => e.type),
      ['binary', 'text', 'text', 'text', 'binary'],
    );
    assert.ok(got[0].data.equals(a));
    assert.equal(got[1].data, 'hi');
    assert.equal(got[2].data, b);
    assert.equal(got[3].data, part + part);
    assert.deepEqual([...got[4].data], [1, 2, 3]);
  };
  const s1 = Connection.open('server');
  const viaData = [];
  for (let i = 0; i < wire.length; i += 65536) viaData.push(...s1.receiveData(wire.subarray(i, i + 65536)));
  expect(viaData);
  const s2 = Connection.open('server');
  const viaSink = [];
  const sink = {
    onText: (data) => viaSink.push({ type: 'text', data: Buffer.isBuffer(data) ? data.toString() : data }),
    onBinary: (data) => viaSink.push({ type: 'binary', data: Buffer.from(data) }),
  };
  s2.receiveInto(wire, sink);
  expect(viaSink);
  assert.equal(s2.bufferedIn, 0);
});

test('staged small sends keep order with other commands and across connections', () => {
  const a = Connection.open('server');
  const b = Connection.open('server');
  a.sendText('a1');
  b.sendBinary(Buffer.from([9]));
  a.sendBinary(Buffer.from([1, 2]));
  assert.equal(a.bufferedAmount, 4 + 4); // staged bytes count
  a.ping('p');
  a.sendText('a2');
  a.sendText('x'.repeat(5000)); // too large to stage: goes straight in
  a.sendFragment('text', 'f', true);
  a.close(1000, 'end');
  assert.throws(() => a.sendText('late'), { code: 'WSPROTO_LOCAL_INVALID_STATE' });
  assert.deepEqual(
    parseFrames(a.takeOutput()).map((f) => [f.opcode, f.payload.length > 10 ? f.payload.length : f.payload.toString('latin1')]),
    [
      [1, 'a1'],
      [2, '\x01\x02'],
      [9, 'p'],
      [1, 'a2'],
      [1, 5000],
      [1, 'f'],
      [8, '\x03\xe8end'],
    ],
  );
  assert.deepEqual(b.takeOutput(), Buffer.from([0x82, 1, 9]));
});

test('staging never hides misuse: fragments in progress and closed states throw at once', () => {
  const s = Connection.open('server');
  s.sendFragment('binary', 'a', false);
  assert.throws(() => s.sendBinary(Buffer.from('x')), { code: 'WSPROTO_LOCAL_FRAGMENT_MISMATCH' });
  assert.throws(() => s.sendText('x'), { code: 'WSPROTO_LOCAL_FRAGMENT_MISMATCH' });
  s.sendFragment('binary', 'b', true);
  s.sendText('ok');
  s.receiveData(cframe(8, Buffer.from([3, 0xe8])));
  assert.equal(s.state, 'CLOSED');
  assert.throws(() => s.sendBinary(Buffer.from('x')), { code: 'WSPROTO_LOCAL_INVALID_STATE' });
  const server = Connection.server();
  assert.throws(() => server.sendText('x'), { code: 'WSPROTO_LOCAL_INVALID_STATE' });
});

test('large Buffers a server sends are output pieces of their own, not copies', () => {
  const { client, server } = openPair();
  const big = Buffer.alloc(70000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 255;
  const mid = Buffer.alloc(9000, 0x5a); // above the 8 KiB staged sends
  server.sendText('a');
  server.sendBinary(big);
  server.ping(Buffer.from('p'));
  server.sendBinary(mid);
  server.sendBinary(Buffer.alloc(4095, 1)); // under 4 KiB: copied
  assert.equal(server.bufferedAmount, 3 + 10 + 70000 + 3 + 4 + 9000 + 4 + 4095);
  const parts = server.takeOutputParts();
  assert.equal(parts.length, 5);
  // RFC 6455 §5.2: text "a"; FIN+binary with a 64-bit length of 70000.
  assert.deepEqual(parts[0], Buffer.from([0x81, 1, 0x61, 0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]));
  assert.equal(parts[1], big, 'the caller\'s own Buffer, not a copy');
  assert.deepEqual(parts[2], Buffer.from([0x89, 1, 0x70, 0x82, 126, 0x23, 0x28]));
  assert.equal(parts[3], mid);
  assert.deepEqual(parts[4].subarray(0, 4), Buffer.from([0x82, 126, 0x0f, 0xff]));
  assert.equal(parts[4].length, 4 + 4095);
  assert.equal(server.bufferedAmount, 0);
  assert.equal(server.takeOutputParts(), null);
  const got = client.receiveData(Buffer.concat(parts)).map((e) => [e.type, e.data.length]);
  assert.deepEqual(got, [
    ['text', 1],
    ['binary', 70000],
    ['ping', 1],
    ['binary', 9000],
    ['binary', 4095],
  ]);
  // The same sends taken with takeOutput: one Buffer, identical bytes.
  const again = openPair().server;
  again.sendText('a');
  again.sendBinary(big);
  again.ping(Buffer.from('p'));
  again.sendBinary(mid);
  again.sendBinary(Buffer.alloc(4095, 1));
  assert.deepEqual(again.takeOutput(), Buffer.concat(parts));
  assert.equal(again.takeOutputParts(), null);
  // A client masks: always one piece, copied. (First take its pong.)
  assert.equal(parseFrames(client.takeOutput())[0].opcode, 0xa);
  client.sendBinary(big);
  const cparts = client.takeOutputParts();
  assert.equal(cparts.length, 1);
  assert.equal(cparts[0].length, 4 + 10 + 70000);
  const events = server.receiveData(cparts[0]);
  assert.equal(events.length, 1);
  assert.deepEqual(events[0].data, big);
});

test('a kept Buffer refused by the engine is not queued', () => {
  const { server } = openPair();
  server.close(1000, '');
  server.takeOutput();
  assert.throws(() => server.sendBinary(Buffer.alloc(10000)), { code: 'WSPROTO_LOCAL_INVALID_STATE' });
  assert.equal(server.takeOutputParts(), null);
});

function bytesOf(n, seed) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 255;
  return b;
}

/** Sends a mix in which binary messages of 8-96 KiB are framed into Buffers of V8's. */
function sendIntoMix(c) {
  const sizes = [20000, 65536, 96 * 1024, 96 * 1024 + 1, 9000, 100];
  c.sendText('first');
  for (const [i, n] of sizes.entries()) {
    c.sendBinary(bytesOf(n, i));
    if (i === 1) c.ping('p');
  }
  c.sendBinary(new Uint8Array(bytesOf(30000, 9))); // not a Buffer
  c.sendText('last');
  return [
    ['text', 'first'],
    ...sizes.flatMap((n, i) => (i === 1 ? [['binary', n], ['ping', 1]] : [['binary', n]])),
    ['binary', 30000],
    ['text', 'last'],
  ];
}

test('sendBinary: client frames of 8-96 KiB written into our own Buffers arrive exact, in order', () => {
  const { client, server } = openPair();
  const want = sendIntoMix(client);
  const total = client.bufferedAmount;
  const parts = client.takeOutputParts();
  const wire = Buffer.concat(parts);
  assert.equal(wire.length, total, 'bufferedAmount counts the frames held outside the engine');
  assert.equal(client.bufferedAmount, 0);
  // §5.3: every frame masked; the payloads unmask to what was sent.
  const frames = parseFrames(wire);
  assert.ok(frames.every((f) => f.masked && f.fin && f.rsv === 0));
  const events = server.receiveData(wire);
  assert.deepEqual(
    events.map((e) => [e.type, e.type === 'text' ? e.data : e.data.length]),
    want,
  );
  const sizes = [20000, 65536, 96 * 1024, 96 * 1024 + 1, 9000, 100];
  for (const [i, n] of sizes.entries()) {
    const ev = events.filter((e) => e.type === 'binary')[i];
    assert.ok(ev.data.equals(bytesOf(n, i)), `message of ${n} bytes`);
  }
  // takeOutput (one Buffer) gives the same bytes: same mask seed, same mix.
  const again = openPair().client;
  sendIntoMix(again);
  assert.ok(again.takeOutput().equals(wire));
  assert.equal(again.takeOutput(), null);
});

test('sendBinary: with permessage-deflate, large client frames still go through the extension', () => {
  const { client, server } = openPair({ client: { deflate: true }, accept: { deflate: true } });
  const data = Buffer.alloc(50000, 'a');
  client.sendBinary(data);
  client.sendBinary(data);
  const wire = client.takeOutput();
  const frames = parseFrames(wire);
  assert.deepEqual(frames.map((f) => f.rsv), [4, 4], 'RSV1: compressed (RFC 7692 §6)');
  assert.ok(wire.length < 2000);
  const events = server.receiveData(wire);
  assert.deepEqual(events.map((e) => [e.type, e.data.equals(data)]), [['binary', true], ['binary', true]]);
});

test('sendBinary: held output keeps shouldCloseTransport false until taken', () => {
  // A frame written into our own Buffer is output the engine no longer
  // sees; the end of the stream closes the engine (1006) with nothing of
  // its own to write.
  const { client } = openPair();
  client.sendBinary(bytesOf(20000, 2));
  const [ev] = client.receiveData(null);
  assert.deepEqual([ev.type, ev.code], ['close', 1006]);
  assert.equal(client.state, 'CLOSED');
  assert.equal(native.shouldCloseTransport(client._h), true, 'the engine alone has nothing to write');
  assert.equal(client.shouldCloseTransport, false, 'the binary frame is not written yet');
  assert.equal(client.bufferedAmount, 20000 + 8);
  const frames = parseFrames(Buffer.concat(client.takeOutputParts()));
  assert.deepEqual(frames.map((f) => [f.opcode, f.payload.length]), [[2, 20000]]);
  assert.equal(client.shouldCloseTransport, true);
});

test('sendBinaryInto: data and out may not overlap', () => {
  const { client } = openPair();
  const buf = Buffer.alloc(200);
  assert.throws(() => native.sendBinaryInto(client._h, buf.subarray(0, 100), buf), {
    code: 'WSPROTO_LOCAL_INVALID_ARGUMENT',
  });
  assert.throws(() => native.sendBinaryInto(client._h, buf.subarray(0, 100), Buffer.alloc(10)), {
    code: 'WSPROTO_LOCAL_INVALID_ARGUMENT',
  });
  assert.equal(client.bufferedAmount, 0);
});
