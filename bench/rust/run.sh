#!/usr/bin/env bash
# Runs the Rust core's codec benchmark (wsproto-core against tungstenite and
# fastwebsockets, with a plain memcpy floor) and prints a markdown table of
# throughput and ratios to stdout; criterion's own report goes to stderr.
#
#   bench/rust/run.sh                  # everything (about 5 minutes)
#   bench/rust/run.sh 'decode/masked'  # a criterion filter (a regex)
#
# Without a filter, earlier results are removed first so that the table only
# shows this run.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
if [ $# -eq 0 ]; then
    rm -rf "$target"/criterion/decode_* "$target"/criterion/encode_*
fi
# Build first, and let the build's file writes reach the disk, so that the
# first benchmarks do not share the machine with the kernel's writeback.
cargo bench -p wsproto-core --bench codec --no-run >&2
sync
sleep 3
cargo bench -p wsproto-core --bench codec -- "$@" >&2
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs; $(date -u '+%Y-%m-%d %H:%M UTC'); $(rustc --version)"
echo
python3 bench/rust/summary.py "$target/criterion"
