#!/usr/bin/env bash
# Runs the C tests of the wsproto C API:
#   1. the header compiles as C11 (-pedantic) and as C++ (and links);
#   2. every function the header declares is exercised by test_api.c;
#   3. test_api.c, plain (shared library), under AddressSanitizer + UBSan
#      (static library linked into an instrumented test; Rust itself is not
#      instrumented, but every allocation goes through ASan's malloc), and
#      under valgrind (0 errors, no definite or indirect leaks);
#   4. the examples under valgrind;
#   5. `make install PREFIX=<tmp>` then the examples built out of tree with
#      `pkg-config --cflags --libs wsproto`, run against each other.
# Prints "N passed, M failed" last.
set -euo pipefail
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
CC=${CC:-cc}
CXX=${CXX:-g++}
C_STATIC_DEPS=${C_STATIC_DEPS:--lpthread -ldl -lm}
LIB=$ROOT/target/release
INC=$ROOT/include
T=$ROOT/ffi/tests
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
step() {  # step NAME COMMAND...: runs a check and counts it
  local name=$1
  shift
  local ok=0
  "$@" >"$out/log" 2>&1 || ok=1
  # A run of test_api counts its own checks ("N passed, M failed").
  local summary
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out/log" | tail -1 || true)
  local p=1 f=0
  if [ -n "$summary" ]; then
    p=$(echo "$summary" | cut -d' ' -f1)
    f=$(echo "$summary" | cut -d' ' -f3)
  fi
  if [ $ok -eq 0 ]; then
    passed=$((passed + p))
    echo "ok   $name${summary:+ ($summary)}"
  else
    # A crash or a sanitizer report fails the run even if no check did.
    [ -n "$summary" ] && passed=$((passed + p))
    failed=$((failed + (f > 0 ? f : 1)))
    echo "FAIL $name"
    sed 's/^/     /' "$out/log" | tail -40
  fi
}

cflags=(-std=c11 -Wall -Wextra -Werror -g -I"$INC")

# 1. Header as C11 and C++.
step "header compiles as C11 -pedantic" \
  bash -c "$CC ${cflags[*]} -pedantic -o $out/h_c11 $T/header_c11.c -L$LIB -lwsproto -Wl,-rpath,$LIB && $out/h_c11"
step "header compiles as C++11 and links" \
  bash -c "$CXX -std=c++11 -Wall -Wextra -Werror -pedantic -I$INC -o $out/h_cxx $T/header_cxx.cpp $LIB/libwsproto.a $C_STATIC_DEPS && $out/h_cxx"

# 2. Every declared function is called by the tests.
coverage() {
  local missing=0
  for f in $(grep -oE '\bwsproto_[a-z0-9_]+\(' "$INC/wsproto.h" | tr -d '(' | sort -u); do
    if ! grep -q "\b$f(" "$T/test_api.c"; then
      echo "not tested: $f"
      missing=1
    fi
  done
  return $missing
}
step "every exported function is tested" coverage

# 3. The API tests, three ways.
$CC "${cflags[@]}" -O1 -pthread -o "$out/test_api" "$T/test_api.c" -L"$LIB" -lwsproto -Wl,-rpath,"$LIB"
step "test_api (shared library)" "$out/test_api"
$CC "${cflags[@]}" -O1 -pthread -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
  -o "$out/test_api_asan" "$T/test_api.c" "$LIB/libwsproto.a" $C_STATIC_DEPS
step "test_api (AddressSanitizer + UBSan, static library)" \
  env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 "$out/test_api_asan"
step "test_api (valgrind)" valgrind -q --error-exitcode=1 --leak-check=full --suppressions="$T/valgrind.supp" \
  --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect "$out/test_api"

# The examples under valgrind: a conversation, then SIGTERM (the server
# frees every connection on the way out).
examples_valgrind() {
  local vg=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect
    --suppressions="$T/valgrind.supp")
  "${vg[@]}" "$out/echo_server" 0 >"$out/vg_server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do grep -qs '^listening' "$out/vg_server.log" && break; sleep 0.05; done
  local port
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$out/vg_server.log")
  local rc=0
  "${vg[@]}" "$out/client" "$port" || rc=1
  kill -TERM "$pid"
  wait "$pid" || rc=1
  cat "$out/vg_server.log"
  return $rc
}
# Own copies: a parallel `make examples-c` may be rewriting examples/c.
for ex in echo_server client; do
  $CC "${cflags[@]}" -O1 -o "$out/$ex" "$ROOT/examples/c/$ex.c" -L"$LIB" -lwsproto -Wl,-rpath,"$LIB"
done
step "examples under valgrind (echo_server + client)" examples_valgrind

# 4. Install, then build and run the examples out of tree via pkg-config.
install_test() {
  local prefix=$out/prefix
  make -s -C "$ROOT" install PREFIX="$prefix" >/dev/null
  test -f "$prefix/lib/libwsproto.so" -a -f "$prefix/lib/libwsproto.a" -a -f "$prefix/include/wsproto.h"
  cmp "$prefix/include/wsproto.h" "$INC/wsproto.h"
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
  pkg-config --modversion wsproto
  local flags
  flags=$(pkg-config --cflags --libs wsproto)
  mkdir -p "$out/oot"
  cp "$ROOT/examples/c/echo_server.c" "$ROOT/examples/c/client.c" "$out/oot/"
  (cd "$out/oot" &&
    $CC -std=c11 -Wall -Wextra -Werror -o echo_server echo_server.c $flags -Wl,-rpath,"$prefix/lib" &&
    $CC -std=c11 -Wall -Wextra -Werror -o client client.c $flags -Wl,-rpath,"$prefix/lib" &&
    # The static library, with the system libraries pkg-config lists for it.
    $CC -std=c11 -Wall -Wextra -Werror -o client_static client.c $(pkg-config --cflags wsproto) \
      "$(pkg-config --variable=libdir wsproto)/libwsproto.a" \
      $(pkg-config --libs-only-l --static wsproto | sed 's/-lwsproto//'))
  if ldd "$out/oot/client_static" | grep -q libwsproto; then echo "client_static is not static"; return 1; fi
  # The server must use the installed library, not the build tree's.
  ldd "$out/oot/echo_server" | grep -q "$prefix/lib/libwsproto.so"
  "$out/oot/echo_server" 0 >"$out/oot/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do grep -qs '^listening' "$out/oot/server.log" && break; sleep 0.05; done
  local port
  port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$out/oot/server.log")
  local rc=0
  "$out/oot/client" "$port" || rc=1
  "$out/oot/client_static" "$port" >/dev/null || rc=1
  kill "$pid"
  wait "$pid" || true
  return $rc
}
step "make install + out-of-tree build with pkg-config" install_test

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
