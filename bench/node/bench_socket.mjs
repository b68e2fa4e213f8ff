// End-to-end echo over TCP on 127.0.0.1: wsproto-rs's socket layer
// (WebSocketServer / connect) against ws's, the code a Node user actually
// runs, with the kernel's sockets in between.
//
//   node bench/node/bench_socket.mjs [--quick] [--out FILE]
//
// Two comparisons, each with the other side held fixed:
// - server: the same ws clients load an echo server written with ours and
//   one written with ws (each in a child process of its own);
// - client: clients written with ours and with ws load the same ws echo
//   server (in a child process).
// CONNS connections each keep WINDOW binary messages in flight (a message
// is sent again as soon as its echo arrives), for SECONDS per round after
// a warm-up; the best of ROUNDS rounds is kept. Reported: echoed messages
// per second and the CPU time the side under test used per message
// (user + system, from process.cpuUsage in the process that runs it), the
// fairer figure when the fixed side is the bottleneck: both processes
// share the machine's CPUs.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import os from 'node:os';
import readline from 'node:readline';

const require = createRequire(import.meta.url);
const ours = require('../../bindings-node');
const wsRequire = createRequire(require.resolve('ws', { paths: [new URL('../../bindings-node/', import.meta.url).pathname] }));
const WS = wsRequire('ws');
let bufferutil = 'absent';
try {
  wsRequire('bufferutil');
  bufferutil = 'loaded';
} catch {
  // ws falls back to its JS masking; the table says so.
}

const SELF = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);

// ---------------------------------------------------------------------
// Child: an echo server, or a client load, that reports its CPU time.
// ---------------------------------------------------------------------

/** Echo server with `impl` on `port`; binary in, the same bytes out. */
function serve(impl, port) {
  const server = http.createServer();
  if (impl === 'ours') {
    const wss = new ours.WebSocketServer({ server });
    wss.on('connection', (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      ws.on('error', () => {});
    });
  } else {
    const wss = new WS.WebSocketServer({ server, perMessageDeflate: false });
    wss.on('connection', (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      ws.on('error', () => {});
    });
  }
  server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
}

/**
 * Opens `conns` client connections with `impl` to `port`, each keeping
 * `window` messages of `size` bytes in flight; `count()` reads and resets
 * the number of echoes received.
 */
async function load(impl, port, conns, window, size) {
  const payload = Buffer.alloc(size, 0x5a);
  let echoed = 0;
  const sockets = [];
  await Promise.all(
    Array.from({ length: conns }, () => {
      return new Promise((resolve, reject) => {
        const ws =
          impl === 'ours'
            ? ours.connect(`ws://127.0.0.1:${port}/`)
            : new WS(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
        ws.on('open', () => {
          for (let i = 0; i < window; i++) ws.send(payload);
          resolve();
        });
        ws.on('message', () => {
          echoed++;
          if (ws.readyState === 1) ws.send(payload);
        });
        ws.on('error', reject);
        sockets.push(ws);
      });
    }),
  );
  return {
    count() {
      const n = echoed;
      echoed = 0;
      return n;
    },
    close() {
      for (const ws of sockets) ws.terminate();
    },
  };
}

/** Answers `mark`/`stats` lines on stdin with CPU time since the mark. */
function cpuReporter(extra) {
  let mark = process.cpuUsage();
  const rl = readline.createInterface({ input: process.stdin });
  // The parent gone (stdin closed) ends the child too.
  rl.on('close', () => process.exit(0));
  rl.on('line', (line) => {
    if (line === 'mark') {
      mark = process.cpuUsage();
      if (extra) extra.count();
      process.stdout.write('ok\n');
    } else if (line === 'stats') {
      const d = process.cpuUsage(mark);
      process.stdout.write(JSON.stringify({ cpuUs: d.user + d.system, echoed: extra ? extra.count() : 0 }) + '\n');
    } else if (line === 'exit') {
      if (extra) extra.close();
      process.exit(0);
    }
  });
}


// ---------------------------------------------------------------------
// Parent: runs the cases.
// ---------------------------------------------------------------------

function child(argv) {
  const p = spawn(process.execPath, [SELF, ...argv], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: p.stdout });
  const waiting = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  const next = () => new Promise((r) => waiting.push(r));
  return {
    ready: next(),
    async ask(cmd) {
      const r = next();
      p.stdin.write(cmd + '\n');
      return r;
    },
    async exit() {
      p.stdin.write('exit\n');
      await new Promise((r) => p.once('exit', r));
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One case: `tested` is 'server' or 'client'; `impl` the implementation
 * on that side. Returns { msgs, cpuPerMsg } for the best round.
 */
async function runCase(tested, impl, size, cfg, port) {
  const server = child(['--serve', tested === 'server' ? impl : 'ws', String(port)]);
  await server.ready;
  const client = child(['--load', tested === 'client' ? impl : 'ws', String(port), String(cfg.conns), String(cfg.window), String(size)]);
  await client.ready;
  await sleep(cfg.warmMs);
  let best = null;
  for (let r = 0; r < cfg.rounds; r++) {
    await server.ask('mark');
    await client.ask('mark');
    const t0 = process.hrtime.bigint();
    await sleep(cfg.seconds * 1000);
    const c = JSON.parse(await client.ask('stats'));
    const s = JSON.parse(await server.ask('stats'));
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const msgs = c.echoed / secs;
    const cpu = (tested === 'server' ? s.cpuUs : c.cpuUs) / c.echoed;
    if (!best || msgs > best.msgs) best = { msgs, cpuPerMsg: cpu };
  }
  await client.exit();
  await server.exit();
  return best;
}

function fmtRate(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(2) + ' M';
  if (n >= 1e3) return (n / 1e3).toFixed(1) + ' k';
  return n.toFixed(0);
}

function fmtSize(n) {
  return n >= 1024 ? `${n / 1024} KiB` : `${n} B`;
}

async function main() {
  const quick = args.includes('--quick');
  const outIdx = args.indexOf('--out');
  const outFile = outIdx >= 0 ? args[outIdx + 1] : null;
  const cfg = { conns: 32, window: 8, seconds: quick ? 0.5 : 2, rounds: quick ? 1 : 3, warmMs: quick ? 300 : 1000 };
  const sizes = [16, 1024, 64 << 10];
  let port = 40100 + (process.pid % 1000) * 10;
  const rows = [];
  for (const tested of ['server', 'client']) {
    for (const size of sizes) {
      const r = {};
      // Alternate the order so neither implementation always runs first.
      const order = size === 1024 ? ['ws', 'ours'] : ['ours', 'ws'];
      for (const impl of order) r[impl] = await runCase(tested, impl, size, cfg, port++);
      const row =
        `| ${tested} | ${fmtSize(size)} | ${fmtRate(r.ours.msgs)} | ${r.ours.cpuPerMsg.toFixed(2)} | ` +
        `${fmtRate(r.ws.msgs)} | ${r.ws.cpuPerMsg.toFixed(2)} | ${(r.ours.msgs / r.ws.msgs).toFixed(2)}x | ` +
        `${(r.ws.cpuPerMsg / r.ours.cpuPerMsg).toFixed(2)}x |`;
      rows.push(row);
      console.log(row);
    }
  }
  const head =
    `CPU: ${os.cpus()[0].model}, ${os.cpus().length} CPUs; node ${process.version}; ws ${WS.version || wsRequire('ws/package.json').version} (bufferutil ${bufferutil}); ` +
    `${cfg.conns} connections × ${cfg.window} messages in flight, best of ${cfg.rounds} × ${cfg.seconds} s\n\n` +
    '| side tested | size | wsproto-rs echoes/s | wsproto-rs CPU µs/msg | ws echoes/s | ws CPU µs/msg | echoes ratio | CPU ratio (ws/ours) |\n' +
    '|---|---|---:|---:|---:|---:|---:|---:|\n';
  const table = head + rows.join('\n') + '\n';
  if (outFile) writeFileSync(outFile, table);
  else console.log('\n' + table);
}

if (args[0] === '--serve') {
  serve(args[1], Number(args[2]));
  cpuReporter(null);
} else if (args[0] === '--load') {
  const [impl, port, conns, window, size] = args.slice(1);
  const l = await load(impl, Number(port), Number(conns), Number(window), Number(size));
  process.stdout.write('ready\n');
  cpuReporter(l);
} else {
  await main();
}
