#!/usr/bin/env bash
# C load benchmark (not part of `make test`): the C echo server holds
# 10,000 concurrent WebSocket connections from load_client on 127.0.0.1,
# each exchanging 100 messages; then the idle-connection heap measurement.
#
#   make bench-c-load                  (or: N=10000 M=100 bench/c_load/run.sh)
set -euo pipefail
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
CC=${CC:-cc}
N=${N:-10000}
M=${M:-100}
LIB=$ROOT/target/release
out=$(mktemp -d)
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$out"' EXIT

# Each side needs one descriptor per connection, plus some.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((N + 100)) ]; then
  echo "bench-c-load: need $((N + 100)) file descriptors, have $(ulimit -n)"
  exit 1
fi

flags=(-std=c11 -O2 -g -Wall -Wextra -Werror -I"$ROOT/include" -L"$LIB" -lwsproto -Wl,-rpath,"$LIB")
$CC -o "$out/echo_server" "$ROOT/examples/c/echo_server.c" "${flags[@]}"
$CC -o "$out/load_client" "$ROOT/bench/c_load/load_client.c" "${flags[@]}"
$CC -o "$out/idle_heap" "$ROOT/bench/c_load/idle_heap.c" "${flags[@]}"

echo "== $N connections x $M messages against the C echo server (epoll, callback mode)"
"$out/echo_server" 0 -q >"$out/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -qs '^listening' "$out/server.log" && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$out/server.log")
"$out/load_client" "$port" "$server" "$N" "$M"
kill -TERM "$server"
wait "$server" || true

echo "== heap held by an idle open connection inside the library"
"$out/idle_heap" "$N"
"$out/idle_heap" "$N" deflate || true  # informative: no target for compressed connections
