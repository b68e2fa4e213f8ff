"""A WebSocket client built on wsproto_rs.

    python examples/python/client.py PORT [PATH]

Connects to 127.0.0.1:PORT, offers permessage-deflate, sends a text
message, a binary message and a ping, then closes with code 1000 and a
reason, printing everything the server sends back. Exits non-zero if the
server does not echo both messages, answer the ping and the close.
"""

from __future__ import annotations

import socket
import sys

import wsproto_rs as wsproto
from wsproto_rs.connection import ConnectionState
from wsproto_rs.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto_rs.extensions import PerMessageDeflate

TEXT = "Hello, wsproto_rs! ✓"
BINARY = bytes(range(16))
PING = b"are you there?"


def main(port: int, path: str) -> int:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    sock.sendall(ws.send(Request(host=f"127.0.0.1:{port}", target=path, extensions=[PerMessageDeflate()])))
    got = {"text": None, "binary": None, "pong": None, "close": None}
    text_parts: list = []
    binary_parts: list = []
    sent_messages = False
    while ws.state is not ConnectionState.CLOSED:
        data = sock.recv(65536)
        ws.receive_data(data or None)
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                names = [e.name for e in event.extensions] or ["none"]
                print(f"connected to 127.0.0.1:{port}{path}, extensions: {', '.join(names)}")
            elif isinstance(event, RejectConnection):
                print(f"rejected with HTTP {event.status_code}")
                return 1
            elif isinstance(event, TextMessage):
                text_parts.append(event.data)
                if event.message_finished:
                    got["text"] = "".join(text_parts)
                    print(f"received text: {got['text']!r}")
            elif isinstance(event, BytesMessage):
                binary_parts.append(event.data)
                if event.message_finished:
                    got["binary"] = b"".join(binary_parts)
                    print(f"received binary: {got['binary'].hex()}")
            elif isinstance(event, Pong):
                got["pong"] = event.payload
                print(f"received pong: {event.payload!r}")
            elif isinstance(event, Ping):
                sock.sendall(ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                got["close"] = (int(event.code), event.reason)
                print(f"received close: {int(event.code)} {event.reason!r}")
                if ws.state is ConnectionState.REMOTE_CLOSING:
                    sock.sendall(ws.send(event.response()))
        if ws.state is ConnectionState.OPEN and not sent_messages:
            sent_messages = True
            out = ws.send(TextMessage(data=TEXT))
            out += ws.send(BytesMessage(data=BINARY))
            out += ws.send(Ping(payload=PING))
            sock.sendall(out)
            print(f"sent text {TEXT!r}, binary {BINARY.hex()}, ping {PING!r}")
        if ws.state is ConnectionState.OPEN and got["text"] and got["binary"] and got["pong"]:
            sock.sendall(ws.send(CloseConnection(code=1000, reason="bye")))
            print("sent close: 1000 'bye'")
        if not data:
            break
    sock.close()
    # The close answer echoes the code; echoing the reason is optional (RFC 6455 5.5.1).
    ok = got["text"] == TEXT and got["binary"] == BINARY and got["pong"] == PING and got["close"] is not None
    ok = ok and got["close"][0] == 1000
    print("ok" if ok else "FAILED: the server did not echo everything")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} PORT [PATH]", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "/chat"))
