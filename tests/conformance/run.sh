#!/usr/bin/env bash
# Protocol conformance over TCP on 127.0.0.1: tests/conformance/conformance.py
# (a peer built from RFC 6455 with Python's standard library alone) as the
# client of the echo server of every language (C, Rust, Python and Node), and
# then as the server of the echo client of every language. The C programs
# also run built with AddressSanitizer+UBSan and under valgrind, and must
# then exit cleanly (no error, nothing leaked): a server when stopped, a
# client when its cases are done.
#
# Usage: tests/conformance/run.sh   (after `make examples` and the ASan build
# of mk/conformance.mk)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py=$root/build/venv/bin/python
here=$root/tests/conformance
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened"; return 1; }

failed=0
# run NAME COMMAND...: starts the server with PORT in COMMAND replaced by a
# free port, and runs every case against it.
run() {
  local name=$1; shift
  local port; port=$(free_port)
  local cmd=("${@/#PORT/$port}")
  "${cmd[@]}" > "/tmp/conformance.$$.$name.log" 2>&1 & pids+=($!)
  wait_port "$port"
  if ! python3 "$here/conformance.py" "$port" --name "$name"; then
    failed=$((failed+1))
    echo "--- $name server's output:"; tail -20 "/tmp/conformance.$$.$name.log"
  fi
}

# run_checked NAME COMMAND...: run, then stop the server with SIGTERM (the C
# echo server frees every connection and exits) and require exit status 0.
run_checked() {
  local name=$1
  run "$@"
  local pid=${pids[-1]} status=0
  kill -TERM "$pid"
  wait "$pid" || status=$?
  if [ "$status" -ne 0 ]; then
    failed=$((failed+1))
    echo "FAIL $name: the server exited with status $status"; tail -40 "/tmp/conformance.$$.$name.log"
  else
    echo "$name: exited cleanly"
  fi
}

run c "$root/examples/c/echo_server" PORT -q
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_checked c-asan "$root/build/conformance/echo_server_asan" PORT -q
run_checked c-valgrind valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  "$root/examples/c/echo_server" PORT -q
run rust "$root/target/release/echo_server" PORT --quiet
run python "$py" "$root/examples/python/echo_server.py" PORT -q
run node node "$root/examples/node/echo_server.mjs" PORT
# The README's complete asyncio example, so that what readers copy stays right.
readme_py=/tmp/conformance.$$.readme.py
python3 - "$root/README.md" > "$readme_py" <<'PY'
import sys
text = open(sys.argv[1]).read()
start = text.index("\n", text.index("```python", text.index("A complete asyncio echo server"))) + 1
print(text[start : text.index("```", start)].replace("8765", "int(__import__('sys').argv[1])"))
PY
run readme-python "$py" "$readme_py" PORT
# client NAME COMMAND...: the client cases against the echo client COMMAND
# (PORT in it is the harness's port); the harness checks its exit status.
client() {
  local name=$1; shift
  if ! python3 "$here/conformance.py" --name "$name" --client "$@"; then
    failed=$((failed+1))
  fi
}

client c-client "$root/examples/c/echo_client" PORT
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  client c-client-asan "$root/build/conformance/echo_client_asan" PORT
client c-client-valgrind valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  "$root/examples/c/echo_client" PORT
client rust-client "$root/target/release/echo_client" PORT
client python-client "$py" "$root/examples/python/echo_client.py" PORT
client node-client node "$root/examples/node/echo_client.mjs" PORT
rm -f /tmp/conformance.$$.*.log "$readme_py"
[ "$failed" -eq 0 ]
