// Codec throughput: wsproto-rs (the Rust engine through the N-API addon)
// against ws's Receiver and Sender (with bufferutil), in the same process.
//
//   node bench/node/bench_codec.mjs [--quick] [--out FILE]
//
// Decode: a stream of N frames is cut into 64 KiB chunks, as a TCP socket
// delivers them, and fed to the decoder; every message is handed to a
// callback as a Buffer (ws's 'message' event / our socket layer's sink).
// Encode: every message is framed on its own (ws: Sender.frame, which
// returns the header and payload buffers; ours: sendText/sendBinary), and
// ours takes the output once per 64 KiB, as one socket write per batch
// (`takeOutputParts`, the socket layer's call: large Buffers a server sends
// come back as themselves, as ws's unmasked frames do).
// Masked = client-to-server frames, unmasked = server-to-client.
// Each case is warmed up for WARM_MS, then runs for at least MIN_MS per
// round; the best of ROUNDS rounds is kept.
// Every (case, implementation) pair runs in a fresh node process, so the
// JIT state one case leaves behind cannot slow down or speed up another.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const require = createRequire(import.meta.url);
const { Connection } = require('../../bindings-node');
const wsRequire = createRequire(require.resolve('ws', { paths: [new URL('../../bindings-node/', import.meta.url).pathname] }));
const { Receiver, Sender } = wsRequire('ws');
let bufferutil = 'absent';
try {
  wsRequire('bufferutil');
  bufferutil = 'loaded';
} catch {
  // ws falls back to its JS masking; say so in the table.
}

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outIdx = args.indexOf('--out');
const outFile = outIdx >= 0 ? args[outIdx + 1] : null;
const MIN_MS = quick ? 60 : 250;
const ROUNDS = quick ? 1 : 3;
const WARM_MS = quick ? 100 : 300;
const SIZES = [16, 125, 1024, 64 << 10, 1 << 20];
const CHUNK = 64 << 10;

function payloadFor(size, text) {
  if (text) return 'wsproto bench ✓ '.repeat(Math.ceil(size / 17)).slice(0, size).padEnd(size, 'x');
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31) & 255;
  return b;
}

/** How many messages one round uses: ~8 MiB of payload, 4096..200000. */
function countFor(size) {
  return Math.max(4, Math.min(200_000, Math.floor((8 << 20) / size)));
}

/** Builds the wire bytes of `count` messages with our own encoder. */
function wireStream(size, text, masked, count) {
  const payload = payloadFor(size, text);
  const enc = Connection.open(masked ? 'client' : 'server', { maskSeed: masked ? 42 : undefined });
  const parts = [];
  for (let i = 0; i < count; i++) {
    if (text) enc.sendText(payload);
    else enc.sendBinary(payload);
    if (enc.bufferedAmount >= CHUNK) parts.push(enc.takeOutput());
  }
  const rest = enc.takeOutput();
  if (rest) parts.push(rest);
  const all = Buffer.concat(parts);
  const chunks = [];
  for (let i = 0; i < all.length; i += CHUNK) chunks.push(all.subarray(i, i + CHUNK));
  return { chunks, bytes: Buffer.byteLength(payload) * count };
}

/** One turn of the event loop, as a socket gives between reads. */
const turn = () => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs `prepare()` (untimed) then the `run` it returns (timed, handling
 * `count` messages) until MIN_MS of timed work; returns the best rate.
 * The event loop turns (untimed) between runs, as it does between socket
 * reads in a real program: Node runs the finalizers of external Buffers
 * (memory handed over by native code) only there.
 */
async function measure(prepare, count) {
  // Warm up first (untimed), so both sides are measured JIT-compiled.
  const warmEnd = Date.now() + WARM_MS;
  do {
    prepare()();
    await turn();
  } while (Date.now() < warmEnd);
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    let elapsed = 0;
    do {
      const run = prepare();
      const start = process.hrtime.bigint();
      run();
      elapsed += Number(process.hrtime.bigint() - start) / 1e6;
      n += count;
      await turn();
    } while (elapsed < MIN_MS);
    best = Math.max(best, (n / elapsed) * 1000);
  }
  return best;
}

// ws unmasks in place inside the chunks it is given, so every run gets
// fresh copies (made outside the timed part).
function fresh(chunks) {
  return chunks.map((c) => Buffer.from(c));
}

// Both decoders are made anew for every run (untimed), so each run starts
// a connection. Ours then grows its input buffer on the run's first large
// message, a per-connection cost ws's Receiver does not have (it allocates
// per message instead); the 1 MiB rows feel it: reusing one connection
// across runs, unmasked binary went from 4.6 k to 8.0 k msg/s. It is kept
// as it is, so as not to measure ours more kindly than ws.
function decodeOurs(chunks, masked, count) {
  let got = 0;
  const sink = {
    onText() {
      got++;
    },
    onBinary() {
      got++;
    },
  };
  return () => {
    const input = fresh(chunks);
    const conn = Connection.open(masked ? 'server' : 'client', { maxFrameSize: 2 ** 31, maxMessageSize: 2 ** 31 });
    return () => {
      got = 0;
      for (const c of input) conn.receiveInto(c, sink, false);
      if (got !== count) throw new Error(`wsproto-rs decoded ${got} of ${count}`);
    };
  };
}

function decodeWs(chunks, masked, count) {
  let got = 0;
  return () => {
    const input = fresh(chunks);
    const rx = new Receiver({ isServer: masked, maxPayload: 0, allowSynchronousEvents: true });
    rx.on('message', () => {
      got++;
    });
    rx.on('error', (e) => {
      throw e;
    });
    return () => {
      got = 0;
      for (const c of input) rx.write(c);
      if (got !== count) throw new Error(`ws decoded ${got} of ${count}`);
    };
  };
}

function encodeOurs(size, text, masked, count) {
  const payload = payloadFor(size, text);
  const conn = Connection.open(masked ? 'client' : 'server');
  const bytes = Buffer.byteLength(payload);
  let sink = 0;
  return () => () => {
    // Output is taken once per ~64 KiB of payload: one socket write per
    // batch, as a socket layer that flushes once per tick would do.
    let pending = 0;
    for (let i = 0; i < count; i++) {
      if (text) conn.sendText(payload);
      else conn.sendBinary(payload);
      pending += bytes;
      if (pending >= CHUNK) {
        sink += conn.takeOutputParts().length;
        pending = 0;
      }
    }
    const rest = conn.takeOutputParts();
    if (rest) sink += rest.length;
  };
}

function encodeWs(size, text, masked, count) {
  const payload = payloadFor(size, text);
  const opts = { fin: true, rsv1: false, opcode: text ? 1 : 2, mask: masked, readOnly: !text };
  let sink = 0;
  return () => () => {
    for (let i = 0; i < count; i++) {
      // ws.send turns a string into bytes (Buffer.from) before framing.
      const list = Sender.frame(text ? Buffer.from(payload) : payload, opts);
      sink += list.length;
    }
  };
}

function fmtRate(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}

function sizeName(s) {
  if (s >= 1 << 20) return `${s >> 20} MiB`;
  if (s >= 1024) return `${s >> 10} KiB`;
  return `${s} B`;
}

/** Runs one measurement in this process (the child side). */
function runCase(op, size, masked, text, impl) {
  const count = countFor(size) >> (quick ? 2 : 0) || 1;
  if (op === 'decode') {
    const { chunks } = wireStream(size, text, masked, count);
    return measure((impl === 'ours' ? decodeOurs : decodeWs)(chunks, masked, count), count);
  }
  return measure((impl === 'ours' ? encodeOurs : encodeWs)(size, text, masked, count), count);
}

const caseIdx = args.indexOf('--case');
if (caseIdx >= 0) {
  const [op, size, masked, text, impl] = args[caseIdx + 1].split(',');
  const rate = await runCase(op, Number(size), masked === '1', text === '1', impl);
  process.stdout.write(JSON.stringify({ rate }));
  process.exit(0);
}

function inChild(op, size, masked, text, impl) {
  const spec = [op, size, masked ? 1 : 0, text ? 1 : 0, impl].join(',');
  const extra = quick ? ['--quick'] : [];
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), ...extra, '--case', spec], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out).rate;
}

const rows = [];
for (const op of ['decode', 'encode']) {
  for (const size of SIZES) {
    for (const masked of [true, false]) {
      for (const text of [true, false]) {
        const bytes = Buffer.byteLength(payloadFor(size, text));
        const ours = inChild(op, size, masked, text, 'ours');
        const theirs = inChild(op, size, masked, text, 'ws');
        const row = {
          op,
          size: sizeName(size),
          masked: masked ? 'masked' : 'unmasked',
          type: text ? 'text' : 'binary',
          oursMsgs: ours,
          oursMB: (ours * bytes) / 1e6,
          wsMsgs: theirs,
          wsMB: (theirs * bytes) / 1e6,
          ratio: ours / theirs,
        };
        rows.push(row);
        process.stderr.write(
          `${op} ${row.size} ${row.masked} ${row.type}: ours ${fmtRate(ours)} msg/s, ws ${fmtRate(theirs)} msg/s, x${row.ratio.toFixed(2)}\n`,
        );
      }
    }
  }
}

const lines = [
  `Node ${process.version}, ws ${wsRequire('ws/package.json').version} (bufferutil ${bufferutil}), ` +
    `${os.cpus()[0].model}, ${os.cpus().length} cores; each case in its own process, ${WARM_MS} ms warm-up, best of ${ROUNDS} rounds of >= ${MIN_MS} ms.`,
  '',
  '| op | size | masking | type | wsproto-rs msgs/s | wsproto-rs MB/s | ws msgs/s | ws MB/s | ratio |',
  '|---|---|---|---|---:|---:|---:|---:|---:|',
];
for (const r of rows) {
  lines.push(
    `| ${r.op} | ${r.size} | ${r.masked} | ${r.type} | ${fmtRate(r.oursMsgs)} | ${r.oursMB.toFixed(0)} | ` +
      `${fmtRate(r.wsMsgs)} | ${r.wsMB.toFixed(0)} | ${r.ratio.toFixed(2)}x |`,
  );
}
const table = lines.join('\n');
console.log(table);
if (outFile) writeFileSync(outFile, table + '\n');
