// Client demo: connects to ws://127.0.0.1:PORT/, sends a text message, a
// binary message and a ping, checks the echoes and the pong, then closes
// with code 1000 and a reason, and prints what happened.
//
//   node examples/node/client.mjs PORT
//
// Exits 0 when every check passed, 1 otherwise.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { connect } = require('../../bindings-node');

const port = Number(process.argv[2] ?? 9001);
const ws = connect(`ws://127.0.0.1:${port}/`);
const failures = [];
const check = (what, ok) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

const timer = setTimeout(() => {
  check('finished within 10 s', false);
  process.exit(1);
}, 10_000);

const text = 'hello, wsproto ✓';
const binary = Buffer.from([0, 1, 2, 253, 254, 255]);
const steps = [];

ws.on('open', () => {
  console.log(`connected to ws://127.0.0.1:${port}/`);
  ws.send(text);
  ws.send(binary);
  ws.ping(Buffer.from('are you there?'));
});
ws.on('message', (data, isBinary) => {
  if (!isBinary) {
    check(`text echo: ${JSON.stringify(data.toString())}`, data.toString() === text);
  } else {
    check(`binary echo: ${data.toString('hex')}`, data.equals(binary));
  }
  steps.push(isBinary ? 'binary' : 'text');
  maybeClose();
});
ws.on('pong', (data) => {
  check(`pong: ${JSON.stringify(data.toString())}`, data.toString() === 'are you there?');
  steps.push('pong');
  maybeClose();
});
ws.on('error', (err) => check(`no error (${err.code}: ${err.message})`, false));
ws.on('close', (code, reason) => {
  clearTimeout(timer);
  check(`close: code ${code} reason ${JSON.stringify(reason)} (we sent 1000 "demo done")`, code === 1000);
  console.log(failures.length === 0 ? 'client: all checks passed' : `client: ${failures.length} check(s) failed`);
  process.exit(failures.length === 0 ? 0 : 1);
});

function maybeClose() {
  if (steps.length === 3) ws.close(1000, 'demo done');
}
