#!/usr/bin/env bash
# The conformance cases against echo servers and echo clients written with
# libraries nobody here wrote, for comparison (not part of `make test`: they
# miss some cases, and that is what this shows): Node's `ws` and Python's
# `websockets`, both with permessage-deflate (the echo programs of
# tests/interop/), and python-hyper wsproto running our own Python examples
# with the import changed from wsproto_rs to wsproto, which is all a program
# written for wsproto should need.
#
# Usage: tests/conformance/peers.sh   (after `make venv node-peers`)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py=$root/build/venv/bin/python
conformance=$root/tests/conformance/conformance.py
export NODE_PATH=$root/build/peers/node_modules
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# The Python examples on python-hyper wsproto.
hyper=$root/build/peers/wsproto-examples
mkdir -p "$hyper"
for f in echo_server echo_client; do
  sed 's/wsproto_rs/wsproto/g' "$root/examples/python/$f.py" > "$hyper/$f.py"
done

server() {
  local name=$1; shift
  local port; port=$(free_port)
  "${@/#PORT/$port}" > /dev/null 2>&1 & pids+=($!)
  wait_port "$port"
  python3 "$conformance" "$port" --name "$name"
}

server ws node "$root/tests/interop/node_echo_server.mjs" PORT
server websockets "$py" "$root/tests/interop/py_echo_server.py" PORT
server wsproto "$py" "$hyper/echo_server.py" PORT -q
python3 "$conformance" --name ws-client --client node "$root/tests/interop/node_echo_client.mjs" PORT
python3 "$conformance" --name websockets-client --client "$py" "$root/tests/interop/py_echo_client.py" PORT
python3 "$conformance" --name wsproto-client --client "$py" "$hyper/echo_client.py" PORT
exit 0
