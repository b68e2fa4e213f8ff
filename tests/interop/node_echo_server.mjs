// A `ws` echo server with permessage-deflate, for interop tests.
// Usage: node node_echo_server.mjs PORT   (NODE_PATH must reach `ws`)
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2]);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: { threshold: 0 }, maxPayload: 64 << 20 });
wss.on('connection', (ws) => {
  ws.on('error', () => {}); // bad input from a test client must not end the process
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
wss.on('listening', () => console.log(`ws echo server on 127.0.0.1:${port}`));
