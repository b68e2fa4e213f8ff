"""A `websockets` echo server with permessage-deflate, for interop tests.

Usage: py_echo_server.py PORT
"""
import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(port: int) -> None:
    async with serve(echo, "127.0.0.1", port, max_size=64 << 20, compression="deflate") as server:
        print(f"websockets echo server on 127.0.0.1:{port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
