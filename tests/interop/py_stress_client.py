"""A `websockets` client that checks an echo server with permessage-deflate:
messages from 0 B to 16 MiB, compressible and random, text and binary.

Usage: py_stress_client.py PORT
Exits non-zero on any mismatch; prints the negotiated extension.
"""
import asyncio
import os
import sys

from websockets.asyncio.client import connect

SIZES = [0, 1, 125, 126, 1000, 65535, 65536, 1 << 20, 16 << 20]


async def main(port: int) -> int:
    failures = 0
    async with connect(f"ws://127.0.0.1:{port}/stress", max_size=64 << 20, compression="deflate") as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions")
        print(f"websockets client: negotiated {ext}")
        if not ext or "permessage-deflate" not in ext:
            print("websockets client: permessage-deflate was not negotiated")
            failures += 1
        pattern = b"the quick brown fox jumps over the lazy dog "
        for size in SIZES:
            for kind, msg in (
                ("compressible", (pattern * (size // len(pattern) + 1))[:size]),
                ("random", os.urandom(size)),
                ("text", ("héllo wörld " * (size // 14 + 1))[:size]),
            ):
                await ws.send(msg)
                got = await ws.recv()
                ok = got == msg
                failures += not ok
                print(f"websockets client: {size:>9} B {kind:<12} {'ok' if ok else 'MISMATCH'}")
        await ws.close(1000, "done")
        print(f"websockets client: closed {ws.close_code} {ws.close_reason!r}")
        if ws.close_code != 1000:
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]))))
