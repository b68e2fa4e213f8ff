#!/usr/bin/env python3
"""Turns the criterion results of `core/benches/codec.rs` into a markdown table.

Reads target/criterion/<group>/<library>/<size>/new/{benchmark,sample}.json.
Each benchmark has 10 samples; the time per iteration is taken from the
fastest sample, because on a shared machine interference only ever adds time.
Throughput is payload bytes per second (headers excluded); for a stream of
equal messages the ratio of two libraries is also their ratio in messages/s.

Targets checked per row:
  * ours >= the fastest peer (tungstenite, fastwebsockets) on every stream;
  * >= 2x the fastest peer for 16 B and 125 B messages;
  * >= 1.5x the fastest peer for text of 1 KiB and more;
  * >= 0.8x a plain memory copy of the same bytes for binary of 64 KiB and more.
"""

import json
import os
import sys

PEERS = ("tungstenite", "fastwebsockets")
SIZES = {"16B": 16, "125B": 125, "1KiB": 1 << 10, "64KiB": 64 << 10, "1MiB": 1 << 20}


def load(root):
    results = {}
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            meta = json.load(f)
        with open(os.path.join(dirpath, "sample.json")) as f:
            sample = json.load(f)
        best_ns = min(t / n for t, n in zip(sample["times"], sample["iters"]))
        payload = meta["throughput"]["Bytes"]
        key = (meta["group_id"], meta["value_str"])
        results.setdefault(key, {})[meta["function_id"]] = payload / (best_ns * 1e-9)
    return results


def gbps(v):
    return "—" if v is None else f"{v / 1e9:.2f}"


def targets(group, size):
    kind = group.split("/")[2]
    peer = 1.0
    if size <= 125:
        peer = 2.0
    elif kind.startswith("text") and size >= 1 << 10:
        peer = 1.5
    floor = 0.8 if group.startswith("decode") and kind == "binary" and size >= 64 << 10 else None
    return peer, floor


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
    results = load(root)
    if not results:
        sys.exit(f"no criterion results under {root}")
    order = lambda k: (not k[0].startswith("decode"), k[0], SIZES.get(k[1], 0))
    print("| stream | size | ours GB/s | ours Mmsg/s | tungstenite GB/s | fastwebsockets GB/s | memcpy GB/s "
          "| ours / best peer | ours / memcpy | target | met |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    missed = 0
    for group, size_label in sorted(results, key=order):
        r = results[(group, size_label)]
        size = SIZES[size_label]
        ours = r.get("ours")
        best = max((r[p] for p in PEERS if p in r), default=None)
        memcpy = r.get("memcpy")
        peer_t, floor_t = targets(group, size)
        vs_peer = ours / best if ours and best else None
        vs_copy = ours / memcpy if ours and memcpy else None
        met = vs_peer is not None and vs_peer >= peer_t and (floor_t is None or (vs_copy or 0) >= floor_t)
        missed += not met
        goal = f"≥{peer_t:g}× peer" + (f", ≥{floor_t:g}× memcpy" if floor_t else "")
        print(
            f"| {group} | {size_label} | {gbps(ours)} | {ours / size / 1e6:.2f} | {gbps(r.get('tungstenite'))} "
            f"| {gbps(r.get('fastwebsockets'))} | {gbps(memcpy)} "
            f"| {'—' if vs_peer is None else f'{vs_peer:.2f}'} | {'—' if vs_copy is None else f'{vs_copy:.2f}'} "
            f"| {goal} | {'yes' if met else '**no**'} |"
        )
    print(f"\n{len(results) - missed} of {len(results)} rows meet their target.")


if __name__ == "__main__":
    main()
