#!/usr/bin/env bash
# The C demo: starts the C echo server on a free port (port 0: the kernel
# picks one and the server prints it; -z: it accepts permessage-deflate),
# runs the C client against it twice, plain and compressed (-z), and prints
# both sides of the conversation.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log=$(mktemp)
"$here/echo_server" 0 -z >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  grep -q '^listening on' "$log" && break
  sleep 0.05
done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$log")
[ -n "$port" ] || { echo "demo-c: the echo server did not start"; cat "$log"; exit 1; }
echo "== C echo server on 127.0.0.1:$port; C client says:"
"$here/client" "$port"
echo "== the same with permessage-deflate (client -z):"
"$here/client" "$port" -z
kill -TERM "$server"
wait "$server" || true
echo "== the server logged:"
cat "$log"
