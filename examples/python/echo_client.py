"""A WebSocket echo client for the conformance harness, built on wsproto_rs.

    python examples/python/echo_client.py PORT [-v]

Asks ws://127.0.0.1:PORT/getCaseCount how many cases there are, then runs
cases 1 to N one connection at a time (ws://127.0.0.1:PORT/runCase?case=N).
Each connection offers permessage-deflate, echoes every text and binary
message whole, answers pings and the server's close, and reads until the
server closes the TCP connection. When a case goes wrong on purpose (a
refused or broken handshake, a bad frame, invalid UTF-8, a message over the
limits) the engine detects it: the client sends the close the engine chose
(nothing at all after a failed handshake), prints one line to stderr with
-v, and goes on with the next case. Exits 0 after the last case, 1 if it
cannot get the number of cases.

The code is plain wsproto code: swap ``wsproto_rs`` for ``wsproto`` in the
imports and it runs on python-hyper wsproto unchanged.
"""

from __future__ import annotations

import socket
import sys
from typing import Callable, List, Optional, Union

import wsproto_rs as wsproto
from wsproto_rs.connection import ConnectionState
from wsproto_rs.events import (
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto_rs.extensions import PerMessageDeflate
from wsproto_rs.frame_protocol import CloseReason
from wsproto_rs.utilities import RemoteProtocolError

Message = Union[TextMessage, BytesMessage]
#: Seconds a read may wait before the case is given up as hung.
TIMEOUT = 30.0


def run(port: int, path: str, on_message: Callable[[Message], Optional[Message]]) -> Optional[str]:
    """Runs one connection to ws://127.0.0.1:PORT/PATH. Every whole message
    received goes to ``on_message``; what it returns is sent back. Returns
    None if all went well, else what went wrong first."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        request = Request(host=f"127.0.0.1:{port}", target=path, extensions=[PerMessageDeflate()])
        sock.sendall(ws.send(request))
        failure: Optional[str] = None
        # wsproto hands out a message in pieces as its bytes arrive.
        text: List[str] = []
        binary: List[bytes] = []
        while True:
            data = sock.recv(65536)
            if ws.state is ConnectionState.CLOSED:
                # Both closes are sent: the server closes TCP first (RFC 6455 7.1.1).
                if not data:
                    return failure
                continue
            try:
                ws.receive_data(data or None)
            except RemoteProtocolError as exc:
                return f"bad handshake response: {exc}"
            except (ValueError, IndexError) as exc:
                # wsproto's PerMessageDeflate.finalize lets a malformed
                # parameter in the server's answer out as one of these.
                return f"bad permessage-deflate response: {exc!r}"
            out = []
            for event in ws.events():
                message: Optional[Message] = None
                if isinstance(event, RejectConnection):
                    return f"handshake refused with HTTP {event.status_code}"
                if isinstance(event, TextMessage):
                    text.append(event.data)
                    if event.message_finished:
                        message, text = TextMessage(data="".join(text)), []
                elif isinstance(event, BytesMessage):
                    binary.append(event.data)
                    if event.message_finished:
                        message, binary = BytesMessage(data=b"".join(binary)), []
                elif isinstance(event, Ping):
                    if ws.state is ConnectionState.OPEN:
                        out.append(ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if ws.state is ConnectionState.OPEN:
                        # The engine found a fault in what the server sent and
                        # chose the close code: send that close.
                        failure = failure or f"remote protocol error: {int(event.code)} {event.reason or ''}".rstrip()
                        out.append(ws.send(event.response()))
                    elif ws.state is ConnectionState.REMOTE_CLOSING:
                        out.append(ws.send(event.response()))
                    elif event.code == CloseReason.ABNORMAL_CLOSURE:
                        failure = failure or "connection lost without a close frame"
                if message is not None:
                    reply = on_message(message)
                    if reply is not None and ws.state is ConnectionState.OPEN:
                        out.append(ws.send(reply))
            if out:
                sock.sendall(b"".join(out))
            if not data:
                if ws.state is ConnectionState.CONNECTING:
                    failure = "connection closed during the handshake"
                return failure


def main(port: int, verbose: bool) -> int:
    messages: List[Message] = []
    try:
        failure = run(port, "/getCaseCount", messages.append)
    except OSError as exc:
        failure = f"{type(exc).__name__}: {exc}"
    count = messages[0].data if len(messages) == 1 else None
    if failure or not isinstance(count, str) or not count.isdecimal():
        print(f"getCaseCount failed: {failure or messages}", file=sys.stderr)
        return 1
    for case in range(1, int(count) + 1):
        try:
            failure = run(port, f"/runCase?case={case}", lambda message: message)
        except OSError as exc:  # includes the read timeout
            failure = f"{type(exc).__name__}: {exc}"
        if failure and verbose:
            print(f"case {case}: {failure}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or not sys.argv[1].isdecimal() or sys.argv[2:] not in ([], ["-v"]):
        print(f"usage: {sys.argv[0]} PORT [-v]", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(int(sys.argv[1]), "-v" in sys.argv[2:]))
