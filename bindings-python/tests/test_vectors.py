"""The shared test vectors (tests/vectors/frames.json), replayed through the
wsproto-compatible API.

Every binding replays the same file; the core checks it too
(core/tests/vectors.rs). wsproto's API leaves replies to the application,
so where a vector expects an automatic pong this test sends
``event.response()``, and a protocol error shows up the wsproto way: as a
CloseConnection carrying the close code. Client output is masked with keys
this API does not let a test fix, so only server output is compared, and
only where the bytes do not depend on wsproto's own close reasons.
"""

from __future__ import annotations

import base64
import hashlib
import json
import pathlib
import re
from typing import Any, Dict, List, Tuple

import pytest

from wsproto_rs import ConnectionType, WSConnection
from wsproto_rs.connection import ConnectionState
from wsproto_rs.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)

VECTORS = json.loads((pathlib.Path(__file__).parents[2] / "tests" / "vectors" / "frames.json").read_text())
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _open(config: Dict[str, Any]) -> WSConnection:
    limits = dict(max_message_size=config["max_message_size"], max_frame_size=config["max_message_size"])
    if config["role"] == "server":
        ws = WSConnection(ConnectionType.SERVER, **limits)
        ws.receive_data(
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert isinstance(next(ws.events()), Request)
        ws.send(AcceptConnection())
    else:
        ws = WSConnection(ConnectionType.CLIENT, **limits)
        request = ws.send(Request(host="localhost", target="/"))
        match = re.search(rb"Sec-WebSocket-Key: (\S+)", request, re.I)
        assert match
        accept = base64.b64encode(hashlib.sha1(match.group(1) + GUID).digest())
        ws.receive_data(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        assert isinstance(next(ws.events()), AcceptConnection)
    assert ws.state is ConnectionState.OPEN
    return ws


def replay(case: Dict[str, Any], chunk: int) -> Tuple[List[Any], bytes]:
    config = case["config"]
    ws = _open(config)
    data = bytes.fromhex(case["input"])
    events: List[Any] = []
    out = b""
    parts: List[Any] = []
    for i in range(0, max(len(data), 1), chunk):
        ws.receive_data(data[i : i + chunk])
        for ev in ws.events():
            if isinstance(ev, (TextMessage, BytesMessage)):
                parts.append(ev.data)
                if ev.message_finished:
                    if isinstance(ev, TextMessage):
                        events.append({"text": "".join(parts)})
                    else:
                        events.append({"binary": b"".join(parts).hex()})
                    parts = []
            elif isinstance(ev, Ping):
                events.append({"ping": ev.payload.hex()})
                if config["auto_pong"]:
                    out += ws.send(ev.response())
            elif isinstance(ev, Pong):
                events.append({"pong": ev.payload.hex()})
            elif isinstance(ev, CloseConnection):
                events.append({"close": [int(ev.code), ev.reason or ""]})
                if config["auto_close"] and ws.state is ConnectionState.REMOTE_CLOSING:
                    out += ws.send(ev.response())
            else:
                raise AssertionError(f"unexpected {ev!r}")
    return events, out


def expected(case: Dict[str, Any]) -> List[Any]:
    """The vector's events as this API reports them: an error is a close
    with the error's code (its reason is wsproto's wording)."""
    return [
        {"close": [e["error"]["close_code"], None]} if "error" in e else e
        for e in case["events"]
    ]


def normalise(events: List[Any], want: List[Any]) -> List[Any]:
    # Drop the reason of a close that stands for an error.
    return [
        {"close": [e["close"][0], None]} if "close" in e and "close" in w and w["close"][1] is None else e
        for e, w in zip(events, want)
    ] + events[len(want) :]


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
@pytest.mark.parametrize("chunk", [1 << 30, 1, 3])
def test_vector(case: Dict[str, Any], chunk: int) -> None:
    events, out = replay(case, chunk)
    want = expected(case)
    assert normalise(events, want) == want
    compare_output = case["config"]["role"] == "server" and not any(
        "close" in e or "error" in e for e in case["events"]
    )
    if compare_output:
        assert out.hex() == case["output"]
