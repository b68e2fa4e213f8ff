// Echo server: an http.Server on 127.0.0.1:PORT whose WebSocket upgrades
// echo every message back (text as text, binary as binary).
//
//   node examples/node/echo_server.mjs PORT
//
// Prints "listening on PORT" once ready; runs until killed.
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { WebSocketServer } = require('../../bindings-node');

const port = Number(process.argv[2] ?? 9001);
const server = http.createServer((req, res) => {
  res.writeHead(426, { 'content-type': 'text/plain' });
  res.end('this is a WebSocket echo server\n');
});

// permessage-deflate is accepted when a client offers it (the server keeps
// no compression context between messages).
const wss = new WebSocketServer({ server, deflate: { serverNoContextTakeover: true } });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', (err) => console.error(`connection error: ${err.code}: ${err.message}`));
});
wss.on('handshakeError', (err) => console.error(`bad handshake: ${err.code}: ${err.message}`));

server.listen(port, '127.0.0.1', () => console.log(`listening on ${server.address().port}`));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    wss.close();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 500).unref();
  });
}
