#!/usr/bin/env bash
# Interop over TCP on 127.0.0.1 (ports picked by the kernel):
#   C echo server  <- Python websockets clients, Node ws client
#   C client       -> Python websockets server, Node ws server
# Prints "N passed, M failed" last.
set -euo pipefail
ROOT=${ROOT:-$(cd "$(dirname "$0")/../../.." && pwd)}
PY=${PY:-$ROOT/build/venv/bin/python}
PEERS=${PEERS:-$ROOT/build/peers}
HERE=$ROOT/ffi/tests/interop
EX=$ROOT/examples/c
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0
failed=0

# start NAME COMMAND...: starts a server that prints "listening on HOST:PORT"
# and sets $port.
start() {
  local name=$1
  shift
  "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do
    grep -qs '^listening on' "$tmp/$name.log" && break
    sleep 0.05
  done
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/$name.log")
  [ -n "$port" ] || { echo "$name did not start:"; cat "$tmp/$name.log"; exit 1; }
}

check() {  # check NAME COMMAND...
  local name=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $name: $(tail -1 "$tmp/out")"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    sed 's/^/     /' "$tmp/out"
  fi
}

start c_server "$EX/echo_server" 0 -q -Z
cport=$port
check "python websockets client -> C echo server" timeout 120 "$PY" "$HERE/py_client.py" "$cport"
check "node ws client -> C echo server" timeout 60 env NODE_PATH="$PEERS/node_modules" node "$HERE/node_client.js" "$cport"
start c_server_z "$EX/echo_server" 0 -q -z
zport=$port
check "python websockets client -> C echo server, permessage-deflate" \
  timeout 120 "$PY" "$HERE/py_client.py" "$zport" deflate
check "node ws client -> C echo server, permessage-deflate" \
  timeout 60 env NODE_PATH="$PEERS/node_modules" node "$HERE/node_client.js" "$zport" deflate

# The C client's conversation, ending with the server's echo of its close;
# with -z it must have negotiated permessage-deflate.
c_client() {
  "$EX/client" "$@" >"$tmp/client.out" 2>&1 || { cat "$tmp/client.out"; return 1; }
  cat "$tmp/client.out"
  grep -qx 'client: server closed with 1000 "bye"' "$tmp/client.out"
  if [ "${2:-}" = -z ]; then grep -q 'extension permessage-deflate)' "$tmp/client.out"; fi
}

start py_server "$PY" "$HERE/py_server.py"
check "C client -> python websockets server" c_client "$port"
start py_server_z "$PY" "$HERE/py_server.py" deflate
check "C client -> python websockets server, permessage-deflate" c_client "$port" -z
start node_server env NODE_PATH="$PEERS/node_modules" node "$HERE/node_server.js"
check "C client -> node ws server" c_client "$port"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
