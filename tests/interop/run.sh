#!/usr/bin/env bash
# permessage-deflate interop over TCP on 127.0.0.1: the Rust example client
# and server against the Python `websockets` package and Node's `ws`, both
# roles, messages from 0 B to 16 MiB, compressible and random.
#
# Usage: tests/interop/run.sh   (after `make venv node-peers examples-rust`)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py=$root/build/venv/bin/python
export NODE_PATH=$root/build/peers/node_modules
bin=$root/target/release
here=$root/tests/interop
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened"; return 1; }

passed=0; failed=0
check() {
  local name=$1; shift
  if "$@" > "/tmp/interop.$$.log" 2>&1; then
    passed=$((passed+1)); echo "ok   $name ($(grep -c ' ok$' /tmp/interop.$$.log) messages)"
  else
    failed=$((failed+1)); echo "FAIL $name"; cat "/tmp/interop.$$.log"
  fi
  grep -m1 -i "negotiated\|extensions" "/tmp/interop.$$.log" | sed 's/^/     /' || true
}

port=$(free_port); "$py" "$here/py_echo_server.py" "$port" & pids+=($!); wait_port "$port"
check "rust client -> websockets server (deflate)" "$bin/client" "$port" --stress

port=$(free_port); node "$here/node_echo_server.mjs" "$port" & pids+=($!); wait_port "$port"
check "rust client -> ws server (deflate)" "$bin/client" "$port" --stress

port=$(free_port); "$bin/echo_server" "$port" --quiet & pids+=($!); wait_port "$port"
check "websockets client -> rust server (deflate)" "$py" "$here/py_stress_client.py" "$port"
check "ws client -> rust server (deflate)" node "$here/node_stress_client.mjs" "$port"

rm -f "/tmp/interop.$$.log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
