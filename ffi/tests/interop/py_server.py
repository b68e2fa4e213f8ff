"""A Python `websockets` echo server for the C client. Prints its port.

Usage: py_server.py [deflate]  (deflate: accept permessage-deflate)
"""

import asyncio
import sys

from websockets.asyncio.server import serve


COMPRESSION = "deflate" if sys.argv[1:] == ["deflate"] else None


async def echo(ws) -> None:
    async for message in ws:
        await ws.send(message)


async def main() -> None:
    async with serve(echo, "127.0.0.1", 0, subprotocols=["chat"], compression=COMPRESSION) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on 127.0.0.1:{port}", flush=True)
        await asyncio.sleep(60)


asyncio.run(main())
