// Node `ws` client against the C echo server.
// Usage: node node_client.js PORT [deflate]  (deflate: the server runs with -z)
'use strict';
const WebSocket = require('ws');
const assert = require('assert');
const crypto = require('crypto');

const port = process.argv[2];
const deflate = process.argv[3] === 'deflate';
const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`, ['chat'], { perMessageDeflate: deflate });
const big = crypto.randomBytes(300000);
const expected = [
  ['text', 'hello from node'],
  ['binary', Buffer.from([1, 2, 3])],
  ['binary', big],
  ['text', 'ζ'.repeat(1000)],
];
const timer = setTimeout(() => { console.error('node: FAILED: timeout'); process.exit(1); }, 10000);

ws.on('open', () => {
  assert.strictEqual(ws.protocol, 'chat');
  assert.strictEqual(ws.extensions.startsWith('permessage-deflate'), deflate, ws.extensions);
  for (const [, data] of expected) ws.send(data);
  ws.ping(Buffer.from('node-ping'));
});
let pongs = 0;
ws.on('pong', (data) => {
  assert.strictEqual(data.toString(), 'node-ping');
  pongs++;
});
ws.on('message', (data, isBinary) => {
  const [kind, want] = expected.shift();
  assert.strictEqual(isBinary, kind === 'binary');
  assert.ok(Buffer.compare(Buffer.from(data), Buffer.from(want)) === 0, `${kind} echo differs`);
  if (expected.length === 0) ws.close(4001, 'node done');
});
ws.on('close', (code) => {
  clearTimeout(timer);
  try {
    assert.strictEqual(code, 4001);
    assert.strictEqual(expected.length, 0);
    assert.strictEqual(pongs, 1);
  } catch (e) {
    console.error(`node: FAILED: ${e.message}`);
    process.exit(1);
  }
  console.log(`node: conversation ok (text, binary up to 300 KB, ping, close 4001, deflate ${deflate})`);
});
ws.on('error', (e) => { console.error(`node: FAILED: ${e.message}`); process.exit(1); });
