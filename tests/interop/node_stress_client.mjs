// A `ws` client that checks an echo server with permessage-deflate:
// messages from 0 B to 16 MiB, compressible and random, text and binary.
// Usage: node node_stress_client.mjs PORT   (NODE_PATH must reach `ws`)
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
const require = createRequire(import.meta.url);
const WebSocket = require('ws');

const port = Number(process.argv[2]);
const SIZES = [0, 1, 125, 126, 1000, 65535, 65536, 1 << 20, 16 << 20];
const ws = new WebSocket(`ws://127.0.0.1:${port}/stress`, { perMessageDeflate: { threshold: 0 }, maxPayload: 64 << 20 });
let failures = 0;
const next = () => new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data, isBinary })));

ws.on('error', (e) => { console.log(`ws client: error ${e.message}`); process.exit(1); });
ws.on('open', async () => {
  console.log(`ws client: negotiated ${ws.extensions}`);
  if (!ws.extensions.includes('permessage-deflate')) failures++;
  const pattern = Buffer.from('the quick brown fox jumps over the lazy dog ');
  for (const size of SIZES) {
    const compressible = Buffer.alloc(size);
    for (let i = 0; i < size; i++) compressible[i] = pattern[i % pattern.length];
    const text = 'héllo wörld '.repeat(Math.ceil(size / 12) + 1).slice(0, size);
    for (const [kind, msg] of [['compressible', compressible], ['random', randomBytes(size)], ['text', text]]) {
      const reply = next();
      ws.send(msg, { binary: typeof msg !== 'string' });
      const { data, isBinary } = await reply;
      const ok = typeof msg === 'string' ? (!isBinary && data.toString() === msg) : (isBinary && Buffer.compare(data, msg) === 0);
      if (!ok) failures++;
      console.log(`ws client: ${String(size).padStart(9)} B ${kind.padEnd(12)} ${ok ? 'ok' : 'MISMATCH'}`);
    }
  }
  ws.close(1000, 'done');
});
ws.on('close', (code, reason) => {
  console.log(`ws client: closed ${code} ${JSON.stringify(reason.toString())}`);
  if (code !== 1000) failures++;
  process.exit(failures ? 1 : 0);
});
