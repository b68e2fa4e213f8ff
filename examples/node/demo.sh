#!/usr/bin/env bash
# The Node demo: the Node client (examples/node/client.mjs) talks first to
# the C echo server, then to the Node echo server, each on a free port that
# the server picks and prints.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
log=$(mktemp)
server=
cleanup() {
  [ -z "$server" ] || kill "$server" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT

# start_server NAME CMD...: runs CMD in the background, waits for its
# "listening on [HOST:]PORT" line and sets $port.
start_server() {
  local name=$1
  shift
  : >"$log"
  "$@" >"$log" 2>&1 &
  server=$!
  port=
  for _ in $(seq 200); do
    port=$(sed -n 's/^listening on \([0-9.]*:\)\{0,1\}\([0-9]*\)$/\2/p' "$log" | head -n1)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "demo-node: the $name did not start"; cat "$log"; exit 1; }
}

stop_server() {
  kill -TERM "$server"
  wait "$server" || true
  server=
}

start_server "C echo server" "$root/examples/c/echo_server" 0
echo "== Node client -> C echo server on 127.0.0.1:$port"
node "$here/client.mjs" "$port"
stop_server

start_server "Node echo server" node "$here/echo_server.mjs" 0
echo "== Node client -> Node echo server on 127.0.0.1:$port"
node "$here/client.mjs" "$port"
stop_server
echo "== demo-node: both conversations passed"
