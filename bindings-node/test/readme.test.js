'use strict';
// The example in the repository README runs as printed: it is extracted,
// given a free port and this package under its published name, and must
// print the echo and the close.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const { execFileSync } = require('node:child_process');

async function freePort() {
  const probe = net.createServer();
  await new Promise((r) => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address();
  await new Promise((r) => probe.close(r));
  return port;
}

test('the README example echoes and closes', async () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const node = readme.slice(readme.indexOf('\n## Node'));
  const start = node.indexOf('```js\n') + '```js\n'.length;
  const code = node.slice(start, node.indexOf('```', start));
  assert.match(code, /require\('wsproto-rs'\)/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsproto-readme-'));
  try {
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(path.join(__dirname, '..'), path.join(dir, 'node_modules', 'wsproto-rs'));
    fs.writeFileSync(path.join(dir, 'example.js'), code.replaceAll('8080', String(await freePort())));
    const out = execFileSync(process.execPath, ['example.js'], { cwd: dir, encoding: 'utf8', timeout: 20000 });
    assert.deepEqual(out.trim().split('\n'), ['hello', 'closed 1000 bye']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
