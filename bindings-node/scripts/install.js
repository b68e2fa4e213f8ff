'use strict';
// The package's install script: builds the native addon from source with
// `napi build --platform --release` (Rust must be installed).
//
// When the package is installed from a folder (`npm install ./bindings-node`)
// npm links it and runs this script without installing the package's own
// dependencies, so @napi-rs/cli may be missing here. In that case the pinned
// CLI version from package.json is installed into this folder first.

const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const CLI = '@napi-rs/cli';

function findCli() {
  try {
    const manifest = require.resolve(`${CLI}/package.json`, { paths: [root] });
    const { bin } = require(manifest);
    const rel = typeof bin === 'string' ? bin : bin.napi;
    return path.join(path.dirname(manifest), rel);
  } catch {
    return null;
  }
}

function run(cmd, args, env) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

/** The environment for a nested npm: the outer install's settings out. */
function nestedNpmEnv() {
  const keep = new Set([
    'npm_config_registry',
    'npm_config_cache',
    'npm_config_userconfig',
    'npm_config_globalconfig',
    'npm_config_proxy',
    'npm_config_https_proxy',
    'npm_config_noproxy',
    'npm_config_strict_ssl',
    'npm_config_cafile',
  ]);
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.toLowerCase().startsWith('npm_') || keep.has(k.toLowerCase())) env[k] = v;
  }
  return env;
}

let cli = findCli();
if (!cli) {
  const version = pkg.dependencies[CLI];
  console.log(`wsproto-rs: installing ${CLI}@${version} to build the addon`);
  const npmCli = process.env.npm_execpath;
  const args = ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', `${CLI}@${version}`];
  if (npmCli && npmCli.endsWith('.js')) run(process.execPath, [npmCli, ...args], nestedNpmEnv());
  else run(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, nestedNpmEnv());
  cli = findCli();
  if (!cli) {
    console.error(`wsproto-rs: ${CLI} is still missing; cannot build the addon`);
    process.exit(1);
  }
}
run(process.execPath, [cli, 'build', '--platform', '--release'], process.env);
