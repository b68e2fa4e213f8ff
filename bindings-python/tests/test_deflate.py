"""permessage-deflate: negotiated in Python with wsproto's strings,
compressed by the core, interoperable with wsproto's own zlib code."""

from __future__ import annotations

from typing import Any, List, Tuple

import pytest

from conftest import REF, RS, Lib

PARAMS = [
    {},
    {"client_no_context_takeover": True, "server_no_context_takeover": True},
    {"client_max_window_bits": 9, "server_max_window_bits": 10},
    {"server_no_context_takeover": True, "client_max_window_bits": 12},
]

MESSAGES: List[Any] = ["hello " * 50, b"\x00\x01" * 3000, "ƒñö®∂😎" * 1000, "", b"z", "hello " * 50]


def connect(client_lib: Lib, server_lib: Lib, params: Any) -> Tuple[Any, Any, Any]:
    client = client_lib.top.WSConnection(client_lib.conn.CLIENT)
    server = server_lib.top.WSConnection(server_lib.conn.SERVER)
    server.receive_data(
        client.send(client_lib.events.Request(host="h", target="/", extensions=[client_lib.ext.PerMessageDeflate(**params)]))
    )
    (request,) = server.events()
    accept = server.send(server_lib.events.AcceptConnection(extensions=[server_lib.ext.PerMessageDeflate(**params)]))
    client.receive_data(accept)
    (accepted,) = client.events()
    return client, server, accepted


def transfer(sender: Any, receiver: Any, lib: Lib, message: Any) -> Tuple[Any, bytes]:
    cls = lib.events.TextMessage if isinstance(message, str) else lib.events.BytesMessage
    wire = sender.send(cls(data=message))
    receiver.receive_data(wire)
    parts = list(receiver.events())
    assert parts and parts[-1].message_finished
    empty = "" if isinstance(message, str) else b""
    return empty.join(p.data for p in parts), wire


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("pair", [(RS, REF), (REF, RS), (RS, RS)], ids=["rs-client", "rs-server", "rs-both"])
def test_deflate_interoperates(pair: Tuple[Lib, Lib], params: Any) -> None:
    client_lib, server_lib = pair
    client, server, accepted = connect(client_lib, server_lib, params)
    assert [e.name for e in accepted.extensions] == ["permessage-deflate"]
    for message in MESSAGES:
        got, wire = transfer(client, server, client_lib, message)
        assert got == message
        if len(message) > 100:
            assert wire[0] & 0x40, "compressed messages carry RSV1"
            assert len(wire) < len(message) // 2
        got, wire = transfer(server, client, server_lib, message)
        assert got == message


def test_fragmented_compressed_message_roundtrip() -> None:
    client, server, _ = connect(RS, REF, {})
    wire = client.send(RS.events.TextMessage(data="part one, ", message_finished=False))
    wire += client.send(RS.events.TextMessage(data="part two", message_finished=True))
    server.receive_data(wire)
    assert "".join(e.data for e in server.events()) == "part one, part two"


def test_decompression_bomb_is_stopped_at_the_limit() -> None:
    client = REF.top.WSConnection(REF.conn.CLIENT)
    server = RS.top.WSConnection(RS.conn.SERVER, max_message_size=100_000)
    server.receive_data(client.send(REF.events.Request(host="h", target="/", extensions=[REF.ext.PerMessageDeflate()])))
    list(server.events())
    client.receive_data(server.send(RS.events.AcceptConnection(extensions=[RS.ext.PerMessageDeflate()])))
    list(client.events())
    bomb = client.send(REF.events.BytesMessage(data=b"\x00" * 10_000_000))
    assert len(bomb) < 20_000
    server.receive_data(bomb)
    (event,) = [e for e in server.events() if isinstance(e, RS.events.CloseConnection)]
    assert event.code is RS.top.CloseReason.MESSAGE_TOO_BIG


def test_low_level_connection_with_enabled_deflate() -> None:
    """wsproto's ``Connection(type, extensions=[negotiated ext])`` works too."""
    ours = RS.ext.PerMessageDeflate()
    ours.finalize("permessage-deflate")
    theirs = REF.ext.PerMessageDeflate()
    theirs.accept("permessage-deflate")
    client = RS.conn.Connection(RS.conn.CLIENT, extensions=[ours])
    server = REF.conn.Connection(REF.conn.SERVER, extensions=[theirs])
    server.receive_data(client.send(RS.events.TextMessage(data="squeeze me " * 20)))
    assert "".join(e.data for e in server.events()) == "squeeze me " * 20


@pytest.mark.parametrize("no_context", [False, True])
@pytest.mark.parametrize("server_is_rs", [True, False])
def test_context_takeover_follows_the_negotiation(no_context: bool, server_is_rs: bool) -> None:
    """Without server_no_context_takeover the server's compressor keeps its
    window, so a repeated message shrinks; with it, it compresses alike."""
    params = {"server_no_context_takeover": no_context}
    client_lib, server_lib = (REF, RS) if server_is_rs else (RS, REF)
    client, server, _ = connect(client_lib, server_lib, params)
    message = "a fairly long message that compresses, " * 10
    _, first = transfer(server, client, server_lib, message)
    _, second = transfer(server, client, server_lib, message)
    if no_context:
        assert second == first
    else:
        assert len(second) < len(first)
