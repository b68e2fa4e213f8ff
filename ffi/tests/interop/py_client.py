"""Python `websockets` clients against the C echo server (examples/c/echo_server).

Usage: py_client.py PORT [deflate]. With "deflate" the clients negotiate
permessage-deflate (the server must be started with -z). Exits non-zero on
the first mismatch.
"""

import asyncio
import os
import socket
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

PORT = int(sys.argv[1])
URI = f"ws://127.0.0.1:{PORT}/chat"
DEFLATE = len(sys.argv) > 2 and sys.argv[2] == "deflate"
COMPRESSION = "deflate" if DEFLATE else None


async def conversation() -> None:
    async with connect(URI, subprotocols=["chat"], max_size=None, compression=COMPRESSION) as ws:
        assert ws.subprotocol == "chat", ws.subprotocol
        negotiated = [e.name for e in ws.protocol.extensions]
        assert negotiated == (["permessage-deflate"] if DEFLATE else []), negotiated
        for msg in ["hello", "", "ünïcödé ✓", "x" * 70000]:
            await ws.send(msg)
            got = await ws.recv()
            assert got == msg, (len(got), len(msg))
        for blob in [b"\x00\xff", b"", os.urandom(1 << 20)]:
            await ws.send(blob)
            got = await ws.recv()
            assert got == blob, (len(got), len(blob))
        # A fragmented message comes back whole.
        await ws.send(["frag", "men", "ted"])
        assert await ws.recv() == "fragmented"
        pong = await ws.ping(b"py-ping")
        await asyncio.wait_for(pong, 5)
        await ws.close(4000, "py done")
        assert ws.close_code == 4000, ws.close_code
    print(f"python: conversation ok (text, binary up to 1 MiB, fragments, ping, close 4000, compression {COMPRESSION})")


async def many_clients(n: int, messages: int) -> None:
    async def one(i: int) -> None:
        async with connect(URI, compression=COMPRESSION) as ws:
            for j in range(messages):
                payload = f"client {i} message {j}"
                await ws.send(payload)
                assert await ws.recv() == payload
    await asyncio.gather(*(one(i) for i in range(n)))
    print(f"python: {n} concurrent clients x {messages} messages echoed")


def handshake(sock: socket.socket) -> None:
    sock.sendall(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101 "), head
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in head, head


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def violations() -> None:
    # An unmasked client frame: close 1002, then the server closes TCP.
    with socket.create_connection(("127.0.0.1", PORT), timeout=5) as sock:
        handshake(sock)
        sock.sendall(b"\x81\x02hi")
        data = read_all(sock)
        assert data[:1] == b"\x88" and data[2:4] == (1002).to_bytes(2, "big"), data
    # Invalid UTF-8 in a masked text frame: close 1007.
    with socket.create_connection(("127.0.0.1", PORT), timeout=5) as sock:
        handshake(sock)
        sock.sendall(b"\x81\x81\x00\x00\x00\x00\xff")
        data = read_all(sock)
        assert data[:1] == b"\x88" and data[2:4] == (1007).to_bytes(2, "big"), data
    # Not a WebSocket request: an HTTP 400 answer.
    with socket.create_connection(("127.0.0.1", PORT), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = read_all(sock)
        assert data.startswith(b"HTTP/1.1 400 "), data
    print("python: protocol violations answered with 1002, 1007 and HTTP 400")


async def main() -> None:
    await conversation()
    await many_clients(50, 20)
    violations()


try:
    asyncio.run(main())
except (AssertionError, ConnectionClosedError) as e:
    print(f"python: FAILED: {e!r}")
    sys.exit(1)
