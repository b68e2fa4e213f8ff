// A `ws` echo client with permessage-deflate, for the client cases of
// tests/conformance/ (Autobahn's protocol: /getCaseCount, then
// /runCase?case=1..N, echoing every message of each).
// Usage: node node_echo_client.mjs PORT   (NODE_PATH must reach `ws`)
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const WebSocket = require('ws');

const base = `ws://127.0.0.1:${Number(process.argv[2])}`;

/** One connection; resolves when it has closed, whatever happened. */
function session(path, onMessage) {
  return new Promise((resolve) => {
    const ws = new WebSocket(base + path, { perMessageDeflate: true, maxPayload: 64 << 20 });
    ws.on('message', (data, isBinary) => onMessage(ws, data, isBinary));
    ws.on('error', () => {}); // the harness judges what went wrong
    ws.on('close', resolve);
  });
}

let count = 0;
await session('/getCaseCount', (ws, data) => {
  count = Number(data.toString());
});
for (let i = 1; i <= count; i++) {
  await session(`/runCase?case=${i}`, (ws, data, isBinary) => ws.send(data, { binary: isBinary }));
}
