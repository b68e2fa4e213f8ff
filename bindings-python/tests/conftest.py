"""Shared helpers: wsproto_rs next to the real wsproto 1.3.2 it replaces.

Many tests run the same steps on both libraries and require identical
results (bytes on the wire, events, errors); ``ref`` is python-hyper
wsproto, ``rs`` is wsproto_rs.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, List, Tuple

import pytest
import wsproto as ref
import wsproto.connection
import wsproto.events
import wsproto.extensions
import wsproto.utilities

import wsproto_rs as rs
import wsproto_rs.connection
import wsproto_rs.events
import wsproto_rs.extensions
import wsproto_rs.utilities

KEY_RE = re.compile(rb"(Sec-WebSocket-Key: )[A-Za-z0-9+/=]+")


@dataclasses.dataclass
class Lib:
    """One library's modules, so a test can run against either."""

    name: str
    top: Any
    conn: Any
    events: Any
    ext: Any
    util: Any


REF = Lib("wsproto", ref, wsproto.connection, wsproto.events, wsproto.extensions, wsproto.utilities)
RS = Lib("wsproto_rs", rs, wsproto_rs.connection, wsproto_rs.events, wsproto_rs.extensions, wsproto_rs.utilities)


def shape(event: Any) -> Tuple[Any, ...]:
    """An event as (class name, fields...) so events of both libraries compare."""
    fields = []
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if f.name == "extensions" and value and not isinstance(value[0], str):
            value = [type(e).__name__ for e in value]
        if f.name == "code":
            value = int(value)
        fields.append(value)
    return (type(event).__name__, *fields)


def shapes(events: Any) -> List[Tuple[Any, ...]]:
    return [shape(e) for e in events]


def xor(data: bytes, key: bytes) -> bytes:
    """``data`` XORed with a 4-byte masking key (one big-integer XOR, fast
    enough for megabytes)."""
    n = len(data)
    mask = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")


def unmask(frame: bytes) -> bytes:
    """One client frame with its mask removed, as a server would send it."""
    length = frame[1] & 0x7F
    start = 2 + {126: 2, 127: 8}.get(length, 0)
    key = frame[start : start + 4]
    return bytes([frame[0], length]) + frame[2:start] + xor(frame[start + 4 :], key)


def without_key(data: bytes) -> bytes:
    return KEY_RE.sub(rb"\1<key>", data)


def handshake(lib: Lib, **client_kw: Any) -> Tuple[Any, Any]:
    """A connected (client, server) pair of ``lib`` WSConnections."""
    client = lib.top.WSConnection(lib.conn.ConnectionType.CLIENT)
    server = lib.top.WSConnection(lib.conn.ConnectionType.SERVER)
    server.receive_data(client.send(lib.events.Request(host="localhost", target="/", **client_kw)))
    (request,) = list(server.events())
    assert isinstance(request, lib.events.Request)
    client.receive_data(server.send(lib.events.AcceptConnection()))
    (accepted,) = list(client.events())
    assert isinstance(accepted, lib.events.AcceptConnection)
    return client, server


@pytest.fixture(params=[REF, RS], ids=lambda lib: lib.name)
def lib(request: Any) -> Lib:
    return request.param  # type: ignore[no-any-return]
