// Echo client for the conformance suite's client mode (an Autobahn-style
// "fuzzing server" on 127.0.0.1:PORT). It asks /getCaseCount how many cases
// there are, then runs them one at a time: for case i it connects to
// /runCase?case=i, offering permessage-deflate, and echoes every message
// back (text as text, binary as binary) until the server closes the
// connection. Pings and the closing handshake are answered by the engine.
//
//   node examples/node/echo_client.mjs PORT [-v]
//
// -v prints one line on stderr for each case that ended in an error.
// Exits 0 after the last case, 1 for bad arguments or when /getCaseCount
// fails.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { connect } = require('../../bindings-node');

// A guard against hangs: a connection that stays silent this long (during
// the opening handshake too) is dropped.
const READ_TIMEOUT_MS = 30_000;

const [portArg, ...flags] = process.argv.slice(2);
const port = Number(portArg);
const verbose = flags.includes('-v');
if (!Number.isInteger(port) || port < 1 || port > 65535 || flags.some((f) => f !== '-v')) {
  console.error('usage: node echo_client.mjs PORT [-v]');
  process.exit(1);
}

/**
 * Opens ws://127.0.0.1:PORT + path and calls onMessage(ws, data, isBinary)
 * for every message. Resolves once the socket has closed, with the first
 * error seen (or null). Never rejects.
 */
function session(path, onMessage) {
  return new Promise((resolve) => {
    const ws = connect(`ws://127.0.0.1:${port}${path}`, { deflate: true, handshakeTimeout: 0 });
    let error = null;
    let timer = null;
    const armTimer = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        error ??= new Error(`nothing received for ${READ_TIMEOUT_MS / 1000} s`);
        console.error(`${path}: timed out, dropping the connection`);
        ws.terminate();
      }, READ_TIMEOUT_MS);
    };
    armTimer();
    ws.on('message', (data, isBinary) => {
      armTimer();
      onMessage(ws, data, isBinary);
    });
    ws.on('ping', armTimer);
    // After a failure the library closes the connection by itself (with the
    // right close code, or without a frame after a bad handshake); 'error'
    // says why, and 'close' follows.
    ws.on('error', (err) => {
      error ??= err;
    });
    ws.on('close', () => {
      clearTimeout(timer);
      resolve(error);
    });
  });
}

let caseCount = null;
const countError = await session('/getCaseCount', (ws, data) => {
  caseCount = Number(data.toString());
});
if (countError || !Number.isInteger(caseCount) || caseCount < 0) {
  console.error(`echo_client: /getCaseCount failed: ${countError ? countError.message : 'no case count received'}`);
  process.exit(1);
}

for (let i = 1; i <= caseCount; i++) {
  const error = await session(`/runCase?case=${i}`, (ws, data, isBinary) => ws.send(data, { binary: isBinary }));
  if (error && verbose) console.error(`case ${i}: ${error.code ?? 'error'}: ${error.message}`);
}
process.exit(0);
