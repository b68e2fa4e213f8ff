'use strict';
// Interop over TCP on 127.0.0.1 with independent implementations:
// the `ws` client against our server, our client against a `ws` server,
// and our client against the C example echo server (when built).

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const { WebSocketServer, connect } = require('../lib/index.js');
const { requireWs, once } = require('./helpers.js');

const ws = requireWs();

async function ourEchoServer(options = {}) {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, ...options });
  wss.on('connection', (sock) => {
    sock.on('message', (data, isBinary) => sock.send(data, { binary: isBinary }));
    sock.on('ping', (data) => sock.send(`saw ping ${data}`));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, wss, port: server.address().port };
}

async function stop({ server, wss }) {
  wss.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

test('ws client -> our server: messages, fragments, ping, close code and reason', async () => {
  const srv = await ourEchoServer({ protocols: ['chat'] });
  const serverClosed = new Promise((resolve) => {
    srv.wss.on('connection', (sock) => sock.on('close', (code, reason) => resolve([code, reason])));
  });
  const client = new ws.WebSocket(`ws://127.0.0.1:${srv.port}/`, ['chat']);
  await once(client, 'open');
  assert.equal(client.protocol, 'chat');
  const got = [];
  client.on('message', (data, isBinary) => got.push([isBinary, Buffer.from(data).toString()]));
  client.send('text ✓');
  client.send(Buffer.from('binary'));
  client.send('frag-', { fin: false });
  client.send('ment', { fin: true });
  client.send('x'.repeat(70000));
  client.ping('p1');
  const [pong] = await once(client, 'pong');
  assert.equal(pong.toString(), 'p1');
  while (got.length < 5) await once(client, 'message');
  assert.deepEqual(got, [
    [false, 'text ✓'],
    [true, 'binary'],
    [false, 'frag-ment'],
    [false, 'x'.repeat(70000)],
    [false, 'saw ping p1'],
  ]);
  client.close(4321, 'ws says bye');
  const [code, reason] = await once(client, 'close');
  assert.equal(code, 4321);
  assert.equal(reason.toString(), '');
  assert.deepEqual(await serverClosed, [4321, 'ws says bye']);
  await stop(srv);
});

test('ws client -> our server: large Buffers sent without copying arrive intact and in order', async () => {
  const srv = await ourEchoServer();
  const big = Buffer.alloc(3 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 131 + 17) & 255;
  const mid = Buffer.alloc(20000, 0x42);
  srv.wss.on('connection', (sock) => {
    // A burst mixing kept Buffers with copied messages, then a callback.
    sock.send('first');
    sock.send(big);
    sock.send(mid);
    sock.send(Buffer.from('small'));
    sock.send(big, () => sock.send('sent'));
  });
  const client = new ws.WebSocket(`ws://127.0.0.1:${srv.port}/`);
  const got = [];
  client.on('message', (data, isBinary) => got.push([isBinary, Buffer.from(data)]));
  await once(client, 'open');
  while (got.length < 6) await once(client, 'message');
  assert.deepEqual(
    got.map(([b, d]) => [b, d.length]),
    [
      [false, 5],
      [true, big.length],
      [true, mid.length],
      [true, 5],
      [true, big.length],
      [false, 4],
    ],
  );
  assert.ok(got[1][1].equals(big) && got[4][1].equals(big));
  assert.ok(got[2][1].equals(mid));
  client.close();
  await once(client, 'close');
  await stop(srv);
});

test('ws client -> our server: message and close in one write are both answered in order', async () => {
  const srv = await ourEchoServer();
  const client = new ws.WebSocket(`ws://127.0.0.1:${srv.port}/`);
  await once(client, 'open');
  const got = [];
  client.on('message', (d) => got.push(d.toString()));
  client.send('last words');
  client.close(1000, 'done'); // Same tick: usually one TCP segment.
  const [code] = await once(client, 'close');
  assert.equal(code, 1000);
  assert.deepEqual(got, ['last words']);
  await stop(srv);
});

test('our client -> ws server: messages, ping, server close code and reason', async () => {
  const wss = new ws.WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => [...p].pop() });
  await once(wss, 'listening');
  const serverGot = [];
  wss.on('connection', (sock) => {
    sock.on('message', (data, isBinary) => {
      serverGot.push([isBinary, data.toString()]);
      if (data.toString() === 'please close') sock.close(4001, 'as you wish');
      else sock.send(data, { binary: isBinary });
    });
  });
  const client = connect(`ws://127.0.0.1:${wss.address().port}/path?q=1`, { protocols: ['a', 'b'] });
  await once(client, 'open');
  assert.equal(client.protocol, 'b');
  const got = [];
  client.on('message', (data, isBinary) => got.push([isBinary, data.toString()]));
  client.send('hello ws');
  client.send(Buffer.from([1, 2, 3]));
  client.send('y'.repeat(200000));
  client.ping('are you there');
  const [pong] = await once(client, 'pong');
  assert.equal(pong.toString(), 'are you there');
  while (got.length < 3) await once(client, 'message');
  assert.deepEqual(got, [
    [false, 'hello ws'],
    [true, '\x01\x02\x03'],
    [false, 'y'.repeat(200000)],
  ]);
  client.send('please close');
  const [code, reason] = await once(client, 'close');
  assert.equal(code, 4001);
  assert.equal(reason, 'as you wish');
  assert.equal(serverGot.length, 4);
  await new Promise((r) => wss.close(r));
});

test('our client -> ws server: binary messages of every send path arrive intact and in order', async () => {
  // 8-96 KiB client sends are framed into Buffers of our own ahead of the
  // engine's output; smaller ones are staged, larger ones go through the
  // engine. All in one burst, mixed with text and pings.
  const wss = new ws.WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 8 << 20 });
  await once(wss, 'listening');
  const received = [];
  wss.on('connection', (sock) => sock.on('message', (data, isBinary) => received.push([isBinary, Buffer.from(data)])));
  const client = connect(`ws://127.0.0.1:${wss.address().port}/`);
  await once(client, 'open');
  const sizes = [100, 8192, 8193, 20000, 65535, 65536, 96 * 1024, 96 * 1024 + 1, 300000, 5000];
  const sent = [];
  for (const [i, n] of sizes.entries()) {
    const b = Buffer.alloc(n);
    for (let k = 0; k < n; k++) b[k] = (k * 13 + i) & 255;
    client.send(b);
    sent.push([true, b]);
    if (i % 3 === 0) {
      client.send(`text ${i}`);
      sent.push([false, Buffer.from(`text ${i}`)]);
      client.ping(`p${i}`);
    }
  }
  const deadline = Date.now() + 10000;
  while (received.length < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(received.length, sent.length);
  for (let i = 0; i < sent.length; i++) {
    assert.equal(received[i][0], sent[i][0], `message ${i} kind`);
    assert.ok(received[i][1].equals(sent[i][1]), `message ${i} (${sent[i][1].length} bytes)`);
  }
  client.close(1000, 'done');
  await once(client, 'close');
  await new Promise((r) => wss.close(r));
});

test('our client -> ws server: client-initiated close, ws sees code and reason', async () => {
  const wss = new ws.WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const seen = new Promise((resolve) => {
    wss.on('connection', (sock) => sock.on('close', (code, reason) => resolve([code, reason.toString()])));
  });
  const client = connect(`ws://127.0.0.1:${wss.address().port}/`);
  await once(client, 'open');
  client.close(3000, 'client done');
  const [code] = await once(client, 'close');
  assert.equal(code, 3000);
  assert.deepEqual(await seen, [3000, 'client done']);
  await new Promise((r) => wss.close(r));
});

test('permessage-deflate between our client and a ws server', async () => {
  const wss = new ws.WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
  await once(wss, 'listening');
  wss.on('connection', (sock) => sock.on('message', (d, b) => sock.send(d, { binary: b })));
  const client = connect(`ws://127.0.0.1:${wss.address().port}/`, { deflate: true });
  const [response] = await once(client, 'open');
  assert.match(response.extensions.join(','), /permessage-deflate/);
  const text = 'compress me '.repeat(1000);
  client.send(text);
  const [data] = await once(client, 'message');
  assert.equal(data.toString(), text);
  client.close();
  await once(client, 'close');
  await new Promise((r) => wss.close(r));
});

const C_SERVER = path.join(__dirname, '..', '..', 'examples', 'c', 'echo_server');

test('our client -> C example echo server', { skip: !fs.existsSync(C_SERVER) && 'examples/c/echo_server is not built' }, async () => {
  const child = spawn(C_SERVER, ['0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /listening on [\d.]+:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', (c) => reject(new Error(`echo_server exited with ${c}`)));
    });
    const client = connect(`ws://127.0.0.1:${port}/`);
    await once(client, 'open');
    const got = [];
    client.on('message', (data, isBinary) => got.push([isBinary, Buffer.from(data)]));
    const big = Buffer.alloc(100000, 0x5a);
    client.send('to C and back ✓');
    client.send(big);
    client.ping('c-ping');
    const [pong] = await once(client, 'pong');
    assert.equal(pong.toString(), 'c-ping');
    while (got.length < 2) await once(client, 'message');
    assert.deepEqual(got[0], [false, Buffer.from('to C and back ✓')]);
    assert.equal(got[1][0], true);
    assert.ok(got[1][1].equals(big));
    client.close(1000, 'bye C');
    const [code] = await once(client, 'close');
    assert.equal(code, 1000);
  } finally {
    child.kill('SIGTERM');
  }
});
