'use strict';
// The socket layer over real TCP on 127.0.0.1: handshake through
// http's upgrade event, messages, ping/pong, close codes, subprotocols,
// rejection, backpressure, bad input from a raw peer, raw socket takeover.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { WebSocketServer, WebSocket, connect, Connection } = require('../lib/index.js');
const { cframe, frame, parseFrames, once, rawExchange } = require('./helpers.js');

/** An http server on a free port with a WebSocketServer attached. */
async function startServer(options = {}) {
  const server = http.createServer((req, res) => res.end('plain http'));
  const wss = new WebSocketServer({ server, ...options });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return {
    server,
    wss,
    port,
    url: `ws://127.0.0.1:${port}`,
    close: () => new Promise((r) => {
      wss.close();
      server.closeAllConnections?.();
      server.close(() => r());
    }),
  };
}

function upgradeRequest(path = '/', extra = '') {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
  );
}

/** Splits a raw server reply into its HTTP head and the frames after it. */
function splitReply(buf) {
  const end = buf.indexOf('\r\n\r\n');
  return { head: buf.subarray(0, end + 4).toString('latin1'), frames: parseFrames(buf.subarray(end + 4)) };
}

test('echo over TCP: text, binary, ping/pong, client-initiated close with code and reason', async () => {
  const srv = await startServer();
  const serverClose = new Promise((resolve) => {
    srv.wss.on('connection', (ws, request) => {
      assert.equal(request.path, '/echo');
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      ws.on('close', (code, reason) => resolve([code, reason]));
    });
  });
  const ws = connect(`${srv.url}/echo`);
  await once(ws, 'open');
  assert.equal(ws.readyState, WebSocket.OPEN);
  const got = [];
  ws.on('message', (data, isBinary) => got.push([isBinary, Buffer.from(data)]));
  ws.send('héllo');
  ws.send(Buffer.from([0, 255]));
  ws.send('as bytes', { binary: true });
  ws.ping('hb');
  const [pong] = await once(ws, 'pong');
  assert.equal(pong.toString(), 'hb');
  while (got.length < 3) await once(ws, 'message');
  assert.deepEqual(got, [
    [false, Buffer.from('héllo')],
    [true, Buffer.from([0, 255])],
    [true, Buffer.from('as bytes')],
  ]);
  ws.close(4000, 'client bye');
  assert.equal(ws.readyState, WebSocket.CLOSING);
  const [code] = await once(ws, 'close');
  assert.equal(code, 4000);
  assert.deepEqual(await serverClose, [4000, 'client bye']);
  assert.equal(ws.readyState, WebSocket.CLOSED);
  await srv.close();
});

test('server-initiated close reaches the client with code and reason', async () => {
  const srv = await startServer();
  srv.wss.on('connection', (ws) => ws.close(1001, 'going away'));
  const ws = connect(srv.url);
  const [code, reason] = await once(ws, 'close');
  assert.equal(code, 1001);
  assert.equal(reason, 'going away');
  await srv.close();
});

test('subprotocol selection and extra response headers', async () => {
  const srv = await startServer({ protocols: ['v2', 'v1'], headers: { 'X-Test': 'yes' } });
  const ws = connect(srv.url, { protocols: ['v1', 'v2'] });
  const [response] = await once(ws, 'open');
  assert.equal(ws.protocol, 'v2');
  assert.equal(response.subprotocol, 'v2');
  const i = response.headers.indexOf('X-Test');
  assert.equal(response.headers[i + 1], 'yes');
  ws.close();
  await once(ws, 'close');
  await srv.close();
});

test('verifyClient can reject with any status, headers and body', async () => {
  const srv = await startServer({
    verifyClient: (request) =>
      request.path === '/ok' || { status: 401, headers: { 'WWW-Authenticate': 'Bearer' }, body: 'who are you?' },
  });
  const ws = connect(`${srv.url}/secret`);
  const errors = [];
  ws.on('error', (e) => errors.push(e));
  const [response, body] = await once(ws, 'unexpected-response');
  assert.equal(response.status, 401);
  assert.equal(body.toString(), 'who are you?');
  assert.equal(response.headers[response.headers.indexOf('WWW-Authenticate') + 1], 'Bearer');
  await once(ws, 'close');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'WSPROTO_REMOTE_REJECTED');
  assert.equal(errors[0].status, 401);

  const ok = connect(`${srv.url}/ok`);
  await once(ok, 'open');
  ok.close();
  await once(ok, 'close');
  await srv.close();
});

test('a bad handshake over TCP gets the HTTP error response', async () => {
  const srv = await startServer();
  const errs = [];
  srv.wss.on('handshakeError', (e) => errs.push(e.code));
  const reply = await rawExchange(srv.port, upgradeRequest('/', 'Sec-WebSocket-Version: 13\r\n'));
  assert.match(reply.toString('latin1'), /^HTTP\/1\.1 400 /);
  assert.deepEqual(errs, ['WSPROTO_REMOTE_BAD_HANDSHAKE']);
  await srv.close();
});

test('the path option: other paths get 404; a target in absolute form counts by its path', async () => {
  const srv = await startServer({ path: '/chat' });
  const seen = [];
  srv.wss.on('connection', (ws, request) => seen.push([request.target, request.path, request.query]));
  const close = cframe(8, Buffer.from([0x03, 0xe8]));
  const cases = [
    ['/chat?room=1', 101],
    ['ws://127.0.0.1/chat?x', 101],
    ['/other', 404],
    ['/chat/x', 404],
    ['ws://127.0.0.1/other', 404],
  ];
  try {
    for (const [target, status] of cases) {
      const reply = await rawExchange(srv.port, Buffer.concat([upgradeRequest(target), close]));
      const { head, frames } = splitReply(reply);
      assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), target);
      // Accepted: the close frame after the request is answered.
      assert.deepEqual(frames.map((f) => [f.opcode, f.payload.readUInt16BE(0)]), status === 101 ? [[8, 1000]] : [], target);
    }
    assert.deepEqual(seen, [
      ['/chat?room=1', '/chat', 'room=1'],
      ['ws://127.0.0.1/chat?x', '/chat', 'x'],
    ]);
  } finally {
    await srv.close();
  }
});

const TCP_BAD_INPUT = [
  ['unmasked frame', frame(1, 'x'), 1002, 'WSPROTO_REMOTE_BAD_MASKING'],
  ['invalid UTF-8', cframe(1, Buffer.from([0xc3, 0x28])), 1007, 'WSPROTO_REMOTE_INVALID_UTF8'],
  ['reserved opcode', cframe(0xb, ''), 1002, 'WSPROTO_REMOTE_RESERVED_OPCODE'],
  ['message over the limit', cframe(2, Buffer.alloc(2000)), 1009, 'WSPROTO_REMOTE_TOO_BIG'],
];

for (const [name, bad, closeCode, errCode] of TCP_BAD_INPUT) {
  test(`bad input over TCP (${name}): close ${closeCode}, 'error' and 'close' events, socket closed`, async () => {
    const srv = await startServer({ maxMessageSize: 1000 });
    const seen = new Promise((resolve) => {
      srv.wss.on('connection', (ws) => {
        const events = [];
        ws.on('message', (d) => events.push(['message', d.toString()]));
        ws.on('error', (e) => events.push(['error', e.code, e.closeCode]));
        ws.on('close', (code) => {
          events.push(['close', code]);
          resolve(events);
        });
      });
    });
    const reply = await rawExchange(srv.port, Buffer.concat([upgradeRequest(), cframe(1, 'fine'), bad]));
    const { head, frames } = splitReply(reply);
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.equal(frames.length, 1);
    assert.equal(frames[0].opcode, 8);
    assert.equal(frames[0].payload.readUInt16BE(0), closeCode);
    assert.deepEqual(await seen, [
      ['message', 'fine'],
      ['error', errCode, closeCode],
      ['close', closeCode],
    ]);
    await srv.close();
  });
}

test("bad input with no 'error' listener never throws", async () => {
  const srv = await startServer();
  const closed = new Promise((resolve) => srv.wss.on('connection', (ws) => ws.on('close', (c) => resolve(c))));
  const reply = await rawExchange(srv.port, Buffer.concat([upgradeRequest(), frame(2, 'unmasked')]));
  assert.equal(splitReply(reply).frames[0].payload.readUInt16BE(0), 1002);
  assert.equal(await closed, 1002);
  await srv.close();
});

test('answers to the messages of one read leave before the close or pong the engine writes after them', async () => {
  // All of it arrives in one read, and the engine decodes it in one batch;
  // what goes out must be what event-by-event handling would send
  // (RFC 6455 §5.5.1, §5.5.2, §7.1.7), as with ws.
  const srv = await startServer();
  srv.wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  const kinds = (frames) => frames.map((f) => [f.opcode, f.opcode === 8 ? f.payload.readUInt16BE(0) : f.payload.toString()]);
  // A message, then a frame with RSV2 set: the echo, then close 1002, and
  // no pong for the ping after the bad frame.
  let reply = await rawExchange(
    srv.port,
    Buffer.concat([upgradeRequest(), cframe(1, 'Hello'), cframe(1, 'Hello', { rsv: 2 }), cframe(9, 'p')]),
  );
  assert.deepEqual(kinds(splitReply(reply).frames), [[1, 'Hello'], [8, 1002]]);
  // Pings between fragments and messages: each pong after the echoes of
  // what came before its ping.
  reply = await rawExchange(
    srv.port,
    Buffer.concat([
      upgradeRequest(),
      cframe(1, 'A', { fin: false }),
      cframe(9, 'a'),
      cframe(0, 'B'),
      cframe(9, 'b'),
      cframe(2, 'C'),
      cframe(9, 'c'),
      cframe(8, Buffer.from([0x03, 0xe9])),
    ]),
  );
  assert.deepEqual(kinds(splitReply(reply).frames), [[10, 'a'], [1, 'AB'], [10, 'b'], [2, 'C'], [10, 'c'], [8, 1001]]);
  // Invalid UTF-8 after two messages: both echoed, then close 1007.
  reply = await rawExchange(
    srv.port,
    Buffer.concat([upgradeRequest(), cframe(2, 'x'), cframe(1, 'y'), cframe(1, Buffer.from([0xce, 0xba, 0xff]))]),
  );
  assert.deepEqual(kinds(splitReply(reply).frames), [[2, 'x'], [1, 'y'], [8, 1007]]);
  await srv.close();
});

test('peer vanishing without a close frame gives close 1006', async () => {
  const srv = await startServer();
  const closed = new Promise((resolve) => srv.wss.on('connection', (ws) => ws.on('close', (c) => resolve(c))));
  const sock = net.connect(srv.port, '127.0.0.1', () => sock.write(upgradeRequest()));
  sock.once('data', () => sock.end());
  assert.equal(await closed, 1006);
  await srv.close();
});

test('backpressure: reading pauses while the socket is full and resumes on drain', async () => {
  const srv = await startServer();
  const big = Buffer.alloc(1 << 20, 1);
  const serverSide = new Promise((resolve) => srv.wss.on('connection', resolve));
  const ws = connect(srv.url);
  await once(ws, 'open');
  const sws = await serverSide;
  ws.pause(); // The client stops reading: the server's writes back up.
  let sent = 0;
  while (!sws._paused && sent < 64) {
    sws.send(big);
    sent++;
    await new Promise((r) => setImmediate(r)); // Let the queued flush run.
  }
  assert.ok(sws._paused, 'the server noticed socket.write returning false');
  assert.equal(sws._socket.isPaused(), true, 'and stopped reading');
  assert.ok(sws.bufferedAmount > 0);
  let received = 0;
  ws.on('message', (d) => {
    received += d.length;
  });
  ws.resume();
  await once(sws, 'drain', 10000);
  assert.equal(sws._paused, false);
  assert.equal(sws._socket.isPaused(), false);
  while (received < sent * big.length) await once(ws, 'message', 10000);
  assert.equal(received, sent * big.length);
  assert.equal(sws.bufferedAmount, 0);
  ws.close();
  await once(ws, 'close');
  await srv.close();
});

test('raw net.Socket takeover: the engine parses the request itself', async () => {
  const wss = new WebSocketServer();
  wss.on('connection', (ws) => ws.on('message', (d, b) => ws.send(d, { binary: b })));
  const server = net.createServer((sock) => wss.acceptSocket(sock));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const reply = await rawExchange(
    server.address().port,
    Buffer.concat([upgradeRequest(), cframe(1, 'raw'), cframe(8, Buffer.from([3, 0xe8]))]),
  );
  const { head, frames } = splitReply(reply);
  assert.match(head, /^HTTP\/1\.1 101 /);
  assert.match(head, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
  assert.deepEqual(
    frames.map((f) => [f.opcode, f.payload.toString('hex')]),
    [
      [1, Buffer.from('raw').toString('hex')],
      [8, '03e8'],
    ],
  );
  await new Promise((r) => server.close(r));
});

test('WebSocket.fromSocket: a connection whose handshake happened elsewhere', async () => {
  const server = net.createServer((sock) => {
    const ws = WebSocket.fromSocket(sock, { role: 'server' });
    ws.on('message', (d) => ws.send(`got ${d}`));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const client = Connection.open('client', { maskSeed: 3 });
  client.sendText('hi');
  client.close(1000, '');
  const reply = await rawExchange(server.address().port, client.takeOutput());
  assert.deepEqual(
    parseFrames(reply).map((f) => [f.opcode, f.payload.toString('latin1')]),
    [
      [1, 'got hi'],
      [8, '\x03\xe8'],
    ],
  );
  await new Promise((r) => server.close(r));
});

test('partialMessages: a flood of empty fragments keeps nothing and the message arrives whole', async () => {
  let socket = null;
  const server = net.createServer((sock) => {
    socket = WebSocket.fromSocket(sock, { role: 'server', partialMessages: true, maxFragments: 200_000 });
    socket.on('message', (d, isBinary) => socket.send(`${isBinary ? 'binary' : 'text'} ${d}`));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const empty = cframe(0, Buffer.alloc(0), { fin: false });
  const flood = Buffer.concat([cframe(1, Buffer.from('a'), { fin: false }), ...Array.from({ length: 100_000 }, () => empty)]);
  const peer = net.connect(server.address().port, '127.0.0.1');
  try {
    const chunks = [];
    peer.on('data', (d) => chunks.push(d));
    await once(peer, 'connect');
    peer.write(flood);
    // Wait until the server has read the whole flood (600,006 bytes).
    while (!socket || socket._socket.bytesRead < flood.length) await new Promise((r) => setTimeout(r, 5));
    await new Promise(setImmediate);
    assert.equal(socket._fragments.length, 1, 'only the piece with a byte is kept');
    const client = Connection.open('client', { maskSeed: 3 });
    client.close(1000, '');
    peer.end(Buffer.concat([cframe(0, Buffer.from('z')), client.takeOutput()]));
    await once(peer, 'close');
    assert.deepEqual(
      parseFrames(Buffer.concat(chunks)).map((f) => [f.opcode, f.payload.toString('latin1')]),
      [
        [1, 'text az'],
        [8, '\x03\xe8'],
      ],
    );
  } finally {
    peer.destroy();
    socket?.terminate();
    await new Promise((r) => server.close(r));
  }
});

test('a burst of sends leaves in one socket write, in order, with callbacks', async () => {
  const srv = await startServer();
  const serverSide = new Promise((resolve) => srv.wss.on('connection', resolve));
  const ws = connect(srv.url);
  await once(ws, 'open');
  const sws = await serverSide;
  const writes = [];
  const write = sws._socket.write.bind(sws._socket);
  sws._socket.write = (data, cb) => {
    writes.push(data.length);
    return write(data, cb);
  };
  const acked = [];
  for (let i = 0; i < 100; i++) sws.send(`m${i}`, () => acked.push(i));
  assert.ok(sws.bufferedAmount > 0, 'queued bytes count before the flush');
  const got = [];
  ws.on('message', (d) => got.push(d.toString()));
  while (got.length < 100) await once(ws, 'message');
  assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => `m${i}`));
  assert.equal(writes.length, 1);
  assert.deepEqual(acked, Array.from({ length: 100 }, (_, i) => i));
  ws.close();
  await once(ws, 'close');
  await srv.close();
});

test('a send after the peer closed goes to its callback, not thrown', async () => {
  const srv = await startServer();
  const serverSide = new Promise((resolve) => srv.wss.on('connection', resolve));
  const ws = connect(srv.url);
  await once(ws, 'open');
  const sws = await serverSide;
  ws.close(1000);
  await once(sws, 'close');
  const err = await new Promise((resolve) => sws.send('too late', resolve));
  assert.equal(err.code, 'WSPROTO_LOCAL_INVALID_STATE');
  await srv.close();
});

test('API misuse on the socket layer throws synchronously with a code', async () => {
  const srv = await startServer();
  const ws = connect(srv.url);
  assert.throws(() => ws.send('too early'), { code: 'WSPROTO_LOCAL_INVALID_STATE' });
  await once(ws, 'open');
  assert.throws(() => ws.ping(Buffer.alloc(200)), { code: 'WSPROTO_LOCAL_CONTROL_TOO_LONG' });
  assert.throws(() => ws.close(1004), { code: 'WSPROTO_LOCAL_INVALID_CLOSE_CODE' });
  assert.throws(() => connect('http://x'), { code: 'WSPROTO_LOCAL_INVALID_ARGUMENT' });
  ws.close();
  await once(ws, 'close');
  await srv.close();
});

test('connecting to a closed port ends in error + close 1006, nothing thrown', async () => {
  const probe = net.createServer();
  await new Promise((r) => probe.listen(0, '127.0.0.1', r));
  const port = probe.address().port;
  await new Promise((r) => probe.close(r));
  const ws = connect(`ws://127.0.0.1:${port}/`);
  const errors = [];
  ws.on('error', (e) => errors.push(e.code));
  const [code] = await once(ws, 'close');
  assert.equal(code, 1006);
  assert.deepEqual(errors, ['ECONNREFUSED']);
  assert.equal(ws.readyState, WebSocket.CLOSED);
});

test('a connection reset during the handshake is one error, then close 1006', async () => {
  const server = net.createServer((sock) => sock.once('data', () => sock.resetAndDestroy()));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const ws = connect(`ws://127.0.0.1:${server.address().port}/`);
  const errors = [];
  ws.on('error', (e) => errors.push(e.code));
  const [code] = await once(ws, 'close', 5000);
  assert.equal(code, 1006);
  assert.deepEqual(errors, ['ECONNRESET']);
  await new Promise((r) => server.close(r));
});

for (const [name, reply] of [
  ['before any byte', ''],
  ['inside the response head', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n'],
]) {
  test(`a server that ends the stream ${name} of the handshake: error, then close 1006`, async () => {
    const server = net.createServer((sock) => sock.once('data', () => sock.end(reply)));
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const ws = connect(`ws://127.0.0.1:${server.address().port}/`);
    const errors = [];
    ws.on('error', (e) => errors.push(e.code));
    ws.on('open', () => errors.push('open'));
    const [code] = await once(ws, 'close', 5000);
    assert.equal(code, 1006);
    assert.deepEqual(errors, ['WSPROTO_REMOTE_BAD_HANDSHAKE']);
    await new Promise((r) => server.close(r));
  });
}

test('many concurrent connections are echoed independently', async () => {
  const srv = await startServer();
  srv.wss.on('connection', (ws) => ws.on('message', (d, b) => ws.send(d, { binary: b })));
  const results = await Promise.all(
    Array.from({ length: 50 }, async (_, i) => {
      const ws = connect(srv.url);
      await once(ws, 'open');
      ws.send(`client ${i}`);
      const [data] = await once(ws, 'message');
      ws.close();
      await once(ws, 'close');
      return data.toString();
    }),
  );
  assert.deepEqual(
    results,
    Array.from({ length: 50 }, (_, i) => `client ${i}`),
  );
  await srv.close();
});

test('handshakeTimeout: a client gives up on a server that never answers', async () => {
  const held = [];
  const server = net.createServer((sock) => held.push(sock)); // reads, says nothing
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const start = Date.now();
  const ws = connect(`ws://127.0.0.1:${server.address().port}/`, { handshakeTimeout: 200 });
  const errors = [];
  ws.on('error', (e) => errors.push(e.code));
  const [code] = await once(ws, 'close', 5000);
  assert.ok(Date.now() - start >= 190, 'not before the limit');
  assert.equal(code, 1006);
  assert.deepEqual(errors, ['WSPROTO_REMOTE_HANDSHAKE_TIMEOUT']);
  assert.equal(ws.readyState, WebSocket.CLOSED);
  for (const s of held) s.destroy();
  await new Promise((r) => server.close(r));
});

test('handshakeTimeout: an answered handshake stops the clock', async () => {
  const srv = await startServer();
  srv.wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
  const ws = connect(srv.url, { handshakeTimeout: 100 });
  const errors = [];
  ws.on('error', (e) => errors.push(e.code));
  await once(ws, 'open');
  await new Promise((r) => setTimeout(r, 250));
  ws.send('still here');
  const [data] = await once(ws, 'message');
  assert.equal(String(data), 'still here');
  assert.deepEqual(errors, []);
  ws.close();
  await once(ws, 'close');
  await srv.close();
});

test('handshakeTimeout: acceptSocket drops a client that never finishes its request', async () => {
  const wss = new WebSocketServer({ handshakeTimeout: 200 });
  const failures = [];
  wss.on('handshakeError', (e, req) => failures.push([e.code, req]));
  let connections = 0;
  wss.on('connection', () => connections++);
  const server = net.createServer((sock) => wss.acceptSocket(sock));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const start = Date.now();
  const sock = net.connect(server.address().port, '127.0.0.1');
  sock.on('error', () => {});
  // Half a request, then silence.
  sock.write(upgradeRequest().subarray(0, 40));
  const got = [];
  sock.on('data', (d) => got.push(d));
  await once(sock, 'close', 5000);
  assert.ok(Date.now() - start >= 190, 'not before the limit');
  assert.deepEqual(failures, [['WSPROTO_REMOTE_HANDSHAKE_TIMEOUT', null]]);
  assert.equal(Buffer.concat(got).length, 0, 'nothing is answered');
  assert.equal(connections, 0);
  // A client that finishes in time is not affected by the timer it had.
  const reply = await rawExchange(server.address().port, Buffer.concat([upgradeRequest(), cframe(8, Buffer.from([3, 0xe8]))]));
  assert.match(splitReply(reply).head, /^HTTP\/1\.1 101 /);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(failures.length, 1);
  assert.equal(connections, 1);
  await new Promise((r) => server.close(r));
});
