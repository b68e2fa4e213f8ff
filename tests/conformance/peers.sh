#!/usr/bin/env bash
# The conformance cases against echo servers and echo clients written with
# libraries nobody here wrote, for comparison (not part of `make test`: they
# miss some cases, and that is what this shows): Node's `ws` and Python's
# `websockets`, both with permessage-deflate, the echo programs of
# tests/interop/.
#
# Usage: tests/conformance/peers.sh   (after `make venv node-peers`)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export NODE_PATH=$root/build/peers/node_modules
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }

for peer in ws websockets; do
  port=$(free_port)
  if [ "$peer" = ws ]; then
    node "$root/tests/interop/node_echo_server.mjs" "$port" > /dev/null 2>&1 & pids+=($!)
  else
    "$root/build/venv/bin/python" "$root/tests/interop/py_echo_server.py" "$port" > /dev/null 2>&1 & pids+=($!)
  fi
  wait_port "$port"
  python3 "$root/tests/conformance/conformance.py" "$port" --name "$peer"
done
python3 "$root/tests/conformance/conformance.py" --name ws-client --client node "$root/tests/interop/node_echo_client.mjs" PORT
python3 "$root/tests/conformance/conformance.py" --name websockets-client --client \
  "$root/build/venv/bin/python" "$root/tests/interop/py_echo_client.py" PORT
exit 0
