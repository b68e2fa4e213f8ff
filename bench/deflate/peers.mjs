// permessage-deflate throughput and ratio of Node's `ws` on the corpus of
// core/benches/deflate.rs (generated the same way), with ws's defaults:
// 15-bit windows, level 6 (Z_DEFAULT_COMPRESSION), memLevel 8, context kept.
// Usage: NODE_PATH=build/peers/node_modules node bench/deflate/peers.mjs
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
import { dirname, join } from 'node:path';
// ws does not export its extension module; load it by path.
const PerMessageDeflate = require(join(dirname(require.resolve('ws')), 'lib', 'permessage-deflate.js'));

function corpus() {
  const json = Buffer.from(Array.from({ length: 12 }, (_, i) =>
    `{"id":${i},"user":"user${i}","action":"update","values":[${i},${i * 2},${i * 3}],"ok":true}`).join(','));
  const words = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit', 'sed', 'do'];
  let x = 1n;
  const step = () => { x = (x * 1103515245n + 12345n) & 0xffffffffn; return Number(x >> 16n); };
  let text = '';
  while (text.length < 64 << 10) text += words[step() % words.length] + ' ';
  const rnd = Buffer.alloc(1 << 20);
  for (let i = 0; i < rnd.length; i++) rnd[i] = step() & 0xff;
  return [['json ~1 KiB', json], ['text 64 KiB', Buffer.from(text.slice(0, 64 << 10))], ['random 1 MiB', rnd]];
}

function pmd(isServer) {
  const p = new PerMessageDeflate({ threshold: 0, concurrencyLimit: 1 }, isServer, 0);
  p.accept([{}]);
  return p;
}
const call = (p, fn, data) => new Promise((res, rej) => p[fn](data, true, (e, out) => (e ? rej(e) : res(out))));

console.log('## ws (Node zlib)\n');
console.log('| message | ratio | compress MB/s | decompress MB/s |');
console.log('|---|---:|---:|---:|');
for (const [name, msg] of corpus()) {
  const tx = pmd(true);
  const budget = 600;
  let n = 0, size = 0, frames = [];
  let start = performance.now();
  while (performance.now() - start < budget) {
    const out = await call(tx, 'compress', msg);
    size += out.length;
    if (frames.length < 4096) frames.push(out);
    n++;
  }
  const c = (performance.now() - start) / 1e3;
  let m = 0;
  start = performance.now();
  while (performance.now() - start < budget) {
    const rx = pmd(false);
    for (const f of frames) {
      const out = await call(rx, 'decompress', f);
      if (out.length !== msg.length) throw new Error('bad length');
      m++;
    }
    rx.cleanup();
  }
  const d = (performance.now() - start) / 1e3;
  const mb = msg.length / 1e6;
  console.log(`| ${name} | ${(size / (n * msg.length)).toFixed(3)} | ${(n * mb / c).toFixed(1)} | ${(m * mb / d).toFixed(1)} |`);
  tx.cleanup();
}
console.log();
