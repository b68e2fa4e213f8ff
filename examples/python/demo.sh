#!/usr/bin/env bash
# The Python demo: the Python client (examples/python/client.py) talks to
# the C echo server (examples/c/echo_server), then to the Python asyncio
# echo server (examples/python/echo_server.py), each on a free port.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PY=${PY:-python3}
log=$(mktemp)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT

start() {
  : >"$log"
  "$@" >"$log" 2>&1 &
  server=$!
  for _ in $(seq 100); do
    grep -q '^listening on' "$log" && break
    sleep 0.05
  done
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$log")
  [ -n "$port" ] || { echo "demo-python: the server did not start"; cat "$log"; exit 1; }
}

stop() {
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
}

start "$root/examples/c/echo_server" 0
echo "== C echo server on 127.0.0.1:$port; Python client says:"
"$PY" "$here/client.py" "$port"
stop

start "$PY" "$here/echo_server.py" 0
echo "== Python echo server on 127.0.0.1:$port; Python client says:"
"$PY" "$here/client.py" "$port"
stop
echo "== the Python server logged:"
cat "$log"
