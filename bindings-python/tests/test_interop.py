"""Interop over TCP on 127.0.0.1 with independent implementations:
our asyncio echo server vs the websockets client, our client vs the
websockets server, and our client vs the C example server."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest
from websockets.sync.client import connect
from websockets.sync.server import serve

import wsproto_rs as wsproto
from wsproto_rs.connection import ConnectionState
from wsproto_rs.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    Request,
    TextMessage,
)
from wsproto_rs.extensions import PerMessageDeflate

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 10


def start_server(cmd: List[str]) -> Tuple[subprocess.Popen, int]:  # type: ignore[type-arg]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening on 127.0.0.1:"), line
    return proc, int(line.rsplit(":", 1)[1])


@pytest.fixture
def python_server() -> Iterator[int]:
    proc, port = start_server([sys.executable, str(ROOT / "examples/python/echo_server.py"), "0", "-q"])
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=TIMEOUT)


@pytest.mark.parametrize("compression", ["deflate", None])
def test_websockets_client_against_our_server(python_server: int, compression: Any) -> None:
    uri = f"ws://127.0.0.1:{python_server}/echo"
    with connect(uri, compression=compression, max_size=None, open_timeout=TIMEOUT) as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions", "").startswith(
            "permessage-deflate" if compression else ""
        )
        for message in ["hello", "ƒñö😎" * 1000, b"\x00\xff" * 40000, "", b""]:
            ws.send(message)
            assert ws.recv(timeout=TIMEOUT) == message
        ws.send(["frag", "mented", " text"])  # a fragmented message
        assert ws.recv(timeout=TIMEOUT) == "fragmented text"
        assert ws.ping(b"beat").wait(TIMEOUT)
        ws.close(code=4001, reason="done here")
    assert ws.close_code == 4001 and ws.close_reason == "done here"


def test_many_websockets_clients_at_once(python_server: int) -> None:
    errors: List[BaseException] = []

    def one(i: int) -> None:
        try:
            with connect(f"ws://127.0.0.1:{python_server}/", open_timeout=TIMEOUT) as ws:
                for j in range(20):
                    ws.send(f"{i}:{j}")
                    assert ws.recv(timeout=TIMEOUT) == f"{i}:{j}"
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
    assert not errors


def test_our_server_refuses_a_bad_handshake(python_server: int) -> None:
    with socket.create_connection(("127.0.0.1", python_server), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                     b"Sec-WebSocket-Version: 7\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 426 \r\nSec-WebSocket-Version: 13\r\n")


def run_client(port: int, messages: List[Any], deflate: bool = True) -> Tuple[List[Any], Any, Any]:
    """Our client over a blocking socket: sends `messages`, a ping, then
    closes with 1000; returns the echoed messages, the pong, the close."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    exts = [PerMessageDeflate()] if deflate else []
    sock.sendall(ws.send(Request(host=f"127.0.0.1:{port}", target="/", extensions=exts)))
    echoed: List[Any] = []
    parts: List[Any] = []
    pong = close = None
    sent = False
    while ws.state is not ConnectionState.CLOSED:
        data = sock.recv(65536)
        ws.receive_data(data or None)
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                pass
            elif isinstance(event, Message):
                parts.append(event.data)
                if event.message_finished:
                    echoed.append(parts[0][:0].join(parts))
                    parts = []
            elif isinstance(event, Ping):
                sock.sendall(ws.send(event.response()))
            elif isinstance(event, Pong):
                pong = event.payload
            elif isinstance(event, CloseConnection):
                close = (int(event.code), event.reason)
                if ws.state is ConnectionState.REMOTE_CLOSING:
                    sock.sendall(ws.send(event.response()))
        if ws.state is ConnectionState.OPEN and not sent:
            sent = True
            out = b"".join(ws.send((TextMessage if isinstance(m, str) else BytesMessage)(data=m)) for m in messages)
            sock.sendall(out + ws.send(Ping(payload=b"ping!")))
        if ws.state is ConnectionState.OPEN and len(echoed) == len(messages) and pong is not None:
            sock.sendall(ws.send(CloseConnection(code=1000, reason="bye")))
        if not data:
            break
    sock.close()
    return echoed, pong, close


MESSAGES = ["hello", b"\x01\x02\x03", "ƒñö😎" * 2000, b"\xaa" * 200_000]


def test_our_client_against_the_websockets_server() -> None:
    def echo(ws: Any) -> None:
        for message in ws:
            ws.send(message)

    with serve(echo, "127.0.0.1", 0, max_size=None) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            echoed, pong, close = run_client(port, MESSAGES)
        finally:
            server.shutdown()
            thread.join(TIMEOUT)
    assert echoed == MESSAGES
    assert pong == b"ping!"
    assert close is not None and close[0] == 1000


def test_our_client_against_our_server(python_server: int) -> None:
    echoed, pong, close = run_client(python_server, MESSAGES)
    assert (echoed, pong, close) == (MESSAGES, b"ping!", (1000, "bye"))


C_SERVER = ROOT / "examples/c/echo_server"


@pytest.mark.skipif(not C_SERVER.exists(), reason="examples/c/echo_server is not built (make examples-c)")
def test_our_client_against_the_c_server() -> None:
    proc, port = start_server([str(C_SERVER), "0"])
    try:
        echoed, pong, close = run_client(port, MESSAGES)
    finally:
        proc.terminate()
        proc.wait(timeout=TIMEOUT)
    assert echoed == MESSAGES
    assert pong == b"ping!"
    assert close is not None and close[0] == 1000


@pytest.mark.parametrize(
    "server",
    [
        pytest.param([sys.executable, str(ROOT / "examples/python/echo_server.py"), "0", "--handshake-timeout", "0.3"], id="python"),
        pytest.param(
            [str(ROOT / "examples/c/echo_server"), "0", "-t", "0.3"],
            id="c",
            marks=pytest.mark.skipif(not (ROOT / "examples/c/echo_server").exists(), reason="make examples-c"),
        ),
    ],
)
def test_our_servers_drop_a_client_that_never_finishes_its_handshake(server: List[str]) -> None:
    proc, port = start_server(server)
    try:
        start = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as slow:
            # Half a request, then a byte now and then: the clock runs over
            # the whole handshake, so trickling does not keep it open.
            slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            got = b""
            slow.settimeout(0.1)
            for _ in range(20):
                try:
                    chunk = slow.recv(1024)
                except socket.timeout:
                    try:
                        slow.sendall(b"X")
                    except OSError:  # already reset
                        break
                    continue
                except ConnectionResetError:
                    # Closed with a trickled byte still unread: a reset.
                    break
                got += chunk
                if not chunk:
                    break
            waited = time.monotonic() - start
        assert got == b"", "nothing is answered"
        assert 0.25 <= waited < 1.5, waited
        # A client in time is served as before.
        with connect(f"ws://127.0.0.1:{port}/", open_timeout=TIMEOUT) as ws:
            ws.send("still served")
            assert ws.recv(timeout=TIMEOUT) == "still served"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=TIMEOUT)
    assert "no opening handshake within 0.3 s" in out
