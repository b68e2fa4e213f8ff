"""permessage-deflate throughput and ratio of the Python `websockets` package
on the corpus of core/benches/deflate.rs (generated the same way), with the
same settings: 15-bit windows, level 6, memLevel 8, context kept.

Usage: build/venv/bin/python bench/deflate/peers.py
"""
import time
import zlib

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode


def corpus():
    json = ",".join(
        f'{{"id":{i},"user":"user{i}","action":"update","values":[{i},{i * 2},{i * 3}],"ok":true}}' for i in range(12)
    ).encode()
    words = [b"lorem", b"ipsum", b"dolor", b"sit", b"amet", b"consectetur", b"adipiscing", b"elit", b"sed", b"do"]
    x = 1
    text = bytearray()
    while len(text) < 64 << 10:
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        text += words[(x >> 16) % len(words)] + b" "
    text = bytes(text[: 64 << 10])
    rnd = bytearray(1 << 20)
    for i in range(len(rnd)):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        rnd[i] = (x >> 16) & 0xFF
    return [("json ~1 KiB", json), ("text 64 KiB", text), ("random 1 MiB", bytes(rnd))]


def pmd():
    settings = {"level": 6, "memLevel": 8}
    return PerMessageDeflate(False, False, 15, 15, settings)


def main():
    print("## websockets (Python zlib)\n")
    print("| message | ratio | compress MB/s | decompress MB/s |")
    print("|---|---:|---:|---:|")
    for name, msg in corpus():
        tx, budget = pmd(), 0.6
        n, size, frames, start = 0, 0, [], time.perf_counter()
        while time.perf_counter() - start < budget:
            f = tx.encode(Frame(Opcode.BINARY, msg))
            size += len(f.data)
            if len(frames) < 4096:
                frames.append(f)
            n += 1
        c = time.perf_counter() - start
        m, start = 0, time.perf_counter()
        while time.perf_counter() - start < budget:
            rx = pmd()
            for f in frames:
                assert len(rx.decode(f).data) == len(msg)
                m += 1
        d = time.perf_counter() - start
        mb = len(msg) / 1e6
        print(f"| {name} | {size / (n * len(msg)):.3f} | {n * mb / c:.1f} | {m * mb / d:.1f} |")
    print()


if __name__ == "__main__":
    assert zlib
    main()
