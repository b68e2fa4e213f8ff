#!/usr/bin/env bash
# The Rust demo: the example echo server and client hold a real conversation
# over TCP on 127.0.0.1 (handshake with permessage-deflate, text, binary,
# ping/pong, close with a code).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$root/target/release/echo_server" "$port" > >(sed "s/^/  [rust server] /") &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
echo "== Rust client <-> Rust echo server on 127.0.0.1:$port"
"$root/target/release/client" "$port" | sed 's/^/  /'
sleep 0.2
