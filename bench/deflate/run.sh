#!/usr/bin/env bash
# permessage-deflate: ours (cargo bench), websockets and ws, in one run.
# Usage: bench/deflate/run.sh   (after `make venv node-peers`)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
echo "# permessage-deflate, $(date -u +%Y-%m-%d), $(lscpu | sed -n 's/^Model name: *//p')"
echo
echo "## wsproto-core (zlib-rs)"
cargo bench -q -p wsproto-core --bench deflate 2>/dev/null | sed 's/^## Throughput/### Throughput/; s/^## /### /'
build/venv/bin/python bench/deflate/peers.py
NODE_PATH=build/peers/node_modules node bench/deflate/peers.mjs
